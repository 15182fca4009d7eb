// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `RUN --mount`: each value parsed ([`Mount::parse`]) and made ready for the sandbox before
//! the command runs.
//!
//! * `bind`: a file or directory of the build context, of an earlier stage or of an image
//!   (unpacked as `COPY --from` does, so a stage that never ran a command works too),
//!   resolved inside that root (symlinks contained). Read-only by default; `rw` writes go to
//!   an overlay (or a private copy) thrown away after the run.
//! * `cache`: a directory of `--run-cache-dir` named after the cache's id, created on first
//!   use with `mode`/`uid`/`gid` (seeded from `from`+`source` when given), kept between
//!   builds; `sharing=locked` and `private` hold a file lock for the whole run.
//! * `tmpfs`: an empty tmpfs.
//! * `secret`: the value of a `--secret`, written for this run only into a private file
//!   (`mode`, `uid`, `gid`) bound read-only at the target and/or read into an environment
//!   variable by the sandbox helper; a missing secret, or one whose `scope=` does not cover
//!   the build's destinations, is skipped unless `required` (then the error names the scope).
//! * `ssh`: refused.
//!
//! Targets (relative ones are relative to `WORKDIR`) are resolved inside the stage root;
//! what is below a target never reaches the layer, and a target the mount had to create is
//! removed again; parents created for it stay, as buildah leaves them.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use kaniko_common::dockerfile::{Mount, MountType, Run, Sharing};
use sha2::{Digest, Sha256};

use super::Executor;
use crate::sandbox::{self, MountKind};
use crate::stage::StageState;
use crate::unpack;

/// The mounts of one RUN, ready for the sandbox; temporary files and locks live as long as
/// this value.
pub(crate) struct RunMounts {
    /// For [`sandbox::Spec::mounts`], parents first.
    pub(crate) mounts: Vec<sandbox::Mount>,
    /// For [`sandbox::Spec::secret_env`].
    pub(crate) secret_env: Vec<(String, PathBuf)>,
    /// Every target, root-relative: nothing below them goes into the layer.
    pub(crate) targets: Vec<PathBuf>,
    /// The targets that did not exist before the run.
    pub(crate) created: Vec<PathBuf>,
    /// Secret files, rw copies and overlays (removed on drop).
    _scratch: Option<tempfile::TempDir>,
    /// Held cache locks.
    _locks: Vec<std::fs::File>,
}

impl RunMounts {
    /// No mounts.
    pub(crate) fn none() -> RunMounts {
        RunMounts {
            mounts: Vec::new(),
            secret_env: Vec::new(),
            targets: Vec::new(),
            created: Vec::new(),
            _scratch: None,
            _locks: Vec::new(),
        }
    }
}

/// `target` as an absolute, clean path (relative: below `workdir`); `/` is refused.
fn target_path(target: &str, workdir: &str) -> Result<String> {
    let joined = if target.starts_with('/') {
        target.to_string()
    } else {
        format!(
            "{}/{target}",
            if workdir.is_empty() { "/" } else { workdir }
        )
    };
    let rel = unpack::clean(Path::new(&joined));
    if rel.as_os_str().is_empty() {
        bail!("the target {target:?} is the root directory, which cannot be mounted over");
    }
    Ok(format!("/{}", rel.display()))
}

/// A directory name for the cache `id`: its readable part and a hash of the whole id.
fn cache_name(id: &str) -> String {
    let readable: String = id
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
    let hash = hex::encode(Sha256::digest(id.as_bytes()));
    format!("{}-{}", readable.trim_matches('_'), &hash[..16])
}

/// Takes an exclusive `flock` on `path` (created when missing), waiting for it.
fn lock(path: &Path) -> std::io::Result<std::fs::File> {
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
struct NewCache {
    mode: u32,
    uid: u32,
    gid: u32,
    /// A directory to copy in.
    seed: Option<PathBuf>,
}

/// The cache directory `base/name`, made (under `base/.lock`) on first use.
fn ensure_cache(base: &Path, name: &str, new: &NewCache) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(base)?;
    let dir = base.join(name);
    let _guard = lock(&base.join(".lock"))?;
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Ok(dir);
    }
    let partial = base.join(format!(".{name}.new"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir(&partial)?;
    if let Some(seed) = &new.seed {
        sandbox::copy_tree(seed, &partial)?;
    }
    std::os::unix::fs::lchown(&partial, Some(new.uid), Some(new.gid))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(new.mode))?;
    std::fs::rename(&partial, &dir)?;
    Ok(dir)
}

/// Writes a secret's value into a new file owned by `uid:gid` with `mode`.
fn write_secret(path: &Path, value: &[u8], mode: u32, uid: u32, gid: u32) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(value)?;
    drop(file);
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

