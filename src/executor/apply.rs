//! Carry out one cluster's plan: its typed steps, in order, one AWS call kind per step kind.
//!
//! The executor makes no decision of its own: it matches on the steps the pure plan computed
//! (under the lock, from a fresh read) and never compares desired and live again. Between steps
//! it checks for an interrupt (Ctrl-C, SIGTERM) and stops cleanly; a failed step stops the
//! cluster and lists the rest as not done. The lock, the read, the plan and the audit record are
//! the orchestration's business (`crate::ops`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::progress::ClusterProgress;
use crate::aws::cloud::Cloud;
use crate::core::plan::{record_writes, Action, Step};
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

/// Carry out `steps` in `region`, recording what was done in `report`.
pub async fn run_steps<C: Cloud>(cloud: &C, region: &str, steps: &[Step], interrupted: &AtomicBool, progress: &ClusterProgress, report: &mut ClusterReport) {
    // Versions AWS numbered otherwise than the plan predicted: name → (predicted, created).
    let mut renumbered: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        if interrupted.load(Ordering::SeqCst) {
            report.interrupted = true;
            report.not_done = steps[i..].iter().map(Step::label).collect();
            return;
        }
        let label = step.label();
        progress.start(&label);
        match run_step(cloud, region, step, &mut renumbered, report).await {
            Ok(()) => progress.done(&format!("done: {label}")),
            Err(e) => {
                progress.done(&format!("FAILED: {label}"));
                report.failed = Some(e.to_string());
                report.not_done = steps[i + 1..].iter().map(Step::label).collect();
                return;
            }
        }
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

async fn run_step<C: Cloud>(
    cloud: &C,
    region: &str,
    step: &Step,
    renumbered: &mut BTreeMap<String, (i64, i64)>,
    report: &mut ClusterReport,
) -> Result<(), crate::aws::AwsError> {
    match step {
        Step::CreateLaunchTemplate { name, data, tags } => {
            cloud.create_template(region, name, data, tags).await?;
            report.created.push(format!("launch template {name}"));
        }
        Step::CreateLaunchTemplateVersion { name, version, data, .. } => {
            let v = cloud.create_version(region, name, data).await?;
            if v != *version {
                renumbered.insert(name.clone(), (*version, v));
            }
            cloud.set_default_version(region, name, v).await?;
            report.updated.push(format!("launch template {name} (version {v})"));
        }
        Step::SetDefaultVersion { name, to, .. } => {
            cloud.set_default_version(region, name, *to).await?;
            report.updated.push(format!("launch template {name} (default version {to})"));
        }
        Step::CreateAutoScalingGroup { name, config, desired_capacity } => {
            cloud.create_group(region, name, &renumber(config, renumbered), *desired_capacity).await?;
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
                cloud.update_group(region, &u.name, &renumber(&u.after, renumbered), u.sizes_to_send()).await?;
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
    use crate::aws::{AwsError, AwsErrorKind};
    use crate::core::plan::{GroupUpdate, RecordChange, RecordWrite, RollingHold};
    use crate::core::resources::{GroupSizes, LaunchTemplateData, RecordData, RecordKey};
    use crate::executor::progress::Progress;

    #[derive(Default)]
    struct Fake {
        calls: RefCell<Vec<String>>,
        fail_on: Option<&'static str>,
        next_version: i64,
    }

    impl Fake {
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
            self.call(format!("create_group {name} v{} desired {desired}", c.launch_template_version))
        }
        async fn update_group(&self, _: &str, name: &str, c: &AsgConfig, s: (i32, i32, Option<i32>)) -> Result<(), AwsError> {
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
            Step::UpdateAutoScalingGroup(GroupUpdate { name: "a".into(), before, after, desired_capacity: None, rolling_hold: None }),
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
        let progress = Progress::new(false, true);
        let cp = progress.cluster("c", steps.len());
        let mut report = ClusterReport { cluster: "c".into(), ..Default::default() };
        let flag = AtomicBool::new(interrupted);
        futures::executor::block_on(run_steps(fake, "eu-west-1", steps, &flag, &cp, &mut report));
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
                "create_template eu-west-1 b ami-b",
                "create_version a ami-new",
                "set_default_version a 2",
                "create_group b v1 desired 1",
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
        assert_eq!(r.not_done.len(), 4, "{r:?}");
        assert_eq!(r.not_done[0], "update auto scaling group a");
        assert!(!fake.calls.borrow().iter().any(|c| c.starts_with("update_group")), "nothing after the failure");
    }

    #[test]
    fn an_interrupt_stops_before_the_next_step() {
        let fake = Fake::default();
        let r = run(&fake, &steps(), true);
        assert!(r.interrupted && fake.calls.borrow().is_empty());
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
        let s = vec![Step::UpdateAutoScalingGroup(GroupUpdate { name: "a".into(), before, after, desired_capacity: None, rolling_hold: Some(hold) })];
        run(&fake, &s, false);
        assert_eq!(*fake.calls.borrow(), vec![format!("set_group_tags a {TAG_ROLLING}=1,5,2"), "update_group a v1 (1, 5, None)".to_string()]);
        // Declared max below the surge: the surge instances stay until the roll removes them.
        let hold2 = RollingHold { declared: GroupSizes { min: 1, max: 2, desired: 2 }, ..hold };
        let u = GroupUpdate { name: "a".into(), before: group("a", "1", 3), after: group("a", "1", 2), desired_capacity: None, rolling_hold: Some(hold2) };
        assert_eq!(u.sizes_to_send(), (1, 4, None));
    }
}
