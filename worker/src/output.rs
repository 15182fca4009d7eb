// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Outputs, one module: writing a finished image everywhere the flags ask. The parts:
//! [`Outputs`] (the output flags of a build's configuration) and their [`OutputOptions`]
//! (`plan`, destinations parsed before anything is written), the pushes to every
//! `--destination` (`push`), the OCI image layout (`--oci-layout-path`, this file), the
//! docker-archive (`--tar-path`, `docker_archive`), and the digest and metadata files
//! (`files`).
//!
//! Order: the layout and the tar first (local, they cannot half-publish anything), then the
//! pushes (every blob of every destination before any tag moves), then the digest and
//! metadata files, written atomically and only once everything else succeeded, so a CI
//! pipeline never reads a digest that was not published. The pushes may have begun during
//! the build ([`LayerUploads`], the pipelined push): they are waited for before any tag moves.

mod claims;
mod docker_archive;
mod files;
pub(crate) mod plan;
mod push;
mod uploads;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kaniko_common::oci::Descriptor;
use kaniko_image::layout::{LayoutError, OciLayout};
use kaniko_registry::{Reference, RegistryClient, RegistryError, RetryPolicy};

pub use claims::{ClaimedUpload, UploadClaims};
pub use docker_archive::write_docker_archive;
pub use files::{metadata_json, name_digest_lines, write_atomic};
pub use plan::Outputs;
pub use uploads::{LayerUploads, UploadedLayers};

use crate::blobs::{BlobError, BlobStore};
use crate::image::FinishedImage;

/// What the outputs are; the fields are Kaniko's flags of the same names.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// `--destination`: pushed by tag (`latest` when the reference has none).
    pub destinations: Vec<Reference>,
    /// `--no-push`: the destinations only name the image (tar tags, digest files).
    pub no_push: bool,
    /// `--oci-layout-path`.
    pub oci_layout_path: Option<PathBuf>,
    /// `--tar-path`: a docker-archive (`docker save` format).
    pub tar_path: Option<PathBuf>,
    /// `--digest-file`: the manifest digest, no newline.
    pub digest_file: Option<PathBuf>,
    /// `--image-name-with-digest-file`: `<registry>/<repo>@<digest>` per destination.
    pub image_name_with_digest_file: Option<PathBuf>,
    /// `--image-name-tag-with-digest-file`: `<registry>/<repo>:<tag>@<digest>` per destination.
    pub image_name_tag_with_digest_file: Option<PathBuf>,
    /// `--metadata-file`: the descriptor, platform, config and layers as JSON.
    pub metadata_file: Option<PathBuf>,
    /// `--termination-message-path`: `{digest, size, mediaType, platform}`, written in place.
    pub termination_message_path: Option<PathBuf>,
    /// `--push-ignore-immutable-tag-errors`: a registry refusing to move an immutable tag is
    /// a warning, not a failure.
    pub push_ignore_immutable_tag_errors: bool,
    /// Push the manifest by digest only, moving no tag: the per-platform images of a
    /// multi-platform build, which must not sit on a tag before their index does.
    pub push_by_digest_only: bool,
    /// `--force`: replace digest files whose content would change (refused otherwise).
    pub force_digest_files: bool,
    /// `--push-retry`: how many times the whole push is tried again after a transient
    /// failure that outlived the registry client's own retries (Kaniko's flag; 0: none).
    pub push_retry: u32,
    /// The build's cache hits and misses (`--cache`), reported in the metadata file.
    pub cache: Option<crate::cache::CacheReport>,
    /// Sign the image in every destination repository after it is pushed by digest and
    /// before any tag moves (`worker build --sign-images`).
    pub signing_key: Option<kaniko_sign::SigningKey>,
    /// Attach an SPDX SBOM to the image in every destination repository after it is pushed
    /// by digest and before any tag moves (`worker build --sbom`); signed with the image.
    pub sbom: bool,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputReport {
    /// The image manifest's descriptor (with the platform).
    pub manifest: Descriptor,
    /// `<registry>/<repo>:<tag>@<digest>` of every destination pushed.
    pub pushed: Vec<String>,
}

