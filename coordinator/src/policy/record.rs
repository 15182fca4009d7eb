// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A build's state as kept in the BUILDS KV bucket, and the pure decisions on it: how a task
//! result, a deadline or a cancel changes it, and what the failure policy says once every
//! platform is done (publish an index, a partial index, or fail naming each platform).

use kaniko_common::messages::{
    BuildRequest, BuildState, BuildStatus, ErrorKind, FailedPlatform, PlatformDescriptor,
    PlatformState, PlatformStatus, TagPush, TaskOutcome, TaskResult, WireError,
};
use kaniko_common::oci::Descriptor;
use kaniko_common::platform::Platform;
use serde::{Deserialize, Serialize};

use super::lease::Lease;

/// Where a platform's task was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// The platform's own subject: native workers only.
    Native,
    /// The cross subject: `--allow-cross` workers, cross-safe tasks only.
    Cross,
}

/// One platform of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformRecord {
    /// The platform.
    #[serde(with = "kaniko_common::platform::as_string")]
    pub platform: Platform,
    /// Its state.
    pub state: PlatformState,
    /// The attempt of the task last published, from 1; 0 before publishing.
    pub attempt: u32,
    /// True once its task is stored in the TASKS stream (so a restart does not publish it).
    pub published: bool,
    /// Whether the Dockerfile runs nothing on this platform.
    pub cross_safe: bool,
    /// Where its task went.
    pub route: Route,
    /// The worker that reported on it.
    pub worker_id: Option<String>,
    /// Its manifest, once built.
    pub descriptor: Option<Descriptor>,
    /// Why it failed.
    pub error: Option<WireError>,
}

impl PlatformRecord {
    /// A platform not yet published.
    pub fn new(platform: Platform, cross_safe: bool, route: Route) -> Self {
        PlatformRecord {
            platform,
            state: PlatformState::Queued,
            attempt: 0,
            published: false,
            cross_safe,
            route,
            worker_id: None,
            descriptor: None,
            error: None,
        }
    }

    /// True once it will not change any more.
    pub fn is_done(&self) -> bool {
        matches!(
            self.state,
            PlatformState::Succeeded | PlatformState::Failed | PlatformState::Cancelled
        )
    }
}

/// A build, as stored under its id in the BUILDS bucket (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The build's id.
    pub build_id: String,
    /// The request as accepted.
    pub request: BuildRequest,
    /// Where the build is.
    pub state: BuildState,
    /// Each platform, in request order.
    pub platforms: Vec<PlatformRecord>,
    /// The published index.
    pub index: Option<Descriptor>,
    /// The build's errors.
    pub errors: Vec<WireError>,
    /// What publishing did to each destination tag, once it was tried.
    #[serde(default)]
    pub tags: Vec<TagPush>,
    /// Submission time, unix ms.
    pub submitted_at_unix_ms: u64,
    /// Last change, unix ms.
    pub updated_at_unix_ms: u64,
    /// The identity that submitted it (from the subject of its request), `None` for an
    /// anonymous build of a coordinator without a policy.
    #[serde(default)]
    pub owner: Option<String>,
    /// The coordinator driving it and until when ([`super::lease`]); `None` in a record
    /// stored before leases (any coordinator may take it).
    #[serde(default)]
    pub lease: Option<Lease>,
    /// Why a cancel was asked of a coordinator that does not own the build: the owner sees
    /// it at its next write and cancels.
    #[serde(default)]
    pub cancel_requested: Option<String>,
}

/// What the failure policy decides once every platform is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Publish an index of these children; `failed` are left out (only with `allow_partial`).
    Publish {
        /// The built platforms.
        children: Vec<PlatformDescriptor>,
        /// The failed platforms.
        failed: Vec<FailedPlatform>,
    },
    /// Every platform is built but no index is wanted (`publish_index: false`).
    NoIndex {
        /// The built platforms.
        children: Vec<PlatformDescriptor>,
        /// The failed platforms (only with `allow_partial`).
        failed: Vec<FailedPlatform>,
    },
    /// The build failed: nothing is published under the tags.
    Fail(Vec<WireError>),
}

/// What applying a task result did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The result was for an earlier attempt or a finished platform: ignored.
    Ignored,
    /// The platform is built.
    Done(Descriptor),
    /// The platform failed for good.
    Failed(WireError),
}

impl BuildRecord {
    /// A new build: every platform queued.
    pub fn new(
        build_id: String,
        request: BuildRequest,
        platforms: Vec<PlatformRecord>,
        now: u64,
    ) -> Self {
        BuildRecord {
            build_id,
            request,
            state: BuildState::Queued,
            platforms,
            index: None,
            errors: Vec::new(),
            tags: Vec::new(),
            submitted_at_unix_ms: now,
            updated_at_unix_ms: now,
            owner: None,
            lease: None,
            cancel_requested: None,
        }
    }

