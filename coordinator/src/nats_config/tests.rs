// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of the generated layout: what each role may and may not touch, the keys kept across
//! runs, and bad seed files named. The server's enforcement is tested end to end in
//! tests/tests/e2e/authz.rs.

use super::*;

fn names() -> Names {
    Names::default()
}

fn has(list: &[String], subject: &str) -> bool {
    list.iter().any(|s| s == subject)
}

#[test]
fn a_submitter_may_touch_only_its_own_subjects_and_streams() {
    let alice = submitter(&names(), "alice", false, &["alice", "bob"]).unwrap();
    assert!(has(&alice.publish, "kaniko.api.alice.*"));
    assert!(has(&alice.publish, "$O.KANIKO_CONTEXTS_alice.>"));
    assert!(has(
        &alice.publish,
        "$JS.API.CONSUMER.CREATE.KANIKO_EVENTS_alice"
    ));
    assert_eq!(alice.subscribe, ["_INBOX.kaniko.user.alice.>"]);
    for subject in &alice.publish {
        for foreign in [
            "bob",
            "kaniko.tasks",
            "kaniko.results",
            "kaniko.workers",
            "kaniko.cancel",
            "kaniko.events",
            "KANIKO_TASKS",
            "KANIKO_RESULTS",
            "KANIKO_BUILDS",
            "KANIKO_WORKERS",
            "KANIKO_CONTEXTS.",
            "OBJ_KANIKO_CONTEXTS.",
            ">.",
        ] {
            assert!(!subject.contains(foreign), "alice may publish {subject}");
        }
        assert!(
            !subject.starts_with("$JS.API.STREAM.CREATE")
                && !subject.starts_with("$JS.API.STREAM.DELETE")
                && !subject.starts_with("$JS.API.STREAM.UPDATE")
                && subject != "$JS.API.>",
            "alice may publish {subject}"
        );
    }
    let ops = submitter(&names(), "ops", true, &["alice", "bob", "ops"]).unwrap();
    for owner in ["alice", "bob", "ops"] {
        assert!(
            has(
                &ops.publish,
                &format!("$JS.API.CONSUMER.CREATE.KANIKO_EVENTS_{owner}")
            ),
            "{owner}"
        );
    }
    assert!(!has(&ops.publish, "$O.KANIKO_CONTEXTS_alice.>"));
}

#[test]
fn the_daemons_get_their_own_subjects_and_inboxes() {
    let c = coordinator(&names(), &["alice"]).unwrap();
    for subject in [
        "kaniko.tasks.>",
        "kaniko.cancel.*",
        "_INBOX.kaniko.user.*.>",
        "$JS.API.STREAM.CREATE.KANIKO_EVENTS_alice",
        "$JS.API.STREAM.CREATE.OBJ_KANIKO_CONTEXTS_alice",
        "$JS.API.STREAM.PURGE.OBJ_KANIKO_CONTEXTS_alice",
    ] {
        assert!(has(&c.publish, subject), "coordinator: {subject}");
    }
    assert!(
        !c.publish
            .iter()
            .any(|s| s.contains(".results.") || s.contains(".workers."))
    );
    assert!(
        !c.publish
            .iter()
            .any(|s| s == "_INBOX.>" || s == "$JS.API.>" || s == ">")
    );
    assert!(has(&c.subscribe, "_INBOX.kaniko.coordinator.>"));
    let w = worker(&names(), &["alice"]).unwrap();
    for subject in [
        "kaniko.results.*",
        "kaniko.workers.*",
        "$JS.ACK.KANIKO_TASKS.>",
        "$JS.API.CONSUMER.CREATE.OBJ_KANIKO_CONTEXTS_alice",
        "$JS.API.DIRECT.GET.OBJ_KANIKO_CONTEXTS_alice.>",
    ] {
        assert!(has(&w.publish, subject), "worker: {subject}");
    }
    assert!(
        !w.publish.iter().any(|s| s.starts_with("$O.")),
        "workers never write contexts"
    );
    assert!(!w.publish.iter().any(|s| s.starts_with("kaniko.tasks")));
    assert!(
        !w.publish
            .iter()
            .any(|s| s.ends_with(".finished") || s == "kaniko.events.>")
    );
    assert_eq!(w.subscribe, ["kaniko.cancel.*", "_INBOX.kaniko.worker.>"]);
}

#[test]
fn seeds_are_generated_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::parse(
        r#"{"identities": {"alice": {"push": ["*"], "pull": ["*"]}}}"#,
        Path::new("p.json"),
    )
    .unwrap();
    let first = render(&names(), &policy, Path::new("p.json"), dir.path()).unwrap();
    let second = render(&names(), &policy, Path::new("p.json"), dir.path()).unwrap();
    assert_eq!(first, second, "the same keys on a second run");
    for file in ["coordinator.nk", "worker.nk", "identity-alice.nk"] {
        let path = dir.path().join(file);
        let meta = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        let seed = std::fs::read_to_string(&path).unwrap();
        assert!(seed.starts_with("SU"), "{file}");
        assert!(
            !first.contains(seed.trim()),
            "a seed is never in the config"
        );
        let public = nkeys::KeyPair::from_seed(seed.trim()).unwrap().public_key();
        assert!(first.contains(&public), "{file}'s key is in the config");
    }
    assert!(first.contains("authorization {") && !first.contains("no_auth_user:"));
    std::fs::write(dir.path().join("worker.nk"), "not a seed\n").unwrap();
    let err = render(&names(), &policy, Path::new("p.json"), dir.path()).unwrap_err();
    assert!(
        format!("{err:#}").contains("worker.nk does not hold an nkey user seed"),
        "{err:#}"
    );
}

#[test]
fn the_prefix_names_every_subject_and_stream() {
    let names = Names::new("ci").unwrap();
    let alice = submitter(&names, "alice", false, &["alice"]).unwrap();
    assert!(has(&alice.publish, "ci.api.alice.*"));
    assert!(has(&alice.publish, "$O.CI_CONTEXTS_alice.>"));
    assert!(has(&alice.publish, "$JS.API.STREAM.INFO.CI_EVENTS_alice"));
    assert_eq!(alice.subscribe, ["_INBOX.ci.user.alice.>"]);
    let c = coordinator(&names, &["alice"]).unwrap();
    assert!(has(&c.publish, "ci.tasks.>") && has(&c.publish, "$JS.API.STREAM.CREATE.CI_TASKS"));
    assert!(
        !c.publish
            .iter()
            .any(|s| s.contains("kaniko") || s.contains("KANIKO"))
    );
}
