// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A cache in a local OCI image layout (`--cache-repo oci:PATH`): the same entries as in a
//! registry ([`super::repository`]), each listed in `index.json` under the reference name
//! `<key hex>`. Writers take an exclusive `flock` on `PATH/.kaniko-cache.lock` around
//! `index.json`'s update (concurrent builds and a build's own background pushes); a hit's
//! layer is copied into the build's temporary directory, its digest checked on the way.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use kaniko_common::oci::{DigestAlgorithm, hash_copy};
use kaniko_common::platform::Platform;
use kaniko_image::layout::{LayoutError, OciLayout};
use oci_spec::image::History;

use super::Key;
use super::repository::{self, Hit};
use crate::image::{BlobLocation, Layer};

/// The entry of `key` in the layout at `dir`: `None` when there is none (or no layout) or it
/// is older than `ttl`. The layer is copied into `tmp`.
pub(super) fn lookup(dir: &Path, key: &Key, ttl: Duration, tmp: &Path) -> Result<Option<Hit>> {
    if !dir.join("index.json").is_file() {
        return Ok(None);
    }
    let layout = OciLayout::open(dir)?;
    let what = format!("oci:{}:{}", dir.display(), key.hex());
    let manifest = match layout.resolve(key.hex()) {
        Ok(manifest) => manifest,
        Err(LayoutError::RefNotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bytes = layout.read_blob(&manifest.digest)?;
    let (config, layers) = repository::parse_manifest(&bytes, &manifest.media_type, &what)?;
    let config = layout.read_blob(&config.digest)?;
    let Some(layer) = repository::check_entry(&config, layers, ttl, &what)? else {
        return Ok(None);
    };
    let layer = match layer {
        Some((descriptor, diff_id)) => {
            let copy = tempfile::Builder::new()
                .prefix("cached-layer-")
                .tempfile_in(tmp)
                .with_context(|| format!("creating a file in {}", tmp.display()))?;
            let source = layout.open_blob(&descriptor.digest)?;
            let (digest, size) = hash_copy(source, copy.as_file(), DigestAlgorithm::Sha256)
                .map_err(|e| anyhow!("copying layer {}: {e}", descriptor.digest))?;
            if digest != descriptor.digest || size != descriptor.size {
                bail!(
                    "{what}: layer {} holds {size} bytes hashing to {digest}",
                    descriptor.digest
                );
            }
            Some(Layer {
                descriptor,
                diff_id,
                location: BlobLocation::File(Arc::new(copy.into_temp_path())),
            })
        }
        None => None,
    };
    Ok(Some(Hit { layer }))
}

/// Writes one entry into the layout at `dir` (created when missing).
pub(super) fn push(
    dir: &Path,
    platform: &Platform,
    key: &Key,
    layer: Option<&Layer>,
    history: History,
) -> Result<()> {
    let entry = repository::entry(platform, layer, history)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock_path: PathBuf = dir.join(".kaniko-cache.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    crate::store::flock(&lock, libc::LOCK_EX)
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let layout = OciLayout::create(dir)?;
    if let (Some(layer), Some(descriptor)) = (layer, &entry.layer) {
        let path = repository::file_of(layer)?;
        if !layout.has_blob(&descriptor.digest)? {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            layout.write_blob_from_reader(file, &descriptor.digest, Some(descriptor.size))?;
        }
    }
    layout.write_blob(kaniko_common::oci::OCI_CONFIG, &entry.config)?;
    let manifest = layout.write_blob(kaniko_common::oci::OCI_MANIFEST, &entry.manifest)?;
    layout.add_manifest(&manifest, Some(key.hex()))?;
    Ok(())
}
