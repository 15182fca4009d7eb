// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! cosign-compatible signatures in a registry: signing a manifest and finding and checking
//! its signatures.
//!
//! A signature is a layer of media type `application/vnd.dev.cosign.simplesigning.v1+json`
//! whose content is the simple-signing [`Payload`] and whose annotation
//! `dev.cosignproject.cosign/signature` is the base64 DER ECDSA P-256/SHA-256 signature of
//! it. [`sign`] puts it in two places in the signed manifest's repository:
//! * an OCI 1.1 referrer: an artifact manifest (`artifactType`
//!   `application/vnd.dev.cosign.artifact.sig.v1+json`, empty config, that one layer,
//!   `subject` = the signed manifest), through [`RegistryClient::attach_referrer`] (the
//!   registry's referrers API, else the fallback tag `sha256-<hex>`);
//! * cosign's tag `sha256-<hex>.sig`: an OCI image manifest whose layers are every signature
//!   of the manifest (a new one appended to what is there), for tools that read only tags.
//!
//! ECDSA here is deterministic (RFC 6979), so signing the same manifest again with the same
//! key writes the same bytes and appends nothing.

use std::collections::BTreeMap;

use bytes::Bytes;
use kaniko_common::oci::{self, Descriptor, Manifest, OciMode};
use kaniko_registry::{Attached, Reference, Referrer, RegistryClient, RegistryError};

use crate::keys::{PublicKey, SigningKey};
use crate::payload::Payload;

/// The layer annotation holding the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a signature layer (the payload).
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The `artifactType` of a signature referrer.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// A payload larger than this is not one of ours (cosign's are a few hundred bytes).
const MAX_PAYLOAD: u64 = 1024 * 1024;

/// cosign's signature tag of a manifest digest: `sha256:<hex>` → `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", kaniko_registry::fallback_tag(digest))
}

/// The `registry/repository` name a payload's `docker-reference` holds.
pub fn repository_name(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

/// A failed signing, naming the manifest and what failed.
#[derive(Debug, thiserror::Error)]
#[error("signing {digest} in {repository}: {what}: {source}")]
pub struct SignError {
    /// The manifest being signed.
    pub digest: String,
    /// `registry/repository`.
    pub repository: String,
    /// The step (`the referrer`, `the .sig tag`).
    pub what: &'static str,
    /// The registry's error.
    #[source]
    pub source: RegistryError,
}

/// A signed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The signed manifest's digest.
    pub digest: String,
    /// The signature referrer.
    pub referrer: Attached,
    /// The `.sig` tag written (`registry/repository:sha256-<hex>.sig`).
    pub signature_tag: String,
}

/// The signature layer of the manifest `digest` in `repository` (`registry/repository`):
/// its descriptor (with the signature annotation) and the payload bytes.
pub fn signature_layer(
    key: &SigningKey,
    repository: &str,
    digest: &str,
    annotations: &BTreeMap<String, String>,
) -> (Descriptor, Bytes) {
    let payload = Payload::new(repository, digest, annotations).to_bytes();
    let mut layer = Descriptor::for_bytes(SIMPLE_SIGNING, &payload);
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.to_string(), key.sign_base64(&payload));
    (layer, Bytes::from(payload))
}

/// Signs `subject` (a manifest or index pushed by digest in `repository`'s repository) with
/// `key` and stores the signature as a referrer and under the `.sig` tag. `annotations` go
/// into the payload's `optional`.
pub async fn sign(
    registry: &RegistryClient,
    key: &SigningKey,
    repository: &Reference,
    subject: &Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Result<Signed, SignError> {
    let name = repository_name(repository);
    let failed = |what: &'static str| {
        let (digest, repository) = (subject.digest.clone(), name.clone());
        move |source| SignError {
            digest,
            repository,
            what,
            source,
        }
    };
    let (layer, payload) = signature_layer(key, &name, &subject.digest, annotations);
    let subject_only = Descriptor::new(
        subject.media_type.clone(),
        subject.digest.clone(),
        subject.size,
    );
    let referrer = registry
        .attach_referrer(
            repository,
            &Referrer {
                subject: subject_only,
                artifact_type: SIGNATURE_ARTIFACT_TYPE.to_string(),
                config: (oci::empty_config(), Bytes::from_static(oci::EMPTY_JSON)),
                layers: vec![(layer.clone(), payload)],
                annotations: BTreeMap::new(),
            },
        )
        .await
        .map_err(failed("the referrer"))?;
    let tag = append_to_signature_tag(registry, repository, &subject.digest, layer)
        .await
        .map_err(failed("the .sig tag"))?;
    tracing::info!(digest = %subject.digest, repository = %name, referrer = %referrer.referrer.descriptor.digest, source = ?referrer.source, signature_tag = %tag, "signed");
    Ok(Signed {
        digest: subject.digest.clone(),
        referrer,
        signature_tag: tag,
    })
}

