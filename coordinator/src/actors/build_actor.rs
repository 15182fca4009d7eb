// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The BuildActor, one per build (checked and routed before by the API's `submit`). It
//! publishes one task per platform ([`crate::policy::task`], de-duplicated by task id, on the
//! subject of its route), follows the build's results (replayed from the RESULTS stream, so a
//! restarted coordinator picks up where it was), emits events, enforces the deadline and
//! cancellation, and once every platform is done applies the failure policy
//! ([`BuildRecord::verdict`]) and hands the children to the IndexActor. Every change is
//! written to the BUILDS bucket with compare-and-swap on the revision
//! ([`FleetBus::save_record`]), carrying this coordinator's lease ([`crate::policy::lease`]),
//! renewed every `--lease-renew`. A CAS conflict re-reads the record: still this
//! coordinator's lease, the other write was a cancel asked of another coordinator (merged,
//! then the build is cancelled); anyone else's, the build was taken over and the actor stops
//! without publishing anything more for it. The index is published only once the
//! `publishing` state is saved under this coordinator's lease.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{
    BuildState, BuildStatus, ErrorKind, Event, EventKind, FailedPlatform, PlatformDescriptor, Task,
    TaskResult, WireError,
};
use tracing::{debug, error, info, warn};

use super::index::IndexActor;
use crate::bus::{FleetBus, STATE_RETRY_LIMIT};
use crate::policy::lease::Ownership;
use crate::policy::now_ms;
use crate::policy::publish::{PublishFailure, PublishIndex};
use crate::policy::record::{Applied, BuildRecord, Verdict};
use crate::policy::routing::task_subject;
use crate::policy::task::task_for;

/// Rounds of publishing an index whose push fails transiently before any tag moves.
const PUBLISH_ROUNDS: u32 = 5;
/// The pause after the first transiently failed round, doubled after each: 2, 4, 8, 16 s
/// (about 30 s in all, as a worker's `--retry-backoff` gives a task).
const PUBLISH_BACKOFF: Duration = Duration::from_secs(2);

/// One build.
pub struct BuildActor {
    record: BuildRecord,
    revision: u64,
    bus: FleetBus,
    index: Addr<IndexActor>,
    finishing: bool,
    outbox: Option<tokio::sync::mpsc::UnboundedSender<Save>>,
    ownership: Arc<Ownership>,
    released: bool,
}

/// One write of the build's state and the events that follow it.
struct Save {
    bytes: Vec<u8>,
    events: Vec<Event>,
    terminal: bool,
    /// Told once the record is saved (dropped unsaved when the build is someone else's).
    saved: Option<tokio::sync::oneshot::Sender<()>>,
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
    /// An actor for `record`, stored at `revision` in the BUILDS bucket (new or taken over)
    /// under a lease of `ownership`'s coordinator.
    pub fn new(
        record: BuildRecord,
        revision: u64,
        bus: FleetBus,
        index: Addr<IndexActor>,
        ownership: Arc<Ownership>,
    ) -> Self {
        BuildActor {
            record,
            revision,
            bus,
            index,
            finishing: false,
            outbox: None,
            ownership,
            released: false,
        }
    }

