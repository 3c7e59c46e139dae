//! The rolling update: replace out-of-date instances batch by batch, with surge, drain and
//! health gates; the control-plane and critical groups one at a time, then the other groups
//! side by side under the cluster's disruption budget.
//!
//! Side by side: at most `maxConcurrentGroups` groups roll at once (default 4) and at most
//! `clusterMaxUnavailable` instances across them are out of service at once (default 10% of
//! their instances, at least 1): a batch takes its instances from that budget before its
//! surge, and gives them back once its health gate passed. Inside a group, its own maxSurge and
//! maxUnavailable hold as before. A group that fails stops every group from starting a new
//! batch; batches in flight finish (sizes restored, gate run), and the report says per group
//! what was replaced and what was left.
//!
//! Reads: the groups waiting on their instances poll at the cluster's ticks (every poll
//! interval) and share one DescribeAutoScalingGroups per tick ([`Reads`]); what a step just
//! read is what the next step uses (no re-read), and a failed launch is looked for only while
//! a group has fewer instances than it asked for.
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

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_autoscaling::types::AutoScalingGroup;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;

use super::hooks::{self, HookEnv};
use super::progress::{ClusterProgress, Progress};
use crate::aws::{autoscaling, ec2, Aws, AwsError, AwsErrorKind};
use crate::core::desired::DesiredCluster;
use crate::core::duration;
use crate::core::model::{IntOrPercent, Role};
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
    /// The command line's say over the cluster's maxConcurrentGroups and clusterMaxUnavailable.
    pub max_groups: Option<u32>,
    pub max_unavailable: Option<u32>,
}

/// Groups rolled side by side when the cluster does not say.
pub const DEFAULT_CONCURRENT_GROUPS: u32 = 4;
/// Instances out of service at once across them when the cluster does not say.
pub const DEFAULT_CLUSTER_MAX_UNAVAILABLE: IntOrPercent = IntOrPercent::Percent(10);

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

/// What one group's roll did.
#[derive(Debug, Default)]
struct GroupReport {
    replaced: Vec<String>,
    left_as_is: Vec<String>,
}

/// The cluster's roll, shared by its groups in flight.
struct Run<'a> {
    aws: &'a Aws,
    d: &'a DesiredCluster,
    opts: &'a RollOptions,
    timeout: Duration,
    count: u32,
    interval: Duration,
    /// Set when a group failed: no group starts another batch.
    stop: AtomicBool,
    /// Instances out of service at once across the cluster.
    budget: Semaphore,
    max_unavailable: usize,
    reads: Reads,
}

struct Ctx<'a> {
    run: &'a Run<'a>,
    progress: ClusterProgress,
}

impl Run<'_> {
    /// A failure stops every group from starting another batch: said before this batch gives
    /// its budget back, so that no batch waiting for it starts.
    fn halt(&self, stop: Stop) -> Stop {
        if matches!(stop, Stop::Failed(_)) {
            self.stop.store(true, Ordering::SeqCst);
        }
        stop
    }
}

impl<'a> std::ops::Deref for Ctx<'a> {
    type Target = Run<'a>;
    fn deref(&self) -> &Run<'a> {
        self.run
    }
}

type Sizes = GroupSizes;

fn sizes_of(g: &AutoScalingGroup) -> Sizes {
    Sizes { min: g.min_size().unwrap_or(0), max: g.max_size().unwrap_or(0), desired: g.desired_capacity().unwrap_or(0) }
}

fn members(g: &AutoScalingGroup) -> BTreeSet<String> {
    g.instances().iter().filter_map(|i| i.instance_id().map(str::to_string)).collect()
}

enum Stop {
    Failed(String),
    Interrupted,
    /// Another group failed: this one started no new batch.
    Halted,
}

impl From<AwsError> for Stop {
    fn from(e: AwsError) -> Stop {
        Stop::Failed(e.to_string())
    }
}

