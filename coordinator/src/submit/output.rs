// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The files `coordinator submit` writes for scripts: `--metadata-file` (the outcome as
//! JSON) and `--digest-file` (the index digest, or each platform's without an index). Both
//! are written through [`kaniko_image::outfile`] (a temporary file next to the target,
//! synced, renamed over it), so a reader never sees half a file; a digest file whose content
//! would change is refused unless `--force`. The `ci` driver writes the same documents.

use std::path::Path;

use kaniko_image::outfile::{self, Overwrite};

use anyhow::Context as _;
use serde_json::json;

use super::follow::Outcome;

/// Writes `content` to `path` atomically, replacing whatever it held.
pub fn write_atomically(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    outfile::write(path, content, Overwrite::Always)?;
    Ok(())
}

/// The metadata document of an outcome: `state` is `succeeded`, `partial` (an index without
/// some platforms, `--allow-partial`), `partially_published` (some destination tags moved,
/// others did not) or `failed`; `tags` gives each destination tag's fate once publishing
/// was tried (`moved`, `refused` with its `error`, `not_pushed`, `immutable`).
pub fn metadata(build_id: &str, outcome: &Outcome, destinations: &[String]) -> serde_json::Value {
    match outcome {
        Outcome::Finished {
            index,
            platforms,
            failed,
            tags,
        } => json!({
            "build_id": build_id,
            "state": if failed.is_empty() { "succeeded" } else { "partial" },
            "destinations": destinations,
            "index": index,
            "platforms": platforms,
            "failed": failed,
            "tags": tags,
        }),
        Outcome::PartiallyPublished {
            index,
            platforms,
            tags,
            errors,
        } => json!({
            "build_id": build_id,
            "state": "partially_published",
            "destinations": destinations,
            "index": index,
            "platforms": platforms,
            "tags": tags,
            "errors": errors,
        }),
        Outcome::Failed { errors, tags } => json!({
            "build_id": build_id,
            "state": "failed",
            "destinations": destinations,
            "index": null,
            "platforms": [],
            "tags": tags,
            "errors": errors,
        }),
    }
}

/// The `--metadata-file` bytes of an outcome.
pub fn metadata_bytes(
    build_id: &str,
    outcome: &Outcome,
    destinations: &[String],
) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(&metadata(build_id, outcome, destinations))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// `--metadata-file`.
pub fn write_metadata(
    path: &Path,
    build_id: &str,
    outcome: &Outcome,
    destinations: &[String],
) -> anyhow::Result<()> {
    let bytes = metadata_bytes(build_id, outcome, destinations)?;
    write_atomically(path, &bytes).context("--metadata-file")
}

/// The `--digest-file` content: the index digest; without an index, `platform digest` per
/// line; `None` when the build failed or was only partially published (the file names what
/// every destination tag names, or nothing).
pub fn digests(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Finished {
            index: Some(index), ..
        } => Some(index.digest.clone()),
        Outcome::Finished { platforms, .. } => Some(
            platforms
                .iter()
                .map(|p| format!("{} {}\n", p.platform, p.descriptor.digest))
                .collect(),
        ),
        Outcome::PartiallyPublished { .. } | Outcome::Failed { .. } => None,
    }
}

/// `--digest-file`: refused when it would change the file's content, unless `force`. A
/// failed build leaves the file as it was (absent, or the digest of an earlier build), as
/// Kaniko does.
pub fn write_digests(path: &Path, outcome: &Outcome, force: bool) -> anyhow::Result<()> {
    let Some(content) = digests(outcome) else {
        return Ok(());
    };
    outfile::write(path, content.as_bytes(), Overwrite::IfUnchanged { force })
        .context("--digest-file")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::PlatformDescriptor;
    use kaniko_common::platform::Platform;

    use crate::submit::follow::tests::descriptor;

    #[test]
    fn digest_file_content() {
        fn check(outcome: Outcome, expected: Option<String>) {
            assert_eq!(digests(&outcome), expected);
        }
        let platforms = vec![
            PlatformDescriptor {
                platform: Platform::parse("linux/amd64").unwrap(),
                descriptor: descriptor('a'),
            },
            PlatformDescriptor {
                platform: Platform::parse("linux/arm64").unwrap(),
                descriptor: descriptor('b'),
            },
        ];
        check(
            Outcome::Finished {
                index: Some(descriptor('f')),
                platforms: platforms.clone(),
                failed: vec![],
                tags: vec![],
            },
            Some(format!("sha256:{}", "f".repeat(64))),
        );
        check(
            Outcome::Finished {
                index: None,
                platforms,
                failed: vec![],
                tags: vec![],
            },
            Some(format!(
                "linux/amd64 sha256:{}\nlinux/arm64 sha256:{}\n",
                "a".repeat(64),
                "b".repeat(64)
            )),
        );
        check(
            Outcome::Failed {
                errors: vec![],
                tags: vec![],
            },
            None,
        );
    }

    #[test]
    fn files_are_replaced_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out.json");
        std::fs::write(&path, "old content that is longer").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let leftovers = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        write_atomically(&tmp.path().join("made/x"), b"x").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("made/x")).unwrap(), b"x");
    }

    #[test]
    fn a_digest_file_that_would_change_needs_force() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("index.digest");
        let finished = |c: char| Outcome::Finished {
            index: Some(descriptor(c)),
            platforms: vec![],
            failed: vec![],
            tags: vec![],
        };
        write_digests(&path, &finished('a'), false).unwrap();
        write_digests(&path, &finished('a'), false).unwrap();
        let err = write_digests(&path, &finished('b'), false).unwrap_err();
        assert!(format!("{err:#}").contains("--force"), "{err:#}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            descriptor('a').digest
        );
        write_digests(&path, &finished('b'), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            descriptor('b').digest
        );
        // A failed build leaves the earlier digest alone and needs no --force.
        write_digests(
            &path,
            &Outcome::Failed {
                errors: vec![],
                tags: vec![],
            },
            false,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            descriptor('b').digest
        );
        let fresh = tmp.path().join("never.digest");
        write_digests(
            &fresh,
            &Outcome::Failed {
                errors: vec![],
                tags: vec![],
            },
            false,
        )
        .unwrap();
        assert!(!fresh.exists(), "a failed build creates no digest file");
    }
}
