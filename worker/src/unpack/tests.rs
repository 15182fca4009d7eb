// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of layer unpacking: hostile tars (built with the `tar` crate's raw header API, so
//! that names can hold `..` and absolute paths) never write outside the root, and whiteouts,
//! opaque directories, hard links, modes, owners and mtimes come out as a runtime would
//! produce them.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;

use super::*;

/// An error and its causes on one line, as the binaries print them.
fn chain(err: &UnpackError) -> String {
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// One entry of a test tar.
enum E<'a> {
    File(&'a str, &'a str, u32),
    Dir(&'a str, u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

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
    h.set_mtime(1_000_000);
    h.set_cksum();
    h
}

fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (h, data): (tar::Header, &[u8]) = match e {
            E::File(p, c, m) => (
                header(p, tar::EntryType::Regular, c.len() as u64, "", *m),
                c.as_bytes(),
            ),
            E::Dir(p, m) => (header(p, tar::EntryType::Directory, 0, "", *m), b""),
            E::Symlink(p, t) => (header(p, tar::EntryType::Symlink, 0, t, 0o777), b""),
            E::Hardlink(p, t) => (header(p, tar::EntryType::Link, 0, t, 0o644), b""),
        };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Both ways directories are resolved: `openat2` (this kernel) and the component walk
/// (kernels without it). Hostile orders are checked with each.
const RESOLVERS: [Resolver; 2] = [Resolver::Auto, Resolver::Walk];

/// A base directory holding `root/` and a sentinel file `outside` next to it.
struct Sandbox {
    base: tempfile::TempDir,
    resolver: Resolver,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox::with(Resolver::Auto)
    }

    fn with(resolver: Resolver) -> Self {
        let base = tempfile::tempdir().unwrap();
        fs::create_dir(base.path().join("root")).unwrap();
        fs::write(base.path().join("outside"), "sentinel").unwrap();
        Sandbox { base, resolver }
    }

    fn root(&self) -> PathBuf {
        self.base.path().join("root")
    }

    fn apply(&self, layers: &[Vec<u8>]) -> Result<UnpackStats, UnpackError> {
        let mut total = UnpackStats::default();
        for layer in layers {
            let opts = UnpackOptions {
                resolver: self.resolver,
                ..UnpackOptions::default()
            };
            total.add(unpack_layer(&self.root(), &layer[..], &opts)?);
        }
        Ok(total)
    }

    /// Everything below the base except what is inside `root/`.
    fn outside(&self) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for entry in fs::read_dir(self.base.path()).unwrap() {
            let entry = entry.unwrap();
            found.insert(entry.file_name().to_string_lossy().into_owned());
        }
        assert_eq!(
            fs::read_to_string(self.base.path().join("outside")).unwrap(),
            "sentinel",
            "the file outside the root was changed"
        );
        found
    }

    /// The tree inside the root: `path kind[content]`, sorted.
    fn tree(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root(), Path::new(""), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(root.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let rel = rel.join(entry.file_name());
        let meta = fs::symlink_metadata(root.join(&rel)).unwrap();
        let shown = rel.display();
        if meta.file_type().is_symlink() {
            let target = fs::read_link(root.join(&rel)).unwrap();
            out.push(format!("{shown} -> {}", target.display()));
        } else if meta.is_dir() {
            out.push(format!("{shown}/"));
            walk(root, &rel, out);
        } else {
            let content = fs::read_to_string(root.join(&rel)).unwrap();
            out.push(format!("{shown} = {content}"));
        }
    }
}

fn outside_names() -> BTreeSet<String> {
    ["outside", "root"].into_iter().map(String::from).collect()
}

