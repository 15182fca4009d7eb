// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The request API on `kaniko.api.<verb>`: build requests and their replies, build and
//! platform states, and what a worker says about itself. JSON for other services, bincode for
//! our own CLI; platforms are written as `os/arch[/variant]` strings in both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::WireError;
use super::event::TagPush;
use crate::oci::{Compression, Descriptor};
use crate::platform::Platform;

/// A build context stored in the contexts object store: a tarball named by its sha256.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContextRef {
    /// The sha256 of the tarball, 64 lowercase hex digits (no `sha256:` prefix).
    pub sha256: String,
    /// The tarball's size in bytes.
    pub size: u64,
}

impl ContextRef {
    /// The object's name in the contexts object store: `sha256:<hex>`. Uploader and worker
    /// both derive it here, so a context is uploaded once and reused.
    pub fn object_name(&self) -> String {
        format!("sha256:{}", self.sha256)
    }

    /// Checks that `sha256` is 64 lowercase hex digits.
    pub fn validate(&self) -> Result<(), WireError> {
        let hex_ok = self.sha256.len() == 64
            && self
                .sha256
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if hex_ok {
            Ok(())
        } else {
            Err(WireError::refused(format!(
                "context sha256 {:?} is not 64 lowercase hex digits",
                self.sha256
            )))
        }
    }
}

/// Which manifest and index media types a build asks for (`--oci-mode oci|docker|auto`). The
/// media types of one image are [`crate::oci::RequestedOciMode`]; `auto` is resolved per image by the
/// worker (follow the base) and per index by [`crate::index::IndexFormat::auto_for`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestedOciMode {
    /// OCI manifests and an OCI image index (the default).
    #[default]
    Oci,
    /// Docker schema 2 manifests and a Docker manifest list.
    Docker,
    /// Follow the children: a Docker list only when every child is Docker-typed.
    Auto,
}

fn default_dockerfile() -> String {
    "Dockerfile".to_string()
}

fn yes() -> bool {
    true
}

/// A multi-platform build request (`kaniko.api.submit`). Only `context`, `platforms` and
/// `destinations` are required in JSON; unknown fields are refused so that a misspelt option
/// is not silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildRequest {
    /// The build context, already uploaded to the contexts object store.
    pub context: ContextRef,
    /// The Dockerfile's path inside the context (default `Dockerfile`).
    #[serde(default = "default_dockerfile")]
    pub dockerfile: String,
    /// The platforms to build, as `os/arch[/variant]` strings in JSON; normalised on decode.
    #[serde(with = "crate::platform::as_string_list")]
    pub platforms: Vec<Platform>,
    /// The references (`registry/repo:tag`) the index is pushed under.
    pub destinations: Vec<String>,
    /// `--build-arg` values.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// The stage to stop at (`--target`).
    #[serde(default)]
    pub target: Option<String>,
    /// Labels added to every platform's image config.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Layer compression (default gzip).
    #[serde(default)]
    pub compression: Compression,
    /// Compression level; `None` for the compressor's default.
    #[serde(default)]
    pub compression_level: Option<i32>,
    /// Manifest and index media types (default OCI).
    #[serde(default)]
    pub oci_mode: RequestedOciMode,
    /// Publish the index under the destinations (default true); false pushes only the
    /// per-platform images by digest.
    #[serde(default = "yes")]
    pub publish_index: bool,
    /// Annotations on the index (OCI indexes only).
    #[serde(default)]
    pub index_annotations: BTreeMap<String, String>,
    /// Publish an index of the platforms that succeeded when some fail.
    #[serde(default)]
    pub allow_partial: bool,
    /// Refuse the build when a platform has no live native worker, instead of placing
    /// cross-safe platforms on foreign workers.
    #[serde(default)]
    pub require_native_nodes: bool,
    /// Give up on the whole build after this many seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Reproducible images: timestamps zeroed, no build history dates.
    #[serde(default)]
    pub reproducible: bool,
    /// Standard index annotations the client derived itself (`org.opencontainers.image.source`
    /// and `revision` from a git checkout): put on an OCI index, left off a Docker manifest
    /// list. Unlike [`BuildRequest::index_annotations`], never an error on a Docker list.
    #[serde(default)]
    pub standard_annotations: BTreeMap<String, String>,
    /// A registry refusing to move an immutable tag of the index is a warning, not a failure
    /// (`--push-ignore-immutable-tag-errors`).
    #[serde(default)]
    pub push_ignore_immutable_tag_errors: bool,
    /// `--arch-cache-repo-suffix`: appended to the layer cache repository, per platform
    /// (`${ARCH}`, `${OS}`, `${VARIANT}`).
    #[serde(default)]
    pub arch_cache_repo_suffix: Option<String>,
    /// The layer cache (`--cache=true` and its settings); `None`: off.
    #[serde(default)]
    pub cache: Option<super::LayerCache>,
    /// Sign the index and each platform's manifest with the publishing coordinator's key
    /// (`coordinator serve --cosign-key-path`); refused when it holds none. The key itself
    /// never travels (docs/signing.md).
    #[serde(default)]
    pub sign_images: bool,
    /// Attach an SPDX SBOM to each platform's manifest (`--sbom`), signed too with
    /// `sign_images`.
    #[serde(default)]
    pub sbom: bool,
}

