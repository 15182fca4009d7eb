// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! ADD's archives and URLs. A local source is an archive when, like Docker decides it, its
//! magic bytes say gzip, bzip2, xz or zstd (or it starts with a valid tar header) *and* what
//! it decompresses to starts with a valid tar header; anything else is copied as a file.
//! Archives are extracted with the containment of [`crate::unpack`]: nothing lands outside
//! the image root, whatever the entry names or symlinks say.
//!
//! `.wh.` entries in an ADD archive are *not* whiteouts: Docker's and BuildKit's ADD extract
//! with moby's `archive.Untar` in its default (AUFS) whiteout format, which has no whiteout
//! converter, so such entries land as ordinary files named `.wh.<name>`. We do the same. (A
//! layer recording that file keeps the name, which runtimes then read as a whiteout; that is
//! what Docker produces too.)
//!
//! URLs are downloaded by [`download`] (the `download` submodule).

mod download;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub use download::download;

use crate::unpack::limits::{Counted, RatioGuard};
use crate::unpack::{
    LimitExceeded, Limits, UnpackError, UnpackOptions, UnpackStats, is_root, unpack_layer,
};

/// What can go wrong with an ADD source. Messages carry their cause, which is not also
/// returned as `source()` (a printed chain shows it once).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive file could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// Extraction failed (the error names the entry).
    #[error("extracting {}: {error}", path.display())]
    Extract {
        /// The archive.
        path: PathBuf,
        /// The error.
        error: UnpackError,
    },
    /// The URL could not be fetched (connection, invalid URL, body).
    #[error("downloading {url}: {message}")]
    Download {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server answered with a status other than 2xx.
    #[error("downloading {url}: http status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The downloaded content does not have the `--checksum` digest.
    #[error("checksum mismatch for {url}: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// The URL.
        url: String,
        /// The digest `--checksum` asked for.
        expected: String,
        /// The digest of what was downloaded.
        actual: String,
    },
    /// A bound of the build was reached (the message names the limit and its flag).
    #[error("{what}: {error}")]
    Limit {
        /// The archive or URL.
        what: String,
        /// The limit.
        error: LimitExceeded,
    },
    /// A download larger than `--add-url-max-size`.
    #[error("downloading {url}: {size} is more than --add-url-max-size {limit}")]
    TooLarge {
        /// The URL.
        url: String,
        /// What the server announced, or what had arrived when the limit was passed.
        size: crate::unpack::limits::ByteSize,
        /// The limit.
        limit: crate::unpack::limits::ByteSize,
    },
    /// A download that did not finish in time.
    #[error("downloading {url}: {what}")]
    Timeout {
        /// The URL.
        url: String,
        /// Which timeout, and its flag or value.
        what: String,
    },
    /// A `--checksum` that is not `sha256:<64 hex>`.
    #[error("invalid checksum {0:?} (want sha256:<64 hex>)")]
    BadChecksum(String),
}

/// How an archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// A plain tar.
    Tar,
    /// gzip.
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// zstd.
    Zstd,
}

const TAR_BLOCK: usize = 512;

/// The compression `head` (the first bytes of a file) starts with, Docker's magic numbers.
fn compression_of(head: &[u8]) -> Option<ArchiveKind> {
    const MAGICS: [(&[u8], ArchiveKind); 4] = [
        (&[0x1f, 0x8b, 0x08], ArchiveKind::Gzip),
        (b"BZh", ArchiveKind::Bzip2),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], ArchiveKind::Xz),
        (&[0x28, 0xb5, 0x2f, 0xfd], ArchiveKind::Zstd),
    ];
    MAGICS
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, kind)| *kind)
}

/// Whether `block` is a valid tar header: not all zeros, and its checksum (unsigned or the
/// historic signed sum) matches.
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < TAR_BLOCK || block.iter().all(|b| *b == 0) {
        return false;
    }
    let Some(field) = block.get(148..156) else {
        return false;
    };
    let text: String = field
        .iter()
        .map(|b| *b as char)
        .filter(|c| *c != '\0' && *c != ' ')
        .collect();
    let Ok(stored) = i64::from_str_radix(&text, 8) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, byte) in block.iter().take(TAR_BLOCK).enumerate() {
        let byte = if (148..156).contains(&i) { b' ' } else { *byte };
        unsigned += i64::from(byte);
        signed += i64::from(byte as i8);
    }
    stored == unsigned || stored == signed
}

/// A reader of the tar inside an archive of `kind`.
pub fn open_archive(
    input: impl Read + Send + 'static,
    kind: ArchiveKind,
) -> io::Result<Box<dyn Read + Send>> {
    let input = BufReader::new(input);
    Ok(match kind {
        ArchiveKind::Tar => Box::new(input),
        ArchiveKind::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        ArchiveKind::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        ArchiveKind::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        ArchiveKind::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
    })
}

/// [`open_archive`] with the ratio check of `max_ratio` (0: none) on a compressed stream;
/// `what` names it in the error.
pub fn open_guarded(
    input: impl Read + Send + 'static,
    kind: ArchiveKind,
    max_ratio: u64,
    what: String,
) -> io::Result<Box<dyn Read + Send>> {
    if kind == ArchiveKind::Tar {
        return open_archive(input, kind);
    }
    let (input, count) = Counted::new(input);
    Ok(RatioGuard::wrap(
        open_archive(input, kind)?,
        count,
        max_ratio,
        what,
    ))
}

