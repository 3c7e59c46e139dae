//! Benchmark: `fleetform plan --all` over 12 clusters × 24 node groups applied in the local AWS
//! emulator, with a proxy in front that adds 50 ms to every request (a real region's round
//! trip). Measured in the same run:
//! * fleetform: wall time of the whole command, and AWS requests (counted by the proxy);
//! * a baseline that reads the same state one resource at a time, as the aws CLI in a bash
//!   loop would (benches/support/baseline_reads.py, boto3, no CLI start-up per call).
//!
//! Run by hand (not in CI): `cargo bench --bench plan_fleet`. Needs .venv (./scripts/test or
//! ./scripts/setup-venv installs it).

#[path = "support/fleet.rs"]
mod fleet;

#[path = "support/emulator.rs"]
mod emulator;

use std::process::Command;

use emulator::{fleetform, moto, proxy, proxy_count, python, root};

const CLUSTERS: usize = 12;
const GROUPS: usize = 24;
const DELAY_MS: u64 = 50;
const RUNS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    fleet::generate(repo, CLUSTERS, GROUPS, true);

    let (_moto, moto) = moto();
    let mut nets = String::new();
    for c in 0..CLUSTERS {
        let (region, zones) = fleet::cluster_region(c);
        nets.push_str(&format!("net('{region}', '{}', {:?})\n", fleet::cluster_name(c), zones));
    }
    emulator::py(
        &format!(
            r#"
import boto3, os
ep = os.environ['EP']
def net(region, cluster, zones):
    c = boto3.client('ec2', endpoint_url=ep, region_name=region)
    vpc = c.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
    for i, z in enumerate(zones):
        c.create_subnet(VpcId=vpc, CidrBlock=f'10.0.{{i*32}}.0/19', AvailabilityZone=z,
            TagSpecifications=[{{'ResourceType': 'subnet', 'Tags': [{{'Key': f'kubernetes.io/cluster/{{cluster}}', 'Value': 'shared'}}]}}])
{nets}
boto3.client('route53', endpoint_url=ep, region_name='us-east-1').create_hosted_zone(Name='k8s.example.com', CallerReference='bench')
boto3.client('s3', endpoint_url=ep, region_name='us-east-1').create_bucket(Bucket='fleet-bench-state')
"#
        ),
        &moto,
    );
    let (o, t) = fleetform(repo, &moto, &["apply", "--all", "--yes", "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    println!("setup: applied {CLUSTERS} clusters x {GROUPS} groups in {:.1} s (no proxy)", t.as_secs_f64());

    let (_proxy, proxy, proxy_port) = proxy(&moto, &["--delay-ms", &DELAY_MS.to_string()]);
    let mut times = Vec::new();
    let mut reqs = 0;
    let mut last_debug = String::new();
    for _ in 0..RUNS {
        proxy_count(proxy_port, true);
        let (o, t) = fleetform(repo, &proxy, &["plan", "--all", "--detailed-exitcode", "--output", "json", "-v"]);
        if o.status.code() != Some(0) {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
            let conflicts: Vec<String> = v["clusters"].as_array().into_iter().flatten().flat_map(|c| c["conflicts"].as_array().cloned().unwrap_or_default()).map(|c| format!("{} {}: {}", c["resourceType"], c["name"], c["reason"])).take(5).collect();
            panic!("not in sync after apply: {}\n{}", String::from_utf8_lossy(&o.stderr), conflicts.join("\n"));
        }
        reqs = proxy_count(proxy_port, false);
        times.push(t);
        last_debug = String::from_utf8_lossy(&o.stderr).to_string();
    }
    times.sort();
    let plan_t = times[RUNS / 2];

    // The same plan straight at the emulator: what the emulator itself costs (it is one Python
    // process; on AWS each call is served in parallel).
    let mut direct = Vec::new();
    for _ in 0..RUNS {
        let (o, t) = fleetform(repo, &moto, &["plan", "--all", "--detailed-exitcode", "-q"]);
        assert_eq!(o.status.code(), Some(0));
        direct.push(t);
    }
    direct.sort();
    let direct_t = direct[RUNS / 2];

    let groups: Vec<String> = (0..GROUPS / 4)
        .flat_map(|p| ["spot", "on-demand"].into_iter().flat_map(move |k| [1, 2].into_iter().map(move |n| format!("{k}-pool{p}-{n}"))))
        .collect();
    let spec: Vec<String> = (0..CLUSTERS).map(|c| format!("{}:{}:{}", fleet::cluster_name(c), fleet::cluster_region(c).0, groups.join("+"))).collect();
    proxy_count(proxy_port, true);
    let out = Command::new(python())
        .arg(root().join("benches/support/baseline_reads.py"))
        .arg(&proxy)
        .arg(spec.join(","))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (base_t, base_reqs) = (b["seconds"].as_f64().unwrap(), proxy_count(proxy_port, false));

    println!("plan --all of {CLUSTERS} clusters x {GROUPS} node groups, {DELAY_MS} ms added to every AWS request");
    println!("  fleetform plan --all         {:>7.2} s  {:>5} requests   (median of {RUNS}, whole command)", plan_t.as_secs_f64(), reqs);
    println!("  fleetform plan --all, no proxy {:>5.2} s                  (the emulator's own cost)", direct_t.as_secs_f64());
    println!("  baseline, one at a time      {:>7.2} s  {:>5} requests   (boto3 loop, reads only)", base_t, base_reqs);
    for l in last_debug.lines() {
        println!("    {l}");
    }
    println!("  ratio                        {:>7.1}x faster, {:.0}x fewer requests", base_t / plan_t.as_secs_f64(), base_reqs as f64 / reqs as f64);
}
