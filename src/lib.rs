//! fleetform: render, lint, plan and apply Kubernetes node fleets on AWS.
//!
//! * [`core`] — the pure core: model, values, render, lint, plan of typed steps. No I/O.
//! * [`aws`] — the AWS layer: one module per service, typed errors, one session per run.
//! * [`executor`] — carries out steps, rolling updates and health gates.
//! * [`ops`] — orchestration: lock, read, plan, act, unlock, wave by wave.
//! * [`repo`] — reads the user's repository into memory.
//! * [`output`] — the one printer (stdout data, stderr humans).
//! * [`commands`] — one thin module per command.
//! * [`cli`] — flags, settings, exit codes.

// Located diagnostics are large, and they are the cold path: boxing them buys nothing.
#![allow(clippy::result_large_err)]

pub mod aws;
pub mod cli;
pub mod commands;
pub mod core;
pub mod executor;
pub mod ops;
pub mod output;
pub mod repo;
