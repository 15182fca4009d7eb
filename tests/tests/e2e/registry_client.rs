// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The registry client against a real distribution registry: blob pushes that skip what the
//! registry has, digest-verified pulls that catch corrupted storage, manifests pushed by tag
//! and by digest and pulled back (and judged by skopeo), platform resolution through an
//! index, mounts and deletes; and retries through a fault-injecting proxy.

use kaniko_common::oci;
use kaniko_common::platform::Platform;
use kaniko_registry::{
    BlobPush, BlobSource, RegistryClient, RegistryError, RegistryOptions, RetryPolicy,
};
use kaniko_tests::{FaultPlan, FaultProxy, Registry, init_test_tracing, skopeo_inspect_raw};
use sha2::{Digest, Sha256};

fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// Deterministic, incompressible-looking bytes.
fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Upload sessions the registry opened (`POST .../blobs/uploads/`), from its request log.
fn upload_sessions(registry: &Registry, repository: &str) -> usize {
    registry.requests("POST", &[&format!("/v2/{repository}/blobs/uploads/")])
}

fn platform(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: os.to_string(),
        architecture: architecture.to_string(),
        variant: variant.map(str::to_string),
    }
}

/// An OCI image manifest for a config and layers `(digest, size)`.
fn image_manifest(config: (&str, usize), layers: &[(&str, usize)], note: &str) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(digest, size)| {
            serde_json::json!({"mediaType": oci::OCI_LAYER_GZIP, "digest": digest, "size": size})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci::OCI_MANIFEST,
        "config": {"mediaType": oci::OCI_CONFIG, "digest": config.0, "size": config.1},
        "layers": layers,
        "annotations": {"note": note},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_blob_already_in_the_registry_is_not_uploaded_again() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let reference = registry.reference("blobs/skip:1");
    let dir = tempfile::tempdir().unwrap();
    let data = content(700 * 1024, 1);
    let path = dir.path().join("layer.tar.gz");
    std::fs::write(&path, &data).unwrap();
    let digest = sha256(&data);

    let first = client
        .push_blob_file(&reference, &path, &digest, data.len() as u64)
        .await
        .unwrap();
    assert_eq!(first.outcome, BlobPush::Uploaded);
    assert_eq!(
        upload_sessions(&registry, "blobs/skip"),
        1,
        "{}",
        registry.logs()
    );

    let second = client
        .push_blob_file(&reference, &path, &digest, data.len() as u64)
        .await
        .unwrap();
    assert_eq!(second.outcome, BlobPush::Skipped);
    assert_eq!(
        upload_sessions(&registry, "blobs/skip"),
        1,
        "{}",
        registry.logs()
    );

    let mut pulled = Vec::new();
    let n = client
        .pull_blob_to_writer(&reference, &digest, &mut pulled)
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(pulled == data, "pulled content differs");
}

#[tokio::test]
async fn several_blobs_go_up_together_and_a_wrong_size_is_caught_before_sending() {
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let reference = registry.reference("blobs/many:1");
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    let mut expected = Vec::new();
    for seed in 0..6u8 {
        let data = content(50_000 + usize::from(seed) * 1000, seed);
        let path = dir.path().join(format!("layer-{seed}"));
        std::fs::write(&path, &data).unwrap();
        expected.push(sha256(&data));
        sources.push(BlobSource::File {
            path,
            digest: sha256(&data),
            size: data.len() as u64,
        });
    }
    sources.push(BlobSource::Bytes(b"{}".to_vec().into()));
    expected.push(sha256(b"{}"));
    let pushed = client.push_blobs(&reference, sources).await.unwrap();
    let digests: Vec<String> = pushed.iter().map(|p| p.digest.clone()).collect();
    assert_eq!(digests, expected);
    for digest in &expected {
        assert!(
            client.blob_exists(&reference, digest).await.unwrap(),
            "{digest}"
        );
    }

    let path = dir.path().join("layer-0");
    let size = std::fs::metadata(&path).unwrap().len();
    let other = sha256(b"not this file");
    let err = client
        .push_blob_file(&reference, &path, &other, size + 1)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Io { .. }), "{err}");
    assert!(err.to_string().contains("layer-0"), "{err}");
}

