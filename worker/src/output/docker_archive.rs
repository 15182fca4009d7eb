// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `--tar-path`: the image as a docker-archive, the `docker save` format that `docker load`,
//! `podman load` and `skopeo … docker-archive:` read: `manifest.json`
//! (`[{"Config":"<hex>.json","RepoTags":[…],"Layers":["<diff_id hex>/layer.tar",…]}]`), the
//! config, each layer **uncompressed** under `<diff_id hex>/layer.tar`, and a `repositories`
//! file.
//!
//! Streaming: each layer is decompressed straight into the archive. Its size is not known
//! before, so a placeholder header is written, the content streamed (hashed on the way and
//! checked against the diff_id), then the header rewritten in place with the real size. The
//! archive is written to a temporary file next to the target and renamed when complete.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use kaniko_common::oci::{Compression, CopyError, DigestAlgorithm, hash_copy};

use super::OutputError;
use crate::blobs::{BlobStore, decompressing_reader};
use crate::image::FinishedImage;

const BLOCK: u64 = 512;

/// One layer to write: its blob file, compression, digest and diff_id.
struct LayerSource {
    path: PathBuf,
    compression: Option<Compression>,
    digest: String,
    diff_id: String,
}

/// Writes `finished` as a docker-archive at `path`, tagged with `repo_tags`
/// (`registry/repo:tag`). Base layers are fetched through `blobs`.
pub async fn write_docker_archive(
    finished: &FinishedImage,
    repo_tags: &[String],
    blobs: &BlobStore,
    path: &Path,
) -> Result<(), OutputError> {
    let mut layers = Vec::new();
    for layer in &finished.image.layers {
        layers.push(LayerSource {
            path: blobs.fetch(layer).await?,
            compression: Compression::from_layer_media_type(&layer.descriptor.media_type),
            digest: layer.descriptor.digest.clone(),
            diff_id: layer.diff_id.clone(),
        });
    }
    let config_hex = hex_of(&finished.config.digest).to_string();
    let config = finished.config_bytes.clone();
    let repo_tags = repo_tags.to_vec();
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        write_blocking(&path, &config_hex, &config, &layers, &repo_tags)
    })
    .await
    .map_err(|e| OutputError::Io {
        path: PathBuf::new(),
        source: io::Error::other(e.to_string()),
    })?
}

fn hex_of(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, hex)| hex)
}

fn write_blocking(
    path: &Path,
    config_hex: &str,
    config: &[u8],
    layers: &[LayerSource],
    repo_tags: &[String],
) -> Result<(), OutputError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(OutputError::io(parent))?;
    let temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent)
        .map_err(OutputError::io(parent))?;
    let (file, temp_path) = temp.into_parts();
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let io_err = OutputError::io;
    let config_name = format!("{config_hex}.json");
    append_bytes(&mut out, &config_name, config).map_err(io_err(path))?;
    let mut names = Vec::new();
    let mut written = HashSet::new();
    for layer in layers {
        let dir = hex_of(&layer.diff_id).to_string();
        let name = format!("{dir}/layer.tar");
        if written.insert(dir.clone()) {
            append_dir(&mut out, &format!("{dir}/")).map_err(io_err(path))?;
            let file = File::open(&layer.path).map_err(io_err(&layer.path))?;
            let reader =
                decompressing_reader(file, layer.compression).map_err(io_err(&layer.path))?;
            let actual = append_stream(&mut out, &name, reader).map_err(io_err(&layer.path))?;
            if actual != layer.diff_id {
                return Err(OutputError::DiffIdMismatch {
                    digest: layer.digest.clone(),
                    expected: layer.diff_id.clone(),
                    actual,
                });
            }
        }
        names.push(name);
    }
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": repo_tags,
        "Layers": names,
    }]);
    let manifest = serde_json::to_vec(&manifest).map_err(|e| io_err(path)(io::Error::other(e)))?;
    append_bytes(&mut out, "manifest.json", &manifest).map_err(io_err(path))?;
    if let Some(top) = layers.last() {
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for repo_tag in repo_tags {
            if let Some((repo, tag)) = split_repo_tag(repo_tag) {
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.to_string(), hex_of(&top.diff_id).to_string());
            }
        }
        let bytes =
            serde_json::to_vec(&repositories).map_err(|e| io_err(path)(io::Error::other(e)))?;
        append_bytes(&mut out, "repositories", &bytes).map_err(io_err(path))?;
    }
    out.write_all(&[0u8; 2 * BLOCK as usize])
        .map_err(io_err(path))?;
    let file = out.into_inner().map_err(|e| io_err(path)(e.into_error()))?;
    file.sync_all().map_err(io_err(path))?;
    drop(file);
    temp_path.persist(path).map_err(|e| io_err(path)(e.error))?;
    tracing::info!(path = %path.display(), layers = layers.len(), "docker archive written");
    Ok(())
}

