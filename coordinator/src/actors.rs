// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The coordinator's actors (actix), one per file, each owning its state: the ApiActor (the
//! NATS request API), one BuildActor per build, the FleetActor (worker heartbeats) and the
//! IndexActor (index publishing). They run under an actix `System` started by `serve.rs`.

pub mod api;
pub mod build;
pub mod fleet;
pub mod index;

/// Now, unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
