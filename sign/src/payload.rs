// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! cosign's simple-signing payload: what a signature signs. `critical.identity.
//! docker-reference` is the repository (`registry/repository`, no tag), `critical.image.
//! docker-manifest-digest` the signed manifest's digest, `critical.type` the constant
//! `cosign container image signature`; `optional` carries annotations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The payload's `critical.type`.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// A simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// What is signed.
    pub critical: Critical,
    /// Annotations (`null` or an object in cosign's payloads).
    #[serde(default)]
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

/// The signed claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// The repository the image lives in.
    pub identity: Identity,
    /// The manifest.
    pub image: Image,
    /// [`SIGNATURE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `registry/repository`.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:<hex>` of the signed manifest.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl Payload {
    /// The payload for the manifest `digest` in `repository`, with `annotations` (none:
    /// `optional` is `null`, as cosign writes it).
    pub fn new(repository: &str, digest: &str, annotations: &BTreeMap<String, String>) -> Self {
        Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: repository.to_string(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: SIGNATURE_TYPE.to_string(),
            },
            optional: (!annotations.is_empty()).then(|| {
                annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect()
            }),
        }
    }

    /// The bytes that are signed and pushed as the signature layer.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a payload; `None` when it is not one (or its type is another).
    pub fn parse(bytes: &[u8]) -> Option<Payload> {
        serde_json::from_slice::<Payload>(bytes)
            .ok()
            .filter(|p| p.critical.kind == SIGNATURE_TYPE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_cosigns_shape() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let plain = Payload::new("reg.example/app", &digest, &BTreeMap::new());
        let value: serde_json::Value = serde_json::from_slice(&plain.to_bytes()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "critical": {
                    "identity": {"docker-reference": "reg.example/app"},
                    "image": {"docker-manifest-digest": digest},
                    "type": "cosign container image signature",
                },
                "optional": null,
            })
        );
        let annotated = Payload::new(
            "reg.example/app",
            &digest,
            &BTreeMap::from([("build".to_string(), "b1".to_string())]),
        );
        assert_eq!(Payload::parse(&annotated.to_bytes()), Some(annotated));
        assert_eq!(Payload::parse(b"{}"), None);
        assert_eq!(
            Payload::parse(br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"d"},"type":"other"}}"#),
            None
        );
    }
}
