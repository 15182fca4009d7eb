// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The sandbox's raw system calls that set it up, in one place so they can be read together:
//! mount, umount2, pivot_root, unshare, setsid, sethostname, the ids and groups, the session
//! keyring and the prctl options (death signal, `no_new_privs`, the bounding and ambient
//! capability sets). Each is a thin safe wrapper
//! (its arguments owned or borrowed C strings and integers) returning `io::Result` with the
//! `errno` of the call; callers add what failed. Process control (fork, waitpid, execve,
//! `_exit`, kill) and descriptor plumbing stay where they are used: they are not safe to
//! wrap as plain functions.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `Ok` when a call returned 0, else the error of its `errno`.
fn zero_or_errno(result: libc::c_int) -> io::Result<()> {
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// mount(2); `None` passes a null pointer.
pub(super) fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(|s| CString::new(s.as_os_str().as_bytes()));
    let source = match source {
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => return Err(io::Error::other("NUL in mount source")),
        None => None,
    };
    let target = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("NUL in mount target"))?;
    let fstype = fstype
        .map(CString::new)
        .transpose()
        .map_err(io::Error::other)?;
    let data = data
        .map(CString::new)
        .transpose()
        .map_err(io::Error::other)?;
    // SAFETY: every pointer is a valid C string or null.
    let r = unsafe {
        libc::mount(
            source.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            data.as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr().cast()),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// umount2(2) of `target`.
pub(super) fn umount2(target: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: target is a valid C string; flags are plain integers.
    zero_or_errno(unsafe { libc::umount2(target.as_ptr(), flags) })
}

/// pivot_root(2): `new_root` becomes `/`, the old root is mounted on `put_old`.
pub(super) fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both are valid C strings that outlive the call.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// unshare(2) with `flags` (`CLONE_NEW*`); the helper's processes are single-threaded.
pub(super) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare with integer flags.
    zero_or_errno(unsafe { libc::unshare(flags) })
}

/// setsid(2): a new session with the caller as its leader.
pub(super) fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments.
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// sethostname(2) in the caller's uts namespace.
pub(super) fn sethostname(name: &[u8]) -> io::Result<()> {
    // SAFETY: name is a valid buffer of that length.
    zero_or_errno(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
}

/// setresuid(2) with all three ids `uid`.
pub(super) fn setresuid(uid: libc::uid_t) -> io::Result<()> {
    // SAFETY: plain integers.
    zero_or_errno(unsafe { libc::setresuid(uid, uid, uid) })
}

/// setresgid(2) with all three ids `gid`.
pub(super) fn setresgid(gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: plain integers.
    zero_or_errno(unsafe { libc::setresgid(gid, gid, gid) })
}

/// setgroups(2): exactly `groups` as the supplementary groups.
pub(super) fn setgroups(groups: &[libc::gid_t]) -> io::Result<()> {
    // SAFETY: groups is a valid buffer of that many ids.
    zero_or_errno(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })
}

/// `KEYCTL_JOIN_SESSION_KEYRING` (keyctl(2)).
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// keyctl(2) `KEYCTL_JOIN_SESSION_KEYRING` with no name: a new, empty session keyring.
pub(super) fn join_new_session_keyring() -> io::Result<()> {
    // SAFETY: keyctl with an integer operation and a null name.
    let joined = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if joined < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// prctl(2) `PR_SET_PDEATHSIG`: `signal` is sent to the caller when its parent dies.
pub(super) fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    zero_or_errno(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) })
}

/// prctl(2) `PR_SET_NO_NEW_PRIVS`: execve never grants privileges again.
pub(super) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    zero_or_errno(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

/// prctl(2) `PR_CAPBSET_DROP`: `cap` leaves the bounding set (`EINVAL` past the kernel's
/// last capability).
pub(super) fn drop_from_bounding_set(cap: u32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    zero_or_errno(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) })
}

/// prctl(2) `PR_CAP_AMBIENT_CLEAR_ALL` (`EINVAL` before Linux 4.3).
pub(super) fn clear_ambient_capabilities() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    zero_or_errno(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    })
}
