// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Hard-link groups across layers. Overlay copies up only the name a command wrote through,
//! so a file's other names below would keep the old content, mode and owner, and the group
//! would be broken in the image (Docker, buildah and the walk snapshotter see one inode
//! changed under every name). [`complete_groups`] repairs the upper directory after the run,
//! before it is read: every other name of a changed file's lower inode that the upper does
//! not hide is linked in the upper to the changed file, its parent directories made with the
//! lower's metadata (as a copy-up makes them). The layer then holds the whole group as one
//! inode, and the stage root gets it when the upper is moved in.
//!
//! The lower is one directory or a stack of layer directories, read through a [`Lookup`]; a
//! group lives in one layer directory (hard links never cross a layer), which is walked for
//! the other names, each kept only if the merged lower still shows that inode there. Nothing
//! is followed: layers are walked without entering symlinks, and the upper's entries are
//! made below directories checked to be real directories of the upper.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity on its filesystem.
type Inode = (u64, u64);

/// What the lower shows at a root-relative path: the full path of the visible copy and its
/// metadata (`None`: nothing there, or hidden). For a stack of layer directories that is
/// the topmost copy; [`flat_lookup`] is the one-directory case.
pub type Lookup<'a> = dyn Fn(&Path) -> io::Result<Option<(PathBuf, fs::Metadata)>> + 'a;

/// [`Lookup`] in one directory, following no symlink (a parent that is not a directory
/// hides what is below it).
pub fn flat_lookup(
    root: &Path,
) -> impl Fn(&Path) -> io::Result<Option<(PathBuf, fs::Metadata)>> + '_ {
    move |rel: &Path| {
        let mut at = root.to_path_buf();
        let parts: Vec<_> = rel.components().collect();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let meta = match fs::symlink_metadata(&at) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
                Err(e) => return Err(e),
            };
            if i + 1 == parts.len() {
                return Ok(Some((at, meta)));
            }
            if !meta.is_dir() {
                return Ok(None);
            }
        }
        Ok(None)
    }
}

/// Links every unchanged name of a changed file's lower inode into `upper` (see the module
/// documentation), the lower read through `lookup`; returns how many names were added.
pub fn complete_groups(upper: &Path, lookup: &Lookup<'_>) -> io::Result<usize> {
    // The upper's regular files whose lower file has other names: (the lower layer
    // directory holding it, its inode) → upper names with their ctimes.
    let mut changed: HashMap<(PathBuf, Inode), Vec<(i64, PathBuf)>> = HashMap::new();
    let mut files = Vec::new();
    upper_files(upper, Path::new(""), &mut files)?;
    for (rel, ctime) in files {
        let Some((full, meta)) = lookup(&rel)? else {
            continue;
        };
        if !meta.is_file() || meta.nlink() < 2 {
            continue;
        }
        let Some(layer) = layer_of(&full, &rel) else {
            continue;
        };
        changed
            .entry((layer, (meta.dev(), meta.ino())))
            .or_default()
            .push((ctime, rel));
    }
    let mut added = 0;
    for ((layer, inode), mut members) in changed {
        members.sort_by_key(|m| std::cmp::Reverse(m.0));
        let Some((_, newest)) = members.first() else {
            continue;
        };
        let mut names = BTreeSet::new();
        lower_names(&layer, Path::new(""), inode, &mut names)?;
        for rel in names {
            // Still that inode in the merged lower, and not hidden by the upper.
            let shown = lookup(&rel)?.map(|(_, m)| (m.dev(), m.ino()));
            if shown != Some(inode) || !visible_below(upper, &rel)? {
                continue;
            }
            make_parents(upper, lookup, &rel)?;
            fs::hard_link(upper.join(newest), upper.join(&rel))?;
            added += 1;
        }
    }
    Ok(added)
}

/// The layer directory `full` (the visible copy of `rel`) is in.
fn layer_of(full: &Path, rel: &Path) -> Option<PathBuf> {
    let mut layer = full.to_path_buf();
    for _ in rel.components() {
        if !layer.pop() {
            return None;
        }
    }
    Some(layer)
}

/// The upper's regular files (root-relative) with their ctimes.
fn upper_files(upper: &Path, rel: &Path, out: &mut Vec<(PathBuf, i64)>) -> io::Result<()> {
    for entry in fs::read_dir(upper.join(rel))? {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        let meta = entry.metadata()?;
        if meta.is_dir() {
            upper_files(upper, &child, out)?;
        } else if meta.is_file() {
            out.push((child, meta.ctime() * 1_000_000_000 + meta.ctime_nsec()));
        }
    }
    Ok(())
}

