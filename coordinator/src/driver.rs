// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Drivers decide where a platform's build runs: `nats` (the worker fleet, through the
//! TASKS stream: `coordinator serve`'s actors over [`crate::bus`]), `local` (an in-process
//! worker, host platform only, no NATS), `k8s` (a Kubernetes Job per platform on a native
//! node) and `ci` (no build: per-platform images pushed by CI jobs, published as one index).
//! Every driver applies [`crate::policy`]; none imports an actor. The in-process drivers end
//! with [`conclude`].

pub mod ci;
pub mod k8s;
pub mod local;

use kaniko_common::messages::{BuildRequest, EventKind, TaskResult, WireError};
use kaniko_registry::{RegistryClient, RegistryOptions};

use crate::policy::now_ms;
use crate::policy::publish::{PublishFailure, PublishIndex, publish};
use crate::policy::record::{Applied, BuildRecord, PlatformRecord, Verdict};

/// Sends `kind` for build `build_id`, stamped now, to the submitter's event channel of an
/// in-process driver (a receiver already gone is no error: nobody is following).
pub(crate) fn send_event(
    events: &tokio::sync::mpsc::UnboundedSender<kaniko_common::messages::Event>,
    build_id: &str,
    kind: EventKind,
) {
    let _ = events.send(kaniko_common::messages::Event {
        build_id: build_id.to_string(),
        at_unix_ms: now_ms(),
        kind,
    });
}

/// The end of a build every driver shares: each platform's result applied to a record of
/// `platforms` (a `platform_done` or `platform_failed` event each), the failure policy
/// ([`BuildRecord::verdict`]), and the index published by the one publishing path
/// ([`publish`]); ends with a `finished` or `failed` event.
pub async fn conclude(
    build_id: &str,
    request: &BuildRequest,
    platforms: Vec<PlatformRecord>,
    results: Vec<TaskResult>,
    index_registry: &RegistryOptions,
    emit: impl Fn(EventKind),
) {
    let mut record = BuildRecord::new(build_id.to_string(), request.clone(), platforms, now_ms());
    for result in results {
        let platform = result.platform.clone();
        let attempt = result.attempt;
        record.started(&platform, &result.worker_id, attempt, now_ms());
        match record.apply(&result, now_ms()) {
            Applied::Done(descriptor) => emit(EventKind::PlatformDone {
                platform,
                descriptor,
            }),
            Applied::Failed(error) => emit(EventKind::PlatformFailed { platform, error }),
            Applied::Ignored => {}
        }
    }
    match record.verdict() {
        Verdict::Fail(errors) => emit(EventKind::Failed {
            errors,
            index: None,
            platforms: Vec::new(),
            tags: Vec::new(),
        }),
        Verdict::NoIndex { children, failed } => emit(EventKind::Finished {
            index: None,
            platforms: children,
            failed,
            tags: Vec::new(),
        }),
        Verdict::Publish { children, failed } => {
            let outcome = match RegistryClient::new(index_registry.clone()) {
                Ok(registry) => {
                    publish(
                        &registry,
                        PublishIndex::for_request(build_id.to_string(), request, children.clone()),
                    )
                    .await
                }
                Err(e) => Err(PublishFailure::before_tags(
                    WireError::permanent(format!("registry client: {e}")),
                    &request.destinations,
                    None,
                )),
            };
            match outcome {
                Ok(published) => emit(EventKind::Finished {
                    index: Some(published.index),
                    platforms: children,
                    failed,
                    tags: published.tags,
                }),
                Err(failure) => emit((*failure).into_event(children)),
            }
        }
    }
}
