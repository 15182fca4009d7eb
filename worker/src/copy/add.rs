// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! ADD's sources made ready for COPY planning: http(s) URLs downloaded (with `--checksum`
//! verified) into files named as BuildKit names them, mode 0600 and the server's
//! `Last-Modified` as mtime, as Docker does; local archives from the context (gzip, bzip2,
//! xz, zstd or plain tar, detected by content) extracted into one staging tree per ADD,
//! whose *contents* then land in the destination directory with the archive's ownership
//! (unless `--chown`). Everything else is copied like COPY does.
//!
//! Both are bounded by the build's [`Limits`]: extraction is charged to the disk budget and
//! held to the ratio limit, downloads to `--add-url-max-size` and `--add-url-timeout`.
//!
//! Ownership of extracted entries is read back from disk, so it is exact when the worker
//! runs as root (extraction applies the headers' ids); as an ordinary user the entries get
//! the worker's ids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::copy::Source;
use crate::copy::archive;
use crate::unpack::{Limits, RootEntry};

/// Whether an ADD source is an http(s) URL (downloaded, never extracted).
pub fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Whether an ADD source names a git repository or another remote scheme we do not fetch.
pub fn is_other_remote(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    !is_url(source)
        && (lower.starts_with("git@") || lower.ends_with(".git") || lower.contains("://"))
}

/// The temporary trees an ADD's sources live in while its layer is written.
pub struct Staging {
    /// Download directories and the archive staging tree, removed on drop.
    dirs: Vec<tempfile::TempDir>,
    /// The staging tree archives are extracted into, once one was.
    tree: Option<PathBuf>,
    /// The `./` entry of the last archive that had one: the destination directory's mode
    /// and owner, as Docker's extraction gives them.
    root: Option<RootEntry>,
    /// The build's limits.
    limits: Limits,
}

impl Staging {
    /// An empty staging area under the build's `limits`.
    pub fn new(limits: Limits) -> Staging {
        Staging {
            dirs: Vec::new(),
            tree: None,
            root: None,
            limits,
        }
    }

    /// Downloads `url` (verifying `checksum`) into a directory of its own under `tmp`; the
    /// source to copy.
    pub async fn download(
        &mut self,
        url: &str,
        checksum: Option<&str>,
        tmp: &Path,
    ) -> Result<Source> {
        let dir = tempfile::Builder::new()
            .prefix("add-url-")
            .tempdir_in(tmp)
            .with_context(|| format!("ADD {url}: temporary directory in {}", tmp.display()))?;
        let got = archive::download(url, checksum, dir.path(), &self.limits).await?;
        let name = if got.file_name.is_empty() || got.file_name.contains('/') {
            "download".to_string()
        } else {
            got.file_name.clone()
        };
        let path = dir.path().join(&name);
        std::fs::rename(&got.path, &path)
            .with_context(|| format!("ADD {url}: naming the download {}", path.display()))?;
        set_download_metadata(&path, got.mtime)
            .with_context(|| format!("ADD {url}: {}", path.display()))?;
        let root = dir.path().to_path_buf();
        self.dirs.push(dir);
        Ok(Source::Path {
            root,
            rel: PathBuf::from(name),
        })
    }

    /// Extracts the local file `path` into the staging tree when it is an archive; `false`
    /// (nothing done) when it is not one.
    pub fn extract_if_archive(&mut self, path: &Path, rel: &Path, tmp: &Path) -> Result<bool> {
        let kind = archive::detect_archive(path)
            .with_context(|| format!("ADD {}: reading", rel.display()))?;
        let Some(kind) = kind else {
            return Ok(false);
        };
        let tree = match &self.tree {
            Some(tree) => tree.clone(),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("add-archive-")
                    .tempdir_in(tmp)
                    .with_context(|| {
                        format!(
                            "ADD {}: temporary directory in {}",
                            rel.display(),
                            tmp.display()
                        )
                    })?;
                let tree = dir.path().to_path_buf();
                self.dirs.push(dir);
                self.tree = Some(tree.clone());
                tree
            }
        };
        tracing::debug!(archive = %rel.display(), ?kind, "extracting");
        let stats = archive::extract_archive(path, None, &tree, Path::new(""), None, &self.limits)
            .with_context(|| format!("ADD {}", rel.display()))?;
        self.root = stats.root.or(self.root);
        Ok(true)
    }

    /// The staging tree as a directory source (its contents go into the destination), when
    /// an archive was extracted.
    pub fn tree_source(&self) -> Option<Source> {
        self.tree.as_ref().map(|root| Source::Path {
            root: root.clone(),
            rel: PathBuf::new(),
        })
    }

    /// The mode and owner the archives' `./` entries give the destination directory.
    pub fn tree_root(&self) -> Option<RootEntry> {
        self.root
    }
}

