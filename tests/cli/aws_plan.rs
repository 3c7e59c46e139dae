//! `plan` against the local AWS emulator.

use crate::aws::{apply_staging, example_setup, free_port, scrub_ids, Moto};
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";

#[test]
fn empty_account_plans_every_create() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "changes pending\n{}", stderr(&o));
    insta::assert_snapshot!("plan_empty_account", scrub_ids(&stdout(&o)));
    let o = moto.run(&repo, &["plan", "--all", "--output", "json"]);
    assert_eq!(code(&o), 0, "without --detailed-exitcode, changes exit 0");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["summary"]["create"], 48, "6 templates + 6 groups + 2 records + 3 EKS add-ons + 1 access entry, twice; staging's 12 scheduled actions");
    assert_eq!(v["changes"], true);
    // Requests grow with pages, not with groups: per region one read of each kind (groups,
    // templates, the owners of the templates from their tags, default versions, instances,
    // subnets, images, the EKS cluster, the SSM
    // parameters of its images, the instance profile, names not found; its access entries (each
    // described) and add-ons, the versions of the declared add-ons, the scheduled actions, the
    // spot prices of the types), plus the zone.
    assert!(v["awsRequests"].as_u64().unwrap() <= 44, "{}", v["awsRequests"]);
}

#[test]
fn in_sync_drift_and_removal() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "in sync after apply:\n{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("AWS matches the code"));

    // Drift by hand, as in the console: a size, a tag removed, a record changed.
    moto.py(&format!(
        r#"
a = asg('eu-west-1')
g = a.describe_auto_scaling_groups(AutoScalingGroupNames=['spot-nodes-app-4x.{STAGING}'])['AutoScalingGroups'][0]
p = g['MixedInstancesPolicy']
spec = p['LaunchTemplate']['LaunchTemplateSpecification']
# moto erases the mixed-instances policy of an update that omits it (MOTO.md 3): send it whole.
a.update_auto_scaling_group(AutoScalingGroupName=g['AutoScalingGroupName'], MaxSize=3, MixedInstancesPolicy={{
    'LaunchTemplate': {{'LaunchTemplateSpecification': {{'LaunchTemplateName': spec['LaunchTemplateName'], 'Version': spec['Version']}},
                        'Overrides': p['LaunchTemplate']['Overrides']}},
    'InstancesDistribution': p['InstancesDistribution']}})
a.delete_tags(Tags=[{{'ResourceId': g['AutoScalingGroupName'], 'ResourceType': 'auto-scaling-group', 'Key': 'team'}}])
z = r53.list_hosted_zones_by_name(DNSName='k8s.foo.bar')['HostedZones'][0]['Id']
r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={{'Changes': [{{'Action': 'UPSERT', 'ResourceRecordSet': {{
    'Name': 'ingress.{STAGING}.', 'Type': 'A', 'TTL': 60, 'ResourceRecords': [{{'Value': '192.0.2.99'}}]}}}}]}})
"#
    ));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    insta::assert_snapshot!("plan_drift", scrub_ids(&stdout(&o)));

    // A group removed from the code is planned for deletion (and only that).
    std::fs::remove_file(repo.path().join("templates/5_dedicated-nodes.yaml.tpl")).unwrap();
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let deletes: Vec<String> = v["clusters"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| format!("{} {}", c["resourceType"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        deletes,
        vec![
            format!("launchTemplate prometheus-nodes.{STAGING}"),
            format!("autoScalingGroup prometheus-nodes.{STAGING}"),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
    );
}

#[test]
fn unmanaged_resources_are_never_touched() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    // Unmanaged groups: one with a similar name, one with exactly a declared name.
    moto.py(&format!(
        r#"
c = ec2('eu-west-1')
c.create_launch_template(LaunchTemplateName='legacy', LaunchTemplateData={{'ImageId': 'ami-760aaa0f', 'InstanceType': 't3.small'}})
sn = c.describe_subnets(Filters=[{{'Name': 'tag-key', 'Values': ['kubernetes.io/cluster/{STAGING}']}}])['Subnets'][0]['SubnetId']
for name in ['spot-nodes-app-4x.{STAGING}-old', 'admin-nodes.{STAGING}']:
    asg('eu-west-1').create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=1, DesiredCapacity=0,
        LaunchTemplate={{'LaunchTemplateName': 'legacy', 'Version': '1'}}, VPCZoneIdentifier=sn)
"#
    ));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 1, "a declared name taken by someone else is a conflict");
    let out = stdout(&o);
    assert!(!out.contains("-old"), "a similar unmanaged name never appears:\n{out}");
    assert!(out.contains(&format!("! conflict: auto scaling group admin-nodes.{STAGING}: exists but is not managed by fleetform")), "{out}");
    assert!(!out.contains(&format!("+ auto scaling group admin-nodes.{STAGING}")), "{out}");
    assert!(stderr(&o).contains("conflict"), "{}", stderr(&o));
    // And apply refuses to start: nothing is created.
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 1);
    let n = moto.py("print(len(asg('eu-west-1').describe_auto_scaling_groups()['AutoScalingGroups']))");
    assert_eq!(n.trim(), "2", "only the two unmanaged groups exist");
}