/// Describes of the groups rolling at once, shared: every group polling at one tick of the
/// cluster's clock joins one DescribeAutoScalingGroups (50 names a request) instead of sending
/// its own. A read is joined only when it was sent after what the caller needs it to show (its
/// own last change, and the tick it polls at); otherwise a new one is sent for all the groups
/// in flight. With other groups in flight, a new read waits [`GATHER`] before it is sent, and
/// groups that need one meanwhile join it: groups rolling side by side reach each step of
/// their batches together (their terminations done, their gates passed) and would otherwise
/// send as many reads of the same groups within a few milliseconds.
struct Reads {
    asg: aws_sdk_autoscaling::Client,
    region: String,
    poll: Duration,
    start: Instant,
    in_flight: Mutex<BTreeSet<String>>,
    last: Mutex<Option<Round>>,
}

type Answer = Result<Arc<BTreeMap<String, AutoScalingGroup>>, AwsError>;

/// How long a shared read waits for other groups to join it (see [`Reads`]): a few
/// milliseconds, against a round trip of tens.
const GATHER: Duration = Duration::from_millis(15);

struct Round {
    sent: Instant,
    names: BTreeSet<String>,
    answer: Shared<BoxFuture<'static, Answer>>,
}

impl Reads {
    fn new(aws: &Aws, region: &str, poll: Duration) -> Reads {
        Reads { asg: aws.autoscaling(region), region: region.to_string(), poll, start: Instant::now(), in_flight: Mutex::new(BTreeSet::new()), last: Mutex::new(None) }
    }

    /// The group as AWS shows it after `after`.
    async fn group(&self, name: &str, after: Instant) -> Result<Option<AutoScalingGroup>, AwsError> {
        let answer = {
            let mut last = self.last.lock().expect("not poisoned");
            match last.as_ref().filter(|r| r.sent >= after && r.names.contains(name)) {
                Some(r) => r.answer.clone(),
                None => {
                    let mut names = self.in_flight.lock().expect("not poisoned").clone();
                    names.insert(name.to_string());
                    let gather = if names.len() > 1 { GATHER } else { Duration::ZERO };
                    // Sent no earlier than this: every caller that asks by then may join.
                    let sent = Instant::now() + gather;
                    let (asg, region, list) = (self.asg.clone(), self.region.clone(), names.iter().cloned().collect::<Vec<_>>());
                    let answer = async move {
                        tokio::time::sleep_until(sent.into()).await;
                        let groups = autoscaling::groups_named(&asg, &region, &list).await?;
                        Ok(Arc::new(groups.into_iter().filter_map(|g| Some((g.auto_scaling_group_name()?.to_string(), g))).collect()))
                    }
                    .boxed()
                    .shared();
                    *last = Some(Round { sent, names, answer: answer.clone() });
                    answer
                }
            }
        };
        Ok(answer.await?.get(name).cloned())
    }

    /// Sleep until the cluster's next tick; returns it.
    async fn tick(&self) -> Instant {
        let poll = self.poll.max(Duration::from_millis(1));
        let n = self.start.elapsed().as_nanos() / poll.as_nanos() + 1;
        let at = self.start + poll * n as u32;
        tokio::time::sleep_until(at.into()).await;
        at
    }
}

fn is_serial(g: &GroupRoll) -> bool {
    matches!(g.role, Role::ControlPlane | Role::APIServer) || g.critical
}

/// Groups at once and instances out of service at once for the groups that roll side by side.
fn budget(d: &DesiredCluster, side: &[GroupRoll], opts: &RollOptions) -> (usize, usize) {
    let groups = opts.max_groups.or(d.max_concurrent_groups).unwrap_or(DEFAULT_CONCURRENT_GROUPS).max(1) as usize;
    let total: i64 = side.iter().map(|g| g.desired_capacity.max(0) as i64).sum();
    let instances = opts
        .max_unavailable
        .unwrap_or_else(|| d.cluster_max_unavailable.unwrap_or(DEFAULT_CLUSTER_MAX_UNAVAILABLE).resolve(total.min(u32::MAX as i64) as u32, false))
        .max(1) as usize;
    (groups, instances)
}

