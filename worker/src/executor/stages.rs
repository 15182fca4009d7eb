// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The stage executor: for each planned stage, the base (scratch, a registry image for the
//! stage's platform, or an earlier stage), the base's ONBUILD triggers, then every
//! instruction: metadata into the container config and history, WORKDIR's directory, COPY
//! and ADD into one layer each, RUN in the sandbox with its snapshot as the layer (see
//! [`super::run`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use kaniko_common::dockerfile::{
    BaseRef, BuildArgs, BuildPlan, Dockerfile, Expanded, ExpandedCopyAdd, Instruction,
    PlannedStage, Scope, StagePlatform,
};
use kaniko_common::platform::Platform;
use kaniko_image::layer::{EntryKind, LayerEntry, LayerOptions, LayerWriter};
use kaniko_registry::RegistryClient;
use oci_spec::image::{History, HistoryBuilder};

mod run_mounts;
mod run_steps;

pub(crate) use run_mounts::cache_key as run_cache_key;

use super::add;
use super::run::{self as run_step, Snapshotter, StageRoot};
use crate::base::{self, PullRewrites};
use crate::blobs::BlobStore;
use crate::copy::{self, CopyOptions, Known, PathInfo, Planned, Source};
use crate::dockerignore::DockerIgnore;
use crate::image::{BlobLocation, Layer};
use crate::instructions::{self, StageFlags};
use crate::progress::Progress;
use crate::stage::{StageFs, StageState};
use crate::unpack::{self, UnpackOptions};
use crate::users::Users;
use run_steps::snapshot_scan;

/// What the executor needs from the build.
pub struct Setup<'a> {
    /// The parsed Dockerfile.
    pub dockerfile: &'a Dockerfile,
    /// The stages to build.
    pub plan: &'a BuildPlan,
    /// Build args and platforms.
    pub args: &'a BuildArgs,
    /// The context directory.
    pub context_dir: &'a Path,
    /// `.dockerignore`.
    pub ignore: &'a DockerIgnore,
    /// Registry client.
    pub client: RegistryClient,
    /// The build's temporary directory.
    pub tmp: &'a Path,
    /// The build's bounds: every unpack, pull and download is charged to its disk budget.
    pub limits: unpack::Limits,
    /// Pull rewrites.
    pub rewrites: PullRewrites,
    /// How layers are written.
    pub layer: LayerOptions,
    /// How RUN runs and is snapshotted.
    pub run: RunSettings,
    /// The layer store (`None`: `--no-store`).
    pub store: Option<crate::store::StoreOptions>,
}

/// How RUN runs and is snapshotted.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Worker-wide network (`--network`): the ceiling, `RUN --network=none` narrows it.
    pub network: crate::sandbox::Network,
    /// How changes are found.
    pub snapshotter: Snapshotter,
    /// Paths never snapshotted (`--ignore-path`, `/var/run`).
    pub ignore: Vec<PathBuf>,
    /// Hash content in the walk (`--snapshot-mode full`).
    pub hash: bool,
    /// `--single-snapshot`.
    pub single_snapshot: bool,
    /// `--secret`s for `RUN --mount=type=secret`: the ones this build's destinations may
    /// use.
    pub secrets: Vec<crate::secrets::Secret>,
    /// The `--secret`s withheld from this build (out of scope), with the reason: a required
    /// mount of one fails naming it.
    pub withheld_secrets: Vec<(String, String)>,
    /// Masks the values of `secrets` in every line a RUN prints.
    pub masker: crate::secrets::Masker,
    /// `--run-cache-dir`: where `RUN --mount=type=cache` directories persist.
    pub cache_dir: PathBuf,
    /// The directory below `cache_dir` holding this build's caches ([`run_cache_key`]).
    pub cache_key: String,
}

