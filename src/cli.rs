//! Command-line interface: clap types, settings resolved once, and the one place that maps
//! results and errors to exit codes. Commands live in `crate::commands`, one module each.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::core::diag::{Diagnostic, Diagnostics};
use crate::core::values::SetOverride;
use crate::core::RepoFiles;
use crate::output::{ColorChoice, OutputFormat, Printer};

/// Render, lint, plan and apply Kubernetes node fleets on AWS.
///
/// fleetform turns snippets/, templates/ and vars/ into clusters/<cluster>.yaml (kinds Cluster
/// and NodeGroup, kops field names), checks them with rules learned in production, and keeps EC2
/// launch templates, Auto Scaling groups and Route53 records in line with them.
///
/// Exit status: 0 success; 1 an error, a lint error, or a stale clusters/ (render --check);
/// 2 changes pending, with --detailed-exitcode.
#[derive(Debug, Parser)]
#[command(name = "fleetform", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Cluster to act on (repeatable). Its vars file is vars/<NAME>.yaml.
    #[arg(long = "cluster", value_name = "NAME", global = true)]
    pub clusters: Vec<String>,
    /// Act on every cluster that has a vars file.
    #[arg(long, global = true, conflicts_with = "clusters")]
    pub all: bool,
    /// Repository root (holds snippets/, templates/, vars/, clusters/).
    #[arg(long, value_name = "DIR", default_value = ".", env = "FLEETFORM_ROOT", global = true)]
    pub root: PathBuf,
    /// A values file layered on for this run, after the cluster's own file and before --set
    /// (repeatable, in order), as kops toolbox template's --values.
    #[arg(long = "values", value_name = "FILE", global = true)]
    pub values: Vec<PathBuf>,
    /// Override a value for this run, after every vars file (repeatable): --set spot.maxSize=50
    #[arg(long = "set", value_name = "PATH=VALUE", global = true)]
    pub sets: Vec<SetOverride>,
    /// Output format of the command's result on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    pub output: OutputFormat,
    /// Do not ask for confirmation before changing AWS.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to use colour (NO_COLOR is honoured with auto).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render clusters/<cluster>.yaml and the cluster-autoscaler artefacts from templates and vars.
    ///
    /// Without --cluster, every cluster is rendered and generated files of clusters that no
    /// longer exist are removed. With --check nothing is written: the command fails with a
    /// unified diff where clusters/ is stale (the pre-merge CI check).
    #[command(after_long_help = "Examples:\n  fleetform render\n  fleetform render --check --strict          # the pre-merge CI check\n  fleetform render --cluster prod.k8s.example.com -v   # where each value comes from")]
    Render(crate::commands::render::RenderArgs),
    /// Check rendered clusters against the production rules (see `fleetform lint --rules`).
    ///
    /// Exits 1 when any finding is an error; warnings are printed but do not fail.
    #[command(after_long_help = "Examples:\n  fleetform lint --strict\n  fleetform lint --cluster prod.k8s.example.com --output json\n  fleetform lint --rules")]
    Lint(crate::commands::lint::LintArgs),
    /// Show what would change on AWS: per resource and field, and which instances a rolling
    /// update would replace and why.
    ///
    /// Reads live launch templates, Auto Scaling groups, instances and Route53 records (only what
    /// the cluster owns can change) and compares them with the rendered manifests. Without
    /// --cluster, every cluster is planned, concurrently. --out saves the plan for `apply`.
    #[command(after_long_help = "Examples:\n  fleetform plan --cluster prod.k8s.example.com\n  fleetform plan --all --detailed-exitcode --out plan.json --output markdown > plan.md\n  fleetform plan --cluster prod.k8s.example.com --adopt   # take over kops's groups")]
    Plan(crate::commands::plan::PlanArgs),
    /// Carry out a fresh plan, or a saved one (`plan --out`) if live AWS has not moved since.
    ///
    /// Takes the cluster's lock in its state store, creates and updates launch templates (a new
    /// version per change), Auto Scaling groups and Route53 records in a safe order, and records
    /// an audit entry. Asks before changing anything unless --yes; without a terminal and without
    /// --yes it refuses. Safe to kill and run again.
    #[command(after_long_help = "Examples:\n  fleetform apply --cluster prod.k8s.example.com\n  fleetform apply plan.json --yes            # the saved plan, on merge\n  fleetform apply --cluster prod.k8s.example.com --rolling --yes")]
    Apply(crate::commands::apply::ApplyArgs),
    /// Delete everything one cluster owns on AWS: its instances (each drained through the drain
    /// hook unless --skip-drain), groups, launch templates, DNS records and access entries; its
    /// EKS control plane only with --include-control-plane.
    ///
    /// Shows what it will delete first; then asks for the cluster's name (in CI: --yes --confirm
    /// NAME). Works from the vars file, or — when it is gone — from what AWS says the cluster
    /// owns (--region, --state-store). Takes the lock, writes an audit record, safe to kill and
    /// run again. The state store is kept.
    #[command(after_long_help = "Examples:\n  fleetform destroy --cluster sandbox.k8s.example.com\n  fleetform destroy --cluster sandbox.k8s.example.com --yes --confirm sandbox.k8s.example.com\n  fleetform destroy --cluster old.k8s.example.com --region eu-west-1 --state-store s3://bucket/old.k8s.example.com")]
    Destroy(crate::commands::destroy::DestroyArgs),
    /// Write a fleetform repository from another tool's manifests: `fleetform import kops FILE…`.
    Import(crate::commands::import::ImportArgs),
    /// Replace instances that do not match their group's launch template, with surge, drain
    /// and health gates.
    ///
    /// Without --yes, prints the schedule: groups, batches, instances and why each is replaced.
    /// Control-plane groups go first (one at a time), then critical groups, then the rest; with
    /// --all, clusters go wave by wave, each wave validated before the next.
    #[command(after_long_help = "Examples:\n  fleetform rolling-update --cluster prod.k8s.example.com          # the schedule\n  fleetform rolling-update --cluster prod.k8s.example.com --yes\n  fleetform rolling-update --all --yes                    # wave by wave")]
    RollingUpdate(crate::commands::rolling::RollingArgs),
    /// Give old on-demand fallback nodes back to spot: a one-shot for a schedule.
    ///
    /// cluster-autoscaler removes the least-used node, spot or not, so on-demand fallback nodes
    /// stay on for days after a peak. This drains (drain hook) and terminates, oldest first, the
    /// instances of on-demand fallback groups older than --older-than, with their group's desired
    /// capacity decremented, so that the autoscaler brings the capacity back on the pool's spot
    /// groups — only while those have room to grow, never below a group's or a pool's declared
    /// minimum, and at most --max per run. Without --yes, prints what it would reclaim and why
    /// the rest stays. Takes the cluster's lock and writes an audit record.
    #[command(after_long_help = "Examples:\n  fleetform reclaim-on-demand --cluster prod.k8s.example.com              # what it would reclaim\n  fleetform reclaim-on-demand --all --yes --older-than 2h --max 3        # the scheduled job")]
    ReclaimOnDemand(crate::commands::reclaim::ReclaimArgs),
    /// Health of live clusters: the EKS control plane ACTIVE on its declared version with every
    /// node within the version-skew policy, groups at desired capacity, instances healthy, EC2
    /// status checks, DNS records holding their declared values, the validate hook. Exit 0
    /// healthy, 1 not.
    #[command(after_long_help = "Examples:\n  fleetform validate --cluster prod.k8s.example.com\n  fleetform validate --all --output json")]
    Validate,
    /// Break a stale lock of one cluster: fleetform unlock --cluster NAME LOCK_ID
    ///
    /// A lock object that is not a readable fleetform lock is removed with --force-unreadable.
    #[command(after_long_help = "Examples:\n  fleetform unlock --cluster prod.k8s.example.com 2f1c9a7e\n  fleetform unlock --cluster prod.k8s.example.com --force-unreadable")]
    Unlock(crate::commands::apply::UnlockArgs),
    /// The audit trail: applies, rolling updates, destroys and reclaims (who, when, which commit, what
    /// changed), of one cluster (--cluster) or of every cluster merged by time (--all).
    #[command(after_long_help = "Examples:\n  fleetform history --cluster prod.k8s.example.com\n  fleetform history --all\n  fleetform history --cluster prod.k8s.example.com --output json")]
    History,
    /// Print the JSON Schema of the manifest kinds, for editors (yaml-language-server).
    #[command(after_long_help = "Examples:\n  fleetform schema > fleetform.schema.json\n  fleetform schema node-group > node-group.schema.json")]
    Schema(crate::commands::schema::SchemaArgs),
    /// Print a shell completion script: fleetform completions bash > /etc/bash_completion.d/fleetform
    #[command(after_long_help = "Examples:\n  fleetform completions bash > /etc/bash_completion.d/fleetform\n  fleetform completions zsh > \"${fpath[1]}/_fleetform\"")]
    Completions {
        #[arg(value_enum, required_unless_present = "list_clusters")]
        shell: Option<clap_complete::Shell>,
        /// Print the repository's cluster names, one per line (what the bash, zsh and fish
        /// scripts offer after --cluster).
        #[arg(long = "clusters", hide = true)]
        list_clusters: bool,
    },
    /// Print the man page (roff): fleetform man | man -l -
    #[command(after_long_help = "Examples:\n  fleetform man | man -l -\n  fleetform man --out /usr/local/share/man/man1   # fleetform.1, fleetform-plan.1, …")]
    Man {
        /// Write a page per command into DIR (fleetform.1, fleetform-render.1, …) instead of
        /// printing the main page.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
}

