// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The build context as a directory: `--context <dir>` (or `dir://`) as is; a tarball
//! (`tar://<file>`, `tar://stdin`; plain, gzip, bzip2, xz or zstd, detected by content)
//! extracted into the build's temporary directory first, with the containment of
//! [`crate::unpack`], charged to the build's disk budget and held to its ratio limit.
//! An `oci://<registry>/<repo>@<digest>` context (a context artifact, see
//! [`kaniko_common::oci::context_layer`]) is fetched into that directory first, the manifest
//! checked against the digest and the tarball against the manifest's layer digest, then
//! extracted as a tarball. `--context-sub-path` applies inside either, resolved inside the context as if it were
//! `/`: a symlink in the context cannot make a host directory the build context.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::{BuildConfig, BuildContext, TarSource};
use crate::unpack::Limits;

/// The context directory of `config`, extracting a tarball context under `tmp` (on a
/// blocking thread: extraction and stdin are synchronous).
pub async fn prepare(config: &BuildConfig, tmp: &Path, limits: &Limits) -> Result<PathBuf> {
    let context = match &config.context {
        BuildContext::Oci(reference) => {
            let file = fetch_artifact(config, reference, tmp)
                .await
                .with_context(|| format!("build context oci://{reference}"))?;
            BuildContext::Tar(TarSource::File(file))
        }
        other => other.clone(),
    };
    let sub = config.context_sub_path.clone();
    let tmp = tmp.to_path_buf();
    let limits = limits.clone();
    tokio::task::spawn_blocking(move || prepare_blocking(&context, sub.as_deref(), &tmp, &limits))
        .await
        .context("preparing the build context")?
}

/// Downloads the context artifact `reference` names into `tmp`; returns the tarball's path.
async fn fetch_artifact(config: &BuildConfig, reference: &str, tmp: &Path) -> Result<PathBuf> {
    let reference: kaniko_registry::Reference = reference
        .parse()
        .map_err(|e| anyhow::anyhow!("not an image reference: {e}"))?;
    let client = kaniko_registry::RegistryClient::new(super::registry_options(config))
        .context("registry client")?;
    let manifest = client.pull_manifest_raw(&reference).await?;
    let layer = kaniko_common::oci::context_layer(&manifest.bytes)
        .map_err(|e| anyhow::anyhow!("not a kaniko-rs context artifact: {e}"))?;
    let path = tmp.join("context-oci.tar");
    let file = tokio::fs::File::create(&path)
        .await
        .with_context(|| format!("{}", path.display()))?;
    let mut out = tokio::io::BufWriter::new(file);
    client
        .pull_blob_sized(&reference, &layer.digest, layer.size, "context", &mut out)
        .await?;
    tokio::io::AsyncWriteExt::flush(&mut out)
        .await
        .with_context(|| format!("{}", path.display()))?;
    tracing::info!(digest = %layer.digest, size = layer.size, "context fetched");
    Ok(path)
}

fn prepare_blocking(
    context: &BuildContext,
    sub: Option<&Path>,
    tmp: &Path,
    limits: &Limits,
) -> Result<PathBuf> {
    let root = match context {
        BuildContext::Dir(dir) => dir.clone(),
        BuildContext::Oci(reference) => bail!("build context oci://{reference} was not fetched"),
        BuildContext::Tar(source) => {
            let stdin_copy;
            let (file, name): (&Path, String) = match source {
                TarSource::File(path) => (path.as_path(), format!("tar://{}", path.display())),
                TarSource::Stdin => {
                    stdin_copy = tmp.join("context-stdin.tar");
                    let mut out = std::fs::File::create(&stdin_copy)
                        .with_context(|| format!("{}", stdin_copy.display()))?;
                    std::io::copy(&mut std::io::stdin().lock(), &mut out)
                        .context("reading the tar://stdin build context")?;
                    (stdin_copy.as_path(), "tar://stdin".to_string())
                }
            };
            let dir = tmp.join("context");
            std::fs::create_dir(&dir).with_context(|| format!("{}", dir.display()))?;
            let kind = crate::copy::archive::detect_archive(file)
                .with_context(|| format!("build context {name}"))?;
            if kind.is_none() {
                bail!("build context {name}: not a tar archive (plain, gzip, bzip2, xz or zstd)");
            }
            crate::copy::archive::extract_archive(file, None, &dir, Path::new(""), None, limits)
                .with_context(|| format!("build context {name}"))?;
            if matches!(source, TarSource::Stdin) {
                let _ = std::fs::remove_file(file);
            }
            dir
        }
    };
    let dir = match sub {
        Some(sub) => {
            // Every symlink on the way is resolved, so the path joined has none left.
            let inside = crate::unpack::resolve_on_disk(&root, sub, true)
                .with_context(|| format!("--context-sub-path {}", sub.display()))?;
            let dir = root.join(inside);
            if !dir.is_dir() {
                bail!(
                    "--context-sub-path {}: not a directory inside the build context",
                    sub.display()
                );
            }
            dir
        }
        None => root,
    };
    if !dir.is_dir() {
        bail!("build context {} is not a directory", dir.display());
    }
    Ok(dir)
}
