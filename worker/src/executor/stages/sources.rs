// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The filesystems `COPY --from` and `RUN --mount=from` read: an earlier stage's image or
//! an image pulled for the stage's platform, once per build and shared: hard links into the
//! layer store's directories (nothing copied, a layer already there not unpacked again), or
//! unpacked into a directory of its own without a store.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use kaniko_common::platform::Platform;

use super::Executor;
use crate::base;
use crate::image::Layer;
use crate::store::stack::Stack;
use crate::unpack::{self, UnpackOptions};

impl Executor<'_> {
    /// The unpacked filesystem of `COPY --from=<from>` and `RUN --mount=from=<from>`: an
    /// earlier stage, or an image pulled for `platform`. With `sources` (COPY's), linked from
    /// the layer store, only the names of its root those sources read are there (see
    /// [`needed_names`]); otherwise all of it.
    pub(crate) async fn source_root(
        &mut self,
        from: &str,
        platform: &Platform,
        sources: Option<&[String]>,
    ) -> Result<Arc<tempfile::TempDir>> {
        let stage = self.stage_index(from);
        let key = match stage {
            Some(i) => format!("stage:{i}"),
            None => format!("image:{from}"),
        };
        if let Some(root) = self.roots.get(&key) {
            return Ok(Arc::clone(root));
        }
        let sources = sources.map(<[String]>::to_vec);
        let key = match &sources {
            Some(sources) => format!("{key}\nsources:{}", sources.join("\n")),
            None => key,
        };
        if let Some(root) = self.roots.get(&key) {
            return Ok(Arc::clone(root));
        }
        let layers = match stage {
            Some(i) => self
                .done
                .get(&i)
                .map(|s| s.image.layers.clone())
                .ok_or_else(|| anyhow!("--from={from}: stage {i} is not built"))?,
            None => {
                base::pull(
                    &self.setup.pull_client,
                    from,
                    platform,
                    &self.setup.rewrites,
                )
                .await
                .with_context(|| format!("--from={from}"))?
                .image
                .layers
            }
        };
        let dir = match self.linked_root(&layers, sources).await {
            Ok(Some(dir)) => dir,
            Ok(None) => self.unpacked_root(from, &layers).await?,
            Err(e) if crate::store::is_final(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(
                    "--from={from}: the layer store cannot give its filesystem ({e:#}); it is \
                     unpacked instead"
                );
                self.unpacked_root(from, &layers).await?
            }
        };
        let dir = Arc::new(dir);
        self.roots.insert(key, Arc::clone(&dir));
        Ok(dir)
    }

    /// `layers` (an image's, bottom first) as one directory of hard links into the layer
    /// store's directories (each layer unpacked into the store unless there already, as a
    /// stage root stacks them): no data copied; with `sources`, only what they read. `None`
    /// without a store, for an image deeper than a stack, or not as root (the store keeps
    /// the images' owners, which needs root or the rootless user namespace).
    async fn linked_root(
        &self,
        layers: &[Layer],
        sources: Option<Vec<String>>,
    ) -> Result<Option<tempfile::TempDir>> {
        let Some(store) = self.store.as_ref().filter(|_| unpack::is_root()) else {
            return Ok(None);
        };
        if layers.len() > crate::store::MAX_STACK {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let held = store
            .layers(layers, 0, &self.blobs, &self.setup.limits.disk)
            .await?;
        let dir = from_dir(self.setup.tmp)?;
        let stack = Stack::new(held.iter().rev().map(|l| l.dir.clone()).collect());
        let target = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            // The layers stay held (safe from garbage collection) while they are linked.
            let _held = held;
            let names = match &sources {
                Some(sources) => needed_names(&stack, sources)?,
                None => None,
            };
            stack.link_some_into(&target, names.as_ref())
        })
        .await
        .map_err(|e| anyhow!("linking the layer store's directories: {e}"))?
        .context("linking the layer store's directories")?;
        tracing::debug!(
            layers = layers.len(),
            seconds = started.elapsed().as_secs_f64(),
            "--from filesystem linked from the layer store"
        );
        Ok(Some(dir))
    }

    /// `layers` unpacked into a directory of their own (`--no-store`, or no store at hand).
    async fn unpacked_root(&self, from: &str, layers: &[Layer]) -> Result<tempfile::TempDir> {
        let dir = from_dir(self.setup.tmp)?;
        let opts = UnpackOptions {
            budget: self.setup.limits.disk.clone(),
            ..UnpackOptions::default()
        };
        unpack::unpack_image(dir.path(), layers, &self.blobs, &opts)
            .await
            .with_context(|| format!("unpacking {from} for --from"))?;
        Ok(dir)
    }

    /// The index of an earlier stage named (or numbered) `from`.
    fn stage_index(&self, from: &str) -> Option<usize> {
        let lower = from.to_ascii_lowercase();
        let by_name = self
            .setup
            .dockerfile
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()));
        by_name
            .or_else(|| from.parse::<usize>().ok())
            .filter(|i| self.done.contains_key(i))
    }
}

/// A new directory for a `--from` filesystem.
fn from_dir(tmp: &std::path::Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("from-")
        .tempdir_in(tmp)
        .context("temporary directory for --from")
}

/// The names of a `--from` root COPY's `sources` read: for each, the names its literal
/// prefix (the components before the first with a glob character) passes through when it is
/// resolved, symlinks followed ([`Stack::root_names_read`]). `None`, the whole root, when a
/// source is the root itself, starts with a glob or climbs with `..`.
fn needed_names(stack: &Stack, sources: &[String]) -> std::io::Result<Option<HashSet<OsString>>> {
    let mut names = HashSet::new();
    for source in sources {
        let Some(prefix) = literal_prefix(source) else {
            return Ok(None);
        };
        names.extend(stack.root_names_read(&prefix)?);
    }
    Ok(Some(names))
}

/// The components of `source` before the first one holding a glob character (or an escape);
/// `None` when there are none or the path climbs with `..`.
fn literal_prefix(source: &str) -> Option<PathBuf> {
    let mut prefix = PathBuf::new();
    for part in Path::new(source).components() {
        match part {
            Component::Normal(name) => {
                if name
                    .as_encoded_bytes()
                    .iter()
                    .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
                {
                    break;
                }
                prefix.push(name);
            }
            Component::ParentDir => return None,
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    (!prefix.as_os_str().is_empty()).then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_prefix_stops_at_the_first_glob() {
        let prefix = |s: &str| literal_prefix(s).map(|p| p.display().to_string());
        assert_eq!(prefix("/out/bin/app").as_deref(), Some("out/bin/app"));
        assert_eq!(prefix("out/*.so").as_deref(), Some("out"));
        assert_eq!(prefix("./go/bin/a?p").as_deref(), Some("go/bin"));
        assert_eq!(prefix("/a/[ab]/c").as_deref(), Some("a"));
        assert_eq!(prefix("/a/b\\*c").as_deref(), Some("a"));
        for whole in ["/", ".", "*", "/*/bin", "/a/../b", ""] {
            assert_eq!(prefix(whole), None, "{whole}");
        }
    }
}
