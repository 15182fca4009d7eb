// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `make bench`: benchmarks of `worker build` against buildah on this machine, each a
//! [`Benchmark`] printing one [`Section`] (a table of median, min and max wall time per tool,
//! the kaniko/buildah ratio and the worker's peak RSS). [`copy_context`] compares `worker
//! build` with buildah; [`fan_out`] measures concurrent builds through the coordinator and
//! two workers; [`compression`] times the layer writer's gzip and zstd against single-thread
//! zlib and the `zstd` command line; [`store_ratios`] compares each tool warm and cold, the
//! layer store on and off (issue #12's cases); [`cached_rebuild`] rebuilds with the layer
//! cache warm against `buildah bud --layers` (issue #14); [`big_context`] gives the peak RSS of a 1 GiB
//! `COPY`. A new one adds a module and an entry in [`benchmarks`].

pub mod big_context;
pub mod cached_rebuild;
pub mod compression;
pub mod copy_context;
pub mod fan_out;
pub mod run_files;
pub mod snapshot_scaling;
pub mod store_ratios;

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// What every benchmark is run with.
#[derive(Debug, Clone, Default)]
pub struct BenchConfig {
    /// The `worker` binary (`target/release/worker`).
    pub worker: PathBuf,
    /// Extra arguments appended to every `worker build`.
    pub worker_args: Vec<String>,
    /// Timed runs per tool.
    pub runs: usize,
    /// Untimed runs per tool before the timed ones.
    pub warmup: usize,
    /// Where contexts and logs go (a temporary directory under it is removed at the end).
    pub work_dir: PathBuf,
    /// Small files in the copy-context benchmark.
    pub small_files: usize,
    /// Size of the big random file in the copy-context benchmark, in MiB.
    pub big_file_mib: u64,
    /// The `coordinator` binary (`target/release/coordinator`).
    pub coordinator: PathBuf,
    /// The batch sizes of the fan-out benchmark, each that many concurrent builds (empty: 1,
    /// 10 and 100).
    pub fan_out_builds: Vec<usize>,
    /// The NATS layouts of the fan-out benchmark: 1 (one server) and/or 3 (a cluster; empty:
    /// both).
    pub fan_out_servers: Vec<usize>,
    /// `--concurrency` of each worker in the fan-out benchmark.
    pub fan_out_concurrency: u32,
}

/// One benchmark: prepares its inputs, runs each tool `runs` times, reports a section.
pub trait Benchmark {
    /// Short name, for `--only`.
    fn name(&self) -> &'static str;
    /// Runs it; a tool that fails is reported in its row, not as an error.
    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section>;
}

/// Every benchmark, in the order they are printed.
pub fn benchmarks() -> Vec<Box<dyn Benchmark>> {
    vec![
        Box::new(copy_context::CopyContext),
        Box::new(run_files::RunFiles),
        Box::new(snapshot_scaling::SnapshotScaling),
        Box::new(store_ratios::StoreRatios(
            store_ratios::StoreCase::RunTenThousand,
        )),
        Box::new(store_ratios::StoreRatios(
            store_ratios::StoreCase::OneFileLargeBase,
        )),
        Box::new(store_ratios::StoreRatios(
            store_ratios::StoreCase::TwoStages,
        )),
        Box::new(cached_rebuild::CachedRebuild),
        Box::new(big_context::BigContext),
        Box::new(fan_out::FanOut),
        Box::new(compression::CompressionBench),
    ]
}

/// The printed result of one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The heading.
    pub title: String,
    /// One row per tool; the first is kaniko, the second the reference it is compared with.
    pub rows: Vec<Row>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
    /// Whether rows 0 and 1 are kaniko and a reference: the ratio line is printed.
    pub compare: bool,
}

/// One tool's results in a section.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The tool as printed (`kaniko (worker build)`).
    pub tool: String,
    /// Wall times of the timed runs and the peak RSS, or why the tool could not be run.
    pub outcome: Result<Samples, String>,
}

/// Measurements of one tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// Wall time of each timed run.
    pub times: Vec<Duration>,
    /// The largest `ru_maxrss` of any run, in KiB, when measured.
    pub peak_rss_kib: Option<u64>,
}

/// Median, min and max of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// The median (the mean of the middle two for an even count).
    pub median: Duration,
    /// The fastest.
    pub min: Duration,
    /// The slowest.
    pub max: Duration,
}

