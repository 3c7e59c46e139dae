//! Auto Scaling reads: every group fleetform manages in a region (by tag key, paginated), and
//! groups by name (to find names taken by someone else).

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{AutoScalingGroup, Filter};
use aws_sdk_autoscaling::Client;

use super::AwsError;
use crate::core::resources::{AsgConfig, AsgTag, MixedInstances, TAG_CLUSTER};
use crate::core::schedule::ScheduledAction;

/// A group being deleted (a destroy, or a deletion apply made) still carries its tags for the
/// minutes its instances take to go: it is no longer anyone's.
pub fn deleting(g: &AutoScalingGroup) -> bool {
    g.status() == Some("Delete in progress")
}

/// The most values one request's filter takes here (a tag filter's values are OR-ed).
pub const FILTER_VALUES: usize = 5;

/// Every group whose fleetform cluster tag names one of `clusters` (at most [`FILTER_VALUES`]),
/// in one paginated read, groups being deleted included (see [`deleting`]). The caller reads shards of a region's clusters side by side: one
/// region-wide read would page 100 groups at a time, one page after another.
pub async fn groups_of_clusters(c: &Client, region: &str, clusters: &[String]) -> Result<Vec<AutoScalingGroup>, AwsError> {
    let mut out = Vec::new();
    let mut pages = c
        .describe_auto_scaling_groups()
        .filters(Filter::builder().name(format!("tag:{TAG_CLUSTER}")).set_values(Some(clusters.to_vec())).build())
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading Auto Scaling groups in {region}"), &e))?;
        out.extend(page.auto_scaling_groups().iter().cloned());
    }
    Ok(out)
}

/// Groups by name (50 names a request), to see which declared names someone else has taken.
pub async fn groups_named(c: &Client, region: &str, names: &[String]) -> Result<Vec<AutoScalingGroup>, AwsError> {
    let mut out = Vec::new();
    for chunk in names.chunks(50) {
        let mut pages = c
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(chunk.to_vec()))
            .max_records(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(format!("reading Auto Scaling groups by name in {region}"), &e))?;
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
            let requirements = p.launch_template().and_then(|l| l.overrides().iter().find_map(|o| o.instance_requirements())).map(|r| {
                let c = r.v_cpu_count();
                let m = r.memory_mib();
                ((c.and_then(|c| c.min()).unwrap_or(0), c.and_then(|c| c.max())), (m.and_then(|m| m.min()).unwrap_or(0), m.and_then(|m| m.max())))
            });
            let mixed = MixedInstances {
                requirements,
                instance_types: p
                    .launch_template()
                    .map(|l| l.overrides().iter().filter_map(|o| o.instance_type().map(str::to_string)).collect())
                    .unwrap_or_default(),
                on_demand_base: dist.and_then(|d| d.on_demand_base_capacity()).unwrap_or(0),
                on_demand_above_base: dist.and_then(|d| d.on_demand_percentage_above_base_capacity()).unwrap_or(100),
                spot_allocation_strategy: dist.and_then(|d| d.spot_allocation_strategy()).map(str::to_string),
                spot_max_price: dist.and_then(|d| d.spot_max_price()).filter(|p| !p.is_empty()).map(crate::core::resources::normalize_price),
                spot_instance_pools: dist.and_then(|d| d.spot_instance_pools()).filter(|p| *p > 0),
                on_demand_allocation_strategy: dist.and_then(|d| d.on_demand_allocation_strategy()).map(str::to_string),
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
        suspended_processes: {
            let mut p: Vec<String> = g.suspended_processes().iter().filter_map(|p| p.process_name()).map(str::to_string).collect();
            p.sort();
            p
        },
        protect_from_scale_in: g.new_instances_protected_from_scale_in().unwrap_or(false),
        max_instance_lifetime: g.max_instance_lifetime().filter(|s| *s > 0),
        // A pool being deleted is gone as far as the plan is concerned.
        warm_pool: g.warm_pool_configuration().filter(|w| w.status().is_none_or(|s| s.as_str() != "PendingDelete")).map(|w| crate::core::resources::WarmPool {
            min_size: w.min_size().unwrap_or(0),
            // -1 is AWS's "not set".
            max_prepared: w.max_group_prepared_capacity().filter(|m| *m >= 0),
            pool_state: w.pool_state().map_or("Stopped".to_string(), |s| s.as_str().to_string()),
        }),
        tags: tags(g),
    }
}

