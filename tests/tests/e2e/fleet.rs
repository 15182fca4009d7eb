// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The whole fleet as spawned binaries: a real nats-server, a real registry holding the
//! busybox fixture, `coordinator serve`, and `worker serve` processes (one native, one
//! `--allow-cross` serving the other architecture). `coordinator submit --driver nats` of a
//! cross-safe Dockerfile for both platforms must publish one OCI index whose children's
//! configs name their architectures, with exit code 0 and a summary.
//!
//! The binaries are found next to this test executable (`target/debug/worker`,
//! `target/debug/coordinator`); build them first.

pub(crate) mod load;
mod policy;
mod publish_retry;
mod slow_link;
mod submit_retry;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kaniko_common::platform::Platform;
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::tree::FileTree;
use kaniko_tests::{Nats, Registry, init_test_tracing, skopeo_inspect_config, skopeo_inspect_raw};

/// Every variable a spawned process could take NATS or identity settings from; a test that
/// spawns with its own settings clears them all so only what it gives counts.
pub(crate) const SETTINGS_ENV: [&str; 13] = [
    "NATS_URL",
    "NATS_TOKEN",
    "NATS_USER",
    "NATS_PASSWORD",
    "NATS_NKEY",
    "NATS_CREDS",
    "NATS_CA",
    "NATS_CERT",
    "NATS_KEY",
    "KANIKO_PREFIX",
    "KANIKO_NATS_PREFIX",
    "KANIKO_IDENTITY",
    "KANIKO_POLICY",
];

pub(crate) fn binary(name: &str) -> PathBuf {
    kaniko_tests::workspace_binary(name)
}

/// A spawned daemon whose stderr goes to a log file; killed on drop.
pub(crate) struct Daemon {
    pub(crate) name: String,
    pub(crate) child: Child,
    log: PathBuf,
}

