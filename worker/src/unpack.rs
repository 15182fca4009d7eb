// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Applies layer tars to a root directory (a stage's filesystem) and extracts ADD archives,
//! never writing outside the root. Every entry's path is cleaned (no leading `/`, `..` stops
//! at the root) and its parent directories are resolved inside the root the way securejoin
//! does (see [`resolve`]); the final component is never followed, so a symlink already at
//! the path is replaced rather than written through. Whiteouts (`.wh.<name>`) and opaque
//! markers (`.wh..wh..opq`) apply to what lower layers left; hard links are made after their
//! target exists; ownership is applied before the mode (chown clears setuid); directory
//! mtimes are set after their content.
//!
//! Ownership: as root, every entry gets the uid and gid of its header (`lchown`). As an
//! ordinary user the files stay owned by us and nothing is recorded: mapping the image's ids
//! through a user namespace is the RUN sandbox's business (a later issue). Device nodes are
//! created only as root (skipped with a warning otherwise); extended attributes are best
//! effort (a warning when the kernel or our privileges refuse one).

pub mod limits;
pub mod resolve;

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;

use crate::blobs::{BlobError, BlobStore};
use crate::image::Layer;
pub use resolve::{MAX_SYMLINKS, clean, resolve_on_disk, resolve_with};

/// Name prefix of a whiteout entry.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// Prefix of AUFS metadata entries (`.wh..wh.plnk` and the like), never written.
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";

/// What can go wrong while unpacking.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The tar stream itself could not be read (corrupt, truncated, bad compression).
    #[error("reading tar: {0}")]
    Tar(#[source] io::Error),
    /// One entry could not be written.
    #[error("tar entry {path}: {source}", path = path.display())]
    Entry {
        /// The entry's path as the tar names it.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// A hard link whose target is not in the root, even at the end of the layer.
    #[error("tar entry {path}: hardlink target {target} not found in the root", path = path.display(), target = target.display())]
    MissingLinkTarget {
        /// The link's path.
        path: PathBuf,
        /// Its target.
        target: PathBuf,
    },
    /// A layer's blob could not be fetched or opened.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// How entries are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackOptions {
    /// Interpret `.wh.` entries as whiteouts (image layers). `false` writes them as ordinary
    /// files (ADD archives, as Docker and BuildKit do).
    pub whiteouts: bool,
    /// Apply the headers' (or `chown`'s) uid and gid. Only possible as root; the default is
    /// whether we are root.
    pub preserve_owners: bool,
    /// Owner for every entry instead of the header's (`ADD --chown`).
    pub chown: Option<(u32, u32)>,
    /// Root-relative directory the entries are placed under (`ADD`'s destination); empty
    /// for layers.
    pub prefix: PathBuf,
    /// Keep the root-relative path of every entry written in [`UnpackStats::written`].
    pub record_paths: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            whiteouts: true,
            preserve_owners: is_root(),
            chown: None,
            prefix: PathBuf::new(),
            record_paths: false,
        }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries written (whiteouts and skipped entries not counted).
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Whiteouts and opaque markers applied.
    pub whiteouts: u64,
    /// Entries skipped (device nodes without privileges, unknown types).
    pub skipped: u64,
    /// Root-relative paths written, in tar order, when [`UnpackOptions::record_paths`].
    pub written: Vec<PathBuf>,
}

impl UnpackStats {
    fn add(&mut self, other: UnpackStats) {
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.whiteouts += other.whiteouts;
        self.skipped += other.skipped;
        self.written.extend(other.written);
    }
}

/// Whether the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Applies every layer, bottom first, to `root`, fetching blobs through `blobs`.
pub async fn unpack_image(
    root: &Path,
    layers: &[Layer],
    blobs: &BlobStore,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let mut stats = UnpackStats::default();
    for layer in layers {
        let reader = blobs.open_tar(layer).await?;
        let root = root.to_path_buf();
        let opts = opts.clone();
        let digest = layer.descriptor.digest.clone();
        let one = tokio::task::spawn_blocking(move || unpack_layer(&root, reader, &opts))
            .await
            .map_err(|e| UnpackError::Tar(io::Error::other(format!("layer {digest}: {e}"))))??;
        tracing::debug!(digest = %layer.descriptor.digest, entries = one.entries, "layer unpacked");
        stats.add(one);
    }
    Ok(stats)
}

