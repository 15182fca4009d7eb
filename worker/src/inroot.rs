// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Files and directories opened inside a root directory without ever leaving it, even when
//! what is inside changes while we look: `openat2` with `RESOLVE_IN_ROOT` (a symlink, absolute
//! or climbing with `..`, resolves as if the root were `/`) and `RESOLVE_NO_MAGICLINKS` (no
//! jump through `/proc/<pid>/root` or `/proc/<pid>/fd`). A path resolved earlier with
//! [`crate::unpack::resolve_on_disk`] and opened here stays inside even if another build
//! swapped a symlink in between. On kernels without `openat2` (before 5.6) a path is opened
//! one component at a time with `O_NOFOLLOW`, refusing every symlink on the way.
//!
//! Used for `RUN --mount` sources and cache directories ([`open_in`], [`mkdirs_in`],
//! [`copy_tree_from`]) and for reading a context's Dockerfile and `.dockerignore`
//! ([`read_file_in`]): a regular file only (a FIFO would block, a device could do anything when
//! opened), of bounded size.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// Why a file could not be read with [`read_file_in`] or [`read_file`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nothing there (or a component on the way is not a directory).
    #[error("not found")]
    NotFound,
    /// Something other than a regular file.
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
    /// Bigger than allowed.
    #[error("larger than the limit of {} ({limit} bytes)", human(*.limit))]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Anything else.
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path holds a NUL byte"))
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name holds a NUL byte"))
}

fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn openat(dir: BorrowedFd<'_>, name: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: a valid descriptor and C string.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
        match owned(fd.into()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// An `O_PATH` descriptor of the directory `path`, the root itself (the worker's own
/// directory or one the operator named: it may be reached through symlinks).
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let c = c_path(path)?;
    // SAFETY: a valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    owned(fd.into())
}

/// `/proc/self/fd/<fd>`: the path that reaches exactly what `fd` refers to (for `mount`,
/// overlay's `lowerdir` and reopening an `O_PATH` descriptor).
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The relative path openat2 takes for `rel` (`.` for the root itself).
fn relative(rel: &Path) -> io::Result<CString> {
    let parts: Vec<&OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part),
            Component::ParentDir => Some(OsStr::new("..")),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        return c_name(OsStr::new("."));
    }
    let joined: PathBuf = parts.iter().collect();
    c_path(&joined)
}

/// Opens `rel` inside `root` with `flags` (`O_CLOEXEC` added): symlinks resolve as if `root`
/// were `/`, magic links are refused. A final symlink is followed (inside the root) unless
/// `flags` holds `O_NOFOLLOW`.
pub fn open_in(root: BorrowedFd<'_>, rel: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = relative(rel)?;
    // SAFETY: open_how is plain data; zero is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = u64::try_from(flags | libc::O_CLOEXEC).unwrap_or_default();
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // The kernel answers EAGAIN when a rename raced the lookup: try again a few times.
    for _ in 0..32 {
        // SAFETY: a valid descriptor, C string and open_how of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match owned(fd) {
            Ok(fd) => return Ok(fd),
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => continue,
                Some(libc::ENOSYS) => return open_beneath_nofollow(root, rel, flags),
                _ => return Err(e),
            },
        }
    }
    Err(io::Error::other(format!(
        "{}: the directory kept changing while it was opened",
        rel.display()
    )))
}

/// Opens `rel` below `root` one component at a time, refusing every symlink and `..`: the
/// fallback of [`open_in`] for a path already resolved inside the root.
pub(crate) fn open_beneath_nofollow(
    root: BorrowedFd<'_>,
    rel: &Path,
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    let mut parts = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(part) => parts.push(c_name(part)?),
            Component::ParentDir => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: `..` in a resolved path", rel.display()),
                ));
            }
            _ => {}
        }
    }
    let Some((last, dirs)) = parts.split_last() else {
        return openat(root, &c_name(OsStr::new("."))?, flags);
    };
    let mut current: Option<OwnedFd> = None;
    for dir in dirs {
        let at = current.as_ref().map_or(root, AsFd::as_fd);
        current = Some(openat(
            at,
            dir,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        )?);
    }
    let at = current.as_ref().map_or(root, AsFd::as_fd);
    let fd = openat(at, last, flags | libc::O_NOFOLLOW)?;
    // With O_PATH, O_NOFOLLOW opens a symlink itself rather than failing.
    if kind(fd.as_fd())? == libc::S_IFLNK {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    Ok(fd)
}

/// The file type bits (`S_IFMT`) of what `fd` refers to.
pub fn kind(fd: BorrowedFd<'_>) -> io::Result<libc::mode_t> {
    Ok(stat(fd)?.st_mode & libc::S_IFMT)
}

/// `fstat` of `fd` (an `O_PATH` descriptor works).
pub fn stat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data, filled in by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and output buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// What a file type is called in messages.
pub fn kind_name(kind: libc::mode_t) -> &'static str {
    match kind {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symlink",
        libc::S_IFIFO => "a fifo",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        _ => "an unknown file type",
    }
}

