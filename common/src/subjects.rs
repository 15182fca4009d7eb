// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Every NATS name kaniko-rs uses — subjects, JetStream streams and consumers, KV buckets,
//! the object store — in one place, under a configurable prefix (default `kaniko`).
//!
//! | name | example |
//! |---|---|
//! | API | `kaniko.api.submit` (`status`, `cancel`, `list`, `workers`) |
//! | tasks | `kaniko.tasks.linux.arm.v7`, `kaniko.tasks.linux.amd64._` |
//! | results | `kaniko.results.<build>` |
//! | events | `kaniko.events.<build>.<type>` |
//! | heartbeats | `kaniko.workers.<worker>` |
//! | cancel broadcast | `kaniko.cancel.<build>` |
//! | streams | `KANIKO_TASKS`, `KANIKO_RESULTS`, `KANIKO_EVENTS` |
//! | consumers | `KANIKO_TASKS_linux-amd64` |
//! | KV / object store | `KANIKO_BUILDS`, `KANIKO_WORKERS` / `KANIKO_CONTEXTS` |
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

    /// The verb of an API subject.
    pub fn parse_api(&self, subject: &str) -> Result<ApiVerb, NameError> {
        self.rest(subject, "api")
            .and_then(ApiVerb::from_token)
            .ok_or_else(|| unexpected(subject, "api"))
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
mod tests {
    use super::*;

    fn p(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    #[test]
    fn every_name_under_the_default_prefix() {
        fn check(got: Result<String, NameError>, expected: &str) {
            assert_eq!(got.as_deref(), Ok(expected));
        }
        let n = Names::default();
        check(Ok(n.api(ApiVerb::Submit)), "kaniko.api.submit");
        check(Ok(n.api(ApiVerb::Status)), "kaniko.api.status");
        check(Ok(n.api(ApiVerb::Cancel)), "kaniko.api.cancel");
        check(Ok(n.api(ApiVerb::List)), "kaniko.api.list");
        check(Ok(n.api(ApiVerb::Workers)), "kaniko.api.workers");
        check(Ok(n.api_all()), "kaniko.api.*");
        check(n.tasks(&p("linux/amd64")), "kaniko.tasks.linux.amd64._");
        check(n.tasks(&p("linux/arm/v7")), "kaniko.tasks.linux.arm.v7");
        check(Ok(n.tasks_all()), "kaniko.tasks.>");
        check(n.results("b1"), "kaniko.results.b1");
        check(Ok(n.results_all()), "kaniko.results.*");
        check(n.events("b1", EventType::Log), "kaniko.events.b1.log");
        check(
            n.events("b1", EventType::PlatformDone),
            "kaniko.events.b1.platform_done",
        );
        check(n.events_of("b1"), "kaniko.events.b1.*");
        check(Ok(n.events_all()), "kaniko.events.>");
        check(n.worker_heartbeat("w-1"), "kaniko.workers.w-1");
        check(Ok(n.workers_all()), "kaniko.workers.*");
        check(n.cancel("b1"), "kaniko.cancel.b1");
        check(Ok(n.cancel_all()), "kaniko.cancel.*");
        check(Ok(n.tasks_stream()), "KANIKO_TASKS");
        check(Ok(n.results_stream()), "KANIKO_RESULTS");
        check(Ok(n.events_stream()), "KANIKO_EVENTS");
        check(
            n.tasks_consumer(&p("linux/amd64")),
            "KANIKO_TASKS_linux-amd64",
        );
        check(
            n.tasks_consumer(&p("linux/arm/v7")),
            "KANIKO_TASKS_linux-arm-v7",
        );
        check(
            n.tasks_cross(&p("linux/arm64")),
            "kaniko.tasks.cross.linux.arm64._",
        );
        check(
            n.tasks_cross(&p("linux/arm/v7")),
            "kaniko.tasks.cross.linux.arm.v7",
        );
        check(
            n.tasks_cross_consumer(&p("linux/arm64")),
            "KANIKO_TASKS_CROSS_linux-arm64",
        );
        check(
            n.tasks_cross_consumer(&p("linux/arm/v7")),
            "KANIKO_TASKS_CROSS_linux-arm-v7",
        );
        check(Ok(n.builds_bucket()), "KANIKO_BUILDS");
        check(Ok(n.workers_bucket()), "KANIKO_WORKERS");
        check(Ok(n.contexts_store()), "KANIKO_CONTEXTS");
        check(Ok(kv_stream(&n.builds_bucket())), "KV_KANIKO_BUILDS");
        check(
            Ok(kv_stream_subjects(&n.builds_bucket())),
            "$KV.KANIKO_BUILDS.>",
        );
    }

    #[test]
    fn a_custom_prefix_changes_every_name() {
        let n = Names::new("ci-2_x").unwrap();
        assert_eq!(n.prefix(), "ci-2_x");
        assert_eq!(n.api(ApiVerb::Submit), "ci-2_x.api.submit");
        assert_eq!(
            n.tasks(&p("linux/arm64")).unwrap(),
            "ci-2_x.tasks.linux.arm64._"
        );
        assert_eq!(n.tasks_stream(), "CI_2_X_TASKS");
        assert_eq!(
            n.tasks_consumer(&p("linux/arm64")).unwrap(),
            "CI_2_X_TASKS_linux-arm64"
        );
        assert_eq!(
            n.tasks_cross(&p("linux/arm64")).unwrap(),
            "ci-2_x.tasks.cross.linux.arm64._"
        );
        assert_eq!(
            n.tasks_cross_consumer(&p("linux/arm64")).unwrap(),
            "CI_2_X_TASKS_CROSS_linux-arm64"
        );
        assert_eq!(n.builds_bucket(), "CI_2_X_BUILDS");
        assert_eq!(n.contexts_store(), "CI_2_X_CONTEXTS");
        assert_eq!(Names::new(DEFAULT_PREFIX), Ok(Names::default()));
    }

    #[test]
    fn prefix_is_validated() {
        fn check(prefix: &str, expected: Option<&'static str>) {
            let got = Names::new(prefix).err();
            let expected = expected.map(|reason| NameError::InvalidPrefix {
                prefix: prefix.into(),
                reason,
            });
            assert_eq!(got, expected, "prefix {prefix:?}");
        }
        check("kaniko", None);
        check("Kaniko-Prod_1", None);
        check("", Some("it is empty"));
        check("a.b", Some("use only letters, digits, '_' and '-'"));
        check("a*", Some("use only letters, digits, '_' and '-'"));
        check(">", Some("use only letters, digits, '_' and '-'"));
        check("a b", Some("use only letters, digits, '_' and '-'"));
        check("ka\tniko", Some("use only letters, digits, '_' and '-'"));
        check(&"k".repeat(33), Some("it is longer than 32 bytes"));
        assert_eq!(
            Names::new("a.b").unwrap_err().to_string(),
            "invalid NATS prefix \"a.b\": use only letters, digits, '_' and '-'"
        );
    }

    #[test]
    fn ids_used_as_tokens_are_validated() {
        fn check(id: &str, expected: Option<&'static str>) {
            let n = Names::default();
            let expected_err = expected.map(|reason| NameError::InvalidToken {
                what: "build id",
                value: id.into(),
                reason,
            });
            assert_eq!(n.results(id).err(), expected_err, "results {id:?}");
            assert_eq!(n.cancel(id).err(), expected_err, "cancel {id:?}");
            assert_eq!(n.events_of(id).err(), expected_err, "events_of {id:?}");
            assert_eq!(
                n.events(id, EventType::Accepted).err(),
                expected_err,
                "events {id:?}"
            );
            let worker_err = expected.map(|reason| NameError::InvalidToken {
                what: "worker id",
                value: id.into(),
                reason,
            });
            assert_eq!(n.worker_heartbeat(id).err(), worker_err, "worker {id:?}");
        }
        check("b1", None);
        check("01HZX-abc_DEF", None);
        check("", Some("it is empty"));
        check("a.b", Some("use only letters, digits, '_' and '-'"));
        check("*", Some("use only letters, digits, '_' and '-'"));
        check(">", Some("use only letters, digits, '_' and '-'"));
        check("a b", Some("use only letters, digits, '_' and '-'"));
        check("a\n", Some("use only letters, digits, '_' and '-'"));
        check(&"x".repeat(129), Some("it is longer than 128 bytes"));
        assert_eq!(
            Names::default().results("a.b").unwrap_err().to_string(),
            "invalid build id \"a.b\": use only letters, digits, '_' and '-'"
        );
    }

    #[test]
    fn an_unnormalised_platform_gives_the_normal_subject_and_junk_is_refused() {
        let n = Names::default();
        let raw = Platform {
            os: "linux".into(),
            architecture: "aarch64".into(),
            variant: Some("v8".into()),
        };
        assert_eq!(n.tasks(&raw).unwrap(), "kaniko.tasks.linux.arm64._");
        let junk = Platform {
            os: "linux".into(),
            architecture: "*".into(),
            variant: None,
        };
        assert!(matches!(
            n.tasks(&junk),
            Err(NameError::InvalidToken {
                what: "platform",
                ..
            })
        ));
        assert!(n.tasks_consumer(&junk).is_err());
        assert!(n.tasks_cross(&junk).is_err());
        assert!(n.tasks_cross_consumer(&junk).is_err());
    }

    #[test]
    fn subjects_parse_back() {
        let n = Names::default();
        assert_eq!(n.parse_api("kaniko.api.status"), Ok(ApiVerb::Status));
        assert_eq!(
            n.parse_tasks("kaniko.tasks.linux.arm.v7"),
            Ok(p("linux/arm/v7"))
        );
        assert_eq!(
            n.parse_tasks("kaniko.tasks.cross.linux.arm64._"),
            Ok(p("linux/arm64"))
        );
        assert_eq!(n.parse_results("kaniko.results.b1"), Ok("b1"));
        assert_eq!(
            n.parse_events("kaniko.events.b1.platform_failed"),
            Ok(("b1", EventType::PlatformFailed))
        );
        assert_eq!(n.parse_worker_heartbeat("kaniko.workers.w-1"), Ok("w-1"));
        assert_eq!(n.parse_cancel("kaniko.cancel.b1"), Ok("b1"));
        for verb in ApiVerb::ALL {
            assert_eq!(n.parse_api(&n.api(verb)), Ok(verb));
        }
        for event in EventType::ALL {
            assert_eq!(
                n.parse_events(&n.events("b2", event).unwrap()),
                Ok(("b2", event))
            );
        }

        fn refused(got: Result<impl std::fmt::Debug, NameError>, subject: &str, expected: &str) {
            match got {
                Err(NameError::UnexpectedSubject {
                    subject: s,
                    expected: e,
                }) => {
                    assert_eq!((s.as_str(), e), (subject, expected));
                }
                other => panic!("{subject:?} gave {other:?}"),
            }
        }
        refused(n.parse_api("kaniko.api.delete"), "kaniko.api.delete", "api");
        refused(n.parse_api("other.api.submit"), "other.api.submit", "api");
        refused(
            n.parse_api("kanikox.api.submit"),
            "kanikox.api.submit",
            "api",
        );
        refused(
            n.parse_tasks("kaniko.tasks.linux.amd64"),
            "kaniko.tasks.linux.amd64",
            "tasks",
        );
        refused(
            n.parse_tasks("kaniko.tasks.cross.linux"),
            "kaniko.tasks.cross.linux",
            "tasks",
        );
        refused(
            n.parse_results("kaniko.results.b1.x"),
            "kaniko.results.b1.x",
            "results",
        );
        refused(
            n.parse_results("kaniko.results."),
            "kaniko.results.",
            "results",
        );
        refused(
            n.parse_events("kaniko.events.b1.nope"),
            "kaniko.events.b1.nope",
            "events",
        );
        refused(
            n.parse_events("kaniko.events.b1"),
            "kaniko.events.b1",
            "events",
        );
        refused(
            n.parse_cancel("kaniko.workers.b1"),
            "kaniko.workers.b1",
            "cancel",
        );
    }

    #[test]
    fn sanitize_makes_valid_tokens() {
        fn check(raw: &str, expected: &str) {
            let token = sanitize_token(raw);
            assert_eq!(token, expected);
            assert_eq!(validate_token("worker id", &token), Ok(()));
        }
        check("node-1.example.com", "node-1-example-com");
        check("", "-");
        check("a b*c>", "a-b-c-");
        check("ünï", "-n-");
        check(&"x".repeat(200), &"x".repeat(128));
    }

    proptest::proptest! {
        /// Work-queue streams refuse overlapping consumer filters: the native and the cross
        /// subject (and consumer) of any two platforms never coincide, and each parses back
        /// to its own platform.
        #[test]
        fn native_and_cross_names_never_collide(
            os in "[a-z][a-z0-9]{0,7}",
            arch in "[a-z][a-z0-9]{0,7}",
            variant in proptest::option::of("v[0-9]"),
            other_os in "[a-z][a-z0-9]{0,7}",
            other_arch in "[a-z][a-z0-9]{0,7}",
        ) {
            let n = Names::default();
            let a = Platform { os, architecture: arch, variant };
            let b = Platform { os: other_os, architecture: other_arch, variant: None };
            if let (Ok(native), Ok(cross)) = (n.tasks(&a), n.tasks_cross(&b)) {
                proptest::prop_assert_ne!(&native, &cross);
                proptest::prop_assert_eq!(n.parse_tasks(&native), valid_platform(&a));
                proptest::prop_assert_eq!(n.parse_tasks(&cross), valid_platform(&b));
            }
            if let (Ok(native), Ok(cross)) = (n.tasks_consumer(&a), n.tasks_cross_consumer(&b)) {
                proptest::prop_assert_ne!(native, cross);
            }
        }
    }
}
