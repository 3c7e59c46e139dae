//! `fleetform lint`.

use clap::Args;
use serde_json::json;

use super::{print_errors, render_selected, JSON_SCHEMA_VERSION};
use crate::cli::{Settings, Status};
use crate::core::instance_types::TypeTable;
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
    /// Where instance types' vCPU, memory and architecture come from: `aws` (DescribeInstanceTypes
    /// in each cluster's region), `table` (fleetform's, plus the repository's instance-types.csv),
    /// or `auto`: AWS when credentials are in the environment, else the table.
    #[arg(long, value_enum, default_value_t = TypesSource::Auto)]
    pub instance_types: TypesSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TypesSource {
    Auto,
    Aws,
    Table,
}

/// AWS credentials the environment gives explicitly (no probing of the instance metadata
/// service: a laptop or a test run never calls AWS unasked).
fn credentials_in_environment() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// The instance-type table of each region the rendered clusters are in.
fn type_tables(s: &Settings, args: &LintArgs, regions: &std::collections::BTreeSet<String>) -> anyhow::Result<(TypeTable, std::collections::BTreeMap<String, TypeTable>)> {
    let file = s.root.join("instance-types.csv");
    let base = match std::fs::read_to_string(&file) {
        Ok(text) => TypeTable::builtin().with_repository_types("instance-types.csv", &text).map_err(|(line, e)| {
            crate::core::diag::Diagnostic::new("instance-types.csv", line, 0, e).with_help("write type,vcpu,memory_gib,arch per line, e.g. c9.mega,96,192,x86_64")
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TypeTable::builtin(),
        Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", file.display())),
    };
    let mut per_region = std::collections::BTreeMap::new();
    let use_aws = match args.instance_types {
        TypesSource::Aws => true,
        TypesSource::Table => false,
        TypesSource::Auto => credentials_in_environment(),
    };
    if use_aws && !regions.is_empty() {
        let session = crate::ops::Session::start()?;
        for region in regions {
            match session.block_on(crate::aws::ec2::instance_types(&session.aws().ec2(region), region)) {
                Ok(rows) if !rows.is_empty() => {
                    per_region.insert(region.clone(), TypeTable::from_aws(region, rows, &base));
                }
                Ok(_) => s.printer.warn(&format!("AWS listed no instance type in {region}; using {}", base.source)),
                Err(e) if args.instance_types == TypesSource::Aws => return Err(e.into()),
                Err(e) => s.printer.warn(&format!("{e}; using {} instead", base.source)),
            }
        }
    }
    Ok((base, per_region))
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
    let regions: std::collections::BTreeSet<String> = run.rendered.iter().map(|r| r.manifest.cluster.spec.region.clone()).collect();
    let (base, per_region) = type_tables(s, args, &regions)?;
    let mut sources = std::collections::BTreeSet::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut per_cluster = Vec::new();
    for r in &run.rendered {
        let table = per_region.get(&r.manifest.cluster.spec.region).unwrap_or(&base);
        sources.insert(table.source.clone());
        let f = lint::lint_with(&r.manifest, table);
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
                "instanceTypes": sources,
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
    let from = if sources.is_empty() { String::new() } else { format!(" (instance types: {})", sources.iter().cloned().collect::<Vec<_>>().join(", ")) };
    if findings.is_empty() {
        p.status("Linted", &format!("{what}: no findings{from}"));
    } else {
        p.status("Linted", &format!("{what}: {errors} error(s), {warnings} warning(s){from}"));
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
