// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Encoding and decoding of wire messages, with a protocol version.
//!
//! * Internal (bincode): a 7-byte envelope — the magic `KNKO`, the protocol version as a
//!   big-endian `u16`, one byte of [`MessageKind`] — then the `bincode::serde` body (standard
//!   configuration, at most [`MAX_MESSAGE_BYTES`]). Content type
//!   [`CONTENT_TYPE_BINCODE`]. Only versions from [`MIN_INTERNAL_VERSION`] up are read: a
//!   bincode body of another layout cannot be.
//! * Public (JSON): one object carrying `"protocol": 2` next to the message's own fields. A
//!   missing `protocol` means the current version; any earlier version is read (fields added
//!   since are optional). Content type [`CONTENT_TYPE_JSON`].
//!
//! Decoding never panics and never trusts a length: every failure is a [`CodecError`], which
//! a receiver answers as an [`ErrorKind::Protocol`] error and terminates (never redelivers).

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::api::{
    BuildRequest, CancelReply, CancelRequest, ListReply, ListRequest, StatusReply, StatusRequest,
    SubmitReply, WorkersReply, WorkersRequest,
};
use super::error::{ErrorKind, WireError};
use super::task::{Heartbeat, Task, TaskResult};

/// The protocol version this build speaks. Bumped when a message changes incompatibly.
/// 2: a task's and a build status's `owner` (the identity that submitted the build), the
/// tags a publication moved. 3: a task's and a request's layer cache settings. 4: a request's
/// signing and SBOM switches, a platform status's queue position and a build status's
/// coordinator.
pub const PROTOCOL_VERSION: u16 = 4;
/// The oldest version whose internal (bincode) messages this build decodes: a bincode body
/// has no optional fields, so one of another layout cannot be read. Public (JSON) messages of
/// any version up to [`PROTOCOL_VERSION`] are read.
pub const MIN_INTERNAL_VERSION: u16 = 4;
/// The NATS header carrying the protocol version of a message.
pub const PROTOCOL_HEADER: &str = "Kaniko-Protocol";
/// The NATS header carrying the encoding of a message.
pub const CONTENT_TYPE_HEADER: &str = "Content-Type";
/// Content type of a JSON message.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// Content type of an enveloped bincode message.
pub const CONTENT_TYPE_BINCODE: &str = "application/x-kaniko-bincode";
/// The JSON field carrying the protocol version.
pub const JSON_PROTOCOL_FIELD: &str = "protocol";
/// The first four bytes of every internal message.
pub const MAGIC: [u8; 4] = *b"KNKO";
/// Magic, version and kind.
pub const ENVELOPE_LEN: usize = 7;
/// The largest message accepted or produced, in either encoding.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

const BINCODE: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_MESSAGE_BYTES>,
> = bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>();

/// Why a payload could not be encoded or decoded. All of them are permanent for that payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Not a kaniko message at all (wrong magic, JSON syntax error, corrupt body).
    #[error("not a kaniko message: {0}")]
    Garbage(String),
    /// A valid start that ends too early.
    #[error("truncated message: {0}")]
    Truncated(String),
    /// Sent by a newer kaniko-rs; upgrade this side.
    #[error("message speaks protocol version {found}, this build speaks up to {supported}")]
    FutureVersion {
        /// The version in the message.
        found: u64,
        /// [`PROTOCOL_VERSION`].
        supported: u16,
    },
    /// An internal message of a version older than this build reads; upgrade the sender.
    #[error(
        "message speaks protocol version {found}, this build needs at least {needed}: upgrade \
         the sender (coordinator and workers of one fleet speak one version)"
    )]
    PastVersion {
        /// The version in the message.
        found: u64,
        /// [`MIN_INTERNAL_VERSION`].
        needed: u16,
    },
    /// A well-formed message of another kind than the one expected.
    #[error("expected a {expected} message, got a {found} message")]
    WrongKind {
        /// The kind asked for.
        expected: MessageKind,
        /// The kind in the envelope.
        found: MessageKind,
    },
    /// Well-formed but wrong: a missing field, an unknown field, a junk platform, a bad header.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("message of {size} bytes is over the {limit} byte limit")]
    TooLarge {
        /// The payload's size.
        size: usize,
        /// [`MAX_MESSAGE_BYTES`].
        limit: usize,
    },
}

