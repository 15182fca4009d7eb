// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The explicit settings of every JetStream stream, KV bucket and consumer kaniko-rs
//! creates, and the comparison that tells when an existing one differs from what we would
//! create. Pure: nothing here talks to a server. Only fields nats-server 2.9 knows are set.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};

use kaniko_common::platform::Platform;
use kaniko_common::subjects::{NameError, Names, kv_stream, kv_stream_subjects};

/// The window in which a second publish with the same `Nats-Msg-Id` is dropped.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Settings of the streams and buckets [`super::Bus::ensure`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusSettings {
    /// How long an unclaimed task stays in the tasks stream.
    pub tasks_max_age: Duration,
    /// The largest message the tasks stream accepts, in bytes.
    pub tasks_max_msg_size: i32,
    /// How long results are kept.
    pub results_max_age: Duration,
    /// How long events are kept, so late listeners can replay a build.
    pub events_max_age: Duration,
    /// How many revisions of a build's state the builds bucket keeps.
    pub builds_history: i64,
    /// How long a worker stays in the workers bucket after its last heartbeat.
    pub workers_ttl: Duration,
    /// How long a context stays in the object store.
    pub contexts_max_age: Duration,
    /// Stream replicas (1 on a single server).
    pub replicas: usize,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            tasks_max_age: Duration::from_secs(24 * 3600),
            tasks_max_msg_size: 1024 * 1024,
            results_max_age: Duration::from_secs(24 * 3600),
            events_max_age: Duration::from_secs(24 * 3600),
            builds_history: 5,
            workers_ttl: Duration::from_secs(30),
            contexts_max_age: Duration::from_secs(7 * 24 * 3600),
            replicas: 1,
        }
    }
}

/// Settings of a platform's durable pull consumer on the tasks stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// How long a delivered task may go without an ack (or in-progress ack) before it is
    /// redelivered.
    pub ack_wait: Duration,
    /// How many times a task is delivered at most.
    pub max_deliver: i64,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        ConsumerSettings {
            ack_wait: Duration::from_secs(60),
            max_deliver: 5,
        }
    }
}

/// The duplicate window of a stream whose messages live `max_age`: at most
/// [`DUPLICATE_WINDOW`], never longer than the messages themselves (the server refuses it).
fn duplicate_window(max_age: Duration) -> Duration {
    if max_age.is_zero() {
        DUPLICATE_WINDOW
    } else {
        max_age.min(DUPLICATE_WINDOW)
    }
}

/// The tasks stream: work-queue retention, one subject per platform.
pub fn tasks_stream(names: &Names, settings: &BusSettings) -> stream::Config {
    stream::Config {
        name: names.tasks_stream(),
        description: Some("kaniko-rs per-platform build tasks".to_string()),
        subjects: vec![names.tasks_all()],
        retention: RetentionPolicy::WorkQueue,
        storage: StorageType::File,
        max_age: settings.tasks_max_age,
        max_message_size: settings.tasks_max_msg_size,
        duplicate_window: duplicate_window(settings.tasks_max_age),
        num_replicas: settings.replicas,
        discard: DiscardPolicy::Old,
        ..Default::default()
    }
}

/// The results stream: limits retention.
pub fn results_stream(names: &Names, settings: &BusSettings) -> stream::Config {
    stream::Config {
        name: names.results_stream(),
        description: Some("kaniko-rs task results".to_string()),
        subjects: vec![format!("{}.results.>", names.prefix())],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        max_age: settings.results_max_age,
        duplicate_window: duplicate_window(settings.results_max_age),
        num_replicas: settings.replicas,
        ..Default::default()
    }
}

/// The events stream: limits retention, so late listeners can replay a build's events.
pub fn events_stream(names: &Names, settings: &BusSettings) -> stream::Config {
    stream::Config {
        name: names.events_stream(),
        description: Some("kaniko-rs build events".to_string()),
        subjects: vec![names.events_all()],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        max_age: settings.events_max_age,
        duplicate_window: duplicate_window(settings.events_max_age),
        num_replicas: settings.replicas,
        ..Default::default()
    }
}

