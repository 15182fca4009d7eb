// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The printer's contract: a random well-formed syntax tree, printed and parsed again, comes
//! back unchanged (apart from lines and source text).

use std::time::Duration;

use proptest::prelude::*;

use super::super::super::instruction::{Directive, Heredoc};
use super::super::*;

fn s(v: &str) -> String {
    v.to_string()
}

/// Removes what the printer cannot preserve: lines and source text.
fn normalise(mut df: Dockerfile) -> Dockerfile {
    fn instruction(i: &mut Instruction) {
        i.line = 0;
        i.original.clear();
        if let InstructionKind::Onbuild(t) = &mut i.kind {
            instruction(t);
        }
    }
    for stage in &mut df.stages {
        stage.line = 0;
        stage.original.clear();
        stage.instructions.iter_mut().for_each(instruction);
    }
    df
}

#[test]
fn printer_is_canonical() {
    let df = parse(
        "from --platform=$BUILDPLATFORM a as B\nenv x y z\ncopy --chown=\"a b\" [\"s\", \"d\"]\nrun <<-E\n\tx\n\tE\nonbuild add a b\n",
    )
    .unwrap();
    assert_eq!(
        df.to_string(),
        "FROM --platform=$BUILDPLATFORM a AS b\nENV x y z\nCOPY --chown=\"a b\" [\"s\",\"d\"]\nRUN <<-E\nx\nE\nONBUILD ADD a b\n"
    );
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9._/-]{0,8}",
        "\\$[A-Z]{1,3}",
        "\\$\\{[A-Z]{1,3}:-[a-z]{0,3}\\}",
        "\"[a-z ]{0,6}\"",
        "'[a-z $]{0,6}'",
    ]
}

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,6}"
}

fn flag_value() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9:=,/$]{0,8}", "[a-z \"'\\\\]{0,6}"]
}

fn shell_text() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9_&|;.$=\"'][a-z0-9_&|;.$=\"'-]{0,5}", 1..5)
        .prop_map(|w| w.join(" "))
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        shell_text().prop_map(Command::Shell),
        proptest::collection::vec("[ -~]{0,6}", 0..4).prop_map(Command::Exec),
    ]
}

fn heredoc_body() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z $\"']{0,10}", 0..3)
        .prop_map(|lines| lines.into_iter().map(|l| l + "\n").collect())
}

fn duration() -> impl Strategy<Value = Option<Duration>> {
    proptest::option::of(prop_oneof![
        Just(Duration::ZERO),
        (1u64..100_000).prop_map(Duration::from_millis),
        (1_000_000u64..10_000_000_000).prop_map(Duration::from_nanos),
    ])
}

fn copy_add(add: bool) -> impl Strategy<Value = CopyAdd> {
    (
        (
            proptest::option::of(flag_value()),
            proptest::option::of(flag_value()),
            proptest::option::of("[0-7]{3,4}"),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(flag_value()),
            proptest::collection::vec(flag_value(), 0..2),
        ),
        proptest::collection::vec(word(), 1..3),
        word(),
        any::<bool>(),
        proptest::collection::vec(("[A-Z]{1,4}", any::<bool>(), heredoc_body()), 0..2),
    )
        .prop_map(
            move |(
                (from, chown, chmod, link, b, checksum, exclude),
                mut sources,
                dest,
                json,
                docs,
            )| {
                let mut heredocs = Vec::new();
                if !json {
                    for (i, (name, expand, content)) in docs.into_iter().enumerate() {
                        let name = format!("{name}{i}");
                        sources.push(if expand {
                            format!("<<{name}")
                        } else {
                            format!("<<\"{name}\"")
                        });
                        heredocs.push(Heredoc {
                            name,
                            content,
                            expand,
                            chomp: false,
                        });
                    }
                }
                CopyAdd {
                    from: if add { None } else { from },
                    chown,
                    chmod,
                    link,
                    parents: !add && b,
                    keep_git_dir: add && b,
                    checksum: if add { checksum } else { None },
                    exclude,
                    sources,
                    dest,
                    json,
                    heredocs,
                }
            },
        )
}

fn key_values() -> impl Strategy<Value = KeyValues> {
    prop_oneof![
        proptest::collection::vec((ident(), word()), 1..3).prop_map(|pairs| KeyValues {
            pairs: pairs
                .into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect(),
            legacy: false,
        }),
        (ident(), proptest::collection::vec("[a-z0-9]{1,4}", 1..3)).prop_map(|(key, words)| {
            KeyValues {
                pairs: vec![KeyValue {
                    key,
                    value: words.join(" "),
                }],
                legacy: true,
            }
        }),
    ]
}

fn arg_decls() -> impl Strategy<Value = Vec<ArgDecl>> {
    proptest::collection::vec((ident(), proptest::option::of(word())), 1..3).prop_map(|v| {
        v.into_iter()
            .map(|(name, default)| ArgDecl { name, default })
            .collect()
    })
}

