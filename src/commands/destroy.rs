//! `fleetform destroy --cluster NAME`: delete everything the cluster owns on AWS.
//!
//! From its vars file (rendered as for apply), or — when the vars file is gone — from what AWS
//! says it owns, with `--region` and `--state-store` given on the command line. Confirmed by
//! typing the cluster's name, or in CI with `--yes --confirm NAME`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;

use super::apply::{ask, git_commit};
use super::JSON_SCHEMA_VERSION;
use crate::cli::{Settings, Status};
use crate::core::destroy::DestroyPlan;
use crate::core::duration;
use crate::core::model::{default_eks_name, Manifest, Origin};
use crate::core::plan::{describe, Action};
use crate::ops::destroy::{DestroyReport, DestroyRequest, DestroyUi};
use crate::ops::{redacted_command, Session};
use crate::output::{OutputFormat, Printer};

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Also delete the EKS control plane (with its add-ons and access entries). Without it, the
    /// control plane is kept and only fleetform's access entries go.
    #[arg(long)]
    pub include_control_plane: bool,
    /// Terminate the instances without running the drain hook first (needed when the cluster
    /// declares no drain hook, or its vars file is gone).
    #[arg(long)]
    pub skip_drain: bool,
    /// With --yes, where nobody can type it: the cluster's name again, as a second key.
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
    /// When the vars file is gone: the region the cluster lived in.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// When the vars file is gone: its state store (s3://bucket/prefix), for the lock and the
    /// audit record.
    #[arg(long, value_name = "URL")]
    pub state_store: Option<String>,
    /// When the vars file is gone: its EKS cluster's name (default: the cluster's name with `-`
    /// for each dot); only fleetform's access entries are deleted there, and the control plane
    /// only with --include-control-plane when its tag names this cluster.
    #[arg(long, value_name = "NAME")]
    pub eks_name: Option<String>,
    /// How long to wait for another run's lock, e.g. 5m (default: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration::parse)]
    pub lock_timeout: Duration,
    /// How often AWS is polled while waiting (the control plane to be gone).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub poll_interval: Duration,
}

pub fn run(s: &Settings, args: &DestroyArgs) -> anyhow::Result<Status> {
    let p = &s.printer;
    let [cluster] = s.clusters.as_slice() else { bail!("name exactly one cluster to destroy: --cluster NAME") };
    if s.all {
        bail!("destroy takes one cluster at a time: --cluster NAME, not --all");
    }
    let repo = crate::repo::load(&s.root)?;
    let has_vars = repo.cluster_vars.contains_key(cluster);
    let session;
    let manifest = if has_vars {
        for (flag, given) in [("--region", args.region.is_some()), ("--state-store", args.state_store.is_some()), ("--eks-name", args.eks_name.is_some())] {
            if given {
                bail!("{flag} is for a cluster whose vars file is gone; vars/{cluster}.yaml exists, and the cluster is destroyed as it declares");
            }
        }
        let run = super::render_selected(s, false)?;
        if !run.failures.is_empty() {
            super::print_errors(s, &run);
            p.error(&format!(
                "nothing was destroyed: fix the errors above, or move vars/{cluster}.yaml away and destroy from what AWS says it owns (--region, --state-store)"
            ));
            return Ok(Status::Failure);
        }
        session = Session::start()?;
        run.rendered.into_iter().next().context("the cluster was not rendered")?.manifest
    } else {
        let (Some(region), Some(store)) = (&args.region, &args.state_store) else {
            bail!(
                "cluster `{cluster}` has no vars file (vars/{cluster}.yaml): to destroy what AWS says it owns, give the region it lived in and its state store (for the lock and the audit record): fleetform destroy --cluster {cluster} --region REGION --state-store s3://BUCKET/PREFIX"
            );
        };
        session = Session::start()?;
        // Its records, wherever they are: the hosted zones holding its ownership records.
        let zones = session.block_on(crate::aws::route53::zones_owned_by(&session.aws().route53(), cluster))?;
        if zones.len() > 1 {
            p.warn(&format!("records of {cluster} are in {} hosted zones ({}); only those of {} are deleted: run destroy again for the others", zones.len(), zones.join(", "), zones[0]));
        }
        bare_manifest(cluster, region, store, zones.first().cloned(), args.eks_name.clone().unwrap_or_else(|| default_eks_name(cluster)))?
    };
    let req = DestroyRequest {
        manifest: &manifest,
        include_control_plane: args.include_control_plane,
        skip_drain: args.skip_drain,
        lock_timeout: args.lock_timeout,
        poll: args.poll_interval,
        command: redacted_command(&std::env::args().collect::<Vec<_>>()),
        commit: git_commit(&s.root),
        root: s.root.clone(),
        declared: has_vars,
    };
    let ui = Ui { s, confirm: args.confirm.clone() };
    let report = session.block_on(crate::ops::destroy::run(session.aws(), &req, &ui));
    print_report(p, &report, has_vars)?;
    Ok(if report.ok() { Status::Success } else { Status::Failure })
}

