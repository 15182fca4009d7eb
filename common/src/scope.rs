// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Repository patterns: which repositories a submitter may push to or pull from (the
//! coordinator's policy) and which destinations a worker's secret may be used for (its
//! `scope=`). A pattern is one of
//!
//! * `registry/path/repo` — exactly that repository;
//! * `registry/path/*` — every repository below `registry/path/` (any depth), and
//!   `registry/*` every repository of that registry;
//! * `*` — every repository of every registry.
//!
//! The registry is always written out (`docker.io/library/alpine`, not `alpine`), and is
//! compared without case (`LOCALHOST:5000` is `localhost:5000`), port included. A reference is
//! matched by its parsed registry and repository (the normal form Docker uses: `alpine` is
//! `docker.io/library/alpine`, `index.docker.io` is `docker.io`), never by its text, so a
//! tag, a digest or `..` cannot move it to another repository: a reference that does not parse
//! matches nothing.

use std::fmt;
use std::str::FromStr;

use oci_spec::distribution::Reference;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("repository pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A repository pattern (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RepoPattern {
    /// `*`: every repository.
    Any,
    /// `registry/path/*` (`path` may be empty: `registry/*`).
    Below {
        /// The registry, lowercase, with its port.
        registry: String,
        /// The path every matching repository starts with (without the final `/`).
        path: String,
    },
    /// `registry/path/repo`.
    Exact {
        /// The registry, lowercase, with its port.
        registry: String,
        /// The repository.
        repository: String,
    },
}

impl FromStr for RepoPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<RepoPattern, PatternError> {
        let refuse = |reason: &str| {
            Err(PatternError {
                pattern: text.to_string(),
                reason: reason.to_string(),
            })
        };
        if text == "*" {
            return Ok(RepoPattern::Any);
        }
        if text.is_empty() {
            return refuse("it is empty");
        }
        let (body, below) = match text.strip_suffix("/*") {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return refuse(
                "`*` is only allowed alone or as the last path component (`registry/path/*`)",
            );
        }
        let (registry, path) = match body.split_once('/') {
            Some((registry, path)) => (registry, path),
            None if below => (body, ""),
            None => {
                return refuse(
                    "it names no repository: write registry/repository, registry/path/* or *",
                );
            }
        };
        let host_like = registry.contains('.') || registry.contains(':') || registry == "localhost";
        if !host_like {
            return refuse(
                "it must start with a registry host (docker.io/library/alpine, not alpine)",
            );
        }
        // The registry and the path must be what a reference would parse to: probed with two
        // more components below a `*` pattern's path (Docker Hub adds `library/` to a
        // single-component name).
        let (probe, expected) = match (below, path.is_empty()) {
            (true, true) => (format!("{registry}/x/y"), "x/y".to_string()),
            (true, false) => (format!("{registry}/{path}/x/y"), format!("{path}/x/y")),
            (false, _) => (format!("{registry}/{path}"), path.to_string()),
        };
        let parsed: Reference = match probe.parse() {
            Ok(reference) => reference,
            Err(err) => return refuse(&format!("not a repository name: {err}")),
        };
        if parsed.repository() != expected {
            return refuse(&format!(
                "not a repository name as written (it is {}/{})",
                parsed.registry(),
                parsed.repository()
            ));
        }
        if parsed.tag().is_some_and(|tag| tag != "latest")
            || parsed.digest().is_some()
            || !parsed.registry().eq_ignore_ascii_case(registry)
        {
            return refuse("not a repository name (no tag, no digest, lowercase path)");
        }
        let registry = registry.to_ascii_lowercase();
        Ok(if below {
            RepoPattern::Below {
                registry,
                path: path.to_string(),
            }
        } else {
            RepoPattern::Exact {
                registry,
                repository: path.to_string(),
            }
        })
    }
}

impl fmt::Display for RepoPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepoPattern::Any => f.write_str("*"),
            RepoPattern::Below { registry, path } if path.is_empty() => write!(f, "{registry}/*"),
            RepoPattern::Below { registry, path } => write!(f, "{registry}/{path}/*"),
            RepoPattern::Exact {
                registry,
                repository,
            } => write!(f, "{registry}/{repository}"),
        }
    }
}

/// The repository an image reference names, `registry/repository` in normal form
/// (registry lowercase); `None` when it does not parse.
pub fn repository_of(reference: &str) -> Option<String> {
    let parsed: Reference = reference.parse().ok()?;
    Some(format!(
        "{}/{}",
        parsed.registry().to_ascii_lowercase(),
        parsed.repository()
    ))
}

