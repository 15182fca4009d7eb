// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The streaming layer writer. One pass, never holding the layer in memory:
//!
//! ```text
//! tar headers + data → sha256/count (diff_id) → gzip | zstd | none → sha256/count (digest) → sink
//! ```
//!
//! File data is copied through one fixed 64 KiB buffer owned by the writer. Compression runs
//! on worker threads (one per CPU, up to [`MAX_COMPRESSION_THREADS`]) and holds bounded
//! buffers: gzip is pigz-style parallel (fixed 128 KiB chunks deflated with zlib-rs, each
//! primed with the previous 32 KiB, joined into one gzip member: `layer/gzip.rs`); zstd is
//! libzstd's multithreaded mode. Nothing else grows with the layer.
//!
//! The tar is what Kaniko writes: USTAR or PAX headers (see [`header`]), whiteouts and opaque
//! markers (named by [`crate::whiteout`]), and the two zero blocks at the end, so even a
//! layer with no entries is a valid 1024-byte tar
//! ([`EMPTY_LAYER_DIFF_ID`]). With `reproducible`, every mtime is 0; the gzip header never
//! carries a time and neither gzip nor zstd output depends on the thread count, so the same
//! entries always give the same digest.
//!
//! After any error the writer is poisoned (the tar may be half written): every later call
//! fails; drop it and the sink.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use kaniko_common::oci::{
    Compression, CopyError, Descriptor, OciMode, copy_chunks, sha256_digest_of_reader,
};

mod disk;

pub use disk::read_xattrs;
mod encoder;
mod gzip;
mod header;

pub use encoder::{
    DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, MAX_COMPRESSION_THREADS, effective_level,
};
use encoder::{Encoder, HashCounter};
pub use gzip::CHUNK_SIZE as GZIP_CHUNK_SIZE;

/// diff_id of a layer with no entries (1024 zero bytes).
pub const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
/// Size of the copy buffer file data goes through (the one every streaming copy uses).
pub use kaniko_common::oci::COPY_BUFFER_SIZE;
/// Size of a tar with no entries.
pub const EMPTY_TAR_SIZE: u64 = 1024;

/// How a layer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerOptions {
    /// The compression.
    pub compression: Compression,
    /// Compression level; `None` is the algorithm's default (see [`effective_level`]).
    pub level: Option<i32>,
    /// Every mtime 0, for reproducible digests.
    pub reproducible: bool,
    /// OCI or Docker layer media type.
    pub mode: OciMode,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file of `size` bytes (the content passed to `append` must have at least that
    /// many; exactly `size` bytes are written).
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symbolic link; `target` is written verbatim.
    Symlink {
        /// The link's target.
        target: PathBuf,
    },
    /// A hard link to an earlier entry of the same layer (`target` is that entry's path).
    Hardlink {
        /// The path of the entry linked to.
        target: PathBuf,
    },
    /// A character device.
    CharDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One tar entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// The path in the layer; a leading `/` or `./` is dropped, `..` is refused.
    pub path: PathBuf,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`& 0o7777` is written).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time, seconds since the epoch (0 when the layer is reproducible).
    pub mtime: i64,
    /// Extended attributes, written as PAX `SCHILY.xattr.<name>` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl LayerEntry {
    /// An entry owned by root with mtime 0, no xattrs, and the usual mode for its kind
    /// (0o755 for directories, 0o777 for symlinks, 0o644 otherwise).
    pub fn new(path: impl Into<PathBuf>, kind: EntryKind) -> Self {
        let mode = match kind {
            EntryKind::Dir => 0o755,
            EntryKind::Symlink { .. } => 0o777,
            _ => 0o644,
        };
        LayerEntry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: BTreeMap::new(),
        }
    }
}

/// What a finished layer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// `sha256:<hex>` of the compressed bytes (the blob).
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar (goes in the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// Size of the compressed bytes.
    pub size: u64,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// The layer media type for the options' mode and compression.
    pub media_type: String,
    /// Number of entries (whiteouts included, PAX headers not).
    pub entries: u64,
}

impl LayerInfo {
    /// True when the layer has no entries (its tar is the 1024-byte end marker alone). Still a
    /// valid layer; Kaniko treats it as "no change" and adds no layer.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The layer's descriptor for a manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.size)
    }
}

