//! `fleetform render [--check]`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use serde_json::json;

use super::{print_errors, render_selected, JSON_SCHEMA_VERSION};
use crate::cli::{Settings, Status};
use crate::core::render::GENERATED_HEADER;
use crate::output::{OutputFormat, Style};

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write nothing; exit 1 with a unified diff when clusters/ differs from what would be rendered.
    #[arg(long)]
    pub check: bool,
    /// Values that no template reads (typos, leftovers) are errors: exit 1, write nothing.
    #[arg(long)]
    pub strict: bool,
    /// Print what the templates output, before any document is read or checked (for tools).
    #[arg(long, hide = true)]
    pub raw: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum FileStatus {
    Unchanged,
    Created,
    Changed,
    Removed,
}

struct FileChange {
    path: PathBuf,
    status: FileStatus,
    old: String,
    new: String,
}

pub fn run(s: &Settings, args: &RenderArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    if args.raw {
        let mut repo = crate::repo::load(&s.root)?;
        repo.extra_values = crate::repo::load_values_files(&s.values)?;
        let mut out = String::new();
        for c in s.select(&repo, true)? {
            match crate::core::render::raw_documents(&repo, &c, &s.sets) {
                Ok(docs) => out.push_str(&docs),
                Err(d) => return Err(d.into()),
            }
        }
        p.data(&out);
        return Ok(Status::Success);
    }
    let run = render_selected(s, true)?;
    let all_selected = s.all || s.clusters.is_empty();
    // Warnings only when everything rendered: an error must stand alone.
    let warnings = if run.failures.is_empty() { super::value_warnings(&run) } else { Vec::new() };
    if args.strict && !warnings.is_empty() {
        super::print_strict(s, &warnings);
        if p.format == OutputFormat::Json {
            p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
                "schemaVersion": JSON_SCHEMA_VERSION,
                "command": "render",
                "ok": false,
                "errors": warnings,
            }))?));
        }
        return Ok(Status::Failure);
    }
    super::print_warnings(s, &warnings);
    if p.verbose > 0 {
        for r in &run.rendered {
            print_origins(s, &run, r.manifest.name())?;
        }
    }

    if !run.failures.is_empty() {
        print_errors(s, &run);
        if p.format == OutputFormat::Json {
            p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
                "schemaVersion": JSON_SCHEMA_VERSION,
                "command": "render",
                "ok": false,
                "errors": run.errors(),
            }))?));
        }
        p.info(&format!(
            "{} of {} cluster(s) failed to render; nothing was written.",
            run.failures.len(),
            run.clusters.len()
        ));
        return Ok(Status::Failure);
    }

    check_output_dir(&s.root)?;
    let mut changes = Vec::new();
    let mut produced = BTreeSet::new();
    for r in &run.rendered {
        for f in &r.files() {
            produced.insert(f.path.clone());
            let old = read_output(&s.root, &f.path)?;
            let status = match &old {
                None => FileStatus::Created,
                Some(o) if *o == f.content => FileStatus::Unchanged,
                Some(_) => FileStatus::Changed,
            };
            changes.push(FileChange { path: f.path.clone(), status, old: old.unwrap_or_default(), new: f.content.clone() });
        }
    }
    if all_selected {
        for path in orphans(&s.root, &produced)? {
            let old = fs::read_to_string(s.root.join(&path)).unwrap_or_default();
            changes.push(FileChange { path, status: FileStatus::Removed, old, new: String::new() });
        }
    }
    let stale: Vec<&FileChange> = changes.iter().filter(|c| c.status != FileStatus::Unchanged).collect();

    if args.check {
        if p.format == OutputFormat::Text || p.format == OutputFormat::Markdown {
            let mut out = String::new();
            for c in &stale {
                out.push_str(&colour_diff(s, &unified(c)));
            }
            if p.format == OutputFormat::Markdown && !out.is_empty() {
                out = crate::output::md_fence("diff", &out);
            }
            p.data(&out);
        }
    } else {
        for c in &stale {
            let abs = s.root.join(&c.path);
            match c.status {
                FileStatus::Removed => {
                    fs::remove_file(&abs).with_context(|| format!("cannot remove {}", abs.display()))?;
                    p.status("Removed", &format!("{} (its cluster has no vars file any more)", c.path.display()));
                }
                _ => {
                    write_atomic(&abs, &c.new)?;
                    p.status("Rendered", &c.path.display().to_string());
                }
            }
        }
        for c in changes.iter().filter(|c| c.status == FileStatus::Unchanged) {
            if p.verbose > 0 {
                p.status("Unchanged", &c.path.display().to_string());
            }
        }
    }

    if p.format == OutputFormat::Json {
        let clusters: Vec<_> = run
            .rendered
            .iter()
            .map(|r| {
                let files: Vec<_> = r
                    .files()
                    .iter()
                    .map(|f| {
                        let st = changes.iter().find(|c| c.path == f.path).map_or(FileStatus::Unchanged, |c| c.status);
                        json!({"path": f.path, "status": st})
                    })
                    .collect();
                json!({
                    "name": r.manifest.name(),
                    "region": r.manifest.cluster.spec.region,
                    "nodeGroups": r.manifest.groups.iter().map(|g| g.name()).collect::<Vec<_>>(),
                    "files": files,
                    "autoscaler": { "args": r.autoscaler.args, "priorities": r.autoscaler.priorities },
                })
            })
            .collect();
        let removed: Vec<_> = changes.iter().filter(|c| c.status == FileStatus::Removed).map(|c| &c.path).collect();
        p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
            "schemaVersion": JSON_SCHEMA_VERSION,
            "command": "render",
            "ok": !args.check || stale.is_empty(),
            "check": args.check,
            "stale": args.check && !stale.is_empty(),
            "clusters": clusters,
            "removed": removed,
            "warnings": warnings,
        }))?));
    }

    let n = run.rendered.len();
    if args.check {
        if stale.is_empty() {
            p.status("Checked", &format!("{n} cluster(s): clusters/ is up to date"));
            Ok(Status::Success)
        } else {
            p.error(&format!(
                "clusters/ is stale: {} file(s) differ from what templates/ and vars/ render\n  = help: run `fleetform render` and commit clusters/",
                stale.len()
            ));
            Ok(Status::Failure)
        }
    } else {
        if stale.is_empty() {
            p.status("Unchanged", &format!("{n} cluster(s): clusters/ was already up to date"));
        }
        Ok(Status::Success)
    }
}

