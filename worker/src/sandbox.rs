// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The RUN sandbox, parent side: describes one command run ([`Spec`]) and runs it in a
//! helper process (`worker __sandbox <spec>`, the same binary; see [`helper`]) that puts it in
//! new user, mount, pid, ipc and uts namespaces (and a new network namespace for
//! `--network=none`), with the stage's root filesystem as its root. Output streams back line
//! by line, bounded ([`output`]); the outcome (exit code, signal, or a setup error) comes back
//! in a result file.
//!
//! The root is either an overlay (the stage root as the lower directory, an empty upper
//! directory that ends up holding exactly what the command changed) or the stage root itself
//! (the full-walk snapshotter). The helper never follows a symlink of the image when it
//! mounts: mount targets are resolved inside the root by the parent ([`resolve_targets`]) and
//! opened with `O_NOFOLLOW` by the helper. `RUN --mount`s come prepared ([`Mount`]): sources
//! to bind (read-only, or with the writes thrown away), each a path resolved inside its own
//! root and opened there again by the helper ([`Source`]), and tmpfs.
//!
//! The command cannot undo any of it: it runs in a user and mount namespace below the one
//! that made the mounts (so they are locked), in a session of its own with a new session
//! keyring, with Docker's default capabilities (`caps`), `no_new_privs` and Docker's default
//! seccomp profile (`seccomp`, data in `seccomp.json`).

mod caps;
pub mod helper;
mod mountinfo;
mod mounts;
pub mod output;
mod seccomp;
mod sys;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};

use crate::store::stack::RootView;

/// The hidden subcommand the worker binary runs the helper under.
pub const HELPER_ARG: &str = "__sandbox";

/// Files the sandbox provides and never captures.
pub const PROVIDED_FILES: [&str; 3] = ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"];

/// Directories the sandbox mounts over and never captures.
pub const PSEUDO_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The host name commands see.
pub const HOSTNAME: &str = "kaniko";

/// The command's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Network {
    /// The host's network (the default, as Kaniko and `buildah --network host`).
    #[default]
    Host,
    /// A new network namespace with only loopback.
    None,
}

impl Network {
    /// Parses `host`, `none` or `default` (host), as `RUN --network=` and `--network` take.
    pub fn parse(text: &str) -> Result<Network, String> {
        match text {
            "host" | "default" | "" => Ok(Network::Host),
            "none" => Ok(Network::None),
            other => Err(format!(
                "unsupported network {other:?}: expected host, none or default"
            )),
        }
    }
}

/// How the root filesystem is assembled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Root {
    /// An overlay: `lowers` read-only, changes go to `upper`; mounted at `merged`.
    Overlay {
        /// The stage root: one directory, or a stack of layer directories, top first.
        lowers: Vec<PathBuf>,
        /// Empty before the run; holds the change after it.
        upper: PathBuf,
        /// Overlay's work directory (same filesystem as `upper`).
        work: PathBuf,
        /// Where the overlay is mounted.
        merged: PathBuf,
    },
    /// The stage root itself, changed in place.
    Direct {
        /// The stage root.
        dir: PathBuf,
    },
}

impl Root {
    /// The directory whose content is the root before the run.
    pub fn base(&self) -> &Path {
        match self {
            Root::Overlay { lowers, .. } => lowers.first().map_or(Path::new("/"), |p| p),
            Root::Direct { dir } => dir,
        }
    }
}

/// A file or directory mounted into the root: `target` is root-relative and already resolved
/// inside the root (no symlink on the way).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// Root-relative, resolved.
    pub rel: PathBuf,
    /// A directory (else a file).
    pub dir: bool,
}

/// A `RUN --mount` in the root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mount {
    /// Where, resolved inside the root (created when missing).
    pub target: Target,
    /// What.
    pub kind: MountKind,
}

