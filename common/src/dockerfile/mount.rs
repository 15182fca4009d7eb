// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `RUN --mount=` values: BuildKit's comma-separated `key=value` list (a CSV record: a field
//! may be double-quoted) with its keys, aliases and defaults. [`Mount::parse`] takes an
//! expanded value and checks it completely (every key known and allowed for the type, every
//! value well formed); what the mount refers to (a stage, a secret, a cache) is the
//! executor's business. The stage planner uses it for `from=`, the worker for everything.
//!
//! Keys: `type` (`bind` by default, `cache`, `tmpfs`, `secret`, `ssh`), `target`/`dst`/
//! `destination`, `source`/`src`, `from`, `readonly`/`ro`, `readwrite`/`rw` (bare or with a
//! boolean), `id`, `sharing` (`shared`, `private`, `locked`; cache), `mode`, `uid`, `gid`
//! (cache, secret, ssh), `size` (tmpfs), `required` (secret, ssh), `env` (secret).
//! Read-only by default for bind, secret and ssh; read-write for cache and tmpfs.

use std::fmt;

/// The kind of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A file or directory of the context, a stage or an image.
    Bind,
    /// A directory kept between builds.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret given to the build.
    Secret,
    /// An SSH agent socket.
    Ssh,
}

impl MountType {
    fn parse(text: &str) -> Option<MountType> {
        Some(match text.to_ascii_lowercase().as_str() {
            "bind" => MountType::Bind,
            "cache" => MountType::Cache,
            "tmpfs" => MountType::Tmpfs,
            "secret" => MountType::Secret,
            "ssh" => MountType::Ssh,
            _ => return None,
        })
    }
}

impl fmt::Display for MountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        })
    }
}

/// How concurrent users of one cache share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    /// Everyone at once (the default).
    #[default]
    Shared,
    /// A user alone.
    Private,
    /// One user at a time; others wait.
    Locked,
}

/// One parsed `--mount` value. Fields not given are `None` (defaults that depend on other
/// fields are the accessors').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The type.
    pub kind: MountType,
    /// `target`: where it appears (relative: to the working directory).
    pub target: Option<String>,
    /// `source`: the path in `from` (bind, cache) or the secret's id (secret).
    pub source: Option<String>,
    /// `from`: a stage (name or index) or an image; bind: the build context when absent.
    pub from: Option<String>,
    /// Read-only (defaults applied).
    pub readonly: bool,
    /// `id`: the cache's or secret's id.
    pub id: Option<String>,
    /// `sharing` (cache).
    pub sharing: Sharing,
    /// `mode`, octal (cache, secret, ssh).
    pub mode: Option<u32>,
    /// `uid` (cache, secret, ssh).
    pub uid: Option<u32>,
    /// `gid` (cache, secret, ssh).
    pub gid: Option<u32>,
    /// `size` in bytes (tmpfs).
    pub size: Option<u64>,
    /// `required` (secret, ssh).
    pub required: bool,
    /// `env`: the environment variable a secret is exposed as (secret).
    pub env: Option<String>,
}

/// Why a `--mount` value is refused; the messages name the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// The value is not one CSV record (an unclosed quote).
    #[error("cannot read {0:?} as comma-separated fields: an unclosed quote")]
    Csv(String),
    /// A field is a bare word that takes a value.
    #[error("field {0:?} must be a key=value pair")]
    NotKeyValue(String),
    /// `type=` names no mount type.
    #[error("unsupported mount type {0:?} (expected bind, cache, tmpfs, secret or ssh)")]
    UnknownType(String),
    /// A key BuildKit does not know.
    #[error(
        "unexpected key {key:?} in {field:?} (expected type, target, source, from, readonly, \
         readwrite, id, sharing, mode, uid, gid, size, required or env)"
    )]
    UnknownKey {
        /// The key.
        key: String,
        /// The whole field.
        field: String,
    },
    /// A key the mount's type does not take.
    #[error("key {key:?} is not allowed for {kind} mounts")]
    NotForType {
        /// The key.
        key: &'static str,
        /// The mount's type.
        kind: MountType,
    },
    /// A value that does not parse.
    #[error("invalid value {value:?} for {key}: {expected}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A mount that needs a target has none.
    #[error("{kind} mounts need a target (target=/path)")]
    MissingTarget {
        /// The mount's type.
        kind: MountType,
    },
    /// A secret mount names nothing.
    #[error("secret mounts need an id, a source or a target")]
    SecretWithoutId,
    /// Both `id` and `source` of a secret.
    #[error("secret mounts take either id or source, not both")]
    SecretIdAndSource,
}

