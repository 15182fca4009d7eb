// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! RUN that must fail the build: a command exiting non-zero (buildah fails too), and a RUN
//! for a platform the worker cannot execute (no parity: buildah would try QEMU).

use std::time::{Duration, Instant};

use kaniko_tests::buildah::{Buildah, BuildahOptions};

use super::shared;
use crate::dockerfiles::{raw_config_result, worker_build_within};

/// Writes a Dockerfile into a fresh context and returns the context's temporary directory.
fn context_with(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    dir
}

#[test]
fn a_failing_command_fails_the_build_naming_the_command_and_code() {
    let shared = shared();
    let dockerfile = format!(
        "FROM {}\nRUN echo first > /first\nRUN echo failing && exit 3\nRUN echo never > /never\n",
        shared.busybox
    );
    let context = context_with(&dockerfile);
    let destination = format!("{}/refused/run-exit:1", shared.host);
    let out = worker_build_within(
        context.path(),
        &["--destination".to_string(), destination.clone()],
        Duration::from_secs(120),
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build succeeded: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    for needle in ["echo failing && exit 3", "3"] {
        assert!(
            errors.iter().any(|l| l.contains(needle)),
            "{needle:?} not in the error: {errors:?}"
        );
    }
    assert!(
        errors
            .iter()
            .any(|l| l.contains("exit code 3") || l.contains("exit status 3")),
        "the code is not named as an exit code: {errors:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        raw_config_result(&destination).is_err(),
        "{destination} was pushed"
    );
    // The reference builder fails the same Dockerfile too, with the same code.
    let buildah = Buildah::new().unwrap();
    let err = buildah
        .build(
            context.path(),
            &context.path().join("Dockerfile"),
            &BuildahOptions {
                destination: format!("{}/refused/run-exit:buildah", shared.host),
                ..BuildahOptions::default()
            },
        )
        .expect_err("buildah built a RUN that exits 3")
        .to_string();
    assert!(err.contains("exit status 3"), "{err}");
}

#[test]
fn run_for_a_foreign_platform_fails_at_once_asking_for_a_native_worker() {
    let shared = shared();
    // Busybox has an arm64 child, so the stage resolves and only the RUN is foreign.
    let dockerfile = format!("FROM {}\nRUN echo never > /never\n", shared.busybox);
    let context = context_with(&dockerfile);
    let destination = format!("{}/refused/run-foreign:1", shared.host);
    let started = Instant::now();
    let out = worker_build_within(
        context.path(),
        &[
            "--destination".to_string(),
            destination.clone(),
            "--custom-platform".to_string(),
            "linux/arm64".to_string(),
        ],
        Duration::from_secs(60),
        None,
    );
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build succeeded: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    let host = kaniko_common::platform::Platform::host().to_string();
    for needle in ["linux/arm64", host.as_str(), "native"] {
        assert!(
            errors.iter().any(|l| l.contains(needle)),
            "{needle:?} not in the error: {errors:?}"
        );
    }
    assert!(
        !stderr.contains("exec format error"),
        "the RUN was attempted: {stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "took {elapsed:?} to refuse"
    );
    assert!(
        raw_config_result(&destination).is_err(),
        "{destination} was pushed"
    );
}
