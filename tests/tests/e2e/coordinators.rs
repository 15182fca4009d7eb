// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Two `coordinator serve` processes at once on one nats-server, with real workers and a
//! real registry: submits spread over both through the API queue group and each build is
//! driven by the one coordinator holding its lease (`lease.holder` in its BUILDS record,
//! shown by `coordinator status`); a coordinator `kill -9`ed mid-build has its builds taken
//! over by the other once the lease runs out, without building a finished task again or
//! publishing a second index; a coordinator started while the owner is alive leaves the
//! owner's builds alone. Leases are 5 s (a stall of the test machine shorter than that
//! takes nothing over), renewed every second.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kaniko_tests::{index_platforms, skopeo_inspect_raw};

use crate::fleet::{Daemon, Fleet, binary, copy_context, platforms};

/// The lease flags of every coordinator here.
const LEASE: [&str; 4] = ["--lease", "5", "--lease-renew", "1"];

/// Starts `coordinator serve` named `name` (its log is `<name>.log`) and waits until it
/// serves; its process id.
fn start_coordinator(fleet: &mut Fleet, name: &str) -> u32 {
    start_coordinator_with(fleet, name, &LEASE)
}

/// [`start_coordinator`] with these lease flags.
fn start_coordinator_with(fleet: &mut Fleet, name: &str, lease: &[&str]) -> u32 {
    let mut command = Command::new(binary("coordinator"));
    command
        .arg("serve")
        .args(["--nats", &fleet.nats.url()])
        .args(["--heartbeat-interval", "1"])
        .args(["--insecure-registry", &fleet.registry.host()])
        .args(lease);
    let daemon = Daemon::spawn(name, fleet.dir.path(), command);
    let pid = daemon.child.id();
    fleet.daemons.push(daemon);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_of(fleet, name).contains("coordinator serving") {
        assert!(
            Instant::now() < deadline,
            "{name} never served\n{}",
            fleet.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pid
}

/// The log of daemon `name` so far.
fn log_of(fleet: &Fleet, name: &str) -> String {
    std::fs::read_to_string(fleet.dir.path().join(format!("{name}.log"))).unwrap_or_default()
}

/// Kills daemon `name` with SIGKILL; it is kept (its log) until the fleet ends.
fn kill_9(fleet: &mut Fleet, name: &str) {
    let daemon = fleet
        .daemons
        .iter_mut()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no daemon {name}"));
    daemon.child.kill().expect("SIGKILL");
    let _ = daemon.child.wait();
}

/// Sends `signal` (`-STOP`, `-CONT`) to daemon `name`.
fn signal(fleet: &Fleet, name: &str, signal: &str) {
    let daemon = fleet
        .daemons
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no daemon {name}"));
    let status = Command::new("kill")
        .arg(signal)
        .arg(daemon.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal} {name}");
}

/// True when `holder` (a coordinator id, `<host>-<pid>-<random>`) is the process `pid`'s.
fn is_process(holder: &str, pid: u32) -> bool {
    holder.contains(&format!("-{pid}-"))
}

/// Every stored build: `(build id, state, lease holder)`.
async fn stored_builds(fleet: &Fleet) -> Vec<(String, String, String)> {
    let client = async_nats::connect(fleet.nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let names = kaniko_common::subjects::Names::default();
    let builds = js
        .get_key_value(names.builds_bucket())
        .await
        .expect("builds bucket");
    let mut keys = builds.keys().await.expect("keys");
    let mut out = Vec::new();
    while let Some(Ok(key)) = keys.next().await {
        let Ok(Some(bytes)) = builds.get(&key).await else {
            continue;
        };
        let record: serde_json::Value = serde_json::from_slice(&bytes).expect("record json");
        out.push((
            key,
            record["state"].as_str().unwrap_or_default().to_string(),
            record["lease"]["holder"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    out
}

/// How many manifests `repository:tag` has ever pointed at (the registry keeps the history).
fn tag_history(fleet: &Fleet, repository: &str, tag: &str) -> usize {
    let history = fleet.registry.storage_dir().join(format!(
        "docker/registry/v2/repositories/{repository}/_manifests/tags/{tag}/index/sha256"
    ));
    std::fs::read_dir(&history)
        .unwrap_or_else(|err| panic!("{}: {err}\n{}", history.display(), fleet.logs()))
        .count()
}

/// `coordinator status BUILD`'s output.
fn status_of(fleet: &Fleet, build_id: &str) -> String {
    let output = Command::new(binary("coordinator"))
        .arg("status")
        .args(["--nats", &fleet.nats.url()])
        .arg(build_id)
        .output()
        .expect("coordinator status");
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_coordinators_share_the_builds_and_each_build_publishes_one_index() {
    let (native, foreign) = platforms();
    let mut fleet = Fleet::start().await;
    let a = start_coordinator(&mut fleet, "coordinator-a");
    let b = start_coordinator(&mut fleet, "coordinator-b");
    fleet.worker_with("native-1", None, &["--concurrency", "2"]);
    fleet.worker_with("cross-1", Some(&foreign), &["--concurrency", "2"]);
    fleet.wait_for_workers(&["native-1", "cross-1"]);
    let context = copy_context(&fleet.dir.path().join("ctx"), &fleet.registry.host());

    // Rounds of four concurrent two-platform builds until both coordinators drove some (the
    // queue group picks at random: twelve builds all on one has odds of 1 in 2048).
    let mut submitted = 0;
    let holders = loop {
        let mut submits: Vec<_> = (submitted..submitted + 4)
            .map(|i| {
                let destination = format!("{}/app-{i}:v1", fleet.registry.host());
                fleet.spawn_submit_for(&context, &destination, &[&native, &foreign], 60)
            })
            .collect();
        submitted += 4;
        for submit in &mut submits {
            let status = submit.finish();
            assert!(
                status.success(),
                "{status:?}\n{}\n{}",
                submit.seen(),
                fleet.logs()
            );
        }
        let builds = stored_builds(&fleet).await;
        assert_eq!(builds.len(), submitted, "{builds:?}");
        for (id, state, _) in &builds {
            assert_eq!(state, "succeeded", "build {id}\n{}", fleet.logs());
        }
        let by_a = builds.iter().filter(|(_, _, h)| is_process(h, a)).count();
        let by_b = builds.iter().filter(|(_, _, h)| is_process(h, b)).count();
        assert_eq!(
            by_a + by_b,
            submitted,
            "every build has one owner: {builds:?}"
        );
        if (by_a > 0 && by_b > 0) || submitted >= 12 {
            break (by_a, by_b, builds);
        }
    };
    let (by_a, by_b, builds) = holders;
    assert!(
        by_a > 0 && by_b > 0,
        "both coordinators drove builds: a {by_a}, b {by_b}\n{}",
        fleet.logs()
    );
    // Neither took over the other's builds: both were alive all along.
    for name in ["coordinator-a", "coordinator-b"] {
        assert!(
            !log_of(&fleet, name).contains("build taken over"),
            "{name} took a build over\n{}",
            fleet.logs()
        );
    }
    // `coordinator status` names the owner.
    let (id, _, holder) = &builds[0];
    let status = status_of(&fleet, id);
    assert!(
        status.contains(&format!("coordinator {holder}")),
        "{status}"
    );
    // Two tasks per build ever published, one index per build ever under its tag.
    assert_eq!(fleet.tasks_published().await, 2 * submitted as u64);
    let mut wanted = vec![native.to_string(), foreign.to_string()];
    wanted.sort();
    for i in 0..submitted {
        assert_eq!(tag_history(&fleet, &format!("app-{i}"), "v1"), 1, "app-{i}");
        let index = skopeo_inspect_raw(&format!("{}/app-{i}:v1", fleet.registry.host()))
            .expect("skopeo inspect --raw");
        let mut got = index_platforms(&index);
        got.sort();
        assert_eq!(got, wanted, "app-{i}: {index:#}");
    }
    eprintln!("two coordinators: {submitted} builds, {by_a} driven by a, {by_b} by b");
}

/// A worker serving both platforms one task at a time, so a two-platform build has its
/// first platform done while the second is being built.
fn sequential_worker(fleet: &mut Fleet, id: &str) {
    let (native, foreign) = platforms();
    let both = format!("{native},{foreign}");
    fleet.worker_with(
        id,
        None,
        &["--allow-cross", "--platform", &both, "--concurrency", "1"],
    );
    fleet.wait_for_workers(&[id]);
}

/// How many images the worker logs in `dir` say were built.
fn images_built(dir: &Path, worker: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("{worker}.log")))
        .unwrap_or_default()
        .matches("image built")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_coordinators_build_is_taken_over_after_its_lease_without_building_twice() {
    let (native, foreign) = platforms();
    let mut fleet = Fleet::start().await;
    let a = start_coordinator(&mut fleet, "coordinator-a");
    sequential_worker(&mut fleet, "both-1");
    let context = fleet.big_context("big", 48 << 20);
    let destination = format!("{}/big:v1", fleet.registry.host());
    let mut submit = fleet.spawn_submit_for(&context, &destination, &[&native, &foreign], 120);
    // Only a serves yet: the build is a's.
    submit.wait_for("building on both-1", Duration::from_secs(60), &fleet);
    let b = start_coordinator(&mut fleet, "coordinator-b");
    // Kill a once one platform is pushed and the other is being built.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = submit.seen();
        if seen.contains("pushed sha256:") && seen.matches("building on both-1").count() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never one platform done and one building\n{seen}\n{}",
            fleet.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let builds = stored_builds(&fleet).await;
    assert_eq!(builds.len(), 1, "{builds:?}");
    let (build_id, state, holder) = builds[0].clone();
    assert!(is_process(&holder, a), "a owns the build: {holder}");
    assert!(
        !["succeeded", "failed"].contains(&state.as_str()),
        "the build ended before the kill: make the context bigger ({state})"
    );
    let killed_at = Instant::now();
    kill_9(&mut fleet, "coordinator-a");

    let status = submit.finish();
    let finished_after = killed_at.elapsed();
    assert!(
        status.success(),
        "{status:?}\n{}\n{}",
        submit.seen(),
        fleet.logs()
    );
    let builds = stored_builds(&fleet).await;
    let (_, state, holder) = &builds[0];
    assert_eq!(state, "succeeded");
    assert!(is_process(holder, b), "b finished the build: {holder}");
    let b_log = log_of(&fleet, "coordinator-b");
    assert!(
        b_log.contains("build taken over") && b_log.contains(&build_id),
        "{b_log}"
    );
    // Each platform built once, two tasks ever published, one index ever under the tag.
    assert_eq!(
        images_built(fleet.dir.path(), "both-1"),
        2,
        "{}",
        fleet.logs()
    );
    assert_eq!(fleet.tasks_published().await, 2);
    assert_eq!(tag_history(&fleet, "big", "v1"), 1, "{}", fleet.logs());
    let index = skopeo_inspect_raw(&destination).expect("skopeo inspect --raw");
    assert_eq!(index_platforms(&index).len(), 2, "{index:#}");
    eprintln!("takeover: build finished {finished_after:?} after coordinator a was killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_started_while_the_owner_lives_leaves_its_build_alone() {
    let (native, foreign) = platforms();
    let mut fleet = Fleet::start().await;
    let a = start_coordinator(&mut fleet, "coordinator-a");
    // The foreign platform's worker is stopped (SIGSTOP) once listed: its task waits in the
    // stream, so the build stays unfinished, renewed by a, for as long as the test needs.
    fleet.worker_with("native-1", None, &[]);
    fleet.worker_with("cross-1", Some(&foreign), &[]);
    fleet.wait_for_workers(&["native-1", "cross-1"]);
    signal(&fleet, "cross-1", "-STOP");
    let context = copy_context(&fleet.dir.path().join("ctx"), &fleet.registry.host());
    let destination = format!("{}/alive:v1", fleet.registry.host());
    let mut submit = fleet.spawn_submit_for(&context, &destination, &[&native, &foreign], 60);
    submit.wait_for("pushed sha256:", Duration::from_secs(60), &fleet);
    // b starts, is killed and starts again while a drives the build; with a lease of 5 s,
    // more than a lease's time is enough for a wrong takeover to show.
    start_coordinator(&mut fleet, "coordinator-b");
    kill_9(&mut fleet, "coordinator-b");
    let b = start_coordinator(&mut fleet, "coordinator-b2");
    std::thread::sleep(Duration::from_secs(7));
    let builds = stored_builds(&fleet).await;
    let (build_id, state, holder) = builds[0].clone();
    assert!(
        !["succeeded", "failed"].contains(&state.as_str()),
        "the build ended before the check ({state})\n{}",
        fleet.logs()
    );
    assert!(is_process(&holder, a), "a still owns the build: {holder}");
    assert!(!is_process(&holder, b));
    let status = status_of(&fleet, &build_id);
    assert!(
        status.contains(&format!("coordinator {holder}")),
        "{status}"
    );

    // The foreign platform's worker goes on: a finishes the build.
    signal(&fleet, "cross-1", "-CONT");
    let status = submit.finish();
    assert!(
        status.success(),
        "{status:?}\n{}\n{}",
        submit.seen(),
        fleet.logs()
    );
    for name in ["coordinator-b", "coordinator-b2"] {
        assert!(
            !log_of(&fleet, name).contains("build taken over"),
            "{name} took the live owner's build\n{}",
            fleet.logs()
        );
    }
    let builds = stored_builds(&fleet).await;
    assert_eq!(builds[0].1, "succeeded");
    assert!(is_process(&builds[0].2, a), "a finished it: {builds:?}");
    assert_eq!(images_built(fleet.dir.path(), "native-1"), 1);
    assert_eq!(images_built(fleet.dir.path(), "cross-1"), 1);
    assert_eq!(fleet.tasks_published().await, 2);
    assert_eq!(tag_history(&fleet, "alive", "v1"), 1);
}

/// Writes `cancel_requested` into build `build_id`'s record with compare-and-swap, as a
/// coordinator that does not own the build does.
async fn request_cancel_in_store(fleet: &Fleet, build_id: &str) {
    let client = async_nats::connect(fleet.nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let names = kaniko_common::subjects::Names::default();
    let builds = js
        .get_key_value(names.builds_bucket())
        .await
        .expect("builds bucket");
    for _ in 0..10 {
        let entry = builds
            .entry(build_id)
            .await
            .expect("entry")
            .expect("record");
        let mut record: serde_json::Value = serde_json::from_slice(&entry.value).expect("json");
        record["cancel_requested"] = "asked elsewhere".into();
        let bytes = serde_json::to_vec(&record).expect("json");
        if builds
            .update(build_id, bytes.into(), entry.revision)
            .await
            .is_ok()
        {
            return;
        }
    }
    panic!("could not write cancel_requested");
}

/// Waits until build `build_id` is stored in state `state`; its lease holder.
async fn wait_for_state(fleet: &Fleet, build_id: &str, state: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let builds = stored_builds(fleet).await;
        if let Some((_, now, holder)) = builds.iter().find(|(id, _, _)| id == build_id)
            && now == state
        {
            return holder.clone();
        }
        assert!(
            Instant::now() < deadline,
            "build {build_id} never {state}: {builds:?}\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_through_a_coordinator_not_owning_the_build_cancels_it() {
    let (native, foreign) = platforms();
    let mut fleet = Fleet::start().await;
    let a = start_coordinator(&mut fleet, "coordinator-a");
    fleet.worker_with("native-1", None, &[]);
    fleet.worker_with("cross-1", Some(&foreign), &[]);
    fleet.wait_for_workers(&["native-1", "cross-1"]);
    // Two builds of a, kept unfinished by a stopped cross worker.
    signal(&fleet, "cross-1", "-STOP");
    let context = copy_context(&fleet.dir.path().join("ctx"), &fleet.registry.host());
    let mut submits: Vec<_> = ["one", "two"]
        .iter()
        .map(|name| {
            let destination = format!("{}/{name}:v1", fleet.registry.host());
            fleet.spawn_submit_for(&context, &destination, &[&native, &foreign], 60)
        })
        .collect();
    for submit in &mut submits {
        submit.wait_for("pushed sha256:", Duration::from_secs(60), &fleet);
    }
    let b = start_coordinator(&mut fleet, "coordinator-b");
    let builds = stored_builds(&fleet).await;
    assert_eq!(builds.len(), 2, "{builds:?}");
    assert!(
        builds.iter().all(|(_, _, h)| is_process(h, a)),
        "{builds:?}"
    );

    // A cancel written to the store by a coordinator that does not own the build: the
    // live owner sees it at its next renewal and cancels.
    let (first, _, _) = builds[0].clone();
    request_cancel_in_store(&fleet, &first).await;
    let holder = wait_for_state(&fleet, &first, "cancelled", Duration::from_secs(10)).await;
    assert!(is_process(&holder, a), "a cancelled it: {holder}");

    // The owner killed: `coordinator cancel` reaches b, the only one left; b takes the build
    // over once the lease runs out and cancels it.
    let (second, _, _) = builds[1].clone();
    kill_9(&mut fleet, "coordinator-a");
    let output = Command::new(binary("coordinator"))
        .arg("cancel")
        .args(["--nats", &fleet.nats.url()])
        .arg(&second)
        .output()
        .expect("coordinator cancel");
    assert!(
        output.status.success(),
        "{}\n{}",
        crate::fleet::describe(&output),
        fleet.logs()
    );
    let holder = wait_for_state(&fleet, &second, "cancelled", Duration::from_secs(15)).await;
    assert!(is_process(&holder, b), "b cancelled it: {holder}");
    for submit in &mut submits {
        let status = submit.finish();
        assert!(!status.success(), "a cancelled build's submit fails");
    }
    signal(&fleet, "cross-1", "-CONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_stopped_by_sigterm_gives_its_leases_up_at_once() {
    let (native, foreign) = platforms();
    let mut fleet = Fleet::start().await;
    // A lease of 60 s: a takeover within seconds shows the lease was given up, not run out.
    let long = ["--lease", "60", "--lease-renew", "1"];
    let a = start_coordinator_with(&mut fleet, "coordinator-a", &long);
    fleet.worker_with("native-1", None, &[]);
    fleet.worker_with("cross-1", Some(&foreign), &[]);
    fleet.wait_for_workers(&["native-1", "cross-1"]);
    signal(&fleet, "cross-1", "-STOP");
    let context = copy_context(&fleet.dir.path().join("ctx"), &fleet.registry.host());
    let destination = format!("{}/handed:v1", fleet.registry.host());
    let mut submit = fleet.spawn_submit_for(&context, &destination, &[&native, &foreign], 60);
    submit.wait_for("pushed sha256:", Duration::from_secs(60), &fleet);
    let b = start_coordinator_with(&mut fleet, "coordinator-b", &long);
    let builds = stored_builds(&fleet).await;
    assert!(is_process(&builds[0].2, a), "{builds:?}");

    let stopped_at = Instant::now();
    signal(&fleet, "coordinator-a", "-TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let builds = stored_builds(&fleet).await;
        if is_process(&builds[0].2, b) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b never took the build over: {builds:?}\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let handed_over = stopped_at.elapsed();
    signal(&fleet, "cross-1", "-CONT");
    let status = submit.finish();
    assert!(
        status.success(),
        "{status:?}\n{}\n{}",
        submit.seen(),
        fleet.logs()
    );
    assert!(
        log_of(&fleet, "coordinator-a").contains("giving up its builds' leases"),
        "{}",
        fleet.logs()
    );
    let builds = stored_builds(&fleet).await;
    assert_eq!(builds[0].1, "succeeded");
    assert!(is_process(&builds[0].2, b), "b finished it: {builds:?}");
    assert_eq!(images_built(fleet.dir.path(), "native-1"), 1);
    assert_eq!(fleet.tasks_published().await, 2);
    assert_eq!(tag_history(&fleet, "handed", "v1"), 1);
    eprintln!("sigterm: build handed over {handed_over:?} after the signal (lease 60 s)");
}
