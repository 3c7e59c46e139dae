//! `destroy`: delete everything one cluster owns on AWS, in the order every mutating run keeps —
//! lock, read, plan, show, confirm, act, audit record, unlock.
//!
//! Instances go first, one at a time: the drain hook (unless --skip-drain), then termination with
//! the group's desired capacity decremented (its min set to 0 first, so that the Auto Scaling
//! group never replaces them); then the deletions, as typed steps through the executor. Killed at
//! any point, the same command continues from what AWS shows: a terminated instance is gone from
//! the next read, a deleted resource is no longer owned. The state store is never deleted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::lock::{self, Audit};
use crate::aws::read::read_live;
use crate::aws::{autoscaling, Aws};
use crate::core::destroy::{self, DestroyPlan};
use crate::core::model::{Hook, Manifest};
use crate::core::resources::fqdn;
use crate::executor::apply::{run_steps, ClusterReport};
use crate::executor::hooks::{self, HookEnv};
use crate::executor::progress::Progress;
use crate::output::Printer;

/// What the command shows and asks.
pub trait DestroyUi {
    fn printer(&self) -> &Printer;
    fn show(&self, plan: &DestroyPlan);
    /// The user confirms by the cluster's name (typed, or `--yes --confirm NAME`).
    fn confirm(&self, cluster: &str, interrupted: &AtomicBool) -> bool;
}

pub struct DestroyRequest<'a> {
    /// The cluster as rendered, or as made up from the command line when its vars file is gone.
    pub manifest: &'a Manifest,
    pub include_control_plane: bool,
    pub skip_drain: bool,
    pub lock_timeout: Duration,
    pub poll: Duration,
    pub command: String,
    pub commit: Option<String>,
    pub root: PathBuf,
    /// The cluster has a vars file: its control plane is its own by declaration (else only when
    /// its tag names the cluster).
    pub declared: bool,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyReport {
    pub cluster: String,
    /// Instances drained (or not, with --skip-drain) and terminated.
    pub terminated: Vec<String>,
    pub deleted: Vec<String>,
    pub kept: Vec<String>,
    pub failed: Option<String>,
    pub not_done: Vec<String>,
    pub interrupted: bool,
    /// The user did not confirm: nothing was done.
    pub declined: bool,
    /// What was planned.
    pub plan: Option<DestroyPlan>,
}

impl DestroyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_none() && !self.interrupted && !self.declined
    }
}

/// Destroy `req.manifest`'s cluster.
pub async fn run(aws: &Aws, req: &DestroyRequest<'_>, ui: &dyn DestroyUi) -> DestroyReport {
    let m = req.manifest;
    let cluster = m.name().to_string();
    let p = ui.printer().clone();
    let mut report = DestroyReport { cluster: cluster.clone(), ..Default::default() };
    let interrupted = Arc::new(AtomicBool::new(false));
    crate::executor::stop_on_interrupt(interrupted.clone(), "the lock will be released");
    let progress = Progress::new(p.stderr_is_terminal, p.quiet);
    let cp = progress.cluster(&cluster, 0);
    let (r, stop, prog) = (&mut report, &interrupted, &progress);
    let body = move || async move {
        let mut audit = Audit::default();
        destroy_locked(aws, req, ui, stop, prog, r, &mut audit).await;
        audit
    };
    match lock::under_lock(aws, &cluster, m.cluster.spec.state_store.as_deref(), &req.command, req.commit.as_deref(), req.lock_timeout, &cp, &interrupted, body).await {
        Err(e) => report.failed = Some(e),
        Ok(errors) => {
            for e in errors {
                p.error(&format!("{cluster}: {e}"));
                report.failed.get_or_insert(e);
            }
        }
    }
    report
}

