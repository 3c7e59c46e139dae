//! The control plane and the Kubernetes upgrade, against the emulator and the launcher's EKS
//! stand-ins (tests/support/moto_launcher.py, 7–11: clusters and updates that take time to
//! settle, one minor at a time, access entries, add-ons). Everything is read back with boto3;
//! what a node reads (its NodeConfig) is parsed the way the node parses it.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::aws::{python, Moto};
use crate::common::*;

const STAGING: &str = "staging.k8s.foo.bar";
const EKS: &str = "staging-k8s-foo-bar";

/// Test hooks and fast validation, plus `extra` (YAML lines of vars).
fn test_vars(repo: &Repo, extra: &str) {
    let py = python().display().to_string();
    repo.write(
        "vars/_zz-test.yaml",
        &format!(
            r#"hooks:
  drain: >-
    {py} -c "import os; open('hooks.log', 'a').write(f'drain {{os.environ[\"FLEETFORM_GROUP\"]}} {{os.environ[\"FLEETFORM_INSTANCE_ID\"]}}\n')"
  validate: echo "validate $FLEETFORM_CLUSTER" >> hooks.log
validation:
  validateCount: 1
  validationTimeout: 2m
  interval: 0s
{extra}"#
        ),
    );
}

/// The version in the test's vars.
fn set_version(repo: &Repo, v: &str) {
    let vars = repo.read("vars/_zz-test.yaml");
    let vars: String = vars.lines().filter(|l| !l.starts_with("kubernetesVersion:")).map(|l| format!("{l}\n")).collect();
    repo.write("vars/_zz-test.yaml", &format!("{vars}kubernetesVersion: \"{v}\"\n"));
}

/// Remove the example's staging control plane, so that fleetform creates it.
fn without_control_plane(moto: &Moto) {
    moto.py(&format!("eks('eu-west-1').delete_cluster(name='{EKS}')"));
}

/// A new image release per Kubernetes version, behind AWS's public parameters (AL2023 and
/// Bottlerocket, x86_64, eu-west-1). Returns version → (al2023 AMI, bottlerocket AMI).
fn publish_images(moto: &Moto, versions: &[&str]) -> std::collections::BTreeMap<String, (String, String)> {
    let mut out = std::collections::BTreeMap::new();
    for v in versions {
        let ids = moto.py(&format!(
            "c = ec2('eu-west-1')\nprint(c.register_image(Name='al2023-{v}', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'], c.register_image(Name='bottlerocket-{v}', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'])"
        ));
        let (al, br) = ids.trim().split_once(' ').unwrap();
        moto.publish_public_parameter(&format!("eu-west-1:/aws/service/eks/optimized-ami/{v}/amazon-linux-2023/x86_64/standard/recommended/image_id"), al);
        moto.publish_public_parameter(&format!("eu-west-1:/aws/service/bottlerocket/aws-k8s-{v}/x86_64/latest/image_id"), br);
        out.insert(v.to_string(), (al.to_string(), br.to_string()));
    }
    out
}

fn apply(moto: &Moto, repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s"];
    args.extend_from_slice(extra);
    moto.run(repo, &args)
}

fn spawn_apply_rolling(moto: &Moto, repo: &Repo) -> Child {
    moto.spawn(repo, &["apply", "--cluster", STAGING, "--rolling", "--yes", "--poll-interval", "0.1s"], false)
}

/// The control plane as EKS reports it.
fn control_plane(moto: &Moto) -> serde_json::Value {
    serde_json::from_str(&moto.py(&format!(
        r#"
e = eks('eu-west-1')
c = e.describe_cluster(name='{EKS}')['cluster']
entries = {{p: e.describe_access_entry(clusterName='{EKS}', principalArn=p)['accessEntry'] for p in e.list_access_entries(clusterName='{EKS}')['accessEntries']}} if c['accessConfig']['authenticationMode'] != 'CONFIG_MAP' else {{}}
addons = {{a: e.describe_addon(clusterName='{EKS}', addonName=a)['addon']['addonVersion'] for a in e.list_addons(clusterName='{EKS}')['addons']}}
updates = [e.describe_update(name='{EKS}', updateId=u)['update'] for u in e.list_updates(name='{EKS}')['updateIds']]
print(json.dumps({{
  'status': c['status'], 'version': c['version'], 'endpoint': c['endpoint'], 'mode': c['accessConfig']['authenticationMode'],
  'logging': sorted(t for s in c['logging']['clusterLogging'] if s.get('enabled') for t in s['types']),
  'tags': c.get('tags', {{}}),
  'entries': {{p: {{'type': x['type'], 'tags': x.get('tags', {{}})}} for p, x in entries.items()}},
  'addons': addons,
  'versionUpdates': [[p['value'] for p in u['params'] if p['type'] == 'Version'][0] for u in sorted(updates, key=lambda u: u['createdAt']) if u['type'] == 'VersionUpdate'],
}}, sort_keys=True))
"#
    )))
    .unwrap()
}

