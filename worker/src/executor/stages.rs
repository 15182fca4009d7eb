// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The stage executor: for each planned stage, the base (scratch, a registry image for the
//! stage's platform, or an earlier stage), the base's ONBUILD triggers, then every
//! instruction dispatched: metadata into the container config and history, WORKDIR's
//! directory ([`workdir`], with USER and `--chown` resolution), COPY and ADD into one layer
//! each (planned by [`crate::copy::step`], written by [`layers`]), RUN in the sandbox with its
//! snapshot as the layer (see [`crate::run`](mod@crate::run)). The filesystems of `--from`
//! are in [`sources`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use kaniko_common::dockerfile::{
    BaseRef, BuildArgs, BuildPlan, Dockerfile, Expanded, ExpandedCopyAdd, Instruction,
    InstructionKind, PlannedStage, Scope, StagePlatform,
};
use kaniko_common::platform::Platform;
use kaniko_image::layer::LayerOptions;
use kaniko_registry::RegistryClient;

use crate::base::{self, PullRewrites};
use crate::blobs::BlobStore;
use crate::copy;
use crate::dockerignore::DockerIgnore;
use crate::instructions::{self, StageFlags};
use crate::output::LayerUploads;
use crate::progress::Progress;
use crate::run::{self as run_step, RunSettings, Snapshotter, StageRoot, snapshot_scan};
use crate::stage::{StageFs, StageState};
use crate::unpack;

mod cache;
mod layers;
mod sources;
mod workdir;

pub(crate) use layers::{history, push_history};

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
    /// Registry client for the cache and the early uploads (the push's verification).
    pub client: RegistryClient,
    /// Registry client for base images and their layers (relaxed by `--insecure-pull`,
    /// `--skip-tls-verify-pull`).
    pub pull_client: RegistryClient,
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
    /// The layer cache (`None`: no `--cache`).
    pub cache: Option<crate::cache::CacheOptions>,
    /// `--image-fs-extract-retry`: retries of unpacking a stage's filesystem for RUN.
    pub fs_extract_retry: u32,
    /// The pipelined push: layers of the final image start uploading as soon as they are
    /// written (`None`: nothing is pushed).
    pub uploads: Option<LayerUploads>,
}

