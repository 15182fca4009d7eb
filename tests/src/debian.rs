// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The Debian bookworm base fixture: a `debootstrap --variant=minbase` root filesystem from
//! Debian's own packages, written once per machine as one gzip layer (with the project's layer
//! writer) into a cache directory that survives runs, and pushed to a test registry as a
//! single-platform OCI image. Also the tiny local `.deb` the RUN suite installs without
//! network, and a generic single-platform image push used for crafted base images.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use kaniko_common::oci::{self, Compression, Descriptor, OciMode};
use kaniko_common::platform::Platform;
use kaniko_image::layer::{LayerOptions, LayerWriter};
use kaniko_registry::{BlobSource, Reference, RegistryClient};
use oci_spec::image::{
    ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, RootFsBuilder,
};
use serde::{Deserialize, Serialize};

use crate::Registry;
use crate::tree::remove_dir_all_force;

/// The Debian release of the fixture.
pub const DEBIAN_SUITE: &str = "bookworm";

/// `PATH` of the fixture's config, as in Docker's debian images.
pub const DEBIAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The mirror used when neither the environment nor apt's sources name one.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Overrides the mirror debootstrap downloads from.
pub const MIRROR_ENV: &str = "KANIKO_TEST_DEBIAN_MIRROR";

/// Overrides the cache directory (default [`DEFAULT_CACHE_DIR`]).
pub const CACHE_ENV: &str = "KANIKO_TEST_CACHE";

/// Where fixtures that take long to make are kept between runs.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/kaniko-rs";

/// Bump when the way the rootfs is made or cleaned changes: an old cache is then rebuilt.
const RECIPE_VERSION: u32 = 1;

/// The Debian base layer as cached on this machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DebianLayer {
    /// The gzip layer blob.
    pub path: PathBuf,
    /// `sha256:` of the blob.
    pub digest: String,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Size of the blob.
    pub size: u64,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Entries in the tar.
    pub entries: u64,
    /// The mirror it was bootstrapped from.
    pub mirror: String,
    /// How long debootstrap took.
    pub debootstrap_secs: f64,
    /// How long writing the layer took.
    pub layer_secs: f64,
    /// The recipe version it was made with.
    pub recipe: u32,
}

/// The Debian image pushed to a registry.
#[derive(Debug, Clone)]
pub struct DebianImage {
    /// `<host>/<repository>:latest`.
    pub reference: String,
    /// Digest of the manifest.
    pub manifest_digest: String,
    /// The one rootfs layer.
    pub layer: Descriptor,
    /// Its diff_id.
    pub diff_id: String,
    /// The platform of the image (the host's).
    pub platform: Platform,
}

/// The cache directory: `$KANIKO_TEST_CACHE` or [`DEFAULT_CACHE_DIR`].
pub fn cache_dir() -> PathBuf {
    match std::env::var_os(CACHE_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_CACHE_DIR),
    }
}

/// The mirror: `$KANIKO_TEST_DEBIAN_MIRROR`, else the first `URIs:` of
/// `/etc/apt/sources.list.d/debian.sources`, else [`DEFAULT_MIRROR`].
pub fn mirror() -> String {
    if let Ok(mirror) = std::env::var(MIRROR_ENV)
        && !mirror.trim().is_empty()
    {
        return mirror.trim().to_string();
    }
    std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        .ok()
        .and_then(|text| first_uri(&text))
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

/// The first URI of the first `URIs:` field of a deb822 sources file.
fn first_uri(sources: &str) -> Option<String> {
    sources
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            if !key.trim().eq_ignore_ascii_case("URIs") {
                return None;
            }
            value.split_whitespace().next().map(str::to_string)
        })
}

/// The cached layer's file name for the host's Debian architecture.
fn layer_name(arch: &str) -> String {
    format!("{DEBIAN_SUITE}-minbase-{arch}.tar.gz")
}

