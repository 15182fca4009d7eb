// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `worker build`'s validated configuration: step two after clap (ripgrep style). Raw flags
//! ([`BuildArgs`]) become a typed [`BuildConfig`] (parsed platform, build-arg and label maps,
//! registry maps, context kind, output paths), or a [`ConfigError`] naming the flag at fault.
//!
//! Flags Kaniko has whose feature is not built yet are parsed and then rejected with a message
//! naming them, never ignored: see [`NOT_YET_SUPPORTED`], the one table to shrink as features
//! land. Flags that are meaningless here are accepted and documented:
//! * `--cleanup`: we never unpack into the host's root, so there is nothing to clean;
//! * `--use-new-run`: Kaniko's experimental RUN change detection; our snapshotter is used
//!   either way;
//! * `--force`: Kaniko refuses to run outside a container without it; we run anywhere. Here
//!   it lets a build replace a digest file (`--digest-file`, `--image-name-*-file`) whose
//!   content would change; without it that is an error (the same content is fine);
//! * `--snapshot-mode`: `full`, `redo` and `time` are all accepted and stored for the
//!   snapshotter.
//!
//! `--kaniko-dir` (Kaniko's working directory, `/kaniko` there) is, when given, the root of
//! the build's state: `tmp/` (scratch), `store/` and `run-cache/` (unless `--store-dir` or
//! `--run-cache-dir` say otherwise); without it the system's temporary directory and the
//! user's cache directory serve. `--cache-dir DIR` (Kaniko's base-image cache) is the layer
//! store `worker warm --store-dir DIR` filled: base images are read from its records first,
//! and it is the build's store. `--skip-unused-stages` defaults to true here (Kaniko:
//! false); `=false` builds every stage up to the target.
//!
//! Behaviour kept from Kaniko: `--build-arg KEY` without `=` takes `KEY` from the environment
//! and is the empty string when unset; a missing `--destination` without `--no-push` is an
//! error; `--image-name-with-digest-file` and `--image-name-tag-with-digest-file` need a
//! destination; empty path flags (`--tar-path=`) mean "not set". Differences: `--tar-path` and
//! `--oci-layout-path` work without a destination when `--no-push` is given, and
//! `--context-sub-path` applies to directory contexts too (Kaniko applies it to remote ones
//! only).

mod settings;
mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kaniko_common::platform::{Platform, PlatformError};

use crate::context_files::DockerfilePath;

pub use crate::cli::BuildArgs;
pub use crate::output::Outputs;
pub use kaniko_common::messages::RequestedOciMode;
pub use kaniko_common::oci::Compression;
pub use settings::{BuildSettings, RunSettings};
pub use types::{
    BuildContext, LimitOptions, LogFormat, LogOptions, RegistryMap, RegistryOptions, RunCacheScope,
    RunOptions, SnapshotMode, SnapshotOptions, TarSource, Verbosity, default_cache_dir,
    default_run_cache_dir,
};

