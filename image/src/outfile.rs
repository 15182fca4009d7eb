// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Output files for scripts and CI (digest files, metadata files), written so that a reader
//! never sees half of one: the content goes to a temporary file in the same directory, is
//! flushed to disk (`fsync`), then renamed over the target, and the directory is synced so the
//! rename survives a crash. Both binaries write their digest and metadata files through here.
//!
//! Digest files get one more rule ([`Overwrite::IfUnchanged`]): a re-run that would change an
//! existing file's content is refused unless forced, so a pipeline never silently swaps the
//! digest another job already read. Writing the same content again is always fine.

use std::io::Write;
use std::path::{Path, PathBuf};

/// What to do when the target file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Replace it whatever it holds (metadata files).
    Always,
    /// Replace it only when it already holds the same content, unless forced (`--force`):
    /// digest files.
    IfUnchanged {
        /// `--force`: replace it anyway.
        force: bool,
    },
}

/// Why an output file was not written.
#[derive(Debug, thiserror::Error)]
pub enum OutfileError {
    /// The file exists with different content and overwriting it was not forced.
    #[error(
        "{} already exists with different content ({existing:?}, now {new:?}): remove it or pass --force to replace it",
        path.display()
    )]
    WouldChange {
        /// The file.
        path: PathBuf,
        /// The start of what it holds.
        existing: String,
        /// The start of what would be written.
        new: String,
    },
    /// Reading, writing, syncing or renaming failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`writing`, `renaming into`, ...).
        what: &'static str,
        /// The file or directory at fault.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> OutfileError + 'a {
    move |source| OutfileError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The first line of `bytes`, at most 80 characters, for error messages.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or("");
    line.chars().take(80).collect()
}

/// Checks the [`Overwrite`] rule for writing `bytes` to `path`, without writing anything. A
/// caller with several files checks them all first, so that a refusal leaves every file as
/// it was; a caller about to publish checks before publishing.
pub fn check(path: &Path, bytes: &[u8], overwrite: Overwrite) -> Result<(), OutfileError> {
    let Overwrite::IfUnchanged { force: false } = overwrite else {
        return Ok(());
    };
    match std::fs::read(path) {
        Ok(existing) if existing == bytes => Ok(()),
        Ok(existing) => Err(OutfileError::WouldChange {
            path: path.to_path_buf(),
            existing: preview(&existing),
            new: preview(bytes),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io("reading", path)(err)),
    }
}

/// Writes `bytes` to `path` atomically (mode 0644 on Unix), creating the parent directory,
/// following `overwrite`. See the module documentation.
pub fn write(path: &Path, bytes: &[u8], overwrite: Overwrite) -> Result<(), OutfileError> {
    write_with(path, bytes, overwrite, |_| Ok(()))
}

/// [`write`], calling `before_rename` with the temporary file's path once it is complete and
/// synced, just before it is renamed over `path`. An error from the hook aborts the write:
/// the temporary file is removed and `path` keeps its old content. Tests use it to observe
/// the rename discipline; callers use [`write`].
pub fn write_with(
    path: &Path,
    bytes: &[u8],
    overwrite: Overwrite,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), OutfileError> {
    check(path, bytes, overwrite)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent)
        .map_err(io("creating a temporary file in", parent))?;
    temp.write_all(bytes).map_err(io("writing", temp.path()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io("setting the mode of", path))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(io("syncing", temp.path()))?;
    before_rename(temp.path()).map_err(io("writing", path))?;
    temp.persist(path)
        .map_err(|e| io("renaming into", path)(e.error))?;
    // The rename is durable once the directory is; failing to sync it is not worth failing
    // the build over (some filesystems refuse to open directories).
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn overwrite_rules() {
        // (existing content, new content, overwrite, expected outcome, content afterwards)
        fn check_case(
            existing: Option<&str>,
            new: &str,
            overwrite: Overwrite,
            expected_err: Option<&str>,
            after: &str,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("digest");
            if let Some(existing) = existing {
                std::fs::write(&path, existing).unwrap();
            }
            let got = write(&path, new.as_bytes(), overwrite)
                .err()
                .map(|e| e.to_string());
            match (expected_err, &got) {
                (None, None) => {}
                (Some(want), Some(err)) => assert!(err.contains(want), "{err}"),
                _ => panic!("{existing:?} -> {new:?} {overwrite:?}: got {got:?}"),
            }
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
            assert_eq!(names(dir.path()), ["digest"], "no temporary file left");
        }
        let digest_rule = Overwrite::IfUnchanged { force: false };
        let forced = Overwrite::IfUnchanged { force: true };
        check_case(None, "sha256:a", digest_rule, None, "sha256:a");
        check_case(Some("sha256:a"), "sha256:a", digest_rule, None, "sha256:a");
        check_case(
            Some("sha256:a"),
            "sha256:b",
            digest_rule,
            Some(
                "already exists with different content (\"sha256:a\", now \"sha256:b\"): remove it or pass --force",
            ),
            "sha256:a",
        );
        check_case(Some("sha256:a"), "sha256:b", forced, None, "sha256:b");
        check_case(Some("{\"old\":1}"), "{}", Overwrite::Always, None, "{}");
    }

    #[test]
    fn the_refusal_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.digest");
        std::fs::write(&path, "sha256:a").unwrap();
        let err = check(&path, b"sha256:b", Overwrite::IfUnchanged { force: false }).unwrap_err();
        assert!(matches!(err, OutfileError::WouldChange { .. }));
        assert!(err.to_string().contains("index.digest"), "{err}");
    }

    #[test]
    fn parents_are_created_and_a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/digest");
        write(&path, b"x", Overwrite::Always).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
        let blocked = dir.path().join("a/b/digest/under-a-file");
        let err = write(&blocked, b"x", Overwrite::Always).unwrap_err();
        assert!(err.to_string().contains("a/b/digest"), "{err}");
    }

    #[test]
    fn a_failure_before_the_rename_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.json");
        std::fs::write(&path, "old").unwrap();
        let mut seen_temp = None;
        let err = write_with(&path, b"new content", Overwrite::Always, |temp| {
            // The temporary file is complete and next to the target, the target untouched.
            assert_eq!(temp.parent(), path.parent());
            assert_eq!(std::fs::read(temp)?, b"new content");
            assert_eq!(std::fs::read(&path)?, b"old");
            seen_temp = Some(temp.to_path_buf());
            Err(std::io::Error::other("killed before the rename"))
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("killed before the rename"),
            "{err}"
        );
        assert!(
            seen_temp.is_some_and(|t| !t.exists()),
            "temporary file removed"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(names(dir.path()), ["metadata.json"]);
    }

    #[test]
    fn a_polling_reader_only_ever_sees_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digest");
        // Large enough that a non-atomic write would be observed part-way.
        let a = vec![b'a'; 256 * 1024];
        let b = vec![b'b'; 512 * 1024];
        write(&path, &a, Overwrite::Always).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, stop, a, b) = (path.clone(), Arc::clone(&stop), a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut reads = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let got = std::fs::read(&path).expect("the target always exists");
                    assert!(
                        got == a || got == b,
                        "read a partial file of {} bytes",
                        got.len()
                    );
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..60 {
            let content = if i % 2 == 0 { &b } else { &a };
            write(&path, content, Overwrite::Always).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let reads = reader.join().expect("the reader saw only whole files");
        assert!(reads > 0);
        assert_eq!(names(dir.path()), ["digest"]);
    }
}
