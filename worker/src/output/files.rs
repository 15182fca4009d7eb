// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The digest files Kaniko writes, in its exact formats (`pkg/executor/push.go`), and our
//! metadata file. `--digest-file` holds the manifest digest with no newline;
//! `--image-name-with-digest-file` one `<registry>/<repo>@<digest>` line per destination;
//! `--image-name-tag-with-digest-file` one `<registry>/<repo>:<tag>@<digest>` line per
//! destination (the tag defaults to `latest`, as Kaniko's `name.NewTag` does). Every file is
//! written through [`kaniko_image::outfile`]: a temporary file in the same directory, synced,
//! then renamed. The three digest files are checked first, all of them: when one exists with
//! other content and `--force` is not given, the build fails and no file changes.
//!
//! The metadata file is what the `ci` driver (`coordinator index --digests-from`) reads:
//! `digest`, `mediaType`, `size`, `platform`, and `images` (`<registry>/<repo>@<digest>`, one
//! per repository pushed to) next to Kaniko-style `destinations`; with `--cache`, `cache`:
//! the hit and miss counts and each looked-up step.

use std::path::Path;

use kaniko_image::outfile::{self, OutfileError, Overwrite};

use super::{OutputError, OutputOptions, repository_name, tag_of};
use crate::image::FinishedImage;

fn outfile_error(path: &Path) -> impl FnOnce(OutfileError) -> OutputError + '_ {
    move |err| match err {
        OutfileError::Io { source, .. } => OutputError::io(path)(source),
        refused @ OutfileError::WouldChange { .. } => {
            OutputError::io(path)(std::io::Error::other(refused.to_string()))
        }
    }
}

/// Writes `bytes` to `path` atomically (mode 0644), creating the parent directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    outfile::write(path, bytes, Overwrite::Always).map_err(outfile_error(path))
}

/// The lines of `--image-name-with-digest-file` (`with_tag` false) or
/// `--image-name-tag-with-digest-file` (`with_tag` true), each ending in a newline.
pub fn name_digest_lines(
    destinations: &[kaniko_registry::Reference],
    digest: &str,
    with_tag: bool,
) -> String {
    destinations
        .iter()
        .map(|d| {
            let tag = if with_tag {
                format!(":{}", tag_of(d))
            } else {
                String::new()
            };
            format!("{}{tag}@{digest}\n", repository_name(d))
        })
        .collect()
}

/// The `--metadata-file` document; with `--cache`, `cache` holds the hits and misses.
pub fn metadata_json(
    finished: &FinishedImage,
    destinations: &[kaniko_registry::Reference],
    cache: Option<&crate::cache::CacheReport>,
) -> serde_json::Value {
    let layers: Vec<serde_json::Value> = finished
        .image
        .layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "digest": l.descriptor.digest,
                "mediaType": l.descriptor.media_type,
                "size": l.descriptor.size,
                "diffId": l.diff_id,
            })
        })
        .collect();
    let mut images: Vec<String> = Vec::new();
    for destination in destinations {
        let image = format!(
            "{}@{}",
            repository_name(destination),
            finished.manifest.digest
        );
        if !images.contains(&image) {
            images.push(image);
        }
    }
    let destinations: Vec<String> = destinations
        .iter()
        .map(|d| format!("{}:{}", repository_name(d), tag_of(d)))
        .collect();
    let mut document = serde_json::json!({
        "digest": finished.manifest.digest,
        "mediaType": finished.manifest.media_type,
        "size": finished.manifest.size,
        "platform": finished.image.platform.to_string(),
        "configDigest": finished.config.digest,
        "layers": layers,
        "destinations": destinations,
        "images": images,
    });
    if let (Some(cache), Some(map)) = (cache, document.as_object_mut()) {
        map.insert("cache".to_string(), cache.to_json());
    }
    document
}

/// Writes every digest and metadata file `opts` asks for.
pub(super) fn write_digest_files(
    finished: &FinishedImage,
    opts: &OutputOptions,
) -> Result<(), OutputError> {
    let digest = &finished.manifest.digest;
    let mut digest_files = Vec::new();
    if let Some(path) = &opts.digest_file {
        digest_files.push((path, digest.clone()));
    }
    if let Some(path) = &opts.image_name_with_digest_file {
        digest_files.push((path, name_digest_lines(&opts.destinations, digest, false)));
    }
    if let Some(path) = &opts.image_name_tag_with_digest_file {
        digest_files.push((path, name_digest_lines(&opts.destinations, digest, true)));
    }
    let overwrite = Overwrite::IfUnchanged {
        force: opts.force_digest_files,
    };
    for (path, content) in &digest_files {
        outfile::check(path, content.as_bytes(), overwrite).map_err(outfile_error(path))?;
    }
    for (path, content) in &digest_files {
        outfile::write(path, content.as_bytes(), overwrite).map_err(outfile_error(path))?;
    }
    if let Some(path) = &opts.termination_message_path {
        write_termination_message(path, finished)?;
    }
    if let Some(path) = &opts.metadata_file {
        let mut bytes = serde_json::to_vec_pretty(&metadata_json(
            finished,
            &opts.destinations,
            opts.cache.as_ref(),
        ))
        .map_err(|e| OutputError::io(path)(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        write_atomic(path, &bytes)?;
    }
    Ok(())
}

/// The `--termination-message-path` document: the manifest's descriptor (`digest`, `size`,
/// `mediaType`, `platform`) and `configDigest`, one line, far under the 4096 bytes Kubernetes
/// keeps of a termination message.
pub fn termination_message(finished: &FinishedImage) -> serde_json::Value {
    let manifest = &finished.manifest;
    serde_json::json!({
        "digest": manifest.digest,
        "size": manifest.size,
        "mediaType": manifest.media_type,
        "platform": manifest.platform.as_ref().map(ToString::to_string),
        "configDigest": finished.config.digest,
    })
}

/// Writes the termination message in place (truncating, no rename: the kubelet bind-mounts
/// that path into the container).
fn write_termination_message(path: &Path, finished: &FinishedImage) -> Result<(), OutputError> {
    let mut bytes = serde_json::to_vec(&termination_message(finished))
        .map_err(|e| OutputError::io(path)(std::io::Error::other(e)))?;
    bytes.push(b'\n');
    std::fs::write(path, &bytes).map_err(OutputError::io(path))
}

#[cfg(test)]
mod tests {
    use kaniko_registry::Reference;

    use super::*;

    #[test]
    fn name_files_use_kaniko_formats() {
        fn check(destinations: &[&str], with_tag: bool, expected: &str) {
            let refs: Vec<Reference> = destinations.iter().map(|d| d.parse().unwrap()).collect();
            assert_eq!(name_digest_lines(&refs, "sha256:ab", with_tag), expected);
        }
        check(
            &["reg:5000/app:1", "reg:5000/app"],
            false,
            "reg:5000/app@sha256:ab\nreg:5000/app@sha256:ab\n",
        );
        check(
            &["reg:5000/app:1", "reg:5000/team/app"],
            true,
            "reg:5000/app:1@sha256:ab\nreg:5000/team/app:latest@sha256:ab\n",
        );
        check(&[], true, "");
    }

    #[test]
    fn atomic_writes_replace_and_create_parents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/digest");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["digest"]);
    }
}
