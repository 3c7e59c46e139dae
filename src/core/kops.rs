//! `fleetform import kops`: kops manifests (kops.k8s.io/v1alpha2, what `kops get cluster -o yaml`
//! and `kops get ig -o yaml` print) into a fleetform repository.
//!
//! The shape of the output is the one a team would write by hand: one vars file per cluster
//! holding its values (and a `groups:` list, one entry per InstanceGroup), templates that loop
//! over them, and each mixedInstancesPolicy instance list as a snippet, shared by every group of
//! every cluster that has the same list. Values equal in every imported cluster move to
//! `vars/_kops.yaml`.
//!
//! Fields keep kops's meaning: what kops leaves to a default (a mixedInstancesPolicy's
//! `onDemandAboveBase` of 100, the root volume of 128 GiB gp3 …) is written out, so the imported
//! group asks AWS for what kops asked. A field fleetform does not carry is never dropped in
//! silence: it is a finding of the report (file, line, cluster, group, field, why). Every
//! problem of every file is collected before anything is written: one pass, not one error per
//! run. Pure: files in, files and findings out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use super::diag::{did_you_mean, Diagnostic};
use super::model::SCALING_PROCESSES;
use super::unused::key_position;
use super::SourceFile;

/// The kops API version read.
pub const API_VERSION: &str = "kops.k8s.io/v1alpha2";
/// The file values shared by every imported cluster go to.
pub const SHARED_FILE: &str = "vars/_kops.yaml";
const AUTOSCALER_ENABLED: &str = "k8s.io/cluster-autoscaler/enabled";

/// One line of the import report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The kops field, e.g. `spec.warmPool`.
    pub field: String,
    pub kind: FindingKind,
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FindingKind {
    /// Not carried into the repository.
    Unsupported,
    /// Carried in another form (copied to every group, turned into another field).
    Changed,
    /// kops's default, written out.
    Default,
}

impl FindingKind {
    pub fn word(self) -> &'static str {
        match self {
            FindingKind::Unsupported => "not imported",
            FindingKind::Changed => "changed",
            FindingKind::Default => "kops default",
        }
    }
}

/// The repository an import writes.
#[derive(Debug, Clone)]
pub struct Imported {
    pub clusters: Vec<String>,
    /// Paths relative to the repository root.
    pub files: Vec<SourceFile>,
    pub findings: Vec<Finding>,
}

/// One YAML document of an input file.
struct Doc {
    file: PathBuf,
    /// 0-based line of the document's first line in its file.
    offset: usize,
    text: String,
    /// The whole file, for the source line under an error.
    file_text: std::sync::Arc<str>,
    value: Mapping,
}

impl Doc {
    fn line(&self, keys: &[&str]) -> usize {
        match key_position(&self.text, keys) {
            (0, _) => self.offset + 1,
            (l, _) => self.offset + l,
        }
    }
    fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }
    fn name(&self) -> Option<&str> {
        self.value.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str)
    }
    fn spec(&self) -> Mapping {
        self.value.get("spec").and_then(Value::as_mapping).cloned().unwrap_or_default()
    }
}

/// Collects the errors and findings of one document.
struct Ctx<'a> {
    doc: &'a Doc,
    cluster: String,
    group: Option<String>,
    errors: &'a mut Vec<Diagnostic>,
    findings: &'a mut Vec<Finding>,
}

