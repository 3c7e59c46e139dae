//! Cluster health, as the health gate of rolling updates and `fleetform validate` see it: the
//! EKS control plane ACTIVE on its declared version with every node within the version-skew
//! policy, every declared group at its desired capacity with all instances InService and Healthy, EC2
//! status checks ok, declared DNS records holding the declared values, and the validate hook
//! passing.

use std::path::Path;

use serde::Serialize;

use super::hooks::{self, HookEnv};
use crate::aws::{ec2, Aws};
use crate::core::control_plane::{minor, MAX_NODE_SKEW};
use crate::core::desired::DesiredCluster;
use crate::core::live::LiveCluster;
use crate::core::model::RuleLevel;
use std::collections::BTreeMap;
use crate::core::resources::owner_value;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub cluster: String,
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// A finding reported without failing (a check set to `warning`): `ok` stays true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

fn check(cluster: &str, name: String, ok: bool, detail: String) -> Check {
    Check { cluster: cluster.to_string(), check: name, ok, detail, warning: false }
}

/// A finding reported without failing.
fn warn(cluster: &str, name: String, detail: String) -> Check {
    Check { cluster: cluster.to_string(), check: name, ok: true, detail, warning: true }
}

/// The group checks of one cluster, from a live view (pure).
pub fn group_checks(d: &DesiredCluster, live: &LiveCluster) -> Vec<Check> {
    let mut out = Vec::new();
    for (name, g) in &d.groups {
        let Some(a) = live.asgs.get(name) else {
            out.push(check(&d.name, format!("group {name}"), false, "does not exist on AWS (apply first)".into()));
            continue;
        };
        // A group its schedule holds at zero is healthy, and says so; one its schedule wants up
        // but found at zero did not get its scheduled action.
        if let Some(s) = &g.schedule {
            let live_instances = a.instances.iter().filter(|i| !i.lifecycle_state.starts_with("Terminat")).count();
            if !s.now.up && a.desired_capacity == 0 && live_instances == 0 {
                out.push(check(&d.name, format!("group {name}"), true, s.now.describe()));
                continue;
            }
            if !s.now.up && live_instances > 0 {
                out.push(warn(
                    &d.name,
                    format!("schedule of group {name}"),
                    format!("{live_instances} instance(s) running although {}: its down action did not run, or someone scaled it; fleetform apply scales it to zero", s.now.describe()),
                ));
            }
            if s.now.up && a.desired_capacity == 0 && s.declared_min > 0 {
                out.push(check(
                    &d.name,
                    format!("group {name}"),
                    false,
                    format!("at zero, but {}: its scheduled action has not run (see aws autoscaling describe-scheduled-actions --auto-scaling-group-name {name}); fleetform apply sets the declared sizes", s.now.describe()),
                ));
                continue;
            }
        }
        let healthy = a.instances.iter().filter(|i| i.lifecycle_state == "InService" && i.health_status == "Healthy").count() as i32;
        let bad: Vec<String> = a
            .instances
            .iter()
            .filter(|i| !(i.lifecycle_state == "InService" && i.health_status == "Healthy"))
            .map(|i| format!("{} {}/{}", i.id, i.lifecycle_state, i.health_status))
            .collect();
        let ok = healthy == a.desired_capacity && bad.is_empty();
        let detail = if ok {
            format!("{healthy}/{} InService and Healthy", a.desired_capacity)
        } else if bad.is_empty() {
            format!("{healthy} of {} desired instances InService and Healthy", a.desired_capacity)
        } else {
            format!("{healthy} of {} desired InService and Healthy; {}", a.desired_capacity, bad.join(", "))
        };
        out.push(check(&d.name, format!("group {name}"), ok, detail));
    }
    out
}

