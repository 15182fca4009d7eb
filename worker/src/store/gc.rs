// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The store's garbage collection and listing: every layer (`info/<chain>.json`: size; its
//! mtime: last use) and blob, least recently used first, removed until the store is under its
//! size. A layer is removed only under an exclusive, non-blocking lock on its use lock: one a
//! build stacks (a shared lock) is skipped, never waited for. The directory is renamed into
//! `tmp/` first, so a half-removed layer is never seen under its name.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use super::flock;

/// One layer or blob of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `layer` or `blob`.
    pub kind: &'static str,
    /// The chain id (layers) or digest (blobs), `sha256:<hex>`.
    pub id: String,
    /// Bytes on disk.
    pub size: u64,
    /// Last use, seconds since the epoch.
    pub last_used: u64,
    /// A build holds it (layers only).
    pub in_use: bool,
}

/// What a collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Entries removed.
    pub removed: u64,
    /// Bytes freed.
    pub freed: u64,
    /// The store's size afterwards.
    pub size: u64,
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn is_hex(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a build holds the layer `chain` (its use lock cannot be taken exclusively).
fn in_use(dir: &Path, chain: &str) -> bool {
    match fs::File::open(dir.join("locks").join(format!("{chain}.use"))) {
        Ok(file) => !flock(&file, libc::LOCK_EX | libc::LOCK_NB).unwrap_or(false),
        Err(_) => false,
    }
}

/// Every layer and blob of the store at `dir`, least recently used first.
pub fn list(dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let info = dir.join("info");
    if let Ok(items) = fs::read_dir(&info) {
        for item in items.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let Some(chain) = name.strip_suffix(".json").filter(|c| is_hex(c)) else {
                continue;
            };
            if !dir.join("layers").join(chain).is_dir() {
                continue;
            }
            let meta = item.metadata().ok();
            let size = fs::read(item.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("size").and_then(|s| s.as_u64()))
                .unwrap_or(0);
            out.push(Entry {
                kind: "layer",
                id: format!("sha256:{chain}"),
                size,
                last_used: meta.and_then(|m| m.modified().ok()).map_or(0, seconds),
                in_use: in_use(dir, chain),
            });
        }
    }
    if let Ok(items) = fs::read_dir(dir.join("blobs").join("sha256")) {
        for item in items.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if !is_hex(&name) {
                continue;
            }
            let Ok(meta) = item.metadata() else { continue };
            out.push(Entry {
                kind: "blob",
                id: format!("sha256:{name}"),
                size: std::os::unix::fs::MetadataExt::blocks(&meta).saturating_mul(512),
                last_used: meta.modified().map_or(0, seconds),
                in_use: false,
            });
        }
    }
    out.sort_by(|a, b| (a.last_used, &a.id).cmp(&(b.last_used, &b.id)));
    Ok(out)
}

/// Removes one layer if no build holds it; `false` when one does.
fn remove_layer(dir: &Path, chain: &str) -> Result<bool> {
    let lock_path = dir.join("locks").join(format!("{chain}.use"));
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    if !flock(&lock, libc::LOCK_EX | libc::LOCK_NB)? {
        return Ok(false);
    }
    let layer = dir.join("layers").join(chain);
    let trash: PathBuf = dir.join("tmp").join(format!(
        "{chain}-gc-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let _ = fs::remove_file(dir.join("info").join(format!("{chain}.json")));
    let _ = fs::remove_file(dir.join("index").join(format!("{chain}.fsidx")));
    if let Some(short) = chain.get(..super::SHORT_NAME) {
        let link = dir.join("l").join(short);
        if fs::read_link(&link).is_ok_and(|t| t == Path::new("../layers").join(chain)) {
            let _ = fs::remove_file(link);
        }
    }
    match fs::rename(&layer, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e).with_context(|| format!("removing {}", layer.display())),
    }
    drop(lock);
    crate::unpack::remove_any(&trash).with_context(|| format!("removing {}", trash.display()))?;
    Ok(true)
}

/// Removes least recently used entries until the store is at most `max_size` bytes (`0`
/// with `all`: everything not in use). Leftovers of interrupted unpacks older than a day go
/// too.
pub fn prune(dir: &Path, max_size: u64) -> Result<Report> {
    sweep_tmp(dir);
    let entries = list(dir)?;
    let mut size: u64 = entries.iter().map(|e| e.size).sum();
    let mut report = Report::default();
    for entry in entries {
        if size <= max_size {
            break;
        }
        let hex = entry.id.trim_start_matches("sha256:");
        let removed = match entry.kind {
            "layer" => remove_layer(dir, hex)?,
            _ => {
                let blobs = dir.join("blobs").join("sha256");
                let _ = fs::remove_file(blobs.join(format!(".{hex}.pull")));
                let path = blobs.join(hex);
                fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))
                    .map(|()| true)?
            }
        };
        if removed {
            size = size.saturating_sub(entry.size);
            report.removed += 1;
            report.freed += entry.size;
        }
    }
    if max_size == 0 {
        // `prune --all`: base indexes go too (small; a build writes them again).
        if let Ok(items) = fs::read_dir(dir.join("index")) {
            for item in items.flatten() {
                let _ = fs::remove_file(item.path());
            }
        }
    }
    report.size = size;
    Ok(report)
}

