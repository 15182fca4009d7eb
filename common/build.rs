// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Records the git commit the crate was built from, when built from a checkout.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../.release-version");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
    println!("cargo:rerun-if-env-changed=KANIKO_GIT_COMMIT");
    let commit = std::env::var("KANIKO_GIT_COMMIT").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    });
    let version = std::fs::read_to_string("../.release-version").unwrap_or_default();
    let version = version.trim();
    match commit {
        Some(commit) => {
            println!("cargo:rustc-env=KANIKO_GIT_COMMIT={commit}");
            println!("cargo:rustc-env=KANIKO_LONG_VERSION={version} (commit {commit})");
        }
        None => println!("cargo:rustc-env=KANIKO_LONG_VERSION={version}"),
    }
}