impl Stats {
    /// `None` for no samples.
    pub fn of(times: &[Duration]) -> Option<Stats> {
        let mut sorted = times.to_vec();
        sorted.sort();
        let min = *sorted.first()?;
        let max = *sorted.last()?;
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            *sorted.get(mid)?
        } else {
            (*sorted.get(mid - 1)? + *sorted.get(mid)?) / 2
        };
        Some(Stats { median, min, max })
    }
}

impl Section {
    /// kaniko's median over the reference's (rows 0 and 1), when both ran.
    pub fn ratio(&self) -> Option<f64> {
        let median = |row: Option<&Row>| {
            row.and_then(|r| r.outcome.as_ref().ok())
                .and_then(|s| Stats::of(&s.times))
                .map(|s| s.median.as_secs_f64())
        };
        let kaniko = median(self.rows.first())?;
        let reference = median(self.rows.get(1))?;
        (reference > 0.0).then(|| kaniko / reference)
    }

    /// The section as printed: heading, table, ratio, notes.
    pub fn render(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.tool.len())
            .chain(std::iter::once(4))
            .max()
            .unwrap_or(4);
        let mut out = format!("== {} ==\n", self.title);
        let _ = writeln!(
            out,
            "{:width$}  {:>4}  {:>9}  {:>9}  {:>9}  {:>10}",
            "tool", "runs", "median", "min", "max", "peak RSS"
        );
        for row in &self.rows {
            match &row.outcome {
                Ok(samples) => {
                    let rss = samples.peak_rss_kib.map_or("-".to_string(), |kib| {
                        format!("{:.1} MiB", kib as f64 / 1024.0)
                    });
                    match Stats::of(&samples.times) {
                        Some(s) => {
                            let _ = writeln!(
                                out,
                                "{:width$}  {:>4}  {:>9}  {:>9}  {:>9}  {:>10}",
                                row.tool,
                                samples.times.len(),
                                seconds(s.median),
                                seconds(s.min),
                                seconds(s.max),
                                rss
                            );
                        }
                        None => {
                            let _ = writeln!(out, "{:width$}  no runs", row.tool);
                        }
                    }
                }
                Err(why) => {
                    let why: Vec<&str> = why
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect();
                    let _ = writeln!(out, "{:width$}  FAILED: {}", row.tool, why.join(" | "));
                }
            }
        }
        match self.ratio() {
            _ if !self.compare => {}
            Some(ratio) => {
                let _ = writeln!(out, "ratio kaniko/reference (median): {ratio:.2}");
            }
            None => out.push_str("ratio kaniko/reference (median): n/a\n"),
        }
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
        }
        out
    }
}

/// One buildah build of `dockerfile` in `context`, pushed to `destination`, its times logged;
/// for a timed run (`phases` given), the total goes to `samples` and the bud and push times
/// to `phases`.
pub(crate) fn buildah_sample(
    builder: &crate::buildah::Buildah,
    context: &Path,
    dockerfile: &Path,
    destination: &str,
    samples: &mut Samples,
    phases: Option<&mut (Vec<Duration>, Vec<Duration>)>,
) -> anyhow::Result<()> {
    let opts = crate::buildah::BuildahOptions {
        destination: destination.to_string(),
        ..Default::default()
    };
    let result = builder.build(context, dockerfile, &opts)?;
    let total = result.build_time + result.push_time;
    tracing::info!(
        "{destination}: buildah {} (bud {}, push {})",
        seconds(total),
        seconds(result.build_time),
        seconds(result.push_time)
    );
    if let Some((bud, push)) = phases {
        samples.times.push(total);
        bud.push(result.build_time);
        push.push(result.push_time);
    }
    Ok(())
}

/// A base image the benchmarks build on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fixture {
    /// The Debian bookworm fixture, in `fixtures/debian`.
    Debian,
    /// The busybox fixture, in `fixtures/busybox`.
    Busybox,
}

/// A fresh loopback registry with `fixture` pushed; returns it and the fixture's reference.
pub(crate) fn registry_with(fixture: Fixture) -> anyhow::Result<(crate::Registry, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime for the fixture")?;
    let registry = crate::Registry::start()?;
    let reference = match fixture {
        Fixture::Debian => {
            runtime
                .block_on(crate::debian::push_debian(&registry, "fixtures/debian"))
                .context("pushing the debian fixture")?
                .reference
        }
        Fixture::Busybox => {
            runtime
                .block_on(crate::fixture::push_busybox(&registry, "fixtures/busybox"))
                .context("pushing the busybox fixture")?
                .reference
        }
    };
    Ok((registry, reference))
}

