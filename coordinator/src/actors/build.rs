// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The BuildActor, one per build. [`prepare`] checks a submitted request before anything is
//! published: it reads the Dockerfile out of the stored context, decides per platform whether
//! it is cross-safe (the parser's query), asks the FleetActor where each task goes and, with
//! `require_native_nodes`, refuses naming the platforms without a live native worker. The
//! actor then publishes one task per platform (de-duplicated by task id), follows the
//! build's results (replayed from the RESULTS stream, so a restarted coordinator picks up
//! where it was), emits events, enforces the deadline and cancellation, and once every
//! platform is done applies the failure policy and hands the children to the IndexActor.
//! Every change is written to the BUILDS bucket with compare-and-swap on the revision.

pub mod record;

use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use kaniko_common::dockerfile::{BuildArgs, Dockerfile};
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{
    BuildRequest, BuildState, BuildStatus, ErrorKind, Event, EventKind, Task, TaskResult, WireError,
};
use kaniko_common::platform::Platform;
use kaniko_registry::Reference;
use kaniko_retry::RetryPolicy;
use tracing::{debug, error, info, warn};

use self::record::{Applied, BuildRecord, PlatformRecord, Route, Verdict};
use super::fleet::{FleetActor, LiveWorkers, missing_native, route};
use super::index::{IndexActor, PublishFailure, PublishIndex};
use super::now_ms;
use crate::authz::{Caller, Policy};
use crate::driver::nats::{NatsDriver, cross_subject};

/// The builder platform cross-safety is computed against: a platform no Dockerfile names,
/// so only stages pinned to `$BUILDPLATFORM` count as running on the builder.
fn foreign_builder() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: "kaniko-foreign-builder".into(),
        variant: None,
    }
}

/// Whether `dockerfile` built for `platform` runs no RUN on `platform` (a non-native worker
/// may build it). A Dockerfile that cannot be planned is a refusal naming the line.
pub fn cross_safe(
    dockerfile: &Dockerfile,
    request: &BuildRequest,
    platform: &Platform,
) -> Result<bool, WireError> {
    let mut args = BuildArgs::new(platform.clone(), foreign_builder());
    args.values = request.build_args.clone();
    dockerfile
        .needs_native_execution(request.target.as_deref(), &args)
        .map(|run| run.is_none())
        .map_err(|e| WireError::refused(format!("{}: {e}", request.dockerfile)))
}

/// Checks a request of `caller` and decides each platform's route; nothing is published
/// here. With a policy, the caller's identity must be allowed to push to every destination
/// (checked before the context is read) and to pull every image the Dockerfile names; the
/// context is read from the caller's own store.
pub async fn prepare(
    driver: &NatsDriver,
    fleet: &Addr<FleetActor>,
    build_id: &str,
    request: BuildRequest,
    caller: Caller<'_>,
    policy: Option<&Policy>,
) -> Result<BuildRecord, WireError> {
    request.validate()?;
    for destination in &request.destinations {
        destination.parse::<Reference>().map_err(|e| {
            WireError::refused(format!(
                "destination {destination:?} is not an image reference: {e}"
            ))
        })?;
    }
    let owner = caller.identity();
    let checks = owner.zip(policy);
    if let Some((identity, policy)) = checks {
        policy.authorize_push(identity, &request)?;
    }
    let text = driver
        .read_dockerfile(owner, &request.context, &request.dockerfile)
        .await
        .map_err(|e| WireError::not_found(format!("{e:#}")))?;
    let dockerfile = Dockerfile::parse(&text)
        .map_err(|e| WireError::refused(format!("{}: {e}", request.dockerfile)))?;
    if let Some((identity, policy)) = checks {
        policy.authorize_pull(identity, &request, &dockerfile)?;
    }
    let workers = fleet
        .send(LiveWorkers)
        .await
        .map_err(|e| WireError::transient(format!("fleet unavailable: {e}")))?;
    if request.require_native_nodes {
        let missing = missing_native(&workers, &request.platforms);
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
            return Err(WireError::refused(format!(
                "require_native_nodes: no live native worker for {}",
                names.join(", ")
            )));
        }
    }
    let mut platforms = Vec::new();
    for platform in &request.platforms {
        let safe = cross_safe(&dockerfile, &request, platform)?;
        let route = route(&workers, platform, safe);
        if route == Route::Native && !workers.iter().any(|w| &w.native == platform) {
            warn!(build_id, %platform, "no live native worker: the task waits for one");
        }
        platforms.push(PlatformRecord::new(platform.clone(), safe, route));
    }
    let mut record = BuildRecord::new(build_id.to_string(), request, platforms, now_ms());
    record.owner = owner.map(str::to_string);
    Ok(record)
}