/// Builds the stages of a plan.
pub struct Executor<'a> {
    setup: Setup<'a>,
    global: Scope,
    blobs: BlobStore,
    progress: Progress,
    /// Finished stages by index.
    done: HashMap<usize, StageState>,
    /// Unpacked filesystems for `COPY --from`, by stage index or image name.
    roots: HashMap<String, Arc<tempfile::TempDir>>,
    /// The current stage's root filesystem, once a RUN (or `--single-snapshot`) needs it.
    stage_root: Option<StageRoot>,
    /// The snapshotter in use (`Auto` turns into one of the others on the first RUN).
    snapshotter: Snapshotter,
    /// The files the sandbox provides (`resolv.conf`, `hosts`, `hostname`).
    provided: Option<[PathBuf; 3]>,
    /// RUN steps so far (names their scratch directories).
    runs: usize,
    /// Stage roots being removed in the background ([`Executor::cleanup`] waits for them).
    removals: Vec<tokio::task::JoinHandle<()>>,
    /// The layer store RUN stacks stage roots on (`None`: flat stage roots).
    store: Option<Arc<crate::store::Store>>,
}

fn history(created_by: &str, empty: bool, reproducible: bool) -> Result<History> {
    let mut builder = HistoryBuilder::default().created_by(created_by.to_string());
    if empty {
        builder = builder.empty_layer(true);
    }
    if !reproducible {
        builder =
            builder.created(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    builder.build().map_err(|e| anyhow!("history entry: {e}"))
}

fn push_history(state: &mut StageState, entry: History) {
    let mut all = state.image.config.history().clone().unwrap_or_default();
    all.push(entry);
    state.image.config.set_history(Some(all));
}

impl<'a> Executor<'a> {
    /// An executor for `setup`.
    pub fn new(setup: Setup<'a>) -> Result<Executor<'a>> {
        let global = setup.dockerfile.global_scope(setup.args)?;
        let store = setup.store.as_ref().and_then(|options| {
            crate::store::Store::open(options)
                .map(Arc::new)
                .map_err(|e| tracing::warn!("building without the layer store: {e:#}"))
                .ok()
        });
        let mut blobs = BlobStore::new(setup.tmp.join("blobs"), setup.client.clone())
            .with_limits(setup.limits.clone());
        if let Some(store) = &store {
            blobs = blobs.with_shared_dir(store.blobs_dir());
        }
        let total = setup
            .plan
            .stages
            .iter()
            .filter_map(|p| setup.dockerfile.stages.get(p.index))
            .map(|s| s.instructions.len() + 1)
            .sum();
        Ok(Executor {
            global,
            blobs,
            progress: Progress::new(total),
            done: HashMap::new(),
            roots: HashMap::new(),
            stage_root: None,
            snapshotter: setup.run.snapshotter,
            provided: None,
            runs: 0,
            removals: Vec::new(),
            store,
            setup,
        })
    }

    /// Waits for the stage roots still being removed. A finished stage's root is removed on
    /// a blocking thread while the build goes on (a Debian root with a big RUN is tens of
    /// thousands of files), so the removal overlaps the next stage or the push.
    pub async fn cleanup(&mut self) {
        self.discard_stage_root();
        for removal in self.removals.drain(..) {
            let _ = removal.await;
        }
        if let Some(store) = self.store.take() {
            let _ = tokio::task::spawn_blocking(move || store.finish_build()).await;
        }
    }

    /// Hands the current stage root, if any, to a background removal.
    fn discard_stage_root(&mut self) {
        if let Some(root) = self.stage_root.take() {
            self.removals
                .push(tokio::task::spawn_blocking(move || drop(root)));
        }
    }

    /// The blob store (base layers fetched during the build).
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Builds every planned stage; returns the target's final state.
    pub async fn build_all(&mut self) -> Result<StageState> {
        let planned: Vec<PlannedStage> = self.setup.plan.stages.clone();
        for stage in &planned {
            let state = self.build_stage(stage).await?;
            self.done.insert(stage.index, state);
        }
        self.done
            .remove(&self.setup.plan.target)
            .ok_or_else(|| anyhow!("the target stage was not built"))
    }

    fn stage_platform(&self, stage: &PlannedStage) -> Result<Platform> {
        Ok(match &stage.platform {
            StagePlatform::Target => self.setup.args.target.clone(),
            StagePlatform::Build => self.setup.args.build.clone(),
            StagePlatform::Other(text) => Platform::parse(text)
                .with_context(|| format!("dockerfile:{}: FROM --platform", stage.line))?,
        })
    }

    async fn build_stage(&mut self, planned: &PlannedStage) -> Result<StageState> {
        let stage = self
            .setup
            .dockerfile
            .stages
            .get(planned.index)
            .ok_or_else(|| anyhow!("stage {} is not in the Dockerfile", planned.index))?;
        let platform = self.stage_platform(planned)?;
        let base_text = match &planned.base {
            BaseRef::Scratch => "scratch".to_string(),
            BaseRef::Image(name) => name.clone(),
            BaseRef::Stage(j) => format!("stage {j}"),
        };
        self.progress.stage(
            planned.index,
            planned.name.as_deref(),
            &base_text,
            &platform.to_string(),
        );
        let step = self
            .progress
            .start(&instructions::created_by(&stage.original, '\\'));
        let mut state = match &planned.base {
            BaseRef::Scratch => {
                let b = base::scratch(&platform)?;
                StageState {
                    image: b.image,
                    run_config: b.run_config,
                    docker: false,
                    fs: StageFs::empty(),
                    flags: StageFlags::default(),
                }
            }
            BaseRef::Image(name) => {
                let b = base::pull(
                    self.setup.client_ref(),
                    name,
                    &platform,
                    &self.setup.rewrites,
                )
                .await
                .with_context(|| format!("dockerfile:{}: FROM {name}", stage.line))?;
                StageState {
                    image: b.image,
                    run_config: b.run_config,
                    docker: b.docker,
                    fs: StageFs::default(),
                    flags: StageFlags::default(),
                }
            }
            BaseRef::Stage(j) => {
                let mut parent = self.done.get(j).cloned().ok_or_else(|| {
                    anyhow!("stage {j} was not built before stage {}", planned.index)
                })?;
                parent.flags = StageFlags::default();
                parent
            }
        };
        step.finish(None);
        self.discard_stage_root();
        if self.setup.run.single_snapshot {
            let mut root = run_step::new_root(self.setup.tmp, &state, &self.blobs).await?;
            let excl = run_step::exclusions(&state, &self.setup.run.ignore, Vec::new(), &[]);
            let base = root.dir.clone();
            let hash = self.setup.run.hash;
            root.single = Some(
                tokio::task::spawn_blocking(move || snapshot_scan(&base, &excl, hash))
                    .await
                    .map_err(|e| anyhow!("scanning the stage root: {e}"))??,
            );
            self.stage_root = Some(root);
        }
        let mut scope = self
            .global
            .stage()
            .with_base_env(state.run_config.env_pairs());
        // ONBUILD triggers of the base run first, then are cleared.
        let triggers = std::mem::take(&mut state.run_config.on_build);
        for trigger in triggers {
            let parsed = Dockerfile::parse(&format!("FROM scratch\n{trigger}\n"))
                .with_context(|| format!("ONBUILD trigger {trigger:?} of the base image"))?;
            let instructions: Vec<Instruction> = parsed
                .stages
                .into_iter()
                .flat_map(|s| s.instructions)
                .collect();
            for instruction in &instructions {
                self.run_instruction(&mut state, &mut scope, instruction, stage.line)
                    .await
                    .with_context(|| format!("ONBUILD trigger {trigger:?} of the base image"))?;
            }
        }
        for instruction in &stage.instructions {
            self.run_instruction(&mut state, &mut scope, instruction, instruction.line)
                .await
                .with_context(|| format!("dockerfile:{}", instruction.line))?;
        }
        if self.setup.run.single_snapshot {
            self.single_snapshot(&mut state, planned.index).await?;
        }
        self.discard_stage_root();
        Ok(state)
    }

    async fn run_instruction(
        &mut self,
        state: &mut StageState,
        scope: &mut Scope,
        instruction: &Instruction,
        _line: usize,
    ) -> Result<()> {
        let escape = self.setup.dockerfile.escape();
        let text = instructions::created_by(&instruction.original, escape);
        let step = self.progress.start(&text);
        let reproducible = self.setup.layer.reproducible;
        let expanded = scope.apply(instruction)?;
        let layer_size = match &expanded {
            Expanded::Run(run) => self.run(state, scope, run, &text).await?,
            Expanded::Copy(c) => Some(self.copy(state, c, false, &text).await?),
            Expanded::Add(c) => Some(self.copy(state, c, true, &text).await?),
            Expanded::Workdir(_) => {
                instructions::apply(&mut state.run_config, &mut state.flags, &expanded)?;
                self.workdir(state, &text).await?
            }
            Expanded::Maintainer(author) => {
                state.image.config.set_author(Some(author.clone()));
                push_history(state, history(&text, true, reproducible)?);
                None
            }
            _ => {
                instructions::apply(&mut state.run_config, &mut state.flags, &expanded)?;
                push_history(state, history(&text, true, reproducible)?);
                None
            }
        };
        step.finish(layer_size);
        Ok(())
    }

    /// The stage's users, loading `/etc/passwd` and `/etc/group` when needed.
    async fn users(&self, state: &mut StageState) -> Result<Users> {
        if state.fs.users_files().is_none() {
            state.fs.load_users_files(&state.image, &self.blobs).await?;
        }
        let (passwd, group) = state.fs.users_files().unwrap_or_default();
        Ok(Users::parse(&passwd, &group))
    }

    async fn chown(&self, state: &mut StageState, spec: &str) -> Result<(u64, u64)> {
        // Numeric specs need no files.
        if let Ok((uid, gid)) = Users::default().resolve_chown(spec) {
            let numeric = spec
                .split(':')
                .all(|part| part.is_empty() || part.parse::<u32>().is_ok());
            if numeric {
                return Ok((u64::from(uid), u64::from(gid)));
            }
        }
        let (uid, gid) = self.users(state).await?.resolve_chown(spec)?;
        Ok((u64::from(uid), u64::from(gid)))
    }

    /// Writes planned entries as a layer on the stage (with `--single-snapshot`, onto the
    /// stage root instead: the stage's one layer comes at its end).
    fn add_layer(&self, state: &mut StageState, planned: &[Planned], text: &str) -> Result<u64> {
        let writer = LayerWriter::to_temp_file(self.setup.tmp, self.setup.layer)
            .with_context(|| format!("creating a layer in {}", self.setup.tmp.display()))?;
        let (file, info) = copy::write_layer(writer, planned)?;
        let path = file.into_temp_path();
        let size = info.size;
        match self.stage_root.as_ref().filter(|r| r.single.is_some()) {
            Some(root) => {
                let reader = crate::blobs::decompressing_reader(
                    std::fs::File::open(&path).context("reopening the layer")?,
                    Some(self.setup.layer.compression),
                )?;
                let opts = UnpackOptions {
                    preserve_owners: true,
                    budget: self.setup.limits.disk.clone(),
                    ..UnpackOptions::default()
                };
                unpack::unpack_layer(&root.dir, reader, &opts)
                    .context("applying the step to the stage root")?;
                push_history(state, history(text, true, self.setup.layer.reproducible)?);
            }
            None => {
                state.image.push_layer(Layer {
                    descriptor: info.descriptor(),
                    diff_id: info.diff_id.clone(),
                    location: BlobLocation::File(Arc::new(path)),
                });
                push_history(state, history(text, false, self.setup.layer.reproducible)?);
            }
        }
        let entries: Vec<LayerEntry> = planned.iter().map(|p| p.entry.clone()).collect();
        let read = |path: &str| {
            planned
                .iter()
                .find(|p| format!("/{}", p.entry.path.display()) == path)
                .and_then(|p| match &p.content {
                    copy::Content::Disk(file) => std::fs::read_to_string(file).ok(),
                    copy::Content::Inline(bytes) => String::from_utf8(bytes.clone()).ok(),
                    copy::Content::None => None,
                })
        };
        state.fs.record(&entries, &read);
        Ok(size)
    }

    async fn workdir(&mut self, state: &mut StageState, text: &str) -> Result<Option<u64>> {
        state.fs.ensure_index(&state.image, &self.blobs).await?;
        let dir = state.run_config.working_dir.clone();
        let reproducible = self.setup.layer.reproducible;
        match state.fs.known(&dir) {
            Known::Dir { .. } => {
                push_history(state, history(text, true, reproducible)?);
                return Ok(None);
            }
            Known::NotDir => bail!("WORKDIR {dir}: exists and is not a directory"),
            Known::Missing | Known::Unknown => {}
        }
        let user = state.run_config.user.clone();
        let (uid, gid) = if user.is_empty() {
            (0, 0)
        } else {
            let resolved = self.users(state).await?.resolve_user(&user)?;
            (u64::from(resolved.uid), u64::from(resolved.gid))
        };
        // Missing parents are created too (root-owned, 0755), the directory itself owned by
        // the user; parents the base may have are left out when the base is not indexed.
        let mut planned = Vec::new();
        let mut path = PathBuf::new();
        let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            path.push(part);
            let abs = format!("/{}", path.display());
            let last = i + 1 == parts.len();
            let entry = match state.fs.known(&abs) {
                Known::Dir { mode, uid, gid } if !last => LayerEntry {
                    mode,
                    uid,
                    gid,
                    ..LayerEntry::new(path.clone(), EntryKind::Dir)
                },
                Known::Unknown if !last => continue,
                _ if last => LayerEntry {
                    uid,
                    gid,
                    ..LayerEntry::new(path.clone(), EntryKind::Dir)
                },
                _ => LayerEntry::new(path.clone(), EntryKind::Dir),
            };
            planned.push(Planned {
                entry,
                content: copy::Content::None,
            });
        }
        if planned.is_empty() {
            push_history(state, history(text, true, reproducible)?);
            return Ok(None);
        }
        Ok(Some(self.add_layer(state, &planned, text)?))
    }

    /// The unpacked filesystem of `COPY --from=<from>` and `RUN --mount=from=<from>`: an
    /// earlier stage, or an image pulled for `platform`.
    async fn source_root(
        &mut self,
        from: &str,
        platform: &Platform,
    ) -> Result<Arc<tempfile::TempDir>> {
        let stage = self.stage_index(from);
        let key = match stage {
            Some(i) => format!("stage:{i}"),
            None => format!("image:{from}"),
        };
        if let Some(root) = self.roots.get(&key) {
            return Ok(Arc::clone(root));
        }
        let layers = match stage {
            Some(i) => self
                .done
                .get(&i)
                .map(|s| s.image.layers.clone())
                .ok_or_else(|| anyhow!("--from={from}: stage {i} is not built"))?,
            None => {
                base::pull(&self.setup.client, from, platform, &self.setup.rewrites)
                    .await
                    .with_context(|| format!("--from={from}"))?
                    .image
                    .layers
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("from-")
            .tempdir_in(self.setup.tmp)
            .context("temporary directory for --from")?;
        let opts = UnpackOptions {
            budget: self.setup.limits.disk.clone(),
            ..UnpackOptions::default()
        };
        unpack::unpack_image(dir.path(), &layers, &self.blobs, &opts)
            .await
            .with_context(|| format!("unpacking {from} for --from"))?;
        let dir = Arc::new(dir);
        self.roots.insert(key, Arc::clone(&dir));
        Ok(dir)
    }

    /// The index of an earlier stage named (or numbered) `from`.
    fn stage_index(&self, from: &str) -> Option<usize> {
        let lower = from.to_ascii_lowercase();
        let by_name = self
            .setup
            .dockerfile
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()));
        by_name
            .or_else(|| from.parse::<usize>().ok())
            .filter(|i| self.done.contains_key(i))
    }

    async fn copy(
        &mut self,
        state: &mut StageState,
        c: &ExpandedCopyAdd,
        add: bool,
        text: &str,
    ) -> Result<u64> {
        if c.keep_git_dir {
            bail!("ADD --keep-git-dir: git sources are not supported yet");
        }
        if !c.exclude.is_empty() {
            bail!("--exclude is not supported yet");
        }
        if c.parents {
            bail!("--parents is not supported yet");
        }
        if add {
            add::check_sources(&c.sources, c.checksum.as_deref())?;
        }
        state.fs.ensure_index(&state.image, &self.blobs).await?;
        let chown = match &c.chown {
            Some(spec) if !spec.is_empty() => Some(self.chown(state, spec).await?),
            _ => None,
        };
        let (root, keep_owner, ignore): (PathBuf, bool, Option<&DockerIgnore>) = match &c.from {
            Some(from) => {
                let dir = self
                    .source_root(from, &state.image.platform.clone())
                    .await?;
                (dir.path().to_path_buf(), true, None)
            }
            None => (
                self.setup.context_dir.to_path_buf(),
                false,
                Some(self.setup.ignore),
            ),
        };
        // ADD's downloads and extracted archives live here until the layer is written.
        let mut staging = add::Staging::new(self.setup.limits.clone());
        let mut sources = Vec::new();
        let (urls, paths): (Vec<String>, Vec<String>) = c
            .sources
            .iter()
            .cloned()
            .partition(|s| add && add::is_url(s));
        for url in &urls {
            sources.push(
                staging
                    .download(url, c.checksum.as_deref(), self.setup.tmp)
                    .await?,
            );
        }
        if !paths.is_empty() {
            let empty = DockerIgnore::default();
            let matched = crate::glob::resolve_sources(&root, &paths, ignore.unwrap_or(&empty))?;
            for path in matched {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap_or(Path::new(""))
                    .to_path_buf();
                if add
                    && c.from.is_none()
                    && path.is_file()
                    && staging.extract_if_archive(&path, &rel, self.setup.tmp)?
                {
                    continue;
                }
                sources.push(Source::Path {
                    root: root.clone(),
                    rel,
                });
            }
        }
        for (name, content) in &c.inline {
            sources.push(Source::Inline {
                name: name.clone(),
                content: content.clone().into_bytes(),
            });
        }
        let opts = CopyOptions {
            chown,
            chmod: c.chmod,
            keep_owner,
        };
        let workdir = state.run_config.working_dir.clone();
        let planned = match staging.tree_source() {
            None => copy::plan_copy(&sources, &c.dest, &workdir, &opts, &state.fs, ignore)?,
            Some(tree) => {
                // An archive always extracts into a directory; with other sources next to it
                // the destination is a directory too.
                let dest = if sources.is_empty() || c.dest.ends_with('/') {
                    c.dest.clone()
                } else {
                    format!("{}/", c.dest)
                };
                let mut plans = Vec::new();
                if !sources.is_empty() {
                    plans.push(copy::plan_copy(
                        &sources, &dest, &workdir, &opts, &state.fs, ignore,
                    )?);
                }
                let archive_opts = CopyOptions {
                    keep_owner: true,
                    ..opts.clone()
                };
                plans.push(copy::plan_copy(
                    &[tree],
                    &dest,
                    &workdir,
                    &archive_opts,
                    &state.fs,
                    None,
                )?);
                add::merge(plans)
            }
        };
        let size = self.add_layer(state, &planned, text)?;
        drop(staging);
        Ok(size)
    }
}

impl Setup<'_> {
    fn client_ref(&self) -> &RegistryClient {
        &self.client
    }
}