/// Running instances of the staging groups: id → [image, kubernetes-version tag].
fn instances(moto: &Moto) -> serde_json::Value {
    serde_json::from_str(&moto.py(
        r#"
out = {}
for r in ec2('eu-west-1').describe_instances(Filters=[{'Name': 'instance-state-name', 'Values': ['pending', 'running']}])['Reservations']:
    for i in r['Instances']:
        t = {x['Key']: x['Value'] for x in i.get('Tags', [])}
        out[i['InstanceId']] = [i['ImageId'], t.get('fleetform.io/kubernetes-version')]
print(json.dumps(out, sort_keys=True))
"#,
    ))
    .unwrap()
}

/// Text with every run of spaces made one: plan columns move with the widest field name.
fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out
}

fn hooks_log(repo: &Repo) -> String {
    std::fs::read_to_string(repo.path().join("hooks.log")).unwrap_or_default()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(120), "waited 120 s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(mut child: Child) {
    let _ = child.kill(); // SIGKILL: no clean-up at all
    let _ = child.wait();
}

#[test]
fn a_missing_control_plane_is_created_and_waited_for_before_the_nodes_that_join_it() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    without_control_plane(&moto);
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan = squash(&stdout(&o));
    assert!(plan.contains("+ eks control plane staging-k8s-foo-bar\n kubernetesVersion 1.31\n role arn:aws:iam::123456789012:role/eks-cluster"), "{plan}");
    assert!(plan.contains("! node groups not planned yet: EKS cluster staging-k8s-foo-bar does not exist yet"), "{plan}");
    assert!(!plan.contains("+ launch template"), "no node group before its control plane: {plan}");

    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    let at = |s: &str| err.find(s).unwrap_or_else(|| panic!("`{s}` in\n{err}"));
    assert!(at("done: create EKS control plane staging-k8s-foo-bar (Kubernetes 1.31)") < at("Planning the node groups of staging.k8s.foo.bar"), "{err}");
    assert!(at("Planning the node groups") < at("create launch template admin-nodes.staging.k8s.foo.bar"), "{err}");

    let cp = control_plane(&moto);
    assert_eq!((cp["status"].as_str(), cp["version"].as_str(), cp["mode"].as_str()), (Some("ACTIVE"), Some("1.31"), Some("API_AND_CONFIG_MAP")));
    assert_eq!(cp["logging"], serde_json::json!(["api", "audit", "authenticator"]));
    assert_eq!(cp["tags"]["fleetform.io/cluster"], STAGING);
    assert_eq!(cp["addons"], serde_json::json!({"coredns": "v1.11.3-eksbuild.1", "kube-proxy": "v1.31.0-eksbuild.1", "vpc-cni": "v1.19.2-eksbuild.1"}));
    let node_role = "arn:aws:iam::123456789012:role/eks-node";
    assert_eq!(cp["entries"][node_role], serde_json::json!({"type": "EC2_LINUX", "tags": {"fleetform.io/cluster": STAGING}}));
    // What a node of the new cluster reads: its endpoint, parsed as nodeadm parses it.
    let endpoint = moto.py(&format!(
        r#"
import base64, email, yaml
d = ec2('eu-west-1').describe_launch_template_versions(LaunchTemplateName='admin-nodes.{STAGING}', Versions=['$Default'])['LaunchTemplateVersions'][0]['LaunchTemplateData']
msg = email.message_from_string(base64.b64decode(d['UserData']).decode())
nc = [yaml.safe_load(p.get_payload()) for p in msg.walk() if p.get_content_type() == 'application/node.eks.aws'][0]
print(nc['spec']['cluster']['apiServerEndpoint'])
"#
    ));
    assert_eq!(endpoint.trim(), cp["endpoint"].as_str().unwrap());
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "converged: {}", stdout(&o));
}

