// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of OCI image layouts: the files on disk after writing a small image, reopening,
//! reference names, verification and refused digests.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::*;
use crate::layer::{EntryKind, LayerEntry, LayerOptions, LayerWriter};
use kaniko_common::oci::{
    OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, OciMode, manifest_bytes, sha256_digest,
};

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn hex(digest: &str) -> &str {
    digest.split_once(':').unwrap().1
}

/// Writes a one-layer image (layer streamed to a temp file, then moved in) and returns the
/// manifest descriptor.
fn write_image(layout: &OciLayout, scratch: &Path, content: &[u8]) -> Descriptor {
    let mut w = LayerWriter::to_temp_file(scratch, LayerOptions::default()).unwrap();
    w.append(
        &LayerEntry::new(
            "hello.txt",
            EntryKind::File {
                size: content.len() as u64,
            },
        ),
        Some(&mut &content[..]),
    )
    .unwrap();
    let (tmp, info) = w.finish().unwrap();
    layout
        .write_blob_from_file(tmp.path(), &info.digest, info.size)
        .unwrap();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        info.diff_id
    );
    let config = layout.write_blob(OCI_CONFIG, config.as_bytes()).unwrap();
    let manifest = manifest_bytes(
        OciMode::Oci,
        &config,
        &[info.descriptor()],
        &BTreeMap::new(),
    )
    .unwrap();
    layout.write_blob(OCI_MANIFEST, &manifest).unwrap()
}

#[test]
fn create_writes_the_layout_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    OciLayout::create(&root).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index = json(&root.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    assert_eq!(index["manifests"], serde_json::json!([]));
    assert!(root.join("blobs/sha256").is_dir());
    let mode = fs::metadata(root.join("index.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn a_small_image_lands_on_disk_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir_in(dir.path()).unwrap();
    let root = dir.path().join("layout");
    let layout = OciLayout::create(&root).unwrap();
    let manifest = write_image(&layout, scratch.path(), b"hello\n");
    layout.add_manifest(&manifest, Some("latest")).unwrap();

    // Files on disk: every blob under its hex, each hashing to its name.
    let manifest_path = root.join("blobs/sha256").join(hex(&manifest.digest));
    let m = json(&manifest_path);
    let mut blobs = vec![
        manifest.digest.clone(),
        m["config"]["digest"].as_str().unwrap().to_owned(),
    ];
    blobs.push(m["layers"][0]["digest"].as_str().unwrap().to_owned());
    assert_eq!(m["layers"][0]["mediaType"], OCI_LAYER_GZIP);
    for digest in &blobs {
        let bytes = fs::read(root.join("blobs/sha256").join(hex(digest))).unwrap();
        assert_eq!(&sha256_digest(&bytes), digest);
    }
    assert_eq!(fs::read_dir(root.join("blobs/sha256")).unwrap().count(), 3);
    // No temporary files left in the root, and the layer's temp file was moved, not copied.
    let names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["blobs", "index.json", "oci-layout"]);
    assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 0);

    let index = json(&root.join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], manifest.digest.as_str());
    assert_eq!(
        index["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
        "latest"
    );

    let reopened = OciLayout::open(&root).unwrap();
    let resolved = reopened.resolve("latest").unwrap();
    assert_eq!(
        (resolved.digest.as_str(), resolved.size),
        (manifest.digest.as_str(), manifest.size)
    );
    assert_eq!(
        reopened.read_blob(&manifest.digest).unwrap(),
        fs::read(&manifest_path).unwrap()
    );
    // create on an existing layout keeps what is there.
    let again = OciLayout::create(&root).unwrap();
    assert_eq!(again.resolve("latest").unwrap().digest, manifest.digest);
}

