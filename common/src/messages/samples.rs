// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! One filled-in value of every wire message, for the tests of this module.

use std::collections::BTreeMap;

use super::*;
use crate::oci::{self, Compression, Descriptor};
use crate::platform::Platform;

pub(crate) fn platform(text: &str) -> Platform {
    Platform::parse(text).unwrap()
}

pub(crate) fn context() -> ContextRef {
    ContextRef {
        sha256: "a".repeat(64),
        size: 12_345,
    }
}

pub(crate) fn descriptor(text: &str) -> Descriptor {
    Descriptor {
        media_type: oci::OCI_MANIFEST.to_string(),
        digest: format!("sha256:{}", "b".repeat(64)),
        size: 1_234,
        platform: Some(platform(text)),
        annotations: BTreeMap::from([("org.opencontainers.image.title".into(), "x".into())]),
    }
}

pub(crate) fn build_request() -> BuildRequest {
    let mut request = BuildRequest::new(
        context(),
        vec![
            platform("linux/amd64"),
            platform("linux/arm64"),
            platform("linux/arm/v7"),
        ],
        vec![
            "localhost:5000/app:1".into(),
            "localhost:5000/app:latest".into(),
        ],
    );
    request.build_args.insert("VERSION".into(), "1.2.3".into());
    request.target = Some("runtime".into());
    request.labels.insert("team".into(), "build".into());
    request.compression = Compression::Zstd;
    request.compression_level = Some(3);
    request
        .index_annotations
        .insert("org.opencontainers.image.source".into(), "git".into());
    request.allow_partial = true;
    request.timeout_secs = Some(600);
    request.reproducible = true;
    request
}

pub(crate) fn worker_info() -> WorkerInfo {
    WorkerInfo {
        id: "worker-1".into(),
        native: platform("linux/amd64"),
        platforms: vec![platform("linux/amd64"), platform("linux/arm64")],
        allow_cross: true,
        capacity: 2,
        busy: 1,
        version: "0.1.0".into(),
        last_seen_unix_ms: 1_700_000_000_000,
    }
}

fn build_status() -> BuildStatus {
    BuildStatus {
        build_id: "b1".into(),
        state: BuildState::Running,
        platforms: vec![
            PlatformStatus {
                queue_position: None,
                platform: platform("linux/amd64"),
                state: PlatformState::Succeeded,
                worker_id: Some("worker-1".into()),
                attempt: 1,
                descriptor: Some(descriptor("linux/amd64")),
                error: None,
            },
            PlatformStatus {
                queue_position: None,
                platform: platform("linux/arm/v7"),
                state: PlatformState::Queued,
                worker_id: None,
                attempt: 0,
                descriptor: None,
                error: Some(WireError::transient("registry answered 503")),
            },
        ],
        index: None,
        destinations: vec!["localhost:5000/app:1".into()],
        errors: vec![WireError::permanent(
            "Dockerfile:3: unknown instruction FORM",
        )],
        tags: vec![
            TagPush::new("localhost:5000/app:1", TagState::Moved),
            TagPush {
                tag: "localhost:5000/app:latest".into(),
                state: TagState::Refused,
                error: Some(WireError::new(ErrorKind::Unauthorized, "tag is protected")),
            },
        ],
        submitted_at_unix_ms: 1,
        updated_at_unix_ms: 2,
        owner: Some("alice".into()),
        coordinator: Some("host-1-12-abcdef".into()),
    }
}

pub(crate) fn task() -> Task {
    Task {
        build_id: "b1".into(),
        task_id: "b1-linux-arm-v7".into(),
        platform: platform("linux/arm/v7"),
        attempt: 2,
        context: context(),
        dockerfile: "Dockerfile".into(),
        build_args: BTreeMap::from([("A".into(), "1".into())]),
        target: None,
        labels: BTreeMap::new(),
        destinations: vec!["localhost:5000/app".into()],
        compression: Compression::Gzip,
        compression_level: Some(-1),
        oci_mode: RequestedOciMode::Auto,
        reproducible: false,
        cross_safe: true,
        deadline_unix_ms: Some(u64::MAX),
        owner: Some("alice".into()),
        cache: Some(super::LayerCache {
            repo: None,
            ttl_secs: Some(3600),
            copy_layers: true,
            run_layers: true,
            push: false,
        }),
        arch_cache_repo_suffix: Some("-${ARCH}".into()),
    }
}