impl From<CodecError> for WireError {
    fn from(err: CodecError) -> WireError {
        WireError::new(ErrorKind::Protocol, err.to_string())
    }
}

/// The kind byte of an internal envelope: which message type the body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// [`Task`].
    Task = 1,
    /// [`TaskResult`].
    TaskResult = 2,
    /// [`Heartbeat`].
    Heartbeat = 3,
    /// [`BuildRequest`].
    BuildRequest = 16,
    /// [`SubmitReply`].
    SubmitReply = 17,
    /// [`StatusRequest`].
    StatusRequest = 18,
    /// [`StatusReply`].
    StatusReply = 19,
    /// [`CancelRequest`].
    CancelRequest = 20,
    /// [`CancelReply`].
    CancelReply = 21,
    /// [`ListRequest`].
    ListRequest = 22,
    /// [`ListReply`].
    ListReply = 23,
    /// [`WorkersRequest`].
    WorkersRequest = 24,
    /// [`WorkersReply`].
    WorkersReply = 25,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 13] = [
        MessageKind::Task,
        MessageKind::TaskResult,
        MessageKind::Heartbeat,
        MessageKind::BuildRequest,
        MessageKind::SubmitReply,
        MessageKind::StatusRequest,
        MessageKind::StatusReply,
        MessageKind::CancelRequest,
        MessageKind::CancelReply,
        MessageKind::ListRequest,
        MessageKind::ListReply,
        MessageKind::WorkersRequest,
        MessageKind::WorkersReply,
    ];

    /// The envelope byte.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// The kind of an envelope byte; `None` for a byte no kind uses.
    pub fn from_byte(byte: u8) -> Option<MessageKind> {
        MessageKind::ALL
            .into_iter()
            .find(|kind| kind.byte() == byte)
    }

    /// A lowercase name for messages: `task`, `task result`, `build request`, ...
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Task => "task",
            MessageKind::TaskResult => "task result",
            MessageKind::Heartbeat => "heartbeat",
            MessageKind::BuildRequest => "build request",
            MessageKind::SubmitReply => "submit reply",
            MessageKind::StatusRequest => "status request",
            MessageKind::StatusReply => "status reply",
            MessageKind::CancelRequest => "cancel request",
            MessageKind::CancelReply => "cancel reply",
            MessageKind::ListRequest => "list request",
            MessageKind::ListReply => "list reply",
            MessageKind::WorkersRequest => "workers request",
            MessageKind::WorkersReply => "workers reply",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A message that can travel as enveloped bincode (and as JSON). Implemented only for types
/// whose serde form bincode can decode.
pub trait Message: Serialize + DeserializeOwned {
    /// The envelope's kind byte for this type.
    const KIND: MessageKind;
}

macro_rules! messages {
    ($($ty:ident),* $(,)?) => {
        $(impl Message for $ty {
            const KIND: MessageKind = MessageKind::$ty;
        })*
    };
}

messages!(
    Task,
    TaskResult,
    Heartbeat,
    BuildRequest,
    SubmitReply,
    StatusRequest,
    StatusReply,
    CancelRequest,
    CancelReply,
    ListRequest,
    ListReply,
    WorkersRequest,
    WorkersReply,
);

/// Encodes an internal message: envelope then bincode body.
pub fn encode_internal<T: Message>(message: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out.push(T::KIND.byte());
    bincode::serde::encode_into_std_write(message, &mut out, BINCODE)
        .map_err(|err| CodecError::Invalid(format!("cannot encode {}: {err}", T::KIND)))?;
    check_size(out.len())?;
    Ok(out)
}