/// One tar entry's header fields, read before its content.
struct Meta {
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    device: (u32, u32),
    link: Option<PathBuf>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Applies one uncompressed layer tar to `root`. See the module documentation.
pub fn unpack_layer(
    root: &Path,
    tar: impl Read,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let mut state = Unpacker {
        root,
        opts,
        stats: UnpackStats::default(),
        this_layer: HashSet::new(),
        dirs: Vec::new(),
        deferred_links: Vec::new(),
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(UnpackError::Tar)? {
        let mut entry = entry.map_err(UnpackError::Tar)?;
        let raw_path = entry.path().map_err(UnpackError::Tar)?.into_owned();
        let meta = read_meta(&mut entry).map_err(|source| UnpackError::Entry {
            path: raw_path.clone(),
            source,
        })?;
        state.apply(&raw_path, meta, &mut entry)?;
    }
    state.finish()?;
    Ok(state.stats)
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let header = entry.header();
    let kind = header.entry_type();
    // Empty numeric fields read as 0, as Go's archive/tar does (some writers leave them so).
    let mode = header.mode().unwrap_or(0o644);
    let uid = header.uid().unwrap_or(0);
    let gid = header.gid().unwrap_or(0);
    let mtime = header.mtime().unwrap_or(0);
    let device = if kind.is_character_special() || kind.is_block_special() {
        (
            header.device_major()?.unwrap_or(0),
            header.device_minor()?.unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let link = entry.link_name()?.map(|l| l.into_owned());
    let mut xattrs = Vec::new();
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            if let Some(name) = extension.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                xattrs.push((name.to_vec(), extension.value_bytes().to_vec()));
            }
        }
    }
    Ok(Meta {
        kind,
        mode,
        uid,
        gid,
        mtime,
        device,
        link,
        xattrs,
    })
}

struct Unpacker<'a> {
    root: &'a Path,
    opts: &'a UnpackOptions,
    stats: UnpackStats,
    /// Root-relative paths this layer wrote: an opaque marker keeps them.
    this_layer: HashSet<PathBuf>,
    /// Directories and their mtimes, set once the layer is done.
    dirs: Vec<(PathBuf, u64)>,
    /// Hard links whose target did not exist yet: (raw path, link path, target).
    deferred_links: Vec<(PathBuf, PathBuf, PathBuf)>,
}

