//! The manifest model: the two kinds a rendered `clusters/<cluster>.yaml` holds.
//!
//! Field names and meanings follow kops's `InstanceGroup` and `Cluster` wherever kops has the
//! field (minSize, maxSize, subnets, image, role, mixedInstancesPolicy, cloudLabels, nodeLabels,
//! taints, rootVolume, rollingUpdate, autoscalePriority, …), so that a kops user reads a manifest at
//! once. Fields kops lacks are few and named for what they mean (`pool`, `critical`, `lint`).
//! Every struct denies unknown fields: a typo (`maxSixe`) is an error with a hint, never a value
//! silently ignored. Optional fields are skipped when absent so that the rendered YAML shows only
//! what the templates said, in a fixed order: the same input gives the same bytes.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only apiVersion this release reads and writes.
pub const API_VERSION: &str = "fleetform.io/v1alpha1";

/// Object metadata, as in Kubernetes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Cluster: its DNS-style name (`prod-customer.k8s.foo.bar`). NodeGroup: the group name
    /// (`spot-nodes-app-a`); AWS resources are named `<group>.<cluster>`.
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `kind: Cluster` — one per cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterManifest {
    /// Always `fleetform.io/v1alpha1`.
    pub api_version: String,
    /// Always `Cluster`.
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: ClusterSpec,
}

/// The cluster: where it lives and the settings its node groups share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    /// AWS region, e.g. `eu-west-3`. Every resource of the cluster lives there.
    pub region: String,
    /// The subnets node groups may use. They are referenced, never created.
    pub subnets: Vec<ClusterSubnet>,
    /// Route53 hosted zone of the cluster's records, e.g. `k8s.foo.bar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_zone: Option<String>,
    /// DNS records the cluster declares in `dnsZone`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_records: Vec<DnsRecord>,
    /// State store: `s3://bucket/prefix`. Holds the apply lock and the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_store: Option<String>,
    /// Tags put on every AWS resource of the cluster (kops: cloudLabels).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cloud_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_controller_manager: Option<KubeControllerManagerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_autoscaler: Option<ClusterAutoscalerConfig>,
    /// Cluster-wide rolling-update defaults; a node group's own setting wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
    /// Thresholds and severities of `fleetform lint` for this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lint: Option<LintConfig>,
    /// Commands run by rolling-update and validate (drain a node, validate the cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    /// The health gate of rolling updates and of `validate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationConfig>,
    /// With --all, clusters go in wave order (lower first: staging before production); each wave
    /// must apply, roll and validate before the next starts. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    /// Take over the Auto Scaling groups and launch templates of the declared names that exist
    /// without fleetform's tags (kops names them `<group>.<cluster>` too): they are tagged as
    /// this cluster's, then updated like any other. Without it (or `plan/apply --adopt`), such a
    /// name is a conflict. What another cluster owns is never taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<bool>,
    /// The Amazon EKS control plane the nodes join. Without it, nodes bootstrap through their
    /// own user data (`bootstrap: custom`): kops, kubeadm or a home-made AMI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks: Option<EksSpec>,
    /// When the node groups run (nights and weekends off for staging): outside its uptime
    /// windows a group is scaled to zero by Auto Scaling scheduled actions. A NodeGroup's own
    /// `schedule` replaces this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
}

/// Uptime windows of node groups, in a time zone, with one-off exceptions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// The IANA time zone of the windows and exceptions, e.g. `Europe/Paris` (default UTC).
    /// AWS follows its daylight-saving changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// When the groups run at their declared sizes: `Mon-Fri 07:30-20:00`, `Sat,Sun
    /// 10:00-14:00`, `Fri 22:00-06:00` (ends the next day). Outside them: zero instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uptime: Vec<String>,
    /// One-off changes: a holiday down, a load-test weekend up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<ScheduleException>,
    /// `true`: no schedule; the groups run at all times (a group that must stay up while the
    /// cluster sleeps, or the cluster's schedule suspended during an incident).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_on: Option<bool>,
}

