// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of the codec: every message round-trips in its encodings; garbage, truncated,
//! future-version, wrong-kind and oversized payloads give typed errors; random bytes never
//! panic a decoder; the JSON form is stable.

use std::fmt::Debug;

use proptest::prelude::*;

use super::*;
use crate::messages::samples;
use crate::messages::{Event, WorkersRequest};
use crate::platform::Platform;

/// Round-trips `value` through bincode and JSON, plain and by headers; returns its kind.
fn round_trip<T: Message + PartialEq + Debug>(value: T) -> MessageKind {
    let bytes = encode_internal(&value).unwrap();
    assert_eq!(peek_kind(&bytes), Ok(T::KIND));
    assert_eq!(decode_internal::<T>(&bytes).as_ref(), Ok(&value));
    assert_eq!(
        decode_by_content_type::<T>(Some(CONTENT_TYPE_BINCODE), Some("1"), &bytes).as_ref(),
        Ok(&value)
    );
    let json = encode_json(&value).unwrap();
    assert_eq!(decode_json::<T>(&json).as_ref(), Ok(&value));
    assert_eq!(
        decode_by_content_type::<T>(None, None, &json).as_ref(),
        Ok(&value)
    );
    assert_eq!(
        Encoding::Bincode
            .decode::<T>(&Encoding::Bincode.encode(&value).unwrap())
            .as_ref(),
        Ok(&value)
    );
    assert_eq!(
        Encoding::Json
            .decode::<T>(&Encoding::Json.encode(&value).unwrap())
            .as_ref(),
        Ok(&value)
    );
    T::KIND
}

/// Every sample message, encoded internally and as JSON.
fn all_payloads() -> Vec<(MessageKind, Vec<u8>, Vec<u8>)> {
    fn both<T: Message>(value: &T) -> (MessageKind, Vec<u8>, Vec<u8>) {
        (
            T::KIND,
            encode_internal(value).unwrap(),
            encode_json(value).unwrap(),
        )
    }
    let mut out = vec![
        both(&samples::task()),
        both(&samples::heartbeat()),
        both(&samples::build_request()),
    ];
    out.extend(samples::task_results().iter().map(both));
    out.extend(samples::submit_replies().iter().map(both));
    out.push(both(&StatusRequest {
        build_id: "b1".into(),
    }));
    out.extend(samples::status_replies().iter().map(both));
    out.push(both(&samples::cancel_request()));
    out.push(both(&samples::cancel_reply()));
    out.push(both(&samples::list_request()));
    out.push(both(&samples::list_reply()));
    out.push(both(&WorkersRequest {}));
    out.push(both(&samples::workers_reply()));
    out
}

/// Decodes `payload` as the type of `kind`, internally or as JSON, dropping the value.
fn decode_as(kind: MessageKind, json: bool, payload: &[u8]) -> Result<(), CodecError> {
    fn go<T: Message>(json: bool, payload: &[u8]) -> Result<(), CodecError> {
        if json {
            decode_json::<T>(payload).map(drop)
        } else {
            decode_internal::<T>(payload).map(drop)
        }
    }
    match kind {
        MessageKind::Task => go::<Task>(json, payload),
        MessageKind::TaskResult => go::<TaskResult>(json, payload),
        MessageKind::Heartbeat => go::<Heartbeat>(json, payload),
        MessageKind::BuildRequest => go::<BuildRequest>(json, payload),
        MessageKind::SubmitReply => go::<SubmitReply>(json, payload),
        MessageKind::StatusRequest => go::<StatusRequest>(json, payload),
        MessageKind::StatusReply => go::<StatusReply>(json, payload),
        MessageKind::CancelRequest => go::<CancelRequest>(json, payload),
        MessageKind::CancelReply => go::<CancelReply>(json, payload),
        MessageKind::ListRequest => go::<ListRequest>(json, payload),
        MessageKind::ListReply => go::<ListReply>(json, payload),
        MessageKind::WorkersRequest => go::<WorkersRequest>(json, payload),
        MessageKind::WorkersReply => go::<WorkersReply>(json, payload),
    }
}

#[test]
fn every_message_round_trips_in_both_encodings() {
    let mut kinds = vec![
        round_trip(samples::task()),
        round_trip(samples::heartbeat()),
    ];
    kinds.extend(samples::task_results().into_iter().map(round_trip));
    kinds.push(round_trip(samples::build_request()));
    kinds.extend(samples::submit_replies().into_iter().map(round_trip));
    kinds.push(round_trip(StatusRequest {
        build_id: "b1".into(),
    }));
    kinds.extend(samples::status_replies().into_iter().map(round_trip));
    kinds.push(round_trip(samples::cancel_request()));
    kinds.push(round_trip(samples::cancel_reply()));
    kinds.push(round_trip(samples::list_request()));
    kinds.push(round_trip(samples::list_reply()));
    kinds.push(round_trip(WorkersRequest {}));
    kinds.push(round_trip(samples::workers_reply()));
    for kind in MessageKind::ALL {
        assert!(kinds.contains(&kind), "no round trip for {kind}");
        assert_eq!(MessageKind::from_byte(kind.byte()), Some(kind));
    }
}

