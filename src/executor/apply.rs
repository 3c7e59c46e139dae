//! Carry out one cluster's plan: its typed steps, in order, one AWS call kind per step kind.
//!
//! The executor makes no decision of its own: it matches on the steps the pure plan computed
//! (under the lock, from a fresh read) and never compares desired and live again. Between steps
//! it checks for an interrupt (Ctrl-C, SIGTERM) and stops cleanly; a failed step stops the
//! cluster and lists the rest as not done. The lock, the read, the plan and the audit record are
//! the orchestration's business (`crate::ops`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Semaphore;

use serde::Serialize;

use super::progress::ClusterProgress;
use crate::aws::cloud::Cloud;
use crate::aws::{AwsError, AwsErrorKind};
use crate::core::control_plane::{auth_mode_rank, minor};
use crate::core::live::EksCluster;
use crate::core::plan::{phases, record_writes, Action, ControlPlaneChange, Lane, Step};
use crate::core::resources::{AsgConfig, AsgTag, TAG_ROLLING};

/// What happened to one cluster.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    pub cluster: String,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    /// Deletions the plan holds that were not carried out (no --allow-delete).
    pub not_deleted: Vec<String>,
    /// The failed step, if any, with the error.
    pub failed: Option<String>,
    /// Steps not carried out because an earlier one failed or the run was interrupted.
    pub not_done: Vec<String>,
    pub interrupted: bool,
}

impl ClusterReport {
    pub fn ok(&self) -> bool {
        self.failed.is_none() && !self.interrupted
    }

    /// True when anything on AWS was changed (the audit trail must say so).
    pub fn changed_anything(&self) -> bool {
        !(self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty())
    }
}

/// AWS changes an apply has in flight at once per region and service (`--concurrency`). AWS
/// throttles each account per region and per service (EC2, Auto Scaling, Route53 …) with token
/// buckets: a burst, then a few calls a second. Sixteen at once keeps a fleet's creates inside
/// the burst, and the SDK's retries absorb throttling beyond it; lower it when other tools share
/// the account's limits.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// The changes in flight at once: `n` per region and AWS service, shared by every cluster of
/// the run (clusters of one region draw on the same limits, as they do on AWS).
pub struct Limits {
    n: usize,
    by: Mutex<BTreeMap<(String, &'static str), std::sync::Arc<Semaphore>>>,
}

impl Limits {
    pub fn new(n: usize) -> Limits {
        Limits { n: n.max(1), by: Mutex::new(BTreeMap::new()) }
    }

    fn of(&self, region: &str, service: &'static str) -> std::sync::Arc<Semaphore> {
        let region = if service == "route53" { "global" } else { region };
        self.by.lock().expect("not poisoned").entry((region.to_string(), service)).or_insert_with(|| std::sync::Arc::new(Semaphore::new(self.n))).clone()
    }
}

/// The AWS service a step changes (whose limit it draws on); none for the control plane's
/// steps, which mostly wait and go one at a time.
fn service(step: &Step) -> Option<&'static str> {
    match step.lane() {
        Lane::ControlPlane => None,
        Lane::Zone(_) => Some("route53"),
        _ => Some(match step {
            Step::CreateLaunchTemplate { .. } | Step::CreateLaunchTemplateVersion { .. } | Step::SetDefaultVersion { .. } | Step::AdoptLaunchTemplate { .. } | Step::DeleteLaunchTemplate { .. } => "ec2",
            _ => "autoscaling",
        }),
    }
}

/// What one step did, kept by its index so the report lists steps in plan order whatever
/// order they finished in.
enum Outcome {
    Done(ClusterReport),
    Failed(String),
}

