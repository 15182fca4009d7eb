// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Layer blobs of one build, fetched at most once. A layer this build wrote is already a local
//! file; a base image's layer is pulled into `<dir>/blobs/<hex>` the first time anything
//! (unpack, the file index, the outputs) asks for it, verified against its digest and size,
//! and reused afterwards. Concurrent callers asking for the same digest wait for one download.
//! [`BlobStore::open_tar`] gives the uncompressed tar of a layer, decompressing by media type,
//! or by magic bytes when the media type says nothing.
//!
//! A store carries its build's [`Limits`]: a pulled layer is charged to the disk budget (its
//! descriptor's size, before the pull) and every compressed layer stream is held to the
//! ratio limit.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kaniko_common::oci::Compression;
use kaniko_registry::{RegistryClient, RegistryError};
use tokio::sync::OnceCell;

use crate::image::{BlobLocation, Layer};
use crate::unpack::limits::{Counted, LimitExceeded, Limits, RatioGuard};

/// What can go wrong getting a layer's bytes. Messages carry their cause; only the
/// registry's is also returned as `source()` (the retry policy looks for it).
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The registry failed (the error names the reference and digest).
    #[error("fetching layer {digest}: {source}")]
    Registry {
        /// The layer's digest.
        digest: String,
        /// The registry error.
        #[source]
        source: RegistryError,
    },
    /// A local file could not be read or written.
    #[error("layer {digest}: {}: {error}", path.display())]
    Io {
        /// The layer's digest.
        digest: String,
        /// The file at fault.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The pulled blob is not the size its descriptor says.
    #[error("layer {digest}: pulled {actual} bytes, the descriptor says {expected}")]
    SizeMismatch {
        /// The layer's digest.
        digest: String,
        /// The descriptor's size.
        expected: u64,
        /// What was pulled.
        actual: u64,
    },
    /// A digest that cannot name a file.
    #[error("layer digest {0:?} is not sha256:<64 hex>")]
    BadDigest(String),
    /// Pulling the layer would pass the build's disk budget.
    #[error("pulling layer {digest}: {error}")]
    Limit {
        /// The layer's digest.
        digest: String,
        /// The limit.
        error: LimitExceeded,
    },
}

/// The layer blobs of one build. Cheap to share behind an `Arc`; safe to use from many tasks.
pub struct BlobStore {
    dir: PathBuf,
    client: RegistryClient,
    cells: Mutex<HashMap<String, Arc<OnceCell<PathBuf>>>>,
    limits: Limits,
    /// `dir` is the layer store's, shared with other builds: a blob already there is used.
    shared: bool,
    /// Shared locks on `<dir>/.<hex>.use` of every blob this build fetched from a shared
    /// directory, held until the store is dropped: garbage collection (another build's, or
    /// `worker store prune`) skips a blob it cannot lock exclusively, so a blob is never
    /// removed between the build finding it and reading it.
    leases: Mutex<Vec<File>>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").field("dir", &self.dir).finish()
    }
}

