// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The Dockerfile and `.dockerignore` of a build context, read the one way `worker build`,
//! `worker serve` and the coordinator share. A path inside the context is opened inside it
//! ([`crate::inroot`]): a symlink, even one an untrusted tarball planted after a regular entry
//! of the same name, resolves as if the context were `/` and never reaches a host file. A path
//! outside the context is one the operator named (`--dockerfile /elsewhere/Dockerfile`) and is
//! read as given. Either must be a regular file (a FIFO would block the build, a device could
//! do anything when opened) of at most [`MAX_DOCKERFILE_BYTES`], in UTF-8.

use std::path::{Path, PathBuf};

use crate::inroot::{self, ReadError};
use crate::unpack;

/// The largest Dockerfile or `.dockerignore` read: 4 MiB, also the coordinator's limit for a
/// Dockerfile inside a context tarball.
pub const MAX_DOCKERFILE_BYTES: u64 = 4 * 1024 * 1024;

/// Where a build's Dockerfile is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfilePath {
    /// Inside the context: the path relative to the context root, as named (not resolved).
    InContext(PathBuf),
    /// Outside the context: a path the operator named, read as given.
    Outside(PathBuf),
}

impl DockerfilePath {
    /// `path` classified against the context directory `context` (both absolute, or both
    /// relative to the same directory): inside when it is lexically below the context.
    pub fn classify(context: &Path, path: &Path) -> DockerfilePath {
        let (context_clean, path_clean) = (lexical(context), lexical(path));
        match path_clean.strip_prefix(&context_clean) {
            Ok(rel) => DockerfilePath::InContext(rel.to_path_buf()),
            Err(_) => DockerfilePath::Outside(path.to_path_buf()),
        }
    }
}

/// `path` with `.` and `..` applied lexically, keeping whether it is absolute.
fn lexical(path: &Path) -> PathBuf {
    let clean = unpack::clean(path);
    if path.has_root() {
        Path::new("/").join(clean)
    } else {
        clean
    }
}

/// A Dockerfile as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerfileFile {
    /// Inside the context: its path relative to the context root, every symlink resolved
    /// inside the context. `None` for a Dockerfile outside the context.
    pub resolved: Option<PathBuf>,
    /// Outside the context: its path.
    pub outside: Option<PathBuf>,
    /// The content.
    pub text: String,
}

/// Why the Dockerfile or `.dockerignore` of a context could not be read. `what` is
/// `dockerfile` or `dockerignore`; `name` the path as named (context-relative inside it).
#[derive(Debug, thiserror::Error)]
pub enum ContextFileError {
    /// Not inside the context (missing, or a symlink on the way leads out of it).
    #[error(
        "{what} {name:?} is not in the build context {} (symlinks are followed only inside \
         the context)", context.display()
    )]
    NotInContext {
        /// `dockerfile` or `dockerignore`.
        what: &'static str,
        /// The path as named.
        name: String,
        /// The context directory.
        context: PathBuf,
    },
    /// A path outside the context that does not exist.
    #[error("{what} {name:?} does not exist")]
    NotFound {
        /// `dockerfile` or `dockerignore`.
        what: &'static str,
        /// The path as named.
        name: String,
    },
    /// A directory, FIFO, socket, device.
    #[error("{what} {name:?} is not a regular file ({kind})")]
    NotRegular {
        /// `dockerfile` or `dockerignore`.
        what: &'static str,
        /// The path as named.
        name: String,
        /// What it is.
        kind: &'static str,
    },
    /// Larger than [`MAX_DOCKERFILE_BYTES`].
    #[error("{what} {name:?} is larger than the limit of 4 MiB ({MAX_DOCKERFILE_BYTES} bytes)")]
    TooLarge {
        /// `dockerfile` or `dockerignore`.
        what: &'static str,
        /// The path as named.
        name: String,
    },
    /// Not UTF-8.
    #[error("{what} {name:?} is not UTF-8 text")]
    NotText {
        /// `dockerfile` or `dockerignore`.
        what: &'static str,
        /// The path as named.
        name: String,
    },
    /// Reading failed.
    #[error("reading {what} {name:?}: {source}")]
    Io {
        /// `dockerfile` or `dockerignore`.
        what: &'static str,
        /// The path as named.
        name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ContextFileError {
    /// Whether the file is simply not there (the next candidate may be tried).
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            ContextFileError::NotInContext { .. } | ContextFileError::NotFound { .. }
        )
    }
}

