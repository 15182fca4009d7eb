// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of the policy: loading (every mistake named with its file, line or identity),
//! admission, push and pull checks against hostile names, build access, and the reply
//! subjects the coordinator will answer on.

use super::*;
use kaniko_common::messages::ContextRef;

const POLICY: &str = r#"{
  "identities": {
    "alice": {"push": ["127.0.0.1:5000/team-a/*"], "pull": ["127.0.0.1:5000/base/*"]},
    "bob":   {"push": ["127.0.0.1:5000/team-b/app"], "pull": ["*"]},
    "ops":   {"push": ["*"], "pull": ["*"], "admin": true}
  }
}"#;

fn policy() -> Policy {
    Policy::parse(POLICY, Path::new("policy.json")).unwrap()
}

fn request(destinations: &[&str]) -> BuildRequest {
    BuildRequest::new(
        ContextRef {
            sha256: "a".repeat(64),
            size: 1,
        },
        vec![Platform::parse("linux/amd64").unwrap()],
        destinations.iter().map(ToString::to_string).collect(),
    )
}

#[test]
fn a_policy_file_loads_and_its_mistakes_are_named() {
    let loaded = policy();
    let ids: Vec<&str> = loaded.identities().map(|(id, _)| id).collect();
    assert_eq!(ids, ["alice", "bob", "ops"]);
    assert!(loaded.grant("ops").unwrap().admin);
    assert!(!loaded.grant("alice").unwrap().admin);

    fn check(text: &str, needle: &str) {
        let err = Policy::parse(text, Path::new("/etc/kaniko/policy.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/etc/kaniko/policy.json") && err.contains(needle),
            "{text}: {err}"
        );
    }
    check("{", "line 1, column 1");
    check("{\"identities\": {}}", "it names no identity");
    check(
        "{\"identities\": {\"a\": {\"push\": [\"*\"], \"pull\": [\"*\"]}}, \"extra\": 1}",
        "unknown field `extra`",
    );
    check(
        "{\"identities\": {\"a\": {\"push\": [\"*\"], \"pull\": [\"*\"], \"admn\": true}}}",
        "unknown field `admn`",
    );
    check(
        "{\"identities\": {\"a\": {\"pull\": [\"*\"]}}}",
        "identity \"a\": \"push\" is missing",
    );
    check(
        "{\"identities\": {\"a\": {\"push\": [\"*\"]}}}",
        "identity \"a\": \"pull\" is missing",
    );
    check(
        "{\"identities\": {\"a.b\": {\"push\": [\"*\"], \"pull\": [\"*\"]}}}",
        "identity \"a.b\": invalid identity",
    );
    check(
        "{\"identities\": {\"a\": {\"push\": [\"team-a/*\"], \"pull\": [\"*\"]}}}",
        "identity \"a\": \"push\": repository pattern \"team-a/*\"",
    );
    let missing = Policy::load(Path::new("/nonexistent/policy.json")).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("reading the policy /nonexistent/policy.json"),
        "{missing}"
    );
}

