// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A submit that meets a fleet in the middle of a failover is made again instead of lost:
//! the coordinator tries storing a new build's record again while the BUILDS bucket does not
//! answer (its stream gone for a moment, as when a cluster elects its leader), and
//! `coordinator submit` submits again while no coordinator answers (one restarting).

use std::process::{Command, Output};
use std::time::Duration;

use async_nats::jetstream;
use kaniko_common::subjects::{Names, kv_stream};
use kaniko_tests::skopeo_inspect_raw;

use super::{Daemon, Fleet, binary, copy_context, describe, platforms};

/// `coordinator submit` of the copy context for the native platform to `<registry>/<name>`,
/// started now; its output once it ends.
fn spawn_submit(fleet: &Fleet, name: &str) -> std::thread::JoinHandle<Output> {
    let context = copy_context(&fleet.dir.path().join(name), &fleet.registry.host());
    let mut command = Command::new(binary("coordinator"));
    command
        .arg("submit")
        .args(["--driver", "nats"])
        .args(["--nats", &fleet.nats.url()])
        .arg("--context")
        .arg(context)
        .args([
            "--destination",
            &format!("{}/{name}:1", fleet.registry.host()),
        ])
        .args(["--platform", &platforms().0.to_string()])
        .args(["--timeout", "120"])
        .env("RUST_LOG", "info");
    std::thread::spawn(move || command.output().expect("coordinator submit"))
}

/// Waits for `submit` (of [`spawn_submit`] to `name`) to end, checks that it ended published
/// and its image is in the registry; its output.
async fn published(fleet: &Fleet, name: &str, submit: std::thread::JoinHandle<Output>) -> Output {
    let out = tokio::task::spawn_blocking(move || submit.join().expect("submit thread"))
        .await
        .expect("join");
    assert!(
        out.status.success(),
        "submit failed\n{}\n{}",
        describe(&out),
        fleet.logs()
    );
    let reference = format!("{}/{name}:1", fleet.registry.host());
    skopeo_inspect_raw(&reference).unwrap_or_else(|e| panic!("{reference}: {e:#}"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_while_the_builds_bucket_does_not_answer_is_stored_once_it_does() {
    let fleet = Fleet::with_workers(&[("retry-1", None)]).await;

    // The BUILDS bucket's stream goes away (its messages with it) and comes back 3 s later
    // with the same configuration: a stream that lost its leader answers nothing meanwhile.
    let client = async_nats::connect(fleet.nats.url())
        .await
        .expect("connect");
    let js = jetstream::new(client);
    let stream = kv_stream(&Names::default().builds_bucket());
    let config = js
        .get_stream(&stream)
        .await
        .expect("the builds stream")
        .cached_info()
        .config
        .clone();
    js.delete_stream(&stream)
        .await
        .expect("deleting the stream");
    let submit = spawn_submit(&fleet, "while-away");
    tokio::time::sleep(Duration::from_secs(3)).await;
    js.create_stream(config)
        .await
        .expect("recreating the stream");

    published(&fleet, "while-away", submit).await;
    let logs = fleet.logs();
    assert!(
        logs.contains("storing a build failed (attempt 1)"),
        "the coordinator never tried again:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_while_no_coordinator_answers_is_made_again_until_one_does() {
    let mut fleet = Fleet::with_workers(&[("retry-2", None)]).await;

    // The coordinator restarts: none serves the API for 3 s. The context store it made stays.
    let index = fleet
        .daemons
        .iter()
        .position(|d| d.name == "coordinator")
        .expect("coordinator");
    let mut gone: Daemon = fleet.daemons.remove(index);
    gone.child.kill().expect("SIGKILL");
    let _ = gone.child.wait();
    let submit = spawn_submit(&fleet, "restarting");
    tokio::time::sleep(Duration::from_secs(3)).await;
    fleet.daemons.push(gone);
    fleet.coordinator_with(&[]);

    let out = published(&fleet, "restarting", submit).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no coordinator serves") && stderr.contains("trying again"),
        "the submit never said it waited for a coordinator:\n{stderr}"
    );
}
