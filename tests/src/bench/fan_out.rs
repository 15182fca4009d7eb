// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The fan-out benchmark: a registry with the busybox fixture, `coordinator serve`, and two
//! `worker serve` processes (the native one, and an `--allow-cross` one serving the foreign
//! architecture), each with `--concurrency`, on each NATS layout asked for: one nats-server,
//! or a 3-node cluster on loopback with everything created with `--replicas 3` and every
//! process given the three URLs. The context (a trivial cross-safe Dockerfile) is uploaded
//! once; then for each batch size (1, 10 and 100 by default) that many requests for both
//! platforms are submitted at once through the JSON API, each with its own label so every
//! build makes its own images, and the events and results are followed on core NATS; the
//! batches run one after the other on the same fleet.
//!
//! Reported per build: submit → `finished` event (the index is pushed before it is sent); the
//! slowest platform's build time as the worker measured it (from its `TaskResult`); the
//! coordinator's added latency, the first minus the second (queueing for a free worker slot
//! included, as the issue defines it); and the index publishing alone (the last platform's
//! `platform_done` → `finished`). Builds per second over each batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use kaniko_common::messages::codec::{decode_internal, decode_json, encode_json};
use kaniko_common::messages::{
    BuildRequest, ContextRef, Event, EventKind, SubmitReply, TaskOutcome, TaskResult,
};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::{ApiVerb, Names};
use kaniko_nats::{self as bus, Bus};
use sha2::{Digest, Sha256};

use super::{BenchConfig, Benchmark, Row, Samples, Section, Stats, seconds};
use crate::fixture::push_busybox;
use crate::nats_cluster::NatsCluster;
use crate::process::Service;
use crate::{Nats, Registry};

/// Concurrent multi-platform builds through the coordinator.
pub struct FanOut;

/// How long one batch may take.
const BATCH_TIMEOUT: Duration = Duration::from_secs(600);

impl Benchmark for FanOut {
    fn name(&self) -> &'static str {
        "fan-out"
    }

    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting a tokio runtime")?;
        let mut rows = Vec::new();
        let mut table = String::from(
            "servers  builds  builds/s  added median  added p99  publish median  publish p99  failed",
        );
        let servers = if config.fan_out_servers.is_empty() {
            vec![1, 3]
        } else {
            config.fan_out_servers.clone()
        };
        for layout in servers {
            let layout = Layout::of(layout)?;
            let dir = work.join(format!("fan-out-{}", layout.servers()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for batch in runtime.block_on(run(config, &dir, &layout))? {
                let _ = write!(
                    table,
                    "\n{:>7}  {:>6}  {:>8.2}  {:>12}  {:>9}  {:>14}  {:>11}  {:>6}",
                    layout.servers(),
                    batch.builds,
                    batch.builds_per_second(),
                    median(&batch.added),
                    p99(&batch.added),
                    median(&batch.publish),
                    p99(&batch.publish),
                    batch.failures.len(),
                );
                if let Some(first) = batch.failures.first() {
                    let _ = write!(table, "\n  first failure: {first}");
                }
                let label = format!("{} x{}", layout.label(), batch.builds);
                rows.push(row(
                    &format!("{label}: submit -> index pushed"),
                    batch.total,
                ));
                rows.push(row(
                    &format!("{label}: coordinator added latency"),
                    batch.added,
                ));
            }
        }
        Ok(Section {
            title: format!(
                "fan-out: concurrent builds x 2 platforms through coordinator serve, 2 workers \
                 of --concurrency {}",
                config.fan_out_concurrency.max(1)
            ),
            rows,
            notes: vec![table],
            compare: false,
        })
    }
}

/// The NATS the fleet runs on.
enum Layout {
    One,
    Cluster,
}

impl Layout {
    fn of(servers: usize) -> anyhow::Result<Layout> {
        match servers {
            1 => Ok(Layout::One),
            3 => Ok(Layout::Cluster),
            other => {
                bail!("--fan-out-servers takes 1 (one nats-server) or 3 (a cluster), not {other}")
            }
        }
    }

