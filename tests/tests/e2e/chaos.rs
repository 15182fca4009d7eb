// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Seeded chaos (issue #17): N two-platform builds on a 3-node nats-server cluster with two
//! coordinators (`--replicas 3`, 5 s leases), a native and an `--allow-cross` worker, and a
//! real registry, while a seeded schedule ([`schedule`]) `kill -9`s and restarts workers,
//! coordinators and cluster nodes (one node at a time: quorum is kept) and stops the
//! registry for 1–3 s. Submits are `submit --detach`, spread over the run.
//!
//! After the run every build in the store is checked ([`invariants`]): it ended
//! `succeeded` (both platforms, or the native one alone when it asked `--allow-partial`
//! and the foreign one was made to fail) or `failed` with a reason, within a bound; a
//! published index names only children that are in the registry with their config and
//! layers, and its tag has only ever named that index; a failed build's tag was never
//! written; for each (build, platform) the results stream holds how many completions, and
//! where there were more than one (delivery is at least once) the one the index names is
//! one of them and the others were ignored; every coordinator's and worker's peak RSS stays
//! under [`RSS_BOUND_KIB`].
//!
//! `CHAOS_SEED` (default [`DEFAULT_SEED`], so `make test` always runs the same schedule) and
//! `CHAOS_BUILDS` (default [`DEFAULT_BUILDS`]) pick the run; the seed, the whole schedule
//! and a replay line are printed first. `make chaos` runs 40 builds with a random seed.
//! Runs against whichever nats-server `NATS_SERVER` names.

mod invariants;
mod schedule;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kaniko_common::messages::BuildStatus;
use kaniko_common::platform::Platform;
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::{NatsCluster, Registry, init_test_tracing, nats_server_version};

use crate::fleet::load::peak_rss_kib;
use crate::fleet::{Daemon, binary, describe, platforms, wait_for_listing};
use schedule::{Action, BuildKind, COORDINATORS, PlannedBuild, Schedule, Target, WORKERS};

/// The seed when `CHAOS_SEED` is not set.
const DEFAULT_SEED: u64 = 17;
/// The builds when `CHAOS_BUILDS` is not set.
const DEFAULT_BUILDS: usize = 5;
/// Every coordinator's and worker's peak resident memory (VmHWM) stays under this.
const RSS_BOUND_KIB: u64 = 200 * 1024;
/// After the last fault is over, every build has ended within this.
const TERMINAL_BOUND: Duration = Duration::from_secs(120);
/// Submits tried per build, [`SUBMIT_PAUSE`] apart: a submit whose request met a killed node
/// or a coordinator reconnecting may fail (with a clear error); it is tried again under a
/// new tag, and every build it may have left in the store is checked all the same.
const SUBMIT_ATTEMPTS: usize = 5;
const SUBMIT_PAUSE: Duration = Duration::from_secs(2);
/// How many incompressible bytes each build's context carries, so a task takes a moment.
const DATA_LEN: usize = 16 << 20;

/// A number from the environment variable `name`, `default` when unset.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

/// One `submit --detach` try: its destination and what it printed.
struct SubmitTry {
    destination: String,
    output: Output,
}

/// The fleet under chaos.
struct Chaos {
    // Fields drop in order: the daemons before the cluster and the registry they use.
    daemons: Vec<Daemon>,
    cluster: NatsCluster,
    registry: Registry,
    dir: tempfile::TempDir,
    /// Role (`coordinator-a`, `native-1`, ...) to its running incarnation in `daemons`.
    live: BTreeMap<String, usize>,
    /// Each incarnation's (`native-1`, `native-1.2`, ...) highest VmHWM seen, KiB.
    peaks: BTreeMap<String, u64>,
    native: Platform,
    foreign: Platform,
    started: Instant,
}

