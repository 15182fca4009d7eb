// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The NATS plumbing shared by the worker and the coordinator: connecting (token, user and
//! password, nkey, creds file, TLS; retried at start, reconnected forever after), creating
//! the JetStream streams, KV buckets and object store when missing (never changing existing
//! ones, only warning), binding a platform's durable pull consumer, and publishing tasks,
//! results, events and heartbeats with the right headers; and the NATS command-line flags
//! both binaries take ([`NatsArgs`]).
//!
//! Works from the nats-server 2.9 that Debian ships to 2.15 (the suite runs on both): KV
//! buckets are created as their `KV_<bucket>` streams directly on every version (async-nats
//! 0.51's `create_key_value` needs an account query 2.9 cannot answer; the stream is the one
//! a native create makes on 2.10+, so one path serves both), they are read and written
//! through the KV API, the object store is created natively, and no 2.10-only stream field
//! is ever set.

mod args;
mod contexts;
mod follow;
mod identity;
mod settings;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::PullConsumer, kv, object_store, stream};
use kaniko_retry::RetryPolicy;
use tokio::sync::OnceCell;

pub use args::{DEPRECATED_PREFIX, NatsArgs, NatsAuthArgs, PrefixArgs, PrefixConflict};
pub use contexts::{ContextError, Upload};
pub use follow::{connects, follow, reconnected, retry};
pub use settings::{BusSettings, ConsumerSettings, DUPLICATE_WINDOW};

use kaniko_common::messages::codec::{
    CONTENT_TYPE_BINCODE, CONTENT_TYPE_HEADER, CONTENT_TYPE_JSON, PROTOCOL_HEADER, encode_internal,
    encode_json,
};
use kaniko_common::messages::{CodecError, Event, Heartbeat, PROTOCOL_VERSION, Task, TaskResult};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::{NameError, Names};

/// The default server when neither `--nats` nor `NATS_URL` is given.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
/// How long a task result is published again while the server is away (a restart), before
/// the worker gives up and hands the task back.
pub const RESULT_RETRY_LIMIT: Duration = Duration::from_secs(60);
/// How long reading a stream (opening a KV bucket, the object store, a consumer) waits for
/// a server that does not answer: on a cluster, a stream whose leader's node died has no
/// leader until the others elect one.
pub const FAILOVER_WAIT: Duration = Duration::from_secs(30);
/// How many times the first connection is tried before giving up.
pub const CONNECT_ATTEMPTS: u32 = 5;

/// The longest pause between two attempts of a first connection that waits
/// ([`NatsOptions::connect_wait`]).
pub const WAIT_PAUSE_MAX: Duration = Duration::from_secs(5);

