//! Node bootstrap: the user data that makes an instance a Kubernetes node of its EKS cluster,
//! generated from the same `nodeLabels`, `taints` and kubelet settings that feed the
//! cluster-autoscaler's node-template tags — one source of truth: a taint declared is a taint on
//! the node. One small function per format (as Karpenter shapes its AMI families):
//!
//! * `al2023` — a MIME multi-part document whose first part is a nodeadm `NodeConfig`
//!   (`application/node.eks.aws`), followed by the group's own `additionalUserData` parts in
//!   order (nodeadm reads the NodeConfig parts; cloud-init runs the scripts);
//! * `bottlerocket` — TOML settings (`[settings.kubernetes]`), with the group's own `bottlerocket`
//!   settings merged in (a key fleetform generates may not be set twice);
//! * `custom` — only the group's `additionalUserData`, for kops, kubeadm or home-made AMIs.
//!
//! Pure: the EKS facts (endpoint, certificate authority, service CIDR) come in as values.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Bootstrap, KubeletSpec, NodeGroupSpec, UserDataPart};

/// What a node needs to know of its EKS cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConnection {
    /// The EKS cluster's name.
    pub name: String,
    pub endpoint: String,
    /// Base64 of the PEM certificate authority, as EKS reports it.
    pub certificate_authority: String,
    /// The service CIDR (`kubernetesNetworkConfig.serviceIpv4Cidr`).
    pub service_cidr: String,
}

/// MIME boundary of fleetform's multi-part user data (fixed: output is deterministic).
pub const BOUNDARY: &str = "FLEETFORMBOUNDARY";
/// MIME type nodeadm reads its configuration from.
pub const NODECONFIG_TYPE: &str = "application/node.eks.aws";

/// A taint as the kubelet takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Taint {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

/// `key=value:Effect` or `key:Effect` (checked at render time).
pub fn parse_taint(t: &str) -> Taint {
    let (kv, effect) = t.rsplit_once(':').unwrap_or((t, "NoSchedule"));
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (kv.to_string(), None),
    };
    Taint { key, value, effect: effect.to_string() }
}

/// The user data of a group, or why it cannot be made.
pub fn user_data(format: Bootstrap, conn: Option<&ClusterConnection>, s: &NodeGroupSpec) -> Result<Option<String>, String> {
    match (format, conn) {
        (Bootstrap::Custom, _) => Ok(custom_user_data(&s.additional_user_data)),
        (_, None) => Err(format!("bootstrap `{}` needs the cluster's EKS control plane (spec.eks)", format.name())),
        (Bootstrap::Al2023, Some(c)) => Ok(Some(al2023(c, s)?)),
        (Bootstrap::Bottlerocket, Some(c)) => Ok(Some(bottlerocket(c, s)?)),
    }
}

/// `additionalUserData` alone: one shell script as it is; several parts as a MIME document.
pub fn custom_user_data(parts: &[UserDataPart]) -> Option<String> {
    match parts.len() {
        0 => None,
        1 if parts[0].content_type == "text/x-shellscript" => Some(parts[0].content.clone()),
        _ => Some(mime(None, parts)),
    }
}

fn mime(first: Option<(&str, &str)>, parts: &[UserDataPart]) -> String {
    let b = BOUNDARY;
    let mut s = format!("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{b}\"\n");
    if let Some((ctype, body)) = first {
        s.push_str(&format!("\n--{b}\nContent-Type: {ctype}\n\n{}\n", body.trim_end()));
    }
    for p in parts {
        s.push_str(&format!(
            "\n--{b}\nContent-Type: {}; charset=\"us-ascii\"\nContent-Disposition: attachment; filename=\"{}\"\n\n{}\n",
            p.content_type,
            p.name,
            p.content.trim_end()
        ));
    }
    s.push_str(&format!("\n--{b}--\n"));
    s
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeConfig<'a> {
    api_version: &'static str,
    kind: &'static str,
    spec: NodeConfigSpec<'a>,
}

