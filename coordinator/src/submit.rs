// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator submit`: pack the context (honouring `.dockerignore`), upload it once per
//! sha256 (an object already stored under it is verified, and replaced when it does not hash
//! to it), submit the build over the NATS request API (`kaniko.api.submit`, JSON; with
//! `--identity`, `kaniko.api.<identity>.submit`, the context in the identity's own store),
//! then follow the build's events from the start of the events stream, so nothing is missed: a
//! line (or progress bar on a terminal) per platform state change, build logs unless
//! `--quiet`, and a summary with the index and each platform's digest. `--metadata-file` and
//! `--digest-file` are written atomically. The NATS path is `submit/nats.rs`, the local one
//! `submit/local.rs`; `--driver ci` runs [`crate::driver::ci`].
//!
//! Exit codes: 0 when everything asked for was published; 2 when an index was published
//! without some platforms (`--allow-partial`); 3 when the index was partially published (a
//! registry refused a destination tag after others had moved: the summary and the metadata
//! file say which); 1 otherwise. Progress goes to stderr; the summary (and the build id with
//! `--detach`) to stdout.

pub mod follow;
pub mod k8s;
mod local;
mod nats;
pub mod output;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{ArgAction, Args, ValueEnum};
use kaniko_common::messages::{BuildRequest, ContextRef, RequestedOciMode};
use kaniko_common::oci::Compression;
use kaniko_common::platform::Platform;
use kaniko_nats::NatsArgs;

use follow::{Outcome, Update};

/// Where the platforms of a build run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Driver {
    /// In-process coordinator and worker, no NATS (host platform; others when cross-safe).
    Local,
    /// The worker fleet over NATS.
    Nats,
    /// A Kubernetes Job per platform on a native node (`--k8s-*` flags, docs/kubernetes.md).
    K8s,
    /// No build: publish an index of the per-platform images per-arch CI jobs pushed
    /// (`--digests-from`); the same as `coordinator index`. No NATS.
    Ci,
}

/// `--compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// gzip layers.
    Gzip,
    /// zstd layers.
    Zstd,
}

/// `--oci-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OciModeArg {
    /// OCI manifests and index.
    Oci,
    /// Docker manifests and manifest list.
    Docker,
    /// Follow the base images.
    Auto,
}

