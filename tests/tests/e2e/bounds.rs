// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Bounds on what untrusted inputs make a worker hold in memory, each driven against a
//! spawned `worker serve` whose peak resident size (`VmHWM`) is read before and after:
//!
//! * a base image from a registry that lies (a manifest that never ends, a config, an index
//!   child or a layer larger than its descriptor) fails fast naming the limit, the reference
//!   and the digest, without reading on;
//! * error responses whose body never ends are read no further than the error message needs;
//! * a RUN that prints tens of MiB without a newline reaches the build log as lines of at most
//!   16 KiB, clipped at 2 MiB per step with BuildKit's message, and the build goes on.
//!
//! After each hostile task the same worker builds an ordinary one.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kaniko_common::messages::{Event, EventKind, TaskOutcome};
use kaniko_nats::Bus;
use kaniko_registry::{RegistryClient, RegistryOptions, RetryPolicy};
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::hostile_registry::{
    BIG_CHILD_DESCRIPTOR_SIZE, BIG_CONFIG_DESCRIPTOR_SIZE, BIG_LAYER_DESCRIPTOR_SIZE,
    HostileRegistry,
};
use kaniko_tests::{Nats, Registry, init_test_tracing};

use crate::serve::{Worker, next_result, setup, task, upload};

const MIB: u64 = 1024 * 1024;
/// How much the lying registry sends before it gives up: far beyond every bound.
const LIE_SIZE: usize = 64 * 1024 * 1024;
/// Most body bytes a client may have been sent after it stopped reading: its bound plus
/// what the loopback socket buffers hold.
const READ_AT_MOST: u64 = 24 * MIB;
/// Most a worker's peak resident size may grow over a hostile task.
const PEAK_GROWTH_AT_MOST: u64 = 32 * MIB;

/// The peak resident size of process `pid`, bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/<pid>/status")
        * 1024
}

/// Builds `dockerfile` (next to a `hello.txt`) as task `build_id` and waits for its outcome.
async fn build(bus: &Bus, registry: &Registry, build_id: &str, dockerfile: &str) -> TaskOutcome {
    let mut results = bus
        .client()
        .subscribe(format!("kaniko.results.{build_id}"))
        .await
        .unwrap();
    let context = upload(
        bus,
        &[
            ("Dockerfile", dockerfile),
            ("hello.txt", "hello from bounds\n"),
        ],
    )
    .await;
    let destination = format!("{}/bounds/{build_id}", registry.host());
    bus.publish_task(&task(build_id, context, destination))
        .await
        .unwrap();
    next_result(&mut results, Duration::from_secs(90))
        .await
        .unwrap_or_else(|| panic!("no result for {build_id}"))
        .outcome
}

