// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Containment of [`super`]: links planted or swapped in never lead out of the root.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

use super::*;

/// A root and, next to it, a directory that plays the host: nothing may reach it.
fn root_and_host() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let host = dir.path().join("host");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("secret"), "host").unwrap();
    (dir, root, host)
}

fn read_in(root: &Path, rel: &str) -> Result<String, ReadError> {
    read_file_in(root, Path::new(rel), 1024).map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn links_resolve_inside_the_root() {
    let (_dir, root, host) = root_and_host();
    symlink(&host, root.join("abs")).unwrap();
    symlink("../../../../../..", root.join("up")).unwrap();
    symlink(host.join("secret"), root.join("direct")).unwrap();
    for rel in [
        "abs/secret",
        "up/host/secret",
        "direct",
        "../host/secret",
        &format!("up{}", host.join("secret").display()),
    ] {
        assert!(
            matches!(read_in(&root, rel), Err(ReadError::NotFound)),
            "{rel} reached the host"
        );
    }
    // The same names inside the root are what they reach.
    let inside = root.join(host.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("secret"), "inside").unwrap();
    assert_eq!(read_in(&root, "abs/secret").unwrap(), "inside");
    assert_eq!(read_in(&root, "direct").unwrap(), "inside");
}

#[test]
fn a_link_swapped_in_after_resolution_stays_inside() {
    let (_dir, root, host) = root_and_host();
    std::fs::create_dir(root.join("d")).unwrap();
    std::fs::write(root.join("d/secret"), "inside").unwrap();
    let rel = crate::unpack::resolve_on_disk(&root, Path::new("d/secret"), true).unwrap();
    // Another build replaces the directory with a link to the host.
    std::fs::remove_dir_all(root.join("d")).unwrap();
    symlink(&host, root.join("d")).unwrap();
    assert!(matches!(
        read_in(&root, rel.to_str().unwrap()),
        Err(ReadError::NotFound)
    ));
    let fallback = open_beneath_nofollow(open_root(&root).unwrap().as_fd(), &rel, libc::O_RDONLY);
    assert!(fallback.is_err(), "the fallback followed the swapped link");
}

#[test]
fn magic_links_are_refused() {
    let root = open_root(Path::new("/")).unwrap();
    let err = open_in(root.as_fd(), Path::new("proc/self/root/etc"), libc::O_PATH).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
}

#[test]
fn the_fallback_refuses_every_symlink() {
    let (_dir, root, host) = root_and_host();
    std::fs::create_dir(root.join("real")).unwrap();
    std::fs::write(root.join("real/f"), "f").unwrap();
    symlink("real", root.join("inner")).unwrap();
    symlink(host.join("secret"), root.join("last")).unwrap();
    let fd = open_root(&root).unwrap();
    let open = |rel: &str, flags| open_beneath_nofollow(fd.as_fd(), Path::new(rel), flags);
    assert!(open("real/f", libc::O_RDONLY).is_ok());
    assert!(open("inner/f", libc::O_RDONLY).is_err());
    assert!(open("last", libc::O_RDONLY).is_err());
    assert!(open("last", libc::O_PATH).is_err());
    assert!(open("../host/secret", libc::O_RDONLY).is_err());
}

#[test]
fn mkdirs_in_creates_inside_and_refuses_links_on_the_way() {
    let (_dir, root, host) = root_and_host();
    let fd = open_root(&root).unwrap();
    let made = mkdirs_in(fd.as_fd(), Path::new("a/b/c"), 0o755).unwrap();
    assert!(root.join("a/b/c").is_dir());
    assert_eq!(
        stat(made.as_fd()).unwrap().st_ino,
        std::fs::metadata(root.join("a/b/c")).unwrap().ino()
    );
    symlink(&host, root.join("planted")).unwrap();
    assert!(mkdirs_in(fd.as_fd(), Path::new("planted/new"), 0o755).is_err());
    assert!(
        !host.join("new").exists(),
        "a directory was made on the host"
    );
}

#[test]
fn only_small_regular_files_are_read() {
    let (_dir, root, _host) = root_and_host();
    std::fs::write(root.join("small"), "12345").unwrap();
    std::fs::create_dir(root.join("dir")).unwrap();
    let fifo = c_path(&root.join("fifo")).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let read = |rel: &str, limit| read_file_in(&root, Path::new(rel), limit);
    assert_eq!(read("small", 5).unwrap(), b"12345");
    assert_eq!(
        read("small", 4).unwrap_err().to_string(),
        "larger than the limit of 4 bytes (4 bytes)"
    );
    assert_eq!(
        ReadError::TooLarge { limit: 4 << 20 }.to_string(),
        "larger than the limit of 4 MiB (4194304 bytes)"
    );
    assert_eq!(
        read("fifo", 5).unwrap_err().to_string(),
        "not a regular file (a fifo)"
    );
    assert_eq!(
        read("dir", 5).unwrap_err().to_string(),
        "not a regular file (a directory)"
    );
    assert!(matches!(read("missing", 5), Err(ReadError::NotFound)));
    assert!(matches!(read("small/below", 5), Err(ReadError::NotFound)));
}

#[test]
fn copy_tree_keeps_directories_files_symlinks_and_modes() {
    let from = tempfile::tempdir().unwrap();
    let to = tempfile::tempdir().unwrap();
    let src = from.path();
    std::fs::create_dir_all(src.join("d/e")).unwrap();
    std::fs::write(src.join("d/e/f"), "f").unwrap();
    std::fs::write(src.join("x"), "x").unwrap();
    std::fs::set_permissions(src.join("x"), std::fs::Permissions::from_mode(0o4751)).unwrap();
    std::fs::set_permissions(src.join("d"), std::fs::Permissions::from_mode(0o1770)).unwrap();
    symlink("../x", src.join("d/link")).unwrap();
    copy_tree(src, to.path()).unwrap();
    let dst = to.path();
    assert_eq!(std::fs::read_to_string(dst.join("d/e/f")).unwrap(), "f");
    let mode = |p: &str| std::fs::symlink_metadata(dst.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("x"), 0o4751);
    assert_eq!(mode("d"), 0o1770);
    assert_eq!(
        std::fs::read_link(dst.join("d/link")).unwrap(),
        Path::new("../x")
    );
    // The source is untouched by writes to the copy.
    std::fs::write(dst.join("x"), "changed").unwrap();
    assert_eq!(std::fs::read_to_string(src.join("x")).unwrap(), "x");
}

#[test]
fn copy_tree_never_follows_a_link_out_of_the_source() {
    let (_dir, root, host) = root_and_host();
    symlink(&host, root.join("to-host")).unwrap();
    let fifo = c_path(&root.join("fifo")).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let to = tempfile::tempdir().unwrap();
    copy_tree(&root, to.path()).unwrap();
    assert_eq!(std::fs::read_link(to.path().join("to-host")).unwrap(), host);
    assert!(!to.path().join("fifo").exists(), "a fifo was copied");
}