/// `coordinator submit` flags.
#[derive(Debug, Clone, Args)]
// The local driver's mirrors read no environment variable (see `MirrorFlags`).
#[command(
    mut_arg("registry_mirror", |arg| arg
        .env(None)
        .help("Mirror used instead of docker.io. Repeatable (`--driver local`)")),
    mut_arg("registry_map", |arg| arg
        .env(None)
        .help("Registry remapping FROM=TO (several separated by ';'). Repeatable (`--driver local`)")),
)]
pub struct SubmitArgs {
    /// The build context directory.
    #[arg(short = 'c', long, default_value = ".")]
    pub context: PathBuf,
    /// The Dockerfile (default: <context>/Dockerfile).
    #[arg(short = 'f', long)]
    pub dockerfile: Option<PathBuf>,
    /// Image reference the index is pushed under. Repeatable.
    #[arg(short = 'd', long, required = true, value_name = "IMAGE")]
    pub destination: Vec<String>,
    /// Platforms to build, comma-separated or repeated (default: the host's).
    #[arg(
        long,
        alias = "platform",
        value_delimiter = ',',
        value_name = "PLATFORMS"
    )]
    pub multi_platform: Vec<String>,
    /// Where the builds run. Default: `nats` when `--nats`/`NATS_URL` names a server,
    /// `local` (in-process, no NATS) otherwise.
    #[arg(long, value_enum, env = "KANIKO_DRIVER")]
    pub driver: Option<Driver>,
    /// Publish the multi-platform index (false: push the per-platform images only).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub publish_index: bool,
    /// Refuse at once when a platform has no live native worker, instead of queueing.
    #[arg(long)]
    pub require_native_nodes: bool,
    /// Layer compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// Compression level.
    #[arg(long, allow_negative_numbers = true, value_name = "LEVEL")]
    pub compression_level: Option<i32>,
    /// Media types: oci, docker (a Docker manifest list), or auto.
    #[arg(long, value_enum, default_value_t = OciModeArg::Oci)]
    pub oci_mode: OciModeArg,
    /// Index annotations KEY=VALUE[,KEY=VALUE...] (OCI index only). Repeatable.
    #[arg(long = "index-annotations", value_name = "KEY=VALUE,...")]
    pub index_annotation: Vec<String>,
    /// ARG value KEY=VALUE. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Image label KEY=VALUE. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Reproducible images.
    #[arg(long)]
    pub reproducible: bool,
    /// Give up after this long (`90s`, `30m`, `2h`, `1d`, or seconds).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Publish the index of the platforms that succeeded when some fail (exit code 2).
    #[arg(long)]
    pub allow_partial: bool,
    /// Each platform's build uses the layer cache (docs/cache.md); `--arch-cache-repo-suffix`
    /// gives each platform its own repository.
    #[arg(long)]
    pub cache: bool,
    /// The cache repository (default: the first destination's repository followed by
    /// `/cache`).
    #[arg(long, value_name = "REPO")]
    pub cache_repo: Option<String>,
    /// Cache entries older than this are misses (a Go duration: `6h`, `30m`; default 336h).
    #[arg(long, value_parser = parse_cache_ttl, value_name = "DURATION")]
    pub cache_ttl: Option<u64>,
    /// Look COPY and ADD up in the cache.
    #[arg(long)]
    pub cache_copy_layers: bool,
    /// Look RUN up in the cache.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub cache_run_layers: bool,
    /// Read the cache, never write it.
    #[arg(long)]
    pub no_push_cache: bool,
    /// Suffix of each platform's layer cache repository (`${ARCH}`, `${OS}`, `${VARIANT}`
    /// of the task's platform, e.g. `-${ARCH}`).
    #[arg(long, value_name = "SUFFIX", allow_hyphen_values = true)]
    pub arch_cache_repo_suffix: Option<String>,
    /// Print the build id and exit without following the build.
    #[arg(long)]
    pub detach: bool,
    /// Hide build logs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the outcome (state, index, platforms, each destination tag's fate, failures) as
    /// JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub metadata_file: Option<PathBuf>,
    /// Write the index digest (or, without an index, each platform's) to this file.
    #[arg(long, value_name = "PATH")]
    pub digest_file: Option<PathBuf>,
    /// `--driver ci`: the directory of per-platform files (see `coordinator index --help`).
    #[arg(long, value_name = "DIR")]
    pub digests_from: Option<PathBuf>,
    /// `--driver ci`: repository the per-platform images were pushed to, for files that do
    /// not say. Repeatable.
    #[arg(long, value_name = "REPO")]
    pub source_repo: Vec<String>,
    #[command(flatten)]
    /// Index publishing flags.
    pub publish: crate::cli::PublishFlags,
    #[command(flatten)]
    /// Registry access of this process (`--driver ci` pushes from here).
    pub registry: crate::cli::RegistryArgs,
    #[command(flatten)]
    /// How to reach NATS.
    pub nats: NatsArgs,
    #[command(flatten)]
    /// Who submits (`--driver nats`).
    pub who: crate::cli::IdentityArgs,
    #[command(flatten)]
    /// Registry flags of the in-process worker (`--driver local` only).
    pub local: LocalRegistryArgs,
    #[command(flatten)]
    /// The Kubernetes driver's flags (`--driver k8s` only).
    pub k8s: k8s::K8sArgs,
}

