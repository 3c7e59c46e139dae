//! EC2 reads: launch templates (by cluster tag, and which clusters own them from the tags
//! alone), their default versions (one region-wide call, not one per template), instances (by
//! tag key), images and subnets (by filter, so that a missing one is an absence, not an error).

use aws_sdk_ec2::types::{Filter, Image, Instance, LaunchTemplate, LaunchTemplateVersion, Subnet};
use aws_sdk_ec2::Client;
use base64::Engine;

use super::AwsError;
use crate::core::resources::{BlockDevice, LaunchTemplateData, TAG_CLUSTER};

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().collect())).build()
}

/// The launch templates whose fleetform cluster tag names one of `clusters`, in the largest
/// pages the API gives (200). The caller reads shards of a region's clusters side by side, each
/// small enough to be one page: a region-wide read would page 200 templates at a time, one page
/// after another.
pub async fn templates_of_clusters(c: &Client, region: &str, clusters: &[String]) -> Result<Vec<LaunchTemplate>, AwsError> {
    let mut out = Vec::new();
    let mut pages = c.describe_launch_templates().filters(filter(&format!("tag:{TAG_CLUSTER}"), clusters.iter().cloned())).max_results(200).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading launch templates in {region}"), &e))?;
        out.extend(page.launch_templates().iter().cloned());
    }
    Ok(out)
}

/// Every launch template of the region carrying the fleetform cluster tag, as (template id,
/// cluster): from the tags alone, 1000 a page (five times a template page), to say which
/// clusters own templates here without reading the templates of clusters not declared.
pub async fn template_owners(c: &Client, region: &str) -> Result<Vec<(String, String)>, AwsError> {
    let mut out = Vec::new();
    let mut pages = c
        .describe_tags()
        .filters(filter("resource-type", ["launch-template".to_string()]))
        .filters(filter("key", [TAG_CLUSTER.to_string()]))
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading launch template tags in {region}"), &e))?;
        out.extend(page.tags().iter().filter_map(|t| Some((t.resource_id()?.to_string(), t.value()?.to_string()))));
    }
    Ok(out)
}

/// Launch templates by name (a filter: absent names are simply not returned).
pub async fn templates_named(c: &Client, region: &str, names: &[String]) -> Result<Vec<LaunchTemplate>, AwsError> {
    let mut out = Vec::new();
    for chunk in names.chunks(200) {
        let mut pages = c.describe_launch_templates().filters(filter("launch-template-name", chunk.iter().cloned())).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(format!("reading launch templates by name in {region}"), &e))?;
            out.extend(page.launch_templates().iter().cloned());
        }
    }
    Ok(out)
}

/// The default version of every launch template of the region, in one paginated call.
pub async fn default_versions(c: &Client, region: &str) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
    let mut out = Vec::new();
    // The largest page the API gives (200); no filter narrows this read to fleetform's
    // templates, so a region's pages follow one another.
    let mut pages = c.describe_launch_template_versions().versions("$Default").max_results(200).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading launch template versions in {region}"), &e))?;
        out.extend(page.launch_template_versions().iter().cloned());
    }
    Ok(out)
}

/// Given versions of one template (used when a group runs a version other than the default).
pub async fn template_versions(c: &Client, region: &str, id: &str, versions: &[String]) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
    let mut out = Vec::new();
    let mut pages = c
        .describe_launch_template_versions()
        .launch_template_id(id)
        .set_versions(Some(versions.to_vec()))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading versions of launch template {id} in {region}"), &e))?;
        out.extend(page.launch_template_versions().iter().cloned());
    }
    Ok(out)
}

/// Pending and running instances carrying the fleetform cluster tag.
pub async fn managed_instances(c: &Client, region: &str) -> Result<Vec<Instance>, AwsError> {
    let mut out = Vec::new();
    let mut pages = c
        .describe_instances()
        .filters(filter("tag-key", [TAG_CLUSTER.to_string()]))
        .filters(filter("instance-state-name", ["pending".to_string(), "running".to_string()]))
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading instances in {region}"), &e))?;
        for r in page.reservations() {
            out.extend(r.instances().iter().cloned());
        }
    }
    Ok(out)
}

pub async fn images(c: &Client, region: &str, ids: &[String]) -> Result<Vec<Image>, AwsError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let r = c
        .describe_images()
        .filters(filter("image-id", ids.iter().cloned()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("reading images {} in {region}", ids.join(", ")), &e))?;
    Ok(r.images().to_vec())
}

