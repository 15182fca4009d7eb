// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `coordinator` binary's command line as a user meets it (its `--version` is checked with
//! the worker's in the end-to-end `version` module).

use std::process::Command;

/// `coordinator nats-config` takes the prefix as every NATS command does: `--prefix`, else
/// `KANIKO_PREFIX`, else the deprecated `--nats-prefix` (with a warning), else `kaniko`.
#[test]
fn nats_config_takes_the_shared_prefix_flag() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"identities": {"alice": {"push": ["*"], "pull": ["*"]}}}"#,
    )
    .unwrap();
    #[track_caller]
    fn check(
        policy: &std::path::Path,
        keys: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
        prefix: &str,
        warns: bool,
    ) {
        let out = Command::new(env!("CARGO_BIN_EXE_coordinator"))
            .arg("nats-config")
            .arg("--policy")
            .arg(policy)
            .arg("--keys")
            .arg(keys)
            .args(args)
            .env_remove("KANIKO_PREFIX")
            .env_remove("KANIKO_NATS_PREFIX")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{args:?} {env:?}");
        assert!(out.status.success(), "{what}: {stderr}");
        assert!(
            stdout.contains(&format!("authorization for prefix {prefix:?}")),
            "{what}: {stdout}"
        );
        assert_eq!(stderr.contains("deprecated"), warns, "{what}: {stderr}");
    }
    let keys = dir.path().join("keys");
    check(&policy, &keys, &[], &[], "kaniko", false);
    check(&policy, &keys, &["--prefix", "ci"], &[], "ci", false);
    check(
        &policy,
        &keys,
        &[],
        &[("KANIKO_PREFIX", "env")],
        "env",
        false,
    );
    check(
        &policy,
        &keys,
        &["--prefix", "flag"],
        &[("KANIKO_PREFIX", "env")],
        "flag",
        false,
    );
    check(&policy, &keys, &["--nats-prefix", "old"], &[], "old", true);
}
