// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Applies layer tars to a root directory (a stage's filesystem) and extracts ADD archives
//! and build contexts, never writing outside the root. Every entry's path is cleaned (no
//! leading `/`, `..` stops at the root); its parent directory is opened inside the root at
//! the moment the entry is written, symlinks followed as if the root were `/` (see
//! [`root`]), and the entry is made with `*at` calls on that directory's descriptor. The
//! final component is never followed, so a symlink already at the path is replaced rather
//! than written through.
//!
//! Whiteouts and opaque markers (named in `kaniko_image::whiteout`) apply to what lower layers
//! left; ownership is applied before the mode (chown clears setuid). Two things wait for the
//! end of the layer, and both are looked up again inside the root then, never through a path
//! kept from earlier: a hard link whose target is not there yet (made once the target exists;
//! refused, naming the entry, when its parent directory is no longer the directory it was
//! placed in, e.g. a later entry turned it into a symlink), and directory mtimes (set only on
//! the same directory, by device and inode, else skipped).
//!
//! Every entry is charged to the build's disk budget before it is written (see [`limits`]):
//! its declared size (a sparse entry's apparent size) plus [`limits::ENTRY_COST`].
//!
//! Ownership: as root, every entry gets the uid and gid of its header (`lchown`). As an
//! ordinary user the files stay owned by us and nothing is recorded: mapping the image's ids
//! through a user namespace is the RUN sandbox's business (a later issue). Device nodes are
//! created only as root (skipped with a warning otherwise); extended attributes are best
//! effort (a warning when the kernel or our privileges refuse one).

pub mod limits;
pub mod resolve;
pub mod root;

use std::collections::HashSet;
use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use kaniko_image::whiteout::{self, Whiteout};

use crate::blobs::{BlobError, BlobStore};
use crate::image::Layer;
pub use limits::{DiskBudget, LimitExceeded, Limits};
pub use resolve::{clean, resolve_on_disk, resolve_with};
pub use root::{Dir, FileId, Resolver, RootDir, remove_any};

/// What can go wrong while unpacking. Messages carry their cause (the variants added for
/// issue 10 do not also return it as `source()`, so a printed chain shows it once).
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The tar stream itself could not be read (corrupt, truncated, bad compression).
    #[error("reading tar: {0}")]
    Tar(#[source] io::Error),
    /// The root directory could not be opened.
    #[error("opening {}: {error}", path.display())]
    Root {
        /// The root.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
    /// One entry could not be written.
    #[error("tar entry {path}: {source}", path = path.display())]
    Entry {
        /// The entry's path as the tar names it.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// An entry refused for what the tar does with it (the reason says what).
    #[error("tar entry {path}: {reason}", path = path.display())]
    Refused {
        /// The entry's path as the tar names it.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A hard link whose target is not in the root, even at the end of the layer.
    #[error("tar entry {path}: hardlink target {target} not found in the root", path = path.display(), target = target.display())]
    MissingLinkTarget {
        /// The link's path.
        path: PathBuf,
        /// Its target.
        target: PathBuf,
    },
    /// A bound of the build was reached: an entry past the disk budget (the message names
    /// the entry), or a stream past the decompression ratio.
    #[error(transparent)]
    Limit(LimitExceeded),
    /// Something failed in one layer of an image.
    #[error("layer {digest}: {error}")]
    InLayer {
        /// The layer's digest.
        digest: String,
        /// What failed.
        error: Box<UnpackError>,
    },
    /// A layer's blob could not be fetched or opened.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl UnpackError {
    /// The limit this error reports, if it is one.
    pub fn limit(&self) -> Option<&LimitExceeded> {
        match self {
            UnpackError::Limit(limit) => Some(limit),
            UnpackError::InLayer { error, .. } => error.limit(),
            UnpackError::Blob(BlobError::Limit { error, .. }) => Some(error),
            UnpackError::Tar(e) | UnpackError::Entry { source: e, .. } => LimitExceeded::find(e),
            _ => None,
        }
    }

    /// A read error of the tar stream: a limit when a guard below said so.
    fn reading(err: io::Error) -> UnpackError {
        match LimitExceeded::find(&err) {
            Some(limit) => UnpackError::Limit(limit.clone()),
            None => UnpackError::Tar(err),
        }
    }
}

/// Whether `err` is a bound of the build being exceeded (never worth another attempt).
pub fn is_limit(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<UnpackError>()
            .is_some_and(|e| e.limit().is_some())
            || cause.downcast_ref::<LimitExceeded>().is_some()
            || matches!(
                cause.downcast_ref::<BlobError>(),
                Some(BlobError::Limit { .. })
            )
    })
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
    /// The build's disk budget every entry is charged to (unlimited by default).
    pub budget: DiskBudget,
    /// How directories are resolved inside the root.
    pub resolver: Resolver,
    /// Write whiteouts in overlayfs's lower-directory format instead of applying them (a
    /// layer unpacked alone into the layer store, see `crate::store`): `.wh.x` becomes the
    /// character device 0/0 `x`, the opaque marker becomes `user.overlay.opaque=y` on its
    /// directory, and no `user.overlay.*`/`trusted.overlay.*` attribute of the tar is written.
    pub overlay_whiteouts: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            whiteouts: true,
            preserve_owners: is_root(),
            chown: None,
            prefix: PathBuf::new(),
            record_paths: false,
            budget: DiskBudget::unlimited(),
            resolver: Resolver::Auto,
            overlay_whiteouts: false,
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
    /// The archive's own root directory entry (`./`), not applied to the root (a layer's
    /// root is the base's business; `ADD` gives it to its destination): the last one seen.
    pub root: Option<RootEntry>,
}

/// The mode and owner of a tar's `./` directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootEntry {
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
}

