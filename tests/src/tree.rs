// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! What "the same image" means for parity tests: the file tree of an unpacked rootfs (type,
//! mode with setuid/setgid/sticky, owner, size, content hash, symlink target, device numbers,
//! hardlink groups — never mtimes) and the user-visible config fields, each with a `diff` that
//! lists every difference with both values.

mod config;
mod difference;
mod layers;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

pub use config::ConfigView;
pub use difference::{Difference, DifferenceKind, Differences};
pub use layers::{LayerItem, LayerListing, image_layers};

/// The type of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::CharDevice => "char device",
            Kind::BlockDevice => "block device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

/// What a tree records about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The type.
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (regular files; 0 otherwise).
    pub size: u64,
    /// sha256 of the content, hex (regular files).
    pub sha256: Option<String>,
    /// Symlink target, as stored.
    pub target: Option<PathBuf>,
    /// `(major, minor)` of a device.
    pub device: Option<(u32, u32)>,
    /// For a file hardlinked within the tree: the first path (in order) of its link group.
    pub link: Option<String>,
}

impl Entry {
    /// A short description for one-sided differences: `file 0644 0:0 12 bytes`.
    fn summary(&self) -> String {
        let mut s = format!(
            "{} {:04o} {}:{}",
            self.kind.name(),
            self.mode,
            self.uid,
            self.gid
        );
        match self.kind {
            Kind::File => s.push_str(&format!(" {} bytes", self.size)),
            Kind::Symlink => {
                if let Some(target) = &self.target {
                    s.push_str(&format!(" -> {}", target.display()));
                }
            }
            _ => {}
        }
        s
    }
}

/// Every path of a rootfs (`/etc/passwd`, without the root itself) and what is recorded
/// about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTree {
    /// The entries by absolute path inside the rootfs.
    pub entries: BTreeMap<String, Entry>,
}

/// What a tree comparison skips. Mtimes are never compared.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Paths (`/var/cache`) skipped with everything under them.
    pub ignore: Vec<String>,
}

impl DiffOptions {
    fn ignores(&self, path: &str) -> bool {
        self.ignore.iter().any(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
                || prefix.is_empty()
        })
    }
}

impl FileTree {
    /// Walks the unpacked rootfs `dir` (not following symlinks), hashing every regular file.
    pub fn from_rootfs(dir: &Path) -> anyhow::Result<FileTree> {
        let mut tree = FileTree::default();
        let mut inodes: HashMap<(u64, u64), Vec<String>> = HashMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(current) = pending.pop() {
            let listing = std::fs::read_dir(&current)
                .with_context(|| format!("listing {}", current.display()))?;
            for item in listing {
                let item = item.with_context(|| format!("listing {}", current.display()))?;
                let path = item.path();
                let meta = std::fs::symlink_metadata(&path)
                    .with_context(|| format!("reading metadata of {}", path.display()))?;
                let name = inside(dir, &path);
                let file_type = meta.file_type();
                let mut entry = Entry {
                    kind: Kind::File,
                    mode: meta.permissions().mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    size: 0,
                    sha256: None,
                    target: None,
                    device: None,
                    link: None,
                };
                if file_type.is_dir() {
                    entry.kind = Kind::Dir;
                    pending.push(path);
                } else if file_type.is_symlink() {
                    entry.kind = Kind::Symlink;
                    entry.target = Some(
                        std::fs::read_link(&path)
                            .with_context(|| format!("reading link {}", path.display()))?,
                    );
                } else if file_type.is_file() {
                    entry.size = meta.len();
                    entry.sha256 = Some(sha256_file(&path)?);
                } else {
                    entry.kind = if file_type.is_char_device() {
                        Kind::CharDevice
                    } else if file_type.is_block_device() {
                        Kind::BlockDevice
                    } else if file_type.is_fifo() {
                        Kind::Fifo
                    } else {
                        Kind::Socket
                    };
                    if file_type.is_char_device() || file_type.is_block_device() {
                        entry.device = Some(major_minor(meta.rdev()));
                    }
                }
                if !file_type.is_dir() && meta.nlink() > 1 {
                    inodes
                        .entry((meta.dev(), meta.ino()))
                        .or_default()
                        .push(name.clone());
                }
                tree.entries.insert(name, entry);
            }
        }
        for mut group in inodes.into_values().filter(|g| g.len() > 1) {
            group.sort();
            let first = group.first().cloned();
            for name in &group {
                if let Some(entry) = tree.entries.get_mut(name) {
                    entry.link = first.clone();
                }
            }
        }
        Ok(tree)
    }

