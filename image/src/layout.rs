// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! OCI image layouts on disk (`--oci-layout-path`, and what `umoci`, `skopeo` and
//! `crane` read): `oci-layout`, `index.json` and `blobs/<alg>/<hex>`.
//!
//! Every file is written atomically (a temporary file in the layout's root, then a rename),
//! with mode 0644. Digests are validated before they become paths, so none escapes `blobs/`.
//! Blobs read back are verified against their digest. `index.json` is read, changed and
//! rewritten by [`OciLayout::add_manifest`]: one writer per layout at a time.

use std::fs::{self, File, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor as SpecDescriptor, ImageIndex, ImageIndexBuilder, MediaType};
use tempfile::NamedTempFile;

use kaniko_common::oci::{
    ANNOTATION_REF_NAME, CopyError, Descriptor, DigestHasher, OCI_INDEX, OciError, hash_copy,
    is_index, is_manifest, parse_digest, to_canonical_json,
};

/// The `imageLayoutVersion` written.
pub const LAYOUT_VERSION: &str = "1.0.0";

/// What can go wrong with a layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A bad digest or media type (the error names it).
    #[error(transparent)]
    Oci(#[from] OciError),
    /// Content that does not hash to its digest.
    #[error("blob {expected} in {}: content hashes to {actual}", path.display())]
    DigestMismatch {
        /// The digest the content should have.
        expected: String,
        /// What it hashes to.
        actual: String,
        /// Where it was read from or was being written to.
        path: PathBuf,
    },
    /// Content whose size is not the one given.
    #[error("blob {digest}: {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The blob's digest.
        digest: String,
        /// The size given.
        expected: u64,
        /// The size found.
        actual: u64,
    },
    /// A blob the layout does not hold.
    #[error("blob {digest} not in layout {}", path.display())]
    BlobNotFound {
        /// The digest.
        digest: String,
        /// The layout's root.
        path: PathBuf,
    },
    /// A directory that is not an OCI image layout.
    #[error("{} is not an oci image layout: {reason}", path.display())]
    NotALayout {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No manifest carries the reference name.
    #[error("no manifest named {ref_name:?} in {}", path.display())]
    RefNotFound {
        /// The name looked up.
        ref_name: String,
        /// The layout's root.
        path: PathBuf,
    },
    /// `index.json` or `oci-layout` is not valid JSON of the right shape.
    #[error("invalid {}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An OCI image layout rooted at a directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

impl OciLayout {
    /// Creates a layout in `dir` (created if missing): `oci-layout`, an empty `index.json`
    /// and `blobs/sha256/`. On an existing layout, keeps its index and blobs (it is opened).
    pub fn create(dir: impl AsRef<Path>) -> Result<Self, LayoutError> {
        let root = dir.as_ref().to_path_buf();
        let layout = OciLayout { root };
        let blobs = layout.root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        if layout.root.join("oci-layout").exists() {
            return OciLayout::open(&layout.root);
        }
        let index_path = layout.root.join("index.json");
        if !index_path.exists() {
            layout.write_index(&empty_index()?)?;
        }
        let marker = format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}");
        layout.write_atomic(&layout.root.join("oci-layout"), marker.as_bytes())?;
        Ok(layout)
    }

    /// Opens an existing layout: `oci-layout` must name version 1.x and `index.json` must be
    /// a valid index.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LayoutError> {
        let layout = OciLayout {
            root: dir.as_ref().to_path_buf(),
        };
        let marker_path = layout.root.join("oci-layout");
        let not_layout = |reason: String| LayoutError::NotALayout {
            path: layout.root.clone(),
            reason,
        };
        let marker = match fs::read(&marker_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(not_layout("no oci-layout file".to_owned()));
            }
            Err(e) => return Err(io_err(&marker_path)(e)),
        };
        let marker: serde_json::Value =
            serde_json::from_slice(&marker).map_err(|source| LayoutError::Json {
                path: marker_path.clone(),
                source,
            })?;
        let version = marker
            .get("imageLayoutVersion")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        if !version.starts_with("1.") {
            return Err(not_layout(format!(
                "unsupported imageLayoutVersion {version:?}"
            )));
        }
        layout.index()?;
        Ok(layout)
    }

    /// The layout's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `blobs/<alg>/<hex>` for `digest`, after validating it (sha256 or sha512, lowercase
    /// hex of the right length), so the path never leaves `blobs/`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, LayoutError> {
        let (algorithm, hex) = parse_digest(digest)?;
        Ok(self.root.join("blobs").join(algorithm.as_str()).join(hex))
    }

    /// True when the layout holds the blob.
    pub fn has_blob(&self, digest: &str) -> Result<bool, LayoutError> {
        Ok(self.blob_path(digest)?.is_file())
    }

    /// Stores `bytes` and returns their descriptor under `media_type`.
    pub fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, LayoutError> {
        let descriptor = Descriptor::for_bytes(media_type, bytes);
        let path = self.blob_path(&descriptor.digest)?;
        if !path.is_file() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(descriptor)
    }

    /// Streams `reader` into the blob `digest`, verifying the digest (and `size`, when given)
    /// before the blob appears. Returns the number of bytes stored. On a mismatch nothing is
    /// left behind.
    pub fn write_blob_from_reader(
        &self,
        reader: impl Read,
        digest: &str,
        size: Option<u64>,
    ) -> Result<u64, LayoutError> {
        let (algorithm, _) = parse_digest(digest)?;
        let path = self.blob_path(digest)?;
        let mut tmp = self.temp_file()?;
        let (actual, total) = hash_copy(reader, &mut tmp, algorithm).map_err(|err| match err {
            CopyError::Read(e) => io_err(&path)(e),
            CopyError::Write(e) => io_err(tmp.path())(e),
        })?;
        if actual != digest {
            return Err(LayoutError::DigestMismatch {
                expected: digest.to_owned(),
                actual,
                path,
            });
        }
        if let Some(expected) = size
            && expected != total
        {
            return Err(LayoutError::SizeMismatch {
                digest: digest.to_owned(),
                expected,
                actual: total,
            });
        }
        self.persist(tmp, &path)?;
        Ok(total)
    }

    /// Moves the file at `path` into the layout as blob `digest` of `size` bytes. A rename
    /// when `path` is on the layout's filesystem: the digest is then the caller's word (it
    /// comes from the layer writer, which hashed the bytes as it wrote them); only the size is
    /// checked. Across filesystems the file is copied with the digest verified, then removed.
    pub fn write_blob_from_file(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
    ) -> Result<(), LayoutError> {
        let target = self.blob_path(digest)?;
        let actual = fs::metadata(path).map_err(io_err(path))?.len();
        if actual != size {
            return Err(LayoutError::SizeMismatch {
                digest: digest.to_owned(),
                expected: size,
                actual,
            });
        }
        if !target.is_file() {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            match fs::rename(path, &target) {
                Ok(()) => {
                    fs::set_permissions(&target, Permissions::from_mode(0o644))
                        .map_err(io_err(&target))?;
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    let file = File::open(path).map_err(io_err(path))?;
                    self.write_blob_from_reader(file, digest, Some(size))?;
                }
                Err(e) => return Err(io_err(path)(e)),
            }
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// Opens blob `digest` for reading (not verified: the caller streams it).
    pub fn open_blob(&self, digest: &str) -> Result<File, LayoutError> {
        let path = self.blob_path(digest)?;
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                LayoutError::BlobNotFound {
                    digest: digest.to_owned(),
                    path: self.root.clone(),
                }
            } else {
                io_err(&path)(e)
            }
        })
    }

    /// Reads blob `digest` whole, verifying it hashes to `digest`.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, LayoutError> {
        let (algorithm, _) = parse_digest(digest)?;
        let path = self.blob_path(digest)?;
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .map_err(io_err(&path))?;
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(&bytes);
        let actual = hasher.finish();
        if actual != digest {
            return Err(LayoutError::DigestMismatch {
                expected: digest.to_owned(),
                actual,
                path,
            });
        }
        Ok(bytes)
    }

    /// Lists the manifest or index `descriptor` in `index.json`, optionally under `ref_name`
    /// (annotation `org.opencontainers.image.ref.name`). An entry with the same reference
    /// name is replaced; without a name, an unnamed entry with the same digest is replaced.
    /// The blob must already be in the layout.
    pub fn add_manifest(
        &self,
        descriptor: &Descriptor,
        ref_name: Option<&str>,
    ) -> Result<(), LayoutError> {
        if !is_manifest(&descriptor.media_type) && !is_index(&descriptor.media_type) {
            return Err(OciError::UnsupportedMediaType {
                media_type: descriptor.media_type.clone(),
                what: "an oci layout's index.json",
            }
            .into());
        }
        if !self.has_blob(&descriptor.digest)? {
            return Err(LayoutError::BlobNotFound {
                digest: descriptor.digest.clone(),
                path: self.root.clone(),
            });
        }
        let mut entry = descriptor.clone();
        if let Some(name) = ref_name {
            entry
                .annotations
                .insert(ANNOTATION_REF_NAME.to_owned(), name.to_owned());
        }
        let new = SpecDescriptor::try_from(&entry)?;
        let mut index = self.index()?;
        let mut manifests = index.manifests().clone();
        manifests.retain(|m| {
            let name = m
                .annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME));
            match ref_name {
                Some(r) => name.map(String::as_str) != Some(r),
                None => name.is_some() || m.digest().to_string() != descriptor.digest,
            }
        });
        manifests.push(new);
        index.set_manifests(manifests);
        self.write_index(&index)
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> Result<ImageIndex, LayoutError> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&bytes).map_err(|source| LayoutError::Json { path, source })
    }

    /// The descriptor listed under `ref_name` (without the platform normalised).
    pub fn resolve(&self, ref_name: &str) -> Result<Descriptor, LayoutError> {
        let index = self.index()?;
        let found = index.manifests().iter().find(|m| {
            m.annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .is_some_and(|n| n == ref_name)
        });
        match found {
            Some(m) => Ok(Descriptor::try_from(m)?),
            None => Err(LayoutError::RefNotFound {
                ref_name: ref_name.to_owned(),
                path: self.root.clone(),
            }),
        }
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), LayoutError> {
        let mut index = index.clone();
        index.set_schema_version(2);
        index.set_media_type(Some(MediaType::from(OCI_INDEX)));
        let bytes = to_canonical_json(&index)?;
        self.write_atomic(&self.root.join("index.json"), &bytes)
    }

    fn temp_file(&self) -> Result<NamedTempFile, LayoutError> {
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.root)
            .map_err(io_err(&self.root))
    }

    fn persist(&self, tmp: NamedTempFile, path: &Path) -> Result<(), LayoutError> {
        tmp.as_file()
            .set_permissions(Permissions::from_mode(0o644))
            .map_err(io_err(tmp.path()))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
        Ok(())
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
        let mut tmp = self.temp_file()?;
        tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
        self.persist(tmp, path)
    }
}

fn empty_index() -> Result<ImageIndex, LayoutError> {
    Ok(ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(OCI_INDEX))
        .manifests(Vec::<SpecDescriptor>::new())
        .build()
        .map_err(|e| OciError::Build(e.to_string()))?)
}

#[cfg(test)]
mod tests;