/// Why the `worker build` flags do not make a usable configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A Kaniko flag whose feature is not implemented yet (see [`NOT_YET_SUPPORTED`]).
    #[error("{flag} is not supported yet: {reason}")]
    NotYetSupported {
        /// The flag, as the user typed it (e.g. `--cache=true`).
        flag: &'static str,
        /// What is missing.
        reason: &'static str,
    },
    /// A build context kind that is not implemented yet (`git://`, `s3://`, `gs://`, ...).
    #[error(
        "--context {context:?}: {scheme}:// build contexts are not supported yet \
         (use a directory, dir://<dir> or tar://<file>)"
    )]
    UnsupportedContext {
        /// The context as given.
        context: String,
        /// Its scheme.
        scheme: String,
    },
    /// No context at all.
    #[error("--context is empty: specify the build context directory")]
    EmptyContext,
    /// An `oci://` context that does not name its artifact by digest.
    #[error(
        "--context {0:?}: an oci:// context names its artifact by digest \
         (oci://<registry>/<repo>@sha256:<64 hex digits>)"
    )]
    ContextNotByDigest(String),
    /// A `--context-sub-path` that is absolute or climbs out of the context.
    #[error("--context-sub-path {0:?} must be a relative path inside the context")]
    BadContextSubPath(String),
    /// A Dockerfile given as a URL.
    #[error("--dockerfile {0:?}: fetching the Dockerfile over http(s) is not supported yet")]
    DockerfileUrl(String),
    /// Nowhere to put the image.
    #[error("you must provide --destination, or use --no-push")]
    MissingDestination,
    /// The signing flags are wrong or the key does not load.
    #[error("{0}")]
    Signing(String),
    /// An output that names the destination, without a destination.
    #[error("{0} requires --destination")]
    DestinationRequired(&'static str),
    /// A destination that cannot be an image reference.
    #[error("invalid --destination {value:?}: {reason}")]
    InvalidDestination {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `--custom-platform` is not a platform.
    #[error("invalid --custom-platform {value:?}")]
    InvalidPlatform {
        /// The value as given.
        value: String,
        /// Why it is not a platform.
        #[source]
        source: PlatformError,
    },
    /// A `KEY=VALUE` flag without `=` or with an empty key.
    #[error("invalid {flag} {value:?}: expected KEY=VALUE with a non-empty KEY")]
    KeyValue {
        /// The flag.
        flag: &'static str,
        /// The value as given.
        value: String,
    },
    /// `--compression-level` outside the algorithm's range.
    #[error(
        "--compression-level {level} is out of range for {compression} (expected -1 or {min}..={max})"
    )]
    CompressionLevel {
        /// The level given.
        level: i32,
        /// The algorithm.
        compression: Compression,
        /// Lowest valid level.
        min: i32,
        /// Highest valid level.
        max: i32,
    },
    /// `--cache-dir` with a store it cannot be (`--no-store`, another `--store-dir`).
    #[error("--cache-dir is the layer store `worker warm` filled, so the build's store: {0}")]
    CacheDir(&'static str),
    /// A relative `--ignore-path`.
    #[error("--ignore-path {0:?} must be an absolute path")]
    RelativeIgnorePath(String),
    /// A `--secret` that does not parse or names no file (never carries a value).
    #[error("{0}")]
    Secret(String),
    /// A cache flag (`--cache-repo`, `--cache-ttl`, ...) with an unusable value, or given where
    /// it can have no effect.
    #[error("{flag}: {reason}")]
    Cache {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A limit flag (`--max-build-disk`, `--add-url-timeout`, ...) with an unusable value.
    #[error("{flag} {value}: {reason}")]
    Limit {
        /// The flag.
        flag: &'static str,
        /// The value as given.
        value: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
}

/// A flag that is parsed but whose feature is not implemented yet. [`NOT_YET_SUPPORTED`] lists
/// them; delete the line when the feature lands.
pub struct NotYetSupported {
    /// The flag as reported.
    pub flag: &'static str,
    /// What is missing.
    pub reason: &'static str,
    /// Whether the flags ask for it.
    pub used: fn(&BuildArgs) -> bool,
}

/// Every Kaniko flag that is recognised but not implemented yet.
pub const NOT_YET_SUPPORTED: &[NotYetSupported] = &[
    NotYetSupported {
        flag: "--registry-certificate",
        reason: "custom registry CA certificates are not implemented",
        used: |a| !a.registry_certificate.is_empty(),
    },
    NotYetSupported {
        flag: "--registry-client-cert",
        reason: "registry client certificates are not implemented",
        used: |a| !a.registry_client_cert.is_empty(),
    },
    NotYetSupported {
        flag: "--git",
        reason: "git build contexts are not implemented",
        used: |a| given(&a.git),
    },
    NotYetSupported {
        flag: "--bucket",
        reason: "GCS bucket build contexts are not implemented",
        used: |a| given(&a.bucket),
    },
    NotYetSupported {
        flag: "--force-build-metadata",
        reason: "metadata-only layers are not implemented",
        used: |a| a.force_build_metadata == Some(true),
    },
];

fn given(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty())
}

/// How the image is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOptions {
    /// `--label`s, by key (the last one given for a key wins).
    pub labels: BTreeMap<String, String>,
    /// Layer compression.
    pub compression: Compression,
    /// Compression level; `None` is the algorithm's default.
    pub compression_level: Option<i32>,
    /// `--oci-mode` (`auto`: follow the base image's media types, OCI for `scratch`).
    pub oci_mode: RequestedOciMode,
    /// `--reproducible`: timestamps stripped.
    pub reproducible: bool,
}

