// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `.dockerignore`: which files of the build context COPY and ADD may see, with Docker's and
//! BuildKit's semantics (`moby/patternmatcher` and `moby/buildkit/frontend/dockerfile/
//! dockerignore`).
//!
//! Rules of the format, as BuildKit reads it:
//! * one pattern per line; a line whose first byte is `#` is a comment (an indented `#` is a
//!   pattern); blank lines are skipped; a UTF-8 BOM on the first line is dropped;
//! * surrounding whitespace is trimmed; a leading `!` makes the line an exception (re-include);
//! * the pattern is cleaned like Go's `filepath.Clean` (`./a//b/` is `a/b`) and a leading `/`
//!   is dropped, so every pattern is relative to the context root;
//! * `*` and `?` stay inside one path segment, `[...]` is a character class (`^` negates), `\`
//!   escapes, `**` matches any number of directories;
//! * a pattern that matches a directory excludes everything below it; the **last** pattern that
//!   matches a path (or one of its parent directories) decides.
//!
//! Patterns cannot say "directories only": cleaning strips a trailing `/`, so `docs/` and
//! `docs` are the same pattern and whether a path is a directory never changes the answer.
//!
//! The `Dockerfile` and the `.dockerignore` file themselves are always read by the builder,
//! whatever the patterns say, but they obey the patterns like any other file when a COPY or
//! ADD names them (Docker documents this for the classic builder and BuildKit does the same,
//! since it sends the Dockerfile through a separate channel). The executor must therefore read
//! them directly from disk, never through a filtered context walk: both are read with
//! [`crate::context_files`], inside the context.

use std::path::{Path, PathBuf};

use crate::copy::glob::pattern::{self, Dialect, Pattern};

/// Why a `.dockerignore` file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DockerIgnoreError {
    /// A pattern is malformed (unclosed `[`, dangling `\`, ...).
    #[error("line {line}: bad pattern {pattern:?}: {reason}")]
    BadPattern {
        /// 1-based line number.
        line: usize,
        /// The pattern as written on the line.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A line holding only `!`.
    #[error("line {line}: illegal exclusion pattern \"!\"")]
    BareExclamation {
        /// 1-based line number.
        line: usize,
    },
    /// The file exists but could not be read (not a regular file, too large, not text).
    #[error(transparent)]
    Read(#[from] crate::context_files::ContextFileError),
    /// The file could be read but has errors (the inner error names the line).
    #[error("{}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// The error, naming the line.
        #[source]
        source: Box<DockerIgnoreError>,
    },
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Pattern,
    exception: bool,
}

/// A parsed `.dockerignore`. The default value excludes nothing.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

impl DockerIgnore {
    /// Parses the content of a `.dockerignore` file.
    pub fn parse(content: &str) -> Result<DockerIgnore, DockerIgnoreError> {
        let content = content.strip_prefix('\u{feff}').unwrap_or(content);
        let mut rules = Vec::new();
        for (index, raw) in content.lines().enumerate() {
            let line = index + 1;
            if raw.starts_with('#') {
                continue;
            }
            let mut text = raw.trim();
            if text.is_empty() {
                continue;
            }
            let exception = match text.strip_prefix('!') {
                Some(rest) => {
                    text = rest.trim();
                    if text.is_empty() {
                        return Err(DockerIgnoreError::BareExclamation { line });
                    }
                    true
                }
                None => false,
            };
            let mut cleaned = pattern::clean(text);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let compiled = Pattern::new(&cleaned, Dialect::DockerIgnore).map_err(|e| {
                DockerIgnoreError::BadPattern {
                    line,
                    pattern: raw.trim().to_string(),
                    reason: e.reason,
                }
            })?;
            rules.push(Rule {
                pattern: compiled,
                exception,
            });
        }
        Ok(DockerIgnore { rules })
    }

    /// Reads the ignore file that applies to a build, BuildKit's way: `<dockerfile>.dockerignore`
    /// next to the Dockerfile if it exists, else `<context>/.dockerignore`, else nothing; inside
    /// the context, never through a symlink that leads out of it (see
    /// [`crate::context_files::read_dockerignore`]).
    pub fn load(
        context_dir: &Path,
        dockerfile: &crate::context_files::DockerfileFile,
    ) -> Result<DockerIgnore, DockerIgnoreError> {
        match crate::context_files::read_dockerignore(context_dir, dockerfile)? {
            Some((path, content)) => {
                DockerIgnore::parse(&content).map_err(|e| DockerIgnoreError::InFile {
                    path,
                    source: Box::new(e),
                })
            }
            None => Ok(DockerIgnore::default()),
        }
    }

