// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Scope tests: ARG scoping, build-arg overrides, platform args, ENV precedence, and which
//! instructions are expanded.

use super::*;
use crate::dockerfile::Command;

fn platform(arch: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: variant.map(str::to_string),
    }
}

fn args() -> BuildArgs {
    BuildArgs::new(platform("arm", Some("v7")), platform("amd64", None))
}

/// Walks stage `stage` of `text` and returns the value of the last `LABEL v=...`.
fn label_after(text: &str, stage: usize, args: &BuildArgs) -> String {
    let df = Dockerfile::parse(text).unwrap();
    let mut scope = df.global_scope(args).unwrap().stage();
    let mut last = None;
    for instruction in &df.stages[stage].instructions {
        if let Expanded::Label(pairs) = scope.apply(instruction).unwrap() {
            last = pairs.into_iter().find(|(k, _)| k == "v").map(|(_, v)| v);
        }
    }
    last.unwrap_or_else(|| panic!("no LABEL v in {text:?}"))
}

#[test]
fn arg_scoping() {
    fn check(text: &str, build_args: &[(&str, &str)], expected: &str) {
        let mut a = args();
        for (k, v) in build_args {
            a = a.with(k, v);
        }
        let stage = Dockerfile::parse(text).unwrap().stages.len() - 1;
        assert_eq!(
            label_after(text, stage, &a),
            expected,
            "{text:?} {build_args:?}"
        );
    }
    // Meta-ARGs are not visible in a stage unless redeclared.
    check("ARG V=meta\nFROM a\nLABEL v=[$V]", &[], "[]");
    check("ARG V=meta\nFROM a\nARG V\nLABEL v=[$V]", &[], "[meta]");
    check("ARG V=meta\nFROM a\nARG V=own\nLABEL v=[$V]", &[], "[own]");
    // --build-arg overrides declared args, meta or not.
    check(
        "ARG V=meta\nFROM a\nARG V\nLABEL v=$V",
        &[("V", "cli")],
        "cli",
    );
    check("FROM a\nARG V=own\nLABEL v=$V", &[("V", "cli")], "cli");
    // An undeclared build arg has no effect.
    check("FROM a\nLABEL v=[$V]", &[("V", "cli")], "[]");
    // Declared without value: unset; ARG X="": set and empty.
    check("FROM a\nARG X\nLABEL v=${X-unset}", &[], "unset");
    check("FROM a\nARG X=\"\"\nLABEL v=${X-unset}", &[], "");
    check("FROM a\nARG X=\nLABEL v=${X:-empty}", &[], "empty");
    // ENV wins over ARG of the same name, whatever the order.
    check("FROM a\nARG X=arg\nENV X=env\nLABEL v=$X", &[], "env");
    check(
        "FROM a\nENV X=env\nARG X=arg\nLABEL v=$X",
        &[("X", "cli")],
        "env",
    );
    // Args are stage-scoped; ARG defaults may use earlier args.
    check("FROM a\nARG X=one\nFROM b\nLABEL v=[$X]", &[], "[]");
    check("FROM a\nARG A=1 B=${A}2\nLABEL v=$B", &[], "12");
    // Meta-ARG defaults see earlier meta-ARGs and the platform args.
    check(
        "ARG A=x\nARG B=$A-$TARGETARCH\nFROM a\nARG B\nLABEL v=$B",
        &[],
        "x-arm",
    );
    // ENV values are expanded with the scope before the instruction.
    check("FROM a\nENV X=1\nENV X=2 Y=$X\nLABEL v=$X$Y", &[], "21");
}

#[test]
fn platform_args() {
    fn check(text: &str, expected: &str) {
        let stage = Dockerfile::parse(text).unwrap().stages.len() - 1;
        assert_eq!(label_after(text, stage, &args()), expected, "{text:?}");
    }
    check("FROM a\nLABEL v=[$TARGETARCH]", "[]");
    check("FROM a\nARG TARGETARCH\nLABEL v=$TARGETARCH", "arm");
    check(
        "FROM a\nARG TARGETPLATFORM TARGETOS TARGETVARIANT BUILDPLATFORM BUILDARCH BUILDVARIANT\nLABEL v=$TARGETPLATFORM,$TARGETOS,$TARGETVARIANT,$BUILDPLATFORM,$BUILDARCH,[$BUILDVARIANT]",
        "linux/arm/v7,linux,v7,linux/amd64,amd64,[]",
    );
    check(
        "ARG TARGETARCH=override\nFROM a\nARG TARGETARCH\nLABEL v=$TARGETARCH",
        "override",
    );

    let df = Dockerfile::parse("FROM --platform=$BUILDPLATFORM golang:${TARGETARCH}\n").unwrap();
    let global = df.global_scope(&args()).unwrap();
    assert_eq!(global.expand(&df.stages[0].base).unwrap(), "golang:arm");
    assert_eq!(
        global
            .expand(df.stages[0].platform.as_deref().unwrap())
            .unwrap(),
        "linux/amd64"
    );
}

#[test]
fn meta_args_in_from() {
    fn check(text: &str, build_args: &[(&str, &str)], expected: &str) {
        let mut a = args();
        for (k, v) in build_args {
            a = a.with(k, v);
        }
        let df = Dockerfile::parse(text).unwrap();
        let global = df.global_scope(&a).unwrap();
        assert_eq!(
            global.expand(&df.stages[0].base).unwrap(),
            expected,
            "{text:?}"
        );
    }
    check("ARG TAG=3.19\nFROM alpine:$TAG", &[], "alpine:3.19");
    check(
        "ARG TAG=3.19\nFROM alpine:$TAG",
        &[("TAG", "edge")],
        "alpine:edge",
    );
    check("ARG TAG\nFROM alpine:${TAG:-latest}", &[], "alpine:latest");
    check(
        "FROM alpine:${TAG:-latest}",
        &[("TAG", "edge")],
        "alpine:latest",
    );
}

