// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The client verbs `coordinator workers|status|logs|cancel|list`: requests on the API
//! subjects (bincode, our own CLI; an identity's own subjects with `--identity`), printed as
//! tables or JSON; `logs` replays a build's log events from the events stream of its owner.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use futures::StreamExt;
use kaniko_common::messages::codec::{CONTENT_TYPE_HEADER, PROTOCOL_HEADER};
use kaniko_common::messages::{
    BuildStatus, CancelReply, CancelRequest, Encoding, Event, EventKind, EventType, ListReply,
    ListRequest, Message as WireMessage, StatusReply, StatusRequest, WorkerInfo, WorkersReply,
    WorkersRequest,
};
use kaniko_common::subjects::{ApiVerb, Names};

use crate::bus::headers;
use crate::cli::ClientArgs;

/// How long a request waits for a coordinator.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of the request API, anonymous or speaking as an identity.
pub struct ApiClient {
    client: async_nats::Client,
    names: Names,
    identity: Option<String>,
}

impl ApiClient {
    /// Connects to NATS as `args` say; with an identity, requests go on that identity's
    /// subjects and replies come to its own inbox.
    pub async fn connect(args: &ClientArgs) -> anyhow::Result<ApiClient> {
        let identity = args.who.identity()?;
        let names = Names::new(args.nats.prefix()?)?;
        let mut options = args.nats.options();
        options
            .name
            .get_or_insert_with(|| "kaniko-coordinator-cli".to_string());
        if let Some(identity) = identity {
            options.inbox_prefix = Some(names.identity_inbox(identity)?);
        }
        let client = kaniko_nats::connect(&options).await?;
        Ok(ApiClient {
            client,
            names,
            identity: identity.map(str::to_string),
        })
    }

    /// The subject of `verb` for this client: anonymous or its identity's.
    fn subject(&self, verb: ApiVerb) -> anyhow::Result<String> {
        Ok(match &self.identity {
            None => self.names.api(verb),
            Some(identity) => self.names.api_as(identity, verb)?,
        })
    }

    /// Sends `request` on the `verb` subject and decodes the reply.
    pub async fn request<Q: WireMessage, A: WireMessage>(
        &self,
        verb: ApiVerb,
        request: &Q,
    ) -> anyhow::Result<A> {
        let subject = self.subject(verb)?;
        let payload = Encoding::Bincode.encode(request)?;
        let call = self.client.request_with_headers(
            subject.clone(),
            headers(Encoding::Bincode),
            payload.into(),
        );
        let reply = tokio::time::timeout(REQUEST_TIMEOUT, call)
            .await
            .with_context(|| format!("no coordinator answered on {subject} within 30s"))?
            .with_context(|| format!("request on {subject}"))?;
        let header = |name: &str| {
            reply
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_string())
        };
        Ok(kaniko_common::messages::codec::decode_by_content_type(
            header(CONTENT_TYPE_HEADER).as_deref(),
            header(PROTOCOL_HEADER).as_deref(),
            &reply.payload,
        )?)
    }
}

/// The fleet as a table, one worker per line.
pub fn render_workers(workers: &[WorkerInfo]) -> String {
    let mut out = format!(
        "{:<24} {:<16} {:<32} {:>9} {:<10}\n",
        "ID", "NATIVE", "PLATFORMS", "BUSY/CAP", "VERSION"
    );
    for w in workers {
        let platforms: Vec<String> = w
            .platforms
            .iter()
            .map(|p| {
                if *p == w.native {
                    p.to_string()
                } else {
                    format!("{p} (cross)")
                }
            })
            .collect();
        out.push_str(&format!(
            "{:<24} {:<16} {:<32} {:>9} {:<10}\n",
            w.id,
            w.native.to_string(),
            platforms.join(","),
            format!("{}/{}", w.busy, w.capacity),
            w.version
        ));
    }
    out
}

