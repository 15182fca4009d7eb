// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Content digests: computing `sha256:<hex>` and validating the digests that come from
//! outside (registries, layouts, task results) before they are used as file names or URLs.

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256, Sha512};

use super::OciError;

/// The digest algorithms kaniko-rs accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-256, 64 hex characters: what kaniko-rs writes.
    Sha256,
    /// SHA-512, 128 hex characters: accepted when reading.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as written before the `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    /// The number of hex characters of an encoded digest.
    pub fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha512 => 128,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `sha256:<64 lowercase hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A running sha256 or sha512, whichever a digest names.
pub enum DigestHasher {
    /// SHA-256.
    Sha256(Sha256),
    /// SHA-512.
    Sha512(Sha512),
}

impl DigestHasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha256 => DigestHasher::Sha256(Sha256::new()),
            DigestAlgorithm::Sha512 => DigestHasher::Sha512(Sha512::new()),
        }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            DigestHasher::Sha256(h) => h.update(bytes),
            DigestHasher::Sha512(h) => h.update(bytes),
        }
    }

    /// `<algorithm>:<lowercase hex>` of everything added.
    pub fn finish(self) -> String {
        match self {
            DigestHasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            DigestHasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// Which side of a [`hash_copy`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading the source.
    #[error("reading: {0}")]
    Read(#[source] io::Error),
    /// Writing the copy.
    #[error("writing: {0}")]
    Write(#[source] io::Error),
}

impl CopyError {
    /// The IO error, whichever side it came from.
    pub fn into_io(self) -> io::Error {
        match self {
            CopyError::Read(e) | CopyError::Write(e) => e,
        }
    }
}

/// Size of the buffer [`copy_chunks`] reads through.
pub const COPY_BUFFER_SIZE: usize = 64 * 1024;

/// Hands everything `reader` yields to `each`, in chunks of at most [`COPY_BUFFER_SIZE`] bytes
/// (an interrupted read is retried): the byte count. The one streaming read loop behind
/// [`hash_copy`] and the layer compressor; an error says which side it came from.
pub fn copy_chunks(
    mut reader: impl Read,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; COPY_BUFFER_SIZE];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        each(buf.get(..n).unwrap_or_default()).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// Copies everything `reader` yields into `out` ([`copy_chunks`]), hashing it with
/// `algorithm` on the way: the digest (`<algorithm>:<hex>`) and the byte count. Behind every
/// digest computed from a reader (`io::sink()` when only the digest is wanted); nothing is
/// ever held whole.
pub fn hash_copy(
    reader: impl Read,
    mut out: impl Write,
    algorithm: DigestAlgorithm,
) -> Result<(String, u64), CopyError> {
    let mut hasher = DigestHasher::new(algorithm);
    let total = copy_chunks(reader, |chunk| {
        hasher.update(chunk);
        out.write_all(chunk)
    })?;
    Ok((hasher.finish(), total))
}

/// `sha256:<hex>` and byte count of everything `reader` yields ([`hash_copy`] into nothing).
pub fn sha256_digest_of_reader(reader: impl Read) -> io::Result<(String, u64)> {
    hash_copy(reader, io::sink(), DigestAlgorithm::Sha256).map_err(CopyError::into_io)
}

/// Splits and validates a digest: only `sha256:` with 64 and `sha512:` with 128 lowercase hex
/// characters are accepted, so the hex part is always safe to use as a file name.
pub fn parse_digest(digest: &str) -> Result<(DigestAlgorithm, &str), OciError> {
    let bad = |reason| OciError::BadDigest {
        digest: digest.to_owned(),
        reason,
    };
    let (algorithm, hex) = digest.split_once(':').ok_or_else(|| bad("missing ':'"))?;
    let algorithm = match algorithm {
        "sha256" => DigestAlgorithm::Sha256,
        "sha512" => DigestAlgorithm::Sha512,
        _ => return Err(bad("unsupported algorithm (expected sha256 or sha512)")),
    };
    if hex.len() != algorithm.hex_len() {
        return Err(bad(match algorithm {
            DigestAlgorithm::Sha256 => "sha256 needs 64 hex characters",
            DigestAlgorithm::Sha512 => "sha512 needs 128 hex characters",
        }));
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(bad("not lowercase hex"));
    }
    Ok((algorithm, hex))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_known_inputs() {
        fn check(input: &[u8], expected: &str) {
            assert_eq!(sha256_digest(input), expected);
            let (digest, size) = sha256_digest_of_reader(input).unwrap();
            assert_eq!(digest, expected);
            assert_eq!(size, input.len() as u64);
        }
        check(b"", EMPTY_SHA256);
        check(
            b"{}",
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        );
    }

    #[test]
    fn hash_copy_copies_hashes_and_says_which_side_failed() {
        let input = vec![7u8; 200 * 1024];
        let mut out = Vec::new();
        let (digest, size) = hash_copy(&input[..], &mut out, DigestAlgorithm::Sha256).unwrap();
        assert_eq!((digest, size), (sha256_digest(&input), input.len() as u64));
        assert_eq!(out, input);
        let (digest, _) = hash_copy(&b""[..], io::sink(), DigestAlgorithm::Sha512).unwrap();
        assert_eq!(
            digest,
            format!("sha512:{}", hex::encode(Sha512::digest(b"")))
        );

        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("source gone"))
            }
        }
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let read = hash_copy(Failing, io::sink(), DigestAlgorithm::Sha256).unwrap_err();
        assert!(matches!(read, CopyError::Read(_)), "{read}");
        let write = hash_copy(&b"x"[..], Failing, DigestAlgorithm::Sha256).unwrap_err();
        assert!(matches!(write, CopyError::Write(_)), "{write}");
        assert_eq!(write.into_io().to_string(), "disk full");
    }

    #[test]
    fn digests_are_validated() {
        fn check(input: &str, expected: Option<(DigestAlgorithm, &str)>) {
            assert_eq!(parse_digest(input).ok(), expected, "{input}");
        }
        let hex64 = EMPTY_SHA256.trim_start_matches("sha256:");
        let hex128 = "a".repeat(128);
        check(EMPTY_SHA256, Some((DigestAlgorithm::Sha256, hex64)));
        check(
            &format!("sha512:{hex128}"),
            Some((DigestAlgorithm::Sha512, hex128.as_str())),
        );
        check(&format!("sha256:{}", hex64.to_uppercase()), None);
        check(&format!("sha256:{}", &hex64[..63]), None);
        check(&format!("sha256:{hex64}0"), None);
        check(&format!("sha512:{hex64}"), None);
        check(&format!("md5:{hex64}"), None);
        check(hex64, None);
        check("sha256:../../../../etc/passwd", None);
        check(&format!("sha256:{}/x", &hex64[..62]), None);
        check("", None);
    }

    #[test]
    fn bad_digest_error_names_the_digest() {
        let err = parse_digest("sha256:nope").unwrap_err().to_string();
        assert!(err.contains("sha256:nope"), "{err}");
    }

    proptest! {
        #[test]
        fn computed_digests_always_parse(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let digest = sha256_digest(&bytes);
            let (algorithm, hex) = parse_digest(&digest).unwrap();
            prop_assert_eq!(algorithm, DigestAlgorithm::Sha256);
            prop_assert_eq!(hex.len(), 64);
        }

        #[test]
        fn parse_never_panics_and_accepts_only_hex(s in "\\PC{0,140}") {
            if let Ok((_, hex)) = parse_digest(&s) {
                prop_assert!(hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            }
        }
    }
}
