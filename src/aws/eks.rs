//! EKS: the control plane, its access entries and its managed add-ons.
//!
//! Reads: one cluster by name (DescribeCluster), then — all at once — its access entries
//! (each described, for its type and owner tag) and its add-ons; and the versions EKS offers of
//! the add-ons that matter. A missing cluster is an answer (the plan creates it, or says why it
//! cannot), not an error of the read. Writes are one call each; waiting for the cluster to be
//! ACTIVE is [`wait_active`], which the executor calls after every control-plane step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_eks::types::{
    AuthenticationMode, CreateAccessConfigRequest, EncryptionConfig, KubernetesNetworkConfigRequest, LogSetup, LogType, Logging, Provider, ResolveConflicts,
    UpdateAccessConfigRequest, VpcConfigRequest,
};
use aws_sdk_eks::Client;
use futures::future::try_join_all;

use super::{AwsError, AwsErrorKind};
use crate::core::live::{AccessEntry, AddonCompat, AddonVersions, EksCluster, LiveAddon};
use crate::core::plan::{ControlPlaneChange, ControlPlaneCreate};
use crate::core::render::EKS_LOG_TYPES;
use crate::core::resources::TAG_CLUSTER;

/// The cluster, or Err(why) when it does not exist.
pub async fn describe(c: &Client, region: &str, name: &str) -> Result<Result<EksCluster, String>, AwsError> {
    let Some(mut e) = describe_only(c, region, name).await? else {
        return Ok(Err(format!("no EKS cluster of that name in {region} (the default name is the cluster's name with `-` for each dot; spec.eks.name sets another)")));
    };
    if matches!(e.status.as_str(), "CREATING" | "DELETING") {
        return Ok(Ok(e)); // nothing else to read (EKS refuses these reads meanwhile)
    }
    let (entries, addons) = tokio::try_join!(
        async {
            if e.authentication_mode == "CONFIG_MAP" {
                Ok(BTreeMap::new())
            } else {
                access_entries(c, name).await
            }
        },
        addons(c, name),
    )?;
    e.access_entries = entries;
    e.addons = addons;
    Ok(Ok(e))
}

/// DescribeCluster alone (None: no such cluster).
pub async fn describe_only(c: &Client, region: &str, name: &str) -> Result<Option<EksCluster>, AwsError> {
    let r = match c.describe_cluster().name(name).send().await {
        Ok(r) => r,
        Err(e) => {
            let e = AwsError::from_sdk(format!("reading EKS cluster {name} in {region}"), &e);
            if e.is(AwsErrorKind::NotFound) {
                return Ok(None);
            }
            return Err(e);
        }
    };
    let Some(cl) = r.cluster() else { return Ok(None) };
    let vpc = cl.resources_vpc_config();
    let net = cl.kubernetes_network_config();
    let mut logging: Vec<String> = cl
        .logging()
        .map(|l| l.cluster_logging().iter().filter(|s| s.enabled() == Some(true)).flat_map(|s| s.types().iter().map(|t| t.as_str().to_string())).collect())
        .unwrap_or_default();
    logging.sort();
    logging.dedup();
    let mut public_cidrs: Vec<String> = vpc.map(|v| v.public_access_cidrs().to_vec()).unwrap_or_default();
    public_cidrs.sort();
    Ok(Some(EksCluster {
        name: cl.name().unwrap_or(name).to_string(),
        endpoint: cl.endpoint().unwrap_or_default().to_string(),
        certificate_authority: cl.certificate_authority().and_then(|c| c.data()).unwrap_or_default().to_string(),
        service_cidr: net.and_then(|n| n.service_ipv4_cidr().or(n.service_ipv6_cidr())).unwrap_or("10.100.0.0/16").to_string(),
        security_group_id: vpc.and_then(|v| v.cluster_security_group_id()).map(str::to_string),
        vpc_id: vpc.and_then(|v| v.vpc_id()).map(str::to_string),
        version: cl.version().unwrap_or_default().to_string(),
        status: cl.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        arn: cl.arn().unwrap_or_default().to_string(),
        role_arn: cl.role_arn().unwrap_or_default().to_string(),
        subnet_ids: vpc.map(|v| v.subnet_ids().to_vec()).unwrap_or_default(),
        endpoint_public: vpc.is_some_and(|v| v.endpoint_public_access()),
        endpoint_private: vpc.is_some_and(|v| v.endpoint_private_access()),
        public_cidrs,
        logging,
        secrets_encryption_key: cl.encryption_config().iter().find_map(|e| e.provider().and_then(|p| p.key_arn()).map(str::to_string)),
        tags: cl.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
        // EKS reports no access configuration for clusters made before access entries.
        authentication_mode: cl.access_config().and_then(|a| a.authentication_mode()).map(|m| m.as_str().to_string()).unwrap_or_else(|| "CONFIG_MAP".into()),
        access_entries: BTreeMap::new(),
        addons: BTreeMap::new(),
    }))
}

