//! Lint: the rules learned from three years of running spot-heavy node fleets.
//!
//! Each rule has a stable id (used in `spec.lint.rules` to change its severity, and in JSON
//! output), a default severity, and one sentence of why, printed with every finding — a lint that
//! does not say why gets switched off. Thresholds come from the Cluster's `spec.lint`, defaults
//! below. Pool rules look at the groups that share `spec.pool`; a spot group without a pool is
//! itself a finding, since its fallback cannot be checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use super::duration;
use super::instance_types;
use super::model::{LintConfig, Manifest, NodeGroup, RuleLevel};

pub const DEFAULT_MAX_GROUPS_PER_POOL: u32 = 4;
pub const DEFAULT_MIN_SPOT_ZONES: u32 = 2;
pub const DEFAULT_MIN_SPOT_INSTANCE_TYPES: u32 = 12;
pub const DEFAULT_MAX_FALLBACK_MINUTES: u32 = 15;
/// cluster-autoscaler's own default for --max-node-provision-time.
pub const AUTOSCALER_DEFAULT_PROVISION_MINUTES: f64 = 15.0;

/// A rule: id, default severity, why.
pub struct Rule {
    pub id: &'static str,
    pub default: RuleLevel,
    pub why: &'static str,
}

pub const RULES: &[Rule] = &[
    Rule { id: "pool-max-groups", default: RuleLevel::Error,
        why: "every extra group is one more place the autoscaler may wait on; more than 2 spot + 2 on-demand groups made scale-ups slow and hard to reason about" },
    Rule { id: "spot-min-zones", default: RuleLevel::Error,
        why: "spot capacity is reclaimed zone by zone; a spot group in one zone can lose all its nodes at once" },
    Rule { id: "spot-instance-diversity", default: RuleLevel::Warning,
        why: "spot capacity runs out per instance type and zone; a dozen types is barely enough to get nodes during a capacity crunch" },
    Rule { id: "spot-uniform-vcpu", default: RuleLevel::Error,
        why: "the autoscaler sizes a group by one of its types; types with other vCPU counts give nodes that do not fit the pods it scaled up for" },
    Rule { id: "spot-uniform-architecture", default: RuleLevel::Error,
        why: "one image runs on one architecture; an arm64 type in an x86_64 group launches nodes that never join the cluster" },
    Rule { id: "spot-allocation-strategy", default: RuleLevel::Warning,
        why: "capacity-optimized picks the spot pools least likely to be interrupted; lowest-price, the AWS default, picks the ones most likely to be" },
    Rule { id: "spot-on-demand-fallback", default: RuleLevel::Error,
        why: "when spot runs dry, pending pods wait until spot returns unless an on-demand group at a lower priority can take them" },
    Rule { id: "critical-on-demand", default: RuleLevel::Error,
        why: "CoreDNS, the autoscaler and the ingress controller must not vanish with a spot interruption; when they do, the whole cluster degrades" },
    Rule { id: "fallback-delay", default: RuleLevel::Error,
        why: "the autoscaler waits max-node-provision-time on each spot group before it falls back; a dozen mostly-spot groups once meant 45 minutes for a node" },
    Rule { id: "unknown-instance-type", default: RuleLevel::Warning,
        why: "vCPU and architecture checks need the type's size; fleetform's table (data/ec2-instance-types.csv) does not know this type: a typo, or a new type to add" },
    Rule { id: "custom-bootstrap-labels", default: RuleLevel::Warning,
        why: "with bootstrap: custom, fleetform writes no kubelet configuration: declared nodeLabels and taints reach only the autoscaler's node-template tags, so the autoscaler plans for nodes that register without them unless your user data passes them to the kubelet" },
];

pub const RULE_IDS: &[&str] = &[
    "pool-max-groups",
    "spot-min-zones",
    "spot-instance-diversity",
    "spot-uniform-vcpu",
    "spot-uniform-architecture",
    "spot-allocation-strategy",
    "spot-on-demand-fallback",
    "critical-on-demand",
    "fallback-delay",
    "unknown-instance-type",
    "custom-bootstrap-labels",
];