pub(crate) fn task_results() -> Vec<TaskResult> {
    let built = TaskResult {
        build_id: "b1".into(),
        task_id: "b1-linux-amd64".into(),
        platform: platform("linux/amd64"),
        worker_id: "worker-1".into(),
        attempt: 1,
        outcome: TaskOutcome::Built {
            manifest: descriptor("linux/amd64"),
            config_digest: format!("sha256:{}", "c".repeat(64)),
            duration_ms: 4_200,
        },
    };
    let failed = TaskResult {
        outcome: TaskOutcome::Failed(WireError::new(
            ErrorKind::Unauthorized,
            "push to localhost:5000/app: 401",
        )),
        ..built.clone()
    };
    vec![built, failed]
}

pub(crate) fn heartbeat() -> Heartbeat {
    Heartbeat {
        worker: worker_info(),
        at_unix_ms: 1_700_000_000_001,
        leaving: false,
    }
}

pub(crate) fn submit_replies() -> Vec<SubmitReply> {
    vec![
        SubmitReply::accepted("b1"),
        SubmitReply::refused(WireError::refused("no platforms requested")),
    ]
}

pub(crate) fn status_replies() -> Vec<StatusReply> {
    vec![
        StatusReply {
            build: Some(build_status()),
            error: None,
        },
        StatusReply {
            build: None,
            error: Some(WireError::not_found("build b9 not found")),
        },
    ]
}

pub(crate) fn cancel_request() -> CancelRequest {
    CancelRequest {
        build_id: "b1".into(),
        reason: Some("superseded".into()),
    }
}

pub(crate) fn cancel_reply() -> CancelReply {
    CancelReply {
        build_id: "b1".into(),
        state: Some(BuildState::Cancelled),
        error: None,
    }
}

pub(crate) fn list_request() -> ListRequest {
    ListRequest {
        active_only: true,
        limit: Some(10),
    }
}

pub(crate) fn list_reply() -> ListReply {
    ListReply {
        builds: vec![build_status()],
        error: None,
    }
}

pub(crate) fn workers_reply() -> WorkersReply {
    WorkersReply {
        workers: vec![worker_info()],
        error: None,
    }
}

/// One event of every type, in [`EventType::ALL`] order.
pub(crate) fn events() -> Vec<Event> {
    let event = |kind| Event {
        build_id: "b1".into(),
        at_unix_ms: 1_700_000_000_000,
        kind,
    };
    vec![
        event(EventKind::Accepted {
            platforms: vec![platform("linux/amd64"), platform("linux/arm64")],
        }),
        event(EventKind::PlatformStarted {
            platform: platform("linux/arm64"),
            worker_id: "worker-2".into(),
            attempt: 1,
        }),
        event(EventKind::Log {
            platform: platform("linux/arm64"),
            line: "#1 RUN make".into(),
        }),
        event(EventKind::PlatformDone {
            platform: platform("linux/arm64"),
            descriptor: descriptor("linux/arm64"),
        }),
        event(EventKind::PlatformFailed {
            platform: platform("linux/arm/v7"),
            error: WireError::permanent("base image has no linux/arm/v7"),
        }),
        event(EventKind::Finished {
            index: Some(Descriptor {
                platform: None,
                media_type: oci::OCI_INDEX.into(),
                ..descriptor("linux/amd64")
            }),
            platforms: vec![PlatformDescriptor {
                platform: platform("linux/arm64"),
                descriptor: descriptor("linux/arm64"),
            }],
            failed: vec![FailedPlatform {
                platform: platform("linux/arm/v7"),
                error: WireError::permanent("base image has no linux/arm/v7"),
            }],
            tags: vec![TagPush::new("localhost:5000/app:1", TagState::Moved)],
        }),
        event(EventKind::Failed {
            errors: vec![WireError::new(ErrorKind::Cancelled, "cancelled by user")],
            index: None,
            platforms: Vec::new(),
            tags: vec![
                TagPush::new("localhost:5000/app:1", TagState::Moved),
                TagPush {
                    tag: "localhost:5000/app:2".into(),
                    state: TagState::Refused,
                    error: Some(WireError::new(ErrorKind::Unauthorized, "tag is protected")),
                },
                TagPush::new("localhost:5000/app:3", TagState::NotPushed),
            ],
        }),
    ]
}
