// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The seccomp filter of a RUN command: Docker's default profile, kept as data in
//! `seccomp.json` (its comment names the upstream version), selected for this machine (its
//! architecture, its kernel release and the command's capabilities, as Docker selects the
//! profile's `includes`/`excludes`) and compiled by `seccompiler` into BPF programs that the
//! command installs last, just before `execve`.
//!
//! seccompiler gives one action per filter, so the profile becomes one filter per action: the
//! allowlist (everything else fails with the profile's default errno, EPERM) first, then one
//! filter per other errno (clone3's ENOSYS). The kernel runs every filter and an errno wins
//! over an allow; of two errnos, the filter installed last wins. System call names that
//! seccompiler does not know for this architecture (newer than its table) are left out, so
//! they fail with EPERM, as with Docker on an older libseccomp.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The profile, as data.
const PROFILE: &str = include_str!("seccomp.json");

/// Why the filter could not be made or installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// `seccomp.json` is not a profile (a bug caught by the unit tests).
    #[error("the seccomp profile is invalid: {0}")]
    Profile(String),
    /// seccompiler has no filter for this architecture.
    #[error("no seccomp filter for the {0} architecture: RUN needs x86_64 or aarch64")]
    Arch(String),
    /// seccompiler refused the translated profile.
    #[error("compiling the seccomp filter: {0}")]
    Compile(String),
    /// The kernel refused the filter.
    #[error("installing the seccomp filter: {0}")]
    Install(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    /// Where the profile comes from (read by people, not by the code).
    #[serde(rename = "comment")]
    _comment: Vec<String>,
    default_errno: u32,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default, rename = "comment")]
    _comment: Option<String>,
    action: Action,
    names: Vec<String>,
    #[serde(default)]
    args: Vec<Arg>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<(u32, u32)>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    unless_caps: Vec<String>,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Allow,
    Errno(u32),
}

/// One argument comparison.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Arg {
    index: u8,
    op: Op,
    value: u64,
    #[serde(default)]
    mask: Option<u64>,
    /// 32: the low 32 bits of the register (an `int` argument: the kernel ignores the rest);
    /// 64: all of it.
    width: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    MaskedEq,
}

/// What the profile's conditions are evaluated against.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// `std::env::consts::ARCH` spelling: `x86_64`, `aarch64`.
    pub arch: &'a str,
    /// The kernel's `(major, minor)`.
    pub kernel: (u32, u32),
    /// The command's bounding set, by name (`CAP_CHOWN`).
    pub caps: &'a [&'a str],
}

/// Per action, each system call and its alternatives (an empty alternative: unconditional).
type Selection = BTreeMap<Action, BTreeMap<String, Vec<Vec<Arg>>>>;

fn profile() -> Result<Profile, SeccompError> {
    serde_json::from_str(PROFILE).map_err(|e| SeccompError::Profile(e.to_string()))
}

/// The rules that apply to `target`, merged per action and system call.
fn select(profile: &Profile, target: &Target<'_>) -> Selection {
    let has = |caps: &[String]| caps.iter().any(|c| target.caps.contains(&c.as_str()));
    let mut out = Selection::new();
    for rule in &profile.rules {
        let applies = (rule.arches.is_empty() || rule.arches.iter().any(|a| a == target.arch))
            && rule.min_kernel.is_none_or(|min| target.kernel >= min)
            && (rule.caps.is_empty() || has(&rule.caps))
            && !has(&rule.unless_caps);
        if !applies {
            continue;
        }
        let calls = out.entry(rule.action).or_default();
        for name in &rule.names {
            let alternatives = calls.entry(name.clone()).or_default();
            if alternatives.iter().any(|a| a.is_empty()) {
                continue;
            }
            if rule.args.is_empty() {
                // Unconditional: the conditional alternatives add nothing.
                alternatives.clear();
            }
            alternatives.push(rule.args.clone());
        }
    }
    out
}