/// The hex part of a sha256 digest, checked so that it can name a file.
pub(crate) fn digest_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl BlobStore {
    /// A store keeping pulled blobs in `<build_tmp>/blobs/`, pulling with `client`, with no
    /// disk limit (see [`BlobStore::with_limits`]).
    pub fn new(build_tmp: impl AsRef<Path>, client: RegistryClient) -> Self {
        BlobStore {
            dir: build_tmp.as_ref().join("blobs"),
            client,
            cells: Mutex::new(HashMap::new()),
            limits: Limits::default(),
            shared: false,
            leases: Mutex::new(Vec::new()),
        }
    }

    /// Keeps pulled blobs in `dir` (the layer store's `blobs/sha256`, see [`crate::store`]),
    /// shared with other builds: a blob already there is used as is (it was verified on the
    /// way in and renamed into place whole).
    pub fn with_shared_dir(mut self, dir: PathBuf) -> Self {
        self.dir = dir;
        self.shared = true;
        self
    }

    /// The store under a build's limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits of the build the store belongs to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The registry client blobs are pulled with.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// A local file holding the compressed bytes of `layer`: the file itself for a layer this
    /// build wrote; otherwise pulled once (verified) and reused.
    pub async fn fetch(&self, layer: &Layer) -> Result<PathBuf, BlobError> {
        let digest = &layer.descriptor.digest;
        let reference = match &layer.location {
            BlobLocation::File(path) => return Ok(path.to_path_buf()),
            BlobLocation::Remote(reference) => reference,
        };
        let hex = digest_hex(digest).ok_or_else(|| BlobError::BadDigest(digest.clone()))?;
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(cells.entry(digest.clone()).or_default())
        };
        let path = cell
            .get_or_try_init(|| async {
                let target = self.dir.join(hex);
                // Held in use first, so garbage collection cannot remove it once found.
                if self.shared {
                    let lease = blob_lease(&self.dir, hex).await;
                    self.leases
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(lease);
                }
                // Shared: one build pulls, another waiting on the same blob finds it there.
                let _pulling = match self.shared {
                    true => shared_pull_lock(&self.dir, hex).await,
                    false => None,
                };
                if self.shared && target.is_file() {
                    if let Ok(file) = File::options().write(true).open(&target) {
                        let _ = file.set_modified(std::time::SystemTime::now());
                    }
                    return Ok(target);
                }
                let io_err = |path: &Path| {
                    let path = path.to_path_buf();
                    move |error| BlobError::Io {
                        digest: digest.clone(),
                        path,
                        error,
                    }
                };
                self.limits
                    .disk
                    .charge(layer.descriptor.size, || format!("layer {digest}"))
                    .map_err(|error| BlobError::Limit {
                        digest: digest.clone(),
                        error,
                    })?;
                tokio::fs::create_dir_all(&self.dir)
                    .await
                    .map_err(io_err(&self.dir))?;
                let temp = tempfile::Builder::new()
                    .prefix(".pull-")
                    .tempfile_in(&self.dir)
                    .map_err(io_err(&self.dir))?;
                let (file, temp_path) = temp.into_parts();
                let mut out = tokio::fs::File::from_std(file);
                let written = self
                    .client
                    .pull_blob_sized(reference, digest, layer.descriptor.size, "layer", &mut out)
                    .await
                    .map_err(|source| BlobError::Registry {
                        digest: digest.clone(),
                        source,
                    })?;
                if written != layer.descriptor.size {
                    return Err(BlobError::SizeMismatch {
                        digest: digest.clone(),
                        expected: layer.descriptor.size,
                        actual: written,
                    });
                }
                drop(out);
                temp_path
                    .persist(&target)
                    .map_err(|e| io_err(&target)(e.error))?;
                tracing::debug!(%digest, size = written, "base layer pulled");
                Ok::<_, BlobError>(target)
            })
            .await?;
        Ok(path.clone())
    }

    /// The uncompressed tar of `layer` (fetched first when remote), as a blocking reader
    /// held to the build's ratio limit when the layer is compressed.
    pub async fn open_tar(&self, layer: &Layer) -> Result<Box<dyn Read + Send>, BlobError> {
        let path = self.fetch(layer).await?;
        let io_err = |error| BlobError::Io {
            digest: layer.descriptor.digest.clone(),
            path: path.clone(),
            error,
        };
        let file = File::open(&path).map_err(io_err)?;
        let compression = Compression::from_layer_media_type(&layer.descriptor.media_type);
        let (file, count) = Counted::new(file);
        let (reader, compressed) = decompressing_reader_of(file, compression).map_err(io_err)?;
        Ok(if compressed {
            RatioGuard::wrap(
                reader,
                count,
                self.limits.max_ratio,
                format!("layer {}", layer.descriptor.digest),
            )
        } else {
            reader
        })
    }
}