#[test]
fn missing_credentials_is_one_clear_error() {
    let moto = Moto::start();
    let repo = Repo::example();
    let o = moto
        .fleetform(&repo, None)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(["plan", "--cluster", STAGING])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains(&format!("error: cluster {STAGING}:")) && err.contains("no AWS credentials found; set AWS_PROFILE"), "{err}");
}

#[test]
fn refused_connection_names_the_endpoint() {
    let moto = Moto::start();
    let repo = Repo::example();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let o = moto.fleetform(&repo, Some(&closed)).env("AWS_MAX_ATTEMPTS", "2").args(["plan", "--all"]).output().unwrap();
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains(&format!("cannot reach AWS at {closed}")), "{err}");
    assert!(err.contains("cluster prod-customer.k8s.foo.bar") && err.contains("cluster staging.k8s.foo.bar"), "every cluster reports:\n{err}");
}

#[test]
fn one_cluster_failing_does_not_hide_the_others() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    // Staging's image does not exist in its region; production still plans.
    let o = moto.run(&repo, &["plan", "--all", "--set", "image=ami-0000000000000dead", "--output", "json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["clusters"].as_array().unwrap().len(), 2);
    assert!(v["clusters"].as_array().unwrap().iter().all(|c| c["ok"] == false));
    assert!(stderr(&o).contains("image ami-0000000000000dead was not found in eu-west-1 (node groups admin-nodes,"), "{}", stderr(&o));
}

#[test]
fn markdown_for_pull_requests_and_saved_plans() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    let o = moto.run(&repo, &["plan", "--all", "--output", "markdown"]);
    assert_eq!(code(&o), 0);
    let md = stdout(&o);
    assert!(md.starts_with("### fleetform plan\n\n| cluster | region | create |"), "{md}");
    assert!(md.contains("| <code>staging.k8s.foo.bar</code> | eu-west-1 | 30 | 2 | 0 | 0 | 0 | 0 |"), "{md}");
    assert!(md.contains("<details><summary><code>prod-customer.k8s.foo.bar</code>"), "{md}");
    assert!(!md.contains("sysctl"), "user data is hidden by default");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--show-sensitive"]);
    assert!(stdout(&o).contains("+sysctl -w vm.max_map_count=262144"), "{}", stdout(&o));

    let file = repo.path().join("staging.plan.json");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--out", file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["kind"], "fleetform-plan");
    assert_eq!(saved["clusters"][0]["plan"]["fingerprint"].as_str().unwrap().len(), 16);
}

