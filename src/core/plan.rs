//! `plan(desired, live) -> ClusterPlan`: the pure heart of fleetform.
//!
//! A plan is a list of **typed steps** in the order they are carried out (templates, then the
//! groups that use them, then DNS in one atomic batch, then deletions), each carrying every
//! datum the executor needs: the executor matches on the steps and never compares desired and
//! live again. What people read — per resource, create / update (each changed field as
//! old → new) / delete — is derived from the steps by [`describe`], a pure function; nothing
//! ever parses it back. The saved plan file is a serialisation of these steps.
//!
//! Only resources the cluster owns (by tag, or by DNS ownership record) are ever updated or
//! deleted; a declared name that exists without being ours is a conflict, never a takeover. The
//! plan also says which instances a rolling update would replace and why, and which groups still
//! carry the sizes of a rolling update that was killed. Everything is ordered (BTreeMap), so the
//! same inputs give the same plan. Property, tested below: `plan(d, live_of(d))` is empty.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::desired::{DesiredCluster, DesiredGroup};
use super::live::{LiveAsg, LiveCluster, LiveLaunchTemplate};
use super::resources::*;
use super::schedule::ScheduledAction;

/// One unit of work on AWS, with all it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Step {
    /// Create the EKS control plane; apply waits until it is ACTIVE.
    CreateControlPlane(Box<ControlPlaneCreate>),
    /// Move the control plane one Kubernetes minor up (EKS moves one at a time); apply waits
    /// until it is ACTIVE again. `skew`: per node group, how far behind its nodes are after it.
    UpdateControlPlaneVersion { name: String, from: String, to: String, skew: BTreeMap<String, String> },
    /// One in-place setting of the control plane (EKS takes one kind per update).
    UpdateControlPlaneConfig { name: String, change: ControlPlaneChange },
    /// Set tags on the EKS cluster (tags it has that are not declared are left).
    TagControlPlane { name: String, arn: String, before: BTreeMap<String, String>, tags: BTreeMap<String, String> },
    /// Install a managed add-on. `wait`: wait until it is ACTIVE (false while the cluster has no
    /// nodes: an add-on such as coredns cannot become ACTIVE before nodes join).
    CreateAddon { cluster: String, addon: String, version: String, wait: bool },
    /// Move a managed add-on to another version (`wait`: as for CreateAddon; a DEGRADED add-on
    /// after the move is then a failure).
    UpdateAddon { cluster: String, addon: String, from: String, to: String, wait: bool },
    /// Let an IAM role's instances join as nodes (type EC2_LINUX, tagged as this cluster's).
    CreateAccessEntry { cluster: String, principal: String, owner: String },
    /// Remove an access entry this cluster made that no node group needs any more.
    DeleteAccessEntry { cluster: String, principal: String },
    /// Delete the EKS control plane (`destroy --include-control-plane` only); apply waits until
    /// it is gone.
    DeleteControlPlane { name: String },
    /// Create a launch template; its version 1 is the default.
    CreateLaunchTemplate { name: String, data: LaunchTemplateData, tags: BTreeMap<String, String> },
    /// Create a new version of a launch template with the full data (versions never inherit)
    /// and make it the default. `version` is the number AWS is expected to give it.
    CreateLaunchTemplateVersion { name: String, version: i64, from: Option<TemplateVersion>, data: LaunchTemplateData },
    /// Make an existing version the default (an earlier apply stopped before doing so, or the
    /// default was moved by hand).
    SetDefaultVersion { name: String, from: i64, to: i64, reason: Option<String> },
    /// Adopt a launch template that exists without fleetform's tags: tag it as this cluster's
    /// (the version steps that follow bring its data in line).
    AdoptLaunchTemplate { name: String, id: String, tags: BTreeMap<String, String> },
    /// Create an Auto Scaling group with `desired_capacity` instances.
    CreateAutoScalingGroup { name: String, config: AsgConfig, desired_capacity: i32 },
    /// Update a group: exactly the differences of `before` and `after`.
    UpdateAutoScalingGroup(GroupUpdate),
    /// Create, update or delete records of one hosted zone in one atomic batch, each with its
    /// ownership record.
    ChangeRecords { zone: String, zone_id: String, cluster: String, changes: Vec<RecordChange> },
    /// Delete an owned group no longer declared, terminating its instances.
    DeleteAutoScalingGroup { name: String, instances: usize },
    /// Delete an owned launch template no longer declared.
    DeleteLaunchTemplate { name: String },
    /// Create or replace one of a group's scheduled actions (only fleetform's, `fleetform-…`).
    PutScheduledAction { group: String, name: String, before: Option<ScheduledAction>, after: ScheduledAction },
    /// Delete a scheduled action fleetform made that the group's schedule no longer has. Not
    /// held back by `--allow-delete`: it destroys nothing, and leaving it would scale the group
    /// on a schedule nobody declares any more.
    DeleteScheduledAction { group: String, name: String, before: ScheduledAction },
}

/// The control plane to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneCreate {
    pub name: String,
    pub version: String,
    pub role_arn: String,
    pub subnet_ids: Vec<String>,
    pub endpoint: Endpoint,
    pub logging: Vec<String>,
    pub secrets_encryption_key: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub authentication_mode: String,
    pub service_ipv4_cidr: Option<String>,
}

/// Who reaches the API endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub public: bool,
    pub private: bool,
    /// Sorted; empty: AWS's default (0.0.0.0/0).
    pub public_cidrs: Vec<String>,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.public {
            parts.push(if self.public_cidrs.is_empty() { "public".to_string() } else { format!("public from {}", self.public_cidrs.join(", ")) });
        }
        if self.private {
            parts.push("private".to_string());
        }
        write!(f, "{}", parts.join(" + "))
    }
}

/// One kind of in-place control-plane update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ControlPlaneChange {
    EndpointAccess { before: Endpoint, after: Endpoint },
    /// Enabled log types before and after (the others are disabled).
    Logging { before: Vec<String>, after: Vec<String> },
    AuthenticationMode { from: String, to: String },
}

impl ControlPlaneChange {
    pub fn what(&self) -> &'static str {
        match self {
            ControlPlaneChange::EndpointAccess { .. } => "endpoint access",
            ControlPlaneChange::Logging { .. } => "logging",
            ControlPlaneChange::AuthenticationMode { .. } => "authentication mode",
        }
    }
}

/// A launch-template version as read: its number and data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateVersion {
    pub version: i64,
    pub data: LaunchTemplateData,
}

/// The update of one group. `before` is the group as read (with the declared sizes a rolling
/// update holds in its tag, when one does), `after` as declared; only their differences are
/// sent, but `UpdateAutoScalingGroup` always gets the whole mixed-instances policy (an update
/// without it would drop it on some implementations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupUpdate {
    pub name: String,
    pub before: AsgConfig,
    pub after: AsgConfig,
    /// Desired capacity (old, new) when the declared sizes move it.
    pub desired_capacity: Option<(i32, i32)>,
    /// A rolling update killed while it held the group raised: its declared sizes live in the
    /// group's tag until the next roll restores them, so the update rewrites the tag.
    pub rolling_hold: Option<RollingHold>,
    /// The group exists without fleetform's tags and is adopted: the ownership tags are among
    /// the tags this update sets.
    #[serde(default)]
    pub adopted: bool,
}

/// The sizes a killed rolling update left: what its tag holds, what the tag must hold after
/// this apply, and the group's real (raised) sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingHold {
    pub held: GroupSizes,
    pub declared: GroupSizes,
    pub actual: GroupSizes,
}

impl GroupUpdate {
    /// True when UpdateAutoScalingGroup must be called (anything but tags changes).
    pub fn config_changes(&self) -> bool {
        let strip = |c: &AsgConfig| AsgConfig { tags: BTreeMap::new(), ..c.clone() };
        strip(&self.before) != strip(&self.after) || self.desired_capacity.is_some()
    }

    /// Tags to create or overwrite (the tag diff lives here, in the core).
    pub fn tags_to_set(&self) -> BTreeMap<String, AsgTag> {
        self.after.tags.iter().filter(|(k, t)| self.before.tags.get(*k) != Some(*t)).map(|(k, t)| (k.clone(), t.clone())).collect()
    }

    /// Tags to delete.
    pub fn tags_to_remove(&self) -> BTreeMap<String, AsgTag> {
        self.before.tags.iter().filter(|(k, _)| !self.after.tags.contains_key(*k)).map(|(k, t)| (k.clone(), t.clone())).collect()
    }

    /// The sizes to send: the declared ones, or — while a killed roll holds the group raised —
    /// the declared min and a max that keeps the surge instances (the next roll removes them).
    /// The desired capacity is then left alone.
    pub fn sizes_to_send(&self) -> (i32, i32, Option<i32>) {
        match &self.rolling_hold {
            Some(h) => (h.declared.min, h.declared.max.max(h.actual.desired), None),
            None => (self.after.min_size, self.after.max_size, self.desired_capacity.map(|(_, n)| n)),
        }
    }
}

/// One record set's change, for the batch of its zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordChange {
    pub key: RecordKey,
    pub action: Action,
    pub before: Option<RecordData>,
    pub after: Option<RecordData>,
}

