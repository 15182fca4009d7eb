// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The names a layer deletes with (OCI image spec, "Whiteouts"), spelled here once: a
//! whiteout `.wh.<name>` hides `<name>` of lower layers, the opaque marker `<dir>/.wh..wh..opq`
//! hides everything lower layers put below `<dir>`, and any other `.wh..wh.` name is AUFS
//! metadata that means nothing. The layer writer writes them, the worker's unpacker, its
//! layer-header index and its stage model read them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Name prefix of a whiteout entry.
pub const PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const OPAQUE: &str = ".wh..wh..opq";
/// Prefix of AUFS metadata entries (`.wh..wh.plnk` and the like), never written.
pub const META_PREFIX: &str = ".wh..wh.";

/// What a file name in a layer means, when it is one of the whiteout names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// The opaque marker: lower layers' content of the directory is hidden.
    Opaque,
    /// AUFS metadata (`.wh..wh.<anything>` other than the opaque marker): nothing to do.
    Meta,
    /// `.wh.<name>`: `<name>` (the bytes after the prefix, possibly empty) is deleted.
    Hides(&'a [u8]),
}

/// Whether `name` (one file name, not a path) starts with the whiteout prefix.
pub fn is_whiteout(name: &[u8]) -> bool {
    name.starts_with(PREFIX.as_bytes())
}

/// What `name` (one file name) means; `None` for an ordinary name.
pub fn classify(name: &[u8]) -> Option<Whiteout<'_>> {
    if name == OPAQUE.as_bytes() {
        Some(Whiteout::Opaque)
    } else if name.starts_with(META_PREFIX.as_bytes()) {
        Some(Whiteout::Meta)
    } else {
        name.strip_prefix(PREFIX.as_bytes()).map(Whiteout::Hides)
    }
}

/// The whiteout entry that deletes `path` (`<parent>/.wh.<name>`); `None` when `path` has no
/// file name.
pub fn whiteout_name_for(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let mut marker = OsString::from(PREFIX);
    marker.push(name);
    Some(path.parent().unwrap_or(Path::new("")).join(marker))
}

/// The opaque marker of `dir` (`<dir>/.wh..wh..opq`).
pub fn opaque_marker_for(dir: &Path) -> PathBuf {
    dir.join(OPAQUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified() {
        fn check(name: &str, expected: Option<Whiteout<'_>>) {
            assert_eq!(classify(name.as_bytes()), expected, "{name:?}");
            assert_eq!(is_whiteout(name.as_bytes()), expected.is_some(), "{name:?}");
        }
        check("passwd", None);
        check("x.wh.y", None);
        check(".wh", None);
        check(".wh.passwd", Some(Whiteout::Hides(b"passwd")));
        check(".wh.", Some(Whiteout::Hides(b"")));
        check(".wh...", Some(Whiteout::Hides(b"..")));
        check(".wh..wh..opq", Some(Whiteout::Opaque));
        check(".wh..wh.plnk", Some(Whiteout::Meta));
        check(".wh..wh..opqx", Some(Whiteout::Meta));
    }

    #[test]
    fn names_are_made() {
        fn check(path: &str, expected: Option<&str>) {
            assert_eq!(
                whiteout_name_for(Path::new(path)),
                expected.map(PathBuf::from),
                "{path:?}"
            );
        }
        check("etc/passwd", Some("etc/.wh.passwd"));
        check("usr", Some(".wh.usr"));
        check("a/b/", Some("a/.wh.b"));
        check("", None);
        check("a/..", None);
        assert_eq!(
            opaque_marker_for(Path::new("var/cache")),
            Path::new("var/cache/.wh..wh..opq")
        );
    }
}
