// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `worker serve` run in-process with a scripted executor, for the paths a real build
//! cannot reach on demand: transient failures retried up to max_deliver, a cancelled build,
//! and a shutdown that outlives the grace period.

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
    ) -> serve::BoxFuture<'a, Result<Built, ExecError>> {
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
        retry_backoff: Duration::from_millis(200),
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
