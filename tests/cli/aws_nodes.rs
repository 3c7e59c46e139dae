//! Nodes that join: the launch templates' user data read back with boto3 and parsed the way the
//! node parses it — MIME with Python's `email` package (as cloud-init does), the nodeadm
//! NodeConfig as YAML, Bottlerocket settings with `tomllib` — and compared with the manifest and
//! with what EKS says of its cluster. Images by SSM parameter and by name; instance profiles and
//! security groups verified at plan time.

use crate::aws::Moto;
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";

use crate::aws::example_setup as setup;

/// What a node of `group` would read: its NodeConfig (al2023) or settings (Bottlerocket), the
/// other parts' types, and what EKS says of the cluster.
fn node_view(moto: &Moto, group: &str) -> serde_json::Value {
    let out = moto.py(&format!(
        r#"
import base64, email, tomllib, yaml
c = ec2('eu-west-1')
d = c.describe_launch_template_versions(LaunchTemplateName='{group}.{STAGING}', Versions=['$Default'])['LaunchTemplateVersions'][0]['LaunchTemplateData']
raw = base64.b64decode(d['UserData']).decode()
view = {{'securityGroups': d.get('SecurityGroupIds', []), 'profile': d.get('IamInstanceProfile', {{}}), 'image': d['ImageId']}}
if raw.startswith('MIME-Version'):
    msg = email.message_from_string(raw)
    parts = [(p.get_content_type(), p.get_payload()) for p in msg.walk() if not p.is_multipart()]
    view['parts'] = [t for t, _ in parts]
    view['nodeConfig'] = [yaml.safe_load(b) for t, b in parts if t == 'application/node.eks.aws'][0]
    view['scripts'] = [b for t, b in parts if t == 'text/x-shellscript']
else:
    view['toml'] = tomllib.loads(raw)
cl = eks('eu-west-1').describe_cluster(name='staging-k8s-foo-bar')['cluster']
view['eks'] = {{'endpoint': cl['endpoint'], 'ca': cl['certificateAuthority']['data'], 'cidr': cl['kubernetesNetworkConfig']['serviceIpv4Cidr'], 'sg': cl['resourcesVpcConfig']['clusterSecurityGroupId']}}
print(json.dumps(view))
"#
    ));
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn user_data_joins_the_eks_cluster_with_the_declared_labels_taints_and_reservations() {
    let (moto, repo) = setup();
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // AL2023: a NodeConfig first, then the group's own script.
    let v = node_view(&moto, "admin-nodes");
    let nc = &v["nodeConfig"];
    assert_eq!(v["parts"], serde_json::json!(["application/node.eks.aws"]), "admin declares no user data of its own");
    assert_eq!(nc["apiVersion"], "node.eks.aws/v1alpha1");
    assert_eq!(nc["kind"], "NodeConfig");
    assert_eq!(nc["spec"]["cluster"]["name"], "staging-k8s-foo-bar");
    assert_eq!(nc["spec"]["cluster"]["apiServerEndpoint"], v["eks"]["endpoint"]);
    assert_eq!(nc["spec"]["cluster"]["certificateAuthority"], v["eks"]["ca"]);
    assert_eq!(nc["spec"]["cluster"]["cidr"], v["eks"]["cidr"]);
    assert_eq!(nc["spec"]["kubelet"]["config"]["registerWithTaints"], serde_json::json!([{"key": "dedicated", "value": "admin", "effect": "NoSchedule"}]));
    assert_eq!(nc["spec"]["kubelet"]["flags"], serde_json::json!(["--node-labels=node.kubernetes.io/role=admin"]));
    assert_eq!(v["securityGroups"], serde_json::json!([v["eks"]["sg"]]), "the EKS cluster security group");
    assert_eq!(v["profile"], serde_json::json!({"Name": "eks-node"}));

    let v = node_view(&moto, "spot-nodes-app-4x");
    assert_eq!(v["parts"], serde_json::json!(["application/node.eks.aws", "text/x-shellscript"]), "NodeConfig first, then the group's parts");
    assert!(v["scripts"][0].as_str().unwrap().contains("sysctl -w vm.max_map_count=262144"));
    let k = &v["nodeConfig"]["spec"]["kubelet"];
    assert_eq!(k["flags"], serde_json::json!(["--node-labels=lifecycle=spot,pool=app"]), "sorted");
    assert!(k["config"].get("registerWithTaints").is_none(), "no taints declared");
    assert_eq!(k["config"]["kubeReserved"], serde_json::json!({"cpu": "500m", "memory": "1Gi"}));
    assert_eq!(k["config"]["systemReserved"], serde_json::json!({"cpu": "500m", "memory": "1Gi"}));
    assert_eq!(k["config"]["evictionHard"], serde_json::json!({"memory.available": "500Mi"}));

    // Bottlerocket: TOML settings.
    let v = node_view(&moto, "prometheus-nodes");
    let k = &v["toml"]["settings"]["kubernetes"];
    assert_eq!(k["cluster-name"], "staging-k8s-foo-bar");
    assert_eq!(k["api-server"], v["eks"]["endpoint"]);
    assert_eq!(k["cluster-certificate"], v["eks"]["ca"]);
    assert_eq!(k["cluster-dns-ip"], "172.20.0.10", "the tenth address of the service CIDR");
    assert_eq!(k["node-labels"], serde_json::json!({"dedicated": "prometheus"}));
    assert_eq!(k["node-taints"], serde_json::json!({"dedicated": ["prometheus:NoSchedule"]}));
    assert_eq!(k["kube-reserved"], serde_json::json!({"cpu": "500m", "memory": "1Gi"}));
    assert_eq!(k["eviction-hard"], serde_json::json!({"memory.available": "500Mi"}));
    // The autoscaler is promised the same taint the node registers with.
    let tag = moto.py(&format!(
        "g = asg('eu-west-1').describe_auto_scaling_groups(AutoScalingGroupNames=['prometheus-nodes.{STAGING}'])['AutoScalingGroups'][0]\nprint([t['Value'] for t in g['Tags'] if t['Key'] == 'k8s.io/cluster-autoscaler/node-template/taint/dedicated'])"
    ));
    assert_eq!(tag.trim(), "['prometheus:NoSchedule']");
}

#[test]
fn a_taint_change_is_a_new_template_version_of_that_group_alone() {
    let (moto, repo) = setup();
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes"])), 0);
    repo.replace("snippets/admin_taints.yaml", "- dedicated=admin:NoSchedule", "- dedicated=admin:NoExecute");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 2);
    let out = stdout(&o);
    assert!(out.contains(&format!("~ launch template admin-nodes.{STAGING}")), "{out}");
    assert!(out.contains("-        effect: NoSchedule") && out.contains("+        effect: NoExecute") && !out.contains("No newline"), "the NodeConfig diff shows the taint:\n{out}");
    let ca = moto.py("print(eks('eu-west-1').describe_cluster(name='staging-k8s-foo-bar')['cluster']['certificateAuthority']['data'])");
    assert!(!out.contains(ca.trim()), "the certificate authority is never printed whole");
    assert!(out.contains(": 0 to create, 2 to update, 0 to delete"), "the template and its group (moved to the new version):\n{out}");
    assert!(out.contains("launch template version 1 -> 2: bootstrap changes"), "why the instances are replaced:\n{out}");
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let versions = moto.py("print(json.dumps({t['LaunchTemplateName'].split('.')[0]: t['LatestVersionNumber'] for t in ec2('eu-west-1').describe_launch_templates()['LaunchTemplates']}, sort_keys=True))");
    let versions: serde_json::Value = serde_json::from_str(versions.trim()).unwrap();
    assert_eq!(versions["admin-nodes"], 2);
    assert_eq!(versions.as_object().unwrap().values().filter(|v| **v == 1).count(), 5, "no other group changed: {versions}");
    assert_eq!(node_view(&moto, "admin-nodes")["nodeConfig"]["spec"]["kubelet"]["config"]["registerWithTaints"][0]["effect"], "NoExecute");
}

