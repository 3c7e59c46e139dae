//! Overprovisioning that follows the groups: low-priority pause pods that hold room on a pool's
//! nodes, so that a real pod that needs room preempts one of them at once and the autoscaler
//! starts a node for the evicted pause pod, instead of the real pod waiting minutes for it.
//!
//! The write-up ran them cluster-wide and found that a tainted, dedicated group got no benefit:
//! its pods only fit on its nodes, and pause pods without the matching toleration never landed
//! there. So they are declared per group (`overprovisioning: {replicas, cpu, memory}` or
//! `nodeShare: 50%` of one node) and rendered per pool (the groups sharing `pool`: one
//! Deployment selecting the node labels all of them carry, tolerating their taints) or per
//! group without a pool. One PriorityClass (value -10, `preemptionPolicy: Never`: the pause pods
//! never evict anybody; -10 is cluster-autoscaler's default cutoff, so they still trigger
//! scale-ups) and the namespace go with them. Everything is derived from the manifest (pure),
//! written beside the priority-expander ConfigMap, and checked by render: a pool whose groups
//! disagree, share no node label, or a share of a type fleetform does not know is an error at
//! the group's line.

use std::collections::BTreeMap;

use super::instance_types;
use super::model::{Manifest, NodeGroup};

pub const NAMESPACE: &str = "overprovisioning";
pub const PRIORITY_CLASS: &str = "overprovisioning";
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// One pause Deployment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    /// `overprovisioning-<pool or group>`.
    pub name: String,
    /// The pool, or the group without one.
    pub serves: String,
    /// The AWS names of the groups whose nodes it may land on.
    pub groups: Vec<String>,
    pub replicas: u32,
    pub cpu: String,
    pub memory: String,
    pub node_selector: BTreeMap<String, String>,
    /// (key, operator, value, effect).
    pub tolerations: Vec<(String, String, Option<String>, String)>,
}

/// A problem at one group's declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct OverError {
    pub group: String,
    pub message: String,
    pub help: String,
}

