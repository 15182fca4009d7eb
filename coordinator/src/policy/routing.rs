// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Routing: where a platform's task goes. Cross-safety per platform comes from the parser's
//! query on the Dockerfile ([`cross_safe`]); given the live workers, [`route`] picks
//!
//! * a live native worker of P → P's own subject (native workers only);
//! * none, the task cross-safe and a live `--allow-cross` worker serving P → the cross
//!   subject, which only cross workers consume;
//! * otherwise P's own subject: the task waits for a native worker (`--require-native-nodes`
//!   refuses the build instead, naming [`missing_native`]).
//!
//! A task a native worker should build goes to `Names::tasks(platform)`; a cross-safe task
//! placed on an `--allow-cross` worker goes to [`cross_subject`],
//! `<prefix>.tasks.cross.<os>.<arch>.<variant>`, consumed through [`cross_consumer`] by cross
//! workers only. The two filters never overlap, so a task that needs RUN can never be pulled
//! by a foreign worker. Pure.

use kaniko_common::dockerfile::{BuildArgs, Dockerfile};
use kaniko_common::messages::{BuildRequest, WireError, WorkerInfo};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::Names;

use super::record::Route;

/// The builder platform cross-safety is computed against: a platform no Dockerfile names,
/// so only stages pinned to `$BUILDPLATFORM` count as running on the builder.
fn foreign_builder() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: "kaniko-foreign-builder".into(),
        variant: None,
    }
}

/// Whether `dockerfile` built for `platform` runs no RUN on `platform` (a non-native worker
/// may build it). A Dockerfile that cannot be planned is a refusal naming the line.
pub fn cross_safe(
    dockerfile: &Dockerfile,
    request: &BuildRequest,
    platform: &Platform,
) -> Result<bool, WireError> {
    let mut args = BuildArgs::new(platform.clone(), foreign_builder());
    args.values = request.build_args.clone();
    dockerfile
        .needs_native_execution(request.target.as_deref(), &args)
        .map(|run| run.is_none())
        .map_err(|e| WireError::refused(format!("{}: {e}", request.dockerfile)))
}

/// Where a platform's task goes, given the live workers.
pub fn route(workers: &[WorkerInfo], platform: &Platform, cross_safe: bool) -> Route {
    if workers.iter().any(|w| &w.native == platform) {
        return Route::Native;
    }
    if cross_safe
        && workers
            .iter()
            .any(|w| &w.native != platform && w.can_build(platform, true))
    {
        return Route::Cross;
    }
    Route::Native
}

/// The requested platforms with no live native worker (`--require-native-nodes` refuses
/// the build naming them).
pub fn missing_native(workers: &[WorkerInfo], platforms: &[Platform]) -> Vec<Platform> {
    platforms
        .iter()
        .filter(|p| !workers.iter().any(|w| &w.native == *p))
        .cloned()
        .collect()
}

/// `<prefix>.tasks.cross.<os>.<arch>.<variant>`: cross-safe tasks for `--allow-cross` workers.
/// The name lives in [`Names::tasks_cross`], shared with `worker serve`.
pub fn cross_subject(names: &Names, platform: &Platform) -> anyhow::Result<String> {
    Ok(names.tasks_cross(platform)?)
}

/// `KANIKO_TASKS_CROSS_linux-arm64`: the durable consumer shared by the cross workers of a
/// platform, filtered on [`cross_subject`]. The name lives in [`Names::tasks_cross_consumer`].
pub fn cross_consumer(names: &Names, platform: &Platform) -> anyhow::Result<String> {
    Ok(names.tasks_cross_consumer(platform)?)
}

