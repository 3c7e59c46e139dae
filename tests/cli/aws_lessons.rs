//! The write-up's lessons against the local AWS emulator (issue 14): staging's schedule as the
//! scheduled actions AWS runs, a group its schedule holds at zero (apply, validate, rolling
//! update), the zones' balance, launches that failed for capacity, AZRebalance held while a
//! roll surges, and the cost of a plan. Read back with boto3.

use crate::aws::{apply_staging, example_setup, python, Moto};
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";
const ADMIN: &str = "admin-nodes.staging.k8s.foo.bar";

/// Saturday 5 December 2026, noon in Dublin: outside staging's windows.
const SATURDAY: &str = "2026-12-05T12:00:00Z";

/// Every scheduled action of a group, as boto3 reads it: name → (recurrence, zone, start, end, min, max, desired).
fn actions(moto: &Moto, group: &str) -> serde_json::Value {
    let out = moto.py(&format!(
        r#"
r = asg('eu-west-1').describe_scheduled_actions(AutoScalingGroupName='{group}')['ScheduledUpdateGroupActions']
t = lambda v: v.strftime('%Y-%m-%dT%H:%M:%SZ') if v else None
print(json.dumps({{a['ScheduledActionName']: [a.get('Recurrence'), a.get('TimeZone'), t(a.get('StartTime')), t(a.get('EndTime')), a.get('MinSize'), a.get('MaxSize'), a.get('DesiredCapacity')] for a in r}}))
"#
    ));
    serde_json::from_str(&out).unwrap()
}

/// The admin group's suspended processes and rolling-update tags, as boto3 reads them.
fn rolling_marks(moto: &Moto) -> String {
    moto.py(&format!("g = asg('eu-west-1').describe_auto_scaling_groups(AutoScalingGroupNames=['{ADMIN}'])['AutoScalingGroups'][0]\nprint(g['SuspendedProcesses'], [t['Key'] for t in g['Tags'] if 'rolling' in t['Key']])"))
}

/// One group's entry in the cost of a `plan --output json`.
fn group_cost(plan: &serde_json::Value, group: &str) -> serde_json::Value {
    plan["clusters"][0]["cost"]["groups"].as_array().unwrap().iter().find(|g| g["group"] == group).unwrap().clone()
}

fn sizes(moto: &Moto, group: &str) -> (i64, i64, i64) {
    let out = moto.py(&format!("g = asg('eu-west-1').describe_auto_scaling_groups(AutoScalingGroupNames=['{group}'])['AutoScalingGroups'][0]\nprint(g['MinSize'], g['MaxSize'], g['DesiredCapacity'])"));
    let n: Vec<i64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    (n[0], n[1], n[2])
}

