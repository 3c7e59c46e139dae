//! Benchmark: a rolling update of 10 groups × 6 instances, surge 2, in the local AWS emulator
//! with a realistic start: every instance a group launches stays Pending for START_DELAY
//! seconds (the launcher's FLEETFORM_START_DELAY) before it is InService. Rolled twice in the
//! same run, from the same state: group after group (`--max-groups 1`, as kops does), and all
//! groups side by side (`--max-groups 10 --max-unavailable 20`). Reports for each:
//! * the total wall time against the lower bound: the slowest group's batches × (start delay +
//!   validation), validation being validateCount 2 at a 1 s interval (1 s); group after group,
//!   the bound is every group's batches;
//! * AWS requests per replaced instance (counted by the local proxy, which adds no delay);
//! * fleetform's CPU time (user + system, wait4) per replaced instance.
//!
//! Polled every 0.2 s (the default is 5 s: a real boot takes minutes, and the per-batch time
//! over the bound does not grow with the start delay).
//!
//! The side-by-side roll runs FLEETFORM_BENCH_RUNS times (3 unless set), each from the same
//! state: its ratio is given as the median and the worst of the runs, since one run on a busy
//! 2-core machine says little about a margin of a few percent. Group after group runs once
//! (it takes minutes).
//!
//! Run by hand (not in CI): `cargo bench --bench rolling`. Needs .venv (./scripts/setup-venv).

#[path = "support/emulator.rs"]
mod emulator;

use emulator::{fleetform, fleetform_measured, moto_with, proxy, proxy_count, py};

const GROUPS: usize = 10;
const PER_GROUP: usize = 6;
const SURGE: usize = 2;
const INTERVAL_S: f64 = 1.0;
const START_DELAY_S: f64 = 5.0;
const POLL: &str = "0.2s";

