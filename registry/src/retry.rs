// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The retry policy of registry operations: a bounded number of attempts, exponential backoff
//! with full jitter, and only transient failures retried.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::error::RegistryError;

/// How often and how patiently a registry operation is retried. Only
/// [`RegistryError::Transient`] failures are retried; the wait before attempt `n + 1` is drawn
/// uniformly from `0..=min(max_backoff, initial_backoff * 2^(n-1))` ("full jitter").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 0 counts as 1.
    pub max_attempts: u32,
    /// The backoff ceiling after the first failure.
    pub initial_backoff: Duration,
    /// The largest backoff ceiling.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, from 200 ms up to 10 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// `max_attempts` attempts with millisecond backoffs, so that test suites stay fast.
    pub fn fast(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        }
    }

    /// The backoff ceiling after the `failed_attempt`-th failure (1-based), before jitter.
    pub fn backoff_ceiling(&self, failed_attempt: u32) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }

    /// A jittered wait after the `failed_attempt`-th failure: uniform in `0..=ceiling`.
    pub fn backoff(&self, failed_attempt: u32) -> Duration {
        let ceiling = self.backoff_ceiling(failed_attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// Runs `op` (given the 1-based attempt number) until it succeeds, fails with a
    /// non-transient error, or `max_attempts` attempts have failed. Each retry is logged at
    /// `warn` with `what`, the attempt number and the reason.
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, RegistryError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(value) => return Ok(value),
                Err(err) => {
                    if !self.pause_before_retry(what, attempt, &err).await {
                        return Err(err);
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// After attempt `attempt` of `what` failed with `err`: whether to try again. When yes,
    /// logs the retry at `warn` and sleeps the jittered backoff first.
    pub async fn pause_before_retry(&self, what: &str, attempt: u32, err: &RegistryError) -> bool {
        let max_attempts = self.max_attempts.max(1);
        if !err.is_transient() {
            return false;
        }
        if attempt >= max_attempts {
            tracing::warn!(
                operation = what,
                attempt,
                max_attempts,
                reason = %err,
                "registry operation failed, giving up"
            );
            return false;
        }
        let wait = self.backoff(attempt);
        tracing::warn!(
            operation = what,
            attempt,
            max_attempts,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            reason = %err,
            "registry operation failed, retrying"
        );
        tokio::time::sleep(wait).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use proptest::prelude::*;

    use super::*;

    fn policy(initial_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(initial_ms),
            max_backoff: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn ceilings_double_from_the_initial_backoff_up_to_the_maximum() {
        fn check(failed_attempt: u32, expected_ms: u64) {
            assert_eq!(
                policy(200, 10_000).backoff_ceiling(failed_attempt),
                Duration::from_millis(expected_ms),
                "after failure {failed_attempt}"
            );
        }
        check(1, 200);
        check(2, 400);
        check(3, 800);
        check(6, 6400);
        check(7, 10_000);
        check(40, 10_000);
        check(u32::MAX, 10_000);
    }

    proptest! {
        #[test]
        fn jittered_backoff_stays_within_the_ceiling(initial in 0u64..5_000, max in 0u64..60_000, n in 1u32..100) {
            let p = policy(initial, max);
            let wait = p.backoff(n);
            prop_assert!(wait <= p.backoff_ceiling(n));
            prop_assert!(p.backoff_ceiling(n) <= Duration::from_millis(max));
        }
    }

    fn transient() -> RegistryError {
        RegistryError::transient("r/x", "503")
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let got = RetryPolicy::fast(5)
            .run("push", |attempt| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if attempt < 3 {
                        Err(transient())
                    } else {
                        Ok(attempt)
                    }
                }
            })
            .await;
        assert_eq!(got.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    async fn calls_until_error(
        policy: RetryPolicy,
        err: fn() -> RegistryError,
    ) -> (RegistryError, u32) {
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = policy
            .run("push", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { Err(err()) }
            })
            .await;
        (got.unwrap_err(), calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn gives_up_after_exactly_max_attempts() {
        async fn check(max_attempts: u32, expected_calls: u32) {
            let (err, calls) = calls_until_error(RetryPolicy::fast(max_attempts), transient).await;
            assert!(err.is_transient());
            assert_eq!(calls, expected_calls, "max_attempts {max_attempts}");
        }
        check(0, 1).await;
        check(1, 1).await;
        check(4, 4).await;
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        async fn check(err: fn() -> RegistryError, expected_kind: &str) {
            let (err, calls) = calls_until_error(RetryPolicy::fast(5), err).await;
            assert_eq!(err.kind(), expected_kind);
            assert_eq!(calls, 1, "{err}");
        }
        check(|| RegistryError::unauthorized("r/x", "401"), "unauthorized").await;
        check(|| RegistryError::not_found("r/x", "manifest"), "not_found").await;
        check(|| RegistryError::protocol("r/x", "400"), "protocol").await;
    }
}
