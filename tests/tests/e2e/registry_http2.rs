// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! HTTP/2 to registries: a TLS docker-registry (Go's server offers `h2` through ALPN) is
//! pushed to in HTTP/2, as its access log shows, and in HTTP/1.1 with `--registry-http1`; a
//! proxy that negotiates HTTP/2 and then breaks it (every stream reset with
//! `HTTP_1_1_REQUIRED`, garbage instead of frames, or the connection closed) still gets the
//! push, over HTTP/1.1, and the log says the fallback was taken, once.

use std::path::Path;
use std::process::{Command, Output};

use kaniko_tests::Registry;
use kaniko_tests::h2_proxy::{H2BreakingProxy, H2Fault};
use kaniko_tests::nats_secure::TlsFiles;

const FALLBACK: &str = "falling back to HTTP/1.1";

fn context(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n").unwrap();
    std::fs::write(dir.join("a.txt"), "over which protocol?\n").unwrap();
}

fn push(context: &Path, host: &str, tag: &str, flags: &[&str]) -> Output {
    Command::new(kaniko_tests::workspace_binary("worker"))
        .args(["build", "--log-format", "text", "--context"])
        .arg(context)
        .args(["--destination", &format!("{host}/app:{tag}")])
        .args(["--skip-tls-verify-registry", host])
        .args(flags)
        .output()
        .expect("spawn worker")
}

fn stderr(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "worker build failed:\n{text}");
    text
}

/// The protocols of the registry's access-log lines for the app's requests.
fn protocols(log: &str) -> (usize, usize) {
    let lines = || log.lines().filter(|l| l.contains(" /v2/app/"));
    let h2 = lines().filter(|l| l.contains(" HTTP/2.0\"")).count();
    let h1 = lines().filter(|l| l.contains(" HTTP/1.1\"")).count();
    (h2, h1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_registry_gets_http2_and_registry_http1_forces_http1() {
    let tmp = tempfile::tempdir().unwrap();
    let tls = TlsFiles::generate(&tmp.path().join("tls")).unwrap();
    let registry = Registry::start_tls(&tls).unwrap();
    let ctx = tmp.path().join("ctx");
    context(&ctx);
    let host = registry.host();

    let out = tokio::task::block_in_place(|| push(&ctx, &host, "h2", &[]));
    let log = stderr(&out);
    assert!(!log.contains(FALLBACK), "{log}");
    let seen = registry.logs();
    let (h2, h1) = protocols(&seen);
    assert!(h2 > 0 && h1 == 0, "HTTP/2.0: {h2}, HTTP/1.1: {h1}\n{seen}");

    let out = tokio::task::block_in_place(|| push(&ctx, &host, "h1", &["--registry-http1"]));
    stderr(&out);
    let later = registry.logs();
    let (h2_after, h1_after) = protocols(later.get(seen.len()..).unwrap_or(&later));
    assert!(
        h2_after == 0 && h1_after > 0,
        "with --registry-http1: HTTP/2.0: {h2_after}, HTTP/1.1: {h1_after}\n{later}"
    );
    let client = registry.client();
    for tag in ["h2", "h1"] {
        client
            .pull_manifest_raw(&registry.reference(&format!("app:{tag}")))
            .await
            .unwrap_or_else(|err| panic!("app:{tag}: {err}"));
    }
}

async fn push_through_breaking_proxy(fault: H2Fault) {
    let tmp = tempfile::tempdir().unwrap();
    let tls = TlsFiles::generate(&tmp.path().join("tls")).unwrap();
    let registry = Registry::start_tls(&tls).unwrap();
    let proxy = H2BreakingProxy::start(&tls, registry.addr(), fault)
        .await
        .unwrap();
    let ctx = tmp.path().join("ctx");
    context(&ctx);
    let host = proxy.host();

    let out = tokio::task::block_in_place(|| push(&ctx, &host, "through", &[]));
    let log = stderr(&out);
    assert_eq!(
        log.matches(FALLBACK).count(),
        1,
        "{fault:?}: the fallback is not logged once:\n{log}"
    );
    assert!(log.contains(&host), "{log}");
    assert!(
        proxy.h2_connections() >= 1 && proxy.http1_connections() >= 1,
        "{fault:?}: h2 {}, http/1.1 {}",
        proxy.h2_connections(),
        proxy.http1_connections()
    );
    let (h2, h1) = protocols(&registry.logs());
    assert!(
        h2 == 0 && h1 > 0,
        "{fault:?}: HTTP/2.0: {h2}, HTTP/1.1: {h1}"
    );
    registry
        .client()
        .pull_manifest_raw(&registry.reference("app:through"))
        .await
        .unwrap();

    // `--registry-http1` never offers HTTP/2 to the proxy.
    let before = proxy.h2_connections();
    let out = tokio::task::block_in_place(|| push(&ctx, &host, "forced", &["--registry-http1"]));
    let log = stderr(&out);
    assert!(!log.contains(FALLBACK), "{log}");
    assert_eq!(proxy.h2_connections(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_resetting_http2_streams_with_http_1_1_required_gets_http1() {
    push_through_breaking_proxy(H2Fault::ResetHttp11Required).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_sending_garbage_after_alpn_h2_gets_http1() {
    push_through_breaking_proxy(H2Fault::Garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_closing_the_connection_after_alpn_h2_gets_http1() {
    push_through_breaking_proxy(H2Fault::Close).await;
}
