// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! How `worker serve` builds one task: the [`TaskExecutor`] trait (so the run loop can be
//! tested with a recording executor), and [`BuildExecutor`], the real one, which turns a
//! [`Task`] into `worker build` flags, validates them into a [`BuildConfig`] exactly as the
//! command line would, runs [`crate::build::run_async`], and classifies failures as permanent
//! or transient for the retry policy.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Component, Path};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;
use kaniko_common::messages::{ErrorKind, Task, WireError};
use kaniko_common::oci::{Compression, Descriptor};
use kaniko_registry::RegistryError;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::cli::{BuildRegistryFlags, Cli, Command};
use crate::config::BuildConfig;

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

/// The real executor: `worker build` in-process.
#[derive(Debug, Clone, Default)]
pub struct BuildExecutor {
    /// Registry flags passed to every build.
    pub registry: BuildRegistryFlags,
    /// More `worker build` flags for every build (`--network`, `--snapshotter`).
    pub build_args: Vec<String>,
}

/// A Dockerfile path inside the context: relative, no `..`.
fn dockerfile_in(context_dir: &Path, dockerfile: &str) -> Result<std::path::PathBuf, ExecError> {
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
    Ok(context_dir.join(path))
}

/// The `worker build` command line for `task`.
pub fn build_argv(
    task: &Task,
    context_dir: &Path,
    registry: &BuildRegistryFlags,
) -> Result<Vec<String>, ExecError> {
    let dockerfile = dockerfile_in(context_dir, &task.dockerfile)?;
    let mut argv: Vec<String> = vec!["worker".into(), "build".into()];
    let mut flag = |name: &str, value: String| {
        argv.push(format!("--{name}={value}"));
    };
    flag("context", context_dir.display().to_string());
    flag("dockerfile", dockerfile.display().to_string());
    flag("custom-platform", task.platform.to_string());
    for destination in &task.destinations {
        flag("destination", destination.clone());
    }
    for (key, value) in &task.build_args {
        flag("build-arg", format!("{key}={value}"));
    }
    if let Some(target) = &task.target {
        flag("target", target.clone());
    }
    for (key, value) in &task.labels {
        flag("label", format!("{key}={value}"));
    }
    flag(
        "compression",
        match task.compression {
            Compression::Zstd => "zstd",
            _ => "gzip",
        }
        .to_string(),
    );
    if let Some(level) = task.compression_level {
        flag("compression-level", level.to_string());
    }
    flag(
        "oci-mode",
        serde_json::to_value(task.oci_mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "oci".to_string()),
    );
    flag("reproducible", task.reproducible.to_string());
    flag("insecure", registry.access.insecure.to_string());
    flag("insecure-pull", registry.insecure_pull.to_string());
    flag(
        "skip-tls-verify",
        registry.access.skip_tls_verify.to_string(),
    );
    flag(
        "skip-tls-verify-pull",
        registry.skip_tls_verify_pull.to_string(),
    );
    for r in &registry.access.insecure_registry {
        flag("insecure-registry", r.clone());
    }
    for r in &registry.access.skip_tls_verify_registry {
        flag("skip-tls-verify-registry", r.clone());
    }
    for r in &registry.mirrors.registry_mirror {
        flag("registry-mirror", r.clone());
    }
    for r in &registry.mirrors.registry_map {
        flag("registry-map", r.clone());
    }
    flag("push-retry", registry.push_retry.to_string());
    Ok(argv)
}