/// What a mount takes: `rel` inside the directory `root` (the build context, a stage or image
/// root, a cache directory, the build's scratch directory). `rel` was resolved inside `root`
/// by the parent; the helper opens it with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
/// relative to `root`, so a symlink swapped in since (another build sharing a cache) still
/// cannot lead it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// A directory of the worker.
    pub root: PathBuf,
    /// Below it, resolved (empty: the root itself).
    pub rel: PathBuf,
}

/// What a `RUN --mount` mounts. Every bind and overlay is `nodev` (a device node of a context
/// or an image is inert).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MountKind {
    /// A file or directory, read-only when asked.
    Bind {
        /// What.
        source: Source,
        /// Mounted read-only.
        readonly: bool,
        /// Mounted `nosuid` (caches: a setuid file one build leaves never runs setuid in the
        /// next).
        nosuid: bool,
    },
    /// A directory the command may write to without changing it: an overlay with the
    /// directory as its lower layer and `scratch/upper` as the upper one, or a copy in
    /// `scratch/upper` where overlay cannot be mounted. Thrown away after the run.
    Discard {
        /// The directory.
        source: Source,
        /// An empty directory for the writes.
        scratch: PathBuf,
    },
    /// An empty tmpfs, `size` bytes at most.
    Tmpfs {
        /// The size limit.
        size: Option<u64>,
    },
}

/// One command run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// The root filesystem.
    pub root: Root,
    /// The command and its arguments (`argv[0]` is looked up in the command's `PATH`).
    pub argv: Vec<String>,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    /// Working directory inside the root.
    pub cwd: String,
    /// User the command runs as.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Network.
    pub network: Network,
    /// Host name.
    pub hostname: String,
    /// `/proc`, `/sys`, `/dev` mount points, resolved.
    pub pseudo: Vec<(String, Target)>,
    /// Provided files: (host file, resolved target).
    pub provided: Vec<(PathBuf, Target)>,
    /// `RUN --mount`s, parents before children.
    pub mounts: Vec<Mount>,
    /// Secrets exposed as environment variables: (name, file holding the value). The helper
    /// reads the files; the values are never written into the spec.
    pub secret_env: Vec<(String, PathBuf)>,
    /// Where the helper writes the [`Outcome`].
    pub result: PathBuf,
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// The sandbox could not be set up (the command never ran).
    Setup(SetupError),
}

/// Why the sandbox could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SetupError {
    /// No user namespace could be made.
    #[error(
        "cannot create a user namespace ({0}): RUN needs user namespaces; enable them \
         (sysctl user.max_user_namespaces > 0, and kernel.unprivileged_userns_clone=1 where \
         that sysctl exists), or run the worker as root"
    )]
    UserNamespace(String),
    /// The overlay could not be mounted (the caller falls back to the full walk).
    #[error("cannot mount the overlay: {0}")]
    Overlay(String),
    /// Anything else (named).
    #[error("{0}")]
    Other(String),
}

/// Why a run failed before producing an outcome.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The helper could not be started or its result read.
    #[error("RUN sandbox: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// Resolves `path` (absolute, inside the root) without following any symlink out of it; the
/// target exists afterwards only if it existed before (the helper creates missing ones).
pub fn resolve_target(root: &RootView, path: &str, dir: bool) -> std::io::Result<Target> {
    let rel = root.resolve(Path::new(path), true)?;
    Ok(Target { rel, dir })
}

/// `/proc`, `/sys`, `/dev` targets; provided files (source, target); paths that must be
/// created for them.
pub type MountPoints = (Vec<(String, Target)>, Vec<(PathBuf, Target)>, Vec<PathBuf>);

