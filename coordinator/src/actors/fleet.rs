// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The FleetActor: the live workers, from their heartbeats on `<prefix>.workers.*` (and the
//! WORKERS bucket at start). A worker is alive while its last heartbeat is younger than the
//! liveness timeout (3 × the heartbeat interval); a `leaving` heartbeat removes it at once.
//! It answers "who serves platform P natively / cross", which decides where a task goes:
//!
//! * a live native worker of P → P's own subject (native workers only);
//! * none, the task cross-safe and a live `--allow-cross` worker serving P → the cross
//!   subject, which only cross workers consume;
//! * otherwise P's own subject: the task waits for a native worker (`--require-native-nodes`
//!   refuses the build instead).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{Heartbeat, WorkerInfo};
use kaniko_common::platform::Platform;
use tracing::{debug, warn};

use super::build::record::Route;

/// Where a platform's task goes, given the live workers.
pub fn route(workers: &[WorkerInfo], platform: &Platform, cross_safe: bool) -> Route {
    if workers.iter().any(|w| &w.native == platform) {
        return Route::Native;
    }
    if cross_safe
        && workers
            .iter()
            .any(|w| &w.native != platform && w.can_build(platform, true))
    {
        return Route::Cross;
    }
    Route::Native
}

/// The requested platforms with no live native worker (`--require-native-nodes` refuses
/// the build naming them).
pub fn missing_native(workers: &[WorkerInfo], platforms: &[Platform]) -> Vec<Platform> {
    platforms
        .iter()
        .filter(|p| !workers.iter().any(|w| &w.native == *p))
        .cloned()
        .collect()
}

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

    fn worker(id: &str, native: &str, cross: &[&str]) -> WorkerInfo {
        let native = Platform::parse(native).unwrap();
        let mut platforms = vec![native.clone()];
        platforms.extend(cross.iter().map(|p| Platform::parse(p).unwrap()));
        WorkerInfo {
            id: id.into(),
            native,
            platforms,
            allow_cross: !cross.is_empty(),
            capacity: 1,
            busy: 0,
            version: "0".into(),
            last_seen_unix_ms: 0,
        }
    }

    #[test]
    fn routing() {
        fn check(workers: &[WorkerInfo], platform: &str, cross_safe: bool, expected: Route) {
            let platform = Platform::parse(platform).unwrap();
            assert_eq!(
                route(workers, &platform, cross_safe),
                expected,
                "{platform} cross_safe={cross_safe}"
            );
        }
        let amd = worker("a", "linux/amd64", &[]);
        let cross = worker("c", "linux/amd64", &["linux/arm64"]);
        let arm = worker("r", "linux/arm64", &[]);
        // Native first, whatever the Dockerfile.
        check(
            &[amd.clone(), cross.clone(), arm.clone()],
            "linux/arm64",
            true,
            Route::Native,
        );
        check(
            &[amd.clone(), arm.clone()],
            "linux/arm64",
            false,
            Route::Native,
        );
        // No native arm64: a cross-safe task goes to the cross worker...
        check(
            &[amd.clone(), cross.clone()],
            "linux/arm64",
            true,
            Route::Cross,
        );
        // ...a task that needs RUN never does: it waits for a native worker.
        check(
            &[amd.clone(), cross.clone()],
            "linux/arm64",
            false,
            Route::Native,
        );
        // A cross worker that does not serve the platform does not count.
        check(
            std::slice::from_ref(&cross),
            "linux/arm/v7",
            true,
            Route::Native,
        );
        // The cross worker's own native platform goes native.
        check(&[cross], "linux/amd64", true, Route::Native);
        check(&[], "linux/amd64", true, Route::Native);
    }

    #[test]
    fn missing_native_names_platforms_without_native_workers() {
        let workers = [
            worker("a", "linux/amd64", &[]),
            worker("c", "linux/amd64", &["linux/arm64"]),
        ];
        let wanted = [
            Platform::parse("linux/amd64").unwrap(),
            Platform::parse("linux/arm64").unwrap(),
        ];
        let got: Vec<String> = missing_native(&workers, &wanted)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["linux/arm64"]);
        assert!(missing_native(&workers, &wanted[..1]).is_empty());
    }

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
