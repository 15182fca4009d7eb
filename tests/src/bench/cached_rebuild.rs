// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The layer-cache benchmark (issue #14, `cached-rebuild`): a RUN-heavy Dockerfile on Debian
//! (three RUNs, a COPY of a source directory, a RUN reading it) rebuilt with each tool's
//! cache warm, build + push to a loopback registry. The rows:
//!
//! * kaniko, unchanged: `--cache=true --cache-repo=<registry>/cache`, nothing changed since
//!   the warm-up build (every RUN a hit);
//! * buildah, unchanged: `buildah bud --layers` with one storage kept across the runs;
//! * kaniko and buildah, one source changed: `src/main.txt` holds new bytes each run, so the
//!   COPY and the RUN after it miss (the RUNs before it hit);
//! * kaniko uncached: no `--cache`, every step run.
//!
//! Every run pushes to a repository of its own; the unchanged and changed runs share each
//! tool's cache. The section's ratio is unchanged against unchanged; the notes give the
//! changed rows' ratio and the cached rebuild against the uncached one.

use std::path::Path;

use anyhow::Context;

use super::run_files::{Snapshotter, WorkerBuild, files_command, step};
use super::{
    BenchConfig, Benchmark, Fixture, Row, Samples, Section, median_ratio, registry_with, rotation,
    seconds,
};
use crate::buildah::{Buildah, BuildahOptions};

/// The cached-rebuild benchmark.
pub struct CachedRebuild;

/// The rows, in the order printed (the first two are the section's ratio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    KanikoUnchanged,
    BuildahUnchanged,
    KanikoChanged,
    BuildahChanged,
    KanikoUncached,
}

const MODES: [Mode; 5] = [
    Mode::KanikoUnchanged,
    Mode::BuildahUnchanged,
    Mode::KanikoChanged,
    Mode::BuildahChanged,
    Mode::KanikoUncached,
];

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::KanikoUnchanged => "kaniko --cache, unchanged",
            Mode::BuildahUnchanged => "buildah --layers, unchanged",
            Mode::KanikoChanged => "kaniko --cache, one source changed",
            Mode::BuildahChanged => "buildah --layers, one source changed",
            Mode::KanikoUncached => "kaniko, no cache",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Mode::KanikoUnchanged => "kaniko-unchanged",
            Mode::BuildahUnchanged => "buildah-unchanged",
            Mode::KanikoChanged => "kaniko-changed",
            Mode::BuildahChanged => "buildah-changed",
            Mode::KanikoUncached => "kaniko-uncached",
        }
    }

    /// Whether the run changes the source file first.
    fn changes_source(self) -> bool {
        matches!(self, Mode::KanikoChanged | Mode::BuildahChanged)
    }
}

/// The source file a changed run rewrites, relative to the context.
const SOURCE: &str = "src/main.txt";
/// What the source file holds for the unchanged runs (and the warm-up).
const STABLE: &str = "stable source\n";

/// The Dockerfile on `base`: three RUNs (the middle one writes 2 000 files of 1 KiB, a
/// dependency install's worth), the sources copied in, a RUN building from them.
pub fn dockerfile(base: &str) -> String {
    format!(
        "FROM {base}\n\
         RUN echo 'deb http://deb.example/ stable main' > /etc/apt/sources.list.d/app.list\n\
         RUN {}\n\
         RUN mkdir -p /app && du -s /deps > /app/deps-size\n\
         COPY src/ /app/src/\n\
         RUN cat /app/src/* /app/deps-size > /app/bundle && sha256sum /app/bundle > /app/bundle.sha256\n",
        files_command("/deps", 2, 1000, 1024)
    )
}

