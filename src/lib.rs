//! fleetform: render, lint, plan and apply Kubernetes node fleets on AWS.
//!
//! * [`core`] — the pure core: model, values, render, lint. No I/O.
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
pub mod output;
pub mod repo;
