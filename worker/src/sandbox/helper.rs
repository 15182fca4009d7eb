// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The sandbox helper process (`worker __sandbox <spec>`), started fresh so that it is
//! single-threaded when it forks and unshares. Four generations:
//!
//! 1. the helper compiles the seccomp filter, forks a child, which unshares a user namespace
//!    and waits;
//! 2. the helper writes the child's uid and gid maps (identity over every id the helper itself
//!    has: root's whole range, or the subordinate range of a rootless worker) and lets it go;
//!    the child becomes root there, unshares mount, pid, ipc, uts (and network) namespaces
//!    and forks the namespace's init;
//! 3. init mounts the root (overlay or bind, nodev), `/proc` with read-only and masked parts,
//!    a minimal `/dev`, a read-only `/sys`, the provided `/etc` files and the `RUN --mount`s,
//!    pivots into the root, forks the command, maps the command's user namespace, reaps
//!    everything and exits with the command's code when the command ends. An init exiting
//!    makes the kernel kill every process left in its pid namespace, so a daemon the command
//!    started in the background dies with it;
//! 4. the command starts a new session (no controlling terminal) and enters a user and mount
//!    namespace of its own below init's (the same identity map): every mount init made is
//!    locked there, so even a capability the command kept could not unmount or remount it.
//!    It joins a new session keyring, cuts its capabilities to Docker's default set (none
//!    for a user other than root), drops to the RUN user, sets `no_new_privs`, installs the
//!    seccomp filter and execs.
//!
//! Every generation up to init dies with its parent (`PR_SET_PDEATHSIG`), so killing the
//! helper stops the whole tree. Setup failures travel to the helper as JSON [`SetupError`]s
//! on a pipe; the helper writes the [`Outcome`] to the spec's result file.

use std::ffi::{CString, OsStr};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Network, Outcome, SetupError, Spec};
use super::{caps, mounts, seccomp, sys};

/// Exit code of a process whose setup failed (the error went through the pipe).
const SETUP_FAILED: i32 = 125;

/// Runs the helper (and exits) when this process was started as one, `<exe> __sandbox SPEC`
/// ([`super::HELPER_ARG`]); returns otherwise. A binary that embeds the worker library calls it
/// first thing in `main`, before anything spawns a thread.
pub fn main_if_asked() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() == Some(OsStr::new(super::HELPER_ARG))
        && let Some(spec) = args.next()
    {
        main(&spec);
    }
}

/// The helper's entry point: runs the spec at `spec_path`, writes the outcome, exits.
pub fn main(spec_path: &OsStr) -> ! {
    let spec: Spec = match std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!(
                "kaniko sandbox: reading {}: {e}",
                Path::new(spec_path).display()
            );
            std::process::exit(SETUP_FAILED);
        }
    };
    let mut spec = spec;
    for (name, file) in std::mem::take(&mut spec.secret_env) {
        // The value stays in this process's memory; only the command's environment gets it.
        match std::fs::read(&file) {
            Ok(bytes) => spec
                .env
                .push(format!("{name}={}", String::from_utf8_lossy(&bytes))),
            Err(e) => {
                eprintln!("kaniko sandbox: reading the secret for ${name}: {e}");
                std::process::exit(SETUP_FAILED);
            }
        }
    }
    let outcome = run(&spec);
    match serde_json::to_vec(&outcome) {
        Ok(bytes) => {
            if let Err(e) = std::fs::write(&spec.result, bytes) {
                eprintln!("kaniko sandbox: writing {}: {e}", spec.result.display());
                std::process::exit(SETUP_FAILED);
            }
        }
        Err(e) => {
            eprintln!("kaniko sandbox: encoding the outcome: {e}");
            std::process::exit(SETUP_FAILED);
        }
    }
    std::process::exit(0);
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SetupError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SetupError::Other(format!("pipe: {}", errno())));
    }
    // SAFETY: pipe2 returned two new descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn fork() -> Result<libc::pid_t, SetupError> {
    // SAFETY: the helper is single-threaded; the child only makes syscalls and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SetupError::Other(format!("fork: {}", errno())));
    }
    Ok(pid)
}

fn wait_exit_code(pid: libc::pid_t) -> Outcome {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid int.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && errno().raw_os_error() != Some(libc::EINTR) {
            return Outcome::Setup(SetupError::Other(format!("waitpid: {}", errno())));
        }
    }
    if libc::WIFEXITED(status) {
        Outcome::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Outcome::Signaled(libc::WTERMSIG(status))
    } else {
        Outcome::Exited(255)
    }
}

fn run(spec: &Spec) -> Outcome {
    match run_inner(spec) {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Setup(e),
    }
}

