// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `worker` command line: `worker build` (a drop-in for Kaniko's `/kaniko/executor`, same
//! flag names, short forms and defaults) and `worker serve` (the NATS task consumer).
//!
//! These are the raw flags, exactly as typed; [`crate::config::BuildConfig::from_args`] turns
//! them into a validated, typed configuration and rejects what is not supported yet.
//!
//! Boolean flags take Kaniko's (pflag's) forms: `--flag`, `--flag=true`, `--flag=false` (and
//! Go's other spellings: `1`, `t`, `T`, `TRUE`, `True`, `0`, `f`, ...). A bare `--flag value`
//! is not a boolean value, as in Kaniko. They are `Option<bool>` so that "not given" stays
//! distinguishable from "given as false".

use clap::{Arg, ArgAction, Args, Parser, Subcommand};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use kaniko_nats::NatsArgs;

use crate::config::{Compression, LogFormat, RequestedOciMode, SnapshotMode, Verbosity};
use crate::unpack::limits::{ByteSize, DEFAULT_ADD_URL_TIMEOUT, DEFAULT_MAX_RATIO};

/// kaniko-rs worker: builds one Dockerfile for one platform, daemonless and unprivileged.
#[derive(Debug, Parser)]
#[command(name = "worker", version = kaniko_common::version::VERSION, long_version = kaniko_common::version::LONG_VERSION)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `worker` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build one image from a Dockerfile (flags of Kaniko's /kaniko/executor).
    Build(Box<BuildArgs>),
    /// Take build tasks from NATS and build them.
    Serve(Box<ServeArgs>),
    /// Inspect or prune the layer store.
    #[command(subcommand)]
    Store(crate::store::commands::StoreCommand),
    /// Pull images, record their manifest and config and unpack their layers into the layer
    /// store ahead of builds (`worker build --cache-dir` reads the records first).
    Warm(Box<crate::store::commands::WarmArgs>),
}

/// `worker serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    /// How to reach NATS.
    pub nats: NatsArgs,
    /// Platform to serve (os/arch[/variant]); repeatable or comma-separated. Default: the
    /// host's.
    #[arg(long, value_name = "PLATFORM", value_delimiter = ',')]
    pub platform: Vec<String>,
    /// Also serve platforms other than the host's, for cross-safe tasks (no RUN) only.
    #[arg(long)]
    pub allow_cross: bool,
    /// Builds in flight at most.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub concurrency: u32,
    /// This worker's id (letters, digits, '_' and '-'). Default: host name and a random
    /// suffix.
    #[arg(long, env = "KANIKO_WORKER_ID")]
    pub id: Option<String>,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub heartbeat_interval: u64,
    /// Seconds in-flight builds may run on after SIGTERM before they are handed back.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub grace_period: u64,
    /// Seconds a task may go without an in-progress ack before it is redelivered (used
    /// when this worker creates the consumer).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub ack_wait: u64,
    /// Deliveries of a task at most (used when this worker creates the consumer).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_deliver: i64,
    /// Replicas of the streams, KV buckets and object store when this worker is the one that
    /// creates them (1 to 5; as the coordinator's `--replicas`: 3 on a 3-node cluster).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=5))]
    pub replicas: usize,
    /// Seconds before a task that failed transiently (registry down, timeout) is delivered
    /// again; doubled for each further delivery, at most 60.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub retry_backoff: f64,
    /// How long to keep trying a nats-server that is not up yet at start, seconds (a worker
    /// may start before it); refused credentials end it at once.
    #[arg(
        long,
        env = "KANIKO_NATS_CONNECT_TIMEOUT",
        default_value_t = 60,
        value_name = "SECS"
    )]
    pub nats_connect_timeout: u64,
    /// How every build reaches registries (`worker build`'s registry flags).
    #[command(flatten)]
    pub registry: BuildRegistryFlags,
    /// RUN's network for every build, the most a Dockerfile may use: `host` (default) or
    /// `none`; `RUN --network=none` narrows it, `RUN --network=host` under `none` fails.
    #[arg(long, default_value = "host", value_parser = ["host", "none"])]
    pub network: String,
    /// How RUN's changes are found: `auto`, `overlay` or `walk` (see `worker build --help`).
    #[arg(long, default_value = "auto", value_parser = ["auto", "overlay", "walk"])]
    pub snapshotter: String,
    /// RUN's secrets and caches for every build (secrets need a `scope=` here).
    #[command(flatten)]
    pub run: RunFlags,
    /// Bounds of every build (see `worker build --help`).
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The layer store every build shares (see `worker build --help`).
    #[command(flatten)]
    pub store: crate::store::commands::StoreFlags,
    /// Base-image cache of every build, as `worker build --cache-dir`: the layer store
    /// `worker warm --cache-dir DIR` filled; FROM images recorded there are read from it
    /// before any registry, and it is every build's store.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<String>,
    /// Root of every build's state, as `worker build --kaniko-dir`: scratch files in
    /// DIR/tmp, and (unless --store-dir, --cache-dir or --run-cache-dir say otherwise) the
    /// layer store and RUN caches in DIR/store and DIR/run-cache.
    #[arg(long, env = "KANIKO_DIR", value_name = "DIR")]
    pub kaniko_dir: Option<String>,
}

