// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `ci` driver end to end: per-architecture `worker build --metadata-file` runs (spawned,
//! one native linux/amd64, one linux/arm64 via `--custom-platform`; the Dockerfile has no RUN
//! so both are cross-safe) followed by `coordinator submit --driver ci` publish a valid
//! two-platform index; a missing child, a platform mismatch and a duplicate platform each
//! fail with an error naming the file and push nothing; digest files follow the `--force`
//! rule in both binaries and never leave a temporary file behind.
//!
//! Both binaries are found next to this test executable: `cargo build -p kaniko-worker -p
//! kaniko-coordinator` first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kaniko_registry::{RegistryClient, RegistryError};
use kaniko_tests::fixture::{BusyboxImage, push_busybox};
use kaniko_tests::{Registry, init_test_tracing, skopeo_inspect_raw};

/// Runs `worker build` for `platform` in `ctx`, pushing to `destination`, with `args`.
pub fn worker_build(ctx: &Path, platform: &str, destination: &str, args: &[&str]) -> Output {
    let host = destination.split('/').next().unwrap_or_default();
    Command::new(kaniko_tests::workspace_binary("worker"))
        .arg("build")
        .arg("--context")
        .arg(ctx)
        .args(["--log-format", "text", "--insecure-registry", host])
        .args(["--custom-platform", platform, "--destination", destination])
        .args(args)
        .output()
        .expect("spawn worker")
}

/// Runs [`worker_build`] of `ctx` once per fixture platform (linux/amd64 and, by
/// `--custom-platform`, linux/arm64) with `args`, pushing `<host>/app-build:<arch>` and
/// writing its metadata to `<digests>/<arch>/metadata.json`; asserts each run succeeded.
pub fn build_per_arch(ctx: &Path, host: &str, digests: &Path, args: &[&str]) {
    for (platform, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let metadata = digests.join(format!("{arch}/metadata.json"));
        let mut all = args.to_vec();
        all.extend(["--metadata-file", metadata.to_str().unwrap()]);
        ok(&worker_build(
            ctx,
            platform,
            &format!("{host}/app-build:{arch}"),
            &all,
        ));
    }
}

/// Runs `coordinator <args>` against `registry` (plain HTTP, no credentials).
pub fn coordinator(registry: &Registry, args: &[&str]) -> Output {
    coordinator_via(&registry.host(), registry, args)
}

/// [`coordinator`] reaching the registry at `host` (e.g. a proxy in front of it).
pub fn coordinator_via(host: &str, registry: &Registry, args: &[&str]) -> Output {
    let docker_config = registry.storage_dir().with_file_name("ci-docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    Command::new(kaniko_tests::workspace_binary("coordinator"))
        .args(args)
        .args(["--insecure-registry", host])
        .args(["--insecure-registry", &registry.host()])
        .arg("--docker-config")
        .arg(&docker_config)
        .output()
        .expect("spawn coordinator")
}

/// stderr of a run, for messages.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the run succeeded.
pub fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        stderr(output),
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Asserts the run failed with a message containing every one of `needles`.
pub fn fails_with(output: &Output, needles: &[&str]) {
    assert!(
        !output.status.success(),
        "succeeded, expected an error: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let err = stderr(output);
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
}

/// Whether `reference` (`name:tag` or `name@digest`, without the host) exists in `registry`.
pub async fn exists(client: &RegistryClient, registry: &Registry, reference: &str) -> bool {
    match client
        .pull_manifest_raw(&registry.reference(reference))
        .await
    {
        Ok(_) => true,
        Err(RegistryError::NotFound { .. }) => false,
        Err(err) => panic!("{reference}: {err}"),
    }
}

/// The digest `reference` (with host) resolves to.
pub async fn digest_of(client: &RegistryClient, reference: &str) -> String {
    client
        .pull_manifest_raw(&reference.parse().unwrap())
        .await
        .unwrap_or_else(|e| panic!("{reference}: {e}"))
        .digest
}

/// A busybox fixture in `<host>/base` and a directory of digest files for its two children,
/// named as the `ci` driver expects (`linux-amd64.digest`, `linux-arm64.digest`), in the
/// `--image-name-with-digest-file` format (`<host>/base@<digest>`), which says where they are.
pub async fn fixture_children(registry: &Registry, dir: &Path) -> BusyboxImage {
    let base = push_busybox(registry, "base").await.unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for (platform, descriptor) in &base.children {
        let name = format!("{}.digest", platform.to_string().replace('/', "-"));
        let content = format!("{}/base@{}\n", registry.host(), descriptor.digest);
        std::fs::write(dir.join(name), content).unwrap();
    }
    base
}

/// What a `ci` driver test starts from (test tracing on): a fresh registry, a client of it,
/// its host, a scratch directory, and in it `digests`, the [`fixture_children`] digest files
/// of the busybox fixture (the last element).
pub async fn ci_fixture() -> (
    Registry,
    RegistryClient,
    String,
    tempfile::TempDir,
    PathBuf,
    BusyboxImage,
) {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let digests = tmp.path().join("digests");
    let base = fixture_children(&registry, &digests).await;
    (registry, client, host, tmp, digests, base)
}

/// A RUN-free context over `base` (cross-safe for every platform) with `content` in a file.
pub fn context(dir: &Path, base: &str, content: &str) -> PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), content).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nCOPY hello.txt /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n"),
    )
    .unwrap();
    ctx
}