/// What the command's generation needs from the helper, made before the first fork.
struct Prepared {
    /// The identity maps (uid, gid) of both user namespaces.
    maps: (String, String),
    /// The seccomp filters, in the order to install them.
    filters: Vec<seccompiler::BpfProgram>,
}

fn run_inner(spec: &Spec) -> Result<Outcome, SetupError> {
    let maps = identity_maps()?;
    let filters =
        seccomp::filters(&caps::DEFAULT_NAMES).map_err(|e| SetupError::Other(e.to_string()))?;
    let prepared = Prepared {
        maps: maps.clone(),
        filters,
    };
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // SAFETY: getpid cannot fail.
    let helper = unsafe { libc::getpid() };
    let child = fork()?;
    if child == 0 {
        drop((ready_r, go_w, err_r));
        let code = match first_child(spec, &prepared, helper, ready_w, go_r, &err_w) {
            Ok(code) => code,
            Err(e) => {
                report(&err_w, &e);
                SETUP_FAILED
            }
        };
        // SAFETY: exiting the forked child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop((ready_w, go_r, err_w));
    let mut ready = std::fs::File::from(ready_r);
    let mut byte = [0u8; 1];
    let got = ready.read(&mut byte).unwrap_or(0);
    if got == 1 && byte[0] == b'U' {
        if let Err(e) = write_maps(child, &maps) {
            // SAFETY: killing our own child.
            unsafe { libc::kill(child, libc::SIGKILL) };
            let _ = wait_exit_code(child);
            return Err(e);
        }
        let mut go = std::fs::File::from(go_w);
        let _ = go.write_all(b"G");
    } else {
        drop(go_w);
    }
    let outcome = wait_exit_code(child);
    let mut err = Vec::new();
    let _ = std::fs::File::from(err_r).read_to_end(&mut err);
    if let Some(line) = err.split(|b| *b == b'\n').find(|l| !l.is_empty())
        && let Ok(e) = serde_json::from_slice::<SetupError>(line)
    {
        return Ok(Outcome::Setup(e));
    }
    Ok(outcome)
}

fn report(err: &OwnedFd, e: &SetupError) {
    if let Ok(mut line) = serde_json::to_vec(e) {
        line.push(b'\n');
        // SAFETY: writing a buffer we own to a descriptor we hold.
        unsafe { libc::write(err.as_raw_fd(), line.as_ptr().cast(), line.len()) };
    }
}

/// The identity over every id range of our own user namespace, as `uid_map`/`gid_map` text.
fn identity_maps() -> Result<(String, String), SetupError> {
    let read = |file: &str| -> Result<String, SetupError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| SetupError::Other(format!("reading {file}: {e}")))?;
        let mut out = String::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [inside, _outside, count] = fields.as_slice() {
                out.push_str(&format!("{inside} {inside} {count}\n"));
            }
        }
        if out.is_empty() {
            return Err(SetupError::UserNamespace(format!("{file} is empty")));
        }
        Ok(out)
    };
    Ok((read("/proc/self/uid_map")?, read("/proc/self/gid_map")?))
}

fn write_maps(pid: libc::pid_t, maps: &(String, String)) -> Result<(), SetupError> {
    for (file, text) in [("uid_map", &maps.0), ("gid_map", &maps.1)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text).map_err(|e| {
            SetupError::UserNamespace(format!("writing {path} ({}): {e}", text.trim()))
        })?;
    }
    Ok(())
}

fn set_pdeathsig(expected_parent: libc::pid_t) -> Result<(), SetupError> {
    let _ = sys::set_parent_death_signal(libc::SIGKILL);
    // SAFETY: getppid cannot fail.
    if expected_parent > 0 && unsafe { libc::getppid() } != expected_parent {
        return Err(SetupError::Other("the sandbox helper went away".into()));
    }
    Ok(())
}

