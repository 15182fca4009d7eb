// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Rootless workers: an ordinary user with a subordinate id range (`/etc/subuid`,
//! `/etc/subgid`) gets the whole worker moved into a user namespace where it is root over
//! that range, the way `buildah unshare` does, before anything else starts. Then unpacking
//! keeps the image's owners and the RUN sandbox can map every id a Dockerfile uses.
//!
//! The process forks while still single-threaded: the child unshares a user namespace and
//! waits; the parent maps it with `newuidmap`/`newgidmap` (container 0 = the user, 1.. = the
//! subordinate range), lets it go on as root there, forwards SIGINT/SIGTERM to it and exits
//! with its code. Without a range, or when the helpers are missing or refuse, nothing
//! changes: builds without RUN work as before and RUN says what to set up.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// One subordinate id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First host id.
    pub start: u64,
    /// Number of ids.
    pub count: u64,
}

/// The first range of `/etc/subuid`-style `text` for the user `name` or `id`.
pub fn find_range(text: &str, name: &str, id: u32) -> Option<Range> {
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let (owner, start, count) = (parts.next()?, parts.next()?, parts.next()?);
        if owner != name && owner.parse::<u32>().ok() != Some(id) {
            return None;
        }
        let range = Range {
            start: start.parse().ok()?,
            count: count.parse().ok()?,
        };
        (range.count > 0).then_some(range)
    })
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(child, signal) };
    }
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2)?.parse::<u32>().ok()? == uid)
            .then(|| fields.first().map(|s| s.to_string()))?
    })
}

fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: pipe2 returned two new descriptors we own.
    Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn map(tool: &str, pid: libc::pid_t, own: u32, range: Range) -> Result<(), String> {
    let output = std::process::Command::new(tool)
        .arg(pid.to_string())
        .args(["0", &own.to_string(), "1"])
        .args(["1", &range.start.to_string(), &range.count.to_string()])
        .output()
        .map_err(|e| format!("{tool}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// Moves the process into a user namespace over its subordinate ranges when it is not root
/// and has them. Returns `Some(code)` in the parent, which must exit with it; `None` where
/// the caller goes on (the child, now root of the namespace, or nothing changed). Must be
/// called while the process is single-threaded.
pub fn enter() -> Option<i32> {
    // SAFETY: plain id queries.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid == 0 || std::env::var_os("KANIKO_NO_USERNS").is_some() {
        return None;
    }
    let name = user_name(uid).unwrap_or_default();
    let uids = std::fs::read_to_string("/etc/subuid").ok()?;
    let gids = std::fs::read_to_string("/etc/subgid").ok()?;
    let (Some(uid_range), Some(gid_range)) =
        (find_range(&uids, &name, uid), find_range(&gids, &name, uid))
    else {
        return None;
    };
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    // SAFETY: the process is single-threaded here (documented precondition).
    let child = unsafe { libc::fork() };
    if child < 0 {
        return None;
    }
    if child == 0 {
        drop((ready_r, go_w));
        // SAFETY: unshare in a single-threaded process.
        let ok = unsafe { libc::unshare(libc::CLONE_NEWUSER) } == 0;
        let _ = std::fs::File::from(ready_w).write_all(if ok { b"U" } else { b"F" });
        let mut byte = [0u8; 1];
        let got = std::fs::File::from(go_r).read(&mut byte).unwrap_or(0);
        if got != 1 || byte[0] != b'G' {
            // SAFETY: leaving the forked child; the parent goes on alone.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: becoming root of the namespace just mapped.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
        return None;
    }
    drop((ready_w, go_r));
    let mut byte = [0u8; 1];
    let got = std::fs::File::from(ready_r).read(&mut byte).unwrap_or(0);
    let mapped = if got == 1 && byte[0] == b'U' {
        map("newuidmap", child, uid, uid_range)
            .and_then(|()| map("newgidmap", child, gid, gid_range))
    } else {
        Err("unshare(CLONE_NEWUSER) failed".to_string())
    };
    let mut go = std::fs::File::from(go_w);
    if let Err(reason) = mapped {
        let _ = go.write_all(b"N");
        drop(go);
        wait(child);
        // Stay unprivileged; RUN will explain what is missing.
        let line = format!(
            "warning: not entering a user namespace ({reason}); RUN will not be available\n"
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        return None;
    }
    CHILD.store(child, Ordering::SeqCst);
    // SAFETY: installing an async-signal-safe forwarding handler.
    unsafe {
        libc::signal(libc::SIGINT, forward as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, forward as *const () as libc::sighandler_t);
    }
    let _ = go.write_all(b"G");
    drop(go);
    Some(wait(child))
}

fn wait(child: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid int.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r == child {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 1;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_found_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n";
        let check = |name: &str, id: u32, expected: Option<(u64, u64)>| {
            assert_eq!(
                find_range(text, name, id).map(|r| (r.start, r.count)),
                expected,
                "{name} {id}"
            );
        };
        check("alice", 1000, Some((100_000, 65_536)));
        check("carol", 1001, Some((200_000, 1000)));
        check("bob", 1002, None);
        check("dave", 1003, None);
    }
}
