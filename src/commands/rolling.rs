//! `fleetform rolling-update` and `fleetform validate`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::plan::compute;
use super::JSON_SCHEMA_VERSION;
use crate::aws::Aws;
use crate::cli::{Settings, Status};
use crate::core::desired::DesiredCluster;
use crate::core::duration;
use crate::core::rolling::{schedule, GroupRoll};
use crate::executor::progress::Progress;
use crate::executor::rolling::{roll_cluster, Events, RollOptions, RollReport};
use crate::executor::validate::{validate_cluster, Check};
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
}

/// One cluster's part of a rolling update.
pub struct ClusterRoll {
    pub desired: DesiredCluster,
    pub groups: Vec<GroupRoll>,
}

/// Plan the selected clusters and schedule their rolling update. Fails when AWS does not match
/// the code yet: the roll replaces instances to match what is applied.
pub fn prepare(s: &Settings, args: &RollingArgs) -> anyhow::Result<Result<Vec<ClusterRoll>, ()>> {
    let p = &s.printer;
    let (outcomes, _) = compute(s, false)?;
    let mut bad = false;
    let mut out = Vec::new();
    for o in outcomes {
        match (o.result, o.live) {
            (Err(errs), _) => {
                for e in errs {
                    p.error(&format!("cluster {}: {e}", o.name));
                }
                bad = true;
            }
            (Ok((plan, _)), _) if !plan.is_empty() => {
                p.error(&format!(
                    "cluster {}: AWS does not match the code yet ({}); apply first, or run `fleetform apply --rolling`",
                    o.name,
                    super::plan::summary_line(&plan.summary())
                ));
                bad = true;
            }
            (Ok((plan, d)), Some(live)) => {
                let groups = schedule(&plan, &d, &live, args.force, &args.groups);
                out.push(ClusterRoll { desired: d, groups });
            }
            (Ok(_), None) => bad = true,
        }
    }
    if !args.groups.is_empty() {
        for g in &args.groups {
            if !out.iter().any(|c| c.desired.groups.values().any(|x| x.group == *g)) {
                p.error(&format!("no selected cluster has a node group named `{g}`"));
                bad = true;
            }
        }
    }
    out.sort_by(|a, b| (a.desired.wave, &a.desired.name).cmp(&(b.desired.wave, &b.desired.name)));
    Ok(if bad { Err(()) } else { Ok(out) })
}

pub fn run(s: &Settings, args: &RollingArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    if s.clusters.is_empty() && !s.all {
        bail!("choose the clusters to roll: --cluster NAME (repeatable) or --all");
    }
    let Ok(work) = prepare(s, args)? else { return Ok(Status::Failure) };
    let pending: usize = work.iter().flat_map(|c| &c.groups).map(GroupRoll::instances).sum();
    print_schedule(s, &work, !s.yes);
    if pending == 0 {
        p.status("Rolled", "nothing: every instance runs its group's current launch template");
        return Ok(Status::Success);
    }
    if !s.yes {
        p.info("This is the schedule only; run with --yes to carry it out.");
        return Ok(if args.detailed_exitcode { Status::Changes } else { Status::Success });
    }
    Ok(if execute(s, args, &work)? { Status::Success } else { Status::Failure })
}