#[test]
fn requests_are_admitted_by_whether_there_is_a_policy() {
    let names = Names::default();
    let loaded = policy();
    assert_eq!(admit(None, &names, Caller::Anonymous), Ok(()));
    let err = admit(None, &names, Caller::Identity("alice")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(err.message.contains("without a policy"), "{err}");
    let err = admit(Some(&loaded), &names, Caller::Anonymous).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(
        err.message.contains("kaniko.api.<identity>.<verb>"),
        "{err}"
    );
    assert_eq!(
        admit(Some(&loaded), &names, Caller::Identity("bob")),
        Ok(())
    );
    let err = admit(Some(&loaded), &names, Caller::Identity("eve")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unauthorized: identity \"eve\" is not in the policy"
    );
}

#[test]
fn destinations_outside_the_identity_s_patterns_are_refused_naming_both() {
    let loaded = policy();
    let dockerfile = Dockerfile::parse("FROM scratch\nCOPY a /a\n").unwrap();
    fn check(
        policy: &Policy,
        dockerfile: &Dockerfile,
        identity: &str,
        destinations: &[&str],
        refused: Option<&str>,
    ) {
        let got = policy.authorize_build(identity, &request(destinations), dockerfile);
        match refused {
            None => assert_eq!(got, Ok(()), "{identity} {destinations:?}"),
            Some(needle) => {
                let err = got.unwrap_err();
                assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
                assert!(
                    err.message.contains(identity) && err.message.contains(needle),
                    "{identity} {destinations:?}: {err}"
                );
            }
        }
    }
    check(
        &loaded,
        &dockerfile,
        "alice",
        &["127.0.0.1:5000/team-a/app:1", "127.0.0.1:5000/team-a/x/y:2"],
        None,
    );
    check(
        &loaded,
        &dockerfile,
        "alice",
        &["127.0.0.1:5000/team-a/app:1", "127.0.0.1:5000/team-b/app:1"],
        Some(
            "may not push to 127.0.0.1:5000/team-b/app (destination \"127.0.0.1:5000/team-b/app:1\"); it may push to 127.0.0.1:5000/team-a/*",
        ),
    );
    check(
        &loaded,
        &dockerfile,
        "alice",
        &["127.0.0.1:5000/team-ab/app:1"],
        Some("team-ab/app"),
    );
    check(
        &loaded,
        &dockerfile,
        "alice",
        &["127.0.0.1:5001/team-a/app:1"],
        Some("127.0.0.1:5001/team-a/app"),
    );
    check(
        &loaded,
        &dockerfile,
        "alice",
        &["127.0.0.1:5000/team-a/../team-b/app:1"],
        Some("team-a/../team-b"),
    );
    check(
        &loaded,
        &dockerfile,
        "alice",
        &["127.0.0.1:5000/team-a/app,127.0.0.1:5000/team-b/app"],
        Some("may not push"),
    );
    check(
        &loaded,
        &dockerfile,
        "bob",
        &["127.0.0.1:5000/team-b/app:latest"],
        None,
    );
    check(
        &loaded,
        &dockerfile,
        "bob",
        &["127.0.0.1:5000/team-b/app2:1"],
        Some("team-b/app2"),
    );
    check(&loaded, &dockerfile, "ops", &["anything.example/x:1"], None);
    check(
        &loaded,
        &dockerfile,
        "eve",
        &["127.0.0.1:5000/team-a/app:1"],
        Some("not in the policy"),
    );
}

#[test]
fn every_image_the_dockerfile_pulls_must_be_allowed() {
    let loaded = policy();
    fn check(policy: &Policy, text: &str, build_args: &[(&str, &str)], refused: Option<&str>) {
        let dockerfile = Dockerfile::parse(text).unwrap();
        let mut req = request(&["127.0.0.1:5000/team-a/app:1"]);
        req.build_args = build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let got = policy.authorize_build("alice", &req, &dockerfile);
        match refused {
            None => assert_eq!(got, Ok(()), "{text}"),
            Some(needle) => {
                let err = got.unwrap_err();
                assert!(err.message.contains(needle), "{text}: {err}");
            }
        }
    }
    check(&loaded, "FROM 127.0.0.1:5000/base/busybox\n", &[], None);
    check(&loaded, "FROM scratch\n", &[], None);
    check(
        &loaded,
        "FROM 127.0.0.1:5000/private/secret-base\n",
        &[],
        Some("may not pull 127.0.0.1:5000/private/secret-base (Dockerfile:1"),
    );
    check(
        &loaded,
        "ARG BASE=127.0.0.1:5000/base/busybox\nFROM $BASE\n",
        &[("BASE", "127.0.0.1:5000/private/x")],
        Some("may not pull 127.0.0.1:5000/private/x"),
    );
    check(
        &loaded,
        "FROM 127.0.0.1:5000/base/busybox\nCOPY --from=127.0.0.1:5000/private/tools /bin/x /x\n",
        &[],
        Some("127.0.0.1:5000/private/tools"),
    );
    check(
        &loaded,
        "FROM 127.0.0.1:5000/base/busybox\nRUN --mount=type=bind,from=127.0.0.1:5000/private/tools,target=/t true\n",
        &[],
        Some("127.0.0.1:5000/private/tools"),
    );
    check(
        &loaded,
        "FROM 127.0.0.1:5000/base/busybox AS a\nFROM a\nCOPY --from=a /x /x\n",
        &[],
        None,
    );
}

#[test]
fn a_build_is_seen_and_cancelled_by_its_owner_and_admins_only() {
    let loaded = policy();
    let p = Some(&loaded);
    assert_eq!(
        may_access(None, Caller::Anonymous, "b1", Some("alice"), Access::Cancel),
        Ok(())
    );
    assert_eq!(
        may_access(
            p,
            Caller::Identity("alice"),
            "b1",
            Some("alice"),
            Access::Cancel
        ),
        Ok(())
    );
    assert_eq!(
        may_access(
            p,
            Caller::Identity("ops"),
            "b1",
            Some("alice"),
            Access::Cancel
        ),
        Ok(())
    );
    let err = may_access(
        p,
        Caller::Identity("bob"),
        "b1",
        Some("alice"),
        Access::Cancel,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unauthorized: identity \"bob\" may not cancel build b1: another identity submitted it"
    );
    let err = may_access(p, Caller::Identity("bob"), "b1", None, Access::Read).unwrap_err();
    assert!(err.message.contains("may not see build b1"), "{err}");
    assert!(may_access(p, Caller::Anonymous, "b1", None, Access::Read).is_err());
    assert!(lists(p, Caller::Identity("alice"), Some("alice")));
    assert!(!lists(p, Caller::Identity("alice"), Some("bob")));
    assert!(lists(p, Caller::Identity("ops"), Some("bob")));
    assert!(lists(None, Caller::Anonymous, Some("bob")));
}

#[test]
fn replies_go_only_to_the_caller_s_own_inbox() {
    fn check(caller: Caller<'_>, reply: &str, allowed: bool) {
        assert_eq!(
            reply_allowed(&Names::default(), caller, reply),
            allowed,
            "{caller:?} {reply}"
        );
    }
    let alice = Caller::Identity("alice");
    check(alice, "_INBOX.kaniko.user.alice.abc.1", true);
    check(alice, "_INBOX.kaniko.user.alice", false);
    check(alice, "_INBOX.kaniko.user.alice.", false);
    check(alice, "_INBOX.kaniko.user.alicex.abc", false);
    check(alice, "_INBOX.kaniko.user.bob.abc", false);
    check(alice, "_INBOX.abc", false);
    check(alice, "$JS.API.STREAM.PURGE.KANIKO_TASKS", false);
    check(alice, "kaniko.cancel.b1", false);
    let anonymous = Caller::Anonymous;
    check(anonymous, "_INBOX.abc.1", true);
    check(anonymous, "my-service.replies.1", true);
    check(anonymous, "$JS.API.STREAM.PURGE.KANIKO_TASKS", false);
    check(anonymous, "$KV.KANIKO_BUILDS.b1", false);
    check(anonymous, "$O.KANIKO_CONTEXTS.M.x", false);
    check(anonymous, "kaniko.cancel.b1", false);
    check(anonymous, "kaniko.tasks.linux.amd64._", false);
    check(anonymous, "kaniko", false);
    check(anonymous, "_INBOX.kaniko.user.alice.x", false);
    check(anonymous, "_INBOX.kaniko.coordinator.x", false);
    check(anonymous, "kanikox.y", true);
    check(anonymous, "", false);
}
