// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of the NATS names: every name under the default and a custom prefix, validation of
//! prefixes, ids and identities, and subjects parsed back.

use super::*;

fn p(text: &str) -> Platform {
    Platform::parse(text).unwrap()
}

#[test]
fn every_name_under_the_default_prefix() {
    fn check(got: Result<String, NameError>, expected: &str) {
        assert_eq!(got.as_deref(), Ok(expected));
    }
    let n = Names::default();
    check(Ok(n.api(ApiVerb::Submit)), "kaniko.api.submit");
    check(Ok(n.api(ApiVerb::Status)), "kaniko.api.status");
    check(Ok(n.api(ApiVerb::Cancel)), "kaniko.api.cancel");
    check(Ok(n.api(ApiVerb::List)), "kaniko.api.list");
    check(Ok(n.api(ApiVerb::Workers)), "kaniko.api.workers");
    check(Ok(n.api_all()), "kaniko.api.*");
    check(n.tasks(&p("linux/amd64")), "kaniko.tasks.linux.amd64._");
    check(n.tasks(&p("linux/arm/v7")), "kaniko.tasks.linux.arm.v7");
    check(Ok(n.tasks_all()), "kaniko.tasks.>");
    check(n.results("b1"), "kaniko.results.b1");
    check(Ok(n.results_all()), "kaniko.results.*");
    check(n.events("b1", EventType::Log), "kaniko.events.b1.log");
    check(
        n.events("b1", EventType::PlatformDone),
        "kaniko.events.b1.platform_done",
    );
    check(n.events_of("b1"), "kaniko.events.b1.*");
    check(Ok(n.events_all()), "kaniko.events.>");
    check(n.worker_heartbeat("w-1"), "kaniko.workers.w-1");
    check(Ok(n.workers_all()), "kaniko.workers.*");
    check(n.cancel("b1"), "kaniko.cancel.b1");
    check(Ok(n.cancel_all()), "kaniko.cancel.*");
    check(Ok(n.tasks_stream()), "KANIKO_TASKS");
    check(Ok(n.results_stream()), "KANIKO_RESULTS");
    check(Ok(n.events_stream()), "KANIKO_EVENTS");
    check(
        n.tasks_consumer(&p("linux/amd64")),
        "KANIKO_TASKS_linux-amd64",
    );
    check(
        n.tasks_consumer(&p("linux/arm/v7")),
        "KANIKO_TASKS_linux-arm-v7",
    );
    check(
        n.tasks_cross(&p("linux/arm64")),
        "kaniko.tasks.cross.linux.arm64._",
    );
    check(
        n.tasks_cross(&p("linux/arm/v7")),
        "kaniko.tasks.cross.linux.arm.v7",
    );
    check(
        n.tasks_cross_consumer(&p("linux/arm64")),
        "KANIKO_TASKS_CROSS_linux-arm64",
    );
    check(
        n.tasks_cross_consumer(&p("linux/arm/v7")),
        "KANIKO_TASKS_CROSS_linux-arm-v7",
    );
    check(Ok(n.builds_bucket()), "KANIKO_BUILDS");
    check(Ok(n.workers_bucket()), "KANIKO_WORKERS");
    check(Ok(n.contexts_store()), "KANIKO_CONTEXTS");
    check(Ok(kv_stream(&n.builds_bucket())), "KV_KANIKO_BUILDS");
    check(
        Ok(kv_stream_subjects(&n.builds_bucket())),
        "$KV.KANIKO_BUILDS.>",
    );
}

#[test]
fn a_custom_prefix_changes_every_name() {
    let n = Names::new("ci-2_x").unwrap();
    assert_eq!(n.prefix(), "ci-2_x");
    assert_eq!(n.api(ApiVerb::Submit), "ci-2_x.api.submit");
    assert_eq!(
        n.tasks(&p("linux/arm64")).unwrap(),
        "ci-2_x.tasks.linux.arm64._"
    );
    assert_eq!(n.tasks_stream(), "CI_2_X_TASKS");
    assert_eq!(
        n.tasks_consumer(&p("linux/arm64")).unwrap(),
        "CI_2_X_TASKS_linux-arm64"
    );
    assert_eq!(
        n.tasks_cross(&p("linux/arm64")).unwrap(),
        "ci-2_x.tasks.cross.linux.arm64._"
    );
    assert_eq!(
        n.tasks_cross_consumer(&p("linux/arm64")).unwrap(),
        "CI_2_X_TASKS_CROSS_linux-arm64"
    );
    assert_eq!(n.builds_bucket(), "CI_2_X_BUILDS");
    assert_eq!(n.contexts_store(), "CI_2_X_CONTEXTS");
    assert_eq!(Names::new(DEFAULT_PREFIX), Ok(Names::default()));
}

