//! Back to spot after a peak: which on-demand fallback instances to give back.
//!
//! cluster-autoscaler removes the least-used node, spot or not, so after each peak the on-demand
//! fallback nodes stayed on for days, until the team added draino to drain on-demand nodes older
//! than two hours. Here that rule knows the pools: an instance of an on-demand fallback group
//! (autoscaled, not spot, not critical, in a pool) older than the set age is reclaimed — drained,
//! then terminated with its group's desired capacity decremented, so that the autoscaler brings
//! the capacity back on the pool's spot groups (tried first by priority) — only while:
//! - the pool's spot groups have room to grow (their max minus desired, summed) for it;
//! - its group stays at or above its minimum, and the pool at or above the sum of its groups'
//!   minimums;
//! - at most `max` instances per run (a few at a time: the one-shot runs on a schedule, and the
//!   autoscaler falls back to on-demand again if spot is still short).
//!
//! Pure: the live view and "now" in, the instances to reclaim and why the others stay, out.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::live::LiveCluster;
use super::model::Manifest;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reclaim {
    pub pool: String,
    /// The AWS name of its group.
    pub group: String,
    pub instance_id: String,
    pub node: String,
    pub launched: String,
    /// `3h12m`.
    pub age: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReclaimPlan {
    pub reclaim: Vec<Reclaim>,
    /// What stays, and why (one line each).
    pub left: Vec<String>,
}

fn age(d: SignedDuration) -> String {
    let m = d.as_secs() / 60;
    if m >= 60 { format!("{}h{:02}m", m / 60, m % 60) } else { format!("{m}m") }
}

pub fn plan(m: &Manifest, live: &LiveCluster, now: Timestamp, older_than: SignedDuration, max: usize) -> ReclaimPlan {
    let mut out = ReclaimPlan::default();
    // Pools and their groups (AWS names), as declared.
    let mut pools: BTreeMap<String, Vec<&super::model::NodeGroup>> = BTreeMap::new();
    for g in &m.groups {
        if let Some(p) = &g.spec().pool {
            pools.entry(p.clone()).or_default().push(g);
        }
    }
    for (pool, groups) in pools {
        let fallbacks: Vec<_> = groups.iter().filter(|g| g.spec().autoscaled() && !g.spec().uses_spot() && !g.spec().critical).collect();
        if fallbacks.is_empty() {
            continue;
        }
        let spot: Vec<_> = groups.iter().filter(|g| g.spec().uses_spot()).collect();
        let live_of = |g: &super::model::NodeGroup| live.asgs.get(&m.aws_name(g.name()));
        // The pool's candidates, oldest first.
        let mut candidates = Vec::new();
        for g in &fallbacks {
            let Some(a) = live_of(g) else { continue };
            for i in a.instances.iter().filter(|i| i.lifecycle_state == "InService") {
                let launched = i.launch_time.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
                candidates.push((launched, g, i));
            }
        }
        if candidates.is_empty() {
            continue;
        }
        candidates.sort_by_key(|(t, _, i)| (*t, i.id.clone()));
        if spot.is_empty() {
            // An on-demand pool (a dedicated group): nothing to fall back from.
            continue;
        }
        // Spot short right now (a spot group below its desired capacity: launches pending or
        // failing): its pods would wait on spot, then the autoscaler would buy on-demand again.
        if let Some((g, a)) = spot.iter().filter_map(|g| Some((g, live_of(g)?))).find(|(_, a)| a.instances.iter().filter(|i| i.lifecycle_state == "InService").count() < a.desired_capacity.max(0) as usize) {
            let serving = a.instances.iter().filter(|i| i.lifecycle_state == "InService").count();
            out.left.push(format!(
                "pool {pool}: {} on-demand instance(s) stay: spot group {} has {serving} of its {} desired instances in service (spot is short now; the next run looks again)",
                candidates.len(),
                m.aws_name(g.name()),
                a.desired_capacity
            ));
            continue;
        }
        let mut room: i64 = spot.iter().filter_map(|g| live_of(g)).map(|a| i64::from(a.config.max_size - a.desired_capacity).max(0)).sum();
        let pool_min: i64 = groups.iter().map(|g| i64::from(g.spec().min_size)).sum();
        let mut pool_desired: i64 = groups.iter().filter_map(|g| live_of(g)).map(|a| i64::from(a.desired_capacity)).sum();
        let mut group_desired: BTreeMap<String, i64> = fallbacks.iter().filter_map(|g| Some((g.name().to_string(), i64::from(live_of(g)?.desired_capacity)))).collect();
        // Instances per (group, zone), to take each group's from its fullest zone first: a
        // decremented termination that unbalances the zones makes Auto Scaling rebalance them by
        // terminating instances of its own choosing, undrained.
        let mut per_zone: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (_, g, i) in &candidates {
            *per_zone.entry((g.name().to_string(), i.availability_zone.clone())).or_default() += 1;
        }
        let mut pending = candidates;
        while !pending.is_empty() {
            pending.sort_by_key(|(t, g, i)| (std::cmp::Reverse(per_zone.get(&(g.name().to_string(), i.availability_zone.clone())).copied().unwrap_or(0)), *t, i.id.clone()));
            let (launched, g, i) = pending.remove(0);
            let name = m.aws_name(g.name());
            let Some(t) = launched else {
                out.left.push(format!("{} of {name}: its launch time is not known", i.id));
                continue;
            };
            let old = now.duration_since(t);
            if old < older_than {
                out.left.push(format!("{} of {name}: launched {} ago, under {}", i.id, age(old.max(SignedDuration::ZERO)), age(older_than)));
                continue;
            }
            let gd = group_desired.get_mut(g.name()).expect("a fallback with a live group");
            // The declared minimum, or the group's own when higher (AWS refuses to go below it).
            let gmin = i64::from(g.spec().min_size).max(live_of(g).map_or(0, |a| i64::from(a.config.min_size)));
            let why = if out.reclaim.len() >= max {
                Some(format!("more than --max {max} this run (the next run takes it)"))
            } else if room < 1 {
                Some(format!("the spot groups of pool {pool} have no room to grow (at their maxSize)"))
            } else if *gd - 1 < gmin {
                Some(format!("{name} is at its minimum ({gmin})"))
            } else if pool_desired - 1 < pool_min {
                Some(format!("pool {pool} is at its declared minimum ({pool_min})"))
            } else {
                None
            };
            match why {
                Some(w) => out.left.push(format!("{} of {name} (launched {} ago): {w}", i.id, age(old))),
                None => {
                    room -= 1;
                    pool_desired -= 1;
                    *gd -= 1;
                    if let Some(n) = per_zone.get_mut(&(g.name().to_string(), i.availability_zone.clone())) {
                        *n -= 1;
                    }
                    out.reclaim.push(Reclaim {
                        pool: pool.clone(),
                        group: name,
                        instance_id: i.id.clone(),
                        node: i.private_dns_name.clone().unwrap_or_default(),
                        launched: super::schedule::utc(t),
                        age: age(old),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::live::{LiveAsg, LiveInstance};
    use crate::core::resources::AsgConfig;

    fn example() -> Manifest {
        let repo = crate::repo::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))).unwrap();
        crate::core::render::render_cluster(&repo, "staging.k8s.foo.bar", &[]).unwrap().manifest
    }

    fn group(min: i32, max: i32, launched: &[&str]) -> LiveAsg {
        LiveAsg {
            config: AsgConfig { min_size: min, max_size: max, ..Default::default() },
            desired_capacity: launched.len() as i32,
            instances: launched
                .iter()
                .enumerate()
                .map(|(n, t)| LiveInstance {
                    id: format!("i-{n}{t}"),
                    availability_zone: "eu-west-1a".into(),
                    lifecycle_state: "InService".into(),
                    health_status: "Healthy".into(),
                    instance_type: "c5.4xlarge".into(),
                    image_id: None,
                    launch_template_version: None,
                    private_dns_name: Some(format!("ip-{n}")),
                    kubernetes_version: None,
                    launch_time: Some(t.to_string()),
                })
                .collect(),
            rolling_hold: None,
            scheduled_actions: Default::default(),
            other_scheduled_actions: Vec::new(),
            held_processes: Vec::new(),
        }
    }

    fn live(od4: LiveAsg, spot_room: i32) -> LiveCluster {
        let mut l = LiveCluster::default();
        l.asgs.insert("on-demand-app-4x.staging.k8s.foo.bar".into(), od4);
        l.asgs.insert("on-demand-app-8x.staging.k8s.foo.bar".into(), group(0, 5, &[]));
        l.asgs.insert("spot-nodes-app-4x.staging.k8s.foo.bar".into(), group(0, spot_room, &[]));
        l.asgs.insert("spot-nodes-app-8x.staging.k8s.foo.bar".into(), group(0, 0, &[]));
        l
    }

    const NOW: &str = "2026-11-30T12:00:00Z";

    #[test]
    fn old_fallback_nodes_go_back_to_spot_a_few_at_a_time() {
        let m = example();
        let l = live(group(0, 5, &["2026-11-30T08:00:00Z", "2026-11-30T09:00:00Z", "2026-11-30T09:30:00Z", "2026-11-30T11:30:00Z"]), 10);
        let p = plan(&m, &l, NOW.parse().unwrap(), SignedDuration::from_hours(2), 2);
        let ids: Vec<&str> = p.reclaim.iter().map(|r| r.instance_id.as_str()).collect();
        assert_eq!(ids, ["i-02026-11-30T08:00:00Z", "i-12026-11-30T09:00:00Z"], "oldest first, at most 2");
        assert_eq!(p.reclaim[0].age, "4h00m");
        assert!(p.left.iter().any(|l| l.contains("more than --max 2")), "{:?}", p.left);
        assert!(p.left.iter().any(|l| l.contains("launched 30m ago, under 2h00m")), "{:?}", p.left);
    }

    #[test]
    fn from_the_fullest_zone_first_and_not_while_spot_is_short() {
        let m = example();
        // Three old instances: two in eu-west-1b, one (the oldest) in eu-west-1a.
        let mut g = group(0, 5, &["2026-11-30T07:00:00Z", "2026-11-30T08:00:00Z", "2026-11-30T08:30:00Z"]);
        g.instances[1].availability_zone = "eu-west-1b".into();
        g.instances[2].availability_zone = "eu-west-1b".into();
        let p = plan(&m, &live(g.clone(), 10), NOW.parse().unwrap(), SignedDuration::from_hours(2), 1);
        assert_eq!(p.reclaim[0].instance_id, "i-12026-11-30T08:00:00Z", "the fullest zone's oldest, not the group's oldest");
        let p = plan(&m, &live(g.clone(), 10), NOW.parse().unwrap(), SignedDuration::from_hours(2), 2);
        let ids: Vec<&str> = p.reclaim.iter().map(|r| r.instance_id.as_str()).collect();
        assert_eq!(ids, ["i-12026-11-30T08:00:00Z", "i-02026-11-30T07:00:00Z"], "then the zones are even: the oldest");
        // A spot group of the pool below its desired capacity: spot is short, nothing goes.
        let mut l = live(g, 10);
        l.asgs.get_mut("spot-nodes-app-4x.staging.k8s.foo.bar").unwrap().desired_capacity = 2;
        let p = plan(&m, &l, NOW.parse().unwrap(), SignedDuration::from_hours(2), 2);
        assert!(p.reclaim.is_empty());
        assert!(p.left[0].contains("spot group spot-nodes-app-4x.staging.k8s.foo.bar has 0 of its 2 desired instances in service"), "{:?}", p.left);
    }

    #[test]
    fn never_without_spot_room_nor_below_a_minimum() {
        let m = example();
        let old = ["2026-11-30T08:00:00Z", "2026-11-30T08:10:00Z", "2026-11-30T08:20:00Z"];
        // One slot of spot room: one instance.
        let p = plan(&m, &live(group(0, 5, &old), 1), NOW.parse().unwrap(), SignedDuration::from_hours(2), 5);
        assert_eq!(p.reclaim.len(), 1);
        assert!(p.left.iter().filter(|l| l.contains("no room to grow")).count() == 2, "{:?}", p.left);
        // The group's minimum of 2 keeps two.
        let p = plan(&m, &live(group(2, 5, &old), 10), NOW.parse().unwrap(), SignedDuration::from_hours(2), 5);
        assert_eq!(p.reclaim.len(), 1);
        assert_eq!(p.left.iter().filter(|l| l.contains("on-demand-app-4x.staging.k8s.foo.bar is at its minimum (2)")).count(), 2, "{:?}", p.left);
    }
}
