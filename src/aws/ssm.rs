//! SSM reads: parameters holding AMI ids (`ssm:/path`, and AWS's public parameters of the
//! EKS-optimized and Bottlerocket images), ten names a request (the API's limit), all at once.

use std::collections::BTreeMap;

use aws_sdk_ssm::Client;

use super::AwsError;

/// name → value, or Err(why) for a name that does not exist.
pub async fn parameters(c: &Client, region: &str, names: &[String]) -> Result<BTreeMap<String, Result<String, String>>, AwsError> {
    let reads = futures::future::try_join_all(names.chunks(10).map(|chunk| async move {
        let r = c
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("reading SSM parameters in {region}"), &e))?;
        let mut out = BTreeMap::new();
        for p in r.parameters() {
            if let (Some(n), Some(v)) = (p.name(), p.value()) {
                out.insert(n.to_string(), Ok(v.trim().to_string()));
            }
        }
        for n in r.invalid_parameters() {
            out.insert(n.to_string(), Err(format!("SSM parameter {n} does not exist in {region}")));
        }
        Ok::<_, AwsError>(out)
    }))
    .await?;
    let mut out: BTreeMap<String, Result<String, String>> = reads.into_iter().flatten().collect();
    for n in names {
        out.entry(n.clone()).or_insert_with(|| Err(format!("SSM parameter {n} was not returned")));
    }
    Ok(out)
}
