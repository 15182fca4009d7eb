// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The fleet on a real 3-node nats-server cluster ([`NatsCluster`]): `coordinator serve
//! --replicas 3` and `worker serve --replicas 3` create every stream, KV bucket and the object
//! store with three replicas; and a two-platform build (a native worker and an
//! `--allow-cross` one, every process given the three URLs) completes with exactly one index,
//! two tasks ever published and nothing pushed but the index and the images built while (a) the node the native worker is
//! connected to is killed mid-build, (b) the tasks stream's leader is killed mid-build, (c)
//! one node is down for the whole build and started again after (it rejoins and catches up).
//!
//! Runs against whichever nats-server `NATS_SERVER` names (2.9.10 by default, 2.15 in
//! `make test-nats-current`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use kaniko_common::platform::Platform;
use kaniko_common::subjects::{Names, kv_stream, object_stream};
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::{NatsCluster, Registry, init_test_tracing, nats_server_version};

use crate::fleet::{Daemon, binary, check_index_labelled, describe, platforms, wait_for_listing};

/// Every stream `Bus::ensure` creates under `names`.
fn project_streams(names: &Names) -> Vec<String> {
    vec![
        names.tasks_stream(),
        names.results_stream(),
        names.events_stream(),
        kv_stream(&names.builds_bucket()),
        kv_stream(&names.workers_bucket()),
        object_stream(&names.contexts_store()),
    ]
}

/// A JetStream context on the cluster (any node).
async fn jetstream(cluster: &NatsCluster) -> jetstream::Context {
    let urls: Vec<String> = cluster.urls().split(',').map(str::to_string).collect();
    let client = async_nats::connect(urls).await.expect("nats cluster");
    jetstream::new(client)
}

