//! Hooks: the cluster's drain and validate commands, run with `sh -c` from the repository root,
//! with a timeout. A hook that outlives its timeout is killed (its whole process group) and
//! counts as failed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::core::duration;
use crate::core::model::Hook;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// What the hook is run for; becomes its environment.
pub struct HookEnv<'a> {
    pub cluster: &'a str,
    pub group: &'a str,
    pub instance_id: &'a str,
    pub node: &'a str,
}

/// Run a hook. Ok(()) on exit 0; Err with why otherwise (exit code and the end of its output,
/// or the timeout).
pub async fn run(hook: &Hook, root: &Path, env: &HookEnv<'_>) -> Result<(), String> {
    let timeout = hook.timeout.as_deref().and_then(|t| duration::parse(t).ok()).unwrap_or(DEFAULT_TIMEOUT);
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&hook.command)
        .current_dir(root)
        .env("FLEETFORM_CLUSTER", env.cluster)
        .env("FLEETFORM_GROUP", env.group)
        .env("FLEETFORM_INSTANCE_ID", env.instance_id)
        .env("FLEETFORM_NODE", env.node)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start `{}`: {e}", hook.command))?;
    let pid = child.id();
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let collect = async {
        let mut o = Vec::new();
        let mut e = Vec::new();
        let _ = tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e));
        let status = child.wait().await;
        (status, o, e)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((Ok(status), o, e)) if status.success() => {
            let _ = (o, e);
            Ok(())
        }
        Ok((status, o, e)) => {
            let code = status.map(|s| s.code().map_or("a signal".to_string(), |c| format!("status {c}"))).unwrap_or_else(|e| e.to_string());
            let text = format!("{}{}", String::from_utf8_lossy(&o), String::from_utf8_lossy(&e));
            let tail: Vec<&str> = text.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
            Err(format!("`{}` exited with {code}{}", hook.command, if tail.is_empty() { String::new() } else { format!(": {}", tail.join(" / ")) }))
        }
        Err(_) => {
            if let Some(pid) = pid {
                // The whole process group (sh and whatever it started) — but only when the hook
                // really leads its own group, never the group fleetform itself runs in.
                if own_group(pid) {
                    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
                } else {
                    let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                }
            }
            Err(format!("`{}` did not finish within its timeout of {}s and was killed", hook.command, timeout.as_secs()))
        }
    }
}

/// Whether process `pid` leads its own process group (field 5 of /proc/PID/stat).
fn own_group(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| st.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().nth(2).map(str::to_string)))
        .flatten()
        .is_some_and(|pgrp| pgrp == pid.to_string())
}