impl UnpackStats {
    fn add(&mut self, other: UnpackStats) {
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.whiteouts += other.whiteouts;
        self.skipped += other.skipped;
        self.written.extend(other.written);
        self.root = other.root.or(self.root);
    }
}

/// Whether the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Applies every layer, bottom first, to `root`, fetching blobs through `blobs` (whose
/// streams are checked against the build's ratio limit); entries are charged to
/// `opts.budget`.
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
            .map_err(|e| UnpackError::Tar(io::Error::other(format!("layer {digest}: {e}"))))?
            .map_err(|error| UnpackError::InLayer {
                digest: layer.descriptor.digest.clone(),
                error: Box::new(error),
            })?;
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
    /// Content size (a sparse entry's apparent size).
    size: u64,
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
    let dir = RootDir::open_with(root, opts.resolver).map_err(|error| UnpackError::Root {
        path: root.to_path_buf(),
        error,
    })?;
    let mut state = Unpacker {
        root: &dir,
        root_path: root,
        opts,
        stats: UnpackStats::default(),
        this_layer: HashSet::new(),
        dirs: Vec::new(),
        deferred_links: Vec::new(),
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(UnpackError::reading)? {
        let mut entry = entry.map_err(UnpackError::reading)?;
        let raw_path = entry.path().map_err(UnpackError::reading)?.into_owned();
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
    let size = entry.size();
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
        size,
        device,
        link,
        xattrs,
    })
}

/// A hard link waiting for its target until the end of the layer.
struct DeferredLink {
    /// The entry's path as the tar names it.
    raw: PathBuf,
    /// The link's parent, root-relative as placed (not resolved).
    parent: PathBuf,
    /// The directory that parent resolved to when the entry was read.
    parent_id: FileId,
    name: OsString,
    /// The target, root-relative as placed (not resolved).
    target: PathBuf,
}

/// A directory whose mtime is set at the end of the layer.
struct DeferredTime {
    parent: PathBuf,
    name: OsString,
    /// The directory written, by device and inode.
    id: FileId,
    mtime: u64,
}

struct Unpacker<'a> {
    root: &'a RootDir,
    root_path: &'a Path,
    opts: &'a UnpackOptions,
    stats: UnpackStats,
    /// What this layer wrote (parent directory, name): an opaque marker keeps them and a
    /// whiteout does not remove them.
    this_layer: HashSet<(FileId, OsString)>,
    /// Directories and their mtimes, set once the layer is done.
    dirs: Vec<DeferredTime>,
    /// Hard links whose target did not exist yet.
    deferred_links: Vec<DeferredLink>,
}

