//! `plan(desired, live) -> ClusterPlan`: the pure heart of fleetform.
//!
//! Per resource: create, update (each changed field as old → new), delete (an owned resource no
//! longer declared), or unchanged. Only resources the cluster owns (by tag, or by DNS ownership
//! record) are ever updated or deleted; a declared name that exists without being ours is a
//! conflict, never a takeover. The plan also says which instances a rolling update would replace
//! and why — the launch-template version they run, their image, or an instance type no longer
//! allowed. Everything is ordered (BTreeMap), so the same inputs give the same plan.
//! Property, tested below: `plan(d, live_of(d))` is empty.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::desired::{DesiredCluster, DesiredGroup};
use super::live::{LiveAsg, LiveCluster, LiveLaunchTemplate};
use super::resources::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResourceType {
    LaunchTemplate,
    AutoScalingGroup,
    DnsRecord,
}

impl ResourceType {
    pub fn label(self) -> &'static str {
        match self {
            ResourceType::LaunchTemplate => "launch template",
            ResourceType::AutoScalingGroup => "auto scaling group",
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPlan {
    pub cluster: String,
    pub region: String,
    /// Fingerprint of the live state the plan was computed from (see `LiveCluster::fingerprint`).
    pub fingerprint: String,
    pub changes: Vec<Change>,
    pub unchanged: Vec<String>,
    pub conflicts: Vec<Conflict>,
    pub replacements: Vec<Replacement>,
    /// Per group: the launch-template version the group will use after apply.
    pub launch_template_versions: std::collections::BTreeMap<String, i64>,
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
    pub fn summary(&self) -> Summary {
        let count = |a| self.changes.iter().filter(|c| c.action == a).count();
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
        self.changes.is_empty() && self.conflicts.is_empty()
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
        f.push(FieldChange { field: "userData".into(), old: o.user_data.clone(), new: new.user_data.clone(), sensitive: true });
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
    f
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
    push(&mut f, "mixedInstancesPolicy.onDemandBase", om.as_ref().map(|m| m.on_demand_base.to_string()), nm.as_ref().map(|m| m.on_demand_base.to_string()));
    push(&mut f, "mixedInstancesPolicy.onDemandAboveBase", om.as_ref().map(|m| m.on_demand_above_base.to_string()), nm.as_ref().map(|m| m.on_demand_above_base.to_string()));
    push(&mut f, "mixedInstancesPolicy.spotAllocationStrategy", om.as_ref().and_then(|m| m.spot_allocation_strategy.clone()), nm.as_ref().and_then(|m| m.spot_allocation_strategy.clone()));
    push(&mut f, "capacityRebalance", (!created).then(|| o.capacity_rebalance.to_string()), Some(new.capacity_rebalance.to_string()));
    let keys: BTreeSet<&String> = o.tags.keys().chain(new.tags.keys()).collect();
    for k in keys {
        let show = |t: Option<&AsgTag>| t.map(|t| if t.propagate_at_launch { t.value.clone() } else { format!("{} (not propagated)", t.value) });
        push(&mut f, &format!("tags.{k}"), show(o.tags.get(k)), show(new.tags.get(k)));
    }
    f
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
    let mut changes = Vec::new();
    let mut unchanged = Vec::new();
    let mut conflicts = Vec::new();
    let mut replacements = Vec::new();
    let mut versions = std::collections::BTreeMap::new();

    for (name, g) in &d.groups {
        if let Some(owner) = live.foreign_launch_templates.get(name) {
            conflicts.push(foreign(ResourceType::LaunchTemplate, name, owner));
            continue;
        }
        if let Some(owner) = live.foreign_asgs.get(name) {
            conflicts.push(foreign(ResourceType::AutoScalingGroup, name, owner));
            continue;
        }
        let live_asg = live.asgs.get(name);
        let live_lt = live.launch_templates.get(name);
        // 1. The launch template: which version will hold the desired data.
        let (target_version, lt_fields) = match live_lt {
            None => {
                let fields = diff_launch_template(None, &g.launch_template);
                changes.push(Change {
                    resource_type: ResourceType::LaunchTemplate,
                    name: name.clone(),
                    action: Action::Create,
                    fields: fields.clone(),
                    notes: vec!["version 1 becomes the default".into()],
                });
                (1, fields)
            }
            Some(lt) => match current_version(lt, live_asg) {
                Some((v, data)) if *data == g.launch_template => {
                    if lt.default_version != v {
                        changes.push(Change {
                            resource_type: ResourceType::LaunchTemplate,
                            name: name.clone(),
                            action: Action::Update,
                            fields: vec![FieldChange { field: "defaultVersion".into(), old: Some(lt.default_version.to_string()), new: Some(v.to_string()), sensitive: false }],
                            notes: vec![],
                        });
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
                    changes.push(Change {
                        resource_type: ResourceType::LaunchTemplate,
                        name: name.clone(),
                        action: Action::Update,
                        fields: vec![FieldChange { field: "defaultVersion".into(), old: Some(lt.default_version.to_string()), new: Some(v.to_string()), sensitive: false }],
                        notes: vec![format!("version {v} already holds the declared data (an earlier apply stopped before making it the default)")],
                    });
                    let fields = diff_launch_template(current.map(|(_, d)| d), &g.launch_template);
                    (v, fields)
                }
                current => {
                    let next = lt.latest_version + 1;
                    let fields = diff_launch_template(current.map(|(_, d)| d), &g.launch_template);
                    let from = current.map_or("an unreadable version".to_string(), |(v, _)| format!("version {v}"));
                    changes.push(Change {
                        resource_type: ResourceType::LaunchTemplate,
                        name: name.clone(),
                        action: Action::Update,
                        fields: fields.clone(),
                        notes: vec![format!("new version {next} (from {from}) becomes the default")],
                    });
                    (next, fields)
                }
            },
        };
        versions.insert(name.clone(), target_version);
        // 2. The group, pointed at that version.
        let mut want = g.asg.clone();
        want.launch_template_version = target_version.to_string();
        match live_asg {
            None => changes.push(Change {
                resource_type: ResourceType::AutoScalingGroup,
                name: name.clone(),
                action: Action::Create,
                fields: {
                    let mut f = diff_asg(None, &want);
                    f.insert(2, FieldChange { field: "desiredCapacity".into(), old: None, new: Some(want.min_size.to_string()), sensitive: false });
                    f
                },
                notes: vec![],
            }),
            Some(a) => {
                let mut fields = diff_asg(Some(&a.config), &want);
                let clamped = a.desired_capacity.clamp(want.min_size, want.max_size.max(want.min_size));
                if clamped != a.desired_capacity {
                    fields.push(FieldChange {
                        field: "desiredCapacity".into(),
                        old: Some(a.desired_capacity.to_string()),
                        new: Some(clamped.to_string()),
                        sensitive: false,
                    });
                }
                if fields.is_empty() {
                    unchanged.push(format!("auto scaling group {name}"));
                } else {
                    changes.push(Change { resource_type: ResourceType::AutoScalingGroup, name: name.clone(), action: Action::Update, fields, notes: vec![] });
                }
                replacements.extend(replacements_of(name, g, a, target_version, &lt_fields));
            }
        }
    }

    // Owned resources no longer declared.
    for (name, a) in &live.asgs {
        if !d.groups.contains_key(name) {
            let n = a.instances.len();
            changes.push(Change {
                resource_type: ResourceType::AutoScalingGroup,
                name: name.clone(),
                action: Action::Delete,
                fields: vec![],
                notes: vec![format!("no longer declared; deleting it terminates its {n} instance{}", if n == 1 { "" } else { "s" })],
            });
        }
    }
    for name in live.launch_templates.keys() {
        if !d.groups.contains_key(name) {
            changes.push(Change { resource_type: ResourceType::LaunchTemplate, name: name.clone(), action: Action::Delete, fields: vec![], notes: vec!["no longer declared".into()] });
        }
    }

    plan_records(d, live, &mut changes, &mut unchanged, &mut conflicts);

    changes.sort_by(|a, b| (a.resource_type, &a.name, a.action).cmp(&(b.resource_type, &b.name, b.action)));
    ClusterPlan {
        cluster: d.name.clone(),
        region: d.region.clone(),
        fingerprint: live.fingerprint(),
        changes,
        unchanged,
        conflicts,
        replacements,
        launch_template_versions: versions,
    }
}

fn foreign(rt: ResourceType, name: &str, owner: &Option<String>) -> Conflict {
    let reason = match owner {
        Some(c) => format!("exists and belongs to cluster `{c}`; two clusters cannot own one {}", rt.label()),
        None => format!(
            "exists but is not managed by fleetform (no {TAG_CLUSTER} tag); fleetform never takes over what it does not own: rename the node group, or delete or tag the existing {} by hand",
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
        if !g.allowed_types.contains(&i.instance_type) {
            reasons.push(format!("instance type {} is no longer allowed", i.instance_type));
        }
        if !reasons.is_empty() {
            out.push(Replacement { group: name.to_string(), instance_id: i.id.clone(), reasons });
        }
    }
    out
}

fn plan_records(d: &DesiredCluster, live: &LiveCluster, changes: &mut Vec<Change>, unchanged: &mut Vec<String>, conflicts: &mut Vec<Conflict>) {
    if d.records.is_empty() && live.records.values().all(|r| r.owner.as_deref() != Some(&d.name)) {
        return;
    }
    if d.dns_zone.is_some() && live.zone_id.is_none() && !d.records.is_empty() {
        conflicts.push(Conflict {
            resource_type: ResourceType::DnsRecord,
            name: d.dns_zone.clone().unwrap_or_default(),
            reason: "hosted zone not found in Route53; create it (fleetform references zones, never creates them) or fix spec.dnsZone".into(),
        });
        return;
    }
    let show = |r: &RecordData| format!("{} (ttl {})", r.values.join(", "), r.ttl);
    for (key, want) in &d.records {
        let name = key.to_string();
        match live.records.get(key) {
            None => changes.push(Change {
                resource_type: ResourceType::DnsRecord,
                name,
                action: Action::Create,
                fields: vec![FieldChange { field: "values".into(), old: None, new: Some(show(want)), sensitive: false }],
                notes: vec![format!("with ownership record {DNS_OWNER_PREFIX}{}", key.name)],
            }),
            Some(have) if have.owner.as_deref() == Some(&d.name) => {
                if have.data == *want {
                    unchanged.push(format!("dns record {name}"));
                } else {
                    changes.push(Change {
                        resource_type: ResourceType::DnsRecord,
                        name,
                        action: Action::Update,
                        fields: vec![FieldChange { field: "values".into(), old: Some(show(&have.data)), new: Some(show(want)), sensitive: false }],
                        notes: vec![],
                    });
                }
            }
            Some(have) => conflicts.push(Conflict {
                resource_type: ResourceType::DnsRecord,
                name,
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
            changes.push(Change {
                resource_type: ResourceType::DnsRecord,
                name: key.to_string(),
                action: Action::Delete,
                fields: vec![FieldChange { field: "values".into(), old: Some(show(&have.data)), new: None, sensitive: false }],
                notes: vec!["no longer declared; its ownership record goes with it".into()],
            });
        }
    }
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
        live.asgs.insert(name.clone(), LiveAsg { desired_capacity: config.min_size, config, instances: vec![] });
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

    fn facts(m: &Manifest) -> LiveCluster {
        let mut live = LiveCluster { zone_id: Some("Z1".into()), ..Default::default() };
        for g in &m.groups {
            live.images.insert(g.spec().image.clone(), ImageInfo { root_device_name: "/dev/xvda".into(), architecture: "x86_64".into() });
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
            &["zones=[eu-west-3a]", "region=eu-west-3"],
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
                assert!(p.is_empty(), "{c} {v:?}: {:#?}", p.changes);
                assert!(p.replacements.is_empty());
                assert_eq!(p.unchanged.len(), 2 * m.groups.len() + m.cluster.spec.dns_records.len());
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
        let asg = p.changes.iter().find(|c| c.name == "spot-nodes-app-4x.prod-customer.k8s.foo.bar" && c.resource_type == ResourceType::AutoScalingGroup).unwrap();
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
        });
        let p = plan(&d, &live);
        assert_eq!(p.changes.len(), 1, "{:#?}", p.changes);
        let c = &p.changes[0];
        assert_eq!((c.action, c.name.as_str()), (Action::Update, name));
        let fields: Vec<(&str, Option<&str>, Option<&str>)> = c.fields.iter().map(|f| (f.field.as_str(), f.old.as_deref(), f.new.as_deref())).collect();
        assert_eq!(fields, vec![("maxSize", Some("7"), Some("50")), ("desiredCapacity", Some("60"), Some("50"))]);
        assert!(p.replacements.is_empty(), "same version and image: nothing to replace");

        // An image change: a new template version, and the instance is out of date.
        let m2 = example(CLUSTERS[0], &["image=ami-0new"]);
        let mut facts2 = facts(&m2);
        facts2.images.insert("ami-760aaa0f".into(), ImageInfo { root_device_name: "/dev/xvda".into(), architecture: "x86_64".into() });
        let d2 = desired(&m2, &facts2).unwrap();
        let mut live2 = live.clone();
        live2.images = facts2.images.clone();
        let p2 = plan(&d2, &live2);
        let lt = p2.changes.iter().find(|c| c.name == name && c.resource_type == ResourceType::LaunchTemplate).unwrap();
        assert_eq!(lt.fields[0].field, "image");
        assert_eq!(lt.notes, vec!["new version 2 (from version 1) becomes the default".to_string()]);
        let asg = p2.changes.iter().find(|c| c.name == name && c.resource_type == ResourceType::AutoScalingGroup).unwrap();
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
        let del: Vec<&str> = p.changes.iter().filter(|c| c.action == Action::Delete).map(|c| c.name.as_str()).collect();
        assert_eq!(del, vec!["retired.staging.k8s.foo.bar"]);
        assert_eq!(p.conflicts.len(), 1);
        assert!(p.conflicts[0].reason.contains("not managed by fleetform"));
        assert!(!p.changes.iter().any(|c| c.name == taken), "a foreign group is never planned for change");
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
        let del: Vec<&str> = p.changes.iter().filter(|c| c.action == Action::Delete).map(|c| c.name.as_str()).collect();
        assert_eq!(del, vec!["old.staging.k8s.foo.bar. A"]);
    }
}
