// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The FleetActor: the live workers, from their heartbeats on `<prefix>.workers.*` (and the
//! WORKERS bucket at start). A worker is alive while its last heartbeat is younger than the
//! liveness timeout (3 × the heartbeat interval); a `leaving` heartbeat removes it at once.
//! It answers "who is alive", from which [`crate::policy::routing`] decides where each task
//! goes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{Heartbeat, WorkerInfo};
use tracing::{debug, warn};

/// Decodes a heartbeat or presence entry: the bincode envelope, else JSON (a heartbeat or a
/// bare worker info).
pub fn decode_presence(payload: &[u8]) -> Option<Heartbeat> {
    if let Ok(beat) = decode_internal::<Heartbeat>(payload) {
        return Some(beat);
    }
    if let Ok(beat) = serde_json::from_slice::<Heartbeat>(payload) {
        return Some(beat);
    }
    serde_json::from_slice::<WorkerInfo>(payload)
        .ok()
        .map(|worker| Heartbeat {
            at_unix_ms: worker.last_seen_unix_ms,
            worker,
            leaving: false,
        })
}

struct Seen {
    info: WorkerInfo,
    at: Instant,
}

/// Tracks the live workers.
pub struct FleetActor {
    workers: HashMap<String, Seen>,
    timeout: Duration,
    heartbeats: Option<async_nats::Subscriber>,
}

impl FleetActor {
    /// A fleet fed by `heartbeats` (a subscription to `<prefix>.workers.*`), with the
    /// presence entries already in the WORKERS bucket, forgetting workers silent for `timeout`.
    pub fn new(
        heartbeats: async_nats::Subscriber,
        known: Vec<Heartbeat>,
        timeout: Duration,
    ) -> Self {
        let mut fleet = FleetActor {
            workers: HashMap::new(),
            timeout,
            heartbeats: Some(heartbeats),
        };
        for beat in known {
            fleet.record(beat, Instant::now());
        }
        fleet
    }

    fn record(&mut self, beat: Heartbeat, at: Instant) {
        let id = beat.worker.id.clone();
        if beat.leaving {
            debug!(worker = %id, "worker leaving");
            self.workers.remove(&id);
        } else {
            self.workers.insert(
                id,
                Seen {
                    info: beat.worker,
                    at,
                },
            );
        }
    }

    fn live(&mut self) -> Vec<WorkerInfo> {
        let now = Instant::now();
        let timeout = self.timeout;
        self.workers
            .retain(|_, seen| now.saturating_duration_since(seen.at) < timeout);
        let mut out: Vec<WorkerInfo> = self.workers.values().map(|s| s.info.clone()).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

impl Actor for FleetActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(subscription) = self.heartbeats.take() {
            ctx.add_stream(subscription);
        }
    }
}

impl StreamHandler<async_nats::Message> for FleetActor {
    fn handle(&mut self, message: async_nats::Message, _ctx: &mut Self::Context) {
        match decode_presence(&message.payload) {
            Some(beat) => self.record(beat, Instant::now()),
            None => warn!(subject = %message.subject, "ignoring a heartbeat that does not decode"),
        }
    }

    fn finished(&mut self, _ctx: &mut Self::Context) {
        warn!("the heartbeat subscription ended");
    }
}

/// Asks for the live workers.
#[derive(Message)]
#[rtype(result = "Vec<WorkerInfo>")]
pub struct LiveWorkers;

impl Handler<LiveWorkers> for FleetActor {
    type Result = MessageResult<LiveWorkers>;

    fn handle(&mut self, _msg: LiveWorkers, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.live())
    }
}

/// Feeds one heartbeat directly (the local driver, tests).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Beat(pub Heartbeat);

impl Handler<Beat> for FleetActor {
    type Result = ();

    fn handle(&mut self, msg: Beat, _ctx: &mut Self::Context) {
        self.record(msg.0, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::routing::tests::worker;

    #[test]
    fn presence_decodes_bincode_or_json_and_refuses_garbage() {
        let beat = Heartbeat {
            worker: worker("w", "linux/amd64", &[]),
            at_unix_ms: 5,
            leaving: false,
        };
        let bincode = kaniko_common::messages::codec::encode_internal(&beat).unwrap();
        assert_eq!(decode_presence(&bincode), Some(beat.clone()));
        let json = serde_json::to_vec(&beat.worker).unwrap();
        assert_eq!(decode_presence(&json).map(|b| b.worker), Some(beat.worker));
        assert_eq!(decode_presence(b"garbage"), None);
    }

    #[actix_rt::test]
    async fn leaving_removes_and_silence_expires() {
        let client_less = FleetActor {
            workers: HashMap::new(),
            timeout: Duration::from_millis(200),
            heartbeats: None,
        };
        let fleet = client_less.start();
        let beat = |id: &str, leaving| Heartbeat {
            worker: worker(id, "linux/amd64", &[]),
            at_unix_ms: 0,
            leaving,
        };
        fleet.send(Beat(beat("a", false))).await.unwrap();
        fleet.send(Beat(beat("b", false))).await.unwrap();
        let ids = |ws: Vec<WorkerInfo>| ws.into_iter().map(|w| w.id).collect::<Vec<_>>();
        assert_eq!(ids(fleet.send(LiveWorkers).await.unwrap()), ["a", "b"]);
        fleet.send(Beat(beat("a", true))).await.unwrap();
        assert_eq!(ids(fleet.send(LiveWorkers).await.unwrap()), ["b"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(fleet.send(LiveWorkers).await.unwrap().is_empty());
    }
}