/// Carry out `steps` in `region`, recording what was done in `report`. `poll`: how often a
/// control plane or add-on being changed is looked at. `limits`: AWS changes in flight at once
/// per region and service, shared by every cluster of the run.
///
/// Steps run phase by phase and, inside a phase, lane by lane at once ([`phases`]): the control
/// plane one step at a time; then a node group's template, group and scheduled actions in
/// order, the groups and the zones' record batches side by side; then the deletions. A failure or an interrupt starts no new step anywhere in the
/// cluster; steps already in flight finish and are reported, the rest are listed as not done.
/// Kill-safety is the plan's: every step is safe to be cut short, and the next plan reads what
/// was done.
#[allow(clippy::too_many_arguments)]
pub async fn run_steps<C: Cloud>(
    cloud: &C,
    region: &str,
    steps: &[Step],
    poll: Duration,
    interrupted: &AtomicBool,
    limits: &Limits,
    progress: &ClusterProgress,
    report: &mut ClusterReport,
) {
    // Versions AWS numbered otherwise than the plan predicted: name → (predicted, created).
    let renumbered: Mutex<BTreeMap<String, (i64, i64)>> = Mutex::new(BTreeMap::new());
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(steps.iter().map(|_| None).collect());
    let stop = AtomicBool::new(false);
    for phase in phases(steps) {
        let serial = phase.len() == 1 && steps[phase[0][0]].lane() == Lane::ControlPlane;
        let (stop, outcomes, renumbered) = (&stop, &outcomes, &renumbered);
        futures::future::join_all(phase.iter().map(|lane| async move {
            for &i in lane {
                if stop.load(Ordering::SeqCst) || interrupted.load(Ordering::SeqCst) {
                    return;
                }
                // Control-plane steps wait minutes for EKS and go one at a time: they hold no
                // permit (a run creating many control planes would otherwise starve the rest).
                let limit = service(&steps[i]).filter(|_| !serial).map(|s| limits.of(region, s));
                let _permit = match &limit {
                    Some(l) => Some(l.acquire().await.expect("the limit is never closed")),
                    None => None,
                };
                if stop.load(Ordering::SeqCst) || interrupted.load(Ordering::SeqCst) {
                    return;
                }
                let label = steps[i].label();
                progress.start(&label);
                let mut done = ClusterReport::default();
                let outcome = match run_step(cloud, region, &steps[i], poll, progress, renumbered, &mut done).await {
                    Ok(()) => {
                        progress.done(&format!("done: {label}"));
                        Outcome::Done(done)
                    }
                    Err(e) => {
                        progress.done(&format!("FAILED: {label}"));
                        stop.store(true, Ordering::SeqCst);
                        Outcome::Failed(e.to_string())
                    }
                };
                outcomes.lock().expect("not poisoned")[i] = Some(outcome);
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
        }))
        .await;
        if stop.load(Ordering::SeqCst) || interrupted.load(Ordering::SeqCst) {
            break;
        }
    }
    let mut failures = Vec::new();
    for (step, outcome) in steps.iter().zip(outcomes.into_inner().expect("not poisoned")) {
        match outcome {
            Some(Outcome::Done(r)) => {
                report.created.extend(r.created);
                report.updated.extend(r.updated);
                report.deleted.extend(r.deleted);
            }
            Some(Outcome::Failed(e)) => failures.push((step.label(), e)),
            None => report.not_done.push(step.label()),
        }
    }
    match failures.len() {
        0 => report.interrupted = !report.not_done.is_empty(),
        1 => report.failed = failures.pop().map(|(_, e)| e),
        // Steps in flight side by side can fail together: each says which it was.
        n => report.failed = Some(format!("{n} steps in flight together failed:{}", failures.iter().map(|(l, e)| format!("\n    failed: {l}: {e}")).collect::<String>())),
    }
}

/// A group configuration pointed at the version AWS really created.
fn renumber(cfg: &AsgConfig, renumbered: &BTreeMap<String, (i64, i64)>) -> AsgConfig {
    let mut c = cfg.clone();
    if let Some((predicted, created)) = renumbered.get(&c.launch_template) {
        if c.launch_template_version == predicted.to_string() {
            c.launch_template_version = created.to_string();
        }
    }
    c
}

/// True when the control plane already has what `change` asks for.
fn already(change: &ControlPlaneChange, now: &EksCluster) -> bool {
    match change {
        ControlPlaneChange::EndpointAccess { after, .. } => {
            let mut cidrs = now.public_cidrs.clone();
            cidrs.sort();
            now.endpoint_public == after.public && now.endpoint_private == after.private && (after.public_cidrs.is_empty() || cidrs == after.public_cidrs)
        }
        ControlPlaneChange::Logging { after, .. } => {
            let mut l = now.logging.clone();
            l.sort();
            l == *after
        }
        ControlPlaneChange::AuthenticationMode { to, .. } => auth_mode_rank(&now.authentication_mode) >= auth_mode_rank(to),
    }
}

/// Wait for the control plane to be ACTIVE, saying what it is doing meanwhile (once per change).
async fn wait_active<C: Cloud>(cloud: &C, region: &str, name: &str, poll: Duration, progress: &ClusterProgress) -> Result<EksCluster, AwsError> {
    let last = std::sync::Mutex::new(String::new());
    let tick = |status: &str, version: &str| {
        let now = format!("EKS control plane {name} is {status} (Kubernetes {version}); waiting until it is ACTIVE");
        let mut l = last.lock().expect("not poisoned");
        if *l != now {
            progress.note(&now);
            *l = now;
        }
    };
    cloud.wait_control_plane(region, name, poll, &tick).await
}

#[allow(clippy::too_many_arguments)]
async fn run_step<C: Cloud>(
    cloud: &C,
    region: &str,
    step: &Step,
    poll: Duration,
    progress: &ClusterProgress,
    renumbered: &Mutex<BTreeMap<String, (i64, i64)>>,
    report: &mut ClusterReport,
) -> Result<(), AwsError> {
    match step {
        Step::CreateControlPlane(c) => {
            cloud.create_control_plane(region, c).await?;
            wait_active(cloud, region, &c.name, poll, progress).await?;
            report.created.push(format!("eks control plane {} (Kubernetes {})", c.name, c.version));
        }
        Step::UpdateControlPlaneVersion { name, from, to, .. } => {
            // An update already running (a killed apply started it) is waited for first; a
            // control plane already on `to` is done. Any other version: the plan is stale.
            let now = wait_active(cloud, region, name, poll, progress).await?.version;
            let (have, want) = (minor(&now), minor(to));
            if have.is_some() && have >= want {
                report.updated.push(format!("eks control plane {name} (already on Kubernetes {now})"));
                return Ok(());
            }
            if now != *from {
                return Err(AwsError::new(
                    AwsErrorKind::Other,
                    format!("upgrading EKS control plane {name} to {to}"),
                    format!("it runs Kubernetes {now}, and the plan expected {from}; plan again"),
                ));
            }
            cloud.update_control_plane_version(region, name, to).await?;
            let after = wait_active(cloud, region, name, poll, progress).await?.version;
            if after != *to {
                return Err(AwsError::new(
                    AwsErrorKind::Other,
                    format!("upgrading EKS control plane {name} to {to}"),
                    format!("the update ended with Kubernetes {after}; see aws eks list-updates --name {name}"),
                ));
            }
            report.updated.push(format!("eks control plane {name} (Kubernetes {to})"));
        }
        Step::UpdateControlPlaneConfig { name, change } => {
            // While an update runs EKS still shows the old settings, so a re-run after a kill
            // plans the same change: once the cluster is ACTIVE, a change already made is done
            // (EKS refuses one that changes nothing).
            let now = wait_active(cloud, region, name, poll, progress).await?;
            if already(change, &now) {
                report.updated.push(format!("eks control plane {name} ({}: already so)", change.what()));
                return Ok(());
            }
            cloud.update_control_plane_config(region, name, change).await?;
            wait_active(cloud, region, name, poll, progress).await?;
            report.updated.push(format!("eks control plane {name} ({})", change.what()));
        }
        Step::TagControlPlane { name, arn, tags, .. } => {
            wait_active(cloud, region, name, poll, progress).await?;
            cloud.tag_control_plane(region, name, arn, tags).await?;
            report.updated.push(format!("eks control plane {name} (tags)"));
        }
        Step::CreateAddon { cluster, addon, version, wait } | Step::UpdateAddon { cluster, addon, to: version, wait, .. } => {
            // EKS takes add-on changes on an ACTIVE cluster only, one at a time per add-on: a
            // change a killed run started is waited for, and one already made is done.
            wait_active(cloud, region, cluster, poll, progress).await?;
            let before = cloud.wait_addon(region, cluster, addon, poll).await?;
            let created = matches!(step, Step::CreateAddon { .. });
            match &before {
                Some(a) if a.version == *version => {}
                Some(_) => cloud.update_addon(region, cluster, addon, version).await?,
                None => cloud.create_addon(region, cluster, addon, version).await?,
            }
            if *wait {
                let status = cloud.wait_addon(region, cluster, addon, poll).await?.map(|a| a.status).unwrap_or_else(|| "MISSING".into());
                if status != "ACTIVE" {
                    return Err(AwsError::new(
                        AwsErrorKind::Other,
                        format!("add-on {addon} {version} of EKS cluster {cluster}"),
                        format!("it is {status}, not ACTIVE; its health issues: aws eks describe-addon --cluster-name {cluster} --addon-name {addon}"),
                    ));
                }
            } else {
                progress.note(&format!("add-on {addon} {version}: asked for, not waited for (it becomes ACTIVE once nodes have joined)"));
            }
            let list = if created { &mut report.created } else { &mut report.updated };
            list.push(format!("eks add-on {addon} ({version})"));
        }
        Step::CreateAccessEntry { cluster, principal, owner } => {
            wait_active(cloud, region, cluster, poll, progress).await?;
            cloud.create_access_entry(region, cluster, principal, owner).await?;
            report.created.push(format!("eks access entry {principal}"));
        }
        Step::DeleteAccessEntry { cluster, principal } => {
            wait_active(cloud, region, cluster, poll, progress).await?;
            cloud.delete_access_entry(region, cluster, principal).await?;
            report.deleted.push(format!("eks access entry {principal}"));
        }
        Step::DeleteControlPlane { name } => {
            cloud.delete_control_plane(region, name, poll).await?;
            report.deleted.push(format!("eks control plane {name}"));
        }
        Step::PutScheduledAction { group, name, before, after } => {
            // AWS refuses a start in the past: a saved plan applied late is stale.
            if let Some(start) = after.start_time.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()) {
                if start <= crate::aws::read::now() {
                    return Err(AwsError::new(
                        AwsErrorKind::Other,
                        format!("scheduled action {name} of {group}"),
                        format!("it would start at {start}, which is past: the plan is older than its schedule; plan again"),
                    ));
                }
            }
            // An update may keep a start or an end it no longer names: delete, then put.
            if let Some(b) = before {
                if (b.start_time.is_some() && after.start_time.is_none()) || (b.end_time.is_some() && after.end_time.is_none()) || b.recurrence.is_some() != after.recurrence.is_some() {
                    cloud.delete_scheduled_action(region, group, name).await?;
                }
            }
            cloud.put_scheduled_action(region, group, name, after).await?;
            let list = if before.is_some() { &mut report.updated } else { &mut report.created };
            list.push(format!("scheduled action {group}/{name}"));
        }
        Step::DeleteScheduledAction { group, name, .. } => {
            cloud.delete_scheduled_action(region, group, name).await?;
            report.deleted.push(format!("scheduled action {group}/{name}"));
        }
        Step::AdoptLaunchTemplate { name, id, tags } => {
            cloud.tag_template(region, id, tags).await?;
            report.updated.push(format!("launch template {name} (adopted)"));
        }
        Step::CreateLaunchTemplate { name, data, tags } => {
            cloud.create_template(region, name, data, tags).await?;
            report.created.push(format!("launch template {name}"));
        }
        Step::CreateLaunchTemplateVersion { name, version, data, .. } => {
            let v = cloud.create_version(region, name, data).await?;
            if v != *version {
                renumbered.lock().expect("not poisoned").insert(name.clone(), (*version, v));
            }
            cloud.set_default_version(region, name, v).await?;
            report.updated.push(format!("launch template {name} (version {v})"));
        }
        Step::SetDefaultVersion { name, to, .. } => {
            cloud.set_default_version(region, name, *to).await?;
            report.updated.push(format!("launch template {name} (default version {to})"));
        }
        Step::CreateAutoScalingGroup { name, config, desired_capacity } => {
            // (The guard is dropped before the call: lanes of one task share the map.)
            let config = renumber(config, &renumbered.lock().expect("not poisoned"));
            cloud.create_group(region, name, &config, *desired_capacity).await?;
            report.created.push(format!("auto scaling group {name}"));
        }
        Step::UpdateAutoScalingGroup(u) => {
            if let Some(h) = &u.rolling_hold {
                // First the tag: from here on the declared sizes the next roll restores are
                // the new ones, whether or not the rest of this step happens.
                let tag = BTreeMap::from([(TAG_ROLLING.to_string(), AsgTag { value: h.declared.to_string(), propagate_at_launch: false })]);
                cloud.set_group_tags(region, &u.name, &tag).await?;
            }
            if u.config_changes() {
                let after = renumber(&u.after, &renumbered.lock().expect("not poisoned"));
                cloud.update_group(region, &u.name, &u.before, &after, u.sizes_to_send()).await?;
            }
            let set = u.tags_to_set();
            if !set.is_empty() {
                cloud.set_group_tags(region, &u.name, &set).await?;
            }
            let remove = u.tags_to_remove();
            if !remove.is_empty() {
                cloud.remove_group_tags(region, &u.name, &remove).await?;
            }
            report.updated.push(format!("auto scaling group {}", u.name));
        }
        Step::ChangeRecords { zone, zone_id, cluster, changes } => {
            cloud.change_records(zone, zone_id, &record_writes(cluster, changes)).await?;
            for c in changes {
                let list = match c.action {
                    Action::Create => &mut report.created,
                    Action::Update => &mut report.updated,
                    Action::Delete => &mut report.deleted,
                };
                list.push(format!("dns record {}", c.key));
            }
        }
        Step::DeleteAutoScalingGroup { name, .. } => {
            cloud.delete_group(region, name).await?;
            report.deleted.push(format!("auto scaling group {name}"));
        }
        Step::DeleteLaunchTemplate { name } => {
            cloud.delete_template(region, name).await?;
            report.deleted.push(format!("launch template {name}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The executor against an in-memory cloud: every step kind dispatches to the right call
    //! with the step's own data, a failure stops the cluster with the rest listed, an
    //! interrupt stops between steps, and a version AWS numbers otherwise is followed.

    use std::cell::RefCell;

    use super::*;
    use crate::core::live::LiveAddon;
    use crate::core::plan::{ControlPlaneCreate, GroupUpdate, RecordChange, RecordWrite, RollingHold};
    use crate::core::resources::{GroupSizes, LaunchTemplateData, RecordData, RecordKey};
    use crate::executor::progress::Progress;

    #[derive(Default)]
    struct Fake {
        calls: RefCell<Vec<String>>,
        fail_on: Option<&'static str>,
        next_version: i64,
        control_plane: RefCell<String>,
        logging: RefCell<Vec<String>>,
        /// The one add-on's installed version.
        addon: RefCell<Option<String>>,
        addon_status: Option<&'static str>,
        /// Template and group calls wait for other futures to run first, as AWS calls in
        /// flight do; `in_flight` counts them per service (0: EC2, 1: Auto Scaling), `most` is the
        /// largest count seen.
        slow: bool,
        in_flight: [std::cell::Cell<usize>; 2],
        most: [std::cell::Cell<usize>; 2],
    }

    impl Fake {
        async fn pause(&self, service: usize) {
            if !self.slow {
                return;
            }
            let (in_flight, most) = (&self.in_flight[service], &self.most[service]);
            in_flight.set(in_flight.get() + 1);
            most.set(most.get().max(in_flight.get()));
            for _ in 0..3 {
                let mut yielded = false;
                futures::future::poll_fn(|cx| {
                    if yielded {
                        std::task::Poll::Ready(())
                    } else {
                        yielded = true;
                        cx.waker().wake_by_ref();
                        std::task::Poll::Pending
                    }
                })
                .await;
            }
            in_flight.set(in_flight.get() - 1);
        }

        fn call(&self, c: String) -> Result<(), AwsError> {
            let fail = self.fail_on.is_some_and(|f| c.starts_with(f));
            self.calls.borrow_mut().push(c);
            if fail {
                return Err(AwsError { kind: AwsErrorKind::Throttled, what: "fake".into(), code: Some("Throttling".into()), message: "Rate exceeded".into(), status: Some(400) });
            }
            Ok(())
        }
    }

    impl Cloud for Fake {
        async fn create_template(&self, region: &str, name: &str, d: &LaunchTemplateData, _: &BTreeMap<String, String>) -> Result<(), AwsError> {
            self.pause(0).await;
            self.call(format!("create_template {region} {name} {}", d.image_id.clone().unwrap_or_default()))
        }
        async fn create_version(&self, _: &str, name: &str, d: &LaunchTemplateData) -> Result<i64, AwsError> {
            self.call(format!("create_version {name} {}", d.image_id.clone().unwrap_or_default()))?;
            Ok(self.next_version)
        }
        async fn set_default_version(&self, _: &str, name: &str, v: i64) -> Result<(), AwsError> {
            self.call(format!("set_default_version {name} {v}"))
        }
        async fn create_group(&self, _: &str, name: &str, c: &AsgConfig, desired: i32) -> Result<(), AwsError> {
            self.pause(1).await;
            self.call(format!("create_group {name} v{} desired {desired}", c.launch_template_version))
        }
        async fn update_group(&self, _: &str, name: &str, _: &AsgConfig, c: &AsgConfig, s: (i32, i32, Option<i32>)) -> Result<(), AwsError> {
            self.call(format!("update_group {name} v{} {s:?}", c.launch_template_version))
        }
        async fn set_group_tags(&self, _: &str, name: &str, t: &BTreeMap<String, AsgTag>) -> Result<(), AwsError> {
            self.call(format!("set_group_tags {name} {}", t.iter().map(|(k, v)| format!("{k}={}", v.value)).collect::<Vec<_>>().join(",")))
        }
        async fn remove_group_tags(&self, _: &str, name: &str, t: &BTreeMap<String, AsgTag>) -> Result<(), AwsError> {
            self.call(format!("remove_group_tags {name} {}", t.keys().cloned().collect::<Vec<_>>().join(",")))
        }
        async fn change_records(&self, zone: &str, _: &str, w: &[RecordWrite]) -> Result<(), AwsError> {
            self.call(format!("change_records {zone} {}", w.iter().map(|w| format!("{}{}", if w.upsert { "+" } else { "-" }, w.key)).collect::<Vec<_>>().join(",")))
        }
        async fn delete_group(&self, _: &str, name: &str) -> Result<(), AwsError> {
            self.call(format!("delete_group {name}"))
        }
        async fn delete_template(&self, _: &str, name: &str) -> Result<(), AwsError> {
            self.call(format!("delete_template {name}"))
        }
        async fn create_control_plane(&self, _: &str, c: &ControlPlaneCreate) -> Result<(), AwsError> {
            self.call(format!("create_control_plane {} {}", c.name, c.version))?;
            *self.control_plane.borrow_mut() = c.version.clone();
            Ok(())
        }
        async fn update_control_plane_version(&self, _: &str, name: &str, to: &str) -> Result<(), AwsError> {
            self.call(format!("update_control_plane_version {name} {to}"))?;
            *self.control_plane.borrow_mut() = to.to_string();
            Ok(())
        }
        async fn update_control_plane_config(&self, _: &str, name: &str, change: &ControlPlaneChange) -> Result<(), AwsError> {
            self.call(format!("update_control_plane_config {name} {}", change.what()))?;
            if let ControlPlaneChange::Logging { after, .. } = change {
                *self.logging.borrow_mut() = after.clone();
            }
            Ok(())
        }
        async fn tag_control_plane(&self, _: &str, name: &str, _: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
            self.call(format!("tag_control_plane {name} {}", tags.keys().cloned().collect::<Vec<_>>().join(",")))
        }
        async fn wait_control_plane(&self, _: &str, name: &str, _: Duration, tick: &(dyn Fn(&str, &str) + Sync)) -> Result<EksCluster, AwsError> {
            tick("UPDATING", &self.control_plane.borrow());
            self.call(format!("wait_control_plane {name}"))?;
            Ok(EksCluster { version: self.control_plane.borrow().clone(), status: "ACTIVE".into(), logging: self.logging.borrow().clone(), ..Default::default() })
        }
        async fn create_addon(&self, _: &str, _: &str, addon: &str, version: &str) -> Result<(), AwsError> {
            self.call(format!("create_addon {addon} {version}"))?;
            *self.addon.borrow_mut() = Some(version.to_string());
            Ok(())
        }
        async fn update_addon(&self, _: &str, _: &str, addon: &str, version: &str) -> Result<(), AwsError> {
            self.call(format!("update_addon {addon} {version}"))?;
            *self.addon.borrow_mut() = Some(version.to_string());
            Ok(())
        }
        async fn wait_addon(&self, _: &str, _: &str, addon: &str, _: Duration) -> Result<Option<LiveAddon>, AwsError> {
            self.call(format!("wait_addon {addon}"))?;
            Ok(self.addon.borrow().clone().map(|version| LiveAddon { version, status: self.addon_status.unwrap_or("ACTIVE").to_string() }))
        }
        async fn create_access_entry(&self, _: &str, _: &str, principal: &str, owner: &str) -> Result<(), AwsError> {
            self.call(format!("create_access_entry {principal} {owner}"))
        }
        async fn delete_access_entry(&self, _: &str, _: &str, principal: &str) -> Result<(), AwsError> {
            self.call(format!("delete_access_entry {principal}"))
        }
        async fn delete_control_plane(&self, _: &str, name: &str, _: Duration) -> Result<(), AwsError> {
            self.call(format!("delete_control_plane {name}"))
        }
        async fn put_scheduled_action(&self, _: &str, group: &str, name: &str, _: &crate::core::schedule::ScheduledAction) -> Result<(), AwsError> {
            self.call(format!("put_scheduled_action {group} {name}"))
        }
        async fn delete_scheduled_action(&self, _: &str, group: &str, name: &str) -> Result<(), AwsError> {
            self.call(format!("delete_scheduled_action {group} {name}"))
        }
        async fn tag_template(&self, _: &str, id: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
            self.call(format!("tag_template {id} {}", tags.keys().cloned().collect::<Vec<_>>().join(",")))
        }
    }

    fn upgrade(from: &str, to: &str) -> Step {
        Step::UpdateControlPlaneVersion { name: "eks".into(), from: from.into(), to: to.into(), skew: BTreeMap::new() }
    }

    #[test]
    fn control_plane_steps_wait_for_active_and_an_upgrade_resumes_from_what_eks_shows() {
        // 1.30 → 1.32 in two steps, each waited for before and after.
        let fake = Fake { control_plane: RefCell::new("1.30".into()), ..Default::default() };
        let r = run(&fake, &[upgrade("1.30", "1.31"), upgrade("1.31", "1.32")], false);
        assert!(r.ok(), "{r:?}");
        assert_eq!(
            *fake.calls.borrow(),
            vec![
                "wait_control_plane eks",
                "update_control_plane_version eks 1.31",
                "wait_control_plane eks",
                "wait_control_plane eks",
                "update_control_plane_version eks 1.32",
                "wait_control_plane eks"
            ]
        );
        // A killed apply had already moved it to 1.31: the re-run's first step is done.
        let fake = Fake { control_plane: RefCell::new("1.31".into()), ..Default::default() };
        let r = run(&fake, &[upgrade("1.30", "1.31"), upgrade("1.31", "1.32")], false);
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.updated, vec!["eks control plane eks (already on Kubernetes 1.31)", "eks control plane eks (Kubernetes 1.32)"]);
        assert_eq!(fake.calls.borrow().iter().filter(|c| c.starts_with("update_control_plane_version")).count(), 1);
        // Anything else than the plan expected: stop, plan again.
        let fake = Fake { control_plane: RefCell::new("1.29".into()), ..Default::default() };
        let r = run(&fake, &[upgrade("1.30", "1.31")], false);
        assert!(r.failed.as_deref().unwrap().contains("plan again"), "{r:?}");
    }

    #[test]
    fn add_ons_are_waited_for_and_one_not_active_after_its_change_stops_the_cluster() {
        let steps = vec![
            Step::UpdateAddon { cluster: "eks".into(), addon: "kube-proxy".into(), from: "a".into(), to: "b".into(), wait: true },
            Step::CreateAccessEntry { cluster: "eks".into(), principal: "arn:role".into(), owner: "c".into() },
        ];
        let fake = Fake { addon: RefCell::new(Some("a".into())), ..Default::default() };
        assert!(run(&fake, &steps, false).ok());
        assert_eq!(
            *fake.calls.borrow(),
            vec!["wait_control_plane eks", "wait_addon kube-proxy", "update_addon kube-proxy b", "wait_addon kube-proxy", "wait_control_plane eks", "create_access_entry arn:role c"]
        );
        for status in ["UPDATE_FAILED", "DEGRADED"] {
            let fake = Fake { addon: RefCell::new(Some("a".into())), addon_status: Some(status), ..Default::default() };
            let r = run(&fake, &steps, false);
            assert!(r.failed.as_deref().unwrap().contains(&format!("it is {status}, not ACTIVE")) && r.not_done.len() == 1, "{r:?}");
        }
    }

    #[test]
    fn a_change_a_killed_run_already_made_is_not_asked_again() {
        // The add-on is already on the version (the killed run's update went through).
        let fake = Fake { addon: RefCell::new(Some("b".into())), ..Default::default() };
        let r = run(&fake, &[Step::UpdateAddon { cluster: "eks".into(), addon: "coredns".into(), from: "a".into(), to: "b".into(), wait: false }], false);
        assert!(r.ok() && !fake.calls.borrow().iter().any(|c| c.starts_with("update_addon")), "{:?}", fake.calls.borrow());
        // Missing: created, and not waited for (no nodes yet).
        let fake = Fake::default();
        run(&fake, &[Step::CreateAddon { cluster: "eks".into(), addon: "coredns".into(), version: "b".into(), wait: false }], false);
        assert_eq!(*fake.calls.borrow(), vec!["wait_control_plane eks", "wait_addon coredns", "create_addon coredns b"]);
        // Logging already as wanted (EKS would refuse a change that changes nothing).
        let fake = Fake { logging: RefCell::new(vec!["api".into()]), ..Default::default() };
        let change = ControlPlaneChange::Logging { before: vec![], after: vec!["api".into()] };
        let r = run(&fake, &[Step::UpdateControlPlaneConfig { name: "eks".into(), change: change.clone() }], false);
        assert!(r.ok() && r.updated == vec!["eks control plane eks (logging: already so)"], "{r:?}");
        let fake = Fake::default();
        run(&fake, &[Step::UpdateControlPlaneConfig { name: "eks".into(), change }], false);
        assert_eq!(*fake.calls.borrow(), vec!["wait_control_plane eks", "update_control_plane_config eks logging", "wait_control_plane eks"]);
    }

    fn lt(image: &str) -> LaunchTemplateData {
        LaunchTemplateData { image_id: Some(image.into()), ..Default::default() }
    }

    fn group(name: &str, version: &str, max: i32) -> AsgConfig {
        AsgConfig { min_size: 1, max_size: max, launch_template: name.into(), launch_template_version: version.into(), ..Default::default() }
    }

    fn steps() -> Vec<Step> {
        let mut after = group("a", "2", 5);
        after.tags.insert("team".into(), AsgTag { value: "x".into(), propagate_at_launch: true });
        let mut before = group("a", "1", 3);
        before.tags.insert("old".into(), AsgTag { value: "y".into(), propagate_at_launch: true });
        let key = RecordKey { name: "api.example.com.".into(), record_type: "A".into() };
        vec![
            Step::CreateLaunchTemplate { name: "b".into(), data: lt("ami-b"), tags: BTreeMap::new() },
            Step::CreateLaunchTemplateVersion { name: "a".into(), version: 2, from: None, data: lt("ami-new") },
            Step::CreateAutoScalingGroup { name: "b".into(), config: group("b", "1", 2), desired_capacity: 1 },
            Step::UpdateAutoScalingGroup(GroupUpdate { name: "a".into(), before, after, desired_capacity: None, rolling_hold: None, adopted: false }),
            Step::ChangeRecords {
                zone: "example.com.".into(),
                zone_id: "Z1".into(),
                cluster: "c".into(),
                changes: vec![RecordChange { key, action: Action::Create, before: None, after: Some(RecordData { ttl: 60, values: vec!["192.0.2.1".into()] }) }],
            },
            Step::DeleteAutoScalingGroup { name: "old".into(), instances: 2 },
            Step::DeleteLaunchTemplate { name: "old".into() },
        ]
    }

    fn run(fake: &Fake, steps: &[Step], interrupted: bool) -> ClusterReport {
        run_in(fake, "eu-west-1", steps, interrupted, DEFAULT_CONCURRENCY)
    }

    /// The steps in `region`, `limit` changes at once per service.
    fn run_in(fake: &Fake, region: &str, steps: &[Step], interrupted: bool, limit: usize) -> ClusterReport {
        let progress = Progress::new(false, true);
        let cp = progress.cluster("c", steps.len());
        let mut report = ClusterReport { cluster: "c".into(), ..Default::default() };
        let flag = AtomicBool::new(interrupted);
        futures::executor::block_on(run_steps(fake, region, steps, Duration::ZERO, &flag, &Limits::new(limit), &cp, &mut report));
        report
    }

    #[test]
    fn every_step_dispatches_to_its_call_with_its_own_data() {
        let fake = Fake { next_version: 2, ..Default::default() };
        let r = run(&fake, &steps(), false);
        assert!(r.ok(), "{r:?}");
        assert_eq!(
            *fake.calls.borrow(),
            vec![
                // The groups' lanes (each its template, then its group), in plan order of
                // their first step; the fake answers at once, so each lane runs through.
                "create_template eu-west-1 b ami-b",
                "create_group b v1 desired 1",
                "create_version a ami-new",
                "set_default_version a 2",
                "update_group a v2 (1, 5, None)",
                "set_group_tags a team=x",
                "remove_group_tags a old",
                "change_records example.com. +api.example.com. A,+_fleetform.api.example.com. TXT",
                "delete_group old",
                "delete_template old",
            ]
        );
        assert_eq!(r.created, vec!["launch template b", "auto scaling group b", "dns record api.example.com. A"]);
        assert_eq!(r.deleted, vec!["auto scaling group old", "launch template old"]);
    }

    #[test]
    fn a_version_numbered_otherwise_is_followed_by_the_group() {
        let fake = Fake { next_version: 7, ..Default::default() };
        run(&fake, &steps(), false);
        let calls = fake.calls.borrow();
        assert!(calls.contains(&"set_default_version a 7".to_string()), "{calls:?}");
        assert!(calls.contains(&"update_group a v7 (1, 5, None)".to_string()), "{calls:?}");
    }

    #[test]
    fn a_failed_step_stops_the_cluster_and_lists_the_rest() {
        let fake = Fake { next_version: 2, fail_on: Some("create_group"), ..Default::default() };
        let r = run(&fake, &steps(), false);
        assert!(r.failed.as_deref().unwrap().contains("Throttling"), "{r:?}");
        // b's group failed after its template; a's lane, the records and the deletions did
        // not start.
        assert_eq!(r.created, vec!["launch template b"]);
        assert_eq!(r.not_done.len(), 5, "{r:?}");
        assert!(r.not_done[0].contains("launch template a"), "{r:?}");
        assert!(!fake.calls.borrow().iter().any(|c| c.starts_with("update_group")), "nothing after the failure");
    }

    fn new_groups(n: usize) -> Vec<Step> {
        let mut steps: Vec<Step> = (0..n).map(|i| Step::CreateLaunchTemplate { name: format!("g{i}"), data: LaunchTemplateData::default(), tags: BTreeMap::new() }).collect();
        steps.extend((0..n).map(|i| Step::CreateAutoScalingGroup { name: format!("g{i}"), config: group(&format!("g{i}"), "1", 3), desired_capacity: 1 }));
        steps.push(Step::ChangeRecords { zone: "example.com.".into(), zone_id: "Z1".into(), cluster: "c".into(), changes: vec![] });
        steps.push(Step::DeleteAutoScalingGroup { name: "old".into(), instances: 0 });
        steps
    }

    fn run_slow(slow: &Fake, steps: &[Step], limit: usize) -> ClusterReport {
        run_in(slow, "r", steps, false, limit)
    }

    #[test]
    fn groups_run_side_by_side_within_the_limit_each_template_before_its_group() {
        let slow = Fake { slow: true, ..Default::default() };
        let steps = new_groups(6);
        let r = run_slow(&slow, &steps, 3);
        assert!(r.ok(), "{r:?}");
        assert_eq!((slow.most[0].get(), slow.most[1].get()), (3, 3), "three in flight at once per service, never more");
        let calls = slow.calls.borrow();
        for i in 0..6 {
            let t = calls.iter().position(|c| c == &format!("create_template r g{i} ")).unwrap();
            let g = calls.iter().position(|c| c.starts_with(&format!("create_group g{i} "))).unwrap();
            assert!(t < g, "g{i}: template before group: {calls:?}");
        }
        // The deletion after every group and the records.
        let last = calls.iter().rposition(|c| c.starts_with("create_group") || c.starts_with("change_records")).unwrap();
        assert!(last < calls.iter().position(|c| c == "delete_group old").unwrap(), "{calls:?}");
        // Reported in plan order, whatever order they finished in.
        let created: Vec<String> = (0..6).map(|i| format!("launch template g{i}")).chain((0..6).map(|i| format!("auto scaling group g{i}"))).collect();
        assert_eq!(r.created, created);
        // One at a time when asked.
        let slow = Fake { slow: true, ..Default::default() };
        assert!(run_slow(&slow, &steps, 1).ok());
        assert_eq!((slow.most[0].get(), slow.most[1].get()), (1, 1));
    }

    #[test]
    fn a_failure_beside_other_steps_starts_nothing_new_and_reports_what_was_done() {
        let slow = Fake { slow: true, fail_on: Some("create_group g1"), ..Default::default() };
        let steps = new_groups(6);
        let r = run_slow(&slow, &steps, 2);
        assert!(r.failed.as_deref().unwrap().contains("Throttling"), "{r:?}");
        let calls = slow.calls.borrow().clone();
        let failed_at = calls.iter().position(|c| c.starts_with("create_group g1")).unwrap();
        // What was in flight finished (at most the others in flight: two per service, less the
        // failed one); nothing started after the failure was known, the deletions least of all.
        assert!(calls.len() <= failed_at + 1 + 3, "at most the calls in flight finish after the failure: {calls:?}");
        assert!(!calls.iter().any(|c| c.starts_with("delete_group")), "{calls:?}");
        // Every step is either done, the failure, or not done; each call that succeeded is
        // reported (the empty record batch, beside the groups, reports no record).
        let records = usize::from(calls.iter().any(|c| c.starts_with("change_records")));
        let done = r.created.len();
        assert_eq!(done + records + 1 + r.not_done.len(), steps.len(), "{r:?}");
        assert_eq!(done + records, calls.len() - 1, "{r:?} {calls:?}");
    }

    #[test]
    fn an_interrupt_stops_before_the_next_step() {
        let fake = Fake::default();
        let r = run(&fake, &steps(), true);
        assert!(r.interrupted && fake.calls.borrow().is_empty(), "{r:?}");
        assert_eq!(r.not_done.len(), 7);
    }

    #[test]
    fn a_held_roll_gets_its_tag_rewritten_first_and_keeps_its_surge() {
        let fake = Fake::default();
        let hold = RollingHold {
            held: GroupSizes { min: 1, max: 3, desired: 2 },
            declared: GroupSizes { min: 1, max: 5, desired: 2 },
            actual: GroupSizes { min: 1, max: 4, desired: 4 },
        };
        let mut before = group("a", "1", 3);
        before.min_size = 1;
        let after = group("a", "1", 5);
        let s = vec![Step::UpdateAutoScalingGroup(GroupUpdate { name: "a".into(), before, after, desired_capacity: None, rolling_hold: Some(hold), adopted: false })];
        run(&fake, &s, false);
        assert_eq!(*fake.calls.borrow(), vec![format!("set_group_tags a {TAG_ROLLING}=1,5,2"), "update_group a v1 (1, 5, None)".to_string()]);
        // Declared max below the surge: the surge instances stay until the roll removes them.
        let hold2 = RollingHold { declared: GroupSizes { min: 1, max: 2, desired: 2 }, ..hold };
        let u = GroupUpdate { name: "a".into(), before: group("a", "1", 3), after: group("a", "1", 2), desired_capacity: None, rolling_hold: Some(hold2), adopted: false };
        assert_eq!(u.sizes_to_send(), (1, 4, None));
    }
}
