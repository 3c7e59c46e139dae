//! `fleetform apply [PLANFILE]`, `fleetform unlock`, `fleetform history`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;

use super::plan::{compute, summary_line, text, ClusterOutcome, SavedPlan};
use super::JSON_SCHEMA_VERSION;
use crate::aws::state::StateStore;
use crate::aws::Aws;
use crate::cli::{Settings, Status};
use crate::core::duration;
use crate::core::plan::Summary;
use crate::executor::apply::{apply_cluster, ApplyOptions, ClusterReport};
use crate::executor::progress::Progress;
use crate::output::OutputFormat;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `fleetform plan --out FILE`: applied exactly as shown, or refused when
    /// live AWS has moved since it was made.
    pub plan_file: Option<PathBuf>,
    /// Also delete managed resources no longer declared (a group goes with its instances).
    #[arg(long)]
    pub allow_delete: bool,
    /// How long to wait for another apply's lock on a cluster, e.g. 5m (default: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration::parse)]
    pub lock_timeout: Duration,
    /// After a successful apply, run the rolling update (with --yes, as apply got it). With
    /// several waves, each wave applies, rolls and validates before the next one starts.
    #[arg(long)]
    pub rolling: bool,
    /// Rolling update: how often AWS is polled while waiting for instances.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub poll_interval: Duration,
}

type Work = (crate::core::plan::ClusterPlan, crate::core::desired::DesiredCluster, crate::core::live::LiveCluster);

pub fn run(s: &Settings, args: &ApplyArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    let (outcomes, saved) = match &args.plan_file {
        None => {
            if s.clusters.is_empty() && !s.all {
                bail!("choose the clusters to apply: --cluster NAME (repeatable) or --all");
            }
            (compute(s, false)?.0, None)
        }
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the plan file {}", path.display()))?;
            let saved: SavedPlan = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a plan saved by `fleetform plan --out`", path.display()))?;
            let mut scoped = Settings { clusters: saved.clusters.iter().map(|c| c.plan.cluster.clone()).collect(), all: false, ..s.clone() };
            scoped.sets = s.sets.clone();
            (compute(&scoped, false)?.0, Some(saved))
        }
    };

    // Everything must plan cleanly before anything changes.
    let mut bad = false;
    for o in &outcomes {
        match &o.result {
            Err(errs) => {
                for e in errs {
                    p.error(&format!("cluster {}: {e}", o.name));
                }
                bad = true;
            }
            Ok((plan, _)) if !plan.conflicts.is_empty() => {
                for c in &plan.conflicts {
                    p.error(&format!("cluster {}: {} {}: {}", o.name, c.resource_type.label(), c.name, c.reason));
                }
                bad = true;
            }
            Ok(_) => {}
        }
    }
    if bad {
        p.error("nothing was applied: fix the errors above, then plan and apply again");
        return Ok(Status::Failure);
    }
    let mut work: Vec<Work> = Vec::new();
    if let Some(saved) = &saved {
        let mut stale = Vec::new();
        for sc in &saved.clusters {
            let fresh = outcomes.iter().find(|o| o.name == sc.plan.cluster).and_then(|o| o.result.as_ref().ok().map(|r| (r, o.live.clone())));
            match fresh {
                Some(((fp, _), Some(live))) if fp.fingerprint == sc.plan.fingerprint => work.push((sc.plan.clone(), sc.desired.clone(), live)),
                Some(((fp, _), _)) => stale.push(format!(
                    "cluster {}: live AWS has moved since the plan was made (fingerprint {} -> {}); a plan made now would be: {}",
                    sc.plan.cluster,
                    sc.plan.fingerprint,
                    fp.fingerprint,
                    summary_line(&fp.summary())
                )),
                None => stale.push(format!("cluster {}: could not be read again", sc.plan.cluster)),
            }
        }
        if !stale.is_empty() {
            for e in stale {
                p.error(&e);
            }
            p.error("the saved plan is stale and was not applied; make a new one: fleetform plan --out FILE");
            return Ok(Status::Failure);
        }
    } else {
        for o in outcomes.iter() {
            if let (Ok((plan, d)), Some(live)) = (&o.result, &o.live) {
                work.push((plan.clone(), d.clone(), live.clone()));
            }
        }
    }

    // Show what will happen.
    let shown: Vec<ClusterOutcome> = work
        .iter()
        .map(|(plan, d, live)| ClusterOutcome { name: plan.cluster.clone(), region: plan.region.clone(), result: Ok((plan.clone(), d.clone())), live: Some(live.clone()) })
        .collect();
    let mut total = Summary::default();
    for (plan, _, _) in &work {
        total += plan.summary();
    }
    if p.format != OutputFormat::Json {
        p.data(&text(p, &shown, total, false));
    }
    if args.rolling {
        if !confirm(s, &format!("Apply these changes to {}, then roll them?", work.iter().map(|w| w.0.cluster.as_str()).collect::<Vec<_>>().join(", ")))? {
            return Ok(Status::Failure);
        }
        let mut waves: Vec<u32> = work.iter().map(|w| w.1.wave).collect();
        waves.sort();
        waves.dedup();
        let later = |wave: u32| -> String {
            let names: Vec<&str> = work.iter().filter(|w| w.1.wave > wave).map(|w| w.0.cluster.as_str()).collect();
            if names.is_empty() { String::new() } else { format!("; later waves were not started: {}", names.join(", ")) }
        };
        for wave in waves.iter().copied() {
            let part: Vec<Work> = work.iter().filter(|w| w.1.wave == wave).cloned().collect();
            let names: Vec<String> = part.iter().map(|w| w.0.cluster.clone()).collect();
            let changed: Vec<Work> = part.into_iter().filter(|w| !w.0.changes.is_empty()).collect();
            if !changed.is_empty() && !execute_apply(s, args, &changed)? {
                p.error(&format!("wave {wave} failed: apply failed, so its rolling update was not started{}", later(wave)));
                return Ok(Status::Failure);
            }
            let scoped = Settings { clusters: names, all: false, yes: true, ..s.clone() };
            let rargs = super::rolling::RollingArgs { groups: vec![], force: false, detailed_exitcode: false, poll_interval: args.poll_interval };
            let Ok(rolls) = super::rolling::prepare(&scoped, &rargs)? else {
                p.error(&format!("wave {wave} failed: its rolling update could not be scheduled{}", later(wave)));
                return Ok(Status::Failure);
            };
            if !super::rolling::execute(&scoped, &rargs, &rolls)? {
                p.error(&format!("wave {wave} failed{}", later(wave)));
                return Ok(Status::Failure);
            }
        }
        return Ok(Status::Success);
    }
    work.retain(|(plan, _, _)| !plan.changes.is_empty());
    if work.is_empty() {
        p.status("Applied", "nothing: AWS already matches the code");
        if p.format == OutputFormat::Json {
            p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({"schemaVersion": JSON_SCHEMA_VERSION, "command": "apply", "ok": true, "clusters": []}))?));
        }
        return Ok(Status::Success);
    }
    if !confirm(s, &format!("Apply these changes to {}?", work.iter().map(|w| w.0.cluster.as_str()).collect::<Vec<_>>().join(", ")))? {
        return Ok(Status::Failure);
    }
    Ok(if execute_apply(s, args, &work)? { Status::Success } else { Status::Failure })
}

