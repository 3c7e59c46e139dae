//! Values no template reads: the typo that silently does nothing.
//!
//! A cluster file that says `spot: {maxSzie: 50}` overrides nothing — the shared `maxSize` stays —
//! and no render error tells. This check collects every name the templates and snippets use
//! inside `{{ … }}` and `{% … %}` (dotted paths included) and reports value keys, at the top level
//! and one level down, that none of them mentions. A map a template uses as a whole (iterated,
//! passed to a filter) is not looked into. Warnings only: render still succeeds.

use std::collections::BTreeSet;

use serde_yaml::{Mapping, Value};

use super::diag::{did_you_mean, Diagnostic};
use super::render::find_key_line_pub;
use super::{RepoFiles, Snippet, SourceFile};

/// Every identifier path (`a`, `a.b`, `a.b.c`) that appears inside template tags.
fn used_paths(repo: &RepoFiles) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let sources = repo.templates.iter().chain(repo.snippets.values().filter_map(|s| match s {
        Snippet::File(f) => Some(f),
        Snippet::Escapes { .. } => None,
    }));
    for f in sources {
        let text = &f.text;
        let mut rest = text.as_str();
        while let Some(i) = rest.find(['{']) {
            let after = &rest[i + 1..];
            let (close, body_start) = match after.chars().next() {
                Some('{') => ("}}", 1),
                Some('%') => ("%}", 1),
                _ => {
                    rest = after;
                    continue;
                }
            };
            let body = &after[body_start..];
            let end = body.find(close).unwrap_or(body.len());
            let tag = &body[..end];
            let mut word = String::new();
            for c in tag.chars().chain(std::iter::once(' ')) {
                if c.is_alphanumeric() || c == '_' || c == '.' {
                    word.push(c);
                } else {
                    if !word.is_empty() {
                        let w = word.trim_matches('.');
                        let mut path = String::new();
                        for seg in w.split('.') {
                            if !path.is_empty() {
                                path.push('.');
                            }
                            path.push_str(seg);
                            out.insert(path.clone());
                        }
                    }
                    word.clear();
                }
            }
            rest = &body[end..];
        }
    }
    out
}

/// `--set` paths that no template reads (checked as deep as the templates name them).
pub fn unused_sets(repo: &RepoFiles, sets: &[super::values::SetOverride]) -> Vec<Diagnostic> {
    let used = used_paths(repo);
    let mut out = Vec::new();
    for s in sets {
        let top = &s.path[0];
        if top == "clusterName" {
            continue;
        }
        let two = s.path.iter().take(2).cloned().collect::<Vec<_>>().join(".");
        let nested_used = used.iter().any(|u| u.starts_with(&format!("{top}.")));
        let ok = used.contains(top) && (s.path.len() == 1 || !nested_used || used.contains(&two));
        if !ok {
            let last = if used.contains(top) { s.path.get(1).unwrap_or(top) } else { top };
            let cands: Vec<&str> = if used.contains(top) {
                used.iter().filter_map(|u| u.strip_prefix(&format!("{top}."))).filter(|x| !x.contains('.')).collect()
            } else {
                used.iter().filter(|u| !u.contains('.')).map(String::as_str).collect()
            };
            let d = Diagnostic::file("(command line)", format!("`--set {}`: `{two}` is not used by any template", s.raw));
            out.push(match did_you_mean(last, cands) {
                Some(m) => d.with_help(format!("did you mean `{m}`? As written it changes nothing")),
                None => d.with_help("as written it changes nothing"),
            });
        }
    }
    out
}

/// Warnings for keys of `file` that no template reads.
pub fn unused_values(repo: &RepoFiles, file: &SourceFile, values: &Mapping) -> Vec<Diagnostic> {
    let used = used_paths(repo);
    // Names that are used bare after a `for x in y` become loop variables; a top-level key used
    // only as a whole means its nested keys are read through the loop: not checked.
    let mut out = Vec::new();
    for (k, v) in values {
        let Some(key) = k.as_str() else { continue };
        if key == "clusterName" || key == super::render::LAYERS_KEY {
            continue;
        }
        if !used.contains(key) {
            out.push(warn(file, &[key], key, used.iter().filter(|u| !u.contains('.')).cloned().collect()));
            continue;
        }
        let Value::Mapping(inner) = v else { continue };
        let prefix = format!("{key}.");
        let dotted: Vec<&String> = used.iter().filter(|u| u.starts_with(&prefix)).collect();
        if dotted.is_empty() {
            continue; // used as a whole
        }
        for (ik, _) in inner {
            let Some(ik) = ik.as_str() else { continue };
            let path = format!("{key}.{ik}");
            if !used.contains(&path) {
                let siblings = dotted.iter().filter_map(|u| u.strip_prefix(&prefix)).filter(|s| !s.contains('.')).map(str::to_string).collect();
                out.push(warn(file, &[key, ik], &path, siblings));
            }
        }
    }
    out
}

fn warn(file: &SourceFile, path: &[&str], name: &str, cands: Vec<String>) -> Diagnostic {
    let line = find_key_line_pub(&file.text, path).unwrap_or(0);
    let last = path.last().copied().unwrap_or(name);
    let column = if line > 0 { file.text.lines().nth(line - 1).map_or(1, |l| l.len() - l.trim_start().len() + 1) } else { 0 };
    let d = Diagnostic::new(&file.path, line, column, format!("`{name}` is not used by any template"))
        .with_source(&file.text);
    match did_you_mean(last, cands.iter().map(String::as_str)) {
        Some(m) => d.with_help(format!("did you mean `{m}`? As written it changes nothing")),
        None => d.with_help("remove it, or use it in a template; as written it changes nothing"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_one_level_down() {
        let repo = RepoFiles {
            templates: vec![SourceFile::new("templates/t.tpl", "max: {{ spot.maxSize }}\n{% for p in pools %}{{ p.name }}{% endfor %}\n")],
            ..Default::default()
        };
        let f = SourceFile::new("vars/c.yaml", "spot:\n  maxSzie: 50\npools: [{name: a, extra: 1}]\nunused: 1\n");
        let v: Mapping = serde_yaml::from_str(&f.text).unwrap();
        let w = unused_values(&repo, &f, &v);
        let msgs: Vec<String> = w.iter().map(|d| format!("{}:{} {}", d.file.display(), d.line, d.message)).collect();
        assert_eq!(msgs, vec!["vars/c.yaml:2 `spot.maxSzie` is not used by any template", "vars/c.yaml:4 `unused` is not used by any template"]);
        assert_eq!(w[0].help.as_deref(), Some("did you mean `maxSize`? As written it changes nothing"));
    }
}
