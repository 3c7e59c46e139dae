{#- Per application pool: one spot group per instance size, tried first by the autoscaler. -#}
{% for pool in pools %}{% for size in pool.sizes %}
---
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata:
  name: spot-nodes-{{ pool.name }}-{{ size.name }}
spec:
  role: Node
  pool: {{ pool.name }}
  image: {{ image }}
  machineType: {{ size.onDemandType }}
  minSize: {{ spot.minSize }}
  maxSize: {{ spot.maxSize }}
  subnets: {{ zones | json_encode() }}
  autoscalePriority: 50
  capacityRebalance: true
{%- if pool.overprovisioning %}
  overprovisioning: {{ pool.overprovisioning | json_encode() }}
{%- endif %}
  mixedInstancesPolicy:
    onDemandBase: 0
    onDemandAboveBase: 0
    spotAllocationStrategy: capacity-optimized
    instances:
    {{ include(size.spotTypes) | indent(4) }}
  nodeLabels:
    pool: {{ pool.name }}
    lifecycle: spot
  cloudLabels:
    pool: {{ pool.name }}
  rootVolume:
    size: 100
    type: gp3
    encryption: true
  additionalUserData:
  {{ include("node_user_data.yaml") | indent(2) }}
  iam:
    profile: {{ nodeInstanceProfile }}
  kubelet:
    {{ include("kubelet_reservations.yaml") | indent(4) }}
{% endfor %}{% endfor %}
