//! EKS reads: one cluster by name (DescribeCluster). A missing cluster is an answer (the plan
//! says so), not an error of the read.

use aws_sdk_eks::Client;

use super::{AwsError, AwsErrorKind};
use crate::core::live::EksCluster;

/// The cluster, or Err(why) when it does not exist.
pub async fn describe(c: &Client, region: &str, name: &str) -> Result<Result<EksCluster, String>, AwsError> {
    let r = match c.describe_cluster().name(name).send().await {
        Ok(r) => r,
        Err(e) => {
            let e = AwsError::from_sdk(format!("reading EKS cluster {name} in {region}"), &e);
            if e.is(AwsErrorKind::NotFound) {
                return Ok(Err(format!(
                    "no EKS cluster of that name in {region}; create it (or fix spec.eks.name: the default is the cluster's name with `-` for each dot)"
                )));
            }
            return Err(e);
        }
    };
    let Some(cl) = r.cluster() else { return Ok(Err(format!("EKS answered no cluster for {name} in {region}"))) };
    let vpc = cl.resources_vpc_config();
    let net = cl.kubernetes_network_config();
    Ok(Ok(EksCluster {
        name: cl.name().unwrap_or(name).to_string(),
        endpoint: cl.endpoint().unwrap_or_default().to_string(),
        certificate_authority: cl.certificate_authority().and_then(|c| c.data()).unwrap_or_default().to_string(),
        service_cidr: net.and_then(|n| n.service_ipv4_cidr().or(n.service_ipv6_cidr())).unwrap_or("10.100.0.0/16").to_string(),
        security_group_id: vpc.and_then(|v| v.cluster_security_group_id()).map(str::to_string),
        vpc_id: vpc.and_then(|v| v.vpc_id()).map(str::to_string),
        version: cl.version().unwrap_or_default().to_string(),
        status: cl.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
    }))
}
