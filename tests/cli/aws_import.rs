//! Moving in from kops, end to end: a kops cluster as kops left it on AWS (its groups and launch
//! templates under kops's names and tags, a zone's private and utility subnets both tagged for
//! the cluster, kops's instance profiles and security groups), its manifests imported, rendered,
//! linted, planned and applied with adoption; then the plan is empty. maxPrice and
//! suspendProcesses, which the import carries, are read back the way the Auto Scaling API
//! reports them, then changed and removed like any field.

use crate::aws::Moto;
use crate::common::*;

const CLUSTER: &str = "prod.k8s.acme.io";
const FIXTURES: &str = "tests/fixtures/kops";

/// What kops made for prod.k8s.acme.io (kops 1.28's names and tags): scripts/lib/kops_account.py.
fn kops_made(moto: &Moto) {
    moto.account("scripts/lib/kops_account.py");
}

/// What the Auto Scaling and EC2 APIs say of one group and its launch template's latest version.
fn read_group(moto: &Moto, ig: &str) -> serde_json::Value {
    serde_json::from_str(&moto.py(&format!(
        r#"
c, a = ec2('eu-west-1'), asg('eu-west-1')
name = '{ig}.{CLUSTER}'
g = a.describe_auto_scaling_groups(AutoScalingGroupNames=[name])['AutoScalingGroups'][0]
t = c.describe_launch_templates(LaunchTemplateNames=[name])['LaunchTemplates'][0]
d = c.describe_launch_template_versions(LaunchTemplateName=name, Versions=['$Latest'])['LaunchTemplateVersions'][0]['LaunchTemplateData']
sg_ids = d.get('SecurityGroupIds', []) + [g for n in d.get('NetworkInterfaces', []) for g in n.get('Groups', [])]
sgs = c.describe_security_groups(GroupIds=sg_ids)['SecurityGroups'] if sg_ids else []
subnets = c.describe_subnets(SubnetIds=g['VPCZoneIdentifier'].split(','))['Subnets']
mixed = g.get('MixedInstancesPolicy', {{}})
print(json.dumps({{
  'groupTags': {{x['Key']: x['Value'] for x in g['Tags']}},
  'templateTags': {{x['Key']: x['Value'] for x in t.get('Tags', [])}},
  'latest': t['LatestVersionNumber'],
  'suspended': sorted(p['ProcessName'] for p in g.get('SuspendedProcesses', [])),
  'spotMaxPrice': mixed.get('InstancesDistribution', {{}}).get('SpotMaxPrice'),
  'types': [o['InstanceType'] for o in mixed.get('LaunchTemplate', {{}}).get('Overrides', [])],
  'capacityRebalance': g.get('CapacityRebalance'),
  'subnetCidrs': sorted(s['CidrBlock'] for s in subnets),
  'image': d.get('ImageId'), 'profile': d.get('IamInstanceProfile', {{}}).get('Name'),
  'securityGroups': sorted(s['GroupName'] for s in sgs),
  'volume': d.get('BlockDeviceMappings', [{{}}])[0].get('Ebs', {{}}),
  'market': d.get('InstanceMarketOptions'),
  'monitoring': d.get('Monitoring', {{}}).get('Enabled'),
  'credits': d.get('CreditSpecification', {{}}).get('CpuCredits'),
  'protected': g.get('NewInstancesProtectedFromScaleIn'),
  'lifetime': g.get('MaxInstanceLifetime'),
  'warmPool': g.get('WarmPoolConfiguration'),
  'distribution': mixed.get('InstancesDistribution', {{}}),
  'publicIp': [n.get('AssociatePublicIpAddress') for n in d.get('NetworkInterfaces', [])],
}}))
"#
    )))
    .unwrap()
}

fn apply(moto: &Moto, repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--cluster", CLUSTER, "--yes", "--poll-interval", "0.1s"];
    args.extend_from_slice(extra);
    moto.run(repo, &args)
}