impl Benchmark for CachedRebuild {
    fn name(&self) -> &'static str {
        "cached-rebuild"
    }

    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section> {
        let (registry, debian) = registry_with(Fixture::Debian)?;
        let host = registry.host();
        let context = work.join("context");
        let source = context.join(SOURCE);
        std::fs::create_dir_all(context.join("src"))
            .with_context(|| format!("creating {}", context.display()))?;
        let dockerfile_path = context.join("Dockerfile");
        std::fs::write(&dockerfile_path, dockerfile(&debian))
            .with_context(|| format!("writing {}", dockerfile_path.display()))?;
        let cache_repo = format!("--cache-repo={host}/cache");
        let available = super::worker_build_available(&config.worker);
        let buildah = Buildah::new().map_err(|e| format!("{e}"));
        let mut outcomes: Vec<Result<Samples, String>> = MODES
            .iter()
            .map(|mode| match mode {
                Mode::BuildahUnchanged | Mode::BuildahChanged => buildah
                    .as_ref()
                    .map(|_| Samples::default())
                    .map_err(Clone::clone),
                _ => available.clone().map(|()| Samples::default()),
            })
            .collect();
        for n in 0..config.warmup + config.runs {
            let timed = n >= config.warmup;
            for at in rotation(n, MODES.len()) {
                let (Some(mode), Some(outcome)) = (MODES.get(at), outcomes.get_mut(at)) else {
                    continue;
                };
                let destination = format!("{host}/bench/cached-{}-{n}:latest", mode.slug());
                step(outcome, |samples| {
                    let content = if mode.changes_source() {
                        format!("changed source, run {n}\n")
                    } else {
                        STABLE.to_string()
                    };
                    std::fs::write(&source, content)
                        .with_context(|| format!("writing {}", source.display()))?;
                    let elapsed = match mode {
                        Mode::KanikoUnchanged | Mode::KanikoChanged | Mode::KanikoUncached => {
                            let mut config = config.clone();
                            if *mode != Mode::KanikoUncached {
                                config
                                    .worker_args
                                    .extend(["--cache=true".to_string(), cache_repo.clone()]);
                            }
                            let log = work.join(format!("{}-{n}.log", mode.slug()));
                            WorkerBuild {
                                config: &config,
                                context: &context,
                                dockerfile: &dockerfile_path,
                                destination: destination.clone(),
                                insecure: host.clone(),
                                snapshotter: Snapshotter::Default,
                                log: &log,
                            }
                            .run()?
                            .elapsed
                        }
                        Mode::BuildahUnchanged | Mode::BuildahChanged => {
                            let builder = buildah.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
                            let opts = BuildahOptions {
                                destination: destination.clone(),
                                layers: true,
                                ..Default::default()
                            };
                            let result = builder.build(&context, &dockerfile_path, &opts)?;
                            result.build_time + result.push_time
                        }
                    };
                    tracing::info!("run {n}: {}: {}", mode.label(), seconds(elapsed));
                    if timed {
                        samples.times.push(elapsed);
                    }
                    Ok(())
                });
            }
        }
        Ok(Section {
            compare: true,
            title:
                "cache: RUN-heavy Dockerfile on Debian rebuilt with the cache warm, build + push"
                    .to_string(),
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

/// The changed rows' ratio and the cached rebuilds against the uncached build, as ratios of
/// medians.
fn notes(config: &BenchConfig, outcomes: &[Result<Samples, String>]) -> Vec<String> {
    let ratio = |a: Mode, b: Mode| {
        let row = |mode: Mode| {
            MODES
                .iter()
                .position(|m| *m == mode)
                .and_then(|at| outcomes.get(at))
        };
        median_ratio(row(a), row(b))
    };
    vec![
        format!(
            "{} timed runs after {} warm-up; each tool's cache is filled by the warm-up and kept \
             across the runs; a changed run writes new bytes to {SOURCE}",
            config.runs, config.warmup
        ),
        format!(
            "ratio one source changed (kaniko / buildah): {}",
            ratio(Mode::KanikoChanged, Mode::BuildahChanged)
        ),
        format!(
            "kaniko cached / uncached: unchanged {}, one source changed {}",
            ratio(Mode::KanikoUnchanged, Mode::KanikoUncached),
            ratio(Mode::KanikoChanged, Mode::KanikoUncached)
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_dockerfile_copies_the_sources_between_runs() {
        let text = dockerfile("reg/debian:1");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"FROM reg/debian:1"));
        assert_eq!(lines.iter().filter(|l| l.starts_with("RUN ")).count(), 4);
        assert_eq!(lines.get(4), Some(&"COPY src/ /app/src/"));
    }

    #[test]
    fn the_notes_compare_changed_rows_and_the_uncached_build() {
        // Medians of 1, 2, 3, 6 and 4 seconds, in the rows' order.
        let outcomes: Vec<Result<Samples, String>> = [1, 2, 3, 6, 4]
            .into_iter()
            .map(|secs| {
                Ok(Samples {
                    times: vec![Duration::from_secs(secs)],
                    peak_rss_kib: None,
                })
            })
            .collect();
        let config = BenchConfig {
            runs: 1,
            warmup: 1,
            ..BenchConfig::default()
        };
        let notes = notes(&config, &outcomes);
        assert_eq!(
            notes[1..],
            [
                "ratio one source changed (kaniko / buildah): 0.50",
                "kaniko cached / uncached: unchanged 0.25, one source changed 0.75",
            ]
        );
    }
}