/// The sampler: every 50 ms, the control plane's version and the node versions of the running
/// instances, as JSON lines, until `stop` exists.
fn start_sampler(moto: &Moto, repo: &Repo) -> Child {
    let script = format!(
        r#"
import re, time
names = {{}}
e, c = eks('eu-west-1'), ec2('eu-west-1')
with open('samples.log', 'a') as f:
    while not os.path.exists('stop'):
        cl = e.describe_cluster(name='{EKS}')['cluster']
        nodes = []
        for r in c.describe_instances(Filters=[{{'Name': 'instance-state-name', 'Values': ['running']}}])['Reservations']:
            for i in r['Instances']:
                t = {{x['Key']: x['Value'] for x in i.get('Tags', [])}}
                # What the node runs: the version its image's name carries, as the tag should say.
                if i['ImageId'] not in names:
                    names[i['ImageId']] = c.describe_images(ImageIds=[i['ImageId']])['Images'][0]['Name']
                v = [p for p in re.split('[-_/]', names[i['ImageId']]) if re.fullmatch(r'1\.[0-9]+', p)]
                nodes.append([v[0] if v else None, t.get('fleetform.io/kubernetes-version')])
        f.write(json.dumps({{'cp': cl['version'], 'status': cl['status'], 'nodes': nodes}}) + '\n')
        f.flush()
        time.sleep(0.05)
"#
    );
    moto.py_command(&script)
        .current_dir(repo.path())
        .spawn()
        .unwrap()
}

