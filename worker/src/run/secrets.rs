// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build secrets (`--secret`, buildx's syntax): where each one's value comes from. Only the
//! source is kept (a file path or an environment variable's name); the value is read when a
//! `RUN --mount=type=secret` needs it, written to a private file for that one run, and never
//! logged, stored in the image or put into an error message.
//!
//! `id=NAME,src=PATH` (or `source=`), `id=NAME,env=VAR`, with an optional `type=file|env`
//! (`type=env,src=VAR` names the variable). `id=NAME` alone reads the environment variable
//! `NAME` when it is set, else the file `NAME`, as buildx does.
//!
//! `scope=PATTERN[,PATTERN...]` (repository patterns, see [`kaniko_common::scope`]) limits a
//! secret to builds whose destinations all match: any other build gets it treated as not
//! given (a `required` mount fails naming the scope), never its value. `worker serve`, where
//! builds of different submitters meet, refuses a secret without a scope (`scope=*` shares it
//! with every build); `worker build` and the local driver, one operator's own builds, take
//! unscoped ones.
//!
//! Every value a build may use is masked (`****`) in every line a RUN prints, before it
//! reaches a log or an event ([`Masker`]); values out of scope are not masked, so a build
//! cannot use the masking to test guesses of a secret it may not have.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use kaniko_common::scope::{RepoPattern, describe};

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file's content.
    File(PathBuf),
    /// An environment variable of the worker.
    Env(String),
}

/// One `--secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// The id `RUN --mount=type=secret,id=` refers to.
    pub id: String,
    /// Where the value is.
    pub source: SecretSource,
    /// The destinations it may be used for (`scope=`); `None`: every build.
    pub scope: Option<Vec<RepoPattern>>,
}

