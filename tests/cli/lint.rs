use crate::common::*;

#[test]
fn example_is_clean() {
    let repo = Repo::example();
    let o = repo.run(&["lint"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("no findings"));
}

/// Break every production rule once, in the staging cluster.
fn broken() -> Repo {
    let repo = Repo::example();
    // A spot group in one zone, with a 16 and a 32 vCPU type, an arm64 type, lowest-price.
    repo.write(
        "templates/6_bad.yaml.tpl",
        r#"apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata:
  name: spot-nodes-batch
spec:
  role: Node
  pool: batch
  image: {{ image }}
  machineType: c5.4xlarge
  minSize: 0
  maxSize: 10
  subnets: [{{ zones[0] }}]
  autoscalePriority: 50
  mixedInstancesPolicy:
    onDemandAboveBase: 0
    spotAllocationStrategy: lowest-price
    instances: [c5.4xlarge, m5.8xlarge, m6g.4xlarge, c9.huge]
---
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata:
  name: critical-on-spot
spec:
  role: Node
  critical: true
  pool: admin
  image: {{ image }}
  machineType: m5.xlarge
  minSize: 1
  maxSize: 2
  subnets: {{ zones | json_encode() }}
  autoscale: false
  mixedInstancesPolicy:
    onDemandAboveBase: 0
    spotAllocationStrategy: capacity-optimized
    instances: [m5.xlarge, m5a.xlarge, m5d.xlarge, m5n.xlarge, m6i.xlarge, m6a.xlarge, m7i.xlarge, m5ad.xlarge, m5dn.xlarge, m6id.xlarge, m7a.xlarge, m6i.xlarge2]
"#,
    );
    repo
}

#[test]
fn every_rule_reports_with_location_and_why() {
    let repo = broken();
    let o = repo.run(&["lint", "--cluster", "staging.k8s.foo.bar"]);
    assert_eq!(code(&o), 1, "an error finding fails lint");
    insta::assert_snapshot!("lint_findings", stdout(&o));
    insta::assert_snapshot!("lint_findings_stderr", stderr(&o));
}

#[test]
fn json_findings_are_stable() {
    let repo = broken();
    let o = repo.run(&["lint", "--cluster", "staging.k8s.foo.bar", "--output", "json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    insta::assert_json_snapshot!("lint_json", v);
}

#[test]
fn severities_and_thresholds_are_per_cluster() {
    let repo = broken();
    // Turn the errors of this cluster into warnings or off: lint passes.
    repo.replace(
        "templates/1_cluster.yaml.tpl",
        "    maxFallbackMinutes: {{ lint.maxFallbackMinutes }}",
        "    maxFallbackMinutes: {{ lint.maxFallbackMinutes }}\n    minSpotZones: 1\n    rules:\n      spot-uniform-vcpu: warning\n      spot-uniform-architecture: off\n      spot-on-demand-fallback: warning\n      critical-on-demand: warning\n      unknown-instance-type: warning",
    );
    let o = repo.run(&["lint", "--cluster", "staging.k8s.foo.bar"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("spot-uniform-architecture"), "off means off");
    assert!(!out.contains("spot-min-zones"), "threshold lowered to 1");
    assert!(out.contains("warning[spot-uniform-vcpu]"));
}

#[test]
fn fallback_delay_counts_spot_groups_times_provision_time() {
    let repo = Repo::example();
    // cluster-autoscaler's default provision time is 15 minutes: 2 spot groups = 30 minutes.
    repo.replace("templates/1_cluster.yaml.tpl", "    maxNodeProvisionTime: {{ autoscaler.maxNodeProvisionTime }}\n", "");
    let o = repo.run(&["lint", "--cluster", "prod-customer.k8s.foo.bar"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("pool `app`: 2 spot groups × 15 min (cluster-autoscaler's default max-node-provision-time) = 30 min before the autoscaler reaches on-demand; the bound is 15 min"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn rules_are_listed() {
    let repo = Repo::example();
    let o = repo.run(&["lint", "--rules"]);
    assert_eq!(code(&o), 0);
    insta::assert_snapshot!("lint_rules", stdout(&o));
}

/// Each production rule added for spot-heavy fleets, triggered on the example the way a user
/// would break it, and found by `lint` with its id.
#[test]
fn production_rules_each_catch_their_case() {
    type Edit = (&'static str, &'static str, &'static str);
    let cases: &[(&str, &[Edit])] = &[
        ("autoscaler-priorities", &[("templates/1_cluster.yaml.tpl", "expander: priority", "expander: random")]),
        ("on-demand-min-zones", &[("templates/4_on-demand-nodes.yaml.tpl", "  subnets: {{ zones | json_encode() }}\n  autoscalePriority: 10", "  subnets: [{{ zones[0] }}]\n  autoscalePriority: 10")]),
        ("on-demand-min-zones", &[("templates/2_admin-nodes.yaml.tpl", "  subnets: {{ zones | json_encode() }}", "  subnets: [{{ zones[0] }}]")]),
        ("fallback-can-take-pods", &[("templates/4_on-demand-nodes.yaml.tpl", "  autoscalePriority: 10\n", "  autoscalePriority: 10\n  taints: [dedicated=batch:NoSchedule]\n")]),
        ("fallback-can-take-pods", &[("vars/staging.k8s.foo.bar.yaml", "onDemand:\n  maxSize: 5", "onDemand:\n  maxSize: 0")]),
        ("machine-type-vcpu", &[("vars/_defaults.yaml", "onDemandType: c5.4xlarge", "onDemandType: c5.2xlarge")]),
        ("uniform-memory", &[("snippets/spot_4x_32Gb_machine_type.yaml", "- c5.4xlarge\n", "- m5.4xlarge\n- c5.4xlarge\n")]),
        ("instance-type-not-in-table", &[("snippets/spot_4x_32Gb_machine_type.yaml", "- c5.4xlarge\n", "- c5.4xlarge\n- c5.4xlage\n")]),
        ("cluster-max-groups", &[("templates/1_cluster.yaml.tpl", "  lint:\n", "  lint:\n    maxGroupsPerCluster: 3\n")]),
        (
            "safety-off",
            &[
                ("vars/staging.k8s.foo.bar.yaml", "onDemand:\n  maxSize: 5", "onDemand:\n  maxSize: 0"),
                ("templates/1_cluster.yaml.tpl", "  lint:\n", "  lint:\n    rules: {spot-on-demand-fallback: off, fallback-can-take-pods: off}\n"),
            ],
        ),
        (
            "fallback-delay",
            &[
                ("vars/_defaults.yaml", "pools:\n", "pools:\n  - name: batch\n    sizes:\n      - name: 4x\n        spotTypes: spot_4x_32Gb_machine_type.yaml\n        onDemandType: c5.4xlarge\n"),
                ("vars/_defaults.yaml", "  maxFallbackMinutes: 15", "  maxFallbackMinutes: 10"),
            ],
        ),
    ];
    for (rule, edits) in cases {
        let repo = Repo::example();
        for (file, old, new) in edits.iter() {
            repo.replace(file, old, new);
        }
        let o = repo.run(&["lint", "--cluster", "staging.k8s.foo.bar", "--output", "json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{rule}: {e}: {}{}", stdout(&o), stderr(&o)));
        let found: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
        assert!(found.contains(rule), "{rule} after {edits:?}: found {found:?}\n{}", stderr(&o));
        if *rule == "fallback-delay" {
            let msg = v["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "fallback-delay").unwrap()["message"].as_str().unwrap().to_string();
            assert!(msg.starts_with("cluster: pools app, batch are untainted"), "{msg}");
        }
    }
}
