// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The RUN benchmark: on the Debian bookworm fixture, one `RUN` that writes 10 000 files of
//! 1 KiB, built and pushed by `worker build` (default snapshotter, then `--snapshotter walk`)
//! and by `buildah bud` + `buildah push`, runs interleaved, a fresh registry each run. Besides
//! the wall time it reports the worker's own snapshot time, read from the `overlay snapshot` /
//! `walk snapshot` debug events of its JSON log. Also the helpers the snapshot-scaling
//! benchmark shares: the file-making command, one measured `worker build`, the log parser.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use super::{
    BenchConfig, Benchmark, Row, Samples, Section, Stats, buildah_sample, run_measured, seconds,
};
use crate::Registry;
use crate::buildah::Buildah;
use crate::debian::push_debian;

/// `RUN` writing 10 000 files on Debian, kaniko (overlay and walk) against buildah.
pub struct RunFiles;

/// Files the measured RUN writes: [`FILE_DIRS`] directories of [`FILES_PER_DIR`].
pub const FILE_DIRS: usize = 10;
/// Files per directory the measured RUN writes.
pub const FILES_PER_DIR: usize = 1000;
/// Size of each file the RUN writes, in bytes.
pub const FILE_BYTES: usize = 1024;

/// The `RUST_LOG` given to `worker build`: its usual info lines plus its own debug events
/// (the snapshot timings), without the HTTP stack's debug chatter.
pub const WORKER_LOG_FILTER: &str = "info,kaniko_worker=debug";

/// Which snapshotter `worker build` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshotter {
    /// No flag: the worker's default (`auto`, the overlay where available).
    Default,
    /// `--snapshotter overlay`.
    Overlay,
    /// `--snapshotter walk`.
    Walk,
}

impl Snapshotter {
    /// The `worker build` arguments selecting it.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Snapshotter::Default => &[],
            Snapshotter::Overlay => &["--snapshotter", "overlay"],
            Snapshotter::Walk => &["--snapshotter", "walk"],
        }
    }
}

/// A shell command (for `/bin/sh -c`, coreutils only) that creates `dirs` directories
/// `<root>/d<N>`, each holding `per_dir` files `f<NNNN>` of `bytes` random bytes.
pub fn files_command(root: &str, dirs: usize, per_dir: usize, bytes: usize) -> String {
    let last = dirs.saturating_sub(1);
    let total = per_dir.saturating_mul(bytes);
    format!(
        "for d in $(seq 0 {last}); do mkdir -p {root}/d$d && cd {root}/d$d && \
         head -c {total} /dev/urandom | split -b {bytes} -a 4 -d - f || exit 1; done"
    )
}

/// What the worker logged about one RUN's snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnapshotEvent {
    /// `true` for `overlay snapshot`, `false` for `walk snapshot`.
    pub overlay: bool,
    /// Paths in the layer.
    pub changes: u64,
    /// Paths the walk's second scan saw (the size of the root); `None` for the overlay.
    pub paths: Option<u64>,
    /// From the end of the command to the layer written (the overlay: reading the upper
    /// directory and writing the layer; the walk: the second scan, the diff and the layer).
    pub after_seconds: f64,
    /// The walk's scan before the command ran (0 for the overlay, which needs none).
    pub before_seconds: f64,
}

impl SnapshotEvent {
    /// Everything the snapshot cost this RUN: the walk's scan before plus what came after.
    pub fn total(&self) -> Duration {
        Duration::from_secs_f64((self.after_seconds + self.before_seconds).max(0.0))
    }

    /// `overlay` or `walk`.
    pub fn kind(&self) -> &'static str {
        if self.overlay { "overlay" } else { "walk" }
    }
}

/// The snapshot events of a `worker build --log-format json` log, in order; lines that are
/// not JSON (a RUN's own output) or other events are skipped.
pub fn snapshot_events(log: &str) -> Vec<SnapshotEvent> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())
        .filter_map(|event| {
            let field = |name: &str| event.get(name).or_else(|| event.get("fields")?.get(name));
            let overlay = match field("message")?.as_str()? {
                "overlay snapshot" => true,
                "walk snapshot" => false,
                _ => return None,
            };
            Some(SnapshotEvent {
                overlay,
                changes: field("changes")?.as_u64()?,
                paths: field("paths").and_then(serde_json::Value::as_u64),
                after_seconds: field("seconds")?.as_f64()?,
                before_seconds: field("before_seconds")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0),
            })
        })
        .collect()
}

