//! `apply`, `unlock` and `history` against the local AWS emulator, read back with boto3.

use std::time::Duration;

use crate::aws::Moto;
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";

use crate::aws::{apply_staging as apply, example_setup as setup};

fn in_sync(moto: &Moto, repo: &Repo) {
    let o = moto.run(repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "plan after apply must be empty:\n{}{}", stdout(&o), stderr(&o));
}

/// Every group of staging as boto3 sees it: name → (min, max, version, policy, tags).
const READ_GROUPS: &str = r#"
out = {}
for g in asg('eu-west-1').describe_auto_scaling_groups()['AutoScalingGroups']:
    p = g.get('MixedInstancesPolicy')
    spec = (p['LaunchTemplate']['LaunchTemplateSpecification'] if p else g['LaunchTemplate'])
    out[g['AutoScalingGroupName']] = {
        'min': g['MinSize'], 'max': g['MaxSize'], 'lt': spec['LaunchTemplateName'], 'version': spec['Version'],
        'types': [o['InstanceType'] for o in p['LaunchTemplate'].get('Overrides', [])] if p else None,
        'dist': p['InstancesDistribution'] if p else None,
        'rebalance': g.get('CapacityRebalance'),
        'tags': {t['Key']: [t['Value'], t['PropagateAtLaunch']] for t in g['Tags']},
    }
print(json.dumps(out, sort_keys=True))
"#;

fn groups(moto: &Moto) -> serde_json::Value {
    serde_json::from_str(&moto.py(READ_GROUPS)).unwrap()
}

