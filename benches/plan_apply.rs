//! Benchmark: `fleetform apply --all` and then `fleetform plan --all` of 1, 12 and 48 clusters ×
//! 24 node groups, measured against a replay of the emulator's answers rather than the
//! emulator itself.
//!
//! Why a replay: the emulator is one Python process whose CPU grows with the fleet (a plan of
//! 48 × 24 spends ~11 s in it and ~0.1 s in fleetform), so timing through it measures moto.
//! Each size is applied once in a fresh emulator through the recorder
//! (benches/support/replay.py), then planned through it; both runs are then replayed from
//! memory, each answer after 0 ms (fleetform's own cost) and after 50 ms (a region's round
//! trip). Reported per size, from the same run:
//! * wall time, fleetform's CPU (user + system) and peak memory, read with wait4;
//! * requests, and dependent round trips: the longest chain of requests each sent after the
//!   previous one was answered, as the replay server saw them;
//! * the floor: dependent round trips × latency (no client can do better with those requests);
//! * apply's baseline: the same apply with `--concurrency 1` (steps one after another).
//!
//! Run by hand (not in CI): `cargo bench --bench plan_apply`. Needs .venv (./scripts/test or
//! ./scripts/setup-venv installs it). FLEETFORM_BENCH_SIZES=1,12 runs fewer sizes;
//! FLEETFORM_BENCH_DIR=DIR keeps the repositories and recordings there.

#[path = "support/fleet.rs"]
mod fleet;

#[path = "support/emulator.rs"]
mod emulator;

use std::path::Path;

use emulator::{fleetform_measured, moto, py, replay_control, replay_record, replay_serve, Measured};

const GROUPS: usize = 24;
const LATENCY_MS: u64 = 50;
const RUNS: usize = 3;
/// The moment every run reads as "now" (schedules and the audit record's name depend on it).
const NOW: &str = "2026-11-30T10:00:00Z";

struct Figures {
    wall: f64,
    cpu: f64,
    rss: f64,
    requests: u64,
    chain: u64,
    /// The requests of that chain, as "service region action", first sent first.
    chain_of: Vec<String>,
}