async fn destroy_locked(aws: &Aws, req: &DestroyRequest<'_>, ui: &dyn DestroyUi, interrupted: &AtomicBool, progress: &Progress, report: &mut DestroyReport, audit: &mut Audit) {
    let m = req.manifest;
    let cluster = m.name();
    let region = &m.cluster.spec.region;
    let live = match read_live(aws, &[m]).await.remove(cluster) {
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            report.failed = Some(e.to_string());
            return;
        }
        None => {
            report.failed = Some("no live view was read".into());
            return;
        }
    };
    let zone = m.cluster.spec.dns_zone.as_deref().map(fqdn);
    let zone = zone.as_deref().zip(live.zone_id.as_deref());
    let plan = destroy::plan(cluster, region, &live, zone, m.eks_name().as_deref(), req.include_control_plane, req.declared);
    report.kept = plan.kept.clone();
    report.plan = Some(plan.clone());
    ui.show(&plan);
    if plan.is_empty() {
        return;
    }
    let drain = m.cluster.spec.hooks.as_ref().and_then(|h| h.drain.as_ref());
    if drain.is_none() && !req.skip_drain && !plan.instances.is_empty() {
        report.failed = Some(format!(
            "{} instance(s) would be terminated without draining: the cluster declares no drain hook{}. Pass --skip-drain to terminate them without draining, or declare spec.hooks.drain",
            plan.instances.len(),
            if m.groups.is_empty() && m.cluster.spec.hooks.is_none() { " (its vars file is gone, so its hooks are unknown)" } else { "" }
        ));
        return;
    }
    if !ui.confirm(cluster, interrupted) {
        report.declined = true;
        return;
    }
    let cp = progress.cluster(cluster, plan.instances.len() + plan.steps.len());
    // 1. The instances, one at a time, each drained first.
    let asgc = aws.autoscaling(region);
    let mut opened = std::collections::BTreeSet::new();
    for (n, t) in plan.instances.iter().enumerate() {
        if interrupted.load(Ordering::SeqCst) {
            report.interrupted = true;
            audit.interrupted = true;
            report.not_done = plan.instances[n..].iter().map(|t| format!("terminate {}", t.instance_id)).chain(plan.steps.iter().map(|s| s.label())).collect();
            return;
        }
        // Per group, first: no new instance from now on (Launch, ReplaceUnhealthy and AZRebalance
        // suspended: an instance launched now would be deleted undrained with the group), and
        // its min to 0 — only the min: the desired capacity the autoscaler set is left as it is
        // (writing back what was read could scale in undrained instances).
        if opened.insert(t.group.clone()) {
            let opened_ok = async {
                autoscaling::suspend_processes(&asgc, region, &t.group, &["Launch", "ReplaceUnhealthy", "AZRebalance"]).await?;
                autoscaling::set_min(&asgc, region, &t.group, 0).await
            };
            if let Err(e) = opened_ok.await {
                fail(report, audit, e.to_string(), &plan, n);
                return;
            }
        }
        let node = t.node.clone().unwrap_or_default();
        if let (Some(h), false) = (drain, req.skip_drain) {
            cp.start(&format!("draining {} ({node}) of {}", t.instance_id, t.group));
            if let Err(e) = run_drain(h, req, cluster, &t.group, &t.instance_id, &node).await {
                fail(report, audit, format!("drain hook failed for {} (node {node}) of {}: {e}; the instance was left running (--skip-drain terminates without draining)", t.instance_id, t.group), &plan, n);
                return;
            }
        }
        match autoscaling::terminate_instance(&asgc, region, &t.instance_id, true).await {
            Ok(()) => {}
            Err(e) => {
                // Gone since the read (a killed run terminated it, or the autoscaler did): AWS
                // answers a plain ValidationError, so the group is asked, not the message read.
                let gone = match autoscaling::describe_group(&asgc, region, &t.group).await {
                    Ok(None) => true,
                    Ok(Some(g)) => !g.instances().iter().any(|i| i.instance_id() == Some(t.instance_id.as_str())),
                    Err(_) => false,
                };
                if !gone {
                    fail(report, audit, e.to_string(), &plan, n);
                    return;
                }
            }
        }
        let what = format!("instance {} of {}", t.instance_id, t.group);
        cp.done(&format!("terminated {what}{}", if req.skip_drain { " (not drained)" } else { "" }));
        report.terminated.push(what.clone());
        audit.deleted.push(what);
    }
    // 2. The resources.
    let mut r = ClusterReport { cluster: cluster.to_string(), ..Default::default() };
    let limits = crate::executor::apply::Limits::new(crate::executor::apply::DEFAULT_CONCURRENCY);
    run_steps(aws, region, &plan.steps, req.poll, interrupted, &limits, &cp, &mut r).await;
    cp.finish(if r.ok() { "destroyed" } else if r.interrupted { "interrupted" } else { "failed" });
    report.deleted.extend(r.deleted.iter().cloned());
    audit.deleted.extend(r.deleted);
    if let Some(e) = r.failed {
        audit.failed.push(e.clone());
        report.failed = Some(e);
    }
    report.not_done.extend(r.not_done);
    report.interrupted |= r.interrupted;
    audit.interrupted |= r.interrupted;
}

async fn run_drain(h: &Hook, req: &DestroyRequest<'_>, cluster: &str, group: &str, instance: &str, node: &str) -> Result<(), String> {
    hooks::run(h, &req.root, &HookEnv { cluster, group, instance_id: instance, node }).await
}

fn fail(report: &mut DestroyReport, audit: &mut Audit, e: String, plan: &DestroyPlan, n: usize) {
    audit.failed.push(e.clone());
    report.failed = Some(e);
    report.not_done = plan.instances[n..].iter().map(|t| format!("terminate {}", t.instance_id)).chain(plan.steps.iter().map(|s| s.label())).collect();
}
