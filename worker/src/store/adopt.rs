// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A RUN's overlay upper directory kept as a store layer ([`Store::adopt`]), the way
//! containerd's overlay snapshotter commits a snapshot: the directory the command wrote into
//! is already in overlay lower format (whiteouts as 0/0 character devices, opaque
//! directories marked by `user.overlay.opaque`), so once it holds exactly what the layer's
//! tar holds it is renamed into `layers/<chain>`. The next RUN, the next stage and
//! `COPY --from` stack on it; nothing is unpacked again from the tar and the RUN's files are
//! not deleted at the end of the step (deleting thousands of files costs as much as writing
//! them, and on ext4 slows the files created next).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};

use super::{Store, StoreLayer, disk_usage, flock, touch};
use crate::snapshot::Change;

/// What [`Store::adopt`] did.
#[derive(Debug)]
pub enum Adopted {
    /// The upper directory is now the store layer.
    Kept(StoreLayer),
    /// The store already had the layer (another build wrote the same one): that one is
    /// used, and the upper directory is left for the caller to remove.
    AlreadyThere(StoreLayer),
}

impl Adopted {
    /// The store layer, whichever way it came.
    pub fn layer(self) -> StoreLayer {
        match self {
            Adopted::Kept(layer) | Adopted::AlreadyThere(layer) => layer,
        }
    }
}

impl Store {
    /// Keeps `upper`, a RUN's overlay upper directory whose layer was written from `kept`,
    /// as the store layer with chain id `chain`, held in use: every path the layer does not
    /// hold (excluded paths, mount points the sandbox made, sockets) is removed, every mtime
    /// becomes the one the tar recorded (whole seconds; 0 when `reproducible`), and the
    /// directory is renamed into `layers/`. `upper` must be on the store's filesystem
    /// (below [`Store::scratch_dir`]). Blocking.
    pub fn adopt(
        &self,
        chain: &str,
        upper: &Path,
        kept: &[Change],
        reproducible: bool,
    ) -> Result<Adopted> {
        let lease = self
            .lease(chain)
            .with_context(|| format!("locking store layer {chain}"))?;
        let lock = self
            .lock_file(chain, "unpack")
            .with_context(|| format!("locking store layer {chain}"))?;
        flock(&lock, libc::LOCK_EX).with_context(|| format!("locking store layer {chain}"))?;
        let short = |store: &Store| store.short_name(chain);
        if self.layer_dir(chain).is_dir() {
            self.reused.fetch_add(1, Ordering::Relaxed);
            touch(&self.info_path(chain));
            return Ok(Adopted::AlreadyThere(StoreLayer {
                dir: short(self),
                _lease: lease,
            }));
        }
        // The mtimes the tar recorded, read before pruning changes those of directories.
        let mut times = Vec::with_capacity(kept.len());
        for change in kept {
            if let Change::Entry { rel, .. } = change {
                let meta = fs::symlink_metadata(upper.join(rel))
                    .with_context(|| format!("reading {}", rel.display()))?;
                if meta.file_type().is_socket() {
                    continue;
                }
                let seconds = if reproducible { 0 } else { meta.mtime() };
                // A directory's mtime may change with the pruning.
                if meta.is_dir() || (meta.mtime(), meta.mtime_nsec()) != (seconds, 0) {
                    times.push((rel, seconds));
                }
            }
        }
        let names: HashSet<&Path> = kept.iter().map(Change::rel).collect();
        prune(upper, Path::new(""), &names).with_context(|| {
            format!(
                "removing what the layer leaves out from {}",
                upper.display()
            )
        })?;
        for (rel, seconds) in times {
            set_mtime(&upper.join(rel), seconds)
                .with_context(|| format!("setting the mtime of {}", rel.display()))?;
        }
        let size = disk_usage(upper);
        let info = serde_json::json!({ "size": size }).to_string();
        let info_temp = upper.with_extension("info.json");
        fs::write(&info_temp, info).context("writing the layer's info")?;
        fs::rename(&info_temp, self.info_path(chain)).context("writing the layer's info")?;
        fs::rename(upper, self.layer_dir(chain)).with_context(|| {
            format!(
                "moving {} into {}",
                upper.display(),
                self.layer_dir(chain).display()
            )
        })?;
        self.kept.fetch_add(1, Ordering::Relaxed);
        Ok(Adopted::Kept(StoreLayer {
            dir: short(self),
            _lease: lease,
        }))
    }

    /// A new directory on the store's filesystem for a RUN's overlay upper and work
    /// directories, so its upper can become a layer by a rename. Removed when dropped.
    pub fn scratch_dir(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(self.dir.join("tmp"))
            .context("creating a directory in the store")
    }
}

/// Removes every entry below `root/rel` whose path is not in `names`, and every socket
/// (which a tar cannot hold). A directory not in `names` has nothing in it that is: the
/// snapshot keeps the ancestors of whatever it keeps.
fn prune(root: &Path, rel: &Path, names: &HashSet<&Path>) -> io::Result<()> {
    for entry in fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        let kind = entry.file_type()?;
        let path = root.join(&child);
        if !names.contains(child.as_path()) || kind.is_socket() {
            if kind.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        } else if kind.is_dir() {
            prune(root, &child, names)?;
        }
    }
    Ok(())
}

