// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Every NATS name kaniko-rs uses — subjects, JetStream streams and consumers, KV buckets,
//! the object store — in one place, under a configurable prefix (default `kaniko`).
//!
//! | name | example |
//! |---|---|
//! | API | `kaniko.api.submit` (`status`, `cancel`, `list`, `workers`) |
//! | API as an identity | `kaniko.api.<identity>.submit` |
//! | reply inboxes | `_INBOX.kaniko.user.<identity>.…`, `_INBOX.kaniko.coordinator.…`, `_INBOX.kaniko.worker.…` |
//! | tasks | `kaniko.tasks.linux.arm.v7`, `kaniko.tasks.linux.amd64._` |
//! | results | `kaniko.results.<build>` |
//! | events | `kaniko.events.<build>.<type>` |
//! | events of an identity's build | `kaniko.user.<identity>.events.<build>.<type>` |
//! | heartbeats | `kaniko.workers.<worker>` |
//! | cancel broadcast | `kaniko.cancel.<build>` |
//! | streams | `KANIKO_TASKS`, `KANIKO_RESULTS`, `KANIKO_EVENTS` |
//! | consumers | `KANIKO_TASKS_linux-amd64` |
//! | KV / object store | `KANIKO_BUILDS`, `KANIKO_WORKERS` / `KANIKO_CONTEXTS` |
//! | an identity's streams | `KANIKO_EVENTS_<identity>`, object store `KANIKO_CONTEXTS_<identity>` |
//!
//! An *identity* is a submitter the coordinator's policy names. Its requests arrive on
//! subjects carrying it (`api.<identity>.<verb>`), which the server lets only that submitter
//! publish on; its contexts and its builds' events live in streams of its own, so the
//! server's permissions can keep every other submitter out of them (see docs/security.md).
//!
//! Anything from outside that becomes a subject token (build ids, worker ids) is checked by
//! [`validate_token`]: `[A-Za-z0-9_-]`, at most [`MAX_TOKEN_LEN`] bytes, so it is also a valid
//! KV key and can never widen a subscription (`*`, `>`) or split a token (`.`).

use std::fmt;

use crate::messages::EventType;
use crate::platform::Platform;

/// The prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "kaniko";
/// The longest prefix accepted, in bytes.
pub const MAX_PREFIX_LEN: usize = 32;
/// The longest build or worker id accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 128;
/// The longest identity accepted, in bytes (it is part of stream names).
pub const MAX_IDENTITY_LEN: usize = 64;
/// The section of the reply inboxes (`_INBOX.<prefix>.…`).
pub const INBOX_ROOT: &str = "_INBOX";

/// Why a name could not be built or a subject could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The configured prefix is not usable.
    #[error("invalid NATS prefix {prefix:?}: {reason}")]
    InvalidPrefix {
        /// The prefix as given.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A build id, worker id or platform cannot be a subject token.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidToken {
        /// `build id`, `worker id`, `platform`.
        what: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A subject that is not of the expected shape.
    #[error("subject {subject:?} is not a {expected} subject")]
    UnexpectedSubject {
        /// The subject as received.
        subject: String,
        /// What it should have been, e.g. `tasks`.
        expected: &'static str,
    },
}

/// The verbs of the request API, one subject each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVerb {
    /// Submit a build.
    Submit,
    /// One build's status.
    Status,
    /// Cancel a build.
    Cancel,
    /// List builds.
    List,
    /// List live workers.
    Workers,
}

impl ApiVerb {
    /// Every verb.
    pub const ALL: [ApiVerb; 5] = [
        ApiVerb::Submit,
        ApiVerb::Status,
        ApiVerb::Cancel,
        ApiVerb::List,
        ApiVerb::Workers,
    ];

    /// The subject token: `submit`, `status`, `cancel`, `list`, `workers`.
    pub fn token(self) -> &'static str {
        match self {
            ApiVerb::Submit => "submit",
            ApiVerb::Status => "status",
            ApiVerb::Cancel => "cancel",
            ApiVerb::List => "list",
            ApiVerb::Workers => "workers",
        }
    }

    /// The verb of a subject token.
    pub fn from_token(token: &str) -> Option<ApiVerb> {
        ApiVerb::ALL.into_iter().find(|verb| verb.token() == token)
    }
}

