//! Desired AWS state of a cluster, computed from its manifest and the few live facts it needs
//! (subnet ids, the root device of each image). Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::autoscaler::discovery_tags;
use super::live::LiveCluster;
use super::model::{Hooks, IntOrPercent, Manifest, NodeGroup, Role, ValidationConfig};
use super::resources::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredCluster {
    pub name: String,
    pub region: String,
    /// By AWS name `<group>.<cluster>`.
    pub groups: BTreeMap<String, DesiredGroup>,
    pub dns_zone: Option<String>,
    pub records: BTreeMap<RecordKey, RecordData>,
    /// `s3://bucket/prefix` holding the lock and the audit trail.
    pub state_store: Option<String>,
    #[serde(default)]
    pub hooks: Hooks,
    #[serde(default)]
    pub validation: ValidationConfig,
    #[serde(default)]
    pub wave: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredGroup {
    /// The NodeGroup's own name.
    pub group: String,
    pub role: Role,
    pub critical: bool,
    pub launch_template: LaunchTemplateData,
    pub launch_template_tags: BTreeMap<String, String>,
    /// `launch_template_version` is left empty: the plan fills in the version that will hold
    /// `launch_template`.
    pub asg: AsgConfig,
    /// Instance types an instance of this group may run.
    pub allowed_types: Vec<String>,
    /// Rolling-update settings: the group's, else the cluster's.
    #[serde(default)]
    pub max_surge: Option<IntOrPercent>,
    #[serde(default)]
    pub max_unavailable: Option<IntOrPercent>,
}

/// Build the desired state; errors are the live facts that are missing (unknown image, subnet).
pub fn desired(m: &Manifest, live: &LiveCluster) -> Result<DesiredCluster, Vec<String>> {
    let cluster = m.name();
    let mut errors = Vec::new();
    let mut groups = BTreeMap::new();
    // One error per missing image, naming every group that uses it.
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for g in &m.groups {
        if !live.images.contains_key(&g.spec().image) {
            missing.entry(&g.spec().image).or_default().push(g.name());
        }
    }
    for (image, users) in &missing {
        errors.push(format!(
            "image {image} was not found in {} (node groups {}); check the AMI id and that it is shared with this account",
            m.cluster.spec.region,
            users.join(", ")
        ));
    }
    for g in m.groups.iter().filter(|g| live.images.contains_key(&g.spec().image)) {
        match desired_group(m, g, live) {
            Ok(d) => {
                groups.insert(m.aws_name(g.name()), d);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut records = BTreeMap::new();
    for r in &m.cluster.spec.dns_records {
        let key = RecordKey { name: fqdn(&r.name), record_type: r.record_type.clone() };
        let mut values: Vec<String> = r
            .values
            .iter()
            .map(|v| match r.record_type.as_str() {
                "TXT" if !v.starts_with('"') => format!("\"{v}\""),
                "CNAME" => fqdn(v),
                _ => v.clone(),
            })
            .collect();
        values.sort();
        records.insert(key, RecordData { ttl: i64::from(r.ttl), values });
    }
    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        return Err(errors);
    }
    Ok(DesiredCluster {
        name: cluster.to_string(),
        region: m.cluster.spec.region.clone(),
        groups,
        dns_zone: m.cluster.spec.dns_zone.as_deref().map(fqdn),
        records,
        state_store: m.cluster.spec.state_store.clone(),
        hooks: m.cluster.spec.hooks.clone().unwrap_or_default(),
        validation: m.cluster.spec.validation.clone().unwrap_or_default(),
        wave: m.cluster.spec.wave.unwrap_or(0),
    })
}

fn desired_group(m: &Manifest, g: &NodeGroup, live: &LiveCluster) -> Result<DesiredGroup, Vec<String>> {
    let s = g.spec();
    let cluster = m.name();
    let region = &m.cluster.spec.region;
    let mut errors = Vec::new();
    let image = live.images.get(&s.image);
    let mut subnet_ids = Vec::new();
    for sn in &s.subnets {
        match live.subnets.get(sn) {
            Some(id) => subnet_ids.push(id.clone()),
            None => errors.push(match live.subnet_problems.get(sn) {
                Some(why) => format!("subnet `{sn}`: {why}"),
                None => format!("subnet `{sn}` could not be resolved in {region}"),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let Some(image) = image else { return Err(vec![format!("image {} was not found in {region}", s.image)]) };
    subnet_ids.sort();
    subnet_ids.dedup();
    let root_volume = s.root_volume.as_ref().map(|rv| BlockDevice {
        device_name: image.root_device_name.clone(),
        size_gib: rv.size.map(|x| x as i32),
        volume_type: rv.volume_type.clone(),
        iops: rv.iops.map(|x| x as i32),
        throughput: rv.throughput.map(|x| x as i32),
        encrypted: rv.encryption,
    });
    let mut sgs = s.additional_security_groups.clone();
    sgs.sort();
    let md = s.instance_metadata.as_ref();
    let launch_template = LaunchTemplateData {
        image_id: Some(s.image.clone()),
        instance_type: Some(s.machine_type.clone()),
        user_data: user_data(g),
        root_volume,
        security_group_ids: sgs,
        iam_instance_profile: s.iam.as_ref().map(|i| i.profile.clone()),
        http_tokens: Some(md.and_then(|m| m.http_tokens.clone()).unwrap_or_else(|| "required".into())),
        http_put_response_hop_limit: Some(md.and_then(|m| m.http_put_response_hop_limit).unwrap_or(1) as i32),
    };
    let aws_name = m.aws_name(g.name());
    let mut lt_tags = BTreeMap::new();
    lt_tags.insert(TAG_MANAGED_BY.to_string(), "fleetform".to_string());
    lt_tags.insert(TAG_CLUSTER.to_string(), cluster.to_string());
    lt_tags.insert(TAG_GROUP.to_string(), g.name().to_string());
    let mixed = s.mixed_instances_policy.as_ref().map(|p| MixedInstances {
        instance_types: p.instances.clone(),
        on_demand_base: p.on_demand_base.unwrap_or(0) as i32,
        on_demand_above_base: p.on_demand_above_base.unwrap_or(0) as i32,
        spot_allocation_strategy: Some(p.spot_allocation_strategy.clone().unwrap_or_else(|| "lowest-price".into())),
    });
    let asg = AsgConfig {
        min_size: s.min_size as i32,
        max_size: s.max_size as i32,
        subnet_ids,
        launch_template: aws_name,
        launch_template_version: String::new(),
        mixed_instances: mixed,
        capacity_rebalance: s.capacity_rebalance.unwrap_or(false),
        tags: asg_tags(m, g),
    };
    Ok(DesiredGroup {
        group: g.name().to_string(),
        role: s.role,
        critical: s.critical,
        launch_template,
        launch_template_tags: lt_tags,
        asg,
        allowed_types: s.instance_types().into_iter().map(str::to_string).collect(),
        max_surge: s.rolling_update.as_ref().and_then(|r| r.max_surge).or_else(|| m.cluster.spec.rolling_update.as_ref().and_then(|r| r.max_surge)),
        max_unavailable: s
            .rolling_update
            .as_ref()
            .and_then(|r| r.max_unavailable)
            .or_else(|| m.cluster.spec.rolling_update.as_ref().and_then(|r| r.max_unavailable)),
    })
}

/// Tags of a group: ownership, kops's, cloudLabels, and the cluster-autoscaler's.
pub fn asg_tags(m: &Manifest, g: &NodeGroup) -> BTreeMap<String, AsgTag> {
    let cluster = m.name();
    let s = g.spec();
    let mut t = BTreeMap::new();
    let mut put = |k: String, v: String, propagate: bool| {
        t.insert(k, AsgTag { value: v, propagate_at_launch: propagate });
    };
    for (k, v) in &m.cluster.spec.cloud_labels {
        put(k.clone(), v.clone(), true);
    }
    for (k, v) in &s.cloud_labels {
        put(k.clone(), v.clone(), true);
    }
    put("Name".into(), m.aws_name(g.name()), true);
    put(TAG_MANAGED_BY.into(), "fleetform".into(), true);
    put(TAG_CLUSTER.into(), cluster.into(), true);
    put(TAG_GROUP.into(), g.name().into(), true);
    put("KubernetesCluster".into(), cluster.into(), true);
    put(format!("kubernetes.io/cluster/{cluster}"), "owned".into(), true);
    let role = match s.role {
        Role::ControlPlane => "control-plane",
        Role::APIServer => "apiserver",
        Role::Node => "node",
        Role::Bastion => "bastion",
    };
    put(format!("k8s.io/role/{role}"), "1".into(), true);
    if s.autoscaled() {
        let [enabled, owned] = discovery_tags(cluster);
        put(enabled, "true".into(), false);
        put(owned, "owned".into(), false);
        for (k, v) in &s.node_labels {
            put(format!("k8s.io/cluster-autoscaler/node-template/label/{k}"), v.clone(), false);
        }
        for taint in &s.taints {
            let (kv, effect) = taint.rsplit_once(':').unwrap_or((taint, "NoSchedule"));
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            put(format!("k8s.io/cluster-autoscaler/node-template/taint/{k}"), format!("{v}:{effect}"), false);
        }
    }
    t
}

/// User data from `additionalUserData`: one shell script as it is; several parts as a MIME
/// multipart document with a fixed boundary (deterministic).
pub fn user_data(g: &NodeGroup) -> Option<String> {
    let parts = &g.spec().additional_user_data;
    match parts.len() {
        0 => None,
        1 if parts[0].content_type == "text/x-shellscript" => Some(parts[0].content.clone()),
        _ => {
            let b = "FLEETFORMBOUNDARY";
            let mut s = format!("Content-Type: multipart/mixed; boundary=\"{b}\"\nMIME-Version: 1.0\n");
            for p in parts {
                s.push_str(&format!(
                    "\n--{b}\nContent-Type: {}; charset=\"us-ascii\"\nContent-Disposition: attachment; filename=\"{}\"\n\n{}\n",
                    p.content_type, p.name, p.content.trim_end()
                ));
            }
            s.push_str(&format!("\n--{b}--\n"));
            Some(s)
        }
    }
}