/// One `worker build` of `dockerfile` pushed to `destination`.
pub struct WorkerBuild<'a> {
    /// The benchmark's configuration (worker binary, extra arguments).
    pub config: &'a BenchConfig,
    /// The build context.
    pub context: &'a Path,
    /// The Dockerfile.
    pub dockerfile: &'a Path,
    /// `<host>/<repository>:<tag>`.
    pub destination: String,
    /// The registry's `host:port`, reached over plain HTTP.
    pub insecure: String,
    /// The snapshotter asked for.
    pub snapshotter: Snapshotter,
    /// Where its output goes.
    pub log: &'a Path,
}

/// A measured `worker build`.
#[derive(Debug, Clone)]
pub struct WorkerRun {
    /// Wall time, from spawn to exit.
    pub elapsed: Duration,
    /// The worker's peak RSS, in KiB.
    pub peak_rss_kib: u64,
    /// Its snapshot events, one per RUN that wrote a layer.
    pub snapshots: Vec<SnapshotEvent>,
}

impl WorkerBuild<'_> {
    /// Runs it with the JSON log and the worker's debug events on; a failure carries the
    /// log's last lines.
    pub fn run(&self) -> anyhow::Result<WorkerRun> {
        let mut command = Command::new(&self.config.worker);
        command
            .env("RUST_LOG", WORKER_LOG_FILTER)
            .arg("build")
            .arg("--context")
            .arg(self.context)
            .arg("--dockerfile")
            .arg(self.dockerfile)
            .arg("--destination")
            .arg(&self.destination)
            .arg("--insecure-registry")
            .arg(&self.insecure)
            .args(["--log-format", "json"])
            .args(self.snapshotter.args())
            .args(&self.config.worker_args);
        let measured = run_measured(command, self.log)?;
        let text = std::fs::read_to_string(self.log)
            .with_context(|| format!("reading {}", self.log.display()))?;
        Ok(WorkerRun {
            elapsed: measured.elapsed,
            peak_rss_kib: measured.peak_rss_kib,
            snapshots: snapshot_events(&text),
        })
    }
}

/// The one snapshot event of a build with one RUN, or an error naming the log.
pub fn only_snapshot(run: &WorkerRun, log: &Path) -> anyhow::Result<SnapshotEvent> {
    match run.snapshots.as_slice() {
        [one] => Ok(*one),
        other => anyhow::bail!(
            "expected one `overlay snapshot` or `walk snapshot` debug event in {}, found {} \
             (is the worker too old to log them?)",
            log.display(),
            other.len()
        ),
    }
}

/// Runs `one` unless the tool already failed; its first failure replaces the samples.
pub fn step<T>(outcome: &mut Result<T, String>, one: impl FnOnce(&mut T) -> anyhow::Result<()>) {
    if let Ok(samples) = outcome
        && let Err(err) = one(samples)
    {
        tracing::warn!("{err:#}");
        *outcome = Err(format!("{err:#}"));
    }
}

/// A kaniko row's wall times plus its snapshot events.
#[derive(Debug, Clone, Default)]
struct KanikoSamples {
    samples: Samples,
    snapshots: Vec<SnapshotEvent>,
}

impl KanikoSamples {
    fn record(&mut self, run: &WorkerRun, event: SnapshotEvent) {
        self.samples.times.push(run.elapsed);
        self.samples.peak_rss_kib = self.samples.peak_rss_kib.max(Some(run.peak_rss_kib));
        self.snapshots.push(event);
    }
}

/// `median 0.123 s (walk; 10003 changes; scan before 0.050 s)`, or why there is none.
fn snapshot_note(outcome: &Result<KanikoSamples, String>) -> String {
    let Ok(k) = outcome else {
        return "failed".to_string();
    };
    let totals: Vec<Duration> = k.snapshots.iter().map(SnapshotEvent::total).collect();
    let (Some(stats), Some(last)) = (Stats::of(&totals), k.snapshots.last()) else {
        return "no runs".to_string();
    };
    let befores: Vec<Duration> = k
        .snapshots
        .iter()
        .map(|e| Duration::from_secs_f64(e.before_seconds.max(0.0)))
        .collect();
    let mut note = format!(
        "median {} (min {}, max {}; {}; {} changes",
        seconds(stats.median),
        seconds(stats.min),
        seconds(stats.max),
        last.kind(),
        last.changes
    );
    if let Some(paths) = last.paths {
        note.push_str(&format!("; {paths} paths scanned"));
    }
    if !last.overlay
        && let Some(before) = Stats::of(&befores)
    {
        note.push_str(&format!(
            "; of it the scan before the RUN {}",
            seconds(before.median)
        ));
    }
    note.push(')');
    note
}

