// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `worker build`: read and parse the Dockerfile, plan the stages the target needs, build
//! them in order (see [`stages`]), finish the target's image in the chosen `--oci-mode`
//! and write the outputs. Any error stops the build before anything is pushed.
//!
//! History: `created_by` is Kaniko's format (the instruction as written, see
//! [`crate::instructions::created_by`]); metadata-only instructions get `empty_layer: true`.
//! `--reproducible`: history entries carry no `created`, the config's `created` is the epoch,
//! every tar mtime is 0. `--label` flags are applied last, over the Dockerfile's labels.

mod context;
mod finish;
pub(crate) mod stages;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kaniko_common::dockerfile::{BuildArgs, BuildPlan, Dockerfile};
use kaniko_common::messages::RequestedOciMode;
use kaniko_common::oci::{Descriptor, OciMode};
use kaniko_common::platform::Platform;
use kaniko_registry::{RegistryClient, RegistryOptions};

use crate::base::PullRewrites;
use crate::config::BuildConfig;
use crate::context_files::{DockerfileFile, DockerfilePath, read_dockerfile};
use crate::dockerignore::DockerIgnore;

pub use finish::finish;

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// The image manifest's descriptor (with its platform).
    pub manifest: Descriptor,
    /// `<registry>/<repo>:<tag>@<digest>` for every destination pushed.
    pub pushed: Vec<String>,
    /// The digest of the image's config blob.
    pub config_digest: String,
}

/// Runs one `worker build` to the end, on a runtime of its own.
pub fn run(config: &BuildConfig) -> Result<BuildOutcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(config))
}

/// The registry client options for a build's pushes (the image, the cache): `--insecure`,
/// `--insecure-registry`, `--skip-tls-verify`, `--skip-tls-verify-registry`.
pub fn registry_options(config: &BuildConfig) -> RegistryOptions {
    let r = &config.registry;
    RegistryOptions {
        insecure_registries: r.insecure_registries.clone(),
        insecure_all: r.insecure,
        skip_tls_verify_registries: r.skip_tls_verify_registries.clone(),
        skip_tls_verify_all: r.skip_tls_verify,
        http1_only: r.http1,
        ..RegistryOptions::default()
    }
}

/// The registry client options for pulling base images: [`registry_options`] relaxed by
/// `--insecure-pull` and `--skip-tls-verify-pull`, which (as in Kaniko) relax pulls only.
pub fn pull_registry_options(config: &BuildConfig) -> RegistryOptions {
    let r = &config.registry;
    let push = registry_options(config);
    RegistryOptions {
        insecure_all: push.insecure_all || r.insecure_pull,
        skip_tls_verify_all: push.skip_tls_verify_all || r.skip_tls_verify_pull,
        ..push
    }
}

/// Runs one `worker build` to the end.
pub async fn run_async(config: &BuildConfig) -> Result<BuildOutcome> {
    run_async_pushing(config, Push::Tagged).await
}

/// Paths RUN snapshots leave out: `--ignore-path`s, and `/var/run` unless
/// `--ignore-var-run=false`.
fn run_ignore_paths(snapshot: &crate::config::SnapshotOptions) -> Vec<PathBuf> {
    let mut out = snapshot.ignore_paths.clone();
    if snapshot.ignore_var_run {
        out.push(PathBuf::from("/var/run"));
    }
    out
}

/// How a build's destinations are pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Under each destination's tag (`latest` when it has none), as `worker build` does.
    Tagged,
    /// By digest only, moving no tag: `worker serve`'s per-platform images, which must not
    /// sit on a tag before their index does.
    ByDigestOnly,
}

