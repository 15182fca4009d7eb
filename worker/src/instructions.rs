// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The effect of each metadata instruction on the image's container config, with Docker's
//! exact rules: `ENV` keeps its order and replaces a key in place, `EXPOSE` expands ranges
//! and defaults to `/tcp`, `HEALTHCHECK` durations are nanoseconds and `NONE` is
//! `["NONE"]`, shell-form `CMD`/`ENTRYPOINT` run with the stage's `SHELL`, and `ENTRYPOINT`
//! clears an inherited `CMD` unless the stage set `CMD` itself (BuildKit's `cmdSet` rule:
//! `CMD` before or after `ENTRYPOINT` in the same stage survives).
//!
//! The config is kept in [`RunConfig`], Docker's container config with every field Docker
//! writes (`Healthcheck`, `Shell`, `OnBuild` included, which the OCI config type lacks), and
//! any field this builder does not know is carried through unchanged. Pure code.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kaniko_common::dockerfile::{Command, Expanded, Healthcheck};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The shell shell-form commands run with when the stage sets no `SHELL`.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Why an instruction cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionError {
    /// An `EXPOSE` value that is not a port, a port range or either with a protocol.
    #[error("invalid port {0:?} in EXPOSE")]
    BadPort(String),
    /// An `ENV` or `LABEL` key that is empty.
    #[error("{0} has an empty key")]
    EmptyKey(&'static str),
}

/// Docker's `HealthConfig`: the check command and its timing, durations in nanoseconds
/// (zero: inherit the runtime's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(default, deserialize_with = "null_default")]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time a check may take.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Start-up time during which failures do not count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Docker's container config (the `config` object of an image config), in the field order and
/// shapes Docker writes. Unknown fields (`ArgsEscaped`, `Hostname`, ...) are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `USER`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    /// `EXPOSE`d ports as `port/proto`, written as a JSON object of empty objects.
    #[serde(
        default,
        with = "set_as_map",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub exposed_ports: BTreeSet<String>,
    /// `ENV` as `KEY=value`, in order.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// `ENTRYPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `HEALTHCHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// `VOLUME` paths, written as a JSON object of empty objects.
    #[serde(
        default,
        with = "set_as_map",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub volumes: BTreeSet<String>,
    /// `WORKDIR`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    /// `LABEL`s.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `SHELL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// `ONBUILD` triggers, as written after `ONBUILD`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_build: Vec<String>,
    /// Fields this builder does not set, kept as the base image had them.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn null_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// A set of names written as a JSON object of empty objects (`ExposedPorts`, `Volumes`);
/// `null` reads as the empty set.
mod set_as_map {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::{Map, Value};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        de: D,
    ) -> Result<BTreeSet<String>, D::Error> {
        let map = Option::<BTreeMap<String, Value>>::deserialize(de)?;
        Ok(map.unwrap_or_default().into_keys().collect())
    }

    pub(super) fn serialize<S: Serializer>(
        set: &BTreeSet<String>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&String, Map<String, Value>> =
            set.iter().map(|k| (k, Map::new())).collect();
        map.serialize(ser)
    }
}

impl RunConfig {
    /// The environment as `(key, value)` pairs, in order (an entry without `=` has an empty
    /// value, as Docker reads it).
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect()
    }

    /// Sets `key` to `value`: in place when the key is there, else appended.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        let same = |e: &String| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key;
        match self.env.iter_mut().find(|e| same(e)) {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }

    /// The shell shell-form commands run with: `SHELL`, else `/bin/sh -c`.
    pub fn shell_or_default(&self) -> Vec<String> {
        self.shell
            .clone()
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    /// A command as the config stores it: exec form as is, shell form after the shell.
    pub fn command_vector(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(args) => args.clone(),
            Command::Shell(text) => {
                let mut out = self.shell_or_default();
                out.push(text.clone());
                out
            }
        }
    }
}

/// What a stage remembers between instructions beyond the config itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageFlags {
    /// `CMD` was set in this stage (then `ENTRYPOINT` keeps it).
    pub cmd_set: bool,
}

