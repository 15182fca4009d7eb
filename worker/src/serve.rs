// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `worker serve`: the NATS task consumer. Announces the worker (heartbeats on
//! `workers.<id>` and in the workers KV bucket), binds the durable pull consumer of every
//! platform it serves (the native consumer for this host's platform, the cross consumer for
//! a foreign one served with `--allow-cross`), builds up to `--concurrency` tasks at once (see [`task`] for one
//! task's life), aborts the tasks of cancelled builds, and on shutdown stops pulling, lets
//! in-flight builds finish within a grace period, hands back what is left and says goodbye
//! with a `leaving` heartbeat.
//!
//! [`run`] takes a [`ServeConfig`], an executor and a shutdown token, so tests can run a
//! worker in-process as well as spawn the binary.

pub mod logs;
pub mod task;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt;
use kaniko_common::messages::{Heartbeat, WorkerInfo};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::{Names, sanitize_token, validate_token};
use kaniko_nats::{self as bus, Bus, BusSettings, ConsumerSettings, NatsOptions};
use kaniko_retry::RetryPolicy;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::cli::BuildRegistryFlags;

pub use crate::runner::{BoxFuture, Built, ExecError, LogSink, Runner, TaskExecutor};
/// The shutdown signal [`run`] takes.
pub use tokio_util::sync::CancellationToken;

/// How long one pull waits for a task before checking for shutdown again.
const PULL_WAIT: Duration = Duration::from_secs(2);

/// A validated `worker serve` configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// How to reach NATS.
    pub nats: NatsOptions,
    /// The NATS names' prefix.
    pub names: Names,
    /// This worker's id, a subject token.
    pub id: String,
    /// The host's platform: the only one RUN executes for.
    pub native: Platform,
    /// The platforms served, native first.
    pub platforms: Vec<Platform>,
    /// Whether foreign platforms are served (cross-safe tasks only).
    pub allow_cross: bool,
    /// Builds in flight at most.
    pub concurrency: u32,
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// How long in-flight builds may run on after a shutdown request.
    pub grace_period: Duration,
    /// Settings of the streams created when missing.
    pub bus: BusSettings,
    /// Settings of the consumers created when missing.
    pub consumer: ConsumerSettings,
    /// The delay before the first redelivery of a task that failed transiently; doubled
    /// for each further delivery (see [`crate::runner::backoff`]).
    pub retry_backoff: Duration,
}