/// Instances per zone, per group and for the cluster (pure). A group is checked over the zones
/// of its subnets (an empty zone counts); the cluster over the zones of its multi-zone groups
/// (a group pinned to one zone is so by design). Terminating instances do not count.
pub fn zone_checks(d: &DesiredCluster, live: &LiveCluster) -> Vec<Check> {
    let cfg = d.validation.zone_balance.clone().unwrap_or_default();
    // A warning by default: right after a roll the zones are uneven until Auto Scaling's
    // AZRebalance evens them out; `error` makes a scheduled validate fail on it.
    let level = cfg.level.unwrap_or(RuleLevel::Warning);
    if level == RuleLevel::Off {
        return Vec::new();
    }
    let max_skew = cfg.max_skew.unwrap_or(1) as usize;
    let ratio = cfg.max_cluster_ratio.unwrap_or(1.5);
    let finding = |name: String, ok: bool, detail: String| {
        if !ok && level == RuleLevel::Warning { warn(&d.name, name, detail) } else { check(&d.name, name, ok, detail) }
    };
    let show = |counts: &BTreeMap<String, usize>| counts.iter().map(|(z, n)| format!("{z} {n}")).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    let mut cluster: BTreeMap<String, usize> = BTreeMap::new();
    for (name, g) in &d.groups {
        let Some(a) = live.asgs.get(name) else { continue };
        if g.zones.len() < 2 {
            continue;
        }
        let mut counts: BTreeMap<String, usize> = g.zones.iter().map(|z| (z.clone(), 0)).collect();
        for i in a.instances.iter().filter(|i| !i.lifecycle_state.starts_with("Terminat")) {
            *counts.entry(i.availability_zone.clone()).or_default() += 1;
        }
        for (z, n) in &counts {
            *cluster.entry(z.clone()).or_default() += n;
        }
        let (lo, hi) = (counts.values().min().copied().unwrap_or(0), counts.values().max().copied().unwrap_or(0));
        let ok = hi - lo <= max_skew;
        let detail = if ok {
            format!("{} (within {max_skew})", show(&counts))
        } else {
            format!("{}: the fullest zone holds {} more than the emptiest (at most {max_skew}); its NAT gateway and its share of a zone outage grow with it. Auto Scaling rebalances unless AZRebalance is suspended (aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names {name} --query 'AutoScalingGroups[].SuspendedProcesses'); a zone short of capacity shows in the group's scaling activities", show(&counts), hi - lo)
        };
        out.push(finding(format!("zones of group {name}"), ok, detail));
    }
    let total: usize = cluster.values().sum();
    if cluster.len() >= 2 && total > 0 {
        let fair = (total as f64 / cluster.len() as f64 * ratio).ceil() as usize;
        let hi = cluster.values().max().copied().unwrap_or(0);
        let ok = hi <= fair;
        let detail = if ok {
            format!("{} (the fullest within {ratio}x its share)", show(&cluster))
        } else {
            format!("{}: one zone holds {hi} of {total} instances, more than {ratio}x its share ({fair}); its NAT gateway carries that much more traffic", show(&cluster))
        };
        out.push(finding("zones of the cluster".into(), ok, detail));
    }
    out
}

/// The instance type and zone of a launch that failed for capacity, from AWS's message ("We
/// currently do not have sufficient c5.2xlarge capacity in the Availability Zone you requested
/// (eu-west-3a)…"); None for other failures.
pub fn capacity_failure(message: &str, details: &str) -> Option<(String, String)> {
    // The zone of a spot failure is only in the activity's Details (`{"Availability Zone": …}`).
    let detail_zone = serde_json::from_str::<serde_json::Value>(details).ok().and_then(|d| d.get("Availability Zone").and_then(|z| z.as_str()).map(str::to_string));
    if let Some(rest) = message.split("do not have sufficient ").nth(1) {
        let (ty, rest) = rest.split_once(" capacity")?;
        let zone = rest.split_once('(').and_then(|(_, r)| r.split_once(')')).map(|(z, _)| z.to_string()).or(detail_zone).unwrap_or_else(|| "?".into());
        return Some((ty.trim().to_string(), zone));
    }
    // Spot: "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot
    // capacity available that matches your request.": no type named.
    let zone = detail_zone.unwrap_or_else(|| "?".into());
    if message.contains("UnfulfillableCapacity") {
        // No type of the request can be offered at all: the group's configuration, not a
        // passing shortage.
        return Some(("no type of the request (UnfulfillableCapacity: check the group's types and max price)".into(), zone));
    }
    if message.contains("InsufficientInstanceCapacity") || message.contains("no Spot capacity available") {
        let what = if message.contains("Spot") { "spot (the group's types)" } else { "the group's types" };
        return Some((what.into(), zone));
    }
    None
}

