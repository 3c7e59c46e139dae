//! Auto Scaling reads: every group fleetform manages in a region (by tag key, paginated), and
//! groups by name (to find names taken by someone else).

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{AutoScalingGroup, Filter};
use aws_sdk_autoscaling::Client;

use super::describe_error;
use crate::core::resources::{AsgConfig, AsgTag, MixedInstances, TAG_CLUSTER};

/// Every group carrying the fleetform cluster tag, in one paginated read.
pub async fn managed_groups(c: &Client, region: &str) -> Result<Vec<AutoScalingGroup>, String> {
    let mut out = Vec::new();
    let mut pages = c
        .describe_auto_scaling_groups()
        .filters(Filter::builder().name("tag-key").values(TAG_CLUSTER).build())
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe_error(&format!("reading Auto Scaling groups in {region}"), &e))?;
        out.extend(page.auto_scaling_groups().iter().cloned());
    }
    Ok(out)
}

/// Groups by name (50 names a request), to see which declared names someone else has taken.
pub async fn groups_named(c: &Client, region: &str, names: &[String]) -> Result<Vec<AutoScalingGroup>, String> {
    let mut out = Vec::new();
    for chunk in names.chunks(50) {
        let mut pages = c
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(chunk.to_vec()))
            .max_records(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe_error(&format!("reading Auto Scaling groups by name in {region}"), &e))?;
            out.extend(page.auto_scaling_groups().iter().cloned());
        }
    }
    Ok(out)
}

pub fn tags(g: &AutoScalingGroup) -> BTreeMap<String, AsgTag> {
    g.tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                AsgTag { value: t.value().unwrap_or_default().to_string(), propagate_at_launch: t.propagate_at_launch().unwrap_or(false) },
            ))
        })
        .collect()
}

pub fn tag<'a>(g: &'a AutoScalingGroup, key: &str) -> Option<&'a str> {
    g.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// The comparable configuration of a live group.
pub fn config(g: &AutoScalingGroup) -> AsgConfig {
    let mut subnet_ids: Vec<String> = g
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    subnet_ids.sort();
    let (lt_name, lt_version, mixed) = match g.mixed_instances_policy() {
        Some(p) => {
            let spec = p.launch_template().and_then(|l| l.launch_template_specification());
            let dist = p.instances_distribution();
            let mixed = MixedInstances {
                instance_types: p
                    .launch_template()
                    .map(|l| l.overrides().iter().filter_map(|o| o.instance_type().map(str::to_string)).collect())
                    .unwrap_or_default(),
                on_demand_base: dist.and_then(|d| d.on_demand_base_capacity()).unwrap_or(0),
                on_demand_above_base: dist.and_then(|d| d.on_demand_percentage_above_base_capacity()).unwrap_or(100),
                spot_allocation_strategy: dist.and_then(|d| d.spot_allocation_strategy()).map(str::to_string),
            };
            (
                spec.and_then(|s| s.launch_template_name()).unwrap_or_default().to_string(),
                spec.and_then(|s| s.version()).unwrap_or("$Default").to_string(),
                Some(mixed),
            )
        }
        None => {
            let spec = g.launch_template();
            (
                spec.and_then(|s| s.launch_template_name()).unwrap_or_default().to_string(),
                spec.and_then(|s| s.version()).unwrap_or("$Default").to_string(),
                None,
            )
        }
    };
    AsgConfig {
        min_size: g.min_size().unwrap_or(0),
        max_size: g.max_size().unwrap_or(0),
        subnet_ids,
        launch_template: lt_name,
        launch_template_version: lt_version,
        mixed_instances: mixed,
        capacity_rebalance: g.capacity_rebalance().unwrap_or(false),
        tags: tags(g),
    }
}