/// Bounds on what one build may write and fetch, for `worker build` and every build of
/// `worker serve`. Sizes are bytes, or a number with K, M, G or T (powers of 1024).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Disk one build may fill from what it unpacks, pulls and downloads (base layers,
    /// ADD archives and URLs, COPY --from images, build contexts); a build that needs more
    /// fails naming this flag. Default: 32 GiB, or 90% of the free space of the build's
    /// temporary directory when that is less.
    #[arg(long, value_name = "SIZE", value_parser = ByteSize::parse)]
    pub max_build_disk: Option<ByteSize>,
    /// A compressed layer, archive or context may not decompress to more than N times the
    /// bytes read from it, once it has produced 64 MiB (gzip stays under about 1032:1, so
    /// the default only stops zstd, xz and bzip2 bombs); 0 turns the check off.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_RATIO)]
    pub max_compression_ratio: u64,
    /// Largest download of an ADD <url>.
    #[arg(long, value_name = "SIZE", default_value = "8GiB", value_parser = ByteSize::parse)]
    pub add_url_max_size: ByteSize,
    /// Seconds an ADD <url> download may take in all (connecting takes at most 30 s and a
    /// pause with nothing received at most 60 s, within this).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_ADD_URL_TIMEOUT)]
    pub add_url_timeout: u64,
}

/// How a process reaches registries: plain HTTP and TLS verification, for every registry
/// or per registry. The one declaration of these flags: `worker build` and `worker serve`
/// flatten it (through [`BuildRegistryFlags`]), and so do `coordinator submit`, `index` and
/// `serve`. Booleans take Kaniko's forms (`--insecure`, `--insecure=false`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct RegistryFlags {
    /// Push to and pull from every registry with plain HTTP.
    #[arg(long, default_value_t = false, action = ArgAction::Set, go_bool_flag())]
    pub insecure: bool,
    /// Registry to push to and pull from with plain HTTP. Repeatable.
    #[arg(long, value_name = "REGISTRY")]
    pub insecure_registry: Vec<String>,
    /// Push to and pull from every registry without verifying TLS certificates.
    #[arg(long, default_value_t = false, action = ArgAction::Set, go_bool_flag())]
    pub skip_tls_verify: bool,
    /// Registry to push to and pull from without verifying TLS. Repeatable.
    #[arg(long, value_name = "REGISTRY")]
    pub skip_tls_verify_registry: Vec<String>,
    /// Speak HTTP/1.1 to every registry, never HTTP/2. Without it a TLS registry that offers
    /// HTTP/2 gets it, and one that breaks it falls back to HTTP/1.1 by itself.
    #[arg(long, default_value_t = false, action = ArgAction::Set, go_bool_flag())]
    pub registry_http1: bool,
}

impl RegistryFlags {
    /// The registry client options these flags describe (the rest at their defaults).
    pub fn options(&self) -> kaniko_registry::RegistryOptions {
        kaniko_registry::RegistryOptions {
            insecure_registries: self.insecure_registry.clone(),
            insecure_all: self.insecure,
            skip_tls_verify_registries: self.skip_tls_verify_registry.clone(),
            skip_tls_verify_all: self.skip_tls_verify,
            http1_only: self.registry_http1,
            ..Default::default()
        }
    }
}

