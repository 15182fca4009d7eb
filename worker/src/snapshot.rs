// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Snapshots: what a RUN changed, as the entries of one layer. Two ways to find the change:
//!
//! * **overlay** ([`from_upper`]): the command ran on an overlay whose upper directory now
//!   holds exactly what changed — new and modified files (copied up whole), directories on
//!   the way, whiteouts (character devices 0/0) for deletions and the `opaque` xattr for a
//!   directory deleted and made again. Cost follows the change, not the root filesystem.
//!   [`apply_upper`] then moves the change into the stage root (renames, no copies). A file
//!   written through one of several hard-linked names is copied up alone; [`links`] first
//!   links its other names into the upper so the group stays one inode.
//! * **walk** ([`walk`]): the command ran on the stage root itself; a scan before and one
//!   after are compared (type, mode, owner, size, mtime, ctime, inode, link target; `full`
//!   mode also hashes content, `time` mode compares the mtime only), where overlay is not
//!   available, for `--single-snapshot` and for `--snapshot-mode time`.
//!
//! Either way the change is a list of [`Change`]s in path order (parents first); deletions
//! are whiteouts of the top-most deleted path only, and nothing below a path that became a
//! file or a symlink is whited out. [`Exclusions`] keep out `/proc`, `/sys`, `/dev`, the
//! provided `/etc` files the sandbox had to create, VOLUMEs and `--ignore-path`s.
//! [`write_layer`] streams the changes into a layer (hard links within the layer kept).

pub mod links;
pub mod walk;

use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use kaniko_image::layer::{EntryKind, LayerEntry, LayerWriter};

use kaniko_image::whiteout;

/// How changes are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Snapshotter {
    /// Overlay when it mounts, else the walk (decided on the first RUN).
    #[default]
    Auto,
    /// Overlay only (an error where it cannot mount).
    Overlay,
    /// The full walk.
    Walk,
}

impl Snapshotter {
    /// Parses `auto`, `overlay` or `walk`.
    pub fn parse(text: &str) -> Result<Snapshotter, String> {
        match text {
            "auto" => Ok(Snapshotter::Auto),
            "overlay" => Ok(Snapshotter::Overlay),
            "walk" => Ok(Snapshotter::Walk),
            other => Err(format!(
                "unknown snapshotter {other:?}: expected auto, overlay or walk"
            )),
        }
    }
}

/// One change, root-relative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Added or modified: the entry at this path (read from the source directory).
    Entry {
        /// Root-relative path.
        rel: PathBuf,
        /// A directory whose lower content is hidden (overlay opaque), to be written with an
        /// opaque marker.
        opaque: bool,
    },
    /// Deleted.
    Whiteout(PathBuf),
}

impl Change {
    /// The path the change is about.
    pub fn rel(&self) -> &Path {
        match self {
            Change::Entry { rel, .. } | Change::Whiteout(rel) => rel,
        }
    }
}

/// Paths a snapshot leaves out.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    /// Root-relative paths left out with everything below them.
    pub trees: Vec<PathBuf>,
    /// Paths the sandbox created as mount points: left out unless something else was
    /// written below them.
    pub created: Vec<PathBuf>,
}

impl Exclusions {
    /// `/proc`, `/sys`, `/dev`, plus `extra` (absolute or root-relative).
    pub fn new(extra: impl IntoIterator<Item = PathBuf>, created: Vec<PathBuf>) -> Self {
        let mut trees: Vec<PathBuf> = crate::sandbox::PSEUDO_DIRS
            .iter()
            .map(|p| PathBuf::from(p.trim_start_matches('/')))
            .collect();
        for path in extra {
            let rel = crate::unpack::clean(&path);
            if !rel.as_os_str().is_empty() {
                trees.push(rel);
            }
        }
        Exclusions { trees, created }
    }

    fn excludes_tree(&self, rel: &Path) -> bool {
        self.trees.iter().any(|t| rel.starts_with(t))
    }

    /// Drops excluded changes, created mount points nothing else was written below, and
    /// directories that are only there because of what was dropped: no kept change below
    /// them and the same type, mode and owner as in `before` (`source` holds the entries
    /// now; `before` gives a path's mode, uid and gid before the command).
    pub fn filter(
        &self,
        changes: Vec<Change>,
        source: &Path,
        before: &dyn Fn(&Path) -> Option<Owned>,
    ) -> Vec<Change> {
        let kept: Vec<Change> = changes
            .into_iter()
            .filter(|c| !self.excludes_tree(c.rel()))
            .collect();
        // Below a path, only what is neither excluded nor a created mount point counts: the
        // strict ancestors of every such change, collected once (linear in the changes).
        let mut with_kept_below: HashSet<&Path> = HashSet::new();
        for change in &kept {
            if self.created.iter().any(|p| p == change.rel()) {
                continue;
            }
            for ancestor in change.rel().ancestors().skip(1) {
                if !with_kept_below.insert(ancestor) {
                    break;
                }
            }
        }
        let has_kept_below = |rel: &Path| with_kept_below.contains(rel);
        kept.iter()
            .filter(|c| match c {
                Change::Entry { rel, .. } if self.created.iter().any(|p| p == rel) => {
                    has_kept_below(rel)
                }
                Change::Entry { rel, opaque: false } => {
                    if has_kept_below(rel) {
                        return true;
                    }
                    let Ok(now) = fs::symlink_metadata(source.join(rel)) else {
                        return true;
                    };
                    if !now.is_dir() {
                        return true;
                    }
                    before(rel) != Some((now.mode(), now.uid(), now.gid()))
                }
                _ => true,
            })
            .cloned()
            .collect()
    }
}

