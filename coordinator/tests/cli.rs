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
