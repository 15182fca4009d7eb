// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A stage root seen as overlayfs would show it, without mounting anything: a [`Stack`] of
//! layer directories in overlay lower format (top first; a character device 0/0 is a
//! whiteout, `user.overlay.opaque=y` makes a directory hide what is below it), looked up
//! name by name as overlayfs does, symlinks resolved inside the stack (an absolute target
//! starts again at the stack's root, `..` stops there). [`RootView`] is what the RUN code
//! reads a stage root through: a plain directory, or a stack.

use std::collections::HashSet;
use std::ffi::{CString, OsString};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use crate::snapshot::Owned;
use crate::unpack::{self, OVERLAY_OPAQUE};

/// Layer directories, top first, read as one tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    layers: Vec<PathBuf>,
}

/// Whether an lstat result is an overlay whiteout.
fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether `path` (a directory) carries the overlay opaque marker.
fn is_opaque(path: &Path) -> bool {
    let (Ok(p), Ok(n)) = (
        CString::new(path.as_os_str().as_bytes()),
        CString::new(OVERLAY_OPAQUE),
    ) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: valid C strings and a buffer of the length passed.
    let len = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), 4) };
    len == 1 && buf[0] == b'y'
}

/// lstat that reads "missing" and "a file where a directory was expected" as absent.
fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            Ok(None)
        }
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

impl Stack {
    /// The stack of `layers`, top first.
    pub fn new(layers: Vec<PathBuf>) -> Stack {
        Stack { layers }
    }

    /// The layer directories, top first.
    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }

    /// The entry `rel` (root-relative, cleaned, not resolved) names in the merged tree: the
    /// path of its topmost copy and that copy's metadata; `None` when it is missing, hidden
    /// by a whiteout or an opaque directory, or below a non-directory. No symlink is
    /// followed.
    pub fn lookup(&self, rel: &Path) -> io::Result<Option<(PathBuf, Metadata)>> {
        let rel = unpack::clean(rel);
        let mut visible: Vec<&PathBuf> = self.layers.iter().collect();
        let mut found: Option<(PathBuf, Metadata)> = None;
        let mut prefix = PathBuf::new();
        let parts: Vec<Component<'_>> = rel.components().collect();
        if parts.is_empty() {
            let Some(top) = self.layers.first() else {
                return Ok(None);
            };
            return Ok(lstat(top)?.map(|m| (top.clone(), m)));
        }
        for part in parts {
            if found.as_ref().is_some_and(|(_, m)| !m.is_dir()) {
                return Ok(None);
            }
            prefix.push(part);
            found = None;
            let mut next = Vec::new();
            for layer in visible {
                let path = layer.join(&prefix);
                let Some(meta) = lstat(&path)? else {
                    continue;
                };
                if is_whiteout(&meta) {
                    break;
                }
                match &found {
                    None => {
                        let dir = meta.is_dir();
                        found = Some((path.clone(), meta));
                        if !dir {
                            break;
                        }
                    }
                    Some(_) if !meta.is_dir() => break,
                    Some(_) => {}
                }
                next.push(layer);
                if is_opaque(&path) {
                    break;
                }
            }
            if found.is_none() {
                return Ok(None);
            }
            visible = next;
        }
        Ok(found)
    }

    /// The target of `rel` when the merged tree has a symlink there.
    fn readlink(&self, rel: &Path) -> io::Result<Option<PathBuf>> {
        match self.lookup(rel)? {
            Some((path, meta)) if meta.file_type().is_symlink() => fs::read_link(path).map(Some),
            _ => Ok(None),
        }
    }

    /// `path` resolved inside the merged tree (see [`unpack::resolve_with`]).
    pub fn resolve(&self, path: &Path, follow_final: bool) -> io::Result<PathBuf> {
        unpack::resolve_with(path, follow_final, |rel| self.readlink(rel))
    }
}

impl Stack {
    /// Makes `dest` (an empty directory on the stack's filesystem) the merged tree as one
    /// directory, without copying any data: directories made with their layer's owner, mode,
    /// kept xattrs and mtime; every other entry (files, symlinks, devices) a hard link to its
    /// topmost copy; whiteouts and what they or opaque directories hide left out. What a
    /// reader of an earlier stage's filesystem (`COPY --from`, `RUN --mount=from`) needs,
    /// for the cost of one link per entry instead of an unpack. Fails with `EXDEV` when
    /// `dest` is on another filesystem than the store.
    pub fn link_into(&self, dest: &Path) -> io::Result<()> {
        self.link_some_into(dest, None)
    }

