# Admin nodes: CoreDNS, cluster-autoscaler and the ingress controller. On-demand only, tainted
# so that nothing else lands there.
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata:
  name: admin-nodes
spec:
  role: Node
  pool: admin
  critical: true
  image: {{ image }}
  machineType: {{ admin.machineType }}
  minSize: {{ admin.minSize }}
  maxSize: {{ admin.maxSize }}
  subnets: {{ zones | json_encode() }}
  autoscale: false
  nodeLabels:
    node.kubernetes.io/role: admin
  taints:
  {{ include("admin_taints.yaml") | indent(2) }}
  rootVolume:
    size: 50
    type: gp3
    encryption: true
  iam:
    profile: {{ nodeInstanceProfile }}
