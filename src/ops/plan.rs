//! Planning many clusters at once, and the saved plan file.
//!
//! `plan_clusters` reads live AWS for the given manifests in one batched read and plans each
//! cluster (pure). The saved plan (`plan --out`) is a versioned serialisation of the typed
//! plans and the desired states they were made from, with a checksum over its content. Applying
//! it verifies the file as a whole (kind, schema version, checksum, the clusters asked for),
//! then — under each cluster's lock — that live AWS has not moved (fingerprint) and that the
//! steps it holds are exactly those its desired state gives against live AWS now. A plan that
//! does not verify changes nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::aws::read::Owner;
use crate::aws::read::read_live_and_owners;
use crate::aws::Aws;
use crate::core::desired::{desired, DesiredCluster};
use crate::core::live::LiveCluster;
use crate::core::model::Manifest;
use crate::core::plan::{plan, ClusterPlan, Step};

/// One cluster's outcome.
#[derive(Debug, Clone)]
pub struct ClusterOutcome {
    pub name: String,
    pub region: String,
    pub result: Result<(ClusterPlan, DesiredCluster), Vec<String>>,
    pub live: Option<LiveCluster>,
}

/// Read live AWS for `manifests` (one batched read) and plan each cluster.
pub async fn plan_clusters(aws: &Aws, manifests: &[&Manifest]) -> Vec<ClusterOutcome> {
    plan_clusters_and_owners(aws, manifests, false).await.0
}