/// Launches that failed for capacity in the last `hours`, per group, by type and zone (pure):
/// the write-up's 45-minute scale-ups, and which types to add. A report: never a failure.
pub fn capacity_checks(cluster: &str, failures: &BTreeMap<String, Vec<(jiff::Timestamp, String, String)>>, hours: i64) -> Vec<Check> {
    let mut out = Vec::new();
    for (group, fs) in failures {
        let mut by: BTreeMap<(String, String), (usize, jiff::Timestamp)> = BTreeMap::new();
        for (t, m, details) in fs {
            if let Some(k) = capacity_failure(m, details) {
                let e = by.entry(k).or_insert((0, *t));
                e.0 += 1;
                e.1 = e.1.max(*t);
            }
        }
        if by.is_empty() {
            continue;
        }
        let parts: Vec<String> = by.iter().map(|((ty, z), (n, last))| format!("{ty} in {z}: {n} launch(es) failed, last at {}", crate::core::schedule::utc(*last))).collect();
        out.push(warn(
            cluster,
            format!("spot capacity of group {group}"),
            format!("in the last {hours} h, AWS had no capacity for {}; each failure delays a scale-up until the autoscaler gives up on the group (maxNodeProvisionTime): add instance types of the same size, or zones", parts.join("; ")),
        ));
    }
    out
}

/// The control plane's checks (pure): ACTIVE on the declared Kubernetes version, and every
/// group's nodes within the version-skew policy (never newer, at most three minors older).
pub fn control_plane_checks(d: &DesiredCluster, live: &LiveCluster) -> Vec<Check> {
    let Some(cp) = &d.control_plane else { return vec![] };
    let name = format!("eks control plane {}", cp.name);
    let e = match &live.eks {
        Some(Ok(e)) => e,
        Some(Err(why)) => return vec![check(&d.name, name, false, why.clone())],
        None => return vec![check(&d.name, name, false, "was not read".into())],
    };
    let mut out = Vec::new();
    let (ok, detail) = match &cp.version {
        _ if e.status != "ACTIVE" => (false, format!("{} (Kubernetes {})", e.status, e.version)),
        Some(v) if *v != e.version => (false, format!("Kubernetes {}, declared {v}: apply to upgrade it", e.version)),
        _ => (true, format!("ACTIVE, Kubernetes {}", e.version)),
    };
    out.push(check(&d.name, name, ok, detail));
    let Some(cpm) = minor(&e.version) else { return out };
    let mut bad: Vec<String> = Vec::new();
    for (g, a) in &live.asgs {
        let mut off: Vec<&str> = a
            .instances
            .iter()
            .filter(|i| !i.lifecycle_state.starts_with("Terminat"))
            .filter_map(|i| i.kubernetes_version.as_deref())
            .filter(|v| minor(v).is_some_and(|n| n > cpm || cpm - n > MAX_NODE_SKEW))
            .collect();
        off.sort();
        off.dedup();
        if !off.is_empty() {
            bad.push(format!("{g} runs {}", off.join(", ")));
        }
    }
    let unknown: Vec<&str> = live
        .asgs
        .iter()
        .filter(|(_, a)| a.instances.iter().any(|i| !i.lifecycle_state.starts_with("Terminat") && i.kubernetes_version.is_none()))
        .map(|(g, _)| g.as_str())
        .collect();
    let unchecked = if unknown.is_empty() { String::new() } else { format!("; NOT CHECKED: nodes of unknown Kubernetes version in {} (check with kubectl get nodes)", unknown.join(", ")) };
    let detail = if bad.is_empty() {
        format!("every node of known version within {MAX_NODE_SKEW} minors of {}, none newer{unchecked}", e.version)
    } else {
        format!("{} (control plane {}): outside the Kubernetes version-skew policy; roll them onto the control plane's version{unchecked}", bad.join(", "), e.version)
    };
    out.push(check(&d.name, "node version skew".into(), bad.is_empty(), detail));
    out
}

