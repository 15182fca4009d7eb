// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The ApiActor: serves `<prefix>.api.{submit,status,cancel,list,workers}` and the same verbs
//! per identity (`<prefix>.api.<identity>.<verb>`) in the queue group [`QUEUE_GROUP`], so
//! several coordinators share the load. A request is answered only on a reply subject of the
//! caller's own ([`authz::reply_allowed`]), admitted by the policy ([`authz::admit`]), decoded
//! by its `Content-Type` (JSON, the default, or bincode) and answered in the same encoding;
//! one that does not decode is answered with a `protocol` error in the verb's reply type,
//! never a crash. Each verb with logic of its own has its file under `api/` (`submit`,
//! `status`, `cancel`, `list`); `status`, `cancel` and `list` show an identity its own builds
//! only (admins all).
//!
//! Several coordinators run at once: every `--lease-renew` (and at start) the ApiActor looks
//! for builds not terminal whose lease ran out (their coordinator died, or a record from
//! before leases) and takes them over with a compare-and-swap write of a lease of its own
//! (only one coordinator wins), then drives them like its own; at shutdown it gives its
//! builds' leases up.

mod cancel;
mod list;
mod status;
mod submit;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use kaniko_common::messages::codec::{
    CONTENT_TYPE_HEADER, PROTOCOL_HEADER, decode_by_content_type,
};
use kaniko_common::messages::{
    CancelReply, CancelRequest, CodecError, Encoding, ListReply, Message as WireMessage,
    StatusReply, SubmitReply, WireError, WorkersReply, WorkersRequest,
};
use kaniko_common::subjects::ApiVerb;
use tracing::{debug, info, warn};

pub use self::cancel::cancellable;
pub use self::list::list;
pub use self::submit::prepare;
use super::build_actor::{BuildActor, ReleaseLease};
use super::fleet::{FleetActor, LiveWorkers};
use super::index::IndexActor;
use crate::authz::{self, Caller, Policy};
use crate::bus::{FleetBus, headers};
use crate::policy::lease::Ownership;
use crate::policy::now_ms;
use crate::policy::record::BuildRecord;

/// The queue group every coordinator's API subscriptions join.
pub const QUEUE_GROUP: &str = "kaniko-coordinator";

/// Serves the request API.
pub struct ApiActor {
    bus: FleetBus,
    policy: Option<Arc<Policy>>,
    fleet: Addr<FleetActor>,
    index: Addr<IndexActor>,
    builds: HashMap<String, Addr<BuildActor>>,
    requests: Option<futures::stream::SelectAll<async_nats::Subscriber>>,
    ownership: Arc<Ownership>,
    scanning: bool,
    stopping: bool,
}

impl ApiActor {
    /// Subscribes to every API verb, anonymous and per identity (queue group
    /// [`QUEUE_GROUP`]); the actor serves them once started, by `policy` (see
    /// [`crate::authz`]).
    pub async fn subscribe(
        bus: FleetBus,
        fleet: Addr<FleetActor>,
        index: Addr<IndexActor>,
        policy: Option<Arc<Policy>>,
        ownership: Arc<Ownership>,
    ) -> anyhow::Result<ApiActor> {
        let mut subscriptions = Vec::new();
        for verb in ApiVerb::ALL {
            for subject in [bus.names.api(verb), bus.names.api_identified(verb)] {
                subscriptions.push(
                    bus.client
                        .queue_subscribe(subject, QUEUE_GROUP.to_string())
                        .await?,
                );
            }
        }
        Ok(ApiActor {
            bus,
            policy,
            fleet,
            index,
            builds: HashMap::new(),
            requests: Some(futures::stream::select_all(subscriptions)),
            ownership,
            scanning: false,
            stopping: false,
        })
    }

    /// Looks for builds whose lease ran out and takes them over (one look at a time).
    fn scan(&mut self, ctx: &mut Context<Self>) {
        if self.scanning || self.stopping {
            return;
        }
        self.scanning = true;
        self.builds.retain(|_, addr| addr.connected());
        let live: HashSet<String> = self.builds.keys().cloned().collect();
        let bus = self.bus.clone();
        let ownership = self.ownership.clone();
        ctx.spawn(
            async move { take_over(&bus, &ownership, &live).await }
                .into_actor(self)
                .map(|adopts, act, ctx| {
                    act.scanning = false;
                    for adopt in adopts {
                        <Self as Handler<Adopt>>::handle(act, adopt, ctx);
                    }
                }),
        );
    }

    fn live_build(&self, build_id: &str) -> Option<Addr<BuildActor>> {
        self.builds.get(build_id).filter(|a| a.connected()).cloned()
    }
}

impl Actor for ApiActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(requests) = self.requests.take() {
            ctx.add_stream(requests);
        }
        self.scan(ctx);
        ctx.run_interval(self.ownership.renew, |act, ctx| act.scan(ctx));
    }
}

