// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The layer-store benchmarks (issue #12): one section per case, each tool warm and cold,
//! the store on and off. The cases: a RUN writing 10 000 files on Debian (`store-run-10k`), a
//! RUN changing one file on Debian + 50 000 files (`store-one-file-50k`), two stages on the
//! same Debian base with one RUN each (`store-two-stages`). The rows:
//!
//! * kaniko warm: `--store-dir` kept across the runs (filled by the warm-up run);
//! * buildah warm: one private storage kept across the runs (the base pulled by the warm-up);
//! * kaniko cold: a fresh `--store-dir` each run; buildah cold: fresh storage each run;
//! * kaniko `--no-store`: the flat stage root (no store to be warm or cold).
//!
//! Wall time is build + push to a loopback registry (one per case, the base pushed once);
//! every run pushes to a repository of its own. The section's ratio is warm against warm;
//! the notes give cold against cold and `--no-store` against both buildah rows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::run_files::{
    FILE_BYTES, FILE_DIRS, FILES_PER_DIR, Snapshotter, WorkerBuild, files_command, step,
};
use super::snapshot_scaling::{BASE_DIRS, BASE_PER_DIR, build_large_base};
use super::{
    BenchConfig, Benchmark, Fixture, Row, Samples, Section, Stats, buildah_sample, registry_with,
    seconds,
};
use crate::buildah::Buildah;
use crate::tree::remove_dir_all_force;

/// What a store benchmark builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCase {
    /// One RUN writing 10 000 files of 1 KiB on Debian.
    RunTenThousand,
    /// One RUN changing one file on Debian + 50 000 files.
    OneFileLargeBase,
    /// Two stages on the same Debian base, one RUN each (the second copies from the first).
    TwoStages,
}

/// One of the store benchmarks.
pub struct StoreRatios(pub StoreCase);

/// The rows, in the order printed (the first two are the section's ratio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    KanikoWarm,
    BuildahWarm,
    KanikoCold,
    BuildahCold,
    KanikoNoStore,
}

const MODES: [Mode; 5] = [
    Mode::KanikoWarm,
    Mode::BuildahWarm,
    Mode::KanikoCold,
    Mode::BuildahCold,
    Mode::KanikoNoStore,
];

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::KanikoWarm => "kaniko, store warm",
            Mode::BuildahWarm => "buildah, storage warm",
            Mode::KanikoCold => "kaniko, store cold",
            Mode::BuildahCold => "buildah, storage cold",
            Mode::KanikoNoStore => "kaniko --no-store",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Mode::KanikoWarm => "kaniko-warm",
            Mode::BuildahWarm => "buildah-warm",
            Mode::KanikoCold => "kaniko-cold",
            Mode::BuildahCold => "buildah-cold",
            Mode::KanikoNoStore => "kaniko-nostore",
        }
    }
}

impl StoreCase {
    /// The `--only` name.
    pub fn name(self) -> &'static str {
        match self {
            StoreCase::RunTenThousand => "store-run-10k",
            StoreCase::OneFileLargeBase => "store-one-file-50k",
            StoreCase::TwoStages => "store-two-stages",
        }
    }

    fn title(self) -> String {
        match self {
            StoreCase::RunTenThousand => format!(
                "store: RUN writing {} files on Debian, build + push, warm and cold",
                FILE_DIRS * FILES_PER_DIR
            ),
            StoreCase::OneFileLargeBase => format!(
                "store: RUN changing one file on Debian + {} files, build + push, warm and cold",
                BASE_DIRS * BASE_PER_DIR
            ),
            StoreCase::TwoStages => {
                "store: two stages on the same Debian base, one RUN each, build + push, warm and \
                 cold"
                    .to_string()
            }
        }
    }

    /// The Dockerfile on `base` (Debian, or Debian + 50 000 files for the one-file case).
    pub fn dockerfile(self, base: &str) -> String {
        match self {
            StoreCase::RunTenThousand => format!(
                "FROM {base}\nRUN {}\n",
                files_command("/data", FILE_DIRS, FILES_PER_DIR, FILE_BYTES)
            ),
            StoreCase::OneFileLargeBase => format!("FROM {base}\nRUN echo x > /one\n"),
            StoreCase::TwoStages => format!(
                "FROM {base} AS build\nRUN echo built > /artifact\n\
                 FROM {base}\nCOPY --from=build /artifact /artifact\nRUN cat /artifact > /copy\n"
            ),
        }
    }
}

