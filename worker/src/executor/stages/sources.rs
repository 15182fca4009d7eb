// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The filesystems `COPY --from` and `RUN --mount=from` read: an earlier stage's image or
//! an image pulled for the stage's platform, unpacked once per build and shared.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use kaniko_common::platform::Platform;

use super::Executor;
use crate::base;
use crate::unpack::{self, UnpackOptions};

impl Executor<'_> {
    /// The unpacked filesystem of `COPY --from=<from>` and `RUN --mount=from=<from>`: an
    /// earlier stage, or an image pulled for `platform`.
    pub(crate) async fn source_root(
        &mut self,
        from: &str,
        platform: &Platform,
    ) -> Result<Arc<tempfile::TempDir>> {
        let stage = self.stage_index(from);
        let key = match stage {
            Some(i) => format!("stage:{i}"),
            None => format!("image:{from}"),
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
        let dir = tempfile::Builder::new()
            .prefix("from-")
            .tempdir_in(self.setup.tmp)
            .context("temporary directory for --from")?;
        let opts = UnpackOptions {
            budget: self.setup.limits.disk.clone(),
            ..UnpackOptions::default()
        };
        unpack::unpack_image(dir.path(), &layers, &self.blobs, &opts)
            .await
            .with_context(|| format!("unpacking {from} for --from"))?;
        let dir = Arc::new(dir);
        self.roots.insert(key, Arc::clone(&dir));
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
