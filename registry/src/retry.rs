// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Which registry failures are retried: only [`RegistryError::Transient`] ones (connection,
//! reset, timeout, 408, 429, 5xx), under the client's [`kaniko_retry::RetryPolicy`]; a
//! registry's `Retry-After` sets the pause before the next attempt.

use kaniko_retry::Retryable;

use super::error::RegistryError;

impl Retryable for RegistryError {
    fn is_retryable(&self) -> bool {
        self.is_transient()
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        RegistryError::retry_after(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use kaniko_retry::RetryPolicy;

    use super::*;

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