/// A one-off exception to a schedule, in its time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleException {
    /// Lowercase letters, digits and `-`: it names the scheduled actions (`christmas-2026`).
    pub name: String,
    /// Local date and time it begins, `2026-12-24 00:00`.
    pub from: String,
    /// Local date and time it ends, `2026-12-28 07:30`.
    pub to: String,
    /// `down` (a holiday) or `up` (a load test outside the windows).
    pub state: ExceptionState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionState {
    Up,
    Down,
}

/// The EKS cluster of a Cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EksSpec {
    /// The EKS cluster's name (letters, digits, `-` and `_`, at most 100). Default: the
    /// cluster's name with every character EKS refuses (the dots) replaced by `-`
    /// (`prod-customer.k8s.foo.bar` → `prod-customer-k8s-foo-bar`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Kubernetes version (`1.31`) the node images follow (`image: eks-optimized`).
    /// Default: the control plane's version, as EKS reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// How node groups join by default: `al2023` (nodeadm, the default) or `bottlerocket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
    /// The cluster IAM role EKS assumes (its name or ARN; referenced, never created). Needed
    /// for fleetform to create the control plane; ignored once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The control plane's subnets: names of `spec.subnets` (default: all of them). Set at
    /// creation; EKS cannot move a cluster to another VPC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Who reaches the Kubernetes API endpoint. Unset: left as it is (AWS's default at
    /// creation: public, not private, from anywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_access: Option<EndpointAccess>,
    /// Control-plane log types sent to CloudWatch (`api`, `audit`, `authenticator`,
    /// `controllerManager`, `scheduler`); the others are switched off. Unset: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Vec<String>>,
    /// The KMS key (ARN) that encrypts Kubernetes secrets. Set at creation only: EKS never
    /// changes or removes it afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_encryption_key: Option<String>,
    /// Tags of the EKS cluster (the cluster's `cloudLabels` are added).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// How IAM principals authenticate: `API` (access entries; the default when fleetform
    /// creates the cluster), `API_AND_CONFIG_MAP` or `CONFIG_MAP` (the aws-auth ConfigMap
    /// only). EKS moves it one way only: CONFIG_MAP → API_AND_CONFIG_MAP → API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_mode: Option<String>,
    /// The Kubernetes service CIDR, set at creation (default: EKS's choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ipv4_cidr: Option<String>,
    /// EKS managed add-ons fleetform keeps installed and compatible (vpc-cni, coredns,
    /// kube-proxy, …). Add-ons not listed are reported, never touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<AddonSpec>,
}

/// Who reaches the cluster's Kubernetes API endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointAccess {
    /// From the internet (limited to `publicCidrs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// From inside the VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    /// The CIDR blocks allowed to reach the public endpoint (AWS's default: 0.0.0.0/0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_cidrs: Vec<String>,
}

/// An EKS managed add-on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddonSpec {
    /// e.g. `vpc-cni`, `coredns`, `kube-proxy`.
    pub name: String,
    /// e.g. `v1.19.2-eksbuild.1`. Unset: EKS's default version for the cluster's Kubernetes
    /// version, and kept compatible through upgrades.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// How a node joins its cluster: the format of the user data fleetform generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bootstrap {
    /// Amazon Linux 2023: a nodeadm `NodeConfig` (MIME part `application/node.eks.aws`), then
    /// the group's own `additionalUserData` parts.
    Al2023,
    /// Bottlerocket: TOML settings, with the group's `bottlerocket` settings merged in.
    Bottlerocket,
    /// Only the group's `additionalUserData`: for kops, kubeadm or home-made AMIs.
    Custom,
}

impl Bootstrap {
    pub fn name(self) -> &'static str {
        match self {
            Bootstrap::Al2023 => "al2023",
            Bootstrap::Bottlerocket => "bottlerocket",
            Bootstrap::Custom => "custom",
        }
    }
}

/// kubelet settings of a node group, with kops's field names (kops: KubeletConfigSpec).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeletSpec {
    /// Most pods on one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pods: Option<u32>,
    /// Resources kept for Kubernetes daemons, e.g. `{cpu: 500m, memory: 1Gi}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kube_reserved: BTreeMap<String, String>,
    /// Resources kept for the operating system.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub system_reserved: BTreeMap<String, String>,
    /// Hard eviction thresholds, e.g. `{memory.available: 500Mi}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub eviction_hard: BTreeMap<String, String>,
}