#[test]
fn staging_nights_off_are_scheduled_actions_aws_runs_in_the_zone() {
    let (moto, repo) = example_setup();
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Each group: up at 07:30 and down at 20:00, Monday to Friday, on Dublin's clock (AWS moves
    // them with its daylight-saving changes), with the declared sizes and zero.
    let a = actions(&moto, ADMIN);
    assert_eq!(a["fleetform-up-1"], serde_json::json!(["30 7 * * 1-5", "Europe/Dublin", null, null, 2, 3, 2]));
    assert_eq!(a["fleetform-down-1"], serde_json::json!(["0 20 * * 1-5", "Europe/Dublin", null, null, 0, 0, 0]));
    let spot = actions(&moto, "spot-nodes-app-4x.staging.k8s.foo.bar");
    assert_eq!(spot["fleetform-up-1"].as_array().unwrap()[4..], [0, 10, 0], "each group its own sizes");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "in sync after apply:\n{}", stdout(&o));
    assert!(stdout(&o).contains("saves 316.5 to 3692.5 node-hours a week"), "{}", stdout(&o));

    // A holiday down and a load-test Saturday up, and someone else's action on a group.
    repo.replace(
        "vars/staging.k8s.foo.bar.yaml",
        "  uptime: [\"Mon-Fri 07:30-20:00\"]\n",
        "  uptime: [\"Mon-Fri 07:30-20:00\"]\n  exceptions:\n  - {name: christmas, from: \"2026-12-24 00:00\", to: \"2026-12-28 07:30\", state: down}\n  - {name: load-test, from: \"2026-12-12 08:00\", to: \"2026-12-12 18:00\", state: up}\n",
    );
    assert_eq!(code(&repo.run(&["render"])), 0);
    moto.py(&format!("asg('eu-west-1').put_scheduled_update_group_action(AutoScalingGroupName='{ADMIN}', ScheduledActionName='ops-friday', Recurrence='0 12 * * 5', MinSize=3, MaxSize=3, DesiredCapacity=3)"));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let plan = stdout(&o);
    assert!(plan.contains(&format!("+ scheduled action {ADMIN}/fleetform-load-test-begin")), "{plan}");
    assert!(plan.contains(&format!("~ scheduled action {ADMIN}/fleetform-up-1\n")), "the base actions now end where the first exception begins:\n{plan}");
    assert!(plan.contains("scheduled actions fleetform did not make (ops-friday)"), "{plan}");
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let a = actions(&moto, ADMIN);
    // Dublin is on UTC in winter: the local times are the instants.
    // The base actions end where the first exception begins; the later ones start at
    // their own first run (AWS runs a recurring action at its StartTime, then by its cron).
    assert_eq!(a["fleetform-up-1"], serde_json::json!(["30 7 * * 1-5", "Europe/Dublin", null, "2026-12-12T08:00:00Z", 2, 3, 2]));
    assert_eq!(a["fleetform-up-1-after-load-test"], serde_json::json!(["30 7 * * 1-5", "Europe/Dublin", "2026-12-14T07:30:00Z", "2026-12-24T00:00:00Z", 2, 3, 2]));
    assert_eq!(a["fleetform-down-1-after-christmas"], serde_json::json!(["0 20 * * 1-5", "Europe/Dublin", "2026-12-28T20:00:00Z", null, 0, 0, 0]));
    assert_eq!(a["fleetform-load-test-begin"], serde_json::json!([null, null, "2026-12-12T08:00:00Z", null, 2, 3, 2]));
    assert_eq!(a["fleetform-load-test-end"], serde_json::json!([null, null, "2026-12-12T18:00:00Z", null, 0, 0, 0]));
    assert!(a.get("fleetform-christmas-begin").is_none(), "at midnight the group is down already");
    assert!(a.get("fleetform-christmas-end").is_none(), "Monday's 07:30 up action ends it");
    assert!(a.get("ops-friday").is_some(), "someone else's action is left alone");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "in sync:\n{}", stdout(&o));

    // A group that must stay up opts out; its own actions go, the others' stay.
    repo.replace("vars/staging.k8s.foo.bar.yaml", "schedule:\n", "admin:\n  schedule: {alwaysOn: true}\nschedule:\n");
    repo.replace("templates/2_admin-nodes.yaml.tpl", "spec:\n", "spec:\n{%- if admin.schedule %}\n  schedule: {{ admin.schedule | json_encode() }}\n{%- endif %}\n");
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let a = actions(&moto, ADMIN);
    assert_eq!(a.as_object().unwrap().keys().collect::<Vec<_>>(), ["ops-friday"], "fleetform's own actions deleted without --allow-delete");
    assert_eq!(actions(&moto, "prometheus-nodes.staging.k8s.foo.bar").as_object().unwrap().len(), 8, "two per segment (three), and the load test's begin and end");
}

