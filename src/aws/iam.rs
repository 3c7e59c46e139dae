//! IAM reads: instance profiles (with the roles they carry: what EKS lets join) and the
//! cluster role, by name or ARN (IAM is global), each looked up once per run.

use aws_sdk_iam::Client;

use super::{AwsError, AwsErrorKind};

/// An instance profile: its ARN and its roles' ARNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProfile {
    pub arn: String,
    pub roles: Vec<String>,
}

/// The profile, or Err(why) when it does not exist.
pub async fn instance_profile(c: &Client, profile: &str) -> Result<Result<InstanceProfile, String>, AwsError> {
    // An ARN ends with `instance-profile/[path/]name`; the API takes the name.
    let name = profile.rsplit('/').next().unwrap_or(profile);
    match c.get_instance_profile().instance_profile_name(name).send().await {
        Ok(r) => Ok(Ok(r
            .instance_profile()
            .map(|p| InstanceProfile { arn: p.arn().to_string(), roles: p.roles().iter().map(|r| r.arn().to_string()).collect() })
            .unwrap_or(InstanceProfile { arn: String::new(), roles: vec![] }))),
        Err(e) => {
            let e = AwsError::from_sdk(format!("reading instance profile {profile}"), &e);
            if e.is(AwsErrorKind::NotFound) {
                Ok(Err("does not exist; create it (fleetform references instance profiles, never creates them) or fix iam.profile".to_string()))
            } else {
                Err(e)
            }
        }
    }
}

/// A role's ARN, or Err(why) when it does not exist.
pub async fn role(c: &Client, role: &str) -> Result<Result<String, String>, AwsError> {
    let name = role.rsplit('/').next().unwrap_or(role);
    match c.get_role().role_name(name).send().await {
        Ok(r) => Ok(Ok(r.role().map(|r| r.arn().to_string()).unwrap_or_default())),
        Err(e) => {
            let e = AwsError::from_sdk(format!("reading IAM role {role}"), &e);
            if e.is(AwsErrorKind::NotFound) {
                Ok(Err(format!("names IAM role `{name}`, which does not exist; create it (trusted by eks.amazonaws.com, with AmazonEKSClusterPolicy) or fix spec.eks.role")))
            } else {
                Err(e)
            }
        }
    }
}