fn no_temporary_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".tmp"),
            "temporary file {name} left in {}",
            dir.display()
        );
    }
}

#[tokio::test]
async fn two_worker_builds_then_the_ci_driver_publish_a_two_platform_index() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let host = registry.host();
    let base = push_busybox(&registry, "base").await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path(), &base.reference, "hello\n");
    let digests = tmp.path().join("digests");
    // Two separate per-arch jobs, each pushing to its own tag of a build repository.
    build_per_arch(&ctx, &host, &digests, &[]);
    let read_json = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let amd64 = read_json(&digests.join("amd64/metadata.json"));
    let arm64 = read_json(&digests.join("arm64/metadata.json"));
    assert_eq!(amd64["platform"], "linux/amd64");
    assert_eq!(arm64["platform"], "linux/arm64");
    let amd64_digest = amd64["digest"].as_str().unwrap().to_string();
    let arm64_digest = arm64["digest"].as_str().unwrap().to_string();
    assert_eq!(
        amd64["images"],
        serde_json::json!([format!("{host}/app-build@{amd64_digest}")])
    );

    let out = tmp.path().join("out");
    let index_digest_file = out.join("index.digest");
    let index_metadata_file = out.join("index.json");
    let run = coordinator(
        &registry,
        &[
            "submit",
            "--driver",
            "ci",
            "--digests-from",
            digests.to_str().unwrap(),
            "--destination",
            &format!("{host}/app:1"),
            "--digest-file",
            index_digest_file.to_str().unwrap(),
            "--metadata-file",
            index_metadata_file.to_str().unwrap(),
        ],
    );
    ok(&run);

    let index = skopeo_inspect_raw(&format!("{host}/app:1")).unwrap();
    assert_eq!(index["mediaType"], kaniko_common::oci::OCI_INDEX);
    let children = index["manifests"].as_array().unwrap().iter();
    let child_digests = children.map(|m| m["digest"].as_str().unwrap().to_string());
    let listed: Vec<(String, String)> = kaniko_tests::index_platforms(&index)
        .into_iter()
        .zip(child_digests)
        .collect();
    assert_eq!(
        listed,
        [
            ("linux/amd64".to_string(), amd64_digest.clone()),
            ("linux/arm64".to_string(), arm64_digest.clone())
        ]
    );
    assert!(
        index["annotations"]["org.opencontainers.image.created"].is_string(),
        "{index}"
    );
    // The children were pushed to app-build only; the index's repository has them now.
    for digest in [&amd64_digest, &arm64_digest] {
        skopeo_inspect_raw(&format!("{host}/app@{digest}")).unwrap();
    }
    let index_digest = digest_of(&client, &format!("{host}/app:1")).await;
    assert_eq!(
        std::fs::read_to_string(&index_digest_file).unwrap(),
        index_digest
    );
    let metadata = read_json(&index_metadata_file);
    assert_eq!(metadata["index"]["digest"], index_digest.as_str());
    assert_eq!(metadata["platforms"].as_array().map(Vec::len), Some(2));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains(&index_digest),
        "summary: {}",
        String::from_utf8_lossy(&run.stdout)
    );
    no_temporary_files(&out);
}