/// Hooks: shell commands (`sh -c`), run from the repository root with FLEETFORM_CLUSTER,
/// FLEETFORM_GROUP, FLEETFORM_INSTANCE_ID and FLEETFORM_NODE (the node name) in the environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Hooks {
    /// Before an instance is terminated, e.g.
    /// `kubectl drain --ignore-daemonsets --delete-emptydir-data "$FLEETFORM_NODE"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Hook>,
    /// After each batch and in `validate`: exit 0 when the cluster is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate: Option<Hook>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Hook {
    pub command: String,
    /// e.g. `5m` (default 5m): a hook still running then is killed and counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// kops's validation settings of rolling updates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValidationConfig {
    /// How many times in a row the validate hook must pass (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_count: Option<u32>,
    /// How long a batch may take to become healthy (default 15m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_timeout: Option<String>,
    /// Pause between two validate hook runs (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// How evenly instances must spread over the zones (`fleetform validate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_balance: Option<ZoneBalance>,
}

/// The bounds of `validate`'s zone-balance checks. A zone holding more than its share costs
/// more than instances: its NAT gateway carries the extra traffic, and losing it takes more.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ZoneBalance {
    /// Most instances a group's fullest zone may hold above its emptiest (default 1: what Auto
    /// Scaling's own balancing keeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_skew: Option<u32>,
    /// The cluster's fullest zone may hold at most this many times its fair share (instances of
    /// the multi-zone groups / zones, rounded up) (default 1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cluster_ratio: Option<f64>,
    /// `warning` (the default: reported, validate passes — right after a roll the zones are
    /// uneven until Auto Scaling's AZRebalance evens them out), `error` (validate fails; for a
    /// scheduled check) or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<RuleLevel>,
}

/// A subnet the cluster uses (kops: ClusterSubnetSpec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSubnet {
    /// Name node groups refer to, usually the zone (`eu-west-3a`).
    pub name: String,
    /// Availability zone, inside the cluster's region.
    pub zone: String,
    /// The existing subnet's id (`subnet-0abc…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
}

/// One Route53 record set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsRecord {
    /// Fully qualified name, inside `dnsZone`.
    pub name: String,
    /// A, AAAA, CNAME or TXT.
    #[serde(rename = "type")]
    pub record_type: String,
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    pub values: Vec<String>,
}

fn default_ttl() -> u32 {
    300
}

/// kube-controller-manager settings (kops: KubeControllerManagerConfig).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeControllerManagerConfig {
    /// e.g. `30m`: how long the HPA waits before scaling down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizontal_pod_autoscaler_downscale_stabilization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizontal_pod_autoscaler_sync_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizontal_pod_autoscaler_tolerance: Option<f64>,
}

/// cluster-autoscaler settings (kops: ClusterAutoscalerConfig).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterAutoscalerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `priority` makes fleetform write the priority-expander ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expander: Option<String>,
    /// How long the autoscaler waits for a node before trying the next group, e.g. `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_node_provision_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_similar_node_groups: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_utilization_threshold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_after_add: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_nodes_with_local_storage: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_pod_scale_up_delay: Option<String>,
}

/// Rolling-update settings (kops: RollingUpdate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RollingUpdate {
    /// Extra instances started before old ones go: a number or a percentage of desired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrPercent>,
    /// Instances that may be out of service at once: a number or a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
    /// Cluster only: node groups rolled at once (default 4), after the control-plane and
    /// critical groups, which roll one at a time. 1 rolls group after group, as kops does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_groups: Option<u32>,
    /// Cluster only: instances out of service at once across the groups rolling side by side
    /// (each group's maxSurge and maxUnavailable still hold inside it): a number, or a
    /// percentage of the instances those groups have (default 10%, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_max_unavailable: Option<IntOrPercent>,
}