fn action_json(action: Action) -> serde_json::Value {
    match action {
        Action::Allow => serde_json::json!("allow"),
        Action::Errno(errno) => serde_json::json!({ "errno": errno }),
    }
}

fn arg_json(arg: &Arg) -> Result<serde_json::Value, SeccompError> {
    let op = match arg.op {
        Op::Eq => serde_json::json!("eq"),
        Op::Ne => serde_json::json!("ne"),
        Op::Lt => serde_json::json!("lt"),
        Op::Le => serde_json::json!("le"),
        Op::Gt => serde_json::json!("gt"),
        Op::Ge => serde_json::json!("ge"),
        Op::MaskedEq => {
            let mask = arg.mask.ok_or_else(|| {
                SeccompError::Profile(format!("argument {}: masked_eq without a mask", arg.index))
            })?;
            serde_json::json!({ "masked_eq": mask })
        }
    };
    let kind = match arg.width {
        32 => "dword",
        64 => "qword",
        other => {
            return Err(SeccompError::Profile(format!(
                "argument {}: width {other} (expected 32 or 64)",
                arg.index
            )));
        }
    };
    Ok(serde_json::json!({ "index": arg.index, "type": kind, "op": op, "val": arg.value }))
}

fn arch_of(arch: &str) -> Result<seccompiler::TargetArch, SeccompError> {
    arch.try_into()
        .map_err(|_| SeccompError::Arch(arch.to_string()))
}

/// Whether seccompiler knows the system call `name` on `arch`.
fn known(name: &str, arch: seccompiler::TargetArch) -> bool {
    let probe = serde_json::json!({ "probe": {
        "mismatch_action": "allow",
        "match_action": { "errno": 1 },
        "filter": [{ "syscall": name }],
    }});
    seccompiler::compile_from_json(probe.to_string().as_bytes(), arch).is_ok()
}

/// The compiled filters for `target`, in the order to install them, and the names left out
/// because seccompiler does not know them there.
fn compile(
    profile: &Profile,
    target: &Target<'_>,
) -> Result<(Vec<seccompiler::BpfProgram>, Vec<String>), SeccompError> {
    let arch = arch_of(target.arch)?;
    let mut unknown = Vec::new();
    let mut programs = Vec::new();
    for (action, calls) in select(profile, target) {
        let mut filter = Vec::new();
        for (name, alternatives) in calls {
            if !known(&name, arch) {
                if !unknown.contains(&name) {
                    unknown.push(name);
                }
                continue;
            }
            if alternatives.iter().all(|a| a.is_empty()) {
                filter.push(serde_json::json!({ "syscall": name }));
                continue;
            }
            for args in alternatives {
                let args: Vec<serde_json::Value> =
                    args.iter().map(arg_json).collect::<Result<_, _>>()?;
                filter.push(serde_json::json!({ "syscall": name, "args": args }));
            }
        }
        let (mismatch, matched) = match action {
            // The allowlist: everything it does not list fails.
            Action::Allow => (Action::Errno(profile.default_errno), action),
            // An errno filter: only what it lists fails, with its errno.
            Action::Errno(_) => (Action::Allow, action),
        };
        let json = serde_json::json!({ "filter": {
            "mismatch_action": action_json(mismatch),
            "match_action": action_json(matched),
            "filter": filter,
        }});
        let mut map = seccompiler::compile_from_json(json.to_string().as_bytes(), arch)
            .map_err(|e| SeccompError::Compile(e.to_string()))?;
        let program = map
            .remove("filter")
            .ok_or_else(|| SeccompError::Compile("seccompiler returned no filter".into()))?;
        programs.push(program);
    }
    unknown.sort();
    Ok((programs, unknown))
}

/// The running kernel's `(major, minor)`; `(0, 0)` when `uname` says something else.
pub fn kernel_release() -> (u32, u32) {
    // SAFETY: uname fills a zeroed struct we own.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: name is a valid utsname.
    if unsafe { libc::uname(&mut name) } != 0 {
        return (0, 0);
    }
    let release: String = name
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8 as char)
        .collect();
    parse_release(&release)
}