impl ServeConfig {
    /// The configuration of `worker serve` flags, validated.
    pub fn from_args(
        args: &crate::cli::ServeArgs,
    ) -> anyhow::Result<(ServeConfig, BuildRegistryFlags)> {
        let native = Platform::host();
        let mut platforms = vec![];
        for text in &args.platform {
            let platform = Platform::parse(text).with_context(|| format!("--platform {text}"))?;
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        if platforms.is_empty() {
            platforms.push(native.clone());
        }
        // Native first.
        platforms.sort_by_key(|p| *p != native);
        let names = Names::new(args.nats.prefix()?)?;
        let config = ServeConfig {
            nats: NatsOptions {
                connect_wait: Some(Duration::from_secs(args.nats_connect_timeout)),
                ..args.nats.options()
            },
            names,
            id: args.id.clone().unwrap_or_else(default_worker_id),
            native,
            platforms,
            allow_cross: args.allow_cross,
            concurrency: args.concurrency,
            heartbeat_interval: Duration::from_secs(args.heartbeat_interval),
            grace_period: Duration::from_secs(args.grace_period),
            bus: BusSettings {
                replicas: args.replicas,
                ..BusSettings::default()
            },
            consumer: ConsumerSettings {
                ack_wait: Duration::from_secs(args.ack_wait.max(1)),
                max_deliver: args.max_deliver,
            },
            retry_backoff: Duration::try_from_secs_f64(args.retry_backoff).map_err(|_| {
                anyhow::anyhow!(
                    "--retry-backoff {}: not a number of seconds",
                    args.retry_backoff
                )
            })?,
        };
        config.validate()?;
        Ok((config, args.registry.clone()))
    }

    /// Checks what flags cannot: platforms served without `--allow-cross`, ids, counts.
    pub fn validate(&self) -> anyhow::Result<()> {
        validate_token("worker id", &self.id)?;
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if self.platforms.is_empty() {
            bail!("--platform: no platform to serve");
        }
        if !self.allow_cross
            && let Some(foreign) = self.platforms.iter().find(|p| **p != self.native)
        {
            bail!(
                "--platform {foreign} is not this host's platform {}: add --allow-cross to serve \
                 its cross-safe tasks",
                self.native
            );
        }
        if self.heartbeat_interval.is_zero() {
            bail!("--heartbeat-interval must be more than zero");
        }
        Ok(())
    }
}

/// The durable consumer a worker pulls `platform`'s tasks from: the platform's native
/// consumer (`Names::tasks`) when it is this host's platform; the cross consumer
/// (`Names::tasks_cross`, where the coordinator routes cross-safe tasks that no live native
/// worker can take) when it is foreign. Created when missing, with the same settings.
async fn bind_consumer(
    bus: &Bus,
    config: &ServeConfig,
    platform: &Platform,
) -> anyhow::Result<async_nats::jetstream::consumer::PullConsumer> {
    if *platform == config.native {
        return Ok(bus.tasks_consumer(platform, &config.consumer).await?);
    }
    let names = bus.names();
    let name = names.tasks_cross_consumer(platform)?;
    let wanted = async_nats::jetstream::consumer::pull::Config {
        durable_name: Some(name.clone()),
        description: Some(format!("kaniko-rs cross workers of {platform}")),
        filter_subject: names.tasks_cross(platform)?,
        deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
        ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
        ack_wait: config.consumer.ack_wait,
        max_deliver: config.consumer.max_deliver,
        ..Default::default()
    };
    let stream_name = names.tasks_stream();
    let stream = bus
        .js()
        .get_stream(&stream_name)
        .await
        .with_context(|| format!("opening stream {stream_name}"))?;
    stream
        .get_or_create_consumer(&name, wanted)
        .await
        .with_context(|| format!("creating consumer {name}"))
}

/// A default worker id: the host name as a token plus a random suffix.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_else(|_| "worker".to_string());
    let suffix: u32 = rand::random();
    let mut id = sanitize_token(host.trim());
    id.truncate(kaniko_common::subjects::MAX_TOKEN_LEN - 9);
    format!("{id}-{suffix:08x}")
}

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The cancel tokens of in-flight tasks, by build id.
#[derive(Debug, Default)]
pub(crate) struct Cancels {
    next: std::sync::atomic::AtomicU64,
    by_build: Mutex<HashMap<String, Vec<(u64, CancellationToken)>>>,
}

/// One in-flight task's registration in [`Cancels`].
#[derive(Debug, Clone)]
pub(crate) struct CancelHandle {
    id: u64,
    token: CancellationToken,
}

impl CancelHandle {
    /// Completes when the task's build is cancelled.
    pub(crate) async fn cancelled(&self) {
        self.token.cancelled().await
    }
}

impl Cancels {
    pub(crate) fn register(&self, build_id: &str) -> CancelHandle {
        let handle = CancelHandle {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            token: CancellationToken::new(),
        };
        if let Ok(mut map) = self.by_build.lock() {
            map.entry(build_id.to_string())
                .or_default()
                .push((handle.id, handle.token.clone()));
        }
        handle
    }

    pub(crate) fn unregister(&self, build_id: &str, handle: &CancelHandle) {
        if let Ok(mut map) = self.by_build.lock()
            && let Some(tokens) = map.get_mut(build_id)
        {
            tokens.retain(|(id, _)| *id != handle.id);
            if tokens.is_empty() {
                map.remove(build_id);
            }
        }
    }

