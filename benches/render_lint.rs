//! Benchmark: render and lint a generated repository of 12 clusters × 24 node groups.
//!
//! Run by hand (not in CI): `cargo bench --bench render_lint`. Reports, in one run:
//! * fleetform's full path — load the repository from disk, render every cluster (Tera,
//!   includes, values merge, parse, validate) and lint it;
//! * a baseline measured in the same run: parsing the same rendered manifests with serde_yaml
//!   alone, the floor any YAML-based tool pays;
//! * the ratio of the two, and the process's peak resident memory (VmHWM).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use fleetform::core::lint::lint;
use fleetform::core::render::render_cluster;

const CLUSTERS: usize = 12;
const GROUPS: usize = 24;
const RUNS: usize = 30;

fn generate(root: &Path) {
    for d in ["snippets", "templates", "vars", "clusters"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(
        root.join("snippets/spot_4x.yaml"),
        "- c5.4xlarge\n- c5d.4xlarge\n- c5n.4xlarge\n- c5a.4xlarge\n- c5ad.4xlarge\n- c6i.4xlarge\n- c6id.4xlarge\n- c6in.4xlarge\n- c6a.4xlarge\n- c7i.4xlarge\n- c7a.4xlarge\n- m5.4xlarge\n",
    )
    .unwrap();
    fs::write(
        root.join("templates/1_cluster.yaml.tpl"),
        "apiVersion: fleetform.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: {{ clusterName }}\nspec:\n  region: {{ region }}\n  subnets:\n{%- for z in zones %}\n  - {name: {{ z }}, zone: {{ z }}}\n{%- endfor %}\n  clusterAutoscaler: {expander: priority, maxNodeProvisionTime: 5m}\n",
    )
    .unwrap();
    // 24 groups: 6 pools × (2 spot + 2 on-demand).
    fs::write(
        root.join("templates/2_groups.yaml.tpl"),
        r#"{% for p in range(end=pools) %}{% for kind in ["spot", "on-demand"] %}{% for n in [1, 2] %}
---
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata:
  name: {{ kind }}-pool{{ p }}-{{ n }}
spec:
  role: Node
  pool: pool{{ p }}
  image: {{ image }}
  machineType: c5.4xlarge
  minSize: {{ minSize }}
  maxSize: {{ maxSize }}
  subnets: {{ zones | json_encode() }}
  autoscalePriority: {% if kind == "spot" %}50{% else %}10{% endif %}
  nodeLabels: {pool: pool{{ p }}, lifecycle: {{ kind }}}
  taints: [dedicated=pool{{ p }}:NoSchedule]
{%- if kind == "spot" %}
  mixedInstancesPolicy:
    spotAllocationStrategy: capacity-optimized
    instances:
    {{ include("spot_4x.yaml") | indent(4) }}
{%- endif %}
{% endfor %}{% endfor %}{% endfor %}
"#,
    )
    .unwrap();
    fs::write(root.join("vars/_defaults.yaml"), format!("image: ami-760aaa0f\nminSize: 0\nmaxSize: 50\npools: {}\n", GROUPS / 4)).unwrap();
    for c in 0..CLUSTERS {
        fs::write(
            root.join(format!("vars/c{c}.k8s.example.com.yaml")),
            "region: eu-west-3\nzones: [eu-west-3a, eu-west-3b, eu-west-3c]\nmaxSize: 100\n",
        )
        .unwrap();
    }
}

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
    generate(dir.path());
    let rss_before = peak_rss_kib();

    let mut full = Vec::new();
    let mut rendered_text = Vec::new();
    for run in 0..RUNS {
        let t = Instant::now();
        let repo = fleetform::repo::load(dir.path()).unwrap();
        let mut groups = 0;
        let mut findings = 0;
        for c in repo.cluster_names() {
            let r = render_cluster(&repo, c, &[]).unwrap_or_else(|d| panic!("{d}"));
            groups += r.manifest.groups.len();
            findings += lint(&r.manifest).len();
            if run == 0 {
                rendered_text.push(r.files[0].content.clone());
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