/// Generation 1: the user namespace, then the other namespaces; waits for init.
fn first_child(
    spec: &Spec,
    prepared: &Prepared,
    helper: libc::pid_t,
    ready: OwnedFd,
    go: OwnedFd,
    err: &OwnedFd,
) -> Result<i32, SetupError> {
    set_pdeathsig(helper)?;
    sys::unshare(libc::CLONE_NEWUSER).map_err(|e| SetupError::UserNamespace(e.to_string()))?;
    std::fs::File::from(ready)
        .write_all(b"U")
        .map_err(|e| SetupError::Other(format!("signalling the helper: {e}")))?;
    let mut byte = [0u8; 1];
    let got = std::fs::File::from(go).read(&mut byte).unwrap_or(0);
    if got != 1 {
        return Err(SetupError::Other(
            "the helper did not set up the id maps".into(),
        ));
    }
    sys::setresgid(0)
        .and_then(|()| sys::setresuid(0))
        .map_err(|e| {
            SetupError::UserNamespace(format!("becoming root in the new user namespace: {e}"))
        })?;
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    if spec.network == Network::None {
        flags |= libc::CLONE_NEWNET;
    }
    sys::unshare(flags).map_err(|e| {
        SetupError::Other(format!(
            "creating the mount, pid, ipc and uts namespaces: {e}"
        ))
    })?;
    let init = fork()?;
    if init == 0 {
        let code = match init_main(spec, prepared, err) {
            Ok(code) => code,
            Err(e) => {
                report(err, &e);
                SETUP_FAILED
            }
        };
        // SAFETY: exiting the forked child.
        unsafe { libc::_exit(code) };
    }
    match wait_exit_code(init) {
        Outcome::Exited(code) => Ok(code),
        Outcome::Signaled(sig) => Ok(128 + sig),
        Outcome::Setup(e) => Err(e),
    }
}

/// Generation 3: pid 1 of the new pid namespace.
fn init_main(spec: &Spec, prepared: &Prepared, err: &OwnedFd) -> Result<i32, SetupError> {
    // Our parent is outside the pid namespace (getppid says 0): no check possible; the
    // death signal still comes.
    set_pdeathsig(0)?;
    mounts::setup(spec)?;
    let name = spec.hostname.as_bytes();
    sys::sethostname(name).map_err(|e| SetupError::Other(format!("sethostname: {e}")))?;
    if spec.network == Network::None {
        mounts::loopback_up()?;
    }
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let command = fork()?;
    if command == 0 {
        drop((ready_r, go_w));
        let e = exec_command(spec, &prepared.filters, ready_w, go_r);
        // Reaching here means setup or exec failed.
        match e {
            ExecFailure::Setup(e) => {
                report(err, &e);
                // SAFETY: exiting the forked child.
                unsafe { libc::_exit(SETUP_FAILED) };
            }
            ExecFailure::Exec(message) => {
                let line = format!("{message}\n");
                // SAFETY: writing a buffer we own to stderr.
                unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
                // SAFETY: exiting the forked child.
                unsafe { libc::_exit(127) };
            }
        }
    }
    drop((ready_w, go_r));
    // The command asks for its user namespace's maps once it has made it; when it fails
    // before that, it reported why and the pipe is closed.
    let mut byte = [0u8; 1];
    let got = std::fs::File::from(ready_r).read(&mut byte).unwrap_or(0);
    if got == 1 && byte[0] == b'U' {
        match write_maps(command, &prepared.maps) {
            Ok(()) => {
                let _ = std::fs::File::from(go_w).write_all(b"G");
            }
            Err(e) => {
                report(err, &e);
                // SAFETY: killing our own child.
                unsafe { libc::kill(command, libc::SIGKILL) };
            }
        }
    } else {
        drop(go_w);
    }
    // Reap everything until the command itself ends.
    loop {
        let mut status = 0;
        // SAFETY: status is a valid int.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == command {
            if libc::WIFEXITED(status) {
                return Ok(libc::WEXITSTATUS(status));
            }
            if libc::WIFSIGNALED(status) {
                return Ok(128 + libc::WTERMSIG(status));
            }
        }
        if pid < 0 && errno().raw_os_error() != Some(libc::EINTR) {
            return Err(SetupError::Other(format!(
                "waiting for the command: {}",
                errno()
            )));
        }
    }
}

enum ExecFailure {
    Setup(SetupError),
    Exec(String),
}

fn cstring(text: &str) -> Result<CString, ExecFailure> {
    CString::new(text).map_err(|_| ExecFailure::Exec(format!("{text:?} contains a NUL byte")))
}

/// The command's own session, user and mount namespaces and session keyring (see the module
/// documentation); `ready`/`go` hand the user namespace's maps to init.
fn isolate(ready: OwnedFd, go: OwnedFd) -> Result<(), SetupError> {
    sys::setsid().map_err(|e| SetupError::Other(format!("starting a new session: {e}")))?;
    sys::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS)
        .map_err(|e| SetupError::UserNamespace(format!("the command's user namespace: {e}")))?;
    std::fs::File::from(ready)
        .write_all(b"U")
        .map_err(|e| SetupError::Other(format!("signalling the sandbox's init: {e}")))?;
    let mut byte = [0u8; 1];
    if std::fs::File::from(go).read(&mut byte).unwrap_or(0) != 1 {
        return Err(SetupError::Other(
            "the sandbox's init did not map the command's user namespace".into(),
        ));
    }
    // A new, empty session keyring: the worker's keys stay out of reach.
    match sys::join_new_session_keyring() {
        Err(e) if e.raw_os_error() != Some(libc::ENOSYS) => {
            return Err(SetupError::Other(format!(
                "joining a new session keyring: {e}"
            )));
        }
        _ => {}
    }
    caps::limit_bounding_set().map_err(|e| SetupError::Other(e.to_string()))
}

