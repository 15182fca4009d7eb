// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The executor's RUN steps: the platform and privilege checks, the stage root brought up to
//! date, its `--mount`s (see [`super::mounts`]), the sandbox run on an overlay (or on the
//! root itself for the walk), the snapshot as the step's layer (nothing below a mount target
//! in it), and the `--single-snapshot` layer at the end of a stage.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use kaniko_common::dockerfile::{Run, Scope};
use kaniko_retry::RetryPolicy;

use crate::executor::stages::{Executor, history, push_history};
use crate::run::mounts::RunMounts;
use crate::run::{self as run_step, Snapshotter};
use crate::sandbox::{self, Network, Root, SetupError, Spec};
use crate::snapshot::{self, Change, Exclusions, walk::Scan};
use crate::stage::StageState;
use crate::store::Store;
use crate::store::stack::RootView;

/// Scans a root for the walk snapshotter.
pub(crate) fn snapshot_scan(
    root: &Path,
    excl: &Exclusions,
    compare: snapshot::walk::Compare,
) -> Result<Scan> {
    Scan::of(root, excl, compare).map_err(|e| anyhow!("scanning the stage root: {e}"))
}

/// One RUN's sandbox inputs, whatever root it runs on.
struct RunPlan<'r> {
    scope: &'r Scope,
    run: &'r Run,
    network: Network,
    files: [PathBuf; 3],
    result: PathBuf,
    mounts: RunMounts,
    root_dir: PathBuf,
    /// The stage root as the RUN code reads it (one directory, or the store's stack).
    view: RootView,
    /// The overlay's lower directories, top first.
    lowers: Vec<PathBuf>,
    scratch: PathBuf,
}

impl RunPlan<'_> {
    /// The spec of this RUN on `root` (read through `view`), with its mounts.
    fn spec_on(
        &self,
        state: &StageState,
        root: Root,
        view: &RootView,
    ) -> Result<(Spec, Vec<PathBuf>)> {
        run_step::spec_for(
            state,
            self.scope,
            self.run,
            root,
            view,
            self.network,
            &self.files,
            self.result.clone(),
        )
        .map(|(mut spec, created)| {
            spec.mounts = self.mounts.mounts.clone();
            spec.secret_env = self.mounts.secret_env.clone();
            (spec, created)
        })
    }
}

