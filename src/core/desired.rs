//! Desired AWS state of a cluster, computed from its manifest and the few live facts it needs
//! (subnet ids, the root device of each image). Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::autoscaler::discovery_tags;
use super::bootstrap::{self, ClusterConnection};
use super::control_plane::DesiredControlPlane;
use super::live::LiveCluster;
use super::model::{Bootstrap, Hooks, IntOrPercent, Manifest, NodeGroup, Role, ValidationConfig};
use super::resources::*;
use super::schedule::{Schedule, ScheduleState, ScheduledAction};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Groups rolled at once and instances out of service at once across them (the cluster's
    /// rollingUpdate.maxConcurrentGroups and clusterMaxUnavailable, unresolved).
    #[serde(default)]
    pub max_concurrent_groups: Option<u32>,
    #[serde(default)]
    pub cluster_max_unavailable: Option<IntOrPercent>,
    #[serde(default)]
    pub wave: u32,
    /// The EKS cluster the nodes join, as it was read.
    #[serde(default)]
    pub eks: Option<ControlPlane>,
    /// The EKS control plane as declared.
    #[serde(default)]
    pub control_plane: Option<DesiredControlPlane>,
    /// Why the node groups are not planned yet (their control plane does not exist yet).
    #[serde(default)]
    pub nodes_deferred: Option<String>,
    /// Take over declared names that exist without fleetform's tags (`spec.adopt`, `--adopt`).
    #[serde(default)]
    pub adopt: bool,
}

/// The EKS control plane, as the plan shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlane {
    pub name: String,
    pub version: String,
    pub status: String,
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
    /// How the nodes join.
    #[serde(default = "custom")]
    pub bootstrap: Bootstrap,
    /// Where the image id came from, when the manifest names it (`ssm:…`, `owner/name`,
    /// `eks-optimized`).
    #[serde(default)]
    pub image_source: Option<String>,
    /// The Kubernetes version of its node image, when the image reference says it (the
    /// EKS-optimized and Bottlerocket parameters do).
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    /// Its uptime schedule, as of the moment the live state was read.
    #[serde(default)]
    pub schedule: Option<GroupSchedule>,
    /// The availability zones of its subnets, sorted.
    #[serde(default)]
    pub zones: Vec<String>,
}

/// A group's schedule: the scheduled actions that keep it, and where it stands now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSchedule {
    /// `up Mon-Fri 07:30-20:00 (Europe/Paris)`.
    pub summary: String,
    pub now: ScheduleState,
    /// The declared sizes the windows bring back (the group's own min and max).
    pub declared_min: i32,
    pub declared_max: i32,
    /// Hours a week outside the windows.
    pub weekly_down_hours: f64,
    /// The scheduled actions, by name.
    pub actions: BTreeMap<String, ScheduledAction>,
    /// Per recurring action with a start: its first run, which AWS may report as its start.
    pub first_runs: BTreeMap<String, String>,
    /// Its changes of state in the fortnight after the read: (`YYYY-MM-DDThh:mm:ssZ`, up).
    #[serde(default)]
    pub changes: Vec<(String, bool)>,
}

impl GroupSchedule {
    /// Up or down at `t` (within the fortnight the changes cover).
    pub fn up_at(&self, t: jiff::Timestamp) -> bool {
        self.changes.iter().rev().find(|(at, _)| at.parse::<jiff::Timestamp>().is_ok_and(|a| a <= t)).map_or(self.now.up, |(_, up)| *up)
    }
}

fn custom() -> Bootstrap {
    Bootstrap::Custom
}

/// What the manifest's `image` of a group is, for the reader and for the desired state alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    Id(String),
    /// An SSM parameter holding an AMI id (`ssm:/path`, or the public parameter behind
    /// `eks-optimized`).
    Ssm(String),
    /// The newest image of `owner` named `name` (wildcards allowed), as kops resolves it.
    Named { owner: String, name: String },
}

impl ImageRef {
    /// The key of the live view's resolutions.
    pub fn key(&self) -> String {
        match self {
            ImageRef::Id(id) => id.clone(),
            ImageRef::Ssm(p) => format!("ssm:{p}"),
            ImageRef::Named { owner, name } => format!("{owner}/{name}"),
        }
    }
}

/// AWS's public SSM parameter of the EKS-optimized image of a Kubernetes version, bootstrap
/// family and architecture.
pub fn eks_optimized_parameter(family: Bootstrap, version: &str, arch: &str) -> Option<String> {
    match family {
        Bootstrap::Al2023 => Some(format!("/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/{arch}/standard/recommended/image_id")),
        Bootstrap::Bottlerocket => Some(format!("/aws/service/bottlerocket/aws-k8s-{version}/{arch}/latest/image_id")),
        Bootstrap::Custom => None,
    }
}

