// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build events on `kaniko.events.<build>.<type>`: JSON objects any service can follow,
//! `{"build_id": …, "at_unix_ms": …, "type": "platform_done", …}`. JSON only: the flattened,
//! internally tagged form cannot go through bincode, so [`Event`] does not implement
//! [`Message`](super::Message).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::WireError;
use crate::oci::Descriptor;
use crate::platform::Platform;

/// One thing that happened to a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The build it happened to.
    pub build_id: String,
    /// When, unix milliseconds.
    pub at_unix_ms: u64,
    /// What happened; its fields sit next to `build_id` in JSON, tagged by `"type"`.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened, with the details of each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The build was accepted and its platforms normalised.
    Accepted {
        /// The platforms to build.
        #[serde(with = "crate::platform::as_string_list")]
        platforms: Vec<Platform>,
    },
    /// A worker started building a platform.
    PlatformStarted {
        /// The platform.
        #[serde(with = "crate::platform::as_string")]
        platform: Platform,
        /// The worker.
        worker_id: String,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// One line of build output.
    Log {
        /// The platform whose build printed it.
        #[serde(with = "crate::platform::as_string")]
        platform: Platform,
        /// The line, without its newline.
        line: String,
    },
    /// A platform was built and pushed by digest.
    PlatformDone {
        /// The platform.
        #[serde(with = "crate::platform::as_string")]
        platform: Platform,
        /// Its manifest.
        descriptor: Descriptor,
    },
    /// A platform failed for good.
    PlatformFailed {
        /// The platform.
        #[serde(with = "crate::platform::as_string")]
        platform: Platform,
        /// Why.
        error: WireError,
    },
    /// The build finished: the index (unless `publish_index` was false) and every platform's
    /// manifest; with `allow_partial`, `failed` lists the platforms left out.
    Finished {
        /// The published index.
        index: Option<Descriptor>,
        /// The built platforms, in index order.
        platforms: Vec<PlatformDescriptor>,
        /// The platforms that failed (only with `allow_partial`).
        failed: Vec<FailedPlatform>,
        /// Each destination tag: `moved`, or `immutable` (left as it was, by request).
        #[serde(default)]
        tags: Vec<TagPush>,
    },
    /// The build failed. When publishing failed part-way, `index` is the index (pushed by
    /// digest to every destination repository) and `tags` says what happened to each
    /// destination tag: tags that `moved` name the new index (the build is *partially
    /// published*, see [`tags_moved`]), the others were left as they were. Empty `tags`:
    /// publishing never started, no tag moved.
    Failed {
        /// Why.
        errors: Vec<WireError>,
        /// The index pushed by digest, when publishing got that far.
        #[serde(default)]
        index: Option<Descriptor>,
        /// The built platforms, when publishing was tried.
        #[serde(default)]
        platforms: Vec<PlatformDescriptor>,
        /// Each destination tag, in the order given, when publishing was tried.
        #[serde(default)]
        tags: Vec<TagPush>,
    },
}

/// What publishing did to one destination tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagPush {
    /// The destination, `registry/repository:tag`, as requested.
    pub tag: String,
    /// What happened to it.
    pub state: TagState,
    /// Why it did not move (`refused`, `immutable`).
    pub error: Option<WireError>,
}

/// What publishing did to a tag. Tags are pushed in the order given, after the index is in
/// every repository by digest; the first refused tag stops the publishing, as `docker
/// buildx imagetools create` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagState {
    /// The tag names the new index.
    Moved,
    /// The registry refused to move it (it names what it named before, if anything).
    Refused,
    /// The registry refused to move an immutable tag and the request said to ignore that
    /// (`push_ignore_immutable_tag_errors`): it names what it named before.
    Immutable,
    /// Not tried: publishing stopped at an earlier tag or before the tags. It names what it
    /// named before, if anything.
    NotPushed,
}

impl TagState {
    /// The name used in JSON and summaries without the underscore: `moved`, `refused`,
    /// `immutable`, `not pushed`.
    pub fn words(self) -> &'static str {
        match self {
            TagState::Moved => "moved",
            TagState::Refused => "refused",
            TagState::Immutable => "immutable",
            TagState::NotPushed => "not pushed",
        }
    }
}

impl TagPush {
    /// `tag` in `state`, without an error.
    pub fn new(tag: impl Into<String>, state: TagState) -> TagPush {
        TagPush {
            tag: tag.into(),
            state,
            error: None,
        }
    }
}

/// How many of `tags` moved: more than none in a failed build means it is partially
/// published.
pub fn tags_moved(tags: &[TagPush]) -> usize {
    tags.iter().filter(|t| t.state == TagState::Moved).count()
}

/// A platform and its pushed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformDescriptor {
    /// The platform.
    #[serde(with = "crate::platform::as_string")]
    pub platform: Platform,
    /// Its manifest.
    pub descriptor: Descriptor,
}