#[test]
fn an_upgrade_over_two_minors_moves_the_control_plane_then_every_node_within_the_skew_policy() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    let images = publish_images(&moto, &["1.30", "1.32"]);
    without_control_plane(&moto);
    // kube-proxy is left out of the declared add-ons: installed by hand, it is only reported.
    test_vars(&repo, "kubernetesVersion: \"1.30\"\neksAddons: [vpc-cni, coredns]\n");
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    moto.py(&format!("eks('eu-west-1').create_addon(clusterName='{EKS}', addonName='kube-proxy', addonVersion='v1.30.0-eksbuild.1')"));
    let before = instances(&moto);
    assert_eq!(before.as_object().unwrap().len(), 3, "2 admin + 1 prometheus: {before}");
    for (_, v) in before.as_object().unwrap() {
        assert_eq!(v[1], "1.30", "nodes launched with their version tag: {before}");
        assert!([&images["1.30"].0, &images["1.30"].1].contains(&&v[0].as_str().unwrap().to_string()), "{before}");
    }

    set_version(&repo, "1.32");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan = squash(&stdout(&o));
    let first = plan.find("kubernetesVersion 1.30 -> 1.31").unwrap_or_else(|| panic!("{plan}"));
    let second = plan.find("kubernetesVersion 1.31 -> 1.32").unwrap_or_else(|| panic!("{plan}"));
    assert!(first < second && second < plan.find("~ eks add-on coredns").unwrap(), "control plane first, one minor at a time, then add-ons: {plan}");
    assert!(plan.contains(&format!("# after this step, group admin-nodes.{STAGING}: nodes 1.30, 2 minors behind")), "{plan}");
    assert!(plan.contains("version v1.11.3-eksbuild.1 -> v1.11.4-eksbuild.2"), "{plan}");
    assert!(plan.contains("! add-on kube-proxy v1.30.0-eksbuild.1 does not run on Kubernetes 1.32; it is not declared in spec.eks.addons, so fleetform leaves it: move it to v1.32.0-eksbuild.1"), "{plan}");
    assert!(plan.contains(&format!("image {} -> {}", images["1.30"].0, images["1.32"].0)), "{plan}");
    assert!(plan.contains("A rolling update would replace 3 instance(s)"), "{plan}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&moto.run(&repo, &["plan", "--cluster", STAGING, "--output", "json"]))).unwrap();
    let report = &json["clusters"][0]["addonReport"];
    assert_eq!(report.as_array().map(Vec::len), Some(2), "{report}");

    let sampler = start_sampler(&moto, &repo);
    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--rolling", "--yes", "--poll-interval", "0.1s"]);
    std::fs::write(repo.path().join("stop"), "").unwrap();
    let mut sampler = sampler;
    sampler.wait().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // The skew policy held at every sample, and the sampler saw the control plane move.
    let samples: Vec<serde_json::Value> = repo.read("samples.log").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let minor = |v: &serde_json::Value| v.as_str().and_then(|s| s.strip_prefix("1.")).and_then(|m| m.parse::<i32>().ok());
    for s in &samples {
        let cp = minor(&s["cp"]).unwrap();
        for n in s["nodes"].as_array().unwrap() {
            assert_eq!(n[0], n[1], "the image a node runs and its version tag agree: {s}");
            let n = minor(&n[0]).unwrap_or_else(|| panic!("a node of unknown version: {s}"));
            assert!(n <= cp && cp - n <= 3, "skew violated: {s}");
        }
    }
    // Sampled during the run (how many samples fall in each step depends on the machine's
    // speed, so no count per step is asserted): the control plane's version never goes back.
    assert!(samples.len() > 5, "{} samples", samples.len());
    let cps: Vec<i32> = samples.iter().filter_map(|s| minor(&s["cp"])).collect();
    assert!(cps.windows(2).all(|w| w[0] <= w[1]), "the control plane's version only goes up: {cps:?}");

    let cp = control_plane(&moto);
    assert_eq!((cp["status"].as_str(), cp["version"].as_str()), (Some("ACTIVE"), Some("1.32")));
    assert_eq!(cp["versionUpdates"], serde_json::json!(["1.31", "1.32"]), "one minor at a time, once each");
    assert_eq!(cp["addons"], serde_json::json!({"coredns": "v1.11.4-eksbuild.2", "kube-proxy": "v1.30.0-eksbuild.1", "vpc-cni": "v1.19.2-eksbuild.1"}), "declared ones moved, the other left");
    let after = instances(&moto);
    assert_eq!(after.as_object().unwrap().len(), 3, "{after}");
    for (id, v) in after.as_object().unwrap() {
        assert!(before.get(id).is_none(), "every instance replaced: {id}");
        assert_eq!(v[1], "1.32", "{after}");
        assert!([&images["1.32"].0, &images["1.32"].1].contains(&&v[0].as_str().unwrap().to_string()), "{after}");
    }
    let log = hooks_log(&repo);
    for id in before.as_object().unwrap().keys() {
        assert_eq!(log.lines().filter(|l| l.starts_with("drain") && l.ends_with(id.as_str())).count(), 1, "{id} drained once:\n{log}");
    }
    let o = moto.run(&repo, &["validate", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let v = squash(&stdout(&o));
    assert!(v.contains(&format!("eks control plane {EKS} ok ACTIVE, Kubernetes 1.32")) && v.contains("node version skew ok every node of known version within 3 minors of 1.32, none newer\n"), "{v}");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "converged: {}", stdout(&o));
}

#[test]
fn killed_during_the_control_plane_step_and_again_during_the_roll_each_rerun_resumes() {
    // EKS changes take 2 s here, so that a kill lands inside the control-plane step.
    let moto = Moto::start_settling(2.0);
    moto.example_account();
    let repo = Repo::example();
    publish_images(&moto, &["1.30", "1.32"]);
    without_control_plane(&moto);
    test_vars(&repo, "kubernetesVersion: \"1.30\"\neksAddons: []\n");
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    let before = instances(&moto);

    set_version(&repo, "1.32");
    let child = spawn_apply_rolling(&moto, &repo);
    // Killed once the upgrade has begun: the first minor asked for (UPDATING) or done. A
    // condition that stays true, so that a slow poll cannot miss the moment.
    wait_for("the control plane upgrade to begin", || {
        let cp = control_plane(&moto);
        cp["status"] == "UPDATING" || cp["version"] != "1.30"
    });
    kill(child);
    moto.break_stale_lock(&repo, STAGING);

    let child = spawn_apply_rolling(&moto, &repo);
    wait_for("the roll to drain a node", || hooks_log(&repo).contains("drain"));
    kill(child);
    moto.break_stale_lock(&repo, STAGING);

    let o = moto.run(&repo, &["apply", "--cluster", STAGING, "--rolling", "--yes", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let cp = control_plane(&moto);
    assert_eq!((cp["status"].as_str(), cp["version"].as_str()), (Some("ACTIVE"), Some("1.32")));
    assert_eq!(cp["versionUpdates"], serde_json::json!(["1.31", "1.32"]), "each minor asked once, whatever the kills");
    let after = instances(&moto);
    assert_eq!(after.as_object().unwrap().len(), before.as_object().unwrap().len(), "no instance left over: {after}");
    assert!(after.as_object().unwrap().values().all(|v| v[1] == "1.32"), "{after}");
    // Every old node drained before it went, no new one ever; a node whose drain the kill cut
    // off from its termination is drained once more by the re-run (draining is idempotent).
    let log = hooks_log(&repo);
    let drained: Vec<&str> = log.lines().filter(|l| l.starts_with("drain")).map(|l| l.rsplit(' ').next().unwrap()).collect();
    let mut unique = drained.clone();
    unique.sort();
    unique.dedup();
    let mut old: Vec<&str> = before.as_object().unwrap().keys().map(String::as_str).collect();
    old.sort();
    assert_eq!(unique, old, "{log}");
    assert!(drained.len() <= old.len() + 1, "at most the one node the kill caught between drain and termination twice:\n{log}");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "converged: {}", stdout(&o));
}

/// The control plane's status, or "none".
fn cp_status(moto: &Moto) -> String {
    moto.py(&format!("try:\n    print(eks('eu-west-1').describe_cluster(name='{EKS}')['cluster']['status'])\nexcept Exception:\n    print('none')")).trim().to_string()
}

#[test]
fn killed_while_the_control_plane_is_created_or_changed_or_an_add_on_moves_each_rerun_converges() {
    let moto = Moto::start_settling(2.0);
    moto.example_account();
    let repo = Repo::example();
    without_control_plane(&moto);
    test_vars(&repo, "eksAddons: [vpc-cni, coredns]\n");
    let apply_spawned = |moto: &Moto, repo: &Repo| moto.spawn(repo, &["apply", "--cluster", STAGING, "--yes", "--poll-interval", "0.1s"], false);
    let converged = |moto: &Moto, repo: &Repo, what: &str| {
        let o = apply(moto, repo, &[]);
        assert_eq!(code(&o), 0, "{what}: the re-run finishes\n{}", stderr(&o));
        let o = moto.run(repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"]);
        assert_eq!(code(&o), 0, "{what}: converged\n{}", stdout(&o));
    };

    // 1. While the control plane is being created.
    let child = apply_spawned(&moto, &repo);
    // Conditions that stay true once reached (a slow poll cannot miss them): the kill lands
    // while the step runs, or just after it — a re-run must converge from either.
    wait_for("the control plane to be created", || cp_status(&moto) != "none");
    kill(child);
    moto.break_stale_lock(&repo, STAGING);
    converged(&moto, &repo, "killed during creation");

    // 2. While an endpoint-access update runs (EKS refuses an update that changes nothing: the
    //    re-run must see that the killed run's update went through).
    repo.replace("templates/1_cluster.yaml.tpl", "    logging: [api, audit, authenticator]\n", "    logging: [api, audit, authenticator]\n    endpointAccess: {public: true, private: true}\n");
    let child = apply_spawned(&moto, &repo);
    let endpoint = format!("c = eks('eu-west-1').describe_cluster(name='{EKS}')['cluster']\nprint(c['status'] == 'UPDATING' or c['resourcesVpcConfig']['endpointPrivateAccess'])");
    wait_for("the endpoint update", || moto.py(&endpoint).trim() == "True");
    kill(child);
    moto.break_stale_lock(&repo, STAGING);
    converged(&moto, &repo, "killed during an endpoint update");
    assert!(control_plane(&moto)["status"] == "ACTIVE");

    // 3. While an add-on moves to another version (EKS refuses a second change meanwhile).
    repo.replace("templates/1_cluster.yaml.tpl", "    - name: {{ addon }}\n", "    - name: {{ addon }}\n{%- if addon == \"coredns\" %}\n      version: v1.11.4-eksbuild.2\n{%- endif %}\n");
    let child = apply_spawned(&moto, &repo);
    let status = format!("a = eks('eu-west-1').describe_addon(clusterName='{EKS}', addonName='coredns')['addon']\nprint(a['status'] == 'UPDATING' or a['addonVersion'] == 'v1.11.4-eksbuild.2')");
    wait_for("the add-on update", || moto.py(&status).trim() == "True");
    kill(child);
    moto.break_stale_lock(&repo, STAGING);
    converged(&moto, &repo, "killed during an add-on update");
    assert_eq!(control_plane(&moto)["addons"]["coredns"], "v1.11.4-eksbuild.2");
}

#[test]
fn what_eks_or_the_skew_policy_forbids_is_refused_and_changes_nothing() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    let cp_before = control_plane(&moto);

    // 1.31 → 1.35: 1.32, 1.33 and 1.34 keep the 1.31 nodes within three minors; 1.35 would not.
    test_vars(&repo, "kubernetesVersion: \"1.35\"\n");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = squash(&stdout(&o));
    assert!(
        out.contains(&format!("moving the control plane to 1.35 would leave node groups admin-nodes.{STAGING} (1.31), prometheus-nodes.{STAGING} (1.31) more than 3 minors behind")),
        "{out}"
    );
    assert!(out.contains("kubernetesVersion 1.33 -> 1.34") && !out.contains("1.34 -> 1.35"), "{out}");
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("nothing was applied"), "{}", stderr(&o));

    // A node image newer than its control plane.
    set_version(&repo, "1.31");
    repo.replace("templates/5_dedicated-nodes.yaml.tpl", "  image: {{ image }}", "  image: ssm:/aws/service/bottlerocket/aws-k8s-1.32/x86_64/latest/image_id");
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains(&format!("node groups prometheus-nodes.{STAGING} (1.32) would run a Kubernetes version newer than the control plane's 1.31")), "{}", stderr(&o));
    repo.replace("templates/5_dedicated-nodes.yaml.tpl", "  image: ssm:/aws/service/bottlerocket/aws-k8s-1.32/x86_64/latest/image_id", "  image: {{ image }}");

    // Downgrades, and what EKS sets at creation only.
    set_version(&repo, "1.30");
    repo.replace("templates/1_cluster.yaml.tpl", "    bootstrap: al2023\n", "    bootstrap: al2023\n    serviceIpv4Cidr: 10.0.0.0/16\n");
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("EKS never downgrades a control plane; declare 1.31 or newer"), "{err}");
    assert!(err.contains("the service CIDR is 172.20.0.0/16 and the Cluster declares 10.0.0.0/16; EKS sets it at creation and never changes it"), "{err}");
    assert_eq!(control_plane(&moto), cp_before, "AWS untouched");
}

