// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The index builder: turns the per-platform `(Platform, Descriptor)` results of a build into
//! one OCI image index or Docker manifest list, with canonical bytes (children ordered by
//! [`Platform::index_cmp`], JSON keys sorted) so the same children always give the same digest.
//!
//! Rules, checked as children are added:
//! * one child per platform (a duplicate is an error naming the platform);
//! * a child must be an image manifest (OCI or Docker). An OCI index may also hold a nested
//!   index, under its own platform like any other child (the duplicate rule applies to it
//!   too); a Docker manifest list may not;
//! * annotations (on the index or on a child) only in an OCI index: a Docker list cannot carry
//!   them and asking for them is an error, never a silent drop;
//! * a child descriptor that already names a platform must name the one it is added under.

use std::collections::BTreeMap;
use std::fmt;

use oci_spec::image::{Descriptor as SpecDescriptor, ImageIndexBuilder, MediaType};

use crate::oci::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, OCI_INDEX, OciError, is_index, is_manifest,
    parse_digest, sha256_digest, to_canonical_json,
};
use crate::platform::Platform;

/// The kind of index to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexFormat {
    /// `application/vnd.oci.image.index.v1+json`.
    Oci,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`.
    DockerList,
}

impl IndexFormat {
    /// The media type of an index in this format.
    pub fn media_type(self) -> &'static str {
        match self {
            IndexFormat::Oci => OCI_INDEX,
            IndexFormat::DockerList => DOCKER_MANIFEST_LIST,
        }
    }

    /// What `--oci-mode auto` picks for children of these media types, as `docker buildx
    /// imagetools create` does: a Docker manifest list only when there is at least one child
    /// and every child is a Docker schema 2 image manifest; an OCI index otherwise (any OCI
    /// child, any nested index, or no children at all).
    pub fn auto_for<'a>(children: impl IntoIterator<Item = &'a str>) -> IndexFormat {
        let mut any = false;
        for media_type in children {
            if media_type != DOCKER_MANIFEST {
                return IndexFormat::Oci;
            }
            any = true;
        }
        if any {
            IndexFormat::DockerList
        } else {
            IndexFormat::Oci
        }
    }
}

impl fmt::Display for IndexFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IndexFormat::Oci => "oci image index",
            IndexFormat::DockerList => "docker manifest list",
        })
    }
}

/// Why an index could not be built.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Two children for the same platform.
    #[error(
        "duplicate platform {platform}: {existing} is already in the index, refusing {refused}"
    )]
    DuplicatePlatform {
        /// The platform given twice.
        platform: Platform,
        /// Digest of the child already added.
        existing: String,
        /// Digest of the child refused.
        refused: String,
    },
    /// Annotations asked for on a format that cannot carry them.
    #[error("a {format} cannot carry annotations ({what}); use the oci index format")]
    AnnotationsUnsupported {
        /// The index format.
        format: IndexFormat,
        /// Which annotations: the index's or a child's.
        what: String,
    },
    /// A child whose media type is not allowed in this format.
    #[error(
        "child {digest} for {platform} has media type {media_type:?}, which a {format} cannot list"
    )]
    UnsupportedChild {
        /// The platform it was added under.
        platform: Platform,
        /// Its digest.
        digest: String,
        /// Its media type.
        media_type: String,
        /// The index format.
        format: IndexFormat,
    },
    /// A child descriptor naming a different platform than the one it is added under.
    #[error("child {digest} is for {declared} but was added for {platform}")]
    PlatformMismatch {
        /// The platform it was added under.
        platform: Platform,
        /// The platform its descriptor names (`os/arch[/variant]`).
        declared: String,
        /// Its digest.
        digest: String,
    },
    /// A child with an invalid digest.
    #[error("child for {platform}: {source}")]
    BadDigest {
        /// The platform it was added under.
        platform: Platform,
        /// The digest error (it names the digest).
        #[source]
        source: OciError,
    },
    /// `build` with no children.
    #[error("an empty {0} cannot be published: no platform was added")]
    Empty(IndexFormat),
    /// Serialisation failed.
    #[error(transparent)]
    Oci(#[from] OciError),
}

/// A built index: the exact bytes to push, and how to refer to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltIndex {
    /// Canonical JSON bytes.
    pub bytes: Vec<u8>,
    /// The index media type (OCI index or Docker list).
    pub media_type: String,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    /// `bytes.len()`.
    pub size: u64,
}

impl BuiltIndex {
    /// The descriptor of this index (no platform, no annotations).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.size)
    }
}