/// The pseudo filesystems' and provided files' targets in `root`, and which of them (and of
/// their parents) do not exist yet: the helper creates those, the snapshot leaves them out.
pub fn resolve_targets(
    root: &RootView,
    provided_sources: &[PathBuf; 3],
) -> std::io::Result<MountPoints> {
    let mut created = Vec::new();
    let mut note_missing = |rel: &Path| {
        let mut acc = PathBuf::new();
        for part in rel.components() {
            acc.push(part);
            if root.metadata(&acc).is_none() && !created.contains(&acc) {
                created.push(acc.clone());
            }
        }
    };
    let mut pseudo = Vec::new();
    for dir in PSEUDO_DIRS {
        let target = resolve_target(root, dir, true)?;
        note_missing(&target.rel);
        pseudo.push((dir.to_string(), target));
    }
    let mut provided = Vec::new();
    for (source, path) in provided_sources.iter().zip(PROVIDED_FILES) {
        let target = resolve_target(root, path, false)?;
        note_missing(&target.rel);
        provided.push((source.clone(), target));
    }
    Ok((pseudo, provided, created))
}

/// Writes the files the sandbox provides (`resolv.conf` from the host, `hosts`, `hostname`)
/// into `dir`; returns their paths in [`PROVIDED_FILES`] order.
pub fn write_provided_files(dir: &Path, hostname: &str) -> std::io::Result<[PathBuf; 3]> {
    std::fs::create_dir_all(dir)?;
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    );
    let files = [
        (dir.join("resolv.conf"), resolv),
        (dir.join("hosts"), hosts),
        (dir.join("hostname"), format!("{hostname}\n")),
    ];
    for (path, content) in &files {
        std::fs::write(path, content)?;
    }
    let [a, b, c] = files;
    Ok([a.0, b.0, c.0])
}

/// The binary the helper runs from: `KANIKO_SANDBOX_HELPER` when set (a program that embeds
/// the worker library under another name, e.g. a test), else this executable, whose `main`
/// must call [`helper::main_if_asked`] (`worker` and `coordinator` do).
pub fn helper_binary() -> std::io::Result<PathBuf> {
    match std::env::var_os("KANIKO_SANDBOX_HELPER") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => std::env::current_exe(),
    }
}

/// Runs `spec` in the sandbox; every line the command prints goes to `log`, cut at 16 KiB
/// and clipped at 2 MiB per run ([`output`]).
pub async fn run(
    spec: &Spec,
    log: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Outcome, SandboxError> {
    let spec_path = spec.result.with_extension("spec.json");
    let text = serde_json::to_vec(spec).map_err(|e| SandboxError::Io {
        what: "encoding the sandbox spec".into(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&spec_path, text).map_err(io(format!("writing {}", spec_path.display())))?;
    let _ = std::fs::remove_file(&spec.result);
    let exe = helper_binary().map_err(io("locating the worker binary"))?;
    let mut child = tokio::process::Command::new(exe)
        .arg(HELPER_ARG)
        .arg(&spec_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io("starting the sandbox helper"))?;
    let log = std::sync::Arc::new(log);
    let budget = output::Budget::new(output::MAX_STEP_OUTPUT);
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(pump(out, &budget, &log));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(pump(err, &budget, &log));
    }
    let status = child.wait().await.map_err(io("waiting for the sandbox"))?;
    for pump in pumps {
        let _ = pump.await;
    }
    let _ = std::fs::remove_file(&spec_path);
    let outcome = match std::fs::read(&spec.result) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SandboxError::Io {
            what: format!("reading {}", spec.result.display()),
            source: std::io::Error::other(e),
        })?,
        Err(_) => Outcome::Setup(SetupError::Other(format!(
            "the sandbox helper ended ({status}) without a result"
        ))),
    };
    let _ = std::fs::remove_file(&spec.result);
    Ok(outcome)
}

/// Reads one of the command's streams to its end on a task of its own, logging its lines
/// within the step's output budget ([`output`]).
fn pump<R>(
    reader: R,
    budget: &std::sync::Arc<output::Budget>,
    log: &std::sync::Arc<impl Fn(&str) + Send + Sync + 'static>,
) -> tokio::task::JoinHandle<()>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(output::pump(
        reader,
        std::sync::Arc::clone(budget),
        std::sync::Arc::clone(log),
    ))
}
