// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The layer compression micro-benchmark: one realistic tar (text, binaries and already
//! compressed files, generated from a fixed seed) compressed from the page cache to a file by
//! the layer writer's gzip (parallel chunks, `kaniko_image::layer::compress_stream`) against
//! single-thread zlib (flate2's `GzEncoder`, same level), and by its zstd against the
//! `zstd -T0 -3` command line. Targets (issue 12): gzip ≥ 1.6× single-thread zlib's speed on
//! two cores, zstd within 1.2× of the command line's time.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kaniko_common::oci::Compression;
use kaniko_image::layer::{DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, compress_stream};
use rand::{Rng, RngCore, SeedableRng};

use super::run_files::step;
use super::{BenchConfig, Benchmark, Row, Samples, Section, Stats, run_measured};

/// gzip and zstd of one tar, each against its reference.
pub struct CompressionBench;

/// Size of the generated tar.
const TAR_MIB: u64 = 200;
/// Target: parallel gzip at least this many times single-thread zlib's speed.
const GZIP_SPEEDUP_TARGET: f64 = 1.6;
/// Target: our zstd's time at most this many times `zstd -T0`'s.
const ZSTD_RATIO_TARGET: f64 = 1.2;

impl Benchmark for CompressionBench {
    fn name(&self) -> &'static str {
        "compression"
    }

    fn run(&self, config: &BenchConfig, work: &Path) -> anyhow::Result<Section> {
        let tar = work.join("layer.tar");
        let mix = generate_tar(&tar, TAR_MIB << 20)?;
        let tar_size = std::fs::metadata(&tar)
            .with_context(|| format!("reading {}", tar.display()))?
            .len();
        let out = |name: &str| work.join(name);
        let mut tools: Vec<Tool> = vec![
            Tool::new("kaniko gzip (parallel chunks)", out("ours.tar.gz")),
            Tool::new("zlib gzip (flate2, one thread)", out("zlib.tar.gz")),
            Tool::new("kaniko zstd (multithreaded)", out("ours.tar.zst")),
            Tool::new("zstd -T0 -3 (command line)", out("cli.tar.zst")),
        ];
        for n in 0..config.warmup + config.runs {
            let timed = n >= config.warmup;
            // Rotate who goes first, so no tool always follows the same one.
            for i in 0..tools.len() {
                let index = (i + n) % tools.len();
                let Some(tool) = tools.get_mut(index) else {
                    continue;
                };
                let log = work.join(format!("run-{n}-{index}.log"));
                let output = tool.output.clone();
                let cpu = &mut tool.cpu;
                step(&mut tool.outcome, |samples| {
                    let before = cpu_time();
                    let (elapsed, rss) = match index {
                        0 => (ours(&tar, &output, Compression::Gzip)?, None),
                        1 => (single_thread_zlib(&tar, &output)?, None),
                        2 => (ours(&tar, &output, Compression::Zstd)?, None),
                        _ => zstd_cli(&tar, &output, &log)?,
                    };
                    let used = cpu_time().saturating_sub(before);
                    tracing::info!(
                        "run {n}: {} {:.3} s (CPU {:.3} s)",
                        tool.name,
                        elapsed.as_secs_f64(),
                        used.as_secs_f64()
                    );
                    if timed {
                        samples.times.push(elapsed);
                        samples.peak_rss_kib = samples.peak_rss_kib.max(rss);
                        cpu.push(used);
                    }
                    Ok(())
                });
            }
        }
        let mut notes = vec![format!(
            "input: {:.1} MiB tar of {} files ({} text, {} binaries, {} compressed), page cache; \
             output to a file; gzip level {DEFAULT_GZIP_LEVEL}, zstd level {DEFAULT_ZSTD_LEVEL}; \
             {} timed runs after {} warm-up; {} CPUs",
            tar_size as f64 / f64::from(1 << 20),
            mix.text + mix.binary + mix.compressed,
            mix.text,
            mix.binary,
            mix.compressed,
            config.runs,
            config.warmup,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        )];
        notes.extend(tools.iter().map(|t| t.size_note(tar_size)));
        notes.extend(tools.iter().filter_map(Tool::cpu_note));
        notes.push(check_gzip(&tools));
        notes.push(ratio_note(
            "gzip",
            &tools,
            1.0 / GZIP_SPEEDUP_TARGET,
            |ratio| format!(" = {:.2}× zlib's speed", 1.0 / ratio),
        ));
        notes.push(ratio_note(
            "zstd",
            tools.get(2..).unwrap_or_default(),
            ZSTD_RATIO_TARGET,
            |_| String::new(),
        ));
        notes.push(
            "(the fastest runs are the better estimate on a shared machine: other load only \
             ever adds time, and more to the parallel tools; compare the CPUs busy above)"
                .to_owned(),
        );
        Ok(Section {
            title: format!("layer compression of a {TAR_MIB} MiB tar, gzip and zstd"),
            rows: tools
                .into_iter()
                .map(|t| Row {
                    tool: t.name,
                    outcome: t.outcome,
                })
                .collect(),
            notes,
            compare: false,
        })
    }
}