/// More flags for `--driver local`, where this process pulls and pushes itself (with
/// [`crate::cli::RegistryArgs`]). With `--driver nats` the workers and the coordinator use
/// their own flags, so these are refused.
#[derive(Debug, Clone, Default, Args)]
pub struct LocalRegistryArgs {
    /// `--registry-mirror` and `--registry-map` (`--driver local`; no environment variable).
    #[command(flatten)]
    pub mirrors: kaniko_worker::cli::MirrorFlags,
    /// Retries of a platform whose build failed transiently (`--driver local`).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,
    /// RUN's secrets and caches (`--driver local`), as `worker build`'s.
    #[command(flatten)]
    pub run: kaniko_worker::cli::RunFlags,
}

/// The first flag set that only this process's own registry access uses (`--driver local`
/// and `ci`), as the user wrote it; `--docker-config` comes from the environment too and is
/// never refused.
fn first_local_flag(
    registry: &crate::cli::RegistryArgs,
    local: &LocalRegistryArgs,
) -> Option<&'static str> {
    [
        (registry.flags.insecure, "--insecure"),
        (
            !registry.flags.insecure_registry.is_empty(),
            "--insecure-registry",
        ),
        (registry.flags.skip_tls_verify, "--skip-tls-verify"),
        (
            !registry.flags.skip_tls_verify_registry.is_empty(),
            "--skip-tls-verify-registry",
        ),
        (
            !local.mirrors.registry_mirror.is_empty(),
            "--registry-mirror",
        ),
        (!local.mirrors.registry_map.is_empty(), "--registry-map"),
        (local.retries != 2, "--retries"),
        (!local.run.secret.is_empty(), "--secret"),
        (
            local.run.run_cache_scope != kaniko_worker::config::RunCacheScope::Destination,
            "--run-cache-scope",
        ),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
}

/// The NATS URL `coordinator submit` uses when none is given.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The driver a submit runs on: the one asked for; otherwise `nats` when a NATS server was
/// named (`--nats` other than the default, or `NATS_URL` set), `local` when none was.
pub fn resolve_driver(explicit: Option<Driver>, nats_url: &str, nats_url_env: bool) -> Driver {
    match explicit {
        Some(driver) => driver,
        None if nats_url_env || nats_url != DEFAULT_NATS_URL => Driver::Nats,
        None => Driver::Local,
    }
}

/// `--cache-ttl`: a Go duration, in whole seconds (at least 1).
fn parse_cache_ttl(text: &str) -> Result<u64, String> {
    let ttl = kaniko_common::dockerfile::parse_go_duration(text)?;
    if ttl.is_zero() {
        return Err("the cache TTL must be positive".to_string());
    }
    Ok(ttl.as_secs_f64().ceil() as u64)
}