#[test]
fn a_new_image_behind_the_eks_optimized_name_is_a_change_with_replacements() {
    let (moto, repo) = setup();
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes"])), 0);
    let new = moto.py("print(ec2('eu-west-1').register_image(Name='amazon-eks-node-al2023-x86_64-standard-1.31-v2', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'])");
    let new = new.trim();
    let param = "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id";
    moto.publish_public_parameter(param, new);
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("image                             ami-760aaa0f -> {new}")) || out.contains(&format!("ami-760aaa0f -> {new}")), "{out}");
    assert!(out.contains(&format!("# image eks-optimized: ssm:{param} -> {new}")), "where the id came from:\n{out}");
    assert!(out.contains("A rolling update would replace"), "{out}");
    // Bottlerocket's parameter did not move: Prometheus stays as it is.
    assert!(!out.contains(&format!("~ launch template prometheus-nodes.{STAGING}")), "{out}");
}

#[test]
fn images_by_owner_and_name_take_the_newest() {
    let (moto, repo) = setup();
    let old = moto.py("print(ec2('eu-west-1').register_image(Name='node-image-2026-01', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'])");
    std::thread::sleep(std::time::Duration::from_millis(1100)); // distinct creation dates (seconds)
    let new = moto.py("print(ec2('eu-west-1').register_image(Name='node-image-2026-02', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'])");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--set", "image=self/node-image-*"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("# image self/node-image-* -> {}", new.trim())), "{out}");
    assert!(!out.contains(old.trim()), "{out}");
}