/// The events stream of one identity's builds (`KANIKO_EVENTS_<identity>`): the same
/// settings as [`events_stream`], on that identity's subjects only.
pub fn owner_events_stream(
    names: &Names,
    owner: &str,
    settings: &BusSettings,
) -> Result<stream::Config, kaniko_common::subjects::NameError> {
    Ok(stream::Config {
        name: names.events_stream_for(Some(owner))?,
        description: Some(format!("kaniko-rs build events of identity {owner}")),
        subjects: vec![names.owner_events_all(owner)?],
        ..events_stream(names, settings)
    })
}

/// The stream behind a KV bucket, as nats.go and async-nats would create it, without the
/// account query nats-server 2.9 cannot answer for async-nats 0.51.
pub fn kv_bucket_stream(
    bucket: &str,
    history: i64,
    max_age: Duration,
    replicas: usize,
) -> stream::Config {
    stream::Config {
        name: kv_stream(bucket),
        description: Some(format!("kaniko-rs key-value bucket {bucket}")),
        subjects: vec![kv_stream_subjects(bucket)],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        max_messages_per_subject: history.max(1),
        max_age,
        duplicate_window: duplicate_window(max_age),
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// The builds bucket's stream.
pub fn builds_bucket(names: &Names, settings: &BusSettings) -> stream::Config {
    kv_bucket_stream(
        &names.builds_bucket(),
        settings.builds_history,
        Duration::ZERO,
        settings.replicas,
    )
}

/// The workers bucket's stream: one revision per worker, gone after the TTL.
pub fn workers_bucket(names: &Names, settings: &BusSettings) -> stream::Config {
    kv_bucket_stream(
        &names.workers_bucket(),
        1,
        settings.workers_ttl,
        settings.replicas,
    )
}

/// The durable pull consumer shared by every worker of `platform`.
pub fn tasks_consumer(
    names: &Names,
    platform: &Platform,
    settings: &ConsumerSettings,
) -> Result<pull::Config, NameError> {
    let name = names.tasks_consumer(platform)?;
    Ok(pull::Config {
        durable_name: Some(name),
        description: Some(format!("kaniko-rs workers of {platform}")),
        filter_subject: names.tasks(platform)?,
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        max_deliver: settings.max_deliver,
        ..Default::default()
    })
}

/// A limit where zero and negative both mean "unlimited", as the server reports them.
fn limit(value: i64) -> i64 {
    if value <= 0 { -1 } else { value }
}

/// The settings that matter in which `existing` differs from `wanted`, as
/// `field: existing != wanted` lines; empty when they agree.
pub fn stream_differences(existing: &stream::Config, wanted: &stream::Config) -> Vec<String> {
    compared_settings(existing)
        .into_iter()
        .zip(compared_settings(wanted))
        .filter(|((_, have), (_, want))| have != want)
        .map(|((field, have), (_, want))| format!("{field}: {have} != {want}"))
        .collect()
}

/// The settings of `config` that [`stream_differences`] compares, each as it is compared:
/// subjects sorted, an unlimited limit as -1, at least one replica.
fn compared_settings(config: &stream::Config) -> [(&'static str, String); 12] {
    let mut subjects = config.subjects.clone();
    subjects.sort();
    [
        ("subjects", format!("{subjects:?}")),
        ("retention", format!("{:?}", config.retention)),
        ("storage", format!("{:?}", config.storage)),
        ("max_age", format!("{:?}", config.max_age)),
        ("duplicate_window", format!("{:?}", config.duplicate_window)),
        (
            "max_msg_size",
            limit(config.max_message_size.into()).to_string(),
        ),
        (
            "max_msgs_per_subject",
            limit(config.max_messages_per_subject).to_string(),
        ),
        ("replicas", config.num_replicas.max(1).to_string()),
        ("discard", format!("{:?}", config.discard)),
        ("allow_rollup_hdrs", config.allow_rollup.to_string()),
        ("deny_delete", config.deny_delete.to_string()),
        ("allow_direct", config.allow_direct.to_string()),
    ]
}

/// The settings that matter in which an existing consumer differs from `wanted`.
pub fn consumer_differences(
    existing: &async_nats::jetstream::consumer::Config,
    wanted: &pull::Config,
) -> Vec<String> {
    let mut out = Vec::new();
    if existing.filter_subject != wanted.filter_subject {
        out.push(format!(
            "filter_subject: {} != {}",
            existing.filter_subject, wanted.filter_subject
        ));
    }
    if existing.ack_policy != wanted.ack_policy {
        out.push(format!(
            "ack_policy: {:?} != {:?}",
            existing.ack_policy, wanted.ack_policy
        ));
    }
    if existing.ack_wait != wanted.ack_wait {
        out.push(format!(
            "ack_wait: {:?} != {:?}",
            existing.ack_wait, wanted.ack_wait
        ));
    }
    if limit(existing.max_deliver) != limit(wanted.max_deliver) {
        out.push(format!(
            "max_deliver: {} != {}",
            existing.max_deliver, wanted.max_deliver
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_carry_the_settings_the_product_asks_for() {
        let names = Names::default();
        let settings = BusSettings::default();
        let tasks = tasks_stream(&names, &settings);
        assert_eq!(tasks.name, "KANIKO_TASKS");
        assert_eq!(tasks.subjects, vec!["kaniko.tasks.>"]);
        assert_eq!(tasks.retention, RetentionPolicy::WorkQueue);
        assert_eq!(tasks.storage, StorageType::File);
        assert_eq!(tasks.duplicate_window, Duration::from_secs(120));
        assert_eq!(tasks.num_replicas, 1);

        let results = results_stream(&names, &settings);
        assert_eq!(results.subjects, vec!["kaniko.results.>"]);
        assert_eq!(results.retention, RetentionPolicy::Limits);
        assert_eq!(results.max_age, Duration::from_secs(86400));

        let events = events_stream(&names, &settings);
        assert_eq!(events.subjects, vec!["kaniko.events.>"]);
        assert_eq!(events.max_age, Duration::from_secs(86400));

        let workers = workers_bucket(&names, &settings);
        assert_eq!(workers.name, "KV_KANIKO_WORKERS");
        assert_eq!(workers.subjects, vec!["$KV.KANIKO_WORKERS.>"]);
        assert_eq!(workers.max_age, Duration::from_secs(30));
        assert_eq!(workers.duplicate_window, Duration::from_secs(30));
        assert_eq!(workers.max_messages_per_subject, 1);
        assert!(workers.allow_rollup && workers.deny_delete && workers.allow_direct);
        assert_eq!(workers.discard, DiscardPolicy::New);

        let builds = builds_bucket(&names, &settings);
        assert_eq!(builds.max_messages_per_subject, 5);
        assert_eq!(builds.max_age, Duration::ZERO);
        assert_eq!(builds.duplicate_window, Duration::from_secs(120));
    }

    #[test]
    fn the_duplicate_window_never_outlives_the_messages() {
        fn check(max_age: u64, expected: u64) {
            assert_eq!(
                duplicate_window(Duration::from_secs(max_age)),
                Duration::from_secs(expected),
                "max_age {max_age}"
            );
        }
        check(0, 120);
        check(10, 10);
        check(120, 120);
        check(86400, 120);
    }

    #[test]
    fn differences_name_the_fields_that_matter_and_ignore_unlimited_spellings() {
        let names = Names::default();
        let wanted = results_stream(&names, &BusSettings::default());
        assert_eq!(stream_differences(&wanted, &wanted), Vec::<String>::new());

        // The server reports "unlimited" as -1 where the client sends 0.
        let mut as_reported = wanted.clone();
        as_reported.max_message_size = -1;
        as_reported.max_messages_per_subject = -1;
        assert_eq!(
            stream_differences(&as_reported, &wanted),
            Vec::<String>::new()
        );

        let mut changed = wanted.clone();
        changed.retention = RetentionPolicy::WorkQueue;
        changed.max_age = Duration::from_secs(60);
        changed.description = Some("someone else's".into());
        assert_eq!(
            stream_differences(&changed, &wanted),
            vec![
                "retention: WorkQueue != Limits".to_string(),
                "max_age: 60s != 86400s".to_string(),
            ]
        );
    }

    #[test]
    fn the_consumer_filters_its_platform_and_acks_explicitly() {
        let names = Names::default();
        let platform = Platform::parse("linux/arm/v7").unwrap();
        let config = tasks_consumer(&names, &platform, &ConsumerSettings::default()).unwrap();
        assert_eq!(
            config.durable_name.as_deref(),
            Some("KANIKO_TASKS_linux-arm-v7")
        );
        assert_eq!(config.filter_subject, "kaniko.tasks.linux.arm.v7");
        assert_eq!(config.ack_policy, AckPolicy::Explicit);
        assert_eq!(config.ack_wait, Duration::from_secs(60));
        assert_eq!(config.max_deliver, 5);
    }
}
