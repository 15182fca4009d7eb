// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! OCI and Docker media types, and the descriptor every part of kaniko-rs passes around.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::platform::Platform;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker manifest list (no annotations, no artifactType, no subject).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker zstd layer (what Docker and BuildKit write for zstd in Docker mode).
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";

/// A content descriptor: what a manifest, an index, a task result or an event says about one
/// blob. Plain fields (no skipped or flattened ones) so that it travels in bincode as well as
/// in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// `sha256:<64 hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// The platform, for manifests listed in an index.
    pub platform: Option<Platform>,
    /// Annotations, ordered by key.
    pub annotations: BTreeMap<String, String>,
}