/// [`prune`] to `max_size` when the store is over it (the end of a build).
pub fn collect(dir: &Path, max_size: u64) -> Result<Report> {
    let entries = list(dir)?;
    let size: u64 = entries.iter().map(|e| e.size).sum();
    if size <= max_size {
        return Ok(Report {
            size,
            ..Report::default()
        });
    }
    prune(dir, max_size)
}

/// Removes directories of `tmp/` untouched for a day (an unpack or removal that died).
fn sweep_tmp(dir: &Path) {
    let Ok(items) = fs::read_dir(dir.join("tmp")) else {
        return;
    };
    let day = Duration::from_secs(24 * 3600);
    for item in items.flatten() {
        let old = item
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old {
            let _ = crate::unpack::remove_any(&item.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::{Store, StoreOptions};

    /// A store layer `chain` of `bytes` bytes, last used `age` seconds ago.
    fn fake_layer(dir: &Path, chain: &str, bytes: usize, age: u64) {
        let layer = dir.join("layers").join(chain);
        fs::create_dir_all(&layer).unwrap();
        fs::write(layer.join("f"), vec![1u8; bytes]).unwrap();
        let info = dir.join("info").join(format!("{chain}.json"));
        fs::write(&info, format!("{{\"size\":{bytes}}}")).unwrap();
        let file = fs::File::options().write(true).open(&info).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age))
            .unwrap();
    }

    #[test]
    fn gc_removes_least_recently_used_first_and_never_a_layer_in_use() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(&StoreOptions {
                dir: tmp.path().to_path_buf(),
                max_size: 0,
            })
            .unwrap(),
        );
        let [old, held, recent] = ["a", "b", "c"].map(|c| c.repeat(64));
        fake_layer(tmp.path(), &old, 1000, 300);
        fake_layer(tmp.path(), &held, 1000, 200);
        fake_layer(tmp.path(), &recent, 1000, 100);
        let lease = store.lease(&held).unwrap();
        let listed = list(tmp.path()).unwrap();
        let ids: Vec<&str> = listed.iter().map(|e| &e.id[7..]).collect();
        assert_eq!(ids, [old.as_str(), held.as_str(), recent.as_str()]);
        assert_eq!(
            listed.iter().map(|e| e.in_use).collect::<Vec<_>>(),
            [false, true, false]
        );
        // Over a 1500-byte limit: the oldest goes, the held one is skipped, the recent one
        // goes too.
        let report = prune(tmp.path(), 1500).unwrap();
        assert_eq!(report.removed, 2);
        assert_eq!(report.size, 1000);
        assert!(tmp.path().join("layers").join(&held).is_dir());
        assert!(!tmp.path().join("layers").join(&old).exists());
        assert!(!tmp.path().join("layers").join(&recent).exists());
        // Under the limit: nothing to do.
        assert_eq!(collect(tmp.path(), 1000).unwrap().removed, 0);
        drop(lease);
        let report = prune(tmp.path(), 0).unwrap();
        assert_eq!((report.removed, report.size), (1, 0));
        assert!(list(tmp.path()).unwrap().is_empty());
    }
}
