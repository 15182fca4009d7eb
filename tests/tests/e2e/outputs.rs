// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The worker's outputs against a real registry and real clients: an image built by hand (a
//! layer from `LayerWriter`, a config) is pushed under two tags, written to an OCI layout
//! (unpacked by umoci) and a docker-archive (read by skopeo), with Kaniko's digest files and
//! our metadata file; a base layer living in another repository of the same registry is
//! mounted, not uploaded again; layer uploads started during a build are finished once.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use kaniko_common::oci::{self, OciMode};
use kaniko_common::platform::Platform;
use kaniko_image::layer::{EntryKind, LayerEntry, LayerOptions, LayerWriter};
use kaniko_tests::{Registry, init_test_tracing, skopeo_inspect_raw, umoci_unpack};
use kaniko_worker::blobs::BlobStore;
use kaniko_worker::image::{BlobLocation, Image, Layer};
use kaniko_worker::output::{LayerUploads, OutputOptions, write_outputs};
use oci_spec::image::{Arch, ImageConfigurationBuilder, Os};

/// A layer holding `app/` and `app/<name>` with `content`, written to a file in `dir`.
fn layer(dir: &Path, name: &str, content: &str) -> Layer {
    let mut writer = LayerWriter::to_temp_file(dir, LayerOptions::default()).unwrap();
    writer
        .append(&LayerEntry::new("app", EntryKind::Dir), None)
        .unwrap();
    let entry = LayerEntry::new(
        format!("app/{name}"),
        EntryKind::File {
            size: content.len() as u64,
        },
    );
    writer
        .append(&entry, Some(&mut content.as_bytes()))
        .unwrap();
    let (file, info) = writer.finish().unwrap();
    Layer {
        descriptor: info.descriptor(),
        diff_id: info.diff_id,
        location: BlobLocation::File(Arc::new(file.into_temp_path())),
    }
}

fn image(layers: Vec<Layer>) -> Image {
    let config = ImageConfigurationBuilder::default()
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .build()
        .unwrap();
    let mut image = Image {
        platform: Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        },
        config,
        layers: Vec::new(),
    };
    for layer in layers {
        image.push_layer(layer);
    }
    image
}

fn skopeo_inspect_archive(path: &Path) -> serde_json::Value {
    let output = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("docker-archive:{}", path.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo inspect docker-archive: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn an_image_is_pushed_under_two_tags_and_written_to_a_layout_a_tar_and_digest_files() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let work = tempfile::tempdir().unwrap();
    let finished = image(vec![layer(work.path(), "hello.txt", "hello\n")])
        .finish(OciMode::Oci)
        .unwrap();
    let blobs = BlobStore::new(work.path(), client.clone());
    let out = work.path().join("out");
    let opts = OutputOptions {
        destinations: vec![registry.reference("app:v1"), registry.reference("app:v2")],
        oci_layout_path: Some(out.join("layout")),
        tar_path: Some(out.join("image.tar")),
        digest_file: Some(out.join("digest")),
        image_name_with_digest_file: Some(out.join("names")),
        image_name_tag_with_digest_file: Some(out.join("name-tags")),
        metadata_file: Some(out.join("metadata.json")),
        ..OutputOptions::default()
    };
    let report = write_outputs(&finished, &opts, &client, &blobs)
        .await
        .unwrap();
    let digest = finished.manifest.digest.clone();
    assert_eq!(report.manifest, finished.manifest);
    let host = registry.host();
    assert_eq!(
        report.pushed,
        [
            format!("{host}/app:v1@{digest}"),
            format!("{host}/app:v2@{digest}")
        ]
    );

    // Both tags serve exactly our manifest.
    let ours: serde_json::Value = serde_json::from_slice(&finished.manifest_bytes).unwrap();
    for tag in ["v1", "v2"] {
        let raw = skopeo_inspect_raw(&format!("{host}/app:{tag}")).unwrap();
        assert_eq!(raw, ours, "{tag}");
        assert_eq!(raw["mediaType"], oci::OCI_MANIFEST);
    }

    // Digest files in Kaniko's formats.
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    assert_eq!(read("digest"), digest);
    assert_eq!(
        read("names"),
        format!("{host}/app@{digest}\n{host}/app@{digest}\n")
    );
    assert_eq!(
        read("name-tags"),
        format!("{host}/app:v1@{digest}\n{host}/app:v2@{digest}\n")
    );
    let metadata: serde_json::Value = serde_json::from_str(&read("metadata.json")).unwrap();
    assert_eq!(metadata["digest"], digest.as_str());
    assert_eq!(metadata["platform"], "linux/amd64");
    assert_eq!(metadata["configDigest"], finished.config.digest.as_str());
    assert_eq!(metadata["size"], finished.manifest.size);
    assert_eq!(
        metadata["layers"][0]["diffId"],
        finished.image.layers[0].diff_id.as_str()
    );
    assert_eq!(metadata["destinations"][1], format!("{host}/app:v2"));

    // The layout unpacks with umoci, files in place.
    let bundle = work.path().join("bundle");
    umoci_unpack(&out.join("layout"), "v1", &bundle).unwrap();
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/app/hello.txt")).unwrap(),
        "hello\n"
    );

    // The docker-archive is read by skopeo: platform and uncompressed layers (diff_ids).
    let inspected = skopeo_inspect_archive(&out.join("image.tar"));
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Os"], "linux");
    assert_eq!(
        inspected["Layers"],
        serde_json::json!([finished.image.layers[0].diff_id])
    );
}

