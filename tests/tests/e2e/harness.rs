// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The harness itself: the services it starts answer, and restarts keep their storage.

use std::time::Duration;

use async_nats::jetstream;
use kaniko_registry::BlobPush;
use kaniko_tests::{Nats, Registry, init_test_tracing};

async fn v2_status(registry: &Registry) -> Result<u16, reqwest::Error> {
    let response = reqwest::Client::new()
        .get(format!("{}/v2/", registry.url()))
        .timeout(Duration::from_secs(5))
        .send()
        .await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn the_registry_answers_and_a_restart_keeps_its_storage() {
    init_test_tracing();
    let mut registry = Registry::start().unwrap();
    assert_eq!(v2_status(&registry).await.unwrap(), 200);
    assert!(registry.host().starts_with("127.0.0.1:"));

    let client = registry.client();
    let reference = registry.reference("harness/restart:1");
    let pushed = client
        .push_blob_bytes(&reference, &b"kept across restarts"[..])
        .await
        .unwrap();
    assert_eq!(pushed.outcome, BlobPush::Uploaded);

    registry.stop();
    assert!(
        v2_status(&registry).await.is_err(),
        "the registry still answers after stop"
    );
    let err = client
        .blob_exists(&reference, &pushed.digest)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");

    registry.start_again().unwrap();
    assert_eq!(v2_status(&registry).await.unwrap(), 200);
    assert!(
        client
            .blob_exists(&reference, &pushed.digest)
            .await
            .unwrap()
    );
    assert!(registry.logs().contains("/v2/"), "{}", registry.logs());
}

#[tokio::test]
async fn registries_started_together_get_their_own_ports_and_storage() {
    let (a, b) = (Registry::start().unwrap(), Registry::start().unwrap());
    assert_ne!(a.host(), b.host());
    assert_ne!(a.storage_dir(), b.storage_dir());
}

async fn stream_message(nats: &Nats, sequence: u64) -> String {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    let stream = js.get_stream("HARNESS").await.unwrap();
    let message = stream.get_raw_message(sequence).await.unwrap();
    String::from_utf8_lossy(&message.payload).into_owned()
}

#[tokio::test]
async fn jetstream_answers_and_a_restart_keeps_the_store() {
    init_test_tracing();
    let mut nats = Nats::start().unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config {
        name: "HARNESS".to_string(),
        subjects: vec!["harness.>".to_string()],
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap();
    let ack = js
        .publish("harness.hello", "first message".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ack.sequence, 1);
    assert_eq!(stream_message(&nats, 1).await, "first message");

    nats.restart().unwrap();
    assert_eq!(stream_message(&nats, 1).await, "first message");
    assert!(nats.logs().contains("Server is ready"), "{}", nats.logs());
}
