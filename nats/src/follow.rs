// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Following a stream's messages across server restarts, and retrying publishes through a
//! reconnect.
//!
//! [`follow`] reads a stream through an ephemeral, unacknowledged, in-memory pull consumer of
//! its own (with the stream's replica count, so on a cluster it outlives a node), in short
//! fetches, instead of async-nats' ordered consumer, which notices a lost
//! consumer only after two missed idle heartbeats (30 s or more), or never when the failed
//! pull comes back as "consumer not found". A consumer is lost when nats-server restarts, and
//! on a cluster when the node holding it dies, without this client reconnecting at all. The
//! follower makes a new consumer from the next stream sequence as soon as the client has
//! reconnected, a fetch fails, or a fetch gets no answer within [`FETCH_EXPIRES`] and
//! [`FETCH_GRACE`]; so it catches up within moments of the server coming back or of the
//! consumer's node dying, and never sees a message twice or misses one.
//!
//! [`retry`] runs a NATS operation again, with a short backoff, until it succeeds or a time
//! limit passes: a JetStream publish made while the server is away times out, and must be
//! repeated once it is back.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{AckPolicy, DeliverPolicy, pull},
};
use futures::{Stream, StreamExt};
use kaniko_retry::RetryPolicy;
use tokio::sync::mpsc;

/// How often a follower checks whether the client reconnected.
pub const RECONNECT_CHECK: Duration = Duration::from_millis(200);
/// How long one fetch of a follower waits on the server for messages.
pub const FETCH_EXPIRES: Duration = Duration::from_secs(1);
/// How much longer than [`FETCH_EXPIRES`] a follower waits for the server to end a fetch (or
/// for the next message) before it takes the consumer for lost.
pub const FETCH_GRACE: Duration = Duration::from_secs(2);
/// The most messages one fetch asks for.
const FETCH_BATCH: usize = 256;
/// How long the server keeps a follower's consumer nobody fetches from (one left behind).
const INACTIVE_THRESHOLD: Duration = Duration::from_secs(10);

/// The messages of `stream_name` matching `filter_subject`, from the first on, in order,
/// each once, following new ones forever and surviving server restarts, reconnects and the
/// loss of the consumer's node. The stream ends only when it is dropped.
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
        // Short pauses: on a cluster the consumer can be made again as soon as the stream has
        // a leader, within seconds.
        let recreate = RetryPolicy::forever()
            .quiet()
            .with_backoff(Duration::from_millis(100), Duration::from_secs(1));
        let mut retrying = recreate.start(&what);
        loop {
            let seen_connects = connects();
            let consumer = async {
                let stream = js.get_stream(&stream_name).await?;
                let consumer: jetstream::consumer::PullConsumer = stream
                    .create_consumer(pull::Config {
                        filter_subject: filter_subject.clone(),
                        deliver_policy: DeliverPolicy::ByStartSequence {
                            start_sequence: next_sequence,
                        },
                        ack_policy: AckPolicy::None,
                        memory_storage: true,
                        // The stream's replica count: on a cluster the consumer survives its
                        // node, and is made while one node is down (an R1 one may be
                        // placed on the missing peer by nats-server 2.9).
                        num_replicas: 0,
                        inactive_threshold: INACTIVE_THRESHOLD,
                        ..Default::default()
                    })
                    .await?;
                anyhow::Ok(consumer)
            };
            let consumer = tokio::select! {
                consumer = consumer => match consumer {
                    Ok(consumer) => consumer,
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
            'fetching: loop {
                let batch = consumer
                    .fetch()
                    .max_messages(FETCH_BATCH)
                    .expires(FETCH_EXPIRES)
                    .messages();
                let mut batch = match tokio::time::timeout(FETCH_EXPIRES + FETCH_GRACE, batch).await
                {
                    Ok(Ok(batch)) => batch,
                    Ok(Err(err)) => {
                        tracing::debug!(stream = %stream_name, subject = %filter_subject, error = %err, "following: a fetch failed; recreating the consumer");
                        break 'fetching;
                    }
                    Err(_) => break 'fetching,
                };
                let mut deadline = tokio::time::Instant::now() + FETCH_EXPIRES + FETCH_GRACE;
                loop {
                    tokio::select! {
                        item = tokio::time::timeout_at(deadline, batch.next()) => match item {
                            Ok(Some(Ok(message))) => {
                                let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
                                if sequence != 0 && sequence < next_sequence {
                                    continue;
                                }
                                next_sequence = sequence.saturating_add(1).max(next_sequence);
                                if tx.send(message).await.is_err() {
                                    return;
                                }
                                deadline = tokio::time::Instant::now() + FETCH_EXPIRES + FETCH_GRACE;
                            }
                            Ok(Some(Err(err))) => {
                                tracing::debug!(stream = %stream_name, subject = %filter_subject, error = %err, "following: consumer failed; recreating");
                                break 'fetching;
                            }
                            // The fetch is over: the next one.
                            Ok(None) => break,
                            Err(_) => {
                                tracing::info!(stream = %stream_name, subject = %filter_subject, next_sequence, "no answer to a fetch (the consumer's server is gone): following again");
                                break 'fetching;
                            }
                        },
                        _ = check.tick() => {
                            if connects() != seen_connects {
                                tracing::info!(stream = %stream_name, subject = %filter_subject, next_sequence, "reconnected: following again");
                                break 'fetching;
                            }
                        }
                        _ = tx.closed() => return,
                    }
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
