//! Taking and releasing a cluster's lock, and writing its audit record.
//!
//! Every mutating command (apply, apply --rolling, rolling-update, destroy, reclaim-on-demand)
//! takes the lock of each
//! cluster before it reads AWS, and releases it after the audit record is written. The wait
//! for a held lock is visible ("waiting for the lock held by …"); a lock that cannot be read is
//! never mistaken for "no lock".

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::aws::state::{Acquire, HistoryRecord, LockInfo, LockState, StateStore};
use crate::aws::Aws;
use crate::executor::progress::{timestamp, ClusterProgress};

/// A lock we hold.
pub struct Held {
    pub cluster: String,
    pub store: StateStore,
    pub info: LockInfo,
    pub started: String,
}

/// Who holds a lock, in words.
pub fn holder(state: &LockState) -> String {
    match state {
        LockState::Held(h) => h.to_string(),
        LockState::Absent => "nobody (it was just released)".to_string(),
        LockState::Unreadable { reason } => format!("an unreadable lock object: {reason}"),
    }
}

/// Take `cluster`'s lock, waiting up to `timeout`.
pub async fn acquire(
    aws: &Aws,
    cluster: &str,
    state_store: Option<&str>,
    info: &LockInfo,
    timeout: Duration,
    progress: &ClusterProgress,
    interrupted: &AtomicBool,
) -> Result<Held, String> {
    let store = open(aws, cluster, state_store).await?;
    let start = Instant::now();
    let mut wait = Duration::from_millis(250);
    let mut announced = String::new();
    // A lock released between our write and our read is free: take it at once (a few times at
    // most, so that two runs trading it cannot spin).
    let mut freed = 0;
    loop {
        match store.try_lock(info).await.map_err(|e| e.to_string())? {
            Acquire::Acquired => return Ok(Held { cluster: cluster.to_string(), store, info: info.clone(), started: timestamp() }),
            Acquire::Held(LockState::Absent) if freed < 5 => freed += 1,
            Acquire::Held(state) => {
                let who = holder(&state);
                if start.elapsed() >= timeout || interrupted.load(Ordering::SeqCst) {
                    let fix = match &state {
                        LockState::Unreadable { .. } => format!(
                            "if no fleetform run is using it, remove it with `fleetform unlock --cluster {cluster} --force-unreadable` (or delete {} by hand)",
                            store.lock_location()
                        ),
                        LockState::Held(h) => format!("wait for that run to finish (or pass --lock-timeout); if it died, break the lock with `fleetform unlock --cluster {cluster} {}`", h.id),
                        LockState::Absent => "run the command again".to_string(),
                    };
                    return Err(format!("the cluster is locked: {who} ({}). {fix}", store.lock_location()));
                }
                if announced != who {
                    progress.start(&format!("waiting for the lock: {who}"));
                    announced = who;
                }
                tokio::time::sleep(wait.min(timeout.saturating_sub(start.elapsed())).max(Duration::from_millis(50))).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The cluster's state store, where its lock and audit trail live.
async fn open(aws: &Aws, cluster: &str, state_store: Option<&str>) -> Result<StateStore, String> {
    let url = state_store.ok_or_else(|| format!("cluster {cluster} declares no spec.stateStore: fleetform needs it for the lock and the audit trail"))?;
    StateStore::open(aws, url).await.map_err(|e| e.to_string())
}

/// Take the lock once, without waiting: `None` when someone else holds it.
pub async fn try_once(aws: &Aws, cluster: &str, state_store: Option<&str>, info: &LockInfo) -> Result<Option<Held>, String> {
    let store = open(aws, cluster, state_store).await?;
    Ok(match store.try_lock(info).await.map_err(|e| e.to_string())? {
        Acquire::Acquired => Some(Held { cluster: cluster.to_string(), store, info: info.clone(), started: timestamp() }),
        Acquire::Held(_) => None,
    })
}

/// Give back a lock this run may hold without knowing it (a try whose write landed but whose
/// answer was an error): deleted only if it holds our id. Errors are ignored: the run goes on
/// to take the locks one by one, and reports what it cannot do there.
pub async fn release_if_ours(aws: &Aws, state_store: Option<&str>, info: &LockInfo) {
    let Some(url) = state_store else { return };
    if let Ok(store) = StateStore::open(aws, url).await {
        let _ = store.unlock(&info.id).await;
    }
}

/// Release a lock we hold. An error says how to break it by hand.
pub async fn release(held: &Held) -> Result<(), String> {
    match held.store.unlock(&held.info.id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("the lock {} was no longer ours when we released it: someone broke it while this run held it", held.store.lock_location())),
        Err(e) => Err(format!("releasing the lock failed: {e}; break it with `fleetform unlock --cluster {} {}`", held.cluster, held.info.id)),
    }
}

/// What a cluster's audit record will say, gathered while the run acts.
#[derive(Debug, Default)]
pub struct Audit {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    pub replaced: Vec<String>,
    pub failed: Vec<String>,
    pub interrupted: bool,
}

impl Audit {
    /// A record is written for every run that changed anything, failed or interrupted ones too.
    pub fn worth_recording(&self) -> bool {
        !(self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty() && self.replaced.is_empty() && self.failed.is_empty()) || self.interrupted
    }

    pub fn result(&self) -> &'static str {
        if self.interrupted {
            "interrupted"
        } else if self.failed.is_empty() {
            "ok"
        } else {
            "failed"
        }
    }
}

/// Write the audit record of a run.
pub async fn record(held: &Held, commit: Option<&str>, a: &Audit) -> Result<(), String> {
    let rec = HistoryRecord {
        id: held.info.id.clone(),
        cluster: held.cluster.clone(),
        who: held.info.who.clone(),
        host: held.info.host.clone(),
        started: held.started.clone(),
        finished: timestamp(),
        commit: commit.map(str::to_string),
        command: held.info.command.clone(),
        result: a.result().to_string(),
        created: a.created.clone(),
        updated: a.updated.clone(),
        deleted: a.deleted.clone(),
        failed: a.failed.clone(),
        replaced: a.replaced.clone(),
    };
    held.store.record(&rec).await.map_err(|e| e.to_string())
}

/// One cluster's work under its lock, as the one-cluster commands (destroy, reclaim-on-demand)
/// do it: take the lock (waiting up to `timeout`), run `body`, write its audit record when it is
/// worth one, release. Err: the lock was not taken (nothing ran); Ok: what failed after `body`
/// (the record, the release), one message each.
#[allow(clippy::too_many_arguments)]
pub async fn under_lock<F, Fut>(
    aws: &Aws,
    cluster: &str,
    state_store: Option<&str>,
    command: &str,
    commit: Option<&str>,
    timeout: Duration,
    progress: &ClusterProgress,
    interrupted: &AtomicBool,
    body: F,
) -> Result<Vec<String>, String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Audit>,
{
    let info = lock_info(command);
    let held = acquire(aws, cluster, state_store, &info, timeout, progress, interrupted).await?;
    let audit = body().await;
    let mut errors = Vec::new();
    if audit.worth_recording() {
        if let Err(e) = record(&held, commit, &audit).await {
            errors.push(format!("the audit record was not written: {e}"));
        }
    }
    if let Err(e) = release(&held).await {
        errors.push(e);
    }
    Ok(errors)
}

/// A new lock identity for this run, unique per host, process and instant: taking the lock is
/// idempotent by id (a retried write finding its own lock), so two runs must never share one.
pub fn lock_info(command: &str) -> LockInfo {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into());
    let id = {
        use sha2::{Digest, Sha256};
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let d = Sha256::digest(format!("{host}/{}/{nanos}", std::process::id()));
        d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    };
    LockInfo {
        id,
        who: std::env::var("USER")
            .or_else(|_| std::env::var("BUILD_USER"))
            .ok()
            .or_else(|| {
                let o = std::process::Command::new("id").arg("-un").output().ok()?;
                o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into()),
        host,
        pid: std::process::id(),
        command: command.to_string(),
        created: timestamp(),
    }
}