    /// [`Stack::link_into`] of only the entries of the root named in `only` and everything
    /// below them (`None`: all of them).
    pub fn link_some_into(&self, dest: &Path, only: Option<&HashSet<OsString>>) -> io::Result<()> {
        let Some(top) = self.layers.first() else {
            return Ok(());
        };
        let visible: Vec<&Path> = self.layers.iter().map(PathBuf::as_path).collect();
        link_dir(&visible, Path::new(""), dest, only)?;
        let meta = fs::symlink_metadata(top)?;
        set_dir_meta(top, dest, &meta)
    }

    /// The names of the root that reading `path` (root-relative, resolved inside the stack,
    /// its final symlink followed, as COPY reads a source) passes through: the first
    /// component of every path the resolution looks at, symlink targets included. Linking
    /// those names alone ([`Stack::link_some_into`]) resolves `path` to the same entry, with
    /// everything below it.
    pub fn root_names_read(&self, path: &Path) -> io::Result<HashSet<OsString>> {
        fn first(path: &Path) -> Option<OsString> {
            match path.components().next() {
                Some(Component::Normal(name)) => Some(name.to_os_string()),
                _ => None,
            }
        }
        let mut names = HashSet::new();
        let resolved = unpack::resolve_with(path, true, |rel| {
            names.extend(first(rel));
            self.readlink(rel)
        })?;
        names.extend(first(&resolved));
        Ok(names)
    }
}

/// Links the merged directory `rel` of the layers `visible` (top first, each holding `rel`
/// as a directory, opaque ones last) into `dest.join(rel)`.
/// Only the names in `only` when given.
fn link_dir(
    visible: &[&Path],
    rel: &Path,
    dest: &Path,
    only: Option<&HashSet<OsString>>,
) -> io::Result<()> {
    let mut seen = HashSet::new();
    for (at, layer) in visible.iter().enumerate() {
        let dir = layer.join(rel);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
        };
        for entry in entries {
            let name = entry?.file_name();
            if only.is_some_and(|only| !only.contains(&name)) || !seen.insert(name.clone()) {
                continue;
            }
            let child = rel.join(&name);
            let source = layer.join(&child);
            let target = dest.join(&child);
            let meta = fs::symlink_metadata(&source)?;
            if is_whiteout(&meta) {
                continue;
            }
            if !meta.is_dir() {
                fs::hard_link(&source, &target).map_err(|e| {
                    io::Error::new(e.kind(), format!("linking {}: {e}", source.display()))
                })?;
                continue;
            }
            // The layers below that merge into this directory.
            let mut below: Vec<&Path> = vec![*layer];
            if !is_opaque(&source) {
                for lower in visible.iter().skip(at + 1) {
                    let path = lower.join(&child);
                    match lstat(&path)? {
                        None => continue,
                        Some(m) if !m.is_dir() => break,
                        Some(_) => below.push(*lower),
                    }
                    if is_opaque(&path) {
                        break;
                    }
                }
            }
            fs::create_dir(&target)?;
            link_dir(&below, &child, dest, None)?;
            set_dir_meta(&source, &target, &meta)?;
        }
    }
    Ok(())
}

/// Gives the directory `target` the owner, mode, kept xattrs and mtime of `source`.
fn set_dir_meta(source: &Path, target: &Path, meta: &Metadata) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::lchown(target, Some(meta.uid()), Some(meta.gid()))?;
    fs::set_permissions(target, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    for (name, value) in kaniko_image::layer::read_xattrs(source) {
        unpack::set_xattr(target, name.as_bytes(), &value)?;
    }
    let times = fs::FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    fs::File::open(target)?.set_times(times)
}

/// A stage root as the RUN code reads it: a directory, or a stack of store layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootView {
    /// A plain directory.
    Dir(PathBuf),
    /// Layer directories in overlay lower format.
    Stack(Stack),
}

impl RootView {
    /// `path` (absolute or relative, inside the root) resolved inside the root, root-relative.
    pub fn resolve(&self, path: &Path, follow_final: bool) -> io::Result<PathBuf> {
        match self {
            RootView::Dir(dir) => unpack::resolve_on_disk(dir, path, follow_final),
            RootView::Stack(stack) => stack.resolve(path, follow_final),
        }
    }

