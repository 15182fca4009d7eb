// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A context object planted under someone else's sha256 (by whoever may write the store: on
//! an open server, anyone) must not make their upload skip and their build fail forever: the
//! upload reads an existing object back and replaces one that does not hash to its name, and
//! the coordinator deletes one it finds bad when it reads the Dockerfile.

use std::process::Command;
use std::time::{Duration, Instant};

use kaniko_common::messages::codec::{decode_json, encode_json};
use kaniko_common::messages::{BuildRequest, ContextRef, SubmitReply};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::{ApiVerb, Names};
use kaniko_nats::{Bus, BusSettings, Upload};
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::{Nats, Registry, init_test_tracing, skopeo_inspect_raw};

use crate::fleet::{Daemon, binary, describe};

/// Plants `bytes` as `sha256:<sha256>` in the shared contexts store, as any client of an
/// open server can.
async fn plant(bus: &Bus, sha256: &str, bytes: &[u8]) {
    let store = bus.contexts().await.expect("contexts store");
    store
        .put(format!("sha256:{sha256}").as_str(), &mut &bytes[..])
        .await
        .expect("planted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_planted_under_a_submitters_sha256_is_replaced_and_the_build_succeeds() {
    init_test_tracing();
    let nats = Nats::start().expect("nats-server");
    let registry = Registry::start().expect("registry");
    push_busybox(&registry, "busybox").await.expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let bus = Bus::new(client.clone(), Names::default());
    bus.ensure(&BusSettings::default()).await.expect("streams");

    // The upload itself: a planted object is read back, found bad and replaced.
    let bytes = b"the real context bytes".to_vec();
    let sha = crate::dockerfiles::sha256_hex(&bytes);
    plant(&bus, &sha, b"planted bytes").await;
    let uploaded = bus
        .upload_context(&bytes[..], &sha, bytes.len() as u64)
        .await
        .expect("upload");
    assert_eq!(uploaded, Upload::Replaced);
    let mut back = Vec::new();
    bus.download_context(&sha, &mut back)
        .await
        .expect("download");
    assert_eq!(back, bytes);
    // A good object is kept, and its source not read.
    let again = bus
        .upload_context(&b"never read"[..], &sha, bytes.len() as u64)
        .await
        .expect("upload");
    assert_eq!(again, Upload::AlreadyPresent);

    // The whole fleet: the victim's context digest is taken before they submit.
    let mut daemons = Vec::new();
    let mut coordinator = Command::new(binary("coordinator"));
    coordinator
        .arg("serve")
        .args(["--nats", &nats.url()])
        .args(["--heartbeat-interval", "1"])
        .args(["--insecure-registry", &registry.host()])
        .env_remove("KANIKO_POLICY");
    daemons.push(Daemon::spawn("coordinator", dir.path(), coordinator));
    let mut worker = Command::new(binary("worker"));
    worker
        .arg("serve")
        .args(["--nats", &nats.url()])
        .args(["--id", "planted-1"])
        .args(["--heartbeat-interval", "1"])
        .args(["--insecure-registry", &registry.host()]);
    daemons.push(Daemon::spawn("planted-1", dir.path(), worker));
    let logs = || {
        daemons
            .iter()
            .map(Daemon::logs)
            .collect::<Vec<_>>()
            .join("\n")
    };

    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).expect("context");
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {}/busybox\nCOPY hello.txt /\n", registry.host()),
    )
    .expect("Dockerfile");
    std::fs::write(context.join("hello.txt"), "victim\n").expect("hello");
    let packed = kaniko_coordinator::context::pack(&context, None, None).expect("pack");
    plant(&bus, &packed.sha256, b"not a tarball at all").await;

    let destination = format!("{}/victim:1", registry.host());
    let submit = || {
        Command::new(binary("coordinator"))
            .arg("submit")
            .args(["--driver", "nats"])
            .args(["--nats", &nats.url()])
            .arg("--context")
            .arg(&context)
            .args(["--destination", &destination])
            .args(["--multi-platform", &Platform::host().to_string()])
            .args(["--timeout", "120"])
            .env_remove("KANIKO_IDENTITY")
            .output()
            .expect("coordinator submit")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = Command::new(binary("coordinator"))
            .arg("workers")
            .args(["--nats", &nats.url()])
            .env_remove("KANIKO_IDENTITY")
            .output()
            .expect("coordinator workers");
        if String::from_utf8_lossy(&listed.stdout).contains("planted-1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no worker
{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let output = submit();
    assert!(output.status.success(), "{}\n{}", describe(&output), logs());
    assert!(
        skopeo_inspect_raw(&destination).is_ok(),
        "the victim's index"
    );

    // Planted after the upload, before the coordinator reads it: the submit is refused, the
    // bad object deleted, and the next submit uploads the real one again.
    plant(&bus, &packed.sha256, b"planted again").await;
    let mut request = BuildRequest::new(
        ContextRef {
            sha256: packed.sha256.clone(),
            size: packed.size,
        },
        vec![Platform::host()],
        vec![destination.clone()],
    );
    request.dockerfile = packed.dockerfile.clone();
    let reply = client
        .request(
            Names::default().api(ApiVerb::Submit),
            encode_json(&request).unwrap().into(),
        )
        .await
        .expect("submit request");
    let reply: SubmitReply = decode_json(&reply.payload).expect("submit reply");
    let error = reply.error.expect("refused");
    assert!(
        error.message.contains(&format!(
            "context sha256:{} in the object store",
            packed.sha256
        )) && error.message.contains("it was deleted"),
        "{error}"
    );
    let store = bus.contexts().await.expect("store");
    let info = store.info(format!("sha256:{}", packed.sha256)).await;
    assert!(
        info.map(|i| i.deleted).unwrap_or(true),
        "the planted object is gone"
    );
    let output = submit();
    assert!(output.status.success(), "{}\n{}", describe(&output), logs());
}