#[test]
fn access_denied_and_unknown_subnets_are_named() {
    let mut moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    // An IAM policy without autoscaling:Describe*: one clear error naming the cluster, what was
    // read and the AWS code.
    let ep = moto.proxy(&["--deny", "--match", "Action=DescribeAutoScalingGroups"]);
    let o = moto.fleetform(&repo, Some(&ep)).args(["plan", "--cluster", STAGING]).output().unwrap();
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("error: cluster {STAGING}: reading Auto Scaling groups in eu-west-1: AWS error AccessDenied: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: autoscaling:DescribeAutoScalingGroups (check the IAM permissions")),
        "{err}"
    );
    // A subnet id that does not exist in the region.
    repo.replace("templates/1_cluster.yaml.tpl", "    zone: {{ zone }}", "    zone: {{ zone }}\n    id: subnet-0000000000000dead");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("subnet `eu-west-1a`: subnet subnet-0000000000000dead does not exist in eu-west-1"), "{}", stderr(&o));
}

#[test]
fn markdown_cannot_be_injected_by_a_value() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    let evil = "x\\n```\\n</details>\\n\\n**No changes. Safe to merge.**\\n\\n<details><summary>";
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--output", "markdown", "--set", &format!("team=\"{evil}\"")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let md = stdout(&o);
    // Outside code fences (where GitHub reads HTML and Markdown), only fleetform's own block.
    let fence = md.lines().find(|l| l.starts_with("```")).unwrap().trim_end_matches("diff").to_string();
    assert!(fence.starts_with("````"), "a fence longer than any backtick run in the value: {fence}");
    let mut outside = String::new();
    let mut inside = String::new();
    let mut in_fence = false;
    for l in md.lines() {
        if l.starts_with(&fence) {
            in_fence = !in_fence;
            continue;
        }
        if in_fence { inside.push_str(l) } else { outside.push_str(l) }
        if in_fence { inside.push('\n') } else { outside.push('\n') }
    }
    assert!(!in_fence, "every fence closed");
    assert_eq!(outside.matches("<details>").count(), 1, "only fleetform's own block opens:\n{md}");
    assert_eq!(outside.matches("</details>").count(), 1, "and closes:\n{md}");
    assert!(!outside.contains("Safe to merge"), "the text is never Markdown:\n{md}");
    assert!(inside.contains("**No changes. Safe to merge.**"), "it is code, shown as such:\n{md}");
}

