// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Content digests: computing `sha256:<hex>` and validating the digests that come from
//! outside (registries, layouts, task results) before they are used as file names or URLs.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

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

/// `sha256:<hex>` and byte count of everything `reader` yields, read with a fixed 64 KiB
/// buffer.
pub fn sha256_digest_of_reader(mut reader: impl Read) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        total += n as u64;
    }
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), total))
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
