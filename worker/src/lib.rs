// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! kaniko-rs worker: builds one Dockerfile for one platform, daemonless and unprivileged.
//!
//! Modules: [`cli`] (raw flags) and [`config`] (validated build configuration) for
//! `worker build`; [`dockerignore`], [`glob`] (COPY/ADD sources) and [`users`] (`--chown`,
//! `USER`, `HOME`) are the pure pieces the build executor uses; [`image`] is the image model
//! the executor and the outputs share.

use std::process::ExitCode;

pub mod archive;
pub mod base;
pub mod blobs;
pub mod build;
pub mod cli;
pub mod config;
pub mod context_files;
pub mod copy;
pub mod dockerignore;
pub mod fsindex;
pub mod glob;
pub mod image;
pub mod inroot;
pub mod instructions;
pub mod output;
pub mod progress;
pub mod rootless;
pub mod sandbox;
pub mod secrets;
pub mod serve;
pub mod snapshot;
pub mod stage;
pub mod unpack;
pub mod users;

/// Runs one invocation of the `worker` command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    // An ordinary user with a subordinate id range works as root of a user namespace.
    if let Some(code) = rootless::enter() {
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    match cli.command {
        cli::Command::Build(args) => {
            let config = config::BuildConfig::from_args(&args)?;
            progress::install_subscriber(&config.log);
            tracing::debug!(?config, "build configuration");
            build::run(&config)?;
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::Serve(args) => {
            serve::logs::install_subscriber();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve::run_with_signals(&args))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