impl fmt::Display for ApiVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

/// The daemons' roles, each with its own reply inbox (`_INBOX.<prefix>.<role>`), so the
/// server can give every connection only its own replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `coordinator serve` and the coordinator's commands run by an operator.
    Coordinator,
    /// `worker serve`.
    Worker,
}

impl Role {
    /// `coordinator` or `worker`.
    pub fn token(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Worker => "worker",
        }
    }
}

/// Checks that `value` can be an identity: a token ([`validate_token`]) of at most
/// [`MAX_IDENTITY_LEN`] bytes.
pub fn validate_identity(value: &str) -> Result<(), NameError> {
    validate_token("identity", value)?;
    if value.len() > MAX_IDENTITY_LEN {
        return Err(NameError::InvalidToken {
            what: "identity",
            value: value.to_string(),
            reason: "it is longer than 64 bytes",
        });
    }
    Ok(())
}

/// Checks that `value` can be one subject token (and a KV key): non-empty, at most
/// [`MAX_TOKEN_LEN`] bytes, only `[A-Za-z0-9_-]`. `what` names it in the error.
pub fn validate_token(what: &'static str, value: &str) -> Result<(), NameError> {
    let invalid = |reason| {
        Err(NameError::InvalidToken {
            what,
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return invalid("it is empty");
    }
    if value.len() > MAX_TOKEN_LEN {
        return invalid("it is longer than 128 bytes");
    }
    if !value.chars().all(token_char) {
        return invalid("use only letters, digits, '_' and '-'");
    }
    Ok(())
}

/// Turns any text (a host name, say) into a valid token: every other character becomes `-`,
/// an empty result becomes `-`, and it is cut to [`MAX_TOKEN_LEN`] bytes.
pub fn sanitize_token(raw: &str) -> String {
    let mut token: String = raw
        .chars()
        .map(|c| if token_char(c) { c } else { '-' })
        .take(MAX_TOKEN_LEN)
        .collect();
    if token.is_empty() {
        token.push('-');
    }
    token
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// All NATS names under one prefix. Cheap to clone; build it once from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Names {
    prefix: String,
    upper: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            prefix: DEFAULT_PREFIX.to_string(),
            upper: DEFAULT_PREFIX.to_ascii_uppercase(),
        }
    }
}

impl Names {
    /// Names under `prefix`: non-empty, at most [`MAX_PREFIX_LEN`] bytes, only
    /// `[A-Za-z0-9_-]` (so no `.`, `*`, `>` or whitespace).
    pub fn new(prefix: &str) -> Result<Names, NameError> {
        let invalid = |reason| {
            Err(NameError::InvalidPrefix {
                prefix: prefix.to_string(),
                reason,
            })
        };
        if prefix.is_empty() {
            return invalid("it is empty");
        }
        if prefix.len() > MAX_PREFIX_LEN {
            return invalid("it is longer than 32 bytes");
        }
        if !prefix.chars().all(token_char) {
            return invalid("use only letters, digits, '_' and '-'");
        }
        if prefix == INBOX_ROOT {
            return invalid("it is the reply inboxes' root");
        }
        let upper = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        Ok(Names {
            prefix: prefix.to_string(),
            upper,
        })
    }

    /// The subject prefix, e.g. `kaniko`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `kaniko.api.<verb>`.
    pub fn api(&self, verb: ApiVerb) -> String {
        format!("{}.api.{}", self.prefix, verb.token())
    }

    /// `kaniko.api.*`: every API verb.
    pub fn api_all(&self) -> String {
        format!("{}.api.*", self.prefix)
    }

    /// The verb of an anonymous API subject ([`Names::api`]).
    pub fn parse_api(&self, subject: &str) -> Result<ApiVerb, NameError> {
        self.rest(subject, "api")
            .and_then(ApiVerb::from_token)
            .ok_or_else(|| unexpected(subject, "api"))
    }

    /// `kaniko.api.<identity>.<verb>`: a request of `identity`.
    pub fn api_as(&self, identity: &str, verb: ApiVerb) -> Result<String, NameError> {
        validate_identity(identity)?;
        Ok(format!("{}.api.{identity}.{}", self.prefix, verb.token()))
    }