impl BuildRequest {
    /// A request with every option at its default.
    pub fn new(context: ContextRef, platforms: Vec<Platform>, destinations: Vec<String>) -> Self {
        BuildRequest {
            context,
            dockerfile: default_dockerfile(),
            platforms,
            destinations,
            build_args: BTreeMap::new(),
            target: None,
            labels: BTreeMap::new(),
            compression: Compression::default(),
            compression_level: None,
            oci_mode: RequestedOciMode::default(),
            publish_index: true,
            index_annotations: BTreeMap::new(),
            allow_partial: false,
            require_native_nodes: false,
            timeout_secs: None,
            reproducible: false,
            standard_annotations: BTreeMap::new(),
            push_ignore_immutable_tag_errors: false,
            arch_cache_repo_suffix: None,
            cache: None,
            sign_images: false,
            sbom: false,
        }
    }

    /// Checks what decoding cannot: a [`ErrorKind::Refused`](super::ErrorKind::Refused)
    /// error naming the field at fault. Destination references are only checked for being
    /// non-empty and free of whitespace here; the registry client parses them.
    pub fn validate(&self) -> Result<(), WireError> {
        let refuse = |message: String| Err(WireError::refused(message));
        self.context.validate()?;
        let dockerfile = &self.dockerfile;
        if dockerfile.is_empty()
            || dockerfile.starts_with('/')
            || dockerfile.contains('\0')
            || dockerfile.split(['/', '\\']).any(|part| part == "..")
        {
            return refuse(format!(
                "dockerfile {dockerfile:?} must be a relative path inside the context"
            ));
        }
        if self.platforms.is_empty() {
            return refuse("no platforms requested".to_string());
        }
        for (i, platform) in self.platforms.iter().enumerate() {
            if self
                .platforms
                .iter()
                .skip(i + 1)
                .any(|other| other == platform)
            {
                return refuse(format!("platform {platform} is requested twice"));
            }
        }
        if self.destinations.is_empty() {
            return refuse("no destinations given".to_string());
        }
        for destination in &self.destinations {
            if destination.is_empty() || destination.chars().any(char::is_whitespace) {
                return refuse(format!(
                    "destination {destination:?} is not an image reference"
                ));
            }
        }
        for key in self.build_args.keys() {
            if key.is_empty() || key.contains('=') || key.chars().any(char::is_whitespace) {
                return refuse(format!("build arg name {key:?} is not valid"));
            }
        }
        if self.target.as_deref() == Some("") {
            return refuse("target stage name is empty".to_string());
        }
        if let Some(level) = self.compression_level {
            let levels = self.compression.levels();
            if !levels.contains(&level) {
                return refuse(format!(
                    "compression level {level} is out of range for {}: use {}..={}",
                    self.compression,
                    levels.start(),
                    levels.end()
                ));
            }
        }
        if self.oci_mode == RequestedOciMode::Docker && !self.index_annotations.is_empty() {
            return refuse(
                "index annotations need an OCI index, but oci_mode docker writes a Docker manifest list"
                    .to_string(),
            );
        }
        if let Some(suffix) = &self.arch_cache_repo_suffix {
            super::check_arch_suffix(suffix).or_else(refuse)?;
        }
        if let Some(cache) = &self.cache {
            cache.validate().or_else(refuse)?;
        }
        if self.timeout_secs == Some(0) {
            return refuse("timeout_secs must be positive".to_string());
        }
        Ok(())
    }
}