/// The validated configuration of one `worker build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    /// The build context.
    pub context: BuildContext,
    /// `--context-sub-path`, relative to the context root.
    pub context_sub_path: Option<PathBuf>,
    /// `--dockerfile` as given; see [`BuildConfig::resolve_dockerfile`].
    pub dockerfile: PathBuf,
    /// `--target`.
    pub target: Option<String>,
    /// `--build-arg`s, by key (the last one given for a key wins).
    pub build_args: BTreeMap<String, String>,
    /// The target platform: `--custom-platform`, else the host's.
    pub platform: Platform,
    /// `--skip-unused-stages`: build only the stages the target needs (the default here;
    /// Kaniko's is `false`, every stage up to the target).
    pub skip_unused_stages: bool,
    /// Where the image goes.
    pub outputs: Outputs,
    /// How the image is written.
    pub image: ImageOptions,
    /// How filesystem changes are detected.
    pub snapshot: SnapshotOptions,
    /// How registries are reached.
    pub registry: RegistryOptions,
    /// Secrets and caches of `RUN --mount`.
    pub run: RunOptions,
    /// Bounds on what the build writes and fetches.
    pub limits: LimitOptions,
    /// The layer store (`--store-dir`, `--store-max-size`); `None`: `--no-store`.
    pub store: Option<crate::store::StoreOptions>,
    /// The layer cache (`--cache=true`); `None`: off.
    pub cache: Option<crate::cache::CacheOptions>,
    /// `--cache-dir`: the store `worker warm` recorded base images in (then also the
    /// build's store), read before the registry.
    pub base_cache_dir: Option<PathBuf>,
    /// `--image-fs-extract-retry`.
    pub image_fs_extract_retry: u32,
    /// `--kaniko-dir` (or `KANIKO_DIR`): the root of the build's state when given (its
    /// scratch directory `tmp/`, and unless their own flags say otherwise the layer store
    /// `store/` and the RUN caches `run-cache/`); `None`: the system's temporary directory
    /// and the user's cache directory.
    pub kaniko_dir: Option<PathBuf>,
    /// Logging.
    pub log: LogOptions,
}

impl BuildConfig {
    /// Validates raw flags, taking `--build-arg KEY` values from the process environment.
    pub fn from_args(args: &BuildArgs) -> Result<BuildConfig, ConfigError> {
        BuildConfig::from_args_with_env(args, |key| std::env::var(key).ok())
    }

