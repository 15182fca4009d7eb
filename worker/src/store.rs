// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The worker-local content-addressed layer store (`--store-dir`), shared by every build of
//! the worker and by concurrent builds (other processes included):
//!
//! * `blobs/sha256/<hex>`: compressed layer blobs pulled from registries (the build's
//!   [`BlobStore`] pulls into it, verified, through a temporary name then a rename), so a
//!   base layer is fetched once across builds;
//! * `layers/<chain-hex>/`: one layer unpacked alone, in overlay lower format (see
//!   [`crate::unpack::UnpackOptions::overlay_whiteouts`]), named by its OCI chain id (the
//!   diff ids of it and every layer below). Made in `tmp/` and renamed into place, never
//!   written after: a layer directory equals its layer tar. A RUN's overlay upper directory
//!   becomes its layer's directory the same way ([`adopt`]);
//! * `l/<first 12 hex>`: a symlink to `../layers/<chain-hex>`, the name overlay's mount
//!   options use (a page holds about 300 of them);
//! * `info/<chain-hex>.json`: its size; the file's mtime is its last use;
//! * `index/<chain-hex>.fsidx`: the [`crate::fsindex::FsIndex`] of the filesystem of a base
//!   image whose top layer has that chain id (every path's kind, mode, owner, size, link
//!   target; `/etc/passwd` and `/etc/group`), written once the first time a COPY-only stage
//!   indexes that base and read instead of decompressing every layer again (format in
//!   [`crate::fsindex::persist`]; a file of another version or damaged is indexed again and
//!   rewritten, never a failed build); removed with that layer or by `store prune --all`;
//! * `images/<key>.json`: base images `worker warm` recorded (manifest and config by digest
//!   in `blobs/`), which `worker build --cache-dir` reads before the registry (see
//!   [`images`]);
//! * `locks/<chain-hex>.unpack` (exclusive while one build unpacks it: two builds needing the
//!   same layer unpack it once) and `locks/<chain-hex>.use` (shared while a build stacks it;
//!   garbage collection takes it exclusively, without waiting, and skips what it cannot
//!   lock: a layer in use is never removed).
//!
//! A stage root is then a [`stack::Stack`] of those directories, mounted by the RUN sandbox as
//! overlay lower directories. [`Store::counters`] say how many layers this build unpacked,
//! found already there and kept from RUN, and how many base indexes it built and loaded.

pub mod adopt;
pub mod commands;
pub mod gc;
pub mod images;
pub mod stack;

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::blobs::{BlobStore, digest_hex};
use crate::fsindex::FsIndex;
use crate::image::Layer;
use crate::unpack::{self, DiskBudget, UnpackOptions};
use stack::Stack;

/// Hex digits of a chain id in a layer's short name (`l/<short>`).
pub const SHORT_NAME: usize = 12;

/// The most layers a stage root is stacked from (overlay takes 500 lower directories and one
/// page of mount options); a deeper stage gets a flat root.
pub const MAX_STACK: usize = 250;

/// The default `--store-max-size`: 20 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 20 << 30;

/// The store of a build: where, and how big it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// `--store-dir`.
    pub dir: PathBuf,
    /// `--store-max-size` in bytes: a build over it collects the least recently used layers.
    pub max_size: u64,
}

/// The default `--store-dir`: `$XDG_CACHE_HOME/kaniko-rs/store`, else
/// `$HOME/.cache/kaniko-rs/store`, else `kaniko-rs-store` in the temporary directory.
pub fn default_store_dir() -> PathBuf {
    crate::config::default_cache_dir("store")
}

/// What one build did with the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Layers this build unpacked into the store.
    pub unpacked: u64,
    /// Layers it found already unpacked.
    pub reused: u64,
    /// RUN upper directories it kept as layers ([`Store::adopt`]).
    pub kept: u64,
    /// Base filesystem indexes it built from layer tars (and wrote into the store).
    pub indexes_built: u64,
    /// Base filesystem indexes it read from the store.
    pub indexes_loaded: u64,
}

/// An open store. Cheap; one per build (its [`Counters`] are the build's).
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    max_size: u64,
    unpacked: AtomicU64,
    reused: AtomicU64,
    kept: AtomicU64,
    indexes_built: AtomicU64,
    indexes_loaded: AtomicU64,
}