/// DNS checks (pure).
pub fn dns_checks(d: &DesiredCluster, live: &LiveCluster) -> Vec<Check> {
    let mut out = Vec::new();
    for (key, want) in &d.records {
        let (ok, detail) = match live.records.get(key) {
            None => (false, "missing in Route53".to_string()),
            Some(have) if have.owner.as_deref() != Some(&d.name) => (false, format!("not owned by this cluster (expected ownership value {})", owner_value(&d.name))),
            Some(have) if have.data != *want => (false, format!("holds {} (ttl {}), declared {} (ttl {})", have.data.values.join(", "), have.data.ttl, want.values.join(", "), want.ttl)),
            Some(have) => (true, have.data.values.join(", ")),
        };
        out.push(check(&d.name, format!("dns {key}"), ok, detail));
    }
    out
}

/// How far back `validate` looks for launches that failed for capacity.
pub const CAPACITY_HOURS: i64 = 24;

/// Every check of one cluster: groups, zones, launches that failed for capacity, EC2 status
/// checks, DNS, and the validate hook (once).
pub async fn validate_cluster(aws: &Aws, d: &DesiredCluster, live: &LiveCluster, root: &Path, reports: bool) -> Vec<Check> {
    let mut out = control_plane_checks(d, live);
    out.extend(group_checks(d, live));
    if reports {
        out.extend(capacity_and_zones(aws, d, live).await);
    }
    out.extend(ec2_dns_and_hook(aws, d, live, root).await);
    out
}

/// The zone-balance checks and the launches that failed for capacity in the last day.
async fn capacity_and_zones(aws: &Aws, d: &DesiredCluster, live: &LiveCluster) -> Vec<Check> {
    let mut out = zone_checks(d, live);
    // Launches that failed for capacity in the last day (one read per group, side by side).
    let since = crate::aws::read::now() - jiff::SignedDuration::from_hours(CAPACITY_HOURS);
    let asg = aws.autoscaling(&d.region);
    let reads = futures::future::join_all(d.groups.keys().filter(|n| live.asgs.contains_key(*n)).map(|n| {
        let asg = asg.clone();
        async move { (n.clone(), crate::aws::autoscaling::failed_activities(&asg, &d.region, n, since).await) }
    }))
    .await;
    let mut failures = BTreeMap::new();
    for (n, r) in reads {
        match r {
            Ok(f) => {
                failures.insert(n, f);
            }
            Err(e) => {
                // A report, never a failure: say what could not be read (a missing
                // autoscaling:DescribeScalingActivities permission, say).
                out.push(warn(&d.name, format!("spot capacity of group {n}"), format!("not checked: {e}")));
            }
        }
    }
    out.extend(capacity_checks(&d.name, &failures, CAPACITY_HOURS));
    out
}

