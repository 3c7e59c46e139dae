//! The live view of one cluster: what the AWS layer read, as plain data (no SDK types), so the
//! plan stays a pure function and a saved plan can carry a fingerprint of it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::resources::{AsgConfig, GroupSizes, LaunchTemplateData, RecordData, RecordKey};
use super::schedule::ScheduledAction;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveCluster {
    /// Launch templates tagged as owned by this cluster, by name.
    pub launch_templates: BTreeMap<String, LiveLaunchTemplate>,
    /// Auto Scaling groups tagged as owned by this cluster, by name.
    pub asgs: BTreeMap<String, LiveAsg>,
    /// Names this cluster declares that exist on AWS without being owned by it:
    /// name → who owns it (another cluster) or None (not fleetform's).
    pub foreign_launch_templates: BTreeMap<String, Option<String>>,
    pub foreign_asgs: BTreeMap<String, Option<String>>,
    /// Route53: the hosted zone's id, when found.
    pub zone_id: Option<String>,
    /// Record sets of the zone that matter: declared names, and everything this cluster owns.
    pub records: BTreeMap<RecordKey, LiveRecord>,
    /// Images the manifest names: id → facts. Absent: not found in the region.
    pub images: BTreeMap<String, ImageInfo>,
    /// Subnets: cluster subnet name → id, resolved by id or by the cluster's subnet tag.
    pub subnets: BTreeMap<String, String>,
    /// Subnet lookups that failed, with why.
    pub subnet_problems: BTreeMap<String, String>,
    /// The EKS cluster the manifest names, or why it could not be read (not found, …).
    #[serde(default)]
    pub eks: Option<Result<EksCluster, String>>,
    /// Image references of the manifest (`ssm:/path`, `owner/name`) → AMI id, or why not.
    #[serde(default)]
    pub image_refs: BTreeMap<String, Result<String, String>>,
    /// Instance profiles the manifest names (name or ARN) → ARN, or why not.
    #[serde(default)]
    pub instance_profiles: BTreeMap<String, Result<String, String>>,
    /// Security groups the manifest names (id or name) → id, or why not.
    #[serde(default)]
    pub security_groups: BTreeMap<String, Result<String, String>>,
    /// The IAM roles of those instance profiles: profile → role ARNs (what EKS lets join).
    #[serde(default)]
    pub instance_profile_roles: BTreeMap<String, Vec<String>>,
    /// The cluster IAM role `spec.eks.role` names → its ARN, or why not (read only when the
    /// control plane is to be created).
    #[serde(default)]
    pub cluster_role: Option<Result<String, String>>,
    /// Versions of the add-ons installed or declared, by add-on name.
    #[serde(default)]
    pub addon_versions: BTreeMap<String, AddonVersions>,
    /// Declared names that exist without fleetform's tags, as read: what adoption takes over.
    #[serde(default)]
    pub adoptable_launch_templates: BTreeMap<String, LiveLaunchTemplate>,
    #[serde(default)]
    pub adoptable_asgs: BTreeMap<String, LiveAsg>,
    /// Groups neither owned nor declared by this cluster that carry its cluster-autoscaler
    /// discovery tag: the autoscaler would scale them.
    #[serde(default)]
    pub autoscaler_discovered_foreign: Vec<String>,
    /// When it was read (`YYYY-MM-DDThh:mm:ssZ`): the "now" of the groups' schedules. Not part
    /// of the fingerprint.
    #[serde(default)]
    pub read_at: Option<String>,
    /// The lowest current spot price of each type the manifest names, USD an hour (for the
    /// plan's cost only; not part of the fingerprint).
    #[serde(default)]
    pub spot_prices: BTreeMap<String, f64>,
    /// Why the spot prices could not be read, when they could not.
    #[serde(default)]
    pub spot_price_error: Option<String>,
}

