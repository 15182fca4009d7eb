// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build arguments and the ARG/ENV scope, with BuildKit's rules: meta-ARGs (before the first
//! `FROM`) and the automatic platform args are visible in `FROM` lines only; inside a stage an
//! `ARG NAME` without a value picks up the meta (or platform) value; `--build-arg` overrides
//! declared args only; `ENV` wins over `ARG` of the same name; an undeclared `$X` is empty.
//! The executor walks a stage with [`Scope::apply`], one instruction at a time.

use std::collections::{BTreeMap, BTreeSet};

use super::expand::{self, ExpandError};
use super::instruction::{
    ArgDecl, Command, Dockerfile, Healthcheck, Instruction, InstructionKind, Run,
};
use super::lexer;
use super::parse::{check_chmod, check_port};
use crate::platform::Platform;

/// Build arguments that reach `RUN` without being declared and never count as unused
/// (BuildKit's predefined proxy args).
pub const ALLOWED_UNDECLARED_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What the user passed for one build: `--build-arg` values and the two platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildArgs {
    /// `--build-arg NAME=value` pairs.
    pub values: BTreeMap<String, String>,
    /// The platform the image is built for (`TARGET*` args).
    pub target: Platform,
    /// The platform the builder runs on (`BUILD*` args).
    pub build: Platform,
}

impl BuildArgs {
    /// No build args, the given target and build platforms.
    pub fn new(target: Platform, build: Platform) -> BuildArgs {
        BuildArgs {
            values: BTreeMap::new(),
            target,
            build,
        }
    }

    /// Adds a `--build-arg`.
    pub fn with(mut self, name: &str, value: &str) -> BuildArgs {
        self.values.insert(name.to_string(), value.to_string());
        self
    }

    /// The automatic platform args: `TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT
    /// BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT` (a variant arg is empty without variant).
    pub fn platform_args(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (prefix, p) in [("TARGET", &self.target), ("BUILD", &self.build)] {
            out.insert(format!("{prefix}PLATFORM"), p.to_string());
            out.insert(format!("{prefix}OS"), p.os.clone());
            out.insert(format!("{prefix}ARCH"), p.architecture.clone());
            out.insert(
                format!("{prefix}VARIANT"),
                p.variant.clone().unwrap_or_default(),
            );
        }
        out
    }
}

/// The variables visible at one point of a Dockerfile: the global scope (for `FROM` lines) or
/// the scope of a stage as it is walked instruction by instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    escape: char,
    /// Values an `ARG NAME` without default inherits: platform args and meta-ARGs.
    inherited: BTreeMap<String, String>,
    build_args: BTreeMap<String, String>,
    /// `ENV` of the base image and of the stage so far, in order.
    env: Vec<(String, String)>,
    /// Declared args and their values (`None`: declared without a value).
    args: BTreeMap<String, Option<String>>,
    declared: BTreeSet<String>,
}

/// An instruction with its words expanded in the scope it ran in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expanded {
    /// Declared args and the values they got.
    Arg(Vec<(String, Option<String>)>),
    /// The pairs set.
    Env(Vec<(String, String)>),
    /// The labels set.
    Label(Vec<(String, String)>),
    /// `RUN` with its `--mount` values expanded; the command and heredocs are left to the
    /// shell.
    Run(Run),
    /// `CMD` as written (the shell expands).
    Cmd(Command),
    /// `ENTRYPOINT` as written.
    Entrypoint(Command),
    /// `COPY`.
    Copy(ExpandedCopyAdd),
    /// `ADD`.
    Add(ExpandedCopyAdd),
    /// `WORKDIR`.
    Workdir(String),
    /// `USER`.
    User(String),
    /// Checked port specs, one per word.
    Expose(Vec<String>),
    /// `VOLUME` paths.
    Volume(Vec<String>),
    /// `SHELL`.
    Shell(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `HEALTHCHECK` as written.
    Healthcheck(Healthcheck),
    /// The trigger text as written (recorded in the image config, expanded in the child).
    Onbuild(String),
    /// `MAINTAINER`.
    Maintainer(String),
}