/// Applies a metadata instruction (anything but `RUN`, `COPY`, `ADD`; `WORKDIR` only sets
/// the path, the caller creates the directory) to `config`. Returns whether the instruction
/// was a metadata instruction at all (`false` for `RUN`, `COPY`, `ADD`, which change the
/// config not at all).
pub fn apply(
    config: &mut RunConfig,
    flags: &mut StageFlags,
    expanded: &Expanded,
) -> Result<bool, InstructionError> {
    match expanded {
        Expanded::Arg(_) => {}
        Expanded::Env(pairs) => {
            for (k, v) in pairs {
                if k.is_empty() {
                    return Err(InstructionError::EmptyKey("ENV"));
                }
                config.set_env(k, v);
            }
        }
        Expanded::Label(pairs) => {
            for (k, v) in pairs {
                if k.is_empty() {
                    return Err(InstructionError::EmptyKey("LABEL"));
                }
                config.labels.insert(k.clone(), v.clone());
            }
        }
        Expanded::Cmd(command) => {
            config.cmd = Some(config.command_vector(command));
            flags.cmd_set = true;
        }
        Expanded::Entrypoint(command) => {
            config.entrypoint = Some(config.command_vector(command));
            if !flags.cmd_set {
                config.cmd = None;
            }
        }
        Expanded::Workdir(path) => config.working_dir = workdir(&config.working_dir, path),
        Expanded::User(user) => config.user = user.clone(),
        Expanded::Expose(ports) => {
            for port in ports {
                config.exposed_ports.extend(expose(port)?);
            }
        }
        Expanded::Volume(paths) => {
            config
                .volumes
                .extend(paths.iter().filter(|p| !p.is_empty()).cloned());
        }
        Expanded::Shell(shell) => config.shell = Some(shell.clone()),
        Expanded::StopSignal(signal) => config.stop_signal = Some(signal.clone()),
        Expanded::Healthcheck(check) => config.healthcheck = Some(health_config(check)),
        Expanded::Onbuild(trigger) => config.on_build.push(trigger.clone()),
        // MAINTAINER sets the image's author, outside the container config.
        Expanded::Maintainer(_) => {}
        Expanded::Run(_) | Expanded::Copy(_) | Expanded::Add(_) => return Ok(false),
    }
    Ok(true)
}

/// The new working directory: an absolute path as is, a relative one joined to the current
/// one (`/` when unset), cleaned (`.`/`..` folded, no trailing `/`).
pub fn workdir(current: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{current}/{path}")
    };
    clean_absolute(&joined)
}

/// Cleans an absolute path lexically, like Go's `path.Clean` on a rooted path.
pub fn clean_absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The `port/proto` keys one `EXPOSE` word stands for: `80` → `80/tcp`, `53/UDP` → `53/udp`,
/// `8000-8002` → three ports.
pub fn expose(word: &str) -> Result<Vec<String>, InstructionError> {
    let bad = || InstructionError::BadPort(word.to_string());
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(bad());
    }
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (a, b),
        None => (ports, ports),
    };
    let start: u16 = start.parse().map_err(|_| bad())?;
    let end: u16 = end.parse().map_err(|_| bad())?;
    if start > end {
        return Err(bad());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn nanos(d: &Option<Duration>) -> i64 {
    d.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Docker's `HealthConfig` for a `HEALTHCHECK` instruction.
pub fn health_config(check: &Healthcheck) -> HealthConfig {
    match check {
        Healthcheck::None => HealthConfig {
            test: vec!["NONE".to_string()],
            ..HealthConfig::default()
        },
        Healthcheck::Cmd {
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
            command,
        } => {
            let test = match command {
                Command::Exec(args) => std::iter::once("CMD".to_string())
                    .chain(args.iter().cloned())
                    .collect(),
                Command::Shell(text) => vec!["CMD-SHELL".to_string(), text.clone()],
            };
            HealthConfig {
                test,
                interval: nanos(interval),
                timeout: nanos(timeout),
                start_period: nanos(start_period),
                start_interval: nanos(start_interval),
                retries: retries.map_or(0, i64::from),
            }
        }
    }
}

/// The history `created_by` text of an instruction: Kaniko's choice, the instruction as
/// written, its continuation lines joined with one space and comment lines inside it dropped
/// (for example `COPY src/ /app/`). Heredoc bodies are not included.
pub fn created_by(original: &str, escape: char) -> String {
    let mut joined = String::with_capacity(original.len());
    for line in original.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let line = line.strip_suffix(escape).unwrap_or(line).trim_end();
        if !joined.is_empty() && !line.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line);
    }
    joined
}

#[cfg(test)]
mod tests;
