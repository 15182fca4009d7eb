// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The base image's filesystem without unpacking it: for a COPY-only stage (issue 3) the
//! executor needs to know what exists (is `/app` a directory? where does the `/lib` symlink
//! go?) and the content of `/etc/passwd` and `/etc/group` (for `--chown` names), not the
//! files themselves. [`FsIndex::from_layers`] streams each layer's tar reading headers only,
//! applying whiteouts and opaque directories as unpacking would, and keeps, per path, its
//! kind, mode, owner, size and link target; the content of a few small files (by default
//! `etc/passwd` and `etc/group`) is captured on the way. [`FsIndex::apply`] keeps the index
//! up to date as COPY writes new layers. Paths resolve like [`crate::unpack::resolve`]:
//! symlinks inside the image, never above its root.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use kaniko_image::layer::{EntryKind, LayerEntry};

use crate::blobs::BlobStore;
use crate::image::Layer;
use kaniko_image::whiteout::{self, Whiteout};

use crate::unpack::{UnpackError, clean, resolve_with};

/// Files whose content the index captures by default.
pub const DEFAULT_CAPTURED: [&str; 2] = ["etc/passwd", "etc/group"];
/// Largest file content captured.
pub const MAX_CAPTURED_SIZE: u64 = 4 * 1024 * 1024;

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symlink and its target, verbatim.
    Symlink(PathBuf),
    /// A hard link to another path of the image (root-relative).
    Hardlink(PathBuf),
    /// A device node or a fifo.
    Other,
}

/// One path of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Permission bits, setuid/setgid/sticky included.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Size of a file's content (0 otherwise).
    pub size: u64,
}

impl Node {
    fn dir() -> Self {
        Node {
            kind: NodeKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
        }
    }
}

/// The index of an image's filesystem. Paths are root-relative (`etc/passwd`); the root
/// itself is always a directory.
#[derive(Debug, Clone)]
pub struct FsIndex {
    nodes: BTreeMap<PathBuf, Node>,
    captured: BTreeMap<PathBuf, Vec<u8>>,
    capture: BTreeSet<PathBuf>,
}

impl Default for FsIndex {
    fn default() -> Self {
        FsIndex::new()
    }
}

/// Path, kind and attributes of one entry, from a tar header or a [`LayerEntry`].
struct Item {
    path: PathBuf,
    node: Node,
}

impl FsIndex {
    /// An empty filesystem (`scratch`), capturing [`DEFAULT_CAPTURED`].
    pub fn new() -> Self {
        FsIndex {
            nodes: BTreeMap::new(),
            captured: BTreeMap::new(),
            capture: DEFAULT_CAPTURED.iter().map(PathBuf::from).collect(),
        }
    }

    /// Streams `layers` (bottom first) through `blobs`, reading headers only (and the
    /// captured files' content).
    pub async fn from_layers(layers: &[Layer], blobs: &BlobStore) -> Result<Self, UnpackError> {
        let mut index = FsIndex::new();
        for layer in layers {
            let tar = blobs.open_tar(layer).await?;
            let digest = layer.descriptor.digest.clone();
            index = tokio::task::spawn_blocking(move || {
                let mut index = index;
                index.apply_tar(tar).map(|()| index)
            })
            .await
            .map_err(|e| UnpackError::Tar(io::Error::other(format!("layer {digest}: {e}"))))??;
        }
        Ok(index)
    }