/// The names of inode `wanted` in the layer directory `lower` (not entering symlinks).
fn lower_names(
    lower: &Path,
    rel: &Path,
    wanted: Inode,
    out: &mut BTreeSet<PathBuf>,
) -> io::Result<()> {
    let entries = match fs::read_dir(lower.join(rel)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        let meta = entry.metadata()?;
        if meta.is_dir() {
            lower_names(lower, &child, wanted, out)?;
        } else if meta.is_file() && wanted == (meta.dev(), meta.ino()) {
            out.insert(child);
        }
    }
    Ok(())
}

/// Whether the lower's `rel` still shows through the upper: the upper has nothing at `rel`
/// and every ancestor it has is a real, non-opaque directory.
fn visible_below(upper: &Path, rel: &Path) -> io::Result<bool> {
    if fs::symlink_metadata(upper.join(rel)).is_ok() {
        return Ok(false);
    }
    let mut at = PathBuf::new();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        at.push(part);
        match fs::symlink_metadata(upper.join(&at)) {
            Ok(meta) if meta.is_dir() => {
                if super::is_opaque(&upper.join(&at)) {
                    return Ok(false);
                }
            }
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Makes the upper's missing parents of `rel` with the lower's mode, owner, xattrs and
/// times, as overlay's copy-up makes them.
fn make_parents(upper: &Path, lookup: &Lookup<'_>, rel: &Path) -> io::Result<()> {
    let mut at = PathBuf::new();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        at.push(part);
        let to = upper.join(&at);
        if fs::symlink_metadata(&to).is_ok() {
            continue;
        }
        let Some((from, meta)) = lookup(&at)?.filter(|(_, m)| m.is_dir()) else {
            return Err(io::Error::other(format!(
                "{}: not a directory below the overlay",
                at.display()
            )));
        };
        fs::create_dir(&to)?;
        super::copy_dir_attributes(&from, &meta, &to)?;
        let mtime = filetime::FileTime::from_last_modification_time(&meta);
        filetime::set_symlink_file_times(&to, mtime, mtime)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::PermissionsExt;

    fn ino(path: &Path) -> u64 {
        fs::symlink_metadata(path).unwrap().ino()
    }

    #[test]
    fn the_other_names_of_a_changed_file_join_it_unless_the_upper_hides_them() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        for dir in ["a", "b", "gone", "opaque", "single"] {
            fs::create_dir_all(lower.join(dir)).unwrap();
        }
        fs::write(lower.join("a/f"), "old").unwrap();
        for name in ["a/g", "b/h", "gone/x", "opaque/y"] {
            fs::hard_link(lower.join("a/f"), lower.join(name)).unwrap();
        }
        fs::write(lower.join("single/s"), "alone").unwrap();
        fs::set_permissions(lower.join("b"), fs::Permissions::from_mode(0o750)).unwrap();
        // The command appended through a/f and single/s, deleted gone/x (whiteout), and
        // made opaque/ again.
        fs::create_dir_all(upper.join("a")).unwrap();
        fs::write(upper.join("a/f"), "new").unwrap();
        fs::create_dir_all(upper.join("single")).unwrap();
        fs::write(upper.join("single/s"), "changed").unwrap();
        fs::create_dir_all(upper.join("gone")).unwrap();
        let whiteout =
            std::ffi::CString::new(upper.join("gone/x").into_os_string().into_vec()).unwrap();
        // SAFETY: a valid C string; a 0/0 character device is overlay's whiteout.
        let made = unsafe { libc::mknod(whiteout.as_ptr(), libc::S_IFCHR | 0o600, 0) };
        assert_eq!(made, 0, "mknod: {}", io::Error::last_os_error());
        fs::create_dir_all(upper.join("opaque")).unwrap();
        crate::unpack::set_xattr(&upper.join("opaque"), b"user.overlay.opaque", b"y").unwrap();

        assert_eq!(complete_groups(&upper, &flat_lookup(&lower)).unwrap(), 2);
        let changed = ino(&upper.join("a/f"));
        for name in ["a/g", "b/h"] {
            assert_eq!(ino(&upper.join(name)), changed, "{name}");
            assert_eq!(fs::read_to_string(upper.join(name)).unwrap(), "new");
        }
        // The parent made in the upper has the lower's mode.
        let b = fs::symlink_metadata(upper.join("b")).unwrap();
        assert_eq!(b.mode() & 0o7777, 0o750);
        // Hidden names stay hidden; a file without other names gets none.
        assert!(fs::symlink_metadata(upper.join("opaque/y")).is_err());
        assert_eq!(
            fs::symlink_metadata(upper.join("gone/x")).unwrap().rdev(),
            0
        );
        assert_eq!(
            fs::symlink_metadata(upper.join("single/s"))
                .unwrap()
                .nlink(),
            1
        );
        // Nothing left to do the second time.
        assert_eq!(complete_groups(&upper, &flat_lookup(&lower)).unwrap(), 0);
    }
}