pub async fn roll_cluster(aws: &Aws, d: &DesiredCluster, groups: &[GroupRoll], opts: &RollOptions, progress: &Progress) -> RollReport {
    let v = &d.validation;
    let side_from = groups.iter().position(|g| !is_serial(g)).unwrap_or(groups.len());
    let (max_groups, max_unavailable) = budget(d, &groups[side_from..], opts);
    let run = Run {
        aws,
        d,
        opts,
        timeout: v.validation_timeout.as_deref().and_then(|t| duration::parse(t).ok()).unwrap_or(Duration::from_secs(900)),
        count: v.validate_count.unwrap_or(2).max(1),
        interval: v.interval.as_deref().and_then(|t| duration::parse(t).ok()).unwrap_or(Duration::from_secs(10)),
        stop: AtomicBool::new(false),
        budget: Semaphore::new(max_unavailable),
        max_unavailable,
        reads: Reads::new(aws, &d.region, opts.poll),
    };
    let mut outcomes: Vec<Option<Outcome>> = groups.iter().map(|_| None).collect();
    // The control-plane and critical groups, one at a time.
    for (i, g) in groups[..side_from].iter().enumerate() {
        outcomes[i] = roll_one(&run, g, progress).await;
        if run.stop.load(Ordering::SeqCst) || opts.interrupted.load(Ordering::SeqCst) {
            break;
        }
    }
    // The others side by side, in the schedule's order as places free up.
    if side_from < groups.len() && !run.stop.load(Ordering::SeqCst) && !opts.interrupted.load(Ordering::SeqCst) {
        if groups.len() - side_from > 1 && max_groups > 1 {
            progress.cluster(&d.name, 0).note(&format!(
                "{} groups roll side by side: at most {max_groups} at once, at most {max_unavailable} instance(s) out of service at once",
                groups.len() - side_from
            ));
        }
        let run = &run;
        let done: Vec<(usize, Option<Outcome>)> = futures::stream::iter(groups.iter().enumerate().skip(side_from))
            .map(|(i, g)| async move { (i, roll_one(run, g, progress).await) })
            .buffer_unordered(max_groups)
            .collect()
            .await;
        for (i, o) in done {
            outcomes[i] = o;
        }
    }
    // Reported in the schedule's order, whatever order the groups finished in.
    let mut report = RollReport { cluster: d.name.clone(), ..Default::default() };
    let mut failures = Vec::new();
    for (g, o) in groups.iter().zip(outcomes) {
        match o {
            None => report.left_as_is.push(format!("group {} not started ({} instance(s) out of date)", g.name, g.instances())),
            Some((r, result)) => {
                report.replaced.extend(r.replaced);
                report.left_as_is.extend(r.left_as_is);
                match result {
                    Ok(()) => report.groups_done.push(g.name.clone()),
                    Err(Stop::Failed(e)) => failures.push((g.name.clone(), e)),
                    Err(Stop::Interrupted) => report.interrupted = true,
                    Err(Stop::Halted) => {}
                }
            }
        }
    }
    // An interrupt that left groups not started is an interrupted roll, whoever noticed it.
    if opts.interrupted.load(Ordering::SeqCst) && !report.left_as_is.is_empty() {
        report.interrupted = true;
    }
    report.failed = match failures.len() {
        0 => None,
        1 => failures.pop().map(|(_, e)| e),
        n => Some(format!("{n} groups failed:{}", failures.iter().map(|(g, e)| format!("\n    {g}: {e}")).collect::<String>())),
    };
    report
}

/// What one group's roll did, and how it ended.
type Outcome = (GroupReport, Result<(), Stop>);

