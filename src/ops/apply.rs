//! The mutating run over many clusters: `apply`, `apply --rolling` and `rolling-update` are the
//! same loop. Per wave: lock every cluster of the wave (in name order, so two runs never wait on
//! each other crosswise), read AWS once for the wave, plan, verify a saved plan, show and
//! confirm, carry out the steps (clusters side by side), roll, validate, write each cluster's
//! audit record, unlock. The first wave that fails stops the run; later waves are named as not
//! started.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::lock::{self, Audit, Held};
use super::plan::{check_against_repo, plan_clusters, verify_saved, ClusterOutcome, SavedPlan};
use super::roll::{schedules, validate_wave, ClusterRoll, RollSettings};
use super::{in_waves, WaveMember, WaveRunner, WavesReport};
use crate::aws::state::LockInfo;
use crate::aws::Aws;
use crate::core::model::Manifest;
use crate::executor::apply::{run_steps, ClusterReport};
use crate::executor::progress::Progress;
use crate::executor::rolling::{roll_cluster, Events, RollOptions, RollReport};
use crate::output::Printer;

/// What the command shows and asks; the commands implement it (text, JSON, markdown).
pub trait Ui {
    fn printer(&self) -> &Printer;
    /// The plans of a wave, before anything changes.
    fn show_plans(&self, outcomes: &[ClusterOutcome]);
    /// Ask before changing AWS (`--yes`, or "yes" at a terminal); false changes nothing. An
    /// interrupt while waiting for the answer is a "no".
    fn confirm(&self, question: &str, interrupted: &AtomicBool) -> bool;
    /// A rolling-update schedule.
    fn show_schedule(&self, rolls: &[ClusterRoll], dry_run: bool);
}

pub enum Mode {
    /// Apply fresh plans, or a saved one; then roll when asked.
    Apply { allow_delete: bool, saved: Option<SavedPlan>, roll: Option<RollSettings> },
    /// Roll only (AWS must already match the code).
    Roll(RollSettings),
}

pub struct Request<'a> {
    /// The clusters to act on, rendered.
    pub manifests: Vec<&'a Manifest>,
    pub mode: Mode,
    /// Only this wave (`--wave N`).
    pub wave: Option<u32>,
    pub lock_timeout: Duration,
    /// How often AWS is polled while waiting (control plane, add-ons, instances).
    pub poll: Duration,
    /// AWS changes in flight at once, across every cluster of the run.
    pub concurrency: usize,
    /// The command line for the lock and the audit trail (`--set` values redacted).
    pub command: String,
    pub commit: Option<String>,
    pub root: PathBuf,
    /// JSON-lines events of the rolling update on stdout.
    pub events: bool,
}

/// How the run ended.
#[derive(Debug, Default)]
pub struct RunReport {
    pub applies: Vec<ClusterReport>,
    pub rolls: Vec<RollReport>,
    pub waves: WavesReport,
    /// Something went wrong that the reports above do not hold (a lock, a verification).
    pub errors: usize,
    /// Clusters with work left that this run could not do: a saved plan made before their
    /// control plane existed holds no node groups (plan again).
    pub pending: Vec<String>,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.waves.ok() && self.errors == 0 && self.applies.iter().all(ClusterReport::ok) && self.rolls.iter().all(RollReport::ok)
    }
}

/// Run `req` over its waves.
pub async fn run(aws: &Aws, req: Request<'_>, ui: &dyn Ui) -> RunReport {
    let interrupted = Arc::new(AtomicBool::new(false));
    crate::executor::stop_on_interrupt(interrupted.clone(), "the lock will be released");
    let members: Vec<WaveMember> = req.manifests.iter().map(|m| WaveMember { cluster: m.name().to_string(), wave: m.cluster.spec.wave.unwrap_or(0) }).collect();
    let last_wave = super::waves(&members, req.wave).last().map(|(w, _)| *w);
    let p = ui.printer();
    let mut runner = Runner {
        aws,
        ui,
        progress: Progress::new(p.stderr_is_terminal && !req.events, p.quiet),
        info: lock::lock_info(&req.command),
        interrupted,
        last_wave,
        report: RunReport::default(),
        req: &req,
    };
    let waves = in_waves(&members, req.wave, &mut runner).await;
    if let Some(w) = waves.failed {
        if !waves.not_started.is_empty() {
            p.error(&format!("wave {w} failed; later waves were not started: {}", waves.not_started.join(", ")));
        }
    }
    let mut report = runner.report;
    report.waves = waves;
    report
}

struct Runner<'a> {
    aws: &'a Aws,
    ui: &'a dyn Ui,
    req: &'a Request<'a>,
    progress: Progress,
    info: LockInfo,
    interrupted: Arc<AtomicBool>,
    last_wave: Option<u32>,
    report: RunReport,
}

