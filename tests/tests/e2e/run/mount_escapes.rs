// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `RUN --mount` escape attempts, the way an attacker would try them: a cache `source=`
//! through a symlink an earlier RUN planted in the shared cache (to `/` and to the magic
//! `/proc/1/root`), as root and as the rootless worker; bind sources whose names carry
//! overlayfs's separators (`:` `,` `\`) to smuggle a host directory into the discard
//! overlay; a setuid-root file left in a cache by one build and run by the next; and caches
//! read across destinations. Each attempt aims at a fresh host directory the test then checks
//! is untouched, or at a host file the build must not see.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use kaniko_tests::rootless::RootlessUser;
use kaniko_tests::tree::remove_dir_all_force;

use super::mounts::{build, context_with, stderr};
use super::shared;
use crate::dockerfiles::worker_build_within;

/// A fresh host directory holding one file, `victim`: no build may list, change, create next
/// to or remove it.
struct HostDir {
    dir: PathBuf,
}

const VICTIM: &str = "victim-b7c2e9";

impl HostDir {
    fn new() -> HostDir {
        let nonce: u64 = rand::random();
        let dir = std::env::temp_dir().join(format!("kaniko-mount-escape-{nonce:016x}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(VICTIM), "untouched\n").unwrap();
        HostDir { dir }
    }

    fn assert_untouched(&self, what: &str) {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [VICTIM],
            "{what}: the host directory {} changed",
            self.dir.display()
        );
        assert_eq!(
            std::fs::read_to_string(self.dir.join(VICTIM)).unwrap(),
            "untouched\n",
            "{what}: the host file was changed"
        );
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = remove_dir_all_force(&self.dir);
    }
}

/// The Dockerfile of the planted-symlink attack on the host directory `dir`: one RUN plants
/// links in the cache, later RUNs mount `source=` through them, list what they see into the
/// build log and try to write and create directories.
fn planted_links_dockerfile(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "FROM {{base}}\n\
         RUN --mount=type=cache,target=/c,id=planted ln -s / /c/host && \
         ln -s /proc/1/root /c/proc-root && ln -s ../../../../../.. /c/up\n\
         RUN --mount=type=cache,target=/m,id=planted,source=host{dir} \
         echo \"seen:$(ls -A /m | tr '\\n' ' ')\"; echo pwned > /m/new-root; true\n\
         RUN --mount=type=cache,target=/m,id=planted,source=proc-root{dir} \
         echo \"seen:$(ls -A /m | tr '\\n' ' ')\"; echo pwned > /m/new-proc; true\n\
         RUN --mount=type=cache,target=/m,id=planted,source=up{dir} \
         echo \"seen:$(ls -A /m | tr '\\n' ' ')\"; echo pwned > /m/new-up; true\n\
         RUN --mount=type=cache,target=/m,id=planted,source=host{dir}/made true\n"
    )
}

/// Whether the log line `line` is output of a command that starts with `prefix` (not the
/// instruction that printed it).
fn printed(line: &str, prefix: &str) -> bool {
    line.trim_start()
        .strip_prefix("INFO ")
        .is_some_and(|rest| rest.starts_with(prefix))
}

/// Fails unless `out` succeeded and none of its RUNs saw the victim.
fn assert_contained(out: &Output, what: &str) {
    let log = stderr(out);
    assert!(out.status.success(), "{what}: the build failed: {log}");
    let seen: Vec<&str> = log.lines().filter(|l| printed(l, "seen:")).collect();
    assert_eq!(seen.len(), 3, "{what}: three listings in the log: {log}");
    assert!(
        seen.iter().all(|l| !l.contains(VICTIM)),
        "{what}: a cache source showed the host directory: {seen:?}"
    );
}

#[test]
fn a_cache_source_never_follows_a_symlink_planted_in_the_cache() {
    let host = HostDir::new();
    let dir = context_with(&planted_links_dockerfile(&host.dir), &[]);
    let (out, _) = build(dir.path(), "cache-planted-links", &[]);
    assert_contained(&out, "root worker");
    host.assert_untouched("root worker");
}

