//! The rolling update: replace out-of-date instances group by group, batch by batch, with surge,
//! drain and health gates.
//!
//! Per batch: grow the group by the surge (raising its max when needed), wait until the new
//! instances are InService and Healthy, run the drain hook on each old instance and terminate
//! it — the surged ones shrinking the group back, the others replaced — then pass the health
//! gate (all instances InService and Healthy at the desired count, EC2 status checks ok, the
//! validate hook passing `validateCount` times in a row) within `validationTimeout`. A launch
//! that fails (a Failed scaling activity: InsufficientInstanceCapacity, a quota, a bad template)
//! ends the wait at once with its reason instead of waiting out the timeout.
//!
//! Kill-safety: before a group's sizes are raised, its declared sizes are written in a tag on
//! the group (`fleetform.io/rolling-update` = `min,max,desired`). A run that finds the tag (a
//! killed run) restores those sizes first and goes on from what AWS holds: instances already
//! replaced are up to date and are not in the schedule any more.
//!
//! While a group rolls, its AZRebalance is suspended (unless declared so already): after our
//! decremented terminations Auto Scaling would otherwise even out the zones by terminating
//! instances of its choosing — possibly old ones not yet drained. A group with a schedule also
//! has its ScheduledActions held (a 20:00 down mid-surge would be undone by our restore); at the
//! end it is put where its schedule says then. What the roll suspended is recorded in a second
//! tag (`fleetform.io/rolling-update-suspended`) before it is suspended, and given back at the
//! end of the group (or by the next run, if this one was killed).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::json;

use super::hooks::{self, HookEnv};
use super::progress::{ClusterProgress, Progress};
use crate::aws::{autoscaling, ec2, Aws};
use crate::core::desired::DesiredCluster;
use crate::core::duration;
use crate::core::resources::{GroupSizes, TAG_ROLLING, TAG_ROLLING_SUSPENDED};
use crate::core::rolling::GroupRoll;


/// JSON-lines events on stdout (`--output json`), one object per line.
#[derive(Clone)]
pub struct Events {
    pub enabled: bool,
}

impl Events {
    pub fn emit(&self, v: serde_json::Value) {
        if self.enabled {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{v}");
            let _ = out.flush();
        }
    }
}

pub struct RollOptions {
    pub root: PathBuf,
    pub poll: Duration,
    pub interrupted: Arc<AtomicBool>,
    pub events: Events,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollReport {
    pub cluster: String,
    pub replaced: Vec<String>,
    pub groups_done: Vec<String>,
    /// What failed: the gate or the step, and why.
    pub failed: Option<String>,
    /// What was left as it was.
    pub left_as_is: Vec<String>,
    pub interrupted: bool,
}

impl RollReport {
    pub fn ok(&self) -> bool {
        self.failed.is_none() && !self.interrupted
    }
}

struct Ctx<'a> {
    aws: &'a Aws,
    d: &'a DesiredCluster,
    opts: &'a RollOptions,
    progress: ClusterProgress,
    timeout: Duration,
    count: u32,
    interval: Duration,
}

type Sizes = GroupSizes;

fn sizes_of(g: &aws_sdk_autoscaling::types::AutoScalingGroup) -> Sizes {
    Sizes { min: g.min_size().unwrap_or(0), max: g.max_size().unwrap_or(0), desired: g.desired_capacity().unwrap_or(0) }
}

enum Stop {
    Failed(String),
    Interrupted,
}

impl From<crate::aws::AwsError> for Stop {
    fn from(e: crate::aws::AwsError) -> Stop {
        Stop::Failed(e.to_string())
    }
}