#[tokio::test]
async fn corrupted_blobs_and_manifests_are_detected_on_pull() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let reference = registry.reference("corrupt/app:1");
    let data = content(100_000, 7);
    let blob = client
        .push_blob_bytes(&reference, data.clone())
        .await
        .unwrap();

    let mut flipped = data.clone();
    flipped[50_000] ^= 0xff;
    std::fs::write(registry.blob_data_path(&blob.digest), &flipped).unwrap();
    let err = client
        .pull_blob_to_writer(&reference, &blob.digest, Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert!(err.to_string().contains(&blob.digest), "{err}");

    let config = client
        .push_blob_bytes(&reference, &b"{}"[..])
        .await
        .unwrap();
    let manifest = image_manifest((&config.digest, 2), &[], "corrupt");
    let digest = client
        .push_manifest_raw(&reference, manifest.clone(), oci::OCI_MANIFEST)
        .await
        .unwrap();
    // Still valid JSON (the registry parses what it serves), but not the pushed bytes.
    let bad = String::from_utf8(manifest.clone())
        .unwrap()
        .replace("corrupt", "CORRUPT");
    std::fs::write(registry.blob_data_path(&digest), &bad).unwrap();
    let by_digest = registry.reference(&format!("corrupt/app@{digest}"));
    let err = client.pull_manifest_raw(&by_digest).await.unwrap_err();
    assert!(matches!(err, RegistryError::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("digest mismatch"), "{err}");

    let missing = sha256(b"never pushed");
    let err = client
        .pull_blob_to_writer(&reference, &missing, Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn manifests_pushed_by_tag_and_by_digest_come_back_identical() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let tagged = registry.reference("manifests/app:v1");
    let config = client.push_blob_bytes(&tagged, &b"{}"[..]).await.unwrap();
    let layer = client
        .push_blob_bytes(&tagged, content(4096, 3))
        .await
        .unwrap();
    let manifest = image_manifest((&config.digest, 2), &[(&layer.digest, 4096)], "by tag");

    let digest = client
        .push_manifest_raw(&tagged, manifest.clone(), oci::OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(digest, sha256(&manifest));
    let pulled = client.pull_manifest_raw(&tagged).await.unwrap();
    assert_eq!(pulled.bytes.as_ref(), manifest.as_slice());
    assert_eq!(pulled.media_type, oci::OCI_MANIFEST);
    assert_eq!(pulled.digest, digest);
    let by_digest = registry.reference(&format!("manifests/app@{digest}"));
    assert_eq!(client.pull_manifest_raw(&by_digest).await.unwrap(), pulled);
    let seen_by_skopeo = skopeo_inspect_raw(&tagged.whole()).unwrap();
    assert_eq!(seen_by_skopeo["annotations"]["note"], "by tag");
    assert_eq!(seen_by_skopeo["layers"][0]["digest"], layer.digest.as_str());

    let second = image_manifest((&config.digest, 2), &[], "by digest");
    let second_digest = sha256(&second);
    let second_ref = registry.reference(&format!("manifests/app@{second_digest}"));
    let pushed = client
        .push_manifest_raw(&second_ref, second.clone(), oci::OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(pushed, second_digest);
    assert_eq!(
        client
            .pull_manifest_raw(&second_ref)
            .await
            .unwrap()
            .bytes
            .as_ref(),
        second.as_slice()
    );
    // The tag still names the first manifest.
    assert_eq!(
        client.pull_manifest_raw(&tagged).await.unwrap().digest,
        digest
    );

    let err = client
        .push_manifest_raw(&second_ref, manifest.clone(), oci::OCI_MANIFEST)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Protocol { .. }), "{err}");

    client.delete_manifest(&second_ref).await.unwrap();
    let err = client.pull_manifest_raw(&second_ref).await.unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    let err = client
        .pull_manifest_raw(&registry.reference("manifests/app:nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn an_index_resolves_to_the_platforms_image_and_names_what_is_available() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let reference = registry.reference("resolve/base:latest");
    let mut children = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let config = format!(r#"{{"architecture":"{arch}","os":"linux"}}"#);
        let config = client
            .push_blob_bytes(&reference, config.into_bytes())
            .await
            .unwrap();
        let layer = client
            .push_blob_bytes(&reference, content(1000, arch.len() as u8))
            .await
            .unwrap();
        let manifest = image_manifest(
            (&config.digest, config.size as usize),
            &[(&layer.digest, 1000)],
            arch,
        );
        let child_ref = registry.reference(&format!("resolve/base@{}", sha256(&manifest)));
        let digest = client
            .push_manifest_raw(&child_ref, manifest.clone(), oci::OCI_MANIFEST)
            .await
            .unwrap();
        let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(variant) = variant {
            platform["variant"] = variant.into();
        }
        children.push(serde_json::json!({
            "mediaType": oci::OCI_MANIFEST, "digest": digest, "size": manifest.len(), "platform": platform,
        }));
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": oci::OCI_INDEX, "manifests": children,
    }))
    .unwrap();
    let index_digest = client
        .push_manifest_raw(&reference, index, oci::OCI_INDEX)
        .await
        .unwrap();

    let image = client
        .resolve_image(&reference, &platform("linux", "arm64", None))
        .await
        .unwrap();
    assert_eq!(image.index_digest.as_deref(), Some(index_digest.as_str()));
    assert_eq!(
        image.manifest_digest,
        children[1]["digest"].as_str().unwrap()
    );
    assert_eq!(image.media_type, oci::OCI_MANIFEST);
    assert_eq!(
        image.config.as_ref(),
        br#"{"architecture":"arm64","os":"linux"}"#
    );
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].size, 1000);

    let err = client
        .resolve_image(&reference, &platform("linux", "s390x", None))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    let message = err.to_string();
    for part in [
        "linux/s390x",
        "linux/amd64, linux/arm64",
        "resolve/base:latest",
    ] {
        assert!(message.contains(part), "{message} lacks {part}");
    }

    let single = registry.reference(&format!("resolve/base@{}", image.manifest_digest));
    let direct = client
        .resolve_image(&single, &platform("linux", "arm64", None))
        .await
        .unwrap();
    assert_eq!(direct.index_digest, None);
    assert_eq!(direct.config, image.config);
}