fn mtime_of(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(0)
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

    /// Charges `bytes` for the entry `raw` to the build's disk budget.
    fn charge(&self, raw: &Path, bytes: u64) -> Result<(), UnpackError> {
        self.opts
            .budget
            .charge(bytes, || format!("writing {}", raw.display()))
            .map_err(UnpackError::Limit)
    }

    fn apply(&mut self, raw: &Path, meta: Meta, content: &mut dyn Read) -> Result<(), UnpackError> {
        let rel = self.place(raw);
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            // The root itself (`./`): its metadata is the caller's business.
            if meta.kind == tar::EntryType::Directory {
                self.stats.root = Some(RootEntry {
                    mode: meta.mode & 0o7777,
                    uid: meta.uid,
                    gid: meta.gid,
                });
            }
            return Ok(());
        };
        let name_bytes = name.as_bytes();
        if self.opts.whiteouts && whiteout::is_whiteout(name_bytes) {
            return self.whiteout(raw, parent, name_bytes);
        }
        let size = if meta.kind.is_file() || meta.kind == tar::EntryType::GNUSparse {
            meta.size
        } else {
            0
        };
        self.charge(raw, limits::ENTRY_COST.saturating_add(size))?;
        let dir = self.make_parents(parent).map_err(Self::entry_err(raw))?;
        if meta.kind.is_hard_link() {
            let target = match &meta.link {
                Some(target) => self.place(target),
                None => {
                    return Err(Self::entry_err(raw)(io::Error::other(
                        "hardlink without a target",
                    )));
                }
            };
            return match self.find_target(raw, &target)? {
                Some((target_dir, target_name)) => {
                    self.hard_link(raw, parent, &dir, name, &target_dir, &target_name)
                }
                None => {
                    let parent_id = dir.stat_self().map_err(Self::entry_err(raw))?.id();
                    self.deferred_links.push(DeferredLink {
                        raw: raw.to_path_buf(),
                        parent: parent.to_path_buf(),
                        parent_id,
                        name: name.to_os_string(),
                        target,
                    });
                    Ok(())
                }
            };
        }
        self.write(raw, parent, &dir, name, meta, content)
    }

    /// The directory and name of a hard link's target, `None` when it is not there (yet).
    fn find_target(
        &self,
        raw: &Path,
        target: &Path,
    ) -> Result<Option<(Dir, OsString)>, UnpackError> {
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(Self::entry_err(raw)(io::Error::other(
                "hardlink target is the root directory",
            )));
        };
        let dir = match self.root.dir(parent) {
            Ok(dir) => dir,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(Self::entry_err(raw)(e)),
        };
        match dir.stat(name).map_err(Self::entry_err(raw))? {
            Some(_) => Ok(Some((dir, name.to_os_string()))),
            None => Ok(None),
        }
    }

    fn whiteout(&mut self, raw: &Path, parent: &Path, name: &[u8]) -> Result<(), UnpackError> {
        let (opaque, hidden) = match whiteout::classify(name) {
            Some(Whiteout::Opaque) => (true, OsStr::new("")),
            Some(Whiteout::Hides(hidden)) => (false, OsStr::from_bytes(hidden)),
            Some(Whiteout::Meta) | None => return Ok(()),
        };
        if !opaque && (hidden.is_empty() || hidden == "." || hidden == "..") {
            return Ok(());
        }
        self.stats.whiteouts += 1;
        if self.opts.overlay_whiteouts {
            return self.overlay_whiteout(raw, parent, hidden, opaque);
        }
        let dir = match self.root.dir(parent) {
            Ok(dir) => dir,
            // Nothing to hide below a missing directory or a file.
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(Self::entry_err(raw)(e)),
        };
        if opaque {
            return self.make_opaque(&dir).map_err(Self::entry_err(raw));
        }
        let id = dir.stat_self().map_err(Self::entry_err(raw))?.id();
        if self.this_layer.contains(&(id, hidden.to_os_string())) {
            return Ok(());
        }
        dir.remove_all(hidden).map_err(Self::entry_err(raw))
    }

    /// A whiteout in overlay lower format: the opaque marker as `user.overlay.opaque=y` on
    /// `parent` (created when the layer has no entry for it), a hidden name as the character
    /// device 0/0, unless this layer wrote that name itself.
    fn overlay_whiteout(
        &mut self,
        raw: &Path,
        parent: &Path,
        hidden: &OsStr,
        opaque: bool,
    ) -> Result<(), UnpackError> {
        self.charge(raw, limits::ENTRY_COST)?;
        let dir = self.make_parents(parent).map_err(Self::entry_err(raw))?;
        if opaque {
            return dir
                .set_own_xattr(OVERLAY_OPAQUE, b"y")
                .map_err(Self::entry_err(raw));
        }
        let id = dir.stat_self().map_err(Self::entry_err(raw))?.id();
        if self.this_layer.contains(&(id, hidden.to_os_string())) {
            return Ok(());
        }
        dir.remove_all(hidden).map_err(Self::entry_err(raw))?;
        dir.mknod(hidden, libc::S_IFCHR, libc::makedev(0, 0))
            .map_err(Self::entry_err(raw))
    }

    /// Removes from `dir` what this layer did not write.
    fn make_opaque(&self, dir: &Dir) -> io::Result<()> {
        let id = dir.stat_self()?.id();
        for child in dir.names()? {
            if !self.this_layer.contains(&(id, child.clone())) {
                dir.remove_all(&child)?;
            } else if dir.stat(&child)?.is_some_and(|s| s.is_dir()) {
                self.make_opaque(&dir.open_dir(&child)?)?;
            }
        }
        Ok(())
    }

    /// Opens `parent` inside the root, creating what is missing of it.
    fn make_parents(&self, parent: &Path) -> io::Result<Dir> {
        self.root.make_dir_all(parent).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOTDIR) {
                io::Error::other(format!("parent {} is not a directory", parent.display()))
            } else {
                e
            }
        })
    }

    fn record(&mut self, parent: &Path, dir: &Dir, name: &OsStr) -> io::Result<()> {
        let id = dir.stat_self()?.id();
        self.this_layer.insert((id, name.to_os_string()));
        self.stats.entries += 1;
        if self.opts.record_paths {
            let resolved = resolve_on_disk(self.root_path, parent, true)?;
            self.stats.written.push(resolved.join(name));
        }
        Ok(())
    }

    fn write(
        &mut self,
        raw: &Path,
        parent: &Path,
        dir: &Dir,
        name: &OsStr,
        meta: Meta,
        content: &mut dyn Read,
    ) -> Result<(), UnpackError> {
        use tar::EntryType as T;
        let err = Self::entry_err(raw);
        let is_dir = meta.kind == T::Directory;
        // Overlay format: a directory replacing this layer's whiteout hides the lower one.
        let mut hides_lower = false;
        match dir.stat(name).map_err(Self::entry_err(raw))? {
            Some(existing) if existing.is_dir() && is_dir => {}
            Some(existing) => {
                hides_lower = self.opts.overlay_whiteouts && existing.is_char_device() && is_dir;
                dir.remove_all(name).map_err(err)?
            }
            None => {}
        }
        let err = Self::entry_err(raw);
        match meta.kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                let mut file = dir.create_file(name, 0o600).map_err(err)?;
                let written =
                    io::copy(content, &mut file).map_err(|e| match LimitExceeded::find(&e) {
                        Some(limit) => UnpackError::Limit(limit.clone()),
                        None => Self::entry_err(raw)(e),
                    })?;
                self.stats.bytes += written;
            }
            T::Directory => {
                if dir.stat(name).map_err(Self::entry_err(raw))?.is_none() {
                    dir.mkdir(name, 0o700).map_err(err)?;
                }
                if hides_lower {
                    dir.open_dir(name)
                        .and_then(|d| d.set_own_xattr(OVERLAY_OPAQUE, b"y"))
                        .map_err(Self::entry_err(raw))?;
                }
            }
            T::Symlink => {
                let target = meta
                    .link
                    .clone()
                    .ok_or_else(|| io::Error::other("symlink without a target"))
                    .map_err(Self::entry_err(raw))?;
                dir.symlink(&target, name).map_err(err)?;
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
                if let Err(e) = dir.mknod(name, kind | (meta.mode & 0o777), device) {
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
        self.finish_entry(raw, parent, dir, name, &meta)
    }

    fn hard_link(
        &mut self,
        raw: &Path,
        parent: &Path,
        dir: &Dir,
        name: &OsStr,
        target_dir: &Dir,
        target_name: &OsStr,
    ) -> Result<(), UnpackError> {
        dir.remove_all(name).map_err(Self::entry_err(raw))?;
        dir.hard_link(target_dir, target_name, name)
            .map_err(Self::entry_err(raw))?;
        self.record(parent, dir, name).map_err(Self::entry_err(raw))
    }

    /// Ownership, then mode, xattrs and mtime.
    fn finish_entry(
        &mut self,
        raw: &Path,
        parent: &Path,
        dir: &Dir,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let is_symlink = meta.kind == tar::EntryType::Symlink;
        if self.opts.preserve_owners {
            let (uid, gid) = match self.opts.chown {
                Some(ids) => ids,
                None => (
                    u32::try_from(meta.uid).unwrap_or(u32::MAX),
                    u32::try_from(meta.gid).unwrap_or(u32::MAX),
                ),
            };
            if let Err(e) = dir.chown(name, uid, gid) {
                tracing::warn!(path = %raw.display(), uid, gid, error = %e, "ownership not applied");
            }
        }
        if !is_symlink {
            // Just made (or checked) here, not a symlink: chmod cannot be redirected.
            dir.chmod(name, meta.mode & 0o7777)
                .map_err(Self::entry_err(raw))?;
        }
        for (key, value) in &meta.xattrs {
            if self.opts.overlay_whiteouts && is_overlay_xattr(key) {
                tracing::warn!(path = %raw.display(), xattr = %String::from_utf8_lossy(key), "overlay attribute of the layer not applied");
                continue;
            }
            dir.set_xattr(name, key, value).unwrap_or_else(|e| {
                tracing::warn!(
                    path = %raw.display(),
                    xattr = %String::from_utf8_lossy(key),
                    error = %e,
                    "extended attribute not applied"
                );
            });
        }
        if meta.kind == tar::EntryType::Directory {
            let id = dir
                .stat(name)
                .map_err(Self::entry_err(raw))?
                .map(|s| s.id())
                .ok_or_else(|| Self::entry_err(raw)(io::Error::from(io::ErrorKind::NotFound)))?;
            self.dirs.push(DeferredTime {
                parent: parent.to_path_buf(),
                name: name.to_os_string(),
                id,
                mtime: meta.mtime,
            });
        } else {
            dir.set_times(name, mtime_of(meta.mtime))
                .map_err(Self::entry_err(raw))?;
        }
        self.record(parent, dir, name).map_err(Self::entry_err(raw))
    }

    fn finish(&mut self) -> Result<(), UnpackError> {
        for link in std::mem::take(&mut self.deferred_links) {
            let raw = link.raw.clone();
            // The parent is looked up again: it must still be the directory the entry was
            // placed in.
            let dir = match self.root.dir(&link.parent) {
                Ok(dir)
                    if dir.stat_self().map_err(Self::entry_err(&raw))?.id() == link.parent_id =>
                {
                    dir
                }
                Ok(_) | Err(_) => {
                    return Err(UnpackError::Refused {
                        path: raw,
                        reason: format!(
                            "the hard link waited for its target {} until the end of the \
                             layer, but its parent directory {} was replaced later in the tar \
                             (by a symlink or another entry); refused",
                            link.target.display(),
                            link.parent.display()
                        ),
                    });
                }
            };
            let Some((target_dir, target_name)) = self.find_target(&link.raw, &link.target)? else {
                return Err(UnpackError::MissingLinkTarget {
                    path: link.raw,
                    target: link.target,
                });
            };
            self.hard_link(
                &link.raw,
                &link.parent,
                &dir,
                &link.name,
                &target_dir,
                &target_name,
            )?;
        }
        // Deeper directories come later in a tar: set their times first. Each is looked up
        // again and must still be the directory written.
        for time in self.dirs.iter().rev() {
            let dir = match self.root.dir(&time.parent) {
                Ok(dir) => dir,
                Err(e) => {
                    tracing::debug!(path = %time.parent.display(), error = %e, "directory mtime skipped: its parent is gone");
                    continue;
                }
            };
            match dir.stat(&time.name) {
                Ok(Some(stat)) if stat.is_dir() && stat.id() == time.id => {
                    if let Err(e) = dir.set_times(&time.name, mtime_of(time.mtime)) {
                        tracing::warn!(path = %time.parent.join(&time.name).display(), error = %e, "directory mtime not applied");
                    }
                }
                _ => {
                    tracing::debug!(path = %time.parent.join(&time.name).display(), "directory mtime skipped: replaced later in the tar");
                }
            }
        }
        Ok(())
    }
}

/// The xattr overlayfs (mounted with `userxattr`) reads as an opaque directory marker.
pub const OVERLAY_OPAQUE: &[u8] = b"user.overlay.opaque";

/// Whether an xattr name is overlayfs metadata (which a layer must not smuggle into a lower
/// directory: redirects, metacopy, opaque markers of its own).
fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"user.overlay.") || name.starts_with(b"trusted.overlay.")
}

/// Whether an error opening a directory means there is nothing there (missing, or a file
/// where a directory would be).
fn is_absent(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ENOTDIR)
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
