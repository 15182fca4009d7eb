// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The ApiActor: serves `<prefix>.api.{submit,status,cancel,list,workers}` and the same verbs
//! per identity (`<prefix>.api.<identity>.<verb>`) in the queue group [`QUEUE_GROUP`], so
//! several coordinators share the load. A request is answered only on a reply subject of the
//! caller's own ([`authz::reply_allowed`]), admitted by the policy ([`authz::admit`]), decoded
//! by its `Content-Type` (JSON, the default, or bincode) and answered in the same encoding;
//! one that does not decode is answered with a `protocol` error in the verb's reply type,
//! never a crash. A submit is prepared (see `build.rs`: the policy's push and pull checks),
//! stored in the BUILDS bucket with its owner, answered with its build id, and handed to a new
//! BuildActor; `status`, `cancel` and `list` show an identity its own builds only (admins all).

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use futures::StreamExt;
use kaniko_common::messages::codec::{
    CONTENT_TYPE_HEADER, PROTOCOL_HEADER, decode_by_content_type,
};
use kaniko_common::messages::{
    BuildRequest, BuildState, BuildStatus, CancelReply, CancelRequest, CodecError, Encoding,
    ListReply, ListRequest, Message as WireMessage, StatusReply, StatusRequest, SubmitReply,
    WireError, WorkersReply, WorkersRequest,
};
use kaniko_common::subjects::{ApiVerb, validate_token};
use tracing::{info, warn};

use super::build::record::BuildRecord;
use super::build::{BuildActor, Cancel, GetStatus, prepare};
use super::fleet::{FleetActor, LiveWorkers};
use super::index::IndexActor;
use super::now_ms;
use crate::authz::{self, Access, Caller, Policy};
use crate::driver::nats::{NatsDriver, headers};

/// The queue group every coordinator's API subscriptions join.
pub const QUEUE_GROUP: &str = "kaniko-coordinator";

/// Serves the request API.
pub struct ApiActor {
    driver: NatsDriver,
    policy: Option<Arc<Policy>>,
    fleet: Addr<FleetActor>,
    index: Addr<IndexActor>,
    builds: HashMap<String, Addr<BuildActor>>,
    requests: Option<futures::stream::SelectAll<async_nats::Subscriber>>,
}

impl ApiActor {
    /// Subscribes to every API verb, anonymous and per identity (queue group
    /// [`QUEUE_GROUP`]); the actor serves them once started, by `policy` (see
    /// [`crate::authz`]).
    pub async fn subscribe(
        driver: NatsDriver,
        fleet: Addr<FleetActor>,
        index: Addr<IndexActor>,
        policy: Option<Arc<Policy>>,
    ) -> anyhow::Result<ApiActor> {
        let mut subscriptions = Vec::new();
        for verb in ApiVerb::ALL {
            for subject in [driver.names.api(verb), driver.names.api_identified(verb)] {
                subscriptions.push(
                    driver
                        .client
                        .queue_subscribe(subject, QUEUE_GROUP.to_string())
                        .await?,
                );
            }
        }
        Ok(ApiActor {
            driver,
            policy,
            fleet,
            index,
            builds: HashMap::new(),
            requests: Some(futures::stream::select_all(subscriptions)),
        })
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
        let actor = BuildActor::new(
            msg.record,
            msg.revision,
            self.driver.clone(),
            self.index.clone(),
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

async fn reply<T: WireMessage>(driver: &NatsDriver, request: &async_nats::Message, answer: &T) {
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
    if let Err(err) = driver
        .client
        .publish_with_headers(reply, headers(encoding), payload.into())
        .await
    {
        warn!("sending a reply: {err}");
    }
}

async fn load(driver: &NatsDriver, build_id: &str) -> Result<Option<BuildRecord>, WireError> {
    validate_token("build id", build_id).map_err(|e| WireError::refused(e.to_string()))?;
    let Some(bytes) = driver
        .builds
        .get(build_id)
        .await
        .map_err(|e| WireError::transient(format!("reading build {build_id}: {e}")))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| WireError::permanent(format!("stored build {build_id} does not decode: {e}")))
}

/// Every stored build.
pub async fn load_all(driver: &NatsDriver) -> Result<Vec<(BuildRecord, u64)>, WireError> {
    let failed = |e: &dyn std::fmt::Display| WireError::transient(format!("listing builds: {e}"));
    let mut keys = match driver.builds.keys().await {
        Ok(keys) => keys,
        Err(err) => return Err(failed(&err)),
    };
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| failed(&e))?;
        let Ok(Some(entry)) = driver.builds.entry(&key).await else {
            continue;
        };
        match serde_json::from_slice::<BuildRecord>(&entry.value) {
            Ok(record) => out.push((record, entry.revision)),
            Err(err) => warn!(build_id = %key, "stored build does not decode: {err}"),
        }
    }
    Ok(out)
}