impl Benchmark for StoreRatios {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section> {
        let case = self.0;
        let (registry, debian) = registry_with(Fixture::Debian)?;
        let host = registry.host();
        let context = work.join("context");
        std::fs::create_dir_all(&context)
            .with_context(|| format!("creating {}", context.display()))?;
        let available = super::worker_build_available(&config.worker);
        let base = match case {
            StoreCase::OneFileLargeBase => {
                let large = format!("{host}/bench/base50k:latest");
                available
                    .clone()
                    .and_then(|()| {
                        build_large_base(config, &context, work, &debian, &large, &host)
                            .map_err(|err| format!("building the large base: {err:#}"))
                    })
                    .map_err(anyhow::Error::msg)?;
                large
            }
            _ => debian.clone(),
        };
        let dockerfile = context.join("Dockerfile");
        std::fs::write(&dockerfile, case.dockerfile(&base))
            .with_context(|| format!("writing {}", dockerfile.display()))?;

        let mut outcomes: Vec<Result<Samples, String>> = MODES
            .iter()
            .map(|mode| match mode {
                Mode::BuildahWarm | Mode::BuildahCold => Ok(Samples::default()),
                _ => available.clone().map(|()| Samples::default()),
            })
            .collect();
        let warm_store = work.join("store-warm");
        let warm_buildah = Buildah::new().map_err(|e| format!("{e}"));
        if let (Err(why), Some(row)) = (&warm_buildah, outcomes.get_mut(1)) {
            *row = Err(why.clone());
        }
        let mut settle = super::Settle::default();
        for n in 0..config.warmup + config.runs {
            let timed = n >= config.warmup;
            for i in 0..MODES.len() {
                // Every build starts on a settled file system: the one before may have
                // deleted a store, a storage or a stage root.
                settle.before_build(work);
                // Rotate who goes first, so no one always meets a cold page cache.
                let at = (i + n) % MODES.len();
                let (Some(mode), Some(outcome)) = (MODES.get(at), outcomes.get_mut(at)) else {
                    continue;
                };
                let destination =
                    format!("{host}/bench/{}-{}-{n}:latest", case.name(), mode.slug());
                step(outcome, |samples| {
                    let run = Run {
                        config,
                        context: &context,
                        dockerfile: &dockerfile,
                        destination: &destination,
                        host: &host,
                        log: work.join(format!("{}-{n}.log", mode.slug())),
                    };
                    let elapsed = match mode {
                        Mode::KanikoWarm => run.kaniko(&["--store-dir", path(&warm_store)?])?,
                        Mode::KanikoCold => {
                            let fresh = work.join(format!("store-cold-{n}"));
                            let result = run.kaniko(&["--store-dir", path(&fresh)?]);
                            let _ = remove_dir_all_force(&fresh);
                            result?
                        }
                        Mode::KanikoNoStore => run.kaniko(&["--no-store"])?,
                        Mode::BuildahWarm => match &warm_buildah {
                            Ok(builder) => run.buildah(builder)?,
                            Err(why) => anyhow::bail!("{why}"),
                        },
                        Mode::BuildahCold => run.buildah(&Buildah::new()?)?,
                    };
                    tracing::info!("run {n}: {}: {}", mode.label(), seconds(elapsed.0));
                    if timed {
                        samples.times.push(elapsed.0);
                        samples.peak_rss_kib = samples.peak_rss_kib.max(elapsed.1);
                    }
                    Ok(())
                });
            }
        }
        Ok(Section {
            compare: true,
            title: case.title(),
            notes: notes(config, &outcomes),
            rows: MODES
                .iter()
                .zip(outcomes)
                .map(|(mode, outcome)| Row {
                    tool: mode.label().to_string(),
                    outcome,
                })
                .collect(),
        })
    }
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

/// One timed build of a case.
struct Run<'a> {
    config: &'a BenchConfig,
    context: &'a Path,
    dockerfile: &'a Path,
    destination: &'a str,
    host: &'a str,
    log: PathBuf,
}

