//! Rolling updates and validation of a wave of clusters: schedule from a fresh plan, roll each
//! cluster (clusters side by side, groups in the schedule's order), then validate the wave.
//! The caller holds the clusters' locks; validation reads AWS again but never re-renders.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::plan::{plan_clusters, ClusterOutcome};
use crate::aws::Aws;
use crate::core::desired::DesiredCluster;
use crate::core::duration;
use crate::core::model::Manifest;
use crate::core::rolling::{schedule, GroupRoll};
use crate::executor::validate::{validate_cluster, Check};

/// What to roll.
#[derive(Debug, Clone)]
pub struct RollSettings {
    /// Only these node groups (short names); empty for all.
    pub groups: Vec<String>,
    /// Every instance, up to date or not.
    pub force: bool,
    /// How often AWS is polled while waiting.
    pub poll: Duration,
    /// Over the clusters' rollingUpdate.maxConcurrentGroups / clusterMaxUnavailable.
    pub max_groups: Option<u32>,
    pub max_unavailable: Option<u32>,
}

/// One cluster's part of a rolling update.
#[derive(Debug, Clone)]
pub struct ClusterRoll {
    pub desired: DesiredCluster,
    pub groups: Vec<GroupRoll>,
    /// Groups left out, with why: at zero by their schedule, nothing to replace.
    pub skipped: Vec<String>,
}

impl ClusterRoll {
    pub fn instances(&self) -> usize {
        self.groups.iter().map(GroupRoll::instances).sum()
    }
}

/// Schedules from fresh plans; errors are one line each ("cluster X: …"). A cluster whose AWS
/// state does not match the code yet is refused: the roll replaces instances to match what is
/// applied.
pub fn schedules(outcomes: Vec<ClusterOutcome>, s: &RollSettings) -> Result<Vec<ClusterRoll>, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for o in outcomes {
        match (o.result, o.live) {
            (Err(errs), _) => errors.extend(errs.into_iter().map(|e| format!("cluster {}: {e}", o.name))),
            (Ok((plan, _)), _) if !plan.is_empty() => {
                let sm = plan.summary();
                errors.push(format!(
                    "cluster {}: AWS does not match the code yet ({} to create, {} to update, {} to delete); apply first, or run `fleetform apply --rolling`",
                    o.name, sm.create, sm.update, sm.delete
                ));
            }
            (Ok((plan, d)), Some(live)) => {
                let groups = schedule(&plan, &d, &live, s.force, &s.groups);
                let skipped = d
                    .groups
                    .iter()
                    .filter(|(_, g)| s.groups.is_empty() || s.groups.contains(&g.group))
                    .filter_map(|(n, g)| {
                        let sc = g.schedule.as_ref().filter(|sc| !sc.now.up)?;
                        live.asgs.get(n).filter(|a| a.desired_capacity == 0 && a.instances.iter().all(|i| i.lifecycle_state.starts_with("Terminat")))?;
                        Some(format!("group {}: {}; nothing to replace: its instances launch from the current launch template when its window opens", g.group, sc.now.describe()))
                    })
                    .collect();
                out.push(ClusterRoll { desired: d, groups, skipped });
            }
            (Ok(_), None) => errors.push(format!("cluster {}: no live view was read", o.name)),
        }
    }
    for g in &s.groups {
        if !out.iter().any(|c| c.desired.groups.values().any(|x| x.group == *g)) {
            errors.push(format!("no selected cluster has a node group named `{g}`"));
        }
    }
    out.sort_by(|a, b| (a.desired.wave, &a.desired.name).cmp(&(b.desired.wave, &b.desired.name)));
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// Read, plan and schedule without a lock (the schedule shown without --yes).
pub async fn preview(aws: &Aws, manifests: &[&Manifest], s: &RollSettings) -> Result<Vec<ClusterRoll>, Vec<String>> {
    schedules(plan_clusters(aws, manifests).await, s)
}

/// Every check of the given clusters, from a fresh read (one pass).
/// `reports`: with the zone balance and the capacity failures (`fleetform validate`); not
/// between waves, where the question is health (a roll leaves zones unbalanced until Auto
/// Scaling's AZRebalance, resumed after it, evens them out).
pub async fn validate_once(aws: &Aws, manifests: &[&Manifest], root: &Path, reports: bool) -> Vec<Check> {
    let outcomes = plan_clusters(aws, manifests).await;
    let mut out = Vec::new();
    for o in outcomes {
        match (&o.result, &o.live) {
            (Ok((_, d)), Some(live)) => out.extend(validate_cluster(aws, d, live, root, reports).await),
            (Err(errs), _) => out.push(Check { cluster: o.name.clone(), check: "read AWS".into(), ok: false, detail: errs.join("; "), warning: false }),
            (Ok(_), None) => {}
        }
    }
    out
}

/// Validate a wave before the next one starts: every check must pass, retried until the
/// longest `validationTimeout` of the wave (a group may still be launching). Failures are the
/// last pass's.
pub async fn validate_wave(aws: &Aws, manifests: &[&Manifest], root: &Path, poll: Duration, interrupted: &AtomicBool) -> Vec<Check> {
    let timeout = manifests
        .iter()
        .filter_map(|m| m.cluster.spec.validation.as_ref().and_then(|v| v.validation_timeout.as_deref()).and_then(|t| duration::parse(t).ok()))
        .max()
        .unwrap_or(Duration::from_secs(900));
    let start = Instant::now();
    loop {
        let checks = validate_once(aws, manifests, root, false).await;
        if checks.iter().all(|c| c.ok) || start.elapsed() >= timeout || interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return checks;
        }
        tokio::time::sleep(poll).await;
    }
}
