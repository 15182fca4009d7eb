// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator cache gc`: deletes the layer-cache entries older than `--older-than` from a
//! cache repository (and its per-architecture siblings, `--arch-suffix` expanded over the
//! `--platform`s). Each tag's manifest is read, then its config's `created`; an entry older
//! than the cut-off is deleted by manifest digest (which removes every tag on it). The report
//! names each entry removed (tag, digest, created) and the bytes freed: the layers of removed
//! manifests that no kept manifest of the same repository uses. `--dry-run` deletes nothing
//! and reports the same. A registry that refuses deletes (405, `UNSUPPORTED`) stops the run
//! with a message saying how to enable them. See docs/gc.md.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use kaniko_common::messages::{check_arch_suffix, expand_arch_suffix};
use kaniko_common::platform::Platform;
use kaniko_registry::{Reference, RegistryClient, RegistryError};
use serde::Deserialize;

use crate::cli::RegistryArgs;

/// `coordinator cache` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum CacheCommand {
    /// Delete cache entries older than --older-than (config `created`) and report what was
    /// removed and the bytes freed.
    Gc(GcArgs),
}

/// `coordinator cache gc` flags.
#[derive(Debug, Clone, Args)]
pub struct GcArgs {
    /// The cache repository (`registry/repo`), as `worker build --cache-repo` names it.
    #[arg(long, value_name = "REPO")]
    pub cache_repo: String,
    /// Per-architecture suffix (`--arch-cache-repo-suffix` of the builds, e.g. `-${ARCH}`):
    /// the repositories collected are the cache repository plus this suffix expanded for each
    /// --platform (`${OS}`, `${ARCH}`, `${VARIANT}`).
    #[arg(long, value_name = "SUFFIX", allow_hyphen_values = true)]
    pub arch_suffix: Option<String>,
    /// A platform the suffix is expanded for (os/arch[/variant]). Repeatable; needs
    /// --arch-suffix.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    /// Entries created longer ago than this are deleted (e.g. 7d, 168h, 30m, 90s).
    #[arg(long, value_name = "DURATION", value_parser = crate::submit::parse_duration)]
    pub older_than: Duration,
    /// Report what would be removed; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How the registry is reached.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs a `coordinator cache` subcommand.
pub async fn run(command: &CacheCommand) -> Result<ExitCode> {
    match command {
        CacheCommand::Gc(args) => gc(args).await,
    }
}

/// The repositories `args` name, each once, in order.
pub fn repositories(args: &GcArgs) -> Result<Vec<String>> {
    let repo = args.cache_repo.trim_end_matches('/');
    if repo.is_empty() {
        bail!("--cache-repo is empty");
    }
    let Some(suffix) = &args.arch_suffix else {
        if !args.platform.is_empty() {
            bail!(
                "--platform names the platforms --arch-suffix is expanded for; give --arch-suffix too"
            );
        }
        return Ok(vec![repo.to_string()]);
    };
    if args.platform.is_empty() {
        bail!("--arch-suffix needs the platforms to expand it for: give --platform (repeatable)");
    }
    check_arch_suffix(suffix).map_err(|e| anyhow::anyhow!("--arch-suffix: {e}"))?;
    let mut out: Vec<String> = Vec::new();
    for text in &args.platform {
        let platform = Platform::parse(text).with_context(|| format!("--platform {text}"))?;
        let name = format!("{repo}{}", expand_arch_suffix(suffix, &platform));
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// One cache entry: a manifest under one or more tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its tags.
    pub tags: Vec<String>,
    /// The manifest digest.
    pub digest: String,
    /// The config's `created`; `None` when it has none (never expired).
    pub created: Option<DateTime<Utc>>,
    /// Its layers: digest and size.
    pub layers: Vec<(String, u64)>,
}

/// What a collection of one repository decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The entries to delete.
    pub expired: Vec<Entry>,
    /// How many are kept.
    pub kept: usize,
    /// Bytes of the expired entries' layers that no kept entry uses, each layer counted once.
    pub freed: u64,
}

/// Splits `entries` into expired (created before `cutoff`) and kept.
pub fn plan(entries: Vec<Entry>, cutoff: DateTime<Utc>) -> Plan {
    let (expired, kept): (Vec<Entry>, Vec<Entry>) = entries
        .into_iter()
        .partition(|e| e.created.is_some_and(|c| c < cutoff));
    let still_used: BTreeSet<&str> = kept
        .iter()
        .flat_map(|e| e.layers.iter().map(|(d, _)| d.as_str()))
        .collect();
    let freed_layers: BTreeMap<&str, u64> = expired
        .iter()
        .flat_map(|e| e.layers.iter())
        .filter(|(d, _)| !still_used.contains(d.as_str()))
        .map(|(d, size)| (d.as_str(), *size))
        .collect();
    let freed = freed_layers.values().sum();
    Plan {
        kept: kept.len(),
        expired,
        freed,
    }
}

#[derive(Deserialize)]
struct RawDescriptor {
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct RawManifest {
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawConfig {
    created: Option<String>,
}

fn reference(repo: &str, tag_or_digest: &str) -> Result<Reference> {
    let text = if tag_or_digest.starts_with("sha256:") {
        format!("{repo}@{tag_or_digest}")
    } else {
        format!("{repo}:{tag_or_digest}")
    };
    text.parse()
        .with_context(|| format!("{text:?} is not an image reference"))
}

/// Reads every tag of `repo` into entries (one per manifest digest). Tags that name an index
/// or a manifest without a config are not cache entries and are left alone.
async fn entries(client: &RegistryClient, repo: &str) -> Result<Vec<Entry>> {
    let tags = match client.list_tags(&reference(repo, "latest")?).await {
        Ok(tags) => tags,
        Err(RegistryError::NotFound { .. }) => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing the tags of {repo}")),
    };
    let mut by_digest: BTreeMap<String, Entry> = BTreeMap::new();
    for tag in tags {
        let tagged = reference(repo, &tag)?;
        let pulled = match client.pull_manifest_raw(&tagged).await {
            Ok(pulled) => pulled,
            // Deleted since the listing (another collection, or the manifest of an earlier tag).
            Err(RegistryError::NotFound { .. }) => continue,
            Err(err) => return Err(err).with_context(|| format!("reading {repo}:{tag}")),
        };
        if let Some(entry) = by_digest.get_mut(&pulled.digest) {
            entry.tags.push(tag);
            continue;
        }
        if pulled.is_index() {
            tracing::warn!(%repo, %tag, "an index, not a cache entry: left alone");
            continue;
        }
        let manifest: RawManifest = serde_json::from_slice(&pulled.bytes)
            .with_context(|| format!("{repo}:{tag}: the manifest is not an image manifest"))?;
        let Some(config) = manifest.config else {
            tracing::warn!(%repo, %tag, "a manifest without a config: left alone");
            continue;
        };
        let descriptor = kaniko_common::oci::Descriptor {
            media_type: String::new(),
            digest: config.digest.clone(),
            size: config.size,
            platform: None,
            annotations: BTreeMap::new(),
        };
        let bytes = client
            .pull_config(&tagged, &descriptor)
            .await
            .with_context(|| format!("reading the config of {repo}:{tag}"))?;
        let raw: RawConfig = serde_json::from_slice(&bytes)
            .with_context(|| format!("{repo}:{tag}: the config is not json"))?;
        let created = match raw.created.as_deref() {
            Some(text) => Some(
                DateTime::parse_from_rfc3339(text)
                    .with_context(|| format!("{repo}:{tag}: config created {text:?}"))?
                    .with_timezone(&Utc),
            ),
            None => {
                tracing::warn!(%repo, %tag, "the config has no created: kept");
                None
            }
        };
        by_digest.insert(
            pulled.digest.clone(),
            Entry {
                tags: vec![tag],
                digest: pulled.digest,
                created,
                layers: manifest
                    .layers
                    .into_iter()
                    .map(|l| (l.digest, l.size))
                    .collect(),
            },
        );
    }
    Ok(by_digest.into_values().collect())
}

/// The error for a registry that refused a delete as unsupported.
fn no_delete(registry: &str, err: RegistryError) -> anyhow::Error {
    anyhow::anyhow!(
        "the registry {registry} does not allow deleting manifests ({err}); enable deletes on \
         it (docker-registry/distribution: REGISTRY_STORAGE_DELETE_ENABLED=true, or \
         storage.delete.enabled: true in its config.yml) and run the collection again"
    )
}

async fn gc(args: &GcArgs) -> Result<ExitCode> {
    let repos = repositories(args)?;
    let client = RegistryClient::new(args.registry.options()).context("registry client")?;
    let older_than = chrono::Duration::from_std(args.older_than).context("--older-than")?;
    let cutoff = Utc::now() - older_than;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let (mut removed, mut freed) = (0usize, 0u64);
    for repo in &repos {
        let plan = plan(entries(&client, repo).await?, cutoff);
        for entry in &plan.expired {
            let target = reference(repo, &entry.digest)?;
            if !args.dry_run {
                match client.delete_manifest(&target).await {
                    Ok(()) | Err(RegistryError::NotFound { .. }) => {}
                    Err(err @ RegistryError::Unsupported { .. }) => {
                        return Err(no_delete(target.registry(), err));
                    }
                    Err(err) => {
                        return Err(err)
                            .with_context(|| format!("deleting {repo}@{}", entry.digest));
                    }
                }
            }
            let created = entry
                .created
                .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            for tag in &entry.tags {
                println!("{verb} {repo}:{tag} {} created {created}", entry.digest);
            }
        }
        println!(
            "{repo}: {} entries {verb}, {} kept, {} bytes freed",
            plan.expired.len(),
            plan.kept,
            plan.freed
        );
        removed += plan.expired.len();
        freed += plan.freed;
    }
    let what = if args.dry_run {
        "would be freed"
    } else {
        "freed"
    };
    println!(
        "total: {removed} entries {verb} from {} repositories, {freed} bytes {what}",
        repos.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn entry(tag: &str, created: Option<&str>, layers: &[(&str, u64)]) -> Entry {
        Entry {
            tags: vec![tag.to_string()],
            digest: format!("sha256:{tag}"),
            created: created.map(at),
            layers: layers.iter().map(|(d, s)| (d.to_string(), *s)).collect(),
        }
    }

    #[test]
    fn expired_entries_and_the_bytes_they_free() {
        let entries = vec![
            entry(
                "old1",
                Some("2020-01-01T00:00:00Z"),
                &[("a", 10), ("shared", 100)],
            ),
            entry("old2", Some("2020-01-02T00:00:00Z"), &[("a", 10), ("b", 5)]),
            entry("new", Some("2030-01-01T00:00:00Z"), &[("shared", 100)]),
            entry("undated", None, &[("c", 7)]),
        ];
        let got = plan(entries, at("2025-01-01T00:00:00Z"));
        let names: Vec<&str> = got.expired.iter().map(|e| e.tags[0].as_str()).collect();
        assert_eq!(names, ["old1", "old2"]);
        assert_eq!(got.kept, 2);
        // `a` once, `b`; `shared` stays with the kept entry.
        assert_eq!(got.freed, 15);
    }

    #[test]
    fn suffixes_expand_per_platform() {
        let check = |suffix: &str, platform: &str, expected: &str| {
            let p = Platform::parse(platform).unwrap();
            assert_eq!(
                expand_arch_suffix(suffix, &p),
                expected,
                "{suffix} {platform}"
            );
        };
        check("-${ARCH}", "linux/arm64", "-arm64");
        check("-${OS}-${ARCH}${VARIANT}", "linux/arm/v7", "-linux-armv7");
        check("-fixed", "linux/amd64", "-fixed");
    }

    fn args(suffix: Option<&str>, platforms: &[&str]) -> GcArgs {
        GcArgs {
            cache_repo: "reg:5000/cache".into(),
            arch_suffix: suffix.map(str::to_string),
            platform: platforms.iter().map(|p| p.to_string()).collect(),
            older_than: Duration::from_secs(60),
            dry_run: false,
            registry: RegistryArgs::default(),
        }
    }

    #[test]
    fn repositories_named() {
        assert_eq!(repositories(&args(None, &[])).unwrap(), ["reg:5000/cache"]);
        assert_eq!(
            repositories(&args(
                Some("-${ARCH}"),
                &["linux/amd64", "linux/arm64", "linux/amd64"]
            ))
            .unwrap(),
            ["reg:5000/cache-amd64", "reg:5000/cache-arm64"]
        );
        let err = repositories(&args(Some("-${ARCH}"), &[])).unwrap_err();
        assert!(err.to_string().contains("--platform"), "{err}");
        let err = repositories(&args(None, &["linux/amd64"])).unwrap_err();
        assert!(err.to_string().contains("--arch-suffix"), "{err}");
    }
}