    /// Whether there is any pattern at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any pattern is an exception (`!...`).
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }

    /// Whether `rel_path` (relative to the context root; `./` and a leading `/` are allowed)
    /// is excluded from the context. The context root itself is never excluded.
    pub fn is_excluded(&self, rel_path: &Path) -> bool {
        let path = normalize(rel_path);
        if path == "." {
            return false;
        }
        let mut excluded = false;
        for rule in &self.rules {
            // An exception can only change an excluded path and vice versa.
            if rule.exception != excluded {
                continue;
            }
            if matches_self_or_parent(&rule.pattern, &path) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether a walk must still enter directory `rel_dir`: `false` only when every path
    /// below it is certainly excluded. An excluded directory with a later `!` exception that
    /// can match something below it (`docs` then `!docs/README.md`) answers `true`.
    pub fn may_contain_included(&self, rel_dir: &Path) -> bool {
        let dir = normalize(rel_dir);
        if dir == "." {
            return true;
        }
        // The last non-exception rule that excludes the directory (or a parent) decides which
        // exceptions still count: only the ones after it can re-include anything.
        let last_exclusion = self
            .rules
            .iter()
            .rposition(|r| !r.exception && matches_self_or_parent(&r.pattern, &dir));
        let Some(last_exclusion) = last_exclusion else {
            return true;
        };
        if !self.is_excluded(rel_dir) {
            return true;
        }
        self.rules
            .iter()
            .skip(last_exclusion + 1)
            .any(|r| r.exception && r.pattern.could_match_below(&dir))
    }
}

/// A context-relative path as the patterns see it: `/`-separated and cleaned, without a
/// leading `/`. Non-UTF-8 bytes are replaced (such names can only match wildcards).
fn normalize(path: &Path) -> String {
    let cleaned = pattern::clean(&path.to_string_lossy());
    match cleaned.strip_prefix('/') {
        Some("") => ".".to_string(),
        Some(rest) => rest.to_string(),
        None => cleaned,
    }
}

fn matches_self_or_parent(pattern: &Pattern, path: &str) -> bool {
    if pattern.matches(path) {
        return true;
    }
    path.match_indices('/')
        .any(|(i, _)| path.get(..i).is_some_and(|parent| pattern.matches(parent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(patterns: &[&str], path: &str, excluded: bool) {
        let ignore = DockerIgnore::parse(&patterns.join("\n")).unwrap();
        assert_eq!(
            ignore.is_excluded(Path::new(path)),
            excluded,
            "patterns {patterns:?} path {path:?}"
        );
    }

    /// moby patternmatcher's `Matches`/`MatchesOrParentMatches` cases.
    #[test]
    fn patternmatcher_semantics() {
        check(&["*"], "fileutils.go", true);
        check(&["*.go"], "fileutils.go", true);
        check(&["!fileutils.go", "*.go"], "fileutils.go", true);
        check(&["docs", "!docs/README.md"], "docs/README.md", false);
        check(&["docs/", "!docs/README.md"], "docs/README.md", false);
        check(&["docs/*", "!docs/README.md"], "docs/README.md", false);
        check(&["*.go", "!fileutils.go"], "fileutils.go", false);
        check(&["*.go"], ".", false);
        check(&[], "any/path/there", false);
        check(&["**/dir"], "dir/file", true);
        check(&["**/dir2/*"], "dir/dir2/file/x", true);
        check(&["a*"], "ab/c", true);
        check(&["a/*.txt"], "a/dir/file.txt", false);
        check(&["**", "!util/docker/web"], "util/docker/web/foo", false);
        check(
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        );
        check(
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0-py3-none-any.whl",
            false,
        );
    }

    #[test]
    fn file_format() {
        // comments, blank lines, whitespace, leading slash, ./ and trailing slash
        check(&["# comment", "", "  /secret.txt  "], "secret.txt", true);
        check(&["#secret.txt"], "secret.txt", false);
        check(&[" #secret.txt"], "#secret.txt", true);
        check(&["./build/"], "build/out.o", true);
        check(&["build//x/../"], "build/y", true);
        check(&["! keep.txt", "*.txt"], "keep.txt", true);
        check(&["*.txt", "! keep.txt"], "keep.txt", false);
        check(&["\u{feff}node_modules"], "node_modules/x", true);
        check(&["a\\*b"], "a*b", true);
        check(&["a\\*b"], "axb", false);
        // the Dockerfile is matched like any other file (it is only excluded from COPY)
        check(&["Dockerfile", ".dockerignore"], "Dockerfile", true);
        // paths given with ./ or a leading / are the same path
        check(&["docs"], "./docs/a", true);
        check(&["docs"], "/docs/a", true);
    }

    #[test]
    fn errors_name_the_line() {
        #[track_caller]
        fn check_err(content: &str, expected: &str) {
            let err = DockerIgnore::parse(content).unwrap_err();
            assert_eq!(err.to_string(), expected);
        }
        check_err(
            "ok\n# c\nfoo[",
            "line 3: bad pattern \"foo[\": unclosed character class",
        );
        check_err("a\n  !  \n", "line 2: illegal exclusion pattern \"!\"");
        check_err(
            "x\\",
            "line 1: bad pattern \"x\\\\\": trailing backslash escapes nothing",
        );
    }

    #[test]
    fn may_contain_included_follows_exceptions() {
        #[track_caller]
        fn check_dir(patterns: &[&str], dir: &str, expected: bool) {
            let ignore = DockerIgnore::parse(&patterns.join("\n")).unwrap();
            assert_eq!(
                ignore.may_contain_included(Path::new(dir)),
                expected,
                "patterns {patterns:?} dir {dir:?}"
            );
        }
        check_dir(&["docs"], "docs", false);
        check_dir(&["docs"], "src", true);
        check_dir(&["docs", "!docs/README.md"], "docs", true);
        check_dir(&["docs", "!docs/README.md"], "docs/sub", false);
        check_dir(&["!docs/README.md", "docs"], "docs", false);
        check_dir(&["**", "!**/*.go"], "vendor/x", true);
        check_dir(&["**", "!src/*.go"], "vendor", false);
        check_dir(&["**", "!src/*.go"], "src", true);
        check_dir(&["a", "!a/b/c"], "a/b", true);
        check_dir(&["*"], ".", true);
    }

    proptest::proptest! {
        /// Arbitrary file contents parse or fail with a line number; queries never panic.
        #[test]
        fn arbitrary_files_never_panic(content in "[a-z*?!#\\[\\]\\\\/. \n-]{0,60}", path in "[a-z/.]{0,16}") {
            match DockerIgnore::parse(&content) {
                Ok(ignore) => {
                    let _ = ignore.is_excluded(Path::new(&path));
                    let _ = ignore.may_contain_included(Path::new(&path));
                }
                Err(e) => proptest::prop_assert!(e.to_string().starts_with("line "), "{}", e),
            }
        }
    }

    #[test]
    fn load_prefers_the_dockerfile_specific_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.Dockerfile"), "FROM scratch\n").unwrap();
        let dockerfile = crate::context_files::read_dockerfile(
            dir.path(),
            &crate::context_files::DockerfilePath::InContext("app.Dockerfile".into()),
        )
        .unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "general\n").unwrap();
        let general = DockerIgnore::load(dir.path(), &dockerfile).unwrap();
        assert!(general.is_excluded(Path::new("general")));
        std::fs::write(dir.path().join("app.Dockerfile.dockerignore"), "specific\n").unwrap();
        let specific = DockerIgnore::load(dir.path(), &dockerfile).unwrap();
        assert!(specific.is_excluded(Path::new("specific")));
        assert!(!specific.is_excluded(Path::new("general")));
        std::fs::write(dir.path().join("app.Dockerfile.dockerignore"), "\n\n[\n").unwrap();
        let err = DockerIgnore::load(dir.path(), &dockerfile).unwrap_err();
        let err = format!("{:#}", anyhow::Error::new(err));
        assert!(
            err.contains("app.Dockerfile.dockerignore: line 3: bad pattern \"[\""),
            "{err}"
        );
    }
}