#[derive(Serialize)]
struct NodeConfigSpec<'a> {
    cluster: NodeConfigCluster<'a>,
    kubelet: NodeConfigKubelet<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeConfigCluster<'a> {
    name: &'a str,
    api_server_endpoint: &'a str,
    certificate_authority: &'a str,
    cidr: &'a str,
}

#[derive(Serialize)]
struct NodeConfigKubelet<'a> {
    config: KubeletConfig<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    flags: Vec<String>,
}

/// The part of a KubeletConfiguration fleetform sets.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KubeletConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_pods: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    register_with_taints: Vec<Taint>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    kube_reserved: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    system_reserved: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    eviction_hard: &'a BTreeMap<String, String>,
}

/// The nodeadm NodeConfig of a group (YAML).
pub fn node_config(c: &ClusterConnection, s: &NodeGroupSpec) -> String {
    let empty = KubeletSpec::default();
    let k = s.kubelet.as_ref().unwrap_or(&empty);
    let mut flags = Vec::new();
    if !s.node_labels.is_empty() {
        // Sorted (BTreeMap): the same labels give the same bytes.
        let labels: Vec<String> = s.node_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        flags.push(format!("--node-labels={}", labels.join(",")));
    }
    let doc = NodeConfig {
        api_version: "node.eks.aws/v1alpha1",
        kind: "NodeConfig",
        spec: NodeConfigSpec {
            cluster: NodeConfigCluster { name: &c.name, api_server_endpoint: &c.endpoint, certificate_authority: &c.certificate_authority, cidr: &c.service_cidr },
            kubelet: NodeConfigKubelet {
                config: KubeletConfig {
                    max_pods: k.max_pods,
                    register_with_taints: s.taints.iter().map(|t| parse_taint(t)).collect(),
                    kube_reserved: &k.kube_reserved,
                    system_reserved: &k.system_reserved,
                    eviction_hard: &k.eviction_hard,
                },
                flags,
            },
        },
    };
    serde_yaml::to_string(&doc).expect("a NodeConfig serializes")
}

fn al2023(c: &ClusterConnection, s: &NodeGroupSpec) -> Result<String, String> {
    for p in &s.additional_user_data {
        if p.content.contains(BOUNDARY) {
            return Err(format!("additionalUserData part `{}` contains the MIME boundary {BOUNDARY}", p.name));
        }
    }
    Ok(mime(Some((NODECONFIG_TYPE, &node_config(c, s))), &s.additional_user_data))
}

/// The cluster DNS service's address: the tenth address of the service CIDR (as EKS assigns it).
pub fn cluster_dns_ip(cidr: &str) -> Option<String> {
    let (net, bits) = cidr.split_once('/')?;
    let bits: u32 = bits.parse().ok()?;
    if let Ok(v4) = net.parse::<std::net::Ipv4Addr>() {
        if bits > 28 {
            return None;
        }
        return Some(std::net::Ipv4Addr::from(u32::from(v4) + 10).to_string());
    }
    let v6 = net.parse::<std::net::Ipv6Addr>().ok()?;
    (bits <= 124).then(|| std::net::Ipv6Addr::from(u128::from(v6) + 10).to_string())
}

