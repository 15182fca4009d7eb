// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Manifest operations of the registry client: raw pulls (with the media type and a verified
//! digest), raw pushes by tag or digest, deletion, and resolution of an image reference for a
//! platform through an index down to its manifest, config and layers.
//!
//! Manifest requests are sent here rather than through oci-client: its raw pull does not
//! return the media type, and its push panics on registries that answer without a `Location`
//! when pushing by digest.

use std::collections::BTreeMap;

use bytes::Bytes;
use oci_client::RegistryOperation;
use oci_client::errors::OciErrorCode;
use serde::Deserialize;

use super::answer::Answer;
use super::blob::{check_digest, sha256_digest};
use super::body::{Capped, MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, limit_text, read_capped};
use super::error::classify_reqwest;
use super::{Reference, RegistryClient, RegistryError};
use kaniko_common::oci::{self, Descriptor};
use kaniko_common::platform::Platform;

/// The media types asked for when pulling a manifest.
const ACCEPTED: [&str; 4] = [
    oci::OCI_INDEX,
    oci::OCI_MANIFEST,
    oci::DOCKER_MANIFEST_LIST,
    oci::DOCKER_MANIFEST,
];

/// A manifest (or index) as the registry stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledManifest {
    /// The exact bytes.
    pub bytes: Bytes,
    /// Its media type (from `Content-Type`, else from its `mediaType` field).
    pub media_type: String,
    /// `sha256:<hex>` of the bytes, verified against the reference when pulled by digest.
    pub digest: String,
}

impl PulledManifest {
    /// Whether this is an OCI index or a Docker manifest list.
    pub fn is_index(&self) -> bool {
        self.media_type == oci::OCI_INDEX || self.media_type == oci::DOCKER_MANIFEST_LIST
    }
}

