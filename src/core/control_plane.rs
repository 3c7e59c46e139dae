//! The EKS control plane: what the Cluster declares of it, and the steps that bring AWS there.
//!
//! Pure, like the rest of the plan. The control plane comes first in every plan: it is created
//! (and waited for) before anything that needs its endpoint, and a Kubernetes version change is
//! one step per minor version (EKS moves one at a time), each checked against the Kubernetes
//! version-skew policy with the node versions AWS shows now: a kubelet may be up to three
//! minors older than the API server, never newer. Then the managed add-ons the Cluster declares
//! (moved to versions that run on the new Kubernetes), then the access entries that let the
//! node groups' IAM roles join. Everything EKS cannot change in place is a refusal that says
//! so, never a silent no-op.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::live::{AddonVersions, EksCluster, LiveAddon, LiveCluster};
use super::model::AddonSpec;
use super::plan::{ControlPlaneChange, ControlPlaneCreate, Endpoint, Step};
use super::resources::TAG_CLUSTER;

/// The newest Kubernetes minor a kubelet may lag behind the API server (version-skew policy,
/// Kubernetes 1.28 and later).
pub const MAX_NODE_SKEW: u32 = 3;

/// The control plane as the Cluster declares it, with names resolved to ids and ARNs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredControlPlane {
    /// The EKS cluster's name.
    pub name: String,
    /// The Kubernetes version it must run (declared, else the one it runs).
    pub version: Option<String>,
    /// The cluster role's ARN (only needed, and only read, to create it).
    pub role_arn: Option<String>,
    /// Subnet ids: declared ones (`spec.eks.subnets`), else every subnet of the cluster.
    pub subnet_ids: Vec<String>,
    /// True when `spec.eks.subnets` was written (then a difference is reported).
    pub subnets_declared: bool,
    pub endpoint_public: Option<bool>,
    pub endpoint_private: Option<bool>,
    pub public_cidrs: Option<Vec<String>>,
    /// Enabled log types, sorted; None: not managed.
    pub logging: Option<Vec<String>>,
    pub secrets_encryption_key: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub authentication_mode: Option<String>,
    pub service_ipv4_cidr: Option<String>,
    pub addons: Vec<AddonSpec>,
    /// The IAM roles of the node groups' instance profiles: what must be allowed to join.
    pub node_roles: BTreeSet<String>,
}

/// An installed add-on whose version does not run on the target Kubernetes version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonNote {
    pub addon: String,
    pub installed: String,
    pub kubernetes_version: String,
    /// EKS's default version of the add-on for that Kubernetes version, if it offers one.
    pub move_to: Option<String>,
    /// True when the Cluster declares it (apply moves it); false: reported only.
    pub managed: bool,
}

impl AddonNote {
    pub fn message(&self, eks_name: &str) -> String {
        let to = self.move_to.as_deref().unwrap_or("(EKS offers none)");
        if self.managed {
            format!("add-on {} {} does not run on Kubernetes {}: apply moves it to {to}", self.addon, self.installed, self.kubernetes_version)
        } else {
            format!(
                "add-on {} {} does not run on Kubernetes {}; it is not declared in spec.eks.addons, so fleetform leaves it: move it to {to} (aws eks update-addon --cluster-name {eks_name} --addon-name {} --addon-version {to}) or declare it",
                self.addon, self.installed, self.kubernetes_version, self.addon
            )
        }
    }
}

/// What the control plane adds to a cluster's plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlPlanePlan {
    /// Before the node groups: create or update, add-ons, new access entries.
    pub steps: Vec<Step>,
    /// After the node groups are deleted: access entries no group needs any more.
    pub deletions: Vec<Step>,
    /// What cannot be done, and why (the plan is refused).
    pub refusals: Vec<String>,
    pub addon_report: Vec<AddonNote>,
    /// For clusters in CONFIG_MAP mode: the aws-auth ConfigMap that lets the node roles join.
    pub aws_auth: Option<String>,
    pub notes: Vec<String>,
}

/// The order EKS moves authentication modes in (never back): CONFIG_MAP → API_AND_CONFIG_MAP → API.
pub fn auth_mode_rank(mode: &str) -> Option<usize> {
    ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"].iter().position(|x| *x == mode)
}

/// `1.31` → 31. Only Kubernetes 1.x exists.
pub fn minor(v: &str) -> Option<u32> {
    v.strip_prefix("1.")?.parse().ok()
}

/// The Kubernetes version an image reference pins, when it says one: the EKS-optimized and
/// Bottlerocket public parameters carry the version in their path.
pub fn version_in_parameter(path: &str) -> Option<String> {
    let v = if let Some(rest) = path.strip_prefix("/aws/service/eks/optimized-ami/") {
        rest.split('/').next()?
    } else if let Some(rest) = path.strip_prefix("/aws/service/bottlerocket/aws-k8s-") {
        rest.split('/').next()?.split('-').next()?
    } else {
        return None;
    };
    minor(v).map(|_| v.to_string())
}

/// The Kubernetes version an image's name carries: `amazon-eks-node-al2023-x86_64-standard-1.31-v…`,
/// `bottlerocket-aws-k8s-1.31-x86_64-v…`, `ubuntu-eks/k8s_1.31/images/…`.
pub fn version_in_image_name(name: &str) -> Option<String> {
    name.split(['-', '_', '/']).find(|t| t.matches('.').count() == 1 && minor(t).is_some()).map(str::to_string)
}