/// Debian's name of the host architecture (`amd64`, `arm64`).
fn debian_arch() -> Result<String> {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .context("running dpkg --print-architecture")?;
    if !out.status.success() {
        bail!("dpkg --print-architecture failed: {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The Debian layer, built on first use and cached in [`cache_dir`]: parallel callers (threads
/// or test processes) wait on a file lock for the one build.
pub fn debian_layer() -> Result<DebianLayer> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let arch = debian_arch()?;
    let blob = dir.join(layer_name(&arch));
    let meta = dir.join(format!("{DEBIAN_SUITE}-minbase-{arch}.json"));
    let lock_path = dir.join(format!("{DEBIAN_SUITE}-{arch}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    // SAFETY: flock on a descriptor this function owns; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", lock_path.display()));
    }
    if let Some(cached) = read_cached(&meta, &blob) {
        return Ok(cached);
    }
    tracing::warn!(
        "building the debian {DEBIAN_SUITE} fixture into {} (once per machine)",
        dir.display()
    );
    let layer = build_layer(&dir, &arch, &blob)?;
    let json = serde_json::to_vec_pretty(&layer)?;
    let tmp_meta = meta.with_extension("json.partial");
    std::fs::write(&tmp_meta, json).with_context(|| format!("writing {}", tmp_meta.display()))?;
    std::fs::rename(&tmp_meta, &meta).with_context(|| format!("renaming to {}", meta.display()))?;
    drop(lock);
    Ok(layer)
}

/// The cached layer when its description and blob are both there and agree.
fn read_cached(meta: &Path, blob: &Path) -> Option<DebianLayer> {
    let bytes = std::fs::read(meta).ok()?;
    let layer: DebianLayer = serde_json::from_slice(&bytes).ok()?;
    let size = std::fs::metadata(blob).ok()?.len();
    (layer.recipe == RECIPE_VERSION && layer.size == size && layer.path == blob).then_some(layer)
}

/// debootstrap into a temporary directory under `cache`, clean, write the layer next to it,
/// rename it to `blob`, remove the rootfs.
fn build_layer(cache: &Path, arch: &str, blob: &Path) -> Result<DebianLayer> {
    let work = tempfile::Builder::new()
        .prefix("debootstrap-")
        .tempdir_in(cache)
        .with_context(|| format!("creating a build directory in {}", cache.display()))?;
    let work_path = work.keep();
    let result = (|| {
        let rootfs = work_path.join("rootfs");
        let mirror = mirror();
        let started = Instant::now();
        let out = Command::new("debootstrap")
            .args(["--variant=minbase", &format!("--arch={arch}"), DEBIAN_SUITE])
            .arg(&rootfs)
            .arg(&mirror)
            .output()
            .context("running debootstrap (hack/deps.sh installs it)")?;
        let debootstrap_time = started.elapsed();
        if !out.status.success() {
            bail!(
                "debootstrap --variant=minbase {DEBIAN_SUITE} {} {mirror} failed ({}): {}",
                rootfs.display(),
                out.status,
                crate::process::tail(&String::from_utf8_lossy(&out.stderr), 20)
            );
        }
        clean_rootfs(&rootfs)?;
        let started = Instant::now();
        let opts = LayerOptions {
            compression: Compression::Gzip,
            level: None,
            reproducible: true,
            mode: OciMode::Oci,
        };
        let mut writer = LayerWriter::to_temp_file(&work_path, opts)?;
        append_tree(&mut writer, &rootfs, Path::new(""))?;
        let (file, info) = writer.finish()?;
        file.persist(blob)
            .with_context(|| format!("moving the layer to {}", blob.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(blob, std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("chmod {}", blob.display()))?;
        }
        let layer = DebianLayer {
            path: blob.to_path_buf(),
            digest: info.digest,
            diff_id: info.diff_id,
            size: info.size,
            uncompressed_size: info.uncompressed_size,
            entries: info.entries,
            mirror,
            debootstrap_secs: debootstrap_time.as_secs_f64(),
            layer_secs: started.elapsed().as_secs_f64(),
            recipe: RECIPE_VERSION,
        };
        tracing::warn!(
            "debian fixture: debootstrap {:.1} s, layer {:.1} s, {} bytes gzip ({} bytes tar)",
            layer.debootstrap_secs,
            layer.layer_secs,
            layer.size,
            layer.uncompressed_size
        );
        Ok(layer)
    })();
    // A failed debootstrap may leave its /proc and /sys mounted.
    crate::buildah::unmount_under(&work_path);
    if let Err(err) = remove_dir_all_force(&work_path) {
        tracing::warn!("removing {}: {err}", work_path.display());
    }
    result
}

/// Removes what a base image should not carry: downloaded packages, package lists, the apt
/// caches, the host's resolver and host name. apt keeps working offline (`partial` dirs and
/// locks stay) for installing a local `.deb`.
fn clean_rootfs(rootfs: &Path) -> Result<()> {
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let dir = rootfs.join(dir);
        let Ok(listing) = std::fs::read_dir(&dir) else {
            continue;
        };
        for item in listing.flatten() {
            let name = item.file_name();
            if name == "partial" || name == "lock" {
                continue;
            }
            let path = item.path();
            if item.file_type().is_ok_and(|t| t.is_dir()) {
                remove_dir_all_force(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for file in [
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
        "etc/resolv.conf",
        "etc/hostname",
    ] {
        let path = rootfs.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}

/// Appends `root/rel` and, for a directory, everything under it in name order (parents
/// first). The contents of `dev`, `proc` and `sys` are left out: a runtime provides them.
fn append_tree<W: std::io::Write>(
    writer: &mut LayerWriter<W>,
    root: &Path,
    rel: &Path,
) -> Result<()> {
    let full = root.join(rel);
    if !rel.as_os_str().is_empty() {
        writer
            .append_from_disk(root, rel, rel)
            .with_context(|| format!("adding {} to the layer", full.display()))?;
    }
    let meta =
        std::fs::symlink_metadata(&full).with_context(|| format!("reading {}", full.display()))?;
    if !meta.is_dir() || ["dev", "proc", "sys"].iter().any(|d| rel == Path::new(d)) {
        return Ok(());
    }
    let mut names: Vec<_> = std::fs::read_dir(&full)
        .with_context(|| format!("listing {}", full.display()))?
        .map(|item| item.map(|i| i.file_name()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", full.display()))?;
    names.sort();
    for name in names {
        append_tree(writer, root, &rel.join(name))?;
    }
    Ok(())
}

/// The config of the Debian image: `PATH` and `Cmd ["bash"]`, like Docker's debian images.
pub fn debian_config(platform: &Platform, diff_id: &str) -> Result<ImageConfiguration> {
    let config = ConfigBuilder::default()
        .env(vec![format!("PATH={DEBIAN_PATH}")])
        .cmd(vec!["bash".to_string()])
        .build()?;
    image_config(
        platform,
        config,
        &[diff_id.to_string()],
        "kaniko-rs test fixture: debootstrap --variant=minbase bookworm",
    )
}

/// An image config for `platform` with `config`, these layers and one history entry per layer.
pub fn image_config(
    platform: &Platform,
    config: oci_spec::image::Config,
    diff_ids: &[String],
    created_by: &str,
) -> Result<ImageConfiguration> {
    let oci_platform = oci_spec::image::Platform::from(platform);
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(diff_ids.to_vec())
        .build()?;
    let history = diff_ids
        .iter()
        .map(|_| HistoryBuilder::default().created_by(created_by).build())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut builder = ImageConfigurationBuilder::default()
        .architecture(oci_platform.architecture().clone())
        .os(oci_platform.os().clone())
        .config(config)
        .rootfs(rootfs)
        .history(history);
    if let Some(variant) = &platform.variant {
        builder = builder.variant(variant.clone());
    }
    Ok(builder.build()?)
}

/// Builds (or takes from the cache) the Debian layer and pushes it to `registry` as
/// `<repository>:latest`, a single-platform OCI image for the host's platform.
pub async fn push_debian(registry: &Registry, repository: &str) -> Result<DebianImage> {
    let layer = tokio::task::spawn_blocking(debian_layer)
        .await
        .context("the debian fixture build panicked")??;
    let platform = Platform::host();
    let config = debian_config(&platform, &layer.diff_id)?;
    let descriptor = Descriptor::new(
        OciMode::Oci.layer_media_type(Compression::Gzip),
        layer.digest.clone(),
        layer.size,
    );
    let client = registry.client();
    let pushed = push_image(
        &client,
        &registry.host(),
        repository,
        "latest",
        &[(layer.path.clone(), descriptor.clone())],
        &config,
    )
    .await
    .context("pushing the debian fixture")?;
    Ok(DebianImage {
        reference: pushed.reference,
        manifest_digest: pushed.digest,
        layer: descriptor,
        diff_id: layer.diff_id,
        platform,
    })
}

/// A single-platform image pushed by [`push_image`].
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// `<host>/<repository>:<tag>`.
    pub reference: String,
    /// The manifest's digest.
    pub digest: String,
}

/// Pushes the layer blobs (files on disk with their descriptors), the config and an OCI
/// manifest tagged `<host>/<repository>:<tag>`.
pub async fn push_image(
    client: &RegistryClient,
    host: &str,
    repository: &str,
    tag: &str,
    layers: &[(PathBuf, Descriptor)],
    config: &ImageConfiguration,
) -> Result<PushedImage> {
    let reference: Reference = format!("{host}/{repository}:{tag}").parse()?;
    for (path, layer) in layers {
        client
            .push_blob_file(&reference, path.clone(), &layer.digest, layer.size)
            .await
            .with_context(|| format!("pushing layer {} to {reference}", layer.digest))?;
    }
    let config_bytes = oci::config_bytes(config)?;
    let config_desc = Descriptor::for_bytes(oci::OCI_CONFIG, &config_bytes);
    client
        .push_blobs(&reference, vec![BlobSource::Bytes(config_bytes.into())])
        .await
        .with_context(|| format!("pushing the config of {reference}"))?;
    let descriptors: Vec<Descriptor> = layers.iter().map(|(_, d)| d.clone()).collect();
    let manifest = oci::manifest_bytes(OciMode::Oci, &config_desc, &descriptors, &BTreeMap::new())?;
    let digest = client
        .push_manifest_raw(&reference, manifest, oci::OCI_MANIFEST)
        .await
        .with_context(|| format!("pushing the manifest of {reference}"))?;
    Ok(PushedImage {
        reference: reference.whole(),
        digest,
    })
}

/// The package name of the local `.deb` fixture.
pub const HELLO_PACKAGE: &str = "hello-kaniko";
/// What `/usr/bin/hello-kaniko` prints.
pub const HELLO_OUTPUT: &str = "hello from kaniko-rs\n";
/// The script installed as `/usr/bin/hello-kaniko`.
pub const HELLO_SCRIPT: &str = "#!/bin/sh\necho 'hello from kaniko-rs'\n";
/// `/usr/share/doc/hello-kaniko/README`.
pub const HELLO_README: &str = "a package made by the kaniko-rs test suite\n";
/// The file the package's postinst creates, and what it writes there.
pub const HELLO_POSTINST_FILE: &str = "/var/lib/hello-kaniko/installed";
/// The content of [`HELLO_POSTINST_FILE`].
pub const HELLO_POSTINST_CONTENT: &str = "configured\n";

/// Builds the `hello-kaniko` package (`dpkg-deb --build --root-owner-group`) as `deb` from a
/// directory written under `scratch`: a control file, `/usr/bin/hello-kaniko`, a doc file and
/// a postinst that writes [`HELLO_POSTINST_FILE`]. No dependencies, so it installs offline.
pub fn write_hello_deb(scratch: &Path, deb: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let root = scratch.join("hello-kaniko-pkg");
    let write = |rel: &str, content: &str, mode: u32| -> Result<()> {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))
    };
    write(
        "DEBIAN/control",
        &format!(
            "Package: {HELLO_PACKAGE}\nVersion: 1.0\nSection: misc\nPriority: optional\n\
             Architecture: all\nMaintainer: kaniko-rs tests <tests@kaniko-rs.invalid>\n\
             Description: kaniko-rs RUN test package\n a tiny package installed offline\n"
        ),
        0o644,
    )?;
    write(
        "DEBIAN/postinst",
        &format!(
            "#!/bin/sh\nset -e\nmkdir -p {dir}\nprintf '{HELLO_POSTINST_CONTENT_ESCAPED}' > {HELLO_POSTINST_FILE}\n",
            dir = "/var/lib/hello-kaniko",
        ),
        0o755,
    )?;
    write("usr/bin/hello-kaniko", HELLO_SCRIPT, 0o755)?;
    write("usr/share/doc/hello-kaniko/README", HELLO_README, 0o644)?;
    // dpkg-deb wants 0755 directories, whatever the umask made.
    for dir in [
        "DEBIAN",
        "usr",
        "usr/bin",
        "usr/share",
        "usr/share/doc",
        "usr/share/doc/hello-kaniko",
    ] {
        std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("setting the mode of {dir}"))?;
    }
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Zgzip"])
        .arg(&root)
        .arg(deb)
        .output()
        .context("running dpkg-deb")?;
    if !out.status.success() {
        bail!(
            "dpkg-deb --build {} failed ({}): {}",
            root.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    remove_dir_all_force(&root).with_context(|| format!("removing {}", root.display()))?;
    Ok(())
}

/// [`HELLO_POSTINST_CONTENT`] as a printf format.
const HELLO_POSTINST_CONTENT_ESCAPED: &str = "configured\\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_uri_of_a_deb822_sources_file_is_the_mirror() {
        fn check(input: &str, expected: Option<&str>) {
            assert_eq!(first_uri(input).as_deref(), expected, "{input:?}");
        }
        check(
            "Types: deb\n# http://snapshot.example/x\nURIs: http://deb.debian.org/debian\n\
             Suites: bookworm\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n",
            Some("http://deb.debian.org/debian"),
        );
        check(
            "Types: deb\nuris:   http://m.example/debian http://n.example/debian\n",
            Some("http://m.example/debian"),
        );
        check("# URIs: http://commented.example/\nTypes: deb\n", None);
        check("", None);
        check("URIs:\n", None);
    }

    #[test]
    fn a_cached_layer_is_used_only_when_its_description_matches_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("layer.tar.gz");
        let meta = dir.path().join("layer.json");
        std::fs::write(&blob, b"12345").unwrap();
        let good = DebianLayer {
            path: blob.clone(),
            digest: "sha256:aa".into(),
            diff_id: "sha256:bb".into(),
            size: 5,
            uncompressed_size: 10,
            entries: 1,
            mirror: DEFAULT_MIRROR.into(),
            debootstrap_secs: 1.0,
            layer_secs: 1.0,
            recipe: RECIPE_VERSION,
        };
        let check = |layer: Option<&DebianLayer>, expected: bool| {
            match layer {
                Some(layer) => std::fs::write(&meta, serde_json::to_vec(layer).unwrap()).unwrap(),
                None => std::fs::write(&meta, b"{not json").unwrap(),
            }
            assert_eq!(read_cached(&meta, &blob).is_some(), expected, "{layer:?}");
        };
        check(Some(&good), true);
        check(
            Some(&DebianLayer {
                size: 6,
                ..good.clone()
            }),
            false,
        );
        check(
            Some(&DebianLayer {
                recipe: 0,
                ..good.clone()
            }),
            false,
        );
        check(
            Some(&DebianLayer {
                path: dir.path().join("elsewhere"),
                ..good.clone()
            }),
            false,
        );
        check(None, false);
        std::fs::remove_file(&blob).unwrap();
        check(Some(&good), false);
    }

    #[test]
    fn the_cached_layer_is_named_for_the_suite_and_architecture() {
        assert_eq!(layer_name("amd64"), "bookworm-minbase-amd64.tar.gz");
        assert_eq!(layer_name("arm64"), "bookworm-minbase-arm64.tar.gz");
    }
}