#[test]
fn a_rootless_cache_source_never_follows_a_symlink_planted_in_the_cache() {
    let user = RootlessUser::lookup().unwrap();
    let host = HostDir::new();
    // The rootless user could write there: only containment keeps it out.
    user.chown_tree(&host.dir).unwrap();
    let scratch = user.scratch_dir().unwrap();
    let context = scratch.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        planted_links_dockerfile(&host.dir).replace("{base}", &shared().busybox),
    )
    .unwrap();
    user.chown_tree(scratch.path()).unwrap();
    let destination = format!("{}/mounts/cache-planted-rootless:1", shared().host);
    let args = [
        "--destination".to_string(),
        destination,
        "--run-cache-dir".to_string(),
        scratch.path().join("run-cache").display().to_string(),
    ];
    let out = worker_build_within(&context, &args, Duration::from_secs(120), Some(&user));
    assert_contained(&out, "rootless worker");
    host.assert_untouched("rootless worker");
}

#[test]
fn bind_sources_named_with_overlay_separators_stay_one_directory() {
    // `x:/etc` would be two lower directories (`<ctx>/x` and the host's `/etc`) and
    // `a,lowerdir=/etc` a second lowerdir option, were the names not escaped.
    // The flag's value goes through the word expansion of build args: `\\\"` reaches the
    // CSV reader as `"` (a quoted field keeps its comma) and `\\\\` as `\`.
    let dockerfile = r#"FROM {base}
RUN --mount=type=bind,source=x:/etc,target=/m,rw echo "colon:$(ls -A /m | tr '\n' ' ')"
RUN --mount=type=bind,\\\"source=a,lowerdir=/etc\\\",target=/m,rw echo "comma:$(ls -A /m | tr '\n' ' ')"
RUN --mount=type=bind,source=b\\\\:/etc,target=/m,rw echo "backslash:$(ls -A /m | tr '\n' ' ')"
"#;
    let dir = context_with(
        dockerfile,
        &[
            ("x/from-x", "x\n"),
            ("x:/etc/marker-colon", "m\n"),
            ("a,lowerdir=/etc/marker-comma", "m\n"),
            ("b\\:/etc/marker-backslash", "m\n"),
            ("b:/etc/wrong-directory", "m\n"),
        ],
    );
    let (out, _) = build(dir.path(), "bind-overlay-names", &[]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    let seen: Vec<String> = log
        .lines()
        .filter(|l| {
            ["colon:", "comma:", "backslash:"]
                .iter()
                .any(|p| printed(l, p))
        })
        .map(|l| l.trim().trim_start_matches("INFO ").trim_end().to_string())
        .collect();
    assert_eq!(
        seen,
        [
            "colon:marker-colon",
            "comma:marker-comma",
            "backslash:marker-backslash"
        ],
        "a bind source was not the one directory it names"
    );
}

/// A static executable that exits with its effective uid (modulo 256): `exit(geteuid())`.
fn euid_program() -> Vec<u8> {
    let (machine, code): (u16, &[u8]) = if cfg!(target_arch = "aarch64") {
        (
            0xb7,
            &[
                0xe8, 0x15, 0x80, 0xd2, // mov x8, #175 (geteuid)
                0x01, 0x00, 0x00, 0xd4, // svc #0
                0xa8, 0x0b, 0x80, 0xd2, // mov x8, #93 (exit)
                0x01, 0x00, 0x00, 0xd4, // svc #0
            ],
        )
    } else {
        (
            0x3e,
            &[
                0xb8, 0x6b, 0x00, 0x00, 0x00, // mov eax, 107 (geteuid)
                0x0f, 0x05, // syscall
                0x89, 0xc7, // mov edi, eax
                0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
                0x0f, 0x05, // syscall
            ],
        )
    };
    const BASE: u64 = 0x40_0000;
    let size = (64 + 56 + code.len()) as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&machine.to_le_bytes());
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + 64 + 56).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 0, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R + X
    for word in [0, BASE, BASE, size, size, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(code);
    elf
}

