// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `worker serve` as a spawned binary against a real nats-server and registry: it takes a
//! task published by hand, builds it from the uploaded context, pushes, reports `Built` and
//! acks; garbage is terminated while it keeps serving; a bad Dockerfile fails once and is not
//! retried; SIGTERM with nothing in flight exits 0 after a `leaving` heartbeat.
//!
//! The binary is found next to this test executable (`target/debug/worker`); build it first
//! (`cargo build -p kaniko-worker`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{
    ContextRef, ErrorKind, Event, EventKind, Heartbeat, Task, TaskOutcome, TaskResult,
};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::Names;
use kaniko_nats::{self as bus, Bus, BusSettings};
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::{Nats, Registry, init_test_tracing};
use sha2::{Digest, Sha256};

mod in_process;
mod limits;
mod submit;

fn worker_binary() -> PathBuf {
    kaniko_tests::workspace_binary("worker")
}

/// A spawned `worker serve`, killed on drop.
pub(crate) struct Worker {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Worker {
    fn start(nats: &Nats, registry: &Registry, id: &str) -> Worker {
        Worker::start_with(nats, registry, id, &[])
    }

    /// [`Worker::start`] with more `worker serve` flags.
    pub(crate) fn start_with(nats: &Nats, registry: &Registry, id: &str, extra: &[&str]) -> Worker {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("worker.log");
        let child = Command::new(worker_binary())
            .arg("serve")
            .args(["--nats", &nats.url()])
            .args(["--id", id])
            .args(["--heartbeat-interval", "1"])
            .args(["--ack-wait", "3"])
            .args(["--insecure-registry", &registry.host()])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn worker serve");
        Worker {
            child,
            log,
            _dir: dir,
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("worker did not exit after SIGTERM:\n{}", self.logs());
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("worker log:\n{}", self.logs());
        }
    }
}

/// A context tarball of `files`; returns its bytes and sha256.
fn context(files: &[(&str, &str)]) -> (Vec<u8>, String) {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    let bytes = builder.into_inner().unwrap();
    let sha = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (bytes, sha)
}

pub(crate) async fn setup(nats: &Nats) -> Bus {
    let client = bus::connect(&bus::NatsOptions::new(nats.url()))
        .await
        .unwrap();
    let bus = Bus::new(client, Names::default());
    bus.ensure(&BusSettings::default()).await.unwrap();
    bus
}

pub(crate) async fn upload(bus: &Bus, files: &[(&str, &str)]) -> ContextRef {
    let (bytes, sha) = context(files);
    bus.upload_context(&bytes[..], &sha, bytes.len() as u64)
        .await
        .unwrap();
    ContextRef {
        sha256: sha,
        size: bytes.len() as u64,
    }
}

pub(crate) fn task(build: &str, context: ContextRef, destination: String) -> Task {
    Task {
        build_id: build.into(),
        task_id: format!("{build}-t"),
        platform: Platform::host(),
        attempt: 1,
        context,
        dockerfile: "Dockerfile".into(),
        build_args: Default::default(),
        target: None,
        labels: Default::default(),
        destinations: vec![destination],
        compression: Default::default(),
        compression_level: None,
        oci_mode: Default::default(),
        reproducible: false,
        cross_safe: true,
        deadline_unix_ms: None,
        owner: None,
        cache: None,
        arch_cache_repo_suffix: None,
    }
}

/// The next task result on `sub`, within `wait`.
pub(crate) async fn next_result(
    sub: &mut async_nats::Subscriber,
    wait: Duration,
) -> Option<TaskResult> {
    let message = tokio::time::timeout(wait, sub.next()).await.ok()??;
    Some(decode_internal::<TaskResult>(&message.payload).unwrap())
}

async fn tasks_left(bus: &Bus) -> u64 {
    let mut stream = bus.js().get_stream("KANIKO_TASKS").await.unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test]
async fn a_published_task_is_built_and_garbage_does_not_stop_the_worker() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let registry = Registry::start().unwrap();
    let base = push_busybox(&registry, "fixtures/busybox").await.unwrap();
    let bus = setup(&nats).await;
    let mut garbage_results = bus.client().subscribe("kaniko.results.g1").await.unwrap();
    let mut results = bus.client().subscribe("kaniko.results.b1").await.unwrap();
    let mut events = bus.client().subscribe("kaniko.events.b1.*").await.unwrap();
    let _worker = Worker::start(&nats, &registry, "serve-w1");

