//! End-to-end tests of the real binary. One test binary (ripgrep style): each module is a
//! command, each test gets its own copy of the example repository.

mod aws;
mod aws_adopt;
mod aws_apply;
mod aws_destroy;
mod aws_import;
mod aws_nodes;
mod aws_plan;
mod aws_rolling;
mod aws_safety;
mod aws_upgrade;
mod bad_input;
mod common;
mod lint;
mod readme;
mod render;
mod aws_lessons;
mod misc;