/// The image reference of a group. `eks_version`: the control plane's version, as read (the
/// manifest's `spec.eks.kubernetesVersion` wins).
pub fn image_ref(m: &Manifest, g: &NodeGroup, eks_version: Option<&str>) -> Result<ImageRef, String> {
    let image = g.spec().image.trim();
    if image.starts_with("ami-") {
        return Ok(ImageRef::Id(image.to_string()));
    }
    if let Some(p) = image.strip_prefix("ssm:") {
        return Ok(ImageRef::Ssm(p.to_string()));
    }
    if image == "eks-optimized" {
        let family = m.bootstrap_of(g);
        let version = m.cluster.spec.eks.as_ref().and_then(|e| e.kubernetes_version.clone()).or(eks_version.map(str::to_string)).ok_or_else(|| {
            format!("node group `{}`: `eks-optimized` needs the cluster's Kubernetes version: set spec.eks.kubernetesVersion, or let fleetform read it from the EKS cluster", g.name())
        })?;
        let arch = super::instance_types::lookup(&g.spec().machine_type).map(|t| t.arch).ok_or_else(|| {
            format!("node group `{}`: the architecture of {} is not in fleetform's table, so `eks-optimized` cannot choose an image; write the image as ssm:/… or an AMI id", g.name(), g.spec().machine_type)
        })?;
        return eks_optimized_parameter(family, &version, arch)
            .map(ImageRef::Ssm)
            .ok_or_else(|| format!("node group `{}`: `eks-optimized` needs bootstrap al2023 or bottlerocket (it is custom)", g.name()));
    }
    match image.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() => Ok(ImageRef::Named { owner: owner.to_string(), name: name.to_string() }),
        _ => Err(format!("node group `{}`: image `{image}` is neither an AMI id, `owner/name`, `ssm:/path` nor `eks-optimized`", g.name())),
    }
}

/// Build the desired state; errors are the live facts that are missing (unknown image, subnet).
pub fn desired(m: &Manifest, live: &LiveCluster) -> Result<DesiredCluster, Vec<String>> {
    let cluster = m.name();
    let mut errors = Vec::new();
    let mut groups = BTreeMap::new();
    // The EKS control plane the nodes join: it must exist and be ACTIVE.
    let mut conn = None;
    let mut control_plane = None;
    let mut nodes_deferred = None;
    if let Some(name) = m.eks_name() {
        let creatable = m.cluster.spec.eks.as_ref().is_some_and(|e| e.role.is_some());
        match &live.eks {
            // While an update runs, the endpoint and CA are those nodes join with.
            Some(Ok(e)) if matches!(e.status.as_str(), "ACTIVE" | "UPDATING") && !e.endpoint.is_empty() => {
                conn = Some(ClusterConnection { name: e.name.clone(), endpoint: e.endpoint.clone(), certificate_authority: e.certificate_authority.clone(), service_cidr: e.service_cidr.clone() });
                control_plane = Some(ControlPlane { name: e.name.clone(), version: e.version.clone(), status: e.status.clone() });
            }
            Some(Ok(e)) if e.status == "CREATING" => {
                nodes_deferred = Some(format!("EKS cluster {name} is still being created: the node groups are planned once it is ACTIVE (apply waits for it)"));
            }
            Some(Ok(e)) => errors.push(format!(
                "EKS cluster {name} in {} is {}: nodes cannot join it; see aws eks describe-cluster --name {name}",
                m.cluster.spec.region, e.status
            )),
            Some(Err(_)) if creatable => {
                nodes_deferred = Some(format!("EKS cluster {name} does not exist yet: the node groups are planned once apply has created it and it is ACTIVE"));
            }
            Some(Err(why)) => errors.push(format!(
                "EKS cluster {name}: {why}; to let fleetform create it, declare spec.eks.role (the cluster IAM role) and spec.eks.kubernetesVersion"
            )),
            None => errors.push(format!("EKS cluster {name} was not read")),
        }
    }
    // Without a control plane to join, nothing else about the nodes can be decided: one error.
    if m.eks_name().is_some() && conn.is_none() && nodes_deferred.is_none() {
        return Err(errors);
    }
    let desired_cp = m.cluster.spec.eks.as_ref().map(|e| desired_control_plane(m, e, live, &mut errors));
    let eks_version = match &live.eks {
        Some(Ok(e)) => Some(e.version.as_str()),
        _ => None,
    };
    // One error per image that cannot be resolved, naming every group that uses it.
    let mut missing: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut resolved: BTreeMap<&str, (String, Option<String>)> = BTreeMap::new();
    for g in m.groups.iter().filter(|_| nodes_deferred.is_none()) {
        let r = match image_ref(m, g, eks_version) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let id = match &r {
            ImageRef::Id(id) => Ok(id.clone()),
            other => live.image_refs.get(&other.key()).cloned().unwrap_or_else(|| Err("was not resolved".to_string())),
        };
        match id {
            Ok(id) if live.images.contains_key(&id) => {
                let source = (!matches!(r, ImageRef::Id(_))).then(|| if g.spec().image.trim() == "eks-optimized" { format!("eks-optimized: {}", r.key()) } else { r.key() });
                resolved.insert(g.name(), (id, source));
            }
            Ok(id) => missing
                .entry(format!(
                    "image {id}{} was not found in {}",
                    if matches!(r, ImageRef::Id(_)) { String::new() } else { format!(" (from {})", r.key()) },
                    m.cluster.spec.region
                ))
                .or_default()
                .push(g.name()),
            Err(why) => missing.entry(format!("image {}: {why}", r.key())).or_default().push(g.name()),
        }
    }
    for (what, users) in &missing {
        errors.push(format!("{what} (node groups {}); check the image and that it is shared with this account", users.join(", ")));
    }
    for g in m.groups.iter() {
        let Some((image_id, source)) = resolved.get(g.name()) else { continue };
        let version = match image_ref(m, g, eks_version) {
            Ok(ImageRef::Ssm(p)) => super::control_plane::version_in_parameter(&p),
            _ => None,
        };
        match desired_group(m, g, live, image_id, source.clone(), conn.as_ref(), version) {
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
        max_concurrent_groups: m.cluster.spec.rolling_update.as_ref().and_then(|r| r.max_concurrent_groups),
        cluster_max_unavailable: m.cluster.spec.rolling_update.as_ref().and_then(|r| r.cluster_max_unavailable),
        wave: m.cluster.spec.wave.unwrap_or(0),
        eks: control_plane,
        control_plane: desired_cp,
        nodes_deferred,
        adopt: m.cluster.spec.adopt.unwrap_or(false),
    })
}

