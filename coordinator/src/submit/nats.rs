// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator submit --driver nats`: the context uploaded once per sha256 (to the identity's
//! store with `--identity`), the build submitted over the request API, then its events
//! followed from the start of the events stream (the identity's own with `--identity`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt;
use kaniko_common::messages::codec::{decode_json, encode_json};
use kaniko_common::messages::{ContextRef, ErrorKind, Event, SubmitReply};
use kaniko_common::subjects::{ApiVerb, Names};
use kaniko_nats::{self as bus, Bus};
use kaniko_retry::RetryPolicy;

use super::follow::{Outcome, Tracker, Update};
use super::{Display, SubmitArgs, build_request, report};
use crate::context::PackedContext;

/// How long after `--timeout` a follower still waits for the coordinator's own verdict.
const VERDICT_GRACE: Duration = Duration::from_secs(15);
/// How long the API may take to answer a submit.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a submit is made again while no coordinator answers (one restarting) or the one
/// that answered refused it as transient (its store lost a node and elects a new leader).
const SUBMIT_RETRY_WINDOW: Duration = Duration::from_secs(60);

/// Runs `coordinator submit` against a coordinator over NATS, as `identity` when given.
pub(super) async fn run(args: &SubmitArgs, identity: Option<&str>) -> anyhow::Result<ExitCode> {
    let names = Names::new(args.nats.prefix()?)?;
    // Validate the flags before touching the context or the network.
    let packed = super::validated_context(args).await?;
    tracing::info!(sha256 = %packed.sha256, size = packed.size, entries = packed.entries, "context packed");

    let mut options = args.nats.options();
    options.name = Some("kaniko coordinator submit".to_string());
    if let Some(identity) = identity {
        options.inbox_prefix = Some(names.identity_inbox(identity)?);
    }
    let client = bus::connect(&options).await?;
    // An identity's context goes to its own store, and its events come from its own stream.
    let bus = Bus::new(client.clone(), names.clone()).for_owner(identity)?;
    let build_id = RetryPolicy::within(SUBMIT_RETRY_WINDOW)
        .with_backoff(Duration::from_millis(500), Duration::from_secs(5))
        .run_if("submitting the build", Refusal::is_transient, |_| async {
            // Again before every try: a context lost with a node is stored again (a no-op
            // when it is there).
            upload(&bus, &packed, identity)
                .await
                .map_err(Refusal::Final)?;
            submit(args, &client, &names, identity, &packed).await
        })
        .await
        .map_err(Refusal::into_error)?;
    if args.detach {
        println!("{build_id}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("build {build_id} submitted");

    // The coordinator enforces the deadline itself and reports which platforms it ended;
    // the client waits a little longer for that verdict and gives up only when it is lost.
    let mut tracker = Tracker::default();
    let outcome = match args.timeout {
        Some(limit) => tokio::time::timeout(
            limit + VERDICT_GRACE,
            follow_events(&bus, &build_id, args.quiet, &mut tracker),
        )
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "build {build_id} did not finish within {limit:?}, and the coordinator \
                 reported nothing within {VERDICT_GRACE:?} after the deadline: {}",
                tracker.unfinished()
            )
        })??,
        None => follow_events(&bus, &build_id, args.quiet, &mut tracker).await?,
    };
    report(args, &build_id, &outcome)
}

/// Uploads the packed context to the bus's store (the identity's own for an identity's bus).
async fn upload(bus: &Bus, packed: &PackedContext, identity: Option<&str>) -> anyhow::Result<()> {
    let file = tokio::fs::File::open(packed.file.path())
        .await
        .with_context(|| format!("opening {}", packed.file.path().display()))?;
    bus.upload_context(file, &packed.sha256, packed.size)
        .await
        .with_context(|| match identity {
            None => "uploading the context (is the coordinator running? it creates the object \
                     store)"
                .to_string(),
            Some(identity) => format!(
                "uploading the context to identity {identity}'s store (is the coordinator \
                 running with a policy that names {identity}? it creates the store)"
            ),
        })?;
    Ok(())
}

