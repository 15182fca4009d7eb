// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! What nats-server itself refuses a submitter under the layout `coordinator nats-config`
//! writes: every attempt is checked twice, by the server's own `Permissions Violation`
//! error and by its effect (nothing reaches the subject, the stream or the bucket); the same
//! client's own requests keep working, so a refusal is never a dead connection. And the
//! coordinator, whose permissions are wider, never answers on a reply subject the requester
//! chose outside its own inbox.

use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use kaniko_common::messages::codec::{decode_json, encode_json};
use kaniko_common::messages::{StatusReply, StatusRequest, WorkersReply, WorkersRequest};
use kaniko_common::subjects::{ApiVerb, Names};
use kaniko_tests::Nats;
use kaniko_tests::nats_secure::{NkeyUser, Watched};

use super::Tenants;
use crate::fleet::describe;

/// How long a refused publish may take to be reported, and a subscriber waits for a message
/// that must not come.
const QUIET: Duration = Duration::from_secs(1);

/// The number of messages stored in `stream`.
async fn stored(js: &jetstream::Context, stream: &str) -> u64 {
    let mut stream = js.get_stream(stream).await.expect("stream");
    stream.info().await.expect("stream info").state.messages
}

/// Whether `subscriber` receives anything within [`QUIET`].
async fn hears(subscriber: &mut async_nats::Subscriber) -> Option<async_nats::Message> {
    tokio::time::timeout(QUIET, subscriber.next())
        .await
        .ok()
        .flatten()
}