    fn servers(&self) -> usize {
        match self {
            Layout::One => 1,
            Layout::Cluster => 3,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Layout::One => "1 server",
            Layout::Cluster => "3-node cluster",
        }
    }
}

/// A started nats-server or cluster: what the processes connect to.
enum Servers {
    One(Nats),
    Cluster(NatsCluster),
}

impl Servers {
    fn start(layout: &Layout) -> anyhow::Result<Servers> {
        Ok(match layout {
            Layout::One => Servers::One(Nats::start()?),
            Layout::Cluster => {
                let cluster = NatsCluster::start()?;
                cluster.wait_for_meta_leader(Duration::from_secs(30))?;
                Servers::Cluster(cluster)
            }
        })
    }

    /// The URL list every process is given.
    fn urls(&self) -> String {
        match self {
            Servers::One(nats) => nats.url(),
            Servers::Cluster(cluster) => cluster.urls(),
        }
    }

    /// `--replicas` for everything the coordinator and the workers create.
    fn replicas(&self) -> &'static str {
        match self {
            Servers::One(_) => "1",
            Servers::Cluster(_) => "3",
        }
    }
}

/// What was seen of one build.
#[derive(Debug, Default, Clone)]
struct Seen {
    submitted: Option<Instant>,
    last_done: Option<Instant>,
    finished: Option<Instant>,
    failed: Option<String>,
    slowest_build: Duration,
}

/// The figures of one batch.
#[derive(Debug, Default)]
struct Batch {
    builds: usize,
    elapsed: Duration,
    total: Vec<Duration>,
    added: Vec<Duration>,
    publish: Vec<Duration>,
    failures: Vec<String>,
}

