// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Base-image fixtures, written with the project's own code (layer writer, index builder,
//! registry client), never with skopeo or buildah: a busybox image made from the
//! busybox-static package's binary, pushed as a two-platform OCI index.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use kaniko_common::index::{IndexBuilder, IndexFormat};
use kaniko_common::oci::{self, Compression, Descriptor, OciMode};
use kaniko_common::platform::Platform;
use kaniko_image::layer::{EntryKind, LayerEntry, LayerInfo, LayerOptions, LayerWriter};
use kaniko_registry::{BlobSource, RegistryClient};
use oci_spec::image::{
    ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, RootFsBuilder,
};

use crate::Registry;

/// The platforms of the busybox fixture index, in index order.
pub const BUSYBOX_PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

/// `PATH` of the fixture's config, as in Docker's busybox image.
pub const BUSYBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `/etc/passwd` of the fixture.
pub const BUSYBOX_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
bin:x:2:2:bin:/bin:/bin/false\n\
nobody:x:65534:65534:nobody:/home:/bin/false\n";

/// `/etc/group` of the fixture.
pub const BUSYBOX_GROUP: &str = "root:x:0:\n\
daemon:x:1:\n\
bin:x:2:\n\
wheel:x:10:root\n\
nogroup:x:65534:\n";

/// A busybox index pushed to a registry.
#[derive(Debug, Clone)]
pub struct BusyboxImage {
    /// `<host>/<repository>:latest`, naming the index.
    pub reference: String,
    /// Digest of the index.
    pub index_digest: String,
    /// Each platform's manifest descriptor, in index order.
    pub children: Vec<(Platform, Descriptor)>,
    /// The one rootfs layer every child shares.
    pub layer: Descriptor,
    /// Its diff_id.
    pub diff_id: String,
    /// The applets linked to `/bin/busybox` (paths without a leading `/`).
    pub applets: Vec<PathBuf>,
}

/// The busybox-static binary on this machine.
pub fn busybox_binary() -> Result<PathBuf> {
    for candidate in ["/bin/busybox", "/usr/bin/busybox"] {
        let path = Path::new(candidate);
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
    }
    bail!("busybox is not installed (hack/deps.sh installs busybox-static)")
}

/// The applet paths busybox installs (`busybox --list-full`), without `bin/busybox` itself.
pub fn busybox_applets(busybox: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .with_context(|| format!("running {} --list-full", busybox.display()))?;
    if !out.status.success() {
        bail!("{} --list-full failed: {:?}", busybox.display(), out.status);
    }
    let mut applets: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_start_matches('/'))
        .filter(|l| !l.is_empty() && *l != "bin/busybox")
        .map(PathBuf::from)
        .collect();
    applets.sort();
    applets.dedup();
    Ok(applets)
}

/// Writes the busybox rootfs as one reproducible layer into a temporary file in `dir`.
pub fn busybox_layer(
    dir: &Path,
    compression: Compression,
) -> Result<(tempfile::TempPath, LayerInfo, Vec<PathBuf>)> {
    let busybox = busybox_binary()?;
    let applets = busybox_applets(&busybox)?;
    let opts = LayerOptions {
        compression,
        level: None,
        reproducible: true,
        mode: OciMode::Oci,
    };
    let mut writer = LayerWriter::to_temp_file(dir, opts)?;
    let dir_entry = |path: &str, mode: u32| LayerEntry {
        mode,
        ..LayerEntry::new(path, EntryKind::Dir)
    };
    let mut dirs: Vec<(String, u32)> = [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("sbin", 0o755),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("var", 0o755),
    ]
    .iter()
    .map(|(p, m)| (p.to_string(), *m))
    .collect();
    for applet in &applets {
        if let Some(parent) = applet.parent().and_then(Path::to_str)
            && !parent.is_empty()
            && !dirs.iter().any(|(d, _)| d == parent)
        {
            dirs.push((parent.to_string(), 0o755));
        }
    }
    dirs.sort();
    for (path, mode) in &dirs {
        writer.append(&dir_entry(path, *mode), None)?;
    }
    let size = std::fs::metadata(&busybox)?.len();
    let mut file = File::open(&busybox)?;
    let binary = LayerEntry {
        mode: 0o755,
        ..LayerEntry::new("bin/busybox", EntryKind::File { size })
    };
    writer.append(&binary, Some(&mut file))?;
    for (path, content) in [("etc/passwd", BUSYBOX_PASSWD), ("etc/group", BUSYBOX_GROUP)] {
        let entry = LayerEntry::new(
            path,
            EntryKind::File {
                size: content.len() as u64,
            },
        );
        writer.append(&entry, Some(&mut content.as_bytes()))?;
    }
    for applet in &applets {
        let entry = LayerEntry::new(
            applet.clone(),
            EntryKind::Symlink {
                target: PathBuf::from("/bin/busybox"),
            },
        );
        writer.append(&entry, None)?;
    }
    let (file, info) = writer.finish()?;
    Ok((file.into_temp_path(), info, applets))
}

