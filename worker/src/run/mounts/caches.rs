// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The directories of `RUN --mount=type=cache` on the host:
//! `<--run-cache-dir>/<key>/<id>`. The key keeps tenants apart: one per set of destination
//! repositories (a build never sees the caches of a build pushing elsewhere), `_shared` with
//! `--run-cache-scope=worker`, `_no-destination` for builds that push nowhere. The cache
//! directory root and each key directory are mode 0700 and owned by the worker, so no other
//! host user can reach what a build left there (a setuid-root file, say); the cache
//! directory itself has the `mode`, `uid` and `gid` the first mount asked for, which is what
//! the command sees. Caches are mounted `nosuid,nodev` (see [`crate::sandbox::MountKind`]).

use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::RunCacheScope;
use crate::inroot;
use crate::sandbox::Source;

/// `text` as a directory name: letters, digits, `-`, `_` and `.` kept, the rest `_`, 40
/// characters at most.
fn readable(text: &str) -> String {
    let readable: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    readable.trim_matches('_').to_string()
}

fn hash(text: &str, hex_chars: usize) -> String {
    let full = hex::encode(Sha256::digest(text.as_bytes()));
    full.get(..hex_chars).unwrap_or(&full).to_string()
}

/// A directory name for the cache `id`: its readable part and a hash of the whole id.
pub(super) fn cache_name(id: &str) -> String {
    format!("{}-{}", readable(id), hash(id, 16))
}

/// The key directory of a build's caches (see the module documentation); `repositories` are
/// `registry/repository` of its destinations.
pub(crate) fn cache_key(scope: RunCacheScope, repositories: &[String]) -> String {
    if scope == RunCacheScope::Worker {
        return "_shared".to_string();
    }
    let mut repositories = repositories.to_vec();
    repositories.sort();
    repositories.dedup();
    match repositories.first() {
        None => "_no-destination".to_string(),
        // 128 bits of the whole set: another tenant cannot make a set with the same key.
        Some(first) => format!("{}-{}", readable(first), hash(&repositories.join("\n"), 32)),
    }
}

/// Makes `dir` a directory only the worker may enter: created with mode 0700 when missing
/// (its parents as usual), narrowed to 0700 when wider; one owned by another user is refused.
/// `follow`: whether `dir` itself may be a symlink (the operator's `--run-cache-dir`).
fn private_dir(dir: &Path, follow: bool) -> std::io::Result<()> {
    let meta = if follow {
        std::fs::metadata(dir)
    } else {
        std::fs::symlink_metadata(dir)
    };
    let meta = match meta {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            std::fs::symlink_metadata(dir)?
        }
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(std::io::Error::other(format!(
            "{} belongs to uid {}, not to the worker (uid {me}): caches must be private to \
             the worker",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Takes an exclusive `flock` on `path` (created when missing), waiting for it.
pub(super) fn lock(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// How a new cache directory starts.
pub(super) struct NewCache {
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    /// A directory to copy in (`from` + `source`).
    pub(super) seed: Option<Source>,
}

/// The cache directory `root/key/name` (`root` and `root/key` private to the worker), made
/// (under `root/key/.lock`) on first use; returns it and its key directory.
pub(super) fn ensure_cache(
    root: &Path,
    key: &str,
    name: &str,
    new: &NewCache,
) -> std::io::Result<(PathBuf, PathBuf)> {
    private_dir(root, true)?;
    let base = root.join(key);
    private_dir(&base, false)?;
    let dir = base.join(name);
    let _guard = lock(&base.join(".lock"))?;
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Ok((dir, base));
    }
    let partial = base.join(format!(".{name}.new"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir(&partial)?;
    if let Some(seed) = &new.seed {
        let seed_root = inroot::open_root(&seed.root)?;
        let from = inroot::open_in(
            seed_root.as_fd(),
            &seed.rel,
            libc::O_PATH | libc::O_DIRECTORY,
        )?;
        inroot::copy_tree_from(from.as_fd(), &partial)?;
    }
    std::os::unix::fs::lchown(&partial, Some(new.uid), Some(new.gid))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(new.mode))?;
    std::fs::rename(&partial, &dir)?;
    Ok((dir, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_are_readable_and_distinct() {
        let a = cache_name("/root/.cache/pip");
        assert!(a.starts_with("root_.cache_pip-"), "{a}");
        assert_ne!(cache_name("a/b"), cache_name("a_b"));
        assert_eq!(cache_name("x"), cache_name("x"));
        assert!(!cache_name(&"y".repeat(300)).contains('/'));
    }

    #[test]
    fn keys_follow_the_set_of_repositories_unless_shared() {
        let key = |scope, repos: &[&str]| {
            let repos: Vec<String> = repos.iter().map(|r| r.to_string()).collect();
            cache_key(scope, &repos)
        };
        use RunCacheScope::{Destination, Worker};
        let a = key(Destination, &["reg:5000/team-a/app"]);
        assert!(a.starts_with("reg_5000_team-a_app-"), "{a}");
        assert_eq!(
            a,
            key(Destination, &["reg:5000/team-a/app", "reg:5000/team-a/app"])
        );
        assert_ne!(a, key(Destination, &["reg:5000/team-b/app"]));
        let both = key(Destination, &["reg:5000/team-a/app", "reg:5000/team-b/app"]);
        assert_ne!(both, a);
        assert_eq!(
            both,
            key(Destination, &["reg:5000/team-b/app", "reg:5000/team-a/app"])
        );
        // A readable part that looks alike never makes the same key.
        assert_ne!(a, key(Destination, &["reg_5000/team-a/app"]));
        assert_eq!(key(Destination, &[]), "_no-destination");
        assert_eq!(key(Worker, &["reg:5000/team-a/app"]), "_shared");
        assert_eq!(key(Worker, &[]), "_shared");
    }

    #[test]
    fn a_new_cache_gets_its_mode_owner_and_seed_once_behind_private_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run-cache");
        // A root made wider by hand is narrowed again.
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let seed = tempfile::tempdir().unwrap();
        std::fs::write(seed.path().join("seeded"), "s").unwrap();
        // SAFETY: no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let new = NewCache {
            mode: 0o710,
            uid,
            gid,
            seed: Some(Source {
                root: seed.path().to_path_buf(),
                rel: PathBuf::new(),
            }),
        };
        let (cache, base) = ensure_cache(&root, "k", "c", &new).unwrap();
        assert_eq!(base, root.join("k"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&base), 0o700);
        assert_eq!(mode(&cache), 0o710);
        assert_eq!(std::fs::read_to_string(cache.join("seeded")).unwrap(), "s");
        std::fs::write(cache.join("kept"), "k").unwrap();
        let later = NewCache {
            mode: 0o755,
            seed: None,
            ..new
        };
        let (again, _) = ensure_cache(&root, "k", "c", &later).unwrap();
        assert_eq!(again, cache);
        assert!(cache.join("kept").is_file());
        assert_eq!(mode(&cache), 0o710);
    }

    #[test]
    fn a_cache_root_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run-cache");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::chown(&root, Some(65534), Some(65534)).unwrap();
        let new = NewCache {
            mode: 0o755,
            uid: 0,
            gid: 0,
            seed: None,
        };
        let err = ensure_cache(&root, "k", "c", &new).unwrap_err().to_string();
        assert!(
            err.contains("belongs to uid 65534, not to the worker"),
            "{err}"
        );
    }
}