#[test]
fn every_event_round_trips_as_json() {
    for event in samples::events() {
        let json = encode_json(&event).unwrap();
        assert_eq!(
            decode_json::<Event>(&json).as_ref(),
            Ok(&event),
            "{}",
            String::from_utf8_lossy(&json)
        );
    }
}

#[test]
fn envelope_layout_is_magic_version_kind() {
    let bytes = encode_internal(&ListRequest::default()).unwrap();
    assert_eq!(bytes.get(..ENVELOPE_LEN), Some(&b"KNKO\x00\x04\x16"[..]));
}

#[test]
fn every_prefix_of_a_valid_payload_is_truncated() {
    for (kind, internal, json) in all_payloads() {
        for (encoding, payload) in [(false, &internal), (true, &json)] {
            for len in 0..payload.len() {
                let prefix = payload.get(..len).unwrap_or_default();
                let got = decode_as(kind, encoding, prefix);
                assert!(
                    matches!(got, Err(CodecError::Truncated(_))),
                    "{kind} json={encoding} prefix of {len}/{} gave {got:?}",
                    payload.len()
                );
            }
        }
    }
}

#[test]
fn bad_internal_payloads_give_typed_errors() {
    let task = encode_internal(&samples::task()).unwrap();
    let with_header = |header: &[u8]| {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(task.get(ENVELOPE_LEN..).unwrap_or_default());
        bytes
    };
    let mut trailing = task.clone();
    trailing.push(0);
    let mut bad_bool = encode_internal(&samples::heartbeat()).unwrap();
    if let Some(last) = bad_bool.last_mut() {
        *last = 7; // `leaving` is the last field
    }

    fn check(payload: &[u8], expected: CodecError) {
        assert_eq!(decode_internal::<Task>(payload).map(drop), Err(expected));
    }
    let garbage = |s: &str| CodecError::Garbage(s.to_string());
    check(
        b"hello world",
        garbage("payload does not start with the kaniko envelope"),
    );
    check(
        b"{\"build_id\":1}",
        garbage("payload does not start with the kaniko envelope"),
    );
    check(
        &with_header(b"KNKX\x00\x04\x01"),
        garbage("payload does not start with the kaniko envelope"),
    );
    check(
        &with_header(b"KNKO\x00\x04\x63"),
        garbage("unknown message kind 99"),
    );
    check(&trailing, garbage("1 trailing bytes after the task body"));
    check(
        &with_header(b"KNKO\x00\x05\x01"),
        CodecError::FutureVersion {
            found: 5,
            supported: 4,
        },
    );
    // A message of protocol 3 (a status without its queue position and coordinator, a
    // request without its signing switches) cannot be read as one of 4: refused by version,
    // never misread.
    check(
        &with_header(b"KNKO\x00\x03\x01"),
        CodecError::PastVersion {
            found: 3,
            needed: 4,
        },
    );
    check(
        &with_header(b"KNKO\xff\xff\x01"),
        CodecError::FutureVersion {
            found: 65535,
            supported: 4,
        },
    );
    check(
        &with_header(b"KNKO\x00\x00\x01"),
        CodecError::Invalid("protocol version 0 does not exist".into()),
    );
    check(
        &encode_internal(&samples::heartbeat()).unwrap(),
        CodecError::WrongKind {
            expected: MessageKind::Task,
            found: MessageKind::Heartbeat,
        },
    );
    check(
        &[0; MAX_MESSAGE_BYTES + 1],
        CodecError::TooLarge {
            size: MAX_MESSAGE_BYTES + 1,
            limit: MAX_MESSAGE_BYTES,
        },
    );
    assert!(matches!(
        decode_internal::<Heartbeat>(&bad_bool),
        Err(CodecError::Garbage(_))
    ));
}

#[test]
fn a_junk_platform_inside_bincode_is_refused() {
    let mut task = samples::task();
    task.platform = Platform {
        os: "linux".into(),
        architecture: "amd 64".into(),
        variant: None,
    };
    let bytes = encode_internal(&task).unwrap();
    let err = decode_internal::<Task>(&bytes).unwrap_err();
    assert!(
        matches!(&err, CodecError::Invalid(m) if m.contains("\"linux/amd 64\"")),
        "{err}"
    );
    assert_eq!(
        WireError::from(err).kind,
        ErrorKind::Protocol,
        "a codec error travels as a protocol error"
    );
}

