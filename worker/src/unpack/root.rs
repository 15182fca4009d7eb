// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A root directory reached by descriptor, never by a path joined to it: every operation of
//! an unpack (create, link, remove, chown, chmod, set times) is a `*at` system call on the
//! descriptor of the entry's parent directory, and that descriptor is opened inside the root
//! at the moment of use. Nothing is resolved once and used later, so an entry that turns a
//! directory into a symlink cannot redirect an operation queued before it.
//!
//! Directories are opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` (Linux 5.6):
//! symlinks are followed as if the root were `/`, `..` stops at the root, and the kernel does
//! the whole walk. Where `openat2` is not available (an older kernel, or a seccomp profile
//! that refuses it with `ENOSYS` or `EPERM`) the same resolution is done one component at a
//! time: each component opened with `O_PATH | O_NOFOLLOW` relative to the previous one, a
//! symlink's target read with `readlinkat` and queued (an absolute one starts again at the
//! root), `..` taken from a stack of the descriptors walked, never from the disk. Both give
//! the answers of [`super::resolve::resolve_with`].
//!
//! Final components are never followed: `O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `linkat` without
//! `AT_SYMLINK_FOLLOW`. Nothing else writes into a root while it is unpacked, so a type
//! checked with `fstatat` stays true for the next call on the same name.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use super::resolve::{MAX_SYMLINKS, Part, Pending, clean};

/// How directories inside a root are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolver {
    /// `openat2` when the kernel has it, else the component walk.
    #[default]
    Auto,
    /// Always the component walk (what kernels without `openat2` get; tests cover it).
    #[cfg(test)]
    Walk,
}

/// The identity of a file: device and inode.
pub type FileId = (u64, u64);

/// What `fstatat` says about a name.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    mode: u32,
    id: FileId,
    size: u64,
}

impl Stat {
    fn of(st: &libc::stat) -> Stat {
        Stat {
            mode: st.st_mode,
            id: (st.st_dev, st.st_ino),
            size: u64::try_from(st.st_size).unwrap_or(0),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A directory (not a symlink to one).
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// A character device (in an overlay lower directory, 0/0 is a whiteout).
    pub fn is_char_device(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFCHR
    }

    /// A symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    /// Device and inode.
    pub fn id(&self) -> FileId {
        self.id
    }
}

/// A root directory; see the module documentation.
#[derive(Debug)]
pub struct RootDir {
    root: Dir,
    resolver: Resolver,
}

/// A directory inside a root, held by an `O_PATH` descriptor.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

/// Whether `openat2` works here: 0 not tried yet, 1 yes, 2 no.
static OPENAT2: AtomicU8 = AtomicU8::new(0);

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::other("name contains a nul byte"))
}

/// A single path component: not empty, no `/`, not `.` or `..`.
fn component(name: &OsStr) -> io::Result<CString> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.contains(&b'/') || bytes == b"." || bytes == b".." {
        return Err(io::Error::other(format!(
            "{:?} is not a single path component",
            name
        )));
    }
    c_name(name)
}

