// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Platforms (`os/arch[/variant]`): parsing, formatting and normalisation with containerd's
//! rules, host detection, matching with fallbacks, and the NATS subject tokens of a platform.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalised target platform. Construct it with [`Platform::parse`] or [`Platform::new`] so
/// that the fields always hold containerd's normal form (`amd64`, `arm64`, `arm` + `v7`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in GOARCH spelling, e.g. `amd64`, `arm64`, `arm`.
    pub architecture: String,
    /// CPU variant, e.g. `v7` for `arm`; `None` when the architecture has no variant.
    pub variant: Option<String>,
}

impl Platform {
    /// The order platforms take in an image index: by os, then architecture, then specific
    /// variants before no variant, higher variants first. Deterministic, so the same set of
    /// children always gives the same index bytes.
    pub fn index_cmp(&self, other: &Platform) -> Ordering {
        self.os
            .cmp(&other.os)
            .then_with(|| self.architecture.cmp(&other.architecture))
            .then_with(|| match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => variant_rank(b).cmp(&variant_rank(a)).then_with(|| b.cmp(a)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
    }
}

/// `v7` → 7, so that `v10` sorts above `v9`; anything else ranks 0.
fn variant_rank(variant: &str) -> u32 {
    variant
        .strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// The index of the candidate that best serves `self`: an exact match first, then the
    /// compatible fallbacks of containerd's matcher. `None` when nothing can serve it.
    pub fn best_match(&self, candidates: &[Platform]) -> Option<usize> {
        candidates.iter().position(|candidate| candidate == self)
    }
}