/// A shared lock on `<dir>/.<hex>.use`: the blob is in use (see `BlobStore::leases`); `None`
/// when it cannot be had (the build goes ahead without it, as before leases existed).
async fn blob_lease(dir: &Path, hex: &str) -> Option<File> {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(format!(".{hex}.use"));
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(path.parent()?).ok()?;
        // Garbage collection removes the lock file with its blob: a lock taken on a file no
        // longer at `path` protects nothing, so take it again on the one there now.
        for _ in 0..8 {
            let file = crate::store::open_lock(&path).ok()?;
            crate::store::flock(&file, libc::LOCK_SH).ok()?;
            let held = file.metadata().ok()?;
            let there = std::fs::metadata(&path).ok();
            if there.is_some_and(|m| m.ino() == held.ino() && m.dev() == held.dev()) {
                return Some(file);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// An exclusive lock on `<dir>/.<hex>.pull` (held while one process pulls that blob into a
/// shared directory); `None` when it cannot be had (the pull goes ahead unlocked).
async fn shared_pull_lock(dir: &Path, hex: &str) -> Option<File> {
    let path = dir.join(format!(".{hex}.pull"));
    tokio::task::spawn_blocking(move || {
        let file = crate::store::open_lock(&path).ok()?;
        crate::store::flock(&file, libc::LOCK_EX).ok()?;
        Some(file)
    })
    .await
    .ok()
    .flatten()
}

/// gzip's magic bytes.
pub const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// zstd's magic bytes.
pub const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// A reader of the uncompressed bytes of `input`: gzip, zstd or plain as `compression` says;
/// when it says nothing, gzip or zstd by magic bytes, else plain.
pub fn decompressing_reader(
    input: impl Read + Send + 'static,
    compression: Option<Compression>,
) -> io::Result<Box<dyn Read + Send>> {
    decompressing_reader_of(input, compression).map(|(reader, _)| reader)
}

/// [`decompressing_reader`], and whether the input is compressed.
fn decompressing_reader_of(
    input: impl Read + Send + 'static,
    compression: Option<Compression>,
) -> io::Result<(Box<dyn Read + Send>, bool)> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let compression = match compression {
        Some(c) => c,
        None => {
            let head = input.fill_buf()?;
            if head.starts_with(GZIP_MAGIC) {
                Compression::Gzip
            } else if head.starts_with(ZSTD_MAGIC) {
                Compression::Zstd
            } else {
                Compression::Uncompressed
            }
        }
    };
    Ok(match compression {
        Compression::Gzip => (Box::new(flate2::bufread::MultiGzDecoder::new(input)), true),
        Compression::Zstd => (
            Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
            true,
        ),
        Compression::Uncompressed => (Box::new(input), false),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn decompresses_by_media_type_or_by_magic_bytes() {
        fn check(input: Vec<u8>, compression: Option<Compression>, expected: &[u8]) {
            let mut out = Vec::new();
            decompressing_reader(io::Cursor::new(input), compression)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, expected);
        }
        let data = b"some tar bytes".to_vec();
        check(gzip(&data), Some(Compression::Gzip), &data);
        check(gzip(&data), None, &data);
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        check(zst.clone(), Some(Compression::Zstd), &data);
        check(zst, None, &data);
        check(data.clone(), None, &data);
        check(data.clone(), Some(Compression::Uncompressed), &data);
        check(Vec::new(), None, b"");
    }

    #[test]
    fn a_media_type_that_lies_is_an_error_not_garbage() {
        let mut out = Vec::new();
        let result =
            decompressing_reader(io::Cursor::new(b"plain".to_vec()), Some(Compression::Gzip))
                .unwrap()
                .read_to_end(&mut out);
        assert!(result.is_err());
    }

    #[test]
    fn only_sha256_digests_name_files() {
        fn check(input: &str, ok: bool) {
            assert_eq!(digest_hex(input).is_some(), ok, "{input}");
        }
        check(&format!("sha256:{}", "a".repeat(64)), true);
        check(&format!("sha256:../{}", "a".repeat(61)), false);
        check(&format!("sha512:{}", "a".repeat(64)), false);
        check("sha256:", false);
    }
}
