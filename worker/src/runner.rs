// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The worker's embedding API: [`Runner`] builds a typed [`Task`] in-process with the
//! worker's [`BuildSettings`] (a [`BuildConfig`] made directly, checked as `worker build`'s
//! flags are), captures the build's log lines, classifies failures as permanent or transient
//! and owns the retry policy (the in-process attempts of the local driver, the redelivery
//! delays of `worker serve`). [`TaskExecutor`] is the seam `worker serve`'s run loop takes,
//! so it can be tested with a scripted executor.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Component, Path};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use kaniko_common::messages::{ErrorKind, Task, WireError};
use kaniko_common::oci::Descriptor;
use kaniko_registry::RegistryError;
use kaniko_retry::RetryPolicy;
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

use crate::config::{BuildConfig, BuildSettings};

mod capture;

pub use capture::CaptureLayer;

/// Where a build's log lines go: the run loop forwards them as `log` events.
#[derive(Debug, Clone)]
pub struct LogSink {
    tx: mpsc::UnboundedSender<String>,
}

impl LogSink {
    /// A sink and the receiving end of its lines.
    pub fn new() -> (LogSink, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LogSink { tx }, rx)
    }

    /// Sends one line (without its newline). Lines sent after the build ended are dropped.
    pub fn line(&self, line: impl Into<String>) {
        let _ = self.tx.send(line.into());
    }
}

/// What a successful build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The pushed manifest, with its platform.
    pub manifest: Descriptor,
    /// The image config's digest.
    pub config_digest: String,
}

/// Why a build failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ExecError {
    /// [`ErrorKind::Transient`] is retried; every other kind is final.
    pub kind: ErrorKind,
    /// What went wrong, naming the file, line, reference or digest at fault.
    pub message: String,
}

impl ExecError {
    /// A final failure.
    pub fn permanent(message: impl Into<String>) -> ExecError {
        ExecError {
            kind: ErrorKind::Permanent,
            message: message.into(),
        }
    }

    /// A failure worth retrying later.
    pub fn transient(message: impl Into<String>) -> ExecError {
        ExecError {
            kind: ErrorKind::Transient,
            message: message.into(),
        }
    }
}

impl From<ExecError> for WireError {
    fn from(err: ExecError) -> WireError {
        WireError::new(err.kind, err.message)
    }
}

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Builds one task from an unpacked context directory.
pub trait TaskExecutor: Send + Sync + 'static {
    /// Builds and pushes `task` from `context_dir`, sending log lines to `log`.
    fn execute<'a>(
        &'a self,
        task: &'a Task,
        context_dir: &'a Path,
        log: LogSink,
    ) -> BoxFuture<'a, Result<Built, ExecError>>;

    /// The limits a task's context is unpacked under, in `dir` (a fresh disk budget): the
    /// defaults, unless the executor knows its builds' own.
    fn context_limits(&self, dir: &Path) -> crate::unpack::Limits {
        crate::config::LimitOptions::default().for_build(dir)
    }
}

/// The in-process runner: builds a [`Task`] with the worker's [`BuildSettings`], no command
/// line in between. `worker serve` runs one attempt per delivery ([`Runner::run`], its
/// subscriber has the capture layer); an embedder without one (the coordinator's local
/// driver) uses [`Runner::run_captured`] or [`Runner::run_with_retries`].
#[derive(Debug, Clone, Default)]
pub struct Runner {
    /// What the worker adds to every build.
    pub settings: BuildSettings,
}

/// A Dockerfile path inside the context: relative, no `..`.
fn dockerfile_in(dockerfile: &str) -> Result<(), ExecError> {
    let path = Path::new(dockerfile);
    let inside = !dockerfile.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(ExecError {
            kind: ErrorKind::Refused,
            message: format!("dockerfile {dockerfile:?} is not a relative path inside the context"),
        });
    }
    Ok(())
}