/// The reply to a [`BuildRequest`]: the new build's id, or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitReply {
    /// The accepted build's id; `None` when refused.
    pub build_id: Option<String>,
    /// Why the request was refused.
    pub error: Option<WireError>,
}

impl SubmitReply {
    /// The build was accepted as `build_id`.
    pub fn accepted(build_id: impl Into<String>) -> Self {
        SubmitReply {
            build_id: Some(build_id.into()),
            error: None,
        }
    }

    /// The request was refused.
    pub fn refused(error: WireError) -> Self {
        SubmitReply {
            build_id: None,
            error: Some(error),
        }
    }
}

/// Where a build is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildState {
    /// Accepted, no task started yet.
    Queued,
    /// At least one platform is building.
    Running,
    /// Every platform is done; the index is being pushed.
    Publishing,
    /// Done. With `allow_partial`, some platforms may have failed: see the errors.
    Succeeded,
    /// Failed; no destination tag was moved (the status's `tags` say which were tried).
    Failed,
    /// Cancelled.
    Cancelled,
    /// Publishing failed part-way: some destination tags name the new index, others do not
    /// (the status's `tags` say which). JSON: `partially_published`.
    #[serde(rename = "partially_published")]
    PartiallyPublished,
}

impl BuildState {
    /// True for the states a build never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BuildState::Succeeded
                | BuildState::Failed
                | BuildState::Cancelled
                | BuildState::PartiallyPublished
        )
    }
}

/// Where one platform of a build is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformState {
    /// Its task is waiting for a worker.
    Queued,
    /// A worker is building it.
    Running,
    /// Built and pushed by digest.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// One platform of a build in a [`BuildStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformStatus {
    /// The platform.
    #[serde(with = "crate::platform::as_string")]
    pub platform: Platform,
    /// Its state.
    pub state: PlatformState,
    /// The worker building or having built it.
    pub worker_id: Option<String>,
    /// The current attempt, from 1; 0 before the first.
    pub attempt: u32,
    /// The pushed manifest, once built.
    pub descriptor: Option<Descriptor>,
    /// The last error, if any.
    pub error: Option<WireError>,
    /// While queued: its place among the tasks waiting on the same subject (1: next to be
    /// taken), counted over every unfinished build in submission order. Filled by `status`
    /// and `list`.
    #[serde(default)]
    pub queue_position: Option<u32>,
}

/// What is known about one build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildStatus {
    /// The build's id.
    pub build_id: String,
    /// Its state.
    pub state: BuildState,
    /// Each requested platform.
    pub platforms: Vec<PlatformStatus>,
    /// The published index, once pushed.
    pub index: Option<Descriptor>,
    /// Where the index goes.
    pub destinations: Vec<String>,
    /// Errors of the build (failed platforms, index push failures).
    pub errors: Vec<WireError>,
    /// What publishing did to each destination tag, once it was tried.
    #[serde(default)]
    pub tags: Vec<TagPush>,
    /// When it was submitted, unix milliseconds.
    pub submitted_at_unix_ms: u64,
    /// When it last changed, unix milliseconds.
    pub updated_at_unix_ms: u64,
    /// The identity that submitted it (`None`: anonymous); its events are in that
    /// identity's events stream.
    #[serde(default)]
    pub owner: Option<String>,
    /// The coordinator that drives it (holds its lease), when one does.
    #[serde(default)]
    pub coordinator: Option<String>,
}