impl Unpacker<'_> {
    fn entry_err(raw: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
        move |source| UnpackError::Entry {
            path: raw.to_path_buf(),
            source,
        }
    }

    /// The cleaned root-relative path of an entry path, under the prefix.
    fn place(&self, path: &Path) -> PathBuf {
        clean(&self.opts.prefix.join(clean(path)))
    }

    fn apply(&mut self, raw: &Path, meta: Meta, content: &mut dyn Read) -> Result<(), UnpackError> {
        let rel = self.place(raw);
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            // The root itself (`./`): its metadata is the base's business.
            return Ok(());
        };
        let name_bytes = name.as_bytes();
        if self.opts.whiteouts && name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(raw, parent, name_bytes);
        }
        let parent = self.make_parents(parent).map_err(Self::entry_err(raw))?;
        let rel = parent.join(name);
        if meta.kind.is_hard_link() {
            let target = match &meta.link {
                Some(target) => self.place(target),
                None => {
                    return Err(Self::entry_err(raw)(io::Error::other(
                        "hardlink without a target",
                    )));
                }
            };
            let target =
                resolve_on_disk(self.root, &target, false).map_err(Self::entry_err(raw))?;
            if fs::symlink_metadata(self.root.join(&target)).is_err() {
                self.deferred_links.push((raw.to_path_buf(), rel, target));
                return Ok(());
            }
            return self.hard_link(raw, &rel, &target);
        }
        self.write(raw, &rel, meta, content)
    }

    fn whiteout(&mut self, raw: &Path, parent: &Path, name: &[u8]) -> Result<(), UnpackError> {
        let parent = resolve_on_disk(self.root, parent, true).map_err(Self::entry_err(raw))?;
        if name == WHITEOUT_OPAQUE.as_bytes() {
            self.stats.whiteouts += 1;
            return self.make_opaque(&parent).map_err(Self::entry_err(raw));
        }
        if name.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
            return Ok(());
        }
        let hidden = std::ffi::OsStr::from_bytes(&name[WHITEOUT_PREFIX.len()..]);
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Ok(());
        }
        self.stats.whiteouts += 1;
        let rel = parent.join(hidden);
        if self.this_layer.contains(&rel) {
            return Ok(());
        }
        remove_any(&self.root.join(&rel)).map_err(Self::entry_err(raw))
    }

    /// Removes from `dir` (root-relative, resolved) what this layer did not write.
    fn make_opaque(&self, dir: &Path) -> io::Result<()> {
        let full = self.root.join(dir);
        let entries = match fs::read_dir(&full) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for child in entries {
            let child = child?;
            let rel = dir.join(child.file_name());
            if !self.this_layer.contains(&rel) {
                remove_any(&child.path())?;
            } else if child.file_type()?.is_dir() {
                self.make_opaque(&rel)?;
            }
        }
        Ok(())
    }

    /// Resolves `parent` inside the root and creates what is missing of it; returns the
    /// resolved root-relative path.
    fn make_parents(&self, parent: &Path) -> io::Result<PathBuf> {
        let resolved = resolve_on_disk(self.root, parent, true)?;
        let full = self.root.join(&resolved);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "parent {} is not a directory",
                    resolved.display()
                )));
            }
            Err(_) => fs::create_dir_all(&full)?,
        }
        Ok(resolved)
    }

    fn record(&mut self, rel: &Path) {
        self.this_layer.insert(rel.to_path_buf());
        self.stats.entries += 1;
        if self.opts.record_paths {
            self.stats.written.push(rel.to_path_buf());
        }
    }

    fn write(
        &mut self,
        raw: &Path,
        rel: &Path,
        meta: Meta,
        content: &mut dyn Read,
    ) -> Result<(), UnpackError> {
        use tar::EntryType as T;
        let full = self.root.join(rel);
        let err = Self::entry_err(raw);
        let is_dir = meta.kind == T::Directory;
        let existing = fs::symlink_metadata(&full).ok();
        match existing {
            Some(m) if m.is_dir() && is_dir => {}
            Some(m) if m.is_dir() => fs::remove_dir_all(&full).map_err(err)?,
            Some(_) => fs::remove_file(&full).map_err(Self::entry_err(raw))?,
            None => {}
        }
        let err = Self::entry_err(raw);
        match meta.kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&full)
                    .map_err(err)?;
                let written = io::copy(content, &mut file).map_err(Self::entry_err(raw))?;
                self.stats.bytes += written;
            }
            T::Directory => {
                if !full.is_dir() {
                    fs::create_dir(&full).map_err(err)?;
                }
            }
            T::Symlink => {
                let target = meta
                    .link
                    .clone()
                    .ok_or_else(|| io::Error::other("symlink without a target"))
                    .map_err(Self::entry_err(raw))?;
                std::os::unix::fs::symlink(&target, &full).map_err(err)?;
            }
            T::Char | T::Block | T::Fifo => {
                if meta.kind != T::Fifo && !is_root() {
                    tracing::warn!(path = %raw.display(), "device node skipped: creating it needs root");
                    self.stats.skipped += 1;
                    return Ok(());
                }
                let kind = match meta.kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let device = libc::makedev(meta.device.0, meta.device.1);
                let path = c_path(&full).map_err(Self::entry_err(raw))?;
                // SAFETY: `path` is a valid NUL-terminated string for the call's duration.
                let rc = unsafe { libc::mknod(path.as_ptr(), kind | (meta.mode & 0o777), device) };
                if rc != 0 {
                    let e = io::Error::last_os_error();
                    tracing::warn!(path = %raw.display(), error = %e, "special file skipped");
                    self.stats.skipped += 1;
                    return Ok(());
                }
            }
            other => {
                tracing::warn!(path = %raw.display(), kind = ?other, "tar entry of unsupported type skipped");
                self.stats.skipped += 1;
                return Ok(());
            }
        }
        self.finish_entry(raw, rel, &meta)
    }

    fn hard_link(&mut self, raw: &Path, rel: &Path, target: &Path) -> Result<(), UnpackError> {
        let full = self.root.join(rel);
        if let Ok(m) = fs::symlink_metadata(&full) {
            if m.is_dir() {
                fs::remove_dir_all(&full).map_err(Self::entry_err(raw))?;
            } else {
                fs::remove_file(&full).map_err(Self::entry_err(raw))?;
            }
        }
        fs::hard_link(self.root.join(target), &full).map_err(Self::entry_err(raw))?;
        self.record(rel);
        Ok(())
    }

    /// Ownership, then mode, xattrs and mtime.
    fn finish_entry(&mut self, raw: &Path, rel: &Path, meta: &Meta) -> Result<(), UnpackError> {
        let full = self.root.join(rel);
        let is_symlink = meta.kind == tar::EntryType::Symlink;
        if self.opts.preserve_owners {
            let (uid, gid) = match self.opts.chown {
                Some(ids) => ids,
                None => (
                    u32::try_from(meta.uid).unwrap_or(u32::MAX),
                    u32::try_from(meta.gid).unwrap_or(u32::MAX),
                ),
            };
            if let Err(e) = std::os::unix::fs::lchown(&full, Some(uid), Some(gid)) {
                tracing::warn!(path = %raw.display(), uid, gid, error = %e, "ownership not applied");
            }
        }
        if !is_symlink {
            fs::set_permissions(&full, fs::Permissions::from_mode(meta.mode & 0o7777))
                .map_err(Self::entry_err(raw))?;
        }
        for (name, value) in &meta.xattrs {
            set_xattr(&full, name, value).unwrap_or_else(|e| {
                tracing::warn!(
                    path = %raw.display(),
                    xattr = %String::from_utf8_lossy(name),
                    error = %e,
                    "extended attribute not applied"
                );
            });
        }
        if meta.kind == tar::EntryType::Directory {
            self.dirs.push((full, meta.mtime));
        } else {
            let time = FileTime::from_unix_time(i64::try_from(meta.mtime).unwrap_or(0), 0);
            filetime::set_symlink_file_times(&full, time, time).map_err(Self::entry_err(raw))?;
        }
        self.record(rel);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UnpackError> {
        for (raw, rel, target) in std::mem::take(&mut self.deferred_links) {
            if fs::symlink_metadata(self.root.join(&target)).is_err() {
                return Err(UnpackError::MissingLinkTarget { path: raw, target });
            }
            self.hard_link(&raw, &rel, &target)?;
        }
        // Deeper directories come later in a tar: set their times first.
        for (dir, mtime) in self.dirs.iter().rev() {
            let time = FileTime::from_unix_time(i64::try_from(*mtime).unwrap_or(0), 0);
            if let Err(e) = filetime::set_symlink_file_times(dir, time, time) {
                tracing::warn!(path = %dir.display(), error = %e, "directory mtime not applied");
            }
        }
        Ok(())
    }
}

/// Removes a file, symlink or directory tree; a missing path is fine.
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("path contains a nul byte"))
}

/// `lsetxattr`, never following a symlink.
pub(crate) fn set_xattr(path: &Path, name: &[u8], value: &[u8]) -> io::Result<()> {
    let path = c_path(path)?;
    let name =
        CString::new(name).map_err(|_| io::Error::other("xattr name contains a nul byte"))?;
    // SAFETY: both strings are NUL-terminated and live for the call; `value` is a valid slice.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests;
