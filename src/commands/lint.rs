//! `fleetform lint`.

use clap::Args;
use serde_json::json;

use super::{print_errors, render_selected, JSON_SCHEMA_VERSION};
use crate::cli::{Settings, Status};
use crate::core::lint::{self, Finding, Severity, RULES};
use crate::core::model::RuleLevel;
use crate::output::{OutputFormat, Style};

#[derive(Debug, Args)]
pub struct LintArgs {
    /// List the rules with their default severity and why, then exit.
    #[arg(long)]
    pub rules: bool,
    /// Values that no template reads (typos, leftovers) are errors, not warnings: exit 1.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(s: &Settings, args: &LintArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    if args.rules {
        if p.format == OutputFormat::Json {
            let rules: Vec<serde_json::Value> = RULES
                .iter()
                .map(|r| json!({"id": r.id, "default": match r.default { RuleLevel::Error => "error", RuleLevel::Warning => "warning", RuleLevel::Off => "off" }, "why": r.why}))
                .collect();
            p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({"schemaVersion": JSON_SCHEMA_VERSION, "command": "lint --rules", "rules": rules}))?));
            return Ok(Status::Success);
        }
        let mut out = String::new();
        for r in RULES {
            let sev = match r.default {
                RuleLevel::Error => "error",
                RuleLevel::Warning => "warning",
                RuleLevel::Off => "off",
            };
            out.push_str(&format!("{:<27} {:<8} {}\n", r.id, sev, r.why));
        }
        p.data(&out);
        return Ok(Status::Success);
    }
    let run = render_selected(s, true)?;
    print_errors(s, &run);
    let value_warnings = if run.failures.is_empty() { super::value_warnings(&run) } else { Vec::new() };
    if args.strict {
        for w in &value_warnings {
            s.printer.error(&w.to_string());
        }
    } else {
        super::print_warnings(s, &value_warnings);
    }
    let strict_failure = args.strict && !value_warnings.is_empty();
    let mut findings: Vec<Finding> = Vec::new();
    let mut per_cluster = Vec::new();
    for r in &run.rendered {
        let f = lint::lint(&r.manifest);
        let (e, w) = lint::summary_counts(&f);
        per_cluster.push(json!({"name": r.manifest.name(), "errors": e, "warnings": w}));
        findings.extend(f);
    }
    let (errors, warnings) = lint::summary_counts(&findings);

    match p.format {
        OutputFormat::Json => {
            p.data(&format!("{}\n", serde_json::to_string_pretty(&json!({
                "schemaVersion": JSON_SCHEMA_VERSION,
                "command": "lint",
                "ok": errors == 0 && run.failures.is_empty() && !strict_failure,
                "strict": args.strict,
                "clusters": per_cluster,
                "findings": findings,
                "summary": {"errors": errors, "warnings": warnings},
                "renderErrors": run.errors(),
                "valueWarnings": value_warnings,
            }))?));
        }
        OutputFormat::Markdown => {
            let mut out = String::from("| severity | rule | cluster | group | finding | where |\n|---|---|---|---|---|---|\n");
            for f in &findings {
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} | `{}:{}` |\n",
                    sev_word(f.severity),
                    f.rule,
                    f.cluster,
                    f.group.as_deref().unwrap_or(""),
                    f.message.replace('|', "\\|"),
                    f.file.display(),
                    f.line
                ));
            }
            if findings.is_empty() {
                out = "No lint findings.\n".into();
            }
            p.data(&out);
        }
        OutputFormat::Text => {
            let mut out = String::new();
            for f in &findings {
                let (word, style) = match f.severity {
                    Severity::Error => ("error", Style::Red),
                    Severity::Warning => ("warning", Style::Yellow),
                };
                out.push_str(&format!("{}: {}\n", p.paint(&format!("{word}[{}]", f.rule), style), f.message));
                out.push_str(&format!("  --> {}:{} (cluster {})\n", f.file.display(), f.line, f.cluster));
                out.push_str(&format!("  = why: {}\n\n", f.why));
            }
            p.data(&out);
        }
    }
    let n = run.rendered.len();
    let what = if run.failures.is_empty() {
        format!("{n} cluster(s)")
    } else {
        format!("{n} of {} cluster(s) ({} failed to render)", run.clusters.len(), run.failures.len())
    };
    if findings.is_empty() {
        p.status("Linted", &format!("{what}: no findings"));
    } else {
        p.status("Linted", &format!("{what}: {errors} error(s), {warnings} warning(s)"));
    }
    if strict_failure {
        p.info(&format!("{} value(s) no template reads: an error with --strict (remove them or fix the name)", value_warnings.len()));
    }
    if errors > 0 || !run.failures.is_empty() || strict_failure {
        Ok(Status::Failure)
    } else {
        Ok(Status::Success)
    }
}

fn sev_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
