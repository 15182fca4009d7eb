// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `coordinator` command line.

use clap::{Parser, Subcommand};

/// kaniko-rs coordinator: fans one build out per platform to native workers and publishes the multi-arch index.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version = kaniko_common::version::VERSION, long_version = kaniko_common::version::LONG_VERSION)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `coordinator` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a build and follow it to the published index.
    Submit(Box<crate::submit::SubmitArgs>),
}
