// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of the file index: the same whiteout, opaque and symlink semantics as unpacking,
//! captured passwd and group, and updates from the entries of new layers.

use super::*;
use sha2::Digest;

fn header(name: &str, kind: tar::EntryType, size: u64, link: &str, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_old();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    h
}

/// A tar of `(name, kind, content-or-link, mode)`.
fn tar_of(entries: &[(&str, tar::EntryType, &str, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, extra, mode) in entries {
        if kind.is_file() {
            let h = header(name, *kind, extra.len() as u64, "", *mode);
            b.append(&h, extra.as_bytes()).unwrap();
        } else {
            b.append(&header(name, *kind, 0, extra, *mode), &b""[..])
                .unwrap();
        }
    }
    b.into_inner().unwrap()
}

use tar::EntryType::{Directory as D, Link as H, Regular as F, Symlink as S};

fn base() -> FsIndex {
    let mut index = FsIndex::new();
    index
        .apply_tar(
            &tar_of(&[
                ("etc/", D, "", 0o755),
                ("etc/passwd", F, "root:x:0:0:root:/root:/bin/sh\n", 0o644),
                ("etc/group", F, "root:x:0:\n", 0o644),
                ("etc/shadow", F, "secret", 0o600),
                ("usr/", D, "", 0o755),
                ("usr/lib/", D, "", 0o755),
                ("lib", S, "/usr/lib", 0o777),
                ("a/", D, "", 0o755),
                ("a/1", F, "1", 0o644),
                ("a/2", F, "22", 0o4755),
                ("d/", D, "", 0o755),
                ("d/old", F, "old", 0o644),
                ("d/sub/", D, "", 0o755),
                ("d/sub/deep", F, "deep", 0o644),
                ("up", S, "../../..", 0o777),
                ("a/hard", H, "a/2", 0o644),
            ])[..],
        )
        .unwrap();
    index
        .apply_tar(
            &tar_of(&[
                ("a/.wh.1", F, "", 0),
                ("d/", D, "", 0o700),
                ("d/.wh..wh..opq", F, "", 0),
                ("d/new", F, "new", 0o644),
                ("lib/libx.so", F, "elf", 0o755),
            ])[..],
        )
        .unwrap();
    index
}

#[test]
fn queries_see_the_merged_filesystem() {
    let index = base();
    fn check(index: &FsIndex, path: &str, expected: Option<(NodeKind, u32, u64)>) {
        let got = index
            .get(Path::new(path))
            .map(|n| (n.kind.clone(), n.mode, n.size));
        assert_eq!(got, expected, "{path}");
    }
    check(&index, "/etc/passwd", Some((NodeKind::File, 0o644, 30)));
    check(&index, "a/1", None);
    check(&index, "a/2", Some((NodeKind::File, 0o4755, 2)));
    check(
        &index,
        "a/hard",
        Some((NodeKind::Hardlink(PathBuf::from("a/2")), 0o644, 2)),
    );
    check(&index, "d/old", None);
    check(&index, "d/sub/deep", None);
    check(&index, "d/sub", None);
    check(&index, "d/new", Some((NodeKind::File, 0o644, 3)));
    check(&index, "d", Some((NodeKind::Dir, 0o700, 0)));
    check(
        &index,
        "lib",
        Some((NodeKind::Symlink(PathBuf::from("/usr/lib")), 0o777, 0)),
    );
    // Written through the symlink: lands in usr/lib.
    check(&index, "usr/lib/libx.so", Some((NodeKind::File, 0o755, 3)));
    check(&index, "lib/libx.so", Some((NodeKind::File, 0o755, 3)));
    check(&index, "up/etc/passwd", Some((NodeKind::File, 0o644, 30)));
}

#[test]
fn is_dir_follows_symlinks_inside_the_image() {
    let index = base();
    fn check(index: &FsIndex, path: &str, expected: bool) {
        assert_eq!(index.is_dir(Path::new(path)), expected, "{path}");
    }
    check(&index, "/", true);
    check(&index, "lib", true);
    check(&index, "/lib/", true);
    check(&index, "up", true);
    check(&index, "up/usr", true);
    check(&index, "etc/passwd", false);
    check(&index, "missing", false);
    check(&index, "d/sub", false);
}

#[test]
fn passwd_and_group_are_captured_and_other_files_are_not() {
    let index = base();
    fn check(index: &FsIndex, path: &str, expected: Option<&str>) {
        let got = index.read_small_file(Path::new(path));
        assert_eq!(got, expected.map(str::as_bytes), "{path}");
    }
    check(
        &index,
        "/etc/passwd",
        Some("root:x:0:0:root:/root:/bin/sh\n"),
    );
    check(&index, "etc/group", Some("root:x:0:\n"));
    check(&index, "up/etc/group", Some("root:x:0:\n"));
    check(&index, "etc/shadow", None);
}

#[test]
fn a_later_whiteout_of_passwd_forgets_its_content() {
    let mut index = base();
    index
        .apply_tar(&tar_of(&[("etc/.wh.passwd", F, "", 0)])[..])
        .unwrap();
    assert_eq!(index.read_small_file(Path::new("etc/passwd")), None);
    assert!(index.get(Path::new("etc/passwd")).is_none());
}

#[test]
fn applied_entries_are_seen_by_later_queries() {
    let mut index = base();
    let mut app = LayerEntry::new("app", EntryKind::Dir);
    app.uid = 1000;
    index.apply(&[
        app,
        LayerEntry::new("app/bin/tool", EntryKind::File { size: 9 }),
        LayerEntry::new(
            "current",
            EntryKind::Symlink {
                target: PathBuf::from("app"),
            },
        ),
        // A whiteout among the entries removes a lower path.
        LayerEntry::new("a/.wh.2", EntryKind::File { size: 0 }),
        // A file replacing a directory drops what was below it.
        LayerEntry::new("usr", EntryKind::File { size: 1 }),
    ]);
    assert!(index.is_dir(Path::new("/app")));
    assert!(index.is_dir(Path::new("app/bin")));
    assert!(index.is_dir(Path::new("current")));
    assert_eq!(index.get(Path::new("app")).map(|n| n.uid), Some(1000));
    assert_eq!(
        index.get(Path::new("current/bin/tool")).map(|n| n.size),
        Some(9)
    );
    assert!(index.get(Path::new("a/2")).is_none());
    assert!(!index.is_dir(Path::new("usr")));
    assert!(index.get(Path::new("usr/lib/libx.so")).is_none());
    assert!(!index.is_dir(Path::new("lib")));
    index.set_small_file(
        Path::new("/etc/passwd"),
        b"app:x:1000:1000::/app:/bin/sh\n".to_vec(),
    );
    assert_eq!(
        index.read_small_file(Path::new("etc/passwd")),
        Some(&b"app:x:1000:1000::/app:/bin/sh\n"[..])
    );
}

#[test]
fn symlink_loops_do_not_hang_queries() {
    let mut index = FsIndex::new();
    index
        .apply_tar(
            &tar_of(&[
                ("l", S, "l", 0o777),
                ("m", S, "/n", 0o777),
                ("n", S, "m", 0o777),
            ])[..],
        )
        .unwrap();
    assert!(!index.is_dir(Path::new("l")));
    assert!(!index.exists(Path::new("m/x")));
    assert!(index.get(Path::new("l")).is_some());
}

#[test]
fn an_encoded_index_decodes_to_the_same_index() {
    let index = base();
    let decoded = FsIndex::decode(&index.encode()).expect("decodes");
    assert_eq!(decoded.nodes, index.nodes);
    assert_eq!(decoded.captured, index.captured);
    assert_eq!(decoded.capture, index.capture);
}

#[test]
fn a_damaged_or_other_version_index_does_not_decode() {
    let bytes = base().encode();
    assert!(FsIndex::decode(&bytes[..bytes.len() - 1]).is_none());
    assert!(FsIndex::decode(&bytes[..10]).is_none());
    assert!(FsIndex::decode(b"").is_none());
    let mut flipped = bytes.clone();
    flipped[20] ^= 1;
    assert!(FsIndex::decode(&flipped).is_none());
    // Another version with a valid checksum is refused too.
    let mut other = bytes[..bytes.len() - 32].to_vec();
    other[8..12].copy_from_slice(&(persist::FORMAT_VERSION + 1).to_le_bytes());
    let sum = sha2::Sha256::digest(&other);
    other.extend_from_slice(&sum);
    assert!(FsIndex::decode(&other).is_none());
}
