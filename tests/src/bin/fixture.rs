// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `fixture` binary behind `make demo`: pushes the busybox fixture image (an OCI index
//! over the harness's busybox platforms, built from the host's busybox binary) to a
//! plain-HTTP registry, so the demo works offline.

use std::process::ExitCode;

use clap::Parser;
use kaniko_registry::{RegistryClient, RegistryOptions};
use kaniko_tests::fixture::push_busybox_with;

/// Pushes the busybox fixture to a registry reached over plain HTTP.
#[derive(Debug, Parser)]
#[command(name = "fixture")]
struct Cli {
    /// The registry, `host:port`.
    #[arg(long)]
    registry: String,
    /// The repository the fixture is pushed to, as `<repository>:latest`.
    #[arg(long, default_value = "busybox")]
    repository: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let pushed: anyhow::Result<_> = async {
        let client = RegistryClient::new(RegistryOptions::insecure(cli.registry.clone()))?;
        push_busybox_with(&client, &cli.registry, &cli.repository).await
    }
    .await;
    match pushed {
        Ok(image) => {
            // The one line of output is what scripts read.
            println!("{}@{}", image.reference, image.index_digest);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("fixture: pushing busybox to {}: {err:#}", cli.registry);
            ExitCode::FAILURE
        }
    }
}
