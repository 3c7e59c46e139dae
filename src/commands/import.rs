//! `fleetform import kops FILE…`: a fleetform repository from kops manifests.
//!
//! The mapping is `core::kops` (pure). This command reads the files, refuses to mix the import
//! into a repository that already has other templates or clusters, renders every imported
//! cluster in memory first (so a repository that would not render is never written), writes
//! the files, and prints the report: every kops field not carried over, carried in another
//! form, or filled in with kops's default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use super::JSON_SCHEMA_VERSION;
use crate::cli::{Settings, Status};
use crate::core::diag::{Diagnostic, Diagnostics};
use crate::core::kops::{self, FindingKind, Imported};
use crate::core::{RepoFiles, Snippet, SourceFile};
use crate::output::{OutputFormat, Style};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// kops manifests (kops.k8s.io/v1alpha2): the output of `kops get cluster NAME -o yaml` and
    /// `kops get ig --name NAME -o yaml`, one or several clusters.
    ///
    /// Writes vars/<cluster>.yaml (the cluster's values and a `groups:` list, one entry per
    /// InstanceGroup), templates that loop over them, each instance list as a snippet shared by
    /// the groups that have it, and values every cluster has alike in vars/_kops.yaml, into the
    /// repository (--root). Prints what was not carried over and why. Nothing is written when
    /// any file has an error: all of them are reported at once. Control-plane groups are not
    /// imported (kops's control plane stays kops's). README: "Moving from kops".
    #[command(after_long_help = "Examples:\n  kops get cluster prod.k8s.example.com -o yaml > kops/prod.yaml\n  kops get ig --name prod.k8s.example.com -o yaml >> kops/prod.yaml\n  fleetform --root fleet import kops kops/prod.yaml\n  cd fleet && fleetform render && fleetform lint --strict\n  fleetform plan --cluster prod.k8s.example.com --adopt")]
    Kops(KopsArgs),
}

#[derive(Debug, Args)]
pub struct KopsArgs {
    /// Files holding kops Cluster and InstanceGroup manifests (several documents each).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Overwrite files of an earlier import (the import's own files only).
    #[arg(long)]
    pub force: bool,
}

pub fn run(s: &Settings, args: &ImportArgs) -> anyhow::Result<Status> {
    match &args.source {
        ImportSource::Kops(a) => kops_import(s, a),
    }
}

fn kops_import(s: &Settings, args: &KopsArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    let mut inputs = Vec::new();
    for f in &args.files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        inputs.push(SourceFile::new(f.clone(), text));
    }
    let imported = match kops::import(&inputs) {
        Ok(i) => i,
        Err(errors) => return fail(s, &errors, "error(s) in the kops files; nothing was written"),
    };
    let conflicts = conflicts(&s.root, &imported, args.force)?;
    if !conflicts.is_empty() {
        return fail(s, &conflicts, "file(s) of the repository in the way; nothing was written");
    }
    // Render every cluster before writing anything: all errors, of every cluster, at once.
    let repo = in_memory(&imported);
    let mut errors = Vec::new();
    for c in &imported.clusters {
        if let Err(d) = crate::core::render::render_cluster(&repo, c, &[]) {
            errors.push(d.with_note(format!("in the repository imported for cluster `{c}`")));
        }
    }
    if !errors.is_empty() {
        return fail(s, &errors, "error(s) in what the kops files would become; nothing was written");
    }
    std::fs::create_dir_all(s.root.join("clusters")).with_context(|| format!("creating {}", s.root.join("clusters").display()))?;
    for f in &imported.files {
        let path = s.root.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, &f.text).with_context(|| format!("writing {}", path.display()))?;
    }

    let count = |k: FindingKind| imported.findings.iter().filter(|f| f.kind == k).count();
    match p.format {
        OutputFormat::Json => {
            p.data(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({
                    "schemaVersion": JSON_SCHEMA_VERSION,
                    "command": "import kops",
                    "ok": true,
                    "clusters": imported.clusters,
                    "files": imported.files.iter().map(|f| f.path.display().to_string()).collect::<Vec<_>>(),
                    "findings": imported.findings,
                }))?
            ));
        }
        _ => {
            let mut out = String::new();
            for kind in [FindingKind::Unsupported, FindingKind::Changed, FindingKind::Default] {
                let rows: Vec<_> = imported.findings.iter().filter(|f| f.kind == kind).collect();
                if rows.is_empty() {
                    continue;
                }
                let title = match kind {
                    FindingKind::Unsupported => "Not imported (kept as they are on AWS, or to be done another way):",
                    FindingKind::Changed => "Imported in another form:",
                    FindingKind::Default => "kops's defaults, written out so the meaning stays:",
                };
                out.push_str(&format!("{}\n", p.paint(title, Style::Bold)));
                for f in rows {
                    let what = match &f.group {
                        Some(g) => format!("{} {g}", f.cluster),
                        None if f.cluster.is_empty() => String::new(),
                        None => f.cluster.clone(),
                    };
                    // Field names come from the kops files: printed escaped, never as terminal input.
                    out.push_str(&format!("  {}:{}  {}  {}\n      {}\n", f.file.display(), f.line, what, f.field.escape_debug(), f.why));
                }
                out.push('\n');
            }
            p.data(&out);
        }
    }
    p.status(
        "Imported",
        &format!(
            "{} cluster(s) from kops into {}: {} file(s); {} field(s) not imported, {} changed, {} kops default(s) written",
            imported.clusters.len(),
            s.root.display(),
            imported.files.len(),
            count(FindingKind::Unsupported),
            count(FindingKind::Changed),
            count(FindingKind::Default)
        ),
    );
    let first = imported.clusters.first().cloned().unwrap_or_default();
    p.info(&format!(
        "next: fleetform render && fleetform lint --strict, then `fleetform plan --cluster {first} --adopt` to see what taking over kops's groups changes (README: Moving from kops)"
    ));
    Ok(Status::Success)
}