/// Generation 4: isolates itself, drops to the RUN user with Docker's capabilities, enters
/// the working directory, installs the seccomp filter, execs.
fn exec_command(
    spec: &Spec,
    filters: &[seccompiler::BpfProgram],
    ready: OwnedFd,
    go: OwnedFd,
) -> ExecFailure {
    if let Err(e) = isolate(ready, go) {
        return ExecFailure::Setup(e);
    }
    if let Err(e) = sys::setgroups(&spec.groups) {
        return ExecFailure::Setup(SetupError::Other(format!(
            "setgroups {:?}: {e}",
            spec.groups
        )));
    }
    if let Err(e) = sys::setresgid(spec.gid) {
        return ExecFailure::Setup(SetupError::Other(format!(
            "setgid {}: {e} (is the gid mapped? a rootless worker needs a subordinate gid range)",
            spec.gid
        )));
    }
    if let Err(e) = sys::setresuid(spec.uid) {
        return ExecFailure::Setup(SetupError::Other(format!(
            "setuid {}: {e} (is the uid mapped? a rootless worker needs a subordinate uid range)",
            spec.uid
        )));
    }
    // Root keeps Docker's set as permitted and effective; any other user has none.
    let mask = if spec.uid == 0 {
        caps::default_mask()
    } else {
        0
    };
    if let Err(e) = caps::set(mask) {
        return ExecFailure::Setup(SetupError::Other(e.to_string()));
    }
    if let Err(e) = std::env::set_current_dir(&spec.cwd) {
        return ExecFailure::Setup(SetupError::Other(format!(
            "working directory {}: {e}",
            spec.cwd
        )));
    }
    let Some(first) = spec.argv.first() else {
        return ExecFailure::Exec("empty command".into());
    };
    let path_var = spec
        .env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(crate::base::DEFAULT_PATH);
    let program = match find_program(first, path_var) {
        Some(p) => p,
        None => {
            return ExecFailure::Exec(format!(
                "exec {first:?}: executable file not found in $PATH ({path_var})"
            ));
        }
    };
    let program_c = match CString::new(program.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(_) => return ExecFailure::Exec(format!("{first:?} contains a NUL byte")),
    };
    let argv: Result<Vec<CString>, ExecFailure> = spec.argv.iter().map(|a| cstring(a)).collect();
    // Named by its key only: the value may be a secret.
    let env: Result<Vec<CString>, ExecFailure> = spec
        .env
        .iter()
        .map(|a| {
            CString::new(a.as_str()).map_err(|_| {
                let key = a.split('=').next().unwrap_or_default();
                ExecFailure::Exec(format!("environment variable {key} contains a NUL byte"))
            })
        })
        .collect();
    let (argv, env) = match (argv, env) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    if let Err(e) = sys::set_no_new_privs() {
        return ExecFailure::Setup(SetupError::Other(format!("setting no_new_privs: {e}")));
    }
    // Last: from here on only what Docker's profile allows (execve included).
    if let Err(e) = seccomp::install(filters) {
        return ExecFailure::Setup(SetupError::Other(e.to_string()));
    }
    // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::execve(program_c.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    ExecFailure::Exec(format!("exec {first:?}: {}", errno()))
}

/// `name` when it contains a slash, else the first executable `dir/name` on `path`.
fn find_program(name: &str, path: &str) -> Option<std::path::PathBuf> {
    if name.contains('/') {
        return Some(name.into());
    }
    path.split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| {
            let Ok(c) = CString::new(candidate.as_os_str().as_bytes()) else {
                return false;
            };
            // SAFETY: c is a valid C string.
            let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
            ok && candidate.is_file()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_commands_path() {
        assert_eq!(find_program("/x/y", ""), Some("/x/y".into()));
        assert_eq!(find_program("./y", ""), Some("./y".into()));
        assert_eq!(
            find_program("sh", "/nonexistent:/bin"),
            Some("/bin/sh".into())
        );
        assert_eq!(find_program("no-such-program-here", "/bin:/usr/bin"), None);
    }

    #[test]
    fn identity_maps_cover_our_own_ranges() {
        let (uid, gid) = identity_maps().expect("maps");
        for text in [uid, gid] {
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(f.len(), 3, "{line}");
                assert_eq!(f[0], f[1], "{line}");
            }
        }
    }
}
