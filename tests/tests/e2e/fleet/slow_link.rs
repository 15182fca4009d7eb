// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A worker on a slow or broken network: the test makes a network namespace joined to this
//! one by a veth pair (addresses in 10.231.<n>.0/30, nothing routed anywhere else), shapes
//! both ends with a `tbf` qdisc, and runs `worker serve` inside it. NATS and the registry are
//! reached through forwarders on the host end of the pair. A throttled worker keeps its
//! in-progress acks flowing and finishes its build; a worker cut off for longer than the ack
//! wait has its task redelivered to a worker on the host, and its late result is ignored.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::{Daemon, Fleet, binary, check_index, platforms};

/// Each test's pair gets its own /30: 10.231.<n>.0.
static NEXT_NET: AtomicU8 = AtomicU8::new(1);

/// `ip` with `args`; panics naming the command when it fails.
fn ip(args: &[&str]) {
    run("ip", args);
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace and the veth pair joining it to this one; removed on drop.
struct SlowLink {
    ns: String,
    host_dev: String,
    host_ip: Ipv4Addr,
}

impl SlowLink {
    /// The namespace with both ends of the pair shaped to `rate` (tc syntax, e.g. `4mbit`).
    fn new(rate: &str) -> SlowLink {
        let n = NEXT_NET.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let ns = format!("kt-slow-{pid}-{n}");
        let (host_dev, ns_dev) = (
            format!("kth{}-{n}", pid % 10_000),
            format!("ktn{}-{n}", pid % 10_000),
        );
        let host_ip = Ipv4Addr::new(10, 231, n, 1);
        let ns_ip = Ipv4Addr::new(10, 231, n, 2);
        ip(&["netns", "add", &ns]);
        let link = SlowLink {
            ns: ns.clone(),
            host_dev: host_dev.clone(),
            host_ip,
        };
        ip(&[
            "link", "add", &host_dev, "type", "veth", "peer", "name", &ns_dev,
        ]);
        ip(&["link", "set", &ns_dev, "netns", &ns]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_dev]);
        ip(&["link", "set", &host_dev, "up"]);
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", ns.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        in_ns(&["addr", "add", &format!("{ns_ip}/30"), "dev", &ns_dev]);
        in_ns(&["link", "set", &ns_dev, "up"]);
        in_ns(&["link", "set", "lo", "up"]);
        let tbf = [
            "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms",
        ];
        let mut host_tc = vec!["qdisc", "add", "dev", host_dev.as_str()];
        host_tc.extend_from_slice(&tbf);
        run("tc", &host_tc);
        let mut ns_tc = vec![
            "netns",
            "exec",
            ns.as_str(),
            "tc",
            "qdisc",
            "add",
            "dev",
            ns_dev.as_str(),
        ];
        ns_tc.extend_from_slice(&tbf);
        run("ip", &ns_tc);
        link
    }

    /// Cuts the link (`false`) or restores it (`true`), from the host's end.
    fn set_up(&self, up: bool) {
        ip(&[
            "link",
            "set",
            &self.host_dev,
            if up { "up" } else { "down" },
        ]);
    }

    /// `worker serve` inside the namespace: `command`'s program and arguments.
    fn command(&self, inner: &Command) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns])
            .arg(inner.get_program());
        command.args(inner.get_args());
        command
    }

    /// A forwarder from the host end of the pair to `target` on loopback: what the
    /// namespace dials instead.
    async fn forward(&self, target: SocketAddr) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind(SocketAddrV4::new(self.host_ip, 0))
            .await
            .expect("binding a forwarder on the veth address");
        let addr = listener.local_addr().expect("forwarder address");
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        addr
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_dev])
            .status();
    }
}

/// A fleet with `coordinator serve` and one worker inside a slow link (`slow`, ack wait 3 s),
/// and the registry's address as the slow worker dials it.
struct SlowFleet {
    fleet: Fleet,
    link: SlowLink,
    registry: String,
}

impl SlowFleet {
    async fn start(rate: &str) -> SlowFleet {
        let mut fleet = Fleet::start().await;
        let link = SlowLink::new(rate);
        let nats = link
            .forward(SocketAddr::from((Ipv4Addr::LOCALHOST, fleet.nats.port())))
            .await;
        let registry = link.forward(fleet.registry.addr()).await.to_string();
        fleet.coordinator_with(&["--insecure-registry", &registry]);
        let mut inner = Command::new(binary("worker"));
        inner
            .arg("serve")
            .args(["--nats", &format!("nats://{nats}")])
            .args(["--id", "slow"])
            .args(["--heartbeat-interval", "1"])
            .args(["--insecure-registry", &registry])
            .args(["--ack-wait", "3"]);
        let daemon = Daemon::spawn("slow", fleet.dir.path(), link.command(&inner));
        fleet.daemons.push(daemon);
        fleet.wait_for_workers(&["slow"]);
        SlowFleet {
            fleet,
            link,
            registry,
        }
    }

