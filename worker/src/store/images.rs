// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Base images recorded in the store by `worker warm`, read by `worker build --cache-dir`
//! before the registry (Kaniko's warmer and base-image cache). A record is
//! `images/<key>.json`, `key` the sha256 of `<reference> <platform>`, written for the
//! reference as given and for `<registry>/<repository>@<manifest digest>`; it holds the
//! resolution (the registry it came from, the manifest's digest and media type, the config
//! and layer descriptors). The manifest and config bytes are kept by digest in
//! `blobs/sha256/`, beside the layers, and verified when read: a record whose blobs are gone
//! (pruned) or do not match is a miss, and the registry is asked.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bytes::Bytes;
use kaniko_common::oci::Descriptor;
use kaniko_common::platform::Platform;
use kaniko_registry::{Reference, ResolvedImage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One recorded image.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// The reference the record answers for.
    reference: String,
    /// The reference it was pulled through (a mirror's, or the image's own).
    pulled_from: String,
    /// The platform it was resolved for.
    platform: String,
    manifest_digest: String,
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
    index_digest: Option<String>,
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn record_path(store: &Path, reference: &str, platform: &Platform) -> PathBuf {
    let key = hex::encode(Sha256::digest(format!("{reference} {platform}").as_bytes()));
    store.join("images").join(format!("{key}.json"))
}

fn blob_path(store: &Path, digest: &str) -> Option<PathBuf> {
    let hex = digest.strip_prefix("sha256:")?;
    let ok = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| store.join("blobs/sha256").join(hex))
}

/// Writes `data` to `path` atomically, creating its directory.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    kaniko_image::outfile::write(path, data, kaniko_image::outfile::Overwrite::Always)
        .with_context(|| format!("writing {}", path.display()))
}

/// Records `resolved` (pulled through `pulled_from` for `platform`) under `name` (the
/// reference as given) and under its digest.
pub fn record(
    store: &Path,
    name: &Reference,
    pulled_from: &Reference,
    platform: &Platform,
    resolved: &ResolvedImage,
) -> Result<()> {
    for (digest, bytes) in [
        (&resolved.manifest_digest, &resolved.manifest),
        (&resolved.config_descriptor.digest, &resolved.config),
    ] {
        let path =
            blob_path(store, digest).with_context(|| format!("{digest} is not a sha256 digest"))?;
        write_atomic(&path, bytes)?;
    }
    let pinned = Reference::with_digest(
        name.registry().to_string(),
        name.repository().to_string(),
        resolved.manifest_digest.clone(),
    );
    for reference in [name.whole(), pinned.whole()] {
        let record = Record {
            reference: reference.clone(),
            pulled_from: pulled_from.whole(),
            platform: platform.to_string(),
            manifest_digest: resolved.manifest_digest.clone(),
            media_type: resolved.media_type.clone(),
            config: resolved.config_descriptor.clone(),
            layers: resolved.layers.clone(),
            index_digest: resolved.index_digest.clone(),
        };
        let json = serde_json::to_vec_pretty(&record).context("encoding an image record")?;
        write_atomic(&record_path(store, &reference, platform), &json)?;
    }
    Ok(())
}

/// A blob of the store, verified against its digest; `None` when missing or not matching.
fn verified_blob(store: &Path, digest: &str) -> Option<Bytes> {
    let data = fs::read(blob_path(store, digest)?).ok()?;
    (sha256(&data) == digest).then(|| Bytes::from(data))
}

/// The recorded resolution of `name` for `platform` and the reference it was pulled
/// through; `None` when there is no usable record (then the registry is asked).
pub fn lookup(
    store: &Path,
    name: &Reference,
    platform: &Platform,
) -> Option<(Reference, ResolvedImage)> {
    let path = record_path(store, &name.whole(), platform);
    let text = fs::read(&path).ok()?;
    let record: Record = match serde_json::from_slice(&text) {
        Ok(record) => record,
        Err(err) => {
            tracing::warn!(path = %path.display(), "unreadable image record, ignored: {err}");
            return None;
        }
    };
    let (Some(manifest), Some(config)) = (
        verified_blob(store, &record.manifest_digest),
        verified_blob(store, &record.config.digest),
    ) else {
        tracing::warn!(
            image = %name.whole(),
            "the --cache-dir record's manifest or config is missing or damaged; asking the registry"
        );
        return None;
    };
    let pulled_from: Reference = record.pulled_from.parse().ok()?;
    Some((
        pulled_from,
        ResolvedImage {
            manifest_digest: record.manifest_digest,
            manifest,
            media_type: record.media_type,
            config_descriptor: record.config,
            config,
            layers: record.layers,
            index_digest: record.index_digest,
        },
    ))
}