/// `COPY`/`ADD` after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedCopyAdd {
    /// `--from`: a stage name or index, or an image reference.
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`, checked.
    pub chmod: Option<u32>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// `--checksum`.
    pub checksum: Option<String>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// Source paths (or URLs, for ADD).
    pub sources: Vec<String>,
    /// Inline files from heredocs: `(file name, content)`, content expanded unless the
    /// terminator was quoted.
    pub inline: Vec<(String, String)>,
    /// Destination.
    pub dest: String,
}

impl Dockerfile {
    /// The global scope: automatic platform args and the meta-ARGs (with `--build-arg`
    /// overrides). Expand `FROM` lines with it, and derive each stage's scope from it with
    /// [`Scope::stage`].
    pub fn global_scope(&self, args: &BuildArgs) -> Result<Scope, ExpandError> {
        let platform = args.platform_args();
        let mut scope = Scope {
            escape: self.escape(),
            inherited: platform.clone(),
            build_args: args.values.clone(),
            env: Vec::new(),
            args: platform.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            declared: BTreeSet::new(),
        };
        scope.declare(&self.meta_args)?;
        Ok(scope)
    }
}

impl Scope {
    /// A fresh stage scope: no args or env yet, but `ARG NAME` without a default picks up the
    /// value `NAME` has here (a meta-ARG or an automatic platform arg).
    pub fn stage(&self) -> Scope {
        let inherited = self
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        Scope {
            escape: self.escape,
            inherited,
            build_args: self.build_args.clone(),
            env: Vec::new(),
            args: BTreeMap::new(),
            declared: BTreeSet::new(),
        }
    }

    /// Replaces the environment with the base image's `Env` (or the parent stage's final
    /// environment), before the stage's own instructions run.
    pub fn with_base_env(mut self, env: impl IntoIterator<Item = (String, String)>) -> Scope {
        self.env = env.into_iter().collect();
        self
    }

    /// The current environment (base image plus `ENV` so far), in order.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Names declared with `ARG` in this scope so far.
    pub fn declared(&self) -> &BTreeSet<String> {
        &self.declared
    }

    /// The value of a variable: `ENV` first, then a declared `ARG`; `None` when unset.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.env.iter().rev().find(|(k, _)| k == name) {
            return Some(v.clone());
        }
        self.args.get(name).cloned().flatten()
    }

    /// The environment `RUN` executes with: declared args that have a value, the predefined
    /// proxy build args, then `ENV` (which wins over an arg of the same name).
    pub fn run_environment(&self) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = self
            .build_args
            .iter()
            .filter(|(k, _)| ALLOWED_UNDECLARED_ARGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &self.args {
            if let Some(v) = v {
                out.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in &self.env {
            out.insert(k.clone(), v.clone());
        }
        out.into_iter().collect()
    }

    /// Expands one word (quotes removed, whitespace kept).
    pub fn expand(&self, word: &str) -> Result<String, ExpandError> {
        expand::expand_word(word, self.escape, &|name| self.get(name))
    }

    /// Expands text and splits it into words.
    pub fn expand_words(&self, text: &str) -> Result<Vec<String>, ExpandError> {
        expand::expand_words(text, self.escape, &|name| self.get(name))
    }

    fn expand_opt(&self, word: &Option<String>) -> Result<Option<String>, ExpandError> {
        word.as_deref().map(|w| self.expand(w)).transpose()
    }

    fn declare(&mut self, decls: &[ArgDecl]) -> Result<Vec<(String, Option<String>)>, ExpandError> {
        let mut out = Vec::new();
        for decl in decls {
            let name = self.expand(&decl.name)?;
            let value = match (self.build_args.get(&name), &decl.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => Some(self.expand(default)?),
                (None, None) => self.inherited.get(&name).cloned(),
            };
            self.args.insert(name.clone(), value.clone());
            self.declared.insert(name.clone());
            out.push((name, value));
        }
        Ok(out)
    }

    /// Expands one instruction of the stage and applies its effect on the scope (`ARG`
    /// declares, `ENV` sets). Only the instructions Docker expands are expanded: `RUN`,
    /// `CMD`, `ENTRYPOINT`, `SHELL`, `HEALTHCHECK` and `ONBUILD` triggers come back as
    /// written.
    pub fn apply(&mut self, instruction: &Instruction) -> Result<Expanded, ExpandError> {
        Ok(match &instruction.kind {
            InstructionKind::Arg(decls) => Expanded::Arg(self.declare(decls)?),
            InstructionKind::Env(kv) => {
                let pairs = kv
                    .pairs
                    .iter()
                    .map(|p| Ok((self.expand(&p.key)?, self.expand(&p.value)?)))
                    .collect::<Result<Vec<_>, ExpandError>>()?;
                for (k, v) in &pairs {
                    match self.env.iter_mut().find(|(name, _)| name == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => self.env.push((k.clone(), v.clone())),
                    }
                }
                Expanded::Env(pairs)
            }
            InstructionKind::Label(kv) => Expanded::Label(
                kv.pairs
                    .iter()
                    .map(|p| Ok((self.expand(&p.key)?, self.expand(&p.value)?)))
                    .collect::<Result<_, ExpandError>>()?,
            ),
            InstructionKind::Run(run) => Expanded::Run(Run {
                mounts: run
                    .mounts
                    .iter()
                    .map(|m| self.expand(m))
                    .collect::<Result<_, _>>()?,
                ..run.clone()
            }),
            InstructionKind::Cmd(c) => Expanded::Cmd(c.clone()),
            InstructionKind::Entrypoint(c) => Expanded::Entrypoint(c.clone()),
            InstructionKind::Copy(c) | InstructionKind::Add(c) => {
                let chmod = match self.expand_opt(&c.chmod)? {
                    Some(m) => Some(check_chmod(&m).map_err(ExpandError::Invalid)?),
                    None => None,
                };
                let mut sources = Vec::new();
                let mut inline = Vec::new();
                for raw in &c.sources {
                    let heredoc = lexer::parse_heredoc_marker(raw)
                        .and_then(|m| c.heredocs.iter().find(|h| h.name == m.name));
                    match heredoc {
                        Some(h) if h.expand => inline.push((
                            h.name.clone(),
                            expand::expand_heredoc(&h.content, self.escape, &|n| self.get(n))?,
                        )),
                        Some(h) => inline.push((h.name.clone(), h.content.clone())),
                        None => sources.push(self.expand(raw)?),
                    }
                }
                let out = ExpandedCopyAdd {
                    from: self.expand_opt(&c.from)?,
                    chown: self.expand_opt(&c.chown)?,
                    chmod,
                    link: c.link,
                    parents: c.parents,
                    keep_git_dir: c.keep_git_dir,
                    checksum: self.expand_opt(&c.checksum)?,
                    exclude: c
                        .exclude
                        .iter()
                        .map(|e| self.expand(e))
                        .collect::<Result<_, _>>()?,
                    sources,
                    inline,
                    dest: self.expand(&c.dest)?,
                };
                if matches!(instruction.kind, InstructionKind::Copy(_)) {
                    Expanded::Copy(out)
                } else {
                    Expanded::Add(out)
                }
            }
            InstructionKind::Workdir(w) => Expanded::Workdir(self.expand(w)?),
            InstructionKind::User(u) => Expanded::User(self.expand(u)?),
            InstructionKind::StopSignal(s) => Expanded::StopSignal(self.expand(s)?),
            InstructionKind::Maintainer(m) => Expanded::Maintainer(m.clone()),
            InstructionKind::Expose(words) => {
                let mut ports = Vec::new();
                for word in words {
                    for port in self.expand_words(word)? {
                        check_port(&port).map_err(ExpandError::Invalid)?;
                        ports.push(port);
                    }
                }
                Expanded::Expose(ports)
            }
            InstructionKind::Volume { paths, .. } => Expanded::Volume(
                paths
                    .iter()
                    .map(|p| self.expand(p))
                    .collect::<Result<_, _>>()?,
            ),
            InstructionKind::Shell(items) => Expanded::Shell(items.clone()),
            InstructionKind::Healthcheck(h) => Expanded::Healthcheck(h.clone()),
            InstructionKind::Onbuild(trigger) => Expanded::Onbuild(trigger.original.clone()),
        })
    }
}

#[cfg(test)]
mod tests;