/// A path's mode (type bits included), uid and gid.
pub type Owned = (u32, u32, u32);

/// A path's mode (type bits included), uid and gid in `root`, not following a symlink.
#[cfg(test)]
pub fn meta_in(root: &Path, rel: &Path) -> Option<Owned> {
    let meta = fs::symlink_metadata(root.join(rel)).ok()?;
    Some((meta.mode(), meta.uid(), meta.gid()))
}

/// Reads one extended attribute of `path` (not following a symlink).
fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and buffer.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(usize::try_from(len).ok()?);
    Some(buf)
}

fn is_opaque(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| get_xattr(path, name).as_deref() == Some(b"y"))
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// The changes an overlay upper directory holds, in path order.
pub fn from_upper(upper: &Path) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    visit_upper(upper, Path::new(""), &mut out)?;
    Ok(out)
}

fn visit_upper(upper: &Path, rel: &Path, out: &mut Vec<Change>) -> io::Result<()> {
    let dir = upper.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let child_rel = rel.join(&name);
        let full = upper.join(&child_rel);
        let meta = fs::symlink_metadata(&full)?;
        if is_whiteout(&meta) {
            out.push(Change::Whiteout(child_rel));
            continue;
        }
        if meta.is_dir() {
            out.push(Change::Entry {
                rel: child_rel.clone(),
                opaque: is_opaque(&full),
            });
            visit_upper(upper, &child_rel, out)?;
        } else {
            out.push(Change::Entry {
                rel: child_rel,
                opaque: false,
            });
        }
    }
    Ok(())
}

/// Streams `changes` into `writer`, reading entries from `source` (the upper directory or
/// the stage root; later names of an inode become hard links). Returns what was written
/// (whiteouts as `.wh.` names), for what the executor knows of the filesystem.
pub fn write_layer<W: io::Write>(
    writer: &mut LayerWriter<W>,
    source: &Path,
    changes: &[Change],
) -> io::Result<Vec<LayerEntry>> {
    let mut written = Vec::new();
    for change in changes {
        match change {
            Change::Whiteout(rel) => {
                writer.append_whiteout(rel)?;
                // The writer has refused a path without a file name.
                let name = whiteout::whiteout_name_for(rel).unwrap_or_default();
                written.push(LayerEntry::new(name, EntryKind::File { size: 0 }));
            }
            Change::Entry { rel, opaque } => {
                writer.append_from_disk(source, rel, rel)?;
                written.push(recorded(source, rel)?);
                if *opaque {
                    writer.append_opaque(rel)?;
                    written.push(LayerEntry::new(
                        whiteout::opaque_marker_for(rel),
                        EntryKind::File { size: 0 },
                    ));
                }
            }
        }
    }
    Ok(written)
}

/// What the executor records of an entry written from disk: kind, mode and owner.
fn recorded(source: &Path, rel: &Path) -> io::Result<LayerEntry> {
    let full = source.join(rel);
    let meta = fs::symlink_metadata(&full)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", full.display())))?;
    let kind = if meta.is_dir() {
        EntryKind::Dir
    } else if meta.file_type().is_symlink() {
        EntryKind::Symlink {
            target: fs::read_link(&full)?,
        }
    } else if meta.is_file() {
        EntryKind::File { size: meta.len() }
    } else {
        EntryKind::Fifo
    };
    Ok(LayerEntry {
        mode: meta.mode() & 0o7777,
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        ..LayerEntry::new(rel, kind)
    })
}

/// Gives directory `to` the owner, mode and extended attributes of `from` (whose metadata is
/// `meta`), overlay's own attributes (opaque markers and the like) left out.
pub(crate) fn copy_dir_attributes(from: &Path, meta: &fs::Metadata, to: &Path) -> io::Result<()> {
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    fs::set_permissions(
        to,
        std::os::unix::fs::PermissionsExt::from_mode(meta.mode() & 0o7777),
    )?;
    for (name, value) in kaniko_image::layer::read_xattrs(from) {
        if name.starts_with("user.overlay.") || name.starts_with("trusted.overlay.") {
            continue;
        }
        if let Err(e) = crate::unpack::set_xattr(to, name.as_bytes(), &value) {
            tracing::warn!(path = %to.display(), name, "cannot set extended attribute: {e}");
        }
    }
    Ok(())
}

