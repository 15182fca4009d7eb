// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The cache repository's layout, as Kaniko's: one image per key under the tag
//! `<key hex>`, an OCI manifest with at most one layer (none: the step changed nothing). Its
//! config carries the platform, `created` (always set: the TTL reads it), `rootfs.diff_ids`
//! and the step's history entry. Nothing else is needed to restore a step: a RUN or COPY
//! changes the filesystem only, and config-only steps are replayed, never cached. The layer
//! is the very blob the image uses (no recompression).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use kaniko_common::oci::{self, Descriptor, Manifest, OciMode};
use kaniko_common::platform::Platform;
use kaniko_registry::{Reference, RegistryClient, RegistryError};
use oci_spec::image::{Arch, History, ImageConfiguration, ImageConfigurationBuilder, Os, RootFs};

use super::Key;
use crate::image::{BlobLocation, Layer};
use crate::output::ClaimedUpload;

/// A cache entry found for a key.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The cached layer, in the cache repository (`None`: the step changed nothing).
    pub layer: Option<Layer>,
}

/// `<repo>:<key hex>`, the entry's reference.
pub(super) fn reference(repo: &str, key: &Key) -> Result<Reference> {
    let text = format!("{repo}:{}", key.hex());
    text.parse::<Reference>()
        .map_err(|e| anyhow!("cache reference {text:?}: {e}"))
}

