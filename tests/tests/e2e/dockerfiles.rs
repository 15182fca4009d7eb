// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! RUN-free Dockerfiles built end to end: each one is built by the spawned `worker build` on
//! the busybox fixture and pushed to the real registry, its file tree (skopeo + umoci) and
//! config (skopeo) are checked against what the Dockerfile says, and, for the cases marked for
//! parity, the same Dockerfile and context built by `buildah bud --isolation chroot` must give
//! the same file tree and the same config fields; any difference is listed. The [`Case`]
//! machinery here is shared with the RUN suite (`run.rs`), which adds the Debian base.
//!
//! The binary is found next to this test executable (`target/debug/worker`); build it first
//! (`cargo build -p kaniko-worker`).

mod cases;
mod copy_semantics;
mod memory;
mod refusals;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kaniko_tests::buildah::{Buildah, BuildahOptions, ImageFormat};
use kaniko_tests::debian::push_debian;
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::rootless::RootlessUser;
use kaniko_tests::tree::{ConfigView, DiffOptions, FileTree, diff};
use kaniko_tests::{Registry, init_test_tracing};

/// The base image `{base}` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    /// The busybox fixture (an index; the host's child is used).
    Busybox,
    /// The Debian bookworm minbase fixture (the host's platform only).
    Debian,
}

/// How long a `worker build` may take before the test kills it and fails.
const WORKER_TIMEOUT: Duration = Duration::from_secs(300);

/// One Dockerfile with its context, how to build it, and what the image must hold.
pub(crate) struct Case {
    /// Names the repository the image is pushed to.
    pub(crate) name: &'static str,
    /// The Dockerfile; `{base}` is replaced by the busybox fixture's reference.
    pub(crate) dockerfile: &'static str,
    /// Context files (path, content); parents are created.
    pub(crate) files: &'static [(&'static str, &'static str)],
    /// Anything else the context needs (symlinks, hardlinks, archives, modes).
    pub(crate) prepare: fn(&Path),
    /// `--build-arg` pairs, given to both builders.
    pub(crate) build_args: &'static [(&'static str, &'static str)],
    /// `--target`, given to both builders.
    pub(crate) target: Option<&'static str>,
    /// The target platform (worker `--custom-platform`, buildah `--platform`); the host's
    /// when `None`.
    pub(crate) platform: Option<&'static str>,
    /// Docker format (worker `--oci-mode docker`, buildah `--format docker`) for configs with
    /// Docker-only fields (ONBUILD, HEALTHCHECK, SHELL); OCI otherwise.
    pub(crate) docker: bool,
    /// Whether buildah builds it too and both results must agree.
    pub(crate) parity: bool,
    /// What the worker's image must hold.
    pub(crate) check: fn(&Built),
    /// The base `{base}` stands for (for [`run_case`]).
    pub(crate) base: Base,
    /// More `worker build` flags (`--single-snapshot`); buildah gets none of them.
    pub(crate) worker_args: &'static [&'static str],
    /// How long `worker build` may take.
    pub(crate) timeout: Duration,
    /// Paths whose differences between buildah and the worker are known and documented.
    pub(crate) ignore: &'static [&'static str],
    /// Build secrets (id, value): written next to the context and given to both builders as
    /// `--secret id=<id>,src=<file>`; no value may appear in the worker's output.
    pub(crate) secrets: &'static [(&'static str, &'static str)],
    /// A directory copied as it is (links, modes, any name) into the context before
    /// [`Case::files`] are written.
    pub(crate) context_dir: Option<&'static Path>,
}

impl Case {
    /// Every field at its default: busybox, parity, no checks.
    pub(crate) const DEFAULT: Case = Case {
        name: "",
        dockerfile: "",
        files: &[],
        prepare: |_| {},
        build_args: &[],
        target: None,
        platform: None,
        docker: false,
        parity: true,
        check: |_| {},
        base: Base::Busybox,
        worker_args: &[],
        timeout: WORKER_TIMEOUT,
        ignore: &[],
        secrets: &[],
        context_dir: None,
    };
}

