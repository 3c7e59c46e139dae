//! The executor: carries out plans on AWS, step by step, safe to kill at any point.
//!
//! It keeps no progress of its own: every run re-reads live AWS, and the pure plan says what is
//! left (a version created but not yet the default, a group created but not yet tagged, …), so
//! a killed apply is finished by the next one without duplicates. Steps run in a safe order — a
//! template version before the group that uses it, records after groups, and deletions (only
//! with --allow-delete) last, once what replaces them exists. Between steps it checks for an
//! interrupt (Ctrl-C or SIGTERM), stops cleanly, and the lock is released.

pub mod apply;
pub mod hooks;
pub mod progress;
pub mod rolling;
pub mod validate;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// On Ctrl-C (SIGINT) or SIGTERM (how Jenkins and Kubernetes cancel a job), set `flag` (the
/// executors check it between steps) and say what happens next. Must be called inside a Tokio
/// runtime.
pub fn stop_on_interrupt(flag: Arc<AtomicBool>, what_next: &'static str) {
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let which = tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_ok() { "interrupt" } else { return },
            _ = term => "terminated",
        };
        flag.store(true, Ordering::SeqCst);
        eprintln!("\n{which}: stopping after the current step; {what_next}");
    });
}
