//! `fleetform rolling-update` and `fleetform validate`.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::apply::CommandUi;
use super::JSON_SCHEMA_VERSION;
use crate::cli::{Settings, Status};
use crate::core::duration;
use crate::core::model::Manifest;
use crate::core::rolling::GroupRoll;
use crate::ops::apply::{Mode, Request};
use crate::ops::roll::{preview, validate_once, ClusterRoll, RollSettings};
use crate::ops::{redacted_command, Session};
use crate::output::{OutputFormat, Style};

#[derive(Debug, Clone, Args)]
pub struct RollingArgs {
    /// Only these node groups (repeatable; names as in the manifests).
    #[arg(long = "group", value_name = "NAME")]
    pub groups: Vec<String>,
    /// Replace every instance, up to date or not.
    #[arg(long)]
    pub force: bool,
    /// Without --yes: exit 2 when instances are out of date (0 none, 1 error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// How often AWS is polled while waiting for instances.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub poll_interval: Duration,
    /// How long to wait for another run's lock on a cluster, e.g. 5m (default: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration::parse)]
    pub lock_timeout: Duration,
    /// Only the clusters of this wave (`spec.wave`).
    #[arg(long, value_name = "N")]
    pub wave: Option<u32>,
    /// Node groups rolled at once in a cluster, after its control-plane and critical groups
    /// (over the cluster's rollingUpdate.maxConcurrentGroups; default 4). 1: group after group.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_groups: Option<u32>,
    /// Instances out of service at once across the groups rolling side by side (over the
    /// cluster's rollingUpdate.clusterMaxUnavailable; default 10% of their instances).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_unavailable: Option<u32>,
}

pub fn run(s: &Settings, args: &RollingArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    if s.clusters.is_empty() && !s.all {
        bail!("choose the clusters to roll: --cluster NAME (repeatable) or --all");
    }
    let run = super::render_selected(s, false)?;
    if !run.failures.is_empty() {
        super::print_errors(s, &run);
        return Ok(Status::Failure);
    }
    let manifests: Vec<&Manifest> = run.rendered.iter().map(|r| &r.manifest).filter(|m| args.wave.is_none_or(|w| m.cluster.spec.wave.unwrap_or(0) == w)).collect();
    let settings = RollSettings { groups: args.groups.clone(), force: args.force, poll: args.poll_interval, max_groups: args.max_groups, max_unavailable: args.max_unavailable };
    let session = Session::start()?;
    if !s.yes {
        // The schedule only: read-only, no lock.
        let work = match session.block_on(preview(session.aws(), &manifests, &settings)) {
            Ok(w) => w,
            Err(errs) => {
                for e in errs {
                    p.error(&e);
                }
                return Ok(Status::Failure);
            }
        };
        print_schedule(s, &work, true);
        let pending: usize = work.iter().map(ClusterRoll::instances).sum();
        if pending == 0 {
            p.status("Rolled", "nothing: every instance runs its group's current launch template");
            return Ok(Status::Success);
        }
        p.info("This is the schedule only; run with --yes to carry it out.");
        return Ok(if args.detailed_exitcode { Status::Changes } else { Status::Success });
    }
    let req = Request {
        manifests,
        mode: Mode::Roll(settings),
        wave: args.wave,
        lock_timeout: args.lock_timeout,
        poll: args.poll_interval,
        concurrency: crate::executor::apply::DEFAULT_CONCURRENCY,
        command: redacted_command(&std::env::args().collect::<Vec<_>>()),
        commit: None,
        root: s.root.clone(),
        events: p.format == OutputFormat::Json,
    };
    let ui = CommandUi { s };
    let report = session.block_on(crate::ops::apply::run(session.aws(), req, &ui));
    Ok(if report.ok() { Status::Success } else { Status::Failure })
}

