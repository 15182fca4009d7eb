// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The store's garbage collection and listing: every layer (`info/<chain>.json`: size; its
//! mtime: last use) and blob, least recently used first, removed until the store is under its
//! size. A layer is removed only under an exclusive, non-blocking lock on its use lock: one a
//! build stacks (a shared lock) is skipped, never waited for. The directory is renamed into
//! `tmp/` first, so a half-removed layer is never seen under its name. A blob is removed the
//! same way, under an exclusive lock on `blobs/sha256/.<hex>.use`, which a build holds shared
//! from finding the blob until it ends. A base index (`index/<chain>.fsidx`) counts toward
//! the size of its layer and goes with it; one whose layer is not in the store (a COPY-only
//! build indexes a base without unpacking it) is an entry of its own.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use super::flock;

/// One layer or blob of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `layer`, `blob` or `index`.
    pub kind: &'static str,
    /// The chain id (layers) or digest (blobs), `sha256:<hex>`.
    pub id: String,
    /// Bytes on disk.
    pub size: u64,
    /// Last use, seconds since the epoch.
    pub last_used: u64,
    /// A build holds it (layers and blobs).
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

/// Whether a build holds the blob `hex` (its use lock cannot be taken exclusively).
fn blob_in_use(blobs: &Path, hex: &str) -> bool {
    match fs::File::open(blobs.join(format!(".{hex}.use"))) {
        Ok(file) => !flock(&file, libc::LOCK_EX | libc::LOCK_NB).unwrap_or(false),
        Err(_) => false,
    }
}

/// Bytes a file takes on disk.
fn on_disk(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::blocks(meta).saturating_mul(512)
}