/// Builds the stages of a plan.
pub struct Executor<'a> {
    pub(crate) setup: Setup<'a>,
    pub(crate) global: Scope,
    pub(crate) blobs: BlobStore,
    pub(crate) progress: Progress,
    /// Finished stages by index.
    pub(crate) done: HashMap<usize, StageState>,
    /// Unpacked filesystems for `COPY --from`, by stage index or image name.
    pub(crate) roots: HashMap<String, Arc<tempfile::TempDir>>,
    /// The current stage's root filesystem, once a RUN (or `--single-snapshot`) needs it.
    pub(crate) stage_root: Option<StageRoot>,
    /// The snapshotter in use (`Auto` turns into one of the others on the first RUN).
    pub(crate) snapshotter: Snapshotter,
    /// The files the sandbox provides (`resolv.conf`, `hosts`, `hostname`).
    pub(crate) provided: Option<[PathBuf; 3]>,
    /// RUN steps so far (names their scratch directories).
    pub(crate) runs: usize,
    /// Stage roots being removed in the background ([`Executor::cleanup`] waits for them).
    pub(crate) removals: Vec<tokio::task::JoinHandle<()>>,
    /// Whether the current stage runs a command (its VOLUMEs then make their directories, as
    /// the container of a RUN does with buildah and Docker's builder).
    pub(crate) stage_runs: bool,
    /// The layer store RUN stacks stage roots on (`None`: flat stage roots).
    pub(crate) store: Option<Arc<crate::store::Store>>,
    /// The layer cache (`--cache`).
    pub(crate) cache: Option<crate::cache::Cache>,
    /// The current stage's cache key chain.
    pub(crate) chain: cache::StageChain,
    /// Each finished stage's final cache key.
    pub(crate) stage_keys: HashMap<usize, crate::cache::Key>,
    /// The stages whose layers end up in the final image: the target and, through `FROM`,
    /// the stages it is built on. Only their layers are uploaded during the build.
    pub(crate) final_stages: Vec<usize>,
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
        let mut blobs = BlobStore::new(setup.tmp.join("blobs"), setup.pull_client.clone())
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
        let cache = match &setup.cache {
            Some(_) if setup.run.single_snapshot => {
                tracing::warn!("cache: off with --single-snapshot (a stage is one layer)");
                None
            }
            Some(options) => Some(crate::cache::Cache::new(
                options.clone(),
                &setup.client,
                setup.tmp,
                setup
                    .uploads
                    .as_ref()
                    .map(crate::output::LayerUploads::claims)
                    .unwrap_or_default(),
            )?),
            None => None,
        };
        let final_stages = final_stages(setup.plan);
        Ok(Executor {
            final_stages,
            global,
            cache,
            chain: cache::StageChain::default(),
            stage_keys: HashMap::new(),
            blobs,
            progress: Progress::new(total),
            done: HashMap::new(),
            roots: HashMap::new(),
            stage_root: None,
            snapshotter: setup.run.snapshotter,
            provided: None,
            runs: 0,
            removals: Vec::new(),
            stage_runs: false,
            store,
            setup,
        })
    }

    /// Waits for the stage roots still being removed. A finished stage's root is removed on
    /// a blocking thread while the build goes on (a Debian root with a big RUN is tens of
    /// thousands of files), so the removal overlaps the next stage or the push.
    pub async fn cleanup(&mut self) {
        self.discard_stage_root();
        if let Some(cache) = self.cache.as_mut() {
            cache.finish().await;
        }
        for removal in self.removals.drain(..) {
            let _ = removal.await;
        }
        if let Some(store) = self.store.take() {
            let _ = tokio::task::spawn_blocking(move || store.finish_build()).await;
        }
    }

    /// Hands the current stage root, if any, to a background removal.
    pub(crate) fn discard_stage_root(&mut self) {
        if let Some(root) = self.stage_root.take() {
            self.removals
                .push(tokio::task::spawn_blocking(move || drop(root)));
        }
    }

    /// The cache's hits and misses (`None` without `--cache`).
    pub fn cache_report(&self) -> Option<crate::cache::CacheReport> {
        self.cache.as_ref().map(crate::cache::Cache::report)
    }

    /// The blob store (base layers fetched during the build).
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The layer uploads started during the build, for the push to finish.
    pub fn take_uploads(&mut self) -> Option<LayerUploads> {
        self.setup.uploads.take()
    }

    /// Starts uploading the layers of `state` written so far when stage `index` ends up in
    /// the final image; fails when an upload started earlier has failed.
    fn offer_layers(&mut self, index: usize, state: &StageState) -> Result<()> {
        if let Some(uploads) = self.setup.uploads.as_mut()
            && self.final_stages.contains(&index)
        {
            uploads.offer(&state.image.layers)?;
        }
        Ok(())
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

    /// The state a stage starts from: scratch, a base image pulled for `platform`, or the
    /// finished state of an earlier stage (its ONBUILD flags reset).
    async fn base_state(
        &self,
        planned: &PlannedStage,
        platform: &Platform,
        line: usize,
    ) -> Result<StageState> {
        Ok(match &planned.base {
            BaseRef::Scratch => {
                let b = base::scratch(platform)?;
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
                    &self.setup.pull_client,
                    name,
                    platform,
                    &self.setup.rewrites,
                )
                .await
                .with_context(|| format!("dockerfile:{line}: FROM {name}"))?;
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
        let mut state = self.base_state(planned, &platform, stage.line).await?;
        step.finish(None);
        self.cache_stage_start(&planned.base, &state);
        self.discard_stage_root();
        if self.setup.run.single_snapshot {
            let mut root = run_step::new_root(self.setup.tmp, &state, &self.blobs).await?;
            let excl = run_step::exclusions(&state, &self.setup.run.ignore, Vec::new(), &[]);
            let base = root.dir.clone();
            let compare = self.setup.run.compare;
            root.single = Some(
                tokio::task::spawn_blocking(move || snapshot_scan(&base, &excl, compare))
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
        let triggers = parse_triggers(std::mem::take(&mut state.run_config.on_build))?;
        self.stage_runs = has_run(
            stage
                .instructions
                .iter()
                .chain(triggers.iter().flat_map(|(_, parsed)| parsed)),
        );
        for (trigger, instructions) in &triggers {
            for instruction in instructions {
                self.watched_instruction(&mut state, &mut scope, instruction, stage.line)
                    .await?
                    .with_context(|| format!("ONBUILD trigger {trigger:?} of the base image"))?;
            }
        }
        for instruction in &stage.instructions {
            self.watched_instruction(&mut state, &mut scope, instruction, instruction.line)
                .await?
                .with_context(|| format!("dockerfile:{}", instruction.line))?;
            self.offer_layers(planned.index, &state)?;
        }
        if self.setup.run.single_snapshot {
            self.single_snapshot(&mut state, planned.index).await?;
        }
        self.offer_layers(planned.index, &state)?;
        self.discard_stage_root();
        self.cache_stage_end(planned.index);
        Ok(state)
    }

    /// One instruction raced against the layer uploads started so far: an upload that fails
    /// meanwhile is the (outer) error at once, the instruction dropped (a RUN's sandbox is
    /// killed); otherwise the instruction's own outcome (inner).
    async fn watched_instruction(
        &mut self,
        state: &mut StageState,
        scope: &mut Scope,
        instruction: &Instruction,
        line: usize,
    ) -> Result<Result<()>> {
        let mut uploads = self.setup.uploads.take();
        let outcome = {
            let step = self.run_instruction(state, scope, instruction, line);
            match uploads.as_mut() {
                Some(watched) => tokio::select! {
                    done = step => Ok(done),
                    failed = watched.failure() => Err(anyhow::Error::from(failed)),
                },
                None => Ok(step.await),
            }
        };
        self.setup.uploads = uploads;
        outcome
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
        if !matches!(
            expanded,
            Expanded::Run(_) | Expanded::Copy(_) | Expanded::Add(_)
        ) {
            self.cache_config_step(&state.image.platform.clone(), &expanded);
        }
        let layer_size = match &expanded {
            Expanded::Run(run) => self.cached_run(state, scope, run, &expanded, &text).await?,
            Expanded::Copy(c) => self.copy(state, c, false, &text).await?,
            Expanded::Add(c) => self.copy(state, c, true, &text).await?,
            Expanded::Workdir(_) => {
                instructions::apply(&mut state.run_config, &mut state.flags, &expanded)?;
                self.workdir(state, &text).await?
            }
            Expanded::Volume(paths) => {
                instructions::apply(&mut state.run_config, &mut state.flags, &expanded)?;
                self.volume(state, paths, &text).await?
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

    /// One RUN, looked up in the layer cache first (see [`cache`]).
    async fn cached_run(
        &mut self,
        state: &mut StageState,
        scope: &Scope,
        run: &kaniko_common::dockerfile::Run,
        expanded: &Expanded,
        text: &str,
    ) -> Result<Option<u64>> {
        let step = cache::Cacheable::Run { expanded, scope };
        let key = match self.cache_key(state, step) {
            Some((key, _)) if !Self::run_cacheable(run) => {
                if let Some(cache) = &self.cache {
                    cache.miss(text, &key, ", RUN --mount=type=bind is not cached");
                }
                self.chain.missed = true;
                None
            }
            other => other,
        };
        let Some((key, why)) = key else {
            return self.run(state, scope, run, text).await;
        };
        let platform = state.image.platform.clone();
        if let Some(hit) = self.cache_lookup(&platform, &key, text, why).await {
            return self.cache_apply(state, hit, text, None);
        }
        let before = state.image.layers.len();
        let size = self.run(state, scope, run, text).await?;
        self.cache_push(state, &key, before);
        Ok(size)
    }

    /// One COPY or ADD (see [`copy::step`]): its sources' root and `--chown` resolved
    /// here, its entries planned by the copy module, looked up in the layer cache, written as
    /// the step's layer.
    async fn copy(
        &mut self,
        state: &mut StageState,
        c: &ExpandedCopyAdd,
        add: bool,
        text: &str,
    ) -> Result<Option<u64>> {
        copy::step::check(c, add)?;
        state
            .fs
            .ensure_index(&state.image, &self.blobs, self.store.as_deref())
            .await?;
        let chown = match &c.chown {
            Some(spec) if !spec.is_empty() => Some(self.chown(state, spec).await?),
            _ => None,
        };
        let root = match &c.from {
            Some(from) => {
                let dir = self
                    .source_root(from, &state.image.platform.clone(), Some(&c.sources))
                    .await?;
                dir.path().to_path_buf()
            }
            None => self.setup.context_dir.to_path_buf(),
        };
        let step = copy::step::Step {
            instruction: c,
            add,
            root,
            ignore: self.setup.ignore,
            chown,
            tmp: self.setup.tmp,
            limits: &self.setup.limits,
        };
        let workdir = state.run_config.working_dir.clone();
        let (planned, staging) = step.plan(&workdir, &state.fs).await?;
        let instruction = (add, c);
        let step = cache::Cacheable::Copy {
            instruction: &instruction,
            planned: &planned,
        };
        let key = self.cache_key(state, step);
        if let Some((key, why)) = &key {
            let platform = state.image.platform.clone();
            if let Some(hit) = self.cache_lookup(&platform, key, text, *why).await {
                return self.cache_apply(state, hit, text, Some(&planned));
            }
        }
        let before = state.image.layers.len();
        let size = self.add_layer(state, &planned, text)?;
        drop(staging);
        if let Some((key, _)) = &key {
            self.cache_push(state, key, before);
        }
        Ok(Some(size))
    }
}

/// The target of `plan` and the stages it is built `FROM`, transitively.
fn final_stages(plan: &BuildPlan) -> Vec<usize> {
    let mut out = vec![plan.target];
    let mut current = plan.target;
    while let Some(BaseRef::Stage(parent)) = plan
        .stages
        .iter()
        .find(|s| s.index == current)
        .map(|s| &s.base)
    {
        if out.contains(parent) {
            break;
        }
        out.push(*parent);
        current = *parent;
    }
    out
}

/// Parses a base image's ONBUILD triggers with the Dockerfile parser, each with its text (for
/// error messages) and its instructions.
fn parse_triggers(triggers: Vec<String>) -> Result<Vec<(String, Vec<Instruction>)>> {
    triggers
        .into_iter()
        .map(|trigger| {
            let parsed = Dockerfile::parse(&format!("FROM scratch\n{trigger}\n"))
                .with_context(|| format!("ONBUILD trigger {trigger:?} of the base image"))?;
            let instructions = parsed
                .stages
                .into_iter()
                .flat_map(|s| s.instructions)
                .collect();
            Ok((trigger, instructions))
        })
        .collect()
}

/// Whether any of `instructions` is a RUN (a stage that runs needs a root on disk).
fn has_run<'a>(mut instructions: impl Iterator<Item = &'a Instruction>) -> bool {
    instructions.any(|i| matches!(i.kind, InstructionKind::Run(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_runs_when_the_parser_reads_it_as_run() {
        #[track_caller]
        fn check(trigger: &str, expected: Result<bool, &str>) {
            let got = parse_triggers(vec![trigger.to_string()])
                .map(|parsed| has_run(parsed.iter().flat_map(|(_, i)| i)))
                .map_err(|e| format!("{e:#}"));
            match (got, expected) {
                (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{trigger:?}"),
                (Err(got), Err(expected)) => assert!(got.contains(expected), "{trigger:?}: {got}"),
                (got, expected) => panic!("{trigger:?}: got {got:?}, expected {expected:?}"),
            }
        }
        check("RUN echo hi", Ok(true));
        check("run\techo hi", Ok(true));
        check("  Run  echo hi", Ok(true));
        check("RUN [\"true\"]", Ok(true));
        check("ENV RUN=1", Ok(false));
        check("LABEL run=yes", Ok(false));
        check("WORKDIR /run", Ok(false));
        check("RUNX echo hi", Err("ONBUILD trigger \"RUNX echo hi\""));
    }

    #[test]
    fn final_stages_follow_from_not_copy_from() {
        fn check(text: &str, target: Option<&str>, expected: &[usize]) {
            let host = Platform::host();
            let plan = Dockerfile::parse(text)
                .unwrap()
                .plan(target, &BuildArgs::new(host.clone(), host))
                .unwrap();
            assert_eq!(final_stages(&plan), expected, "{text}");
        }
        let multi = "FROM busybox AS side\nCOPY a /a\nFROM busybox AS parent\nCOPY b /b\n\
                     FROM parent\nCOPY --from=side /a /c\n";
        check(multi, None, &[2, 1]);
        check(multi, Some("side"), &[0]);
        check("FROM scratch\nCOPY a /a\n", None, &[0]);
        check(
            "FROM busybox AS a\nFROM a AS b\nFROM b\nRUN true\n",
            None,
            &[2, 1, 0],
        );
    }
}
