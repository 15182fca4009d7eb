// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Drivers decide where a platform's build runs: `nats` (the worker fleet, through the
//! TASKS stream: `coordinator serve`'s actors over [`crate::bus`]), `local` (an in-process
//! worker, host platform only, no NATS) and `ci` (no build: per-platform images pushed by CI
//! jobs, published as one index). Every driver applies [`crate::policy`]; none imports an
//! actor.

pub mod ci;
pub mod local;

use std::fmt;
use std::str::FromStr;

/// Which driver runs the builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriverKind {
    /// An in-process worker, no NATS (the embedded default).
    #[default]
    Local,
    /// The worker fleet over NATS.
    Nats,
}

impl FromStr for DriverKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(DriverKind::Local),
            "nats" => Ok(DriverKind::Nats),
            other => Err(format!("unknown driver {other:?}: use local or nats")),
        }
    }
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Local => "local",
            DriverKind::Nats => "nats",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_names() {
        fn check(input: &str, expected: Result<DriverKind, &str>) {
            assert_eq!(
                input.parse::<DriverKind>(),
                expected.map_err(str::to_string)
            );
        }
        check("local", Ok(DriverKind::Local));
        check("nats", Ok(DriverKind::Nats));
        check("k8s", Err("unknown driver \"k8s\": use local or nats"));
    }
}