/// A platform and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedPlatform {
    /// The platform.
    #[serde(with = "crate::platform::as_string")]
    pub platform: Platform,
    /// Why it failed.
    pub error: WireError,
}

/// The type of an event without its details: the last token of its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// [`EventKind::Accepted`].
    Accepted,
    /// [`EventKind::PlatformStarted`].
    PlatformStarted,
    /// [`EventKind::Log`].
    Log,
    /// [`EventKind::PlatformDone`].
    PlatformDone,
    /// [`EventKind::PlatformFailed`].
    PlatformFailed,
    /// [`EventKind::Finished`].
    Finished,
    /// [`EventKind::Failed`].
    Failed,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 7] = [
        EventType::Accepted,
        EventType::PlatformStarted,
        EventType::Log,
        EventType::PlatformDone,
        EventType::PlatformFailed,
        EventType::Finished,
        EventType::Failed,
    ];

    /// The subject token, which is also the JSON `"type"`: `accepted`, `platform_started`,
    /// `log`, `platform_done`, `platform_failed`, `finished`, `failed`.
    pub fn token(self) -> &'static str {
        match self {
            EventType::Accepted => "accepted",
            EventType::PlatformStarted => "platform_started",
            EventType::Log => "log",
            EventType::PlatformDone => "platform_done",
            EventType::PlatformFailed => "platform_failed",
            EventType::Finished => "finished",
            EventType::Failed => "failed",
        }
    }

    /// The event type of a subject token.
    pub fn from_token(token: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.token() == token)
    }

    /// True for the types that end a build's event stream.
    pub fn is_final(self) -> bool {
        matches!(self, EventType::Finished | EventType::Failed)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

impl EventKind {
    /// This event's type.
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::Accepted { .. } => EventType::Accepted,
            EventKind::PlatformStarted { .. } => EventType::PlatformStarted,
            EventKind::Log { .. } => EventType::Log,
            EventKind::PlatformDone { .. } => EventType::PlatformDone,
            EventKind::PlatformFailed { .. } => EventType::PlatformFailed,
            EventKind::Finished { .. } => EventType::Finished,
            EventKind::Failed { .. } => EventType::Failed,
        }
    }

    /// The subject token of this event's type (`accepted`, `log`, ...).
    pub fn token(&self) -> &'static str {
        self.event_type().token()
    }
}

impl Event {
    /// The subject token of this event's type (`accepted`, `log`, ...).
    pub fn token(&self) -> &'static str {
        self.kind.token()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::samples;

    #[test]
    fn token_is_the_json_type_for_every_kind() {
        for event in samples::events() {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], serde_json::json!(event.token()), "{event:?}");
            assert_eq!(
                EventType::from_token(event.token()),
                Some(event.kind.event_type())
            );
        }
        let covered: Vec<EventType> = samples::events()
            .iter()
            .map(|e| e.kind.event_type())
            .collect();
        assert_eq!(
            covered,
            EventType::ALL.to_vec(),
            "samples cover every type in order"
        );
        assert_eq!(EventType::from_token("nope"), None);
    }

    #[test]
    fn a_partial_publish_lists_every_tag_in_json() {
        let event = Event {
            build_id: "b1".into(),
            at_unix_ms: 1,
            kind: EventKind::Failed {
                errors: vec![WireError::permanent("publishing the index: refused")],
                index: None,
                platforms: Vec::new(),
                tags: vec![
                    TagPush::new("r/app:1", TagState::Moved),
                    TagPush::new("r/app:2", TagState::NotPushed),
                ],
            },
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "build_id": "b1",
                "at_unix_ms": 1,
                "type": "failed",
                "errors": [{"kind": "permanent", "message": "publishing the index: refused"}],
                "index": null,
                "platforms": [],
                "tags": [
                    {"tag": "r/app:1", "state": "moved", "error": null},
                    {"tag": "r/app:2", "state": "not_pushed", "error": null},
                ],
            })
        );
        assert_eq!(tags_moved(&[]), 0);
        // An event of an older coordinator, without the publishing fields, still reads.
        let old: Event = serde_json::from_value(serde_json::json!({
            "build_id": "b1", "at_unix_ms": 1, "type": "failed", "errors": []
        }))
        .unwrap();
        assert!(matches!(old.kind, EventKind::Failed { tags, index: None, .. } if tags.is_empty()));
    }

    #[test]
    fn json_shape_is_flat_and_stable() {
        let event = Event {
            build_id: "b1".into(),
            at_unix_ms: 1_700_000_000_000,
            kind: EventKind::Log {
                platform: Platform::parse("linux/arm/v7").unwrap(),
                line: "step 1/3".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "build_id": "b1",
                "at_unix_ms": 1_700_000_000_000u64,
                "type": "log",
                "platform": "linux/arm/v7",
                "line": "step 1/3"
            })
        );
    }
}
