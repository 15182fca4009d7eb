// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The standard index annotations a git checkout gives: `org.opencontainers.image.source`
//! (the `origin` remote's URL as a web address a reader can follow: credentials stripped,
//! ssh and scp-like addresses mapped to `https://`, local paths left out) and `org.opencontainers.image.revision`
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
    if let Some(url) = url.as_deref().and_then(source_url) {
        out.insert(ANNOTATION_SOURCE.to_string(), url);
    }
    out
}

/// The address a reader can follow for the remote `url`, or `None` when it has none (a local
/// path, `file://`, an unknown scheme): `https://user:token@host/x` → `https://host/x`,
/// `git@host:org/repo.git`, `ssh://git@host:22/org/repo.git` and `git://host/org/repo.git`
/// → `https://host/org/repo`.
pub fn source_url(url: &str) -> Option<String> {
    let url = url.trim();
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        return match scheme.to_ascii_lowercase().as_str() {
            "https" | "http" if !host_port.is_empty() => {
                Some(format!("{scheme}://{host_port}{path}"))
            }
            "ssh" | "git" | "git+ssh" | "ssh+git" => {
                let host = host_without_port(host_port)?;
                web_address(host, path)
            }
            _ => None,
        };
    }
    // scp-like: `[user@]host:path`. A local path has a `/` before any `:` (or no `:`).
    let (authority, path) = url.split_once(':')?;
    if authority.contains('/') || authority.contains('\\') {
        return None;
    }
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    // `C:` is a drive letter, not a host.
    if host.len() < 2 {
        return None;
    }
    web_address(host, path)
}

/// `https://host/path` without a trailing `.git` or `/`; `None` for an empty or odd host or
/// path (a transport helper's `ext::...`, spaces).
fn web_address(host: &str, path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let valid_path = !path.is_empty()
        && !path.starts_with(':')
        && !path.chars().any(|c| c.is_whitespace() || c.is_control());
    (valid_host && valid_path).then(|| format!("https://{host}/{path}"))
}

/// `host` of `host:port` (and of `[v6]:port`).
fn host_without_port(host_port: &str) -> Option<&str> {
    if host_port.starts_with('[') {
        return None;
    }
    Some(
        host_port
            .split_once(':')
            .map_or(host_port, |(host, _)| host),
    )
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
    fn sources_are_addresses_a_reader_can_follow() {
        fn check(url: &str, expected: Option<&str>) {
            assert_eq!(source_url(url).as_deref(), expected, "{url}");
        }
        check(
            "https://x-access-token:ghs_secret@github.com/org/app.git",
            Some("https://github.com/org/app.git"),
        );
        check(
            "https://token@gitlab.com/org/app",
            Some("https://gitlab.com/org/app"),
        );
        check("https://u:p@host", Some("https://host"));
        check(
            "http://mirror.local:8080/app",
            Some("http://mirror.local:8080/app"),
        );
        check(
            "ssh://git@host:22/org/app.git",
            Some("https://host/org/app"),
        );
        check(
            "git@github.com:org/app.git",
            Some("https://github.com/org/app"),
        );
        check("github.com:org/app", Some("https://github.com/org/app"));
        check(
            "git://host.example/org/app.git/",
            Some("https://host.example/org/app"),
        );
        // Local paths and addresses with nowhere to go are left out.
        check("/srv/git/app.git", None);
        check("../app", None);
        check("./a:b", None);
        check("file:///srv/git/app.git", None);
        check("C:\\repos\\app", None);
        check("C:/repos/app", None);
        check("https://", None);
        check("git@host:", None);
        check("ext::ssh -p 22 host", None);
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

        // A clone of a local repository: its origin is a path, which is no source to publish.
        let local = tempfile::tempdir().unwrap();
        checkout(
            local.path(),
            &format!("{COMMIT}\n"),
            "[remote \"origin\"]\n\turl = /home/dev/src/app\n",
        );
        check_annotations(local.path(), Some(COMMIT), None);

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
