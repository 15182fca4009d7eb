// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! kaniko-rs coordinator: fans one build out per platform to native workers and publishes the multi-arch index.

use std::process::ExitCode;

pub mod actors;
pub mod authz;
pub mod bus;
pub mod cache_gc;
pub mod cli;
pub mod context;
pub mod driver;
pub mod nats_config;
pub mod policy;
pub mod serve;
pub mod submit;
pub mod verbs;
pub mod verify;

use cli::Command;

/// Runs one invocation of the `coordinator` command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    if let Command::Serve(args) = &cli.command {
        install_subscriber("info");
        args.install_signing_key()?;
        serve::run_blocking(args.config()?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::NatsConfig(args) = &cli.command {
        nats_config::run(args)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Submit(args) = cli.command {
        install_subscriber("warn");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(submit::run(&args));
    }
    if let Command::Index(args) = cli.command {
        install_subscriber("warn");
        let config = driver::ci::CiConfig::from_index_args(&args)?;
        if args.publish.signing.sign_images && !args.publish_index {
            anyhow::bail!(
                "--sign-images signs the published index and its platforms: it needs --publish-index"
            );
        }
        if args.publish.sbom && !args.publish_index {
            anyhow::bail!(
                "--sbom is attached by the publishing of the index: it needs --publish-index"
            );
        }
        args.publish.install_signing_key()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(driver::ci::run_cli(&config));
    }
    // The registry verbs: a warn-level subscriber and a current-thread runtime each.
    match &cli.command {
        Command::Verify(args) => return registry_verb(verify::verify(args)),
        Command::Referrers(args) => return registry_verb(verify::referrers(args)),
        Command::Sbom(args) => return registry_verb(verify::sbom(args)),
        Command::Cache(command) => return registry_verb(cache_gc::run(command)),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(client_verb(cli.command))
}

async fn client_verb(command: Command) -> anyhow::Result<ExitCode> {
    let ok = |_: ()| ExitCode::SUCCESS;
    match command {
        Command::Serve(_)
        | Command::Submit(_)
        | Command::Index(_)
        | Command::NatsConfig(_)
        | Command::Verify(_)
        | Command::Referrers(_)
        | Command::Sbom(_)
        | Command::Cache(_) => Ok(ExitCode::SUCCESS),
        Command::Workers { client, json } => {
            let api = verbs::ApiClient::connect(&client).await?;
            verbs::workers(&api, json).await.map(ok)
        }
        Command::Status {
            client,
            build,
            json,
        } => {
            let api = verbs::ApiClient::connect(&client).await?;
            let fine = verbs::status(&api, &build, json).await?;
            Ok(if fine {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Logs { client, build } => {
            let api = verbs::ApiClient::connect(&client).await?;
            verbs::logs(&api, &build).await.map(ok)
        }
        Command::Cancel {
            client,
            build,
            reason,
        } => {
            let api = verbs::ApiClient::connect(&client).await?;
            verbs::cancel(&api, &build, reason).await.map(ok)
        }
        Command::List {
            client,
            active,
            limit,
            json,
        } => {
            let api = verbs::ApiClient::connect(&client).await?;
            let request = kaniko_common::messages::ListRequest {
                active_only: active,
                limit,
            };
            verbs::list(&api, request, json).await.map(ok)
        }
    }
}

/// The tracing subscriber on stderr, filtered by `RUST_LOG` or else `default`: `warn` for
/// short-lived commands, `info` for the daemon; colour only on a terminal; the local
/// driver's progress lines as their message.
/// Runs a verb that talks to registries only (`verify`, `referrers`, `sbom`, `cache`).
fn registry_verb(
    verb: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    install_subscriber("warn");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(verb)
}

fn install_subscriber(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .event_format(kaniko_worker::progress::TextLines {
            format: tracing_subscriber::fmt::format(),
            time: true,
        })
        .try_init();
}