/// Lint thresholds and severities for one cluster. Every field has a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LintConfig {
    /// Most Auto Scaling groups one application pool may span (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_groups_per_pool: Option<u32>,
    /// Fewest availability zones a spot group may span (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_spot_zones: Option<u32>,
    /// Fewest instance types a spot group should list (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_spot_instance_types: Option<u32>,
    /// Longest worst-case wait, in minutes, before the autoscaler reaches an on-demand
    /// fallback (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fallback_minutes: Option<u32>,
    /// Most Auto Scaling groups one cluster may have (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_groups_per_cluster: Option<u32>,
    /// Per-rule severity: `error`, `warning` or `off`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, RuleLevel>,
}

/// How a lint rule's findings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    Off,
    Warning,
    Error,
}

/// `kind: NodeGroup` — one Auto Scaling group and its launch template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeGroupManifest {
    /// Always `fleetform.io/v1alpha1`.
    pub api_version: String,
    /// Always `NodeGroup`.
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: NodeGroupSpec,
}

/// A node group (kops: InstanceGroupSpec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeGroupSpec {
    pub role: Role,
    /// The node image: an AMI id (`ami-…`); `owner/name` (the newest image of that owner — an
    /// account id, `amazon` or `self` — with that name, wildcards allowed, as kops resolves it);
    /// `ssm:/path/to/parameter` (an SSM parameter holding an AMI id); or `eks-optimized`, the
    /// EKS-optimized image of the cluster's Kubernetes version, the group's bootstrap family and
    /// its instances' architecture (AWS's public SSM parameters).
    pub image: String,
    /// Instance type of the launch template; with a mixedInstancesPolicy, its first type.
    pub machine_type: String,
    pub min_size: u32,
    pub max_size: u32,
    /// Names of cluster subnets (see Cluster `spec.subnets`).
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_instances_policy: Option<MixedInstancesPolicy>,
    /// AWS tags of the group and its instances.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cloud_labels: BTreeMap<String, String>,
    /// Kubernetes labels of the nodes (also published as autoscaler node-template tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_labels: BTreeMap<String, String>,
    /// `key=value:Effect` or `key:Effect`, Effect one of NoSchedule, PreferNoSchedule, NoExecute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_volume: Option<RootVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
    /// Whether cluster-autoscaler manages the group (default true for role Node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<bool>,
    /// Priority-expander priority: higher is tried first (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale_priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<IamProfile>,
    /// Parts of the instances' user data, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_user_data: Vec<UserDataPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_rebalance: Option<bool>,
    /// Instance metadata service settings (default: IMDSv2 required, hop limit 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_metadata: Option<InstanceMetadataOptions>,
    /// Application pool the group serves (fleetform): lint checks pools as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Admin/critical group (CoreDNS, autoscaler, ingress) (fleetform): must be on-demand.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
    /// How the nodes join: `al2023`, `bottlerocket` or `custom`. Default: the cluster's
    /// (`spec.eks.bootstrap`, else `al2023`) when it declares `eks`, else `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
    /// kubelet settings (max pods, reservations, eviction thresholds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet: Option<KubeletSpec>,
    /// Extra Bottlerocket settings, merged into the generated ones (`bootstrap: bottlerocket`),
    /// e.g. `{settings: {kernel: {sysctl: {vm.max_map_count: "262144"}}}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub bottlerocket: Option<serde_json::Value>,
    /// Give instances a public IP address (kops: associatePublicIp). Default: the subnet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associate_public_ip: Option<bool>,
    /// The most to pay per instance-hour for spot capacity, in US dollars (kops: maxPrice), e.g.
    /// "0.45". With a mixedInstancesPolicy it caps the group's spot instances; without one it makes
    /// every instance a spot instance at that price, as kops does. Default: the on-demand price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<String>,
    /// Auto Scaling processes kept suspended (kops: suspendProcesses), e.g. [AZRebalance]: a
    /// declared list; processes not in it are resumed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspend_processes: Vec<String>,
    /// Protect new instances from scale-in (kops: instanceProtection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_protection: Option<bool>,
    /// Replace instances older than this (kops: maxInstanceLifetime), e.g. `168h`; at least a
    /// day, at most 365 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instance_lifetime: Option<String>,
    /// One-minute CloudWatch metrics for the instances (kops: detailedInstanceMonitoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_instance_monitoring: Option<bool>,
    /// CPU credits of burstable types (t2, t3, t4g…): `standard` or `unlimited` (kops: cpuCredits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_credits: Option<String>,
    /// A warm pool (kops: warmPool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_pool: Option<WarmPoolSpec>,
    /// This group's uptime schedule, replacing the cluster's (`{alwaysOn: true}`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// Low-priority pause pods that hold room on the nodes of this group's pool (or of this
    /// group, without a pool), so that a pod that needs room gets it at once while the
    /// autoscaler adds a node: rendered beside the autoscaler's ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overprovisioning: Option<OverprovisioningSpec>,
}