#[test]
fn reference_names_replace_and_accumulate() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path().join("l")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let first = write_image(&layout, scratch.path(), b"one");
    let second = write_image(&layout, scratch.path(), b"two");

    // (ref name, descriptor added) → digests listed afterwards, in order
    let steps: [(Option<&str>, &Descriptor, Vec<&str>); 5] = [
        (Some("latest"), &first, vec![&first.digest]),
        (Some("latest"), &second, vec![&second.digest]),
        (Some("v1"), &first, vec![&second.digest, &first.digest]),
        (
            None,
            &first,
            vec![&second.digest, &first.digest, &first.digest],
        ),
        (
            None,
            &first,
            vec![&second.digest, &first.digest, &first.digest],
        ),
    ];
    for (ref_name, descriptor, expected) in steps {
        layout.add_manifest(descriptor, ref_name).unwrap();
        let listed: Vec<String> = layout
            .index()
            .unwrap()
            .manifests()
            .iter()
            .map(|m| m.digest().to_string())
            .collect();
        assert_eq!(listed, expected, "after adding {ref_name:?}");
    }
    assert_eq!(layout.resolve("latest").unwrap().digest, second.digest);
    assert_eq!(layout.resolve("v1").unwrap().digest, first.digest);
    let err = layout.resolve("v2").unwrap_err();
    assert!(err.to_string().contains("\"v2\""), "{err}");
}

#[test]
fn bad_digests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    fn check(layout: &OciLayout, digest: &str) {
        let err = layout.blob_path(digest).unwrap_err();
        assert!(err.to_string().contains(digest), "{err}");
        assert!(layout.open_blob(digest).is_err());
        assert!(layout.read_blob(digest).is_err());
        assert!(
            layout
                .write_blob_from_reader(&b"x"[..], digest, None)
                .is_err()
        );
    }
    check(&layout, "sha256:../../../etc/passwd");
    check(&layout, &format!("sha256:{}", "A".repeat(64)));
    check(&layout, "sha256:abc");
    check(&layout, "md5:d41d8cd98f00b204e9800998ecf8427e");
    check(&layout, "");
    let sha512 = format!("sha512:{}", "a".repeat(128));
    assert!(
        layout
            .blob_path(&sha512)
            .unwrap()
            .ends_with(format!("blobs/sha512/{}", "a".repeat(128)))
    );
}

#[test]
fn content_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();

    // A stream that does not match its digest leaves nothing behind.
    let claimed = sha256_digest(b"expected");
    let err = layout
        .write_blob_from_reader(&b"something else"[..], &claimed, None)
        .unwrap_err();
    assert!(matches!(err, LayoutError::DigestMismatch { .. }), "{err}");
    assert!(!layout.has_blob(&claimed).unwrap());
    let err = layout
        .write_blob_from_reader(&b"expected"[..], &claimed, Some(9))
        .unwrap_err();
    assert!(err.to_string().contains("8 bytes, expected 9"), "{err}");
    assert_eq!(
        layout
            .write_blob_from_reader(&b"expected"[..], &claimed, Some(8))
            .unwrap(),
        8
    );
    assert_eq!(layout.read_blob(&claimed).unwrap(), b"expected");

    // A blob corrupted on disk is caught when read.
    fs::write(layout.blob_path(&claimed).unwrap(), b"tampered").unwrap();
    let err = layout.read_blob(&claimed).unwrap_err();
    assert!(err.to_string().contains(&claimed), "{err}");

    // A file whose size is not the one claimed is not moved in.
    let file = dir.path().join("loose");
    fs::write(&file, b"12345").unwrap();
    let digest = sha256_digest(b"12345");
    let err = layout.write_blob_from_file(&file, &digest, 4).unwrap_err();
    assert!(err.to_string().contains("5 bytes, expected 4"), "{err}");
    assert!(file.exists());

    let missing = sha256_digest(b"never written");
    assert!(matches!(
        layout.open_blob(&missing),
        Err(LayoutError::BlobNotFound { .. })
    ));
}

#[test]
fn index_entries_must_exist_and_be_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let missing = Descriptor::for_bytes(OCI_MANIFEST, b"{}");
    let err = layout.add_manifest(&missing, Some("x")).unwrap_err();
    assert!(err.to_string().contains(&missing.digest), "{err}");
    let layer = layout
        .write_blob(OCI_LAYER_GZIP, b"not a manifest")
        .unwrap();
    let err = layout.add_manifest(&layer, None).unwrap_err();
    assert!(err.to_string().contains(OCI_LAYER_GZIP), "{err}");
}

#[test]
fn open_refuses_what_is_not_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let err = OciLayout::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("no oci-layout file"), "{err}");
    fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    let err = OciLayout::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("2.0.0"), "{err}");
    fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(dir.path().join("index.json"), "{").unwrap();
    let err = OciLayout::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("index.json"), "{err}");
}
