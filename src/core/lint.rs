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
pub const DEFAULT_MAX_GROUPS_PER_CLUSTER: u32 = 30;
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
    Rule { id: "unknown-instance-type", default: RuleLevel::Error,
        why: "AWS (DescribeInstanceTypes in the cluster's region) does not offer this type: every launch of it fails (a typo, or a type of another region)" },
    Rule { id: "instance-type-not-in-table", default: RuleLevel::Warning,
        why: "vCPU, memory and architecture checks need the type's size; fleetform's table does not know it (a typo, or a type newer than the table): add it to the repository's instance-types.csv, or lint with AWS credentials" },
    Rule { id: "machine-type-vcpu", default: RuleLevel::Warning,
        why: "with a mixedInstancesPolicy the group launches the list's types, not machineType; a machineType of another size misleads whoever reads the manifest, and tools that size the group by it" },
    Rule { id: "on-demand-share-unset", default: RuleLevel::Error,
        why: "a mixedInstancesPolicy without onDemandAboveBase is all on-demand (AWS's and kops's default, 100); with spot settings declared, the group was probably meant to run spot and will cost on-demand prices" },
    Rule { id: "uniform-memory", default: RuleLevel::Warning,
        why: "the autoscaler sizes a group from its first type: a type with less memory gives nodes where the pods it scaled up for do not fit. A warning, not an error: the write-up mixes RAM on purpose for CPU-bound workloads (PHP) where memory requests are small" },
    Rule { id: "on-demand-min-zones", default: RuleLevel::Error,
        why: "the zone advice is not only for spot: an on-demand fallback or a critical group in one zone goes down with that zone's outage or capacity shortage, just when spot is gone too" },
    Rule { id: "fallback-can-take-pods", default: RuleLevel::Error,
        why: "a fallback helps only if the pods that waited on spot can land on it: with maxSize 0, a taint the spot groups do not have, or without a label they select on, they keep waiting" },
    Rule { id: "autoscaler-priorities", default: RuleLevel::Error,
        why: "priorities mean something only to the priority expander (with expander random or least-waste they are ignored), and it never picks a group below -1" },
    Rule { id: "cluster-max-groups", default: RuleLevel::Warning,
        why: "every Auto Scaling group rebalances its zones on its own; with many groups in one cluster the write-up saw AZ rebalancing churn and NAT-gateway imbalance cluster-wide" },
    Rule { id: "root-volume", default: RuleLevel::Warning,
        why: "without rootVolume the image's own root volume applies (often 8 to 30 GiB, gp2, not encrypted): images, logs and emptyDir fill it; kops gave nodes 128 GiB of encrypted gp3" },
    Rule { id: "safety-off", default: RuleLevel::Warning,
        why: "a switched-off safety should stay visible: spot without any on-demand fallback is the failure the fallback rules exist for" },
    Rule { id: "custom-bootstrap-labels", default: RuleLevel::Warning,
        why: "with bootstrap: custom, fleetform writes no kubelet configuration: declared nodeLabels and taints reach only the autoscaler's node-template tags, so the autoscaler plans for nodes that register without them unless your user data passes them to the kubelet" },
    Rule { id: "overprovisioning-dedicated", default: RuleLevel::Warning,
        why: "cluster-wide pause pods never land on a tainted group (they lack its toleration): its pods wait minutes for each new node; the write-up gave each dedicated group its own overprovisioning with the matching toleration" },
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
    "instance-type-not-in-table",
    "on-demand-share-unset",
    "custom-bootstrap-labels",
    "machine-type-vcpu",
    "uniform-memory",
    "on-demand-min-zones",
    "fallback-can-take-pods",
    "autoscaler-priorities",
    "cluster-max-groups",
    "root-volume",
    "safety-off",
    "overprovisioning-dedicated",
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

/// Lint one rendered cluster with fleetform's instance-type table.
pub fn lint(m: &Manifest) -> Vec<Finding> {
    lint_with(m, &instance_types::TypeTable::builtin())
}

