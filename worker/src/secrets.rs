// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build secrets (`--secret`, buildx's syntax): where each one's value comes from. Only the
//! source is kept (a file path or an environment variable's name); the value is read when a
//! `RUN --mount=type=secret` needs it, written to a private file for that one run, and never
//! logged, stored in the image or put into an error message.
//!
//! `id=NAME,src=PATH` (or `source=`), `id=NAME,env=VAR`, with an optional `type=file|env`
//! (`type=env,src=VAR` names the variable). `id=NAME` alone reads the environment variable
//! `NAME` when it is set, else the file `NAME`, as buildx does.

use std::path::PathBuf;

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
}

impl Secret {
    /// Parses one `--secret` value; `env_set` tells whether an environment variable exists
    /// (for `id=NAME` alone).
    pub fn parse(text: &str, env_set: impl Fn(&str) -> bool) -> Result<Secret, String> {
        let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
        for field in text.split(',').filter(|f| !f.is_empty()) {
            let Some((key, value)) = field.split_once('=') else {
                return Err(format!("{field:?} must be a key=value pair"));
            };
            match key.trim().to_ascii_lowercase().as_str() {
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
                        "unexpected key {other:?} (expected id, src, env or type)"
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
        Ok(Secret { id, source })
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

/// The `worker build` flags that hand `secrets` (checked now: each must parse and a file
/// must exist) and the RUN cache directory to a build another command runs (`worker serve`,
/// `coordinator submit --driver local`).
pub fn build_flags(secrets: &[String], run_cache_dir: Option<&str>) -> Result<Vec<String>, String> {
    parse_all(secrets)?;
    let mut flags: Vec<String> = secrets.iter().map(|s| format!("--secret={s}")).collect();
    if let Some(dir) = run_cache_dir.filter(|d| !d.is_empty()) {
        flags.push(format!("--run-cache-dir={dir}"));
    }
    Ok(flags)
}

/// Parses every `--secret`; a later one with the same id replaces an earlier one, and a file
/// must exist.
pub fn parse_all(values: &[String]) -> Result<Vec<Secret>, String> {
    let mut secrets: Vec<Secret> = Vec::new();
    for text in values {
        let secret = Secret::parse(text, |name| std::env::var_os(name).is_some())
            .map_err(|e| format!("--secret {text:?}: {e}"))?;
        if let SecretSource::File(path) = &secret.source
            && !path.is_file()
        {
            return Err(format!(
                "--secret {text:?}: {} is not a file",
                path.display()
            ));
        }
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
                    source
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
        };
        assert_eq!(file.read(), Ok(Some(b"v".to_vec())));
    }
}
