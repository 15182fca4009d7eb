// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The snapshot-scaling benchmark: does a RUN's snapshot cost follow what the RUN changed or
//! the size of the root filesystem? A base of Debian plus 50 000 files is built once (by
//! `buildah bud`, or `worker build` without buildah) and pushed; then, for both snapshotters (overlay and walk), a RUN that
//! changes one file (`echo x > /one`) and a RUN that writes 10 000 files are built on Debian
//! and on that base. Each cell is the worker's own snapshot time from its debug events (the
//! walk's scan before the RUN included); the notes add the builds' wall times.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::run_files::{
    FILE_BYTES, FILE_DIRS, FILES_PER_DIR, Snapshotter, WorkerBuild, files_command, only_snapshot,
    step,
};
use super::{
    BenchConfig, Benchmark, Fixture, Row, Samples, Section, Stats, registry_with, seconds,
};
use crate::buildah::{Buildah, BuildahOptions};

/// One RUN changing one file against one writing 10 000, on a small and a large root, with
/// the overlay and the walk.
pub struct SnapshotScaling;

/// Directories of the large root's extra files.
pub const BASE_DIRS: usize = 50;
/// Files per directory of the large root's extra files.
pub const BASE_PER_DIR: usize = 1000;

/// The root filesystem a measured RUN runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSize {
    /// The Debian fixture as is.
    Debian,
    /// Debian plus [`BASE_DIRS`] × [`BASE_PER_DIR`] files.
    Large,
}

/// What the measured RUN changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSize {
    /// `echo x > /one`.
    OneFile,
    /// The 10 000 files of the run-10k-files benchmark.
    TenThousand,
}

/// One cell of the table: a snapshotter, a root and a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// `--snapshotter overlay` or `walk`.
    pub snapshotter: Snapshotter,
    /// The root the RUN runs on.
    pub root: RootSize,
    /// What it changes.
    pub change: ChangeSize,
}

impl Cell {
    /// The cells in the order printed: the first two (one file on the large root, overlay
    /// then walk) are the pair the section's ratio compares.
    pub fn all() -> Vec<Cell> {
        let mut cells = Vec::new();
        for (change, root) in [
            (ChangeSize::OneFile, RootSize::Large),
            (ChangeSize::TenThousand, RootSize::Debian),
            (ChangeSize::OneFile, RootSize::Debian),
            (ChangeSize::TenThousand, RootSize::Large),
        ] {
            for snapshotter in [Snapshotter::Overlay, Snapshotter::Walk] {
                cells.push(Cell {
                    snapshotter,
                    root,
                    change,
                });
            }
        }
        cells
    }

    /// The row's name: `overlay, 1 file, debian + 50000 files`.
    pub fn label(&self) -> String {
        let snapshotter = match self.snapshotter {
            Snapshotter::Walk => "walk",
            _ => "overlay",
        };
        let change = match self.change {
            ChangeSize::OneFile => "1 file".to_string(),
            ChangeSize::TenThousand => format!("{} files", FILE_DIRS * FILES_PER_DIR),
        };
        let root = match self.root {
            RootSize::Debian => "debian".to_string(),
            RootSize::Large => format!("debian + {} files", BASE_DIRS * BASE_PER_DIR),
        };
        format!("{snapshotter}, {change}, {root}")
    }

    /// A short name for files and tags: `overlay-one-large`.
    fn slug(&self) -> String {
        let snapshotter = match self.snapshotter {
            Snapshotter::Walk => "walk",
            _ => "overlay",
        };
        let change = match self.change {
            ChangeSize::OneFile => "one",
            ChangeSize::TenThousand => "tenk",
        };
        let root = match self.root {
            RootSize::Debian => "debian",
            RootSize::Large => "large",
        };
        format!("{snapshotter}-{change}-{root}")
    }
}

/// The RUN instruction that makes `change`.
pub fn run_instruction(change: ChangeSize) -> String {
    match change {
        ChangeSize::OneFile => "RUN echo x > /one".to_string(),
        ChangeSize::TenThousand => format!(
            "RUN {}",
            files_command("/data", FILE_DIRS, FILES_PER_DIR, FILE_BYTES)
        ),
    }
}