impl WaveRunner for Runner<'_> {
    async fn run_wave(&mut self, wave: u32, clusters: &[String]) -> bool {
        let p = self.ui.printer().clone();
        let manifests: Vec<&Manifest> = clusters.iter().filter_map(|c| self.req.manifests.iter().find(|m| m.name() == c).copied()).collect();
        // Every cluster's lock at once (one round trip, not one per cluster). If another run
        // holds one, what was taken is given back and the locks are taken one by one in name
        // order, waiting as asked: two runs wanting the same clusters never each hold a part
        // while waiting for the other's.
        let quiet = Progress::new(false, p.quiet);
        let mut held: Vec<Held> = Vec::new();
        let first = futures::future::join_all(manifests.iter().map(|m| lock::try_once(self.aws, m.name(), m.cluster.spec.state_store.as_deref(), &self.info))).await;
        if first.iter().all(|r| matches!(r, Ok(Some(_)))) {
            held = first.into_iter().filter_map(|r| r.ok().flatten()).collect();
        } else {
            // A try that answered an error may still have written its lock: give those back too.
            let unsure = manifests.iter().zip(&first).filter(|(_, r)| r.is_err()).map(|(m, _)| lock::release_if_ours(self.aws, m.cluster.spec.state_store.as_deref(), &self.info));
            futures::future::join_all(unsure).await;
            let taken: Vec<Held> = first.into_iter().filter_map(|r| r.ok().flatten()).collect();
            if !self.release(&taken).await {
                return false;
            }
        }
        let all_held = !held.is_empty();
        for m in manifests.iter().filter(|_| !all_held) {
            let cp = quiet.cluster(m.name(), 0);
            match lock::acquire(self.aws, m.name(), m.cluster.spec.state_store.as_deref(), &self.info, self.req.lock_timeout, &cp, &self.interrupted).await {
                Ok(h) => held.push(h),
                Err(e) => {
                    p.error(&format!("{}: {e}", m.name()));
                    self.report.errors += 1;
                    self.release(&held).await;
                    return false;
                }
            }
        }
        let mut audits: BTreeMap<String, Audit> = BTreeMap::new();
        let ok = self.locked(wave, &manifests, &mut audits).await;
        // The audit record of every cluster this run changed (failed or interrupted runs too),
        // all clusters at once.
        let commit = self.req.commit.as_deref();
        let records = futures::future::join_all(held.iter().map(|h| async {
            match audits.get(&h.cluster).filter(|a| a.worth_recording()) {
                Some(a) => lock::record(h, commit, a).await.err(),
                None => None,
            }
        }))
        .await;
        let mut recorded = true;
        for (h, e) in held.iter().zip(records) {
            if let Some(e) = e {
                p.error(&format!("{}: the audit record was not written: {e}", h.cluster));
                self.report.errors += 1;
                recorded = false;
            }
        }
        let released = self.release(&held).await;
        ok && recorded && released
    }
}