/// Where images are pulled from instead of the registry a reference names: docker.io
/// mirrors and registry remapping. Flattened by [`BuildRegistryFlags`] and by `coordinator
/// submit` (for `--driver local`, which reads no environment variable for them: a fleet
/// submit refuses them, and must not be refused for a worker's environment).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct MirrorFlags {
    /// Mirror used instead of docker.io. Repeatable.
    #[arg(long, env = "KANIKO_REGISTRY_MIRROR", value_name = "REGISTRY")]
    pub registry_mirror: Vec<String>,
    /// Registry remapping FROM=TO (several separated by ';'). Repeatable.
    #[arg(long, env = "KANIKO_REGISTRY_MAP", value_name = "FROM=TO")]
    pub registry_map: Vec<String>,
}

/// The registry flags of a build: [`RegistryFlags`] and what Kaniko adds for pulls, mirrors,
/// maps and push retries. `worker build` and `worker serve` flatten it; `worker serve` hands
/// it to every build ([`crate::runner::Runner`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct BuildRegistryFlags {
    /// Plain HTTP and TLS verification.
    #[command(flatten)]
    pub access: RegistryFlags,
    /// Pull from every registry with plain HTTP.
    #[arg(long, default_value_t = false, action = ArgAction::Set, go_bool_flag())]
    pub insecure_pull: bool,
    /// Pull from every registry without verifying TLS certificates.
    #[arg(long, default_value_t = false, action = ArgAction::Set, go_bool_flag())]
    pub skip_tls_verify_pull: bool,
    /// docker.io mirrors and registry remapping.
    #[command(flatten)]
    pub mirrors: MirrorFlags,
    /// Number of retries for a push.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub push_retry: u32,
}

/// Image signing with a cosign key (docs/signing.md), declared once for `worker build`,
/// `coordinator submit` and `coordinator index`. The password is never shown: not in
/// `--help` (the variable's value is hidden), not in `Debug` output.
#[derive(Debug, Clone, Default, Args)]
pub struct SigningFlags {
    /// Sign what is pushed (cosign-compatible: an OCI 1.1 referrer and the
    /// `sha256-<hex>.sig` tag) with the key of --cosign-key-path.
    #[arg(long, default_value_t = false, action = ArgAction::Set, go_bool_flag())]
    pub sign_images: bool,
    /// The private key: cosign's encrypted key (`cosign generate-key-pair`) or a PKCS#8
    /// ECDSA P-256 PEM.
    #[arg(long, value_name = "PATH")]
    pub cosign_key_path: Option<std::path::PathBuf>,
    /// The key's password (else the COSIGN_PASSWORD variable; none: the empty password).
    #[arg(long, env = "COSIGN_PASSWORD", hide_env_values = true, value_name = "PASSWORD", value_parser = password)]
    pub cosign_key_password: Option<kaniko_sign::Password>,
}

fn password(value: &str) -> Result<kaniko_sign::Password, String> {
    Ok(kaniko_sign::Password::new(value))
}

impl SigningFlags {
    /// The signing key when `--sign-images` asks for signing, loaded and decrypted now so a
    /// wrong password fails before anything is built. `--sign-images` without a key and a
    /// key without `--sign-images` are refused.
    pub fn load(&self) -> anyhow::Result<Option<kaniko_sign::SigningKey>> {
        match (&self.cosign_key_path, self.sign_images) {
            (None, false) => Ok(None),
            (Some(_), false) => {
                anyhow::bail!("--cosign-key-path has no effect without --sign-images")
            }
            (None, true) => anyhow::bail!(
                "--sign-images needs --cosign-key-path (keyless signing is not supported)"
            ),
            (Some(path), true) => {
                let key = kaniko_sign::SigningKey::load(path, self.cosign_key_password.as_ref())?;
                tracing::debug!(public_key = %key.public_key().fingerprint(), "signing key loaded");
                Ok(Some(key))
            }
        }
    }
}

