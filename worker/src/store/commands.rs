// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The store's flags and commands: `--store-dir`, `--no-store` and `--store-max-size` (on
//! `worker build` and `worker serve`, [`StoreFlags`]; the embedding side is
//! [`StoreSettings`]), `worker store ls|prune` and `worker warm IMAGE...` (pull images,
//! record their manifest and config for `worker build --cache-dir` ([`super::images`]) and
//! unpack their layers into the store ahead of builds).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{ArgAction, Args, Subcommand};
use kaniko_common::platform::Platform;
use kaniko_registry::RegistryClient;

use super::images;
use super::{DEFAULT_MAX_SIZE, Store, StoreOptions, default_store_dir, gc};
use crate::base::{self, PullRewrites};
use crate::blobs::BlobStore;
use crate::cli::{BuildRegistryFlags, GoBoolFlag};
use crate::unpack::limits::ByteSize;

/// The layer store's flags, for `worker build` and `worker serve`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct StoreFlags {
    /// Where base layers are kept unpacked between builds, each once, shared by every build
    /// of this worker (default `~/.cache/kaniko-rs/store`).
    #[arg(long, env = "KANIKO_STORE_DIR", value_name = "DIR")]
    pub store_dir: Option<String>,
    /// Build without the layer store: every stage that runs a command unpacks its base
    /// again into a directory of its own.
    #[arg(long, default_value_t = false, action = ArgAction::Set, go_bool_flag())]
    pub no_store: bool,
    /// Size the store is brought back under at the end of a build, least recently used
    /// layers first (never one a build is using).
    #[arg(long, value_name = "SIZE", default_value = "20GiB", value_parser = ByteSize::parse)]
    pub store_max_size: ByteSize,
}

impl StoreFlags {
    /// The settings these flags say.
    pub fn settings(&self) -> StoreSettings {
        StoreSettings {
            dir: self
                .store_dir
                .as_deref()
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            disabled: self.no_store,
            max_size: Some(self.store_max_size.0),
        }
    }
}

/// The store of every build a worker runs (`worker serve`, the local driver): the default
/// is on, in the default directory, at the default size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSettings {
    /// `--store-dir`; `None`: [`default_store_dir`].
    pub dir: Option<PathBuf>,
    /// `--no-store`.
    pub disabled: bool,
    /// `--store-max-size`; `None`: [`DEFAULT_MAX_SIZE`].
    pub max_size: Option<u64>,
}

impl StoreSettings {
    /// The store options of a build (`None`: no store).
    pub fn options(&self) -> Option<StoreOptions> {
        (!self.disabled).then(|| StoreOptions {
            dir: self.dir.clone().unwrap_or_else(default_store_dir),
            max_size: self.max_size.unwrap_or(DEFAULT_MAX_SIZE),
        })
    }
}

/// `worker store` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum StoreCommand {
    /// List the store's layers and blobs, least recently used first.
    Ls(StoreDirArg),
    /// Remove least recently used layers and blobs (never one in use).
    Prune(PruneArgs),
}

/// The store a command works on.
#[derive(Debug, Clone, Args)]
pub struct StoreDirArg {
    /// The store (default `~/.cache/kaniko-rs/store`).
    #[arg(long, env = "KANIKO_STORE_DIR", value_name = "DIR")]
    pub store_dir: Option<String>,
}

impl StoreDirArg {
    fn dir(&self) -> PathBuf {
        self.store_dir
            .as_deref()
            .filter(|d| !d.is_empty())
            .map_or_else(default_store_dir, PathBuf::from)
    }
}

/// `worker store prune` flags.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// The store.
    #[command(flatten)]
    pub store: StoreDirArg,
    /// Bring the store under this size.
    #[arg(long, value_name = "SIZE", value_parser = ByteSize::parse, conflicts_with = "all")]
    pub max_size: Option<ByteSize>,
    /// Remove everything not in use.
    #[arg(long)]
    pub all: bool,
}