impl Ctx<'_> {
    fn error(&mut self, keys: &[&str], message: String, help: &str) {
        let line = self.doc.line(keys);
        let what = match &self.group {
            Some(g) => format!("instance group `{g}` of `{}`", self.cluster),
            None => format!("cluster `{}`", self.cluster),
        };
        self.errors.push(Diagnostic::new(&self.doc.file, line, 0, format!("{what}: {message}")).with_source(&self.doc.file_text).with_help(help));
    }
    fn finding(&mut self, keys: &[&str], kind: FindingKind, why: impl Into<String>) {
        self.findings.push(Finding {
            file: self.doc.file.clone(),
            line: self.doc.line(keys),
            cluster: self.cluster.clone(),
            group: self.group.clone(),
            field: keys.join("."),
            kind,
            why: why.into(),
        });
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_map(v: &Value) -> Option<Mapping> {
    let m = v.as_mapping()?;
    let mut out = Mapping::new();
    for (k, v) in m {
        let v = if v.is_null() { String::new() } else { scalar_string(v)? };
        out.insert(Value::String(scalar_string(k)?), Value::String(v));
    }
    Some(out)
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_sequence()?.iter().map(scalar_string).collect()
}

fn u32_of(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn key(s: &str) -> Value {
    Value::String(s.to_string())
}

/// Split files into YAML documents and parse each; errors name the file and line.
fn documents(files: &[SourceFile], errors: &mut Vec<Diagnostic>) -> Vec<Doc> {
    let mut out = Vec::new();
    for f in files {
        let mut starts = vec![0];
        for (i, l) in f.text.lines().enumerate() {
            if l == "---" || l.starts_with("--- ") {
                starts.push(i + 1);
            }
        }
        let lines: Vec<&str> = f.text.lines().collect();
        let file_text: std::sync::Arc<str> = f.text.as_str().into();
        for (n, &start) in starts.iter().enumerate() {
            let end = starts.get(n + 1).map_or(lines.len(), |e| e - 1);
            let text = lines[start.min(lines.len())..end.max(start).min(lines.len())].join("\n");
            match serde_yaml::from_str::<Value>(&text) {
                Ok(Value::Null) => {}
                Ok(Value::Mapping(value)) => out.push(Doc { file: f.path.clone(), offset: start, text, file_text: file_text.clone(), value }),
                Ok(_) => errors.push(
                    Diagnostic::new(&f.path, start + 1, 0, "this document is not a kops object (a mapping with apiVersion, kind, metadata, spec)")
                        .with_help("give the output of `kops get cluster NAME -o yaml` and `kops get ig --name NAME -o yaml`"),
                ),
                Err(e) => {
                    let line = e.location().map_or(start + 1, |l| start + l.line());
                    errors.push(Diagnostic::new(&f.path, line, 0, format!("not YAML: {e}")).with_help("fix the file, or export it again with `kops get … -o yaml`"));
                }
            }
        }
    }
    out
}

/// Import kops manifests. Every error of every file at once, or the repository and its report.
pub fn import(files: &[SourceFile]) -> Result<Imported, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut findings = Vec::new();
    let docs = documents(files, &mut errors);

    let mut clusters: BTreeMap<String, &Doc> = BTreeMap::new();
    let mut groups: Vec<&Doc> = Vec::new();
    for d in &docs {
        let api = d.value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = d.kind();
        if !matches!(kind, "Cluster" | "InstanceGroup") {
            findings.push(Finding {
                file: d.file.clone(),
                line: d.line(&["kind"]),
                cluster: String::new(),
                group: None,
                field: format!("kind {kind}"),
                kind: FindingKind::Unsupported,
                why: "only Cluster and InstanceGroup objects are imported".into(),
            });
            continue;
        }
        // Older kops wrote the same schema as `kops/v1alpha2`.
        if api != API_VERSION && api != "kops/v1alpha2" {
            errors.push(
                Diagnostic::new(&d.file, d.line(&["apiVersion"]), 0, format!("apiVersion `{api}`: fleetform imports {API_VERSION}"))
                    .with_source(&d.file_text)
                    .with_help("export with a kops that prints kops.k8s.io/v1alpha2 (`kops get cluster NAME -o yaml`), the version kops users keep"),
            );
            continue;
        }
        let Some(name) = d.name().filter(|n| !n.is_empty()) else {
            errors.push(Diagnostic::new(&d.file, d.line(&["metadata"]), 0, format!("a {kind} without metadata.name")).with_source(&d.file_text).with_help("export it again with `kops get … -o yaml`"));
            continue;
        };
        // Names become file names (vars/<cluster>.yaml, snippets/<group>-instances.yaml): only
        // what fleetform accepts as a cluster name, so nothing is written outside the repository.
        if kind == "Cluster" && !super::render::valid_cluster_name(name) {
            errors.push(
                Diagnostic::new(&d.file, d.line(&["metadata", "name"]), 0, format!("cluster name `{}` is not a DNS name of at most 100 characters", name.escape_debug()))
                    .with_source(&d.file_text)
                    .with_help("fleetform names a cluster's vars file after it: lowercase letters, digits, `-` and `.`, like prod.k8s.example.com"),
            );
            continue;
        }
        if kind == "Cluster" {
            if let Some(prev) = clusters.insert(name.to_string(), d) {
                errors.push(
                    Diagnostic::new(&d.file, d.line(&["metadata", "name"]), 0, format!("cluster `{name}` is given twice (also {}:{})", prev.file.display(), prev.line(&["metadata", "name"])))
                        .with_source(&d.file_text)
                        .with_help("give each cluster's manifest once"),
                );
            }
        } else {
            groups.push(d);
        }
    }

    // Each instance group belongs to the cluster its kops label names (or the only one given).
    let mut by_cluster: BTreeMap<String, Vec<&Doc>> = clusters.keys().map(|c| (c.clone(), Vec::new())).collect();
    for g in groups {
        let label = g.value.get("metadata").and_then(|m| m.get("labels")).and_then(|l| l.get("kops.k8s.io/cluster")).and_then(Value::as_str);
        let cluster = match (label, clusters.len()) {
            (Some(c), _) => c.to_string(),
            (None, 1) => clusters.keys().next().expect("one").clone(),
            (None, _) => {
                errors.push(
                    Diagnostic::new(&g.file, g.line(&["metadata"]), 0, format!("instance group `{}` names no cluster (label kops.k8s.io/cluster)", g.name().unwrap_or("?")))
                        .with_source(&g.file_text)
                        .with_help("kops writes the label; import one cluster's files at a time, or add the label"),
                );
                continue;
            }
        };
        match by_cluster.get_mut(&cluster) {
            Some(v) => v.push(g),
            None => {
                let help = match did_you_mean(&cluster, clusters.keys().map(String::as_str)) {
                    Some(m) => format!("did you mean `{m}`? Otherwise add the output of `kops get cluster {cluster} -o yaml`"),
                    None => format!("add the output of `kops get cluster {cluster} -o yaml` to the files imported"),
                };
                errors.push(
                    Diagnostic::new(&g.file, g.line(&["metadata", "labels", "kops.k8s.io/cluster"]), 0, format!("instance group `{}` belongs to cluster `{cluster}`, which is not among the files", g.name().unwrap_or("?")))
                        .with_source(&g.file_text)
                        .with_help(help),
                );
            }
        }
    }
    if clusters.is_empty() && errors.is_empty() {
        errors.push(Diagnostic::file(files.first().map_or(PathBuf::from("(input)"), |f| f.path.clone()), "no kops Cluster among the files").with_help("give `kops get cluster NAME -o yaml` and `kops get ig --name NAME -o yaml`"));
    }

    let mut vars: BTreeMap<String, Mapping> = BTreeMap::new();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lists = InstanceLists::default();
    for (name, doc) in &clusters {
        let mut ctx = Ctx { doc, cluster: name.clone(), group: None, errors: &mut errors, findings: &mut findings };
        let (mut v, notes) = cluster_values(&mut ctx);
        let igs = &by_cluster[name];
        let discovery = Discovery {
            addon: doc.spec().get("clusterAutoscaler").and_then(|c| c.get("enabled")).and_then(Value::as_bool) == Some(true),
            tags: igs.iter().any(|g| g.spec().get("cloudLabels").and_then(Value::as_mapping).is_some_and(|m| m.contains_key(AUTOSCALER_ENABLED))),
        };
        let mut seen = BTreeMap::new();
        let mut out = Vec::new();
        let mut sorted: Vec<&&Doc> = igs.iter().collect();
        sorted.sort_by_key(|d| d.name().unwrap_or("").to_string());
        for g in sorted {
            let gname = g.name().unwrap_or("").to_string();
            let mut ctx = Ctx { doc: g, cluster: name.clone(), group: Some(gname.clone()), errors: &mut errors, findings: &mut findings };
            if let Some(prev) = seen.insert(gname.clone(), g.line(&["metadata", "name"])) {
                ctx.error(&["metadata", "name"], format!("given twice (also line {prev})"), "give each instance group once");
                continue;
            }
            if let Some(entry) = group_values(&mut ctx, name, discovery, doc, &mut lists) {
                out.push(Value::Mapping(entry));
            }
        }
        v.insert(key("groups"), Value::Sequence(out));
        vars.insert(name.clone(), v);
        headers.insert(name.clone(), notes);
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let shared = hoist_shared(&mut vars);
    let mut files_out = Vec::new();
    let sources: BTreeSet<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    let from = comment_text(&sources.into_iter().collect::<Vec<_>>().join(", "));
    if !shared.is_empty() {
        files_out.push(SourceFile::new(SHARED_FILE, format!("# Imported from kops ({from}) by `fleetform import kops`: values every imported cluster\n# had alike. A cluster's own file overrides them.\n{}", yaml(&shared))));
    }
    for (name, v) in &vars {
        let mut text = format!("# Imported from kops ({from}) by `fleetform import kops`.\n");
        for n in &headers[name] {
            text.push_str(&format!("# {n}\n"));
        }
        text.push_str(&yaml(v));
        files_out.push(SourceFile::new(format!("vars/{name}.yaml"), text));
    }
    files_out.push(SourceFile::new("templates/1_cluster.yaml.tpl", cluster_template()));
    files_out.push(SourceFile::new("templates/2_node-groups.yaml.tpl", groups_template()));
    for (list, (file, users)) in &lists.by_list {
        let mut text = format!("# Imported from kops: the mixedInstancesPolicy instances of {}.\n", users.join(", "));
        for t in list {
            text.push_str(&format!("- {t}\n"));
        }
        files_out.push(SourceFile::new(format!("snippets/{file}"), text));
    }
    Ok(Imported { clusters: clusters.keys().cloned().collect(), files: files_out, findings })
}

/// Text from the kops files put into a comment: one line, no control characters.
fn comment_text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn yaml(m: &Mapping) -> String {
    serde_yaml::to_string(m).expect("values serialize")
}

/// Instance lists → (snippet file, the groups that use it).
#[derive(Default)]
struct InstanceLists {
    by_list: BTreeMap<Vec<String>, (String, Vec<String>)>,
    names: BTreeSet<String>,
}

impl InstanceLists {
    fn snippet(&mut self, list: &[String], group: &str, cluster: &str) -> String {
        let user = format!("{group} ({cluster})");
        if let Some((file, users)) = self.by_list.get_mut(list) {
            users.push(user);
            return file.clone();
        }
        let mut file = format!("{group}-instances.yaml");
        let mut n = 2;
        while self.names.contains(&file) {
            file = format!("{group}-instances-{n}.yaml");
            n += 1;
        }
        self.names.insert(file.clone());
        self.by_list.insert(list.to_vec(), (file.clone(), vec![user]));
        file
    }
}

/// What a kops cluster field that fleetform does not carry is, for the report.
fn cluster_field_why(field: &str) -> &'static str {
    match field {
        "kubernetesVersion" => "kops runs this control plane; fleetform declares an EKS one (spec.eks.kubernetesVersion): add `eks:` to the cluster's vars to move the nodes onto EKS (README: Moving from kops)",
        "kubeControllerManager" | "kubeAPIServer" | "kubeScheduler" | "etcdClusters" | "api" | "masterPublicName" | "masterInternalName" | "kubernetesApiAccess" | "authorization" | "authentication" | "serviceAccountIssuerDiscovery" => {
            "kops's own control plane: fleetform does not run one (on EKS, AWS does)"
        }
        "networking" | "networkCIDR" | "networkID" | "nonMasqueradeCIDR" | "serviceClusterIPRange" | "podCIDR" | "topology" | "kubeProxy" | "kubeDNS" => {
            "the cluster's network, made and kept by kops; fleetform uses the VPC and subnets as they are"
        }
        "sshAccess" | "sshKeyName" => "fleetform's launch templates carry no SSH key; reach nodes with SSM Session Manager",
        "iam" | "additionalPolicies" | "externalPolicies" => "IAM roles and policies stay as kops made them; fleetform names the instance profile of each group (iam.profile)",
        _ => "kops's cluster configuration: not managed by fleetform (it manages node groups, their launch templates, DNS records and, on EKS, the control plane)",
    }
}

/// The cluster's values and the notes of its vars file.
fn cluster_values(ctx: &mut Ctx<'_>) -> (Mapping, Vec<String>) {
    let spec = ctx.doc.spec();
    let mut v = Mapping::new();
    let mut notes = Vec::new();
    // Subnets first: the region comes from their zones.
    let mut region = None;
    let mut subnets = Vec::new();
    match spec.get("subnets").and_then(Value::as_sequence) {
        Some(list) if !list.is_empty() => {
            let mut types = false;
            for (i, s) in list.iter().enumerate() {
                let name = s.get("name").and_then(scalar_string);
                let zone = s.get("zone").and_then(scalar_string);
                let (Some(name), Some(zone)) = (name, zone) else {
                    ctx.error(&["spec", "subnets"], format!("subnets[{i}] has no name or no zone"), "kops writes both; export the cluster again");
                    continue;
                };
                match region_of(&zone) {
                    Some(r) if region.as_ref().is_none_or(|x: &String| *x == r) => region = Some(r),
                    Some(r) => ctx.error(&["spec", "subnets"], format!("subnet `{name}` is in {r}, the others in {}", region.clone().unwrap_or_default()), "a cluster lives in one region"),
                    None => ctx.error(&["spec", "subnets"], format!("subnet `{name}`: `{zone}` is not an availability zone"), "write the zone as AWS names it, e.g. eu-west-1a"),
                }
                let mut m = Mapping::new();
                m.insert(key("name"), Value::String(name));
                m.insert(key("zone"), Value::String(zone));
                for k in ["cidr", "id"] {
                    if let Some(x) = s.get(k).and_then(scalar_string) {
                        m.insert(key(k), Value::String(x));
                    }
                }
                types |= s.get("type").is_some();
                for k in s.as_mapping().into_iter().flat_map(|m| m.keys()).filter_map(Value::as_str) {
                    if !matches!(k, "name" | "zone" | "cidr" | "id" | "type") {
                        ctx.finding(&["spec", "subnets", k], FindingKind::Unsupported, "subnet settings stay as kops made them; fleetform uses the subnet as it is");
                    }
                }
                subnets.push(Value::Mapping(m));
            }
            if types {
                ctx.finding(&["spec", "subnets"], FindingKind::Changed, "subnet types (Private, Public, Utility) are kops's topology: fleetform keeps each subnet's name, zone and cidr (the cidr tells a zone's subnets apart)");
            }
        }
        _ => ctx.error(&["spec"], "no spec.subnets".into(), "export the cluster with `kops get cluster NAME -o yaml`"),
    }
    if let Some(r) = region {
        v.insert(key("region"), Value::String(r));
    }
    let line = ctx.doc.line(&["metadata", "name"]);
    ctx.findings.push(Finding {
        file: ctx.doc.file.clone(),
        line,
        cluster: ctx.cluster.clone(),
        group: None,
        field: "node bootstrap (nodeup)".into(),
        kind: FindingKind::Unsupported,
        why: "kops's node bootstrap (the nodeup user data of every group) is kops's own: a group fleetform launches boots with fleetform's bootstrap — on EKS (`eks:` in the vars) nodeadm or Bottlerocket, otherwise only the group's additionalUserData. Move the cluster onto EKS before instances launch from an adopted group (README: Moving from kops)".into(),
    });
    v.insert(key("subnets"), Value::Sequence(subnets));
    if let Some(p) = spec.get("cloudProvider") {
        let p = p.as_str().or_else(|| p.get("aws").map(|_| "aws")).unwrap_or("");
        if p != "aws" {
            ctx.error(&["spec", "cloudProvider"], format!("cloud provider `{p}`"), "fleetform runs fleets on AWS only");
        }
    }
    for (k, val) in &spec {
        let Some(k) = k.as_str() else { continue };
        match k {
            "subnets" | "cloudProvider" => {}
            "configBase" => match val.as_str().filter(|s| s.starts_with("s3://")) {
                Some(s) => {
                    v.insert(key("stateStore"), Value::String(s.to_string()));
                    ctx.finding(&["spec", "configBase"], FindingKind::Changed, format!("fleetform keeps its lock and audit trail under {s}/fleetform/, beside kops's state"));
                }
                None => ctx.finding(&["spec", "configBase"], FindingKind::Unsupported, "not an s3:// state store; set stateStore in the vars"),
            },
            "dnsZone" => {
                if let Some(z) = scalar_string(val) {
                    v.insert(key("dnsZone"), Value::String(z));
                }
            }
            "cloudLabels" => match string_map(val) {
                Some(m) if !m.is_empty() => {
                    v.insert(key("cloudLabels"), Value::Mapping(m));
                }
                Some(_) => {}
                None => ctx.error(&["spec", "cloudLabels"], "cloudLabels is not a map of strings".into(), "write `key: value` pairs"),
            },
            "clusterAutoscaler" => {
                let Some(m) = val.as_mapping() else { continue };
                let mut out = Mapping::new();
                for (ck, cv) in m {
                    let Some(ck) = ck.as_str() else { continue };
                    match ck {
                        "enabled" | "expander" | "maxNodeProvisionTime" | "balanceSimilarNodeGroups" | "scaleDownUtilizationThreshold" | "scaleDownDelayAfterAdd" | "skipNodesWithLocalStorage" | "newPodScaleUpDelay" => {
                            out.insert(key(ck), cv.clone());
                        }
                        _ => ctx.finding(&["spec", "clusterAutoscaler", ck], FindingKind::Unsupported, "a cluster-autoscaler setting fleetform does not render; add it to the autoscaler's deployment by hand"),
                    }
                }
                if !out.is_empty() {
                    v.insert(key("clusterAutoscaler"), Value::Mapping(out));
                }
            }
            "rollingUpdate" => {
                if let Some(r) = rolling_update(ctx, &["spec", "rollingUpdate"], val) {
                    v.insert(key("rollingUpdate"), Value::Mapping(r));
                }
            }
            // Copied into each group (kops applies it to every group); the rest reported.
            "kubelet" => {
                let mut carried = Vec::new();
                for (kk, kv) in val.as_mapping().into_iter().flatten() {
                    let Some(kk) = kk.as_str() else { continue };
                    match kubelet_setting(kk, kv) {
                        Some(Ok(_)) => carried.push(kk),
                        Some(Err(help)) => ctx.error(&["spec", "kubelet", kk], format!("kubelet.{kk} is not what kops writes"), help),
                        None => ctx.finding(&["spec", "kubelet", kk], FindingKind::Unsupported, KUBELET_WHY),
                    }
                }
                if !carried.is_empty() {
                    ctx.finding(&["spec", "kubelet"], FindingKind::Changed, format!("kubelet {} copied into every group's values (kops applies the cluster's kubelet to each; a group's own setting wins); they reach the nodes once the cluster is on EKS (`eks:` in its vars), through fleetform's bootstrap", carried.join(", ")));
                }
            }
            "kubernetesVersion" => {
                let ver = comment_text(&scalar_string(val).unwrap_or_default());
                notes.push(format!("kops ran Kubernetes {ver} on its own control plane: see the import report and README \"Moving from kops\"."));
                ctx.finding(&["spec", k], FindingKind::Unsupported, cluster_field_why(k));
            }
            _ => ctx.finding(&["spec", k], FindingKind::Unsupported, cluster_field_why(k)),
        }
    }
    (v, notes)
}

/// kops zone → region: `eu-west-1a` → `eu-west-1`, `us-west-2-lax-1a` → `us-west-2`.
fn region_of(zone: &str) -> Option<String> {
    let parts: Vec<&str> = zone.split('-').collect();
    let digits = parts.iter().position(|p| p.starts_with(|c: char| c.is_ascii_digit()))?;
    let num: String = parts[digits].chars().take_while(char::is_ascii_digit).collect();
    let suffix = &parts[digits][num.len()..];
    if digits < 2 || (suffix.is_empty() && digits + 1 == parts.len()) || !parts[..digits].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase())) {
        return None;
    }
    Some(format!("{}-{num}", parts[..digits].join("-")))
}

