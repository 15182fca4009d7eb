// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Interim outputs until `output::write_outputs` lands: push to each destination (local layers
//! uploaded, base layers mounted from their repository when on the same registry, else pulled
//! and uploaded), `--oci-layout-path` and `--digest-file`. Other output flags are rejected by
//! [`write`] so that none is silently ignored.

use anyhow::{Context, Result, bail};
use kaniko_common::layout::OciLayout;
use kaniko_common::registry::RegistryClient;

use crate::base::parse_reference;
use crate::blobs::BlobStore;
use crate::config::Outputs;
use crate::image::{BlobLocation, FinishedImage};

/// Writes the outputs; returns `reference@digest` of every push.
pub async fn write(
    finished: &FinishedImage,
    outputs: &Outputs,
    client: &RegistryClient,
    blobs: &BlobStore,
) -> Result<Vec<String>> {
    for (flag, set) in [
        ("--tar-path", outputs.tar_path.is_some()),
        (
            "--image-name-with-digest-file",
            outputs.image_name_with_digest_file.is_some(),
        ),
        (
            "--image-name-tag-with-digest-file",
            outputs.image_name_tag_with_digest_file.is_some(),
        ),
        ("--metadata-file", outputs.metadata_file.is_some()),
    ] {
        if set {
            bail!("{flag} is not supported yet");
        }
    }
    let digest = &finished.manifest.digest;
    if let Some(dir) = &outputs.oci_layout_path {
        let layout = OciLayout::create(dir)
            .with_context(|| format!("--oci-layout-path {}", dir.display()))?;
        for layer in &finished.image.layers {
            let path = blobs.fetch(layer).await?;
            layout.write_blob_from_file(&path, &layer.descriptor.digest, layer.descriptor.size)?;
        }
        layout.write_blob(&finished.config.media_type, &finished.config_bytes)?;
        layout.write_blob(&finished.manifest.media_type, &finished.manifest_bytes)?;
        let tag = outputs
            .destinations
            .first()
            .and_then(|d| parse_reference(d).ok())
            .and_then(|r| r.tag().map(str::to_string))
            .unwrap_or_else(|| "latest".to_string());
        layout.add_manifest(&finished.manifest, Some(&tag))?;
    }
    let mut pushed = Vec::new();
    if !outputs.no_push {
        for destination in &outputs.destinations {
            let target = parse_reference(destination)?;
            for layer in &finished.image.layers {
                let d = &layer.descriptor;
                if let BlobLocation::Remote(source) = &layer.location
                    && source.resolve_registry() == target.resolve_registry()
                    && client
                        .mount_blob(&target, source.repository(), &d.digest)
                        .await
                        .unwrap_or(false)
                {
                    continue;
                }
                if client.blob_exists(&target, &d.digest).await? {
                    continue;
                }
                let path = blobs.fetch(layer).await?;
                client
                    .push_blob_file(&target, path, &d.digest, d.size)
                    .await
                    .with_context(|| format!("pushing layer {} to {destination}", d.digest))?;
            }
            client
                .push_blob_bytes(&target, finished.config_bytes.clone())
                .await
                .with_context(|| format!("pushing the config to {destination}"))?;
            client
                .push_manifest_raw(
                    &target,
                    finished.manifest_bytes.clone(),
                    &finished.manifest.media_type,
                )
                .await
                .with_context(|| format!("pushing the manifest to {destination}"))?;
            let repo = format!("{}/{}", target.registry(), target.repository());
            tracing::info!(destination = %destination, %digest, "pushed");
            pushed.push(format!("{repo}@{digest}"));
        }
    }
    if let Some(path) = &outputs.digest_file {
        std::fs::write(path, digest)
            .with_context(|| format!("--digest-file {}", path.display()))?;
    }
    Ok(pushed)
}
