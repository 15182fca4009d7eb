// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! RUN, one module next to [`crate::sandbox`] (where the command runs) and
//! [`crate::snapshot`] (what it changed): the stage root on disk ([`StageRoot`]: the base
//! unpacked on the first RUN, kept up to date with every later layer), the command's identity
//! and environment, the sandbox run, and the snapshot that becomes the step's layer (overlay
//! upper directory when the kernel allows, the full walk otherwise; nothing changed, no
//! layer). `--single-snapshot` runs everything on the stage root itself and takes one walk
//! snapshot when the stage ends.
//!
//! The parts: this file (the stage root, the command's spec, the sandbox run, the layer of a
//! change), [`steps`] (the executor's RUN step and `--single-snapshot` layer), [`mounts`]
//! (`RUN --mount`, with the cache directories in `mounts/caches.rs`) and [`secrets`]
//! (`--secret`: sources, scopes, and the [`secrets::Masker`] of every line a RUN prints).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use kaniko_common::dockerfile::{Command, Run, Scope};
use kaniko_common::platform::Platform;
use kaniko_image::layer::LayerWriter;

use crate::image::{BlobLocation, Layer};
use crate::sandbox::{self, Network, Outcome, Root, SetupError, Spec};
pub use crate::snapshot::Snapshotter;
use crate::snapshot::{self, Change, Exclusions, walk::Scan};
use crate::stage::StageState;
use crate::store::stack::{RootView, Stack};
use crate::store::{Store, StoreLayer};
use crate::unpack::{self, UnpackOptions};
use crate::users::Users;
use secrets::Masker;

pub(crate) mod mounts;
pub(crate) mod secrets;
mod steps;

pub(crate) use mounts::cache_key;
pub(crate) use steps::snapshot_scan;

/// How RUN runs and is snapshotted.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Worker-wide network (`--network`): the ceiling, `RUN --network=none` narrows it.
    pub network: crate::sandbox::Network,
    /// How changes are found.
    pub snapshotter: Snapshotter,
    /// Paths never snapshotted (`--ignore-path`, `/var/run`).
    pub ignore: Vec<PathBuf>,
    /// What the walk compares (`--snapshot-mode`).
    pub compare: snapshot::walk::Compare,
    /// `--single-snapshot`.
    pub single_snapshot: bool,
    /// `--secret`s for `RUN --mount=type=secret`: the ones this build's destinations may
    /// use.
    pub secrets: Vec<secrets::Secret>,
    /// The `--secret`s withheld from this build (out of scope), with the reason: a required
    /// mount of one fails naming it.
    pub withheld_secrets: Vec<(String, String)>,
    /// Masks the values of `secrets` in every line a RUN prints.
    pub masker: secrets::Masker,
    /// `--run-cache-dir`: where `RUN --mount=type=cache` directories persist.
    pub cache_dir: PathBuf,
    /// The directory below `cache_dir` holding this build's caches ([`cache_key`]).
    pub cache_key: String,
}

/// A stage's root filesystem on disk.
pub struct StageRoot {
    /// The directory (owned by `_holder`): the filesystem itself, or (stacked) an empty
    /// directory on top of the store's layers.
    pub dir: PathBuf,
    /// How many of the image's layers it holds.
    pub applied: usize,
    /// The scan at the stage's start (`--single-snapshot`).
    pub single: Option<Scan>,
    /// On the layer store: the image's layers, bottom first, held in use while the stage
    /// root lives; the root is their overlay stack. `None`: `dir` holds the filesystem.
    pub stacked: Option<Vec<StoreLayer>>,
    _holder: tempfile::TempDir,
}

impl StageRoot {
    /// How the RUN code reads the root.
    pub fn view(&self) -> RootView {
        match &self.stacked {
            Some(_) => RootView::Stack(Stack::new(self.lowers())),
            None => RootView::Dir(self.dir.clone()),
        }
    }

    /// The overlay lower directories of the root, top first.
    pub fn lowers(&self) -> Vec<PathBuf> {
        let mut out = vec![self.dir.clone()];
        if let Some(layers) = &self.stacked {
            out.extend(layers.iter().rev().map(|l| l.dir.clone()));
        }
        out
    }
}