    /// The tree of the image `reference` (for `arch` through an index, or the host's): copied
    /// with skopeo into an OCI layout (gzip layers, which umoci 0.4 needs), unpacked with
    /// umoci into a temporary directory, walked, and removed.
    pub fn of_image(reference: &str, arch: Option<&str>) -> anyhow::Result<FileTree> {
        let dir = tempfile::Builder::new()
            .prefix("kaniko-tree-")
            .tempdir()
            .context("creating a directory to unpack into")?;
        let result = (|| {
            let layout = dir.path().join("layout");
            let source = if reference.contains("://") {
                reference.to_string()
            } else {
                format!("docker://{reference}")
            };
            crate::skopeo_copy_image(
                &source,
                &format!("oci:{}:image", layout.display()),
                arch,
                &["--dest-compress-format", "gzip", "--dest-compress"],
            )
            .with_context(|| format!("copying {reference} to an OCI layout"))?;
            let bundle = dir.path().join("bundle");
            crate::umoci_unpack(&layout, "image", &bundle)
                .with_context(|| format!("unpacking {reference}"))?;
            FileTree::from_rootfs(&bundle.join("rootfs"))
                .with_context(|| format!("walking the rootfs of {reference}"))
        })();
        let path = dir.keep();
        if let Err(err) = remove_dir_all_force(&path) {
            tracing::warn!("removing {}: {err}", path.display());
        }
        result
    }

    /// The entry at `path` (`/etc/passwd`).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Every path, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Every difference between `self` (left) and `other` (right).
    pub fn diff(&self, other: &FileTree) -> Differences {
        diff(self, other, &DiffOptions::default())
    }
}

/// Every difference between the trees `a` (left) and `b` (right), in path order, skipping
/// `opts.ignore`: paths on one side only, then for paths on both sides each field that differs
/// (when the type differs, only type, mode and owner are compared).
pub fn diff(a: &FileTree, b: &FileTree, opts: &DiffOptions) -> Differences {
    let mut list = Vec::new();
    let mut left = a
        .entries
        .iter()
        .filter(|(p, _)| !opts.ignores(p))
        .peekable();
    let mut right = b
        .entries
        .iter()
        .filter(|(p, _)| !opts.ignores(p))
        .peekable();
    loop {
        match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some((path, entry)), None) => {
                list.push(only(path, entry, DifferenceKind::OnlyLeft));
                left.next();
            }
            (None, Some((path, entry))) => {
                list.push(only(path, entry, DifferenceKind::OnlyRight));
                right.next();
            }
            (Some((lp, le)), Some((rp, re))) => match lp.cmp(rp) {
                std::cmp::Ordering::Less => {
                    list.push(only(lp, le, DifferenceKind::OnlyLeft));
                    left.next();
                }
                std::cmp::Ordering::Greater => {
                    list.push(only(rp, re, DifferenceKind::OnlyRight));
                    right.next();
                }
                std::cmp::Ordering::Equal => {
                    compare(lp, le, re, &mut list);
                    left.next();
                    right.next();
                }
            },
        }
    }
    Differences::new(list)
}

fn only(path: &str, entry: &Entry, side: fn(String) -> DifferenceKind) -> Difference {
    Difference {
        at: path.to_string(),
        kind: side(entry.summary()),
    }
}

fn compare(path: &str, a: &Entry, b: &Entry, out: &mut Vec<Difference>) {
    let mut field = |name: &'static str, left: String, right: String| {
        if left != right {
            out.push(Difference::field(path, name, left, right));
        }
    };
    field("type", a.kind.name().into(), b.kind.name().into());
    field("mode", format!("{:04o}", a.mode), format!("{:04o}", b.mode));
    field("uid", a.uid.to_string(), b.uid.to_string());
    field("gid", a.gid.to_string(), b.gid.to_string());
    if a.kind != b.kind {
        return;
    }
    field("size", a.size.to_string(), b.size.to_string());
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    field("sha256", opt(&a.sha256), opt(&b.sha256));
    let target = |t: &Option<PathBuf>| t.as_ref().map_or("-".into(), |t| t.display().to_string());
    field("target", target(&a.target), target(&b.target));
    let device = |d: Option<(u32, u32)>| d.map_or("-".into(), |(ma, mi)| format!("{ma}:{mi}"));
    field("device", device(a.device), device(b.device));
    field("link", opt(&a.link), opt(&b.link));
}

/// `/` + the path of `path` relative to `root`.
fn inside(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    format!("/{}", relative.to_string_lossy())
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex_string(&hasher.finalize()))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Linux's `major()` and `minor()` of a device number.
fn major_minor(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & 0xffff_f000);
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xffff_ff00);
    (major as u32, minor as u32)
}