/// The subject a task of `platform` sent by `route` is published on.
pub fn task_subject(names: &Names, platform: &Platform, route: Route) -> anyhow::Result<String> {
    match route {
        Route::Native => Ok(names.tasks(platform)?),
        Route::Cross => cross_subject(names, platform),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kaniko_common::messages::ContextRef;

    /// A worker `id` native on `native`, building `cross` too (with `--allow-cross`).
    pub(crate) fn worker(id: &str, native: &str, cross: &[&str]) -> WorkerInfo {
        let native = Platform::parse(native).unwrap();
        let mut platforms = vec![native.clone()];
        platforms.extend(cross.iter().map(|p| Platform::parse(p).unwrap()));
        WorkerInfo {
            id: id.into(),
            native,
            platforms,
            allow_cross: !cross.is_empty(),
            capacity: 1,
            busy: 0,
            version: "0".into(),
            last_seen_unix_ms: 0,
        }
    }

    /// A linux/arm64 request pushing to two repositories (one of them under two tags).
    pub(crate) fn request(dockerfile_target: Option<&str>) -> BuildRequest {
        let mut r = BuildRequest::new(
            ContextRef {
                sha256: "a".repeat(64),
                size: 1,
            },
            vec![Platform::parse("linux/arm64").unwrap()],
            vec![
                "127.0.0.1:5000/app:1".into(),
                "127.0.0.1:5000/app:2".into(),
                "127.0.0.1:5000/other:1".into(),
            ],
        );
        r.target = dockerfile_target.map(str::to_string);
        r
    }

    #[test]
    fn routing() {
        fn check(workers: &[WorkerInfo], platform: &str, cross_safe: bool, expected: Route) {
            let platform = Platform::parse(platform).unwrap();
            assert_eq!(
                route(workers, &platform, cross_safe),
                expected,
                "{platform} cross_safe={cross_safe}"
            );
        }
        let amd = worker("a", "linux/amd64", &[]);
        let cross = worker("c", "linux/amd64", &["linux/arm64"]);
        let arm = worker("r", "linux/arm64", &[]);
        // Native first, whatever the Dockerfile.
        check(
            &[amd.clone(), cross.clone(), arm.clone()],
            "linux/arm64",
            true,
            Route::Native,
        );
        check(
            &[amd.clone(), arm.clone()],
            "linux/arm64",
            false,
            Route::Native,
        );
        // No native arm64: a cross-safe task goes to the cross worker...
        check(
            &[amd.clone(), cross.clone()],
            "linux/arm64",
            true,
            Route::Cross,
        );
        // ...a task that needs RUN never does: it waits for a native worker.
        check(
            &[amd.clone(), cross.clone()],
            "linux/arm64",
            false,
            Route::Native,
        );
        // A cross worker that does not serve the platform does not count.
        check(
            std::slice::from_ref(&cross),
            "linux/arm/v7",
            true,
            Route::Native,
        );
        // The cross worker's own native platform goes native.
        check(&[cross], "linux/amd64", true, Route::Native);
        check(&[], "linux/amd64", true, Route::Native);
    }

    #[test]
    fn missing_native_names_platforms_without_native_workers() {
        let workers = [
            worker("a", "linux/amd64", &[]),
            worker("c", "linux/amd64", &["linux/arm64"]),
        ];
        let wanted = [
            Platform::parse("linux/amd64").unwrap(),
            Platform::parse("linux/arm64").unwrap(),
        ];
        let got: Vec<String> = missing_native(&workers, &wanted)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["linux/arm64"]);
        assert!(missing_native(&workers, &wanted[..1]).is_empty());
    }

    #[test]
    fn cross_safety_follows_the_parser() {
        fn check(text: &str, target: Option<&str>, expected: Result<bool, &str>) {
            let dockerfile = Dockerfile::parse(text).unwrap();
            let arm64 = Platform::parse("linux/arm64").unwrap();
            let got = cross_safe(&dockerfile, &request(target), &arm64).map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_string), "{text:?}");
        }
        check("FROM busybox\nCOPY a /a\nENV X=1\n", None, Ok(true));
        check("FROM busybox\nRUN echo hi\n", None, Ok(false));
        check(
            "FROM --platform=$BUILDPLATFORM busybox AS b\nRUN make\nFROM busybox\nCOPY --from=b /o /o\n",
            None,
            Ok(true),
        );
        check(
            "FROM busybox AS a\nRUN x\nFROM busybox AS b\nCOPY y /y\n",
            Some("b"),
            Ok(true),
        );
        check(
            "FROM busybox\n",
            Some("nope"),
            Err("refused: Dockerfile: unknown target stage \"nope\""),
        );
    }

    #[test]
    fn cross_names_never_overlap_the_native_ones() {
        let names = Names::default();
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            cross_subject(&names, &arm64).unwrap(),
            "kaniko.tasks.cross.linux.arm64._"
        );
        assert_eq!(names.tasks(&arm64).unwrap(), "kaniko.tasks.linux.arm64._");
        assert_eq!(
            cross_consumer(&names, &arm64).unwrap(),
            "KANIKO_TASKS_CROSS_linux-arm64"
        );
    }
}