/// Every instance type EC2 offers in the region, as lint needs it (vCPU, memory, architecture;
/// types of another architecture are left out).
pub async fn instance_types(c: &Client, region: &str) -> Result<Vec<(String, crate::core::instance_types::InstanceType)>, AwsError> {
    let mut out = Vec::new();
    let mut pages = c.describe_instance_types().max_results(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading instance types in {region}"), &e))?;
        for t in page.instance_types() {
            let Some(name) = t.instance_type().map(|x| x.as_str().to_string()) else { continue };
            let vcpu = t.v_cpu_info().and_then(|v| v.default_v_cpus()).unwrap_or(0) as u32;
            let memory_gib = t.memory_info().and_then(|m| m.size_in_mib()).unwrap_or(0) as f64 / 1024.0;
            let arch = t
                .processor_info()
                .map(|p| p.supported_architectures())
                .unwrap_or_default()
                .iter()
                .find_map(|a| crate::core::instance_types::arch_name(a.as_str()));
            if let Some(arch) = arch {
                out.push((name, crate::core::instance_types::InstanceType { vcpu, memory_gib, arch }));
            }
        }
    }
    Ok(out)
}

/// The newest image of `owner` whose name matches `name` (wildcards allowed), as kops resolves
/// `owner/name`; None when nothing matches.
pub async fn newest_image_named(c: &Client, region: &str, owner: &str, name: &str) -> Result<Option<String>, AwsError> {
    let r = c
        .describe_images()
        .owners(owner)
        .filters(filter("name", [name.to_string()]))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("looking up image {owner}/{name} in {region}"), &e))?;
    let mut images: Vec<&Image> = r.images().iter().collect();
    images.sort_by(|a, b| (a.creation_date(), a.image_id()).cmp(&(b.creation_date(), b.image_id())));
    Ok(images.last().and_then(|i| i.image_id()).map(str::to_string))
}

/// Security groups by id, and by name (group name, else the `Name` tag) in a VPC: reference →
/// id, or why not.
pub async fn security_groups(c: &Client, region: &str, vpc: Option<&str>, refs: &[String]) -> Result<std::collections::BTreeMap<String, Result<String, String>>, AwsError> {
    let (ids, names): (Vec<String>, Vec<String>) = refs.iter().cloned().partition(|r| r.starts_with("sg-"));
    let what = format!("reading security groups in {region}");
    let mut found = Vec::new();
    if !ids.is_empty() {
        let mut pages = c.describe_security_groups().filters(filter("group-id", ids.iter().cloned())).into_paginator().send();
        while let Some(page) = pages.next().await {
            found.extend(page.map_err(|e| AwsError::from_sdk(&what, &e))?.security_groups().iter().cloned());
        }
    }
    if !names.is_empty() {
        for f in ["group-name", "tag:Name"] {
            let mut req = c.describe_security_groups().filters(filter(f, names.iter().cloned()));
            if let Some(v) = vpc {
                req = req.filters(filter("vpc-id", [v.to_string()]));
            }
            let mut pages = req.into_paginator().send();
            while let Some(page) = pages.next().await {
                found.extend(page.map_err(|e| AwsError::from_sdk(&what, &e))?.security_groups().iter().cloned());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for r in refs {
        let hits: Vec<&str> = found
            .iter()
            .filter(|g| {
                g.group_id() == Some(r.as_str())
                    || g.group_name() == Some(r.as_str())
                    || g.tags().iter().any(|t| t.key() == Some("Name") && t.value() == Some(r.as_str()))
            })
            .filter_map(|g| g.group_id())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let answer = match hits.as_slice() {
            [one] => Ok(one.to_string()),
            [] if r.starts_with("sg-") => Err(format!("does not exist in {region}")),
            [] => Err(format!("no security group of that name in {}", vpc.map_or(region.to_string(), |v| format!("VPC {v}")))),
            many => Err(format!("{} security groups match ({}); name it by id", many.len(), many.join(", "))),
        };
        out.insert(r.clone(), answer);
    }
    Ok(out)
}

/// Subnets by id, and subnets tagged `kubernetes.io/cluster/<cluster>` for the given keys.
pub async fn subnets(c: &Client, region: &str, ids: &[String], tag_keys: &[String]) -> Result<Vec<Subnet>, AwsError> {
    // By id and by tag side by side.
    let reads = [("subnet-id", ids), ("tag-key", tag_keys)].into_iter().filter(|(_, v)| !v.is_empty()).map(|(name, values)| async move {
        let mut out = Vec::new();
        let mut pages = c.describe_subnets().filters(filter(name, values.iter().cloned())).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(format!("reading subnets in {region}"), &e))?;
            out.extend(page.subnets().iter().cloned());
        }
        Ok::<_, AwsError>(out)
    });
    Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect())
}

pub fn template_tag<'a>(t: &'a LaunchTemplate, key: &str) -> Option<&'a str> {
    t.tags().iter().find(|x| x.key() == Some(key)).and_then(|x| x.value())
}

pub fn instance_tag<'a>(i: &'a Instance, key: &str) -> Option<&'a str> {
    i.tags().iter().find(|x| x.key() == Some(key)).and_then(|x| x.value())
}

