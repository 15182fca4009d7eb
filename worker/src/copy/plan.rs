// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! COPY and ADD: which files go where, and the one layer holding exactly them.
//!
//! Planning ([`plan_copy`]) follows BuildKit's destination rules: a relative destination is
//! joined to WORKDIR; a destination ending in `/` (or `.`), several sources, or an existing
//! directory in the image make the destination a directory; a directory source copies its
//! *contents*; a single file to a non-directory destination is written at that path. Sources
//! come from a root directory on disk (the build context after `.dockerignore`, or a stage's
//! or image's filesystem for `--from`) or from heredocs. Ownership is `0:0` for context
//! sources, kept for `--from` sources, and `--chown` wins over both; `--chmod` applies to
//! files and directories copied (not to symlinks) as BuildKit does. Missing parent
//! directories are created `0755` with the copy's owner and put in the layer; parents the
//! image already has are put in the layer with their existing metadata (when it is known).
//! Symlinks are copied as symlinks; files that share an inode within one COPY stay hard
//! links.
//!
//! Writing ([`write_layer`]) streams every entry into a [`LayerWriter`] (files are read while
//! being compressed, never held in memory).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Cursor, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kaniko_image::layer::{EntryKind, LayerEntry, LayerInfo, LayerWriter};

use crate::dockerignore::DockerIgnore;
use crate::unpack::RootEntry;

/// What the image already has at a path, as far as the executor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// A directory (symlinks followed) with this mode and owner.
    Dir {
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u64,
        /// Group.
        gid: u64,
    },
    /// Something that is not a directory.
    NotDir,
    /// Nothing.
    Missing,
    /// The executor does not know (the base filesystem was not indexed).
    Unknown,
}

/// Answers what the image has at an absolute path.
pub trait PathInfo {
    /// What is at `path` (absolute, clean).
    fn known(&self, path: &str) -> Known;

    /// `path` (absolute, clean) with every symlink on it followed inside the image, the last
    /// component too, as BuildKit resolves a COPY destination; an error names a loop. Paths
    /// through links the executor does not know stay as they are.
    fn resolve(&self, path: &str) -> Result<String, String> {
        Ok(path.to_string())
    }
}

/// Why a COPY or ADD cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A file of the source tree could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The destination cannot be resolved inside the image (a symlink loop).
    #[error("destination {dest}: {reason}")]
    DestUnresolvable {
        /// The destination as written (absolute).
        dest: String,
        /// Why.
        reason: String,
    },
    /// Several sources or a directory destination that exists as a file.
    #[error(
        "destination {dest} must be a directory (it ends with / or has several sources) but is a file in the image"
    )]
    DestNotDir {
        /// The destination.
        dest: String,
    },
}

/// Where an entry's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// No bytes (directories, symlinks, hard links, empty files).
    None,
    /// A file on disk.
    Disk(PathBuf),
    /// Inline bytes (a heredoc).
    Inline(Vec<u8>),
}

/// One entry of a planned layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The tar entry (path relative to `/`).
    pub entry: LayerEntry,
    /// Its content.
    pub content: Content,
}

/// The flags of one COPY/ADD that shape its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// `--chown` resolved: `(uid, gid)`.
    pub chown: Option<(u64, u64)>,
    /// `--chmod`.
    pub chmod: Option<u32>,
    /// Keep the source's ownership (`COPY --from`) instead of `0:0`.
    pub keep_owner: bool,
    /// The destination directory's mode and owner (an `ADD`ed archive's `./` entry) instead
    /// of the image's or the default; `--chown` still wins.
    pub dest_dir: Option<RootEntry>,
}

/// A source of one COPY: a path on disk (relative to its root) or an inline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path below `root`; the empty path is the root itself.
    Path {
        /// The source tree root (the context, or a stage's filesystem).
        root: PathBuf,
        /// The path below it.
        rel: PathBuf,
    },
    /// A heredoc file.
    Inline {
        /// Its name.
        name: String,
        /// Its content.
        content: Vec<u8>,
    },
}

/// The absolute destination of a COPY: `dest` joined to `workdir` when relative, cleaned;
/// plus whether the text itself says "directory" (trailing `/`, `.` or `..` as last part).
pub fn destination(workdir: &str, dest: &str) -> (String, bool) {
    let says_dir = dest.ends_with('/')
        || dest == "."
        || dest.ends_with("/.")
        || dest == ".."
        || dest.ends_with("/..");
    let abs = if dest.starts_with('/') {
        crate::instructions::clean_absolute(dest)
    } else {
        crate::instructions::workdir(workdir, dest)
    };
    (abs, says_dir)
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
    move |source| CopyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

struct Planner<'a> {
    opts: &'a CopyOptions,
    ignore: Option<&'a DockerIgnore>,
    out: BTreeMap<String, Planned>,
    /// (device, inode) of multiply-linked files → the first destination written for it.
    inodes: HashMap<(u64, u64), String>,
}