/// The release binary, which must succeed.
fn ok(repo: &std::path::Path, ep: &str, args: &[&str]) {
    let (o, _) = fleetform(repo, ep, args);
    assert!(o.status.success(), "fleetform {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    for d in ["templates", "vars", "snippets", "clusters"] {
        std::fs::create_dir_all(repo.join(d)).unwrap();
    }
    std::fs::write(
        repo.join("templates/1.yaml.tpl"),
        format!(
            r#"apiVersion: fleetform.io/v1alpha1
kind: Cluster
metadata: {{name: "{{{{ clusterName }}}}"}}
spec:
  region: eu-west-3
  subnets: [{{name: a, zone: eu-west-3a}}, {{name: b, zone: eu-west-3b}}]
  stateStore: s3://roll-bench/state
  rollingUpdate: {{maxSurge: {SURGE}, maxUnavailable: 0}}
  hooks:
    drain: {{command: "true"}}
    validate: {{command: "true"}}
  validation: {{validateCount: 2, validationTimeout: 5m, interval: {INTERVAL_S}s}}
{{% for n in range(end={GROUPS}) %}}
---
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata: {{name: "nodes-{{{{ n }}}}"}}
spec:
  role: Node
  image: "{{{{ image }}}}"
  machineType: m5.large
  minSize: {PER_GROUP}
  maxSize: {PER_GROUP}
  subnets: [a, b]
{{% endfor %}}
"#
        ),
    )
    .unwrap();
    std::fs::write(repo.join("vars/bench.k8s.example.com.yaml"), "image: ami-760aaa0f\n").unwrap();

    let delay = START_DELAY_S.to_string();
    let (_moto, moto) = moto_with(&[("FLEETFORM_START_DELAY", &delay)]);
    py(
        r#"
import boto3, os
ep = os.environ['EP']
c = boto3.client('ec2', endpoint_url=ep, region_name='eu-west-3')
vpc = c.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
for i, z in enumerate(['eu-west-3a', 'eu-west-3b']):
    c.create_subnet(VpcId=vpc, CidrBlock=f'10.0.{i*64}.0/18', AvailabilityZone=z,
        TagSpecifications=[{'ResourceType': 'subnet', 'Tags': [{'Key': 'kubernetes.io/cluster/bench.k8s.example.com', 'Value': 'shared'}]}])
boto3.client('s3', endpoint_url=ep, region_name='us-east-1').create_bucket(Bucket='roll-bench')
"#,
        &moto,
    );
    // The fleet on its first image, every instance InService.
    ok(repo, &moto, &["apply", "--all", "--yes", "-q"]);
    std::thread::sleep(std::time::Duration::from_secs_f64(START_DELAY_S + 0.5));
    let (_proxy, proxy, proxy_port) = proxy(&moto, &[]);
    let n = GROUPS * PER_GROUP;
    let batches = PER_GROUP.div_ceil(SURGE);
    let per_batch = START_DELAY_S + INTERVAL_S;
    println!(
        "rolling update of {GROUPS} groups x {PER_GROUP} instances, surge {SURGE} ({batches} batches a group); instances Pending {START_DELAY_S} s after launch; validateCount 2 every {INTERVAL_S} s"
    );
    let runs: usize = std::env::var("FLEETFORM_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(3);
    for (label, extra, bound_batches, runs) in [
        ("group after group (--max-groups 1)", &["--max-groups", "1"][..], GROUPS * batches, 1),
        ("side by side (--max-groups 10 --max-unavailable 20)", &["--max-groups", "10", "--max-unavailable", "20"][..], batches, runs),
    ] {
        let mut all = Vec::new();
        for _ in 0..runs {
            // A new image for every instance, the same starting point for every run.
            let image = py("import boto3, os; print(boto3.client('ec2', endpoint_url=os.environ['EP'], region_name='eu-west-3').register_image(Name='node-image', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'])", &moto);
            let set = format!("image={image}");
            ok(repo, &moto, &["apply", "--all", "--yes", "-q", "--set", &set]);
            std::thread::sleep(std::time::Duration::from_secs_f64(START_DELAY_S + 0.5)); // every instance InService
            proxy_count(proxy_port, true);
            let mut args = vec!["rolling-update", "--all", "--yes", "--poll-interval", POLL, "--set", &set, "-q"];
            args.extend_from_slice(extra);
            let m = fleetform_measured(repo, &proxy, &args, &[]);
            assert!(m.out.status.success(), "{}", String::from_utf8_lossy(&m.out.stderr));
            let requests = proxy_count(proxy_port, false);
            let left = py(&format!("import boto3, os; print(len([i for r in boto3.client('ec2', endpoint_url=os.environ['EP'], region_name='eu-west-3').describe_instances(Filters=[{{'Name': 'instance-state-name', 'Values': ['running']}}])['Reservations'] for i in r['Instances'] if i['ImageId'] != '{image}']))"), &moto);
            assert_eq!(left, "0", "every instance replaced");
            all.push((m, requests));
        }
        // The median run by wall time, and the worst.
        all.sort_by(|a, b| a.0.wall.cmp(&b.0.wall));
        let worst = all.last().unwrap().0.wall.as_secs_f64();
        let (m, requests) = &all[all.len() / 2];
        let requests = *requests;
        let total = m.wall.as_secs_f64();
        let bound = bound_batches as f64 * per_batch;
        println!("  {label}{}", if runs > 1 { format!(": median of {runs} runs") } else { String::new() });
        println!("    total                       {total:>7.1} s");
        println!("    lower bound                 {bound:>7.1} s  ({bound_batches} batches one after another x (start {START_DELAY_S} s + validation {INTERVAL_S} s))");
        println!("    ratio                       {:>7.2}x the bound  ({:.2} s over it per batch in a row)", total / bound, (total - bound) / bound_batches as f64);
        if runs > 1 {
            let ratios: Vec<String> = all.iter().map(|(m, _)| format!("{:.2}", m.wall.as_secs_f64() / bound)).collect();
            println!("    worst run                   {:>7.2}x the bound  (every run: {})", worst / bound, ratios.join(", "));
        }
        println!("    AWS requests                {:>7.1} per replaced instance  ({requests} in all)", requests as f64 / n as f64);
        println!("    fleetform CPU               {:>7.1} ms per replaced instance  ({:.2} s in all; peak memory {:.1} MiB)", m.cpu.as_secs_f64() * 1000.0 / n as f64, m.cpu.as_secs_f64(), m.max_rss_mib);
    }
}