impl Batch {
    fn builds_per_second(&self) -> f64 {
        self.total.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

fn row(tool: &str, times: Vec<Duration>) -> Row {
    Row {
        tool: tool.to_string(),
        outcome: Ok(Samples {
            times,
            peak_rss_kib: None,
        }),
    }
}

fn p99(times: &[Duration]) -> String {
    percentile(times, 99).map_or("-".to_string(), seconds)
}

fn median(times: &[Duration]) -> String {
    Stats::of(times).map_or("-".to_string(), |s| seconds(s.median))
}

/// The fleet on `layout`, then one batch per size of `config.fan_out_builds`.
async fn run(config: &BenchConfig, work: &Path, layout: &Layout) -> anyhow::Result<Vec<Batch>> {
    let coordinator = config.coordinator.clone();
    if !coordinator.is_file() {
        bail!("coordinator binary {} not found", coordinator.display());
    }
    let servers = Servers::start(layout)?;
    let urls = servers.urls();
    let registry = Registry::start()?;
    let base = push_busybox(&registry, "fixtures/busybox")
        .await
        .context("pushing the busybox fixture")?;
    let host = registry.host();
    let native = Platform::host();
    let foreign = Platform::parse(if native.architecture == "arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    })?;
    let concurrency = config.fan_out_concurrency.max(1).to_string();

    let mut coordinator_service = Service::new("coordinator", work.join("coordinator.log"));
    let mut command = Command::new(&coordinator);
    command
        .arg("serve")
        .args(["--nats", &urls])
        .args(["--replicas", servers.replicas()])
        .args(["--heartbeat-interval", "1"])
        .args(["--insecure-registry", &host]);
    coordinator_service.spawn(command)?;
    let mut workers = Vec::new();
    for (id, cross) in [("bench-native", None), ("bench-cross", Some(&foreign))] {
        let mut service = Service::new("worker", work.join(format!("{id}.log")));
        let mut command = Command::new(&config.worker);
        command
            .arg("serve")
            .args(["--nats", &urls])
            .args(["--replicas", servers.replicas()])
            .args(["--id", id])
            .args(["--heartbeat-interval", "1"])
            .args(["--concurrency", &concurrency])
            .args(["--insecure-registry", &host]);
        if let Some(platform) = cross {
            command
                .arg("--allow-cross")
                .args(["--platform", &platform.to_string()]);
        }
        service.spawn(command)?;
        workers.push(service);
    }
    wait_for_workers(&coordinator, &urls, &["bench-native", "bench-cross"])?;

    let client = bus::connect(&bus::NatsOptions::new(urls.clone())).await?;
    let names = Names::default();
    let bus = Bus::new(client.clone(), names.clone());
    let (tarball, sha256) = context_tarball(&format!(
        "FROM --platform=$BUILDPLATFORM {base} AS build\n\
         COPY hello.txt /out/hello.txt\n\
         FROM {base}\n\
         COPY --from=build /out/hello.txt /hello.txt\n",
        base = base.reference
    ))?;
    let size = u64::try_from(tarball.len()).unwrap_or(u64::MAX);
    bus.upload_context(&tarball[..], &sha256, size)
        .await
        .context("uploading the context")?;

    let mut follow = Follow {
        events: client
            .subscribe(names.events_all())
            .await
            .context("subscribing to events")?,
        results: client
            .subscribe(names.results_all())
            .await
            .context("subscribing to results")?,
        seen: HashMap::new(),
    };
    client.flush().await?;

    let context = ContextRef { sha256, size };
    let sizes = if config.fan_out_builds.is_empty() {
        vec![1, 10, 100]
    } else {
        config.fan_out_builds.clone()
    };
    let mut batches = Vec::new();
    for (number, builds) in sizes.into_iter().enumerate() {
        let builds = builds.max(1);
        tracing::info!(
            "fan-out ({}): submitting {builds} builds for {native} and {foreign}",
            layout.label()
        );
        let requests = (0..builds).map(|n| {
            let mut request = BuildRequest::new(
                context.clone(),
                vec![native.clone(), foreign.clone()],
                vec![format!("{host}/bench/fan-out-{number}-{n}:latest")],
            );
            request.labels = BTreeMap::from([("bench".to_string(), format!("{number}-{n}"))]);
            request
        });
        batches.push(batch(&client, &names, &mut follow, requests.collect()).await?);
    }
    // The clients go before the servers they are connected to, quietly.
    drop((follow, bus, client));
    drop(workers);
    coordinator_service.stop();
    drop(servers);
    Ok(batches)
}

/// The core-NATS subscriptions a batch is followed through, and every build seen so far.
struct Follow {
    events: async_nats::Subscriber,
    results: async_nats::Subscriber,
    seen: HashMap<String, Seen>,
}

/// Submits `requests` at once and follows them until every one has ended.
async fn batch(
    client: &async_nats::Client,
    names: &Names,
    follow: &mut Follow,
    requests: Vec<BuildRequest>,
) -> anyhow::Result<Batch> {
    let builds = requests.len();
    let started = Instant::now();
    let submits = requests.into_iter().map(|request| {
        let client = client.clone();
        let names = names.clone();
        async move {
            let payload = encode_json(&request)?;
            let submitted = Instant::now();
            let reply = client
                .request_with_headers(
                    names.api(ApiVerb::Submit),
                    bus::json_headers(),
                    payload.into(),
                )
                .await
                .context("submitting")?;
            let reply: SubmitReply = decode_json(&reply.payload)?;
            match (reply.build_id, reply.error) {
                (Some(id), None) => anyhow::Ok((id, submitted)),
                (_, Some(error)) => bail!("build refused: {error}"),
                (None, None) => bail!("the submit reply has no build id"),
            }
        }
    });
    let mut ids = HashSet::new();
    for outcome in futures::future::join_all(submits).await {
        let (id, submitted) = outcome?;
        follow.seen.entry(id.clone()).or_default().submitted = Some(submitted);
        ids.insert(id);
    }

    let deadline = tokio::time::Instant::now() + BATCH_TIMEOUT;
    let ended = |seen: &HashMap<String, Seen>| {
        ids.iter()
            .filter_map(|id| seen.get(id))
            .filter(|s| s.finished.is_some() || s.failed.is_some())
            .count()
    };
    while ended(&follow.seen) < builds {
        tokio::select! {
            message = follow.events.next() => {
                let Some(message) = message else { bail!("the events subscription ended") };
                let Ok(event) = decode_json::<Event>(&message.payload) else { continue };
                let entry = follow.seen.entry(event.build_id.clone()).or_default();
                match event.kind {
                    EventKind::PlatformDone { .. } => entry.last_done = Some(Instant::now()),
                    EventKind::Finished { .. } => entry.finished = Some(Instant::now()),
                    EventKind::Failed { errors, .. } => {
                        entry.failed = Some(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
                    }
                    _ => {}
                }
            }
            message = follow.results.next() => {
                let Some(message) = message else { bail!("the results subscription ended") };
                let Ok(result) = decode_internal::<TaskResult>(&message.payload) else { continue };
                if let TaskOutcome::Built { duration_ms, .. } = result.outcome {
                    let entry = follow.seen.entry(result.build_id.clone()).or_default();
                    entry.slowest_build = entry.slowest_build.max(Duration::from_millis(duration_ms));
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                bail!("only {} of {builds} builds ended within {BATCH_TIMEOUT:?}", ended(&follow.seen));
            }
        }
    }
    let mut figures = Batch {
        builds,
        elapsed: started.elapsed(),
        ..Batch::default()
    };
    for s in ids.iter().filter_map(|id| follow.seen.get(id)) {
        if let Some(failed) = &s.failed {
            figures.failures.push(failed.clone());
        }
        let (Some(submitted), Some(finished)) = (s.submitted, s.finished) else {
            continue;
        };
        let whole = finished.saturating_duration_since(submitted);
        figures.total.push(whole);
        figures.added.push(whole.saturating_sub(s.slowest_build));
        if let Some(done) = s.last_done {
            figures
                .publish
                .push(finished.saturating_duration_since(done));
        }
    }
    Ok(figures)
}

/// The `p`th percentile (nearest rank) of `times`.
pub fn percentile(times: &[Duration], p: u32) -> Option<Duration> {
    let mut sorted = times.to_vec();
    sorted.sort();
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (n * p.min(100) as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A context tarball (Dockerfile and hello.txt) and its sha256.
fn context_tarball(dockerfile: &str) -> anyhow::Result<(Vec<u8>, String)> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, text) in [
        ("Dockerfile", dockerfile),
        ("hello.txt", "hello from the fan-out bench\n"),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(u64::try_from(text.len()).unwrap_or(0));
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, text.as_bytes())?;
    }
    let mut bytes = builder.into_inner()?;
    bytes.flush()?;
    let sha256 = hex_of(&Sha256::digest(&bytes));
    Ok((bytes, sha256))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits until `coordinator workers` lists every id.
fn wait_for_workers(coordinator: &Path, url: &str, ids: &[&str]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(coordinator)
            .arg("workers")
            .args(["--nats", url])
            .output()
            .context("coordinator workers")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && ids.iter().all(|id| text.contains(id)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("workers {ids:?} never showed up; last listing:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        fn check(times: &[u64], p: u32, expected: Option<u64>) {
            let times: Vec<Duration> = times.iter().map(|&t| Duration::from_millis(t)).collect();
            assert_eq!(
                percentile(&times, p),
                expected.map(Duration::from_millis),
                "{times:?} p{p}"
            );
        }
        check(&[], 99, None);
        check(&[5], 99, Some(5));
        check(&[3, 1, 2], 50, Some(2));
        let hundred: Vec<u64> = (1..=100).collect();
        check(&hundred, 99, Some(99));
        check(&hundred, 100, Some(100));
        let fifty: Vec<u64> = (1..=50).collect();
        check(&fifty, 99, Some(50));
        check(&fifty, 50, Some(25));
    }

    #[test]
    fn the_context_tarball_holds_the_dockerfile_and_its_digest_is_stable() {
        let (a, sha_a) = context_tarball("FROM x\n").unwrap();
        let (_, sha_b) = context_tarball("FROM x\n").unwrap();
        let (_, sha_c) = context_tarball("FROM y\n").unwrap();
        assert_eq!(sha_a, sha_b);
        assert_ne!(sha_a, sha_c);
        assert_eq!(sha_a.len(), 64);
        let mut archive = tar::Archive::new(&a[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["Dockerfile", "hello.txt"]);
    }
}
