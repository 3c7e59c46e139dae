//! The bad-input corpus: tests/corpus/bad-input/*.yaml. Each case changes a copy of the example
//! (replace text, write files, make symlinks, write raw bytes), runs one command, and must give
//! exactly one clear error on stderr — located where a location exists — exit 1, no panic, and
//! write nothing. The error text is a snapshot per case.

use std::fs;

use serde::Deserialize;

use crate::common::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    args: Vec<String>,
    #[serde(default)]
    replace: Vec<Replace>,
    #[serde(default)]
    write: Vec<Write>,
    #[serde(default)]
    symlink: Vec<Symlink>,
    #[serde(default)]
    bytes: Vec<Bytes>,
}

#[derive(Deserialize)]
struct Replace {
    file: String,
    old: String,
    new: String,
}
#[derive(Deserialize)]
struct Write {
    file: String,
    content: String,
}
#[derive(Deserialize)]
struct Symlink {
    file: String,
    target: String,
}
#[derive(Deserialize)]
struct Bytes {
    file: String,
    hex: String,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A copy of the example with the case's changes made.
fn prepare(case: &Case) -> Repo {
    let repo = Repo::example();
    for r in &case.replace {
        repo.replace(&r.file, &r.old, &r.new);
    }
    for w in &case.write {
        repo.write(&w.file, &w.content);
    }
    for l in &case.symlink {
        std::os::unix::fs::symlink(&l.target, repo.path().join(&l.file)).unwrap();
    }
    for b in &case.bytes {
        fs::write(repo.path().join(&b.file), hex(&b.hex)).unwrap();
    }
    repo
}

#[test]
fn bad_input_corpus() {
    insta::glob!("../corpus/bad-input", "*.yaml", |path| {
        let case: Case = serde_yaml::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        let repo = prepare(&case);
        let before = repo.clusters_snapshot();
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let o = repo.run(&args);
        let err = repo.scrub(&stderr(&o));
        let name = path.file_stem().unwrap().to_string_lossy();
        assert_eq!(code(&o), 1, "{name}: exit status\n{err}");
        assert!(!err.contains("panicked"), "{name}: panic\n{err}");
        assert_eq!(stdout(&o), "", "{name}: nothing on stdout");
        assert_eq!(before, repo.clusters_snapshot(), "{name}: nothing written");
        assert!(err.starts_with("error:"), "{name}: one clear error first\n{err}");
        insta::assert_snapshot!(err);
    });
}

/// The JSON Schema on the bad-input corpus: for every case whose templates still produce
/// documents, a document the schema refuses is one `render` refuses too (the schema is never
/// stricter than the binary). The converse cannot hold for this corpus — most cases break what
/// only render sees (other documents, the values, the cluster) — and is tested on single
/// documents in misc.rs.
#[test]
fn the_schema_never_refuses_what_render_accepts_on_the_corpus() {
    let example = Repo::example();
    let schema = stdout(&example.run(&["schema"]));
    let mut judged = 0;
    let mut refused_by_both = 0;
    for entry in fs::read_dir(project_root().join("tests/corpus/bad-input")).unwrap() {
        let path = entry.unwrap().path();
        let case: Case = serde_yaml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let repo = prepare(&case);
        repo.write("schema.json", &schema);
        for cluster in ["staging.k8s.foo.bar", "prod-customer.k8s.foo.bar"] {
            let raw = repo.run(&["render", "--raw", "--cluster", cluster]);
            if code(&raw) != 0 {
                continue; // the templates or values themselves fail: no document to judge
            }
            repo.write("raw.yaml", &stdout(&raw));
            let o = std::process::Command::new(crate::aws::python())
                .current_dir(repo.path())
                .args([
                    "-c",
                    "import json, sys, yaml, jsonschema\nv = jsonschema.Draft7Validator(json.load(open('schema.json')))\ntry:\n    docs = [d for d in yaml.safe_load_all(open('raw.yaml')) if d is not None]\nexcept Exception:\n    print('unreadable'); sys.exit(0)\nprint('refused' if any(not v.is_valid(d) for d in docs) else 'valid')",
                ])
                .output()
                .unwrap();
            let verdict = String::from_utf8_lossy(&o.stdout).trim().to_string();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            if verdict == "unreadable" {
                continue;
            }
            judged += 1;
            if verdict == "refused" {
                let r = repo.run(&["render", "--cluster", cluster]);
                assert_eq!(code(&r), 1, "{}: the schema refuses a document of {cluster} that render accepts", path.display());
                refused_by_both += 1;
            }
        }
    }
    assert!(judged >= 40, "the corpus was judged: {judged}");
    assert!(refused_by_both >= 5, "the schema catches part of the corpus too: {refused_by_both}");
    eprintln!("corpus: {judged} (case, cluster) pairs judged, {refused_by_both} refused by the schema and by render");
}
