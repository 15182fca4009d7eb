// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The layer cache in the stage loop (see [`crate::cache`]): each stage's key chain (from
//! its base), config-only steps extending it, and the lookup before a RUN or a COPY/ADD. A
//! hit appends the cached layer (fetched and its digest checked first) with the step's
//! history entry; a miss runs the step and pushes its result in the background. After the
//! first miss of a stage its later steps are misses too (they may read what the missed step
//! wrote), their results still pushed.

use std::fmt::Debug;

use anyhow::Result;
use kaniko_common::dockerfile::{BaseRef, Expanded, MountType, Run, Scope};
use kaniko_common::platform::Platform;

use super::Executor;
use super::layers::{history, push_history};
use crate::cache::key::{self, Key, StageBase};
use crate::cache::{CacheOptions, Hit};
use crate::copy::Planned;
use crate::image::BlobLocation;
use crate::stage::{StageFs, StageState};

/// The cache state of the stage being built.
#[derive(Debug, Default)]
pub(crate) struct StageChain {
    /// The key of the last step (`None`: this stage is not cached).
    pub(crate) key: Option<Key>,
    /// A step of this stage ran (missed): later ones are misses.
    pub(crate) missed: bool,
}

/// What a cached step is.
pub(crate) enum Cacheable<'a> {
    /// A RUN.
    Run {
        expanded: &'a Expanded,
        scope: &'a Scope,
    },
    /// A COPY or ADD with its planned entries.
    Copy {
        instruction: &'a dyn Debug,
        planned: &'a [Planned],
    },
}