/// The schedule: groups, batches, instances and why each is replaced (one JSON line with --output json).
pub fn print_schedule(s: &Settings, work: &[ClusterRoll], dry: bool) {
    let p = &s.printer;
    if p.format == OutputFormat::Json {
        let v = json!({
            "schemaVersion": JSON_SCHEMA_VERSION,
            "command": "rolling-update",
            "event": "schedule",
            "dryRun": dry,
            "pending": work.iter().flat_map(|c| &c.groups).map(GroupRoll::instances).sum::<usize>(),
            "clusters": work.iter().map(|c| json!({"name": c.desired.name, "wave": c.desired.wave, "groups": c.groups, "skipped": c.skipped})).collect::<Vec<_>>(),
        });
        // One line: with --yes, events follow as JSON lines.
        p.data(&format!("{v}\n"));
        return;
    }
    let mut out = String::new();
    for c in work {
        let n: usize = c.groups.iter().map(GroupRoll::instances).sum();
        out.push_str(&p.paint(&format!("Cluster {} (wave {}): {n} instance(s) to replace in {} group(s)", c.desired.name, c.desired.wave, c.groups.len()), Style::Bold));
        out.push('\n');
        for g in &c.groups {
            let kind = if matches!(g.role, crate::core::model::Role::ControlPlane | crate::core::model::Role::APIServer) {
                " (control plane: one at a time)"
            } else if g.critical {
                " (critical)"
            } else {
                ""
            };
            out.push_str(&format!(
                "  group {}{kind}: desired {}, surge {}, unavailable {}, {} batch(es)\n",
                g.name,
                g.desired_capacity,
                g.max_surge,
                g.max_unavailable,
                g.batches.len()
            ));
            for (i, b) in g.batches.iter().enumerate() {
                for (j, r) in b.iter().enumerate() {
                    let head = if j == 0 { format!("batch {}:", i + 1) } else { String::new() };
                    out.push_str(&format!("    {head:<9}{}  {}\n", r.instance_id, r.reasons.join("; ")));
                }
            }
        }
        for why in &c.skipped {
            out.push_str(&format!("  skipped {why}\n"));
        }
        out.push('\n');
    }
    let total: usize = work.iter().flat_map(|c| &c.groups).map(GroupRoll::instances).sum();
    out.push_str(&p.paint(&format!("Rolling update: {total} instance(s) to replace across {} cluster(s).", work.len()), Style::Bold));
    out.push('\n');
    p.data(&out);
}

pub fn validate(s: &Settings) -> anyhow::Result<Status> {
    let p = &s.printer;
    let run = super::render_selected(s, true)?;
    super::print_errors(s, &run);
    let names: Vec<String> = run.rendered.iter().map(|r| r.manifest.name().to_string()).collect();
    let manifests: Vec<&Manifest> = run.rendered.iter().map(|r| &r.manifest).collect();
    let session = Session::start()?;
    let checks = session.block_on(validate_once(session.aws(), &manifests, &s.root, true));
    let failed = checks.iter().filter(|c| !c.ok).count() + run.failures.len();
    match p.format {
        OutputFormat::Json => p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
            "schemaVersion": JSON_SCHEMA_VERSION, "command": "validate", "ok": failed == 0, "checks": checks,
        }))?)),
        _ => {
            let w1 = checks.iter().map(|c| c.cluster.len()).max().unwrap_or(7).max(7);
            let w2 = checks.iter().map(|c| c.check.len()).max().unwrap_or(5).max(5);
            let mut out = format!("{:<w1$}  {:<w2$}  {:<6}  DETAIL\n", "CLUSTER", "CHECK", "RESULT");
            for c in &checks {
                let res = match (c.ok, c.warning) {
                    (true, false) => p.paint("ok    ", Style::Green),
                    (true, true) => p.paint("WARN  ", Style::Yellow),
                    _ => p.paint("FAILED", Style::Red),
                };
                out.push_str(&format!("{:<w1$}  {:<w2$}  {res}  {}\n", c.cluster, c.check, c.detail));
            }
            p.data(&out);
        }
    }
    if failed == 0 {
        p.status("Healthy", &format!("{} cluster(s), {} check(s) passed", names.len(), checks.len()));
        Ok(Status::Success)
    } else {
        p.error(&format!("{failed} check(s) failed"));
        Ok(Status::Failure)
    }
}