impl RepoPattern {
    /// Whether the repository of `reference` (a tag, a digest reference or a bare
    /// repository) matches; a reference that does not parse never does.
    pub fn matches(&self, reference: &str) -> bool {
        let Ok(parsed) = reference.parse::<Reference>() else {
            return false;
        };
        let registry = parsed.registry().to_ascii_lowercase();
        let repository = parsed.repository();
        match self {
            RepoPattern::Any => true,
            RepoPattern::Exact {
                registry: r,
                repository: p,
            } => *r == registry && p == repository,
            RepoPattern::Below { registry: r, path } => {
                *r == registry
                    && (path.is_empty()
                        || repository
                            .strip_prefix(path.as_str())
                            .is_some_and(|rest| rest.starts_with('/')))
            }
        }
    }
}

/// Whether any of `patterns` matches `reference`.
pub fn any_matches(patterns: &[RepoPattern], reference: &str) -> bool {
    patterns.iter().any(|pattern| pattern.matches(reference))
}

/// `patterns` as written, comma separated, for messages.
pub fn describe(patterns: &[RepoPattern]) -> String {
    if patterns.is_empty() {
        return "none".to_string();
    }
    patterns
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> RepoPattern {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn patterns_parse_and_print_back() {
        for text in [
            "*",
            "127.0.0.1:5000/team-a/*",
            "127.0.0.1:5000/*",
            "docker.io/library/alpine",
            "registry.example/a/b/c",
            "localhost/app",
        ] {
            assert_eq!(pattern(text).to_string(), text);
        }
        assert_eq!(
            pattern("LOCALHOST:5000/app").to_string(),
            "localhost:5000/app"
        );
    }

    #[test]
    fn bad_patterns_are_refused_naming_the_reason() {
        fn check(text: &str, needle: &str) {
            let err = text.parse::<RepoPattern>().unwrap_err();
            assert_eq!(err.pattern, text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        check("", "empty");
        check("alpine", "names no repository");
        check("library/alpine", "registry host");
        check("team-a/*", "registry host");
        check("r.example/team-*", "`*` is only allowed");
        check("r.example/*/app", "`*` is only allowed");
        check("r.example/a/**", "`*` is only allowed");
        check("r.example/a/../b", "not a repository name");
        check("r.example/A", "not a repository name");
        check("r.example/a:1", "not a repository name");
        check(
            "r.example/a@sha256:0123456789abcdef0123456789abcdef",
            "not a repository name",
        );
        check("r.example/a,b", "not a repository name");
        check("r.example//a", "not a repository name");
        check("docker.io/alpine", "it is docker.io/library/alpine");
    }

    #[test]
    fn references_match_by_their_parsed_repository() {
        fn check(pattern_text: &str, reference: &str, expected: bool) {
            assert_eq!(
                pattern(pattern_text).matches(reference),
                expected,
                "{pattern_text} vs {reference}"
            );
        }
        let team = "127.0.0.1:5000/team-a/*";
        check(team, "127.0.0.1:5000/team-a/app:1", true);
        check(team, "127.0.0.1:5000/team-a/sub/app", true);
        let digest = format!("sha256:{}", "ab".repeat(32));
        check(team, &format!("127.0.0.1:5000/team-a/app@{digest}"), true);
        // Hostile names: another team, a prefix of a name, `..`, another port or host, no
        // repository below the path, text that does not parse.
        check(team, "127.0.0.1:5000/team-b/app:1", false);
        check(team, "127.0.0.1:5000/team-ab/app:1", false);
        check(team, "127.0.0.1:5000/team-a:1", false);
        check(team, "127.0.0.1:5000/team-a/../team-b/app:1", false);
        check(team, "127.0.0.1:5001/team-a/app:1", false);
        check(team, "127.0.0.1/team-a/app:1", false);
        check(team, "localhost:5000/team-a/app:1", false);
        check(
            team,
            "127.0.0.1:5000/team-a/app,127.0.0.1:5000/team-b/app",
            false,
        );
        check(team, "127.0.0.1:5000/team-a/App:1", false);
        check(team, "127.0.0.1:5000", false);
        check("LOCALHOST:5000/*", "localhost:5000/x", true);
        check("localhost:5000/*", "LOCALHOST:5000/x:1", true);
        check("docker.io/library/alpine", "alpine:3", true);
        check(
            "docker.io/library/alpine",
            "index.docker.io/library/alpine",
            true,
        );
        check(
            "docker.io/library/alpine",
            "docker.io/library/alpine2",
            false,
        );
        check("docker.io/library/*", "busybox", true);
        check("docker.io/library/*", "someone/busybox", false);
        check("*", "anything.example/x/y:z", true);
        check("*", "NOT A REFERENCE", false);
        assert_eq!(
            repository_of("alpine:3").as_deref(),
            Some("docker.io/library/alpine")
        );
        assert_eq!(repository_of("a b"), None);
    }
}
