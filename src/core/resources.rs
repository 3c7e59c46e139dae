//! What fleetform keeps on AWS, as plain comparable data: the same types describe the desired
//! state (computed from a manifest) and the live state (read from AWS), so the plan is a pure
//! comparison of two values.
//!
//! Per NodeGroup, in the cluster's region: one launch template and one Auto Scaling group, both
//! named `<group>.<cluster>` and tagged as owned by the cluster. Per Cluster: its declared
//! Route53 records, each with an ownership record `_fleetform.<name> TXT
//! "heritage=fleetform,cluster=<cluster>"` (TXT cannot sit beside a CNAME of the same name).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Tag that marks every resource fleetform manages.
pub const TAG_MANAGED_BY: &str = "fleetform.io/managed-by";
/// Tag naming the owning cluster (the ownership test of the plan).
pub const TAG_CLUSTER: &str = "fleetform.io/cluster";
/// Tag naming the node group.
pub const TAG_GROUP: &str = "fleetform.io/group";
/// Tag a rolling update puts on a group while it holds the group's sizes raised: the declared
/// `min,max,desired`, restored afterwards (or by the next run, if this one was killed).
pub const TAG_ROLLING: &str = "fleetform.io/rolling-update";
/// Tag a rolling update puts on a group while it holds scaling processes suspended that the
/// group runs otherwise (`AZRebalance`: a surge must not be rebalanced away by terminating the
/// instances it just started): the list, resumed afterwards (or by the next run).
pub const TAG_ROLLING_SUSPENDED: &str = "fleetform.io/rolling-update-suspended";

/// The processes the `fleetform.io/rolling-update-suspended` tag records (`AZRebalance,ScheduledActions`).
pub fn held_processes(tag_value: &str) -> Vec<String> {
    tag_value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}
/// Tag of a group (propagated to its instances) naming the Kubernetes version of its node
/// image, when fleetform knows it: what the version-skew guard reads back from instances.
pub const TAG_KUBERNETES_VERSION: &str = "fleetform.io/kubernetes-version";

/// A group's min, max and desired sizes, as the rolling-update tag holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSizes {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

impl GroupSizes {
    /// `min,max,desired`.
    pub fn parse(v: &str) -> Option<GroupSizes> {
        let n: Vec<i32> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        (n.len() == 3).then(|| GroupSizes { min: n[0], max: n[1], desired: n[2] })
    }
}

impl std::fmt::Display for GroupSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{},{}", self.min, self.max, self.desired)
    }
}

/// Prefix of the DNS ownership record.
pub const DNS_OWNER_PREFIX: &str = "_fleetform.";

/// The comparable content of one launch template version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchTemplateData {
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    /// Decoded user data (sensitive: never printed without --show-sensitive).
    pub user_data: Option<String>,
    pub root_volume: Option<BlockDevice>,
    pub security_group_ids: Vec<String>,
    pub iam_instance_profile: Option<String>,
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<i32>,
    /// A public IP address on the primary network interface (kops: associatePublicIp); None:
    /// the subnet decides.
    #[serde(default)]
    pub associate_public_ip: Option<bool>,
    /// Spot purchase at this hourly price (kops: maxPrice on a group without a
    /// mixedInstancesPolicy); None: on-demand.
    #[serde(default)]
    pub spot_max_price: Option<String>,
    /// Detailed (one-minute) monitoring; None: not set (basic).
    #[serde(default)]
    pub monitoring: Option<bool>,
    /// `standard` or `unlimited`; None: the type's default.
    #[serde(default)]
    pub cpu_credits: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDevice {
    pub device_name: String,
    pub size_gib: Option<i32>,
    pub volume_type: Option<String>,
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
    pub encrypted: Option<bool>,
}