/// `500m`, `2`, `1.5`.
pub fn valid_cpu(q: &str) -> bool {
    let n = q.strip_suffix('m').unwrap_or(q);
    !n.is_empty() && n.parse::<f64>().is_ok_and(|v| v > 0.0) && n.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// `512Mi`, `4Gi`, `1G`.
pub fn valid_memory(q: &str) -> bool {
    let n = ["Ki", "Mi", "Gi", "Ti", "K", "M", "G", "T"].iter().find_map(|s| q.strip_suffix(s)).unwrap_or(q);
    !n.is_empty() && n.parse::<f64>().is_ok_and(|v| v > 0.0) && n.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// `50%` → 50.
fn share(s: &str) -> Option<u32> {
    s.trim().strip_suffix('%')?.trim().parse::<u32>().ok().filter(|p| (1..=75).contains(p))
}

/// A taint `key=value:Effect` or `key:Effect` as the toleration that matches it.
fn toleration(t: &str) -> Option<(String, String, Option<String>, String)> {
    let (kv, effect) = t.rsplit_once(':')?;
    Some(match kv.split_once('=') {
        Some((k, v)) => (k.to_string(), "Equal".into(), Some(v.to_string()), effect.to_string()),
        None => (kv.to_string(), "Exists".into(), None, effect.to_string()),
    })
}

/// The pause Deployments of a cluster, in name order.
pub fn plan(m: &Manifest) -> Result<Vec<Pause>, OverError> {
    // Groups by what they serve: their pool, else themselves.
    let mut by: BTreeMap<String, Vec<&NodeGroup>> = BTreeMap::new();
    for g in &m.groups {
        by.entry(g.spec().pool.clone().unwrap_or_else(|| g.name().to_string())).or_default().push(g);
    }
    let mut out = Vec::new();
    for (serves, groups) in by {
        let declared: Vec<&NodeGroup> = groups.iter().copied().filter(|g| g.spec().overprovisioning.is_some()).collect();
        let Some(first) = declared.first() else { continue };
        let spec = first.spec().overprovisioning.clone().expect("declared");
        if let Some(other) = declared.iter().find(|g| g.spec().overprovisioning.as_ref() != Some(&spec)) {
            return Err(OverError {
                group: other.name().to_string(),
                message: format!("node groups `{}` and `{}` of pool `{serves}` declare different overprovisioning: one pool has one set of pause pods", first.name(), other.name()),
                help: "declare the same overprovisioning on every group of the pool that declares it (a value of the pool, in a snippet or the vars)".into(),
            });
        }
        let err = |message: String, help: &str| OverError { group: first.name().to_string(), message, help: help.to_string() };
        // The labels every group of the pool carries: where a pause pod may land.
        let mut selector = groups[0].spec().node_labels.clone();
        for g in &groups[1..] {
            selector.retain(|k, v| g.spec().node_labels.get(k) == Some(v));
        }
        if selector.is_empty() {
            return Err(err(
                format!("the groups of `{serves}` share no node label: its pause pods could land on any node of the cluster and hold room where it is not needed"),
                "give every group of the pool a common nodeLabel (e.g. pool: <name>)",
            ));
        }
        let mut tolerations: Vec<_> = groups.iter().flat_map(|g| g.spec().taints.iter().filter_map(|t| toleration(t))).collect();
        tolerations.sort();
        tolerations.dedup();
        let (cpu, memory) = match (&spec.cpu, &spec.memory, &spec.node_share) {
            (Some(c), Some(mem), None) => (c.clone(), mem.clone()),
            (None, None, Some(s)) => {
                let pct = share(s).ok_or_else(|| err(format!("overprovisioning.nodeShare `{}` is not a share from 1% to 75%", s.escape_debug()), "write e.g. nodeShare: 50% (a share of the node's capacity: the kubelet's reservations, the eviction threshold and the daemon sets take their part, and a pause pod that fits the autoscaler's node template but not the real node makes it add nodes in a loop)"))?;
                // The smallest node of the pool: the pod must fit on any of them.
                let sizes: Vec<(String, instance_types::InstanceType)> = groups
                    .iter()
                    .map(|g| g.spec().machine_type.clone())
                    .map(|t| instance_types::lookup(&t).map(|i| (t.clone(), i)).ok_or(t))
                    .collect::<Result<_, String>>()
                    .map_err(|t| err(format!("overprovisioning.nodeShare needs the size of {t}, which fleetform's instance-type table does not know"), "give cpu and memory instead (e.g. cpu: \"2\", memory: 8Gi)"))?;
                let (_, small) = sizes.iter().min_by(|a, b| (a.1.vcpu, a.1.memory_gib).partial_cmp(&(b.1.vcpu, b.1.memory_gib)).expect("finite")).expect("a pool has a group");
                let millis = small.vcpu * 10 * pct;
                let mib = (small.memory_gib * 1024.0 * f64::from(pct) / 100.0).floor() as u64;
                (format!("{millis}m"), format!("{mib}Mi"))
            }
            _ => {
                return Err(err(
                    "overprovisioning needs cpu and memory, or nodeShare (not both)".into(),
                    "write e.g. overprovisioning: {replicas: 2, cpu: \"2\", memory: 8Gi} or {replicas: 2, nodeShare: 50%}",
                ))
            }
        };
        if !valid_cpu(&cpu) || !valid_memory(&memory) {
            return Err(err(format!("overprovisioning: cpu `{}` or memory `{}` is not a Kubernetes quantity", cpu.escape_debug(), memory.escape_debug()), "write cpu as \"2\" or \"500m\", memory as 8Gi or 512Mi"));
        }
        out.push(Pause {
            name: format!("{NAMESPACE}-{serves}"),
            serves: serves.clone(),
            groups: groups.iter().map(|g| m.aws_name(g.name())).collect(),
            replicas: spec.replicas.unwrap_or(1),
            cpu,
            memory,
            node_selector: selector,
            tolerations,
        });
    }
    Ok(out)
}

/// The Kubernetes objects: the namespace, the PriorityClass and one Deployment per pause.
pub fn yaml(pauses: &[Pause]) -> String {
    use super::render::yaml_scalar as q;
    let mut s = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n---\n");
    s.push_str(&format!(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: {PRIORITY_CLASS}\nvalue: -10\nglobalDefault: false\npreemptionPolicy: Never\ndescription: Pause pods that hold room for real pods (fleetform overprovisioning); any pod preempts them.\n"
    ));
    for p in pauses {
        s.push_str("---\n");
        s.push_str(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {}\n  namespace: {NAMESPACE}\n  labels:\n    app.kubernetes.io/name: overprovisioning\n    app.kubernetes.io/instance: {}\n    app.kubernetes.io/managed-by: fleetform\nspec:\n  replicas: {}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: overprovisioning\n      app.kubernetes.io/instance: {}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: overprovisioning\n        app.kubernetes.io/instance: {}\n    spec:\n      priorityClassName: {PRIORITY_CLASS}\n      terminationGracePeriodSeconds: 0\n      automountServiceAccountToken: false\n      nodeSelector:\n",
            q(&p.name),
            q(&p.serves),
            p.replicas,
            q(&p.serves),
            q(&p.serves)
        ));
        for (k, v) in &p.node_selector {
            s.push_str(&format!("        {}: {}\n", q(k), q(v)));
        }
        if !p.tolerations.is_empty() {
            s.push_str("      tolerations:\n");
            for (k, op, v, e) in &p.tolerations {
                s.push_str(&format!("      - key: {}\n        operator: {op}\n", q(k)));
                if let Some(v) = v {
                    s.push_str(&format!("        value: {}\n", q(v)));
                }
                s.push_str(&format!("        effect: {e}\n"));
            }
        }
        s.push_str(&format!(
            "      containers:\n      - name: pause\n        image: {PAUSE_IMAGE}\n        resources:\n          requests:\n            cpu: {}\n            memory: {}\n",
            q(&p.cpu),
            q(&p.memory)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_tolerations() {
        assert!(valid_cpu("500m") && valid_cpu("2") && valid_cpu("1.5") && !valid_cpu("lots") && !valid_cpu("0") && !valid_cpu("-1"));
        assert!(valid_memory("512Mi") && valid_memory("8Gi") && valid_memory("1G") && !valid_memory("8GB") && !valid_memory("Gi"));
        assert_eq!(toleration("dedicated=prometheus:NoSchedule"), Some(("dedicated".into(), "Equal".into(), Some("prometheus".into()), "NoSchedule".into())));
        assert_eq!(toleration("gpu:NoExecute"), Some(("gpu".into(), "Exists".into(), None, "NoExecute".into())));
        assert_eq!(share("50%"), Some(50));
        assert_eq!(share("100%"), None, "a whole node never fits");
    }
}