fn assert_built(outcome: &TaskOutcome, worker: &Worker) {
    assert!(
        matches!(outcome, TaskOutcome::Built { .. }),
        "{outcome:?}\nworker log:\n{}",
        worker.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bases_from_a_lying_registry_fail_at_their_limit_and_the_worker_keeps_serving() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let registry = Registry::start().unwrap();
    let base = push_busybox(&registry, "fixtures/busybox").await.unwrap();
    let hostile = HostileRegistry::start(LIE_SIZE).await.unwrap();
    let bus = setup(&nats).await;
    let worker = Worker::start_with(
        &nats,
        &registry,
        "bounds-registry",
        &["--insecure-registry", &hostile.host()],
    );
    let ordinary = format!("FROM {}\nCOPY hello.txt /hello.txt\n", base.reference);
    assert_built(&build(&bus, &registry, "warm", &ordinary).await, &worker);
    let baseline = peak_rss(worker.pid());

    let host = hostile.host();
    let cases = [
        (
            "endless",
            vec![format!("{host}/endless:latest"), "8 MiB".to_string()],
        ),
        (
            "big-config",
            vec![
                hostile.big_config_digest(),
                format!("{BIG_CONFIG_DESCRIPTOR_SIZE} bytes"),
            ],
        ),
        (
            "big-child",
            vec![
                hostile.big_child_digest(),
                format!("{BIG_CHILD_DESCRIPTOR_SIZE} bytes"),
            ],
        ),
        (
            "big-layer",
            vec![
                hostile.big_layer_digest(),
                format!("{BIG_LAYER_DESCRIPTOR_SIZE} bytes"),
            ],
        ),
    ];
    for (repository, needles) in cases {
        let started = Instant::now();
        let dockerfile = format!("FROM {host}/{repository}\nCOPY hello.txt /hello.txt\n");
        let outcome = build(&bus, &registry, repository, &dockerfile).await;
        let TaskOutcome::Failed(error) = &outcome else {
            panic!("{repository}: built from a lying registry: {outcome:?}");
        };
        for needle in &needles {
            assert!(
                error.message.contains(needle.as_str()),
                "{repository}: {needle:?} not in: {error}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{repository}: took {:?}",
            started.elapsed()
        );
        let served = hostile.served(repository);
        assert!(
            served <= READ_AT_MOST,
            "{repository}: the worker read {served} bytes"
        );
    }
    let peak = peak_rss(worker.pid());
    assert!(
        peak <= baseline + PEAK_GROWTH_AT_MOST,
        "peak resident size grew from {} to {} MiB",
        baseline / MIB,
        peak / MIB
    );
    assert_built(&build(&bus, &registry, "after", &ordinary).await, &worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_error_bodies_are_not_read_to_their_end() {
    init_test_tracing();
    let hostile = HostileRegistry::start(LIE_SIZE).await.unwrap();
    let client = RegistryClient::new(RegistryOptions {
        retry: RetryPolicy::none(),
        ..RegistryOptions::insecure(hostile.host())
    })
    .unwrap();
    let reference = format!("{}/error-body:latest", hostile.host())
        .parse()
        .unwrap();
    let started = Instant::now();
    let err = client.pull_manifest_raw(&reference).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("http status 500"), "{err}");
    let after_manifest = hostile.served("error-body");
    let digest = format!("sha256:{}", "0".repeat(64));
    let err = client
        .pull_blob_to_writer(&reference, &digest, Vec::new())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    for (what, served) in [
        ("manifest", after_manifest),
        ("blob", hostile.served("error-body") - after_manifest),
    ] {
        assert!(served <= READ_AT_MOST, "{what}: read {served} bytes");
    }
}

/// Every `log` event of `build_id` published within `wait` after the build ended.
async fn log_lines(events: &mut async_nats::Subscriber, wait: Duration) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(wait, events.next()).await {
        let event: Event = serde_json::from_slice(&message.payload).unwrap();
        if let EventKind::Log { line, .. } = event.kind {
            lines.push(line);
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_output_without_newlines_is_cut_into_lines_and_clipped_per_step() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let registry = Registry::start().unwrap();
    let base = push_busybox(&registry, "fixtures/busybox").await.unwrap();
    let bus = setup(&nats).await;
    let worker = Worker::start_with(&nats, &registry, "bounds-run", &[]);
    let warm = format!("FROM {}\nRUN echo warm\n", base.reference);
    assert_built(&build(&bus, &registry, "warm", &warm).await, &worker);
    let baseline = peak_rss(worker.pid());

    let mut events = bus
        .client()
        .subscribe("kaniko.events.flood.log")
        .await
        .unwrap();
    // 64 MiB without a newline, then a line the clip hides; the next step logs again.
    let flood = format!(
        "FROM {}\n\
         RUN yes x | tr -d '\\n' | head -c {}; echo; echo hidden-by-the-clip\n\
         RUN echo next-step-logs\n",
        base.reference,
        64 * MIB
    );
    let started = Instant::now();
    assert_built(&build(&bus, &registry, "flood", &flood).await, &worker);
    let took = started.elapsed();
    let lines = log_lines(&mut events, Duration::from_secs(2)).await;
    let longest = lines.iter().map(String::len).max().unwrap_or(0);
    assert!(longest <= 16 * 1024, "a log line of {longest} bytes");
    let output: Vec<&String> = lines.iter().filter(|l| l.starts_with('x')).collect();
    let forwarded: usize = output.iter().map(|l| l.len()).sum();
    assert!(
        forwarded >= MIB as usize && forwarded <= 2 * MIB as usize,
        "{forwarded} bytes of output forwarded in {} lines",
        output.len()
    );
    let clipped = lines
        .iter()
        .filter(|l| l.contains("[output clipped, log limit 2 MiB reached]"))
        .count();
    assert_eq!(clipped, 1, "one clip message: {:?}", short(&lines));
    assert!(
        !lines.iter().any(|l| l == "hidden-by-the-clip"),
        "{:?}",
        short(&lines)
    );
    assert!(
        lines.iter().any(|l| l == "next-step-logs"),
        "the next step logs again: {:?}",
        short(&lines)
    );
    let peak = peak_rss(worker.pid());
    assert!(
        peak <= baseline + PEAK_GROWTH_AT_MOST,
        "peak resident size grew from {} to {} MiB",
        baseline / MIB,
        peak / MIB
    );
    assert!(took < Duration::from_secs(60), "the flood took {took:?}");
    let after = format!("FROM {}\nCOPY hello.txt /hello.txt\n", base.reference);
    assert_built(&build(&bus, &registry, "after", &after).await, &worker);
}

/// Lines shortened for a failure message.
fn short(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| l.chars().take(80).collect()).collect()
}