impl Run<'_> {
    /// `worker build` with `extra` arguments: wall time and peak RSS.
    fn kaniko(&self, extra: &[&str]) -> anyhow::Result<(Duration, Option<u64>)> {
        let mut config = self.config.clone();
        config
            .worker_args
            .extend(extra.iter().map(|a| a.to_string()));
        let run = WorkerBuild {
            config: &config,
            context: self.context,
            dockerfile: self.dockerfile,
            destination: self.destination.to_string(),
            insecure: self.host.to_string(),
            snapshotter: Snapshotter::Default,
            log: &self.log,
        }
        .run()?;
        Ok((run.elapsed, Some(run.peak_rss_kib)))
    }

    /// `buildah bud` + `buildah push` with `builder`'s storage: the total time.
    fn buildah(&self, builder: &Buildah) -> anyhow::Result<(Duration, Option<u64>)> {
        let mut samples = Samples::default();
        let mut phases = (Vec::new(), Vec::new());
        buildah_sample(
            builder,
            self.context,
            self.dockerfile,
            self.destination,
            &mut samples,
            Some(&mut phases),
        )?;
        let total = samples.times.first().copied().unwrap_or_default();
        Ok((total, None))
    }
}

/// Cold against cold and `--no-store` against buildah, as ratios of medians.
fn notes(config: &BenchConfig, outcomes: &[Result<Samples, String>]) -> Vec<String> {
    let median = |mode: Mode| -> Option<Duration> {
        let at = MODES.iter().position(|m| *m == mode)?;
        let samples = outcomes.get(at)?.as_ref().ok()?;
        Stats::of(&samples.times).map(|s| s.median)
    };
    let ratio = |a: Mode, b: Mode| match (median(a), median(b)) {
        (Some(a), Some(b)) if b > Duration::ZERO => {
            format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
        }
        _ => "n/a".to_string(),
    };
    vec![
        format!(
            "{} timed runs after {} warm-up; warm rows keep their store or storage across the \
             runs, cold rows start each run from an empty one",
            config.runs, config.warmup
        ),
        format!(
            "ratio warm (kaniko store warm / buildah warm): {}",
            ratio(Mode::KanikoWarm, Mode::BuildahWarm)
        ),
        format!(
            "ratio cold (kaniko store cold / buildah cold): {}",
            ratio(Mode::KanikoCold, Mode::BuildahCold)
        ),
        format!(
            "ratio --no-store / buildah warm: {}; --no-store / buildah cold: {}",
            ratio(Mode::KanikoNoStore, Mode::BuildahWarm),
            ratio(Mode::KanikoNoStore, Mode::BuildahCold)
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_stage_case_runs_one_command_per_stage_on_one_base() {
        let text = StoreCase::TwoStages.dockerfile("reg/debian:1");
        assert_eq!(text.matches("FROM reg/debian:1").count(), 2, "{text}");
        assert_eq!(text.matches("\nRUN ").count(), 2, "{text}");
        let one = StoreCase::OneFileLargeBase.dockerfile("reg/base50k:latest");
        assert_eq!(one, "FROM reg/base50k:latest\nRUN echo x > /one\n");
    }

    #[test]
    fn the_notes_give_cold_and_no_store_ratios() {
        let ok = |secs: &[u64]| {
            Ok(Samples {
                times: secs.iter().map(|s| Duration::from_secs(*s)).collect(),
                peak_rss_kib: None,
            })
        };
        let outcomes = vec![
            ok(&[1]),
            ok(&[2]),
            ok(&[3]),
            ok(&[6]),
            Err("failed".to_string()),
        ];
        let config = BenchConfig {
            worker: PathBuf::new(),
            worker_args: Vec::new(),
            runs: 1,
            warmup: 0,
            work_dir: PathBuf::new(),
            small_files: 0,
            big_file_mib: 0,
            coordinator: PathBuf::new(),
            fan_out_builds: Vec::new(),
            fan_out_servers: Vec::new(),
            fan_out_concurrency: 1,
        };
        let notes = notes(&config, &outcomes);
        assert_eq!(
            notes[1..],
            [
                "ratio warm (kaniko store warm / buildah warm): 0.50",
                "ratio cold (kaniko store cold / buildah cold): 0.50",
                "ratio --no-store / buildah warm: n/a; --no-store / buildah cold: n/a",
            ]
        );
    }
}