/// An image resolved for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// Digest of the platform's image manifest.
    pub manifest_digest: String,
    /// The manifest's bytes.
    pub manifest: Bytes,
    /// The manifest's media type (OCI or Docker).
    pub media_type: String,
    /// The config blob's descriptor.
    pub config_descriptor: Descriptor,
    /// The config blob, digest verified.
    pub config: Bytes,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// Digest of the index the manifest was chosen from, when the reference named an index.
    pub index_digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    platform: Option<RawPlatform>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIndex {
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    config: RawDescriptor,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaTypeProbe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<RawConfigProbe>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfigProbe {
    #[serde(default)]
    media_type: String,
}

/// The media type of a manifest from its `Content-Type`, else its `mediaType` field, else
/// its shape (an index has `manifests`; a manifest with a Docker config is a Docker manifest).
fn media_type_of(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let header = content_type
        .map(|ct| ct.split(';').next().unwrap_or(ct).trim().to_string())
        .filter(|ct| ACCEPTED.contains(&ct.as_str()));
    if header.is_some() {
        return header;
    }
    let probe: MediaTypeProbe = serde_json::from_slice(body).ok()?;
    if let Some(media_type) = probe.media_type.filter(|m| !m.is_empty()) {
        return Some(media_type);
    }
    if probe.manifests.is_some() {
        return Some(oci::OCI_INDEX.to_string());
    }
    let config = probe.config?;
    if config.media_type == oci::DOCKER_CONFIG {
        Some(oci::DOCKER_MANIFEST.to_string())
    } else {
        Some(oci::OCI_MANIFEST.to_string())
    }
}

/// The platform of an index entry in normal form ([`Platform::new`]); an entry whose platform
/// does not normalise is kept as written, and then matches nothing.
fn index_platform(raw: &RawPlatform) -> Platform {
    Platform::new(&raw.os, &raw.architecture, raw.variant.as_deref()).unwrap_or_else(|_| Platform {
        os: raw.os.clone(),
        architecture: raw.architecture.clone(),
        variant: raw.variant.clone().filter(|v| !v.is_empty()),
    })
}

fn descriptor(reference: &Reference, raw: &RawDescriptor) -> Result<Descriptor, RegistryError> {
    check_digest(reference, &raw.digest)?;
    let size = u64::try_from(raw.size).map_err(|_| {
        RegistryError::protocol(
            reference.whole(),
            format!("negative size {} for {}", raw.size, raw.digest),
        )
    })?;
    Ok(Descriptor {
        media_type: raw.media_type.clone(),
        digest: raw.digest.clone(),
        size,
        platform: raw.platform.as_ref().map(index_platform),
        annotations: raw.annotations.clone().unwrap_or_default(),
    })
}

/// The tag or digest a manifest URL names.
fn manifest_path(reference: &Reference) -> String {
    let target = reference.digest().or(reference.tag()).unwrap_or("latest");
    format!("/v2/{}/manifests/{target}", reference.repository())
}

impl RegistryClient {
    /// Sends one manifest request (`build` adds method-specific parts) with authentication;
    /// transport failures classified, the status left to the caller.
    async fn manifest_request(
        &self,
        reference: &Reference,
        operation: RegistryOperation,
        build: impl FnOnce(&reqwest::Client, String) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        self.api_request(reference, &manifest_path(reference), operation, build)
            .await
    }

    /// Sends one request for `path` (`/v2/...`, query included) of `reference`'s registry with
    /// the authentication `operation` on its repository needs; transport failures classified,
    /// the status left to the caller.
    pub(super) async fn api_request(
        &self,
        reference: &Reference,
        path: &str,
        operation: RegistryOperation,
        build: impl FnOnce(&reqwest::Client, String) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        self.api_request_with_source(reference, path, operation, None, build)
            .await
    }

    /// [`Self::api_request`] with a token that may also pull the repository `source` (see
    /// [`Self::authorization_with_source`]).
    pub(super) async fn api_request_with_source(
        &self,
        reference: &Reference,
        path: &str,
        operation: RegistryOperation,
        source: Option<&str>,
        build: impl FnOnce(&reqwest::Client, String) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let (clients, auth) = self.prepare(reference).await?;
        let url = format!("{}{path}", self.base_url(reference));
        let mut request = build(&clients.http, url);
        if let Some(header) = self
            .authorization_with_source(clients, &auth, reference, operation, source)
            .await?
        {
            request = request.header(http::header::AUTHORIZATION, header);
        }
        clients
            .send(request)
            .await
            .map_err(|err| classify_reqwest(&reference.whole(), "manifest", &err))
    }

    /// Pulls the manifest or index `reference` names (tag or digest) as the registry stored
    /// it, read with a cap of 8 MiB whatever `Content-Length` says (or does not). Pulled by
    /// digest, the content must match the digest ([`RegistryError::Protocol`] otherwise).
    pub async fn pull_manifest_raw(
        &self,
        reference: &Reference,
    ) -> Result<PulledManifest, RegistryError> {
        self.pull_manifest(reference, None).await
    }

    /// Pulls the manifest a descriptor of `size` bytes describes (`reference` names its
    /// digest): reading stops as soon as the body passes `size`, and a body of another size
    /// is refused, as is a descriptor saying more than 8 MiB.
    pub async fn pull_manifest_sized(
        &self,
        reference: &Reference,
        size: u64,
    ) -> Result<PulledManifest, RegistryError> {
        self.pull_manifest(reference, Some(size)).await
    }

    async fn pull_manifest(
        &self,
        reference: &Reference,
        size: Option<u64>,
    ) -> Result<PulledManifest, RegistryError> {
        if let Some(digest) = reference.digest() {
            check_digest(reference, digest)?;
        }
        if let Some(size) = size.filter(|s| *s > MAX_MANIFEST_SIZE) {
            return Err(RegistryError::protocol(
                reference.whole(),
                format!(
                    "manifest {} is {size} bytes by its descriptor, more than the {} limit for manifests",
                    reference.digest().unwrap_or_default(),
                    limit_text(MAX_MANIFEST_SIZE)
                ),
            ));
        }
        self.inner
            .options
            .retry
            .run(&format!("pull manifest {reference}"), |_| {
                self.pull_manifest_once(reference, size)
            })
            .await
    }

    async fn pull_manifest_once(
        &self,
        reference: &Reference,
        size: Option<u64>,
    ) -> Result<PulledManifest, RegistryError> {
        let whole = reference.whole();
        let response = self
            .manifest_request(reference, RegistryOperation::Pull, |http, url| {
                http.get(url)
                    .header(http::header::ACCEPT, ACCEPTED.join(", "))
            })
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Answer::read(response).await.by_status(&whole, "manifest"));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type");
        let header_digest = header("docker-content-digest").filter(|d| !d.is_empty());
        let bytes = match read_capped(response, size.unwrap_or(MAX_MANIFEST_SIZE))
            .await
            .map_err(|err| classify_reqwest(&whole, "manifest", &err))?
        {
            Capped::Complete(bytes) => bytes,
            Capped::TooLarge => {
                let message = match size {
                    Some(size) => format!(
                        "manifest {} is larger than its descriptor's {}",
                        reference.digest().unwrap_or_default(),
                        limit_text(size)
                    ),
                    None => format!(
                        "manifest is larger than the {} limit for manifests",
                        limit_text(MAX_MANIFEST_SIZE)
                    ),
                };
                return Err(RegistryError::protocol(&whole, message));
            }
        };
        if let Some(size) = size.filter(|s| *s != bytes.len() as u64) {
            return Err(RegistryError::protocol(
                &whole,
                format!(
                    "manifest {} is {} bytes, not the {size} bytes its descriptor says",
                    reference.digest().unwrap_or_default(),
                    bytes.len()
                ),
            ));
        }
        let digest = sha256_digest(&bytes);
        for expected in [reference.digest(), header_digest.as_deref()]
            .into_iter()
            .flatten()
        {
            if expected.starts_with("sha256:") && expected != digest {
                return Err(RegistryError::protocol(
                    &whole,
                    format!("digest mismatch for manifest: expected {expected}, got {digest}"),
                ));
            }
        }
        let media_type = media_type_of(content_type.as_deref(), &bytes).ok_or_else(|| {
            RegistryError::protocol(&whole, "manifest is not json with a known media type")
        })?;
        Ok(PulledManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Pushes a manifest or index under `reference` (a tag, or a digest that must be the
    /// digest of `bytes`); returns its digest.
    pub async fn push_manifest_raw(
        &self,
        reference: &Reference,
        bytes: impl Into<Bytes>,
        media_type: &str,
    ) -> Result<String, RegistryError> {
        let (digest, _) = self
            .push_manifest_headers(reference, bytes, media_type)
            .await?;
        Ok(digest)
    }

    /// [`RegistryClient::push_manifest_raw`], also returning the response's headers (the
    /// `OCI-Subject` a registry with the referrers API sends back).
    pub(super) async fn push_manifest_headers(
        &self,
        reference: &Reference,
        bytes: impl Into<Bytes>,
        media_type: &str,
    ) -> Result<(String, http::HeaderMap), RegistryError> {
        let bytes: Bytes = bytes.into();
        let digest = sha256_digest(&bytes);
        if let Some(wanted) = reference.digest()
            && wanted != digest
        {
            return Err(RegistryError::protocol(
                reference.whole(),
                format!("manifest content has digest {digest}, not the {wanted} it is pushed as"),
            ));
        }
        let headers = self
            .change_manifest("push", reference, |http, url| {
                http.put(url)
                    .header(http::header::CONTENT_TYPE, media_type)
                    .body(bytes.clone())
            })
            .await?;
        tracing::debug!(reference = %reference.whole(), %digest, %media_type, "manifest pushed");
        Ok((digest, headers))
    }

    /// Deletes the manifest `reference` names by digest (registries delete by digest only).
    pub async fn delete_manifest(&self, reference: &Reference) -> Result<(), RegistryError> {
        let whole = reference.whole();
        let Some(digest) = reference.digest() else {
            return Err(RegistryError::protocol(
                &whole,
                "a manifest is deleted by digest, not by tag",
            ));
        };
        check_digest(reference, digest)?;
        self.change_manifest("delete", reference, |http, url| http.delete(url))
            .await
            .map(drop)
    }

    /// Sends the request `build` makes for the manifest `reference` (a push or a delete,
    /// named by `verb` in retry messages) with push rights, retried; a status outside 2xx is
    /// classified into an error; the response's headers otherwise.
    async fn change_manifest(
        &self,
        verb: &str,
        reference: &Reference,
        build: impl Fn(&reqwest::Client, String) -> reqwest::RequestBuilder,
    ) -> Result<http::HeaderMap, RegistryError> {
        let whole = reference.whole();
        self.inner
            .options
            .retry
            .run(&format!("{verb} manifest {reference}"), |_| async {
                let response = self
                    .manifest_request(reference, RegistryOperation::Push, &build)
                    .await?;
                let status = response.status().as_u16();
                if !(200..300).contains(&status) {
                    let answer = Answer::read(response).await;
                    // A push into a repository nobody created (ECR): say how to create it.
                    if verb == "push" && answer.first_code() == Some(OciErrorCode::NameUnknown) {
                        return Err(RegistryError::no_repository(
                            &whole,
                            reference.resolve_registry(),
                            reference.repository(),
                            &answer.shown(),
                        ));
                    }
                    return Err(answer.by_status(&whole, "manifest"));
                }
                Ok(response.headers().clone())
            })
            .await
    }

    /// Pulls the image config `descriptor` describes from `reference`'s repository into
    /// memory: refused when the descriptor says more than 32 MiB, read no further than the
    /// descriptor's size (a longer config is refused as soon as it passes it), and
    /// digest-verified.
    pub async fn pull_config(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Bytes, RegistryError> {
        if descriptor.size > MAX_CONFIG_SIZE {
            return Err(RegistryError::protocol(
                reference.whole(),
                format!(
                    "config {} is {} bytes by its descriptor, more than the {} limit for configs",
                    descriptor.digest,
                    descriptor.size,
                    limit_text(MAX_CONFIG_SIZE)
                ),
            ));
        }
        let mut config = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
        self.pull_blob_sized(
            reference,
            &descriptor.digest,
            descriptor.size,
            "config",
            &mut config,
        )
        .await?;
        Ok(Bytes::from(config))
    }

    /// Resolves `reference` for `platform`: through an index (best match of the entries'
    /// platforms, see [`Platform::best_match`]) down to the image manifest, its config
    /// (pulled and verified) and its layers. A reference naming a single manifest is used as
    /// is. No entry serving the platform is a [`RegistryError::NotFound`] naming the wanted
    /// and the available platforms.
    pub async fn resolve_image(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ResolvedImage, RegistryError> {
        let whole = reference.whole();
        let top = self.pull_manifest_raw(reference).await?;
        let (manifest, index_digest) = if top.is_index() {
            let index: RawIndex = serde_json::from_slice(&top.bytes).map_err(|err| {
                RegistryError::protocol(
                    &whole,
                    format!("invalid image index {}: {err}", top.digest),
                )
            })?;
            let entries: Vec<(&RawDescriptor, Platform)> = index
                .manifests
                .iter()
                .filter_map(|entry| entry.platform.as_ref().map(|p| (entry, index_platform(p))))
                .collect();
            let candidates: Vec<Platform> = entries.iter().map(|(_, p)| p.clone()).collect();
            let Some((entry, _)) = platform
                .best_match(&candidates)
                .and_then(|i| entries.get(i))
            else {
                let available = candidates
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(RegistryError::not_found(
                    &whole,
                    format!("a manifest for platform {platform} (available: {available})"),
                ));
            };
            check_digest(reference, &entry.digest)?;
            let size = u64::try_from(entry.size).map_err(|_| {
                RegistryError::protocol(
                    &whole,
                    format!("negative size {} for {}", entry.size, entry.digest),
                )
            })?;
            let child_reference = reference.clone_with_digest(entry.digest.clone());
            let child = self.pull_manifest_sized(&child_reference, size).await?;
            if child.is_index() {
                return Err(RegistryError::protocol(
                    &whole,
                    format!(
                        "index entry {} for {platform} is itself an index",
                        entry.digest
                    ),
                ));
            }
            (child, Some(top.digest))
        } else {
            (top, None)
        };
        if manifest.media_type != oci::OCI_MANIFEST && manifest.media_type != oci::DOCKER_MANIFEST {
            return Err(RegistryError::protocol(
                &whole,
                format!(
                    "unexpected media type {} for manifest {}",
                    manifest.media_type, manifest.digest
                ),
            ));
        }
        let raw: RawManifest = serde_json::from_slice(&manifest.bytes).map_err(|err| {
            RegistryError::protocol(
                &whole,
                format!("invalid image manifest {}: {err}", manifest.digest),
            )
        })?;
        let config_descriptor = descriptor(reference, &raw.config)?;
        let layers = raw
            .layers
            .iter()
            .map(|layer| descriptor(reference, layer))
            .collect::<Result<Vec<_>, _>>()?;
        let config = self.pull_config(reference, &config_descriptor).await?;
        Ok(ResolvedImage {
            manifest_digest: manifest.digest,
            manifest: manifest.bytes,
            media_type: manifest.media_type,
            config_descriptor,
            config,
            layers,
            index_digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_header_the_body_or_the_shape() {
        fn check(content_type: Option<&str>, body: &str, expected: Option<&str>) {
            assert_eq!(
                media_type_of(content_type, body.as_bytes()).as_deref(),
                expected,
                "{content_type:?} {body}"
            );
        }
        check(Some(oci::OCI_INDEX), "{}", Some(oci::OCI_INDEX));
        check(
            Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            "{}",
            Some(oci::OCI_MANIFEST),
        );
        check(
            Some("application/json"),
            r#"{"mediaType": "application/vnd.docker.distribution.manifest.v2+json"}"#,
            Some(oci::DOCKER_MANIFEST),
        );
        check(
            None,
            r#"{"schemaVersion": 2, "manifests": []}"#,
            Some(oci::OCI_INDEX),
        );
        check(
            None,
            r#"{"config": {"mediaType": "application/vnd.docker.container.image.v1+json"}}"#,
            Some(oci::DOCKER_MANIFEST),
        );
        check(
            None,
            r#"{"config": {"mediaType": "application/vnd.oci.image.config.v1+json"}}"#,
            Some(oci::OCI_MANIFEST),
        );
        check(None, "not json", None);
        check(None, r#"{"schemaVersion": 2}"#, None);
    }

    #[test]
    fn index_platforms_fold_the_variants_that_mean_nothing() {
        fn check(arch: &str, variant: Option<&str>, expected: Option<&str>) {
            let raw = RawPlatform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: variant.map(str::to_string),
            };
            assert_eq!(
                index_platform(&raw).variant.as_deref(),
                expected,
                "{arch} {variant:?}"
            );
        }
        check("arm64", Some("v8"), None);
        check("amd64", Some("v1"), None);
        check("amd64", Some("v3"), Some("v3"));
        check("arm", None, Some("v7"));
        check("arm", Some("v6"), Some("v6"));
        check("arm64", Some(""), None);
        check("s390x", None, None);
    }

    #[test]
    fn manifest_urls_prefer_the_digest_over_the_tag() {
        fn check(reference: &str, expected: &str) {
            let reference: Reference = reference.parse().unwrap();
            assert_eq!(manifest_path(&reference), expected);
        }
        let digest = sha256_digest(b"m");
        check("r.io/a/b:1", "/v2/a/b/manifests/1");
        check("r.io/a/b", "/v2/a/b/manifests/latest");
        check(
            &format!("r.io/a/b:1@{digest}"),
            &format!("/v2/a/b/manifests/{digest}"),
        );
    }

    #[test]
    fn descriptors_reject_negative_sizes_and_bad_digests() {
        let reference: Reference = "r.io/a:1".parse().unwrap();
        let raw = |digest: &str, size: i64| RawDescriptor {
            media_type: oci::OCI_LAYER_GZIP.into(),
            digest: digest.into(),
            size,
            platform: None,
            annotations: None,
        };
        let good = sha256_digest(b"l");
        assert_eq!(descriptor(&reference, &raw(&good, 3)).unwrap().size, 3);
        assert!(
            descriptor(&reference, &raw(&good, -1))
                .unwrap_err()
                .to_string()
                .contains("negative size")
        );
        assert_eq!(
            descriptor(&reference, &raw("sha256:zz", 3))
                .unwrap_err()
                .kind(),
            "protocol"
        );
    }
}
