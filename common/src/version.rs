// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The product version: `.release-version` at the repository root is its single source.

/// The release version, read from `.release-version` at build time.
pub const VERSION: &str = const_trim(include_str!("../../.release-version"));

/// The git commit the binaries were built from, when built from a checkout.
pub const GIT_COMMIT: Option<&str> = option_env!("KANIKO_GIT_COMMIT");

/// `0.1.0` or `0.1.0 (commit abcdef012345)`, for `--version` output and heartbeats.
pub const LONG_VERSION: &str = env!("KANIKO_LONG_VERSION");

const fn const_trim(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let (head, _) = bytes.split_at(end);
    match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(_) => panic!(".release-version is not UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_release_file_without_newline() {
        let file =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.release-version"))
                .unwrap();
        assert_eq!(VERSION, file.trim());
        assert!(!VERSION.is_empty());
        assert!(LONG_VERSION.starts_with(VERSION));
    }
}
