// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! OCI and Docker media types, the descriptor every part of kaniko-rs passes around, and the
//! choices that depend on the output format: compression, OCI or Docker media types. Digests
//! live in [`digest`], canonical JSON and the manifest, config and index objects in
//! [`manifest`]; both are re-exported here so callers write `oci::sha256_digest`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::platform::Platform;

mod context_artifact;
mod digest;
mod manifest;

pub use context_artifact::{CONTEXT_ARTIFACT_TYPE, context_layer, context_manifest};
pub use digest::{
    COPY_BUFFER_SIZE, CopyError, DigestAlgorithm, DigestHasher, copy_chunks, hash_copy,
    parse_digest, sha256_digest, sha256_digest_of_reader,
};
pub use manifest::{
    ArtifactDescriptor, EMPTY_JSON, Manifest, artifact_manifest_bytes, config_bytes, empty_config,
    manifest_bytes, referrers_index_bytes, to_canonical_json,
};

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI empty descriptor's media type (`{}`, the config of an artifact without one).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
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
/// Docker uncompressed layer.
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// The annotation naming a manifest inside an OCI image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

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

impl Descriptor {
    /// A descriptor without platform and annotations.
    pub fn new(media_type: impl Into<String>, digest: impl Into<String>, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest: digest.into(),
            size,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The descriptor of `bytes` under `media_type` (digest and size computed here).
    pub fn for_bytes(media_type: impl Into<String>, bytes: &[u8]) -> Self {
        Descriptor::new(media_type, sha256_digest(bytes), bytes.len() as u64)
    }
}

/// What can go wrong with OCI objects: digests, media types, JSON documents.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A digest that is not `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
    #[error("invalid digest {digest:?}: {reason}")]
    BadDigest {
        /// The digest as given.
        digest: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A compression name other than `gzip`, `zstd` or `uncompressed`.
    #[error("unknown compression {0:?} (expected gzip or zstd)")]
    UnknownCompression(String),
    /// A mode name other than `oci` or `docker`.
    #[error("unknown oci mode {0:?} (expected oci or docker)")]
    UnknownMode(String),
    /// A media type that is not what the caller needed (e.g. not a manifest or index).
    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType {
        /// The media type found.
        media_type: String,
        /// What was being read or written.
        what: &'static str,
    },
    /// The media type given with a document differs from the one inside it.
    #[error("media type mismatch: given {given:?} but the document says {inside:?}")]
    MediaTypeMismatch {
        /// The media type given (e.g. by the registry's `Content-Type`).
        given: String,
        /// The `mediaType` field of the document.
        inside: String,
    },
    /// A manifest or index whose `schemaVersion` is not 2 (Docker schema 1 included).
    #[error("unsupported schemaVersion {0} (only 2 is supported)")]
    SchemaVersion(u64),
    /// Annotations asked for in a format that cannot carry them.
    #[error("{format} cannot carry annotations ({what})")]
    AnnotationsUnsupported {
        /// The format, e.g. a Docker image manifest.
        format: &'static str,
        /// Where the annotations were.
        what: String,
    },
    /// `oci-spec` refused to build an object (a required field missing).
    #[error("cannot build oci object: {0}")]
    Build(String),
    /// A JSON document that could not be read or written.
    #[error("invalid {what} json: {source}")]
    Json {
        /// What the document was.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// Layer compression. `--compression` takes `gzip` or `zstd`; `uncompressed` names the plain
/// tar media types (base image layers may use them) and is accepted by `FromStr` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (the default, what every registry and runtime reads).
    #[default]
    Gzip,
    /// zstd.
    Zstd,
    /// No compression: a plain tar.
    Uncompressed,
}

impl Compression {
    /// The explicit levels this compression accepts: gzip 0..=9, zstd 1..=22, none for a plain
    /// tar (0 only).
    pub fn levels(self) -> std::ops::RangeInclusive<i32> {
        match self {
            Compression::Gzip => 0..=9,
            Compression::Zstd => 1..=22,
            Compression::Uncompressed => 0..=0,
        }
    }

    /// The compression a layer media type implies (OCI or Docker spelling), `None` for a media
    /// type that is not a layer.
    pub fn from_layer_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => Some(Compression::Gzip),
            OCI_LAYER_ZSTD | DOCKER_LAYER_ZSTD => Some(Compression::Zstd),
            OCI_LAYER_TAR | DOCKER_LAYER_TAR => Some(Compression::Uncompressed),
            _ => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Uncompressed => "uncompressed",
        })
    }
}

impl FromStr for Compression {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "uncompressed" => Ok(Compression::Uncompressed),
            other => Err(OciError::UnknownCompression(other.to_owned())),
        }
    }
}

/// Which family of media types an image is written with. The `auto` of an index is decided by
/// [`crate::index::IndexFormat::auto_for`], not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OciMode {
    /// OCI media types (the default).
    #[default]
    Oci,
    /// Docker schema 2 media types, for registries and tools that predate OCI.
    Docker,
}

