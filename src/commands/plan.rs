//! `fleetform plan`: desired vs live, per resource and per field, for every selected cluster.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::{print_errors, render_selected, JSON_SCHEMA_VERSION};
use crate::cli::{Settings, Status};
use crate::core::plan::{Action, FieldChange, Summary};
pub use crate::ops::plan::ClusterOutcome;
use crate::ops::plan::{orphans, plan_clusters_and_owners, Owner, SavedCluster, SavedPlan};
use crate::ops::Session;
use crate::output::{md_fence, md_text, OutputFormat, Printer, Style};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Exit 0 when nothing would change, 2 when something would, 1 on error (as Terraform).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan, with a fingerprint of the live state, for `fleetform apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print user data in full (it may hold secrets; hidden by default).
    #[arg(long)]
    pub show_sensitive: bool,
    /// Take over groups and launch templates of the declared names that exist without
    /// fleetform's tags (kops's): tag them as the cluster's, then update them. Otherwise they
    /// are conflicts. What another cluster owns is never taken.
    #[arg(long)]
    pub adopt: bool,
    /// With --output markdown: the most characters the comment may have (GitHub refuses more
    /// than 65,536). Every cluster, conflict and deletion is always named; the rest is folded
    /// and, past the budget, counted instead of shown.
    #[arg(long, value_name = "CHARS", default_value_t = DEFAULT_COMMENT_BUDGET)]
    pub comment_budget: usize,
}

/// Render the selected clusters, read live AWS in one session and plan each. Render failures
/// are outcomes too, under their cluster's name.
pub fn compute(s: &Settings, session: &Session, default_all: bool) -> anyhow::Result<(Vec<ClusterOutcome>, u64)> {
    compute_with_orphans(s, session, default_all, false, false).map(|(o, r, _)| (o, r))
}

/// [`compute`], and with `with_orphans`, when every cluster is selected, the clusters that own
/// resources in the regions read and have no vars file (orphans; a request more a region).
fn compute_with_orphans(s: &Settings, session: &Session, default_all: bool, adopt: bool, with_orphans: bool) -> anyhow::Result<(Vec<ClusterOutcome>, u64, Vec<Owner>)> {
    let started = std::time::Instant::now();
    let mut run = render_selected(s, default_all)?;
    if adopt {
        for r in &mut run.rendered {
            r.manifest.cluster.spec.adopt = Some(true);
        }
    }
    print_errors(s, &run);
    s.printer.debug(&format!("rendered {} cluster(s) in {} ms", run.clusters.len(), started.elapsed().as_millis()));
    let manifests: Vec<&crate::core::model::Manifest> = run.rendered.iter().map(|r| &r.manifest).collect();
    let t = std::time::Instant::now();
    let every_cluster = with_orphans && (s.all || (s.clusters.is_empty() && default_all));
    let (mut out, owners) = session.block_on(plan_clusters_and_owners(session.aws(), &manifests, every_cluster));
    let known: std::collections::BTreeSet<String> = run.clusters.iter().cloned().collect();
    let orphans = if every_cluster { orphans(&owners, &known) } else { Vec::new() };
    s.printer.debug(&format!("live state read and planned in {} ms with {} requests", t.elapsed().as_millis(), session.aws().requests.get()));
    let prices = price_table(&s.root)?;
    for o in &mut out {
        if let (Ok((plan, d)), Some(live)) = (&mut o.result, &o.live) {
            plan.cost = Some(crate::core::cost::plan_cost(d, live, &prices, &live.spot_prices));
        }
    }
    for f in &run.failures {
        out.push(ClusterOutcome { name: f.cluster.clone(), region: String::new(), result: Err(vec![format!("render failed: {}", f.diagnostic.message)]), live: None });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, session.aws().requests.get(), orphans))
}

/// fleetform's on-demand prices, with the repository's own `prices.csv` on top (negotiated
/// rates, a region the table lacks).
fn price_table(root: &std::path::Path) -> anyhow::Result<crate::core::cost::PriceTable> {
    let base = crate::core::cost::PriceTable::builtin();
    match std::fs::read_to_string(root.join("prices.csv")) {
        Ok(text) => base.with_repository_prices("prices.csv", &text).map_err(|(line, e)| {
            anyhow::Error::new(crate::core::diag::Diagnostic::new("prices.csv", line, 0, e).with_help("write region,instance_type,usd_per_hour per line, e.g. eu-west-3,m5.xlarge,0.224"))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(base.clone()),
        Err(e) => anyhow::bail!("prices.csv: {e}"),
    }
}

pub fn run(s: &Settings, args: &PlanArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    let session = Session::start()?;
    let (outcomes, requests, orphans) = compute_with_orphans(s, &session, true, args.adopt, true)?;
    let mut total = Summary::default();
    let mut failed = 0;
    for o in &outcomes {
        match &o.result {
            Ok((plan, _)) => total += plan.summary(),
            Err(_) => failed += 1,
        }
    }
    let has_conflicts = total.conflicts > 0;
    // Resources left behind by a cluster whose vars file was removed are pending work too.
    let has_changes = total.create + total.update + total.delete > 0 || !orphans.is_empty();

    match p.format {
        OutputFormat::Json => {
            let mut v = plan_json(&outcomes, total, requests, args.show_sensitive);
            v["orphans"] = serde_json::to_value(&orphans)?;
            if !orphans.is_empty() {
                v["changes"] = true.into();
            }
            p.data(&format!("{}\n", serde_json::to_string_pretty(&v)?))
        }
        OutputFormat::Markdown => {
            let left_behind: Vec<String> = orphans.iter().map(|o| o.message()).collect();
            let (md, overflow) = markdown(&outcomes, total, args.show_sensitive, &left_behind, args.comment_budget);
            if overflow {
                p.warn(&format!("the deletions, conflicts and warnings alone exceed --comment-budget {}: the comment counts them per cluster; the text plan lists them all", args.comment_budget));
            }
            p.data(&md)
        }
        OutputFormat::Text => {
            let mut t = text(p, &outcomes, total, args.show_sensitive);
            if !orphans.is_empty() {
                t = t.replace("AWS matches the code.", "AWS matches the code of the clusters declared; what removed clusters left behind follows.");
            }
            for o in &orphans {
                t.push_str(&p.paint(&format!("! {}\n", crate::output::visible(&o.message())), Style::Red));
            }
            p.data(&t)
        }
    }
    for o in &outcomes {
        if let Err(errs) = &o.result {
            for e in errs {
                p.error(&format!("cluster {}: {e}", o.name));
            }
        }
    }
    if has_conflicts {
        p.error(&format!(
            "{} conflict(s) (listed above: a declared resource that belongs to someone else, or a change AWS or the Kubernetes version-skew policy forbids); nothing can be applied until they are resolved",
            total.conflicts
        ));
    }

    // The aws-auth entries of clusters still in CONFIG_MAP mode, beside the cluster's other
    // artefacts: they hold role ARNs, so only a plan (which reads IAM) can write them.
    for o in &outcomes {
        if let Ok((plan, _)) = &o.result {
            if let Some(text) = &plan.aws_auth {
                let rel = std::path::Path::new("clusters").join(format!("{}.aws-auth.yaml", plan.cluster));
                super::render::write_atomic(&s.root.join(&rel), text)?;
                p.status("Wrote", &format!("{} (merge it into the cluster's aws-auth ConfigMap: its nodes cannot join without it)", rel.display()));
            }
        }
    }

    if let Some(path) = &args.out {
        if failed > 0 || has_conflicts {
            p.error(&format!("the plan was not saved to {}: fix the errors above and plan again", path.display()));
            return Ok(Status::Failure);
        }
        let saved = SavedPlan::new(outcomes.into_iter().filter_map(|o| o.result.ok()).map(|(plan, desired)| SavedCluster { plan, desired }).collect());
        write_private(path, &serde_json::to_string_pretty(&saved)?).with_context(|| format!("cannot write {}", path.display()))?;
        p.status("Saved", &format!("plan to {} (it holds user data: keep it private); apply it with `fleetform apply {}`", path.display(), path.display()));
    }

    if failed > 0 || has_conflicts {
        Ok(Status::Failure)
    } else if args.detailed_exitcode && has_changes {
        Ok(Status::Changes)
    } else {
        Ok(Status::Success)
    }
}

/// Write a file only its owner can read (a saved plan holds user data).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

pub fn summary_line(s: &Summary) -> String {
    let mut line = format!("{} to create, {} to update, {} to delete, {} unchanged", s.create, s.update, s.delete, s.unchanged);
    if s.conflicts > 0 {
        line.push_str(&format!(", {} conflict(s)", s.conflicts));
    }
    line
}

fn hide(f: &FieldChange, show: bool) -> FieldChange {
    if f.sensitive && !show {
        FieldChange { field: f.field.clone(), old: None, new: None, sensitive: true }
    } else {
        f.clone()
    }
}

pub fn plan_json(outcomes: &[ClusterOutcome], total: Summary, requests: u64, show: bool) -> serde_json::Value {
    let clusters: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok((plan, _)) => {
                let mut changes = plan.changes();
                for c in &mut changes {
                    c.fields = c.fields.iter().map(|f| hide(f, show)).collect();
                }
                let mut steps = serde_json::to_value(&plan.steps).unwrap_or_default();
                if !show {
                    hide_user_data(&mut steps);
                }
                json!({
                    "name": o.name, "region": o.region, "ok": plan.conflicts.is_empty(), "errors": [],
                    "fingerprint": plan.fingerprint, "summary": plan.summary(),
                    "changes": changes, "steps": steps, "unchanged": plan.unchanged,
                    "conflicts": plan.conflicts, "replacements": plan.replacements,
                    "interruptedRolls": plan.interrupted_rolls,
                    "addonReport": plan.addon_report, "awsAuth": plan.aws_auth,
                    "notes": plan.notes, "nodesDeferred": plan.nodes_deferred,
                    "schedules": plan.schedules, "cost": plan.cost,
                })
            }
            Err(errs) => json!({"name": o.name, "region": o.region, "ok": false, "errors": errs}),
        })
        .collect();
    json!({
        "schemaVersion": JSON_SCHEMA_VERSION,
        "command": "plan",
        "ok": outcomes.iter().all(|o| o.result.as_ref().is_ok_and(|(p, _)| p.conflicts.is_empty())),
        "changes": total.create + total.update + total.delete > 0,
        "summary": total,
        "awsRequests": requests,
        "clusters": clusters,
    })
}

/// Replace every `userData` string in a JSON value by a marker (it may hold secrets).
fn hide_user_data(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "userData" && x.is_string() {
                    *x = serde_json::Value::String("(sensitive; --show-sensitive prints it)".into());
                } else {
                    hide_user_data(x);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(hide_user_data),
        _ => {}
    }
}

/// The plan of one cluster as text lines (no colour; `paint` adds it).
fn cluster_lines(o: &ClusterOutcome, show: bool) -> Vec<(char, String)> {
    let mut out = Vec::new();
    let Ok((plan, _)) = &o.result else {
        if let Err(errs) = &o.result {
            for e in errs {
                out.push(('!', format!("error: {e}")));
            }
        }
        return out;
    };
    if let Some(cp) = &plan.control_plane {
        out.push((' ', format!("EKS cluster {} (Kubernetes {}, {})", cp.name, cp.version, cp.status)));
    }
    for c in &plan.changes() {
        let sign = match c.action {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
        };
        out.push((sign, format!("{sign} {} {}", c.resource_type.label(), c.name)));
        let width = c.fields.iter().map(|f| f.field.len()).max().unwrap_or(0).max(14);
        for f in &c.fields {
            if f.sensitive && !show {
                let lines = |v: &Option<String>| v.as_ref().map_or(0, |s| s.lines().count());
                let what = match (&f.old, &f.new) {
                    (None, Some(_)) => format!("{} lines", lines(&f.new)),
                    (Some(_), None) => "removed".to_string(),
                    _ => format!("{} -> {} lines, changed", lines(&f.old), lines(&f.new)),
                };
                out.push((' ', format!("      {:<width$}  (sensitive: {what}; --show-sensitive prints it)", f.field)));
            } else if f.sensitive || f.old.as_deref().is_some_and(|v| v.contains('\n')) || f.new.as_deref().is_some_and(|v| v.contains('\n')) {
                // A document (a NodeConfig, Bottlerocket TOML, user data): shown as it is when
                // created, as a unified diff when it changes.
                out.push((' ', format!("      {}:", f.field)));
                match (&f.old, &f.new) {
                    (None, Some(n)) if !f.sensitive => out.extend(n.lines().map(|l| (' ', format!("          {l}")))),
                    (o, n) => {
                        let d = similar::TextDiff::from_lines(o.as_deref().unwrap_or(""), n.as_deref().unwrap_or(""));
                        for line in d.unified_diff().context_radius(2).to_string().lines() {
                            out.push((' ', format!("        {line}")));
                        }
                    }
                }
            } else {
                let v = match (&f.old, &f.new) {
                    (None, Some(n)) if c.action == Action::Create => n.clone(),
                    (o, n) => format!("{} -> {}", o.as_deref().unwrap_or("(none)"), n.as_deref().unwrap_or("(none)")),
                };
                out.push((' ', format!("      {:<width$}  {v}", f.field)));
            }
        }
        for n in &c.notes {
            out.push((' ', format!("      # {n}")));
        }
        if c.resource_type == crate::core::plan::ResourceType::LaunchTemplate && c.action != Action::Delete {
            if let Some(src) = plan.image_sources.get(&c.name) {
                out.push((' ', format!("      # image {src}")));
            }
        }
    }
    for c in &plan.conflicts {
        out.push(('!', format!("! conflict: {} {}: {}", c.resource_type.label(), c.name, c.reason)));
    }
    for r in &plan.interrupted_rolls {
        out.push(('!', format!("! {}", r.message(&plan.cluster))));
    }
    if let Some(why) = &plan.nodes_deferred {
        out.push(('!', format!("! node groups not planned yet: {why}")));
    }
    for n in &plan.notes {
        out.push((' ', format!("  note: {n}")));
    }
    out.extend(schedule_lines(&plan.schedules).into_iter().map(|l| (' ', l)));
    if let Some(c) = &plan.cost {
        out.extend(cost_lines(c).into_iter().map(|l| (' ', l)));
    }
    let eks_name = plan.control_plane.as_ref().map(|c| c.name.clone()).or_else(|| {
        plan.steps.iter().find_map(|s| match s {
            crate::core::plan::Step::CreateControlPlane(c) => Some(c.name.clone()),
            _ => None,
        })
    });
    for a in &plan.addon_report {
        out.push(('!', format!("! {}", a.message(eks_name.as_deref().unwrap_or("?")))));
    }
    if plan.aws_auth.is_some() {
        out.push((
            '!',
            format!(
                "! the EKS cluster authenticates with the aws-auth ConfigMap only (CONFIG_MAP): nodes join only once its mapRoles hold the node roles; merge clusters/{}.aws-auth.yaml into it (kubectl edit -n kube-system configmap/aws-auth), or move to access entries (spec.eks.authenticationMode: API_AND_CONFIG_MAP)",
                plan.cluster
            ),
        ));
    }
    if !plan.replacements.is_empty() {
        out.push((' ', format!("  A rolling update would replace {} instance(s):", plan.replacements.len())));
        for r in &plan.replacements {
            out.push((' ', format!("    {} ({}): {}", r.instance_id, r.group, r.reasons.join("; "))));
        }
    }
    out
}

/// The schedules: one line per schedule and state (the groups that share them), with the
/// node-hours they save a week; per group in JSON.
pub fn schedule_lines(schedules: &[crate::core::plan::ScheduleReport]) -> Vec<String> {
    let mut by: std::collections::BTreeMap<(&str, &str), Vec<&crate::core::plan::ScheduleReport>> = Default::default();
    for s in schedules {
        by.entry((s.schedule.as_str(), s.now.as_str())).or_default().push(s);
    }
    let mut out = Vec::new();
    for ((schedule, now), groups) in by {
        let names: Vec<&str> = groups.iter().map(|g| g.group.as_str()).collect();
        let (lo, hi) = groups.iter().fold((0.0, 0.0), |(a, b), s| (a + s.node_hours_saved_at_min, b + s.node_hours_saved_at_max));
        let who = if names.len() == 1 { format!("group {}", names[0]) } else { format!("{} groups", names.len()) };
        out.push(format!("  schedule {schedule} on {who}: now {now}"));
        out.push(format!("    saves {} to {} node-hours a week (the groups at their minimum to maximum sizes, {} h a week down)", hours(lo), hours(hi), hours(groups[0].weekly_down_hours)));
    }
    out
}

/// Each group's cost an hour at its minimum and desired sizes, before -> after, and the
/// cluster's.
pub fn cost_lines(c: &crate::core::cost::PlanCost) -> Vec<String> {
    use crate::core::cost::{signed_usd, usd, HOURS_PER_MONTH};
    let mut out = vec![format!("  cost an hour in {} (before -> after):", c.currency)];
    let w = c.groups.iter().map(|g| g.group.len()).max().unwrap_or(5).max(5);
    out.push(format!("    {:<w$}  {:<22}  {}", "group", "at minimum size", "at desired size"));
    let side = |b: Option<f64>, a: Option<f64>| match (b, a) {
        (Some(b), Some(a)) if (a - b).abs() < 0.0005 => usd(a),
        (b, a) => format!("{} -> {}", b.map(usd).unwrap_or_else(|| "none".into()), a.map(usd).unwrap_or_else(|| "none".into())),
    };
    for g in &c.groups {
        if !g.unknown.is_empty() {
            out.push(format!("    {:<w$}  price not known: {}", g.group, g.unknown.join(", ")));
            continue;
        }
        let at = |f: fn(&crate::core::cost::Costs) -> f64| side(g.before.as_ref().map(f), g.after.as_ref().map(f));
        let down = if g.scheduled_down { "  (at zero by its schedule now)" } else { "" };
        out.push(format!("    {:<w$}  {:<22}  {}{down}", g.group, at(|c| c.at_min.usd_per_hour), at(|c| c.at_desired.usd_per_hour)));
    }
    let delta = c.delta_at_desired();
    out.push(format!(
        "    {:<w$}  {:<22}  {} ({} an hour, {} a month)",
        "cluster",
        side(Some(c.before_at_min), Some(c.after_at_min)),
        side(Some(c.before_at_desired), Some(c.after_at_desired)),
        signed_usd(delta),
        signed_usd(delta * HOURS_PER_MONTH)
    ));
    if !c.left_out.is_empty() {
        out.push(format!("    (without {}: a price is not known; add it to prices.csv)", c.left_out.join(", ")));
    }
    out.push(format!("    prices: {}", c.price_source));
    out
}

/// `105.5`, `106`: hours to a tenth, without a trailing `.0`.
fn hours(h: f64) -> String {
    let s = format!("{h:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn heading(o: &ClusterOutcome) -> String {
    match &o.result {
        Ok((plan, _)) => format!("Cluster {} ({}): {}", o.name, o.region, summary_line(&plan.summary())),
        Err(_) => format!("Cluster {}: could not be planned (errors below)", o.name),
    }
}

pub fn text(p: &Printer, outcomes: &[ClusterOutcome], total: Summary, show: bool) -> String {
    let mut s = String::new();
    for o in outcomes {
        s.push_str(&p.paint(&heading(o), Style::Bold));
        s.push('\n');
        // A cluster's errors go to stderr only (not twice in a merged CI log).
        let lines = if o.result.is_err() { Vec::new() } else { cluster_lines(o, show) };
        for (sign, line) in lines {
            // Control characters from values (an escape sequence in a tag) never reach the
            // terminal or the CI log as such.
            let line = crate::output::visible(&line);
            let styled = match sign {
                '+' => p.paint(&line, Style::Green),
                '~' => p.paint(&line, Style::Yellow),
                '-' | '!' => p.paint(&line, Style::Red),
                _ => line,
            };
            s.push_str(&format!("  {styled}\n"));
        }
        s.push('\n');
    }
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let mut last = format!("Plan: {} across {} cluster(s)", summary_line(&total), outcomes.len());
    if failed > 0 {
        last.push_str(&format!("; {failed} could not be planned"));
    }
    if total.replace_instances > 0 {
        last.push_str(&format!("; a rolling update would replace {} instance(s)", total.replace_instances));
    }
    if total.create + total.update + total.delete == 0 && total.conflicts == 0 && failed == 0 {
        last.push_str(". AWS matches the code.");
    } else {
        last.push('.');
    }
    s.push_str(&p.paint(&last, Style::Bold));
    s.push('\n');
    s
}

/// GitHub refuses a pull-request comment over 65,536 characters; the default budget leaves room
/// for what a CI job writes around the plan.
pub const DEFAULT_COMMENT_BUDGET: usize = 60_000;

/// The plan as a pull-request comment, for a reviewer and within `budget` characters: the table
/// of every cluster, then what to look at first (conflicts, deletions, the control plane,
/// instances to replace, what nodes boot with, sizes), then each cluster's full plan folded.
/// Every cluster, conflict and deletion is always named; what does not fit after them is left
/// out with a line that says how much, and where the whole plan is.
fn markdown(outcomes: &[ClusterOutcome], total: Summary, show: bool, left_behind: &[String], budget: usize) -> (String, bool) {
    // Everything that comes from the repository or AWS is escaped (md_text) or fenced
    // (md_fence): a value cannot close the comment's blocks or write text of its own.
    let mut s = String::from("### fleetform plan\n\n| cluster | region | create | update | delete | unchanged | replace instances | conflicts | cost an hour at desired sizes |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    let mut by_cluster: Vec<&ClusterOutcome> = outcomes.iter().collect();
    by_cluster.sort_by(|a, b| a.name.cmp(&b.name));
    for o in &by_cluster {
        match &o.result {
            Ok((plan, _)) => {
                let x = plan.summary();
                let cost = plan.cost.as_ref().map(|c| {
                    use crate::core::cost::{signed_usd, usd};
                    if !c.groups.is_empty() && c.left_out.len() == c.groups.len() {
                        return "prices not known".to_string();
                    }
                    let partial = if c.left_out.is_empty() { "" } else { " (some prices not known)" };
                    format!("{} → {} ({}){partial}", usd(c.before_at_desired), usd(c.after_at_desired), signed_usd(c.delta_at_desired()))
                });
                s.push_str(&format!(
                    "| <code>{}</code> | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    md_text(&o.name), md_text(&o.region), x.create, x.update, x.delete, x.unchanged, x.replace_instances, x.conflicts, cost.as_deref().map(md_text).unwrap_or_default()
                ));
            }
            Err(_) => s.push_str(&format!("| <code>{}</code> | {} | ❌ could not be planned | | | | | | |\n", md_text(&o.name), md_text(&o.region))),
        }
    }
    s.push_str(&format!("\n**Plan:** {}.\n", summary_line(&total)));

    // What a reviewer must see: never left out.
    let mut must = Vec::new();
    // What matters, by kind, while it fits.
    let mut matters = Vec::new();
    for o in &by_cluster {
        let c = md_text(&o.name);
        let Ok((plan, _)) = &o.result else {
            must.push(format!("- ❌ <code>{c}</code>: could not be planned (the job's log has the errors)"));
            continue;
        };
        for x in &plan.conflicts {
            must.push(format!("- ❗ <code>{c}</code>: conflict: {} {}: {}", x.resource_type.label(), md_text(&x.name), md_text(&x.reason)));
        }
        let changes = plan.changes();
        for ch in changes.iter().filter(|ch| ch.action == Action::Delete) {
            must.push(format!("- 🗑️ <code>{c}</code>: **delete** {} <code>{}</code>", ch.resource_type.label(), md_text(&ch.name)));
        }
        // What fleetform itself flags (an interrupted roll, an add-on that will not run on the
        // new version, nodes waiting for the control plane, aws-auth to merge): never folded.
        for (sign, line) in cluster_lines(o, show) {
            if sign == '!' && !line.starts_with("! conflict:") {
                must.push(format!("- ❗ <code>{c}</code>: {}", md_text(line.trim_start_matches("! "))));
            }
        }
        for ch in changes.iter().filter(|ch| ch.action == Action::Update && ch.resource_type == crate::core::plan::ResourceType::AutoScalingGroup) {
            let buying: Vec<String> = ch
                .fields
                .iter()
                .filter(|f| matches!(f.field.as_str(), "mixedInstancesPolicy.onDemandAboveBase" | "mixedInstancesPolicy.onDemandBase" | "mixedInstancesPolicy.spotMaxPrice"))
                .map(|f| format!("{} {}", f.field.trim_start_matches("mixedInstancesPolicy."), md_text(&change_text(f))))
                .collect();
            if !buying.is_empty() {
                matters.push((1, format!("- <code>{c}</code>: <code>{}</code> buys differently: {}", md_text(&ch.name), buying.join(", "))));
            }
        }
        for ch in changes.iter().filter(|ch| ch.resource_type == crate::core::plan::ResourceType::ControlPlane && ch.action != Action::Delete) {
            // Field names only: values (tags, free text) stay inside the folded plan's fence.
            let what: Vec<String> = ch.fields.iter().map(|f| format!("<code>{}</code>", md_text(&f.field))).collect();
            matters.push((0, format!("- <code>{c}</code>: EKS control plane: {} change (below)", what.join(", "))));
        }
        if !plan.replacements.is_empty() {
            let groups: std::collections::BTreeSet<&str> = plan.replacements.iter().map(|r| r.group.as_str()).collect();
            matters.push((1, format!(
                "- <code>{c}</code>: a rolling update would replace {} instance(s) of {}",
                plan.replacements.len(),
                groups.iter().map(|g| format!("<code>{}</code>", md_text(g))).collect::<Vec<_>>().join(", ")
            )));
        }
        let boot: Vec<String> = changes
            .iter()
            .filter(|ch| ch.action == Action::Update && ch.fields.iter().any(|f| matches!(f.field.as_str(), "userData" | "bootstrap" | "nodeConfig" | "bottlerocket") || f.field.starts_with("userData")))
            .map(|ch| format!("<code>{}</code>", md_text(&ch.name)))
            .collect();
        if !boot.is_empty() {
            matters.push((2, format!("- <code>{c}</code>: what nodes boot with changes (user data) in {}", boot.join(", "))));
        }
        for ch in changes.iter().filter(|ch| ch.action == Action::Update && ch.resource_type == crate::core::plan::ResourceType::AutoScalingGroup) {
            // Sizes are numbers fleetform formats: safe outside a fence.
            let sizes: Vec<String> = ch.fields.iter().filter(|f| matches!(f.field.as_str(), "minSize" | "maxSize")).map(|f| format!("{} {}", f.field, md_text(&change_text(f)))).collect();
            if !sizes.is_empty() {
                matters.push((3, format!("- <code>{c}</code>: <code>{}</code>: {}", md_text(&ch.name), sizes.join(", "))));
            }
        }
    }
    matters.sort_by_key(|(rank, _)| *rank);
    let mut must_lines: Vec<String> = must;
    must_lines.extend(left_behind.iter().map(|l| format!("- ⚠️ left behind: {}", md_text(l))));
    let must_len: usize = must_lines.iter().map(|l| l.chars().count() + 1).sum();
    let mut overflow = false;
    if !must_lines.is_empty() || !matters.is_empty() {
        s.push_str("\n#### Look at these first\n\n");
        if s.chars().count() + must_len + 400 > budget {
            // Even what must be named does not fit: named per cluster by count, the whole list
            // is in the job's output (and the caller warns).
            overflow = true;
            let mut per: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
            for l in &must_lines {
                let c = l.split("<code>").nth(1).and_then(|x| x.split("</code>").next()).unwrap_or("(left behind)").to_string();
                *per.entry(c).or_default() += 1;
            }
            for (c, n) in per {
                s.push_str(&format!("- <code>{c}</code>: {n} deletion(s), conflict(s) or warning(s): too many to list within the budget; see the job's output\n"));
            }
        } else {
            for m in &must_lines {
                s.push_str(m);
                s.push('\n');
            }
        }
    }
    let mut hidden_highlights = 0usize;
    let mut hidden_changes = 0usize;
    let mut compact = 0usize;
    // Room kept for the closing line.
    const TAIL: usize = 400;
    let fits = |s: &String, add: &str| s.chars().count() + add.chars().count() + TAIL <= budget;
    for (_, m) in &matters {
        let line = format!("{m}\n");
        if fits(&s, &line) {
            s.push_str(&line);
        } else {
            hidden_highlights += 1;
        }
    }
    let mut clusters_left = Vec::new();
    for o in &by_cluster {
        let lines = cluster_lines(o, show);
        if lines.is_empty() {
            continue;
        }
        let body: String = lines.iter().map(|(_, l)| format!("{}\n", crate::output::visible(l))).collect();
        let block = format!(
            "\n<details><summary><code>{}</code>: {}</summary>\n\n{}\n</details>\n",
            md_text(&o.name),
            md_text(&heading(o).split(": ").skip(1).collect::<Vec<_>>().join(": ")),
            md_fence("diff", &body)
        );
        if fits(&s, &block) {
            s.push_str(&block);
            continue;
        }
        // Too long whole: the resources alone (one line each, fields left to the job's output).
        let short: String = lines.iter().filter(|(sign, _)| matches!(sign, '+' | '~' | '-' | '!')).map(|(_, l)| format!("{}\n", crate::output::visible(l))).collect();
        let block = format!(
            "\n<details><summary><code>{}</code>: {} (resources only: the fields are in the job's output)</summary>\n\n{}\n</details>\n",
            md_text(&o.name),
            md_text(&heading(o).split(": ").skip(1).collect::<Vec<_>>().join(": ")),
            md_fence("diff", &short)
        );
        if fits(&s, &block) {
            s.push_str(&block);
            compact += 1;
        } else {
            hidden_changes += lines.iter().filter(|(sign, _)| matches!(sign, '+' | '~' | '-')).count();
            clusters_left.push(md_text(&o.name));
        }
    }
    if hidden_highlights > 0 || !clusters_left.is_empty() || compact > 0 {
        let mut parts = Vec::new();
        if compact > 0 {
            parts.push(format!("the fields of {compact} cluster(s) shown by resource only"));
        }
        if hidden_highlights > 0 {
            parts.push(format!("{hidden_highlights} more highlight(s)"));
        }
        if !clusters_left.is_empty() {
            // Name the clusters while that fits; past it, their count.
            let names: Vec<String> = clusters_left.iter().map(|c| format!("<code>{c}</code>")).collect();
            let listed = names.join(", ");
            let which = if listed.chars().count() < 2000 { format!(": {listed}") } else { String::new() };
            parts.push(format!("the full plans ({hidden_changes} change(s)) of {} cluster(s){which}", clusters_left.len()));
        }
        s.push_str(&format!(
            "\n_Not shown, to stay within the comment's {budget} characters: {}. The whole plan is in the job's output and artifact (`fleetform plan --out plan.json`)._\n",
            parts.join("; ")
        ));
    }
    (s, overflow)
}

/// `old -> new` of a field, as the text plan shows it.
fn change_text(f: &crate::core::plan::FieldChange) -> String {
    format!("{} -> {}", f.old.as_deref().unwrap_or("(none)"), f.new.as_deref().unwrap_or("(none)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cost::{Costs, GroupCost, PlanCost, SizeCost};

    #[test]
    fn cost_lines_say_what_is_not_known_and_leave_it_out_of_the_sums() {
        let at = |n: i32, usd: f64| SizeCost { instances: n, on_demand: n, usd_per_hour: usd };
        let c = PlanCost {
            currency: "USD".into(),
            groups: vec![
                GroupCost { group: "a".into(), before: Some(Costs { at_min: at(2, 0.5), at_desired: at(2, 0.5) }), after: Some(Costs { at_min: at(3, 0.75), at_desired: at(3, 0.75) }), unknown: vec![], scheduled_down: false },
                GroupCost { group: "b".into(), before: None, after: Some(Costs { at_min: at(1, 0.0), at_desired: at(1, 0.0) }), unknown: vec!["r9.2xlarge on-demand in eu-west-1".into()], scheduled_down: false },
            ],
            before_at_min: 0.5,
            before_at_desired: 0.5,
            after_at_min: 0.75,
            after_at_desired: 0.75,
            left_out: vec!["b".into()],
            price_source: "a table".into(),
        };
        let text = cost_lines(&c).join("\n");
        assert!(text.contains("    a      $0.50 -> $0.75          $0.50 -> $0.75\n"), "{text}");
        assert!(text.contains("    b      price not known: r9.2xlarge on-demand in eu-west-1"), "{text}");
        assert!(text.contains("(+$0.25 an hour, +$182 a month)"), "{text}");
        assert!(text.contains("(without b: a price is not known; add it to prices.csv)"), "{text}");
    }
}