/// Sets `path`'s mtime to `seconds` (never following a symlink), leaving its access time.
fn set_mtime(path: &Path, seconds: i64) -> io::Result<()> {
    let c_path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| io::Error::other("path contains a nul byte"))?;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: seconds,
            tv_nsec: 0,
        },
    ];
    // SAFETY: `c_path` is NUL-terminated and `times` holds two timespecs, both live for the call.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use std::path::PathBuf;

    fn entry(rel: &str) -> Change {
        Change::Entry {
            rel: PathBuf::from(rel),
            opaque: false,
        }
    }

    fn store(dir: &Path) -> Store {
        Store::open(&StoreOptions {
            dir: dir.to_path_buf(),
            max_size: u64::MAX,
        })
        .unwrap()
    }

    /// An upper directory as a RUN leaves it: kept files, an excluded tree, a socket.
    fn upper(store: &Store) -> (tempfile::TempDir, PathBuf) {
        let scratch = store.scratch_dir().unwrap();
        let upper = scratch.path().join("upper");
        fs::create_dir_all(upper.join("app/sub")).unwrap();
        fs::write(upper.join("app/sub/kept"), "kept\n").unwrap();
        fs::create_dir_all(upper.join("var/run/excluded")).unwrap();
        fs::write(upper.join("var/run/excluded/f"), "x").unwrap();
        fs::write(upper.join("app/not-in-layer"), "x").unwrap();
        std::os::unix::net::UnixListener::bind(upper.join("app/sock")).unwrap();
        (scratch, upper)
    }

    fn kept() -> Vec<Change> {
        // The socket is a change the writer skips; `var` is excluded as a whole.
        ["app", "app/sock", "app/sub", "app/sub/kept"]
            .into_iter()
            .map(entry)
            .collect()
    }

    #[test]
    fn an_adopted_upper_holds_what_the_layer_holds_with_the_tars_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let (_scratch, upper) = upper(&store);
        let chain = "a".repeat(64);
        let adopted = store.adopt(&chain, &upper, &kept(), true).unwrap();
        assert!(matches!(adopted, Adopted::Kept(_)));
        assert!(!upper.exists(), "the upper directory was moved");
        let layer = store.layer_dir(&chain);
        let mut found: Vec<String> = walkdir(&layer);
        found.sort();
        assert_eq!(found, ["app", "app/sub", "app/sub/kept"]);
        for rel in &found {
            let meta = fs::symlink_metadata(layer.join(rel)).unwrap();
            assert_eq!((meta.mtime(), meta.mtime_nsec()), (0, 0), "{rel}");
        }
        assert_eq!(store.counters().kept, 1);
        let info = fs::read_to_string(store.info_path(&chain)).unwrap();
        assert!(info.contains("\"size\""), "{info}");
        // Held in use: garbage collection leaves it alone even over the limit.
        let report = crate::store::gc::collect(dir.path(), 0).unwrap();
        assert_eq!(report.removed, 0);
        assert!(layer.is_dir());
        drop(adopted);
        let report = crate::store::gc::collect(dir.path(), 0).unwrap();
        assert_eq!(report.removed, 1, "once released it can go");
    }

    #[test]
    fn without_reproducible_mtimes_keep_their_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let (_scratch, upper) = upper(&store);
        let before = fs::metadata(upper.join("app/sub/kept")).unwrap().mtime();
        // A directory losing entries to the pruning keeps the mtime the tar recorded.
        set_mtime(&upper.join("app"), 1000).unwrap();
        let chain = "b".repeat(64);
        let _layer = store.adopt(&chain, &upper, &kept(), false).unwrap();
        let layer = store.layer_dir(&chain);
        let meta = fs::metadata(layer.join("app/sub/kept")).unwrap();
        assert_eq!((meta.mtime(), meta.mtime_nsec()), (before, 0));
        let meta = fs::metadata(layer.join("app")).unwrap();
        assert_eq!((meta.mtime(), meta.mtime_nsec()), (1000, 0));
        assert!(!layer.join("app/not-in-layer").exists());
    }

    #[test]
    fn a_layer_already_in_the_store_is_used_and_the_upper_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let chain = "c".repeat(64);
        let (_first_scratch, first) = upper(&store);
        let _first = store.adopt(&chain, &first, &kept(), true).unwrap();
        let (_scratch, second) = upper(&store);
        let adopted = store.adopt(&chain, &second, &kept(), true).unwrap();
        assert!(matches!(adopted, Adopted::AlreadyThere(_)));
        assert!(second.join("var/run/excluded/f").exists(), "not pruned");
        assert_eq!((store.counters().kept, store.counters().reused), (1, 1));
    }

    fn walkdir(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for entry in fs::read_dir(root.join(&rel)).unwrap() {
                let entry = entry.unwrap();
                let child = rel.join(entry.file_name());
                if entry.file_type().unwrap().is_dir() {
                    stack.push(child.clone());
                }
                out.push(child.to_string_lossy().into_owned());
            }
        }
        out
    }
}