#[test]
fn prefix_is_validated() {
    fn check(prefix: &str, expected: Option<&'static str>) {
        let got = Names::new(prefix).err();
        let expected = expected.map(|reason| NameError::InvalidPrefix {
            prefix: prefix.into(),
            reason,
        });
        assert_eq!(got, expected, "prefix {prefix:?}");
    }
    check("kaniko", None);
    check("Kaniko-Prod_1", None);
    check("", Some("it is empty"));
    check("a.b", Some("use only letters, digits, '_' and '-'"));
    check("a*", Some("use only letters, digits, '_' and '-'"));
    check(">", Some("use only letters, digits, '_' and '-'"));
    check("a b", Some("use only letters, digits, '_' and '-'"));
    check("ka\tniko", Some("use only letters, digits, '_' and '-'"));
    check(&"k".repeat(33), Some("it is longer than 32 bytes"));
    check("_INBOX", Some("it is the reply inboxes' root"));
    assert_eq!(
        Names::new("a.b").unwrap_err().to_string(),
        "invalid NATS prefix \"a.b\": use only letters, digits, '_' and '-'"
    );
}

#[test]
fn ids_used_as_tokens_are_validated() {
    fn check(id: &str, expected: Option<&'static str>) {
        let n = Names::default();
        let expected_err = expected.map(|reason| NameError::InvalidToken {
            what: "build id",
            value: id.into(),
            reason,
        });
        assert_eq!(n.results(id).err(), expected_err, "results {id:?}");
        assert_eq!(n.cancel(id).err(), expected_err, "cancel {id:?}");
        assert_eq!(n.events_of(id).err(), expected_err, "events_of {id:?}");
        assert_eq!(
            n.events(id, EventType::Accepted).err(),
            expected_err,
            "events {id:?}"
        );
        let worker_err = expected.map(|reason| NameError::InvalidToken {
            what: "worker id",
            value: id.into(),
            reason,
        });
        assert_eq!(n.worker_heartbeat(id).err(), worker_err, "worker {id:?}");
    }
    check("b1", None);
    check("01HZX-abc_DEF", None);
    check("", Some("it is empty"));
    check("a.b", Some("use only letters, digits, '_' and '-'"));
    check("*", Some("use only letters, digits, '_' and '-'"));
    check(">", Some("use only letters, digits, '_' and '-'"));
    check("a b", Some("use only letters, digits, '_' and '-'"));
    check("a\n", Some("use only letters, digits, '_' and '-'"));
    check(&"x".repeat(129), Some("it is longer than 128 bytes"));
    assert_eq!(
        Names::default().results("a.b").unwrap_err().to_string(),
        "invalid build id \"a.b\": use only letters, digits, '_' and '-'"
    );
}

#[test]
fn an_unnormalised_platform_gives_the_normal_subject_and_junk_is_refused() {
    let n = Names::default();
    let raw = Platform {
        os: "linux".into(),
        architecture: "aarch64".into(),
        variant: Some("v8".into()),
    };
    assert_eq!(n.tasks(&raw).unwrap(), "kaniko.tasks.linux.arm64._");
    let junk = Platform {
        os: "linux".into(),
        architecture: "*".into(),
        variant: None,
    };
    assert!(matches!(
        n.tasks(&junk),
        Err(NameError::InvalidToken {
            what: "platform",
            ..
        })
    ));
    assert!(n.tasks_consumer(&junk).is_err());
    assert!(n.tasks_cross(&junk).is_err());
    assert!(n.tasks_cross_consumer(&junk).is_err());
}

