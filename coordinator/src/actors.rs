// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The coordinator's actors (actix), one per file, each owning its state: the ApiActor (the
//! NATS request API, a file per verb under `api/`), one BuildActor per build, the FleetActor
//! (worker heartbeats) and the IndexActor (index publishing). They run under an actix
//! `System` started by `serve.rs`, and are message handlers: what they decide comes from
//! [`crate::policy`], what they say over NATS goes through [`crate::bus`].

pub mod api;
pub mod build_actor;
pub mod fleet;
pub mod index;
