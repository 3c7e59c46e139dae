//! Orchestration: the one room where runs over many clusters are put together.
//!
//! Commands parse flags and call one function here; the executor carries out steps; the AWS
//! layer talks to AWS; the core stays pure. Everything that mutates AWS follows one order per
//! cluster — **lock, read, plan, act, unlock** — so that what is carried out was planned from
//! what AWS held while nobody else could change it (Terraform's order). Clusters go wave by wave
//! (`spec.wave`, lower first): a wave locks its clusters, reads them in one batched read, plans,
//! acts, validates (re-reading AWS, never re-rendering), and only then does the next wave start.
//!
//! One [`Session`] per run: one Tokio runtime, one SDK configuration, one credential resolution,
//! clients cached per region — handed to every part of the run.

pub mod apply;
pub mod destroy;
pub mod lock;
pub mod plan;
pub mod reclaim;
pub mod roll;

use std::future::Future;

use crate::aws::Aws;

/// The end of a mutating run's report for one cluster that did not finish: the error, an
/// interrupt, the steps not done, and how to finish (`command`: "apply", "destroy").
pub fn print_unfinished(p: &crate::output::Printer, cluster: &str, failed: Option<&str>, interrupted: bool, not_done: &[String], command: &str) {
    if let Some(e) = failed {
        p.error(&format!("{cluster}: {e}"));
    }
    if interrupted {
        p.error(&format!("{cluster}: interrupted"));
    }
    for n in not_done {
        p.info(&format!("    not done: {n}"));
    }
    if !not_done.is_empty() || interrupted {
        p.info(&format!("    run the same {command} again to finish: it continues from what AWS holds now"));
    }
}

/// One runtime and one AWS configuration for the whole run.
pub struct Session {
    rt: tokio::runtime::Runtime,
    aws: Aws,
}

impl Session {
    pub fn start() -> anyhow::Result<Session> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let aws = rt.block_on(Aws::load());
        Ok(Session { rt, aws })
    }

    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

/// A cluster and its wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveMember {
    pub cluster: String,
    pub wave: u32,
}

/// Runs one wave of a multi-cluster command; true when the wave succeeded (and validated).
#[allow(async_fn_in_trait)]
pub trait WaveRunner {
    async fn run_wave(&mut self, wave: u32, clusters: &[String]) -> bool;
}

/// How a run over waves ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WavesReport {
    pub done: Vec<u32>,
    pub failed: Option<u32>,
    /// Clusters of later waves that were not started because a wave failed.
    pub not_started: Vec<String>,
}

impl WavesReport {
    pub fn ok(&self) -> bool {
        self.failed.is_none()
    }
}

/// The waves of `members` in order, each with its clusters sorted by name (`only`: one wave).
pub fn waves(members: &[WaveMember], only: Option<u32>) -> Vec<(u32, Vec<String>)> {
    let mut by: std::collections::BTreeMap<u32, Vec<String>> = std::collections::BTreeMap::new();
    for m in members {
        if only.is_none_or(|w| w == m.wave) {
            by.entry(m.wave).or_default().push(m.cluster.clone());
        }
    }
    by.into_iter()
        .map(|(w, mut c)| {
            c.sort();
            c.dedup();
            (w, c)
        })
        .collect()
}

/// Run the waves in order; the first wave that fails stops the run.
pub async fn in_waves<R: WaveRunner>(members: &[WaveMember], only: Option<u32>, runner: &mut R) -> WavesReport {
    let ws = waves(members, only);
    let mut report = WavesReport::default();
    for (i, (wave, clusters)) in ws.iter().enumerate() {
        if runner.run_wave(*wave, clusters).await {
            report.done.push(*wave);
        } else {
            report.failed = Some(*wave);
            report.not_started = ws[i + 1..].iter().flat_map(|(_, c)| c.iter().cloned()).collect();
            break;
        }
    }
    report
}

/// The command line as the lock and the audit trail record it: `--set` values are replaced by
/// `***` (CI passes secrets that way), keys kept.
pub fn redacted_command(args: &[String]) -> String {
    let mut out = Vec::new();
    let mut next_is_set = false;
    for a in args {
        if next_is_set {
            out.push(redact_set(a));
            next_is_set = false;
        } else if a == "--set" {
            out.push(a.clone());
            next_is_set = true;
        } else if let Some(v) = a.strip_prefix("--set=") {
            out.push(format!("--set={}", redact_set(v)));
        } else {
            out.push(a.clone());
        }
    }
    out.join(" ")
}

fn redact_set(v: &str) -> String {
    match v.split_once('=') {
        Some((k, _)) => format!("{k}=***"),
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        calls: Vec<(u32, Vec<String>)>,
        fail: Option<u32>,
    }

    impl WaveRunner for Fake {
        async fn run_wave(&mut self, wave: u32, clusters: &[String]) -> bool {
            self.calls.push((wave, clusters.to_vec()));
            self.fail != Some(wave)
        }
    }

    fn members() -> Vec<WaveMember> {
        [("prod-b", 1), ("staging", 0), ("prod-a", 1), ("canary", 2)].iter().map(|(c, w)| WaveMember { cluster: c.to_string(), wave: *w }).collect()
    }

    #[test]
    fn waves_run_in_order_and_stop_at_the_first_failure() {
        let mut f = Fake { calls: vec![], fail: None };
        let r = futures::executor::block_on(in_waves(&members(), None, &mut f));
        assert_eq!(f.calls, vec![(0, vec!["staging".to_string()]), (1, vec!["prod-a".into(), "prod-b".into()]), (2, vec!["canary".into()])]);
        assert!(r.ok() && r.done == vec![0, 1, 2]);

        let mut f = Fake { calls: vec![], fail: Some(1) };
        let r = futures::executor::block_on(in_waves(&members(), None, &mut f));
        assert_eq!(f.calls.len(), 2, "wave 2 never starts");
        assert_eq!((r.failed, r.not_started), (Some(1), vec!["canary".to_string()]));
    }

    #[test]
    fn one_wave_can_be_selected() {
        let mut f = Fake { calls: vec![], fail: None };
        futures::executor::block_on(in_waves(&members(), Some(1), &mut f));
        assert_eq!(f.calls, vec![(1, vec!["prod-a".to_string(), "prod-b".into()])]);
    }

    #[test]
    fn set_values_are_not_recorded() {
        let a: Vec<String> = ["fleetform", "apply", "--set", "db.password=hunter2", "--set=token=abc", "--yes"].iter().map(|s| s.to_string()).collect();
        assert_eq!(redacted_command(&a), "fleetform apply --set db.password=*** --set=token=*** --yes");
    }
}