pub async fn roll_cluster(aws: &Aws, d: &DesiredCluster, groups: &[GroupRoll], opts: &RollOptions, progress: &Progress) -> RollReport {
    let v = &d.validation;
    let timeout = v.validation_timeout.as_deref().and_then(|t| duration::parse(t).ok()).unwrap_or(Duration::from_secs(900));
    let count = v.validate_count.unwrap_or(2).max(1);
    let interval = v.interval.as_deref().and_then(|t| duration::parse(t).ok()).unwrap_or(Duration::from_secs(10));
    let mut report = RollReport { cluster: d.name.clone(), ..Default::default() };
    for (gi, g) in groups.iter().enumerate() {
        // A progress bar per group on a terminal; timestamped lines otherwise.
        let ctx = Ctx { aws, d, opts, progress: progress.cluster(&d.name, g.instances()), timeout, count, interval };
        let ctx = &ctx;
        opts.events.emit(json!({"event": "group-start", "cluster": d.name, "group": g.name, "instances": g.instances(), "batches": g.batches.len(), "maxSurge": g.max_surge, "maxUnavailable": g.max_unavailable}));
        let result = roll_group(ctx, g, &mut report).await;
        ctx.progress.finish(&format!("{}: {}", g.name, if result.is_ok() { "rolled" } else { "stopped" }));
        match result {
            Ok(()) => {
                report.groups_done.push(g.name.clone());
                opts.events.emit(json!({"event": "group-done", "cluster": d.name, "group": g.name}));
            }
            Err(stop) => {
                for later in &groups[gi + 1..] {
                    report.left_as_is.push(format!("group {} not started ({} instance(s) out of date)", later.name, later.instances()));
                }
                match stop {
                    Stop::Failed(e) => {
                        opts.events.emit(json!({"event": "failed", "cluster": d.name, "group": g.name, "error": e}));
                        report.failed = Some(e);
                    }
                    Stop::Interrupted => report.interrupted = true,
                }
                return report;
            }
        }
    }
    report
}

async fn roll_group(ctx: &Ctx<'_>, g: &GroupRoll, report: &mut RollReport) -> Result<(), Stop> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    let name = g.name.as_str();
    let group = autoscaling::describe_group(&asg, region, name).await.map_err(Stop::from)?.ok_or_else(|| Stop::Failed(format!("group {name} does not exist")))?;
    // Held for the whole roll of the group, recorded (with what a killed run still holds) before
    // they are suspended: AZRebalance (after each of our decremented terminations it would even
    // out the zones by terminating instances of its choosing — old, undrained ones) and, for a
    // group with a schedule, ScheduledActions (a 20:00 down landing mid-surge would be undone by
    // our restore; a 07:30 up would reset the desired capacity under us). A killed run's hold is
    // kept through the recovery below, not given back and taken again.
    let held = held_processes(&group);
    let suspended: Vec<&str> = group.suspended_processes().iter().filter_map(|p| p.process_name()).collect();
    let schedule = ctx.d.groups.get(name).and_then(|x| x.schedule.as_ref());
    let mut hold: Vec<String> = held.clone();
    for (p, wanted) in [("AZRebalance", g.max_surge > 0), ("ScheduledActions", schedule.is_some())] {
        if wanted && !hold.iter().any(|h| h == p) && !suspended.contains(&p) {
            hold.push(p.to_string());
        }
    }
    if !hold.is_empty() {
        autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING_SUSPENDED, Some(&hold.join(","))).await.map_err(Stop::from)?;
        let h: Vec<&str> = hold.iter().map(String::as_str).collect();
        autoscaling::suspend_processes(&asg, region, name, &h).await.map_err(Stop::from)?;
    }
    // A killed run may have left the group raised: restore its declared sizes first.
    if let Some(orig) = autoscaling::tag(&group, TAG_ROLLING).and_then(GroupSizes::parse) {
        ctx.progress.start(&format!("{name}: restoring sizes left raised by an interrupted run ({}/{}/{})", orig.min, orig.max, orig.desired));
        // Remove the surplus ourselves, choosing up-to-date instances: left to the group, its
        // termination policy could take an old instance that was never drained.
        let outdated: BTreeSet<&str> = g.batches.iter().flatten().map(|r| r.instance_id.as_str()).collect();
        let extra = (sizes_of(&group).desired - orig.desired).max(0) as usize;
        let spare: Vec<String> = group
            .instances()
            .iter()
            .filter_map(|i| i.instance_id())
            .filter(|id| !outdated.contains(id))
            .take(extra)
            .map(str::to_string)
            .collect();
        restore(ctx, name, orig, &spare).await.map_err(Stop::from)?;
        wait_group(ctx, name, orig.desired, &spare.iter().cloned().collect(), SystemTime::now(), "the restored group to settle").await?;
    }
    let result = roll_batches(ctx, g, report).await;
    if hold.is_empty() {
        return result;
    }
    // While the group is still raised (a batch's restore failed), the hold stays with it: the
    // next run restores the sizes, then gives the processes back.
    let now_group = autoscaling::describe_group(&asg, region, name).await.map_err(Stop::from)?.ok_or_else(|| Stop::Failed(format!("group {name} disappeared")))?;
    if autoscaling::tag(&now_group, TAG_ROLLING).is_some() {
        return result;
    }
    // Scheduled actions whose time passed while they were held did not run (AWS skips them):
    // still holding them, the group is put where its schedule says now, from its real sizes.
    if let (Some(s), true) = (schedule, hold.iter().any(|h| h == "ScheduledActions")) {
        let want = s.up_at(crate::aws::read::now());
        let max = now_group.max_size().unwrap_or(0);
        let set = match (want, max > 0) {
            (false, true) => Some((0, 0, 0)),
            (true, false) => Some((s.declared_min, s.declared_max, s.declared_min)),
            _ => None,
        };
        if let Some((min, max, desired)) = set {
            if let Err(e) = autoscaling::set_sizes(&asg, region, name, min, max, desired).await {
                return Err(result.err().unwrap_or(Stop::Failed(format!("{e}; {} of {name} stay suspended until the next run (tag {TAG_ROLLING_SUSPENDED})", hold.join(", ")))));
            }
            ctx.progress.note(&format!("{name}: its schedule has it {} now (its scheduled actions were held during the roll): set to {min}/{max}/{desired}", if want { "up" } else { "at zero" }));
        }
    }
    let given_back = async {
        autoscaling::resume_processes(&asg, region, name, &hold).await?;
        autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING_SUSPENDED, None).await
    }
    .await;
    match (result, given_back) {
        (Err(stop), _) => Err(stop),
        (Ok(()), Err(e)) => Err(Stop::Failed(format!("{e}; {} of {name} stay suspended until the next run or apply gives them back (tag {TAG_ROLLING_SUSPENDED})", hold.join(", ")))),
        (Ok(()), Ok(())) => Ok(()),
    }
}