/// Why a NATS operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The server could not be reached or refused the connection.
    #[error("connecting to NATS at {url}: {message}")]
    Connect {
        /// The server URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A credentials or TLS file could not be read.
    #[error("reading {what} {path}: {source}")]
    File {
        /// `creds file`, `TLS CA`, ...
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A name could not be built (bad build id, worker id or platform).
    #[error(transparent)]
    Name(#[from] NameError),
    /// A message could not be encoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A JetStream stream, KV bucket, object store or consumer could not be created or read.
    #[error("{what} {name}: {message}")]
    JetStream {
        /// `stream`, `KV bucket`, `object store`, `consumer`.
        what: &'static str,
        /// Its name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A publish failed or was not acknowledged.
    #[error("publishing on {subject}: {message}")]
    Publish {
        /// The subject.
        subject: String,
        /// What went wrong.
        message: String,
    },
    /// A context could not be uploaded or downloaded.
    #[error(transparent)]
    Context(#[from] ContextError),
}

impl BusError {
    fn jetstream(what: &'static str, name: &str, err: impl fmt::Display) -> BusError {
        BusError::JetStream {
            what,
            name: name.to_string(),
            message: err.to_string(),
        }
    }

    fn publish(subject: &str, err: impl fmt::Display) -> BusError {
        BusError::Publish {
            subject: subject.to_string(),
            message: err.to_string(),
        }
    }
}

/// How to reach and authenticate to NATS. `Debug` never shows a secret.
#[derive(Clone, Default)]
pub struct NatsOptions {
    /// Server URL(s), comma separated (`nats://host:4222`, `tls://host:4222`).
    pub url: String,
    /// Token authentication.
    pub token: Option<String>,
    /// User name (with `password`).
    pub user: Option<String>,
    /// Password (with `user`).
    pub password: Option<String>,
    /// NKey seed (`SU...`).
    pub nkey_seed: Option<String>,
    /// A `.creds` file (JWT and NKey seed).
    pub creds_file: Option<PathBuf>,
    /// CA certificate (PEM) to verify the server with; implies TLS.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// Client key (PEM), with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Connection name shown by the server (`nats server report connections`).
    pub name: Option<String>,
    /// How long the first connection may keep trying a server that is not up: `None` for
    /// [`CONNECT_ATTEMPTS`] attempts (commands), a duration for the daemons, which may start
    /// before nats-server.
    pub connect_wait: Option<Duration>,
    /// The prefix of this connection's reply inboxes (`_INBOX` when `None`): each role and
    /// identity has its own ([`Names::identity_inbox`], [`Names::role_inbox`]), so a server
    /// can let a connection subscribe to its own replies only.
    pub inbox_prefix: Option<String>,
}

impl NatsOptions {
    /// Options for `url` with no authentication.
    pub fn new(url: impl Into<String>) -> NatsOptions {
        NatsOptions {
            url: url.into(),
            ..NatsOptions::default()
        }
    }
}

fn redacted(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &self.url)
            .field("token", &redacted(&self.token))
            .field("user", &self.user)
            .field("password", &redacted(&self.password))
            .field("nkey_seed", &redacted(&self.nkey_seed))
            .field("creds_file", &self.creds_file)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("name", &self.name)
            .field("connect_wait", &self.connect_wait)
            .field("inbox_prefix", &self.inbox_prefix)
            .finish()
    }
}

async fn connect_options(options: &NatsOptions) -> Result<async_nats::ConnectOptions, BusError> {
    let mut connect = async_nats::ConnectOptions::new();
    if let Some(path) = &options.creds_file {
        connect = connect
            .credentials_file(path)
            .await
            .map_err(|source| BusError::File {
                what: "creds file",
                path: path.clone(),
                source,
            })?;
    }
    if let Some(token) = &options.token {
        connect = connect.token(token.clone());
    }
    match (&options.user, &options.password) {
        (Some(user), password) => {
            connect = connect.user_and_password(user.clone(), password.clone().unwrap_or_default())
        }
        (None, Some(_)) => {
            return Err(BusError::Connect {
                url: options.url.clone(),
                message: "a NATS password was given without a user".to_string(),
            });
        }
        (None, None) => {}
    }
    if let Some(seed) = &options.nkey_seed {
        connect = connect.nkey(seed.clone());
    }
    if let Some(ca) = &options.tls_ca {
        check_readable("TLS CA", ca)?;
        connect = connect.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => {
            check_readable("TLS certificate", cert)?;
            check_readable("TLS key", key)?;
            connect = connect
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        (None, None) => {}
        _ => {
            return Err(BusError::Connect {
                url: options.url.clone(),
                message: "a TLS client certificate needs both --nats-tls-cert and --nats-tls-key (NATS_CERT, NATS_KEY)".to_string(),
            });
        }
    }
    if let Some(name) = &options.name {
        connect = connect.name(name);
    }
    if let Some(prefix) = &options.inbox_prefix {
        connect = connect.custom_inbox_prefix(prefix);
    }
    let url = options.url.clone();
    Ok(connect
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let url = url.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!(%url, "nats connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!(%url, "nats disconnected; reconnecting")
                    }
                    other => tracing::warn!(%url, event = %other, "nats event"),
                }
            }
        }))
}

fn check_readable(what: &'static str, path: &std::path::Path) -> Result<(), BusError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| BusError::File {
            what,
            path: path.to_path_buf(),
            source,
        })
}