#[test]
fn access_entries_come_and_go_with_the_node_groups_roles() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    moto.py(
        "import json as j\niam.create_role(RoleName='gpu-node', AssumeRolePolicyDocument=j.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Principal': {'Service': 'ec2.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]}))\niam.create_instance_profile(InstanceProfileName='gpu-node')\niam.add_role_to_instance_profile(InstanceProfileName='gpu-node', RoleName='gpu-node')",
    );
    let gpu = repo.read("templates/5_dedicated-nodes.yaml.tpl").replace("name: prometheus-nodes", "name: gpu-nodes").replace("profile: {{ nodeInstanceProfile }}", "profile: gpu-node");
    repo.write("templates/6_gpu-nodes.yaml.tpl", &gpu);
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    let (node, gpu_role, root) = ("arn:aws:iam::123456789012:role/eks-node", "arn:aws:iam::123456789012:role/gpu-node", "arn:aws:iam::123456789012:root");
    let entries = &control_plane(&moto)["entries"];
    let owned = serde_json::json!({"type": "EC2_LINUX", "tags": {"fleetform.io/cluster": STAGING}});
    assert_eq!((&entries[node], &entries[gpu_role]), (&owned, &owned));
    assert_eq!(entries[root]["type"], "STANDARD", "the creator's entry is there, and not fleetform's");

    std::fs::remove_file(repo.path().join("templates/6_gpu-nodes.yaml.tpl")).unwrap();
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert!(squash(&stdout(&o)).contains(&format!("- eks access entry {gpu_role}\n # no node group uses this role any more")), "{}", stdout(&o));
    let o = apply(&moto, &repo, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("not deleted: eks access entry {gpu_role}")), "deletions wait for --allow-delete: {}", stderr(&o));
    assert!(control_plane(&moto)["entries"].get(gpu_role).is_some());
    assert_eq!(code(&apply(&moto, &repo, &["--allow-delete"])), 0);
    let entries = control_plane(&moto)["entries"].clone();
    assert!(entries.get(gpu_role).is_none() && entries.get(node).is_some() && entries.get(root).is_some(), "{entries}");
}

