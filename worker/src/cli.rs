// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `worker` command line.

use clap::Parser;

/// kaniko-rs worker: builds one Dockerfile for one platform, daemonless and unprivileged.
#[derive(Debug, Parser)]
#[command(name = "worker", version = kaniko_common::version::VERSION, long_version = kaniko_common::version::LONG_VERSION)]
pub struct Cli {}