impl Secret {
    /// Checks that a file source is still a file (every build checks its secrets again).
    pub fn check_source(&self) -> Result<(), String> {
        match &self.source {
            SecretSource::File(path) if !path.is_file() => {
                Err(format!("{} is not a file", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Parses one `--secret` value; `env_set` tells whether an environment variable exists
    /// (for `id=NAME` alone).
    pub fn parse(text: &str, env_set: impl Fn(&str) -> bool) -> Result<Secret, String> {
        let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
        let mut scope: Option<Vec<RepoPattern>> = None;
        // Whether the previous field was `scope=`: a field without `=` is one more pattern.
        let mut in_scope = false;
        for field in text.split(',').filter(|f| !f.is_empty()) {
            let Some((key, value)) = field.split_once('=') else {
                if let (true, Some(patterns)) = (in_scope, scope.as_mut()) {
                    patterns.push(field.parse().map_err(|e| format!("scope: {e}"))?);
                    continue;
                }
                return Err(format!("{field:?} must be a key=value pair"));
            };
            in_scope = false;
            match key.trim().to_ascii_lowercase().as_str() {
                "scope" => {
                    let pattern = value.parse().map_err(|e| format!("scope: {e}"))?;
                    scope.get_or_insert_with(Vec::new).push(pattern);
                    in_scope = true;
                }
                "id" => id = Some(value.to_string()),
                "src" | "source" => src = Some(value.to_string()),
                "env" => env = Some(value.to_string()),
                "type" => match value {
                    "file" | "env" => kind = Some(value.to_string()),
                    other => {
                        return Err(format!(
                            "unsupported secret type {other:?} (expected file or env)"
                        ));
                    }
                },
                other => {
                    return Err(format!(
                        "unexpected key {other:?} (expected id, src, env, type or scope)"
                    ));
                }
            }
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| "id=NAME is missing".to_string())?;
        if kind.as_deref() == Some("env") && env.is_none() {
            env = src.take();
        }
        let source = match (src, env, kind.as_deref()) {
            (Some(_), Some(_), _) => return Err("give either src or env, not both".into()),
            (Some(path), None, _) => SecretSource::File(PathBuf::from(path)),
            (None, Some(var), _) => SecretSource::Env(var),
            (None, None, Some("env")) => SecretSource::Env(id.clone()),
            (None, None, Some(_)) => SecretSource::File(PathBuf::from(&id)),
            (None, None, None) if env_set(&id) => SecretSource::Env(id.clone()),
            (None, None, None) => SecretSource::File(PathBuf::from(&id)),
        };
        if let SecretSource::File(path) = &source
            && path.as_os_str().is_empty()
        {
            return Err("src is empty".into());
        }
        Ok(Secret { id, source, scope })
    }

    /// Whether a build pushing to `destinations` may use this secret: an unscoped one
    /// always; a scoped one when there is a destination and every one matches the scope.
    /// The refusal names the scope and the destination it does not cover (never a value).
    pub fn usable_for(&self, destinations: &[String]) -> Result<(), String> {
        let Some(scope) = &self.scope else {
            return Ok(());
        };
        let id = &self.id;
        if destinations.is_empty() {
            return Err(format!(
                "the secret {id:?} is scoped to {} and this build pushes nowhere",
                describe(scope)
            ));
        }
        match destinations
            .iter()
            .find(|d| !kaniko_common::scope::any_matches(scope, d))
        {
            None => Ok(()),
            Some(outside) => Err(format!(
                "the secret {id:?} is scoped to {}, which does not cover the destination {outside}",
                describe(scope)
            )),
        }
    }

    /// The value: `Ok(None)` when the environment variable is not set; an error (naming the
    /// id and file, never the content) when the file cannot be read.
    pub fn read(&self) -> Result<Option<Vec<u8>>, String> {
        match &self.source {
            SecretSource::File(path) => std::fs::read(path)
                .map(Some)
                .map_err(|e| format!("reading secret {:?} from {}: {e}", self.id, path.display())),
            SecretSource::Env(var) => Ok(std::env::var_os(var).map(|v| {
                use std::os::unix::ffi::OsStringExt;
                v.into_vec()
            })),
        }
    }
}

/// The secrets a build pushing to `destinations` may use, and why each other one is
/// withheld (`(id, reason)`), see [`Secret::usable_for`].
pub fn for_destinations(
    secrets: &[Secret],
    destinations: &[String],
) -> (Vec<Secret>, Vec<(String, String)>) {
    let mut usable = Vec::new();
    let mut withheld = Vec::new();
    for secret in secrets {
        match secret.usable_for(destinations) {
            Ok(()) => usable.push(secret.clone()),
            Err(reason) => withheld.push((secret.id.clone(), reason)),
        }
    }
    (usable, withheld)
}

/// The `--secret` values of `worker serve` must each carry a scope: its builds come from
/// every submitter.
pub fn require_scopes(values: &[String]) -> Result<(), String> {
    for (text, secret) in values.iter().zip(parse_all_unchecked(values)?) {
        if secret.scope.is_none() {
            return Err(format!(
                "--secret {text:?}: worker serve needs a scope: add scope=REPOSITORY \
                 (registry/repo, registry/path/* or * for every build), the destinations whose \
                 builds may use it"
            ));
        }
    }
    Ok(())
}

fn parse_all_unchecked(values: &[String]) -> Result<Vec<Secret>, String> {
    values
        .iter()
        .map(|text| {
            Secret::parse(text, |name| std::env::var_os(name).is_some())
                .map_err(|e| format!("--secret {text:?}: {e}"))
        })
        .collect()
}

/// Replaces every value of a build's secrets with `****` in a line of RUN output: each
/// non-blank line of each value (trimmed), longest first, every whole occurrence in the line.
/// A value cut by a line break or by the line-length cap is not recognised. `Debug` shows
/// how many values it masks, never one.
#[derive(Clone, Default)]
pub struct Masker {
    needles: Arc<Vec<String>>,
}

/// What a masked value is replaced with.
pub const MASK: &str = "****";

impl Masker {
    /// A masker of `values`.
    pub fn new(values: impl IntoIterator<Item = Vec<u8>>) -> Masker {
        let mut needles: Vec<String> = Vec::new();
        for value in values {
            let text = String::from_utf8_lossy(&value).into_owned();
            for line in text.lines() {
                let line = line.trim();
                if !line.is_empty() && !needles.iter().any(|n| n == line) {
                    needles.push(line.to_string());
                }
            }
        }
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Masker {
            needles: Arc::new(needles),
        }
    }

    /// A masker of the values of `secrets` that can be read now (an unset environment
    /// variable has none); a file that cannot be read is an error naming the secret and the
    /// file.
    pub fn of(secrets: &[Secret]) -> Result<Masker, String> {
        let mut values = Vec::new();
        for secret in secrets {
            if let Some(value) = secret.read()? {
                values.push(value);
            }
        }
        Ok(Masker::new(values))
    }

    /// `line` with every value replaced by [`MASK`].
    pub fn mask<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(line);
        for needle in self.needles.iter() {
            if out.contains(needle.as_str()) {
                out = Cow::Owned(out.replace(needle.as_str(), MASK));
            }
        }
        out
    }
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("values", &self.needles.len())
            .finish()
    }
}

/// Parses every `--secret`; a later one with the same id replaces an earlier one, and a file
/// must exist.
pub fn parse_all(values: &[String]) -> Result<Vec<Secret>, String> {
    let mut secrets: Vec<Secret> = Vec::new();
    for text in values {
        let secret = Secret::parse(text, |name| std::env::var_os(name).is_some())
            .map_err(|e| format!("--secret {text:?}: {e}"))?;
        secret
            .check_source()
            .map_err(|e| format!("--secret {text:?}: {e}"))?;
        secrets.retain(|s| s.id != secret.id);
        secrets.push(secret);
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<(&str, SecretSource), &str>) {
        let got = Secret::parse(text, |name| name == "SET");
        match expected {
            Ok((id, source)) => assert_eq!(
                got,
                Ok(Secret {
                    id: id.into(),
                    source,
                    scope: None,
                }),
                "{text}"
            ),
            Err(needle) => {
                let err = got.expect_err(text);
                assert!(err.contains(needle), "{text}: {err:?} lacks {needle:?}");
            }
        }
    }

    #[test]
    fn buildx_secret_syntax() {
        let file = |p: &str| SecretSource::File(p.into());
        let env = |v: &str| SecretSource::Env(v.into());
        check("id=a,src=/s", Ok(("a", file("/s"))));
        check("id=a,source=/s,type=file", Ok(("a", file("/s"))));
        check("id=a,env=TOKEN", Ok(("a", env("TOKEN"))));
        check("type=env,id=a,src=TOKEN", Ok(("a", env("TOKEN"))));
        check("type=env,id=a", Ok(("a", env("a"))));
        check("id=SET", Ok(("SET", env("SET"))));
        check("id=unset", Ok(("unset", file("unset"))));
        check("src=/s", Err("id=NAME is missing"));
        check("id=a,src=/s,env=B", Err("either src or env"));
        check("id=a,type=ssh", Err("unsupported secret type \"ssh\""));
        check("id=a,colour=red", Err("unexpected key \"colour\""));
        check(
            "id=a,src=/s,scope=team-a/*",
            Err("scope: repository pattern \"team-a/*\""),
        );
        check("id=a,src=/s,scope=", Err("scope: repository pattern \"\""));
        check("id=a,src", Err("must be a key=value pair"));
        check("id=a,src=", Err("src is empty"));
    }

    #[test]
    fn missing_files_are_refused_and_later_ids_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "v").unwrap();
        let given = [
            format!("id=a,src={}", path.display()),
            "id=a,env=KANIKO_TEST_NOT_SET".to_string(),
        ];
        let all = parse_all(&given).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].source,
            SecretSource::Env("KANIKO_TEST_NOT_SET".into())
        );
        assert_eq!(all[0].read(), Ok(None));
        let missing = dir.path().join("missing");
        let err = parse_all(&[format!("id=b,src={}", missing.display())]).unwrap_err();
        assert!(err.contains("is not a file"), "{err}");
        let file = Secret {
            id: "a".into(),
            source: SecretSource::File(path),
            scope: None,
        };
        assert_eq!(file.read(), Ok(Some(b"v".to_vec())));
    }

    #[test]
    fn a_scope_lists_patterns_and_decides_which_builds_may_use_the_secret() {
        let secret = Secret::parse(
            "id=tok,src=/s,scope=127.0.0.1:5000/team-a/*,127.0.0.1:5000/shared/app,type=file",
            |_| false,
        )
        .unwrap();
        assert_eq!(
            secret
                .scope
                .as_ref()
                .map(|s| kaniko_common::scope::describe(s)),
            Some("127.0.0.1:5000/team-a/*, 127.0.0.1:5000/shared/app".to_string())
        );
        fn check(secret: &Secret, destinations: &[&str], refused: Option<&str>) {
            let destinations: Vec<String> = destinations.iter().map(|d| d.to_string()).collect();
            let got = secret.usable_for(&destinations);
            match refused {
                None => assert_eq!(got, Ok(()), "{destinations:?}"),
                Some(needle) => {
                    let err = got.unwrap_err();
                    assert!(err.contains(needle), "{destinations:?}: {err}");
                    assert!(err.contains("scoped to 127.0.0.1:5000/team-a/*"), "{err}");
                }
            }
        }
        check(&secret, &["127.0.0.1:5000/team-a/app:1"], None);
        check(
            &secret,
            &["127.0.0.1:5000/team-a/app", "127.0.0.1:5000/shared/app:2"],
            None,
        );
        check(
            &secret,
            &["127.0.0.1:5000/team-a/app", "127.0.0.1:5000/team-b/app"],
            Some("does not cover the destination 127.0.0.1:5000/team-b/app"),
        );
        check(
            &secret,
            &["127.0.0.1:5000/team-ab/app"],
            Some("team-ab/app"),
        );
        check(
            &secret,
            &["127.0.0.1:5000/team-a/../team-b/app"],
            Some("team-b"),
        );
        check(&secret, &[], Some("this build pushes nowhere"));
        let unscoped = Secret::parse("id=tok,src=/s", |_| false).unwrap();
        assert_eq!(unscoped.usable_for(&[]), Ok(()));
        let (usable, withheld) = for_destinations(
            &[secret.clone(), unscoped.clone()],
            &["127.0.0.1:5000/team-b/app".to_string()],
        );
        assert_eq!(usable, [unscoped]);
        assert_eq!(withheld.len(), 1);
        assert_eq!(withheld[0].0, "tok");
    }

    #[test]
    fn worker_serve_secrets_need_a_scope() {
        assert_eq!(require_scopes(&["id=a,env=X,scope=*".to_string()]), Ok(()));
        let err = require_scopes(&["id=a,env=X".to_string()]).unwrap_err();
        assert!(
            err.contains("--secret \"id=a,env=X\": worker serve needs a scope"),
            "{err}"
        );
    }

    #[test]
    fn the_masker_hides_every_line_of_every_value_anywhere_in_a_line() {
        let masker = Masker::new([
            b"s3cr3t-token\n".to_vec(),
            b"-----BEGIN KEY-----\r\nAAAABBBB\n-----END KEY-----\n".to_vec(),
            b"s3cr3t".to_vec(),
            b"   \n".to_vec(),
        ]);
        fn check(masker: &Masker, line: &str, expected: &str) {
            assert_eq!(masker.mask(line), expected, "{line:?}");
        }
        check(&masker, "token=s3cr3t-token", "token=****");
        check(&masker, "s3cr3t-tokens3cr3t", "********");
        check(
            &masker,
            "prefix s3cr3t suffix s3cr3t",
            "prefix **** suffix ****",
        );
        check(&masker, "AAAABBBB", "****");
        check(
            &masker,
            "key: -----BEGIN KEY----- AAAABBBB",
            "key: **** ****",
        );
        check(&masker, "nothing to hide   here", "nothing to hide   here");
        assert!(matches!(masker.mask("plain"), Cow::Borrowed(_)));
        let debug = format!("{masker:?}");
        assert!(
            !debug.contains("s3cr3t") && debug.contains("values: 5"),
            "{debug}"
        );
    }
}