    /// The metadata of the root-relative, resolved `rel` (not following a final symlink);
    /// `None` when it is not there.
    pub fn metadata(&self, rel: &Path) -> Option<Metadata> {
        match self {
            RootView::Dir(dir) => fs::symlink_metadata(dir.join(rel)).ok(),
            RootView::Stack(stack) => stack.lookup(rel).ok().flatten().map(|(_, m)| m),
        }
    }

    /// A path's mode (type bits included), uid and gid.
    pub fn owned(&self, rel: &Path) -> Option<Owned> {
        self.metadata(rel).map(|m| (m.mode(), m.uid(), m.gid()))
    }

    /// A small (at most 1 MiB) regular file of the root, resolved inside it, as text.
    pub fn read_small(&self, path: &str) -> Option<String> {
        let rel = self.resolve(Path::new(path), true).ok()?;
        let full = match self {
            RootView::Dir(dir) => dir.join(&rel),
            RootView::Stack(stack) => stack.lookup(&rel).ok()??.0,
        };
        let meta = fs::symlink_metadata(&full).ok()?;
        if !meta.is_file() || meta.len() > 1 << 20 {
            return None;
        }
        let bytes = fs::read(full).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// What the unpacker's tests check layer directories with.
#[cfg(test)]
pub(crate) mod tests_support {
    /// Whether `path` carries the overlay opaque marker.
    pub(crate) fn is_opaque(path: &std::path::Path) -> bool {
        super::is_opaque(path)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn whiteout(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string.
        let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) };
        assert_eq!(
            rc,
            0,
            "mknod {}: {}",
            path.display(),
            io::Error::last_os_error()
        );
    }

    fn opaque(path: &Path) {
        crate::unpack::set_xattr(path, OVERLAY_OPAQUE, b"y").unwrap();
    }

    /// Three layers: bottom, middle, top (returned top first).
    fn layers(tmp: &Path) -> Vec<PathBuf> {
        let [top, mid, bottom] = ["top", "mid", "bottom"].map(|n| tmp.join(n));
        for dir in [&top, &mid, &bottom] {
            fs::create_dir(dir).unwrap();
        }
        fs::create_dir_all(bottom.join("etc")).unwrap();
        fs::write(bottom.join("etc/passwd"), "bottom").unwrap();
        fs::write(bottom.join("etc/group"), "group").unwrap();
        fs::write(bottom.join("gone"), "x").unwrap();
        fs::create_dir_all(bottom.join("opq/old")).unwrap();
        fs::write(bottom.join("opq/kept-below"), "x").unwrap();
        fs::create_dir(bottom.join("real")).unwrap();
        fs::write(bottom.join("real/file"), "real").unwrap();
        fs::create_dir(bottom.join("file-then-dir")).unwrap();
        fs::write(bottom.join("file-then-dir/child"), "x").unwrap();
        // middle: passwd replaced, `gone` whited out, `opq` opaque with a new child
        fs::create_dir(mid.join("etc")).unwrap();
        fs::write(mid.join("etc/passwd"), "middle").unwrap();
        whiteout(&mid.join("gone"));
        fs::create_dir(mid.join("opq")).unwrap();
        opaque(&mid.join("opq"));
        fs::write(mid.join("opq/new"), "x").unwrap();
        symlink("/real", mid.join("link")).unwrap();
        symlink("../../../../real/file", mid.join("escape")).unwrap();
        fs::write(mid.join("file-then-dir"), "now a file").unwrap();
        // top: a symlink chain across layers
        symlink("link/file", top.join("via")).unwrap();
        vec![top, mid, bottom]
    }

    #[test]
    fn lookup_follows_overlay_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let view = RootView::Stack(Stack::new(layers(tmp.path())));
        let read = |p: &str| view.read_small(p);
        assert_eq!(
            read("/etc/passwd").as_deref(),
            Some("middle"),
            "top copy wins"
        );
        assert_eq!(read("/etc/group").as_deref(), Some("group"), "dirs merge");
        assert_eq!(read("/gone"), None, "a whiteout hides a lower file");
        assert!(view.metadata(Path::new("gone")).is_none());
        assert!(view.metadata(Path::new("opq/new")).is_some());
        assert!(
            view.metadata(Path::new("opq/old")).is_none(),
            "an opaque dir hides lower children"
        );
        assert!(view.metadata(Path::new("opq/kept-below")).is_none());
        assert!(
            view.metadata(Path::new("file-then-dir/child")).is_none(),
            "a file hides a lower directory's children"
        );
        assert_eq!(read("/file-then-dir").as_deref(), Some("now a file"));
        assert!(view.metadata(Path::new("missing/x")).is_none());
    }