/// Roll one group; `None` when it was not started (a group failed, or an interrupt came first).
async fn roll_one(run: &Run<'_>, g: &GroupRoll, progress: &Progress) -> Option<Outcome> {
    if run.stop.load(Ordering::SeqCst) || run.opts.interrupted.load(Ordering::SeqCst) {
        return None;
    }
    let d = run.d;
    // A progress bar per group on a terminal; timestamped lines otherwise.
    let ctx = Ctx { run, progress: progress.cluster(&d.name, g.instances()) };
    run.opts.events.emit(json!({"event": "group-start", "cluster": d.name, "group": g.name, "instances": g.instances(), "batches": g.batches.len(), "maxSurge": g.max_surge, "maxUnavailable": g.max_unavailable}));
    run.reads.in_flight.lock().expect("not poisoned").insert(g.name.clone());
    let mut report = GroupReport::default();
    let result = roll_group(&ctx, g, &mut report).await;
    run.reads.in_flight.lock().expect("not poisoned").remove(&g.name);
    ctx.progress.finish(&format!("{}: {}", g.name, if result.is_ok() { "rolled" } else { "stopped" }));
    match &result {
        Ok(()) => run.opts.events.emit(json!({"event": "group-done", "cluster": d.name, "group": g.name})),
        Err(Stop::Failed(e)) => {
            run.stop.store(true, Ordering::SeqCst);
            run.opts.events.emit(json!({"event": "failed", "cluster": d.name, "group": g.name, "error": e}));
        }
        Err(_) => {}
    }
    Some((report, result))
}

