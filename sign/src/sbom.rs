// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! SBOMs of published images (`--sbom`, docs/signing.md): an SPDX 2.3 JSON document per
//! platform image ([`spdx`]) listing the OS packages of its final root ([`packages`]) and its
//! layers, attached as an OCI 1.1 referrer (`artifactType: application/spdx+json`) of that
//! platform's manifest, and found again for `coordinator sbom`.
//!
//! The root is read from the registry, not from a builder's disk: each layer blob is streamed
//! into a temporary file, then decompressed and walked once for the package databases, so
//! every publisher (the coordinator's publishing path for every driver, `worker build`)
//! makes the same document from the same image.

pub mod packages;
pub mod rpm;
pub mod spdx;

use std::collections::BTreeMap;
use std::io::BufReader;

use bytes::Bytes;
use kaniko_common::oci::{self, Compression, Descriptor};
use kaniko_registry::{
    Attached, MAX_CONFIG_SIZE, Reference, Referrer, RegistryClient, RegistryError,
};

use packages::Root;

/// The `artifactType` of an SBOM referrer and the media type of its one layer.
pub const SBOM_ARTIFACT_TYPE: &str = "application/spdx+json";

/// An SBOM document larger than this is not read back.
pub const MAX_SBOM_SIZE: u64 = 64 * 1024 * 1024;

/// Why an SBOM could not be made, attached or read; each names the manifest.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The registry failed.
    #[error("the sbom of {digest}: {source}")]
    Registry {
        /// The platform manifest.
        digest: String,
        /// The registry's error.
        #[source]
        source: RegistryError,
    },
    /// The manifest or a layer is not what an image has.
    #[error("the sbom of {digest}: {message}")]
    Image {
        /// The platform manifest.
        digest: String,
        /// What is wrong.
        message: String,
    },
    /// No SBOM is attached.
    #[error("no sbom: {digest} in {repository} has no {SBOM_ARTIFACT_TYPE} referrer")]
    NotFound {
        /// The manifest.
        digest: String,
        /// `registry/repository`.
        repository: String,
    },
}

/// A layer of a manifest: media type, digest, size.
fn descriptors(value: &serde_json::Value) -> Vec<Descriptor> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some(Descriptor::new(
                d.get("mediaType")?.as_str()?,
                d.get("digest")?.as_str()?,
                d.get("size")?.as_u64()?,
            ))
        })
        .collect()
}

