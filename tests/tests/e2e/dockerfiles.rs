// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! RUN-free Dockerfiles built end to end: each one is built by the spawned `worker build` on
//! the busybox fixture and pushed to the real registry, its file tree (skopeo + umoci) and
//! config (skopeo) are checked against what the Dockerfile says, and, for the cases marked for
//! parity, the same Dockerfile and context built by `buildah bud --isolation chroot` must give
//! the same file tree and the same config fields; any difference is listed.
//!
//! The binary is found next to this test executable (`target/debug/worker`); build it first
//! (`cargo build -p kaniko-worker`).

mod cases;
mod copy_semantics;
mod memory;
mod refusals;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kaniko_tests::buildah::{Buildah, BuildahOptions, ImageFormat};
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::tree::{ConfigView, DiffOptions, FileTree, diff};
use kaniko_tests::{Registry, init_test_tracing};

/// One Dockerfile with its context, how to build it, and what the image must hold.
struct Case {
    /// Names the repository the image is pushed to.
    name: &'static str,
    /// The Dockerfile; `{base}` is replaced by the busybox fixture's reference.
    dockerfile: &'static str,
    /// Context files (path, content); parents are created.
    files: &'static [(&'static str, &'static str)],
    /// Anything else the context needs (symlinks, hardlinks, archives, modes).
    prepare: fn(&Path),
    /// `--build-arg` pairs, given to both builders.
    build_args: &'static [(&'static str, &'static str)],
    /// `--target`, given to both builders.
    target: Option<&'static str>,
    /// The target platform (worker `--custom-platform`, buildah `--platform`); the host's
    /// when `None`.
    platform: Option<&'static str>,
    /// Docker format (worker `--oci-mode docker`, buildah `--format docker`) for configs with
    /// Docker-only fields (ONBUILD, HEALTHCHECK, SHELL); OCI otherwise.
    docker: bool,
    /// Whether buildah builds it too and both results must agree.
    parity: bool,
    /// What the worker's image must hold.
    check: fn(&Built),
}

impl Case {
    const DEFAULT: Case = Case {
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
    };
}

/// An image read back with real clients.
struct Built {
    /// Where it was pushed.
    reference: String,
    /// Its file tree.
    tree: FileTree,
    /// Its config fields, as skopeo reports them.
    config: ConfigView,
    /// Its raw config blob (Docker-only fields included).
    raw: serde_json::Value,
}

impl Built {
    fn read(reference: String) -> Built {
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
    fn file(&self, path: &str) -> &kaniko_tests::tree::Entry {
        self.tree
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from {}", self.reference))
    }

    /// The sha256 (hex) of a regular file's content.
    fn content_is(&self, path: &str, content: &str) {
        let entry = self.file(path);
        assert_eq!(
            entry.sha256.as_deref(),
            Some(&*sha256_hex(content.as_bytes())),
            "{path} in {} does not hold {content:?}",
            self.reference
        );
    }

    /// `(mode, uid, gid)` of `path`.
    fn owner_mode(&self, path: &str) -> (u32, u32, u32) {
        let entry = self.file(path);
        (entry.mode, entry.uid, entry.gid)
    }

    fn absent(&self, path: &str) {
        assert!(
            self.tree.get(path).is_none(),
            "{path} should not be in {}",
            self.reference
        );
    }
}

fn sha256_hex(content: &[u8]) -> String {
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
fn raw_config_result(reference: &str) -> Result<serde_json::Value, String> {
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

fn worker_binary() -> PathBuf {
    kaniko_tests::workspace_binary("worker")
}

fn worker_build(context: &Path, args: &[String]) -> Output {
    Command::new(worker_binary())
        .arg("build")
        .arg("--context")
        .arg(context)
        .args(["--log-format", "text", "--insecure"])
        .args(args)
        .output()
        .expect("spawn worker")
}

/// Writes the case's context into `dir` with `base` as the base image.
fn write_context(case: &Case, dir: &Path, base: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for (path, content) in case.files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    (case.prepare)(dir);
    std::fs::write(
        dir.join("Dockerfile"),
        case.dockerfile.replace("{base}", base),
    )
    .unwrap();
}

/// Builds the case with the worker (and buildah when marked for parity) on a fresh registry,
/// compares the two, runs the case's checks on the worker's image and returns it.
async fn run_case(case: &Case) -> Built {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let base = push_busybox(&registry, "fixtures/busybox").await.unwrap();
    run_case_on(case, &registry, &base.reference)
}

/// [`run_case`] on `registry`, with `base` for `{base}`.
fn run_case_on(case: &Case, registry: &Registry, base: &str) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let context = tmp.path().join("ctx");
    write_context(case, &context, base);
    let built = build_with_worker(case, registry, &context, "worker");
    (case.check)(&built);
    if case.parity {
        let reference = build_with_buildah(case, registry, &context);
        let theirs = Built::read(reference);
        compare(case, &theirs, &built);
    }
    built
}

fn build_with_worker(case: &Case, registry: &Registry, context: &Path, tag: &str) -> Built {
    let reference = format!("{}/cases/{}:{tag}", registry.host(), case.name);
    let mut args = vec!["--destination".to_string(), reference.clone()];
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
    let out = worker_build(context, &args);
    assert!(
        out.status.success(),
        "{}: worker build failed: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    Built::read(reference)
}

fn build_with_buildah(case: &Case, registry: &Registry, context: &Path) -> String {
    let buildah = Buildah::new().unwrap();
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
        destination: format!("{}/cases/{}:buildah", registry.host(), case.name),
    };
    let result = buildah
        .build(context, &context.join("Dockerfile"), &opts)
        .unwrap_or_else(|err| panic!("{}: buildah build failed: {err}", case.name));
    result.by_digest()
}

/// The reference builder's image (left) against the worker's (right): same tree, same config
/// fields. buildah's own `io.buildah.version` label is not part of the comparison.
fn compare(case: &Case, theirs: &Built, ours: &Built) {
    let trees =
        diff(&theirs.tree, &ours.tree, &DiffOptions::default()).labeled("buildah", "worker");
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