/// cosign's image config of a signature manifest: the payload digests as `diff_ids`.
fn signature_config(layers: &[Descriptor]) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>(),
        },
    });
    oci::to_canonical_json(&config).unwrap_or_default()
}

/// Adds `layer` (its blob already pushed) to the signature manifest under `sha256-<hex>.sig`,
/// creating it when missing; a layer already there is not added twice. Returns the tag.
async fn append_to_signature_tag(
    registry: &RegistryClient,
    repository: &Reference,
    digest: &str,
    layer: Descriptor,
) -> Result<String, RegistryError> {
    let tag = Reference::with_tag(
        repository.registry().to_string(),
        repository.repository().to_string(),
        signature_tag(digest),
    );
    let mut layers = signature_tag_layers(registry, &tag).await?;
    if layers.contains(&layer) {
        return Ok(tag.whole());
    }
    layers.push(layer);
    let config = signature_config(&layers);
    let pushed = registry.push_blob_bytes(&tag, config.clone()).await?;
    let config = Descriptor::new(oci::OCI_CONFIG, pushed.digest, pushed.size);
    let bytes =
        oci::manifest_bytes(OciMode::Oci, &config, &layers, &BTreeMap::new()).map_err(|err| {
            RegistryError::Protocol {
                reference: tag.whole(),
                message: format!("signature manifest: {err}"),
            }
        })?;
    registry
        .push_manifest_raw(&tag, bytes, oci::OCI_MANIFEST)
        .await?;
    Ok(tag.whole())
}

/// The layers of the signature manifest `tag` names; none when the tag does not exist.
async fn signature_tag_layers(
    registry: &RegistryClient,
    tag: &Reference,
) -> Result<Vec<Descriptor>, RegistryError> {
    match registry.pull_manifest_raw(tag).await {
        Ok(pulled) => manifest_layers(tag, &pulled.bytes, &pulled.media_type),
        Err(RegistryError::NotFound { .. }) => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

fn manifest_layers(
    reference: &Reference,
    bytes: &[u8],
    media_type: &str,
) -> Result<Vec<Descriptor>, RegistryError> {
    let protocol = |message: String| RegistryError::Protocol {
        reference: reference.whole(),
        message,
    };
    match Manifest::parse(bytes, Some(media_type)) {
        Ok(manifest @ Manifest::Image(_)) => manifest
            .descriptors()
            .map(|mut d| {
                d.remove(0);
                d
            })
            .map_err(|err| protocol(format!("signature manifest: {err}"))),
        Ok(Manifest::Index(_)) => Err(protocol(
            "a signature tag holds an index, not a manifest".to_string(),
        )),
        Err(err) => Err(protocol(format!("signature manifest: {err}"))),
    }
}

/// Why a manifest's signatures were not accepted; each message names the manifest and what
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Nothing that looks like a signature was found.
    #[error(
        "no signature: {digest} in {repository} has no signature among its referrers or under the tag {tag}"
    )]
    NoSignature {
        /// The manifest.
        digest: String,
        /// `registry/repository`.
        repository: String,
        /// The `.sig` tag looked at.
        tag: String,
    },
    /// Signatures exist, none verifies with the key.
    #[error(
        "wrong key: none of the {count} signature(s) of {digest} in {repository} verifies with the public key {fingerprint}"
    )]
    WrongKey {
        /// The manifest.
        digest: String,
        /// `registry/repository`.
        repository: String,
        /// How many signatures were tried.
        count: usize,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// A signature verifies, but its payload is for another manifest.
    #[error(
        "digest mismatch: a signature found for {digest} in {repository} verifies with the key but signs {signed}"
    )]
    DigestMismatch {
        /// The manifest.
        digest: String,
        /// `registry/repository`.
        repository: String,
        /// The digest the payload names.
        signed: String,
    },
    /// A signature verifies, but its payload names another repository.
    #[error(
        "reference mismatch: a signature of {digest} verifies with the key but names the repository {signed}, not {repository}"
    )]
    ReferenceMismatch {
        /// The manifest.
        digest: String,
        /// `registry/repository`.
        repository: String,
        /// The `docker-reference` the payload names.
        signed: String,
    },
    /// The registry failed.
    #[error("reading the signatures of {digest}: {source}")]
    Registry {
        /// The manifest.
        digest: String,
        /// The registry's error.
        #[source]
        source: RegistryError,
    },
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The manifest.
    pub digest: String,
    /// Where it was found: `referrer <digest>` or `tag <name>`.
    pub found_in: String,
    /// The payload.
    pub payload: Payload,
}