/// `worker build` flags: every flag of Kaniko's executor, plus `--oci-mode` and
/// `--metadata-file`.
/// RUN's worker-local settings: secrets and caches. Declared once for `worker build`,
/// `worker serve` and `coordinator submit --driver local`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct RunFlags {
    /// A secret for `RUN --mount=type=secret` (buildx syntax): `id=NAME,src=PATH` or
    /// `id=NAME,env=VAR`. Repeatable. Values never reach the image, the logs or NATS
    /// (`worker serve` requires a `scope=`; `coordinator submit` uses it with `--driver
    /// local`, a fleet's secrets being the workers' own).
    #[arg(long, value_name = "id=NAME,src=PATH|env=VAR")]
    pub secret: Vec<String>,
    /// Where `RUN --mount=type=cache` directories persist between builds (default
    /// `~/.cache/kaniko-rs/run-cache`).
    #[arg(long, env = "KANIKO_RUN_CACHE_DIR", value_name = "DIR")]
    pub run_cache_dir: Option<String>,
    /// Which builds share `RUN --mount=type=cache` directories: `destination` (default: builds
    /// pushing to the same repositories) or `worker` (every build, as BuildKit does).
    #[arg(long, default_value = "destination", value_parser = crate::config::RunCacheScope::parse, value_name = "destination|worker")]
    pub run_cache_scope: crate::config::RunCacheScope,
}

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    // ---- signing ----
    /// `--sign-images`, `--cosign-key-path`, `--cosign-key-password` (docs/signing.md).
    #[command(flatten)]
    pub signing: SigningFlags,
    /// Attach an SPDX 2.3 SBOM (the OS packages of the image's root and its layers) to the
    /// pushed image as an OCI 1.1 referrer, signed too with --sign-images (docs/signing.md).
    #[arg(long, default_value_t = false, action = ArgAction::Set, go_bool_flag())]
    pub sbom: bool,
    // ---- context and Dockerfile ----
    /// Build context: a directory, dir://<dir>, tar://<file.tar[.gz]>, tar://stdin, or
    /// oci://<registry>/<repo>@sha256:<digest> (a context artifact, `--driver k8s`).
    #[arg(short = 'c', long, default_value = "/workspace/")]
    pub context: String,
    /// Sub path within the given context.
    #[arg(long, value_name = "PATH")]
    pub context_sub_path: Option<String>,
    /// GCS bucket holding the build context as a tarball (hidden, as in Kaniko).
    #[arg(short = 'b', long, hide = true)]
    pub bucket: Option<String>,
    /// Branch to clone if the build context is a git repository.
    #[arg(long, value_name = "OPTIONS")]
    pub git: Option<String>,
    /// Path to the Dockerfile (as given, else relative to the context).
    #[arg(short = 'f', long, default_value = "Dockerfile")]
    pub dockerfile: String,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// ARG value at build time, KEY=VALUE, or KEY to take the value from the environment.
    /// Repeatable.
    #[arg(long, value_name = "KEY[=VALUE]")]
    pub build_arg: Vec<String>,
    /// Build for this platform (os/arch[/variant]) instead of the host's.
    #[arg(long, alias = "customPlatform", value_name = "PLATFORM")]
    pub custom_platform: Option<String>,
    /// Build only the stages the target needs (the default); `=false` builds every stage up
    /// to the target, as Kaniko does by default.
    #[arg(long, go_bool_flag())]
    pub skip_unused_stages: Option<bool>,

    // ---- destinations and outputs ----
    /// Image reference to push to. Repeatable.
    #[arg(short = 'd', long, value_name = "IMAGE")]
    pub destination: Vec<String>,
    /// Do not push the image to the registry.
    #[arg(long, env = "KANIKO_NO_PUSH", go_bool_flag())]
    pub no_push: Option<bool>,
    /// Do not push the cache layers to the registry.
    #[arg(long, go_bool_flag())]
    pub no_push_cache: Option<bool>,
    /// Save the image as a tarball at this path.
    #[arg(long, alias = "tarPath", value_name = "PATH")]
    pub tar_path: Option<String>,
    /// Save the image as an OCI image layout at this path.
    #[arg(long, value_name = "PATH")]
    pub oci_layout_path: Option<String>,
    /// Write the image digest to this file.
    #[arg(long, value_name = "PATH")]
    pub digest_file: Option<String>,
    /// Write image-name@digest to this file.
    #[arg(long, value_name = "PATH")]
    pub image_name_with_digest_file: Option<String>,
    /// Write image-name:tag@digest to this file.
    #[arg(long, value_name = "PATH")]
    pub image_name_tag_with_digest_file: Option<String>,
    /// Write the pushed image's descriptor and platform as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub metadata_file: Option<String>,
    /// Push by digest only, moving no tag (the per-platform images of a multi-platform
    /// build, whose index `coordinator submit --driver k8s` publishes).
    #[arg(long, go_bool_flag())]
    pub push_by_digest: Option<bool>,
    /// Write the pushed image's `{digest, size, mediaType, platform}` as one line of JSON to
    /// this file, in place (a pod's `terminationMessagePath`; `--driver k8s` reads it).
    #[arg(long, value_name = "PATH")]
    pub termination_message_path: Option<String>,
    /// Media types of the image: oci, docker, or auto (follow the base image).
    #[arg(long, default_value = "auto", value_parser = oci_mode_parser())]
    pub oci_mode: RequestedOciMode,

    // ---- image content ----
    /// Image label KEY=VALUE. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Layer compression.
    #[arg(long, default_value = "gzip", value_parser = compression_parser())]
    pub compression: Compression,
    /// Compression level (-1: the algorithm's default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true, value_name = "LEVEL")]
    pub compression_level: i32,
    /// Strip timestamps out of the image to make it reproducible.
    #[arg(long, go_bool_flag())]
    pub reproducible: Option<bool>,
    /// Take a single snapshot at the end of the build.
    #[arg(long, go_bool_flag())]
    pub single_snapshot: Option<bool>,
    /// File attributes compared when snapshotting.
    #[arg(long, alias = "snapshotMode", value_enum, default_value_t = SnapshotMode::Full)]
    pub snapshot_mode: SnapshotMode,
    /// How RUN's changes are found: `overlay` (an overlayfs upper directory holds exactly
    /// the change; cost follows the change), `walk` (the stage root is scanned before and
    /// after), `auto` (overlay where it mounts, else walk).
    #[arg(long, default_value = "auto", value_parser = crate::snapshot::Snapshotter::parse, value_name = "auto|overlay|walk")]
    pub snapshotter: crate::snapshot::Snapshotter,
    /// RUN's network, the most a Dockerfile may use: `host` (default) or `none` (loopback
    /// only); `RUN --network=none` narrows it, `RUN --network=host` under `none` fails.
    #[arg(long, default_value = "host", value_parser = crate::sandbox::Network::parse, value_name = "host|none")]
    pub network: crate::sandbox::Network,
    /// RUN's secrets and caches.
    #[command(flatten)]
    pub run: RunFlags,
    /// Bounds on what the build writes and fetches.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The layer store.
    #[command(flatten)]
    pub store: crate::store::commands::StoreFlags,
    /// Kaniko's experimental RUN change detection (accepted, no effect here).
    #[arg(long, go_bool_flag())]
    pub use_new_run: Option<bool>,
    /// Ignore this (absolute) path when snapshotting. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub ignore_path: Vec<String>,
    /// Ignore /var/run when snapshotting.
    #[arg(long, alias = "whitelist-var-run", go_bool_flag())]
    pub ignore_var_run: Option<bool>,
    /// Force adding metadata-only layers to the image.
    #[arg(long, go_bool_flag())]
    pub force_build_metadata: Option<bool>,

    // ---- registries ----
    /// How registries are reached, shared with `worker serve`.
    #[command(flatten)]
    pub registry: BuildRegistryFlags,
    /// Server certificate for a registry, REGISTRY=PATH. Repeatable.
    #[arg(long, value_name = "REGISTRY=PATH")]
    pub registry_certificate: Vec<String>,
    /// Client certificate for a registry, REGISTRY=CERT,KEY. Repeatable.
    #[arg(long, value_name = "REGISTRY=CERT,KEY")]
    pub registry_client_cert: Vec<String>,
    /// Do not fall back to the original registry when no mirror has the image.
    #[arg(long, go_bool_flag())]
    pub skip_default_registry_fallback: Option<bool>,
    /// Treat known tag-immutability errors on push as success.
    #[arg(long, go_bool_flag())]
    pub push_ignore_immutable_tag_errors: Option<bool>,
    /// Skip the push-permission check before building.
    #[arg(long, go_bool_flag())]
    pub skip_push_permission_check: Option<bool>,
    /// Number of retries for extracting the base image filesystem.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub image_fs_extract_retry: u32,
    /// Number of retries for downloading a remote image.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub image_download_retry: u32,

    // ---- cache ----
    /// Use the layer cache.
    #[arg(long, go_bool_flag())]
    pub cache: Option<bool>,
    /// Repository used as the layer cache.
    #[arg(long, value_name = "REPO")]
    pub cache_repo: Option<String>,
    /// Base-image cache: the layer store `worker warm --store-dir DIR` filled. FROM images
    /// recorded there are read from it before any registry; it is the build's store too.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<String>,
    /// Cache timeout (Go duration, e.g. 6h).
    #[arg(long, value_name = "DURATION")]
    pub cache_ttl: Option<String>,
    /// Cache COPY layers.
    #[arg(long, go_bool_flag())]
    pub cache_copy_layers: Option<bool>,
    /// Cache RUN layers.
    #[arg(long, go_bool_flag())]
    pub cache_run_layers: Option<bool>,
    /// Appended to the cache repository per platform; `${ARCH}`, `${OS}` and `${VARIANT}`
    /// are the build's target platform's (e.g. `-${ARCH}`).
    #[arg(long, value_name = "SUFFIX")]
    pub arch_cache_repo_suffix: Option<String>,
    /// Compress cached layers (the cache holds the image's compressed layers: `false` is
    /// refused with --cache=true).
    #[arg(long, go_bool_flag())]
    pub compressed_caching: Option<bool>,

    // ---- process ----
    /// Clean the filesystem at the end (accepted, nothing to clean here).
    #[arg(long, go_bool_flag())]
    pub cleanup: Option<bool>,
    /// Replace digest files whose content would change (refused otherwise). Kaniko's
    /// "build outside of a container" is always allowed here.
    #[arg(long, go_bool_flag())]
    pub force: Option<bool>,
    /// Root of the build's state: scratch files in DIR/tmp, and (unless --store-dir or
    /// --run-cache-dir say otherwise) the layer store and RUN caches in DIR/store and
    /// DIR/run-cache.
    #[arg(long, env = "KANIKO_DIR", value_name = "DIR")]
    pub kaniko_dir: Option<String>,
    /// Log level.
    #[arg(short = 'v', long, value_enum, default_value_t = Verbosity::Info)]
    pub verbosity: Verbosity,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Color)]
    pub log_format: LogFormat,
    /// Timestamp in log output.
    #[arg(long, go_bool_flag())]
    pub log_timestamp: Option<bool>,
}