/// Asks for one build's status (`kaniko.api.status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRequest {
    /// The build asked about.
    pub build_id: String,
}

/// The reply to a [`StatusRequest`]: the status, or an error (kind
/// [`NotFound`](super::ErrorKind::NotFound) for an unknown build).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// The build's status when found.
    pub build: Option<BuildStatus>,
    /// Why there is no status.
    pub error: Option<WireError>,
}

/// Asks to cancel a build (`kaniko.api.cancel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    /// The build to cancel.
    pub build_id: String,
    /// Why, for the build's errors and events.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The reply to a [`CancelRequest`]: the build's state after the request (a build already
/// finished stays finished), or an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelReply {
    /// The build's id.
    pub build_id: String,
    /// Its state after the request, when found.
    pub state: Option<BuildState>,
    /// Why it could not be cancelled.
    pub error: Option<WireError>,
}

/// Asks for the known builds (`kaniko.api.list`), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    /// Only builds that are not finished.
    #[serde(default)]
    pub active_only: bool,
    /// At most this many builds.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The reply to a [`ListRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListReply {
    /// The builds, newest first.
    pub builds: Vec<BuildStatus>,
    /// Why the list could not be produced.
    pub error: Option<WireError>,
}

/// Asks for the live workers (`kaniko.api.workers`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkersRequest {}

/// The reply to a [`WorkersRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkersReply {
    /// The live workers.
    pub workers: Vec<WorkerInfo>,
    /// Why the list could not be produced.
    pub error: Option<WireError>,
}

/// What a worker says about itself in its heartbeats, and what `workers` lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The worker's id, a NATS subject token (see [`crate::subjects::validate_token`]).
    pub id: String,
    /// The platform it runs on natively: the only one it executes RUN for.
    #[serde(with = "crate::platform::as_string")]
    pub native: Platform,
    /// The platforms it takes tasks for (native first). Foreign ones only when `allow_cross`,
    /// and then only cross-safe tasks.
    #[serde(with = "crate::platform::as_string_list")]
    pub platforms: Vec<Platform>,
    /// Whether it builds cross-safe tasks of foreign platforms.
    pub allow_cross: bool,
    /// How many tasks it builds at once.
    pub capacity: u32,
    /// How many it is building now.
    pub busy: u32,
    /// Its kaniko-rs version.
    pub version: String,
    /// When it was last heard from, unix milliseconds.
    pub last_seen_unix_ms: u64,
}

impl WorkerInfo {
    /// True when this worker may build a task for `platform`: always for its native
    /// platform, for a foreign platform it serves only when crosses are allowed and the task is
    /// cross-safe.
    pub fn can_build(&self, platform: &Platform, cross_safe: bool) -> bool {
        if *platform == self.native {
            return true;
        }
        self.allow_cross && cross_safe && self.platforms.contains(platform)
    }

