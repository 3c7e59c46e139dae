//! The writes the executor makes, behind one trait: the real AWS layer implements it, and the
//! executor's unit tests drive the executor against an in-memory fake (as kops tests its
//! rolling update against a mock cloud). One method per AWS call kind; no decisions here.

use std::collections::BTreeMap;

use super::{autoscaling, ec2, route53, Aws, AwsError};
use crate::core::plan::RecordWrite;
use crate::core::resources::{AsgConfig, AsgTag, LaunchTemplateData};

/// AWS writes of apply. `async fn` in a trait: used through generics, never as `dyn`.
#[allow(async_fn_in_trait)]
pub trait Cloud {
    async fn create_template(&self, region: &str, name: &str, data: &LaunchTemplateData, tags: &BTreeMap<String, String>) -> Result<(), AwsError>;
    /// Create a version with the full data; returns the number AWS gave it.
    async fn create_version(&self, region: &str, name: &str, data: &LaunchTemplateData) -> Result<i64, AwsError>;
    async fn set_default_version(&self, region: &str, name: &str, version: i64) -> Result<(), AwsError>;
    async fn create_group(&self, region: &str, name: &str, config: &AsgConfig, desired: i32) -> Result<(), AwsError>;
    /// Update sizes, subnets, launch template and policy; `sizes` is (min, max, desired).
    async fn update_group(&self, region: &str, name: &str, config: &AsgConfig, sizes: (i32, i32, Option<i32>)) -> Result<(), AwsError>;
    async fn set_group_tags(&self, region: &str, name: &str, tags: &BTreeMap<String, AsgTag>) -> Result<(), AwsError>;
    async fn remove_group_tags(&self, region: &str, name: &str, tags: &BTreeMap<String, AsgTag>) -> Result<(), AwsError>;
    async fn change_records(&self, zone: &str, zone_id: &str, writes: &[RecordWrite]) -> Result<(), AwsError>;
    async fn delete_group(&self, region: &str, name: &str) -> Result<(), AwsError>;
    async fn delete_template(&self, region: &str, name: &str) -> Result<(), AwsError>;
}

impl Cloud for Aws {
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
    async fn update_group(&self, region: &str, name: &str, config: &AsgConfig, sizes: (i32, i32, Option<i32>)) -> Result<(), AwsError> {
        autoscaling::update_group(&self.autoscaling(region), region, name, config, sizes).await
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
}
