// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Kaniko's retry, fallback, stage and directory flags, each shown to change what a real
//! `worker build` does: `--push-retry`, `--image-download-retry` and
//! `--image-fs-extract-retry` against a registry (behind a fault proxy) that fails more
//! requests than the registry client's own retries absorb, `--skip-default-registry-fallback`
//! with a `--registry-map` to a registry that is not there, `--skip-unused-stages=false`
//! with a failing RUN in a stage the target does not need, `--kaniko-dir` holding the
//! build's store, and `--cache-dir` after `worker warm` building on a base the registry no
//! longer has.

use std::path::{Path, PathBuf};
use std::process::Output;

use kaniko_tests::fixture::busybox_setup;
use kaniko_tests::{FaultPlan, FaultProxy, skopeo_inspect_raw};

use crate::dockerfiles::worker_build;

/// More failures than the worker's registry client tries one request (5 attempts): only the
/// flag's retry of the whole operation gets past them.
const FAILURES: usize = 5;

fn context(dir: &Path, dockerfile: &str) -> PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    ctx
}

fn build(ctx: &Path, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::block_in_place(|| worker_build(ctx, &args))
}

/// What the build printed (RUN's output included), stdout then stderr.
fn stderr(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}", stderr(out));
}

fn assert_failed(out: &Output, what: &str) {
    assert!(!out.status.success(), "{what} succeeded:\n{}", stderr(out));
}

/// Where a retry flag's faults go: the first [`FAILURES`] `method` requests whose path
/// contains `path_part`, and the Dockerfile and flags of the build (given the proxy's host
/// and a directory of the attempt's own).
struct RetryCase {
    flag: &'static str,
    method: &'static str,
    path_part: &'static str,
    dockerfile: fn(&str) -> String,
    args: fn(&str, &Path) -> Vec<String>,
}