/// The comparable configuration of an Auto Scaling group (desired capacity apart: the
/// autoscaler owns it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsgConfig {
    pub min_size: i32,
    pub max_size: i32,
    /// Sorted subnet ids.
    pub subnet_ids: Vec<String>,
    pub launch_template: String,
    /// The version the group launches from (always an explicit number once applied).
    pub launch_template_version: String,
    pub mixed_instances: Option<MixedInstances>,
    pub capacity_rebalance: bool,
    /// Suspended scaling processes, sorted.
    #[serde(default)]
    pub suspended_processes: Vec<String>,
    /// New instances protected from scale-in.
    #[serde(default)]
    pub protect_from_scale_in: bool,
    /// Seconds; None: no limit.
    #[serde(default)]
    pub max_instance_lifetime: Option<i32>,
    #[serde(default)]
    pub warm_pool: Option<WarmPool>,
    pub tags: BTreeMap<String, AsgTag>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MixedInstances {
    pub instance_types: Vec<String>,
    pub on_demand_base: i32,
    pub on_demand_above_base: i32,
    pub spot_allocation_strategy: Option<String>,
    /// The most paid per spot instance-hour; None: the on-demand price.
    #[serde(default)]
    pub spot_max_price: Option<String>,
    /// Only with lowest-price (AWS then defaults to 2); None otherwise.
    #[serde(default)]
    pub spot_instance_pools: Option<i32>,
    /// Attribute-based selection instead of `instance_types`: (vCPU min, max), (MiB min, max).
    #[serde(default)]
    pub requirements: Option<(AwsRange, AwsRange)>,
    /// `prioritized` (AWS's default) or `lowest-price`.
    #[serde(default)]
    pub on_demand_allocation_strategy: Option<String>,
}

/// A minimum and an optional maximum, as AWS's range requests take them.
pub type AwsRange = (i32, Option<i32>);

/// A group's warm pool as AWS keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarmPool {
    pub min_size: i32,
    /// None: AWS's default (the group's max size).
    pub max_prepared: Option<i32>,
    pub pool_state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsgTag {
    pub value: String,
    pub propagate_at_launch: bool,
}

/// A record set's comparable content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordData {
    pub ttl: i64,
    /// Sorted; TXT values quoted as Route53 stores them.
    pub values: Vec<String>,
}

/// Key of a record set: fully qualified lower-case name with the final dot, and type.
/// In JSON it is the string `"name TYPE"` (it is a map key there).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    pub name: String,
    pub record_type: String,
}

impl Serialize for RecordKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for RecordKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let (name, t) = s.rsplit_once(' ').ok_or_else(|| serde::de::Error::custom("expected `name TYPE`"))?;
        Ok(RecordKey { name: name.to_string(), record_type: t.to_string() })
    }
}

impl std::fmt::Display for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.record_type)
    }
}

/// `Api.Example.com` → `api.example.com.`
pub fn fqdn(name: &str) -> String {
    let n = name.trim().to_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

/// The ownership record of `name` for `cluster`.
pub fn owner_record(name: &str, cluster: &str) -> (RecordKey, RecordData) {
    (
        RecordKey { name: format!("{DNS_OWNER_PREFIX}{}", fqdn(name)), record_type: "TXT".into() },
        RecordData { ttl: 300, values: vec![owner_value(cluster)] },
    )
}

pub fn owner_value(cluster: &str) -> String {
    format!("\"heritage=fleetform,cluster={cluster}\"")
}

/// The cluster an ownership TXT value names, if it is one of ours.
pub fn owner_of(value: &str) -> Option<String> {
    let v = value.trim_matches('"');
    let rest = v.strip_prefix("heritage=fleetform,cluster=")?;
    Some(rest.to_string())
}

/// One spelling per price (`0.450`, `0.45` and `.45` are one price), on the live side and the
/// declared one alike, so a plan never shows a change between two spellings.
pub fn normalize_price(p: &str) -> String {
    let p = p.trim();
    match p.split_once('.') {
        Some((int, frac)) => {
            let frac = frac.trim_end_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") }
        }
        None => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_have_one_spelling() {
        for (a, b) in [("0.450", "0.45"), (".45", "0.45"), ("1.0", "1"), ("2", "2"), (" 0.3 ", "0.3")] {
            assert_eq!(normalize_price(a), b);
        }
    }

    #[test]
    fn held_sizes_round_trip() {
        let s = GroupSizes { min: 2, max: 3, desired: 2 };
        assert_eq!(GroupSizes::parse(&s.to_string()), Some(s));
        assert_eq!(GroupSizes::parse("2,3"), None);
    }
}