/// Collects children and annotations, then [`IndexBuilder::build`]s the index. Every check
/// happens in `add` and `annotations`, so a caller learns which child is at fault at once.
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    format: IndexFormat,
    children: Vec<Descriptor>,
    annotations: BTreeMap<String, String>,
}

impl IndexBuilder {
    /// An empty builder for `format`.
    pub fn new(format: IndexFormat) -> Self {
        IndexBuilder {
            format,
            children: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// The format being built.
    pub fn format(&self) -> IndexFormat {
        self.format
    }

    /// Adds the child `descriptor` for `platform` (the child's own `platform` field, when set,
    /// must be equal). See the module documentation for what is refused.
    pub fn add(
        &mut self,
        platform: Platform,
        mut descriptor: Descriptor,
    ) -> Result<&mut Self, IndexError> {
        if let Err(source) = parse_digest(&descriptor.digest) {
            return Err(IndexError::BadDigest { platform, source });
        }
        if !child_allowed(self.format, &descriptor.media_type) {
            return Err(IndexError::UnsupportedChild {
                platform,
                digest: descriptor.digest,
                media_type: descriptor.media_type,
                format: self.format,
            });
        }
        if let Some(declared) = &descriptor.platform
            && declared != &platform
        {
            return Err(IndexError::PlatformMismatch {
                declared: declared.to_string(),
                platform,
                digest: descriptor.digest,
            });
        }
        if self.format == IndexFormat::DockerList && !descriptor.annotations.is_empty() {
            return Err(IndexError::AnnotationsUnsupported {
                format: self.format,
                what: format!("annotations of the {platform} child {}", descriptor.digest),
            });
        }
        if let Some(existing) = self
            .children
            .iter()
            .find(|c| c.platform.as_ref() == Some(&platform))
        {
            return Err(IndexError::DuplicatePlatform {
                existing: existing.digest.clone(),
                refused: descriptor.digest,
                platform,
            });
        }
        descriptor.platform = Some(platform);
        self.children.push(descriptor);
        Ok(self)
    }

    /// Sets the index's annotations (replacing earlier ones). An empty map is always fine;
    /// a non-empty one on a Docker manifest list is an error naming the format.
    pub fn annotations(
        &mut self,
        annotations: BTreeMap<String, String>,
    ) -> Result<&mut Self, IndexError> {
        if self.format == IndexFormat::DockerList && !annotations.is_empty() {
            let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
            return Err(IndexError::AnnotationsUnsupported {
                format: self.format,
                what: format!("index annotations {}", keys.join(", ")),
            });
        }
        self.annotations = annotations;
        Ok(self)
    }

    /// The index bytes: `schemaVersion: 2`, the format's `mediaType`, children ordered by
    /// [`Platform::index_cmp`] whatever the order they were added in, each with its platform.
    pub fn build(&self) -> Result<BuiltIndex, IndexError> {
        if self.children.is_empty() {
            return Err(IndexError::Empty(self.format));
        }
        let mut children: Vec<&Descriptor> = self.children.iter().collect();
        children.sort_by(|a, b| match (&a.platform, &b.platform) {
            (Some(pa), Some(pb)) => pa.index_cmp(pb),
            _ => std::cmp::Ordering::Equal,
        });
        let manifests = children
            .into_iter()
            .map(SpecDescriptor::try_from)
            .collect::<Result<Vec<_>, OciError>>()?;
        let mut index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::from(self.format.media_type()))
            .manifests(manifests)
            .build()
            .map_err(|e| OciError::Build(e.to_string()))?;
        if !self.annotations.is_empty() {
            index.set_annotations(Some(
                self.annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ));
        }
        let bytes = to_canonical_json(&index)?;
        Ok(BuiltIndex {
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
            media_type: self.format.media_type().to_owned(),
            bytes,
        })
    }
}

/// True when `media_type` may be listed in an index of `format` (for callers that want to
/// check before building).
pub fn child_allowed(format: IndexFormat, media_type: &str) -> bool {
    match format {
        IndexFormat::Oci => is_manifest(media_type) || is_index(media_type),
        IndexFormat::DockerList => is_manifest(media_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{Manifest, OCI_LAYER_GZIP, OCI_MANIFEST};
    use proptest::prelude::*;
    use serde_json::Value;

    fn platform(s: &str) -> Platform {
        let mut parts = s.split('/');
        Platform {
            os: parts.next().unwrap().to_owned(),
            architecture: parts.next().unwrap().to_owned(),
            variant: parts.next().map(str::to_owned),
        }
    }

    fn child(media_type: &str, content: &str) -> Descriptor {
        Descriptor::for_bytes(media_type, content.as_bytes())
    }

    fn children(media_type: &str) -> Vec<(Platform, Descriptor)> {
        [
            "linux/arm64",
            "linux/amd64",
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/s390x",
        ]
        .into_iter()
        .map(|p| (platform(p), child(media_type, p)))
        .collect()
    }

    fn build(format: IndexFormat, kids: &[(Platform, Descriptor)]) -> BuiltIndex {
        let mut builder = IndexBuilder::new(format);
        for (p, d) in kids {
            builder.add(p.clone(), d.clone()).unwrap();
        }
        builder.build().unwrap()
    }

    #[test]
    fn insertion_order_does_not_change_the_bytes() {
        let kids = children(OCI_MANIFEST);
        let three = &kids[..3];
        let reference = build(IndexFormat::Oci, three);
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let shuffled: Vec<_> = order.iter().map(|&i| three[i].clone()).collect();
            assert_eq!(build(IndexFormat::Oci, &shuffled), reference, "{order:?}");
        }
    }

    #[test]
    fn children_are_ordered_and_carry_their_platform() {
        let built = build(IndexFormat::Oci, &children(OCI_MANIFEST));
        let parsed = Manifest::parse(&built.bytes, Some(&built.media_type)).unwrap();
        let listed: Vec<String> = parsed
            .descriptors()
            .unwrap()
            .iter()
            .map(|d| d.platform.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(
            listed,
            [
                "linux/amd64",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm64",
                "linux/s390x"
            ]
        );
        let v: Value = serde_json::from_slice(&built.bytes).unwrap();
        assert_eq!(v["manifests"][1]["platform"]["variant"], "v7");
        assert_eq!(v["manifests"][1]["platform"]["os"], "linux");
        assert_eq!(v["manifests"][1]["platform"]["architecture"], "arm");
        assert!(v["manifests"][0]["platform"].get("variant").is_none());
    }

    #[test]
    fn media_types_schema_version_and_digest() {
        fn check(format: IndexFormat, child_type: &str, expected: &str) {
            let built = build(format, &children(child_type));
            let v: Value = serde_json::from_slice(&built.bytes).unwrap();
            assert_eq!(v["schemaVersion"], 2);
            assert_eq!(v["mediaType"], expected);
            assert_eq!(v["manifests"][0]["mediaType"], child_type);
            assert_eq!(built.media_type, expected);
            assert_eq!(built.digest, sha256_digest(&built.bytes));
            assert_eq!(built.size, built.bytes.len() as u64);
            assert_eq!(built.descriptor().digest, built.digest);
        }
        check(IndexFormat::Oci, OCI_MANIFEST, OCI_INDEX);
        check(IndexFormat::Oci, DOCKER_MANIFEST, OCI_INDEX);
        check(
            IndexFormat::DockerList,
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
        );
    }

    #[test]
    fn duplicate_platform_is_refused_naming_it() {
        let mut builder = IndexBuilder::new(IndexFormat::Oci);
        builder
            .add(platform("linux/arm/v7"), child(OCI_MANIFEST, "a"))
            .unwrap();
        builder
            .add(platform("linux/arm/v6"), child(OCI_MANIFEST, "b"))
            .unwrap();
        let err = builder
            .add(platform("linux/arm/v7"), child(OCI_MANIFEST, "c"))
            .unwrap_err();
        assert!(matches!(err, IndexError::DuplicatePlatform { .. }));
        assert!(
            err.to_string().contains("duplicate platform linux/arm/v7"),
            "{err}"
        );
        // The refused child left the builder as it was.
        assert_eq!(builder.build().unwrap().bytes, {
            let mut b = IndexBuilder::new(IndexFormat::Oci);
            b.add(platform("linux/arm/v6"), child(OCI_MANIFEST, "b"))
                .unwrap();
            b.add(platform("linux/arm/v7"), child(OCI_MANIFEST, "a"))
                .unwrap();
            b.build().unwrap().bytes
        });
    }

    #[test]
    fn annotations_only_on_oci() {
        let ann: BTreeMap<String, String> = [(
            "org.opencontainers.image.source".to_owned(),
            "https://x".to_owned(),
        )]
        .into();

        let mut docker = IndexBuilder::new(IndexFormat::DockerList);
        let err = docker.annotations(ann.clone()).unwrap_err();
        assert!(err.to_string().contains("docker manifest list"), "{err}");
        assert!(
            err.to_string().contains("org.opencontainers.image.source"),
            "{err}"
        );
        assert!(docker.annotations(BTreeMap::new()).is_ok());
        let mut annotated_child = child(DOCKER_MANIFEST, "a");
        annotated_child.annotations = ann.clone();
        let err = docker
            .add(platform("linux/amd64"), annotated_child)
            .unwrap_err();
        assert!(err.to_string().contains("docker manifest list"), "{err}");

        let mut oci = IndexBuilder::new(IndexFormat::Oci);
        oci.add(platform("linux/amd64"), child(OCI_MANIFEST, "a"))
            .unwrap();
        oci.annotations(ann).unwrap();
        let v: Value = serde_json::from_slice(&oci.build().unwrap().bytes).unwrap();
        assert_eq!(
            v["annotations"]["org.opencontainers.image.source"],
            "https://x"
        );
    }

    #[test]
    fn child_media_types_per_format() {
        // (format, child media type, accepted)
        fn check(format: IndexFormat, media_type: &str, accepted: bool) {
            let mut builder = IndexBuilder::new(format);
            let result = builder.add(platform("linux/amd64"), child(media_type, "x"));
            assert_eq!(result.is_ok(), accepted, "{format} with {media_type}");
            assert_eq!(child_allowed(format, media_type), accepted);
            if let Err(err) = result {
                assert!(err.to_string().contains(media_type), "{err}");
            }
        }
        check(IndexFormat::Oci, OCI_MANIFEST, true);
        check(IndexFormat::Oci, DOCKER_MANIFEST, true);
        check(IndexFormat::Oci, OCI_INDEX, true);
        check(IndexFormat::Oci, DOCKER_MANIFEST_LIST, true);
        check(IndexFormat::Oci, OCI_LAYER_GZIP, false);
        check(IndexFormat::DockerList, DOCKER_MANIFEST, true);
        check(IndexFormat::DockerList, OCI_MANIFEST, true);
        check(IndexFormat::DockerList, DOCKER_MANIFEST_LIST, false);
        check(IndexFormat::DockerList, OCI_INDEX, false);
        check(IndexFormat::DockerList, "", false);
    }

    #[test]
    fn bad_children_are_refused() {
        let mut builder = IndexBuilder::new(IndexFormat::Oci);
        let bad = Descriptor::new(OCI_MANIFEST, "sha256:xyz", 10);
        let err = builder.add(platform("linux/amd64"), bad).unwrap_err();
        assert!(err.to_string().contains("sha256:xyz"), "{err}");
        assert!(err.to_string().contains("linux/amd64"), "{err}");

        let mut mislabelled = child(OCI_MANIFEST, "a");
        mislabelled.platform = Some(platform("linux/arm64"));
        let err = builder
            .add(platform("linux/amd64"), mislabelled.clone())
            .unwrap_err();
        assert!(err.to_string().contains("is for linux/arm64"), "{err}");
        assert!(builder.add(platform("linux/arm64"), mislabelled).is_ok());
    }

    #[test]
    fn empty_index_is_an_error() {
        fn check(format: IndexFormat, needle: &str) {
            let err = IndexBuilder::new(format).build().unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
        check(IndexFormat::Oci, "empty oci image index");
        check(IndexFormat::DockerList, "empty docker manifest list");
    }

    #[test]
    fn auto_format_rule() {
        fn check(children: &[&str], expected: IndexFormat) {
            assert_eq!(
                IndexFormat::auto_for(children.iter().copied()),
                expected,
                "{children:?}"
            );
        }
        check(&[DOCKER_MANIFEST], IndexFormat::DockerList);
        check(&[DOCKER_MANIFEST, DOCKER_MANIFEST], IndexFormat::DockerList);
        check(&[DOCKER_MANIFEST, OCI_MANIFEST], IndexFormat::Oci);
        check(&[OCI_MANIFEST, DOCKER_MANIFEST], IndexFormat::Oci);
        check(&[OCI_MANIFEST], IndexFormat::Oci);
        check(&[DOCKER_MANIFEST, DOCKER_MANIFEST_LIST], IndexFormat::Oci);
        check(&[OCI_INDEX], IndexFormat::Oci);
        check(&[], IndexFormat::Oci);
    }

    proptest! {
        #[test]
        fn any_insertion_order_gives_the_same_digest(
            order in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle()
        ) {
            let kids = children(DOCKER_MANIFEST);
            let shuffled: Vec<_> = order.iter().map(|&i| kids[i].clone()).collect();
            let built = build(IndexFormat::DockerList, &shuffled);
            prop_assert_eq!(built.digest, build(IndexFormat::DockerList, &kids).digest);
        }
    }
}