/// Builds `case` through a fresh fault proxy with `flag=0` (which must fail) and `flag=1`
/// (which must succeed); each build met every fault.
async fn retried(registry: &kaniko_tests::Registry, dir: &Path, case: RetryCase) {
    for (retry, succeeds) in [(0, false), (1, true)] {
        let proxy = FaultProxy::start(
            registry.addr(),
            FaultPlan::FailFirstMatching {
                n: FAILURES,
                method: case.method,
                path_part: case.path_part,
                status: 500,
                code: None,
            },
        )
        .await
        .unwrap();
        let attempt = dir.join(format!("retry{retry}"));
        let ctx = context(&attempt, &(case.dockerfile)(&proxy.host()));
        let flag = format!("{}={retry}", case.flag);
        let mut args = (case.args)(&proxy.host(), &attempt);
        args.push(flag.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = build(&ctx, &args);
        assert_eq!(proxy.faulted(), FAILURES, "{}", stderr(&out));
        if succeeds {
            assert_ok(&out, &flag);
        } else {
            assert_failed(&out, &flag);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_retry_pushes_again_after_the_client_gives_up() {
    let (registry, _base, tmp) = busybox_setup().await;
    retried(
        &registry,
        tmp.path(),
        RetryCase {
            flag: "--push-retry",
            method: "PUT",
            path_part: "/manifests/",
            dockerfile: |_| "FROM scratch\nENV A=1\n".to_string(),
            args: |host, _| vec!["--destination".into(), format!("{host}/app:retry")],
        },
    )
    .await;
    // Both builds pushed to `app:retry`; only the retried one got its manifest there.
    let stored = skopeo_inspect_raw(&format!("{}/app:retry", registry.host()));
    stored.expect("the image pushed after the retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_download_retry_pulls_the_base_again() {
    let (registry, _base, tmp) = busybox_setup().await;
    retried(
        &registry,
        tmp.path(),
        RetryCase {
            flag: "--image-download-retry",
            method: "GET",
            path_part: "/manifests/",
            dockerfile: |host| format!("FROM {host}/fixtures/busybox\nENV A=1\n"),
            args: |_, _| vec!["--no-push".into()],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_fs_extract_retry_unpacks_the_base_again() {
    let (registry, base, tmp) = busybox_setup().await;
    // Leaked on purpose: the plan takes a `&'static str`.
    let layer: &'static str = Box::leak(base.layer.digest.clone().into_boxed_str());
    retried(
        &registry,
        tmp.path(),
        RetryCase {
            flag: "--image-fs-extract-retry",
            method: "GET",
            path_part: layer,
            dockerfile: |host| format!("FROM {host}/fixtures/busybox\nRUN echo ran > /ran\n"),
            // A store of its own: the layer is downloaded, not found from an earlier build.
            args: |_, dir| {
                vec![
                    "--no-push".into(),
                    format!("--store-dir={}", dir.join("store").display()),
                ]
            },
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_default_registry_fallback_keeps_the_own_registry_out() {
    let (registry, base, tmp) = busybox_setup().await;
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let ctx = context(tmp.path(), &format!("FROM {}\nENV A=1\n", base.reference));
    let map = format!("--registry-map={}={gone}", registry.host());
    let out = build(&ctx, &["--no-push", &map]);
    assert_ok(&out, "a build falling back to the image's own registry");
    let out = build(
        &ctx,
        &["--no-push", &map, "--skip-default-registry-fallback"],
    );
    assert_failed(&out, "--skip-default-registry-fallback");
    let log = stderr(&out);
    assert!(
        log.contains("--skip-default-registry-fallback") && log.contains(&gone),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_unused_stages_false_builds_every_stage() {
    let (_registry, base, tmp) = busybox_setup().await;
    let ctx = context(
        tmp.path(),
        &format!(
            "FROM {0} AS unused\nRUN echo unused-stage-ran && false\nFROM {0}\nENV A=1\n",
            base.reference
        ),
    );
    let out = build(&ctx, &["--no-push"]);
    assert_ok(&out, "the default build (unused stages skipped)");
    assert!(
        !stderr(&out).contains("unused-stage-ran"),
        "{}",
        stderr(&out)
    );
    let out = build(&ctx, &["--no-push", "--skip-unused-stages=false"]);
    assert_failed(&out, "--skip-unused-stages=false");
    let log = stderr(&out);
    assert!(log.contains("unused-stage-ran"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaniko_dir_holds_the_builds_store() {
    let (_registry, base, tmp) = busybox_setup().await;
    let ctx = context(
        tmp.path(),
        &format!("FROM {}\nRUN echo ran > /ran\n", base.reference),
    );
    let kaniko = tmp.path().join("kaniko");
    let flag = format!("--kaniko-dir={}", kaniko.display());
    let out = build(&ctx, &["--no-push", &flag]);
    assert_ok(&out, &flag);
    let hex = base.layer.digest.trim_start_matches("sha256:");
    let blob = kaniko.join("store/blobs/sha256").join(hex);
    assert!(blob.is_file(), "{} is missing", blob.display());
    // The scratch directory is there, and the build's own one below it is gone.
    let scratch: Vec<_> = std::fs::read_dir(kaniko.join("tmp")).unwrap().collect();
    assert!(scratch.is_empty(), "{scratch:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_dir_builds_with_the_base_repository_deleted() {
    let (registry, base, tmp) = busybox_setup().await;
    let cache = tmp.path().join("cache");
    let warm = tokio::task::block_in_place(|| {
        std::process::Command::new(crate::dockerfiles::worker_binary())
            .args(["warm", &base.reference, "--insecure"])
            // Kaniko's warmer spelling (`--store-dir` is the same directory).
            .arg(format!("--cache-dir={}", cache.display()))
            .output()
            .unwrap()
    });
    assert_ok(&warm, "worker warm");
    let ctx = context(
        tmp.path(),
        &format!("FROM {}\nRUN echo ran > /ran\n", base.reference),
    );
    let digest_of = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
    let with_registry = format!("{}/out:registry", registry.host());
    let digest_file = format!(
        "--digest-file={}",
        tmp.path().join("registry.digest").display()
    );
    let out = build(
        &ctx,
        &[
            "--reproducible",
            "--destination",
            &with_registry,
            &digest_file,
        ],
    );
    assert_ok(&out, "the build pulling from the registry");

    // The base's index and every child manifest deleted: the registry no longer serves it.
    let client = registry.client();
    let repository = registry.reference("fixtures/busybox");
    let digests = std::iter::once(base.index_digest.clone())
        .chain(base.children.iter().map(|(_, d)| d.digest.clone()));
    for digest in digests {
        let target = repository.clone_with_digest(digest);
        client.delete_manifest(&target).await.unwrap();
    }
    let out = build(&ctx, &["--no-push"]);
    assert_failed(&out, "a build without --cache-dir once the base is deleted");

    let with_cache = format!("{}/out:cache", registry.host());
    let digest_file = format!(
        "--digest-file={}",
        tmp.path().join("cache.digest").display()
    );
    let cache_flag = format!("--cache-dir={}", cache.display());
    let out = build(
        &ctx,
        &[
            "--reproducible",
            "--destination",
            &with_cache,
            &digest_file,
            &cache_flag,
        ],
    );
    assert_ok(&out, &cache_flag);
    assert!(
        stderr(&out).contains("base image from --cache-dir"),
        "{}",
        stderr(&out)
    );
    assert_eq!(digest_of("cache.digest"), digest_of("registry.digest"));
}