impl OciMode {
    /// The image manifest media type of this mode.
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            OciMode::Oci => OCI_MANIFEST,
            OciMode::Docker => DOCKER_MANIFEST,
        }
    }

    /// The image config media type of this mode.
    pub fn config_media_type(self) -> &'static str {
        match self {
            OciMode::Oci => OCI_CONFIG,
            OciMode::Docker => DOCKER_CONFIG,
        }
    }

    /// The index media type of this mode (OCI image index or Docker manifest list).
    pub fn index_media_type(self) -> &'static str {
        match self {
            OciMode::Oci => OCI_INDEX,
            OciMode::Docker => DOCKER_MANIFEST_LIST,
        }
    }

    /// The layer media type for this mode and `compression`.
    ///
    /// Docker mode with zstd gives `application/vnd.docker.image.rootfs.diff.tar.zstd`: the
    /// name BuildKit writes (`images.MediaTypeDockerSchema2Layer + ".zstd"`). It is not part of
    /// any Docker specification; containerd 1.7+, BuildKit and Docker read it, older pullers
    /// may not. Prefer OCI mode for zstd.
    pub fn layer_media_type(self, compression: Compression) -> &'static str {
        match (self, compression) {
            (OciMode::Oci, Compression::Gzip) => OCI_LAYER_GZIP,
            (OciMode::Oci, Compression::Zstd) => OCI_LAYER_ZSTD,
            (OciMode::Oci, Compression::Uncompressed) => OCI_LAYER_TAR,
            (OciMode::Docker, Compression::Gzip) => DOCKER_LAYER_GZIP,
            (OciMode::Docker, Compression::Zstd) => DOCKER_LAYER_ZSTD,
            (OciMode::Docker, Compression::Uncompressed) => DOCKER_LAYER_TAR,
        }
    }
}

impl fmt::Display for OciMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OciMode::Oci => "oci",
            OciMode::Docker => "docker",
        })
    }
}

impl FromStr for OciMode {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "oci" => Ok(OciMode::Oci),
            "docker" => Ok(OciMode::Docker),
            other => Err(OciError::UnknownMode(other.to_owned())),
        }
    }
}

/// True for an OCI image index or a Docker manifest list.
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// True for an OCI image manifest or a Docker schema 2 manifest.
pub fn is_manifest(media_type: &str) -> bool {
    matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST)
}

/// True for the Docker media types (`application/vnd.docker.…`).
pub fn is_docker(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.docker.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_round_trip() {
        fn check(input: &str, expected: Option<Compression>) {
            let parsed = input.parse::<Compression>().ok();
            assert_eq!(parsed, expected, "{input}");
            if let Some(c) = parsed {
                assert_eq!(c.to_string(), input);
            }
        }
        check("gzip", Some(Compression::Gzip));
        check("zstd", Some(Compression::Zstd));
        check("uncompressed", Some(Compression::Uncompressed));
        check("GZIP", None);
        check("xz", None);
        check("", None);
    }

    #[test]
    fn mode_names_round_trip() {
        fn check(input: &str, expected: Option<OciMode>) {
            let parsed = input.parse::<OciMode>().ok();
            assert_eq!(parsed, expected, "{input}");
            if let Some(m) = parsed {
                assert_eq!(m.to_string(), input);
            }
        }
        check("oci", Some(OciMode::Oci));
        check("docker", Some(OciMode::Docker));
        check("auto", None);
    }

    #[test]
    fn layer_media_types_per_mode() {
        fn check(mode: OciMode, compression: Compression, expected: &str) {
            assert_eq!(mode.layer_media_type(compression), expected);
            assert_eq!(
                Compression::from_layer_media_type(expected),
                Some(compression)
            );
        }
        check(OciMode::Oci, Compression::Gzip, OCI_LAYER_GZIP);
        check(OciMode::Oci, Compression::Zstd, OCI_LAYER_ZSTD);
        check(OciMode::Oci, Compression::Uncompressed, OCI_LAYER_TAR);
        check(OciMode::Docker, Compression::Gzip, DOCKER_LAYER_GZIP);
        check(OciMode::Docker, Compression::Zstd, DOCKER_LAYER_ZSTD);
        check(OciMode::Docker, Compression::Uncompressed, DOCKER_LAYER_TAR);
        assert_eq!(Compression::from_layer_media_type(OCI_CONFIG), None);
    }

    #[test]
    fn manifest_and_config_media_types_per_mode() {
        assert_eq!(OciMode::Oci.manifest_media_type(), OCI_MANIFEST);
        assert_eq!(OciMode::Docker.manifest_media_type(), DOCKER_MANIFEST);
        assert_eq!(OciMode::Oci.config_media_type(), OCI_CONFIG);
        assert_eq!(OciMode::Docker.config_media_type(), DOCKER_CONFIG);
        assert_eq!(OciMode::Oci.index_media_type(), OCI_INDEX);
        assert_eq!(OciMode::Docker.index_media_type(), DOCKER_MANIFEST_LIST);
    }

    #[test]
    fn media_type_classes() {
        fn check(media_type: &str, index: bool, manifest: bool, docker: bool) {
            assert_eq!(is_index(media_type), index, "is_index {media_type}");
            assert_eq!(
                is_manifest(media_type),
                manifest,
                "is_manifest {media_type}"
            );
            assert_eq!(is_docker(media_type), docker, "is_docker {media_type}");
        }
        check(OCI_INDEX, true, false, false);
        check(DOCKER_MANIFEST_LIST, true, false, true);
        check(OCI_MANIFEST, false, true, false);
        check(DOCKER_MANIFEST, false, true, true);
        check(OCI_LAYER_GZIP, false, false, false);
        check(DOCKER_CONFIG, false, false, true);
        check("", false, false, false);
    }
}
