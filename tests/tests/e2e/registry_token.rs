// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The distribution token flow, which the registry client speaks itself: through a proxy that
//! demands bearer tokens per repository and operation (as hosted registries do), a push with
//! the credentials of `config.json` fetches tokens from the challenge's realm, reuses them,
//! and gets the image in; without credentials it is refused as unauthorized.

use std::process::{Command, Output};

use base64::Engine as _;
use kaniko_tests::Registry;
use kaniko_tests::token_proxy::TokenProxy;

fn push(context: &std::path::Path, docker_config: &std::path::Path, host: &str) -> Output {
    Command::new(kaniko_tests::workspace_binary("worker"))
        .args(["build", "--log-format", "text", "--context"])
        .arg(context)
        .args(["--destination", &format!("{host}/app:1")])
        .args(["--insecure-registry", host])
        .env("DOCKER_CONFIG", docker_config)
        .output()
        .expect("spawn worker")
}

/// A registry behind the token proxy (credentials `tester`:`s3cret`).
async fn behind_tokens() -> (Registry, TokenProxy) {
    let registry = Registry::start().unwrap();
    let proxy = TokenProxy::start(registry.addr(), "tester", "s3cret")
        .await
        .unwrap();
    (registry, proxy)
}

/// `<dir>/credentials/config.json` with the proxy's credentials for `host`; the directory.
fn credentials(dir: &std::path::Path, host: &str) -> std::path::PathBuf {
    let config = dir.join("credentials");
    std::fs::create_dir_all(&config).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("tester:s3cret");
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({ "auths": { host: { "auth": auth } } }).to_string(),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_fetches_bearer_tokens_with_the_config_json_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, proxy) = behind_tokens().await;
    let host = proxy.host();
    let context = tmp.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY a.txt /a.txt\n",
    )
    .unwrap();
    std::fs::write(context.join("a.txt"), "behind a token\n").unwrap();

    let anonymous = tmp.path().join("anonymous");
    std::fs::create_dir_all(&anonymous).unwrap();
    std::fs::write(anonymous.join("config.json"), "{}").unwrap();
    let out = tokio::task::block_in_place(|| push(&context, &anonymous, &host));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("unauthorized"), "{stderr}");
    assert_eq!(proxy.tokens_issued(), 0);

    let with_credentials = credentials(tmp.path(), &host);
    let out = tokio::task::block_in_place(|| push(&context, &with_credentials, &host));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    // One token per scope (pull; pull and push), reused by every request after it.
    let issued = proxy.tokens_issued();
    assert!((1..=4).contains(&issued), "{issued} tokens");
    registry
        .client()
        .pull_manifest_raw(&registry.reference("app:1"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mount_asks_for_a_token_that_may_pull_the_source_so_the_registry_mounts() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, proxy) = behind_tokens().await;
    let host = proxy.host();
    let config = credentials(tmp.path(), &host);
    let build = |dockerfile: &str, destination: &str| {
        let context = tmp.path().join(destination.replace([':', '/'], "-"));
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(context.join("a.txt"), "base layer\n").unwrap();
        let out = Command::new(kaniko_tests::workspace_binary("worker"))
            .args(["build", "--log-format", "text", "--context"])
            .arg(&context)
            .args(["--destination", &format!("{host}/{destination}")])
            .args(["--insecure-registry", &host])
            .env("DOCKER_CONFIG", &config)
            .env("RUST_LOG", "info,kaniko_registry=debug")
            .output()
            .expect("spawn worker");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    tokio::task::block_in_place(|| build("FROM scratch\nCOPY a.txt /a.txt\n", "base:1"));
    assert_eq!(
        proxy.mounts(),
        (0, 0),
        "the first push has nothing to mount"
    );
    // The app's base layer lives in `base`: the push to `app` mounts it from there, with a
    // token for `app` that may also pull `base` — without it the registry (as GHCR and Docker
    // Hub do) opens an upload session instead, and the layer is uploaded again.
    let log = tokio::task::block_in_place(|| {
        build(
            &format!("FROM {host}/base:1\nCOPY a.txt /again.txt\n"),
            "app:2",
        )
    });
    let (honoured, declined) = proxy.mounts();
    assert!(
        honoured >= 1 && declined == 0,
        "mounts {:?}:\n{log}",
        proxy.mounts()
    );
    assert!(!log.contains("uploading instead"), "{log}");
    let pulled = registry
        .client()
        .pull_manifest_raw(&registry.reference("app:2"))
        .await
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&pulled.bytes).unwrap();
    assert_eq!(
        manifest["layers"].as_array().map(Vec::len),
        Some(2),
        "{manifest}"
    );
}