impl Daemon {
    pub(crate) fn spawn(name: &str, dir: &Path, mut command: Command) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|err| panic!("spawning {name}: {err}"));
        Daemon {
            name: name.to_string(),
            child,
            log,
        }
    }

    pub(crate) fn logs(&self) -> String {
        format!(
            "--- {} ---\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host's platform and a foreign one (the one the cross worker serves).
pub(crate) fn platforms() -> (Platform, Platform) {
    let native = Platform::host();
    let foreign = if native.architecture == "arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    (native, Platform::parse(foreign).expect("platform"))
}

/// nats-server, a registry with `busybox:latest`, `coordinator serve`, and the workers.
pub(crate) struct Fleet {
    pub(crate) nats: Nats,
    pub(crate) registry: Registry,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) daemons: Vec<Daemon>,
}

impl Fleet {
    pub(crate) async fn start() -> Fleet {
        init_test_tracing();
        let nats = Nats::start().expect("nats-server");
        let registry = Registry::start().expect("registry");
        push_busybox(&registry, "busybox").await.expect("fixture");
        let dir = tempfile::tempdir().expect("tempdir");
        Fleet {
            nats,
            registry,
            dir,
            daemons: Vec::new(),
        }
    }

    /// A started fleet: `coordinator serve` and the `(id, cross platform)` workers, listed.
    async fn with_workers(workers: &[(&str, Option<&Platform>)]) -> Fleet {
        let mut fleet = Fleet::start().await;
        fleet.coordinator();
        for (id, cross) in workers {
            fleet.worker(id, *cross);
        }
        let ids: Vec<&str> = workers.iter().map(|(id, _)| *id).collect();
        fleet.wait_for_workers(&ids);
        fleet
    }

    fn coordinator(&mut self) {
        self.coordinator_with(&[]);
    }

    /// `coordinator serve` with `extra` flags after the usual ones.
    pub(crate) fn coordinator_with(&mut self, extra: &[&str]) {
        self.coordinator_with_env(extra, &[]);
    }

    /// [`Fleet::coordinator_with`] with `env` variables set.
    pub(crate) fn coordinator_with_env(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        let mut command = Command::new(binary("coordinator"));
        command.envs(env.iter().copied());
        command
            .arg("serve")
            .args(["--nats", &self.nats.url()])
            .args(["--heartbeat-interval", "1"])
            .args(["--insecure-registry", &self.registry.host()])
            .args(extra);
        let daemon = Daemon::spawn("coordinator", self.dir.path(), command);
        self.daemons.push(daemon);
    }

    fn worker(&mut self, id: &str, cross: Option<&Platform>) {
        self.worker_with(id, cross, &[]);
    }

    /// A worker with `extra` flags after the usual ones.
    pub(crate) fn worker_with(&mut self, id: &str, cross: Option<&Platform>, extra: &[&str]) {
        let mut command = Command::new(binary("worker"));
        serve_args(&mut command, &self.nats, id, &self.registry).args(["--ack-wait", "5"]);
        if let Some(platform) = cross {
            command
                .arg("--allow-cross")
                .args(["--platform", &platform.to_string()]);
        }
        command.args(extra);
        let daemon = Daemon::spawn(id, self.dir.path(), command);
        self.daemons.push(daemon);
    }

    /// Waits until `coordinator workers` lists every id.
    pub(crate) fn wait_for_workers(&self, ids: &[&str]) {
        let list = || {
            Command::new(binary("coordinator"))
                .arg("workers")
                .args(["--nats", &self.nats.url()])
                .output()
                .expect("coordinator workers")
        };
        wait_for_listing(ids, list, || self.logs());
    }

    /// A cross-safe two-stage context: a build stage on the build platform, the final stage
    /// copying from it. No RUN, so every platform can be built anywhere.
    fn cross_safe_context(&self) -> PathBuf {
        let context = self.dir.path().join("context");
        std::fs::create_dir_all(&context).expect("context dir");
        let base = format!("{}/busybox:latest", self.registry.host());
        std::fs::write(
            context.join("Dockerfile"),
            format!(
                "FROM --platform=$BUILDPLATFORM {base} AS build\n\
                 ARG TARGETARCH\n\
                 COPY hello.txt /out/hello.txt\n\
                 RUN echo \"built by RUN for $TARGETARCH\" > /out/run.txt\n\
                 FROM {base}\n\
                 COPY --from=build /out/hello.txt /out/run.txt /\n\
                 LABEL fleet=yes\n"
            ),
        )
        .expect("Dockerfile");
        std::fs::write(context.join("hello.txt"), "hello from the fleet\n").expect("hello");
        context
    }

    fn submit(&self, context: &Path, destination: &str, platforms: &[&Platform]) -> Output {
        let list: Vec<String> = platforms.iter().map(ToString::to_string).collect();
        Command::new(binary("coordinator"))
            .arg("submit")
            .args(["--driver", "nats"])
            .args(["--nats", &self.nats.url()])
            .arg("--context")
            .arg(context)
            .args(["--destination", destination])
            .args(["--multi-platform", &list.join(",")])
            .args(["--timeout", "180"])
            .arg("--digest-file")
            .arg(self.dir.path().join("digest"))
            .output()
            .expect("coordinator submit")
    }

    pub(crate) fn logs(&self) -> String {
        let mut out: Vec<String> = self.daemons.iter().map(Daemon::logs).collect();
        out.push(format!("--- nats ---\n{}", self.nats.logs()));
        out.join("\n")
    }
}

/// A context directory `dir` holding `hello.txt` (`hello`) and a Dockerfile `FROM
/// <host>/busybox:latest` that copies it.
pub(crate) fn copy_context(dir: &Path, host: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("context dir");
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {host}/busybox:latest\nCOPY hello.txt /hello.txt\n"),
    )
    .expect("Dockerfile");
    std::fs::write(dir.join("hello.txt"), "hello\n").expect("hello.txt");
    dir.to_path_buf()
}

/// Adds to `command` (a `worker` binary) `serve` on `nats` as `id`, a heartbeat every
/// second, and plain HTTP to `registry`: how every fleet test starts a worker.
pub(crate) fn serve_args<'c>(
    command: &'c mut Command,
    nats: &Nats,
    id: &str,
    registry: &Registry,
) -> &'c mut Command {
    command
        .arg("serve")
        .args(["--nats", &nats.url()])
        .args(["--id", id])
        .args(["--heartbeat-interval", "1"])
        .args(["--insecure-registry", &registry.host()])
}

