// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! What a RUN command cannot undo or reach, tried the way an attacker would: unmounting and
//! remounting the read-only parts of `/proc` and a read-only `RUN --mount` bind, writing
//! `/proc/sys/kernel/core_pattern` and host cgroups, reading the worker's session keyring,
//! injecting input into the worker's terminal (TIOCSTI), opening device nodes a base layer
//! carries, and widening the worker's `--network none`. Each build must still finish (or, for
//! the network, fail naming the flag) with the host untouched. The commands print
//! `kaniko-probe: <what>: <outcome>` lines, which the build log carries back.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kaniko_common::oci::{Compression, OciMode};
use kaniko_common::platform::Platform;
use kaniko_image::layer::{EntryKind, LayerEntry, LayerOptions, LayerWriter};
use kaniko_tests::debian::{image_config, push_image};
use kaniko_tests::fixture::{BUSYBOX_PATH, busybox_layer};
use kaniko_tests::rootless::RootlessUser;
use oci_spec::image::ConfigBuilder;

use super::shared;
use crate::dockerfiles::{Built, worker_binary, worker_build_within};

const TIMEOUT: Duration = Duration::from_secs(180);

/// A context directory (in a scratch directory the rootless user owns, when there is one).
struct Context {
    scratch: tempfile::TempDir,
    dir: PathBuf,
}

impl Context {
    fn new(dockerfile: &str, files: &[(&str, &str)], user: Option<&RootlessUser>) -> Context {
        let scratch = match user {
            Some(user) => user.scratch_dir().unwrap(),
            None => tempfile::tempdir().unwrap(),
        };
        let dir = scratch.path().join("ctx");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        if let Some(user) = user {
            user.chown_tree(scratch.path()).unwrap();
        }
        Context { scratch, dir }
    }
}

/// The lines a command printed that start with `kaniko-probe: ` (the log shows them as
/// ` INFO <line>`; the progress lines that quote the instruction do not count), without it.
fn probe_lines(out: &Output) -> Vec<String> {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|line| line.split_once("kaniko-probe: "))
        .filter(|(before, _)| matches!(before.trim(), "" | "INFO"))
        .map(|(_, rest)| rest.trim_end().to_string())
        .collect()
}

