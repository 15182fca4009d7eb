// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The busybox fixture as real clients see it: an OCI index with linux/amd64 and linux/arm64
//! whose children's configs name their architecture, and a rootfs umoci can unpack.

use kaniko_tests::fixture::{BUSYBOX_PASSWD, BUSYBOX_PLATFORMS, push_busybox};
use kaniko_tests::{
    Registry, init_test_tracing, skopeo_copy_image, skopeo_inspect_config, skopeo_inspect_raw,
    umoci_unpack,
};

#[tokio::test(flavor = "multi_thread")]
async fn busybox_fixture_is_a_two_platform_oci_index() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let image = push_busybox(&registry, "fixtures/busybox").await.unwrap();

    let raw = skopeo_inspect_raw(&image.reference).unwrap();
    assert_eq!(
        raw["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{raw:#}"
    );
    assert_eq!(raw["schemaVersion"], 2);
    let manifests = raw["manifests"].as_array().unwrap();
    assert_eq!(kaniko_tests::index_platforms(&raw), BUSYBOX_PLATFORMS);
    for m in manifests {
        assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    }

    for arch in ["arm64", "amd64"] {
        let config = skopeo_inspect_config(&image.reference, Some(arch)).unwrap();
        assert_eq!(config["architecture"], arch, "{config:#}");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["rootfs"]["diff_ids"][0], image.diff_id.as_str());
        assert_eq!(config["config"]["Cmd"][0], "sh");
    }

    // The rootfs unpacks with a real client and has what a busybox base needs.
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    skopeo_copy_image(
        &format!("docker://{}", image.reference),
        &format!("oci:{}:latest", layout.display()),
        Some("arm64"),
        &[],
    )
    .unwrap();
    let bundle = dir.path().join("bundle");
    umoci_unpack(&layout, "latest", &bundle).unwrap();
    let rootfs = bundle.join("rootfs");
    let busybox = std::fs::metadata(rootfs.join("bin/busybox")).unwrap();
    assert!(busybox.is_file() && busybox.len() > 100_000);
    assert_eq!(
        std::fs::read_link(rootfs.join("bin/sh")).unwrap(),
        std::path::Path::new("/bin/busybox")
    );
    assert!(
        image
            .applets
            .iter()
            .any(|a| a == std::path::Path::new("bin/sh"))
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap(),
        BUSYBOX_PASSWD
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(rootfs.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    assert_eq!(
        std::fs::metadata(rootfs.join("root"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o700
    );
}
