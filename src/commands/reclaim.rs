//! `fleetform reclaim-on-demand`: a one-shot for a Jenkins schedule that gives old on-demand
//! fallback nodes back to spot (see `core::reclaim` for which, and why never more).

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::JSON_SCHEMA_VERSION;
use crate::cli::{Settings, Status};
use crate::core::duration;
use crate::core::model::Manifest;
use crate::core::reclaim::ReclaimPlan;
use crate::ops::reclaim::{preview, run as reclaim, ReclaimRequest};
use crate::ops::{redacted_command, Session};
use crate::output::{OutputFormat, Style};

#[derive(Debug, Clone, Args)]
pub struct ReclaimArgs {
    /// Only on-demand instances launched longer ago than this (the write-up's draino: 2h).
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = duration::parse)]
    pub older_than: Duration,
    /// Most instances one run reclaims (a few at a time: the autoscaler falls back to on-demand
    /// again if spot is still short; the next scheduled run takes the rest).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max: usize,
    /// Terminate without running the drain hook (needed when the cluster declares none).
    #[arg(long)]
    pub skip_drain: bool,
    /// How long to wait for another run's lock on a cluster, e.g. 5m (default: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration::parse)]
    pub lock_timeout: Duration,
}

pub fn run(s: &Settings, args: &ReclaimArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    if s.clusters.is_empty() && !s.all {
        bail!("choose the clusters: --cluster NAME (repeatable) or --all");
    }
    let run = super::render_selected(s, false)?;
    if !run.failures.is_empty() {
        super::print_errors(s, &run);
        return Ok(Status::Failure);
    }
    let manifests: Vec<&Manifest> = run.rendered.iter().map(|r| &r.manifest).collect();
    let older_than = jiff::SignedDuration::try_from(args.older_than).unwrap_or(jiff::SignedDuration::MAX);
    let session = Session::start()?;
    let mut clusters = Vec::new();
    let mut failed = false;
    for m in manifests {
        if !s.yes {
            match session.block_on(preview(session.aws(), m, older_than, args.max)) {
                Ok(plan) => {
                    if p.format != OutputFormat::Json {
                        print_plan(s, m.name(), &plan, true);
                    }
                    clusters.push(json!({"cluster": m.name(), "reclaim": plan.reclaim, "left": plan.left}));
                }
                Err(e) => {
                    p.error(&format!("{}: {e}", m.name()));
                    clusters.push(json!({"cluster": m.name(), "error": e}));
                    failed = true;
                }
            }
            continue;
        }
        let req = ReclaimRequest {
            manifest: m,
            older_than,
            max: args.max,
            skip_drain: args.skip_drain,
            lock_timeout: args.lock_timeout,
            command: redacted_command(&std::env::args().collect::<Vec<_>>()),
            commit: super::apply::git_commit(&s.root),
            root: s.root.clone(),
        };
        let report = session.block_on(reclaim(session.aws(), &req, p.quiet, p.stderr_is_terminal && p.format != OutputFormat::Json));
        if p.format != OutputFormat::Json {
            print_plan(s, m.name(), &ReclaimPlan { reclaim: report.reclaimed.clone(), left: report.left.clone() }, false);
        }
        if let Some(e) = &report.failed {
            p.error(&format!("{}: {e}", m.name()));
            failed = true;
        }
        clusters.push(serde_json::to_value(&report)?);
    }
    if p.format == OutputFormat::Json {
        p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
            "schemaVersion": JSON_SCHEMA_VERSION, "command": "reclaim-on-demand", "dryRun": !s.yes, "ok": !failed, "clusters": clusters,
        }))?));
    } else if !s.yes {
        p.info("This is what a run would reclaim; run with --yes to drain and terminate them.");
    }
    Ok(if failed { Status::Failure } else { Status::Success })
}

fn print_plan(s: &Settings, cluster: &str, plan: &ReclaimPlan, dry: bool) {
    let p = &s.printer;
    let verb = if dry { "would reclaim" } else { "reclaimed" };
    let mut out = p.paint(&format!("Cluster {cluster}: {verb} {} on-demand instance(s)", plan.reclaim.len()), Style::Bold);
    out.push('\n');
    for r in &plan.reclaim {
        out.push_str(&format!("  {} {} of {} (pool {}, launched {} ago)\n", if dry { "~" } else { "-" }, r.instance_id, r.group, r.pool, r.age));
    }
    for l in &plan.left {
        out.push_str(&format!("  left: {l}\n"));
    }
    p.data(&out);
}
