//! Reading the live view of many clusters at once.
//!
//! Reads are grouped by region, not by cluster or by resource, and shaped so that the round
//! trips one waits on do not grow with the fleet. Per region, all at once: the clusters' groups,
//! their launch templates and the groups carrying their autoscaler discovery tags, by cluster
//! name in shards read side by side (one region-wide read would page 100 groups or 200
//! templates at a time, one page after another); for a plan of every cluster, which clusters
//! own templates there, from the tags alone (1000 a page); instances, scheduled actions,
//! images, subnets, spot prices, EKS control planes. Then one more round, all at once and only
//! for what the first one named: declared names not found (absent, or taken by someone else?),
//! images behind SSM parameters or names, security groups, instance profiles, roles, add-on
//! versions, and what orphaned clusters (named by template tags or instances) own. The launch
//! templates' default versions are the exception: no filter narrows them to fleetform's, so
//! their pages (200 each) follow one another from the start, beside both rounds, and only the
//! versions groups run that are not the default wait for them. Route53 zones are read once
//! each, whatever the number of clusters sharing them. Requests grow with pages and shards, not
//! with groups.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;

use super::{autoscaling, ec2, eks, iam, route53, ssm, Aws, AwsError};
use crate::core::desired::{image_ref, ImageRef};
use crate::core::live::{EksCluster, ImageInfo, LiveAsg, LiveCluster, LiveInstance, LiveLaunchTemplate, LiveRecord};
use crate::core::model::Manifest;
use crate::core::resources::{fqdn, owner_of, GroupSizes, RecordData, RecordKey, DNS_OWNER_PREFIX, TAG_CLUSTER, TAG_KUBERNETES_VERSION, TAG_ROLLING};

/// Resources fleetform manages in a region, by the cluster their tag names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub cluster: String,
    pub region: String,
    /// Auto Scaling groups and launch templates it owns there.
    pub resources: usize,
}

/// The moment the live state is read: the "now" of the groups' schedules. FLEETFORM_NOW
/// (`2026-11-30T19:30:00Z`) sets it, to see what a plan would be at another time (and for the
/// tests); a value that is not such a time is ignored with a warning.
pub fn now() -> jiff::Timestamp {
    match std::env::var("FLEETFORM_NOW") {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<jiff::Timestamp>() {
            Ok(t) => t,
            Err(_) => {
                eprintln!("warning: FLEETFORM_NOW={v} is not a time such as 2026-11-30T19:30:00Z; using the clock");
                jiff::Timestamp::now()
            }
        },
        _ => jiff::Timestamp::now(),
    }
}

/// The live view of each cluster, or why it could not be read.
pub async fn read_live(aws: &Aws, manifests: &[&Manifest]) -> BTreeMap<String, Result<LiveCluster, AwsError>> {
    read_live_and_owners(aws, manifests, false).await.0
}

/// [`read_live`], and, with `owners`, every cluster that owns groups or templates in the
/// regions visited (for the orphans of a plan of every cluster: a request more a region, for
/// the launch templates' cluster tags, and a round for what the orphans own). Without, the
/// owners are those of the clusters read.
pub async fn read_live_and_owners(aws: &Aws, manifests: &[&Manifest], owners: bool) -> (BTreeMap<String, Result<LiveCluster, AwsError>>, Vec<Owner>) {
    let mut by_region: BTreeMap<&str, Vec<&Manifest>> = BTreeMap::new();
    for m in manifests {
        by_region.entry(m.cluster.spec.region.as_str()).or_default().push(m);
    }
    // Every cluster's zone, records declared or not: records it owns and no longer declares are
    // its to delete.
    let zones: BTreeSet<String> = manifests.iter().filter_map(|m| m.cluster.spec.dns_zone.as_deref().map(fqdn)).collect();

    let regions = join_all(by_region.iter().map(|(region, ms)| read_region(aws, region, ms, owners)));
    let zone_reads = join_all(zones.iter().map(|z| read_zone(aws, z)));
    let (regions, zone_reads) = futures::join!(regions, zone_reads);
    let zone_map: BTreeMap<&String, Result<Option<ZoneRecords>, AwsError>> =
        zones.iter().zip(zone_reads).collect();

    let mut out = BTreeMap::new();
    let mut owners = Vec::new();
    for ((region, ms), result) in by_region.iter().zip(regions) {
        if let Ok((_, counts)) = &result {
            owners.extend(counts.iter().map(|(c, n)| Owner { cluster: c.clone(), region: region.to_string(), resources: *n }));
        }
        let result = result.map(|(views, _)| views);
        for m in ms {
            let name = m.name().to_string();
            let live = match &result {
                Err(e) => Err(e.clone()),
                Ok(views) => {
                    let mut live = views.get(&name).cloned().unwrap_or_default();
                    match m.cluster.spec.dns_zone.as_deref().map(fqdn).and_then(|z| zone_map.get(&z)) {
                        Some(Err(e)) => Err(e.clone()),
                        Some(Ok(zone)) => {
                            records_for(m, zone.as_ref(), &mut live);
                            Ok(live)
                        }
                        None => Ok(live),
                    }
                }
            };
            out.insert(name, live);
        }
    }
    (out, owners)
}

