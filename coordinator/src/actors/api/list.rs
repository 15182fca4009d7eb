// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `list`: the stored builds the caller may see, newest first, unfinished only when asked, at
//! most `limit`.

use std::collections::HashMap;
use std::sync::Arc;

use kaniko_common::messages::{BuildStatus, ListReply, ListRequest};

use super::{caller_of, decode, reply};
use crate::authz::{self, Policy};
use crate::bus::FleetBus;
use crate::policy::record::{BuildRecord, fill_queue_positions, queue_positions};

/// Answers a list request.
pub(super) async fn answer(
    bus: FleetBus,
    message: async_nats::Message,
    identity: Option<String>,
    policy: Option<Arc<Policy>>,
) {
    let caller = caller_of(identity.as_deref());
    let answer = match decode::<ListRequest>(&message) {
        Err(err) => ListReply {
            builds: Vec::new(),
            error: Some(err.into()),
        },
        Ok(request) => match bus.load_all().await {
            Ok(records) => ListReply {
                builds: {
                    // Places count every waiting build, as `status` does, not only those the
                    // caller may see.
                    let positions = queue_positions(records.iter().map(|(r, _)| r));
                    let visible = records
                        .into_iter()
                        .map(|(r, _)| r)
                        .filter(|r| authz::lists(policy.as_deref(), caller, r.owner.as_deref()))
                        .collect();
                    list(visible, &request, &positions)
                },
                error: None,
            },
            Err(error) => ListReply {
                builds: Vec::new(),
                error: Some(error),
            },
        },
    };
    reply(&bus, &message, &answer).await;
}

/// The builds a list request asks for: newest first, unfinished only when asked, at most
/// `limit`; waiting platforms with their place from `positions` ([`queue_positions`]).
pub fn list(
    mut records: Vec<BuildRecord>,
    request: &ListRequest,
    positions: &HashMap<(String, String), u32>,
) -> Vec<BuildStatus> {
    records.sort_by(|a, b| {
        b.submitted_at_unix_ms
            .cmp(&a.submitted_at_unix_ms)
            .then_with(|| b.build_id.cmp(&a.build_id))
    });
    records
        .iter()
        .filter(|r| !request.active_only || !r.state.is_terminal())
        .take(request.limit.map_or(usize::MAX, |l| l as usize))
        .map(|record| {
            let mut status = record.status();
            fill_queue_positions(&mut status, positions);
            status
        })
        .collect()
}