/// An image read back with real clients.
pub(crate) struct Built {
    /// Where it was pushed.
    pub(crate) reference: String,
    /// Its file tree.
    pub(crate) tree: FileTree,
    /// Its config fields, as skopeo reports them.
    pub(crate) config: ConfigView,
    /// Its raw config blob (Docker-only fields included).
    pub(crate) raw: serde_json::Value,
}

impl Built {
    pub(crate) fn read(reference: String) -> Built {
        let tree = FileTree::of_image(&reference, None)
            .unwrap_or_else(|err| panic!("reading the tree of {reference}: {err:#}"));
        let config = ConfigView::of_image(&reference, None)
            .unwrap_or_else(|err| panic!("reading the config of {reference}: {err:#}"));
        let raw = raw_config(&reference);
        Built {
            reference,
            tree,
            config,
            raw,
        }
    }

    /// The entry at `path`, or a failure naming the image.
    pub(crate) fn file(&self, path: &str) -> &kaniko_tests::tree::Entry {
        self.tree
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from {}", self.reference))
    }

    /// The sha256 (hex) of a regular file's content.
    pub(crate) fn content_is(&self, path: &str, content: &str) {
        let entry = self.file(path);
        assert_eq!(
            entry.sha256.as_deref(),
            Some(&*sha256_hex(content.as_bytes())),
            "{path} in {} does not hold {content:?}",
            self.reference
        );
    }

    /// `(mode, uid, gid)` of `path`.
    pub(crate) fn owner_mode(&self, path: &str) -> (u32, u32, u32) {
        let entry = self.file(path);
        (entry.mode, entry.uid, entry.gid)
    }

    /// Fails when `path` is in the image.
    pub(crate) fn absent(&self, path: &str) {
        assert!(
            self.tree.get(path).is_none(),
            "{path} should not be in {}",
            self.reference
        );
    }
}

