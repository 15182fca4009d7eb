// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator submit --driver local`: the coordinator and a worker in one process, no NATS,
//! against a real registry holding the busybox fixture. A cross-safe Dockerfile built for
//! the host's platform and a foreign one publishes one OCI index whose children's configs
//! name their architectures; a Dockerfile that would RUN on the foreign platform is refused
//! before anything is pushed; a bad Dockerfile fails with its line; with no `--driver` and no
//! NATS server named, the local driver is the default. The local builds get the fleet's
//! tasks: destinations named several ways reach the worker as their repository, once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kaniko_tests::fixture::push_busybox;
use kaniko_tests::{Registry, init_test_tracing, skopeo_inspect_raw};

use crate::fleet::platforms;

async fn registry() -> Registry {
    init_test_tracing();
    let registry = Registry::start().expect("registry");
    push_busybox(&registry, "busybox").await.expect("fixture");
    registry
}

fn context(dir: &Path, name: &str, dockerfile: &str) -> PathBuf {
    let context = dir.join(name);
    std::fs::create_dir_all(&context).expect("context dir");
    std::fs::write(context.join("Dockerfile"), dockerfile).expect("Dockerfile");
    std::fs::write(context.join("hello.txt"), "hello from the local driver\n").expect("hello");
    context
}

/// `coordinator submit` with no NATS in its environment; `extra` after the common flags.
fn submit(registry: &Registry, context: &Path, destination: &str, extra: &[&str]) -> Output {
    Command::new(kaniko_tests::workspace_binary("coordinator"))
        .env_remove("NATS_URL")
        .env_remove("KANIKO_DRIVER")
        .arg("submit")
        .arg("--context")
        .arg(context)
        .args(["--destination", destination])
        .args(["--insecure-registry", &registry.host()])
        .args(["--timeout", "180"])
        .args(extra)
        .output()
        .expect("coordinator submit")
}

pub(crate) fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Nothing at all was pushed to `repository`.
fn repository_absent(registry: &Registry, repository: &str) -> bool {
    !registry
        .storage_dir()
        .join("docker/registry/v2/repositories")
        .join(repository)
        .exists()
}