/// The pause pods of a pool: how many, and how much each holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OverprovisioningSpec {
    /// Pause pods kept (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// CPU each holds (`2`, `500m`), with `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory each holds (`8Gi`), with `cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Or: each holds this share of the pool's smallest node's capacity (`50%`, at most 75%:
    /// the kubelet's reservations and the daemon sets take their part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_share: Option<String>,
}

/// The Auto Scaling processes that can be suspended (AWS's names).
pub const SCALING_PROCESSES: &[&str] =
    &["Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance", "HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"];

/// Instance role, with kops's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum Role {
    #[serde(alias = "Master")]
    ControlPlane,
    APIServer,
    Node,
    Bastion,
}

/// Spot and on-demand mix (kops: MixedInstancesPolicySpec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MixedInstancesPolicy {
    /// Instance types the group may launch (or `instanceRequirements`, not both).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// Attribute-based selection instead of a list (kops: instanceRequirements): every type with
    /// vCPU and memory in the ranges, as AWS picks them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_requirements: Option<InstanceRequirements>,
    /// On-demand instances before any spot (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_base: Option<u32>,
    /// Percentage of on-demand above the base (default 100: all on-demand, as in kops and AWS;
    /// a spot group says 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_above_base: Option<u32>,
    /// `capacity-optimized`, `price-capacity-optimized`, `capacity-optimized-prioritized` or
    /// `lowest-price` (AWS's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_allocation_strategy: Option<String>,
    /// Spot pools to spread over, 1–20: only with `lowest-price` (AWS's default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_instance_pools: Option<u32>,
    /// `prioritized` (AWS's default: the list's order) or `lowest-price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_allocation_strategy: Option<String>,
}

/// vCPU and memory ranges (kops: InstanceRequirementsSpec), e.g.
/// `{cpu: {min: 16, max: 16}, memory: {min: 32Gi, max: 64Gi}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstanceRequirements {
    pub cpu: MinMax,
    pub memory: MinMax,
}

/// A range of quantities as kops writes them: a count (`16`) or a size (`32Gi`, `64G`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinMax {
    #[schemars(with = "serde_json::Value")]
    pub min: serde_yaml::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub max: Option<serde_yaml::Value>,
}