impl Executor<'_> {
    /// One RUN; returns the size of its layer (`None`: nothing changed).
    pub(crate) async fn run(
        &mut self,
        state: &mut StageState,
        scope: &Scope,
        run: &Run,
        text: &str,
    ) -> Result<Option<u64>> {
        run_step::check_native(&state.image.platform)?;
        run_step::check_privileges()?;
        let tmp = self.setup.tmp.to_path_buf();
        if self.provided.is_none() {
            self.provided = Some(
                sandbox::write_provided_files(&tmp.join("sandbox-files"), sandbox::HOSTNAME)
                    .map_err(|e| anyhow!("writing the sandbox's /etc files: {e}"))?,
            );
        }
        let files = self.provided.clone().unwrap_or_default();
        self.ensure_stage_root(state).await?;
        let (root_dir, single, view, lowers) = match self.stage_root.as_ref() {
            Some(root) => (
                root.dir.clone(),
                root.single.is_some(),
                root.view(),
                root.lowers(),
            ),
            None => bail!("the stage root is missing"),
        };
        self.runs += 1;
        let scratch = tmp.join(format!("run-{}", self.runs));
        std::fs::create_dir_all(&scratch)
            .map_err(|e| anyhow!("creating {}: {e}", scratch.display()))?;
        let mounts = self.run_mounts(state, run, &view).await?;
        let plan = RunPlan {
            scope,
            run,
            network: self.setup.run.network,
            files,
            result: scratch.join("result.json"),
            mounts,
            root_dir,
            view,
            lowers,
            scratch,
        };
        if single {
            return self.run_single(state, &plan, text).await;
        }
        if self.snapshotter != Snapshotter::Walk
            && let Some(size) = self.run_overlay(state, &plan, text).await?
        {
            return Ok(size);
        }
        self.run_walk(state, &plan, text).await
    }

    /// A RUN with `--single-snapshot`: on the stage root itself, no layer yet.
    async fn run_single(
        &self,
        state: &mut StageState,
        plan: &RunPlan<'_>,
        text: &str,
    ) -> Result<Option<u64>> {
        let (spec, created) = plan.spec_on(
            state,
            Root::Direct {
                dir: plan.root_dir.clone(),
            },
            &plan.view,
        )?;
        let outcome = run_step::execute(&spec, &self.setup.run.masker).await;
        run_step::remove_created(&plan.root_dir, &plan.mounts.created);
        run_step::remove_created(&plan.root_dir, &created);
        let _ = std::fs::remove_dir_all(&plan.scratch);
        if let Some(e) = outcome? {
            bail!(e);
        }
        push_history(state, history(text, true, self.setup.layer.reproducible)?);
        Ok(None)
    }

    /// A RUN on an overlay whose upper directory is the step's change; `None` when overlay
    /// is not available and the snapshotter was `auto`: the walk takes over.
    async fn run_overlay(
        &mut self,
        state: &mut StageState,
        plan: &RunPlan<'_>,
        text: &str,
    ) -> Result<Option<Option<u64>>> {
        let stacked = matches!(plan.view, RootView::Stack(_));
        // On a stacked root the upper directory is made in the store, so that once
        // snapshotted it becomes the layer's store directory by a rename.
        let keeper = match (&self.store, stacked) {
            (Some(store), true) => Some((Arc::clone(store), store.scratch_dir()?)),
            _ => None,
        };
        let upper_parent = keeper
            .as_ref()
            .map_or(plan.scratch.as_path(), |(_, dir)| dir.path());
        let upper = upper_parent.join("upper");
        let work = upper_parent.join("work");
        let merged = plan.scratch.join("merged");
        for dir in [&upper, &work, &merged] {
            std::fs::create_dir(dir).map_err(|e| anyhow!("creating {}: {e}", dir.display()))?;
        }
        let (spec, created) = plan.spec_on(
            state,
            Root::Overlay {
                lowers: plan.lowers.clone(),
                upper: upper.clone(),
                work,
                merged,
            },
            &plan.view,
        )?;
        match run_step::execute(&spec, &self.setup.run.masker).await {
            Ok(None) => {
                self.snapshotter = Snapshotter::Overlay;
                let started = std::time::Instant::now();
                let excl = run_step::exclusions(
                    state,
                    &self.setup.run.ignore,
                    created,
                    &plan.mounts.targets,
                );
                let changes = {
                    let (upper, lower) = (upper.clone(), plan.view.clone());
                    tokio::task::spawn_blocking(move || {
                        match &lower {
                            RootView::Dir(dir) => snapshot::links::complete_groups(
                                &upper,
                                &snapshot::links::flat_lookup(dir),
                            )?,
                            RootView::Stack(stack) => {
                                snapshot::links::complete_groups(&upper, &|rel| stack.lookup(rel))?
                            }
                        };
                        snapshot::from_upper(&upper)
                            .map(|c| excl.filter(c, &upper, &|rel| lower.owned(rel)))
                    })
                    .await
                    .map_err(|e| anyhow!("reading the overlay: {e}"))?
                    .map_err(|e| anyhow!("reading the overlay's upper directory: {e}"))?
                };
                let apply_to = (!stacked).then_some(plan.root_dir.as_path());
                let size = self
                    .commit_changes(state, text, &upper, &changes, apply_to)
                    .await?;
                let count = changes.len();
                if let (Some((store, _)), Some(_)) = (&keeper, size) {
                    self.keep_upper(state, store, &upper, changes).await;
                }
                tracing::debug!(
                    changes = count,
                    seconds = started.elapsed().as_secs_f64(),
                    "overlay snapshot"
                );
                let _ = std::fs::remove_dir_all(&plan.scratch);
                return Ok(Some(size));
            }
            Ok(Some(SetupError::Overlay(reason))) if self.snapshotter == Snapshotter::Auto => {
                tracing::warn!(
                    "overlay is not available ({reason}); snapshots walk the whole stage root"
                );
                self.snapshotter = Snapshotter::Walk;
                let _ = std::fs::remove_dir_all(&plan.scratch);
                std::fs::create_dir_all(&plan.scratch)
                    .map_err(|e| anyhow!("creating {}: {e}", plan.scratch.display()))?;
                if stacked {
                    // The walk needs the filesystem in one directory.
                    self.discard_stage_root();
                    self.ensure_stage_root(state).await?;
                }
            }
            Ok(Some(e)) => {
                let _ = std::fs::remove_dir_all(&plan.scratch);
                bail!(e)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&plan.scratch);
                return Err(e);
            }
        }
        Ok(None)
    }

    /// Makes the upper directory of the RUN that wrote the image's top layer (from
    /// `changes`) that layer's store directory, and stacks the stage root on it: the next RUN
    /// neither unpacks the layer from its tar nor waits for the upper directory's removal.
    /// When it cannot, the layer is unpacked from its tar when next needed, as for a COPY.
    async fn keep_upper(
        &mut self,
        state: &StageState,
        store: &Arc<Store>,
        upper: &Path,
        changes: Vec<Change>,
    ) {
        let Some(root) = self.stage_root.as_mut() else {
            return;
        };
        let layers = state.image.layers.len();
        if root.stacked.is_none() || root.applied.saturating_add(1) != layers {
            return;
        }
        let chain =
            match crate::store::chain_ids(state.image.layers.iter().map(|l| l.diff_id.as_str())) {
                Ok(chains) => chains.last().cloned(),
                Err(_) => None,
            };
        let Some(chain) = chain else {
            return;
        };
        let reproducible = self.setup.layer.reproducible;
        let (store, upper) = (Arc::clone(store), upper.to_path_buf());
        let adopted = tokio::task::spawn_blocking(move || {
            store.adopt(&chain, &upper, &changes, reproducible)
        })
        .await
        .map_err(|e| anyhow!("{e}"))
        .and_then(|r| r);
        match (adopted, root.stacked.as_mut()) {
            (Ok(adopted), Some(stacked)) => {
                stacked.push(adopted.layer());
                root.applied = layers;
            }
            (Err(e), _) => tracing::warn!(
                "keeping the RUN's layer in the store: {e:#}; it is unpacked from its tar when \
                 next needed"
            ),
            (Ok(_), None) => {}
        }
    }

    /// A RUN on the stage root itself, its change found by scans before and after.
    async fn run_walk(
        &mut self,
        state: &mut StageState,
        plan: &RunPlan<'_>,
        text: &str,
    ) -> Result<Option<u64>> {
        // After an overlay that failed on a stacked root, the root is now one directory.
        let root_dir = match self.stage_root.as_ref() {
            Some(root) if root.stacked.is_none() => root.dir.clone(),
            _ => bail!("the stage root for the walk snapshotter is not one directory"),
        };
        let view = RootView::Dir(root_dir.clone());
        let (spec, created) = plan.spec_on(
            state,
            Root::Direct {
                dir: root_dir.clone(),
            },
            &view,
        )?;
        let compare = self.setup.run.compare;
        let excl = run_step::exclusions(
            state,
            &self.setup.run.ignore,
            created.clone(),
            &plan.mounts.targets,
        );
        let scan_started = std::time::Instant::now();
        let before = {
            let (dir, excl) = (root_dir.clone(), excl.clone());
            tokio::task::spawn_blocking(move || snapshot_scan(&dir, &excl, compare))
                .await
                .map_err(|e| anyhow!("scanning the stage root: {e}"))??
        };
        let before_seconds = scan_started.elapsed().as_secs_f64();
        let outcome = run_step::execute(&spec, &self.setup.run.masker).await;
        let started = std::time::Instant::now();
        let after = {
            let (dir, excl) = (root_dir.clone(), excl.clone());
            tokio::task::spawn_blocking(move || snapshot_scan(&dir, &excl, compare))
                .await
                .map_err(|e| anyhow!("scanning the stage root: {e}"))??
        };
        let changes = excl.filter(before.diff(&after), &root_dir, &|rel| before.meta(rel));
        let result = match outcome {
            Ok(None) => {
                self.commit_changes(state, text, &root_dir, &changes, None)
                    .await
            }
            Ok(Some(e)) => Err(anyhow!(e)),
            Err(e) => Err(e),
        };
        run_step::remove_created(&root_dir, &plan.mounts.created);
        run_step::remove_created(&root_dir, &created);
        let _ = std::fs::remove_dir_all(&plan.scratch);
        tracing::debug!(
            paths = after.len(),
            changes = changes.len(),
            seconds = started.elapsed().as_secs_f64(),
            before_seconds,
            "walk snapshot"
        );
        result
    }

    /// The current stage's root brought up to date: stacked on the layer store when there is
    /// one and overlay snapshots may be used, else one directory (as the walk needs). A
    /// failure other than a bound of the build is tried again `--image-fs-extract-retry`
    /// times (Kaniko's flag), from a fresh root.
    async fn ensure_stage_root(&mut self, state: &StageState) -> Result<()> {
        let policy =
            RetryPolicy::default().with_attempts(self.setup.fs_extract_retry.saturating_add(1));
        let mut retrying = policy.start("extracting the stage's filesystem");
        loop {
            match self.ensure_stage_root_once(state).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.discard_stage_root();
                    if crate::unpack::is_limit(&e) || !retrying.again(&format!("{e:#}")).await {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// One attempt of [`Self::ensure_stage_root`].
    async fn ensure_stage_root_once(&mut self, state: &StageState) -> Result<()> {
        let tmp = self.setup.tmp.to_path_buf();
        let deep = state.image.layers.len() > crate::store::MAX_STACK;
        if deep
            && self
                .stage_root
                .as_ref()
                .is_some_and(|r| r.stacked.is_some())
        {
            tracing::info!("the stage has more layers than a stack takes; its root is unpacked");
            self.discard_stage_root();
        }
        if let Some(root) = self.stage_root.as_mut() {
            return match (&root.stacked, &self.store) {
                (Some(_), Some(store)) => {
                    run_step::catch_up_stacked(root, state, &self.blobs, store).await
                }
                _ => run_step::catch_up(root, state, &self.blobs).await,
            };
        }
        if let Some(store) = self
            .store
            .as_ref()
            .filter(|_| self.snapshotter != Snapshotter::Walk && !deep)
        {
            match run_step::new_stacked_root(&tmp, state, &self.blobs, store).await {
                Ok(root) => {
                    self.stage_root = Some(root);
                    return Ok(());
                }
                Err(e) if crate::store::is_final(&e) => return Err(e),
                Err(e) => tracing::warn!(
                    "the layer store cannot hold this stage's layers ({e:#}); the stage root is \
                     unpacked into a directory of its own"
                ),
            }
        }
        self.stage_root = Some(run_step::new_root(&tmp, state, &self.blobs).await?);
        Ok(())
    }

    /// Writes `changes` (read from `source`) as the step's layer, moves an overlay's change
    /// into the stage root (`apply_to`; a stacked root takes the layer from the store on the
    /// next RUN), and keeps what the executor knows current.
    async fn commit_changes(
        &mut self,
        state: &mut StageState,
        text: &str,
        source: &Path,
        changes: &[Change],
        apply_to: Option<&Path>,
    ) -> Result<Option<u64>> {
        let reproducible = self.setup.layer.reproducible;
        let Some((layer, entries)) =
            run_step::layer_of(self.setup.tmp, self.setup.layer, source, changes)?
        else {
            push_history(state, history(text, true, reproducible)?);
            return Ok(None);
        };
        if let Some(lower) = apply_to {
            snapshot::apply_upper(source, lower, changes)
                .map_err(|e| anyhow!("moving the change into the stage root: {e}"))?;
        }
        let size = layer.descriptor.size;
        state.image.push_layer(layer);
        push_history(state, history(text, false, reproducible)?);
        // A stacked root takes the new layer from the store when a later RUN needs it; until
        // then the root is read with the step's upper directory (`source`) on top.
        let view: Option<RootView> = self.stage_root.as_mut().map(|root| {
            if root.stacked.is_none() {
                root.applied = state.image.layers.len();
                return root.view();
            }
            let mut lowers = vec![source.to_path_buf()];
            lowers.extend(root.lowers());
            RootView::Stack(crate::store::stack::Stack::new(lowers))
        });
        let read = |path: &str| {
            view.as_ref()
                .and_then(|view| run_step::read_in_root(view, path))
        };
        state.fs.record(&entries, &read);
        // The users files may have changed: read them again when next needed.
        if entries.iter().any(|e| e.path.starts_with("etc")) {
            for small in crate::stage::SMALL_FILES {
                if let Some(text) = read(small) {
                    state.fs.small.insert(small.to_string(), text);
                }
            }
        }
        Ok(Some(size))
    }

    /// The stage's one layer under `--single-snapshot`: everything that differs from the
    /// scan taken when the stage started.
    pub(crate) async fn single_snapshot(
        &mut self,
        state: &mut StageState,
        index: usize,
    ) -> Result<()> {
        let Some(root) = self.stage_root.as_mut() else {
            return Ok(());
        };
        let Some(before) = root.single.take() else {
            return Ok(());
        };
        let dir = root.dir.clone();
        let excl = run_step::exclusions(state, &self.setup.run.ignore, Vec::new(), &[]);
        let compare = self.setup.run.compare;
        let after = {
            let (dir, excl) = (dir.clone(), excl.clone());
            tokio::task::spawn_blocking(move || snapshot_scan(&dir, &excl, compare))
                .await
                .map_err(|e| anyhow!("scanning the stage root: {e}"))??
        };
        let changes = excl.filter(before.diff(&after), &dir, &|rel| before.meta(rel));
        let text = format!("single snapshot of stage {index}");
        self.commit_changes(state, &text, &dir, &changes, None)
            .await?;
        Ok(())
    }
}
