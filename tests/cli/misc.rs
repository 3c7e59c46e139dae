use crate::common::*;

#[test]
fn schema_is_json_schema_with_both_kinds() {
    let repo = Repo::example();
    let o = repo.run(&["schema"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(v["if"]["properties"]["kind"]["const"], "Cluster", "the kind picks the branch");
    assert_eq!(v["else"]["if"]["properties"]["kind"]["const"], "NodeGroup");
    assert_eq!(v["definitions"]["ClusterManifest"]["properties"]["kind"]["const"], "Cluster");
    assert_eq!(v["definitions"]["NodeGroupManifest"]["properties"]["kind"]["const"], "NodeGroup");
    let ng = &v["definitions"]["NodeGroupSpec"];
    assert_eq!(ng["additionalProperties"], false, "unknown fields are errors in editors too");
    for field in ["minSize", "maxSize", "mixedInstancesPolicy", "cloudLabels", "nodeLabels", "taints", "rootVolume", "rollingUpdate", "autoscalePriority"] {
        assert!(ng["properties"].get(field).is_some(), "{field}");
    }
}

#[test]
fn completions_and_man_page() {
    let repo = Repo::example();
    for shell in ["bash", "zsh", "fish"] {
        let o = repo.run(&["completions", shell]);
        assert_eq!(code(&o), 0);
        assert!(stdout(&o).contains("fleetform"));
    }
    let o = repo.run(&["man"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with(".ie") || stdout(&o).contains(".TH fleetform"), "{}", &stdout(&o)[..200]);
}

#[test]
fn a_man_page_per_command_and_examples_in_every_help() {
    let repo = Repo::example();
    let dir = repo.path().join("man");
    let o = repo.run(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for page in ["fleetform.1", "fleetform-plan.1", "fleetform-rolling-update.1", "fleetform-import-kops.1", "fleetform-destroy.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is a man page");
    }
    assert!(std::fs::read_to_string(dir.join("fleetform-plan.1")).unwrap().contains("detailed\\-exitcode"), "the plan page has plan's flags");
    // Every command's long help ends with examples.
    for cmd in ["render", "lint", "plan", "apply", "destroy", "rolling-update", "validate", "unlock", "history", "schema", "completions", "man"] {
        let o = repo.run(&[cmd, "--help"]);
        let out = stdout(&o);
        let tail = out.rsplit("Examples:").next().unwrap_or("");
        assert!(out.contains("Examples:") && tail.lines().filter(|l| l.trim_start().starts_with("fleetform ")).count() >= 2, "{cmd} --help ends with examples:\n{out}");
    }
    let o = repo.run(&["import", "kops", "--help"]);
    assert!(stdout(&o).contains("Examples:"), "{}", stdout(&o));
}

#[test]
fn color_never_reaches_clap_and_rules_come_as_json() {
    let repo = Repo::example();
    let o = repo.cmd().env_remove("NO_COLOR").args(["--color", "always", "render", "--no-such-flag"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains('\x1b'), "always: clap's usage error in colour");
    let o = repo.cmd().env_remove("NO_COLOR").args(["--color", "never", "render", "--no-such-flag"]).output().unwrap();
    assert_eq!(code(&o), 1);
    assert!(!String::from_utf8_lossy(&o.stderr).contains('\x1b'), "never: no escape codes: {:?}", String::from_utf8_lossy(&o.stderr));
    let o = repo.run(&["lint", "--rules", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ids: Vec<&str> = v["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"fallback-can-take-pods") && ids.contains(&"spot-min-zones"), "{ids:?}");
    assert_eq!(v["rules"][0]["default"], "error");
}

#[test]
fn help_is_stable() {
    let repo = Repo::example();
    let o = repo.run(&["--help"]);
    assert_eq!(code(&o), 0);
    insta::assert_snapshot!("help", stdout(&o));
}

#[test]
fn usage_errors_exit_1() {
    let repo = Repo::example();
    let o = repo.run(&["render", "--no-such-flag"]);
    assert_eq!(code(&o), 1);
    let o = repo.run(&["render", "--all", "--cluster", "x"]);
    assert_eq!(code(&o), 1);
}

#[test]
fn closed_stdout_is_not_an_error() {
    let repo = Repo::example();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("fleetform"))
        .args(["schema"])
        .current_dir(repo.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once, like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_write_error_on_stdout_fails_but_a_closed_pipe_does_not() {
    let repo = Repo::example();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("fleetform")).current_dir(repo.path()).arg("schema").stdout(full).output().unwrap();
    assert_eq!(code(&o), 1, "a full disk is an error");
    assert!(stderr(&o).contains("writing the result to stdout failed"), "{}", stderr(&o));
    // A reader that goes away early (`| head`) is not an error.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("fleetform"))
        .current_dir(repo.path())
        .arg("schema")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// `fleetform schema` and `fleetform render` agree on every document here, checked with a real
/// JSON Schema validator (python-jsonschema, Draft 7), and the bundled manifests validate.
#[test]
fn the_schema_agrees_with_the_binary() {
    let repo = Repo::example();
    let schema = stdout(&repo.run(&["schema"]));
    repo.write("schema.json", &schema);
    let base = "apiVersion: fleetform.io/v1alpha1\nkind: NodeGroup\nmetadata:\n  name: case\nspec:\n  role: Node\n  image: ami-760aaa0f\n  machineType: m5.large\n  minSize: 0\n  maxSize: 2\n  subnets: [eu-west-1a]\n  rootVolume: {size: 50}\n";
    let cases: &[(&str, String)] = &[
        ("valid", base.to_string()),
        ("a taint", format!("{base}  taints: [dedicated=x:NoSchedule]\n")),
        ("a bad taint effect", format!("{base}  taints: [dedicated=x:NoSchedul]\n")),
        ("a taint without effect", format!("{base}  taints: [dedicated=x]\n")),
        ("maxSurge 25%", format!("{base}  rollingUpdate: {{maxSurge: 25%}}\n")),
        ("maxSurge lots", format!("{base}  rollingUpdate: {{maxSurge: lots}}\n")),
        ("maxSurge 200%", format!("{base}  rollingUpdate: {{maxSurge: 200%}}\n")),
        ("a priority below -1", format!("{base}  autoscalePriority: -2\n")),
        ("priority -1", format!("{base}  autoscalePriority: -1\n")),
        ("priority 10", format!("{base}  autoscalePriority: 10\n")),
        ("an unknown field", format!("{base}  machinetype: m5.large\n")),
        ("a Cluster field", format!("{base}  region: eu-west-1\n")),
        ("a negative size", base.replace("minSize: 0", "minSize: -1")),
        ("no machineType", base.replace("  machineType: m5.large\n", "")),
        ("an unknown kind", base.replace("kind: NodeGroup", "kind: NodeGroupp")),
        ("a string size", base.replace("maxSize: 2", "maxSize: two")),
    ];
    for (name, doc) in cases {
        repo.write("templates/9_case.yaml.tpl", doc);
        repo.write("case.yaml", doc);
        let binary = code(&repo.run(&["render", "--cluster", "staging.k8s.foo.bar"])) == 0;
        let o = std::process::Command::new(crate::aws::python())
            .current_dir(repo.path())
            .args(["-c", "import json, yaml, jsonschema; jsonschema.Draft7Validator(json.load(open('schema.json'))).validate(yaml.safe_load(open('case.yaml')))"])
            .output()
            .unwrap();
        let schema_ok = o.status.success();
        assert_eq!(schema_ok, binary, "{name}: the schema says {schema_ok}, render says {binary}\n{}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""));
    }
    // kops's `role: Master` is the binary's too (refused on EKS by render, which sees the cluster).
    repo.write("case.yaml", &base.replace("role: Node", "role: Master"));
    let o = std::process::Command::new(crate::aws::python())
        .current_dir(repo.path())
        .args(["-c", "import json, yaml, jsonschema; jsonschema.Draft7Validator(json.load(open('schema.json'))).validate(yaml.safe_load(open('case.yaml')))"])
        .output()
        .unwrap();
    assert!(o.status.success(), "role: Master: {}", String::from_utf8_lossy(&o.stderr));
    // Every document of the bundled manifests.
    let o = std::process::Command::new(crate::aws::python())
        .current_dir(repo.path())
        .args([
            "-c",
            "import glob, json, yaml, jsonschema\nv = jsonschema.Draft7Validator(json.load(open('schema.json')))\nn = 0\nfor f in sorted(glob.glob('clusters/*.yaml')):\n    if 'cluster-autoscaler' in f or 'aws-auth' in f: continue\n    for d in yaml.safe_load_all(open(f)):\n        v.validate(d); n += 1\nprint(n)",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().unwrap() >= 12, "every document checked");
    assert!(!schema.contains("\"format\": \"uint") && !schema.contains("\"format\": \"int"), "standard formats only");
}

/// bash completes `--cluster` with the repository's cluster names, asked of fleetform while
/// completing (zsh and fish scripts carry the same call).
#[test]
fn cluster_names_complete_after_cluster() {
    let repo = Repo::example();
    let o = repo.run(&["completions", "--clusters"]);
    assert_eq!(stdout(&o), "prod-customer.k8s.foo.bar\nstaging.k8s.foo.bar\n");
    repo.write("completion.bash", &stdout(&repo.run(&["completions", "bash"])));
    let bin = assert_cmd::cargo::cargo_bin("fleetform");
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let o = std::process::Command::new("bash")
        .current_dir(repo.path())
        .env("PATH", path)
        .args(["-c", "source ./completion.bash; COMP_WORDS=(fleetform plan --cluster st); COMP_CWORD=3; _fleetform fleetform st --cluster; printf '%s\\n' \"${COMPREPLY[@]}\""])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "staging.k8s.foo.bar\n", "{}", String::from_utf8_lossy(&o.stderr));
    for shell in ["zsh", "fish"] {
        assert!(stdout(&repo.run(&["completions", shell])).contains("fleetform completions --clusters"), "{shell}");
    }
}

#[test]
fn apply_concurrency_is_a_number_from_1_to_100() {
    let repo = Repo::example();
    for bad in ["0", "101", "many"] {
        let o = repo.run(&["apply", "--all", "--yes", "--concurrency", bad]);
        assert_eq!(code(&o), 1, "refused before anything runs");
        assert!(stderr(&o).contains(&format!("`{bad}` is not a number from 1 to 100 (1: one change at a time)")), "{}", stderr(&o));
    }
}