/// `90s`, `30m`, `2h`, `1h30m`, `7d`, or bare seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (use e.g. 90s, 30m, 2h, 7d)");
    if let Ok(secs) = text.parse::<u64>() {
        return if secs == 0 {
            Err(bad())
        } else {
            Ok(Duration::from_secs(secs))
        };
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

fn key_values(flag: &str, values: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    values
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("--{flag} {kv:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// The build request these flags describe, for a context already uploaded.
pub fn build_request(
    args: &SubmitArgs,
    context: ContextRef,
    dockerfile: String,
) -> anyhow::Result<BuildRequest> {
    let mut platforms = Vec::new();
    for text in &args.multi_platform {
        platforms.push(Platform::parse(text).with_context(|| format!("--multi-platform {text}"))?);
    }
    if platforms.is_empty() {
        platforms.push(Platform::host());
    }
    let mut request = BuildRequest::new(context, platforms, args.destination.clone());
    request.dockerfile = dockerfile;
    request.build_args = key_values("build-arg", &args.build_arg)?;
    request.labels = key_values("label", &args.label)?;
    request.index_annotations =
        crate::cli::parse_annotations(&args.index_annotation).map_err(anyhow::Error::msg)?;
    request.target = args.target.clone();
    request.compression = match args.compression {
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
    };
    request.compression_level = args.compression_level;
    request.oci_mode = match args.oci_mode {
        _ if args.publish.legacy_manifest_list => RequestedOciMode::Docker,
        OciModeArg::Oci => RequestedOciMode::Oci,
        OciModeArg::Docker => RequestedOciMode::Docker,
        OciModeArg::Auto => RequestedOciMode::Auto,
    };
    request.push_ignore_immutable_tag_errors = args.publish.push_ignore_immutable_tag_errors;
    request.arch_cache_repo_suffix = args.arch_cache_repo_suffix.clone();
    request.publish_index = args.publish_index;
    request.sign_images = args.publish.signing.sign_images;
    request.sbom = args.publish.sbom;
    request.allow_partial = args.allow_partial;
    request.require_native_nodes = args.require_native_nodes;
    request.timeout_secs = args.timeout.map(|t| t.as_secs().max(1));
    request.reproducible = args.reproducible;
    request.cache = match args.cache {
        true => Some(kaniko_common::messages::LayerCache {
            repo: args.cache_repo.clone(),
            ttl_secs: args.cache_ttl,
            copy_layers: args.cache_copy_layers,
            run_layers: args.cache_run_layers,
            push: !args.no_push_cache,
        }),
        false => {
            let naming = [
                ("--cache-repo", args.cache_repo.is_some()),
                ("--cache-ttl", args.cache_ttl.is_some()),
                ("--cache-copy-layers", args.cache_copy_layers),
                (
                    "--arch-cache-repo-suffix",
                    args.arch_cache_repo_suffix.is_some(),
                ),
            ];
            if let Some((flag, _)) = naming.iter().find(|(_, given)| *given) {
                anyhow::bail!("{flag} has no effect without --cache");
            }
            None
        }
    };
    request
        .validate()
        .map_err(|err| anyhow::anyhow!("{}", err.message))?;
    Ok(request)
}

/// Runs `coordinator submit`.
pub async fn run(args: &SubmitArgs) -> anyhow::Result<ExitCode> {
    let identity = args.who.identity()?;
    if identity.is_some() && args.driver.is_some_and(|driver| driver != Driver::Nats) {
        bail!(
            "--identity (KANIKO_IDENTITY) applies to --driver nats only: it names who submits to \
             a coordinator"
        );
    }
    if args.driver != Some(Driver::K8s)
        && let Some(flag) = args.k8s.first_given()
    {
        bail!("{flag} applies to --driver k8s only");
    }
    let driver = resolve_driver(
        args.driver,
        &args.nats.url,
        std::env::var_os("NATS_URL").is_some(),
    );
    let signing = &args.publish.signing;
    if driver == Driver::Nats && signing.cosign_key_path.is_some() {
        bail!(
            "--cosign-key-path applies to --driver local, ci and k8s: a fleet build's index is \
             published by `coordinator serve`, which signs with its own key (`coordinator serve \
             --cosign-key-path`) when --sign-images asks; the key never travels over NATS"
        );
    }
    if signing.sign_images && !args.publish_index {
        bail!(
            "--sign-images signs the published index and its platforms: it needs --publish-index"
        );
    }
    if args.publish.sbom && !args.publish_index {
        bail!("--sbom is attached by the publishing of the index: it needs --publish-index");
    }
    if driver != Driver::Nats {
        args.publish.install_signing_key()?;
    }
    if driver == Driver::Ci {
        let config = crate::driver::ci::CiConfig::from_submit_args(args)?;
        return crate::driver::ci::run_cli(&config).await;
    }
    if args.digests_from.is_some() {
        bail!("--digests-from needs --driver ci");
    }
    if driver == Driver::K8s {
        return k8s::run(args).await;
    }
    if driver == Driver::Local {
        if identity.is_some() {
            bail!(
                "--identity (KANIKO_IDENTITY) applies to --driver nats only: name the NATS \
                 server with --nats or NATS_URL"
            );
        }
        return local::run(args).await;
    }
    if let Some(flag) = first_local_flag(&args.registry, &args.local) {
        bail!(
            "{flag} applies to --driver local only: with --driver nats the workers and the \
             coordinator use their own registry flags"
        );
    }
    nats::run(args, identity).await
}

/// Prints the summary, writes `--metadata-file`/`--digest-file`, and gives the exit code.
fn report(args: &SubmitArgs, build_id: &str, outcome: &Outcome) -> anyhow::Result<ExitCode> {
    for line in follow::summary(build_id, outcome, &args.destination) {
        println!("{line}");
    }
    if let Some(path) = &args.metadata_file {
        output::write_metadata(path, build_id, outcome, &args.destination)?;
    }
    if let Some(path) = &args.digest_file {
        output::write_digests(path, outcome, args.publish.force)?;
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

/// Shows the events of an in-process driver (`local`, `k8s`) until its verdict; `None` when
/// the driver stopped without one.
async fn follow_channel(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<kaniko_common::messages::Event>,
    quiet: bool,
    tracker: &mut follow::Tracker,
) -> Option<Outcome> {
    let mut display = Display::new(quiet);
    while let Some(event) = rx.recv().await {
        for update in tracker.apply(&event) {
            if let Update::Done(outcome) = update {
                display.finish();
                return Some(outcome);
            }
            display.show(update);
        }
    }
    None
}

/// Progress output on stderr: bars on a terminal, plain lines otherwise.
enum Display {
    Plain {
        quiet: bool,
    },
    Bars {
        quiet: bool,
        multi: indicatif::MultiProgress,
        bars: BTreeMap<String, indicatif::ProgressBar>,
    },
}

impl Display {
    fn new(quiet: bool) -> Display {
        if std::io::stderr().is_terminal() {
            Display::Bars {
                quiet,
                multi: indicatif::MultiProgress::new(),
                bars: BTreeMap::new(),
            }
        } else {
            Display::Plain { quiet }
        }
    }

    fn show(&mut self, update: Update) {
        match self {
            Display::Plain { quiet } => match update {
                Update::State(platform, text) => eprintln!("[{platform}] {text}"),
                Update::Log(platform, line) if !*quiet => eprintln!("[{platform}] {line}"),
                _ => {}
            },
            Display::Bars { quiet, multi, bars } => match update {
                Update::State(platform, text) => {
                    let bar = bars.entry(platform.clone()).or_insert_with(|| {
                        let bar = multi.add(indicatif::ProgressBar::new_spinner());
                        bar.set_style(
                            indicatif::ProgressStyle::with_template("{spinner} {prefix:<16} {msg}")
                                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                        );
                        bar.set_prefix(platform);
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bar
                    });
                    bar.set_message(text);
                }
                Update::Log(platform, line) if !*quiet => {
                    let _ = multi.println(format!("[{platform}] {line}"));
                }
                _ => {}
            },
        }
    }

    fn finish(&mut self) {
        if let Display::Bars { bars, .. } = self {
            for bar in bars.values() {
                bar.finish();
            }
        }
    }
}

/// Checks the flags of `args` (a request with a placeholder context, so a bad flag is named
/// before the context is read), then packs the context honouring `.dockerignore`.
async fn validated_context(args: &SubmitArgs) -> anyhow::Result<crate::context::PackedContext> {
    let placeholder = ContextRef {
        sha256: "0".repeat(64),
        size: 0,
    };
    build_request(args, placeholder, "Dockerfile".to_string())?;
    let context_dir = args.context.clone();
    let dockerfile = args.dockerfile.clone();
    tokio::task::spawn_blocking(move || {
        crate::context::pack(&context_dir, dockerfile.as_deref(), None)
    })
    .await
    .context("packing the context")?
    .map_err(anyhow::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SubmitArgs,
    }

    /// `coordinator submit`'s flags from `argv`.
    pub(super) fn parse(argv: &[&str]) -> Result<SubmitArgs, String> {
        Wrapper::try_parse_from(std::iter::once("submit").chain(argv.iter().copied()))
            .map(|w| w.args)
            .map_err(|e| e.to_string())
    }

    fn context() -> ContextRef {
        ContextRef {
            sha256: "a".repeat(64),
            size: 1,
        }
    }

    #[test]
    fn the_ci_driver_refuses_flags_that_only_mean_something_when_building() {
        let base = ["--driver", "ci", "--digests-from", "d", "-d", "r/a:1"];
        let config = |extra: &[&str]| {
            let argv: Vec<&str> = base.iter().chain(extra).copied().collect();
            crate::driver::ci::CiConfig::from_submit_args(&parse(&argv).unwrap())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(config(&[]), Ok(()));
        for (extra, flag) in [
            (&["--secret", "id=x,src=/etc/hostname"][..], "--secret"),
            (&["--timeout", "10m"][..], "--timeout"),
            (&["--build-arg", "A=1"][..], "--build-arg"),
            (&["--run-cache-scope", "worker"][..], "--run-cache-scope"),
            (&["--cache"][..], "--cache"),
        ] {
            let err = config(extra).unwrap_err();
            assert!(
                err.contains(flag) && err.contains("nothing is built"),
                "{extra:?}: {err}"
            );
        }
    }

    #[test]
    fn flags_become_the_build_request() {
        let args = parse(&[
            "-d",
            "r/app:1",
            "--destination",
            "r/app:latest",
            "--multi-platform",
            "linux/amd64,linux/arm64",
            "--publish-index=false",
            "--compression",
            "zstd",
            "--oci-mode",
            "docker",
            "--build-arg",
            "A=1=2",
            "--label",
            "x=y",
            "--timeout",
            "30m",
            "--allow-partial",
            "--require-native-nodes",
        ])
        .unwrap();
        let request = build_request(&args, context(), "sub/Dockerfile".into()).unwrap();
        assert_eq!(request.destinations, vec!["r/app:1", "r/app:latest"]);
        assert_eq!(
            request.platforms,
            vec![
                Platform::parse("linux/amd64").unwrap(),
                Platform::parse("linux/arm64").unwrap()
            ]
        );
        assert!(!request.publish_index && request.allow_partial && request.require_native_nodes);
        assert_eq!(request.compression, Compression::Zstd);
        assert_eq!(request.oci_mode, RequestedOciMode::Docker);
        assert_eq!(request.build_args.get("A").map(String::as_str), Some("1=2"));
        assert_eq!(request.timeout_secs, Some(1800));
        assert_eq!(request.dockerfile, "sub/Dockerfile");
    }

    #[test]
    fn cache_flags_reach_the_request() {
        let request = |extra: &[&str]| {
            let mut argv = vec!["-d", "r/app:1"];
            argv.extend_from_slice(extra);
            let args = parse(&argv).map_err(|e| e.to_string())?;
            build_request(&args, context(), "Dockerfile".into()).map_err(|e| e.to_string())
        };
        assert_eq!(request(&[]).unwrap().cache, None);
        let on = request(&[
            "--cache",
            "--cache-repo",
            "r/cache",
            "--cache-ttl",
            "90m",
            "--cache-copy-layers",
            "--cache-run-layers=false",
            "--no-push-cache",
            "--arch-cache-repo-suffix=-${ARCH}",
        ])
        .unwrap();
        assert_eq!(
            on.cache,
            Some(kaniko_common::messages::LayerCache {
                repo: Some("r/cache".into()),
                ttl_secs: Some(5400),
                copy_layers: true,
                run_layers: false,
                push: false,
            })
        );
        assert_eq!(on.arch_cache_repo_suffix.as_deref(), Some("-${ARCH}"));
        let err = request(&["--cache-repo", "r/cache"]).unwrap_err();
        assert!(
            err.contains("--cache-repo has no effect without --cache"),
            "{err}"
        );
        let err = request(&["--cache", "--cache-ttl", "0"]).unwrap_err();
        assert!(err.contains("the cache TTL must be positive"), "{err}");
        let err = request(&["--arch-cache-repo-suffix=-${ARCH}"]).unwrap_err();
        assert!(
            err.contains("--arch-cache-repo-suffix has no effect without --cache"),
            "{err}"
        );
        let err = request(&["--cache", "--arch-cache-repo-suffix=-${CPU}"]).unwrap_err();
        assert!(err.contains("the only placeholders"), "{err}");
    }

    #[test]
    fn bad_flags_are_named() {
        fn check(argv: &[&str], expected: &str) {
            let err = match parse(argv) {
                Err(err) => err,
                Ok(args) => build_request(&args, context(), "Dockerfile".into())
                    .unwrap_err()
                    .to_string(),
            };
            assert!(err.contains(expected), "{argv:?}: {err}");
        }
        check(&[], "--destination");
        check(
            &["-d", "r/a", "--multi-platform", "linux/amd64,foo"],
            "--multi-platform foo",
        );
        check(
            &["-d", "r/a", "--build-arg", "NOVALUE"],
            "--build-arg \"NOVALUE\"",
        );
        check(
            &["-d", "r/a", "--multi-platform", "linux/arm64,linux/arm64"],
            "platform linux/arm64 is requested twice",
        );
        check(
            &[
                "-d",
                "r/a",
                "--oci-mode",
                "docker",
                "--index-annotations",
                "a=b",
            ],
            "index annotations need an OCI index",
        );
        check(&["-d", "r/a", "--timeout", "soon"], "not a duration");
    }

    #[test]
    fn an_identity_is_checked_and_refused_where_nobody_submits() {
        fn check(argv: &[&str], needle: &str) {
            let args = parse(argv).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let err = runtime.block_on(run(&args)).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{argv:?}: {err:#}");
        }
        check(
            &["-d", "r/a", "--driver", "local", "--identity", "alice"],
            "--identity (KANIKO_IDENTITY) applies to --driver nats only",
        );
        check(
            &[
                "-d",
                "r/a",
                "--driver",
                "ci",
                "--digests-from",
                "d",
                "--identity",
                "alice",
            ],
            "--identity (KANIKO_IDENTITY) applies to --driver nats only",
        );
        check(
            &["-d", "r/a", "--driver", "nats", "--identity", "a.b"],
            "--identity: invalid identity \"a.b\"",
        );
    }

    #[test]
    fn the_driver_is_local_unless_a_nats_server_is_named() {
        fn check(explicit: Option<Driver>, url: &str, env: bool, expected: Driver) {
            assert_eq!(
                resolve_driver(explicit, url, env),
                expected,
                "{explicit:?} {url} {env}"
            );
        }
        check(None, DEFAULT_NATS_URL, false, Driver::Local);
        check(None, DEFAULT_NATS_URL, true, Driver::Nats);
        check(None, "nats://10.0.0.1:4222", false, Driver::Nats);
        check(
            Some(Driver::Local),
            "nats://10.0.0.1:4222",
            true,
            Driver::Local,
        );
        check(Some(Driver::Nats), DEFAULT_NATS_URL, false, Driver::Nats);
    }

    #[test]
    fn local_registry_flags_are_named_when_set() {
        fn check(argv: &[&str], expected: Option<&str>) {
            let args = parse(argv).unwrap();
            assert_eq!(
                first_local_flag(&args.registry, &args.local),
                expected,
                "{argv:?}"
            );
        }
        check(&["-d", "r/a"], None);
        check(
            &["-d", "r/a", "--insecure-registry", "r"],
            Some("--insecure-registry"),
        );
        check(&["-d", "r/a", "--retries", "0"], Some("--retries"));
        check(
            &["-d", "r/a", "--run-cache-scope", "worker"],
            Some("--run-cache-scope"),
        );
    }

    #[test]
    fn durations() {
        fn check(text: &str, expected: Option<u64>) {
            assert_eq!(
                parse_duration(text).ok().map(|d| d.as_secs()),
                expected,
                "{text}"
            );
        }
        check("90", Some(90));
        check("90s", Some(90));
        check("30m", Some(1800));
        check("1h30m", Some(5400));
        check("0", None);
        check("", None);
        check("5d", Some(5 * 86400));
        check("1d12h", Some(36 * 3600));
        check("5w", None);
        check("m", None);
        check("10", Some(10));
    }
}
