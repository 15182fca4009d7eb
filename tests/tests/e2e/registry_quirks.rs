// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Hosted registries' quirks, each simulated by the fault proxy in front of the real
//! docker-registry and met by a real `worker build`: a rate limit answered `429` with
//! `Retry-After` is waited out as long as it asks; ECR's `NAME_UNKNOWN` for a repository
//! nobody created fails the push naming the repository, with a hint to create it, and pushes
//! nothing; a cross-repository mount refused the ways GHCR and Docker Hub refuse it (`202`
//! with an upload session, `403`) falls back to an upload; a registry error body that echoes
//! the request's token is shown with the token redacted; and a TLS registry whose CA is not
//! trusted fails at once, naming the host; a mirror with a path prefix (ECR Public's layout
//! of Docker Hub's images) serves `FROM busybox`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kaniko_registry::{BlobPush, RegistryClient, RegistryOptions, RetryPolicy};
use kaniko_tests::fixture::busybox_setup;
use kaniko_tests::nats_secure::TlsFiles;
use kaniko_tests::token_proxy::TokenProxy;
use kaniko_tests::{FaultPlan, FaultProxy, Registry, Reply, skopeo_inspect_raw};

/// `worker build --log-format text --context <ctx> <args>` on a blocking thread (the
/// in-process proxies keep serving), with `DOCKER_CONFIG` set when given.
async fn worker_build(ctx: &Path, args: &[String], docker_config: Option<&Path>) -> Output {
    let mut command = Command::new(kaniko_tests::workspace_binary("worker"));
    command
        .args(["build", "--log-format", "text", "--context"])
        .arg(ctx)
        .args(args);
    if let Some(dir) = docker_config {
        command.env("DOCKER_CONFIG", dir);
    }
    tokio::task::spawn_blocking(move || command.output().expect("spawn worker"))
        .await
        .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A push to `destination` over plain HTTP, without the permission check.
fn push_args(destination: &str) -> Vec<String> {
    args(&[
        "--destination",
        destination,
        "--insecure",
        "--skip-push-permission-check",
    ])
}

/// `<dir>/ctx` with `dockerfile` and a file `a.txt` it may copy.
fn context(dir: &Path, dockerfile: &str) -> std::path::PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(ctx.join("a.txt"), "quirks\n").unwrap();
    ctx
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether the registry's access log shows a `method` request whose URI contains `part`.
fn requested(registry: &Registry, method: &str, part: &str) -> bool {
    registry.requests(method, &[part]) > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_out_as_long_as_it_asks() {
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(
        registry.addr(),
        FaultPlan::Answer {
            n: 1,
            method: "PUT",
            target_part: "/manifests/",
            reply: Reply::Status {
                status: 429,
                headers: &[("Retry-After", "2")],
                body: r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"rate exceeded"}]}"#,
            },
        },
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path(), "FROM scratch\nCOPY a.txt /a.txt\n");
    let destination = format!("{}/quirks/throttled:1", proxy.host());
    let started = Instant::now();
    let out = worker_build(
        &ctx,
        &args(&["--destination", &destination, "--insecure"]),
        None,
    )
    .await;
    let elapsed = started.elapsed();
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(proxy.faulted(), 1, "{log}");
    assert!(
        log.contains("waiting 2s for the registry's Retry-After"),
        "the log names the wait:\n{log}"
    );
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}\n{log}");
    let direct = format!("{}/quirks/throttled:1", registry.host());
    assert!(skopeo_inspect_raw(&direct).is_ok(), "{direct} has no image");
}

