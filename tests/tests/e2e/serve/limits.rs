// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `worker serve --max-build-disk` against bombs sent as tasks: a context that is itself a
//! gzip of zeros, and a context whose ADD archive is one. Each task fails for good (not
//! retried) naming the limit, and the same worker then builds an ordinary task.

use std::time::Duration;

use kaniko_common::messages::{ContextRef, ErrorKind, TaskOutcome};
use kaniko_tests::tarball::tar_of;
use kaniko_tests::{Nats, Registry, init_test_tracing};
use sha2::{Digest, Sha256};

use super::{Worker, next_result, setup, task};

use crate::run::escapes::pipe_through;

async fn upload(bus: &kaniko_nats::Bus, bytes: &[u8]) -> ContextRef {
    let sha = hex(&Sha256::digest(bytes));
    bus.upload_context(bytes, &sha, bytes.len() as u64)
        .await
        .unwrap();
    ContextRef {
        sha256: sha,
        size: bytes.len() as u64,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn bombs_fail_naming_the_limit_and_the_worker_goes_on_serving() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let registry = Registry::start().unwrap();
    let bus = setup(&nats).await;
    let mut worker = Worker::start_with(
        &nats,
        &registry,
        "serve-limits",
        &["--max-build-disk", "1MiB"],
    );
    let zeros = vec![0u8; 5 << 20];
    let dockerfile_copy = b"FROM scratch\nCOPY zeros /\n";
    let context_bomb = pipe_through(
        "gzip",
        &["-n", "-c"],
        &tar_of(&[("Dockerfile", dockerfile_copy), ("zeros", &zeros)]),
    );
    let archive_bomb = pipe_through("gzip", &["-n", "-c"], &tar_of(&[("zeros", &zeros)]));
    let add_bomb = tar_of(&[
        ("Dockerfile", b"FROM scratch\nADD bomb.tar.gz /\n"),
        ("bomb.tar.gz", &archive_bomb),
    ]);
    for (build, bytes, needle) in [
        ("ctxbomb", context_bomb, "unpacking context"),
        ("addbomb", add_bomb, "ADD bomb.tar.gz"),
    ] {
        let mut results = bus
            .client()
            .subscribe(format!("kaniko.results.{build}"))
            .await
            .unwrap();
        let context = upload(&bus, &bytes).await;
        let destination = format!("{}/limits/{build}", registry.host());
        bus.publish_task(&task(build, context, destination))
            .await
            .unwrap();
        let result = next_result(&mut results, Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("no result for {build}:\n{}", worker.logs()));
        match &result.outcome {
            TaskOutcome::Failed(err) => {
                assert_eq!(err.kind, ErrorKind::Permanent, "{build}: {err}");
                for expected in [needle, "writing zeros (5 MiB)", "--max-build-disk 1 MiB"] {
                    assert!(
                        err.message.contains(expected),
                        "{build}: {expected:?} in {err}"
                    );
                }
            }
            other => panic!("{build} was not refused: {other:?}"),
        }
        assert!(
            worker.child.try_wait().unwrap().is_none(),
            "the worker exited after {build}:\n{}",
            worker.logs()
        );
    }
    // The same worker builds an ordinary task.
    let mut results = bus.client().subscribe("kaniko.results.fine").await.unwrap();
    let context = upload(
        &bus,
        &tar_of(&[
            ("Dockerfile", b"FROM scratch\nCOPY hello.txt /\n"),
            ("hello.txt", b"hello\n"),
        ]),
    )
    .await;
    let destination = format!("{}/limits/fine", registry.host());
    bus.publish_task(&task("fine", context, destination))
        .await
        .unwrap();
    let result = next_result(&mut results, Duration::from_secs(60))
        .await
        .expect("a result for the ordinary task");
    assert!(
        matches!(result.outcome, TaskOutcome::Built { .. }),
        "{:?}\n{}",
        result.outcome,
        worker.logs()
    );
    assert!(worker.terminate().success());
}
