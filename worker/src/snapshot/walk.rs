// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The full-walk snapshotter: a [`Scan`] of the stage root before a command and one after,
//! compared path by path. A path is changed when its type, mode, owner, size, mtime, ctime,
//! inode or link target differ (ctime moves on every write, chmod, chown, xattr change and
//! link count change, and cannot be set back by the command), or, in `full` mode, when its
//! content hash differs. Deletions become whiteouts of the top-most deleted path; a path
//! below one that is no longer a directory needs none.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Change, Exclusions};

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
}

impl Scan {
    /// Scans `root`, leaving out excluded trees; `hash` also hashes regular files.
    pub fn of(root: &Path, exclusions: &Exclusions, hash: bool) -> io::Result<Scan> {
        let mut scan = Scan::default();
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
            if self.paths.get(rel) != Some(stat) {
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
        let after = Scan::of(root, &Exclusions::default(), false).expect("scan");
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
        let before = Scan::of(root, &Exclusions::default(), false).expect("scan");
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
}
