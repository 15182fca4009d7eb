// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The peak-RSS benchmark (`rss-1gib`): `COPY` of a 1 GiB file gzip cannot shrink (one random
//! MiB repeated, beyond its 32 KiB window), built on busybox and pushed by `worker build`;
//! the row is the worker's wall time and peak RSS (issue #12's target: at most 200 MiB). One
//! timed run: the figure is a peak, not a spread.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::{
    BenchConfig, Benchmark, Fixture, Row, Samples, Section, registry_with, run_measured, seconds,
};

/// A 1 GiB `COPY`, measured for the worker's peak RSS.
pub struct BigContext;

/// The file's size in MiB.
pub const FILE_MIB: usize = 1024;
/// The peak RSS issue #12 allows, in MiB.
pub const PEAK_RSS_TARGET_MIB: u64 = 200;

impl Benchmark for BigContext {
    fn name(&self) -> &'static str {
        "rss-1gib"
    }

    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section> {
        let title = format!("peak RSS: COPY of a {FILE_MIB} MiB file on busybox, build + push");
        let context = work.join("context");
        std::fs::create_dir_all(&context)
            .with_context(|| format!("creating {}", context.display()))?;
        let mut block = vec![0u8; 1 << 20];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut block))
            .context("reading /dev/urandom")?;
        let big = context.join("big.bin");
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&big).with_context(|| format!("creating {}", big.display()))?,
        );
        for _ in 0..FILE_MIB {
            out.write_all(&block)
                .with_context(|| format!("writing {}", big.display()))?;
        }
        out.flush()
            .with_context(|| format!("writing {}", big.display()))?;
        drop(out);

        let (registry, base) = registry_with(Fixture::Busybox)?;
        let host = registry.host();
        std::fs::write(
            context.join("Dockerfile"),
            format!("FROM {base}\nCOPY big.bin /data/big.bin\n"),
        )
        .context("writing the Dockerfile")?;

        let outcome = super::worker_build_available(&config.worker).and_then(|()| {
            let mut command = Command::new(&config.worker);
            command
                .arg("build")
                .arg("--context")
                .arg(&context)
                .args(["--destination", &format!("{host}/bench/big:1")])
                .args(["--insecure-registry", &host])
                .args(&config.worker_args);
            run_measured(command, &work.join("big.log"))
                .map(|m| Samples {
                    times: vec![m.elapsed],
                    peak_rss_kib: Some(m.peak_rss_kib),
                })
                .map_err(|e| format!("{e:#}"))
        });
        let mut notes = Vec::new();
        if let Ok(samples) = &outcome {
            let peak_mib = samples.peak_rss_kib.unwrap_or(0) / 1024;
            let verdict = if peak_mib <= PEAK_RSS_TARGET_MIB {
                "met"
            } else {
                "missed"
            };
            notes.push(format!(
                "peak RSS {peak_mib} MiB against the target of {PEAK_RSS_TARGET_MIB} MiB: \
                 {verdict}; wall time {}",
                samples.times.first().map_or("-".into(), |t| seconds(*t))
            ));
        }
        let _ = std::fs::remove_file(&big);
        Ok(Section {
            compare: false,
            title,
            rows: vec![Row {
                tool: "kaniko (worker build)".into(),
                outcome,
            }],
            notes,
        })
    }
}
