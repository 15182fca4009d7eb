// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Following a build's events for `coordinator submit`: [`Tracker`] folds events into what
//! the user sees (one line per platform state change, log lines, the final summary) and the
//! build's [`Outcome`]. Pure; the rendering to a terminal is in [`super::Display`].

use std::collections::BTreeMap;

use kaniko_common::messages::{
    Event, EventKind, FailedPlatform, PlatformDescriptor, TagPush, TagState, WireError, tags_moved,
};
use kaniko_common::oci::Descriptor;

/// How a build ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Published: the index (unless not asked for) and each platform; `failed` is non-empty
    /// only with `--allow-partial`.
    Finished {
        /// The index.
        index: Option<Descriptor>,
        /// Built platforms, in index order.
        platforms: Vec<PlatformDescriptor>,
        /// Platforms left out.
        failed: Vec<FailedPlatform>,
        /// Each destination tag (`moved`, or `immutable` when ignored by request).
        tags: Vec<TagPush>,
    },
    /// Publishing failed after some destination tags moved: they name `index`, the others
    /// do not (`tags` says which).
    PartiallyPublished {
        /// The index, in every destination repository by digest.
        index: Descriptor,
        /// Built platforms, in index order.
        platforms: Vec<PlatformDescriptor>,
        /// Every destination tag, in the order given.
        tags: Vec<TagPush>,
        /// Why publishing stopped.
        errors: Vec<WireError>,
    },
    /// No destination tag was moved.
    Failed {
        /// Why.
        errors: Vec<WireError>,
        /// Each destination tag, when publishing was tried (none `moved`).
        tags: Vec<TagPush>,
    },
}

impl Outcome {
    /// 0 when everything asked for was published, 2 when an index was published without
    /// some platforms (`--allow-partial`), 3 when some destination tags moved and others did
    /// not, 1 when the build failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Finished { failed, .. } if failed.is_empty() => 0,
            Outcome::Finished { .. } => 2,
            Outcome::PartiallyPublished { .. } => 3,
            Outcome::Failed { .. } => 1,
        }
    }

    /// The outcome a `failed` event describes: partially published when a tag moved.
    pub fn of_failure(
        errors: Vec<WireError>,
        index: Option<Descriptor>,
        platforms: Vec<PlatformDescriptor>,
        tags: Vec<TagPush>,
    ) -> Outcome {
        match index {
            Some(index) if tags_moved(&tags) > 0 => Outcome::PartiallyPublished {
                index,
                platforms,
                tags,
                errors,
            },
            _ => Outcome::Failed { errors, tags },
        }
    }
}

/// What one event means for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A platform changed state: `(platform, text)`.
    State(String, String),
    /// A build log line: `(platform, line)`.
    Log(String, String),
    /// The build ended.
    Done(Outcome),
}

/// The build as seen through its events.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Platforms in request order, with their last state text.
    pub platforms: BTreeMap<String, String>,
    /// The outcome, once known.
    pub outcome: Option<Outcome>,
}

impl Tracker {
    /// Folds one event in; returns what to show.
    pub fn apply(&mut self, event: &Event) -> Vec<Update> {
        let mut state = |platform: String, text: String| {
            self.platforms.insert(platform.clone(), text.clone());
            Update::State(platform, text)
        };
        match &event.kind {
            EventKind::Accepted { platforms } => platforms
                .iter()
                .map(|p| state(p.to_string(), "queued".to_string()))
                .collect(),
            EventKind::PlatformStarted {
                platform,
                worker_id,
                attempt,
            } => {
                let text = if *attempt > 1 {
                    format!("building on {worker_id} (attempt {attempt})")
                } else {
                    format!("building on {worker_id}")
                };
                vec![state(platform.to_string(), text)]
            }
            EventKind::Log { platform, line } => {
                vec![Update::Log(platform.to_string(), line.clone())]
            }
            EventKind::PlatformDone {
                platform,
                descriptor,
            } => vec![state(
                platform.to_string(),
                format!("pushed {}", descriptor.digest),
            )],
            EventKind::PlatformFailed { platform, error } => {
                vec![state(platform.to_string(), format!("failed: {error}"))]
            }
            EventKind::Finished {
                index,
                platforms,
                failed,
                tags,
            } => {
                let outcome = Outcome::Finished {
                    index: index.clone(),
                    platforms: platforms.clone(),
                    failed: failed.clone(),
                    tags: tags.clone(),
                };
                self.outcome = Some(outcome.clone());
                vec![Update::Done(outcome)]
            }
            EventKind::Failed {
                errors,
                index,
                platforms,
                tags,
            } => {
                let outcome = Outcome::of_failure(
                    errors.clone(),
                    index.clone(),
                    platforms.clone(),
                    tags.clone(),
                );
                self.outcome = Some(outcome.clone());
                vec![Update::Done(outcome)]
            }
        }
    }
}