fn rolling_update(ctx: &mut Ctx<'_>, at: &[&str], val: &Value) -> Option<Mapping> {
    let m = val.as_mapping()?;
    let mut out = Mapping::new();
    for (k, v) in m {
        let Some(k) = k.as_str() else { continue };
        match k {
            "maxSurge" | "maxUnavailable" => {
                out.insert(key(k), v.clone());
            }
            _ => {
                let mut path = at.to_vec();
                path.push(k);
                let why = if k == "drainAndTerminate" {
                    "fleetform always drains through the drain hook before it terminates (rolling-update --skip-drain for the exception)"
                } else {
                    "a rolling-update setting fleetform does not have; its validation settings are the cluster's spec.validation"
                };
                ctx.finding(&path, FindingKind::Unsupported, why);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Why an InstanceGroup field is not carried over.
fn group_field_why(field: &str) -> &'static str {
    match field {
        "externalLoadBalancers" | "targetGroups" => "fleetform does not attach load balancers; an attachment made before is left as it is",
        "hooks" | "fileAssets" | "sysctlParameters" | "packages" => "a kops nodeup feature: write it as a script in additionalUserData",
        "zones" => "deprecated in kops: the group's subnets decide its zones",
        "tenancy" | "instanceInterruptionBehavior" | "spotDurationInMinutes" | "guestAccelerators" | "compressUserData" => {
            "a launch template or group setting fleetform does not have"
        }
        "manager" => "Karpenter-managed groups are not Auto Scaling groups: fleetform manages only the latter",
        "volumes" | "volumeMounts" => "extra volumes are not managed by fleetform (its root volume is)",
        "containerd" | "containerRuntime" => "the container runtime is the node image's",
        _ => "not supported by fleetform",
    }
}

/// How kops's cluster-autoscaler found groups: its addon (every group whose `autoscale` is not
/// false), or discovery tags put on some groups by hand.
#[derive(Clone, Copy)]
struct Discovery {
    addon: bool,
    tags: bool,
}

fn group_values(ctx: &mut Ctx<'_>, cluster: &str, discovery: Discovery, cluster_doc: &Doc, lists: &mut InstanceLists) -> Option<Mapping> {
    let spec = ctx.doc.spec();
    let name = ctx.group.clone().unwrap_or_default();
    let mut v = Mapping::new();
    v.insert(key("name"), Value::String(name.clone()));
    let role = match spec.get("role").and_then(Value::as_str).unwrap_or("Node") {
        // kops's control plane stays kops's: declared, its groups would be adopted and would
        // launch without nodeup; on EKS AWS runs the control plane.
        r @ ("Master" | "ControlPlane" | "APIServer") => {
            ctx.finding(
                &["spec", "role"],
                FindingKind::Unsupported,
                format!("a {r} group runs kops's own control plane: not imported, so fleetform never adopts or changes it (`kops delete cluster` removes it once the workloads run on EKS)"),
            );
            return None;
        }
        "Node" => "Node",
        "Bastion" => "Bastion",
        other => {
            ctx.error(&["spec", "role"], format!("role `{other}`"), "kops roles are ControlPlane (Master), APIServer, Node and Bastion; Node and Bastion groups are imported");
            "Node"
        }
    };
    if !super::render::valid_group_name(&name) {
        ctx.error(&["metadata", "name"], "the name is not a fleetform group name".into(), "rename the group: lowercase letters, digits and `-`, at most 63 (its AWS resources keep kops's name only if the name stays)");
    }
    v.insert(key("role"), key(role));
    for (k, help) in [("image", "kops chose it from its channel; write the image (owner/name, ami-… or ssm:/…) into the instance group"), ("machineType", "write the instance type into the instance group")] {
        match spec.get(k).and_then(scalar_string) {
            Some(x) if !x.trim().is_empty() => {
                v.insert(key(k), Value::String(x));
            }
            _ => ctx.error(&["spec"], format!("no spec.{k}"), help),
        }
    }
    // kops's defaults when the sizes are missing: 1 for a control plane or bastion, 2 for nodes.
    let default_size = if role == "Node" { 2 } else { 1 };
    for k in ["minSize", "maxSize"] {
        match spec.get(k) {
            Some(x) => match u32_of(x) {
                Some(n) => {
                    v.insert(key(k), Value::from(n));
                }
                None => ctx.error(&["spec", k], format!("{k} is not a whole number"), "write a count of instances"),
            },
            None => {
                v.insert(key(k), Value::from(default_size));
                ctx.finding(&["spec", k], FindingKind::Default, format!("not set: kops's default {default_size} written"));
            }
        }
    }
    if let (Some(min), Some(max)) = (v.get("minSize").and_then(Value::as_u64), v.get("maxSize").and_then(Value::as_u64)) {
        if min > max {
            ctx.error(&["spec", "minSize"], format!("minSize {min} is greater than maxSize {max}"), "make minSize at most maxSize");
        }
    }
    let cluster_subnets: Vec<String> = cluster_doc.spec().get("subnets").and_then(Value::as_sequence).into_iter().flatten().filter_map(|s| s.get("name").and_then(scalar_string)).collect();
    match spec.get("subnets").and_then(string_list) {
        Some(list) if !list.is_empty() => {
            for s in &list {
                if !cluster_subnets.contains(s) {
                    let help = match did_you_mean(s, cluster_subnets.iter().map(String::as_str)) {
                        Some(m) => format!("did you mean `{m}`?"),
                        None => format!("the cluster's subnets are {}", cluster_subnets.join(", ")),
                    };
                    ctx.error(&["spec", "subnets"], format!("subnet `{s}` is not one of the cluster's"), &help);
                }
            }
            v.insert(key("subnets"), Value::Sequence(list.into_iter().map(Value::String).collect()));
        }
        _ => ctx.error(&["spec"], "no spec.subnets".into(), "name the cluster subnets the group launches in"),
    }

    let mut rv = Mapping::new();
    let mut flat_kubelet = Mapping::new();
    for (k, val) in &spec {
        let Some(k) = k.as_str() else { continue };
        match k {
            "role" | "image" | "machineType" | "minSize" | "maxSize" | "subnets" | "securityGroupOverride" => {}
            "mixedInstancesPolicy" => {
                if let Some(m) = mixed_policy(ctx, val, &name, cluster, lists) {
                    for (mk, mv) in m {
                        v.insert(mk, mv);
                    }
                }
            }
            "maxPrice" => match scalar_string(val).filter(|p| p.parse::<f64>().is_ok_and(|x| x > 0.0)) {
                Some(p) => {
                    v.insert(key("maxPrice"), Value::String(p));
                }
                None => ctx.error(&["spec", "maxPrice"], "maxPrice is not a price".into(), "write the most to pay per hour in US dollars, e.g. \"0.45\""),
            },
            "nodeLabels" | "cloudLabels" => match string_map(val) {
                Some(mut m) => {
                    if k == "cloudLabels" {
                        // The discovery tags and the node-template labels and taints fleetform writes
                        // itself (from autoscale, nodeLabels, taints); other node-template tags
                        // (resources) stay.
                        let generated = |s: &str| {
                            s == AUTOSCALER_ENABLED
                                || s == format!("k8s.io/cluster-autoscaler/{cluster}")
                                || s.starts_with("k8s.io/cluster-autoscaler/node-template/label/")
                                || s.starts_with("k8s.io/cluster-autoscaler/node-template/taint/")
                        };
                        let auto: Vec<Value> = m.keys().filter(|x| x.as_str().is_some_and(generated)).cloned().collect();
                        for a in &auto {
                            m.shift_remove(a);
                            let a = a.as_str().unwrap_or("");
                            ctx.finding(&["spec", "cloudLabels", a], FindingKind::Changed, "fleetform writes this cluster-autoscaler tag itself (discovery from autoscale, on by default; node-template labels and taints from nodeLabels and taints)");
                        }
                    }
                    if k == "nodeLabels" {
                        for l in m.keys().filter_map(Value::as_str).filter(|l| !super::bootstrap::kubelet_may_set_label(l)) {
                            ctx.finding(
                                &["spec", "nodeLabels", l],
                                FindingKind::Changed,
                                "kept for the kops nodes (kops-controller sets it, not the kubelet); on EKS the kubelet may not set it on itself (NodeRestriction), so render refuses it once the cluster has `eks`: rename it (example.com/…, node.kubernetes.io/…) or drop it then",
                            );
                        }
                    }
                    if !m.is_empty() {
                        let field = if k == "nodeLabels" { "nodeLabels" } else { "cloudLabels" };
                        v.insert(key(field), Value::Mapping(m));
                    }
                }
                None => ctx.error(&["spec", k], format!("{k} is not a map of strings"), "write `key: value` pairs"),
            },
            "taints" => match string_list(val) {
                Some(list) => {
                    for t in &list {
                        if let Err(e) = super::render::check_taint(t) {
                            ctx.error(&["spec", "taints"], format!("taint `{t}`: {e}"), "write key=value:Effect or key:Effect");
                        }
                    }
                    if !list.is_empty() {
                        v.insert(key("taints"), Value::Sequence(list.into_iter().map(Value::String).collect()));
                    }
                }
                None => ctx.error(&["spec", "taints"], "taints is not a list".into(), "write a list of key=value:Effect"),
            },
            "rootVolume" => {
                if let Some(m) = val.as_mapping() {
                    for (rk, rvv) in m {
                        let Some(rk) = rk.as_str() else { continue };
                        let to = match rk {
                            "size" => "size",
                            "type" => "type",
                            "iops" => "iops",
                            "throughput" => "throughput",
                            "encryption" => "encryption",
                            _ => {
                                ctx.finding(&["spec", "rootVolume", rk], FindingKind::Unsupported, "a root volume setting fleetform does not have");
                                continue;
                            }
                        };
                        rv.insert(key(to), rvv.clone());
                    }
                }
            }
            "rootVolumeSize" | "rootVolumeType" | "rootVolumeIops" | "rootVolumeThroughput" | "rootVolumeEncryption" => {
                let to = match k {
                    "rootVolumeSize" => "size",
                    "rootVolumeType" => "type",
                    "rootVolumeIops" => "iops",
                    "rootVolumeThroughput" => "throughput",
                    _ => "encryption",
                };
                rv.entry(key(to)).or_insert_with(|| val.clone());
            }
            "rootVolumeOptimization" | "rootVolumeDeleteOnTermination" | "rootVolumeEncryptionKey" => {
                ctx.finding(&["spec", k], FindingKind::Unsupported, "a root volume setting fleetform does not have");
            }
            "rollingUpdate" => {
                if let Some(r) = rolling_update(ctx, &["spec", "rollingUpdate"], val) {
                    v.insert(key("rollingUpdate"), Value::Mapping(r));
                }
            }
            "associatePublicIp" | "capacityRebalance" | "autoscale" | "instanceProtection" | "detailedInstanceMonitoring" => match val.as_bool() {
                Some(b) => {
                    let field: &'static str = match k {
                        "associatePublicIp" => "associatePublicIp",
                        "capacityRebalance" => "capacityRebalance",
                        "instanceProtection" => "instanceProtection",
                        "detailedInstanceMonitoring" => "detailedInstanceMonitoring",
                        _ => "autoscale",
                    };
                    v.insert(key(field), Value::Bool(b));
                }
                None => ctx.error(&["spec", k], format!("{k} is not true or false"), "write true or false"),
            },
            "maxInstanceLifetime" | "cpuCredits" => match scalar_string(val) {
                Some(x) => {
                    let field: &'static str = if k == "cpuCredits" { "cpuCredits" } else { "maxInstanceLifetime" };
                    v.insert(key(field), Value::String(x));
                }
                None => ctx.error(&["spec", k], format!("{k} is not a string"), "write it as kops does, e.g. 168h0m0s or unlimited"),
            },
            "warmPool" => {
                let mut m = Mapping::new();
                for (wk, wv) in val.as_mapping().into_iter().flatten() {
                    match wk.as_str() {
                        Some(f @ ("minSize" | "maxSize")) => match u32_of(wv) {
                            Some(n) => {
                                m.insert(key(f), Value::from(n));
                            }
                            None => ctx.error(&["spec", "warmPool", f], format!("warmPool.{f} is not a count"), "write a whole number"),
                        },
                        Some(other) => ctx.finding(&["spec", "warmPool", other], FindingKind::Unsupported, "a warm pool setting fleetform does not have (its lifecycle hook is kops's)"),
                        None => {}
                    }
                }
                v.insert(key("warmPool"), Value::Mapping(m));
            }
            "autoscalePriority" => match val.as_i64() {
                Some(n) => {
                    v.insert(key("autoscalePriority"), Value::from(n));
                }
                None => ctx.error(&["spec", k], "autoscalePriority is not a number".into(), "write a whole number"),
            },
            "suspendProcesses" | "additionalSecurityGroups" => match string_list(val) {
                Some(list) => {
                    if k == "suspendProcesses" {
                        for p in &list {
                            if !SCALING_PROCESSES.contains(&p.as_str()) {
                                let help = did_you_mean(p, SCALING_PROCESSES.iter().copied()).map_or_else(|| format!("the processes are {}", SCALING_PROCESSES.join(", ")), |m| format!("did you mean `{m}`?"));
                                ctx.error(&["spec", k], format!("`{p}` is not an Auto Scaling process"), &help);
                            }
                        }
                    }
                    if !list.is_empty() {
                        let field: &'static str = if k == "suspendProcesses" { "suspendProcesses" } else { "additionalSecurityGroups" };
                        v.insert(key(field), Value::Sequence(list.into_iter().map(Value::String).collect()));
                    }
                }
                None => ctx.error(&["spec", k], format!("{k} is not a list"), "write a list of names"),
            },
            "iam" => match val.get("profile").and_then(scalar_string) {
                Some(p) => {
                    let mut m = Mapping::new();
                    m.insert(key("profile"), Value::String(p));
                    v.insert(key("iam"), Value::Mapping(m));
                }
                None => ctx.finding(&["spec", "iam"], FindingKind::Unsupported, "only iam.profile is carried: fleetform names an existing instance profile"),
            },
            "instanceMetadata" => {
                let mut m = Mapping::new();
                for (ik, iv) in val.as_mapping().into_iter().flatten() {
                    match ik.as_str() {
                        Some(f @ ("httpTokens" | "httpPutResponseHopLimit")) => {
                            m.insert(key(f), iv.clone());
                        }
                        Some(other) => ctx.finding(&["spec", "instanceMetadata", other], FindingKind::Unsupported, "an instance metadata setting fleetform does not have"),
                        None => {}
                    }
                }
                if !m.is_empty() {
                    v.insert(key("instanceMetadata"), Value::Mapping(m));
                }
            }
            "additionalUserData" => {
                let mut parts = Vec::new();
                for (i, p) in val.as_sequence().into_iter().flatten().enumerate() {
                    let (n, t, c) = (p.get("name").and_then(scalar_string), p.get("type").and_then(scalar_string), p.get("content").and_then(scalar_string));
                    match (n, t, c) {
                        (Some(n), Some(t), Some(c)) => {
                            let mut m = Mapping::new();
                            m.insert(key("name"), Value::String(n));
                            m.insert(key("type"), Value::String(t));
                            m.insert(key("content"), Value::String(c));
                            parts.push(Value::Mapping(m));
                        }
                        _ => ctx.error(&["spec", "additionalUserData"], format!("additionalUserData[{i}] needs name, type and content"), "kops writes the three; export the group again"),
                    }
                }
                if !parts.is_empty() {
                    v.insert(key("additionalUserData"), Value::Sequence(parts));
                }
            }
            "kubelet" => {
                for (kk, kv) in val.as_mapping().into_iter().flatten() {
                    if let Some(kk) = kk.as_str() {
                        flat_kubelet.insert(key(kk), kv.clone());
                    }
                }
            }
            _ => ctx.finding(&["spec", k], FindingKind::Unsupported, group_field_why(k)),
        }
    }
    // kops's root volume defaults: 128 GiB for nodes, 32 for a bastion; gp3.
    {
        let size = if role == "Node" { 128 } else { 32 };
        if !rv.contains_key("size") {
            rv.insert(key("size"), Value::from(size));
            ctx.finding(&["spec", "rootVolume", "size"], FindingKind::Default, format!("not set: kops's default {size} GiB written"));
        }
        if !rv.contains_key("type") {
            rv.insert(key("type"), key("gp3"));
            ctx.finding(&["spec", "rootVolume", "type"], FindingKind::Default, "not set: kops's default gp3 written");
        }
        if !rv.contains_key("encryption") {
            rv.insert(key("encryption"), Value::Bool(true));
            ctx.finding(&["spec", "rootVolume", "encryption"], FindingKind::Default, "not set: kops's default, encrypted, written");
        }
    }
    if !rv.is_empty() {
        v.insert(key("rootVolume"), Value::Mapping(rv));
    }
    // What kops gives every group of a role without the manifest saying so: its instance
    // profile and its security group, named after the role and the cluster. Written out, or
    // adopting the group would launch instances without them.
    let kops_role = match role {
        "Node" => Some(("nodes", "nodes")),
        "Bastion" => Some(("bastions", "bastion")),
        _ => None,
    };
    if let Some((profile, sg)) = kops_role {
        if !v.contains_key("iam") {
            let mut m = Mapping::new();
            m.insert(key("profile"), Value::String(format!("{profile}.{cluster}")));
            v.insert(key("iam"), Value::Mapping(m));
            ctx.finding(&["spec", "iam", "profile"], FindingKind::Default, format!("not set: kops's instance profile {profile}.{cluster} written"));
        }
        let own = match spec.get("securityGroupOverride").and_then(scalar_string) {
            Some(o) => {
                ctx.finding(&["spec", "securityGroupOverride"], FindingKind::Changed, format!("written first in additionalSecurityGroups, instead of kops's {sg}.{cluster} (as kops uses it)"));
                o
            }
            None => {
                ctx.finding(&["spec", "additionalSecurityGroups"], FindingKind::Default, format!("kops's security group {sg}.{cluster} written first (kops gives it to every {role} group)"));
                format!("{sg}.{cluster}")
            }
        };
        {
            let mut list = vec![Value::String(own)];
            if let Some(Value::Sequence(extra)) = v.get("additionalSecurityGroups") {
                list.extend(extra.iter().cloned());
            }
            v.insert(key("additionalSecurityGroups"), Value::Sequence(list));
        }
    }
    // The autoscaler: kops's addon found every group not marked `autoscale: false`; without it,
    // discovery tags by hand made a group visible; with neither, nothing scaled it. fleetform's
    // `autoscale` (default true for nodes) says the same.
    if role == "Node" && !discovery.addon && !v.contains_key("autoscale") {
        let tagged = spec.get("cloudLabels").and_then(Value::as_mapping).is_some_and(|m| m.contains_key(AUTOSCALER_ENABLED));
        let why = if discovery.tags {
            "no cluster-autoscaler discovery tags, where other groups of the cluster have them: autoscale: false written"
        } else {
            "kops ran no cluster-autoscaler for this cluster (clusterAutoscaler not enabled, no discovery tags): autoscale: false written"
        };
        if !tagged {
            v.insert(key("autoscale"), Value::Bool(false));
            ctx.finding(&["spec", "cloudLabels"], FindingKind::Changed, why);
        }
    }
    // The instance metadata service: kops requires IMDSv2 from Kubernetes 1.27 on, and leaves it
    // optional before; fleetform requires it unless told.
    let version_minor = cluster_doc.spec().get("kubernetesVersion").and_then(scalar_string).and_then(|v| {
        let mut it = v.trim_start_matches('v').split('.').map(|p| p.parse::<u32>().ok());
        Some((it.next()??, it.next()??))
    });
    let tokens_set = v.get("instanceMetadata").and_then(|m| m.get("httpTokens")).is_some();
    if !tokens_set && version_minor.is_some_and(|(major, minor)| (major, minor) < (1, 27)) {
        let mut m = v.get("instanceMetadata").and_then(Value::as_mapping).cloned().unwrap_or_default();
        m.insert(key("httpTokens"), key("optional"));
        v.insert(key("instanceMetadata"), Value::Mapping(m));
        ctx.finding(&["spec", "instanceMetadata", "httpTokens"], FindingKind::Default, "not set: kops's default before Kubernetes 1.27, optional (IMDSv1 allowed), written; fleetform's own default is required");
    }
    // A public IP address: kops gives one to instances of a group whose first subnet is Public
    // or Utility, none in a Private one.
    if !v.contains_key("associatePublicIp") {
        let first = spec.get("subnets").and_then(Value::as_sequence).and_then(|l| l.first()).and_then(scalar_string);
        let kind = first.and_then(|f| {
            cluster_doc.spec().get("subnets").and_then(Value::as_sequence).into_iter().flatten().find(|s| s.get("name").and_then(scalar_string).as_ref() == Some(&f)).and_then(|s| s.get("type")).and_then(scalar_string)
        });
        let public = match kind.as_deref() {
            Some("Public" | "Utility") => Some(true),
            Some("Private") => Some(false),
            _ => None,
        };
        if let Some(p) = public {
            v.insert(key("associatePublicIp"), Value::Bool(p));
            ctx.finding(&["spec", "associatePublicIp"], FindingKind::Default, format!("not set: kops's default for a group in a {} subnet, {p}, written", kind.unwrap_or_default()));
        }
    }
    // The cluster's kubelet settings apply to every group in kops; the group's win. (The
    // cluster's were checked and reported with the cluster.)
    let mut kubelet = Mapping::new();
    let cluster_kubelet = cluster_doc.spec().get("kubelet").and_then(Value::as_mapping).cloned().unwrap_or_default();
    for (kk, kv) in &cluster_kubelet {
        if let Some(Ok(v)) = kk.as_str().and_then(|k| kubelet_setting(k, kv)) {
            kubelet.insert(kk.clone(), v);
        }
    }
    let mut carried = Vec::new();
    for (kk, kv) in &flat_kubelet {
        let Some(k) = kk.as_str() else { continue };
        match kubelet_setting(k, kv) {
            Some(Ok(v)) => {
                kubelet.insert(kk.clone(), v);
                carried.push(k);
            }
            Some(Err(help)) => ctx.error(&["spec", "kubelet", k], format!("kubelet.{k} is not what kops writes"), help),
            None => ctx.finding(&["spec", "kubelet", k], FindingKind::Unsupported, KUBELET_WHY),
        }
    }
    if !carried.is_empty() {
        ctx.finding(&["spec", "kubelet"], FindingKind::Changed, format!("kubelet {} kept in the group's values: they reach the nodes once the cluster is on EKS (`eks:` in its vars), through fleetform's bootstrap", carried.join(", ")));
    }
    if !kubelet.is_empty() {
        v.insert(key("kubelet"), Value::Mapping(kubelet));
    }
    Some(v)
}

const KUBELET_WHY: &str = "a kubelet setting fleetform's bootstrap does not write (it writes maxPods, kubeReserved, systemReserved and evictionHard)";

/// A kubelet setting fleetform carries, in its form; None: not carried; Err: malformed (help).
fn kubelet_setting(k: &str, v: &Value) -> Option<Result<Value, &'static str>> {
    Some(match k {
        "maxPods" => u32_of(v).map(Value::from).ok_or("write a whole number"),
        "kubeReserved" | "systemReserved" => string_map(v).map(Value::Mapping).ok_or("write resource: quantity pairs"),
        "evictionHard" => scalar_string(v).and_then(|s| eviction_map(&s).ok()).map(Value::Mapping).ok_or("write e.g. memory.available<100Mi,nodefs.available<10%"),
        _ => return None,
    })
}

/// kops's `memory.available<100Mi,nodefs.available<10%` as a map.
fn eviction_map(s: &str) -> Result<Mapping, ()> {
    let mut m = Mapping::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('<').ok_or(())?;
        if k.trim().is_empty() || v.trim().is_empty() {
            return Err(());
        }
        m.insert(key(k.trim()), key(v.trim()));
    }
    if m.is_empty() {
        return Err(());
    }
    Ok(m)
}

