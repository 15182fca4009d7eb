// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A three-layer image written with the layer writer (one gzip layer, one zstd layer, one
//! empty layer) pushed to the real registry, pulled back by tag and by digest with every
//! digest and diff_id checked, then copied by skopeo and unpacked by umoci.

use std::collections::BTreeMap;
use std::path::Path;

use kaniko_common::oci::{self, Compression, Descriptor, Manifest, OciMode};
use kaniko_image::layer::{
    EntryKind, LayerEntry, LayerInfo, LayerOptions, LayerWriter, diff_id_of_layer,
};
use kaniko_registry::{BlobSource, Reference};
use kaniko_tests::{
    Registry, init_test_tracing, skopeo_copy_image, skopeo_inspect_raw, umoci_unpack,
};
use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder, RootFsBuilder};

struct Written {
    path: tempfile::TempPath,
    info: LayerInfo,
    compression: Compression,
}

fn write_layer(dir: &Path, compression: Compression, files: &[(&str, &str)]) -> Written {
    let opts = LayerOptions {
        compression,
        level: None,
        reproducible: false,
        mode: OciMode::Oci,
    };
    let mut writer = LayerWriter::to_temp_file(dir, opts).unwrap();
    for (path, content) in files {
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            writer
                .append(&LayerEntry::new(parent, EntryKind::Dir), None)
                .unwrap();
        }
        let entry = LayerEntry {
            mtime: 1_700_000_000,
            ..LayerEntry::new(
                *path,
                EntryKind::File {
                    size: content.len() as u64,
                },
            )
        };
        writer
            .append(&entry, Some(&mut content.as_bytes()))
            .unwrap();
    }
    let (file, info) = writer.finish().unwrap();
    Written {
        path: file.into_temp_path(),
        info,
        compression,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_layer_image_round_trips_through_the_registry() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let tmp = tempfile::tempdir().unwrap();

    let layers = [
        write_layer(
            tmp.path(),
            Compression::Gzip,
            &[
                ("app/hello.txt", "hello from gzip\n"),
                ("etc/motd", "gzip layer\n"),
            ],
        ),
        write_layer(
            tmp.path(),
            Compression::Zstd,
            &[("app/zstd.txt", "hello from zstd\n")],
        ),
        write_layer(tmp.path(), Compression::Gzip, &[]),
    ];
    assert!(layers[2].info.is_empty());
    assert_eq!(layers[1].info.media_type, oci::OCI_LAYER_ZSTD);

    let diff_ids: Vec<String> = layers.iter().map(|l| l.info.diff_id.clone()).collect();
    let config = ImageConfigurationBuilder::default()
        .architecture(oci_spec::image::Arch::Amd64)
        .os(oci_spec::image::Os::Linux)
        .config(
            ConfigBuilder::default()
                .cmd(vec!["/app/hello.txt".to_string()])
                .build()
                .unwrap(),
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids.clone())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let config_bytes = oci::config_bytes(&config).unwrap();
    let config_desc = Descriptor::for_bytes(oci::OCI_CONFIG, &config_bytes);

    let reference: Reference = registry.reference("roundtrip/app:v1");
    let mut sources: Vec<BlobSource> = layers
        .iter()
        .map(|l| BlobSource::File {
            path: l.path.to_path_buf(),
            digest: l.info.digest.clone(),
            size: l.info.size,
        })
        .collect();
    sources.push(BlobSource::Bytes(config_bytes.clone().into()));
    client.push_blobs(&reference, sources).await.unwrap();
    let layer_descs: Vec<Descriptor> = layers.iter().map(|l| l.info.descriptor()).collect();
    let manifest =
        oci::manifest_bytes(OciMode::Oci, &config_desc, &layer_descs, &BTreeMap::new()).unwrap();
    let digest = client
        .push_manifest_raw(&reference, manifest.clone(), oci::OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(digest, oci::sha256_digest(&manifest));

    // Pulled back by tag and by digest: the same bytes, the same digest.
    let by_digest: Reference = registry.reference(&format!("roundtrip/app@{digest}"));
    for r in [&reference, &by_digest] {
        let pulled = client.pull_manifest_raw(r).await.unwrap();
        assert_eq!(pulled.digest, digest, "{r}");
        assert_eq!(&pulled.bytes[..], &manifest[..], "{r}");
        assert_eq!(pulled.media_type, oci::OCI_MANIFEST);
        let Manifest::Image(parsed) =
            Manifest::parse(&pulled.bytes, Some(&pulled.media_type)).unwrap()
        else {
            panic!("{r} is not an image manifest");
        };
        assert_eq!(parsed.layers().len(), 3);
        assert_eq!(parsed.config().digest().to_string(), config_desc.digest);
    }

    // Every layer pulled back hashes to its digest (checked by the client) and its
    // uncompressed tar to the diff_id in the config.
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let out = tmp
            .path()
            .join(format!("pulled-{}", &layer.info.digest[7..19]));
        let mut file = tokio::fs::File::create(&out).await.unwrap();
        let n = client
            .pull_blob_to_writer(&by_digest, &layer.info.digest, &mut file)
            .await
            .unwrap();
        assert_eq!(n, layer.info.size);
        drop(file);
        let pulled_diff_id =
            diff_id_of_layer(std::fs::File::open(&out).unwrap(), layer.compression).unwrap();
        assert_eq!(&pulled_diff_id, diff_id);
    }
    let mut config_back = Vec::new();
    client
        .pull_blob_to_writer(&by_digest, &config_desc.digest, &mut config_back)
        .await
        .unwrap();
    assert_eq!(config_back, config_bytes);

    // Real clients: skopeo sees the manifest, copies the image into an OCI layout, umoci
    // unpacks it with every file in place.
    let raw = skopeo_inspect_raw(&reference.whole()).unwrap();
    assert_eq!(raw["layers"][1]["mediaType"], oci::OCI_LAYER_ZSTD);
    let layout = tmp.path().join("layout");
    // umoci 0.4 reads gzip layers only: skopeo recompresses the zstd layer on the way.
    skopeo_copy_image(
        &format!("docker://{}", reference.whole()),
        &format!("oci:{}:v1", layout.display()),
        None,
        &["--dest-compress-format", "gzip", "--dest-compress"],
    )
    .unwrap();
    let bundle = tmp.path().join("bundle");
    umoci_unpack(&layout, "v1", &bundle).unwrap();
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("app/hello.txt")).unwrap(),
        "hello from gzip\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("app/zstd.txt")).unwrap(),
        "hello from zstd\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/motd")).unwrap(),
        "gzip layer\n"
    );
}