/// What can go wrong writing outputs.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A push to a destination failed; names the destination and the blob or manifest.
    #[error("pushing {digest} to {destination}: {source}")]
    Push {
        /// The destination (`registry/repo[:tag]`).
        destination: String,
        /// The blob or manifest digest that failed.
        digest: String,
        /// The registry error (its kind says whether a retry may help).
        #[source]
        source: RegistryError,
    },
    /// Signing the pushed image failed; no tag was moved.
    #[error("signing failed, so no tag was moved: {0}")]
    Sign(#[from] kaniko_sign::SignError),
    /// Making or attaching the SBOM failed; no tag was moved.
    #[error("{0}, so no tag was moved")]
    Sbom(#[from] kaniko_sign::sbom::SbomError),
    /// A layer's bytes could not be fetched.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Writing the OCI layout failed.
    #[error("writing oci layout {}: {source}", path.display())]
    Layout {
        /// The layout directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: LayoutError,
    },
    /// A local file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A layer whose uncompressed content does not hash to the config's diff_id.
    #[error("layer {digest}: uncompressed content hashes to {actual}, the config says {expected}")]
    DiffIdMismatch {
        /// The layer's digest.
        digest: String,
        /// The diff_id in the config.
        expected: String,
        /// What the content hashes to.
        actual: String,
    },
}

impl OutputError {
    /// Whether this is a push that failed in a way another attempt may mend (`--push-retry`).
    pub fn is_transient_push(&self) -> bool {
        matches!(self, OutputError::Push { source, .. } if source.is_transient())
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
        move |source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `<registry>/<repository>` of a reference, as Kaniko writes image names.
pub fn repository_name(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

/// Each destination repository once (by [`repository_name`]), with the first destination
/// naming it: blobs go once per repository, whatever the number of tags.
pub(crate) fn repositories(destinations: &[Reference]) -> BTreeMap<String, &Reference> {
    let mut repositories = BTreeMap::new();
    for destination in destinations {
        repositories
            .entry(repository_name(destination))
            .or_insert(destination);
    }
    repositories
}

/// Kaniko's check before a build: every destination repository (once) accepts a push from
/// `client`, so a missing permission fails the build before any work rather than at its
/// first upload. Nothing is checked with `--no-push` or without destinations.
pub async fn check_push_permissions(
    opts: &OutputOptions,
    client: &RegistryClient,
) -> anyhow::Result<()> {
    if opts.no_push {
        return Ok(());
    }
    for destination in repositories(&opts.destinations).into_values() {
        // The registry's error stays in the chain: a caller tells transient from permanent
        // by it (a fleet task is delivered again after a transient one).
        client
            .check_push_permission(destination)
            .await
            .map_err(anyhow::Error::new)
            .with_context(|| {
                format!(
                    "checking push permission for {destination} \
                     (--skip-push-permission-check skips this check)"
                )
            })?;
    }
    Ok(())
}

/// The tag a destination is pushed under: its own, else `latest`.
pub fn tag_of(reference: &Reference) -> &str {
    reference.tag().unwrap_or("latest")
}

/// Writes `finished` to every output `opts` names. See the module documentation.
pub async fn write_outputs(
    finished: &FinishedImage,
    opts: &OutputOptions,
    client: &RegistryClient,
    blobs: &BlobStore,
) -> Result<OutputReport, OutputError> {
    write_outputs_after(finished, opts, client, blobs, None).await
}

/// [`write_outputs`] after the build's own layer uploads (`early`, started while it ran):
/// the push waits for them, then uploads only what they did not.
pub async fn write_outputs_after(
    finished: &FinishedImage,
    opts: &OutputOptions,
    client: &RegistryClient,
    blobs: &BlobStore,
    early: Option<LayerUploads>,
) -> Result<OutputReport, OutputError> {
    if let Some(path) = &opts.oci_layout_path {
        let ref_name = opts.destinations.first().map_or("latest", tag_of);
        write_oci_layout(finished, path, ref_name, blobs).await?;
    }
    if let Some(path) = &opts.tar_path {
        let tags: Vec<String> = opts
            .destinations
            .iter()
            .map(|d| format!("{}:{}", repository_name(d), tag_of(d)))
            .collect();
        write_docker_archive(finished, &tags, blobs, path).await?;
    }
    let pushed = if opts.no_push {
        Vec::new()
    } else {
        // The uploads the build started are waited for once; with --push-retry a transient
        // failure among them leaves their layers to the retried push below.
        let early = match early {
            Some(uploads) => match uploads.finish().await {
                Ok(done) => done,
                Err(err) if opts.push_retry > 0 && err.is_transient_push() => {
                    tracing::warn!("{err}; the push uploads the build's layers again");
                    UploadedLayers::default()
                }
                Err(err) => return Err(err),
            },
            None => UploadedLayers::default(),
        };
        let modes = push::PushModes {
            ignore_immutable: opts.push_ignore_immutable_tag_errors,
            by_digest_only: opts.push_by_digest_only,
            signing_key: opts.signing_key.as_ref(),
            sbom: opts.sbom,
        };
        RetryPolicy::default()
            .with_attempts(opts.push_retry.saturating_add(1))
            .run_if("push", OutputError::is_transient_push, |_| {
                push::push_all(finished, &opts.destinations, client, blobs, modes, &early)
            })
            .await?
    };
    files::write_digest_files(finished, opts)?;
    Ok(OutputReport {
        manifest: finished.manifest.clone(),
        pushed,
    })
}

/// Writes the image into the OCI layout at `path` (created, or added to) under `ref_name`.
/// Layer files are copied (verified), never moved: the image may be written elsewhere too.
pub async fn write_oci_layout(
    finished: &FinishedImage,
    path: &Path,
    ref_name: &str,
    blobs: &BlobStore,
) -> Result<(), OutputError> {
    let mut files = Vec::new();
    for layer in &finished.image.layers {
        files.push((blobs.fetch(layer).await?, layer.descriptor.clone()));
    }
    let finished = finished.clone();
    let path = path.to_path_buf();
    let ref_name = ref_name.to_string();
    tokio::task::spawn_blocking(move || {
        let layout_err = |source| OutputError::Layout {
            path: path.clone(),
            source,
        };
        let layout = OciLayout::create(&path).map_err(layout_err)?;
        for (file, descriptor) in files {
            if layout.has_blob(&descriptor.digest).map_err(layout_err)? {
                continue;
            }
            let reader = std::fs::File::open(&file).map_err(OutputError::io(&file))?;
            layout
                .write_blob_from_reader(reader, &descriptor.digest, Some(descriptor.size))
                .map_err(layout_err)?;
        }
        layout
            .write_blob(&finished.config.media_type, &finished.config_bytes)
            .map_err(layout_err)?;
        layout
            .write_blob(&finished.manifest.media_type, &finished.manifest_bytes)
            .map_err(layout_err)?;
        layout
            .add_manifest(&finished.manifest, Some(&ref_name))
            .map_err(layout_err)?;
        tracing::info!(path = %path.display(), %ref_name, digest = %finished.manifest.digest, "oci layout written");
        Ok(())
    })
    .await
    .map_err(|e| OutputError::Io {
        path: PathBuf::new(),
        source: std::io::Error::other(e.to_string()),
    })?
}