async fn access_entries(c: &Client, cluster: &str) -> Result<BTreeMap<String, AccessEntry>, AwsError> {
    let mut principals = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .list_access_entries()
            .cluster_name(cluster)
            .set_next_token(token)
            .max_results(100)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("listing the access entries of EKS cluster {cluster}"), &e))?;
        principals.extend(r.access_entries().iter().cloned());
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let described = try_join_all(principals.iter().map(|p| async move {
        let r = c
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(p)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("reading the access entry of {p} in EKS cluster {cluster}"), &e))?;
        let e = r.access_entry();
        Ok::<_, AwsError>((
            p.clone(),
            AccessEntry {
                entry_type: e.and_then(|e| e.r#type()).unwrap_or("STANDARD").to_string(),
                owner: e.and_then(|e| e.tags()).and_then(|t| t.get(TAG_CLUSTER)).cloned(),
            },
        ))
    }))
    .await?;
    Ok(described.into_iter().collect())
}

async fn addons(c: &Client, cluster: &str) -> Result<BTreeMap<String, LiveAddon>, AwsError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .list_addons()
            .cluster_name(cluster)
            .set_next_token(token)
            .max_results(100)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("listing the add-ons of EKS cluster {cluster}"), &e))?;
        names.extend(r.addons().iter().cloned());
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let described = try_join_all(names.iter().map(|n| async move {
        let r = c
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(n)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("reading add-on {n} of EKS cluster {cluster}"), &e))?;
        let a = r.addon();
        Ok::<_, AwsError>((
            n.clone(),
            LiveAddon { version: a.and_then(|a| a.addon_version()).unwrap_or_default().to_string(), status: a.and_then(|a| a.status()).map(|s| s.as_str().to_string()).unwrap_or_default() },
        ))
    }))
    .await?;
    Ok(described.into_iter().collect())
}

/// The versions EKS offers of each add-on (every Kubernetes version), by add-on name.
pub async fn addon_versions(c: &Client, region: &str, names: &BTreeSet<String>) -> Result<BTreeMap<String, AddonVersions>, AwsError> {
    let read = try_join_all(names.iter().map(|n| async move {
        let mut out = AddonVersions::default();
        let mut token = None;
        loop {
            let r = c
                .describe_addon_versions()
                .addon_name(n)
                .set_next_token(token)
                .max_results(100)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("reading the versions of EKS add-on {n} in {region}"), &e))?;
            for info in r.addons() {
                for v in info.addon_versions() {
                    let Some(version) = v.addon_version() else { continue };
                    let entry: &mut AddonCompat = out.versions.entry(version.to_string()).or_default();
                    for c in v.compatibilities() {
                        if let Some(k) = c.cluster_version() {
                            entry.kubernetes.insert(k.to_string());
                            if c.default_version() {
                                entry.default_for.insert(k.to_string());
                            }
                        }
                    }
                }
            }
            token = r.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok::<_, AwsError>((n.clone(), out))
    }))
    .await?;
    Ok(read.into_iter().collect())
}

fn logging(enabled: &[String]) -> Logging {
    let (on, off): (Vec<&str>, Vec<&str>) = EKS_LOG_TYPES.iter().partition(|t| enabled.iter().any(|e| e == *t));
    let setup = |types: Vec<&str>, enabled: bool| LogSetup::builder().set_types(Some(types.into_iter().map(LogType::from).collect())).enabled(enabled).build();
    let mut b = Logging::builder();
    if !on.is_empty() {
        b = b.cluster_logging(setup(on, true));
    }
    if !off.is_empty() {
        b = b.cluster_logging(setup(off, false));
    }
    b.build()
}

