//! The cost of a plan: what each group costs an hour at its minimum and desired sizes, before
//! and after, and the difference per cluster.
//!
//! No anchor of ours shows this (Terraform users add Infracost); fleetform can, because it
//! knows each group's types, its on-demand base and share, and its sizes. On-demand prices come
//! from the table the project generates from AWS's public price list (`data/ec2-prices.csv`,
//! `scripts/gen-prices.py`), overridden by a repository's own `prices.csv` (negotiated rates);
//! spot prices from DescribeSpotPriceHistory, read with the live state. A price that is not
//! known is said, never guessed: the group is left out of the totals, which then say so.
//!
//! How a group's instances are priced: the on-demand ones (the base, then the share above it,
//! rounded up as Auto Scaling does) at the on-demand price of the first type (`prioritized`, the
//! default) or of the cheapest (`lowest-price`); the spot ones at the mean of the lowest spot
//! price of each listed type in the region (what a diversified group pays on average). A group
//! without a mixed-instances policy is on-demand (or spot at its maxPrice's market, when set).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::desired::DesiredCluster;
use super::live::LiveCluster;
use super::resources::{AsgConfig, LaunchTemplateData};

const TABLE: &str = include_str!("../../data/ec2-prices.csv");

/// On-demand prices by (region, type), USD an hour.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    prices: HashMap<(String, String), f64>,
    /// Where the prices come from, for the plan's footnote.
    pub source: String,
}

/// (region, instance type, USD an hour).
type PriceRow = (String, String, f64);

fn parse_rows(text: &str) -> Result<Vec<PriceRow>, (usize, String)> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with("region,") {
            continue;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let price = f.get(2).and_then(|p| p.parse::<f64>().ok()).filter(|p| p.is_finite() && *p >= 0.0);
        match (f.len(), price) {
            (3, Some(p)) => out.push((f[0].to_string(), f[1].to_string(), p)),
            _ => return Err((i + 1, format!("`{}` is not region,instance_type,usd_per_hour", l.escape_debug()))),
        }
    }
    Ok(out)
}

impl PriceTable {
    /// fleetform's table, compiled in.
    pub fn builtin() -> &'static PriceTable {
        static T: OnceLock<PriceTable> = OnceLock::new();
        T.get_or_init(|| {
            let rows = parse_rows(TABLE).expect("data/ec2-prices.csv is well formed");
            PriceTable { prices: rows.into_iter().map(|(r, t, p)| ((r, t), p)).collect(), source: "fleetform's price table (data/ec2-prices.csv, from AWS's price list)".into() }
        })
    }

    /// The table with a repository's own prices on top (`prices.csv`: negotiated rates, a
    /// region the table lacks). Errors: (line, what is wrong).
    pub fn with_repository_prices(&self, file: &str, text: &str) -> Result<PriceTable, (usize, String)> {
        let mut t = self.clone();
        for (r, ty, p) in parse_rows(text)? {
            t.prices.insert((r, ty), p);
        }
        t.source = format!("{}, with {file}", self.source);
        Ok(t)
    }

    pub fn on_demand(&self, region: &str, instance_type: &str) -> Option<f64> {
        self.prices.get(&(region.to_string(), instance_type.to_string())).copied()
    }
}

/// What one group costs an hour at a size, and how many of its instances are on-demand.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SizeCost {
    pub instances: i32,
    pub on_demand: i32,
    pub usd_per_hour: f64,
}

/// A group's cost at its minimum and desired sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Costs {
    pub at_min: SizeCost,
    pub at_desired: SizeCost,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCost {
    pub group: String,
    /// None: the group does not exist yet (before), or is deleted (after).
    pub before: Option<Costs>,
    pub after: Option<Costs>,
    /// Prices that are not known (`m5.xlarge on-demand in eu-west-3`): the group is then left
    /// out of the totals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// Its schedule holds it at zero now: its cost after is what it costs tonight, not in its
    /// window (the schedule's line says what that saves).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scheduled_down: bool,
}

/// The cost of a cluster's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanCost {
    pub currency: String,
    pub groups: Vec<GroupCost>,
    /// Sums over the groups whose prices are all known.
    pub before_at_min: f64,
    pub before_at_desired: f64,
    pub after_at_min: f64,
    pub after_at_desired: f64,
    /// Groups left out of the sums (a price not known).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    pub price_source: String,
}

impl PlanCost {
    pub fn delta_at_desired(&self) -> f64 {
        self.after_at_desired - self.before_at_desired
    }
}

