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
    // The output is read on tasks of their own: the verdict is the hook's exit, not the end of
    // its output (a background child it leaves may hold the pipe open for ever).
    let read_out = tokio::spawn(async move {
        let mut o = Vec::new();
        let _ = out.read_to_end(&mut o).await;
        o
    });
    let read_err = tokio::spawn(async move {
        let mut e = Vec::new();
        let _ = err.read_to_end(&mut e).await;
        e
    });
    let output = |o: Option<Vec<u8>>, e: Option<Vec<u8>>| format!("{}{}", String::from_utf8_lossy(&o.unwrap_or_default()), String::from_utf8_lossy(&e.unwrap_or_default()));
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(status) => {
            let (o, e) = tokio::time::timeout(Duration::from_secs(2), async { (read_out.await.ok(), read_err.await.ok()) }).await.unwrap_or((None, None));
            let code = status.map(|s| s.code().map_or("a signal".to_string(), |c| format!("status {c}"))).unwrap_or_else(|e| e.to_string());
            let text = output(o, e);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(command: &str, timeout: &str) -> Hook {
        Hook { command: command.into(), timeout: Some(timeout.into()) }
    }

    fn run_hook(h: &Hook) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let env = HookEnv { cluster: "c", group: "g", instance_id: "i", node: "n" };
        rt.block_on(run(h, Path::new("."), &env))
    }

    #[test]
    fn a_hook_that_exits_0_leaving_a_child_on_its_output_passed() {
        // The background child keeps stdout open well past the timeout: the verdict is the
        // hook's own exit.
        assert_eq!(run_hook(&hook("sleep 30 & echo started", "3s")), Ok(()));
    }

    #[test]
    fn failures_and_timeouts_are_told_apart() {
        let e = run_hook(&hook("echo why >&2; exit 3", "10s")).unwrap_err();
        assert!(e.contains("exited with status 3: why"), "{e}");
        let e = run_hook(&hook("sleep 30", "1s")).unwrap_err();
        assert!(e.contains("did not finish within its timeout of 1s"), "{e}");
    }
}
