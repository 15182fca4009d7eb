// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The coordinator's policy, apart from who runs it: routing ([`routing`]), the one task
//! construction and task id ([`task`]), a build's record and the failure verdict
//! ([`record`]), which coordinator owns a build ([`lease`]), index publishing ([`publish`]) and signing what it publishes ([`sign`]). The actors (the fleet over NATS) and
//! every driver (`local`, `ci`) call these; none of them imports an actor or a driver.

pub mod lease;
pub mod publish;
pub mod record;
pub mod routing;
pub mod sign;
pub mod task;

/// Now, unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
