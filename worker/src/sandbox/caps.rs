// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The capabilities of a RUN command: Docker's default set for uid 0 and nothing else. The
//! bounding set is cut to it before the command's user is set (so no later `execve` of a
//! setuid or file-capability program can get more), the ambient set is cleared, and after the
//! user is set root keeps the set as permitted and effective, any other user none, and the
//! inheritable set is empty, as Docker (20.10 and later) does.

/// Docker's default capabilities (moby `oci/caps/defaults.go`), by number.
pub const DEFAULT: [u32; 14] = [
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    3,  // CAP_FOWNER
    4,  // CAP_FSETID
    5,  // CAP_KILL
    6,  // CAP_SETGID
    7,  // CAP_SETUID
    8,  // CAP_SETPCAP
    10, // CAP_NET_BIND_SERVICE
    13, // CAP_NET_RAW
    18, // CAP_SYS_CHROOT
    27, // CAP_MKNOD
    29, // CAP_AUDIT_WRITE
    31, // CAP_SETFCAP
];

/// The same set by name, in [`DEFAULT`]'s order (the seccomp profile selects on names).
pub const DEFAULT_NAMES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_MKNOD",
    "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
];

/// [`DEFAULT`] as a bit mask (`/proc/self/status` shows it as `00000000a80425fb`).
pub const fn default_mask() -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    while i < DEFAULT.len() {
        mask |= 1 << DEFAULT[i];
        i += 1;
    }
    mask
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Drops every capability outside [`DEFAULT`] from the bounding set and clears the ambient
/// set. Needs `CAP_SETPCAP`; call before changing to the command's user.
pub fn limit_bounding_set() -> std::io::Result<()> {
    for cap in 0..64u32 {
        if DEFAULT.contains(&cap) {
            continue;
        }
        if let Err(e) = super::sys::drop_from_bounding_set(cap) {
            if e.raw_os_error() == Some(libc::EINVAL) {
                // Past the kernel's last capability.
                break;
            }
            return Err(std::io::Error::new(
                e.kind(),
                format!("dropping capability {cap} from the bounding set: {e}"),
            ));
        }
    }
    match super::sys::clear_ambient_capabilities() {
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => Err(std::io::Error::new(
            e.kind(),
            format!("clearing the ambient capabilities: {e}"),
        )),
        _ => Ok(()),
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets the permitted and effective sets to `mask` and the inheritable set to nothing, for
/// the calling thread (after the command's user is set: [`default_mask`] for root, 0 else).
pub fn set(mask: u64) -> std::io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: mask as u32,
            permitted: mask as u32,
            inheritable: 0,
        },
        CapData {
            effective: (mask >> 32) as u32,
            permitted: (mask >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: a valid header and two data words, as capset(2) takes for version 3.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        let e = errno();
        return Err(std::io::Error::new(
            e.kind(),
            format!("setting the capabilities to {mask:#x}: {e}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_is_dockers() {
        assert_eq!(default_mask(), 0xa804_25fb);
        assert_eq!(DEFAULT.len(), DEFAULT_NAMES.len());
    }

    /// The `/proc/self/status` line `name:` as a number.
    fn status_mask(status: &str, name: &str) -> u64 {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} not in status"));
        u64::from_str_radix(line.trim(), 16).unwrap()
    }

    #[test]
    fn a_limited_root_keeps_exactly_dockers_set_and_another_user_none() {
        // In forked children (the test runs as root, or root of a user namespace): the
        // status each reports is sent back through a pipe.
        fn child(uid: u32) -> String {
            let mut fds = [0; 2];
            // SAFETY: fds is an array of two ints.
            assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
            // SAFETY: the child only makes system calls, reads /proc and exits.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                let ok = limit_bounding_set().is_ok()
                    // SAFETY: plain system calls.
                    && unsafe { libc::setresuid(uid, uid, uid) } == 0
                    && set(if uid == 0 { default_mask() } else { 0 }).is_ok();
                let text = if ok {
                    std::fs::read_to_string("/proc/self/status").unwrap_or_default()
                } else {
                    format!("failed: {}", errno())
                };
                // SAFETY: writing our buffer to the pipe, then leaving the child.
                unsafe {
                    libc::write(fds[1], text.as_ptr().cast(), text.len());
                    libc::_exit(0);
                }
            }
            // SAFETY: closing our copy of the write end.
            unsafe { libc::close(fds[1]) };
            let mut out = String::new();
            use std::io::Read;
            // SAFETY: we own the read end.
            let mut file =
                unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
            file.read_to_string(&mut out).unwrap();
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            out
        }
        let root = child(0);
        for set in ["CapBnd", "CapPrm", "CapEff"] {
            assert_eq!(status_mask(&root, set), default_mask(), "{set}: {root}");
        }
        assert_eq!(status_mask(&root, "CapInh"), 0);
        assert_eq!(status_mask(&root, "CapAmb"), 0);
        let nobody = child(65534);
        assert_eq!(status_mask(&nobody, "CapBnd"), default_mask(), "{nobody}");
        for set in ["CapPrm", "CapEff", "CapInh", "CapAmb"] {
            assert_eq!(status_mask(&nobody, set), 0, "{set}: {nobody}");
        }
    }
}
