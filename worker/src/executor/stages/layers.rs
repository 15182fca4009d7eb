// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Layers and history of a stage: the history entry of an instruction (Kaniko's
//! `created_by`, `empty_layer` for metadata-only steps, no `created` with `--reproducible`),
//! and planned entries (COPY, ADD, WORKDIR) written as the step's layer, or onto the stage
//! root with `--single-snapshot`.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use kaniko_image::layer::{LayerEntry, LayerWriter};
use oci_spec::image::{History, HistoryBuilder};

use super::Executor;
use crate::copy::{self, Planned};
use crate::image::{BlobLocation, Layer};
use crate::stage::StageState;
use crate::unpack::{self, UnpackOptions};

/// The history entry of one instruction.
pub(crate) fn history(created_by: &str, empty: bool, reproducible: bool) -> Result<History> {
    let mut builder = HistoryBuilder::default().created_by(created_by.to_string());
    if empty {
        builder = builder.empty_layer(true);
    }
    if !reproducible {
        builder =
            builder.created(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    builder.build().map_err(|e| anyhow!("history entry: {e}"))
}

pub(crate) fn push_history(state: &mut StageState, entry: History) {
    let mut all = state.image.config.history().clone().unwrap_or_default();
    all.push(entry);
    state.image.config.set_history(Some(all));
}

impl Executor<'_> {
    /// Writes planned entries as a layer on the stage (with `--single-snapshot`, onto the
    /// stage root instead: the stage's one layer comes at its end).
    pub(super) fn add_layer(
        &self,
        state: &mut StageState,
        planned: &[Planned],
        text: &str,
    ) -> Result<u64> {
        let writer = LayerWriter::to_temp_file(self.setup.tmp, self.setup.layer)
            .with_context(|| format!("creating a layer in {}", self.setup.tmp.display()))?;
        let (file, info) = copy::write_layer(writer, planned)?;
        let path = file.into_temp_path();
        let size = info.size;
        match self.stage_root.as_ref().filter(|r| r.single.is_some()) {
            Some(root) => {
                let reader = crate::blobs::decompressing_reader(
                    std::fs::File::open(&path).context("reopening the layer")?,
                    Some(self.setup.layer.compression),
                )?;
                let opts = UnpackOptions {
                    preserve_owners: true,
                    budget: self.setup.limits.disk.clone(),
                    ..UnpackOptions::default()
                };
                unpack::unpack_layer(&root.dir, reader, &opts)
                    .context("applying the step to the stage root")?;
                push_history(state, history(text, true, self.setup.layer.reproducible)?);
            }
            None => {
                state.image.push_layer(Layer {
                    descriptor: info.descriptor(),
                    diff_id: info.diff_id.clone(),
                    location: BlobLocation::File(Arc::new(path)),
                });
                push_history(state, history(text, false, self.setup.layer.reproducible)?);
            }
        }
        let entries: Vec<LayerEntry> = planned.iter().map(|p| p.entry.clone()).collect();
        state
            .fs
            .record(&entries, &|path| copy::content_text(planned, path));
        Ok(size)
    }
}
