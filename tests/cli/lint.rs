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
        "    maxFallbackMinutes: {{ lint.maxFallbackMinutes }}\n    minSpotZones: 1\n    rules:\n      spot-uniform-vcpu: warning\n      spot-uniform-architecture: off\n      spot-on-demand-fallback: warning\n      critical-on-demand: warning",
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