/// The config of a busybox child for `platform`.
pub fn busybox_config(platform: &Platform, diff_id: &str) -> Result<ImageConfiguration> {
    let oci_platform = oci_spec::image::Platform::from(platform);
    let config = ConfigBuilder::default()
        .env(vec![format!("PATH={BUSYBOX_PATH}")])
        .cmd(vec!["sh".to_string()])
        .build()?;
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(vec![diff_id.to_string()])
        .build()?;
    let history = HistoryBuilder::default()
        .created_by("kaniko-rs test fixture: busybox-static rootfs")
        .build()?;
    let mut builder = ImageConfigurationBuilder::default()
        .architecture(oci_platform.architecture().clone())
        .os(oci_platform.os().clone())
        .config(config)
        .rootfs(rootfs)
        .history(vec![history]);
    if let Some(variant) = &platform.variant {
        builder = builder.variant(variant.clone());
    }
    Ok(builder.build()?)
}

/// Builds the busybox fixture and pushes it to `registry` as `<repository>:latest`: one shared
/// gzip rootfs layer, one config and manifest per platform of [`BUSYBOX_PLATFORMS`], and an
/// OCI index over them.
pub async fn push_busybox(registry: &Registry, repository: &str) -> Result<BusyboxImage> {
    let client = registry.client();
    push_busybox_with(&client, &registry.host(), repository).await
}

/// [`push_busybox`] with an explicit client and registry host.
pub async fn push_busybox_with(
    client: &RegistryClient,
    host: &str,
    repository: &str,
) -> Result<BusyboxImage> {
    let tmp = tempfile::tempdir()?;
    let (layer_path, info, applets) = busybox_layer(tmp.path(), Compression::Gzip)?;
    let reference: kaniko_registry::Reference = format!("{host}/{repository}:latest").parse()?;
    let layer = info.descriptor();
    client
        .push_blob_file(
            &reference,
            layer_path.to_path_buf(),
            &layer.digest,
            layer.size,
        )
        .await
        .context("pushing the busybox layer")?;

    let mut index = IndexBuilder::new(IndexFormat::Oci);
    let mut children = Vec::new();
    for platform in BUSYBOX_PLATFORMS {
        let platform = Platform::parse(platform)?;
        let config = busybox_config(&platform, &info.diff_id)?;
        let config_bytes = oci::config_bytes(&config)?;
        let config_desc = Descriptor::for_bytes(oci::OCI_CONFIG, &config_bytes);
        client
            .push_blobs(&reference, vec![BlobSource::Bytes(config_bytes.into())])
            .await
            .with_context(|| format!("pushing the {platform} config"))?;
        let manifest = oci::manifest_bytes(
            OciMode::Oci,
            &config_desc,
            std::slice::from_ref(&layer),
            &BTreeMap::new(),
        )?;
        let manifest_desc = Descriptor::for_bytes(oci::OCI_MANIFEST, &manifest);
        let by_digest: kaniko_registry::Reference =
            format!("{host}/{repository}@{}", manifest_desc.digest).parse()?;
        client
            .push_manifest_raw(&by_digest, manifest, oci::OCI_MANIFEST)
            .await
            .with_context(|| format!("pushing the {platform} manifest"))?;
        index.add(platform.clone(), manifest_desc.clone())?;
        children.push((platform, manifest_desc));
    }
    let built = index.build()?;
    let index_digest = client
        .push_manifest_raw(&reference, built.bytes.clone(), &built.media_type)
        .await
        .context("pushing the busybox index")?;
    Ok(BusyboxImage {
        reference: reference.whole(),
        index_digest,
        children,
        layer,
        diff_id: info.diff_id,
        applets,
    })
}

/// What a build test starts from (test tracing on): a fresh registry, the busybox fixture
/// pushed to its `fixtures/busybox`, and a scratch directory; panics (the test fails) when any
/// of it cannot be made.
pub async fn busybox_setup() -> (Registry, BusyboxImage, tempfile::TempDir) {
    crate::init_test_tracing();
    let registry = Registry::start().expect("start the registry");
    let base = push_busybox(&registry, "fixtures/busybox")
        .await
        .expect("push the busybox fixture");
    let tmp = tempfile::tempdir().expect("tempdir");
    (registry, base, tmp)
}
