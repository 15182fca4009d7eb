// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Random small Dockerfiles for the differential run: sequences of file creations, appends,
//! deletions, renames, hard links, symlinks, chmod and chown over a handful of paths, spread
//! across RUN and COPY layers so that every change meets what earlier layers left (a path
//! deleted and recreated, a hard link group modified through one name, a symlink replaced by
//! a directory). Generated with proptest strategies from a fixed seed, so a case is
//! reproduced by its seed and index.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// The paths operations act on: files and directories at two depths, so that renames and
/// links cross directories and a directory can replace a file.
const PATHS: [&str; 9] = [
    "/w/a", "/w/b", "/w/c", "/w/d", "/w/d/a", "/w/d/b", "/w/e", "/w/e/f", "/w/e/f/a",
];

/// Modes chmod sets: plain, private, executable, setuid, sticky, read-only.
const MODES: [&str; 7] = ["600", "644", "755", "700", "4755", "1777", "444"];

/// Owners chown sets (numeric: the busybox base names only root and nobody).
const OWNERS: [&str; 5] = ["0:0", "1:1", "1000:1000", "65534:65534", "1000:0"];

/// Files of the generated context that COPY steps take.
pub(crate) const CONTEXT_FILES: [(&str, &str); 4] = [
    ("src/one", "one\n"),
    ("src/two", "two two\n"),
    ("src/tree/x", "tree x\n"),
    ("src/tree/sub/y", "tree sub y\n"),
];

/// What COPY steps copy: a file, another file, a directory's content.
const COPY_SOURCES: [&str; 3] = ["src/one", "src/two", "src/tree"];

/// One shell operation of a RUN.
#[derive(Debug, Clone)]
enum Op {
    /// Creates (or truncates) a file with numbered content, parents created.
    Write(usize, u8),
    /// Appends to a file (through whatever name is given: a hard link, a symlink).
    Append(usize, u8),
    /// Removes a path and everything below it.
    Remove(usize),
    /// `mv` one path to another.
    Rename(usize, usize),
    /// A hard link to an existing file.
    HardLink(usize, usize),
    /// A symlink (absolute or relative target).
    Symlink(usize, usize, bool),
    /// `chmod` (through a symlink it changes the target).
    Chmod(usize, usize),
    /// `chown` of the path itself (`-h`).
    Chown(usize, usize),
    /// `mkdir -p`.
    Mkdir(usize),
}

impl Op {
    /// The operation as one shell command whose failure is ignored: a failing operation
    /// (a rename of a missing path) fails the same way under both builders.
    fn shell(&self) -> String {
        let p = |i: &usize| PATHS[*i];
        let command = match self {
            Op::Write(i, n) => format!("mkdir -p \"$(dirname {0})\" && echo w{n} > {0}", p(i)),
            Op::Append(i, n) => format!("echo a{n} >> {}", p(i)),
            Op::Remove(i) => format!("rm -rf {}", p(i)),
            Op::Rename(from, to) => format!("mv {} {}", p(from), p(to)),
            Op::HardLink(from, to) => format!("ln {} {}", p(from), p(to)),
            Op::Symlink(target, link, relative) => {
                let target = if *relative {
                    p(target).trim_start_matches("/w/").to_string()
                } else {
                    p(target).to_string()
                };
                format!("ln -s {target} {}", p(link))
            }
            Op::Chmod(mode, i) => format!("chmod {} {}", MODES[*mode], p(i)),
            Op::Chown(owner, i) => format!("chown -h {} {}", OWNERS[*owner], p(i)),
            Op::Mkdir(i) => format!("mkdir -p {}", p(i)),
        };
        format!("{{ {command}; }} 2>/dev/null || true")
    }
}

/// One instruction after the fixed start.
#[derive(Debug, Clone)]
enum Step {
    /// A RUN of several operations.
    Run(Vec<Op>),
    /// COPY of a context source to one of the paths, maybe with `--chown`.
    Copy(usize, usize, Option<usize>),
}

impl Step {
    fn instruction(&self) -> String {
        match self {
            Step::Run(ops) => {
                let ops: Vec<String> = ops.iter().map(Op::shell).collect();
                format!("RUN {}", ops.join("; "))
            }
            Step::Copy(source, dest, chown) => {
                let chown = chown.map_or(String::new(), |o| format!("--chown={} ", OWNERS[o]));
                format!("COPY {chown}{} {}", COPY_SOURCES[*source], PATHS[*dest])
            }
        }
    }
}

fn path() -> impl Strategy<Value = usize> {
    0..PATHS.len()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (path(), any::<u8>()).prop_map(|(i, n)| Op::Write(i, n % 10)),
        2 => (path(), any::<u8>()).prop_map(|(i, n)| Op::Append(i, n % 10)),
        2 => path().prop_map(Op::Remove),
        1 => (path(), path()).prop_map(|(a, b)| Op::Rename(a, b)),
        2 => (path(), path()).prop_map(|(a, b)| Op::HardLink(a, b)),
        1 => (path(), path(), any::<bool>()).prop_map(|(a, b, r)| Op::Symlink(a, b, r)),
        2 => (0..MODES.len(), path()).prop_map(|(m, i)| Op::Chmod(m, i)),
        1 => (0..OWNERS.len(), path()).prop_map(|(o, i)| Op::Chown(o, i)),
        1 => path().prop_map(Op::Mkdir),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec(op(), 1..6).prop_map(Step::Run),
        1 => (0..COPY_SOURCES.len(), path(), prop::option::of(0..OWNERS.len()))
            .prop_map(|(s, d, o)| Step::Copy(s, d, o)),
    ]
}

/// The Dockerfile (with `{base}` for the busybox base) of a random case.
fn dockerfile() -> impl Strategy<Value = String> {
    prop::collection::vec(step(), 1..7).prop_map(|steps| {
        let mut text = String::from("FROM {base}\nRUN mkdir -p /w/d /w/e\n");
        for step in steps {
            text.push_str(&step.instruction());
            text.push('\n');
        }
        text
    })
}

/// `count` Dockerfiles from `seed`: the same seed always gives the same list.
pub(crate) fn dockerfiles(seed: u64, count: usize) -> Vec<String> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = dockerfile();
    (0..count)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("the strategy has no filters")
                .current()
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_dockerfiles_and_they_vary() {
    let first = dockerfiles(7, 20);
    assert_eq!(first, dockerfiles(7, 20));
    assert_ne!(first, dockerfiles(8, 20));
    let distinct: std::collections::BTreeSet<&String> = first.iter().collect();
    assert!(
        distinct.len() > 15,
        "only {} distinct of 20",
        distinct.len()
    );
    for text in &first {
        assert!(text.starts_with("FROM {base}\n"), "{text}");
        assert!(text.lines().count() >= 3, "{text}");
    }
}