/// A fleet of 12 clusters × 24 groups: the first plan's comment fits GitHub's limit and names
/// every cluster; after one cluster is applied and loses six groups, every deletion is named too.
#[test]
fn the_comment_of_a_twelve_cluster_fleet_fits_and_names_what_matters() {
    let moto = Moto::start();
    let clusters: Vec<String> = (0..12).map(|i| format!("c{i:02}.k8s.example.com")).collect();
    moto.py(&format!(
        r#"
c = ec2('eu-west-1')
s3.create_bucket(Bucket='fleet-state', CreateBucketConfiguration={{'LocationConstraint': 'eu-west-1'}})
vpc = c.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
for i, z in enumerate(['eu-west-1a', 'eu-west-1b']):
    c.create_subnet(VpcId=vpc, CidrBlock=f'10.0.{{i * 32}}.0/19', AvailabilityZone=z,
        TagSpecifications=[{{'ResourceType': 'subnet', 'Tags': [{{'Key': f'kubernetes.io/cluster/{{n}}', 'Value': 'shared'}} for n in {clusters:?}]}}])
"#
    ));
    let repo = Repo::empty();
    repo.write(
        "templates/1_cluster.yaml.tpl",
        "apiVersion: fleetform.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: {{ clusterName }}\nspec:\n  region: eu-west-1\n  stateStore: s3://fleet-state/{{ clusterName }}\n  subnets:\n  - {name: a, zone: eu-west-1a}\n  - {name: b, zone: eu-west-1b}\n  clusterAutoscaler: {expander: priority}\n",
    );
    repo.write(
        "templates/2_groups.yaml.tpl",
        "{% for i in range(end=groupCount) %}\n---\napiVersion: fleetform.io/v1alpha1\nkind: NodeGroup\nmetadata:\n  name: spot-{{ i }}\nspec:\n  role: Node\n  pool: app\n  image: ami-760aaa0f\n  machineType: c5.4xlarge\n  minSize: 0\n  maxSize: 20\n  subnets: [a, b]\n  autoscalePriority: 50\n  rootVolume: {size: 100, type: gp3, encryption: true}\n  mixedInstancesPolicy:\n    onDemandAboveBase: 0\n    spotAllocationStrategy: capacity-optimized\n    instances: [c5.4xlarge, c5d.4xlarge, c5n.4xlarge, c5a.4xlarge, c5ad.4xlarge, c6i.4xlarge, c6id.4xlarge, c6in.4xlarge, c6a.4xlarge, c7i.4xlarge, c7a.4xlarge, m5.4xlarge]\n  nodeLabels: {pool: app, lifecycle: spot}\n  cloudLabels: {team: platform, cost-center: fleet}\n{% endfor %}\n",
    );
    repo.write("vars/_defaults.yaml", "groupCount: 24\n");
    for c in &clusters {
        repo.write(&format!("vars/{c}.yaml"), "{}\n");
    }
    let budget = 60_000;
    // Without a budget (what the comment would be): far over GitHub's limit.
    let whole = stdout(&moto.run(&repo, &["plan", "--all", "--output", "markdown", "--comment-budget", "100000000"])).chars().count();
    assert!(whole > 65_536, "{whole} characters unbudgeted");
    let o = moto.run(&repo, &["plan", "--all", "--output", "markdown"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let md = stdout(&o);
    eprintln!("12 x 24 fleet, first plan: {whole} characters unbudgeted, {} within the default budget", md.chars().count());
    assert!(md.chars().count() <= budget, "{} characters", md.chars().count());
    for c in &clusters {
        assert!(md.contains(&format!("| <code>{c}</code> | eu-west-1 | 48 |")), "{c} in the table");
    }
    assert!(md.contains("Not shown, to stay within the comment's 60000 characters"), "what did not fit is counted: {}", &md[md.len().saturating_sub(600)..]);
    assert!(md.contains("(resources only: the fields are in the job's output)"), "a cluster too long whole is shown by resource");

    // One cluster applied, then six of its groups removed: deletions come first, all of them.
    let o = moto.run(&repo, &["apply", "--cluster", &clusters[0], "--yes", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    repo.write(&format!("vars/{}.yaml", clusters[0]), "groupCount: 18\n");
    let o = moto.run(&repo, &["plan", "--all", "--output", "markdown", "--comment-budget", &budget.to_string()]);
    let md = stdout(&o);
    assert!(md.chars().count() <= budget, "{} characters", md.chars().count());
    for i in 18..24 {
        for kind in ["auto scaling group", "launch template"] {
            let want = format!("<code>c00.k8s.example.com</code>: **delete** {kind} <code>spot-{i}.c00.k8s.example.com</code>");
            assert!(md.contains(&want), "{want} in\n{}", &md[..md.len().min(4000)]);
        }
    }
    // A small budget still names every cluster and every deletion.
    let o = moto.run(&repo, &["plan", "--all", "--output", "markdown", "--comment-budget", "4500"]);
    let md = stdout(&o);
    assert!(md.chars().count() <= 4500, "{} characters", md.chars().count());
    assert_eq!(md.matches("**delete**").count(), 12, "{md}");
    assert_eq!(md.matches("| eu-west-1 |").count(), 12, "{md}");
    assert!(md.contains("Not shown, to stay within the comment's 4500 characters:"), "{md}");
    // Smaller than what must be named: counted per cluster, and the run says so.
    let o = moto.run(&repo, &["plan", "--all", "--output", "markdown", "--comment-budget", "2500"]);
    let md = stdout(&o);
    assert!(md.contains("<code>c00.k8s.example.com</code>: 12 deletion(s), conflict(s) or warning(s)"), "{md}");
    assert!(stderr(&o).contains("the deletions, conflicts and warnings alone exceed --comment-budget 2500"), "{}", stderr(&o));
}

/// A region holding more launch templates than a page (200) and more than the emulator's
/// default page (100): every page is read, so the cluster is in sync, and the templates of a
/// cluster without a vars file are all counted as its orphans.
#[test]
fn more_than_a_page_of_launch_templates_in_a_region() {
    let (moto, repo) = example_setup();
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    moto.py(
        r#"
c = ec2('eu-west-1')
for i in range(230):
    c.create_launch_template(LaunchTemplateName=f'nodes-{i}.old.k8s.foo.bar', LaunchTemplateData={'ImageId': 'ami-760aaa0f'},
        TagSpecifications=[{'ResourceType': 'launch-template', 'Tags': [{'Key': 'fleetform.io/cluster', 'Value': 'old.k8s.foo.bar'}]}])
"#,
    );
    let o = moto.run(&repo, &["plan", "--all", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    let staging = json["clusters"].as_array().unwrap().iter().find(|c| c["name"] == STAGING).unwrap().clone();
    assert_eq!(staging["conflicts"], serde_json::json!([]), "{staging}");
    assert_eq!(staging["steps"], serde_json::json!([]), "in sync: {staging}");
    assert_eq!(json["orphans"], serde_json::json!([{"cluster": "old.k8s.foo.bar", "region": "eu-west-1", "resources": 230}]));
}

/// A cluster without a vars file whose launch templates were deleted by hand: its groups still
/// run instances, and those say whose they are, so the plan of every cluster still counts its
/// groups as orphans (its templates are looked for too, and none is found).
#[test]
fn an_orphaned_group_whose_template_was_deleted_by_hand_is_still_counted() {
    let (moto, repo) = example_setup();
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    moto.py(
        r#"
c, a = ec2('eu-west-1'), asg('eu-west-1')
subnet = c.describe_subnets(Filters=[{'Name': 'tag-key', 'Values': ['kubernetes.io/cluster/staging.k8s.foo.bar']}])['Subnets'][0]
for g in ['nodes', 'spot']:
    name = f'{g}.gone.k8s.foo.bar'
    lt = c.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={'ImageId': 'ami-760aaa0f', 'InstanceType': 't3.small'},
        TagSpecifications=[{'ResourceType': 'launch-template', 'Tags': [{'Key': 'fleetform.io/cluster', 'Value': 'gone.k8s.foo.bar'}]}])['LaunchTemplate']
    a.create_auto_scaling_group(AutoScalingGroupName=name, LaunchTemplate={'LaunchTemplateName': name, 'Version': '$Default'},
        MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=subnet['SubnetId'],
        Tags=[{'Key': 'fleetform.io/cluster', 'Value': 'gone.k8s.foo.bar', 'PropagateAtLaunch': True}])
    c.delete_launch_template(LaunchTemplateName=name)
    # AWS forgets a deleted template's tags; moto keeps them: drop them as AWS would, so that
    # only the instances say whose the groups are.
    c.delete_tags(Resources=[lt['LaunchTemplateId']], Tags=[{'Key': 'fleetform.io/cluster'}])
assert not c.describe_tags(Filters=[{'Name': 'resource-type', 'Values': ['launch-template']}, {'Name': 'value', 'Values': ['gone.k8s.foo.bar']}])['Tags']
"#,
    );
    let o = moto.run(&repo, &["plan", "--all", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    assert_eq!(json["orphans"], serde_json::json!([{"cluster": "gone.k8s.foo.bar", "region": "eu-west-1", "resources": 2}]), "{json}");
    let staging = json["clusters"].as_array().unwrap().iter().find(|c| c["name"] == STAGING).unwrap().clone();
    assert_eq!(staging["steps"], serde_json::json!([]), "in sync: {staging}");
}