    /// A context whose FROM and COPY go through the slow link's registry address.
    fn context(&self, name: &str, bytes: usize) -> std::path::PathBuf {
        let context = self.fleet.big_context(name, bytes);
        std::fs::write(
            context.join("Dockerfile"),
            format!(
                "FROM {}/busybox:latest\nCOPY big.bin /big.bin\nLABEL fleet=yes\n",
                self.registry
            ),
        )
        .expect("Dockerfile");
        context
    }

    fn log(&self, id: &str) -> String {
        let path: &Path = self.fleet.dir.path();
        std::fs::read_to_string(path.join(format!("{id}.log"))).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_a_throttled_link_keeps_acking_and_finishes_its_build() {
    let (native, _) = platforms();
    // 4 Mbit/s each way: fetching the 3 MiB context and pushing its layer take about 12 s,
    // four times the worker's 3 s ack wait.
    let mut slow = SlowFleet::start("4mbit").await;
    let context = slow.context("throttled", 3 << 20);
    let destination = format!("{}/throttled:v1", slow.registry);
    let started = Instant::now();
    let mut submit = slow
        .fleet
        .spawn_submit(&context, &destination, &native, 240);
    submit.wait_for("building on slow", Duration::from_secs(60), &slow.fleet);
    // An idle worker on the host from now on: a task whose acks stopped would go to it.
    let registry = slow.registry.clone();
    slow.fleet
        .worker_with("fast", None, &["--insecure-registry", &registry]);
    let status = submit.finish();
    let took = started.elapsed();
    assert!(
        status.success(),
        "{status:?}\n{}\n{}",
        submit.seen(),
        slow.fleet.logs()
    );
    assert!(
        took > Duration::from_secs(6),
        "the link was not slow ({took:?}): the test proves nothing"
    );
    // In-progress acks kept the task with the slow worker the whole time: never redelivered
    // to the idle fast worker.
    assert!(
        !submit.seen().contains("building on fast"),
        "the task was redelivered although the slow worker was working\n{}",
        submit.seen()
    );
    assert!(
        slow.log("slow").contains("image built"),
        "{}",
        slow.log("slow")
    );
    slow.fleet.published_once("throttled", "v1").await;
    check_index(
        &format!("{}/throttled:v1", slow.fleet.registry.host()),
        &[&native],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_past_its_ack_wait_loses_its_task_and_its_late_result_is_ignored() {
    let (native, _) = platforms();
    let slow = SlowFleet::start("4mbit").await;
    let context = slow.context("partitioned", 3 << 20);
    let destination = format!("{}/partitioned:v1", slow.registry);
    let mut submit = slow
        .fleet
        .spawn_submit(&context, &destination, &native, 240);
    submit.wait_for("building on slow", Duration::from_secs(60), &slow.fleet);
    // Cut off mid-build for well past the 3 s ack wait; a worker on the host takes over.
    slow.link.set_up(false);
    let mut fleet = slow.fleet;
    let registry = slow.registry.clone();
    fleet.worker_with("fast", None, &["--insecure-registry", &registry]);
    submit.wait_for("building on fast", Duration::from_secs(60), &fleet);
    std::thread::sleep(Duration::from_secs(2));
    slow.link.set_up(true);
    let status = submit.finish();
    assert!(
        status.success(),
        "{status:?}\n{}\n{}",
        submit.seen(),
        fleet.logs()
    );
    let fast = std::fs::read_to_string(fleet.dir.path().join("fast.log")).unwrap_or_default();
    assert!(
        fast.contains("image built"),
        "the fast worker built the redelivered task\n{fast}"
    );
    // Back on the network, the slow worker finishes too. Its result comes after the build
    // was published: nothing is published again, and the tag keeps the fast worker's image.
    let deadline = Instant::now() + Duration::from_secs(90);
    let slow_log =
        || std::fs::read_to_string(fleet.dir.path().join("slow.log")).unwrap_or_default();
    while !slow_log().contains("kaniko_worker::serve::task: built") {
        assert!(
            Instant::now() < deadline,
            "the slow worker never finished after the link came back\n{}",
            fleet.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let pushed = |log: &str| {
        log.lines()
            .find(|l| l.contains("pushed by digest"))
            .and_then(|l| l.split("digest=").nth(1))
            .map(|d| d.trim().to_string())
            .unwrap_or_else(|| panic!("no pushed digest in\n{log}"))
    };
    let (fast_digest, slow_digest) = (pushed(&fast), pushed(&slow_log()));
    assert_ne!(
        fast_digest, slow_digest,
        "two builds, two images (creation times differ)"
    );
    std::thread::sleep(Duration::from_secs(2));
    fleet.published_once("partitioned", "v1").await;
    let index =
        kaniko_tests::skopeo_inspect_raw(&format!("{}/partitioned:v1", fleet.registry.host()))
            .expect("skopeo inspect");
    assert_eq!(
        index["manifests"][0]["digest"],
        fast_digest.as_str(),
        "the index holds the first result, the fast worker's: {index}"
    );
    check_index(
        &format!("{}/partitioned:v1", fleet.registry.host()),
        &[&native],
    );
}