/// Classifies a build failure: registry failures by their kind, connection-level IO errors
/// as transient, everything else (bad Dockerfile, missing file, failing step) as permanent.
pub fn classify(err: &anyhow::Error) -> ExecError {
    let message = format!("{err:#}");
    for cause in err.chain() {
        if let Some(registry) = cause.downcast_ref::<RegistryError>() {
            let kind = match registry {
                RegistryError::Transient { .. } => ErrorKind::Transient,
                RegistryError::Unauthorized { .. } => ErrorKind::Unauthorized,
                RegistryError::NotFound { .. } | RegistryError::NoRepository { .. } => {
                    ErrorKind::NotFound
                }
                _ => ErrorKind::Permanent,
            };
            return ExecError { kind, message };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            if matches!(
                io.kind(),
                Io::ConnectionRefused
                    | Io::ConnectionReset
                    | Io::ConnectionAborted
                    | Io::TimedOut
                    | Io::BrokenPipe
            ) {
                return ExecError::transient(message);
            }
        }
    }
    ExecError::permanent(message)
}

/// Build log capture: tracing events emitted inside a span carrying `kaniko_task = <key>`
/// go to the sink registered under that key (see [`CaptureLayer`]).
pub(crate) fn sinks() -> &'static Mutex<HashMap<u64, LogSink>> {
    static SINKS: std::sync::OnceLock<Mutex<HashMap<u64, LogSink>>> = std::sync::OnceLock::new();
    SINKS.get_or_init(Mutex::default)
}

struct SinkGuard(u64);

impl Drop for SinkGuard {
    fn drop(&mut self) {
        if let Ok(mut sinks) = sinks().lock() {
            sinks.remove(&self.0);
        }
    }
}

/// The first delay before a failed task is tried again (`worker serve`'s redelivery unless
/// `--retry-backoff` says otherwise, the local driver's next attempt).
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(2);
/// The longest redelivery delay of `worker serve`.
pub const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(60);

/// The delay before the redelivery that follows delivery number `delivered`: `first`, then
/// doubled each delivery (2 s, 4 s, 8 s, ... by default), at most [`MAX_RETRY_BACKOFF`]
/// (the [`RetryPolicy`] backoff, without jitter).
pub fn backoff(first: Duration, delivered: i64) -> Duration {
    RetryPolicy::forever()
        .with_backoff(first, MAX_RETRY_BACKOFF)
        .backoff(u32::try_from(delivered.max(0)).unwrap_or(u32::MAX))
}

/// The policy of in-process attempts: at most `max_attempts`, the first pause
/// [`DEFAULT_RETRY_BACKOFF`], doubled, at most `max_backoff`.
pub fn retry_policy(max_attempts: u32, max_backoff: Duration) -> RetryPolicy {
    RetryPolicy::forever()
        .with_attempts(max_attempts)
        .with_backoff(DEFAULT_RETRY_BACKOFF, max_backoff)
}

/// What [`Runner::run_with_retries`] reports while it works.
pub trait AttemptObserver {
    /// Attempt `task.attempt` starts.
    fn started(&mut self, task: &Task);
    /// One log line of the attempt (the build's, or why it is tried again).
    fn line(&mut self, task: &Task, line: String);
}

/// The last attempt of a task.
#[derive(Debug)]
pub struct Attempted {
    /// The task as last built (its `attempt` the last one).
    pub task: Task,
    /// What it produced.
    pub outcome: Result<Built, ExecError>,
    /// How long the last attempt took.
    pub duration: Duration,
}

impl Runner {
    /// A runner adding `settings` to every build.
    pub fn new(settings: BuildSettings) -> Runner {
        Runner { settings }
    }

    /// The validated configuration of `task`'s build from `context_dir`.
    pub fn config(&self, task: &Task, context_dir: &Path) -> Result<BuildConfig, ExecError> {
        dockerfile_in(&task.dockerfile)?;
        BuildConfig::from_task(task, context_dir, &self.settings)
            .map_err(|err| ExecError::permanent(err.to_string()))
    }