    /// Validates raw flags; `env` answers `--build-arg KEY` lookups.
    pub fn from_args_with_env(
        args: &BuildArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<BuildConfig, ConfigError> {
        if let Some(unsupported) = NOT_YET_SUPPORTED.iter().find(|u| (u.used)(args)) {
            return Err(ConfigError::NotYetSupported {
                flag: unsupported.flag,
                reason: unsupported.reason,
            });
        }
        let context = BuildContext::parse(&args.context)?;
        let context_sub_path = non_empty(&args.context_sub_path)
            .map(|sub| {
                let path = PathBuf::from(sub);
                let cleaned = crate::copy::glob::pattern::clean(sub);
                let inside = path.is_relative() && cleaned != ".." && !cleaned.starts_with("../");
                if inside {
                    Ok(path)
                } else {
                    Err(ConfigError::BadContextSubPath(sub.to_string()))
                }
            })
            .transpose()?;
        let lower = args.dockerfile.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Err(ConfigError::DockerfileUrl(args.dockerfile.clone()));
        }
        let platform = match non_empty(&args.custom_platform) {
            Some(value) => {
                Platform::parse(value).map_err(|source| ConfigError::InvalidPlatform {
                    value: value.to_string(),
                    source,
                })?
            }
            None => Platform::host(),
        };
        let outputs = outputs(args)?;
        let cache = cache_options(args, &outputs)?;
        let mut build_args = BTreeMap::new();
        for raw in &args.build_arg {
            let (key, value) = match raw.split_once('=') {
                Some((key, value)) => (key, value.to_string()),
                None => (raw.as_str(), env(raw).unwrap_or_default()),
            };
            insert_key_value(&mut build_args, "--build-arg", raw, key, value)?;
        }
        let mut labels = BTreeMap::new();
        for raw in &args.label {
            let Some((key, value)) = raw.split_once('=') else {
                return Err(key_value_error("--label", raw));
            };
            insert_key_value(&mut labels, "--label", raw, key, value.to_string())?;
        }
        let compression_level = compression_level(args.compression, args.compression_level)?;
        let mut ignore_paths = Vec::new();
        for raw in args.ignore_path.iter().filter(|p| !p.is_empty()) {
            if !raw.starts_with('/') {
                return Err(ConfigError::RelativeIgnorePath(raw.clone()));
            }
            ignore_paths.push(PathBuf::from(raw));
        }
        let kaniko_dir = non_empty(&args.kaniko_dir).map(PathBuf::from);
        Ok(BuildConfig {
            context,
            context_sub_path,
            dockerfile: PathBuf::from(&args.dockerfile),
            target: non_empty(&args.target).map(str::to_string),
            build_args,
            platform,
            skip_unused_stages: args.skip_unused_stages.unwrap_or(true),
            outputs,
            image: ImageOptions {
                labels,
                compression: args.compression,
                compression_level,
                oci_mode: args.oci_mode,
                reproducible: args.reproducible.unwrap_or(false),
            },
            snapshot: SnapshotOptions {
                mode: args.snapshot_mode,
                single_snapshot: args.single_snapshot.unwrap_or(false),
                ignore_paths,
                ignore_var_run: args.ignore_var_run.unwrap_or(true),
                snapshotter: args.snapshotter,
                network: args.network,
            },
            registry: RegistryOptions::from_args(args)?,
            run: RunOptions {
                secrets: crate::run::secrets::parse_all(&args.run.secret)
                    .map_err(ConfigError::Secret)?,
                cache_dir: non_empty(&args.run.run_cache_dir)
                    .map(PathBuf::from)
                    .or_else(|| kaniko_dir.as_ref().map(|d| d.join("run-cache")))
                    .unwrap_or_else(default_run_cache_dir),
                cache_scope: args.run.run_cache_scope,
            },
            limits: limit_options(&args.limits)?,
            cache,
            store: store_settings(
                args.store.settings(),
                non_empty(&args.cache_dir),
                kaniko_dir.as_deref(),
            )?
            .options(),
            base_cache_dir: non_empty(&args.cache_dir).map(PathBuf::from),
            image_fs_extract_retry: args.image_fs_extract_retry,
            kaniko_dir: kaniko_dir.clone(),
            log: LogOptions {
                verbosity: args.verbosity,
                format: args.log_format,
                timestamp: args.log_timestamp.unwrap_or(false),
            },
        })
    }