    /// Applies one uncompressed layer tar: entries, whiteouts and opaque markers.
    pub fn apply_tar(&mut self, tar: impl Read) -> Result<(), UnpackError> {
        let mut layer = HashSet::new();
        let mut archive = tar::Archive::new(tar);
        for entry in archive.entries().map_err(UnpackError::Tar)? {
            let mut entry = entry.map_err(UnpackError::Tar)?;
            let raw = entry.path().map_err(UnpackError::Tar)?.into_owned();
            let header = entry.header();
            let kind = header.entry_type();
            let link = entry
                .link_name()
                .map_err(UnpackError::Tar)?
                .map(|l| l.into_owned());
            let header = entry.header();
            let node_kind = match kind {
                tar::EntryType::Directory => NodeKind::Dir,
                tar::EntryType::Symlink => NodeKind::Symlink(link.unwrap_or_default()),
                tar::EntryType::Link => NodeKind::Hardlink(clean(&link.unwrap_or_default())),
                k if k.is_file() || k == tar::EntryType::Continuous => NodeKind::File,
                _ => NodeKind::Other,
            };
            let node = Node {
                kind: node_kind,
                mode: header.mode().unwrap_or(0o644) & 0o7777,
                uid: header.uid().unwrap_or(0),
                gid: header.gid().unwrap_or(0),
                size: if kind.is_file() {
                    header.size().unwrap_or(0)
                } else {
                    0
                },
            };
            let item = Item { path: raw, node };
            let Some(rel) = self.add(item, &mut layer) else {
                continue;
            };
            if self.capture.contains(&rel)
                && kind.is_file()
                && entry.header().size().unwrap_or(0) <= MAX_CAPTURED_SIZE
            {
                let mut content = Vec::new();
                entry
                    .read_to_end(&mut content)
                    .map_err(|source| UnpackError::Entry {
                        path: rel.clone(),
                        source,
                    })?;
                self.captured.insert(rel, content);
            }
        }
        Ok(())
    }

    /// Applies the entries of a layer this build wrote (`.wh.` names are whiteouts, as in a
    /// layer tar). Content of captured files written this way is forgotten unless given with
    /// [`FsIndex::set_small_file`].
    pub fn apply(&mut self, entries: &[LayerEntry]) {
        let mut layer = HashSet::new();
        for entry in entries {
            let kind = match &entry.kind {
                EntryKind::File { .. } => NodeKind::File,
                EntryKind::Dir => NodeKind::Dir,
                EntryKind::Symlink { target } => NodeKind::Symlink(target.clone()),
                EntryKind::Hardlink { target } => NodeKind::Hardlink(clean(target)),
                _ => NodeKind::Other,
            };
            let size = match entry.kind {
                EntryKind::File { size } => size,
                _ => 0,
            };
            let item = Item {
                path: entry.path.clone(),
                node: Node {
                    kind,
                    mode: entry.mode & 0o7777,
                    uid: entry.uid,
                    gid: entry.gid,
                    size,
                },
            };
            self.add(item, &mut layer);
        }
    }

    /// Records the content of a small file the build wrote (e.g. a COPY of `/etc/passwd`).
    #[cfg(test)]
    pub fn set_small_file(&mut self, path: &Path, content: Vec<u8>) {
        self.captured.insert(clean(path), content);
    }

    /// Adds one entry (or applies a whiteout); returns the root-relative path written.
    fn add(&mut self, item: Item, layer: &mut HashSet<PathBuf>) -> Option<PathBuf> {
        let rel = clean(&item.path);
        let (parent, name) = (rel.parent()?, rel.file_name()?);
        let parent = self.resolve(parent, true).ok()?;
        let name_bytes = name.as_encoded_bytes();
        match whiteout::classify(name_bytes) {
            Some(Whiteout::Opaque) => {
                // What lower layers put below the directory goes; this layer's entries stay.
                self.remove_below(&parent, |p| layer.contains(p));
                return None;
            }
            Some(Whiteout::Meta) | Some(Whiteout::Hides(b"")) => return None,
            Some(Whiteout::Hides(hidden)) => {
                let hidden = parent.join(String::from_utf8_lossy(hidden).as_ref());
                if !layer.contains(&hidden) {
                    self.remove_tree(&hidden);
                }
                return None;
            }
            None => {}
        }
        let rel = parent.join(name);
        self.ensure_parents(&parent);
        let mut node = item.node;
        if let NodeKind::Hardlink(target) = &node.kind {
            let target = self
                .resolve(target, false)
                .unwrap_or_else(|_| target.clone());
            if let Some(linked) = self.nodes.get(&target) {
                node.size = linked.size;
            }
            if let Some(content) = self.captured.get(&target).cloned() {
                self.captured.insert(rel.clone(), content);
            }
            node.kind = NodeKind::Hardlink(target);
        }
        let replaces_dir = self
            .nodes
            .get(&rel)
            .is_some_and(|n| n.kind == NodeKind::Dir);
        if replaces_dir && node.kind != NodeKind::Dir {
            self.remove_tree(&rel);
        }
        self.captured.remove(&rel);
        self.nodes.insert(rel.clone(), node);
        layer.insert(rel.clone());
        Some(rel)
    }