#[test]
fn subjects_parse_back() {
    let n = Names::default();
    assert_eq!(n.parse_api("kaniko.api.status"), Ok(ApiVerb::Status));
    assert_eq!(
        n.parse_tasks("kaniko.tasks.linux.arm.v7"),
        Ok(p("linux/arm/v7"))
    );
    assert_eq!(
        n.parse_tasks("kaniko.tasks.cross.linux.arm64._"),
        Ok(p("linux/arm64"))
    );
    assert_eq!(n.parse_results("kaniko.results.b1"), Ok("b1"));
    assert_eq!(
        n.parse_events("kaniko.events.b1.platform_failed"),
        Ok(("b1", EventType::PlatformFailed))
    );
    assert_eq!(n.parse_worker_heartbeat("kaniko.workers.w-1"), Ok("w-1"));
    assert_eq!(n.parse_cancel("kaniko.cancel.b1"), Ok("b1"));
    for verb in ApiVerb::ALL {
        assert_eq!(n.parse_api(&n.api(verb)), Ok(verb));
    }
    for event in EventType::ALL {
        assert_eq!(
            n.parse_events(&n.events("b2", event).unwrap()),
            Ok(("b2", event))
        );
    }

    fn refused(got: Result<impl std::fmt::Debug, NameError>, subject: &str, expected: &str) {
        match got {
            Err(NameError::UnexpectedSubject {
                subject: s,
                expected: e,
            }) => {
                assert_eq!((s.as_str(), e), (subject, expected));
            }
            other => panic!("{subject:?} gave {other:?}"),
        }
    }
    refused(n.parse_api("kaniko.api.delete"), "kaniko.api.delete", "api");
    refused(n.parse_api("other.api.submit"), "other.api.submit", "api");
    refused(
        n.parse_api("kanikox.api.submit"),
        "kanikox.api.submit",
        "api",
    );
    refused(
        n.parse_tasks("kaniko.tasks.linux.amd64"),
        "kaniko.tasks.linux.amd64",
        "tasks",
    );
    refused(
        n.parse_tasks("kaniko.tasks.cross.linux"),
        "kaniko.tasks.cross.linux",
        "tasks",
    );
    refused(
        n.parse_results("kaniko.results.b1.x"),
        "kaniko.results.b1.x",
        "results",
    );
    refused(
        n.parse_results("kaniko.results."),
        "kaniko.results.",
        "results",
    );
    refused(
        n.parse_events("kaniko.events.b1.nope"),
        "kaniko.events.b1.nope",
        "events",
    );
    refused(
        n.parse_events("kaniko.events.b1"),
        "kaniko.events.b1",
        "events",
    );
    refused(
        n.parse_cancel("kaniko.workers.b1"),
        "kaniko.workers.b1",
        "cancel",
    );
}

#[test]
fn sanitize_makes_valid_tokens() {
    fn check(raw: &str, expected: &str) {
        let token = sanitize_token(raw);
        assert_eq!(token, expected);
        assert_eq!(validate_token("worker id", &token), Ok(()));
    }
    check("node-1.example.com", "node-1-example-com");
    check("", "-");
    check("a b*c>", "a-b-c-");
    check("ünï", "-n-");
    check(&"x".repeat(200), &"x".repeat(128));
}

proptest::proptest! {
    /// Work-queue streams refuse overlapping consumer filters: the native and the cross
    /// subject (and consumer) of any two platforms never coincide, and each parses back
    /// to its own platform.
    #[test]
    fn native_and_cross_names_never_collide(
        os in "[a-z][a-z0-9]{0,7}",
        arch in "[a-z][a-z0-9]{0,7}",
        variant in proptest::option::of("v[0-9]"),
        other_os in "[a-z][a-z0-9]{0,7}",
        other_arch in "[a-z][a-z0-9]{0,7}",
    ) {
        let n = Names::default();
        let a = Platform { os, architecture: arch, variant };
        let b = Platform { os: other_os, architecture: other_arch, variant: None };
        if let (Ok(native), Ok(cross)) = (n.tasks(&a), n.tasks_cross(&b)) {
            proptest::prop_assert_ne!(&native, &cross);
            proptest::prop_assert_eq!(n.parse_tasks(&native), valid_platform(&a));
            proptest::prop_assert_eq!(n.parse_tasks(&cross), valid_platform(&b));
        }
        if let (Ok(native), Ok(cross)) = (n.tasks_consumer(&a), n.tasks_cross_consumer(&b)) {
            proptest::prop_assert_ne!(native, cross);
        }
    }
}

