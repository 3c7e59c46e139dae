//! `destroy`: the plan of deleting everything a cluster owns on AWS. Pure.
//!
//! What a cluster owns is what carries its ownership tag (groups, launch templates, access
//! entries) or ownership record (DNS): the same test the plan uses, so destroy never touches
//! what another cluster or a person made. Instances go first, one by one through the drain
//! hook (the executor's business), then the groups, their launch templates, the records, the
//! access entries, and — only when asked — the EKS control plane. The state store (lock and
//! audit trail) is never deleted: the record of what was destroyed stays.

use serde::Serialize;

use super::live::LiveCluster;
use super::plan::{Action, RecordChange, Step};
use super::resources::TAG_CLUSTER;

/// One instance to drain and terminate before its group goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainTarget {
    pub group: String,
    pub instance_id: String,
    /// The Kubernetes node name (the private DNS name), when known.
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyPlan {
    pub cluster: String,
    pub region: String,
    /// Drained (unless --skip-drain) and terminated, group by group, before the deletions.
    pub instances: Vec<DrainTarget>,
    /// The deletions, in order.
    pub steps: Vec<Step>,
    /// What the cluster owns that is kept, with why.
    pub kept: Vec<String>,
}

impl DestroyPlan {
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.steps.is_empty()
    }
}

