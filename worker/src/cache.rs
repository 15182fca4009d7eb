// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The layer cache (`--cache`, Kaniko's flags): each cacheable step (RUN with
//! `--cache-run-layers`, COPY and ADD with `--cache-copy-layers`) has a key ([`key`]: its
//! parent key, the platform, the instruction after expansion, what it reads); its result is
//! one single-layer image in the cache repository under the tag `<key hex>`
//! ([`repository`]). The executor (`executor/stages/cache.rs`) looks a step up before running
//! it: a hit appends the cached layer (digest checked) with the step's history entry, a miss
//! runs the step and pushes its layer in the background (`--no-push-cache`: not pushed). A
//! cache that cannot be read or written is a warning, never a failed build. See
//! docs/cache.md.

pub mod key;
mod layout;
mod repository;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use kaniko_common::messages::expand_arch_suffix;
use kaniko_common::platform::Platform;
use kaniko_registry::{RegistryClient, RetryPolicy};
use oci_spec::image::History;

use crate::image::Layer;
use crate::output::UploadClaims;
pub use key::Key;
pub use repository::Hit;

/// Kaniko's default `--cache-ttl`: two weeks.
pub const DEFAULT_TTL: Duration = Duration::from_secs(336 * 3600);

/// The validated cache flags of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// `--cache-repo` (`registry/repository`, or `oci:PATH` for a local OCI layout), else the
    /// first destination's repository followed by `/cache`; the suffix is not applied yet.
    pub repo: String,
    /// `--arch-cache-repo-suffix`, checked: `${ARCH}`, `${OS}` and `${VARIANT}` are the only
    /// placeholders.
    pub arch_suffix: Option<String>,
    /// `--cache-ttl`: older entries are misses.
    pub ttl: Duration,
    /// `--cache-copy-layers`.
    pub copy_layers: bool,
    /// `--cache-run-layers`.
    pub run_layers: bool,
    /// Not `--no-push-cache`.
    pub push: bool,
}

impl CacheOptions {
    /// The cache repository of `platform`: the repository followed by the expanded suffix.
    pub fn repository_for(&self, platform: &Platform) -> String {
        match &self.arch_suffix {
            Some(suffix) => format!("{}{}", self.repo, expand_arch_suffix(suffix, platform)),
            None => self.repo.clone(),
        }
    }
}

/// One looked-up step of a build: a hit or a miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStep {
    /// The instruction as logged (`RUN make`).
    pub instruction: String,
    /// The step's key.
    pub key: Key,
    /// Whether its result came from the cache.
    pub hit: bool,
}

/// The looked-up steps of a build, in order: what `--metadata-file` reports as `cache`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheReport {
    /// Every hit and miss, in build order.
    pub steps: Vec<CacheStep>,
}

impl CacheReport {
    /// How many steps were hits.
    pub fn hits(&self) -> usize {
        self.steps.iter().filter(|s| s.hit).count()
    }

    /// How many steps were misses.
    pub fn misses(&self) -> usize {
        self.steps.len() - self.hits()
    }

    /// `{"hits": N, "misses": M, "steps": [{"instruction", "key", "result": "hit"|"miss"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "instruction": s.instruction,
                    "key": s.key.hex(),
                    "result": if s.hit { "hit" } else { "miss" },
                })
            })
            .collect();
        serde_json::json!({
            "hits": self.hits(),
            "misses": self.misses(),
            "steps": steps,
        })
    }
}

/// The cache of one build: lookups, background pushes and the hits and misses.
pub struct Cache {
    options: CacheOptions,
    client: RegistryClient,
    /// The build's temporary directory (a layout hit's layer is copied there).
    tmp: PathBuf,
    pushes: Vec<tokio::task::JoinHandle<()>>,
    report: Mutex<CacheReport>,
    /// The build's upload claims: a layer the image's push sends too is sent once.
    claims: UploadClaims,
}

