//! cluster-autoscaler artefacts derived from a manifest.
//!
//! * The priority-expander ConfigMap (`kube-system/cluster-autoscaler-priority-expander`): each
//!   autoscaled group's `autoscalePriority` (higher is tried first, kops's meaning), with the
//!   exact Auto Scaling group name as an anchored regex — so that spot groups come before their
//!   on-demand fallbacks and a group of another cluster can never match by accident.
//! * The arguments the autoscaler must run with: auto-discovery by the two tags fleetform puts on
//!   every autoscaled group, the expander and the timing settings of the Cluster.
//!
//! Both are written to `clusters/<cluster>.cluster-autoscaler.yaml` (the arguments as a comment,
//! since they belong to the autoscaler's Deployment or Helm values) and given in JSON output.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::Manifest;
use super::render::GENERATED_HEADER;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoscalerArtefacts {
    /// priority → anchored regexes of ASG names, highest priority first when printed.
    pub priorities: BTreeMap<i32, Vec<String>>,
    /// Command-line arguments for cluster-autoscaler.
    pub args: Vec<String>,
    /// Whether the priority expander is in use (and so the ConfigMap is needed).
    pub priority_expander: bool,
    /// The pause Deployments of the pools that declare overprovisioning (set by render).
    pub overprovisioning: Vec<super::overprovisioning::Pause>,
}

/// The two discovery tags of an autoscaled group of `cluster`.
pub fn discovery_tags(cluster: &str) -> [String; 2] {
    ["k8s.io/cluster-autoscaler/enabled".to_string(), format!("k8s.io/cluster-autoscaler/{cluster}")]
}

/// Escape a name for a Go regexp (what the priority expander uses).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn artefacts(m: &Manifest) -> AutoscalerArtefacts {
    let mut priorities: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for g in m.groups.iter().filter(|g| g.spec().autoscaled()) {
        let p = g.spec().autoscale_priority.unwrap_or(0);
        priorities.entry(p).or_default().push(format!("^{}$", regex_escape(&m.aws_name(g.name()))));
    }
    let ca = m.cluster.spec.cluster_autoscaler.clone().unwrap_or(crate::core::model::ClusterAutoscalerConfig {
        enabled: None,
        expander: None,
        max_node_provision_time: None,
        balance_similar_node_groups: None,
        scale_down_utilization_threshold: None,
        scale_down_delay_after_add: None,
        skip_nodes_with_local_storage: None,
        new_pod_scale_up_delay: None,
    });
    let [enabled, owned] = discovery_tags(m.name());
    let mut args = vec![format!("--node-group-auto-discovery=asg:tag={enabled},{owned}")];
    let priority_expander = ca.expander.as_deref().is_some_and(|e| e.split(',').any(|x| x.trim() == "priority"));
    if let Some(e) = &ca.expander {
        args.push(format!("--expander={e}"));
    }
    if let Some(t) = &ca.max_node_provision_time {
        args.push(format!("--max-node-provision-time={t}"));
    }
    if let Some(b) = ca.balance_similar_node_groups {
        args.push(format!("--balance-similar-node-groups={b}"));
    }
    if let Some(t) = &ca.scale_down_utilization_threshold {
        args.push(format!("--scale-down-utilization-threshold={t}"));
    }
    if let Some(t) = &ca.scale_down_delay_after_add {
        args.push(format!("--scale-down-delay-after-add={t}"));
    }
    if let Some(b) = ca.skip_nodes_with_local_storage {
        args.push(format!("--skip-nodes-with-local-storage={b}"));
    }
    if let Some(t) = &ca.new_pod_scale_up_delay {
        args.push(format!("--new-pod-scale-up-delay={t}"));
    }
    AutoscalerArtefacts { priorities, args, priority_expander, overprovisioning: Vec::new() }
}

/// The priorities as the ConfigMap's `priorities` key wants them, highest first.
pub fn priorities_yaml(a: &AutoscalerArtefacts) -> String {
    let mut s = String::new();
    for (p, names) in a.priorities.iter().rev() {
        s.push_str(&format!("{p}:\n"));
        for n in names {
            // Single quotes: YAML keeps backslashes inside them as they are.
            s.push_str(&format!("  - '{n}'\n"));
        }
    }
    s
}

/// `clusters/<cluster>.cluster-autoscaler.yaml`, or None when the autoscaler is disabled.
pub fn render_file(m: &Manifest, a: &AutoscalerArtefacts) -> Option<String> {
    let enabled = m.cluster.spec.cluster_autoscaler.as_ref().and_then(|c| c.enabled).unwrap_or(true);
    if !enabled || (a.priorities.is_empty() && a.overprovisioning.is_empty()) {
        return None;
    }
    let mut out = String::new();
    out.push_str(GENERATED_HEADER);
    out.push_str(" edit the sources and run `fleetform render`.\n");
    out.push_str(&format!("# cluster-autoscaler for {}: run it with these arguments\n", m.name()));
    for arg in &a.args {
        out.push_str(&format!("#   {arg}\n"));
    }
    if a.priority_expander || !a.overprovisioning.is_empty() {
        out.push_str("# and apply this file (kubectl apply -f).\n");
    }
    if !a.overprovisioning.is_empty() {
        out.push_str("# Overprovisioning: pause pods that hold room on these nodes (any pod preempts them):\n");
        for p in &a.overprovisioning {
            out.push_str(&format!("#   {}: {} x {} CPU, {} on {}\n", p.name, p.replicas, p.cpu, p.memory, p.groups.join(", ")));
        }
    }
    if a.priority_expander {
        out.push_str("---\n");
        let body = priorities_yaml(a);
        out.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-autoscaler-priority-expander\n  namespace: kube-system\ndata:\n  priorities: |-\n");
        for line in body.lines() {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if !a.overprovisioning.is_empty() {
        out.push_str("---\n");
        out.push_str(&super::overprovisioning::yaml(&a.overprovisioning));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn escapes_dots() {
        assert_eq!(regex_escape("spot-a.prod.k8s"), "spot-a\\.prod\\.k8s");
    }
}
