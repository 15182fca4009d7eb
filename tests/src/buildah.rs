// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! buildah, the reference builder parity tests and benchmarks compare `worker build` with:
//! `buildah bud --isolation chroot --network host` pulling its base from a loopback registry
//! into private storage in a temporary directory, then `buildah push` to a destination, with
//! the pushed digest read from `--digestfile`. The storage is removed when the [`Buildah`] is
//! dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::tree::remove_dir_all_force;

/// Why a buildah run failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildahError {
    /// The `buildah` binary could not be started.
    #[error("cannot run buildah (hack/deps.sh installs it): {0}")]
    NotInstalled(#[source] std::io::Error),
    /// A buildah command exited non-zero; carries its stderr.
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        /// The command line, as run.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// Setting up or reading the storage or the digest file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory at fault.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The digest file did not hold a digest.
    #[error("buildah wrote no digest to {path}: {content:?}")]
    NoDigest {
        /// The digest file.
        path: PathBuf,
        /// What it held.
        content: String,
    },
}

/// The image format buildah writes (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageFormat {
    /// OCI manifest and config (buildah's default).
    #[default]
    Oci,
    /// Docker schema 2 manifest and config.
    Docker,
}

impl ImageFormat {
    fn flag(self) -> &'static str {
        match self {
            ImageFormat::Oci => "oci",
            ImageFormat::Docker => "docker",
        }
    }
}

/// The storage driver of buildah's private storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageDriver {
    /// Kernel overlayfs: what buildah uses in production; needs root and `overlay` in
    /// `/proc/filesystems`.
    Overlay,
    /// Plain copies: works everywhere, slower on large layers.
    Vfs,
}

impl StorageDriver {
    /// Overlay when this process is root and the kernel has overlayfs, otherwise vfs.
    pub fn detect() -> StorageDriver {
        let overlay = std::fs::read_to_string("/proc/filesystems")
            .map(|list| {
                list.lines()
                    .any(|l| l.split_whitespace().last() == Some("overlay"))
            })
            .unwrap_or(false);
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        if overlay && root {
            StorageDriver::Overlay
        } else {
            StorageDriver::Vfs
        }
    }

    fn flag(self) -> &'static str {
        match self {
            StorageDriver::Overlay => "overlay",
            StorageDriver::Vfs => "vfs",
        }
    }
}

/// What to build and where to push it.
#[derive(Debug, Clone, Default)]
pub struct BuildahOptions {
    /// `--build-arg KEY=VALUE`, in order.
    pub build_args: Vec<(String, String)>,
    /// `--target <stage>`.
    pub target: Option<String>,
    /// `--platform os/arch[/variant]`; the host's when unset.
    pub platform: Option<String>,
    /// `--format oci|docker`.
    pub format: ImageFormat,
    /// Where to push: `<host>/<repository>:<tag>` (plain HTTP, TLS verification off).
    pub destination: String,
    /// `--secret` values (`id=NAME,src=PATH`), in order.
    pub secrets: Vec<String>,
    /// `--layers=true`: each step's result kept in the storage and reused by the next build
    /// of the same steps (buildah's cache); off by default.
    pub layers: bool,
}

/// A build pushed by buildah.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildahResult {
    /// The destination, as pushed (`<host>/<repository>:<tag>`).
    pub reference: String,
    /// The pushed manifest's digest (`sha256:...`).
    pub digest: String,
    /// How long `buildah bud` took.
    pub build_time: Duration,
    /// How long `buildah push` took.
    pub push_time: Duration,
}

impl BuildahResult {
    /// `<repository>@<digest>` without the tag: the exact image pushed.
    pub fn by_digest(&self) -> String {
        let repository = strip_tag(&self.reference);
        format!("{repository}@{}", self.digest)
    }
}

/// `host/repo:tag` → `host/repo` (a port's colon is kept).
fn strip_tag(reference: &str) -> &str {
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference
        .get(name_start..)
        .and_then(|name| name.rfind(':'))
        .and_then(|i| name_start.checked_add(i))
    {
        Some(colon) => reference.get(..colon).unwrap_or(reference),
        None => reference,
    }
}

/// buildah with private storage (`--root`, `--runroot`) in a temporary directory.
pub struct Buildah {
    dir: Option<tempfile::TempDir>,
    driver: StorageDriver,
    built: std::cell::Cell<u32>,
}

impl Buildah {
    /// Private storage with the [`StorageDriver::detect`]ed driver.
    pub fn new() -> Result<Buildah, BuildahError> {
        Buildah::with_driver(StorageDriver::detect())
    }

    /// Private storage with `driver`.
    pub fn with_driver(driver: StorageDriver) -> Result<Buildah, BuildahError> {
        let dir = tempfile::Builder::new()
            .prefix("kaniko-buildah-")
            .tempdir()
            .map_err(|source| BuildahError::Io {
                what: "creating buildah storage in",
                path: std::env::temp_dir(),
                source,
            })?;
        Ok(Buildah {
            dir: Some(dir),
            driver,
            built: std::cell::Cell::new(0),
        })
    }

    /// The storage driver in use.
    pub fn driver(&self) -> StorageDriver {
        self.driver
    }

    /// The directory holding the storage; removed on drop.
    pub fn storage_dir(&self) -> &Path {
        self.dir()
    }

