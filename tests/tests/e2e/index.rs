// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The index builder against the real registry: an OCI image index and a Docker manifest list
//! over three platforms, pushed and read back by skopeo intact (media types, platforms,
//! order, annotations), and annotations on a Docker list refused before anything is pushed.

use std::collections::BTreeMap;

use kaniko_common::index::{IndexBuilder, IndexError, IndexFormat};
use kaniko_common::oci::{self, Compression, Descriptor, OciMode};
use kaniko_common::platform::Platform;
use kaniko_image::layer::{LayerOptions, LayerWriter};
use kaniko_registry::{BlobSource, RegistryClient, RegistryError};
use kaniko_tests::{Registry, init_test_tracing, skopeo_inspect_config, skopeo_inspect_raw};
use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder, RootFsBuilder};

/// Pushes a one-empty-layer image for `platform` in `mode` to `repository` by digest.
async fn push_child(
    client: &RegistryClient,
    registry: &Registry,
    repository: &str,
    platform: &Platform,
    mode: OciMode,
) -> Descriptor {
    let tmp = tempfile::tempdir().unwrap();
    let opts = LayerOptions {
        compression: Compression::Gzip,
        level: None,
        reproducible: true,
        mode,
    };
    let (file, layer) = LayerWriter::to_temp_file(tmp.path(), opts)
        .unwrap()
        .finish()
        .unwrap();
    let oci_platform = oci_spec::image::Platform::from(platform);
    let mut config = ImageConfigurationBuilder::default()
        .architecture(oci_platform.architecture().clone())
        .os(oci_platform.os().clone())
        .config(
            ConfigBuilder::default()
                .cmd(vec![format!("echo {platform}")])
                .build()
                .unwrap(),
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![layer.diff_id.clone()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    config.set_variant(platform.variant.clone());
    let config_bytes = oci::config_bytes(&config).unwrap();
    let config_desc = Descriptor::for_bytes(mode.config_media_type(), &config_bytes);
    let reference = registry.reference(repository);
    client
        .push_blobs(
            &reference,
            vec![
                BlobSource::File {
                    path: file.path().to_path_buf(),
                    digest: layer.digest.clone(),
                    size: layer.size,
                },
                BlobSource::Bytes(config_bytes.into()),
            ],
        )
        .await
        .unwrap();
    let manifest =
        oci::manifest_bytes(mode, &config_desc, &[layer.descriptor()], &BTreeMap::new()).unwrap();
    let desc = Descriptor::for_bytes(mode.manifest_media_type(), &manifest);
    let by_digest = registry.reference(&format!("{repository}@{}", desc.digest));
    client
        .push_manifest_raw(&by_digest, manifest, mode.manifest_media_type())
        .await
        .unwrap();
    desc
}

fn platforms() -> Vec<Platform> {
    // Added out of order on purpose: the index must come out ordered all the same.
    ["linux/arm/v7", "linux/arm64", "linux/amd64"]
        .iter()
        .map(|p| Platform::parse(p).unwrap())
        .collect()
}

fn platform_of(entry: &serde_json::Value) -> String {
    let p = &entry["platform"];
    let mut s = format!(
        "{}/{}",
        p["os"].as_str().unwrap(),
        p["architecture"].as_str().unwrap()
    );
    if let Some(v) = p["variant"].as_str() {
        s = format!("{s}/{v}");
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_index_and_docker_list_of_three_platforms_survive_the_registry() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();

    for (format, mode, tag) in [
        (IndexFormat::Oci, OciMode::Oci, "oci"),
        (IndexFormat::DockerList, OciMode::Docker, "docker"),
    ] {
        let mut builder = IndexBuilder::new(format);
        let mut children = BTreeMap::new();
        for platform in platforms() {
            let desc = push_child(&client, &registry, "multi/app", &platform, mode).await;
            children.insert(platform.to_string(), desc.digest.clone());
            builder.add(platform, desc).unwrap();
        }
        if format == IndexFormat::Oci {
            let annotations = BTreeMap::from([
                (
                    "org.opencontainers.image.source".to_string(),
                    "https://example.invalid/app".to_string(),
                ),
                (
                    "org.opencontainers.image.revision".to_string(),
                    "abc123".to_string(),
                ),
            ]);
            builder.annotations(annotations).unwrap();
        }
        let built = builder.build().unwrap();
        let reference = registry.reference(&format!("multi/app:{tag}"));
        let digest = client
            .push_manifest_raw(&reference, built.bytes.clone(), &built.media_type)
            .await
            .unwrap();
        assert_eq!(digest, built.digest);

        let raw = skopeo_inspect_raw(&reference.whole()).unwrap();
        assert_eq!(raw["mediaType"], format.media_type(), "{raw:#}");
        assert_eq!(raw["schemaVersion"], 2);
        let manifests = raw["manifests"].as_array().unwrap();
        let order: Vec<String> = manifests.iter().map(platform_of).collect();
        assert_eq!(
            order,
            ["linux/amd64", "linux/arm/v7", "linux/arm64"],
            "{tag}"
        );
        for entry in manifests {
            assert_eq!(entry["mediaType"], mode.manifest_media_type(), "{tag}");
            assert_eq!(
                entry["digest"].as_str().unwrap(),
                children[&platform_of(entry)],
                "{tag}"
            );
        }
        match format {
            IndexFormat::Oci => {
                assert_eq!(
                    raw["annotations"]["org.opencontainers.image.revision"],
                    "abc123"
                );
            }
            IndexFormat::DockerList => assert!(raw.get("annotations").is_none(), "{raw:#}"),
        }
        // Each child resolves through the index to a config naming its architecture.
        let config = skopeo_inspect_config(&reference.whole(), Some("arm64")).unwrap();
        assert_eq!(config["architecture"], "arm64", "{tag}");
    }

    // Annotations on a Docker list: refused, with the format named, and nothing pushed.
    let mut list = IndexBuilder::new(IndexFormat::DockerList);
    for platform in platforms() {
        let desc = push_child(
            &client,
            &registry,
            "multi/refused",
            &platform,
            OciMode::Docker,
        )
        .await;
        list.add(platform, desc).unwrap();
    }
    let err = list
        .annotations(BTreeMap::from([("a".to_string(), "b".to_string())]))
        .unwrap_err();
    assert!(
        matches!(err, IndexError::AnnotationsUnsupported { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("docker"), "{err}");
    let missing = client
        .pull_manifest_raw(&registry.reference("multi/refused:latest"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, RegistryError::NotFound { .. }),
        "{missing:?}"
    );
}
