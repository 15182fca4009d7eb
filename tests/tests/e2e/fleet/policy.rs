// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The failure policy through the whole fleet: one platform failing publishes no index
//! unless `--allow-partial` is given, and then the index holds the platforms that succeeded
//! while the summary names the one that failed; `--timeout` ends a build whose platform no
//! worker takes, with nothing published.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kaniko_common::platform::Platform;
use kaniko_tests::skopeo_inspect_raw;

use super::{Fleet, binary, describe, platforms};

/// A cross-safe context whose COPY only finds its file for the native architecture: the
/// other platform fails permanently (the source is missing), the native one succeeds.
fn one_platform_fails_context(fleet: &Fleet, native: &Platform) -> PathBuf {
    let context = fleet.dir.path().join("partial-context");
    std::fs::create_dir_all(&context).expect("context dir");
    let base = format!("{}/busybox:latest", fleet.registry.host());
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {base}\nARG TARGETARCH\nCOPY only-$TARGETARCH.txt /\nLABEL fleet=yes\n"),
    )
    .expect("Dockerfile");
    std::fs::write(
        context.join(format!("only-{}.txt", native.architecture)),
        "native\n",
    )
    .expect("context file");
    context
}

fn submit(
    fleet: &Fleet,
    context: &Path,
    destination: &str,
    platforms: &str,
    extra: &[&str],
) -> Output {
    Command::new(binary("coordinator"))
        .arg("submit")
        .args(["--driver", "nats"])
        .args(["--nats", &fleet.nats.url()])
        .arg("--context")
        .arg(context)
        .args(["--destination", destination])
        .args(["--multi-platform", platforms])
        .args(extra)
        .output()
        .expect("coordinator submit")
}

fn architectures(reference: &str) -> Vec<String> {
    let index = skopeo_inspect_raw(reference).expect("skopeo inspect --raw");
    let mut got: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            m["platform"]["architecture"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    got.sort();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_platform_blocks_the_index_unless_allow_partial_publishes_the_rest() {
    let (native, foreign) = platforms();
    let fleet = Fleet::with_workers(&[("native-1", None), ("cross-1", Some(&foreign))]).await;
    let context = one_platform_fails_context(&fleet, &native);
    let both = format!("{native},{foreign}");
    let missing = format!("only-{}.txt", foreign.architecture);

    // Without --allow-partial: the build fails naming the platform and its reason, and the
    // tag never appears.
    let strict = format!("{}/app:strict", fleet.registry.host());
    let output = submit(&fleet, &context, &strict, &both, &["--timeout", "120"]);
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(1), "{text}\n{}", fleet.logs());
    assert!(
        text.contains(&foreign.to_string()),
        "names the failed platform\n{text}"
    );
    assert!(
        text.contains(&missing),
        "gives the platform's reason\n{text}"
    );
    assert!(
        skopeo_inspect_raw(&strict).is_err(),
        "no index may be published when a platform failed"
    );

    // With --allow-partial: the index has the native platform only; the summary says which
    // platform failed and why, and the exit code says the build was partial.
    let partial = format!("{}/app:partial", fleet.registry.host());
    let digest_file = fleet.dir.path().join("partial-digest");
    let output = submit(
        &fleet,
        &context,
        &partial,
        &both,
        &[
            "--timeout",
            "120",
            "--allow-partial",
            "--digest-file",
            digest_file.to_str().expect("utf-8 path"),
        ],
    );
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(2), "{text}\n{}", fleet.logs());
    assert!(
        text.contains(&missing),
        "gives the failed platform's reason\n{text}"
    );
    assert_eq!(architectures(&partial), [native.architecture.as_str()]);
    let digest = std::fs::read_to_string(&digest_file).expect("digest file");
    let by_digest = format!("{}/app@{}", fleet.registry.host(), digest.trim());
    assert_eq!(
        architectures(&by_digest),
        [native.architecture.as_str()],
        "the digest file names the published index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_no_worker_takes_times_out_and_nothing_is_published() {
    let (native, _) = platforms();
    let fleet = Fleet::with_workers(&[("native-1", None)]).await;
    let context = fleet.cross_safe_context();
    let destination = format!("{}/app:late", fleet.registry.host());
    // Nobody serves linux/s390x: its task waits on its subject until the deadline.
    let started = std::time::Instant::now();
    let output = submit(
        &fleet,
        &context,
        &destination,
        &format!("{native},linux/s390x"),
        &["--timeout", "15"],
    );
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(1), "{text}\n{}", fleet.logs());
    assert!(
        text.contains("linux/s390x"),
        "names the platform that timed out\n{text}"
    );
    assert!(
        text.contains("deadline"),
        "says the deadline passed\n{text}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(90),
        "the build ended near its deadline, took {:?}",
        started.elapsed()
    );
    assert!(
        skopeo_inspect_raw(&destination).is_err(),
        "no index may be published after a timeout"
    );
}
