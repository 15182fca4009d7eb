// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator submit` as a spawned binary against a real nats-server and a scripted API
//! (the test plays the coordinator): the context is uploaded without ignored files, the
//! events are replayed and summarised, the digest and metadata files are written, and a
//! refused or failed build exits non-zero.

use std::path::{Path, PathBuf};
use std::process::Command;

use futures::StreamExt;
use kaniko_common::messages::{Event, EventKind};
use kaniko_common::platform::Platform;
use kaniko_nats::{self as bus, Bus};
use kaniko_tests::{Nats, init_test_tracing};

use super::setup;

fn coordinator_binary() -> PathBuf {
    kaniko_tests::workspace_binary("coordinator")
}

fn descriptor(hex: char, platform: Option<&str>) -> kaniko_common::oci::Descriptor {
    kaniko_common::oci::Descriptor {
        media_type: kaniko_common::oci::OCI_MANIFEST.into(),
        digest: format!("sha256:{}", hex.to_string().repeat(64)),
        size: 100,
        platform: platform.map(|p| Platform::parse(p).unwrap()),
        annotations: Default::default(),
    }
}

/// Plays the coordinator's API for one submit: checks the uploaded context, replies with
/// `reply`, then publishes `events` for the build. Returns the request it received.
async fn scripted_api(
    bus: Bus,
    reply: kaniko_common::messages::SubmitReply,
    events: Vec<EventKind>,
) -> tokio::task::JoinHandle<(kaniko_common::messages::BuildRequest, Vec<String>)> {
    let mut requests = bus.client().subscribe("kaniko.api.submit").await.unwrap();
    tokio::spawn(async move {
        let request = requests.next().await.unwrap();
        let build: kaniko_common::messages::BuildRequest =
            kaniko_common::messages::codec::decode_json(&request.payload).unwrap();
        let mut tarball = Vec::new();
        bus.download_context(&build.context.sha256, &mut tarball)
            .await
            .unwrap();
        let names: Vec<String> = tar::Archive::new(&tarball[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        bus.client()
            .publish_with_headers(
                request.reply.unwrap(),
                bus::json_headers(),
                kaniko_common::messages::codec::encode_json(&reply)
                    .unwrap()
                    .into(),
            )
            .await
            .unwrap();
        if let Some(build_id) = &reply.build_id {
            for kind in events {
                let event = Event {
                    build_id: build_id.clone(),
                    at_unix_ms: 1,
                    kind,
                };
                bus.publish_event(&event).await.unwrap();
            }
        }
        (build, names)
    })
}

fn submit_context(dir: &Path) -> PathBuf {
    let ctx = dir.join("ctx");
    for (path, content) in [
        ("Dockerfile", "FROM scratch\nCOPY app /app\n"),
        ("app", "binary"),
        ("secret.key", "do not send"),
        (".dockerignore", "*.key\n"),
    ] {
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join(path), content).unwrap();
    }
    ctx
}

#[tokio::test]
async fn submit_uploads_the_context_follows_the_events_and_writes_the_digests() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let bus = setup(&nats).await;
    let tmp = tempfile::tempdir().unwrap();
    let ctx = submit_context(tmp.path());
    let (amd64, arm64) = (
        Platform::parse("linux/amd64").unwrap(),
        Platform::parse("linux/arm64").unwrap(),
    );
    let index = descriptor('f', None);
    let api = scripted_api(
        bus.clone(),
        kaniko_common::messages::SubmitReply::accepted("sb1"),
        vec![
            EventKind::Accepted {
                platforms: vec![amd64.clone(), arm64.clone()],
            },
            EventKind::PlatformStarted {
                platform: amd64.clone(),
                worker_id: "w-amd".into(),
                attempt: 1,
            },
            EventKind::Log {
                platform: amd64.clone(),
                line: "[2/2] COPY app /app".into(),
            },
            EventKind::PlatformDone {
                platform: amd64.clone(),
                descriptor: descriptor('a', Some("linux/amd64")),
            },
            EventKind::PlatformDone {
                platform: arm64.clone(),
                descriptor: descriptor('b', Some("linux/arm64")),
            },
            EventKind::Finished {
                index: Some(index.clone()),
                platforms: vec![
                    kaniko_common::messages::PlatformDescriptor {
                        platform: amd64.clone(),
                        descriptor: descriptor('a', Some("linux/amd64")),
                    },
                    kaniko_common::messages::PlatformDescriptor {
                        platform: arm64.clone(),
                        descriptor: descriptor('b', Some("linux/arm64")),
                    },
                ],
                failed: vec![],
                tags: vec![],
            },
        ],
    )
    .await;
    let digest_file = tmp.path().join("out/digest");
    let metadata_file = tmp.path().join("out/metadata.json");
    std::fs::create_dir_all(tmp.path().join("out")).unwrap();
    let out = tokio::task::spawn_blocking({
        let (ctx, digest_file, metadata_file) =
            (ctx.clone(), digest_file.clone(), metadata_file.clone());
        let url_nats = nats.url();
        move || {
            Command::new(coordinator_binary())
                .arg("submit")
                .args(["--driver", "nats", "--nats", &url_nats])
                .arg("--context")
                .arg(&ctx)
                .args(["-d", "127.0.0.1:5000/app:1"])
                .args(["--multi-platform", "linux/amd64,linux/arm64"])
                .arg("--digest-file")
                .arg(&digest_file)
                .arg("--metadata-file")
                .arg(&metadata_file)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let (request, names) = api.await.unwrap();
    assert_eq!(request.platforms, vec![amd64, arm64]);
    assert_eq!(request.destinations, vec!["127.0.0.1:5000/app:1"]);
    assert_eq!(request.dockerfile, "Dockerfile");
    assert_eq!(names, vec![".dockerignore", "Dockerfile", "app"]);

    assert!(
        stderr.contains("[linux/amd64] building on w-amd"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[linux/amd64] [2/2] COPY app /app"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("published index {}", index.digest)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("sha256:{}", "b".repeat(64))),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&digest_file).unwrap(), index.digest);
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata_file).unwrap()).unwrap();
    assert_eq!(metadata["build_id"], "sb1");
    assert_eq!(metadata["state"], "succeeded");
    assert_eq!(metadata["index"]["digest"], serde_json::json!(index.digest));
    assert_eq!(metadata["platforms"][1]["platform"], "linux/arm64");
}

#[tokio::test]
async fn submit_exits_non_zero_when_refused_or_failed() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let bus = setup(&nats).await;
    let tmp = tempfile::tempdir().unwrap();
    let ctx = submit_context(tmp.path());

    let api = scripted_api(
        bus.clone(),
        kaniko_common::messages::SubmitReply::refused(kaniko_common::messages::WireError::refused(
            "no live native worker for linux/arm64",
        )),
        vec![],
    )
    .await;
    let out = tokio::task::spawn_blocking({
        let (url, ctx) = (nats.url(), ctx.clone());
        move || {
            Command::new(coordinator_binary())
                .arg("submit")
                .args(["--driver", "nats", "--nats", &url])
                .arg("--context")
                .arg(&ctx)
                .args(["-d", "r/app:1", "--require-native-nodes"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("build refused: refused: no live native worker for linux/arm64"),
        "{stderr}"
    );
    assert!(api.await.unwrap().0.require_native_nodes);

    let api = scripted_api(
        bus.clone(),
        kaniko_common::messages::SubmitReply::accepted("sb2"),
        vec![EventKind::Failed {
            errors: vec![kaniko_common::messages::WireError::permanent(
                "linux/amd64: Dockerfile:2: unknown instruction FORM",
            )],
            index: None,
            platforms: vec![],
            tags: vec![],
        }],
    )
    .await;
    let out = tokio::task::spawn_blocking({
        let (url, ctx) = (nats.url(), ctx.clone());
        move || submit_blocking(&url, &ctx)
    })
    .await
    .unwrap();
    api.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("build sb2 failed; nothing was published"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Dockerfile:2: unknown instruction FORM"),
        "{stdout}"
    );

    // The local driver's registry flags mean nothing to the fleet: a clear error, nothing
    // sent (the local driver itself is tested in local_driver.rs).
    let out = Command::new(coordinator_binary())
        .args(["submit", "--driver", "nats", "--nats", &nats.url()])
        .args(["--insecure-registry", "127.0.0.1:5000", "-d", "r/app:1"])
        .arg("--context")
        .arg(&ctx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--insecure-registry applies to --driver local only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn submit_blocking(url: &str, ctx: &Path) -> std::process::Output {
    Command::new(coordinator_binary())
        .arg("submit")
        .args(["--driver", "nats", "--nats", url])
        .arg("--context")
        .arg(ctx)
        .args(["-d", "r/app:1"])
        .output()
        .unwrap()
}