/// The entry of `key` in `repo`: `None` when there is none or it is older than `ttl`.
pub(super) async fn lookup(
    client: &RegistryClient,
    repo: &str,
    key: &Key,
    ttl: Duration,
) -> Result<Option<Hit>> {
    let tagged = reference(repo, key)?;
    let manifest = match client.pull_manifest_raw(&tagged).await {
        Ok(manifest) => manifest,
        Err(RegistryError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let what = tagged.whole();
    let (config, layers) = parse_manifest(&manifest.bytes, &manifest.media_type, &what)?;
    let pinned = tagged.clone_with_digest(manifest.digest.clone());
    let bytes = client.pull_config(&pinned, &config).await?;
    Ok(check_entry(&bytes, layers, ttl, &what)?.map(|layer| Hit {
        layer: layer.map(|(descriptor, diff_id)| Layer {
            descriptor,
            diff_id,
            location: BlobLocation::Remote(pinned),
        }),
    }))
}

/// The config descriptor and the layers of an entry's manifest.
pub(super) fn parse_manifest(
    bytes: &[u8],
    media_type: &str,
    what: &str,
) -> Result<(Descriptor, Vec<Descriptor>)> {
    let Manifest::Image(image) = Manifest::parse(bytes, Some(media_type))? else {
        bail!("{what} is an index, not a cache entry");
    };
    let config = Descriptor::try_from(image.config())?;
    let layers = image
        .layers()
        .iter()
        .map(Descriptor::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((config, layers))
}

/// Checks an entry's config against its layers and the TTL: `None` when it is older than
/// `ttl`, else its layer (descriptor and diff_id; `None` for a step that changed nothing).
pub(super) fn check_entry(
    config: &[u8],
    layers: Vec<Descriptor>,
    ttl: Duration,
    what: &str,
) -> Result<Option<Option<(Descriptor, String)>>> {
    let parsed: ImageConfiguration =
        serde_json::from_slice(config).context("parsing the entry's config")?;
    let created = parsed
        .created()
        .as_deref()
        .ok_or_else(|| anyhow!("{what}: the config has no created time"))?;
    let created = chrono::DateTime::parse_from_rfc3339(created)
        .with_context(|| format!("{what}: created {created:?}"))?;
    let age = chrono::Utc::now().signed_duration_since(created);
    if age.to_std().is_ok_and(|age| age > ttl) {
        tracing::info!(entry = %what, %created, "cache: entry older than --cache-ttl");
        return Ok(None);
    }
    let diff_ids = parsed.rootfs().diff_ids();
    match (layers.as_slice(), diff_ids.as_slice()) {
        ([], []) => Ok(Some(None)),
        ([descriptor], [diff_id]) => {
            oci::Compression::from_layer_media_type(&descriptor.media_type)
                .ok_or_else(|| anyhow!("{what}: {} is not a layer", descriptor.media_type))?;
            Ok(Some(Some((
                Descriptor {
                    platform: None,
                    annotations: Default::default(),
                    ..descriptor.clone()
                },
                diff_id.clone(),
            ))))
        }
        _ => bail!(
            "{what}: {} layers and {} diff_ids, not one cached step",
            layers.len(),
            diff_ids.len()
        ),
    }
}

/// The config of a cache entry.
fn entry_config(
    platform: &Platform,
    layer: Option<&Layer>,
    mut entry: History,
) -> Result<ImageConfiguration> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if entry.created().is_none() {
        entry.set_created(Some(now.clone()));
    }
    let mut rootfs = RootFs::default();
    rootfs.set_diff_ids(layer.map(|l| vec![l.diff_id.clone()]).unwrap_or_default());
    let mut config = ImageConfigurationBuilder::default()
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::from(platform.os.as_str()))
        .created(now)
        .rootfs(rootfs)
        .history(vec![entry])
        .build()
        .map_err(|e| anyhow!("cache entry config: {e}"))?;
    config.set_variant(platform.variant.clone());
    Ok(config)
}

/// The file of a layer this build wrote (what a cache entry is written from).
pub(super) fn file_of(layer: &Layer) -> Result<&std::path::Path> {
    layer.location.path().ok_or_else(|| {
        anyhow!(
            "layer {} is not a file of this build",
            layer.descriptor.digest
        )
    })
}

/// An entry ready to be written: its layer's descriptor (OCI media type), config and
/// manifest.
pub(super) struct Entry {
    /// The layer's descriptor, if any.
    pub(super) layer: Option<Descriptor>,
    /// The config blob.
    pub(super) config: Vec<u8>,
    /// The manifest (OCI).
    pub(super) manifest: Vec<u8>,
}

/// The entry of a step's result.
pub(super) fn entry(platform: &Platform, layer: Option<&Layer>, history: History) -> Result<Entry> {
    let descriptor = match layer {
        Some(layer) => {
            let mut descriptor = layer.descriptor.clone();
            let compression = oci::Compression::from_layer_media_type(&descriptor.media_type)
                .ok_or_else(|| anyhow!("{} is not a layer", descriptor.media_type))?;
            descriptor.media_type = OciMode::Oci.layer_media_type(compression).to_string();
            Some(descriptor)
        }
        None => None,
    };
    let config = oci::config_bytes(&entry_config(platform, layer, history)?)?;
    let config_descriptor = Descriptor::for_bytes(oci::OCI_CONFIG, &config);
    let manifest = oci::manifest_bytes(
        OciMode::Oci,
        &config_descriptor,
        descriptor.as_slice(),
        &BTreeMap::new(),
    )?;
    Ok(Entry {
        layer: descriptor,
        config,
        manifest,
    })
}

/// Pushes one entry: the layer (from its file, through the build's claim on it: mounted
/// from the image's repository when the image's push sends it), the config, the manifest
/// under the key.
pub(super) async fn push(
    client: &RegistryClient,
    repo: &str,
    platform: &Platform,
    key: &Key,
    layer: Option<(&Layer, ClaimedUpload)>,
    history: History,
) -> Result<()> {
    let tagged = reference(repo, key)?;
    let entry = entry(platform, layer.as_ref().map(|(l, _)| *l), history)?;
    if let Some((layer, claim)) = layer {
        let path = file_of(layer)?;
        claim
            .put(
                client,
                &tagged,
                path.to_path_buf(),
                &layer.descriptor.digest,
                layer.descriptor.size,
            )
            .await?;
    }
    client.push_blob_bytes(&tagged, entry.config).await?;
    client
        .push_manifest_raw(&tagged, entry.manifest, oci::OCI_MANIFEST)
        .await?;
    Ok(())
}