/// A new stage root for `state` stacked on the layer store (each of its layers unpacked
/// into the store unless there already).
pub async fn new_stacked_root(
    tmp: &Path,
    state: &StageState,
    blobs: &crate::blobs::BlobStore,
    store: &Arc<Store>,
) -> Result<StageRoot> {
    let mut root = empty_root(tmp)?;
    root.stacked = Some(Vec::new());
    catch_up_stacked(&mut root, state, blobs, store).await?;
    Ok(root)
}

fn empty_root(tmp: &Path) -> Result<StageRoot> {
    let holder = tempfile::Builder::new()
        .prefix("rootfs-")
        .tempdir_in(tmp)
        .context("creating the stage root")?;
    let dir = holder.path().join("root");
    std::fs::create_dir(&dir).context("creating the stage root")?;
    Ok(StageRoot {
        dir,
        applied: 0,
        single: None,
        stacked: None,
        _holder: holder,
    })
}

/// Adds the layers a stacked root does not hold yet (from the store).
pub async fn catch_up_stacked(
    root: &mut StageRoot,
    state: &StageState,
    blobs: &crate::blobs::BlobStore,
    store: &Arc<Store>,
) -> Result<()> {
    if root.applied >= state.image.layers.len() {
        return Ok(());
    }
    let more = store
        .layers(
            &state.image.layers,
            root.applied,
            blobs,
            &blobs.limits().disk,
        )
        .await
        .context("stacking the stage's filesystem for RUN")?;
    match root.stacked.as_mut() {
        Some(layers) => layers.extend(more),
        None => bail!("the stage root is not stacked"),
    }
    root.applied = state.image.layers.len();
    Ok(())
}

/// Whether a stage for `platform` can run commands here.
pub fn check_native(platform: &Platform) -> Result<()> {
    let host = Platform::host();
    if host.compatible(platform) {
        return Ok(());
    }
    bail!(
        "RUN in a stage for {platform} cannot execute on this worker, which is {host}: \
         a native {platform} worker is needed (submit through the coordinator, which routes \
         the stage to one)"
    )
}

/// Whether this process can make the sandbox at all (root, or root of a user namespace).
pub fn check_privileges() -> Result<()> {
    if unpack::is_root() {
        return Ok(());
    }
    bail!(
        "RUN as an unprivileged user needs a user namespace with a subordinate id range: add \
         a range for this user to /etc/subuid and /etc/subgid (e.g. `usermod --add-subuids \
         100000-165535 --add-subgids 100000-165535 $USER`), install newuidmap/newgidmap \
         (Debian: uidmap) and make sure user namespaces are enabled; see docs/rootless.md"
    )
}

/// Unpacks `state`'s layers into a new stage root under `tmp`.
pub async fn new_root(
    tmp: &Path,
    state: &StageState,
    blobs: &crate::blobs::BlobStore,
) -> Result<StageRoot> {
    let mut root = empty_root(tmp)?;
    catch_up(&mut root, state, blobs).await?;
    Ok(root)
}

/// Applies the layers the stage root does not hold yet.
pub async fn catch_up(
    root: &mut StageRoot,
    state: &StageState,
    blobs: &crate::blobs::BlobStore,
) -> Result<()> {
    let layers = state.image.layers.get(root.applied..).unwrap_or_default();
    if layers.is_empty() {
        return Ok(());
    }
    let opts = UnpackOptions {
        preserve_owners: true,
        budget: blobs.limits().disk.clone(),
        ..UnpackOptions::default()
    };
    let started = std::time::Instant::now();
    let stats = unpack::unpack_image(&root.dir, layers, blobs, &opts)
        .await
        .context("unpacking the stage's filesystem for RUN")?;
    tracing::debug!(
        layers = layers.len(),
        entries = stats.entries,
        seconds = started.elapsed().as_secs_f64(),
        "stage root unpacked"
    );
    root.applied = state.image.layers.len();
    Ok(())
}