/// What was measured for one cell.
#[derive(Debug, Clone, Default)]
struct CellSamples {
    /// Snapshot times (the section's figures).
    snapshot: Samples,
    /// Build wall times.
    wall: Vec<Duration>,
    /// Paths the walk saw after the RUN, and the layer's changes, of the last run.
    paths: Option<u64>,
    changes: u64,
}

impl Benchmark for SnapshotScaling {
    fn name(&self) -> &'static str {
        "snapshot-scaling"
    }

    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section> {
        let cells = Cell::all();
        let title = format!(
            "RUN snapshot time: 1 file vs {} files changed, on debian and on debian + {} files",
            FILE_DIRS * FILES_PER_DIR,
            BASE_DIRS * BASE_PER_DIR
        );
        let (registry, debian) = registry_with(Fixture::Debian)?;
        let host = registry.host();

        let context = work.join("context");
        std::fs::create_dir_all(&context)
            .with_context(|| format!("creating {}", context.display()))?;
        let base = format!("{host}/bench/base50k:latest");
        let made = super::worker_build_available(&config.worker).and_then(|()| {
            build_large_base(config, &context, work, &debian, &base, &host)
                .map_err(|err| format!("building the large base: {err:#}"))
        });
        if let Err(why) = made {
            tracing::warn!("{why}");
            return Ok(Section {
                compare: false,
                title,
                rows: cells
                    .iter()
                    .map(|cell| Row {
                        tool: cell.label(),
                        outcome: Err(why.clone()),
                    })
                    .collect(),
                notes: Vec::new(),
            });
        }

        let mut dockerfiles = Vec::new();
        for cell in &cells {
            let from = match cell.root {
                RootSize::Debian => &debian,
                RootSize::Large => &base,
            };
            let path = context.join(format!("Dockerfile.{}", cell.slug()));
            std::fs::write(
                &path,
                format!("FROM {from}\n{}\n", run_instruction(cell.change)),
            )
            .with_context(|| format!("writing {}", path.display()))?;
            dockerfiles.push(path);
        }

        let mut outcomes: Vec<Result<CellSamples, String>> =
            cells.iter().map(|_| Ok(CellSamples::default())).collect();
        for n in 0..config.warmup + config.runs {
            let timed = n >= config.warmup;
            // Rotate the starting cell, so no cell always follows the same one.
            for i in 0..cells.len() {
                let at = (i + n) % cells.len();
                let (Some(cell), Some(dockerfile), Some(outcome)) =
                    (cells.get(at), dockerfiles.get(at), outcomes.get_mut(at))
                else {
                    continue;
                };
                step(outcome, |samples| {
                    let log = work.join(format!("{}-{n}.log", cell.slug()));
                    let build = WorkerBuild {
                        config,
                        context: &context,
                        dockerfile,
                        destination: format!("{host}/bench/{}:{n}", cell.slug()),
                        insecure: host.clone(),
                        snapshotter: cell.snapshotter,
                        log: &log,
                    };
                    let run = build.run()?;
                    let event = only_snapshot(&run, &log)?;
                    tracing::info!(
                        "run {n}: {}: snapshot {} (build {}, {} changes)",
                        cell.label(),
                        seconds(event.total()),
                        seconds(run.elapsed),
                        event.changes
                    );
                    if cell.snapshotter == Snapshotter::Walk && event.overlay {
                        anyhow::bail!("asked for the walk, the worker used the overlay");
                    }
                    if cell.snapshotter == Snapshotter::Overlay && !event.overlay {
                        anyhow::bail!("asked for the overlay, the worker walked");
                    }
                    if timed {
                        samples.snapshot.times.push(event.total());
                        samples.snapshot.peak_rss_kib =
                            samples.snapshot.peak_rss_kib.max(Some(run.peak_rss_kib));
                        samples.wall.push(run.elapsed);
                        samples.paths = event.paths;
                        samples.changes = event.changes;
                    }
                    Ok(())
                });
            }
        }

        let notes = notes(config, &cells, &outcomes);
        Ok(Section {
            compare: false,
            title,
            rows: cells
                .iter()
                .zip(outcomes)
                .map(|(cell, outcome)| Row {
                    tool: cell.label(),
                    outcome: outcome.map(|s| s.snapshot),
                })
                .collect(),
            notes,
        })
    }
}

