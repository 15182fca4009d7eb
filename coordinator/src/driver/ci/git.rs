// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The standard index annotations a git checkout gives: `org.opencontainers.image.source`
//! (the `origin` remote's URL, credentials stripped) and `org.opencontainers.image.revision`
//! (the `HEAD` commit). `.git` is read directly first (no process, and none of the hooks a
//! `git` in an untrusted checkout could run); `git` is asked only when the direct read cannot
//! resolve something (e.g. a ref format it does not know). Not a checkout, or no `origin`:
//! those annotations are simply absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `org.opencontainers.image.source`.
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
/// `org.opencontainers.image.revision`.
pub const ANNOTATION_REVISION: &str = "org.opencontainers.image.revision";

/// The standard annotations of the checkout `context` is in (empty when it is none).
pub fn standard_annotations(context: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let context = std::fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
    let Some(dirs) = GitDirs::find(&context) else {
        return out;
    };
    let revision = dirs
        .head_commit()
        .or_else(|| git(&context, &["rev-parse", "--verify", "HEAD"]));
    if let Some(revision) = revision {
        out.insert(ANNOTATION_REVISION.to_string(), revision);
    }
    let url = dirs
        .origin_url()
        .or_else(|| git(&context, &["config", "--get", "remote.origin.url"]));
    if let Some(url) = url {
        out.insert(ANNOTATION_SOURCE.to_string(), strip_credentials(&url));
    }
    out
}

/// A URL without its user-info: `https://user:token@host/x` → `https://host/x`. scp-like
/// addresses (`git@host:org/repo.git`) carry no secret and are kept.
pub fn strip_credentials(url: &str) -> String {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_string(),
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The git directory of a checkout (`.git`, or where a `.git` file points for worktrees and
/// submodules) and the common directory holding config and shared refs.
struct GitDirs {
    git_dir: PathBuf,
    common_dir: PathBuf,
}

impl GitDirs {
    /// The checkout `start` is in, looking upwards.
    fn find(start: &Path) -> Option<GitDirs> {
        let mut dir = Some(start);
        while let Some(current) = dir {
            let dot_git = current.join(".git");
            if dot_git.is_dir() {
                return Some(GitDirs::at(dot_git));
            }
            if dot_git.is_file() {
                let text = std::fs::read_to_string(&dot_git).ok()?;
                let target = text.trim().strip_prefix("gitdir:")?.trim();
                return Some(GitDirs::at(current.join(target)));
            }
            dir = current.parent();
        }
        None
    }

    fn at(git_dir: PathBuf) -> GitDirs {
        let common_dir = std::fs::read_to_string(git_dir.join("commondir"))
            .map(|c| git_dir.join(c.trim()))
            .unwrap_or_else(|_| git_dir.clone());
        GitDirs {
            git_dir,
            common_dir,
        }
    }

    /// The commit `HEAD` names, following one symbolic ref (loose, then packed).
    fn head_commit(&self) -> Option<String> {
        let head = std::fs::read_to_string(self.git_dir.join("HEAD")).ok()?;
        let head = head.trim();
        let Some(name) = head.strip_prefix("ref:").map(str::trim) else {
            return is_object_id(head).then(|| head.to_string());
        };
        if name.contains("..") {
            return None;
        }
        for dir in [&self.git_dir, &self.common_dir] {
            if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                let id = text.trim();
                return is_object_id(id).then(|| id.to_string());
            }
        }
        let packed = std::fs::read_to_string(self.common_dir.join("packed-refs")).ok()?;
        packed.lines().find_map(|line| {
            let (id, reference) = line.split_once(' ')?;
            (reference.trim() == name && is_object_id(id)).then(|| id.to_string())
        })
    }

    /// `remote.origin.url` from the repository's config file.
    fn origin_url(&self) -> Option<String> {
        let config = std::fs::read_to_string(self.common_dir.join("config")).ok()?;
        let mut in_origin = false;
        for line in config.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                let section: String = line.chars().filter(|c| !c.is_whitespace()).collect();
                in_origin = section == "[remote\"origin\"]";
                continue;
            }
            if !in_origin {
                continue;
            }
            if let Some((key, value)) = line.split_once('=')
                && key.trim().eq_ignore_ascii_case("url")
            {
                return Some(value.trim().trim_matches('"').to_string());
            }
        }
        None
    }
}

fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped() {
        fn check(url: &str, expected: &str) {
            assert_eq!(strip_credentials(url), expected, "{url}");
        }
        check(
            "https://x-access-token:ghs_secret@github.com/org/app.git",
            "https://github.com/org/app.git",
        );
        check(
            "https://token@gitlab.com/org/app",
            "https://gitlab.com/org/app",
        );
        check(
            "https://github.com/org/app.git",
            "https://github.com/org/app.git",
        );
        check("ssh://git@host:22/org/app.git", "ssh://host:22/org/app.git");
        check("git@github.com:org/app.git", "git@github.com:org/app.git");
        check("https://u:p@host", "https://host");
    }

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn checkout(dir: &Path, head: &str, config: &str) {
        let git = dir.join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        std::fs::write(git.join("HEAD"), head).unwrap();
        std::fs::write(git.join("config"), config).unwrap();
    }

    /// Asserts the standard annotations read from `dir` are `revision` and `source`.
    fn check_annotations(dir: &Path, revision: Option<&str>, source: Option<&str>) {
        let got = standard_annotations(dir);
        let get = |key| got.get(key).map(String::as_str);
        assert_eq!(get(ANNOTATION_REVISION), revision, "{}", dir.display());
        assert_eq!(get(ANNOTATION_SOURCE), source, "{}", dir.display());
    }

    const CONFIG: &str = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://other/x\n[remote \"origin\"]\n\turl = https://bot:secret@github.com/org/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n";

    #[test]
    fn a_checkout_gives_source_and_revision() {
        let dir = tempfile::tempdir().unwrap();
        checkout(dir.path(), "ref: refs/heads/main\n", CONFIG);
        std::fs::write(
            dir.path().join(".git/refs/heads/main"),
            format!("{COMMIT}\n"),
        )
        .unwrap();
        let sub = dir.path().join("docker/app");
        std::fs::create_dir_all(&sub).unwrap();
        check_annotations(&sub, Some(COMMIT), Some("https://github.com/org/app.git"));
    }

    #[test]
    fn packed_refs_detached_heads_and_worktrees() {
        let dir = tempfile::tempdir().unwrap();
        checkout(dir.path(), "ref: refs/heads/release\n", "");
        std::fs::write(
            dir.path().join(".git/packed-refs"),
            format!("# pack-refs with: peeled\n{COMMIT} refs/heads/release\n"),
        )
        .unwrap();
        check_annotations(dir.path(), Some(COMMIT), None);

        let detached = tempfile::tempdir().unwrap();
        checkout(detached.path(), &format!("{COMMIT}\n"), CONFIG);
        check_annotations(
            detached.path(),
            Some(COMMIT),
            Some("https://github.com/org/app.git"),
        );

        // A worktree: `.git` is a file pointing at its own git dir, whose commondir holds
        // the config.
        let main = tempfile::tempdir().unwrap();
        checkout(main.path(), "ref: refs/heads/main\n", CONFIG);
        let wt_git = main.path().join(".git/worktrees/wt");
        std::fs::create_dir_all(&wt_git).unwrap();
        std::fs::write(wt_git.join("HEAD"), format!("{COMMIT}\n")).unwrap();
        std::fs::write(wt_git.join("commondir"), "../..\n").unwrap();
        let wt = tempfile::tempdir().unwrap();
        std::fs::write(
            wt.path().join(".git"),
            format!("gitdir: {}\n", wt_git.display()),
        )
        .unwrap();
        check_annotations(
            wt.path(),
            Some(COMMIT),
            Some("https://github.com/org/app.git"),
        );
    }

    #[test]
    fn not_a_checkout_gives_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // tempdirs live outside any checkout (under /tmp).
        assert!(standard_annotations(dir.path()).is_empty());
    }
}