async fn roll_group(ctx: &Ctx<'_>, g: &GroupRoll, report: &mut GroupReport) -> Result<(), Stop> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    let name = g.name.as_str();
    let mut group = autoscaling::describe_group(&asg, region, name).await.map_err(Stop::from)?.ok_or_else(|| Stop::Failed(format!("group {name} does not exist")))?;
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
    let declared = autoscaling::tag(&group, TAG_ROLLING).and_then(GroupSizes::parse);
    if let Some(orig) = declared {
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
        group = wait_group(ctx, name, orig.desired, &spare.iter().cloned().collect(), SystemTime::now(), Instant::now(), "the restored group to settle").await?;
    }
    // The declared sizes stay in their tag for the whole roll of the group (a killed run finds
    // them there); each batch gives the sizes back, the last one the tag too.
    let result = roll_batches(ctx, g, group, false, report).await;
    let raised = match &result {
        // Every batch gave the sizes back, and the last one (or the end of the loop) dropped
        // their tag: a read taken before that (the gate's) would still show it.
        Ok(_) => false,
        Err(_) => autoscaling::describe_group(&asg, region, name).await.map_err(Stop::from)?.is_some_and(|l| sizes_of(&l) != declared_or(&l)),
    };
    let result = result.map(|_| ());
    if hold.is_empty() {
        return result;
    }
    // While the group is still raised (a batch's restore failed), the hold stays with it: the
    // next run restores the sizes, then gives the processes back.
    if raised {
        return result;
    }
    // Scheduled actions whose time passed while they were held did not run (AWS skips them):
    // still holding them, the group is put where its schedule says now, from its real sizes.
    if let (Some(s), true) = (schedule, hold.iter().any(|h| h == "ScheduledActions")) {
        let want = s.up_at(crate::aws::read::now());
        let now_group = autoscaling::describe_group(&asg, region, name).await.map_err(Stop::from)?.ok_or_else(|| Stop::Failed(format!("group {name} disappeared")))?;
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

/// The sizes a group declares: its rolling tag's when it has one, else its own.
fn declared_or(g: &AutoScalingGroup) -> Sizes {
    autoscaling::tag(g, TAG_ROLLING).and_then(GroupSizes::parse).unwrap_or_else(|| sizes_of(g))
}

/// The group's batches, from `group` as just read. Returns the group as last read (after the
/// last batch's gate), or `None` when there was no batch to run.
async fn roll_batches(ctx: &Ctx<'_>, g: &GroupRoll, mut group: AutoScalingGroup, mut tagged: bool, report: &mut GroupReport) -> Result<Option<AutoScalingGroup>, Stop> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    let name = g.name.as_str();
    let mut last = None;
    for (bi, batch) in g.batches.iter().enumerate() {
        let present: Vec<_> = {
            let m = members(&group);
            batch.iter().filter(|r| m.contains(&r.instance_id)).collect()
        };
        if present.is_empty() {
            continue;
        }
        // The cluster's disruption budget: this batch's instances are out of service until its
        // gate passes. (A group may fail, or an interrupt come, while the batch waits for it.)
        let permits = present.len().min(ctx.max_unavailable) as u32;
        let _permits = ctx.budget.acquire_many(permits).await.expect("the budget is never closed");
        // Read the group again now: the wait for the budget, and the previous gate's validate
        // hook, can be long, and the autoscaler or a spot reclaim may have moved it meanwhile.
        // Its sizes now are the ones to give back; its members now are the batch.
        group = ctx.reads.group(name, Instant::now()).await.map_err(|e| ctx.halt(Stop::from(e)))?.ok_or_else(|| ctx.halt(Stop::Failed(format!("group {name} disappeared"))))?;
        let orig = sizes_of(&group);
        let present: Vec<_> = {
            let m = members(&group);
            present.into_iter().filter(|r| m.contains(&r.instance_id)).collect()
        };
        let stopped = if ctx.opts.interrupted.load(Ordering::SeqCst) {
            Some(Stop::Interrupted)
        } else if ctx.stop.load(Ordering::SeqCst) {
            Some(Stop::Halted)
        } else {
            None
        };
        if let Some(stop) = stopped {
            let why = if matches!(stop, Stop::Halted) { " (another group failed)" } else { "" };
            report.left_as_is.push(format!("group {name}: batches {}..{} not started{why}", bi + 1, g.batches.len()));
            if tagged {
                let _ = autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING, None).await;
            }
            return Err(stop);
        }
        if present.is_empty() {
            continue;
        }
        let surge = (g.max_surge as usize).min(present.len()) as i32;
        let started = SystemTime::now();
        let label = format!("{name} batch {}/{}", bi + 1, g.batches.len());
        ctx.opts.events.emit(json!({"event": "batch-start", "cluster": ctx.d.name, "group": name, "batch": bi + 1, "instances": present.iter().map(|r| &r.instance_id).collect::<Vec<_>>()}));
        let mut surged = Vec::new();
        let result = run_batch(ctx, g, &label, &present, &group, orig, surge, &mut tagged, started, report, &mut surged).await;
        // Whatever happened, the group gets its declared sizes back; surged instances not yet
        // balanced by a termination are removed by us, so that no undrained old instance is
        // picked by the group's termination policy. The last batch drops the sizes' tag too.
        let done = result.is_ok() && bi + 1 == g.batches.len();
        let restored = async {
            let r = async {
                if surge > 0 {
                    restore_sizes(ctx, name, orig, &surged).await?;
                    if done || result.is_err() {
                        autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING, None).await?;
                        tagged = false;
                    }
                }
                Ok::<_, AwsError>(())
            }
            .await;
            // Said at once, even while this group's gate still runs: no group starts a batch.
            r.map_err(|e| ctx.halt(Stop::Failed(format!("{e}; the group keeps raised sizes, the next run restores them (tag {TAG_ROLLING})"))))
        };
        // With no instance of ours to remove, giving the sizes back only lowers the max: the
        // health gate does not depend on it, they run side by side (a round trip less a batch),
        // and the batch's last read holds for the gate (no read again of what was just read).
        // Otherwise the gate waits for the group as the restore leaves it.
        let (restored, gated) = match &result {
            Ok(settled) if surged.is_empty() => {
                let (r, g) = tokio::join!(restored, gate(ctx, name, orig.desired, started, &label, Some(settled.clone())));
                (r, Some(g))
            }
            _ => (restored.await, None),
        };
        if let Err(stop) = restored {
            // The gate's own failure, if any, is said too.
            return Err(match (stop, gated) {
                (Stop::Failed(e), Some(Err(Stop::Failed(g)))) => Stop::Failed(format!("{e}; and {g}")),
                (stop, _) => stop,
            });
        }
        let left = |report: &mut GroupReport| {
            let rest: usize = g.batches[bi + 1..].iter().map(Vec::len).sum();
            if rest > 0 {
                report.left_as_is.push(format!("group {name}: {} later batch(es), {rest} instance(s), not started", g.batches.len() - bi - 1));
            }
        };
        if let Err(stop) = result {
            left(report);
            return Err(ctx.halt(stop));
        }
        let gated = match gated {
            Some(g) => g,
            None => gate(ctx, name, orig.desired, started, &label, None).await,
        };
        group = match gated {
            Ok(g) => g,
            Err(stop) => {
                let stop = ctx.halt(stop);
                left(report);
                if tagged {
                    let _ = autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING, None).await;
                }
                return Err(stop);
            }
        };
        ctx.opts.events.emit(json!({"event": "batch-done", "cluster": ctx.d.name, "group": name, "batch": bi + 1}));
        last = Some(group.clone());
    }
    if tagged {
        // Batches with nothing left to replace (a killed run's): the tag goes all the same.
        autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING, None).await.map_err(Stop::from)?;
        last = autoscaling::describe_group(&asg, region, name).await.map_err(Stop::from)?;
    }
    Ok(last)
}

