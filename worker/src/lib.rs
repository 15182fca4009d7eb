// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! kaniko-rs worker: builds one Dockerfile for one platform, daemonless and unprivileged.
//!
//! Modules: [`cli`] (raw flags) and [`config`] (validated build configuration) for
//! `worker build`; [`dockerignore`], [`glob`] (COPY/ADD sources) and [`users`] (`--chown`,
//! `USER`, `HOME`) are the pure pieces the build executor uses; [`image`] is the image model
//! the executor and the outputs share.

use std::process::ExitCode;

use anyhow::bail;

pub mod cli;
pub mod config;
pub mod dockerignore;
pub mod glob;
pub mod image;
pub mod users;

/// Runs one invocation of the `worker` command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Build(args) => {
            let config = config::BuildConfig::from_args(&args)?;
            tracing::debug!(?config, "build configuration");
            bail!(
                "worker build: flags are valid, but the image builder is not implemented yet \
                 (target platform {})",
                config.platform
            )
        }
        cli::Command::Serve(args) => {
            bail!(
                "worker serve is not implemented yet (it would connect to NATS at {})",
                args.nats
            )
        }
    }
}