impl Planner<'_> {
    fn owner(&self, md: Option<&fs::Metadata>) -> (u64, u64) {
        if let Some(owner) = self.opts.chown {
            return owner;
        }
        match md {
            Some(md) if self.opts.keep_owner => (u64::from(md.uid()), u64::from(md.gid())),
            _ => (0, 0),
        }
    }

    fn mode(&self, kind: &EntryKind, disk_mode: u32) -> u32 {
        match (kind, self.opts.chmod) {
            (EntryKind::Symlink { .. }, _) => 0o777,
            (_, Some(mode)) => mode,
            _ => disk_mode & 0o7777,
        }
    }

    /// Plans `root/rel` at `dest` (absolute), descending into directories.
    fn add_disk(&mut self, root: &Path, rel: &Path, dest: &str) -> Result<(), CopyError> {
        let full = if rel.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        let md = fs::symlink_metadata(&full).map_err(io_err(&full))?;
        let ft = md.file_type();
        let (kind, content) = if ft.is_dir() {
            (EntryKind::Dir, Content::None)
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(io_err(&full))?;
            (EntryKind::Symlink { target }, Content::None)
        } else if ft.is_file() {
            let inode = (md.dev(), md.ino());
            match self.inodes.get(&inode) {
                Some(first) if md.nlink() > 1 && first != dest => (
                    EntryKind::Hardlink {
                        target: PathBuf::from(first.trim_start_matches('/')),
                    },
                    Content::None,
                ),
                _ => {
                    if md.nlink() > 1 {
                        self.inodes.insert(inode, dest.to_string());
                    }
                    (
                        EntryKind::File { size: md.len() },
                        Content::Disk(full.clone()),
                    )
                }
            }
        } else {
            tracing::warn!(path = %full.display(), "skipping a special file in a COPY source");
            return Ok(());
        };
        let (uid, gid) = self.owner(Some(&md));
        let mode = self.mode(&kind, md.permissions().mode());
        let is_dir = matches!(kind, EntryKind::Dir);
        let entry = LayerEntry {
            mode,
            uid,
            gid,
            mtime: md.mtime(),
            ..LayerEntry::new(dest.trim_start_matches('/'), kind)
        };
        if dest != "/" {
            self.out
                .insert(dest.to_string(), Planned { entry, content });
        }
        if is_dir {
            self.add_children(root, rel, dest)?;
        }
        Ok(())
    }

    /// Plans the contents of directory `root/rel` into `dest`.
    fn add_children(&mut self, root: &Path, rel: &Path, dest: &str) -> Result<(), CopyError> {
        let dir = root.join(rel);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err(&dir))?;
        names.sort();
        for name in names {
            let child_rel = rel.join(&name);
            if let Some(ignore) = self.ignore {
                let is_dir = fs::symlink_metadata(root.join(&child_rel))
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                if ignore.is_excluded(&child_rel)
                    && !(is_dir && ignore.may_contain_included(&child_rel))
                {
                    continue;
                }
            }
            let child_dest = join(dest, &name.to_string_lossy());
            self.add_disk(root, &child_rel, &child_dest)?;
        }
        Ok(())
    }

    /// Plans an inline (heredoc) file at `dest`.
    fn add_inline(&mut self, dest: &str, content: &[u8]) {
        let (uid, gid) = self.owner(None);
        let entry = LayerEntry {
            mode: self.opts.chmod.unwrap_or(0o644),
            uid,
            gid,
            ..LayerEntry::new(
                dest.trim_start_matches('/'),
                EntryKind::File {
                    size: content.len() as u64,
                },
            )
        };
        self.out.insert(
            dest.to_string(),
            Planned {
                entry,
                content: Content::Inline(content.to_vec()),
            },
        );
    }
}

