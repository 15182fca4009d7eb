// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The image a stage builds: its config, its layers, and where each layer's bytes are (a file
//! this build wrote, or a blob still in the base image's registry). The executor grows an
//! [`Image`] instruction by instruction; [`Image::finish`] turns it into the config and manifest
//! bytes the outputs write.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use kaniko_common::oci::{self, Compression, Descriptor, OciMode};
use kaniko_common::platform::Platform;
use kaniko_registry::Reference;
use oci_spec::image::ImageConfiguration;

/// Where a layer's compressed bytes are.
#[derive(Debug, Clone)]
pub enum BlobLocation {
    /// A layer this build wrote; the file lives as long as any image holding it.
    File(Arc<tempfile::TempPath>),
    /// A layer of a base image, still in the repository it was pulled from.
    Remote(Reference),
}

impl BlobLocation {
    /// The local file, when the layer was written by this build.
    pub fn path(&self) -> Option<&Path> {
        match self {
            BlobLocation::File(path) => Some(path),
            BlobLocation::Remote(_) => None,
        }
    }
}

/// One layer of an image.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Media type (as written or as pulled), digest and size of the compressed blob.
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed tar, as in the config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// Where the bytes are.
    pub location: BlobLocation,
}

/// An image being built: the config so far and its layers, bottom first.
#[derive(Debug, Clone)]
pub struct Image {
    /// The platform the image is for (also written into the config).
    pub platform: Platform,
    /// The config: `config`, `history`, `rootfs.diff_ids` (kept in step with `layers` by
    /// [`Image::push_layer`]).
    pub config: ImageConfiguration,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
}

/// An image ready to be written: canonical config and manifest bytes and their descriptors.
#[derive(Debug, Clone)]
pub struct FinishedImage {
    /// The image, its layers' media types in the output mode.
    pub image: Image,
    /// The config blob.
    pub config_bytes: Vec<u8>,
    /// Descriptor of the config blob.
    pub config: Descriptor,
    /// The manifest.
    pub manifest_bytes: Vec<u8>,
    /// Descriptor of the manifest, with the image's platform.
    pub manifest: Descriptor,
}

impl Image {
    /// Appends a layer and its diff_id to the rootfs.
    pub fn push_layer(&mut self, layer: Layer) {
        let mut rootfs = self.config.rootfs().clone();
        let mut diff_ids = rootfs.diff_ids().clone();
        diff_ids.push(layer.diff_id.clone());
        rootfs.set_diff_ids(diff_ids);
        self.config.set_rootfs(rootfs);
        self.layers.push(layer);
    }

    /// The config and manifest in `mode`'s media types. Layer media types are rewritten to
    /// the mode's spelling of their compression (the bytes do not change).
    pub fn finish(mut self, mode: OciMode) -> Result<FinishedImage> {
        for layer in &mut self.layers {
            let compression = Compression::from_layer_media_type(&layer.descriptor.media_type)
                .with_context(|| {
                    format!(
                        "layer {} has media type {}, which is not a layer",
                        layer.descriptor.digest, layer.descriptor.media_type
                    )
                })?;
            layer.descriptor.media_type = mode.layer_media_type(compression).to_string();
        }
        let config_bytes = oci::config_bytes(&self.config)?;
        let config = Descriptor::for_bytes(mode.config_media_type(), &config_bytes);
        let layers: Vec<Descriptor> = self.layers.iter().map(|l| l.descriptor.clone()).collect();
        let manifest_bytes = oci::manifest_bytes(mode, &config, &layers, &Default::default())?;
        let mut manifest = Descriptor::for_bytes(mode.manifest_media_type(), &manifest_bytes);
        manifest.platform = Some(self.platform.clone());
        Ok(FinishedImage {
            image: self,
            config_bytes,
            config,
            manifest_bytes,
            manifest,
        })
    }
}

/// A directory the build may write temporary files into, removed with the build.
pub fn temp_dir_in(base: Option<&Path>) -> Result<tempfile::TempDir> {
    let base: PathBuf = base
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix("kaniko-build-")
        .tempdir_in(&base)
        .with_context(|| format!("creating a temporary directory in {}", base.display()))
}
