// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `local` driver: the coordinator and one worker in the same process, no NATS, host
//! platform only (other platforms only when cross-safe). Not built yet: it needs the
//! worker's executor, which is landing separately; until then it refuses clearly.

/// Why the local driver cannot run a build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    /// The in-process driver is not available in this build.
    #[error(
        "the local driver is not available yet: use --driver nats with a running coordinator and workers"
    )]
    NotAvailable,
}

/// Checks that the local driver can run; always [`LocalError::NotAvailable`] for now.
pub fn ensure_available() -> Result<(), LocalError> {
    Err(LocalError::NotAvailable)
}