impl Runner<'_> {
    /// Give every lock back, all at once; errors are reported in name order.
    async fn release(&mut self, held: &[Held]) -> bool {
        let results = futures::future::join_all(held.iter().map(lock::release)).await;
        let mut ok = true;
        for (h, r) in held.iter().zip(results) {
            if let Err(e) = r {
                self.ui.printer().error(&format!("{}: {e}", h.cluster));
                self.report.errors += 1;
                ok = false;
            }
        }
        ok
    }

    /// Everything done while the wave's locks are held.
    async fn locked(&mut self, wave: u32, manifests: &[&Manifest], audits: &mut BTreeMap<String, Audit>) -> bool {
        let p = self.ui.printer().clone();
        let roll = match &self.req.mode {
            Mode::Apply { allow_delete, saved, roll } => {
                if !self.apply(manifests, *allow_delete, saved.as_ref(), roll.is_some(), audits).await {
                    return false;
                }
                roll.clone()
            }
            Mode::Roll(s) => Some(s.clone()),
        };
        if let Some(s) = &roll {
            if !self.roll(manifests, s, audits).await {
                return false;
            }
        }
        // Validate before the next wave (and after every wave of a roll).
        if roll.is_some() || self.last_wave != Some(wave) {
            let poll = roll.as_ref().map_or(Duration::from_secs(5), |r| r.poll);
            let checks = validate_wave(self.aws, manifests, &self.req.root, poll, &self.interrupted).await;
            let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
            for f in &failed {
                p.error(&format!("{}: validation failed: {}: {}", f.cluster, f.check, f.detail));
            }
            if !failed.is_empty() {
                self.report.errors += 1;
                return false;
            }
            let names: Vec<&str> = manifests.iter().map(|m| m.name()).collect();
            p.status("Validated", &format!("wave {wave}: {}", names.join(", ")));
        }
        true
    }

    /// Read, plan (or verify the saved plan), show, confirm, carry out. Node groups whose
    /// control plane did not exist yet are planned in a second round, once it is ACTIVE (their
    /// user data needs its endpoint): shown and confirmed like the first.
    async fn apply(&mut self, manifests: &[&Manifest], allow_delete: bool, saved: Option<&SavedPlan>, rolling: bool, audits: &mut BTreeMap<String, Audit>) -> bool {
        let p = self.ui.printer().clone();
        let (ok, deferred) = self.apply_round(manifests, allow_delete, saved, rolling, audits).await;
        if !ok || deferred.is_empty() {
            return ok;
        }
        let later: Vec<&Manifest> = manifests.iter().filter(|m| deferred.contains(&m.name().to_string())).copied().collect();
        if saved.is_some() {
            for m in &later {
                p.warn(&format!(
                    "{}: the saved plan held no node groups (their control plane did not exist when it was made); plan them now that it is ACTIVE: fleetform plan --cluster {} --out FILE, then apply that",
                    m.name(),
                    m.name()
                ));
                self.report.pending.push(m.name().to_string());
            }
            return true;
        }
        // Control planes still being created by someone else: wait for them too.
        for m in &later {
            let Some(name) = m.eks_name() else { continue };
            let cp = self.progress.cluster(m.name(), 0);
            let tick = |status: &str, _: &str| cp.start(&format!("EKS control plane {name} is {status}; waiting until it is ACTIVE"));
            if let Err(e) = crate::aws::cloud::Cloud::wait_control_plane(self.aws, &m.cluster.spec.region, &name, self.req.poll, &tick).await {
                p.error(&format!("{}: {e}", m.name()));
                self.report.errors += 1;
                return false;
            }
        }
        p.status("Planning", &format!("the node groups of {}, now that their control plane is ACTIVE", later.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")));
        let (ok, still) = self.apply_round(&later, allow_delete, None, rolling, audits).await;
        if ok && !still.is_empty() {
            p.error(&format!("{}: the node groups could still not be planned; run the same apply again", still.join(", ")));
            self.report.errors += 1;
            return false;
        }
        ok
    }

    /// One round of [`Runner::apply`]: whether it went well, and the clusters whose node
    /// groups wait for their control plane.
    async fn apply_round(&mut self, manifests: &[&Manifest], allow_delete: bool, saved: Option<&SavedPlan>, rolling: bool, audits: &mut BTreeMap<String, Audit>) -> (bool, Vec<String>) {
        let p = self.ui.printer().clone();
        let mut outcomes = plan_clusters(self.aws, manifests).await;
        let mut bad = false;
        if let Some(saved) = saved {
            let repo: BTreeMap<String, &Manifest> = manifests.iter().map(|m| (m.name().to_string(), *m)).collect();
            for o in &mut outcomes {
                let Some(sc) = saved.clusters.iter().find(|c| c.plan.cluster == o.name) else { continue };
                let verified = check_against_repo(sc, &repo).and_then(|()| match &o.live {
                    Some(live) => verify_saved(sc, live),
                    None => Err(o.result.as_ref().err().map(|e| e.join("; ")).unwrap_or_else(|| "could not be read again".into())),
                });
                match verified {
                    Ok(steps) => {
                        let mut plan = sc.plan.clone();
                        plan.steps = steps;
                        o.result = Ok((plan, sc.desired.clone()));
                    }
                    Err(e) => o.result = Err(vec![e]),
                }
            }
        }
        for o in &outcomes {
            match &o.result {
                Err(errs) => {
                    for e in errs {
                        p.error(&format!("cluster {}: {e}", o.name));
                    }
                    bad = true;
                }
                Ok((plan, _)) => {
                    for c in &plan.conflicts {
                        p.error(&format!("cluster {}: {} {}: {}", o.name, c.resource_type.label(), c.name, c.reason));
                        bad = true;
                    }
                }
            }
        }
        if bad {
            if saved.is_some() {
                p.error("the saved plan was not applied; make a new one: fleetform plan --out FILE");
            } else {
                p.error("nothing was applied: fix the errors above, then plan and apply again");
            }
            self.report.errors += 1;
            return (false, vec![]);
        }
        self.ui.show_plans(&outcomes);
        let deferred: Vec<String> = outcomes.iter().filter(|o| o.result.as_ref().is_ok_and(|(plan, _)| plan.nodes_deferred.is_some())).map(|o| o.name.clone()).collect();
        let changed: Vec<&ClusterOutcome> = outcomes.iter().filter(|o| o.result.as_ref().is_ok_and(|(plan, _)| !plan.steps.is_empty())).collect();
        let names = |v: &[&ClusterOutcome]| v.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ");
        if rolling {
            let all: Vec<&ClusterOutcome> = outcomes.iter().collect();
            if !self.ui.confirm(&format!("Apply these changes to {}, then roll them?", names(&all)), &self.interrupted) {
                self.report.errors += 1;
                return (false, vec![]);
            }
        } else if changed.is_empty() {
            p.status("Applied", "nothing: AWS already matches the code");
            return (true, deferred);
        } else if !self.ui.confirm(&format!("Apply these changes to {}?", names(&changed)), &self.interrupted) {
            self.report.errors += 1;
            return (false, vec![]);
        }
        let limits = crate::executor::apply::Limits::new(self.req.concurrency);
        let reports: Vec<ClusterReport> = futures::future::join_all(changed.iter().map(|o| {
            let (plan, _) = o.result.as_ref().expect("changed clusters planned");
            let (aws, progress, interrupted, poll, limit) = (self.aws, &self.progress, &self.interrupted, self.req.poll, &limits);
            async move {
                let (steps, not_deleted) = plan.executable(allow_delete);
                let cp = progress.cluster(&plan.cluster, steps.len());
                let mut report = ClusterReport { cluster: plan.cluster.clone(), not_deleted, ..Default::default() };
                run_steps(aws, &plan.region, &steps, poll, interrupted, limit, &cp, &mut report).await;
                cp.finish(if report.ok() { "done" } else if report.interrupted { "interrupted" } else { "failed" });
                report
            }
        }))
        .await;
        let mut ok = true;
        for r in &reports {
            let a = audits.entry(r.cluster.clone()).or_default();
            a.created.extend(r.created.iter().cloned());
            a.updated.extend(r.updated.iter().cloned());
            a.deleted.extend(r.deleted.iter().cloned());
            a.failed.extend(r.failed.iter().cloned());
            a.interrupted |= r.interrupted;
            print_apply_report(&p, r);
            ok &= r.ok();
        }
        self.report.applies.extend(reports);
        (ok, deferred)
    }

    /// Read again, schedule, roll.
    async fn roll(&mut self, manifests: &[&Manifest], s: &RollSettings, audits: &mut BTreeMap<String, Audit>) -> bool {
        let p = self.ui.printer().clone();
        let rolls = match schedules(plan_clusters(self.aws, manifests).await, s) {
            Ok(r) => r,
            Err(errs) => {
                for e in errs {
                    p.error(&e);
                }
                p.error("the rolling update was not started");
                self.report.errors += 1;
                return false;
            }
        };
        self.ui.show_schedule(&rolls, false);
        let events = Events { enabled: self.req.events };
        let opts = RollOptions {
            root: self.req.root.clone(),
            poll: s.poll,
            interrupted: self.interrupted.clone(),
            events: events.clone(),
            max_groups: s.max_groups,
            max_unavailable: s.max_unavailable,
        };
        let reports: Vec<RollReport> = futures::future::join_all(rolls.iter().map(|c| roll_cluster(self.aws, &c.desired, &c.groups, &opts, &self.progress))).await;
        let mut ok = true;
        for r in &reports {
            let a = audits.entry(r.cluster.clone()).or_default();
            a.replaced.extend(r.replaced.iter().cloned());
            a.failed.extend(r.failed.iter().cloned());
            a.interrupted |= r.interrupted;
            if r.ok() {
                p.status("Rolled", &format!("{}: {} instance(s) replaced", r.cluster, r.replaced.len()));
            } else {
                ok = false;
                p.error(&format!("{}: rolling update stopped after replacing {} instance(s)", r.cluster, r.replaced.len()));
                if let Some(e) = &r.failed {
                    p.error(&format!("{}: {e}", r.cluster));
                }
                if r.interrupted {
                    p.error(&format!("{}: interrupted", r.cluster));
                }
                for l in &r.left_as_is {
                    p.info(&format!("    left as it was: {l}"));
                }
            }
            events.emit(json!({"event": "cluster-done", "report": r}));
        }
        self.report.rolls.extend(reports);
        ok
    }
}

fn print_apply_report(p: &Printer, r: &ClusterReport) {
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
        p.error(&line);
        super::print_unfinished(p, &r.cluster, r.failed.as_deref(), r.interrupted, &r.not_done, "apply");
    }
    for n in &r.not_deleted {
        p.warn(&format!("{}: not deleted: {n} (no longer declared; pass --allow-delete to delete it)", r.cluster));
    }
}
