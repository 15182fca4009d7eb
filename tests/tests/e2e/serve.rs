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
use kaniko_common::bus::{self, Bus, BusSettings};
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{
    ContextRef, ErrorKind, Event, EventKind, Heartbeat, Task, TaskOutcome, TaskResult,
};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::Names;
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::{Nats, Registry, init_test_tracing};
use sha2::{Digest, Sha256};

fn worker_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in target/<profile>/deps");
    let worker = dir.join("worker");
    assert!(
        worker.is_file(),
        "{} missing: run `cargo build -p kaniko-worker` first",
        worker.display()
    );
    worker
}

/// A spawned `worker serve`, killed on drop.
struct Worker {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Worker {
    fn start(nats: &Nats, registry: &Registry, id: &str) -> Worker {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("worker.log");
        let child = Command::new(worker_binary())
            .arg("serve")
            .args(["--nats", &nats.url()])
            .args(["--id", id])
            .args(["--heartbeat-interval", "1"])
            .args(["--ack-wait", "3"])
            .args(["--insecure-registry", &registry.host()])
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

    fn logs(&self) -> String {
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

async fn setup(nats: &Nats) -> Bus {
    let client = bus::connect(&bus::NatsOptions::new(nats.url()))
        .await
        .unwrap();
    let bus = Bus::new(client, Names::default());
    bus.ensure(&BusSettings::default()).await.unwrap();
    bus
}

async fn upload(bus: &Bus, files: &[(&str, &str)]) -> ContextRef {
    let (bytes, sha) = context(files);
    bus.upload_context(&bytes[..], &sha, bytes.len() as u64)
        .await
        .unwrap();
    ContextRef {
        sha256: sha,
        size: bytes.len() as u64,
    }
}

fn task(build: &str, context: ContextRef, destination: String) -> Task {
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
    }
}

/// The next task result on `sub`, within `wait`.
async fn next_result(sub: &mut async_nats::Subscriber, wait: Duration) -> Option<TaskResult> {
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

// ---- coordinator submit against a scripted API ----

fn coordinator_binary() -> PathBuf {
    let worker = worker_binary();
    let coordinator = worker.with_file_name("coordinator");
    assert!(
        coordinator.is_file(),
        "{} missing: run `cargo build -p kaniko-coordinator` first",
        coordinator.display()
    );
    coordinator
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

    // The local driver is not there yet: a clear error, nothing sent.
    let out = Command::new(coordinator_binary())
        .args(["submit", "--driver", "local", "-d", "r/app:1"])
        .arg("--context")
        .arg(&ctx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--driver local"),
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

// ---- serve::run in-process, with a scripted executor, for the retry and stop paths ----

mod in_process {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use kaniko_worker::serve::{
        self, Built, CancellationToken, ExecError, LogSink, ServeConfig, TaskExecutor,
    };

    use super::*;

    /// Fails every build transiently, or hangs until dropped.
    struct Scripted {
        hang: bool,
        calls: Arc<AtomicU32>,
        started: Arc<tokio::sync::Notify>,
    }

    impl TaskExecutor for Scripted {
        fn execute<'a>(
            &'a self,
            _task: &'a Task,
            _context_dir: &'a Path,
            _log: LogSink,
        ) -> serve::executor::BoxFuture<'a, Result<Built, ExecError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                self.started.notify_one();
                if self.hang {
                    std::future::pending::<()>().await;
                }
                Err(ExecError::transient("registry answered 503"))
            })
        }
    }

    struct Running {
        calls: Arc<AtomicU32>,
        started: Arc<tokio::sync::Notify>,
        shutdown: CancellationToken,
        handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    }

    fn start(nats: &Nats, hang: bool, grace: Duration) -> Running {
        let calls = Arc::new(AtomicU32::new(0));
        let started = Arc::new(tokio::sync::Notify::new());
        let shutdown = CancellationToken::new();
        let config = ServeConfig {
            nats: bus::NatsOptions::new(nats.url()),
            names: Names::default(),
            id: "inproc-1".into(),
            native: Platform::host(),
            platforms: vec![Platform::host()],
            allow_cross: false,
            concurrency: 1,
            heartbeat_interval: Duration::from_secs(1),
            grace_period: grace,
            bus: BusSettings::default(),
            consumer: bus::ConsumerSettings {
                ack_wait: Duration::from_secs(5),
                max_deliver: 2,
            },
        };
        let executor = Scripted {
            hang,
            calls: calls.clone(),
            started: started.clone(),
        };
        let handle = tokio::spawn(serve::run(config, executor, shutdown.clone()));
        Running {
            calls,
            started,
            shutdown,
            handle,
        }
    }

    async fn publish(bus: &Bus, build: &str) {
        let context = upload(bus, &[("Dockerfile", "FROM scratch\n")]).await;
        bus.publish_task(&task(build, context, "127.0.0.1:1/x".into()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_until_max_deliver_then_reported_once() {
        init_test_tracing();
        let nats = Nats::start().unwrap();
        let bus = setup(&nats).await;
        let mut results = bus.client().subscribe("kaniko.results.t1").await.unwrap();
        let worker = start(&nats, false, Duration::from_secs(1));
        publish(&bus, "t1").await;

        // Delivery 1 is nak'ed with a 2 s delay; delivery 2 is the last one.
        let result = next_result(&mut results, Duration::from_secs(30))
            .await
            .expect("a final result");
        match &result.outcome {
            TaskOutcome::Failed(err) => {
                assert_eq!(err.kind, ErrorKind::Transient, "{err}");
                assert!(err.message.contains("503"), "{err}");
                assert!(err.message.contains("gave up after 2 deliveries"), "{err}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(worker.calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            next_result(&mut results, Duration::from_secs(3)).await,
            None
        );
        assert_eq!(tasks_left(&bus).await, 0);
        worker.shutdown.cancel();
        worker.handle.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_cancelled_build_is_aborted_and_reported() {
        init_test_tracing();
        let nats = Nats::start().unwrap();
        let bus = setup(&nats).await;
        let mut results = bus.client().subscribe("kaniko.results.c1").await.unwrap();
        let worker = start(&nats, true, Duration::from_secs(1));
        publish(&bus, "c1").await;
        tokio::time::timeout(Duration::from_secs(20), worker.started.notified())
            .await
            .expect("the build started");
        bus.client()
            .publish("kaniko.cancel.c1", "".into())
            .await
            .unwrap();
        let result = next_result(&mut results, Duration::from_secs(10))
            .await
            .expect("a cancelled result");
        match &result.outcome {
            TaskOutcome::Failed(err) => assert_eq!(err.kind, ErrorKind::Cancelled, "{err}"),
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(tasks_left(&bus).await, 0, "a cancelled task is terminated");
        worker.shutdown.cancel();
        worker.handle.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn shutdown_hands_back_a_build_that_outlives_the_grace_period() {
        init_test_tracing();
        let nats = Nats::start().unwrap();
        let bus = setup(&nats).await;
        let mut results = bus.client().subscribe("kaniko.results.s1").await.unwrap();
        let mut heartbeats = bus
            .client()
            .subscribe("kaniko.workers.inproc-1")
            .await
            .unwrap();
        let worker = start(&nats, true, Duration::from_secs(1));
        publish(&bus, "s1").await;
        tokio::time::timeout(Duration::from_secs(20), worker.started.notified())
            .await
            .expect("the build started");
        worker.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), worker.handle)
            .await
            .expect("run returns after the grace period")
            .unwrap()
            .unwrap();
        assert_eq!(
            next_result(&mut results, Duration::from_millis(500)).await,
            None
        );
        assert_eq!(
            tasks_left(&bus).await,
            1,
            "the task waits for another worker"
        );
        let mut leaving = false;
        while let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(500), heartbeats.next()).await
        {
            leaving = decode_internal::<Heartbeat>(&message.payload)
                .unwrap()
                .leaving;
        }
        assert!(leaving);
    }
}
