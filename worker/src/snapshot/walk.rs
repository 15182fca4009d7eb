// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The full-walk snapshotter: a [`Scan`] of the stage root before a command and one after,
//! compared path by path. A path is changed when its type, mode, owner, size, mtime, ctime,
//! inode or link target differ (ctime moves on every write, chmod, chown, xattr change and
//! link count change, and cannot be set back by the command), or, in `full` mode, when its
//! content hash differs. In `time` mode ([`Compare::Mtime`], Kaniko's) only the mtime and the
//! file type are compared: a rewrite that keeps the mtime is not a change. Deletions become whiteouts of the top-most deleted path; a path
//! below one that is no longer a directory needs none.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Change, Exclusions};

/// What the walk compares of a path that is there before and after (`--snapshot-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compare {
    /// Metadata and the content hash of regular files (`full`).
    Content,
    /// Type, mode, owner, size, mtime, ctime, inode, link target (`redo`).
    #[default]
    Metadata,
    /// The mtime and the file type only, as Kaniko's `time`.
    Mtime,
}

/// What is compared of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    link: Option<PathBuf>,
    hash: Option<[u8; 32]>,
    dir: bool,
}

/// Every path of a root filesystem (root-relative) and its [`Stat`].
#[derive(Debug, Clone, Default)]
pub struct Scan {
    paths: BTreeMap<PathBuf, Stat>,
    compare: Compare,
}

impl Stat {
    /// Whether `self` (after) is unchanged from `before` under `compare`.
    fn same(&self, before: &Stat, compare: Compare) -> bool {
        match compare {
            Compare::Content | Compare::Metadata => self == before,
            Compare::Mtime => {
                self.mtime == before.mtime && self.mode & libc::S_IFMT == before.mode & libc::S_IFMT
            }
        }
    }
}

impl Scan {
    /// Scans `root`, leaving out excluded trees; [`Compare::Content`] also hashes regular
    /// files.
    pub fn of(root: &Path, exclusions: &Exclusions, compare: Compare) -> io::Result<Scan> {
        let hash = compare == Compare::Content;
        let mut scan = Scan {
            compare,
            ..Scan::default()
        };
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let dir = root.join(&rel);
            for entry in fs::read_dir(&dir)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
            {
                let entry = entry?;
                let child = rel.join(entry.file_name());
                if exclusions.trees.iter().any(|t| child.starts_with(t)) {
                    continue;
                }
                let full = root.join(&child);
                let meta = match fs::symlink_metadata(&full) {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                let link = if meta.file_type().is_symlink() {
                    Some(fs::read_link(&full)?)
                } else {
                    None
                };
                let hash = if hash && meta.is_file() {
                    Some(hash_file(&full)?)
                } else {
                    None
                };
                if meta.is_dir() {
                    stack.push(child.clone());
                }
                scan.paths.insert(
                    child,
                    Stat {
                        mode: meta.mode(),
                        uid: meta.uid(),
                        gid: meta.gid(),
                        size: if meta.is_dir() { 0 } else { meta.len() },
                        mtime: (meta.mtime(), meta.mtime_nsec()),
                        ctime: (meta.ctime(), meta.ctime_nsec()),
                        ino: meta.ino(),
                        link,
                        hash,
                        dir: meta.is_dir(),
                    },
                );
            }
        }
        Ok(scan)
    }

    /// A path's mode (type bits included), uid and gid in this scan.
    pub fn meta(&self, rel: &Path) -> Option<(u32, u32, u32)> {
        self.paths.get(rel).map(|s| (s.mode, s.uid, s.gid))
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// What changed from `self` (before) to `after`, in path order.
    pub fn diff(&self, after: &Scan) -> Vec<Change> {
        let mut out = Vec::new();
        for (rel, stat) in &after.paths {
            if !self
                .paths
                .get(rel)
                .is_some_and(|before| stat.same(before, self.compare))
            {
                out.push(Change::Entry {
                    rel: rel.clone(),
                    opaque: false,
                });
            }
        }
        // Every deleted path, then the top-most ones: not below another deleted path, nor
        // below a path that is no longer a directory.
        let gone: std::collections::HashSet<&Path> = self
            .paths
            .keys()
            .filter(|rel| !after.paths.contains_key(*rel))
            .map(PathBuf::as_path)
            .collect();
        for rel in self.paths.keys() {
            if !gone.contains(rel.as_path()) {
                continue;
            }
            let covered = rel.ancestors().skip(1).any(|a| {
                !a.as_os_str().is_empty()
                    && (gone.contains(a) || after.paths.get(a).is_some_and(|s| !s.dir))
            });
            if !covered {
                out.push(Change::Whiteout(rel.clone()));
            }
        }
        out.sort_by(|a, b| a.rel().cmp(b.rel()));
        out
    }
}

fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn changes(before: &Scan, root: &Path) -> Vec<String> {
        let after = Scan::of(root, &Exclusions::default(), before.compare).expect("scan");
        crate::snapshot::tests::rels(&before.diff(&after))
    }

    #[test]
    fn the_walk_finds_additions_changes_and_top_most_deletions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("a/b/c")).expect("mkdir");
        fs::write(root.join("a/b/c/f"), "1").expect("write");
        fs::write(root.join("keep"), "k").expect("write");
        fs::write(root.join("mode"), "m").expect("write");
        fs::create_dir_all(root.join("d/sub")).expect("mkdir");
        fs::write(root.join("d/sub/x"), "x").expect("write");
        let before = Scan::of(root, &Exclusions::default(), Compare::Metadata).expect("scan");
        assert!(changes(&before, root).is_empty(), "no change, no entries");
        fs::remove_dir_all(root.join("a/b")).expect("rm");
        fs::set_permissions(root.join("mode"), fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::remove_dir_all(root.join("d")).expect("rm");
        fs::write(root.join("d"), "now a file").expect("write");
        fs::write(root.join("new"), "n").expect("write");
        assert_eq!(
            changes(&before, root),
            ["+a", "-a/b", "+d", "+mode", "+new"],
            "a (its mtime) and the top-most deleted path; nothing below d, which became a file"
        );
    }

    #[test]
    fn time_mode_sees_only_mtime_changes_and_full_mode_sees_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::write(root.join("kept"), "before").expect("write");
        fs::write(root.join("touched"), "same").expect("write");
        let old = fs::metadata(root.join("kept"))
            .expect("stat")
            .modified()
            .expect("mtime");
        let scans = [Compare::Mtime, Compare::Metadata, Compare::Content]
            .map(|c| Scan::of(root, &Exclusions::default(), c).expect("scan"));
        // Same size, new content, the old mtime put back; a new mtime on the other file.
        fs::write(root.join("kept"), "after!").expect("write");
        fs::File::options()
            .write(true)
            .open(root.join("kept"))
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
        let later = old + std::time::Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(root.join("touched"))
            .and_then(|f| f.set_modified(later))
            .expect("set mtime");
        assert_eq!(changes(&scans[0], root), ["+touched"], "time: mtime only");
        assert_eq!(
            changes(&scans[1], root),
            ["+kept", "+touched"],
            "redo: ctime moved"
        );
        assert_eq!(changes(&scans[2], root), ["+kept", "+touched"], "full");
    }
}
