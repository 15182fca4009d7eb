// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build ownership between coordinators running at once: each build record carries a
//! [`Lease`] naming the coordinator that drives it and until when. The owner renews it every
//! [`Ownership::renew`]; any coordinator may take over a build that is not terminal and whose
//! lease ran out ([`Ownership::may_take`]), by a compare-and-swap write of the record, so only
//! one wins. Pure: the writes are the actors'.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::record::BuildRecord;

/// Who drives a build and until when, as stored in its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The owning coordinator's id ([`Ownership::id`]).
    pub holder: String,
    /// When the lease runs out, unix ms, unless renewed.
    pub expires_at_unix_ms: u64,
}

/// This coordinator's identity and lease timing (`coordinator serve --lease`,
/// `--lease-renew`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// This process's coordinator id: `<hostname>-<pid>-<random>`, new at every start.
    pub id: String,
    /// How long a lease lasts unless renewed.
    pub lease: Duration,
    /// How often the owner renews its leases, and how often every coordinator looks for
    /// builds whose lease ran out.
    pub renew: Duration,
}

/// The default lease length.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// The default renew period.
pub const DEFAULT_RENEW: Duration = Duration::from_secs(5);

impl Default for Ownership {
    fn default() -> Self {
        Ownership {
            id: coordinator_id(),
            lease: DEFAULT_LEASE,
            renew: DEFAULT_RENEW,
        }
    }
}

/// A new coordinator id: the host's name, the process id and randomness, so a restarted
/// process never mistakes its predecessor's leases for its own.
pub fn coordinator_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "coordinator".to_string());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "{host}-{}-{:06x}",
        std::process::id(),
        rand::random::<u32>() & 0x00ff_ffff
    )
}

impl Ownership {
    /// Timing checked: the renew period is shorter than the lease, both above zero.
    pub fn new(id: String, lease: Duration, renew: Duration) -> Result<Ownership, String> {
        if renew.is_zero() || lease.is_zero() {
            return Err("--lease and --lease-renew must be above zero".to_string());
        }
        if renew >= lease {
            return Err(format!(
                "--lease-renew ({}s) must be shorter than --lease ({}s), or leases run out \
                 between renewals",
                renew.as_secs_f64(),
                lease.as_secs_f64()
            ));
        }
        Ok(Ownership { id, lease, renew })
    }

    /// A lease held by this coordinator from `now` on.
    pub fn lease_from(&self, now: u64) -> Lease {
        let length = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        Lease {
            holder: self.id.clone(),
            expires_at_unix_ms: now.saturating_add(length),
        }
    }

    /// True when this coordinator holds `record`'s lease (expired or not).
    pub fn holds(&self, record: &BuildRecord) -> bool {
        record.lease.as_ref().is_some_and(|l| l.holder == self.id)
    }

    /// True when this coordinator may take `record` over at `now`: it is not terminal and
    /// its lease (if any: a record written before leases has none) ran out. A terminal
    /// build is never taken over.
    pub fn may_take(&self, record: &BuildRecord, now: u64) -> bool {
        !record.state.is_terminal()
            && record
                .lease
                .as_ref()
                .is_none_or(|lease| lease.expires_at_unix_ms <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::{BuildRequest, BuildState, ContextRef};
    use kaniko_common::platform::Platform;

    fn record(state: BuildState, lease: Option<(&str, u64)>) -> BuildRecord {
        let request = BuildRequest::new(
            ContextRef {
                sha256: "a".repeat(64),
                size: 1,
            },
            vec![Platform::parse("linux/amd64").unwrap()],
            vec!["r/app:1".into()],
        );
        let mut r = BuildRecord::new("b1".into(), request, Vec::new(), 0);
        r.state = state;
        r.lease = lease.map(|(holder, expires)| Lease {
            holder: holder.into(),
            expires_at_unix_ms: expires,
        });
        r
    }

    #[test]
    fn only_live_builds_with_a_lapsed_lease_are_taken_over() {
        let me =
            Ownership::new("me".into(), Duration::from_secs(3), Duration::from_secs(1)).unwrap();
        let check = |state, lease, now, expected: bool| {
            assert_eq!(
                me.may_take(&record(state, lease), now),
                expected,
                "{state:?} {lease:?} at {now}"
            );
        };
        check(BuildState::Running, Some(("other", 1000)), 999, false);
        check(BuildState::Running, Some(("other", 1000)), 1000, true);
        check(BuildState::Queued, None, 0, true);
        check(BuildState::Publishing, Some(("me", 5)), 10, true);
        check(BuildState::Succeeded, Some(("other", 5)), 10, false);
        check(BuildState::Failed, None, 10, false);
        check(BuildState::Cancelled, Some(("other", 5)), 10, false);
        assert_eq!(
            me.lease_from(100),
            Lease {
                holder: "me".into(),
                expires_at_unix_ms: 3100
            }
        );
        assert!(me.holds(&record(BuildState::Running, Some(("me", 0)))));
        assert!(!me.holds(&record(BuildState::Running, Some(("other", 0)))));
    }

    #[test]
    fn timing_is_checked_and_ids_differ() {
        let s = Duration::from_secs;
        assert!(Ownership::new("a".into(), s(15), s(5)).is_ok());
        assert!(Ownership::new("a".into(), s(5), s(5)).is_err());
        assert!(Ownership::new("a".into(), s(0), s(0)).is_err());
        let (a, b) = (coordinator_id(), coordinator_id());
        assert_ne!(a, b);
        assert!(
            kaniko_common::subjects::validate_token("coordinator id", &a).is_ok(),
            "{a}"
        );
    }
}