    /// The directory COPY reads from, for a directory context (`None` for a tarball, which
    /// must be unpacked first; then join [`BuildConfig::context_sub_path`] yourself).
    pub fn context_dir(&self) -> Option<PathBuf> {
        match &self.context {
            BuildContext::Dir(dir) => Some(match &self.context_sub_path {
                Some(sub) => dir.join(sub),
                None => dir.clone(),
            }),
            BuildContext::Tar(_) | BuildContext::Oci(_) => None,
        }
    }

    /// Where the Dockerfile is, Kaniko's way: `--dockerfile` as given (absolute, or relative
    /// to the current directory) when something is there, else relative to the context. A
    /// path lexically inside the context is read inside it (a symlink never leads out of it,
    /// see [`crate::context_files`]); one outside was named by the operator and is read as
    /// given. Whether the file exists is for the reading to say.
    pub fn resolve_dockerfile(&self, context_dir: &Path) -> std::io::Result<DockerfilePath> {
        let cwd = std::env::current_dir()?;
        let context = cwd.join(context_dir);
        let as_given = cwd.join(&self.dockerfile);
        if std::fs::symlink_metadata(&as_given).is_ok() {
            return Ok(DockerfilePath::classify(&context, &as_given));
        }
        Ok(DockerfilePath::classify(
            &context,
            &context.join(&self.dockerfile),
        ))
    }
}

/// The `--destination`s, each checked to be an image reference (a task's destinations too).
pub(crate) fn destinations(values: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut destinations = Vec::new();
    for raw in values {
        let reason = if raw.is_empty() {
            Some("it is empty")
        } else if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("it contains whitespace")
        } else if raw.contains("://") {
            Some("an image reference has no scheme (write registry/repository:tag)")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ConfigError::InvalidDestination {
                value: raw.clone(),
                reason,
            });
        }
        destinations.push(raw.clone());
    }
    Ok(destinations)
}

