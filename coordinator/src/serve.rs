// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator serve`: loads the policy (`--policy`), connects to NATS, makes sure the
//! streams, buckets and object stores exist (each policy identity's too), starts the actors under an actix `System`, takes over the builds of
//! the BUILDS bucket whose lease ran out ([`crate::policy::lease`]: unfinished builds of a
//! coordinator that died or restarted), and serves until shut down, when it gives up its
//! builds' leases so another coordinator takes them over at once. [`run`] is the daemon inside a running
//! system; [`run_blocking`] is the CLI's entry; [`spawn`] runs it on its own thread for
//! tests and embedding.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use futures::StreamExt;
use kaniko_common::subjects::{Names, Role};
use kaniko_nats::{self as bus, NatsOptions};
use kaniko_registry::{RegistryClient, RegistryOptions};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::actors::api::{ApiActor, ReleaseAll};
use crate::actors::fleet::{FleetActor, decode_presence};
use crate::actors::index::IndexActor;
use crate::authz::Policy;
use crate::bus::{FleetBus, StreamSettings};
use crate::policy::lease::Ownership;

/// Everything `coordinator serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// NATS connection.
    pub nats: NatsOptions,
    /// Subject and stream prefix.
    pub prefix: String,
    /// Settings for streams created on start.
    pub streams: StreamSettings,
    /// How the index actor reaches registries.
    pub registry: RegistryOptions,
    /// Workers' heartbeat interval; a worker is forgotten after 3 of them.
    pub heartbeat_interval: Duration,
    /// The authorization policy (`--policy`); `None` serves the open, anonymous API.
    pub policy: Option<PathBuf>,
    /// This coordinator's id and its builds' lease timing (`--lease`, `--lease-renew`).
    pub ownership: Ownership,
}

/// Runs the coordinator inside the current actix system until `shutdown` completes.
pub async fn run(config: ServeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let names = Names::new(&config.prefix)?;
    let policy = match &config.policy {
        Some(path) => Some(Arc::new(Policy::load(path)?)),
        None => None,
    };
    let registry = RegistryClient::new(config.registry.clone()).context("registry client")?;
    let mut options = config.nats.clone();
    options
        .name
        .get_or_insert_with(|| "kaniko-coordinator".to_string());
    options
        .inbox_prefix
        .get_or_insert_with(|| names.role_inbox(Role::Coordinator));
    // The coordinator may start before nats-server: it waits. `shutdown` is not polled
    // until the coordinator serves (it reports readiness when first polled); SIGTERM still
    // ends the wait, its handler is not installed yet.
    let client = bus::connect(&options).await?;
    let driver = FleetBus::open(client.clone(), names.clone(), &config.streams).await?;
    // Each identity's contexts store and events stream, which its permissions name.
    for (identity, _) in policy.iter().flat_map(|policy| policy.identities()) {
        driver
            .bus
            .ensure_identity(identity, &config.streams)
            .await
            .with_context(|| format!("creating the streams of identity {identity}"))?;
    }

    let heartbeats = client.subscribe(names.workers_all()).await?;
    let mut known = Vec::new();
    if let Ok(workers) = driver.js.get_key_value(names.workers_bucket()).await
        && let Ok(mut keys) = workers.keys().await
    {
        while let Some(Ok(key)) = keys.next().await {
            if let Ok(Some(bytes)) = workers.get(&key).await
                && let Some(beat) = decode_presence(&bytes)
            {
                known.push(beat);
            }
        }
    }
    let fleet = FleetActor::new(heartbeats, known, config.heartbeat_interval * 3).start();
    let index = IndexActor::new(registry).start();
    let identities = policy
        .as_ref()
        .map_or(0, |policy| policy.identities().count());
    let ownership = Arc::new(config.ownership.clone());
    // Started, the ApiActor takes over the stored builds whose lease ran out (all the
    // unfinished ones after a restart of the only coordinator, once their lease ends).
    let api = ApiActor::subscribe(driver.clone(), fleet, index, policy, ownership.clone())
        .await?
        .start();
    client.flush().await.context("flushing subscriptions")?;
    info!(prefix = %names.prefix(), identities, coordinator = %ownership.id, lease = ?ownership.lease, "coordinator serving");
    shutdown.await;
    info!("coordinator shutting down: giving up its builds' leases");
    if let Err(err) = api.send(ReleaseAll).await {
        warn!("giving up the leases: {err}");
    }
    Ok(())
}

/// Runs the coordinator in a new actix system on this thread until SIGINT or SIGTERM.
pub fn run_blocking(config: ServeConfig) -> anyhow::Result<()> {
    actix::System::new().block_on(run(config, signal()))
}

/// Ctrl-C (SIGINT) or SIGTERM, whichever comes first.
pub(crate) async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A coordinator running on its own thread (see [`spawn`]).
pub struct ServeHandle {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl ServeHandle {
    /// Stops the coordinator and waits for its thread.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("the coordinator thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Starts the coordinator on a new thread with its own actix system and returns once it
/// serves (or failed to start).
pub fn spawn(config: ServeConfig) -> anyhow::Result<ServeHandle> {
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready, is_ready) = std::sync::mpsc::channel::<anyhow::Result<()>>();
    let thread = std::thread::Builder::new()
        .name("coordinator".into())
        .spawn(move || {
            let system = actix::System::new();
            let result = system.block_on(async move {
                let ready_on_serve = ready.clone();
                let shutdown = async move {
                    let _ = ready_on_serve.send(Ok(()));
                    let _ = stopped.await;
                };
                let result = run(config, shutdown).await;
                if let Err(err) = &result {
                    let _ = ready.send(Err(anyhow::anyhow!("{err:#}")));
                }
                result
            });
            System::current().stop();
            result
        })
        .context("starting the coordinator thread")?;
    let mut handle = ServeHandle {
        stop: Some(stop),
        thread: Some(thread),
    };
    match is_ready.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(err)) => {
            let _ = handle.shutdown();
            Err(err)
        }
        Err(_) => Err(handle
            .shutdown()
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("the coordinator stopped before serving"))),
    }
}