pub async fn create_cluster(c: &Client, region: &str, s: &ControlPlaneCreate) -> Result<(), AwsError> {
    let mut vpc = VpcConfigRequest::builder().set_subnet_ids(Some(s.subnet_ids.clone())).endpoint_public_access(s.endpoint.public).endpoint_private_access(s.endpoint.private);
    if !s.endpoint.public_cidrs.is_empty() {
        vpc = vpc.set_public_access_cidrs(Some(s.endpoint.public_cidrs.clone()));
    }
    let mut req = c
        .create_cluster()
        .name(&s.name)
        .version(&s.version)
        .role_arn(&s.role_arn)
        .resources_vpc_config(vpc.build())
        .logging(logging(&s.logging))
        .set_tags(Some(s.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()))
        .access_config(CreateAccessConfigRequest::builder().authentication_mode(AuthenticationMode::from(s.authentication_mode.as_str())).build());
    if let Some(k) = &s.secrets_encryption_key {
        req = req.encryption_config(EncryptionConfig::builder().provider(Provider::builder().key_arn(k).build()).build());
    }
    if let Some(cidr) = &s.service_ipv4_cidr {
        req = req.kubernetes_network_config(KubernetesNetworkConfigRequest::builder().service_ipv4_cidr(cidr).build());
    }
    req.send().await.map_err(|e| AwsError::from_sdk(format!("creating EKS cluster {} in {region}", s.name), &e))?;
    Ok(())
}

pub async fn update_version(c: &Client, region: &str, name: &str, to: &str) -> Result<(), AwsError> {
    c.update_cluster_version()
        .name(name)
        .version(to)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("upgrading EKS cluster {name} in {region} to Kubernetes {to}"), &e))?;
    Ok(())
}

pub async fn update_config(c: &Client, region: &str, name: &str, change: &ControlPlaneChange) -> Result<(), AwsError> {
    let req = c.update_cluster_config().name(name);
    let req = match change {
        ControlPlaneChange::EndpointAccess { after, .. } => {
            let mut vpc = VpcConfigRequest::builder().endpoint_public_access(after.public).endpoint_private_access(after.private);
            if !after.public_cidrs.is_empty() {
                vpc = vpc.set_public_access_cidrs(Some(after.public_cidrs.clone()));
            }
            req.resources_vpc_config(vpc.build())
        }
        ControlPlaneChange::Logging { after, .. } => req.logging(logging(after)),
        ControlPlaneChange::AuthenticationMode { to, .. } => req.access_config(UpdateAccessConfigRequest::builder().authentication_mode(AuthenticationMode::from(to.as_str())).build()),
    };
    req.send().await.map_err(|e| AwsError::from_sdk(format!("updating EKS cluster {name} in {region}"), &e))?;
    Ok(())
}

pub async fn tag(c: &Client, name: &str, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
    c.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("tagging EKS cluster {name}"), &e))?;
    Ok(())
}

pub async fn create_addon(c: &Client, cluster: &str, addon: &str, version: &str) -> Result<(), AwsError> {
    c.create_addon()
        .cluster_name(cluster)
        .addon_name(addon)
        .addon_version(version)
        .resolve_conflicts(ResolveConflicts::Overwrite)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("installing add-on {addon} {version} in EKS cluster {cluster}"), &e))?;
    Ok(())
}

pub async fn update_addon(c: &Client, cluster: &str, addon: &str, version: &str) -> Result<(), AwsError> {
    c.update_addon()
        .cluster_name(cluster)
        .addon_name(addon)
        .addon_version(version)
        .resolve_conflicts(ResolveConflicts::Preserve)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("moving add-on {addon} of EKS cluster {cluster} to {version}"), &e))?;
    Ok(())
}