async fn roll_batches(ctx: &Ctx<'_>, g: &GroupRoll, report: &mut RollReport) -> Result<(), Stop> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    let name = g.name.as_str();
    for (bi, batch) in g.batches.iter().enumerate() {
        if ctx.opts.interrupted.load(Ordering::SeqCst) {
            report.left_as_is.push(format!("group {name}: batches {}..{} not started", bi + 1, g.batches.len()));
            return Err(Stop::Interrupted);
        }
        let group = autoscaling::describe_group(&asg, region, name).await.map_err(Stop::from)?.ok_or_else(|| Stop::Failed(format!("group {name} disappeared")))?;
        let members: BTreeSet<&str> = group.instances().iter().filter_map(|i| i.instance_id()).collect();
        let present: Vec<_> = batch.iter().filter(|r| members.contains(r.instance_id.as_str())).collect();
        if present.is_empty() {
            continue;
        }
        let orig = sizes_of(&group);
        let surge = (g.max_surge as usize).min(present.len()) as i32;
        let started = SystemTime::now();
        let label = format!("{name} batch {}/{}", bi + 1, g.batches.len());
        ctx.opts.events.emit(json!({"event": "batch-start", "cluster": ctx.d.name, "group": name, "batch": bi + 1, "instances": present.iter().map(|r| &r.instance_id).collect::<Vec<_>>()}));
        let mut surged = Vec::new();
        let result = run_batch(ctx, g, &label, &present, orig, surge, started, report, &mut surged).await;
        if surge > 0 {
            // Whatever happened, the group gets its declared sizes back; surged instances not
            // yet balanced by a termination are removed by us, so that no undrained old
            // instance is picked by the group's termination policy.
            if let Err(e) = restore(ctx, name, orig, &surged).await {
                return Err(Stop::Failed(format!("{e}; the group keeps raised sizes, the next run restores them (tag {TAG_ROLLING})")));
            }
        }
        let left = |report: &mut RollReport| {
            let rest: usize = g.batches[bi + 1..].iter().map(Vec::len).sum();
            if rest > 0 {
                report.left_as_is.push(format!("group {name}: {} later batch(es), {rest} instance(s), not started", g.batches.len() - bi - 1));
            }
        };
        if let Err(stop) = result {
            left(report);
            return Err(stop);
        }
        if let Err(stop) = gate(ctx, name, orig.desired, started, &label).await {
            left(report);
            return Err(stop);
        }
        ctx.opts.events.emit(json!({"event": "batch-done", "cluster": ctx.d.name, "group": name, "batch": bi + 1}));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run_batch(
    ctx: &Ctx<'_>,
    g: &GroupRoll,
    label: &str,
    present: &[&crate::core::plan::Replacement],
    orig: Sizes,
    surge: i32,
    started: SystemTime,
    report: &mut RollReport,
    surged: &mut Vec<String>,
) -> Result<(), Stop> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    let name = g.name.as_str();
    if surge > 0 {
        let raised = orig.desired + surge;
        let before: BTreeSet<String> = member_ids(ctx, name).await?;
        autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING, Some(&orig.to_string())).await.map_err(Stop::from)?;
        ctx.progress.start(&format!("{label}: surge to {raised} instances"));
        autoscaling::set_sizes(&asg, region, name, orig.min, orig.max.max(raised), raised).await.map_err(Stop::from)?;
        let waited = wait_group(ctx, name, raised, &BTreeSet::new(), started, &format!("{surge} new instance(s) of {name}")).await;
        surged.extend(member_ids(ctx, name).await?.into_iter().filter(|id| !before.contains(id)));
        waited?;
    }
    let ids: Vec<String> = present.iter().map(|r| r.instance_id.clone()).collect();
    let nodes = node_names(ctx, &ids).await;
    let mut gone = BTreeSet::new();
    for (i, r) in present.iter().enumerate() {
        if ctx.opts.interrupted.load(Ordering::SeqCst) {
            return Err(Stop::Interrupted);
        }
        let node = nodes.iter().find(|(id, _)| *id == r.instance_id).map(|(_, n)| n.clone()).unwrap_or_default();
        if let Some(h) = &ctx.d.hooks.drain {
            ctx.progress.start(&format!("{label}: draining {} ({node})", r.instance_id));
            let env = HookEnv { cluster: &ctx.d.name, group: name, instance_id: &r.instance_id, node: &node };
            hooks::run(h, &ctx.opts.root, &env).await.map_err(|e| {
                Stop::Failed(format!("drain hook failed for {} (node {node}) of {name}: {e}; the instance was left running", r.instance_id))
            })?;
            ctx.opts.events.emit(json!({"event": "drained", "cluster": ctx.d.name, "group": name, "instanceId": r.instance_id, "node": node}));
        }
        let decrement = (i as i32) < surge;
        autoscaling::terminate_instance(&asg, region, &r.instance_id, decrement).await.map_err(Stop::from)?;
        if decrement {
            // This termination balances one surged instance: it stays.
            surged.pop();
        }
        ctx.opts.events.emit(json!({"event": "terminated", "cluster": ctx.d.name, "group": name, "instanceId": r.instance_id, "why": r.reasons}));
        ctx.progress.done(&format!("{label}: replaced {} ({})", r.instance_id, r.reasons.join("; ")));
        report.replaced.push(r.instance_id.clone());
        gone.insert(r.instance_id.clone());
    }
    wait_group(ctx, name, orig.desired, &gone, started, &format!("{name} to replace the batch")).await
}

