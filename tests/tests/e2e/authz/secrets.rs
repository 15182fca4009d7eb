// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Worker secrets: `worker serve --secret ...,scope=` reaches only builds whose destinations
//! the scope covers (another submitter's build fails naming the scope, never getting the
//! value), and a value a RUN prints is `****` in the build's `log` events followed over
//! NATS, in `coordinator submit`'s and `coordinator logs`' output and in the worker's log;
//! `worker build` masks it in its own output the same way.

use std::process::{Command, Output};

use kaniko_tests::fixture::push_busybox;
use kaniko_tests::{Registry, init_test_tracing};

use super::Tenants;
use crate::fleet::{binary, describe};

/// The secret's value: long and unlike anything else in a log.
const VALUE: &str = "tok-5f1c9a2e-do-not-print";

/// A RUN that prints the secret alone, inside a line, twice on one line, and from an
/// environment variable.
fn dockerfile(base: &str) -> String {
    format!(
        "FROM {base}\n\
         RUN --mount=type=secret,id=tok,required=true,env=TOK,target=/run/secrets/tok \
         cat /run/secrets/tok; echo; echo \"inline:$(cat /run/secrets/tok):end\"; \
         echo \"$TOK $TOK\" >&2\n"
    )
}

fn all(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_worker_secret_reaches_only_its_destinations_and_is_masked_in_every_log() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let file = secrets.path().join("tok");
    std::fs::write(&file, format!("{VALUE}\n")).expect("secret");
    // The scope needs the registry's address: the worker starts after the layout.
    let mut tenants = Tenants::start().await;
    let host = tenants.registry.host();
    tenants.coordinator();
    tenants.wait_for_coordinator();
    let secret = format!("id=tok,src={},scope={host}/team-a/*", file.display());
    tenants.worker("secret-worker", &["--secret", &secret]);
    tenants.wait_for_worker("secret-worker");
    let context = tenants.context("secret-ctx", &dockerfile(&format!("{host}/busybox")));

    // alice's destination is in scope: the RUN gets the value and prints it, masked.
    let output = tenants.submit("alice", &context, &format!("{host}/team-a/app:1"), &[]);
    let said = all(&output);
    assert!(output.status.success(), "{said}\n{}", tenants.logs());
    // The file ends in a newline, so `$TOK $TOK` prints two lines: four values in all.
    assert!(
        said.contains("inline:****:end") && said.matches("****").count() >= 4,
        "submit shows the masked lines\n{said}"
    );
    let build = String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|l| {
            Some(
                l.strip_prefix("build ")?
                    .strip_suffix(" submitted")?
                    .to_string(),
            )
        })
        .expect("build id");
    // The log events as stored in alice's events stream, replayed.
    let logs = tenants.verb("alice", &["logs", &build]);
    let replayed = all(&logs);
    assert!(logs.status.success(), "{replayed}");
    assert!(replayed.contains("inline:****:end"), "{replayed}");

    // bob's destination is not: the required mount fails naming the scope.
    let output = tenants.submit("bob", &context, &format!("{host}/team-b/app:1"), &[]);
    let said_bob = all(&output);
    assert!(!output.status.success(), "{said_bob}");
    assert!(
        said_bob.contains(&format!(
            "the secret \"tok\" is required but not available: the secret \"tok\" is scoped to \
             {host}/team-a/*, which does not cover the destination {host}/team-b/app"
        )),
        "{said_bob}"
    );

    for (what, text) in [
        ("alice's submit", said.as_str()),
        ("alice's replayed logs", replayed.as_str()),
        ("bob's submit", said_bob.as_str()),
        ("the daemons' logs", tenants.daemon_logs().as_str()),
    ] {
        assert!(
            !text.contains(VALUE),
            "the secret's value is in {what}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_build_masks_a_secret_a_run_prints() {
    init_test_tracing();
    let registry = Registry::start().expect("registry");
    push_busybox(&registry, "busybox").await.expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tok");
    std::fs::write(&file, VALUE).expect("secret");
    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).expect("context");
    std::fs::write(
        context.join("Dockerfile"),
        dockerfile(&format!("{}/busybox", registry.host())),
    )
    .expect("Dockerfile");
    let output = Command::new(binary("worker"))
        .arg("build")
        .arg("--context")
        .arg(&context)
        .args(["--insecure-registry", &registry.host()])
        .arg("--no-push")
        .arg("--secret")
        .arg(format!("id=tok,src={}", file.display()))
        .output()
        .expect("worker build");
    let said = all(&output);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        said.contains("inline:****:end") && said.contains("**** ****"),
        "{said}"
    );
    assert!(
        !said.contains(VALUE),
        "the value is in worker build's output\n{said}"
    );
}
