// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! kaniko-rs worker: builds one Dockerfile for one platform, daemonless and unprivileged.
//!
//! The public surface is the embedding API and what the coordinator shares: [`run()`]
//! (the `worker` command line, flags in [`cli`], validated by [`config`]), [`runner`] (a typed
//! task built in-process with the worker's [`config::BuildSettings`], its log lines
//! captured by [`runner::CaptureLayer`], failures classified and retried), [`serve`]
//! (`worker serve`), [`context_files`] and [`dockerignore`] (a context's Dockerfile and
//! ignore file), the [`sandbox`] helper's entry and [`rootless`] re-entry, and [`blobs`],
//! [`image`] and [`output`] (the image model and its outputs, which the end-to-end tests
//! drive). Everything else is the build's own, grouped by the pipeline a build follows:
//! the executor's stage loop, the stage model (base, instructions, users, the base's file
//! index), COPY/ADD (`copy`), RUN (`run`, next to `sandbox`, `snapshot` and the layer
//! [`store`] its stage roots stack on), tar extraction
//! contained in its root (`unpack`, `inroot`), and the outputs.

use std::process::ExitCode;

// Entry points and the embedding API.
pub mod cli;
pub mod config;
pub mod rootless;
pub mod runner;
pub mod serve;

// The build context.
pub mod context_files;
pub mod dockerignore;

// The executor and the stage model.
pub(crate) mod base;
pub mod cache;
pub(crate) mod executor;
pub(crate) mod fsindex;
pub(crate) mod instructions;
pub mod progress;
pub(crate) mod stage;
pub(crate) mod users;

// COPY/ADD; RUN with its sandbox and snapshots.
pub(crate) mod copy;
pub(crate) mod run;
pub mod sandbox;
pub(crate) mod snapshot;
/// The worker-local layer store RUN stacks stage roots on (`worker store`, `worker warm`).
pub mod store;

// Layers in and out: contained extraction, the image model, the outputs.
pub mod blobs;
pub mod image;
pub(crate) mod inroot;
pub mod output;
pub(crate) mod unpack;

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
            executor::run(&config)?;
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
        cli::Command::Store(command) => store::commands::run_store(&command),
        cli::Command::Warm(args) => {
            progress::install_subscriber(&config::LogOptions {
                verbosity: config::Verbosity::Info,
                format: config::LogFormat::Text,
                timestamp: false,
            });
            store::commands::run_warm(&args)
        }
    }
}