/// A layer of a stage root: its directory, held in use (a shared lock) while this lives.
#[derive(Debug)]
pub struct StoreLayer {
    /// `layers/<chain-hex>`.
    pub dir: PathBuf,
    _lease: Lease,
}

/// A shared `flock` on a layer's use lock: garbage collection leaves the layer alone.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

/// Opens (creating it) the lock file at `path`, for [`flock`].
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

/// Takes `flock(op)` on `file`; with `LOCK_NB`, `Ok(false)` when another holds it.
pub(crate) fn flock(file: &File, op: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: a valid open descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if op & libc::LOCK_NB != 0 => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// The chain ids (hex) of layers with these diff ids, bottom first (OCI image spec:
/// `chain(L1) = diffid(L1)`, `chain(Ln) = sha256(chain(Ln-1) + " " + diffid(Ln))`).
pub fn chain_ids<'a>(diff_ids: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for diff_id in diff_ids {
        if digest_hex(diff_id).is_none() {
            bail!("layer diff id {diff_id:?} is not sha256:<64 hex>");
        }
        let next = match out.last() {
            None => diff_id.to_string(),
            Some(below) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{below} {diff_id}")))
            ),
        };
        out.push(next);
    }
    Ok(out
        .into_iter()
        .map(|c| c.trim_start_matches("sha256:").to_string())
        .collect())
}

/// Whether a failure to stack a stage root on the store would fail a flat unpack too (a
/// registry error, a bound of the build): then the build fails rather than unpacking again.
pub fn is_final(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<unpack::UnpackError>()
            .is_some_and(|e| e.limit().is_some() || matches!(e, unpack::UnpackError::Blob(_)))
            || cause.downcast_ref::<crate::blobs::BlobError>().is_some()
            || cause.downcast_ref::<unpack::LimitExceeded>().is_some()
    })
}

/// Sets a file's mtime to now (its last use).
fn touch(path: &Path) {
    if let Ok(file) = File::options().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Bytes on disk below `path` (allocated blocks, not following symlinks).
pub(crate) fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = meta.blocks().saturating_mul(512);
    if let Some(entries) = meta.is_dir().then(|| fs::read_dir(path).ok()).flatten() {
        for entry in entries.flatten() {
            total = total.saturating_add(disk_usage(&entry.path()));
        }
    }
    total
}