    /// Cancels every in-flight task of `build_id`; returns how many.
    pub(crate) fn cancel(&self, build_id: &str) -> usize {
        let tokens = match self.by_build.lock() {
            Ok(mut map) => map.remove(build_id).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        for (_, token) in &tokens {
            token.cancel();
        }
        tokens.len()
    }
}

/// What every task handler shares.
pub(crate) struct Shared<E> {
    pub(crate) bus: Bus,
    pub(crate) executor: E,
    pub(crate) worker_id: String,
    pub(crate) native: Platform,
    pub(crate) ack_wait: Duration,
    pub(crate) retry_backoff: Duration,
    pub(crate) cancels: Cancels,
    /// Fired when the grace period is over: in-flight tasks are handed back.
    pub(crate) abort: CancellationToken,
}

/// Runs `worker serve` for the command line: the real executor, stopped by SIGTERM or
/// SIGINT.
pub async fn run_with_signals(args: &crate::cli::ServeArgs) -> anyhow::Result<()> {
    let (config, registry) = ServeConfig::from_args(args)?;
    let shutdown = CancellationToken::new();
    let signals = {
        let shutdown = shutdown.clone();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
            }
            shutdown.cancel();
        })
    };
    let runner = Runner::new(crate::config::BuildSettings {
        registry,
        ..crate::config::BuildSettings::from_serve_args(args)?
    });
    let result = run(config, runner, shutdown).await;
    signals.abort();
    result
}

/// Makes sure the streams exist. A worker of the secured layout (`coordinator nats-config`)
/// may not create them: until the coordinator has, it tries again for as long as it waits
/// for the server (`--nats-connect-timeout`). False when shut down while waiting.
async fn ensure_streams(
    bus: &Bus,
    config: &ServeConfig,
    nats: &NatsOptions,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    let policy = RetryPolicy::within(nats.connect_wait.unwrap_or_default())
        .with_backoff(Duration::from_millis(250), bus::WAIT_PAUSE_MAX);
    let mut retrying = policy
        .start("creating the NATS streams (the coordinator creates them when this worker may not)");
    loop {
        let err = match bus.ensure(&config.bus).await {
            Ok(()) => return Ok(true),
            Err(err) => err,
        };
        tokio::select! {
            again = retrying.again(&err) => if !again {
                return Err(anyhow::Error::new(err).context("creating the NATS streams"));
            },
            () = shutdown.cancelled() => return Ok(false),
        }
    }
}