    /// Builds and pushes `task` (by digest only) once. Its log lines reach `log` through the
    /// [`CaptureLayer`] of the current subscriber.
    pub async fn run(
        &self,
        task: &Task,
        context_dir: &Path,
        log: LogSink,
    ) -> Result<Built, ExecError> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let config = Arc::new(self.config(task, context_dir)?);
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut sinks) = sinks().lock() {
            sinks.insert(key, log.clone());
        }
        let _guard = SinkGuard(key);
        let span = tracing::info_span!(
            "build",
            kaniko_task = key,
            build_id = %task.build_id,
            platform = %task.platform
        );
        // The index is the only thing a multi-platform build puts under a tag.
        let outcome =
            crate::executor::run_async_pushing(&config, crate::executor::Push::ByDigestOnly)
                .instrument(span)
                .await
                .map_err(|err| classify(&err))?;
        if outcome.pushed.is_empty() {
            return Err(ExecError::permanent(
                "the task names no destination: nothing was pushed",
            ));
        }
        Ok(Built {
            manifest: outcome.manifest,
            config_digest: outcome.config_digest,
        })
    }

    /// [`Runner::run`] under its own subscriber (level `info`, the capture layer): every log
    /// line of the build is handed to `on_line`, in order, before this returns.
    pub async fn run_captured(
        &self,
        task: &Task,
        context_dir: &Path,
        mut on_line: impl FnMut(String),
    ) -> Result<Built, ExecError> {
        use tracing_subscriber::prelude::*;
        let (sink, mut lines) = LogSink::new();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("info"))
            .with(CaptureLayer);
        let build = self
            .run(task, context_dir, sink)
            .with_subscriber(subscriber);
        // The lines end when the build's sink is gone.
        let forward = async {
            while let Some(line) = lines.recv().await {
                on_line(line);
            }
        };
        let (outcome, ()) = tokio::join!(build, forward);
        outcome
    }

    /// Builds the task `task_for(attempt)` with [`Runner::run_captured`], trying transient
    /// failures again as `policy` allows; `observer` hears of each attempt and its lines.
    pub async fn run_with_retries(
        &self,
        policy: &RetryPolicy,
        what: &str,
        context_dir: &Path,
        mut task_for: impl FnMut(u32) -> Task,
        observer: &mut impl AttemptObserver,
    ) -> Attempted {
        let mut retrying = policy.start(what);
        loop {
            let attempt = retrying.attempt();
            let task = task_for(attempt);
            observer.started(&task);
            let started = Instant::now();
            let outcome = self
                .run_captured(&task, context_dir, |line| observer.line(&task, line))
                .await;
            let duration = started.elapsed();
            if let Err(err) = &outcome
                && err.kind.is_retryable()
                && let Some(delay) = retrying.next_pause(err)
            {
                let line = format!("attempt {attempt} failed ({err}); retrying in {delay:?}");
                observer.line(&task, line);
                tokio::time::sleep(delay).await;
                continue;
            }
            return Attempted {
                task,
                outcome,
                duration,
            };
        }
    }
}

impl TaskExecutor for Runner {
    fn context_limits(&self, dir: &Path) -> crate::unpack::Limits {
        self.settings.limits.for_build(dir)
    }