// ---- writes ----

use aws_sdk_autoscaling::types::{
    InstancesDistribution, LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy, Tag,
};

fn lt_spec(cfg: &AsgConfig) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .launch_template_name(&cfg.launch_template)
        .version(&cfg.launch_template_version)
        .build()
}

fn mixed_policy(cfg: &AsgConfig, m: &MixedInstances) -> MixedInstancesPolicy {
    MixedInstancesPolicy::builder()
        .launch_template(
            LaunchTemplate::builder()
                .launch_template_specification(lt_spec(cfg))
                .set_overrides(Some(match m.requirements {
                    Some(((c0, c1), (m0, m1))) => vec![LaunchTemplateOverrides::builder()
                        .instance_requirements(
                            aws_sdk_autoscaling::types::InstanceRequirements::builder()
                                .v_cpu_count(aws_sdk_autoscaling::types::VCpuCountRequest::builder().min(c0).set_max(c1).build())
                                .memory_mib(aws_sdk_autoscaling::types::MemoryMiBRequest::builder().min(m0).set_max(m1).build())
                                .build(),
                        )
                        .build()],
                    None => m.instance_types.iter().map(|t| LaunchTemplateOverrides::builder().instance_type(t).build()).collect(),
                }))
                .build(),
        )
        .instances_distribution(
            InstancesDistribution::builder()
                .on_demand_base_capacity(m.on_demand_base)
                .on_demand_percentage_above_base_capacity(m.on_demand_above_base)
                .set_spot_allocation_strategy(m.spot_allocation_strategy.clone())
                // An empty string removes a price set before (the API's way to unset it).
                .spot_max_price(m.spot_max_price.clone().unwrap_or_default())
                .set_spot_instance_pools(m.spot_instance_pools)
                .set_on_demand_allocation_strategy(m.on_demand_allocation_strategy.clone())
                .build(),
        )
        .build()
}

fn make_tag(group: &str, k: &str, t: &AsgTag) -> Tag {
    Tag::builder()
        .resource_id(group)
        .resource_type("auto-scaling-group")
        .key(k)
        .value(&t.value)
        .propagate_at_launch(t.propagate_at_launch)
        .build()
}

pub async fn create_group(c: &Client, region: &str, name: &str, cfg: &AsgConfig, desired: i32) -> Result<(), AwsError> {
    let mut req = c
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(cfg.min_size)
        .max_size(cfg.max_size)
        .desired_capacity(desired)
        .vpc_zone_identifier(cfg.subnet_ids.join(","))
        .capacity_rebalance(cfg.capacity_rebalance)
        .new_instances_protected_from_scale_in(cfg.protect_from_scale_in)
        .set_max_instance_lifetime(cfg.max_instance_lifetime)
        .health_check_type("EC2")
        .health_check_grace_period(300);
    req = match &cfg.mixed_instances {
        Some(m) => req.mixed_instances_policy(mixed_policy(cfg, m)),
        None => req.launch_template(lt_spec(cfg)),
    };
    for (k, t) in &cfg.tags {
        req = req.tags(make_tag(name, k, t));
    }
    req.send().await.map_err(|e| AwsError::from_sdk(format!("creating Auto Scaling group {name} in {region}"), &e))?;
    if !cfg.suspended_processes.is_empty() {
        set_suspended(c, region, name, &cfg.suspended_processes).await?;
    }
    if let Some(w) = &cfg.warm_pool {
        put_warm_pool(c, region, name, w).await?;
    }
    Ok(())
}

async fn put_warm_pool(c: &Client, region: &str, name: &str, w: &crate::core::resources::WarmPool) -> Result<(), AwsError> {
    c.put_warm_pool()
        .auto_scaling_group_name(name)
        .min_size(w.min_size)
        // -1 clears a maximum set before (AWS's way).
        .max_group_prepared_capacity(w.max_prepared.unwrap_or(-1))
        .pool_state(aws_sdk_autoscaling::types::WarmPoolState::from(w.pool_state.as_str()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("setting the warm pool of Auto Scaling group {name} in {region}"), &e))?;
    Ok(())
}