/// Reads `path` (inside `context` or outside it) as a text of at most
/// [`MAX_DOCKERFILE_BYTES`]; returns the resolved path inside the context, if inside.
fn read_text(
    context: &Path,
    path: &DockerfilePath,
    what: &'static str,
) -> Result<(Option<PathBuf>, String), ContextFileError> {
    let (name, resolved, read) = match path {
        DockerfilePath::InContext(rel) => {
            let name = rel.display().to_string();
            let resolved = unpack::resolve_on_disk(context, rel, true).map_err(|source| {
                ContextFileError::Io {
                    what,
                    name: name.clone(),
                    source,
                }
            })?;
            let read = inroot::read_file_in(context, &resolved, MAX_DOCKERFILE_BYTES);
            (name, Some(resolved), read)
        }
        DockerfilePath::Outside(path) => (
            path.display().to_string(),
            None,
            inroot::read_file(path, MAX_DOCKERFILE_BYTES),
        ),
    };
    let bytes = read.map_err(|e| match e {
        ReadError::NotFound if resolved.is_some() => ContextFileError::NotInContext {
            what,
            name: name.clone(),
            context: context.to_path_buf(),
        },
        ReadError::NotFound => ContextFileError::NotFound {
            what,
            name: name.clone(),
        },
        ReadError::NotRegular(kind) => ContextFileError::NotRegular {
            what,
            name: name.clone(),
            kind,
        },
        ReadError::TooLarge { .. } => ContextFileError::TooLarge {
            what,
            name: name.clone(),
        },
        ReadError::Io(source) => ContextFileError::Io {
            what,
            name: name.clone(),
            source,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ContextFileError::NotText { what, name })?;
    Ok((resolved, text))
}

/// Reads the Dockerfile at `path` of the context directory `context`.
pub fn read_dockerfile(
    context: &Path,
    path: &DockerfilePath,
) -> Result<DockerfileFile, ContextFileError> {
    let (resolved, text) = read_text(context, path, "dockerfile")?;
    Ok(DockerfileFile {
        outside: match path {
            DockerfilePath::Outside(p) => Some(p.clone()),
            DockerfilePath::InContext(_) => None,
        },
        resolved,
        text,
    })
}

/// The ignore file of a build, BuildKit's way: `<dockerfile>.dockerignore` next to the
/// Dockerfile if it exists, else `<context>/.dockerignore`, else none. Returns its name (as
/// [`ContextFileError`] names it) and content.
pub fn read_dockerignore(
    context: &Path,
    dockerfile: &DockerfileFile,
) -> Result<Option<(PathBuf, String)>, ContextFileError> {
    let beside = |path: &Path| {
        let mut name = path.as_os_str().to_owned();
        name.push(".dockerignore");
        PathBuf::from(name)
    };
    let mut candidates = Vec::new();
    if let Some(rel) = &dockerfile.resolved {
        candidates.push(DockerfilePath::InContext(beside(rel)));
    }
    if let Some(path) = &dockerfile.outside {
        candidates.push(DockerfilePath::Outside(beside(path)));
    }
    candidates.push(DockerfilePath::InContext(PathBuf::from(".dockerignore")));
    for candidate in candidates {
        match read_text(context, &candidate, "dockerignore") {
            Ok((_, text)) => {
                let name = match candidate {
                    DockerfilePath::InContext(p) | DockerfilePath::Outside(p) => p,
                };
                return Ok(Some((name, text)));
            }
            Err(e) if e.is_missing() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn paths_below_the_context_are_inside_it() {
        fn check(context: &str, path: &str, expected: DockerfilePath) {
            assert_eq!(
                DockerfilePath::classify(Path::new(context), Path::new(path)),
                expected,
                "{path} against {context}"
            );
        }
        use DockerfilePath::{InContext, Outside};
        check("/ctx", "/ctx/Dockerfile", InContext("Dockerfile".into()));
        // What `worker serve` and the local driver pass: absolute, inside.
        check(
            "/tmp/t/context",
            "/tmp/t/context/sub/Dockerfile",
            InContext("sub/Dockerfile".into()),
        );
        check(
            "/ctx/./",
            "/ctx/a/../b/Dockerfile",
            InContext("b/Dockerfile".into()),
        );
        check(
            "/ctx",
            "/ctx/../elsewhere/Dockerfile",
            Outside("/ctx/../elsewhere/Dockerfile".into()),
        );
        check(
            "/ctx",
            "/ctxx/Dockerfile",
            Outside("/ctxx/Dockerfile".into()),
        );
        check("/ctx", "/etc/passwd", Outside("/etc/passwd".into()));
    }

    #[test]
    fn a_dockerfile_inside_resolves_inside_and_never_reaches_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir_all(ctx.join("docker")).unwrap();
        std::fs::write(ctx.join("docker/Dockerfile.prod"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("host"), "HOST\n").unwrap();
        symlink("docker/Dockerfile.prod", ctx.join("Dockerfile")).unwrap();
        symlink(dir.path().join("host"), ctx.join("out")).unwrap();
        let read = |name: &str| read_dockerfile(&ctx, &DockerfilePath::InContext(name.into()));
        let file = read("Dockerfile").unwrap();
        assert_eq!(file.text, "FROM scratch\n");
        assert_eq!(
            file.resolved.as_deref(),
            Some(Path::new("docker/Dockerfile.prod"))
        );
        let err = read("out").unwrap_err().to_string();
        assert!(
            err.starts_with("dockerfile \"out\" is not in the build context"),
            "{err}"
        );
        let err = read("docker").unwrap_err().to_string();
        assert_eq!(
            err,
            "dockerfile \"docker\" is not a regular file (a directory)"
        );
        // Outside, a path the operator named is read as given.
        let outside = DockerfilePath::Outside(ctx.join("out"));
        assert_eq!(read_dockerfile(&ctx, &outside).unwrap().text, "HOST\n");
    }

    #[test]
    fn big_or_binary_files_are_refused_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut big = b"FROM scratch\n".to_vec();
        big.resize(usize::try_from(MAX_DOCKERFILE_BYTES).unwrap() + 1, b'#');
        std::fs::write(dir.path().join("Dockerfile"), &big).unwrap();
        std::fs::write(dir.path().join("binary"), [0xff, 0xfe, 0]).unwrap();
        let read = |name: &str| {
            read_dockerfile(dir.path(), &DockerfilePath::InContext(name.into()))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            read("Dockerfile"),
            "dockerfile \"Dockerfile\" is larger than the limit of 4 MiB (4194304 bytes)"
        );
        assert_eq!(read("binary"), "dockerfile \"binary\" is not UTF-8 text");
    }

    #[test]
    fn the_ignore_file_beside_the_dockerfile_wins_and_links_out_are_missing() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("app.Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("host"), "LEAKED[\n").unwrap();
        let file =
            read_dockerfile(&ctx, &DockerfilePath::InContext("app.Dockerfile".into())).unwrap();
        assert_eq!(read_dockerignore(&ctx, &file).unwrap(), None);
        symlink(dir.path().join("host"), ctx.join(".dockerignore")).unwrap();
        assert_eq!(read_dockerignore(&ctx, &file).unwrap(), None);
        std::fs::write(ctx.join("app.Dockerfile.dockerignore"), "specific\n").unwrap();
        assert_eq!(
            read_dockerignore(&ctx, &file).unwrap(),
            Some(("app.Dockerfile.dockerignore".into(), "specific\n".into()))
        );
    }
}
