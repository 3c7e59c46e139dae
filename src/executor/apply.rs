//! Apply one cluster's plan: lock, steps in a safe order, audit record, unlock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_route53::types::ChangeAction;
use serde::Serialize;

use super::progress::{timestamp, ClusterProgress};
use crate::aws::state::{Acquire, HistoryRecord, LockInfo, StateStore};
use crate::aws::{autoscaling, ec2, route53, Aws};
use crate::core::desired::DesiredCluster;
use crate::core::live::LiveCluster;
use crate::core::plan::{Action, ClusterPlan, ResourceType};
use crate::core::resources::{owner_record, RecordKey};

pub struct ApplyOptions {
    pub allow_delete: bool,
    pub lock_timeout: Duration,
    pub interrupted: Arc<AtomicBool>,
    pub command: String,
    pub commit: Option<String>,
}

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
}

/// One unit of work.
struct Step {
    label: String,
    kind: StepKind,
}

enum StepKind {
    CreateTemplate(String),
    NewVersion(String),
    DefaultVersion(String, i64),
    CreateGroup(String),
    UpdateGroup(String, Option<i32>),
    Records(Vec<(ChangeAction, RecordKey, crate::core::resources::RecordData)>, Vec<String>),
    DeleteGroup(String),
    DeleteTemplate(String),
}

fn steps(plan: &ClusterPlan, desired: &DesiredCluster, live: &LiveCluster, allow_delete: bool, report: &mut ClusterReport) -> Vec<Step> {
    let mut out = Vec::new();
    for c in plan.changes.iter().filter(|c| c.resource_type == ResourceType::LaunchTemplate) {
        let n = c.name.clone();
        match c.action {
            Action::Create => out.push(Step { label: format!("create launch template {n}"), kind: StepKind::CreateTemplate(n) }),
            Action::Update if c.fields.len() == 1 && c.fields[0].field == "defaultVersion" => {
                let v = plan.launch_template_versions.get(&n).copied().unwrap_or(1);
                out.push(Step { label: format!("make version {v} the default of launch template {n}"), kind: StepKind::DefaultVersion(n, v) });
            }
            Action::Update => out.push(Step { label: format!("new version of launch template {n}"), kind: StepKind::NewVersion(n) }),
            Action::Delete => {}
        }
    }
    for c in plan.changes.iter().filter(|c| c.resource_type == ResourceType::AutoScalingGroup) {
        let n = c.name.clone();
        match c.action {
            Action::Create => out.push(Step { label: format!("create auto scaling group {n}"), kind: StepKind::CreateGroup(n) }),
            Action::Update => {
                let desired_cap = c.fields.iter().find(|f| f.field == "desiredCapacity").and_then(|f| f.new.as_ref()).and_then(|v| v.parse().ok());
                out.push(Step { label: format!("update auto scaling group {n}"), kind: StepKind::UpdateGroup(n, desired_cap) });
            }
            Action::Delete => {}
        }
    }
    // Records: one atomic batch with their ownership records.
    let mut rec = Vec::new();
    let mut names = Vec::new();
    for c in plan.changes.iter().filter(|c| c.resource_type == ResourceType::DnsRecord) {
        let Some(key) = desired.records.keys().chain(live.records.keys()).find(|k| k.to_string() == c.name).cloned() else { continue };
        match c.action {
            Action::Create | Action::Update => {
                let data = desired.records[&key].clone();
                rec.push((ChangeAction::Upsert, key.clone(), data));
                let (ok, od) = owner_record(&key.name, &desired.name);
                rec.push((ChangeAction::Upsert, ok, od));
                names.push(format!("{} {}", if c.action == Action::Create { "create" } else { "update" }, c.name));
            }
            Action::Delete if allow_delete => {
                let data = live.records[&key].data.clone();
                rec.push((ChangeAction::Delete, key.clone(), data));
                let (ok, od) = owner_record(&key.name, &desired.name);
                rec.push((ChangeAction::Delete, ok, od));
                names.push(format!("delete {}", c.name));
            }
            Action::Delete => report.not_deleted.push(format!("dns record {}", c.name)),
        }
    }
    if !rec.is_empty() {
        out.push(Step { label: format!("change {} dns record(s)", names.len()), kind: StepKind::Records(rec, names) });
    }
    for c in plan.changes.iter().filter(|c| c.action == Action::Delete) {
        let n = c.name.clone();
        match (c.resource_type, allow_delete) {
            (ResourceType::AutoScalingGroup, true) => out.push(Step { label: format!("delete auto scaling group {n}"), kind: StepKind::DeleteGroup(n) }),
            (ResourceType::LaunchTemplate, true) => {}
            (ResourceType::DnsRecord, _) => {}
            (rt, false) => report.not_deleted.push(format!("{} {n}", rt.label())),
        }
    }
    if allow_delete {
        for c in plan.changes.iter().filter(|c| c.action == Action::Delete && c.resource_type == ResourceType::LaunchTemplate) {
            out.push(Step { label: format!("delete launch template {}", c.name), kind: StepKind::DeleteTemplate(c.name.clone()) });
        }
    }
    out
}