impl Chaos {
    async fn start() -> Chaos {
        init_test_tracing();
        let (native, foreign) = platforms();
        let cluster = NatsCluster::start().expect("nats cluster");
        let registry = Registry::start().expect("registry");
        push_busybox(&registry, "busybox").await.expect("fixture");
        let mut chaos = Chaos {
            daemons: Vec::new(),
            cluster,
            registry,
            dir: tempfile::tempdir().expect("tempdir"),
            live: BTreeMap::new(),
            peaks: BTreeMap::new(),
            native,
            foreign,
            started: Instant::now(),
        };
        for role in COORDINATORS {
            chaos.spawn(role);
        }
        for role in WORKERS {
            chaos.spawn(role);
        }
        let urls = chaos.cluster.urls();
        let list = || {
            Command::new(binary("coordinator"))
                .arg("workers")
                .args(["--nats", &urls])
                .output()
                .expect("coordinator workers")
        };
        wait_for_listing(&WORKERS, list, || chaos.logs_tail(80));
        chaos
    }

    /// Starts (a new incarnation of) the coordinator or worker `role`.
    fn spawn(&mut self, role: &str) {
        let urls = self.cluster.urls();
        let host = self.registry.host();
        let mut command;
        if role.starts_with("coordinator") {
            command = Command::new(binary("coordinator"));
            command
                .arg("serve")
                .args(["--lease", "5", "--lease-renew", "1"]);
        } else {
            command = Command::new(binary("worker"));
            command
                .arg("serve")
                .args(["--id", role])
                .args(["--ack-wait", "5", "--retry-backoff", "1"])
                .args(["--concurrency", "2"]);
            if role.starts_with("cross") {
                command
                    .arg("--allow-cross")
                    .args(["--platform", &self.foreign.to_string()]);
            }
        }
        command
            .args(["--nats", &urls])
            .args(["--replicas", "3"])
            .args(["--heartbeat-interval", "1"])
            .args(["--insecure-registry", &host]);
        let incarnation = self
            .daemons
            .iter()
            .filter(|d| d.name == role || d.name.starts_with(&format!("{role}.")))
            .count();
        let name = match incarnation {
            0 => role.to_string(),
            n => format!("{role}.{}", n + 1),
        };
        self.daemons
            .push(Daemon::spawn(&name, self.dir.path(), command));
        self.live.insert(role.to_string(), self.daemons.len() - 1);
    }

    /// Kills `role`'s running incarnation with SIGKILL (its peak RSS read just before).
    fn kill_9(&mut self, role: &str) {
        self.sample_peaks();
        let index = self
            .live
            .remove(role)
            .unwrap_or_else(|| panic!("{role} is not running"));
        let daemon = &mut self.daemons[index];
        daemon.child.kill().expect("SIGKILL");
        let _ = daemon.child.wait();
    }

