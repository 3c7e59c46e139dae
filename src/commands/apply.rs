//! `fleetform apply [PLANFILE]`, `fleetform unlock`, `fleetform history`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;

use super::plan::{text, ClusterOutcome};
use super::JSON_SCHEMA_VERSION;
use crate::aws::state::{HistoryRecord, LockState, StateStore};
use crate::cli::{Settings, Status};
use crate::core::duration;
use crate::core::plan::Summary;
use crate::ops::apply::{Mode, Request, Ui};
use crate::ops::plan::SavedPlan;
use crate::ops::roll::{ClusterRoll, RollSettings};
use crate::ops::{redacted_command, Session};
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
    /// How often AWS is polled while waiting: for instances (rolling update), for the EKS
    /// control plane and its add-ons to be ACTIVE again.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub poll_interval: Duration,
    /// Only the clusters of this wave (`spec.wave`): one Jenkins stage per wave.
    #[arg(long, value_name = "N")]
    pub wave: Option<u32>,
    /// Take over groups and launch templates of the declared names that exist without
    /// fleetform's tags (kops's), as `plan --adopt` showed. A saved plan carries its own.
    #[arg(long)]
    pub adopt: bool,
    /// AWS changes in flight at once per region and service (EC2, Auto Scaling, Route53), shared
    /// by all clusters: groups are created and updated side by side (default 16). Lower it (1:
    /// one step at a time) when AWS answers RequestLimitExceeded or Throttling because other
    /// tools share the account's API limits.
    #[arg(long, value_name = "N", default_value_t = crate::executor::apply::DEFAULT_CONCURRENCY, value_parser = concurrency)]
    pub concurrency: usize,
}

/// `--concurrency`: 1 to 100.
fn concurrency(v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(format!("`{v}` is not a number from 1 to 100 (1: one change at a time)")),
    }
}

pub fn run(s: &Settings, args: &ApplyArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    // A saved plan is verified as a whole before anything else: kind, version, checksum, and
    // the clusters asked for.
    let saved = match &args.plan_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the plan file {}", path.display()))?;
            let file = path.display().to_string();
            Some(SavedPlan::parse(&text, &file).and_then(|sp| sp.select(&s.clusters, &file)).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    if saved.is_none() && s.clusters.is_empty() && !s.all {
        bail!("choose the clusters to apply: --cluster NAME (repeatable) or --all");
    }
    let scoped = match &saved {
        Some(sp) => Settings { clusters: sp.clusters.iter().map(|c| c.plan.cluster.clone()).collect(), all: false, ..s.clone() },
        None => s.clone(),
    };
    let mut run = super::render_selected(&scoped, false)?;
    if !run.failures.is_empty() {
        super::print_errors(s, &run);
        p.error("nothing was applied: fix the errors above, then plan and apply again");
        return Ok(Status::Failure);
    }
    if args.adopt {
        for r in &mut run.rendered {
            r.manifest.cluster.spec.adopt = Some(true);
        }
    }
    let session = Session::start()?;
    let roll = args.rolling.then(|| RollSettings { groups: vec![], force: false, poll: args.poll_interval, max_groups: None, max_unavailable: None });
    let req = Request {
        manifests: run.rendered.iter().map(|r| &r.manifest).collect(),
        mode: Mode::Apply { allow_delete: args.allow_delete, saved, roll },
        wave: args.wave,
        lock_timeout: args.lock_timeout,
        poll: args.poll_interval,
        concurrency: args.concurrency,
        command: redacted_command(&std::env::args().collect::<Vec<_>>()),
        commit: git_commit(&s.root),
        root: s.root.clone(),
        events: p.format == OutputFormat::Json && args.rolling,
    };
    let ui = CommandUi { s };
    let report = session.block_on(crate::ops::apply::run(session.aws(), req, &ui));
    if p.format == OutputFormat::Json && !args.rolling {
        p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
            "schemaVersion": JSON_SCHEMA_VERSION, "command": "apply", "ok": report.ok(), "clusters": report.applies,
        }))?));
    }
    // A saved plan applied in full that leaves work for a new plan (node groups of a control
    // plane it created): 2, so that a pipeline does not take it for done.
    Ok(if !report.ok() {
        Status::Failure
    } else if report.pending.is_empty() {
        Status::Success
    } else {
        Status::Changes
    })
}

/// What commands show and ask while a mutating run goes on.
pub struct CommandUi<'a> {
    pub s: &'a Settings,
}