/// Reads the envelope of an internal message and returns its kind, for a receiver that takes
/// several kinds on one subject.
pub fn peek_kind(payload: &[u8]) -> Result<MessageKind, CodecError> {
    envelope(payload).map(|(kind, _)| kind)
}

/// Decodes an internal message of type `T`.
pub fn decode_internal<T: Message>(payload: &[u8]) -> Result<T, CodecError> {
    let (kind, body) = envelope(payload)?;
    if kind != T::KIND {
        return Err(CodecError::WrongKind {
            expected: T::KIND,
            found: kind,
        });
    }
    let (message, read) = bincode::serde::decode_from_slice::<T, _>(body, BINCODE)
        .map_err(|err| bincode_error(T::KIND, err))?;
    if read != body.len() {
        return Err(CodecError::Garbage(format!(
            "{} trailing bytes after the {} body",
            body.len().saturating_sub(read),
            T::KIND
        )));
    }
    Ok(message)
}

/// Checks the envelope; returns the kind and the body.
fn envelope(payload: &[u8]) -> Result<(MessageKind, &[u8]), CodecError> {
    check_size(payload.len())?;
    if payload.is_empty() {
        return Err(CodecError::Truncated("empty payload".to_string()));
    }
    let magic_len = payload.len().min(MAGIC.len());
    if payload.get(..magic_len) != MAGIC.get(..magic_len) {
        return Err(CodecError::Garbage(
            "payload does not start with the kaniko envelope".to_string(),
        ));
    }
    let (Some(&[v0, v1, kind]), Some(body)) = (
        payload.get(MAGIC.len()..ENVELOPE_LEN),
        payload.get(ENVELOPE_LEN..),
    ) else {
        return Err(CodecError::Truncated(format!(
            "{} bytes, shorter than the {ENVELOPE_LEN}-byte envelope",
            payload.len()
        )));
    };
    let version = u16::from_be_bytes([v0, v1]);
    check_version(u64::from(version))?;
    if version < MIN_INTERNAL_VERSION {
        return Err(CodecError::PastVersion {
            found: u64::from(version),
            needed: MIN_INTERNAL_VERSION,
        });
    }
    let kind = MessageKind::from_byte(kind)
        .ok_or_else(|| CodecError::Garbage(format!("unknown message kind {kind}")))?;
    Ok((kind, body))
}

fn check_size(size: usize) -> Result<(), CodecError> {
    if size > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            size,
            limit: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

fn check_version(version: u64) -> Result<(), CodecError> {
    if version == 0 {
        return Err(CodecError::Invalid(
            "protocol version 0 does not exist".to_string(),
        ));
    }
    if version > u64::from(PROTOCOL_VERSION) {
        return Err(CodecError::FutureVersion {
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    Ok(())
}

fn bincode_error(kind: MessageKind, err: bincode::error::DecodeError) -> CodecError {
    use bincode::error::DecodeError;
    match err {
        DecodeError::UnexpectedEnd { .. } => {
            CodecError::Truncated(format!("the {kind} body ends early"))
        }
        // Raised by our own deserializers (a junk platform) and serde's derives.
        DecodeError::OtherString(reason) => CodecError::Invalid(format!("{kind}: {reason}")),
        DecodeError::Other(reason) => CodecError::Invalid(format!("{kind}: {reason}")),
        other => CodecError::Garbage(format!("corrupt {kind} body: {other}")),
    }
}

/// Encodes a public message as a JSON object with `"protocol"` added. Only types that
/// serialise to a JSON object can be encoded.
pub fn encode_json<T: Serialize>(message: &T) -> Result<Vec<u8>, CodecError> {
    let value = serde_json::to_value(message)
        .map_err(|err| CodecError::Invalid(format!("cannot encode as JSON: {err}")))?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(CodecError::Invalid(
            "a JSON message must be an object".to_string(),
        ));
    };
    object.insert(JSON_PROTOCOL_FIELD.to_string(), PROTOCOL_VERSION.into());
    let bytes = serde_json::to_vec(&object)
        .map_err(|err| CodecError::Invalid(format!("cannot encode as JSON: {err}")))?;
    check_size(bytes.len())?;
    Ok(bytes)
}

/// Decodes a public JSON message: one object; its `"protocol"` (if any) no newer than
/// [`PROTOCOL_VERSION`]; the rest decoded as `T`.
pub fn decode_json<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CodecError> {
    check_size(payload.len())?;
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|err| {
        if err.is_eof() {
            CodecError::Truncated(format!("JSON ends early: {err}"))
        } else {
            CodecError::Garbage(format!("not JSON: {err}"))
        }
    })?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(CodecError::Invalid(
            "a JSON message must be an object".to_string(),
        ));
    };
    if let Some(version) = object.remove(JSON_PROTOCOL_FIELD) {
        let Some(version) = version.as_u64() else {
            return Err(CodecError::Invalid(format!(
                "\"protocol\" must be a positive integer, got {version}"
            )));
        };
        check_version(version)?;
    }
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|err| CodecError::Invalid(err.to_string()))
}