    /// Free build slots (`capacity - busy`, never negative).
    pub fn free_slots(&self) -> u32 {
        self.capacity.saturating_sub(self.busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::samples;

    #[test]
    fn validate_names_the_field_at_fault() {
        fn check(edit: impl FnOnce(&mut BuildRequest), expected: Option<&str>) {
            let mut request = samples::build_request();
            edit(&mut request);
            let got = request.validate().err();
            if let Some(err) = &got {
                assert_eq!(err.kind, super::super::ErrorKind::Refused);
            }
            assert_eq!(got.map(|e| e.message).as_deref(), expected);
        }
        check(|_| {}, None);
        check(
            |r| r.context.sha256 = "ABC".into(),
            Some("context sha256 \"ABC\" is not 64 lowercase hex digits"),
        );
        check(
            |r| r.dockerfile = "../Dockerfile".into(),
            Some("dockerfile \"../Dockerfile\" must be a relative path inside the context"),
        );
        check(
            |r| r.dockerfile = "/etc/Dockerfile".into(),
            Some("dockerfile \"/etc/Dockerfile\" must be a relative path inside the context"),
        );
        check(|r| r.dockerfile = "docker/Dockerfile.prod".into(), None);
        check(|r| r.platforms.clear(), Some("no platforms requested"));
        check(
            |r| r.platforms.push(Platform::parse("linux/x86_64").unwrap()),
            Some("platform linux/amd64 is requested twice"),
        );
        check(|r| r.destinations.clear(), Some("no destinations given"));
        check(
            |r| r.destinations.push("a b".into()),
            Some("destination \"a b\" is not an image reference"),
        );
        check(
            |r| {
                r.build_args.insert("A=B".into(), "x".into());
            },
            Some("build arg name \"A=B\" is not valid"),
        );
        check(
            |r| r.target = Some(String::new()),
            Some("target stage name is empty"),
        );
        check(
            |r| {
                r.compression = Compression::Gzip;
                r.compression_level = Some(10);
            },
            Some("compression level 10 is out of range for gzip: use 0..=9"),
        );
        check(
            |r| {
                r.compression = Compression::Zstd;
                r.compression_level = Some(19);
            },
            None,
        );
        check(
            |r| {
                r.oci_mode = RequestedOciMode::Docker;
                r.index_annotations.insert("k".into(), "v".into());
            },
            Some(
                "index annotations need an OCI index, but oci_mode docker writes a Docker manifest list",
            ),
        );
        check(
            |r| r.timeout_secs = Some(0),
            Some("timeout_secs must be positive"),
        );
        check(
            |r| r.arch_cache_repo_suffix = Some("-cache/arm".into()),
            None,
        );
        check(
            |r| r.arch_cache_repo_suffix = Some("Cache Repo".into()),
            Some(
                "arch cache repository suffix \"Cache Repo\": 'C' cannot be in a repository name (use lowercase letters, digits and - _ . /)",
            ),
        );
        check(
            |r| {
                // Derived annotations never make a Docker list an error: they are left off it.
                r.oci_mode = RequestedOciMode::Docker;
                r.index_annotations.clear();
                r.standard_annotations
                    .insert("org.opencontainers.image.revision".into(), "abc".into());
            },
            None,
        );
    }

    #[test]
    fn context_object_name_is_the_digest() {
        let context = samples::context();
        assert_eq!(context.object_name(), format!("sha256:{}", context.sha256));
    }

    #[test]
    fn terminal_states() {
        fn check(state: BuildState, expected: bool) {
            assert_eq!(state.is_terminal(), expected, "{state:?}");
        }
        check(BuildState::Queued, false);
        check(BuildState::Running, false);
        check(BuildState::Publishing, false);
        check(BuildState::Succeeded, true);
        check(BuildState::Failed, true);
        check(BuildState::Cancelled, true);
    }

    #[test]
    fn worker_can_build_native_always_and_foreign_only_cross_safe() {
        let worker = samples::worker_info();
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let riscv = Platform::parse("linux/riscv64").unwrap();
        fn check(worker: &WorkerInfo, platform: &Platform, cross_safe: bool, expected: bool) {
            assert_eq!(
                worker.can_build(platform, cross_safe),
                expected,
                "{platform} {cross_safe}"
            );
        }
        check(&worker, &amd64, false, true);
        check(&worker, &arm64, true, true);
        check(&worker, &arm64, false, false);
        check(&worker, &riscv, true, false);
        let strict = WorkerInfo {
            allow_cross: false,
            ..worker.clone()
        };
        check(&strict, &arm64, true, false);
        assert_eq!(worker.free_slots(), 1);
        assert_eq!(WorkerInfo { busy: 9, ..worker }.free_slots(), 0);
    }
}