/// Writes one layer to a sink in one pass. See the module documentation.
pub struct LayerWriter<W: Write> {
    out: HashCounter<Encoder<HashCounter<W>>>,
    opts: LayerOptions,
    buf: Box<[u8]>,
    entries: u64,
    poisoned: bool,
    /// (device, inode) of multiply-linked files written by `append_from_disk` → their path in
    /// the layer, so later names of the same inode become hard links.
    inodes: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> LayerWriter<W> {
    /// A writer into `sink`. Fails on a compression level out of range.
    pub fn new(sink: W, opts: LayerOptions) -> io::Result<Self> {
        let level = effective_level(opts.compression, opts.level)?;
        let encoder = Encoder::new(
            HashCounter::new(sink),
            opts.compression,
            level,
            encoder::compression_threads(),
        )?;
        Ok(LayerWriter {
            out: HashCounter::new(encoder),
            opts,
            buf: vec![0u8; COPY_BUFFER_SIZE].into_boxed_slice(),
            entries: 0,
            poisoned: false,
            inodes: HashMap::new(),
        })
    }

    /// The options this writer was made with.
    pub fn options(&self) -> &LayerOptions {
        &self.opts
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    fn check(&self) -> io::Result<()> {
        if self.poisoned {
            Err(io::Error::other(
                "layer writer failed earlier; the layer is incomplete",
            ))
        } else {
            Ok(())
        }
    }

    /// Appends one entry. A `File` of size > 0 needs `content`, of which exactly `size` bytes
    /// are copied (content ending early is an error; bytes beyond `size` are not read).
    pub fn append(&mut self, entry: &LayerEntry, content: Option<&mut dyn Read>) -> io::Result<()> {
        self.check()?;
        let result = self.append_inner(entry, content);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn append_inner(
        &mut self,
        entry: &LayerEntry,
        content: Option<&mut dyn Read>,
    ) -> io::Result<()> {
        let size = match entry.kind {
            EntryKind::File { size } => size,
            _ => 0,
        };
        // Validate everything before the first byte goes out.
        let header = header::encode(entry, self.opts.reproducible)?;
        let content = match (size, content) {
            (0, _) => None,
            (_, Some(c)) => Some(c),
            (_, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "layer entry {}: {size} bytes but no content",
                        entry.path.display()
                    ),
                ));
            }
        };
        self.out.write_all(&header)?;
        if let Some(content) = content {
            let mut remaining = size;
            while remaining > 0 {
                let want = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                let chunk = self.buf.get_mut(..want).unwrap_or_default();
                let n = match content.read(chunk) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "layer entry {}: content ended after {} of {size} bytes",
                                entry.path.display(),
                                size - remaining
                            ),
                        ));
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("layer entry {}: {e}", entry.path.display()),
                        ));
                    }
                };
                self.out.write_all(self.buf.get(..n).unwrap_or_default())?;
                remaining -= n as u64;
            }
            self.out.write_all(header::padding_for(size))?;
        }
        self.entries += 1;
        Ok(())
    }

    /// Appends the whiteout `.wh.<name>` that deletes `path` from lower layers.
    pub fn append_whiteout(&mut self, path: &Path) -> io::Result<()> {
        let target = crate::whiteout::whiteout_name_for(path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("whiteout for {}: path has no file name", path.display()),
            )
        })?;
        self.append(&marker_entry(target), None)
    }

    /// Appends the opaque marker `<dir>/.wh..wh..opq`: lower layers' content of `dir` is hidden.
    pub fn append_opaque(&mut self, dir: &Path) -> io::Result<()> {
        self.append(&marker_entry(crate::whiteout::opaque_marker_for(dir)), None)
    }

    /// Writes the end of the tar and the compressed stream's trailer; returns the sink and
    /// what the layer is.
    pub fn finish(mut self) -> io::Result<(W, LayerInfo)> {
        self.check()?;
        self.out.write_all(&[0u8; EMPTY_TAR_SIZE as usize])?;
        let (encoder, diff_id, uncompressed_size) = self.out.finish();
        let (mut sink, digest, size) = encoder.finish()?.finish();
        sink.flush()?;
        Ok((
            sink,
            LayerInfo {
                digest,
                diff_id,
                size,
                uncompressed_size,
                media_type: self
                    .opts
                    .mode
                    .layer_media_type(self.opts.compression)
                    .to_owned(),
                entries: self.entries,
            },
        ))
    }
}

impl LayerWriter<NamedTempFile> {
    /// A writer into a new temporary file in `dir` (deleted on drop unless persisted).
    pub fn to_temp_file(dir: &Path, opts: LayerOptions) -> io::Result<Self> {
        let file = tempfile::Builder::new()
            .prefix("layer-")
            .tempfile_in(dir)
            .map_err(|e| {
                io::Error::new(e.kind(), format!("temp file in {}: {e}", dir.display()))
            })?;
        LayerWriter::new(file, opts)
    }
}

/// A whiteout or opaque marker: an empty regular file, mode 0, owned by root, mtime 0.
fn marker_entry(path: PathBuf) -> LayerEntry {
    LayerEntry {
        mode: 0,
        ..LayerEntry::new(path, EntryKind::File { size: 0 })
    }
}

/// Compresses `reader` (an uncompressed tar) into `sink` exactly as [`LayerWriter`] compresses
/// a layer (same threads, chunks and headers, so the same bytes); `level` as in
/// [`LayerOptions::level`]. Returns the sink and the number of bytes read.
pub fn compress_stream<W: Write>(
    reader: impl Read,
    sink: W,
    compression: Compression,
    level: Option<i32>,
) -> io::Result<(W, u64)> {
    let level = effective_level(compression, level)?;
    let mut encoder = Encoder::new(sink, compression, level, encoder::compression_threads())?;
    let total =
        copy_chunks(reader, |chunk| encoder.write_all(chunk)).map_err(CopyError::into_io)?;
    Ok((encoder.finish()?, total))
}

/// diff_id (`sha256:<hex>` of the uncompressed tar) of an uncompressed tar stream.
pub fn diff_id_of_tar(reader: impl Read) -> io::Result<String> {
    sha256_digest_of_reader(reader).map(|(digest, _)| digest)
}

/// diff_id of a compressed layer blob (gzip members are all read, as runtimes do).
pub fn diff_id_of_layer(reader: impl Read, compression: Compression) -> io::Result<String> {
    match compression {
        Compression::Gzip => diff_id_of_tar(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => diff_id_of_tar(zstd::stream::read::Decoder::new(reader)?),
        Compression::Uncompressed => diff_id_of_tar(reader),
    }
}

#[cfg(test)]
mod tests;