#[tokio::test]
async fn a_missing_child_a_mismatch_and_a_duplicate_each_fail_and_push_nothing() {
    let (registry, client, host, tmp, good, base) = ci_fixture().await;
    let amd64 = base.children[0].1.digest.clone();
    let arm64 = base.children[1].1.digest.clone();

    let case = |name: &str, files: &[(&str, String)]| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, content) in files {
            std::fs::write(dir.join(file), content).unwrap();
        }
        dir
    };
    let missing = case(
        "missing",
        &[
            ("linux-amd64.digest", amd64.clone()),
            ("linux-arm64.digest", format!("sha256:{}", "0".repeat(64))),
        ],
    );
    let mismatch = case(
        "mismatch",
        &[
            ("linux-amd64.digest", amd64.clone()),
            // The amd64 image, filed as arm64.
            ("linux-arm64.digest", amd64.clone()),
        ],
    );
    let duplicate = case(
        "duplicate",
        &[
            ("linux-amd64.digest", amd64.clone()),
            ("linux-arm64.digest", arm64.clone()),
            (
                "x86.json",
                format!(
                    r#"{{"digest":"{amd64}","platform":"linux/x86_64","images":["{host}/base@{amd64}"]}}"#
                ),
            ),
        ],
    );
    let index_args = |dir: &Path| {
        vec![
            "index".to_string(),
            "--digests-from".to_string(),
            dir.display().to_string(),
            "-d".to_string(),
            format!("{host}/app:1"),
            "-d".to_string(),
            format!("{host}/base:combined"),
        ]
    };
    let run = |dir: &Path| {
        let args = index_args(dir);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        coordinator(&registry, &args)
    };
    fails_with(
        &run(&missing),
        &[
            "linux-arm64.digest",
            &format!("sha256:{}", "0".repeat(64)),
            "is in none of",
            "was it pushed?",
        ],
    );
    fails_with(
        &run(&mismatch),
        &[
            "linux-arm64.digest",
            "the file says linux/arm64",
            "is for linux/amd64",
        ],
    );
    fails_with(
        &run(&duplicate),
        &[
            "duplicate platform linux/amd64",
            "linux-amd64.digest",
            "x86.json",
        ],
    );
    // Nothing pushed: no tag, and no child copied into the new repository.
    assert!(!exists(&client, &registry, "app:1").await);
    assert!(!exists(&client, &registry, "base:combined").await);
    assert!(!exists(&client, &registry, &format!("app@{amd64}")).await);

    // The same destinations with the good files work.
    ok(&run(&good));
    assert_eq!(
        digest_of(&client, &format!("{host}/app:1")).await,
        digest_of(&client, &format!("{host}/base:combined")).await
    );
}

#[tokio::test]
async fn digest_files_change_only_with_force_in_both_binaries() {
    let (registry, client, host, tmp, digests, base) = ci_fixture().await;

    // coordinator: a reproducible index is the same twice; other annotations change it.
    let out = tmp.path().join("out");
    let digest_file = out.join("index.digest");
    let destination = format!("{host}/app:1");
    let index = |extra: &[&str]| {
        let mut args = vec![
            "index",
            "--digests-from",
            digests.to_str().unwrap(),
            "-d",
            &destination,
            "--reproducible",
            "--digest-file",
            digest_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        coordinator(&registry, &args)
    };
    ok(&index(&[]));
    let first = std::fs::read_to_string(&digest_file).unwrap();
    ok(&index(&[]));
    assert_eq!(std::fs::read_to_string(&digest_file).unwrap(), first);
    fails_with(
        &index(&["--index-annotations", "stage=2"]),
        &[
            "index.digest",
            "already exists with different content",
            "--force",
        ],
    );
    assert_eq!(std::fs::read_to_string(&digest_file).unwrap(), first);
    // Refused before anything was pushed: the tag did not move.
    assert_eq!(digest_of(&client, &format!("{host}/app:1")).await, first);
    ok(&index(&["--index-annotations", "stage=2", "--force"]));
    let second = std::fs::read_to_string(&digest_file).unwrap();
    assert_ne!(second, first);
    assert_eq!(digest_of(&client, &format!("{host}/app:1")).await, second);
    no_temporary_files(&out);

    // worker: a changed build refuses to overwrite its digest file unless --force.
    let build_out = tmp.path().join("build-out");
    let worker_digest = build_out.join("digest");
    let build = |content: &str, extra: &[&str]| {
        let ctx = context(&tmp.path().join(content.trim()), &base.reference, content);
        let mut args = vec!["--digest-file", worker_digest.to_str().unwrap()];
        args.extend_from_slice(extra);
        worker_build(&ctx, "linux/amd64", &format!("{host}/built:1"), &args)
    };
    ok(&build("one\n", &[]));
    let built_first = std::fs::read_to_string(&worker_digest).unwrap();
    fails_with(
        &build("two\n", &[]),
        &["digest", "already exists with different content", "--force"],
    );
    assert_eq!(
        std::fs::read_to_string(&worker_digest).unwrap(),
        built_first
    );
    ok(&build("two\n", &["--force"]));
    assert_ne!(
        std::fs::read_to_string(&worker_digest).unwrap(),
        built_first
    );
    no_temporary_files(&build_out);
}
