// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The typed pieces of a [`super::BuildConfig`]: the build context, the enums behind
//! `--snapshot-mode`, `--verbosity` and `--log-format`, and the registry, snapshot, logging
//! and limit option groups. `--compression` and `--oci-mode` use the shared types of `kaniko-common`
//! (`oci::Compression`, `messages::api::RequestedOciMode`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;

use super::{BuildArgs, ConfigError};

/// Where the build context comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildContext {
    /// A local directory (`--context <dir>` or `dir://<dir>`).
    Dir(PathBuf),
    /// A tarball, plain or gzip-compressed (`tar://<file>`, `tar://stdin`), to be unpacked
    /// before the build.
    Tar(TarSource),
    /// A context artifact in a registry, named by digest (`oci://<registry>/<repo>@sha256:…`,
    /// what `coordinator submit --driver k8s` pushes): one tar layer, fetched and verified
    /// against its digests, then unpacked as a tarball context.
    Oci(String),
}

/// Where a tarball context is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarSource {
    /// `tar://stdin`.
    Stdin,
    /// `tar://<file>`.
    File(PathBuf),
}

impl BuildContext {
    /// Parses `--context`. Schemes other than `dir://` and `tar://` (Kaniko's `git://`,
    /// `s3://`, `gs://`, `https://` for Azure blobs, ...) are recognised and refused as not
    /// supported yet.
    pub fn parse(raw: &str) -> Result<BuildContext, ConfigError> {
        let Some((scheme, rest)) = raw.split_once("://") else {
            if raw.is_empty() {
                return Err(ConfigError::EmptyContext);
            }
            return Ok(BuildContext::Dir(PathBuf::from(raw)));
        };
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            _ if rest.is_empty() => Err(ConfigError::EmptyContext),
            "dir" => Ok(BuildContext::Dir(PathBuf::from(rest))),
            "tar" if rest == "stdin" => Ok(BuildContext::Tar(TarSource::Stdin)),
            "tar" => Ok(BuildContext::Tar(TarSource::File(PathBuf::from(rest)))),
            "oci" => match rest.split_once("@sha256:") {
                Some((repo, hex))
                    if !repo.is_empty()
                        && hex.len() == 64
                        && hex
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
                {
                    Ok(BuildContext::Oci(rest.to_string()))
                }
                _ => Err(ConfigError::ContextNotByDigest(raw.to_string())),
            },
            _ => Err(ConfigError::UnsupportedContext {
                context: raw.to_string(),
                scheme,
            }),
        }
    }
}

/// What the snapshotter compares to find changed files (`--snapshot-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum)]
pub enum SnapshotMode {
    /// Content hash plus metadata (Kaniko's default).
    #[default]
    Full,
    /// Metadata only: mtime, size, mode, owner (faster, Kaniko's `redo`).
    Redo,
    /// Modification time only, content not hashed (Kaniko's `time`; takes the walk).
    Time,
}

/// Log level (`--verbosity`), Kaniko's logrus names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum)]
pub enum Verbosity {
    /// Only panics (shown as errors).
    Panic,
    /// Only fatal errors (shown as errors).
    Fatal,
    /// Errors.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages (default).
    #[default]
    Info,
    /// Debug messages.
    Debug,
    /// Everything.
    Trace,
}

impl Verbosity {
    /// The `tracing` level filter this verbosity means (`panic` and `fatal` map to `error`).
    pub fn filter(self) -> &'static str {
        match self {
            Verbosity::Panic | Verbosity::Fatal | Verbosity::Error => "error",
            Verbosity::Warn => "warn",
            Verbosity::Info => "info",
            Verbosity::Debug => "debug",
            Verbosity::Trace => "trace",
        }
    }
}

/// Log format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum)]
pub enum LogFormat {
    /// Plain text.
    Text,
    /// One JSON object per line.
    Json,
    /// Text with ANSI colours (Kaniko's default).
    #[default]
    Color,
}

/// Logging options; the binary installs the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// `--verbosity`.
    pub verbosity: Verbosity,
    /// `--log-format`.
    pub format: LogFormat,
    /// `--log-timestamp`.
    pub timestamp: bool,
}

