// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Load: 200 builds submitted at once to one coordinator with two workers of concurrency 2.
//! Every build is published; while they wait, `coordinator list` and `coordinator status`
//! show each one's place in its queue and how long it has waited, and `coordinator workers`
//! the load of each worker; the coordinator's peak memory stays under a stated bound.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{Fleet, binary, copy_context, describe};

/// Builds submitted at once.
const BUILDS: usize = 200;
/// The coordinator's peak resident memory (VmHWM) may not pass this.
const COORDINATOR_RSS_BOUND_KIB: u64 = 200 * 1024;

fn coordinator(fleet: &Fleet, args: &[&str]) -> Output {
    Command::new(binary("coordinator"))
        .args(args)
        .args(["--nats", &fleet.nats.url()])
        .output()
        .expect("coordinator")
}

/// The peak resident memory of the process `pid`, in KiB (`VmHWM`).
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_builds_queued_at_once_all_publish_with_queue_places_shown() {
    let mut fleet = Fleet::start().await;
    fleet.coordinator();
    for id in ["load-1", "load-2"] {
        fleet.worker_with(id, None, &["--concurrency", "2"]);
    }
    fleet.wait_for_workers(&["load-1", "load-2"]);
    let context = copy_context(&fleet.dir.path().join("ctx"), &fleet.registry.host());
    let platform = super::platforms().0.to_string();

    // Submitted from 20 threads at once, each `submit --detach` printing its build id.
    let started = Instant::now();
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|thread| {
                let (fleet, context, platform) = (&fleet, &context, &platform);
                scope.spawn(move || {
                    (thread..BUILDS)
                        .step_by(20)
                        .map(|n| {
                            let out = Command::new(binary("coordinator"))
                                .arg("submit")
                                .args(["--driver", "nats", "--detach"])
                                .args(["--nats", &fleet.nats.url()])
                                .arg("--context")
                                .arg(context)
                                .args([
                                    "--destination",
                                    &format!("{}/load/app:{n}", fleet.registry.host()),
                                ])
                                .args(["--multi-platform", platform])
                                .output()
                                .expect("coordinator submit");
                            assert!(out.status.success(), "{}", describe(&out));
                            String::from_utf8_lossy(&out.stdout).trim().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("submit thread"))
            .collect()
    });
    assert_eq!(ids.len(), BUILDS);
    let submitted_in = started.elapsed();

    // While most wait: places in the queue and waiting times, and the workers' load.
    let listed = coordinator(&fleet, &["list", "--active"]);
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    let places: Vec<u32> = text
        .lines()
        .filter_map(|l| l.split('#').nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(
        places.len() >= 10 && places.iter().any(|&p| p >= 10),
        "coordinator list shows queue places: {}\n{}",
        describe(&listed),
        fleet.logs()
    );
    let waiting = places.len();
    let last = ids.last().expect("a build");
    let status = coordinator(&fleet, &["status", last]);
    let status_text = String::from_utf8_lossy(&status.stdout).to_string();
    let finished_already = status_text.contains("succeeded");
    assert!(
        finished_already || status_text.contains("in its queue, waiting"),
        "coordinator status shows the place: {}",
        describe(&status)
    );
    let workers = coordinator(&fleet, &["workers"]);
    let workers_text = String::from_utf8_lossy(&workers.stdout).to_string();
    for id in ["load-1", "load-2"] {
        assert!(
            workers_text
                .lines()
                .any(|l| l.starts_with(id) && (l.contains("/2 ") || l.contains("/2\t"))),
            "coordinator workers shows each worker's load (busy/2): {workers_text}"
        );
    }

    // All finish, published.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let listed = coordinator(&fleet, &["list", "--active", "--json"]);
        let builds: serde_json::Value =
            serde_json::from_slice(&listed.stdout).unwrap_or(serde_json::Value::Null);
        if builds.as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "builds still active after 10 minutes: {}\n{}",
            describe(&listed),
            fleet.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let all = coordinator(&fleet, &["list", "--json", "--limit", "1000"]);
    let builds: serde_json::Value = serde_json::from_slice(&all.stdout).expect("list --json");
    let builds = builds.as_array().expect("an array of builds");
    assert_eq!(builds.len(), BUILDS, "{}", describe(&all));
    let not_published: Vec<&serde_json::Value> = builds
        .iter()
        .filter(|b| b["state"] != "succeeded")
        .collect();
    assert!(
        not_published.is_empty(),
        "{not_published:?}\n{}",
        fleet.logs()
    );
    let coordinator_pid = fleet
        .daemons
        .iter()
        .find(|d| d.name == "coordinator")
        .map(|d| d.child.id())
        .expect("the coordinator daemon");
    let peak = peak_rss_kib(coordinator_pid);
    assert!(
        peak > 0 && peak < COORDINATOR_RSS_BOUND_KIB,
        "coordinator peak RSS {peak} KiB (bound {COORDINATOR_RSS_BOUND_KIB} KiB)"
    );
    eprintln!(
        "load: {BUILDS} builds submitted in {submitted_in:?}, all published in {:?}; {waiting} \
         were waiting with a queue place shown; coordinator peak RSS {} MiB",
        started.elapsed(),
        peak / 1024
    );
}
