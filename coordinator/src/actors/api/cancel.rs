// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `cancel`: allowed for the build's owner (and admins), after its status says whose it is;
//! a live BuildActor cancels it. A build driven by another coordinator (or by none, its
//! lease run out) gets `cancel_requested` written into its record with compare-and-swap: its
//! owner sees it at its next write (within `--lease-renew`) and cancels it, or the
//! coordinator that takes it over does; the answer waits a little for the cancelled state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use kaniko_common::messages::{BuildState, CancelReply, CancelRequest, CodecError, WireError};

use super::caller_of;
use super::reply;
use super::status::status_for;
use crate::actors::build_actor::{BuildActor, Cancel};
use crate::authz::{Access, Policy};
use crate::bus::FleetBus;
use crate::policy::lease::Ownership;
use crate::policy::record::BuildRecord;

/// Answers a cancel request (`decoded` from `message`; `live` its build's actor here).
pub(super) async fn answer(
    bus: FleetBus,
    live: Option<Addr<BuildActor>>,
    decoded: Result<CancelRequest, CodecError>,
    message: async_nats::Message,
    identity: Option<String>,
    policy: Option<Arc<Policy>>,
    ownership: Arc<Ownership>,
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
                Ok(_) => cancel(&bus, live, request, &ownership).await,
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
    ownership: &Ownership,
) -> CancelReply {
    let build_id = request.build_id.clone();
    let reason = request
        .reason
        .unwrap_or_else(|| "cancelled on request".to_string());
    if let Some(actor) = live
        && let Ok(state) = actor
            .send(Cancel {
                reason: reason.clone(),
            })
            .await
    {
        return CancelReply {
            build_id,
            state: Some(state),
            error: None,
        };
    }
    match request_cancel(bus, &build_id, &reason, ownership).await {
        Ok(Some(state)) => CancelReply {
            build_id,
            state: Some(state),
            error: None,
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

/// Writes `cancel_requested` into the stored record of `build_id` (CAS, tried again on a
/// conflict) unless it is terminal, then waits up to two renew periods plus a second (at
/// most 20 s) for the owner to cancel it: the state then, `None` when there is no such
/// build.
async fn request_cancel(
    bus: &FleetBus,
    build_id: &str,
    reason: &str,
    ownership: &Ownership,
) -> Result<Option<BuildState>, WireError> {
    kaniko_common::subjects::validate_token("build id", build_id)
        .map_err(|e| WireError::refused(e.to_string()))?;
    let read =
        |e: &dyn std::fmt::Display| WireError::transient(format!("reading build {build_id}: {e}"));
    for _ in 0..10 {
        let Some(entry) = bus.builds.entry(build_id).await.map_err(|e| read(&e))? else {
            return Ok(None);
        };
        let mut record: BuildRecord = serde_json::from_slice(&entry.value).map_err(|e| {
            WireError::permanent(format!("stored build {build_id} does not decode: {e}"))
        })?;
        if record.state.is_terminal() || record.cancel_requested.is_some() {
            break;
        }
        record.cancel_requested = Some(reason.to_string());
        let bytes = serde_json::to_vec(&record).map_err(|e| WireError::permanent(e.to_string()))?;
        if bus
            .builds
            .update(build_id, bytes.into(), entry.revision)
            .await
            .is_ok()
        {
            tracing::info!(%build_id, holder = ?record.lease.map(|l| l.holder), "cancel requested of the build's coordinator");
            break;
        }
    }
    let wait = (ownership.renew * 2 + Duration::from_secs(1)).min(Duration::from_secs(20));
    let deadline = Instant::now() + wait;
    loop {
        let record = bus.load(build_id).await?;
        match record {
            None => return Ok(None),
            Some(record) if record.state.is_terminal() || Instant::now() >= deadline => {
                return Ok(Some(record.state));
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