    /// `kaniko.api.*.<verb>`: `verb` requested by any identity.
    pub fn api_identified(&self, verb: ApiVerb) -> String {
        format!("{}.api.*.{}", self.prefix, verb.token())
    }

    /// The verb of a request subject and the identity it carries: `None` for an anonymous
    /// request ([`Names::api`]), `Some` for [`Names::api_as`].
    pub fn parse_api_request<'s>(
        &self,
        subject: &'s str,
    ) -> Result<(ApiVerb, Option<&'s str>), NameError> {
        let rest = self
            .rest(subject, "api")
            .ok_or_else(|| unexpected(subject, "api"))?;
        let (identity, verb) = match rest.split_once('.') {
            None => (None, rest),
            Some((identity, verb)) => (Some(identity), verb),
        };
        let verb = ApiVerb::from_token(verb).ok_or_else(|| unexpected(subject, "api"))?;
        if let Some(identity) = identity {
            validate_identity(identity).map_err(|_| unexpected(subject, "api"))?;
        }
        Ok((verb, identity))
    }

    /// `_INBOX.kaniko.user.<identity>`: the inbox prefix of `identity`'s connections; the
    /// coordinator answers an identity's request only on a reply subject below it.
    pub fn identity_inbox(&self, identity: &str) -> Result<String, NameError> {
        validate_identity(identity)?;
        Ok(format!("{INBOX_ROOT}.{}.user.{identity}", self.prefix))
    }

    /// `_INBOX.kaniko.coordinator` or `_INBOX.kaniko.worker`: the inbox prefix of a daemon.
    pub fn role_inbox(&self, role: Role) -> String {
        format!("{INBOX_ROOT}.{}.{}", self.prefix, role.token())
    }

    /// `kaniko.tasks.<os>.<arch>.<variant>` (see [`Platform::to_subject_tokens`]). The
    /// platform is normalised first; one that cannot be is an error.
    pub fn tasks(&self, platform: &Platform) -> Result<String, NameError> {
        let platform = valid_platform(platform)?;
        Ok(format!(
            "{}.tasks.{}",
            self.prefix,
            platform.to_subject_tokens()
        ))
    }

    /// `kaniko.tasks.cross.linux.arm64._`: cross-safe tasks of a platform placed on an
    /// `--allow-cross` worker (no live native worker). One token longer than
    /// [`Names::tasks`], so the two consumer filters never overlap on the work-queue stream.
    pub fn tasks_cross(&self, platform: &Platform) -> Result<String, NameError> {
        let platform = valid_platform(platform)?;
        Ok(format!(
            "{}.tasks.cross.{}",
            self.prefix,
            platform.to_subject_tokens()
        ))
    }

    /// `kaniko.tasks.>`: the tasks stream's subjects.
    pub fn tasks_all(&self) -> String {
        format!("{}.tasks.>", self.prefix)
    }

    /// The platform of a tasks subject, native ([`Names::tasks`]) or cross
    /// ([`Names::tasks_cross`]).
    pub fn parse_tasks(&self, subject: &str) -> Result<Platform, NameError> {
        self.rest(subject, "tasks")
            .and_then(|tokens| {
                Platform::from_subject_tokens(tokens).ok().or_else(|| {
                    let cross = tokens.strip_prefix("cross.")?;
                    Platform::from_subject_tokens(cross).ok()
                })
            })
            .ok_or_else(|| unexpected(subject, "tasks"))
    }

    /// `kaniko.results.<build>`.
    pub fn results(&self, build_id: &str) -> Result<String, NameError> {
        validate_token("build id", build_id)?;
        Ok(format!("{}.results.{build_id}", self.prefix))
    }

    /// `kaniko.results.*`: the results stream's subjects.
    pub fn results_all(&self) -> String {
        format!("{}.results.*", self.prefix)
    }

    /// The build id of a results subject.
    pub fn parse_results<'s>(&self, subject: &'s str) -> Result<&'s str, NameError> {
        self.one_token(subject, "results")
    }

    /// `kaniko.events.<build>.<type>`.
    pub fn events(&self, build_id: &str, event: EventType) -> Result<String, NameError> {
        validate_token("build id", build_id)?;
        Ok(format!(
            "{}.events.{build_id}.{}",
            self.prefix,
            event.token()
        ))
    }

    /// `kaniko.events.<build>.*`: every event of one build.
    pub fn events_of(&self, build_id: &str) -> Result<String, NameError> {
        validate_token("build id", build_id)?;
        Ok(format!("{}.events.{build_id}.*", self.prefix))
    }

    /// `kaniko.events.>`: every event; the events stream's subjects.
    pub fn events_all(&self) -> String {
        format!("{}.events.>", self.prefix)
    }

    /// The subject of an event of a build `owner` submitted: [`Names::events`] for an
    /// anonymous build, `kaniko.user.<owner>.events.<build>.<type>` for an identity's.
    pub fn events_for(
        &self,
        owner: Option<&str>,
        build_id: &str,
        event: EventType,
    ) -> Result<String, NameError> {
        match owner {
            None => self.events(build_id, event),
            Some(owner) => {
                validate_identity(owner)?;
                validate_token("build id", build_id)?;
                Ok(format!(
                    "{}.user.{owner}.events.{build_id}.{}",
                    self.prefix,
                    event.token()
                ))
            }
        }
    }

    /// Every event of one build of `owner` ([`Names::events_of`] when anonymous).
    pub fn events_of_for(&self, owner: Option<&str>, build_id: &str) -> Result<String, NameError> {
        match owner {
            None => self.events_of(build_id),
            Some(owner) => {
                validate_identity(owner)?;
                validate_token("build id", build_id)?;
                Ok(format!("{}.user.{owner}.events.{build_id}.*", self.prefix))
            }
        }
    }

    /// `kaniko.user.<owner>.events.>`: the subjects of `owner`'s events stream.
    pub fn owner_events_all(&self, owner: &str) -> Result<String, NameError> {
        validate_identity(owner)?;
        Ok(format!("{}.user.{owner}.events.>", self.prefix))
    }

    /// The build id and event type of an events subject.
    pub fn parse_events<'s>(&self, subject: &'s str) -> Result<(&'s str, EventType), NameError> {
        let (build_id, token) = self
            .rest(subject, "events")
            .and_then(|rest| rest.split_once('.'))
            .ok_or_else(|| unexpected(subject, "events"))?;
        let event = EventType::from_token(token).ok_or_else(|| unexpected(subject, "events"))?;
        validate_token("build id", build_id).map_err(|_| unexpected(subject, "events"))?;
        Ok((build_id, event))
    }

    /// `kaniko.workers.<worker>`: one worker's heartbeats.
    pub fn worker_heartbeat(&self, worker_id: &str) -> Result<String, NameError> {
        validate_token("worker id", worker_id)?;
        Ok(format!("{}.workers.{worker_id}", self.prefix))
    }

    /// `kaniko.workers.*`: every worker's heartbeats.
    pub fn workers_all(&self) -> String {
        format!("{}.workers.*", self.prefix)
    }

    /// The worker id of a heartbeat subject.
    pub fn parse_worker_heartbeat<'s>(&self, subject: &'s str) -> Result<&'s str, NameError> {
        self.one_token(subject, "workers")
    }

    /// `kaniko.cancel.<build>`: the core NATS broadcast workers listen to.
    pub fn cancel(&self, build_id: &str) -> Result<String, NameError> {
        validate_token("build id", build_id)?;
        Ok(format!("{}.cancel.{build_id}", self.prefix))
    }

    /// `kaniko.cancel.*`: every cancel broadcast.
    pub fn cancel_all(&self) -> String {
        format!("{}.cancel.*", self.prefix)
    }

    /// The build id of a cancel subject.
    pub fn parse_cancel<'s>(&self, subject: &'s str) -> Result<&'s str, NameError> {
        self.one_token(subject, "cancel")
    }

    /// `KANIKO_TASKS`: the work-queue stream of tasks.
    pub fn tasks_stream(&self) -> String {
        format!("{}_TASKS", self.upper)
    }

    /// `KANIKO_RESULTS`: the stream of task results.
    pub fn results_stream(&self) -> String {
        format!("{}_RESULTS", self.upper)
    }

    /// `KANIKO_EVENTS`: the replayable stream of events.
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.upper)
    }

    /// The events stream of `owner`'s builds, `KANIKO_EVENTS_<owner>`
    /// ([`Names::events_stream`] when anonymous).
    pub fn events_stream_for(&self, owner: Option<&str>) -> Result<String, NameError> {
        match owner {
            None => Ok(self.events_stream()),
            Some(owner) => {
                validate_identity(owner)?;
                Ok(format!("{}_EVENTS_{owner}", self.upper))
            }
        }
    }

    /// `KANIKO_TASKS_linux-amd64`: the durable pull consumer shared by one platform's workers.
    pub fn tasks_consumer(&self, platform: &Platform) -> Result<String, NameError> {
        let platform = valid_platform(platform)?;
        Ok(format!(
            "{}_{}",
            self.tasks_stream(),
            platform.consumer_name()
        ))
    }

    /// `KANIKO_TASKS_CROSS_linux-arm64`: the durable pull consumer shared by the
    /// `--allow-cross` workers of a platform, filtered on [`Names::tasks_cross`].
    pub fn tasks_cross_consumer(&self, platform: &Platform) -> Result<String, NameError> {
        let platform = valid_platform(platform)?;
        Ok(format!(
            "{}_CROSS_{}",
            self.tasks_stream(),
            platform.consumer_name()
        ))
    }

    /// `KANIKO_BUILDS`: the KV bucket of build state.
    pub fn builds_bucket(&self) -> String {
        format!("{}_BUILDS", self.upper)
    }

    /// `KANIKO_WORKERS`: the KV bucket of worker presence.
    pub fn workers_bucket(&self) -> String {
        format!("{}_WORKERS", self.upper)
    }

    /// `KANIKO_CONTEXTS`: the object store of build contexts.
    pub fn contexts_store(&self) -> String {
        format!("{}_CONTEXTS", self.upper)
    }

    /// The object store of `owner`'s contexts, `KANIKO_CONTEXTS_<owner>`
    /// ([`Names::contexts_store`] when anonymous). Its stream is `OBJ_<store>`.
    pub fn contexts_store_for(&self, owner: Option<&str>) -> Result<String, NameError> {
        match owner {
            None => Ok(self.contexts_store()),
            Some(owner) => {
                validate_identity(owner)?;
                Ok(format!("{}_CONTEXTS_{owner}", self.upper))
            }
        }
    }

    /// The `rest` of `<prefix>.<section>.<rest>`.
    fn rest<'s>(&self, subject: &'s str, section: &str) -> Option<&'s str> {
        subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('.')?
            .strip_prefix(section)?
            .strip_prefix('.')
    }

    /// The single valid token after `<prefix>.<section>.`.
    fn one_token<'s>(&self, subject: &'s str, section: &'static str) -> Result<&'s str, NameError> {
        self.rest(subject, section)
            .filter(|token| validate_token("id", token).is_ok())
            .ok_or_else(|| unexpected(subject, section))
    }
}

/// The stream behind a KV bucket (`KV_<bucket>`). nats-server 2.9 cannot create KV buckets
/// through async-nats, so the coordinator creates this stream itself (see anchors.md).
pub fn kv_stream(bucket: &str) -> String {
    format!("KV_{bucket}")
}

/// The subjects of the stream behind a KV bucket (`$KV.<bucket>.>`).
pub fn kv_stream_subjects(bucket: &str) -> String {
    format!("$KV.{bucket}.>")
}

/// The stream behind an object store (`OBJ_<store>`).
pub fn object_stream(store: &str) -> String {
    format!("OBJ_{store}")
}

/// The subjects of the stream behind an object store (`$O.<store>.>`).
pub fn object_stream_subjects(store: &str) -> String {
    format!("$O.{store}.>")
}

fn valid_platform(platform: &Platform) -> Result<Platform, NameError> {
    platform
        .normalized()
        .ok_or_else(|| NameError::InvalidToken {
            what: "platform",
            value: platform.to_string(),
            reason: "it is not a valid os/arch[/variant]",
        })
}

fn unexpected(subject: &str, expected: &'static str) -> NameError {
    NameError::UnexpectedSubject {
        subject: subject.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests;