#[test]
fn at_night_staging_stays_down_and_validate_and_rolling_update_say_why() {
    let (moto, repo) = example_setup();
    let at = |args: &[&str]| moto.fleetform(&repo, None).env("FLEETFORM_NOW", SATURDAY).args(args).output().unwrap();
    let o = at(&["plan", "--cluster", STAGING]);
    assert!(stdout(&o).contains("now scaled to zero by its schedule (outside its uptime windows) until Mon 2026-12-07 07:30 Europe/Dublin"), "{}", stdout(&o));
    assert!(stdout(&o).contains("(at zero by its schedule now)"), "its cost tonight is said to be so: {}", stdout(&o));
    // An apply on a Saturday creates the groups at zero: it does not wake staging.
    let o = at(&["apply", "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(sizes(&moto, ADMIN), (0, 0, 0));
    let o = at(&["validate", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "a group its schedule holds at zero is healthy:\n{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(&format!("group {ADMIN}")) && stdout(&o).contains("scaled to zero by its schedule (outside its uptime windows) until Mon 2026-12-07 07:30"), "{}", stdout(&o));
    let o = at(&["rolling-update", "--cluster", STAGING, "--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("skipped group admin-nodes: scaled to zero by its schedule"), "{}", stdout(&o));
    // Someone scales a group up on the Saturday: healthy, but said (staging paid for all night).
    moto.py(&format!("asg('eu-west-1').update_auto_scaling_group(AutoScalingGroupName='{ADMIN}', MinSize=1, MaxSize=3, DesiredCapacity=1)"));
    let o = at(&["validate", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(&format!("schedule of group {ADMIN}")) && stdout(&o).contains("1 instance(s) running although scaled to zero by its schedule"), "{}", stdout(&o));
    moto.py(&format!("asg('eu-west-1').update_auto_scaling_group(AutoScalingGroupName='{ADMIN}', MinSize=0, MaxSize=0, DesiredCapacity=0)"));

    // Monday morning, had the up action not run: validate says so and what to do.
    let o = moto.run(&repo, &["validate", "--cluster", STAGING]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("at zero, but up by its schedule (inside Mon-Fri 07:30-20:00)"), "{}", stdout(&o));
    // The apply of Monday sets the declared sizes (the up action's job, done if it did not run).
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(sizes(&moto, ADMIN), (2, 3, 2));
}

#[test]
fn validate_reports_zones_out_of_balance_and_launches_that_failed_for_capacity() {
    let (moto, repo) = example_setup();
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["validate", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("eu-west-1a 1, eu-west-1b 1 (within 1)"), "Auto Scaling balances the zones:\n{}", stdout(&o));

    // Two more instances of the admin group in eu-west-1a, attached by hand (as AZ rebalancing
    // gone wrong would leave them): 3 in one zone, 1 in the other.
    moto.py(&format!(
        r#"
e = ec2('eu-west-1')
lt = '{ADMIN}'
sub = [s['SubnetId'] for s in e.describe_subnets()['Subnets'] if s['AvailabilityZone'] == 'eu-west-1a' and any(t['Key'] == 'kubernetes.io/cluster/{STAGING}' for t in s.get('Tags', []))][0]
a = asg('eu-west-1')
a.update_auto_scaling_group(AutoScalingGroupName='{ADMIN}', MaxSize=4)
ids = [i['InstanceId'] for i in e.run_instances(LaunchTemplate={{'LaunchTemplateName': lt}}, MinCount=2, MaxCount=2, SubnetId=sub)['Instances']]
a.attach_instances(AutoScalingGroupName='{ADMIN}', InstanceIds=ids)
"#
    ));
    // And the spot group could not get c5.4xlarge in eu-west-1b an hour ago, twice.
    let failed = |when: &str| {
        let m = "We currently do not have sufficient c5.4xlarge capacity in the Availability Zone you requested (eu-west-1b). Our system will be working on provisioning additional capacity. You can currently get c5.4xlarge capacity by not specifying an Availability Zone in your request or choosing eu-west-1a. Launching EC2 instance failed.";
        serde_json::json!({"AutoScalingGroupName": "spot-nodes-app-4x.staging.k8s.foo.bar", "StartTime": when, "StatusCode": "Failed", "StatusMessage": m, "Description": format!("Launching a new EC2 instance.  Status Reason: {m}"), "Progress": 100})
    };
    // And spot, as AWS words it for a mixed-instances group: no type, the zone in the details.
    let spot = serde_json::json!({"AutoScalingGroupName": "spot-nodes-app-8x.staging.k8s.foo.bar", "StartTime": "2026-11-30T09:30:00Z", "StatusCode": "Failed",
        "StatusMessage": "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available that matches your request. Launching EC2 instance failed.",
        "Details": {"Subnet ID": "subnet-0123", "Availability Zone": "eu-west-1a"}});
    moto.report_activities(&serde_json::json!([failed("2026-11-30T09:00:00Z"), failed("2026-11-30T09:05:00Z"), failed("2026-11-28T09:00:00Z"), spot]));
    // By default a warning (a roll leaves zones uneven for a while); `error` fails validate.
    let o = moto.run(&repo, &["validate", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("WARN"), "{}", stdout(&o));
    repo.write("vars/_zz-zones.yaml", "validation:\n  zoneBalance: {level: error}\n");
    repo.replace("templates/1_cluster.yaml.tpl", "    interval: {{ validation.interval }}\n", "    interval: {{ validation.interval }}\n{%- if validation.zoneBalance %}\n    zoneBalance: {{ validation.zoneBalance | json_encode() }}\n{%- endif %}\n");
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["validate", "--cluster", STAGING]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("zones of group {ADMIN}")) && out.contains("eu-west-1a 3, eu-west-1b 1: the fullest zone holds 2 more than the emptiest (at most 1)"), "{out}");
    assert!(out.contains("c5.4xlarge in eu-west-1b: 2 launch(es) failed, last at 2026-11-30T09:05:00Z"), "the last day only:\n{out}");
    assert!(out.contains("spot capacity of group spot-nodes-app-8x.staging.k8s.foo.bar") && out.contains("spot (the group's types) in eu-west-1a: 1 launch(es) failed"), "{out}");
    let o = moto.run(&repo, &["validate", "--cluster", STAGING, "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let capacity = v["checks"].as_array().unwrap().iter().find(|c| c["check"] == "spot capacity of group spot-nodes-app-4x.staging.k8s.foo.bar").unwrap();
    assert_eq!((capacity["ok"].as_bool(), capacity["warning"].as_bool()), (Some(true), Some(true)), "a report, not a failure");
}

#[test]
fn a_roll_holds_az_rebalance_while_it_surges_and_a_killed_one_gives_it_back() {
    let (moto, repo) = example_setup();
    // The drain hook runs while the batch is surged: it records what the group suspends then.
    let py = python().display().to_string();
    repo.write(
        "vars/_zz-test.yaml",
        &format!(
            "hooks:\n  drain: >-\n    {py} -c \"import boto3, os; g = boto3.client('autoscaling', region_name='eu-west-1').describe_auto_scaling_groups(AutoScalingGroupNames=[os.environ['FLEETFORM_GROUP']])['AutoScalingGroups'][0];\n    open('hooks.log', 'a').write(','.join(sorted(p['ProcessName'] for p in g['SuspendedProcesses'])) + ' ' + ','.join(sorted(t['Key'] for t in g['Tags'] if 'rolling' in t['Key'])) + chr(10))\"\n  validate: 'true'\nvalidation:\n  interval: 0s\n"
        ),
    );
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["rolling-update", "--cluster", STAGING, "--group", "admin-nodes", "--force", "--yes", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let log = std::fs::read_to_string(repo.path().join("hooks.log")).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
    for l in log.lines() {
        assert_eq!(l, "AZRebalance,ScheduledActions fleetform.io/rolling-update,fleetform.io/rolling-update-suspended", "held while it rolls (the schedule's actions too), recorded in a tag:\n{log}");
    }
    let after = rolling_marks(&moto);
    assert_eq!(after.trim(), "[] []", "given back after the roll");

    // A run killed while surged leaves both tags and the process suspended: plan does not call
    // that a declared change, and the next roll gives it back.
    moto.py(&format!(
        "a = asg('eu-west-1')\na.create_or_update_tags(Tags=[{{'ResourceId': '{ADMIN}', 'ResourceType': 'auto-scaling-group', 'Key': k, 'Value': v, 'PropagateAtLaunch': False}} for k, v in [('fleetform.io/rolling-update', '2,3,2'), ('fleetform.io/rolling-update-suspended', 'AZRebalance')]])\na.suspend_processes(AutoScalingGroupName='{ADMIN}', ScalingProcesses=['AZRebalance'])"
    ));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let o = moto.run(&repo, &["rolling-update", "--cluster", STAGING, "--group", "admin-nodes", "--yes", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = rolling_marks(&moto);
    assert_eq!(after.trim(), "[] []");

    // Killed between two batches (or after the last one): no sizes held, the processes still
    // suspended. The plan shows it and says why; apply gives them back and drops the tag.
    moto.py(&format!(
        "a = asg('eu-west-1')\na.create_or_update_tags(Tags=[{{'ResourceId': '{ADMIN}', 'ResourceType': 'auto-scaling-group', 'Key': 'fleetform.io/rolling-update-suspended', 'Value': 'AZRebalance,ScheduledActions', 'PropagateAtLaunch': False}}])\na.suspend_processes(AutoScalingGroupName='{ADMIN}', ScalingProcesses=['AZRebalance', 'ScheduledActions'])"
    ));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!("auto scaling group {ADMIN}: an interrupted rolling update left AZRebalance, ScheduledActions suspended")), "{}", stdout(&o));
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = rolling_marks(&moto);
    assert_eq!(after.trim(), "[] []", "given back by apply");
}

#[test]
fn a_plan_shows_what_the_groups_cost_an_hour_before_and_after() {
    let (moto, repo) = example_setup();
    // A small fixed table (the repository's own prices.csv wins over fleetform's).
    repo.write("prices.csv", "region,instance_type,usd_per_hour\neu-west-1,m5.xlarge,0.25\neu-west-1,r5.2xlarge,0.5\neu-west-1,c5.4xlarge,0.75\neu-west-1,m5.8xlarge,1.5\n");
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    repo.replace("vars/_defaults.yaml", "  minSize: 2\n", "  minSize: 3\n");
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let cost = &v["clusters"][0]["cost"];
    let admin = group_cost(&v, ADMIN);
    assert_eq!(admin["before"]["atMin"]["usdPerHour"], 0.5, "{admin}");
    assert_eq!(admin["after"]["atMin"]["usdPerHour"], 0.75);
    assert_eq!(admin["after"]["atDesired"]["onDemand"], 3);
    // Before: 2 admin + 1 prometheus; after: 3 + 1 (the groups at zero cost nothing).
    assert_eq!(cost["beforeAtDesired"], 1.0, "{cost}");
    assert_eq!(cost["afterAtDesired"], 1.25);
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    let text = stdout(&o);
    assert!(text.contains("cluster") && text.contains("$1.00 -> $1.25 (+$0.25 an hour, +$182 a month)"), "{text}");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--output", "markdown"]);
    assert!(stdout(&o).contains("| $1.00 → $1.25 (+$0.25) |"), "{}", stdout(&o));

    // Spot instances at the spot price AWS reports for the group's types (the emulator answers
    // 0.00001 for every type it offers): the 4x spot group at a minimum of one.
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--output", "json", "--set", "spot.minSize=1"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let spot = group_cost(&v, "spot-nodes-app-4x.staging.k8s.foo.bar");
    assert_eq!(spot["after"]["atMin"], serde_json::json!({"instances": 1, "onDemand": 0, "usdPerHour": 0.00001}), "{spot}");
    // (A price neither table has is said, never guessed: src/core/cost.rs and
    // src/commands/plan.rs test that.) Without the repository's table, fleetform's (generated from AWS's price list) prices them.
    std::fs::remove_file(repo.path().join("prices.csv")).unwrap();
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let admin = group_cost(&v, ADMIN);
    assert_eq!(admin["before"]["atMin"]["usdPerHour"], 0.428, "2 x m5.xlarge in eu-west-1 at 0.214: {admin}");
    // A bad line is an error with its place.
    repo.write("prices.csv", "eu-west-1,m5.xlarge\n");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("prices.csv:1"), "{}", stderr(&o));
}

#[test]
fn old_on_demand_fallback_nodes_go_back_to_spot_a_few_at_a_time() {
    let (moto, repo) = example_setup();
    repo.write("vars/_zz-test.yaml", "hooks:\n  drain: echo \"drain $FLEETFORM_GROUP $FLEETFORM_INSTANCE_ID\" >> hooks.log\n");
    let o = apply_staging(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The autoscaler fell back to on-demand during a peak: three nodes in the 4x fallback.
    const OD: &str = "on-demand-app-4x.staging.k8s.foo.bar";
    let last = moto.py(&format!(
        "a = asg('eu-west-1')\na.set_desired_capacity(AutoScalingGroupName='{OD}', DesiredCapacity=3)\nids = [i['InstanceId'] for i in a.describe_auto_scaling_groups(AutoScalingGroupNames=['{OD}'])['AutoScalingGroups'][0]['Instances']]\nr = ec2('eu-west-1').describe_instances(InstanceIds=ids)['Reservations']\nprint(max(i['LaunchTime'] for x in r for i in x['Instances']).strftime('%Y-%m-%dT%H:%M:%SZ'))"
    ));
    let launched: jiff::Timestamp = last.trim().parse().unwrap();
    let later = |h: i64| (launched + jiff::SignedDuration::from_mins(h)).to_string();
    let at = |now: &str, args: &[&str]| moto.fleetform(&repo, None).env("FLEETFORM_NOW", now).args(args).output().unwrap();
    let desired = || sizes(&moto, OD).2;

    // Half an hour after the peak: too young.
    let o = at(&later(30), &["reclaim-on-demand", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("would reclaim 0 on-demand instance(s)") && stdout(&o).contains("launched 30m ago, under 2h00m"), "{}", stdout(&o));
    // Three hours after: two (--max 2), the third left for the next run; nothing touched yet.
    let o = at(&later(180), &["reclaim-on-demand", "--cluster", STAGING]);
    assert!(stdout(&o).contains("would reclaim 2 on-demand instance(s)") && stdout(&o).contains("more than --max 2 this run"), "{}", stdout(&o));
    assert_eq!(desired(), 3);
    let o = at(&later(180), &["reclaim-on-demand", "--cluster", STAGING, "--yes", "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["clusters"][0]["reclaimed"].as_array().unwrap().len(), 2, "{v}");
    let drained = std::fs::read_to_string(repo.path().join("hooks.log")).unwrap();
    assert_eq!(drained.lines().count(), 2, "each drained first: {drained}");
    assert!(drained.lines().all(|l| l.starts_with(&format!("drain {OD} i-"))), "{drained}");
    assert_eq!(desired(), 1, "terminated with the desired capacity decremented: not replaced on-demand");
    let o = moto.run(&repo, &["history", "--cluster", STAGING]);
    assert!(stdout(&o).contains("reclaim-on-demand"), "an audit record: {}", stdout(&o));

    // No room on the pool's spot groups (at their max): nothing goes.
    moto.py("a = asg('eu-west-1')\nfor g in ['spot-nodes-app-4x', 'spot-nodes-app-8x']:\n    a.update_auto_scaling_group(AutoScalingGroupName=g + '.staging.k8s.foo.bar', MaxSize=0)");
    let o = at(&later(180), &["reclaim-on-demand", "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("reclaimed 0 on-demand instance(s)") && stdout(&o).contains("the spot groups of pool app have no room to grow"), "{}", stdout(&o));
    assert_eq!(desired(), 1);
}