/// One row: its name, where it writes, its samples.
struct Tool {
    name: String,
    output: PathBuf,
    outcome: Result<Samples, String>,
    /// CPU time (user + system, all threads and children) of each timed run.
    cpu: Vec<Duration>,
}

impl Tool {
    fn new(name: &str, output: PathBuf) -> Tool {
        Tool {
            name: name.to_owned(),
            output,
            outcome: Ok(Samples::default()),
            cpu: Vec::new(),
        }
    }

    /// `<name>: CPU median <c> s for <w> s wall (<c/w> CPUs busy)`: how parallel it ran.
    fn cpu_note(&self) -> Option<String> {
        let wall = Stats::of(&self.outcome.as_ref().ok()?.times)?.median;
        let cpu = Stats::of(&self.cpu)?.median;
        Some(format!(
            "{}: CPU median {:.2} s for {:.2} s wall ({:.2} CPUs busy)",
            self.name,
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9)
        ))
    }

    /// `<name>: <size> MiB (<percent> of the tar)` from its last output.
    fn size_note(&self, tar_size: u64) -> String {
        match std::fs::metadata(&self.output) {
            Ok(md) if self.outcome.is_ok() => format!(
                "{}: {:.1} MiB, {:.1}% of the tar",
                self.name,
                md.len() as f64 / f64::from(1 << 20),
                100.0 * md.len() as f64 / tar_size.max(1) as f64
            ),
            _ => format!("{}: no output", self.name),
        }
    }
}

/// `<label>: ratio kaniko/reference: median <r>, fastest runs <r> (target ≤ <t>)` for the
/// first two of `tools`, each ratio followed by `describe(ratio)` and whether it meets `target`.
fn ratio_note(
    label: &str,
    tools: &[Tool],
    target: f64,
    describe: impl Fn(f64) -> String,
) -> String {
    let stats = |tool: Option<&Tool>| {
        tool.and_then(|t| t.outcome.as_ref().ok())
            .and_then(|s| Stats::of(&s.times))
    };
    let (Some(ours), Some(reference)) = (stats(tools.first()), stats(tools.get(1))) else {
        return format!("{label}: ratio kaniko/reference: n/a");
    };
    let part = |which: &str, ours: Duration, reference: Duration| {
        let ratio = ours.as_secs_f64() / reference.as_secs_f64().max(1e-9);
        let verdict = if ratio <= target { "met" } else { "missed" };
        format!("{which} {ratio:.2}{}, {verdict}", describe(ratio))
    };
    format!(
        "{label}: ratio kaniko/reference: {}; {} (target ≤ {target:.2})",
        part("median", ours.median, reference.median),
        part("fastest runs", ours.min, reference.min)
    )
}

/// User plus system CPU time of this process (all its threads) and of its reaped children.
fn cpu_time() -> Duration {
    let of = |who: libc::c_int| {
        // SAFETY: all-zero is a valid `rusage`.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is valid for writes for the duration of the call.
        if unsafe { libc::getrusage(who, &mut usage) } != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        tv(usage.ru_utime) + tv(usage.ru_stime)
    };
    of(libc::RUSAGE_SELF) + of(libc::RUSAGE_CHILDREN)
}

