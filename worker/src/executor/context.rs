// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The build context as a directory: `--context <dir>` (or `dir://`) as is; a tarball
//! (`tar://<file>`, `tar://stdin`; plain, gzip, bzip2, xz or zstd, detected by content)
//! extracted into the build's temporary directory first, with the containment of
//! [`crate::unpack`], charged to the build's disk budget and held to its ratio limit.
//! `--context-sub-path` applies inside either, resolved inside the context as if it were
//! `/`: a symlink in the context cannot make a host directory the build context.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::{BuildConfig, BuildContext, TarSource};
use crate::unpack::Limits;

/// The context directory of `config`, extracting a tarball context under `tmp` (on a
/// blocking thread: extraction and stdin are synchronous).
pub async fn prepare(config: &BuildConfig, tmp: &Path, limits: &Limits) -> Result<PathBuf> {
    let context = config.context.clone();
    let sub = config.context_sub_path.clone();
    let tmp = tmp.to_path_buf();
    let limits = limits.clone();
    tokio::task::spawn_blocking(move || prepare_blocking(&context, sub.as_deref(), &tmp, &limits))
        .await
        .context("preparing the build context")?
}

fn prepare_blocking(
    context: &BuildContext,
    sub: Option<&Path>,
    tmp: &Path,
    limits: &Limits,
) -> Result<PathBuf> {
    let root = match context {
        BuildContext::Dir(dir) => dir.clone(),
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
