// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Prints the syntax tree back as a canonical Dockerfile: upper-case keywords, one instruction
//! per line, flags in a fixed order, exec forms as compact JSON, heredoc bodies after their
//! instruction. Parsing the output gives the same tree (apart from lines and source text).

use std::fmt;
use std::time::Duration;

use super::instruction::{
    ArgDecl, Command, CopyAdd, Dockerfile, Healthcheck, Instruction, InstructionKind, KeyValues,
    Stage,
};

impl fmt::Display for Dockerfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.directives {
            writeln!(f, "# {}={}", d.name, d.value)?;
        }
        if !self.directives.is_empty() {
            writeln!(f)?;
        }
        for arg in &self.meta_args {
            writeln!(f, "ARG {}", DisplayArg(arg))?;
        }
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 || !self.meta_args.is_empty() {
                writeln!(f)?;
            }
            write!(f, "{stage}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Stage {
    /// The `FROM` line and every instruction, each ending with a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FROM ")?;
        if let Some(p) = &self.platform {
            write_flag(f, "platform", p)?;
        }
        f.write_str(&self.base)?;
        if let Some(name) = &self.name {
            write!(f, " AS {name}")?;
        }
        writeln!(f)?;
        for instruction in &self.instructions {
            write!(f, "{instruction}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Instruction {
    /// The instruction line, then its heredoc bodies; ends with a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.kind)?;
        for heredoc in self.kind.heredocs() {
            f.write_str(&heredoc.content)?;
            writeln!(f, "{}", heredoc.name)?;
        }
        Ok(())
    }
}

struct DisplayArg<'a>(&'a ArgDecl);

impl fmt::Display for DisplayArg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name)?;
        if let Some(v) = &self.0.default {
            write!(f, "={v}")?;
        }
        Ok(())
    }
}

/// Writes `--name=value ` with the value quoted when it must be.
fn write_flag(f: &mut fmt::Formatter<'_>, name: &str, value: &str) -> fmt::Result {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\');
    if plain {
        write!(f, "--{name}={value} ")
    } else {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        write!(f, "--{name}=\"{escaped}\" ")
    }
}

fn write_json(f: &mut fmt::Formatter<'_>, items: &[String]) -> fmt::Result {
    match serde_json::to_string(items) {
        Ok(json) => f.write_str(&json),
        Err(_) => Err(fmt::Error),
    }
}

fn write_command(f: &mut fmt::Formatter<'_>, command: &Command) -> fmt::Result {
    match command {
        Command::Exec(items) => write_json(f, items),
        Command::Shell(text) => f.write_str(text),
    }
}

fn write_pairs(f: &mut fmt::Formatter<'_>, kv: &KeyValues) -> fmt::Result {
    for (i, pair) in kv.pairs.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        if kv.legacy {
            write!(f, "{} {}", pair.key, pair.value)?;
        } else {
            write!(f, "{}={}", pair.key, pair.value)?;
        }
    }
    Ok(())
}

/// A Go duration that parses back to the same value.
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

fn write_copy(f: &mut fmt::Formatter<'_>, c: &CopyAdd) -> fmt::Result {
    let strings = [
        ("from", &c.from),
        ("chown", &c.chown),
        ("chmod", &c.chmod),
        ("checksum", &c.checksum),
    ];
    for (name, value) in strings {
        if let Some(v) = value {
            write_flag(f, name, v)?;
        }
    }
    for (name, on) in [
        ("link", c.link),
        ("parents", c.parents),
        ("keep-git-dir", c.keep_git_dir),
    ] {
        if on {
            write!(f, "--{name} ")?;
        }
    }
    for pattern in &c.exclude {
        write_flag(f, "exclude", pattern)?;
    }
    if c.json {
        let mut all = c.sources.clone();
        all.push(c.dest.clone());
        write_json(f, &all)
    } else {
        for source in &c.sources {
            write!(f, "{source} ")?;
        }
        f.write_str(&c.dest)
    }
}

impl fmt::Display for InstructionKind {
    /// The instruction line alone, without heredoc bodies or newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.keyword())?;
        match self {
            InstructionKind::Arg(decls) => {
                for (i, d) in decls.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{}", DisplayArg(d))?;
                }
                Ok(())
            }
            InstructionKind::Env(kv) | InstructionKind::Label(kv) => write_pairs(f, kv),
            InstructionKind::Run(run) => {
                for mount in &run.mounts {
                    write_flag(f, "mount", mount)?;
                }
                if let Some(n) = &run.network {
                    write_flag(f, "network", n)?;
                }
                if let Some(s) = &run.security {
                    write_flag(f, "security", s)?;
                }
                write_command(f, &run.command)
            }
            InstructionKind::Cmd(c) | InstructionKind::Entrypoint(c) => write_command(f, c),
            InstructionKind::Copy(c) | InstructionKind::Add(c) => write_copy(f, c),
            InstructionKind::Workdir(s)
            | InstructionKind::User(s)
            | InstructionKind::StopSignal(s)
            | InstructionKind::Maintainer(s) => f.write_str(s),
            InstructionKind::Expose(words) => f.write_str(&words.join(" ")),
            InstructionKind::Volume { paths, json } => {
                if *json {
                    write_json(f, paths)
                } else {
                    f.write_str(&paths.join(" "))
                }
            }
            InstructionKind::Shell(items) => write_json(f, items),
            InstructionKind::Healthcheck(Healthcheck::None) => f.write_str("NONE"),
            InstructionKind::Healthcheck(Healthcheck::Cmd {
                interval,
                timeout,
                start_period,
                start_interval,
                retries,
                command,
            }) => {
                let durations = [
                    ("interval", interval),
                    ("timeout", timeout),
                    ("start-period", start_period),
                    ("start-interval", start_interval),
                ];
                for (name, value) in durations {
                    if let Some(d) = value {
                        write!(f, "--{name}={} ", format_duration(*d))?;
                    }
                }
                if let Some(r) = retries {
                    write!(f, "--retries={r} ")?;
                }
                f.write_str("CMD ")?;
                write_command(f, command)
            }
            InstructionKind::Onbuild(trigger) => write!(f, "{}", trigger.kind),
        }
    }
}