#[test]
fn create_from_empty_round_trips_every_field() {
    let (moto, repo) = setup();
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // 6 templates, 6 groups, 2 records, the 12 scheduled actions of staging's nights off; on
    // the control plane the example's cluster was made without: 3 add-ons and the node role's
    // access entry, logging and tags.
    assert!(stderr(&o).contains("Applied staging.k8s.foo.bar: 30 created, 2 updated, 0 deleted"), "{}", stderr(&o));
    in_sync(&moto, &repo);

    let g = groups(&moto);
    assert_eq!(g.as_object().unwrap().len(), 6);
    let spot = &g[format!("spot-nodes-app-4x.{STAGING}")];
    assert_eq!((spot["min"].as_i64(), spot["max"].as_i64()), (Some(0), Some(10)));
    assert_eq!(spot["version"], "1");
    assert_eq!(spot["types"].as_array().unwrap().len(), 11);
    assert_eq!(spot["types"][0], "c5.4xlarge");
    assert_eq!(spot["dist"]["OnDemandBaseCapacity"], 0);
    assert_eq!(spot["dist"]["OnDemandPercentageAboveBaseCapacity"], 0);
    assert_eq!(spot["dist"]["SpotAllocationStrategy"], "capacity-optimized");
    assert_eq!(spot["rebalance"], true);
    let tags = &spot["tags"];
    for (k, v, propagate) in [
        ("k8s.io/cluster-autoscaler/enabled", "true", false),
        (&format!("k8s.io/cluster-autoscaler/{STAGING}")[..], "owned", false),
        ("k8s.io/cluster-autoscaler/node-template/label/lifecycle", "spot", false),
        ("k8s.io/cluster-autoscaler/node-template/label/pool", "app", false),
        ("fleetform.io/cluster", STAGING, true),
        ("fleetform.io/managed-by", "fleetform", true),
        (&format!("kubernetes.io/cluster/{STAGING}")[..], "owned", true),
        ("team", "platform", true),
        ("environment", "staging", true),
        ("pool", "app", true),
    ] {
        assert_eq!(tags[k], serde_json::json!([v, propagate]), "tag {k}");
    }
    let prom = &g[format!("prometheus-nodes.{STAGING}")];
    assert_eq!(prom["tags"]["k8s.io/cluster-autoscaler/node-template/taint/dedicated"], serde_json::json!(["prometheus:NoSchedule", false]));
    assert!(prom["types"].is_null(), "an on-demand group without a policy uses the template directly");
    let admin = &g[format!("admin-nodes.{STAGING}")];
    assert!(admin["tags"].get("k8s.io/cluster-autoscaler/enabled").is_none(), "autoscale: false groups are not discovered");

    // The launch templates, as EC2 holds them.
    let lt = moto.py(&format!(
        r#"
import base64
c = ec2('eu-west-1')
t = c.describe_launch_templates(LaunchTemplateNames=['spot-nodes-app-4x.{STAGING}'])['LaunchTemplates'][0]
v = c.describe_launch_template_versions(LaunchTemplateId=t['LaunchTemplateId'], Versions=['$Default'])['LaunchTemplateVersions'][0]
d = v['LaunchTemplateData']
bd = d['BlockDeviceMappings'][0]
print(json.dumps({{'default': t['DefaultVersionNumber'], 'latest': t['LatestVersionNumber'], 'image': d['ImageId'], 'type': d['InstanceType'],
  'tags': {{x['Key']: x['Value'] for x in t.get('Tags', [])}}, 'device': bd['DeviceName'], 'size': bd['Ebs']['VolumeSize'],
  'vtype': bd['Ebs']['VolumeType'], 'encrypted': bd['Ebs']['Encrypted'], 'tokens': d['MetadataOptions']['HttpTokens'],
  'userdata': base64.b64decode(d['UserData']).decode()}}, sort_keys=True))
"#
    ));
    let lt: serde_json::Value = serde_json::from_str(&lt).unwrap();
    assert_eq!((lt["default"].as_i64(), lt["latest"].as_i64()), (Some(1), Some(1)));
    assert_eq!(lt["image"], "ami-760aaa0f");
    assert_eq!(lt["type"], "c5.4xlarge");
    assert_eq!(lt["tags"]["fleetform.io/cluster"], STAGING);
    assert_eq!((lt["device"].as_str(), lt["size"].as_i64(), lt["vtype"].as_str()), (Some("/dev/xvda"), Some(100), Some("gp3")));
    assert_eq!(lt["encrypted"], true);
    assert_eq!(lt["tokens"], "required");
    assert!(lt["userdata"].as_str().unwrap().contains("sysctl -w vm.max_map_count=262144"));

    // Records, with their ownership records; the audit trail; no lock left behind.
    let dns = moto.py(
        r#"
z = r53.list_hosted_zones_by_name(DNSName='k8s.foo.bar')['HostedZones'][0]['Id']
rs = r53.list_resource_record_sets(HostedZoneId=z)['ResourceRecordSets']
print(json.dumps(sorted([r['Name'], r['Type'], [x['Value'] for x in r.get('ResourceRecords', [])]] for r in rs if 'staging' in r['Name'])))
keys = [o['Key'] for o in s3.list_objects_v2(Bucket='foo-bar-fleet-state').get('Contents', [])]
print(json.dumps(keys))
"#,
    );
    let mut lines = dns.lines();
    let records: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        records,
        serde_json::json!([
            ["_fleetform.api.staging.k8s.foo.bar.", "TXT", ["\"heritage=fleetform,cluster=staging.k8s.foo.bar\""]],
            ["_fleetform.ingress.staging.k8s.foo.bar.", "TXT", ["\"heritage=fleetform,cluster=staging.k8s.foo.bar\""]],
            ["api.staging.k8s.foo.bar.", "CNAME", ["api-staging-0987654321.eu-west-1.elb.amazonaws.com."]],
            ["ingress.staging.k8s.foo.bar.", "A", ["203.0.113.20"]]
        ])
    );
    let keys: Vec<String> = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert!(!keys.iter().any(|k| k.ends_with("lock.json")), "lock released: {keys:?}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("staging.k8s.foo.bar/fleetform/history/")).count(), 1, "{keys:?}");
    let o = moto.run(&repo, &["history", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("ok          ") && stdout(&o).contains("30 created, 2 updated, 0 deleted"), "{}", stdout(&o));
}

#[test]
fn one_changed_value_changes_exactly_that_field() {
    let (moto, repo) = setup();
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    let before = groups(&moto);
    let o = apply(&moto, &repo, &["--set", "spot.maxSize=12"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The two groups, and their schedules' up actions (which bring the declared sizes back).
    assert!(stderr(&o).contains("0 created, 4 updated, 0 deleted"), "{}", stderr(&o));
    let after = groups(&moto);
    for (name, b) in before.as_object().unwrap() {
        let mut want = b.clone();
        if name.starts_with("spot-nodes-") {
            want["max"] = 12.into();
        }
        assert_eq!(after[name], want, "{name}");
    }
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode", "--set", "spot.maxSize=12"]);
    assert_eq!(code(&o), 0);

    // An image change: a new template version, made the default, and the group moved onto it.
    let o = apply(&moto, &repo, &["--set", "spot.maxSize=12", "--set", "prometheus.machineType=r5.4xlarge"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = moto.py(&format!(
        "t = ec2('eu-west-1').describe_launch_templates(LaunchTemplateNames=['prometheus-nodes.{STAGING}'])['LaunchTemplates'][0]\nprint(t['DefaultVersionNumber'], t['LatestVersionNumber'])"
    ));
    assert_eq!(v.trim(), "2 2");
    assert_eq!(groups(&moto)[format!("prometheus-nodes.{STAGING}")]["version"], "2");
}

#[test]
fn deletion_needs_allow_delete() {
    let (moto, repo) = setup();
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    std::fs::remove_file(repo.path().join("templates/5_dedicated-nodes.yaml.tpl")).unwrap();
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("not deleted: auto scaling group prometheus-nodes.{STAGING} (no longer declared; pass --allow-delete")), "{}", stderr(&o));
    assert!(groups(&moto).get(format!("prometheus-nodes.{STAGING}")).is_some(), "still there");
    let o = apply(&moto, &repo, &["--allow-delete"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(groups(&moto).get(format!("prometheus-nodes.{STAGING}")).is_none());
    let n = moto.py(&format!("print(len(ec2('eu-west-1').describe_launch_templates(Filters=[{{'Name': 'launch-template-name', 'Values': ['prometheus-nodes.{STAGING}']}}])['LaunchTemplates']))"));
    assert_eq!(n.trim(), "0");
    in_sync(&moto, &repo);
}

#[test]
fn saved_plans_apply_exactly_or_are_refused_when_stale() {
    let (moto, repo) = setup();
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    let file = repo.path().join("p.json");
    let f = file.to_str().unwrap();
    assert_eq!(code(&moto.run(&repo, &["plan", "--cluster", STAGING, "--set", "spot.maxSize=12", "--out", f])), 0);
    // Someone changes a group by hand in between: the plan is stale.
    moto.py(&format!("asg('eu-west-1').update_auto_scaling_group(AutoScalingGroupName='admin-nodes.{STAGING}', MaxSize=9, LaunchTemplate={{'LaunchTemplateName': 'admin-nodes.{STAGING}', 'Version': '1'}})"));
    let o = moto.run(&repo, &["apply", f, "--yes"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("live AWS has moved since the plan was made") && stderr(&o).contains("fleetform plan --out FILE"), "{}", stderr(&o));
    assert_eq!(groups(&moto)[format!("spot-nodes-app-4x.{STAGING}")]["max"], 10, "nothing applied");

    // A fresh saved plan is applied exactly as shown — even without the --set that made it.
    assert_eq!(code(&moto.run(&repo, &["plan", "--cluster", STAGING, "--set", "spot.maxSize=12", "--out", f])), 0);
    let o = moto.run(&repo, &["apply", f, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let g = groups(&moto);
    assert_eq!(g[format!("spot-nodes-app-4x.{STAGING}")]["max"], 12);
    assert_eq!(g[format!("admin-nodes.{STAGING}")]["max"], 3, "the saved plan restored the hand change too");
}

#[test]
fn refuses_without_yes_when_no_terminal() {
    let (moto, repo) = setup();
    let o = moto.run(&repo, &["apply", "--cluster", STAGING]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("refusing to change AWS without --yes"), "{}", stderr(&o));
    assert_eq!(groups(&moto).as_object().unwrap().len(), 0, "nothing created");
    let o = moto.run(&repo, &["apply", "--yes"]);
    assert_eq!(code(&o), 1, "apply names its clusters");
    assert!(stderr(&o).contains("--cluster NAME (repeatable) or --all"));
}

const LOCK: &str = r#"{"id": "d34db33f", "who": "alice", "host": "buildhost", "pid": 4242, "command": "fleetform apply --all", "created": "2026-11-27T08:00:00Z"}"#;

#[test]
fn a_held_lock_blocks_waits_and_can_be_broken() {
    let (moto, repo) = setup();
    let put = format!("s3.put_object(Bucket='foo-bar-fleet-state', Key='{STAGING}/fleetform/lock.json', Body=b'{LOCK}')");
    moto.py(&put);
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("the cluster is locked: lock d34db33f held by alice@buildhost (pid 4242)"), "{err}");
    assert!(err.contains(&format!("fleetform unlock --cluster {STAGING} d34db33f")), "the error names the id to break: {err}");
    assert_eq!(groups(&moto).as_object().unwrap().len(), 0);

    // Wrong id: refused. Right id: broken.
    let o = moto.run(&repo, &["unlock", "--cluster", STAGING, "nope"]);
    assert_eq!(code(&o), 1);
    let o = moto.run(&repo, &["unlock", "--cluster", STAGING, "d34db33f"]);
    assert_eq!(code(&o), 1, "breaking a lock changes AWS: it needs --yes without a terminal");
    assert!(stderr(&o).contains("refusing to change AWS without --yes"), "{}", stderr(&o));
    let o = moto.run(&repo, &["unlock", "--cluster", STAGING, "d34db33f", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // --lock-timeout waits for the holder to finish.
    moto.py(&put);
    let ep = moto.endpoint.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let m = std::process::Command::new(crate::aws::python())
            .arg("-c")
            .arg(format!("import boto3; boto3.client('s3', endpoint_url='{ep}', region_name='us-east-1').delete_object(Bucket='foo-bar-fleet-state', Key='{STAGING}/fleetform/lock.json')"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .status()
            .unwrap();
        assert!(m.success());
    });
    let o = apply(&moto, &repo, &["--lock-timeout", "30s"]);
    releaser.join().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("waiting for the lock: lock d34db33f held by alice@buildhost"), "{}", stderr(&o));
    in_sync(&moto, &repo);
}

#[test]
fn two_applies_at_once_never_interleave() {
    let (moto, repo) = setup();
    let spawn = || moto.spawn(&repo, &["apply", "--cluster", STAGING, "--yes"], true);
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    let errs = format!("{}\n{}", String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
    // Either one waited out the other (both 0, the second found nothing to do), or the loser
    // failed naming the holder. Never two creators of the same group.
    if codes.contains(&Some(1)) {
        assert!(errs.contains("the cluster is locked: lock"), "{errs}");
    }
    assert!(codes.contains(&Some(0)), "{errs}");
    assert_eq!(groups(&moto).as_object().unwrap().len(), 6);
    let versions = moto.py("print(sorted(t['LatestVersionNumber'] for t in ec2('eu-west-1').describe_launch_templates()['LaunchTemplates']))");
    assert_eq!(versions.trim(), "[1, 1, 1, 1, 1, 1]", "no duplicate versions");
    in_sync(&moto, &repo);
}

#[test]
fn killed_at_any_point_then_run_again_converges() {
    let (moto, repo) = setup();
    for (round, delay_ms) in [150u64, 400, 700, 1000, 1500].into_iter().enumerate() {
        // Each round changes something, so that the kill lands in the middle of real work.
        let set = format!("spot.maxSize={}", 10 + round);
        let image_round = round % 2 == 1;
        let mut args = vec!["apply", "--cluster", STAGING, "--yes", "--set", &set];
        let typ = "prometheus.machineType=r5.4xlarge";
        if image_round {
            args.extend(["--set", typ]);
        }
        let mut child = moto.spawn(&repo, &args, false);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        moto.break_stale_lock(&repo, STAGING);
        let o = moto.run(&repo, &args);
        assert_eq!(code(&o), 0, "round {round}: re-run after kill at {delay_ms} ms\n{}", stderr(&o));
        let mut plan = vec!["plan", "--cluster", STAGING, "--detailed-exitcode", "--set", &set];
        if image_round {
            plan.extend(["--set", typ]);
        }
        let p = moto.run(&repo, &plan);
        assert_eq!(code(&p), 0, "round {round}: converged\n{}{}", stdout(&p), stderr(&p));
        assert_eq!(groups(&moto).as_object().unwrap().len(), 6, "round {round}: no duplicate groups");
    }
    // Versions: prometheus changed type twice (odd rounds flip it on; even rounds back off).
    let counts = moto.py("print(sorted((t['LaunchTemplateName'].split('.')[0], t['LatestVersionNumber']) for t in ec2('eu-west-1').describe_launch_templates()['LaunchTemplates']))");
    assert!(counts.contains("('admin-nodes', 1)") && counts.contains("('spot-nodes-app-4x', 1)"), "untouched templates keep one version: {counts}");
}

#[test]
fn throttling_and_server_errors_are_retried_then_reported() {
    let (mut moto, repo) = setup();
    // A few throttles and 500s on writes: retried, the apply succeeds.
    // Faults come in a row on the first matching calls: 2 throttles, then a 500, then success.
    let ep = moto.proxy(&["--throttle", "2", "--fail5xx", "1", "--match", "Action=Create"]);
    let o = moto.fleetform(&repo, Some(&ep)).args(["apply", "--cluster", STAGING, "--yes"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    in_sync(&moto, &repo);
}

#[test]
fn throttled_past_the_retry_budget_stops_the_cluster_and_releases_the_lock() {
    let (mut moto, repo) = setup();
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    let ep = moto.proxy(&["--throttle", "100000", "--match", "Action=UpdateAutoScalingGroup"]);
    let o = moto
        .fleetform(&repo, Some(&ep))
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["apply", "--cluster", STAGING, "--yes", "--set", "spot.maxSize=12", "--set", "onDemand.maxSize=6"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("AWS error Throttling: Rate exceeded (throttled past the retry budget"), "{err}");
    // The four group updates ran side by side and each failed: each is named; what had not
    // started (their scheduled actions) is reported as not done.
    assert!(err.contains("4 steps in flight together failed:"), "{err}");
    for g in ["on-demand-app-4x", "on-demand-app-8x", "spot-nodes-app-4x", "spot-nodes-app-8x"] {
        assert!(err.contains(&format!("failed: update auto scaling group {g}.{STAGING}: updating Auto Scaling group")), "{g}:\n{err}");
    }
    assert!(err.contains("not done: change scheduled action"), "the rest is reported as not done:\n{err}");
    assert!(err.contains("run the same apply again to finish"), "{err}");
    let lock = moto.py(&format!("print(len(s3.list_objects_v2(Bucket='foo-bar-fleet-state', Prefix='{STAGING}/fleetform/lock').get('Contents', [])))"));
    assert_eq!(lock.trim(), "0", "the lock was released");
    // Without the proxy, the same apply finishes the work.
    let o = apply(&moto, &repo, &["--set", "spot.maxSize=12", "--set", "onDemand.maxSize=6"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn sigint_stops_between_steps_and_releases_the_lock() {
    let (mut moto, repo) = setup();
    // 300 ms per request: the apply is still running when Ctrl-C arrives.
    let ep = moto.proxy(&["--delay-ms", "300"]);
    let child = moto.spawn_at(&repo, &ep, &["apply", "--cluster", STAGING, "--yes"], true);
    // Wait until the first step has started (the lock is taken), then interrupt.
    let start = std::time::Instant::now();
    while moto.py(&format!("print(len(s3.list_objects_v2(Bucket='foo-bar-fleet-state', Prefix='{STAGING}/fleetform/lock').get('Contents', [])))")).trim() == "0" {
        assert!(start.elapsed() < Duration::from_secs(60), "the apply never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    let st = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupt: stopping after the current step") && err.contains("interrupted"), "{err}");
    assert!(err.contains("not done:"), "what was not done is listed: {err}");
    let lock = moto.py(&format!("print(len(s3.list_objects_v2(Bucket='foo-bar-fleet-state', Prefix='{STAGING}/fleetform/lock').get('Contents', [])))"));
    assert_eq!(lock.trim(), "0", "the lock was released");
    let history = moto.py("print(json.dumps([json.loads(s3.get_object(Bucket='foo-bar-fleet-state', Key=o['Key'])['Body'].read())['result'] for o in s3.list_objects_v2(Bucket='foo-bar-fleet-state', Prefix='staging.k8s.foo.bar/fleetform/history/').get('Contents', [])]))");
    assert_eq!(history.trim(), "[\"interrupted\"]", "the audit trail says so");
    // Run again: it finishes the work.
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    in_sync(&moto, &repo);
}

/// The CI examples (docs/ci): their shell passes shellcheck (installed from PyPI into .venv;
/// actionlint has no wheel to install, so the workflow's structure was checked by hand), and the
/// flow they run works: one plan that is both the comment and the saved plan, then the saved
/// plan applied wave by wave.
#[test]
fn the_ci_examples_shell_is_clean_and_their_flow_works() {
    let root = project_root();
    let shellcheck = crate::aws::python().parent().unwrap().join("shellcheck");
    assert!(shellcheck.exists(), "shellcheck is installed by scripts/setup-venv (requirements-test.txt)");
    // The shell of the workflow's run: blocks and of the Jenkinsfile's sh steps, one file each.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::aws::python())
        .arg("-c")
        .arg(
            r#"
import re, sys, yaml
root, out = sys.argv[1], sys.argv[2]
n = 0
wf = yaml.safe_load(open(f'{root}/docs/ci/github-actions.yml'))
for job in wf['jobs'].values():
    for step in job['steps']:
        if 'run' in step:
            n += 1
            open(f'{out}/gha-{n}.sh', 'w').write('#!/bin/bash\nset -euo pipefail\n' + step['run'])
for m in re.finditer(r"\bsh\s*\(?(?:returnStatus: true, script: )?'([^']*)'", open(f'{root}/docs/ci/Jenkinsfile').read()):
    n += 1
    open(f'{out}/jenkins-{n}.sh', 'w').write('#!/bin/sh\n' + m.group(1) + '\n')
print(n)
"#,
        )
        .arg(&root)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let blocks: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(blocks >= 12, "every run block and sh step was found: {blocks}");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.extend(["scripts/test", "scripts/demo", "scripts/setup-venv", "scripts/lib/moto.sh"].iter().map(|f| root.join(f)));
    let o = std::process::Command::new(&shellcheck).arg("-x").args(&files).current_dir(&root).output().unwrap();
    assert!(o.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&o.stdout));

    // The flow, with the examples' own commands.
    let wf = std::fs::read_to_string(root.join("docs/ci/github-actions.yml")).unwrap();
    let jf = std::fs::read_to_string(root.join("docs/ci/Jenkinsfile")).unwrap();
    let plan_cmd = "fleetform plan --all --detailed-exitcode --out fleet.plan.json --output markdown > plan.md";
    for (cmd, file) in [(plan_cmd, &wf), (plan_cmd, &jf), ("fleetform apply fleet.plan.json --wave 0 --yes --lock-timeout 10m", &wf), ("fleetform apply fleet.plan.json --wave 1 --yes --lock-timeout 10m", &jf)] {
        assert!(file.contains(cmd), "the examples run `{cmd}`");
    }
    let (moto, repo) = crate::aws::example_setup();
    let o = moto.run(&repo, &["plan", "--all", "--detailed-exitcode", "--out", "fleet.plan.json", "--output", "markdown"]);
    assert_eq!(code(&o), 2, "changes: {}", stderr(&o));
    assert!(stdout(&o).starts_with("### fleetform plan"), "the comment");
    assert!(repo.path().join("fleet.plan.json").exists(), "and the saved plan, from the same run");
    let o = moto.run(&repo, &["apply", "fleet.plan.json", "--wave", "0", "--yes", "--lock-timeout", "10m", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "wave 0 (staging) applied: {}", stdout(&o));
    let o = moto.run(&repo, &["plan", "--cluster", "prod-customer.k8s.foo.bar", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "wave 1 not yet: {}", stdout(&o));
    let o = moto.run(&repo, &["apply", "fleet.plan.json", "--wave", "1", "--yes", "--lock-timeout", "10m", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["plan", "--all", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

/// A spot group that selects its types by attributes (instanceRequirements): applied as one
/// override with vCPU and memory ranges, read back as such, and the next plan is empty.
#[test]
fn instance_requirements_round_trip() {
    let (moto, repo) = crate::aws::example_setup();
    repo.replace(
        "templates/3_spot-nodes.yaml.tpl",
        "    instances:\n    {{ include(size.spotTypes) | indent(4) }}",
        "    instanceRequirements: {cpu: {min: 16, max: 16}, memory: {min: 32Gi, max: 64Gi}}",
    );
    let o = repo.run(&["render", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&moto.py(&format!(
        r#"
g = asg('eu-west-1').describe_auto_scaling_groups(AutoScalingGroupNames=['spot-nodes-app-4x.{STAGING}'])['AutoScalingGroups'][0]
print(json.dumps(g['MixedInstancesPolicy']['LaunchTemplate']['Overrides']))
"#
    )))
    .unwrap();
    assert_eq!(v[0]["InstanceRequirements"]["VCpuCount"], serde_json::json!({"Min": 16, "Max": 16}), "{v}");
    assert_eq!(v[0]["InstanceRequirements"]["MemoryMiB"], serde_json::json!({"Min": 32768, "Max": 65536}), "{v}");
    assert!(v[0].get("InstanceType").is_none() && v.as_array().unwrap().len() == 1, "one override, by attributes: {v}");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // Lint understands it: the types in the ranges are checked like a list.
    let o = repo.run(&["lint", "--cluster", STAGING, "--output", "json"]);
    let f: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(f["findings"].as_array().unwrap().iter().all(|x| x["rule"] != "spot-instance-diversity" && x["rule"] != "spot-uniform-vcpu"), "{f}");
}
