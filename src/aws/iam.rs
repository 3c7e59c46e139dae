//! IAM reads: instance profiles by name or ARN (IAM is global), each looked up once per run.

use aws_sdk_iam::Client;

use super::{AwsError, AwsErrorKind};

/// The profile's ARN, or Err(why) when it does not exist.
pub async fn instance_profile(c: &Client, profile: &str) -> Result<Result<String, String>, AwsError> {
    // An ARN ends with `instance-profile/[path/]name`; the API takes the name.
    let name = profile.rsplit('/').next().unwrap_or(profile);
    match c.get_instance_profile().instance_profile_name(name).send().await {
        Ok(r) => Ok(Ok(r.instance_profile().map(|p| p.arn().to_string()).unwrap_or_default())),
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