/// How long a save of the build's state or an event is tried again while NATS is away.
const STATE_RETRY_LIMIT: Duration = Duration::from_secs(60);

/// Saves `bytes` as the build's record with compare-and-swap on `revision`, trying again
/// through a NATS reconnect. A CAS conflict is final (another coordinator owns the build),
/// unless the record already holds `bytes`: an earlier try was stored but its answer lost.
async fn save_record(
    driver: &NatsDriver,
    key: &str,
    bytes: &[u8],
    revision: u64,
) -> Result<u64, async_nats::jetstream::kv::UpdateError> {
    use async_nats::jetstream::kv::{UpdateError, UpdateErrorKind};
    let conflict = |err: &UpdateError| err.kind() == UpdateErrorKind::WrongLastRevision;
    let saved = RetryPolicy::within(STATE_RETRY_LIMIT)
        .run_if(
            &format!("saving the state of build {key}"),
            |err| !conflict(err),
            |_| driver.builds.update(key, bytes.to_vec().into(), revision),
        )
        .await;
    match saved {
        Err(err) if conflict(&err) => {
            if let Ok(Some(entry)) = driver.builds.entry(key).await
                && entry.value.as_ref() == bytes
            {
                return Ok(entry.revision);
            }
            Err(err)
        }
        saved => saved,
    }
}

/// The repositories (`registry/repo`) of the destination tags, each once.
fn repositories(destinations: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for destination in destinations {
        if let Ok(reference) = destination.parse::<Reference>() {
            let repo = format!("{}/{}", reference.registry(), reference.repository());
            if !out.contains(&repo) {
                out.push(repo);
            }
        }
    }
    out
}

/// The task for `platform` of `record` at its current attempt.
pub fn task_for(record: &BuildRecord, platform: &PlatformRecord) -> Task {
    let request = &record.request;
    Task {
        build_id: record.build_id.clone(),
        task_id: platform.task_id(&record.build_id, platform.attempt),
        platform: platform.platform.clone(),
        attempt: platform.attempt,
        context: request.context.clone(),
        dockerfile: request.dockerfile.clone(),
        build_args: request.build_args.clone(),
        target: request.target.clone(),
        labels: request.labels.clone(),
        destinations: repositories(&request.destinations),
        compression: request.compression,
        compression_level: request.compression_level,
        oci_mode: request.oci_mode,
        reproducible: request.reproducible,
        cross_safe: platform.cross_safe,
        deadline_unix_ms: request.timeout_secs.map(|s| {
            record
                .submitted_at_unix_ms
                .saturating_add(s.saturating_mul(1000))
        }),
        owner: record.owner.clone(),
    }
}

/// One build.
pub struct BuildActor {
    record: BuildRecord,
    revision: u64,
    driver: NatsDriver,
    index: Addr<IndexActor>,
    finishing: bool,
    outbox: Option<tokio::sync::mpsc::UnboundedSender<Save>>,
}

/// One write of the build's state and the events that follow it.
struct Save {
    bytes: Vec<u8>,
    events: Vec<Event>,
    terminal: bool,
}

/// Stops the build actor (its state is final, or another coordinator owns it).
#[derive(Message)]
#[rtype(result = "()")]
struct StopBuild;

impl Handler<StopBuild> for BuildActor {
    type Result = ();