/// [`plan_clusters`], and, with `owners`, who owns fleetform resources in the regions read
/// (for the orphans of a plan of every cluster).
pub async fn plan_clusters_and_owners(aws: &Aws, manifests: &[&Manifest], owners: bool) -> (Vec<ClusterOutcome>, Vec<Owner>) {
    let (lives, owners) = read_live_and_owners(aws, manifests, owners).await;
    let mut out = Vec::new();
    for m in manifests {
        let name = m.name().to_string();
        let (result, live) = match lives.get(&name) {
            Some(Ok(live)) => (desired(m, live).map(|d| (plan(&d, live), d)), Some(live.clone())),
            Some(Err(e)) => (Err(vec![e.to_string()]), None),
            None => (Err(vec!["no live view was read".to_string()]), None),
        };
        out.push(ClusterOutcome { name, region: m.cluster.spec.region.clone(), result, live });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    (out, owners)
}

/// Clusters that own resources in the regions read but have no vars file (`known`: every
/// cluster of the repository): left behind when a vars file was removed.
pub fn orphans(owners: &[Owner], known: &std::collections::BTreeSet<String>) -> Vec<Owner> {
    let mut by: BTreeMap<(String, String), usize> = BTreeMap::new();
    for o in owners.iter().filter(|o| !known.contains(&o.cluster)) {
        *by.entry((o.cluster.clone(), o.region.clone())).or_default() += o.resources;
    }
    by.into_iter().map(|((cluster, region), resources)| Owner { cluster, region, resources }).collect()
}

impl Owner {
    pub fn message(&self) -> String {
        format!(
            "cluster {} owns {} resource(s) in {} and has no vars file: restore vars/{}.yaml, or delete them with `fleetform destroy --cluster {} --region {} --state-store s3://<its bucket>/<prefix>` (if it belongs to another repository, it is theirs to manage)",
            self.cluster, self.resources, self.region, self.cluster, self.cluster, self.region
        )
    }
}

/// The saved plan's format version. Bumped on any change a reader must know about.
pub const SAVED_PLAN_VERSION: u32 = 3;
pub const SAVED_PLAN_KIND: &str = "fleetform-plan";

/// A saved plan (`plan --out`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    pub schema_version: u32,
    pub kind: String,
    pub fleetform_version: String,
    pub created_at: String,
    /// `sha256:<hex>` over the JSON of `clusters`.
    pub checksum: String,
    pub clusters: Vec<SavedCluster>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedCluster {
    pub plan: ClusterPlan,
    pub desired: DesiredCluster,
}

fn checksum_of(clusters: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(clusters).expect("JSON value serializes");
    let d = Sha256::digest(&bytes);
    format!("sha256:{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl SavedPlan {
    pub fn new(clusters: Vec<SavedCluster>) -> SavedPlan {
        let value = serde_json::to_value(&clusters).expect("plans serialize");
        SavedPlan {
            schema_version: SAVED_PLAN_VERSION,
            kind: SAVED_PLAN_KIND.into(),
            fleetform_version: env!("CARGO_PKG_VERSION").into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            checksum: checksum_of(&value),
            clusters,
        }
    }

    /// Read and verify a plan file as a whole. Errors say what is wrong and what to do.
    pub fn parse(text: &str, file: &str) -> Result<SavedPlan, String> {
        let again = "make a new one with `fleetform plan --out FILE`";
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{file} is not a plan saved by `fleetform plan --out` (not JSON: {e}); {again}"))?;
        if v.get("kind").and_then(|k| k.as_str()) != Some(SAVED_PLAN_KIND) {
            return Err(format!("{file} is not a plan saved by `fleetform plan --out` (its kind is not `{SAVED_PLAN_KIND}`); {again}"));
        }
        match v.get("schemaVersion").and_then(|s| s.as_u64()) {
            Some(n) if n == u64::from(SAVED_PLAN_VERSION) => {}
            Some(n) => {
                return Err(format!(
                    "{file} is a plan of format {n}; this fleetform ({}) reads format {SAVED_PLAN_VERSION} only: {again} with this version",
                    env!("CARGO_PKG_VERSION")
                ))
            }
            None => return Err(format!("{file} has no schemaVersion; {again}")),
        }
        let clusters = v.get("clusters").ok_or_else(|| format!("{file} holds no clusters; {again}"))?;
        let stated = v.get("checksum").and_then(|c| c.as_str()).unwrap_or("");
        if checksum_of(clusters) != stated {
            return Err(format!("{file} was changed after it was saved (its checksum does not match its content); nothing was applied: {again}"));
        }
        let saved: SavedPlan = serde_json::from_value(v).map_err(|e| format!("{file} does not hold a valid plan ({e}); {again}"))?;
        if saved.clusters.is_empty() {
            return Err(format!("{file} holds no clusters: there is nothing to apply"));
        }
        Ok(saved)
    }

    /// Keep the clusters `only` names (all when empty); a name the plan lacks is an error.
    pub fn select(mut self, only: &[String], file: &str) -> Result<SavedPlan, String> {
        if only.is_empty() {
            return Ok(self);
        }
        let have: Vec<String> = self.clusters.iter().map(|c| c.plan.cluster.clone()).collect();
        let missing: Vec<&String> = only.iter().filter(|c| !have.contains(c)).collect();
        if !missing.is_empty() {
            return Err(format!(
                "{file} holds no plan for {}; it holds {}. Apply it without --cluster, or name only clusters it holds",
                missing.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
                have.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        self.clusters.retain(|c| only.contains(&c.plan.cluster));
        Ok(self)
    }
}

/// Under the lock: the saved plan of one cluster against what AWS holds now. Ok: the steps to
/// carry out — the saved ones, as its desired state gives them against live AWS now (only the
/// numbers the autoscaler moves, desired capacities and instance counts, may have changed).
/// Err: why it is refused.
pub fn verify_saved(saved: &SavedCluster, fresh_live: &LiveCluster) -> Result<Vec<Step>, String> {
    let now = plan(&saved.desired, fresh_live);
    if now.fingerprint != saved.plan.fingerprint {
        let s = now.summary();
        return Err(format!(
            "live AWS has moved since the plan was made (fingerprint {} -> {}); a plan made now would be: {} to create, {} to update, {} to delete",
            saved.plan.fingerprint, now.fingerprint, s.create, s.update, s.delete
        ));
    }
    if let Some(c) = now.conflicts.iter().find(|c| !saved.plan.conflicts.contains(c)) {
        return Err(format!("a plan made now is refused: {} {}: {}; nothing was applied", c.resource_type.label(), c.name, c.reason));
    }
    let norm = |steps: &[Step]| -> Vec<Step> { steps.iter().map(autoscaler_numbers_cleared).collect() };
    let (a, b) = (norm(&saved.plan.steps), norm(&now.steps));
    if a != b || now.conflicts != saved.plan.conflicts {
        let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        let show = |v: &[Step]| v.get(at).map_or("(none)".to_string(), Step::label);
        return Err(format!(
            "its steps are not the ones its desired state gives against live AWS now (step {}: the file says `{}`, a plan made now says `{}`): the file was edited, or AWS changed in a way the fingerprint does not cover; nothing was applied",
            at + 1,
            show(&a),
            show(&b)
        ));
    }
    Ok(now.steps)
}

/// A step without the numbers the autoscaler moves all day.
fn autoscaler_numbers_cleared(s: &Step) -> Step {
    match s {
        Step::UpdateAutoScalingGroup(u) => {
            let mut u = u.clone();
            u.desired_capacity = None;
            if let Some(h) = &mut u.rolling_hold {
                h.actual.desired = 0;
                h.declared.desired = 0;
                h.held.desired = 0;
            }
            Step::UpdateAutoScalingGroup(u)
        }
        Step::DeleteAutoScalingGroup { name, .. } => Step::DeleteAutoScalingGroup { name: name.clone(), instances: 0 },
        // The skew each step leaves, and whether an add-on change is waited for, follow the
        // instances (the autoscaler's): not part of what was reviewed.
        Step::UpdateControlPlaneVersion { name, from, to, .. } => Step::UpdateControlPlaneVersion { name: name.clone(), from: from.clone(), to: to.clone(), skew: Default::default() },
        Step::CreateAddon { cluster, addon, version, .. } => Step::CreateAddon { cluster: cluster.clone(), addon: addon.clone(), version: version.clone(), wait: false },
        Step::UpdateAddon { cluster, addon, from, to, .. } => Step::UpdateAddon { cluster: cluster.clone(), addon: addon.clone(), from: from.clone(), to: to.clone(), wait: false },
        other => other.clone(),
    }
}

/// The state store and region a saved cluster plan would use must be the repository's: a plan
/// file cannot move the lock elsewhere.
pub fn check_against_repo(saved: &SavedCluster, repo: &BTreeMap<String, &Manifest>) -> Result<(), String> {
    let name = &saved.plan.cluster;
    let Some(m) = repo.get(name) else {
        return Err(format!("cluster `{name}` of the plan has no vars file in this repository (vars/{name}.yaml): apply plans from the repository they were made in"));
    };
    if m.cluster.spec.state_store != saved.desired.state_store {
        return Err(format!(
            "the plan's state store ({}) is not the repository's ({}): the lock would be taken elsewhere; nothing was applied",
            saved.desired.state_store.as_deref().unwrap_or("none"),
            m.cluster.spec.state_store.as_deref().unwrap_or("none")
        ));
    }
    if m.cluster.spec.region != saved.desired.region || saved.plan.region != saved.desired.region || saved.plan.cluster != saved.desired.name {
        return Err(format!("the plan's region or cluster name does not match the repository's ({}); nothing was applied", m.cluster.spec.region));
    }
    Ok(())
}
