// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Manifests, configs and indexes on `oci-spec` types: canonical JSON bytes (sorted keys, no
//! whitespace, so the same input always gives the same digest), conversions between our
//! [`Descriptor`] and `oci_spec::image::Descriptor`, [`Manifest`], a parsed manifest or
//! index from raw bytes in either OCI or Docker spelling (OCI 1.1's `subject`, `artifactType`
//! and a descriptor's `data` kept through parsing and canonical JSON), and the OCI 1.1
//! artifact vocabulary: an artifact manifest with a `subject` ([`artifact_manifest_bytes`])
//! and the referrers index ([`referrers_index_bytes`], [`ArtifactDescriptor`]).

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Arch, Descriptor as SpecDescriptor, Digest as SpecDigest, ImageConfiguration, ImageIndex,
    ImageIndexBuilder, ImageManifest, ImageManifestBuilder, MediaType, Os,
    Platform as SpecPlatform,
};
use serde::Serialize;
use serde_json::Value;

use super::{
    Descriptor, OCI_INDEX, OCI_MANIFEST, OciError, OciMode, is_index, is_manifest, parse_digest,
};
use crate::platform::Platform;

/// Serialises `value` as canonical JSON: object keys sorted at every level, no whitespace.
/// `oci-spec` keeps annotations and labels in `HashMap`s; going through this function is what
/// makes their order, and so the digest, deterministic.
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, OciError> {
    let json = |source| OciError::Json {
        what: "document",
        source,
    };
    let value = serde_json::to_value(value).map_err(json)?;
    let mut out = Vec::with_capacity(512);
    write_canonical(&value, &mut out).map_err(json)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

/// The canonical bytes of an image manifest. OCI mode writes the OCI media type and
/// `annotations` when there are any; Docker mode writes `schemaVersion: 2` with the Docker
/// manifest media type and refuses annotations (on the manifest or on any descriptor) rather
/// than dropping them. The descriptors' media types are written as given: pick them with
/// [`OciMode::config_media_type`] and [`OciMode::layer_media_type`].
pub fn manifest_bytes(
    mode: OciMode,
    config: &Descriptor,
    layers: &[Descriptor],
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, OciError> {
    if mode == OciMode::Docker {
        let refuse = |what: String| OciError::AnnotationsUnsupported {
            format: "a docker image manifest",
            what,
        };
        if !annotations.is_empty() {
            return Err(refuse("manifest annotations".to_owned()));
        }
        if let Some(d) = std::iter::once(config)
            .chain(layers)
            .find(|d| !d.annotations.is_empty())
        {
            return Err(refuse(format!("annotations of {}", d.digest)));
        }
    }
    let mut manifest = image_manifest(mode.manifest_media_type(), config, layers)?;
    manifest.set_annotations(hash_map(annotations));
    to_canonical_json(&manifest)
}

/// An image manifest of `media_type` with `config` and `layers` (digests validated).
fn image_manifest(
    media_type: &str,
    config: &Descriptor,
    layers: &[Descriptor],
) -> Result<ImageManifest, OciError> {
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(media_type))
        .config(SpecDescriptor::try_from(config)?)
        .layers(
            layers
                .iter()
                .map(SpecDescriptor::try_from)
                .collect::<Result<Vec<_>, _>>()?,
        )
        .build()
        .map_err(|e| OciError::Build(e.to_string()))
}

/// The canonical bytes of an OCI 1.1 artifact manifest: an OCI image manifest with
/// `artifactType`, the given config (the empty descriptor, [`empty_config`], for artifacts
/// without one) and layers, `subject` when the artifact refers to another manifest (a
/// signature, an SBOM), and `annotations` when there are any.
pub fn artifact_manifest_bytes(
    artifact_type: &str,
    config: &Descriptor,
    layers: &[Descriptor],
    subject: Option<&Descriptor>,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, OciError> {
    let mut manifest = image_manifest(OCI_MANIFEST, config, layers)?;
    manifest.set_artifact_type(Some(MediaType::from(artifact_type)));
    if let Some(subject) = subject {
        manifest.set_subject(Some(SpecDescriptor::try_from(subject)?));
    }
    manifest.set_annotations(hash_map(annotations));
    to_canonical_json(&manifest)
}

/// The OCI empty descriptor's content (`{}`) and media type, the config of an artifact that
/// has none.
pub const EMPTY_JSON: &[u8] = b"{}";

/// The descriptor of [`EMPTY_JSON`] as `application/vnd.oci.empty.v1+json`.
pub fn empty_config() -> Descriptor {
    Descriptor::for_bytes(super::OCI_EMPTY, EMPTY_JSON)
}

/// A descriptor in a referrers list: the manifest's descriptor and its `artifactType`
/// (the manifest's `artifactType`, else its config's media type, as the distribution spec
/// says). Annotations are the manifest's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactDescriptor {
    /// The referring manifest.
    pub descriptor: Descriptor,
    /// What kind of artifact it is.
    pub artifact_type: Option<String>,
}

impl ArtifactDescriptor {
    /// The entry a referrers list gets for `bytes`, a manifest pushed with `media_type`.
    pub fn for_manifest(bytes: &[u8], media_type: &str) -> Result<Self, OciError> {
        let parsed = Manifest::parse(bytes, Some(media_type))?;
        let mut descriptor = Descriptor::for_bytes(parsed.media_type(), bytes);
        descriptor.annotations = parsed.annotations();
        Ok(ArtifactDescriptor {
            descriptor,
            artifact_type: parsed.artifact_type(),
        })
    }
}

/// The canonical bytes of a referrers index (the answer of `GET /v2/<name>/referrers/<digest>`
/// and the OCI 1.1 fallback tag `sha256-<hex>`): an OCI index listing `entries` in the order
/// given, each with its `artifactType` and annotations.
pub fn referrers_index_bytes(entries: &[ArtifactDescriptor]) -> Result<Vec<u8>, OciError> {
    let manifests = entries
        .iter()
        .map(|entry| {
            let mut spec = SpecDescriptor::try_from(&entry.descriptor)?;
            spec.set_artifact_type(entry.artifact_type.as_deref().map(MediaType::from));
            Ok(spec)
        })
        .collect::<Result<Vec<_>, OciError>>()?;
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(OCI_INDEX))
        .manifests(manifests)
        .build()
        .map_err(|e| OciError::Build(e.to_string()))?;
    to_canonical_json(&index)
}