/// Median (by wall time) of `runs` runs of `args` against a replay of `files` at `delay` ms.
fn replayed(repo: &Path, files: &[&Path], delay: u64, args: &[&str], runs: usize, ok: &dyn Fn(&Measured)) -> Figures {
    let (_server, ep, port) = replay_serve(files, delay);
    let mut all = Vec::new();
    for _ in 0..runs {
        replay_control(port, "stats", true);
        let m = fleetform_measured(repo, &ep, args, &[("FLEETFORM_NOW", NOW)]);
        ok(&m);
        let s = replay_control(port, "stats", false);
        assert_eq!(s["misses"], 0, "requests not in the recording: {}", s["missed"]);
        all.push(Figures {
            wall: m.wall.as_secs_f64(),
            cpu: m.cpu.as_secs_f64(),
            rss: m.max_rss_mib,
            requests: s["requests"].as_u64().unwrap(),
            chain: s["chain"].as_u64().unwrap(),
            chain_of: s["chainOf"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        });
    }
    all.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    all.swap_remove(runs / 2)
}

/// One line of figures. At 0 ms the chain of dependent requests is not measurable (every
/// request is answered before the next is sent): it is shown at 50 ms only.
fn row(label: &str, f: &Figures, latency: u64) {
    let chain = if latency == 0 { "      -     ".to_string() } else { format!("{:>3} dependent", f.chain) };
    let floor = if latency == 0 { "-".to_string() } else { format!("{:.3} s", f.chain as f64 * latency as f64 / 1000.0) };
    println!("  {label:<30} {:>7.3} s  cpu {:>6.3} s  {:>6.1} MiB  {:>5} requests  {chain}  floor {floor}", f.wall, f.cpu, f.rss, f.requests);
}

/// A chain of requests, repeats counted: "ec2 eu-west-1 DescribeLaunchTemplateVersions x3 → ...".
fn runs_of(chain: &[String]) -> String {
    let mut out: Vec<(String, usize)> = Vec::new();
    for c in chain {
        match out.last_mut() {
            Some((last, n)) if last == c => *n += 1,
            _ => out.push((c.clone(), 1)),
        }
    }
    out.iter().map(|(c, n)| if *n > 1 { format!("{c} x{n}") } else { c.clone() }).collect::<Vec<_>>().join(" -> ")
}

fn main() {
    let sizes: Vec<usize> = std::env::var("FLEETFORM_BENCH_SIZES")
        .map(|s| s.split(',').map(|n| n.trim().parse().expect("FLEETFORM_BENCH_SIZES: numbers")).collect())
        .unwrap_or_else(|_| vec![1, 12, 48]);
    // FLEETFORM_BENCH_DIR keeps the repositories and recordings (to profile a replay by hand).
    let tmp = tempfile::tempdir().unwrap();
    let work = std::env::var_os("FLEETFORM_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    for &clusters in &sizes {
        let repo = work.join(format!("repo-{clusters}"));
        fleet::generate(&repo, clusters, GROUPS, true);
        let (apply_rec, plan_rec) = (work.join(format!("apply-{clusters}.jsonl")), work.join(format!("plan-{clusters}.jsonl")));

        // Record: a fresh emulator with the fleet's networks, applied, then planned.
        let (_moto, moto) = moto();
        let mut nets = String::new();
        for c in 0..clusters {
            let (region, zones) = fleet::cluster_region(c);
            nets.push_str(&format!("net('{region}', '{}', {:?})\n", fleet::cluster_name(c), zones));
        }
        py(
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
        let t = std::time::Instant::now();
        for (file, args) in [(&apply_rec, &["apply", "--all", "--yes", "-q"][..]), (&plan_rec, &["plan", "--all", "--detailed-exitcode", "-q"][..])] {
            let (_rec, ep, port) = replay_record(&moto, file);
            let m = fleetform_measured(&repo, &ep, args, &[("FLEETFORM_NOW", NOW)]);
            assert_eq!(m.out.status.code(), Some(0), "fleetform {args:?}: {}", String::from_utf8_lossy(&m.out.stderr));
            replay_control(port, "save", true);
        }
        drop(_moto);
        println!("{clusters} cluster(s) x {GROUPS} node groups ({} groups; recorded from the emulator in {:.0} s)", clusters * GROUPS, t.elapsed().as_secs_f64());

        let in_sync = |m: &Measured| assert_eq!(m.out.status.code(), Some(0), "plan not in sync: {}", String::from_utf8_lossy(&m.out.stderr));
        let applied = |m: &Measured| assert!(m.out.status.success(), "apply failed: {}", String::from_utf8_lossy(&m.out.stderr));
        let plan_args = ["plan", "--all", "--detailed-exitcode", "-q"];
        let apply_args = ["apply", "--all", "--yes", "-q"];
        let serial_args = ["apply", "--all", "--yes", "-q", "--concurrency", "1"];
        let apply_runs = if clusters >= 48 { 1 } else { RUNS };
        let plan0 = replayed(&repo, &[&plan_rec], 0, &plan_args, RUNS, &in_sync);
        let plan50 = replayed(&repo, &[&plan_rec], LATENCY_MS, &plan_args, RUNS, &in_sync);
        let apply0 = replayed(&repo, &[&apply_rec], 0, &apply_args, apply_runs, &applied);
        let apply50 = replayed(&repo, &[&apply_rec], LATENCY_MS, &apply_args, apply_runs, &applied);
        let serial50 = replayed(&repo, &[&apply_rec], LATENCY_MS, &serial_args, 1, &applied);
        row("plan, 0 ms per request", &plan0, 0);
        row(&format!("plan, {LATENCY_MS} ms per request"), &plan50, LATENCY_MS);
        row("apply, 0 ms per request", &apply0, 0);
        row(&format!("apply, {LATENCY_MS} ms per request"), &apply50, LATENCY_MS);
        row(&format!("apply --concurrency 1, {LATENCY_MS} ms"), &serial50, LATENCY_MS);
        println!("  plan's dependent chain at {LATENCY_MS} ms: {}", runs_of(&plan50.chain_of));
        println!(
            "  plan: {:.2} ms of fleetform CPU per group; apply: {:.1}x faster than one step at a time",
            plan0.cpu * 1000.0 / (clusters * GROUPS) as f64,
            serial50.wall / apply50.wall
        );
    }
}