/// Makes every missing directory of `rel` (already resolved inside the root) with `mkdirat`
/// relative to its parent's descriptor, never following a symlink: a symlink anywhere on the
/// way is an error, so nothing is ever created outside `root`. Returns the last directory.
pub fn mkdirs_in(root: BorrowedFd<'_>, rel: &Path, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let mut current: Option<OwnedFd> = None;
    for component in rel.components() {
        let Component::Normal(part) = component else {
            if matches!(component, Component::ParentDir) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: `..` in a resolved path", rel.display()),
                ));
            }
            continue;
        };
        let name = c_name(part)?;
        let at = current.as_ref().map_or(root, AsFd::as_fd);
        // SAFETY: a valid descriptor and C string.
        if unsafe { libc::mkdirat(at.as_raw_fd(), name.as_ptr(), mode) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
        }
        current = Some(openat(
            at,
            &name,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        )?);
    }
    match current {
        Some(fd) => Ok(fd),
        None => openat(
            root,
            &c_name(OsStr::new("."))?,
            libc::O_PATH | libc::O_DIRECTORY,
        ),
    }
}

/// Reads the regular file `rel` inside the directory `root` (see [`open_in`]), at most `limit`
/// bytes.
pub fn read_file_in(root: &Path, rel: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let root = open_root(root)?;
    let fd = open_in(root.as_fd(), rel, libc::O_PATH).map_err(not_found)?;
    read_opened(fd, limit)
}

/// Reads the regular file `path` as given (symlinks followed: a path the operator named), at
/// most `limit` bytes.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let c = c_path(path)?;
    // SAFETY: a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    read_opened(owned(fd.into()).map_err(not_found)?, limit)
}

fn not_found(e: io::Error) -> ReadError {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => ReadError::NotFound,
        _ => ReadError::Io(e),
    }
}

/// Opens for reading what the `O_PATH` descriptor `fd` refers to, when it is a regular file:
/// checked before it is opened (through `/proc/self/fd`, so it is the very file checked), so
/// a FIFO or a device is never opened. Returns the file and its size.
pub fn open_regular(fd: OwnedFd) -> Result<(File, u64), ReadError> {
    let st = stat(fd.as_fd())?;
    let kind = st.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG {
        return Err(ReadError::NotRegular(kind_name(kind)));
    }
    let c = c_path(&fd_path(fd.as_fd()))?;
    // SAFETY: a valid C string.
    let reopened = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    Ok((File::from(owned(reopened.into())?), size))
}

/// Reads what the `O_PATH` descriptor `fd` refers to, when it is a regular file (see
/// [`open_regular`]) of at most `limit` bytes.
fn read_opened(fd: OwnedFd, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, size) = open_regular(fd)?;
    if size > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut content = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut content)?;
    if content.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(content)
}

/// Copies the directory tree `from` refers to (directories, regular files, symlinks; modes and
/// owners) into the existing directory `to`, which is ours. Every entry is opened relative to
/// its parent's descriptor with `O_NOFOLLOW`, so a symlink in the source is copied as a
/// symlink and never leads the copy out of it. Other file types are left out.
pub fn copy_tree_from(from: BorrowedFd<'_>, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let st = stat(from)?;
    std::os::unix::fs::lchown(to, Some(st.st_uid), Some(st.st_gid))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(st.st_mode & 0o7777))?;
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(fd_path(from))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let c = c_name(&name)?;
        let dst = to.join(&name);
        // SAFETY: stat is plain data, filled in by the kernel.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor, C string and output buffer.
        if unsafe {
            libc::fstatat(
                from.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        } != 0
        {
            return Err(io::Error::last_os_error());
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let child = openat(
                    from,
                    &c,
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                )?;
                std::fs::create_dir(&dst)?;
                copy_tree_from(child.as_fd(), &dst)?;
            }
            libc::S_IFLNK => {
                let target = readlinkat(from, &c)?;
                std::os::unix::fs::symlink(target, &dst)?;
                std::os::unix::fs::lchown(&dst, Some(st.st_uid), Some(st.st_gid))?;
            }
            libc::S_IFREG => {
                let source = openat(
                    from,
                    &c,
                    libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
                )?;
                let opened = stat(source.as_fd())?;
                if opened.st_mode & libc::S_IFMT != libc::S_IFREG {
                    continue;
                }
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dst)?;
                io::copy(&mut File::from(source), &mut out)?;
                drop(out);
                // Owner first: chown clears the setuid and setgid bits.
                std::os::unix::fs::lchown(&dst, Some(opened.st_uid), Some(opened.st_gid))?;
                std::fs::set_permissions(
                    &dst,
                    std::fs::Permissions::from_mode(opened.st_mode & 0o7777),
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// [`copy_tree_from`] the directory `from` (a path we trust, e.g. our own scratch directory).
#[cfg(test)]
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    copy_tree_from(open_root(from)?.as_fd(), to)
}

fn readlinkat(dir: BorrowedFd<'_>, name: &CString) -> io::Result<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: a valid descriptor, C string and buffer of the length passed.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    buf.truncate(n);
    Ok(PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

#[cfg(test)]
mod tests;