/// Apply the given plans (confirmed already). True when every cluster succeeded.
fn execute_apply(s: &Settings, args: &ApplyArgs, work: &[Work]) -> anyhow::Result<bool> {
    let p = &s.printer;
    let interrupted = Arc::new(AtomicBool::new(false));
    let opts = ApplyOptions {
        allow_delete: args.allow_delete,
        lock_timeout: args.lock_timeout,
        interrupted: interrupted.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        commit: git_commit(&s.root),
    };
    let progress = Progress::new(p.stderr_is_terminal, p.quiet);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let reports: Vec<ClusterReport> = rt.block_on(async {
        crate::executor::stop_on_interrupt(interrupted.clone(), "the lock will be released");
        let aws = Aws::load().await;
        let jobs = work.iter().map(|(plan, d, live)| {
            let aws = &aws;
            let opts = &opts;
            let progress = &progress;
            async move {
                let cp = progress.cluster(&plan.cluster, plan.changes.len());
                let store = match d.state_store.as_deref() {
                    Some(url) => StateStore::new(aws, url, &d.region),
                    None => Err(format!("cluster {} declares no spec.stateStore: apply needs it for its lock and audit trail", plan.cluster)),
                };
                let report = match store {
                    Ok(store) => apply_cluster(aws, plan, d, live, &store, opts, &cp).await,
                    Err(e) => ClusterReport { cluster: plan.cluster.clone(), failed: Some(e), ..Default::default() },
                };
                cp.finish(if report.ok() { "done" } else if report.interrupted { "interrupted" } else { "failed" });
                report
            }
        });
        futures::future::join_all(jobs).await
    });

    let mut failed = false;
    for r in &reports {
        let line = format!(
            "{}: {} created, {} updated, {} deleted{}",
            r.cluster,
            r.created.len(),
            r.updated.len(),
            r.deleted.len(),
            if r.not_deleted.is_empty() { String::new() } else { format!(", {} not deleted (use --allow-delete)", r.not_deleted.len()) }
        );
        if r.ok() {
            p.status("Applied", &line);
        } else {
            failed = true;
            p.error(&line);
            if let Some(e) = &r.failed {
                p.error(&format!("{}: {e}", r.cluster));
            }
            if r.interrupted {
                p.error(&format!("{}: interrupted", r.cluster));
            }
            for n in &r.not_done {
                p.info(&format!("    not done: {n}"));
            }
            if !r.not_done.is_empty() || r.interrupted {
                p.info("    run the same apply again to finish: it continues from what AWS holds now");
            }
        }
        for n in &r.not_deleted {
            p.warn(&format!("{}: not deleted: {n} (no longer declared; pass --allow-delete to delete it)", r.cluster));
        }
    }
    if p.format == OutputFormat::Json {
        p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
            "schemaVersion": JSON_SCHEMA_VERSION, "command": "apply", "ok": !failed, "clusters": reports,
        }))?));
    }
    Ok(!failed)
}

