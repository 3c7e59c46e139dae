apiVersion: fleetform.io/v1alpha1
kind: Cluster
metadata:
  name: {{ clusterName }}
spec:
  region: {{ region }}
  stateStore: s3://{{ stateStoreBucket }}/{{ clusterName }}
  cloudLabels:
    team: {{ team }}
    environment: {{ environment }}
  subnets:
{%- for zone in zones %}
  - name: {{ zone }}
    zone: {{ zone }}
{%- endfor %}
  dnsZone: {{ dnsZone }}
  dnsRecords:
  - name: api.{{ clusterName }}
    type: CNAME
    ttl: 60
    values: [{{ apiLoadBalancer }}]
  - name: ingress.{{ clusterName }}
    type: A
    ttl: 60
    values: {{ ingressAddresses | json_encode() }}
  clusterAutoscaler:
    enabled: true
    expander: priority
    maxNodeProvisionTime: {{ autoscaler.maxNodeProvisionTime }}
    balanceSimilarNodeGroups: true
    skipNodesWithLocalStorage: false
  rollingUpdate:
    maxSurge: {{ rollingUpdate.maxSurge }}
    maxUnavailable: {{ rollingUpdate.maxUnavailable }}
{%- if rollingUpdate.maxConcurrentGroups is defined %}
    maxConcurrentGroups: {{ rollingUpdate.maxConcurrentGroups }}
{%- endif %}
{%- if rollingUpdate.clusterMaxUnavailable is defined %}
    clusterMaxUnavailable: {{ rollingUpdate.clusterMaxUnavailable }}
{%- endif %}
  lint:
    minSpotInstanceTypes: {{ lint.minSpotInstanceTypes }}
    maxFallbackMinutes: {{ lint.maxFallbackMinutes }}
  hooks:
    drain:
      command: {{ hooks.drain | json_encode() }}
      timeout: 6m
    validate:
      command: {{ hooks.validate | json_encode() }}
      timeout: 1m
  validation:
    validateCount: {{ validation.validateCount }}
    validationTimeout: {{ validation.validationTimeout }}
    interval: {{ validation.interval }}
  wave: {{ wave }}
  eks:
    # The control plane: created when missing, upgraded one minor at a time when this moves.
    kubernetesVersion: {{ kubernetesVersion }}
{%- if eksRole %}
    role: {{ eksRole }}
{%- endif %}
    bootstrap: al2023
{%- if eksAuthenticationMode %}
    authenticationMode: {{ eksAuthenticationMode }}
{%- endif %}
    logging: [api, audit, authenticator]
{%- if eksAddons %}
    # Kept installed, and moved to versions that run on kubernetesVersion.
    addons:
{%- for addon in eksAddons %}
    - name: {{ addon }}
{%- endfor %}
{%- endif %}
{%- if schedule %}
  schedule:
    timeZone: {{ schedule.timeZone }}
    uptime: {{ schedule.uptime | json_encode() }}
{%- if schedule.exceptions %}
    exceptions:
{%- for e in schedule.exceptions %}
    - {name: {{ e.name }}, from: "{{ e.from }}", to: "{{ e.to }}", state: {{ e.state }}}
{%- endfor %}
{%- endif %}
{%- endif %}