/// The median snapshot time of a kaniko row.
fn median_snapshot(outcome: &Result<KanikoSamples, String>) -> Option<Duration> {
    let k = outcome.as_ref().ok()?;
    let totals: Vec<Duration> = k.snapshots.iter().map(SnapshotEvent::total).collect();
    Stats::of(&totals).map(|s| s.median)
}

impl Benchmark for RunFiles {
    fn name(&self) -> &'static str {
        "run-10k-files"
    }

    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section> {
        let files = FILE_DIRS * FILES_PER_DIR;
        let context = work.join("context");
        std::fs::create_dir_all(&context)
            .with_context(|| format!("creating {}", context.display()))?;
        let dockerfile = context.join("Dockerfile");
        let command = files_command("/data", FILE_DIRS, FILES_PER_DIR, FILE_BYTES);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting a tokio runtime for the fixture")?;

        let available = super::worker_build_available(&config.worker);
        if let Err(why) = &available {
            tracing::warn!("{why}");
        }
        let mut kaniko: Result<KanikoSamples, String> =
            available.clone().map(|()| KanikoSamples::default());
        let mut walk: Result<KanikoSamples, String> = available.map(|()| KanikoSamples::default());
        let mut buildah: Result<Samples, String> = Ok(Samples::default());
        let mut buildah_phases: (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());

        for n in 0..config.warmup + config.runs {
            let timed = n >= config.warmup;
            let registry = Registry::start()?;
            let host = registry.host();
            let base = runtime
                .block_on(push_debian(&registry, "fixtures/debian"))
                .context("pushing the debian fixture")?;
            std::fs::write(
                &dockerfile,
                format!("FROM {}\nRUN {command}\n", base.reference),
            )
            .with_context(|| format!("writing {}", dockerfile.display()))?;

            let worker_run =
                |snapshotter: Snapshotter, row: &mut KanikoSamples| -> anyhow::Result<()> {
                    let name = match snapshotter {
                        Snapshotter::Walk => "walk",
                        _ => "kaniko",
                    };
                    let log = work.join(format!("{name}-{n}.log"));
                    let build = WorkerBuild {
                        config,
                        context: &context,
                        dockerfile: &dockerfile,
                        destination: format!("{host}/bench/{name}:{n}"),
                        insecure: host.clone(),
                        snapshotter,
                        log: &log,
                    };
                    let run = build.run()?;
                    let event = only_snapshot(&run, &log)?;
                    tracing::info!(
                        "run {n}: {name} {} (snapshot {}: {}, {} changes)",
                        seconds(run.elapsed),
                        event.kind(),
                        seconds(event.total()),
                        event.changes
                    );
                    if timed {
                        row.record(&run, event);
                    }
                    Ok(())
                };
            let mut buildah_run = |samples: &mut Samples| -> anyhow::Result<()> {
                let builder = Buildah::new()?;
                let destination = format!("{host}/bench/buildah:{n}");
                let phases = timed.then_some(&mut buildah_phases);
                buildah_sample(
                    &builder,
                    &context,
                    &dockerfile,
                    &destination,
                    samples,
                    phases,
                )
            };
            // Rotate who goes first, so no one always meets a cold page cache.
            for turn in 0..3 {
                match (n + turn) % 3 {
                    0 => step(&mut kaniko, |k| worker_run(Snapshotter::Default, k)),
                    1 => step(&mut buildah, &mut buildah_run),
                    _ => step(&mut walk, |k| worker_run(Snapshotter::Walk, k)),
                }
            }
        }

        let mut notes = vec![
            format!(
                "RUN on debian {} minbase: {command}",
                crate::debian::DEBIAN_SUITE
            ),
            format!(
                "{} timed runs after {} warm-up, a fresh registry each run; wall time is \
                 build + push",
                config.runs, config.warmup
            ),
            format!("kaniko snapshot: {}", snapshot_note(&kaniko)),
            format!("kaniko walk snapshot: {}", snapshot_note(&walk)),
        ];
        if let (Some(overlay), Some(walked)) = (median_snapshot(&kaniko), median_snapshot(&walk))
            && overlay > Duration::ZERO
        {
            notes.push(format!(
                "snapshot walk/default (median): {:.2}",
                walked.as_secs_f64() / overlay.as_secs_f64()
            ));
        }
        if let (Some(bud), Some(push)) =
            (Stats::of(&buildah_phases.0), Stats::of(&buildah_phases.1))
        {
            notes.push(format!(
                "buildah: bud median {}, push median {}",
                seconds(bud.median),
                seconds(push.median)
            ));
        }
        Ok(Section {
            compare: true,
            title: format!("RUN writing {files} files of {FILE_BYTES} B on Debian, build + push"),
            rows: vec![
                Row {
                    tool: "kaniko (worker build)".into(),
                    outcome: kaniko.map(|k| k.samples),
                },
                Row {
                    tool: "buildah (bud + push)".into(),
                    outcome: buildah,
                },
                Row {
                    tool: "kaniko --snapshotter walk".into(),
                    outcome: walk.map(|k| k.samples),
                },
            ],
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_makes_the_files_asked_for() {
        fn check(dirs: usize, per_dir: usize, bytes: usize) {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("data");
            let command = files_command(root.to_str().unwrap(), dirs, per_dir, bytes);
            let status = Command::new("sh").args(["-c", &command]).status().unwrap();
            assert!(status.success(), "{command}");
            let mut count = 0;
            for sub in std::fs::read_dir(&root).unwrap() {
                for file in std::fs::read_dir(sub.unwrap().path()).unwrap() {
                    let len = file.unwrap().metadata().unwrap().len();
                    assert_eq!(len, bytes as u64, "{command}");
                    count += 1;
                }
            }
            assert_eq!(count, dirs * per_dir, "{command}");
            assert_eq!(std::fs::read_dir(&root).unwrap().count(), dirs);
        }
        check(1, 1, 1024);
        check(3, 250, 100);
        check(2, 1000, 16);
    }

    #[test]
    fn snapshot_events_are_read_from_the_json_log() {
        fn check(log: &str, expected: &[SnapshotEvent]) {
            assert_eq!(snapshot_events(log), expected, "{log}");
        }
        let overlay = SnapshotEvent {
            overlay: true,
            changes: 10011,
            paths: None,
            after_seconds: 0.25,
            before_seconds: 0.0,
        };
        let walk = SnapshotEvent {
            overlay: false,
            changes: 2,
            paths: Some(56711),
            after_seconds: 1.5,
            before_seconds: 1.25,
        };
        check("", &[]);
        check(
            concat!(
                r#"{"timestamp":"t","level":"INFO","message":"[2/2] RUN seq 1 3"}"#,
                "\n1\nnot json {\n",
                r#"{"timestamp":"t","level":"DEBUG","changes":10011,"seconds":0.25,"message":"overlay snapshot"}"#,
                "\n",
            ),
            &[overlay],
        );
        check(
            concat!(
                r#"{"level":"DEBUG","paths":56711,"changes":2,"seconds":1.5,"before_seconds":1.25,"message":"walk snapshot"}"#,
                "\n",
                r#"{"level":"DEBUG","fields":{"changes":10011,"seconds":0.25,"message":"overlay snapshot"}}"#,
            ),
            &[walk, overlay],
        );
        // An event missing its timing is not a measurement.
        check(
            r#"{"level":"DEBUG","changes":3,"message":"overlay snapshot"}"#,
            &[],
        );
        assert_eq!(walk.total(), Duration::from_millis(2750));
        assert_eq!(overlay.total(), Duration::from_millis(250));
    }

    #[test]
    fn a_build_without_exactly_one_snapshot_is_an_error() {
        let run = |snapshots: Vec<SnapshotEvent>| WorkerRun {
            elapsed: Duration::from_secs(1),
            peak_rss_kib: 0,
            snapshots,
        };
        let event = SnapshotEvent {
            overlay: true,
            changes: 1,
            paths: None,
            after_seconds: 0.1,
            before_seconds: 0.0,
        };
        let log = Path::new("/tmp/x.log");
        assert_eq!(only_snapshot(&run(vec![event]), log).unwrap(), event);
        for none in [vec![], vec![event, event]] {
            let err = only_snapshot(&run(none), log).unwrap_err().to_string();
            assert!(err.contains("/tmp/x.log"), "{err}");
        }
    }
}
