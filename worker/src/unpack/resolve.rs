// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Path containment, the way `filepath-securejoin` does it: a path taken from a tar entry (or
//! a Dockerfile) is cleaned lexically so that it cannot climb above the root, and each of its
//! parent components is resolved as if the root were `/`: a symlink's absolute target starts
//! again at the root, `..` stops at the root, and at most [`MAX_SYMLINKS`] links are followed.
//! The same resolution works on a real directory ([`resolve_on_disk`]) and on an in-memory
//! file index (any `readlink` closure), so `unpack`, `archive` and `fsindex` agree.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed while resolving one path before giving up (Linux's own limit).
pub const MAX_SYMLINKS: u32 = 40;

/// The path relative to the root that `path` names, cleaned lexically: leading `/` and `.`
/// components dropped, `..` pops the previous component and stops at the root. The empty
/// path is the root itself.
pub fn clean(path: &Path) -> PathBuf {
    let mut parts: Vec<OsString> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => parts.push(name.to_os_string()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    parts.iter().collect()
}

/// The components of a path still to resolve, one at a time, with a followed link's target
/// queued in front of what is left; counts the links followed. The one component walk behind
/// [`resolve_with`] and the descriptor walk of [`super::root`].
pub(crate) struct Pending {
    parts: VecDeque<OsString>,
    links: u32,
}

/// A component [`Pending::pop`] hands out (`.` and empty ones are skipped).
pub(crate) enum Part {
    /// `..`: back one directory (never above the root).
    Parent,
    /// A name to look up.
    Name(OsString),
}

/// More than [`MAX_SYMLINKS`] links were followed for one path.
pub(crate) struct TooManyLinks;

impl Pending {
    /// The components of `path`, as they are.
    pub(crate) fn new(path: &Path) -> Pending {
        Pending {
            parts: path
                .components()
                .map(|c| c.as_os_str().to_os_string())
                .collect(),
            links: 0,
        }
    }

    /// Whether nothing is left (the component just handed out was the last).
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Puts `name` back in front, to be handed out again.
    pub(crate) fn retry(&mut self, name: OsString) {
        self.parts.push_front(name);
    }

    /// Queues the symlink `target`'s components in front of what is left (whether it starts
    /// again at the root is the caller's: `target.has_root()`).
    pub(crate) fn follow(&mut self, target: &Path) -> Result<(), TooManyLinks> {
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(TooManyLinks);
        }
        let queued: Vec<OsString> = target
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect();
        // The original components still pending stay after the target's.
        for item in queued.into_iter().rev() {
            self.parts.push_front(item);
        }
        Ok(())
    }

    /// The next component to resolve, `None` when done.
    pub(crate) fn pop(&mut self) -> Option<Part> {
        loop {
            let part = self.parts.pop_front()?;
            if part == ".." {
                return Some(Part::Parent);
            }
            if part != "." && !part.is_empty() {
                return Some(Part::Name(part));
            }
        }
    }
}

/// Resolves `path` (relative to a root, any form) to the path relative to the root it names
/// once every symlink in it is followed inside the root. With `follow_final` false the last
/// component is kept as is (never followed), as when an entry is written. `readlink` returns
/// the target of a root-relative path when it is a symlink, `None` when it is not (or does not
/// exist). More than [`MAX_SYMLINKS`] links is an error naming the path.
pub fn resolve_with<F>(path: &Path, follow_final: bool, mut readlink: F) -> io::Result<PathBuf>
where
    F: FnMut(&Path) -> io::Result<Option<PathBuf>>,
{
    let mut current = PathBuf::new();
    let mut pending = Pending::new(&clean(path));
    // A link's target is queued in front of what is left, so the last queued component is the
    // path's own final one until it is popped; with `follow_final` false it is never replaced.
    while let Some(part) = pending.pop() {
        let Part::Name(part) = part else {
            current.pop(); // `..`
            continue;
        };
        let candidate = current.join(&part);
        if pending.is_empty() && !follow_final {
            current = candidate;
            break;
        }
        match readlink(&candidate)? {
            Some(target) => {
                if pending.follow(&target).is_err() {
                    return Err(io::Error::other(format!(
                        "{}: more than {MAX_SYMLINKS} symlinks",
                        path.display()
                    )));
                }
                if target.has_root() {
                    current = PathBuf::new();
                }
            }
            None => current = candidate,
        }
    }
    Ok(current)
}

/// [`resolve_with`] on the real directory `root`: returns the root-relative path.
pub fn resolve_on_disk(root: &Path, path: &Path, follow_final: bool) -> io::Result<PathBuf> {
    resolve_with(path, follow_final, |rel| {
        let full = root.join(rel);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(&full).map(Some),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", full.display()))),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn clean_never_climbs_above_the_root() {
        fn check(input: &str, expected: &str) {
            assert_eq!(clean(Path::new(input)), PathBuf::from(expected), "{input}");
        }
        check("/etc/passwd", "etc/passwd");
        check("./a/./b/", "a/b");
        check("../../etc/x", "etc/x");
        check("a/../../b", "b");
        check("a/b/..", "a");
        check("/", "");
        check("..", "");
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let links: HashMap<&str, &str> = [
            ("a", "/"),
            ("up", "../../.."),
            ("etc", "/real/etc"),
            ("loop", "loop"),
            ("rel", "sub/dir"),
        ]
        .into_iter()
        .collect();
        let readlink = |p: &Path| -> io::Result<Option<PathBuf>> {
            Ok(p.to_str()
                .and_then(|s| links.get(s))
                .map(|t| PathBuf::from(*t)))
        };
        fn check(
            readlink: &dyn Fn(&Path) -> io::Result<Option<PathBuf>>,
            input: &str,
            follow: bool,
            expected: Option<&str>,
        ) {
            let got = resolve_with(Path::new(input), follow, readlink).ok();
            assert_eq!(got, expected.map(PathBuf::from), "{input} follow={follow}");
        }
        check(&readlink, "a/etc/x", false, Some("real/etc/x"));
        check(&readlink, "a/usr/x", false, Some("usr/x"));
        check(&readlink, "up/x", false, Some("x"));
        check(&readlink, "etc/passwd", false, Some("real/etc/passwd"));
        check(&readlink, "etc", false, Some("etc"));
        check(&readlink, "etc", true, Some("real/etc"));
        check(&readlink, "rel/x", false, Some("sub/dir/x"));
        check(&readlink, "loop/x", false, None);
        check(&readlink, "a/a/a/up/../x", false, Some("x"));
    }
}
