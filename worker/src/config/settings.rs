// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The embedding side of [`super::BuildConfig`]: a [`Task`] plus the settings the running
//! worker adds to every build ([`BuildSettings`]: `worker serve`'s flags, or `coordinator
//! submit --driver local`'s) make a validated configuration directly, through the same checks
//! as `worker build`'s flags (destinations, keys, compression level, registry map, secrets),
//! and the same defaults for everything a task does not say.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kaniko_common::messages::Task;
use kaniko_common::oci::Compression;

use super::{
    BuildConfig, BuildContext, ConfigError, ImageOptions, LimitOptions, LogFormat, LogOptions,
    Outputs, RegistryOptions, RunCacheScope, RunOptions, SnapshotMode, SnapshotOptions, Verbosity,
    default_run_cache_dir,
};
use crate::cli::BuildRegistryFlags;
use crate::run::secrets::Secret;
use crate::sandbox::Network;
use crate::snapshot::Snapshotter;

/// What a worker adds to every task it builds: how registries are reached, RUN's network
/// ceiling and snapshotter, its own secrets and RUN cache, and the build's bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSettings {
    /// Registry flags (`--insecure*`, `--skip-tls-verify*`, mirrors, map, `--push-retry`).
    pub registry: BuildRegistryFlags,
    /// RUN's network, the most a Dockerfile may use.
    pub network: Network,
    /// How a RUN's change is found.
    pub snapshotter: Snapshotter,
    /// Secrets and caches of `RUN --mount`.
    pub run: RunSettings,
    /// Bounds on what a build writes and fetches.
    pub limits: LimitOptions,
    /// The layer store every build uses.
    pub store: crate::store::commands::StoreSettings,
    /// `--cache-dir`: the base-image cache every build reads first (also its store).
    pub base_cache_dir: Option<PathBuf>,
    /// `--kaniko-dir`: every build's scratch files go under `DIR/tmp`.
    pub kaniko_dir: Option<PathBuf>,
}

/// The worker's own secrets and RUN cache, for every build it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSettings {
    /// `--secret`s, parsed and checked.
    pub secrets: Vec<Secret>,
    /// `--run-cache-dir`; `None`: the default of `worker build`.
    pub cache_dir: Option<PathBuf>,
    /// `--run-cache-scope`.
    pub cache_scope: RunCacheScope,
}

impl RunSettings {
    /// Parses `--secret`s (each must parse and a file must exist), `--run-cache-dir` (empty:
    /// not given) and `--run-cache-scope`, as `worker build` does.
    pub fn from_flags(flags: &crate::cli::RunFlags) -> Result<RunSettings, String> {
        Ok(RunSettings {
            secrets: crate::run::secrets::parse_all(&flags.secret)?,
            cache_dir: flags
                .run_cache_dir
                .as_deref()
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            cache_scope: flags.run_cache_scope,
        })
    }
}

impl BuildSettings {
    /// The settings of `worker serve`'s flags: every secret must carry a scope; the secrets
    /// and limits are checked now, not at the first build.
    pub fn from_serve_args(args: &crate::cli::ServeArgs) -> anyhow::Result<BuildSettings> {
        crate::run::secrets::require_scopes(&args.run.secret).map_err(anyhow::Error::msg)?;
        let non_empty =
            |v: &Option<String>| v.as_deref().filter(|d| !d.is_empty()).map(str::to_string);
        let base_cache_dir = non_empty(&args.cache_dir);
        let kaniko_dir = non_empty(&args.kaniko_dir).map(PathBuf::from);
        let mut run = RunSettings::from_flags(&args.run).map_err(anyhow::Error::msg)?;
        if run.cache_dir.is_none() {
            run.cache_dir = kaniko_dir.as_ref().map(|d| d.join("run-cache"));
        }
        Ok(BuildSettings {
            registry: args.registry.clone(),
            network: Network::parse(&args.network).map_err(anyhow::Error::msg)?,
            snapshotter: Snapshotter::parse(&args.snapshotter).map_err(anyhow::Error::msg)?,
            run,
            limits: super::limit_options(&args.limits)?,
            store: super::store_settings(
                args.store.settings(),
                base_cache_dir.as_deref(),
                kaniko_dir.as_deref(),
            )?,
            base_cache_dir: base_cache_dir.map(PathBuf::from),
            kaniko_dir,
        })
    }
}

