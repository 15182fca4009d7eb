// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The wire messages of kaniko-rs and their codec.
//!
//! * Public messages (the request API on `kaniko.api.*`, events on `kaniko.events.*`) are JSON
//!   so that any service can speak them; the API also accepts bincode, chosen by the
//!   `Content-Type` header ([`codec::decode_by_content_type`]).
//! * Internal messages (tasks, task results, heartbeats) are bincode inside a small versioned
//!   envelope ([`codec::encode_internal`], [`codec::decode_internal`]).
//!
//! Architecture invariant: every type that implements [`Message`] travels through bincode, so
//! it uses no serde attribute bincode cannot decode (`flatten`, `untagged`, internally or
//! adjacently tagged enums, `skip_serializing_if`). [`Event`] is JSON only and does not
//! implement [`Message`], so it cannot be sent as bincode by mistake.

mod api;
mod cache;
pub mod codec;
mod error;
mod event;
mod task;

#[cfg(test)]
mod samples;

pub use api::{
    BuildRequest, BuildState, BuildStatus, CancelReply, CancelRequest, ContextRef, ListReply,
    ListRequest, PlatformState, PlatformStatus, RequestedOciMode, StatusReply, StatusRequest,
    SubmitReply, WorkerInfo, WorkersReply, WorkersRequest,
};
pub use cache::{LayerCache, check_arch_suffix, expand_arch_suffix};
pub use codec::{CodecError, Encoding, Message, MessageKind, PROTOCOL_VERSION};
pub use error::{ErrorKind, WireError};
pub use event::{
    Event, EventKind, EventType, FailedPlatform, PlatformDescriptor, TagPush, TagState, tags_moved,
};
pub use task::{Heartbeat, Task, TaskOutcome, TaskResult, task_id};