#[test]
fn base_env() {
    let df =
        Dockerfile::parse("FROM a\nLABEL v=$PATH:$HOME\nENV PATH=/x:$PATH\nLABEL w=$PATH").unwrap();
    let mut scope = df
        .global_scope(&args())
        .unwrap()
        .stage()
        .with_base_env([("PATH".to_string(), "/bin".to_string())]);
    let got: Vec<Expanded> = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .collect();
    assert_eq!(got[0], Expanded::Label(vec![("v".into(), "/bin:".into())]));
    assert_eq!(
        got[2],
        Expanded::Label(vec![("w".into(), "/x:/bin".into())])
    );
    assert_eq!(scope.env(), &[("PATH".to_string(), "/x:/bin".to_string())]);
}

#[test]
fn where_expansion_happens() {
    let text = "FROM a\nARG D=/dst M=0640 P=\"80 443/udp\" U=app S=SIGTERM F=build\n\
        RUN echo $D\nCMD echo $D\nENTRYPOINT [\"$D\"]\nSHELL [\"$D\"]\nHEALTHCHECK CMD $D\n\
        ONBUILD COPY x $D\nCOPY --from=$F --chown=$U --chmod=$M a$U \"$D/\"\n\
        ADD --checksum=sha256:$U $D/x /y\nWORKDIR $D\nUSER $U\nEXPOSE $P\nVOLUME $D\n\
        STOPSIGNAL $S\nMAINTAINER $U\nCOPY <<x <<'y' $D\n$U \"$U\"\nx\n$U\ny\n";
    let df = Dockerfile::parse(text).unwrap();
    let mut scope = df.global_scope(&args()).unwrap().stage();
    let got: Vec<Expanded> = df.stages[0]
        .instructions
        .iter()
        .map(|i| scope.apply(i).unwrap())
        .collect();
    let shell = |t: &str| Command::Shell(t.to_string());
    assert!(matches!(&got[1], Expanded::Run(r) if r.command == shell("echo $D")));
    assert_eq!(got[2], Expanded::Cmd(shell("echo $D")));
    assert_eq!(
        got[3],
        Expanded::Entrypoint(Command::Exec(vec!["$D".into()]))
    );
    assert_eq!(got[4], Expanded::Shell(vec!["$D".into()]));
    assert!(
        matches!(&got[5], Expanded::Healthcheck(Healthcheck::Cmd { command, .. }) if *command == shell("$D"))
    );
    assert_eq!(got[6], Expanded::Onbuild("COPY x $D".into()));
    match &got[7] {
        Expanded::Copy(c) => {
            assert_eq!(c.from.as_deref(), Some("build"));
            assert_eq!(c.chown.as_deref(), Some("app"));
            assert_eq!(c.chmod, Some(0o640));
            assert_eq!(c.sources, vec!["aapp".to_string()]);
            assert_eq!(c.dest, "/dst/");
        }
        other => panic!("{other:?}"),
    }
    match &got[8] {
        Expanded::Add(c) => {
            assert_eq!(c.checksum.as_deref(), Some("sha256:app"));
            assert_eq!(c.sources, vec!["/dst/x".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(got[9], Expanded::Workdir("/dst".into()));
    assert_eq!(got[10], Expanded::User("app".into()));
    assert_eq!(
        got[11],
        Expanded::Expose(vec!["80".into(), "443/udp".into()])
    );
    assert_eq!(got[12], Expanded::Volume(vec!["/dst".into()]));
    assert_eq!(got[13], Expanded::StopSignal("SIGTERM".into()));
    assert_eq!(got[14], Expanded::Maintainer("$U".into()));
    match &got[15] {
        Expanded::Copy(c) => {
            assert!(c.sources.is_empty());
            assert_eq!(
                c.inline,
                vec![
                    ("x".to_string(), "app \"app\"\n".to_string()),
                    ("y".to_string(), "$U\n".to_string())
                ]
            );
            assert_eq!(c.dest, "/dst");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_after_expansion() {
    fn check(text: &str, expected: &str) {
        let df = Dockerfile::parse(text).unwrap();
        let mut scope = df.global_scope(&args()).unwrap().stage();
        let err = df.stages[0]
            .instructions
            .iter()
            .map(|i| scope.apply(i))
            .find_map(Result::err)
            .unwrap_or_else(|| panic!("{text:?} expanded"));
        assert_eq!(err.to_string(), expected, "{text:?}");
    }
    check(
        "FROM a\nARG M=u+x\nCOPY --chmod=$M a b",
        "invalid --chmod \"u+x\": expected an octal mode such as 755 or 0644",
    );
    check(
        "FROM a\nARG P=http\nEXPOSE $P",
        "invalid port \"http\" in EXPOSE: expected a port number from 0 to 65535",
    );
    check("FROM a\nWORKDIR ${DIR:?set DIR}", "DIR: set DIR");
}

#[test]
fn run_environment_has_args_proxies_and_env() {
    let df = Dockerfile::parse("FROM a\nARG A=1 B\nENV A=env C=3").unwrap();
    let a = args().with("http_proxy", "http://p").with("OTHER", "x");
    let mut scope = df.global_scope(&a).unwrap().stage();
    for i in &df.stages[0].instructions {
        scope.apply(i).unwrap();
    }
    let env = scope.run_environment();
    let expected: Vec<(String, String)> = [("A", "env"), ("C", "3"), ("http_proxy", "http://p")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(env, expected);
}