/// Builds `context` into `sandbox/<name>`; the build must succeed.
fn build(
    name: &str,
    context: &Context,
    args: &[&str],
    user: Option<&RootlessUser>,
) -> (Output, Built) {
    let reference = format!("{}/sandbox/{name}:1", shared().host);
    let mut all = vec!["--destination".to_string(), reference.clone()];
    all.extend(args.iter().map(|a| a.to_string()));
    let out = worker_build_within(&context.dir, &all, TIMEOUT, user);
    assert!(
        out.status.success(),
        "{name}: worker build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, Built::read(reference))
}

/// Directories named `marker` a build must not make under the host's `/sys/fs/cgroup`,
/// removed again however the test ends.
struct Cgroups {
    marker: String,
}

impl Cgroups {
    /// Every `marker` directory up to three levels below `/sys/fs/cgroup`, deepest first
    /// (a concurrent attempt may have made one inside another).
    fn made(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, depth: usize, marker: &str, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                if depth > 1 {
                    walk(&path, depth - 1, marker, out);
                }
                if entry.file_name().to_string_lossy() == marker {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(Path::new("/sys/fs/cgroup"), 3, &self.marker, &mut out);
        out
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for path in self.made() {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// The attempts at undoing the sandbox, one `kaniko-probe` line each. `$CORE_PATTERN` is the
/// host's own value: a write that got through would change nothing, but is reported.
const UNDO_SCRIPT: &str = r#"attempt() { what="$1"; shift; if "$@" 2>/dev/null; then echo "kaniko-probe: $what: done"; else echo "kaniko-probe: $what: refused"; fi; }
attempt "umount /proc/sys" umount /proc/sys
attempt "umount -l /proc/sys" umount -l /proc/sys
attempt "remount /proc/sys rw" mount -o remount,rw /proc/sys
attempt "write core_pattern" sh -c 'printf "%s\n" "$CORE_PATTERN" > /proc/sys/kernel/core_pattern'
attempt "umount /proc/keys" umount /proc/keys
attempt "umount /proc/sysrq-trigger" umount /proc/sysrq-trigger
attempt "remount the ro bind rw" mount -o remount,rw /ctx
attempt "write through the ro bind" sh -c 'echo pwned > /ctx/victim'
attempt "remount /sys rw" mount -o remount,rw /sys
for dir in /sys/fs/cgroup /sys/fs/cgroup/*; do
  attempt "mkdir in $dir" mkdir "$dir/$MARKER"
  attempt "remount $dir rw" mount -o remount,rw "$dir"
done
attempt "new mount namespace" unshare -m true
echo done > /finished
"#;

/// Runs [`UNDO_SCRIPT`] with `args` (and as `user`); every attempt is refused, the build
/// finishes, and neither the host's core_pattern, the context nor the host's cgroups changed.
fn undo_attempts_are_refused(name: &str, args: &[&str], user: Option<&RootlessUser>) {
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let core_pattern = core_pattern.trim_end_matches('\n');
    let marker = format!("kaniko-escape-{:016x}", rand::random::<u64>());
    let cgroups = Cgroups {
        marker: marker.clone(),
    };
    let dockerfile = format!(
        "FROM {}\nARG CORE_PATTERN\nARG MARKER\n\
         RUN --mount=type=bind,target=/ctx <<EOF\n{UNDO_SCRIPT}EOF\n",
        shared().busybox
    );
    let context = Context::new(&dockerfile, &[("victim", "untouched\n")], user);
    let mut all = vec![
        "--build-arg".to_string(),
        format!("CORE_PATTERN={core_pattern}"),
        "--build-arg".to_string(),
        format!("MARKER={marker}"),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let (out, img) = build(name, &context, &all, user);
    img.content_is("/finished", "done\n");
    let lines = probe_lines(&out);
    assert!(
        lines.len() >= 10,
        "{name}: too few attempts ran: {lines:#?}"
    );
    let done: Vec<&String> = lines.iter().filter(|l| !l.ends_with(": refused")).collect();
    assert!(
        done.is_empty(),
        "{name}: the command undid the sandbox: {done:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(context.dir.join("victim")).unwrap(),
        "untouched\n",
        "{name}: the read-only bind of the context was written through"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern")
            .unwrap()
            .trim_end_matches('\n'),
        core_pattern
    );
    let made = cgroups.made();
    assert!(
        made.is_empty(),
        "{name}: RUN created host cgroups or directories: {made:?}"
    );
}

#[test]
fn run_cannot_undo_its_mounts_nor_reach_host_sysctls_and_cgroups() {
    undo_attempts_are_refused("undo-host-network", &[], None);
}

#[test]
fn run_cannot_undo_its_mounts_with_its_own_network_namespace() {
    // A private network namespace gets a fresh sysfs instead of the host's bound one.
    undo_attempts_are_refused("undo-network-none", &["--network", "none"], None);
}

#[test]
fn rootless_run_cannot_undo_its_mounts() {
    let user = RootlessUser::lookup().unwrap();
    undo_attempts_are_refused("undo-rootless", &[], Some(&user));
}

/// `/proc/self/status` lines the command sees as root and as another user.
const STATUS_DOCKERFILE: &str = "FROM {base}\n\
     RUN grep -E '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/self/status | \
         sed 's/^/kaniko-probe: root /' && mkdir -m 1777 /out\n\
     RUN chroot / true && mkfifo /fifo && chown 1:1 /fifo && \
         su -s /bin/sh nobody -c 'id -u > /out/su' && echo 'kaniko-probe: root tools: work'\n\
     USER 1000:1000\n\
     RUN grep -E '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/self/status | \
         sed 's/^/kaniko-probe: user /'\n";

fn capabilities_are_dockers(name: &str, user: Option<&RootlessUser>) {
    let dockerfile = STATUS_DOCKERFILE.replace("{base}", &shared().busybox);
    let context = Context::new(&dockerfile, &[], user);
    let (out, img) = build(name, &context, &[], user);
    let lines = probe_lines(&out);
    let docker = "00000000a80425fb";
    let none = "0000000000000000";
    let expected = [
        format!("root CapInh:\t{none}"),
        format!("root CapPrm:\t{docker}"),
        format!("root CapEff:\t{docker}"),
        format!("root CapBnd:\t{docker}"),
        format!("root CapAmb:\t{none}"),
        "root NoNewPrivs:\t1".to_string(),
        "root Seccomp:\t2".to_string(),
        "root tools: work".to_string(),
        format!("user CapInh:\t{none}"),
        format!("user CapPrm:\t{none}"),
        format!("user CapEff:\t{none}"),
        format!("user CapBnd:\t{docker}"),
        format!("user CapAmb:\t{none}"),
        "user NoNewPrivs:\t1".to_string(),
        "user Seccomp:\t2".to_string(),
    ];
    assert_eq!(lines, expected, "{name}: what RUN sees");
    // What Docker's set allows still works: chroot, mkfifo, chown, su to another user.
    img.content_is("/out/su", "65534\n");
    assert_eq!(img.owner_mode("/fifo").1, 1);
}

#[test]
fn run_has_dockers_capabilities_no_new_privs_and_seccomp() {
    capabilities_are_dockers("caps", None);
}

#[test]
fn rootless_run_has_dockers_capabilities_no_new_privs_and_seccomp() {
    let user = RootlessUser::lookup().unwrap();
    capabilities_are_dockers("caps-rootless", Some(&user));
}

/// A static probe: reads the session keyring and searches it for the key named by its
/// argument, then opens `/dev/tty` and pushes a line into its input with TIOCSTI.
const PROBE_C: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *key = argc > 1 ? argv[1] : "none";
    long id = syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0);
    if (id < 0) printf("kaniko-probe: session keyring: refused (%s)\n", strerror(errno));
    else printf("kaniko-probe: session keyring: %ld\n", id);
    long found = syscall(SYS_keyctl, 10 /* SEARCH */, -3, "user", key, 0);
    if (found < 0) printf("kaniko-probe: host key: refused (%s)\n", strerror(errno));
    else printf("kaniko-probe: host key: found %ld\n", found);
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd < 0) {
        printf("kaniko-probe: /dev/tty: refused (%s)\n", strerror(errno));
    } else {
        printf("kaniko-probe: /dev/tty: opened\n");
        const char *text = "echo kaniko-injected\n";
        const char *c;
        for (c = text; *c; c++) {
            if (ioctl(fd, TIOCSTI, c) < 0) {
                printf("kaniko-probe: TIOCSTI: refused (%s)\n", strerror(errno));
                break;
            }
        }
        if (!*c) printf("kaniko-probe: TIOCSTI: injected\n");
    }
    return 0;
}
"#;

/// Compiles [`PROBE_C`] statically into `dir/probe`.
fn compile_probe(dir: &Path) {
    let source = dir.join("probe.c");
    std::fs::write(&source, PROBE_C).unwrap();
    let out = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(dir.join("probe"))
        .arg(&source)
        .output()
        .expect("spawn gcc (hack/deps.sh installs it)");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(source).unwrap();
}

fn check(r: libc::c_long, what: &str) -> std::io::Result<()> {
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// A new pseudo-terminal: (master, slave).
fn open_pty() -> (OwnedFd, OwnedFd) {
    // SAFETY: plain libc calls on descriptors we own; ptsname_r gets a buffer of its size.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(
            slave >= 0,
            "opening the pty: {}",
            std::io::Error::last_os_error()
        );
        (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave))
    }
}