    /// Reads every running coordinator's and worker's VmHWM.
    fn sample_peaks(&mut self) {
        for index in self.live.values() {
            let daemon = &self.daemons[*index];
            let peak = peak_rss_kib(daemon.child.id());
            let seen = self.peaks.entry(daemon.name.clone()).or_default();
            *seen = (*seen).max(peak);
        }
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Takes `target` down.
    fn down(&mut self, target: Target) {
        match target {
            Target::Worker(i) => self.kill_9(WORKERS[i]),
            Target::Coordinator(i) => {
                // One coordinator always serves the API: the other must be serving first
                // (a restarted one takes a few seconds, more while a node is down).
                let other = COORDINATORS[1 - i];
                let index = self.live[other];
                let deadline = Instant::now() + Duration::from_secs(60);
                while !self.daemons[index].logs().contains("coordinator serving") {
                    assert!(
                        Instant::now() < deadline,
                        "{other} never served\n{}",
                        self.logs_tail(80)
                    );
                    self.sample_peaks();
                    std::thread::sleep(Duration::from_millis(100));
                }
                self.kill_9(COORDINATORS[i]);
            }
            Target::Node(i) => self.cluster.kill(i),
            Target::Registry => self.registry.stop(),
        }
    }

    /// Brings `target` back.
    fn up(&mut self, target: Target, seed: u64) {
        match target {
            Target::Worker(i) => self.spawn(WORKERS[i]),
            Target::Coordinator(i) => self.spawn(COORDINATORS[i]),
            Target::Node(i) => self.cluster.restart(i).unwrap_or_else(|err| {
                panic!(
                    "seed {seed}: node n{} back: {err:#}\n{}",
                    i + 1,
                    self.logs_tail(80)
                )
            }),
            Target::Registry => self
                .registry
                .start_again()
                .unwrap_or_else(|err| panic!("seed {seed}: registry back: {err:#}")),
        }
    }

    /// Build `build`'s context: a Dockerfile and its files, different for every build.
    fn context(&self, seed: u64, build: &PlannedBuild) -> PathBuf {
        let dir = self.dir.path().join(format!("ctx-{}", build.number));
        std::fs::create_dir_all(&dir).expect("context dir");
        let mut rng = schedule::SplitMix64::new(seed ^ (build.number as u64 + 1) << 32);
        let data: Vec<u8> = (0..DATA_LEN / 8)
            .flat_map(|_| rng.next_u64().to_le_bytes())
            .collect();
        std::fs::write(dir.join("data.bin"), data).expect("data.bin");
        std::fs::write(
            dir.join("note.txt"),
            format!("chaos seed {seed} build {}\n", build.number),
        )
        .expect("note.txt");
        let mut dockerfile = format!(
            "FROM {}/busybox:latest\nARG TARGETARCH\nCOPY data.bin note.txt /chaos/\n",
            self.registry.host()
        );
        if build.kind != BuildKind::Both {
            // Only the native architecture's file exists: the foreign platform's COPY fails.
            let only = format!("only-{}.txt", self.native.architecture);
            std::fs::write(dir.join(only), "native only\n").expect("only file");
            dockerfile.push_str("COPY only-${TARGETARCH}.txt /chaos/only.txt\n");
        }
        dockerfile.push_str("LABEL chaos=yes\n");
        std::fs::write(dir.join("Dockerfile"), dockerfile).expect("Dockerfile");
        dir
    }

    /// Submits `build` in the background (`--detach`), trying again under a new tag when a
    /// submit fails.
    fn submit(&self, seed: u64, build: &PlannedBuild) -> JoinHandle<Vec<SubmitTry>> {
        let context = self.context(seed, build);
        let urls = self.cluster.urls();
        let repository = format!(
            "{}/chaos/{}-{}",
            self.registry.host(),
            build.kind.token(),
            build.number
        );
        let platforms = format!("{},{}", self.native, self.foreign);
        let partial = build.kind == BuildKind::Partial;
        std::thread::spawn(move || {
            let mut tries = Vec::new();
            for attempt in 1..=SUBMIT_ATTEMPTS {
                let destination = format!("{repository}:t{attempt}");
                let output = Command::new(binary("coordinator"))
                    .arg("submit")
                    .args(["--driver", "nats", "--detach"])
                    .args(["--nats", &urls])
                    .arg("--context")
                    .arg(&context)
                    .args(["--destination", &destination])
                    .args(["--multi-platform", &platforms])
                    .arg(format!("--allow-partial={partial}"))
                    .stdin(Stdio::null())
                    .output()
                    .expect("coordinator submit");
                let ok = output.status.success();
                tries.push(SubmitTry {
                    destination,
                    output,
                });
                if ok {
                    break;
                }
                std::thread::sleep(SUBMIT_PAUSE);
            }
            tries
        })
    }

    /// Every build in the store (`coordinator list --json`), or why not.
    fn builds(&self) -> Result<Vec<BuildStatus>, String> {
        let output = Command::new(binary("coordinator"))
            .args(["list", "--json", "--limit", "100000"])
            .args(["--nats", &self.cluster.urls()])
            .output()
            .expect("coordinator list");
        if !output.status.success() {
            return Err(describe(&output));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|err| format!("{err}: {}", describe(&output)))
    }

    /// The last `lines` lines of every daemon's log and every node's.
    fn logs_tail(&self, lines: usize) -> String {
        let tail = |text: &str| {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        };
        let mut out: Vec<String> = self
            .daemons
            .iter()
            .map(|d| {
                format!(
                    "--- {} (last {lines} lines) ---\n{}",
                    d.name,
                    tail(&d.logs())
                )
            })
            .collect();
        // Without the nodes' healthcheck warnings (ten a second while a node catches up).
        let nodes: Vec<String> = self
            .cluster
            .logs()
            .lines()
            .filter(|line| !line.contains("Healthcheck failed"))
            .map(str::to_string)
            .collect();
        out.push(tail(&nodes.join("\n")));
        out.join("\n")
    }

    /// Every daemon's whole log (all incarnations).
    fn all_logs(&self) -> String {
        self.daemons
            .iter()
            .map(Daemon::logs)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_kills_and_outages_leave_every_build_ended_published_once_or_failed_with_a_reason() {
    let seed = env_number("CHAOS_SEED", DEFAULT_SEED);
    let count = env_number("CHAOS_BUILDS", DEFAULT_BUILDS as u64) as usize;
    assert!(count > 0, "CHAOS_BUILDS must be at least 1");
    let plan = Schedule::new(seed, count);
    let version = nats_server_version().expect("nats-server version");
    let replay = format!("CHAOS_SEED={seed} CHAOS_BUILDS={count} make chaos");
    eprintln!("{plan}replay: {replay} (nats-server {version:?})");

    let mut chaos = Chaos::start().await;
    chaos.started = Instant::now();
    let mut submits = Vec::new();
    for (at, action) in plan.actions() {
        while chaos.started.elapsed() < at {
            chaos.sample_peaks();
            let left = at.saturating_sub(chaos.started.elapsed());
            std::thread::sleep(left.min(Duration::from_millis(200)));
        }
        let late = chaos.started.elapsed().saturating_sub(at);
        let what = match action {
            Action::Submit(n) => {
                submits.push((n, chaos.submit(seed, &plan.builds[n])));
                format!("submit build {n}")
            }
            Action::Down(target) => {
                chaos.down(target);
                format!("down: {target}")
            }
            Action::Up(target) => {
                chaos.up(target, seed);
                format!("up: {target}")
            }
        };
        eprintln!(
            "chaos t+{:.1}s ({:.1}s late) {what}",
            chaos.elapsed(),
            late.as_secs_f64()
        );
    }
    let faults_over = chaos.elapsed();

    // The submits' outcomes.
    let mut submitted: Vec<(String, String)> = Vec::new();
    let mut failed_submits = Vec::new();
    for (n, handle) in submits {
        for attempt in handle.join().expect("submit thread") {
            let stdout = String::from_utf8_lossy(&attempt.output.stdout)
                .trim()
                .to_string();
            if attempt.output.status.success() && !stdout.is_empty() {
                submitted.push((stdout, attempt.destination));
            } else {
                failed_submits.push(format!(
                    "build {n} to {}: {}",
                    attempt.destination,
                    describe(&attempt.output)
                ));
            }
        }
    }
    for failure in &failed_submits {
        eprintln!("chaos: a submit failed (tried again under a new tag): {failure}");
    }

    // Every build ends within the bound.
    let deadline = Instant::now() + TERMINAL_BOUND;
    let builds = loop {
        chaos.sample_peaks();
        let listed = chaos.builds();
        if let Ok(builds) = &listed
            && builds.iter().all(|b| b.state.is_terminal())
            && submitted
                .iter()
                .all(|(id, _)| builds.iter().any(|b| &b.build_id == id))
        {
            break builds.clone();
        }
        if Instant::now() > deadline {
            let logs = chaos.logs_tail(60);
            let kept = chaos.dir.keep();
            panic!(
                "seed {seed}: builds not ended {TERMINAL_BOUND:?} after the last fault: \
                 {listed:#?}\nreplay: {replay}\n{logs}\n(whole logs kept in {})",
                kept.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let ended = chaos.elapsed();
    chaos.sample_peaks();

    let report = invariants::check(&chaos, &plan, &builds, &submitted).await;
    eprintln!(
        "chaos: seed {seed}, {} builds ({} submits failed and were tried again), faults over \
         at t+{faults_over:.1}s, all ended at t+{ended:.1}s\n{}",
        builds.len(),
        failed_submits.len(),
        report.summary
    );
    if !report.violations.is_empty() {
        let logs = chaos.logs_tail(60);
        let kept = chaos.dir.keep();
        panic!(
            "seed {seed}: {} invariant(s) broken:\n  {}\nreplay: {replay}\n{logs}\n(whole logs kept in {})",
            report.violations.len(),
            report.violations.join("\n  "),
            kept.display()
        );
    }
}
