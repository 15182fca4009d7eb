// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The subject prefix has one spelling in both binaries, `--prefix` (`KANIKO_PREFIX`); the
//! old one of `worker serve` and `coordinator submit`, `--nats-prefix` (`KANIKO_NATS_PREFIX`),
//! still works and warns. A prefix the names refuse stops every command before it connects,
//! naming the prefix it was given: which spelling reached it, and whether it warned.

use std::process::Command;

use kaniko_nats::DEPRECATED_PREFIX;

/// Runs `binary command --nats <closed port> args` with `env` (and no prefix variable of the
/// test's own): its stderr, after checking it failed naming `bad.prefix`.
#[track_caller]
fn refused(binary: &str, command: &[&str], args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(kaniko_tests::workspace_binary(binary))
        .args(command)
        .args(["--nats", "nats://127.0.0.1:1"])
        .args(args)
        .env_remove("KANIKO_PREFIX")
        .env_remove("KANIKO_NATS_PREFIX")
        .env_remove("NATS_URL")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let what = format!("{binary} {command:?} {args:?} {env:?}");
    assert!(!out.status.success(), "{what}: {stderr}");
    assert!(
        stderr.contains("\"bad.prefix\""),
        "{what}: the prefix did not arrive: {stderr}"
    );
    stderr
}

/// Flags, environment variables, and whether they are the deprecated spelling.
type Spelling = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    bool,
);

#[test]
fn both_spellings_reach_every_command_and_the_old_one_warns() {
    let context = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello");
    let submit = [
        "submit",
        "--driver",
        "nats",
        "--context",
        context,
        "--destination",
        "127.0.0.1:1/app",
    ];
    let commands: [(&str, &[&str]); 5] = [
        ("worker", &["serve"]),
        ("coordinator", &["serve"]),
        ("coordinator", &submit),
        ("coordinator", &["status", "b1"]),
        ("coordinator", &["workers"]),
    ];
    let spellings: [Spelling; 4] = [
        (&["--prefix", "bad.prefix"], &[], false),
        (&[], &[("KANIKO_PREFIX", "bad.prefix")], false),
        (&["--nats-prefix", "bad.prefix"], &[], true),
        (&[], &[("KANIKO_NATS_PREFIX", "bad.prefix")], true),
    ];
    for (binary, command) in commands {
        for (args, env, deprecated) in spellings {
            let stderr = refused(binary, command, args, env);
            assert_eq!(
                stderr.contains(DEPRECATED_PREFIX),
                deprecated,
                "{binary} {command:?} {args:?} {env:?}: {stderr}"
            );
        }
    }
}

#[test]
fn the_two_spellings_may_not_disagree() {
    let out = Command::new(kaniko_tests::workspace_binary("worker"))
        .args(["serve", "--nats", "nats://127.0.0.1:1"])
        .args(["--prefix", "a", "--nats-prefix", "b"])
        .env_remove("KANIKO_PREFIX")
        .env_remove("KANIKO_NATS_PREFIX")
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("disagree"), "{stderr}");
}