/// Takes over every build of the BUILDS bucket that `ownership` may take (not terminal,
/// lease run out) and none of `live` (driven here): a CAS write of a lease of this
/// coordinator each, the builds won to adopt. A lost CAS is another coordinator's win.
async fn take_over(bus: &FleetBus, ownership: &Ownership, live: &HashSet<String>) -> Vec<Adopt> {
    let records = match bus.load_all().await {
        Ok(records) => records,
        Err(err) => {
            warn!("cannot list stored builds to take over: {err}");
            return Vec::new();
        }
    };
    let now = now_ms();
    let mut adopts = Vec::new();
    for (mut record, revision) in records {
        if live.contains(&record.build_id) || !ownership.may_take(&record, now) {
            continue;
        }
        let previous = record.lease.as_ref().map(|l| l.holder.clone());
        record.lease = Some(ownership.lease_from(now));
        let Ok(bytes) = serde_json::to_vec(&record) else {
            continue;
        };
        match bus
            .builds
            .update(&record.build_id, bytes.into(), revision)
            .await
        {
            Ok(revision) => {
                info!(
                    build_id = %record.build_id,
                    from = previous.as_deref().unwrap_or("nobody"),
                    coordinator = %ownership.id,
                    "lease ran out: build taken over"
                );
                adopts.push(Adopt { record, revision });
            }
            Err(err) => {
                debug!(build_id = %record.build_id, "another coordinator took the build: {err}");
            }
        }
    }
    adopts
}

/// Gives up the leases of every build driven here (shutdown); answers once they are saved.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseAll;

impl Handler<ReleaseAll> for ApiActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: ReleaseAll, _ctx: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        let live: Vec<Addr<BuildActor>> = self
            .builds
            .values()
            .filter(|a| a.connected())
            .cloned()
            .collect();
        Box::pin(async move {
            futures::future::join_all(live.iter().map(|a| a.send(ReleaseLease))).await;
        })
    }
}

/// Starts a BuildActor for a stored build (a new one, or one resumed after a restart).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Adopt {
    /// The stored record.
    pub record: BuildRecord,
    /// Its KV revision.
    pub revision: u64,
}

impl Handler<Adopt> for ApiActor {
    type Result = ();

    fn handle(&mut self, msg: Adopt, _ctx: &mut Self::Context) {
        let id = msg.record.build_id.clone();
        if self.stopping || self.live_build(&id).is_some() {
            return;
        }
        let actor = BuildActor::new(
            msg.record,
            msg.revision,
            self.bus.clone(),
            self.index.clone(),
            self.ownership.clone(),
        );
        self.builds.retain(|_, addr| addr.connected());
        self.builds.insert(id, actor.start());
    }
}

/// A new build id: time then randomness, a valid subject token and KV key.
pub fn new_build_id() -> String {
    format!("{:x}-{:08x}", now_ms(), rand::random::<u32>())
}

/// Decodes a request by its headers.
fn decode<T: WireMessage>(message: &async_nats::Message) -> Result<T, CodecError> {
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    decode_by_content_type(
        header(CONTENT_TYPE_HEADER).as_deref(),
        header(PROTOCOL_HEADER).as_deref(),
        &message.payload,
    )
}

/// The encoding to answer in: the request's, JSON when it named none we know.
fn reply_encoding(message: &async_nats::Message) -> Encoding {
    let content_type = message
        .headers
        .as_ref()
        .and_then(|h| h.get(CONTENT_TYPE_HEADER))
        .map(|v| v.as_str().to_string());
    Encoding::from_content_type(content_type.as_deref()).unwrap_or(Encoding::Json)
}

async fn reply<T: WireMessage>(bus: &FleetBus, request: &async_nats::Message, answer: &T) {
    let Some(reply) = request.reply.clone() else {
        warn!(subject = %request.subject, "api request without a reply subject");
        return;
    };
    let encoding = reply_encoding(request);
    let payload = match encoding.encode(answer) {
        Ok(payload) => payload,
        Err(err) => {
            warn!("encoding a reply: {err}");
            return;
        }
    };
    if let Err(err) = bus
        .client
        .publish_with_headers(reply, headers(encoding), payload.into())
        .await
    {
        warn!("sending a reply: {err}");
    }
}

/// The caller a request's identity makes.
fn caller_of(identity: Option<&str>) -> Caller<'_> {
    identity.map_or(Caller::Anonymous, Caller::Identity)
}

/// Answers a request of `verb` with `error` in that verb's reply.
async fn refuse(bus: &FleetBus, message: &async_nats::Message, verb: ApiVerb, error: WireError) {
    match verb {
        ApiVerb::Submit => reply(bus, message, &SubmitReply::refused(error)).await,
        ApiVerb::Status => {
            let answer = StatusReply {
                build: None,
                error: Some(error),
            };
            reply(bus, message, &answer).await;
        }
        ApiVerb::Cancel => {
            let answer = CancelReply {
                build_id: String::new(),
                state: None,
                error: Some(error),
            };
            reply(bus, message, &answer).await;
        }
        ApiVerb::List => {
            let answer = ListReply {
                builds: Vec::new(),
                error: Some(error),
            };
            reply(bus, message, &answer).await;
        }
        ApiVerb::Workers => {
            let answer = WorkersReply {
                workers: Vec::new(),
                error: Some(error),
            };
            reply(bus, message, &answer).await;
        }
    }
}