type ZoneRecords = (String, Vec<(RecordKey, RecordData)>);

async fn read_zone(aws: &Aws, zone: &str) -> Result<Option<ZoneRecords>, AwsError> {
    let c = aws.route53();
    let Some(id) = route53::zone_id(&c, zone).await? else { return Ok(None) };
    let sets = route53::record_sets(&c, zone, &id).await?;
    let mut records = Vec::new();
    for s in sets {
        if s.alias_target().is_some() {
            continue; // alias records are not something fleetform declares
        }
        let key = RecordKey { name: fqdn(&route53::unescape(s.name())), record_type: s.r#type().as_str().to_string() };
        let mut values: Vec<String> = s.resource_records().iter().map(|r| r.value().to_string()).collect();
        if key.record_type == "CNAME" {
            values = values.iter().map(|v| fqdn(v)).collect();
        }
        values.sort();
        records.push((key, RecordData { ttl: s.ttl().unwrap_or(0), values }));
    }
    Ok(Some((id, records)))
}

/// The records of a zone that matter to `m`: the ones it declares, and every one it owns.
fn records_for(m: &Manifest, zone: Option<&ZoneRecords>, live: &mut LiveCluster) {
    let Some((id, records)) = zone else { return };
    live.zone_id = Some(id.clone());
    let owners: BTreeMap<String, String> = records
        .iter()
        .filter(|(k, _)| k.record_type == "TXT" && k.name.starts_with(DNS_OWNER_PREFIX))
        .filter_map(|(k, d)| {
            let owner = d.values.iter().find_map(|v| owner_of(v))?;
            Some((k.name[DNS_OWNER_PREFIX.len()..].to_string(), owner))
        })
        .collect();
    let declared: BTreeSet<String> = m.cluster.spec.dns_records.iter().map(|r| fqdn(&r.name)).collect();
    for (k, d) in records {
        if k.name.starts_with(DNS_OWNER_PREFIX) {
            continue;
        }
        let owner = owners.get(&k.name).cloned();
        if declared.contains(&k.name) || owner.as_deref() == Some(m.name()) {
            live.records.insert(k.clone(), LiveRecord { data: d.clone(), owner });
        }
    }
}

/// A region's clusters in shards read one request each, side by side: at most
/// [`autoscaling::FILTER_VALUES`] clusters, and no more declared groups than fit one page with
/// room for undeclared ones (a shard that holds more still pages, only slower).
fn shards(ms: &[&Manifest]) -> Vec<Vec<String>> {
    const GROUPS_PER_SHARD: usize = 60;
    let mut out: Vec<(Vec<String>, usize)> = Vec::new();
    for m in ms {
        let n = m.groups.len();
        match out.last_mut() {
            Some((s, count)) if s.len() < autoscaling::FILTER_VALUES && *count + n <= GROUPS_PER_SHARD => {
                s.push(m.name().to_string());
                *count += n;
            }
            _ => out.push((vec![m.name().to_string()], n)),
        }
    }
    out.into_iter().map(|(s, _)| s).collect()
}

/// Stops a spawned read when what needed it has returned (an error elsewhere in the region).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Read one region for all of its clusters.
///
/// The launch templates' default versions are the one read no filter narrows to fleetform's:
/// their pages follow one another (200 a page), the longest chain of a region holding more than
/// 400 templates. They are read from the start, beside everything else, and only what needs
/// them waits for them: the versions a group runs that are not the default, and the assembly.
/// The pager is a task of its own: on this thread, the next page would wait for the parsing of
/// every other answer of the region (and of the other regions) before it is asked for.
async fn read_region(aws: &Aws, region: &str, ms: &[&Manifest], owners: bool) -> Result<(BTreeMap<String, LiveCluster>, BTreeMap<String, usize>), AwsError> {
    let pager = {
        let (c, r) = (aws.ec2(region), region.to_string());
        tokio::spawn(async move { ec2::default_versions(&c, &r).await })
    };
    let _abort = AbortOnDrop(pager.abort_handle());
    let ec2c = aws.ec2(region);
    let asgc = aws.autoscaling(region);
    // Images named by id are read at once; the others once resolved (below).
    let mut image_ids: Vec<String> = ms.iter().flat_map(|m| m.groups.iter().map(|g| g.spec().image.trim().to_string())).filter(|i| i.starts_with("ami-")).collect();
    image_ids.sort();
    image_ids.dedup();
    let eks_names: BTreeSet<String> = ms.iter().filter_map(|m| m.eks_name()).collect();
    let eksc = aws.eks(region);
    let mut subnet_ids = Vec::new();
    let mut subnet_tags = Vec::new();
    for m in ms {
        for s in &m.cluster.spec.subnets {
            match &s.id {
                Some(id) => subnet_ids.push(id.clone()),
                None => subnet_tags.push(format!("kubernetes.io/cluster/{}", m.name())),
            }
        }
    }
    subnet_ids.sort();
    subnet_ids.dedup();
    subnet_tags.sort();
    subnet_tags.dedup();

    let mut spot_types: Vec<String> = ms.iter().flat_map(|m| m.groups.iter().flat_map(|g| g.spec().instance_types().into_iter().map(str::to_string).chain(std::iter::once(g.spec().machine_type.clone())))).collect();
    spot_types.sort();
    spot_types.dedup();
    // Groups by their clusters' names, a shard of clusters a request, side by side; groups
    // of other clusters with the autoscaler discovery tag of these, the same way.
    let shards = shards(ms);
    let spot = ec2::spot_prices(&ec2c, region, &spot_types);
    let ((spot_prices, spot_price_error), read) = tokio::join!(spot, async { tokio::try_join!(
        futures::future::try_join_all(shards.iter().map(|s| autoscaling::groups_of_clusters(&asgc, region, s))),
        futures::future::try_join_all(shards.iter().map(|s| {
            let keys: Vec<String> = s.iter().map(|c| format!("k8s.io/cluster-autoscaler/{c}")).collect();
            let asgc = &asgc;
            async move { autoscaling::names_tagged(asgc, region, &keys).await }
        })),
        autoscaling::scheduled_actions(&asgc, region),
        futures::future::try_join_all(shards.iter().map(|s| ec2::templates_of_clusters(&ec2c, region, s))),
        async { if owners { ec2::template_owners(&ec2c, region).await } else { Ok(vec![]) } },
        ec2::managed_instances(&ec2c, region),
        ec2::images(&ec2c, region, &image_ids),
        ec2::subnets(&ec2c, region, &subnet_ids, &subnet_tags),
        futures::future::try_join_all(eks_names.iter().map(|n| {
            let c = eksc.clone();
            async move { Ok::<_, AwsError>((n.clone(), eks::describe(&c, region, n).await?)) }
        })),
    ) });
    let (groups, discovered, actions, templates, template_owners, instances, images, subnets, eks_clusters) = read?;
    let templates: Vec<_> = templates.into_iter().flatten().collect();
    let (deleting, mut groups): (Vec<_>, Vec<_>) = groups.into_iter().flatten().partition(autoscaling::deleting);
    let deleting: BTreeSet<String> = deleting.iter().filter_map(|g| g.auto_scaling_group_name()).map(str::to_string).collect();
    let discovered: Vec<_> = discovered.into_iter().flatten().collect();
    let eks_clusters: BTreeMap<String, Result<EksCluster, String>> = eks_clusters.into_iter().collect();
    let mut images = images;

    // What the manifests name rather than give: images behind SSM parameters and names,
    // security groups by name in the cluster's VPC, instance profiles. All at once.
    let mut ssm_names = BTreeSet::new();
    let mut named: BTreeSet<(String, String)> = BTreeSet::new();
    let mut sg_refs: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
    let mut profiles = BTreeSet::new();
    let mut cluster_vpc: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for m in ms {
        let eks = m.eks_name().and_then(|n| eks_clusters.get(&n)).and_then(|r| r.as_ref().ok());
        let vpc = eks.and_then(|e| e.vpc_id.clone()).or_else(|| {
            subnets
                .iter()
                .find(|x| x.tags().iter().any(|t| t.key() == Some(format!("kubernetes.io/cluster/{}", m.name()).as_str())) || m.cluster.spec.subnets.iter().any(|s| s.id.as_deref() == x.subnet_id()))
                .and_then(|x| x.vpc_id())
                .map(str::to_string)
        });
        cluster_vpc.insert(m.name(), vpc.clone());
        for g in &m.groups {
            match image_ref(m, g, eks.map(|e| e.version.as_str())) {
                Ok(ImageRef::Ssm(p)) => {
                    ssm_names.insert(p);
                }
                Ok(ImageRef::Named { owner, name }) => {
                    named.insert((owner, name));
                }
                _ => {}
            }
            for sg in &g.spec().additional_security_groups {
                sg_refs.entry(vpc.clone()).or_default().insert(sg.clone());
            }
            if let Some(i) = &g.spec().iam {
                profiles.insert(i.profile.clone());
            }
        }
    }
    let ssmc = aws.ssm(region);
    let iamc = aws.iam();
    let ssm_list: Vec<String> = ssm_names.into_iter().collect();
    // The cluster role, only for control planes to create; the versions EKS offers of the
    // add-ons installed or declared.
    let mut roles = BTreeSet::new();
    let mut addon_names = BTreeSet::new();
    for m in ms {
        let Some(spec) = &m.cluster.spec.eks else { continue };
        let live = m.eks_name().and_then(|n| eks_clusters.get(&n));
        match live {
            Some(Ok(e)) => addon_names.extend(e.addons.keys().cloned()),
            _ => roles.extend(spec.role.clone()),
        }
        addon_names.extend(spec.addons.iter().map(|a| a.name.clone()));
    }

    // Declared names not among the templates and groups read of their own clusters: absent, or
    // taken (by whom is read next)?
    let read_lt: BTreeSet<&str> = templates.iter().filter_map(|t| t.launch_template_name()).collect();
    let mut ask_asg = Vec::new();
    let mut ask_lt = Vec::new();
    {
        let read_groups: BTreeSet<&str> = groups.iter().filter_map(|g| g.auto_scaling_group_name()).collect();
        for m in ms {
            for g in &m.groups {
                let n = m.aws_name(g.name());
                if !read_groups.contains(n.as_str()) {
                    ask_asg.push(n.clone());
                }
                if !read_lt.contains(n.as_str()) {
                    ask_lt.push(n);
                }
            }
        }
    }
    // Clusters that own templates or instances here and are not read: their groups too, to say
    // what they own (a vars file removed leaves such orphans; a group whose template was
    // deleted by hand still has its instances).
    let declared_clusters: BTreeSet<&str> = ms.iter().map(|m| m.name()).collect();
    let orphans: Vec<String> = if !owners {
        Vec::new()
    } else {
        template_owners
            .iter()
            .map(|(_, c)| c.as_str())
            .chain(instances.iter().filter_map(|i| ec2::instance_tag(i, TAG_CLUSTER)))
            .filter(|c| !declared_clusters.contains(*c))
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    // The images instances run (their names say the Kubernetes version of the node).
    let instance_images: Vec<String> =
        instances.iter().filter_map(|i| i.image_id()).filter(|id| !image_ids.iter().any(|x| x == id)).map(str::to_string).collect::<BTreeSet<_>>().into_iter().collect();

    // The default versions, then the versions groups use that are not the default (drift, or
    // an interrupted apply): the only reads that wait for the pager, beside the others.
    let versions = async {
        let defaults = match pager.await {
            Ok(read) => read?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => unreachable!("the pager is aborted only once nothing awaits it: {e}"),
        };
        let extra = not_default(&templates, &groups, &defaults);
        let extra_versions = futures::future::try_join_all(extra.iter().map(|(id, vs)| {
            let vs: Vec<String> = vs.iter().cloned().collect();
            let c = ec2c.clone();
            async move { ec2::template_versions(&c, region, id, &vs).await }
        }))
        .await?;
        Ok::<_, AwsError>((defaults, extra_versions))
    };

    // Everything that depends only on the first reads, all at once: one dependent round trip,
    // and none when nothing needs it; then the images some of those resolved to.
    let rest = async {
        let (role_arns, addon_versions, params, named_ids, sgs, profile_arns, named_groups, named_templates, orphan_groups, instance_images) = tokio::try_join!(
            futures::future::try_join_all(roles.iter().map(|r| {
                let c = iamc.clone();
                async move { Ok::<_, AwsError>((r.clone(), iam::role(&c, r).await?)) }
            })),
            async { if addon_names.is_empty() { Ok(BTreeMap::new()) } else { eks::addon_versions(&eksc, region, &addon_names).await } },
            async { if ssm_list.is_empty() { Ok(BTreeMap::new()) } else { ssm::parameters(&ssmc, region, &ssm_list).await } },
            futures::future::try_join_all(named.iter().map(|(o, n)| {
                let c = ec2c.clone();
                async move { Ok::<_, AwsError>((format!("{o}/{n}"), ec2::newest_image_named(&c, region, o, n).await?)) }
            })),
            futures::future::try_join_all(sg_refs.iter().map(|(vpc, refs)| {
                let c = ec2c.clone();
                let refs: Vec<String> = refs.iter().cloned().collect();
                async move { ec2::security_groups(&c, region, vpc.as_deref(), &refs).await.map(|m| (vpc.clone(), m)) }
            })),
            futures::future::try_join_all(profiles.iter().map(|p| {
                let c = iamc.clone();
                async move { Ok::<_, AwsError>((p.clone(), iam::instance_profile(&c, p).await?)) }
            })),
            async { if ask_asg.is_empty() { Ok(vec![]) } else { autoscaling::groups_named(&asgc, region, &ask_asg).await } },
            async { if ask_lt.is_empty() { Ok(vec![]) } else { ec2::templates_named(&ec2c, region, &ask_lt).await } },
            futures::future::try_join_all(orphans.chunks(autoscaling::FILTER_VALUES).map(|s| async {
                // What they own is counted from the resources themselves, not from the tags that
                // named them (a tag can outlive its template for a moment).
                tokio::try_join!(autoscaling::groups_of_clusters(&asgc, region, s), ec2::templates_of_clusters(&ec2c, region, s))
            })),
            ec2::images(&ec2c, region, &instance_images),
        )?;
        let role_arns: BTreeMap<String, Result<String, String>> = role_arns.into_iter().collect();
        let mut image_refs: BTreeMap<String, Result<String, String>> = BTreeMap::new();
        for (name, v) in params {
            image_refs.insert(format!("ssm:{name}"), v.map(|id| id.trim().to_string()).and_then(|id| if id.starts_with("ami-") { Ok(id) } else { Err(format!("holds `{id}`, not an AMI id")) }));
        }
        for (key, id) in named_ids {
            image_refs.insert(key, id.ok_or_else(|| format!("no image of that owner and name in {region}")));
        }
        // The images those resolved to, read like the others (the last dependent round trip, and
        // only for images not read already).
        let more: Vec<String> = image_refs
            .values()
            .filter_map(|r| r.as_ref().ok())
            .filter(|id| !images.iter().chain(&instance_images).any(|i| i.image_id() == Some(id.as_str())))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let more = if more.is_empty() { vec![] } else { ec2::images(&ec2c, region, &more).await? };
        Ok::<_, AwsError>((role_arns, addon_versions, image_refs, sgs, profile_arns, named_groups, named_templates, orphan_groups, instance_images, more))
    };
    let ((role_arns, addon_versions, image_refs, sgs, profile_arns, named_groups, named_templates, orphan_groups, instance_images, more), (defaults, extra_versions)) = tokio::try_join!(rest, versions)?;
    images.extend(instance_images);
    images.extend(more);
    let sgs: BTreeMap<Option<String>, BTreeMap<String, Result<String, String>>> = sgs.into_iter().collect();
    let profile_arns: BTreeMap<String, Result<iam::InstanceProfile, String>> = profile_arns.into_iter().collect();
    // Who owns each group name read: by its own tag, whether it was read as a cluster's, by
    // name, or as an orphan's.
    let (orphan_groups, orphan_templates): (Vec<_>, Vec<_>) = orphan_groups.into_iter().unzip();
    let orphan_templates: Vec<_> = orphan_templates.into_iter().flatten().collect();
    groups.extend(orphan_groups.into_iter().flatten().filter(|g| !autoscaling::deleting(g)));
    let owned_lt: BTreeMap<&str, Option<&str>> = templates
        .iter()
        .chain(named_templates.iter().filter(|t| ec2::template_tag(t, TAG_CLUSTER).is_some()))
        .filter_map(|t| Some((t.launch_template_name()?, ec2::template_tag(t, TAG_CLUSTER))))
        .collect();
    let owned_asg: BTreeMap<&str, Option<&str>> = groups
        .iter()
        .chain(named_groups.iter().filter(|g| autoscaling::tag(g, TAG_CLUSTER).is_some()))
        .filter_map(|g| Some((g.auto_scaling_group_name()?, autoscaling::tag(g, TAG_CLUSTER))))
        .collect();

    // Assemble per cluster.
    let mut versions: BTreeMap<String, BTreeMap<i64, crate::core::resources::LaunchTemplateData>> = BTreeMap::new();
    for v in defaults.iter().chain(extra_versions.iter().flatten()) {
        if let (Some(id), Some(n)) = (v.launch_template_id(), v.version_number()) {
            versions.entry(id.to_string()).or_default().insert(n, ec2::version_data(v));
        }
    }
    let instance_by_id: BTreeMap<&str, &aws_sdk_ec2::types::Instance> =
        instances.iter().filter_map(|i| Some((i.instance_id()?, i))).collect();
    let images: BTreeMap<String, ImageInfo> = images
        .iter()
        .filter_map(|i| {
            Some((
                i.image_id()?.to_string(),
                ImageInfo {
                    root_device_name: i.root_device_name().unwrap_or("/dev/xvda").to_string(),
                    architecture: i.architecture().map(|a| a.as_str().to_string()).unwrap_or_default(),
                    name: i.name().unwrap_or_default().to_string(),
                },
            ))
        })
        .collect();

    let mut out = BTreeMap::new();
    for m in ms {
        let cluster = m.name();
        let vpc = cluster_vpc.get(cluster).cloned().flatten();
        let mut live = LiveCluster {
            read_at: Some(crate::core::schedule::utc(now())),
            spot_prices: spot_prices.clone(),
            spot_price_error: spot_price_error.clone(),
            images: images.clone(),
            eks: m.eks_name().and_then(|n| eks_clusters.get(&n).cloned()),
            image_refs: image_refs.clone(),
            instance_profiles: m
                .groups
                .iter()
                .filter_map(|g| g.spec().iam.as_ref())
                .filter_map(|i| Some((i.profile.clone(), profile_arns.get(&i.profile)?.clone().map(|p| p.arn))))
                .collect(),
            instance_profile_roles: m
                .groups
                .iter()
                .filter_map(|g| g.spec().iam.as_ref())
                .filter_map(|i| Some((i.profile.clone(), profile_arns.get(&i.profile)?.as_ref().ok()?.roles.clone())))
                .collect(),
            cluster_role: m.cluster.spec.eks.as_ref().and_then(|e| e.role.as_ref()).and_then(|r| role_arns.get(r).cloned()),
            addon_versions: m
                .cluster
                .spec
                .eks
                .as_ref()
                .map(|e| {
                    let installed = m.eks_name().and_then(|n| eks_clusters.get(&n)).and_then(|r| r.as_ref().ok()).map(|e| e.addons.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
                    e.addons.iter().map(|a| a.name.clone()).chain(installed).filter_map(|n| Some((n.clone(), addon_versions.get(&n)?.clone()))).collect()
                })
                .unwrap_or_default(),
            security_groups: sgs.get(&vpc).cloned().unwrap_or_default(),
            ..Default::default()
        };
        for t in &templates {
            let (Some(name), Some(id)) = (t.launch_template_name(), t.launch_template_id()) else { continue };
            if ec2::template_tag(t, TAG_CLUSTER) != Some(cluster) {
                continue;
            }
            live.launch_templates.insert(
                name.to_string(),
                LiveLaunchTemplate {
                    id: id.to_string(),
                    default_version: t.default_version_number().unwrap_or(1),
                    latest_version: t.latest_version_number().unwrap_or(1),
                    versions: versions.get(id).cloned().unwrap_or_default(),
                },
            );
        }
        let instances_of = |g: &aws_sdk_autoscaling::types::AutoScalingGroup| -> Vec<LiveInstance> {
            g.instances()
                .iter()
                .map(|i| {
                    let id = i.instance_id().unwrap_or_default();
                    let ec2i = instance_by_id.get(id);
                    LiveInstance {
                        id: id.to_string(),
                        availability_zone: i.availability_zone().unwrap_or_default().to_string(),
                        lifecycle_state: i.lifecycle_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                        health_status: i.health_status().unwrap_or_default().to_string(),
                        instance_type: i.instance_type().unwrap_or_default().to_string(),
                        image_id: ec2i.and_then(|x| x.image_id()).map(str::to_string),
                        // EC2's own tag says which version launched the instance; the group's
                        // report is the fallback.
                        launch_template_version: ec2i
                            .and_then(|x| ec2::instance_tag(x, "aws:ec2launchtemplate:version"))
                            .or_else(|| i.launch_template().and_then(|l| l.version()))
                            .map(str::to_string),
                        private_dns_name: ec2i.and_then(|x| x.private_dns_name()).filter(|n| !n.is_empty()).map(str::to_string),
                        // The image's name when it says (EKS-optimized, Bottlerocket: the truth of
                        // what runs), else the version tag it was launched with.
                        kubernetes_version: ec2i
                            .and_then(|x| x.image_id())
                            .and_then(|id| images.get(id))
                            .and_then(|im| crate::core::control_plane::version_in_image_name(&im.name))
                            .or_else(|| ec2i.and_then(|x| ec2::instance_tag(x, TAG_KUBERNETES_VERSION)).map(str::to_string)),
                        launch_time: ec2i.and_then(|x| x.launch_time()).and_then(|t| jiff::Timestamp::from_second(t.secs()).ok()).map(crate::core::schedule::utc),
                    }
                })
                .collect()
        };
        for g in &groups {
            let Some(name) = g.auto_scaling_group_name() else { continue };
            if autoscaling::tag(g, TAG_CLUSTER) != Some(cluster) {
                continue;
            }
            let instances = instances_of(g);
            let mut config = autoscaling::config(g);
            let mut desired_capacity = g.desired_capacity().unwrap_or(0);
            let actual = GroupSizes { min: config.min_size, max: config.max_size, desired: desired_capacity };
            // A rolling update holds the group's sizes raised and records the declared ones in
            // a tag: the plan compares the declared ones (the roll restores them).
            let mut rolling_hold = None;
            // Processes a roll holds suspended: while it holds the group raised, the roll's (it
            // gives them back with the sizes); otherwise what a killed roll left, shown as they
            // are, so that apply gives them back (and drops the tag).
            let held_processes = config.tags.get(crate::core::resources::TAG_ROLLING_SUSPENDED).map(|t| crate::core::resources::held_processes(&t.value)).unwrap_or_default();
            if config.tags.contains_key(TAG_ROLLING) {
                config.tags.remove(crate::core::resources::TAG_ROLLING_SUSPENDED);
                config.suspended_processes.retain(|p| !held_processes.contains(p));
            }
            if let Some(held) = config.tags.remove(TAG_ROLLING).and_then(|t| GroupSizes::parse(&t.value)) {
                config.min_size = held.min;
                config.max_size = held.max;
                desired_capacity = held.desired;
                rolling_hold = Some((held, actual));
            }
            let (mut scheduled_actions, mut other_scheduled_actions) = (BTreeMap::new(), Vec::new());
            for (_, n, a) in actions.iter().filter(|(g, _, _)| g == name) {
                if n.starts_with(crate::core::schedule::ACTION_PREFIX) {
                    scheduled_actions.insert(n.clone(), a.clone());
                } else {
                    other_scheduled_actions.push(n.clone());
                }
            }
            live.asgs.insert(name.to_string(), LiveAsg { config, desired_capacity, instances, rolling_hold, scheduled_actions, other_scheduled_actions, held_processes });
        }
        for g in &m.groups {
            let n = m.aws_name(g.name());
            if let Some(owner) = owned_asg.get(n.as_str()).copied().flatten().filter(|o| *o != cluster) {
                live.foreign_asgs.insert(n.clone(), Some(owner.to_string()));
            } else if let Some(x) = named_groups.iter().find(|x| x.auto_scaling_group_name() == Some(n.as_str())) {
                live.foreign_asgs.insert(n.clone(), None);
                // Not fleetform's at all (kops's `<group>.<cluster>`, say): what adoption takes.
                let config = autoscaling::config(x);
                live.adoptable_asgs.insert(n.clone(), LiveAsg { desired_capacity: x.desired_capacity().unwrap_or(0), config, instances: instances_of(x), rolling_hold: None, scheduled_actions: Default::default(), other_scheduled_actions: Vec::new(), held_processes: Vec::new() });
            }
            if let Some(owner) = owned_lt.get(n.as_str()).copied().flatten().filter(|o| *o != cluster) {
                live.foreign_launch_templates.insert(n.clone(), Some(owner.to_string()));
            } else if let Some(t) = named_templates.iter().find(|x| x.launch_template_name() == Some(n.as_str())) {
                live.foreign_launch_templates.insert(n.clone(), None);
                if let Some(id) = t.launch_template_id() {
                    live.adoptable_launch_templates.insert(
                        n,
                        LiveLaunchTemplate {
                            id: id.to_string(),
                            default_version: t.default_version_number().unwrap_or(1),
                            latest_version: t.latest_version_number().unwrap_or(1),
                            versions: versions.get(id).cloned().unwrap_or_default(),
                        },
                    );
                }
            }
        }
        // Groups that are not this cluster's but carry its autoscaler discovery tag.
        let discovery = format!("k8s.io/cluster-autoscaler/{cluster}");
        let declared: BTreeSet<String> = m.groups.iter().map(|g| m.aws_name(g.name())).collect();
        // (Whose a group is: its cluster tag as read, if it was read; a group not read is not
        // this cluster's, whose groups were all read.)
        live.autoscaler_discovered_foreign = discovered
            .iter()
            .filter(|(name, key)| *key == discovery && !deleting.contains(name) && owned_asg.get(name.as_str()).copied().flatten() != Some(cluster))
            .map(|(name, _)| name.clone())
            .filter(|n| !declared.contains(n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Subnets: by id when given, else the one subnet of the zone tagged for the cluster.
        let tag_key = format!("kubernetes.io/cluster/{cluster}");
        for s in &m.cluster.spec.subnets {
            match &s.id {
                Some(id) => match subnets.iter().find(|x| x.subnet_id() == Some(id.as_str())) {
                    Some(x) if x.availability_zone() == Some(s.zone.as_str()) => {
                        live.subnets.insert(s.name.clone(), id.clone());
                    }
                    Some(x) => {
                        live.subnet_problems.insert(
                            s.name.clone(),
                            format!("{id} is in zone {}, the manifest says {}", x.availability_zone().unwrap_or("?"), s.zone),
                        );
                    }
                    None => {
                        live.subnet_problems.insert(s.name.clone(), format!("subnet {id} does not exist in {region}"));
                    }
                },
                None => {
                    let found: Vec<&str> = subnets
                        .iter()
                        .filter(|x| x.availability_zone() == Some(s.zone.as_str()))
                        .filter(|x| x.tags().iter().any(|t| t.key() == Some(tag_key.as_str())))
                        // kops tags a zone's private and utility subnets alike: its cidr tells them apart.
                        .filter(|x| s.cidr.as_deref().is_none_or(|c| x.cidr_block() == Some(c)))
                        .filter_map(|x| x.subnet_id())
                        .collect();
                    match found.as_slice() {
                        [one] => {
                            live.subnets.insert(s.name.clone(), one.to_string());
                        }
                        [] => {
                            live.subnet_problems.insert(
                                s.name.clone(),
                                format!("no subnet of {} is tagged {tag_key}; tag the cluster's subnet (kops and EKS use `shared`) or set its `id`", s.zone),
                            );
                        }
                        many => {
                            live.subnet_problems.insert(
                                s.name.clone(),
                                format!("{} subnets of {} are tagged {tag_key} ({}); set the subnet's `id`", many.len(), s.zone, many.join(", ")),
                            );
                        }
                    }
                }
            }
        }
        out.insert(cluster.to_string(), live);
    }
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for owner in groups.iter().filter_map(|g| autoscaling::tag(g, TAG_CLUSTER)).chain(templates.iter().chain(&orphan_templates).filter_map(|t| ec2::template_tag(t, TAG_CLUSTER))) {
        *owners.entry(owner.to_string()).or_default() += 1;
    }
    Ok((out, owners))
}

/// The versions groups run, or templates hold as their latest, that are not the default: what
/// an apply stopped between creating a version and making it the default leaves, or drift.
fn not_default(
    templates: &[aws_sdk_ec2::types::LaunchTemplate],
    groups: &[aws_sdk_autoscaling::types::AutoScalingGroup],
    defaults: &[aws_sdk_ec2::types::LaunchTemplateVersion],
) -> BTreeMap<String, BTreeSet<String>> {
    let default_of: BTreeMap<&str, i64> = defaults.iter().filter_map(|v| Some((v.launch_template_id()?, v.version_number()?))).collect();
    let mut extra: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let id_by_name: BTreeMap<&str, &str> = templates.iter().filter_map(|t| Some((t.launch_template_name()?, t.launch_template_id()?))).collect();
    for t in templates {
        if let (Some(id), Some(latest)) = (t.launch_template_id(), t.latest_version_number()) {
            if default_of.get(id) != Some(&latest) {
                extra.entry(id.to_string()).or_default().insert(latest.to_string());
            }
        }
    }
    for g in groups {
        let cfg = autoscaling::config(g);
        if let (Some(id), Ok(v)) = (id_by_name.get(cfg.launch_template.as_str()), cfg.launch_template_version.parse::<i64>()) {
            if default_of.get(id) != Some(&v) {
                extra.entry(id.to_string()).or_default().insert(v.to_string());
            }
        }
    }
    extra
}