/// Publishes `subject` as `client` and expects the server's permission error naming it.
async fn publish_refused(client: &Watched, subject: &str) {
    client
        .client
        .publish(subject.to_string(), "forged".into())
        .await
        .expect("publish");
    client.client.flush().await.expect("flush");
    let wanted = format!("permissions violation for publish to \"{subject}\"");
    assert!(
        client.error_containing(&wanted, QUIET * 3).await.is_some(),
        "no violation for {subject}; errors: {:?}",
        client.errors()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitter_cannot_forge_tasks_results_heartbeats_cancels_or_requests_nor_read_other_streams()
 {
    let mut tenants = Tenants::start().await;
    // Nothing connects without credentials (no user without permissions, no no_auth_user).
    let anonymous = async_nats::connect(tenants.nats.url()).await;
    assert!(
        anonymous
            .as_ref()
            .is_err_and(|err| err.to_string().to_lowercase().contains("authorization")),
        "an anonymous connection: {:?}",
        anonymous.map(|_| ())
    );
    tenants.coordinator();
    tenants.wait_for_coordinator();
    let names = Names::default();
    // bob's build waits in the queue (no worker): its context is in bob's store.
    let context = tenants.copy_context("bob-ctx");
    let output = tenants.submit(
        "bob",
        &context,
        &format!("{}/team-b/app:1", tenants.registry.host()),
        &["--detach"],
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        describe(&output),
        tenants.logs()
    );
    let bob_build = String::from_utf8_lossy(&output.stdout).trim().to_string();
    // alice's too, so her own events stream holds an event.
    let alice_context = tenants.copy_context("alice-ctx");
    let output = tenants.submit(
        "alice",
        &alice_context,
        &format!("{}/team-a/app:1", tenants.registry.host()),
        &["--detach"],
    );
    assert!(output.status.success(), "{}", describe(&output));

    let coordinator = tenants.connect_as("coordinator").await;
    let js = jetstream::new(coordinator.client.clone());
    let worker = tenants.connect_as("worker").await;
    let mut heartbeats = coordinator
        .client
        .subscribe("kaniko.workers.*")
        .await
        .expect("subscribe");
    let mut cancels = worker
        .client
        .subscribe("kaniko.cancel.*")
        .await
        .expect("subscribe");
    coordinator.client.flush().await.expect("flush");
    worker.client.flush().await.expect("flush");
    let tasks_before = stored(&js, &names.tasks_stream()).await;
    assert_eq!(tasks_before, 2, "bob's and alice's tasks are queued");

    let alice = tenants.connect_as("alice").await;
    for subject in [
        "kaniko.tasks.linux.amd64._".to_string(),
        "kaniko.tasks.cross.linux.arm64._".to_string(),
        format!("kaniko.results.{bob_build}"),
        "kaniko.workers.forged-worker".to_string(),
        "$KV.KANIKO_WORKERS.forged-worker".to_string(),
        format!("kaniko.cancel.{bob_build}"),
        format!("kaniko.events.{bob_build}.finished"),
        format!("kaniko.user.bob.events.{bob_build}.failed"),
        format!("kaniko.user.alice.events.{bob_build}.log"),
        "kaniko.api.bob.cancel".to_string(),
        "kaniko.api.cancel".to_string(),
        "$KV.KANIKO_BUILDS.forged".to_string(),
        "$O.KANIKO_CONTEXTS_bob.M.forged".to_string(),
        "$O.KANIKO_CONTEXTS.M.forged".to_string(),
        "$JS.API.STREAM.PURGE.KANIKO_TASKS".to_string(),
        "$JS.API.STREAM.DELETE.KANIKO_TASKS".to_string(),
        "$JS.API.STREAM.CREATE.EVIL".to_string(),
        "$JS.API.STREAM.PURGE.OBJ_KANIKO_CONTEXTS_bob".to_string(),
        "$JS.API.STREAM.INFO.OBJ_KANIKO_CONTEXTS_bob".to_string(),
        "$JS.API.CONSUMER.CREATE.OBJ_KANIKO_CONTEXTS_bob".to_string(),
        "$JS.API.DIRECT.GET.OBJ_KANIKO_CONTEXTS_bob".to_string(),
        "$JS.API.CONSUMER.CREATE.OBJ_KANIKO_CONTEXTS".to_string(),
        "$JS.API.CONSUMER.CREATE.KANIKO_EVENTS_bob".to_string(),
        "$JS.API.CONSUMER.CREATE.KANIKO_EVENTS".to_string(),
        "$JS.API.CONSUMER.CREATE.KANIKO_RESULTS".to_string(),
        "$JS.API.CONSUMER.MSG.NEXT.KANIKO_TASKS.KANIKO_TASKS_linux-amd64".to_string(),
    ] {
        publish_refused(&alice, &subject).await;
    }
    // Nothing arrived: no heartbeat, no cancel, no task; the worker list and the queue are
    // as they were.
    assert!(
        hears(&mut heartbeats).await.is_none(),
        "a forged heartbeat arrived"
    );
    assert!(
        hears(&mut cancels).await.is_none(),
        "a forged cancel arrived"
    );
    assert_eq!(stored(&js, &names.tasks_stream()).await, tasks_before);
    assert_eq!(stored(&js, &names.results_stream()).await, 0);
    let listed = tenants.verb("ops", &["workers"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("forged-worker"));

    // Reading bob's context the way a client library would fails too.
    let alice_js = jetstream::new(alice.client.clone());
    assert!(
        alice_js
            .get_object_store("KANIKO_CONTEXTS_bob")
            .await
            .is_err(),
        "alice opened bob's contexts store"
    );
    assert!(
        alice_js.get_stream("KANIKO_EVENTS_bob").await.is_err(),
        "alice opened bob's events stream"
    );

    // Subscriptions outside her inbox are refused: bob's replies, the whole prefix.
    for subject in ["_INBOX.kaniko.user.bob.>", "kaniko.>", "_INBOX.>", ">"] {
        let _subscription = alice.client.subscribe(subject).await.expect("subscribe");
        alice.client.flush().await.expect("flush");
        let wanted = format!("permissions violation for subscription to \"{subject}\"");
        assert!(
            alice.error_containing(&wanted, QUIET * 3).await.is_some(),
            "{subject}: {:?}",
            alice.errors()
        );
    }

    // A push consumer on her own events stream, delivering to the subject every worker
    // listens to for cancels: nats-server 2.9 accepts the deliver subject (it checks no
    // permission on it) but delivers only to exact subscriptions, and the workers' is a
    // wildcard (see docs/security.md).
    let mut own = alice_js
        .get_stream("KANIKO_EVENTS_alice")
        .await
        .expect("alice opens her own events stream");
    assert_eq!(
        own.info().await.expect("info").state.messages,
        1,
        "alice's accepted event"
    );
    let _accepted = own
        .create_consumer(jetstream::consumer::push::Config {
            deliver_subject: format!("kaniko.cancel.{bob_build}"),
            ..Default::default()
        })
        .await;
    assert!(
        hears(&mut cancels).await.is_none(),
        "a consumer delivered a cancel"
    );

    // Her own requests still work on the same connection.
    let reply = alice
        .client
        .request(
            names.api_as("alice", ApiVerb::Workers).unwrap(),
            encode_json(&WorkersRequest {}).unwrap().into(),
        )
        .await
        .expect("alice's own request");
    let reply: WorkersReply = decode_json(&reply.payload).expect("workers reply");
    assert!(reply.error.is_none(), "{:?}", reply.error);
    assert_eq!(stored(&js, &names.tasks_stream()).await, tasks_before);
}

/// A status request of `caller` on `subject` answered on `reply`.
async fn status_request(caller: &Watched, subject: &str, reply: &str) {
    let payload = encode_json(&StatusRequest {
        build_id: "no-such-build".into(),
    })
    .unwrap();
    caller
        .client
        .publish_with_reply(subject.to_string(), reply.to_string(), payload.into())
        .await
        .expect("publish");
    caller.client.flush().await.expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_answers_only_on_the_caller_s_own_inbox() {
    // A server where the coordinator may do anything and a client only send API requests
    // and read inboxes (the one-token deployments before the layout): the reply subject
    // must not turn the coordinator's permissions into the client's.
    init();
    let coordinator_key = NkeyUser::generate().expect("nkey");
    let client_key = NkeyUser::generate().expect("nkey");
    let config = format!(
        "authorization {{\n  users = [\n    {{nkey: {:?}}}\n    {{nkey: {:?}, permissions: {{publish: {{allow: [\"kaniko.api.*\"]}}, subscribe: {{allow: [\"_INBOX.>\"]}}}}}}\n  ]\n}}\n",
        coordinator_key.public, client_key.public
    );
    let nats = Nats::start_with_config(&config).expect("nats-server");
    let mut options = kaniko_nats::NatsOptions::new(nats.url());
    options.nkey_seed = Some(coordinator_key.seed.clone());
    let serve = kaniko_coordinator::serve::ServeConfig {
        nats: options,
        prefix: "kaniko".into(),
        streams: Default::default(),
        registry: Default::default(),
        heartbeat_interval: Duration::from_secs(5),
        policy: None,
        ownership: Default::default(),
    };
    let _coordinator = tokio::task::spawn_blocking(move || kaniko_coordinator::serve::spawn(serve))
        .await
        .unwrap()
        .expect("coordinator");
    let admin = Watched::connect(&nats.url(), &coordinator_key.seed, None)
        .await
        .expect("admin");
    let js = jetstream::new(admin.client.clone());
    js.publish("kaniko.tasks.linux.amd64._", "queued".into())
        .await
        .expect("publish")
        .await
        .expect("stored");
    let mut cancels = admin.client.subscribe("kaniko.cancel.*").await.unwrap();
    admin.client.flush().await.unwrap();

    let client = Watched::connect(&nats.url(), &client_key.seed, None)
        .await
        .expect("client");
    // Each of these the coordinator may publish on, the client may not.
    status_request(
        &client,
        "kaniko.api.status",
        "$JS.API.STREAM.PURGE.KANIKO_TASKS",
    )
    .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        stored(&js, "KANIKO_TASKS").await,
        1,
        "the answer purged the tasks stream\n{}",
        nats.logs()
    );
    status_request(
        &client,
        "kaniko.api.status",
        "kaniko.cancel.someone-elses-build",
    )
    .await;
    assert!(
        hears(&mut cancels).await.is_none(),
        "the answer cancelled a build"
    );
    status_request(&client, "kaniko.api.status", "kaniko.tasks.linux.amd64._").await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        stored(&js, "KANIKO_TASKS").await,
        1,
        "the answer was queued as a task\n{}",
        nats.logs()
    );
    // The client's own inbox is answered.
    let answer = client
        .client
        .request(
            "kaniko.api.status",
            encode_json(&StatusRequest {
                build_id: "no-such-build".into(),
            })
            .unwrap()
            .into(),
        )
        .await
        .expect("answered on the client's inbox");
    let answer: StatusReply = decode_json(&answer.payload).expect("status reply");
    assert!(
        answer
            .error
            .is_some_and(|e| e.message.contains("not found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_s_answers_go_only_to_its_own_inbox() {
    let mut tenants = Tenants::start().await;
    tenants.coordinator();
    tenants.wait_for_coordinator();
    let bob = tenants.connect_as("bob").await;
    let mut bob_inbox = bob
        .client
        .subscribe("_INBOX.kaniko.user.bob.>")
        .await
        .expect("bob's inbox");
    let worker = tenants.connect_as("worker").await;
    let mut cancels = worker.client.subscribe("kaniko.cancel.*").await.unwrap();
    worker.client.flush().await.unwrap();
    bob.client.flush().await.unwrap();

    let alice = tenants.connect_as("alice").await;
    let subject = Names::default().api_as("alice", ApiVerb::Status).unwrap();
    for reply in [
        "_INBOX.kaniko.user.bob.stolen",
        "kaniko.cancel.bobs-build",
        "_INBOX.kaniko.user.alicex.1",
    ] {
        status_request(&alice, &subject, reply).await;
    }
    assert!(
        hears(&mut bob_inbox).await.is_none(),
        "an answer reached bob's inbox"
    );
    assert!(
        hears(&mut cancels).await.is_none(),
        "an answer was a cancel"
    );
    assert!(
        tenants
            .daemon_logs()
            .contains("its reply subject is not the caller's inbox"),
        "{}",
        tenants.logs()
    );
}

fn init() {
    kaniko_tests::init_test_tracing();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_may_not_create_the_streams_and_serves_once_the_coordinator_has() {
    let mut tenants = Tenants::start().await;
    tenants.worker("early-worker", &[]);
    std::thread::sleep(Duration::from_secs(1));
    tenants.coordinator();
    tenants.wait_for_worker("early-worker");
    // It was refused creating the stream itself, and served once the coordinator had.
    let logs = tenants.daemon_logs();
    assert!(
        logs.contains(
            "Permissions Violation for Publish to \"$JS.API.STREAM.CREATE.KANIKO_TASKS\""
        ),
        "the worker may not create the streams\n{logs}"
    );
}