/// Lint one rendered cluster. Findings come in group order, then rule order: deterministic.
/// `table` answers the instance-type questions (fleetform's table, a repository's additions, or
/// AWS for the cluster's region).
pub fn lint_with(m: &Manifest, table: &instance_types::TypeTable) -> Vec<Finding> {
    let cfg = m.cluster.spec.lint.clone().unwrap_or_default();
    let mut cx = Ctx { m, cfg, findings: Vec::new() };
    let zones_of: BTreeMap<&str, &str> = m.cluster.spec.subnets.iter().map(|s| (s.name.as_str(), s.zone.as_str())).collect();

    // A tainted, autoscaled group (not a critical one: its services scale rarely) whose pool has
    // no overprovisioning.
    for g in m.groups.iter().filter(|g| g.spec().autoscaled() && !g.spec().taints.is_empty() && !g.spec().critical) {
        let serves = g.spec().pool.clone().unwrap_or_else(|| g.name().to_string());
        let covered = m.groups.iter().any(|o| o.spec().overprovisioning.is_some() && o.spec().pool.clone().unwrap_or_else(|| o.name().to_string()) == serves);
        if !covered {
            cx.report("overprovisioning-dedicated", g, None, format!(
                "`{}` is tainted ({}) and autoscaled, and `{serves}` has no overprovisioning: its pods wait for each new node to boot; declare overprovisioning: {{replicas: 1, nodeShare: 50%}} on it",
                g.name(), g.spec().taints.join(", ")
            ));
        }
    }
    for g in &m.groups {
        let s = g.spec();
        // Types chosen by attributes: the ones the table knows in the ranges, of the
        // machineType's architecture (what AWS may launch).
        let requirements = s.mixed_instances_policy.as_ref().and_then(|p| p.instance_requirements.as_ref());
        let arch = table.lookup(&s.machine_type).map(|t| t.arch);
        let types: Vec<&str> = match requirements {
            Some(r) => table.all().into_iter().filter(|(_, t)| r.matches(t.vcpu, t.memory_gib) && arch.is_none_or(|a| a == t.arch)).map(|(n, _)| n).collect(),
            None => s.instance_types(),
        };
        if requirements.is_some() && types.is_empty() {
            cx.report("instance-type-not-in-table", g, None, format!("`{}`: instanceRequirements match no instance type of {}", g.name(), table.source));
        }
        let mut listed: Vec<&str> = types.clone();
        if !listed.contains(&s.machine_type.as_str()) {
            listed.push(&s.machine_type);
        }
        for t in &listed {
            if table.lookup(t).is_none() {
                let dym = super::diag::did_you_mean(t, table.names()).map(|m| format!(": did you mean `{m}`?"));
                if table.is_aws() {
                    cx.report("unknown-instance-type", g, None, format!("`{}`: instance type `{t}` is not offered ({}){}", g.name(), table.source, dym.unwrap_or_default()));
                } else {
                    let hint = dym.unwrap_or_else(|| " (a newer type? add it to instance-types.csv in the repository)".to_string());
                    cx.report("instance-type-not-in-table", g, None, format!("`{}`: instance type `{t}` is not in {}{hint}", g.name(), table.source));
                }
            }
        }
        if let Some(p) = &s.mixed_instances_policy {
            let spot_settings: Vec<&str> = [
                p.spot_allocation_strategy.as_ref().map(|_| "spotAllocationStrategy"),
                p.spot_instance_pools.map(|_| "spotInstancePools"),
                s.max_price.as_ref().map(|_| "maxPrice"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if p.on_demand_above_base.is_none() && !spot_settings.is_empty() {
                cx.report("on-demand-share-unset", g, None, format!(
                    "`{}` declares {} but no onDemandAboveBase, so it runs all on-demand (the default, 100): write onDemandAboveBase: 0 for spot, or 100 to say on-demand",
                    g.name(), spot_settings.join(", ")
                ));
            }
        }
        if let (Some(_), Some(mt)) = (&s.mixed_instances_policy, table.lookup(&s.machine_type)) {
            let vcpus: BTreeSet<u32> = types.iter().filter_map(|t| table.lookup(t)).map(|i| i.vcpu).collect();
            if vcpus.len() == 1 && !vcpus.contains(&mt.vcpu) {
                cx.report("machine-type-vcpu", g, None, format!(
                    "`{}`: machineType {} has {} vCPU, its instances {} have {}",
                    g.name(), s.machine_type, mt.vcpu, types.join(", "), vcpus.iter().next().expect("one")
                ));
            }
        }
        if let Some(first) = types.first().filter(|_| requirements.is_none()).and_then(|t| table.lookup(t)) {
            let smaller: Vec<String> = types
                .iter()
                .skip(1)
                .filter_map(|t| table.lookup(t).filter(|i| i.memory_gib < first.memory_gib).map(|i| format!("{t} ({} GiB)", fmt_min(i.memory_gib))))
                .collect();
            if !smaller.is_empty() {
                cx.report("uniform-memory", g, None, format!(
                    "`{}`: the autoscaler sizes it from {} ({} GiB), and {} {} less memory",
                    g.name(), types[0], fmt_min(first.memory_gib), smaller.join(", "), if smaller.len() == 1 { "has" } else { "have" }
                ));
            }
        }
        if s.root_volume.as_ref().is_none_or(|r| r.size.is_none()) {
            cx.report("root-volume", g, None, format!("`{}` sets no rootVolume size: the image's default root volume applies (rootVolume: {{size: 128, type: gp3, encryption: true}} is kops's)", g.name()));
        }
        if let Some(p) = s.autoscale_priority.filter(|p| *p < -1) {
            cx.report("autoscaler-priorities", g, None, format!(
                "`{}`: autoscalePriority {p} is below -1; the priority expander never picks such a group", g.name()
            ));
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
        let zones: BTreeSet<&str> = s.subnets.iter().filter_map(|n| zones_of.get(n.as_str()).copied()).collect();
        let min_zones = cx.cfg.min_spot_zones.unwrap_or(DEFAULT_MIN_SPOT_ZONES);
        if s.critical && !s.uses_spot() && (zones.len() as u32) < min_zones {
            cx.report("on-demand-min-zones", g, None, format!(
                "critical group `{}` spans {} availability zone{} ({}); at least {min_zones} wanted",
                g.name(), zones.len(), if zones.len() == 1 { "" } else { "s" }, zones.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        if !s.uses_spot() {
            continue;
        }
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
            types.iter().filter_map(|t| table.lookup(t).map(|i| (*t, i))).collect();
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
    let mut worst_pool = 0;
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
        // A fallback that can never grow takes no pod.
        let usable: Vec<&&&NodeGroup> = on_demand.iter().copied().filter(|g| g.spec().max_size > 0).collect();
        if usable.is_empty() && !on_demand.is_empty() {
            let names: Vec<&str> = on_demand.iter().map(|g| g.name()).collect();
            cx.report("fallback-can-take-pods", on_demand[0], Some(pool), format!("pool `{pool}`: its on-demand fallback {} {} maxSize 0", names.join(", "), if names.len() == 1 { "has" } else { "have" }));
        }
        for f in &usable {
            let zones: BTreeSet<&str> = f.spec().subnets.iter().filter_map(|n| zones_of.get(n.as_str()).copied()).collect();
            let min_zones = cx.cfg.min_spot_zones.unwrap_or(DEFAULT_MIN_SPOT_ZONES);
            // A critical group was reported with the groups already.
            if !f.spec().critical && (zones.len() as u32) < min_zones {
                cx.report("on-demand-min-zones", f, Some(pool), format!(
                    "on-demand fallback `{}` of pool `{pool}` spans {} availability zone{} ({}); at least {min_zones} wanted",
                    f.name(), zones.len(), if zones.len() == 1 { "" } else { "s" }, zones.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        // Each spot group needs one fallback (below its priority) that can take its pods; with a
        // fallback per size, the other size's fallback does not have to.
        if !usable.is_empty() {
            for sp in &spot {
                let below: Vec<&&&NodeGroup> = usable.iter().copied().filter(|f| prio(f) < prio(sp)).collect();
                let candidates = if below.is_empty() { usable.clone() } else { below };
                if candidates.iter().all(|f| cannot_take(sp, f).is_some()) {
                    let f = candidates[0];
                    let why = cannot_take(sp, f).unwrap_or_default();
                    cx.report("fallback-can-take-pods", sp, Some(pool), format!("no on-demand fallback of pool `{pool}` can take the pods of spot group `{}`: `{}` {why}", sp.name(), f.name()));
                }
            }
        }
        let best_fallback = usable.iter().map(|g| prio(g)).max();
        if best_fallback.is_none() && cx.level("spot-on-demand-fallback") == RuleLevel::Off {
            cx.report("safety-off", spot[0], Some(pool), format!(
                "pool `{pool}` has spot groups and no on-demand fallback, and the rules that say so are switched off (spec.lint.rules)"
            ));
        }
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
        worst_pool = worst_pool.max(tried);
    }

    // An untargeted pod (no nodeSelector, no toleration) fits every untainted group, of every
    // pool: the priority expander may try each untainted spot group above the best untainted
    // fallback before it reaches on-demand. With two untainted pools, the worst case is per
    // cluster.
    let untainted = |g: &&NodeGroup| g.spec().autoscaled() && g.spec().taints.is_empty() && g.spec().max_size > 0;
    let open_spot: Vec<&NodeGroup> = m.groups.iter().filter(untainted).filter(|g| g.spec().uses_spot()).collect();
    let open_pools: BTreeSet<&str> = open_spot.iter().map(|g| g.spec().pool.as_deref().unwrap_or("(none)")).collect();
    if open_pools.len() > 1 {
        let prio = |g: &NodeGroup| g.spec().autoscale_priority.unwrap_or(0);
        let fb = m.groups.iter().filter(untainted).filter(|g| !g.spec().uses_spot()).map(&prio).max();
        let tried: Vec<&&NodeGroup> = open_spot.iter().filter(|g| fb.is_none_or(|fb| prio(g) > fb)).collect();
        let minutes = tried.len() as f64 * provision_minutes;
        let bound = cx.cfg.max_fallback_minutes.unwrap_or(DEFAULT_MAX_FALLBACK_MINUTES);
        if minutes > f64::from(bound) && tried.len() > worst_pool {
            let pools: Vec<&str> = open_pools.iter().copied().collect();
            cx.report("fallback-delay", tried[0], None, format!(
                "cluster: pools {} are untainted, so an untargeted pod may wait on all {} of their spot groups × {} min = {} min before on-demand; the bound is {bound} min (taint a pool, or give one the only untainted fallback at a lower priority)",
                pools.join(", "), tried.len(), fmt_min(provision_minutes), fmt_min(minutes)
            ));
        }
    }

    // Priorities mean something only to the priority expander.
    let expander = m.cluster.spec.cluster_autoscaler.as_ref().and_then(|c| c.expander.clone());
    let priority_expander = expander.as_deref().is_some_and(|e| e.split(',').any(|x| x.trim() == "priority"));
    let autoscaler_on = m.cluster.spec.cluster_autoscaler.as_ref().is_none_or(|c| c.enabled != Some(false));
    if let Some(g) = m.groups.iter().find(|g| g.spec().autoscaled() && g.spec().autoscale_priority.is_some()) {
        if autoscaler_on && !priority_expander {
            let which = expander.map_or("not set, so the autoscaler's default `random`".to_string(), |e| format!("`{e}`"));
            cx.report("autoscaler-priorities", g, None, format!(
                "groups declare autoscalePriority (`{}` first), but the cluster-autoscaler's expander is {which}: set clusterAutoscaler.expander: priority", g.name()
            ));
        }
    }

    let max_groups = cx.cfg.max_groups_per_cluster.unwrap_or(DEFAULT_MAX_GROUPS_PER_CLUSTER);
    if m.groups.len() as u32 > max_groups {
        if let Some(g) = m.groups.first() {
            cx.report("cluster-max-groups", g, None, format!("cluster `{}` has {} Auto Scaling groups; at most {max_groups} wanted (spec.lint.maxGroupsPerCluster)", m.name(), m.groups.len()));
        }
    }
    cx.findings
}

/// Labels that say how a node is bought, which a fallback differs in by design.
fn capacity_label(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("lifecycle") || k.contains("capacity-type") || k.contains("capacitytype") || k.contains("spot") || value.eq_ignore_ascii_case("spot")
}

/// Why the pods of spot group `spot` cannot land on fallback `f`, if they cannot: a taint the
/// spot group does not have, or a label of the spot group (a nodeSelector's target) the fallback
/// lacks — other than how the node is bought, or the group's own name.
fn cannot_take(spot: &NodeGroup, f: &NodeGroup) -> Option<String> {
    let (s, o) = (spot.spec(), f.spec());
    // PreferNoSchedule only prefers: pods still land.
    if let Some(t) = o.taints.iter().find(|t| !s.taints.contains(t) && !t.ends_with(":PreferNoSchedule")) {
        return Some(format!("has taint {t}, which the spot group's pods may not tolerate"));
    }
    let missing: Vec<String> = s
        .node_labels
        .iter()
        // A label naming the group itself (kops.k8s.io/instancegroup) targets that one group.
        .filter(|(k, v)| !capacity_label(k, v) && v.as_str() != spot.name() && o.node_labels.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    (!missing.is_empty()).then(|| format!("lacks label{} {} the spot group's pods may select on", if missing.len() == 1 { "" } else { "s" }, missing.join(", ")))
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
            "apiVersion: fleetform.io/v1alpha1\nkind: NodeGroup\nmetadata: {{name: {name}}}\nspec:\n  role: Node\n  image: ami-1\n  minSize: 0\n  maxSize: 5\n  rootVolume: {{size: 100}}\n{spec}"
        ))
        .unwrap();
        NodeGroup { manifest: m, origin: Origin { file: PathBuf::from("t.tpl"), line: 1 } }
    }

    const TYPES12: &str = "[c5.4xlarge, c5d.4xlarge, c5n.4xlarge, c5a.4xlarge, c5ad.4xlarge, c6i.4xlarge, c6id.4xlarge, c6in.4xlarge, c6a.4xlarge, c7i.4xlarge, c7a.4xlarge, m5.4xlarge]";

    fn spot(name: &str, prio: i32) -> NodeGroup {
        group(name, &format!("  machineType: c5.4xlarge\n  pool: app\n  subnets: [a, b]\n  autoscalePriority: {prio}\n  mixedInstancesPolicy:\n    onDemandAboveBase: 0\n    spotAllocationStrategy: capacity-optimized\n    instances: {TYPES12}\n"))
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

    /// Findings of rules other than custom-bootstrap-labels (these test clusters have no EKS, so
    /// any label or taint brings that warning) and overprovisioning-dedicated (any taint brings
    /// it too; tested on its own).
    fn lint_nb(m: &Manifest) -> Vec<Finding> {
        lint(m).into_iter().filter(|f| f.rule != "custom-bootstrap-labels" && f.rule != "overprovisioning-dedicated").collect()
    }

    #[test]
    fn a_tainted_autoscaled_group_wants_its_own_overprovisioning() {
        let mut o = on_demand("o", 10);
        o.manifest.spec.taints = vec!["dedicated=batch:NoSchedule".into()];
        let over = |m: &Manifest| lint(m).into_iter().filter(|f| f.rule == "overprovisioning-dedicated").map(|f| f.message).collect::<Vec<_>>();
        let f = over(&manifest(cluster(FAST), vec![o.clone()]));
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("`o` is tainted (dedicated=batch:NoSchedule) and autoscaled"), "{}", f[0]);
        // Declared on any group of its pool: covered.
        let mut s = spot("s", 50);
        s.manifest.spec.pool = o.spec().pool.clone();
        s.manifest.spec.overprovisioning = Some(crate::core::model::OverprovisioningSpec { replicas: Some(1), node_share: Some("50%".into()), ..Default::default() });
        assert!(over(&manifest(cluster(FAST), vec![o.clone(), s])).is_empty());
        // Not autoscaled, or critical: not its business.
        let mut fixed = o.clone();
        fixed.manifest.spec.autoscale = Some(false);
        assert!(over(&manifest(cluster(FAST), vec![fixed])).is_empty());
        let mut critical = o;
        critical.manifest.spec.critical = true;
        assert!(over(&manifest(cluster(FAST), vec![critical])).is_empty());
    }

    const FAST: &str = "  clusterAutoscaler: {maxNodeProvisionTime: 5m, expander: priority}\n";

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
        let g = group("s", "  machineType: c5.4xlarge\n  pool: app\n  subnets: [a]\n  autoscalePriority: 50\n  mixedInstancesPolicy:\n    onDemandAboveBase: 0\n    spotAllocationStrategy: lowest-price\n    instances: [c5.4xlarge, m5.8xlarge]\n");
        let m = manifest(cluster(FAST), vec![g, on_demand("o", 10)]);
        assert_eq!(ids(&m), vec!["spot-min-zones", "spot-instance-diversity", "spot-uniform-vcpu", "spot-allocation-strategy"]);
    }

    #[test]
    fn a_policy_without_on_demand_above_base_is_on_demand_as_in_kops() {
        let mut g = spot("s", 50);
        g.manifest.spec.mixed_instances_policy.as_mut().unwrap().on_demand_above_base = None;
        assert!(!g.spec().uses_spot() && !g.spec().is_spot(), "AWS's default is 100% on-demand above the base");
        g.manifest.spec.mixed_instances_policy.as_mut().unwrap().on_demand_above_base = Some(50);
        assert!(g.spec().uses_spot() && !g.spec().is_spot());
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
        assert_eq!(ids(&m), vec!["instance-type-not-in-table"], "the table does not know it: a warning");
    }

    #[test]
    fn unknown_types_are_errors_with_a_did_you_mean_and_the_machine_type_counts() {
        let g = group("o", "  machineType: c5.4xlage\n  subnets: [a, b]\n");
        let f = lint(&manifest(cluster(FAST), vec![g.clone()]));
        assert_eq!((f[0].rule, f[0].severity), ("instance-type-not-in-table", Severity::Warning));
        assert!(f[0].message.contains("did you mean `c5.4xlarge`?"), "{}", f[0].message);
        // AWS's answer for the region is authoritative: an error.
        let aws = instance_types::TypeTable::from_aws("eu-west-3", vec![("c5.4xlarge".into(), instance_types::lookup("c5.4xlarge").unwrap())], &instance_types::TypeTable::builtin());
        let f = lint_with(&manifest(cluster(FAST), vec![g]), &aws);
        assert_eq!((f[0].rule, f[0].severity), ("unknown-instance-type", Severity::Error));
        assert!(f[0].message.contains("is not offered (AWS in eu-west-3): did you mean `c5.4xlarge`?"), "{}", f[0].message);
        let mut s = spot("s", 50);
        s.manifest.spec.machine_type = "c5.2xlarge".into();
        let m = manifest(cluster(FAST), vec![s, on_demand("o", 10)]);
        let f = lint(&m);
        assert_eq!(f.iter().map(|f| f.rule).collect::<Vec<_>>(), vec!["machine-type-vcpu"]);
        assert!(f[0].message.contains("machineType c5.2xlarge has 8 vCPU"), "{}", f[0].message);
    }

    #[test]
    fn memory_below_the_first_type_is_a_warning_by_default() {
        let mut s = spot("s", 50);
        s.manifest.spec.mixed_instances_policy.as_mut().unwrap().instances = {
            let mut v: Vec<String> = TYPES12.trim_matches(['[', ']']).split(", ").map(str::to_string).collect();
            v.reverse();
            v
        };
        // m5.4xlarge (64 GiB) first: every c-type below it has half.
        let f = lint(&manifest(cluster(FAST), vec![s, on_demand("o", 10)]));
        let mem: Vec<&Finding> = f.iter().filter(|f| f.rule == "uniform-memory").collect();
        assert_eq!(mem.len(), 1);
        assert_eq!(mem[0].severity, Severity::Warning);
        assert!(mem[0].message.starts_with("`s`: the autoscaler sizes it from m5.4xlarge (64 GiB), and c7a.4xlarge (32 GiB)"), "{}", mem[0].message);
    }

    #[test]
    fn single_zone_fallbacks_and_critical_groups() {
        let mut o = on_demand("o", 10);
        o.manifest.spec.subnets = vec!["a".into()];
        let mut admin = on_demand("admin", 0);
        admin.manifest.spec.subnets = vec!["b".into()];
        admin.manifest.spec.critical = true;
        admin.manifest.spec.pool = Some("admin".into());
        let m = manifest(cluster(FAST), vec![spot("s", 50), o, admin]);
        assert_eq!(ids(&m), vec!["on-demand-min-zones", "on-demand-min-zones"]);
    }

    #[test]
    fn a_fallback_that_cannot_take_the_pods() {
        let mut o = on_demand("o", 10);
        o.manifest.spec.max_size = 0;
        assert_eq!(ids(&manifest(cluster(FAST), vec![spot("s", 50), o.clone()])), vec!["fallback-can-take-pods", "spot-on-demand-fallback"]);
        let mut o = on_demand("o", 10);
        o.manifest.spec.taints = vec!["dedicated=batch:NoSchedule".into()];
        let f = lint_nb(&manifest(cluster(FAST), vec![spot("s", 50), o]));
        assert_eq!(f.iter().map(|f| f.rule).collect::<Vec<_>>(), vec!["fallback-can-take-pods"]);
        assert!(f[0].message.contains("`o` has taint dedicated=batch:NoSchedule"), "{}", f[0].message);
        // A label pods select on must be there; how the node is bought may differ.
        let mut s = spot("s", 50);
        s.manifest.spec.node_labels = [("pool".to_string(), "app".to_string()), ("lifecycle".to_string(), "spot".to_string())].into();
        let mut o = on_demand("o", 10);
        o.manifest.spec.node_labels = [("lifecycle".to_string(), "on-demand".to_string())].into();
        let f = lint_nb(&manifest(cluster(FAST), vec![s.clone(), o.clone()]));
        assert!(f.len() == 1 && f[0].message.contains("`o` lacks label pool=app"), "{f:?}");
        o.manifest.spec.node_labels.insert("pool".into(), "app".into());
        assert!(lint_nb(&manifest(cluster(FAST), vec![s.clone(), o.clone()])).is_empty());
        // A fallback per size: each spot group needs one that takes its pods, not all of them.
        let mut s2 = spot("s2", 50);
        s2.manifest.spec.node_labels = [("pool".to_string(), "app".to_string()), ("size".to_string(), "8x".to_string())].into();
        let mut o2 = on_demand("o2", 10);
        o2.manifest.spec.node_labels = [("pool".to_string(), "app".to_string()), ("size".to_string(), "8x".to_string())].into();
        assert!(lint_nb(&manifest(cluster(FAST), vec![s, s2, o, o2])).is_empty(), "per-size fallbacks are fine");
        // PreferNoSchedule only prefers.
        let mut o = on_demand("o", 10);
        o.manifest.spec.taints = vec!["dedicated=batch:PreferNoSchedule".into()];
        assert!(lint_nb(&manifest(cluster(FAST), vec![spot("s", 50), o])).is_empty());
    }

    #[test]
    fn spot_settings_without_an_on_demand_share_are_on_demand_and_said_so() {
        let mut g = spot("s", 50);
        g.manifest.spec.mixed_instances_policy.as_mut().unwrap().on_demand_above_base = None;
        let f = lint(&manifest(cluster(FAST), vec![g]));
        assert_eq!(f[0].rule, "on-demand-share-unset");
        assert!(f[0].message.contains("declares spotAllocationStrategy but no onDemandAboveBase"), "{}", f[0].message);
    }

    #[test]
    fn two_untainted_pools_make_the_fallback_delay_per_cluster() {
        let pool = |mut g: NodeGroup, p: &str| {
            g.manifest.spec.pool = Some(p.into());
            g
        };
        // Per pool: 2 spot × 5 min = 10 min, fine; untargeted pods may try all 4: 20 min.
        let groups = vec![pool(spot("a1", 50), "a"), pool(spot("a2", 40), "a"), pool(on_demand("ao", 10), "a"), pool(spot("b1", 50), "b"), pool(spot("b2", 40), "b"), pool(on_demand("bo", 10), "b")];
        let f = lint_nb(&manifest(cluster(FAST), groups.clone()));
        assert_eq!(f.iter().map(|f| f.rule).collect::<Vec<_>>(), vec!["fallback-delay"]);
        assert!(f[0].message.starts_with("cluster: pools a, b are untainted, so an untargeted pod may wait on all 4 of their spot groups × 5 min = 20 min"), "{}", f[0].message);
        // Tainting one pool's groups makes it per pool again.
        let groups: Vec<NodeGroup> = groups
            .into_iter()
            .map(|mut g| {
                if g.spec().pool.as_deref() == Some("b") {
                    g.manifest.spec.taints = vec!["pool=b:NoSchedule".into()];
                }
                g
            })
            .collect();
        assert!(lint_nb(&manifest(cluster(FAST), groups)).is_empty());
    }

    #[test]
    fn priorities_need_the_priority_expander_and_no_negative_level() {
        let m = manifest(cluster("  clusterAutoscaler: {maxNodeProvisionTime: 5m}\n"), vec![spot("s", 50), on_demand("o", 10)]);
        let f = lint(&m);
        assert_eq!(f.iter().map(|f| f.rule).collect::<Vec<_>>(), vec!["autoscaler-priorities"]);
        assert!(f[0].message.contains("expander is not set, so the autoscaler's default `random`"), "{}", f[0].message);
        let m = manifest(cluster(FAST), vec![spot("s", 50), on_demand("o", -2)]);
        assert_eq!(ids(&m), vec!["autoscaler-priorities"]);
        let m = manifest(cluster(FAST), vec![spot("s", 50), on_demand("o", -1)]);
        assert!(ids(&m).is_empty(), "-1 is picked: the expander starts there");
    }

    #[test]
    fn many_groups_in_one_cluster() {
        let groups: Vec<NodeGroup> = (0..31).map(|i| group(&format!("g{i}"), "  machineType: c5.4xlarge\n  subnets: [a, b]\n  autoscale: false\n")).collect();
        assert_eq!(ids(&manifest(cluster(FAST), groups.clone())), vec!["cluster-max-groups"]);
        assert!(ids(&manifest(cluster(&format!("{FAST}  lint: {{maxGroupsPerCluster: 40}}\n")), groups)).is_empty());
    }

    #[test]
    fn a_group_without_a_root_volume_size_is_told_what_it_gets() {
        let mut g = on_demand("o", 10);
        g.manifest.spec.root_volume = None;
        g.manifest.spec.pool = None;
        g.manifest.spec.autoscale_priority = None;
        let f = lint(&manifest(cluster(FAST), vec![g]));
        assert_eq!(f.iter().map(|f| (f.rule, f.severity)).collect::<Vec<_>>(), vec![("root-volume", Severity::Warning)]);
    }

    #[test]
    fn instance_requirements_are_the_types_they_select() {
        let mut g = spot("s", 50);
        let p = g.manifest.spec.mixed_instances_policy.as_mut().unwrap();
        p.instances = vec![];
        p.instance_requirements = Some(serde_yaml::from_str("{cpu: {min: 16, max: 16}, memory: {min: 32Gi, max: 64Gi}}").unwrap());
        // 16 vCPU, 32-64 GiB, x86_64 (the machineType's): a dozen and more in the table.
        assert!(lint(&manifest(cluster(FAST), vec![g.clone(), on_demand("o", 10)])).is_empty());
        // A range over vCPU counts: the autoscaler's sizing problem, as with a list.
        g.manifest.spec.mixed_instances_policy.as_mut().unwrap().instance_requirements = Some(serde_yaml::from_str("{cpu: {min: 8, max: 16}, memory: {min: 16Gi, max: 64Gi}}").unwrap());
        assert_eq!(ids(&manifest(cluster(FAST), vec![g.clone(), on_demand("o", 10)])), vec!["spot-uniform-vcpu"]);
        // Ranges no known type fits.
        g.manifest.spec.mixed_instances_policy.as_mut().unwrap().instance_requirements = Some(serde_yaml::from_str("{cpu: {min: 3, max: 3}, memory: {min: 1Gi, max: 1Gi}}").unwrap());
        assert!(ids(&manifest(cluster(FAST), vec![g, on_demand("o", 10)])).contains(&"instance-type-not-in-table"));
    }

    #[test]
    fn a_switched_off_safety_stays_visible() {
        let m = manifest(cluster(&format!("{FAST}  lint:\n    rules: {{spot-on-demand-fallback: off}}\n")), vec![spot("s1", 50)]);
        let f = lint(&m);
        assert_eq!(f.iter().map(|f| (f.rule, f.severity)).collect::<Vec<_>>(), vec![("safety-off", Severity::Warning)]);
    }

    #[test]
    fn severities_can_be_changed_per_rule() {
        let m = manifest(cluster(&format!("{FAST}  lint:\n    rules: {{spot-on-demand-fallback: off, safety-off: off}}\n")), vec![spot("s1", 50)]);
        assert!(ids(&m).is_empty());
        let m = manifest(cluster(&format!("{FAST}  lint:\n    rules: {{spot-on-demand-fallback: warning}}\n")), vec![spot("s1", 50)]);
        assert_eq!(lint(&m)[0].severity, Severity::Warning);
    }
}