/// Snapshotting options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// `--snapshot-mode`.
    pub mode: SnapshotMode,
    /// `--single-snapshot`: one layer at the end of the build.
    pub single_snapshot: bool,
    /// `--ignore-path`s (absolute paths inside the image).
    pub ignore_paths: Vec<PathBuf>,
    /// `--ignore-var-run` (default true).
    pub ignore_var_run: bool,
    /// `--snapshotter`: how RUN's changes are found.
    pub snapshotter: crate::snapshot::Snapshotter,
    /// `--network`: the most network RUN may use (`RUN --network=none` narrows it).
    pub network: crate::sandbox::Network,
}

/// What RUN's mounts draw on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// `--secret`s (sources only, never values).
    pub secrets: Vec<crate::run::secrets::Secret>,
    /// `--run-cache-dir`: where `RUN --mount=type=cache` directories persist.
    pub cache_dir: PathBuf,
    /// `--run-cache-scope`: which builds share a cache.
    pub cache_scope: RunCacheScope,
}

/// Which builds share `RUN --mount=type=cache` directories (`--run-cache-scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunCacheScope {
    /// Builds pushing to the same set of repositories (the default): a build never sees the
    /// caches of another tenant's repository. Builds with no destination share one set.
    #[default]
    Destination,
    /// Every build of the worker, whatever it pushes to (BuildKit's behaviour): for a worker
    /// whose builds all trust each other.
    Worker,
}

impl RunCacheScope {
    /// Parses `destination` or `worker`.
    pub fn parse(text: &str) -> Result<RunCacheScope, String> {
        match text {
            "destination" => Ok(RunCacheScope::Destination),
            "worker" => Ok(RunCacheScope::Worker),
            other => Err(format!(
                "unsupported run cache scope {other:?}: expected destination or worker"
            )),
        }
    }
}

impl std::fmt::Display for RunCacheScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunCacheScope::Destination => "destination",
            RunCacheScope::Worker => "worker",
        })
    }
}

/// The bounds of one build (`--max-build-disk`, `--max-compression-ratio`,
/// `--add-url-max-size`, `--add-url-timeout`); see [`crate::unpack::limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOptions {
    /// `--max-build-disk`; `None`: the default for the build's disk.
    pub max_build_disk: Option<u64>,
    /// `--max-compression-ratio` (0: no check).
    pub max_compression_ratio: u64,
    /// `--add-url-max-size`.
    pub add_url_max_size: u64,
    /// `--add-url-timeout`.
    pub add_url_timeout: Duration,
}

impl Default for LimitOptions {
    fn default() -> Self {
        use crate::unpack::limits as l;
        LimitOptions {
            max_build_disk: None,
            max_compression_ratio: l::DEFAULT_MAX_RATIO,
            add_url_max_size: l::DEFAULT_ADD_URL_MAX_SIZE,
            add_url_timeout: Duration::from_secs(l::DEFAULT_ADD_URL_TIMEOUT),
        }
    }
}

impl LimitOptions {
    /// The limits of one build whose scratch files live in `dir` (a fresh disk budget).
    pub fn for_build(&self, dir: &Path) -> crate::unpack::Limits {
        crate::unpack::Limits::for_build(
            self.max_build_disk,
            self.max_compression_ratio,
            crate::unpack::limits::DownloadLimits {
                max_size: self.add_url_max_size,
                timeout: self.add_url_timeout,
            },
            dir,
        )
    }
}

/// The default `--run-cache-dir`: `$XDG_CACHE_HOME/kaniko-rs/run-cache`, else
/// `$HOME/.cache/kaniko-rs/run-cache`, else `kaniko-rs-run-cache` in the temporary directory.
pub fn default_run_cache_dir() -> PathBuf {
    default_cache_dir("run-cache")
}

/// The worker's cache directory `name`: `$XDG_CACHE_HOME/kaniko-rs/<name>`, else
/// `$HOME/.cache/kaniko-rs/<name>`, else `kaniko-rs-<name>` in the temporary directory.
pub fn default_cache_dir(name: &str) -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return dir.join("kaniko-rs").join(name);
    }
    if let Some(home) = var("HOME") {
        return home.join(".cache").join("kaniko-rs").join(name);
    }
    std::env::temp_dir().join(format!("kaniko-rs-{name}"))
}