/// Reads up to `buf.len()` bytes (fewer only at the end of the stream).
fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The kind of archive the file at `path` is, `None` when it is not one (ADD then copies it
/// as a file). Errors only when the file cannot be read.
pub fn detect_archive(path: &Path) -> io::Result<Option<ArchiveKind>> {
    let file = File::open(path)?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf()?.to_vec();
    let kind = compression_of(&head).unwrap_or(ArchiveKind::Tar);
    let mut tar = match open_archive(reader, kind) {
        Ok(tar) => tar,
        Err(_) => return Ok(None),
    };
    let mut block = [0u8; TAR_BLOCK];
    // A stream that fails to decompress is not an archive: it is copied as is.
    let Ok(n) = read_up_to(&mut tar, &mut block) else {
        return Ok(None);
    };
    Ok((n == TAR_BLOCK && is_tar_header(&block)).then_some(kind))
}

/// Extracts the archive at `path`, of `kind` (`None`: detected, and not an archive is an
/// error), into `dest_dir_in_root` (a path inside the image root `dest_root`, symlinks
/// resolved inside it), with the containment of [`crate::unpack`] and `.wh.` entries kept as
/// files. With `chown`, every entry gets those ids (applied when we are root; the caller
/// records them in the layer either way). Entries are charged to `limits`' disk budget and a
/// compressed archive is held to its ratio limit. Returns what was written (the
/// root-relative paths in archive order, and the archive's `./` entry).
pub fn extract_archive(
    path: &Path,
    kind: Option<ArchiveKind>,
    dest_root: &Path,
    dest_dir_in_root: &Path,
    chown: Option<(u32, u32)>,
    limits: &Limits,
) -> Result<UnpackStats, ArchiveError> {
    let io_err = |error| ArchiveError::Io {
        path: path.to_path_buf(),
        error,
    };
    let kind = match kind {
        Some(kind) => kind,
        None => detect_archive(path).map_err(io_err)?.ok_or_else(|| {
            io_err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a tar archive",
            ))
        })?,
    };
    let tar = open_guarded(
        File::open(path).map_err(io_err)?,
        kind,
        limits.max_ratio,
        format!("archive {}", path.display()),
    )
    .map_err(io_err)?;
    let opts = UnpackOptions {
        whiteouts: false,
        preserve_owners: is_root(),
        chown,
        prefix: dest_dir_in_root.to_path_buf(),
        record_paths: true,
        budget: limits.disk.clone(),
        ..UnpackOptions::default()
    };
    let stats = unpack_layer(dest_root, tar, &opts).map_err(|error| match error.limit() {
        Some(limit) => ArchiveError::Limit {
            what: format!("extracting {}", path.display()),
            error: limit.clone(),
        },
        None => ArchiveError::Extract {
            path: path.to_path_buf(),
            error,
        },
    })?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn sample_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path("dir/hello.txt").unwrap();
        h.set_size(5);
        h.set_mode(0o640);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, &b"hello"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_path(".wh.kept").unwrap();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn compress(kind: ArchiveKind, data: &[u8]) -> Vec<u8> {
        match kind {
            ArchiveKind::Tar => data.to_vec(),
            ArchiveKind::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            ArchiveKind::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            ArchiveKind::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            ArchiveKind::Zstd => zstd::encode_all(data, 1).unwrap(),
        }
    }

    #[test]
    fn archives_are_detected_by_content_not_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, content: Vec<u8>, expected: Option<ArchiveKind>| {
            let path = dir.path().join(name);
            fs_write(&path, &content);
            assert_eq!(detect_archive(&path).unwrap(), expected, "{name}");
        };
        let tar = sample_tar();
        for kind in [
            ArchiveKind::Tar,
            ArchiveKind::Gzip,
            ArchiveKind::Bzip2,
            ArchiveKind::Xz,
            ArchiveKind::Zstd,
        ] {
            check(&format!("{kind:?}.bin"), compress(kind, &tar), Some(kind));
            // Compressed, but not a tar inside: copied as a file.
            let text = b"just some text that is long enough to be more than a block ".repeat(20);
            check(
                &format!("{kind:?}-text.tar.gz"),
                compress(kind, &text),
                None,
            );
        }
        check("empty.tar", Vec::new(), None);
        check("zeros.tar", vec![0u8; 1024], None);
        check("short.gz", vec![0x1f, 0x8b, 0x08, 0x00], None);
        let mut broken = tar.clone();
        broken[150] ^= 0x11;
        check("badsum.tar", broken, None);
    }

    fn fs_write(path: &Path, content: &[u8]) {
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn extraction_lands_under_the_destination_and_keeps_wh_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("opt/real")).unwrap();
        // The destination goes through a symlink resolved inside the root.
        std::os::unix::fs::symlink("/opt/real", root.join("app")).unwrap();
        let archive = dir.path().join("a.tar.xz");
        fs_write(&archive, &compress(ArchiveKind::Xz, &sample_tar()));
        let written = extract_archive(
            &archive,
            None,
            &root,
            Path::new("/app"),
            Some((7, 8)),
            &Limits::default(),
        )
        .unwrap()
        .written;
        assert_eq!(
            written,
            [
                PathBuf::from("opt/real/dir/hello.txt"),
                PathBuf::from("opt/real/.wh.kept")
            ]
        );
        let hello = root.join("opt/real/dir/hello.txt");
        assert_eq!(std::fs::read_to_string(&hello).unwrap(), "hello");
        let meta = std::fs::metadata(&hello).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640);
        if is_root() {
            assert_eq!((meta.uid(), meta.gid()), (7, 8));
        }
    }

    #[test]
    fn extracting_a_non_archive_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.txt");
        fs_write(&path, b"hello");
        let err = extract_archive(
            &path,
            None,
            dir.path(),
            Path::new("/"),
            None,
            &Limits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("plain.txt"), "{err}");
    }
}