/// Take the cluster's lock, waiting up to `timeout`.
pub async fn lock(store: &StateStore, info: &LockInfo, timeout: Duration, progress: &ClusterProgress, interrupted: &AtomicBool) -> Result<(), String> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(500);
    let mut announced = false;
    loop {
        match store.try_lock(info).await? {
            Acquire::Acquired => return Ok(()),
            Acquire::Held(holder) => {
                let who = holder.map_or("an unreadable lock".to_string(), |h| h.to_string());
                if start.elapsed() >= timeout || interrupted.load(Ordering::SeqCst) {
                    return Err(format!(
                        "the cluster is locked: {who} (s3://{}/{}). Wait for that apply to finish; if it died, break the lock with `fleetform unlock --cluster {} LOCK_ID`",
                        store.bucket,
                        store.lock_key(),
                        progress.cluster()
                    ));
                }
                if !announced {
                    progress.start(&format!("waiting for the lock: {who}"));
                    announced = true;
                }
                tokio::time::sleep(wait.min(timeout.saturating_sub(start.elapsed())).max(Duration::from_millis(50))).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

pub fn lock_info(command: &str) -> LockInfo {
    let id = {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        format!("{:x}", (nanos ^ (u128::from(std::process::id()) << 64)) & 0xffff_ffff_ffff)
    };
    LockInfo {
        id,
        who: std::env::var("USER")
            .or_else(|_| std::env::var("BUILD_USER"))
            .ok()
            .or_else(|| {
                let o = std::process::Command::new("id").arg("-un").output().ok()?;
                o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into()),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into()),
        pid: std::process::id(),
        command: command.to_string(),
        created: timestamp(),
    }
}

/// Carry out one cluster's plan. The lock is taken before the first step and always released.
pub async fn apply_cluster(
    aws: &Aws,
    plan: &ClusterPlan,
    desired: &DesiredCluster,
    live: &LiveCluster,
    store: &StateStore,
    opts: &ApplyOptions,
    progress: &ClusterProgress,
) -> ClusterReport {
    let mut report = ClusterReport { cluster: plan.cluster.clone(), ..Default::default() };
    let info = lock_info(&opts.command);
    let started = timestamp();
    if let Err(e) = lock(store, &info, opts.lock_timeout, progress, &opts.interrupted).await {
        report.failed = Some(e);
        return report;
    }
    let steps = steps(plan, desired, live, opts.allow_delete, &mut report);
    run_steps(aws, plan, desired, live, &steps, opts, progress, &mut report).await;

    let rec = HistoryRecord {
        id: info.id.clone(),
        cluster: plan.cluster.clone(),
        who: info.who.clone(),
        host: info.host.clone(),
        started,
        finished: timestamp(),
        commit: opts.commit.clone(),
        command: opts.command.clone(),
        result: if report.interrupted {
            "interrupted".into()
        } else if report.failed.is_some() {
            "failed".into()
        } else {
            "ok".into()
        },
        created: report.created.clone(),
        updated: report.updated.clone(),
        deleted: report.deleted.clone(),
        failed: report.failed.iter().cloned().collect(),
    };
    if !(rec.created.is_empty() && rec.updated.is_empty() && rec.deleted.is_empty() && rec.failed.is_empty()) {
        if let Err(e) = store.record(&rec).await {
            progress.done(&format!("warning: the audit record was not written: {e}"));
        }
    }
    if let Err(e) = store.unlock(&info.id).await {
        report.failed.get_or_insert(format!("releasing the lock failed: {e}; break it with `fleetform unlock --cluster {} {}`", plan.cluster, info.id));
    }
    report
}

#[allow(clippy::too_many_arguments)]
async fn run_steps(
    aws: &Aws,
    plan: &ClusterPlan,
    desired: &DesiredCluster,
    live: &LiveCluster,
    steps: &[Step],
    opts: &ApplyOptions,
    progress: &ClusterProgress,
    report: &mut ClusterReport,
) {
    let region = desired.region.as_str();
    let ec2c = aws.ec2(region);
    let asgc = aws.autoscaling(region);
    let r53 = aws.route53();
    // Versions actually created in this run (AWS may number them otherwise than predicted).
    let mut versions = plan.launch_template_versions.clone();
    for (i, step) in steps.iter().enumerate() {
        if opts.interrupted.load(Ordering::SeqCst) {
            report.interrupted = true;
            report.not_done = steps[i..].iter().map(|s| s.label.clone()).collect();
            return;
        }
        progress.start(&step.label);
        let r: Result<(), String> = async {
            match &step.kind {
                StepKind::CreateTemplate(n) => {
                    let g = &desired.groups[n];
                    ec2::create_template(&ec2c, region, n, &g.launch_template, &g.launch_template_tags).await?;
                    versions.insert(n.clone(), 1);
                    report.created.push(format!("launch template {n}"));
                }
                StepKind::NewVersion(n) => {
                    let v = ec2::create_version(&ec2c, region, n, &desired.groups[n].launch_template).await?;
                    ec2::set_default_version(&ec2c, region, n, v).await?;
                    versions.insert(n.clone(), v);
                    report.updated.push(format!("launch template {n} (version {v})"));
                }
                StepKind::DefaultVersion(n, v) => {
                    ec2::set_default_version(&ec2c, region, n, *v).await?;
                    report.updated.push(format!("launch template {n} (default version {v})"));
                }
                StepKind::CreateGroup(n) => {
                    let mut cfg = desired.groups[n].asg.clone();
                    cfg.launch_template_version = versions.get(n).copied().unwrap_or(1).to_string();
                    autoscaling::create_group(&asgc, region, n, &cfg, cfg.min_size).await?;
                    report.created.push(format!("auto scaling group {n}"));
                }
                StepKind::UpdateGroup(n, desired_cap) => {
                    let mut cfg = desired.groups[n].asg.clone();
                    cfg.launch_template_version = versions.get(n).copied().unwrap_or(1).to_string();
                    let have = live.asgs.get(n).map(|a| a.config.clone()).unwrap_or_default();
                    let mut core_have = have.clone();
                    core_have.tags = cfg.tags.clone();
                    if core_have != cfg || desired_cap.is_some() {
                        autoscaling::update_group(&asgc, region, n, &cfg, *desired_cap).await?;
                    }
                    autoscaling::sync_tags(&asgc, region, n, &have.tags, &cfg.tags).await?;
                    report.updated.push(format!("auto scaling group {n}"));
                }
                StepKind::Records(changes, names) => {
                    let zone = desired.dns_zone.clone().unwrap_or_default();
                    let id = live.zone_id.clone().ok_or_else(|| format!("hosted zone {zone} not found"))?;
                    route53::change_records(&r53, &zone, &id, changes).await?;
                    for n in names {
                        let (verb, name) = n.split_once(' ').unwrap_or(("update", n));
                        let list = match verb {
                            "create" => &mut report.created,
                            "delete" => &mut report.deleted,
                            _ => &mut report.updated,
                        };
                        list.push(format!("dns record {name}"));
                    }
                }
                StepKind::DeleteGroup(n) => {
                    autoscaling::delete_group(&asgc, region, n).await?;
                    report.deleted.push(format!("auto scaling group {n}"));
                }
                StepKind::DeleteTemplate(n) => {
                    ec2::delete_template(&ec2c, region, n).await?;
                    report.deleted.push(format!("launch template {n}"));
                }
            }
            Ok(())
        }
        .await;
        match r {
            Ok(()) => progress.done(&format!("done: {}", step.label)),
            Err(e) => {
                progress.done(&format!("FAILED: {}", step.label));
                report.failed = Some(e);
                report.not_done = steps[i + 1..].iter().map(|s| s.label.clone()).collect();
                return;
            }
        }
    }
}