    fn handle(&mut self, _msg: StopBuild, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl BuildActor {
    /// An actor for `record`, stored at `revision` in the BUILDS bucket (new or resumed).
    pub fn new(
        record: BuildRecord,
        revision: u64,
        driver: NatsDriver,
        index: Addr<IndexActor>,
    ) -> Self {
        BuildActor {
            record,
            revision,
            driver,
            index,
            finishing: false,
            outbox: None,
        }
    }

    fn event(&self, kind: EventKind) -> Event {
        Event {
            build_id: self.record.build_id.clone(),
            at_unix_ms: now_ms(),
            kind,
        }
    }

    /// Queues a save of the record (CAS on the revision) followed by `events`. One writer
    /// task per build takes them in order (actix runs several `ctx.wait`s of one handler last
    /// first, so saves and events do not go through it). A CAS conflict means another
    /// coordinator owns the build: the actor stops; after a terminal save it stops too.
    fn persist(&mut self, _ctx: &mut Context<Self>, events: Vec<EventKind>) {
        let events: Vec<Event> = events.into_iter().map(|k| self.event(k)).collect();
        let save = Save {
            bytes: serde_json::to_vec(&self.record).unwrap_or_default(),
            events,
            terminal: self.record.state.is_terminal(),
        };
        if let Some(outbox) = &self.outbox
            && outbox.send(save).is_err()
        {
            warn!(build_id = %self.record.build_id, "the build's writer has stopped");
        }
    }

    /// Starts the writer task of [`persist`](Self::persist).
    fn start_writer(&mut self, ctx: &mut Context<Self>) {
        let (outbox, mut saves) = tokio::sync::mpsc::unbounded_channel::<Save>();
        self.outbox = Some(outbox);
        let driver = self.driver.clone();
        let key = self.record.build_id.clone();
        let owner = self.record.owner.clone();
        let mut revision = self.revision;
        let actor = ctx.address();
        actix::spawn(async move {
            while let Some(save) = saves.recv().await {
                match save_record(&driver, &key, &save.bytes, revision).await {
                    Ok(next) => revision = next,
                    Err(err) => {
                        error!(build_id = %key, "saving build state: {err}; stopping");
                        actor.do_send(StopBuild);
                        return;
                    }
                }
                for event in &save.events {
                    let published =
                        kaniko_nats::retry("publishing a build event", STATE_RETRY_LIMIT, || {
                            driver.publish_event(event, owner.as_deref())
                        })
                        .await;
                    if let Err(err) = published {
                        warn!(build_id = %key, "publishing a {} event: {err:#}", event.token());
                    }
                }
                if save.terminal {
                    actor.do_send(StopBuild);
                    return;
                }
            }
        });
    }

    fn publish_tasks(&mut self, ctx: &mut Context<Self>) {
        let mut tasks = Vec::new();
        for platform in self.record.platforms.iter_mut().filter(|p| !p.published) {
            if platform.attempt == 0 {
                platform.attempt = 1;
            }
            platform.published = true;
            let subject = match platform.route {
                Route::Native => self
                    .driver
                    .names
                    .tasks(&platform.platform)
                    .map_err(anyhow::Error::from),
                Route::Cross => cross_subject(&self.driver.names, &platform.platform),
            };
            tasks.push((subject, platform.platform.clone()));
        }
        if tasks.is_empty() {
            return;
        }
        let tasks: Vec<(anyhow::Result<String>, Task)> = tasks
            .into_iter()
            .filter_map(|(subject, platform)| {
                let record = self
                    .record
                    .platforms
                    .iter()
                    .find(|p| p.platform == platform)?;
                Some((subject, task_for(&self.record, record)))
            })
            .collect();
        let driver = self.driver.clone();
        ctx.wait(
            async move {
                let mut failures = Vec::new();
                for (subject, task) in tasks {
                    let outcome = match subject {
                        Ok(subject) => driver.publish_task(&subject, &task).await.map(|()| subject),
                        Err(err) => Err(err),
                    };
                    match outcome {
                        Ok(subject) => debug!(task_id = %task.task_id, %subject, "task published"),
                        Err(err) => failures.push((task.platform, format!("{err:#}"))),
                    }
                }
                failures
            }
            .into_actor(self)
            .map(|failures, act, ctx| {
                for (platform, message) in failures {
                    if let Some(p) = act.record.platform_mut(&platform) {
                        // Not stored: published again when the build resumes.
                        p.published = false;
                        warn!(build_id = %act.record.build_id, %platform, "{message}");
                    }
                }
                act.persist(ctx, Vec::new());
            }),
        );
    }

    fn subscribe(&mut self, ctx: &mut Context<Self>) {
        let driver = self.driver.clone();
        let build_id = self.record.build_id.clone();
        let owner = self.record.owner.clone();
        ctx.wait(
            async move {
                // Followed across NATS server restarts, from the first result on.
                let results = driver.names.results(&build_id).map(|subject| {
                    kaniko_nats::follow(driver.js.clone(), driver.names.results_stream(), subject)
                });
                let started = async {
                    let subject = driver.names.events_for(
                        owner.as_deref(),
                        &build_id,
                        kaniko_common::messages::EventType::PlatformStarted,
                    )?;
                    anyhow::Ok(driver.client.subscribe(subject).await?)
                }
                .await;
                (results, started)
            }
            .into_actor(self)
            .map(|(results, started), act, ctx| {
                match results {
                    Ok(results) => {
                        ctx.add_stream(results.map(ResultMessage));
                    }
                    Err(err) => {
                        error!(build_id = %act.record.build_id, "following results: {err:#}");
                    }
                }
                if let Ok(started) = started {
                    ctx.add_stream(started.map(StartedMessage));
                }
            }),
        );
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        if self.finishing || self.record.state.is_terminal() {
            return;
        }
        self.finishing = true;
        match self.record.verdict() {
            Verdict::Fail(errors) => {
                self.record.state = BuildState::Failed;
                self.record.errors = errors.clone();
                self.record.updated_at_unix_ms = now_ms();
                info!(build_id = %self.record.build_id, "build failed");
                self.persist(
                    ctx,
                    vec![EventKind::Failed {
                        errors,
                        index: None,
                        platforms: Vec::new(),
                        tags: Vec::new(),
                    }],
                );
            }
            Verdict::NoIndex { children, failed } => {
                self.record.state = BuildState::Succeeded;
                self.record.errors = failed.iter().map(|f| f.error.clone()).collect();
                self.record.updated_at_unix_ms = now_ms();
                self.persist(
                    ctx,
                    vec![EventKind::Finished {
                        index: None,
                        platforms: children,
                        failed,
                        tags: Vec::new(),
                    }],
                );
            }
            Verdict::Publish { children, failed } => {
                self.record.state = BuildState::Publishing;
                self.record.updated_at_unix_ms = now_ms();
                self.persist(ctx, Vec::new());
                let request = &self.record.request;
                let publish = PublishIndex::for_request(
                    self.record.build_id.clone(),
                    request,
                    children.clone(),
                );
                ctx.wait(self.index.send(publish).into_actor(self).map(
                    move |outcome, act, ctx| {
                        let destinations = act.record.request.destinations.clone();
                        let outcome = outcome.unwrap_or_else(|e| {
                            Err(PublishFailure::before_tags(
                                WireError::transient(format!("index actor unavailable: {e}")),
                                &destinations,
                                None,
                            ))
                        });
                        act.record.updated_at_unix_ms = now_ms();
                        match outcome {
                            Ok(published) => {
                                let index = published.index;
                                act.record.state = BuildState::Succeeded;
                                act.record.index = Some(index.clone());
                                act.record.tags = published.tags.clone();
                                act.record.errors = failed.iter().map(|f| f.error.clone()).collect();
                                info!(build_id = %act.record.build_id, digest = %index.digest, "build finished");
                                act.persist(
                                    ctx,
                                    vec![EventKind::Finished {
                                        index: Some(index),
                                        platforms: children,
                                        failed,
                                        tags: published.tags,
                                    }],
                                );
                            }
                            Err(failure) => {
                                act.record.state = if failure.partially_published() {
                                    BuildState::PartiallyPublished
                                } else {
                                    BuildState::Failed
                                };
                                act.record.index = failure.index.clone();
                                act.record.tags = failure.tags.clone();
                                act.record.errors = vec![failure.build_error()];
                                warn!(build_id = %act.record.build_id, state = ?act.record.state, "publishing the index failed");
                                act.persist(ctx, vec![(*failure).into_event(children)]);
                            }
                        }
                    },
                ));
            }
        }
    }

    fn abort(&mut self, ctx: &mut Context<Self>, kind: ErrorKind, reason: &str) {
        if self.record.state.is_terminal() || self.finishing {
            return;
        }
        let aborted = self.record.abort_pending(kind, reason, now_ms());
        let driver = self.driver.clone();
        let build_id = self.record.build_id.clone();
        ctx.spawn(
            async move {
                if let Err(err) = driver.publish_cancel(&build_id).await {
                    warn!(%build_id, "broadcasting the cancel: {err:#}");
                }
            }
            .into_actor(self),
        );
        if kind == ErrorKind::Cancelled {
            self.record.state = BuildState::Cancelled;
            let errors = vec![WireError::new(
                ErrorKind::Cancelled,
                format!("build cancelled: {reason}"),
            )];
            self.record.errors = errors.clone();
            self.persist(
                ctx,
                vec![EventKind::Failed {
                    errors,
                    index: None,
                    platforms: Vec::new(),
                    tags: Vec::new(),
                }],
            );
            return;
        }
        let events = aborted
            .into_iter()
            .map(|f| EventKind::PlatformFailed {
                platform: f.platform,
                error: f.error,
            })
            .collect();
        self.persist(ctx, events);
        self.finish(ctx);
    }
}

impl Actor for BuildActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        info!(build_id = %self.record.build_id, state = ?self.record.state, "build actor started");
        self.start_writer(ctx);
        if self.record.state == BuildState::Queued
            && self.record.platforms.iter().all(|p| !p.published)
        {
            let platforms = self
                .record
                .platforms
                .iter()
                .map(|p| p.platform.clone())
                .collect();
            self.persist(ctx, vec![EventKind::Accepted { platforms }]);
        }
        // Two `wait`s: the later one (publishing the tasks) runs first, which loses nothing,
        // since the results are replayed from the start of the stream.
        self.subscribe(ctx);
        self.publish_tasks(ctx);
        if let Some(secs) = self.record.request.timeout_secs {
            let deadline = self
                .record
                .submitted_at_unix_ms
                .saturating_add(secs.saturating_mul(1000));
            let left = Duration::from_millis(deadline.saturating_sub(now_ms()));
            ctx.run_later(left, move |act, ctx| {
                act.abort(
                    ctx,
                    ErrorKind::Timeout,
                    &format!("deadline of {secs}s passed"),
                );
            });
        }
        if self.record.all_done() {
            self.finish(ctx);
        }
    }
}