fn mixed_policy(ctx: &mut Ctx<'_>, val: &Value, group: &str, cluster: &str, lists: &mut InstanceLists) -> Option<Mapping> {
    let m = val.as_mapping()?;
    let mut out = Mapping::new();
    let mut policy = Mapping::new();
    let at = |k: &'static str| ["spec", "mixedInstancesPolicy", k];
    for (k, v) in m {
        let Some(k) = k.as_str() else { continue };
        match k {
            "instances" => match string_list(v) {
                Some(list) if !list.is_empty() => {
                    // The list becomes a snippet, which include() passes through as YAML: only
                    // what an instance type can be goes in.
                    let bad: Vec<&String> = list.iter().filter(|t| t.is_empty() || !t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')).collect();
                    if let Some(b) = bad.first() {
                        ctx.error(&at("instances"), format!("`{}` is not an instance type", b.escape_debug()), "write instance types as AWS names them, e.g. c5.4xlarge");
                    } else {
                        out.insert(key("instances"), Value::String(lists.snippet(&list, group, cluster)));
                    }
                }
                _ => ctx.error(&at("instances"), "mixedInstancesPolicy.instances is not a list of instance types".into(), "list the instance types"),
            },
            "onDemandBase" | "onDemandAboveBase" => match u32_of(v) {
                Some(n) if k == "onDemandBase" || n <= 100 => {
                    policy.insert(key(k), Value::from(n));
                }
                _ => ctx.error(&["spec", "mixedInstancesPolicy", k], format!("{k} is not a count (a percentage for onDemandAboveBase)"), "write a whole number"),
            },
            "spotAllocationStrategy" | "onDemandAllocationStrategy" => {
                if let Some(s) = scalar_string(v) {
                    policy.insert(key(k), Value::String(s));
                }
            }
            "spotInstancePools" => match u32_of(v) {
                Some(n) => {
                    policy.insert(key(k), Value::from(n));
                }
                None => ctx.error(&["spec", "mixedInstancesPolicy", k], "spotInstancePools is not a count".into(), "write 1 to 20"),
            },
            // Carried as it is (kops's cpu and memory ranges); render checks the quantities.
            "instanceRequirements" => {
                policy.insert(key(k), v.clone());
            }
            _ => ctx.finding(&["spec", "mixedInstancesPolicy", k], FindingKind::Unsupported, "a mixed-instances setting fleetform does not have"),
        }
    }
    if !out.contains_key("instances") && !policy.contains_key("instanceRequirements") {
        ctx.error(&at("instances"), "a mixedInstancesPolicy without instances or instanceRequirements".into(), "list the instance types, or give the vCPU and memory ranges");
        return None;
    }
    // kops leaves these to AWS's defaults: written out, so the meaning does not move.
    for (k, d) in [("onDemandBase", Value::from(0)), ("onDemandAboveBase", Value::from(100)), ("spotAllocationStrategy", key("lowest-price"))] {
        if !policy.contains_key(k) {
            ctx.finding(&["spec", "mixedInstancesPolicy", k], FindingKind::Default, format!("not set: kops's (and AWS's) default {} written", scalar_string(&d).unwrap_or_default()));
            policy.insert(key(k), d);
        }
    }
    out.insert(key("mixedInstancesPolicy"), Value::Mapping(policy));
    Some(out)
}

/// Move values equal in every cluster (two or more) to the shared file.
fn hoist_shared(vars: &mut BTreeMap<String, Mapping>) -> Mapping {
    let mut shared = Mapping::new();
    if vars.len() < 2 {
        return shared;
    }
    let first = vars.values().next().expect("two").clone();
    for (k, v) in &first {
        if k.as_str() == Some("groups") {
            continue;
        }
        if vars.values().all(|m| m.get(k) == Some(v)) {
            shared.insert(k.clone(), v.clone());
        }
    }
    for m in vars.values_mut() {
        for k in shared.keys() {
            m.shift_remove(k);
        }
    }
    shared
}

/// An optional field: `{% if x is defined %}` around its YAML.
fn optional(out: &mut String, var: &str, field: &str, indent: usize, scalar: bool) {
    let pad = " ".repeat(indent);
    if scalar {
        out.push_str(&format!("{{%- if {var}.{field} is defined %}}\n{pad}{field}: {{{{ {var}.{field} }}}}\n{{%- endif %}}\n"));
    } else {
        out.push_str(&format!(
            "{{%- if {var}.{field} is defined %}}\n{pad}{field}:\n{pad}  {{{{ {var}.{field} | to_yaml | indent({}) }}}}\n{{%- endif %}}\n",
            indent + 2
        ));
    }
}

fn cluster_template() -> String {
    let mut t = String::from(
        "{#- Imported from kops by `fleetform import kops`: the Cluster, from the cluster's vars. -#}\n\
         apiVersion: fleetform.io/v1alpha1\n\
         kind: Cluster\n\
         metadata:\n  name: {{ clusterName }}\n\
         spec:\n  region: {{ region }}\n  subnets:\n  {{ subnets | to_yaml | indent(2) }}\n",
    );
    // The cluster's values live at the top level of its vars; `vars.x is defined` reads them
    // through the context, as `x is defined` would.
    for (field, scalar) in [("stateStore", true), ("dnsZone", true), ("cloudLabels", false), ("clusterAutoscaler", false), ("rollingUpdate", false)] {
        t.push_str(&format!("{{%- if {field} is defined %}}\n"));
        if scalar {
            t.push_str(&format!("  {field}: {{{{ {field} }}}}\n"));
        } else {
            t.push_str(&format!("  {field}:\n    {{{{ {field} | to_yaml | indent(4) }}}}\n"));
        }
        t.push_str("{%- endif %}\n");
    }
    t.push_str(
        "{#- Onto EKS: give the cluster an `eks:` map in its vars (kubernetesVersion, role …, see\n    README \"Moving from kops\"): the control plane is then fleetform's, and nodes join it. -#}\n\
         {%- if eks is defined %}\n  eks:\n    {{ eks | to_yaml | indent(4) }}\n{%- endif %}\n",
    );
    t
}

fn groups_template() -> String {
    let mut t = String::from(
        "{#- Imported from kops by `fleetform import kops`: one NodeGroup per entry of the cluster's\n    `groups:` (one per kops InstanceGroup, same name: its AWS resources keep their names). -#}\n\
         {% for g in groups %}\n---\n\
         apiVersion: fleetform.io/v1alpha1\n\
         kind: NodeGroup\n\
         metadata:\n  name: {{ g.name }}\n\
         spec:\n  role: {{ g.role }}\n  image: {{ g.image }}\n  machineType: {{ g.machineType }}\n  minSize: {{ g.minSize }}\n  maxSize: {{ g.maxSize }}\n  subnets: {{ g.subnets | json_encode() }}\n",
    );
    {
        t.push_str(
            "{%- if g.mixedInstancesPolicy is defined %}\n  mixedInstancesPolicy:\n    {{ g.mixedInstancesPolicy | to_yaml | indent(4) }}\n{%- if g.instances is defined %}\n    instances:\n    {{ include(g.instances) | indent(4) }}\n{%- endif %}\n{%- endif %}\n",
        );
    }
    // Every optional field of a NodeGroup, so any can be set in the values; fleetform's own
    // (pool, critical, autoscalePriority) too: kops has no word for them, and lint asks for them.
    for field in ["pool", "critical"] {
        optional(&mut t, "g", field, 2, true);
    }
    optional(&mut t, "g", "autoscalePriority", 2, true);
    for (field, scalar) in [
        ("maxPrice", true),
        ("autoscale", true),
        ("capacityRebalance", true),
        ("associatePublicIp", true),
        ("instanceProtection", true),
        ("detailedInstanceMonitoring", true),
        ("maxInstanceLifetime", true),
        ("cpuCredits", true),
        ("warmPool", false),
        ("nodeLabels", false),
        ("taints", false),
        ("cloudLabels", false),
        ("rootVolume", false),
        ("rollingUpdate", false),
        ("suspendProcesses", false),
        ("additionalSecurityGroups", false),
        ("iam", false),
        ("instanceMetadata", false),
        ("additionalUserData", false),
    ] {
        optional(&mut t, "g", field, 2, scalar);
    }
    {
        // Kubelet settings reach a node through fleetform's bootstrap (al2023, bottlerocket),
        // which an EKS cluster has; until the cluster moves there they wait in the values.
        t.push_str("{%- if g.kubelet is defined and eks is defined %}\n  kubelet:\n    {{ g.kubelet | to_yaml | indent(4) }}\n{%- endif %}\n");
    }
    t.push_str("{% endfor %}\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_repository_are_errors() {
        let f = SourceFile::new("k.yaml", "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: ../../etc/x\nspec: {}\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: ../nodes\nspec: {}\n");
        let errs = import(&[f]).unwrap_err();
        assert!(errs[0].message.starts_with("cluster name `../../etc/x` is not a DNS name"), "{errs:?}");
        let f = SourceFile::new("k.yaml", "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: a.example.com\nspec:\n  subnets: [{name: a, zone: eu-west-1a}]\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: ../nodes\nspec: {image: ami-1, machineType: m5.large, subnets: [a]}\n");
        let errs = import(&[f]).unwrap_err();
        assert!(errs.iter().any(|e| e.message.contains("`../nodes` of `a.example.com`: the name is not a fleetform group name")), "{errs:?}");
    }

    #[test]
    fn regions_of_zones() {
        assert_eq!(region_of("eu-west-1a").as_deref(), Some("eu-west-1"));
        assert_eq!(region_of("us-gov-west-1b").as_deref(), Some("us-gov-west-1"));
        assert_eq!(region_of("us-west-2-lax-1a").as_deref(), Some("us-west-2"));
        assert_eq!(region_of("eu-west-1"), None, "a region is not a zone");
        assert_eq!(region_of("nowhere"), None);
    }

    #[test]
    fn eviction_thresholds_as_kops_writes_them() {
        let m = eviction_map("memory.available<100Mi, nodefs.available<10%").unwrap();
        assert_eq!(yaml(&m), "memory.available: 100Mi\nnodefs.available: 10%\n");
        assert!(eviction_map("memory.available=100Mi").is_err());
    }

    #[test]
    fn every_error_of_every_file_in_one_pass() {
        let a = SourceFile::new("kops/cluster.yaml", "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: c.example.com\nspec:\n  cloudProvider: gce\n  subnets:\n  - name: a\n    zone: eu-west-1a\n");
        let b = SourceFile::new(
            "kops/igs.yaml",
            "apiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: nodes\n  labels:\n    kops.k8s.io/cluster: c.example.com\nspec:\n  machineType: m5.large\n  maxPrice: cheap\n  subnets: [b]\n---\napiVersion: kops.k8s.io/v1alpha1\nkind: InstanceGroup\nmetadata:\n  name: old\nspec: {}\n",
        );
        let errs = import(&[a, b]).unwrap_err();
        let got: Vec<String> = errs.iter().map(|d| format!("{}:{} {}", d.file.display(), d.line, d.message)).collect();
        assert_eq!(
            got,
            vec![
                "kops/igs.yaml:12 apiVersion `kops.k8s.io/v1alpha1`: fleetform imports kops.k8s.io/v1alpha2",
                "kops/cluster.yaml:6 cluster `c.example.com`: cloud provider `gce`",
                "kops/igs.yaml:7 instance group `nodes` of `c.example.com`: no spec.image",
                "kops/igs.yaml:10 instance group `nodes` of `c.example.com`: subnet `b` is not one of the cluster's",
                "kops/igs.yaml:9 instance group `nodes` of `c.example.com`: maxPrice is not a price",
            ]
        );
    }
}
