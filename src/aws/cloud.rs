//! The writes the executor makes, behind one trait: the real AWS layer implements it, and the
//! executor's unit tests drive the executor against an in-memory fake (as kops tests its
//! rolling update against a mock cloud). One method per AWS call kind; no decisions here.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{autoscaling, ec2, eks, route53, Aws, AwsError, AwsErrorKind};
use crate::core::live::{EksCluster, LiveAddon};
use crate::core::plan::{ControlPlaneChange, ControlPlaneCreate, RecordWrite};
use crate::core::resources::{AsgConfig, AsgTag, LaunchTemplateData};
use crate::core::schedule::ScheduledAction;

/// AWS writes of apply. `async fn` in a trait: used through generics, never as `dyn`.
#[allow(async_fn_in_trait)]
pub trait Cloud {
    async fn create_template(&self, region: &str, name: &str, data: &LaunchTemplateData, tags: &BTreeMap<String, String>) -> Result<(), AwsError>;
    /// Create a version with the full data; returns the number AWS gave it.
    async fn create_version(&self, region: &str, name: &str, data: &LaunchTemplateData) -> Result<i64, AwsError>;
    async fn set_default_version(&self, region: &str, name: &str, version: i64) -> Result<(), AwsError>;
    async fn create_group(&self, region: &str, name: &str, config: &AsgConfig, desired: i32) -> Result<(), AwsError>;
    /// Update sizes, subnets, launch template and policy; `sizes` is (min, max, desired).
    async fn update_group(&self, region: &str, name: &str, before: &AsgConfig, config: &AsgConfig, sizes: (i32, i32, Option<i32>)) -> Result<(), AwsError>;
    async fn set_group_tags(&self, region: &str, name: &str, tags: &BTreeMap<String, AsgTag>) -> Result<(), AwsError>;
    async fn remove_group_tags(&self, region: &str, name: &str, tags: &BTreeMap<String, AsgTag>) -> Result<(), AwsError>;
    async fn change_records(&self, zone: &str, zone_id: &str, writes: &[RecordWrite]) -> Result<(), AwsError>;
    async fn delete_group(&self, region: &str, name: &str) -> Result<(), AwsError>;
    async fn delete_template(&self, region: &str, name: &str) -> Result<(), AwsError>;
    /// Create the EKS control plane. An existing cluster of that name (an earlier apply made
    /// it and stopped) is not an error: the wait that follows finds it.
    async fn create_control_plane(&self, region: &str, spec: &ControlPlaneCreate) -> Result<(), AwsError>;
    async fn update_control_plane_version(&self, region: &str, name: &str, to: &str) -> Result<(), AwsError>;
    async fn update_control_plane_config(&self, region: &str, name: &str, change: &ControlPlaneChange) -> Result<(), AwsError>;
    async fn tag_control_plane(&self, region: &str, name: &str, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError>;
    /// Wait until the control plane is ACTIVE (`tick` hears its status meanwhile); returns it
    /// as it then is.
    async fn wait_control_plane(&self, region: &str, name: &str, poll: Duration, tick: &(dyn Fn(&str, &str) + Sync)) -> Result<EksCluster, AwsError>;
    async fn create_addon(&self, region: &str, cluster: &str, addon: &str, version: &str) -> Result<(), AwsError>;
    async fn update_addon(&self, region: &str, cluster: &str, addon: &str, version: &str) -> Result<(), AwsError>;
    /// Wait until the add-on is no longer CREATING or UPDATING; returns it (None: not
    /// installed). Still changing after CONTROL_PLANE_TIMEOUT: an error.
    async fn wait_addon(&self, region: &str, cluster: &str, addon: &str, poll: Duration) -> Result<Option<LiveAddon>, AwsError>;
    async fn create_access_entry(&self, region: &str, cluster: &str, principal: &str, owner: &str) -> Result<(), AwsError>;
    async fn delete_access_entry(&self, region: &str, cluster: &str, principal: &str) -> Result<(), AwsError>;
    /// Tag an existing launch template (by id): adoption.
    async fn tag_template(&self, region: &str, id: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError>;
    /// Delete the control plane and wait until EKS no longer knows it (gone already: done).
    async fn delete_control_plane(&self, region: &str, name: &str, poll: Duration) -> Result<(), AwsError>;
    async fn put_scheduled_action(&self, region: &str, group: &str, name: &str, action: &ScheduledAction) -> Result<(), AwsError>;
    async fn delete_scheduled_action(&self, region: &str, group: &str, name: &str) -> Result<(), AwsError>;
}

/// How long a control-plane step may take before apply gives up waiting (EKS creates a
/// cluster in 10–15 minutes and moves a version in 10–40).
pub const CONTROL_PLANE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

impl Cloud for Aws {
    async fn put_scheduled_action(&self, region: &str, group: &str, name: &str, action: &ScheduledAction) -> Result<(), AwsError> {
        autoscaling::put_scheduled_action(&self.autoscaling(region), region, group, name, action).await
    }
    async fn delete_scheduled_action(&self, region: &str, group: &str, name: &str) -> Result<(), AwsError> {
        autoscaling::delete_scheduled_action(&self.autoscaling(region), region, group, name).await
    }
    async fn create_template(&self, region: &str, name: &str, data: &LaunchTemplateData, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        ec2::create_template(&self.ec2(region), region, name, data, tags).await
    }
    async fn create_version(&self, region: &str, name: &str, data: &LaunchTemplateData) -> Result<i64, AwsError> {
        ec2::create_version(&self.ec2(region), region, name, data).await
    }
    async fn set_default_version(&self, region: &str, name: &str, version: i64) -> Result<(), AwsError> {
        ec2::set_default_version(&self.ec2(region), region, name, version).await
    }
    async fn create_group(&self, region: &str, name: &str, config: &AsgConfig, desired: i32) -> Result<(), AwsError> {
        autoscaling::create_group(&self.autoscaling(region), region, name, config, desired).await
    }
    async fn update_group(&self, region: &str, name: &str, before: &AsgConfig, config: &AsgConfig, sizes: (i32, i32, Option<i32>)) -> Result<(), AwsError> {
        autoscaling::update_group(&self.autoscaling(region), region, name, before, config, sizes).await
    }
    async fn set_group_tags(&self, region: &str, name: &str, tags: &BTreeMap<String, AsgTag>) -> Result<(), AwsError> {
        autoscaling::set_tags(&self.autoscaling(region), region, name, tags).await
    }
    async fn remove_group_tags(&self, region: &str, name: &str, tags: &BTreeMap<String, AsgTag>) -> Result<(), AwsError> {
        autoscaling::remove_tags(&self.autoscaling(region), region, name, tags).await
    }
    async fn change_records(&self, zone: &str, zone_id: &str, writes: &[RecordWrite]) -> Result<(), AwsError> {
        route53::change_records(&self.route53(), zone, zone_id, writes).await
    }
    async fn delete_group(&self, region: &str, name: &str) -> Result<(), AwsError> {
        autoscaling::delete_group(&self.autoscaling(region), region, name).await
    }
    async fn delete_template(&self, region: &str, name: &str) -> Result<(), AwsError> {
        ec2::delete_template(&self.ec2(region), region, name).await
    }
    async fn create_control_plane(&self, region: &str, spec: &ControlPlaneCreate) -> Result<(), AwsError> {
        match eks::create_cluster(&self.eks(region), region, spec).await {
            Err(e) if e.code.as_deref() == Some("ResourceInUseException") => Ok(()),
            other => other,
        }
    }
    async fn update_control_plane_version(&self, region: &str, name: &str, to: &str) -> Result<(), AwsError> {
        eks::update_version(&self.eks(region), region, name, to).await
    }
    async fn update_control_plane_config(&self, region: &str, name: &str, change: &ControlPlaneChange) -> Result<(), AwsError> {
        eks::update_config(&self.eks(region), region, name, change).await
    }
    async fn tag_control_plane(&self, region: &str, name: &str, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        eks::tag(&self.eks(region), name, arn, tags).await
    }
    async fn wait_control_plane(&self, region: &str, name: &str, poll: Duration, tick: &(dyn Fn(&str, &str) + Sync)) -> Result<EksCluster, AwsError> {
        eks::wait_active(&self.eks(region), region, name, poll, CONTROL_PLANE_TIMEOUT, tick).await
    }
    async fn create_addon(&self, region: &str, cluster: &str, addon: &str, version: &str) -> Result<(), AwsError> {
        eks::create_addon(&self.eks(region), cluster, addon, version).await
    }
    async fn update_addon(&self, region: &str, cluster: &str, addon: &str, version: &str) -> Result<(), AwsError> {
        eks::update_addon(&self.eks(region), cluster, addon, version).await
    }
    async fn wait_addon(&self, region: &str, cluster: &str, addon: &str, poll: Duration) -> Result<Option<LiveAddon>, AwsError> {
        let c = self.eks(region);
        let start = std::time::Instant::now();
        let mut wait = eks::backoff_start(poll);
        loop {
            let state = eks::addon_state(&c, cluster, addon).await?;
            match &state {
                Some(a) if matches!(a.status.as_str(), "CREATING" | "UPDATING" | "DELETING") => {}
                _ => return Ok(state),
            }
            if start.elapsed() > CONTROL_PLANE_TIMEOUT {
                return Err(AwsError::new(
                    AwsErrorKind::Other,
                    format!("add-on {addon} of EKS cluster {cluster}"),
                    format!("still {} after {} minutes; run the same apply again later", state.map(|a| a.status).unwrap_or_default(), CONTROL_PLANE_TIMEOUT.as_secs() / 60),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(poll);
        }
    }
    async fn create_access_entry(&self, region: &str, cluster: &str, principal: &str, owner: &str) -> Result<(), AwsError> {
        eks::create_access_entry(&self.eks(region), cluster, principal, owner).await
    }
    async fn delete_access_entry(&self, region: &str, cluster: &str, principal: &str) -> Result<(), AwsError> {
        eks::delete_access_entry(&self.eks(region), cluster, principal).await
    }
    async fn tag_template(&self, region: &str, id: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        ec2::tag_resource(&self.ec2(region), region, id, tags).await
    }
    async fn delete_control_plane(&self, region: &str, name: &str, poll: Duration) -> Result<(), AwsError> {
        eks::delete_cluster(&self.eks(region), region, name, poll, CONTROL_PLANE_TIMEOUT).await
    }
}