async fn status_of(
    driver: &NatsDriver,
    live: Option<Addr<BuildActor>>,
    build_id: &str,
) -> Result<BuildStatus, WireError> {
    if let Some(actor) = live
        && let Ok(status) = actor.send(GetStatus).await
    {
        return Ok(status);
    }
    match load(driver, build_id).await? {
        Some(record) => Ok(record.status()),
        None => Err(WireError::not_found(format!("build {build_id} not found"))),
    }
}

/// The caller a request's identity makes.
fn caller_of(identity: Option<&str>) -> Caller<'_> {
    identity.map_or(Caller::Anonymous, Caller::Identity)
}

/// Answers a request of `verb` with `error` in that verb's reply.
async fn refuse(
    driver: &NatsDriver,
    message: &async_nats::Message,
    verb: ApiVerb,
    error: WireError,
) {
    match verb {
        ApiVerb::Submit => reply(driver, message, &SubmitReply::refused(error)).await,
        ApiVerb::Status => {
            let answer = StatusReply {
                build: None,
                error: Some(error),
            };
            reply(driver, message, &answer).await;
        }
        ApiVerb::Cancel => {
            let answer = CancelReply {
                build_id: String::new(),
                state: None,
                error: Some(error),
            };
            reply(driver, message, &answer).await;
        }
        ApiVerb::List => {
            let answer = ListReply {
                builds: Vec::new(),
                error: Some(error),
            };
            reply(driver, message, &answer).await;
        }
        ApiVerb::Workers => {
            let answer = WorkersReply {
                workers: Vec::new(),
                error: Some(error),
            };
            reply(driver, message, &answer).await;
        }
    }
}

impl StreamHandler<async_nats::Message> for ApiActor {
    fn handle(&mut self, message: async_nats::Message, ctx: &mut Self::Context) {
        let driver = self.driver.clone();
        let Ok((verb, identity)) = driver.names.parse_api_request(&message.subject) else {
            return;
        };
        let identity = identity.map(str::to_string);
        let caller = caller_of(identity.as_deref());
        // The reply subject is the requester's choice and the coordinator's permissions are
        // wider than its: an answer never goes anywhere but the caller's own inbox.
        match message.reply.as_deref() {
            Some(reply) if authz::reply_allowed(&driver.names, caller, reply) => {}
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
        if let Err(error) = authz::admit(policy.as_deref(), &driver.names, caller) {
            info!(subject = %message.subject, "request refused: {error}");
            ctx.spawn(async move { refuse(&driver, &message, verb, error).await }.into_actor(self));
            return;
        }
        match verb {
            ApiVerb::Submit => {
                let fleet = self.fleet.clone();
                let work = async move {
                    let caller = caller_of(identity.as_deref());
                    let request = match decode::<BuildRequest>(&message) {
                        Ok(request) => request,
                        Err(err) => {
                            reply(&driver, &message, &SubmitReply::refused(err.into())).await;
                            return None;
                        }
                    };
                    let build_id = new_build_id();
                    let stored = async {
                        let record = prepare(
                            &driver,
                            &fleet,
                            &build_id,
                            request,
                            caller,
                            policy.as_deref(),
                        )
                        .await?;
                        let bytes = serde_json::to_vec(&record)
                            .map_err(|e| WireError::permanent(e.to_string()))?;
                        let revision = driver
                            .builds
                            .create(&build_id, bytes.into())
                            .await
                            .map_err(|e| {
                                WireError::transient(format!("storing build {build_id}: {e}"))
                            })?;
                        Ok::<_, WireError>((record, revision))
                    }
                    .await;
                    let who = identity.as_deref().unwrap_or("");
                    match stored {
                        Ok((record, revision)) => {
                            info!(%build_id, identity = who, "build accepted");
                            reply(&driver, &message, &SubmitReply::accepted(&build_id)).await;
                            Some(Adopt { record, revision })
                        }
                        Err(error) => {
                            info!(%build_id, identity = who, "build refused: {error}");
                            reply(&driver, &message, &SubmitReply::refused(error)).await;
                            None
                        }
                    }
                };
                ctx.spawn(work.into_actor(self).map(|adopt, act, ctx| {
                    if let Some(adopt) = adopt {
                        <Self as Handler<Adopt>>::handle(act, adopt, ctx);
                    }
                }));
            }
            ApiVerb::Status => {
                let builds = self.builds.clone();
                ctx.spawn(
                    async move {
                        let caller = caller_of(identity.as_deref());
                        let answer = match decode::<StatusRequest>(&message) {
                            Err(err) => StatusReply {
                                build: None,
                                error: Some(err.into()),
                            },
                            Ok(request) => {
                                let live = builds
                                    .get(&request.build_id)
                                    .filter(|a| a.connected())
                                    .cloned();
                                let status = status_of(&driver, live, &request.build_id)
                                    .await
                                    .and_then(|build| {
                                        authz::may_access(
                                            policy.as_deref(),
                                            caller,
                                            &build.build_id,
                                            build.owner.as_deref(),
                                            Access::Read,
                                        )
                                        .map(|()| build)
                                    });
                                match status {
                                    Ok(build) => StatusReply {
                                        build: Some(build),
                                        error: None,
                                    },
                                    Err(error) => StatusReply {
                                        build: None,
                                        error: Some(error),
                                    },
                                }
                            }
                        };
                        reply(&driver, &message, &answer).await;
                    }
                    .into_actor(self),
                );
            }
            ApiVerb::Cancel => {
                let decoded = decode::<CancelRequest>(&message);
                let live = decoded
                    .as_ref()
                    .ok()
                    .and_then(|r| self.live_build(&r.build_id));
                ctx.spawn(
                    async move {
                        let caller = caller_of(identity.as_deref());
                        let answer = match decoded {
                            Err(err) => CancelReply {
                                build_id: String::new(),
                                state: None,
                                error: Some(err.into()),
                            },
                            Ok(request) => {
                                // Whose build it is, before anything is cancelled.
                                let allowed = status_of(&driver, live.clone(), &request.build_id)
                                    .await
                                    .and_then(|build| {
                                        authz::may_access(
                                            policy.as_deref(),
                                            caller,
                                            &build.build_id,
                                            build.owner.as_deref(),
                                            Access::Cancel,
                                        )
                                    });
                                match allowed {
                                    Ok(()) => cancel(&driver, live, request).await,
                                    Err(error) => CancelReply {
                                        build_id: request.build_id,
                                        state: None,
                                        error: Some(error),
                                    },
                                }
                            }
                        };
                        reply(&driver, &message, &answer).await;
                    }
                    .into_actor(self),
                );
            }
            ApiVerb::List => {
                ctx.spawn(
                    async move {
                        let caller = caller_of(identity.as_deref());
                        let answer = match decode::<ListRequest>(&message) {
                            Err(err) => ListReply {
                                builds: Vec::new(),
                                error: Some(err.into()),
                            },
                            Ok(request) => match load_all(&driver).await {
                                Ok(records) => ListReply {
                                    builds: list(
                                        records
                                            .into_iter()
                                            .map(|(r, _)| r)
                                            .filter(|r| {
                                                authz::lists(
                                                    policy.as_deref(),
                                                    caller,
                                                    r.owner.as_deref(),
                                                )
                                            })
                                            .collect(),
                                        &request,
                                    ),
                                    error: None,
                                },
                                Err(error) => ListReply {
                                    builds: Vec::new(),
                                    error: Some(error),
                                },
                            },
                        };
                        reply(&driver, &message, &answer).await;
                    }
                    .into_actor(self),
                );
            }
            ApiVerb::Workers => {
                let fleet = self.fleet.clone();
                ctx.spawn(
                    async move {
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
                                    error: Some(WireError::transient(format!(
                                        "fleet unavailable: {err}"
                                    ))),
                                },
                            },
                        };
                        reply(&driver, &message, &answer).await;
                    }
                    .into_actor(self),
                );
            }
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        warn!("the api subscriptions ended");
    }
}

