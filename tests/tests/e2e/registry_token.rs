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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_fetches_bearer_tokens_with_the_config_json_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start().unwrap();
    let proxy = TokenProxy::start(registry.addr(), "tester", "s3cret")
        .await
        .unwrap();
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

    let with_credentials = tmp.path().join("credentials");
    std::fs::create_dir_all(&with_credentials).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("tester:s3cret");
    std::fs::write(
        with_credentials.join("config.json"),
        serde_json::json!({ "auths": { host.clone(): { "auth": auth } } }).to_string(),
    )
    .unwrap();
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
