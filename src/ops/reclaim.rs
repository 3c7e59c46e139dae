//! `reclaim-on-demand`: give old on-demand fallback nodes back to spot, in the order every
//! mutating run keeps — lock, read, plan, act, audit record, unlock.
//!
//! Which instances is the pure core's answer (`core::reclaim`); here each one is drained through
//! the cluster's drain hook (unless --skip-drain) and terminated with its group's desired
//! capacity decremented, so that the group does not replace it and the autoscaler brings the
//! capacity back where its priorities say: the pool's spot groups. Killed at any point, the next
//! run starts from what AWS shows (a terminated instance is gone; an undrained one is still a
//! candidate).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::lock::{self, Audit};
use crate::aws::read::read_live;
use crate::aws::{autoscaling, Aws};
use crate::core::model::Manifest;
use crate::core::reclaim::{self, Reclaim, ReclaimPlan};
use crate::executor::hooks::{self, HookEnv};
use crate::executor::progress::Progress;

pub struct ReclaimRequest<'a> {
    pub manifest: &'a Manifest,
    pub older_than: jiff::SignedDuration,
    pub max: usize,
    pub skip_drain: bool,
    pub lock_timeout: Duration,
    pub command: String,
    pub commit: Option<String>,
    pub root: PathBuf,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReclaimReport {
    pub cluster: String,
    pub reclaimed: Vec<Reclaim>,
    /// What stays, and why; with instances planned but not reached after a failure.
    pub left: Vec<String>,
    pub failed: Option<String>,
    pub interrupted: bool,
}

/// Read and decide, without a lock: what a run would reclaim now.
pub async fn preview(aws: &Aws, m: &Manifest, older_than: jiff::SignedDuration, max: usize) -> Result<ReclaimPlan, String> {
    let live = read_live(aws, &[m]).await.remove(m.name()).ok_or_else(|| format!("cluster {}: nothing was read", m.name()))?.map_err(|e| e.to_string())?;
    Ok(reclaim::plan(m, &live, crate::aws::read::now(), older_than, max))
}

pub async fn run(aws: &Aws, req: &ReclaimRequest<'_>, quiet: bool, terminal: bool) -> ReclaimReport {
    let m = req.manifest;
    let cluster = m.name().to_string();
    let mut report = ReclaimReport { cluster: cluster.clone(), ..Default::default() };
    let drain = m.cluster.spec.hooks.as_ref().and_then(|h| h.drain.clone());
    if drain.is_none() && !req.skip_drain {
        report.failed = Some(format!("cluster {cluster} declares no drain hook (spec.hooks.drain): its pods would be killed, not moved; declare one, or pass --skip-drain"));
        return report;
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    crate::executor::stop_on_interrupt(interrupted.clone(), "the lock will be released");
    let progress = Progress::new(terminal, quiet);
    let cp = progress.cluster(&cluster, 0);
    let r = &mut report;
    let (stop, cpr) = (&interrupted, &cp);
    let work = move || async move {
        let mut audit = Audit::default();
        // Under the lock, from a fresh read: nobody else changes the groups meanwhile.
        match preview(aws, m, req.older_than, req.max).await {
            Err(e) => r.failed = Some(e),
            Ok(plan) => reclaim_each(aws, req, &plan, drain.as_ref(), stop, cpr, r, &mut audit).await,
        }
        audit
    };
    match lock::under_lock(aws, &cluster, m.cluster.spec.state_store.as_deref(), &req.command, req.commit.as_deref(), req.lock_timeout, &cp, &interrupted, work).await {
        Err(e) => report.failed = Some(e),
        Ok(errors) => {
            for e in errors {
                report.failed.get_or_insert(e);
            }
        }
    }
    cp.finish(&format!("{} reclaimed", report.reclaimed.len()));
    report
}

/// Drain and terminate each instance of `plan`, in order; the first failure stops the run.
#[allow(clippy::too_many_arguments)]
async fn reclaim_each(
    aws: &Aws,
    req: &ReclaimRequest<'_>,
    plan: &ReclaimPlan,
    drain: Option<&crate::core::model::Hook>,
    interrupted: &AtomicBool,
    cp: &crate::executor::progress::ClusterProgress,
    report: &mut ReclaimReport,
    audit: &mut Audit,
) {
    let m = req.manifest;
    let cluster = m.name();
    report.left = plan.left.clone();
    let region = &m.cluster.spec.region;
    let asg = aws.autoscaling(region);
    let not_reached = |from: usize, why: &str| plan.reclaim[from..].iter().map(|r| format!("{} of {}: not reached ({why})", r.instance_id, r.group)).collect::<Vec<_>>();
    for (n, r) in plan.reclaim.iter().enumerate() {
        if interrupted.load(Ordering::SeqCst) {
            report.interrupted = true;
            audit.interrupted = true;
            report.left.extend(not_reached(n, "interrupted"));
            return;
        }
        if let (Some(h), false) = (drain, req.skip_drain) {
            cp.start(&format!("draining {} ({}) of {}", r.instance_id, r.node, r.group));
            let env = HookEnv { cluster, group: &r.group, instance_id: &r.instance_id, node: &r.node };
            if let Err(e) = hooks::run(h, &req.root, &env).await {
                let why = format!("drain hook failed for {} (node {}) of {}: {e}; the instance was left running", r.instance_id, r.node, r.group);
                audit.failed.push(why.clone());
                report.failed = Some(why);
                report.left.extend(not_reached(n, "stopped at the failure"));
                return;
            }
        }
        if let Err(e) = autoscaling::terminate_instance(&asg, region, &r.instance_id, true).await {
            let why = e.to_string();
            audit.failed.push(why.clone());
            report.failed = Some(why);
            report.left.extend(not_reached(n, "stopped at the failure"));
            return;
        }
        cp.done(&format!("reclaimed {} of {} (launched {} ago): the autoscaler brings its capacity back on the spot groups of pool {}", r.instance_id, r.group, r.age, r.pool));
        audit.deleted.push(format!("instance {} of {} (on-demand, {} old; back to spot)", r.instance_id, r.group, r.age));
        report.reclaimed.push(r.clone());
    }
}