async fn cancel(
    driver: &NatsDriver,
    live: Option<Addr<BuildActor>>,
    request: CancelRequest,
) -> CancelReply {
    let build_id = request.build_id.clone();
    let reason = request
        .reason
        .unwrap_or_else(|| "cancelled on request".to_string());
    if let Some(actor) = live
        && let Ok(state) = actor.send(Cancel { reason }).await
    {
        return CancelReply {
            build_id,
            state: Some(state),
            error: None,
        };
    }
    match load(driver, &build_id).await {
        Ok(Some(record)) => CancelReply {
            build_id,
            state: Some(record.state),
            error: (!record.state.is_terminal()).then(|| {
                WireError::transient(format!(
                    "build {} is not owned by this coordinator",
                    record.build_id
                ))
            }),
        },
        Ok(None) => CancelReply {
            error: Some(WireError::not_found(format!("build {build_id} not found"))),
            build_id,
            state: None,
        },
        Err(error) => CancelReply {
            build_id,
            state: None,
            error: Some(error),
        },
    }
}

/// The builds a list request asks for: newest first, unfinished only when asked, at most
/// `limit`.
pub fn list(mut records: Vec<BuildRecord>, request: &ListRequest) -> Vec<BuildStatus> {
    records.sort_by(|a, b| {
        b.submitted_at_unix_ms
            .cmp(&a.submitted_at_unix_ms)
            .then_with(|| b.build_id.cmp(&a.build_id))
    });
    records
        .iter()
        .filter(|r| !request.active_only || !r.state.is_terminal())
        .take(request.limit.map_or(usize::MAX, |l| l as usize))
        .map(BuildRecord::status)
        .collect()
}

/// True for a state a `cancel` may still change.
pub fn cancellable(state: BuildState) -> bool {
    !state.is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::ContextRef;
    use kaniko_common::platform::Platform;

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
            let got: Vec<String> = list(records, &request)
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