/// One `--registry-map FROM=TO` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryMap {
    /// The registry as written in image references.
    pub from: String,
    /// The registry to use instead.
    pub to: String,
}

/// How registries are reached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryOptions {
    /// `--insecure`: push over plain HTTP.
    pub insecure: bool,
    /// `--insecure-pull`: pull over plain HTTP.
    pub insecure_pull: bool,
    /// `--insecure-registry`: registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// `--skip-tls-verify`: push without verifying certificates.
    pub skip_tls_verify: bool,
    /// `--skip-tls-verify-pull`: pull without verifying certificates.
    pub skip_tls_verify_pull: bool,
    /// `--skip-tls-verify-registry`: registries reached without verifying certificates.
    pub skip_tls_verify_registries: Vec<String>,
    /// `--registry-http1`: HTTP/1.1 to every registry, never HTTP/2.
    pub http1: bool,
    /// `--registry-mirror` (or `KANIKO_REGISTRY_MIRROR`): mirrors of docker.io, in order.
    pub mirrors: Vec<String>,
    /// `--registry-map` (or `KANIKO_REGISTRY_MAP`): remappings, in order; one registry may
    /// map to several, tried in turn.
    pub maps: Vec<RegistryMap>,
    /// `--skip-default-registry-fallback`.
    pub skip_default_registry_fallback: bool,
    /// `--push-retry`: retries after the first push attempt.
    pub push_retry: u32,
    /// `--push-ignore-immutable-tag-errors`.
    pub push_ignore_immutable_tag_errors: bool,
    /// `--skip-push-permission-check`.
    pub skip_push_permission_check: bool,
    /// `--image-download-retry`.
    pub image_download_retry: u32,
}

impl RegistryOptions {
    pub(super) fn from_args(args: &BuildArgs) -> Result<RegistryOptions, ConfigError> {
        Ok(RegistryOptions {
            skip_default_registry_fallback: args.skip_default_registry_fallback.unwrap_or(false),
            push_ignore_immutable_tag_errors: args
                .push_ignore_immutable_tag_errors
                .unwrap_or(false),
            skip_push_permission_check: args.skip_push_permission_check.unwrap_or(false),
            image_download_retry: args.image_download_retry,
            ..RegistryOptions::from_flags(&args.registry)?
        })
    }

    /// The options of the registry flags `worker build` and `worker serve` share (the
    /// `worker build`-only ones at their defaults); `--registry-map` pairs checked.
    pub(crate) fn from_flags(
        registry: &crate::cli::BuildRegistryFlags,
    ) -> Result<RegistryOptions, ConfigError> {
        let mut maps = Vec::new();
        for raw in &registry.mirrors.registry_map {
            // Kaniko: an empty value is nothing; `a=b;c=d` is two pairs.
            if raw.is_empty() {
                continue;
            }
            for pair in raw.split(';') {
                match pair.split_once('=') {
                    Some((from, to)) if !from.is_empty() && !to.is_empty() => {
                        maps.push(RegistryMap {
                            from: from.to_string(),
                            to: to.to_string(),
                        });
                    }
                    _ => {
                        return Err(ConfigError::KeyValue {
                            flag: "--registry-map",
                            value: raw.clone(),
                        });
                    }
                }
            }
        }
        let list = |values: &[String]| -> Vec<String> {
            values.iter().filter(|v| !v.is_empty()).cloned().collect()
        };
        Ok(RegistryOptions {
            insecure: registry.access.insecure,
            insecure_pull: registry.insecure_pull,
            insecure_registries: list(&registry.access.insecure_registry),
            skip_tls_verify: registry.access.skip_tls_verify,
            skip_tls_verify_pull: registry.skip_tls_verify_pull,
            skip_tls_verify_registries: list(&registry.access.skip_tls_verify_registry),
            http1: registry.access.registry_http1,
            mirrors: list(&registry.mirrors.registry_mirror),
            maps,
            push_retry: registry.push_retry,
            ..RegistryOptions::default()
        })
    }
}