/// Builds Debian + 50 000 files and pushes it as `base`: with `buildah bud` (whose RUN
/// snapshot does not grow with the square of the changes, unlike the worker's today), or with
/// `worker build` when buildah is not there.
pub(crate) fn build_large_base(
    config: &BenchConfig,
    context: &Path,
    work: &Path,
    debian: &str,
    base: &str,
    host: &str,
) -> anyhow::Result<()> {
    let dockerfile: PathBuf = context.join("Dockerfile.base");
    let command = files_command("/base", BASE_DIRS, BASE_PER_DIR, FILE_BYTES);
    std::fs::write(&dockerfile, format!("FROM {debian}\nRUN {command}\n"))
        .with_context(|| format!("writing {}", dockerfile.display()))?;
    let started = std::time::Instant::now();
    let by_buildah = Buildah::new().and_then(|builder| {
        let opts = BuildahOptions {
            destination: base.to_string(),
            ..BuildahOptions::default()
        };
        builder.build(context, &dockerfile, &opts)
    });
    match by_buildah {
        Ok(_) => {
            tracing::info!(
                "built the large base {base} with buildah in {}",
                seconds(started.elapsed())
            );
            return Ok(());
        }
        Err(err) => {
            tracing::warn!("buildah could not build the large base ({err}); using the worker")
        }
    }
    let log = work.join("base.log");
    let run = WorkerBuild {
        config,
        context,
        dockerfile: &dockerfile,
        destination: base.to_string(),
        insecure: host.to_string(),
        snapshotter: Snapshotter::Default,
        log: &log,
    }
    .run()?;
    tracing::info!(
        "built the large base {base} with the worker in {}",
        seconds(run.elapsed)
    );
    Ok(())
}

/// The notes under the table: overlay against walk, the cost ratios that answer the
/// question, and the wall times.
fn notes(
    config: &BenchConfig,
    cells: &[Cell],
    outcomes: &[Result<CellSamples, String>],
) -> Vec<String> {
    let median = |want: Cell| -> Option<Duration> {
        let at = cells.iter().position(|c| *c == want)?;
        let samples = outcomes.get(at)?.as_ref().ok()?;
        Stats::of(&samples.snapshot.times).map(|s| s.median)
    };
    let cell = |snapshotter, change, root| Cell {
        snapshotter,
        root,
        change,
    };
    let mut notes = vec![
        format!(
            "figures are the worker's snapshot time (walk: scan before the RUN + scan after + \
             layer; overlay: read the upper directory + layer), {} timed runs after {} warm-up",
            config.runs, config.warmup
        ),
        format!(
            "overlay / walk, one file changed on debian + 50000 files: {}",
            match (
                median(cell(
                    Snapshotter::Overlay,
                    ChangeSize::OneFile,
                    RootSize::Large
                )),
                median(cell(
                    Snapshotter::Walk,
                    ChangeSize::OneFile,
                    RootSize::Large
                )),
            ) {
                (Some(a), Some(b)) if b > Duration::ZERO => ratio_text(a, b),
                _ => "n/a".to_string(),
            }
        ),
    ];
    for snapshotter in [Snapshotter::Overlay, Snapshotter::Walk] {
        let name = if snapshotter == Snapshotter::Walk {
            "walk"
        } else {
            "overlay"
        };
        let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) if b > Duration::ZERO => ratio_text(a, b),
            _ => "n/a".to_string(),
        };
        let one_large = median(cell(snapshotter, ChangeSize::OneFile, RootSize::Large));
        let one_debian = median(cell(snapshotter, ChangeSize::OneFile, RootSize::Debian));
        let tenk_debian = median(cell(snapshotter, ChangeSize::TenThousand, RootSize::Debian));
        notes.push(format!(
            "{name}: 1 file on the large root / 1 file on debian = {} (follows the tree when \
             ≫ 1); 1 file on the large root / 10000 files on debian = {} (follows the change \
             when ≪ 1)",
            ratio(one_large, one_debian),
            ratio(one_large, tenk_debian)
        ));
    }
    for (cell, outcome) in cells.iter().zip(outcomes) {
        if let Ok(samples) = outcome
            && let Some(wall) = Stats::of(&samples.wall)
            && let Some(snapshot) = Stats::of(&samples.snapshot.times)
        {
            let paths = samples
                .paths
                .map_or(String::new(), |p| format!(", {p} paths scanned"));
            notes.push(format!(
                "{}: snapshot median {}, build + push median {}, {} changes{paths}",
                cell.label(),
                precise(snapshot.median),
                seconds(wall.median),
                samples.changes
            ));
        }
    }
    notes
}