/// An EKS cluster, as DescribeCluster reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EksCluster {
    pub name: String,
    pub endpoint: String,
    /// Base64 PEM, as EKS reports it.
    pub certificate_authority: String,
    pub service_cidr: String,
    pub security_group_id: Option<String>,
    pub vpc_id: Option<String>,
    pub version: String,
    pub status: String,
    #[serde(default)]
    pub arn: String,
    #[serde(default)]
    pub role_arn: String,
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub endpoint_public: bool,
    #[serde(default)]
    pub endpoint_private: bool,
    /// Sorted.
    #[serde(default)]
    pub public_cidrs: Vec<String>,
    /// Enabled control-plane log types, sorted.
    #[serde(default)]
    pub logging: Vec<String>,
    /// The KMS key of secrets encryption, if any.
    #[serde(default)]
    pub secrets_encryption_key: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `API`, `API_AND_CONFIG_MAP` or `CONFIG_MAP` (EKS reports CONFIG_MAP for clusters made
    /// before access entries existed).
    #[serde(default)]
    pub authentication_mode: String,
    /// Access entries by principal ARN (empty in CONFIG_MAP mode, where there are none).
    #[serde(default)]
    pub access_entries: BTreeMap<String, AccessEntry>,
    /// Installed managed add-ons by name.
    #[serde(default)]
    pub addons: BTreeMap<String, LiveAddon>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    /// STANDARD, EC2_LINUX, …
    #[serde(rename = "type")]
    pub entry_type: String,
    /// The cluster that owns it (its `fleetform.io/cluster` tag), if any.
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveAddon {
    pub version: String,
    pub status: String,
}

/// What EKS says of one add-on's versions: version → the Kubernetes versions it runs on, and
/// those it is the default for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonVersions {
    pub versions: BTreeMap<String, AddonCompat>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonCompat {
    pub kubernetes: BTreeSet<String>,
    pub default_for: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveLaunchTemplate {
    pub id: String,
    pub default_version: i64,
    pub latest_version: i64,
    /// The versions that were read (the default one, and those groups use).
    pub versions: BTreeMap<i64, LaunchTemplateData>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveAsg {
    /// The configuration; while a killed rolling update holds the group raised, with the
    /// declared sizes its tag records (what the roll restores).
    pub config: AsgConfig,
    /// Desired capacity (likewise the declared one while a roll holds the group).
    pub desired_capacity: i32,
    pub instances: Vec<LiveInstance>,
    /// A rolling update's hold: (the declared sizes its tag records, the group's real sizes).
    #[serde(default)]
    pub rolling_hold: Option<(GroupSizes, GroupSizes)>,
    /// The group's scheduled actions fleetform owns (named `fleetform-…`), by name.
    #[serde(default)]
    pub scheduled_actions: BTreeMap<String, ScheduledAction>,
    /// Names of its other scheduled actions (someone else's: left alone).
    #[serde(default)]
    pub other_scheduled_actions: Vec<String>,
    /// Scaling processes a rolling update holds suspended (its tag), when one does.
    #[serde(default)]
    pub held_processes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveInstance {
    pub id: String,
    pub availability_zone: String,
    pub lifecycle_state: String,
    pub health_status: String,
    pub instance_type: String,
    pub image_id: Option<String>,
    /// The launch-template version the instance was launched from (EC2's
    /// `aws:ec2launchtemplate:version` tag; the ASG's own report as a fallback).
    pub launch_template_version: Option<String>,
    /// The Kubernetes node name on AWS: the instance's private DNS name.
    #[serde(default)]
    pub private_dns_name: Option<String>,
    /// The Kubernetes version of its node image, from the `fleetform.io/kubernetes-version`
    /// tag it was launched with (None: not known, e.g. a custom image).
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    /// When EC2 launched it (`YYYY-MM-DDThh:mm:ssZ`): what reclaim-on-demand ages it by.
    #[serde(default)]
    pub launch_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveRecord {
    pub data: RecordData,
    /// The cluster that owns it (by its ownership record), if any.
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    pub root_device_name: String,
    pub architecture: String,
    /// The image's name (EKS-optimized and Bottlerocket names carry the Kubernetes version).
    #[serde(default)]
    pub name: String,
}

impl LiveCluster {
    /// A fingerprint of what a plan depends on: templates, group configurations, records,
    /// conflicts. Not desired capacities or instances: the autoscaler moves those all day, and a
    /// saved plan must not go stale because of them.
    pub fn fingerprint(&self) -> String {
        #[derive(Serialize)]
        struct View<'a> {
            lts: &'a BTreeMap<String, LiveLaunchTemplate>,
            asgs: BTreeMap<&'a str, (&'a AsgConfig, bool, &'a BTreeMap<String, ScheduledAction>)>,
            foreign_lts: &'a BTreeMap<String, Option<String>>,
            foreign_asgs: &'a BTreeMap<String, Option<String>>,
            zone: &'a Option<String>,
            records: &'a BTreeMap<RecordKey, LiveRecord>,
            subnets: &'a BTreeMap<String, String>,
            eks: &'a Option<Result<EksCluster, String>>,
            image_refs: &'a BTreeMap<String, Result<String, String>>,
            security_groups: &'a BTreeMap<String, Result<String, String>>,
            roles: &'a BTreeMap<String, Vec<String>>,
            cluster_role: &'a Option<Result<String, String>>,
            addon_versions: &'a BTreeMap<String, AddonVersions>,
            adoptable_lts: &'a BTreeMap<String, LiveLaunchTemplate>,
            adoptable_asgs: BTreeMap<&'a str, &'a AsgConfig>,
        }
        let v = View {
            lts: &self.launch_templates,
            asgs: self.asgs.iter().map(|(k, a)| (k.as_str(), (&a.config, a.rolling_hold.is_some(), &a.scheduled_actions))).collect(),
            foreign_lts: &self.foreign_launch_templates,
            foreign_asgs: &self.foreign_asgs,
            zone: &self.zone_id,
            records: &self.records,
            subnets: &self.subnets,
            eks: &self.eks,
            image_refs: &self.image_refs,
            security_groups: &self.security_groups,
            roles: &self.instance_profile_roles,
            cluster_role: &self.cluster_role,
            addon_versions: &self.addon_versions,
            adoptable_lts: &self.adoptable_launch_templates,
            adoptable_asgs: self.adoptable_asgs.iter().map(|(k, a)| (k.as_str(), &a.config)).collect(),
        };
        let bytes = serde_json::to_vec(&v).expect("live view serializes");
        let digest = Sha256::digest(&bytes);
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
    }

    /// Names of every owned resource (for counting unchanged ones).
    pub fn owned_names(&self) -> BTreeSet<&str> {
        self.launch_templates.keys().chain(self.asgs.keys()).map(String::as_str).collect()
    }
}