fn bottlerocket(c: &ClusterConnection, s: &NodeGroupSpec) -> Result<String, String> {
    if !s.additional_user_data.is_empty() {
        return Err("Bottlerocket takes TOML settings, not additionalUserData parts: put extra settings in `bottlerocket`".into());
    }
    let dns = cluster_dns_ip(&c.service_cidr).ok_or_else(|| format!("the service CIDR {} gives no cluster DNS address", c.service_cidr))?;
    let mut k = toml::Table::new();
    let str_ = |v: &str| toml::Value::String(v.to_string());
    k.insert("cluster-name".into(), str_(&c.name));
    k.insert("api-server".into(), str_(&c.endpoint));
    k.insert("cluster-certificate".into(), str_(&c.certificate_authority));
    k.insert("cluster-dns-ip".into(), str_(&dns));
    let empty = KubeletSpec::default();
    let kubelet = s.kubelet.as_ref().unwrap_or(&empty);
    if let Some(m) = kubelet.max_pods {
        k.insert("max-pods".into(), toml::Value::Integer(i64::from(m)));
    }
    let map = |m: &BTreeMap<String, String>| toml::Value::Table(m.iter().map(|(k, v)| (k.clone(), str_(v))).collect());
    if !s.node_labels.is_empty() {
        k.insert("node-labels".into(), map(&s.node_labels));
    }
    if !s.taints.is_empty() {
        let mut taints: BTreeMap<String, Vec<toml::Value>> = BTreeMap::new();
        for t in s.taints.iter().map(|t| parse_taint(t)) {
            let v = match &t.value {
                Some(v) => format!("{v}:{}", t.effect),
                None => format!(":{}", t.effect),
            };
            taints.entry(t.key).or_default().push(str_(&v));
        }
        k.insert("node-taints".into(), toml::Value::Table(taints.into_iter().map(|(k, v)| (k, toml::Value::Array(v))).collect()));
    }
    for (key, m) in [("kube-reserved", &kubelet.kube_reserved), ("system-reserved", &kubelet.system_reserved), ("eviction-hard", &kubelet.eviction_hard)] {
        if !m.is_empty() {
            k.insert(key.into(), map(m));
        }
    }
    let mut settings = toml::Table::new();
    settings.insert("kubernetes".into(), toml::Value::Table(k));
    let mut root = toml::Table::new();
    root.insert("settings".into(), toml::Value::Table(settings));
    if let Some(extra) = &s.bottlerocket {
        let extra = json_to_toml(extra, "bottlerocket")?;
        let toml::Value::Table(extra) = extra else { return Err("`bottlerocket` must be a map of settings, e.g. {settings: {kernel: …}}".into()) };
        merge(&mut root, extra, "bottlerocket")?;
    }
    toml::to_string(&root).map_err(|e| format!("the Bottlerocket settings cannot be written as TOML: {e}"))
}

fn json_to_toml(v: &serde_json::Value, path: &str) -> Result<toml::Value, String> {
    Ok(match v {
        serde_json::Value::Null => return Err(format!("`{path}` is null; TOML has no null: remove it or give it a value")),
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Array(a) => toml::Value::Array(a.iter().enumerate().map(|(i, x)| json_to_toml(x, &format!("{path}[{i}]"))).collect::<Result<_, _>>()?),
        serde_json::Value::Object(o) => toml::Value::Table(o.iter().map(|(k, x)| Ok((k.clone(), json_to_toml(x, &format!("{path}.{k}"))?))).collect::<Result<_, String>>()?),
    })
}

/// Merge the user's settings into the generated ones; a key both set is an error.
fn merge(into: &mut toml::Table, from: toml::Table, path: &str) -> Result<(), String> {
    for (k, v) in from {
        let here = format!("{path}.{k}");
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b, &here)?,
            (Some(_), _) => {
                return Err(format!(
                    "`{here}` is set by fleetform from the manifest (cluster connection, nodeLabels, taints, kubelet): set it there, not in `bottlerocket`"
                ))
            }
            (None, v) => {
                into.insert(k, v);
            }
        }
    }
    Ok(())
}

/// Whether the kubelet may put label `key` on its own Node: the NodeRestriction admission
/// plugin refuses `kubernetes.io` and `k8s.io` labels (and their subdomains) except a few it
/// documents, and every `node-restriction.kubernetes.io` label.
pub fn kubelet_may_set_label(key: &str) -> bool {
    const ALLOWED: &[&str] = &[
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    ];
    let Some((ns, _)) = key.split_once('/') else { return true };
    let under = |root: &str| ns == root || ns.ends_with(&format!(".{root}"));
    if under("node-restriction.kubernetes.io") {
        return false;
    }
    if !(under("kubernetes.io") || under("k8s.io")) {
        return true;
    }
    ALLOWED.contains(&key) || under("kubelet.kubernetes.io") || under("node.kubernetes.io")
}

