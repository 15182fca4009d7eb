// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `--version` and `-V` of both binaries, as a user meets them: the release version of
//! `.release-version`, `--version` possibly followed by the commit it was built from.

use std::process::Command;

#[test]
fn both_binaries_print_the_release_version() {
    let release =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.release-version"))
            .unwrap();
    for binary in ["worker", "coordinator"] {
        let expected = format!("{binary} {}", release.trim());
        for flag in ["--version", "-V"] {
            let out = Command::new(kaniko_tests::workspace_binary(binary))
                .arg(flag)
                .output()
                .unwrap();
            assert!(out.status.success(), "{binary} {flag} failed: {out:?}");
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
                "{binary} {flag} printed {stdout:?}, expected {expected:?}"
            );
        }
    }
}
