// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The one retry policy of kaniko-rs: every operation that is tried again after a failure
//! (registry requests, NATS connections and publishes, build-state saves, context
//! downloads, a local build's transient failures) goes through [`RetryPolicy`], so the
//! backoff formula, the jitter and the limits are written once.
//!
//! A policy bounds the attempts (a count, a time since the first attempt, or both) and
//! spaces them with exponential backoff: the pause after the `n`-th failure is
//! `min(max_backoff, initial_backoff * 2^(n-1))`, or, with jitter, drawn uniformly from
//! `0..=` that ("full jitter"). Which failures are worth another attempt is the caller's
//! call: [`Retryable`] for error types that know, or a predicate ([`RetryPolicy::run_if`]).
//! Loops that cannot be a closure (state borrowed across attempts, a shutdown to race)
//! drive a [`Retrying`] themselves. Each retry is logged (at `warn`, or `debug` for a
//! [`RetryPolicy::quiet`] policy) naming the operation, the attempt and the reason.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;

/// An error that says whether trying the same operation again may succeed.
pub trait Retryable {
    /// Whether another attempt may succeed (a connection reset, a 503), as opposed to a
    /// failure that would only repeat itself (a 401, a bad request).
    fn is_retryable(&self) -> bool;

    /// How long the other side asked to be left alone before the next attempt (an HTTP
    /// `Retry-After`); when given, the next pause is that long (at most
    /// [`MAX_RETRY_AFTER`]) instead of the backoff's.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// The longest pause a [`Retryable::retry_after`] is honoured for: a server asking for more
/// gets this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How often and how patiently an operation is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 0 counts as 1, `u32::MAX` is no bound.
    pub max_attempts: u32,
    /// No attempt starts after this long since the first one (a retry whose pause would end
    /// past it is not made); `None`: no time bound.
    pub limit: Option<Duration>,
    /// The pause (or, with jitter, its ceiling) after the first failure.
    pub initial_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
    /// Full jitter: each pause drawn uniformly from zero to its ceiling, so that many
    /// clients failing together do not come back together.
    pub jitter: bool,
    /// Retries logged at `debug` instead of `warn` (an expected wait, such as a stream not
    /// created yet).
    pub quiet: bool,
}