/// The add-on's status and version (None: not installed).
pub async fn addon_state(c: &Client, cluster: &str, addon: &str) -> Result<Option<LiveAddon>, AwsError> {
    match c.describe_addon().cluster_name(cluster).addon_name(addon).send().await {
        Ok(r) => Ok(r.addon().map(|a| LiveAddon { version: a.addon_version().unwrap_or_default().to_string(), status: a.status().map(|s| s.as_str().to_string()).unwrap_or_default() })),
        Err(e) => {
            let e = AwsError::from_sdk(format!("reading add-on {addon} of EKS cluster {cluster}"), &e);
            if e.is(AwsErrorKind::NotFound) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

pub async fn create_access_entry(c: &Client, cluster: &str, principal: &str, owner: &str) -> Result<(), AwsError> {
    let r = c.create_access_entry().cluster_name(cluster).principal_arn(principal).r#type("EC2_LINUX").tags(TAG_CLUSTER, owner).send().await;
    match r {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from_sdk(format!("creating the access entry of {principal} in EKS cluster {cluster}"), &e);
            // An earlier apply created it and stopped before saying so: done.
            if e.code.as_deref() == Some("ResourceInUseException") {
                return Ok(());
            }
            Err(e)
        }
    }
}

pub async fn delete_access_entry(c: &Client, cluster: &str, principal: &str) -> Result<(), AwsError> {
    match c.delete_access_entry().cluster_name(cluster).principal_arn(principal).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from_sdk(format!("deleting the access entry of {principal} in EKS cluster {cluster}"), &e);
            if e.is(AwsErrorKind::NotFound) {
                return Ok(());
            }
            Err(e)
        }
    }
}

/// Delete a cluster and wait until EKS no longer knows it. Already gone: done (a killed destroy
/// run again). Still being updated: waited for first (EKS refuses to delete it meanwhile).
pub async fn delete_cluster(c: &Client, region: &str, name: &str, poll: Duration, timeout: Duration) -> Result<(), AwsError> {
    let start = Instant::now();
    let mut wait = backoff_start(poll);
    let mut asked = false;
    loop {
        match describe_only(c, region, name).await? {
            None => return Ok(()),
            Some(e) if e.status == "DELETING" => {}
            Some(e) if !asked && matches!(e.status.as_str(), "ACTIVE" | "FAILED") => {
                match c.delete_cluster().name(name).send().await {
                    Ok(_) => asked = true,
                    Err(err) => {
                        let err = AwsError::from_sdk(format!("deleting EKS cluster {name} in {region}"), &err);
                        if err.is(AwsErrorKind::NotFound) {
                            return Ok(());
                        }
                        // In use (managed node groups or Fargate profiles attached, which fleetform
                        // does not make): AWS's message says which; nothing to wait for.
                        return Err(err);
                    }
                }
            }
            Some(_) => {}
        }
        if start.elapsed() > timeout {
            return Err(AwsError::new(AwsErrorKind::Other, format!("deleting EKS cluster {name} in {region}"), "it still exists; run the same destroy again later"));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(poll);
    }
}

/// Wait until the cluster is ACTIVE; `tick` is told the status at each poll. Errors: FAILED,
/// gone, or still not ACTIVE after `timeout`. Polls back off from a quarter second to `poll`:
/// a quick change is seen at once, a long one is not asked about every second.
pub async fn wait_active(c: &Client, region: &str, name: &str, poll: Duration, timeout: Duration, tick: &(dyn Fn(&str, &str) + Sync)) -> Result<EksCluster, AwsError> {
    let start = Instant::now();
    let mut wait = backoff_start(poll);
    loop {
        match describe_only(c, region, name).await? {
            Some(e) if e.status == "ACTIVE" => return Ok(e),
            Some(e) if matches!(e.status.as_str(), "FAILED" | "DELETING") => {
                return Err(AwsError::new(AwsErrorKind::Other, format!("EKS cluster {name} in {region}"), format!("it is {}; see aws eks describe-cluster --name {name} and the cluster's update history (aws eks list-updates --name {name})", e.status)));
            }
            Some(e) => tick(&e.status, &e.version),
            None => return Err(AwsError::new(AwsErrorKind::Other, format!("EKS cluster {name} in {region}"), "it no longer exists")),
        }
        if start.elapsed() > timeout {
            return Err(AwsError::new(
                AwsErrorKind::Other,
                format!("EKS cluster {name} in {region}"),
                format!("still not ACTIVE after {}; it may still be working: run the same apply again later, it continues from what EKS shows", format_args!("{} minutes", timeout.as_secs().div_ceil(60))),
            ));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(poll);
    }
}

/// The first wait of a backoff that ends at `poll`.
pub fn backoff_start(poll: Duration) -> Duration {
    Duration::from_millis(250).min(poll)
}
