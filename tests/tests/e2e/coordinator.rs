// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The coordinator against a real nats-server (and registry): the request API answers a
//! submit with a build id, refuses bad requests and garbage with clear errors,
//! `require_native_nodes` refuses before any task is published, and a two-platform build whose
//! tasks are served by a scripted worker (native amd64, arm64 through the cross subject)
//! ends with one index pushed under two tags in two repositories.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use kaniko_common::messages::codec::{CONTENT_TYPE_HEADER, encode_internal};
use kaniko_common::messages::{
    ContextRef, Encoding, Event, EventKind, Heartbeat, StatusReply, StatusRequest, Task,
    TaskOutcome, TaskResult, WorkerInfo,
};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::{ApiVerb, Names};
use kaniko_coordinator::policy::routing::{cross_consumer, cross_subject};
use kaniko_coordinator::serve::{ServeConfig, ServeHandle, spawn};
use kaniko_nats::NatsOptions;
use kaniko_registry::RegistryOptions;
use kaniko_tests::{Nats, Registry, init_test_tracing, skopeo_inspect_raw};
use serde_json::{Value, json};
use sha2::Digest;

/// nats-server and an in-process `coordinator serve` on it (stopped on drop), with a client.
pub(crate) struct Setup {
    nats: Nats,
    coordinator: Option<ServeHandle>,
    client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    names: Names,
}

impl Setup {
    pub(crate) async fn start(insecure_registry: Option<String>) -> Setup {
        init_test_tracing();
        let nats = Nats::start().unwrap();
        let config = ServeConfig {
            nats: NatsOptions::new(nats.url()),
            prefix: "kaniko".into(),
            streams: Default::default(),
            registry: RegistryOptions {
                insecure_registries: insecure_registry.into_iter().collect(),
                ..Default::default()
            },
            heartbeat_interval: Duration::from_secs(5),
            policy: None,
            ownership: Default::default(),
        };
        let coordinator = tokio::task::spawn_blocking(move || spawn(config))
            .await
            .unwrap()
            .unwrap();
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = jetstream::new(client.clone());
        Setup {
            nats,
            coordinator: Some(coordinator),
            client,
            js,
            names: Names::default(),
        }
    }

    /// Uploads a tarball of `files` to the contexts object store.
    async fn context(&self, files: &[(&str, &str)]) -> ContextRef {
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
        let bytes = kaniko_tests::tarball::tar_of(&files);
        let context = ContextRef {
            sha256: hex_of(&sha2::Sha256::digest(&bytes)),
            size: bytes.len() as u64,
        };
        let store = self
            .js
            .get_object_store(self.names.contexts_store())
            .await
            .unwrap();
        store
            .put(context.object_name().as_str(), &mut bytes.as_slice())
            .await
            .unwrap();
        context
    }

    /// Sends raw bytes with a content type on an API subject; the reply as JSON (or bytes).
    async fn raw(
        &self,
        verb: ApiVerb,
        content_type: &str,
        payload: Vec<u8>,
    ) -> async_nats::Message {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(CONTENT_TYPE_HEADER, content_type);
        tokio::time::timeout(
            Duration::from_secs(20),
            self.client
                .request_with_headers(self.names.api(verb), headers, payload.into()),
        )
        .await
        .expect("the api answers within 20s")
        .unwrap()
    }

    /// Sends `body` as JSON on the API subject of `verb`; the reply.
    pub(crate) async fn json(&self, verb: ApiVerb, body: Value) -> Value {
        let reply = self
            .raw(verb, "application/json", serde_json::to_vec(&body).unwrap())
            .await;
        serde_json::from_slice(&reply.payload).unwrap()
    }

