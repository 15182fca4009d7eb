// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Stage graph tests: targets, skipped stages, dependency errors, unused build args and the
//! cross-safe query.

use super::*;
use crate::platform::Platform;

fn platform(arch: &str) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: None,
    }
}

/// Building for arm64 on an amd64 builder.
fn cross() -> BuildArgs {
    BuildArgs::new(platform("arm64"), platform("amd64"))
}

fn plan(text: &str, target: Option<&str>, args: &BuildArgs) -> Result<BuildPlan, PlanError> {
    Dockerfile::parse(text).unwrap().plan(target, args)
}

const MULTI: &str = "\
FROM alpine AS base
RUN apk add x
FROM base AS tools
RUN make tools
FROM golang AS unused
RUN go build
FROM scratch AS assets
COPY a /a
FROM base
COPY --from=tools /t /t
COPY --from=3 /a /a
COPY --from=nginx:1 /etc/nginx /etc/nginx
";

#[test]
fn plan_targets() {
    fn check(target: Option<&str>, expected: &[usize]) {
        let p = plan(MULTI, target, &cross()).unwrap();
        let got: Vec<usize> = p.stages.iter().map(|s| s.index).collect();
        assert_eq!(got, expected, "target {target:?}");
    }
    check(None, &[0, 1, 3, 4]);
    check(Some("tools"), &[0, 1]);
    check(Some("TOOLS"), &[0, 1]);
    check(Some("unused"), &[2]);
    check(Some("assets"), &[3]);
}

#[test]
fn every_stage_up_to_the_target_without_skipping() {
    fn check(target: Option<&str>, expected: &[usize]) {
        let p = Dockerfile::parse(MULTI)
            .unwrap()
            .plan_stages(target, &cross(), false)
            .unwrap();
        let got: Vec<usize> = p.stages.iter().map(|s| s.index).collect();
        assert_eq!(got, expected, "target {target:?}");
    }
    check(None, &[0, 1, 2, 3, 4]);
    check(Some("unused"), &[0, 1, 2]);
    check(Some("base"), &[0]);
}

#[test]
fn plan_details() {
    let p = plan(MULTI, None, &cross()).unwrap();
    assert_eq!(p.target, 4);
    let last = p.stages.last().unwrap();
    assert_eq!(last.base, BaseRef::Stage(0));
    assert_eq!(last.stage_deps, vec![1, 3]);
    assert_eq!(last.images, vec!["nginx:1".to_string()]);
    assert_eq!(p.stages[0].base, BaseRef::Image("alpine".into()));
    assert_eq!(p.stages[2].base, BaseRef::Scratch);
}

#[test]
fn plan_errors() {
    fn check(text: &str, target: Option<&str>, expected: &str) {
        match plan(text, target, &cross()) {
            Err(e) => assert_eq!(e.to_string(), expected, "{text:?}"),
            Ok(p) => panic!("{text:?} planned: {p:?}"),
        }
    }
    check(
        "FROM a AS x\n",
        Some("nope"),
        "unknown target stage \"nope\"",
    );
    check(
        "FROM a\nCOPY --from=later /x /x\nFROM b AS later\n",
        Some("0"),
        "unknown target stage \"0\"",
    );
    check(
        "FROM a\nCOPY --from=later /x /x\nFROM b AS later\nFROM c\nCOPY --from=0 /x /x",
        None,
        "dockerfile:2: stage \"later\" is used before it is defined",
    );
    check(
        "FROM later AS first\nFROM b AS later\n",
        Some("first"),
        "dockerfile:1: stage \"later\" is used before it is defined",
    );
    check(
        "FROM a AS one\nCOPY --from=1 /x /x\nFROM b\n",
        Some("one"),
        "dockerfile:2: stage \"1\" is used before it is defined",
    );
    check(
        "FROM a AS me\nRUN --mount=type=bind,from=me,target=/m x\n",
        None,
        "dockerfile:2: stage \"me\" is used before it is defined",
    );
    check(
        "FROM a\nWORKDIR ${W:?no workdir}\n",
        None,
        "dockerfile:2: W: no workdir",
    );
    check("ARG X=${Y:?need-Y}\nFROM a\n", None, "meta ARG: Y: need-Y");
    check(
        "FROM a\nRUN true\nRUN --mount=type=nfs,target=/m x\n",
        None,
        "dockerfile:3: RUN --mount=type=nfs,target=/m: unsupported mount type \"nfs\" \
         (expected bind, cache, tmpfs, secret or ssh)",
    );
    check(
        "FROM a\nARG K=colour\nRUN --mount=target=/m,$K=blue x\n",
        None,
        "dockerfile:3: RUN --mount=target=/m,colour=blue: unexpected key \"colour\" in \
         \"colour=blue\" (expected type, target, source, from, readonly, readwrite, id, \
         sharing, mode, uid, gid, size, required or env)",
    );
}

#[test]
fn errors_in_unneeded_stages_do_not_matter() {
    let text =
        "FROM a AS broken\nWORKDIR ${W:?no workdir}\nCOPY --from=later / /\nFROM b AS later\n";
    let p = plan(text, Some("later"), &cross()).unwrap();
    assert_eq!(p.stages.len(), 1);
}