async fn ec2_dns_and_hook(aws: &Aws, d: &DesiredCluster, live: &LiveCluster, root: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    let ids: Vec<String> = d.groups.keys().filter_map(|n| live.asgs.get(n)).flat_map(|a| a.instances.iter().map(|i| i.id.clone())).collect();
    if !ids.is_empty() {
        match ec2::status_checks(&aws.ec2(&d.region), &d.region, &ids).await {
            Ok(m) => {
                let bad: Vec<String> = m.iter().filter_map(|(id, b)| b.as_ref().map(|b| format!("{id}: {b}"))).collect();
                out.push(check(&d.name, "ec2 status checks".into(), bad.is_empty(), if bad.is_empty() { format!("{} instances ok", m.len()) } else { bad.join("; ") }));
            }
            Err(e) => out.push(check(&d.name, "ec2 status checks".into(), false, e.to_string())),
        }
    }
    out.extend(dns_checks(d, live));
    if let Some(h) = &d.hooks.validate {
        let env = HookEnv { cluster: &d.name, group: "", instance_id: "", node: "" };
        match hooks::run(h, root, &env).await {
            Ok(()) => out.push(check(&d.name, "validate hook".into(), true, h.command.clone())),
            Err(e) => out.push(check(&d.name, "validate hook".into(), false, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::control_plane::DesiredControlPlane;
    use crate::core::live::{EksCluster, LiveAsg, LiveInstance};

    fn setup(cp_version: &str, declared: &str, nodes: &[&str]) -> (DesiredCluster, LiveCluster) {
        let d = DesiredCluster {
            name: "c".into(),
            region: "eu-west-1".into(),
            groups: Default::default(),
            dns_zone: None,
            records: Default::default(),
            state_store: None,
            hooks: Default::default(),
            validation: Default::default(),
            max_concurrent_groups: None,
            cluster_max_unavailable: None,
            wave: 0,
            eks: None,
            control_plane: Some(DesiredControlPlane {
                name: "c".into(),
                version: Some(declared.into()),
                role_arn: None,
                subnet_ids: vec![],
                subnets_declared: false,
                endpoint_public: None,
                endpoint_private: None,
                public_cidrs: None,
                logging: None,
                secrets_encryption_key: None,
                tags: Default::default(),
                authentication_mode: None,
                service_ipv4_cidr: None,
                addons: vec![],
                node_roles: Default::default(),
            }),
            nodes_deferred: None,
            adopt: false,
        };
        let mut live = LiveCluster { eks: Some(Ok(EksCluster { name: "c".into(), version: cp_version.into(), status: "ACTIVE".into(), ..Default::default() })), ..Default::default() };
        let instances = nodes
            .iter()
            .enumerate()
            .map(|(i, v)| LiveInstance {
                id: format!("i-{i}"),
                availability_zone: "a".into(),
                lifecycle_state: "InService".into(),
                health_status: "Healthy".into(),
                instance_type: "m5.large".into(),
                image_id: None,
                launch_template_version: None,
                private_dns_name: None,
                kubernetes_version: Some(v.to_string()),
                launch_time: None,
            })
            .collect();
        live.asgs.insert("g.c".into(), LiveAsg { config: Default::default(), desired_capacity: nodes.len() as i32, instances, rolling_hold: None, scheduled_actions: Default::default(), other_scheduled_actions: Vec::new(), held_processes: Vec::new() });
        (d, live)
    }

    #[test]
    fn the_control_plane_must_be_active_on_its_declared_version_with_nodes_inside_the_skew_policy() {
        let ok = |c: &[Check]| c.iter().map(|c| c.ok).collect::<Vec<_>>();
        let (d, live) = setup("1.32", "1.32", &["1.30", "1.32"]);
        assert_eq!(ok(&control_plane_checks(&d, &live)), vec![true, true]);
        let (d, live) = setup("1.31", "1.32", &["1.31"]);
        let c = control_plane_checks(&d, &live);
        assert_eq!(ok(&c), vec![false, true]);
        assert!(c[0].detail.contains("Kubernetes 1.31, declared 1.32"), "{c:?}");
        let (d, live) = setup("1.32", "1.32", &["1.28", "1.33"]);
        let c = control_plane_checks(&d, &live);
        assert!(!c[1].ok && c[1].detail.contains("g.c runs 1.28, 1.33"), "{c:?}");
        let (d, mut live) = setup("1.32", "1.32", &["1.32"]);
        if let Some(Ok(e)) = &mut live.eks {
            e.status = "UPDATING".into();
        }
        assert!(!control_plane_checks(&d, &live)[0].ok);
    }
}