/// A count as kops writes it (`16`, "16").
pub fn count_of(v: &serde_yaml::Value) -> Option<u32> {
    match v {
        serde_yaml::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_yaml::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A memory size in MiB, as Kubernetes quantities write it (`32Gi`, `32768Mi`, `34G`).
pub fn mib_of(v: &serde_yaml::Value) -> Option<u32> {
    let s = match v {
        serde_yaml::Value::String(s) => s.trim().to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let n: f64 = s[..split].parse().ok()?;
    let bytes = match &s[split..] {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        "K" | "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    let mib = n * bytes / (1024.0 * 1024.0);
    (mib.is_finite() && (1.0..4.0e9).contains(&mib)).then(|| mib.round() as u32)
}

/// A range: minimum, and maximum when there is one.
pub type Range = (u32, Option<u32>);

impl InstanceRequirements {
    /// (vCPU min, max), (memory MiB min, max), or what is wrong.
    pub fn ranges(&self) -> Result<(Range, Range), String> {
        let cpu_min = count_of(&self.cpu.min).ok_or("cpu.min is not a count of vCPUs")?;
        let cpu_max = self.cpu.max.as_ref().map(|m| count_of(m).ok_or("cpu.max is not a count of vCPUs")).transpose()?;
        let mem_min = mib_of(&self.memory.min).ok_or("memory.min is not a size such as 32Gi")?;
        let mem_max = self.memory.max.as_ref().map(|m| mib_of(m).ok_or("memory.max is not a size such as 64Gi")).transpose()?;
        if cpu_min == 0 || cpu_max.is_some_and(|m| m < cpu_min) || mem_max.is_some_and(|m| m < mem_min) {
            return Err("each range needs min ≥ 1 and max ≥ min".into());
        }
        Ok(((cpu_min, cpu_max), (mem_min, mem_max)))
    }

    /// Whether an instance type of this vCPU count and memory falls in the ranges.
    pub fn matches(&self, vcpu: u32, memory_gib: f64) -> bool {
        let Ok(((cmin, cmax), (mmin, mmax))) = self.ranges() else { return false };
        let mib = (memory_gib * 1024.0).round() as u32;
        vcpu >= cmin && cmax.is_none_or(|m| vcpu <= m) && mib >= mmin && mmax.is_none_or(|m| mib <= m)
    }
}

/// A warm pool of pre-initialised instances (kops: warmPool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WarmPoolSpec {
    /// Instances kept in the pool at least (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<u32>,
    /// Most instances the group and its pool may hold together (AWS's MaxGroupPreparedCapacity;
    /// default: the group's maxSize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u32>,
    /// `Stopped` (default), `Running` or `Hibernated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_state: Option<String>,
}

/// Root volume (kops: rootVolume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RootVolume {
    /// GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// gp3, gp2, io1, io2.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<bool>,
}

/// Instance metadata options (kops: InstanceMetadataOptions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstanceMetadataOptions {
    /// `required` (IMDSv2, the default) or `optional`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_tokens: Option<String>,
    /// 1 (default) keeps pods from reaching the node's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_put_response_hop_limit: Option<u32>,
}

/// IAM instance profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IamProfile {
    /// Instance profile ARN or name.
    pub profile: String,
}

/// One part of the user data (kops: UserData).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserDataPart {
    pub name: String,
    /// MIME type, e.g. `text/x-shellscript`.
    #[serde(rename = "type")]
    pub content_type: String,
    pub content: String,
}

/// A count or a percentage (`2` or `"25%"`), as Kubernetes' IntOrString.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(u32),
    Percent(u32),
}