fn simple_kind() -> impl Strategy<Value = InstructionKind> {
    use InstructionKind as K;
    prop_oneof![
        arg_decls().prop_map(K::Arg),
        key_values().prop_map(K::Env),
        key_values().prop_map(K::Label),
        (
            proptest::collection::vec(flag_value(), 0..2),
            proptest::option::of(prop_oneof![Just(s("none")), Just(s("host"))]),
            proptest::option::of(Just(s("insecure"))),
            command(),
            proptest::option::of(("[A-Z]{1,4}", heredoc_body(), any::<bool>(), any::<bool>())),
        )
            .prop_map(|(mounts, network, security, command, doc)| {
                let mut heredocs = Vec::new();
                let command = match (command, doc) {
                    (Command::Shell(text), Some((name, content, expand, chomp))) => {
                        let dash = if chomp { "-" } else { "" };
                        let marker = if expand {
                            name.clone()
                        } else {
                            format!("'{name}'")
                        };
                        heredocs.push(Heredoc {
                            name,
                            content,
                            expand,
                            chomp,
                        });
                        let text = text
                            .replace(['"', '\''], "")
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ");
                        let text = if text.trim().is_empty() {
                            s("cat")
                        } else {
                            text
                        };
                        Command::Shell(format!("{text} <<{dash}{marker}"))
                    }
                    (command, _) => command,
                };
                K::Run(Run {
                    mounts,
                    network,
                    security,
                    command,
                    heredocs,
                })
            }),
        command().prop_map(K::Cmd),
        command().prop_map(K::Entrypoint),
        copy_add(false).prop_map(K::Copy),
        copy_add(true).prop_map(K::Add),
        "/[a-z $]{0,8}[a-z]".prop_map(K::Workdir),
        "[a-z0-9:$]{1,8}".prop_map(K::User),
        proptest::collection::vec(
            prop_oneof!["[0-9]{1,4}", "[0-9]{1,4}/(tcp|udp)", "\\$[A-Z]{1,3}"],
            1..3
        )
        .prop_map(K::Expose),
        (proptest::collection::vec(word(), 1..3), any::<bool>())
            .prop_map(|(paths, json)| { K::Volume { paths, json } }),
        proptest::collection::vec("[ -~]{1,6}", 1..3).prop_map(K::Shell),
        "[A-Z0-9$]{1,8}".prop_map(K::StopSignal),
        "[a-z][a-z <>@.]{0,8}[a-z]".prop_map(K::Maintainer),
        Just(K::Healthcheck(Healthcheck::None)),
        (
            duration(),
            duration(),
            duration(),
            duration(),
            proptest::option::of(0u32..10),
            command()
        )
            .prop_map(
                |(interval, timeout, start_period, start_interval, retries, command)| {
                    K::Healthcheck(Healthcheck::Cmd {
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                        command,
                    })
                }
            ),
    ]
}

fn kind() -> impl Strategy<Value = InstructionKind> {
    prop_oneof![
        4 => simple_kind(),
        1 => simple_kind().prop_filter("MAINTAINER is no ONBUILD trigger", |k| !matches!(k, InstructionKind::Maintainer(_))).prop_map(|k| InstructionKind::Onbuild(Box::new(Instruction { line: 0, original: String::new(), kind: k }))),
    ]
}

fn dockerfile() -> impl Strategy<Value = Dockerfile> {
    let stage = (
        proptest::option::of("[a-z][a-z0-9._-]{0,6}"),
        "[a-z][a-z0-9./:-]{0,10}",
        proptest::option::of(prop_oneof![
            Just(s("$BUILDPLATFORM")),
            Just(s("linux/arm64"))
        ]),
        proptest::collection::vec(kind(), 0..6),
    );
    (
        proptest::option::of(Just(Directive {
            name: s("syntax"),
            value: s("docker/dockerfile:1"),
        })),
        proptest::collection::vec(arg_decls(), 0..2),
        proptest::collection::vec(stage, 1..4),
    )
        .prop_map(|(directive, meta, stages)| Dockerfile {
            directives: directive.into_iter().collect(),
            meta_args: meta.into_iter().flatten().collect(),
            stages: stages
                .into_iter()
                .enumerate()
                .map(|(index, (name, base, platform, kinds))| Stage {
                    index,
                    name,
                    base,
                    platform,
                    line: 0,
                    original: String::new(),
                    instructions: kinds
                        .into_iter()
                        .map(|kind| Instruction {
                            line: 0,
                            original: String::new(),
                            kind,
                        })
                        .collect(),
                })
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn print_then_parse_gives_the_same_tree(df in dockerfile()) {
        let text = df.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(normalise(parsed), df, "printed:\n{}", text);
    }
}