pub(crate) fn sha256_hex(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `skopeo inspect --config --raw`: the config blob exactly as stored.
fn raw_config(reference: &str) -> serde_json::Value {
    raw_config_result(reference).unwrap_or_else(|err| panic!("{err}"))
}

/// [`raw_config`], or skopeo's error (the image is not there).
pub(crate) fn raw_config_result(reference: &str) -> Result<serde_json::Value, String> {
    let out = Command::new("skopeo")
        .args(["inspect", "--config", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("spawn skopeo");
    if !out.status.success() {
        return Err(format!(
            "skopeo inspect --config --raw {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|err| format!("config of {reference}: {err}"))
}

pub(crate) fn worker_binary() -> PathBuf {
    kaniko_tests::workspace_binary("worker")
}

pub(crate) fn worker_build(context: &Path, args: &[String]) -> Output {
    worker_build_within(context, args, WORKER_TIMEOUT, None)
}

/// `worker build --context <context> <args>`, as `user` when given (a private copy of the
/// binary in `context`'s parent, which that user must own), killed and reported as a failure
/// after `timeout`. Output goes to files, not pipes: a process the build leaked cannot keep
/// the test waiting on a pipe.
pub(crate) fn worker_build_within(
    context: &Path,
    args: &[String],
    timeout: Duration,
    user: Option<&RootlessUser>,
) -> Output {
    let logs = tempfile::tempdir().unwrap();
    let (stdout_path, stderr_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut command = match user {
        Some(user) => {
            let scratch = context.parent().unwrap();
            let binary = user.install_binary(&worker_binary(), scratch).unwrap();
            user.command(binary, scratch)
        }
        None => Command::new(worker_binary()),
    };
    command
        .arg("build")
        .arg("--context")
        .arg(context)
        .args(["--log-format", "text", "--insecure"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let started = Instant::now();
    // A binary just copied for the rootless user can be busy for a moment: another test's
    // fork may still hold the copy's descriptor until it execs (ETXTBSY).
    let mut attempts = 0;
    let mut child = loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other.expect("spawn worker"),
        }
    };
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for worker") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "worker build did not finish within {timeout:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read(&stderr_path).unwrap_or_default(),
    }
}

/// Writes the case's context into `dir` with `base` as the base image and `registry` for
/// `{registry}`.
pub(crate) fn write_context(case: &Case, dir: &Path, base: &str, registry: &str) {
    std::fs::create_dir_all(dir).unwrap();
    if let Some(source) = case.context_dir {
        let copied = Command::new("cp")
            .arg("-a")
            .arg(source.join("."))
            .arg(dir)
            .status()
            .expect("spawn cp");
        assert!(
            copied.success(),
            "copying {} into the context",
            source.display()
        );
    }
    for (path, content) in case.files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    (case.prepare)(dir);
    if !case.secrets.is_empty() {
        let secrets = secrets_dir(dir);
        std::fs::create_dir_all(&secrets).unwrap();
        for (id, value) in case.secrets {
            std::fs::write(secrets.join(id), value).unwrap();
        }
    }
    std::fs::write(
        dir.join("Dockerfile"),
        case.dockerfile
            .replace("{base}", base)
            .replace("{registry}", registry),
    )
    .unwrap();
}

/// Where [`write_context`] puts the case's secrets: next to the context, never inside it.
fn secrets_dir(context: &Path) -> PathBuf {
    context
        .parent()
        .unwrap_or(Path::new("/nonexistent"))
        .join("secrets")
}

/// `--secret id=<id>,src=<file>` values for the case's secrets.
fn secret_flags(case: &Case, context: &Path) -> Vec<String> {
    case.secrets
        .iter()
        .map(|(id, _)| format!("id={id},src={}", secrets_dir(context).join(id).display()))
        .collect()
}

/// Builds the case with the worker (and buildah when marked for parity) on a fresh registry,
/// compares the two, runs the case's checks on the worker's image and returns it.
pub(crate) async fn run_case(case: &Case) -> Built {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let base = match case.base {
        Base::Busybox => {
            push_busybox(&registry, "fixtures/busybox")
                .await
                .unwrap()
                .reference
        }
        Base::Debian => {
            push_debian(&registry, "fixtures/debian")
                .await
                .unwrap()
                .reference
        }
    };
    run_case_on(case, &registry, &base)
}

/// [`run_case`] on `registry`, with `base` for `{base}`.
pub(crate) fn run_case_on(case: &Case, registry: &Registry, base: &str) -> Built {
    run_case_at(case, &registry.host(), base)
}

/// [`run_case`] on the registry at `host` (also what `{registry}` stands for in the
/// Dockerfile), with `base` for `{base}`.
pub(crate) fn run_case_at(case: &Case, host: &str, base: &str) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let context = tmp.path().join("ctx");
    write_context(case, &context, base, host);
    let built = build_with_worker(case, host, &context, "worker", None);
    (case.check)(&built);
    if case.parity {
        let reference = build_with_buildah(case, host, &context);
        let theirs = Built::read(reference);
        compare(case, &theirs, &built);
    }
    built
}

/// The `worker build` flags for `case`, pushing to `reference`.
pub(crate) fn worker_args(case: &Case, reference: &str) -> Vec<String> {
    let mut args = vec!["--destination".to_string(), reference.to_string()];
    for (key, value) in case.build_args {
        args.push("--build-arg".into());
        args.push(format!("{key}={value}"));
    }
    if let Some(target) = case.target {
        args.push("--target".into());
        args.push(target.into());
    }
    if let Some(platform) = case.platform {
        args.push("--custom-platform".into());
        args.push(platform.into());
    }
    if case.docker {
        args.push("--oci-mode".into());
        args.push("docker".into());
    }
    args.extend(case.worker_args.iter().map(|a| a.to_string()));
    args
}

/// Runs `worker build` for `case` in `context` (as `user` when given), pushing to
/// `cases/<name>:<tag>` on `host`, with the case's secrets and caches of its own next to the
/// context: the reference and the build's output, whether it succeeded or not.
pub(crate) fn worker_build_case(
    case: &Case,
    host: &str,
    context: &Path,
    tag: &str,
    user: Option<&RootlessUser>,
) -> (String, Output) {
    let reference = format!("{host}/cases/{}:{tag}", case.name);
    let mut args = worker_args(case, &reference);
    for secret in secret_flags(case, context) {
        args.push("--secret".into());
        args.push(secret);
    }
    if !args.iter().any(|a| a.starts_with("--run-cache-dir")) {
        args.push("--run-cache-dir".into());
        args.push(context.with_file_name("run-cache").display().to_string());
    }
    let out = worker_build_within(context, &args, case.timeout, user);
    (reference, out)
}

/// Builds `case` in `context` with `worker build` (as `user` when given), pushes it as
/// `cases/<name>:<tag>` and reads it back.
pub(crate) fn build_with_worker(
    case: &Case,
    host: &str,
    context: &Path,
    tag: &str,
    user: Option<&RootlessUser>,
) -> Built {
    let (reference, out) = worker_build_case(case, host, context, tag, user);
    assert!(
        out.status.success(),
        "{}: worker build failed: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    for (id, value) in case.secrets {
        for (name, stream) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !String::from_utf8_lossy(stream).contains(value),
                "{}: the value of secret {id} is in the worker's {name}",
                case.name
            );
        }
    }
    let built = Built::read(reference);
    let config = built.raw.to_string();
    for (id, value) in case.secrets {
        assert!(
            !config.contains(value),
            "{}: the value of secret {id} is in the image config",
            case.name
        );
        let sha = sha256_hex(value.as_bytes());
        let holders: Vec<&str> = built
            .tree
            .entries
            .iter()
            .filter(|(_, e)| e.sha256.as_deref() == Some(sha.as_str()))
            .map(|(p, _)| p.as_str())
            .collect();
        assert!(
            holders.is_empty(),
            "{}: the value of secret {id} is stored in the image at {holders:?}",
            case.name
        );
    }
    built
}

pub(crate) fn build_with_buildah(case: &Case, host: &str, context: &Path) -> String {
    buildah_build(case, host, context)
        .unwrap_or_else(|err| panic!("{}: buildah build failed: {err}", case.name))
}

/// Builds `case` in `context` with `buildah bud` and pushes it as `cases/<name>:buildah`:
/// the pushed image by digest, or buildah's error.
pub(crate) fn buildah_build(case: &Case, host: &str, context: &Path) -> Result<String, String> {
    let buildah = Buildah::new().map_err(|err| err.to_string())?;
    let opts = BuildahOptions {
        build_args: case
            .build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        target: case.target.map(str::to_string),
        platform: case.platform.map(str::to_string),
        format: if case.docker {
            ImageFormat::Docker
        } else {
            ImageFormat::Oci
        },
        destination: format!("{host}/cases/{}:buildah", case.name),
        secrets: secret_flags(case, context),
        layers: false,
    };
    let build = || {
        buildah
            .build(context, &context.join("Dockerfile"), &opts)
            .map_err(|err| err.to_string())
    };
    let result = match build() {
        // buildah's chroot runtime sometimes fails to seal its memfd copy of itself on a busy
        // machine: a fault of the reference builder, not of the Dockerfile; one more try.
        Err(err) if err.contains(BUILDAH_MEMFD_FLAKE) => build()?,
        other => other?,
    };
    Ok(result.by_digest())
}

/// What buildah 1.28 prints when its chroot runtime could not seal its own memfd copy.
const BUILDAH_MEMFD_FLAKE: &str = "sealing memfd copy: Device or resource busy";

/// Files buildah 1.28 (chroot isolation) bind-mounts over during RUN and then leaves in the
/// image as empty 0755 files when the base had none. The worker provides them too but never
/// captures them (as BuildKit); these are dropped from buildah's tree when they are empty
/// and the worker has no such path. A worker that captured them is still reported.
const BUILDAH_MOUNTPOINT_FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// `theirs` without buildah's RUN mountpoints that `ours` lacks: the empty files of
/// [`BUILDAH_MOUNTPOINT_FILES`] and an empty `/run` directory.
fn without_buildah_mountpoints(theirs: &FileTree, ours: &FileTree) -> FileTree {
    let mut tree = theirs.clone();
    for path in BUILDAH_MOUNTPOINT_FILES {
        if ours.get(path).is_none()
            && tree
                .get(path)
                .is_some_and(|e| e.kind == kaniko_tests::tree::Kind::File && e.size == 0)
        {
            tree.entries.remove(path);
        }
    }
    let run_is_empty = !tree.paths().any(|p| p.starts_with("/run/"));
    if ours.get("/run").is_none()
        && run_is_empty
        && tree
            .get("/run")
            .is_some_and(|e| e.kind == kaniko_tests::tree::Kind::Dir)
    {
        tree.entries.remove("/run");
    }
    tree
}

/// The reference builder's image (left) against the worker's (right): same tree, same config
/// fields. buildah's own `io.buildah.version` label is not part of the comparison.
pub(crate) fn compare(case: &Case, theirs: &Built, ours: &Built) {
    let opts = DiffOptions {
        ignore: case.ignore.iter().map(|p| p.to_string()).collect(),
    };
    let reference_tree = without_buildah_mountpoints(&theirs.tree, &ours.tree);
    let trees = diff(&reference_tree, &ours.tree, &opts).labeled("buildah", "worker");
    assert!(
        trees.is_empty(),
        "{}: file trees differ:\n{trees}",
        case.name
    );
    let mut reference = theirs.config.clone();
    reference
        .labels
        .retain(|key, _| !key.starts_with("io.buildah."));
    let configs = reference.diff(&ours.config).labeled("buildah", "worker");
    assert!(
        configs.is_empty(),
        "{}: configs differ:\n{configs}",
        case.name
    );
    for field in ["os", "architecture", "variant"] {
        assert_eq!(
            theirs.raw[field], ours.raw[field],
            "{}: {field} differs (buildah, worker)",
            case.name
        );
    }
    // skopeo's config view has no Docker-only fields: compare them in the raw blobs.
    if case.docker {
        for field in ["Healthcheck", "OnBuild", "Shell"] {
            let (left, right) = (&theirs.raw["config"][field], &ours.raw["config"][field]);
            let empty =
                |v: &serde_json::Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
            assert!(
                left == right || (empty(left) && empty(right)),
                "{}: {field} differs: buildah {left}, worker {right}",
                case.name
            );
        }
    }
}

#[test]
fn buildah_mountpoints_are_dropped_only_when_empty_and_absent_from_the_worker() {
    use kaniko_tests::tree::{Entry, Kind};
    fn entry(kind: Kind, size: u64) -> Entry {
        Entry {
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size,
            sha256: None,
            target: None,
            device: None,
            link: None,
        }
    }
    fn tree(entries: &[(&str, Entry)]) -> FileTree {
        FileTree {
            entries: entries
                .iter()
                .map(|(p, e)| (p.to_string(), e.clone()))
                .collect(),
        }
    }
    fn check(theirs: &[(&str, Entry)], ours: &[(&str, Entry)], expected: &[&str]) {
        let kept = without_buildah_mountpoints(&tree(theirs), &tree(ours));
        assert_eq!(kept.paths().collect::<Vec<_>>(), expected);
    }
    let empty = entry(Kind::File, 0);
    let dir = entry(Kind::Dir, 0);
    check(
        &[
            ("/etc/hosts", empty.clone()),
            ("/etc/resolv.conf", empty.clone()),
            ("/run", dir.clone()),
        ],
        &[],
        &[],
    );
    // The worker has it too: compared as usual.
    check(
        &[("/etc/hosts", empty.clone())],
        &[("/etc/hosts", empty.clone())],
        &["/etc/hosts"],
    );
    // Content is not a mountpoint: compared as usual.
    check(
        &[("/etc/hosts", entry(Kind::File, 9))],
        &[],
        &["/etc/hosts"],
    );
    // A /run with content written by RUN is kept.
    check(
        &[("/run", dir.clone()), ("/run/x", empty.clone())],
        &[],
        &["/run", "/run/x"],
    );
    check(&[("/etc/passwd", empty.clone())], &[], &["/etc/passwd"]);
}