/// A duration readable below a millisecond: `0.35 ms`, `12.40 ms`, `1.234 s`.
pub fn precise(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    } else {
        seconds(d)
    }
}

/// `a / b` as `0.84`, or `1/4043` when it is below 0.1 (two decimals would show 0.00).
pub fn ratio_text(a: Duration, b: Duration) -> String {
    let (a, b) = (a.as_secs_f64(), b.as_secs_f64());
    if b <= 0.0 {
        return "n/a".to_string();
    }
    let r = a / b;
    if r >= 0.1 || a <= 0.0 {
        format!("{r:.2}")
    } else {
        format!("1/{:.0}", b / a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_measured_once_and_the_ratio_pair_comes_first() {
        let cells = Cell::all();
        assert_eq!(cells.len(), 8);
        for (i, a) in cells.iter().enumerate() {
            for b in cells.iter().skip(i + 1) {
                assert_ne!(a, b);
                assert_ne!(a.slug(), b.slug());
            }
        }
        fn check(cell: Option<&Cell>, expected: &str) {
            assert_eq!(cell.map(Cell::label).as_deref(), Some(expected));
        }
        check(cells.first(), "overlay, 1 file, debian + 50000 files");
        check(cells.get(1), "walk, 1 file, debian + 50000 files");
        check(cells.get(2), "overlay, 10000 files, debian");
    }

    #[test]
    fn small_figures_stay_readable() {
        fn check(a_us: u64, b_us: u64, expected_precise: &str, expected_ratio: &str) {
            let (a, b) = (Duration::from_micros(a_us), Duration::from_micros(b_us));
            assert_eq!(precise(a), expected_precise);
            assert_eq!(ratio_text(a, b), expected_ratio);
        }
        check(350, 1_415_000, "0.35 ms", "1/4043");
        check(1_415_000, 393_000, "1.415 s", "3.60");
        check(0, 1000, "0.00 ms", "0.00");
        check(1000, 0, "1.00 ms", "n/a");
    }

    #[test]
    fn the_measured_runs_change_what_they_say() {
        fn check(change: ChangeSize, expected_files: usize) {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_str().unwrap();
            let instruction = run_instruction(change)
                .replace(" /one", &format!(" {root}/one"))
                .replace(" /data", &format!(" {root}/data"));
            let command = instruction.strip_prefix("RUN ").unwrap();
            let status = std::process::Command::new("sh")
                .args(["-c", command])
                .status()
                .unwrap();
            assert!(status.success(), "{command}");
            let mut files = 0;
            let mut stack = vec![dir.path().to_path_buf()];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(d).unwrap() {
                    let entry = entry.unwrap();
                    if entry.file_type().unwrap().is_dir() {
                        stack.push(entry.path());
                    } else {
                        files += 1;
                    }
                }
            }
            assert_eq!(files, expected_files, "{command}");
        }
        check(ChangeSize::OneFile, 1);
        check(ChangeSize::TenThousand, FILE_DIRS * FILES_PER_DIR);
    }
}