/// The control plane as declared, its names resolved with the live view.
fn desired_control_plane(m: &Manifest, e: &super::model::EksSpec, live: &LiveCluster, errors: &mut Vec<String>) -> DesiredControlPlane {
    let cluster = m.name();
    let names: Vec<&str> = if e.subnets.is_empty() { m.cluster.spec.subnets.iter().map(|s| s.name.as_str()).collect() } else { e.subnets.iter().map(String::as_str).collect() };
    let creating = !matches!(live.eks, Some(Ok(_)));
    let mut subnet_ids = Vec::new();
    for n in names {
        match live.subnets.get(n) {
            Some(id) => subnet_ids.push(id.clone()),
            // Needed to create the control plane, or to compare declared subnets.
            None if creating || !e.subnets.is_empty() => errors.push(match live.subnet_problems.get(n) {
                Some(why) => format!("control plane subnet `{n}`: {why}"),
                None => format!("control plane subnet `{n}` could not be resolved in {}", m.cluster.spec.region),
            }),
            None => {}
        }
    }
    subnet_ids.sort();
    let mut tags: BTreeMap<String, String> = m.cluster.spec.cloud_labels.clone();
    tags.extend(e.tags.clone());
    tags.insert(TAG_CLUSTER.to_string(), cluster.to_string());
    let mut node_roles = std::collections::BTreeSet::new();
    for g in &m.groups {
        if let Some(i) = &g.spec().iam {
            node_roles.extend(live.instance_profile_roles.get(&i.profile).cloned().unwrap_or_default());
        }
    }
    let mut logging = e.logging.clone();
    if let Some(l) = &mut logging {
        l.sort();
        l.dedup();
    }
    DesiredControlPlane {
        name: m.eks_name().unwrap_or_default(),
        version: e.kubernetes_version.clone(),
        role_arn: match &live.cluster_role {
            Some(Ok(arn)) => Some(arn.clone()),
            _ => None,
        },
        subnet_ids,
        subnets_declared: !e.subnets.is_empty(),
        endpoint_public: e.endpoint_access.as_ref().and_then(|a| a.public),
        endpoint_private: e.endpoint_access.as_ref().and_then(|a| a.private),
        public_cidrs: e.endpoint_access.as_ref().map(|a| a.public_cidrs.clone()).filter(|c| !c.is_empty()),
        logging,
        secrets_encryption_key: e.secrets_encryption_key.clone(),
        tags,
        authentication_mode: e.authentication_mode.clone(),
        service_ipv4_cidr: e.service_ipv4_cidr.clone(),
        addons: e.addons.clone(),
        node_roles,
    }
}