/// Settings resolved once from flags and environment.
#[derive(Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub clusters: Vec<String>,
    pub all: bool,
    pub sets: Vec<SetOverride>,
    /// `--values FILE`, in order.
    pub values: Vec<PathBuf>,
    pub yes: bool,
    pub printer: Printer,
}

impl Settings {
    pub fn resolve(g: &GlobalArgs) -> Self {
        Settings {
            root: g.root.clone(),
            clusters: g.clusters.clone(),
            all: g.all,
            sets: g.sets.clone(),
            values: g.values.clone(),
            yes: g.yes,
            printer: Printer::new(g.output, g.color, g.quiet, g.verbose),
        }
    }

    /// The clusters to act on. With neither --cluster nor --all: every cluster when
    /// `default_all`, otherwise an error that says how to choose.
    pub fn select(&self, repo: &RepoFiles, default_all: bool) -> anyhow::Result<Vec<String>> {
        if self.all || (self.clusters.is_empty() && default_all) {
            let all: Vec<String> = repo.cluster_names().map(str::to_string).collect();
            if all.is_empty() {
                return Err(Diagnostic::file("vars", "no cluster: vars/ holds no <cluster>.yaml")
                    .with_help("create vars/<cluster>.yaml for each cluster; vars/_*.yaml are shared")
                    .into());
            }
            return Ok(all);
        }
        if self.clusters.is_empty() {
            anyhow::bail!("choose the clusters: --cluster NAME (repeatable) or --all");
        }
        let mut bad = Vec::new();
        for c in &self.clusters {
            if !repo.cluster_vars.contains_key(c) {
                bad.push(crate::core::render::unknown_cluster(repo, c));
            }
        }
        if !bad.is_empty() {
            return Err(Diagnostics(bad).into());
        }
        let mut v = self.clusters.clone();
        v.dedup();
        Ok(v)
    }
}

