//! Cluster health, as the health gate of rolling updates and `fleetform validate` see it:
//! every declared group at its desired capacity with all instances InService and Healthy, EC2
//! status checks ok, declared DNS records holding the declared values, and the validate hook
//! passing.

use std::path::Path;

use serde::Serialize;

use super::hooks::{self, HookEnv};
use crate::aws::{ec2, Aws};
use crate::core::desired::DesiredCluster;
use crate::core::live::LiveCluster;
use crate::core::resources::owner_value;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub cluster: String,
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

fn check(cluster: &str, name: String, ok: bool, detail: String) -> Check {
    Check { cluster: cluster.to_string(), check: name, ok, detail }
}

/// The group checks of one cluster, from a live view (pure).
pub fn group_checks(d: &DesiredCluster, live: &LiveCluster) -> Vec<Check> {
    let mut out = Vec::new();
    for name in d.groups.keys() {
        let Some(a) = live.asgs.get(name) else {
            out.push(check(&d.name, format!("group {name}"), false, "does not exist on AWS (apply first)".into()));
            continue;
        };
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

/// Every check of one cluster: groups, EC2 status checks, DNS, and the validate hook (once).
pub async fn validate_cluster(aws: &Aws, d: &DesiredCluster, live: &LiveCluster, root: &Path) -> Vec<Check> {
    let mut out = group_checks(d, live);
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