/// Connects to NATS: the first connection is tried [`CONNECT_ATTEMPTS`] times with a growing
/// pause, or, with [`NatsOptions::connect_wait`], until that much time has passed (a pause
/// of at most [`WAIT_PAUSE_MAX`]); refused credentials and TLS failures end it at once. Once
/// connected the client reconnects forever, logging each disconnect.
pub async fn connect(options: &NatsOptions) -> Result<async_nats::Client, BusError> {
    let url = if options.url.is_empty() {
        DEFAULT_NATS_URL
    } else {
        options.url.as_str()
    };
    let servers = server_addrs(url)?;
    let policy = connect_policy(options);
    let what = format!("connecting to NATS at {url}");
    let mut retrying = policy.start(&what);
    loop {
        let connect = connect_options(options).await?;
        match connect.connect(servers.as_slice()).await {
            Ok(client) => return Ok(client),
            Err(err) if is_permanent(&err) => {
                // Retrying cannot help: the server refused these credentials, or the TLS
                // handshake failed (unknown CA, wrong certificate, TLS required or refused).
                return Err(BusError::Connect {
                    url: url.to_string(),
                    message: describe_connect_error(&err),
                });
            }
            Err(err) => {
                let attempt = retrying.attempt();
                if !retrying.again(&err).await {
                    return Err(BusError::Connect {
                        url: url.to_string(),
                        message: format!(
                            "{err} (after {attempt} attempts over {:.0?})",
                            retrying.elapsed()
                        ),
                    });
                }
            }
        }
    }
}

/// The servers of `url`, a comma-separated list (`nats://a:4222,nats://b:4222`, the URLs of
/// a cluster's nodes): the client connects to any of them and, once connected, reconnects to
/// any of them (and to those the cluster announces). An empty entry or one that is not a
/// server URL is refused, naming it.
pub fn server_addrs(url: &str) -> Result<Vec<async_nats::ServerAddr>, BusError> {
    let refused = |message: String| BusError::Connect {
        url: url.to_string(),
        message,
    };
    url.split(',')
        .map(str::trim)
        .map(|entry| {
            if entry.is_empty() {
                return Err(refused(
                    "an empty server URL in the comma-separated list".to_string(),
                ));
            }
            entry
                .parse::<async_nats::ServerAddr>()
                .map_err(|err| refused(format!("{entry:?} is not a NATS server URL: {err}")))
        })
        .collect()
}

/// How the first connection is tried: [`CONNECT_ATTEMPTS`] times, or for
/// [`NatsOptions::connect_wait`]; pauses from 250 ms up to [`WAIT_PAUSE_MAX`].
fn connect_policy(options: &NatsOptions) -> RetryPolicy {
    let policy = match options.connect_wait {
        None => RetryPolicy::forever().with_attempts(CONNECT_ATTEMPTS),
        Some(wait) => RetryPolicy::within(wait),
    };
    policy.with_backoff(Duration::from_millis(250), WAIT_PAUSE_MAX)
}

/// Whether a failed first connection would fail the same way again: the server refused the
/// credentials, or TLS failed (setting it up, or the handshake: an unknown CA, a refused
/// client certificate).
fn is_permanent(err: &async_nats::ConnectError) -> bool {
    use async_nats::ConnectErrorKind;
    match err.kind() {
        ConnectErrorKind::AuthorizationViolation
        | ConnectErrorKind::Authentication
        | ConnectErrorKind::Tls => true,
        _ => tls_failure(err).is_some(),
    }
}

/// The TLS error in `err`'s sources: async-nats reports a failed handshake as an IO error
/// wrapping rustls' error.
fn tls_failure<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = error.source();
    }
    None
}

/// A connect error with its sources (the TLS reason is in the source), and what to check.
fn describe_connect_error(err: &async_nats::ConnectError) -> String {
    use async_nats::ConnectErrorKind;
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    let hint = match err.kind() {
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
            "the server refused these credentials: check --nats-token, --nats-user and \
             --nats-password, --nats-nkey or --nats-creds (or NATS_TOKEN, NATS_USER, \
             NATS_PASSWORD, NATS_NKEY, NATS_CREDS)"
        }
        _ if err.kind() == ConnectErrorKind::Tls || tls_failure(err).is_some() => {
            "TLS failed: check --nats-tls-ca (the server certificate's CA), --nats-tls-cert \
             and --nats-tls-key (or NATS_CA, NATS_CERT, NATS_KEY)"
        }
        _ => "",
    };
    if hint.is_empty() {
        message
    } else {
        format!("{message} ({hint})")
    }
}