/// The cache flags: `None` without `--cache=true`. Kaniko's defaults: the repository is the
/// first destination's followed by `/cache`, the TTL two weeks, RUN layers cached and COPY
/// layers not. Without `--cache=true` the settings that only tune it are accepted (CI
/// recipes pass `--cache-run-layers=true` and `--compressed-caching=false` everywhere); the
/// ones that name a cache (`--cache-repo`, `--cache-ttl`, `--cache-copy-layers=true`,
/// `--arch-cache-repo-suffix`) are refused unless `--cache=false` was given explicitly.
fn cache_options(
    args: &BuildArgs,
    outputs: &Outputs,
) -> Result<Option<crate::cache::CacheOptions>, ConfigError> {
    let error = |flag: &'static str, reason: String| ConfigError::Cache { flag, reason };
    if args.cache != Some(true) {
        let naming: [(&'static str, bool); 4] = [
            ("--cache-repo", given(&args.cache_repo)),
            ("--cache-ttl", given(&args.cache_ttl)),
            ("--cache-copy-layers", args.cache_copy_layers == Some(true)),
            (
                "--arch-cache-repo-suffix",
                given(&args.arch_cache_repo_suffix),
            ),
        ];
        if args.cache.is_none()
            && let Some((flag, _)) = naming.iter().find(|(_, used)| *used)
        {
            return Err(error(
                flag,
                "has no effect without --cache=true (give --cache=true, or --cache=false to \
                 keep the setting while caching is off)"
                    .into(),
            ));
        }
        return Ok(None);
    }
    if args.compressed_caching == Some(false) {
        return Err(error(
            "--compressed-caching=false",
            "the cache holds the image's own compressed layers (streamed, never held in \
             memory, which is what Kaniko's false is for); an uncompressed cache is not \
             supported"
                .into(),
        ));
    }
    let ttl = match non_empty(&args.cache_ttl) {
        Some(text) => kaniko_common::dockerfile::parse_go_duration(text)
            .map_err(|reason| error("--cache-ttl", reason))?,
        None => crate::cache::DEFAULT_TTL,
    };
    let cache = kaniko_common::messages::LayerCache {
        repo: non_empty(&args.cache_repo).map(str::to_string),
        ttl_secs: None,
        copy_layers: args.cache_copy_layers.unwrap_or(false),
        run_layers: args.cache_run_layers.unwrap_or(true),
        push: !args.no_push_cache.unwrap_or(false),
    };
    let suffix = non_empty(&args.arch_cache_repo_suffix);
    cache_settings(&cache, ttl, &outputs.destinations, suffix).map(Some)
}

/// The cache of a build (`worker build`'s flags or a task's settings): the repository given,
/// else the first destination's followed by `/cache`; the suffix checked.
pub(crate) fn cache_settings(
    cache: &kaniko_common::messages::LayerCache,
    ttl: std::time::Duration,
    destinations: &[String],
    suffix: Option<&str>,
) -> Result<crate::cache::CacheOptions, ConfigError> {
    let error = |flag: &'static str, reason: String| ConfigError::Cache { flag, reason };
    let repo = match cache.repo.as_deref().filter(|r| !r.is_empty()) {
        Some(repo) if repo.starts_with("oci:") => {
            if repo.len() == "oci:".len() {
                return Err(error(
                    "--cache-repo",
                    "oci: needs the layout's directory (oci:PATH)".into(),
                ));
            }
            repo.to_string()
        }
        Some(repo) => cache_repository(repo).map_err(|reason| error("--cache-repo", reason))?,
        None => {
            let Some(first) = destinations.first() else {
                return Err(error(
                    "--cache=true",
                    "needs --cache-repo, or a --destination (the default cache repository is \
                     <destination repository>/cache)"
                        .into(),
                ));
            };
            let repo = cache_repository(first).map_err(|reason| error("--destination", reason))?;
            format!("{repo}/cache")
        }
    };
    if let Some(suffix) = suffix {
        kaniko_common::messages::check_arch_suffix(suffix)
            .map_err(|reason| error("--arch-cache-repo-suffix", reason))?;
    }
    Ok(crate::cache::CacheOptions {
        repo,
        arch_suffix: suffix.map(str::to_string),
        ttl,
        copy_layers: cache.copy_layers,
        run_layers: cache.run_layers,
        push: cache.push,
    })
}

/// `registry/repository` of an image reference (its tag or digest dropped).
fn cache_repository(text: &str) -> Result<String, String> {
    let reference: kaniko_registry::Reference = text
        .parse()
        .map_err(|e| format!("{text:?} is not a repository: {e}"))?;
    Ok(format!(
        "{}/{}",
        reference.registry(),
        reference.repository()
    ))
}

fn outputs(args: &BuildArgs) -> Result<Outputs, ConfigError> {
    let destinations = destinations(&args.destination)?;
    let no_push = args.no_push.unwrap_or(false);
    if !no_push && destinations.is_empty() {
        return Err(ConfigError::MissingDestination);
    }
    let path = |value: &Option<String>| non_empty(value).map(PathBuf::from);
    let outputs = Outputs {
        no_push,
        tar_path: path(&args.tar_path),
        oci_layout_path: path(&args.oci_layout_path),
        digest_file: path(&args.digest_file),
        image_name_with_digest_file: path(&args.image_name_with_digest_file),
        image_name_tag_with_digest_file: path(&args.image_name_tag_with_digest_file),
        metadata_file: path(&args.metadata_file),
        force: args.force.unwrap_or(false),
        push_by_digest: args.push_by_digest.unwrap_or(false),
        termination_message_path: path(&args.termination_message_path),
        signing_key: args
            .signing
            .load()
            .map_err(|err| ConfigError::Signing(format!("{err:#}")))?,
        sbom: args.sbom,
        destinations,
    };
    if outputs.sbom && outputs.no_push {
        return Err(ConfigError::Signing(
            "--sbom is attached to the pushed image: it cannot go with --no-push".to_string(),
        ));
    }
    if outputs.signing_key.is_some() && outputs.no_push {
        return Err(ConfigError::Signing(
            "--sign-images signs the pushed image: it cannot go with --no-push".to_string(),
        ));
    }
    if outputs.destinations.is_empty() {
        if outputs.image_name_with_digest_file.is_some() {
            return Err(ConfigError::DestinationRequired(
                "--image-name-with-digest-file",
            ));
        }
        if outputs.image_name_tag_with_digest_file.is_some() {
            return Err(ConfigError::DestinationRequired(
                "--image-name-tag-with-digest-file",
            ));
        }
    }
    Ok(outputs)
}

pub(crate) fn limit_options(args: &crate::cli::LimitArgs) -> Result<LimitOptions, ConfigError> {
    if let Some(size) = args.max_build_disk
        && size.0 == 0
    {
        return Err(ConfigError::Limit {
            flag: "--max-build-disk",
            value: size.to_string(),
            reason: "a build needs some disk (give a size such as 20GiB)",
        });
    }
    if args.add_url_max_size.0 == 0 {
        return Err(ConfigError::Limit {
            flag: "--add-url-max-size",
            value: args.add_url_max_size.to_string(),
            reason: "must be more than 0",
        });
    }
    if args.add_url_timeout == 0 {
        return Err(ConfigError::Limit {
            flag: "--add-url-timeout",
            value: "0".to_string(),
            reason: "must be at least 1 second",
        });
    }
    Ok(LimitOptions {
        max_build_disk: args.max_build_disk.map(|size| size.0),
        max_compression_ratio: args.max_compression_ratio,
        add_url_max_size: args.add_url_max_size.0,
        add_url_timeout: std::time::Duration::from_secs(args.add_url_timeout),
    })
}

pub(crate) fn compression_level(
    compression: Compression,
    level: i32,
) -> Result<Option<i32>, ConfigError> {
    if level == -1 {
        return Ok(None);
    }
    let levels = compression.levels();
    let (min, max) = (*levels.start(), *levels.end());
    if levels.contains(&level) {
        Ok(Some(level))
    } else {
        Err(ConfigError::CompressionLevel {
            level,
            compression,
            min,
            max,
        })
    }
}

/// Adds `key = value` to a `--build-arg` or `--label` map; an empty key is refused, naming
/// `raw` (the value as given).
pub(crate) fn insert_key_value(
    map: &mut BTreeMap<String, String>,
    flag: &'static str,
    raw: &str,
    key: &str,
    value: String,
) -> Result<(), ConfigError> {
    if key.is_empty() {
        return Err(key_value_error(flag, raw));
    }
    map.insert(key.to_string(), value);
    Ok(())
}

fn key_value_error(flag: &'static str, value: &str) -> ConfigError {
    ConfigError::KeyValue {
        flag,
        value: value.to_string(),
    }
}

/// The layer store: `--cache-dir` (which must agree with `--store-dir` and `--no-store`),
/// else `--store-dir`, else `<--kaniko-dir>/store`, else the default. `worker build`'s and
/// `worker serve`'s.
pub(crate) fn store_settings(
    mut settings: crate::store::commands::StoreSettings,
    cache_dir: Option<&str>,
    kaniko_dir: Option<&Path>,
) -> Result<crate::store::commands::StoreSettings, ConfigError> {
    if let Some(cache_dir) = cache_dir.map(PathBuf::from) {
        if settings.disabled {
            return Err(ConfigError::CacheDir("--no-store leaves no store to read"));
        }
        if settings.dir.as_ref().is_some_and(|d| *d != cache_dir) {
            return Err(ConfigError::CacheDir(
                "--store-dir names another directory; give one of them",
            ));
        }
        settings.dir = Some(cache_dir);
    }
    if settings.dir.is_none() {
        settings.dir = kaniko_dir.map(|d| d.join("store"));
    }
    Ok(settings)
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests;