/// Hours in an average month, for the monthly figure (365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// The cost of `d` against `live`, with `prices` and the region's spot prices (`spot`: type →
/// lowest USD an hour across zones, as read).
pub fn plan_cost(d: &DesiredCluster, live: &LiveCluster, prices: &PriceTable, spot: &BTreeMap<String, f64>) -> PlanCost {
    let mut groups = Vec::new();
    let mut names: Vec<&String> = d.groups.keys().chain(live.asgs.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let mut unknown = Vec::new();
        let after = d.groups.get(name).map(|g| {
            let desired = match live.asgs.get(name) {
                Some(a) => a.desired_capacity.clamp(g.asg.min_size, g.asg.max_size.max(g.asg.min_size)),
                None => g.asg.min_size,
            };
            costs(&d.region, &g.asg, &g.launch_template, g.asg.min_size, desired, prices, spot, &mut unknown)
        });
        let before = live.asgs.get(name).and_then(|a| {
            let lt = live.launch_templates.get(name)?;
            let v = a.config.launch_template_version.parse::<i64>().ok().filter(|v| lt.versions.contains_key(v)).unwrap_or(lt.default_version);
            let data = lt.versions.get(&v)?;
            Some(costs(&d.region, &a.config, data, a.config.min_size, a.desired_capacity, prices, spot, &mut unknown))
        });
        unknown.sort();
        unknown.dedup();
        let scheduled_down = d.groups.get(name).and_then(|g| g.schedule.as_ref()).is_some_and(|s| !s.now.up);
        groups.push(GroupCost { group: name.clone(), before, after, unknown, scheduled_down });
    }
    let known: Vec<&GroupCost> = groups.iter().filter(|g| g.unknown.is_empty()).collect();
    let sum = |f: &dyn Fn(&GroupCost) -> Option<f64>| known.iter().filter_map(|g| f(g)).sum::<f64>();
    PlanCost {
        currency: "USD".into(),
        before_at_min: sum(&|g| g.before.as_ref().map(|c| c.at_min.usd_per_hour)),
        before_at_desired: sum(&|g| g.before.as_ref().map(|c| c.at_desired.usd_per_hour)),
        after_at_min: sum(&|g| g.after.as_ref().map(|c| c.at_min.usd_per_hour)),
        after_at_desired: sum(&|g| g.after.as_ref().map(|c| c.at_desired.usd_per_hour)),
        left_out: groups.iter().filter(|g| !g.unknown.is_empty()).map(|g| g.group.clone()).collect(),
        groups,
        price_source: match &live.spot_price_error {
            None => format!("on-demand: {}; spot: AWS's spot price history of the region (lowest per type)", prices.source),
            Some(e) => format!("on-demand: {}; spot: not known ({e})", prices.source),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn costs(region: &str, asg: &AsgConfig, lt: &LaunchTemplateData, min: i32, desired: i32, prices: &PriceTable, spot: &BTreeMap<String, f64>, unknown: &mut Vec<String>) -> Costs {
    Costs {
        at_min: size_cost(region, asg, lt, min, prices, spot, unknown),
        at_desired: size_cost(region, asg, lt, desired, prices, spot, unknown),
    }
}

fn size_cost(region: &str, asg: &AsgConfig, lt: &LaunchTemplateData, n: i32, prices: &PriceTable, spot: &BTreeMap<String, f64>, unknown: &mut Vec<String>) -> SizeCost {
    let od = |t: &str, unknown: &mut Vec<String>| -> f64 {
        prices.on_demand(region, t).unwrap_or_else(|| {
            unknown.push(format!("{t} on-demand in {region}"));
            0.0
        })
    };
    let sp = |types: &[String], unknown: &mut Vec<String>| -> f64 {
        let known: Vec<f64> = types.iter().filter_map(|t| spot.get(t).copied()).collect();
        if known.is_empty() {
            unknown.push(format!("spot of {} in {region}", types.join(", ")));
            0.0
        } else {
            known.iter().sum::<f64>() / known.len() as f64
        }
    };
    let n = n.max(0);
    if n == 0 {
        return SizeCost { instances: 0, on_demand: 0, usd_per_hour: 0.0 };
    }
    match &asg.mixed_instances {
        Some(m) if m.requirements.is_some() => {
            unknown.push("types chosen by attributes (instanceRequirements)".into());
            SizeCost { instances: n, on_demand: 0, usd_per_hour: 0.0 }
        }
        Some(m) => {
            let base = m.on_demand_base.min(n);
            let above = n - base;
            // Auto Scaling rounds the on-demand share up.
            let on_demand = base + (above * m.on_demand_above_base + 99) / 100;
            let spot_n = n - on_demand;
            let od_type = match m.on_demand_allocation_strategy.as_deref() {
                Some("lowest-price") => m.instance_types.iter().min_by(|a, b| prices.on_demand(region, a).unwrap_or(f64::MAX).total_cmp(&prices.on_demand(region, b).unwrap_or(f64::MAX))),
                _ => m.instance_types.first(),
            };
            let od_price = if on_demand > 0 { od_type.map(|t| od(t, unknown)).unwrap_or(0.0) } else { 0.0 };
            let spot_price = if spot_n > 0 { sp(&m.instance_types, unknown) } else { 0.0 };
            SizeCost { instances: n, on_demand, usd_per_hour: f64::from(on_demand) * od_price + f64::from(spot_n) * spot_price }
        }
        None => {
            let t = lt.instance_type.clone().unwrap_or_default();
            if lt.spot_max_price.is_some() {
                SizeCost { instances: n, on_demand: 0, usd_per_hour: f64::from(n) * sp(std::slice::from_ref(&t), unknown) }
            } else {
                SizeCost { instances: n, on_demand: n, usd_per_hour: f64::from(n) * od(&t, unknown) }
            }
        }
    }
}

/// `$1.234` an hour; cents when large.
pub fn usd(v: f64) -> String {
    if v.abs() < 0.0005 {
        return "$0".into();
    }
    if v.abs() >= 100.0 { format!("${v:.0}") } else if v.abs() >= 0.1 { format!("${v:.2}") } else { format!("${v:.3}") }
}

/// `+$1.20`, `-$0.50`, `$0`.
pub fn signed_usd(v: f64) -> String {
    if v.abs() < 0.0005 {
        "$0".into()
    } else if v > 0.0 {
        format!("+{}", usd(v))
    } else {
        format!("-{}", usd(-v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::resources::MixedInstances;

    fn table() -> PriceTable {
        PriceTable::default().with_repository_prices("prices.csv", "region,instance_type,usd_per_hour\neu-west-3,m5.xlarge,0.224\neu-west-3,m5a.xlarge,0.202\n").unwrap()
    }

    fn spot_group(base: i32, above: i32) -> AsgConfig {
        AsgConfig {
            mixed_instances: Some(MixedInstances {
                instance_types: vec!["m5.xlarge".into(), "m5a.xlarge".into()],
                on_demand_base: base,
                on_demand_above_base: above,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_mixed_group_pays_on_demand_for_its_base_and_share_and_spot_for_the_rest() {
        let spot = BTreeMap::from([("m5.xlarge".to_string(), 0.08), ("m5a.xlarge".to_string(), 0.06)]);
        let mut unknown = Vec::new();
        // 10 instances, base 2, 25% of the 8 above it on-demand: 4 on-demand (first type), 6 spot
        // at the mean of the types' spot prices.
        let c = size_cost("eu-west-3", &spot_group(2, 25), &LaunchTemplateData::default(), 10, &table(), &spot, &mut unknown);
        assert_eq!((c.instances, c.on_demand), (10, 4));
        assert!((c.usd_per_hour - (4.0 * 0.224 + 6.0 * 0.07)).abs() < 1e-9, "{}", c.usd_per_hour);
        assert!(unknown.is_empty());
        // The share rounds up: 1 above the base at 10% is one on-demand instance.
        assert_eq!(size_cost("eu-west-3", &spot_group(0, 10), &LaunchTemplateData::default(), 1, &table(), &spot, &mut unknown).on_demand, 1);
    }

    #[test]
    fn an_unknown_price_is_said_not_guessed() {
        let lt = LaunchTemplateData { instance_type: Some("c9.mega".into()), ..Default::default() };
        let mut unknown = Vec::new();
        let c = size_cost("eu-west-3", &AsgConfig::default(), &lt, 3, &table(), &BTreeMap::new(), &mut unknown);
        assert_eq!(c.on_demand, 3);
        assert_eq!(unknown, ["c9.mega on-demand in eu-west-3"]);
        let mut unknown = Vec::new();
        size_cost("eu-west-3", &spot_group(0, 0), &LaunchTemplateData::default(), 2, &table(), &BTreeMap::new(), &mut unknown);
        assert_eq!(unknown, ["spot of m5.xlarge, m5a.xlarge in eu-west-3"]);
    }

    #[test]
    fn a_repository_table_is_checked_line_by_line() {
        let e = PriceTable::default().with_repository_prices("prices.csv", "eu-west-3,m5.xlarge,0.224\neu-west-3,m5.large\n").unwrap_err();
        assert_eq!(e.0, 2);
        assert!(PriceTable::default().with_repository_prices("prices.csv", "eu-west-3,m5.xlarge,-1\n").is_err());
        assert!(PriceTable::builtin().on_demand("us-east-1", "m5.large").is_some_and(|p| (p - 0.096).abs() < 1e-9));
        assert_eq!(usd(0.0961), "$0.096");
        assert_eq!(signed_usd(-1.5), "-$1.50");
    }
}