/// Suspend exactly `declared`: resume every other process (a declared list, as kops keeps it).
async fn set_suspended(c: &Client, region: &str, name: &str, declared: &[String]) -> Result<(), AwsError> {
    let others: Vec<String> = crate::core::model::SCALING_PROCESSES.iter().filter(|p| !declared.iter().any(|d| d == *p)).map(|p| p.to_string()).collect();
    c.resume_processes()
        .auto_scaling_group_name(name)
        .set_scaling_processes(Some(others))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("resuming processes of Auto Scaling group {name} in {region}"), &e))?;
    if !declared.is_empty() {
        c.suspend_processes()
            .auto_scaling_group_name(name)
            .set_scaling_processes(Some(declared.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("suspending {} of Auto Scaling group {name} in {region}", declared.join(", ")), &e))?;
    }
    Ok(())
}

/// Update sizes, subnets, launch template (the whole mixed-instances policy is always sent: an
/// update without it would drop it on some implementations), capacity rebalance, scale-in
/// protection, instance lifetime, suspended processes and the warm pool (put when it differs
/// from `before`'s, deleted when it is no longer declared).
pub async fn update_group(c: &Client, region: &str, name: &str, before: &AsgConfig, cfg: &AsgConfig, sizes: (i32, i32, Option<i32>)) -> Result<(), AwsError> {
    let (min, max, desired) = sizes;
    let mut req = c
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(min)
        .max_size(max)
        .set_desired_capacity(desired)
        .vpc_zone_identifier(cfg.subnet_ids.join(","))
        .capacity_rebalance(cfg.capacity_rebalance)
        .new_instances_protected_from_scale_in(cfg.protect_from_scale_in)
        // 0 removes a lifetime set before.
        .max_instance_lifetime(cfg.max_instance_lifetime.unwrap_or(0));
    req = match &cfg.mixed_instances {
        Some(m) => req.mixed_instances_policy(mixed_policy(cfg, m)),
        None => req.launch_template(lt_spec(cfg)),
    };
    req.send().await.map_err(|e| AwsError::from_sdk(format!("updating Auto Scaling group {name} in {region}"), &e))?;
    // Only when they differ: a rolling update may hold processes that are not the plan's to give
    // back (it gives them back with the sizes).
    if before.suspended_processes != cfg.suspended_processes {
        set_suspended(c, region, name, &cfg.suspended_processes).await?;
    }
    match (&before.warm_pool, &cfg.warm_pool) {
        (b, Some(w)) if b.as_ref() != Some(w) => put_warm_pool(c, region, name, w).await?,
        (Some(_), None) => {
            c.delete_warm_pool()
                .auto_scaling_group_name(name)
                .force_delete(true)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("deleting the warm pool of Auto Scaling group {name} in {region}"), &e))?;
        }
        _ => {}
    }
    Ok(())
}

/// Create or overwrite tags of a group (50 a request, the API's limit).
pub async fn set_tags(c: &Client, region: &str, name: &str, tags: &BTreeMap<String, AsgTag>) -> Result<(), AwsError> {
    let all: Vec<Tag> = tags.iter().map(|(k, t)| make_tag(name, k, t)).collect();
    for chunk in all.chunks(50) {
        c.create_or_update_tags()
            .set_tags(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("tagging Auto Scaling group {name} in {region}"), &e))?;
    }
    Ok(())
}

/// Delete tags of a group.
pub async fn remove_tags(c: &Client, region: &str, name: &str, tags: &BTreeMap<String, AsgTag>) -> Result<(), AwsError> {
    let all: Vec<Tag> = tags.iter().map(|(k, t)| make_tag(name, k, t)).collect();
    for chunk in all.chunks(50) {
        c.delete_tags()
            .set_tags(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("removing tags of Auto Scaling group {name} in {region}"), &e))?;
    }
    Ok(())
}

/// Delete a group and terminate its instances.
pub async fn delete_group(c: &Client, region: &str, name: &str) -> Result<(), AwsError> {
    c.delete_auto_scaling_group()
        .auto_scaling_group_name(name)
        .force_delete(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("deleting Auto Scaling group {name} in {region}"), &e))?;
    Ok(())
}

// ---- rolling update ----

/// One group by name, fresh.
pub async fn describe_group(c: &Client, region: &str, name: &str) -> Result<Option<AutoScalingGroup>, AwsError> {
    let r = c
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("reading Auto Scaling group {name} in {region}"), &e))?;
    Ok(r.auto_scaling_groups().first().cloned())
}

