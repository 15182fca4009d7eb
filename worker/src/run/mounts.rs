// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `RUN --mount`: each value parsed ([`Mount::parse`]) and made ready for the sandbox before
//! the command runs.
//!
//! * `bind`: a file or directory of the build context, of an earlier stage or of an image
//!   (unpacked as `COPY --from` does, so a stage that never ran a command works too),
//!   resolved inside that root (symlinks contained) and handed to the sandbox as (root,
//!   path), which the helper opens again inside the root. Read-only by default; `rw` writes
//!   go to an overlay (or a private copy) thrown away after the run.
//! * `cache`: a directory of `--run-cache-dir` under the build's key, named after the cache's
//!   id (see [`caches`]), created on first use with `mode`/`uid`/`gid` (seeded from
//!   `from`+`source` when given), kept between builds, mounted `nosuid`; `source` alone is a
//!   directory of it, resolved and made inside it; `sharing=locked` and `private` hold a file
//!   lock for the whole run.
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
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use kaniko_common::dockerfile::{Mount, MountType, Run, Sharing};

use crate::executor::stages::Executor;
use crate::inroot;
use crate::sandbox::{self, MountKind, Source};
use crate::stage::StageState;
use crate::store::stack::RootView;
use crate::unpack;
use caches::{NewCache, cache_name, ensure_cache, lock};

mod caches;

pub(crate) use caches::cache_key;

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