/// Private DNS names (the Kubernetes node names on AWS) of instances.
async fn node_names(ctx: &Ctx<'_>, ids: &[String]) -> Vec<(String, String)> {
    let c = ctx.aws.ec2(&ctx.d.region);
    match c.describe_instances().set_instance_ids(Some(ids.to_vec())).send().await {
        Ok(r) => r
            .reservations()
            .iter()
            .flat_map(|x| x.instances())
            .filter_map(|i| Some((i.instance_id()?.to_string(), i.private_dns_name().unwrap_or_default().to_string())))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Give the group its declared sizes back: first remove `surplus` (instances we choose, with
/// the desired count going down with them), then set min/max/desired and drop the sizes' tag.
async fn restore(ctx: &Ctx<'_>, name: &str, orig: Sizes, surplus: &[String]) -> Result<(), crate::aws::AwsError> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    for id in surplus {
        autoscaling::terminate_instance(&asg, region, id, true).await?;
    }
    autoscaling::set_sizes(&asg, region, name, orig.min, orig.max, orig.desired).await?;
    autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING, None).await
}

/// The processes a roll holds suspended, as its tag records them.
fn held_processes(g: &aws_sdk_autoscaling::types::AutoScalingGroup) -> Vec<String> {
    autoscaling::tag(g, TAG_ROLLING_SUSPENDED).map(crate::core::resources::held_processes).unwrap_or_default()
}

async fn member_ids(ctx: &Ctx<'_>, name: &str) -> Result<BTreeSet<String>, Stop> {
    let asg = ctx.aws.autoscaling(&ctx.d.region);
    let g = autoscaling::describe_group(&asg, &ctx.d.region, name).await.map_err(Stop::from)?;
    Ok(g.iter().flat_map(|g| g.instances()).filter_map(|i| i.instance_id().map(str::to_string)).collect())
}

/// Wait until the group has `target` instances InService and Healthy and none of `gone` is a
/// member any more. A failed scaling activity since `since` ends the wait at once.
async fn wait_group(ctx: &Ctx<'_>, name: &str, target: i32, gone: &BTreeSet<String>, since: SystemTime, what: &str) -> Result<(), Stop> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    let start = Instant::now();
    loop {
        let g = autoscaling::describe_group(&asg, region, name).await.map_err(Stop::from)?.ok_or_else(|| Stop::Failed(format!("group {name} disappeared")))?;
        let healthy = g
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService") && i.health_status() == Some("Healthy"))
            .filter(|i| !gone.contains(i.instance_id().unwrap_or_default()))
            .count() as i32;
        let lingering = g.instances().iter().any(|i| gone.contains(i.instance_id().unwrap_or_default()));
        if healthy >= target && !lingering {
            return Ok(());
        }
        let failed = autoscaling::failed_activities_since(&asg, region, name, since).await.map_err(Stop::from)?;
        if let Some(f) = failed.first() {
            return Err(Stop::Failed(format!("waiting for {what}: a launch failed: {f}")));
        }
        if start.elapsed() >= ctx.timeout {
            return Err(Stop::Failed(format!(
                "waiting for {what}: {healthy} of {target} instances InService and Healthy after {}s (validationTimeout)",
                ctx.timeout.as_secs()
            )));
        }
        if ctx.opts.interrupted.load(Ordering::SeqCst) {
            return Err(Stop::Interrupted);
        }
        tokio::time::sleep(ctx.opts.poll).await;
    }
}

/// The health gate after a batch.
async fn gate(ctx: &Ctx<'_>, name: &str, desired: i32, since: SystemTime, label: &str) -> Result<(), Stop> {
    let fail = |which: &str, e: String| Stop::Failed(format!("health gate failed after {label}: {which}: {e}"));
    wait_group(ctx, name, desired, &BTreeSet::new(), since, "the group at its desired capacity").await.map_err(|s| match s {
        Stop::Failed(e) => fail("group capacity", e),
        i => i,
    })?;
    let start = Instant::now();
    // EC2 status checks of every member.
    loop {
        let asg = ctx.aws.autoscaling(&ctx.d.region);
        let g = autoscaling::describe_group(&asg, &ctx.d.region, name).await.map_err(Stop::from)?;
        let ids: Vec<String> = g.iter().flat_map(|g| g.instances()).filter_map(|i| i.instance_id().map(str::to_string)).collect();
        let checks = ec2::status_checks(&ctx.aws.ec2(&ctx.d.region), &ctx.d.region, &ids).await.map_err(Stop::from)?;
        let bad: Vec<String> = checks.iter().filter_map(|(id, b)| b.as_ref().map(|b| format!("{id}: {b}"))).collect();
        if bad.is_empty() {
            break;
        }
        if start.elapsed() >= ctx.timeout {
            return Err(fail("EC2 status checks", bad.join("; ")));
        }
        tokio::time::sleep(ctx.opts.poll).await;
    }
    // The validate hook, `count` times in a row.
    if let Some(h) = &ctx.d.hooks.validate {
        let mut streak = 0;
        let mut last_error = String::new();
        loop {
            let env = HookEnv { cluster: &ctx.d.name, group: name, instance_id: "", node: "" };
            match hooks::run(h, &ctx.opts.root, &env).await {
                Ok(()) => {
                    streak += 1;
                    ctx.progress.start(&format!("{label}: validate hook passed {streak}/{}", ctx.count));
                }
                Err(e) => {
                    streak = 0;
                    if start.elapsed() >= ctx.timeout {
                        return Err(fail("validate hook", e));
                    }
                    if e != last_error {
                        ctx.progress.note(&format!("{label}: validate hook failed, retrying until validationTimeout: {e}"));
                        last_error = e;
                    }
                    // A failing hook is not retried faster than AWS is polled.
                    tokio::time::sleep(ctx.interval.max(ctx.opts.poll)).await;
                    continue;
                }
            }
            if streak >= ctx.count {
                break;
            }
            if start.elapsed() >= ctx.timeout {
                return Err(fail("validate hook", format!("passed only {streak} time(s) in a row of {} within {}s", ctx.count, ctx.timeout.as_secs())));
            }
            if ctx.opts.interrupted.load(Ordering::SeqCst) {
                return Err(Stop::Interrupted);
            }
            tokio::time::sleep(ctx.interval).await;
        }
    }
    ctx.progress.note(&format!("{label}: health gate passed"));
    Ok(())
}