/// The lowest Kubernetes version the instances of each owned group run (instances whose
/// version is unknown are left out; a group with none known is absent).
pub fn node_versions(live: &LiveCluster) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, a) in &live.asgs {
        let lowest = a
            .instances
            .iter()
            .filter(|i| !i.lifecycle_state.starts_with("Terminat"))
            .filter_map(|i| i.kubernetes_version.as_deref())
            .filter_map(|v| minor(v).map(|m| (m, v)))
            .min();
        if let Some((_, v)) = lowest {
            out.insert(name.clone(), v.to_string());
        }
    }
    out
}

/// The plan of the control plane. `group_versions`: the Kubernetes version each declared group
/// will run once applied (None: unknown); `deferred`: the node groups wait for the control
/// plane (it does not exist yet).
pub fn plan(cluster: &str, d: &DesiredControlPlane, live: &LiveCluster, group_versions: &BTreeMap<String, Option<String>>) -> ControlPlanePlan {
    let mut out = ControlPlanePlan::default();
    let existing = match &live.eks {
        Some(Ok(e)) => Some(e),
        _ => None,
    };
    let target = d.version.clone().or_else(|| existing.map(|e| e.version.clone()));
    // A node image newer than the control plane it joins: never.
    if let Some(t) = target.as_deref().and_then(minor) {
        let newer: Vec<String> = group_versions
            .iter()
            .filter_map(|(g, v)| v.as_deref().and_then(minor).filter(|m| *m > t).map(|m| format!("{g} (1.{m})")))
            .collect();
        if !newer.is_empty() {
            out.refusals.push(format!(
                "node groups {} would run a Kubernetes version newer than the control plane's {}: a kubelet may never be newer than the API server; raise spec.eks.kubernetesVersion or pin older images",
                newer.join(", "),
                target.as_deref().unwrap_or("?")
            ));
        }
    }
    match existing {
        None => create(cluster, d, target.as_deref(), live, &mut out),
        Some(e) => update(cluster, d, e, target.as_deref(), live, group_versions, &mut out),
    }
    out
}

fn create(cluster: &str, d: &DesiredControlPlane, target: Option<&str>, live: &LiveCluster, out: &mut ControlPlanePlan) {
    let name = &d.name;
    let Some(version) = target else {
        out.refusals.push(format!("EKS cluster {name} does not exist, and fleetform needs spec.eks.kubernetesVersion to create it"));
        return;
    };
    let role = match (&d.role_arn, &live.cluster_role) {
        (Some(arn), _) => arn.clone(),
        (None, Some(Err(why))) => {
            out.refusals.push(format!("EKS cluster {name} does not exist and cannot be created: its cluster role (spec.eks.role) {why}"));
            return;
        }
        (None, _) => {
            out.refusals.push(format!(
                "EKS cluster {name} does not exist; to let fleetform create it, declare spec.eks.role (the cluster IAM role EKS assumes) and spec.eks.kubernetesVersion; or create it yourself, or fix spec.eks.name (default: the cluster's name with `-` for each dot)"
            ));
            return;
        }
    };
    let mode = d.authentication_mode.clone().unwrap_or_else(|| "API".into());
    out.steps.push(Step::CreateControlPlane(Box::new(ControlPlaneCreate {
        name: name.clone(),
        version: version.to_string(),
        role_arn: role,
        subnet_ids: d.subnet_ids.clone(),
        endpoint: Endpoint {
            public: d.endpoint_public.unwrap_or(true),
            private: d.endpoint_private.unwrap_or(false),
            public_cidrs: d.public_cidrs.clone().unwrap_or_default(),
        },
        logging: d.logging.clone().unwrap_or_default(),
        secrets_encryption_key: d.secrets_encryption_key.clone(),
        tags: d.tags.clone(),
        authentication_mode: mode.clone(),
        service_ipv4_cidr: d.service_ipv4_cidr.clone(),
    })));
    for a in &d.addons {
        let versions = live.addon_versions.get(&a.name);
        match a.version.clone().or_else(|| default_version(versions, version)) {
            Some(v) if a.version.is_some() && !runs_on(versions, &v, version) => out.refusals.push(format!(
                "add-on {} {v} (spec.eks.addons) does not run on Kubernetes {version}{}",
                a.name,
                default_version(versions, version).map(|d| format!("; EKS's version for {version} is {d}")).unwrap_or_default()
            )),
            // No node exists yet: an add-on such as coredns would not become ACTIVE before nodes join.
            Some(v) => out.steps.push(Step::CreateAddon { cluster: name.clone(), addon: a.name.clone(), version: v, wait: false }),
            None => out.refusals.push(format!("add-on {}: EKS offers no version of it for Kubernetes {version} in this region (check the name: aws eks describe-addon-versions --kubernetes-version {version})", a.name)),
        }
    }
    access(cluster, d, &mode, None, out);
}