fn parse_release(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// The filters of a RUN command on this machine whose bounding set is `caps`, in the order
/// to install them.
pub fn filters(caps: &[&str]) -> Result<Vec<seccompiler::BpfProgram>, SeccompError> {
    let target = Target {
        arch: std::env::consts::ARCH,
        kernel: kernel_release(),
        caps,
    };
    compile(&profile()?, &target).map(|(programs, _)| programs)
}

/// Installs `programs` on the calling thread (setting `no_new_privs`, which an unprivileged
/// process needs to install a filter). Only async-signal-safe work: this runs in a forked
/// child just before `execve`.
pub fn install(programs: &[seccompiler::BpfProgram]) -> Result<(), SeccompError> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(|e| SeccompError::Install(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_CAPS: [&str; 14] = crate::sandbox::caps::DEFAULT_NAMES;

    fn target(arch: &str) -> Target<'_> {
        Target {
            arch,
            kernel: (6, 1),
            caps: &DOCKER_CAPS,
        }
    }

    #[test]
    fn the_profile_parses_and_every_name_is_a_system_call_of_x86_64_or_aarch64() {
        let profile = profile().unwrap();
        let mut unknown_everywhere: Vec<String> = Vec::new();
        for rule in &profile.rules {
            for name in &rule.names {
                let anywhere = ["x86_64", "aarch64"]
                    .iter()
                    .any(|arch| known(name, arch_of(arch).unwrap()));
                if !anywhere && !unknown_everywhere.contains(name) {
                    unknown_everywhere.push(name.clone());
                }
            }
        }
        unknown_everywhere.sort();
        // Linux 6.13's, newer than seccompiler 0.5's table (6.12): refused until it knows
        // them. Anything else here is a typo in seccomp.json.
        assert_eq!(
            unknown_everywhere,
            ["getxattrat", "listxattrat", "removexattrat", "setxattrat"]
        );
    }

    #[test]
    fn the_selection_follows_capabilities_architecture_and_kernel() {
        let profile = profile().unwrap();
        let docker = select(&profile, &target("x86_64"));
        let allowed = &docker[&Action::Allow];
        for name in ["read", "execve", "chroot", "arch_prctl", "ptrace", "setuid"] {
            assert_eq!(allowed.get(name), Some(&vec![vec![]]), "{name}");
        }
        for name in [
            "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf",
        ] {
            assert!(!allowed.contains_key(name), "{name} is allowed");
        }
        // clone only without namespace flags; socket with three ranges of families.
        assert_eq!(allowed["clone"].len(), 1);
        assert_eq!(allowed["clone"][0][0].op, Op::MaskedEq);
        assert_eq!(allowed["socket"].len(), 3);
        assert_eq!(allowed["personality"].len(), 5);
        assert!(docker[&Action::Errno(38)].contains_key("clone3"));

        let arm = select(&profile, &target("aarch64"));
        assert!(!arm[&Action::Allow].contains_key("arch_prctl"));

        let old = Target {
            kernel: (4, 4),
            ..target("x86_64")
        };
        assert!(!select(&profile, &old)[&Action::Allow].contains_key("ptrace"));

        let admin = [&DOCKER_CAPS[..], &["CAP_SYS_ADMIN"]].concat();
        let admin = Target {
            caps: &admin,
            ..target("x86_64")
        };
        let with_admin = select(&profile, &admin);
        assert_eq!(with_admin[&Action::Allow]["clone"], vec![vec![]]);
        assert!(with_admin[&Action::Allow].contains_key("mount"));
        assert!(!with_admin.contains_key(&Action::Errno(38)));
    }

    #[test]
    fn both_architectures_compile() {
        let profile = profile().unwrap();
        for arch in ["x86_64", "aarch64"] {
            let (programs, unknown) = compile(&profile, &target(arch)).unwrap();
            assert_eq!(programs.len(), 2, "{arch}");
            assert!(
                programs.iter().all(|p| !p.is_empty() && p.len() < 4096),
                "{arch}"
            );
            assert!(
                !unknown.contains(&"read".to_string()),
                "{arch}: {unknown:?}"
            );
        }
        assert!(matches!(
            compile(&profile, &target("mips")),
            Err(SeccompError::Arch(_))
        ));
    }

    #[test]
    fn kernel_releases_parse() {
        assert_eq!(parse_release("6.18.44-fc-v1272"), (6, 18));
        assert_eq!(parse_release("4.8.0"), (4, 8));
        assert_eq!(parse_release("5.10"), (5, 10));
        assert_eq!(parse_release("garbage"), (0, 0));
        assert!(kernel_release() >= (3, 0));
    }

    /// Runs `probe` in a forked child with the filters installed; returns its exit code.
    fn in_filtered_child(probe: fn() -> i32) -> i32 {
        let programs = filters(&DOCKER_CAPS).unwrap();
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = match install(&programs) {
                Ok(()) => probe(),
                Err(_) => 99,
            };
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "the probe died: {status:#x}");
        libc::WEXITSTATUS(status)
    }

    fn errno_of(result: libc::c_long) -> i32 {
        if result >= 0 {
            return 0;
        }
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    }

    #[test]
    fn an_installed_filter_refuses_what_docker_refuses_and_allows_the_rest() {
        fn check(expected: i32, errno: i32, what: i32) -> Option<i32> {
            (errno != expected).then_some(what)
        }
        fn probe() -> i32 {
            // SAFETY: system calls with valid or null arguments; results only inspected.
            let results = unsafe {
                [
                    check(0, errno_of(libc::syscall(libc::SYS_getpid)), 1),
                    check(
                        libc::EPERM,
                        errno_of(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)),
                        2,
                    ),
                    check(
                        libc::EPERM,
                        errno_of(libc::syscall(
                            libc::SYS_umount2,
                            c"/proc".as_ptr(),
                            libc::MNT_DETACH,
                        )),
                        3,
                    ),
                    check(
                        libc::ENOSYS,
                        errno_of(libc::syscall(libc::SYS_clone3, 0, 0)),
                        4,
                    ),
                    check(
                        libc::EPERM,
                        errno_of(libc::syscall(libc::SYS_keyctl, 0, 0, 0)),
                        5,
                    ),
                    check(
                        libc::EPERM,
                        errno_of(libc::syscall(libc::SYS_socket, libc::AF_VSOCK, 1, 0)),
                        6,
                    ),
                    check(
                        libc::EPERM,
                        errno_of(libc::syscall(
                            libc::SYS_clone,
                            libc::CLONE_NEWNS | libc::SIGCHLD,
                            0,
                            0,
                            0,
                            0,
                        )),
                        7,
                    ),
                    check(
                        0,
                        errno_of(libc::syscall(libc::SYS_personality, 0xffff_ffffu64)),
                        8,
                    ),
                    check(
                        libc::EPERM,
                        errno_of(libc::syscall(libc::SYS_personality, 0x0040_0000u64)),
                        9,
                    ),
                    check(
                        0,
                        errno_of(libc::syscall(
                            libc::SYS_prctl,
                            libc::PR_GET_NO_NEW_PRIVS,
                            0,
                            0,
                            0,
                            0,
                        )),
                        10,
                    ),
                ]
            };
            let socket =
                // SAFETY: a plain socket we close again.
                unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
            if socket < 0 {
                return 11;
            }
            // SAFETY: closing our own socket.
            unsafe { libc::close(socket) };
            results.iter().flatten().next().copied().unwrap_or(0)
        }
        assert_eq!(in_filtered_child(probe), 0, "see the numbered checks");
    }
}