/// Mode 0600 and the server's mtime (else now) on a downloaded file, as Docker sets them.
fn set_download_metadata(path: &Path, mtime: Option<std::time::SystemTime>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if let Some(mtime) = mtime {
        std::fs::File::options()
            .write(true)
            .open(path)?
            .set_modified(mtime)?;
    }
    Ok(())
}

/// Checks ADD's sources before anything is fetched: other remote schemes and git are
/// refused, `--checksum` only goes with http(s) sources.
pub fn check_sources(sources: &[String], checksum: Option<&str>) -> Result<()> {
    for source in sources {
        if is_other_remote(source) {
            bail!("ADD {source}: git and other remote sources are not supported");
        }
        if checksum.is_some() && !is_url(source) {
            bail!("ADD --checksum: {source} is not an http(s) url, only downloads can be verified");
        }
    }
    Ok(())
}

/// Merges several plans of one instruction into one, parents before children; for a path
/// planned twice the later plan wins.
pub fn merge(plans: Vec<Vec<crate::copy::Planned>>) -> Vec<crate::copy::Planned> {
    let mut out = BTreeMap::new();
    for plan in plans {
        for planned in plan {
            out.insert(planned.entry.path.clone(), planned);
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_sources_are_told_apart() {
        fn check(source: &str, expected: (bool, bool)) {
            assert_eq!(
                (is_url(source), is_other_remote(source)),
                expected,
                "{source}"
            );
        }
        check("https://example.com/a.tar.gz", (true, false));
        check("HTTP://example.com/a", (true, false));
        check("git@github.com:moby/moby.git", (false, true));
        check("https://github.com/moby/moby.git", (true, false));
        check("ftp://example.com/a", (false, true));
        check("src/app.tar.gz", (false, false));
        check("repo.git", (false, true));
    }

    #[test]
    fn checksum_needs_an_http_source() {
        fn check(sources: &[&str], checksum: Option<&str>, expected: Result<(), &str>) {
            let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
            let got = check_sources(&sources, checksum).map_err(|e| e.to_string());
            match (got, expected) {
                (Ok(()), Ok(())) => {}
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{sources:?}: got {got:?}, want {want:?}"),
            }
        }
        check(&["https://h/a"], Some("sha256:00"), Ok(()));
        check(&["a.txt"], None, Ok(()));
        check(
            &["a.txt"],
            Some("sha256:00"),
            Err("a.txt is not an http(s) url"),
        );
        check(&["git@h:r.git"], None, Err("git and other remote sources"));
    }

    #[test]
    fn merged_plans_keep_parents_first_and_the_later_entry() {
        use kaniko_image::layer::{EntryKind, LayerEntry};
        let entry = |path: &str, mode: u32| crate::copy::Planned {
            entry: LayerEntry {
                mode,
                ..LayerEntry::new(path, EntryKind::Dir)
            },
            content: crate::copy::Content::None,
        };
        let merged = merge(vec![
            vec![entry("app", 0o755), entry("app/x", 0o700)],
            vec![entry("app/a", 0o711), entry("app", 0o750)],
        ]);
        let got: Vec<(String, u32)> = merged
            .iter()
            .map(|p| (p.entry.path.display().to_string(), p.entry.mode))
            .collect();
        assert_eq!(
            got,
            vec![
                ("app".to_string(), 0o750),
                ("app/a".to_string(), 0o711),
                ("app/x".to_string(), 0o700)
            ]
        );
    }
}