/// The command line of a RUN: exec form as is; shell form through the stage's shell, with
/// heredocs: a lone heredoc is the script itself, otherwise the shell reads them.
pub fn argv(state: &StageState, run: &Run) -> Vec<String> {
    match &run.command {
        Command::Exec(args) => args.clone(),
        Command::Shell(text) => {
            let mut shell = state.run_config.shell_or_default();
            let lone = run.heredocs.len() == 1 && is_lone_heredoc(text.trim());
            match run.heredocs.first() {
                Some(doc) if lone => shell.push(doc.content.clone()),
                Some(_) => {
                    let mut script = text.clone();
                    for doc in &run.heredocs {
                        script.push('\n');
                        script.push_str(&doc.content);
                        script.push_str(&doc.name);
                    }
                    shell.push(script);
                }
                None => shell.push(text.clone()),
            }
            shell
        }
    }
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"` or `<<'EOF'` and nothing else.
fn is_lone_heredoc(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let word = rest.trim_matches(|c| c == '"' || c == '\'');
    !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a small file of the stage root (resolved inside it).
pub fn read_in_root(root: &RootView, path: &str) -> Option<String> {
    root.read_small(path)
}

/// The sandbox spec of one RUN (identity, environment, directory), for `root`; the caller
/// adds the `--mount`s.
#[allow(clippy::too_many_arguments)]
pub fn spec_for(
    state: &StageState,
    scope: &Scope,
    run: &Run,
    root: Root,
    base: &RootView,
    network: Network,
    files: &[PathBuf; 3],
    result: PathBuf,
) -> Result<(Spec, Vec<PathBuf>)> {
    let passwd = read_in_root(base, "/etc/passwd").unwrap_or_default();
    let group = read_in_root(base, "/etc/group").unwrap_or_default();
    let users = Users::parse(&passwd, &group);
    let user = state.run_config.user.clone();
    let resolved = users
        .resolve_user(&user)
        .map_err(|e| anyhow!("USER {user}: {e}"))?;
    let mut env: Vec<(String, String)> = scope.run_environment();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), crate::base::DEFAULT_PATH.into()));
    }
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".into(), resolved.home.clone()));
    }
    let (pseudo, provided, created) = sandbox::resolve_targets(base, files)
        .context("resolving the sandbox's mount points in the stage root")?;
    let cwd = match state.run_config.working_dir.as_str() {
        "" => "/".to_string(),
        dir => dir.to_string(),
    };
    let network = run_network(network, run.network.as_deref())?;
    if let Some(security) = run.security.as_deref().filter(|s| *s != "sandbox") {
        bail!("RUN --security={security} is not supported: commands always run sandboxed");
    }
    let mut groups = resolved.supplementary_gids.clone();
    if !groups.contains(&resolved.gid) {
        groups.insert(0, resolved.gid);
    }
    Ok((
        Spec {
            root,
            argv: argv(state, run),
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd,
            uid: resolved.uid,
            gid: resolved.gid,
            groups,
            network,
            hostname: sandbox::HOSTNAME.to_string(),
            pseudo,
            provided,
            mounts: Vec::new(),
            secret_env: Vec::new(),
            result,
        },
        created,
    ))
}

/// The network of one RUN: the worker's `--network` is the most a build may use (as
/// BuildKit's `network.host` entitlement); `RUN --network=none` narrows it, and
/// `RUN --network=host` (or `default`) under a worker with `--network none` fails, naming
/// the flag that would allow it.
pub fn run_network(ceiling: Network, requested: Option<&str>) -> Result<Network> {
    let Some(text) = requested else {
        return Ok(ceiling);
    };
    let wanted = Network::parse(text).map_err(|e| anyhow!("RUN --network: {e}"))?;
    if ceiling == Network::None && wanted != Network::None {
        bail!(
            "RUN --network={text} is not allowed: this worker runs RUN with --network none, \
             which a Dockerfile may not widen (start the worker with --network host to allow \
             the host's network)"
        );
    }
    Ok(wanted)
}

/// Runs a spec, turning the outcome into the build's error when the command failed. Every
/// line the command prints is logged with the build's secrets masked (`masker`).
pub async fn execute(spec: &Spec, masker: &Masker) -> Result<Option<SetupError>> {
    let span = tracing::Span::current();
    let masker = masker.clone();
    let log = move |line: &str| {
        let line = masker.mask(line);
        span.in_scope(|| tracing::info!(target: "kaniko::run", "{line}"));
    };
    let outcome = sandbox::run(spec, log).await?;
    let shown = shell_words(&spec.argv);
    match outcome {
        Outcome::Exited(0) => Ok(None),
        Outcome::Exited(code) => {
            bail!("process \"{shown}\" did not complete successfully: exit code: {code}")
        }
        Outcome::Signaled(sig) => {
            bail!("process \"{shown}\" did not complete successfully: killed by signal {sig}")
        }
        Outcome::Setup(e @ SetupError::Overlay(_)) => Ok(Some(e)),
        Outcome::Setup(e) => Err(anyhow!(e).context(format!("RUN sandbox for \"{shown}\""))),
    }
}

