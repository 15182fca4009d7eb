// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The files `coordinator submit` writes for scripts: `--metadata-file` (the outcome as
//! JSON) and `--digest-file` (the index digest, or each platform's without an index). Both
//! are written to a temporary file next to the target and renamed over it, so a reader never
//! sees half a file.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use super::follow::Outcome;

/// Writes `content` to `path` atomically.
pub fn write_atomically(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file next to {}", path.display()))?;
    tmp.write_all(content)
        .and_then(|()| tmp.flush())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|err| err.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The metadata document of an outcome.
pub fn metadata(build_id: &str, outcome: &Outcome, destinations: &[String]) -> serde_json::Value {
    match outcome {
        Outcome::Finished {
            index,
            platforms,
            failed,
        } => json!({
            "build_id": build_id,
            "state": if failed.is_empty() { "succeeded" } else { "partial" },
            "destinations": destinations,
            "index": index,
            "platforms": platforms,
            "failed": failed,
        }),
        Outcome::Failed { errors } => json!({
            "build_id": build_id,
            "state": "failed",
            "destinations": destinations,
            "index": null,
            "platforms": [],
            "errors": errors,
        }),
    }
}

/// `--metadata-file`.
pub fn write_metadata(
    path: &Path,
    build_id: &str,
    outcome: &Outcome,
    destinations: &[String],
) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(&metadata(build_id, outcome, destinations))?;
    bytes.push(b'\n');
    write_atomically(path, &bytes).context("--metadata-file")
}

/// The `--digest-file` content: the index digest; without an index, `platform digest` per
/// line; empty when the build failed.
pub fn digests(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Finished {
            index: Some(index), ..
        } => index.digest.clone(),
        Outcome::Finished { platforms, .. } => platforms
            .iter()
            .map(|p| format!("{} {}\n", p.platform, p.descriptor.digest))
            .collect(),
        Outcome::Failed { .. } => String::new(),
    }
}

/// `--digest-file`.
pub fn write_digests(path: &Path, outcome: &Outcome) -> anyhow::Result<()> {
    write_atomically(path, digests(outcome).as_bytes()).context("--digest-file")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::PlatformDescriptor;
    use kaniko_common::oci::Descriptor;
    use kaniko_common::platform::Platform;

    fn descriptor(hex: char) -> Descriptor {
        Descriptor {
            media_type: kaniko_common::oci::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", hex.to_string().repeat(64)),
            size: 10,
            platform: None,
            annotations: Default::default(),
        }
    }

    #[test]
    fn digest_file_content() {
        fn check(outcome: Outcome, expected: String) {
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
            },
            format!("sha256:{}", "f".repeat(64)),
        );
        check(
            Outcome::Finished {
                index: None,
                platforms,
                failed: vec![],
            },
            format!(
                "linux/amd64 sha256:{}\nlinux/arm64 sha256:{}\n",
                "a".repeat(64),
                "b".repeat(64)
            ),
        );
        check(Outcome::Failed { errors: vec![] }, String::new());
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
        let err = write_atomically(&tmp.path().join("missing/x"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("missing/x"), "{err:#}");
    }
}