/// Moves the (filtered) changes of `upper` into the stage root `lower`, after the layer was
/// written. Parents come before children in `changes`, and every ancestor of an upper entry
/// is an upper directory, so each path's parents in `lower` are real directories by the
/// time it is moved (nothing is followed).
pub fn apply_upper(upper: &Path, lower: &Path, changes: &[Change]) -> io::Result<()> {
    use crate::unpack::remove_any;
    let mut dirs = Vec::new();
    for change in changes {
        match change {
            Change::Whiteout(rel) => remove_any(&lower.join(rel))?,
            Change::Entry { rel, opaque } => {
                let from = upper.join(rel);
                let to = lower.join(rel);
                let meta = fs::symlink_metadata(&from)?;
                if meta.is_dir() {
                    let existing = fs::symlink_metadata(&to).ok();
                    let keep = existing.as_ref().is_some_and(|m| m.is_dir()) && !opaque;
                    if !keep {
                        remove_any(&to)?;
                        fs::create_dir(&to)?;
                    }
                    copy_dir_attributes(&from, &meta, &to)?;
                    dirs.push((to, meta));
                } else {
                    remove_any(&to)?;
                    fs::rename(&from, &to)?;
                }
            }
        }
    }
    for (dir, meta) in dirs.iter().rev() {
        let mtime = filetime::FileTime::from_unix_time(meta.mtime(), meta.mtime_nsec() as u32);
        let _ = filetime::set_symlink_file_times(dir, mtime, mtime);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rel: &str) -> Change {
        Change::Entry {
            rel: rel.into(),
            opaque: false,
        }
    }

    /// The changes as `+rel` (an entry) and `-rel` (a whiteout), for comparing in tests.
    pub(super) fn rels(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Entry { rel, .. } => format!("+{}", rel.display()),
                Change::Whiteout(rel) => format!("-{}", rel.display()),
            })
            .collect()
    }

    #[test]
    fn exclusions_drop_pseudo_trees_created_mount_points_and_directories_left_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (source, lower) = (dir.path().join("up"), dir.path().join("low"));
        for d in [
            "up/etc", "up/proc", "up/data", "up/app", "low/etc", "low/app",
        ] {
            fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        fs::write(source.join("app/f"), "f").expect("write");
        let excl = Exclusions::new(
            [PathBuf::from("/data")],
            vec![PathBuf::from("etc/hosts"), PathBuf::from("etc/resolv.conf")],
        );
        let changes = vec![
            entry("app"),
            entry("app/f"),
            entry("data"),
            entry("data/x"),
            entry("etc"),
            entry("etc/hosts"),
            entry("etc/resolv.conf"),
            entry("proc"),
            Change::Whiteout("gone".into()),
        ];
        let kept = excl.filter(changes.clone(), &source, &|rel| meta_in(&lower, rel));
        assert_eq!(rels(&kept), ["+app", "+app/f", "-gone"]);
        // A real change below a created mount point's directory keeps the directory.
        let mut more = changes;
        more.push(entry("etc/new.conf"));
        fs::write(source.join("etc/new.conf"), "n").expect("write");
        let kept = excl.filter(more, &source, &|rel| meta_in(&lower, rel));
        assert_eq!(
            rels(&kept),
            ["+app", "+app/f", "+etc", "-gone", "+etc/new.conf"]
        );
    }

    #[test]
    fn an_upper_directory_moves_into_the_root_with_deletions_and_replacements() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (upper, lower) = (dir.path().join("up"), dir.path().join("low"));
        fs::create_dir_all(lower.join("old/deep")).expect("mkdir");
        fs::write(lower.join("old/deep/f"), "x").expect("write");
        fs::write(lower.join("gone"), "g").expect("write");
        fs::create_dir_all(lower.join("opq")).expect("mkdir");
        fs::write(lower.join("opq/stale"), "s").expect("write");
        fs::create_dir_all(upper.join("opq")).expect("mkdir");
        fs::write(upper.join("opq/fresh"), "f").expect("write");
        fs::write(upper.join("old"), "now a file").expect("write");
        fs::write(upper.join("new"), "n").expect("write");
        let changes = vec![
            entry("new"),
            entry("old"),
            Change::Entry {
                rel: "opq".into(),
                opaque: true,
            },
            entry("opq/fresh"),
            Change::Whiteout("gone".into()),
        ];
        apply_upper(&upper, &lower, &changes).expect("apply");
        let read = |p: &str| fs::read_to_string(lower.join(p)).ok();
        assert_eq!(read("new").as_deref(), Some("n"));
        assert_eq!(read("old").as_deref(), Some("now a file"));
        assert_eq!(read("opq/fresh").as_deref(), Some("f"));
        assert_eq!(
            read("opq/stale"),
            None,
            "an opaque directory hides the lower content"
        );
        assert!(!lower.join("gone").exists());
    }
}
