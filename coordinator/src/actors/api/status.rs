// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `status`: a build's status from its live BuildActor, else from the BUILDS bucket; an
//! identity sees its own builds only (admins all).

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use kaniko_common::messages::{BuildStatus, StatusReply, StatusRequest, WireError};

use super::{caller_of, decode, reply};
use crate::actors::build_actor::{BuildActor, GetStatus};
use crate::authz::{self, Access, Caller, Policy};
use crate::bus::FleetBus;
use crate::policy::record::{fill_queue_positions, queue_positions};

/// The status of `build_id` when `caller` may have `access` to it under `policy`: the one
/// ownership check of every verb that names a build.
pub(super) async fn status_for(
    bus: &FleetBus,
    live: Option<Addr<BuildActor>>,
    build_id: &str,
    policy: Option<&Policy>,
    caller: Caller<'_>,
    access: Access,
) -> Result<BuildStatus, WireError> {
    let build = status_of(bus, live, build_id).await?;
    authz::may_access(
        policy,
        caller,
        &build.build_id,
        build.owner.as_deref(),
        access,
    )?;
    Ok(build)
}

/// The status of `build_id`: asked of its live actor, else read from the bucket.
pub(super) async fn status_of(
    bus: &FleetBus,
    live: Option<Addr<BuildActor>>,
    build_id: &str,
) -> Result<BuildStatus, WireError> {
    if let Some(actor) = live
        && let Ok(status) = actor.send(GetStatus).await
    {
        return Ok(status);
    }
    match bus.load(build_id).await? {
        Some(record) => Ok(record.status()),
        None => Err(WireError::not_found(format!("build {build_id} not found"))),
    }
}

/// Fills the places in their queues of `build`'s waiting platforms, from every stored
/// build (read only when one of its platforms waits).
async fn with_queue_positions(bus: &FleetBus, build: &mut BuildStatus) {
    let waiting = build
        .platforms
        .iter()
        .any(|p| p.state == kaniko_common::messages::PlatformState::Queued);
    if !waiting || build.state.is_terminal() {
        return;
    }
    if let Ok(records) = bus.load_all().await {
        let positions = queue_positions(records.iter().map(|(record, _)| record));
        fill_queue_positions(build, &positions);
    }
}

/// Answers a status request.
pub(super) async fn answer(
    bus: FleetBus,
    builds: HashMap<String, Addr<BuildActor>>,
    message: async_nats::Message,
    identity: Option<String>,
    policy: Option<Arc<Policy>>,
) {
    let caller = caller_of(identity.as_deref());
    let answer = match decode::<StatusRequest>(&message) {
        Err(err) => StatusReply {
            build: None,
            error: Some(err.into()),
        },
        Ok(request) => {
            let live = builds
                .get(&request.build_id)
                .filter(|a| a.connected())
                .cloned();
            let status = status_for(
                &bus,
                live,
                &request.build_id,
                policy.as_deref(),
                caller,
                Access::Read,
            )
            .await;
            match status {
                Ok(mut build) => {
                    with_queue_positions(&bus, &mut build).await;
                    StatusReply {
                        build: Some(build),
                        error: None,
                    }
                }
                Err(error) => StatusReply {
                    build: None,
                    error: Some(error),
                },
            }
        }
    };
    reply(&bus, &message, &answer).await;
}