#[tokio::test]
async fn a_503_with_retry_after_is_waited_out_instead_of_the_backoff() {
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(
        registry.addr(),
        FaultPlan::Answer {
            n: 1,
            method: "POST",
            target_part: "/blobs/uploads/",
            reply: Reply::Status {
                status: 503,
                headers: &[("Retry-After", "1")],
                body: "",
            },
        },
    )
    .await
    .unwrap();
    // The fast policy's own pauses are at most 50 ms.
    let client = RegistryClient::new(RegistryOptions {
        insecure_registries: vec![proxy.host()],
        retry: RetryPolicy::fast(3),
        ..registry.options()
    })
    .unwrap();
    let reference =
        kaniko_registry::Reference::try_from(format!("{}/quirks/busy:1", proxy.host())).unwrap();
    let started = Instant::now();
    let pushed = client
        .push_blob_bytes(&reference, b"busy".to_vec())
        .await
        .unwrap();
    assert_eq!(pushed.outcome, BlobPush::Uploaded);
    assert_eq!(proxy.faulted(), 1);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

/// ECR's answer to a push into a repository nobody created.
const ECR_NAME_UNKNOWN: &str = r#"{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name 'quirks/missing' does not exist in the registry with id '123456789012'"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_missing_repository_names_it_and_pushes_nothing() {
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(
        registry.addr(),
        FaultPlan::Answer {
            n: usize::MAX,
            method: "POST",
            target_part: "/blobs/uploads/",
            reply: Reply::Status {
                status: 404,
                headers: &[],
                body: ECR_NAME_UNKNOWN,
            },
        },
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path(), "FROM scratch\nCOPY a.txt /a.txt\n");
    let destination = format!("{}/quirks/missing:1", proxy.host());
    // Met by the permission check before the build, or by the first upload without it.
    for extra in [None, Some("--skip-push-permission-check")] {
        let mut list = vec!["--destination", &destination, "--insecure"];
        list.extend(extra);
        let out = worker_build(&ctx, &args(&list), None).await;
        let log = stderr(&out);
        assert!(
            !out.status.success(),
            "{extra:?}: the build succeeded:\n{log}"
        );
        for part in [
            "repository quirks/missing does not exist",
            "create the repository or check its name",
            "The repository with name 'quirks/missing' does not exist in the registry with id",
        ] {
            assert!(
                log.contains(part),
                "{extra:?}: the error lacks {part:?}:\n{log}"
            );
        }
    }
    assert!(!requested(&registry, "PUT", "/v2/quirks/missing/"));
    let direct = format!("{}/quirks/missing:1", registry.host());
    assert!(skopeo_inspect_raw(&direct).is_err(), "{direct} was pushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_cross_repository_mount_falls_back_to_an_upload() {
    let (registry, base, tmp) = busybox_setup().await;
    let cases = [
        ("session", Reply::WithoutQuery),
        (
            "denied",
            Reply::Status {
                status: 403,
                headers: &[],
                body: r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
            },
        ),
    ];
    for (name, reply) in cases {
        let proxy = FaultProxy::start(
            registry.addr(),
            FaultPlan::Answer {
                n: usize::MAX,
                method: "POST",
                target_part: "mount=",
                reply,
            },
        )
        .await
        .unwrap();
        // The base through the proxy too: one registry, so its layer is mounted.
        let from = base.reference.replace(&registry.host(), &proxy.host());
        let dir = tmp.path().join(name);
        let ctx = context(&dir, &format!("FROM {from}\nCOPY a.txt /a.txt\n"));
        let destination = format!("{}/quirks/{name}:1", proxy.host());
        let out = worker_build(&ctx, &push_args(&destination), None).await;
        let log = stderr(&out);
        assert!(out.status.success(), "{name}: {log}");
        assert!(
            proxy.faulted() >= 1,
            "{name}: no mount was asked for\n{log}"
        );
        let direct = format!("{}/quirks/{name}:1", registry.host());
        assert!(skopeo_inspect_raw(&direct).is_ok(), "{direct} has no image");
        // The base layer came in by an upload.
        let layer = base.layer.digest.trim_start_matches("sha256:");
        assert!(
            requested(
                &registry,
                "PUT",
                &format!("/v2/quirks/{name}/blobs/uploads/")
            ) && registry
                .logs()
                .lines()
                .any(|l| l.contains("http.request.method=PUT") && l.contains(layer)),
            "{name}: the base layer was not uploaded"
        );
    }
    // The session the registry opened instead of mounting was cancelled, not left open.
    assert!(requested(
        &registry,
        "DELETE",
        "/v2/quirks/session/blobs/uploads/"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_error_echoing_the_token_is_shown_redacted() {
    let registry = Registry::start().unwrap();
    let tokens = TokenProxy::start(registry.addr(), "tester", "s3cret")
        .await
        .unwrap();
    let tokens_addr: std::net::SocketAddr = tokens.host().parse().unwrap();
    let proxy = FaultProxy::start(
        tokens_addr,
        FaultPlan::Answer {
            n: usize::MAX,
            method: "POST",
            target_part: "/blobs/uploads/",
            reply: Reply::Echo {
                status: 400,
                body: r#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"upload refused for quota reasons","detail":{"request":"POST with {authorization}","note":"your credential {credential} is fine"}}]}"#,
            },
        },
    )
    .await
    .unwrap();
    let host = proxy.host();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("tester:s3cret");
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({ "auths": { host.clone(): { "auth": auth } } }).to_string(),
    )
    .unwrap();
    let ctx = context(tmp.path(), "FROM scratch\nCOPY a.txt /a.txt\n");
    let destination = format!("{host}/quirks/echo:1");
    let out = worker_build(
        &ctx,
        &args(&["--destination", &destination, "--insecure-registry", &host]),
        Some(&config),
    )
    .await;
    let log = stderr(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("upload refused for quota reasons") && log.contains("BLOB_UPLOAD_INVALID"),
        "the registry's words are shown:\n{log}"
    );
    let echoed = proxy.echoed();
    assert!(!echoed.is_empty(), "nothing was echoed:\n{log}");
    for authorization in echoed {
        let credential = authorization.trim_start_matches("Bearer ");
        assert!(
            authorization.starts_with("Bearer ") && credential.len() > 8,
            "{authorization}"
        );
        assert!(!log.contains(credential), "the token is in the log:\n{log}");
    }
    assert!(log.contains("[redacted]"), "{log}");
    assert!(!log.contains("s3cret"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_registry_certificate_fails_at_once_naming_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let tls = TlsFiles::generate(&tmp.path().join("tls")).unwrap();
    let registry = Registry::start_tls(&tls).unwrap();
    let host = registry.host();
    let ctx = context(tmp.path(), "FROM scratch\nCOPY a.txt /a.txt\n");
    let destination = format!("{host}/quirks/tls:1");
    let started = Instant::now();
    let out = worker_build(&ctx, &args(&["--destination", &destination]), None).await;
    let elapsed = started.elapsed();
    let log = stderr(&out);
    assert!(!out.status.success(), "{log}");
    for part in [
        format!("the TLS certificate of {host} was not accepted"),
        "unknown certificate authority".to_string(),
        format!("--skip-tls-verify-registry {host}"),
    ] {
        assert!(log.contains(&part), "the error lacks {part:?}:\n{log}");
    }
    // One attempt: no retry was logged, and no backoff was waited.
    assert!(!log.contains("trying again"), "{log}");
    assert!(!log.contains("(attempt 1)"), "{log}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_with_a_path_prefix_serves_docker_hub_images_as_ecr_public_lays_them_out() {
    // ECR Public keeps Docker Hub's official images under `docker/library/<name>`:
    // `--registry-mirror=public.ecr.aws/docker` turns `FROM busybox` into
    // `public.ecr.aws/docker/library/busybox`. The same layout on the test registry.
    let registry = Registry::start().unwrap();
    let host = registry.host();
    kaniko_tests::fixture::push_busybox(&registry, "docker/library/busybox")
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path(), "FROM busybox\nCOPY a.txt /a.txt\n");
    let out = worker_build(
        &ctx,
        &args(&[
            "--registry-mirror",
            &format!("{host}/docker"),
            // Never Docker Hub itself: the mirror serves it or the build fails.
            "--skip-default-registry-fallback",
            "--insecure-registry",
            &host,
            "--destination",
            &format!("{host}/app:mirrored"),
        ]),
        None,
    )
    .await;
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("from={host}/docker/library/busybox:latest")),
        "resolved through the mirror's prefix: {log}"
    );
    let index = skopeo_inspect_raw(&format!("{host}/app:mirrored")).expect("skopeo inspect");
    assert!(
        index["layers"].as_array().is_some_and(|l| l.len() == 2),
        "{index}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_refused_for_a_child_the_registry_does_not_see_yet_is_pushed_again() {
    // docker-registry's filesystem storage rewrites a repository's links in place: while
    // other builds push the same child at once, the index's PUT can be answered
    // MANIFEST_BLOB_UNKNOWN for a child that is there (200 builds of one image met it). The
    // coordinator checks the children again and pushes the index once more.
    let registry = Registry::start().unwrap();
    kaniko_tests::fixture::push_busybox(&registry, "busybox")
        .await
        .unwrap();
    let proxy = FaultProxy::start(
        registry.addr(),
        FaultPlan::Answer {
            n: 1,
            method: "PUT",
            // The tag: only the coordinator moves it (the build pushes by digest).
            target_part: "/manifests/indexed",
            reply: Reply::Status {
                status: 400,
                headers: &[],
                body: r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:6a0c"}]}"#,
            },
        },
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(
        tmp.path(),
        &format!("FROM {}/busybox:latest\nCOPY a.txt /a.txt\n", proxy.host()),
    );
    let destination = format!("{}/quirks/app:indexed", proxy.host());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(kaniko_tests::workspace_binary("coordinator"))
            .env_remove("NATS_URL")
            .env_remove("KANIKO_DRIVER")
            .arg("submit")
            .arg("--context")
            .arg(&ctx)
            .args(["--destination", &destination])
            .args([
                "--insecure-registry",
                &destination[..destination.find('/').unwrap()],
            ])
            .args(["--timeout", "120"])
            .output()
            .expect("coordinator submit")
    })
    .await
    .unwrap();
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(proxy.faulted(), 1, "{log}");
    assert!(
        log.contains("checking the children again"),
        "the retry says why:\n{log}"
    );
    let direct = format!("{}/quirks/app:indexed", registry.host());
    let index = skopeo_inspect_raw(&direct).expect("the index is published");
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(1),
        "{index}"
    );
}

/// A base layer the destination repository already holds is not mounted into it again: a
/// mount rewrites the blob's link, and docker-registry rewrites it in place, so with many
/// builds pushing into one repository at once another build's manifest PUT was refused
/// (`DIGEST_INVALID`, `MANIFEST_BLOB_UNKNOWN`); the load test saw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_layer_the_repository_holds_is_not_mounted_into_it_again() {
    let (registry, base, tmp) = busybox_setup().await;
    let layer = base.layer.digest.clone();
    let mount = format!("mount={layer}");
    let mounts = || registry.requests("POST", &["/v2/quirks/again/blobs/uploads/", &mount]);
    for build in 1..=2 {
        let dir = tmp.path().join(format!("build-{build}"));
        let ctx = context(
            &dir,
            &format!("FROM {}\nCOPY a.txt /a-{build}.txt\n", base.reference),
        );
        let destination = format!("{}/quirks/again:{build}", registry.host());
        let out = worker_build(&ctx, &push_args(&destination), None).await;
        assert!(out.status.success(), "build {build}: {}", stderr(&out));
        assert!(
            skopeo_inspect_raw(&destination).is_ok(),
            "{destination} has no image"
        );
        assert_eq!(
            mounts(),
            1,
            "after build {build}: the base layer is mounted once, by the first build only"
        );
    }
}