impl Ui for CommandUi<'_> {
    fn printer(&self) -> &crate::output::Printer {
        &self.s.printer
    }

    fn show_plans(&self, outcomes: &[ClusterOutcome]) {
        let p = &self.s.printer;
        if p.format == OutputFormat::Json {
            return;
        }
        let mut total = Summary::default();
        for o in outcomes {
            if let Ok((plan, _)) = &o.result {
                total += plan.summary();
            }
        }
        p.data(&text(p, outcomes, total, false));
    }

    fn confirm(&self, question: &str, interrupted: &std::sync::atomic::AtomicBool) -> bool {
        confirm_unless(self.s, question, Some(interrupted)).unwrap_or(false)
    }

    fn show_schedule(&self, rolls: &[ClusterRoll], dry_run: bool) {
        super::rolling::print_schedule(self.s, rolls, dry_run);
    }
}

/// --yes, or "yes" typed at a terminal. Without a terminal and without --yes: refuse.
fn confirm(s: &Settings, question: &str) -> anyhow::Result<bool> {
    confirm_unless(s, question, None)
}

/// As [`confirm`]; an interrupt (Ctrl-C, SIGTERM) while waiting for the answer is a "no".
fn confirm_unless(s: &Settings, question: &str, interrupted: Option<&std::sync::atomic::AtomicBool>) -> anyhow::Result<bool> {
    if s.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        s.printer.error("refusing to change AWS without --yes: there is no terminal to ask for confirmation (CI, a pipe)");
        return Ok(false);
    }
    let line = ask(&format!("\n{question} Only `yes` is accepted: "), interrupted);
    if line.trim() == "yes" {
        Ok(true)
    } else {
        s.printer.error("nothing was changed: the answer was not `yes`");
        Ok(false)
    }
}

/// Print `prompt` on stderr and read one line from the terminal; an interrupt (Ctrl-C, SIGTERM)
/// while waiting gives an empty answer.
pub(crate) fn ask(prompt: &str, interrupted: Option<&std::sync::atomic::AtomicBool>) -> String {
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    // The answer is read on a thread of its own, so that an interrupt ends the wait.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let _ = tx.send(line);
    });
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(l) => return l,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return String::new(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if interrupted.is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst)) {
                    return String::new();
                }
            }
        }
    }
}

pub(crate) fn git_commit(root: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(root).args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The id of the lock to break, as the error of the blocked run names it.
    #[arg(required_unless_present = "force_unreadable")]
    pub lock_id: Option<String>,
    /// Remove a lock object that is not a readable fleetform lock (truncated, edited by hand).
    #[arg(long, conflicts_with = "lock_id")]
    pub force_unreadable: bool,
}

/// Open the state store of the one selected cluster, in one session.
fn store_of(s: &Settings) -> anyhow::Result<(String, Session, StateStore)> {
    let run = super::render_selected(s, false)?;
    if !run.failures.is_empty() {
        return Err(crate::core::diag::Diagnostics(run.errors()).into());
    }
    let [r] = run.rendered.as_slice() else { bail!("name exactly one cluster with --cluster") };
    let m = &r.manifest;
    let url = m.cluster.spec.state_store.clone().with_context(|| format!("cluster {} declares no spec.stateStore", m.name()))?;
    let session = Session::start()?;
    let store = session.block_on(StateStore::open(session.aws(), &url))?;
    Ok((m.name().to_string(), session, store))
}

pub fn unlock(s: &Settings, args: &UnlockArgs) -> anyhow::Result<Status> {
    let (cluster, session, store) = store_of(s)?;
    let state = session.block_on(store.read_lock())?;
    let question = match (&state, &args.lock_id, args.force_unreadable) {
        (LockState::Absent, _, _) => {
            s.printer.status("Unlocked", &format!("{cluster} was not locked ({} does not exist)", store.lock_location()));
            return Ok(Status::Success);
        }
        (LockState::Held(h), Some(id), _) if *id == h.id => format!("Break {h} on {cluster}? A run still going would then race another."),
        (LockState::Held(h), _, _) => {
            s.printer.error(&format!("{cluster} is locked by another id: {h}; nothing was changed (pass that id to break it)"));
            return Ok(Status::Failure);
        }
        (LockState::Unreadable { reason }, _, true) => format!("Remove the unreadable lock object {} ({reason}) of {cluster}?", store.lock_location()),
        (LockState::Unreadable { reason }, _, false) => {
            s.printer.error(&format!(
                "{cluster}: the lock object {} is not a readable fleetform lock ({reason}); nothing was changed. If no fleetform run is using it, remove it with `fleetform unlock --cluster {cluster} --force-unreadable`",
                store.lock_location()
            ));
            return Ok(Status::Failure);
        }
    };
    if !confirm(s, &question)? {
        return Ok(Status::Failure);
    }
    // Checked again right before the delete: the lock may have changed hands while we asked.
    let now = session.block_on(store.read_lock())?;
    if now != state {
        s.printer.error(&format!("{cluster}: the lock changed while you were asked ({}); nothing was changed", crate::ops::lock::holder(&now)));
        return Ok(Status::Failure);
    }
    session.block_on(store.delete_lock())?;
    s.printer.status("Unlocked", &format!("{cluster}: removed {}", crate::ops::lock::holder(&state)));
    Ok(Status::Success)
}

