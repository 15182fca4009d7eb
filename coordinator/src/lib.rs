// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! kaniko-rs coordinator: fans one build out per platform to native workers and publishes the multi-arch index.

use std::process::ExitCode;

pub mod cli;
pub mod context;
pub mod submit;

/// Runs one invocation of the `coordinator` command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Submit(args) => {
            install_cli_subscriber();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(submit::run(&args))
        }
    }
}

/// The tracing subscriber of short-lived CLI commands: warnings and errors on stderr unless
/// `RUST_LOG` says otherwise.
fn install_cli_subscriber() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
