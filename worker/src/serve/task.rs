// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! One task message of `worker serve`, from delivery to ack: decode it (garbage is
//! terminated, reported when its build can be recovered), refuse what this worker must not
//! build, fetch and unpack the context, build it while sending in-progress acks, publish the
//! result, and then ack, terminate or nak by the policy in [`disposition`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind};
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{
    ErrorKind, Event, EventKind, Task, TaskOutcome, TaskResult, WireError,
};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::validate_token;
use kaniko_nats::Bus;
use kaniko_retry::RetryPolicy;

use super::{Built, ExecError, LogSink, TaskExecutor};
use super::{Shared, now_ms};
pub use crate::runner::{DEFAULT_RETRY_BACKOFF, MAX_RETRY_BACKOFF, backoff};
use crate::unpack::Limits;

/// How long the final ack of a built task is tried again while the server is away.
const ACK_RETRY_LIMIT: Duration = Duration::from_secs(30);

/// What to tell JetStream about a delivered task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done (built, result published).
    Ack,
    /// Never deliver again (final failure, result published).
    Term,
    /// Deliver again after this delay (transient failure, no result yet).
    Nak(Duration),
}

/// The policy: success is acked; a transient failure is nak'ed with [`backoff`] from `first`
/// until the last delivery, then it is final; every other failure is final at once.
pub fn disposition(
    outcome: &Result<Built, ExecError>,
    delivered: i64,
    max_deliver: i64,
    first: Duration,
) -> Disposition {
    match outcome {
        Ok(_) => Disposition::Ack,
        Err(err) if err.kind.is_retryable() && (max_deliver <= 0 || delivered < max_deliver) => {
            Disposition::Nak(backoff(first, delivered))
        }
        Err(_) => Disposition::Term,
    }
}

/// The build id of an undecodable task, from its `Nats-Msg-Id` (`<build>-<platform>-<n>`)
/// and the platform of its subject; `None` when it cannot be recovered for sure.
pub fn recover_build_id(msg_id: Option<&str>, platform: Option<&Platform>) -> Option<String> {
    let (msg_id, platform) = (msg_id?, platform?);
    let (rest, attempt) = msg_id.rsplit_once('-')?;
    attempt.parse::<u32>().ok()?;
    let build = rest.strip_suffix(&format!("-{}", platform.consumer_name()))?;
    validate_token("build id", build).ok()?;
    Some(build.to_string())
}

/// Why an in-flight build was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    Cancelled,
    Shutdown,
}

async fn ack(message: &jetstream::Message, kind: AckKind, what: &str) {
    if let Err(err) = message.ack_with(kind).await {
        tracing::warn!(error = %err, "sending {what} for a task");
    }
}