#[test]
fn bad_json_payloads_give_typed_errors() {
    fn check(payload: &str, expected: Result<(), CodecError>) {
        assert_eq!(
            decode_json::<ListRequest>(payload.as_bytes()).map(drop),
            expected,
            "{payload}"
        );
    }
    let invalid = |s: &str| Err(CodecError::Invalid(s.to_string()));
    check("{}", Ok(()));
    check("{\"protocol\": 1, \"active_only\": true}", Ok(()));
    check("{\"protocol\": 2, \"active_only\": true}", Ok(()));
    check("{\"protocol\": 3, \"active_only\": true}", Ok(()));
    check("{\"protocol\": 4, \"active_only\": true}", Ok(()));
    check(
        "{\"protocol\": 5}",
        Err(CodecError::FutureVersion {
            found: 5,
            supported: 4,
        }),
    );
    check(
        "{\"protocol\": 0}",
        invalid("protocol version 0 does not exist"),
    );
    check(
        "{\"protocol\": \"1\"}",
        invalid("\"protocol\" must be a positive integer, got \"1\""),
    );
    check("[1, 2]", invalid("a JSON message must be an object"));
    check(
        "{\"limit\": \"ten\"}",
        invalid("invalid type: string \"ten\", expected u32"),
    );
    assert!(matches!(
        decode_json::<ListRequest>(b"not json"),
        Err(CodecError::Garbage(_))
    ));
    assert!(matches!(
        decode_json::<ListRequest>(b"{} {}"),
        Err(CodecError::Garbage(_))
    ));
    assert!(matches!(
        decode_json::<ListRequest>(b"\xff\xfe"),
        Err(CodecError::Garbage(_))
    ));
}

#[test]
fn minimal_json_submit_request_decodes_with_defaults() {
    let sha = "a".repeat(64);
    let json = format!(
        r#"{{"context":{{"sha256":"{sha}","size":10}},"platforms":["linux/amd64","linux/armhf"],"destinations":["localhost:5000/x:1"]}}"#
    );
    let request: BuildRequest = decode_by_content_type(None, None, json.as_bytes()).unwrap();
    let expected = BuildRequest::new(
        crate::messages::ContextRef {
            sha256: sha,
            size: 10,
        },
        vec![
            Platform::parse("linux/amd64").unwrap(),
            Platform::parse("linux/arm/v7").unwrap(),
        ],
        vec!["localhost:5000/x:1".into()],
    );
    assert_eq!(request, expected);
    assert_eq!(request.dockerfile, "Dockerfile");
    assert!(request.publish_index);
    assert_eq!(request.validate(), Ok(()));
}

