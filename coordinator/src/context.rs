// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The build context as one tarball for `coordinator submit`: the context directory minus what
//! `.dockerignore` excludes, in a deterministic order (entries sorted by name, parents before
//! children), modes and mtimes kept, owners zeroed, streamed to a temporary file while its
//! sha256 is computed. The Dockerfile and the ignore files are always included, as Docker
//! always sends them; a Dockerfile outside the context travels inside it as
//! [`OUTSIDE_DOCKERFILE`]. Both are read with [`kaniko_worker::context_files`]: inside the
//! context, a symlink never leads them out of it.

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use kaniko_worker::context_files::{ContextFileError, DockerfilePath, read_dockerfile};
use kaniko_worker::dockerignore::DockerIgnore;
use sha2::{Digest, Sha256};

/// Where a Dockerfile from outside the context is put inside the tarball.
pub const OUTSIDE_DOCKERFILE: &str = ".kaniko/Dockerfile";

/// Why a context could not be packed.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The context directory does not exist or is not a directory.
    #[error("build context {0} is not a directory")]
    NotADirectory(PathBuf),
    /// The Dockerfile cannot be read (missing, not in the context, not a small regular file).
    #[error(transparent)]
    Dockerfile(#[from] ContextFileError),
    /// `.dockerignore` cannot be read or parsed.
    #[error("{path}: {message}")]
    Ignore {
        /// The ignore file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or the tarball written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
}

/// A packed context: a temporary tarball, its sha256 and size, and the Dockerfile's path
/// inside it.
#[derive(Debug)]
pub struct PackedContext {
    /// The tarball; deleted on drop.
    pub file: tempfile::NamedTempFile,
    /// sha256 of the tarball, lowercase hex.
    pub sha256: String,
    /// Size of the tarball in bytes.
    pub size: u64,
    /// The Dockerfile's path inside the context, `/`-separated.
    pub dockerfile: String,
    /// How many files and directories went in.
    pub entries: usize,
}

/// A writer that hashes and counts what it writes.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or_default();
        self.hasher.update(written);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn slash_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Packs `context_dir` with `dockerfile` (a path as the user gave it: absolute, or relative
/// to the current directory; `None` for `<context>/Dockerfile`) into a temporary tarball in
/// `tmp_dir` (the system's when `None`).
pub fn pack(
    context_dir: &Path,
    dockerfile: Option<&Path>,
    tmp_dir: Option<&Path>,
) -> Result<PackedContext, ContextError> {
    if !context_dir.is_dir() {
        return Err(ContextError::NotADirectory(context_dir.to_path_buf()));
    }
    let cwd = std::env::current_dir().map_err(io_err(context_dir))?;
    let named_context = cwd.join(context_dir);
    let context = fs::canonicalize(context_dir).map_err(io_err(context_dir))?;
    // A path inside the context (the default among them) is read inside it: no symlink of
    // the context leads the Dockerfile or its ignore file out of it. A path outside was
    // named on the command line and is read as given, as Docker does.
    let location = match dockerfile {
        Some(path) => DockerfilePath::classify(&named_context, &cwd.join(path)),
        None => DockerfilePath::InContext(PathBuf::from("Dockerfile")),
    };
    let dockerfile_file = read_dockerfile(&context, &location)?;
    let inside = dockerfile_file.resolved.clone();
    let ignore =
        DockerIgnore::load(&context, &dockerfile_file).map_err(|err| ContextError::Ignore {
            path: context.join(".dockerignore"),
            message: err.to_string(),
        })?;

    let file = match tmp_dir {
        Some(dir) => tempfile::NamedTempFile::new_in(dir),
        None => tempfile::NamedTempFile::new(),
    }
    .map_err(io_err(Path::new("temporary context tarball")))?;
    let writer = Hashing {
        inner: io::BufWriter::new(file.reopen().map_err(io_err(file.path()))?),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut builder = tar::Builder::new(writer);
    builder.follow_symlinks(false);
    let mut entries = 0usize;

    // Always present, whatever the patterns say.
    let mut always: Vec<PathBuf> = vec![PathBuf::from(".dockerignore")];
    if let Some(rel) = &inside {
        always.push(rel.clone());
        if let Some(name) = rel.file_name() {
            let mut ignore_name = name.to_os_string();
            ignore_name.push(".dockerignore");
            always.push(rel.with_file_name(ignore_name));
        }
    }
    walk(
        &context,
        Path::new(""),
        &ignore,
        &always,
        &mut builder,
        &mut entries,
    )?;
    let dockerfile_in_tar = match inside {
        Some(rel) => slash_path(&rel),
        None => {
            let outside = dockerfile_file.outside.clone().unwrap_or_default();
            let mut header = tar::Header::new_gnu();
            let meta = fs::metadata(&outside).map_err(io_err(&outside))?;
            header.set_metadata(&meta);
            header.set_uid(0);
            header.set_gid(0);
            header.set_size(dockerfile_file.text.len() as u64);
            builder
                .append_data(
                    &mut header,
                    OUTSIDE_DOCKERFILE,
                    dockerfile_file.text.as_bytes(),
                )
                .map_err(io_err(&outside))?;
            entries += 1;
            OUTSIDE_DOCKERFILE.to_string()
        }
    };
    let mut writer = builder
        .into_inner()
        .map_err(io_err(Path::new("context tarball")))?;
    writer.flush().map_err(io_err(file.path()))?;
    let sha256 = hex::encode(writer.hasher.finalize());
    Ok(PackedContext {
        size: writer.size,
        file,
        sha256,
        dockerfile: dockerfile_in_tar,
        entries,
    })
}

fn walk<W: Write>(
    root: &Path,
    rel_dir: &Path,
    ignore: &DockerIgnore,
    always: &[PathBuf],
    builder: &mut tar::Builder<W>,
    entries: &mut usize,
) -> Result<(), ContextError> {
    let dir = root.join(rel_dir);
    let mut children: Vec<_> = fs::read_dir(&dir)
        .map_err(io_err(&dir))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_err(&dir))?;
    children.sort();
    for name in children {
        let rel = rel_dir.join(&name);
        let full = root.join(&rel);
        let meta = fs::symlink_metadata(&full).map_err(io_err(&full))?;
        let excluded = ignore.is_excluded(&rel) && !always.contains(&rel);
        if meta.is_dir() {
            if !excluded {
                append(builder, &full, &rel, &meta)?;
                *entries += 1;
            }
            let always_below = always.iter().any(|a| a.starts_with(&rel));
            if !excluded || ignore.may_contain_included(&rel) || always_below {
                walk(root, &rel, ignore, always, builder, entries)?;
            }
        } else if !excluded && (meta.is_file() || meta.file_type().is_symlink()) {
            append(builder, &full, &rel, &meta)?;
            *entries += 1;
        } else if !excluded {
            tracing::debug!(path = %full.display(), "special file left out of the context");
        }
    }
    Ok(())
}

fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    full: &Path,
    rel: &Path,
    meta: &fs::Metadata,
) -> Result<(), ContextError> {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    header.set_uid(0);
    header.set_gid(0);
    let _ = header.set_username("");
    let _ = header.set_groupname("");
    let name = slash_path(rel);
    if meta.is_dir() {
        header.set_size(0);
        builder
            .append_data(&mut header, format!("{name}/"), io::empty())
            .map_err(io_err(full))
    } else if meta.file_type().is_symlink() {
        let target = fs::read_link(full).map_err(io_err(full))?;
        header.set_size(0);
        builder
            .append_link(&mut header, &name, &target)
            .map_err(io_err(full))
    } else {
        let mut source = fs::File::open(full).map_err(io_err(full))?;
        builder
            .append_data(&mut header, &name, &mut source)
            .map_err(io_err(full))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, content) in files {
            let full = root.join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, content).unwrap();
        }
    }

    fn names(packed: &PackedContext) -> Vec<String> {
        let mut archive = tar::Archive::new(fs::File::open(packed.file.path()).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn dockerignore_is_honoured_and_the_order_is_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        write(
            &ctx,
            &[
                ("Dockerfile", "FROM scratch\n"),
                (
                    ".dockerignore",
                    "*.log\nbuild\n!build/keep.txt\nDockerfile\n",
                ),
                ("b.txt", "b"),
                ("a.txt", "a"),
                ("debug.log", "x"),
                ("build/out.o", "o"),
                ("build/keep.txt", "k"),
                ("src/z.rs", "z"),
                ("src/a.rs", "a"),
            ],
        );
        let packed = pack(&ctx, None, None).unwrap();
        assert_eq!(
            names(&packed),
            vec![
                ".dockerignore",
                "Dockerfile",
                "a.txt",
                "b.txt",
                "build/keep.txt",
                "src/",
                "src/a.rs",
                "src/z.rs",
            ]
        );
        assert_eq!(packed.dockerfile, "Dockerfile");
        assert_eq!(packed.size, fs::metadata(packed.file.path()).unwrap().len());
        let bytes = fs::read(packed.file.path()).unwrap();
        assert_eq!(packed.sha256, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn packing_twice_gives_the_same_digest_and_mtimes_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        write(&ctx, &[("Dockerfile", "FROM scratch\n"), ("f", "1")]);
        let when = filetime::FileTime::from_unix_time(1_600_000_000, 0);
        filetime::set_file_mtime(ctx.join("f"), when).unwrap();
        let (a, b) = (
            pack(&ctx, None, None).unwrap(),
            pack(&ctx, None, None).unwrap(),
        );
        assert_eq!(a.sha256, b.sha256);
        let mut archive = tar::Archive::new(fs::File::open(a.file.path()).unwrap());
        let mtime = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap() == Path::new("f"))
            .unwrap()
            .header()
            .mtime()
            .unwrap();
        assert_eq!(mtime, 1_600_000_000);

        fs::write(ctx.join("f"), "2").unwrap();
        assert_ne!(pack(&ctx, None, None).unwrap().sha256, a.sha256);
    }

    #[test]
    fn a_dockerfile_outside_the_context_travels_inside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        write(&ctx, &[("app.txt", "x")]);
        write(tmp.path(), &[("other/Dockerfile.dev", "FROM scratch\n")]);
        let packed = pack(&ctx, Some(&tmp.path().join("other/Dockerfile.dev")), None).unwrap();
        assert_eq!(packed.dockerfile, OUTSIDE_DOCKERFILE);
        assert_eq!(names(&packed), vec!["app.txt", OUTSIDE_DOCKERFILE]);
    }

    #[test]
    fn links_in_the_context_never_lead_the_dockerfile_or_ignore_file_out() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        write(
            &ctx,
            &[("docker/Dockerfile.prod", "FROM scratch\n"), ("a.log", "a")],
        );
        write(tmp.path(), &[("host", "LEAKED[\n")]);
        std::os::unix::fs::symlink("docker/Dockerfile.prod", ctx.join("Dockerfile")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("host"), ctx.join(".dockerignore")).unwrap();
        // A link inside the context names the file it reaches; the ignore file that links
        // out is not there (nothing is excluded).
        let packed = pack(&ctx, None, None).unwrap();
        assert_eq!(packed.dockerfile, "docker/Dockerfile.prod");
        assert!(names(&packed).contains(&"a.log".to_string()));
        std::fs::remove_file(ctx.join("Dockerfile")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("host"), ctx.join("Dockerfile")).unwrap();
        let err = pack(&ctx, None, None).unwrap_err().to_string();
        assert!(
            err.starts_with("dockerfile \"Dockerfile\" is not in the build context")
                && !err.contains("LEAKED"),
            "{err}"
        );
        // Named on the command line outside the context: read as given.
        let packed = pack(&ctx, Some(&tmp.path().join("host")), None).unwrap();
        assert_eq!(packed.dockerfile, OUTSIDE_DOCKERFILE);
    }

    #[test]
    fn missing_inputs_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let err = pack(&tmp.path().join("nope"), None, None).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = pack(tmp.path(), None, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("dockerfile \"Dockerfile\" is not in the build context"),
            "{err}"
        );
    }
}