/// Runs `list` (a `coordinator workers`) every 300 ms until it succeeds listing every one of
/// `ids` (an empty id: any answer); fails the test after 30 s with the last listing and
/// `logs`.
pub(crate) fn wait_for_listing(
    ids: &[&str],
    mut list: impl FnMut() -> Output,
    logs: impl Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = list();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() && ids.iter().all(|id| text.contains(id)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "workers {ids:?} never showed up; last listing:\n{}\n{}",
            describe(&out),
            logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub(crate) fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// [`check_index_labelled`] for the fleet's context (label `fleet`).
fn check_index(reference: &str, platforms: &[&Platform]) {
    check_index_labelled(reference, platforms, "fleet");
}

/// Checks the index at `reference`: OCI, exactly `platforms` (in any order), each child's
/// config naming its platform and carrying the label `<label>=yes`.
pub(crate) fn check_index_labelled(reference: &str, platforms: &[&Platform], label: &str) {
    let index = skopeo_inspect_raw(reference).expect("skopeo inspect --raw");
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index:#}"
    );
    let mut got = kaniko_tests::index_platforms(&index);
    got.sort();
    let mut wanted: Vec<String> = platforms.iter().map(ToString::to_string).collect();
    wanted.sort();
    assert_eq!(got, wanted, "{index:#}");
    for platform in platforms {
        let config = skopeo_inspect_config(reference, Some(&platform.architecture))
            .expect("skopeo inspect --config");
        assert_eq!(config["architecture"], platform.architecture.as_str());
        assert_eq!(config["os"], platform.os.as_str());
        assert_eq!(config["config"]["Labels"][label], "yes", "{config:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_and_a_cross_worker_publish_one_index_with_both_platforms() {
    let (native, foreign) = platforms();
    let fleet = Fleet::with_workers(&[("native-1", None), ("cross-1", Some(&foreign))]).await;

    let context = fleet.cross_safe_context();
    let destination = format!("{}/app:v1", fleet.registry.host());
    let output = fleet.submit(&context, &destination, &[&native, &foreign]);
    assert!(
        output.status.success(),
        "{}\n{}",
        describe(&output),
        fleet.logs()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let digest = std::fs::read_to_string(fleet.dir.path().join("digest")).expect("digest file");
    assert!(digest.trim().starts_with("sha256:"), "{digest:?}");
    assert!(
        stdout.contains(digest.trim()) || stderr.contains(digest.trim()),
        "the summary names the index digest\n{}",
        describe(&output)
    );
    check_index(&destination, &[&native, &foreign]);
    // Both platforms ran the build stage's RUN on their worker's own platform (the native
    // worker natively, the cross worker in its $BUILDPLATFORM stage).
    for platform in [&native, &foreign] {
        let tree = FileTree::of_image(&destination, Some(&platform.architecture))
            .unwrap_or_else(|err| panic!("{platform}: {err}"));
        assert!(
            tree.get("/run.txt").is_some(),
            "{platform}: /run.txt missing"
        );
        assert!(
            tree.get("/hello.txt").is_some(),
            "{platform}: /hello.txt missing"
        );
    }
    // The per-platform images were pushed by digest only: the repository has no tag but
    // v1, and the only manifest v1 has ever pointed at is the index (the registry keeps a
    // tag's history on disk).
    let tags_dir = fleet
        .registry
        .storage_dir()
        .join("docker/registry/v2/repositories/app/_manifests/tags");
    let list = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(list(&tags_dir), ["v1"], "tags of the app repository");
    let tagged: Vec<String> = list(&tags_dir.join("v1/index/sha256"))
        .into_iter()
        .map(|hex| format!("sha256:{hex}"))
        .collect();
    assert_eq!(tagged, [digest.trim().to_string()], "tag v1's history");
    // The foreign platform went through the cross consumer, the native one through its own.
    let client = async_nats::connect(fleet.nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let names = kaniko_common::subjects::Names::default();
    for (consumer, what) in [
        (names.tasks_cross_consumer(&foreign).unwrap(), "cross"),
        (names.tasks_consumer(&native).unwrap(), "native"),
    ] {
        let stream = js
            .get_stream(names.tasks_stream())
            .await
            .expect("tasks stream");
        let info = stream
            .consumer_info(&consumer)
            .await
            .unwrap_or_else(|err| panic!("{what} consumer {consumer}: {err}\n{}", fleet.logs()));
        assert_eq!(
            info.delivered.consumer_sequence, 1,
            "{what} consumer {consumer} delivered one task"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_native_nodes_is_refused_before_any_task_when_only_a_cross_worker_serves() {
    let (native, foreign) = platforms();
    let fleet = Fleet::with_workers(&[("native-1", None), ("cross-1", Some(&foreign))]).await;

    let context = fleet.cross_safe_context();
    let destination = format!("{}/app:v1", fleet.registry.host());
    let output = Command::new(binary("coordinator"))
        .arg("submit")
        .args(["--driver", "nats"])
        .args(["--nats", &fleet.nats.url()])
        .arg("--context")
        .arg(&context)
        .args(["--destination", &destination])
        .args(["--multi-platform", &format!("{native},{foreign}")])
        .arg("--require-native-nodes")
        .args(["--timeout", "60"])
        .output()
        .expect("coordinator submit");
    assert!(!output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&foreign.to_string()) && !stderr.contains(&format!("{native}:")),
        "the refusal names the platform without a native worker\n{}",
        describe(&output)
    );
    assert_eq!(
        fleet.tasks_published().await,
        0,
        "no task was ever published"
    );
    assert!(
        skopeo_inspect_raw(&destination).is_err(),
        "nothing was pushed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_dockerfile_fails_fast_with_its_line_number() {
    let (native, _) = platforms();
    let fleet = Fleet::with_workers(&[("native-1", None)]).await;

    let context = fleet.dir.path().join("bad");
    std::fs::create_dir_all(&context).expect("context dir");
    let base = format!("{}/busybox:latest", fleet.registry.host());
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {base}\nCOPY\nFROBNICATE everything\n"),
    )
    .expect("Dockerfile");
    let destination = format!("{}/bad:v1", fleet.registry.host());
    let started = Instant::now();
    let output = fleet.submit(&context, &destination, &[&native]);
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed fast, not after retries: {:?}",
        started.elapsed()
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("dockerfile:2:"),
        "the failure names line 2\n{}\n{}",
        describe(&output),
        fleet.logs()
    );
    assert!(skopeo_inspect_raw(&destination).is_err(), "nothing pushed");
}

/// Bytes gzip cannot shrink, fast: an xorshift stream.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A `coordinator submit` running in the background whose live lines (stderr) are kept.
pub(crate) struct Followed {
    child: Child,
    lines: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Followed {
    /// What submit has printed so far.
    pub(crate) fn seen(&self) -> String {
        self.lines.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Waits until submit has printed `text`; fails after `within`, or when submit ended.
    pub(crate) fn wait_for(&mut self, text: &str, within: Duration, fleet: &Fleet) {
        let deadline = Instant::now() + within;
        while !self.seen().contains(text) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "submit ended early: {status:?}\n{}\n{}",
                    self.seen(),
                    fleet.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "submit never printed {text:?}\n{}\n{}",
                self.seen(),
                fleet.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for submit to end; its status.
    pub(crate) fn finish(&mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("submit status");
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }
}

impl Fleet {
    /// A context whose one big incompressible COPY keeps a build busy for a while.
    pub(crate) fn big_context(&self, name: &str, len: usize) -> PathBuf {
        let context = self.dir.path().join(name);
        std::fs::create_dir_all(&context).expect("context dir");
        std::fs::write(context.join("big.bin"), incompressible(len)).expect("big file");
        std::fs::write(
            context.join("Dockerfile"),
            format!(
                "FROM {}/busybox:latest\nCOPY big.bin /big.bin\nLABEL fleet=yes\n",
                self.registry.host()
            ),
        )
        .expect("Dockerfile");
        context
    }

    /// Starts `coordinator submit` of `context` for `platform` and follows its live lines.
    fn spawn_submit(
        &self,
        context: &Path,
        destination: &str,
        platform: &Platform,
        timeout_secs: u64,
    ) -> Followed {
        self.spawn_submit_for(context, destination, &[platform], timeout_secs)
    }

    /// [`Fleet::spawn_submit`] for several platforms.
    pub(crate) fn spawn_submit_for(
        &self,
        context: &Path,
        destination: &str,
        platforms: &[&Platform],
        timeout_secs: u64,
    ) -> Followed {
        let list: Vec<String> = platforms.iter().map(ToString::to_string).collect();
        let mut child = Command::new(binary("coordinator"))
            .arg("submit")
            .args(["--driver", "nats"])
            .args(["--nats", &self.nats.url()])
            .arg("--context")
            .arg(context)
            .args(["--destination", destination])
            .args(["--multi-platform", &list.join(",")])
            .args(["--timeout", &timeout_secs.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("coordinator submit");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let stderr = child.stderr.take().expect("piped stderr");
            let lines = lines.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    if let Ok(mut text) = lines.lock() {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
            })
        };
        Followed {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// How many tasks were ever published on the tasks stream.
    pub(crate) async fn tasks_published(&self) -> u64 {
        let client = async_nats::connect(self.nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let names = kaniko_common::subjects::Names::default();
        let mut stream = js
            .get_stream(names.tasks_stream())
            .await
            .expect("tasks stream");
        let info = stream.info().await.expect("tasks stream info");
        info.state.last_sequence
    }

    /// One task was ever published, and `repository:tag` has only ever held one manifest.
    async fn published_once(&self, repository: &str, tag: &str) {
        assert_eq!(self.tasks_published().await, 1, "one task published");
        let history = self.registry.storage_dir().join(format!(
            "docker/registry/v2/repositories/{repository}/_manifests/tags/{tag}/index/sha256"
        ));
        let pushed = std::fs::read_dir(&history)
            .unwrap_or_else(|err| panic!("{}: {err}", history.display()))
            .count();
        assert_eq!(pushed, 1, "the index was published once\n{}", self.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_build_hands_its_task_to_another_worker() {
    let (native, _) = platforms();
    let mut fleet = Fleet::with_workers(&[("native-1", None), ("native-2", None)]).await;

    // A big COPY keeps the build busy long enough to kill the worker in the middle of it.
    let context = fleet.big_context("big", 96 << 20);
    let destination = format!("{}/big:v1", fleet.registry.host());
    let mut submit = fleet.spawn_submit(&context, &destination, &native, 240);

    // Follow submit's live lines; kill the worker the task was placed on, mid-build.
    let deadline = Instant::now() + Duration::from_secs(120);
    let victim = loop {
        let text = submit.seen();
        if let Some(name) = ["native-1", "native-2"]
            .into_iter()
            .find(|name| text.contains(&format!("building on {name}")))
        {
            break name;
        }
        if let Ok(Some(status)) = submit.child.try_wait() {
            panic!("submit ended early: {status:?}\n{text}\n{}", fleet.logs());
        }
        assert!(
            Instant::now() < deadline,
            "no worker took the task\n{text}\n{}",
            fleet.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let position = fleet
        .daemons
        .iter()
        .position(|d| d.name == victim)
        .expect("victim daemon");
    let mut killed = fleet.daemons.remove(position);
    killed.child.kill().expect("SIGKILL");
    let _ = killed.child.wait();
    assert!(
        !submit.seen().contains("published index"),
        "the build was over before the kill: make the context bigger\n{}",
        submit.seen()
    );
    let survivor = if killed.name == "native-1" {
        "native-2"
    } else {
        "native-1"
    };

    let status = submit.finish();
    assert!(
        status.success(),
        "{status:?}\n{}\n{}\n{}",
        submit.seen(),
        killed.logs(),
        fleet.logs()
    );
    assert!(
        submit.seen().contains(&format!("building on {survivor}")),
        "the task was redelivered to {survivor}\n{}",
        submit.seen()
    );
    let survivor_log = fleet
        .daemons
        .iter()
        .find(|d| d.name == survivor)
        .map(Daemon::logs)
        .unwrap_or_default();
    assert!(
        survivor_log.contains("image built"),
        "the other worker built the redelivered task\n{survivor_log}"
    );
    check_index(&destination, &[&native]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_mid_build_and_restarted_finishes_it_without_publishing_twice() {
    let (native, _) = platforms();
    let mut fleet = Fleet::with_workers(&[("native-1", None)]).await;

    let context = fleet.big_context("big", 96 << 20);
    let destination = format!("{}/big:v1", fleet.registry.host());
    let mut submit = fleet.spawn_submit(&context, &destination, &native, 240);
    submit.wait_for("building on native-1", Duration::from_secs(120), &fleet);
    let position = fleet
        .daemons
        .iter()
        .position(|d| d.name == "coordinator")
        .expect("coordinator daemon");
    let mut killed = fleet.daemons.remove(position);
    killed.child.kill().expect("SIGKILL");
    let _ = killed.child.wait();
    std::thread::sleep(Duration::from_secs(1));
    let mut command = Command::new(binary("coordinator"));
    command
        .arg("serve")
        .args(["--nats", &fleet.nats.url()])
        .args(["--heartbeat-interval", "1"])
        .args(["--insecure-registry", &fleet.registry.host()]);
    let restarted = Daemon::spawn("coordinator-2", fleet.dir.path(), command);
    fleet.daemons.push(restarted);

    let status = submit.finish();
    assert!(
        status.success(),
        "{status:?}\n{}\n{}\n{}",
        submit.seen(),
        killed.logs(),
        fleet.logs()
    );
    check_index(&destination, &[&native]);
    // One task ever published, one manifest ever under the tag.
    fleet.published_once("big", "v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_restarted_mid_build_with_its_store_kept_and_the_build_completes() {
    let (native, _) = platforms();
    let mut fleet = Fleet::with_workers(&[("native-1", None)]).await;

    let context = fleet.big_context("restart", 24 << 20);
    let destination = format!("{}/restart:v1", fleet.registry.host());
    let started = Instant::now();
    let mut submit = fleet.spawn_submit(&context, &destination, &native, 60);
    // The worker is building: it has the context and is writing the big layer.
    submit.wait_for(
        "[2/3] COPY big.bin /big.bin",
        Duration::from_secs(30),
        &fleet,
    );
    // Down for a moment mid-build (the build finishes while the server is away: its result
    // must still arrive), then back on the same port with the same store.
    fleet.nats.stop();
    std::thread::sleep(Duration::from_secs(1));
    let restarted = Instant::now();
    fleet.nats.restart().expect("nats-server restart");

    let status = submit.finish();
    let recovered = restarted.elapsed();
    assert!(
        status.success(),
        "{status:?}\n{}\n{}",
        submit.seen(),
        fleet.logs()
    );
    check_index(&destination, &[&native]);
    assert!(
        recovered < Duration::from_secs(15),
        "the build finished {recovered:?} after the restart (total {:?})\n{}\n{}",
        started.elapsed(),
        submit.seen(),
        fleet.logs()
    );
    // One task ever published, one manifest ever under the tag.
    fleet.published_once("restart", "v1").await;
    eprintln!(
        "restart test: total {:?}, {recovered:?} after the restart",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_registry_gives_bounded_transient_retries_then_a_clear_failure() {
    let (native, _) = platforms();
    let mut fleet = Fleet::start().await;
    fleet.coordinator();
    fleet.worker_with(
        "native-1",
        None,
        &["--max-deliver", "3", "--retry-backoff", "0.2"],
    );
    fleet.wait_for_workers(&["native-1"]);
    let context = fleet.cross_safe_context();
    let destination = format!("{}/down:v1", fleet.registry.host());

    fleet.registry.stop();
    let started = Instant::now();
    let output = fleet.submit(&context, &destination, &[&native]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("failed; nothing was published")
            && stdout.contains("transient")
            && stdout.contains(&fleet.registry.host())
            && stdout.contains("gave up after 3 deliveries"),
        "the failure names the registry, the transient reason and the bounded retries\n{}\n{}",
        describe(&output),
        fleet.logs()
    );
    // Deliveries 1 and 2 were handed back with a delay; the third was final.
    let worker_log = fleet
        .daemons
        .iter()
        .find(|d| d.name == "native-1")
        .map(Daemon::logs)
        .unwrap_or_default();
    assert_eq!(
        worker_log.matches("transient failure, retrying").count(),
        2,
        "{worker_log}"
    );
    assert!(
        elapsed < Duration::from_secs(60),
        "bounded: {elapsed:?}\n{}",
        fleet.logs()
    );

    fleet.registry.start_again().expect("registry back");
    assert!(skopeo_inspect_raw(&destination).is_err(), "no index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_started_before_nats_server_wait_for_it_and_then_build() {
    let (native, _) = platforms();
    let mut fleet = Fleet::start().await;
    // nats-server goes down before anything connects; the daemons start into the void.
    fleet.nats.stop();
    fleet.coordinator();
    fleet.worker("native-1", None);
    // Longer than the bounded retries of a command (about 4 s): a daemon must still be
    // waiting, not gone.
    std::thread::sleep(Duration::from_secs(6));
    for daemon in &mut fleet.daemons {
        let status = daemon.child.try_wait().expect("try_wait");
        assert!(
            status.is_none(),
            "{} exited ({status:?}) while nats-server was down\n{}",
            daemon.name,
            daemon.logs()
        );
    }
    fleet.nats.restart().expect("nats-server restart");
    fleet.wait_for_workers(&["native-1"]);
    let context = fleet.cross_safe_context();
    let destination = format!("{}/app:late-nats", fleet.registry.host());
    let output = fleet.submit(&context, &destination, &[&native]);
    assert!(
        output.status.success(),
        "{}\n{}",
        describe(&output),
        fleet.logs()
    );
    let index = skopeo_inspect_raw(&destination).expect("skopeo inspect --raw");
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(1),
        "{index:#}"
    );
}
