// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Escape attempts the worker must contain: RUN writing outside the root (through `..`,
//! /proc/1/root, a symlink to a host path), mounting, looking at host processes and the host's
//! /proc; the walk snapshot's clean-up after a command replaced a mount point's parent with a
//! symlink to the host; base images whose layers carry `../` entries, absolute paths,
//! hardlinks to host files and symlinks written through in the same and the next layer; and
//! the deferred hard link of issue 10 (`Hardlink p/victim -> payload`, `Symlink p -> <host
//! dir>`, `File payload`) through every caller of the unpacker: a base layer under RUN,
//! `COPY --from`, `RUN --mount from=`, an ADD archive (root and rootless) and a `tar://`
//! context; and a `tar://` context whose `--context-sub-path` is a symlink to the host. Each
//! attempt aims at a fresh host directory the test then checks is untouched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kaniko_common::oci::{Compression, Descriptor, OciMode};
use kaniko_common::platform::Platform;
use kaniko_tests::debian::{image_config, push_image};
use kaniko_tests::fixture::{BUSYBOX_PATH, busybox_layer};
use kaniko_tests::rootless::RootlessUser;
use kaniko_tests::tree::remove_dir_all_force;
use oci_spec::image::ConfigBuilder;

use super::shared;
use crate::dockerfiles::{Built, worker_build_within};

/// A host directory holding one file, `victim`, that no build may change, create next to or
/// remove (and decoys: empty files and directories named like what a build creates and
/// removes again).
pub(crate) struct Target {
    pub(crate) dir: PathBuf,
    names: Vec<String>,
}

const VICTIM_CONTENT: &str = "untouched\n";

impl Target {
    pub(crate) fn new() -> Target {
        Target::with_decoys(&[], &[])
    }