/// The comparable data of a launch-template version.
pub fn version_data(v: &LaunchTemplateVersion) -> LaunchTemplateData {
    let Some(d) = v.launch_template_data() else { return LaunchTemplateData::default() };
    let user_data = d.user_data().map(|u| {
        base64::engine::general_purpose::STANDARD
            .decode(u.trim())
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_else(|_| u.to_string())
    });
    let root_volume = d.block_device_mappings().first().map(|m| {
        let ebs = m.ebs();
        BlockDevice {
            device_name: m.device_name().unwrap_or_default().to_string(),
            size_gib: ebs.and_then(|e| e.volume_size()),
            volume_type: ebs.and_then(|e| e.volume_type()).map(|t| t.as_str().to_string()),
            iops: ebs.and_then(|e| e.iops()),
            throughput: ebs.and_then(|e| e.throughput()),
            encrypted: ebs.and_then(|e| e.encrypted()),
        }
    });
    let nic = d.network_interfaces().iter().find(|n| n.device_index().unwrap_or(0) == 0);
    let mut sgs: Vec<String> = d.security_group_ids().to_vec();
    if let Some(n) = nic {
        sgs.extend(n.groups().iter().cloned());
    }
    sgs.sort();
    sgs.dedup();
    let md = d.metadata_options();
    LaunchTemplateData {
        image_id: d.image_id().map(str::to_string),
        instance_type: d.instance_type().map(|t| t.as_str().to_string()),
        user_data,
        root_volume,
        security_group_ids: sgs,
        iam_instance_profile: d.iam_instance_profile().and_then(|p| p.arn().or(p.name())).map(str::to_string),
        http_tokens: md.and_then(|m| m.http_tokens()).map(|t| t.as_str().to_string()),
        http_put_response_hop_limit: md.and_then(|m| m.http_put_response_hop_limit()),
        associate_public_ip: nic.and_then(|n| n.associate_public_ip_address()),
        monitoring: d.monitoring().and_then(|m| m.enabled()),
        cpu_credits: d.credit_specification().and_then(|c| c.cpu_credits()).map(str::to_string),
        spot_max_price: d
            .instance_market_options()
            .filter(|m| m.market_type().map(|t| t.as_str()) == Some("spot"))
            .map(|m| crate::core::resources::normalize_price(m.spot_options().and_then(|s| s.max_price()).unwrap_or_default())),
    }
}

// ---- writes ----

use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest, LaunchTemplateInstanceMetadataOptionsRequest, RequestLaunchTemplateData,
    ResourceType, Tag, TagSpecification,
};

fn request_data(d: &LaunchTemplateData) -> RequestLaunchTemplateData {
    let mut b = RequestLaunchTemplateData::builder()
        .set_image_id(d.image_id.clone())
        .set_instance_type(d.instance_type.as_deref().map(aws_sdk_ec2::types::InstanceType::from))
        .set_user_data(d.user_data.as_ref().map(|u| base64::engine::general_purpose::STANDARD.encode(u)));
    if let Some(rv) = &d.root_volume {
        b = b.block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&rv.device_name)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .set_volume_size(rv.size_gib)
                        .set_volume_type(rv.volume_type.as_deref().map(aws_sdk_ec2::types::VolumeType::from))
                        .set_iops(rv.iops)
                        .set_throughput(rv.throughput)
                        .set_encrypted(rv.encrypted)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        );
    }
    match d.associate_public_ip {
        // With a network interface, the security groups belong to it (EC2 refuses both).
        Some(public) => {
            b = b.network_interfaces(
                aws_sdk_ec2::types::LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                    .device_index(0)
                    .associate_public_ip_address(public)
                    .delete_on_termination(true)
                    .set_groups(Some(d.security_group_ids.clone()))
                    .build(),
            );
        }
        None => {
            for sg in &d.security_group_ids {
                b = b.security_group_ids(sg);
            }
        }
    }
    if let Some(p) = &d.iam_instance_profile {
        let spec = if p.starts_with("arn:") {
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder().arn(p).build()
        } else {
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name(p).build()
        };
        b = b.iam_instance_profile(spec);
    }
    if let Some(on) = d.monitoring {
        b = b.monitoring(aws_sdk_ec2::types::LaunchTemplatesMonitoringRequest::builder().enabled(on).build());
    }
    if let Some(c) = &d.cpu_credits {
        b = b.credit_specification(aws_sdk_ec2::types::CreditSpecificationRequest::builder().cpu_credits(c).build());
    }
    if let Some(price) = &d.spot_max_price {
        b = b.instance_market_options(
            aws_sdk_ec2::types::LaunchTemplateInstanceMarketOptionsRequest::builder()
                .market_type(aws_sdk_ec2::types::MarketType::Spot)
                .spot_options(aws_sdk_ec2::types::LaunchTemplateSpotMarketOptionsRequest::builder().max_price(price).build())
                .build(),
        );
    }
    if d.http_tokens.is_some() || d.http_put_response_hop_limit.is_some() {
        b = b.metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .set_http_tokens(d.http_tokens.as_deref().map(LaunchTemplateHttpTokensState::from))
                .set_http_put_response_hop_limit(d.http_put_response_hop_limit)
                .build(),
        );
    }
    b.build()
}