/// --yes, or "yes" typed at a terminal. Without a terminal and without --yes: refuse.
fn confirm(s: &Settings, question: &str) -> anyhow::Result<bool> {
    if s.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        s.printer.error("refusing to change AWS without --yes: there is no terminal to ask for confirmation (CI, a pipe)");
        return Ok(false);
    }
    eprint!("\n{question} Only `yes` is accepted: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() == "yes" {
        Ok(true)
    } else {
        s.printer.error("nothing was changed: the answer was not `yes`");
        Ok(false)
    }
}

fn git_commit(root: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(root).args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The id of the lock to break, as the error of the blocked apply names it.
    pub lock_id: String,
}

/// Open the state store of the one selected cluster.
fn store_of(s: &Settings) -> anyhow::Result<(String, tokio::runtime::Runtime, Aws, StateStore)> {
    let run = super::render_selected(s, false)?;
    if !run.errors.is_empty() {
        return Err(crate::core::diag::Diagnostics(run.errors).into());
    }
    let [r] = run.rendered.as_slice() else { bail!("name exactly one cluster with --cluster") };
    let m = &r.manifest;
    let url = m.cluster.spec.state_store.clone().with_context(|| format!("cluster {} declares no spec.stateStore", m.name()))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let aws = rt.block_on(Aws::load());
    let store = StateStore::new(&aws, &url, &m.cluster.spec.region).map_err(anyhow::Error::msg)?;
    Ok((m.name().to_string(), rt, aws, store))
}

pub fn unlock(s: &Settings, args: &UnlockArgs) -> anyhow::Result<Status> {
    let (cluster, rt, _aws, store) = store_of(s)?;
    let holder = rt.block_on(store.read_lock()).map_err(anyhow::Error::msg)?;
    match holder {
        None => {
            s.printer.status("Unlocked", &format!("{cluster} was not locked"));
            Ok(Status::Success)
        }
        Some(h) if h.id == args.lock_id => {
            if !confirm(s, &format!("Break {h} on {cluster}? An apply still running would then race another."))? {
                return Ok(Status::Failure);
            }
            rt.block_on(store.unlock(&h.id)).map_err(anyhow::Error::msg)?;
            s.printer.status("Unlocked", &format!("{cluster}: broke {h}"));
            Ok(Status::Success)
        }
        Some(h) => {
            s.printer.error(&format!("{cluster} is locked by another id: {h}; nothing was changed (pass that id to break it)"));
            Ok(Status::Failure)
        }
    }
}

pub fn history(s: &Settings) -> anyhow::Result<Status> {
    let (cluster, rt, _aws, store) = store_of(s)?;
    let records = rt.block_on(store.history()).map_err(anyhow::Error::msg)?;
    if s.printer.format == OutputFormat::Json {
        s.printer.data(&format!("{}\n", serde_json::to_string_pretty(&json!({"schemaVersion": JSON_SCHEMA_VERSION, "command": "history", "cluster": cluster, "applies": records}))?));
        return Ok(Status::Success);
    }
    let mut out = String::new();
    for r in &records {
        out.push_str(&format!(
            "{}  {:<11} {:<20} commit {:<12}  {} created, {} updated, {} deleted\n",
            r.started,
            r.result,
            format!("{}@{}", r.who, r.host),
            r.commit.as_deref().unwrap_or("-"),
            r.created.len(),
            r.updated.len(),
            r.deleted.len()
        ));
        for f in &r.failed {
            out.push_str(&format!("      failed: {f}\n"));
        }
    }
    if records.is_empty() {
        s.printer.info(&format!("no apply recorded for {cluster} in {}", store.url));
    }
    s.printer.data(&out);
    Ok(Status::Success)
}