impl Mount {
    /// A writable bind mount with every option at its default and no target yet: what
    /// `--mount` starts from before its options are read.
    fn default_bind() -> Mount {
        Mount {
            kind: MountType::Bind,
            target: None,
            source: None,
            from: None,
            readonly: false,
            id: None,
            sharing: Sharing::Shared,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            required: false,
            env: None,
        }
    }

    /// Parses one expanded `--mount` value.
    pub fn parse(text: &str) -> Result<Mount, MountError> {
        let mut m = Mount::default_bind();
        let mut readonly: Option<bool> = None;
        let mut given: Vec<&'static str> = Vec::new();
        for field in csv_fields(text)? {
            let (raw_key, value) = match field.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (field.as_str(), None),
            };
            let key = raw_key.trim().to_ascii_lowercase();
            let name: &'static str = match key.as_str() {
                "type" => "type",
                "target" | "dst" | "destination" => "target",
                "source" | "src" => "source",
                "from" => "from",
                "readonly" | "ro" => "readonly",
                "readwrite" | "rw" => "readwrite",
                "id" => "id",
                "sharing" => "sharing",
                "mode" => "mode",
                "uid" => "uid",
                "gid" => "gid",
                "size" => "size",
                "required" => "required",
                "env" => "env",
                _ => {
                    return Err(MountError::UnknownKey {
                        key,
                        field: field.clone(),
                    });
                }
            };
            let flag = matches!(name, "readonly" | "readwrite" | "required");
            let value = match value {
                Some(v) => v.to_string(),
                None if flag => "true".to_string(),
                None => return Err(MountError::NotKeyValue(field.clone())),
            };
            if !given.contains(&name) {
                given.push(name);
            }
            match name {
                "type" => {
                    m.kind = MountType::parse(&value)
                        .ok_or_else(|| MountError::UnknownType(value.clone()))?;
                }
                "target" => m.target = Some(value),
                "source" => m.source = Some(value),
                "from" => m.from = Some(value),
                "readonly" => readonly = Some(parse_bool(name, &value)?),
                "readwrite" => readonly = Some(!parse_bool(name, &value)?),
                "required" => m.required = parse_bool(name, &value)?,
                "id" => m.id = Some(value),
                "env" => m.env = Some(value),
                "sharing" => {
                    m.sharing = match value.to_ascii_lowercase().as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        _ => {
                            return Err(MountError::BadValue {
                                key: name,
                                value,
                                expected: "shared, private or locked",
                            });
                        }
                    };
                }
                "mode" => {
                    m.mode = Some(
                        u32::from_str_radix(&value, 8)
                            .ok()
                            .filter(|v| *v <= 0o7777)
                            .ok_or(MountError::BadValue {
                                key: name,
                                value,
                                expected: "an octal mode such as 0755",
                            })?,
                    );
                }
                "uid" | "gid" => {
                    let id = value.parse::<u32>().map_err(|_| MountError::BadValue {
                        key: name,
                        value,
                        expected: "a number",
                    })?;
                    if name == "uid" {
                        m.uid = Some(id);
                    } else {
                        m.gid = Some(id);
                    }
                }
                "size" => m.size = Some(parse_size(&value)?),
                _ => {}
            }
        }
        let allowed: &[&str] = match m.kind {
            MountType::Bind => &["type", "target", "source", "from", "readonly", "readwrite"],
            MountType::Cache => &[
                "type",
                "target",
                "source",
                "from",
                "readonly",
                "readwrite",
                "id",
                "sharing",
                "mode",
                "uid",
                "gid",
            ],
            MountType::Tmpfs => &["type", "target", "size", "readonly", "readwrite"],
            MountType::Secret => &[
                "type",
                "target",
                "source",
                "id",
                "mode",
                "uid",
                "gid",
                "required",
                "env",
                "readonly",
                "readwrite",
            ],
            MountType::Ssh => &[
                "type",
                "target",
                "id",
                "mode",
                "uid",
                "gid",
                "required",
                "readonly",
                "readwrite",
            ],
        };
        if let Some(key) = given.iter().find(|k| !allowed.contains(k)) {
            return Err(MountError::NotForType { key, kind: m.kind });
        }
        m.readonly = readonly.unwrap_or(!matches!(m.kind, MountType::Cache | MountType::Tmpfs));
        let no_target = m.target.as_deref().is_none_or(str::is_empty);
        match m.kind {
            MountType::Bind | MountType::Cache | MountType::Tmpfs if no_target => {
                return Err(MountError::MissingTarget { kind: m.kind });
            }
            MountType::Secret => {
                if m.id.is_some() && m.source.is_some() {
                    return Err(MountError::SecretIdAndSource);
                }
                if m.id.is_none() && m.source.is_none() && no_target {
                    return Err(MountError::SecretWithoutId);
                }
            }
            _ => {}
        }
        Ok(m)
    }

    /// A cache's id: `id`, else the target.
    pub fn cache_id(&self) -> &str {
        self.id
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(self.target.as_deref())
            .unwrap_or_default()
    }

    /// A secret's id: `id` (or `source`), else the target's last component.
    pub fn secret_id(&self) -> &str {
        if let Some(id) = self.id.as_deref().or(self.source.as_deref()) {
            return id;
        }
        let target = self.target.as_deref().unwrap_or_default();
        target
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }

    /// Where a secret appears as a file: the target, else `/run/secrets/<id>` unless it is
    /// exposed as an environment variable only.
    pub fn secret_target(&self) -> Option<String> {
        match (&self.target, &self.env) {
            (Some(t), _) if !t.is_empty() => Some(t.clone()),
            (_, Some(_)) => None,
            _ => Some(format!("/run/secrets/{}", self.secret_id())),
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &'static str, value: &str) -> Result<bool, MountError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(MountError::BadValue {
            key,
            value: value.to_string(),
            expected: "true or false",
        }),
    }
}