#[test]
fn hostile_tars_stay_inside_the_root() {
    fn check(layers: &[&[E<'_>]], expected: &[&str]) {
        for resolver in RESOLVERS {
            let sandbox = Sandbox::with(resolver);
            let layers: Vec<Vec<u8>> = layers.iter().map(|l| tar_of(l)).collect();
            sandbox.apply(&layers).unwrap();
            assert_eq!(sandbox.outside(), outside_names(), "{resolver:?}");
            assert_eq!(sandbox.tree(), expected, "{resolver:?}");
        }
    }
    // `..` climbs no higher than the root.
    check(
        &[&[E::File("../../etc/x", "dotdot", 0o644)]],
        &["etc/", "etc/x = dotdot"],
    );
    check(&[&[E::File("../outside", "x", 0o644)]], &["outside = x"]);
    // An absolute name is relative to the root.
    check(
        &[&[E::File("/etc/x", "abs", 0o644)]],
        &["etc/", "etc/x = abs"],
    );
    // A symlink to `/` is the root.
    check(
        &[&[E::Symlink("a", "/"), E::File("a/etc/x", "via-root", 0o644)]],
        &["a -> /", "etc/", "etc/x = via-root"],
    );
    // A relative symlink climbing out stops at the root.
    check(
        &[&[E::Symlink("a", "../../.."), E::File("a/x", "climb", 0o644)]],
        &["a -> ../../..", "x = climb"],
    );
    // A symlink from an earlier layer, written through by a later one.
    check(
        &[
            &[E::Symlink("evil", "..")],
            &[E::File("evil/outside", "through", 0o644)],
        ],
        &["evil -> ..", "outside = through"],
    );
    // A file replaces a symlink pointing outside: the symlink goes, the target stays.
    check(
        &[
            &[E::Symlink("f", "../outside")],
            &[E::File("f", "replaced", 0o644)],
        ],
        &["f = replaced"],
    );
    // A hard link to `../outside` links to the root's `outside`.
    check(
        &[&[
            E::File("outside", "inner", 0o644),
            E::Hardlink("link", "../outside"),
        ]],
        &["link = inner", "outside = inner"],
    );
}

#[test]
fn an_absolute_symlink_to_the_host_path_of_the_base_stays_inside() {
    for resolver in RESOLVERS {
        let sandbox = Sandbox::with(resolver);
        let base = sandbox.base.path().to_str().unwrap().to_string();
        let layers = vec![
            tar_of(&[E::Symlink("evil", &base)]),
            tar_of(&[E::File("evil/outside", "through", 0o644)]),
        ];
        sandbox.apply(&layers).unwrap();
        assert_eq!(sandbox.outside(), outside_names());
        let inner = sandbox
            .root()
            .join(base.trim_start_matches('/'))
            .join("outside");
        assert_eq!(fs::read_to_string(inner).unwrap(), "through");
    }
}

#[test]
fn a_hardlink_to_a_missing_target_fails_naming_it_and_writes_nothing_outside() {
    let sandbox = Sandbox::new();
    let err = sandbox
        .apply(&[tar_of(&[E::Hardlink("link", "../../nothere")])])
        .unwrap_err();
    assert!(err.to_string().contains("nothere"), "{err}");
    assert_eq!(sandbox.outside(), outside_names());
}

#[test]
fn symlink_loops_are_an_error_not_a_hang() {
    for resolver in RESOLVERS {
        let sandbox = Sandbox::with(resolver);
        let err = sandbox
            .apply(&[tar_of(&[E::Symlink("l", "l"), E::File("l/x", "x", 0o644)])])
            .unwrap_err();
        assert!(
            chain(&err).contains("symlinks"),
            "{resolver:?}: {}",
            chain(&err)
        );
    }
}

#[test]
fn whiteouts_and_opaque_dirs_hide_lower_layers_only() {
    fn check(layers: &[&[E<'_>]], expected: &[&str]) {
        let sandbox = Sandbox::new();
        let layers: Vec<Vec<u8>> = layers.iter().map(|l| tar_of(l)).collect();
        sandbox.apply(&layers).unwrap();
        assert_eq!(sandbox.outside(), outside_names());
        assert_eq!(
            sandbox.tree(),
            expected,
            "{layers:?}",
            layers = layers.len()
        );
    }
    let lower: &[E<'_>] = &[
        E::Dir("a", 0o755),
        E::File("a/1", "1", 0o644),
        E::File("a/2", "2", 0o644),
        E::File("b", "b", 0o644),
        E::Dir("d", 0o755),
        E::File("d/old", "old", 0o644),
        E::Dir("d/sub", 0o755),
        E::File("d/sub/deep", "deep", 0o644),
    ];
    // `.wh.<name>` removes files and whole directories.
    check(
        &[lower, &[E::File("a/.wh.1", "", 0), E::File(".wh.d", "", 0)]],
        &["a/", "a/2 = 2", "b = b"],
    );
    // An opaque marker empties what lower layers put in `d`; this layer's entries stay,
    // before or after the marker.
    check(
        &[
            lower,
            &[
                E::Dir("d", 0o755),
                E::File("d/early", "e", 0o644),
                E::File("d/.wh..wh..opq", "", 0),
                E::File("d/late", "l", 0o644),
            ],
        ],
        &[
            "a/",
            "a/1 = 1",
            "a/2 = 2",
            "b = b",
            "d/",
            "d/early = e",
            "d/late = l",
        ],
    );
    // A whiteout of something that never existed is harmless; a whiteout name cannot climb.
    check(
        &[&[
            E::File("x/.wh.nothing", "", 0),
            E::File("../.wh.outside", "", 0),
        ]],
        &[],
    );
    // Without whiteout interpretation (ADD), `.wh.` files are ordinary files.
    let sandbox = Sandbox::new();
    let opts = UnpackOptions {
        whiteouts: false,
        ..UnpackOptions::default()
    };
    unpack_layer(
        &sandbox.root(),
        &tar_of(&[E::File(".wh.x", "", 0o644)])[..],
        &opts,
    )
    .unwrap();
    assert_eq!(sandbox.tree(), [".wh.x = "]);
}

#[test]
fn replacing_entries_follows_layer_semantics() {
    fn check(layers: &[&[E<'_>]], expected: &[&str]) {
        let sandbox = Sandbox::new();
        let layers: Vec<Vec<u8>> = layers.iter().map(|l| tar_of(l)).collect();
        sandbox.apply(&layers).unwrap();
        assert_eq!(sandbox.tree(), expected);
    }
    // Directory over directory merges.
    check(
        &[
            &[E::Dir("d", 0o755), E::File("d/a", "a", 0o644)],
            &[E::Dir("d", 0o700), E::File("d/b", "b", 0o644)],
        ],
        &["d/", "d/a = a", "d/b = b"],
    );
    // A file over a non-empty directory replaces it.
    check(
        &[
            &[E::Dir("d", 0o755), E::File("d/a", "a", 0o644)],
            &[E::File("d", "file", 0o644)],
        ],
        &["d = file"],
    );
    // A directory over a file replaces it.
    check(
        &[&[E::File("d", "file", 0o644)], &[E::Dir("d", 0o755)]],
        &["d/"],
    );
    // A symlink over a directory replaces it, and is not followed.
    check(
        &[
            &[E::Dir("d", 0o755), E::File("d/a", "a", 0o644)],
            &[E::Symlink("d", "/etc")],
        ],
        &["d -> /etc"],
    );
    // A file whose parent is missing gets its parents.
    check(
        &[&[E::File("x/y/z", "z", 0o644)]],
        &["x/", "x/y/", "x/y/z = z"],
    );
}

#[test]
fn hard_links_share_the_inode_even_when_listed_before_their_target() {
    let sandbox = Sandbox::new();
    sandbox
        .apply(&[tar_of(&[
            E::Hardlink("early", "bin/tool"),
            E::Dir("bin", 0o755),
            E::File("bin/tool", "tool", 0o755),
            E::Hardlink("bin/alias", "bin/tool"),
        ])])
        .unwrap();
    let root = sandbox.root();
    let tool = fs::metadata(root.join("bin/tool")).unwrap();
    for link in ["bin/alias", "early"] {
        let meta = fs::metadata(root.join(link)).unwrap();
        assert_eq!(meta.ino(), tool.ino(), "{link}");
    }
    assert_eq!(tool.nlink(), 3);
}

#[test]
fn modes_owners_and_mtimes_are_applied() {
    let sandbox = Sandbox::new();
    let mut owned = header("owned", tar::EntryType::Regular, 1, "", 0o4755);
    owned.set_uid(1234);
    owned.set_gid(5678);
    owned.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(
        &header("tmp", tar::EntryType::Directory, 0, "", 0o1777),
        &b""[..],
    )
    .unwrap();
    b.append(
        &header("tmp/f", tar::EntryType::Regular, 1, "", 0o2640),
        &b"x"[..],
    )
    .unwrap();
    b.append(
        &header("sgid", tar::EntryType::Directory, 0, "", 0o2755),
        &b""[..],
    )
    .unwrap();
    b.append(&owned, &b"y"[..]).unwrap();
    b.append(
        &header("link", tar::EntryType::Symlink, 0, "owned", 0o777),
        &b""[..],
    )
    .unwrap();
    let tar = b.into_inner().unwrap();
    sandbox.apply(&[tar]).unwrap();
    let root = sandbox.root();
    fn check(root: &Path, path: &str, mode: u32) {
        let meta = fs::symlink_metadata(root.join(path)).unwrap();
        assert_eq!(meta.mode() & 0o7777, mode, "{path}: {:o}", meta.mode());
        assert_eq!(meta.mtime(), 1_000_000, "{path} mtime");
    }
    check(&root, "tmp", 0o1777);
    check(&root, "tmp/f", 0o2640);
    check(&root, "sgid", 0o2755);
    check(&root, "link", 0o777);
    let owned = fs::metadata(root.join("owned")).unwrap();
    if is_root() {
        // Ownership first, then the mode: setuid survives the chown.
        assert_eq!(owned.mode() & 0o7777, 0o4755);
        assert_eq!((owned.uid(), owned.gid()), (1234, 5678));
    } else {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(owned.uid(), euid);
    }
}

#[test]
fn fifos_are_created_and_paths_are_recorded_under_the_prefix() {
    let sandbox = Sandbox::new();
    let mut b = tar::Builder::new(Vec::new());
    b.append(
        &header("pipe", tar::EntryType::Fifo, 0, "", 0o600),
        &b""[..],
    )
    .unwrap();
    b.append(
        &header("../../f", tar::EntryType::Regular, 1, "", 0o644),
        &b"f"[..],
    )
    .unwrap();
    let opts = UnpackOptions {
        prefix: PathBuf::from("/app"),
        record_paths: true,
        ..UnpackOptions::default()
    };
    let stats = unpack_layer(&sandbox.root(), &b.into_inner().unwrap()[..], &opts).unwrap();
    assert_eq!(
        stats.written,
        [PathBuf::from("app/pipe"), PathBuf::from("app/f")]
    );
    let meta = fs::symlink_metadata(sandbox.root().join("app/pipe")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    assert_eq!(sandbox.outside(), outside_names());
}

#[test]
fn a_corrupt_tar_is_an_error() {
    let sandbox = Sandbox::new();
    let mut tar = tar_of(&[E::File("a", "hello", 0o644)]);
    tar[148] ^= 0x55; // break the header checksum
    assert!(sandbox.apply(&[tar]).is_err());
}

/// The sentinel's mtime, to see whether anything touched it.
fn outside_mtime(sandbox: &Sandbox) -> i64 {
    fs::symlink_metadata(sandbox.base.path().join("outside"))
        .unwrap()
        .mtime()
}

/// The base directory as an absolute symlink target: a host path, which inside the root
/// names `<root>/<base>`.
fn host_dir(sandbox: &Sandbox) -> String {
    sandbox.base.path().to_str().unwrap().to_string()
}

#[test]
fn a_deferred_hard_link_is_not_made_through_a_symlink_planted_over_its_parent() {
    for resolver in RESOLVERS {
        let sandbox = Sandbox::with(resolver);
        let host = host_dir(&sandbox);
        // The link comes before its target, so it waits for the end of the layer; meanwhile
        // its parent `p` becomes a symlink to the host directory holding `outside`.
        let err = sandbox
            .apply(&[tar_of(&[
                E::Hardlink("p/outside", "payload"),
                E::Symlink("p", &host),
                E::File("payload", "pwned", 0o644),
            ])])
            .unwrap_err();
        assert_eq!(sandbox.outside(), outside_names(), "{resolver:?}");
        let message = chain(&err);
        assert!(message.contains("p/outside"), "{message}");
        assert!(message.contains("replaced"), "{message}");
    }
}

#[test]
fn a_deferred_hard_link_target_is_not_found_through_a_symlink_planted_later() {
    for resolver in RESOLVERS {
        let sandbox = Sandbox::with(resolver);
        let host = host_dir(&sandbox);
        // `d/outside` does not exist when the link is read; `d` then points at the host
        // directory, where a file of that name does exist.
        let err = sandbox
            .apply(&[tar_of(&[
                E::Hardlink("link", "d/outside"),
                E::Symlink("d", &host),
            ])])
            .unwrap_err();
        assert!(
            matches!(err, UnpackError::MissingLinkTarget { .. }),
            "{resolver:?}: {err}"
        );
        assert!(err.to_string().contains("d/outside"), "{err}");
        assert!(
            fs::symlink_metadata(sandbox.root().join("link")).is_err(),
            "the host file was linked into the root"
        );
        let host_file = fs::metadata(sandbox.base.path().join("outside")).unwrap();
        assert_eq!(host_file.nlink(), 1, "the host file gained a link");
    }
}

#[test]
fn directory_mtimes_are_not_set_through_a_symlink_planted_later() {
    for resolver in RESOLVERS {
        let sandbox = Sandbox::with(resolver);
        let host = host_dir(&sandbox);
        let before = outside_mtime(&sandbox);
        assert_ne!(before, 1_000_000);
        // `p/outside` is a directory whose mtime is set at the end of the layer; by then
        // `p` is a symlink to the host directory, whose `outside` is the sentinel.
        sandbox
            .apply(&[tar_of(&[
                E::Dir("p", 0o755),
                E::Dir("p/outside", 0o755),
                E::Symlink("p", &host),
            ])])
            .unwrap();
        assert_eq!(sandbox.outside(), outside_names());
        assert_eq!(
            outside_mtime(&sandbox),
            before,
            "{resolver:?}: the host file's mtime was set"
        );
        assert_eq!(sandbox.tree(), [format!("p -> {host}")]);
    }
}

#[test]
fn whiteouts_resolve_their_parent_inside_the_root_whatever_the_order() {
    fn check(layers: &[Vec<u8>], sandbox: &Sandbox) {
        let before = outside_mtime(sandbox);
        sandbox.apply(layers).unwrap();
        assert_eq!(sandbox.outside(), outside_names());
        assert_eq!(outside_mtime(sandbox), before);
    }
    for resolver in RESOLVERS {
        // A whiteout under a directory that a later entry of the same layer turns into a
        // symlink to the host; then a whiteout and an opaque marker under that symlink in
        // the next layers.
        let sandbox = Sandbox::with(resolver);
        let host = host_dir(&sandbox);
        check(
            &[
                tar_of(&[E::Dir("p", 0o755), E::File("p/outside", "inner", 0o644)]),
                tar_of(&[E::File("p/.wh.outside", "", 0), E::Symlink("p", &host)]),
                tar_of(&[E::File("p/.wh.outside", "", 0)]),
                tar_of(&[E::File("p/.wh..wh..opq", "", 0)]),
            ],
            &sandbox,
        );
        assert_eq!(sandbox.tree(), [format!("p -> {host}")]);
        // The same through a relative symlink climbing out, and a whiteout naming `..`.
        let sandbox = Sandbox::with(resolver);
        check(
            &[
                tar_of(&[E::Symlink("up", "../../..")]),
                tar_of(&[
                    E::File("up/.wh.outside", "", 0),
                    E::File("up/.wh..wh..opq", "", 0),
                    E::File("up/x/.wh...", "", 0),
                ]),
            ],
            &sandbox,
        );
    }
}

#[test]
fn overlay_format_keeps_whiteouts_as_overlay_lower_entries() {
    use std::os::unix::fs::FileTypeExt;
    let root = tempfile::tempdir().unwrap();
    let tar = tar_of(&[
        E::File(".wh.gone", "", 0o644),
        E::Dir("d/", 0o755),
        E::File("d/.wh..wh..opq", "", 0o644),
        E::File("d/new", "n", 0o644),
        E::File(".wh.again", "", 0o644),
        E::Dir("again/", 0o755),
        E::File("kept/.wh.x", "", 0o644),
    ]);
    let opts = UnpackOptions {
        overlay_whiteouts: true,
        ..UnpackOptions::default()
    };
    unpack_layer(root.path(), &tar[..], &opts).unwrap();
    let is_whiteout = |rel: &str| {
        let meta = fs::symlink_metadata(root.path().join(rel)).unwrap();
        meta.file_type().is_char_device() && meta.rdev() == 0
    };
    let opaque = |rel: &str| {
        let path = root.path().join(rel);
        crate::store::stack::tests_support::is_opaque(&path)
    };
    assert!(is_whiteout("gone"), "`.wh.gone` is the device 0/0 `gone`");
    assert!(is_whiteout("kept/x"), "a whiteout's missing parent is made");
    assert!(opaque("d"), "the opaque marker is the overlay xattr");
    assert_eq!(fs::read_to_string(root.path().join("d/new")).unwrap(), "n");
    assert!(!root.path().join("d/.wh..wh..opq").exists());
    assert!(
        opaque("again"),
        "a directory replacing a whiteout hides the lower one"
    );
    assert!(!opaque("kept"));
}