/// Makes the SBOM of the platform image `manifest` of `repository`'s repository (named in
/// the document as `registry/repository`): its config and every layer are read from there.
pub async fn generate(
    registry: &RegistryClient,
    repository: &Reference,
    manifest: &Descriptor,
    platform: Option<&str>,
) -> Result<Vec<u8>, SbomError> {
    let digest = manifest.digest.clone();
    let registry_error = |source| SbomError::Registry {
        digest: digest.clone(),
        source,
    };
    let image_error = |message: String| SbomError::Image {
        digest: digest.clone(),
        message,
    };
    let at = Reference::with_digest(
        repository.registry().to_string(),
        repository.repository().to_string(),
        manifest.digest.clone(),
    );
    let pulled = registry
        .pull_manifest_sized(&at, manifest.size)
        .await
        .map_err(registry_error)?;
    if pulled.is_index() {
        return Err(image_error(
            "an index has no root of its own; its platform manifests get one sbom each".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(&pulled.bytes)
        .map_err(|err| image_error(format!("the manifest is not json: {err}")))?;
    let config = descriptors(&serde_json::json!([value["config"]]))
        .pop()
        .ok_or_else(|| image_error("the manifest has no config".into()))?;
    let layers = descriptors(&value["layers"]);
    let mut config_bytes = Vec::new();
    registry
        .pull_blob_sized(
            &at,
            &config.digest,
            config.size.min(MAX_CONFIG_SIZE),
            "config",
            &mut config_bytes,
        )
        .await
        .map_err(registry_error)?;
    let created = serde_json::from_slice::<serde_json::Value>(&config_bytes)
        .ok()
        .and_then(|c| c.get("created")?.as_str().map(str::to_string));

    let mut root = Root::default();
    for layer in &layers {
        let compression =
            Compression::from_layer_media_type(&layer.media_type).ok_or_else(|| {
                image_error(format!(
                    "layer {} has the media type {:?}, not a layer's",
                    layer.digest, layer.media_type
                ))
            })?;
        let local = |err: std::io::Error| image_error(format!("layer {}: {err}", layer.digest));
        let (file, path) = tempfile::NamedTempFile::new().map_err(local)?.into_parts();
        let mut out = tokio::fs::File::from_std(file);
        registry
            .pull_blob_sized(&at, &layer.digest, layer.size, "layer", &mut out)
            .await
            .map_err(registry_error)?;
        drop(out);
        root = tokio::task::spawn_blocking(move || {
            let file = BufReader::new(std::fs::File::open(&path)?);
            let tar: Box<dyn std::io::Read> = match compression {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
                Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(file)?),
                Compression::Uncompressed => Box::new(file),
            };
            root.apply_layer(tar).map(|()| root)
        })
        .await
        .map_err(|err| image_error(format!("layer {}: {err}", layer.digest)))?
        .map_err(local)?;
    }
    let name = format!("{}/{}", repository.registry(), repository.repository());
    let os_id = root.os_id();
    let found = tokio::task::spawn_blocking(move || root.inventory())
        .await
        .map_err(|err| image_error(format!("reading its package databases: {err}")))?;
    tracing::debug!(digest = %manifest.digest, packages = found.packages.len(), "sbom made");
    Ok(spdx::document(
        &spdx::ImageFacts {
            repository: &name,
            manifest,
            platform,
            layers: &layers,
            created: created.as_deref(),
            os_id: os_id.as_deref(),
            notes: &found.notes,
        },
        &found.packages,
    ))
}

/// Attaches `document` to `subject` in `repository`'s repository as an SPDX referrer.
pub async fn attach(
    registry: &RegistryClient,
    repository: &Reference,
    subject: &Descriptor,
    document: &[u8],
) -> Result<Attached, SbomError> {
    let bytes = Bytes::copy_from_slice(document);
    let layer = Descriptor::for_bytes(SBOM_ARTIFACT_TYPE, &bytes);
    let referrer = Referrer {
        subject: Descriptor::new(
            subject.media_type.clone(),
            subject.digest.clone(),
            subject.size,
        ),
        artifact_type: SBOM_ARTIFACT_TYPE.to_string(),
        config: (oci::empty_config(), Bytes::from_static(oci::EMPTY_JSON)),
        layers: vec![(layer, bytes)],
        annotations: BTreeMap::new(),
    };
    let attached = registry
        .attach_referrer(repository, &referrer)
        .await
        .map_err(|source| SbomError::Registry {
            digest: subject.digest.clone(),
            source,
        })?;
    tracing::info!(digest = %subject.digest, repository = %repository.repository(), sbom = %attached.referrer.descriptor.digest, "sbom attached");
    Ok(attached)
}

/// The SBOM attached to `digest` in `repository`'s repository (the last one listed when
/// there are several).
pub async fn find(
    registry: &RegistryClient,
    repository: &Reference,
    digest: &str,
) -> Result<Vec<u8>, SbomError> {
    let registry_error = |source| SbomError::Registry {
        digest: digest.to_string(),
        source,
    };
    let (entries, _) = registry
        .list_referrers(repository, digest, Some(SBOM_ARTIFACT_TYPE))
        .await
        .map_err(registry_error)?;
    let Some(entry) = entries.last() else {
        return Err(SbomError::NotFound {
            digest: digest.to_string(),
            repository: format!("{}/{}", repository.registry(), repository.repository()),
        });
    };
    let at = Reference::with_digest(
        repository.registry().to_string(),
        repository.repository().to_string(),
        entry.descriptor.digest.clone(),
    );
    let pulled = registry
        .pull_manifest_sized(&at, entry.descriptor.size)
        .await
        .map_err(registry_error)?;
    let value: serde_json::Value =
        serde_json::from_slice(&pulled.bytes).map_err(|err| SbomError::Image {
            digest: digest.to_string(),
            message: format!("the sbom manifest is not json: {err}"),
        })?;
    let layer = descriptors(&value["layers"])
        .into_iter()
        .find(|l| l.media_type == SBOM_ARTIFACT_TYPE && l.size <= MAX_SBOM_SIZE)
        .ok_or_else(|| SbomError::Image {
            digest: digest.to_string(),
            message: format!(
                "the sbom manifest {} has no {SBOM_ARTIFACT_TYPE} layer",
                entry.descriptor.digest
            ),
        })?;
    let mut out = Vec::new();
    registry
        .pull_blob_sized(&at, &layer.digest, layer.size, "sbom", &mut out)
        .await
        .map_err(registry_error)?;
    Ok(out)
}