/// The info of stream `name`, waiting up to `within` for it to exist and have a leader.
async fn stream_info(
    js: &jetstream::Context,
    name: &str,
    within: Duration,
) -> jetstream::stream::Info {
    let deadline = Instant::now() + within;
    loop {
        let found = match js.get_stream(name).await {
            Ok(mut stream) => stream.info().await.ok().cloned(),
            Err(_) => None,
        };
        if let Some(info) = found
            && info
                .cluster
                .as_ref()
                .and_then(|cluster| cluster.leader.as_ref())
                .is_some()
        {
            return info;
        }
        assert!(
            Instant::now() < deadline,
            "stream {name} not there (with a leader) within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that every stream of `names` has three replicas: configured so, and two peers
/// beside the leader (which a new stream lists within moments).
async fn check_three_replicas(cluster: &NatsCluster, names: &Names, logs: impl Fn() -> String) {
    let js = jetstream(cluster).await;
    for name in project_streams(names) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = stream_info(&js, &name, Duration::from_secs(20)).await;
            assert_eq!(info.config.num_replicas, 3, "{name}: replicas\n{}", logs());
            let peers = info.cluster.map(|c| c.replicas.len()).unwrap_or_default();
            if peers == 2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {peers} peers beside the leader, not 2\n{}",
                logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_reach_every_stream_bucket_and_object_store_the_coordinator_or_a_worker_creates() {
    init_test_tracing();
    let cluster = NatsCluster::start().expect("nats cluster");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut daemons = Vec::new();
    let logs = |daemons: &[Daemon]| {
        let mut out: Vec<String> = daemons.iter().map(Daemon::logs).collect();
        out.push(cluster.logs());
        out.join("\n")
    };

    // The coordinator creates the default prefix's streams.
    let mut command = Command::new(binary("coordinator"));
    command
        .arg("serve")
        .args(["--nats", &cluster.urls()])
        .args(["--replicas", "3"]);
    daemons.push(Daemon::spawn("coordinator", dir.path(), command));
    check_three_replicas(&cluster, &Names::default(), || logs(&daemons)).await;

    // A worker that comes first creates another prefix's.
    let mut command = Command::new(binary("worker"));
    command
        .arg("serve")
        .args(["--nats", &cluster.urls()])
        .args(["--prefix", "other"])
        .args(["--id", "first"])
        .args(["--replicas", "3"]);
    daemons.push(Daemon::spawn("worker", dir.path(), command));
    let names = Names::new("other").expect("names");
    check_three_replicas(&cluster, &names, || logs(&daemons)).await;

    // A replica count JetStream cannot have is refused before anything is created.
    for program in ["coordinator", "worker"] {
        let output = Command::new(binary(program))
            .arg("serve")
            .args(["--nats", &cluster.urls()])
            .args(["--replicas", "0"])
            .output()
            .expect(program);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{program}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("--replicas"),
            "{program}: {}",
            describe(&output)
        );
    }
}

/// A cluster, a registry with `busybox:latest`, `coordinator serve --replicas 3`, a native and
/// an `--allow-cross` worker: every process given the three URLs.
struct ClusterFleet {
    cluster: NatsCluster,
    registry: Registry,
    dir: tempfile::TempDir,
    daemons: Vec<Daemon>,
    native: Platform,
    foreign: Platform,
}

impl ClusterFleet {
    async fn start() -> ClusterFleet {
        init_test_tracing();
        let (native, foreign) = platforms();
        let cluster = NatsCluster::start().expect("nats cluster");
        let registry = Registry::start().expect("registry");
        push_busybox(&registry, "busybox").await.expect("fixture");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut fleet = ClusterFleet {
            cluster,
            registry,
            dir,
            daemons: Vec::new(),
            native,
            foreign,
        };
        let mut command = Command::new(binary("coordinator"));
        command
            .arg("serve")
            .args(["--nats", &fleet.cluster.urls()])
            .args(["--replicas", "3"])
            .args(["--heartbeat-interval", "1"])
            .args(["--insecure-registry", &fleet.registry.host()]);
        fleet
            .daemons
            .push(Daemon::spawn("coordinator", fleet.dir.path(), command));
        // The streams are the coordinator's (three replicas) before a worker could make them.
        check_three_replicas(&fleet.cluster, &Names::default(), || fleet.logs()).await;
        let foreign = fleet.foreign.to_string();
        for (id, cross) in [("native-1", None), ("cross-1", Some(foreign.as_str()))] {
            let mut command = Command::new(binary("worker"));
            command
                .arg("serve")
                .args(["--nats", &fleet.cluster.urls()])
                .args(["--id", id])
                .args(["--replicas", "3"])
                .args(["--heartbeat-interval", "1"])
                .args(["--ack-wait", "10"])
                .args(["--insecure-registry", &fleet.registry.host()]);
            if let Some(platform) = cross {
                command.arg("--allow-cross").args(["--platform", platform]);
            }
            fleet
                .daemons
                .push(Daemon::spawn(id, fleet.dir.path(), command));
        }
        let list = || {
            Command::new(binary("coordinator"))
                .arg("workers")
                .args(["--nats", &fleet.cluster.urls()])
                .output()
                .expect("coordinator workers")
        };
        wait_for_listing(&["native-1", "cross-1"], list, || fleet.logs());
        fleet
    }

    /// A cross-safe context whose one big incompressible COPY keeps each platform's build
    /// busy for a few seconds.
    fn big_context(&self) -> PathBuf {
        let context = self.dir.path().join("context");
        std::fs::create_dir_all(&context).expect("context dir");
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut big = Vec::with_capacity(24 << 20);
        while big.len() < 24 << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            big.extend_from_slice(&state.to_le_bytes());
        }
        std::fs::write(context.join("big.bin"), big).expect("big file");
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

    /// Starts `coordinator submit` of the big context for both platforms to `app:v1`.
    fn spawn_submit(&self) -> Submit {
        let context = self.big_context();
        let mut child = Command::new(binary("coordinator"))
            .arg("submit")
            .args(["--driver", "nats"])
            .args(["--nats", &self.cluster.urls()])
            .arg("--context")
            .arg(&context)
            .args(["--destination", &self.destination()])
            .args([
                "--multi-platform",
                &format!("{},{}", self.native, self.foreign),
            ])
            .args(["--timeout", "90"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("coordinator submit");
        let lines = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let reader = {
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
        Submit {
            child,
            lines,
            reader: Some(reader),
        }
    }

    fn destination(&self) -> String {
        format!("{}/app:v1", self.registry.host())
    }

    /// The build went through: submit succeeded, the index holds both platforms, two tasks
    /// were ever published, the tag has only ever pointed at one index, and the repository
    /// holds three manifests (the index and its two children: nothing pushed twice).
    async fn check_built_once(&self, mut submit: Submit, killed: Instant, bound: Duration) {
        let status = submit.finish();
        let recovered = killed.elapsed();
        eprintln!("the submitter saw the build over {recovered:?} after the kill");
        assert!(
            status.success(),
            "{status:?}\n{}\n{}",
            submit.seen(),
            self.logs()
        );
        // Without waiting out heartbeats: async-nats' ordered consumer, lost with its node,
        // kept the coordinator from the results for over a minute.
        assert!(
            recovered < bound,
            "the build finished {recovered:?} after the node went down\n{}\n{}",
            submit.seen(),
            self.logs()
        );
        check_index_labelled(&self.destination(), &[&self.native, &self.foreign], "fleet");
        let js = jetstream(&self.cluster).await;
        let tasks = stream_info(
            &js,
            &Names::default().tasks_stream(),
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(
            tasks.state.last_sequence,
            2,
            "two tasks ever published\n{}",
            self.logs()
        );
        let manifests = self
            .registry
            .storage_dir()
            .join("docker/registry/v2/repositories/app/_manifests");
        let count = |dir: PathBuf| {
            std::fs::read_dir(&dir)
                .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
                .count()
        };
        assert_eq!(
            count(manifests.join("tags/v1/index/sha256")),
            1,
            "the index was published once\n{}",
            self.logs()
        );
        // Delivery is at least once: a task whose ack met a consumer leader change may be
        // built again after the ack wait. Such a rebuild pushes its image by digest only, and
        // its result is ignored: every manifest in the repository is the index or an image a
        // worker built, and the index was published once (above).
        let built = self
            .logs()
            .matches("kaniko_worker::executor: image built")
            .count();
        assert!(built >= 2, "both platforms built\n{}", self.logs());
        assert_eq!(
            count(manifests.join("revisions/sha256")),
            1 + built,
            "the index and each image built, each pushed once\n{}",
            self.logs()
        );
        eprintln!("{built} images built for 2 tasks (more: a task redelivered after a lost ack)");
    }

    /// Waits until the meta leader and every project stream's leader is a node other than
    /// `down`: the cluster has settled after losing it.
    async fn settled_without(&self, down: &str) {
        self.cluster
            .wait_for_meta_leader(Duration::from_secs(20))
            .unwrap_or_else(|err| panic!("{err}\n{}", self.logs()));
        let js = jetstream(&self.cluster).await;
        for name in project_streams(&Names::default()) {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let info = stream_info(&js, &name, Duration::from_secs(20)).await;
                let leader = info.cluster.and_then(|cluster| cluster.leader);
                if leader.as_deref().is_some_and(|leader| leader != down) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} kept no leader but {leader:?}\n{}",
                    self.logs()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// The node the worker `id` is connected to.
    fn node_of_worker(&self, id: &str) -> usize {
        let name = format!("kaniko-worker {id}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(index) = self.cluster.node_of_connection(&name) {
                return index;
            }
            assert!(
                Instant::now() < deadline,
                "no node lists the connection {name:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        let mut out: Vec<String> = self.daemons.iter().map(Daemon::logs).collect();
        out.push(self.cluster.logs());
        out.join("\n")
    }
}

/// A `coordinator submit` in the background whose stderr lines are kept.
struct Submit {
    child: Child,
    lines: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Submit {
    fn seen(&self) -> String {
        self.lines
            .lock()
            .map(|text| text.clone())
            .unwrap_or_default()
    }

    /// Waits until submit has printed `text`.
    fn wait_for(&mut self, text: &str, fleet: &ClusterFleet) {
        let deadline = Instant::now() + Duration::from_secs(30);
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

    /// Submit is still going: the build is not over.
    fn still_building(&self) {
        assert!(
            !self.seen().contains("published index"),
            "the build was over before the kill: make the context bigger\n{}",
            self.seen()
        );
    }

    fn finish(&mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("submit status");
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }
}

impl Drop for Submit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long after a node went down mid-build the build must be over, as the submitter sees
/// it. The coordinator publishes within seconds; the submitter, when its own connection was
/// on the killed node, can take ~30 s more to get the final event on a loaded 2-core CI
/// machine (measured: 33.7 s once). Before the followers were fixed the coordinator alone
/// took 30–70 s; this bound still catches a stall of the coordinator's follower, not the
/// submitter's slower recovery (an open item).
const RECOVERY_BOUND: Duration = Duration::from_secs(50);
/// How long after a node went down for the whole build the build must be over: on
/// nats-server 2.9.10 a worker's read of the context (async-nats' object store, through a
/// consumer of one replica) can be placed on the missing peer and is tried again after its
/// timeout.
const DOWN_THROUGHOUT_BOUND: Duration = Duration::from_secs(60);

/// What submit prints once a worker is writing the big layer.
const MID_BUILD: &str = "COPY big.bin /big.bin";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_platform_build_completes_when_the_node_of_the_native_worker_is_killed() {
    let mut fleet = ClusterFleet::start().await;
    let mut submit = fleet.spawn_submit();
    submit.wait_for(MID_BUILD, &fleet);
    let node = fleet.node_of_worker("native-1");
    let submitter = fleet
        .cluster
        .node_of_connection("kaniko coordinator submit");
    fleet.cluster.kill(node);
    let killed = Instant::now();
    submit.still_building();
    eprintln!(
        "killed {} (native-1's node; the submitter's: {:?})",
        fleet.cluster.name(node),
        submitter.map(|n| fleet.cluster.name(n).to_string())
    );
    fleet.check_built_once(submit, killed, RECOVERY_BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_platform_build_completes_when_the_tasks_stream_leader_is_killed() {
    let mut fleet = ClusterFleet::start().await;
    let mut submit = fleet.spawn_submit();
    submit.wait_for(MID_BUILD, &fleet);
    let js = jetstream(&fleet.cluster).await;
    let tasks = stream_info(
        &js,
        &Names::default().tasks_stream(),
        Duration::from_secs(10),
    )
    .await;
    let leader = tasks
        .cluster
        .and_then(|cluster| cluster.leader)
        .expect("the tasks stream's leader");
    let node = fleet.cluster.index_of(&leader).expect("leader node");
    fleet.cluster.kill(node);
    let killed = Instant::now();
    submit.still_building();
    eprintln!("killed {leader} (the tasks stream's leader)");
    fleet.check_built_once(submit, killed, RECOVERY_BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_platform_build_completes_with_a_node_down_throughout_which_rejoins_after() {
    let mut fleet = ClusterFleet::start().await;
    let down = 2;
    let down_name = fleet.cluster.name(down).to_string();
    // nats-server 2.9 may place a new ephemeral consumer (the object store's read of the
    // context when the coordinator takes the submit) on a peer that is down, and the read
    // then waits for missed heartbeats, longer than submit waits: there the node goes down
    // once the build is accepted. From 2.10 on it is down before the submit.
    let version = nats_server_version().expect("nats-server version");
    let down_before_submit = version >= (2, 10);
    let (submit, killed) = if down_before_submit {
        fleet.cluster.kill(down);
        let killed = Instant::now();
        fleet.settled_without(&down_name).await;
        (fleet.spawn_submit(), killed)
    } else {
        let mut submit = fleet.spawn_submit();
        submit.wait_for("submitted", &fleet);
        fleet.cluster.kill(down);
        (submit, Instant::now())
    };
    eprintln!(
        "{down_name} down {} the submit (nats-server {version:?})",
        if down_before_submit {
            "before"
        } else {
            "right after"
        }
    );
    fleet
        .check_built_once(submit, killed, DOWN_THROUGHOUT_BOUND)
        .await;

    // Back: it rejoins, and its copy of the tasks stream catches up with the two tasks.
    fleet
        .cluster
        .restart(down)
        .unwrap_or_else(|err| panic!("{err}\n{}", fleet.logs()));
    let name = down_name;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let js = jetstream(&fleet.cluster).await;
        let tasks = stream_info(
            &js,
            &Names::default().tasks_stream(),
            Duration::from_secs(10),
        )
        .await;
        let current = tasks.cluster.as_ref().is_some_and(|cluster| {
            cluster.leader.as_deref() == Some(name.as_str())
                || cluster
                    .replicas
                    .iter()
                    .any(|peer| peer.name == name && peer.current)
        });
        if current {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never caught up with the tasks stream: {:?}\n{}",
            tasks.cluster,
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