/// The canonical bytes of an image configuration (OCI and Docker configs share the shape).
pub fn config_bytes(config: &ImageConfiguration) -> Result<Vec<u8>, OciError> {
    to_canonical_json(config)
}

fn hash_map(map: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

impl TryFrom<&Descriptor> for SpecDescriptor {
    type Error = OciError;

    /// Validates the digest (sha256 or sha512) and copies every field.
    fn try_from(d: &Descriptor) -> Result<Self, OciError> {
        parse_digest(&d.digest)?;
        let digest = SpecDigest::try_from(d.digest.as_str()).map_err(|_| OciError::BadDigest {
            digest: d.digest.clone(),
            reason: "rejected by oci-spec",
        })?;
        let mut out = SpecDescriptor::new(MediaType::from(d.media_type.as_str()), d.size, digest);
        if let Some(p) = &d.platform {
            let mut sp = SpecPlatform::default();
            sp.set_os(Os::from(p.os.as_str()));
            sp.set_architecture(Arch::from(p.architecture.as_str()));
            sp.set_variant(p.variant.clone());
            out.set_platform(Some(sp));
        }
        out.set_annotations(hash_map(&d.annotations));
        Ok(out)
    }
}

impl TryFrom<&SpecDescriptor> for Descriptor {
    type Error = OciError;

    /// Validates the digest (sha256 or sha512 only). The platform's fields are copied as
    /// written (no normalisation); `urls`, `artifactType` and `data` are not carried.
    fn try_from(d: &SpecDescriptor) -> Result<Self, OciError> {
        let digest = d.digest().to_string();
        parse_digest(&digest)?;
        Ok(Descriptor {
            media_type: d.media_type().to_string(),
            digest,
            size: d.size(),
            platform: d.platform().as_ref().map(|p| Platform {
                os: p.os().to_string(),
                architecture: p.architecture().to_string(),
                variant: p.variant().clone().filter(|v| !v.is_empty()),
            }),
            annotations: d
                .annotations()
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }
}

/// A parsed manifest: an image manifest or an index, OCI or Docker spelling. The parsed
/// object's `mediaType` is always set (from the document, the given media type, or the shape).
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// An OCI image manifest or Docker schema 2 manifest.
    Image(Box<ImageManifest>),
    /// An OCI image index or Docker manifest list.
    Index(Box<ImageIndex>),
}

impl Manifest {
    /// Parses `bytes`. `media_type` is what came with them (a registry's `Content-Type`,
    /// parameters allowed; `None` or empty when unknown). Without it, the document's
    /// `mediaType` decides, and without that the shape (`manifests` → index, `config` →
    /// manifest). A given media type that disagrees with the document's is an error, as are
    /// schema 1 manifests and media types that are neither manifest nor index.
    pub fn parse(bytes: &[u8], media_type: Option<&str>) -> Result<Manifest, OciError> {
        let json = |source| OciError::Json {
            what: "manifest",
            source,
        };
        let value: Value = serde_json::from_slice(bytes).map_err(json)?;
        let schema = value
            .get("schemaVersion")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if schema != 2 {
            return Err(OciError::SchemaVersion(schema));
        }
        let given = media_type
            .and_then(|m| m.split(';').next())
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let inside = value.get("mediaType").and_then(Value::as_str);
        if let (Some(given), Some(inside)) = (given, inside)
            && given != inside
        {
            return Err(OciError::MediaTypeMismatch {
                given: given.to_owned(),
                inside: inside.to_owned(),
            });
        }
        let effective = match given.or(inside) {
            Some(m) => m.to_owned(),
            None if value.get("manifests").is_some() => OCI_INDEX.to_owned(),
            None if value.get("config").is_some() => OCI_MANIFEST.to_owned(),
            None => {
                return Err(OciError::UnsupportedMediaType {
                    media_type: String::new(),
                    what: "a manifest without mediaType, config or manifests",
                });
            }
        };
        if is_index(&effective) {
            let mut index: ImageIndex = serde_json::from_value(value).map_err(json)?;
            index.set_media_type(Some(MediaType::from(effective.as_str())));
            Ok(Manifest::Index(Box::new(index)))
        } else if is_manifest(&effective) {
            let mut manifest: ImageManifest = serde_json::from_value(value).map_err(json)?;
            manifest.set_media_type(Some(MediaType::from(effective.as_str())));
            Ok(Manifest::Image(Box::new(manifest)))
        } else {
            Err(OciError::UnsupportedMediaType {
                media_type: effective,
                what: "a manifest",
            })
        }
    }

    /// The media type of the parsed document.
    pub fn media_type(&self) -> String {
        let (media_type, default) = match self {
            Manifest::Image(m) => (m.media_type(), OCI_MANIFEST),
            Manifest::Index(i) => (i.media_type(), OCI_INDEX),
        };
        media_type
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_else(|| default.to_owned())
    }

    /// True for a Docker schema 2 manifest or manifest list.
    pub fn is_docker(&self) -> bool {
        super::is_docker(&self.media_type())
    }

    /// The document's `subject` (OCI 1.1): the manifest it refers to.
    pub fn subject(&self) -> Result<Option<Descriptor>, OciError> {
        let subject = match self {
            Manifest::Image(m) => m.subject().as_ref(),
            Manifest::Index(i) => i.subject().as_ref(),
        };
        subject.map(Descriptor::try_from).transpose()
    }

    /// The document's `artifactType`, else (an image manifest) its config's media type when
    /// that is not an image config: what a referrers list says the artifact is.
    pub fn artifact_type(&self) -> Option<String> {
        match self {
            Manifest::Image(m) => m
                .artifact_type()
                .as_ref()
                .map(|t| t.to_string())
                .or_else(|| {
                    let config = m.config().media_type().to_string();
                    (config != super::OCI_CONFIG && config != super::DOCKER_CONFIG)
                        .then_some(config)
                }),
            Manifest::Index(i) => i.artifact_type().as_ref().map(|t| t.to_string()),
        }
    }

    /// The document's own annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let annotations = match self {
            Manifest::Image(m) => m.annotations(),
            Manifest::Index(i) => i.annotations(),
        };
        annotations
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The children of an index with their `artifactType` (a referrers list); nothing for an
    /// image manifest.
    pub fn artifact_descriptors(&self) -> Result<Vec<ArtifactDescriptor>, OciError> {
        match self {
            Manifest::Image(_) => Ok(Vec::new()),
            Manifest::Index(i) => i
                .manifests()
                .iter()
                .map(|d| {
                    Ok(ArtifactDescriptor {
                        descriptor: Descriptor::try_from(d)?,
                        artifact_type: d.artifact_type().as_ref().map(|t| t.to_string()),
                    })
                })
                .collect(),
        }
    }

    /// The canonical JSON of the parsed document: every field it had, `subject`,
    /// `artifactType` and descriptors' `data` included.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, OciError> {
        match self {
            Manifest::Image(m) => to_canonical_json(m),
            Manifest::Index(i) => to_canonical_json(i),
        }
    }

    /// The descriptors the document points at: the children of an index, or the config
    /// followed by the layers of an image manifest. Fails on a child with a bad digest.
    pub fn descriptors(&self) -> Result<Vec<Descriptor>, OciError> {
        match self {
            Manifest::Index(i) => i.manifests().iter().map(Descriptor::try_from).collect(),
            Manifest::Image(m) => std::iter::once(m.config())
                .chain(m.layers())
                .map(Descriptor::try_from)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{
        DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG,
        OCI_LAYER_GZIP, sha256_digest,
    };

    fn desc(media_type: &str, content: &[u8]) -> Descriptor {
        Descriptor::for_bytes(media_type, content)
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        fn check(input: Value, expected: &str) {
            assert_eq!(
                String::from_utf8(to_canonical_json(&input).unwrap()).unwrap(),
                expected
            );
        }
        check(
            serde_json::json!({"b": 1, "a": {"d": [3, {"z": 1, "y": 2}], "c": "x"}}),
            r#"{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}"#,
        );
        check(serde_json::json!({"k\"ey": "v\n"}), r#"{"k\"ey":"v\n"}"#);
        check(serde_json::json!([]), "[]");
    }

    #[test]
    fn oci_manifest_bytes_are_deterministic_and_complete() {
        let config = desc(OCI_CONFIG, b"{}");
        let layers = [desc(OCI_LAYER_GZIP, b"a"), desc(OCI_LAYER_GZIP, b"b")];
        let many: BTreeMap<String, String> = (0..20)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        let first = manifest_bytes(OciMode::Oci, &config, &layers, &many).unwrap();
        for _ in 0..5 {
            assert_eq!(
                manifest_bytes(OciMode::Oci, &config, &layers, &many).unwrap(),
                first
            );
        }
        let v: Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], OCI_MANIFEST);
        assert_eq!(v["config"]["digest"], sha256_digest(b"{}"));
        assert_eq!(v["layers"][1]["digest"], sha256_digest(b"b"));
        assert_eq!(v["annotations"]["k7"], "v7");
        let none = manifest_bytes(OciMode::Oci, &config, &layers, &BTreeMap::new()).unwrap();
        let v: Value = serde_json::from_slice(&none).unwrap();
        assert!(v.get("annotations").is_none());
    }

    #[test]
    fn docker_manifest_has_docker_types_and_no_annotations() {
        let config = desc(DOCKER_CONFIG, b"{}");
        let layers = [desc(DOCKER_LAYER_GZIP, b"a")];
        let bytes = manifest_bytes(OciMode::Docker, &config, &layers, &BTreeMap::new()).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], DOCKER_MANIFEST);
        assert_eq!(v["config"]["mediaType"], DOCKER_CONFIG);
        assert!(v.get("annotations").is_none());

        let err = manifest_bytes(
            OciMode::Docker,
            &config,
            &layers,
            &annotations(&[("a", "b")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("docker image manifest"), "{err}");
        let mut annotated = layers[0].clone();
        annotated.annotations = annotations(&[("a", "b")]);
        let err = manifest_bytes(
            OciMode::Docker,
            &config,
            &[annotated.clone()],
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(&annotated.digest), "{err}");
    }

    #[test]
    fn config_bytes_are_deterministic_with_many_labels() {
        use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};
        let make = || {
            let labels: HashMap<String, String> = (0..30)
                .map(|i| (format!("label{i}"), format!("{i}")))
                .collect();
            let config = ConfigBuilder::default()
                .labels(labels)
                .exposed_ports(vec!["80/tcp".to_owned(), "443/tcp".to_owned()])
                .build()
                .unwrap();
            ImageConfigurationBuilder::default()
                .architecture(Arch::Amd64)
                .os(Os::Linux)
                .config(config)
                .build()
                .unwrap()
        };
        let first = config_bytes(&make()).unwrap();
        for _ in 0..5 {
            assert_eq!(config_bytes(&make()).unwrap(), first);
        }
        let v: Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(v["config"]["Labels"]["label29"], "29");
        assert_eq!(
            v["config"]["ExposedPorts"]["443/tcp"],
            serde_json::json!({})
        );
        assert_eq!(v["rootfs"]["type"], "layers");
    }

    #[test]
    fn manifest_with_bad_layer_digest_is_refused() {
        let config = desc(OCI_CONFIG, b"{}");
        let bad = Descriptor::new(OCI_LAYER_GZIP, "sha256:1234", 1);
        let err = manifest_bytes(OciMode::Oci, &config, &[bad], &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("sha256:1234"), "{err}");
    }

    #[test]
    fn descriptor_conversions_round_trip() {
        fn check(d: Descriptor) {
            let spec = SpecDescriptor::try_from(&d).unwrap();
            assert_eq!(Descriptor::try_from(&spec).unwrap(), d);
        }
        check(desc(OCI_MANIFEST, b"x"));
        let mut with_all = desc(DOCKER_MANIFEST, b"y");
        with_all.platform = Some(Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        });
        with_all.annotations = annotations(&[("org.opencontainers.image.ref.name", "latest")]);
        check(with_all);
        let mut odd = desc(OCI_MANIFEST, b"z");
        odd.platform = Some(Platform {
            os: "plan10".into(),
            architecture: "quantum".into(),
            variant: None,
        });
        check(odd);
    }

    #[test]
    fn descriptor_conversion_rejects_bad_digests() {
        fn check(digest: &str) {
            let d = Descriptor::new(OCI_MANIFEST, digest, 1);
            assert!(SpecDescriptor::try_from(&d).is_err(), "{digest}");
        }
        check("sha256:abc");
        check("md5:d41d8cd98f00b204e9800998ecf8427e");
        check("");
        let spec: SpecDescriptor = serde_json::from_str(
            r#"{"mediaType":"x","size":1,"digest":"sha384:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
        )
        .unwrap();
        assert!(Descriptor::try_from(&spec).is_err());
    }

    #[test]
    fn parse_picks_image_or_index() {
        let config = desc(OCI_CONFIG, b"{}");
        let oci = manifest_bytes(OciMode::Oci, &config, &[], &BTreeMap::new()).unwrap();
        let docker_config = desc(DOCKER_CONFIG, b"{}");
        let docker =
            manifest_bytes(OciMode::Docker, &docker_config, &[], &BTreeMap::new()).unwrap();
        let bare_manifest = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let bare_index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
        let schema1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;

        // (bytes, given media type, Ok(media type) or Err(substring of the error))
        fn check(bytes: &[u8], given: Option<&str>, expected: Result<&str, &str>) {
            match (Manifest::parse(bytes, given), expected) {
                (Ok(m), Ok(media_type)) => assert_eq!(m.media_type(), media_type),
                (Err(e), Err(needle)) => assert!(e.to_string().contains(needle), "{e}"),
                (got, want) => panic!("given {given:?}: got {got:?}, want {want:?}"),
            }
        }
        check(&oci, None, Ok(OCI_MANIFEST));
        check(&oci, Some(OCI_MANIFEST), Ok(OCI_MANIFEST));
        check(&docker, None, Ok(DOCKER_MANIFEST));
        check(
            &docker,
            Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
            Ok(DOCKER_MANIFEST),
        );
        check(bare_manifest, None, Ok(OCI_MANIFEST));
        check(bare_manifest, Some(DOCKER_MANIFEST), Ok(DOCKER_MANIFEST));
        check(bare_index, None, Ok(OCI_INDEX));
        check(bare_index, Some(""), Ok(OCI_INDEX));
        check(list, None, Ok(DOCKER_MANIFEST_LIST));
        check(list, Some(OCI_INDEX), Err("mismatch"));
        check(&oci, Some(DOCKER_MANIFEST), Err("mismatch"));
        check(schema1, None, Err("schemaVersion 1"));
        check(br#"{"schemaVersion":2}"#, None, Err("without mediaType"));
        check(
            bare_manifest,
            Some(OCI_LAYER_GZIP),
            Err("unsupported media type"),
        );
        check(b"not json", None, Err("invalid manifest json"));
        check(b"", None, Err("invalid manifest json"));
    }

    #[test]
    fn subject_artifact_type_and_data_survive_parse_and_canonical_json() {
        let subject = r#"{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}},"layers":[],"subject":{subject}}}"#
        );
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x-set","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-a","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}],"subject":{subject}}}"#
        );
        for (bytes, artifact_type) in [
            (&manifest, "application/spdx+json"),
            (&index, "application/x-set"),
        ] {
            let parsed = Manifest::parse(bytes.as_bytes(), None).unwrap();
            assert_eq!(parsed.artifact_type().as_deref(), Some(artifact_type));
            let subject = parsed.subject().unwrap().unwrap();
            assert_eq!(subject.media_type, OCI_INDEX);
            assert_eq!(subject.size, 2);
            // Nothing is dropped: the canonical bytes are the document's, keys sorted.
            let value: Value = serde_json::from_str(bytes).unwrap();
            assert_eq!(
                parsed.canonical_bytes().unwrap(),
                to_canonical_json(&value).unwrap()
            );
        }
        let parsed = Manifest::parse(index.as_bytes(), None).unwrap();
        let entries = parsed.artifact_descriptors().unwrap();
        assert_eq!(entries[0].artifact_type.as_deref(), Some("application/x-a"));
    }

    #[test]
    fn artifact_manifests_and_referrers_indexes() {
        let subject = desc(OCI_MANIFEST, b"signed");
        let layer = desc("application/vnd.dev.cosign.simplesigning.v1+json", b"p");
        let bytes = artifact_manifest_bytes(
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            &empty_config(),
            std::slice::from_ref(&layer),
            Some(&subject),
            &annotations(&[("k", "v")]),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["mediaType"], OCI_MANIFEST);
        assert_eq!(
            v["artifactType"],
            "application/vnd.dev.cosign.artifact.sig.v1+json"
        );
        assert_eq!(
            v["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(v["config"]["size"], 2);
        assert_eq!(v["subject"]["digest"], subject.digest);
        let entry = ArtifactDescriptor::for_manifest(&bytes, OCI_MANIFEST).unwrap();
        assert_eq!(entry.descriptor.digest, sha256_digest(&bytes));
        assert_eq!(entry.descriptor.annotations, annotations(&[("k", "v")]));

        // Without artifactType, a referrer's kind is its config's media type.
        let plain = manifest_bytes(
            OciMode::Oci,
            &desc("application/x-custom-config", b"{}"),
            &[],
            &BTreeMap::new(),
        )
        .unwrap();
        let other = ArtifactDescriptor::for_manifest(&plain, OCI_MANIFEST).unwrap();
        assert_eq!(
            other.artifact_type.as_deref(),
            Some("application/x-custom-config")
        );

        let index = referrers_index_bytes(&[entry.clone(), other.clone()]).unwrap();
        let parsed = Manifest::parse(&index, None).unwrap();
        assert_eq!(parsed.media_type(), OCI_INDEX);
        assert_eq!(parsed.artifact_descriptors().unwrap(), [entry, other]);
        let v: Value = serde_json::from_slice(&referrers_index_bytes(&[]).unwrap()).unwrap();
        assert_eq!(v["manifests"], serde_json::json!([]));
    }

    #[test]
    fn parsed_index_lists_children_with_platforms() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        let parsed = Manifest::parse(index, None).unwrap();
        let children = parsed.descriptors().unwrap();
        assert_eq!(children.len(), 1);
        assert_eq!(
            children[0].platform,
            Some(Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: Some("v8".into())
            })
        );
        assert!(!parsed.is_docker());
    }
}
