// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The coordinator publishing an index while the registry fails for longer than one round
//! of the registry client's retries: a transient failure before any tag moved is tried
//! again after a pause (2 s, doubled each round, five rounds) instead of failing a build
//! whose platforms are all built. Found by the chaos test (`chaos.rs`): the registry
//! stopped for 2 s just as a build's index was pushed failed the build.

use std::process::Command;

use kaniko_tests::{FaultPlan, FaultProxy, index_platforms, skopeo_inspect_raw};

use super::{Fleet, binary, copy_context, describe, platforms};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_tag_push_failing_transiently_past_the_client_retries_is_tried_again_and_published()
 {
    let (native, _) = platforms();
    let mut fleet = Fleet::start().await;
    // Six 503s on the tag: one round of the client's retries (5 attempts) runs out, the
    // second round meets the last one and then gets through.
    let proxy = FaultProxy::start(
        fleet.registry.addr(),
        FaultPlan::FailFirstMatching {
            n: 6,
            method: "PUT",
            path_part: "/manifests/v1",
            status: 503,
            code: None,
        },
    )
    .await
    .expect("fault proxy");
    let via = proxy.host();
    fleet.coordinator_with(&["--insecure-registry", &via]);
    fleet.worker_with("native-1", None, &["--insecure-registry", &via]);
    fleet.wait_for_workers(&["native-1"]);
    let context = copy_context(&fleet.dir.path().join("ctx"), &fleet.registry.host());
    let destination = format!("{via}/app:v1");

    let output = Command::new(binary("coordinator"))
        .arg("submit")
        .args(["--driver", "nats", "--nats", &fleet.nats.url()])
        .arg("--context")
        .arg(&context)
        .args(["--destination", &destination])
        .args(["--multi-platform", &native.to_string()])
        .args(["--timeout", "120"])
        .output()
        .expect("coordinator submit");
    assert!(
        output.status.success(),
        "{}\n{}",
        describe(&output),
        fleet.logs()
    );
    assert_eq!(proxy.faulted(), 6, "{}", fleet.logs());
    let logs = fleet.logs();
    assert_eq!(
        logs.matches("publishing the index failed transiently; trying again")
            .count(),
        1,
        "{logs}"
    );
    let index = skopeo_inspect_raw(&format!("{}/app:v1", fleet.registry.host()))
        .expect("skopeo inspect --raw");
    assert_eq!(
        index_platforms(&index),
        vec![native.to_string()],
        "{index:#}"
    );
    // The tag has only ever named that one index.
    let history = fleet
        .registry
        .storage_dir()
        .join("docker/registry/v2/repositories/app/_manifests/tags/v1/index/sha256");
    assert_eq!(
        std::fs::read_dir(&history).map(|d| d.count()).unwrap_or(0),
        1
    );
}
