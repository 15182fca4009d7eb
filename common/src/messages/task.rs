// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Internal messages between the coordinator and the workers, bincode only: a per-platform
//! build task, its result, and a worker's heartbeat. No serde attribute here may need
//! self-describing input (see the module invariant in `messages.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::api::{ContextRef, RequestedOciMode, WorkerInfo};
use super::error::WireError;
use crate::oci::{Compression, Descriptor};
use crate::platform::Platform;

/// The id of `attempt` of `platform`'s task of `build_id`: `<build>-<os-arch[-variant]>-<attempt>`,
/// also the task's `Nats-Msg-Id`, so publishing the same attempt twice within the duplicate
/// window stores it once. The one place the formula is written.
pub fn task_id(build_id: &str, platform: &Platform, attempt: u32) -> String {
    format!("{build_id}-{}-{attempt}", platform.consumer_name())
}

/// Build one platform of a build (`kaniko.tasks.<os>.<arch>.<variant>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The build this task belongs to.
    pub build_id: String,
    /// This task's id, unique within the build; also the `Nats-Msg-Id` of its publish.
    pub task_id: String,
    /// The platform to build.
    #[serde(with = "crate::platform::as_string")]
    pub platform: Platform,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// The build context in the contexts object store.
    pub context: ContextRef,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The stage to stop at.
    pub target: Option<String>,
    /// Labels added to the image config.
    pub labels: BTreeMap<String, String>,
    /// Repositories (`registry/repo`, no tag) the image is pushed to, by digest.
    pub destinations: Vec<String>,
    /// Layer compression.
    pub compression: Compression,
    /// Compression level; `None` for the default.
    pub compression_level: Option<i32>,
    /// Manifest media types.
    pub oci_mode: RequestedOciMode,
    /// Reproducible image.
    pub reproducible: bool,
    /// True when no RUN executes for the target platform, so a non-native worker may build it.
    pub cross_safe: bool,
    /// Give up after this time, unix milliseconds.
    pub deadline_unix_ms: Option<u64>,
    /// The identity that submitted the build, `None` for an anonymous build: the context is
    /// in that identity's object store and the events go to its events stream.
    pub owner: Option<String>,
    /// The layer cache (`None`: off).
    pub cache: Option<super::LayerCache>,
    /// Appended to the cache repository, its placeholders from this task's platform.
    pub arch_cache_repo_suffix: Option<String>,
}

/// What became of a [`Task`] (`kaniko.results.<build>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task's build.
    pub build_id: String,
    /// The task.
    pub task_id: String,
    /// The task's platform.
    #[serde(with = "crate::platform::as_string")]
    pub platform: Platform,
    /// The worker that ran it.
    pub worker_id: String,
    /// The attempt this result is for, so a late result of an earlier attempt can be told apart.
    pub attempt: u32,
    /// Built or failed.
    pub outcome: TaskOutcome,
}

/// The outcome of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskOutcome {
    /// The image was built and pushed by digest to every destination repository.
    Built {
        /// The pushed manifest, with its platform.
        manifest: Descriptor,
        /// The image config's digest.
        config_digest: String,
        /// How long the build and push took.
        duration_ms: u64,
    },
    /// The task failed; the kind says whether retrying can help.
    Failed(WireError),
}

/// A worker's presence (`kaniko.workers.<id>`), sent every few seconds and once with
/// `leaving` set when it shuts down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// What the worker says about itself.
    pub worker: WorkerInfo,
    /// When this heartbeat was sent, unix milliseconds.
    pub at_unix_ms: u64,
    /// True in the last heartbeat of a worker shutting down: forget it now.
    pub leaving: bool,
}
