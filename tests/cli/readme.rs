//! The README's console examples are run and compared, so they never go stale.
//!
//! Each ```console block starts with `$ fleetform ARGS`; the rest of the block is stdout followed
//! by stderr, run in a fresh copy of the example. A comment just above a block,
//! `<!-- readme-test: replace FILE :: OLD :: NEW -->`, changes the copy first.

use crate::common::*;

struct Example {
    line: usize,
    args: Vec<String>,
    expected: String,
    replace: Option<(String, String, String)>,
}

fn examples() -> Vec<Example> {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "```console" {
            let start = i;
            let cmd = lines[i + 1].strip_prefix("$ fleetform ").expect("console blocks start with `$ fleetform`");
            let mut body = Vec::new();
            i += 2;
            while lines[i].trim() != "```" {
                body.push(lines[i]);
                i += 1;
            }
            let replace = (start > 0)
                .then(|| lines[start - 1])
                .and_then(|l| l.strip_prefix("<!-- readme-test: replace "))
                .and_then(|l| l.strip_suffix(" -->"))
                .map(|l| {
                    let parts: Vec<&str> = l.split(" :: ").collect();
                    assert_eq!(parts.len(), 3, "readme-test replace FILE :: OLD :: NEW");
                    (parts[0].to_string(), parts[1].to_string(), parts[2].to_string())
                });
            out.push(Example {
                line: start + 1,
                args: cmd.split_whitespace().map(str::to_string).collect(),
                expected: body.join("\n"),
                replace,
            });
        }
        i += 1;
    }
    out
}

#[test]
fn readme_examples_are_true() {
    let ex = examples();
    assert!(ex.len() >= 5, "the README shows its commands");
    for e in ex {
        let repo = Repo::example();
        if let Some((file, old, new)) = &e.replace {
            repo.replace(file, old, new);
        }
        let args: Vec<&str> = e.args.iter().map(String::as_str).collect();
        let o = repo.run(&args);
        let actual = format!("{}{}", stdout(&o), stderr(&o));
        let norm = |s: &str| s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim_end().to_string();
        assert_eq!(norm(&actual), norm(&e.expected), "README.md line {}: `fleetform {}`", e.line, e.args.join(" "));
    }
}