pub fn history(s: &Settings) -> anyhow::Result<Status> {
    // One cluster (--cluster), or every cluster (--all, or several --cluster), merged by time.
    let run = super::render_selected(s, false)?;
    if !run.failures.is_empty() {
        return Err(crate::core::diag::Diagnostics(run.errors()).into());
    }
    if run.rendered.is_empty() {
        bail!("name the cluster with --cluster NAME, or --all");
    }
    let session = Session::start()?;
    let mut per_cluster = Vec::new();
    let mut rows: Vec<(String, HistoryRecord)> = Vec::new();
    let mut all_unreadable = 0;
    for r in &run.rendered {
        let m = &r.manifest;
        let url = m.cluster.spec.state_store.clone().with_context(|| format!("cluster {} declares no spec.stateStore", m.name()))?;
        let store = session.block_on(StateStore::open(session.aws(), &url))?;
        let entries = session.block_on(store.history())?;
        let (records, unreadable): (Vec<_>, Vec<_>) = entries.into_iter().partition(Result::is_ok);
        let records: Vec<HistoryRecord> = records.into_iter().filter_map(Result::ok).collect();
        let unreadable: Vec<(String, String)> = unreadable.into_iter().filter_map(Result::err).collect();
        for (key, why) in &unreadable {
            s.printer.warn(&format!("{key} is not a readable audit record ({why}); it is left out"));
        }
        if records.is_empty() && s.printer.format != OutputFormat::Json {
            s.printer.info(&format!("no run recorded for {} in {}", m.name(), store.url));
        }
        all_unreadable += unreadable.len();
        rows.extend(records.iter().map(|r| (m.name().to_string(), r.clone())));
        per_cluster.push(json!({
            "cluster": m.name(), "applies": records,
            "unreadable": unreadable.iter().map(|(k, w)| json!({"key": k, "error": w})).collect::<Vec<_>>(),
        }));
    }
    let status = if all_unreadable == 0 { Status::Success } else { Status::Failure };
    if s.printer.format == OutputFormat::Json {
        // One cluster keeps the shape of schema version 2; several add `clusters`.
        let out = match per_cluster.as_slice() {
            [one] => {
                let mut o = json!({"schemaVersion": JSON_SCHEMA_VERSION, "command": "history"});
                for (k, v) in one.as_object().expect("an object") {
                    o[k] = v.clone();
                }
                o
            }
            _ => json!({"schemaVersion": JSON_SCHEMA_VERSION, "command": "history", "clusters": per_cluster}),
        };
        s.printer.data(&format!("{}\n", serde_json::to_string_pretty(&out)?));
        return Ok(status);
    }
    rows.sort_by(|a, b| (&a.1.started, &a.0).cmp(&(&b.1.started, &b.0)));
    let several = run.rendered.len() > 1;
    let mut out = String::new();
    for (cluster, r) in &rows {
        let what = run_kind(&r.command);
        out.push_str(&format!(
            "{}  {}{:<15} {:<11} {:<20} commit {:<12}  {} created, {} updated, {} deleted{}\n",
            r.started,
            if several { format!("{cluster:<28} ") } else { String::new() },
            what,
            r.result,
            format!("{}@{}", r.who, r.host),
            r.commit.as_deref().unwrap_or("-"),
            r.created.len(),
            r.updated.len(),
            r.deleted.len(),
            if r.replaced.is_empty() { String::new() } else { format!(", {} instance(s) replaced", r.replaced.len()) }
        ));
        for f in &r.failed {
            out.push_str(&format!("      failed: {f}\n"));
        }
    }
    s.printer.data(&out);
    Ok(status)
}

/// Which command a record's command line ran: apply, rolling-update, destroy or
/// reclaim-on-demand.
fn run_kind(command: &str) -> &'static str {
    let words: Vec<&str> = command.split_whitespace().collect();
    if words.contains(&"destroy") {
        "destroy"
    } else if words.contains(&"reclaim-on-demand") {
        "reclaim-on-demand"
    } else if words.contains(&"rolling-update") {
        "rolling-update"
    } else if words.contains(&"--rolling") {
        "apply --rolling"
    } else {
        "apply"
    }
}
