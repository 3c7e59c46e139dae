//! Benchmark: render and lint a generated repository of 12 clusters × 24 node groups.
//!
//! Run by hand (not in CI): `cargo bench --bench render_lint`. Reports, in one run:
//! * fleetform's full path — load the repository from disk, render every cluster (Tera,
//!   includes, values merge, parse, validate) as the commands do (templates parsed once,
//!   clusters side by side) and lint it;
//! * a baseline measured in the same run: parsing the same rendered manifests with serde_yaml
//!   alone, the floor any YAML-based tool pays;
//! * the ratio of the two, and the process's peak resident memory (VmHWM).

use std::fs;
use std::time::{Duration, Instant};

#[path = "support/fleet.rs"]
mod fleet;

use fleetform::core::lint::lint;
use fleetform::core::render::render_clusters;

const CLUSTERS: usize = 12;
const GROUPS: usize = 24;
const RUNS: usize = 30;

fn peak_rss_kib() -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2])
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    fleet::generate(dir.path(), CLUSTERS, GROUPS, false);
    let rss_before = peak_rss_kib();

    let mut full = Vec::new();
    let mut rendered_text = Vec::new();
    for run in 0..RUNS {
        let t = Instant::now();
        let repo = std::sync::Arc::new(fleetform::repo::load(dir.path()).unwrap());
        let mut groups = 0;
        let mut findings = 0;
        let names: Vec<String> = repo.cluster_names().map(str::to_string).collect();
        // As the commands do: templates parsed once, clusters side by side.
        for r in render_clusters(&repo, &names, &[], Duration::from_secs(60)) {
            let r = r.expect("rendered in time").unwrap_or_else(|d| panic!("{d}"));
            groups += r.manifest.groups.len();
            findings += lint(&r.manifest).len();
            if run == 0 {
                rendered_text.push(r.files()[0].content.clone());
            }
        }
        full.push(t.elapsed());
        assert_eq!(groups, CLUSTERS * GROUPS);
        assert_eq!(findings, 0, "the generated fleet is lint-clean");
    }

    let mut baseline = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut docs = 0;
        for text in &rendered_text {
            for d in serde_yaml::Deserializer::from_str(text) {
                let v: serde_yaml::Value = serde::Deserialize::deserialize(d).unwrap();
                docs += usize::from(!v.is_null());
            }
        }
        baseline.push(t.elapsed());
        assert_eq!(docs, CLUSTERS * (GROUPS + 1));
    }

    let (fmin, fmed) = stats(full);
    let (bmin, bmed) = stats(baseline);
    let peak = peak_rss_kib();
    println!("render + lint of {CLUSTERS} clusters x {GROUPS} node groups ({RUNS} runs, this machine, {} build)", if cfg!(debug_assertions) { "debug" } else { "release" });
    println!("  fleetform load+render+lint  min {:>8.2} ms  median {:>8.2} ms", ms(fmin), ms(fmed));
    println!("  baseline serde_yaml parse   min {:>8.2} ms  median {:>8.2} ms", ms(bmin), ms(bmed));
    println!("  ratio (median)              {:.1}x the baseline", fmed.as_secs_f64() / bmed.as_secs_f64());
    println!("  per cluster (median)        {:.2} ms", ms(fmed) / CLUSTERS as f64);
    println!("  peak RSS                    {:.1} MiB (before the runs: {:.1} MiB)", peak as f64 / 1024.0, rss_before as f64 / 1024.0);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