impl StreamHandler<async_nats::Message> for ApiActor {
    fn handle(&mut self, message: async_nats::Message, ctx: &mut Self::Context) {
        let bus = self.bus.clone();
        let Ok((verb, identity)) = bus.names.parse_api_request(&message.subject) else {
            return;
        };
        let identity = identity.map(str::to_string);
        let caller = caller_of(identity.as_deref());
        // The reply subject is the requester's choice and the coordinator's permissions are
        // wider than its: an answer never goes anywhere but the caller's own inbox.
        match message.reply.as_deref() {
            Some(reply) if authz::reply_allowed(&bus.names, caller, reply) => {}
            reply => {
                warn!(
                    subject = %message.subject,
                    reply = reply.unwrap_or(""),
                    "api request not answered: its reply subject is not the caller's inbox"
                );
                return;
            }
        }
        let policy = self.policy.clone();
        if let Err(error) = authz::admit(policy.as_deref(), &bus.names, caller) {
            info!(subject = %message.subject, "request refused: {error}");
            ctx.spawn(async move { refuse(&bus, &message, verb, error).await }.into_actor(self));
            return;
        }
        match verb {
            ApiVerb::Submit => {
                let work = submit::answer(
                    bus,
                    self.fleet.clone(),
                    message,
                    identity,
                    policy,
                    self.ownership.clone(),
                );
                ctx.spawn(work.into_actor(self).map(|adopt, act, ctx| {
                    if let Some(adopt) = adopt {
                        <Self as Handler<Adopt>>::handle(act, adopt, ctx);
                    }
                }));
            }
            ApiVerb::Status => {
                let work = status::answer(bus, self.builds.clone(), message, identity, policy);
                ctx.spawn(work.into_actor(self));
            }
            ApiVerb::Cancel => {
                let decoded = decode::<CancelRequest>(&message);
                let live = decoded
                    .as_ref()
                    .ok()
                    .and_then(|r| self.live_build(&r.build_id));
                let work = cancel::answer(
                    bus,
                    live,
                    decoded,
                    message,
                    identity,
                    policy,
                    self.ownership.clone(),
                );
                ctx.spawn(work.into_actor(self));
            }
            ApiVerb::List => {
                ctx.spawn(list::answer(bus, message, identity, policy).into_actor(self));
            }
            ApiVerb::Workers => {
                ctx.spawn(workers(bus, self.fleet.clone(), message).into_actor(self));
            }
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        warn!("the api subscriptions ended");
    }
}

/// Answers a workers request: the live workers, from the FleetActor.
async fn workers(bus: FleetBus, fleet: Addr<FleetActor>, message: async_nats::Message) {
    let answer = match decode::<WorkersRequest>(&message) {
        Err(err) => WorkersReply {
            workers: Vec::new(),
            error: Some(err.into()),
        },
        Ok(_) => match fleet.send(LiveWorkers).await {
            Ok(workers) => WorkersReply {
                workers,
                error: None,
            },
            Err(err) => WorkersReply {
                workers: Vec::new(),
                error: Some(WireError::transient(format!("fleet unavailable: {err}"))),
            },
        },
    };
    reply(&bus, &message, &answer).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::{BuildRequest, BuildState, ContextRef, ListRequest};
    use kaniko_common::platform::Platform;
    use kaniko_common::subjects::validate_token;

    fn record(id: &str, at: u64, state: BuildState) -> BuildRecord {
        let request = BuildRequest::new(
            ContextRef {
                sha256: "a".repeat(64),
                size: 1,
            },
            vec![Platform::parse("linux/amd64").unwrap()],
            vec!["r/app:1".into()],
        );
        let mut r = BuildRecord::new(id.into(), request, Vec::new(), at);
        r.state = state;
        r
    }

    #[test]
    fn list_is_newest_first_filtered_and_limited() {
        fn check(request: ListRequest, expected: &[&str]) {
            let records = vec![
                record("old", 1, BuildState::Succeeded),
                record("new", 3, BuildState::Running),
                record("mid", 2, BuildState::Queued),
            ];
            let got: Vec<String> = list(records, &request, &Default::default())
                .into_iter()
                .map(|s| s.build_id)
                .collect();
            assert_eq!(got, expected, "{request:?}");
        }
        check(ListRequest::default(), &["new", "mid", "old"]);
        check(
            ListRequest {
                active_only: true,
                limit: None,
            },
            &["new", "mid"],
        );
        check(
            ListRequest {
                active_only: false,
                limit: Some(1),
            },
            &["new"],
        );
    }

    #[test]
    fn build_ids_are_valid_tokens_and_unique() {
        let a = new_build_id();
        let b = new_build_id();
        assert!(validate_token("build id", &a).is_ok(), "{a}");
        assert_ne!(a, b);
        assert!(cancellable(BuildState::Running));
        assert!(!cancellable(BuildState::Succeeded));
    }
}