/// [`run_async`] with the push mode chosen by the caller.
pub async fn run_async_pushing(config: &BuildConfig, push: Push) -> Result<BuildOutcome> {
    let mut output_options = crate::output::plan::options(
        &config.outputs,
        config.registry.push_ignore_immutable_tag_errors,
        config.registry.push_retry,
    )?;
    output_options.push_by_digest_only |= push == Push::ByDigestOnly;
    let scratch = match &config.kaniko_dir {
        Some(dir) => {
            let tmp = dir.join("tmp");
            std::fs::create_dir_all(&tmp)
                .with_context(|| format!("--kaniko-dir: creating {}", tmp.display()))?;
            Some(tmp)
        }
        None => None,
    };
    let tmp = crate::image::temp_dir_in(scratch.as_deref())?;
    let limits = config.limits.for_build(tmp.path());
    let context_dir = context::prepare(config, tmp.path(), &limits).await?;
    let (dockerfile_file, dockerfile, args, plan) = read_and_plan(config, &context_dir).await?;
    let ignore = DockerIgnore::load(&context_dir, &dockerfile_file)?;
    let client = RegistryClient::new(registry_options(config)).context("registry client")?;
    if !config.registry.skip_push_permission_check {
        crate::output::check_push_permissions(&output_options, &client).await?;
    }
    let pull_client =
        RegistryClient::new(pull_registry_options(config)).context("registry client")?;
    let rewrites = PullRewrites {
        mirrors: config.registry.mirrors.clone(),
        maps: config
            .registry
            .maps
            .iter()
            .map(|m| (m.from.clone(), m.to.clone()))
            .collect(),
        skip_default_fallback: config.registry.skip_default_registry_fallback,
        download_retry: config.registry.image_download_retry,
        cache_dir: config.base_cache_dir.clone(),
    };
    let mut executor = stages::Executor::new(stages::Setup {
        dockerfile: &dockerfile,
        plan: &plan,
        args: &args,
        context_dir: &context_dir,
        ignore: &ignore,
        client: client.clone(),
        pull_client,
        tmp: tmp.path(),
        limits,
        rewrites,
        layer: kaniko_image::layer::LayerOptions {
            compression: config.image.compression,
            level: config.image.compression_level,
            reproducible: config.image.reproducible,
            mode: OciMode::Oci,
        },
        run: run_settings(config, &output_options)?,
        store: config.store.clone(),
        cache: config.cache.clone(),
        fs_extract_retry: config.image_fs_extract_retry,
        uploads: crate::output::LayerUploads::for_outputs(&output_options, &client),
    })?;
    let mut state = executor.build_all().await?;
    for (key, value) in &config.image.labels {
        state.run_config.labels.insert(key.clone(), value.clone());
    }
    let mode = match config.image.oci_mode {
        RequestedOciMode::Oci => OciMode::Oci,
        RequestedOciMode::Docker => OciMode::Docker,
        RequestedOciMode::Auto if state.docker => OciMode::Docker,
        RequestedOciMode::Auto => OciMode::Oci,
    };
    let finished = finish(
        state.image,
        &state.run_config,
        mode,
        config.image.reproducible,
    )?;
    tracing::info!(
        digest = %finished.manifest.digest,
        platform = %finished.image.platform,
        "image built"
    );
    let early = executor.take_uploads();
    output_options.cache = executor.cache_report();
    let pushed =
        crate::output::plan::write(&finished, &output_options, &client, executor.blobs(), early)
            .await;
    executor.cleanup().await;
    let pushed = pushed?;
    Ok(BuildOutcome {
        config_digest: finished.config.digest.clone(),
        manifest: finished.manifest.clone(),
        pushed,
    })
}