/// Gives every directory below `root/rel` that the tar did not name (`named`) the mode and
/// owner of the same directory in `below`, when there is one.
fn implied_dirs_like_below(
    root: &Path,
    rel: &Path,
    named: &HashSet<PathBuf>,
    below: &Stack,
) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for entry in fs::read_dir(root.join(rel))? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let child = rel.join(entry.file_name());
        let implied = if named.contains(&child) {
            None
        } else {
            below.lookup(&child)?.filter(|(_, m)| m.is_dir())
        };
        if let Some((_, meta)) = implied {
            let path = root.join(&child);
            std::os::unix::fs::lchown(&path, Some(meta.uid()), Some(meta.gid()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        implied_dirs_like_below(root, &child, named, below)?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating) the store at `options.dir`.
    pub fn open(options: &StoreOptions) -> Result<Store> {
        let dir = options.dir.clone();
        for sub in [
            "blobs/sha256",
            "layers",
            "l",
            "info",
            "index",
            "locks",
            "tmp",
        ] {
            let path = dir.join(sub);
            fs::create_dir_all(&path)
                .with_context(|| format!("creating the layer store {}", path.display()))?;
        }
        // Image files (setuid binaries included) are for this worker's builds only.
        for sub in ["blobs", "layers", "tmp"] {
            let path = dir.join(sub);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} private", path.display()))?;
        }
        Ok(Store {
            dir,
            max_size: options.max_size,
            unpacked: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            kept: AtomicU64::new(0),
            indexes_built: AtomicU64::new(0),
            indexes_loaded: AtomicU64::new(0),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where compressed blobs are kept (`blobs/sha256`).
    pub fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs").join("sha256")
    }

    /// The directory of the layer with chain id `chain` (hex).
    pub fn layer_dir(&self, chain: &str) -> PathBuf {
        self.dir.join("layers").join(chain)
    }

    /// A short name of the layer directory for overlay's mount options (one page for every
    /// lower directory): `l/<first 12 hex>`, a symlink to `../layers/<chain>`; the full path
    /// when another layer has that name or the link cannot be made.
    fn short_name(&self, chain: &str) -> PathBuf {
        let full = self.layer_dir(chain);
        let Some(short) = chain.get(..SHORT_NAME) else {
            return full;
        };
        let link = self.dir.join("l").join(short);
        let target = Path::new("../layers").join(chain);
        let ours = |link: &Path| fs::read_link(link).is_ok_and(|t| t == target);
        if ours(&link) {
            return link;
        }
        match std::os::unix::fs::symlink(&target, &link) {
            Ok(()) => link,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && ours(&link) => link,
            Err(_) => full,
        }
    }

    fn info_path(&self, chain: &str) -> PathBuf {
        self.dir.join("info").join(format!("{chain}.json"))
    }

    fn lock_file(&self, chain: &str, kind: &str) -> io::Result<File> {
        open_lock(&self.dir.join("locks").join(format!("{chain}.{kind}")))
    }

    /// What this build did with the store so far.
    pub fn counters(&self) -> Counters {
        Counters {
            unpacked: self.unpacked.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            kept: self.kept.load(Ordering::Relaxed),
            indexes_built: self.indexes_built.load(Ordering::Relaxed),
            indexes_loaded: self.indexes_loaded.load(Ordering::Relaxed),
        }
    }

    /// Where the index of the filesystem whose top layer has chain id `chain` (hex) is kept.
    pub fn index_path(&self, chain: &str) -> PathBuf {
        self.dir.join("index").join(format!("{chain}.fsidx"))
    }

    /// The filesystem index of `layers` (bottom first): read from the store when a valid one
    /// is there, else built from the layer tars through `blobs` and written for the next
    /// build. A missing, damaged or other-version file is rebuilt; a store that cannot be
    /// written only costs the next build the same work.
    pub async fn base_index(&self, layers: &[Layer], blobs: &BlobStore) -> Result<FsIndex> {
        let Some(top) = layers.last() else {
            return Ok(FsIndex::new());
        };
        let chains = chain_ids(layers.iter().map(|l| l.diff_id.as_str()))?;
        let chain = chains
            .last()
            .ok_or_else(|| anyhow!("layer {} has no chain id", top.descriptor.digest))?
            .clone();
        let path = self.index_path(&chain);
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || fs::read(&path)).await?
        };
        match read {
            Ok(bytes) => {
                match tokio::task::spawn_blocking(move || FsIndex::decode(&bytes)).await? {
                    Some(index) => {
                        self.indexes_loaded.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(chain = %chain, paths = index.len(), "base index read from the store");
                        return Ok(index);
                    }
                    None => tracing::warn!(
                        path = %path.display(),
                        "store: base index unreadable (damaged or another format), indexing again"
                    ),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "store: reading the base index")
            }
        }
        let index = FsIndex::from_layers(layers, blobs)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        self.indexes_built.fetch_add(1, Ordering::Relaxed);
        let bytes = index.encode();
        let tmp = self.dir.join("tmp");
        let written = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut temp = tempfile::NamedTempFile::new_in(tmp)?;
            io::Write::write_all(&mut temp, &bytes)?;
            temp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })
        .await?;
        if let Err(e) = written {
            tracing::warn!(error = %e, "store: writing the base index");
        }
        Ok(index)
    }

    /// `--store-max-size`.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Holds the layer `chain` in use (blocks while garbage collection removes it).
    fn lease(&self, chain: &str) -> io::Result<Lease> {
        let file = self.lock_file(chain, "use")?;
        flock(&file, libc::LOCK_SH)?;
        Ok(Lease { _file: file })
    }

    /// The store layers of `layers` (an image's, bottom first) from index `from` on, each
    /// unpacked into the store unless it is there already, held in use; bottom first.
    pub async fn layers(
        self: &Arc<Self>,
        layers: &[Layer],
        from: usize,
        blobs: &BlobStore,
        budget: &DiskBudget,
    ) -> Result<Vec<StoreLayer>> {
        let chains = chain_ids(layers.iter().map(|l| l.diff_id.as_str()))?;
        let mut out = Vec::new();
        for (index, layer) in layers.iter().enumerate().skip(from) {
            let below: Vec<PathBuf> = chains
                .get(..index)
                .unwrap_or_default()
                .iter()
                .rev()
                .map(|c| self.layer_dir(c))
                .collect();
            let Some(chain) = chains.get(index) else {
                break;
            };
            let below = Stack::new(below);
            out.push(
                self.layer(layer, chain.clone(), below, blobs, budget)
                    .await?,
            );
        }
        Ok(out)
    }

    /// One layer with chain id `chain`, unpacked once.
    async fn layer(
        self: &Arc<Self>,
        layer: &Layer,
        chain: String,
        below: Stack,
        blobs: &BlobStore,
        budget: &DiskBudget,
    ) -> Result<StoreLayer> {
        let store = Arc::clone(self);
        let name = chain.clone();
        let (lease, unpack_lock) = tokio::task::spawn_blocking(move || {
            let lease = store.lease(&name)?;
            if store.layer_dir(&name).is_dir() {
                return Ok::<_, io::Error>((lease, None));
            }
            let lock = store.lock_file(&name, "unpack")?;
            flock(&lock, libc::LOCK_EX)?;
            Ok((lease, Some(lock)))
        })
        .await
        .map_err(|e| anyhow!("locking store layer {chain}: {e}"))?
        .with_context(|| format!("locking store layer {chain}"))?;
        let dir = self.layer_dir(&chain);
        if unpack_lock.is_none() || dir.is_dir() {
            self.reused.fetch_add(1, Ordering::Relaxed);
            touch(&self.info_path(&chain));
            let dir = self.short_name(&chain);
            return Ok(StoreLayer { dir, _lease: lease });
        }
        let reader = blobs
            .open_tar(layer)
            .await
            .with_context(|| format!("layer {}", layer.descriptor.digest))?;
        let store = Arc::clone(self);
        let opts = UnpackOptions {
            preserve_owners: true,
            overlay_whiteouts: true,
            record_paths: true,
            budget: budget.clone(),
            ..UnpackOptions::default()
        };
        let digest = layer.descriptor.digest.clone();
        let started = std::time::Instant::now();
        let name = chain.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = unpack_lock;
            store.unpack_into_place(&name, reader, &opts, &below)
        })
        .await
        .map_err(|e| anyhow!("unpacking layer {digest} into the store: {e}"))?
        .with_context(|| format!("layer {digest}: unpacking it into the layer store"))?;
        self.unpacked.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%digest, chain = %chain, seconds = started.elapsed().as_secs_f64(), "layer unpacked into the store");
        let dir = self.short_name(&chain);
        Ok(StoreLayer { dir, _lease: lease })
    }

    /// Unpacks a tar into `tmp/`, records its size and renames it to `layers/<chain>`.
    /// Directories the tar does not name (made for an entry below them) take the metadata
    /// of the same directory in the layers `below`, so they change nothing when stacked.
    fn unpack_into_place(
        &self,
        chain: &str,
        reader: Box<dyn io::Read + Send>,
        opts: &UnpackOptions,
        below: &Stack,
    ) -> Result<()> {
        let temp = tempfile::Builder::new()
            .prefix(&format!("{chain}-"))
            .tempdir_in(self.dir.join("tmp"))
            .context("creating a directory in the store")?;
        let root = temp.path().join("root");
        fs::create_dir(&root).context("creating a directory in the store")?;
        let stats = unpack::unpack_layer(&root, reader, opts)?;
        let named: HashSet<PathBuf> = stats.written.into_iter().collect();
        implied_dirs_like_below(&root, Path::new(""), &named, below)
            .context("giving directories the tar does not name their metadata")?;
        let size = disk_usage(&root);
        let info = serde_json::json!({ "size": size }).to_string();
        let info_path = self.info_path(chain);
        let info_temp = temp.path().join("info.json");
        fs::write(&info_temp, info).context("writing the layer's info")?;
        fs::rename(&info_temp, &info_path).context("writing the layer's info")?;
        fs::rename(&root, self.layer_dir(chain)).with_context(|| {
            format!("moving the layer into {}", self.layer_dir(chain).display())
        })?;
        Ok(())
    }

    /// Logs this build's counters and collects garbage when the store is over its size.
    pub fn finish_build(&self) {
        let counters = self.counters();
        tracing::info!(
            unpacked = counters.unpacked,
            reused = counters.reused,
            kept = counters.kept,
            indexes_built = counters.indexes_built,
            indexes_loaded = counters.indexes_loaded,
            "store: {} layers unpacked, {} reused, {} kept from RUN, {} base indexes built, {} \
             loaded",
            counters.unpacked,
            counters.reused,
            counters.kept,
            counters.indexes_built,
            counters.indexes_loaded
        );
        match gc::collect(&self.dir, self.max_size) {
            Ok(report) if report.removed > 0 => tracing::info!(
                removed = report.removed,
                freed = report.freed,
                size = report.size,
                "store: garbage collected"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "store: garbage collection failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_a_tar_does_not_name_look_like_the_layer_below() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions {
            dir: tmp.path().join("store"),
            max_size: DEFAULT_MAX_SIZE,
        })
        .unwrap();
        let below = tmp.path().join("below");
        fs::create_dir_all(below.join("a")).unwrap();
        fs::set_permissions(below.join("a"), fs::Permissions::from_mode(0o711)).unwrap();
        std::os::unix::fs::lchown(below.join("a"), Some(5), Some(6)).unwrap();
        // A tar naming only `a/b/f` and `n/`.
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, "a/b/f", &b"x"[..]).unwrap();
        let mut dir = tar::Header::new_gnu();
        dir.set_size(0);
        dir.set_mode(0o750);
        dir.set_entry_type(tar::EntryType::Directory);
        tar.append_data(&mut dir, "n/", &b""[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        let chain = "c".repeat(64);
        let opts = UnpackOptions {
            overlay_whiteouts: true,
            record_paths: true,
            ..UnpackOptions::default()
        };
        store
            .unpack_into_place(
                &chain,
                Box::new(io::Cursor::new(bytes)),
                &opts,
                &Stack::new(vec![below]),
            )
            .unwrap();
        let layer = store.layer_dir(&chain);
        let meta = |rel: &str| fs::symlink_metadata(layer.join(rel)).unwrap();
        assert_eq!(
            (meta("a").mode() & 0o7777, meta("a").uid(), meta("a").gid()),
            (0o711, 5, 6),
            "an implied directory takes the metadata below"
        );
        assert_eq!(
            meta("n").mode() & 0o7777,
            0o750,
            "a named one keeps its own"
        );
        assert_eq!(fs::read(layer.join("a/b/f")).unwrap(), b"x");
        assert!(gc::list(store.dir()).unwrap()[0].size > 0);
    }

    #[test]
    fn layers_get_short_names_unless_another_layer_has_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions {
            dir: tmp.path().to_path_buf(),
            max_size: DEFAULT_MAX_SIZE,
        })
        .unwrap();
        let (a, b) = (
            format!("{}{}", "a".repeat(12), "1".repeat(52)),
            format!("{}{}", "a".repeat(12), "2".repeat(52)),
        );
        for chain in [&a, &b] {
            fs::create_dir_all(store.layer_dir(chain).join("etc")).unwrap();
        }
        let short = store.short_name(&a);
        assert_eq!(short, tmp.path().join("l").join("a".repeat(12)));
        assert!(short.join("etc").is_dir());
        assert_eq!(store.short_name(&a), short, "the same name again");
        assert_eq!(
            store.short_name(&b),
            store.layer_dir(&b),
            "a collision keeps the full path"
        );
    }

    #[test]
    fn chain_ids_follow_the_oci_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let chains = chain_ids([a.as_str(), b.as_str()]).unwrap();
        assert_eq!(chains[0], "a".repeat(64));
        let expected = hex::encode(Sha256::digest(format!("{a} {b}")));
        assert_eq!(chains[1], expected);
        assert!(chain_ids(["sha256:../x"]).is_err());
    }
}
