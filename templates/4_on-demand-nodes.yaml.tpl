{#- Per application pool: the on-demand fallbacks, at a lower autoscaler priority than spot. -#}
{% for pool in pools %}{% for size in pool.sizes %}
---
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata:
  name: on-demand-{{ pool.name }}-{{ size.name }}
spec:
  role: Node
  pool: {{ pool.name }}
  image: {{ image }}
  machineType: {{ size.onDemandType }}
  minSize: {{ onDemand.minSize }}
  maxSize: {{ onDemand.maxSize }}
  subnets: {{ zones | json_encode() }}
  autoscalePriority: 10
  nodeLabels:
    pool: {{ pool.name }}
    lifecycle: on-demand
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