/// The plan of destroying `cluster` as `live` shows it. `zone`: the hosted zone (name, id) its
/// records live in; `eks`: its EKS cluster's name, deleted only with `include_control_plane` and
/// when it is the cluster's: `declared` in its vars file, or tagged with its name.
pub fn plan(cluster: &str, region: &str, live: &LiveCluster, zone: Option<(&str, &str)>, eks: Option<&str>, include_control_plane: bool, declared: bool) -> DestroyPlan {
    let mut instances = Vec::new();
    let mut steps = Vec::new();
    let mut kept = Vec::new();
    for (name, a) in &live.asgs {
        for i in &a.instances {
            if i.lifecycle_state.starts_with("Terminat") || i.lifecycle_state == "Detached" {
                continue;
            }
            instances.push(DrainTarget { group: name.clone(), instance_id: i.id.clone(), node: i.private_dns_name.clone() });
        }
        steps.push(Step::DeleteAutoScalingGroup { name: name.clone(), instances: a.instances.len() });
    }
    for name in live.launch_templates.keys() {
        steps.push(Step::DeleteLaunchTemplate { name: name.clone() });
    }
    let owned: Vec<RecordChange> = live
        .records
        .iter()
        .filter(|(_, r)| r.owner.as_deref() == Some(cluster))
        .map(|(k, r)| RecordChange { key: k.clone(), action: Action::Delete, before: Some(r.data.clone()), after: None })
        .collect();
    if let (Some((zone, zone_id)), false) = (zone, owned.is_empty()) {
        steps.push(Step::ChangeRecords { zone: zone.to_string(), zone_id: zone_id.to_string(), cluster: cluster.to_string(), changes: owned });
    }
    if let (Some(name), Some(Ok(e))) = (eks, &live.eks) {
        // The control plane is the cluster's when its tag says so, or — untagged — when the vars
        // file declares it. A tag naming another cluster always wins: never delete that.
        let ours = match e.tags.get(TAG_CLUSTER) {
            Some(owner) => owner == cluster,
            None => declared,
        };
        if include_control_plane && ours {
            // Deleting the control plane deletes its access entries and add-ons with it.
            steps.push(Step::DeleteControlPlane { name: name.to_string() });
        } else {
            for (principal, entry) in &e.access_entries {
                if entry.owner.as_deref() == Some(cluster) {
                    steps.push(Step::DeleteAccessEntry { cluster: name.to_string(), principal: principal.clone() });
                }
            }
            kept.push(match (include_control_plane, e.tags.get(TAG_CLUSTER)) {
                (false, _) => format!("EKS control plane {name} (Kubernetes {}): pass --include-control-plane to delete it too", e.version),
                (true, Some(owner)) => format!("EKS control plane {name}: not deleted, its tag {TAG_CLUSTER} names the cluster {owner}"),
                (true, None) => format!(
                    "EKS control plane {name}: not deleted, it carries no {TAG_CLUSTER} tag and no vars file declares it; delete it by hand if it is really this cluster's"
                ),
            });
        }
    }
    DestroyPlan { cluster: cluster.to_string(), region: region.to_string(), instances, steps, kept }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::live::{AccessEntry, EksCluster, LiveAsg, LiveInstance, LiveLaunchTemplate, LiveRecord};
    use crate::core::resources::{RecordData, RecordKey};

    fn live() -> LiveCluster {
        let mut l = LiveCluster::default();
        let inst = |id: &str, state: &str| LiveInstance {
            id: id.into(),
            availability_zone: "a".into(),
            lifecycle_state: state.into(),
            health_status: "Healthy".into(),
            instance_type: "m5.large".into(),
            image_id: None,
            launch_template_version: None,
            private_dns_name: Some(format!("ip-{id}")),
            kubernetes_version: None,
            launch_time: None,
        };
        l.asgs.insert("a.c".into(), LiveAsg { config: Default::default(), desired_capacity: 2, instances: vec![inst("i-1", "InService"), inst("i-2", "Terminating")], rolling_hold: None, scheduled_actions: Default::default(), other_scheduled_actions: Vec::new(), held_processes: Vec::new() });
        l.launch_templates.insert("a.c".into(), LiveLaunchTemplate { id: "lt-1".into(), default_version: 1, latest_version: 1, versions: Default::default() });
        let rec = |owner: Option<&str>| LiveRecord { data: RecordData { ttl: 60, values: vec!["192.0.2.1".into()] }, owner: owner.map(str::to_string) };
        l.records.insert(RecordKey { name: "api.c.".into(), record_type: "A".into() }, rec(Some("c")));
        l.records.insert(RecordKey { name: "shared.c.".into(), record_type: "A".into() }, rec(None));
        l.records.insert(RecordKey { name: "other.c.".into(), record_type: "A".into() }, rec(Some("d")));
        let mut e = EksCluster { name: "c".into(), version: "1.31".into(), status: "ACTIVE".into(), ..Default::default() };
        e.access_entries.insert("arn:role/node".into(), AccessEntry { entry_type: "EC2_LINUX".into(), owner: Some("c".into()) });
        e.access_entries.insert("arn:root".into(), AccessEntry { entry_type: "STANDARD".into(), owner: None });
        l.eks = Some(Ok(e));
        l
    }

    #[test]
    fn only_what_the_cluster_owns_in_order_instances_first() {
        let p = plan("c", "eu-west-1", &live(), Some(("c.", "Z1")), Some("c"), false, true);
        assert_eq!(p.instances, vec![DrainTarget { group: "a.c".into(), instance_id: "i-1".into(), node: Some("ip-i-1".into()) }], "terminating ones are left");
        let labels: Vec<String> = p.steps.iter().map(Step::label).collect();
        assert_eq!(labels, vec!["delete auto scaling group a.c", "delete launch template a.c", "change 1 dns record(s)", "delete EKS access entry of arn:role/node"]);
        let Step::ChangeRecords { changes, .. } = &p.steps[2] else { panic!() };
        assert_eq!(changes[0].key.name, "api.c.", "not the record of another cluster, nor one nobody owns");
        assert!(p.kept[0].contains("--include-control-plane"));
    }

    #[test]
    fn the_control_plane_goes_only_when_asked_and_takes_its_entries_with_it() {
        let p = plan("c", "eu-west-1", &live(), Some(("c.", "Z1")), Some("c"), true, true);
        assert_eq!(p.steps.last(), Some(&Step::DeleteControlPlane { name: "c".into() }));
        assert!(!p.steps.iter().any(|s| matches!(s, Step::DeleteAccessEntry { .. })) && p.kept.is_empty());
        assert!(plan("c", "eu-west-1", &LiveCluster::default(), None, None, true, true).is_empty(), "nothing owned, nothing to do");
        // Without a vars file, only a control plane tagged with the cluster's name; its access
        // entries go in any case.
        let p = plan("c", "eu-west-1", &live(), None, Some("c"), true, false);
        assert!(!p.steps.iter().any(|s| matches!(s, Step::DeleteControlPlane { .. })) && p.kept[0].contains("carries no fleetform.io/cluster tag"), "{p:?}");
        assert!(p.steps.contains(&Step::DeleteAccessEntry { cluster: "c".into(), principal: "arn:role/node".into() }));
        // A control plane another cluster's tag names is never deleted, declared or not.
        let mut theirs = live();
        if let Some(Ok(e)) = &mut theirs.eks {
            e.tags.insert(TAG_CLUSTER.into(), "prod".into());
        }
        let p = plan("c", "eu-west-1", &theirs, None, Some("c"), true, true);
        assert!(!p.steps.iter().any(|s| matches!(s, Step::DeleteControlPlane { .. })) && p.kept[0].contains("names the cluster prod"), "{p:?}");
        let mut tagged = live();
        if let Some(Ok(e)) = &mut tagged.eks {
            e.tags.insert(TAG_CLUSTER.into(), "c".into());
        }
        assert!(plan("c", "eu-west-1", &tagged, None, Some("c"), true, false).steps.contains(&Step::DeleteControlPlane { name: "c".into() }));
    }
}
