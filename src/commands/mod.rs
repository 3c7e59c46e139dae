//! Commands: each parses nothing itself (clap did), calls the core, and prints through the
//! printer. Shared steps (load the repository, render the selected clusters) live here.

pub mod apply;
pub mod destroy;
pub mod import;
pub mod lint;
pub mod plan;
pub mod reclaim;
pub mod render;
pub mod rolling;
pub mod schema;

use clap::CommandFactory;

use anyhow::Context;
use crate::cli::{Cli, Command, Settings, Status};
use crate::core::diag::Diagnostic;
use crate::core::render::Rendered;
use crate::core::RepoFiles;

pub fn run(cli: &Cli, s: &Settings) -> anyhow::Result<Status> {
    match &cli.command {
        Command::Render(a) => render::run(s, a),
        Command::Lint(a) => lint::run(s, a),
        Command::Plan(a) => plan::run(s, a),
        Command::Apply(a) => apply::run(s, a),
        Command::Destroy(a) => destroy::run(s, a),
        Command::Import(a) => import::run(s, a),
        Command::Unlock(a) => apply::unlock(s, a),
        Command::History => apply::history(s),
        Command::RollingUpdate(a) => rolling::run(s, a),
        Command::ReclaimOnDemand(a) => reclaim::run(s, a),
        Command::Validate => rolling::validate(s),
        Command::Schema(a) => schema::run(s, a),
        Command::Completions { list_clusters: true, .. } => {
            // Quiet on any problem: this runs inside the shell's completion.
            if let Ok(repo) = crate::repo::load(&s.root) {
                let names: String = repo.cluster_names().map(|n| format!("{n}\n")).collect();
                s.printer.data(&names);
            }
            Ok(Status::Success)
        }
        Command::Completions { shell: Some(shell), .. } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "fleetform", &mut buf);
            s.printer.data(&cluster_completion(*shell, &String::from_utf8_lossy(&buf)));
            Ok(Status::Success)
        }
        Command::Completions { shell: None, .. } => unreachable!("clap requires the shell without --clusters"),
        Command::Man { out: None } => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
            s.printer.data(&String::from_utf8_lossy(&buf));
            Ok(Status::Success)
        }
        Command::Man { out: Some(dir) } => {
            // One page per command, named as git names its pages: fleetform-plan(1).
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut cmd = Cli::command();
            cmd.build();
            let mut pages = vec![("fleetform".to_string(), cmd.clone())];
            for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
                pages.push((format!("fleetform-{}", sub.get_name()), sub.clone().name(format!("fleetform-{}", sub.get_name()))));
                for subsub in sub.get_subcommands().filter(|c| c.get_name() != "help") {
                    let name = format!("fleetform-{}-{}", sub.get_name(), subsub.get_name());
                    pages.push((name.clone(), subsub.clone().name(name)));
                }
            }
            for (name, c) in pages {
                let mut buf = Vec::new();
                clap_mangen::Man::new(c).render(&mut buf)?;
                let path = dir.join(format!("{name}.1"));
                std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
                s.printer.status("Wrote", &path.display().to_string());
            }
            Ok(Status::Success)
        }
    }
}