/// Whether the system `gzip -t` accepts our gzip output (untimed).
fn check_gzip(tools: &[Tool]) -> String {
    let Some(ours) = tools.first() else {
        return String::new();
    };
    match Command::new("gzip").arg("-t").arg(&ours.output).output() {
        Ok(out) if out.status.success() => "gzip -t on kaniko's gzip output: ok".to_owned(),
        Ok(out) => format!(
            "gzip -t on kaniko's gzip output FAILED: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => format!("gzip -t not run: {err}"),
    }
}

/// Times the layer writer's compression of `tar` into `output`.
fn ours(tar: &Path, output: &Path, compression: Compression) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let input = File::open(tar).with_context(|| format!("opening {}", tar.display()))?;
    let sink = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let (sink, _) = compress_stream(input, sink, compression, None)
        .with_context(|| format!("compressing {} ({compression})", tar.display()))?;
    drop(sink);
    Ok(started.elapsed())
}

/// Times flate2's single-stream `GzEncoder` (zlib-rs, one thread) on `tar`.
fn single_thread_zlib(tar: &Path, output: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut input = File::open(tar).with_context(|| format!("opening {}", tar.display()))?;
    let sink = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let level = u32::try_from(DEFAULT_GZIP_LEVEL).unwrap_or(6);
    let mut encoder = flate2::write::GzEncoder::new(sink, flate2::Compression::new(level));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).context("reading the tar")?;
        let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
            break;
        };
        encoder.write_all(data).context("compressing")?;
    }
    encoder.finish().context("finishing the gzip stream")?;
    Ok(started.elapsed())
}

/// Times `zstd -T0 -3` on `tar` (process start included); returns its peak RSS too.
fn zstd_cli(tar: &Path, output: &Path, log: &Path) -> anyhow::Result<(Duration, Option<u64>)> {
    let mut command = Command::new("zstd");
    command
        .args(["-T0", "-3", "-q", "-f", "-o"])
        .arg(output)
        .arg(tar);
    let measured = run_measured(command, log)?;
    Ok((measured.elapsed, Some(measured.peak_rss_kib)))
}

/// How many files of each kind a generated tar holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Source-like text (compresses well).
    pub text: usize,
    /// Machine-code-like binaries (compress moderately).
    pub binary: usize,
    /// Random bytes, as in compressed archives and images (do not compress).
    pub compressed: usize,
}

/// Writes a tar of about `bytes` bytes at `path`: by volume half text files of 1-64 KiB, 30%
/// binaries of 64 KiB-4 MiB and 20% random files of 256 KiB-8 MiB, from a fixed seed, so the
/// same size always gives the same bytes.
pub fn generate_tar(path: &Path, bytes: u64) -> anyhow::Result<Mix> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    tar.mode(tar::HeaderMode::Deterministic);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7a73_7464_677a);
    let mut mix = Mix::default();
    // Bytes written per kind (text, binary, compressed) and each kind's share of the volume.
    let mut volume = [0u64; 3];
    const SHARE: [f64; 3] = [0.5, 0.3, 0.2];
    let mut written = 0u64;
    let mut data = Vec::new();
    while written < bytes {
        // The kind furthest below its share goes next, so the mix holds at every size.
        let deficit = |k: usize| {
            SHARE.get(k).copied().unwrap_or(0.0) * (written + 1) as f64
                - volume.get(k).copied().unwrap_or(0) as f64
        };
        let kind = (0..3)
            .max_by(|&x, &y| deficit(x).total_cmp(&deficit(y)))
            .unwrap_or(0);
        let (dir, count, size) = match kind {
            0 => {
                mix.text += 1;
                ("src", mix.text, rng.random_range(1024..64 * 1024))
            }
            1 => {
                mix.binary += 1;
                ("bin", mix.binary, rng.random_range(64 * 1024..4 << 20))
            }
            _ => {
                mix.compressed += 1;
                (
                    "data",
                    mix.compressed,
                    rng.random_range(256 * 1024..8 << 20),
                )
            }
        };
        data.clear();
        match dir {
            "src" => text(&mut rng, size, &mut data),
            "bin" => binary(&mut rng, size, &mut data),
            _ => {
                data.resize(size, 0);
                rng.fill_bytes(&mut data);
            }
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(if dir == "bin" { 0o755 } else { 0o644 });
        tar.append_data(
            &mut header,
            format!("{dir}/{:03}/f{count:06}", count / 100),
            data.as_slice(),
        )
        .with_context(|| format!("writing {}", path.display()))?;
        if let Some(v) = volume.get_mut(kind) {
            *v += data.len() as u64;
        }
        written += data.len() as u64 + 512;
    }
    let mut out = tar
        .into_inner()
        .with_context(|| format!("writing {}", path.display()))?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    if written == 0 {
        bail!("asked for an empty tar");
    }
    Ok(mix)
}