    /// The record of `platform`.
    pub fn platform_mut(&mut self, platform: &Platform) -> Option<&mut PlatformRecord> {
        self.platforms.iter_mut().find(|p| &p.platform == platform)
    }

    /// True when every platform is done.
    pub fn all_done(&self) -> bool {
        self.platforms.iter().all(PlatformRecord::is_done)
    }

    /// A worker started building `platform` (its `platform_started` event).
    pub fn started(&mut self, platform: &Platform, worker_id: &str, attempt: u32, now: u64) {
        if let Some(record) = self.platform_mut(platform)
            && !record.is_done()
            && attempt >= record.attempt
        {
            record.state = PlatformState::Running;
            record.worker_id = Some(worker_id.to_string());
            self.state = BuildState::Running;
            self.updated_at_unix_ms = now;
        }
    }

    /// Applies a task result: results of another build, of an earlier attempt or for a
    /// platform already done are ignored (a redelivered task may report twice).
    pub fn apply(&mut self, result: &TaskResult, now: u64) -> Applied {
        if result.build_id != self.build_id || self.state.is_terminal() {
            return Applied::Ignored;
        }
        let Some(record) = self.platform_mut(&result.platform) else {
            return Applied::Ignored;
        };
        if record.is_done() || result.attempt < record.attempt {
            return Applied::Ignored;
        }
        record.worker_id = Some(result.worker_id.clone());
        let applied = match &result.outcome {
            TaskOutcome::Built { manifest, .. } => {
                let mut descriptor = manifest.clone();
                descriptor.platform = Some(result.platform.clone());
                record.state = PlatformState::Succeeded;
                record.descriptor = Some(descriptor.clone());
                record.error = None;
                Applied::Done(descriptor)
            }
            TaskOutcome::Failed(error) => {
                let error = WireError::new(
                    error.kind,
                    format!("platform {}: {}", result.platform, error.message),
                );
                record.state = PlatformState::Failed;
                record.error = Some(error.clone());
                Applied::Failed(error)
            }
        };
        if self.state == BuildState::Queued {
            self.state = BuildState::Running;
        }
        self.updated_at_unix_ms = now;
        applied
    }

    /// Fails every platform not done yet with `error` (a deadline, a cancel); returns those
    /// platforms.
    pub fn abort_pending(
        &mut self,
        kind: ErrorKind,
        reason: &str,
        now: u64,
    ) -> Vec<FailedPlatform> {
        let state = if kind == ErrorKind::Cancelled {
            PlatformState::Cancelled
        } else {
            PlatformState::Failed
        };
        let mut out = Vec::new();
        for record in self.platforms.iter_mut().filter(|p| !p.is_done()) {
            let error = WireError::new(kind, format!("platform {}: {reason}", record.platform));
            record.state = state;
            record.error = Some(error.clone());
            out.push(FailedPlatform {
                platform: record.platform.clone(),
                error,
            });
        }
        self.updated_at_unix_ms = now;
        out
    }

    /// The failure policy, once every platform is done: any failure fails the build with each
    /// platform's reason, unless `allow_partial` and something was built.
    pub fn verdict(&self) -> Verdict {
        let children: Vec<PlatformDescriptor> = self
            .platforms
            .iter()
            .filter_map(|p| {
                p.descriptor.as_ref().map(|d| PlatformDescriptor {
                    platform: p.platform.clone(),
                    descriptor: d.clone(),
                })
            })
            .collect();
        let failed: Vec<FailedPlatform> = self
            .platforms
            .iter()
            .filter(|p| p.descriptor.is_none())
            .map(|p| FailedPlatform {
                platform: p.platform.clone(),
                error: p.error.clone().unwrap_or_else(|| {
                    WireError::permanent(format!("platform {} was not built", p.platform))
                }),
            })
            .collect();
        if !failed.is_empty() && (!self.request.allow_partial || children.is_empty()) {
            return Verdict::Fail(failed.into_iter().map(|f| f.error).collect());
        }
        if self.request.publish_index {
            Verdict::Publish { children, failed }
        } else {
            Verdict::NoIndex { children, failed }
        }
    }