/// One build's status for people.
pub fn render_status(status: &BuildStatus) -> String {
    let mut out = format!("build {}: {}\n", status.build_id, json_name(&status.state));
    if let Some(coordinator) = &status.coordinator {
        out.push_str(&format!("  coordinator {coordinator}\n"));
    }
    for p in &status.platforms {
        let detail = match (&p.descriptor, &p.error, p.queue_position) {
            (Some(d), _, _) => d.digest.clone(),
            (None, Some(e), _) => e.to_string(),
            (None, None, Some(place)) => format!(
                "position {place} in its queue, waiting {}",
                waited(status.submitted_at_unix_ms)
            ),
            (None, None, None) => p.worker_id.clone().unwrap_or_default(),
        };
        out.push_str(&format!(
            "  {:<16} {:<10} {detail}\n",
            p.platform.to_string(),
            json_name(&p.state)
        ));
    }
    match (&status.index, status.tags.is_empty()) {
        (Some(index), true) => out.push_str(&format!(
            "  index {} -> {}\n",
            index.digest,
            status.destinations.join(", ")
        )),
        (Some(index), false) => out.push_str(&format!("  index {}\n", index.digest)),
        (None, _) => {}
    }
    for tag in &status.tags {
        out.push_str(&format!("  {:<10} {}\n", tag.state.words(), tag.tag));
    }
    for error in &status.errors {
        out.push_str(&format!("  error: {error}\n"));
    }
    out
}

/// How long ago `since_unix_ms` was, for people (`12s`, `3m04s`).
fn waited(since_unix_ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let seconds = now.saturating_sub(since_unix_ms) / 1000;
    match seconds {
        0..60 => format!("{seconds}s"),
        _ => format!("{}m{:02}s", seconds / 60, seconds % 60),
    }
}

/// The builds as a table, newest first; a build with a platform waiting says its place in
/// the queue (the first waiting platform's, `#3`) and how long it has waited.
pub fn render_list(builds: &[BuildStatus]) -> String {
    let mut out = format!(
        "{:<28} {:<11} {:<10} {:<14} {}\n",
        "BUILD", "STATE", "PLATFORMS", "QUEUE", "DESTINATION"
    );
    for b in builds {
        let queue = b
            .platforms
            .iter()
            .filter_map(|p| p.queue_position)
            .min()
            .map(|place| format!("#{place} {}", waited(b.submitted_at_unix_ms)))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<28} {:<11} {:<10} {:<14} {}\n",
            b.build_id,
            json_name(&b.state),
            b.platforms.len(),
            queue,
            b.destinations.first().map(String::as_str).unwrap_or("")
        ));
    }
    out
}

/// A log event as a line: `linux/arm64 | text`.
pub fn render_log(event: &Event) -> Option<String> {
    match &event.kind {
        EventKind::Log { platform, line } => Some(format!("{platform} | {line}")),
        _ => None,
    }
}