#[test]
fn a_setuid_file_left_in_a_cache_is_never_setuid_again() {
    let dir = context_with(
        "FROM {base}\n\
         RUN --mount=target=/ctx --mount=type=cache,target=/c,id=suid \
         cp /ctx/euid /c/euid && chown 0:0 /c/euid && chmod 4755 /c/euid && \
         ls -ln /c/euid && /c/euid; echo \"as root: $?\"\n",
        &[],
    );
    // The parent is searchable by everyone, like a home directory may be: only the cache's
    // own directories can keep other host users out.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let euid = dir.path().join("ctx/euid");
    std::fs::write(&euid, euid_program()).unwrap();
    std::fs::set_permissions(&euid, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (out, _) = build(dir.path(), "cache-suid", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("as root: 0"), "{}", stderr(&out));

    // The next build of the same repository shares the cache: as uid 1000 the file runs
    // with uid 1000, not as root.
    std::fs::write(
        dir.path().join("ctx/Dockerfile"),
        format!(
            "FROM {}\nUSER 1000:1000\n\
             RUN --mount=type=cache,target=/c,id=suid ls -ln /c/euid && /c/euid; \
             echo \"as 1000: $?\"\n",
            shared().busybox
        ),
    )
    .unwrap();
    let (out, _) = build(dir.path(), "cache-suid", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("-rwsr-xr-x"), "the file kept its mode: {log}");
    assert!(
        log.contains("as 1000: 232"),
        "the setuid bit took effect in the next build's sandbox: {log}"
    );

    // On the host, the cache is out of reach of every other user.
    let user = RootlessUser::lookup().unwrap();
    let cached: Vec<PathBuf> = walk_files(&dir.path().join("run-cache"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "euid"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let ran = std::process::Command::new(&cached[0])
        .uid(user.uid)
        .gid(user.gid)
        .status();
    assert!(
        ran.is_err(),
        "{} ran {} from the cache: {ran:?}",
        user.name,
        cached[0].display()
    );
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => out.extend(walk_files(&path)),
                Ok(_) => out.push(path),
                Err(_) => {}
            }
        }
    }
    out
}

#[test]
fn caches_are_per_destination_unless_the_worker_shares_them() {
    let write = "FROM {base}\nRUN --mount=type=cache,target=/c,id=keyed echo written > /c/mark\n";
    let read = "FROM {base}\nRUN --mount=type=cache,target=/c,id=keyed \
                echo \"listing:$(ls -A /c | tr '\\n' ' ')\"\n";
    let dir = context_with(write, &[]);
    let (out, _) = build(dir.path(), "keyed-writer", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dockerfile = dir.path().join("ctx/Dockerfile");
    std::fs::write(&dockerfile, read.replace("{base}", &shared().busybox)).unwrap();
    let listing = |name: &str, args: &[&str]| {
        let (out, _) = build(dir.path(), name, args);
        let log = stderr(&out);
        assert!(out.status.success(), "{name}: {log}");
        log.lines()
            .find(|l| printed(l, "listing:"))
            .unwrap_or_else(|| panic!("{name}: no listing in {log}"))
            .to_string()
    };
    let same = listing("keyed-writer", &[]);
    assert!(
        same.contains("mark"),
        "the same repository sees its cache: {same}"
    );
    let other = listing("keyed-other", &[]);
    assert!(
        !other.contains("mark"),
        "another repository saw the cache: {other}"
    );

    // Shared by the worker: another repository sees what the first wrote.
    std::fs::write(&dockerfile, write.replace("{base}", &shared().busybox)).unwrap();
    let (out, _) = build(dir.path(), "keyed-writer", &["--run-cache-scope", "worker"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&dockerfile, read.replace("{base}", &shared().busybox)).unwrap();
    let shared_other = listing("keyed-other", &["--run-cache-scope", "worker"]);
    assert!(
        shared_other.contains("mark"),
        "with --run-cache-scope=worker another repository shares the cache: {shared_other}"
    );
    let again = listing("keyed-third", &[]);
    assert!(!again.contains("mark"), "{again}");
}
