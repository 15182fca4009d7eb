// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! kaniko-rs coordinator: fans one build out per platform to native workers and publishes the multi-arch index.

use std::process::ExitCode;

pub mod cli;

/// Runs one invocation of the `coordinator` command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let cli::Cli {} = cli;
    Ok(ExitCode::SUCCESS)
}
