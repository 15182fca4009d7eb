// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The instruction layer of the parser, after BuildKit's `instructions` package: splits each
//! logical line into keyword, flags and arguments, checks them, and builds the typed syntax
//! tree. Nothing is expanded here; words stay raw.

use std::collections::BTreeMap;
use std::time::Duration;

use super::ParseError;
use super::instruction::{
    ArgDecl, Command, CopyAdd, Dockerfile, Healthcheck, Instruction, InstructionKind, KeyValue,
    KeyValues, Run, Stage,
};
use super::lexer::{self, FlagWord, LogicalLine};

#[cfg(test)]
mod tests;

/// Parses a whole Dockerfile.
pub(crate) fn parse(input: &str) -> Result<Dockerfile, ParseError> {
    let lexed = lexer::lex(input)?;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in &lexed.lines {
        let p = Parser {
            line,
            escape: lexed.escape,
        };
        let (kw, rest) = p.keyword(0);
        if kw.1.eq_ignore_ascii_case("from") {
            stages.push(p.from(rest, stages.len())?);
            continue;
        }
        let kind = p.instruction(kw, 0, rest)?;
        match stages.last_mut() {
            Some(stage) => stage.instructions.push(Instruction {
                line: line.line,
                original: line.original.clone(),
                kind,
            }),
            None => match kind {
                InstructionKind::Arg(decls) => meta_args.extend(decls),
                other => {
                    return Err(p.error(
                        0,
                        format!(
                            "{} comes before the first FROM: only ARG may come before FROM",
                            other.keyword()
                        ),
                    ));
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(ParseError {
            line: lexed.line_count.max(1),
            column: 1,
            message: "no FROM instruction: a dockerfile needs at least one build stage".into(),
        });
    }
    Ok(Dockerfile {
        directives: lexed.directives,
        meta_args,
        stages,
    })
}

/// At most this many letters of an unknown instruction are quoted in its error.
const MAX_QUOTED_KEYWORD: usize = 16;

/// The error message for the unknown instruction whose first word is `word`. Only the word's
/// leading ASCII letters (an instruction keyword is made of letters), at most
/// [`MAX_QUOTED_KEYWORD`] of them, are quoted: a file that is not a Dockerfile (a secret, a
/// process's environment) never travels in an error past its first letters.
fn unknown_instruction(word: &str) -> String {
    let letters: String = word
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .take(MAX_QUOTED_KEYWORD)
        .collect();
    if letters.is_empty() {
        "unknown instruction: the line does not start with an instruction keyword".to_string()
    } else if letters.len() == word.len() {
        format!("unknown instruction: {letters}")
    } else {
        format!("unknown instruction: {letters}...")
    }
}

/// The type of a flag's value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagType {
    /// `--name=value`, once.
    String,
    /// `--name=value`, repeatable.
    Strings,
    /// `--name` or `--name=true|false`, once.
    Bool,
}

/// Flags of one instruction after checking.
#[derive(Default)]
struct Flags {
    values: BTreeMap<&'static str, Vec<String>>,
    /// Offset of each flag's last occurrence, for errors about its value.
    offsets: BTreeMap<&'static str, usize>,
}

impl Flags {
    fn at(&self, name: &str) -> usize {
        self.offsets.get(name).copied().unwrap_or(0)
    }

    fn string(&mut self, name: &str) -> Option<String> {
        self.values.remove(name).and_then(|mut v| v.pop())
    }

    fn strings(&mut self, name: &str) -> Vec<String> {
        self.values.remove(name).unwrap_or_default()
    }

    fn bool(&mut self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }

    fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

struct Parser<'a> {
    line: &'a LogicalLine,
    escape: char,
}

/// A byte range of the logical text: `(offset, text)`.
type Span<'a> = (usize, &'a str);

impl<'a> Parser<'a> {
    fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        self.line.error(offset, message)
    }

    /// The argument at `text` as a JSON string array (see [`lexer::parse_json_array`]):
    /// `None` when it is not JSON, an error naming the line when the array holds a
    /// non-string.
    fn json_array(&self, text: Span<'_>) -> Result<Option<Vec<String>>, ParseError> {
        lexer::parse_json_array(text.1)
            .map_err(|_| self.error(text.0, lexer::NotStringArray::MESSAGE))
    }

    /// Exec form when the text is a JSON string array, shell form otherwise.
    fn command(&self, text: Span<'_>) -> Result<Command, ParseError> {
        Ok(match self.json_array(text)? {
            Some(items) => Command::Exec(items),
            None => Command::Shell(text.1.to_string()),
        })
    }

    fn text(&self) -> &'a str {
        self.line.text.as_str()
    }

    /// The keyword starting at `offset` and the (trimmed) rest after it.
    fn keyword(&self, offset: usize) -> (Span<'a>, Span<'a>) {
        let text = self.text().get(offset..).unwrap_or("");
        let lead = text.len() - text.trim_start().len();
        let start = offset + lead;
        let body = &text[lead..];
        let kw_len = body.find(char::is_whitespace).unwrap_or(body.len());
        let after = &body[kw_len..];
        let rest = after.trim();
        let rest_off = start + kw_len + (after.len() - after.trim_start().len());
        ((start, &body[..kw_len]), (rest_off, rest))
    }

    /// Takes leading flags off `rest` and checks them against `allowed`.
    fn flags(
        &self,
        kw: &str,
        rest: Span<'a>,
        allowed: &[(&'static str, FlagType)],
    ) -> Result<(Flags, Span<'a>), ParseError> {
        let (words, at) = lexer::extract_flags(rest.1, rest.0);
        let remaining = self.text().get(at..rest.0 + rest.1.len()).unwrap_or("");
        let remaining = (
            at + (remaining.len() - remaining.trim_start().len()),
            remaining.trim(),
        );
        let mut flags = Flags::default();
        for FlagWord {
            offset,
            name,
            value,
        } in words
        {
            let Some((key, ty)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(self.error(
                    offset,
                    format!("unknown flag --{name} for {}", kw.to_ascii_uppercase()),
                ));
            };
            flags.offsets.insert(key, offset);
            let entry = flags.values.entry(key).or_default();
            if *ty != FlagType::Strings && !entry.is_empty() {
                return Err(self.error(offset, format!("duplicate flag --{name}")));
            }
            let value = match (ty, value) {
                (FlagType::Bool, None) => "true".to_string(),
                (FlagType::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    b @ ("true" | "false") => b.to_string(),
                    _ => {
                        return Err(self.error(
                            offset,
                            format!("expecting boolean value for flag --{name}, not {v:?}"),
                        ));
                    }
                },
                (_, None) => {
                    return Err(self.error(offset, format!("missing a value on flag --{name}")));
                }
                (_, Some(v)) => v,
            };
            entry.push(value);
        }
        Ok((flags, remaining))
    }

    /// Raw words of `rest`; an unterminated quote is an error.
    fn words(&self, rest: Span<'a>) -> Result<Vec<(usize, String)>, ParseError> {
        lexer::split_words(rest.1, self.escape)
            .map(|w| w.into_iter().map(|(o, s)| (rest.0 + o, s)).collect())
            .map_err(|(_, (o, q))| {
                let kind = if q == '"' { "double" } else { "single" };
                self.error(rest.0 + o, format!("unterminated {kind} quote"))
            })
    }

    fn from(&self, rest: Span<'a>, index: usize) -> Result<Stage, ParseError> {
        let (mut flags, rest) = self.flags("from", rest, &[("platform", FlagType::String)])?;
        let words = self.words(rest)?;
        let (base, name) = match words.as_slice() {
            [(_, base)] => (base.clone(), None),
            [(_, base), (as_at, as_kw), (name_at, name)] => {
                if !as_kw.eq_ignore_ascii_case("as") {
                    return Err(self.error(*as_at, format!("expected AS, found {as_kw:?}")));
                }
                let name = name.to_ascii_lowercase();
                if !valid_stage_name(&name) {
                    return Err(self.error(
                        *name_at,
                        format!(
                            "invalid stage name {name:?}: it must start with a letter and contain only letters, digits, '-', '_' and '.'"
                        ),
                    ));
                }
                (base.clone(), Some(name))
            }
            _ => {
                return Err(self.error(0, "FROM requires either one or three arguments"));
            }
        };
        Ok(Stage {
            index,
            name,
            base,
            platform: flags.string("platform"),
            line: self.line.line,
            original: self.line.original.clone(),
            instructions: Vec::new(),
        })
    }

    /// Parses the instruction whose keyword is `kw`; `depth` counts ONBUILD nesting.
    fn instruction(
        &self,
        kw: Span<'a>,
        depth: usize,
        rest: Span<'a>,
    ) -> Result<InstructionKind, ParseError> {
        let name = kw.1.to_ascii_lowercase();
        let upper = kw.1.to_ascii_uppercase();
        let no_flags: &[(&'static str, FlagType)] = &[];
        let allowed: &[(&'static str, FlagType)] = match name.as_str() {
            "run" => &[
                ("mount", FlagType::Strings),
                ("network", FlagType::String),
                ("security", FlagType::String),
            ],
            "copy" => &[
                ("from", FlagType::String),
                ("chown", FlagType::String),
                ("chmod", FlagType::String),
                ("link", FlagType::Bool),
                ("parents", FlagType::Bool),
                ("exclude", FlagType::Strings),
            ],
            "add" => &[
                ("chown", FlagType::String),
                ("chmod", FlagType::String),
                ("link", FlagType::Bool),
                ("keep-git-dir", FlagType::Bool),
                ("checksum", FlagType::String),
                ("exclude", FlagType::Strings),
            ],
            "healthcheck" => &[
                ("interval", FlagType::String),
                ("timeout", FlagType::String),
                ("start-period", FlagType::String),
                ("start-interval", FlagType::String),
                ("retries", FlagType::String),
            ],
            "arg" | "env" | "label" | "cmd" | "entrypoint" | "workdir" | "user" | "expose"
            | "volume" | "shell" | "stopsignal" | "onbuild" | "maintainer" => no_flags,
            "from" if depth > 0 => {
                return Err(self.error(kw.0, "FROM isn't allowed as an ONBUILD trigger"));
            }
            _ => return Err(self.error(kw.0, unknown_instruction(kw.1))),
        };
        let (mut flags, rest) = self.flags(&name, rest, allowed)?;
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(self.error(kw.0, format!("{upper} requires {what}")))
            }
        };
        let kind = match name.as_str() {
            "arg" => {
                let words = self.words(rest)?;
                need(!words.is_empty(), "at least one argument")?;
                let mut decls = Vec::new();
                for (at, word) in words {
                    let (name, default) = match word.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (word.clone(), None),
                    };
                    if name.is_empty() {
                        return Err(self.error(at, "ARG names can not be blank"));
                    }
                    decls.push(ArgDecl { name, default });
                }
                InstructionKind::Arg(decls)
            }
            "env" | "label" => {
                let kv = self.key_values(&upper, rest)?;
                if name == "env" {
                    InstructionKind::Env(kv)
                } else {
                    InstructionKind::Label(kv)
                }
            }
            "run" => {
                need(!rest.1.is_empty(), "at least one argument")?;
                let network = flags.string("network");
                if let Some(n) = &network
                    && !["default", "none", "host"].contains(&n.as_str())
                {
                    return Err(self.error(
                        flags.at("network"),
                        format!("invalid network mode {n:?}: must be default, none or host"),
                    ));
                }
                let security = flags.string("security");
                if let Some(s) = &security
                    && !["sandbox", "insecure"].contains(&s.as_str())
                {
                    return Err(self.error(
                        flags.at("security"),
                        format!("invalid security mode {s:?}: must be sandbox or insecure"),
                    ));
                }
                InstructionKind::Run(Run {
                    mounts: flags.strings("mount"),
                    network,
                    security,
                    command: self.command(rest)?,
                    heredocs: self.line.heredocs.clone(),
                })
            }
            "cmd" | "entrypoint" => {
                need(!rest.1.is_empty(), "at least one argument")?;
                if name == "cmd" {
                    InstructionKind::Cmd(self.command(rest)?)
                } else {
                    InstructionKind::Entrypoint(self.command(rest)?)
                }
            }
            "copy" | "add" => {
                let (args, json) = match self.json_array(rest)? {
                    Some(items) => (items, true),
                    None => (self.words(rest)?.into_iter().map(|w| w.1).collect(), false),
                };
                let Some((dest, sources)) = args.split_last().filter(|(_, s)| !s.is_empty()) else {
                    return Err(self.error(
                        kw.0,
                        format!(
                            "{upper} requires at least two arguments: one or more sources and a destination"
                        ),
                    ));
                };
                let chmod = flags.string("chmod");
                if let Some(mode) = chmod.as_deref().filter(|m| !m.contains('$'))
                    && let Err(message) = check_chmod(mode)
                {
                    return Err(self.error(flags.at("chmod"), message));
                }
                let c = CopyAdd {
                    from: flags.string("from"),
                    chown: flags.string("chown"),
                    chmod,
                    link: flags.bool("link"),
                    parents: flags.bool("parents"),
                    keep_git_dir: flags.bool("keep-git-dir"),
                    checksum: flags.string("checksum"),
                    exclude: flags.strings("exclude"),
                    sources: sources.to_vec(),
                    dest: dest.clone(),
                    json,
                    heredocs: if json {
                        Vec::new()
                    } else {
                        self.line.heredocs.clone()
                    },
                };
                if name == "copy" {
                    InstructionKind::Copy(c)
                } else {
                    InstructionKind::Add(c)
                }
            }
            "workdir" | "user" | "stopsignal" | "maintainer" => {
                need(!rest.1.is_empty(), "exactly one argument")?;
                let value = rest.1.to_string();
                match name.as_str() {
                    "workdir" => InstructionKind::Workdir(value),
                    "user" => InstructionKind::User(value),
                    "stopsignal" => InstructionKind::StopSignal(value),
                    _ => InstructionKind::Maintainer(value),
                }
            }
            "expose" => {
                let words = self.words(rest)?;
                need(!words.is_empty(), "at least one argument")?;
                for (at, word) in &words {
                    if !word.contains('$')
                        && let Err(message) = check_port(word)
                    {
                        return Err(self.error(*at, message));
                    }
                }
                InstructionKind::Expose(words.into_iter().map(|w| w.1).collect())
            }
            "volume" => {
                let (paths, json) = match self.json_array(rest)? {
                    Some(items) => (items, true),
                    None => (self.words(rest)?.into_iter().map(|w| w.1).collect(), false),
                };
                need(!paths.is_empty(), "at least one argument")?;
                if paths.iter().any(|p| p.trim().is_empty()) {
                    return Err(self.error(rest.0, "VOLUME specified can not be an empty string"));
                }
                InstructionKind::Volume { paths, json }
            }
            "shell" => match self.json_array(rest)? {
                Some(items) if !items.is_empty() => InstructionKind::Shell(items),
                Some(_) => return Err(self.error(rest.0, "SHELL requires at least one argument")),
                None => {
                    return Err(self.error(
                        rest.0,
                        "SHELL requires the arguments to be in JSON form, e.g. [\"/bin/sh\", \"-c\"]",
                    ));
                }
            },
            "healthcheck" => self.healthcheck(kw, flags, rest)?,
            "onbuild" => {
                need(!rest.1.is_empty(), "at least one argument")?;
                let (inner_kw, inner_rest) = self.keyword(rest.0);
                let inner_name = inner_kw.1.to_ascii_lowercase();
                if ["onbuild", "from", "maintainer"].contains(&inner_name.as_str()) {
                    return Err(self.error(
                        inner_kw.0,
                        format!(
                            "{} isn't allowed as an ONBUILD trigger",
                            inner_kw.1.to_ascii_uppercase()
                        ),
                    ));
                }
                let inner = self.instruction(inner_kw, depth + 1, inner_rest)?;
                InstructionKind::Onbuild(Box::new(Instruction {
                    line: self.line.line,
                    original: rest.1.to_string(),
                    kind: inner,
                }))
            }
            _ => return Err(self.error(kw.0, unknown_instruction(kw.1))),
        };
        Ok(kind)
    }

    fn key_values(&self, upper: &str, rest: Span<'a>) -> Result<KeyValues, ParseError> {
        let words = self.words(rest)?;
        let Some((first_at, first)) = words.first() else {
            return Err(self.error(rest.0, format!("{upper} requires at least one argument")));
        };
        if !first.contains('=') {
            let value = rest.1.get(first.len()..).unwrap_or("").trim();
            if value.is_empty() {
                return Err(self.error(
                    *first_at,
                    format!("{upper} {first} has no value: use {upper} {first}=value"),
                ));
            }
            return Ok(KeyValues {
                pairs: vec![KeyValue {
                    key: first.clone(),
                    value: value.to_string(),
                }],
                legacy: true,
            });
        }
        let mut pairs = Vec::new();
        for (at, word) in words {
            let Some((key, value)) = word.split_once('=') else {
                return Err(self.error(
                    at,
                    format!("can't find = in {word:?}: must be of the form name=value"),
                ));
            };
            if key.is_empty() {
                return Err(self.error(at, format!("{upper} names can not be blank")));
            }
            pairs.push(KeyValue {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
        Ok(KeyValues {
            pairs,
            legacy: false,
        })
    }

    fn healthcheck(
        &self,
        kw: Span<'a>,
        mut flags: Flags,
        rest: Span<'a>,
    ) -> Result<InstructionKind, ParseError> {
        let (ty, cmd) = self.keyword(rest.0);
        match ty.1.to_ascii_uppercase().as_str() {
            "" => Err(self.error(kw.0, "HEALTHCHECK requires at least one argument")),
            "NONE" => {
                if !cmd.1.is_empty() || !flags.is_empty() {
                    return Err(self.error(ty.0, "HEALTHCHECK NONE takes no arguments"));
                }
                Ok(InstructionKind::Healthcheck(Healthcheck::None))
            }
            "CMD" => {
                if cmd.1.is_empty() {
                    return Err(self.error(ty.0, "missing command after HEALTHCHECK CMD"));
                }
                let mut duration = |flag: &str| -> Result<Option<Duration>, ParseError> {
                    let at = flags.at(flag);
                    match flags.string(flag) {
                        None => Ok(None),
                        Some(v) => parse_duration(&v)
                            .map(Some)
                            .map_err(|message| self.error(at, format!("--{flag}: {message}"))),
                    }
                };
                let interval = duration("interval")?;
                let timeout = duration("timeout")?;
                let start_period = duration("start-period")?;
                let start_interval = duration("start-interval")?;
                let retries_at = flags.at("retries");
                let retries = match flags.string("retries") {
                    None => None,
                    Some(v) => Some(v.parse::<u32>().map_err(|_| {
                        self.error(
                            retries_at,
                            format!("--retries must be a non-negative integer, not {v:?}"),
                        )
                    })?),
                };
                Ok(InstructionKind::Healthcheck(Healthcheck::Cmd {
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                    command: self.command(cmd)?,
                }))
            }
            other => Err(self.error(
                ty.0,
                format!("unknown type {other:?} in HEALTHCHECK (try CMD or NONE)"),
            )),
        }
    }
}

/// BuildKit's stage name rule (applied to the lowercased name).
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// Checks a `--chmod` value: an octal mode up to `7777`. Returns the mode.
pub(crate) fn check_chmod(mode: &str) -> Result<u32, String> {
    if mode.is_empty() || mode.len() > 5 || !mode.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(format!(
            "invalid --chmod {mode:?}: expected an octal mode such as 755 or 0644"
        ));
    }
    u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid --chmod {mode:?}: mode is larger than 7777"))
}

/// Checks an `EXPOSE` word: `port`, `start-end`, optionally `/tcp`, `/udp` or `/sctp`.
pub(crate) fn check_port(word: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid port {word:?} in EXPOSE: {why}"));
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (word, None),
    };
    if let Some(proto) = proto
        && !["tcp", "udp", "sctp"].contains(&proto.to_ascii_lowercase().as_str())
    {
        return bad("protocol must be tcp, udp or sctp");
    }
    let port = |p: &str| p.parse::<u16>().ok();
    match ports.split_once('-') {
        None => match port(ports) {
            Some(_) => Ok(()),
            None => bad("expected a port number from 0 to 65535"),
        },
        Some((a, b)) => match (port(a), port(b)) {
            (Some(a), Some(b)) if a <= b => Ok(()),
            _ => bad("expected a port range start-end"),
        },
    }
}

/// Parses a Go duration (`30s`, `1m30s`, `1.5s`, `100ms`, `0`); the BuildKit rule applies: zero
/// or at least 1ms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}: expected e.g. 30s, 1m30s or 500ms");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut rest = text;
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (int, frac) = match rest[..num_len].split_once('.') {
            Some((i, f)) => (i, f),
            None => (&rest[..num_len], ""),
        };
        if (int.is_empty() && frac.is_empty()) || frac.len() > 18 {
            return Err(bad());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let frac_value: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let frac_nanos = frac_value * scale / 10u128.pow(frac.len() as u32);
        nanos = int
            .checked_mul(scale)
            .and_then(|n| n.checked_add(frac_nanos))
            .and_then(|n| n.checked_add(nanos))
            .ok_or_else(bad)?;
    }
    let nanos = u64::try_from(nanos).map_err(|_| bad())?;
    if nanos != 0 && nanos < 1_000_000 {
        return Err(format!("duration {text:?} cannot be less than 1ms"));
    }
    Ok(Duration::from_nanos(nanos))
}