    fn ensure_parents(&mut self, dir: &Path) {
        let mut current = PathBuf::new();
        for part in dir.components() {
            current.push(part);
            let is_dir = self
                .nodes
                .get(&current)
                .is_some_and(|n| n.kind == NodeKind::Dir);
            if !is_dir {
                self.nodes.insert(current.clone(), Node::dir());
            }
        }
    }

    /// Removes `path` and everything below it.
    fn remove_tree(&mut self, path: &Path) {
        self.nodes.remove(path);
        self.captured.remove(path);
        self.remove_below(path, |_| false);
    }

    /// Removes everything below `dir` for which `keep` is false.
    fn remove_below(&mut self, dir: &Path, keep: impl Fn(&Path) -> bool) {
        let below: Vec<PathBuf> = self
            .nodes
            .keys()
            .filter(|p| p.starts_with(dir) && p.as_path() != dir)
            .filter(|p| !keep(p))
            .cloned()
            .collect();
        for path in below {
            self.nodes.remove(&path);
            self.captured.remove(&path);
        }
    }

    /// The root-relative path `path` names once symlinks are followed inside the image (the
    /// final component only with `follow_final`). Errors after too many links.
    pub fn resolve(&self, path: &Path, follow_final: bool) -> io::Result<PathBuf> {
        resolve_with(path, follow_final, |rel| {
            Ok(match self.nodes.get(rel) {
                Some(Node {
                    kind: NodeKind::Symlink(target),
                    ..
                }) => Some(target.clone()),
                _ => None,
            })
        })
    }

    /// The entry at `path` (parents resolved, the final component not followed).
    pub fn get(&self, path: &Path) -> Option<&Node> {
        let rel = self.resolve(path, false).ok()?;
        self.nodes.get(&rel)
    }

    /// Whether `path` is a directory once symlinks are followed. The root is one.
    #[cfg(test)]
    pub fn is_dir(&self, path: &Path) -> bool {
        match self.resolve(path, true) {
            Ok(rel) if rel.as_os_str().is_empty() => true,
            Ok(rel) => self
                .nodes
                .get(&rel)
                .is_some_and(|n| n.kind == NodeKind::Dir),
            Err(_) => false,
        }
    }

    /// Whether anything exists at `path` (symlinks followed).
    #[cfg(test)]
    pub fn exists(&self, path: &Path) -> bool {
        match self.resolve(path, true) {
            Ok(rel) => rel.as_os_str().is_empty() || self.nodes.contains_key(&rel),
            Err(_) => false,
        }
    }

    /// The captured content of `path` (symlinks followed): `/etc/passwd`, `/etc/group` and
    /// whatever [`FsIndex::capture`] asked for.
    #[cfg(test)]
    pub fn read_small_file(&self, path: &Path) -> Option<&[u8]> {
        let rel = self.resolve(path, true).ok()?;
        self.captured.get(&rel).map(Vec::as_slice)
    }

    /// Number of paths indexed.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
}

pub mod persist;

#[cfg(test)]
mod tests;