/// A message of the build's results.
struct ResultMessage(async_nats::jetstream::Message);

impl StreamHandler<ResultMessage> for BuildActor {
    fn handle(&mut self, item: ResultMessage, ctx: &mut Self::Context) {
        let message = item.0;
        let result = match decode_internal::<TaskResult>(&message.payload) {
            Ok(result) => result,
            Err(err) => {
                warn!(build_id = %self.record.build_id, "ignoring a result that does not decode: {err}");
                return;
            }
        };
        let platform = result.platform.clone();
        let event = match self.record.apply(&result, now_ms()) {
            Applied::Ignored => return,
            Applied::Done(descriptor) => EventKind::PlatformDone {
                platform,
                descriptor,
            },
            Applied::Failed(error) => EventKind::PlatformFailed { platform, error },
        };
        self.persist(ctx, vec![event]);
        if self.record.all_done() {
            self.finish(ctx);
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {}
}

/// A `platform_started` event of this build.
struct StartedMessage(async_nats::Message);

impl StreamHandler<StartedMessage> for BuildActor {
    fn handle(&mut self, item: StartedMessage, ctx: &mut Self::Context) {
        let Ok(event) = serde_json::from_slice::<Event>(&item.0.payload) else {
            return;
        };
        // Only this build's: a push consumer of some other stream may be pointed at this
        // subject (nats-server 2.9 checks no permission on a consumer's deliver subject).
        if event.build_id != self.record.build_id {
            return;
        }
        if let EventKind::PlatformStarted {
            platform,
            worker_id,
            attempt,
        } = event.kind
        {
            let before = self.record.clone();
            self.record
                .started(&platform, &worker_id, attempt, now_ms());
            if self.record != before {
                self.persist(ctx, Vec::new());
            }
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {}
}

/// Asks for the build's status.
#[derive(Message)]
#[rtype(result = "BuildStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for BuildActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _msg: GetStatus, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.record.status())
    }
}

/// Cancels the build; answers its state afterwards.
#[derive(Message)]
#[rtype(result = "BuildState")]
pub struct Cancel {
    /// Why.
    pub reason: String,
}

impl Handler<Cancel> for BuildActor {
    type Result = MessageResult<Cancel>;

    fn handle(&mut self, msg: Cancel, ctx: &mut Self::Context) -> Self::Result {
        self.abort(ctx, ErrorKind::Cancelled, &msg.reason);
        MessageResult(self.record.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::ContextRef;

    fn request(dockerfile_target: Option<&str>) -> BuildRequest {
        let mut r = BuildRequest::new(
            ContextRef {
                sha256: "a".repeat(64),
                size: 1,
            },
            vec![Platform::parse("linux/arm64").unwrap()],
            vec![
                "127.0.0.1:5000/app:1".into(),
                "127.0.0.1:5000/app:2".into(),
                "127.0.0.1:5000/other:1".into(),
            ],
        );
        r.target = dockerfile_target.map(str::to_string);
        r
    }

    #[test]
    fn cross_safety_follows_the_parser() {
        fn check(text: &str, target: Option<&str>, expected: Result<bool, &str>) {
            let dockerfile = Dockerfile::parse(text).unwrap();
            let arm64 = Platform::parse("linux/arm64").unwrap();
            let got = cross_safe(&dockerfile, &request(target), &arm64).map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_string), "{text:?}");
        }
        check("FROM busybox\nCOPY a /a\nENV X=1\n", None, Ok(true));
        check("FROM busybox\nRUN echo hi\n", None, Ok(false));
        check(
            "FROM --platform=$BUILDPLATFORM busybox AS b\nRUN make\nFROM busybox\nCOPY --from=b /o /o\n",
            None,
            Ok(true),
        );
        check(
            "FROM busybox AS a\nRUN x\nFROM busybox AS b\nCOPY y /y\n",
            Some("b"),
            Ok(true),
        );
        check(
            "FROM busybox\n",
            Some("nope"),
            Err("refused: Dockerfile: unknown target stage \"nope\""),
        );
    }

    #[test]
    fn tasks_carry_repositories_and_deadline() {
        let mut req = request(None);
        req.timeout_secs = Some(60);
        let platform = PlatformRecord {
            attempt: 1,
            ..PlatformRecord::new(Platform::parse("linux/arm64").unwrap(), true, Route::Cross)
        };
        let record = BuildRecord::new("b1".into(), req, vec![platform.clone()], 1_000);
        let task = task_for(&record, &platform);
        assert_eq!(
            task.destinations,
            ["127.0.0.1:5000/app", "127.0.0.1:5000/other"]
        );
        assert_eq!(task.task_id, "b1-linux-arm64-1");
        assert_eq!(task.deadline_unix_ms, Some(61_000));
        assert!(task.cross_safe);
    }
}