    // Garbage first, with a message id that names its build.
    let platform = Platform::host();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        format!("g1-{}-1", platform.consumer_name()).as_str(),
    );
    bus.js()
        .publish_with_headers(
            Names::default().tasks(&platform).unwrap(),
            headers,
            "{not a task".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let garbage = next_result(&mut garbage_results, Duration::from_secs(30))
        .await
        .expect("a protocol failure for the garbage");
    match &garbage.outcome {
        TaskOutcome::Failed(err) => assert_eq!(err.kind, ErrorKind::Protocol, "{err}"),
        other => panic!("garbage gave {other:?}"),
    }

    let context = upload(
        &bus,
        &[
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY hello.txt /hello.txt\n", base.reference),
            ),
            ("hello.txt", "hello from serve\n"),
        ],
    )
    .await;
    let destination = format!("{}/served/app", registry.host());
    bus.publish_task(&task("b1", context, destination.clone()))
        .await
        .unwrap();
    let result = next_result(&mut results, Duration::from_secs(60))
        .await
        .expect("a result for b1");
    assert_eq!(result.worker_id, "serve-w1");
    let TaskOutcome::Built {
        manifest,
        config_digest,
        ..
    } = &result.outcome
    else {
        panic!("b1 was not built: {:?}", result.outcome);
    };
    assert!(config_digest.starts_with("sha256:"));
    let pulled = registry
        .client()
        .pull_manifest_raw(
            &format!("{destination}@{}", manifest.digest)
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(pulled.digest, manifest.digest);

    let first = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    let event: Event = serde_json::from_slice(&first.payload).unwrap();
    assert!(
        matches!(&event.kind, EventKind::PlatformStarted { worker_id, .. } if worker_id == "serve-w1"),
        "{event:?}"
    );
    // Acked and terminated tasks leave the work queue.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tasks_left(&bus).await, 0);
}

#[tokio::test]
async fn a_bad_dockerfile_fails_once_and_is_not_retried() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let registry = Registry::start().unwrap();
    let bus = setup(&nats).await;
    let mut results = bus.client().subscribe("kaniko.results.bad").await.unwrap();
    let _worker = Worker::start(&nats, &registry, "serve-w2");
    let context = upload(
        &bus,
        &[("Dockerfile", "FROM scratch\nFORM nothing\nCOPY a /a\n")],
    )
    .await;
    bus.publish_task(&task(
        "bad",
        context,
        format!("{}/bad/app", registry.host()),
    ))
    .await
    .unwrap();
    let result = next_result(&mut results, Duration::from_secs(60))
        .await
        .expect("a result for the bad build");
    match &result.outcome {
        TaskOutcome::Failed(err) => {
            assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
            assert!(
                err.message.contains(":2:") || err.message.contains("line 2"),
                "names the line: {err}"
            );
        }
        other => panic!("bad Dockerfile gave {other:?}"),
    }
    // Longer than ack_wait (3 s) and the first backoff: nothing comes again.
    assert_eq!(
        next_result(&mut results, Duration::from_secs(6)).await,
        None
    );
    assert_eq!(tasks_left(&bus).await, 0);
}

#[tokio::test]
async fn sigterm_with_nothing_in_flight_exits_zero_and_leaves() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let registry = Registry::start().unwrap();
    let bus = setup(&nats).await;
    let mut heartbeats = bus
        .client()
        .subscribe("kaniko.workers.serve-w3")
        .await
        .unwrap();
    let mut worker = Worker::start(&nats, &registry, "serve-w3");
    let decode = |m: async_nats::Message| decode_internal::<Heartbeat>(&m.payload).unwrap();
    let first = decode(
        tokio::time::timeout(Duration::from_secs(20), heartbeats.next())
            .await
            .expect("a first heartbeat")
            .unwrap(),
    );
    assert!(!first.leaving);
    assert_eq!(first.worker.native, Platform::host());
    assert_eq!(first.worker.capacity, 1);

    let status = worker.terminate();
    assert!(status.success(), "{status:?}\n{}", worker.logs());
    let mut last = first;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_secs(2), heartbeats.next()).await
    {
        last = decode(message);
    }
    assert!(last.leaving, "the last heartbeat says leaving");
    let kv: jetstream::kv::Store = bus.workers_kv().await.unwrap();
    let stored = kv
        .get("serve-w3")
        .await
        .unwrap()
        .expect("in the workers KV");
    assert!(decode_internal::<Heartbeat>(&stored).unwrap().leaving);
}