#[test]
fn from_uses_args_and_self_name_is_an_image() {
    let text = "ARG BASE=builder\nFROM golang AS builder\nFROM ${BASE}\nFROM node AS node\n";
    let p = plan(text, None, &cross()).unwrap();
    assert_eq!(p.stages.len(), 1);
    assert_eq!(p.stages[0].base, BaseRef::Image("node".into()));
    let p = plan(text, Some("builder"), &cross()).unwrap();
    assert_eq!(p.stages.len(), 1);
    assert_eq!(p.stages[0].index, 0);
    let text = "ARG BASE=builder\nFROM golang AS builder\nFROM ${BASE}\n";
    let p = plan(text, None, &cross()).unwrap();
    assert_eq!(
        p.stages.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(p.stages[1].base, BaseRef::Stage(0));
}

#[test]
fn copy_from_uses_stage_args() {
    let text = "FROM a AS one\nFROM b AS two\nFROM c\nARG SRC=one\nCOPY --from=$SRC / /\n";
    let p = plan(text, None, &cross()).unwrap();
    assert_eq!(
        p.stages.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![0, 2]
    );
    let p = plan(text, None, &cross().with("SRC", "two")).unwrap();
    assert_eq!(
        p.stages.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn mount_from_is_a_dependency() {
    let text = "FROM a AS cache\nFROM b\nRUN --mount=type=cache,\"from=cache\",target=/c make\n";
    let p = plan(text, None, &cross()).unwrap();
    assert_eq!(
        p.stages.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![0, 1]
    );
}

#[test]
fn unused_build_args() {
    fn check(text: &str, build_args: &[&str], expected: &[&str]) {
        let mut a = cross();
        for k in build_args {
            a = a.with(k, "v");
        }
        let p = plan(text, None, &a).unwrap();
        assert_eq!(p.unused_build_args, expected, "{text:?} {build_args:?}");
    }
    check("FROM a\n", &["X"], &["X"]);
    check("ARG X\nFROM a\n", &["X"], &[]);
    check("FROM a\nARG X\n", &["X", "Y"], &["Y"]);
    check("FROM a\n", &["HTTP_PROXY", "no_proxy"], &[]);
    // Only needed stages count.
    check("FROM a AS skipped\nARG X\nFROM b\n", &["X"], &["X"]);
}

#[test]
fn cross_safe() {
    fn check(text: &str, expected: Option<(usize, usize, &str)>) {
        let df = Dockerfile::parse(text).unwrap();
        let got = df.needs_native_execution(None, &cross()).unwrap();
        let got = got.as_ref().map(|n| (n.stage, n.line, n.platform.as_str()));
        assert_eq!(got, expected, "{text:?}");
    }
    // The classic cross-compile: RUN only on the build platform.
    check(
        "FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build -o /out\nFROM alpine\nCOPY --from=build /out /bin/app\n",
        None,
    );
    // Metadata only: nothing executes.
    check("FROM alpine\nCOPY . /app\nENV A=1\nCMD [\"/app\"]\n", None);
    // RUN on the target platform.
    check(
        "FROM alpine\nRUN apk add curl\n",
        Some((0, 2, "linux/arm64")),
    );
    // A RUN in a skipped stage does not count.
    check(
        "FROM alpine AS dev\nRUN apk add gdb\nFROM alpine\nCOPY a b\n",
        None,
    );
    // A literal platform equal to the build platform (with an alias) is the build platform.
    check("FROM --platform=linux/x86_64 golang\nRUN go build\n", None);
    // A third platform is foreign too.
    check(
        "FROM --platform=linux/s390x alpine\nRUN true\n",
        Some((0, 2, "linux/s390x")),
    );
    // An ONBUILD RUN declared by a parent stage executes in the child.
    check(
        "FROM alpine AS parent\nONBUILD RUN make\nFROM parent\nCOPY a b\n",
        Some((1, 2, "linux/arm64")),
    );
    // ...but not when the child runs on the build platform.
    check(
        "FROM alpine AS parent\nONBUILD RUN make\nFROM --platform=$BUILDPLATFORM parent\n",
        None,
    );
    // An ONBUILD in the stage itself does not execute there.
    check("FROM alpine\nONBUILD RUN make\n", None);
    // $TARGETPLATFORM runs on the target.
    check(
        "FROM --platform=$TARGETPLATFORM alpine\nRUN true\n",
        Some((0, 2, "linux/arm64")),
    );
}

#[test]
fn native_builder_is_always_safe() {
    let df = Dockerfile::parse("FROM alpine\nRUN apk add curl\n").unwrap();
    let native = BuildArgs::new(platform("amd64"), platform("amd64"));
    assert_eq!(df.needs_native_execution(None, &native).unwrap(), None);
}

#[test]
fn stage_platforms() {
    let text = "FROM --platform=$BUILDPLATFORM a AS b\nFROM c AS t\nFROM --platform=linux/arm64/v8 d AS t2\nFROM --platform=windows/amd64 e\n";
    let df = Dockerfile::parse(text).unwrap();
    let want = [
        StagePlatform::Build,
        StagePlatform::Target,
        StagePlatform::Target,
        StagePlatform::Other("windows/amd64".into()),
    ];
    for (i, expected) in want.iter().enumerate() {
        let name = df.stages[i].name.clone();
        let p = df.plan(name.as_deref(), &cross()).unwrap();
        let stage = p.stages.iter().find(|s| s.index == i).unwrap();
        assert_eq!(&stage.platform, expected, "stage {i}");
    }
}

#[test]
fn normalise_aliases() {
    fn check(input: &str, expected: &str) {
        assert_eq!(normalise(input), expected, "{input:?}");
    }
    check("linux/x86_64", "linux/amd64");
    check("linux/amd64/v1", "linux/amd64");
    check("linux/aarch64", "linux/arm64");
    check("linux/arm64/v8", "linux/arm64");
    check("linux/arm", "linux/arm/v7");
    check("linux/armhf", "linux/arm/v7");
    check("Linux/ARM/v6", "linux/arm/v6");
    check("arm64", "linux/arm64");
}
