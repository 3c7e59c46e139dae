//! `destroy` and orphans against the emulator: everything a cluster owns goes (instances drained
//! first through the drain hook), nothing another cluster or a person owns is touched, from the
//! vars file or from AWS alone, refused without the typed name, and killed midway it finishes
//! when run again. Everything read back with boto3.

use std::time::{Duration, Instant};

use crate::aws::{python, Moto};
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";
const PROD: &str = "prod-customer.k8s.foo.bar";

/// Both example clusters applied, with a drain hook that records each call.
fn setup(drain_sleep: &str) -> (Moto, Repo) {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    let py = python().display().to_string();
    repo.write(
        "vars/_zz-test.yaml",
        &format!(
            r#"hooks:
  drain: >-
    {drain_sleep}{py} -c "import os; open('hooks.log', 'a').write(f'drain {{os.environ[\"FLEETFORM_GROUP\"]}} {{os.environ[\"FLEETFORM_INSTANCE_ID\"]}} {{os.environ[\"FLEETFORM_NODE\"]}}\n')"
  validate: "true"
"#
        ),
    );
    let o = moto.run(&repo, &["apply", "--all", "--yes", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (moto, repo)
}

/// What each cluster owns, as boto3 sees it: groups, templates, running instances, records,
/// EKS access entries and whether its control plane exists.
fn owned(moto: &Moto, cluster: &str, region: &str) -> serde_json::Value {
    let eks = cluster.replace('.', "-");
    serde_json::from_str(&moto.py(&format!(
        r#"
a, c = asg('{region}'), ec2('{region}')
owner = lambda tags: {{t['Key']: t['Value'] for t in tags}}.get('fleetform.io/cluster')
groups = sorted(g['AutoScalingGroupName'] for g in a.describe_auto_scaling_groups()['AutoScalingGroups'] if owner(g['Tags']) == '{cluster}')
lts = sorted(t['LaunchTemplateName'] for t in c.describe_launch_templates()['LaunchTemplates'] if owner(t.get('Tags', [])) == '{cluster}')
inst = sorted(i['InstanceId'] for r in c.describe_instances(Filters=[{{'Name': 'instance-state-name', 'Values': ['pending', 'running']}}, {{'Name': 'tag:fleetform.io/cluster', 'Values': ['{cluster}']}}])['Reservations'] for i in r['Instances'])
zone = r53.list_hosted_zones_by_name(DNSName='k8s.foo.bar')['HostedZones'][0]['Id']
records = sorted(r['Name'] for r in r53.list_resource_record_sets(HostedZoneId=zone)['ResourceRecordSets'] if '{cluster}.' in r['Name'])
e = eks('{region}')
try:
    e.describe_cluster(name='{eks}')
    cp = True
    entries = sorted(e.list_access_entries(clusterName='{eks}')['accessEntries'])
except e.exceptions.ResourceNotFoundException:
    cp, entries = False, []
print(json.dumps({{'groups': groups, 'templates': lts, 'instances': inst, 'records': records, 'controlPlane': cp, 'entries': entries}}))
"#
    )))
    .unwrap()
}

fn hooks_log(repo: &Repo) -> String {
    std::fs::read_to_string(repo.path().join("hooks.log")).unwrap_or_default()
}

fn destroy(moto: &Moto, repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["destroy", "--cluster", STAGING, "--poll-interval", "0.1s"];
    args.extend_from_slice(extra);
    moto.run(repo, &args)
}

#[test]
fn destroy_drains_each_instance_then_deletes_what_the_cluster_owns_and_nothing_else() {
    let (moto, repo) = setup("");
    let before = owned(&moto, STAGING, "eu-west-1");
    let prod_before = owned(&moto, PROD, "eu-west-3");
    assert_eq!(before["groups"].as_array().unwrap().len(), 6);
    assert_eq!(before["instances"].as_array().unwrap().len(), 3);

    let o = destroy(&moto, &repo, &["--yes", "--confirm", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Destroy cluster staging.k8s.foo.bar (eu-west-1): 3 instance(s) to drain and terminate, 15 resource(s) to delete"), "{out}");
    assert!(out.contains("kept: EKS control plane staging-k8s-foo-bar (Kubernetes 1.31): pass --include-control-plane"), "{out}");
    assert!(stderr(&o).contains("Destroyed staging.k8s.foo.bar: 3 instance(s) terminated, 15 resource(s) deleted"), "{}", stderr(&o));

    // Each instance drained once, with its node name, before it went.
    let log = hooks_log(&repo);
    for id in before["instances"].as_array().unwrap() {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(id.as_str().unwrap())).collect();
        assert_eq!(lines.len(), 1, "{id} drained once:\n{log}");
        assert!(lines[0].split(' ').nth(3).is_some_and(|n| n.starts_with("ip-")), "with its node name: {}", lines[0]);
    }
    let after = owned(&moto, STAGING, "eu-west-1");
    assert_eq!(
        after,
        serde_json::json!({"groups": [], "templates": [], "instances": [], "records": [], "controlPlane": true, "entries": ["arn:aws:iam::123456789012:root"]}),
        "everything staging owned is gone; the control plane and the entry fleetform did not make stay"
    );
    assert_eq!(owned(&moto, PROD, "eu-west-3"), prod_before, "production untouched");
    // Recorded, and the lock released.
    let o = moto.run(&repo, &["history", "--cluster", STAGING]);
    let last = stdout(&o).lines().last().unwrap().to_string();
    assert!(last.contains("destroy") && last.contains("0 created, 0 updated, 18 deleted"), "{}", stdout(&o));
    // Every cluster's trail, merged by time: both applies, then the destroy.
    let o = moto.run(&repo, &["history", "--all"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().any(|l| l.contains(PROD) && l.contains(" apply ")), "{lines:?}");
    assert!(lines[2].contains(STAGING) && lines[2].contains(" destroy "), "the destroy is the latest: {lines:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&moto.run(&repo, &["history", "--all", "--output", "json"]))).unwrap();
    assert_eq!(v["clusters"].as_array().map(Vec::len), Some(2), "{v}");
    // Nothing left: a second destroy has nothing to do.
    let o = destroy(&moto, &repo, &["--yes", "--confirm", STAGING]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("owns nothing on AWS: nothing to destroy"), "{}", stdout(&o));
}

#[test]
fn destroy_is_refused_without_the_cluster_name_typed_and_changes_nothing() {
    let (moto, repo) = setup("");
    let before = owned(&moto, STAGING, "eu-west-1");
    for (args, want) in [
        (vec!["--yes"], "with --yes, destroy also needs the cluster's name again: --confirm staging.k8s.foo.bar"),
        (vec!["--yes", "--confirm", PROD], "--confirm names `prod-customer.k8s.foo.bar`, not `staging.k8s.foo.bar`"),
        (vec![], "there is no terminal to type the cluster's name; in CI pass --yes --confirm staging.k8s.foo.bar"),
    ] {
        let o = destroy(&moto, &repo, &args);
        assert_eq!(code(&o), 1, "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(owned(&moto, STAGING, "eu-west-1"), before, "nothing changed");
    assert!(hooks_log(&repo).is_empty(), "nothing drained");
    let o = moto.run(&repo, &["destroy", "--cluster", STAGING, "--region", "eu-west-1", "--yes", "--confirm", STAGING]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("--region is for a cluster whose vars file is gone"), "{}", stderr(&o));
}

#[test]
fn a_cluster_whose_vars_file_is_gone_is_reported_then_destroyed_from_what_aws_says_it_owns() {
    let (moto, repo) = setup("");
    // A sandbox beside staging in eu-west-1, created from empty (its control plane too).
    const SANDBOX: &str = "sandbox.k8s.foo.bar";
    moto.py(&format!(
        "c = ec2('eu-west-1')\nfor s in c.describe_subnets(Filters=[{{'Name': 'tag-key', 'Values': ['kubernetes.io/cluster/{STAGING}']}}])['Subnets']:\n    c.create_tags(Resources=[s['SubnetId']], Tags=[{{'Key': 'kubernetes.io/cluster/{SANDBOX}', 'Value': 'shared'}}])"
    ));
    repo.write(&format!("vars/{SANDBOX}.yaml"), &repo.read(&format!("vars/{STAGING}.yaml")));
    let o = moto.run(&repo, &["apply", "--cluster", SANDBOX, "--yes", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Its vars file removed: the next plan of every cluster says what it left behind.
    std::fs::remove_file(repo.path().join(format!("vars/{SANDBOX}.yaml"))).unwrap();
    let o = moto.run(&repo, &["plan", "--all", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("! cluster sandbox.k8s.foo.bar owns 12 resource(s) in eu-west-1 and has no vars file: restore vars/sandbox.k8s.foo.bar.yaml, or delete them with `fleetform destroy --cluster sandbox.k8s.foo.bar --region eu-west-1 --state-store s3://<its bucket>/<prefix>`"),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&moto.run(&repo, &["plan", "--all", "--output", "json"]))).unwrap();
    assert_eq!(json["orphans"], serde_json::json!([{"cluster": SANDBOX, "region": "eu-west-1", "resources": 12}]));
    assert_eq!(json["changes"], true);

    // destroy without the vars file: the region and state store from the command line.
    let sandbox = |extra: &[&str]| {
        let mut args = vec!["destroy", "--cluster", SANDBOX, "--poll-interval", "0.1s", "--yes", "--confirm", SANDBOX];
        args.extend_from_slice(extra);
        moto.run(&repo, &args)
    };
    let o = sandbox(&[]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("has no vars file (vars/sandbox.k8s.foo.bar.yaml): to destroy what AWS says it owns, give the region"), "{}", stderr(&o));
    let args = ["--region", "eu-west-1", "--state-store", "s3://foo-bar-fleet-state/sandbox.k8s.foo.bar", "--include-control-plane"];
    let o = sandbox(&args);
    assert_eq!(code(&o), 1, "no drain hook is known without the vars file");
    assert!(stderr(&o).contains("its vars file is gone, so its hooks are unknown). Pass --skip-drain"), "{}", stderr(&o));
    let mut with_skip = args.to_vec();
    with_skip.push("--skip-drain");
    let staging_before = owned(&moto, STAGING, "eu-west-1");
    let o = sandbox(&with_skip);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        owned(&moto, SANDBOX, "eu-west-1"),
        serde_json::json!({"groups": [], "templates": [], "instances": [], "records": [], "controlPlane": false, "entries": []}),
        "its records found in the zone holding its ownership records; its control plane (tagged with its name) deleted"
    );
    assert_eq!(owned(&moto, STAGING, "eu-west-1"), staging_before, "staging, in the same region and zone, untouched");
    // No orphan left, though the emulator still lists the deleted templates' tags (AWS forgets
    // them, possibly a moment later): what a cluster owns is counted from what is read.
    let tags = moto.py(&format!("print(len(ec2('eu-west-1').describe_tags(Filters=[{{'Name': 'resource-type', 'Values': ['launch-template']}}, {{'Name': 'value', 'Values': ['{SANDBOX}']}}])['Tags']))"));
    assert_ne!(tags.trim(), "0", "the case this checks: tags outliving their templates");
    let o = moto.run(&repo, &["plan", "--all", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "no orphan left: {}", stdout(&o));
}

#[test]
fn a_destroy_killed_midway_finishes_when_run_again() {
    let (moto, repo) = setup("sleep 0.3; ");
    let before = owned(&moto, STAGING, "eu-west-1");
    let mut child = moto.spawn(&repo, &["destroy", "--cluster", STAGING, "--yes", "--confirm", STAGING, "--poll-interval", "0.1s"], false);
    let start = Instant::now();
    while !hooks_log(&repo).contains("drain") {
        assert!(start.elapsed() < Duration::from_secs(60), "no drain within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    moto.break_stale_lock(&repo, STAGING);
    let o = destroy(&moto, &repo, &["--yes", "--confirm", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = owned(&moto, STAGING, "eu-west-1");
    assert_eq!(
        after,
        serde_json::json!({"groups": [], "templates": [], "instances": [], "records": [], "controlPlane": true, "entries": ["arn:aws:iam::123456789012:root"]}),
        "all it owned gone after the re-run"
    );
    // Both runs are in the audit trail: the killed one could not write its record (SIGKILL),
    // the re-run's is there.
    let o = moto.run(&repo, &["history", "--cluster", STAGING]);
    assert!(stdout(&o).lines().last().unwrap().contains(" deleted"), "{}", stdout(&o));
    // Every instance was drained before it went (the one the kill caught maybe twice).
    let log = hooks_log(&repo);
    for id in before["instances"].as_array().unwrap() {
        assert!(log.contains(id.as_str().unwrap()), "{id} drained:\n{log}");
    }
}