/// The median of `a`'s samples over `b`'s, as `0.50`; `n/a` when either has none.
pub(crate) fn median_ratio(
    a: Option<&Result<Samples, String>>,
    b: Option<&Result<Samples, String>>,
) -> String {
    let median = |row: Option<&Result<Samples, String>>| {
        row.and_then(|r| r.as_ref().ok())
            .and_then(|s| Stats::of(&s.times))
            .map(|s| s.median)
    };
    match (median(a), median(b)) {
        (Some(a), Some(b)) if b > Duration::ZERO => {
            format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
        }
        _ => "n/a".to_string(),
    }
}

/// The order of `len` rows in run `n`: rotated by `n`, so no row always goes first (and
/// always meets a cold page cache).
pub(crate) fn rotation(n: usize, len: usize) -> impl Iterator<Item = usize> {
    (0..len).map(move |i| (i + n) % len)
}

/// `1.234 s`.
pub fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Runs every benchmark whose name is in `only` (all when empty) and returns their sections.
pub fn run(config: &BenchConfig, only: &[String]) -> anyhow::Result<Vec<Section>> {
    std::fs::create_dir_all(&config.work_dir)
        .with_context(|| format!("creating {}", config.work_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix("kaniko-bench-")
        .tempdir_in(&config.work_dir)
        .with_context(|| format!("creating a directory in {}", config.work_dir.display()))?;
    let mut sections = Vec::new();
    for bench in benchmarks() {
        if !only.is_empty() && !only.iter().any(|n| n == bench.name()) {
            continue;
        }
        tracing::info!("benchmark {}", bench.name());
        let dir = work.path().join(bench.name());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        sections.push(
            bench
                .run(config, &dir)
                .with_context(|| format!("benchmark {}", bench.name()))?,
        );
    }
    Ok(sections)
}

/// Whether `worker build` exists: `worker build --help` succeeds. The error says
/// "worker build not available" and why.
pub fn worker_build_available(worker: &Path) -> Result<(), String> {
    let output = Command::new(worker)
        .args(["build", "--help"])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("worker build not available: {}: {err}", worker.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "worker build not available: `{} build --help` failed ({}): {}",
            worker.display(),
            output.status,
            crate::process::tail(String::from_utf8_lossy(&output.stderr).trim(), 3)
        ))
    }
}

/// A child process's wall time and resource use.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// From spawn to reaping.
    pub elapsed: Duration,
    /// The child's own peak RSS (`VmHWM`, sampled while it runs), in KiB.
    pub peak_rss_kib: u64,
}

/// Runs `command` with stdout and stderr in `log` and samples its peak RSS while it runs; a
/// non-zero exit is an error carrying the log's last lines.
///
/// The peak is the child's `VmHWM`, read every few milliseconds through a descriptor of its
/// `/proc` directory (which can never name a later process with a reused pid). Not
/// `ru_maxrss`: `posix_spawn` execs from the parent's address space, and the kernel carries
/// that address space's peak into the child's `ru_maxrss`, so a test binary that is itself
/// large would be charged to the worker.
pub fn run_measured(mut command: Command, log: &Path) -> anyhow::Result<Measured> {
    let shown = format!("{command:?}");
    // The program and its first argument (`worker build`), for the one-line table.
    let short: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args().take(1))
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let short = short.join(" ");
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
    let sampler = PeakSampler::start(pid).with_context(|| format!("watching {shown}"))?;
    let status = wait(pid).with_context(|| format!("waiting for {shown}"))?;
    let elapsed = started.elapsed();
    let peak_rss_kib = sampler.stop();
    drop(child);
    if !status.success() {
        tracing::warn!("{shown} failed ({status}), output in {}", log.display());
        let text = std::fs::read_to_string(log).unwrap_or_default();
        bail!(
            "{short} failed ({status}): {}",
            crate::process::tail(text.trim(), 15)
        );
    }
    Ok(Measured {
        elapsed,
        peak_rss_kib,
    })
}

