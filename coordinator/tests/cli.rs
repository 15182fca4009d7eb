// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `coordinator` binary's command line as a user meets it.

use std::process::Command;

#[test]
fn version_prints_the_release_version() {
    let release =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.release-version"))
            .unwrap();
    let expected = format!("coordinator {}", release.trim());
    for flag in ["--version", "-V"] {
        let out = Command::new(env!("CARGO_BIN_EXE_coordinator"))
            .arg(flag)
            .output()
            .unwrap();
        assert!(out.status.success(), "coordinator {flag} failed: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        // `-V` is the bare version; `--version` may add the commit it was built from.
        let rest = stdout.trim().strip_prefix(expected.as_str());
        let ok = match rest {
            Some("") => true,
            Some(r) => flag == "--version" && r.starts_with(" (commit ") && r.ends_with(')'),
            None => false,
        };
        assert!(
            ok,
            "coordinator {flag} printed {stdout:?}, expected {expected:?}"
        );
    }
}

#[test]
fn the_prefix_has_one_spelling_in_every_command_and_the_old_one_warns() {
    // `--prefix` was the coordinator's spelling, `--nats-prefix` that of `submit` (and of
    // `worker serve`); every command takes both now, the old one with a warning. A prefix
    // Names refuses stops the command before it connects, naming the prefix it was given.
    #[track_caller]
    fn check(command: &[&str], args: &[&str], env: &[(&str, &str)], deprecated: bool) {
        let out = Command::new(env!("CARGO_BIN_EXE_coordinator"))
            .args(command)
            .args(["--nats", "nats://127.0.0.1:1"])
            .args(args)
            .env_remove("KANIKO_PREFIX")
            .env_remove("KANIKO_NATS_PREFIX")
            .env_remove("NATS_URL")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{command:?} {args:?} {env:?}");
        assert!(!out.status.success(), "{what}: {stderr}");
        assert!(
            stderr.contains("\"bad.prefix\""),
            "{what}: the prefix did not arrive: {stderr}"
        );
        assert_eq!(
            stderr.contains(kaniko_nats::DEPRECATED_PREFIX),
            deprecated,
            "{what}: {stderr}"
        );
    }
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
    for command in [&["status", "b1"][..], &["workers"], &["serve"], &submit] {
        check(command, &["--prefix", "bad.prefix"], &[], false);
        check(command, &[], &[("KANIKO_PREFIX", "bad.prefix")], false);
        check(command, &["--nats-prefix", "bad.prefix"], &[], true);
        check(command, &[], &[("KANIKO_NATS_PREFIX", "bad.prefix")], true);
    }
}
