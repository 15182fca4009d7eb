// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The first benchmark: a context of many small files plus one big random file,
//! `FROM <busybox fixture>` + `COPY . /ctx`, built and pushed by `worker build` and by
//! `buildah bud` + `buildah push`, runs interleaved, each run against a fresh registry so no
//! blob is already there (or mountable) from an earlier run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use rand::{Rng, RngCore, SeedableRng};

use super::{
    BenchConfig, Benchmark, Row, Samples, Section, Stats, buildah_sample, run_measured, seconds,
};
use crate::Registry;
use crate::buildah::Buildah;
use crate::fixture::push_busybox;

/// `COPY . /ctx` of small files and one big random file.
pub struct CopyContext;

/// Files per directory of the generated context.
const FILES_PER_DIR: usize = 100;

impl Benchmark for CopyContext {
    fn name(&self) -> &'static str {
        "copy-context"
    }

    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section> {
        let context = work.join("context");
        let small_bytes = generate_context(&context, config.small_files, config.big_file_mib)?;
        let dockerfile = context.join("Dockerfile");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting a tokio runtime for the fixture")?;

        let mut kaniko: Result<Samples, String> =
            super::worker_build_available(&config.worker).map(|()| Samples::default());
        if let Err(why) = &kaniko {
            tracing::warn!("{why}");
        }
        let mut buildah: Result<Samples, String> = Ok(Samples::default());
        let mut buildah_phases: (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
        let mut driver = None;

        for n in 0..config.warmup + config.runs {
            let timed = n >= config.warmup;
            let registry = Registry::start()?;
            let host = registry.host();
            let base = runtime
                .block_on(push_busybox(&registry, "fixtures/busybox"))
                .context("pushing the busybox fixture")?;
            std::fs::write(
                &dockerfile,
                format!("FROM {}\nCOPY . /ctx\n", base.reference),
            )
            .with_context(|| format!("writing {}", dockerfile.display()))?;

            let kaniko_run = |samples: &mut Samples| -> anyhow::Result<()> {
                let mut command = Command::new(&config.worker);
                command
                    .arg("build")
                    .arg("--context")
                    .arg(&context)
                    .arg("--dockerfile")
                    .arg(&dockerfile)
                    .arg("--destination")
                    .arg(format!("{host}/bench/kaniko:{n}"))
                    .arg("--insecure-registry")
                    .arg(&host)
                    .args(&config.worker_args);
                let measured = run_measured(command, &work.join(format!("kaniko-{n}.log")))?;
                tracing::info!(
                    "run {n}: kaniko {} (peak RSS {} KiB)",
                    seconds(measured.elapsed),
                    measured.peak_rss_kib
                );
                if timed {
                    samples.times.push(measured.elapsed);
                    samples.peak_rss_kib = samples.peak_rss_kib.max(Some(measured.peak_rss_kib));
                }
                Ok(())
            };
            let mut buildah_run = |samples: &mut Samples| -> anyhow::Result<()> {
                let builder = Buildah::new()?;
                driver = Some(builder.driver());
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
            // Alternate who goes first, so neither always meets a cold page cache.
            if n % 2 == 0 {
                step(&mut kaniko, kaniko_run);
                step(&mut buildah, &mut buildah_run);
            } else {
                step(&mut buildah, &mut buildah_run);
                step(&mut kaniko, kaniko_run);
            }
        }

        let mut notes = vec![
            format!(
                "context: {} small files ({:.1} MiB) + one {} MiB random file; \
                 {} timed runs after {} warm-up, a fresh registry each run",
                config.small_files,
                small_bytes as f64 / (1024.0 * 1024.0),
                config.big_file_mib,
                config.runs,
                config.warmup
            ),
            format!(
                "kaniko: {} build (peak RSS: the child's VmHWM, sampled while it runs)",
                config.worker.display()
            ),
        ];
        if let (Some(bud), Some(push)) =
            (Stats::of(&buildah_phases.0), Stats::of(&buildah_phases.1))
        {
            notes.push(format!(
                "buildah ({:?} storage): bud median {}, push median {}",
                driver.unwrap_or(crate::buildah::StorageDriver::Vfs),
                seconds(bud.median),
                seconds(push.median)
            ));
        }
        Ok(Section {
            title: format!(
                "COPY . /ctx: {} small files + one {} MiB file, build + push",
                config.small_files, config.big_file_mib
            ),
            rows: vec![
                Row {
                    tool: "kaniko (worker build)".into(),
                    outcome: kaniko,
                },
                Row {
                    tool: "buildah (bud + push)".into(),
                    outcome: buildah,
                },
            ],
            notes,
            compare: true,
        })
    }
}

/// Runs `one` unless the tool already failed; its first failure replaces the samples.
fn step(
    outcome: &mut Result<Samples, String>,
    one: impl FnOnce(&mut Samples) -> anyhow::Result<()>,
) {
    if let Ok(samples) = outcome
        && let Err(err) = one(samples)
    {
        tracing::warn!("{err:#}");
        *outcome = Err(format!("{err:#}"));
    }
}

/// Writes `small_files` files of 64 B to 4 KiB in directories of [`FILES_PER_DIR`] and one
/// `big.bin` of `big_mib` MiB, all pseudo-random from a fixed seed; returns the small files'
/// total size.
pub fn generate_context(dir: &Path, small_files: usize, big_mib: u64) -> anyhow::Result<u64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b61_6e69_6b6f);
    let mut total = 0u64;
    let mut buf = vec![0u8; 1024 * 1024];
    for i in 0..small_files {
        let sub = dir.join(format!("files/d{:03}", i / FILES_PER_DIR));
        std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
        let size = rng.random_range(64..4096usize);
        let content = buf
            .get_mut(..size)
            .context("small file larger than the buffer")?;
        rng.fill_bytes(content);
        let path = sub.join(format!("f{i:05}.txt"));
        std::fs::write(&path, &*content).with_context(|| format!("writing {}", path.display()))?;
        total += size as u64;
    }
    let big = dir.join("big.bin");
    let mut out =
        BufWriter::new(File::create(&big).with_context(|| format!("creating {}", big.display()))?);
    for _ in 0..big_mib {
        rng.fill_bytes(&mut buf);
        out.write_all(&buf)
            .with_context(|| format!("writing {}", big.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", big.display()))?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_has_the_files_asked_for() {
        fn check(small: usize, big_mib: u64, dirs: usize) {
            let dir = tempfile::tempdir().unwrap();
            let bytes = generate_context(dir.path(), small, big_mib).unwrap();
            let count: usize = std::fs::read_dir(dir.path().join("files"))
                .map(|d| {
                    d.map(|e| std::fs::read_dir(e.unwrap().path()).unwrap().count())
                        .sum()
                })
                .unwrap_or(0);
            assert_eq!(count, small);
            let listed = std::fs::read_dir(dir.path().join("files")).map_or(0, |d| d.count());
            assert_eq!(listed, dirs);
            assert!(bytes >= 64 * small as u64 && bytes < 4096 * small as u64 + 1);
            let big = std::fs::metadata(dir.path().join("big.bin")).unwrap().len();
            assert_eq!(big, big_mib * 1024 * 1024);
        }
        check(0, 0, 0);
        check(250, 1, 3);
        check(100, 2, 1);
    }

    #[test]
    fn the_context_is_the_same_every_time() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        generate_context(a.path(), 3, 1).unwrap();
        generate_context(b.path(), 3, 1).unwrap();
        for file in ["files/d000/f00002.txt", "big.bin"] {
            assert_eq!(
                std::fs::read(a.path().join(file)).unwrap(),
                std::fs::read(b.path().join(file)).unwrap(),
                "{file}"
            );
        }
    }
}