#[tokio::test]
async fn blobs_mount_across_repositories_and_unknown_ones_are_declined() {
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let source = registry.reference("mount/source:1");
    let target = registry.reference("mount/target:1");
    let blob = client
        .push_blob_bytes(&source, content(2048, 9))
        .await
        .unwrap();
    assert!(!client.blob_exists(&target, &blob.digest).await.unwrap());
    assert!(
        client
            .mount_blob(&target, "mount/source", &blob.digest)
            .await
            .unwrap()
    );
    assert!(client.blob_exists(&target, &blob.digest).await.unwrap());
    let unknown = sha256(b"nowhere");
    assert!(
        !client
            .mount_blob(&target, "mount/source", &unknown)
            .await
            .unwrap()
    );
}

/// A client reaching the registry through `proxy`, with `attempts` fast attempts.
fn client_through(registry: &Registry, proxy: &FaultProxy, attempts: u32) -> RegistryClient {
    RegistryClient::new(RegistryOptions {
        insecure_registries: vec![proxy.host()],
        retry: RetryPolicy::fast(attempts),
        ..registry.options()
    })
    .unwrap()
}

#[tokio::test]
async fn three_503s_are_retried_and_the_push_succeeds() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(registry.addr(), FaultPlan::FailFirst { n: 3, status: 503 })
        .await
        .unwrap();
    let client = client_through(&registry, &proxy, 5);
    let reference =
        kaniko_registry::Reference::try_from(format!("{}/retry/fail:1", proxy.host())).unwrap();
    let pushed = client
        .push_blob_bytes(&reference, content(10_000, 4))
        .await
        .unwrap();
    assert_eq!(pushed.outcome, BlobPush::Uploaded);
    assert_eq!(proxy.faulted(), 3);
    let direct = registry.client();
    assert!(
        direct
            .blob_exists(&registry.reference("retry/fail:1"), &pushed.digest)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn reset_connections_are_retried_and_the_push_succeeds() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(registry.addr(), FaultPlan::ResetFirst { n: 2 })
        .await
        .unwrap();
    let client = client_through(&registry, &proxy, 5);
    let reference =
        kaniko_registry::Reference::try_from(format!("{}/retry/reset:1", proxy.host())).unwrap();
    let pushed = client
        .push_blob_bytes(&reference, content(10_000, 5))
        .await
        .unwrap();
    assert_eq!(pushed.outcome, BlobPush::Uploaded);
    assert_eq!(proxy.faulted(), 2);
}

#[tokio::test]
async fn more_failures_than_attempts_give_a_transient_error_after_exactly_max_attempts() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(
        registry.addr(),
        FaultPlan::FailFirst {
            n: 100,
            status: 503,
        },
    )
    .await
    .unwrap();
    let client = client_through(&registry, &proxy, 4);
    let reference =
        kaniko_registry::Reference::try_from(format!("{}/retry/exhaust:1", proxy.host())).unwrap();
    let err = client
        .push_blob_bytes(&reference, content(100, 6))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(proxy.faulted(), 4);
}

#[tokio::test]
async fn unauthorized_fails_at_once_without_retries() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(registry.addr(), FaultPlan::Always { status: 401 })
        .await
        .unwrap();
    let client = client_through(&registry, &proxy, 5);
    let reference =
        kaniko_registry::Reference::try_from(format!("{}/retry/denied:1", proxy.host())).unwrap();
    let err = client
        .push_blob_bytes(&reference, content(100, 8))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("retry/denied"), "{err}");
    assert_eq!(proxy.faulted(), 1);
}