    /// A target with empty `files` and empty `dirs` next to `victim`.
    pub(crate) fn with_decoys(files: &[&str], dirs: &[&str]) -> Target {
        let nonce: u64 = rand::random();
        let dir = std::env::temp_dir().join(format!("kaniko-escape-{nonce:016x}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("victim"), VICTIM_CONTENT).unwrap();
        for file in files {
            std::fs::write(dir.join(file), "").unwrap();
        }
        for sub in dirs {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        let mut names: Vec<String> = files.iter().chain(dirs).map(|n| n.to_string()).collect();
        names.push("victim".to_string());
        names.sort();
        Target { dir, names }
    }

    /// Fails when anything in the directory changed.
    pub(crate) fn assert_untouched(&self, what: &str) {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            self.names,
            "{what}: files appeared in or vanished from the host directory {}",
            self.dir.display()
        );
        assert_eq!(
            std::fs::read_to_string(self.dir.join("victim")).unwrap(),
            VICTIM_CONTENT,
            "{what}: the host file {}/victim was changed",
            self.dir.display()
        );
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = remove_dir_all_force(&self.dir);
    }
}

/// Builds `dockerfile` with the worker into `escapes/<name>`; the build must succeed.
fn build(name: &str, dockerfile: &str) -> Built {
    build_with(name, dockerfile, &[])
}

/// [`build`] with more `worker build` flags.
fn build_with(name: &str, dockerfile: &str, flags: &[&str]) -> Built {
    let (out, reference) = attempt(name, dockerfile, flags);
    assert!(
        out.status.success(),
        "{name}: worker build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Built::read(reference)
}

/// Builds `dockerfile` with the worker (and more `worker build` flags) into
/// `escapes/<name>`, whatever the outcome: the worker's output and the destination.
fn attempt(name: &str, dockerfile: &str, flags: &[&str]) -> (Output, String) {
    let shared = shared();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let reference = format!("{}/escapes/{name}:1", shared.host);
    let mut args = vec!["--destination".to_string(), reference.clone()];
    args.extend(flags.iter().map(|f| f.to_string()));
    let out = worker_build_within(context.path(), &args, Duration::from_secs(120), None);
    (out, reference)
}

#[test]
fn run_cannot_write_outside_the_root() {
    let target = Target::new();
    let dir = target.dir.display();
    let dockerfile = format!(
        "FROM {base}\n\
         RUN echo pwned > /../../../../..{dir}/victim; echo pwned > /../../../../..{dir}/new-dotdot; \
         echo pwned > /proc/1/root{dir}/victim; echo pwned > /proc/1/root{dir}/new-proc; \
         ln -s {dir} /escape-link; echo pwned > /escape-link/victim; \
         echo pwned > /escape-link/new-link; rm -rf /proc/1/root{dir}; true\n",
        base = shared().busybox
    );
    build("write", &dockerfile);
    target.assert_untouched("RUN writing outside its root");
}

#[test]
fn walk_clean_up_removes_no_host_file_through_a_parent_the_command_replaced() {
    // The sandbox creates /etc/hosts, /etc/resolv.conf, /etc/hostname (busybox has none)
    // and the tmpfs target /m/x as mount points, and removes them after the command. The
    // command moves /etc and /m away and puts symlinks to a host directory in their place,
    // where empty files and an empty directory of those names wait.
    let target = Target::with_decoys(&["hosts", "resolv.conf", "hostname"], &["x"]);
    let dir = target.dir.display();
    let dockerfile = format!(
        "FROM {base}\n\
         RUN --mount=type=tmpfs,target=/m/x mv /etc /etc.moved && ln -s {dir} /etc && \
         mv /m /m.moved && ln -s {dir} /m\n",
        base = shared().busybox
    );
    let img = build_with("walk-clean-up", &dockerfile, &["--snapshotter=walk"]);
    target.assert_untouched("removing the walk snapshot's mount points");
    assert_eq!(
        img.file("/etc").target.as_deref(),
        Some(target.dir.as_path()),
        "the command's symlink is in the image"
    );
}

#[test]
fn mounts_made_by_run_stay_inside_the_sandbox() {
    let nonce: u64 = rand::random();
    let tag = format!("kaniko-mnt-{nonce:016x}");
    let dockerfile = format!(
        "FROM {base}\n\
         RUN mkdir -p /{tag} /{tag}-bind && \
         (mount -t tmpfs {tag} /{tag} && echo inside > /{tag}/file || echo mount refused) && \
         (mount --bind /etc /{tag}-bind || echo bind refused) && \
         (mount -t proc proc /{tag}-bind || echo proc refused); true\n",
        base = shared().busybox
    );
    let img = build("mount", &dockerfile);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&tag),
        "a mount made by RUN is visible on the host:\n{}",
        mounts
            .lines()
            .filter(|l| l.contains(&tag))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // What was written onto the tmpfs is not part of the image (it lived on the mount).
    img.absent(&format!("/{tag}/file"));
    // The bind mount did not carry /etc into the layer either.
    img.absent(&format!("/{tag}-bind/passwd"));
}

/// A host process killed and reaped on drop.
struct Marker(std::process::Child);

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn run_sees_neither_host_processes_nor_the_host_proc() {
    let nonce: u32 = rand::random::<u32>() % 900_000 + 100_000;
    // A host process with an argv no other process has, killed however the test ends.
    let marker = Marker(
        Command::new("sleep")
            .arg(format!("{nonce}"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let marker_pid = marker.0.id();
    let test_pid = std::process::id();
    // Each count is written to a file the test reads back by content.
    let dockerfile = format!(
        "FROM {base}\n\
         RUN for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; done > /argv.txt; \
         grep -c '^sleep {nonce} $' /argv.txt > /marker-seen; \
         ls /proc | grep -cx -e {marker_pid} -e {test_pid} > /host-pids-seen; \
         ls -d /proc/[0-9]* | wc -l | tr -d ' ' > /process-count; \
         cat /proc/1/cmdline > /pid1; cat /proc/self/mountinfo > /mountinfo; true\n",
        base = shared().busybox
    );
    let img = build("proc", &dockerfile);
    drop(marker);
    img.content_is("/marker-seen", "0\n");
    img.content_is("/host-pids-seen", "0\n");
    let count = img.file("/process-count");
    assert!(
        count.size <= 3,
        "RUN sees 100 or more processes (the host's): {count:?}"
    );
    let host_init = std::fs::read("/proc/1/cmdline").unwrap_or_default();
    assert_ne!(
        img.file("/pid1").sha256.as_deref(),
        Some(&*crate::dockerfiles::sha256_hex(&host_init)),
        "RUN's pid 1 is the host's init"
    );
    let host_mounts = std::fs::read("/proc/self/mountinfo").unwrap_or_default();
    assert_ne!(
        img.file("/mountinfo").sha256.as_deref(),
        Some(&*crate::dockerfiles::sha256_hex(&host_mounts)),
        "RUN sees the host's mount table"
    );
}

/// One raw tar entry: the name is written as given (`..` and `/` included).
#[derive(Clone, Copy)]
enum Raw<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A tar of `entries`, written byte by byte (the tar crate and the layer writer both refuse
/// such names).
fn raw_tar(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let (name, kind, link, content, mode) = match entry {
            Raw::File(name, content) => (*name, tar::EntryType::Regular, "", *content, 0o644),
            Raw::Dir(name) => (*name, tar::EntryType::Directory, "", "", 0o755),
            Raw::Symlink(name, link) => (*name, tar::EntryType::Symlink, *link, "", 0o777),
            Raw::Hardlink(name, link) => (*name, tar::EntryType::Link, *link, "", 0o644),
        };
        let mut header = tar::Header::new_ustar();
        {
            let raw = header.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(content.len() as u64);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(content.as_bytes());
        let padding = (512 - content.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, padding));
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

/// Compresses `tar` with `compression` (the gzip or zstd command) into `dir/<n>.tar.*`;
/// returns the file, its descriptor and diff_id.
fn compressed_layer(
    dir: &Path,
    n: usize,
    tar: &[u8],
    compression: Compression,
) -> (PathBuf, Descriptor, String) {
    let (program, args, ext): (&str, &[&str], &str) = match compression {
        Compression::Zstd => ("zstd", &["-q", "-c"], "zst"),
        _ => ("gzip", &["-n", "-c"], "gz"),
    };
    let compressed = pipe_through(program, args, tar);
    let path = dir.join(format!("{n}.tar.{ext}"));
    std::fs::write(&path, &compressed).unwrap();
    let hex = |bytes: &[u8]| format!("sha256:{}", crate::dockerfiles::sha256_hex(bytes));
    let descriptor = Descriptor::new(
        OciMode::Oci.layer_media_type(compression),
        hex(&compressed),
        compressed.len() as u64,
    );
    (path, descriptor, hex(tar))
}

/// What `program args` writes to stdout for `input` on stdin.
pub(crate) fn pipe_through(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{program} {args:?} failed");
    out.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn base_layers_cannot_write_outside_the_root_when_unpacked() {
    let shared = shared();
    let target = Target::new();
    let dir = target.dir.to_string_lossy().into_owned();
    let dir = dir.trim_start_matches('/');
    let up = "../../../../../../../../../..";
    let dotdot_file = format!("{up}/{dir}/dotdot");
    let dotdot_victim = format!("{up}/{dir}/victim");
    let absolute = format!("/{dir}/absolute");
    let absolute_victim = format!("/{dir}/victim");
    let host_dir = format!("/{dir}");
    let relative_dir = format!("{up}/{dir}");
    let host_victim = format!("/{dir}/victim");
    let first = raw_tar(&[
        Raw::File(&dotdot_file, "pwned\n"),
        Raw::File(&dotdot_victim, "pwned\n"),
        Raw::File(&absolute, "pwned\n"),
        Raw::File(&absolute_victim, "pwned\n"),
        Raw::Symlink("evil", &host_dir),
        Raw::File("evil/same-layer", "pwned\n"),
        Raw::File("evil/victim", "pwned\n"),
        Raw::Hardlink("hardlink-out", &host_victim),
        Raw::Hardlink("hardlink-up", &dotdot_victim),
    ]);
    let second = raw_tar(&[
        Raw::File("evil/next-layer", "pwned\n"),
        Raw::Symlink("evil-relative", &relative_dir),
        Raw::File("evil-relative/relative", "pwned\n"),
        Raw::Dir("evil/dir-through-link"),
        Raw::File("evil-relative/victim", "pwned\n"),
    ]);
    let crafted = push_crafted("escapes/crafted", &[first, second]).await;
    // RUN forces an unpack of the crafted base and writes through the planted links; COPY
    // --from extracts the crafted image's whole tree into another stage.
    let dockerfiles = [
        (
            "crafted-run",
            format!(
                "FROM {}\nRUN echo pwned > /hardlink-out; echo pwned > /evil/run; \
                 ls -la / > /listing; true\n",
                crafted
            ),
        ),
        (
            "crafted-copy",
            format!(
                "FROM {}\nCOPY --from={} / /copied/\n",
                shared.busybox, crafted
            ),
        ),
    ];
    for (name, dockerfile) in dockerfiles {
        let out = tokio::task::spawn_blocking(move || attempt(name, &dockerfile, &[]).0)
            .await
            .unwrap();
        // Refusing the layer or containing it are both fine; writing on the host is not.
        target.assert_untouched(name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// Pushes an image of the busybox layer and `tars` (gzipped, in order) to the shared
/// registry as `<repository>:1`; returns its reference.
pub(crate) async fn push_crafted(repository: &str, tars: &[Vec<u8>]) -> String {
    let layers: Vec<(&[u8], Compression)> =
        tars.iter().map(|t| (&t[..], Compression::Gzip)).collect();
    push_crafted_with(repository, &layers).await
}

/// [`push_crafted`] with each layer's compression.
pub(crate) async fn push_crafted_with(repository: &str, tars: &[(&[u8], Compression)]) -> String {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let (busybox_path, busybox_info, _) = busybox_layer(tmp.path(), Compression::Gzip).unwrap();
    let mut layers = vec![(busybox_path.to_path_buf(), busybox_info.descriptor())];
    let mut diff_ids = vec![busybox_info.diff_id.clone()];
    for (n, (tar, compression)) in tars.iter().enumerate() {
        let (path, descriptor, diff_id) = compressed_layer(tmp.path(), n, tar, *compression);
        layers.push((path, descriptor));
        diff_ids.push(diff_id);
    }
    let config = ConfigBuilder::default()
        .env(vec![format!("PATH={BUSYBOX_PATH}")])
        .cmd(vec!["sh".to_string()])
        .build()
        .unwrap();
    let config = image_config(&Platform::host(), config, &diff_ids, "crafted layer").unwrap();
    let client = kaniko_registry::RegistryClient::new(kaniko_registry::RegistryOptions::insecure(
        shared.host.clone(),
    ))
    .unwrap();
    push_image(&client, &shared.host, repository, "1", &layers, &config)
        .await
        .unwrap()
        .reference
}

/// The hostile order of the issue: a hard link that waits for its target (listed later)
/// while a later entry turns its parent `p` into a symlink to the host directory `host`.
fn deferred_link_tar(host: &Path, extra: &[Raw<'_>]) -> Vec<u8> {
    let host = host.to_str().unwrap();
    let mut entries = vec![
        Raw::Hardlink("p/victim", "payload"),
        Raw::Symlink("p", host),
        Raw::File("payload", "pwned\n"),
    ];
    entries.extend_from_slice(extra);
    raw_tar(&entries)
}

/// The build failed, naming the deferred link and why, with no panic; the host directory is
/// as it was.
fn refused_deferred_link(name: &str, out: &std::process::Output, target: &Target) {
    target.assert_untouched(name);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{name}: the build succeeded:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    assert!(
        stderr.contains("p/victim") && stderr.contains("replaced later in the tar"),
        "{name}: the error does not name the entry and the reason:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deferred_hard_link_cannot_follow_a_later_symlink_out_of_a_base_layer() {
    let shared = shared();
    let target = Target::new();
    let crafted = push_crafted(
        "escapes/deferred-link",
        &[deferred_link_tar(&target.dir, &[])],
    )
    .await;
    // A RUN unpacks the base; COPY --from and RUN --mount from= unpack the image elsewhere.
    let dockerfiles = [
        ("deferred-run", format!("FROM {crafted}\nRUN true\n")),
        (
            "deferred-copy-from",
            format!(
                "FROM {}\nCOPY --from={crafted} /payload /copied\n",
                shared.busybox
            ),
        ),
        (
            "deferred-mount-from",
            format!(
                "FROM {}\nRUN --mount=from={crafted},target=/m cat /m/payload\n",
                shared.busybox
            ),
        ),
    ];
    for (name, dockerfile) in dockerfiles {
        let out = tokio::task::spawn_blocking(move || attempt(name, &dockerfile, &[]).0)
            .await
            .unwrap();
        refused_deferred_link(name, &out, &target);
    }
}

/// `ADD evil.tar /x/` into scratch, from a context in `context` (built as `user` when
/// given).
fn add_local_archive(context: &Path, target: &Target, user: Option<&RootlessUser>) -> Output {
    std::fs::create_dir_all(context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nADD evil.tar /x/\n",
    )
    .unwrap();
    std::fs::write(
        context.join("evil.tar"),
        deferred_link_tar(&target.dir, &[]),
    )
    .unwrap();
    if let Some(user) = user {
        user.chown_tree(context).unwrap();
    }
    worker_build_within(
        context,
        &["--no-push".to_string()],
        Duration::from_secs(60),
        user,
    )
}

#[test]
fn a_deferred_hard_link_cannot_follow_a_later_symlink_out_of_an_add_archive() {
    let target = Target::new();
    let scratch = tempfile::tempdir().unwrap();
    let out = add_local_archive(&scratch.path().join("ctx"), &target, None);
    refused_deferred_link("add-archive", &out, &target);
}

#[test]
fn a_deferred_hard_link_cannot_follow_a_later_symlink_out_of_an_add_archive_rootless() {
    // The rootless worker owns the host directory: the kernel would let it write there.
    let user = RootlessUser::lookup().unwrap();
    let target = Target::new();
    user.chown_tree(&target.dir).unwrap();
    let scratch = user.scratch_dir().unwrap();
    let out = add_local_archive(&scratch.path().join("ctx"), &target, Some(&user));
    refused_deferred_link("add-archive-rootless", &out, &target);
}

#[test]
fn a_deferred_hard_link_cannot_follow_a_later_symlink_out_of_a_tar_context() {
    let target = Target::new();
    let scratch = tempfile::tempdir().unwrap();
    let tarball = scratch.path().join("context.tar");
    std::fs::write(
        &tarball,
        deferred_link_tar(
            &target.dir,
            &[Raw::File("Dockerfile", "FROM scratch\nCOPY payload /\n")],
        ),
    )
    .unwrap();
    let context = PathBuf::from(format!("tar://{}", tarball.display()));
    let out = worker_build_within(
        &context,
        &["--no-push".to_string()],
        Duration::from_secs(60),
        None,
    );
    refused_deferred_link("tar-context", &out, &target);
}

#[test]
fn a_tar_context_cannot_make_its_sub_path_a_host_directory() {
    // The context holds `app`, a symlink to the host directory; --context-sub-path app must
    // not make that directory the build context (COPY would read the host's files).
    let target = Target::new();
    let scratch = tempfile::tempdir().unwrap();
    let tarball = scratch.path().join("context.tar");
    std::fs::write(
        &tarball,
        raw_tar(&[Raw::Symlink("app", target.dir.to_str().unwrap())]),
    )
    .unwrap();
    let dockerfile = scratch.path().join("Dockerfile");
    std::fs::write(&dockerfile, "FROM scratch\nCOPY victim /stolen\n").unwrap();
    let layout = scratch.path().join("layout");
    let context = PathBuf::from(format!("tar://{}", tarball.display()));
    let out = worker_build_within(
        &context,
        &[
            "--no-push".to_string(),
            "--context-sub-path=app".to_string(),
            format!("--dockerfile={}", dockerfile.display()),
            format!("--oci-layout-path={}", layout.display()),
        ],
        Duration::from_secs(60),
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the build read the host directory through the context's symlink:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("--context-sub-path app"),
        "the error does not name the flag:\n{stderr}"
    );
    target.assert_untouched("context sub path");
}
