//! The rolling-update schedule: which instances to replace, in which groups, in which order and
//! batches. Pure: computed from the plan (out-of-date instances and why) and the live sizes.
//!
//! Order: control-plane groups (one instance at a time, never surging), then critical (admin)
//! groups, then the rest, by name. Within a group, `maxSurge` and `maxUnavailable` (numbers or
//! percentages of the desired capacity) come from the group, else the cluster, else kops's AWS
//! defaults: surge 1, unavailable 0. A percentage of surge rounds up, of unavailable down; when
//! both come to 0, one instance at a time is taken out. A batch holds surge + unavailable
//! instances: the group first grows by the surge, the batch's instances are drained and
//! terminated (the surged ones shrinking the group back, the others being replaced), and the
//! health gate must pass before the next batch.

use serde::{Deserialize, Serialize};

use super::desired::DesiredCluster;
use super::live::LiveCluster;
use super::model::{IntOrPercent, Role};
use super::plan::{ClusterPlan, Replacement};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRoll {
    /// AWS name `<group>.<cluster>`.
    pub name: String,
    pub role: Role,
    pub critical: bool,
    pub desired_capacity: i32,
    pub max_surge: u32,
    pub max_unavailable: u32,
    pub batches: Vec<Vec<Replacement>>,
    /// The node name (private DNS name) of each instance to replace, as the live read saw it:
    /// the drain hook's FLEETFORM_NODE without a request per batch. Not part of the schedule's
    /// JSON.
    #[serde(skip)]
    pub nodes: std::collections::BTreeMap<String, String>,
}

impl GroupRoll {
    pub fn instances(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }
}

/// Surge and unavailable for a group of `desired` instances.
pub fn batch_params(role: Role, desired: i32, surge: Option<IntOrPercent>, unavailable: Option<IntOrPercent>) -> (u32, u32) {
    let d = desired.max(0) as u32;
    if matches!(role, Role::ControlPlane | Role::APIServer) {
        return (0, 1);
    }
    let s = surge.unwrap_or(IntOrPercent::Int(1)).resolve(d, true);
    let u = unavailable.unwrap_or(IntOrPercent::Int(0)).resolve(d, false);
    if s == 0 && u == 0 {
        (0, 1)
    } else {
        (s, u)
    }
}

/// The schedule of one cluster. `force`: every running instance, up to date or not.
/// `only`: group names (short, as in the manifest) to restrict to; empty for all.
pub fn schedule(plan: &ClusterPlan, d: &DesiredCluster, live: &LiveCluster, force: bool, only: &[String]) -> Vec<GroupRoll> {
    let mut out = Vec::new();
    for (name, g) in &d.groups {
        if !only.is_empty() && !only.contains(&g.group) {
            continue;
        }
        let Some(a) = live.asgs.get(name) else { continue };
        let mut todo: Vec<Replacement> = if force {
            a.instances
                .iter()
                .filter(|i| !i.lifecycle_state.starts_with("Terminat"))
                .map(|i| {
                    let why = plan.replacements.iter().find(|r| r.instance_id == i.id).map(|r| r.reasons.clone());
                    Replacement { group: name.clone(), instance_id: i.id.clone(), reasons: why.unwrap_or_else(|| vec!["--force".into()]) }
                })
                .collect()
        } else {
            plan.replacements.iter().filter(|r| r.group == *name).cloned().collect()
        };
        // A group a killed roll left raised is scheduled even with nothing to replace: the
        // roll restores its declared sizes first.
        if todo.is_empty() && a.rolling_hold.is_none() {
            continue;
        }
        todo.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        let (surge, unavailable) = batch_params(g.role, a.desired_capacity, g.max_surge, g.max_unavailable);
        let size = (surge + unavailable).max(1) as usize;
        let nodes = a
            .instances
            .iter()
            .filter(|i| todo.iter().any(|r| r.instance_id == i.id))
            .filter_map(|i| Some((i.id.clone(), i.private_dns_name.clone()?)))
            .collect();
        out.push(GroupRoll {
            nodes,
            name: name.clone(),
            role: g.role,
            critical: g.critical,
            desired_capacity: a.desired_capacity,
            max_surge: surge,
            max_unavailable: unavailable,
            batches: todo.chunks(size).map(<[Replacement]>::to_vec).collect(),
        });
    }
    out.sort_by_key(|g| (!matches!(g.role, Role::ControlPlane | Role::APIServer), !g.critical, g.name.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kops_defaults_and_percentages() {
        assert_eq!(batch_params(Role::Node, 10, None, None), (1, 0));
        assert_eq!(batch_params(Role::Node, 10, Some(IntOrPercent::Percent(25)), Some(IntOrPercent::Percent(25))), (3, 2));
        assert_eq!(batch_params(Role::Node, 10, Some(IntOrPercent::Int(0)), None), (0, 1), "never a batch of nothing");
        assert_eq!(batch_params(Role::ControlPlane, 3, Some(IntOrPercent::Int(2)), Some(IntOrPercent::Int(2))), (0, 1), "control plane: one at a time, no surge");
    }
}