/// Runs `worker serve` until `shutdown` is cancelled, building with `executor`.
pub async fn run<E: TaskExecutor>(
    config: ServeConfig,
    executor: E,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let mut nats = config.nats.clone();
    if nats.name.is_none() {
        nats.name = Some(format!("kaniko-worker {}", config.id));
    }
    nats.inbox_prefix.get_or_insert_with(|| {
        config
            .names
            .role_inbox(kaniko_common::subjects::Role::Worker)
    });
    // A worker may start before nats-server: it waits (SIGTERM still ends the wait).
    let client = tokio::select! {
        client = bus::connect(&nats) => client?,
        () = shutdown.cancelled() => {
            tracing::info!("shut down before NATS was reachable");
            return Ok(());
        }
    };
    let bus = Bus::new(client.clone(), config.names.clone());
    if !ensure_streams(&bus, &config, &nats, &shutdown).await? {
        tracing::info!("shut down before the NATS streams were there");
        return Ok(());
    }

    let mut consumers = Vec::new();
    for platform in &config.platforms {
        let consumer = bind_consumer(&bus, &config, platform)
            .await
            .with_context(|| format!("binding the task consumer of {platform}"))?;
        consumers.push((platform.clone(), consumer));
    }
    let ack_wait = consumers
        .first()
        .map(|(_, c)| c.cached_info().config.ack_wait)
        .unwrap_or(config.consumer.ack_wait);

    let shared = Arc::new(Shared {
        bus: bus.clone(),
        executor,
        worker_id: config.id.clone(),
        native: config.native.clone(),
        ack_wait,
        retry_backoff: config.retry_backoff,
        cancels: Cancels::default(),
        abort: CancellationToken::new(),
    });
    let busy = Arc::new(AtomicU32::new(0));
    let template = WorkerInfo {
        id: config.id.clone(),
        native: config.native.clone(),
        platforms: config.platforms.clone(),
        allow_cross: config.allow_cross,
        capacity: config.concurrency,
        busy: 0,
        version: kaniko_common::version::VERSION.to_string(),
        last_seen_unix_ms: 0,
    };
    let info = move |busy: u32| WorkerInfo {
        busy,
        last_seen_unix_ms: now_ms(),
        ..template.clone()
    };

    // Cancel broadcasts.
    let mut cancel_sub = client
        .subscribe(bus.names().cancel_all())
        .await
        .context("subscribing to cancel broadcasts")?;
    let cancel_task = {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some(message) = cancel_sub.next().await {
                if let Ok(build_id) = shared.bus.names().parse_cancel(&message.subject) {
                    let n = shared.cancels.cancel(build_id);
                    tracing::info!(build_id, tasks = n, "build cancelled");
                }
            }
        })
    };

    // Heartbeats.
    let heartbeat_stop = CancellationToken::new();
    let heartbeat_task = {
        let bus = bus.clone();
        let busy = busy.clone();
        let stop = heartbeat_stop.clone();
        let info = info.clone();
        let interval = config.heartbeat_interval;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.cancelled() => break,
                }
                let heartbeat = Heartbeat {
                    worker: info(busy.load(Ordering::Relaxed)),
                    at_unix_ms: now_ms(),
                    leaving: false,
                };
                if let Err(err) = bus.publish_heartbeat(&heartbeat).await {
                    tracing::warn!(error = %err, "publishing a heartbeat");
                }
            }
        })
    };
    tracing::info!(
        worker_id = %config.id,
        native = %config.native,
        platforms = %config.platforms.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        concurrency = config.concurrency,
        "worker serving"
    );

    // Pull loops, one per platform, sharing the build slots.
    let slots = Arc::new(Semaphore::new(config.concurrency as usize));
    let mut pullers = Vec::new();
    for (platform, consumer) in consumers {
        let max_deliver = consumer.cached_info().config.max_deliver;
        let (slots, shared, busy, shutdown) = (
            slots.clone(),
            shared.clone(),
            busy.clone(),
            shutdown.clone(),
        );
        pullers.push(tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    _ = shutdown.cancelled() => break,
                };
                let batch = consumer
                    .batch()
                    .max_messages(1)
                    .expires(PULL_WAIT)
                    .messages()
                    .await;
                let mut batch = match batch {
                    Ok(batch) => batch,
                    Err(err) => {
                        tracing::warn!(%platform, error = %err, "pulling tasks");
                        tokio::select! {
                            _ = tokio::time::sleep(PULL_WAIT) => continue,
                            _ = shutdown.cancelled() => break,
                        }
                    }
                };
                let message = tokio::select! {
                    message = batch.next() => message,
                    _ = shutdown.cancelled() => None,
                };
                match message {
                    Some(Ok(message)) => {
                        if shutdown.is_cancelled() {
                            let _ = message
                                .ack_with(async_nats::jetstream::AckKind::Nak(None))
                                .await;
                            break;
                        }
                        let shared = shared.clone();
                        let busy = busy.clone();
                        busy.fetch_add(1, Ordering::Relaxed);
                        let span = tracing::info_span!("task", %platform);
                        tokio::spawn(
                            async move {
                                task::handle(shared, message, max_deliver).await;
                                busy.fetch_sub(1, Ordering::Relaxed);
                                drop(permit);
                            }
                            .instrument(span),
                        );
                    }
                    Some(Err(err)) => tracing::debug!(%platform, error = %err, "pull"),
                    None => {}
                }
                if shutdown.is_cancelled() {
                    break;
                }
            }
        }));
    }

    shutdown.cancelled().await;
    tracing::info!("shutting down: no new tasks");
    for puller in pullers {
        let _ = puller.await;
    }
    // Every build slot back means every handler is done.
    if tokio::time::timeout(config.grace_period, slots.acquire_many(config.concurrency))
        .await
        .is_err()
    {
        tracing::warn!(grace = ?config.grace_period, "grace period over: handing back in-flight tasks");
        shared.abort.cancel();
        let _ = slots.acquire_many(config.concurrency).await;
    }
    heartbeat_stop.cancel();
    let _ = heartbeat_task.await;
    cancel_task.abort();
    let leaving = Heartbeat {
        worker: info(0),
        at_unix_ms: now_ms(),
        leaving: true,
    };
    bus.publish_heartbeat(&leaving)
        .await
        .context("publishing the leaving heartbeat")?;
    client.flush().await.context("flushing NATS")?;
    tracing::info!(worker_id = %config.id, "worker left");
    Ok(())
}
