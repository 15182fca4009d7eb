// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! From `worker build`'s output flags ([`Outputs`], part of the build's configuration) to
//! [`super::write_outputs`]: destinations parsed (a bad reference is an error naming it,
//! before anything is written), then the OCI layout, the docker-archive, the pushes and the
//! digest and metadata files, in that order.

use std::path::PathBuf;

use anyhow::{Context, Result};
use kaniko_registry::RegistryClient;

use super::{LayerUploads, OutputOptions, write_outputs_after};
use crate::base::parse_reference;
use crate::blobs::BlobStore;
use crate::image::FinishedImage;

/// Where the image goes once built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Image references to push to, in the order given.
    pub destinations: Vec<String>,
    /// `--no-push`.
    pub no_push: bool,
    /// `--tar-path`.
    pub tar_path: Option<PathBuf>,
    /// `--oci-layout-path`.
    pub oci_layout_path: Option<PathBuf>,
    /// `--digest-file`.
    pub digest_file: Option<PathBuf>,
    /// `--image-name-with-digest-file`.
    pub image_name_with_digest_file: Option<PathBuf>,
    /// `--image-name-tag-with-digest-file`.
    pub image_name_tag_with_digest_file: Option<PathBuf>,
    /// `--metadata-file`: descriptor and platform as JSON.
    pub metadata_file: Option<PathBuf>,
    /// `--force`: digest files whose content would change are replaced, not refused.
    pub force: bool,
    /// `--push-by-digest`: no tag moves.
    pub push_by_digest: bool,
    /// `--termination-message-path`: the result as one line of JSON, written in place.
    pub termination_message_path: Option<PathBuf>,
    /// `--sign-images`: the key the pushed image is signed with (docs/signing.md).
    pub signing_key: Option<kaniko_sign::SigningKey>,
    /// `--sbom`: attach an SPDX SBOM to the pushed image (docs/signing.md).
    pub sbom: bool,
}

/// The [`OutputOptions`] for a build's output flags, `--push-ignore-immutable-tag-errors`
/// and `--push-retry`.
pub fn options(
    outputs: &Outputs,
    ignore_immutable_tags: bool,
    push_retry: u32,
) -> Result<OutputOptions> {
    let destinations = outputs
        .destinations
        .iter()
        .map(|d| parse_reference(d).with_context(|| format!("--destination {d}")))
        .collect::<Result<Vec<_>>>()?;
    Ok(OutputOptions {
        destinations,
        no_push: outputs.no_push,
        oci_layout_path: outputs.oci_layout_path.clone(),
        tar_path: outputs.tar_path.clone(),
        digest_file: outputs.digest_file.clone(),
        image_name_with_digest_file: outputs.image_name_with_digest_file.clone(),
        image_name_tag_with_digest_file: outputs.image_name_tag_with_digest_file.clone(),
        metadata_file: outputs.metadata_file.clone(),
        termination_message_path: outputs.termination_message_path.clone(),
        push_ignore_immutable_tag_errors: ignore_immutable_tags,
        push_by_digest_only: outputs.push_by_digest,
        force_digest_files: outputs.force,
        push_retry,
        cache: None,
        signing_key: outputs.signing_key.clone(),
        sbom: outputs.sbom,
    })
}

/// Writes the outputs after the build's own layer uploads (`early`); returns
/// `<registry>/<repo>:<tag>@<digest>` of every push.
pub async fn write(
    finished: &FinishedImage,
    opts: &OutputOptions,
    client: &RegistryClient,
    blobs: &BlobStore,
    early: Option<LayerUploads>,
) -> Result<Vec<String>> {
    let report = write_outputs_after(finished, opts, client, blobs, early).await?;
    for pushed in &report.pushed {
        tracing::info!(image = %pushed, "pushed");
    }
    Ok(report.pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_immutable_tag_flag_reaches_the_push() {
        let outputs = Outputs {
            destinations: vec!["reg.example/app:1".to_string()],
            ..Outputs::default()
        };
        for flag in [false, true] {
            let opts = options(&outputs, flag, 0).expect("options");
            assert_eq!(opts.push_ignore_immutable_tag_errors, flag);
        }
    }
}