/// The Cluster of a cluster whose vars file is gone: only what destroy needs to find what it
/// owns (no group is declared, so every group it owns is "no longer declared").
fn bare_manifest(cluster: &str, region: &str, store: &str, zone: Option<String>, eks_name: String) -> anyhow::Result<Manifest> {
    let cm = serde_json::from_value(json!({
        "apiVersion": crate::core::model::API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": cluster},
        "spec": {"region": region, "subnets": [], "stateStore": store, "dnsZone": zone, "eks": {"name": eks_name}},
    }))?;
    Ok(Manifest { cluster: cm, cluster_origin: Origin { file: PathBuf::from("(command line)"), line: 0 }, groups: vec![] })
}

struct Ui<'a> {
    s: &'a Settings,
    confirm: Option<String>,
}

impl DestroyUi for Ui<'_> {
    fn printer(&self) -> &Printer {
        &self.s.printer
    }

    fn show(&self, plan: &DestroyPlan) {
        let p = &self.s.printer;
        let mut out = String::new();
        if plan.is_empty() {
            out.push_str(&format!("Cluster {} ({}) owns nothing on AWS: nothing to destroy.\n", plan.cluster, plan.region));
        } else {
            out.push_str(&format!(
                "Destroy cluster {} ({}): {} instance(s) to drain and terminate, {} resource(s) to delete\n",
                plan.cluster,
                plan.region,
                plan.instances.len(),
                describe(&plan.steps).len()
            ));
            for t in &plan.instances {
                out.push_str(&format!("  - instance {} of {} ({})\n", t.instance_id, t.group, t.node.as_deref().unwrap_or("node name unknown")));
            }
            for c in describe(&plan.steps) {
                debug_assert_eq!(c.action, Action::Delete);
                out.push_str(&format!("  - {} {}\n", c.resource_type.label(), c.name));
            }
        }
        for k in &plan.kept {
            out.push_str(&format!("  kept: {k}\n"));
        }
        out.push_str("  kept: the state store (lock and audit trail)\n");
        if p.format == OutputFormat::Json {
            // stdout holds the JSON report (with the plan); people still see what is asked.
            p.info(out.trim_end());
        } else {
            p.data(&out);
        }
    }

    fn confirm(&self, cluster: &str, interrupted: &AtomicBool) -> bool {
        let p = &self.s.printer;
        if self.s.yes {
            return match &self.confirm {
                Some(c) if c == cluster => true,
                Some(c) => {
                    p.error(&format!("nothing was destroyed: --confirm names `{c}`, not `{cluster}`"));
                    false
                }
                None => {
                    p.error(&format!("nothing was destroyed: with --yes, destroy also needs the cluster's name again: --confirm {cluster}"));
                    false
                }
            };
        }
        if !std::io::stdin().is_terminal() {
            p.error(&format!("nothing was destroyed: there is no terminal to type the cluster's name; in CI pass --yes --confirm {cluster}"));
            return false;
        }
        let answer = ask(&format!("\nThis deletes what is listed above, instances included. Type the cluster's name to destroy it ({cluster}): "), Some(interrupted));
        if answer.trim() == cluster {
            true
        } else {
            p.error("nothing was destroyed: the name typed is not the cluster's");
            false
        }
    }
}

fn print_report(p: &Printer, r: &DestroyReport, has_vars: bool) -> anyhow::Result<()> {
    if p.format == OutputFormat::Json {
        let v = json!({"schemaVersion": JSON_SCHEMA_VERSION, "command": "destroy", "ok": r.ok(), "cluster": r});
        p.data(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    if r.declined {
        return Ok(());
    }
    let line = format!("{}: {} instance(s) terminated, {} resource(s) deleted", r.cluster, r.terminated.len(), r.deleted.len());
    if r.ok() {
        if !(r.terminated.is_empty() && r.deleted.is_empty()) {
            p.status("Destroyed", &line);
        }
        if has_vars {
            p.info(&format!("    vars/{}.yaml still declares it: remove it (and render) or the next apply creates it again", r.cluster));
        }
    } else {
        p.error(&line);
        crate::ops::print_unfinished(p, &r.cluster, r.failed.as_deref(), r.interrupted, &r.not_done, "destroy");
    }
    Ok(())
}
