// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of COPY planning: destination rules, ownership, modes, links, .dockerignore.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

/// An image that has exactly these directories (and `/etc/hosts` as a file).
struct Dirs(Vec<&'static str>);

impl PathInfo for Dirs {
    fn known(&self, path: &str) -> Known {
        if path == "/etc/hosts" {
            Known::NotDir
        } else if self.0.contains(&path) {
            Known::Dir {
                mode: 0o700,
                uid: 5,
                gid: 6,
            }
        } else {
            Known::Missing
        }
    }
}

fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("src/sub")).unwrap();
    fs::write(root.join("a.txt"), "a").unwrap();
    fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
    fs::write(root.join("src/sub/x"), "x").unwrap();
    fs::set_permissions(root.join("src/sub/x"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("main.rs", root.join("src/link")).unwrap();
    fs::hard_link(root.join("src/main.rs"), root.join("src/hard")).unwrap();
    dir
}

fn src(root: &Path, rel: &str) -> Source {
    Source::Path {
        root: root.to_path_buf(),
        rel: PathBuf::from(rel),
    }
}

/// path → (kind letter, mode, uid, gid, link target)
fn summary(planned: &[Planned]) -> BTreeMap<String, (char, u32, u64, u64, String)> {
    planned
        .iter()
        .map(|p| {
            let (kind, target) = match &p.entry.kind {
                EntryKind::Dir => ('d', String::new()),
                EntryKind::File { .. } => ('f', String::new()),
                EntryKind::Symlink { target } => ('l', target.display().to_string()),
                EntryKind::Hardlink { target } => ('h', target.display().to_string()),
                _ => ('?', String::new()),
            };
            (
                p.entry.path.display().to_string(),
                (kind, p.entry.mode, p.entry.uid, p.entry.gid, target),
            )
        })
        .collect()
}

fn paths(planned: &[Planned]) -> Vec<String> {
    planned
        .iter()
        .map(|p| p.entry.path.display().to_string())
        .collect()
}

#[test]
fn destination_rules() {
    let ctx = context();
    let root = ctx.path();
    let image = Dirs(vec!["/", "/usr", "/usr/bin"]);
    let opts = CopyOptions::default();
    let check = |sources: Vec<Source>, dest: &str, workdir: &str, expected: &[&str]| {
        let planned = plan_copy(&sources, dest, workdir, &opts, &image, None).unwrap();
        assert_eq!(paths(&planned), expected, "{dest} in {workdir}");
    };
    // A single file to a new path is written at that path (new parents created).
    check(
        vec![src(root, "a.txt")],
        "/opt/b.txt",
        "/",
        &["opt", "opt/b.txt"],
    );
    // Trailing slash: into the directory.
    check(
        vec![src(root, "a.txt")],
        "/opt/",
        "/",
        &["opt", "opt/a.txt"],
    );
    // An existing directory: into it, with its existing metadata.
    check(
        vec![src(root, "a.txt")],
        "/usr/bin",
        "/",
        &["usr", "usr/bin", "usr/bin/a.txt"],
    );
    // Relative to WORKDIR, and `.`.
    check(vec![src(root, "a.txt")], ".", "/app", &["app", "app/a.txt"]);
    check(
        vec![src(root, "a.txt")],
        "rel/b",
        "/app",
        &["app", "app/rel", "app/rel/b"],
    );
    // A directory source copies its contents.
    check(vec![src(root, "src/sub")], "/dst", "/", &["dst", "dst/x"]);
    // Several sources: a directory.
    check(
        vec![src(root, "a.txt"), src(root, "src/sub/x")],
        "/many",
        "/",
        &["many", "many/a.txt", "many/x"],
    );
}

#[test]
fn ownership_modes_and_links() {
    let ctx = context();
    let root = ctx.path();
    let image = Dirs(vec!["/"]);
    let planned = plan_copy(
        &[src(root, "src")],
        "/app/",
        "/",
        &CopyOptions::default(),
        &image,
        None,
    )
    .unwrap();
    let got = summary(&planned);
    let e = |k: char, mode: u32, t: &str| (k, mode, 0u64, 0u64, t.to_string());
    assert_eq!(got["app"], e('d', 0o755, ""));
    assert_eq!(got["app/sub/x"], e('f', 0o755, ""));
    assert_eq!(got["app/link"], e('l', 0o777, "main.rs"));
    // The two names of one inode: the first in path order is the file, the other a link.
    assert_eq!(got["app/hard"].0, 'f');
    assert_eq!(got["app/main.rs"], e('h', got["app/main.rs"].1, "app/hard"));

    let planned = plan_copy(
        &[src(root, "src")],
        "/app/",
        "/",
        &CopyOptions {
            chown: Some((1000, 1001)),
            chmod: Some(0o640),
            keep_owner: false,
            dest_dir: None,
        },
        &image,
        None,
    )
    .unwrap();
    let got = summary(&planned);
    assert_eq!(got["app"], ('d', 0o755, 1000, 1001, String::new()));
    assert_eq!(got["app/sub"], ('d', 0o640, 1000, 1001, String::new()));
    assert_eq!(got["app/sub/x"], ('f', 0o640, 1000, 1001, String::new()));
    assert_eq!(
        got["app/link"],
        ('l', 0o777, 1000, 1001, "main.rs".to_string())
    );
}

#[test]
fn file_destination_that_must_be_a_directory() {
    let ctx = context();
    let root = ctx.path();
    let err = plan_copy(
        &[src(root, "a.txt"), src(root, "src/main.rs")],
        "/etc/hosts",
        "/",
        &CopyOptions::default(),
        &Dirs(vec!["/", "/etc"]),
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("/etc/hosts"), "{err}");
}

#[test]
fn dockerignore_filters_directory_walks() {
    let ctx = context();
    let root = ctx.path();
    let ignore = DockerIgnore::parse("src/sub\n**/*.rs\n!src/main.rs\n").unwrap();
    let planned = plan_copy(
        &[src(root, "")],
        "/c/",
        "/",
        &CopyOptions::default(),
        &Dirs(vec!["/"]),
        Some(&ignore),
    )
    .unwrap();
    assert_eq!(
        paths(&planned),
        [
            "c",
            "c/a.txt",
            "c/src",
            "c/src/hard",
            "c/src/link",
            "c/src/main.rs"
        ]
    );
}

#[test]
fn heredocs_and_unknown_parents() {
    struct Unknown;
    impl PathInfo for Unknown {
        fn known(&self, _: &str) -> Known {
            Known::Unknown
        }
    }
    let planned = plan_copy(
        &[Source::Inline {
            name: "hello.sh".into(),
            content: b"echo hi\n".to_vec(),
        }],
        "/usr/local/bin/",
        "/",
        &CopyOptions {
            chmod: Some(0o755),
            ..CopyOptions::default()
        },
        &Unknown,
        None,
    )
    .unwrap();
    // Parents that may exist in an unindexed base are left out of the layer.
    assert_eq!(paths(&planned), ["usr/local/bin/hello.sh"]);
    assert_eq!(planned[0].entry.mode, 0o755);
    assert_eq!(planned[0].content, Content::Inline(b"echo hi\n".to_vec()));
}

#[test]
fn written_layer_holds_the_files() {
    let ctx = context();
    let root = ctx.path();
    let planned = plan_copy(
        &[src(root, "src/main.rs")],
        "/m.rs",
        "/",
        &CopyOptions::default(),
        &Dirs(vec!["/"]),
        None,
    )
    .unwrap();
    let writer = LayerWriter::new(
        Vec::new(),
        kaniko_image::layer::LayerOptions {
            compression: kaniko_common::oci::Compression::Gzip,
            level: None,
            reproducible: true,
            mode: kaniko_common::oci::OciMode::Oci,
        },
    )
    .unwrap();
    let (bytes, info) = write_layer(writer, &planned).unwrap();
    assert_eq!(info.entries, 1);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut entries = archive.entries().unwrap();
    let mut first = entries.next().unwrap().unwrap();
    assert_eq!(first.path().unwrap().to_string_lossy(), "m.rs");
    assert_eq!(first.header().mtime().unwrap(), 0);
    let mut text = String::new();
    first.read_to_string(&mut text).unwrap();
    assert_eq!(text, "fn main() {}");
}

#[test]
fn an_archives_root_entry_gives_the_destination_its_mode_and_owner() {
    let ctx = context();
    let root = ctx.path();
    let root_entry = RootEntry {
        mode: 0o750,
        uid: 1234,
        gid: 5678,
    };
    let plan = |dest_dir: Option<RootEntry>, chown: Option<(u64, u64)>, image: &Dirs| {
        let opts = CopyOptions {
            keep_owner: true,
            dest_dir,
            chown,
            ..CopyOptions::default()
        };
        summary(&plan_copy(&[src(root, "src")], "/x/plain/", "/", &opts, image, None).unwrap())
    };
    let missing = Dirs(vec![]);
    let existing = Dirs(vec!["/x", "/x/plain"]);
    // A new destination and one the image has both take the archive root's metadata.
    for image in [&missing, &existing] {
        let got = plan(Some(root_entry), None, image);
        assert_eq!(got["x/plain"], ('d', 0o750, 1234, 5678, String::new()));
    }
    // Without a root entry: the default for a new directory, the image's for an existing one.
    assert_eq!(
        plan(None, None, &missing)["x/plain"],
        ('d', 0o755, 0, 0, String::new())
    );
    assert_eq!(
        plan(None, None, &existing)["x/plain"],
        ('d', 0o700, 5, 6, String::new())
    );
    // --chown wins over the archive's owner, not over its mode.
    assert_eq!(
        plan(Some(root_entry), Some((7, 8)), &missing)["x/plain"],
        ('d', 0o750, 7, 8, String::new())
    );
}
