// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `cancel`: allowed for the build's owner (and admins), after its status says whose it is;
//! a live BuildActor cancels it, a build no actor here owns is answered with its stored state.

use std::sync::Arc;

use actix::prelude::*;
use kaniko_common::messages::{BuildState, CancelReply, CancelRequest, CodecError, WireError};

use super::caller_of;
use super::reply;
use super::status::status_for;
use crate::actors::build_actor::{BuildActor, Cancel};
use crate::authz::{Access, Policy};
use crate::bus::FleetBus;

/// Answers a cancel request (`decoded` from `message`; `live` its build's actor here).
pub(super) async fn answer(
    bus: FleetBus,
    live: Option<Addr<BuildActor>>,
    decoded: Result<CancelRequest, CodecError>,
    message: async_nats::Message,
    identity: Option<String>,
    policy: Option<Arc<Policy>>,
) {
    let caller = caller_of(identity.as_deref());
    let answer = match decoded {
        Err(err) => CancelReply {
            build_id: String::new(),
            state: None,
            error: Some(err.into()),
        },
        Ok(request) => {
            // Whose build it is, before anything is cancelled.
            let allowed = status_for(
                &bus,
                live.clone(),
                &request.build_id,
                policy.as_deref(),
                caller,
                Access::Cancel,
            )
            .await;
            match allowed {
                Ok(_) => cancel(&bus, live, request).await,
                Err(error) => CancelReply {
                    build_id: request.build_id,
                    state: None,
                    error: Some(error),
                },
            }
        }
    };
    reply(&bus, &message, &answer).await;
}

/// Cancels the build of `request` through its live actor, else says why it cannot.
async fn cancel(
    bus: &FleetBus,
    live: Option<Addr<BuildActor>>,
    request: CancelRequest,
) -> CancelReply {
    let build_id = request.build_id.clone();
    let reason = request
        .reason
        .unwrap_or_else(|| "cancelled on request".to_string());
    if let Some(actor) = live
        && let Ok(state) = actor.send(Cancel { reason }).await
    {
        return CancelReply {
            build_id,
            state: Some(state),
            error: None,
        };
    }
    match bus.load(&build_id).await {
        Ok(Some(record)) => CancelReply {
            build_id,
            state: Some(record.state),
            error: (!record.state.is_terminal()).then(|| {
                WireError::transient(format!(
                    "build {} is not owned by this coordinator",
                    record.build_id
                ))
            }),
        },
        Ok(None) => CancelReply {
            error: Some(WireError::not_found(format!("build {build_id} not found"))),
            build_id,
            state: None,
        },
        Err(error) => CancelReply {
            build_id,
            state: None,
            error: Some(error),
        },
    }
}

/// True for a state a `cancel` may still change.
pub fn cancellable(state: BuildState) -> bool {
    !state.is_terminal()
}