/// `--compression`: Kaniko's two values, as the shared [`Compression`].
fn compression_parser() -> impl TypedValueParser<Value = Compression> {
    PossibleValuesParser::new(["gzip", "zstd"]).map(|v| match v.as_str() {
        "zstd" => Compression::Zstd,
        _ => Compression::Gzip,
    })
}

/// `--oci-mode`: `oci`, `docker` or `auto`, as the shared [`RequestedOciMode`].
fn oci_mode_parser() -> impl TypedValueParser<Value = RequestedOciMode> {
    PossibleValuesParser::new(["oci", "docker", "auto"]).map(|v| match v.as_str() {
        "oci" => RequestedOciMode::Oci,
        "docker" => RequestedOciMode::Docker,
        _ => RequestedOciMode::Auto,
    })
}

/// Kaniko's boolean flags, as pflag reads them: `--flag` alone is true, `--flag=VALUE` takes
/// any [`go_bool`] spelling, and a separate word is never the flag's value (`--flag false` is
/// an unexpected argument). On a field: `#[arg(long, go_bool_flag())]`.
pub trait GoBoolFlag {
    /// This argument as a Kaniko boolean flag.
    fn go_bool_flag(self) -> Arg;
}

impl GoBoolFlag for Arg {
    fn go_bool_flag(self) -> Arg {
        self.num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(go_bool)
            .value_name("BOOL")
    }
}

