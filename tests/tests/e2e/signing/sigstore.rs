// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The independent verifier of issue #16: the sigstore project's Rust crate (`sigstore`
//! 0.15, cosign's key and signature code; only as a dev-dependency) against ours, both ways,
//! through the real docker-registry.
//!
//! * A key pair sigstore made, its private key written in cosign's encrypted format by
//!   sigstore, loads with our key loader (a wrong password fails clearly); we sign the busybox
//!   fixture's manifest with it, and sigstore verifies every signature we stored (referrer and
//!   `.sig` tag: the payload blob against the signature annotation) with sigstore's public key.
//! * sigstore signs a simple-signing payload written here by hand the way cosign writes it;
//!   stored under cosign's `.sig` tag, our `verify` accepts it with the public key sigstore
//!   exported, and refuses it with another key.
//! * Our encrypted key format is one sigstore reads back.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kaniko_common::oci::{self, Descriptor, OciMode};
use kaniko_registry::{Reference, RegistryClient};
use kaniko_sign::{PublicKey, SigningKey, keys::encrypt_to_pem};
use kaniko_tests::Registry;
use kaniko_tests::fixture::push_busybox;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};

const PASSWORD: &[u8] = b"sigstore-made key, 2026";

/// The simple-signing payloads and signatures stored for `digest` in `repository` (`host/repo`),
/// read without our verify: the fallback referrers index and the `.sig` tag, walked here.
async fn stored_signatures(
    client: &RegistryClient,
    repository: &Reference,
    digest: &str,
) -> Vec<(String, Vec<u8>, String)> {
    let at = |tag_or_digest: &str| -> Reference {
        let separator = if tag_or_digest.starts_with("sha256:") {
            "@"
        } else {
            ":"
        };
        format!(
            "{}/{}{separator}{tag_or_digest}",
            repository.registry(),
            repository.repository()
        )
        .parse()
        .expect("reference")
    };
    let json = |bytes: &[u8]| -> serde_json::Value { serde_json::from_slice(bytes).expect("json") };
    let mut manifests = Vec::new();
    let fallback = client
        .pull_manifest_raw(&at(&kaniko_registry::fallback_tag(digest)))
        .await
        .expect("the fallback referrers index");
    for entry in json(&fallback.bytes)["manifests"]
        .as_array()
        .expect("manifests")
    {
        let digest = entry["digest"].as_str().expect("digest");
        manifests.push((format!("referrer {digest}"), at(digest)));
    }
    let tag = kaniko_sign::signature_tag(digest);
    manifests.push((format!("tag {tag}"), at(&tag)));
    let mut out = Vec::new();
    for (found_in, reference) in manifests {
        let manifest = client
            .pull_manifest_raw(&reference)
            .await
            .expect("manifest");
        for layer in json(&manifest.bytes)["layers"].as_array().expect("layers") {
            assert_eq!(
                layer["mediaType"],
                kaniko_sign::SIMPLE_SIGNING,
                "{found_in}"
            );
            let signature = layer["annotations"][kaniko_sign::SIGNATURE_ANNOTATION]
                .as_str()
                .expect("the signature annotation")
                .to_string();
            let mut payload = Vec::new();
            client
                .pull_blob_to_writer(&reference, layer["digest"].as_str().unwrap(), &mut payload)
                .await
                .expect("payload");
            out.push((found_in.clone(), payload, signature));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_verifies_our_signatures_and_we_verify_sigstores() {
    kaniko_tests::init_test_tracing();
    let registry = Registry::start().expect("registry");
    let busybox = push_busybox(&registry, "busybox").await.expect("fixture");
    let client = registry.client();
    let repository = registry.reference("busybox");
    let dir = tempfile::tempdir().expect("tempdir");
    let scheme = SigningScheme::ECDSA_P256_SHA256_ASN1;

    // A key pair made by sigstore, the private key in cosign's encrypted format as sigstore
    // writes it (`ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt + nacl/secretbox).
    let signer = scheme.create_signer().expect("a sigstore key");
    let pair = signer.to_sigstore_keypair().expect("key pair");
    let encrypted = pair
        .private_key_to_encrypted_pem(PASSWORD)
        .expect("sigstore encrypts its key");
    assert!(encrypted.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    let key_path = dir.path().join("cosign.key");
    std::fs::write(&key_path, encrypted.as_bytes()).expect("cosign.key");
    let public_pem = pair.public_key_to_pem().expect("public key");
    let sigstore_public =
        CosignVerificationKey::from_pem(public_pem.as_bytes(), &scheme).expect("verification key");
    let password = kaniko_sign::Password::new(std::str::from_utf8(PASSWORD).unwrap());
    let ours = SigningKey::load(&key_path, Some(&password)).expect("our loader reads it");
    assert_eq!(
        ours.public_key(),
        PublicKey::from_pem(&public_pem).expect("sigstore's public key reads"),
        "the key we loaded is the one sigstore made"
    );
    let wrong = SigningKey::load(&key_path, Some(&kaniko_sign::Password::new("guess")))
        .expect_err("a wrong password")
        .to_string();
    assert!(
        wrong.contains("wrong password") && wrong.contains("cosign.key"),
        "{wrong}"
    );
    assert!(!wrong.contains("guess"), "{wrong}");

    // We sign the first platform's manifest; sigstore checks what we stored, both copies.
    let (_, signed) = &busybox.children[0];
    kaniko_sign::sign(
        &client,
        &ours,
        &repository,
        signed,
        &BTreeMap::from([("purpose".to_string(), "interop".to_string())]),
    )
    .await
    .expect("sign");
    let stored = stored_signatures(&client, &repository, &signed.digest).await;
    assert_eq!(stored.len(), 2, "a referrer and the .sig tag");
    let other = scheme
        .create_signer()
        .expect("another key")
        .to_verification_key()
        .expect("its public key");
    for (found_in, payload, signature) in &stored {
        sigstore_public
            .verify_signature(Signature::Base64Encoded(signature.as_bytes()), payload)
            .unwrap_or_else(|err| panic!("sigstore refuses our signature in {found_in}: {err}"));
        assert!(
            other
                .verify_signature(Signature::Base64Encoded(signature.as_bytes()), payload)
                .is_err(),
            "another key must not verify it ({found_in})"
        );
        let payload: serde_json::Value = serde_json::from_slice(payload).expect("payload");
        assert_eq!(
            payload["critical"]["image"]["docker-manifest-digest"],
            signed.digest.as_str()
        );
        assert_eq!(
            payload["critical"]["identity"]["docker-reference"],
            format!("{}/busybox", registry.host())
        );
        assert_eq!(
            payload["critical"]["type"],
            "cosign container image signature"
        );
    }

    // sigstore signs the second platform's manifest; stored the way cosign stores it (a layer
    // under the `.sig` tag), our verify accepts it with sigstore's public key only.
    let (_, theirs) = &busybox.children[1];
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": format!("{}/busybox", registry.host())},
            "image": {"docker-manifest-digest": theirs.digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .expect("payload");
    let signature = STANDARD.encode(signer.sign(&payload).expect("sigstore signs"));
    let mut layer = Descriptor::for_bytes(kaniko_sign::SIMPLE_SIGNING, &payload);
    layer
        .annotations
        .insert(kaniko_sign::SIGNATURE_ANNOTATION.to_string(), signature);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    }))
    .expect("config");
    let config_descriptor = Descriptor::for_bytes(oci::OCI_CONFIG, &config);
    for blob in [payload.clone(), config] {
        client
            .push_blob_bytes(&repository, blob)
            .await
            .expect("blob");
    }
    let manifest = oci::manifest_bytes(
        OciMode::Oci,
        &config_descriptor,
        std::slice::from_ref(&layer),
        &BTreeMap::new(),
    )
    .expect("manifest");
    let sig_tag = registry.reference(&format!(
        "busybox:{}",
        kaniko_sign::signature_tag(&theirs.digest)
    ));
    client
        .push_manifest_raw(&sig_tag, manifest, oci::OCI_MANIFEST)
        .await
        .expect("the .sig tag");
    let sigstore_key = PublicKey::from_pem(&public_pem).expect("public key");
    let verified = kaniko_sign::verify(&client, &repository, &theirs.digest, &sigstore_key)
        .await
        .expect("our verify accepts sigstore's signature");
    assert!(verified.found_in.starts_with("tag "), "{verified:?}");
    let another = SigningKey::load(
        &{
            let path = dir.path().join("other.pem");
            let other = scheme
                .create_signer()
                .unwrap()
                .to_sigstore_keypair()
                .unwrap();
            std::fs::write(&path, other.private_key_to_pem().unwrap().as_bytes()).unwrap();
            path
        },
        None,
    )
    .expect("a plain PKCS#8 key sigstore wrote");
    let refused = kaniko_sign::verify(&client, &repository, &theirs.digest, &another.public_key())
        .await
        .expect_err("another key");
    assert!(refused.to_string().contains("wrong key"), "{refused}");

    // The other way round: sigstore reads the encrypted key format we write.
    let der = pair.private_key_to_der().expect("pkcs8 der");
    let ours_pem = encrypt_to_pem(&der, &password).expect("encrypt");
    let back = SigStoreKeyPair::from_encrypted_pem(ours_pem.as_bytes(), PASSWORD)
        .expect("sigstore reads our encrypted key");
    assert_eq!(back.public_key_to_pem().unwrap(), public_pem);
}