#[allow(clippy::too_many_arguments)]
fn update(cluster: &str, d: &DesiredControlPlane, e: &EksCluster, target: Option<&str>, live: &LiveCluster, group_versions: &BTreeMap<String, Option<String>>, out: &mut ControlPlanePlan) {
    let name = &d.name;
    match e.status.as_str() {
        "ACTIVE" | "UPDATING" | "CREATING" => {}
        other => {
            out.refusals.push(format!("EKS cluster {name} is {other}: fleetform changes nothing on a cluster in that state (aws eks describe-cluster --name {name})"));
            return;
        }
    }
    if let Some(owner) = e.tags.get(TAG_CLUSTER).filter(|o| o.as_str() != cluster) {
        out.refusals.push(format!(
            "EKS cluster {name} belongs to the fleetform cluster {owner} (its tag {TAG_CLUSTER}); two Clusters cannot own one control plane: fix spec.eks.name"
        ));
        return;
    }
    if e.status != "ACTIVE" {
        out.notes.push(format!("EKS cluster {name} is {}: apply waits until it is ACTIVE before changing it", e.status));
    }
    // 1. What EKS cannot change in place.
    if let Some(c) = &d.service_ipv4_cidr {
        if *c != e.service_cidr {
            out.refusals.push(format!(
                "EKS cluster {name}: the service CIDR is {} and the Cluster declares {c}; EKS sets it at creation and never changes it: declare {} (or make a new cluster)",
                e.service_cidr, e.service_cidr
            ));
        }
    }
    match (&d.secrets_encryption_key, &e.secrets_encryption_key) {
        (Some(want), Some(have)) if want != have => out.refusals.push(format!(
            "EKS cluster {name}: secrets are encrypted with {have}, the Cluster declares {want}; EKS never changes the key of a cluster: declare {have}"
        )),
        (Some(want), None) => out.refusals.push(format!(
            "EKS cluster {name}: secrets encryption is off and the Cluster declares key {want}; turning it on cannot be undone, so fleetform leaves that step to you: aws eks associate-encryption-config --cluster-name {name} --encryption-config '[{{\"resources\":[\"secrets\"],\"provider\":{{\"keyArn\":\"{want}\"}}}}]', then plan again"
        )),
        _ => {}
    }
    if d.subnets_declared {
        let (mut want, mut have) = (d.subnet_ids.clone(), e.subnet_ids.clone());
        want.sort();
        have.sort();
        if want != have {
            out.refusals.push(format!(
                "EKS cluster {name}: its control plane uses subnets {} and spec.eks.subnets gives {}; fleetform does not move a control plane's subnets (EKS can change them within the same VPC: aws eks update-cluster-config --name {name} --resources-vpc-config subnetIds=…; never to another VPC): remove spec.eks.subnets or make it match",
                have.join(", "),
                want.join(", ")
            ));
        }
    }
    // 2. The Kubernetes version, one minor at a time, each step checked for skew.
    let mut mode = if e.authentication_mode.is_empty() { "CONFIG_MAP".to_string() } else { e.authentication_mode.clone() };
    let mut upgraded_addons: BTreeMap<String, String> = BTreeMap::new();
    if let (Some(t), Some(have)) = (target, minor(&e.version)) {
        match minor(t) {
            Some(want) if want < have => out.refusals.push(format!(
                "EKS cluster {name} runs Kubernetes {} and the Cluster declares {t}: EKS never downgrades a control plane; declare {} or newer",
                e.version, e.version
            )),
            Some(want) => {
                let nodes = node_versions(live);
                let unknown: Vec<&String> = live.asgs.iter().filter(|(g, a)| !nodes.contains_key(*g) && a.instances.iter().any(|i| !i.lifecycle_state.starts_with("Terminat"))).map(|(g, _)| g).collect();
                if want > have && !unknown.is_empty() {
                    out.notes.push(format!(
                        "the Kubernetes version of the nodes of {} is unknown (an image without the version in its name, launched without fleetform's version tag): the skew guard cannot check them; check them before upgrading (kubectl get nodes)",
                        unknown.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
                // Declared add-ons (without a pinned version) are moved between minors when the
                // one they run would not run on the next: EKS checks add-ons before an upgrade.
                let mut current: BTreeMap<String, String> =
                    d.addons.iter().filter(|a| a.version.is_none()).filter_map(|a| Some((a.name.clone(), e.addons.get(&a.name)?.version.clone()))).collect();
                let has_nodes = live.asgs.values().any(|a| !a.instances.is_empty());
                for m in have + 1..=want {
                    let to = format!("1.{m}");
                    let mut skew = BTreeMap::new();
                    let mut too_old = Vec::new();
                    for (g, v) in &nodes {
                        let Some(n) = minor(v) else { continue };
                        let behind = m.saturating_sub(n);
                        skew.insert(g.clone(), format!("nodes {v}, {behind} minor{} behind", if behind == 1 { "" } else { "s" }));
                        if behind > MAX_NODE_SKEW {
                            too_old.push(format!("{g} ({v})"));
                        }
                    }
                    if !too_old.is_empty() {
                        out.refusals.push(format!(
                            "EKS cluster {name}: moving the control plane to {to} would leave node groups {} more than {MAX_NODE_SKEW} minors behind, which the Kubernetes version-skew policy forbids; first roll them onto 1.{} or newer (declare kubernetesVersion {} and apply --rolling), then upgrade further",
                            too_old.join(", "),
                            m - MAX_NODE_SKEW,
                            format_args!("1.{}", m - 1)
                        ));
                        break;
                    }
                    out.steps.push(Step::UpdateControlPlaneVersion { name: name.clone(), from: format!("1.{}", m - 1), to: to.clone(), skew });
                    if m < want {
                        let next = format!("1.{}", m + 1);
                        for (addon, v) in current.iter_mut() {
                            let versions = live.addon_versions.get(addon);
                            if runs_on(versions, v, &to) && runs_on(versions, v, &next) {
                                continue;
                            }
                            if let Some(b) = bridge_version(versions, &to, &next) {
                                out.steps.push(Step::UpdateAddon { cluster: name.clone(), addon: addon.clone(), from: v.clone(), to: b.clone(), wait: has_nodes });
                                *v = b;
                            }
                        }
                    }
                }
                if want > have {
                    for common in ["vpc-cni", "coredns", "kube-proxy"] {
                        if !e.addons.contains_key(common) && !d.addons.iter().any(|a| a.name == common) {
                            out.notes.push(format!(
                                "{common} is not an EKS managed add-on on this cluster (EKS installs it self-managed when a cluster is made through the API): fleetform cannot see its version; move it to a version for Kubernetes {t} yourself, or declare it in spec.eks.addons"
                            ));
                        }
                    }
                }
                // The add-on steps below start from the versions the upgrade left.
                for (addon, v) in current {
                    if let Some(i) = e.addons.get(&addon) {
                        if i.version != v {
                            upgraded_addons.insert(addon, v);
                        }
                    }
                }
            }
            None => {}
        }
    }
    // Groups left behind after the plan (images that do not follow the version).
    if let Some(t) = target.and_then(minor) {
        for (g, v) in group_versions {
            if let Some(n) = v.as_deref().and_then(minor) {
                if t > n {
                    out.notes.push(format!("node group {g} stays on Kubernetes 1.{n}: {} minor(s) behind the control plane's {}", t - n, target.unwrap_or("?")));
                }
            }
        }
    }
    // 3. Settings EKS changes in place, one update each.
    let have_ep = Endpoint { public: e.endpoint_public, private: e.endpoint_private, public_cidrs: e.public_cidrs.clone() };
    let want_ep = Endpoint {
        public: d.endpoint_public.unwrap_or(have_ep.public),
        private: d.endpoint_private.unwrap_or(have_ep.private),
        public_cidrs: d.public_cidrs.clone().map(|mut c| {
            c.sort();
            c
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| have_ep.public_cidrs.clone()),
    };
    if want_ep != have_ep {
        out.steps.push(Step::UpdateControlPlaneConfig { name: name.clone(), change: ControlPlaneChange::EndpointAccess { before: have_ep, after: want_ep } });
    }
    if let Some(want) = &d.logging {
        if *want != e.logging {
            out.steps.push(Step::UpdateControlPlaneConfig { name: name.clone(), change: ControlPlaneChange::Logging { before: e.logging.clone(), after: want.clone() } });
        }
    }
    if let Some(want) = &d.authentication_mode {
        match (auth_mode_rank(&mode), auth_mode_rank(want)) {
            (Some(a), Some(b)) if b < a => out.refusals.push(format!(
                "EKS cluster {name} authenticates with {mode} and the Cluster declares {want}: EKS moves only CONFIG_MAP → API_AND_CONFIG_MAP → API, never back; declare {mode}"
            )),
            (Some(a), Some(b)) if b > a => {
                out.steps.push(Step::UpdateControlPlaneConfig { name: name.clone(), change: ControlPlaneChange::AuthenticationMode { from: mode.clone(), to: want.clone() } });
                mode = want.clone();
            }
            _ => {}
        }
    }
    let tags: BTreeMap<String, String> = d.tags.iter().filter(|(k, v)| e.tags.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !tags.is_empty() {
        out.steps.push(Step::TagControlPlane { name: name.clone(), arn: e.arn.clone(), before: e.tags.clone(), tags });
    }
    // 4. Add-ons: the declared ones installed and on a version that runs on the target; the
    // others reported when they would not.
    if let Some(t) = target {
        addons(d, e, t, live, &upgraded_addons, out);
    }
    // 5. Access entries for the node roles.
    access(cluster, d, &mode, Some(e), out);
}

/// `v1.11.4-eksbuild.2` → [1, 11, 4, 2]: add-on versions compared by their numbers, so that
/// v1.19 comes after v1.9.
fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).filter_map(|p| p.parse().ok()).collect()
}

/// The newest of `candidates`.
fn newest<'a>(candidates: impl Iterator<Item = &'a String>) -> Option<String> {
    candidates.max_by_key(|v| version_key(v)).cloned()
}

/// EKS's default version of an add-on for a Kubernetes version (else the newest that runs on it).
fn default_version(v: Option<&AddonVersions>, k8s: &str) -> Option<String> {
    let v = v?;
    newest(v.versions.iter().filter(|(_, c)| c.default_for.contains(k8s)).map(|(n, _)| n)).or_else(|| newest(v.versions.iter().filter(|(_, c)| c.kubernetes.contains(k8s)).map(|(n, _)| n)))
}

/// A version that runs on both Kubernetes versions: the default of the later one if it does,
/// else the default of the earlier one if it does, else the newest that does.
fn bridge_version(v: Option<&AddonVersions>, now: &str, next: &str) -> Option<String> {
    let v = v?;
    let both = |n: &&String| v.versions.get(*n).is_some_and(|c| c.kubernetes.contains(now) && c.kubernetes.contains(next));
    default_version(Some(v), next)
        .filter(|d| both(&d))
        .or_else(|| default_version(Some(v), now).filter(|d| both(&d)))
        .or_else(|| newest(v.versions.keys().filter(|n| both(n))))
}

fn runs_on(v: Option<&AddonVersions>, version: &str, k8s: &str) -> bool {
    v.and_then(|v| v.versions.get(version)).is_some_and(|c| c.kubernetes.contains(k8s))
}

/// `moved`: add-ons the version steps already move, to the version they leave.
fn addons(d: &DesiredControlPlane, e: &EksCluster, target: &str, live: &LiveCluster, moved: &BTreeMap<String, String>, out: &mut ControlPlanePlan) {
    let name = &d.name;
    let has_nodes = live.asgs.values().any(|a| !a.instances.is_empty());
    for a in &d.addons {
        let versions = live.addon_versions.get(&a.name);
        let now = e.addons.get(&a.name).map(|i| LiveAddon { version: moved.get(&a.name).cloned().unwrap_or_else(|| i.version.clone()), status: i.status.clone() });
        let installed = now.as_ref();
        let want = match &a.version {
            Some(v) => {
                if !runs_on(versions, v, target) {
                    out.refusals.push(format!(
                        "add-on {} {v} (spec.eks.addons) does not run on Kubernetes {target}{}",
                        a.name,
                        default_version(versions, target).map(|d| format!("; EKS's version for {target} is {d}")).unwrap_or_default()
                    ));
                    continue;
                }
                v.clone()
            }
            None => match installed {
                Some(i) if runs_on(versions, &i.version, target) => i.version.clone(),
                _ => match default_version(versions, target) {
                    Some(v) => v,
                    None => {
                        out.refusals.push(format!("add-on {}: EKS offers no version of it for Kubernetes {target} (aws eks describe-addon-versions --addon-name {} --kubernetes-version {target})", a.name, a.name));
                        continue;
                    }
                },
            },
        };
        match installed {
            None => out.steps.push(Step::CreateAddon { cluster: name.clone(), addon: a.name.clone(), version: want, wait: has_nodes }),
            Some(i) if i.version != want => out.steps.push(Step::UpdateAddon { cluster: name.clone(), addon: a.name.clone(), from: i.version.clone(), to: want, wait: has_nodes }),
            Some(_) => {}
        }
    }
    for (addon, i) in &e.addons {
        let versions = live.addon_versions.get(addon);
        if versions.is_some() && !runs_on(versions, &i.version, target) {
            out.addon_report.push(AddonNote {
                addon: addon.clone(),
                installed: i.version.clone(),
                kubernetes_version: target.to_string(),
                move_to: default_version(versions, target),
                managed: d.addons.iter().any(|a| &a.name == addon),
            });
        }
    }
}

fn access(cluster: &str, d: &DesiredControlPlane, mode: &str, e: Option<&EksCluster>, out: &mut ControlPlanePlan) {
    let name = &d.name;
    if mode == "CONFIG_MAP" {
        if !d.node_roles.is_empty() {
            out.aws_auth = Some(aws_auth(&d.node_roles));
        }
        return;
    }
    let empty = BTreeMap::new();
    let entries = e.map_or(&empty, |e| &e.access_entries);
    for role in &d.node_roles {
        if !entries.contains_key(role) {
            out.steps.push(Step::CreateAccessEntry { cluster: name.clone(), principal: role.clone(), owner: cluster.to_string() });
        }
    }
    for (principal, entry) in entries {
        if entry.owner.as_deref() == Some(cluster) && !d.node_roles.contains(principal) {
            out.deletions.push(Step::DeleteAccessEntry { cluster: name.clone(), principal: principal.clone() });
        }
    }
}

/// The aws-auth ConfigMap entries that let nodes of these roles join (CONFIG_MAP mode), as
/// the EKS documentation gives them.
pub fn aws_auth(roles: &BTreeSet<String>) -> String {
    let mut s = String::from(
        "# The aws-auth entries that let fleetform's node groups join this cluster (it authenticates\n# with the aws-auth ConfigMap only). Merge them into the cluster's ConfigMap; do not replace\n# entries it already holds:  kubectl edit -n kube-system configmap/aws-auth\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\ndata:\n  mapRoles: |\n",
    );
    for r in roles {
        // An instance profile's role ARN may carry a path; aws-auth wants it without.
        let arn = match (r.split_once(":role/"), r.rsplit('/').next()) {
            (Some((head, _)), Some(last)) => format!("{head}:role/{last}"),
            _ => r.clone(),
        };
        s.push_str(&format!("    - rolearn: {arn}\n      username: system:node:{{{{EC2PrivateDNSName}}}}\n      groups:\n        - system:bootstrappers\n        - system:nodes\n"));
    }
    s
}

/// The tag that marks access entries and clusters as fleetform's.
pub fn owner_tags(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(TAG_CLUSTER.to_string(), cluster.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::live::{AccessEntry, AddonCompat, LiveAddon, LiveAsg, LiveInstance};
    use crate::core::resources::AsgConfig;

    fn cp() -> DesiredControlPlane {
        DesiredControlPlane {
            name: "c".into(),
            version: Some("1.32".into()),
            role_arn: Some("arn:aws:iam::1:role/eks-cluster".into()),
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            subnets_declared: false,
            endpoint_public: None,
            endpoint_private: None,
            public_cidrs: None,
            logging: None,
            secrets_encryption_key: None,
            tags: BTreeMap::new(),
            authentication_mode: None,
            service_ipv4_cidr: None,
            addons: vec![],
            node_roles: BTreeSet::from(["arn:aws:iam::1:role/eks-node".to_string()]),
        }
    }

    fn eks(version: &str) -> EksCluster {
        EksCluster {
            name: "c".into(),
            endpoint: "https://x".into(),
            certificate_authority: "Q0E=".into(),
            service_cidr: "10.100.0.0/16".into(),
            security_group_id: Some("sg-1".into()),
            vpc_id: Some("vpc-1".into()),
            version: version.into(),
            status: "ACTIVE".into(),
            arn: "arn:aws:eks:eu-west-3:1:cluster/c".into(),
            role_arn: "arn:aws:iam::1:role/eks-cluster".into(),
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            endpoint_public: true,
            endpoint_private: false,
            public_cidrs: vec!["0.0.0.0/0".into()],
            logging: vec![],
            secrets_encryption_key: None,
            tags: BTreeMap::new(),
            authentication_mode: "API_AND_CONFIG_MAP".into(),
            access_entries: BTreeMap::new(),
            addons: BTreeMap::new(),
        }
    }

    fn with_nodes(mut live: LiveCluster, group: &str, versions: &[&str]) -> LiveCluster {
        let instances = versions
            .iter()
            .enumerate()
            .map(|(i, v)| LiveInstance {
                id: format!("i-{group}{i}"),
                availability_zone: "eu-west-3a".into(),
                lifecycle_state: "InService".into(),
                health_status: "Healthy".into(),
                instance_type: "m5.large".into(),
                image_id: None,
                launch_template_version: Some("1".into()),
                private_dns_name: None,
                kubernetes_version: Some(v.to_string()),
                launch_time: None,
            })
            .collect();
        live.asgs.insert(group.into(), LiveAsg { config: AsgConfig::default(), desired_capacity: versions.len() as i32, instances, rolling_hold: None, scheduled_actions: Default::default(), other_scheduled_actions: Vec::new(), held_processes: Vec::new() });
        live
    }

    fn live_at(version: &str) -> LiveCluster {
        LiveCluster { eks: Some(Ok(eks(version))), ..Default::default() }
    }

    fn versions(p: &ControlPlanePlan) -> Vec<(String, String)> {
        p.steps
            .iter()
            .filter_map(|s| match s {
                Step::UpdateControlPlaneVersion { from, to, .. } => Some((from.clone(), to.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_upgrade_is_one_step_per_minor_with_the_skew_each_leaves() {
        let live = with_nodes(live_at("1.30"), "nodes.c", &["1.30", "1.30"]);
        let p = plan("c", &cp(), &live, &BTreeMap::new());
        assert!(p.refusals.is_empty(), "{:?}", p.refusals);
        assert_eq!(versions(&p), vec![("1.30".into(), "1.31".into()), ("1.31".into(), "1.32".into())]);
        let Step::UpdateControlPlaneVersion { skew, .. } = &p.steps[1] else { panic!() };
        assert_eq!(skew["nodes.c"], "nodes 1.30, 2 minors behind");
    }

    #[test]
    fn a_step_that_leaves_nodes_more_than_three_minors_behind_is_refused_naming_the_groups() {
        let live = with_nodes(with_nodes(live_at("1.30"), "old.c", &["1.29", "1.28"]), "new.c", &["1.30"]);
        let p = plan("c", &DesiredControlPlane { version: Some("1.33".into()), ..cp() }, &live, &BTreeMap::new());
        // 1.31 leaves 1.28 three behind (allowed); 1.32 would leave it four behind.
        assert_eq!(versions(&p), vec![("1.30".into(), "1.31".into())]);
        assert_eq!(p.refusals.len(), 1, "{:?}", p.refusals);
        assert!(p.refusals[0].contains("old.c (1.28)") && !p.refusals[0].contains("new.c") && p.refusals[0].contains("1.32"), "{}", p.refusals[0]);
    }

    #[test]
    fn a_node_image_newer_than_the_control_plane_is_refused() {
        let p = plan("c", &DesiredControlPlane { version: Some("1.31".into()), ..cp() }, &live_at("1.31"), &BTreeMap::from([("gpu.c".to_string(), Some("1.32".to_string())), ("ok.c".to_string(), Some("1.31".to_string()))]));
        assert_eq!(p.refusals.len(), 1);
        assert!(p.refusals[0].contains("gpu.c (1.32)") && !p.refusals[0].contains("ok.c"), "{}", p.refusals[0]);
    }

    #[test]
    fn eks_never_downgrades_and_some_settings_never_change_in_place() {
        let mut live = live_at("1.32");
        if let Some(Ok(e)) = &mut live.eks {
            e.secrets_encryption_key = Some("arn:aws:kms:eu-west-3:1:key/a".into());
        }
        let d = DesiredControlPlane {
            version: Some("1.31".into()),
            service_ipv4_cidr: Some("172.20.0.0/16".into()),
            secrets_encryption_key: Some("arn:aws:kms:eu-west-3:1:key/b".into()),
            subnets_declared: true,
            subnet_ids: vec!["subnet-c".into()],
            authentication_mode: Some("CONFIG_MAP".into()),
            ..cp()
        };
        let p = plan("c", &d, &live, &BTreeMap::new());
        let all = p.refusals.join("\n");
        for needle in ["never downgrades", "service CIDR", "never changes the key", "subnets", "never back"] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
        assert!(versions(&p).is_empty());
    }

    #[test]
    fn settings_change_one_update_each_and_only_what_is_declared() {
        let d = DesiredControlPlane {
            version: Some("1.32".into()),
            endpoint_private: Some(true),
            public_cidrs: Some(vec!["203.0.113.0/24".into()]),
            logging: Some(vec!["api".into(), "audit".into()]),
            authentication_mode: Some("API".into()),
            tags: BTreeMap::from([("team".to_string(), "platform".to_string())]),
            ..cp()
        };
        let p = plan("c", &d, &live_at("1.32"), &BTreeMap::new());
        assert!(p.refusals.is_empty(), "{:?}", p.refusals);
        let kinds: Vec<String> = p.steps.iter().map(Step::label).collect();
        assert_eq!(kinds.len(), 5, "{kinds:?}");
        assert!(matches!(&p.steps[0], Step::UpdateControlPlaneConfig { change: ControlPlaneChange::EndpointAccess { after, .. }, .. } if after.private && after.public && after.public_cidrs == vec!["203.0.113.0/24".to_string()]));
        assert!(matches!(&p.steps[2], Step::UpdateControlPlaneConfig { change: ControlPlaneChange::AuthenticationMode { to, .. }, .. } if to == "API"));
        // Nothing declared, nothing changed.
        assert!(plan("c", &cp(), &live_at("1.32"), &BTreeMap::new()).steps.iter().all(|s| matches!(s, Step::CreateAccessEntry { .. })));
    }

    fn catalogue() -> BTreeMap<String, AddonVersions> {
        let compat = |ks: &[&str], default: &[&str]| AddonCompat { kubernetes: ks.iter().map(|s| s.to_string()).collect(), default_for: default.iter().map(|s| s.to_string()).collect() };
        BTreeMap::from([
            (
                "kube-proxy".to_string(),
                AddonVersions {
                    versions: BTreeMap::from([
                        ("v1.30.0-eksbuild.1".to_string(), compat(&["1.30"], &["1.30"])),
                        ("v1.32.0-eksbuild.1".to_string(), compat(&["1.32"], &["1.32"])),
                    ]),
                },
            ),
            ("vpc-cni".to_string(), AddonVersions { versions: BTreeMap::from([("v1.19.2-eksbuild.1".to_string(), compat(&["1.30", "1.31", "1.32"], &["1.30", "1.31", "1.32"]))]) }),
            ("coredns".to_string(), AddonVersions { versions: BTreeMap::from([("v1.11.3-eksbuild.1".to_string(), compat(&["1.30", "1.31"], &["1.30", "1.31"])), ("v1.11.4-eksbuild.2".to_string(), compat(&["1.31", "1.32"], &["1.32"]))]) }),
        ])
    }

    #[test]
    fn add_ons_that_do_not_run_on_the_target_are_reported_and_the_declared_ones_moved() {
        let mut live = live_at("1.30");
        live.addon_versions = catalogue();
        if let Some(Ok(e)) = &mut live.eks {
            for (n, v) in [("kube-proxy", "v1.30.0-eksbuild.1"), ("vpc-cni", "v1.19.2-eksbuild.1"), ("coredns", "v1.11.3-eksbuild.1")] {
                e.addons.insert(n.into(), LiveAddon { version: v.into(), status: "ACTIVE".into() });
            }
        }
        let d = DesiredControlPlane { addons: vec![AddonSpec { name: "kube-proxy".into(), version: None }, AddonSpec { name: "vpc-cni".into(), version: None }], ..cp() };
        let p = plan("c", &d, &live, &BTreeMap::new());
        assert!(p.refusals.is_empty(), "{:?}", p.refusals);
        let updates: Vec<&Step> = p.steps.iter().filter(|s| matches!(s, Step::UpdateAddon { .. })).collect();
        assert_eq!(updates, vec![&Step::UpdateAddon { cluster: "c".into(), addon: "kube-proxy".into(), from: "v1.30.0-eksbuild.1".into(), to: "v1.32.0-eksbuild.1".into(), wait: false }]);
        // Add-on steps come after every version step.
        let last_version = p.steps.iter().rposition(|s| matches!(s, Step::UpdateControlPlaneVersion { .. })).unwrap();
        assert!(p.steps.iter().position(|s| matches!(s, Step::UpdateAddon { .. })).unwrap() > last_version);
        let report: Vec<(&str, bool, Option<&str>)> = p.addon_report.iter().map(|n| (n.addon.as_str(), n.managed, n.move_to.as_deref())).collect();
        assert_eq!(report, vec![("coredns", false, Some("v1.11.4-eksbuild.2")), ("kube-proxy", true, Some("v1.32.0-eksbuild.1"))]);
        // A declared version that does not run on the target is refused.
        let d = DesiredControlPlane { addons: vec![AddonSpec { name: "kube-proxy".into(), version: Some("v1.30.0-eksbuild.1".into()) }], ..cp() };
        assert!(plan("c", &d, &live, &BTreeMap::new()).refusals[0].contains("does not run on Kubernetes 1.32"));
    }

    #[test]
    fn a_declared_add_on_is_moved_between_minors_when_it_would_not_run_on_the_next() {
        let mut live = with_nodes(live_at("1.30"), "nodes.c", &["1.30"]);
        live.addon_versions = catalogue();
        if let Some(Ok(e)) = &mut live.eks {
            e.addons.insert("coredns".into(), LiveAddon { version: "v1.11.3-eksbuild.1".into(), status: "ACTIVE".into() });
        }
        let d = DesiredControlPlane { addons: vec![AddonSpec { name: "coredns".into(), version: None }], ..cp() };
        let p = plan("c", &d, &live, &BTreeMap::new());
        let order: Vec<String> = p.steps.iter().filter(|s| !matches!(s, Step::CreateAccessEntry { .. })).map(Step::label).collect();
        // v1.11.3 runs on 1.30 and 1.31, not 1.32: moved to v1.11.4 (1.31 and 1.32) between the
        // two version steps, with nodes to wait for.
        assert_eq!(
            order,
            vec![
                "upgrade EKS control plane c from Kubernetes 1.30 to 1.31 and wait until it is ACTIVE",
                "move EKS add-on coredns to v1.11.4-eksbuild.2",
                "upgrade EKS control plane c from Kubernetes 1.31 to 1.32 and wait until it is ACTIVE"
            ]
        );
        assert!(matches!(&p.steps[1], Step::UpdateAddon { wait: true, .. }));
    }

    #[test]
    fn add_on_versions_compare_by_their_numbers() {
        let compat = |k: &[&str]| AddonCompat { kubernetes: k.iter().map(|s| s.to_string()).collect(), default_for: BTreeSet::new() };
        let v = AddonVersions { versions: BTreeMap::from([("v1.9.0-eksbuild.1".to_string(), compat(&["1.31"])), ("v1.19.2-eksbuild.1".to_string(), compat(&["1.31"]))]) };
        assert_eq!(default_version(Some(&v), "1.31").as_deref(), Some("v1.19.2-eksbuild.1"), "not string order");
    }

    #[test]
    fn a_control_plane_another_cluster_owns_is_refused() {
        let mut live = live_at("1.31");
        if let Some(Ok(e)) = &mut live.eks {
            e.tags.insert(TAG_CLUSTER.into(), "other.k8s".into());
        }
        let p = plan("c", &cp(), &live, &BTreeMap::new());
        assert!(p.steps.is_empty() && p.refusals[0].contains("belongs to the fleetform cluster other.k8s"), "{:?}", p.refusals);
    }

    #[test]
    fn access_entries_are_created_for_node_roles_and_only_owned_ones_removed() {
        let mut live = live_at("1.32");
        if let Some(Ok(e)) = &mut live.eks {
            e.access_entries.insert("arn:aws:iam::1:role/old-node".into(), AccessEntry { entry_type: "EC2_LINUX".into(), owner: Some("c".into()) });
            e.access_entries.insert("arn:aws:iam::1:role/theirs".into(), AccessEntry { entry_type: "EC2_LINUX".into(), owner: None });
            e.access_entries.insert("arn:aws:iam::1:role/other-cluster".into(), AccessEntry { entry_type: "EC2_LINUX".into(), owner: Some("d".into()) });
        }
        let p = plan("c", &cp(), &live, &BTreeMap::new());
        assert_eq!(p.steps, vec![Step::CreateAccessEntry { cluster: "c".into(), principal: "arn:aws:iam::1:role/eks-node".into(), owner: "c".into() }]);
        assert_eq!(p.deletions, vec![Step::DeleteAccessEntry { cluster: "c".into(), principal: "arn:aws:iam::1:role/old-node".into() }]);
    }

    #[test]
    fn config_map_clusters_get_the_aws_auth_entries_instead() {
        let mut live = live_at("1.32");
        if let Some(Ok(e)) = &mut live.eks {
            e.authentication_mode = "CONFIG_MAP".into();
        }
        let d = DesiredControlPlane { node_roles: BTreeSet::from(["arn:aws:iam::1:role/nodes/eks-node".to_string()]), ..cp() };
        let p = plan("c", &d, &live, &BTreeMap::new());
        assert!(p.steps.is_empty());
        let text = p.aws_auth.expect("artefact");
        // Parsed the way kubectl and the aws-iam-authenticator read it.
        let cm: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let roles: serde_yaml::Value = serde_yaml::from_str(cm["data"]["mapRoles"].as_str().unwrap()).unwrap();
        assert_eq!(roles[0]["rolearn"].as_str(), Some("arn:aws:iam::1:role/eks-node"));
        assert_eq!(roles[0]["username"].as_str(), Some("system:node:{{EC2PrivateDNSName}}"));
        assert_eq!(roles[0]["groups"][1].as_str(), Some("system:nodes"));
    }

    #[test]
    fn a_missing_control_plane_is_created_with_its_add_ons_and_entries_or_refused_without_a_role() {
        let live = LiveCluster { eks: Some(Err("not found".into())), addon_versions: catalogue(), ..Default::default() };
        let d = DesiredControlPlane { addons: vec![AddonSpec { name: "coredns".into(), version: None }], ..cp() };
        let p = plan("c", &d, &live, &BTreeMap::new());
        assert!(p.refusals.is_empty(), "{:?}", p.refusals);
        let Step::CreateControlPlane(c) = &p.steps[0] else { panic!("{:?}", p.steps) };
        assert_eq!((c.version.as_str(), c.authentication_mode.as_str(), c.endpoint.public, c.endpoint.private), ("1.32", "API", true, false));
        assert_eq!(p.steps[1], Step::CreateAddon { cluster: "c".into(), addon: "coredns".into(), version: "v1.11.4-eksbuild.2".into(), wait: false }, "no node yet: not waited for");
        assert!(matches!(p.steps[2], Step::CreateAccessEntry { .. }));
        let p = plan("c", &DesiredControlPlane { role_arn: None, ..cp() }, &live, &BTreeMap::new());
        assert!(p.steps.is_empty() && p.refusals[0].contains("spec.eks.role"), "{:?}", p.refusals);
    }

    #[test]
    fn versions_in_image_names() {
        for (name, v) in [
            ("amazon-eks-node-al2023-x86_64-standard-1.31-v20261127", Some("1.31")),
            ("bottlerocket-aws-k8s-1.32-x86_64-v1.30.0-2a6dc3c8", Some("1.32")),
            ("ubuntu-eks/k8s_1.30/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240101", Some("1.30")),
            ("al2023-ami-2023.6.20241121.0-kernel-6.1-x86_64", None),
            ("my-golden-image-v2", None),
        ] {
            assert_eq!(version_in_image_name(name).as_deref(), v, "{name}");
        }
    }

    #[test]
    fn versions_in_public_parameters() {
        assert_eq!(version_in_parameter("/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id").as_deref(), Some("1.31"));
        assert_eq!(version_in_parameter("/aws/service/bottlerocket/aws-k8s-1.30/arm64/latest/image_id").as_deref(), Some("1.30"));
        assert_eq!(version_in_parameter("/aws/service/bottlerocket/aws-k8s-1.30-nvidia/arm64/latest/image_id").as_deref(), Some("1.30"));
        assert_eq!(version_in_parameter("/my/ami"), None);
    }
}
