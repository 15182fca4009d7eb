// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `submit`: a request is checked by [`prepare`] before anything is published (the policy's
//! push check before the context is read, the Dockerfile read out of the caller's stored
//! context, its pull check, cross-safety and the route of every platform from
//! [`crate::policy::routing`], `require_native_nodes`), stored in the BUILDS bucket with its
//! owner, answered with its build id, and handed to a new BuildActor.

use std::sync::Arc;

use actix::prelude::*;
use kaniko_common::dockerfile::Dockerfile;
use kaniko_common::messages::{BuildRequest, SubmitReply, WireError};
use kaniko_registry::Reference;
use tracing::{info, warn};

use super::{Adopt, caller_of, decode, new_build_id, reply};
use crate::actors::fleet::{FleetActor, LiveWorkers};
use crate::authz::{Caller, Policy};
use crate::bus::{FleetBus, StoreUnavailable};
use crate::policy::lease::Ownership;
use crate::policy::now_ms;
use crate::policy::record::{BuildRecord, PlatformRecord, Route};
use crate::policy::routing::{cross_safe, missing_native, route};

/// Checks a request of `caller` and decides each platform's route; nothing is published
/// here. With a policy, the caller's identity must be allowed to push to every destination
/// (checked before the context is read) and to pull every image the Dockerfile names; the
/// context is read from the caller's own store.
pub async fn prepare(
    bus: &FleetBus,
    fleet: &Addr<FleetActor>,
    build_id: &str,
    request: BuildRequest,
    caller: Caller<'_>,
    policy: Option<&Policy>,
) -> Result<BuildRecord, WireError> {
    request.validate()?;
    if request.sign_images && crate::policy::sign::installed().is_none() {
        return Err(WireError::refused(crate::policy::sign::NO_KEY.to_string()));
    }
    for destination in &request.destinations {
        destination.parse::<Reference>().map_err(|e| {
            WireError::refused(format!(
                "destination {destination:?} is not an image reference: {e}"
            ))
        })?;
    }
    let owner = caller.identity();
    let checks = owner.zip(policy);
    if let Some((identity, policy)) = checks {
        policy.authorize_push(identity, &request)?;
    }
    let text = bus
        .read_dockerfile(owner, &request.context, &request.dockerfile)
        .await
        .map_err(|e| match e.downcast_ref::<StoreUnavailable>() {
            Some(_) => WireError::transient(format!("{e:#}")),
            None => WireError::not_found(format!("{e:#}")),
        })?;
    let dockerfile = Dockerfile::parse(&text)
        .map_err(|e| WireError::refused(format!("{}: {e}", request.dockerfile)))?;
    if let Some((identity, policy)) = checks {
        policy.authorize_pull(identity, &request, &dockerfile)?;
    }
    let workers = fleet
        .send(LiveWorkers)
        .await
        .map_err(|e| WireError::transient(format!("fleet unavailable: {e}")))?;
    if request.require_native_nodes {
        let missing = missing_native(&workers, &request.platforms);
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
            return Err(WireError::refused(format!(
                "require_native_nodes: no live native worker for {}",
                names.join(", ")
            )));
        }
    }
    let mut platforms = Vec::new();
    for platform in &request.platforms {
        let safe = cross_safe(&dockerfile, &request, platform)?;
        let route = route(&workers, platform, safe);
        if route == Route::Native && !workers.iter().any(|w| &w.native == platform) {
            warn!(build_id, %platform, "no live native worker: the task waits for one");
        }
        platforms.push(PlatformRecord::new(platform.clone(), safe, route));
    }
    let mut record = BuildRecord::new(build_id.to_string(), request, platforms, now_ms());
    record.owner = owner.map(str::to_string);
    Ok(record)
}

/// Answers a submit request: the build to adopt when it was accepted and stored.
pub(super) async fn answer(
    bus: FleetBus,
    fleet: Addr<FleetActor>,
    message: async_nats::Message,
    identity: Option<String>,
    policy: Option<Arc<Policy>>,
    ownership: Arc<Ownership>,
) -> Option<Adopt> {
    let caller = caller_of(identity.as_deref());
    let request = match decode::<BuildRequest>(&message) {
        Ok(request) => request,
        Err(err) => {
            reply(&bus, &message, &SubmitReply::refused(err.into())).await;
            return None;
        }
    };
    let build_id = new_build_id();
    let stored = async {
        let mut record =
            prepare(&bus, &fleet, &build_id, request, caller, policy.as_deref()).await?;
        // Driven by this coordinator from the start: the others leave it alone while the
        // lease is renewed.
        record.lease = Some(ownership.lease_from(now_ms()));
        let bytes = serde_json::to_vec(&record).map_err(|e| WireError::permanent(e.to_string()))?;
        let revision = bus
            .create_record(&build_id, &bytes)
            .await
            .map_err(|e| WireError::transient(format!("{e:#}")))?;
        Ok::<_, WireError>((record, revision))
    }
    .await;
    let who = identity.as_deref().unwrap_or("");
    match stored {
        Ok((record, revision)) => {
            info!(%build_id, identity = who, "build accepted");
            reply(&bus, &message, &SubmitReply::accepted(&build_id)).await;
            Some(Adopt { record, revision })
        }
        Err(error) => {
            info!(%build_id, identity = who, "build refused: {error}");
            reply(&bus, &message, &SubmitReply::refused(error)).await;
            None
        }
    }
}
