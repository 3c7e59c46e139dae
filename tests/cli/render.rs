use crate::aws::python;
use crate::common::*;

#[test]
fn committed_clusters_are_up_to_date() {
    // The pre-merge check, run on the repository's own example.
    let repo = Repo::example();
    let o = repo.run(&["render", "--check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("clusters/ is up to date"), "{}", stderr(&o));
}

#[test]
fn render_writes_every_cluster_and_is_deterministic() {
    let a = Repo::example();
    let b = Repo::example();
    std::fs::remove_dir_all(a.path().join("clusters")).unwrap();
    std::fs::remove_dir_all(b.path().join("clusters")).unwrap();
    let oa = a.run(&["render"]);
    assert_eq!(code(&oa), 0, "{}", stderr(&oa));
    insta::assert_snapshot!("render_fresh_stderr", stderr(&oa));
    let ob = b.run(&["render"]);
    assert_eq!(code(&ob), 0);
    assert_eq!(a.clusters_snapshot(), b.clusters_snapshot(), "same input, same bytes");
    // A second render changes nothing.
    let before = a.clusters_snapshot();
    let again = a.run(&["render"]);
    assert_eq!(code(&again), 0);
    assert!(stderr(&again).contains("already up to date"), "{}", stderr(&again));
    assert_eq!(before, a.clusters_snapshot());
    insta::assert_snapshot!("prod_manifest", a.read("clusters/prod-customer.k8s.foo.bar.yaml"));
    insta::assert_snapshot!("prod_autoscaler", a.read("clusters/prod-customer.k8s.foo.bar.cluster-autoscaler.yaml"));
}

#[test]
fn check_fails_with_a_diff_and_names_the_fix() {
    let repo = Repo::example();
    repo.replace("vars/prod-customer.k8s.foo.bar.yaml", "  maxSize: 100", "  maxSize: 120");
    let before = repo.clusters_snapshot();
    let o = repo.run(&["render", "--check"]);
    assert_eq!(code(&o), 1);
    assert_eq!(before, repo.clusters_snapshot(), "--check writes nothing");
    insta::assert_snapshot!("check_diff", stdout(&o));
    assert!(stderr(&o).contains("run `fleetform render` and commit clusters/"), "{}", stderr(&o));
}

#[test]
fn set_overrides_every_vars_file() {
    let repo = Repo::example();
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar", "--set", "spot.maxSize=7"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = repo.read("clusters/staging.k8s.foo.bar.yaml");
    assert_eq!(m.matches("maxSize: 7\n").count(), 2, "both spot groups take the override:\n{m}");
    // The other cluster is untouched: only the selected one is rendered.
    let o = repo.run(&["render", "--check", "--cluster", "prod-customer.k8s.foo.bar"]);
    assert_eq!(code(&o), 0);
}

#[test]
fn layers_and_values_files_apply_in_order_and_render_v_says_where_each_value_came_from() {
    let repo = Repo::example();
    repo.write("vars/layers/staging-defaults.yaml", "spot:\n  maxSize: 6\nonDemand:\n  maxSize: 3\n");
    repo.write("vars/layers/small.yaml", "spot:\n  maxSize: 4\n");
    let own = repo.read("vars/staging.k8s.foo.bar.yaml").replace("spot:\n  maxSize: 10\n", "").replace("onDemand:\n  maxSize: 5\n", "");
    repo.write("vars/staging.k8s.foo.bar.yaml", &format!("layers: [staging-defaults, small]\n{own}"));
    repo.write("run.yaml", "onDemand:\n  maxSize: 9\n");
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar", "--values", "run.yaml", "-v"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = repo.read("clusters/staging.k8s.foo.bar.yaml");
    assert_eq!(m.matches("maxSize: 4\n").count(), 2, "the later layer wins for both spot groups:\n{m}");
    assert_eq!(m.matches("maxSize: 9\n").count(), 2, "--values wins over the layers for both on-demand groups:\n{m}");
    // Where each value came from: one line per value, the file and line that set it last.
    let err = stderr(&o);
    let line = |key: &str| err.lines().find(|l| l.trim_start().starts_with(&format!("{key} "))).unwrap_or_else(|| panic!("{key} in\n{err}")).to_string();
    assert!(line("spot.maxSize").ends_with("vars/layers/small.yaml:2"), "{}", line("spot.maxSize"));
    assert!(line("onDemand.maxSize").ends_with("run.yaml:2"), "{}", line("onDemand.maxSize"));
    assert!(line("spot.minSize").ends_with("vars/_defaults.yaml:31"), "{}", line("spot.minSize"));
    assert!(line("region").ends_with("vars/staging.k8s.foo.bar.yaml:3"), "{}", line("region"));
    assert!(!err.contains("`layers` is not used"), "the layer list is not a value: {err}");
    // A typo in a layer's name.
    repo.write("vars/staging.k8s.foo.bar.yaml", &format!("layers: [staging-default]\n{own}"));
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("layer `staging-default` does not exist: there is no vars/layers/staging-default.yaml") && stderr(&o).contains("did you mean `staging-defaults`?"), "{}", stderr(&o));
}

#[test]
fn maps_merge_and_cluster_files_override_shared_values() {
    let repo = Repo::example();
    let m = repo.read("clusters/prod-customer.k8s.foo.bar.yaml");
    // admin.minSize comes from the cluster file, admin.machineType from _defaults.yaml.
    let admin = m.split("name: admin-nodes").nth(1).unwrap();
    assert!(admin.contains("machineType: m5.xlarge") && admin.contains("minSize: 3"), "{admin}");
}

#[test]
fn orphaned_generated_files_are_removed_only_when_rendering_all() {
    let repo = Repo::example();
    std::fs::remove_file(repo.path().join("vars/staging.k8s.foo.bar.yaml")).unwrap();
    repo.write("clusters/hand-written.yaml", "# not generated\n");
    let o = repo.run(&["render", "--check"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("+++ /dev/null"), "{}", stdout(&o));
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!repo.path().join("clusters/staging.k8s.foo.bar.yaml").exists());
    assert!(repo.path().join("clusters/hand-written.yaml").exists(), "only generated files are removed");
    assert!(stderr(&o).contains("Removed clusters/staging.k8s.foo.bar.yaml"), "{}", stderr(&o));
}

#[test]
fn json_output_is_versioned() {
    let repo = Repo::example();
    let o = repo.run(&["render", "--check", "--output", "json"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["stale"], false);
    let prod = &v["clusters"][0];
    assert_eq!(prod["name"], "prod-customer.k8s.foo.bar");
    assert_eq!(prod["nodeGroups"].as_array().unwrap().len(), 6);
    assert!(prod["autoscaler"]["args"][0]
        .as_str()
        .unwrap()
        .starts_with("--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/prod-customer"));
}

#[test]
fn snippets_nest_and_indent_keeps_kops_semantics() {
    let repo = Repo::example();
    repo.write("snippets/inner.yaml", "- c5.4xlarge\n- c5d.4xlarge\n");
    repo.write("snippets/outer.yaml", "{{ include(\"inner.yaml\") }}\n- c5n.4xlarge\n");
    repo.replace("templates/3_spot-nodes.yaml.tpl", "{{ include(size.spotTypes) | indent(4) }}", "{{ include(\"outer.yaml\") | indent(width=4) }}");
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = repo.read("clusters/staging.k8s.foo.bar.yaml");
    assert!(m.contains("    instances:\n    - c5.4xlarge\n    - c5d.4xlarge\n    - c5n.4xlarge\n"), "{m}");
}

#[test]
fn values_no_template_reads_are_warned_about() {
    let repo = Repo::example();
    // A typo in a cluster override: the shared maxSize silently stays; fleetform says so.
    repo.replace("vars/staging.k8s.foo.bar.yaml", "spot:\n  maxSize: 10", "spot:\n  maxSzie: 10");
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar", "--set", "onDemand.maxSixe=3"]);
    assert_eq!(code(&o), 0, "warnings do not fail render");
    insta::assert_snapshot!("unused_values_warnings", stderr(&o));
    let o = repo.run(&["lint", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valueWarnings"][0]["message"], "`spot.maxSzie` is not used by any template");
}

#[test]
fn a_typo_three_levels_down_under_a_loop_is_found_and_fails_with_strict() {
    let repo = Repo::example();
    // The kops-toolbox pattern: templates loop over pools and their sizes. A misspelt key in one
    // size of one pool reads as nothing; the exact check follows the loops to it.
    repo.replace("vars/_defaults.yaml", "        onDemandType: m5.8xlarge\n", "        onDemandType: m5.8xlarge\n        spotTypess: spot_4x_32Gb_machine_type.yaml\n");
    let before = repo.read("clusters/staging.k8s.foo.bar.yaml");
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar"]);
    assert_eq!(code(&o), 0, "a warning without --strict: {}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("`pools[0].sizes[1].spotTypess` is not used by any template"), "{err}");
    assert!(err.contains("vars/_defaults.yaml:49:9"), "file, line and column of the key: {err}");
    assert!(err.contains("did you mean `spotTypes`?"), "{err}");

    repo.write("clusters/staging.k8s.foo.bar.yaml", &before);
    for args in [&["render", "--strict"][..], &["lint", "--strict"][..], &["render", "--check", "--strict"][..]] {
        let o = repo.run(args);
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("error") && err.contains("`pools[0].sizes[1].spotTypess` is not used by any template"), "{args:?}: {err}");
        assert!(err.contains("an error with --strict"), "{args:?}: {err}");
    }
    assert_eq!(repo.read("clusters/staging.k8s.foo.bar.yaml"), before, "render --strict wrote nothing");
    let o = repo.run(&["lint", "--strict", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["ok"].as_bool(), v["strict"].as_bool()), (Some(false), Some(true)));
    assert_eq!(v["valueWarnings"][0]["line"], 49);

    // Fixed, --strict passes.
    repo.replace("vars/_defaults.yaml", "        spotTypess: spot_4x_32Gb_machine_type.yaml\n", "");
    let o = repo.run(&["lint", "--strict"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn render_never_writes_or_reads_through_links() {
    let repo = Repo::example();
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "precious\n").unwrap();
    // A link planted where an older fleetform put its temporary file.
    std::os::unix::fs::symlink(outside.path(), repo.path().join("clusters/.staging.k8s.foo.bar.yaml.tmp")).unwrap();
    std::fs::write(repo.path().join("clusters/staging.k8s.foo.bar.yaml"), "stale").unwrap();
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(outside.path()).unwrap(), "precious\n", "the link's target is untouched");
    let meta = std::fs::symlink_metadata(repo.path().join("clusters/staging.k8s.foo.bar.yaml")).unwrap();
    assert!(meta.file_type().is_file(), "a regular file of the repository");

    // A generated file replaced by a link leading out: refused, and the target's content never
    // reaches the diff.
    std::fs::remove_file(repo.path().join("clusters/staging.k8s.foo.bar.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("clusters/staging.k8s.foo.bar.yaml")).unwrap();
    for args in [&["render", "--check"][..], &["render"][..]] {
        let o = repo.run(args);
        assert_eq!(code(&o), 1, "{args:?}");
        assert!(stderr(&o).contains("clusters/staging.k8s.foo.bar.yaml is a symbolic link"), "{}", stderr(&o));
        assert!(!stdout(&o).contains("precious") && !stderr(&o).contains("precious"), "never printed");
        assert_eq!(std::fs::read_to_string(outside.path()).unwrap(), "precious\n");
    }
}

#[test]
fn concurrent_renders_into_one_clusters_dir_each_write_whole_files() {
    let repo = Repo::example();
    let want = repo.clusters_snapshot();
    std::fs::remove_file(repo.path().join("clusters/staging.k8s.foo.bar.yaml")).unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("fleetform"))
                .current_dir(repo.path())
                .arg("render")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(repo.clusters_snapshot(), want, "every file whole, none spliced, no temporary file left");
}

#[test]
fn values_never_change_the_manifests_structure_unless_a_template_asks() {
    let repo = Repo::example();
    // A value with YAML in it stays one scalar: the tag's value, nothing more.
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar", "--set", "team=\"platform\\n    iam: {profile: attacker}\""]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&repo.read("clusters/staging.k8s.foo.bar.yaml")).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
    assert_eq!(m[0]["spec"]["cloudLabels"]["team"], serde_yaml::Value::String("platform\n    iam: {profile: attacker}".into()));
    assert_eq!(m[0]["spec"]["cloudLabels"].as_mapping().unwrap().len(), 2);
    assert!(m[1..].iter().all(|g| g["spec"]["iam"]["profile"] == "eks-node"), "no group's profile changed");

    // Structure on purpose: to_yaml of a map, indented.
    repo.replace("templates/2_admin-nodes.yaml.tpl", "  nodeLabels:\n    node.kubernetes.io/role: admin", "  nodeLabels: {{ adminLabels | to_yaml | nindent(4) }}");
    repo.write("vars/_admin.yaml", "adminLabels:\n  node.kubernetes.io/role: admin\n  example.com/team: platform\n");
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(repo.read("clusters/staging.k8s.foo.bar.yaml").contains("  nodeLabels:\n    example.com/team: platform\n    node.kubernetes.io/role: admin\n"));
    // indent of a plain value is still one scalar.
    repo.replace("templates/2_admin-nodes.yaml.tpl", "  machineType: {{ admin.machineType }}", "  machineType: {{ admin.machineType | indent(2) }}");
    let o = repo.run(&["render", "--cluster", "staging.k8s.foo.bar", "--set", "admin.machineType=\"m5.xlarge\\ncritical: false\""]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = repo.read("clusters/staging.k8s.foo.bar.yaml");
    assert!(text.contains("machineType: |-") || text.contains("machineType: \"m5.xlarge"), "{text}");
}

#[test]
fn a_template_that_loops_too_long_is_stopped_and_named() {
    let repo = Repo::example();
    let items: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
    repo.write("vars/_many.yaml", &format!("many: [{}]\n", items.join(", ")));
    repo.write("templates/9_loops.yaml.tpl", "{% for a in many %}{% for b in many %}{% for c in many %}#\n{% endfor %}{% endfor %}{% endfor %}");
    let start = std::time::Instant::now();
    let o = repo.cmd().env("FLEETFORM_RENDER_TIMEOUT", "2s").args(["render", "--cluster", "staging.k8s.foo.bar"]).output().unwrap();
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("rendering cluster `staging.k8s.foo.bar` took longer than 2s"), "{}", stderr(&o));
    assert!(start.elapsed() < std::time::Duration::from_secs(60), "stopped, not left to run");
}

#[test]
fn a_byte_order_mark_is_not_content() {
    let repo = Repo::example();
    let text = repo.read("vars/staging.k8s.foo.bar.yaml");
    std::fs::write(repo.path().join("vars/staging.k8s.foo.bar.yaml"), [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat()).unwrap();
    let o = repo.run(&["render", "--check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The overprovisioning the example declares, as Kubernetes objects that Kubernetes' own
/// schemas accept, strictly (unknown fields refused): kubernetes-validate, pinned in
/// requirements-test.txt, offline. And the validator is strict: a misspelt field fails it.
#[test]
fn overprovisioning_artefacts_are_valid_kubernetes_objects() {
    let repo = Repo::example();
    let o = repo.run(&["render"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let file = repo.path().join("clusters/staging.k8s.foo.bar.cluster-autoscaler.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    // What the pause pods are: the pool's label, the dedicated group's toleration, sizes from
    // the smallest node of the pool (c5.4xlarge: 16 vCPU, 32 GiB; a quarter) and of the
    // dedicated group (r5.2xlarge: 8 vCPU, 64 GiB; half).
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ConfigMap", "Namespace", "PriorityClass", "Deployment", "Deployment"]);
    assert_eq!(docs[2]["value"], -10);
    assert_eq!(docs[2]["preemptionPolicy"], "Never");
    let app = &docs[3]["spec"];
    assert_eq!(app["replicas"], 2);
    assert_eq!(app["template"]["spec"]["nodeSelector"]["pool"], "app");
    assert_eq!(app["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"], "4000m");
    assert_eq!(app["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"], "8192Mi");
    let mon = &docs[4]["spec"]["template"]["spec"];
    assert_eq!(mon["tolerations"][0]["key"], "dedicated");
    assert_eq!(mon["tolerations"][0]["value"], "prometheus");
    assert_eq!(mon["tolerations"][0]["effect"], "NoSchedule");
    assert_eq!(mon["containers"][0]["resources"]["requests"]["memory"], "32768Mi");
    let validate = |path: &std::path::Path| {
        std::process::Command::new(python()).arg(project_root().join("tests/support/k8s_validate.py")).arg("--kubernetes-version").arg("1.31").arg(path).output().unwrap()
    };
    for cluster in ["staging.k8s.foo.bar", "prod-customer.k8s.foo.bar"] {
        let o = validate(&repo.path().join(format!("clusters/{cluster}.cluster-autoscaler.yaml")));
        assert_eq!(o.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
    let broken = repo.path().join("broken.yaml");
    std::fs::write(&broken, text.replace("effect: NoSchedule", "efect: NoSchedule")).unwrap();
    let o = validate(&broken);
    assert_eq!(o.status.code(), Some(1), "a misspelt field fails: {}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("tolerations[0].efect: unknown field"), "{}", String::from_utf8_lossy(&o.stdout));
}