fn shell_words(argv: &[String]) -> String {
    argv.join(" ")
}

/// The exclusions of a RUN snapshot: `ignore` plus the stage's VOLUMEs and the `RUN --mount`
/// targets (root-relative), and the mount points the sandbox created.
pub fn exclusions(
    state: &StageState,
    ignore: &[PathBuf],
    created: Vec<PathBuf>,
    mount_targets: &[PathBuf],
) -> Exclusions {
    let volumes = state.run_config.volumes.iter().map(PathBuf::from);
    let targets = mount_targets.iter().cloned();
    Exclusions::new(
        ignore.iter().cloned().chain(volumes).chain(targets),
        created,
    )
}

/// Removes the mount points the sandbox created in a root it ran on directly: an empty
/// directory or empty file still at its place, reached without following any symlink. The
/// command may have replaced a parent with a symlink to anywhere (a host path, or another
/// place in the root); then that mount point is not there any more and nothing is removed.
pub fn remove_created(root: &Path, created: &[PathBuf]) {
    let dir = match unpack::RootDir::open(root) {
        Ok(dir) => dir,
        Err(e) => {
            tracing::warn!(root = %root.display(), error = %e, "mount points not removed");
            return;
        }
    };
    for rel in created.iter().rev() {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            continue;
        };
        let parent = match dir.dir_no_symlinks(parent) {
            Ok(parent) => parent,
            Err(e) => {
                tracing::debug!(path = %rel.display(), error = %e, "mount point left: its parent moved");
                continue;
            }
        };
        match parent.stat(name) {
            Ok(Some(stat)) if stat.is_dir() => {
                let _ = parent.unlink(name, true);
            }
            Ok(Some(stat)) if stat.is_file() && stat.size() == 0 => {
                let _ = parent.unlink(name, false);
            }
            _ => {}
        }
    }
}

/// Writes `changes` (read from `source`) as a layer file; `None` when there are none.
pub fn layer_of(
    tmp: &Path,
    opts: kaniko_image::layer::LayerOptions,
    source: &Path,
    changes: &[Change],
) -> Result<Option<(Layer, Vec<kaniko_image::layer::LayerEntry>)>> {
    if changes.is_empty() {
        return Ok(None);
    }
    let mut writer = LayerWriter::to_temp_file(tmp, opts)
        .with_context(|| format!("creating a layer in {}", tmp.display()))?;
    let entries = snapshot::write_layer(&mut writer, source, changes)
        .context("writing the snapshot layer")?;
    let (file, info) = writer.finish().context("finishing the snapshot layer")?;
    let path = file.into_temp_path();
    Ok(Some((
        Layer {
            descriptor: info.descriptor(),
            diff_id: info.diff_id.clone(),
            location: BlobLocation::File(Arc::new(path)),
        },
        entries,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_network_narrows_the_workers_network_and_never_widens_it() {
        fn check(ceiling: Network, requested: Option<&str>, expected: Result<Network, &str>) {
            let got = run_network(ceiling, requested).map_err(|e| e.to_string());
            match (got, expected) {
                (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{requested:?}"),
                (Err(got), Err(needle)) => assert!(got.contains(needle), "{got}"),
                (got, expected) => panic!("{ceiling:?} {requested:?}: {got:?}, not {expected:?}"),
            }
        }
        check(Network::Host, None, Ok(Network::Host));
        check(Network::Host, Some("none"), Ok(Network::None));
        check(Network::Host, Some("host"), Ok(Network::Host));
        check(Network::Host, Some("default"), Ok(Network::Host));
        check(Network::None, None, Ok(Network::None));
        check(Network::None, Some("none"), Ok(Network::None));
        for widening in ["host", "default", ""] {
            check(
                Network::None,
                Some(widening),
                Err("this worker runs RUN with --network none"),
            );
            check(
                Network::None,
                Some(widening),
                Err("--network host to allow"),
            );
        }
        check(
            Network::Host,
            Some("bridge"),
            Err("unsupported network \"bridge\""),
        );
    }
}
