//! A generated fleet for benchmarks: `clusters` clusters × `groups` node groups (6 pools of 2
//! spot + 2 on-demand groups each when groups = 24), lint-clean (the benchmarks assert it), in
//! one or two regions. Its nodes bootstrap the kops way (custom user data that reads labels
//! and taints from elsewhere), so the rule asking for them in the user data is off.

use std::fs;
use std::path::Path;

pub const REGIONS: [(&str, [&str; 3]); 2] = [
    ("eu-west-3", ["eu-west-3a", "eu-west-3b", "eu-west-3c"]),
    ("eu-west-1", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
];

pub fn cluster_name(i: usize) -> String {
    format!("c{i:02}.k8s.example.com")
}

pub fn cluster_region(i: usize) -> (&'static str, [&'static str; 3]) {
    REGIONS[i % REGIONS.len()]
}

/// Write the repository. `aws` adds what an apply needs: DNS records and a state store.
pub fn generate(root: &Path, clusters: usize, groups: usize, aws: bool) {
    for d in ["snippets", "templates", "vars", "clusters"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(
        root.join("snippets/spot_4x.yaml"),
        "- c5.4xlarge\n- c5d.4xlarge\n- c5n.4xlarge\n- c5a.4xlarge\n- c5ad.4xlarge\n- c6i.4xlarge\n- c6id.4xlarge\n- c6in.4xlarge\n- c6a.4xlarge\n- c7i.4xlarge\n- c7a.4xlarge\n- m5.4xlarge\n",
    )
    .unwrap();
    let aws_fields = if aws {
        "  dnsZone: k8s.example.com\n  stateStore: s3://fleet-bench-state/{{ clusterName }}\n  dnsRecords:\n  - {name: 'api.{{ clusterName }}', type: CNAME, values: ['lb-{{ clusterName }}.example.net']}\n  - {name: 'ingress.{{ clusterName }}', type: A, values: [198.51.100.7]}\n"
    } else {
        ""
    };
    fs::write(
        root.join("templates/1_cluster.yaml.tpl"),
        format!("apiVersion: fleetform.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: {{{{ clusterName }}}}\nspec:\n  region: {{{{ region }}}}\n  subnets:\n{{%- for z in zones %}}\n  - {{name: {{{{ z }}}}, zone: {{{{ z }}}}}}\n{{%- endfor %}}\n  clusterAutoscaler: {{expander: priority, maxNodeProvisionTime: 5m}}\n  lint: {{rules: {{custom-bootstrap-labels: off}}}}\n{aws_fields}"),
    )
    .unwrap();
    fs::write(
        root.join("templates/2_groups.yaml.tpl"),
        r#"{% for p in range(end=pools) %}{% for kind in ["spot", "on-demand"] %}{% for n in [1, 2] %}
---
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata:
  name: {{ kind }}-pool{{ p }}-{{ n }}
spec:
  role: Node
  pool: pool{{ p }}
  image: {{ image }}
  machineType: c5.4xlarge
  minSize: {% if n == 1 and kind == "on-demand" %}1{% else %}0{% endif %}
  maxSize: {{ maxSize }}
  subnets: {{ zones | json_encode() }}
  autoscalePriority: {% if kind == "spot" %}50{% else %}10{% endif %}
  rootVolume: {size: 128, type: gp3, encryption: true}
  nodeLabels: {pool: pool{{ p }}, lifecycle: {{ kind }}}
  taints: [dedicated=pool{{ p }}:NoSchedule]
{%- if kind == "spot" and n == 1 %}
  overprovisioning: {replicas: 1, nodeShare: 50%}
{%- endif %}
{%- if kind == "spot" %}
  mixedInstancesPolicy:
    onDemandAboveBase: 0
    spotAllocationStrategy: capacity-optimized
    instances:
    {{ include("spot_4x.yaml") | indent(4) }}
{%- endif %}
{% endfor %}{% endfor %}{% endfor %}
"#,
    )
    .unwrap();
    fs::write(root.join("vars/_defaults.yaml"), format!("image: ami-760aaa0f\nmaxSize: 50\npools: {}\n", groups / 4)).unwrap();
    for c in 0..clusters {
        let (region, zones) = cluster_region(c);
        fs::write(
            root.join(format!("vars/{}.yaml", cluster_name(c))),
            format!("region: {region}\nzones: [{}]\nmaxSize: 100\n", zones.join(", ")),
        )
        .unwrap();
    }
}
