// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The NATS plumbing (`kaniko_nats`) against a real nats-server 2.9: streams, KV
//! buckets and the object store are created once and left alone, tasks are de-duplicated and
//! shared between the workers of a platform, build state supports compare-and-swap, and a
//! context only comes back when its sha256 matches.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::{self, stream::RetentionPolicy};
use futures::StreamExt;
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{ContextRef, PROTOCOL_VERSION, Task};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::Names;
use kaniko_nats::{
    self as bus, Bus, BusError, BusSettings, ConsumerSettings, ContextError, Upload,
};
use kaniko_tests::{Nats, init_test_tracing};
use sha2::{Digest, Sha256};

async fn bus(nats: &Nats) -> Bus {
    let client = bus::connect(&bus::NatsOptions::new(nats.url()))
        .await
        .unwrap();
    Bus::new(client, Names::default())
}

fn task(build: &str, platform: &str, attempt: u32) -> Task {
    Task {
        build_id: build.into(),
        task_id: format!("{build}-{attempt}"),
        platform: Platform::parse(platform).unwrap(),
        attempt,
        context: ContextRef {
            sha256: "a".repeat(64),
            size: 1,
        },
        dockerfile: "Dockerfile".into(),
        build_args: Default::default(),
        target: None,
        labels: Default::default(),
        destinations: vec!["127.0.0.1:5000/x".into()],
        compression: Default::default(),
        compression_level: None,
        oci_mode: Default::default(),
        reproducible: false,
        cross_safe: false,
        deadline_unix_ms: None,
        owner: None,
        cache: None,
        arch_cache_repo_suffix: None,
    }
}

async fn stream_config(bus: &Bus, name: &str) -> jetstream::stream::Config {
    bus.js()
        .get_stream(name)
        .await
        .unwrap()
        .cached_info()
        .config
        .clone()
}

/// Pulls up to `max` messages, waiting at most `wait`; acks none.
async fn pull(
    consumer: &jetstream::consumer::PullConsumer,
    max: usize,
    wait: Duration,
) -> Vec<jetstream::Message> {
    let mut batch = consumer
        .batch()
        .max_messages(max)
        .expires(wait)
        .messages()
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(message) = batch.next().await {
        out.push(message.unwrap());
    }
    out
}

#[tokio::test]
async fn ensure_creates_everything_once_and_leaves_existing_streams_alone() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let bus = bus(&nats).await;
    // Someone created the results stream with another max_age before us.
    bus.js()
        .create_stream(jetstream::stream::Config {
            name: "KANIKO_RESULTS".into(),
            subjects: vec!["kaniko.results.>".into()],
            max_age: Duration::from_secs(3600),
            ..Default::default()
        })
        .await
        .unwrap();

    let settings = BusSettings::default();
    bus.ensure(&settings).await.unwrap();
    let first = stream_config(&bus, "KANIKO_TASKS").await;
    bus.ensure(&settings).await.unwrap();
    // A second process ensuring concurrently is fine too.
    let other = self::bus(&nats).await;
    let (a, b) = tokio::join!(bus.ensure(&settings), other.ensure(&settings));
    a.unwrap();
    b.unwrap();

    let tasks = stream_config(&bus, "KANIKO_TASKS").await;
    assert_eq!(tasks.retention, RetentionPolicy::WorkQueue);
    assert_eq!(tasks.duplicate_window, Duration::from_secs(120));
    assert_eq!(tasks.subjects, first.subjects);
    assert_eq!(
        stream_config(&bus, "KANIKO_RESULTS").await.max_age,
        Duration::from_secs(3600),
        "an existing stream is not changed"
    );
    assert_eq!(
        stream_config(&bus, "KANIKO_EVENTS").await.max_age,
        Duration::from_secs(86400)
    );
    assert_eq!(
        stream_config(&bus, "KV_KANIKO_WORKERS").await.max_age,
        settings.workers_ttl
    );
    bus.builds_kv().await.unwrap();
    bus.workers_kv().await.unwrap();
    bus.contexts().await.unwrap();
}

#[tokio::test]
async fn a_task_published_twice_is_delivered_once() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let bus = bus(&nats).await;
    bus.ensure(&BusSettings::default()).await.unwrap();
    let platform = Platform::parse("linux/arm64").unwrap();
    let consumer = bus
        .tasks_consumer(&platform, &ConsumerSettings::default())
        .await
        .unwrap();

    let task = task("b1", "linux/arm64", 1);
    assert!(!bus.publish_task(&task).await.unwrap().duplicate);
    assert!(bus.publish_task(&task).await.unwrap().duplicate);
    // The next attempt is a new message.
    assert!(
        !bus.publish_task(&self::task("b1", "linux/arm64", 2))
            .await
            .unwrap()
            .duplicate
    );

    let messages = pull(&consumer, 10, Duration::from_secs(1)).await;
    let attempts: Vec<u32> = messages
        .iter()
        .map(|m| decode_internal::<Task>(&m.payload).unwrap().attempt)
        .collect();
    assert_eq!(attempts, vec![1, 2]);
    let headers = messages[0].headers.as_ref().unwrap();
    assert_eq!(
        headers.get("Kaniko-Protocol").map(|v| v.as_str()),
        Some(PROTOCOL_VERSION.to_string().as_str())
    );
    assert_eq!(
        headers.get("Content-Type").map(|v| v.as_str()),
        Some("application/x-kaniko-bincode")
    );
}