#[test]
fn json_submit_request_refuses_misspelt_fields_and_junk_platforms() {
    fn check(json: &str, needle: &str) {
        let err = decode_json::<BuildRequest>(json.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, CodecError::Invalid(m) if m.contains(needle)),
            "{err} should mention {needle}"
        );
    }
    let context = format!(r#""context":{{"sha256":"{}","size":1}}"#, "a".repeat(64));
    check(
        &format!(
            r#"{{{context},"platforms":["linux/amd64"],"destinations":["r/x"],"platfroms":[]}}"#
        ),
        "platfroms",
    );
    check(
        &format!(r#"{{{context},"platforms":["linux/"],"destinations":["r/x"]}}"#),
        "\"linux/\"",
    );
    check(
        &format!(r#"{{{context},"platforms":["linux/amd64"]}}"#),
        "destinations",
    );
    check(
        &format!(
            r#"{{{context},"platforms":["linux/amd64"],"destinations":[],"oci_mode":"podman"}}"#
        ),
        "podman",
    );
}

#[test]
fn json_field_names_are_stable() {
    let json: serde_json::Value =
        serde_json::from_slice(&encode_json(&samples::build_request()).unwrap()).unwrap();
    let expected = serde_json::json!({
        "protocol": 4,
        "context": {"sha256": "a".repeat(64), "size": 12345},
        "dockerfile": "Dockerfile",
        "platforms": ["linux/amd64", "linux/arm64", "linux/arm/v7"],
        "destinations": ["localhost:5000/app:1", "localhost:5000/app:latest"],
        "build_args": {"VERSION": "1.2.3"},
        "target": "runtime",
        "labels": {"team": "build"},
        "compression": "zstd",
        "compression_level": 3,
        "oci_mode": "oci",
        "publish_index": true,
        "index_annotations": {"org.opencontainers.image.source": "git"},
        "allow_partial": true,
        "require_native_nodes": false,
        "timeout_secs": 600,
        "reproducible": true,
        "standard_annotations": {},
        "push_ignore_immutable_tag_errors": false,
        "arch_cache_repo_suffix": null,
        "cache": null,
        "sign_images": false,
        "sbom": false
    });
    assert_eq!(json, expected);

    let reply: serde_json::Value =
        serde_json::from_slice(&encode_json(&samples::workers_reply()).unwrap()).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({
            "protocol": 4,
            "error": null,
            "workers": [{
                "id": "worker-1",
                "native": "linux/amd64",
                "platforms": ["linux/amd64", "linux/arm64"],
                "allow_cross": true,
                "capacity": 2,
                "busy": 1,
                "version": "0.1.0",
                "last_seen_unix_ms": 1_700_000_000_000u64
            }]
        })
    );
}

#[test]
fn headers_choose_the_decoder() {
    fn check(content_type: Option<&str>, expected: Result<Encoding, ()>) {
        assert_eq!(
            Encoding::from_content_type(content_type).map_err(drop),
            expected,
            "{content_type:?}"
        );
    }
    check(None, Ok(Encoding::Json));
    check(Some(""), Ok(Encoding::Json));
    check(Some("application/json"), Ok(Encoding::Json));
    check(Some("Application/JSON; charset=utf-8"), Ok(Encoding::Json));
    check(Some("application/x-kaniko-bincode"), Ok(Encoding::Bincode));
    check(Some("text/plain"), Err(()));

    let bytes = encode_internal(&samples::cancel_request()).unwrap();
    let json = encode_json(&samples::cancel_request()).unwrap();
    assert_eq!(
        decode_by_content_type::<CancelRequest>(Some(CONTENT_TYPE_JSON), Some("5"), &json),
        Err(CodecError::FutureVersion {
            found: 5,
            supported: 4
        })
    );
    assert_eq!(
        decode_by_content_type::<CancelRequest>(Some(CONTENT_TYPE_BINCODE), Some("one"), &bytes),
        Err(CodecError::Invalid(
            "Kaniko-Protocol header \"one\" is not a version number".into()
        ))
    );
    assert!(matches!(
        decode_by_content_type::<CancelRequest>(Some(CONTENT_TYPE_JSON), None, &bytes),
        Err(CodecError::Garbage(_))
    ));
    assert!(matches!(
        decode_by_content_type::<CancelRequest>(Some("text/plain"), None, &json),
        Err(CodecError::Invalid(m)) if m.contains("text/plain")
    ));
}

#[test]
fn error_messages_read_well() {
    fn check(err: CodecError, expected: &str) {
        assert_eq!(err.to_string(), expected);
    }
    check(
        CodecError::FutureVersion {
            found: 3,
            supported: 2,
        },
        "message speaks protocol version 3, this build speaks up to 2",
    );
    check(
        CodecError::PastVersion {
            found: 1,
            needed: 2,
        },
        "message speaks protocol version 1, this build needs at least 2: upgrade the sender \
         (coordinator and workers of one fleet speak one version)",
    );
    check(
        CodecError::WrongKind {
            expected: MessageKind::Task,
            found: MessageKind::TaskResult,
        },
        "expected a task message, got a task result message",
    );
    check(
        CodecError::Truncated("empty payload".into()),
        "truncated message: empty payload",
    );
}

fn any_kind() -> impl Strategy<Value = MessageKind> {
    prop::sample::select(MessageKind::ALL.to_vec())
}

proptest! {
    #[test]
    fn random_bytes_never_panic_a_decoder(kind in any_kind(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_as(kind, false, &bytes);
        let _ = decode_as(kind, true, &bytes);
        let _ = decode_json::<Event>(&bytes);
        let _ = peek_kind(&bytes);
        let _ = decode_by_content_type::<BuildRequest>(Some(CONTENT_TYPE_BINCODE), None, &bytes);
    }

    #[test]
    fn random_bodies_behind_a_valid_envelope_never_panic(kind in any_kind(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut payload = b"KNKO\x00\x01".to_vec();
        payload.push(kind.byte());
        payload.extend_from_slice(&body);
        let _ = decode_as(kind, false, &payload);
    }

    #[test]
    fn corrupted_valid_payloads_never_panic(pick in any::<prop::sample::Index>(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let payloads = all_payloads();
        let (kind, internal, json) = pick.get(&payloads).clone();
        for (json_mode, mut payload) in [(false, internal), (true, json)] {
            for (at, byte) in &flips {
                let i = at.index(payload.len());
                if let Some(b) = payload.get_mut(i) {
                    *b = *byte;
                }
            }
            let _ = decode_as(kind, json_mode, &payload);
        }
    }
}
