// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A submit while the builds bucket cannot take a new build for a moment: what a cluster that
//! lost the node leading the bucket's stream looks like on nats-server 2.9.10 (`no stream found
//! for given subject` for several seconds; found by the chaos test, `chaos.rs`). The
//! coordinator tries storing the build again for up to 5 s, and the submit is accepted once
//! the bucket is back. Here the bucket is made unreachable by moving its stream's subjects
//! away (a stream update) and back 2.5 s later.

use std::process::Command;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use kaniko_common::subjects::{Names, kv_stream};

use super::{Fleet, binary, copy_context, describe, platforms};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_while_the_builds_bucket_is_unreachable_for_a_moment_is_stored_once_it_is_back() {
    let (native, _) = platforms();
    let mut fleet = Fleet::start().await;
    fleet.coordinator_with(&[]);
    fleet.worker_with("native-1", None, &[]);
    fleet.wait_for_workers(&["native-1"]);
    let context = copy_context(&fleet.dir.path().join("ctx"), &fleet.registry.host());
    let destination = format!("{}/stored:v1", fleet.registry.host());

    let js = jetstream::new(async_nats::connect(fleet.nats.url()).await.expect("nats"));
    let name = kv_stream(&Names::default().builds_bucket());
    let config = js
        .get_stream(&name)
        .await
        .expect("builds stream")
        .info()
        .await
        .expect("stream info")
        .config
        .clone();
    let mut away = config.clone();
    away.subjects = vec!["$KV.KANIKO_BUILDS_AWAY.>".to_string()];
    js.update_stream(&away).await.expect("subjects moved away");
    let moved_at = Instant::now();
    let restore = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        js.update_stream(&config).await.expect("subjects back");
    });

    let (url, platform) = (fleet.nats.url(), native.to_string());
    let submit = tokio::task::spawn_blocking(move || {
        Command::new(binary("coordinator"))
            .arg("submit")
            .args(["--driver", "nats", "--detach", "--nats", &url])
            .arg("--context")
            .arg(&context)
            .args(["--destination", &destination])
            .args(["--multi-platform", &platform])
            .output()
            .expect("coordinator submit")
    });
    let output = submit.await.expect("submit thread");
    restore.await.expect("restore");
    assert!(
        output.status.success(),
        "{}\n{}",
        describe(&output),
        fleet.logs()
    );
    let logs = fleet.logs();
    assert!(
        logs.contains("storing build") && logs.contains("failed (attempt 1)"),
        "the build was stored by a later try (submit answered {:?} after the move)\n{logs}",
        moved_at.elapsed()
    );

    // The build it accepted goes on to its index.
    let build_id = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = Command::new(binary("coordinator"))
            .args(["status", &build_id, "--nats", &fleet.nats.url()])
            .output()
            .expect("coordinator status");
        let text = String::from_utf8_lossy(&status.stdout).to_string();
        if text.contains("succeeded") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "build {build_id} never succeeded: {}\n{}",
            describe(&status),
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