fn fail(s: &Settings, errors: &[Diagnostic], what: &str) -> anyhow::Result<Status> {
    if s.printer.format == OutputFormat::Json {
        s.printer.data(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"schemaVersion": JSON_SCHEMA_VERSION, "command": "import kops", "ok": false, "errors": errors}))?
        ));
    }
    s.printer.error(&Diagnostics(errors.to_vec()).to_string());
    s.printer.info(&format!("{} {what}", errors.len()));
    Ok(Status::Failure)
}

/// Files in the way: the import writes a repository of its own (its templates would render
/// every cluster of a repository), so templates or clusters it did not write are refused, and
/// its own files are overwritten only with --force.
fn conflicts(root: &Path, imported: &Imported, force: bool) -> anyhow::Result<Vec<Diagnostic>> {
    let ours: Vec<&Path> = imported.files.iter().map(|f| f.path.as_path()).collect();
    let mut out = Vec::new();
    for dir in ["templates", "vars"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        let mut names: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| Path::new(dir).join(e.file_name())).collect();
        names.sort();
        for rel in names {
            let is_file = root.join(&rel).is_file();
            if is_file && !ours.contains(&rel.as_path()) && !rel.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                out.push(
                    Diagnostic::file(&rel, format!("{} is not part of this import: the import writes a repository of its own", rel.display()))
                        .with_help("import into an empty directory (--root DIR), then move clusters over by hand"),
                );
            }
        }
    }
    for f in &imported.files {
        let path = root.join(&f.path);
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        if text == f.text {
            continue;
        }
        // --force overwrites what an import wrote (its files say so on their first line), never
        // a file of the user's that happens to have the name.
        let imported_before = text.lines().next().is_some_and(|l| l.contains("Imported from kops"));
        if !force {
            out.push(Diagnostic::file(&f.path, format!("{} exists (an earlier import?)", f.path.display())).with_help("run again with --force to overwrite the import's files"));
        } else if !imported_before {
            out.push(Diagnostic::file(&f.path, format!("{} exists and was not written by an import", f.path.display())).with_help("move it away; --force overwrites only files an import wrote"));
        }
    }
    Ok(out)
}

/// The imported repository as render reads it.
fn in_memory(imported: &Imported) -> RepoFiles {
    let mut repo = RepoFiles::default();
    let mut snippets = BTreeMap::new();
    for f in &imported.files {
        let path = f.path.to_string_lossy().to_string();
        if let Some(name) = path.strip_prefix("snippets/") {
            snippets.insert(name.to_string(), Snippet::File(f.clone()));
        } else if path.starts_with("templates/") {
            repo.templates.push(f.clone());
        } else if let Some(name) = path.strip_prefix("vars/").and_then(|n| n.strip_suffix(".yaml")) {
            if name.starts_with('_') {
                repo.shared_vars.push(f.clone());
            } else {
                repo.cluster_vars.insert(name.to_string(), f.clone());
            }
        }
    }
    repo.templates.sort_by(|a, b| a.path.cmp(&b.path));
    repo.snippets = std::sync::Arc::new(snippets);
    repo
}
