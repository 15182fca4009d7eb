// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The two stages under the tar stream: a writer that hashes (sha256) and counts what passes
//! through it, and the compressor (gzip in parallel chunks with zlib-rs, see [`super::gzip`];
//! zstd multithreaded; or none). Both hold only bounded buffers.

use std::io::{self, BufWriter, Write};

use sha2::{Digest as _, Sha256};

use kaniko_common::oci::Compression;

use super::gzip::ParallelGzip;

/// gzip level when none is given (zlib's default).
pub const DEFAULT_GZIP_LEVEL: i32 = 6;
/// zstd level when none is given (zstd's default).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// The most compression worker threads (gzip or zstd) a layer uses.
pub const MAX_COMPRESSION_THREADS: usize = 4;

/// Passes writes through to `inner`, hashing and counting the bytes `inner` accepted.
pub(crate) struct HashCounter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashCounter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashCounter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, `sha256:<hex>` of everything written and its length.
    pub(crate) fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for HashCounter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let accepted = buf.get(..n).ok_or_else(|| {
            io::Error::other("inner writer reported more bytes than it was given")
        })?;
        self.hasher.update(accepted);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A compressing writer; [`Encoder::finish`] writes the trailer and returns the sink.
pub(crate) enum Encoder<W: Write> {
    Gzip(Box<ParallelGzip<W>>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Plain(BufWriter<W>),
}

/// The number of compression workers: the CPUs available, at least 1, at most
/// [`MAX_COMPRESSION_THREADS`].
pub(crate) fn compression_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_COMPRESSION_THREADS)
}

/// Checks `level` for `compression` and returns the level to use. `None` means the
/// algorithm's default; for gzip, `-1` also means the default (Go's `DefaultCompression`, what
/// Kaniko's `--compression-level -1` meant); for zstd, `0` means the default as in zstd itself.
pub fn effective_level(compression: Compression, level: Option<i32>) -> io::Result<i32> {
    let invalid = |range: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{compression} compression level {} out of range {range}",
                level.unwrap_or(0)
            ),
        )
    };
    match (compression, level) {
        (Compression::Gzip, None | Some(-1)) => Ok(DEFAULT_GZIP_LEVEL),
        (Compression::Gzip, Some(l)) if (0..=9).contains(&l) => Ok(l),
        (Compression::Gzip, Some(_)) => Err(invalid("0-9".to_owned())),
        (Compression::Zstd, None | Some(0)) => Ok(DEFAULT_ZSTD_LEVEL),
        (Compression::Zstd, Some(l)) => {
            let range = zstd::compression_level_range();
            if range.contains(&l) {
                Ok(l)
            } else {
                Err(invalid(format!("{} to {}", range.start(), range.end())))
            }
        }
        (Compression::Uncompressed, _) => Ok(0),
    }
}

impl<W: Write> Encoder<W> {
    /// An encoder for `compression` at `level` (already checked by [`effective_level`]) using
    /// `threads` workers; the output does not depend on `threads` (zstd always runs at least
    /// one worker, gzip cuts fixed-size chunks).
    pub(crate) fn new(
        sink: W,
        compression: Compression,
        level: i32,
        threads: usize,
    ) -> io::Result<Self> {
        Ok(match compression {
            Compression::Gzip => {
                let level = u32::try_from(level).unwrap_or(DEFAULT_GZIP_LEVEL as u32);
                // mtime 0, OS byte 255, no name: the gzip header never varies.
                Encoder::Gzip(Box::new(ParallelGzip::new(sink, level, threads)))
            }
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(sink, level)?;
                encoder.include_checksum(true)?;
                let workers = u32::try_from(threads.max(1)).unwrap_or(1);
                encoder.multithread(workers)?;
                Encoder::Zstd(encoder)
            }
            Compression::Uncompressed => Encoder::Plain(BufWriter::with_capacity(64 * 1024, sink)),
        })
    }

    /// Writes the compressed stream's trailer and returns the sink.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Plain(b) => b.into_inner().map_err(|e| e.into_error()),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Plain(b) => b.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Plain(b) => b.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(compression: Compression, level: i32, threads: usize, data: &[u8]) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new(), compression, level, threads).unwrap();
        for chunk in data.chunks(7000) {
            e.write_all(chunk).unwrap();
        }
        e.finish().unwrap()
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Half random, half repetitive, so compression has work to do.
                if i % 2 == 0 { x as u8 } else { b'a' }
            })
            .collect()
    }

    #[test]
    fn zstd_output_does_not_depend_on_the_thread_count() {
        // Reproducible layers must have the same digest on a 1-CPU and a 64-CPU worker.
        let data = sample(6 * 1024 * 1024);
        let one = compress(Compression::Zstd, 3, 1, &data);
        assert_eq!(compress(Compression::Zstd, 3, 2, &data), one);
        assert_eq!(compress(Compression::Zstd, 3, 4, &data), one);
        assert_eq!(zstd::decode_all(one.as_slice()).unwrap(), data);
    }

    #[test]
    fn gzip_output_is_stable_and_decodes() {
        let data = sample(300_000);
        let a = compress(Compression::Gzip, 6, 1, &data);
        assert_eq!(compress(Compression::Gzip, 6, 1, &data), a);
        // mtime 0 and OS "unknown" in the gzip header.
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[9], 255);
        let mut out = Vec::new();
        io::copy(&mut flate2::read::GzDecoder::new(a.as_slice()), &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn levels_are_checked() {
        fn check(compression: Compression, level: Option<i32>, expected: Option<i32>) {
            assert_eq!(
                effective_level(compression, level).ok(),
                expected,
                "{compression} {level:?}"
            );
        }
        check(Compression::Gzip, None, Some(6));
        check(Compression::Gzip, Some(-1), Some(6));
        check(Compression::Gzip, Some(0), Some(0));
        check(Compression::Gzip, Some(9), Some(9));
        check(Compression::Gzip, Some(10), None);
        check(Compression::Gzip, Some(-2), None);
        check(Compression::Zstd, None, Some(3));
        check(Compression::Zstd, Some(19), Some(19));
        check(Compression::Zstd, Some(-5), Some(-5));
        check(Compression::Zstd, Some(23), None);
        check(Compression::Zstd, Some(0), Some(3));
        check(Compression::Uncompressed, Some(99), Some(0));
        let err = effective_level(Compression::Gzip, Some(12)).unwrap_err();
        assert!(
            err.to_string().contains("gzip compression level 12"),
            "{err}"
        );
    }

    #[test]
    fn hash_counter_reports_what_passed() {
        let mut h = HashCounter::new(Vec::new());
        h.write_all(b"hello ").unwrap();
        h.write_all(b"world").unwrap();
        let (inner, digest, count) = h.finish();
        assert_eq!(inner, b"hello world");
        assert_eq!(count, 11);
        assert_eq!(digest, kaniko_common::oci::sha256_digest(b"hello world"));
    }

    #[test]
    fn thread_count_is_capped() {
        let n = compression_threads();
        assert!((1..=MAX_COMPRESSION_THREADS).contains(&n));
    }
}
