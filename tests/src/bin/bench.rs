// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `bench` binary behind `make bench`: parses the flags, runs the benchmarks of
//! `kaniko_tests::bench` and prints one table per benchmark.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kaniko_tests::bench::{self, BenchConfig};

/// Benchmarks `worker build` against buildah, and fan-out through the coordinator, on this
/// machine.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    /// The worker binary to benchmark.
    #[arg(long, default_value = "target/release/worker")]
    worker: PathBuf,
    /// An extra argument for every `worker build` (repeatable).
    #[arg(long = "worker-arg", allow_hyphen_values = true)]
    worker_args: Vec<String>,
    /// Timed runs per tool.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Untimed runs per tool before the timed ones.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Where the contexts and logs go (a temporary directory inside it is removed at the end).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    work_dir: PathBuf,
    /// Small files in the copy-context benchmark.
    #[arg(long, default_value_t = 2000)]
    small_files: usize,
    /// Size of the big random file of the copy-context benchmark, in MiB.
    #[arg(long, default_value_t = 200)]
    big_file_mib: u64,
    /// The coordinator binary (fan-out benchmark); default: next to the worker binary.
    #[arg(long)]
    coordinator: Option<PathBuf>,
    /// The fan-out benchmark's batch sizes: each batch submits that many builds (each for two
    /// platforms) at once.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100",
          value_parser = clap::value_parser!(u64).range(1..))]
    fan_out_builds: Vec<u64>,
    /// The NATS layouts of the fan-out benchmark: 1 (one nats-server), 3 (a 3-node cluster,
    /// everything with 3 replicas).
    #[arg(long, value_delimiter = ',', default_value = "1,3",
          value_parser = clap::builder::PossibleValuesParser::new(["1", "3"]))]
    fan_out_servers: Vec<String>,
    /// `--concurrency` of each of the two workers in the fan-out benchmark.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    fan_out_concurrency: u32,
    /// Run only these benchmarks (repeatable): copy-context, run-10k-files, snapshot-scaling,
    /// store-run-10k, store-one-file-50k, store-two-stages, cached-rebuild, rss-1gib, fan-out,
    /// compression.
    #[arg(long)]
    only: Vec<String>,
}

fn main() -> ExitCode {
    kaniko_registry::install_crypto_provider();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let coordinator = cli
        .coordinator
        .unwrap_or_else(|| cli.worker.with_file_name("coordinator"));
    let config = BenchConfig {
        coordinator,
        fan_out_builds: cli
            .fan_out_builds
            .iter()
            .map(|&n| usize::try_from(n).unwrap_or(usize::MAX))
            .collect(),
        fan_out_servers: cli
            .fan_out_servers
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect(),
        fan_out_concurrency: cli.fan_out_concurrency,
        worker: cli.worker,
        worker_args: cli.worker_args,
        runs: usize::try_from(cli.runs).unwrap_or(usize::MAX),
        warmup: usize::try_from(cli.warmup).unwrap_or(0),
        work_dir: cli.work_dir,
        small_files: cli.small_files,
        big_file_mib: cli.big_file_mib,
    };
    match bench::run(&config, &cli.only) {
        Ok(sections) => {
            for section in sections {
                println!("{}", section.render());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
