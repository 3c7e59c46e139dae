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

#[test]
fn bad_input_corpus() {
    insta::glob!("../corpus/bad-input", "*.yaml", |path| {
        let case: Case = serde_yaml::from_str(&fs::read_to_string(path).unwrap()).unwrap();
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