/// Create a launch template (version 1 is its default).
pub async fn create_template(
    c: &Client,
    region: &str,
    name: &str,
    d: &LaunchTemplateData,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let spec = TagSpecification::builder()
        .resource_type(ResourceType::LaunchTemplate)
        .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .build();
    c.create_launch_template()
        .launch_template_name(name)
        .launch_template_data(request_data(d))
        .tag_specifications(spec)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("creating launch template {name} in {region}"), &e))?;
    Ok(())
}

/// Create a new version with the full data (versions never inherit: every field is sent).
pub async fn create_version(c: &Client, region: &str, name: &str, d: &LaunchTemplateData) -> Result<i64, AwsError> {
    let r = c
        .create_launch_template_version()
        .launch_template_name(name)
        .launch_template_data(request_data(d))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("creating a version of launch template {name} in {region}"), &e))?;
    r.launch_template_version()
        .and_then(|v| v.version_number())
        .ok_or_else(|| AwsError::new(super::AwsErrorKind::Other, format!("creating a version of launch template {name}"), "AWS returned no version number"))
}

pub async fn set_default_version(c: &Client, region: &str, name: &str, version: i64) -> Result<(), AwsError> {
    c.modify_launch_template()
        .launch_template_name(name)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("making version {version} the default of launch template {name} in {region}"), &e))?;
    Ok(())
}

pub async fn delete_template(c: &Client, region: &str, name: &str) -> Result<(), AwsError> {
    c.delete_launch_template()
        .launch_template_name(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("deleting launch template {name} in {region}"), &e))?;
    Ok(())
}

/// EC2 status checks of instances: id → None when both checks are ok, or what is not ok.
pub async fn status_checks(c: &Client, region: &str, ids: &[String]) -> Result<std::collections::BTreeMap<String, Option<String>>, AwsError> {
    let mut out = std::collections::BTreeMap::new();
    for chunk in ids.chunks(100) {
        let r = c
            .describe_instance_status()
            .set_instance_ids(Some(chunk.to_vec()))
            .include_all_instances(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("reading instance status checks in {region}"), &e))?;
        for s in r.instance_statuses() {
            let Some(id) = s.instance_id() else { continue };
            let inst = s.instance_status().and_then(|x| x.status()).map(|x| x.as_str().to_string());
            let sys = s.system_status().and_then(|x| x.status()).map(|x| x.as_str().to_string());
            let state = s.instance_state().and_then(|x| x.name()).map(|x| x.as_str().to_string());
            let bad = match (state.as_deref(), inst.as_deref(), sys.as_deref()) {
                (Some("running"), Some("ok"), Some("ok")) => None,
                (st, i, y) => Some(format!("state {}, instance check {}, system check {}", st.unwrap_or("?"), i.unwrap_or("?"), y.unwrap_or("?"))),
            };
            out.insert(id.to_string(), bad);
        }
    }
    Ok(out)
}

/// Tag a resource by id (adopting a launch template).
pub async fn tag_resource(c: &Client, region: &str, id: &str, tags: &std::collections::BTreeMap<String, String>) -> Result<(), AwsError> {
    c.create_tags()
        .resources(id)
        .set_tags(Some(tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()).collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("tagging {id} in {region}"), &e))?;
    Ok(())
}

/// The lowest current spot price of each type across the region's zones (Linux), USD an hour.
/// Spot prices are only shown in a plan's cost: when the history cannot be read the plan says
/// the spot price is not known, and why (the second value), never fails.
pub async fn spot_prices(c: &Client, region: &str, types: &[String]) -> (std::collections::BTreeMap<String, f64>, Option<String>) {
    let mut out: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    if types.is_empty() {
        return (out, None);
    }
    let mut pages = c
        .describe_spot_price_history()
        .set_instance_types(Some(types.iter().map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str())).collect()))
        .product_descriptions("Linux/UNIX")
        .start_time(aws_smithy_types::DateTime::from(std::time::SystemTime::now()))
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return (out, Some(AwsError::from_sdk(format!("reading spot prices in {region}"), &e).to_string())),
        };
        for p in page.spot_price_history() {
            let (Some(t), Some(price)) = (p.instance_type(), p.spot_price().and_then(|s| s.parse::<f64>().ok())) else { continue };
            let e = out.entry(t.as_str().to_string()).or_insert(price);
            *e = e.min(price);
        }
    }
    (out, None)
}