/// Validates `argv` into a build configuration, as `worker build` would.
pub fn build_config(argv: &[String]) -> Result<BuildConfig, ExecError> {
    let cli = Cli::try_parse_from(argv)
        .map_err(|err| ExecError::permanent(format!("task flags: {}", err.render())))?;
    let Command::Build(args) = cli.command else {
        return Err(ExecError::permanent("task flags did not make a build"));
    };
    BuildConfig::from_args_with_env(&args, |_| None)
        .map_err(|err| ExecError::permanent(err.to_string()))
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
                RegistryError::NotFound { .. } => ErrorKind::NotFound,
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
/// go to the sink registered under that key (see [`logs`](super::logs)).
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

impl BuildExecutor {
    /// The limits of the flags every build gets (`--max-build-disk` and the others of
    /// `worker serve`), as a build validates them.
    pub fn limit_options(&self) -> Result<crate::config::LimitOptions, ExecError> {
        let mut argv: Vec<String> = vec!["worker".into(), "build".into(), "--no-push".into()];
        argv.extend(self.build_args.iter().cloned());
        Ok(build_config(&argv)?.limits)
    }
}

impl TaskExecutor for BuildExecutor {
    fn context_limits(&self, dir: &Path) -> crate::unpack::Limits {
        match self.limit_options() {
            Ok(options) => options.for_build(dir),
            Err(err) => {
                tracing::warn!(error = %err, "the builds' limits do not parse; the context is unpacked under the defaults");
                crate::config::LimitOptions::default().for_build(dir)
            }
        }
    }

    fn execute<'a>(
        &'a self,
        task: &'a Task,
        context_dir: &'a Path,
        log: LogSink,
    ) -> BoxFuture<'a, Result<Built, ExecError>> {
        Box::pin(async move {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let mut argv = build_argv(task, context_dir, &self.registry)?;
            argv.extend(self.build_args.iter().cloned());
            let config = Arc::new(build_config(&argv)?);
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
                crate::build::run_async_pushing(&config, crate::build::Push::ByDigestOnly)
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::ContextRef;
    use kaniko_common::platform::Platform;

    pub(crate) fn task() -> Task {
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
        }
    }

    #[test]
    fn a_task_becomes_the_build_configuration_the_cli_would_make() {
        let registry = BuildRegistryFlags {
            access: crate::cli::RegistryFlags {
                insecure_registry: vec!["127.0.0.1:5000".into()],
                ..Default::default()
            },
            ..BuildRegistryFlags::default()
        };
        let argv = build_argv(&task(), Path::new("/tmp/ctx"), &registry).unwrap();
        let config = build_config(&argv).unwrap();
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
    }

    #[test]
    fn serve_secrets_and_cache_dir_reach_every_build() {
        let cli = Cli::try_parse_from([
            "worker",
            "serve",
            "--secret",
            "id=token,env=KANIKO_SERVE_TEST_TOKEN,scope=127.0.0.1:5000/*",
            "--run-cache-dir",
            "/var/cache/kaniko-runs",
            "--run-cache-scope",
            "worker",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let mut argv = build_argv(
            &task(),
            Path::new("/tmp/ctx"),
            &BuildRegistryFlags::default(),
        )
        .unwrap();
        argv.extend(crate::serve::build_flags(&args).unwrap());
        let config = build_config(&argv).unwrap();
        assert_eq!(config.run.cache_dir, Path::new("/var/cache/kaniko-runs"));
        assert_eq!(config.run.cache_scope, crate::config::RunCacheScope::Worker);
        assert_eq!(config.run.secrets.len(), 1);
        assert_eq!(config.run.secrets[0].id, "token");
        assert!(
            config.run.secrets[0].scope.is_some(),
            "the scope reaches the build"
        );
        let cli =
            Cli::try_parse_from(["worker", "serve", "--secret", "id=x,src=/no/such/file"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let err = crate::serve::build_flags(&args).unwrap_err().to_string();
        assert!(err.contains("worker serve needs a scope"), "{err}");
        let cli = Cli::try_parse_from([
            "worker",
            "serve",
            "--secret",
            "id=x,src=/no/such/file,scope=*",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let err = crate::serve::build_flags(&args).unwrap_err().to_string();
        assert!(err.contains("/no/such/file is not a file"), "{err}");
    }

    #[test]
    fn serve_limits_reach_every_build_and_the_context_unpack() {
        let cli = Cli::try_parse_from([
            "worker",
            "serve",
            "--max-build-disk",
            "1MiB",
            "--max-compression-ratio",
            "0",
            "--add-url-max-size",
            "2k",
            "--add-url-timeout",
            "7",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let executor = BuildExecutor {
            registry: BuildRegistryFlags::default(),
            build_args: crate::serve::build_flags(&args).unwrap(),
        };
        let expected = crate::config::LimitOptions {
            max_build_disk: Some(1 << 20),
            max_compression_ratio: 0,
            add_url_max_size: 2 << 10,
            add_url_timeout: std::time::Duration::from_secs(7),
        };
        let mut argv = build_argv(
            &task(),
            Path::new("/tmp/ctx"),
            &BuildRegistryFlags::default(),
        )
        .unwrap();
        argv.extend(executor.build_args.iter().cloned());
        assert_eq!(build_config(&argv).unwrap().limits, expected);
        assert_eq!(executor.limit_options().unwrap(), expected);
        let dir = tempfile::tempdir().unwrap();
        let limits = executor.context_limits(dir.path());
        assert_eq!(limits.disk.limit(), 1 << 20);
        assert_eq!(limits.max_ratio, 0);
        // Without the flag, the default follows the free space of the directory.
        let defaults = BuildExecutor::default().context_limits(dir.path());
        assert_eq!(
            defaults.disk.limit(),
            crate::unpack::limits::default_disk_limit(dir.path())
        );
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_refused() {
        fn check(dockerfile: &str, ok: bool) {
            let mut t = task();
            t.dockerfile = dockerfile.into();
            let got = build_argv(&t, Path::new("/ctx"), &BuildRegistryFlags::default());
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