/// Plans one COPY: the entries of its layer, parents first. `dest` is as written;
/// `workdir` the stage's; `image` answers what exists already; `ignore` filters directory
/// walks of context sources (`None` for `--from` sources).
pub fn plan_copy(
    sources: &[Source],
    dest: &str,
    workdir: &str,
    opts: &CopyOptions,
    image: &dyn PathInfo,
    ignore: Option<&DockerIgnore>,
) -> Result<Vec<Planned>, CopyError> {
    let (written, says_dir) = destination(workdir, dest);
    // The destination is written through the symlinks on its way, never over them.
    let dest_abs = image
        .resolve(&written)
        .map_err(|reason| CopyError::DestUnresolvable {
            dest: written.clone(),
            reason,
        })?;
    let existing = image.known(&dest_abs);
    let single_file = sources.len() == 1
        && match sources.first() {
            Some(Source::Path { root, rel }) => !root.join(rel).is_dir(),
            Some(Source::Inline { .. }) => true,
            None => false,
        };
    let into_dir = says_dir || !single_file || matches!(existing, Known::Dir { .. });
    if into_dir && existing == Known::NotDir {
        return Err(CopyError::DestNotDir { dest: dest_abs });
    }
    let mut planner = Planner {
        opts,
        ignore,
        out: BTreeMap::new(),
        inodes: HashMap::new(),
    };
    for source in sources {
        match source {
            Source::Path { root, rel } => {
                // A symlink named as a source is followed, inside its root, as Docker and
                // BuildKit do; symlinks found inside a copied directory stay symlinks.
                let named = root.join(rel);
                let rel = &if fs::symlink_metadata(&named)
                    .map_err(io_err(&named))?
                    .file_type()
                    .is_symlink()
                {
                    crate::unpack::resolve::resolve_on_disk(root, rel, true)
                        .map_err(io_err(&named))?
                } else {
                    rel.clone()
                };
                let full = root.join(rel);
                let md = fs::symlink_metadata(&full).map_err(io_err(&full))?;
                if md.is_dir() {
                    // A directory's contents go into the destination directory.
                    planner.add_children(root, rel, &dest_abs)?;
                } else {
                    let name = named
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let target = if into_dir {
                        join(&dest_abs, &name)
                    } else {
                        dest_abs.clone()
                    };
                    planner.add_disk(root, rel, &target)?;
                }
            }
            Source::Inline { name, content } => {
                let target = if into_dir {
                    join(&dest_abs, name)
                } else {
                    dest_abs.clone()
                };
                planner.add_inline(&target, content);
            }
        }
    }
    // The destination directory and every missing parent of what is written.
    let (uid, gid) = planner.owner(None);
    let mut parents = BTreeMap::new();
    let mut dirs: Vec<String> = planner.out.keys().cloned().collect();
    if into_dir {
        dirs.push(join(&dest_abs, "x"));
    }
    for path in dirs {
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent {
            let text = p.to_string_lossy().into_owned();
            if text == "/" || planner.out.contains_key(&text) || parents.contains_key(&text) {
                break;
            }
            let given = opts.dest_dir.filter(|_| into_dir && text == dest_abs);
            let meta = match given {
                Some(root) => {
                    let (uid, gid) = opts.chown.unwrap_or((root.uid, root.gid));
                    Some((root.mode, uid, gid))
                }
                None => match image.known(&text) {
                    Known::Dir { mode, uid, gid } => Some((mode, uid, gid)),
                    Known::Missing => Some((0o755, uid, gid)),
                    Known::NotDir | Known::Unknown => None,
                },
            };
            if let Some((mode, uid, gid)) = meta {
                let entry = LayerEntry {
                    mode,
                    uid,
                    gid,
                    ..LayerEntry::new(text.trim_start_matches('/'), EntryKind::Dir)
                };
                parents.insert(
                    text.clone(),
                    Planned {
                        entry,
                        content: Content::None,
                    },
                );
            }
            parent = p.parent();
        }
    }
    planner.out.extend(parents);
    Ok(planner.out.into_values().collect())
}

/// The text of the planned file at `path` (absolute), when it is one of the entries and its
/// content is UTF-8: what the stage records of `/etc/passwd` and `/etc/group`.
pub fn content_text(planned: &[Planned], path: &str) -> Option<String> {
    planned
        .iter()
        .find(|p| format!("/{}", p.entry.path.display()) == path)
        .and_then(|p| match &p.content {
            Content::Disk(file) => std::fs::read_to_string(file).ok(),
            Content::Inline(bytes) => String::from_utf8(bytes.clone()).ok(),
            Content::None => None,
        })
}

/// Writes planned entries into `writer`, returning the layer's description.
pub fn write_layer<W: Write>(
    mut writer: LayerWriter<W>,
    entries: &[Planned],
) -> Result<(W, LayerInfo), CopyError> {
    for planned in entries {
        let path = PathBuf::from("/").join(&planned.entry.path);
        let result = match &planned.content {
            Content::None => writer.append(&planned.entry, None),
            Content::Inline(bytes) => writer.append(&planned.entry, Some(&mut Cursor::new(bytes))),
            Content::Disk(file) => {
                let mut f = File::open(file).map_err(io_err(file))?;
                writer.append(&planned.entry, Some(&mut f as &mut dyn Read))
            }
        };
        result.map_err(|source| CopyError::Io { path, source })?;
    }
    writer.finish().map_err(|source| CopyError::Io {
        path: PathBuf::from("layer"),
        source,
    })
}

#[cfg(test)]
mod tests;