/// Generated files under clusters/ that no selected cluster produced.
fn orphans(root: &Path, produced: &BTreeSet<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let dir = root.join("clusters");
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else { return Ok(out) };
    for e in entries {
        let e = e?;
        let rel = Path::new("clusters").join(e.file_name());
        // Hidden files are never ours to remove: among them the temporary files of a render
        // running at the same time (removing one made that render fail).
        let name = e.file_name().to_string_lossy().to_string();
        if produced.contains(&rel) || name.starts_with('.') || !name.ends_with(".yaml") || !e.file_type()?.is_file() {
            continue;
        }
        let text = fs::read_to_string(e.path()).unwrap_or_default();
        if text.starts_with(GENERATED_HEADER) {
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}

/// `render -v`: every value of a cluster, and the file (and line) that set the one that won —
/// shared files, layers, the cluster's file, --values, --set.
fn print_origins(s: &Settings, run: &super::RenderRun, cluster: &str) -> anyhow::Result<()> {
    let (merged, origins) = crate::core::render::cluster_values_with_origins(&run.repo, cluster, &run.sets)?;
    let mut out = format!("values of {cluster}, each with the file that set it last:\n");
    let width = origins.by_path.keys().map(|p| p.join(".").len()).max().unwrap_or(0);
    for (path, origin) in &origins.by_path {
        let mut v = serde_yaml::Value::Mapping(merged.clone());
        for seg in path {
            v = v.get(seg.as_str()).cloned().unwrap_or(serde_yaml::Value::Null);
        }
        let shown = serde_json::to_string(&v).unwrap_or_default();
        let shown = if shown.len() > 60 { format!("{}…", &shown[..shown.char_indices().nth(59).map_or(shown.len(), |(i, _)| i)]) } else { shown };
        out.push_str(&format!("  {:<width$}  {:<40}  {origin}\n", path.join("."), crate::output::visible(&shown)));
    }
    s.printer.info(out.trim_end());
    Ok(())
}

fn unified(c: &FileChange) -> String {
    let path = c.path.display().to_string();
    let (a, b) = match c.status {
        FileStatus::Created => ("/dev/null".to_string(), format!("b/{path}")),
        FileStatus::Removed => (format!("a/{path}"), "/dev/null".to_string()),
        _ => (format!("a/{path}"), format!("b/{path}")),
    };
    similar::TextDiff::from_lines(&c.old, &c.new).unified_diff().context_radius(3).header(&a, &b).to_string()
}

fn colour_diff(s: &Settings, diff: &str) -> String {
    let p = &s.printer;
    diff.lines()
        .map(|l| {
            let styled = if l.starts_with("+++") || l.starts_with("---") {
                p.paint(l, Style::Bold)
            } else if l.starts_with('+') {
                p.paint(l, Style::Green)
            } else if l.starts_with('-') {
                p.paint(l, Style::Red)
            } else if l.starts_with("@@") {
                p.paint(l, Style::Cyan)
            } else {
                l.to_string()
            };
            styled + "\n"
        })
        .collect()
}

/// `clusters/` must be a directory of the repository itself, never a link leading elsewhere:
/// fleetform writes only inside the repository.
fn check_output_dir(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("clusters");
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::read_link(&dir).map(|t| t.display().to_string()).unwrap_or_default();
            Err(crate::core::diag::Diagnostic::file("clusters", format!("clusters/ is a symbolic link (to {target}): fleetform writes only inside the repository"))
                .with_help("make clusters/ a directory of the repository (rm clusters && mkdir clusters), then render again")
                .into())
        }
        Ok(m) if !m.is_dir() => Err(crate::core::diag::Diagnostic::file("clusters", "clusters is not a directory").with_help("remove it; render creates clusters/").into()),
        _ => Ok(()),
    }
}

/// The current content of a generated file, if any. A symbolic link there is an error: its
/// target is never read (it may lie outside the repository, and would end up in a diff).
fn read_output(root: &Path, rel: &Path) -> anyhow::Result<Option<String>> {
    let path = root.join(rel);
    match fs::symlink_metadata(&path) {
        Err(_) => Ok(None),
        Ok(m) if m.file_type().is_symlink() => Err(crate::core::diag::Diagnostic::file(
            rel,
            format!("{} is a symbolic link: fleetform neither reads nor writes through links in clusters/", rel.display()),
        )
        .with_help(format!("remove it (rm {}), then render again", rel.display()))
        .into()),
        Ok(_) => Ok(fs::read_to_string(&path).ok()),
    }
}

/// Write through a temporary file and a rename: a reader never sees half a manifest. The
/// temporary file has a unique name and is created exclusively (never through a link someone
/// planted), so concurrent renders into one clusters/ each rename a whole file of their own.
pub fn write_atomic(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().expect("output paths have a parent");
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(content.as_bytes()).with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.as_file().sync_all().ok();
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