    /// The API's view of this build.
    pub fn status(&self) -> BuildStatus {
        BuildStatus {
            build_id: self.build_id.clone(),
            state: self.state,
            platforms: self
                .platforms
                .iter()
                .map(|p| PlatformStatus {
                    platform: p.platform.clone(),
                    state: p.state,
                    worker_id: p.worker_id.clone(),
                    attempt: p.attempt,
                    descriptor: p.descriptor.clone(),
                    error: p.error.clone(),
                    queue_position: None,
                })
                .collect(),
            index: self.index.clone(),
            destinations: self.request.destinations.clone(),
            errors: self.errors.clone(),
            tags: self.tags.clone(),
            submitted_at_unix_ms: self.submitted_at_unix_ms,
            updated_at_unix_ms: self.updated_at_unix_ms,
            owner: self.owner.clone(),
            coordinator: self.lease.as_ref().map(|l| l.holder.clone()),
        }
    }
}

/// The place in its queue of every waiting platform of `records`' unfinished builds, keyed by
/// `(build id, platform)`: platforms whose tasks go to the same subject (the platform and its
/// route) wait in one queue, served in the order the builds were submitted; 1 is next.
pub fn queue_positions<'r>(
    records: impl IntoIterator<Item = &'r BuildRecord>,
) -> std::collections::HashMap<(String, String), u32> {
    let mut waiting: std::collections::BTreeMap<(String, Route), Vec<(u64, String)>> =
        std::collections::BTreeMap::new();
    for record in records {
        if record.state.is_terminal() {
            continue;
        }
        for p in &record.platforms {
            if p.state == PlatformState::Queued {
                waiting
                    .entry((p.platform.to_string(), p.route))
                    .or_default()
                    .push((record.submitted_at_unix_ms, record.build_id.clone()));
            }
        }
    }
    let mut positions = std::collections::HashMap::new();
    for ((platform, _), mut builds) in waiting {
        builds.sort();
        for (place, (_, build_id)) in builds.into_iter().enumerate() {
            let place = u32::try_from(place).unwrap_or(u32::MAX).saturating_add(1);
            positions.insert((build_id, platform.clone()), place);
        }
    }
    positions
}