impl Tracker {
    /// The platforms not done yet with their last state (`linux/arm64 queued`), for a
    /// timeout's message; empty when every platform is done.
    pub fn unfinished(&self) -> String {
        self.platforms
            .iter()
            .filter(|(_, state)| !state.starts_with("pushed ") && !state.starts_with("failed: "))
            .map(|(platform, state)| format!("{platform} {state}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One line per destination tag: `  moved       r/app:1`, `  refused     r/app:2: <why>`.
fn tag_lines(tags: &[TagPush]) -> impl Iterator<Item = String> + '_ {
    tags.iter().map(|t| match &t.error {
        Some(error) => format!("  {:<11} {}: {error}", t.state.words(), t.tag),
        None => format!("  {:<11} {}", t.state.words(), t.tag),
    })
}

fn platform_lines(platforms: &[PlatformDescriptor]) -> impl Iterator<Item = String> + '_ {
    platforms
        .iter()
        .map(|p| format!("  {:<16} {}", p.platform.to_string(), p.descriptor.digest))
}

/// The final summary, one line each: the index, each destination tag, each platform's
/// digest, each failure.
pub fn summary(build_id: &str, outcome: &Outcome, destinations: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    match outcome {
        Outcome::Finished {
            index,
            platforms,
            failed,
            tags,
        } => {
            match index {
                Some(index) => {
                    lines.push(format!("build {build_id} published index {}", index.digest));
                    if tags.is_empty() {
                        lines.extend(destinations.iter().map(|d| format!("  {d}")));
                    }
                    for tag in tags {
                        lines.push(match (&tag.state, &tag.error) {
                            (TagState::Moved, _) => format!("  {}", tag.tag),
                            (_, Some(error)) => {
                                format!("  {} ({}, not moved: {error})", tag.tag, tag.state.words())
                            }
                            (_, None) => format!("  {} ({})", tag.tag, tag.state.words()),
                        });
                    }
                }
                None => lines.push(format!("build {build_id} pushed (no index)")),
            }
            lines.extend(platform_lines(platforms));
            for f in failed {
                lines.push(format!(
                    "  {:<16} failed: {}",
                    f.platform.to_string(),
                    f.error
                ));
            }
        }
        Outcome::PartiallyPublished {
            index,
            platforms,
            tags,
            ..
        } => {
            lines.push(format!(
                "build {build_id} partially published index {}: {} of {} tags moved",
                index.digest,
                tags_moved(tags),
                tags.len()
            ));
            lines.extend(tag_lines(tags));
            lines.extend(platform_lines(platforms));
        }
        Outcome::Failed { errors, tags } => {
            if tags.is_empty() {
                lines.push(format!("build {build_id} failed; nothing was published"));
            } else {
                lines.push(format!(
                    "build {build_id} failed; no destination tag was moved"
                ));
            }
            for error in errors {
                lines.push(format!("  {error}"));
            }
            lines.extend(tag_lines(tags));
        }
    }
    lines
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn unfinished_names_the_platforms_not_done_with_their_state() {
        let mut tracker = Tracker::default();
        for (platform, state) in [
            ("linux/amd64", "pushed sha256:aa"),
            ("linux/arm/v7", "failed: permanent: bad"),
            ("linux/arm64", "building on w1"),
            ("linux/s390x", "queued"),
        ] {
            tracker.platforms.insert(platform.into(), state.into());
        }
        assert_eq!(
            tracker.unfinished(),
            "linux/arm64 building on w1, linux/s390x queued"
        );
        assert_eq!(Tracker::default().unfinished(), "");
    }
    use kaniko_common::messages::ErrorKind;
    use kaniko_common::platform::Platform;

    fn p(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    /// An OCI manifest descriptor whose digest is `hex` repeated (also used by `output`'s
    /// tests).
    pub(in crate::submit) fn descriptor(hex: char) -> Descriptor {
        Descriptor {
            media_type: kaniko_common::oci::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", hex.to_string().repeat(64)),
            size: 10,
            platform: None,
            annotations: Default::default(),
        }
    }

    fn event(kind: EventKind) -> Event {
        Event {
            build_id: "b1".into(),
            at_unix_ms: 1,
            kind,
        }
    }

    #[test]
    fn events_become_lines_per_platform_and_an_outcome() {
        fn check(tracker: &mut Tracker, kind: EventKind, expected: Vec<Update>) {
            assert_eq!(tracker.apply(&event(kind)), expected);
        }
        let mut t = Tracker::default();
        let state = |p: &str, s: &str| Update::State(p.into(), s.into());
        check(
            &mut t,
            EventKind::Accepted {
                platforms: vec![p("linux/amd64"), p("linux/arm64")],
            },
            vec![
                state("linux/amd64", "queued"),
                state("linux/arm64", "queued"),
            ],
        );
        check(
            &mut t,
            EventKind::PlatformStarted {
                platform: p("linux/arm64"),
                worker_id: "w2".into(),
                attempt: 2,
            },
            vec![state("linux/arm64", "building on w2 (attempt 2)")],
        );
        check(
            &mut t,
            EventKind::Log {
                platform: p("linux/arm64"),
                line: "[1/2] FROM busybox".into(),
            },
            vec![Update::Log(
                "linux/arm64".into(),
                "[1/2] FROM busybox".into(),
            )],
        );
        check(
            &mut t,
            EventKind::PlatformFailed {
                platform: p("linux/amd64"),
                error: WireError::permanent("Dockerfile:2: unknown instruction"),
            },
            vec![state(
                "linux/amd64",
                "failed: permanent: Dockerfile:2: unknown instruction",
            )],
        );
        assert_eq!(t.outcome, None);
        let failed = vec![FailedPlatform {
            platform: p("linux/amd64"),
            error: WireError::permanent("bad"),
        }];
        let platforms = vec![PlatformDescriptor {
            platform: p("linux/arm64"),
            descriptor: descriptor('a'),
        }];
        let outcome = Outcome::Finished {
            index: Some(descriptor('f')),
            platforms: platforms.clone(),
            failed: failed.clone(),
            tags: vec![],
        };
        check(
            &mut t,
            EventKind::Finished {
                index: Some(descriptor('f')),
                platforms,
                failed,
                tags: vec![],
            },
            vec![Update::Done(outcome.clone())],
        );
        assert_eq!(t.outcome.as_ref().map(Outcome::exit_code), Some(2));
        assert_eq!(
            summary("b1", &outcome, &["r/app:1".to_string()]),
            vec![
                format!("build b1 published index sha256:{}", "f".repeat(64)),
                "  r/app:1".to_string(),
                format!("  linux/arm64      sha256:{}", "a".repeat(64)),
                "  linux/amd64      failed: permanent: bad".to_string(),
            ]
        );
    }

    #[test]
    fn exit_codes() {
        fn check(outcome: Outcome, code: u8) {
            assert_eq!(outcome.exit_code(), code, "{outcome:?}");
        }
        check(
            Outcome::Finished {
                index: Some(descriptor('f')),
                platforms: vec![],
                failed: vec![],
                tags: vec![],
            },
            0,
        );
        check(
            Outcome::Finished {
                index: None,
                platforms: vec![],
                failed: vec![],
                tags: vec![],
            },
            0,
        );
        check(
            Outcome::Failed {
                errors: vec![WireError::transient("registry down")],
                tags: vec![],
            },
            1,
        );
        check(
            Outcome::PartiallyPublished {
                index: descriptor('f'),
                platforms: vec![],
                tags: vec![TagPush::new("r/app:1", TagState::Moved)],
                errors: vec![],
            },
            3,
        );
    }

    fn tags(states: &[(&str, TagState)]) -> Vec<TagPush> {
        states
            .iter()
            .map(|(tag, state)| TagPush {
                tag: tag.to_string(),
                state: *state,
                error: (*state == TagState::Refused)
                    .then(|| WireError::new(ErrorKind::Unauthorized, "http status 403")),
            })
            .collect()
    }

    #[test]
    fn a_failed_event_with_moved_tags_is_a_partially_published_build() {
        fn check(event_tags: Vec<TagPush>, index: Option<Descriptor>, expected: Outcome) {
            let mut tracker = Tracker::default();
            let kind = EventKind::Failed {
                errors: vec![WireError::permanent("publishing the index: refused")],
                index,
                platforms: vec![],
                tags: event_tags,
            };
            assert_eq!(tracker.apply(&event(kind)), vec![Update::Done(expected)]);
        }
        let errors = vec![WireError::permanent("publishing the index: refused")];
        let partial = tags(&[
            ("r/app:1", TagState::Moved),
            ("r/app:2", TagState::Refused),
            ("r/app:3", TagState::NotPushed),
        ]);
        check(
            partial.clone(),
            Some(descriptor('f')),
            Outcome::PartiallyPublished {
                index: descriptor('f'),
                platforms: vec![],
                tags: partial,
                errors: errors.clone(),
            },
        );
        let none_moved = tags(&[
            ("r/app:1", TagState::Refused),
            ("r/app:2", TagState::NotPushed),
        ]);
        check(
            none_moved.clone(),
            Some(descriptor('f')),
            Outcome::Failed {
                errors: errors.clone(),
                tags: none_moved,
            },
        );
        check(
            vec![],
            None,
            Outcome::Failed {
                errors,
                tags: vec![],
            },
        );
    }

    #[test]
    fn summaries_say_which_tags_moved() {
        let partial = Outcome::PartiallyPublished {
            index: descriptor('f'),
            platforms: vec![PlatformDescriptor {
                platform: p("linux/arm64"),
                descriptor: descriptor('a'),
            }],
            tags: tags(&[
                ("r/app:1", TagState::Moved),
                ("r/app:2", TagState::Refused),
                ("r/app:3", TagState::NotPushed),
            ]),
            errors: vec![],
        };
        assert_eq!(
            summary("b1", &partial, &[]),
            vec![
                format!(
                    "build b1 partially published index sha256:{}: 1 of 3 tags moved",
                    "f".repeat(64)
                ),
                "  moved       r/app:1".to_string(),
                "  refused     r/app:2: unauthorized: http status 403".to_string(),
                "  not pushed  r/app:3".to_string(),
                format!("  linux/arm64      sha256:{}", "a".repeat(64)),
            ]
        );
        let immutable = Outcome::Finished {
            index: Some(descriptor('f')),
            platforms: vec![],
            failed: vec![],
            tags: vec![
                TagPush::new("r/app:1", TagState::Moved),
                TagPush {
                    tag: "r/app:latest".into(),
                    state: TagState::Immutable,
                    error: Some(WireError::permanent("TAG_INVALID")),
                },
            ],
        };
        assert_eq!(
            summary("b1", &immutable, &[]),
            vec![
                format!("build b1 published index sha256:{}", "f".repeat(64)),
                "  r/app:1".to_string(),
                "  r/app:latest (immutable, not moved: permanent: TAG_INVALID)".to_string(),
            ]
        );
        let failed = Outcome::Failed {
            errors: vec![WireError::permanent("publishing the index: refused")],
            tags: tags(&[("r/app:1", TagState::Refused)]),
        };
        assert_eq!(
            summary("b1", &failed, &[]),
            vec![
                "build b1 failed; no destination tag was moved".to_string(),
                "  permanent: publishing the index: refused".to_string(),
                "  refused     r/app:1: unauthorized: http status 403".to_string(),
            ]
        );
    }
}