#[tokio::test]
async fn two_workers_bound_to_one_platform_consumer_split_the_work() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let (a, b) = (bus(&nats).await, bus(&nats).await);
    a.ensure(&BusSettings::default()).await.unwrap();
    let platform = Platform::parse("linux/amd64").unwrap();
    let settings = ConsumerSettings::default();
    let consumer_a = a.tasks_consumer(&platform, &settings).await.unwrap();
    let consumer_b = b.tasks_consumer(&platform, &settings).await.unwrap();
    // Another platform's task is not theirs.
    a.publish_task(&task("other", "linux/arm64", 1))
        .await
        .unwrap();
    for n in 0..10 {
        a.publish_task(&task(&format!("b{n}"), "linux/amd64", 1))
            .await
            .unwrap();
    }

    let got_a = pull(&consumer_a, 5, Duration::from_secs(1)).await;
    let got_b = pull(&consumer_b, 10, Duration::from_secs(1)).await;
    let builds = |messages: &[jetstream::Message]| -> BTreeSet<String> {
        messages
            .iter()
            .map(|m| decode_internal::<Task>(&m.payload).unwrap().build_id)
            .collect()
    };
    let (builds_a, builds_b) = (builds(&got_a), builds(&got_b));
    assert_eq!((builds_a.len(), builds_b.len()), (5, 5));
    assert!(builds_a.is_disjoint(&builds_b), "{builds_a:?} {builds_b:?}");
    let all: BTreeSet<String> = builds_a.union(&builds_b).cloned().collect();
    assert_eq!(all, (0..10).map(|n| format!("b{n}")).collect());

    // Acked work is gone from the work queue; what is not acked comes back after ack_wait.
    for message in &got_a {
        message.ack().await.unwrap();
    }
    for message in &got_b {
        message.ack().await.unwrap();
    }
    assert!(
        pull(&consumer_a, 10, Duration::from_millis(500))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn build_state_in_kv_supports_compare_and_swap() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let bus = bus(&nats).await;
    bus.ensure(&BusSettings::default()).await.unwrap();
    let kv = bus.builds_kv().await.unwrap();

    let first = kv.create("b1", "queued".into()).await.unwrap();
    assert!(
        kv.create("b1", "again".into()).await.is_err(),
        "create of an existing key fails"
    );
    let second = kv.update("b1", "running".into(), first).await.unwrap();
    assert!(
        kv.update("b1", "stale writer".into(), first).await.is_err(),
        "an update from a stale revision is refused"
    );
    assert_eq!(kv.get("b1").await.unwrap().unwrap(), "running");
    kv.put("b1", "done".into()).await.unwrap();
    let entry = kv.entry("b1").await.unwrap().unwrap();
    assert_eq!(entry.value, "done");
    assert!(entry.revision > second);
    assert_eq!(kv.get("missing").await.unwrap(), None);
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_context_round_trips_only_with_its_sha256() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let bus = bus(&nats).await;
    bus.ensure(&BusSettings::default()).await.unwrap();

    let data: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let sha = sha256_hex(&data);
    let size = data.len() as u64;
    assert_eq!(
        bus.upload_context(&data[..], &sha, size).await.unwrap(),
        Upload::Stored
    );
    assert_eq!(
        bus.upload_context(&b"not read"[..], &sha, size)
            .await
            .unwrap(),
        Upload::AlreadyPresent
    );
    let mut back = Vec::new();
    assert_eq!(bus.download_context(&sha, &mut back).await.unwrap(), size);
    assert!(back == data, "downloaded bytes differ");

    // Bytes that do not hash to the name they are uploaded under are refused and not kept.
    let claimed = sha256_hex(b"something else");
    let err = bus
        .upload_context(&b"the real bytes"[..], &claimed, 14)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::Context(ContextError::DigestMismatch { expected, .. }) if *expected == claimed),
        "{err}"
    );
    let err = bus
        .download_context(&claimed, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BusError::Context(ContextError::NotFound { .. })),
        "{err}"
    );

    // Tampered: an object stored under a name its bytes do not hash to.
    let victim = sha256_hex(b"the submitted context");
    let store = bus.contexts().await.unwrap();
    store
        .put(
            format!("sha256:{victim}").as_str(),
            &mut &b"tampered bytes"[..],
        )
        .await
        .unwrap();
    let err = bus
        .download_context(&victim, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BusError::Context(ContextError::DigestMismatch { .. })),
        "{err}"
    );
    assert!(err.to_string().contains(&victim), "{err}");

    let err = bus
        .download_context("not-a-digest", &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BusError::Context(ContextError::InvalidDigest(_))),
        "{err}"
    );
}

#[tokio::test]
async fn a_context_whose_chunks_vanish_while_stored_fails_the_read_and_is_uploaded_again() {
    // What a reader meets when another submit of the same context replaces the object while
    // it reads: the object's description names chunks that are purged. The client waits for
    // them for ever; the bus gives the read up and uploads the context again.
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let bus = bus(&nats).await;
    bus.ensure(&BusSettings::default()).await.unwrap();
    let data = b"a context whose chunks are purged".to_vec();
    let sha = sha256_hex(&data);
    let size = data.len() as u64;
    bus.upload_context(&data[..], &sha, size).await.unwrap();
    let store = bus.contexts().await.unwrap();
    let info = store.info(format!("sha256:{sha}").as_str()).await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("OBJ_KANIKO_CONTEXTS").await.unwrap();
    stream
        .purge()
        .filter(format!("$O.KANIKO_CONTEXTS.C.{}", info.nuid))
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let err = bus
        .download_context(&sha, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("replaced while it was read"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        bus.upload_context(&data[..], &sha, size).await.unwrap(),
        Upload::Replaced,
        "the object that cannot be read is stored again"
    );
    let mut back = Vec::new();
    assert_eq!(bus.download_context(&sha, &mut back).await.unwrap(), size);
    assert_eq!(back, data);
}