/// Copies the regular file `source` (opened inside its root) into the new file `to`.
fn copy_file(source: &Source, to: &Path) -> std::io::Result<()> {
    let root = inroot::open_root(&source.root)?;
    let fd = inroot::open_in(root.as_fd(), &source.rel, libc::O_PATH)?;
    let (mut from, _) = inroot::open_regular(fd).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o644)
        .open(to)?;
    std::io::copy(&mut from, &mut file)?;
    file.set_permissions(from.metadata()?.permissions())
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
    pub(crate) async fn run_mounts(
        &mut self,
        state: &StageState,
        run: &Run,
        root: &RootView,
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
                    .source_root(from, &platform, None)
                    .await?
                    .path()
                    .to_path_buf())
            }
            None => Ok(self.setup.context_dir.to_path_buf()),
        }
    }

    /// The `source` of a bind (or a cache's seed) inside the root `from` names, resolved
    /// there, and its file type; an error naming the source and the root when it is not
    /// there.
    async fn mount_source(
        &mut self,
        state: &StageState,
        mount: &Mount,
    ) -> Result<(Source, libc::mode_t)> {
        let root = self.mount_source_root(state, mount.from.as_deref()).await?;
        let source = mount.source.as_deref().unwrap_or("/");
        let rel = unpack::resolve_on_disk(&root, Path::new(source), true)
            .with_context(|| format!("resolving the source {source:?}"))?;
        let root_fd =
            inroot::open_root(&root).with_context(|| format!("opening {}", root.display()))?;
        let kind = inroot::open_in(root_fd.as_fd(), &rel, libc::O_PATH)
            .and_then(|fd| inroot::kind(fd.as_fd()))
            .map_err(|_| {
                let from = match mount.from.as_deref().filter(|f| !f.is_empty()) {
                    Some(from) => format!("stage or image {from:?}"),
                    None => "the build context".to_string(),
                };
                anyhow!("the source {source:?} is not in {from}")
            })?;
        Ok((Source { root, rel }, kind))
    }

    async fn prepare_mount(
        &mut self,
        out: &mut RunMounts,
        state: &StageState,
        mount: &Mount,
        index: usize,
        root: &RootView,
        workdir: &str,
    ) -> Result<()> {
        let target = mount.target.clone().unwrap_or_default();
        let (kind, dir, target) = match mount.kind {
            MountType::Ssh => bail!(
                "ssh mounts are not supported (no SSH agent forwarding); give a key as a \
                 secret instead: --secret id=key,src=PATH and --mount=type=secret,id=key"
            ),
            MountType::Tmpfs => (MountKind::Tmpfs { size: mount.size }, true, target),
            MountType::Bind => {
                let (kind, is_dir) = self.bind_mount(out, state, mount, index).await?;
                (kind, is_dir, target)
            }
            MountType::Cache => (self.cache_mount(out, state, mount).await?, true, target),
            MountType::Secret => match self.secret_mount(out, mount, index)? {
                Some((kind, target)) => (kind, false, target),
                None => return Ok(()),
            },
        };
        place(out, kind, dir, &target, root, workdir)
    }

    /// `type=bind`: read-only, a directory whose writes are discarded, or a private copy of
    /// a file; whether it is a directory.
    async fn bind_mount(
        &mut self,
        out: &mut RunMounts,
        state: &StageState,
        mount: &Mount,
        index: usize,
    ) -> Result<(MountKind, bool)> {
        let (found, kind) = self.mount_source(state, mount).await?;
        let is_dir = kind == libc::S_IFDIR;
        let kind = if mount.readonly {
            MountKind::Bind {
                source: found,
                readonly: true,
                nosuid: false,
            }
        } else if is_dir {
            let scratch = self.scratch(out)?.join(format!("bind-{index}"));
            MountKind::Discard {
                source: found,
                scratch,
            }
        } else {
            let source = mount.source.as_deref().unwrap_or("/");
            if kind != libc::S_IFREG {
                bail!(
                    "the source {source:?} is {}: only a file or a directory can be \
                     mounted read-write",
                    inroot::kind_name(kind)
                );
            }
            let scratch = self.scratch(out)?.to_path_buf();
            let name = PathBuf::from(format!("bind-{index}"));
            copy_file(&found, &scratch.join(&name))
                .with_context(|| format!("copying {source:?} for a writable bind"))?;
            MountKind::Bind {
                source: Source {
                    root: scratch,
                    rel: name,
                },
                readonly: false,
                nosuid: false,
            }
        };
        Ok((kind, is_dir))
    }

    /// `type=cache`: the cache directory made (seeded, locked) under the build's key.
    async fn cache_mount(
        &mut self,
        out: &mut RunMounts,
        state: &StageState,
        mount: &Mount,
    ) -> Result<MountKind> {
        let from = mount.from.as_deref().filter(|f| !f.is_empty());
        let seed = match from {
            Some(_) => {
                let (found, kind) = self.mount_source(state, mount).await?;
                if kind != libc::S_IFDIR {
                    bail!(
                        "the source {:?} of the cache is not a directory",
                        mount.source.as_deref().unwrap_or("/")
                    );
                }
                Some(found)
            }
            None => None,
        };
        let root = self.setup.run.cache_dir.clone();
        let key = self.setup.run.cache_key.clone();
        let name = cache_name(mount.cache_id());
        let new = NewCache {
            mode: mount.mode.unwrap_or(0o755),
            uid: mount.uid.unwrap_or(0),
            gid: mount.gid.unwrap_or(0),
            seed,
        };
        let (dir, base) = {
            let (root, name) = (root.clone(), name.clone());
            tokio::task::spawn_blocking(move || ensure_cache(&root, &key, &name, &new))
                .await
                .map_err(|e| anyhow!("preparing the cache: {e}"))?
        }
        .with_context(|| format!("preparing the cache directory in {}", root.display()))?;
        // `source` without `from`: a directory of the cache, resolved and made inside
        // it (a link another RUN left in the cache never leads out of it).
        let mut rel = PathBuf::new();
        if from.is_none()
            && let Some(sub) = mount.source.as_deref()
        {
            rel = unpack::resolve_on_disk(&dir, Path::new(sub), true)
                .with_context(|| format!("resolving the source {sub:?} in the cache"))?;
            let root =
                inroot::open_root(&dir).with_context(|| format!("opening {}", dir.display()))?;
            inroot::mkdirs_in(root.as_fd(), &rel, 0o755)
                .with_context(|| format!("creating the directory {sub:?} in the cache"))?;
        }
        if matches!(mount.sharing, Sharing::Locked | Sharing::Private) {
            let path = base.join(format!("{name}.lock"));
            let file = tokio::task::spawn_blocking(move || lock(&path))
                .await
                .map_err(|e| anyhow!("locking the cache: {e}"))?
                .context("locking the cache")?;
            out._locks.push(file);
        }
        Ok(MountKind::Bind {
            source: Source { root: dir, rel },
            readonly: mount.readonly,
            nosuid: true,
        })
    }

    /// `type=secret`: the value written to a private file for this run, and its target;
    /// `None` when the secret is not mounted (not given or out of scope, and not required,
    /// or wanted only as an environment variable).
    fn secret_mount(
        &self,
        out: &mut RunMounts,
        mount: &Mount,
        index: usize,
    ) -> Result<Option<(MountKind, String)>> {
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
                return Ok(None);
            }
            if mount.required {
                bail!(
                    "the secret {id:?} is required but was not given (worker build \
                     --secret id={id},src=PATH or --secret id={id},env=VAR)"
                );
            }
            tracing::info!(id = %id, "secret not given: not mounted");
            return Ok(None);
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
            return Ok(None);
        };
        Ok(Some((
            MountKind::Bind {
                source: Source {
                    root: self.scratch(out)?.to_path_buf(),
                    rel: PathBuf::from(format!("secret-{index}")),
                },
                readonly: true,
                nosuid: false,
            },
            target,
        )))
    }
}

/// Resolves a mount's target inside the stage root and adds the mount to `out`.
fn place(
    out: &mut RunMounts,
    kind: MountKind,
    dir: bool,
    target: &str,
    root: &RootView,
    workdir: &str,
) -> Result<()> {
    let path = target_path(target, workdir)?;
    let resolved = sandbox::resolve_target(root, &path, dir)
        .with_context(|| format!("resolving the target {path} in the stage root"))?;
    if out.targets.contains(&resolved.rel) {
        bail!("{path} is the target of another mount of this RUN");
    }
    match root.metadata(&resolved.rel).ok_or(()) {
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
}
