//! Adoption against the emulator: a group and launch template made by kops under the name
//! fleetform declares (`<group>.<cluster>`, kops's tags) are a conflict until `--adopt`, then
//! tagged as the cluster's and updated like any other; the next plan is empty. A group carrying
//! the cluster's autoscaler discovery tag without being declared is reported.

use crate::aws::{example_setup, Moto};
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";
const ADMIN: &str = "admin-nodes.staging.k8s.foo.bar";

/// What kops would have made: the admin group and its launch template, with kops's tags; and a
/// legacy group the autoscaler discovers for this cluster.
fn kops_made(moto: &Moto) {
    moto.py(&format!(
        r#"
c, a = ec2('eu-west-1'), asg('eu-west-1')
subnets = [s['SubnetId'] for s in c.describe_subnets(Filters=[{{'Name': 'tag-key', 'Values': ['kubernetes.io/cluster/{STAGING}']}}])['Subnets']]
kops = [{{'Key': 'KubernetesCluster', 'Value': '{STAGING}'}}, {{'Key': 'kops.k8s.io/instancegroup', 'Value': 'admin-nodes'}}]
for name in ['{ADMIN}', 'legacy-nodes.{STAGING}']:
    c.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={{'ImageId': 'ami-760aaa0f', 'InstanceType': 'm5.large'}},
        TagSpecifications=[{{'ResourceType': 'launch-template', 'Tags': kops}}])
    tags = kops + ([{{'Key': 'k8s.io/cluster-autoscaler/{STAGING}', 'Value': 'owned'}}] if name.startswith('legacy') else [])
    a.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=2, MaxSize=3, DesiredCapacity=2, VPCZoneIdentifier=','.join(subnets),
        LaunchTemplate={{'LaunchTemplateName': name, 'Version': '1'}},
        Tags=[dict(t, ResourceId=name, ResourceType='auto-scaling-group', PropagateAtLaunch=True) for t in tags])
"#
    ));
}

fn admin(moto: &Moto) -> serde_json::Value {
    serde_json::from_str(&moto.py(&format!(
        r#"
c, a = ec2('eu-west-1'), asg('eu-west-1')
g = a.describe_auto_scaling_groups(AutoScalingGroupNames=['{ADMIN}'])['AutoScalingGroups'][0]
t = c.describe_launch_templates(LaunchTemplateNames=['{ADMIN}'])['LaunchTemplates'][0]
spec = g.get('LaunchTemplate') or g['MixedInstancesPolicy']['LaunchTemplate']['LaunchTemplateSpecification']
print(json.dumps({{'groupTags': {{x['Key']: x['Value'] for x in g['Tags']}}, 'templateTags': {{x['Key']: x['Value'] for x in t.get('Tags', [])}},
  'version': spec['Version'], 'latest': t['LatestVersionNumber'], 'min': g['MinSize'], 'max': g['MaxSize']}}))
"#
    )))
    .unwrap()
}

#[test]
fn kops_groups_are_a_conflict_until_adopted_then_tagged_updated_and_the_plan_is_empty() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    kops_made(&moto);
    let before = admin(&moto);

    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("! conflict: launch template {ADMIN}: exists but is not managed by fleetform (no fleetform.io/cluster tag), e.g. kops's; fleetform takes it over only when asked: plan and apply with --adopt")), "{out}");
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 1);
    assert_eq!(admin(&moto), before, "nothing adopted without being asked");

    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--adopt"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        format!("~ launch template {ADMIN}"),
        "# adopted: it exists without fleetform's tags; from now on it is this cluster's".to_string(),
        format!("~ auto scaling group {ADMIN}"),
        "# adopted: it exists without fleetform's tags; this update tags it as this cluster's".to_string(),
        format!("note: auto scaling group legacy-nodes.{STAGING} is not this cluster's but carries its cluster-autoscaler discovery tag"),
    ] {
        assert!(out.contains(&want), "`{want}` in\n{out}");
    }

    let o = apply(&moto, &repo, &["--adopt"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = admin(&moto);
    assert_eq!(after["templateTags"]["fleetform.io/cluster"], STAGING);
    assert_eq!(after["groupTags"]["fleetform.io/cluster"], STAGING);
    assert!(after["groupTags"].get("kops.k8s.io/instancegroup").is_none(), "undeclared tags of the adopted group go: {after}");
    assert_eq!((after["version"].as_str(), after["latest"].as_i64()), (Some("2"), Some(2)), "a new version with the declared data: {after}");
    assert_eq!((after["min"].as_i64(), after["max"].as_i64()), (Some(2), Some(3)));
    // Adopted: owned from now on, no --adopt needed; the plan is empty.
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("A rolling update would replace 2 instance(s)"), "kops's instances are replaced by the next roll: {}", stdout(&o));
}

fn apply(moto: &Moto, repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s"];
    args.extend_from_slice(extra);
    moto.run(repo, &args)
}

/// plan reads groups by the names of the clusters it plans; a declared name that another
/// fleetform cluster (not in the run) holds is read by name, and its own tag says whose it
/// is: a conflict naming that cluster, never something --adopt takes.
#[test]
fn a_name_another_fleetform_cluster_holds_is_never_adopted() {
    let (moto, repo) = example_setup();
    moto.py(&format!(
        r#"
c, a = ec2('eu-west-1'), asg('eu-west-1')
subnets = [s['SubnetId'] for s in c.describe_subnets(Filters=[{{'Name': 'tag-key', 'Values': ['kubernetes.io/cluster/{STAGING}']}}])['Subnets']]
theirs = [{{'Key': 'fleetform.io/cluster', 'Value': 'other.k8s.foo.bar'}}]
c.create_launch_template(LaunchTemplateName='theirs', LaunchTemplateData={{'ImageId': 'ami-760aaa0f', 'InstanceType': 'm5.large'}})
# Another declared group's template name, held by that cluster (which has no vars file here).
c.create_launch_template(LaunchTemplateName='prometheus-nodes.{STAGING}', LaunchTemplateData={{'ImageId': 'ami-760aaa0f', 'InstanceType': 'm5.large'}},
    TagSpecifications=[{{'ResourceType': 'launch-template', 'Tags': theirs}}])
a.create_auto_scaling_group(AutoScalingGroupName='{ADMIN}', MinSize=0, MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=','.join(subnets),
    LaunchTemplate={{'LaunchTemplateName': 'theirs', 'Version': '1'}},
    Tags=[dict(t, ResourceId='{ADMIN}', ResourceType='auto-scaling-group', PropagateAtLaunch=False) for t in theirs])
"#
    ));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--adopt"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    // Only the group: its launch template is another name, so the group is not found by any
    // scan of this cluster's and is read by its name.
    assert!(out.contains(&format!("! conflict: auto scaling group {ADMIN}")) && out.contains("other.k8s.foo.bar"), "{out}");
    // The template: not among this cluster's (read by its cluster tag), read by its name, and
    // its tag names the cluster that holds it.
    let line = out.lines().find(|l| l.contains(&format!("! conflict: launch template prometheus-nodes.{STAGING}"))).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("other.k8s.foo.bar"), "{line}");
    assert!(!out.contains("# adopted"), "another fleetform cluster's resources are not adoptable:\n{out}");
}