    #[test]
    fn symlinks_resolve_across_layers_and_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let view = RootView::Stack(Stack::new(layers(tmp.path())));
        assert_eq!(
            view.resolve(Path::new("/via"), true).unwrap(),
            PathBuf::from("real/file")
        );
        assert_eq!(view.read_small("/via").as_deref(), Some("real"));
        assert_eq!(
            view.resolve(Path::new("/escape"), true).unwrap(),
            PathBuf::from("real/file"),
            "`..` stops at the stack's root"
        );
        assert_eq!(
            view.resolve(Path::new("/../../etc/passwd"), true).unwrap(),
            PathBuf::from("etc/passwd")
        );
        assert_eq!(
            view.resolve(Path::new("/via"), false).unwrap(),
            PathBuf::from("via")
        );
    }

    #[test]
    fn only_the_names_a_source_reads_are_linked() {
        let tmp = tempfile::tempdir().unwrap();
        let stack = Stack::new(layers(tmp.path()));
        let names = |p: &str| {
            let mut names: Vec<String> = stack
                .root_names_read(Path::new(p))
                .unwrap()
                .into_iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        // `via` -> `link/file`, `link` -> `/real`: three names of the root.
        assert_eq!(names("/via"), ["link", "real", "via"]);
        assert_eq!(names("etc/passwd"), ["etc"]);
        assert_eq!(names("/escape"), ["escape", "real"]);
        assert_eq!(names("missing/x"), ["missing"]);
        let dest = tmp.path().join("some");
        fs::create_dir(&dest).unwrap();
        let only: HashSet<OsString> = stack.root_names_read(Path::new("/via")).unwrap();
        stack.link_some_into(&dest, Some(&only)).unwrap();
        let resolved = unpack::resolve_on_disk(&dest, Path::new("/via"), true).unwrap();
        assert_eq!(
            resolved,
            PathBuf::from("real/file"),
            "resolved as in the whole tree"
        );
        assert_eq!(fs::read_to_string(dest.join(resolved)).unwrap(), "real");
        let mut linked: Vec<String> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        linked.sort();
        assert_eq!(linked, ["link", "real", "via"], "nothing else is linked");
    }

    #[test]
    fn link_into_makes_the_merged_tree_of_hard_links() {
        let tmp = tempfile::tempdir().unwrap();
        let layers = layers(tmp.path());
        let mid = layers[1].clone();
        fs::set_permissions(
            mid.join("opq"),
            std::os::unix::fs::PermissionsExt::from_mode(0o750),
        )
        .unwrap();
        let dest = tmp.path().join("merged");
        fs::create_dir(&dest).unwrap();
        Stack::new(layers).link_into(&dest).unwrap();
        let read = |p: &str| fs::read_to_string(dest.join(p)).ok();
        assert_eq!(
            read("etc/passwd").as_deref(),
            Some("middle"),
            "top copy wins"
        );
        assert_eq!(read("etc/group").as_deref(), Some("group"), "dirs merge");
        assert_eq!(read("gone"), None, "a whiteout hides a lower file");
        assert!(!dest.join("gone").exists());
        assert_eq!(read("opq/new").as_deref(), Some("x"));
        assert!(
            !dest.join("opq/old").exists(),
            "opaque hides lower children"
        );
        assert!(!dest.join("opq/kept-below").exists());
        assert_eq!(read("file-then-dir").as_deref(), Some("now a file"));
        assert_eq!(
            fs::read_link(dest.join("via")).unwrap(),
            Path::new("link/file")
        );
        assert_eq!(
            fs::read_link(dest.join("link")).unwrap(),
            Path::new("/real")
        );
        let opq = fs::metadata(dest.join("opq")).unwrap();
        assert_eq!(opq.mode() & 0o7777, 0o750, "a directory keeps its mode");
        assert!(
            !is_opaque(&dest.join("opq")),
            "no overlay marker in the merged tree"
        );
        let linked = fs::metadata(dest.join("etc/passwd")).unwrap();
        let stored = fs::metadata(mid.join("etc/passwd")).unwrap();
        assert_eq!(linked.ino(), stored.ino(), "a hard link, not a copy");
    }

    #[test]
    fn a_directory_view_reads_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("etc")).unwrap();
        fs::write(tmp.path().join("etc/passwd"), "flat").unwrap();
        let view = RootView::Dir(tmp.path().to_path_buf());
        assert_eq!(view.read_small("/etc/passwd").as_deref(), Some("flat"));
        assert!(view.owned(Path::new("etc")).is_some());
    }
}