/// Submits, to a fresh registry with busybox, a build of `FROM <busybox>` followed by `body`,
/// to `<name>:v1` with `extra` flags; asserts it exits 1 and pushed nothing to `name` (not even
/// the host's platform); returns its output.
async fn submit_refused(name: &str, body: &str, extra: &[&str]) -> Output {
    let registry = registry().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = format!("{}/busybox:latest", registry.host());
    let context = context(dir.path(), name, &format!("FROM {base}\n{body}"));
    let destination = format!("{}/{name}:v1", registry.host());
    let output = submit(&registry, &context, &destination, extra);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        repository_absent(&registry, name),
        "nothing was pushed to {name}"
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_safe_build_for_two_platforms_publishes_one_index() {
    let (native, foreign) = platforms();
    let registry = registry().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = format!("{}/busybox:latest", registry.host());
    let context = context(
        dir.path(),
        "app",
        &format!(
            "FROM --platform=$BUILDPLATFORM {base} AS build\n\
             COPY hello.txt /out/hello.txt\n\
             RUN echo \"ran in the sandbox\" > /out/ran.txt\n\
             FROM {base}\n\
             COPY --from=build /out/hello.txt /out/ran.txt /\n\
             LABEL local=yes\n"
        ),
    );
    let destination = format!("{}/app:v1", registry.host());
    let metadata = dir.path().join("metadata.json");
    let digest_file = dir.path().join("digest");
    let platforms = format!("{native},{foreign}");
    let output = submit(
        &registry,
        &context,
        &destination,
        &[
            "--driver",
            "local",
            "--multi-platform",
            &platforms,
            "--metadata-file",
            metadata.to_str().expect("utf-8 path"),
            "--digest-file",
            digest_file.to_str().expect("utf-8 path"),
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Build logs stream to the terminal, per platform.
    assert!(
        stderr.contains(&format!("[{foreign}]")) && stderr.contains("COPY hello.txt"),
        "{}",
        describe(&output)
    );
    // The build stage's RUN executed in-process, natively, for both platforms.
    for arch in [&native.architecture, &foreign.architecture] {
        let tree = kaniko_tests::tree::FileTree::of_image(&destination, Some(arch))
            .unwrap_or_else(|err| panic!("{arch}: {err}"));
        assert!(tree.get("/ran.txt").is_some(), "{arch}: /ran.txt missing");
    }

    crate::fleet::check_index_labelled(&destination, &[&native, &foreign], "local");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let digest = std::fs::read_to_string(&digest_file).expect("digest file");
    assert!(
        digest.starts_with("sha256:") && stdout.contains(&format!("published index {digest}")),
        "{}",
        describe(&output)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).expect("metadata file")).expect("json");
    assert_eq!(meta["state"], "succeeded", "{meta:#}");
    assert_eq!(meta["index"]["digest"], digest.as_str(), "{meta:#}");
    assert_eq!(
        meta["platforms"].as_array().map(Vec::len),
        Some(2),
        "{meta:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_that_needs_run_on_a_foreign_arch_is_refused_before_anything_is_pushed() {
    let (native, foreign) = platforms();
    let platforms = format!("{native},{foreign}");
    let output = submit_refused(
        "runner",
        "COPY hello.txt /hello.txt\nRUN cat /hello.txt\n",
        &["--driver", "local", "--multi-platform", &platforms],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("platform {foreign} needs RUN"))
            && stderr.contains("line 3")
            && stderr.contains(&format!("--driver nats with a native {foreign} worker")),
        "{}",
        describe(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_dockerfile_fails_with_its_line_and_local_is_the_default_driver() {
    let (native, _) = platforms();
    // No --driver, no --nats, no NATS_URL: the embedded local driver.
    let output = submit_refused(
        "bad",
        "COPY\nFROBNICATE everything\n",
        &["--multi-platform", &native.to_string()],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(stderr.contains("dockerfile:2:"), "{}", describe(&output));
    assert!(
        !stderr.contains("nats"),
        "the local driver needs no NATS\n{}",
        describe(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_run_caches_reach_the_local_builds() {
    let registry = registry().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let secret_value = "local-driver-secret-8c1f";
    let secret_file = tmp.path().join("token");
    std::fs::write(&secret_file, secret_value).expect("secret file");
    let cache_dir = tmp.path().join("run-cache");
    let base = format!("{}/busybox:latest", registry.host());
    // The first build leaves a file in the cache; the second reads it back. The secret's
    // length is written outside the mount, its value never.
    let dockerfile = format!(
        "FROM {base}\n\
         RUN --mount=type=secret,id=token,required=true \
         --mount=type=cache,target=/cache,id=local \
         echo $(wc -c < /run/secrets/token) > /secret-length && \
         cat /cache/seen > /seen-before 2>/dev/null; echo seen > /cache/seen\n"
    );
    let context = context(tmp.path(), "mounts", &dockerfile);
    let secret_flag = format!("id=token,src={}", secret_file.display());
    let cache_flag = cache_dir.to_str().expect("utf-8 path");
    let mut images = Vec::new();
    for run in ["first", "second"] {
        let destination = format!("{}/mounts:{run}", registry.host());
        let output = submit(
            &registry,
            &context,
            &destination,
            &["--secret", &secret_flag, "--run-cache-dir", cache_flag],
        );
        let text = describe(&output);
        assert!(output.status.success(), "{run} build\n{text}");
        assert!(
            !text.contains(secret_value),
            "the secret's value is in the output of the {run} build"
        );
        let tree = kaniko_tests::tree::FileTree::of_image(&destination, None)
            .unwrap_or_else(|err| panic!("{destination}: {err}"));
        images.push(tree);
    }
    let holds = |tree: &kaniko_tests::tree::FileTree, path: &str, content: &str| {
        let entry = tree.get(path).unwrap_or_else(|| panic!("{path} missing"));
        entry.sha256.as_deref() == Some(&*crate::dockerfiles::sha256_hex(content.as_bytes()))
    };
    for tree in &images {
        let expected = format!("{}\n", secret_value.len());
        assert!(
            holds(tree, "/secret-length", &expected),
            "/secret-length does not hold the secret's length"
        );
        assert!(
            tree.get("/run/secrets/token").is_none(),
            "the secret is in the image"
        );
        assert!(
            tree.get("/cache/seen").is_none(),
            "the cache is in the image"
        );
    }
    assert!(
        images[0].get("/seen-before").is_some_and(|e| e.size == 0),
        "the first build starts with an empty cache"
    );
    assert!(
        holds(&images[1], "/seen-before", "seen\n"),
        "the second build sees what the first left in the cache"
    );
    // Without the secret the required mount fails the build, naming the id; with the nats
    // driver the flag is refused (secrets never travel over NATS).
    let output = submit(
        &registry,
        &context,
        &format!("{}/mounts:none", registry.host()),
        &[],
    );
    let text = describe(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("token"), "names the secret's id\n{text}");
    let output = Command::new(kaniko_tests::workspace_binary("coordinator"))
        .arg("submit")
        .args(["--driver", "nats", "--nats", "nats://127.0.0.1:1"])
        .arg("--context")
        .arg(&context)
        .args(["--destination", &format!("{}/mounts:nats", registry.host())])
        .args(["--secret", &secret_flag])
        .output()
        .expect("coordinator submit");
    let text = describe(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("--secret"), "names the refused flag\n{text}");
}

/// The local driver's per-platform build is told what a fleet worker is told: the request's
/// repositories, each once, however many tags name them (a duplicate, another tag). The
/// worker's own view shows it: a secret scoped elsewhere is withheld naming the first
/// destination it does not cover, which is the repository, not one of its tags. Every tag
/// then names the one index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_builds_get_each_repository_once_as_fleet_tasks_do() {
    let registry = registry().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("token");
    std::fs::write(&secret_file, "scoped-elsewhere").expect("secret file");
    let context = context(
        dir.path(),
        "dedup",
        &format!(
            "FROM {}/busybox:latest\n\
             COPY hello.txt /hello.txt\n\
             RUN --mount=type=secret,id=token test ! -e /run/secrets/token\n",
            registry.host()
        ),
    );
    let repository = format!("{}/dedup", registry.host());
    let (one, two) = (format!("{repository}:1"), format!("{repository}:2"));
    let secret = format!(
        "id=token,src={},scope={}/elsewhere",
        secret_file.display(),
        registry.host()
    );
    let output = submit(
        &registry,
        &context,
        &one,
        &[
            "--driver",
            "local",
            "--destination",
            &one,
            "--destination",
            &two,
            "--secret",
            &secret,
        ],
    );
    let text = describe(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(&format!("does not cover the destination {repository})")),
        "the worker was not given the repository alone\n{text}"
    );
    assert_eq!(
        text.matches("pushed by digest").count(),
        1,
        "one repository, one push\n{text}"
    );
    let indexes: Vec<serde_json::Value> = [&one, &two]
        .iter()
        .map(|tag| skopeo_inspect_raw(tag).unwrap_or_else(|err| panic!("{tag}: {err}")))
        .collect();
    assert!(indexes[0]["manifests"].is_array(), "{:#}", indexes[0]);
    assert_eq!(indexes[0], indexes[1], "both tags name the one index");
}
