// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! COPY/ADD source resolution: which files of the build context the sources of one COPY or
//! ADD instruction name, with Docker's and BuildKit's rules.
//!
//! * A source is relative to the context root; a leading `/` changes nothing (`/a` is `a`).
//! * `.` and `..` are folded lexically; a source that climbs above the root (`../x`,
//!   `a/../../x`) is an error naming it (the classic builder's "forbidden path outside the
//!   build context"; BuildKit silently clamps it to the root, which hides mistakes).
//! * Wildcards follow Go's `filepath.Match` per path segment: `*`, `?`, `[...]` (`^` negates),
//!   `\` escapes. There is no recursive `**` in COPY sources: BuildKit (`fsutil/copy`
//!   `ResolveWildcards`) matches the wildcard part with `filepath.Match`, where `**` is just two
//!   `*` and stays inside one segment.
//! * A wildcard that matches a directory names the directory (its contents are copied by the
//!   caller); matching does not descend into it.
//! * Paths excluded by `.dockerignore` are not part of the context, so they never match and a
//!   literal source naming one is "not found". An excluded directory that still holds
//!   re-included files (`docs` + `!docs/README.md`) is present, holding just those files: the
//!   caller copying it must filter its walk with the same [`DockerIgnore`].
//! * A literal source that does not exist is an error naming it; a wildcard source that
//!   matches nothing (even below a missing directory) names nothing and is no error, as in
//!   BuildKit's Dockerfile frontend (`COPY pom.xml target/lib*.jar /opt/` copies `pom.xml`
//!   whether or not there are jars).
//! * Symlinks are not followed while matching, but every match (and every directory on its
//!   way) must resolve inside the context: a source reaching outside through a symlink is an
//!   error, never a read of the host's files.
//!
//! The result keeps the order the sources are written in (each pattern's matches sorted by
//! path components) and is free of duplicates.

pub mod pattern;

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::dockerignore::DockerIgnore;
use pattern::{Dialect, Pattern, PatternError};

/// Why COPY/ADD sources could not be resolved. Every variant names the source at fault.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The instruction lists no source at all.
    #[error("no source files were specified")]
    Empty,
    /// The source climbs above the context root, lexically or through a symlink.
    #[error("forbidden path outside the build context: {pattern}")]
    OutsideContext {
        /// The source as written.
        pattern: String,
    },
    /// A source without wildcards names nothing in the context (or something excluded by
    /// `.dockerignore`).
    #[error("{pattern}: not found in the build context")]
    NotFound {
        /// The source as written.
        pattern: String,
    },
    /// A wildcard source is malformed.
    #[error("invalid source {pattern}")]
    BadPattern {
        /// The source as written.
        pattern: String,
        /// What is wrong with it.
        #[source]
        source: PatternError,
    },
    /// The context could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Resolves the sources of one COPY/ADD instruction inside `context_root`.
///
/// Returns the matched paths as `context_root` joined with their context-relative path (strip
/// `context_root` to get the latter), in the order of `patterns` (each one's matches sorted),
/// without duplicates. `.` (or `/`) names the whole
/// context and yields `context_root` itself.
pub fn resolve_sources<S: AsRef<str>>(
    context_root: &Path,
    patterns: &[S],
    ignore: &DockerIgnore,
) -> Result<Vec<PathBuf>, SourceError> {
    resolve(context_root, patterns, ignore, false)
}

/// [`resolve_sources`] in an image's filesystem (`COPY --from`): symlinks on a source's way
/// resolve inside `root` as they would inside the image (an absolute target starts again at
/// `root`, `..` stops there), as BuildKit scopes them; nothing is ever outside it. The
/// matched paths have those symlinks resolved; a symlink a source names last is left for
/// the planner to follow.
pub fn resolve_sources_in_image<S: AsRef<str>>(
    root: &Path,
    patterns: &[S],
) -> Result<Vec<PathBuf>, SourceError> {
    resolve(root, patterns, &DockerIgnore::default(), true)
}

fn resolve<S: AsRef<str>>(
    context_root: &Path,
    patterns: &[S],
    ignore: &DockerIgnore,
    scoped: bool,
) -> Result<Vec<PathBuf>, SourceError> {
    if patterns.is_empty() {
        return Err(SourceError::Empty);
    }
    let root = Context {
        dir: context_root,
        canonical: fs::canonicalize(context_root).map_err(|source| SourceError::Io {
            path: context_root.to_path_buf(),
            source,
        })?,
        ignore,
        scoped,
    };
    // In the order the sources are written (a later source wins where two write one path,
    // and archives are extracted in that order), each pattern's matches sorted; a path
    // named twice counts once, where it was first named.
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for pattern in patterns {
        for rel in root.resolve_one(pattern.as_ref())? {
            if seen.insert(rel.clone()) {
                found.push(rel);
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|rel| {
            if rel.as_os_str().is_empty() {
                context_root.to_path_buf()
            } else {
                context_root.join(rel)
            }
        })
        .collect())
}

struct Context<'a> {
    dir: &'a Path,
    canonical: PathBuf,
    ignore: &'a DockerIgnore,
    /// Symlinks resolve inside `dir` ([`resolve_sources_in_image`]).
    scoped: bool,
}

