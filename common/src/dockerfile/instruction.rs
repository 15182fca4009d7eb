// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The Dockerfile syntax tree: one typed variant per instruction. Words are kept raw (quotes,
//! escapes and `$VAR` references as written) so that they can be expanded later, once the
//! build arguments and the environment of the stage are known.

use std::time::Duration;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives from the top of the file, in order (`syntax`, `escape`, `check`).
    pub directives: Vec<Directive>,
    /// `ARG` declarations before the first `FROM` (visible in `FROM` lines only).
    pub meta_args: Vec<ArgDecl>,
    /// The build stages, in file order (never empty after a successful parse).
    pub stages: Vec<Stage>,
}

/// A parser directive such as `# escape=\``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lowercase directive name.
    pub name: String,
    /// The value, trimmed.
    pub value: String,
}

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position of the stage in the file, from 0 (what `COPY --from=0` refers to).
    pub index: usize,
    /// The stage name from `AS name`, lowercased.
    pub name: Option<String>,
    /// The base image or stage, unexpanded.
    pub base: String,
    /// The `--platform` flag of the `FROM` line, unexpanded.
    pub platform: Option<String>,
    /// 1-based line of the `FROM` instruction.
    pub line: usize,
    /// The source text of the `FROM` instruction.
    pub original: String,
    /// The instructions of the stage, in order.
    pub instructions: Vec<Instruction>,
}

/// One instruction with its position and source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// The instruction's lines as written in the file (continuation lines included, heredoc
    /// bodies excluded); what image history records as `created_by`.
    pub original: String,
    /// What the instruction is.
    pub kind: InstructionKind,
}

/// A declared build argument, `NAME` or `NAME=default` (both raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The raw name.
    pub name: String,
    /// The raw default value; `Some("")` for `ARG X=`.
    pub default: Option<String>,
}

/// A raw `key=value` pair of `ENV` or `LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The raw key.
    pub key: String,
    /// The raw value.
    pub value: String,
}

/// The pairs of an `ENV` or `LABEL` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValues {
    /// The pairs, in order.
    pub pairs: Vec<KeyValue>,
    /// Written in the legacy `ENV key value words` form (exactly one pair, the value is the
    /// rest of the line).
    pub legacy: bool,
}

/// A command in exec form (a JSON string array) or shell form (raw text for the shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `["executable", "arg"]`.
    Exec(Vec<String>),
    /// Text run with the stage's `SHELL`; never expanded by the builder.
    Shell(String),
}

/// A heredoc attached to `RUN`, `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word (quotes removed); for `COPY` it is also the file name.
    pub name: String,
    /// The body, every line ending with `\n`; leading tabs already removed when `chomp`.
    pub content: String,
    /// `false` when the terminator was quoted (`<<"EOF"`, `<<'EOF'`): no expansion.
    pub expand: bool,
    /// Written `<<-`: leading tabs are stripped from the body and the terminator line.
    pub chomp: bool,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Each `--mount=` value, unexpanded.
    pub mounts: Vec<String>,
    /// `--network=`.
    pub network: Option<String>,
    /// `--security=`.
    pub security: Option<String>,
    /// The command.
    pub command: Command,
    /// Heredoc bodies referenced from the command.
    pub heredocs: Vec<Heredoc>,
}

/// `COPY` and `ADD` (flags that the instruction does not accept are always empty/false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyAdd {
    /// `--from=` (COPY only), unexpanded.
    pub from: Option<String>,
    /// `--chown=`, unexpanded.
    pub chown: Option<String>,
    /// `--chmod=`, unexpanded.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// `--checksum=` (ADD only), unexpanded.
    pub checksum: Option<String>,
    /// Each `--exclude=` pattern, unexpanded.
    pub exclude: Vec<String>,
    /// Raw source words; a heredoc source is written `<<name` and has its body in `heredocs`.
    pub sources: Vec<String>,
    /// Raw destination.
    pub dest: String,
    /// Written as a JSON array.
    pub json: bool,
    /// Heredoc bodies used as sources.
    pub heredocs: Vec<Heredoc>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [flags] CMD command`.
    Cmd {
        /// `--interval`.
        interval: Option<Duration>,
        /// `--timeout`.
        timeout: Option<Duration>,
        /// `--start-period`.
        start_period: Option<Duration>,
        /// `--start-interval`.
        start_interval: Option<Duration>,
        /// `--retries`.
        retries: Option<u32>,
        /// The check command (a shell-form check runs as `CMD-SHELL`).
        command: Command,
    },
}

/// What an instruction is; `FROM` is not here, it starts a [`Stage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    /// `ARG a b=c`.
    Arg(Vec<ArgDecl>),
    /// `ENV`.
    Env(KeyValues),
    /// `LABEL`.
    Label(KeyValues),
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `COPY`.
    Copy(CopyAdd),
    /// `ADD`.
    Add(CopyAdd),
    /// `WORKDIR`, raw.
    Workdir(String),
    /// `USER`, raw.
    User(String),
    /// `EXPOSE`, raw words.
    Expose(Vec<String>),
    /// `VOLUME`, raw words; `json` when written as a JSON array.
    Volume {
        /// The paths.
        paths: Vec<String>,
        /// Written as a JSON array.
        json: bool,
    },
    /// `SHELL` (JSON form only).
    Shell(Vec<String>),
    /// `STOPSIGNAL`, raw.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD` and its trigger, kept unexpanded until it runs in a child image.
    Onbuild(Box<Instruction>),
    /// `MAINTAINER`, raw (deprecated; becomes the `author` field).
    Maintainer(String),
}

impl InstructionKind {
    /// The instruction keyword in upper case, e.g. `COPY`.
    pub fn keyword(&self) -> &'static str {
        match self {
            InstructionKind::Arg(_) => "ARG",
            InstructionKind::Env(_) => "ENV",
            InstructionKind::Label(_) => "LABEL",
            InstructionKind::Run(_) => "RUN",
            InstructionKind::Cmd(_) => "CMD",
            InstructionKind::Entrypoint(_) => "ENTRYPOINT",
            InstructionKind::Copy(_) => "COPY",
            InstructionKind::Add(_) => "ADD",
            InstructionKind::Workdir(_) => "WORKDIR",
            InstructionKind::User(_) => "USER",
            InstructionKind::Expose(_) => "EXPOSE",
            InstructionKind::Volume { .. } => "VOLUME",
            InstructionKind::Shell(_) => "SHELL",
            InstructionKind::StopSignal(_) => "STOPSIGNAL",
            InstructionKind::Healthcheck(_) => "HEALTHCHECK",
            InstructionKind::Onbuild(_) => "ONBUILD",
            InstructionKind::Maintainer(_) => "MAINTAINER",
        }
    }

    /// The heredoc bodies of the instruction (those of the trigger for `ONBUILD`).
    pub fn heredocs(&self) -> &[Heredoc] {
        match self {
            InstructionKind::Run(run) => &run.heredocs,
            InstructionKind::Copy(c) | InstructionKind::Add(c) => &c.heredocs,
            InstructionKind::Onbuild(trigger) => trigger.kind.heredocs(),
            _ => &[],
        }
    }
}

impl Dockerfile {
    /// The escape character chosen by the `escape` directive (`\` by default).
    pub fn escape(&self) -> char {
        self.directives
            .iter()
            .find(|d| d.name == "escape")
            .and_then(|d| d.value.chars().next())
            .unwrap_or('\\')
    }

    /// The stage called `name` (case-insensitive) or, when `name` is a number, the stage at
    /// that index.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok().and_then(|i| self.stages.get(i)))
    }
}