impl Cache {
    /// A cache reached with `client`'s registry settings, but tried once per request: a
    /// cache that fails is a miss, not a build held up by retries.
    pub fn new(
        options: CacheOptions,
        client: &RegistryClient,
        tmp: &Path,
        claims: UploadClaims,
    ) -> anyhow::Result<Cache> {
        let mut registry = client.options().clone();
        registry.retry = RetryPolicy::none();
        let client = RegistryClient::new(registry)?;
        tracing::info!(repository = %options.repo, suffix = ?options.arch_suffix, ttl = ?options.ttl, "layer cache on");
        Ok(Cache {
            options,
            client,
            tmp: tmp.to_path_buf(),
            pushes: Vec::new(),
            report: Mutex::new(CacheReport::default()),
            claims,
        })
    }

    /// The options.
    pub fn options(&self) -> &CacheOptions {
        &self.options
    }

    /// The entry of `key` for `platform`, if one is there and younger than the TTL. Any
    /// failure is logged as a warning and is a miss.
    pub async fn lookup(&self, platform: &Platform, key: &Key) -> Option<Hit> {
        let repo = self.options.repository_for(platform);
        let found = match repo.strip_prefix("oci:") {
            Some(dir) => {
                let (dir, key, ttl, tmp) = (
                    PathBuf::from(dir),
                    key.clone(),
                    self.options.ttl,
                    self.tmp.clone(),
                );
                tokio::task::spawn_blocking(move || layout::lookup(&dir, &key, ttl, &tmp))
                    .await
                    .unwrap_or_else(|e| Err(anyhow::anyhow!("reading the layout: {e}")))
            }
            None => repository::lookup(&self.client, &repo, key, self.options.ttl).await,
        };
        match found {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("cache: reading {repo}:{} failed, a miss: {e:#}", key.hex());
                None
            }
        }
    }

    /// Records and logs a hit.
    pub fn hit(&self, text: &str, key: &Key) {
        self.record(text, key, true);
        tracing::info!("cache: hit {text} ({})", key.short());
    }

    /// Records and logs a miss.
    pub fn miss(&self, text: &str, key: &Key, why: &str) {
        self.record(text, key, false);
        tracing::info!("cache: miss {text} ({}{why})", key.short());
    }

    fn record(&self, text: &str, key: &Key, hit: bool) {
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        report.steps.push(CacheStep {
            instruction: text.to_string(),
            key: key.clone(),
            hit,
        });
    }

    /// The hits and misses so far.
    pub fn report(&self) -> CacheReport {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Pushes the result of a missed step (`layer`: `None` when it changed nothing) under
    /// `key` in the background, unless `--no-push-cache`; a failure is a warning.
    pub fn push(&mut self, platform: &Platform, key: &Key, layer: Option<Layer>, entry: History) {
        if !self.options.push {
            return;
        }
        let repo = self.options.repository_for(platform);
        // Claimed now, in build order: the image's upload of the layer, offered after this
        // step, then mounts it from the cache repository (or this push from the image's).
        let claim = match (&layer, repository::reference(&repo, key)) {
            (Some(layer), Ok(tagged)) if !repo.starts_with("oci:") => {
                Some(self.claims.claim(&tagged, &layer.descriptor.digest))
            }
            _ => None,
        };
        let (client, platform, key) = (self.client.clone(), platform.clone(), key.clone());
        self.pushes.push(tokio::spawn(async move {
            let pushed = match repo.strip_prefix("oci:").map(PathBuf::from) {
                Some(dir) => {
                    let (platform, key) = (platform.clone(), key.clone());
                    tokio::task::spawn_blocking(move || {
                        layout::push(&dir, &platform, &key, layer.as_ref(), entry)
                    })
                    .await
                    .unwrap_or_else(|e| Err(anyhow::anyhow!("writing the layout: {e}")))
                }
                None => {
                    // No claim only when the reference is bad: the push says so.
                    let layer = layer.as_ref().zip(claim);
                    repository::push(&client, &repo, &platform, &key, layer, entry).await
                }
            };
            match pushed {
                Ok(()) => tracing::debug!("cache: pushed {repo}:{}", key.hex()),
                Err(e) => tracing::warn!("cache: pushing {repo}:{} failed: {e:#}", key.hex()),
            }
        }));
    }

    /// Waits for the background pushes and logs `cache: N hits, M misses`.
    pub async fn finish(&mut self) {
        for push in self.pushes.drain(..) {
            let _ = push.await;
        }
        let report = self.report();
        tracing::info!("cache: {} hits, {} misses", report.hits(), report.misses());
    }
}