/// Why a submit was not accepted.
#[derive(Debug)]
enum Refusal {
    /// Worth making again: no coordinator answered at once (none subscribed, one restarting),
    /// or one refused the build as transient (it could not read the context or store the
    /// build for now). Nothing was accepted.
    Transient(anyhow::Error),
    /// Anything else. An unanswered request is final too: the build may have been accepted
    /// with its answer lost, and a second submit would build it twice.
    Final(anyhow::Error),
}

impl Refusal {
    fn is_transient(&self) -> bool {
        matches!(self, Refusal::Transient(_))
    }

    fn into_error(self) -> anyhow::Error {
        match self {
            Refusal::Transient(err) | Refusal::Final(err) => err,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Transient(err) | Refusal::Final(err) => write!(f, "{err:#}"),
        }
    }
}

/// Submits the build of `packed` on the API subject of `identity`: its build id, or why it
/// was refused.
async fn submit(
    args: &SubmitArgs,
    client: &async_nats::Client,
    names: &Names,
    identity: Option<&str>,
    packed: &PackedContext,
) -> Result<String, Refusal> {
    let context = ContextRef {
        sha256: packed.sha256.clone(),
        size: packed.size,
    };
    let mut request =
        build_request(args, context, packed.dockerfile.clone()).map_err(Refusal::Final)?;
    request.standard_annotations = crate::driver::ci::git::standard_annotations(&args.context);
    let payload = encode_json(&request).map_err(|e| Refusal::Final(e.into()))?;
    let subject = match identity {
        None => names.api(ApiVerb::Submit),
        Some(identity) => names
            .api_as(identity, ApiVerb::Submit)
            .map_err(|e| Refusal::Final(e.into()))?,
    };
    let request = async_nats::Request::new()
        .payload(payload.into())
        .headers(bus::json_headers())
        .timeout(Some(SUBMIT_TIMEOUT));
    let reply = match client.send_request(subject.clone(), request).await {
        Ok(reply) => reply,
        Err(err) if err.kind() == async_nats::RequestErrorKind::TimedOut => {
            return Err(Refusal::Final(anyhow::anyhow!(
                "no answer on {subject} within {SUBMIT_TIMEOUT:?}: is the coordinator running?"
            )));
        }
        Err(err) if err.kind() == async_nats::RequestErrorKind::NoResponders => {
            return Err(Refusal::Transient(anyhow::anyhow!(
                "no coordinator serves {subject}: is the coordinator running?"
            )));
        }
        Err(err) => {
            return Err(Refusal::Final(
                anyhow::Error::new(err).context(format!("submitting on {subject}")),
            ));
        }
    };
    let reply: SubmitReply = decode_json(&reply.payload)
        .context("decoding the submit reply")
        .map_err(Refusal::Final)?;
    match (reply.build_id, reply.error) {
        (_, Some(error)) if error.kind == ErrorKind::Transient => Err(Refusal::Transient(
            anyhow::anyhow!("build refused for now: {error}"),
        )),
        (_, Some(error)) => Err(Refusal::Final(anyhow::anyhow!("build refused: {error}"))),
        (Some(id), None) => Ok(id),
        (None, None) => Err(Refusal::Final(anyhow::anyhow!(
            "the submit reply carries neither a build id nor an error"
        ))),
    }
}

/// Replays the build's events from the events stream and follows them to the end, across
/// NATS server restarts ([`bus::follow`]).
async fn follow_events(
    bus: &Bus,
    build_id: &str,
    quiet: bool,
    tracker: &mut Tracker,
) -> anyhow::Result<Outcome> {
    let owner = bus.owner();
    let mut messages = bus::follow(
        bus.js().clone(),
        bus.names().events_stream_for(owner)?,
        bus.names().events_of_for(owner, build_id)?,
    );
    let mut display = Display::new(quiet);
    while let Some(message) = messages.next().await {
        let event: Event = match decode_json(&message.payload) {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(subject = %message.subject, error = %err, "undecodable event skipped");
                continue;
            }
        };
        for update in tracker.apply(&event) {
            if let Update::Done(outcome) = update {
                display.finish();
                return Ok(outcome);
            }
            display.show(update);
        }
    }
    bail!("the events of build {build_id} ended before the build finished")
}