/// Fills `status`' queue positions from `positions` ([`queue_positions`]).
pub fn fill_queue_positions(
    status: &mut BuildStatus,
    positions: &std::collections::HashMap<(String, String), u32>,
) {
    for p in &mut status.platforms {
        p.queue_position = positions
            .get(&(status.build_id.clone(), p.platform.to_string()))
            .copied();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::ContextRef;
    use kaniko_common::oci::OCI_MANIFEST;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    fn record(allow_partial: bool, publish_index: bool) -> BuildRecord {
        let context = ContextRef {
            sha256: "a".repeat(64),
            size: 10,
        };
        let mut request = BuildRequest::new(
            context,
            vec![p("linux/amd64"), p("linux/arm64")],
            vec!["r.example/app:1".into()],
        );
        request.allow_partial = allow_partial;
        request.publish_index = publish_index;
        let platforms = request
            .platforms
            .iter()
            .map(|pl| PlatformRecord::new(pl.clone(), true, Route::Native))
            .map(|mut r| {
                r.attempt = 1;
                r.published = true;
                r
            })
            .collect();
        BuildRecord::new("b1".into(), request, platforms, 1)
    }

    fn built(platform: &str, attempt: u32) -> TaskResult {
        TaskResult {
            build_id: "b1".into(),
            task_id: "t".into(),
            platform: p(platform),
            worker_id: "w1".into(),
            attempt,
            outcome: TaskOutcome::Built {
                manifest: Descriptor::new(OCI_MANIFEST, format!("sha256:{}", "b".repeat(64)), 9),
                config_digest: format!("sha256:{}", "c".repeat(64)),
                duration_ms: 5,
            },
        }
    }

    fn failed(platform: &str, message: &str) -> TaskResult {
        TaskResult {
            outcome: TaskOutcome::Failed(WireError::permanent(message)),
            ..built(platform, 1)
        }
    }

    #[test]
    fn results_change_state_once() {
        let mut r = record(false, true);
        assert!(matches!(
            r.apply(&built("linux/amd64", 1), 2),
            Applied::Done(_)
        ));
        assert_eq!(r.state, BuildState::Running);
        // A redelivered task reporting again, a stale attempt, another build: ignored.
        assert_eq!(r.apply(&built("linux/amd64", 1), 3), Applied::Ignored);
        assert_eq!(r.apply(&built("linux/arm64", 0), 3), Applied::Ignored);
        let other = TaskResult {
            build_id: "b2".into(),
            ..built("linux/arm64", 1)
        };
        assert_eq!(r.apply(&other, 3), Applied::Ignored);
        assert!(!r.all_done());
        assert!(matches!(
            r.apply(
                &failed("linux/arm64", "dockerfile:3: unknown instruction"),
                4
            ),
            Applied::Failed(_)
        ));
        assert!(r.all_done());
        assert_eq!(r.updated_at_unix_ms, 4);
    }

    #[test]
    fn failure_policy() {
        fn check(allow_partial: bool, publish_index: bool, results: &[TaskResult], expected: &str) {
            let mut r = record(allow_partial, publish_index);
            for result in results {
                r.apply(result, 2);
            }
            let got = match r.verdict() {
                Verdict::Publish { children, failed } => format!(
                    "publish {} without {}",
                    children
                        .iter()
                        .map(|c| c.platform.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    failed
                        .iter()
                        .map(|c| c.platform.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Verdict::NoIndex { children, .. } => format!("no index, {} built", children.len()),
                Verdict::Fail(errors) => format!(
                    "fail: {}",
                    errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            };
            assert_eq!(got, expected);
        }
        let both = [built("linux/amd64", 1), built("linux/arm64", 1)];
        let one_failed = [
            built("linux/amd64", 1),
            failed("linux/arm64", "dockerfile:2: bad"),
        ];
        let all_failed = [failed("linux/amd64", "x"), failed("linux/arm64", "y")];
        check(
            false,
            true,
            &both,
            "publish linux/amd64,linux/arm64 without ",
        );
        check(
            false,
            true,
            &one_failed,
            "fail: permanent: platform linux/arm64: dockerfile:2: bad",
        );
        check(
            true,
            true,
            &one_failed,
            "publish linux/amd64 without linux/arm64",
        );
        check(
            true,
            true,
            &all_failed,
            "fail: permanent: platform linux/amd64: x; permanent: platform linux/arm64: y",
        );
        check(false, false, &both, "no index, 2 built");
    }

    #[test]
    fn deadline_fails_only_the_pending_platforms() {
        let mut r = record(true, true);
        r.apply(&built("linux/amd64", 1), 2);
        let aborted = r.abort_pending(ErrorKind::Timeout, "deadline of 60s passed", 3);
        assert_eq!(aborted.len(), 1);
        assert_eq!(
            aborted[0].error.to_string(),
            "timeout: platform linux/arm64: deadline of 60s passed"
        );
        assert!(r.all_done());
        assert!(matches!(r.verdict(), Verdict::Publish { .. }));
        let mut c = record(false, true);
        c.abort_pending(ErrorKind::Cancelled, "cancelled by user", 3);
        assert!(
            c.platforms
                .iter()
                .all(|p| p.state == PlatformState::Cancelled)
        );
    }

    #[test]
    fn record_round_trips_through_json() {
        let mut r = record(false, true);
        r.apply(&built("linux/amd64", 1), 2);
        let json = serde_json::to_vec(&r).unwrap();
        assert_eq!(serde_json::from_slice::<BuildRecord>(&json).unwrap(), r);
    }

    #[test]
    fn waiting_platforms_are_numbered_per_queue_in_submission_order() {
        let build = |id: &str, submitted: u64| {
            let mut r = record(false, true);
            r.build_id = id.into();
            r.submitted_at_unix_ms = submitted;
            r
        };
        // b-late was submitted last; b-first first. b-busy's amd64 is being built, b-done is
        // finished: neither waits in the amd64 queue.
        let late = build("b-late", 300);
        let first = build("b-first", 100);
        let mut busy = build("b-busy", 50);
        busy.started(&p("linux/amd64"), "w1", 1, 60);
        let mut done = build("b-done", 10);
        done.state = BuildState::Succeeded;
        let mut cross = build("b-cross", 200);
        for platform in &mut cross.platforms {
            platform.route = Route::Cross;
        }
        let positions = queue_positions([&late, &first, &busy, &done, &cross]);
        let at = |id: &str, platform: &str| positions.get(&(id.to_string(), platform.to_string()));
        assert_eq!(at("b-first", "linux/amd64"), Some(&1));
        assert_eq!(at("b-late", "linux/amd64"), Some(&2));
        assert_eq!(at("b-busy", "linux/amd64"), None, "being built");
        assert_eq!(at("b-busy", "linux/arm64"), Some(&1));
        assert_eq!(at("b-first", "linux/arm64"), Some(&2));
        assert_eq!(at("b-late", "linux/arm64"), Some(&3));
        assert_eq!(
            at("b-done", "linux/amd64"),
            None,
            "finished builds wait for nothing"
        );
        assert_eq!(
            at("b-cross", "linux/amd64"),
            Some(&1),
            "the cross subject is its own queue"
        );
        let mut status = late.status();
        fill_queue_positions(&mut status, &positions);
        let places: Vec<Option<u32>> = status.platforms.iter().map(|p| p.queue_position).collect();
        assert_eq!(places, [Some(2), Some(3)]);
    }
}
