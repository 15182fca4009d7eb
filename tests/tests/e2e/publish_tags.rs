// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Publishing an index under several tags when the registry refuses one of them (a protected
//! tag): a proxy in front of a real registry answers 403 to the `PUT` of `:second` only. The
//! index is pushed by digest first, then the tags in order; the first tag moves, the refused
//! one and those after it do not. Every report must say exactly that: the exit code (3,
//! "partially published"), the summary, the metadata file and, for the fleet, the `failed`
//! event and the API status, checked against what the registry holds (skopeo).
//!
//! Through `coordinator index` (the `ci` driver), `coordinator submit --driver local`, and the
//! fleet (`coordinator serve` and `worker serve` over NATS: the event and `coordinator
//! status`).

use std::path::Path;
use std::process::{Command, Output};

use kaniko_common::messages::EventType;
use kaniko_common::subjects::Names;
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::{FaultPlan, FaultProxy, Registry, init_test_tracing, skopeo_copy};
use serde_json::{Value, json};

use crate::ci_driver::{ci_fixture, coordinator_via, digest_of, exists};
use crate::fleet::{Fleet, copy_context, describe};

/// The exit code of a build whose index moved some destination tags but not all.
const PARTIALLY_PUBLISHED: i32 = 3;

/// A proxy to `registry` that refuses to move the tag `second`.
async fn protecting_second(registry: &Registry) -> FaultProxy {
    FaultProxy::start(
        registry.addr(),
        FaultPlan::Refuse {
            method: "PUT",
            path_suffix: "/manifests/second",
            status: 403,
        },
    )
    .await
    .unwrap()
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// The `tags` of a metadata file as (tag, state) pairs, and the refused tag's error message.
fn tag_states(metadata: &Value) -> (Vec<(String, String)>, String) {
    let tags = metadata["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no tags in {metadata:#}"));
    let states = tags
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap_or_default().to_string(),
                t["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let refused = tags
        .iter()
        .find(|t| t["state"] == "refused")
        .map(|t| {
            t["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    (states, refused)
}

fn assert_partial(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(PARTIALLY_PUBLISHED),
        "{}",
        describe(output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ci_driver_reports_exactly_which_tags_a_refused_second_tag_left_behind() {
    let (registry, client, host, tmp, digests, base) = ci_fixture().await;
    // What the tags named before: the busybox index.
    for tag in ["second", "third"] {
        skopeo_copy(
            &format!("docker://{}", base.reference),
            &format!("docker://{host}/app:{tag}"),
        )
        .unwrap();
    }
    let old = digest_of(&client, &format!("{host}/app:second")).await;
    let proxy = protecting_second(&registry).await;
    let via = proxy.host();
    let metadata = tmp.path().join("metadata.json");
    let tags = ["first", "second", "third"].map(|t| format!("{via}/app:{t}"));
    let output = coordinator_via(
        &via,
        &registry,
        &[
            "index",
            "--digests-from",
            digests.to_str().unwrap(),
            "--destination",
            &tags[0],
            "--destination",
            &tags[1],
            "--destination",
            &tags[2],
            "--metadata-file",
            metadata.to_str().unwrap(),
        ],
    );
    assert_partial(&output);

    let metadata = read_json(&metadata);
    assert_eq!(metadata["state"], "partially_published", "{metadata:#}");
    let index = metadata["index"]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no index in {metadata:#}"))
        .to_string();
    assert_ne!(index, old);
    let (states, refused) = tag_states(&metadata);
    assert_eq!(
        states,
        [
            (tags[0].clone(), "moved".to_string()),
            (tags[1].clone(), "refused".to_string()),
            (tags[2].clone(), "not_pushed".to_string()),
        ],
        "{metadata:#}"
    );
    assert!(refused.contains("403"), "{refused}");
    assert_eq!(proxy.faulted(), 1, "the refused push is not retried");

    // The registry agrees: first names the new index, second and third what they named.
    assert_eq!(
        digest_of(&client, &format!("{host}/app:first")).await,
        index
    );
    let listed = kaniko_tests::skopeo_inspect_raw(&format!("{host}/app:first")).unwrap();
    assert_eq!(listed["manifests"].as_array().map(Vec::len), Some(2));
    for tag in ["second", "third"] {
        assert_eq!(
            digest_of(&client, &format!("{host}/app:{tag}")).await,
            old,
            "{tag}"
        );
    }
    // The index itself is in the repository by digest, for whoever wants to move the rest.
    assert!(exists(&client, &registry, &format!("app@{index}")).await);

    let stdout = String::from_utf8_lossy(&output.stdout);
    for needle in [
        format!("partially published index {index}: 1 of 3 tags moved"),
        format!("moved       {}", tags[0]),
        format!("refused     {}", tags[1]),
        format!("not pushed  {}", tags[2]),
    ] {
        assert!(
            stdout.contains(&needle),
            "{needle:?} in\n{}",
            describe(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_driver_reports_a_partially_published_build() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let host = registry.host();
    push_busybox(&registry, "busybox").await.unwrap();
    let proxy = protecting_second(&registry).await;
    let via = proxy.host();
    let tmp = tempfile::tempdir().unwrap();
    let context = copy_context(&tmp.path().join("ctx"), &host);
    let metadata = tmp.path().join("metadata.json");
    let tags = ["first", "second"].map(|t| format!("{via}/app:{t}"));
    let output = Command::new(kaniko_tests::workspace_binary("coordinator"))
        .env_remove("NATS_URL")
        .arg("submit")
        .args(["--driver", "local"])
        .arg("--context")
        .arg(&context)
        .args(["--destination", &tags[0], "--destination", &tags[1]])
        .args(["--insecure-registry", &host, "--insecure-registry", &via])
        .arg("--metadata-file")
        .arg(&metadata)
        .args(["--timeout", "120"])
        .output()
        .expect("coordinator submit");
    assert_partial(&output);

    let metadata = read_json(&metadata);
    assert_eq!(metadata["state"], "partially_published", "{metadata:#}");
    let index = metadata["index"]["digest"].as_str().unwrap().to_string();
    let (states, refused) = tag_states(&metadata);
    assert_eq!(
        states,
        [
            (tags[0].clone(), "moved".to_string()),
            (tags[1].clone(), "refused".to_string()),
        ],
        "{metadata:#}"
    );
    assert!(refused.contains("403"), "{refused}");
    assert_eq!(metadata["platforms"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        digest_of(&client, &format!("{host}/app:first")).await,
        index
    );
    assert!(!exists(&client, &registry, "app:second").await);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "partially published index {index}: 1 of 2 tags moved"
        )),
        "{}",
        describe(&output)
    );
    assert_eq!(
        metadata["errors"][0]["kind"],
        json!("unauthorized"),
        "{metadata:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_reports_a_partially_published_build_in_its_event_and_its_status() {
    let mut fleet = Fleet::start().await;
    let proxy = protecting_second(&fleet.registry).await;
    let via = proxy.host();
    fleet.coordinator_with(&["--insecure-registry", &via]);
    fleet.worker_with("tags-1", None, &["--insecure-registry", &via]);
    fleet.wait_for_workers(&["tags-1"]);
    let host = fleet.registry.host();
    let client = fleet.registry.client();
    let context = copy_context(&fleet.dir.path().join("tags-context"), &host);
    let metadata = fleet.dir.path().join("tags.json");
    let tags = ["first", "second"].map(|t| format!("{via}/app:{t}"));
    let output = Command::new(kaniko_tests::workspace_binary("coordinator"))
        .arg("submit")
        .args(["--driver", "nats", "--nats", &fleet.nats.url()])
        .arg("--context")
        .arg(&context)
        .args(["--destination", &tags[0], "--destination", &tags[1]])
        .arg("--metadata-file")
        .arg(&metadata)
        .args(["--timeout", "120"])
        .output()
        .expect("coordinator submit");
    assert_eq!(
        output.status.code(),
        Some(PARTIALLY_PUBLISHED),
        "{}\n{}",
        describe(&output),
        fleet.logs()
    );
    let metadata = read_json(&metadata);
    assert_eq!(metadata["state"], "partially_published", "{metadata:#}");
    let build_id = metadata["build_id"].as_str().unwrap().to_string();
    let index = metadata["index"]["digest"].as_str().unwrap().to_string();
    let expected = [
        (tags[0].clone(), "moved".to_string()),
        (tags[1].clone(), "refused".to_string()),
    ];
    assert_eq!(tag_states(&metadata).0, expected, "{metadata:#}");

    // The `failed` event, as any service following the build reads it.
    let names = Names::default();
    let js = async_nats::jetstream::new(async_nats::connect(fleet.nats.url()).await.unwrap());
    let event = js
        .get_stream(names.events_stream())
        .await
        .unwrap()
        .get_last_raw_message_by_subject(&names.events(&build_id, EventType::Failed).unwrap())
        .await
        .expect("a failed event");
    let event: Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event["index"]["digest"], json!(index), "{event:#}");
    let (states, refused) = tag_states(&event);
    assert_eq!(states, expected, "{event:#}");
    assert!(refused.contains("403"), "{refused}");

    // The API's status says the same, and `coordinator status` does not call it a success.
    let status = Command::new(kaniko_tests::workspace_binary("coordinator"))
        .args(["status", &build_id, "--json", "--nats", &fleet.nats.url()])
        .output()
        .expect("coordinator status");
    assert!(!status.status.success(), "{}", describe(&status));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["state"], "partially_published", "{status:#}");
    assert_eq!(status["index"]["digest"], json!(index), "{status:#}");
    assert_eq!(tag_states(&status).0, expected, "{status:#}");

    assert_eq!(
        digest_of(&client, &format!("{host}/app:first")).await,
        index
    );
    assert!(!exists(&client, &fleet.registry, "app:second").await);
}
