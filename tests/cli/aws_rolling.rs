//! `rolling-update`, `validate` and `apply --rolling` against the local AWS emulator. Instances
//! start at once there; hooks are small scripts that record what they were called with, and
//! can be told to fail or hang.

use crate::aws::{python, Moto};
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";
const PROD: &str = "prod-customer.k8s.foo.bar";

/// The example, applied, with test hooks: the drain hook records the instance and its EC2
/// state at drain time (it must still be running), the validate hook records the cluster.
fn setup(extra_vars: &str) -> (Moto, Repo) {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    let py = python().display().to_string();
    repo.write(
        "vars/_zz-test.yaml",
        &format!(
            r#"hooks:
  drain: >-
    {py} -c "import boto3, os; i = os.environ['FLEETFORM_INSTANCE_ID'];
    s = boto3.client('ec2', region_name='eu-west-1').describe_instances(InstanceIds=[i])['Reservations'][0]['Instances'][0]['State']['Name'];
    open('hooks.log', 'a').write(f'drain {{os.environ[\"FLEETFORM_GROUP\"]}} {{i}} {{os.environ[\"FLEETFORM_NODE\"]}} {{s}}\n')"
  validate: echo "validate $FLEETFORM_CLUSTER" >> hooks.log
validation:
  validateCount: 2
  validationTimeout: 2m
  interval: 0s
{extra_vars}"#
        ),
    );
    let o = moto.run(&repo, &["apply", "--all", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (moto, repo)
}

fn hooks_log(repo: &Repo) -> String {
    std::fs::read_to_string(repo.path().join("hooks.log")).unwrap_or_default()
}

/// Register a new AMI in a region (the emulator accepts any), as a new image release.
fn new_image(moto: &Moto, region: &str) -> String {
    moto.py(&format!("print(ec2('{region}').register_image(Name='node-image-v2', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'])")).trim().to_string()
}

const SIZES: &str = r#"
g = {x['AutoScalingGroupName']: x for x in asg('eu-west-1').describe_auto_scaling_groups()['AutoScalingGroups']}
print(json.dumps({n: [x['MinSize'], x['MaxSize'], x['DesiredCapacity'], len(x['Instances']), [t['Key'] for t in x['Tags'] if t['Key'] == 'fleetform.io/rolling-update']] for n, x in g.items()}, sort_keys=True))
"#;

fn sizes(moto: &Moto) -> serde_json::Value {
    serde_json::from_str(&moto.py(SIZES)).unwrap()
}

fn roll(moto: &Moto, repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["rolling-update", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s"];
    args.extend_from_slice(extra);
    moto.run(repo, &args)
}

#[test]
fn an_image_change_rolls_every_instance_draining_each_first() {
    let (moto, repo) = setup("");
    let image = new_image(&moto, "eu-west-1");
    let set = format!("image={image}");
    let before = moto.py("print(sorted(i['InstanceId'] for g in asg('eu-west-1').describe_auto_scaling_groups()['AutoScalingGroups'] for i in g['Instances']))");
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", &set]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Without --yes: the schedule, and exit 2 with --detailed-exitcode.
    let o = moto.run(&repo, &["rolling-update", "--cluster", STAGING, "--set", &set, "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let sched = stdout(&o);
    assert!(sched.contains("3 instance(s) to replace in 2 group(s)"), "{sched}");
    assert!(sched.find("group admin-nodes").unwrap() < sched.find("group prometheus-nodes").unwrap(), "critical groups first:\n{sched}");
    assert!(sched.contains(&"launch template version 1 -> 2".to_string()), "{sched}");

    let o = roll(&moto, &repo, &["--set", &set]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("Rolled staging.k8s.foo.bar: 3 instance(s) replaced"), "{}", stderr(&o));
    let log = hooks_log(&repo);
    let old: Vec<String> = serde_json::from_str(&before.replace('\'', "\"")).unwrap();
    for id in &old {
        let line = log.lines().find(|l| l.contains(id.as_str())).unwrap_or_else(|| panic!("{id} was drained:\n{log}"));
        assert!(line.ends_with(" running"), "drained while still running, before termination: {line}");
        assert!(line.contains(".internal"), "the node name is passed: {line}");
    }
    // Every instance now runs the new image; sizes are as declared; nothing pending.
    let images = moto.py("print(sorted(set(i['ImageId'] for r in ec2('eu-west-1').describe_instances(Filters=[{'Name': 'instance-state-name', 'Values': ['running']}])['Reservations'] for i in r['Instances'])))");
    assert_eq!(images.trim(), format!("['{image}']"));
    let s = sizes(&moto);
    assert_eq!(s[format!("admin-nodes.{STAGING}")], serde_json::json!([2, 3, 2, 2, []]));
    assert_eq!(s[format!("prometheus-nodes.{STAGING}")], serde_json::json!([1, 2, 1, 1, []]));
    let o = moto.run(&repo, &["rolling-update", "--cluster", STAGING, "--set", &set, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "nothing left to roll: {}", stdout(&o));
    let o = moto.run(&repo, &["validate", "--cluster", STAGING, "--set", &set]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn surge_two_never_drops_in_service_capacity_below_desired() {
    let (moto, repo) = setup("rollingUpdate: {maxSurge: 2, maxUnavailable: 0}\nadmin: {minSize: 4, maxSize: 4}\n");
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", "admin.machineType=m5.2xlarge"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Sample the admin group's InService count all through the roll.
    let sampler = moto
        .py_command(&format!(
            r#"
import time
a = asg('eu-west-1')
low, n, end = 99, 0, time.time() + 6
while time.time() < end:
    g = a.describe_auto_scaling_groups(AutoScalingGroupNames=['admin-nodes.{STAGING}'])['AutoScalingGroups'][0]
    low = min(low, sum(1 for i in g['Instances'] if i['LifecycleState'] == 'InService'))
    n += 1
print(low, n)
"#
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // A slow validate hook stretches each batch so that the sampler sees them.
    repo.replace("vars/_zz-test.yaml", "  validate: echo", "  validate: sleep 0.3; echo");
    let o = roll(&moto, &repo, &["--set", "admin.machineType=m5.2xlarge"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = sampler.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|x| x.parse::<u32>().unwrap());
    let (low, samples) = (it.next().unwrap(), it.next().unwrap());
    assert!(samples > 10, "sampled often enough: {samples}");
    assert!(low >= 4, "in-service capacity dropped to {low}, below the desired 4");
    assert!(stdout(&o).contains("surge 2, unavailable 0, 2 batch(es)"), "{}", stdout(&o));
    assert_eq!(sizes(&moto)[format!("admin-nodes.{STAGING}")], serde_json::json!([4, 4, 4, 4, []]), "max raised during surges, restored after");
}

#[test]
fn a_failing_validate_hook_stops_the_roll_and_restores_sizes() {
    let (moto, repo) = setup("");
    repo.replace("vars/_zz-test.yaml", "  validate: echo \"validate $FLEETFORM_CLUSTER\" >> hooks.log", "  validate: echo 'node ip-1 NotReady' >&2; exit 1");
    repo.replace("vars/_zz-test.yaml", "validationTimeout: 2m", "validationTimeout: 1s");
    let set = "admin.machineType=m5.2xlarge";
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", set])), 0);
    let o = roll(&moto, &repo, &["--set", set]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("health gate failed after admin-nodes.staging.k8s.foo.bar batch 1/2: validate hook:"), "{err}");
    assert!(err.contains("node ip-1 NotReady"), "the hook's own words are shown: {err}");
    assert!(err.contains("left as it was: group admin-nodes.staging.k8s.foo.bar: 1 later batch(es), 1 instance(s), not started"), "{err}");
    assert_eq!(sizes(&moto)[format!("admin-nodes.{STAGING}")], serde_json::json!([2, 3, 2, 2, []]), "sizes restored, no tag left");
}

#[test]
fn a_hanging_drain_hook_hits_its_timeout() {
    let (moto, repo) = setup("");
    // The example's template gives the drain hook 6m; the test's cluster says 1s.
    repo.replace("templates/1_cluster.yaml.tpl", "      timeout: 6m", "      timeout: 1s");
    let vars = repo.read("vars/_zz-test.yaml");
    let start = vars.find("  drain: >-").unwrap();
    let end = vars.find("  validate:").unwrap();
    repo.write("vars/_zz-test.yaml", &format!("{}  drain: sleep 60\n{}", &vars[..start], &vars[end..]));
    let set = "admin.machineType=m5.2xlarge";
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", set])), 0);
    let before = moto.py(&format!("print(sorted(i['InstanceId'] for i in asg('eu-west-1').describe_auto_scaling_groups(AutoScalingGroupNames=['admin-nodes.{STAGING}'])['AutoScalingGroups'][0]['Instances']))"));
    let o = roll(&moto, &repo, &["--set", set]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("drain hook failed for i-") && err.contains("did not finish within its timeout of 1s and was killed"), "{err}");
    assert!(err.contains("the instance was left running"), "{err}");
    let after = moto.py(&format!("print(sorted(i['InstanceId'] for i in asg('eu-west-1').describe_auto_scaling_groups(AutoScalingGroupNames=['admin-nodes.{STAGING}'])['AutoScalingGroups'][0]['Instances']))"));
    assert_eq!(before, after, "no old instance was terminated, the surged one was removed again");
    assert_eq!(sizes(&moto)[format!("admin-nodes.{STAGING}")], serde_json::json!([2, 3, 2, 2, []]));
}

#[test]
fn killed_in_the_middle_then_run_again_converges() {
    let (moto, repo) = setup("");
    repo.replace("vars/_zz-test.yaml", "  validate: echo", "  validate: sleep 0.4; echo");
    let set = "admin.machineType=m5.2xlarge";
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", set])), 0);
    let mut child = moto.spawn(&repo, &["rolling-update", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s", "--set", set], false);
    // Kill while the first batch is surged (its validate hook is running).
    let start = std::time::Instant::now();
    while !hooks_log(&repo).contains("drain") && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    // A SIGKILLed run cannot release its lock (as with Terraform): the operator breaks it.
    moto.break_stale_lock(&repo, STAGING);
    let o = roll(&moto, &repo, &["--set", set]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = sizes(&moto);
    assert_eq!(s[format!("admin-nodes.{STAGING}")], serde_json::json!([2, 3, 2, 2, []]), "declared sizes, no tag left");
    let o = moto.run(&repo, &["rolling-update", "--cluster", STAGING, "--set", set, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "nothing left: {}", stdout(&o));
    let running = moto.py("print(len([i for r in ec2('eu-west-1').describe_instances(Filters=[{'Name': 'instance-state-name', 'Values': ['running']}])['Reservations'] for i in r['Instances']]))");
    assert_eq!(running.trim(), "3", "2 admin + 1 prometheus: nothing left over");
}

#[test]
fn throttling_does_not_break_the_roll() {
    let (mut moto, repo) = setup("");
    let set = "admin.machineType=m5.2xlarge";
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", set])), 0);
    let ep = moto.proxy(&["--throttle", "2", "--match", "Action=TerminateInstanceInAutoScalingGroup"]);
    let o = moto
        .fleetform(&repo, Some(&ep))
        .args(["rolling-update", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s", "--set", set])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("2 instance(s) replaced"), "{}", stderr(&o));
}

#[test]
fn a_failed_launch_ends_the_wait_at_once_with_its_reason() {
    let (mut moto, repo) = setup("");
    repo.replace("vars/_zz-test.yaml", "validationTimeout: 2m", "validationTimeout: 30m");
    let set = "admin.machineType=m5.2xlarge";
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", set])), 0);
    // The surge is accepted but never fulfilled, and AWS reports why in the group's activities.
    let ep = moto.proxy(&[
        "--swallow",
        "Action=UpdateAutoScalingGroup",
        "--activity-failure",
        "We currently do not have sufficient m5.2xlarge capacity in the Availability Zone you requested (eu-west-1a). InsufficientInstanceCapacity",
    ]);
    let o = moto
        .fleetform(&repo, Some(&ep))
        .args(["rolling-update", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s", "--set", set])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("a launch failed: Failed: We currently do not have sufficient m5.2xlarge capacity"), "{err}");
    assert!(err.contains("InsufficientInstanceCapacity"), "{err}");
    assert!(!err.contains("validationTimeout"), "it did not wait out the timeout: {err}");
}

#[test]
fn waves_stop_at_the_first_wave_that_fails_validation() {
    let (moto, repo) = setup("");
    // Staging (wave 0) never validates; production (wave 1) must not be touched.
    repo.replace(
        "vars/_zz-test.yaml",
        "  validate: echo \"validate $FLEETFORM_CLUSTER\" >> hooks.log",
        "  validate: test \"$FLEETFORM_CLUSTER\" != staging.k8s.foo.bar",
    );
    repo.replace("vars/_zz-test.yaml", "validationTimeout: 2m", "validationTimeout: 1s");
    let o = moto.run(&repo, &["apply", "--all", "--rolling", "--yes", "--poll-interval", "0.1s", "--set", "admin.machineType=m5.2xlarge"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("health gate failed") && err.contains("validate hook"), "{err}");
    assert!(err.contains(&format!("wave 0 failed; later waves were not started: {PROD}")), "{err}");
    assert_eq!(err.matches("validate hook failed, retrying").count(), 1, "a failing hook is reported once, not at every retry:\n{err}");
    let prod = moto.py(&format!("print(ec2('eu-west-3').describe_launch_templates(LaunchTemplateNames=['admin-nodes.{PROD}'])['LaunchTemplates'][0]['LatestVersionNumber'])"));
    assert_eq!(prod.trim(), "1", "production was not applied");
    let staging = moto.py(&format!("print(ec2('eu-west-1').describe_launch_templates(LaunchTemplateNames=['admin-nodes.{STAGING}'])['LaunchTemplates'][0]['LatestVersionNumber'])"));
    assert_eq!(staging.trim(), "2", "staging was applied");
}

#[test]
fn validate_reports_what_is_unhealthy() {
    let (moto, repo) = setup("");
    let o = moto.run(&repo, &["validate", "--all"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // A record changed by hand and a group below its desired capacity.
    moto.py(&format!(
        r#"
z = r53.list_hosted_zones_by_name(DNSName='k8s.foo.bar')['HostedZones'][0]['Id']
r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={{'Changes': [{{'Action': 'UPSERT', 'ResourceRecordSet': {{
    'Name': 'ingress.{STAGING}.', 'Type': 'A', 'TTL': 60, 'ResourceRecords': [{{'Value': '192.0.2.99'}}]}}}}]}})
a = asg('eu-west-1')
i = a.describe_auto_scaling_groups(AutoScalingGroupNames=['admin-nodes.{STAGING}'])['AutoScalingGroups'][0]['Instances'][0]['InstanceId']
a.enter_standby(InstanceIds=[i], AutoScalingGroupName='admin-nodes.{STAGING}', ShouldDecrementDesiredCapacity=False)
"#
    ));
    let o = moto.run(&repo, &["validate", "--cluster", STAGING, "--output", "json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let failed: Vec<String> = v["checks"].as_array().unwrap().iter().filter(|c| c["ok"] == false).map(|c| c["check"].as_str().unwrap().to_string()).collect();
    assert_eq!(failed, vec![format!("group admin-nodes.{STAGING}"), format!("dns ingress.{STAGING}. A")]);
    let o = moto.run(&repo, &["validate", "--cluster", STAGING]);
    assert!(stdout(&o).contains("holds 192.0.2.99 (ttl 60), declared 203.0.113.20 (ttl 60)"), "{}", stdout(&o));
    assert!(stdout(&o).contains("Standby/Healthy"), "{}", stdout(&o));
}

#[test]
fn json_output_is_a_schedule_then_one_event_per_line() {
    let (moto, repo) = setup("");
    let set = "prometheus.machineType=r5.4xlarge";
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", set])), 0);
    let o = roll(&moto, &repo, &["--set", set, "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(lines[0]["command"], "rolling-update");
    assert_eq!(lines[0]["event"], "schedule");
    assert_eq!(lines[0]["pending"], 1);
    let events: Vec<&str> = lines[1..].iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(events, vec!["group-start", "batch-start", "drained", "terminated", "batch-done", "group-done", "cluster-done"]);
    assert_eq!(lines.last().unwrap()["report"]["replaced"].as_array().unwrap().len(), 1);
}

/// Two rolling updates of one cluster at once: the second waits for the first's lock, then
/// finds nothing left to roll. No node is drained twice; nobody restores sizes the other holds.
#[test]
fn two_rolling_updates_at_once_drain_each_node_once() {
    let (moto, repo) = setup("");
    let set = "admin.machineType=m5.2xlarge";
    assert_eq!(code(&moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", set])), 0);
    let args = ["rolling-update", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s", "--lock-timeout", "5m", "--set", set];
    let (a, b) = (moto.spawn(&repo, &args, true), moto.spawn(&repo, &args, true));
    for o in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let log = hooks_log(&repo);
    let drained: Vec<&str> = log.lines().filter(|l| l.starts_with("drain")).map(|l| l.split_whitespace().nth(2).unwrap()).collect();
    let mut unique = drained.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(drained.len(), 2, "the two admin instances, once each:\n{log}");
    assert_eq!(unique.len(), drained.len(), "no node drained twice:\n{log}");
    assert_eq!(sizes(&moto)[format!("admin-nodes.{STAGING}")], serde_json::json!([2, 3, 2, 2, []]));
}

/// A roll killed while it held a group raised, then an apply that changes the group's sizes:
/// the apply rewrites the roll's record of the declared sizes, so plan converges, the next
/// roll restores the new sizes (not the old ones), and nothing is wedged.
#[test]
fn a_roll_killed_during_surge_then_a_size_change_does_not_wedge() {
    let (moto, repo) = setup("");
    // The state a roll killed mid-surge leaves: declared sizes in the tag, the group raised.
    moto.py(&format!(
        r#"
a = asg('eu-west-1')
a.create_or_update_tags(Tags=[{{'ResourceId': 'admin-nodes.{STAGING}', 'ResourceType': 'auto-scaling-group', 'Key': 'fleetform.io/rolling-update', 'Value': '2,3,2', 'PropagateAtLaunch': False}}])
a.update_auto_scaling_group(AutoScalingGroupName='admin-nodes.{STAGING}', MinSize=2, MaxSize=3, DesiredCapacity=3)
"#
    ));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "the declared sizes did not change: {}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(&format!("group admin-nodes.{STAGING} still carries a rolling update that was interrupted")), "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!("`fleetform rolling-update --cluster {STAGING} --yes`")), "{}", stdout(&o));

    let set = "admin.maxSize=4";
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", set]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("0 created, 2 updated, 0 deleted"), "the group and its schedule's up action: {}", stderr(&o));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode", "--set", set]);
    assert_eq!(code(&o), 0, "converged, not wedged: {}{}", stdout(&o), stderr(&o));
    let tag = moto.py(&format!("g = asg('eu-west-1').describe_auto_scaling_groups(AutoScalingGroupNames=['admin-nodes.{STAGING}'])['AutoScalingGroups'][0]\nprint([t['Value'] for t in g['Tags'] if t['Key'] == 'fleetform.io/rolling-update'], g['MaxSize'], g['DesiredCapacity'])"));
    assert_eq!(tag.trim(), "['2,4,2'] 4 3", "the tag holds the new declared sizes; the surge instance stays for the roll to remove");

    let o = roll(&moto, &repo, &["--set", set]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(sizes(&moto)[format!("admin-nodes.{STAGING}")], serde_json::json!([2, 4, 2, 2, []]), "the new declared sizes, restored");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode", "--set", set]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

/// Events of a roll (`--output json`): at every point, the instances of batches started and
/// not yet done, and the most seen at once.
fn in_flight(events: &str) -> (usize, Vec<String>) {
    let mut now: std::collections::BTreeMap<(String, u64), usize> = Default::default();
    let (mut most, mut overlapping) = (0, Vec::new());
    for l in events.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let key = (v["group"].as_str().unwrap_or_default().to_string(), v["batch"].as_u64().unwrap_or(0));
        match v["event"].as_str() {
            Some("batch-start") => {
                now.insert(key, v["instances"].as_array().map_or(0, Vec::len));
            }
            Some("batch-done") => {
                now.remove(&key);
            }
            _ => continue,
        }
        most = most.max(now.values().sum());
        let groups: std::collections::BTreeSet<&String> = now.keys().map(|(g, _)| g).collect();
        if groups.len() > 1 {
            overlapping = groups.into_iter().cloned().collect();
        }
    }
    (most, overlapping)
}

/// Staging with two on-demand groups of 2 beside prometheus (1) and the critical admin group (2),
/// rolling side by side (3 groups at once, `budget` instances out of service at once), and a new
/// image applied: every instance is to be replaced. Returns the `--set` of that image.
fn side_by_side(budget: u32) -> (Moto, Repo, String) {
    let (moto, repo) = setup(&format!(
        "rollingUpdate: {{maxSurge: 1, maxUnavailable: 0, maxConcurrentGroups: 3, clusterMaxUnavailable: {budget}}}\nonDemand: {{minSize: 2, maxSize: 20}}\n"
    ));
    let image = new_image(&moto, "eu-west-1");
    let set = format!("image={image}");
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--yes", "--set", &set]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (moto, repo, set)
}

/// Three ordinary groups roll side by side after the critical admin group, at most two
/// instances out of service at once across them, and no group's InService capacity ever goes
/// below its desired. The validate hook of an ordinary group waits until two of them have
/// drained an instance: a roll that took the groups one after another would never pass it.
#[test]
fn groups_roll_side_by_side_within_the_cluster_budget_never_below_desired() {
    let (moto, repo, set) = side_by_side(2);
    let py = python().display().to_string();
    repo.replace(
        "vars/_zz-test.yaml",
        "  validate: echo \"validate $FLEETFORM_CLUSTER\" >> hooks.log",
        &format!(
            "  validate: >-\n    {py} -c \"import os, time, sys; g = os.environ['FLEETFORM_GROUP'];\n    end = time.time() + 60;\n    two = lambda: len(set(l.split()[1] for l in open('hooks.log') if l.startswith('drain ') and 'admin-nodes' not in l)) >= 2;\n    ok = g.startswith('admin-nodes') or two();\n    [time.sleep(0.05) for _ in iter(lambda: ok or two() or time.time() > end, True)];\n    time.sleep(0.3); sys.exit(0 if g.startswith('admin-nodes') or two() else 1)\""
        ),
    );
    // Sample every group's InService count all through the roll.
    let sampler = moto
        .py_command(&format!(
            r#"
import time
a = asg('eu-west-1')
declared = {{'admin-nodes': 2, 'on-demand-app-4x': 2, 'on-demand-app-8x': 2, 'prometheus-nodes': 1}}
low, n, end = {{}}, 0, time.time() + 25
while time.time() < end and not __import__('os').path.exists('{done}'):
    for g in a.describe_auto_scaling_groups()['AutoScalingGroups']:
        short = g['AutoScalingGroupName'].split('.')[0]
        if short in declared:
            serving = sum(1 for i in g['Instances'] if i['LifecycleState'] == 'InService')
            low[short] = min(low.get(short, 99), serving - declared[short])
    n += 1
print(json.dumps({{'low': low, 'samples': n}}))
"#,
            done = repo.path().join("roll.done").display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = roll(&moto, &repo, &["--set", &set, "--output", "json"]);
    std::fs::write(repo.path().join("roll.done"), "").unwrap();
    assert_eq!(code(&o), 0, "{}\n{}", stderr(&o), hooks_log(&repo));
    let events = stdout(&o);
    let (most, overlapping) = in_flight(&events);
    assert!(most <= 2, "at most clusterMaxUnavailable (2) instances in flight at once, saw {most}:\n{events}");
    assert!(overlapping.len() >= 2 && !overlapping.iter().any(|g| g.starts_with("admin-nodes")), "ordinary groups' batches overlapped, the critical group's did not: {overlapping:?}");
    assert!(stderr(&o).contains("3 groups roll side by side: at most 3 at once, at most 2 instance(s) out of service at once"), "{}", stderr(&o));
    let sampled: serde_json::Value = serde_json::from_slice(&sampler.wait_with_output().unwrap().stdout).unwrap();
    assert!(sampled["samples"].as_u64().unwrap() > 5, "sampled often enough: {sampled}");
    for (g, low) in sampled["low"].as_object().unwrap() {
        assert!(low.as_i64().unwrap() >= 0, "{g}: InService went below its desired capacity: {sampled}");
    }
    // Every instance replaced; sizes as declared, no rolling tag left.
    let s = sizes(&moto);
    for (g, d) in [("admin-nodes", 2), ("on-demand-app-4x", 2), ("on-demand-app-8x", 2), ("prometheus-nodes", 1)] {
        assert_eq!(s[format!("{g}.{STAGING}")][2], d, "{g}: {s}");
        assert_eq!(s[format!("{g}.{STAGING}")][4], serde_json::json!([]), "{g}: {s}");
    }
    let o = moto.run(&repo, &["rolling-update", "--cluster", STAGING, "--set", &set, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "nothing left to roll: {}", stdout(&o));
}

/// One group failing its gate stops the others from starting a batch: with one instance of
/// budget, the first ordinary group to take it fails (its validate hook always does), and the
/// two waiting for the budget start nothing; each says so, and every size is restored.
#[test]
fn a_group_that_fails_stops_new_batches_in_every_group() {
    let (moto, repo, set) = side_by_side(1);
    repo.replace("vars/_zz-test.yaml", "  validate: echo \"validate $FLEETFORM_CLUSTER\" >> hooks.log", "  validate: case \"$FLEETFORM_GROUP\" in admin-nodes.*) exit 0;; *) echo broken >&2; exit 1;; esac");
    repo.replace("vars/_zz-test.yaml", "validationTimeout: 2m", "validationTimeout: 2s");
    let o = roll(&moto, &repo, &["--set", &set]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("health gate failed after") && err.contains("validate hook"), "{err}");
    let not_started = err.matches("not started (another group failed)").count();
    assert_eq!(not_started, 2, "the two groups waiting for the budget started nothing:\n{err}");
    let s = sizes(&moto);
    for (g, d) in [("admin-nodes", 2), ("on-demand-app-4x", 2), ("on-demand-app-8x", 2), ("prometheus-nodes", 1)] {
        assert_eq!(s[format!("{g}.{STAGING}")][2], d, "{g}: {s}");
        assert_eq!(s[format!("{g}.{STAGING}")][4], serde_json::json!([]), "{g}: {s}");
    }
}