/// Handles one delivered task message to its ack.
pub(crate) async fn handle<E: TaskExecutor>(
    shared: Arc<Shared<E>>,
    message: jetstream::Message,
    max_deliver: i64,
) {
    let platform = shared.bus.names().parse_tasks(&message.subject).ok();
    let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
    let task: Task = match decode_internal(&message.payload) {
        Ok(task) => task,
        Err(err) => {
            let msg_id = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_string());
            tracing::warn!(subject = %message.subject, error = %err, "undecodable task terminated");
            if let (Some(build_id), Some(platform)) = (
                recover_build_id(msg_id.as_deref(), platform.as_ref()),
                platform.as_ref(),
            ) {
                let result = TaskResult {
                    build_id,
                    task_id: msg_id.unwrap_or_default(),
                    platform: platform.clone(),
                    worker_id: shared.worker_id.clone(),
                    attempt: 0,
                    outcome: TaskOutcome::Failed(WireError::from(err)),
                };
                publish_result(&shared.bus, &result).await;
            }
            ack(&message, AckKind::Term, "term").await;
            return;
        }
    };
    let started = Instant::now();
    let fail = |error: WireError| TaskResult {
        build_id: task.build_id.clone(),
        task_id: task.task_id.clone(),
        platform: task.platform.clone(),
        worker_id: shared.worker_id.clone(),
        attempt: task.attempt,
        outcome: TaskOutcome::Failed(error),
    };

    // Defence: the coordinator never routes a task that runs RUN to a foreign worker.
    if task.platform != shared.native && !task.cross_safe {
        let error = WireError::refused(format!(
            "task for {} needs RUN on its platform but worker {} is {}",
            task.platform, shared.worker_id, shared.native
        ));
        tracing::warn!(build_id = %task.build_id, %error, "refused");
        publish_result(&shared.bus, &fail(error)).await;
        ack(&message, AckKind::Term, "term").await;
        return;
    }
    if let Some(deadline) = task.deadline_unix_ms
        && now_ms() >= deadline
    {
        let error = WireError::new(
            ErrorKind::Timeout,
            format!(
                "build {} passed its deadline before platform {} started",
                task.build_id, task.platform
            ),
        );
        publish_result(&shared.bus, &fail(error)).await;
        ack(&message, AckKind::Term, "term").await;
        return;
    }

    // The bus of the build's owner: its context store and events stream.
    let owned = match shared.bus.for_owner(task.owner.as_deref()) {
        Ok(bus) => bus,
        Err(err) => {
            let error = WireError::refused(format!("task of build {}: {err}", task.build_id));
            publish_result(&shared.bus, &fail(error)).await;
            ack(&message, AckKind::Term, "term").await;
            return;
        }
    };

    let cancel = shared.cancels.register(&task.build_id);
    let started_event = Event {
        build_id: task.build_id.clone(),
        at_unix_ms: now_ms(),
        kind: EventKind::PlatformStarted {
            platform: task.platform.clone(),
            worker_id: shared.worker_id.clone(),
            attempt: task.attempt,
        },
    };
    if let Err(err) = owned.publish_event(&started_event).await {
        tracing::warn!(build_id = %task.build_id, error = %err, "publishing platform_started");
    }

    let (sink, lines) = LogSink::new();
    let forwarder = tokio::spawn(super::logs::forward(
        owned.clone(),
        task.build_id.clone(),
        task.platform.clone(),
        lines,
    ));
    let run = run_task(&shared, &owned, &task, sink);
    let progress_every = shared.ack_wait / 3;
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + progress_every,
        progress_every.max(Duration::from_millis(100)),
    );
    let deadline = task
        .deadline_unix_ms
        .map(|ms| Duration::from_millis(ms.saturating_sub(now_ms())));
    let timeout = async {
        match deadline {
            Some(left) => tokio::time::sleep(left).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(run, timeout);
    let outcome: Result<Result<Built, ExecError>, Stopped> = loop {
        tokio::select! {
            outcome = &mut run => break Ok(outcome),
            _ = ticker.tick() => ack(&message, AckKind::Progress, "in-progress ack").await,
            _ = cancel.cancelled() => break Err(Stopped::Cancelled),
            _ = shared.abort.cancelled() => break Err(Stopped::Shutdown),
            _ = &mut timeout => break Ok(Err(ExecError {
                kind: ErrorKind::Timeout,
                message: format!("build {} platform {} passed its deadline", task.build_id, task.platform),
            })),
        }
    };
    shared.cancels.unregister(&task.build_id, &cancel);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(Stopped::Shutdown) => {
            tracing::info!(build_id = %task.build_id, "worker shutting down: task handed back");
            ack(&message, AckKind::Nak(None), "nak").await;
            forwarder.abort();
            return;
        }
        Err(Stopped::Cancelled) => Err(ExecError {
            kind: ErrorKind::Cancelled,
            message: format!("build {} was cancelled", task.build_id),
        }),
    };
    // Let the last lines go out before the result.
    let _ = tokio::time::timeout(Duration::from_secs(2), forwarder).await;

    match disposition(&outcome, delivered, max_deliver, shared.retry_backoff) {
        Disposition::Ack => {
            if let Ok(built) = outcome {
                let result = TaskResult {
                    build_id: task.build_id.clone(),
                    task_id: task.task_id.clone(),
                    platform: task.platform.clone(),
                    worker_id: shared.worker_id.clone(),
                    attempt: task.attempt,
                    outcome: TaskOutcome::Built {
                        manifest: built.manifest,
                        config_digest: built.config_digest,
                        duration_ms: u64::try_from(started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                    },
                };
                tracing::info!(build_id = %task.build_id, platform = %task.platform, "built");
                if publish_result(&shared.bus, &result).await {
                    // Confirmed, and tried again through a reconnect: a lost ack would have
                    // the task built a second time after the ack wait.
                    let acked = kaniko_nats::retry("acking a task", ACK_RETRY_LIMIT, || {
                        message.double_ack()
                    })
                    .await;
                    if let Err(err) = acked {
                        tracing::warn!(build_id = %task.build_id, error = %err, "acking a task");
                    }
                } else {
                    // Nobody knows it was built: build it again rather than lose it.
                    ack(
                        &message,
                        AckKind::Nak(Some(backoff(shared.retry_backoff, delivered))),
                        "nak",
                    )
                    .await;
                }
            }
        }
        Disposition::Term => {
            if let Err(err) = outcome {
                let mut error = WireError::from(err);
                if error.kind.is_retryable() {
                    error.message =
                        format!("{} (gave up after {delivered} deliveries)", error.message);
                }
                tracing::warn!(build_id = %task.build_id, %error, "task failed");
                publish_result(&shared.bus, &fail(error)).await;
            }
            ack(&message, AckKind::Term, "term").await;
        }
        Disposition::Nak(delay) => {
            if let Err(err) = &outcome {
                tracing::warn!(build_id = %task.build_id, error = %err, ?delay, delivered, "transient failure, retrying");
            }
            ack(&message, AckKind::Nak(Some(delay)), "nak").await;
        }
    }
}

/// Publishes `result` (retried through a reconnect, see [`Bus::publish_result`]); false
/// when it could not be stored.
async fn publish_result(bus: &Bus, result: &TaskResult) -> bool {
    match bus.publish_result(result).await {
        Ok(_) => true,
        Err(err) => {
            tracing::error!(build_id = %result.build_id, error = %err, "publishing a task result");
            false
        }
    }
}

/// Fetches (from the owner's store, through `owned`), verifies and unpacks the context,
/// then builds.
async fn run_task<E: TaskExecutor>(
    shared: &Shared<E>,
    owned: &Bus,
    task: &Task,
    log: LogSink,
) -> Result<Built, ExecError> {
    let dir = tempfile::Builder::new()
        .prefix("kaniko-task-")
        .tempdir()
        .map_err(|err| ExecError::transient(format!("creating a temporary directory: {err}")))?;
    let tarball = dir.path().join("context.tar");
    fetch_context(owned, task, &tarball).await?;
    let context_dir = dir.path().join("context");
    let limits = shared.executor.context_limits(dir.path());
    unpack_within(&tarball, &context_dir, limits).await?;
    log.line(format!(
        "context sha256:{} ({} bytes) unpacked",
        task.context.sha256, task.context.size
    ));
    shared.executor.execute(task, &context_dir, log).await
}

/// How long a context download is started again after NATS failures or reconnects before
/// the task is handed back (nak'ed) instead.
const FETCH_RETRY_LIMIT: Duration = Duration::from_secs(30);
/// How long "not in the object store" is taken for a server still recovering its streams.
const FETCH_NOT_FOUND_GRACE: Duration = Duration::from_secs(3);

/// Downloads the task's context to `path`. A download interrupted by a NATS reconnect (the
/// object store's consumer is gone with the old server) starts again at once, and one that
/// fails is tried again shortly, instead of waiting for missed heartbeats and a redelivery.
async fn fetch_context(bus: &Bus, task: &Task, path: &Path) -> Result<(), ExecError> {
    use kaniko_nats::{BusError, ContextError, connects, reconnected};
    let policy = RetryPolicy::within(FETCH_RETRY_LIMIT);
    let what = format!("fetching the context of build {}", task.build_id);
    let mut retrying = policy.start(&what);
    loop {
        let file = tokio::fs::File::create(path)
            .await
            .map_err(|err| ExecError::transient(format!("{}: {err}", path.display())))?;
        let since = connects(bus.client());
        let outcome = tokio::select! {
            outcome = bus.download_context(&task.context.sha256, file) => Some(outcome),
            _ = reconnected(bus.client(), since) => None,
        };
        let failure = match outcome {
            Some(Ok(_)) => return Ok(()),
            Some(Err(BusError::Context(err @ ContextError::NotFound { .. })))
                if retrying.elapsed() >= FETCH_NOT_FOUND_GRACE =>
            {
                return Err(ExecError {
                    kind: ErrorKind::NotFound,
                    message: err.to_string(),
                });
            }
            Some(Err(BusError::Context(err @ ContextError::DigestMismatch { .. })))
            | Some(Err(BusError::Context(err @ ContextError::InvalidDigest(_)))) => {
                return Err(ExecError::permanent(err.to_string()));
            }
            Some(Err(err)) => err.to_string(),
            None => "nats reconnected during the download".to_string(),
        };
        if !retrying.again(&failure).await {
            return Err(ExecError::transient(failure));
        }
    }
}

/// Unpacks a context tarball into `dest` under the default limits (see [`unpack_within`]).
/// Also used by the coordinator's local driver.
pub async fn unpack(tarball: &Path, dest: &Path) -> Result<(), ExecError> {
    let parent = dest.parent().unwrap_or(dest).to_path_buf();
    unpack_within(
        tarball,
        dest,
        crate::config::LimitOptions::default().for_build(&parent),
    )
    .await
}

/// Unpacks a context tarball (plain, gzip, bzip2, xz or zstd, detected by content) into
/// `dest` with the containment of [`crate::unpack`]: entries may not leave it, and they are
/// charged to `limits` (the disk budget and the ratio check of the builds), so a context
/// that expands past them fails naming the limit.
pub async fn unpack_within(tarball: &Path, dest: &Path, limits: Limits) -> Result<(), ExecError> {
    let (tarball, dest): (PathBuf, PathBuf) = (tarball.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || -> Result<(), ExecError> {
        let bad = |err: &dyn std::fmt::Display| {
            ExecError::permanent(format!("unpacking context {}: {err}", tarball.display()))
        };
        std::fs::create_dir_all(&dest).map_err(|e| bad(&e))?;
        // An empty context (only end-of-archive blocks) is a plain tar too.
        let kind = crate::copy::archive::detect_archive(&tarball)
            .map_err(|e| bad(&e))?
            .unwrap_or(crate::copy::archive::ArchiveKind::Tar);
        crate::copy::archive::extract_archive(
            &tarball,
            Some(kind),
            &dest,
            Path::new(""),
            None,
            &limits,
        )
        .map(drop)
        .map_err(|e| bad(&format!("{:#}", anyhow::Error::new(e))))
    })
    .await
    .map_err(|err| ExecError::permanent(format!("unpacking the context: {err}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built() -> Result<Built, ExecError> {
        Ok(Built {
            manifest: kaniko_common::oci::Descriptor {
                media_type: kaniko_common::oci::OCI_MANIFEST.into(),
                digest: format!("sha256:{}", "b".repeat(64)),
                size: 1,
                platform: None,
                annotations: Default::default(),
            },
            config_digest: format!("sha256:{}", "c".repeat(64)),
        })
    }

    #[test]
    fn the_retry_policy() {
        fn check(outcome: Result<Built, ExecError>, delivered: i64, expected: Disposition) {
            assert_eq!(
                disposition(&outcome, delivered, 5, DEFAULT_RETRY_BACKOFF),
                expected,
                "{outcome:?} #{delivered}"
            );
        }
        let transient = || Err(ExecError::transient("registry 503"));
        check(built(), 1, Disposition::Ack);
        check(built(), 5, Disposition::Ack);
        check(transient(), 1, Disposition::Nak(Duration::from_secs(2)));
        check(transient(), 3, Disposition::Nak(Duration::from_secs(8)));
        check(transient(), 4, Disposition::Nak(Duration::from_secs(16)));
        check(transient(), 5, Disposition::Term);
        check(
            Err(ExecError::permanent("Dockerfile:1: bad")),
            1,
            Disposition::Term,
        );
        check(
            Err(ExecError {
                kind: ErrorKind::Unauthorized,
                message: "401".into(),
            }),
            1,
            Disposition::Term,
        );
        check(
            Err(ExecError {
                kind: ErrorKind::Cancelled,
                message: "cancelled".into(),
            }),
            1,
            Disposition::Term,
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        fn check(first_ms: u64, delivered: i64, ms: u64) {
            assert_eq!(
                backoff(Duration::from_millis(first_ms), delivered),
                Duration::from_millis(ms),
                "{first_ms} ms, #{delivered}"
            );
        }
        check(2000, 0, 2000);
        check(2000, 1, 2000);
        check(2000, 2, 4000);
        check(2000, 5, 32_000);
        check(2000, 6, 60_000);
        check(2000, 100, 60_000);
        check(200, 1, 200);
        check(200, 3, 800);
        check(0, 3, 0);
    }

    #[test]
    fn the_build_of_garbage_is_recovered_only_when_certain() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let armv7 = Platform::parse("linux/arm/v7").unwrap();
        fn check(msg_id: Option<&str>, platform: Option<&Platform>, expected: Option<&str>) {
            assert_eq!(
                recover_build_id(msg_id, platform).as_deref(),
                expected,
                "{msg_id:?}"
            );
        }
        check(Some("b-1-linux-amd64-2"), Some(&amd64), Some("b-1"));
        check(Some("b1-linux-arm-v7-1"), Some(&armv7), Some("b1"));
        check(Some("b1-linux-arm-v7-1"), Some(&amd64), None);
        check(Some("b1-linux-amd64-x"), Some(&amd64), None);
        check(Some("a.b-linux-amd64-1"), Some(&amd64), None);
        check(Some("-linux-amd64-1"), Some(&amd64), None);
        check(None, Some(&amd64), None);
        check(Some("b1-linux-amd64-1"), None, None);
    }
}
