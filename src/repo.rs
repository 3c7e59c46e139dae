//! Reading the user's repository into memory (the only file-system reads of render and lint).
//!
//! Layout (DESIGN.md): `snippets/` (any depth), `templates/` (`*.tpl`, `*.yaml`, `*.yml`,
//! rendered in file-name order), `vars/` (`_*.yaml` shared by every cluster, in file-name order;
//! `<cluster>.yaml` one per cluster), `clusters/` (the output). Hidden files are ignored. Every
//! file must be UTF-8. A snippet that is a symlink leading outside `snippets/` is recorded as such
//! and never read: including it is an error.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::core::diag::Diagnostic;
use crate::core::values::non_utf8;
use crate::core::{RepoFiles, Snippet, SourceFile};

const TEMPLATE_EXTS: &[&str] = &["tpl", "yaml", "yml", "tera", "j2"];

/// The YAML files directly in `dir` (no deeper), each checked to stay inside the repository:
/// (file stem, path relative to the root, content).
fn yaml_files(root: &Path, canon_root: &Path, dir: &str) -> Result<Vec<(String, PathBuf, SourceFile)>, Diagnostic> {
    let mut out = Vec::new();
    for (rel, path) in list_files(root, Path::new(dir), false)? {
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            continue;
        }
        inside(canon_root, &rel, &path)?;
        let file = read(root, &rel)?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        out.push((stem, rel, file));
    }
    Ok(out)
}

/// Two files for one name (`x.yaml` and `x.yml`).
fn two_files(rel: &Path, message: &str, prev: &SourceFile) -> Diagnostic {
    Diagnostic::file(rel, message.to_string()).with_note(format!("the other one is {}", prev.path.display())).with_help("keep one of .yaml and .yml")
}

/// The `--values` files of a run, read as given (relative to the working directory).
pub fn load_values_files(paths: &[PathBuf]) -> Result<Vec<SourceFile>, Diagnostic> {
    paths
        .iter()
        .map(|p| {
            let bytes = fs::read(p).map_err(|e| {
                Diagnostic::file(p, format!("cannot read the values file {}: {e}", p.display())).with_help("--values takes a YAML file of values, e.g. --values env/staging.yaml")
            })?;
            let text = String::from_utf8(bytes).map_err(|e| non_utf8(p, e.as_bytes(), &e.utf8_error()))?;
            Ok(SourceFile::new(p.clone(), text.strip_prefix('\u{feff}').unwrap_or(&text).to_string()))
        })
        .collect()
}

/// Load the repository at `root`.
pub fn load(root: &Path) -> Result<RepoFiles, Diagnostic> {
    for dir in ["templates", "vars"] {
        if !root.join(dir).is_dir() {
            return Err(Diagnostic::file(
                root.join(dir),
                format!("{} has no {dir}/ directory: this is not a fleetform repository", root.display()),
            )
            .with_help("run fleetform from the repository root, or point at it with --root DIR"));
        }
    }
    let mut repo = RepoFiles::default();
    let canon_root = root.canonicalize().map_err(|e| io_diag(root, &e))?;

    let mut templates = Vec::new();
    for (rel, path) in list_files(root, Path::new("templates"), false)? {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if TEMPLATE_EXTS.contains(&ext) {
            inside(&canon_root, &rel, &path)?;
            templates.push(read(root, &rel)?);
        }
    }
    templates.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
    repo.templates = templates;

    for (stem, rel, file) in yaml_files(root, &canon_root, "vars")? {
        if stem.starts_with('_') {
            repo.shared_vars.push(file);
        } else if let Some(prev) = repo.cluster_vars.get(&stem) {
            return Err(two_files(&rel, &format!("cluster `{stem}` has two vars files"), prev));
        } else {
            repo.cluster_vars.insert(stem, file);
        }
    }
    repo.shared_vars.sort_by(|a, b| a.path.cmp(&b.path));
    if root.join("vars/layers").is_dir() {
        for (stem, rel, file) in yaml_files(root, &canon_root, "vars/layers")? {
            if let Some(prev) = repo.layers.get(&stem) {
                return Err(two_files(&rel, &format!("layer `{stem}` has two files"), prev));
            }
            repo.layers.insert(stem, file);
        }
    }

    let mut snippets = BTreeMap::new();
    let snip_dir = root.join("snippets");
    if snip_dir.is_dir() {
        let canon_root = snip_dir.canonicalize().map_err(|e| io_diag(&snip_dir, &e))?;
        for (rel, path) in list_files(root, Path::new("snippets"), true)? {
            let name = rel.strip_prefix("snippets").expect("listed under snippets").to_string_lossy().replace('\\', "/");
            let target = path.canonicalize().unwrap_or_else(|_| path.clone());
            if !target.starts_with(&canon_root) {
                snippets.insert(name, Snippet::Escapes { path: rel.clone(), target });
                continue;
            }
            snippets.insert(name, Snippet::File(read(root, &rel)?));
        }
    }
    repo.snippets = Arc::new(snippets);
    Ok(repo)
}

/// A file reached through a link that leads outside the repository is never read (its content
/// would reach errors, warnings and diffs that CI logs and pull requests carry).
fn inside(canon_root: &Path, rel: &Path, path: &Path) -> Result<(), Diagnostic> {
    let is_link = fs::symlink_metadata(path).map(|m| m.file_type().is_symlink()).unwrap_or(false);
    let Ok(target) = path.canonicalize() else { return Ok(()) }; // dangling: reported when read
    if !target.starts_with(canon_root) {
        let how = if is_link { "is a symbolic link leading" } else { "lies" };
        return Err(Diagnostic::file(rel, format!("{} {how} outside the repository ({}): fleetform reads only inside the repository", rel.display(), target.display()))
            .with_help("copy the file into the repository instead of linking to it"));
    }
    Ok(())
}

fn io_diag(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::file(path, format!("cannot read {}: {e}", path.display())).with_help("check the path and its permissions")
}

/// Files below `root/dir` (relative paths, absolute paths), sorted; hidden entries skipped.
fn list_files(root: &Path, dir: &Path, recursive: bool) -> Result<Vec<(PathBuf, PathBuf)>, Diagnostic> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let abs = root.join(&d);
        let entries = fs::read_dir(&abs).map_err(|e| io_diag(&abs, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_diag(&abs, &e))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let rel = d.join(&name);
            let path = entry.path();
            let meta = fs::metadata(&path); // follows symlinks
            match meta {
                Ok(m) if m.is_dir() => {
                    let is_link = entry.file_type().map(|t| t.is_symlink()).unwrap_or(false);
                    if recursive && !is_link {
                        stack.push(rel);
                    } else if recursive && is_link {
                        // A linked directory: its files are listed so the escape check sees them.
                        out.push((rel, path));
                    }
                }
                Ok(_) => out.push((rel, path)),
                Err(_) => out.push((rel, path)), // dangling link: reported when read or included
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read(root: &Path, rel: &Path) -> Result<SourceFile, Diagnostic> {
    let path = root.join(rel);
    let bytes = fs::read(&path).map_err(|e| io_diag(rel, &e))?;
    // A UTF-8 byte-order mark (editors on Windows add one) is not content.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(SourceFile::new(rel, s)),
        Err(e) => Err(non_utf8(rel, bytes, &e)),
    }
}