/// Headers of an internal (bincode) message.
fn internal_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string().as_str());
    headers.insert(CONTENT_TYPE_HEADER, CONTENT_TYPE_BINCODE);
    headers
}

/// Headers of a public (JSON) message.
pub fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string().as_str());
    headers.insert(CONTENT_TYPE_HEADER, CONTENT_TYPE_JSON);
    headers
}

/// The `Nats-Msg-Id` of a task: [`kaniko_common::messages::task_id`] of its build, platform
/// and attempt, so publishing the same attempt twice within the duplicate window stores it once.
pub fn task_msg_id(task: &Task) -> String {
    kaniko_common::messages::task_id(&task.build_id, &task.platform, task.attempt)
}

/// A NATS connection with its JetStream context and the names under one prefix. Cheap to
/// clone; the KV and object store handles are opened once and shared. A bus may act for the
/// builds of one identity ([`Bus::for_owner`]): contexts then go to and come from that
/// identity's object store, and events to its events stream.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    names: Names,
    owner: Option<String>,
    builds: Arc<OnceCell<kv::Store>>,
    workers: Arc<OnceCell<kv::Store>>,
    contexts: Arc<OnceCell<object_store::ObjectStore>>,
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("prefix", &self.names.prefix())
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// A bus on a connected client.
    pub fn new(client: async_nats::Client, names: Names) -> Bus {
        let js = jetstream::new(client.clone());
        Bus {
            client,
            js,
            names,
            owner: None,
            builds: Arc::default(),
            workers: Arc::default(),
            contexts: Arc::default(),
        }
    }

    /// The core NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The JetStream context.
    pub fn js(&self) -> &jetstream::Context {
        &self.js
    }

    /// Every NATS name under this bus's prefix.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Creates what is missing: the tasks, results and events streams, the builds and workers
    /// KV buckets, and the contexts object store. Existing ones are left as they are; one that
    /// differs in a setting that matters is logged as a warning. Safe to call from every
    /// process at start, concurrently.
    pub async fn ensure(&self, settings: &BusSettings) -> Result<(), BusError> {
        let names = &self.names;
        self.ensure_stream(settings::tasks_stream(names, settings))
            .await?;
        self.ensure_stream(settings::results_stream(names, settings))
            .await?;
        self.ensure_stream(settings::events_stream(names, settings))
            .await?;
        self.ensure_stream(settings::builds_bucket(names, settings))
            .await?;
        self.ensure_stream(settings::workers_bucket(names, settings))
            .await?;
        self.ensure_object_store(&self.names.contexts_store(), settings)
            .await?;
        Ok(())
    }

    /// Creates `wanted` unless a stream of that name exists; warns when it differs.
    pub(crate) async fn ensure_stream(&self, wanted: stream::Config) -> Result<(), BusError> {
        let name = wanted.name.clone();
        match self.existing_stream(&name).await? {
            Some(existing) => warn_stream_differences(&existing, &wanted),
            None => match self.js.create_stream(wanted.clone()).await {
                Ok(_) => tracing::info!(stream = %name, "created stream"),
                Err(err) => {
                    // Another process may have created it in between.
                    match self.existing_stream(&name).await? {
                        Some(existing) => warn_stream_differences(&existing, &wanted),
                        None => return Err(BusError::jetstream("stream", &name, err)),
                    }
                }
            },
        }
        Ok(())
    }

    /// Stream `name`, its info asked for again while the server does not answer (on a
    /// cluster, a stream whose leader's node died has none until the others elect one, a
    /// matter of seconds) for up to [`FAILOVER_WAIT`]; a missing stream or any other refusal
    /// at once.
    async fn get_stream(
        &self,
        name: &str,
    ) -> Result<stream::Stream, jetstream::context::GetStreamError> {
        use jetstream::context::GetStreamErrorKind;
        RetryPolicy::within(FAILOVER_WAIT)
            .with_backoff(Duration::from_millis(200), Duration::from_secs(2))
            .run_if(
                &format!("reading stream {name}"),
                |err: &jetstream::context::GetStreamError| match err.kind() {
                    GetStreamErrorKind::Request => true,
                    GetStreamErrorKind::JetStream(inner) => {
                        inner.error_code() != jetstream::ErrorCode::STREAM_NOT_FOUND
                    }
                    _ => false,
                },
                |_| self.js.get_stream(name),
            )
            .await
    }

    /// The configuration of stream `name`, or `None` when it does not exist.
    async fn existing_stream(&self, name: &str) -> Result<Option<stream::Config>, BusError> {
        match self.get_stream(name).await {
            Ok(stream) => Ok(Some(stream.cached_info().config.clone())),
            Err(err) => match err.kind() {
                jetstream::context::GetStreamErrorKind::JetStream(inner)
                    if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(None)
                }
                _ => Err(BusError::jetstream("stream", name, err)),
            },
        }
    }

    pub(crate) async fn ensure_object_store(
        &self,
        bucket: &str,
        settings: &BusSettings,
    ) -> Result<(), BusError> {
        let bucket = bucket.to_string();
        let stream_name = kaniko_common::subjects::object_stream(&bucket);
        if self.existing_stream(&stream_name).await?.is_some() {
            return Ok(());
        }
        let config = object_store::Config {
            bucket: bucket.clone(),
            description: Some("kaniko-rs build contexts, named by sha256".to_string()),
            max_age: settings.contexts_max_age,
            storage: stream::StorageType::File,
            num_replicas: settings.replicas,
            ..Default::default()
        };
        match self.js.create_object_store(config).await {
            Ok(_) => {
                tracing::info!(bucket = %bucket, "created object store");
                Ok(())
            }
            Err(err) => match self.existing_stream(&stream_name).await? {
                Some(_) => Ok(()),
                None => Err(BusError::jetstream("object store", &bucket, err)),
            },
        }
    }

    /// The builds KV bucket (build state).
    pub async fn builds_kv(&self) -> Result<kv::Store, BusError> {
        self.kv(&self.builds, self.names.builds_bucket()).await
    }

    /// The workers KV bucket (worker presence, with a TTL).
    pub async fn workers_kv(&self) -> Result<kv::Store, BusError> {
        self.kv(&self.workers, self.names.workers_bucket()).await
    }

    /// The KV bucket `bucket`, opened once into `cell`.
    async fn kv(&self, cell: &OnceCell<kv::Store>, bucket: String) -> Result<kv::Store, BusError> {
        cell.get_or_try_init(|| async {
            self.get_stream(&kaniko_common::subjects::kv_stream(&bucket))
                .await
                .map_err(|err| BusError::jetstream("KV bucket", &bucket, err))?;
            self.js
                .get_key_value(bucket.clone())
                .await
                .map_err(|err| BusError::jetstream("KV bucket", &bucket, err))
        })
        .await
        .cloned()
    }

    /// The contexts object store (tarballs named `sha256:<hex>`) of this bus's owner
    /// ([`Bus::for_owner`]; the shared `KANIKO_CONTEXTS` when anonymous).
    pub async fn contexts(&self) -> Result<object_store::ObjectStore, BusError> {
        let bucket = self.names.contexts_store_for(self.owner.as_deref())?;
        self.contexts
            .get_or_try_init(|| async {
                self.get_stream(&kaniko_common::subjects::object_stream(&bucket))
                    .await
                    .map_err(|err| BusError::jetstream("object store", &bucket, err))?;
                self.js
                    .get_object_store(&bucket)
                    .await
                    .map_err(|err| BusError::jetstream("object store", &bucket, err))
            })
            .await
            .cloned()
    }

    /// The durable pull consumer shared by the workers of `platform`: created when missing,
    /// bound as it is when present (a differing setting is logged as a warning).
    pub async fn tasks_consumer(
        &self,
        platform: &Platform,
        settings: &ConsumerSettings,
    ) -> Result<PullConsumer, BusError> {
        let wanted = settings::tasks_consumer(&self.names, platform, settings)?;
        let name = self.names.tasks_consumer(platform)?;
        let stream_name = self.names.tasks_stream();
        let stream = self
            .get_stream(&stream_name)
            .await
            .map_err(|err| BusError::jetstream("stream", &stream_name, err))?;
        let consumer: PullConsumer = stream
            .get_or_create_consumer(&name, wanted.clone())
            .await
            .map_err(|err| BusError::jetstream("consumer", &name, err))?;
        let differences = settings::consumer_differences(&consumer.cached_info().config, &wanted);
        if !differences.is_empty() {
            tracing::warn!(
                consumer = %name,
                differences = %differences.join(", "),
                "existing consumer differs from the configured settings; left as it is"
            );
        }
        Ok(consumer)
    }

    /// Publishes `task` on its platform's subject through JetStream, bincode with the
    /// protocol headers and `Nats-Msg-Id` [`task_msg_id`]. Returns the server's ack, whose
    /// `duplicate` says whether the publish was dropped as a duplicate.
    pub async fn publish_task(
        &self,
        task: &Task,
    ) -> Result<jetstream::publish::PublishAck, BusError> {
        let subject = self.names.tasks(&task.platform)?;
        self.publish_task_on(subject, task).await
    }

    /// Publishes `task` as [`Bus::publish_task`] does, on `subject`: the coordinator routes a
    /// cross-safe task to `Names::tasks_cross` instead of its platform's own subject.
    pub async fn publish_task_on(
        &self,
        subject: String,
        task: &Task,
    ) -> Result<jetstream::publish::PublishAck, BusError> {
        let payload = encode_internal(task)?;
        let mut headers = internal_headers();
        headers.insert("Nats-Msg-Id", task_msg_id(task).as_str());
        self.js_publish(subject, headers, payload).await
    }

    /// Publishes `result` on `results.<build>` through JetStream (bincode).
    pub async fn publish_result(
        &self,
        result: &TaskResult,
    ) -> Result<jetstream::publish::PublishAck, BusError> {
        let subject = self.names.results(&result.build_id)?;
        let payload = encode_internal(result)?;
        let mut headers = internal_headers();
        // A retry after a lost publish ack is stored once.
        let msg_id = format!("{}-{}-result", result.task_id, result.attempt);
        headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
        retry("publishing a task result", RESULT_RETRY_LIMIT, || {
            self.js_publish(subject.clone(), headers.clone(), payload.clone())
        })
        .await
    }

    /// Publishes `event` as JSON on `events.<build>.<type>` (the owner's
    /// `user.<owner>.events.<build>.<type>` for an identity's build, see [`Bus::for_owner`])
    /// through JetStream, so it reaches live subscribers and stays replayable.
    pub async fn publish_event(
        &self,
        event: &Event,
    ) -> Result<jetstream::publish::PublishAck, BusError> {
        let subject = self.names.events_for(
            self.owner.as_deref(),
            &event.build_id,
            event.kind.event_type(),
        )?;
        let payload = encode_json(event)?;
        self.js_publish(subject, json_headers(), payload).await
    }

    /// Announces a worker: the heartbeat on core NATS `workers.<id>`, and the same bytes in
    /// the workers KV bucket under the worker id (expiring with the bucket's TTL). A `leaving`
    /// heartbeat is stored too, so readers of the bucket see the worker leave.
    pub async fn publish_heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), BusError> {
        let id = &heartbeat.worker.id;
        let subject = self.names.worker_heartbeat(id)?;
        let payload = bytes::Bytes::from(encode_internal(heartbeat)?);
        self.client
            .publish_with_headers(subject.clone(), internal_headers(), payload.clone())
            .await
            .map_err(|err| BusError::publish(&subject, err))?;
        let kv = self.workers_kv().await?;
        kv.put(id, payload)
            .await
            .map_err(|err| BusError::publish(&subject, err))?;
        Ok(())
    }

    async fn js_publish(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<jetstream::publish::PublishAck, BusError> {
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|err| BusError::publish(&subject, err))?;
        ack.await.map_err(|err| BusError::publish(&subject, err))
    }
}

fn warn_stream_differences(existing: &stream::Config, wanted: &stream::Config) {
    let differences = settings::stream_differences(existing, wanted);
    if !differences.is_empty() {
        tracing::warn!(
            stream = %wanted.name,
            differences = %differences.join(", "),
            "existing stream differs from the configured settings; left as it is"
        );
    }
}

#[cfg(test)]
mod tests;
