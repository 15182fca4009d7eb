// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The entries of an image's layer tars as stored in the registry, for checks a merged file
//! tree cannot show: whiteouts (`.wh.<name>`), opaque markers, what a layer re-adds. The image
//! is copied as is (`skopeo copy` to a `dir:` layout) and each blob is read through
//! `gzip -dc` or `zstd -dc`.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// One tar entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerItem {
    /// The path as stored, without a leading `./` or `/` and without a trailing `/`.
    pub path: String,
    /// The tar type flag (`b'0'` file, `b'5'` dir, `b'2'` symlink, `b'1'` hardlink).
    pub kind: u8,
    /// The link target of a symlink or hardlink.
    pub link: Option<String>,
}

impl LayerItem {
    /// Whether this entry is a whiteout or an opaque marker.
    pub fn is_whiteout(&self) -> bool {
        kaniko_image::whiteout::is_whiteout(self.name().as_bytes())
    }

    /// The last path component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// One layer of an image: its descriptor's digest and media type and its entries in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerListing {
    /// `sha256:<hex>` of the blob.
    pub digest: String,
    /// The layer media type.
    pub media_type: String,
    /// The tar entries, in stored order.
    pub items: Vec<LayerItem>,
}

impl LayerListing {
    /// The paths of every entry.
    pub fn paths(&self) -> Vec<&str> {
        self.items.iter().map(|i| i.path.as_str()).collect()
    }

    /// The entry at `path`, if the layer has one.
    pub fn get(&self, path: &str) -> Option<&LayerItem> {
        self.items.iter().find(|i| i.path == path)
    }
}

/// Every layer of the image `reference` (the host's child of an index), bottom first.
pub fn image_layers(reference: &str) -> anyhow::Result<Vec<LayerListing>> {
    let dir = tempfile::Builder::new()
        .prefix("kaniko-layers-")
        .tempdir()
        .context("creating a directory for the layers")?;
    let source = if reference.contains("://") {
        reference.to_string()
    } else {
        format!("docker://{reference}")
    };
    crate::skopeo_copy_image(&source, &format!("dir:{}", dir.path().display()), None, &[])
        .with_context(|| format!("copying {reference} to a directory"))?;
    let manifest_path = dir.path().join("manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("parsing the manifest of {reference}"))?;
    let layers = manifest["layers"]
        .as_array()
        .with_context(|| format!("the manifest of {reference} has no layers: {manifest}"))?;
    let mut listings = Vec::new();
    for layer in layers {
        let digest = layer["digest"].as_str().unwrap_or_default().to_string();
        let media_type = layer["mediaType"].as_str().unwrap_or_default().to_string();
        let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
        let items = list_blob(&dir.path().join(hex), &media_type)
            .with_context(|| format!("listing layer {digest} of {reference}"))?;
        listings.push(LayerListing {
            digest,
            media_type,
            items,
        });
    }
    Ok(listings)
}

/// The entries of one layer blob, decompressed by the tool its media type calls for.
fn list_blob(blob: &Path, media_type: &str) -> anyhow::Result<Vec<LayerItem>> {
    let tool = if media_type.ends_with("zstd") {
        "zstd"
    } else if media_type.ends_with("gzip") {
        "gzip"
    } else if media_type.ends_with(".tar") {
        "cat"
    } else {
        bail!("unknown layer media type {media_type}");
    };
    let mut command = Command::new(tool);
    if tool != "cat" {
        command.arg("-dc");
    }
    let mut child = command
        .arg(blob)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {tool}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut archive = tar::Archive::new(stdout);
    let mut items = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for entry in archive.entries()? {
            let entry = entry?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            items.push(LayerItem {
                path: normalize(&raw),
                kind: entry.header().entry_type().as_byte(),
                link: entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned()),
            });
        }
        Ok(())
    })();
    let output = child
        .wait_with_output()
        .context("waiting for the decompressor")?;
    result?;
    if !output.status.success() {
        bail!(
            "{tool} -dc {} failed: {}",
            blob.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(items)
}

/// `./etc/` → `etc`, `/etc/passwd` → `etc/passwd`.
fn normalize(raw: &str) -> String {
    raw.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_paths_are_normalized() {
        fn check(raw: &str, expected: &str) {
            assert_eq!(normalize(raw), expected, "{raw}");
        }
        check("./etc/", "etc");
        check("etc/passwd", "etc/passwd");
        check("/abs/x", "abs/x");
        check("usr/.wh.sbin", "usr/.wh.sbin");
    }

    #[test]
    fn whiteouts_are_recognised_by_their_name() {
        fn check(path: &str, expected: bool) {
            let item = LayerItem {
                path: path.into(),
                kind: b'0',
                link: None,
            };
            assert_eq!(item.is_whiteout(), expected, "{path}");
        }
        check("etc/.wh.group", true);
        check("usr/sbin/.wh..wh..opq", true);
        check("etc/group", false);
        check("etc/x.wh.y", false);
    }

    #[test]
    fn a_plain_tar_blob_is_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        builder.append_data(&mut header, "etc/", &[][..]).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        builder
            .append_data(&mut header, "etc/.wh.group", &[][..])
            .unwrap();
        builder.into_inner().unwrap();
        let items = list_blob(&path, "application/vnd.oci.image.layer.v1.tar").unwrap();
        let paths: Vec<&str> = items.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["etc", "etc/.wh.group"]);
        assert_eq!(items.first().map(|i| i.kind), Some(b'5'));
    }
}