/// Every layer, blob and base index of the store at `dir`, least recently used first.
pub fn list(dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let index_dir = dir.join("index");
    let index_size = |chain: &str| {
        fs::metadata(index_dir.join(format!("{chain}.fsidx"))).map_or(0, |m| on_disk(&m))
    };
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
                size: size.saturating_add(index_size(chain)),
                last_used: meta.and_then(|m| m.modified().ok()).map_or(0, seconds),
                in_use: in_use(dir, chain),
            });
        }
    }
    let blobs = dir.join("blobs").join("sha256");
    if let Ok(items) = fs::read_dir(&blobs) {
        for item in items.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if !is_hex(&name) {
                continue;
            }
            let Ok(meta) = item.metadata() else { continue };
            out.push(Entry {
                kind: "blob",
                id: format!("sha256:{name}"),
                size: on_disk(&meta),
                last_used: meta.modified().map_or(0, seconds),
                in_use: blob_in_use(&blobs, &name),
            });
        }
    }
    if let Ok(items) = fs::read_dir(&index_dir) {
        for item in items.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let Some(chain) = name.strip_suffix(".fsidx").filter(|c| is_hex(c)) else {
                continue;
            };
            if dir.join("layers").join(chain).is_dir() {
                continue;
            }
            let Ok(meta) = item.metadata() else { continue };
            out.push(Entry {
                kind: "index",
                id: format!("sha256:{chain}"),
                size: on_disk(&meta),
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
    let Some(lock) = try_exclusive(&dir.join("locks").join(format!("{chain}.use")))? else {
        return Ok(false);
    };
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

/// The use lock at `path` taken exclusively without waiting; `None` when a build holds it.
fn try_exclusive(path: &Path) -> Result<Option<fs::File>> {
    let lock = super::open_lock(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(flock(&lock, libc::LOCK_EX | libc::LOCK_NB)?.then_some(lock))
}

/// Removes a file; `true` also when it is already gone.
fn remove_if_there(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Removes one blob if no build holds it; `false` when one does. Its use lock is held
/// exclusively while it goes, so a build finding it waits and then pulls it again; the lock
/// file goes too (a build that locked the removed file sees that and locks the new one).
fn remove_blob(blobs: &Path, hex: &str) -> Result<bool> {
    let lock_path = blobs.join(format!(".{hex}.use"));
    let Some(_lock) = try_exclusive(&lock_path)? else {
        return Ok(false);
    };
    let _ = fs::remove_file(blobs.join(format!(".{hex}.pull")));
    let removed = remove_if_there(&blobs.join(hex))?;
    let _ = fs::remove_file(&lock_path);
    Ok(removed)
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
            "index" => {
                let path = dir.join("index").join(format!("{hex}.fsidx"));
                remove_if_there(&path)?
            }
            _ => remove_blob(&dir.join("blobs").join("sha256"), hex)?,
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

    #[tokio::test]
    async fn a_blob_a_build_holds_is_never_collected_and_goes_once_released() {
        use kaniko_common::oci::Descriptor;
        use kaniko_registry::{Reference, RegistryClient, RegistryOptions};

        use crate::blobs::BlobStore;
        use crate::image::{BlobLocation, Layer};

        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions {
            dir: tmp.path().to_path_buf(),
            max_size: 0,
        })
        .unwrap();
        let [held, free] = ["d", "e"].map(|c| c.repeat(64));
        for hex in [&held, &free] {
            fs::write(store.blobs_dir().join(hex), vec![7u8; 4096]).unwrap();
        }
        let client = RegistryClient::new(RegistryOptions::default()).unwrap();
        let build = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(build.path(), client).with_shared_dir(store.blobs_dir());
        let layer = Layer {
            descriptor: Descriptor {
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                digest: format!("sha256:{held}"),
                size: 4096,
                platform: None,
                annotations: Default::default(),
            },
            diff_id: format!("sha256:{}", "f".repeat(64)),
            location: BlobLocation::Remote("registry.invalid/base:1".parse::<Reference>().unwrap()),
        };
        // Found in the store (no pull): from now on this build holds it.
        let path = blobs.fetch(&layer).await.unwrap();
        assert_eq!(path, store.blobs_dir().join(&held));
        let listed = list(tmp.path()).unwrap();
        let in_use: Vec<(&str, bool)> = listed.iter().map(|e| (&e.id[7..], e.in_use)).collect();
        assert!(in_use.contains(&(held.as_str(), true)), "{in_use:?}");
        assert!(in_use.contains(&(free.as_str(), false)), "{in_use:?}");

        let report = prune(tmp.path(), 0).unwrap();
        assert_eq!(report.removed, 1, "only the blob nobody holds goes");
        assert!(
            path.is_file(),
            "the held blob stays for the build that found it"
        );
        assert!(!store.blobs_dir().join(&free).exists());

        drop(blobs);
        let report = prune(tmp.path(), 0).unwrap();
        assert_eq!((report.removed, report.size), (1, 0));
        assert!(!path.exists());
    }

    #[test]
    fn base_indexes_count_toward_the_size_and_are_collected() {
        let tmp = tempfile::tempdir().unwrap();
        Store::open(&StoreOptions {
            dir: tmp.path().to_path_buf(),
            max_size: 0,
        })
        .unwrap();
        let [with_layer, alone] = ["a", "b"].map(|c| c.repeat(64));
        fake_layer(tmp.path(), &with_layer, 1000, 100);
        let index = tmp.path().join("index");
        fs::create_dir_all(&index).unwrap();
        fs::write(index.join(format!("{with_layer}.fsidx")), vec![1u8; 8192]).unwrap();
        // A COPY-only build indexed this base without unpacking it into the store.
        let lone_path = index.join(format!("{alone}.fsidx"));
        fs::write(&lone_path, vec![1u8; 8192]).unwrap();
        let file = fs::File::options().write(true).open(&lone_path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(200))
            .unwrap();
        let listed = list(tmp.path()).unwrap();
        let layer = listed.iter().find(|e| e.kind == "layer").unwrap();
        assert!(layer.size >= 1000 + 8192, "{listed:?}");
        let lone = listed.iter().find(|e| e.kind == "index").unwrap();
        assert_eq!(&lone.id[7..], alone.as_str());
        assert!(lone.size >= 8192, "{listed:?}");
        assert_eq!(listed.len(), 2, "{listed:?}");

        // Over a limit only the layer fits under: the lone index, used longer ago, goes.
        let keep = layer.size;
        let report = prune(tmp.path(), keep).unwrap();
        assert_eq!(report.removed, 1, "{report:?}");
        assert!(!index.join(format!("{alone}.fsidx")).exists());
        assert!(index.join(format!("{with_layer}.fsidx")).exists());
        assert_eq!(report.size, keep);
    }
}