    /// Renews the lease in the record and saves it (the next write of the record).
    fn renew(&mut self, ctx: &mut Context<Self>) {
        if self.released || self.record.state.is_terminal() {
            return;
        }
        self.record.lease = Some(self.ownership.lease_from(now_ms()));
        self.persist(ctx, Vec::new());
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
    /// Ends the build in `state` (failed or cancelled) with `errors`, saved with its `Failed`
    /// event.
    fn persist_failed(
        &mut self,
        ctx: &mut Context<Self>,
        state: BuildState,
        errors: Vec<WireError>,
    ) {
        self.record.state = state;
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
    }

    fn persist(&mut self, _ctx: &mut Context<Self>, events: Vec<EventKind>) {
        self.persist_then(events, None);
    }

    /// [`persist`](Self::persist), telling `saved` once the record is stored.
    fn persist_then(
        &mut self,
        events: Vec<EventKind>,
        saved: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let events: Vec<Event> = events.into_iter().map(|k| self.event(k)).collect();
        let save = Save {
            bytes: serde_json::to_vec(&self.record).unwrap_or_default(),
            events,
            terminal: self.record.state.is_terminal(),
            saved,
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
        let bus = self.bus.clone();
        let key = self.record.build_id.clone();
        let owner = self.record.owner.clone();
        let mut revision = self.revision;
        let actor = ctx.address();
        let ownership = self.ownership.clone();
        actix::spawn(async move {
            while let Some(save) = saves.recv().await {
                let Some(next) =
                    save_owned(&bus, &ownership, &key, save.bytes, revision, &actor).await
                else {
                    actor.do_send(StopBuild);
                    return;
                };
                revision = next;
                if let Some(saved) = save.saved {
                    let _ = saved.send(());
                }
                for event in &save.events {
                    let published =
                        kaniko_nats::retry("publishing a build event", STATE_RETRY_LIMIT, || {
                            bus.publish_event(event, owner.as_deref())
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
            let subject = task_subject(&self.bus.names, &platform.platform, platform.route);
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
        let bus = self.bus.clone();
        ctx.wait(
            async move {
                let mut failures = Vec::new();
                for (subject, task) in tasks {
                    let outcome = match subject {
                        Ok(subject) => bus.publish_task(&subject, &task).await.map(|()| subject),
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
        let bus = self.bus.clone();
        let build_id = self.record.build_id.clone();
        let owner = self.record.owner.clone();
        ctx.wait(
            async move {
                // Followed across NATS server restarts, from the first result on.
                let results = bus.names.results(&build_id).map(|subject| {
                    kaniko_nats::follow(bus.js.clone(), bus.names.results_stream(), subject)
                });
                let started = async {
                    let subject = bus.names.events_for(
                        owner.as_deref(),
                        &build_id,
                        kaniko_common::messages::EventType::PlatformStarted,
                    )?;
                    anyhow::Ok(bus.client.subscribe(subject).await?)
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
                self.record.updated_at_unix_ms = now_ms();
                info!(build_id = %self.record.build_id, "build failed");
                self.persist_failed(ctx, BuildState::Failed, errors);
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
            Verdict::Publish { children, failed } => self.publish(ctx, children, failed, 1),
        }
    }

    /// Saves `publishing` under this coordinator's lease, then has the IndexActor publish the
    /// index of `children` (`failed` left out); `round` counts the tries. A transient failure
    /// before any tag moved (the registry down for a moment) is tried again after
    /// [`PUBLISH_BACKOFF`] doubled each round, up to [`PUBLISH_ROUNDS`] rounds, instead of
    /// failing a build whose platforms are all built; each round saves `publishing` again
    /// first, so a build taken over meanwhile is published by its new owner alone.
    fn publish(
        &mut self,
        ctx: &mut Context<Self>,
        children: Vec<PlatformDescriptor>,
        failed: Vec<FailedPlatform>,
        round: u32,
    ) {
        self.record.state = BuildState::Publishing;
        self.record.updated_at_unix_ms = now_ms();
        let (saved, is_saved) = tokio::sync::oneshot::channel();
        self.persist_then(Vec::new(), Some(saved));
        let request = &self.record.request;
        let publish =
            PublishIndex::for_request(self.record.build_id.clone(), request, children.clone());
        // Published only once `publishing` is stored under this coordinator's lease:
        // a build taken over meanwhile is published by its new owner alone.
        let index = self.index.clone();
        let gated = async move {
            is_saved.await.ok()?;
            Some(index.send(publish).await)
        };
        ctx.wait(gated.into_actor(self).map(
            move |outcome, act, ctx| {
                let Some(outcome) = outcome else {
                    warn!(build_id = %act.record.build_id, "the publishing state was not saved: the index is left to the build's owner");
                    ctx.stop();
                    return;
                };
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
                    Err(failure)
                        if failure.error.kind == ErrorKind::Transient
                            && !failure.partially_published()
                            && round < PUBLISH_ROUNDS =>
                    {
                        let delay = PUBLISH_BACKOFF * 2u32.pow(round - 1);
                        warn!(
                            build_id = %act.record.build_id,
                            round,
                            error = %failure.error.message,
                            "publishing the index failed transiently; trying again in {delay:?}"
                        );
                        ctx.run_later(delay, move |act, ctx| {
                            act.publish(ctx, children, failed, round + 1);
                        });
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

    fn abort(&mut self, ctx: &mut Context<Self>, kind: ErrorKind, reason: &str) {
        if self.record.state.is_terminal() || self.finishing {
            return;
        }
        let aborted = self.record.abort_pending(kind, reason, now_ms());
        let bus = self.bus.clone();
        let build_id = self.record.build_id.clone();
        ctx.spawn(
            async move {
                if let Err(err) = bus.publish_cancel(&build_id).await {
                    warn!(%build_id, "broadcasting the cancel: {err:#}");
                }
            }
            .into_actor(self),
        );
        if kind == ErrorKind::Cancelled {
            let errors = vec![WireError::new(
                ErrorKind::Cancelled,
                format!("build cancelled: {reason}"),
            )];
            self.persist_failed(ctx, BuildState::Cancelled, errors);
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
        info!(build_id = %self.record.build_id, state = ?self.record.state, coordinator = %self.ownership.id, "build actor started");
        self.record.lease = Some(self.ownership.lease_from(now_ms()));
        self.start_writer(ctx);
        ctx.run_interval(self.ownership.renew, |act, ctx| act.renew(ctx));
        if let Some(reason) = self.record.cancel_requested.clone() {
            // Cancelled through another coordinator before this one took the build.
            self.abort(ctx, ErrorKind::Cancelled, &reason);
            return;
        }
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
            Applied::Ignored => {
                // A redelivered task can report twice: the first result counts.
                info!(
                    build_id = %self.record.build_id,
                    platform = %platform,
                    worker = %result.worker_id,
                    attempt = result.attempt,
                    "ignoring a late result: the platform is already done, or a later attempt runs"
                );
                return;
            }
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

/// Saves `bytes` as build `key`'s record at `revision` under `ownership`'s lease: the next
/// revision, or `None` when the build is no longer this coordinator's (taken over after its
/// lease ran out) or cannot be saved. A conflict with a record still under this
/// coordinator's lease is a cancel asked elsewhere: merged into `bytes`, saved again, and
/// sent to `actor`.
async fn save_owned(
    bus: &FleetBus,
    ownership: &Ownership,
    key: &str,
    mut bytes: Vec<u8>,
    mut revision: u64,
    actor: &Addr<BuildActor>,
) -> Option<u64> {
    use async_nats::jetstream::kv::UpdateErrorKind;
    loop {
        let err = match bus.save_record(key, &bytes, revision).await {
            Ok(next) => return Some(next),
            Err(err) => err,
        };
        if err.kind() != UpdateErrorKind::WrongLastRevision {
            error!(build_id = %key, "saving build state: {err}; stopping");
            return None;
        }
        let stored = match bus.builds.entry(key).await {
            Ok(Some(entry)) => serde_json::from_slice::<BuildRecord>(&entry.value)
                .ok()
                .map(|record| (record, entry.revision)),
            _ => None,
        };
        let Some((stored, stored_revision)) = stored else {
            error!(build_id = %key, "the build's record changed and cannot be read; stopping");
            return None;
        };
        if !ownership.holds(&stored) || stored.state.is_terminal() {
            let holder = stored.lease.map(|l| l.holder).unwrap_or_default();
            warn!(build_id = %key, %holder, "the build was taken over by another coordinator; stopping");
            return None;
        }
        revision = stored_revision;
        let Some(reason) = stored.cancel_requested else {
            continue;
        };
        let Ok(mut mine) = serde_json::from_slice::<BuildRecord>(&bytes) else {
            return None;
        };
        if mine.cancel_requested.is_none() {
            info!(build_id = %key, "cancel asked through another coordinator");
            mine.cancel_requested = Some(reason.clone());
            bytes = serde_json::to_vec(&mine).unwrap_or_default();
            actor.do_send(CancelRequested { reason });
        }
    }
}

/// A cancel asked of another coordinator, seen in the stored record.
#[derive(Message)]
#[rtype(result = "()")]
struct CancelRequested {
    reason: String,
}

impl Handler<CancelRequested> for BuildActor {
    type Result = ();

    fn handle(&mut self, msg: CancelRequested, ctx: &mut Self::Context) {
        self.record.cancel_requested = Some(msg.reason.clone());
        self.abort(ctx, ErrorKind::Cancelled, &msg.reason);
    }
}

/// Gives up the build's lease at shutdown (expired now), so another coordinator takes the
/// build over at its next look instead of after a whole lease; answers once saved.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseLease;

impl Handler<ReleaseLease> for BuildActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: ReleaseLease, _ctx: &mut Self::Context) -> Self::Result {
        if self.released || self.record.state.is_terminal() {
            return Box::pin(async {});
        }
        self.released = true;
        self.record.lease = Some(self.ownership.lease_from(now_ms()));
        if let Some(lease) = &mut self.record.lease {
            lease.expires_at_unix_ms = now_ms();
        }
        let (saved, is_saved) = tokio::sync::oneshot::channel();
        self.persist_then(Vec::new(), Some(saved));
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(3), is_saved).await;
        })
    }
}
