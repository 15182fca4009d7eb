// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! How an error travels over NATS: `{kind, message}`. The kind is what a receiver branches on
//! (retry, terminate, report); the message is for people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure a [`WireError`] reports, so the receiver can decide what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Retrying the same thing fails the same way: a bad Dockerfile, a base image without the
    /// platform, a failing RUN.
    Permanent,
    /// May succeed if retried later: a registry 5xx, a reset connection, a worker lost.
    Transient,
    /// A message could not be decoded or speaks a newer protocol.
    Protocol,
    /// A registry refused the credentials (401/403), or the coordinator's policy does not
    /// allow the identity what it asked.
    Unauthorized,
    /// The build, image, blob or context named does not exist.
    NotFound,
    /// The build was cancelled.
    Cancelled,
    /// A deadline passed.
    Timeout,
    /// The request was understood but will not be carried out: invalid values, or a policy
    /// forbids it (no native worker with `require_native_nodes`, a non-cross-safe task on a
    /// foreign worker).
    Refused,
}

impl ErrorKind {
    /// The lowercase name used in JSON and in messages (`not_found`, `transient`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Permanent => "permanent",
            ErrorKind::Transient => "transient",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Refused => "refused",
        }
    }

    /// True only for [`ErrorKind::Transient`]: the one kind worth retrying with backoff.
    pub fn is_retryable(self) -> bool {
        self == ErrorKind::Transient
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as it travels over NATS: a kind to branch on and a lowercase message naming the
/// thing at fault. Displays as `<kind>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WireError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// What went wrong, naming the file, line, platform, reference or digest at fault.
    pub message: String,
}

impl WireError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> WireError {
        WireError {
            kind,
            message: message.into(),
        }
    }

    /// A [`ErrorKind::Permanent`] error.
    pub fn permanent(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::Permanent, message)
    }

    /// A [`ErrorKind::Transient`] error.
    pub fn transient(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::Transient, message)
    }

    /// A [`ErrorKind::Protocol`] error.
    pub fn protocol(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::Protocol, message)
    }

    /// A [`ErrorKind::Refused`] error.
    pub fn refused(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::Refused, message)
    }

    /// A [`ErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::NotFound, message)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_json_names() {
        fn check(kind: ErrorKind, expected: &str) {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(expected)
            );
            assert_eq!(kind.as_str(), expected);
            assert_eq!(
                serde_json::from_value::<ErrorKind>(serde_json::json!(expected)).unwrap(),
                kind
            );
        }
        check(ErrorKind::Permanent, "permanent");
        check(ErrorKind::Transient, "transient");
        check(ErrorKind::Protocol, "protocol");
        check(ErrorKind::Unauthorized, "unauthorized");
        check(ErrorKind::NotFound, "not_found");
        check(ErrorKind::Cancelled, "cancelled");
        check(ErrorKind::Timeout, "timeout");
        check(ErrorKind::Refused, "refused");
    }

    #[test]
    fn only_transient_is_retryable() {
        fn check(kind: ErrorKind, expected: bool) {
            assert_eq!(kind.is_retryable(), expected, "{kind}");
        }
        check(ErrorKind::Transient, true);
        check(ErrorKind::Permanent, false);
        check(ErrorKind::Timeout, false);
        check(ErrorKind::Unauthorized, false);
    }

    #[test]
    fn displays_kind_and_message() {
        let err = WireError::not_found("build b1 not found");
        assert_eq!(err.to_string(), "not_found: build b1 not found");
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            serde_json::json!({"kind": "not_found", "message": "build b1 not found"})
        );
    }
}