#[allow(clippy::too_many_arguments)]
async fn run_batch(
    ctx: &Ctx<'_>,
    g: &GroupRoll,
    label: &str,
    present: &[&crate::core::plan::Replacement],
    group: &AutoScalingGroup,
    orig: Sizes,
    surge: i32,
    tagged: &mut bool,
    started: SystemTime,
    report: &mut GroupReport,
    surged: &mut Vec<String>,
) -> Result<AutoScalingGroup, Stop> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    let name = g.name.as_str();
    if surge > 0 {
        let raised = orig.desired + surge;
        let before = members(group);
        // The tag holds the sizes to give back: written before any raise, and again when the
        // group moved since it was written (the autoscaler changes desired counts all day).
        if !*tagged || autoscaling::tag(group, TAG_ROLLING).and_then(GroupSizes::parse) != Some(orig) {
            autoscaling::set_group_tag(&asg, region, name, TAG_ROLLING, Some(&orig.to_string())).await.map_err(Stop::from)?;
            *tagged = true;
        }
        ctx.progress.start(&format!("{label}: surge to {raised} instances"));
        autoscaling::set_sizes(&asg, region, name, orig.min, orig.max.max(raised), raised).await.map_err(Stop::from)?;
        let waited = wait_group(ctx, name, raised, &BTreeSet::new(), started, Instant::now(), &format!("{surge} new instance(s) of {name}")).await;
        let now = match &waited {
            Ok(g) => members(g),
            // What the group holds now, to remove what the surge added.
            Err(_) => match autoscaling::describe_group(&asg, region, name).await {
                Ok(Some(g)) => members(&g),
                _ => BTreeSet::new(),
            },
        };
        surged.extend(now.into_iter().filter(|id| !before.contains(id)));
        waited?;
    }
    let ids: Vec<String> = present.iter().map(|r| r.instance_id.clone()).collect();
    // Node names as the live read saw them; asked of EC2 only for instances it did not name.
    let unknown: Vec<String> = ids.iter().filter(|id| !g.nodes.contains_key(*id)).cloned().collect();
    let mut nodes: Vec<(String, String)> = g.nodes.iter().filter(|(id, _)| ids.contains(id)).map(|(i, n)| (i.clone(), n.clone())).collect();
    if !unknown.is_empty() {
        nodes.extend(node_names(ctx, &unknown).await);
    }
    if ctx.opts.interrupted.load(Ordering::SeqCst) {
        return Err(Stop::Interrupted);
    }
    // The batch's instances are drained and terminated side by side: the batch is the unit the
    // settings allow out of service at once. The first `surge` terminations each balance one
    // surged instance (the desired count goes down with them); the others are replaced.
    let done = futures::future::join_all(present.iter().enumerate().map(|(i, r)| {
        let asg = &asg;
        let node = nodes.iter().find(|(id, _)| *id == r.instance_id).map(|(_, n)| n.clone()).unwrap_or_default();
        async move {
            if let Some(h) = &ctx.d.hooks.drain {
                ctx.progress.start(&format!("{label}: draining {} ({node})", r.instance_id));
                let env = HookEnv { cluster: &ctx.d.name, group: name, instance_id: &r.instance_id, node: &node };
                hooks::run(h, &ctx.opts.root, &env).await.map_err(|e| {
                    Stop::Failed(format!("drain hook failed for {} (node {node}) of {name}: {e}; the instance was left running", r.instance_id))
                })?;
                ctx.opts.events.emit(json!({"event": "drained", "cluster": ctx.d.name, "group": name, "instanceId": r.instance_id, "node": node}));
            }
            let decrement = (i as i32) < surge;
            autoscaling::terminate_instance(asg, region, &r.instance_id, decrement).await.map_err(Stop::from)?;
            ctx.opts.events.emit(json!({"event": "terminated", "cluster": ctx.d.name, "group": name, "instanceId": r.instance_id, "why": r.reasons}));
            ctx.progress.done(&format!("{label}: replaced {} ({})", r.instance_id, r.reasons.join("; ")));
            Ok::<bool, Stop>(decrement)
        }
    }))
    .await;
    let mut gone = BTreeSet::new();
    let mut failed = None;
    for (r, d) in present.iter().zip(done) {
        match d {
            Ok(decremented) => {
                if decremented {
                    // This termination balances one surged instance: it stays.
                    surged.pop();
                }
                report.replaced.push(r.instance_id.clone());
                gone.insert(r.instance_id.clone());
            }
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    wait_group(ctx, name, orig.desired, &gone, started, Instant::now(), &format!("{name} to replace the batch")).await
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
/// the desired count going down with them), then set min/max/desired.
async fn restore_sizes(ctx: &Ctx<'_>, name: &str, orig: Sizes, surplus: &[String]) -> Result<(), AwsError> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    for id in surplus {
        autoscaling::terminate_instance(&asg, region, id, true).await?;
    }
    autoscaling::set_sizes(&asg, region, name, orig.min, orig.max, orig.desired).await
}

/// [`restore_sizes`], and drop the sizes' tag.
async fn restore(ctx: &Ctx<'_>, name: &str, orig: Sizes, surplus: &[String]) -> Result<(), AwsError> {
    restore_sizes(ctx, name, orig, surplus).await?;
    autoscaling::set_group_tag(&ctx.aws.autoscaling(&ctx.d.region), &ctx.d.region, name, TAG_ROLLING, None).await
}

/// The processes a roll holds suspended, as its tag records them.
fn held_processes(g: &AutoScalingGroup) -> Vec<String> {
    autoscaling::tag(g, TAG_ROLLING_SUSPENDED).map(crate::core::resources::held_processes).unwrap_or_default()
}

/// Wait until the group has `target` instances InService and Healthy and none of `gone` is a
/// member any more; returns the group as last read. Reads are the cluster's shared ones
/// (`after`: the caller's last change, which the first read must show). A failed scaling
/// activity since `since` ends the wait at once; it is looked for only while the group has
/// fewer instances than `target` (a launch that failed leaves none behind).
#[allow(clippy::too_many_arguments)]
async fn wait_group(ctx: &Ctx<'_>, name: &str, target: i32, gone: &BTreeSet<String>, since: SystemTime, after: Instant, what: &str) -> Result<AutoScalingGroup, Stop> {
    let region = ctx.d.region.as_str();
    let asg = ctx.aws.autoscaling(region);
    let start = Instant::now();
    let mut after = after;
    loop {
        // A read shared by the groups in flight that failed (throttled past the retries, the
        // endpoint briefly gone) is looked at again at the next tick, until the timeout: one
        // failed read must not stop every group that joined it.
        let g = match ctx.reads.group(name, after).await {
            Ok(g) => g,
            Err(e) if matches!(e.kind, AwsErrorKind::Throttled | AwsErrorKind::Unreachable) && start.elapsed() < ctx.timeout => {
                ctx.progress.note(&format!("{name}: reading the group failed ({e}); trying again"));
                after = ctx.reads.tick().await;
                continue;
            }
            Err(e) => return Err(Stop::from(e)),
        };
        let g = g.ok_or_else(|| Stop::Failed(format!("group {name} disappeared")))?;
        let healthy = g
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService") && i.health_status() == Some("Healthy"))
            .filter(|i| !gone.contains(i.instance_id().unwrap_or_default()))
            .count() as i32;
        let lingering = g.instances().iter().any(|i| gone.contains(i.instance_id().unwrap_or_default()));
        if healthy >= target && !lingering {
            return Ok(g);
        }
        let launched = g.instances().iter().filter(|i| !gone.contains(i.instance_id().unwrap_or_default())).count() as i32;
        if launched < target {
            let failed = autoscaling::failed_activities_since(&asg, region, name, since).await.map_err(Stop::from)?;
            if let Some(f) = failed.first() {
                return Err(Stop::Failed(format!("waiting for {what}: a launch failed: {f}")));
            }
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
        after = ctx.reads.tick().await;
    }
}

/// The health gate after a batch; returns the group as last read.
/// `settled`: the group as just read at its desired capacity, if nothing changed it since.
async fn gate(ctx: &Ctx<'_>, name: &str, desired: i32, since: SystemTime, label: &str, settled: Option<AutoScalingGroup>) -> Result<AutoScalingGroup, Stop> {
    let fail = |which: &str, e: String| Stop::Failed(format!("health gate failed after {label}: {which}: {e}"));
    let mut group = match settled {
        Some(g) => g,
        None => wait_group(ctx, name, desired, &BTreeSet::new(), since, Instant::now(), "the group at its desired capacity").await.map_err(|s| match s {
            Stop::Failed(e) => fail("group capacity", e),
            i => i,
        })?,
    };
    let start = Instant::now();
    // EC2 status checks of every member.
    loop {
        let ids: Vec<String> = members(&group).into_iter().collect();
        let checks = ec2::status_checks(&ctx.aws.ec2(&ctx.d.region), &ctx.d.region, &ids).await.map_err(Stop::from)?;
        let bad: Vec<String> = checks.iter().filter_map(|(id, b)| b.as_ref().map(|b| format!("{id}: {b}"))).collect();
        if bad.is_empty() {
            break;
        }
        if start.elapsed() >= ctx.timeout {
            return Err(fail("EC2 status checks", bad.join("; ")));
        }
        let at = ctx.reads.tick().await;
        group = ctx.reads.group(name, at).await.map_err(Stop::from)?.ok_or_else(|| Stop::Failed(format!("group {name} disappeared")))?;
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
    Ok(group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::desired::DesiredCluster;

    fn group(desired: i32) -> GroupRoll {
        GroupRoll { name: "g".into(), role: Role::Node, critical: false, desired_capacity: desired, max_surge: 1, max_unavailable: 0, batches: vec![], nodes: Default::default() }
    }

    fn opts(max_groups: Option<u32>, max_unavailable: Option<u32>) -> RollOptions {
        RollOptions { root: ".".into(), poll: Duration::from_secs(1), interrupted: Arc::new(AtomicBool::new(false)), events: Events { enabled: false }, max_groups, max_unavailable }
    }

    #[test]
    fn the_budget_comes_from_the_command_line_then_the_cluster_then_the_defaults() {
        let d = DesiredCluster::default();
        let side = vec![group(40), group(40), group(25)];
        // Defaults: 4 groups, 10% of the 105 instances rounded down.
        assert_eq!(budget(&d, &side, &opts(None, None)), (4, 10));
        // Never less than one instance, even of small groups.
        assert_eq!(budget(&d, &[group(3)], &opts(None, None)), (4, 1));
        let d = DesiredCluster { max_concurrent_groups: Some(2), cluster_max_unavailable: Some(IntOrPercent::Percent(20)), ..Default::default() };
        assert_eq!(budget(&d, &side, &opts(None, None)), (2, 21));
        let d = DesiredCluster { cluster_max_unavailable: Some(IntOrPercent::Int(3)), ..d };
        assert_eq!(budget(&d, &side, &opts(None, None)), (2, 3));
        assert_eq!(budget(&d, &side, &opts(Some(6), Some(7))), (6, 7), "the command line wins");
    }
}