impl Context<'_> {
    /// The context-relative paths one source names (the empty path is the root).
    fn resolve_one(&self, source: &str) -> Result<Vec<PathBuf>, SourceError> {
        let owned = || source.to_string();
        let mut segments: Vec<&str> = Vec::new();
        for segment in source.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    if segments.pop().is_none() {
                        return Err(SourceError::OutsideContext { pattern: owned() });
                    }
                }
                s => segments.push(s),
            }
        }
        if segments.is_empty() {
            return Ok(vec![PathBuf::new()]);
        }
        let Some(first_wild) = segments.iter().position(|s| pattern::has_wildcard(s)) else {
            let rel: PathBuf = segments.iter().map(|s| pattern::unescape(s)).collect();
            let rel = self.scope(rel, false)?;
            let meta = match fs::symlink_metadata(self.dir.join(&rel)) {
                Ok(meta) => meta,
                Err(e) if is_missing(&e) => {
                    self.check_inside(&rel.with_file_name(""), source)?;
                    return Err(SourceError::NotFound { pattern: owned() });
                }
                Err(e) => return Err(self.io(&rel, e)),
            };
            if !self.present(&rel, meta.is_dir())? {
                return Err(SourceError::NotFound { pattern: owned() });
            }
            self.check_inside(&rel, source)?;
            return Ok(vec![rel]);
        };
        let (literal, wild) = segments.split_at(first_wild);
        let base: PathBuf = literal.iter().map(|s| pattern::unescape(s)).collect();
        let base = self.scope(base, true)?;
        let compiled = Pattern::new(&wild.join("/"), Dialect::FilepathMatch).map_err(|e| {
            SourceError::BadPattern {
                pattern: owned(),
                source: e,
            }
        })?;
        match self.check_inside(&base, source) {
            Ok(()) | Err(SourceError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        // A wildcard that matches nothing (even below a directory that is not there) is
        // allowed, as BuildKit's Dockerfile frontend allows it (`AllowEmptyWildcard`).
        let mut found = Vec::new();
        self.walk(&base, "", &compiled, wild.len(), source, &mut found)?;
        Ok(found)
    }

    /// Matches the entries below `base/sub` against `pattern` (relative to `base`), entering
    /// directories only while the pattern has segments left.
    fn walk(
        &self,
        base: &Path,
        sub: &str,
        pattern: &Pattern,
        levels: usize,
        source: &str,
        found: &mut Vec<PathBuf>,
    ) -> Result<(), SourceError> {
        let rel_dir = base.join(sub);
        for (name, is_dir) in self.entries(&rel_dir)? {
            // Non-UTF-8 names cannot be written in a Dockerfile; they match nothing.
            let Some(name) = name.to_str() else { continue };
            let rel_to_base = if sub.is_empty() {
                name.to_string()
            } else {
                format!("{sub}/{name}")
            };
            let rel = base.join(&rel_to_base);
            if pattern.matches(&rel_to_base) {
                if self.present(&rel, is_dir)? {
                    self.check_inside(&rel, source)?;
                    found.push(rel);
                }
            } else if is_dir
                && levels > 1
                && (!self.ignore.is_excluded(&rel) || self.ignore.may_contain_included(&rel))
            {
                self.walk(base, &rel_to_base, pattern, levels - 1, source, found)?;
            }
        }
        Ok(())
    }

    /// The entries of a context directory (name, is a real directory), sorted; a missing
    /// directory or a non-directory has none.
    fn entries(&self, rel_dir: &Path) -> Result<Vec<(std::ffi::OsString, bool)>, SourceError> {
        let read = match fs::read_dir(self.dir.join(rel_dir)) {
            Ok(read) => read,
            Err(e) if is_missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(self.io(rel_dir, e)),
        };
        let mut out = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| self.io(rel_dir, e))?;
            let is_dir = entry
                .file_type()
                .map_err(|e| self.io(&rel_dir.join(entry.file_name()), e))?
                .is_dir();
            out.push((entry.file_name(), is_dir));
        }
        out.sort();
        Ok(out)
    }

    /// Whether a path that exists on disk is part of the context after `.dockerignore`.
    fn present(&self, rel: &Path, is_dir: bool) -> Result<bool, SourceError> {
        if !self.ignore.is_excluded(rel) {
            return Ok(true);
        }
        if !is_dir || !self.ignore.may_contain_included(rel) {
            return Ok(false);
        }
        for (name, child_is_dir) in self.entries(rel)? {
            if self.present(&rel.join(name), child_is_dir)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// In an image's filesystem, `rel` with the symlinks on its way resolved inside it (the
    /// last one too when `follow_final`); elsewhere `rel` as it is.
    fn scope(&self, rel: PathBuf, follow_final: bool) -> Result<PathBuf, SourceError> {
        if !self.scoped {
            return Ok(rel);
        }
        crate::unpack::resolve::resolve_on_disk(self.dir, &rel, follow_final)
            .map_err(|e| self.io(&rel, e))
    }

    /// Fails when `rel` resolves (through symlinks) outside the context. A path that does not
    /// resolve at all (dangling symlink) is "not found". In an image's filesystem nothing
    /// resolves outside: only "not found" is possible.
    fn check_inside(&self, rel: &Path, source: &str) -> Result<(), SourceError> {
        if self.scoped {
            let resolved = self.scope(rel.to_path_buf(), true)?;
            return match fs::symlink_metadata(self.dir.join(resolved)) {
                Ok(_) => Ok(()),
                Err(e) if is_missing(&e) => Err(SourceError::NotFound {
                    pattern: source.to_string(),
                }),
                Err(e) => Err(self.io(rel, e)),
            };
        }
        match fs::canonicalize(self.dir.join(rel)) {
            Ok(real) if real.starts_with(&self.canonical) => Ok(()),
            Ok(_) => Err(SourceError::OutsideContext {
                pattern: source.to_string(),
            }),
            Err(e) if is_missing(&e) => Err(SourceError::NotFound {
                pattern: source.to_string(),
            }),
            Err(e) => Err(self.io(rel, e)),
        }
    }

    fn io(&self, rel: &Path, source: io::Error) -> SourceError {
        SourceError::Io {
            path: self.dir.join(rel),
            source,
        }
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context with files, a nested tree, hidden files and a `.dockerignore`.
    fn context() -> (tempfile::TempDir, DockerIgnore) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "a.txt",
            "b.txt",
            "c.md",
            ".hidden",
            "ignored.txt",
            "dir/x.txt",
            "dir/sub/y.txt",
            "dir/sub/z.md",
            "docs/README.md",
            "docs/secret.md",
            "star*name",
        ] {
            let path = root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, file).unwrap();
        }
        let ignore = DockerIgnore::parse("ignored.txt\ndocs\n!docs/README.md\n").unwrap();
        (dir, ignore)
    }

    #[track_caller]
    fn check(sources: &[&str], expected: Result<&[&str], &str>) {
        let (dir, ignore) = context();
        let got = resolve_sources(dir.path(), sources, &ignore);
        let got = match got {
            Ok(paths) => Ok(paths
                .iter()
                .map(|p| {
                    let rel = p.strip_prefix(dir.path()).unwrap();
                    if rel.as_os_str().is_empty() {
                        ".".to_string()
                    } else {
                        rel.to_string_lossy().into_owned()
                    }
                })
                .collect::<Vec<_>>()),
            Err(e) => Err(format!("{:#}", anyhow::Error::new(e))),
        };
        let expected = expected
            .map(|paths| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>())
            .map_err(str::to_string);
        assert_eq!(got, expected, "sources {sources:?}");
    }

    #[test]
    fn sources_resolve_like_buildkit() {
        check(&["a.txt"], Ok(&["a.txt"]));
        check(&["/a.txt", "./c.md"], Ok(&["a.txt", "c.md"]));
        // In the order written (a later source wins where two write one path), once each.
        check(&["c.md", "a.txt", "a.txt"], Ok(&["c.md", "a.txt"]));
        check(&["*.md", "?.txt"], Ok(&["c.md", "a.txt", "b.txt"]));
        check(&["*.txt"], Ok(&["a.txt", "b.txt"]));
        check(&["?.txt", "*.md"], Ok(&["a.txt", "b.txt", "c.md"]));
        check(&["[ab].txt"], Ok(&["a.txt", "b.txt"]));
        check(&["[^a].txt"], Ok(&["b.txt"]));
        check(&["dir/*/y.txt"], Ok(&["dir/sub/y.txt"]));
        check(&["dir/sub/*.md"], Ok(&["dir/sub/z.md"]));
        check(&["di?"], Ok(&["dir"]));
        check(&["dir"], Ok(&["dir"]));
        check(&["dir/sub/../x.txt"], Ok(&["dir/x.txt"]));
        check(&["."], Ok(&["."]));
        check(&["/"], Ok(&["."]));
        check(&["star\\*name"], Ok(&["star*name"]));
        check(
            &["*"],
            Ok(&[
                ".hidden",
                "a.txt",
                "b.txt",
                "c.md",
                "dir",
                "docs",
                "star*name",
            ]),
        );
    }

    #[test]
    fn no_recursive_double_star_in_sources() {
        check(&["**/*.md"], Ok(&["docs/README.md"]));
        check(&["**/y.txt"], Ok(&[]));
    }

    #[test]
    fn dockerignore_hides_files() {
        check(
            &["ignored.txt"],
            Err("ignored.txt: not found in the build context"),
        );
        check(&["docs"], Ok(&["docs"]));
        check(&["docs/*"], Ok(&["docs/README.md"]));
        check(
            &["docs/secret.md"],
            Err("docs/secret.md: not found in the build context"),
        );
    }

    #[test]
    fn bad_sources_are_errors_naming_them() {
        check(&[], Err("no source files were specified"));
        check(
            &["../x"],
            Err("forbidden path outside the build context: ../x"),
        );
        check(
            &["dir/../../etc/passwd"],
            Err("forbidden path outside the build context: dir/../../etc/passwd"),
        );
        check(
            &["nope.txt"],
            Err("nope.txt: not found in the build context"),
        );
        check(&["a.txt/x"], Err("a.txt/x: not found in the build context"));
        // A literal source is needed; a wildcard may match nothing.
        check(
            &["*.nope", "nope.txt"],
            Err("nope.txt: not found in the build context"),
        );
        check(&["*.nope"], Ok(&[]));
        check(&["missing/*.txt"], Ok(&[]));
        check(&["*.nope", "a.txt", "missing/*"], Ok(&["a.txt"]));
        check(
            &["[a.txt"],
            Err("invalid source [a.txt: bad pattern \"[a.txt\": unclosed character class"),
        );
    }

    #[test]
    fn in_an_image_symlinks_resolve_inside_its_root() {
        use std::os::unix::fs::symlink;
        let image = tempfile::tempdir().unwrap();
        let root = image.path();
        fs::create_dir_all(root.join("real/sub")).unwrap();
        fs::write(root.join("real/sub/file"), "f").unwrap();
        fs::write(root.join("real/a.txt"), "a").unwrap();
        symlink("/real", root.join("link")).unwrap();
        symlink("sub/file", root.join("real/alias")).unwrap();
        // The host's /etc/passwd exists; the image has no /etc.
        symlink("/etc", root.join("etc-link")).unwrap();
        symlink("../../../../etc/passwd", root.join("climb")).unwrap();
        let rel = |sources: &[&str]| -> Result<Vec<String>, String> {
            resolve_sources_in_image(root, sources)
                .map(|found| {
                    found
                        .iter()
                        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                        .collect()
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(rel(&["/link/sub/file"]).unwrap(), ["real/sub/file"]);
        // The last symlink is left for the planner, which follows it (inside the root too).
        assert_eq!(rel(&["/link/alias"]).unwrap(), ["real/alias"]);
        assert_eq!(rel(&["/link/*.txt"]).unwrap(), ["real/a.txt"]);
        for outside in ["/etc-link/passwd", "/climb"] {
            assert_eq!(
                rel(&[outside]).unwrap_err(),
                format!("{outside}: not found in the build context"),
                "never the host's file"
            );
        }
        // The build context keeps refusing what reaches outside it.
        assert!(
            resolve_sources(root, &["/etc-link/passwd"], &DockerIgnore::default())
                .unwrap_err()
                .to_string()
                .contains("forbidden path outside the build context")
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_cannot_reach_outside() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "x").unwrap();
        let ctx = tempfile::tempdir().unwrap();
        fs::write(ctx.path().join("file"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), ctx.path().join("out")).unwrap();
        std::os::unix::fs::symlink("file", ctx.path().join("inner")).unwrap();
        std::os::unix::fs::symlink("gone", ctx.path().join("dangling")).unwrap();
        let ignore = DockerIgnore::default();
        let err = |s: &str| {
            resolve_sources(ctx.path(), &[s], &ignore)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("out/secret"),
            "forbidden path outside the build context: out/secret"
        );
        assert_eq!(err("out"), "forbidden path outside the build context: out");
        assert_eq!(err("o*"), "forbidden path outside the build context: o*");
        assert_eq!(err("dangling"), "dangling: not found in the build context");
        assert_eq!(
            resolve_sources(ctx.path(), &["inner"], &ignore).unwrap(),
            vec![ctx.path().join("inner")]
        );
    }
}