#[test]
fn a_cluster_on_the_aws_auth_config_map_gets_the_entries_to_merge_then_moves_to_access_entries() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    // The staging control plane, made before access entries existed.
    moto.py(&format!(
        r#"
import time
e = eks('eu-west-1')
old = e.describe_cluster(name='{EKS}')['cluster']
e.delete_cluster(name='{EKS}')
e.create_cluster(name='{EKS}', version='1.31', roleArn=old['roleArn'], resourcesVpcConfig={{'subnetIds': old['resourcesVpcConfig']['subnetIds']}}, kubernetesNetworkConfig={{'serviceIpv4Cidr': '172.20.0.0/16'}}, accessConfig={{'authenticationMode': 'CONFIG_MAP'}})
while e.describe_cluster(name='{EKS}')['cluster']['status'] != 'ACTIVE':
    time.sleep(0.05)
"#
    ));
    test_vars(&repo, "eksAuthenticationMode: null\n");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("authenticates with the aws-auth ConfigMap only (CONFIG_MAP)"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("eks access entry"), "{}", stdout(&o));
    // Read as kubectl and the authenticator read it.
    let path = repo.path().join(format!("clusters/{STAGING}.aws-auth.yaml"));
    let roles = moto.py(&format!(
        "import yaml\ncm = yaml.safe_load(open('{}'))\nassert cm['kind'] == 'ConfigMap' and cm['metadata'] == {{'name': 'aws-auth', 'namespace': 'kube-system'}}\nprint(json.dumps(yaml.safe_load(cm['data']['mapRoles'])))",
        path.display()
    ));
    let arn = moto.py("print(iam.get_role(RoleName='eks-node')['Role']['Arn'])");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&roles).unwrap(),
        serde_json::json!([{"rolearn": arn.trim(), "username": "system:node:{{EC2PrivateDNSName}}", "groups": ["system:bootstrappers", "system:nodes"]}])
    );

    // Moving to access entries: the mode first, then the entry.
    test_vars(&repo, "eksAuthenticationMode: API_AND_CONFIG_MAP\n");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING]);
    assert!(squash(&stdout(&o)).contains("authenticationMode CONFIG_MAP -> API_AND_CONFIG_MAP"), "{}", stdout(&o));
    assert_eq!(code(&apply(&moto, &repo, &[])), 0);
    let cp = control_plane(&moto);
    assert_eq!(cp["mode"], "API_AND_CONFIG_MAP");
    assert_eq!(cp["entries"][arn.trim()]["type"], "EC2_LINUX");
}