impl Executor<'_> {
    fn cache_options(&self) -> Option<&CacheOptions> {
        self.cache.as_ref().map(|c| c.options())
    }

    /// Starts a stage's chain from its base.
    pub(super) fn cache_stage_start(&mut self, base: &BaseRef, state: &StageState) {
        self.chain = StageChain::default();
        if self.cache.is_none() {
            return;
        }
        let platform = &state.image.platform;
        let start = match base {
            BaseRef::Scratch => Some(key::stage_start(StageBase::Scratch, platform)),
            BaseRef::Image(_) => {
                let digest = state
                    .image
                    .layers
                    .iter()
                    .find_map(|l| match &l.location {
                        BlobLocation::Remote(r) => r.digest().map(str::to_string),
                        BlobLocation::File(_) => None,
                    })
                    .or_else(|| {
                        kaniko_common::oci::config_bytes(&state.image.config)
                            .ok()
                            .map(|b| format!("config {}", kaniko_common::oci::sha256_digest(&b)))
                    });
                digest.map(|d| key::stage_start(StageBase::Image(&d), platform))
            }
            BaseRef::Stage(j) => self
                .stage_keys
                .get(j)
                .map(|k| key::stage_start(StageBase::Stage(k), platform)),
        };
        self.chain.key = start;
    }

    /// Records the stage's final key (a later `FROM <stage>` chains to it).
    pub(super) fn cache_stage_end(&mut self, index: usize) {
        if let Some(key) = self.chain.key.take() {
            self.stage_keys.insert(index, key);
        }
    }

    /// A config-only step (and WORKDIR, VOLUME, MAINTAINER) extends the chain.
    /// An ARG counts by its names only: its value reaches a RUN through the environment
    /// (in the RUN's key) and a COPY through expansion (in the instruction).
    pub(super) fn cache_config_step(&mut self, platform: &Platform, expanded: &Expanded) {
        let Some(parent) = &self.chain.key else {
            return;
        };
        self.chain.key = Some(match expanded {
            Expanded::Arg(args) => {
                let names: Vec<&str> = args.iter().map(|(name, _)| name.as_str()).collect();
                key::config_key(parent, platform, &("ARG", names))
            }
            _ => key::config_key(parent, platform, expanded),
        });
    }

    /// The key of a cacheable step, extending the chain; `None` when the step is not looked
    /// up (caching off for its kind, or the stage not cached), with the reason to log.
    pub(super) fn cache_key(
        &mut self,
        state: &StageState,
        step: Cacheable<'_>,
    ) -> Option<(Key, Option<&'static str>)> {
        let options = self.cache_options()?;
        let parent = self.chain.key.as_ref()?;
        let platform = &state.image.platform;
        let layer = &self.setup.layer;
        // A COPY's result is wholly in its key (every entry and content hash); a RUN's is not.
        let (key, wanted, determined) = match step {
            Cacheable::Run { expanded, scope } => (
                key::run_key(
                    parent,
                    platform,
                    expanded,
                    scope,
                    &state.run_config,
                    &self.setup.run.ignore,
                    layer,
                ),
                options.run_layers,
                false,
            ),
            Cacheable::Copy {
                instruction,
                planned,
            } => match key::copy_key(parent, platform, instruction, planned, layer) {
                Ok(key) => (key, options.copy_layers, true),
                Err(e) => {
                    tracing::warn!("cache: hashing the sources failed, not cached: {e}");
                    self.chain.key = None;
                    return None;
                }
            },
        };
        self.chain.key = Some(key.clone());
        if !wanted {
            // Not looked up, but run: a later step may read what a RUN wrote, which another
            // run of it need not reproduce; a COPY writes what its key says.
            self.chain.missed |= !determined;
            return None;
        }
        let why = if self.chain.missed {
            Some(", an earlier step of the stage ran")
        } else {
            None
        };
        Some((key, why))
    }

    /// Looks `key` up, unless the stage already missed; a hit's layer is fetched (its
    /// digest checked) before it is used.
    pub(super) async fn cache_lookup(
        &mut self,
        platform: &Platform,
        key: &Key,
        text: &str,
        why: Option<&'static str>,
    ) -> Option<Hit> {
        let cache = self.cache.as_ref()?;
        if let Some(why) = why {
            cache.miss(text, key, why);
            return None;
        }
        let hit = match cache.lookup(platform, key).await {
            Some(hit) => hit,
            None => {
                cache.miss(text, key, "");
                self.chain.missed = true;
                return None;
            }
        };
        if let Some(layer) = &hit.layer
            && let Err(e) = self.blobs.fetch(layer).await
        {
            tracing::warn!(
                "cache: the cached layer {} cannot be used, a miss: {e}",
                layer.descriptor.digest
            );
            cache.miss(text, key, "");
            self.chain.missed = true;
            return None;
        }
        cache.hit(text, key);
        Some(hit)
    }

    /// Applies a hit to the stage: its layer (if any) and the step's history entry.
    /// `planned`: the entries of a COPY/ADD (the layer's), recorded as the step would have;
    /// after a RUN's layer, what is known of the filesystem is read from the layers again.
    pub(super) fn cache_apply(
        &self,
        state: &mut StageState,
        hit: Hit,
        text: &str,
        planned: Option<&[Planned]>,
    ) -> Result<Option<u64>> {
        let reproducible = self.setup.layer.reproducible;
        let Some(layer) = hit.layer else {
            push_history(state, history(text, true, reproducible)?);
            return Ok(None);
        };
        let size = layer.descriptor.size;
        state.image.push_layer(layer);
        push_history(state, history(text, false, reproducible)?);
        match planned {
            Some(planned) => {
                let entries: Vec<_> = planned.iter().map(|p| p.entry.clone()).collect();
                state
                    .fs
                    .record(&entries, &|path| crate::copy::content_text(planned, path));
            }
            None => state.fs = StageFs::default(),
        }
        Ok(Some(size))
    }

    /// Pushes the result of the step just run (the stage's last layer when the layer count
    /// grew past `layers_before`, and its last history entry) under `key`.
    pub(super) fn cache_push(&mut self, state: &StageState, key: &Key, layers_before: usize) {
        let Some(cache) = self.cache.as_mut() else {
            return;
        };
        let layer = (state.image.layers.len() > layers_before)
            .then(|| state.image.layers.last().cloned())
            .flatten();
        let Some(entry) = state
            .image
            .config
            .history()
            .as_ref()
            .and_then(|h| h.last().cloned())
        else {
            return;
        };
        cache.push(&state.image.platform, key, layer, entry);
    }

    /// Whether a RUN can be cached: not with a bind mount (what it reads from the context
    /// or another stage is not in the key).
    pub(super) fn run_cacheable(run: &Run) -> bool {
        !run.mounts.iter().any(|m| {
            kaniko_common::dockerfile::Mount::parse(m).map_or(true, |m| m.kind == MountType::Bind)
        })
    }
}