/// The two encodings of the request API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// [`CONTENT_TYPE_JSON`], the default when no content type is given.
    Json,
    /// [`CONTENT_TYPE_BINCODE`].
    Bincode,
}

impl Encoding {
    /// The content type to put in the [`CONTENT_TYPE_HEADER`].
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => CONTENT_TYPE_JSON,
            Encoding::Bincode => CONTENT_TYPE_BINCODE,
        }
    }

    /// The encoding of a `Content-Type` header value: parameters (`; charset=utf-8`) and case
    /// are ignored; no header (or an empty one) means JSON.
    pub fn from_content_type(content_type: Option<&str>) -> Result<Encoding, CodecError> {
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match essence.as_str() {
            "" | CONTENT_TYPE_JSON => Ok(Encoding::Json),
            CONTENT_TYPE_BINCODE => Ok(Encoding::Bincode),
            _ => Err(CodecError::Invalid(format!(
                "unsupported content type {:?}: use {CONTENT_TYPE_JSON} or {CONTENT_TYPE_BINCODE}",
                content_type.unwrap_or_default()
            ))),
        }
    }

    /// Encodes `message` in this encoding (a reply goes out in its request's encoding).
    pub fn encode<T: Message>(self, message: &T) -> Result<Vec<u8>, CodecError> {
        match self {
            Encoding::Json => encode_json(message),
            Encoding::Bincode => encode_internal(message),
        }
    }

    /// Decodes a `T` in this encoding.
    pub fn decode<T: Message>(self, payload: &[u8]) -> Result<T, CodecError> {
        match self {
            Encoding::Json => decode_json(payload),
            Encoding::Bincode => decode_internal(payload),
        }
    }
}

/// Checks a `Kaniko-Protocol` header value: absent is fine, otherwise a version this build
/// speaks.
pub fn check_protocol_header(protocol: Option<&str>) -> Result<(), CodecError> {
    let Some(raw) = protocol else {
        return Ok(());
    };
    let version: u64 = raw.trim().parse().map_err(|_| {
        CodecError::Invalid(format!(
            "{PROTOCOL_HEADER} header {raw:?} is not a version number"
        ))
    })?;
    check_version(version)
}

/// Decodes an API message by its headers: the `Kaniko-Protocol` value (if any) is checked,
/// then the payload is decoded as JSON or enveloped bincode by `Content-Type`.
pub fn decode_by_content_type<T: Message>(
    content_type: Option<&str>,
    protocol: Option<&str>,
    payload: &[u8],
) -> Result<T, CodecError> {
    check_protocol_header(protocol)?;
    Encoding::from_content_type(content_type)?.decode(payload)
}

#[cfg(test)]
mod tests;