impl IntOrPercent {
    /// Resolve against a total: percentages of surge round up, of unavailable round down
    /// (the Kubernetes Deployment convention); `round_up` chooses.
    pub fn resolve(self, total: u32, round_up: bool) -> u32 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                let x = u64::from(total) * u64::from(p);
                let v = if round_up { x.div_ceil(100) } else { x / 100 };
                v as u32
            }
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Int(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for IntOrPercent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrPercent::Int(n) => s.serialize_u32(*n),
            IntOrPercent::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IntOrPercent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a percentage such as \"25%\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IntOrPercent, E> {
                u32::try_from(v).map(IntOrPercent::Int).map_err(|_| E::custom("number too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IntOrPercent, E> {
                u32::try_from(v)
                    .map(IntOrPercent::Int)
                    .map_err(|_| E::custom(format!("{v} is negative; use 0 or more")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IntOrPercent, E> {
                let t = v.trim();
                let parsed = match t.strip_suffix('%') {
                    Some(p) => p.trim().parse::<u32>().ok().filter(|p| *p <= 100).map(IntOrPercent::Percent),
                    None => t.parse::<u32>().ok().map(IntOrPercent::Int),
                };
                parsed.ok_or_else(|| {
                    E::custom(format!("`{v}` is neither a count nor a percentage from 0% to 100%"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum IntOrPercentRepr {
    Count(u32),
    /// e.g. "25%"
    Percent(String),
}

impl JsonSchema for IntOrPercent {
    fn schema_name() -> String {
        "IntOrPercent".into()
    }
    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        IntOrPercentRepr::json_schema(gen)
    }
}

impl NodeGroupSpec {
    /// All instance types the group may launch.
    pub fn instance_types(&self) -> Vec<&str> {
        match &self.mixed_instances_policy {
            Some(p) if !p.instances.is_empty() => p.instances.iter().map(String::as_str).collect(),
            _ => vec![self.machine_type.as_str()],
        }
    }

    /// A spot group: a mixed-instances policy with no on-demand share at all.
    /// (A group without a policy but with a maxPrice is all spot too, as kops makes it.)
    pub fn is_spot(&self) -> bool {
        match &self.mixed_instances_policy {
            Some(p) => p.on_demand_base.unwrap_or(0) == 0 && p.on_demand_above_base.unwrap_or(100) == 0,
            None => self.max_price.is_some(),
        }
    }

    /// Uses spot for any share of its capacity.
    pub fn uses_spot(&self) -> bool {
        match &self.mixed_instances_policy {
            Some(p) => p.on_demand_above_base.unwrap_or(100) < 100,
            None => self.max_price.is_some(),
        }
    }

    pub fn autoscaled(&self) -> bool {
        self.autoscale.unwrap_or(self.role == Role::Node)
    }
}

/// A rendered, validated cluster: one Cluster and its node groups, with where each came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub cluster: ClusterManifest,
    pub cluster_origin: Origin,
    pub groups: Vec<NodeGroup>,
}

/// A node group and its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeGroup {
    pub manifest: NodeGroupManifest,
    pub origin: Origin,
}

impl NodeGroup {
    pub fn name(&self) -> &str {
        &self.manifest.metadata.name
    }
    pub fn spec(&self) -> &NodeGroupSpec {
        &self.manifest.spec
    }
}

/// Where a document came from: the template (or snippet) line of its `metadata.name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: std::path::PathBuf,
    pub line: usize,
}

impl Manifest {
    pub fn name(&self) -> &str {
        &self.cluster.metadata.name
    }

    /// AWS name of a group's launch template and Auto Scaling group.
    pub fn aws_name(&self, group: &str) -> String {
        format!("{group}.{}", self.name())
    }

    pub fn group(&self, name: &str) -> Option<&NodeGroup> {
        self.groups.iter().find(|g| g.name() == name)
    }

    /// The EKS cluster's name, when the cluster declares one (see [`EksSpec::name`]).
    pub fn eks_name(&self) -> Option<String> {
        let eks = self.cluster.spec.eks.as_ref()?;
        Some(eks.name.clone().unwrap_or_else(|| default_eks_name(self.name())))
    }

    /// A group's uptime schedule: its own, else the cluster's (None: none declared).
    pub fn schedule_of<'a>(&'a self, g: &'a NodeGroup) -> Option<&'a ScheduleSpec> {
        g.spec().schedule.as_ref().or(self.cluster.spec.schedule.as_ref())
    }

    /// How a group's nodes join: its own setting, else the cluster's.
    pub fn bootstrap_of(&self, g: &NodeGroup) -> Bootstrap {
        g.spec().bootstrap.unwrap_or(match &self.cluster.spec.eks {
            Some(e) => e.bootstrap.unwrap_or(Bootstrap::Al2023),
            None => Bootstrap::Custom,
        })
    }
}

/// An EKS name from a cluster name: every character EKS refuses becomes `-`.
pub fn default_eks_name(cluster: &str) -> String {
    cluster.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// EKS accepts `^[0-9A-Za-z][A-Za-z0-9\-_]*$`, at most 100 characters.
pub fn valid_eks_name(n: &str) -> bool {
    n.len() <= 100 && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kops_quantities_of_instance_requirements() {
        let v = |s: &str| serde_yaml::Value::String(s.into());
        assert_eq!(mib_of(&v("32Gi")), Some(32768));
        assert_eq!(mib_of(&v("32768Mi")), Some(32768));
        assert_eq!(mib_of(&v("34G")), Some(32425), "decimal units, as kops's quantities");
        assert_eq!(mib_of(&v("lots")), None);
        assert_eq!(count_of(&v("16")), Some(16));
        let r: InstanceRequirements = serde_yaml::from_str("{cpu: {min: 16, max: 16}, memory: {min: 32Gi}}").unwrap();
        assert_eq!(r.ranges(), Ok(((16, Some(16)), (32768, None))));
        assert!(r.matches(16, 32.0) && r.matches(16, 128.0) && !r.matches(8, 32.0));
        let bad: InstanceRequirements = serde_yaml::from_str("{cpu: {min: 16, max: 8}, memory: {min: 1Gi}}").unwrap();
        assert!(bad.ranges().is_err());
    }
}
