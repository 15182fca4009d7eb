// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The per-platform files a CI driver run reads from `--digests-from DIR` (and its
//! subdirectories, so that downloaded artifacts can stay in their own folders):
//!
//! * `*.json`: the file `worker build --metadata-file` writes: `digest`, `platform`, and the
//!   repositories the image was pushed to (`images`: `registry/repo@digest`, or else
//!   `destinations`: `registry/repo:tag`);
//! * `<os>-<arch>[-<variant>].digest`: the platform in the file name, e.g.
//!   `linux-amd64.digest`, `linux-arm-v7.digest`; the content either a plain
//!   `worker build --digest-file` (Kaniko's format: the digest alone; the image is looked up
//!   in the `--source-repo` and destination repositories) or an
//!   `--image-name-with-digest-file` (`registry/repo@digest` lines, which say where it is).
//!
//! Hidden files (`.name`, e.g. an interrupted atomic write) are skipped; other files are
//! skipped with a warning. Two files for the same platform are an error naming both.

use std::path::{Path, PathBuf};

use kaniko_common::oci::parse_digest;
use kaniko_common::platform::Platform;

use super::CiError;

/// What one per-platform file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFile {
    /// The file it came from.
    pub file: PathBuf,
    /// The platform the file says the image is for (normal form).
    pub platform: Platform,
    /// The image manifest's digest.
    pub digest: String,
    /// Repositories (`registry/repository`) the image was pushed to, per the file.
    pub repositories: Vec<String>,
}

/// Reads every per-platform file under `dir`, sorted by path. Fails on the first unreadable
/// or malformed file, on duplicate platforms, and when there is none at all.
pub fn read_dir(dir: &Path) -> Result<Vec<ChildFile>, CiError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut children: Vec<ChildFile> = Vec::new();
    for file in files {
        let Some(child) = read_file(&file)? else {
            continue;
        };
        if let Some(first) = children.iter().find(|c| c.platform == child.platform) {
            return Err(CiError::DuplicatePlatform {
                platform: child.platform,
                first: first.file.clone(),
                second: child.file,
            });
        }
        children.push(child);
    }
    if children.is_empty() {
        return Err(CiError::NoInputs {
            dir: dir.to_path_buf(),
        });
    }
    Ok(children)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CiError> {
    let unreadable = |source| CiError::Unreadable {
        file: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(unreadable)?;
        if kind.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// One file: `Some` child for a metadata or digest file, `None` for a file of another kind.
pub fn read_file(file: &Path) -> Result<Option<ChildFile>, CiError> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read = || {
        std::fs::read(file).map_err(|source| CiError::Unreadable {
            file: file.to_path_buf(),
            source,
        })
    };
    if name.ends_with(".json") {
        parse_metadata(file, &read()?).map(Some)
    } else if let Some(stem) = name.strip_suffix(".digest") {
        let platform = platform_of_name(stem).map_err(|reason| bad(file, reason))?;
        let text = String::from_utf8_lossy(&read()?).into_owned();
        let (digest, repositories) = parse_digest_content(file, &text)?;
        Ok(Some(ChildFile {
            file: file.to_path_buf(),
            platform,
            digest,
            repositories,
        }))
    } else {
        tracing::warn!(file = %file.display(), "not a metadata (.json) or digest (.digest) file: skipped");
        Ok(None)
    }
}

fn bad(file: &Path, reason: impl Into<String>) -> CiError {
    CiError::BadFile {
        file: file.to_path_buf(),
        reason: reason.into(),
    }
}

fn checked_digest(file: &Path, digest: &str) -> Result<String, CiError> {
    if digest.is_empty() {
        return Err(bad(file, "no digest in it"));
    }
    parse_digest(digest).map_err(|e| bad(file, e.to_string()))?;
    Ok(digest.to_string())
}

/// A digest file's content: a digest alone, or `registry/repo[:tag]@digest` lines that all
/// name the same digest.
fn parse_digest_content(file: &Path, text: &str) -> Result<(String, Vec<String>), CiError> {
    let mut digest: Option<String> = None;
    let mut repositories = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (repository, this) = match line.rsplit_once('@') {
            Some((name, d)) => (Some(repository_of(name)), d),
            None => (None, line),
        };
        let this = checked_digest(file, this)?;
        match &digest {
            Some(first) if *first != this => {
                return Err(bad(
                    file,
                    format!("its lines name different digests ({first} and {this})"),
                ));
            }
            _ => digest = Some(this),
        }
        if let Some(repository) = repository
            && !repositories.contains(&repository)
        {
            repositories.push(repository);
        }
    }
    let digest = digest.ok_or_else(|| bad(file, "no digest in it"))?;
    Ok((digest, repositories))
}