/// Samples a running child's `VmHWM` (its peak RSS, which only grows) until stopped.
struct PeakSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl PeakSampler {
    /// Opens `/proc/<pid>` now (the child is ours and unreaped, so the pid is still its own)
    /// and reads `status` below that descriptor until [`PeakSampler::stop`].
    fn start(pid: libc::pid_t) -> std::io::Result<PeakSampler> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = File::open(format!("/proc/{pid}"))?;
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            loop {
                // Checked before the read, so one last sample follows the stop request.
                let stopping = flag.load(Ordering::Acquire);
                if let Some(kib) = read_vm_hwm(&dir) {
                    peak = peak.max(kib);
                }
                if stopping {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Ok(PeakSampler { stop, thread })
    }

    /// The highest `VmHWM` seen, in KiB.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.thread.join().unwrap_or(0)
    }
}

/// `VmHWM` of the process whose `/proc` directory `dir` is; `None` once it has exited.
fn read_vm_hwm(dir: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let name = c"status";
    // SAFETY: `dir` is an open directory descriptor and `name` a NUL-terminated string.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let text = std::io::read_to_string(file).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Reaps `pid`, returning its exit status.
fn wait(pid: libc::pid_t) -> std::io::Result<ExitStatus> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is valid for writes for the duration of the call; `pid` is our own
        // unreaped child.
        let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
        if reaped == pid {
            return Ok(ExitStatus::from_raw(status));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Puts the file system back in a quiet state before each timed build of the store cases.
///
/// ext4 without a journal (as on these machines) passes over inodes freed less than 60 s ago
/// (`recently_deleted` in `fs/ext4/ialloc.c`; longer while their inode table block is not
/// written back) each time it allocates one: creating files after a large deletion was
/// measured 5–15× slower than on a quiet disk, for any tool. The store benchmarks delete
/// stores, storages and stage roots, and the tools delete their own scratch files at the end
/// of a build, so without this the build after a large deletion pays for it, whichever tool
/// made it. [`Settle::before_build`] therefore syncs, waits until [`QUIET_AFTER`] has passed
/// since the previous build ended, then waits (at most [`SETTLE_LIMIT`]) until creating
/// files is about as fast as at its quietest. The probe files stay under `work/settle` until
/// the benchmark's directory is removed (a deletion would disturb the next build again).
#[derive(Debug, Default)]
pub struct Settle {
    /// The quietest probe seen.
    quietest: Option<Duration>,
    /// When the previous build ended (when `before_build` was last asked).
    previous: Option<Instant>,
}

/// How long after the last deletion a build starts: ext4's window for recently freed inodes
/// once their inode table is written back (60 s), and a second.
pub const QUIET_AFTER: Duration = Duration::from_secs(61);

impl Settle {
    /// Before a timed build, right after the previous one (and any removal the benchmark
    /// made after it) ended.
    pub fn before_build(&mut self, work: &Path) {
        let ended = Instant::now();
        let _ = Command::new("sync").status();
        if self.previous.is_some() {
            let waited = ended.elapsed();
            if let Some(rest) = QUIET_AFTER.checked_sub(waited) {
                std::thread::sleep(rest);
            }
        }
        settle(work, &mut self.quietest);
        self.previous = Some(Instant::now());
    }
}

/// Waits (at most [`SETTLE_LIMIT`]) until the file system under `work` creates files about as
/// fast as it did at its quietest (`probes`, the quietest probe seen), after a `sync`.
fn settle(work: &Path, probes: &mut Option<Duration>) {
    let _ = Command::new("sync").status();
    let started = Instant::now();
    let mut round = 0u32;
    loop {
        let dir = work.join("settle").join(format!("{}", probes_made()));
        let Some(took) = probe(&dir) else {
            return;
        };
        let best = probes.map_or(took, |best| best.min(took));
        *probes = Some(best);
        let settled = took <= best.saturating_mul(2);
        if settled || started.elapsed() >= SETTLE_LIMIT {
            if round > 0 {
                tracing::info!(
                    "file system {} after {} (probe {}, quietest {})",
                    if settled {
                        "settled"
                    } else {
                        "still slow: going on"
                    },
                    seconds(started.elapsed()),
                    seconds(took),
                    seconds(best)
                );
            }
            return;
        }
        round += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The longest the probing of [`Settle::before_build`] waits.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// A number for each probe directory of this process.
fn probes_made() -> u64 {
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Creates 500 small files in a new `dir`: how long that took; `None` when it could not.
fn probe(dir: &Path) -> Option<Duration> {
    std::fs::create_dir_all(dir).ok()?;
    let started = Instant::now();
    for i in 0..500 {
        std::fs::write(dir.join(format!("f{i}")), b"settle\n").ok()?;
    }
    Some(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn the_peak_is_the_childs_own_not_the_spawning_process() {
        // The spawning process is large (as the e2e binary is while other tests run) ...
        let ballast = vec![1u8; 300 << 20];
        let dir = tempfile::tempdir().unwrap();
        let small = run_measured(Command::new("true"), &dir.path().join("true.log")).unwrap();
        assert!(
            small.peak_rss_kib < 64 << 10,
            "`true` charged with {} KiB",
            small.peak_rss_kib
        );
        // ... and a child that really grows is still measured.
        let mut python = Command::new("python3");
        python.args([
            "-c",
            "import time; b = bytearray(160 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.3)",
        ]);
        let big = run_measured(python, &dir.path().join("python.log")).unwrap();
        assert!(
            big.peak_rss_kib > 150 << 10,
            "a child holding 160 MiB measured at {} KiB",
            big.peak_rss_kib
        );
        assert_eq!(ballast.len(), 300 << 20);
    }

    #[test]
    fn stats_are_median_min_and_max() {
        fn check(times: &[u64], expected: Option<(u64, u64, u64)>) {
            let expected = expected.map(|(median, min, max)| Stats {
                median: Duration::from_millis(median),
                min: Duration::from_millis(min),
                max: Duration::from_millis(max),
            });
            assert_eq!(Stats::of(&ms(times)), expected, "{times:?}");
        }
        check(&[], None);
        check(&[7], Some((7, 7, 7)));
        check(&[5, 1, 3], Some((3, 1, 5)));
        check(&[40, 10, 30, 100], Some((35, 10, 100)));
    }

    #[test]
    fn the_table_shows_each_tool_the_ratio_and_failures() {
        let section = Section {
            title: "copy".into(),
            rows: vec![
                Row {
                    tool: "kaniko".into(),
                    outcome: Ok(Samples {
                        times: ms(&[1000, 2000, 3000]),
                        peak_rss_kib: Some(2048),
                    }),
                },
                Row {
                    tool: "buildah".into(),
                    outcome: Ok(Samples {
                        times: ms(&[4000, 4000]),
                        peak_rss_kib: None,
                    }),
                },
            ],
            notes: vec!["a note".into()],
            compare: true,
        };
        let shown = section.render();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(
            lines,
            [
                "== copy ==",
                "tool     runs     median        min        max    peak RSS",
                "kaniko      3    2.000 s    1.000 s    3.000 s     2.0 MiB",
                "buildah     2    4.000 s    4.000 s    4.000 s           -",
                "ratio kaniko/reference (median): 0.50",
                "a note",
            ],
            "{shown}"
        );

        let failed = Section {
            rows: vec![
                Row {
                    tool: "kaniko".into(),
                    outcome: Err("worker build not available: Usage: worker\n\ntry --help".into()),
                },
                section.rows[1].clone(),
            ],
            ..section
        };
        let shown = failed.render();
        assert!(
            shown.contains(
                "kaniko   FAILED: worker build not available: Usage: worker | try --help\n"
            ),
            "{shown}"
        );
        assert!(
            shown.contains("ratio kaniko/reference (median): n/a"),
            "{shown}"
        );
        let measured_only = Section {
            compare: false,
            ..failed
        };
        assert!(
            !measured_only.render().contains("ratio"),
            "{}",
            measured_only.render()
        );
    }

    #[test]
    fn a_missing_worker_build_is_reported_as_such() {
        fn check(worker: &str, expected: &str) {
            let err = worker_build_available(Path::new(worker)).unwrap_err();
            assert!(err.starts_with("worker build not available"), "{err}");
            assert!(err.contains(expected), "{err}");
        }
        check("/nonexistent/worker", "/nonexistent/worker");
        // `false build --help` exits 1, as a worker without the subcommand would.
        check("false", "failed");
    }

    #[test]
    fn measured_runs_report_peak_rss_and_failures() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut grow = Command::new("sh");
        // Holds about 20 MiB in one shell variable.
        grow.args([
            "-c",
            "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ${#x}",
        ]);
        let measured = run_measured(grow, &log).unwrap();
        assert!(measured.peak_rss_kib > 15 * 1024, "{measured:?}");
        assert_eq!(std::fs::read_to_string(&log).unwrap().trim(), "20000000");

        let mut fail = Command::new("sh");
        fail.args(["-c", "echo 'push denied' >&2; exit 4"]);
        let err = run_measured(fail, &log).unwrap_err().to_string();
        assert!(err.contains("push denied"), "{err}");
    }
}