/// `cmd` with every plain boolean flag (clap's `SetTrue`) of it and its subcommands made a
/// [`GoBoolFlag`]: `--flag`, `--flag=true` and `--flag=false` all work everywhere, as in Kaniko
/// and the seed's spellings (`--require-native-nodes=true`, `--sign-images=false`). Both
/// binaries parse through it ([`parse_command_line`]), so a flag added later gets it too.
pub fn go_bool_flags(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            arg.action(ArgAction::Set)
                .default_value("false")
                .go_bool_flag()
        } else {
            arg
        }
    })
    .mut_subcommands(go_bool_flags)
}

/// Parses the process's command line as `T` with [`go_bool_flags`]; exits with clap's message
/// and code on a bad command line, like `Parser::parse`.
pub fn parse_command_line<T: Parser>() -> T {
    try_parse_command_line(std::env::args_os()).unwrap_or_else(|err| err.exit())
}

/// [`parse_command_line`] of `args` (the first is the program name).
pub fn try_parse_command_line<T, I>(args: I) -> Result<T, clap::Error>
where
    T: Parser,
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString> + Clone,
{
    let mut matches = go_bool_flags(T::command()).try_get_matches_from(args)?;
    T::from_arg_matches_mut(&mut matches)
}

/// Parses a boolean the way Go's `strconv.ParseBool` (and so Kaniko) does.
pub fn go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (use true or false)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bool_spellings() {
        #[track_caller]
        fn check(input: &str, expected: Result<bool, ()>) {
            assert_eq!(go_bool(input).map_err(|_| ()), expected, "{input:?}");
        }
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            check(t, Ok(true));
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            check(f, Ok(false));
        }
        for bad in ["", "yes", "tRuE", "2"] {
            check(bad, Err(()));
        }
    }

    #[test]
    fn plain_boolean_flags_take_go_spellings_too() {
        let serve = |flag: &str| {
            let cli: Cli = try_parse_command_line(["worker", "serve", flag])?;
            let Command::Serve(args) = cli.command else {
                panic!("not serve");
            };
            Ok::<bool, clap::Error>(args.allow_cross)
        };
        assert!(serve("--allow-cross").unwrap());
        assert!(serve("--allow-cross=true").unwrap());
        assert!(!serve("--allow-cross=false").unwrap());
        assert!(!serve("--concurrency=1").unwrap());
        let err = serve("--allow-cross=sure").unwrap_err().to_string();
        assert!(err.contains("\"sure\" is not a boolean"), "{err}");
    }

    #[test]
    fn boolean_flag_forms() {
        #[track_caller]
        fn check(args: &[&str], expected: Option<Option<bool>>) {
            let argv = ["worker", "build"].iter().chain(args);
            let got = Cli::try_parse_from(argv).ok().map(|cli| match cli.command {
                Command::Build(b) => b.reproducible,
                _ => None,
            });
            assert_eq!(got, expected, "{args:?}");
        }
        check(&[], Some(None));
        check(&["--reproducible"], Some(Some(true)));
        check(&["--reproducible=true"], Some(Some(true)));
        check(&["--reproducible=false"], Some(Some(false)));
        check(&["--reproducible=maybe"], None);
        // pflag does not take a separate value for a boolean: it is an unexpected argument
        check(&["--reproducible", "false"], None);
    }

    #[test]
    fn serve_nats_flags_become_options_and_debug_hides_the_secrets() {
        let cli = Cli::try_parse_from([
            "worker",
            "serve",
            "--nats",
            "tls://127.0.0.1:4443",
            "--nats-token",
            "tok-secret",
            "--nats-user",
            "alice",
            "--nats-password",
            "pw-secret",
            "--nats-nkey",
            "SUseed-secret",
            "--nats-creds",
            "/etc/nats/user.creds",
            "--nats-tls-ca",
            "/etc/nats/ca.pem",
            "--nats-tls-cert",
            "/etc/nats/cert.pem",
            "--nats-tls-key",
            "/etc/nats/key.pem",
        ])
        .expect("flags");
        let Command::Serve(serve) = cli.command else {
            panic!("not serve");
        };
        let options = serve.nats.options();
        assert_eq!(options.url, "tls://127.0.0.1:4443");
        assert_eq!(options.token.as_deref(), Some("tok-secret"));
        assert_eq!(options.user.as_deref(), Some("alice"));
        assert_eq!(options.password.as_deref(), Some("pw-secret"));
        assert_eq!(options.nkey_seed.as_deref(), Some("SUseed-secret"));
        assert_eq!(
            options.creds_file.as_deref(),
            Some(std::path::Path::new("/etc/nats/user.creds"))
        );
        assert_eq!(
            options.tls_ca.as_deref(),
            Some(std::path::Path::new("/etc/nats/ca.pem"))
        );
        assert_eq!(
            options.tls_cert.as_deref(),
            Some(std::path::Path::new("/etc/nats/cert.pem"))
        );
        assert_eq!(
            options.tls_key.as_deref(),
            Some(std::path::Path::new("/etc/nats/key.pem"))
        );
        let debug = format!("{serve:?}");
        for secret in ["tok-secret", "pw-secret", "SUseed-secret"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(
            debug.contains("alice") && debug.contains("<redacted>"),
            "{debug}"
        );
    }
}