/// Change sizes only (the launch template and policy stay as they are).
pub async fn set_sizes(c: &Client, region: &str, name: &str, min: i32, max: i32, desired: i32) -> Result<(), AwsError> {
    c.update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(min)
        .max_size(max)
        .desired_capacity(desired)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("resizing Auto Scaling group {name} to min {min} / max {max} / desired {desired} in {region}"), &e))?;
    Ok(())
}

/// The groups carrying any of the tag keys, whoever owns them, as (group, key) pairs: the tags
/// alone (DescribeTags), not the groups, whose description is many times larger and which the
/// caller has mostly read already. [`FILTER_VALUES`] keys a request; the caller shards longer
/// lists to read them side by side.
pub async fn names_tagged(c: &Client, region: &str, keys: &[String]) -> Result<Vec<(String, String)>, AwsError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(FILTER_VALUES) {
        let mut pages = c.describe_tags().filters(Filter::builder().name("key").set_values(Some(chunk.to_vec())).build()).max_records(100).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(format!("reading Auto Scaling group tags in {region}"), &e))?;
            out.extend(page.tags().iter().filter_map(|t| Some((t.resource_id()?.to_string(), t.key()?.to_string()))));
        }
    }
    Ok(out)
}

/// Change the min size only.
pub async fn set_min(c: &Client, region: &str, name: &str, min: i32) -> Result<(), AwsError> {
    c.update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(min)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("setting the min size of Auto Scaling group {name} to {min} in {region}"), &e))?;
    Ok(())
}

/// Resume scaling processes of a group.
pub async fn resume_processes(c: &Client, region: &str, name: &str, processes: &[String]) -> Result<(), AwsError> {
    c.resume_processes()
        .auto_scaling_group_name(name)
        .set_scaling_processes(Some(processes.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("resuming {} of Auto Scaling group {name} in {region}", processes.join(", ")), &e))?;
    Ok(())
}

/// Suspend scaling processes of a group (`Launch`, `ReplaceUnhealthy`, `AZRebalance`, …).
pub async fn suspend_processes(c: &Client, region: &str, name: &str, processes: &[&str]) -> Result<(), AwsError> {
    c.suspend_processes()
        .auto_scaling_group_name(name)
        .set_scaling_processes(Some(processes.iter().map(|p| p.to_string()).collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("suspending {} of Auto Scaling group {name} in {region}", processes.join(", ")), &e))?;
    Ok(())
}

pub async fn terminate_instance(c: &Client, region: &str, id: &str, decrement: bool) -> Result<(), AwsError> {
    c.terminate_instance_in_auto_scaling_group()
        .instance_id(id)
        .should_decrement_desired_capacity(decrement)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("terminating instance {id} in {region}"), &e))?;
    Ok(())
}

/// Set (or with `value` None remove) one tag of a group, not propagated to instances.
pub async fn set_group_tag(c: &Client, region: &str, name: &str, key: &str, value: Option<&str>) -> Result<(), AwsError> {
    let t = AsgTag { value: value.unwrap_or_default().to_string(), propagate_at_launch: false };
    let tag = make_tag(name, key, &t);
    let what = format!("tagging Auto Scaling group {name} in {region}");
    match value {
        Some(_) => c.create_or_update_tags().tags(tag).send().await.map(|_| ()).map_err(|e| AwsError::from_sdk(&what, &e)),
        None => c.delete_tags().tags(tag).send().await.map(|_| ()).map_err(|e| AwsError::from_sdk(&what, &e)),
    }
}

/// Scaling activities of the group that failed since `since` (launch failures: capacity,
/// quotas, a bad template), as their status messages.
pub async fn failed_activities_since(c: &Client, region: &str, name: &str, since: std::time::SystemTime) -> Result<Vec<String>, AwsError> {
    let r = c
        .describe_scaling_activities()
        .auto_scaling_group_name(name)
        .max_records(20)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("reading scaling activities of {name} in {region}"), &e))?;
    let since = aws_smithy_types::DateTime::from(since);
    Ok(r.activities()
        .iter()
        .filter(|a| {
            matches!(a.status_code().map(|s| s.as_str()), Some("Failed" | "Cancelled"))
                && a.start_time().is_some_and(|t| t.secs() >= since.secs())
        })
        .map(|a| {
            let code = a.status_code().map(|s| s.as_str()).unwrap_or("Failed");
            format!("{code}: {}", a.status_message().or(a.description()).unwrap_or("no message"))
        })
        .collect())
}