#[test]
fn an_identity_has_its_own_api_subjects_inbox_and_streams() {
    let n = Names::default();
    assert_eq!(
        n.api_as("alice", ApiVerb::Submit).unwrap(),
        "kaniko.api.alice.submit"
    );
    assert_eq!(n.api_identified(ApiVerb::Cancel), "kaniko.api.*.cancel");
    assert_eq!(
        n.identity_inbox("alice").unwrap(),
        "_INBOX.kaniko.user.alice"
    );
    assert_eq!(n.role_inbox(Role::Coordinator), "_INBOX.kaniko.coordinator");
    assert_eq!(n.role_inbox(Role::Worker), "_INBOX.kaniko.worker");
    assert_eq!(
        n.events_for(Some("alice"), "b1", EventType::Log).unwrap(),
        "kaniko.user.alice.events.b1.log"
    );
    assert_eq!(
        n.events_for(None, "b1", EventType::Log).unwrap(),
        "kaniko.events.b1.log"
    );
    assert_eq!(
        n.events_of_for(Some("alice"), "b1").unwrap(),
        "kaniko.user.alice.events.b1.*"
    );
    assert_eq!(n.events_of_for(None, "b1").unwrap(), "kaniko.events.b1.*");
    assert_eq!(
        n.owner_events_all("alice").unwrap(),
        "kaniko.user.alice.events.>"
    );
    assert_eq!(
        n.events_stream_for(Some("alice")).unwrap(),
        "KANIKO_EVENTS_alice"
    );
    assert_eq!(n.events_stream_for(None).unwrap(), "KANIKO_EVENTS");
    assert_eq!(
        n.contexts_store_for(Some("alice")).unwrap(),
        "KANIKO_CONTEXTS_alice"
    );
    assert_eq!(n.contexts_store_for(None).unwrap(), "KANIKO_CONTEXTS");
    assert_eq!(object_stream("KANIKO_CONTEXTS"), "OBJ_KANIKO_CONTEXTS");
    assert_eq!(
        object_stream_subjects("KANIKO_CONTEXTS"),
        "$O.KANIKO_CONTEXTS.>"
    );
}

#[test]
fn identities_are_validated_everywhere_they_become_a_name() {
    fn check(identity: &str, reason: Option<&'static str>) {
        let n = Names::default();
        let expected = reason.map(|reason| NameError::InvalidToken {
            what: "identity",
            value: identity.into(),
            reason,
        });
        assert_eq!(validate_identity(identity).err(), expected, "{identity:?}");
        assert_eq!(
            n.api_as(identity, ApiVerb::Submit).err(),
            expected,
            "{identity:?}"
        );
        assert_eq!(n.identity_inbox(identity).err(), expected, "{identity:?}");
        assert_eq!(
            n.events_stream_for(Some(identity)).err(),
            expected,
            "{identity:?}"
        );
        assert_eq!(
            n.contexts_store_for(Some(identity)).err(),
            expected,
            "{identity:?}"
        );
        assert_eq!(
            n.events_for(Some(identity), "b1", EventType::Log).err(),
            expected,
            "{identity:?}"
        );
    }
    check("alice", None);
    check("team-a_ci", None);
    check("", Some("it is empty"));
    check("a.b", Some("use only letters, digits, '_' and '-'"));
    check("*", Some("use only letters, digits, '_' and '-'"));
    check(">", Some("use only letters, digits, '_' and '-'"));
    check("a b", Some("use only letters, digits, '_' and '-'"));
    check("../x", Some("use only letters, digits, '_' and '-'"));
    check("a:b", Some("use only letters, digits, '_' and '-'"));
    check("a,b", Some("use only letters, digits, '_' and '-'"));
    check(&"x".repeat(65), Some("it is longer than 64 bytes"));
}

#[test]
fn request_subjects_name_their_verb_and_identity() {
    let n = Names::default();
    assert_eq!(
        n.parse_api_request("kaniko.api.submit"),
        Ok((ApiVerb::Submit, None))
    );
    assert_eq!(
        n.parse_api_request("kaniko.api.alice.status"),
        Ok((ApiVerb::Status, Some("alice")))
    );
    // An identity may be named like a verb: the token count tells them apart.
    assert_eq!(
        n.parse_api_request("kaniko.api.submit.cancel"),
        Ok((ApiVerb::Cancel, Some("submit")))
    );
    for verb in ApiVerb::ALL {
        assert_eq!(n.parse_api_request(&n.api(verb)), Ok((verb, None)));
        assert_eq!(
            n.parse_api_request(&n.api_as("bob", verb).unwrap()),
            Ok((verb, Some("bob")))
        );
    }
    for bad in [
        "kaniko.api.alice.delete",
        "kaniko.api.a.b.submit",
        "kaniko.api..submit",
        "kaniko.api",
        "other.api.alice.submit",
    ] {
        assert!(
            matches!(
                n.parse_api_request(bad),
                Err(NameError::UnexpectedSubject { .. })
            ),
            "{bad}"
        );
    }
}