/// One write of a Route53 batch.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub upsert: bool,
    pub key: RecordKey,
    pub data: RecordData,
}

/// The writes of a record batch: each record and its ownership record, upserted or deleted.
pub fn record_writes(cluster: &str, changes: &[RecordChange]) -> Vec<RecordWrite> {
    let mut out = Vec::new();
    for c in changes {
        let (ok, od) = owner_record(&c.key.name, cluster);
        match (c.action, &c.after, &c.before) {
            (Action::Delete, _, Some(before)) => {
                out.push(RecordWrite { upsert: false, key: c.key.clone(), data: before.clone() });
                out.push(RecordWrite { upsert: false, key: ok, data: od });
            }
            (_, Some(after), _) => {
                out.push(RecordWrite { upsert: true, key: c.key.clone(), data: after.clone() });
                out.push(RecordWrite { upsert: true, key: ok, data: od });
            }
            _ => {}
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResourceType {
    ControlPlane,
    Addon,
    AccessEntry,
    LaunchTemplate,
    AutoScalingGroup,
    ScheduledAction,
    DnsRecord,
}

impl ResourceType {
    pub fn label(self) -> &'static str {
        match self {
            ResourceType::ControlPlane => "eks control plane",
            ResourceType::Addon => "eks add-on",
            ResourceType::AccessEntry => "eks access entry",
            ResourceType::LaunchTemplate => "launch template",
            ResourceType::AutoScalingGroup => "auto scaling group",
            ResourceType::ScheduledAction => "scheduled action",
            ResourceType::DnsRecord => "dns record",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// A row for people: one field, old and new, as text. Derived from the steps, never read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

/// A resource's change, for people (derived by [`describe`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub resource_type: ResourceType,
    pub name: String,
    pub action: Action,
    pub fields: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub resource_type: ResourceType,
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    pub group: String,
    pub instance_id: String,
    pub reasons: Vec<String>,
}

/// A group still raised by a rolling update that was killed, and what happens next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterruptedRoll {
    pub group: String,
    /// The declared sizes the roll's tag holds.
    pub held: GroupSizes,
    /// The group's real sizes now.
    pub actual: GroupSizes,
}

impl InterruptedRoll {
    pub fn message(&self, cluster: &str) -> String {
        format!(
            "group {} still carries a rolling update that was interrupted: it is at min/max/desired {}/{}/{}, declared {}/{}/{}; `fleetform rolling-update --cluster {cluster} --yes` removes the surplus instances, restores the declared sizes and finishes the roll",
            self.group, self.actual.min, self.actual.max, self.actual.desired, self.held.min, self.held.max, self.held.desired
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPlan {
    pub cluster: String,
    pub region: String,
    /// Fingerprint of the live state the plan was computed from (see `LiveCluster::fingerprint`).
    pub fingerprint: String,
    /// What apply does, in order.
    pub steps: Vec<Step>,
    pub unchanged: Vec<String>,
    pub conflicts: Vec<Conflict>,
    pub replacements: Vec<Replacement>,
    #[serde(default)]
    pub interrupted_rolls: Vec<InterruptedRoll>,
    /// The EKS control plane the nodes join.
    #[serde(default)]
    pub control_plane: Option<super::desired::ControlPlane>,
    /// Per group whose manifest names its image (`ssm:…`, `owner/name`, `eks-optimized`): the
    /// reference and the AMI id it resolved to.
    #[serde(default)]
    pub image_sources: BTreeMap<String, String>,
    /// Per group: the launch-template version the group will use after apply.
    pub launch_template_versions: BTreeMap<String, i64>,
    /// Installed EKS add-ons whose version does not run on the target Kubernetes version.
    #[serde(default)]
    pub addon_report: Vec<super::control_plane::AddonNote>,
    /// A cluster in CONFIG_MAP authentication mode: the aws-auth ConfigMap that lets the node
    /// groups' roles join; it must be applied with kubectl (fleetform has no Kubernetes access).
    #[serde(default)]
    pub aws_auth: Option<String>,
    /// What the reader must know of the control plane (a group left behind, an update running).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Set when the node groups are not planned yet: the control plane they join does not
    /// exist (or is still being created). Apply plans them once it is ACTIVE.
    #[serde(default)]
    pub nodes_deferred: Option<String>,
    /// The groups with an uptime schedule: where they stand and what it saves.
    #[serde(default)]
    pub schedules: Vec<ScheduleReport>,
    /// What the groups cost an hour before and after (set by the command, which has the
    /// repository's price table).
    #[serde(default)]
    pub cost: Option<super::cost::PlanCost>,
}

/// One scheduled group in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleReport {
    pub group: String,
    /// `up Mon-Fri 07:30-20:00 (Europe/Paris)`.
    pub schedule: String,
    /// `up by its schedule (inside Mon-Fri 07:30-20:00) until Fri 2026-11-27 20:00 Europe/Paris`.
    pub now: String,
    /// Hours a week outside the uptime windows.
    pub weekly_down_hours: f64,
    /// Instance-hours a week the schedule saves with the group at its declared minimum, and at
    /// its maximum.
    pub node_hours_saved_at_min: f64,
    pub node_hours_saved_at_max: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub conflicts: usize,
    pub replace_instances: usize,
}

impl std::ops::AddAssign for Summary {
    fn add_assign(&mut self, o: Summary) {
        self.create += o.create;
        self.update += o.update;
        self.delete += o.delete;
        self.unchanged += o.unchanged;
        self.conflicts += o.conflicts;
        self.replace_instances += o.replace_instances;
    }
}

impl ClusterPlan {
    /// The rows people read, derived from the steps.
    pub fn changes(&self) -> Vec<Change> {
        describe(&self.steps)
    }

    pub fn summary(&self) -> Summary {
        let changes = self.changes();
        let count = |a| changes.iter().filter(|c| c.action == a).count();
        Summary {
            create: count(Action::Create),
            update: count(Action::Update),
            delete: count(Action::Delete),
            unchanged: self.unchanged.len(),
            conflicts: self.conflicts.len(),
            replace_instances: self.replacements.len(),
        }
    }

    /// No resource changes (instance replacements are the rolling update's business).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.conflicts.is_empty()
    }

    /// The steps apply carries out, and what it leaves (deletions without --allow-delete).
    pub fn executable(&self, allow_delete: bool) -> (Vec<Step>, Vec<String>) {
        if allow_delete {
            return (self.steps.clone(), Vec::new());
        }
        let mut left = Vec::new();
        let mut out = Vec::new();
        for s in &self.steps {
            match s {
                Step::DeleteAutoScalingGroup { name, .. } => left.push(format!("auto scaling group {name}")),
                Step::DeleteLaunchTemplate { name } => left.push(format!("launch template {name}")),
                Step::DeleteAccessEntry { principal, .. } => left.push(format!("eks access entry {principal}")),
                Step::DeleteControlPlane { name } => left.push(format!("eks control plane {name}")),
                Step::ChangeRecords { zone, zone_id, cluster, changes } => {
                    let (del, keep): (Vec<&RecordChange>, Vec<&RecordChange>) = changes.iter().partition(|c| c.action == Action::Delete);
                    left.extend(del.iter().map(|c| format!("dns record {}", c.key)));
                    if !keep.is_empty() {
                        out.push(Step::ChangeRecords { zone: zone.clone(), zone_id: zone_id.clone(), cluster: cluster.clone(), changes: keep.into_iter().cloned().collect() });
                    }
                }
                other => out.push(other.clone()),
            }
        }
        (out, left)
    }
}

/// What a step may run beside: the executor runs a plan phase by phase, and inside a phase
/// the steps of different lanes at once (a lane's own steps in order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// The control plane, its add-ons and access entries: one step at a time, nothing beside
    /// (EKS takes one change at a time, and most of these wait for it).
    ControlPlane,
    /// A node group: its launch template, then the group, then its scheduled actions.
    Group(String),
    /// A hosted zone's one batch of record changes, beside the groups (records name load
    /// balancers and addresses, not nodes: nothing waits for the other).
    Zone(String),
    /// A deletion: the group before the template it launched from; after everything else,
    /// so a renamed group's successor is up before it goes.
    Delete(String),
}

impl Lane {
    /// Steps of one phase: consecutive steps whose lanes are of one kind.
    pub fn phase(&self) -> u8 {
        match self {
            Lane::ControlPlane => 0,
            Lane::Group(_) | Lane::Zone(_) => 1,
            Lane::Delete(_) => 2,
        }
    }
}

/// The steps as the executor runs them: phases in plan order (each a maximal run of
/// consecutive steps whose lanes are of one kind), each phase as its lanes (step indices in
/// plan order). Lanes of a phase may run at once; a phase starts when the one before is done.
pub fn phases(steps: &[Step]) -> Vec<Vec<Vec<usize>>> {
    let mut out: Vec<Vec<Vec<usize>>> = Vec::new();
    let mut lanes: BTreeMap<Lane, usize> = BTreeMap::new();
    let mut phase = None;
    for (i, s) in steps.iter().enumerate() {
        let lane = s.lane();
        if phase != Some(lane.phase()) {
            phase = Some(lane.phase());
            out.push(Vec::new());
            lanes.clear();
        }
        let current = out.last_mut().expect("a phase was pushed");
        match lanes.get(&lane) {
            Some(&l) => current[l].push(i),
            None => {
                lanes.insert(lane, current.len());
                current.push(vec![i]);
            }
        }
    }
    out
}

impl Step {
    /// The lane the step runs in (see [`Lane`]).
    pub fn lane(&self) -> Lane {
        match self {
            Step::CreateControlPlane(_)
            | Step::UpdateControlPlaneVersion { .. }
            | Step::UpdateControlPlaneConfig { .. }
            | Step::TagControlPlane { .. }
            | Step::CreateAddon { .. }
            | Step::UpdateAddon { .. }
            | Step::CreateAccessEntry { .. }
            | Step::DeleteAccessEntry { .. }
            | Step::DeleteControlPlane { .. } => Lane::ControlPlane,
            Step::CreateLaunchTemplate { name, .. }
            | Step::CreateLaunchTemplateVersion { name, .. }
            | Step::SetDefaultVersion { name, .. }
            | Step::AdoptLaunchTemplate { name, .. }
            | Step::CreateAutoScalingGroup { name, .. } => Lane::Group(name.clone()),
            Step::UpdateAutoScalingGroup(u) => Lane::Group(u.name.clone()),
            Step::PutScheduledAction { group, .. } | Step::DeleteScheduledAction { group, .. } => Lane::Group(group.clone()),
            Step::ChangeRecords { zone, .. } => Lane::Zone(zone.clone()),
            Step::DeleteAutoScalingGroup { name, .. } | Step::DeleteLaunchTemplate { name } => Lane::Delete(name.clone()),
        }
    }

    /// One line for progress and reports: "create launch template x".
    pub fn label(&self) -> String {
        match self {
            Step::CreateControlPlane(c) => format!("create EKS control plane {} (Kubernetes {}) and wait until it is ACTIVE", c.name, c.version),
            Step::UpdateControlPlaneVersion { name, from, to, .. } => format!("upgrade EKS control plane {name} from Kubernetes {from} to {to} and wait until it is ACTIVE"),
            Step::UpdateControlPlaneConfig { name, change } => format!("update the {} of EKS control plane {name} and wait until it is ACTIVE", change.what()),
            Step::TagControlPlane { name, .. } => format!("tag EKS control plane {name}"),
            Step::CreateAddon { addon, version, .. } => format!("install EKS add-on {addon} {version}"),
            Step::UpdateAddon { addon, to, .. } => format!("move EKS add-on {addon} to {to}"),
            Step::CreateAccessEntry { principal, .. } => format!("create EKS access entry (EC2_LINUX) for {principal}"),
            Step::DeleteAccessEntry { principal, .. } => format!("delete EKS access entry of {principal}"),
            Step::DeleteControlPlane { name } => format!("delete EKS control plane {name} and wait until it is gone"),
            Step::AdoptLaunchTemplate { name, .. } => format!("adopt launch template {name} (tag it as this cluster's)"),
            Step::CreateLaunchTemplate { name, .. } => format!("create launch template {name}"),
            Step::CreateLaunchTemplateVersion { name, version, .. } => format!("new version {version} of launch template {name}"),
            Step::SetDefaultVersion { name, to, .. } => format!("make version {to} the default of launch template {name}"),
            Step::CreateAutoScalingGroup { name, .. } => format!("create auto scaling group {name}"),
            Step::UpdateAutoScalingGroup(u) => format!("update auto scaling group {}", u.name),
            Step::ChangeRecords { changes, .. } => format!("change {} dns record(s)", changes.len()),
            Step::DeleteAutoScalingGroup { name, .. } => format!("delete auto scaling group {name}"),
            Step::DeleteLaunchTemplate { name } => format!("delete launch template {name}"),
            Step::PutScheduledAction { group, name, before: None, .. } => format!("create scheduled action {name} of {group}"),
            Step::PutScheduledAction { group, name, .. } => format!("change scheduled action {name} of {group}"),
            Step::DeleteScheduledAction { group, name, .. } => format!("delete scheduled action {name} of {group}"),
        }
    }
}

fn opt<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

fn push(fields: &mut Vec<FieldChange>, field: &str, old: Option<String>, new: Option<String>) {
    if old != new {
        fields.push(FieldChange { field: field.to_string(), old, new, sensitive: false });
    }
}

/// Field-by-field differences of two launch-template versions (`old` None: creation).
pub fn diff_launch_template(old: Option<&LaunchTemplateData>, new: &LaunchTemplateData) -> Vec<FieldChange> {
    let empty = LaunchTemplateData::default();
    let o = old.unwrap_or(&empty);
    let mut f = Vec::new();
    push(&mut f, "image", opt(&o.image_id), opt(&new.image_id));
    push(&mut f, "instanceType", opt(&o.instance_type), opt(&new.instance_type));
    if o.user_data != new.user_data {
        // The generated bootstrap (NodeConfig, Bottlerocket TOML) is shown; the user's own parts
        // may hold secrets and are hidden unless --show-sensitive.
        let split = |u: &Option<String>| u.as_deref().map(super::bootstrap::split_for_display).unwrap_or((None, None));
        let ((ob, oc), (nb, nc)) = (split(&o.user_data), split(&new.user_data));
        if ob != nb {
            f.push(FieldChange { field: "bootstrap".into(), old: ob, new: nb, sensitive: false });
        }
        if oc != nc {
            f.push(FieldChange { field: "userData".into(), old: oc, new: nc, sensitive: true });
        }
    }
    let (ov, nv) = (o.root_volume.clone().unwrap_or_default(), new.root_volume.clone().unwrap_or_default());
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    push(&mut f, "rootVolume.deviceName", some(&ov.device_name), some(&nv.device_name));
    push(&mut f, "rootVolume.size", opt(&ov.size_gib), opt(&nv.size_gib));
    push(&mut f, "rootVolume.type", opt(&ov.volume_type), opt(&nv.volume_type));
    push(&mut f, "rootVolume.iops", opt(&ov.iops), opt(&nv.iops));
    push(&mut f, "rootVolume.throughput", opt(&ov.throughput), opt(&nv.throughput));
    push(&mut f, "rootVolume.encrypted", opt(&ov.encrypted), opt(&nv.encrypted));
    let list = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
    push(&mut f, "securityGroups", list(&o.security_group_ids), list(&new.security_group_ids));
    push(&mut f, "iamInstanceProfile", opt(&o.iam_instance_profile), opt(&new.iam_instance_profile));
    push(&mut f, "metadata.httpTokens", opt(&o.http_tokens), opt(&new.http_tokens));
    push(&mut f, "metadata.httpPutResponseHopLimit", opt(&o.http_put_response_hop_limit), opt(&new.http_put_response_hop_limit));
    push(&mut f, "associatePublicIp", opt(&o.associate_public_ip), opt(&new.associate_public_ip));
    push(&mut f, "spotMaxPrice", opt(&o.spot_max_price), opt(&new.spot_max_price));
    push(&mut f, "detailedInstanceMonitoring", opt(&o.monitoring), opt(&new.monitoring));
    push(&mut f, "cpuCredits", opt(&o.cpu_credits), opt(&new.cpu_credits));
    f
}

/// Seconds as a duration people read (`604800` → `168h`).
fn seconds(s: i32) -> String {
    if s % 3600 == 0 { format!("{}h", s / 3600) } else { format!("{s}s") }
}

/// Field-by-field differences of two group configurations (`old` None: creation).
pub fn diff_asg(old: Option<&AsgConfig>, new: &AsgConfig) -> Vec<FieldChange> {
    let mut f = Vec::new();
    let o = old.cloned().unwrap_or_default();
    let created = old.is_none();
    let num = |n: i32, c: bool| (!c).then(|| n.to_string());
    push(&mut f, "minSize", num(o.min_size, created), Some(new.min_size.to_string()));
    push(&mut f, "maxSize", num(o.max_size, created), Some(new.max_size.to_string()));
    let list = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
    push(&mut f, "subnets", list(&o.subnet_ids), list(&new.subnet_ids));
    let lt = |c: &AsgConfig| (!c.launch_template.is_empty()).then(|| format!("{} version {}", c.launch_template, c.launch_template_version));
    push(&mut f, "launchTemplate", lt(&o), lt(new));
    let om = o.mixed_instances.clone();
    let nm = new.mixed_instances.clone();
    push(&mut f, "mixedInstancesPolicy.instances", om.as_ref().and_then(|m| list(&m.instance_types)), nm.as_ref().and_then(|m| list(&m.instance_types)));
    let req = |m: &Option<crate::core::resources::MixedInstances>| {
        m.as_ref().and_then(|m| m.requirements).map(|((c0, c1), (m0, m1))| {
            let r = |a: i32, b: Option<i32>| b.map_or(format!("{a}+"), |b| if a == b { a.to_string() } else { format!("{a}-{b}") });
            format!("vCPU {}, memory {} MiB", r(c0, c1), r(m0, m1))
        })
    };
    push(&mut f, "mixedInstancesPolicy.instanceRequirements", req(&om), req(&nm));
    push(&mut f, "mixedInstancesPolicy.onDemandBase", om.as_ref().map(|m| m.on_demand_base.to_string()), nm.as_ref().map(|m| m.on_demand_base.to_string()));
    push(&mut f, "mixedInstancesPolicy.onDemandAboveBase", om.as_ref().map(|m| m.on_demand_above_base.to_string()), nm.as_ref().map(|m| m.on_demand_above_base.to_string()));
    push(&mut f, "mixedInstancesPolicy.spotAllocationStrategy", om.as_ref().and_then(|m| m.spot_allocation_strategy.clone()), nm.as_ref().and_then(|m| m.spot_allocation_strategy.clone()));
    push(&mut f, "mixedInstancesPolicy.spotMaxPrice", om.as_ref().and_then(|m| m.spot_max_price.clone()), nm.as_ref().and_then(|m| m.spot_max_price.clone()));
    push(&mut f, "mixedInstancesPolicy.spotInstancePools", om.as_ref().and_then(|m| m.spot_instance_pools.map(|x| x.to_string())), nm.as_ref().and_then(|m| m.spot_instance_pools.map(|x| x.to_string())));
    push(&mut f, "mixedInstancesPolicy.onDemandAllocationStrategy", om.as_ref().and_then(|m| m.on_demand_allocation_strategy.clone()), nm.as_ref().and_then(|m| m.on_demand_allocation_strategy.clone()));
    push(&mut f, "capacityRebalance", (!created).then(|| o.capacity_rebalance.to_string()), Some(new.capacity_rebalance.to_string()));
    push(&mut f, "suspendProcesses", list(&o.suspended_processes), list(&new.suspended_processes));
    push(&mut f, "instanceProtection", (!created).then(|| o.protect_from_scale_in.to_string()), Some(new.protect_from_scale_in.to_string()).filter(|v| !created || v == "true"));
    push(&mut f, "maxInstanceLifetime", o.max_instance_lifetime.map(seconds), new.max_instance_lifetime.map(seconds));
    let warm = |w: &Option<super::resources::WarmPool>| {
        w.as_ref().map(|w| format!("min {}, max {}, {}", w.min_size, w.max_prepared.map_or("the group's max".to_string(), |m| m.to_string()), w.pool_state))
    };
    push(&mut f, "warmPool", warm(&o.warm_pool), warm(&new.warm_pool));
    let keys: BTreeSet<&String> = o.tags.keys().chain(new.tags.keys()).collect();
    for k in keys {
        let show = |t: Option<&AsgTag>| t.map(|t| if t.propagate_at_launch { t.value.clone() } else { format!("{} (not propagated)", t.value) });
        push(&mut f, &format!("tags.{k}"), show(o.tags.get(k)), show(new.tags.get(k)));
    }
    f
}

/// The rows people read, one per resource, derived from the steps (pure).
pub fn describe(steps: &[Step]) -> Vec<Change> {
    let mut out = Vec::new();
    let row = |rt, name: &str, action, fields, notes| Change { resource_type: rt, name: name.to_string(), action, fields, notes };
    let f = |field: &str, old: Option<String>, new: Option<String>| FieldChange { field: field.to_string(), old, new, sensitive: false };
    for s in steps {
        match s {
            Step::CreateControlPlane(c) => {
                let mut fields = vec![
                    f("kubernetesVersion", None, Some(c.version.clone())),
                    f("role", None, Some(c.role_arn.clone())),
                    f("subnets", None, Some(c.subnet_ids.join(", "))),
                    f("endpointAccess", None, Some(c.endpoint.to_string())),
                    f("authenticationMode", None, Some(c.authentication_mode.clone())),
                ];
                if !c.logging.is_empty() {
                    fields.push(f("logging", None, Some(c.logging.join(", "))));
                }
                if let Some(k) = &c.secrets_encryption_key {
                    fields.push(f("secretsEncryptionKey", None, Some(k.clone())));
                }
                if let Some(k) = &c.service_ipv4_cidr {
                    fields.push(f("serviceIpv4Cidr", None, Some(k.clone())));
                }
                for (k, v) in &c.tags {
                    fields.push(f(&format!("tags.{k}"), None, Some(v.clone())));
                }
                out.push(row(ResourceType::ControlPlane, &c.name, Action::Create, fields, vec!["apply waits until it is ACTIVE (10 to 15 minutes on AWS); the node groups are planned and created then".into()]));
            }
            Step::UpdateControlPlaneVersion { name, from, to, skew } => {
                let mut notes = vec![format!("EKS moves one minor version at a time; apply waits until the control plane is ACTIVE on {to}")];
                notes.extend(skew.iter().map(|(g, s)| format!("after this step, group {g}: {s}")));
                out.push(row(ResourceType::ControlPlane, name, Action::Update, vec![f("kubernetesVersion", Some(from.clone()), Some(to.clone()))], notes));
            }
            Step::UpdateControlPlaneConfig { name, change } => {
                let fields = match change {
                    ControlPlaneChange::EndpointAccess { before, after } => vec![f("endpointAccess", Some(before.to_string()), Some(after.to_string()))],
                    ControlPlaneChange::Logging { before, after } => {
                        let show = |v: &Vec<String>| Some(if v.is_empty() { "(none)".to_string() } else { v.join(", ") });
                        vec![f("logging", show(before), show(after))]
                    }
                    ControlPlaneChange::AuthenticationMode { from, to } => vec![f("authenticationMode", Some(from.clone()), Some(to.clone()))],
                };
                let notes = match change {
                    ControlPlaneChange::AuthenticationMode { .. } => vec!["EKS never moves the authentication mode back".to_string()],
                    _ => vec![],
                };
                out.push(row(ResourceType::ControlPlane, name, Action::Update, fields, notes));
            }
            Step::TagControlPlane { name, before, tags, .. } => {
                let fields = tags.iter().map(|(k, v)| f(&format!("tags.{k}"), before.get(k).cloned(), Some(v.clone()))).collect();
                out.push(row(ResourceType::ControlPlane, name, Action::Update, fields, vec![]));
            }
            Step::CreateAddon { addon, version, wait, .. } => out.push(row(
                ResourceType::Addon,
                addon,
                Action::Create,
                vec![f("version", None, Some(version.clone()))],
                if *wait { vec![] } else { vec!["not waited for: the cluster has no nodes yet, and an add-on such as coredns becomes ACTIVE only once nodes have joined".into()] },
            )),
            Step::UpdateAddon { addon, from, to, .. } => out.push(row(ResourceType::Addon, addon, Action::Update, vec![f("version", Some(from.clone()), Some(to.clone()))], vec![])),
            Step::CreateAccessEntry { principal, owner, .. } => out.push(row(
                ResourceType::AccessEntry,
                principal,
                Action::Create,
                vec![f("type", None, Some("EC2_LINUX".into()))],
                vec![format!("lets the node groups' instances of this role join; tagged {TAG_CLUSTER}={owner}")],
            )),
            Step::DeleteAccessEntry { principal, .. } => out.push(row(ResourceType::AccessEntry, principal, Action::Delete, vec![], vec!["no node group uses this role any more".into()])),
            Step::DeleteControlPlane { name } => out.push(row(
                ResourceType::ControlPlane,
                name,
                Action::Delete,
                vec![],
                vec!["with its add-ons and access entries; every workload still on it goes with it".into()],
            )),
            Step::AdoptLaunchTemplate { name, tags, .. } => {
                let fields = tags.iter().map(|(k, v)| f(&format!("tags.{k}"), None, Some(v.clone()))).collect();
                out.push(row(ResourceType::LaunchTemplate, name, Action::Update, fields, vec!["adopted: it exists without fleetform's tags; from now on it is this cluster's".into()]));
            }
            Step::CreateLaunchTemplate { name, data, .. } => {
                out.push(row(ResourceType::LaunchTemplate, name, Action::Create, diff_launch_template(None, data), vec!["version 1 becomes the default".into()]));
            }
            Step::CreateLaunchTemplateVersion { name, version, from, data } => {
                let from_text = from.as_ref().map_or("an unreadable version".to_string(), |f| format!("version {}", f.version));
                out.push(row(
                    ResourceType::LaunchTemplate,
                    name,
                    Action::Update,
                    diff_launch_template(from.as_ref().map(|f| &f.data), data),
                    vec![format!("new version {version} (from {from_text}) becomes the default")],
                ));
            }
            Step::SetDefaultVersion { name, from, to, reason } => {
                out.push(row(
                    ResourceType::LaunchTemplate,
                    name,
                    Action::Update,
                    vec![FieldChange { field: "defaultVersion".into(), old: Some(from.to_string()), new: Some(to.to_string()), sensitive: false }],
                    reason.iter().cloned().collect(),
                ));
            }
            Step::CreateAutoScalingGroup { name, config, desired_capacity } => {
                let mut f = diff_asg(None, config);
                f.insert(2.min(f.len()), FieldChange { field: "desiredCapacity".into(), old: None, new: Some(desired_capacity.to_string()), sensitive: false });
                out.push(row(ResourceType::AutoScalingGroup, name, Action::Create, f, vec![]));
            }
            Step::UpdateAutoScalingGroup(u) => {
                let mut f = diff_asg(Some(&u.before), &u.after);
                if let Some((o, n)) = u.desired_capacity {
                    f.push(FieldChange { field: "desiredCapacity".into(), old: Some(o.to_string()), new: Some(n.to_string()), sensitive: false });
                }
                let mut notes: Vec<String> = u
                    .rolling_hold
                    .iter()
                    .map(|h| format!("an interrupted rolling update holds this group raised: its tag {TAG_ROLLING} is rewritten to the declared sizes {}/{}/{}, which the next roll restores", h.declared.min, h.declared.max, h.declared.desired))
                    .collect();
                if u.adopted {
                    notes.push("adopted: it exists without fleetform's tags; this update tags it as this cluster's, and tags it had that are not declared go".into());
                }
                out.push(row(ResourceType::AutoScalingGroup, &u.name, Action::Update, f, notes));
            }
            Step::ChangeRecords { changes, .. } => {
                let show = |r: &RecordData| format!("{} (ttl {})", r.values.join(", "), r.ttl);
                for c in changes {
                    let notes = match c.action {
                        Action::Create => vec![format!("with ownership record {DNS_OWNER_PREFIX}{}", c.key.name)],
                        Action::Delete => vec!["no longer declared; its ownership record goes with it".into()],
                        Action::Update => vec![],
                    };
                    let field = FieldChange { field: "values".into(), old: c.before.as_ref().map(show), new: c.after.as_ref().map(show), sensitive: false };
                    out.push(row(ResourceType::DnsRecord, &c.key.to_string(), c.action, vec![field], notes));
                }
            }
            Step::DeleteAutoScalingGroup { name, instances } => {
                let n = *instances;
                out.push(row(
                    ResourceType::AutoScalingGroup,
                    name,
                    Action::Delete,
                    vec![],
                    vec![format!("no longer declared; deleting it terminates its {n} instance{}", if n == 1 { "" } else { "s" })],
                ));
            }
            Step::DeleteLaunchTemplate { name } => out.push(row(ResourceType::LaunchTemplate, name, Action::Delete, vec![], vec!["no longer declared".into()])),
            Step::PutScheduledAction { group, name, before, after } => out.push(row(
                ResourceType::ScheduledAction,
                &format!("{group}/{name}"),
                if before.is_some() { Action::Update } else { Action::Create },
                vec![f("action", before.as_ref().map(ScheduledAction::describe), Some(after.describe()))],
                vec![],
            )),
            Step::DeleteScheduledAction { group, name, before } => out.push(row(
                ResourceType::ScheduledAction,
                &format!("{group}/{name}"),
                Action::Delete,
                vec![f("action", Some(before.describe()), None)],
                vec!["the group's schedule no longer has it".into()],
            )),
        }
    }
    out.sort_by(|a, b| (a.resource_type, &a.name, a.action).cmp(&(b.resource_type, &b.name, b.action)));
    out
}

/// Which version of `lt` the group is compared with: the one it uses when that was read,
/// else the template's default.
fn current_version<'a>(lt: &'a LiveLaunchTemplate, asg: Option<&LiveAsg>) -> Option<(i64, &'a LaunchTemplateData)> {
    let used = asg.and_then(|a| a.config.launch_template_version.parse::<i64>().ok());
    let v = used.filter(|v| lt.versions.contains_key(v)).unwrap_or(lt.default_version);
    lt.versions.get(&v).map(|d| (v, d))
}

/// The plan of one cluster.
pub fn plan(d: &DesiredCluster, live: &LiveCluster) -> ClusterPlan {
    let mut template_steps = Vec::new();
    let mut group_steps = Vec::new();
    let mut delete_steps = Vec::new();
    let mut schedule_steps = Vec::new();
    let mut schedule_notes = Vec::new();
    let mut unchanged = Vec::new();
    let mut conflicts = Vec::new();
    let mut replacements = Vec::new();
    let mut interrupted_rolls = Vec::new();
    let mut versions = BTreeMap::new();

    for (name, g) in &d.groups {
        // A declared name that exists without being fleetform's is adopted when asked (never one
        // another cluster owns); else a conflict.
        let adopt_lt = match live.foreign_launch_templates.get(name) {
            Some(None) if d.adopt => live.adoptable_launch_templates.get(name),
            _ => None,
        };
        let adopt_asg = match live.foreign_asgs.get(name) {
            Some(None) if d.adopt => live.adoptable_asgs.get(name),
            _ => None,
        };
        if let Some(owner) = live.foreign_launch_templates.get(name).filter(|_| adopt_lt.is_none()) {
            conflicts.push(foreign(ResourceType::LaunchTemplate, name, owner));
            continue;
        }
        if let Some(owner) = live.foreign_asgs.get(name).filter(|_| adopt_asg.is_none()) {
            conflicts.push(foreign(ResourceType::AutoScalingGroup, name, owner));
            continue;
        }
        if let Some(lt) = adopt_lt {
            template_steps.push(Step::AdoptLaunchTemplate { name: name.clone(), id: lt.id.clone(), tags: g.launch_template_tags.clone() });
        }
        let live_asg = live.asgs.get(name).or(adopt_asg);
        let live_lt = live.launch_templates.get(name).or(adopt_lt);
        // 1. The launch template: which version will hold the desired data.
        let (target_version, lt_fields) = match live_lt {
            None => {
                template_steps.push(Step::CreateLaunchTemplate { name: name.clone(), data: g.launch_template.clone(), tags: g.launch_template_tags.clone() });
                (1, diff_launch_template(None, &g.launch_template))
            }
            Some(lt) => match current_version(lt, live_asg) {
                Some((v, data)) if *data == g.launch_template => {
                    if lt.default_version != v {
                        template_steps.push(Step::SetDefaultVersion { name: name.clone(), from: lt.default_version, to: v, reason: None });
                    } else {
                        unchanged.push(format!("launch template {name}"));
                    }
                    (v, Vec::new())
                }
                current if lt.latest_version != current.map_or(0, |(v, _)| v)
                    && lt.versions.get(&lt.latest_version) == Some(&g.launch_template) =>
                {
                    // An earlier apply created the version and stopped before making it the default.
                    let v = lt.latest_version;
                    template_steps.push(Step::SetDefaultVersion {
                        name: name.clone(),
                        from: lt.default_version,
                        to: v,
                        reason: Some(format!("version {v} already holds the declared data (an earlier apply stopped before making it the default)")),
                    });
                    (v, diff_launch_template(current.map(|(_, d)| d), &g.launch_template))
                }
                current => {
                    let next = lt.latest_version + 1;
                    template_steps.push(Step::CreateLaunchTemplateVersion {
                        name: name.clone(),
                        version: next,
                        from: current.map(|(v, d)| TemplateVersion { version: v, data: d.clone() }),
                        data: g.launch_template.clone(),
                    });
                    (next, diff_launch_template(current.map(|(_, d)| d), &g.launch_template))
                }
            },
        };
        versions.insert(name.clone(), target_version);
        // 2. The group, pointed at that version.
        let mut want = g.asg.clone();
        want.launch_template_version = target_version.to_string();
        match live_asg {
            None => group_steps.push(Step::CreateAutoScalingGroup { name: name.clone(), desired_capacity: want.min_size, config: want }),
            Some(a) => {
                let clamped = a.desired_capacity.clamp(want.min_size, want.max_size.max(want.min_size));
                let desired_capacity = (clamped != a.desired_capacity).then_some((a.desired_capacity, clamped));
                let rolling_hold = a.rolling_hold.map(|(held, actual)| RollingHold {
                    held,
                    declared: GroupSizes { min: want.min_size, max: want.max_size, desired: clamped },
                    actual,
                });
                if let Some((held, actual)) = a.rolling_hold {
                    interrupted_rolls.push(InterruptedRoll { group: name.clone(), held, actual });
                }
                let u = GroupUpdate { name: name.clone(), before: a.config.clone(), after: want, desired_capacity, rolling_hold, adopted: adopt_asg.is_some() };
                if u.before == u.after && u.desired_capacity.is_none() {
                    unchanged.push(format!("auto scaling group {name}"));
                } else {
                    // With a hold, the declared sizes go into the tag, not into min/max/desired.
                    let u = match u.rolling_hold {
                        Some(_) => GroupUpdate { desired_capacity: None, ..u },
                        None => u,
                    };
                    group_steps.push(Step::UpdateAutoScalingGroup(u));
                }
                replacements.extend(replacements_of(name, g, a, target_version, &lt_fields));
            }
        }
        // 3. Its scheduled actions: fleetform's own are made to match the schedule; anyone
        // else's are left, and named when they could fight it.
        schedule_steps.extend(plan_scheduled_actions(name, g, live_asg, &mut unchanged));
        if let Some(a) = live_asg.filter(|a| !a.held_processes.is_empty() && a.rolling_hold.is_none()) {
            schedule_notes.push(format!(
                "auto scaling group {name}: an interrupted rolling update left {} suspended (tag {TAG_ROLLING_SUSPENDED}); apply gives them back",
                a.held_processes.join(", ")
            ));
        }
        if let (Some(s), Some(a)) = (&g.schedule, live_asg) {
            if !a.other_scheduled_actions.is_empty() {
                schedule_notes.push(format!(
                    "auto scaling group {name} has scheduled actions fleetform did not make ({}): they run beside its schedule ({}) and may undo it; delete them if the schedule replaces them",
                    a.other_scheduled_actions.join(", "),
                    s.summary
                ));
            }
        }
    }

    // Owned resources no longer declared (not while the node groups wait for their control
    // plane: they are not planned yet, which is not "no longer declared").
    if d.nodes_deferred.is_none() {
        for (name, a) in &live.asgs {
            if !d.groups.contains_key(name) {
                delete_steps.push(Step::DeleteAutoScalingGroup { name: name.clone(), instances: a.instances.len() });
            }
        }
        for name in live.launch_templates.keys() {
            if !d.groups.contains_key(name) {
                delete_steps.push(Step::DeleteLaunchTemplate { name: name.clone() });
            }
        }
    }
    // The control plane first (created, upgraded, its add-ons, the access entries that let
    // the nodes join); then templates before the groups that use them, DNS beside them (apply runs
    // the records with the groups: they name load balancers, not nodes),
    // deletions last (groups before the templates they launched from, access entries after
    // the groups that used them).
    let cp = d
        .control_plane
        .as_ref()
        .map(|c| {
            let versions = d.groups.iter().map(|(n, g)| (n.clone(), g.kubernetes_version.clone())).collect();
            super::control_plane::plan(&d.name, c, live, &versions)
        })
        .unwrap_or_default();
    for r in &cp.refusals {
        conflicts.push(Conflict { resource_type: ResourceType::ControlPlane, name: d.control_plane.as_ref().map(|c| c.name.clone()).unwrap_or_default(), reason: r.clone() });
    }
    let mut steps = cp.steps;
    steps.extend(template_steps);
    steps.extend(group_steps);
    steps.extend(schedule_steps);
    steps.extend(plan_records(d, live, &mut unchanged, &mut conflicts));
    delete_steps.sort_by_key(|s| matches!(s, Step::DeleteLaunchTemplate { .. }));
    steps.extend(delete_steps);
    steps.extend(cp.deletions);
    ClusterPlan {
        cluster: d.name.clone(),
        region: d.region.clone(),
        fingerprint: live.fingerprint(),
        steps,
        unchanged,
        conflicts,
        replacements,
        interrupted_rolls,
        control_plane: d.eks.clone(),
        image_sources: d
            .groups
            .iter()
            .filter_map(|(n, g)| Some((n.clone(), format!("{} -> {}", g.image_source.as_ref()?, g.launch_template.image_id.as_deref().unwrap_or("?")))))
            .collect(),
        launch_template_versions: versions,
        addon_report: cp.addon_report,
        aws_auth: cp.aws_auth,
        notes: cp
            .notes
            .into_iter()
            .chain(live.autoscaler_discovered_foreign.iter().map(|g| {
                format!("auto scaling group {g} is not this cluster's but carries its cluster-autoscaler discovery tag k8s.io/cluster-autoscaler/{}: the autoscaler would scale it; remove the tag, or declare the group and adopt it", d.name)
            }))
            .chain(schedule_notes)
            .collect(),
        schedules: schedule_reports(d),
        cost: None,
        nodes_deferred: d.nodes_deferred.clone(),
    }
}

/// The steps that bring a group's own scheduled actions to its schedule (none declared: its
/// own are deleted).
fn plan_scheduled_actions(group: &str, g: &DesiredGroup, live: Option<&LiveAsg>, unchanged: &mut Vec<String>) -> Vec<Step> {
    let empty = BTreeMap::new();
    let want = g.schedule.as_ref().map_or(&empty, |s| &s.actions);
    let have = live.map_or(&empty, |a| &a.scheduled_actions);
    let mut steps = Vec::new();
    for (n, a) in want {
        let first = g.schedule.as_ref().and_then(|s| s.first_runs.get(n)).map(String::as_str);
        match have.get(n) {
            Some(h) if a.matches(h, first) => unchanged.push(format!("scheduled action {group}/{n}")),
            h => steps.push(Step::PutScheduledAction { group: group.to_string(), name: n.clone(), before: h.cloned(), after: a.clone() }),
        }
    }
    for (n, h) in have {
        if !want.contains_key(n) {
            steps.push(Step::DeleteScheduledAction { group: group.to_string(), name: n.clone(), before: h.clone() });
        }
    }
    steps
}

/// Per scheduled group: its schedule, where it stands, and the node-hours it saves a week.
fn schedule_reports(d: &DesiredCluster) -> Vec<ScheduleReport> {
    d.groups
        .iter()
        .filter_map(|(name, g)| {
            let s = g.schedule.as_ref()?;
            Some(ScheduleReport {
                group: name.clone(),
                schedule: s.summary.clone(),
                now: s.now.describe(),
                weekly_down_hours: s.weekly_down_hours,
                node_hours_saved_at_min: s.weekly_down_hours * f64::from(s.declared_min),
                node_hours_saved_at_max: s.weekly_down_hours * f64::from(s.declared_max),
            })
        })
        .collect()
}

fn foreign(rt: ResourceType, name: &str, owner: &Option<String>) -> Conflict {
    let reason = match owner {
        Some(c) => format!("exists and belongs to cluster `{c}`; two clusters cannot own one {}", rt.label()),
        None => format!(
            "exists but is not managed by fleetform (no {TAG_CLUSTER} tag), e.g. kops's; fleetform takes it over only when asked: plan and apply with --adopt (or spec.adopt: true), or rename the node group, or delete the existing {}",
            rt.label()
        ),
    };
    Conflict { resource_type: rt, name: name.to_string(), reason }
}

/// Instances of a group that a rolling update would replace, with why.
fn replacements_of(name: &str, g: &DesiredGroup, a: &LiveAsg, target: i64, lt_fields: &[FieldChange]) -> Vec<Replacement> {
    let mut out = Vec::new();
    let key_changes: Vec<String> = lt_fields
        .iter()
        .map(|f| match (&f.sensitive, &f.old, &f.new) {
            (true, _, _) => format!("{} changes", f.field),
            (_, o, n) if o.as_deref().is_some_and(|v| v.contains('\n')) || n.as_deref().is_some_and(|v| v.contains('\n')) => format!("{} changes", f.field),
            (false, o, n) => format!("{} {} -> {}", f.field, o.as_deref().unwrap_or("(none)"), n.as_deref().unwrap_or("(none)")),
        })
        .collect();
    for i in &a.instances {
        if i.lifecycle_state.starts_with("Terminat") || i.lifecycle_state == "Detached" {
            continue;
        }
        let mut reasons = Vec::new();
        let version = i.launch_template_version.clone().unwrap_or_else(|| "unknown".into());
        if version != target.to_string() {
            let detail = if key_changes.is_empty() { String::new() } else { format!(": {}", key_changes.join(", ")) };
            reasons.push(format!("launch template version {version} -> {target}{detail}"));
        } else if let (Some(have), Some(want)) = (&i.image_id, &g.launch_template.image_id) {
            if have != want {
                reasons.push(format!("runs image {have}, the group wants {want}"));
            }
        }
        // A node on another Kubernetes version than its group's image (an upgrade whose new
        // image happens to be the same AMI would otherwise leave it).
        if let (Some(have), Some(want)) = (&i.kubernetes_version, &g.kubernetes_version) {
            if have != want && reasons.is_empty() {
                reasons.push(format!("runs Kubernetes {have}, the group wants {want}"));
            }
        }
        // An empty list: the group selects types by attributes (instanceRequirements).
        if !g.allowed_types.is_empty() && !g.allowed_types.contains(&i.instance_type) {
            reasons.push(format!("instance type {} is no longer allowed", i.instance_type));
        }
        if !reasons.is_empty() {
            out.push(Replacement { group: name.to_string(), instance_id: i.id.clone(), reasons });
        }
    }
    out
}

fn plan_records(d: &DesiredCluster, live: &LiveCluster, unchanged: &mut Vec<String>, conflicts: &mut Vec<Conflict>) -> Option<Step> {
    if d.records.is_empty() && live.records.values().all(|r| r.owner.as_deref() != Some(&d.name)) {
        return None;
    }
    let zone = d.dns_zone.clone().unwrap_or_default();
    let Some(zone_id) = live.zone_id.clone() else {
        if d.dns_zone.is_some() && !d.records.is_empty() {
            conflicts.push(Conflict {
                resource_type: ResourceType::DnsRecord,
                name: zone,
                reason: "hosted zone not found in Route53; create it (fleetform references zones, never creates them) or fix spec.dnsZone".into(),
            });
        }
        return None;
    };
    let mut changes = Vec::new();
    for (key, want) in &d.records {
        match live.records.get(key) {
            None => changes.push(RecordChange { key: key.clone(), action: Action::Create, before: None, after: Some(want.clone()) }),
            Some(have) if have.owner.as_deref() == Some(&d.name) => {
                if have.data == *want {
                    unchanged.push(format!("dns record {key}"));
                } else {
                    changes.push(RecordChange { key: key.clone(), action: Action::Update, before: Some(have.data.clone()), after: Some(want.clone()) });
                }
            }
            Some(have) => conflicts.push(Conflict {
                resource_type: ResourceType::DnsRecord,
                name: key.to_string(),
                reason: match &have.owner {
                    Some(c) => format!("exists and belongs to cluster `{c}`"),
                    None => format!(
                        "exists but has no ownership record; fleetform never takes over what it does not own: delete it by hand, or adopt it by creating {DNS_OWNER_PREFIX}{} TXT {}",
                        key.name,
                        owner_value(&d.name)
                    ),
                },
            }),
        }
    }
    for (key, have) in &live.records {
        if have.owner.as_deref() == Some(&d.name) && !d.records.contains_key(key) {
            changes.push(RecordChange { key: key.clone(), action: Action::Delete, before: Some(have.data.clone()), after: None });
        }
    }
    (!changes.is_empty()).then(|| Step::ChangeRecords { zone, zone_id, cluster: d.name.clone(), changes })
}

/// What AWS would look like after a perfect apply of `d` (for tests and for the property).
pub fn live_of(d: &DesiredCluster) -> LiveCluster {
    let mut live = LiveCluster::default();
    for (name, g) in &d.groups {
        live.launch_templates.insert(
            name.clone(),
            LiveLaunchTemplate {
                id: format!("lt-{}", name.len()),
                default_version: 1,
                latest_version: 1,
                versions: [(1, g.launch_template.clone())].into_iter().collect(),
            },
        );
        let mut config = g.asg.clone();
        config.launch_template_version = "1".into();
        let scheduled_actions = g.schedule.as_ref().map(|s| s.actions.clone()).unwrap_or_default();
        live.asgs.insert(name.clone(), LiveAsg { desired_capacity: config.min_size, config, instances: vec![], rolling_hold: None, scheduled_actions, other_scheduled_actions: Vec::new(), held_processes: Vec::new() });
    }
    if let Some(cp) = &d.control_plane {
        let version = cp.version.clone().or_else(|| d.eks.as_ref().map(|e| e.version.clone())).unwrap_or_default();
        let mut addon_versions = BTreeMap::new();
        let mut addons = BTreeMap::new();
        for a in &cp.addons {
            let v = a.version.clone().unwrap_or_else(|| format!("{}-default", a.name));
            let compat = super::live::AddonCompat { kubernetes: [version.clone()].into(), default_for: [version.clone()].into() };
            addon_versions.insert(a.name.clone(), super::live::AddonVersions { versions: [(v.clone(), compat)].into() });
            addons.insert(a.name.clone(), super::live::LiveAddon { version: v, status: "ACTIVE".into() });
        }
        live.addon_versions = addon_versions;
        live.eks = Some(Ok(super::live::EksCluster {
            name: cp.name.clone(),
            endpoint: "https://EXAMPLE.eks.amazonaws.com".into(),
            version,
            status: "ACTIVE".into(),
            subnet_ids: cp.subnet_ids.clone(),
            endpoint_public: cp.endpoint_public.unwrap_or(true),
            endpoint_private: cp.endpoint_private.unwrap_or(false),
            public_cidrs: cp.public_cidrs.clone().unwrap_or_else(|| vec!["0.0.0.0/0".into()]),
            logging: cp.logging.clone().unwrap_or_default(),
            secrets_encryption_key: cp.secrets_encryption_key.clone(),
            service_cidr: cp.service_ipv4_cidr.clone().unwrap_or_else(|| "10.100.0.0/16".into()),
            tags: cp.tags.clone(),
            authentication_mode: cp.authentication_mode.clone().unwrap_or_else(|| "API".into()),
            access_entries: cp.node_roles.iter().map(|r| (r.clone(), super::live::AccessEntry { entry_type: "EC2_LINUX".into(), owner: Some(d.name.clone()) })).collect(),
            addons,
            ..Default::default()
        }));
    }
    if d.dns_zone.is_some() {
        live.zone_id = Some("Z1".into());
    }
    for (k, r) in &d.records {
        live.records.insert(k.clone(), super::live::LiveRecord { data: r.clone(), owner: Some(d.name.clone()) });
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::desired::desired;
    use crate::core::live::{ImageInfo, LiveInstance};
    use crate::core::model::Manifest;
    use crate::core::render::render_cluster;
    use crate::core::values::SetOverride;

    fn example(cluster: &str, sets: &[&str]) -> Manifest {
        let repo = crate::repo::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let sets: Vec<SetOverride> = sets.iter().map(|s| s.parse().unwrap()).collect();
        render_cluster(&repo, cluster, &sets).unwrap().manifest
    }

    /// What the AWS layer would read for `m`: its EKS cluster, images (every reference
    /// resolving to ami-760aaa0f unless it names an id), subnets, instance profiles.
    fn facts(m: &Manifest) -> LiveCluster {
        let mut live = LiveCluster { zone_id: Some("Z1".into()), ..Default::default() };
        live.eks = m.eks_name().map(|name| {
            Ok(crate::core::live::EksCluster {
                name,
                endpoint: "https://EXAMPLE.gr7.eu-west-3.eks.amazonaws.com".into(),
                certificate_authority: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==".into(),
                service_cidr: "172.20.0.0/16".into(),
                security_group_id: Some("sg-0cluster".into()),
                vpc_id: Some("vpc-1".into()),
                version: "1.31".into(),
                status: "ACTIVE".into(),
                authentication_mode: "API_AND_CONFIG_MAP".into(),
                logging: {
                    let mut l = m.cluster.spec.eks.as_ref().and_then(|e| e.logging.clone()).unwrap_or_default();
                    l.sort();
                    l
                },
                addons: m.cluster.spec.eks.iter().flat_map(|e| &e.addons).map(|a| (a.name.clone(), crate::core::live::LiveAddon { version: format!("{}-1.31", a.name), status: "ACTIVE".into() })).collect(),
                tags: {
                    let mut t = m.cluster.spec.cloud_labels.clone();
                    t.extend(m.cluster.spec.eks.as_ref().map(|e| e.tags.clone()).unwrap_or_default());
                    t.insert(TAG_CLUSTER.into(), m.name().into());
                    t
                },
                ..Default::default()
            })
        });
        // EKS's add-on catalogue: each declared add-on has one version, for 1.31.
        for a in m.cluster.spec.eks.iter().flat_map(|e| &e.addons) {
            let compat = crate::core::live::AddonCompat { kubernetes: ["1.31".to_string()].into(), default_for: ["1.31".to_string()].into() };
            live.addon_versions.insert(a.name.clone(), crate::core::live::AddonVersions { versions: [(format!("{}-1.31", a.name), compat)].into() });
        }
        for g in &m.groups {
            match crate::core::desired::image_ref(m, g, Some("1.31")).unwrap() {
                crate::core::desired::ImageRef::Id(id) => {
                    live.images.insert(id, ImageInfo { root_device_name: "/dev/xvda".into(), architecture: "x86_64".into(), name: String::new() });
                }
                other => {
                    live.image_refs.insert(other.key(), Ok("ami-760aaa0f".into()));
                    live.images.insert("ami-760aaa0f".into(), ImageInfo { root_device_name: "/dev/xvda".into(), architecture: "x86_64".into(), name: String::new() });
                }
            }
            if let Some(i) = &g.spec().iam {
                live.instance_profiles.insert(i.profile.clone(), Ok(format!("arn:aws:iam::123456789012:instance-profile/{}", i.profile)));
            }
        }
        for s in &m.cluster.spec.subnets {
            live.subnets.insert(s.name.clone(), format!("subnet-{}", s.zone));
        }
        live
    }

    fn with_facts(mut live: LiveCluster, m: &Manifest) -> LiveCluster {
        let f = facts(m);
        live.images = f.images;
        live.subnets = f.subnets;
        // The control plane as live_of made it (matching the declaration), reached at the
        // facts' endpoint.
        live.eks = match (live.eks.take(), f.eks) {
            (Some(Ok(mine)), Some(Ok(theirs))) => Some(Ok(crate::core::live::EksCluster { endpoint: theirs.endpoint, certificate_authority: theirs.certificate_authority, security_group_id: theirs.security_group_id, service_cidr: theirs.service_cidr, ..mine })),
            (_, f) => f,
        };
        live.image_refs = f.image_refs;
        for (k, v) in f.addon_versions {
            live.addon_versions.entry(k).or_insert(v);
        }
        live.instance_profiles = f.instance_profiles;
        live
    }

    const CLUSTERS: [&str; 2] = ["prod-customer.k8s.foo.bar", "staging.k8s.foo.bar"];

    #[test]
    fn plan_of_desired_against_itself_is_empty() {
        // Property over many variations of the inputs: plan(d, d) has no changes.
        let variations: &[&[&str]] = &[
            &[],
            &["spot.maxSize=3"],
            &["image=ami-0123456789abcdef0"],
            &["zones=[eu-west-3a, eu-west-3b]", "region=eu-west-3"],
            &["admin.machineType=m5.2xlarge", "onDemand.minSize=2"],
            &["ingressAddresses=[198.51.100.1, 198.51.100.2, 198.51.100.3]"],
            &["rollingUpdate.maxSurge=25%"],
        ];
        for c in CLUSTERS {
            for v in variations {
                if c.starts_with("staging") && v.iter().any(|s| s.starts_with("zones")) {
                    continue;
                }
                let m = example(c, v);
                let d = desired(&m, &facts(&m)).unwrap();
                let p = plan(&d, &with_facts(live_of(&d), &m));
                assert!(p.is_empty(), "{c} {v:?}: {:#?}", p.changes());
                assert!(p.replacements.is_empty());
                let actions: usize = d.groups.values().filter_map(|g| g.schedule.as_ref()).map(|s| s.actions.len()).sum();
                assert_eq!(p.unchanged.len(), 2 * m.groups.len() + m.cluster.spec.dns_records.len() + actions);
            }
        }
    }

    #[test]
    fn empty_account_creates_everything() {
        let m = example(CLUSTERS[0], &[]);
        let d = desired(&m, &facts(&m)).unwrap();
        let p = plan(&d, &facts(&m));
        let s = p.summary();
        assert_eq!((s.create, s.update, s.delete), (2 * m.groups.len() + 2, 0, 0));
        let changes = p.changes();
        let asg = changes.iter().find(|c| c.name == "spot-nodes-app-4x.prod-customer.k8s.foo.bar" && c.resource_type == ResourceType::AutoScalingGroup).unwrap();
        let f = |n: &str| asg.fields.iter().find(|f| f.field == n).and_then(|f| f.new.clone());
        assert_eq!(f("maxSize").as_deref(), Some("100"));
        assert_eq!(f("desiredCapacity").as_deref(), Some("1"));
        assert_eq!(f("mixedInstancesPolicy.spotAllocationStrategy").as_deref(), Some("capacity-optimized"));
        assert_eq!(f("tags.k8s.io/cluster-autoscaler/prod-customer.k8s.foo.bar").as_deref(), Some("owned (not propagated)"));
        assert_eq!(f("tags.k8s.io/cluster-autoscaler/node-template/label/lifecycle").as_deref(), Some("spot (not propagated)"));
    }

    #[test]
    fn drift_is_an_update_back_and_instances_are_replaced() {
        let m = example(CLUSTERS[0], &[]);
        let d = desired(&m, &facts(&m)).unwrap();
        let mut live = with_facts(live_of(&d), &m);
        let name = "on-demand-app-4x.prod-customer.k8s.foo.bar";
        let a = live.asgs.get_mut(name).unwrap();
        a.config.max_size = 7; // changed by hand in the console
        a.desired_capacity = 60; // above the declared max: clamped
        a.instances.push(LiveInstance {
            id: "i-1".into(),
            availability_zone: "eu-west-3a".into(),
            lifecycle_state: "InService".into(),
            health_status: "Healthy".into(),
            instance_type: "c5.4xlarge".into(),
            image_id: Some("ami-760aaa0f".into()),
            launch_template_version: Some("1".into()),
            private_dns_name: Some("ip-10-0-0-1.eu-west-3.compute.internal".into()),
            kubernetes_version: Some("1.31".into()),
            launch_time: None,
        });
        let p = plan(&d, &live);
        assert_eq!(p.changes().len(), 1, "{:#?}", p.changes());
        let c = &p.changes()[0];
        assert_eq!((c.action, c.name.as_str()), (Action::Update, name));
        let fields: Vec<(&str, Option<&str>, Option<&str>)> = c.fields.iter().map(|f| (f.field.as_str(), f.old.as_deref(), f.new.as_deref())).collect();
        assert_eq!(fields, vec![("maxSize", Some("7"), Some("50")), ("desiredCapacity", Some("60"), Some("50"))]);
        assert!(p.replacements.is_empty(), "same version and image: nothing to replace");

        // An image change: a new template version, and the instance is out of date.
        let m2 = example(CLUSTERS[0], &["image=ami-0new"]);
        let mut facts2 = facts(&m2);
        facts2.images.insert("ami-760aaa0f".into(), ImageInfo { root_device_name: "/dev/xvda".into(), architecture: "x86_64".into(), name: String::new() });
        let d2 = desired(&m2, &facts2).unwrap();
        let mut live2 = live.clone();
        live2.images = facts2.images.clone();
        let p2 = plan(&d2, &live2);
        let changes2 = p2.changes();
        let lt = changes2.iter().find(|c| c.name == name && c.resource_type == ResourceType::LaunchTemplate).unwrap();
        assert_eq!(lt.fields[0].field, "image");
        assert_eq!(lt.notes, vec!["new version 2 (from version 1) becomes the default".to_string()]);
        let asg = changes2.iter().find(|c| c.name == name && c.resource_type == ResourceType::AutoScalingGroup).unwrap();
        assert!(asg.fields.iter().any(|f| f.field == "launchTemplate" && f.new.as_deref() == Some(&format!("{name} version 2")[..])));
        assert_eq!(p2.replacements.len(), 1);
        assert_eq!(p2.replacements[0].reasons, vec!["launch template version 1 -> 2: image ami-760aaa0f -> ami-0new".to_string()]);
    }

    #[test]
    fn removed_groups_are_deleted_and_foreign_names_conflict() {
        let m = example(CLUSTERS[1], &[]);
        let d = desired(&m, &facts(&m)).unwrap();
        let mut live = with_facts(live_of(&d), &m);
        let old = live.asgs.values().next().unwrap().clone();
        live.asgs.insert("retired.staging.k8s.foo.bar".into(), old);
        let taken = "admin-nodes.staging.k8s.foo.bar";
        live.asgs.remove(taken);
        live.launch_templates.remove(taken);
        live.foreign_asgs.insert(taken.into(), None);
        let p = plan(&d, &live);
        let changes = p.changes();
        let del: Vec<&str> = changes.iter().filter(|c| c.action == Action::Delete).map(|c| c.name.as_str()).collect();
        assert_eq!(del, vec!["retired.staging.k8s.foo.bar"]);
        assert_eq!(p.conflicts.len(), 1);
        assert!(p.conflicts[0].reason.contains("not managed by fleetform"));
        assert!(!p.changes().iter().any(|c| c.name == taken), "a foreign group is never planned for change");
    }

    #[test]
    fn records_are_only_changed_when_owned() {
        let m = example(CLUSTERS[1], &[]);
        let d = desired(&m, &facts(&m)).unwrap();
        let mut live = with_facts(live_of(&d), &m);
        let key = d.records.keys().next().unwrap().clone();
        live.records.get_mut(&key).unwrap().owner = None;
        let stale = RecordKey { name: "old.staging.k8s.foo.bar.".into(), record_type: "A".into() };
        live.records.insert(stale.clone(), crate::core::live::LiveRecord { data: RecordData { ttl: 60, values: vec!["192.0.2.1".into()] }, owner: Some(d.name.clone()) });
        let foreign = RecordKey { name: "other.staging.k8s.foo.bar.".into(), record_type: "A".into() };
        live.records.insert(foreign, crate::core::live::LiveRecord { data: RecordData { ttl: 60, values: vec!["192.0.2.2".into()] }, owner: None });
        let p = plan(&d, &live);
        assert_eq!(p.conflicts.len(), 1, "{:#?}", p.conflicts);
        assert_eq!(p.conflicts[0].name, key.to_string());
        let changes = p.changes();
        let del: Vec<&str> = changes.iter().filter(|c| c.action == Action::Delete).map(|c| c.name.as_str()).collect();
        assert_eq!(del, vec!["old.staging.k8s.foo.bar. A"]);
    }

    #[test]
    fn node_groups_wait_for_a_control_plane_that_is_missing_or_being_created() {
        let m = example(CLUSTERS[1], &[]);
        let mut live = facts(&m);
        // Being created: the node groups are planned once it is ACTIVE; nothing is deleted.
        if let Some(Ok(e)) = &mut live.eks {
            e.status = "CREATING".into();
        }
        let mut with_groups = live.clone();
        with_groups.asgs.insert("old.staging.k8s.foo.bar".into(), LiveAsg { config: AsgConfig::default(), desired_capacity: 1, instances: vec![], rolling_hold: None, scheduled_actions: Default::default(), other_scheduled_actions: Vec::new(), held_processes: Vec::new() });
        let d = desired(&m, &with_groups).unwrap();
        assert!(d.groups.is_empty() && d.nodes_deferred.as_deref().is_some_and(|w| w.contains("still being created")), "{d:#?}");
        let p = plan(&d, &with_groups);
        assert!(p.steps.iter().all(|s| !matches!(s, Step::DeleteAutoScalingGroup { .. } | Step::CreateAutoScalingGroup { .. })), "{:#?}", p.steps);
        // Failed or being deleted: one error naming it.
        if let Some(Ok(e)) = &mut live.eks {
            e.status = "FAILED".into();
        }
        let errs = desired(&m, &live).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("EKS cluster staging-k8s-foo-bar in eu-west-1 is FAILED"), "{errs:?}");
        // Missing, with a cluster role declared: created first, the nodes after.
        live.eks = Some(Err("no EKS cluster of that name in eu-west-1".into()));
        live.cluster_role = Some(Ok("arn:aws:iam::123456789012:role/eks-cluster".into()));
        let d = desired(&m, &live).unwrap();
        let p = plan(&d, &live);
        assert!(matches!(&p.steps[0], Step::CreateControlPlane(c) if c.name == "staging-k8s-foo-bar" && c.role_arn.ends_with("role/eks-cluster")), "{:#?}", p.steps);
        assert!(p.nodes_deferred.is_some() && p.conflicts.is_empty(), "{p:#?}");
        // Missing, and nothing says how to create it: one error saying what to declare.
        let m = example(CLUSTERS[1], &["eksRole=null"]);
        let errs = desired(&m, &live).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("declare spec.eks.role"), "{errs:?}");
    }

}