fn print_schedule(s: &Settings, work: &[ClusterRoll], dry: bool) {
    let p = &s.printer;
    if p.format == OutputFormat::Json {
        let v = json!({
            "schemaVersion": JSON_SCHEMA_VERSION,
            "command": "rolling-update",
            "event": "schedule",
            "dryRun": dry,
            "pending": work.iter().flat_map(|c| &c.groups).map(GroupRoll::instances).sum::<usize>(),
            "clusters": work.iter().map(|c| json!({"name": c.desired.name, "wave": c.desired.wave, "groups": c.groups})).collect::<Vec<_>>(),
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
        out.push('\n');
    }
    let total: usize = work.iter().flat_map(|c| &c.groups).map(GroupRoll::instances).sum();
    out.push_str(&p.paint(&format!("Rolling update: {total} instance(s) to replace across {} cluster(s).", work.len()), Style::Bold));
    out.push('\n');
    p.data(&out);
}

/// Roll the clusters wave by wave; each wave must roll and validate before the next starts.
pub fn execute(s: &Settings, args: &RollingArgs, work: &[ClusterRoll]) -> anyhow::Result<bool> {
    let p = &s.printer;
    let interrupted = Arc::new(AtomicBool::new(false));
    let opts = RollOptions {
        root: s.root.clone(),
        poll: args.poll_interval,
        interrupted: interrupted.clone(),
        events: Events { enabled: p.format == OutputFormat::Json },
    };
    let progress = Progress::new(p.stderr_is_terminal && p.format != OutputFormat::Json, p.quiet);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut waves: Vec<u32> = work.iter().map(|c| c.desired.wave).collect();
    waves.dedup();
    let mut all_ok = true;
    rt.block_on(async {
        crate::executor::stop_on_interrupt(interrupted.clone(), "sizes are restored");
        let aws = Aws::load().await;
        for (wi, wave) in waves.iter().enumerate() {
            let clusters: Vec<&ClusterRoll> = work.iter().filter(|c| c.desired.wave == *wave).collect();
            let reports: Vec<RollReport> = futures::future::join_all(clusters.iter().map(|c| {
                let (aws, opts, progress) = (&aws, &opts, &progress);
                async move {
                    roll_cluster(aws, &c.desired, &c.groups, opts, progress).await
                }
            }))
            .await;
            let mut wave_ok = true;
            for r in &reports {
                if r.ok() {
                    p.status("Rolled", &format!("{}: {} instance(s) replaced", r.cluster, r.replaced.len()));
                } else {
                    wave_ok = false;
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
                opts.events.emit(json!({"event": "cluster-done", "report": r}));
            }
            if wave_ok {
                // The wave must validate before the next one starts.
                let names: Vec<String> = clusters.iter().map(|c| c.desired.name.clone()).collect();
                match validate_now(s, &aws, &names).await {
                    Ok(checks) => {
                        let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
                        for f in &failed {
                            p.error(&format!("{}: validation failed: {}: {}", f.cluster, f.check, f.detail));
                        }
                        wave_ok = failed.is_empty();
                        if wave_ok {
                            p.status("Validated", &format!("wave {wave}: {}", names.join(", ")));
                        }
                    }
                    Err(e) => {
                        p.error(&format!("wave {wave}: validation could not run: {e}"));
                        wave_ok = false;
                    }
                }
            }
            if !wave_ok {
                all_ok = false;
                let later: Vec<&str> = work.iter().filter(|c| waves[wi + 1..].contains(&c.desired.wave)).map(|c| c.desired.name.as_str()).collect();
                if !later.is_empty() {
                    p.error(&format!("wave {wave} failed; later waves were not started: {}", later.join(", ")));
                }
                break;
            }
        }
    });
    Ok(all_ok)
}

/// Read the named clusters afresh and run every check.
async fn validate_now(s: &Settings, aws: &Aws, names: &[String]) -> anyhow::Result<Vec<Check>> {
    let scoped = Settings { clusters: names.to_vec(), all: false, ..s.clone() };
    let run = super::render_selected(&scoped, false)?;
    if !run.errors.is_empty() {
        return Err(crate::core::diag::Diagnostics(run.errors).into());
    }
    let manifests: Vec<&crate::core::model::Manifest> = run.rendered.iter().map(|r| &r.manifest).collect();
    let lives = crate::aws::read::read_live(aws, &manifests).await;
    let mut out = Vec::new();
    for m in manifests {
        match lives.get(m.name()) {
            Some(Ok(live)) => match crate::core::desired::desired(m, live) {
                Ok(d) => out.extend(validate_cluster(aws, &d, live, &s.root).await),
                Err(errs) => out.push(Check { cluster: m.name().into(), check: "desired state".into(), ok: false, detail: errs.join("; ") }),
            },
            Some(Err(e)) => out.push(Check { cluster: m.name().into(), check: "read AWS".into(), ok: false, detail: e.clone() }),
            None => {}
        }
    }
    Ok(out)
}

pub fn validate(s: &Settings) -> anyhow::Result<Status> {
    let p = &s.printer;
    let run = super::render_selected(s, true)?;
    super::print_errors(s, &run.errors);
    let names: Vec<String> = run.rendered.iter().map(|r| r.manifest.name().to_string()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let checks = rt.block_on(async {
        let aws = Aws::load().await;
        validate_now(s, &aws, &names).await
    })?;
    let failed = checks.iter().filter(|c| !c.ok).count() + run.errors.len();
    match p.format {
        OutputFormat::Json => p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
            "schemaVersion": JSON_SCHEMA_VERSION, "command": "validate", "ok": failed == 0, "checks": checks,
        }))?)),
        _ => {
            let w1 = checks.iter().map(|c| c.cluster.len()).max().unwrap_or(7).max(7);
            let w2 = checks.iter().map(|c| c.check.len()).max().unwrap_or(5).max(5);
            let mut out = format!("{:<w1$}  {:<w2$}  {:<6}  DETAIL\n", "CLUSTER", "CHECK", "RESULT");
            for c in &checks {
                let res = if c.ok { p.paint("ok    ", Style::Green) } else { p.paint("FAILED", Style::Red) };
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