/// Every scheduled action of the region, in one paginated read (a request per group would
/// cost a round trip per group): (group, action name, action).
pub async fn scheduled_actions(c: &Client, region: &str) -> Result<Vec<(String, String, ScheduledAction)>, AwsError> {
    let mut out = Vec::new();
    let mut pages = c.describe_scheduled_actions().max_records(100).into_paginator().send();
    let time = |t: Option<&aws_smithy_types::DateTime>| t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()).map(|s| s.replace(".000Z", "Z"));
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading scheduled actions in {region}"), &e))?;
        for a in page.scheduled_update_group_actions() {
            let (Some(g), Some(n)) = (a.auto_scaling_group_name(), a.scheduled_action_name()) else { continue };
            out.push((
                g.to_string(),
                n.to_string(),
                ScheduledAction {
                    recurrence: a.recurrence().map(str::to_string),
                    time_zone: a.time_zone().map(str::to_string),
                    start_time: time(a.start_time()),
                    end_time: time(a.end_time()),
                    min_size: a.min_size().unwrap_or(-1),
                    max_size: a.max_size().unwrap_or(-1),
                    desired_capacity: a.desired_capacity().unwrap_or(-1),
                },
            ));
        }
    }
    Ok(out)
}

/// Create or update a scheduled action (PutScheduledUpdateGroupAction; a field it does not name
/// may be kept on an update, so the executor deletes first when one goes).
pub async fn put_scheduled_action(c: &Client, region: &str, group: &str, name: &str, a: &ScheduledAction) -> Result<(), AwsError> {
    let time = |t: &Option<String>| -> Result<Option<aws_smithy_types::DateTime>, AwsError> {
        t.as_deref()
            .map(|s| aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime))
            .transpose()
            .map_err(|e| AwsError::new(super::AwsErrorKind::Other, format!("scheduled action {name} of {group}"), format!("bad time: {e}")))
    };
    c.put_scheduled_update_group_action()
        .auto_scaling_group_name(group)
        .scheduled_action_name(name)
        .set_recurrence(a.recurrence.clone())
        .set_time_zone(a.time_zone.clone())
        .set_start_time(time(&a.start_time)?)
        .set_end_time(time(&a.end_time)?)
        .min_size(a.min_size)
        .max_size(a.max_size)
        .desired_capacity(a.desired_capacity)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("writing scheduled action {name} of {group} in {region}"), &e))?;
    Ok(())
}

/// Delete a scheduled action. One gone since the read (a one-off AWS ran and removed) is done:
/// AWS answers a plain ValidationError for it, so the group's actions are asked, not the
/// message read.
pub async fn delete_scheduled_action(c: &Client, region: &str, group: &str, name: &str) -> Result<(), AwsError> {
    let Err(e) = c.delete_scheduled_action().auto_scaling_group_name(group).scheduled_action_name(name).send().await else { return Ok(()) };
    let err = AwsError::from_sdk(format!("deleting scheduled action {name} of {group} in {region}"), &e);
    let still = c.describe_scheduled_actions().auto_scaling_group_name(group).scheduled_action_names(name).send().await;
    match still {
        Ok(r) if r.scheduled_update_group_actions().is_empty() => Ok(()),
        _ => Err(err),
    }
}

/// Scaling activities of the group that failed since `since`: (start, status message, details).
/// Newest first, page by page until one reaches back past `since`.
pub async fn failed_activities(c: &Client, region: &str, name: &str, since: jiff::Timestamp) -> Result<Vec<(jiff::Timestamp, String, String)>, AwsError> {
    let mut out = Vec::new();
    let mut pages = c.describe_scaling_activities().auto_scaling_group_name(name).max_records(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(format!("reading scaling activities of {name} in {region}"), &e))?;
        let mut older = false;
        for a in page.activities() {
            let Some(t) = a.start_time().and_then(|t| jiff::Timestamp::from_second(t.secs()).ok()) else { continue };
            if t < since {
                older = true;
                continue;
            }
            if matches!(a.status_code().map(|s| s.as_str()), Some("Failed" | "Cancelled")) {
                out.push((t, a.status_message().or(a.description()).unwrap_or_default().to_string(), a.details().unwrap_or_default().to_string()));
            }
        }
        if older {
            break;
        }
    }
    Ok(out)
}