fn desired_group(m: &Manifest, g: &NodeGroup, live: &LiveCluster, image_id: &str, image_source: Option<String>, conn: Option<&ClusterConnection>, kubernetes_version: Option<String>) -> Result<DesiredGroup, Vec<String>> {
    let s = g.spec();
    let cluster = m.name();
    let region = &m.cluster.spec.region;
    let mut errors = Vec::new();
    let image = live.images.get(image_id);
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
    // Security groups: the EKS cluster's own (nodes talk to the control plane through it), then
    // the group's, by id or by name in the cluster's VPC.
    let mut sgs = Vec::new();
    if m.cluster.spec.eks.is_some() {
        if let Some(Ok(e)) = &live.eks {
            match &e.security_group_id {
                Some(id) => sgs.push(id.clone()),
                None => errors.push(format!("EKS cluster {} reports no cluster security group", e.name)),
            }
        }
    }
    for r in &s.additional_security_groups {
        match live.security_groups.get(r) {
            Some(Ok(id)) => sgs.push(id.clone()),
            Some(Err(why)) => errors.push(format!("node group `{}`: security group `{r}`: {why}", g.name())),
            None => errors.push(format!("node group `{}`: security group `{r}` was not looked up", g.name())),
        }
    }
    let profile = s.iam.as_ref().map(|i| i.profile.clone());
    if let Some(p) = &profile {
        match live.instance_profiles.get(p) {
            Some(Ok(_)) => {}
            Some(Err(why)) => errors.push(format!("node group `{}`: instance profile `{p}`: {why}", g.name())),
            None => errors.push(format!("node group `{}`: instance profile `{p}` was not looked up", g.name())),
        }
    }
    let format = m.bootstrap_of(g);
    let user_data = match bootstrap::user_data(format, conn, s) {
        Ok(u) => u,
        Err(e) => {
            errors.push(format!("node group `{}`: {e}", g.name()));
            None
        }
    };
    if let Some(u) = &user_data {
        let encoded = u.len().div_ceil(3) * 4;
        if encoded > 16 * 1024 {
            errors.push(format!("node group `{}`: its user data is {encoded} bytes after base64; EC2 takes 16384 (move large files to S3 or the image)", g.name()));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let Some(image) = image else { return Err(vec![format!("image {image_id} was not found in {region}")]) };
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
    sgs.sort();
    sgs.dedup();
    let md = s.instance_metadata.as_ref();
    let launch_template = LaunchTemplateData {
        image_id: Some(image_id.to_string()),
        instance_type: Some(s.machine_type.clone()),
        user_data,
        root_volume,
        security_group_ids: sgs,
        iam_instance_profile: profile,
        associate_public_ip: s.associate_public_ip,
        spot_max_price: if s.mixed_instances_policy.is_none() { s.max_price.as_deref().map(super::resources::normalize_price) } else { None },
        monitoring: s.detailed_instance_monitoring,
        cpu_credits: s.cpu_credits.clone(),
        http_tokens: Some(md.and_then(|m| m.http_tokens.clone()).unwrap_or_else(|| "required".into())),
        http_put_response_hop_limit: Some(md.and_then(|m| m.http_put_response_hop_limit).unwrap_or(1) as i32),
    };
    let aws_name = m.aws_name(g.name());
    let mut lt_tags = BTreeMap::new();
    lt_tags.insert(TAG_MANAGED_BY.to_string(), "fleetform".to_string());
    lt_tags.insert(TAG_CLUSTER.to_string(), cluster.to_string());
    lt_tags.insert(TAG_GROUP.to_string(), g.name().to_string());
    // AWS's defaults written out (it reports them back): 100% on-demand above the base,
    // lowest-price spot over 2 pools, on-demand in the list's order.
    let mixed = s.mixed_instances_policy.as_ref().map(|p| {
        let strategy = p.spot_allocation_strategy.clone().unwrap_or_else(|| "lowest-price".into());
        MixedInstances {
            instance_types: p.instances.clone(),
            requirements: p.instance_requirements.as_ref().and_then(|r| r.ranges().ok()).map(|((c0, c1), (m0, m1))| ((c0 as i32, c1.map(|x| x as i32)), (m0 as i32, m1.map(|x| x as i32)))),
            on_demand_base: p.on_demand_base.unwrap_or(0) as i32,
            on_demand_above_base: p.on_demand_above_base.unwrap_or(100) as i32,
            spot_instance_pools: (strategy == "lowest-price").then(|| p.spot_instance_pools.unwrap_or(2) as i32),
            spot_allocation_strategy: Some(strategy),
            spot_max_price: s.max_price.as_deref().map(super::resources::normalize_price),
            on_demand_allocation_strategy: Some(p.on_demand_allocation_strategy.clone().unwrap_or_else(|| "prioritized".into())),
        }
    });
    let asg = AsgConfig {
        min_size: s.min_size as i32,
        max_size: s.max_size as i32,
        subnet_ids,
        launch_template: aws_name,
        launch_template_version: String::new(),
        mixed_instances: mixed,
        capacity_rebalance: s.capacity_rebalance.unwrap_or(false),
        suspended_processes: {
            let mut p = s.suspend_processes.clone();
            p.sort();
            p.dedup();
            p
        },
        protect_from_scale_in: s.instance_protection.unwrap_or(false),
        max_instance_lifetime: s.max_instance_lifetime.as_deref().and_then(|d| super::duration::parse(d).ok()).map(|d| d.as_secs() as i32),
        warm_pool: s.warm_pool.as_ref().map(|w| super::resources::WarmPool {
            min_size: w.min_size.unwrap_or(0) as i32,
            max_prepared: w.max_size.map(|x| x as i32),
            pool_state: w.pool_state.clone().unwrap_or_else(|| "Stopped".into()),
        }),
        tags: {
            let mut t = asg_tags(m, g);
            if let Some(v) = &kubernetes_version {
                t.insert(TAG_KUBERNETES_VERSION.to_string(), AsgTag { value: v.clone(), propagate_at_launch: true });
            }
            t
        },
    };
    // The schedule, as of the read: a group its schedule holds down now is declared at zero
    // (an apply at night does not wake it; the next window's action brings it back).
    let mut asg = asg;
    let schedule = match m.schedule_of(g).map(Schedule::parse) {
        None | Some(Ok(None)) => None,
        Some(Err(e)) => return Err(vec![format!("node group `{}`: schedule: {}", g.name(), e.message)]),
        Some(Ok(Some(sc))) => {
            let now = live.read_at.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok());
            let state = now.map(|t| sc.state_at(t)).unwrap_or(ScheduleState { up: true, reason: "time not known".into(), until: None });
            let actions = sc.actions(asg.min_size, asg.max_size, now.unwrap_or(jiff::Timestamp::UNIX_EPOCH));
            let first_runs = actions.iter().filter_map(|(n, a)| Some((n.clone(), sc.first_run(a)?))).collect();
            let declared = (asg.min_size, asg.max_size);
            if !state.up {
                asg.min_size = 0;
                asg.max_size = 0;
            }
            let changes = now.map(|t| sc.changes(t, 14).into_iter().map(|(at, up)| (super::schedule::utc(at), up)).collect()).unwrap_or_default();
            Some(GroupSchedule { summary: sc.summary(), now: state, declared_min: declared.0, declared_max: declared.1, weekly_down_hours: sc.weekly_down_hours(), actions, first_runs, changes })
        }
    };
    Ok(DesiredGroup {
        group: g.name().to_string(),
        role: s.role,
        critical: s.critical,
        launch_template,
        launch_template_tags: lt_tags,
        asg,
        // Types chosen by attributes are AWS's to pick: none is "no longer allowed" by name.
        allowed_types: if s.mixed_instances_policy.as_ref().is_some_and(|p| p.instance_requirements.is_some()) {
            Vec::new()
        } else {
            s.instance_types().into_iter().map(str::to_string).collect()
        },
        max_surge: s.rolling_update.as_ref().and_then(|r| r.max_surge).or_else(|| m.cluster.spec.rolling_update.as_ref().and_then(|r| r.max_surge)),
        max_unavailable: s
            .rolling_update
            .as_ref()
            .and_then(|r| r.max_unavailable)
            .or_else(|| m.cluster.spec.rolling_update.as_ref().and_then(|r| r.max_unavailable)),
        bootstrap: format,
        image_source,
        kubernetes_version,
        schedule,
        zones: {
            let mut z: Vec<String> = s.subnets.iter().filter_map(|n| m.cluster.spec.subnets.iter().find(|c| c.name == *n)).map(|c| c.zone.clone()).collect();
            z.sort();
            z.dedup();
            z
        },
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
