// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Parser tests: every syntax form, malformed inputs with their positions, and the
//! print → parse round trip.

use std::time::Duration;

use super::super::instruction::{Directive, Heredoc};
use super::*;

fn s(v: &str) -> String {
    v.to_string()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Parses `FROM base` + `line` and returns the instruction.
fn one(line: &str) -> InstructionKind {
    let df = parse(&format!("FROM base\n{line}")).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let stage = &df.stages[0];
    assert_eq!(stage.instructions.len(), 1, "{line:?}");
    stage.instructions[0].kind.clone()
}

fn copy() -> CopyAdd {
    CopyAdd {
        from: None,
        chown: None,
        chmod: None,
        link: false,
        parents: false,
        keep_git_dir: false,
        checksum: None,
        exclude: vec![],
        sources: vec![],
        dest: String::new(),
        json: false,
        heredocs: vec![],
    }
}

fn kv(pairs: &[(&str, &str)], legacy: bool) -> KeyValues {
    KeyValues {
        pairs: pairs
            .iter()
            .map(|(k, v)| KeyValue {
                key: s(k),
                value: s(v),
            })
            .collect(),
        legacy,
    }
}

fn run(command: Command) -> Run {
    Run {
        mounts: vec![],
        network: None,
        security: None,
        command,
        heredocs: vec![],
    }
}

#[test]
fn instruction_forms() {
    fn check(line: &str, expected: InstructionKind) {
        assert_eq!(one(line), expected, "{line:?}");
    }
    use InstructionKind as K;
    check(
        "ARG a b=1 c=\"x y\" d=",
        K::Arg(vec![
            ArgDecl {
                name: s("a"),
                default: None,
            },
            ArgDecl {
                name: s("b"),
                default: Some(s("1")),
            },
            ArgDecl {
                name: s("c"),
                default: Some(s("\"x y\"")),
            },
            ArgDecl {
                name: s("d"),
                default: Some(s("")),
            },
        ]),
    );
    check("ENV A B C", K::Env(kv(&[("A", "B C")], true)));
    check(
        "env A=1 B=\"two words\" C=a\\ b",
        K::Env(kv(
            &[("A", "1"), ("B", "\"two words\""), ("C", "a\\ b")],
            false,
        )),
    );
    check(
        "LABEL \"com.x\"=\"y z\"",
        K::Label(kv(&[("\"com.x\"", "\"y z\"")], false)),
    );
    check(
        "LABEL version 1.0",
        K::Label(kv(&[("version", "1.0")], true)),
    );
    check(
        "RUN echo hi && ls",
        K::Run(run(Command::Shell(s("echo hi && ls")))),
    );
    check(
        "RUN [\"a\", \"b c\"]",
        K::Run(run(Command::Exec(strings(&["a", "b c"])))),
    );
    check("RUN [not json", K::Run(run(Command::Shell(s("[not json")))));
    check(
        "RUN [\"a\"] && b",
        K::Run(run(Command::Exec(strings(&["a"])))),
    );
    check(
        "RUN [\"a\", \"b\",] x",
        K::Run(run(Command::Shell(s("[\"a\", \"b\",] x")))),
    );
    check(
        "RUN --mount=type=cache,target=/c --mount=type=secret,id=x --network=none --security=insecure make",
        K::Run(Run {
            mounts: strings(&["type=cache,target=/c", "type=secret,id=x"]),
            network: Some(s("none")),
            security: Some(s("insecure")),
            ..run(Command::Shell(s("make")))
        }),
    );
    check("CMD [\"x\"]", K::Cmd(Command::Exec(strings(&["x"]))));
    check("CMD []", K::Cmd(Command::Exec(vec![])));
    check(
        "ENTRYPOINT top -b",
        K::Entrypoint(Command::Shell(s("top -b"))),
    );
    check(
        "COPY a b /dst/",
        K::Copy(CopyAdd {
            sources: strings(&["a", "b"]),
            dest: s("/dst/"),
            ..copy()
        }),
    );
    check(
        "COPY [\"a b\", \"/d\"]",
        K::Copy(CopyAdd {
            sources: strings(&["a b"]),
            dest: s("/d"),
            json: true,
            ..copy()
        }),
    );
    check(
        "COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=x a /d",
        K::Copy(CopyAdd {
            from: Some(s("build")),
            chown: Some(s("1:2")),
            chmod: Some(s("0755")),
            link: true,
            parents: true,
            exclude: strings(&["*.md", "x"]),
            sources: strings(&["a"]),
            dest: s("/d"),
            ..copy()
        }),
    );
    check(
        "COPY --link=false --chown=\"a b\" a /d",
        K::Copy(CopyAdd {
            chown: Some(s("a b")),
            sources: strings(&["a"]),
            dest: s("/d"),
            ..copy()
        }),
    );
    check(
        "ADD --keep-git-dir --checksum=sha256:abc --chmod=$M https://x/y /d",
        K::Add(CopyAdd {
            keep_git_dir: true,
            checksum: Some(s("sha256:abc")),
            chmod: Some(s("$M")),
            sources: strings(&["https://x/y"]),
            dest: s("/d"),
            ..copy()
        }),
    );
    check("WORKDIR /my dir", K::Workdir(s("/my dir")));
    check("USER app:app", K::User(s("app:app")));
    check(
        "EXPOSE 80 443/tcp 53/UDP 8000-8010 $P",
        K::Expose(strings(&["80", "443/tcp", "53/UDP", "8000-8010", "$P"])),
    );
    check(
        "VOLUME /a /b",
        K::Volume {
            paths: strings(&["/a", "/b"]),
            json: false,
        },
    );
    check(
        "VOLUME [\"/a\"]",
        K::Volume {
            paths: strings(&["/a"]),
            json: true,
        },
    );
    check(
        "SHELL [\"pwsh\", \"-c\"]",
        K::Shell(strings(&["pwsh", "-c"])),
    );
    check("STOPSIGNAL SIGKILL", K::StopSignal(s("SIGKILL")));
    check("MAINTAINER Jane <j@x>", K::Maintainer(s("Jane <j@x>")));
    check("HEALTHCHECK NONE", K::Healthcheck(Healthcheck::None));
    check(
        "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1.5s --start-interval=2s --retries=3 CMD curl -f x",
        K::Healthcheck(Healthcheck::Cmd {
            interval: Some(Duration::from_secs(90)),
            timeout: Some(Duration::from_millis(500)),
            start_period: Some(Duration::from_millis(1500)),
            start_interval: Some(Duration::from_secs(2)),
            retries: Some(3),
            command: Command::Shell(s("curl -f x")),
        }),
    );
    // BuildKit's exec-form rule: the first JSON value decides, what follows is ignored;
    // text that does not decode as a JSON array is shell form (or a word list).
    check(
        "CMD [\"x\", \"y\"] # the default",
        K::Cmd(Command::Exec(strings(&["x", "y"]))),
    );
    check(
        "ENTRYPOINT [\"/bin/app\"]]",
        K::Entrypoint(Command::Exec(strings(&["/bin/app"]))),
    );
    check(
        "ENTRYPOINT [\"/bin/app\"][\"x\"]",
        K::Entrypoint(Command::Exec(strings(&["/bin/app"]))),
    );
    check(
        "ENTRYPOINT ['/bin/app']",
        K::Entrypoint(Command::Shell(s("['/bin/app']"))),
    );
    check(
        "CMD [\"unterminated\"",
        K::Cmd(Command::Shell(s("[\"unterminated\""))),
    );
    check(
        "SHELL [\"/bin/bash\", \"-c\"] trailing",
        K::Shell(strings(&["/bin/bash", "-c"])),
    );
    check(
        "VOLUME [\"/a\", \"/b\"] /c",
        K::Volume {
            paths: strings(&["/a", "/b"]),
            json: true,
        },
    );
    check(
        "VOLUME [/a] /b",
        K::Volume {
            paths: strings(&["[/a]", "/b"]),
            json: false,
        },
    );
    check(
        "COPY [\"a b\", \"/d\"] ignored",
        K::Copy(CopyAdd {
            sources: strings(&["a b"]),
            dest: s("/d"),
            json: true,
            ..copy()
        }),
    );
    check(
        "HEALTHCHECK CMD [\"probe\", \"-q\"] --later",
        K::Healthcheck(Healthcheck::Cmd {
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
            command: Command::Exec(strings(&["probe", "-q"])),
        }),
    );
    check(
        "ONBUILD RUN make",
        K::Onbuild(Box::new(Instruction {
            line: 2,
            original: s("RUN make"),
            kind: K::Run(run(Command::Shell(s("make")))),
        })),
    );
}

#[test]
fn heredoc_instructions() {
    let heredoc = |name: &str, content: &str, expand: bool, chomp: bool| Heredoc {
        name: s(name),
        content: s(content),
        expand,
        chomp,
    };
    fn check(text: &str, expected: InstructionKind) {
        assert_eq!(one(text), expected, "{text:?}");
    }
    check(
        "RUN <<EOF\napt-get update\nEOF",
        InstructionKind::Run(Run {
            heredocs: vec![heredoc("EOF", "apt-get update\n", true, false)],
            ..run(Command::Shell(s("<<EOF")))
        }),
    );
    check(
        "RUN python3 <<-'PY'\n\tprint(1)\n\tPY",
        InstructionKind::Run(Run {
            heredocs: vec![heredoc("PY", "print(1)\n", false, true)],
            ..run(Command::Shell(s("python3 <<-'PY'")))
        }),
    );
    check(
        "COPY <<a.txt <<b.txt /dst/\nA $X\na.txt\nB\nb.txt",
        InstructionKind::Copy(CopyAdd {
            sources: strings(&["<<a.txt", "<<b.txt"]),
            dest: s("/dst/"),
            heredocs: vec![
                heredoc("a.txt", "A $X\n", true, false),
                heredoc("b.txt", "B\n", true, false),
            ],
            ..copy()
        }),
    );
}

#[test]
fn stages_and_meta_args() {
    let df = parse(
        "# syntax=docker/dockerfile:1\nARG V=1 W\nFROM --platform=$BUILDPLATFORM golang:$V AS Build\nRUN x\nfrom scratch\n",
    )
    .unwrap();
    assert_eq!(
        df.directives,
        vec![Directive {
            name: s("syntax"),
            value: s("docker/dockerfile:1")
        }]
    );
    assert_eq!(df.meta_args.len(), 2);
    assert_eq!(df.stages.len(), 2);
    let build = &df.stages[0];
    assert_eq!(
        (
            build.index,
            build.name.as_deref(),
            build.base.as_str(),
            build.platform.as_deref(),
            build.line
        ),
        (0, Some("build"), "golang:$V", Some("$BUILDPLATFORM"), 3)
    );
    assert_eq!(build.instructions[0].line, 4);
    assert_eq!(df.stages[1].base, "scratch");
    assert_eq!(df.stage("BUILD").map(|s| s.index), Some(0));
    assert_eq!(df.stage("1").map(|s| s.index), Some(1));
}

#[test]
fn original_text_keeps_continuations() {
    let df = parse("FROM a\nRUN apt-get update \\\n  # note\n  && apt-get install x\nCMD y\r\n")
        .unwrap();
    let ins = &df.stages[0].instructions;
    assert_eq!(
        ins[0].original,
        "RUN apt-get update \\\n  # note\n  && apt-get install x"
    );
    assert_eq!(
        ins[0].kind,
        InstructionKind::Run(run(Command::Shell(s(
            "apt-get update   && apt-get install x"
        ))))
    );
    assert_eq!((ins[1].line, ins[1].original.as_str()), (5, "CMD y"));
}

#[test]
fn escape_directive_backtick() {
    let df = parse("# escape=`\nFROM w\nRUN dir C:\\ `\n  /b\nCOPY a\\b c\\\n").unwrap();
    let ins = &df.stages[0].instructions;
    assert_eq!(
        ins[0].kind,
        InstructionKind::Run(run(Command::Shell(s("dir C:\\   /b"))))
    );
    assert_eq!(
        ins[1].kind,
        InstructionKind::Copy(CopyAdd {
            sources: strings(&["a\\b"]),
            dest: s("c\\"),
            ..copy()
        })
    );
}

#[test]
fn malformed_inputs_name_line_and_column() {
    fn check(input: &str, expected: &str) {
        match parse(input) {
            Err(e) => assert_eq!(e.to_string(), expected, "input {input:?}"),
            Ok(df) => panic!("input {input:?} parsed: {df:?}"),
        }
    }
    check(
        "FROM a\nFOO bar",
        "dockerfile:2:1: unknown instruction: FOO",
    );
    check(
        "FROM a\n  RUNN x",
        "dockerfile:2:3: unknown instruction: RUNN",
    );
    // Only the leading letters of an unknown word, 16 at most: a file that is not a
    // Dockerfile never travels in the error.
    check(
        "FROM a\nPATH=/usr/bin\0HOME=/root\0TOKEN=s3cr3t",
        "dockerfile:2:1: unknown instruction: PATH...",
    );
    check(
        "FROM a\nabcdefghijklmnopqrstuvwxyz",
        "dockerfile:2:1: unknown instruction: abcdefghijklmnop...",
    );
    check(
        "FROM a\nroot:$6$salt$hash:19000:0:99999:7:::",
        "dockerfile:2:1: unknown instruction: root...",
    );
    check(
        "FROM a\n0123secret",
        "dockerfile:2:1: unknown instruction: the line does not start with an instruction keyword",
    );
    check(
        "FROM a\nONBUILD s3cr3t-token",
        "dockerfile:2:9: unknown instruction: s...",
    );
    check(
        "FROM",
        "dockerfile:1:1: FROM requires either one or three arguments",
    );
    check(
        "FROM a b",
        "dockerfile:1:1: FROM requires either one or three arguments",
    );
    check(
        "FROM a\nCOPY onlyone",
        "dockerfile:2:1: COPY requires at least two arguments: one or more sources and a destination",
    );
    // A JSON array holding anything but strings is an error, never shell form.
    for (line, column) in [
        ("RUN [\"a\", 1]", 5),
        ("CMD [\"a\", null]", 5),
        ("ENTRYPOINT [[\"a\"]] x", 12),
        ("COPY --chown=1 [\"a\", {}] ", 16),
        ("VOLUME [true]", 8),
        ("SHELL [\"sh\", 2]", 7),
        ("HEALTHCHECK CMD [1]", 17),
    ] {
        check(
            &format!("FROM a\n{line}"),
            &format!(
                "dockerfile:2:{column}: when using JSON array syntax, arrays must be comprised of strings only"
            ),
        );
    }
    check(
        "FROM a\nSHELL /bin/sh -c",
        "dockerfile:2:7: SHELL requires the arguments to be in JSON form, e.g. [\"/bin/sh\", \"-c\"]",
    );
    check(
        "FROM a\nENV A=\"unterminated",
        "dockerfile:2:7: unterminated double quote",
    );
    check(
        "FROM a\nRUN <<EOF\necho\n",
        "dockerfile:2:5: unterminated heredoc \"EOF\"",
    );
    check(
        "FROM a\nCOPY --form=x a b",
        "dockerfile:2:6: unknown flag --form for COPY",
    );
    check(
        "FROM a\nADD --from=x a b",
        "dockerfile:2:5: unknown flag --from for ADD",
    );
    check(
        "FROM a\nCOPY --from=x --from=y a b",
        "dockerfile:2:15: duplicate flag --from",
    );
    check(
        "FROM a\nCOPY --chown a b",
        "dockerfile:2:6: missing a value on flag --chown",
    );
    check(
        "FROM a\nCOPY --link=maybe a b",
        "dockerfile:2:6: expecting boolean value for flag --link, not \"maybe\"",
    );
    check(
        "FROM a\nCOPY --chmod=999 a b",
        "dockerfile:2:6: invalid --chmod \"999\": expected an octal mode such as 755 or 0644",
    );
    check(
        "FROM a\nONBUILD ONBUILD RUN x",
        "dockerfile:2:9: ONBUILD isn't allowed as an ONBUILD trigger",
    );
    check(
        "FROM a\nONBUILD FROM b",
        "dockerfile:2:9: FROM isn't allowed as an ONBUILD trigger",
    );
    check(
        "ARG a\nRUN x\nFROM b",
        "dockerfile:2:1: RUN comes before the first FROM: only ARG may come before FROM",
    );
    check(
        "FROM a AS 1st",
        "dockerfile:1:11: invalid stage name \"1st\": it must start with a letter and contain only letters, digits, '-', '_' and '.'",
    );
    check("FROM a FOR b", "dockerfile:1:8: expected AS, found \"FOR\"");
    check(
        "# escape=x\nFROM a",
        "dockerfile:1:1: invalid escape directive \"x\": must be \\ or `",
    );
    check(
        "# escape=`\n# escape=\\\nFROM a",
        "dockerfile:2:1: only one escape parser directive can be used",
    );
    check(
        "FROM a\nHEALTHCHECK --interval=5 CMD x",
        "dockerfile:2:13: --interval: invalid duration \"5\": expected e.g. 30s, 1m30s or 500ms",
    );
    check(
        "FROM a\nHEALTHCHECK --timeout=10us CMD x",
        "dockerfile:2:13: --timeout: duration \"10us\" cannot be less than 1ms",
    );
    check(
        "FROM a\nHEALTHCHECK --retries=-1 CMD x",
        "dockerfile:2:13: --retries must be a non-negative integer, not \"-1\"",
    );
    check(
        "FROM a\nHEALTHCHECK CMD",
        "dockerfile:2:13: missing command after HEALTHCHECK CMD",
    );
    check(
        "FROM a\nHEALTHCHECK RUN x",
        "dockerfile:2:13: unknown type \"RUN\" in HEALTHCHECK (try CMD or NONE)",
    );
    check(
        "FROM a\nHEALTHCHECK NONE x",
        "dockerfile:2:13: HEALTHCHECK NONE takes no arguments",
    );
    check(
        "FROM a\nEXPOSE 80 http",
        "dockerfile:2:11: invalid port \"http\" in EXPOSE: expected a port number from 0 to 65535",
    );
    check(
        "FROM a\nEXPOSE 80/tcpx",
        "dockerfile:2:8: invalid port \"80/tcpx\" in EXPOSE: protocol must be tcp, udp or sctp",
    );
    check(
        "FROM a\nEXPOSE 90-80",
        "dockerfile:2:8: invalid port \"90-80\" in EXPOSE: expected a port range start-end",
    );
    check(
        "FROM a\nRUN --network=bridge x",
        "dockerfile:2:5: invalid network mode \"bridge\": must be default, none or host",
    );
    check(
        "FROM a\nENV A=1 B",
        "dockerfile:2:9: can't find = in \"B\": must be of the form name=value",
    );
    check(
        "FROM a\nENV A",
        "dockerfile:2:5: ENV A has no value: use ENV A=value",
    );
    check(
        "FROM a\nARG =x",
        "dockerfile:2:5: ARG names can not be blank",
    );
    check(
        "FROM a\nWORKDIR",
        "dockerfile:2:1: WORKDIR requires exactly one argument",
    );
    check(
        "FROM a\nVOLUME [\"\"]",
        "dockerfile:2:8: VOLUME specified can not be an empty string",
    );
    check(
        "# just a comment\n\n",
        "dockerfile:2:1: no FROM instruction: a dockerfile needs at least one build stage",
    );
    check(
        "FROM a\nRUN x \\\n  --y \\\n  && z\nCOPY --bad=1 a b",
        "dockerfile:5:6: unknown flag --bad for COPY",
    );
    check(
        "FROM a\nCOPY a \\\n  'b c",
        "dockerfile:3:3: unterminated single quote",
    );
}

#[test]
fn error_column_after_continuation() {
    let err = parse("FROM a\nCOPY \\\n   --nope=1 a b").unwrap_err();
    assert_eq!((err.line, err.column), (3, 4));
}

#[test]
fn durations() {
    fn check(input: &str, expected: Result<Duration, ()>) {
        assert_eq!(parse_duration(input).map_err(|_| ()), expected, "{input:?}");
    }
    check("0", Ok(Duration::ZERO));
    check("30s", Ok(Duration::from_secs(30)));
    check("1h2m3s", Ok(Duration::from_secs(3723)));
    check("1.5m", Ok(Duration::from_secs(90)));
    check("250ms", Ok(Duration::from_millis(250)));
    check("1500000ns", Ok(Duration::from_micros(1500)));
    check("", Err(()));
    check("s", Err(()));
    check("10", Err(()));
    check("10x", Err(()));
    check("999us", Err(()));
}

mod roundtrip;
