// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! One COPY or ADD step, from the expanded instruction to the entries of its layer: the
//! flags not supported yet refused, ADD's URLs downloaded and context archives extracted
//! (see [`super::add`]), the sources resolved in their root (see [`super::glob`]) and planned
//! with BuildKit's destination rules (see [`super::plan`]). The executor resolves the root
//! (the context, or the filesystem of `--from`) and the `--chown` owner, and writes the
//! planned entries as the step's layer.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use kaniko_common::dockerfile::ExpandedCopyAdd;

use super::add::{self, Staging};
use super::plan::{self, CopyOptions, PathInfo, Planned, Source};
use crate::dockerignore::DockerIgnore;
use crate::unpack::Limits;

/// Refuses what COPY and ADD do not support yet, and ADD sources that are not allowed.
pub(crate) fn check(c: &ExpandedCopyAdd, add: bool) -> Result<()> {
    if c.keep_git_dir {
        bail!("ADD --keep-git-dir: git sources are not supported yet");
    }
    if !c.exclude.is_empty() {
        bail!("--exclude is not supported yet");
    }
    if c.parents {
        bail!("--parents is not supported yet");
    }
    if add {
        add::check_sources(&c.sources, c.checksum.as_deref())?;
    }
    Ok(())
}

/// One COPY (or ADD) with what the executor resolved for it.
pub(crate) struct Step<'a> {
    /// The expanded instruction.
    pub instruction: &'a ExpandedCopyAdd,
    /// ADD rather than COPY.
    pub add: bool,
    /// The directory the sources are relative to: the build context, or the unpacked
    /// filesystem of `--from`.
    pub root: PathBuf,
    /// The context's `.dockerignore` (not applied to `--from` sources).
    pub ignore: &'a DockerIgnore,
    /// `--chown`, resolved to ids.
    pub chown: Option<(u64, u64)>,
    /// The build's temporary directory (ADD's downloads and extracted archives).
    pub tmp: &'a Path,
    /// The build's bounds, charged for ADD's downloads and extractions.
    pub limits: &'a Limits,
}

impl Step<'_> {
    /// Plans the step's entries onto an image whose paths `image` knows, with `workdir` the
    /// stage's. The staging returned holds ADD's downloads and extracted archives, which the
    /// planned entries read: keep it until the layer is written.
    pub(crate) async fn plan(
        &self,
        workdir: &str,
        image: &(dyn PathInfo + Sync),
    ) -> Result<(Vec<Planned>, Staging)> {
        let c = self.instruction;
        let add = self.add;
        let root = &self.root;
        let keep_owner = c.from.is_some();
        let ignore = if keep_owner { None } else { Some(self.ignore) };
        // ADD's downloads and extracted archives live here until the layer is written.
        let mut staging = Staging::new(self.limits.clone());
        let mut sources = Vec::new();
        let (urls, paths): (Vec<String>, Vec<String>) = c
            .sources
            .iter()
            .cloned()
            .partition(|s| add && add::is_url(s));
        for url in &urls {
            sources.push(
                staging
                    .download(url, c.checksum.as_deref(), self.tmp)
                    .await?,
            );
        }
        if !paths.is_empty() {
            let matched = match ignore {
                Some(ignore) => super::glob::resolve_sources(root, &paths, ignore)?,
                None => {
                    super::glob::resolve_sources_in_image(root, &paths).map_err(|e| {
                        match (e, c.from.as_deref()) {
                            (super::glob::SourceError::NotFound { pattern }, Some(from)) => {
                                anyhow::anyhow!(
                                    "{pattern}: not found in the filesystem of --from={from}"
                                )
                            }
                            (e, _) => e.into(),
                        }
                    })?
                }
            };
            for path in matched {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(Path::new(""))
                    .to_path_buf();
                if add
                    && c.from.is_none()
                    && path.is_file()
                    && staging.extract_if_archive(&path, &rel, self.tmp)?
                {
                    continue;
                }
                sources.push(Source::Path {
                    root: root.clone(),
                    rel,
                });
            }
        }
        for (name, content) in &c.inline {
            sources.push(Source::Inline {
                name: name.clone(),
                content: content.clone().into_bytes(),
            });
        }
        let opts = CopyOptions {
            chown: self.chown,
            chmod: c.chmod,
            keep_owner,
            dest_dir: None,
        };
        if sources.is_empty() && staging.tree_source().is_none() {
            // Only wildcards that matched nothing: nothing is copied, and (as in BuildKit)
            // the destination is not created either.
            return Ok((Vec::new(), staging));
        }
        let planned = match staging.tree_source() {
            None => plan::plan_copy(&sources, &c.dest, workdir, &opts, image, ignore)?,
            Some(tree) => {
                // An archive always extracts into a directory; with other sources next to it
                // the destination is a directory too.
                let dest = if sources.is_empty() || c.dest.ends_with('/') {
                    c.dest.clone()
                } else {
                    format!("{}/", c.dest)
                };
                let mut plans = Vec::new();
                if !sources.is_empty() {
                    plans.push(plan::plan_copy(
                        &sources, &dest, workdir, &opts, image, ignore,
                    )?);
                }
                let archive_opts = CopyOptions {
                    keep_owner: true,
                    dest_dir: staging.tree_root(),
                    ..opts.clone()
                };
                plans.push(plan::plan_copy(
                    &[tree],
                    &dest,
                    workdir,
                    &archive_opts,
                    image,
                    None,
                )?);
                add::merge(plans)
            }
        };
        Ok((planned, staging))
    }
}