impl BuildConfig {
    /// The configuration of `task`'s build from `context_dir` (a directory context; the
    /// caller has checked that `task.dockerfile` is a relative path inside it), with the
    /// worker's `settings`; what neither says is `worker build`'s default. Every image goes
    /// to the task's destinations (`--no-push` is never set).
    pub fn from_task(
        task: &Task,
        context_dir: &Path,
        settings: &BuildSettings,
    ) -> Result<BuildConfig, ConfigError> {
        let destinations = super::destinations(&task.destinations)?;
        if destinations.is_empty() {
            return Err(ConfigError::MissingDestination);
        }
        let build_args = checked_map("--build-arg", &task.build_args)?;
        let labels = checked_map("--label", &task.labels)?;
        // A task's compression is gzip or zstd; anything else builds as gzip, the default.
        let compression = match task.compression {
            Compression::Zstd => Compression::Zstd,
            _ => Compression::Gzip,
        };
        let compression_level =
            super::compression_level(compression, task.compression_level.unwrap_or(-1))?;
        for secret in &settings.run.secrets {
            secret
                .check_source()
                .map_err(|e| ConfigError::Secret(format!("--secret id={}: {e}", secret.id)))?;
        }
        Ok(BuildConfig {
            context: BuildContext::Dir(context_dir.to_path_buf()),
            context_sub_path: None,
            dockerfile: context_dir.join(&task.dockerfile),
            target: task.target.clone().filter(|t| !t.is_empty()),
            build_args,
            platform: task.platform.clone(),
            skip_unused_stages: true,
            outputs: Outputs {
                destinations,
                ..Outputs::default()
            },
            image: ImageOptions {
                labels,
                compression,
                compression_level,
                oci_mode: task.oci_mode,
                reproducible: task.reproducible,
            },
            snapshot: SnapshotOptions {
                mode: SnapshotMode::default(),
                single_snapshot: false,
                ignore_paths: Vec::new(),
                ignore_var_run: true,
                snapshotter: settings.snapshotter,
                network: settings.network,
            },
            registry: RegistryOptions::from_flags(&settings.registry)?,
            run: RunOptions {
                secrets: settings.run.secrets.clone(),
                cache_dir: settings
                    .run
                    .cache_dir
                    .clone()
                    .unwrap_or_else(default_run_cache_dir),
                cache_scope: settings.run.cache_scope,
            },
            limits: settings.limits.clone(),
            store: settings.store.options(),
            cache: task
                .cache
                .as_ref()
                .map(|cache| {
                    let ttl = cache
                        .ttl_secs
                        .map_or(crate::cache::DEFAULT_TTL, std::time::Duration::from_secs);
                    super::cache_settings(
                        cache,
                        ttl,
                        &task.destinations,
                        task.arch_cache_repo_suffix.as_deref(),
                    )
                })
                .transpose()?,
            base_cache_dir: settings.base_cache_dir.clone(),
            image_fs_extract_retry: 0,
            kaniko_dir: settings.kaniko_dir.clone(),
            log: LogOptions {
                verbosity: Verbosity::default(),
                format: LogFormat::default(),
                timestamp: false,
            },
        })
    }
}

/// A task's `build_args` or `labels`, keys checked as the flag's are.
fn checked_map(
    flag: &'static str,
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    for (key, value) in values {
        super::insert_key_value(
            &mut map,
            flag,
            &format!("{key}={value}"),
            key,
            value.clone(),
        )?;
    }
    Ok(map)
}