/// `worker warm` flags.
#[derive(Debug, Clone, Args)]
pub struct WarmArgs {
    /// Images whose layers to pull and unpack into the store.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// The platform of the images (default: the host's).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreDirArg,
    /// Kaniko's warmer spelling of `--store-dir`: the directory `worker build --cache-dir`
    /// reads.
    #[arg(long, value_name = "DIR", conflicts_with = "store_dir")]
    pub cache_dir: Option<String>,
    /// How registries are reached (`worker build`'s flags).
    #[command(flatten)]
    pub registry: BuildRegistryFlags,
}

impl WarmArgs {
    /// The store to fill: `--cache-dir`, else `--store-dir`, else the default.
    fn dir(&self) -> PathBuf {
        match self.cache_dir.as_deref().filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => self.store.dir(),
        }
    }
}

/// Runs `worker store ...`.
pub fn run_store(command: &StoreCommand) -> Result<ExitCode> {
    match command {
        StoreCommand::Ls(arg) => {
            let dir = arg.dir();
            println!("KIND\tID\tSIZE\tLAST USED\tIN USE");
            for entry in gc::list(&dir)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    entry.kind,
                    entry.id,
                    entry.size,
                    entry.last_used,
                    if entry.in_use { "yes" } else { "no" }
                );
            }
        }
        StoreCommand::Prune(args) => {
            let max = match (args.all, args.max_size) {
                (true, _) => 0,
                (false, Some(size)) => size.0,
                (false, None) => bail!("worker store prune: give --max-size SIZE or --all"),
            };
            let report = gc::prune(&args.store.dir(), max)?;
            println!(
                "removed {} entries, freed {} bytes; the store holds {} bytes",
                report.removed, report.freed, report.size
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `worker warm`.
pub fn run_warm(args: &WarmArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(warm(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn warm(args: &WarmArgs) -> Result<()> {
    let platform = match args.platform.as_deref() {
        Some(text) => Platform::parse(text).context("--platform")?,
        None => Platform::host(),
    };
    let registry = crate::config::RegistryOptions::from_flags(&args.registry)?;
    let client = RegistryClient::new(kaniko_registry::RegistryOptions {
        insecure_registries: registry.insecure_registries.clone(),
        insecure_all: registry.insecure || registry.insecure_pull,
        skip_tls_verify_registries: registry.skip_tls_verify_registries.clone(),
        skip_tls_verify_all: registry.skip_tls_verify || registry.skip_tls_verify_pull,
        http1_only: registry.http1,
        ..kaniko_registry::RegistryOptions::default()
    })
    .context("registry client")?;
    let rewrites = PullRewrites {
        mirrors: registry.mirrors.clone(),
        maps: registry
            .maps
            .iter()
            .map(|m| (m.from.clone(), m.to.clone()))
            .collect(),
        ..PullRewrites::default()
    };
    let store = Arc::new(Store::open(&StoreOptions {
        dir: args.dir(),
        max_size: DEFAULT_MAX_SIZE,
    })?);
    let tmp = crate::image::temp_dir_in(None)?;
    let blobs = BlobStore::new(tmp.path(), client.clone()).with_shared_dir(store.blobs_dir());
    let budget = crate::unpack::DiskBudget::unlimited();
    for name in &args.images {
        let (from, resolved) = base::resolve(&client, name, &platform, &rewrites)
            .await
            .with_context(|| format!("pulling {name}"))?;
        let reference = base::parse_reference(name)?;
        images::record(store.dir(), &reference, &from, &platform, &resolved)
            .with_context(|| format!("recording {name} in the store"))?;
        let image = base::from_resolved(name, &from, resolved, &platform)?;
        let layers = store
            .layers(&image.image.layers, 0, &blobs, &budget)
            .await
            .with_context(|| format!("warming the store with {name}"))?;
        println!("{name}: {} layers in the store", layers.len());
    }
    let counters = store.counters();
    println!(
        "store: {} layers unpacked, {} reused",
        counters.unpacked, counters.reused
    );
    Ok(())
}