/// Source-like lines: indentation and words from a small vocabulary.
fn text(rng: &mut impl Rng, size: usize, out: &mut Vec<u8>) {
    const WORDS: [&str; 32] = [
        "fn", "let", "mut", "self", "return", "match", "if", "else", "for", "in", "while",
        "struct", "impl", "pub", "use", "crate", "layer", "digest", "buffer", "write", "read",
        "error", "config", "index", "tar", "file", "path", "size", "=", "{", "}", "();",
    ];
    while out.len() < size {
        let indent = rng.random_range(0..5usize) * 4;
        out.extend(std::iter::repeat_n(b' ', indent));
        for _ in 0..rng.random_range(2..10) {
            let word = WORDS
                .get(rng.random_range(0..WORDS.len()))
                .copied()
                .unwrap_or("x");
            out.extend_from_slice(word.as_bytes());
            out.push(b' ');
        }
        if rng.random_range(0..8) == 0 {
            // An identifier or number the vocabulary does not have.
            out.extend_from_slice(format!("v{}", rng.random_range(0..100_000u32)).as_bytes());
        }
        out.push(b'\n');
    }
    out.truncate(size);
}

/// Machine-code-like words: mostly from a table of common ones, some random.
fn binary(rng: &mut impl Rng, size: usize, out: &mut Vec<u8>) {
    let table: Vec<[u8; 4]> = (0..256).map(|_| rng.random()).collect();
    while out.len() < size {
        let word: [u8; 4] = if rng.random_range(0..3) == 0 {
            rng.random()
        } else {
            table
                .get(rng.random_range(0..table.len()))
                .copied()
                .unwrap_or_default()
        };
        out.extend_from_slice(&word);
    }
    out.truncate(size);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tar_is_the_same_every_time_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
        let mix = generate_tar(&a, 12 << 20).unwrap();
        assert_eq!(generate_tar(&b, 12 << 20).unwrap(), mix);
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
        assert!(
            mix.text > 0 && mix.binary > 0 && mix.compressed > 0,
            "{mix:?}"
        );
        let mut archive = tar::Archive::new(File::open(&a).unwrap());
        let mut total = 0u64;
        let mut files = 0;
        for entry in archive.entries().unwrap() {
            total += entry.unwrap().header().size().unwrap();
            files += 1;
        }
        assert_eq!(files, mix.text + mix.binary + mix.compressed);
        assert!((12 << 20..24 << 20).contains(&total), "{total}");
    }

    #[test]
    fn ratios_are_given_for_the_median_and_the_fastest_runs() {
        let tool = |ms: &[u64]| Tool {
            outcome: Ok(Samples {
                times: ms.iter().map(|&m| Duration::from_millis(m)).collect(),
                peak_rss_kib: None,
            }),
            ..Tool::new("t", PathBuf::from("/nonexistent"))
        };
        let tools = [tool(&[3000, 1000, 9000]), tool(&[2000, 2000, 2500])];
        let note = ratio_note("gzip", &tools, 0.625, |r| format!(" = {:.2}×", 1.0 / r));
        assert_eq!(
            note,
            "gzip: ratio kaniko/reference: median 1.50 = 0.67×, missed; \
             fastest runs 0.50 = 2.00×, met (target ≤ 0.62)"
        );
        let failed = Tool {
            outcome: Err("zstd: not found".into()),
            ..tool(&[])
        };
        assert_eq!(
            ratio_note("zstd", &[tool(&[1000]), failed], 1.2, |_| String::new()),
            "zstd: ratio kaniko/reference: n/a"
        );
    }

    #[test]
    fn text_compresses_more_than_binaries_and_random_not_at_all() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(data).unwrap();
            e.finish().unwrap().len() as f64 / data.len() as f64
        };
        let mut t = Vec::new();
        text(&mut rng, 1 << 20, &mut t);
        let mut b = Vec::new();
        binary(&mut rng, 1 << 20, &mut b);
        let mut r = vec![0u8; 1 << 20];
        rng.fill_bytes(&mut r);
        let (t, b, r) = (gz(&t), gz(&b), gz(&r));
        assert!(t < 0.4 && t < b && b < 0.9 && r > 0.99, "{t} {b} {r}");
    }
}