/// `repo:tag` split at the tag's colon (a registry port's colon is before the last `/`).
fn split_repo_tag(repo_tag: &str) -> Option<(&str, &str)> {
    let (repo, tag) = repo_tag.rsplit_once(':')?;
    (!tag.contains('/')).then_some((repo, tag))
}

fn header(name: &str, kind: tar::EntryType, size: u64, mode: u32) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_path(name)?;
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    Ok(h)
}

fn padding(size: u64) -> usize {
    ((BLOCK - size % BLOCK) % BLOCK) as usize
}

fn append_dir(out: &mut impl Write, name: &str) -> io::Result<()> {
    out.write_all(header(name, tar::EntryType::Directory, 0, 0o755)?.as_bytes())
}

fn append_bytes(out: &mut impl Write, name: &str, data: &[u8]) -> io::Result<()> {
    let size = data.len() as u64;
    out.write_all(header(name, tar::EntryType::Regular, size, 0o644)?.as_bytes())?;
    out.write_all(data)?;
    out.write_all(&[0u8; BLOCK as usize][..padding(size)])
}

/// Appends `name` with the content of `reader`, of unknown length: placeholder header,
/// content, then the header rewritten with the size. Returns `sha256:<hex>` of the content.
fn append_stream<W: Write + Seek>(
    out: &mut W,
    name: &str,
    reader: impl Read,
) -> io::Result<String> {
    let header_at = out.stream_position()?;
    out.write_all(header(name, tar::EntryType::Regular, 0, 0o644)?.as_bytes())?;
    let (digest, size) =
        hash_copy(reader, &mut *out, DigestAlgorithm::Sha256).map_err(CopyError::into_io)?;
    out.write_all(&[0u8; BLOCK as usize][..padding(size)])?;
    let end = out.stream_position()?;
    out.seek(SeekFrom::Start(header_at))?;
    out.write_all(header(name, tar::EntryType::Regular, size, 0o644)?.as_bytes())?;
    out.seek(SeekFrom::Start(end))?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_entries_get_their_real_size() {
        let mut out = io::Cursor::new(Vec::new());
        let data = vec![7u8; 1500];
        let digest = append_stream(&mut out, "x/layer.tar", &data[..]).unwrap();
        append_bytes(&mut out, "after", b"tail").unwrap();
        out.write_all(&[0u8; 1024]).unwrap();
        assert_eq!(digest, kaniko_common::oci::sha256_digest(&data));
        let bytes = out.into_inner();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            seen.push((entry.path().unwrap().display().to_string(), content.len()));
        }
        assert_eq!(
            seen,
            [("x/layer.tar".to_string(), 1500), ("after".to_string(), 4)]
        );
    }

    #[test]
    fn repo_tags_split_at_the_tag_colon() {
        fn check(input: &str, expected: Option<(&str, &str)>) {
            assert_eq!(split_repo_tag(input), expected, "{input}");
        }
        check("127.0.0.1:5000/app:1", Some(("127.0.0.1:5000/app", "1")));
        check("127.0.0.1:5000/app", None);
        check(
            "docker.io/library/busybox:latest",
            Some(("docker.io/library/busybox", "latest")),
        );
    }
}