impl Executor<'_> {
    /// Prepares the `--mount`s of `run` for a command on the stage root `root`.
    pub(super) async fn run_mounts(
        &mut self,
        state: &StageState,
        run: &Run,
        root: &Path,
    ) -> Result<RunMounts> {
        let mut out = RunMounts::none();
        let workdir = state.run_config.working_dir.clone();
        for (index, text) in run.mounts.iter().enumerate() {
            let mount = Mount::parse(text).map_err(|e| anyhow!("RUN --mount={text}: {e}"))?;
            self.prepare_mount(&mut out, state, &mount, index, root, &workdir)
                .await
                .with_context(|| format!("RUN --mount={text}"))?;
        }
        out.mounts
            .sort_by_key(|m| m.target.rel.components().count());
        Ok(out)
    }

    fn scratch<'m>(&self, out: &'m mut RunMounts) -> Result<&'m Path> {
        if out._scratch.is_none() {
            out._scratch = Some(
                tempfile::Builder::new()
                    .prefix("mounts-")
                    .tempdir_in(self.setup.tmp)
                    .context("creating a directory for the RUN mounts")?,
            );
        }
        out._scratch
            .as_ref()
            .map(|d| d.path())
            .ok_or_else(|| anyhow!("the mounts' directory is missing"))
    }

    /// The root `from` names (an earlier stage or an image), or the build context.
    async fn mount_source_root(
        &mut self,
        state: &StageState,
        from: Option<&str>,
    ) -> Result<PathBuf> {
        match from.filter(|f| !f.is_empty()) {
            Some(from) => {
                let platform = state.image.platform.clone();
                Ok(self
                    .source_root(from, &platform)
                    .await?
                    .path()
                    .to_path_buf())
            }
            None => Ok(self.setup.context_dir.to_path_buf()),
        }
    }

    async fn prepare_mount(
        &mut self,
        out: &mut RunMounts,
        state: &StageState,
        mount: &Mount,
        index: usize,
        root: &Path,
        workdir: &str,
    ) -> Result<()> {
        let (kind, dir, target) = match mount.kind {
            MountType::Ssh => bail!(
                "ssh mounts are not supported (no SSH agent forwarding); give a key as a \
                 secret instead: --secret id=key,src=PATH and --mount=type=secret,id=key"
            ),
            MountType::Tmpfs => (
                MountKind::Tmpfs { size: mount.size },
                true,
                mount.target.clone().unwrap_or_default(),
            ),
            MountType::Bind => {
                let source_root = self.mount_source_root(state, mount.from.as_deref()).await?;
                let source = mount.source.as_deref().unwrap_or("/");
                let rel = unpack::resolve_on_disk(&source_root, Path::new(source), true)
                    .with_context(|| format!("resolving the source {source:?}"))?;
                let full = source_root.join(&rel);
                let meta = std::fs::metadata(&full).map_err(|_| {
                    let from = match mount.from.as_deref() {
                        Some(from) => format!("stage or image {from:?}"),
                        None => "the build context".to_string(),
                    };
                    anyhow!("the source {source:?} is not in {from}")
                })?;
                let kind = if mount.readonly {
                    MountKind::Bind {
                        source: full,
                        readonly: true,
                    }
                } else if meta.is_dir() {
                    let scratch = self.scratch(out)?.join(format!("bind-{index}"));
                    MountKind::Discard {
                        source: full,
                        scratch,
                    }
                } else {
                    let copy = self.scratch(out)?.join(format!("bind-{index}"));
                    std::fs::copy(&full, &copy)
                        .with_context(|| format!("copying {source:?} for a writable bind"))?;
                    MountKind::Bind {
                        source: copy,
                        readonly: false,
                    }
                };
                (
                    kind,
                    meta.is_dir(),
                    mount.target.clone().unwrap_or_default(),
                )
            }
            MountType::Cache => {
                let seed = match mount.from.as_deref().filter(|f| !f.is_empty()) {
                    Some(_) => {
                        let source_root =
                            self.mount_source_root(state, mount.from.as_deref()).await?;
                        let source = mount.source.as_deref().unwrap_or("/");
                        let rel = unpack::resolve_on_disk(&source_root, Path::new(source), true)
                            .with_context(|| format!("resolving the source {source:?}"))?;
                        let full = source_root.join(rel);
                        if !full.is_dir() {
                            bail!("the source {source:?} of the cache is not a directory");
                        }
                        Some(full)
                    }
                    None => None,
                };
                let base = self.setup.run.cache_dir.clone();
                let name = cache_name(mount.cache_id());
                let new = NewCache {
                    mode: mount.mode.unwrap_or(0o755),
                    uid: mount.uid.unwrap_or(0),
                    gid: mount.gid.unwrap_or(0),
                    seed,
                };
                let mut dir = {
                    let (base, name) = (base.clone(), name.clone());
                    tokio::task::spawn_blocking(move || ensure_cache(&base, &name, &new))
                        .await
                        .map_err(|e| anyhow!("preparing the cache: {e}"))?
                }
                .with_context(|| format!("preparing the cache directory in {}", base.display()))?;
                if mount.from.is_none()
                    && let Some(sub) = mount.source.as_deref()
                {
                    dir = dir.join(unpack::clean(Path::new(sub)));
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                if matches!(mount.sharing, Sharing::Locked | Sharing::Private) {
                    let path = base.join(format!("{name}.lock"));
                    let file = tokio::task::spawn_blocking(move || lock(&path))
                        .await
                        .map_err(|e| anyhow!("locking the cache: {e}"))?
                        .context("locking the cache")?;
                    out._locks.push(file);
                }
                (
                    MountKind::Bind {
                        source: dir,
                        readonly: mount.readonly,
                    },
                    true,
                    mount.target.clone().unwrap_or_default(),
                )
            }
            MountType::Secret => {
                let id = mount.secret_id().to_string();
                let given = self.setup.run.secrets.iter().find(|s| s.id == id);
                let value = match given {
                    Some(secret) => secret.read().map_err(anyhow::Error::msg)?,
                    None => None,
                };
                let Some(value) = value else {
                    let withheld = self
                        .setup
                        .run
                        .withheld_secrets
                        .iter()
                        .find(|(withheld, _)| *withheld == id);
                    if let Some((_, reason)) = withheld {
                        if mount.required {
                            bail!("the secret {id:?} is required but not available: {reason}");
                        }
                        tracing::info!(id = %id, "secret out of scope: not mounted ({reason})");
                        return Ok(());
                    }
                    if mount.required {
                        bail!(
                            "the secret {id:?} is required but was not given (worker build \
                             --secret id={id},src=PATH or --secret id={id},env=VAR)"
                        );
                    }
                    tracing::info!(id = %id, "secret not given: not mounted");
                    return Ok(());
                };
                let file = self.scratch(out)?.join(format!("secret-{index}"));
                let (mode, uid, gid) = (
                    mount.mode.unwrap_or(0o400),
                    mount.uid.unwrap_or(0),
                    mount.gid.unwrap_or(0),
                );
                write_secret(&file, &value, mode, uid, gid)
                    .with_context(|| format!("writing the secret {id:?} for the run"))?;
                drop(value);
                if let Some(var) = mount.env.as_deref().filter(|v| !v.is_empty()) {
                    out.secret_env.push((var.to_string(), file.clone()));
                }
                let Some(target) = mount.secret_target() else {
                    return Ok(());
                };
                (
                    MountKind::Bind {
                        source: file,
                        readonly: true,
                    },
                    false,
                    target,
                )
            }
        };
        let path = target_path(&target, workdir)?;
        let resolved = sandbox::resolve_target(root, &path, dir)
            .with_context(|| format!("resolving the target {path} in the stage root"))?;
        if out.targets.contains(&resolved.rel) {
            bail!("{path} is the target of another mount of this RUN");
        }
        match std::fs::symlink_metadata(root.join(&resolved.rel)) {
            Ok(meta) if meta.is_dir() != dir => bail!(
                "the target {path} is a {} in the image but the mount is a {}",
                if meta.is_dir() { "directory" } else { "file" },
                if dir { "directory" } else { "file" },
            ),
            Ok(_) => {}
            Err(_) => out.created.push(resolved.rel.clone()),
        }
        out.targets.push(resolved.rel.clone());
        out.mounts.push(sandbox::Mount {
            target: resolved,
            kind,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_absolute_clean_and_never_the_root() {
        fn check(target: &str, workdir: &str, expected: Result<&str, &str>) {
            match (target_path(target, workdir), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{target} in {workdir}"),
                (Err(e), Err(needle)) => assert!(e.to_string().contains(needle), "{e}"),
                (got, want) => panic!("{target} in {workdir}: {got:?}, expected {want:?}"),
            }
        }
        check("/cache", "/w", Ok("/cache"));
        check("cache", "/w", Ok("/w/cache"));
        check("./a/../b/", "", Ok("/b"));
        check("../../etc", "/w", Ok("/etc"));
        check("/", "/w", Err("root directory"));
        check(".", "", Err("root directory"));
    }

    #[test]
    fn cache_names_are_readable_and_distinct() {
        let a = cache_name("/root/.cache/pip");
        assert!(a.starts_with("root_.cache_pip-"), "{a}");
        assert_ne!(cache_name("a/b"), cache_name("a_b"));
        assert_eq!(cache_name("x"), cache_name("x"));
        assert!(!cache_name(&"y".repeat(300)).contains('/'));
    }

    #[test]
    fn a_new_cache_gets_its_mode_owner_and_seed_once() {
        use std::os::unix::fs::MetadataExt;
        let base = tempfile::tempdir().unwrap();
        let seed = tempfile::tempdir().unwrap();
        std::fs::write(seed.path().join("seeded"), "s").unwrap();
        let uid = unsafe { libc::geteuid() };
        let gid = unsafe { libc::getegid() };
        let new = NewCache {
            mode: 0o710,
            uid,
            gid,
            seed: Some(seed.path().to_path_buf()),
        };
        let dir = ensure_cache(base.path(), "c", &new).unwrap();
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o710);
        assert_eq!(std::fs::read_to_string(dir.join("seeded")).unwrap(), "s");
        std::fs::write(dir.join("kept"), "k").unwrap();
        let again = ensure_cache(
            base.path(),
            "c",
            &NewCache {
                mode: 0o755,
                seed: None,
                ..new
            },
        )
        .unwrap();
        assert_eq!(again, dir);
        assert!(dir.join("kept").is_file());
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o710);
    }
}