#[test]
fn a_saved_plan_made_before_the_control_plane_existed_creates_it_then_says_to_plan_again() {
    let moto = Moto::start();
    moto.example_account();
    let repo = Repo::example();
    without_control_plane(&moto);
    let file = repo.path().join("create.plan.json");
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--out", file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = moto.run(&repo, &["apply", file.to_str().unwrap(), "--yes", "--poll-interval", "0.1s"]);
    assert_eq!(code(&o), 2, "applied, with work left for a new plan: {}", stderr(&o));
    // What was reviewed was applied, and nothing more: the node groups were never in it.
    assert!(
        stderr(&o).contains(&format!("{STAGING}: the saved plan held no node groups (their control plane did not exist when it was made); plan them now that it is ACTIVE")),
        "{}",
        stderr(&o)
    );
    assert_eq!(control_plane(&moto)["status"], "ACTIVE");
    assert_eq!(moto.py("print(len(asg('eu-west-1').describe_auto_scaling_groups()['AutoScalingGroups']))").trim(), "0");
    // The next plan has them, with the new control plane's endpoint.
    let o = moto.run(&repo, &["plan", "--cluster", STAGING, "--out", file.to_str().unwrap()]);
    assert!(stdout(&o).contains("+ auto scaling group admin-nodes.staging.k8s.foo.bar"), "{}", stdout(&o));
    assert_eq!(code(&moto.run(&repo, &["apply", file.to_str().unwrap(), "--yes"])), 0);
    assert_eq!(code(&moto.run(&repo, &["plan", "--cluster", STAGING, "--detailed-exitcode"])), 0);
}