/// What a command reports through the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    /// An error finding, a stale clusters/, an unhealthy cluster.
    Failure,
    /// Changes or work pending (only with --detailed-exitcode).
    Changes,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        match s {
            Status::Success => ExitCode::from(0),
            Status::Failure => ExitCode::from(1),
            Status::Changes => ExitCode::from(2),
        }
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Usage errors exit 1 like every other error (clap's own 2 means "changes" here). clap's
    // help and usage errors honour --color too (read before parsing, since they come before it).
    use clap::{CommandFactory, FromArgMatches};
    let cmd = Cli::command().color(color_flag(std::env::args()));
    let cli = match cmd.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let settings = Settings::resolve(&cli.global);
    let result = crate::commands::run(&cli, &settings);
    let code = match result {
        Ok(status) => status.into(),
        Err(err) => {
            report_error(&settings.printer, &err);
            ExitCode::from(1)
        }
    };
    if let Some(e) = crate::output::stdout_failure() {
        settings.printer.error(&format!("writing the result to stdout failed: {e}"));
        return ExitCode::from(1);
    }
    code
}

/// `--color WHEN` / `--color=WHEN` among the arguments, for clap's own output (NO_COLOR is
/// honoured by clap with `auto`).
fn color_flag(args: impl Iterator<Item = String>) -> clap::ColorChoice {
    let args: Vec<String> = args.collect();
    let mut when = None;
    for (i, a) in args.iter().enumerate() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--color=") {
            when = Some(v.to_string());
        } else if a == "--color" {
            when = args.get(i + 1).cloned();
        }
    }
    match when.as_deref() {
        Some("never") => clap::ColorChoice::Never,
        Some("always") => clap::ColorChoice::Always,
        _ => clap::ColorChoice::Auto,
    }
}

/// Print an error: located diagnostics as they are, other errors as a chain with "Caused by".
pub fn report_error(p: &Printer, err: &anyhow::Error) {
    if let Some(d) = err.downcast_ref::<Diagnostic>() {
        p.error(&d.to_string());
        return;
    }
    if let Some(ds) = err.downcast_ref::<Diagnostics>() {
        for d in &ds.0 {
            p.error(&d.to_string());
        }
        return;
    }
    p.error(&err.to_string());
    let mut chain = err.chain().skip(1).peekable();
    if chain.peek().is_some() {
        eprintln!("\nCaused by:");
        for (i, cause) in chain.enumerate() {
            eprintln!("  {i}: {cause}");
        }
    }
}