/// `worker build` of `context` (as `user`) in a session of its own whose controlling
/// terminal is a new pseudo-terminal, with a session keyring holding a `user` key named
/// `key`; returns the build's output and what reached the terminal's input.
fn build_on_a_terminal(
    context: &Context,
    args: &[String],
    key: &str,
    user: Option<&RootlessUser>,
) -> (Output, String) {
    let (master, slave) = open_pty();
    let logs = tempfile::tempdir().unwrap();
    let (stdout, stderr) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut command = match user {
        Some(user) => {
            let binary = user
                .install_binary(&worker_binary(), context.scratch.path())
                .unwrap();
            user.command(binary, context.scratch.path())
        }
        None => Command::new(worker_binary()),
    };
    command
        .arg("build")
        .arg("--context")
        .arg(&context.dir)
        .args(["--log-format", "text", "--insecure"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let tty = slave.as_raw_fd();
    let keyring = c"kaniko-test-session".to_owned();
    let key_type = c"user".to_owned();
    let key_name = std::ffi::CString::new(key).unwrap();
    let payload = b"host secret";
    // SAFETY: only system calls between fork and exec, on data prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            check(libc::setsid() as libc::c_long, "setsid")?;
            check(
                libc::ioctl(tty, libc::TIOCSCTTY, 0) as libc::c_long,
                "TIOCSCTTY",
            )?;
            check(
                libc::syscall(libc::SYS_keyctl, 1, keyring.as_ptr()),
                "joining a session keyring",
            )?;
            check(
                libc::syscall(
                    libc::SYS_add_key,
                    key_type.as_ptr(),
                    key_name.as_ptr(),
                    payload.as_ptr(),
                    payload.len(),
                    -3,
                ),
                "add_key",
            )?;
            Ok(())
        });
    }
    let started = Instant::now();
    let mut attempts = 0;
    let mut child = loop {
        match command.spawn() {
            // A copy of the binary made for the rootless user may still be open elsewhere.
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other.expect("spawn worker"),
        }
    };
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "worker build did not finish; stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // What is waiting in the terminal's input queue, without blocking.
    // SAFETY: fcntl and read on the descriptor we own, into a buffer we own.
    let input = unsafe {
        libc::fcntl(slave.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
        let mut buf = [0u8; 256];
        let n = libc::read(slave.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
        String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned()
    };
    drop(master);
    let out = Output {
        status,
        stdout: std::fs::read(&stdout).unwrap_or_default(),
        stderr: std::fs::read(&stderr).unwrap_or_default(),
    };
    (out, input)
}

fn keyring_and_terminal_are_out_of_reach(name: &str, user: Option<&RootlessUser>) {
    let key = format!("kaniko-host-key-{:016x}", rand::random::<u64>());
    let dockerfile = format!(
        "FROM {}\nCOPY probe /probe\nRUN /probe {key} && echo done > /finished\n",
        shared().busybox
    );
    let context = Context::new(&dockerfile, &[], user);
    compile_probe(&context.dir);
    if let Some(user) = user {
        user.chown_tree(context.scratch.path()).unwrap();
    }
    let reference = format!("{}/sandbox/{name}:1", shared().host);
    let (out, input) = build_on_a_terminal(
        &context,
        &["--destination".to_string(), reference.clone()],
        &key,
        user,
    );
    assert!(
        out.status.success(),
        "{name}: worker build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Built::read(reference).content_is("/finished", "done\n");
    assert_eq!(
        probe_lines(&out),
        [
            "session keyring: refused (Operation not permitted)",
            "host key: refused (Operation not permitted)",
            "/dev/tty: refused (No such device or address)",
        ],
        "{name}: what the probe reached"
    );
    assert!(
        !input.contains("kaniko-injected"),
        "{name}: RUN pushed input into the worker's terminal: {input:?}"
    );
}

#[test]
fn run_reaches_neither_the_workers_keyring_nor_its_terminal() {
    keyring_and_terminal_are_out_of_reach("keyring-tty", None);
}

#[test]
fn rootless_run_reaches_neither_the_workers_keyring_nor_its_terminal() {
    let user = RootlessUser::lookup().unwrap();
    keyring_and_terminal_are_out_of_reach("keyring-tty-rootless", Some(&user));
}

/// Pushes busybox plus a layer holding `/hostnull`, a character device 1:3 (the host's
/// /dev/null) with mode 0666; returns its reference.
async fn push_base_with_a_device() -> String {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let (busybox_path, busybox_info, _) = busybox_layer(tmp.path(), Compression::Gzip).unwrap();
    let opts = LayerOptions {
        compression: Compression::Gzip,
        level: None,
        reproducible: true,
        mode: OciMode::Oci,
    };
    let mut writer = LayerWriter::to_temp_file(tmp.path(), opts).unwrap();
    let device = LayerEntry {
        mode: 0o666,
        ..LayerEntry::new("hostnull", EntryKind::CharDev { major: 1, minor: 3 })
    };
    writer.append(&device, None).unwrap();
    let (file, info) = writer.finish().unwrap();
    let device_path = file.into_temp_path();
    let layers = vec![
        (busybox_path.to_path_buf(), busybox_info.descriptor()),
        (device_path.to_path_buf(), info.descriptor()),
    ];
    let diff_ids = vec![busybox_info.diff_id.clone(), info.diff_id.clone()];
    let config = ConfigBuilder::default()
        .env(vec![format!("PATH={BUSYBOX_PATH}")])
        .cmd(vec!["sh".to_string()])
        .build()
        .unwrap();
    let config = image_config(&Platform::host(), config, &diff_ids, "a device node").unwrap();
    let client = kaniko_registry::RegistryClient::new(kaniko_registry::RegistryOptions::insecure(
        shared.host.clone(),
    ))
    .unwrap();
    push_image(
        &client,
        &shared.host,
        "sandbox/device-base",
        "1",
        &layers,
        &config,
    )
    .await
    .unwrap()
    .reference
}

#[tokio::test(flavor = "multi_thread")]
async fn device_nodes_from_layers_are_not_usable_in_any_snapshot_mode() {
    let base = push_base_with_a_device().await;
    let dockerfile = format!(
        "FROM {base}\n\
         RUN if echo x > /hostnull; then echo 'kaniko-probe: hostnull: usable'; \
         else echo 'kaniko-probe: hostnull: refused'; fi; echo done > /finished\n"
    );
    for (name, args) in [
        ("device-overlay", &["--snapshotter", "overlay"][..]),
        ("device-walk", &["--snapshotter", "walk"][..]),
        ("device-single", &["--single-snapshot"][..]),
    ] {
        let context = Context::new(&dockerfile, &[], None);
        let (out, img) = tokio::task::spawn_blocking(move || build(name, &context, args, None))
            .await
            .unwrap();
        assert_eq!(probe_lines(&out), ["hostnull: refused"], "{name}");
        img.content_is("/finished", "done\n");
        // The device still travels in the image as an entry.
        assert_eq!(img.file("/hostnull").device, Some((1, 3)), "{name}");
    }
}

/// Builds `dockerfile` with `worker build --network none`; the build must fail.
fn refused_with_network_none(name: &str, dockerfile: &str) -> String {
    let context = Context::new(dockerfile, &[], None);
    let reference = format!("{}/sandbox/{name}:1", shared().host);
    let out = worker_build_within(
        &context.dir,
        &[
            "--destination".to_string(),
            reference.clone(),
            "--network".to_string(),
            "none".to_string(),
        ],
        TIMEOUT,
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{name}: RUN widened the worker's --network none: {stderr}"
    );
    assert!(
        crate::dockerfiles::raw_config_result(&reference).is_err(),
        "{name}: {reference} was pushed"
    );
    stderr
}

#[test]
fn run_network_cannot_widen_the_workers_network_none() {
    let base = &shared().busybox;
    for (name, flag) in [("widen-host", "host"), ("widen-default", "default")] {
        let dockerfile =
            format!("FROM {base}\nRUN echo first\nRUN --network={flag} echo widened\n");
        let stderr = refused_with_network_none(name, &dockerfile);
        for needle in [
            "dockerfile:3",
            &format!("RUN --network={flag} is not allowed"),
            "--network none",
            "--network host to allow",
        ] {
            assert!(
                stderr.contains(needle),
                "{name}: {needle:?} not in: {stderr}"
            );
        }
        // The command's output, not the progress line naming the instruction.
        let ran = stderr
            .lines()
            .any(|l| l.trim_end().ends_with("widened") && !l.contains("RUN --network"));
        assert!(!ran, "{name}: the command ran: {stderr}");
    }
    // Narrowing (or repeating) the worker's setting is fine.
    let context = Context::new(
        &format!("FROM {base}\nRUN --network=none echo narrowed > /narrowed\n"),
        &[],
        None,
    );
    let (_, img) = build("narrow", &context, &["--network", "none"], None);
    img.content_is("/narrowed", "narrowed\n");
}

/// A spawned `worker serve`, killed on drop (its log printed when the test failed).
struct Serving {
    child: std::process::Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "worker serve log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// A context tarball holding only `dockerfile`, and its sha256.
fn context_tarball(dockerfile: &str) -> (Vec<u8>, String) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    builder
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .unwrap();
    let bytes = builder.into_inner().unwrap();
    let sha = crate::dockerfiles::sha256_hex(&bytes);
    (bytes, sha)
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_serve_network_none_is_a_ceiling_for_every_build() {
    use kaniko_common::messages::codec::decode_internal;
    use kaniko_common::messages::{ContextRef, Task, TaskOutcome, TaskResult};
    use kaniko_common::subjects::Names;
    use kaniko_nats::{self as bus, Bus, BusSettings};

    let shared = tokio::task::spawn_blocking(shared).await.unwrap();
    let nats = kaniko_tests::Nats::start().unwrap();
    let client = bus::connect(&bus::NatsOptions::new(nats.url()))
        .await
        .unwrap();
    let bus = Bus::new(client, Names::default());
    bus.ensure(&BusSettings::default()).await.unwrap();
    let mut results = bus
        .client()
        .subscribe("kaniko.results.ceiling")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("worker.log");
    let child = Command::new(worker_binary())
        .arg("serve")
        .args(["--nats", &nats.url()])
        .args(["--id", "sandbox-ceiling"])
        .args(["--heartbeat-interval", "1"])
        .args(["--insecure-registry", &shared.host])
        .args(["--network", "none"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn worker serve");
    let _serving = Serving {
        child,
        log,
        _dir: dir,
    };
    let dockerfile = format!(
        "FROM {}\nRUN --network=host echo widened > /widened\n",
        shared.busybox
    );
    let (bytes, sha256) = context_tarball(&dockerfile);
    bus.upload_context(&bytes[..], &sha256, bytes.len() as u64)
        .await
        .unwrap();
    let destination = format!("{}/sandbox/serve-ceiling", shared.host);
    let task = Task {
        build_id: "ceiling".into(),
        task_id: "ceiling-t".into(),
        platform: Platform::host(),
        attempt: 1,
        context: ContextRef {
            sha256,
            size: bytes.len() as u64,
        },
        dockerfile: "Dockerfile".into(),
        build_args: Default::default(),
        target: None,
        labels: Default::default(),
        destinations: vec![destination.clone()],
        compression: Default::default(),
        compression_level: None,
        oci_mode: Default::default(),
        reproducible: false,
        cross_safe: false,
        deadline_unix_ms: None,
        owner: None,
        cache: None,
        arch_cache_repo_suffix: None,
    };
    bus.publish_task(&task).await.unwrap();
    let message = tokio::time::timeout(
        Duration::from_secs(120),
        futures::StreamExt::next(&mut results),
    )
    .await
    .expect("a result within 120 s")
    .expect("the results subscription");
    let result: TaskResult = decode_internal(&message.payload).unwrap();
    match &result.outcome {
        TaskOutcome::Failed(err) => {
            for needle in ["RUN --network=host is not allowed", "--network none"] {
                assert!(err.message.contains(needle), "{needle:?} not in: {err}");
            }
        }
        other => panic!("RUN --network=host under worker serve --network none gave {other:?}"),
    }
    assert!(
        crate::dockerfiles::raw_config_result(&format!("{destination}:latest")).is_err(),
        "the image was pushed"
    );
}