fn open_at(dir: RawFd, name: &CString, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and lives for the call; the result is checked.
    let fd = cvt(unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn loop_error(rel: &Path) -> io::Error {
    io::Error::other(format!(
        "{}: more than {MAX_SYMLINKS} symlinks (or a symlink loop)",
        rel.display()
    ))
}

/// How the walk treats symlinks and missing directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Follow symlinks inside the root.
    Follow,
    /// Follow symlinks inside the root and create missing directories.
    Create,
    /// Refuse any symlink (`ELOOP`).
    NoSymlinks,
}

/// Removes whatever is at `path` (a file, symlink, node, or a directory with everything in
/// it) with [`Dir::remove_all`], never following its last component; nothing there is fine.
/// For callers that hold paths rather than a root (the snapshot moving an overlay's change
/// into the stage root).
pub fn remove_any(path: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other(format!(
            "{}: not a path to remove",
            path.display()
        )));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    match RootDir::open(parent) {
        Ok(dir) => dir.dir_root().remove_all(name),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl RootDir {
    /// Opens `path` as a root, resolving with [`Resolver::Auto`].
    pub fn open(path: &Path) -> io::Result<RootDir> {
        RootDir::open_with(path, Resolver::Auto)
    }

    /// Opens `path` as a root.
    pub fn open_with(path: &Path, resolver: Resolver) -> io::Result<RootDir> {
        let name = c_name(path.as_os_str())?;
        let fd = open_at(libc::AT_FDCWD, &name, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        Ok(RootDir {
            root: Dir { fd },
            resolver,
        })
    }

    /// The root itself.
    pub fn dir_root(&self) -> &Dir {
        &self.root
    }

    /// The directory `rel` names inside the root, following symlinks inside it.
    /// `NotFound` when it does not exist, `ENOTDIR` when it is not a directory.
    pub fn dir(&self, rel: &Path) -> io::Result<Dir> {
        self.resolve(rel, Walk::Follow)
    }

    /// The directory `rel` names inside the root, creating what is missing (mode 0755), as
    /// `mkdir -p` inside the root would.
    pub fn make_dir_all(&self, rel: &Path) -> io::Result<Dir> {
        self.resolve(rel, Walk::Create)
    }

    /// The directory `rel` names below the root with no symlink on the way: a path that
    /// has one fails (`ELOOP`).
    pub fn dir_no_symlinks(&self, rel: &Path) -> io::Result<Dir> {
        self.resolve(rel, Walk::NoSymlinks)
    }

    fn resolve(&self, rel: &Path, walk: Walk) -> io::Result<Dir> {
        let rel = clean(rel);
        if rel.as_os_str().is_empty() {
            return self.root.duplicate();
        }
        if self.resolver == Resolver::Auto && OPENAT2.load(Ordering::Relaxed) != 2 {
            let resolve = match walk {
                Walk::NoSymlinks => {
                    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS
                }
                Walk::Follow | Walk::Create => libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
            };
            match self.openat2(&rel, resolve) {
                Ok(Some(dir)) => return Ok(dir),
                // A missing directory to create: the walk creates it.
                Err(e) if e.kind() == io::ErrorKind::NotFound && walk == Walk::Create => {}
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    return Err(if walk == Walk::NoSymlinks {
                        e
                    } else {
                        loop_error(&rel)
                    });
                }
                Err(e) => return Err(e),
                Ok(None) => {}
            }
        }
        self.walk(&rel, walk)
    }

    /// `openat2` of a directory; `None` when the kernel does not have it (remembered).
    fn openat2(&self, rel: &Path, resolve: u64) -> io::Result<Option<Dir>> {
        let name = c_name(rel.as_os_str())?;
        // SAFETY: open_how is plain data; zero is a valid value for each field.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
        how.resolve = resolve;
        for _ in 0..16 {
            // SAFETY: the pointers are valid for the call and the size is the struct's.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.root.fd.as_raw_fd(),
                    name.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            if rc >= 0 {
                OPENAT2.store(1, Ordering::Relaxed);
                let fd = RawFd::try_from(rc).map_err(|_| io::Error::other("openat2 result"))?;
                // SAFETY: `fd` was just returned by openat2 and is owned by nobody else.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                return Ok(Some(Dir { fd }));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                // A rename raced with a `..`: try again.
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                // No openat2 (old kernel, seccomp): the walk from now on.
                Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EINVAL) | Some(libc::E2BIG)
                    if OPENAT2.load(Ordering::Relaxed) != 1 =>
                {
                    tracing::debug!(error = %err, "openat2 is not available; resolving paths one component at a time");
                    OPENAT2.store(2, Ordering::Relaxed);
                    return Ok(None);
                }
                _ => return Err(err),
            }
        }
        Ok(None)
    }

    /// The component walk; see the module documentation.
    fn walk(&self, rel: &Path, walk: Walk) -> io::Result<Dir> {
        let mut stack: Vec<Dir> = Vec::new();
        let mut pending = Pending::new(rel);
        while let Some(part) = pending.pop() {
            let Part::Name(part) = part else {
                stack.pop(); // `..`
                continue;
            };
            let current = stack.last().unwrap_or(&self.root);
            let name = component(&part)?;
            let fd = match open_at(
                current.fd.as_raw_fd(),
                &name,
                libc::O_PATH | libc::O_NOFOLLOW,
                0,
            ) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound && walk == Walk::Create => {
                    match current.mkdir(&part, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                    pending.retry(part);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let dir = Dir { fd };
            let stat = dir.stat_self()?;
            if stat.is_dir() {
                stack.push(dir);
            } else if stat.is_symlink() {
                if walk == Walk::NoSymlinks {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = dir.read_link_self()?;
                let target = Path::new(&target);
                if pending.follow(target).is_err() {
                    return Err(loop_error(rel));
                }
                if target.has_root() {
                    stack.clear();
                }
            } else {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
        }
        match stack.pop() {
            Some(dir) => Ok(dir),
            None => self.root.duplicate(),
        }
    }
}

impl Dir {
    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn duplicate(&self) -> io::Result<Dir> {
        Ok(Dir {
            fd: self.fd.try_clone()?,
        })
    }

    /// The directory's own status.
    pub fn stat_self(&self) -> io::Result<Stat> {
        // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid, writable stat buffer.
        cvt(unsafe { libc::fstat(self.raw(), &mut st) })?;
        Ok(Stat::of(&st))
    }

    /// The target of the symlink this descriptor (`O_PATH | O_NOFOLLOW`) holds.
    fn read_link_self(&self) -> io::Result<OsString> {
        let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
        // SAFETY: the empty path is NUL-terminated; `buf` is writable for its length.
        let n = unsafe {
            libc::readlinkat(self.raw(), c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        buf.truncate(n);
        Ok(OsString::from_vec(buf))
    }

    /// What `name` is here (never followed); `None` when there is nothing by that name.
    pub fn stat(&self, name: &OsStr) -> io::Result<Option<Stat>> {
        let c = component(name)?;
        // SAFETY: an all-zero stat is a valid buffer for fstatat to fill.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is NUL-terminated and `st` writable for the call.
        let rc =
            unsafe { libc::fstatat(self.raw(), c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        if rc == 0 {
            return Ok(Some(Stat::of(&st)));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOENT) => Ok(None),
            _ => Err(e),
        }
    }

    /// The directory `name` here (a symlink is refused).
    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        let c = component(name)?;
        let fd = open_at(
            self.raw(),
            &c,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        Ok(Dir { fd })
    }

    /// Creates the regular file `name` (it must not exist), open for writing.
    pub fn create_file(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let c = component(name)?;
        let fd = open_at(
            self.raw(),
            &c,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            mode,
        )?;
        Ok(File::from(fd))
    }

    /// `mkdirat`.
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let c = component(name)?;
        // SAFETY: `c` is NUL-terminated for the call.
        cvt(unsafe { libc::mkdirat(self.raw(), c.as_ptr(), mode) }).map(drop)
    }

    /// `symlinkat`: `name` here pointing at `target` (stored as is).
    pub fn symlink(&self, target: &Path, name: &OsStr) -> io::Result<()> {
        let c = component(name)?;
        let target = c_name(target.as_os_str())?;
        // SAFETY: both strings are NUL-terminated for the call.
        cvt(unsafe { libc::symlinkat(target.as_ptr(), self.raw(), c.as_ptr()) }).map(drop)
    }

    /// `mknodat`.
    pub fn mknod(&self, name: &OsStr, mode: u32, device: libc::dev_t) -> io::Result<()> {
        let c = component(name)?;
        // SAFETY: `c` is NUL-terminated for the call.
        cvt(unsafe { libc::mknodat(self.raw(), c.as_ptr(), mode, device) }).map(drop)
    }

    /// `linkat` without following: `name` here becomes another name of `source_name` in
    /// `source` (a symlink is linked as the symlink).
    pub fn hard_link(&self, source: &Dir, source_name: &OsStr, name: &OsStr) -> io::Result<()> {
        let from = component(source_name)?;
        let to = component(name)?;
        // SAFETY: both names are NUL-terminated for the call.
        cvt(unsafe { libc::linkat(source.raw(), from.as_ptr(), self.raw(), to.as_ptr(), 0) })
            .map(drop)
    }

    /// Removes `name` (a file, symlink, node, or a directory with everything in it); nothing
    /// there is fine. Never follows a symlink.
    pub fn remove_all(&self, name: &OsStr) -> io::Result<()> {
        let Some(stat) = self.stat(name)? else {
            return Ok(());
        };
        if stat.is_dir() {
            let child = self.open_dir(name)?;
            for entry in child.names()? {
                child.remove_all(&entry)?;
            }
            self.unlink(name, true)
        } else {
            self.unlink(name, false)
        }
    }

    /// `unlinkat` (`AT_REMOVEDIR` for an empty directory).
    pub fn unlink(&self, name: &OsStr, dir: bool) -> io::Result<()> {
        let c = component(name)?;
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: `c` is NUL-terminated for the call.
        cvt(unsafe { libc::unlinkat(self.raw(), c.as_ptr(), flags) }).map(drop)
    }

    /// The names in this directory (not `.` and `..`).
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let fd = open_at(
            self.raw(),
            &c".".into(),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )?;
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        // SAFETY: `raw` is an open directory descriptor; fdopendir takes it over.
        let stream = unsafe { libc::fdopendir(raw) };
        if stream.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so `raw` is still ours to close.
            unsafe { libc::close(raw) };
            return Err(e);
        }
        let mut names = Vec::new();
        let result = loop {
            // readdir reports errors only through errno.
            // SAFETY: errno is thread-local.
            unsafe { *libc::__errno_location() = 0 };
            // SAFETY: `stream` is a valid DIR stream until closedir below.
            let entry = unsafe { libc::readdir(stream) };
            if entry.is_null() {
                let e = io::Error::last_os_error();
                break if e.raw_os_error().unwrap_or(0) == 0 {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            // SAFETY: d_name is a NUL-terminated string inside the entry readdir returned.
            let name = unsafe { std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()) };
            let bytes = name.to_bytes();
            if bytes != b"." && bytes != b".." {
                names.push(OsString::from_vec(bytes.to_vec()));
            }
        };
        // SAFETY: `stream` is valid and closed once.
        unsafe { libc::closedir(stream) };
        result.map(|()| names)
    }

    /// `fchownat` without following.
    pub fn chown(&self, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
        let c = component(name)?;
        // SAFETY: `c` is NUL-terminated for the call.
        cvt(unsafe { libc::fchownat(self.raw(), c.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
            .map(drop)
    }

    /// `fchmodat`. Linux follows a symlink here, so callers only use it on names they just
    /// checked (or made) not to be one.
    pub fn chmod(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let c = component(name)?;
        // SAFETY: `c` is NUL-terminated for the call.
        cvt(unsafe { libc::fchmodat(self.raw(), c.as_ptr(), mode, 0) }).map(drop)
    }

    /// Access and modification times of `name` (never followed), in seconds since the
    /// epoch.
    pub fn set_times(&self, name: &OsStr, seconds: i64) -> io::Result<()> {
        let c = component(name)?;
        let time = libc::timespec {
            tv_sec: seconds,
            tv_nsec: 0,
        };
        let times = [time, time];
        // SAFETY: `c` is NUL-terminated and `times` holds two timespecs for the call.
        cvt(unsafe {
            libc::utimensat(
                self.raw(),
                c.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map(drop)
    }

    /// `lsetxattr` on `name` here, through `/proc/self/fd` (the directory is the one this
    /// descriptor holds; the name is not followed).
    /// Sets an extended attribute on this directory itself (through its descriptor's
    /// `/proc/self/fd` link, which names exactly this directory).
    pub fn set_own_xattr(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let path = CString::new(format!("/proc/self/fd/{}", self.raw()))
            .map_err(|_| io::Error::other("descriptor path"))?;
        let key =
            CString::new(key).map_err(|_| io::Error::other("xattr name contains a nul byte"))?;
        // SAFETY: both strings are NUL-terminated and live for the call; `value` is a valid slice.
        cvt(unsafe {
            libc::setxattr(
                path.as_ptr(),
                key.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        })
        .map(drop)
    }

    pub fn set_xattr(&self, name: &OsStr, key: &[u8], value: &[u8]) -> io::Result<()> {
        component(name)?;
        let mut path = format!("/proc/self/fd/{}/", self.raw()).into_bytes();
        path.extend_from_slice(name.as_bytes());
        super::set_xattr(Path::new(OsStr::from_bytes(&path)), key, value)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};

    use super::*;
    use crate::unpack::resolve_on_disk;

    /// A root with symlinks of every kind, and a directory `outside` next to it.
    fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        std::fs::create_dir_all(root.join("real/etc/sub")).unwrap();
        std::fs::create_dir(base.path().join("outside")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        let host = base.path().join("outside");
        for (name, target) in [
            ("abs", "/real/etc"),
            ("rel", "real/etc"),
            ("up", "../../../.."),
            ("host", host.to_str().unwrap()),
            ("slash", "/"),
            ("dangling", "/missing/dir"),
            ("loop", "loop"),
            ("to-file", "/file"),
        ] {
            symlink(target, root.join(name)).unwrap();
        }
        (base, root)
    }

    #[test]
    fn remove_any_removes_what_is_there_and_never_follows_the_last_link() {
        let (base, root) = fixture();
        let outside = base.path().join("outside");
        std::fs::write(outside.join("kept"), "").unwrap();
        for name in ["file", "host", "real", "dangling", "missing"] {
            remove_any(&root.join(name)).unwrap();
            assert!(
                std::fs::symlink_metadata(root.join(name)).is_err(),
                "{name} is gone"
            );
        }
        assert!(
            outside.join("kept").exists(),
            "a link's target is left alone"
        );
        remove_any(&root.join("no-such-dir/x")).unwrap();
        assert!(
            remove_any(&root.join("abs/..")).is_err(),
            "not a path to remove"
        );
    }

    fn id_of(path: &Path) -> FileId {
        let meta = std::fs::metadata(path).unwrap();
        (meta.dev(), meta.ino())
    }

    #[test]
    fn both_resolvers_agree_with_the_path_resolution_and_stay_inside() {
        let (_base, root) = fixture();
        for resolver in [Resolver::Auto, Resolver::Walk] {
            let dir = RootDir::open_with(&root, resolver).unwrap();
            for rel in [
                "",
                "real",
                "abs/sub",
                "rel/sub",
                "up",
                "up/real/etc",
                "slash/slash/real",
                "abs/../../..",
            ] {
                let expected = root.join(resolve_on_disk(&root, Path::new(rel), true).unwrap());
                let got = dir.dir(Path::new(rel)).unwrap().stat_self().unwrap().id();
                assert_eq!(got, id_of(&expected), "{resolver:?} {rel}");
            }
            // A host path is a path inside the root, which does not have it.
            let err = dir.dir(Path::new("host")).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{resolver:?}");
            let err = dir.dir(Path::new("to-file")).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR), "{resolver:?}");
            let err = dir.dir(Path::new("loop/x")).unwrap_err();
            assert!(err.to_string().contains("symlinks"), "{resolver:?}: {err}");
        }
    }

    #[test]
    fn creating_follows_symlinks_inside_the_root_and_never_outside() {
        for resolver in [Resolver::Auto, Resolver::Walk] {
            let (base, root) = fixture();
            let dir = RootDir::open_with(&root, resolver).unwrap();
            // Through the host symlink: created inside the root under the host path.
            dir.make_dir_all(Path::new("host/made")).unwrap();
            let inside = root
                .join(base.path().join("outside").strip_prefix("/").unwrap())
                .join("made");
            assert!(inside.is_dir(), "{resolver:?}");
            assert_eq!(
                std::fs::read_dir(base.path().join("outside"))
                    .unwrap()
                    .count(),
                0
            );
            // A dangling symlink's target is created, as mkdir -p through it would.
            dir.make_dir_all(Path::new("dangling/x")).unwrap();
            assert!(root.join("missing/dir/x").is_dir(), "{resolver:?}");
        }
    }

    #[test]
    fn no_symlinks_refuses_any_symlink_on_the_way() {
        let (_base, root) = fixture();
        for resolver in [Resolver::Auto, Resolver::Walk] {
            let dir = RootDir::open_with(&root, resolver).unwrap();
            assert!(dir.dir_no_symlinks(Path::new("real/etc/sub")).is_ok());
            for rel in ["abs", "abs/sub", "up", "host"] {
                let err = dir.dir_no_symlinks(Path::new(rel)).unwrap_err();
                assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{resolver:?} {rel}");
            }
        }
    }

    #[test]
    fn names_are_single_components() {
        let (_base, root) = fixture();
        let dir = RootDir::open(&root).unwrap();
        let top = dir.dir(Path::new("")).unwrap();
        for bad in ["", ".", "..", "a/b", "/abs"] {
            assert!(top.stat(OsStr::new(bad)).is_err(), "{bad:?}");
        }
        let mut names = top.names().unwrap();
        names.sort();
        assert_eq!(names.len(), 10);
        top.remove_all(OsStr::new("real")).unwrap();
        assert!(!root.join("real").exists());
        // The symlink to the host is removed, not followed.
        top.remove_all(OsStr::new("host")).unwrap();
        assert!(root.parent().unwrap().join("outside").is_dir());
    }
}