    fn execute<'a>(
        &'a self,
        task: &'a Task,
        context_dir: &'a Path,
        log: LogSink,
    ) -> BoxFuture<'a, Result<Built, ExecError>> {
        Box::pin(self.run(task, context_dir, log))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use kaniko_common::messages::ContextRef;
    use kaniko_common::oci::Compression;
    use kaniko_common::platform::Platform;

    use crate::cli::{Cli, Command};

    fn task() -> Task {
        Task {
            build_id: "b1".into(),
            task_id: "b1-1".into(),
            platform: Platform::parse("linux/arm64").unwrap(),
            attempt: 1,
            context: ContextRef {
                sha256: "a".repeat(64),
                size: 10,
            },
            dockerfile: "sub/Dockerfile.prod".into(),
            build_args: [("V".to_string(), "1=2".to_string())].into(),
            target: Some("final".into()),
            labels: [("org.example".to_string(), "x y".to_string())].into(),
            destinations: vec!["127.0.0.1:5000/app".into()],
            compression: Compression::Zstd,
            compression_level: Some(3),
            oci_mode: Default::default(),
            reproducible: true,
            cross_safe: true,
            deadline_unix_ms: None,
            owner: None,
            cache: None,
            arch_cache_repo_suffix: None,
        }
    }

    fn serve_settings(argv: &[&str]) -> anyhow::Result<BuildSettings> {
        let cli = Cli::try_parse_from(["worker", "serve"].iter().chain(argv)).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        BuildSettings::from_serve_args(&args)
    }

    #[test]
    fn a_task_becomes_the_build_configuration_the_cli_would_make() {
        let settings = serve_settings(&["--insecure-registry", "127.0.0.1:5000"]).unwrap();
        let config = Runner::new(settings)
            .config(&task(), Path::new("/tmp/ctx"))
            .unwrap();
        assert_eq!(config.platform, Platform::parse("linux/arm64").unwrap());
        assert_eq!(config.target.as_deref(), Some("final"));
        assert_eq!(config.build_args.get("V").map(String::as_str), Some("1=2"));
        assert_eq!(
            config.image.labels.get("org.example").map(String::as_str),
            Some("x y")
        );
        assert_eq!(config.image.compression, Compression::Zstd);
        assert_eq!(config.image.compression_level, Some(3));
        assert!(config.image.reproducible);
        assert_eq!(config.outputs.destinations, vec!["127.0.0.1:5000/app"]);
        assert_eq!(config.dockerfile, Path::new("/tmp/ctx/sub/Dockerfile.prod"));
        assert_eq!(config.registry.insecure_registries, vec!["127.0.0.1:5000"]);
        // Everything else is what `worker build` with the same flags would have.
        let cli = Cli::try_parse_from([
            "worker",
            "build",
            "--context=/tmp/ctx",
            "--dockerfile=/tmp/ctx/sub/Dockerfile.prod",
            "--custom-platform=linux/arm64",
            "--destination=127.0.0.1:5000/app",
            "--build-arg=V=1=2",
            "--target=final",
            "--label=org.example=x y",
            "--compression=zstd",
            "--compression-level=3",
            "--oci-mode=oci",
            "--reproducible=true",
            "--insecure-registry=127.0.0.1:5000",
        ])
        .unwrap();
        let Command::Build(args) = cli.command else {
            panic!("not build")
        };
        assert_eq!(
            config,
            BuildConfig::from_args_with_env(&args, |_| None).unwrap()
        );
    }

    #[test]
    fn a_task_is_checked_as_the_flags_are() {
        fn check(change: impl Fn(&mut Task), expected: &str) {
            let mut t = task();
            change(&mut t);
            let err = Runner::default().config(&t, Path::new("/ctx")).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Permanent);
            assert!(err.message.contains(expected), "{}", err.message);
        }
        check(|t| t.destinations.clear(), "--destination");
        check(
            |t| t.destinations = vec!["http://r/x".into()],
            "invalid --destination",
        );
        check(|t| t.compression_level = Some(30), "--compression-level 30");
        check(
            |t| {
                t.labels.insert(String::new(), "v".into());
            },
            "invalid --label",
        );
        check(
            |t| {
                t.build_args.insert(String::new(), "v".into());
            },
            "invalid --build-arg",
        );
    }

    #[test]
    fn serve_kaniko_dir_and_cache_dir_reach_every_build() {
        let config = |argv: &[&str]| {
            Runner::new(serve_settings(argv).unwrap())
                .config(&task(), Path::new("/tmp/ctx"))
                .unwrap()
        };
        // --kaniko-dir: scratch under DIR/tmp, the store and RUN caches under DIR.
        let kaniko = config(&["--kaniko-dir", "/k"]);
        assert_eq!(kaniko.kaniko_dir.as_deref(), Some(Path::new("/k")));
        assert_eq!(
            kaniko.store.map(|s| s.dir),
            Some(std::path::PathBuf::from("/k/store"))
        );
        assert_eq!(kaniko.run.cache_dir, Path::new("/k/run-cache"));
        // --cache-dir: bases read from it first, and it is the store.
        let cached = config(&["--cache-dir", "/warm", "--kaniko-dir", "/k"]);
        assert_eq!(cached.base_cache_dir.as_deref(), Some(Path::new("/warm")));
        assert_eq!(
            cached.store.map(|s| s.dir),
            Some(std::path::PathBuf::from("/warm"))
        );
        // As in `worker build`, it must agree with --store-dir and --no-store.
        let err = serve_settings(&["--cache-dir", "/warm", "--store-dir", "/other"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--store-dir"), "{err}");
        assert!(serve_settings(&["--cache-dir", "/warm", "--no-store"]).is_err());
    }

    #[test]
    fn serve_secrets_and_cache_dir_reach_every_build() {
        let settings = serve_settings(&[
            "--secret",
            "id=token,env=KANIKO_SERVE_TEST_TOKEN,scope=127.0.0.1:5000/*",
            "--run-cache-dir",
            "/var/cache/kaniko-runs",
            "--run-cache-scope",
            "worker",
        ])
        .unwrap();
        let config = Runner::new(settings)
            .config(&task(), Path::new("/tmp/ctx"))
            .unwrap();
        assert_eq!(config.run.cache_dir, Path::new("/var/cache/kaniko-runs"));
        assert_eq!(config.run.cache_scope, crate::config::RunCacheScope::Worker);
        assert_eq!(config.run.secrets.len(), 1);
        assert_eq!(config.run.secrets[0].id, "token");
        assert!(
            config.run.secrets[0].scope.is_some(),
            "the scope reaches the build"
        );
        let err = serve_settings(&["--secret", "id=x,src=/no/such/file"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("worker serve needs a scope"), "{err}");
        let err = serve_settings(&["--secret", "id=x,src=/no/such/file,scope=*"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/file is not a file"), "{err}");
    }

    #[test]
    fn serve_limits_reach_every_build_and_the_context_unpack() {
        let runner = Runner::new(
            serve_settings(&[
                "--max-build-disk",
                "1MiB",
                "--max-compression-ratio",
                "0",
                "--add-url-max-size",
                "2k",
                "--add-url-timeout",
                "7",
            ])
            .unwrap(),
        );
        let expected = crate::config::LimitOptions {
            max_build_disk: Some(1 << 20),
            max_compression_ratio: 0,
            add_url_max_size: 2 << 10,
            add_url_timeout: std::time::Duration::from_secs(7),
        };
        let config = runner.config(&task(), Path::new("/tmp/ctx")).unwrap();
        assert_eq!(config.limits, expected);
        let dir = tempfile::tempdir().unwrap();
        let limits = runner.context_limits(dir.path());
        assert_eq!(limits.disk.limit(), 1 << 20);
        assert_eq!(limits.max_ratio, 0);
        // Without the flag, the default follows the free space of the directory.
        let defaults = Runner::default().context_limits(dir.path());
        assert_eq!(
            defaults.disk.limit(),
            crate::unpack::limits::default_disk_limit(dir.path())
        );
        let err = serve_settings(&["--max-build-disk", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--max-build-disk"), "{err}");
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_refused() {
        fn check(dockerfile: &str, ok: bool) {
            let mut t = task();
            t.dockerfile = dockerfile.into();
            let got = Runner::default().config(&t, Path::new("/ctx"));
            assert_eq!(got.is_ok(), ok, "{dockerfile:?}");
            if let Err(err) = got {
                assert_eq!(err.kind, ErrorKind::Refused);
                assert!(err.message.contains(dockerfile), "{}", err.message);
            }
        }
        check("Dockerfile", true);
        check("./a/Dockerfile", true);
        check("../Dockerfile", false);
        check("a/../../Dockerfile", false);
        check("/etc/passwd", false);
        check("", false);
    }

    #[test]
    fn registry_failures_keep_their_kind_and_the_rest_is_permanent() {
        fn check(err: anyhow::Error, kind: ErrorKind) {
            assert_eq!(classify(&err).kind, kind, "{err:#}");
        }
        let transient = RegistryError::Transient {
            reference: "r/x".into(),
            message: "503".into(),
            retry_after_secs: None,
        };
        check(
            anyhow::Error::new(transient).context("pushing the manifest"),
            ErrorKind::Transient,
        );
        check(
            anyhow::Error::new(RegistryError::Unauthorized {
                reference: "r/x".into(),
                message: "401".into(),
            }),
            ErrorKind::Unauthorized,
        );
        check(
            anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            ErrorKind::Transient,
        );
        check(
            anyhow::anyhow!("Dockerfile:3: unknown instruction FORM"),
            ErrorKind::Permanent,
        );
        let err = classify(&anyhow::anyhow!("inner").context("outer"));
        assert_eq!(err.message, "outer: inner");
    }
}