/// A Kubernetes label key and value, as the API server checks them.
pub fn check_label(key: &str, value: &str) -> Result<(), String> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 63
            && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && n.starts_with(|c: char| c.is_ascii_alphanumeric())
            && n.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let dns_ok = !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') && !l.starts_with('-') && !l.ends_with('-'));
        if !dns_ok {
            return Err(format!("label key `{key}`: its prefix must be a DNS subdomain (lowercase letters, digits, `-` and `.`)"));
        }
    }
    if !name_ok(name) {
        return Err(format!("label key `{key}`: the name must be 1–63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"));
    }
    if !value.is_empty() && !name_ok(value) {
        return Err(format!("label `{key}`: value `{value}` must be empty or 1–63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"));
    }
    Ok(())
}

/// For people: the generated bootstrap document of user data and the user's own part, apart
/// (the first is shown in plans; the second may hold secrets). The certificate authority is
/// abbreviated.
pub fn split_for_display(user_data: &str) -> (Option<String>, Option<String>) {
    let abbreviate = |text: &str| -> String {
        text.lines()
            .map(|l| {
                for key in ["certificateAuthority: ", "cluster-certificate = \""] {
                    if let Some(i) = l.find(key) {
                        let start = i + key.len();
                        let v = l[start..].trim_end_matches('"');
                        if v.len() > 16 {
                            return format!("{}{}…({} bytes){}", &l[..start], &v[..12], v.len(), if key.ends_with('"') { "\"" } else { "" });
                        }
                    }
                }
                l.to_string()
            })
            .map(|l| l + "\n")
            .collect::<String>()
    };
    if user_data.starts_with("[settings") || user_data.contains("\n[settings.kubernetes]") || user_data.starts_with("[settings.kubernetes]") {
        return (Some(abbreviate(user_data)), None);
    }
    let head = format!("\n--{BOUNDARY}\nContent-Type: {NODECONFIG_TYPE}\n\n");
    if let Some(i) = user_data.find(&head) {
        let body_start = i + head.len();
        let rest = &user_data[body_start..];
        let end = rest.find(&format!("\n--{BOUNDARY}")).unwrap_or(rest.len());
        let node_config = abbreviate(&rest[..end]);
        let others = &rest[end..];
        let custom = (others.trim() != format!("--{BOUNDARY}--")).then(|| others.trim_start_matches('\n').to_string());
        return (Some(node_config), custom);
    }
    (None, Some(user_data.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ClusterConnection {
        ClusterConnection {
            name: "prod".into(),
            endpoint: "https://ABC.gr7.eu-west-3.eks.amazonaws.com".into(),
            certificate_authority: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==".into(),
            service_cidr: "172.20.0.0/16".into(),
        }
    }

    fn spec() -> NodeGroupSpec {
        let yaml = r#"
role: Node
image: ami-1
machineType: m5.xlarge
minSize: 1
maxSize: 2
subnets: [a]
nodeLabels: {pool: app, node.kubernetes.io/role: admin}
taints: ["dedicated=admin:NoSchedule", "spot:PreferNoSchedule"]
kubelet: {maxPods: 58, kubeReserved: {cpu: 500m, memory: 1Gi}, evictionHard: {memory.available: 500Mi}}
additionalUserData:
- {name: sysctl.sh, type: text/x-shellscript, content: "sysctl -w vm.max_map_count=262144"}
"#;
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn the_nodeconfig_carries_labels_taints_and_reservations() {
        let ud = user_data(Bootstrap::Al2023, Some(&conn()), &spec()).unwrap().unwrap();
        assert!(ud.starts_with("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"FLEETFORMBOUNDARY\"\n"));
        let (nc, custom) = split_for_display(&ud);
        let nc = nc.unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&nc.replace("…", "")).unwrap();
        assert_eq!(v["kind"], "NodeConfig");
        assert_eq!(v["spec"]["cluster"]["cidr"], "172.20.0.0/16");
        assert_eq!(v["spec"]["kubelet"]["flags"][0], "--node-labels=node.kubernetes.io/role=admin,pool=app");
        assert_eq!(v["spec"]["kubelet"]["config"]["registerWithTaints"][0]["key"], "dedicated");
        assert_eq!(v["spec"]["kubelet"]["config"]["registerWithTaints"][1]["effect"], "PreferNoSchedule");
        assert!(v["spec"]["kubelet"]["config"]["registerWithTaints"][1].get("value").is_none());
        assert_eq!(v["spec"]["kubelet"]["config"]["maxPods"], 58);
        assert_eq!(v["spec"]["kubelet"]["config"]["kubeReserved"]["memory"], "1Gi");
        assert!(nc.contains("certificateAuthority: LS0tLS1CRUdJ…(40 bytes)"), "{nc}");
        assert!(custom.unwrap().contains("sysctl -w vm.max_map_count=262144"));
    }

    #[test]
    fn bottlerocket_settings_are_toml_with_extra_settings_merged() {
        let mut s = spec();
        s.additional_user_data.clear();
        s.bottlerocket = Some(serde_json::json!({"settings": {"kernel": {"sysctl": {"vm.max_map_count": "262144"}}}}));
        let ud = user_data(Bootstrap::Bottlerocket, Some(&conn()), &s).unwrap().unwrap();
        let t: toml::Table = ud.parse().unwrap();
        let k = &t["settings"]["kubernetes"];
        assert_eq!(k["cluster-dns-ip"].as_str(), Some("172.20.0.10"));
        assert_eq!(k["max-pods"].as_integer(), Some(58));
        assert_eq!(k["node-taints"]["dedicated"][0].as_str(), Some("admin:NoSchedule"));
        assert_eq!(k["node-taints"]["spot"][0].as_str(), Some(":PreferNoSchedule"));
        assert_eq!(k["node-labels"]["pool"].as_str(), Some("app"));
        assert_eq!(t["settings"]["kernel"]["sysctl"]["vm.max_map_count"].as_str(), Some("262144"));
        s.bottlerocket = Some(serde_json::json!({"settings": {"kubernetes": {"cluster-name": "other"}}}));
        assert!(user_data(Bootstrap::Bottlerocket, Some(&conn()), &s).unwrap_err().contains("bottlerocket.settings.kubernetes.cluster-name"));
    }

    #[test]
    fn dns_ip_is_the_tenth_address() {
        assert_eq!(cluster_dns_ip("10.100.0.0/16").as_deref(), Some("10.100.0.10"));
        assert_eq!(cluster_dns_ip("fd00:10:96::/108").as_deref(), Some("fd00:10:96::a"));
        assert_eq!(cluster_dns_ip("nonsense"), None);
    }

    #[test]
    fn node_restriction_labels() {
        for ok in ["pool", "example.com/team", "node.kubernetes.io/role", "kubelet.kubernetes.io/x", "topology.kubernetes.io/zone", "x.node.kubernetes.io/y"] {
            assert!(kubelet_may_set_label(ok), "{ok}");
        }
        for bad in ["node-role.kubernetes.io/admin", "kubernetes.io/role", "k8s.io/x", "foo.k8s.io/x", "node-restriction.kubernetes.io/x", "a.node-restriction.kubernetes.io/x"] {
            assert!(!kubelet_may_set_label(bad), "{bad}");
        }
    }

    #[test]
    fn label_syntax() {
        assert!(check_label("example.com/team", "platform").is_ok());
        assert!(check_label("pool", "").is_ok());
        assert!(check_label("Bad_Prefix.com/x", "v").is_err());
        assert!(check_label("x", "a,b").is_err());
        assert!(check_label("x", &"a".repeat(64)).is_err());
    }
}