/// The platform a digest file's name (without `.digest`) names: `os-arch[-variant]`.
pub fn platform_of_name(stem: &str) -> Result<Platform, String> {
    let parts: Vec<&str> = stem.split('-').collect();
    let explain = || {
        format!(
            "the file name {stem:?} does not name a platform: use <os>-<arch>[-<variant>].digest, e.g. linux-arm64.digest"
        )
    };
    match parts.as_slice() {
        [os, arch] => Platform::new(os, arch, None).map_err(|_| explain()),
        [os, arch, variant] => Platform::new(os, arch, Some(variant)).map_err(|_| explain()),
        _ => Err(explain()),
    }
}

/// `registry/repository` of a reference written as `registry/repo:tag`, `registry/repo@digest`
/// or `registry/repo:tag@digest`.
fn repository_of(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rsplit_once(':') {
        // A ':' after the last '/' separates a tag; before it, it is a registry port.
        Some((name, tag)) if !tag.contains('/') => name.to_string(),
        _ => without_digest.to_string(),
    }
}

fn parse_metadata(file: &Path, bytes: &[u8]) -> Result<ChildFile, CiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(file, format!("not json: {e}")))?;
    let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
    let digest = field("digest").ok_or_else(|| {
        bad(
            file,
            "no \"digest\": expected the file worker build --metadata-file writes",
        )
    })?;
    let digest = checked_digest(file, digest)?;
    let platform_text = field("platform").ok_or_else(|| bad(file, "no \"platform\""))?;
    let platform = Platform::parse(platform_text)
        .map_err(|e| bad(file, format!("platform {platform_text:?}: {e}")))?;
    let list = |name: &str| -> Vec<String> {
        value
            .get(name)
            .and_then(serde_json::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(repository_of)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut repositories = list("images");
    if repositories.is_empty() {
        repositories = list("destinations");
    }
    repositories.dedup();
    Ok(ChildFile {
        file: file.to_path_buf(),
        platform,
        digest,
        repositories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn platforms_from_file_names() {
        fn check(stem: &str, expected: Option<&str>) {
            assert_eq!(
                platform_of_name(stem)
                    .ok()
                    .map(|p| p.to_string())
                    .as_deref(),
                expected,
                "{stem}"
            );
        }
        check("linux-amd64", Some("linux/amd64"));
        check("linux-arm64", Some("linux/arm64"));
        check("linux-arm-v7", Some("linux/arm/v7"));
        check("linux-arm64-v8", Some("linux/arm64"));
        check("linux-x86_64", Some("linux/amd64"));
        check("windows-amd64", Some("windows/amd64"));
        check("linux", None);
        check("app-linux-arm-v7", None);
        check("", None);
    }

    #[test]
    fn repositories_of_references() {
        fn check(reference: &str, expected: &str) {
            assert_eq!(repository_of(reference), expected, "{reference}");
        }
        check("reg:5000/app:1", "reg:5000/app");
        check("reg:5000/team/app", "reg:5000/team/app");
        check("reg:5000/app@sha256:ab", "reg:5000/app");
        check("reg/app:v1@sha256:ab", "reg/app");
    }

    /// What a file should give: its platform, digest and repositories; `None` for a skipped
    /// file; an error containing the text.
    type Expected<'a> = Result<Option<(&'a str, String, &'a [&'a str])>, &'a str>;

    #[test]
    fn files_and_what_they_say() {
        fn check(name: &str, content: &str, expected: Expected<'_>) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let got = read_file(&path)
                .map(|c| c.map(|c| (c.platform.to_string(), c.digest, c.repositories)))
                .map_err(|e| e.to_string());
            match (expected, got) {
                (Ok(None), Ok(None)) => {}
                (Ok(Some((platform, digest, repos))), Ok(Some(got))) => {
                    assert_eq!(
                        got,
                        (
                            platform.to_string(),
                            digest,
                            repos.iter().map(|r| r.to_string()).collect::<Vec<_>>()
                        ),
                        "{name}"
                    );
                }
                (Err(want), Err(err)) => {
                    assert!(err.contains(want), "{name}: {err}");
                    assert!(
                        err.contains(name),
                        "{name}: error does not name the file: {err}"
                    );
                }
                (expected, got) => panic!("{name}: expected {expected:?}, got {got:?}"),
            }
        }
        let d = digest('a');
        check(
            "linux-amd64.digest",
            &d,
            Ok(Some(("linux/amd64", d.clone(), &[]))),
        );
        check(
            "linux-arm-v7.digest",
            &format!("{d}\n"),
            Ok(Some(("linux/arm/v7", d.clone(), &[]))),
        );
        check("linux-arm64.digest", "", Err("no digest in it"));
        check(
            "linux-arm64.digest",
            &format!("reg:5000/app@{d}\nreg:5000/mirror:1@{d}\n"),
            Ok(Some((
                "linux/arm64",
                d.clone(),
                &["reg:5000/app", "reg:5000/mirror"],
            ))),
        );
        check(
            "linux-arm64.digest",
            &format!("reg:5000/app@{d}\nreg:5000/app@{}\n", digest('b')),
            Err("its lines name different digests"),
        );
        check("linux-arm64.digest", "sha256:xyz", Err("sha256:xyz"));
        check("amd64.digest", &d, Err("does not name a platform"));
        check("README.md", "hello", Ok(None));
        check(
            "amd64.json",
            &format!(
                r#"{{"digest":"{d}","platform":"linux/amd64","destinations":["reg:5000/app:amd64"],"images":["reg:5000/app@{d}","reg:5000/mirror@{d}"]}}"#
            ),
            Ok(Some((
                "linux/amd64",
                d.clone(),
                &["reg:5000/app", "reg:5000/mirror"],
            ))),
        );
        check(
            "arm.json",
            &format!(
                r#"{{"digest":"{d}","platform":"linux/armhf","destinations":["reg:5000/app:arm"]}}"#
            ),
            Ok(Some(("linux/arm/v7", d.clone(), &["reg:5000/app"]))),
        );
        check("x.json", "{", Err("not json"));
        check(
            "x.json",
            r#"{"platform":"linux/amd64"}"#,
            Err("no \"digest\""),
        );
        check(
            "x.json",
            &format!(r#"{{"digest":"{d}"}}"#),
            Err("no \"platform\""),
        );
        check(
            "x.json",
            &format!(r#"{{"digest":"{d}","platform":"linux/"}}"#),
            Err("platform \"linux/\""),
        );
    }

    #[test]
    fn a_directory_with_duplicates_or_nothing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no per-platform"), "{err}");

        std::fs::create_dir(dir.path().join("digests-amd64")).unwrap();
        std::fs::write(
            dir.path().join("digests-amd64/linux-amd64.digest"),
            digest('a'),
        )
        .unwrap();
        std::fs::write(dir.path().join("linux-arm64.digest"), digest('b')).unwrap();
        std::fs::write(dir.path().join(".tmp-half"), "sha").unwrap();
        let children = read_dir(dir.path()).unwrap();
        let platforms: Vec<String> = children.iter().map(|c| c.platform.to_string()).collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

        std::fs::write(
            dir.path().join("x86.json"),
            format!(
                r#"{{"digest":"{}","platform":"linux/x86_64"}}"#,
                digest('c')
            ),
        )
        .unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("linux/amd64"), "{err}");
        assert!(
            err.contains("linux-amd64.digest") && err.contains("x86.json"),
            "{err}"
        );
    }
}