    fn dir(&self) -> &Path {
        // The directory is only taken out in `drop`.
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// `buildah` with the global storage flags.
    fn command(&self) -> Command {
        storage_command(self.dir(), self.driver)
    }

    /// Builds `dockerfile` with `context` (`buildah bud`), then pushes the image to
    /// `opts.destination` (`buildah push`), returning the pushed digest.
    pub fn build(
        &self,
        context: &Path,
        dockerfile: &Path,
        opts: &BuildahOptions,
    ) -> Result<BuildahResult, BuildahError> {
        let n = self.built.get() + 1;
        self.built.set(n);
        let local = format!("localhost/kaniko-parity/build:{n}");

        let mut bud = self.command();
        bud.args(["bud", "--isolation", "chroot", "--network", "host"])
            .arg(format!("--layers={}", opts.layers))
            .args(["--tls-verify=false", "--pull"])
            .args(["--format", opts.format.flag()])
            .arg("--file")
            .arg(dockerfile)
            .args(["--tag", &local]);
        for (key, value) in &opts.build_args {
            bud.arg("--build-arg").arg(format!("{key}={value}"));
        }
        if let Some(target) = &opts.target {
            bud.args(["--target", target]);
        }
        if let Some(platform) = &opts.platform {
            bud.args(["--platform", platform]);
        }
        for secret in &opts.secrets {
            bud.arg("--secret").arg(secret);
        }
        bud.arg(context);
        let started = Instant::now();
        run(bud)?;
        let build_time = started.elapsed();

        let digest_file = self.dir().join(format!("digest-{n}"));
        let mut push = self.command();
        push.args(["push", "--tls-verify=false", "--digestfile"])
            .arg(&digest_file)
            .args(["--format", opts.format.flag()])
            .arg(&local)
            .arg(format!("docker://{}", opts.destination));
        let started = Instant::now();
        run(push)?;
        let push_time = started.elapsed();

        let content = std::fs::read_to_string(&digest_file).map_err(|source| BuildahError::Io {
            what: "reading the digest file",
            path: digest_file.clone(),
            source,
        })?;
        let digest = content.trim();
        if !digest.starts_with("sha256:") {
            return Err(BuildahError::NoDigest {
                path: digest_file,
                content: content.clone(),
            });
        }
        Ok(BuildahResult {
            reference: opts.destination.clone(),
            digest: digest.to_string(),
            build_time,
            push_time,
        })
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        // Containers first, then images: releases buildah's own mounts.
        for args in [&["rm", "--all"][..], &["rmi", "--all", "--force"][..]] {
            let mut command = storage_command(dir.path(), self.driver);
            command.args(args);
            if let Err(err) = run(command) {
                tracing::debug!("cleaning buildah storage: {err}");
            }
        }
        unmount_under(dir.path());
        let path = dir.keep();
        if let Err(err) = remove_dir_all_force(&path) {
            tracing::warn!("removing buildah storage {}: {err}", path.display());
        }
    }
}

/// `buildah --root <dir>/root --runroot <dir>/runroot --storage-driver <driver>`.
fn storage_command(dir: &Path, driver: StorageDriver) -> Command {
    let mut command = Command::new("buildah");
    command
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("runroot"))
        .args(["--storage-driver", driver.flag()]);
    command
}

/// Unmounts (lazily) whatever is still mounted under `dir`, deepest first.
pub(crate) fn unmount_under(dir: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut mounts: Vec<&str> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| Path::new(point).starts_with(dir))
        .collect();
    mounts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in mounts {
        let mut umount = Command::new("umount");
        umount.args(["-l", point]);
        if let Err(err) = run(umount) {
            tracing::warn!("unmounting {point}: {err}");
        }
    }
}

/// Runs a buildah command, mapping a failure to [`BuildahError`] with its stderr.
fn run(mut command: Command) -> Result<Vec<u8>, BuildahError> {
    let shown = shown(&command);
    tracing::debug!("running {shown}");
    let output = command.output().map_err(BuildahError::NotInstalled)?;
    if !output.status.success() {
        return Err(BuildahError::Failed {
            command: shown,
            status: output.status,
            stderr: crate::process::tail(String::from_utf8_lossy(&output.stderr).trim(), 30),
        });
    }
    Ok(output.stdout)
}

/// `program arg arg ...`, for messages.
fn shown(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_stripped_but_ports_are_kept() {
        fn check(input: &str, expected: &str) {
            assert_eq!(strip_tag(input), expected, "{input}");
        }
        check("127.0.0.1:5000/app:1", "127.0.0.1:5000/app");
        check("127.0.0.1:5000/a/b:latest", "127.0.0.1:5000/a/b");
        check("127.0.0.1:5000/app", "127.0.0.1:5000/app");
        check("app:1", "app");
    }

    #[test]
    fn by_digest_names_the_repository_and_digest() {
        let result = BuildahResult {
            reference: "127.0.0.1:5000/parity/x:1".into(),
            digest: "sha256:ab".into(),
            build_time: Duration::ZERO,
            push_time: Duration::ZERO,
        };
        assert_eq!(result.by_digest(), "127.0.0.1:5000/parity/x@sha256:ab");
    }

    #[test]
    fn a_failing_command_carries_its_stderr() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'no such image' >&2; exit 125"]);
        let err = run(command).unwrap_err().to_string();
        assert!(err.contains("no such image"), "{err}");
        assert!(err.starts_with("sh -c"), "{err}");
    }
}