impl Default for RetryPolicy {
    /// A remote call's policy: 5 attempts, pauses from 200 ms up to 10 s with full jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            limit: None,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            jitter: true,
            quiet: false,
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
            ..RetryPolicy::default()
        }
    }

    /// Tried again until `limit` has passed since the first attempt, pausing 100 ms, 200 ms,
    /// ... at most 2 s, without jitter: a write that must survive a server restart.
    pub fn within(limit: Duration) -> Self {
        RetryPolicy {
            max_attempts: u32::MAX,
            limit: Some(limit),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            jitter: false,
            quiet: false,
        }
    }

    /// Tried again for as long as the caller keeps going (no bound), pausing 100 ms, 200 ms,
    /// ... at most 2 s, without jitter.
    pub fn forever() -> Self {
        RetryPolicy {
            limit: None,
            ..RetryPolicy::within(Duration::ZERO)
        }
    }

    /// The same policy with at most `max_attempts` attempts.
    pub fn with_attempts(self, max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            ..self
        }
    }

    /// The same policy with pauses from `initial` up to `max`.
    pub fn with_backoff(self, initial: Duration, max: Duration) -> Self {
        RetryPolicy {
            initial_backoff: initial,
            max_backoff: max,
            ..self
        }
    }

    /// The same policy, its retries logged at `debug`.
    pub fn quiet(self) -> Self {
        RetryPolicy {
            quiet: true,
            ..self
        }
    }

    /// The pause ceiling after the `failed_attempt`-th failure (1-based; 0 counts as 1):
    /// `initial_backoff` doubled for each failure after the first, at most `max_backoff`.
    pub fn backoff_ceiling(&self, failed_attempt: u32) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }

    /// The pause after the `failed_attempt`-th failure: the ceiling, or with jitter a
    /// uniform draw in `0..=ceiling`.
    pub fn backoff(&self, failed_attempt: u32) -> Duration {
        let ceiling = self.backoff_ceiling(failed_attempt);
        if !self.jitter {
            return ceiling;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// Starts counting the attempts of `what` (named in the logs), for a loop that decides
    /// itself when to try again ([`Retrying::again`]).
    pub fn start<'a>(&'a self, what: &'a str) -> Retrying<'a> {
        Retrying {
            policy: self,
            what,
            attempt: 1,
            started: Instant::now(),
        }
    }

    /// Runs `op` (given the 1-based attempt number) until it succeeds, fails with an error
    /// that is not [`Retryable::is_retryable`], or the policy gives up; the last error then.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut op: F) -> Result<T, E>
    where
        E: Retryable + Display,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut retrying = self.start(what);
        loop {
            match op(retrying.attempt()).await {
                Ok(value) => return Ok(value),
                Err(err)
                    if err.is_retryable()
                        && retrying.again_after(&err, err.retry_after()).await => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// [`RetryPolicy::run`] with the failures worth another attempt chosen by `retryable`.
    pub async fn run_if<T, E, F, Fut>(
        &self,
        what: &str,
        retryable: impl Fn(&E) -> bool,
        mut op: F,
    ) -> Result<T, E>
    where
        E: Display,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut retrying = self.start(what);
        loop {
            match op(retrying.attempt()).await {
                Ok(value) => return Ok(value),
                Err(err) if retryable(&err) && retrying.again(&err).await => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// The attempts of one operation under a [`RetryPolicy`], for loops that keep their own
/// state between attempts or race the pause against something else (a shutdown).
#[derive(Debug)]
pub struct Retrying<'a> {
    policy: &'a RetryPolicy,
    what: &'a str,
    attempt: u32,
    started: Instant,
}

impl Retrying<'_> {
    /// The attempt under way, 1-based.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How long since the first attempt started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// After the current attempt failed with `err` (worth another try): the pause before
    /// the next one, counted and logged; `None` (logged too) when the policy gives up.
    pub fn next_pause(&mut self, err: &dyn Display) -> Option<Duration> {
        self.next_pause_after(err, None)
    }

    /// [`Retrying::next_pause`] when the other side asked for `retry_after` (an HTTP
    /// `Retry-After`): the pause is that, at most [`MAX_RETRY_AFTER`], instead of the
    /// backoff's, and the log says so.
    pub fn next_pause_after(
        &mut self,
        err: &dyn Display,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let (what, attempt) = (self.what, self.attempt);
        let asked = retry_after.map(|wait| wait.min(MAX_RETRY_AFTER));
        let pause = asked.unwrap_or_else(|| self.policy.backoff(attempt));
        let exhausted = attempt >= self.policy.max_attempts.max(1)
            || self
                .policy
                .limit
                .is_some_and(|limit| self.started.elapsed() + pause >= limit);
        if exhausted {
            self.log(format_args!(
                "{what} failed; giving up after {attempt} attempt(s): {err}"
            ));
            return None;
        }
        if asked.is_some() {
            self.log(format_args!(
                "{what} failed (attempt {attempt}): {err}; waiting {pause:?} for the registry's Retry-After before trying again"
            ));
        } else {
            self.log(format_args!(
                "{what} failed (attempt {attempt}): {err}; trying again in {pause:?}"
            ));
        }
        self.attempt += 1;
        Some(pause)
    }

    /// [`Retrying::next_pause`], then the pause: whether to make another attempt.
    pub async fn again<E: Display + ?Sized>(&mut self, err: &E) -> bool {
        self.again_after(err, None).await
    }

    /// [`Retrying::again`] honouring the other side's `retry_after` (see
    /// [`Retrying::next_pause_after`]).
    pub async fn again_after<E: Display + ?Sized>(
        &mut self,
        err: &E,
        retry_after: Option<Duration>,
    ) -> bool {
        match self.next_pause_after(&err, retry_after) {
            Some(pause) => {
                tokio::time::sleep(pause).await;
                true
            }
            None => false,
        }
    }

    /// [`Retrying::again`] for synchronous code: the pause blocks the thread.
    pub fn again_blocking<E: Display + ?Sized>(&mut self, err: &E) -> bool {
        match self.next_pause(&err) {
            Some(pause) => {
                std::thread::sleep(pause);
                true
            }
            None => false,
        }
    }

    fn log(&self, message: std::fmt::Arguments<'_>) {
        if self.policy.quiet {
            tracing::debug!("{message}");
        } else {
            tracing::warn!("{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use proptest::prelude::*;

    use super::*;

    fn policy(initial_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy::default()
            .with_backoff(
                Duration::from_millis(initial_ms),
                Duration::from_millis(max_ms),
            )
            .with_attempts(5)
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
        check(0, 200);
        check(1, 200);
        check(2, 400);
        check(3, 800);
        check(6, 6400);
        check(7, 10_000);
        check(40, 10_000);
        check(u32::MAX, 10_000);
    }

    #[test]
    fn without_jitter_the_pause_is_the_ceiling() {
        let p = RetryPolicy::within(Duration::from_secs(60));
        for (failed, ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (5, 1600),
            (6, 2000),
            (9, 2000),
        ] {
            assert_eq!(p.backoff(failed), Duration::from_millis(ms), "{failed}");
        }
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

    /// A failure that is retryable or not.
    #[derive(Debug, Clone, PartialEq)]
    struct Failure(u32, bool);

    impl Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failure {}", self.0)
        }
    }

    impl Retryable for Failure {
        fn is_retryable(&self) -> bool {
            self.1
        }
    }

    /// Runs `policy` over an operation whose first `fail_first` attempts fail (retryable or
    /// not): what it returned and how many calls it took.
    async fn calls(
        policy: RetryPolicy,
        fail_first: u32,
        retryable: bool,
    ) -> (Result<u32, Failure>, u32) {
        let calls = AtomicU32::new(0);
        let got = policy
            .run("op", |attempt| {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                assert_eq!(n, attempt, "the attempt number counts the calls");
                async move {
                    if n <= fail_first {
                        Err(Failure(n, retryable))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        (got, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn attempts_are_bounded_by_count() {
        async fn check(max_attempts: u32, fail_first: u32, expected: Result<u32, u32>) {
            let (got, n) = calls(RetryPolicy::fast(max_attempts), fail_first, true).await;
            let got = got.map_err(|Failure(n, _)| n);
            assert_eq!(
                got, expected,
                "max_attempts {max_attempts}, fail_first {fail_first}"
            );
            assert_eq!(n, got.unwrap_or_else(|n| n));
        }
        check(5, 0, Ok(1)).await;
        check(5, 2, Ok(3)).await;
        check(0, 9, Err(1)).await;
        check(1, 9, Err(1)).await;
        check(4, 9, Err(4)).await;
    }

    #[tokio::test]
    async fn failures_that_are_not_retryable_are_final() {
        let (got, n) = calls(RetryPolicy::fast(5), 9, false).await;
        assert_eq!(got, Err(Failure(1, false)));
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded_by_time() {
        async fn check(fail_first: u32, limit: Duration, expected: Result<u32, u32>) {
            let (got, _) = calls(RetryPolicy::within(limit), fail_first, true).await;
            assert_eq!(
                got.map_err(|Failure(n, _)| n),
                expected,
                "fail_first {fail_first}, limit {limit:?}"
            );
        }
        check(0, Duration::from_secs(1), Ok(1)).await;
        check(3, Duration::from_secs(10), Ok(4)).await;
        // 100 + 200 + 400 ms of pauses fit in 1 s; the fourth failure is final.
        check(10, Duration::from_secs(1), Err(4)).await;
        check(10, Duration::ZERO, Err(1)).await;
    }

    #[test]
    fn a_retry_after_replaces_the_backoff_up_to_the_cap() {
        let policy = RetryPolicy::fast(5);
        let mut retrying = policy.start("push");
        let asked = |secs| Some(Duration::from_secs(secs));
        assert_eq!(retrying.next_pause_after(&"429", asked(2)), asked(2));
        assert_eq!(
            retrying.next_pause_after(&"429", asked(3600)),
            Some(MAX_RETRY_AFTER)
        );
        let backoff = retrying.next_pause_after(&"503", None).unwrap();
        assert!(backoff <= Duration::from_millis(50), "{backoff:?}");
        // The attempts still count: the fifth failure is final, whatever was asked.
        assert_eq!(retrying.next_pause_after(&"429", asked(1)), asked(1));
        assert_eq!(retrying.next_pause_after(&"429", asked(1)), None);
    }

    /// A failure that asks for a pause.
    struct Throttled(Duration);

    impl Display for Throttled {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("429")
        }
    }

    impl Retryable for Throttled {
        fn is_retryable(&self) -> bool {
            true
        }
        fn retry_after(&self) -> Option<Duration> {
            Some(self.0)
        }
    }

    #[tokio::test]
    async fn run_waits_as_long_as_the_failure_asks() {
        let started = Instant::now();
        let got = RetryPolicy::fast(3)
            .run("op", |attempt| async move {
                if attempt == 1 {
                    Err(Throttled(Duration::from_millis(300)))
                } else {
                    Ok(attempt)
                }
            })
            .await;
        assert_eq!(got.ok(), Some(2));
        // The fast policy's own pauses are at most 50 ms.
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn a_blocking_loop_counts_and_gives_up_the_same_way() {
        let policy = RetryPolicy::fast(3).with_backoff(Duration::ZERO, Duration::ZERO);
        let mut retrying = policy.start("spawn");
        let mut attempts = vec![retrying.attempt()];
        while retrying.again_blocking(&"busy") {
            attempts.push(retrying.attempt());
        }
        assert_eq!(attempts, [1, 2, 3]);
    }
}