#[test]
fn what_the_manifest_references_must_exist_and_nothing_changes_otherwise() {
    let (moto, repo) = setup();
    let groups = || moto.py("print(len(asg('eu-west-1').describe_auto_scaling_groups()['AutoScalingGroups']))");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--set", "image=ssm:/no/such/parameter"], "image ssm:/no/such/parameter: SSM parameter /no/such/parameter does not exist in eu-west-1"),
        (vec!["--set", "image=self/nothing-matches-*"], "image self/nothing-matches-*: no image of that owner and name in eu-west-1"),
        (vec!["--set", "nodeInstanceProfile=no-such-profile"], "instance profile `no-such-profile`: does not exist"),
    ];
    for (sets, want) in cases {
        let mut args = vec!["apply", "--cluster", STAGING, "--yes"];
        args.extend(sets.iter());
        let o = moto.run(&repo, &args);
        assert_eq!(code(&o), 1, "{sets:?}");
        assert!(stderr(&o).contains(want), "{sets:?}: `{want}` in\n{}", stderr(&o));
        assert!(stderr(&o).contains("nothing was applied"), "{}", stderr(&o));
        assert_eq!(groups().trim(), "0", "{sets:?}: nothing created");
    }
    // An additional security group named in the cluster's VPC, and one that does not exist.
    repo.replace("templates/2_admin-nodes.yaml.tpl", "  iam:\n", "  additionalSecurityGroups: [ingress-lb, sg-0000000000000dead]\n  iam:\n");
    moto.py(&format!(
        "c = ec2('eu-west-1')\nvpc = c.describe_subnets(Filters=[{{'Name': 'tag-key', 'Values': ['kubernetes.io/cluster/{STAGING}']}}])['Subnets'][0]['VpcId']\nc.create_security_group(GroupName='ingress-lb', Description='x', VpcId=vpc)"
    ));
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("security group `sg-0000000000000dead`: does not exist in eu-west-1"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("`ingress-lb`"), "found by name in the VPC: {}", stderr(&o));
    assert_eq!(groups().trim(), "0");
    // The EKS cluster the manifest names does not exist: created first when the Cluster says
    // how (its cluster role), else one error saying what to declare.
    moto.py("eks('eu-west-1').delete_cluster(name='staging-k8s-foo-bar')");
    repo.replace("templates/2_admin-nodes.yaml.tpl", "  additionalSecurityGroups: [ingress-lb, sg-0000000000000dead]\n", "");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("+ eks control plane staging-k8s-foo-bar"), "{}", stdout(&o));
    assert!(stdout(&o).contains("node groups not planned yet: EKS cluster staging-k8s-foo-bar does not exist yet"), "{}", stdout(&o));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--set", "eksRole=null"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("EKS cluster staging-k8s-foo-bar: no EKS cluster of that name in eu-west-1"), "{}", stderr(&o));
    assert!(stderr(&o).contains("declare spec.eks.role"), "{}", stderr(&o));
}

