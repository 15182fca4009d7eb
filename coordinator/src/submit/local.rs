// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator submit --driver local`: packs the context exactly as for the fleet (so
//! `.dockerignore` applies the same way), unpacks it into a temporary directory, runs the
//! in-process driver ([`crate::driver::local`]) and follows its events with the same tracker,
//! display, summary, files and exit codes as `--driver nats`.

use std::process::ExitCode;

use anyhow::Context as _;
use kaniko_common::messages::ContextRef;
use kaniko_worker::cli::BuildRegistryFlags;
use kaniko_worker::config::{BuildSettings, RunSettings};
use tokio::sync::mpsc;

use super::follow::Tracker;
use super::{SubmitArgs, build_request, report};
use crate::driver::local::{self, LocalBuild};

/// What every platform's build gets besides the registry flags: the secrets (checked now,
/// before anything is packed), the RUN cache directory and its scope.
fn run_settings(flags: &super::LocalRegistryArgs) -> anyhow::Result<RunSettings> {
    RunSettings::from_flags(&flags.run).map_err(anyhow::Error::msg)
}

/// Runs the build of `args` in this process.
pub async fn run(args: &SubmitArgs) -> anyhow::Result<ExitCode> {
    if args.detach {
        anyhow::bail!("--detach needs --driver nats: the local driver builds in this process");
    }
    let run = run_settings(&args.local)?;
    let packed = super::validated_context(args).await?;
    let work = tempfile::Builder::new()
        .prefix("kaniko-local-")
        .tempdir()
        .context("creating a temporary directory for the context")?;
    let unpacked = work.path().join("context");
    kaniko_worker::serve::task::unpack(packed.file.path(), &unpacked)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let context = ContextRef {
        sha256: packed.sha256.clone(),
        size: packed.size,
    };
    let request = build_request(args, context, packed.dockerfile.clone())?;
    let (flags, registry) = (&args.local, &args.registry);
    let build_id = crate::actors::api::new_build_id();
    let build = LocalBuild {
        build_id: build_id.clone(),
        request,
        context_dir: unpacked,
        settings: BuildSettings {
            registry: BuildRegistryFlags {
                access: registry.flags.clone(),
                mirrors: flags.mirrors.clone(),
                ..BuildRegistryFlags::default()
            },
            run,
            ..BuildSettings::default()
        },
        index_registry: registry.options(),
        max_attempts: flags.retries.saturating_add(1),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(local::run(build, tx));
    eprintln!("build {build_id} running locally");
    let mut tracker = Tracker::default();
    let follow = super::follow_channel(&mut rx, args.quiet, &mut tracker);
    let outcome = match args.timeout {
        Some(limit) => match tokio::time::timeout(limit, follow).await {
            Ok(outcome) => outcome,
            Err(_) => {
                driver.abort();
                anyhow::bail!(
                    "build {build_id} did not finish within {limit:?}: {}",
                    tracker.unfinished()
                );
            }
        },
        None => follow.await,
    };
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            driver
                .await
                .context("the local driver stopped")?
                .map_err(anyhow::Error::new)?;
            anyhow::bail!("the local driver ended before build {build_id} finished");
        }
    };
    drop(work);
    report(args, &build_id, &outcome)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: super::super::LocalRegistryArgs,
    }

    #[test]
    fn the_run_cache_dir_and_scope_reach_every_build() {
        let parsed = Wrapper::try_parse_from([
            "submit",
            "--run-cache-dir",
            "/var/cache/runs",
            "--run-cache-scope",
            "worker",
        ])
        .unwrap();
        // The worker's runner hands these to every build (its own tests show them arrive).
        assert_eq!(
            run_settings(&parsed.args).unwrap(),
            RunSettings {
                secrets: Vec::new(),
                cache_dir: Some("/var/cache/runs".into()),
                cache_scope: kaniko_worker::config::RunCacheScope::Worker,
            }
        );
        assert!(Wrapper::try_parse_from(["submit", "--run-cache-scope", "tenant"]).is_err());
    }
}
