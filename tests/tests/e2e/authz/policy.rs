// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Two submitters under one policy: each builds into its own repositories only; a
//! destination or a base image outside its patterns is refused before anything is built,
//! naming the identity and the repository; one cannot see, follow or cancel the other's
//! builds, and an admin can.

use kaniko_tests::skopeo_inspect_raw;

use super::Tenants;
use crate::fleet::describe;

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The build id `submit` printed (`build <id> submitted`).
fn build_id(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("build ")?.strip_suffix(" submitted"))
        .unwrap_or_else(|| panic!("no build id in\n{}", describe(output)))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_submitters_build_only_into_their_own_repositories_and_see_only_their_own_builds() {
    let tenants = Tenants::serving(&[]).await;
    let host = tenants.registry.host();

    // alice builds into team-a.
    let context = tenants.copy_context("alice-ctx");
    let ok = format!("{host}/team-a/app:1");
    let output = tenants.submit("alice", &context, &ok, &[]);
    assert!(
        output.status.success(),
        "{}\n{}",
        describe(&output),
        tenants.logs()
    );
    assert!(skopeo_inspect_raw(&ok).is_ok(), "alice's index was pushed");
    let alice_build = build_id(&output);

    // Not into team-b, nor anything that only looks like team-a.
    for destination in [
        format!("{host}/team-b/app:1"),
        format!("{host}/team-ab/app:1"),
        format!("{host}/team-a:1"),
        "127.0.0.1:1/team-a/app:1".to_string(),
    ] {
        let output = tenants.submit("alice", &context, &destination, &[]);
        let said = text(&output);
        assert_eq!(output.status.code(), Some(1), "{destination}\n{said}");
        let repository = destination
            .rsplit_once(':')
            .map_or(&*destination, |(r, _)| r);
        assert!(
            said.contains("unauthorized: identity \"alice\" may not push to")
                && said.contains(repository),
            "the refusal names alice and {repository}\n{said}"
        );
        assert!(
            skopeo_inspect_raw(&destination).is_err(),
            "{destination} was pushed"
        );
    }
    // `..` and `,` never make another repository: they are not references at all.
    for destination in [
        format!("{host}/team-a/../team-b/app:1"),
        format!("{host}/team-a/app,{host}/team-b/app"),
    ] {
        let output = tenants.submit("alice", &context, &destination, &[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{destination}\n{}",
            text(&output)
        );
    }
    assert!(skopeo_inspect_raw(&format!("{host}/team-b/app:1")).is_err());

    // A base image outside alice's pull patterns: bob's image, refused before any build.
    let sneaky = tenants.context(
        "alice-sneaky",
        &format!("FROM {host}/busybox\nCOPY --from={host}/team-b/secret:1 /etc/passwd /x\n"),
    );
    let output = tenants.submit("alice", &sneaky, &format!("{host}/team-a/sneaky:1"), &[]);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("identity \"alice\" may not pull")
            && said.contains(&format!("{host}/team-b/secret")),
        "{said}"
    );

    // bob builds into team-b.
    let bob_context = tenants.copy_context("bob-ctx");
    let bob_ok = format!("{host}/team-b/app:1");
    let output = tenants.submit("bob", &bob_context, &bob_ok, &[]);
    assert!(
        output.status.success(),
        "{}\n{}",
        describe(&output),
        tenants.logs()
    );
    let bob_build = build_id(&output);

    // bob can neither see, follow nor cancel alice's build; alice's list is hers only.
    for verb in ["status", "logs", "cancel"] {
        let output = tenants.verb("bob", &[verb, &alice_build]);
        let said = text(&output);
        assert!(!output.status.success(), "bob {verb}\n{said}");
        let wanted = if verb == "cancel" { "cancel" } else { "see" };
        assert!(
            said.contains(&format!(
                "identity \"bob\" may not {wanted} build {alice_build}: another identity submitted it"
            )),
            "bob {verb}\n{said}"
        );
    }
    let output = tenants.verb("alice", &["list"]);
    let listed = text(&output);
    assert!(output.status.success(), "{listed}");
    assert!(
        listed.contains(&alice_build) && !listed.contains(&bob_build),
        "alice lists her builds only\n{listed}"
    );
    // alice sees her own; the admin sees both and replays alice's logs.
    let output = tenants.verb("alice", &["status", &alice_build]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = tenants.verb("ops", &["list"]);
    let listed = text(&output);
    assert!(
        listed.contains(&alice_build) && listed.contains(&bob_build),
        "{listed}"
    );
    let output = tenants.verb("ops", &["logs", &alice_build]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("unpacked"),
        "the admin replays alice's log lines\n{}",
        describe(&output)
    );
}