fn json_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn emit_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    emit(&format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// `coordinator workers`.
pub async fn workers(api: &ApiClient, json: bool) -> anyhow::Result<()> {
    let reply: WorkersReply = api.request(ApiVerb::Workers, &WorkersRequest {}).await?;
    if let Some(error) = reply.error {
        bail!("{error}");
    }
    if json {
        emit_json(&reply.workers)
    } else {
        emit(&render_workers(&reply.workers))
    }
}

/// The coordinator's answer to a status request for `build_id`.
async fn ask_status(api: &ApiClient, build_id: &str) -> anyhow::Result<StatusReply> {
    api.request(
        ApiVerb::Status,
        &StatusRequest {
            build_id: build_id.to_string(),
        },
    )
    .await
}

/// `coordinator status BUILD`: fails when the build failed, was cancelled, was only partially
/// published or is unknown.
pub async fn status(api: &ApiClient, build_id: &str, json: bool) -> anyhow::Result<bool> {
    let reply = ask_status(api, build_id).await?;
    let Some(build) = reply.build else {
        bail!(
            "{}",
            reply
                .error
                .map(|e| e.to_string())
                .unwrap_or_else(|| format!("build {build_id}: no status"))
        );
    };
    if json {
        emit_json(&build)?;
    } else {
        emit(&render_status(&build))?;
    }
    Ok(!matches!(
        build.state,
        kaniko_common::messages::BuildState::Failed
            | kaniko_common::messages::BuildState::Cancelled
            | kaniko_common::messages::BuildState::PartiallyPublished
    ))
}

/// `coordinator cancel BUILD`.
pub async fn cancel(api: &ApiClient, build_id: &str, reason: Option<String>) -> anyhow::Result<()> {
    let reply: CancelReply = api
        .request(
            ApiVerb::Cancel,
            &CancelRequest {
                build_id: build_id.to_string(),
                reason,
            },
        )
        .await?;
    if let Some(error) = reply.error {
        bail!("{error}");
    }
    let state = reply.state.map(|s| json_name(&s)).unwrap_or_default();
    emit(&format!("build {build_id}: {state}\n"))
}

/// `coordinator list`.
pub async fn list(api: &ApiClient, request: ListRequest, json: bool) -> anyhow::Result<()> {
    let reply: ListReply = api.request(ApiVerb::List, &request).await?;
    if let Some(error) = reply.error {
        bail!("{error}");
    }
    if json {
        emit_json(&reply.builds)
    } else {
        emit(&render_list(&reply.builds))
    }
}

/// `coordinator logs BUILD`: asks for the build's status (so the coordinator's policy decides
/// who may see it, and names its owner), then replays its log events from the events stream
/// (its owner's, for an identity's build).
pub async fn logs(api: &ApiClient, build_id: &str) -> anyhow::Result<()> {
    let reply = ask_status(api, build_id).await?;
    let build = match (reply.build, reply.error) {
        (_, Some(error)) => bail!("{error}"),
        (Some(build), None) => build,
        (None, None) => bail!("build {build_id}: no status"),
    };
    let names = &api.names;
    let owner = build.owner.as_deref();
    let subject = names.events_for(owner, build_id, EventType::Log)?;
    let stream_name = names.events_stream_for(owner)?;
    let js = jetstream::new(api.client.clone());
    let stream = js
        .get_stream(&stream_name)
        .await
        .with_context(|| format!("opening stream {stream_name}"))?;
    let mut consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subject.clone(),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .with_context(|| format!("reading {subject}"))?;
    let mut pending = consumer.info().await?.num_pending;
    while pending > 0 {
        let batch = usize::try_from(pending.min(256)).unwrap_or(256);
        let mut messages = consumer
            .fetch()
            .max_messages(batch)
            .expires(Duration::from_secs(5))
            .messages()
            .await?;
        let mut got = 0u64;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| anyhow::anyhow!("reading {subject}: {e}"))?;
            got += 1;
            if let Ok(event) = serde_json::from_slice::<Event>(&message.payload)
                && let Some(line) = render_log(&event)
            {
                emit(&format!("{line}\n"))?;
            }
        }
        if got == 0 {
            break;
        }
        pending = pending.saturating_sub(got);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::{BuildState, PlatformState, PlatformStatus, WireError};
    use kaniko_common::platform::Platform;

    #[test]
    fn status_names_each_platform_and_error() {
        let status = BuildStatus {
            build_id: "b1".into(),
            state: BuildState::Failed,
            platforms: vec![PlatformStatus {
                queue_position: None,
                platform: Platform::parse("linux/arm64").unwrap(),
                state: PlatformState::Failed,
                worker_id: Some("w".into()),
                attempt: 1,
                descriptor: None,
                error: Some(WireError::permanent("dockerfile:2: unknown instruction")),
            }],
            index: None,
            destinations: vec!["r/app:1".into()],
            errors: vec![],
            tags: vec![],
            submitted_at_unix_ms: 0,
            updated_at_unix_ms: 0,
            owner: None,
            coordinator: None,
        };
        assert_eq!(
            render_status(&status),
            "build b1: failed\n  linux/arm64      failed     permanent: dockerfile:2: unknown instruction\n"
        );
        let mut owned = status.clone();
        owned.coordinator = Some("host-1-abc".into());
        assert!(
            render_status(&owned).starts_with("build b1: failed\n  coordinator host-1-abc\n"),
            "{}",
            render_status(&owned)
        );
        assert_eq!(
            render_list(&[status])
                .lines()
                .nth(1)
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["b1", "failed", "1", "r/app:1"]
        );
    }

    #[test]
    fn workers_table_marks_cross_platforms() {
        let native = Platform::parse("linux/amd64").unwrap();
        let worker = WorkerInfo {
            id: "w1".into(),
            native: native.clone(),
            platforms: vec![native, Platform::parse("linux/arm64").unwrap()],
            allow_cross: true,
            capacity: 2,
            busy: 1,
            version: "0.1.0".into(),
            last_seen_unix_ms: 0,
        };
        let table = render_workers(&[worker]);
        let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            row,
            [
                "w1",
                "linux/amd64",
                "linux/amd64,linux/arm64",
                "(cross)",
                "1/2",
                "0.1.0"
            ]
        );
    }

    #[test]
    fn only_log_events_render_as_log_lines() {
        let platform = Platform::parse("linux/arm64").unwrap();
        let log = Event {
            build_id: "b".into(),
            at_unix_ms: 0,
            kind: EventKind::Log {
                platform: platform.clone(),
                line: "STEP 1/2: FROM busybox".into(),
            },
        };
        assert_eq!(
            render_log(&log).as_deref(),
            Some("linux/arm64 | STEP 1/2: FROM busybox")
        );
        let other = Event {
            kind: EventKind::Accepted {
                platforms: vec![platform],
            },
            ..log
        };
        assert_eq!(render_log(&other), None);
    }
}
