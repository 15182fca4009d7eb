// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `worker` binary's command line as a user meets it (its `--version` is checked with the
//! coordinator's in the end-to-end `version` module).

use std::process::Command;

/// Runs `worker` with `args` in a clean Kaniko environment; returns (success, stderr).
fn worker(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(args)
        .env_remove("KANIKO_NO_PUSH")
        .env_remove("KANIKO_REGISTRY_MIRROR")
        .env_remove("KANIKO_REGISTRY_MAP")
        .env_remove("KANIKO_DIR")
        .env_remove("NATS_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn check_fails(args: &[&str], expected_in_stderr: &[&str]) {
    let (ok, stderr) = worker(args);
    assert!(!ok, "worker {args:?} succeeded");
    for expected in expected_in_stderr {
        assert!(
            stderr.contains(expected),
            "worker {args:?}: stderr {stderr:?} does not mention {expected:?}"
        );
    }
}

#[test]
fn bad_build_command_lines_fail_naming_the_flag() {
    check_fails(&["build", "--no-such-flag"], &["--no-such-flag"]);
    check_fails(
        &["build", "--no-push", "--custom-platform", "foo"],
        &["--custom-platform", "\"foo\"", "architecture"],
    );
    check_fails(
        &["build", "-d", "reg.example/app", "--custom-platform=linux/"],
        &["--custom-platform", "\"linux/\""],
    );
    check_fails(&["build"], &["--destination", "--no-push"]);
    check_fails(
        &["build", "--no-push", "--cache=true"],
        &["--cache=true", "--cache-repo", "--destination"],
    );
    check_fails(
        &["build", "--no-push", "--cache-repo", "reg.example/cache"],
        &["--cache-repo", "no effect without --cache=true"],
    );
    check_fails(
        &["build", "--no-push", "--registry-certificate", "r=/ca.pem"],
        &["--registry-certificate is not supported yet"],
    );
    check_fails(
        &["build", "--no-push", "-c", "git://github.com/org/repo"],
        &["--context", "git:// build contexts are not supported yet"],
    );
    check_fails(
        &["build", "--no-push", "--compression", "brotli"],
        &["--compression", "brotli", "gzip", "zstd"],
    );
    check_fails(
        &["build", "--no-push", "--reproducible=maybe"],
        &["--reproducible", "maybe"],
    );
}

#[test]
fn serve_names_what_stops_it_from_starting() {
    check_fails(
        &[
            "serve",
            "--nats",
            "nats://127.0.0.1:1",
            "--nats-connect-timeout",
            "1",
        ],
        &["connecting to NATS at nats://127.0.0.1:1", "attempts over"],
    );
    check_fails(
        &[
            "serve",
            "--platform",
            "linux/s390x",
            "--nats",
            "nats://127.0.0.1:1",
        ],
        &["--platform linux/s390x", "--allow-cross"],
    );
    check_fails(
        &["serve", "--id", "a.b", "--nats", "nats://127.0.0.1:1"],
        &["invalid worker id \"a.b\""],
    );
}
