// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! kaniko-rs worker: builds one Dockerfile for one platform, daemonless and unprivileged.

use std::process::ExitCode;

pub mod base;
pub mod cli;
pub mod image;
pub mod instructions;
pub mod progress;

/// Runs one invocation of the `worker` command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let cli::Cli {} = cli;
    Ok(ExitCode::SUCCESS)
}