pub fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).expect("rule ids are known")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub cluster: String,
    /// The node group concerned, or the first group of the pool concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
    pub why: &'static str,
}

struct Ctx<'a> {
    m: &'a Manifest,
    cfg: LintConfig,
    findings: Vec<Finding>,
}

impl Ctx<'_> {
    fn level(&self, id: &str) -> RuleLevel {
        self.cfg.rules.get(id).copied().unwrap_or(rule(id).default)
    }

    fn report(&mut self, id: &'static str, g: &NodeGroup, pool: Option<&str>, message: String) {
        let severity = match self.level(id) {
            RuleLevel::Off => return,
            RuleLevel::Warning => Severity::Warning,
            RuleLevel::Error => Severity::Error,
        };
        self.findings.push(Finding {
            rule: id,
            severity,
            cluster: self.m.name().to_string(),
            group: Some(g.name().to_string()),
            pool: pool.map(str::to_string),
            file: g.origin.file.clone(),
            line: g.origin.line,
            message,
            why: rule(id).why,
        });
    }
}

/// Lint one rendered cluster. Findings come in group order, then rule order: deterministic.
pub fn lint(m: &Manifest) -> Vec<Finding> {
    let cfg = m.cluster.spec.lint.clone().unwrap_or_default();
    let mut cx = Ctx { m, cfg, findings: Vec::new() };
    let zones_of: BTreeMap<&str, &str> = m.cluster.spec.subnets.iter().map(|s| (s.name.as_str(), s.zone.as_str())).collect();

    for g in &m.groups {
        let s = g.spec();
        let types = s.instance_types();
        for t in &types {
            if instance_types::lookup(t).is_none() {
                cx.report("unknown-instance-type", g, None, format!("`{}`: instance type `{t}` is not in fleetform's table", g.name()));
            }
        }
        if m.bootstrap_of(g) == super::model::Bootstrap::Custom && (!s.node_labels.is_empty() || !s.taints.is_empty()) {
            cx.report(
                "custom-bootstrap-labels",
                g,
                None,
                format!(
                    "`{}` declares nodeLabels/taints but bootstraps with `custom`: put them in its user data (kubelet --node-labels and --register-with-taints), or use bootstrap al2023 or bottlerocket",
                    g.name()
                ),
            );
        }
        if s.critical && s.uses_spot() {
            cx.report("critical-on-demand", g, None, format!("`{}` is a critical group but runs spot instances", g.name()));
        }
        if !s.uses_spot() {
            continue;
        }
        let zones: BTreeSet<&str> = s.subnets.iter().filter_map(|n| zones_of.get(n.as_str()).copied()).collect();
        let min_zones = cx.cfg.min_spot_zones.unwrap_or(DEFAULT_MIN_SPOT_ZONES);
        if (zones.len() as u32) < min_zones {
            cx.report("spot-min-zones", g, None, format!(
                "spot group `{}` spans {} availability zone{} ({}); at least {min_zones} wanted",
                g.name(), zones.len(), if zones.len() == 1 { "" } else { "s" }, zones.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        let min_types = cx.cfg.min_spot_instance_types.unwrap_or(DEFAULT_MIN_SPOT_INSTANCE_TYPES);
        if (types.len() as u32) < min_types {
            cx.report("spot-instance-diversity", g, None, format!(
                "spot group `{}` lists {} instance type{}; at least {min_types} wanted",
                g.name(), types.len(), if types.len() == 1 { "" } else { "s" }
            ));
        }
        let known: Vec<(&str, instance_types::InstanceType)> =
            types.iter().filter_map(|t| instance_types::lookup(t).map(|i| (*t, i))).collect();
        let mut by_vcpu: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        let mut by_arch: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (t, i) in &known {
            by_vcpu.entry(i.vcpu).or_default().push(t);
            by_arch.entry(i.arch).or_default().push(t);
        }
        if by_vcpu.len() > 1 {
            let parts: Vec<String> = by_vcpu.iter().map(|(v, ts)| format!("{v} vCPU: {}", ts.join(", "))).collect();
            cx.report("spot-uniform-vcpu", g, None, format!("spot group `{}` mixes vCPU counts ({})", g.name(), parts.join("; ")));
        }
        if by_arch.len() > 1 {
            let parts: Vec<String> = by_arch.iter().map(|(a, ts)| format!("{a}: {}", ts.join(", "))).collect();
            cx.report("spot-uniform-architecture", g, None, format!("spot group `{}` mixes architectures ({})", g.name(), parts.join("; ")));
        }
        let strategy = s.mixed_instances_policy.as_ref().and_then(|p| p.spot_allocation_strategy.as_deref());
        match strategy {
            Some("capacity-optimized" | "price-capacity-optimized" | "capacity-optimized-prioritized") => {}
            Some(other) => cx.report("spot-allocation-strategy", g, None, format!("spot group `{}` uses spotAllocationStrategy `{other}`; use capacity-optimized", g.name())),
            None => cx.report("spot-allocation-strategy", g, None, format!("spot group `{}` sets no spotAllocationStrategy, so AWS uses lowest-price; set capacity-optimized", g.name())),
        }
        if s.pool.is_none() && s.autoscaled() {
            cx.report("spot-on-demand-fallback", g, None, format!(
                "spot group `{}` belongs to no pool, so its on-demand fallback cannot be checked; set spec.pool", g.name()
            ));
        }
    }

    // Pool rules.
    let mut pools: BTreeMap<&str, Vec<&NodeGroup>> = BTreeMap::new();
    for g in &m.groups {
        if let Some(p) = &g.spec().pool {
            pools.entry(p.as_str()).or_default().push(g);
        }
    }
    let provision_minutes = m
        .cluster
        .spec
        .cluster_autoscaler
        .as_ref()
        .and_then(|c| c.max_node_provision_time.as_deref())
        .and_then(|t| duration::parse(t).ok())
        .map_or(AUTOSCALER_DEFAULT_PROVISION_MINUTES, |d| d.as_secs_f64() / 60.0);
    let explicit_provision = m.cluster.spec.cluster_autoscaler.as_ref().and_then(|c| c.max_node_provision_time.clone()).is_some();
    for (pool, groups) in &pools {
        let first = groups[0];
        let max_groups = cx.cfg.max_groups_per_pool.unwrap_or(DEFAULT_MAX_GROUPS_PER_POOL);
        if groups.len() as u32 > max_groups {
            let names: Vec<&str> = groups.iter().map(|g| g.name()).collect();
            cx.report("pool-max-groups", first, Some(pool), format!(
                "pool `{pool}` spans {} Auto Scaling groups ({}); at most {max_groups} wanted", groups.len(), names.join(", ")
            ));
        }
        let autoscaled: Vec<&&NodeGroup> = groups.iter().filter(|g| g.spec().autoscaled()).collect();
        let spot: Vec<&&&NodeGroup> = autoscaled.iter().filter(|g| g.spec().uses_spot()).collect();
        let on_demand: Vec<&&&NodeGroup> = autoscaled.iter().filter(|g| !g.spec().uses_spot()).collect();
        if spot.is_empty() {
            continue;
        }
        let prio = |g: &NodeGroup| g.spec().autoscale_priority.unwrap_or(0);
        let lowest_spot = spot.iter().map(|g| prio(g)).min().expect("spot is not empty");
        let best_fallback = on_demand.iter().map(|g| prio(g)).max();
        match best_fallback {
            None => cx.report("spot-on-demand-fallback", spot[0], Some(pool), format!(
                "pool `{pool}` has spot groups but no autoscaled on-demand group to fall back on"
            )),
            Some(fb) if fb >= lowest_spot => cx.report("spot-on-demand-fallback", spot[0], Some(pool), format!(
                "pool `{pool}`: on-demand fallback priority {fb} is not lower than spot priority {lowest_spot}, so the autoscaler may pick on-demand first (or never fall back in order)"
            )),
            Some(_) => {}
        }
        // Worst case: every spot group above the best fallback is tried and times out.
        let tried = spot.iter().filter(|g| best_fallback.is_none_or(|fb| prio(g) > fb)).count();
        let minutes = tried as f64 * provision_minutes;
        let bound = cx.cfg.max_fallback_minutes.unwrap_or(DEFAULT_MAX_FALLBACK_MINUTES);
        if minutes > f64::from(bound) {
            let origin = if explicit_provision { "max-node-provision-time" } else { "cluster-autoscaler's default max-node-provision-time" };
            cx.report("fallback-delay", spot[0], Some(pool), format!(
                "pool `{pool}`: {tried} spot group{} × {} min ({origin}) = {} min before the autoscaler reaches on-demand; the bound is {bound} min",
                if tried == 1 { "" } else { "s" }, fmt_min(provision_minutes), fmt_min(minutes)
            ));
        }
    }
    cx.findings
}

fn fmt_min(m: f64) -> String {
    if m.fract() == 0.0 { format!("{m:.0}") } else { format!("{m:.1}") }
}

/// Worst-case fallback minutes per pool (for reports and the README).
pub fn summary_counts(findings: &[Finding]) -> (usize, usize) {
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    (errors, findings.len() - errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::*;
    use std::path::PathBuf;

    fn cluster(extra: &str) -> ClusterManifest {
        serde_yaml::from_str(&format!(
            "apiVersion: fleetform.io/v1alpha1\nkind: Cluster\nmetadata: {{name: c.k8s}}\nspec:\n  region: eu-west-3\n  subnets:\n  - {{name: a, zone: eu-west-3a}}\n  - {{name: b, zone: eu-west-3b}}\n{extra}"
        ))
        .unwrap()
    }

    fn group(name: &str, spec: &str) -> NodeGroup {
        let m: NodeGroupManifest = serde_yaml::from_str(&format!(
            "apiVersion: fleetform.io/v1alpha1\nkind: NodeGroup\nmetadata: {{name: {name}}}\nspec:\n  role: Node\n  image: ami-1\n  minSize: 0\n  maxSize: 5\n{spec}"
        ))
        .unwrap();
        NodeGroup { manifest: m, origin: Origin { file: PathBuf::from("t.tpl"), line: 1 } }
    }

    const TYPES12: &str = "[c5.4xlarge, c5d.4xlarge, c5n.4xlarge, c5a.4xlarge, c5ad.4xlarge, c6i.4xlarge, c6id.4xlarge, c6in.4xlarge, c6a.4xlarge, c7i.4xlarge, c7a.4xlarge, m5.4xlarge]";

    fn spot(name: &str, prio: i32) -> NodeGroup {
        group(name, &format!("  machineType: c5.4xlarge\n  pool: app\n  subnets: [a, b]\n  autoscalePriority: {prio}\n  mixedInstancesPolicy:\n    spotAllocationStrategy: capacity-optimized\n    instances: {TYPES12}\n"))
    }

    fn on_demand(name: &str, prio: i32) -> NodeGroup {
        group(name, &format!("  machineType: c5.4xlarge\n  pool: app\n  subnets: [a, b]\n  autoscalePriority: {prio}\n"))
    }

    fn manifest(c: ClusterManifest, groups: Vec<NodeGroup>) -> Manifest {
        Manifest { cluster: c, cluster_origin: Origin { file: PathBuf::from("c.tpl"), line: 1 }, groups }
    }

    fn ids(m: &Manifest) -> Vec<&'static str> {
        lint(m).iter().map(|f| f.rule).collect()
    }

    const FAST: &str = "  clusterAutoscaler: {maxNodeProvisionTime: 5m}\n";

    #[test]
    fn a_good_pool_is_clean() {
        let m = manifest(cluster(FAST), vec![spot("s1", 50), spot("s2", 50), on_demand("o1", 10), on_demand("o2", 10)]);
        assert_eq!(ids(&m), Vec::<&str>::new());
    }

    #[test]
    fn pool_of_five_groups_is_too_many() {
        let m = manifest(cluster(FAST), vec![spot("s1", 50), spot("s2", 50), on_demand("o1", 10), on_demand("o2", 10), on_demand("o3", 10)]);
        assert_eq!(ids(&m), vec!["pool-max-groups"]);
    }

    #[test]
    fn fallback_must_have_lower_priority() {
        let m = manifest(cluster(FAST), vec![spot("s1", 10), on_demand("o1", 10)]);
        assert_eq!(ids(&m), vec!["spot-on-demand-fallback"]);
        let m = manifest(cluster(FAST), vec![spot("s1", 50)]);
        assert_eq!(ids(&m), vec!["spot-on-demand-fallback"]);
    }

    #[test]
    fn fallback_delay_is_spot_groups_times_provision_time() {
        // 3 spot groups × 5 min = 15 min: exactly the bound, allowed.
        let m = manifest(cluster(FAST), vec![spot("s1", 50), spot("s2", 40), spot("s3", 30), on_demand("o1", 10)]);
        assert!(!ids(&m).contains(&"fallback-delay"), "{:?}", ids(&m));
        // 3 groups = 15 min, which is the bound: allowed. Raise the count to 4.
        let m = manifest(cluster(FAST), vec![spot("s1", 50), spot("s2", 40), spot("s3", 30), spot("s4", 20), on_demand("o1", 10)]);
        let f = lint(&m);
        let delay = f.iter().find(|f| f.rule == "fallback-delay").expect("fallback-delay");
        assert!(delay.message.contains("4 spot groups × 5 min (max-node-provision-time) = 20 min"), "{}", delay.message);
        // A higher bound accepts it.
        let m = manifest(cluster(&format!("{FAST}  lint: {{maxFallbackMinutes: 25}}\n")), m.groups.clone());
        assert!(!ids(&m).contains(&"fallback-delay"));
    }

    #[test]
    fn single_zone_mixed_vcpu_and_lowest_price_spot() {
        let g = group("s", "  machineType: c5.4xlarge\n  pool: app\n  subnets: [a]\n  autoscalePriority: 50\n  mixedInstancesPolicy:\n    spotAllocationStrategy: lowest-price\n    instances: [c5.4xlarge, m5.8xlarge]\n");
        let m = manifest(cluster(FAST), vec![g, on_demand("o", 10)]);
        assert_eq!(ids(&m), vec!["spot-min-zones", "spot-instance-diversity", "spot-uniform-vcpu", "spot-allocation-strategy"]);
    }

    #[test]
    fn critical_groups_run_on_demand() {
        let mut g = spot("admin", 0);
        g.manifest.spec.critical = true;
        g.manifest.spec.pool = Some("admin".into());
        g.manifest.spec.autoscale = Some(false);
        let m = manifest(cluster(FAST), vec![g]);
        assert_eq!(ids(&m), vec!["critical-on-demand"]);
    }

    #[test]
    fn unknown_types_are_reported_not_guessed() {
        let g = group("o", "  machineType: c9.mega\n  subnets: [a]\n");
        let m = manifest(cluster(FAST), vec![g]);
        assert_eq!(ids(&m), vec!["unknown-instance-type"]);
    }

    #[test]
    fn severities_can_be_changed_per_rule() {
        let m = manifest(cluster(&format!("{FAST}  lint:\n    rules: {{spot-on-demand-fallback: off}}\n")), vec![spot("s1", 50)]);
        assert!(ids(&m).is_empty());
        let m = manifest(cluster(&format!("{FAST}  lint:\n    rules: {{spot-on-demand-fallback: warning}}\n")), vec![spot("s1", 50)]);
        assert_eq!(lint(&m)[0].severity, Severity::Warning);
    }
}