/// Finds the signatures of the manifest `digest` in `repository`'s repository (its
/// referrers of the signature artifact type, then the `.sig` tag) and accepts the first
/// whose signature verifies with `key`, whose payload names `digest` and the repository.
pub async fn verify(
    registry: &RegistryClient,
    repository: &Reference,
    digest: &str,
    key: &PublicKey,
) -> Result<Verified, VerifyError> {
    let name = repository_name(repository);
    let registry_error = |source| VerifyError::Registry {
        digest: digest.to_string(),
        source,
    };
    let mut candidates: Vec<(String, Descriptor)> = Vec::new();
    let (referrers, _) = registry
        .list_referrers(repository, digest, Some(SIGNATURE_ARTIFACT_TYPE))
        .await
        .map_err(registry_error)?;
    for entry in referrers {
        let reference = Reference::with_digest(
            repository.registry().to_string(),
            repository.repository().to_string(),
            entry.descriptor.digest.clone(),
        );
        let pulled = registry
            .pull_manifest_sized(&reference, entry.descriptor.size)
            .await
            .map_err(registry_error)?;
        for layer in manifest_layers(&reference, &pulled.bytes, &pulled.media_type)
            .map_err(registry_error)?
        {
            candidates.push((format!("referrer {}", entry.descriptor.digest), layer));
        }
    }
    let tag = Reference::with_tag(
        repository.registry().to_string(),
        repository.repository().to_string(),
        signature_tag(digest),
    );
    for layer in signature_tag_layers(registry, &tag)
        .await
        .map_err(registry_error)?
    {
        candidates.push((format!("tag {}", tag.whole()), layer));
    }
    let signatures: Vec<(String, Descriptor, String)> = candidates
        .into_iter()
        .filter(|(_, layer)| layer.media_type == SIMPLE_SIGNING && layer.size <= MAX_PAYLOAD)
        .filter_map(|(found, layer)| {
            let signature = layer.annotations.get(SIGNATURE_ANNOTATION)?.clone();
            Some((found, layer, signature))
        })
        .collect();
    if signatures.is_empty() {
        return Err(VerifyError::NoSignature {
            digest: digest.to_string(),
            repository: name,
            tag: tag.whole(),
        });
    }
    let mut mismatch: Option<VerifyError> = None;
    let count = signatures.len();
    for (found_in, layer, signature) in signatures {
        let mut payload = Vec::new();
        registry
            .pull_blob_sized(
                repository,
                &layer.digest,
                layer.size,
                "signature payload",
                &mut payload,
            )
            .await
            .map_err(registry_error)?;
        if !key.verifies(&payload, &signature) {
            continue;
        }
        let Some(parsed) = Payload::parse(&payload) else {
            continue;
        };
        if parsed.critical.image.docker_manifest_digest != digest {
            mismatch = Some(VerifyError::DigestMismatch {
                digest: digest.to_string(),
                repository: name.clone(),
                signed: parsed.critical.image.docker_manifest_digest,
            });
            continue;
        }
        if parsed.critical.identity.docker_reference != name {
            mismatch.get_or_insert(VerifyError::ReferenceMismatch {
                digest: digest.to_string(),
                repository: name.clone(),
                signed: parsed.critical.identity.docker_reference,
            });
            continue;
        }
        return Ok(Verified {
            digest: digest.to_string(),
            found_in,
            payload: parsed,
        });
    }
    Err(mismatch.unwrap_or(VerifyError::WrongKey {
        digest: digest.to_string(),
        repository: name,
        count,
        fingerprint: key.fingerprint(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tags_and_layers() {
        let digest = format!("sha256:{}", "c".repeat(64));
        assert_eq!(
            signature_tag(&digest),
            format!("sha256-{}.sig", "c".repeat(64))
        );
        let key = SigningKey::from_secret_bytes_for_tests(&[9u8; 32]);
        let (layer, payload) = signature_layer(&key, "reg/app", &digest, &BTreeMap::new());
        assert_eq!(layer.media_type, SIMPLE_SIGNING);
        assert_eq!(layer.digest, oci::sha256_digest(&payload));
        let signature = &layer.annotations[SIGNATURE_ANNOTATION];
        assert!(key.public_key().verifies(&payload, signature));
        assert_eq!(
            Payload::parse(&payload)
                .unwrap()
                .critical
                .image
                .docker_manifest_digest,
            digest
        );
        // Deterministic: the same manifest signed twice gives the same layer.
        assert_eq!(
            signature_layer(&key, "reg/app", &digest, &BTreeMap::new()).0,
            layer
        );
        let config: serde_json::Value =
            serde_json::from_slice(&signature_config(std::slice::from_ref(&layer))).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.digest);
    }
}