/// Removes `path` and everything under it, first making read-only directories writable (as
/// buildah's vfs storage and unpacked rootfs leave them).
pub fn remove_dir_all_force(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(listing) = std::fs::read_dir(&dir) {
            for item in listing.flatten() {
                if item.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(item.path());
                }
            }
        }
    }
    std::fs::remove_dir_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32, content: &str) -> Entry {
        let mut hasher = Sha256::new();
        hasher.update(content.as_bytes());
        Entry {
            kind: Kind::File,
            mode,
            uid: 0,
            gid: 0,
            size: content.len() as u64,
            sha256: Some(hex_string(&hasher.finalize())),
            target: None,
            device: None,
            link: None,
        }
    }

    fn dir() -> Entry {
        Entry {
            kind: Kind::Dir,
            sha256: None,
            size: 0,
            ..file(0o755, "")
        }
    }

    fn symlink(target: &str) -> Entry {
        Entry {
            kind: Kind::Symlink,
            target: Some(PathBuf::from(target)),
            ..dir()
        }
    }

    fn tree(entries: &[(&str, Entry)]) -> FileTree {
        FileTree {
            entries: entries
                .iter()
                .map(|(p, e)| (p.to_string(), e.clone()))
                .collect(),
        }
    }

    fn base() -> FileTree {
        tree(&[
            ("/bin", dir()),
            ("/bin/sh", symlink("/bin/busybox")),
            ("/etc", dir()),
            ("/etc/passwd", file(0o644, "root:x:0:0\n")),
        ])
    }

    /// `(path, field)` of each difference; one-sided ones as `only left` / `only right`.
    fn shape(diff: &Differences) -> Vec<(String, &'static str)> {
        diff.list
            .iter()
            .map(|d| {
                let what = match d.kind {
                    DifferenceKind::OnlyLeft(_) => "only left",
                    DifferenceKind::OnlyRight(_) => "only right",
                    DifferenceKind::Field { field, .. } => field,
                };
                (d.at.clone(), what)
            })
            .collect()
    }

    #[test]
    fn diff_lists_exactly_what_changed() {
        fn check(change: fn(&mut FileTree), expected: &[(&str, &str)]) {
            let mut changed = base();
            change(&mut changed);
            let diff = base().diff(&changed);
            let expected: Vec<(String, &str)> =
                expected.iter().map(|(p, f)| (p.to_string(), *f)).collect();
            assert_eq!(shape(&diff), expected, "{diff}");
        }
        check(|_| {}, &[]);
        check(
            |t| t.entries.get_mut("/etc/passwd").unwrap().mode = 0o4755,
            &[("/etc/passwd", "mode")],
        );
        check(
            |t| t.entries.get_mut("/bin").unwrap().gid = 10,
            &[("/bin", "gid")],
        );
        check(
            |t| {
                t.entries
                    .insert("/etc/passwd".into(), file(0o644, "root:x:0:1\n"));
            },
            &[("/etc/passwd", "sha256")],
        );
        check(
            |t| {
                t.entries
                    .insert("/etc/passwd".into(), file(0o644, "root:x:0:0:root\n"));
            },
            &[("/etc/passwd", "size"), ("/etc/passwd", "sha256")],
        );
        check(
            |t| {
                t.entries.insert("/bin/sh".into(), symlink("busybox"));
            },
            &[("/bin/sh", "target")],
        );
        check(
            |t| {
                t.entries.insert("/bin/sh".into(), file(0o755, "#!"));
            },
            &[("/bin/sh", "type")],
        );
        check(
            |t| {
                t.entries.remove("/etc/passwd");
                t.entries.insert("/etc/group".into(), file(0o644, ""));
            },
            &[("/etc/group", "only right"), ("/etc/passwd", "only left")],
        );
        check(
            |t| t.entries.get_mut("/etc/passwd").unwrap().link = Some("/etc/passwd".into()),
            &[("/etc/passwd", "link")],
        );
    }

    #[test]
    fn ignored_paths_take_their_subtrees_with_them() {
        fn check(ignore: &[&str], expected: &[&str]) {
            let mut changed = base();
            changed.entries.get_mut("/etc/passwd").unwrap().uid = 1;
            changed.entries.get_mut("/bin").unwrap().uid = 1;
            changed.entries.insert("/etcetera".into(), dir());
            let opts = DiffOptions {
                ignore: ignore.iter().map(|s| s.to_string()).collect(),
            };
            let diff = diff(&base(), &changed, &opts);
            assert_eq!(diff.places(), expected, "{diff}");
        }
        check(&[], &["/bin", "/etc/passwd", "/etcetera"]);
        check(&["/etc"], &["/bin", "/etcetera"]);
        check(&["/etc/"], &["/bin", "/etcetera"]);
        check(&["/etc/passwd", "/bin"], &["/etcetera"]);
    }

    #[test]
    fn a_value_difference_prints_both_values() {
        let mut changed = base();
        changed.entries.get_mut("/etc/passwd").unwrap().mode = 0o600;
        let shown = base()
            .diff(&changed)
            .labeled("kaniko", "buildah")
            .to_string();
        assert!(
            shown.contains("/etc/passwd: mode 0644 (kaniko) != 0600 (buildah)"),
            "{shown}"
        );
    }

    #[test]
    fn device_numbers_split_like_the_kernels_macros() {
        fn check(rdev: u64, expected: (u32, u32)) {
            assert_eq!(major_minor(rdev), expected, "{rdev:#x}");
        }
        check(0x0103, (1, 3)); // /dev/null
        check(0x0805, (8, 5));
        check(0x0000_1000_0010_0103, (0x1001, 0x103));
    }
}