/// A size as docker's `RAMInBytes` reads it: a number with an optional binary unit
/// (`k`, `m`, `g`, `t`, `p`, optionally followed by `b` or `ib`).
fn parse_size(value: &str) -> Result<u64, MountError> {
    let bad = || MountError::BadValue {
        key: "size",
        value: value.to_string(),
        expected: "a size such as 64m or 1g",
    };
    let text = value.trim().to_ascii_lowercase();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(bad()),
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// The fields of one CSV record (Go's `encoding/csv`): comma-separated, a field that starts
/// with `"` runs to the next lone `"` and `""` inside it is a quote.
fn csv_fields(text: &str) -> Result<Vec<String>, MountError> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(MountError::Csv(text.to_string())),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            // Anything up to the next comma belongs to the field, as Go's lazy reader keeps it.
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                field.push(c);
                chars.next();
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            break;
        }
    }
    Ok(fields.into_iter().filter(|f| !f.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text parses or is refused with a message; nothing panics.
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,80}") {
            let _ = Mount::parse(&text).map_err(|e| e.to_string());
        }

        /// A bind built from fields gives those fields back, quoted or not.
        #[test]
        fn bind_fields_come_back(
            target in "/[a-z0-9,=_/.]{1,20}",
            source in "[a-z0-9,=_/.]{1,20}",
            from in "[a-z0-9_]{1,10}",
            ro in proptest::option::of(any::<bool>()),
        ) {
            let quote = |key: &str, value: &str| format!("\"{key}={}\"", value.replace('"', "\"\""));
            let mut text = format!("{},{},{}", quote("target", &target), quote("src", &source), quote("from", &from));
            if let Some(ro) = ro {
                text.push_str(&format!(",ro={ro}"));
            }
            let m = Mount::parse(&text).unwrap();
            prop_assert_eq!(m.kind, MountType::Bind);
            prop_assert_eq!(m.target.as_deref(), Some(target.as_str()));
            prop_assert_eq!(m.source.as_deref(), Some(source.as_str()));
            prop_assert_eq!(m.from.as_deref(), Some(from.as_str()));
            prop_assert_eq!(m.readonly, ro.unwrap_or(true));
        }
    }

    fn check(text: &str, expected: Result<Mount, &str>) {
        let got = Mount::parse(text).map_err(|e| e.to_string());
        match expected {
            Ok(m) => assert_eq!(got, Ok(m), "{text}"),
            Err(needle) => {
                let err = got.expect_err(text);
                assert!(err.contains(needle), "{text}: {err:?} lacks {needle:?}");
            }
        }
    }

    fn bind(target: &str) -> Mount {
        Mount {
            target: Some(target.into()),
            readonly: true,
            ..Mount::default_bind()
        }
    }

    #[test]
    fn bind_mounts_with_aliases_and_defaults() {
        check("target=/src", Ok(bind("/src")));
        check("type=bind,dst=/src", Ok(bind("/src")));
        check("TYPE=BIND,destination=/src", Ok(bind("/src")));
        check(
            "type=bind,src=a/b,target=/x,from=build",
            Ok(Mount {
                source: Some("a/b".into()),
                from: Some("build".into()),
                ..bind("/x")
            }),
        );
        check(
            "target=/x,source=y,rw",
            Ok(Mount {
                source: Some("y".into()),
                readonly: false,
                ..bind("/x")
            }),
        );
        check(
            "target=/x,readwrite=true",
            Ok(Mount {
                readonly: false,
                ..bind("/x")
            }),
        );
        check("target=/x,rw=false", Ok(bind("/x")));
        check("target=/x,ro", Ok(bind("/x")));
        check(
            "target=/x,readonly=0",
            Ok(Mount {
                readonly: false,
                ..bind("/x")
            }),
        );
        check(
            "\"target=/a,b\",source=c",
            Ok(Mount {
                source: Some("c".into()),
                ..bind("/a,b")
            }),
        );
        check("target=/x,,", Ok(bind("/x")));
    }

    #[test]
    fn cache_tmpfs_secret_and_ssh() {
        let cache = Mount::parse(
            "type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=7,gid=8",
        )
        .unwrap();
        assert_eq!(cache.kind, MountType::Cache);
        assert!(!cache.readonly);
        assert_eq!(cache.sharing, Sharing::Locked);
        assert_eq!(
            (cache.mode, cache.uid, cache.gid),
            (Some(0o700), Some(7), Some(8))
        );
        assert_eq!(cache.cache_id(), "pip");
        let cache = Mount::parse("type=cache,target=/var/cache/apt,ro").unwrap();
        assert_eq!(cache.cache_id(), "/var/cache/apt");
        assert!(cache.readonly);

        let tmpfs = Mount::parse("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(tmpfs.size, Some(64 << 20));
        assert!(!tmpfs.readonly);
        for (text, bytes) in [
            ("1024", 1024),
            ("1k", 1024),
            ("2KiB", 2048),
            ("1.5g", 3 << 29),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }

        let secret = Mount::parse("type=secret,id=npmrc").unwrap();
        assert_eq!(secret.secret_id(), "npmrc");
        assert_eq!(
            secret.secret_target().as_deref(),
            Some("/run/secrets/npmrc")
        );
        assert!(secret.readonly && !secret.required);
        let secret = Mount::parse("type=secret,target=/root/.npmrc,required").unwrap();
        assert_eq!(secret.secret_id(), ".npmrc");
        assert!(secret.required);
        let secret = Mount::parse("type=secret,source=tok,required=false").unwrap();
        assert_eq!(secret.secret_id(), "tok");
        let secret = Mount::parse("type=secret,id=tok,env=TOKEN").unwrap();
        assert_eq!(secret.secret_target(), None);
        assert_eq!(secret.env.as_deref(), Some("TOKEN"));
        let secret = Mount::parse("type=secret,id=tok,env=TOKEN,target=/t").unwrap();
        assert_eq!(secret.secret_target().as_deref(), Some("/t"));
        let secret = Mount::parse("type=secret,id=s,mode=0440,uid=1,gid=2").unwrap();
        assert_eq!(
            (secret.mode, secret.uid, secret.gid),
            (Some(0o440), Some(1), Some(2))
        );

        assert_eq!(Mount::parse("type=ssh").unwrap().kind, MountType::Ssh);
    }

    #[test]
    fn bad_values_name_the_key() {
        check("type=nfs,target=/x", Err("unsupported mount type \"nfs\""));
        check("target=/x,colour=blue", Err("unexpected key \"colour\""));
        check("type=bind", Err("bind mounts need a target"));
        check("type=cache", Err("cache mounts need a target"));
        check("type=tmpfs,target=", Err("tmpfs mounts need a target"));
        check("type=secret", Err("secret mounts need an id"));
        check("type=secret,id=a,source=b", Err("either id or source"));
        check(
            "target=/x,mode=0755",
            Err("key \"mode\" is not allowed for bind mounts"),
        );
        check(
            "target=/x,uid=1",
            Err("key \"uid\" is not allowed for bind mounts"),
        );
        check(
            "type=tmpfs,target=/x,gid=1",
            Err("\"gid\" is not allowed for tmpfs"),
        );
        check(
            "target=/x,sharing=locked",
            Err("\"sharing\" is not allowed for bind"),
        );
        check("target=/x,size=1m", Err("\"size\" is not allowed for bind"));
        check(
            "target=/x,required",
            Err("\"required\" is not allowed for bind"),
        );
        check(
            "type=cache,target=/x,env=A",
            Err("\"env\" is not allowed for cache"),
        );
        check(
            "type=secret,id=a,from=build",
            Err("\"from\" is not allowed for secret"),
        );
        check(
            "type=cache,target=/x,sharing=sometimes",
            Err("invalid value \"sometimes\" for sharing"),
        );
        check(
            "type=cache,target=/x,mode=999",
            Err("invalid value \"999\" for mode"),
        );
        check(
            "type=cache,target=/x,uid=-1",
            Err("invalid value \"-1\" for uid"),
        );
        check(
            "type=tmpfs,target=/x,size=lots",
            Err("invalid value \"lots\" for size"),
        );
        check(
            "target=/x,ro=maybe",
            Err("invalid value \"maybe\" for readonly"),
        );
        check(
            "target=/x,source",
            Err("field \"source\" must be a key=value pair"),
        );
        check("\"target=/x", Err("an unclosed quote"));
    }
}