/// clap's completion scripts complete `--cluster` with file names; bash, zsh and fish get the
/// repository's cluster names instead, asked of fleetform when completing (so a new vars file is
/// offered at once). Elvish and PowerShell keep clap's script.
fn cluster_completion(shell: clap_complete::Shell, script: &str) -> String {
    const LIST: &str = "fleetform completions --clusters 2>/dev/null";
    let mut out = String::with_capacity(script.len() + 1024);
    let mut after_cluster = false;
    for line in script.lines() {
        let mut l = line.to_string();
        match shell {
            clap_complete::Shell::Bash => {
                if after_cluster && l.trim() == "COMPREPLY=($(compgen -f \"${cur}\"))" {
                    l = l.replace("compgen -f \"${cur}\"", &format!("compgen -W \"$({LIST})\" -- \"${{cur}}\""));
                }
                after_cluster = l.trim() == "--cluster)";
            }
            clap_complete::Shell::Zsh if l.contains("--cluster=[") && l.contains(":NAME:_default'") => {
                l = l.replace(":NAME:_default'", &format!(":NAME:{{compadd -- $({LIST})}}'"));
            }
            clap_complete::Shell::Fish if l.contains(" -l cluster ") && l.ends_with(" -r") => {
                l.push_str(&format!(" -f -a \"({LIST})\""));
            }
            _ => {}
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// A cluster that failed to render, with its name (never parsed back out of a message).
#[derive(Debug, Clone)]
pub struct RenderFailure {
    pub cluster: String,
    pub diagnostic: Diagnostic,
}

/// The selected clusters, rendered; failures are collected, not fatal, so all are reported.
pub struct RenderRun {
    pub repo: std::sync::Arc<RepoFiles>,
    pub sets: Vec<crate::core::values::SetOverride>,
    pub clusters: Vec<String>,
    pub rendered: Vec<Rendered>,
    pub failures: Vec<RenderFailure>,
}

impl RenderRun {
    /// The errors to show: one per distinct error; an error in a shared file that fails several
    /// clusters is shown once, naming the clusters it fails.
    pub fn errors(&self) -> Vec<Diagnostic> {
        let mut out: Vec<(Diagnostic, Vec<&str>)> = Vec::new();
        for f in &self.failures {
            let d = &f.diagnostic;
            match out.iter_mut().find(|(o, _)| (&o.file, o.line, o.column, &o.message) == (&d.file, d.line, d.column, &d.message)) {
                Some((_, clusters)) => clusters.push(&f.cluster),
                None => out.push((d.clone(), vec![&f.cluster])),
            }
        }
        out.into_iter()
            .map(|(mut d, clusters)| {
                if clusters.len() > 1 {
                    d.notes.push(format!("this error fails cluster(s) {}", clusters.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")));
                }
                d
            })
            .collect()
    }
}

/// How long rendering may take in all (FLEETFORM_RENDER_TIMEOUT, default 30s): a template
/// that loops too long is an error naming its cluster, not a hung pipeline.
fn render_timeout() -> std::time::Duration {
    std::env::var("FLEETFORM_RENDER_TIMEOUT").ok().and_then(|v| crate::core::duration::parse(&v).ok()).unwrap_or(std::time::Duration::from_secs(30))
}

/// Render the selected clusters, side by side on a thread per core (with a large stack
/// for deep templates), within the render timeout.
pub fn render_selected(s: &Settings, default_all: bool) -> anyhow::Result<RenderRun> {
    let mut repo = crate::repo::load(&s.root)?;
    repo.extra_values = crate::repo::load_values_files(&s.values)?;
    let repo = std::sync::Arc::new(repo);
    let clusters = s.select(&repo, default_all)?;
    let results = crate::core::render::render_clusters(&repo, &clusters, &s.sets, render_timeout());
    let mut rendered = Vec::new();
    let mut failures = Vec::new();
    for (c, r) in clusters.iter().zip(results) {
        match r {
            Some(Ok(r)) => rendered.push(r),
            Some(Err(d)) => failures.push(RenderFailure { cluster: c.clone(), diagnostic: d }),
            None => failures.push(RenderFailure {
                cluster: c.clone(),
                diagnostic: Diagnostic::file(
                    "templates",
                    format!("rendering cluster `{c}` took longer than {}s (FLEETFORM_RENDER_TIMEOUT): a loop over too many values?", render_timeout().as_secs()),
                )
                .with_help("loop over fewer values; a fleet's manifests render in milliseconds"),
            }),
        }
    }
    Ok(RenderRun { repo, sets: s.sets.clone(), clusters, rendered, failures })
}

/// Values no template reads, at any depth (see `core::unused`): in the shared vars files, the
/// layers, the `--values` files, the selected clusters' own files and `--set`. Warnings; errors
/// with `--strict`.
pub fn value_warnings(run: &RenderRun) -> Vec<Diagnostic> {
    let reads = crate::core::unused::Reads::of(&run.repo);
    let own = run.rendered.iter().filter_map(|r| run.repo.cluster_vars.get(r.manifest.name()));
    let mut out: Vec<Diagnostic> = Vec::new();
    for f in run.repo.shared_vars.iter().chain(run.repo.layers.values()).chain(run.repo.extra_values.iter()).chain(own) {
        if let Ok(v) = crate::core::values::parse_values(f) {
            out.extend(reads.unused_values(f, &v));
        }
    }
    out.extend(reads.unused_sets(&run.sets));
    out
}

pub fn print_warnings(s: &Settings, warnings: &[Diagnostic]) {
    for w in warnings {
        s.printer.warn(&w.to_string());
    }
}

/// Value warnings under `--strict`: printed as errors, with what to do.
pub fn print_strict(s: &Settings, warnings: &[Diagnostic]) {
    for w in warnings {
        s.printer.error(&w.to_string());
    }
    s.printer.info(&format!("{} value(s) no template reads: an error with --strict (remove them or fix the name)", warnings.len()));
}

/// Print render errors on stderr, one block each (see [`RenderRun::errors`]).
pub fn print_errors(s: &Settings, run: &RenderRun) {
    for d in run.errors() {
        s.printer.error(&d.to_string());
    }
}

/// The JSON envelope every command's JSON output shares.
pub const JSON_SCHEMA_VERSION: u32 = 2;
