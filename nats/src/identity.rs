// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! What the bus keeps per identity: a submitter named by the coordinator's policy has its own
//! contexts object store (`KANIKO_CONTEXTS_<identity>`) and its own events stream
//! (`KANIKO_EVENTS_<identity>` on `kaniko.user.<identity>.events.>`), so nats-server's
//! permissions can give it its own and nobody else's (see docs/security.md). The coordinator
//! creates them at start ([`Bus::ensure_identity`]); a bus acting for one identity's builds
//! ([`Bus::for_owner`]) uploads, downloads and publishes events there.

use std::sync::Arc;

use super::{Bus, BusError, BusSettings, settings};
use kaniko_common::subjects::validate_identity;

impl Bus {
    /// This bus acting for the builds of `owner` (`None`: anonymous builds): contexts go to
    /// and come from its object store, events go to its events stream. Shares the
    /// connection; the object store handle is opened again on first use.
    pub fn for_owner(&self, owner: Option<&str>) -> Result<Bus, BusError> {
        if let Some(owner) = owner {
            validate_identity(owner)?;
        }
        if self.owner.as_deref() == owner {
            return Ok(self.clone());
        }
        Ok(Bus {
            owner: owner.map(str::to_string),
            contexts: Arc::default(),
            ..self.clone()
        })
    }

    /// The identity this bus acts for, `None` when anonymous.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// Creates `identity`'s events stream and contexts object store when missing (existing
    /// ones are left as they are, a differing setting logged as a warning).
    pub async fn ensure_identity(
        &self,
        identity: &str,
        settings: &BusSettings,
    ) -> Result<(), BusError> {
        let names = self.names();
        self.ensure_stream(settings::owner_events_stream(names, identity, settings)?)
            .await?;
        let store = names.contexts_store_for(Some(identity))?;
        self.ensure_object_store(&store, settings).await
    }
}
