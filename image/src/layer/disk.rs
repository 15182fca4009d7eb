// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Appending a file from disk: `lstat`, then the file's data, symlink target, mode, owner,
//! mtime, device numbers and the extended attributes worth keeping (`user.*` and
//! `security.capability`). Later names of an inode already written become hard links.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path};

use super::{EntryKind, LayerEntry, LayerWriter};

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl<W: Write> LayerWriter<W> {
    /// Appends `root/rel` (not following a final symlink) under `name_in_layer`. `rel` must be
    /// relative without `..`. Regular files with several links become a hard link to the first
    /// name this writer wrote for the same inode. Sockets cannot be stored in tar and are
    /// skipped (with a warning).
    pub fn append_from_disk(
        &mut self,
        root: &Path,
        rel: &Path,
        name_in_layer: &Path,
    ) -> io::Result<()> {
        self.check()?;
        if rel.is_absolute() || rel.components().any(|c| c == Component::ParentDir) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: must be relative to {} without `..`",
                    rel.display(),
                    root.display()
                ),
            ));
        }
        let full = root.join(rel);
        let md = fs::symlink_metadata(&full).map_err(|e| with_path(&full, e))?;
        let ft = md.file_type();
        let inode = (md.dev(), md.ino());
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink {
                target: fs::read_link(&full).map_err(|e| with_path(&full, e))?,
            }
        } else if ft.is_file() {
            match self.inodes.get(&inode) {
                Some(first) if md.nlink() > 1 => EntryKind::Hardlink {
                    target: first.clone(),
                },
                _ => EntryKind::File { size: md.len() },
            }
        } else if ft.is_char_device() {
            EntryKind::CharDev {
                major: libc::major(md.rdev()),
                minor: libc::minor(md.rdev()),
            }
        } else if ft.is_block_device() {
            EntryKind::BlockDev {
                major: libc::major(md.rdev()),
                minor: libc::minor(md.rdev()),
            }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            tracing::warn!(path = %full.display(), "skipping socket: tar cannot store it");
            return Ok(());
        };
        let entry = LayerEntry {
            path: name_in_layer.to_path_buf(),
            mode: md.mode() & 0o7777,
            uid: u64::from(md.uid()),
            gid: u64::from(md.gid()),
            mtime: md.mtime(),
            xattrs: read_xattrs(&full),
            kind,
        };
        if let EntryKind::File { .. } = entry.kind {
            let mut file: File = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&full)
                .map_err(|e| with_path(&full, e))?;
            self.append(&entry, Some(&mut file))?;
            if md.nlink() > 1 {
                self.inodes.insert(inode, name_in_layer.to_path_buf());
            }
            Ok(())
        } else {
            self.append(&entry, None)
        }
    }
}

/// Whether an xattr is carried into layers: `user.*` and file capabilities (what Kaniko keeps
/// plus user attributes). `security.selinux` and `trusted.*` describe the build host, and
/// `user.overlay.*` is overlayfs' own bookkeeping (a RUN snapshot's upper directory).
fn keep_xattr(name: &[u8]) -> bool {
    (name.starts_with(b"user.") && !name.starts_with(b"user.overlay."))
        || name == b"security.capability"
}

/// The kept xattrs of `path` (not following symlinks). Unreadable or unsupported attributes
/// are left out: a filesystem without xattrs gives an empty map.
pub fn read_xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return out;
    };
    let Some(names) = xattr_call(|buf, len| {
        // SAFETY: `cpath` is a valid NUL-terminated string; `buf` is null with `len` 0 (size
        // query) or points to `len` writable bytes.
        unsafe { libc::llistxattr(cpath.as_ptr(), buf.cast(), len) }
    }) else {
        return out;
    };
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if !keep_xattr(name) {
            continue;
        }
        let (Ok(cname), Ok(key)) = (CString::new(name), std::str::from_utf8(name)) else {
            continue;
        };
        let value = xattr_call(|buf, len| {
            // SAFETY: as above; `cname` is a valid NUL-terminated attribute name.
            unsafe { libc::lgetxattr(cpath.as_ptr(), cname.as_ptr(), buf.cast(), len) }
        });
        match value {
            Some(v) => {
                out.insert(key.to_owned(), v);
            }
            None => tracing::debug!(path = %path.display(), xattr = key, "xattr not readable"),
        }
    }
    out
}

/// Runs a size-query-then-fetch xattr call, retrying when the value grows in between.
fn xattr_call(mut call: impl FnMut(*mut u8, usize) -> isize) -> Option<Vec<u8>> {
    for _ in 0..4 {
        let size = usize::try_from(call(std::ptr::null_mut(), 0)).ok()?;
        if size == 0 {
            return Some(Vec::new());
        }
        let mut buf = vec![0u8; size];
        match usize::try_from(call(buf.as_mut_ptr(), buf.len())) {
            Ok(n) => {
                buf.truncate(n);
                return Some(buf);
            }
            Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) => continue,
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_user_and_capability_xattrs_are_kept() {
        fn check(name: &str, kept: bool) {
            assert_eq!(keep_xattr(name.as_bytes()), kept, "{name}");
        }
        check("user.mime_type", true);
        check("security.capability", true);
        check("security.selinux", false);
        check("trusted.overlay.opaque", false);
        check("system.posix_acl_access", false);
        check("user", false);
    }
}
