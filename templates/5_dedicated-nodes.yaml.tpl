# Prometheus on high-memory on-demand nodes, tainted for it alone.
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata:
  name: prometheus-nodes
spec:
  role: Node
  pool: monitoring
  image: {{ image }}
  machineType: {{ prometheus.machineType }}
  minSize: {{ prometheus.minSize }}
  maxSize: {{ prometheus.maxSize }}
  subnets: {{ zones | json_encode() }}
  autoscalePriority: 10
  overprovisioning: {{ prometheus.overprovisioning | json_encode() }}
  nodeLabels:
    dedicated: prometheus
  taints:
  - dedicated=prometheus:NoSchedule
  rootVolume:
    size: 200
    type: gp3
    encryption: true
  iam:
    profile: {{ nodeInstanceProfile }}
  # Bottlerocket: a minimal, image-based OS for a stateful, dedicated group.
  bootstrap: bottlerocket
  kubelet:
    {{ include("kubelet_reservations.yaml") | indent(4) }}