/// The Dockerfile of the context (read inside it), parsed and planned for `config`'s target
/// and platform; a stage that needs RUN on a foreign platform is refused before anything is
/// built.
async fn read_and_plan(
    config: &BuildConfig,
    context_dir: &Path,
) -> Result<(DockerfileFile, Dockerfile, BuildArgs, BuildPlan)> {
    let context_dir = context_dir.to_path_buf();
    let dockerfile_path = config
        .resolve_dockerfile(&context_dir)
        .context("locating the dockerfile")?;
    let dockerfile_file = {
        let (context_dir, path) = (context_dir.clone(), dockerfile_path.clone());
        tokio::task::spawn_blocking(move || read_dockerfile(&context_dir, &path))
            .await
            .context("reading the dockerfile")??
    };
    let dockerfile = Dockerfile::parse(&dockerfile_file.text).with_context(|| {
        format!(
            "parsing {}",
            match &dockerfile_path {
                DockerfilePath::InContext(rel) | DockerfilePath::Outside(rel) => rel.display(),
            }
        )
    })?;
    let args = BuildArgs {
        values: config.build_args.clone(),
        target: config.platform.clone(),
        build: Platform::host(),
    };
    let plan =
        dockerfile.plan_stages(config.target.as_deref(), &args, config.skip_unused_stages)?;
    if !config.skip_unused_stages {
        tracing::info!(
            stages = plan.stages.len(),
            "--skip-unused-stages=false: building every stage up to the target"
        );
    }
    if let Some(native) = plan.native_execution() {
        let what = match native.trigger_stage {
            Some(_) => "an ONBUILD RUN trigger",
            None => "RUN",
        };
        bail!(
            "dockerfile:{}: {what} in a stage for {} cannot execute on this worker, which is \
             {}: a native {} worker is needed (`coordinator submit` routes it to one); \
             nothing was built",
            native.line,
            native.platform,
            Platform::host(),
            native.platform,
        );
    }
    for unused in &plan.unused_build_args {
        tracing::warn!(arg = %unused, "build-arg was not consumed by any stage");
    }
    Ok((dockerfile_file, dockerfile, args, plan))
}

/// What the walk compares for `--snapshot-mode`, and the snapshotter that honours it: the
/// overlay's upper directory holds every file the command wrote, whatever its mtime, so
/// `time` (Kaniko's: a rewrite keeping the mtime is no change) takes the walk, and refuses an
/// explicit `--snapshotter overlay`.
fn snapshot_compare(
    mode: crate::config::SnapshotMode,
    snapshotter: crate::run::Snapshotter,
) -> Result<(crate::snapshot::walk::Compare, crate::run::Snapshotter)> {
    use crate::config::SnapshotMode;
    use crate::run::Snapshotter;
    use crate::snapshot::walk::Compare;
    Ok(match (mode, snapshotter) {
        (SnapshotMode::Full, s) => (Compare::Content, s),
        (SnapshotMode::Redo, s) => (Compare::Metadata, s),
        (SnapshotMode::Time, Snapshotter::Overlay) => anyhow::bail!(
            "--snapshot-mode time compares mtimes, which only the walk snapshotter does: \
             use --snapshotter walk or auto"
        ),
        (SnapshotMode::Time, _) => (Compare::Mtime, Snapshotter::Walk),
    })
}

/// How this build's RUNs run: the worker's snapshot settings, the secrets its destinations
/// may use (their values masked in its output), and its RUN cache key.
fn run_settings(
    config: &BuildConfig,
    output_options: &crate::output::OutputOptions,
) -> Result<crate::run::RunSettings> {
    // The secrets this build's destinations may use; their values are masked in its output.
    let (usable_secrets, withheld_secrets) =
        crate::run::secrets::for_destinations(&config.run.secrets, &config.outputs.destinations);
    let masker = crate::run::secrets::Masker::of(&usable_secrets).map_err(anyhow::Error::msg)?;
    let (compare, snapshotter) =
        snapshot_compare(config.snapshot.mode, config.snapshot.snapshotter)?;
    Ok(crate::run::RunSettings {
        network: config.snapshot.network,
        snapshotter,
        ignore: run_ignore_paths(&config.snapshot),
        compare,
        single_snapshot: config.snapshot.single_snapshot,
        secrets: usable_secrets,
        withheld_secrets,
        masker,
        cache_dir: config.run.cache_dir.clone(),
        cache_key: crate::run::cache_key(
            config.run.cache_scope,
            &output_options
                .destinations
                .iter()
                .map(|d| format!("{}/{}", d.registry(), d.repository()))
                .collect::<Vec<_>>(),
        ),
    })
}
