// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Following a stream's messages across server restarts, and retrying publishes through a
//! reconnect.
//!
//! async-nats' ordered consumer lives in the server's memory: when nats-server restarts it is
//! gone, and the client only notices after two missed idle heartbeats (30 s or more), or
//! never when the failed pull comes back as "consumer not found". [`follow`] instead watches
//! the client's connection count and recreates the ordered consumer from the next stream
//! sequence as soon as the client has reconnected, or when the consumer reports any error,
//! so a follower catches up within a fraction of a second of the server coming back, and
//! never sees a message twice or misses one.
//!
//! [`retry`] runs a NATS operation again, with a short backoff, until it succeeds or a time
//! limit passes: a JetStream publish made while the server is away times out, and must be
//! repeated once it is back.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use futures::{Stream, StreamExt};
use kaniko_retry::RetryPolicy;
use tokio::sync::mpsc;

/// How often a follower checks whether the client reconnected.
pub const RECONNECT_CHECK: Duration = Duration::from_millis(200);

/// The messages of `stream_name` matching `filter_subject`, from the first on, in order,
/// each once, following new ones forever and surviving server restarts and reconnects.
/// The stream ends only when it is dropped.
pub fn follow(
    js: jetstream::Context,
    stream_name: String,
    filter_subject: String,
) -> impl Stream<Item = jetstream::Message> + Send + Unpin + 'static {
    let (tx, rx) = mpsc::channel::<jetstream::Message>(64);
    tokio::spawn(async move {
        let client = js.client();
        let connects = || connects(&client);
        let mut next_sequence: u64 = 1;
        let what = format!("following {stream_name} ({filter_subject}): creating the consumer");
        let recreate = RetryPolicy::forever().quiet();
        let mut retrying = recreate.start(&what);
        loop {
            let seen_connects = connects();
            let messages = async {
                let stream = js.get_stream(&stream_name).await?;
                let consumer = stream
                    .create_consumer(pull::OrderedConfig {
                        filter_subject: filter_subject.clone(),
                        deliver_policy: DeliverPolicy::ByStartSequence {
                            start_sequence: next_sequence,
                        },
                        ..Default::default()
                    })
                    .await?;
                anyhow::Ok(consumer.messages().await?)
            };
            let mut messages = tokio::select! {
                messages = messages => match messages {
                    Ok(messages) => messages,
                    Err(err) => {
                        tokio::select! {
                            _ = retrying.again(&err) => {}
                            _ = tx.closed() => return,
                        }
                        continue;
                    }
                },
                _ = tx.closed() => return,
            };
            retrying = recreate.start(&what);
            let mut check = tokio::time::interval(RECONNECT_CHECK);
            loop {
                tokio::select! {
                    item = messages.next() => match item {
                        Some(Ok(message)) => {
                            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
                            if sequence != 0 && sequence < next_sequence {
                                continue;
                            }
                            next_sequence = sequence.saturating_add(1).max(next_sequence);
                            if tx.send(message).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(err)) => {
                            tracing::debug!(stream = %stream_name, subject = %filter_subject, error = %err, "following: consumer failed; recreating");
                            break;
                        }
                        None => break,
                    },
                    _ = check.tick() => {
                        if connects() != seen_connects {
                            tracing::info!(stream = %stream_name, subject = %filter_subject, next_sequence, "reconnected: following again");
                            break;
                        }
                    }
                    _ = tx.closed() => return,
                }
            }
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|message| (message, rx))
    }))
}

/// How many times `client` has connected so far (the first connection included).
pub fn connects(client: &async_nats::Client) -> u64 {
    client.statistics().connects.load(Ordering::Relaxed)
}

/// Returns once `client` has connected again after having connected `since` times (see
/// [`connects`]): something in flight across the reconnect (a subscription the server
/// forgot, a request whose answer was lost) should be started again.
pub async fn reconnected(client: &async_nats::Client, since: u64) {
    let mut check = tokio::time::interval(RECONNECT_CHECK);
    loop {
        check.tick().await;
        if connects(client) != since {
            return;
        }
    }
}

/// Runs `operation` until it succeeds or `limit` has passed since the first try, pausing
/// 100 ms, 200 ms, ... at most 2 s between tries ([`RetryPolicy::within`]); the last error
/// when it never succeeded. `what` names the operation in the logs.
pub async fn retry<T, E, F, Fut>(what: &str, limit: Duration, mut operation: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    RetryPolicy::within(limit)
        .run_if(what, |_| true, |_| operation())
        .await
}