#[test]
fn a_kops_cluster_imported_adopted_and_then_the_plan_is_empty() {
    let moto = Moto::start();
    kops_made(&moto);
    let repo = Repo::empty();
    let prod = project_root().join(FIXTURES).join("prod.yaml");
    let staging = project_root().join(FIXTURES).join("staging.yaml");

    // Import: the repository, and the report of what did not come along.
    let o = repo.run(&["import", "kops", prod.to_str().unwrap(), staging.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report = stdout(&o);
    for want in [
        "prod.k8s.acme.io nodes-on-demand  spec.warmPool.enableLifecycleHook\n      a warm pool setting fleetform does not have",
        "prod.k8s.acme.io prometheus  spec.hooks\n      a kops nodeup feature",
        "prod.k8s.acme.io nodes-spot-4x  spec.rollingUpdate.drainAndTerminate",
        "prod.k8s.acme.io  node bootstrap (nodeup)",
        "prod.k8s.acme.io  spec.etcdClusters",
        "prod.k8s.acme.io control-plane-eu-west-1a  spec.role\n      a Master group runs kops's own control plane: not imported",
        "staging.k8s.acme.io nodes-spot-4x  spec.mixedInstancesPolicy.onDemandBase\n      not set: kops's (and AWS's) default 0 written",
        "staging.k8s.acme.io nodes-spot-4x  spec.rootVolume.size\n      not set: kops's default 128 GiB written",
    ] {
        assert!(report.contains(want), "`{want}` in the report:\n{report}");
    }
    assert!(report.contains("prod.yaml:201  prod.k8s.acme.io nodes-on-demand  spec.warmPool.enableLifecycleHook"), "the line of the field: {report}");
    assert!(!report.contains("spec.detailedInstanceMonitoring") && !report.contains("spec.maxInstanceLifetime") && !report.contains("spec.instanceProtection"), "carried, not reported: {report}");
    for f in ["vars/_kops.yaml", "vars/prod.k8s.acme.io.yaml", "vars/staging.k8s.acme.io.yaml", "templates/1_cluster.yaml.tpl", "templates/2_node-groups.yaml.tpl", "snippets/nodes-spot-4x-instances.yaml"] {
        assert!(repo.path().join(f).is_file(), "{f} written");
    }
    assert!(repo.read("snippets/nodes-spot-4x-instances.yaml").contains("nodes-spot-4x (prod.k8s.acme.io), nodes-spot-4x (staging.k8s.acme.io)"), "one snippet for the list both clusters have");
    let shared: serde_yaml::Value = serde_yaml::from_str(&repo.read("vars/_kops.yaml")).unwrap();
    assert_eq!(shared["region"], "eu-west-1");
    assert_eq!(shared["dnsZone"], "k8s.acme.io");
    let o = repo.run(&["import", "kops", prod.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "a second import does not overwrite: {}", stderr(&o));
    assert!(stderr(&o).contains("vars/staging.k8s.acme.io.yaml is not part of this import"), "{}", stderr(&o));
    std::fs::remove_file(repo.path().join("vars/staging.k8s.acme.io.yaml")).unwrap();

    // What kops never checked, lint asks for: the spot group's pool and the fallback's priority.
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = repo.run(&["lint", "--strict", "--cluster", CLUSTER]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("spot group `nodes-spot-4x` belongs to no pool"), "{}", stdout(&o));
    repo.replace("vars/prod.k8s.acme.io.yaml", "- name: nodes-on-demand\n", "- name: nodes-on-demand\n  pool: app\n  autoscalePriority: 10\n");
    repo.replace("vars/prod.k8s.acme.io.yaml", "- name: nodes-spot-4x\n", "- name: nodes-spot-4x\n  pool: app\n  autoscalePriority: 50\n");
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = repo.run(&["lint", "--strict"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    // kops's groups are a conflict until adopted.
    let before = read_group(&moto, "nodes-spot-4x");
    let o = moto.run(&repo, &["plan", "--cluster", CLUSTER]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("! conflict: launch template nodes-spot-4x.prod.k8s.acme.io: exists but is not managed by fleetform"), "{}", stdout(&o));
    let o = moto.run(&repo, &["plan", "--cluster", CLUSTER, "--adopt"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let plan = stdout(&o);
    assert_eq!(plan.matches("# adopted: it exists without fleetform's tags").count(), 6, "three node groups and their launch templates: {plan}");
    assert!(!plan.contains("control-plane-eu-west-1a"), "kops's control plane is not declared, so never touched: {plan}");
    for field in ["mixedInstancesPolicy.spotMaxPrice", "suspendProcesses", "warmPool", "maxInstanceLifetime", "instanceProtection", "detailedInstanceMonitoring"] {
        assert!(!plan.contains(field), "kops's {field} is what the import declares: {plan}");
    }
    assert_eq!(read_group(&moto, "nodes-spot-4x"), before, "a plan changes nothing");

    let o = apply(&moto, &repo, &["--adopt"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let spot = read_group(&moto, "nodes-spot-4x");
    assert_eq!(spot["groupTags"]["fleetform.io/cluster"], CLUSTER, "{spot}");
    assert_eq!(spot["templateTags"]["fleetform.io/cluster"], CLUSTER, "{spot}");
    assert_eq!(spot["spotMaxPrice"], "0.45");
    assert_eq!(spot["suspended"], serde_json::json!(["AZRebalance"]));
    assert_eq!(spot["types"].as_array().unwrap().len(), 12);
    assert_eq!(spot["capacityRebalance"], true);
    assert_eq!(spot["subnetCidrs"], serde_json::json!(["172.20.32.0/19", "172.20.64.0/19"]), "the private subnets, told from the utility ones by their cidr");
    assert_eq!((spot["image"].as_str(), spot["profile"].as_str()), (Some("ami-785db401"), Some("nodes.prod.k8s.acme.io")), "{spot}");
    assert_eq!(spot["securityGroups"], serde_json::json!(["nodes.prod.k8s.acme.io"]), "kops's security group kept: {spot}");
    assert_eq!((spot["volume"]["VolumeSize"].as_i64(), spot["volume"]["Encrypted"].as_bool()), (Some(100), Some(true)), "{spot}");
    assert!(spot["market"].is_null(), "a mixed group's price is the policy's, not the template's: {spot}");
    assert_eq!(spot["publicIp"], serde_json::json!([false]), "no public address in a private subnet, as kops: {spot}");
    let od = read_group(&moto, "nodes-on-demand");
    assert_eq!((od["monitoring"].as_bool(), od["protected"].as_bool(), od["lifetime"].as_i64()), (Some(true), Some(true), Some(604800)), "{od}");
    assert_eq!((od["warmPool"]["MinSize"].as_i64(), od["warmPool"]["MaxGroupPreparedCapacity"].as_i64()), (Some(1), Some(2)), "{od}");
    assert_eq!(spot["distribution"]["OnDemandAllocationStrategy"], "prioritized", "AWS's defaults written out: {spot}");
    let cp = read_group(&moto, "control-plane-eu-west-1a");
    assert!(cp["groupTags"].get("fleetform.io/cluster").is_none() && cp["latest"] == 1, "kops's control plane untouched: {cp}");
    let prometheus = read_group(&moto, "prometheus");
    assert!(prometheus["groupTags"].get("k8s.io/cluster-autoscaler/enabled").is_none(), "not discovered by the autoscaler, as under kops: {prometheus}");

    let o = moto.run(&repo, &["plan", "--cluster", CLUSTER, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "the plan after adoption is empty: {}", stdout(&o));

    // maxPrice on a group without a policy makes its instances spot at that price; a process
    // no longer listed is resumed.
    repo.replace("vars/prod.k8s.acme.io.yaml", "- name: prometheus\n", "- name: prometheus\n  maxPrice: '0.30'\n");
    repo.replace("vars/prod.k8s.acme.io.yaml", "  suspendProcesses:\n  - AZRebalance\n", "");
    // The other kops fields, changed and removed: the warm pool goes, protection and the
    // lifetime are cleared, monitoring is switched off, credits are set on a burstable group.
    repo.replace("vars/prod.k8s.acme.io.yaml", "  warmPool:\n    maxSize: 2\n    minSize: 1\n", "");
    repo.replace("vars/prod.k8s.acme.io.yaml", "  instanceProtection: true\n", "");
    repo.replace("vars/prod.k8s.acme.io.yaml", "  maxInstanceLifetime: 168h0m0s\n", "");
    repo.replace("vars/prod.k8s.acme.io.yaml", "  detailedInstanceMonitoring: true\n", "  detailedInstanceMonitoring: false\n");
    repo.replace("vars/prod.k8s.acme.io.yaml", "- name: prometheus\n", "- name: prometheus\n  cpuCredits: unlimited\n");
    repo.replace("vars/prod.k8s.acme.io.yaml", "  machineType: r5.2xlarge\n", "  machineType: t3.2xlarge\n");
    assert_eq!(code(&repo.run(&["render"])), 0);
    let o = moto.run(&repo, &["plan", "--cluster", CLUSTER]);
    let plan = stdout(&o);
    let row = |field: &str, change: &str| plan.lines().any(|l| l.trim_start().starts_with(field) && l.trim_end().ends_with(change));
    assert!(row("spotMaxPrice", "(none) -> 0.3"), "one spelling per price: {plan}");
    assert!(row("suspendProcesses", "AZRebalance -> (none)"), "{plan}");
    assert!(row("warmPool", "min 1, max 2, Stopped -> (none)"), "{plan}");
    assert!(row("maxInstanceLifetime", "168h -> (none)"), "{plan}");
    assert!(row("instanceProtection", "true -> false"), "{plan}");
    assert!(row("detailedInstanceMonitoring", "true -> false"), "{plan}");
    assert!(row("cpuCredits", "(none) -> unlimited"), "{plan}");
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let prometheus = read_group(&moto, "prometheus");
    assert_eq!(prometheus["market"]["MarketType"], "spot", "{prometheus}");
    assert_eq!(prometheus["market"]["SpotOptions"]["MaxPrice"], "0.3", "{prometheus}");
    assert_eq!(read_group(&moto, "nodes-spot-4x")["suspended"], serde_json::json!([]));
    let od = read_group(&moto, "nodes-on-demand");
    assert!(od["warmPool"].is_null() && od["lifetime"].is_null(), "{od}");
    assert_eq!((od["monitoring"].as_bool(), od["protected"].as_bool()), (Some(false), Some(false)), "{od}");
    assert_eq!(prometheus["credits"], "unlimited", "{prometheus}");
    let o = moto.run(&repo, &["plan", "--cluster", CLUSTER, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));

    // Onto EKS (README, step 5): an `eks` map in the vars, the EKS image, no label the kubelet
    // may not set. The control plane is created, and every group's new launch template version
    // joins it with nodeadm, kops's kubelet settings included.
    moto.py("iam.create_role(RoleName='eks-cluster', AssumeRolePolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': []}))");
    let vars = repo.read("vars/prod.k8s.acme.io.yaml");
    let vars = vars
        .replace("image: 099720109477/ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-20170721", "image: eks-optimized")
        .lines()
        .filter(|l| !l.contains("kops.k8s.io/instancegroup:"))
        .collect::<Vec<_>>()
        .join("\n");
    repo.write("vars/prod.k8s.acme.io.yaml", &format!("{vars}\neks:\n  kubernetesVersion: '1.29'\n  role: eks-cluster\n  subnets: [eu-west-1a, eu-west-1b]\n  bootstrap: al2023\n"));
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let node = serde_json::from_str::<serde_json::Value>(&moto.py(&format!(
        r#"
import base64, email, yaml
d = ec2('eu-west-1').describe_launch_template_versions(LaunchTemplateName='nodes-spot-4x.{CLUSTER}', Versions=['$Default'])['LaunchTemplateVersions'][0]['LaunchTemplateData']
msg = email.message_from_string(base64.b64decode(d['UserData']).decode())
parts = [(p.get_content_type(), p.get_payload()) for p in msg.walk() if not p.is_multipart()]
nc = [yaml.safe_load(b) for t, b in parts if t == 'application/node.eks.aws'][0]
cl = eks('eu-west-1').describe_cluster(name='prod-k8s-acme-io')['cluster']
print(json.dumps({{'nodeConfig': nc, 'types': [t for t, _ in parts], 'endpoint': cl['endpoint'], 'version': cl['version']}}))
"#
    )))
    .unwrap();
    assert_eq!(node["version"], "1.29", "{node}");
    assert_eq!(node["nodeConfig"]["spec"]["cluster"]["apiServerEndpoint"], node["endpoint"], "{node}");
    let kubelet = &node["nodeConfig"]["spec"]["kubelet"]["config"];
    assert_eq!((kubelet["maxPods"].as_i64(), kubelet["kubeReserved"]["cpu"].as_str()), (Some(58), Some("500m")), "kops's kubelet settings reach the node: {node}");
    assert_eq!(node["types"], serde_json::json!(["application/node.eks.aws", "text/x-shellscript"]), "kops's additionalUserData follows the NodeConfig: {node}");
    let o = moto.run(&repo, &["plan", "--cluster", CLUSTER, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn errors_of_every_kops_file_come_at_once_and_nothing_is_written() {
    let repo = Repo::empty();
    repo.write("kops/a.yaml", "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: a.example.com\nspec:\n  subnets:\n  - name: a\n    zone: eu-west-1a\n");
    repo.write(
        "kops/igs.yaml",
        "apiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: Nodes_A\n  labels:\n    kops.k8s.io/cluster: a.example.com\nspec:\n  image: ami-1\n  machineType: m5.large\n  subnets: [a]\n  suspendProcesses: [AZRebalancing]\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: other\n  labels:\n    kops.k8s.io/cluster: b.example.com\nspec: {}\n",
    );
    let o = repo.run(&["import", "kops", "kops/a.yaml", "kops/igs.yaml"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    for want in [
        "instance group `other` belongs to cluster `b.example.com`, which is not among the files\n  --> kops/igs.yaml:18",
        "instance group `Nodes_A` of `a.example.com`: the name is not a fleetform group name\n  --> kops/igs.yaml:4",
        "instance group `Nodes_A` of `a.example.com`: `AZRebalancing` is not an Auto Scaling process\n  --> kops/igs.yaml:11",
        "did you mean `AZRebalance`?",
        "3 error(s) in the kops files; nothing was written",
    ] {
        assert!(err.contains(want), "`{want}` in\n{err}");
    }
    assert!(!repo.path().join("vars").exists() && !repo.path().join("templates").exists(), "nothing written");
}

#[test]
fn kops_instance_requirements_come_along_and_render() {
    let repo = Repo::empty();
    repo.write(
        "kops/c.yaml",
        "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: c.example.com\nspec:\n  configBase: s3://b/c.example.com\n  subnets:\n  - {name: a, zone: eu-west-1a, cidr: 10.0.0.0/19, type: Private}\n  - {name: b, zone: eu-west-1b, cidr: 10.0.32.0/19, type: Private}\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: nodes-abs\n  labels: {kops.k8s.io/cluster: c.example.com}\nspec:\n  role: Node\n  image: ami-760aaa0f\n  machineType: c5.4xlarge\n  minSize: 0\n  maxSize: 10\n  subnets: [a, b]\n  mixedInstancesPolicy:\n    instanceRequirements:\n      cpu: {min: \"16\", max: \"16\"}\n      memory: {min: 32G, max: 64G}\n    onDemandAboveBase: 0\n    spotAllocationStrategy: price-capacity-optimized\n",
    );
    let o = repo.run(&["import", "kops", "kops/c.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stdout(&o).contains("instanceRequirements"), "carried, not reported: {}", stdout(&o));
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = repo.read("clusters/c.example.com.yaml");
    assert!(m.contains("instanceRequirements:") && m.contains("min: 32G"), "{m}");
    assert!(!m.contains("instances:"), "no list beside the ranges: {m}");
}