#[tokio::test]
async fn a_base_layer_in_another_repository_is_mounted_not_uploaded_again() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let work = tempfile::tempdir().unwrap();
    // The "base image" layer lives in repository `base`.
    let base_layer = layer(work.path(), "base.txt", "from the base\n");
    let base_ref = registry.reference("base:1");
    let base_path = base_layer.location.path().unwrap().to_path_buf();
    client
        .push_blob_file(
            &base_ref,
            &base_path,
            &base_layer.descriptor.digest,
            base_layer.descriptor.size,
        )
        .await
        .unwrap();
    let remote = Layer {
        location: BlobLocation::Remote(base_ref.clone()),
        ..base_layer.clone()
    };
    let top = layer(work.path(), "top.txt", "ours\n");
    let finished = image(vec![remote, top]).finish(OciMode::Docker).unwrap();
    let blob_dir = work.path().join("build");
    let blobs = BlobStore::new(&blob_dir, client.clone());
    let base_hex = base_layer.descriptor.digest.trim_start_matches("sha256:");
    let opts = OutputOptions {
        destinations: vec![registry.reference("out:1")],
        tar_path: Some(work.path().join("image.tar")),
        ..OutputOptions::default()
    };
    let before_puts = registry.requests("PUT", &["/v2/out/blobs/uploads/", base_hex]);
    write_outputs(&finished, &opts, &client, &blobs)
        .await
        .unwrap();

    // Mounted from `base`: one mount request, no upload of its bytes into `out`.
    assert_eq!(
        registry.requests("POST", &["/v2/out/blobs/uploads/", "from=base", base_hex]),
        1
    );
    assert_eq!(
        registry.requests("PUT", &["/v2/out/blobs/uploads/", base_hex]),
        before_puts
    );
    assert!(
        client
            .blob_exists(&registry.reference("out:1"), &base_layer.descriptor.digest)
            .await
            .unwrap()
    );
    let raw = skopeo_inspect_raw(&format!("{}/out:1", registry.host())).unwrap();
    assert_eq!(raw["mediaType"], oci::DOCKER_MANIFEST);
    assert_eq!(
        raw["layers"][0]["digest"],
        base_layer.descriptor.digest.as_str()
    );

    // The tar needed the base layer's bytes: pulled once into the build's blob store, and
    // the archive holds both layers uncompressed.
    assert!(blob_dir.join("blobs").join(base_hex).is_file());
    let inspected = skopeo_inspect_archive(&work.path().join("image.tar"));
    let diff_ids: Vec<&str> = finished
        .image
        .layers
        .iter()
        .map(|l| l.diff_id.as_str())
        .collect();
    assert_eq!(inspected["Layers"], serde_json::json!(diff_ids));
}

#[tokio::test]
async fn layer_uploads_started_early_are_finished_once_and_counted() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let work = tempfile::tempdir().unwrap();
    let first = layer(work.path(), "first.txt", "first\n");
    let second = layer(work.path(), "second.txt", "second\n");
    let opts = OutputOptions {
        destinations: vec![registry.reference("early:1"), registry.reference("early:2")],
        ..OutputOptions::default()
    };
    let mut uploads = LayerUploads::for_outputs(&opts, &client).expect("something to push");
    uploads.offer(std::slice::from_ref(&first)).unwrap();
    // Once the first upload is done, offering again (the next instruction) looks at it.
    let target = registry.reference("early:1");
    for _ in 0..200 {
        if client
            .blob_exists(&target, &first.descriptor.digest)
            .await
            .unwrap()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    uploads.offer(&[first.clone(), second.clone()]).unwrap();
    let done = uploads.finish().await.unwrap();
    assert_eq!(
        done.overlapped, 2,
        "one upload per layer, the two tags share a repository"
    );
    let repository = format!("{}/early", registry.host());
    for l in [&first, &second] {
        assert!(
            done.done
                .contains(&(repository.clone(), l.descriptor.digest.clone()))
        );
        assert!(
            client
                .blob_exists(&target, &l.descriptor.digest)
                .await
                .unwrap()
        );
    }
    assert!(
        LayerUploads::for_outputs(
            &OutputOptions {
                no_push: true,
                ..opts
            },
            &client
        )
        .is_none(),
        "--no-push uploads nothing"
    );
}