    async fn heartbeat(&self, worker: WorkerInfo) {
        let beat = Heartbeat {
            worker: worker.clone(),
            at_unix_ms: 0,
            leaving: false,
        };
        self.client
            .publish(
                self.names.worker_heartbeat(&worker.id).unwrap(),
                encode_internal(&beat).unwrap().into(),
            )
            .await
            .unwrap();
        self.client.flush().await.unwrap();
        // Until the fleet has it: the workers verb lists it.
        for _ in 0..50 {
            let reply = self.json(ApiVerb::Workers, json!({})).await;
            let listed = reply["workers"]
                .as_array()
                .is_some_and(|ws| ws.iter().any(|w| w["id"] == json!(worker.id)));
            if listed {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the fleet never listed worker {}", worker.id);
    }

    /// How many tasks were ever published.
    pub(crate) async fn tasks_in_stream(&self) -> u64 {
        let mut stream = self.js.get_stream(self.names.tasks_stream()).await.unwrap();
        stream.info().await.unwrap().state.messages
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(coordinator) = self.coordinator.take() {
            let _ = coordinator.stop();
        }
        let _ = &self.nats;
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn worker(id: &str, native: &str, cross: &[&str]) -> WorkerInfo {
    let native = Platform::parse(native).unwrap();
    let mut platforms = vec![native.clone()];
    platforms.extend(cross.iter().map(|p| Platform::parse(p).unwrap()));
    WorkerInfo {
        id: id.into(),
        native,
        platforms,
        allow_cross: !cross.is_empty(),
        capacity: 1,
        busy: 0,
        version: "test".into(),
        last_seen_unix_ms: 0,
    }
}

const CROSS_SAFE: &str = "FROM busybox\nCOPY hello.txt /hello.txt\nENV GREETING=hi\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_api_answers_submit_and_refuses_bad_requests_and_garbage() {
    let setup = Setup::start(None).await;
    let context = setup
        .context(&[("Dockerfile", CROSS_SAFE), ("hello.txt", "hello\n")])
        .await;
    let submit = json!({
        "context": {"sha256": context.sha256, "size": context.size},
        "platforms": ["linux/amd64", "linux/arm64"],
        "destinations": ["127.0.0.1:1/app:1"],
    });
    let reply = setup.json(ApiVerb::Submit, submit.clone()).await;
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let build_id = reply["build_id"].as_str().expect("a build id").to_string();

    // The build is known; with no worker alive both tasks wait on their native subjects.
    let status = setup
        .json(ApiVerb::Status, json!({"build_id": build_id}))
        .await;
    assert_eq!(status["build"]["build_id"], json!(build_id), "{status}");
    let platforms: Vec<&str> = status["build"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    let mut published = 0;
    for _ in 0..50 {
        published = setup.tasks_in_stream().await;
        if published == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(published, 2, "one task per platform");

    // Bad requests: refused with the field at fault, nothing published.
    let mut no_platforms = submit.clone();
    no_platforms["platforms"] = json!([]);
    let reply = setup.json(ApiVerb::Submit, no_platforms).await;
    assert_eq!(reply["build_id"], Value::Null);
    assert_eq!(
        reply["error"],
        json!({"kind": "refused", "message": "no platforms requested"})
    );
    let mut misspelt = submit.clone();
    misspelt["platfroms"] = json!(["linux/amd64"]);
    let reply = setup.json(ApiVerb::Submit, misspelt).await;
    assert_eq!(reply["error"]["kind"], json!("protocol"), "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("platfroms"),
        "{reply}"
    );
    let mut elsewhere = submit.clone();
    elsewhere["dockerfile"] = json!("build/Dockerfile");
    let reply = setup.json(ApiVerb::Submit, elsewhere).await;
    assert_eq!(reply["error"]["kind"], json!("not_found"), "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dockerfile build/Dockerfile is not in context"),
        "{reply}"
    );
    let broken = setup
        .context(&[("Dockerfile", "FROM busybox\nFROBNICATE x\n")])
        .await;
    let mut bad_dockerfile = submit.clone();
    bad_dockerfile["context"] = json!({"sha256": broken.sha256, "size": broken.size});
    let reply = setup.json(ApiVerb::Submit, bad_dockerfile).await;
    assert_eq!(reply["error"]["kind"], json!("refused"), "{reply}");
    assert!(
        reply["error"]["message"].as_str().unwrap().contains('2'),
        "names the line: {reply}"
    );
    assert_eq!(setup.tasks_in_stream().await, 2, "refusals publish nothing");

    // Garbage: a protocol error reply, and the API keeps serving.
    let reply = setup
        .raw(
            ApiVerb::Submit,
            "application/json",
            b"\x00\xffnot json".to_vec(),
        )
        .await;
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["error"]["kind"], json!("protocol"), "{reply}");
    let reply = setup
        .raw(
            ApiVerb::Status,
            "application/x-kaniko-bincode",
            b"KNKO garbage".to_vec(),
        )
        .await;
    let decoded: StatusReply = Encoding::Bincode.decode(&reply.payload).unwrap();
    assert_eq!(decoded.error.unwrap().kind.as_str(), "protocol");
    let unknown = Encoding::Bincode
        .encode(&StatusRequest {
            build_id: "no-such-build".into(),
        })
        .unwrap();
    let reply = setup
        .raw(ApiVerb::Status, "application/x-kaniko-bincode", unknown)
        .await;
    let decoded: StatusReply = Encoding::Bincode.decode(&reply.payload).unwrap();
    assert_eq!(
        decoded.error.unwrap().to_string(),
        "not_found: build no-such-build not found"
    );

    // Cancel: the build ends cancelled, its failed event names the cancel.
    let reply = setup
        .json(
            ApiVerb::Cancel,
            json!({"build_id": build_id, "reason": "test"}),
        )
        .await;
    assert_eq!(reply["state"], json!("cancelled"), "{reply}");
    let list = setup.json(ApiVerb::List, json!({})).await;
    assert_eq!(list["builds"][0]["build_id"], json!(build_id), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_require_native_nodes_refuses_before_any_task_is_published() {
    let setup = Setup::start(None).await;
    setup
        .heartbeat(worker("amd", "linux/amd64", &["linux/arm64"]))
        .await;
    let context = setup.context(&[("Dockerfile", CROSS_SAFE)]).await;
    let reply = setup
        .json(
            ApiVerb::Submit,
            json!({
                "context": {"sha256": context.sha256, "size": context.size},
                "platforms": ["linux/amd64", "linux/arm64"],
                "destinations": ["127.0.0.1:1/app:1"],
                "require_native_nodes": true,
            }),
        )
        .await;
    assert_eq!(reply["build_id"], Value::Null, "{reply}");
    assert_eq!(
        reply["error"],
        json!({"kind": "refused", "message": "require_native_nodes: no live native worker for linux/arm64"})
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(setup.tasks_in_stream().await, 0, "no task was published");
}

/// Takes the next task from `consumer` (durable, created if missing) on `subject`.
async fn take_task(
    js: &jetstream::Context,
    names: &Names,
    durable: String,
    subject: String,
) -> Task {
    let stream = js.get_stream(names.tasks_stream()).await.unwrap();
    let consumer = stream
        .get_or_create_consumer(
            &durable,
            pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: subject.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(15))
        .messages()
        .await
        .unwrap();
    let message = messages
        .next()
        .await
        .unwrap_or_else(|| panic!("no task on {subject}"))
        .unwrap();
    let task: Task = Encoding::Bincode.decode(&message.payload).unwrap();
    message.ack().await.unwrap();
    task
}

/// Publishes a `Built` result for each task, naming the fixture's manifest of its platform.
async fn report_built(
    setup: &Setup,
    busybox: &kaniko_tests::fixture::BusyboxImage,
    tasks: impl IntoIterator<Item = Task>,
) {
    let names = &setup.names;
    for task in tasks {
        let manifest = busybox
            .children
            .iter()
            .find(|(p, _)| *p == task.platform)
            .map(|(_, d)| d.clone())
            .unwrap();
        let result = TaskResult {
            build_id: task.build_id.clone(),
            task_id: task.task_id.clone(),
            platform: task.platform.clone(),
            worker_id: "scripted".into(),
            attempt: task.attempt,
            outcome: TaskOutcome::Built {
                manifest,
                config_digest: String::new(),
                duration_ms: 1,
            },
        };
        setup
            .js
            .publish(
                names.results(&task.build_id).unwrap(),
                encode_internal(&result).unwrap().into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_two_platform_build_publishes_one_index_under_every_tag() {
    let registry = Registry::start().unwrap();
    let busybox = kaniko_tests::fixture::push_busybox(&registry, "app")
        .await
        .unwrap();
    let setup = Setup::start(Some(registry.host())).await;
    // amd64 native; arm64 only through an --allow-cross worker.
    setup
        .heartbeat(worker("amd", "linux/amd64", &["linux/arm64"]))
        .await;
    let context = setup
        .context(&[("Dockerfile", CROSS_SAFE), ("hello.txt", "hello\n")])
        .await;
    let app = format!("{}/app:v1", registry.host());
    let other = format!("{}/other:v1", registry.host());
    let mut events = setup.client.subscribe("kaniko.events.>").await.unwrap();
    let reply = setup
        .json(
            ApiVerb::Submit,
            json!({
                "context": {"sha256": context.sha256, "size": context.size},
                "platforms": ["linux/arm64", "linux/amd64"],
                "destinations": [app, other],
                "index_annotations": {"org.opencontainers.image.title": "app"},
            }),
        )
        .await;
    let build_id = reply["build_id"].as_str().expect("accepted").to_string();

    let amd64 = Platform::parse("linux/amd64").unwrap();
    let arm64 = Platform::parse("linux/arm64").unwrap();
    let names = &setup.names;
    let native = take_task(
        &setup.js,
        names,
        names.tasks_consumer(&amd64).unwrap(),
        names.tasks(&amd64).unwrap(),
    )
    .await;
    let cross = take_task(
        &setup.js,
        names,
        cross_consumer(names, &arm64).unwrap(),
        cross_subject(names, &arm64).unwrap(),
    )
    .await;
    assert_eq!(native.platform, amd64);
    assert!(
        cross.cross_safe,
        "only cross-safe tasks take the cross subject"
    );
    assert_eq!(
        native.destinations,
        [
            format!("{}/app", registry.host()),
            format!("{}/other", registry.host())
        ]
    );
    // The scripted worker reports what the fixture pushed to the app repository only: the
    // index actor must bring the children into `other` itself.
    report_built(&setup, &busybox, [native, cross]).await;

    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        let mut seen = Vec::new();
        while let Some(message) = events.next().await {
            let event: Event = serde_json::from_slice(&message.payload).unwrap();
            seen.push(event.token());
            match event.kind {
                EventKind::Finished { index, .. } => return (index.unwrap(), seen),
                EventKind::Failed { errors, .. } => panic!("build failed: {errors:?}"),
                _ => {}
            }
        }
        panic!("events ended")
    })
    .await
    .expect("the build finishes within 60s");
    let (index, seen) = finished;
    assert_eq!(
        seen,
        ["accepted", "platform_done", "platform_done", "finished"]
    );
    for tag in [&app, &other] {
        let raw = skopeo_inspect_raw(&format!("docker://{tag}")).unwrap();
        assert_eq!(
            raw["mediaType"],
            json!("application/vnd.oci.image.index.v1+json")
        );
        let platforms: Vec<&str> = raw["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(platforms, ["amd64", "arm64"], "{tag}: {raw}");
        assert_eq!(
            raw["annotations"]["org.opencontainers.image.title"],
            json!("app")
        );
        assert!(raw["annotations"]["org.opencontainers.image.created"].is_string());
    }
    let client = registry.client();
    for tag in [&app, &other] {
        let pulled = client
            .pull_manifest_raw(&tag.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(
            pulled.digest, index.digest,
            "{tag} names the published index"
        );
    }
    for (_, child) in &busybox.children {
        let in_other = format!("{}/other@{}", registry.host(), child.digest);
        client
            .pull_manifest_raw(&in_other.parse().unwrap())
            .await
            .unwrap_or_else(|e| panic!("child missing from the second repository: {e}"));
    }
    let status = setup
        .json(ApiVerb::Status, json!({"build_id": build_id}))
        .await;
    assert_eq!(status["build"]["state"], json!("succeeded"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_python_client_submits_in_json_and_receives_finished() {
    let registry = Registry::start().unwrap();
    let busybox = kaniko_tests::fixture::push_busybox(&registry, "py")
        .await
        .unwrap();
    let setup = Setup::start(Some(registry.host())).await;
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), CROSS_SAFE).unwrap();
    std::fs::write(context.path().join("hello.txt"), "hello\n").unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/submit.py");
    let client = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(context.path())
        .arg(format!("{}/py:v1", registry.host()))
        .args(["linux/amd64", "linux/arm64"])
        .env("NATS_URL", setup.nats.url())
        .env("TIMEOUT", "60")
        .kill_on_drop(true)
        .output();
    let names = setup.names.clone();
    let worker = async {
        let mut tasks = Vec::new();
        for platform in ["linux/amd64", "linux/arm64"] {
            let platform = Platform::parse(platform).unwrap();
            tasks.push(
                take_task(
                    &setup.js,
                    &names,
                    names.tasks_consumer(&platform).unwrap(),
                    names.tasks(&platform).unwrap(),
                )
                .await,
            );
        }
        report_built(&setup, &busybox, tasks).await;
    };
    let (output, ()) = tokio::join!(client, worker);
    let output = output.expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "submit.py failed: {stderr}");
    let event: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(event["type"], json!("finished"), "{stdout}");
    assert_eq!(event["platforms"].as_array().unwrap().len(), 2, "{stdout}");
    let index = event["index"]["digest"].as_str().unwrap();
    let pulled = registry
        .client()
        .pull_manifest_raw(&format!("{}/py:v1", registry.host()).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(pulled.digest, index);
}