#[test]
fn a_public_ip_puts_the_security_groups_on_the_network_interface_and_round_trips() {
    let (moto, repo) = setup();
    repo.replace("templates/2_admin-nodes.yaml.tpl", "  iam:\n", "  associatePublicIp: true\n  iam:\n");
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = moto.py(&format!(
        "d = ec2('eu-west-1').describe_launch_template_versions(LaunchTemplateName='admin-nodes.{STAGING}', Versions=['$Default'])['LaunchTemplateVersions'][0]['LaunchTemplateData']\nprint(json.dumps({{'top': d.get('SecurityGroupIds', []), 'nic': d['NetworkInterfaces']}}))"
    ));
    let d: serde_json::Value = serde_json::from_str(d.trim()).unwrap();
    assert_eq!(d["top"], serde_json::json!([]), "EC2 refuses security groups both on the template and on its interface");
    assert_eq!(d["nic"][0]["AssociatePublicIpAddress"], true);
    assert_eq!(d["nic"][0]["DeviceIndex"], 0);
    assert_eq!(d["nic"][0]["Groups"].as_array().unwrap().len(), 1, "the EKS cluster security group");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "read back as written: {}{}", stdout(&o), stderr(&o));
}

/// Lint's instance types: from AWS (DescribeInstanceTypes per region) when credentials are in the
/// environment, else fleetform's table plus the repository's instance-types.csv; it says which.
#[test]
fn lint_reads_instance_types_from_aws_or_the_table_and_says_which() {
    let moto = Moto::start();
    let repo = Repo::example();
    // A type newer than fleetform's table (AWS knows it).
    repo.replace("snippets/spot_4x_32Gb_machine_type.yaml", "- c5.4xlarge\n", "- c5.4xlarge\n- c8i.4xlarge\n");
    let o = moto.run(&repo, &["lint", "--output", "json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["instanceTypes"], serde_json::json!(["AWS in eu-west-1", "AWS in eu-west-3"]));
    assert!(stderr(&o).contains("(instance types: AWS in eu-west-1, AWS in eu-west-3)"), "{}", stderr(&o));

    // Without AWS: the table does not know it, until the repository adds it.
    let o = moto.run(&repo, &["lint", "--instance-types", "table", "--output", "json"]);
    assert_eq!(code(&o), 0, "the table may be older than a type: a warning");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["findings"][0]["rule"].as_str(), v["findings"][0]["severity"].as_str()), (Some("instance-type-not-in-table"), Some("warning")), "{v}");
    // AWS does not offer a misspelt type: an error there.
    repo.replace("snippets/spot_4x_32Gb_machine_type.yaml", "- c8i.4xlarge\n", "- c8i.4xlarge\n- c8i.4xlage\n");
    let o = moto.run(&repo, &["lint", "--output", "json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["findings"][0]["rule"], "unknown-instance-type", "{v}");
    assert!(v["findings"][0]["message"].as_str().unwrap().contains("is not offered (AWS in eu-west-3): did you mean `c8i.4xlarge`?"), "{v}");
    repo.replace("snippets/spot_4x_32Gb_machine_type.yaml", "- c8i.4xlage\n", "");
    repo.write("instance-types.csv", "# types newer than fleetform's table\nc8i.4xlarge,16,32,x86_64\n");
    let o = repo.run(&["lint", "--output", "json"]);
    assert_eq!(code(&o), 0, "no credentials in the environment: the table and the repository's file; {}", stdout(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["findings"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(v["instanceTypes"], serde_json::json!(["fleetform's table + instance-types.csv"]));
    repo.write("instance-types.csv", "c8i.4xlarge,16,lots,x86_64\n");
    let o = repo.run(&["lint"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("memory `lots` is not a size in GiB\n  --> instance-types.csv:1"), "{}", stderr(&o));
}
