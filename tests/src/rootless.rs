// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Running a command as the unprivileged test user `kaniko-rootless` (made by hack/deps.sh,
//! with a subordinate uid/gid range in /etc/subuid and /etc/subgid): the user's uid and gid,
//! no supplementary groups, a clean environment with its HOME, and a scratch directory it owns
//! for contexts, temporary files and a private copy of the binary it runs.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The system user rootless tests run as.
pub const ROOTLESS_USER: &str = "kaniko-rootless";

/// A user from /etc/passwd and its subordinate id ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlessUser {
    /// Login name.
    pub name: String,
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
    /// `(start, count)` from /etc/subuid.
    pub subuid: (u32, u32),
    /// `(start, count)` from /etc/subgid.
    pub subgid: (u32, u32),
}

impl RootlessUser {
    /// [`ROOTLESS_USER`] as set up by hack/deps.sh; an error saying how to set it up otherwise.
    pub fn lookup() -> Result<RootlessUser> {
        RootlessUser::named(ROOTLESS_USER)
    }

    /// The user `name` with its subordinate ranges.
    pub fn named(name: &str) -> Result<RootlessUser> {
        let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
        let Some((uid, gid, home)) = passwd_entry(&passwd, name) else {
            bail!("user {name} is not in /etc/passwd: run hack/deps.sh (as root) to create it");
        };
        let range = |file: &str| -> Result<(u32, u32)> {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
            subid_range(&text, name, uid).with_context(|| {
                format!("{file} has no range of at least 65536 ids for {name}: run hack/deps.sh")
            })
        };
        Ok(RootlessUser {
            name: name.to_string(),
            uid,
            gid,
            home,
            subuid: range("/etc/subuid")?,
            subgid: range("/etc/subgid")?,
        })
    }

    /// `program` to be run as this user: its uid and gid (std drops the supplementary groups
    /// when a root parent sets the uid), an environment holding only `HOME`, `USER`,
    /// `LOGNAME`, a standard `PATH` and `TMPDIR` = `scratch`, and `scratch` as the working
    /// directory.
    pub fn command(&self, program: impl AsRef<OsStr>, scratch: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .uid(self.uid)
            .gid(self.gid)
            .env_clear()
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("TMPDIR", scratch)
            .current_dir(scratch);
        if let Ok(filter) = std::env::var("RUST_LOG") {
            command.env("RUST_LOG", filter);
        }
        command
    }

    /// A new temporary directory (mode 0700) owned by this user; removed on drop.
    pub fn scratch_dir(&self) -> Result<tempfile::TempDir> {
        let dir = tempfile::Builder::new()
            .prefix("kaniko-rootless-")
            .tempdir()
            .context("creating a scratch directory")?;
        self.chown_tree(dir.path())?;
        Ok(dir)
    }

    /// Gives `path` and everything under it (not following symlinks) to this user.
    pub fn chown_tree(&self, path: &Path) -> Result<()> {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("chown {} to {}", path.display(), self.name))?;
        let meta = std::fs::symlink_metadata(path)
            .with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            for item in
                std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))?
            {
                let item = item.with_context(|| format!("listing {}", path.display()))?;
                self.chown_tree(&item.path())?;
            }
        }
        Ok(())
    }

    /// Copies `binary` into `scratch` (owned by this user, mode 0755), so the user can run it
    /// wherever the checkout is and whatever the modes of its parent directories.
    pub fn install_binary(&self, binary: &Path, scratch: &Path) -> Result<PathBuf> {
        let name = binary
            .file_name()
            .with_context(|| format!("{} has no file name", binary.display()))?;
        let copy = scratch.join(name);
        std::fs::copy(binary, &copy)
            .with_context(|| format!("copying {} to {}", binary.display(), copy.display()))?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", copy.display()))?;
        self.chown_tree(&copy)?;
        Ok(copy)
    }
}

/// `(uid, gid, home)` of `name` in the text of /etc/passwd.
fn passwd_entry(passwd: &str, name: &str) -> Option<(u32, u32, PathBuf)> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [n, _, uid, gid, _, home, ..] if *n == name => {
                Some((uid.parse().ok()?, gid.parse().ok()?, PathBuf::from(home)))
            }
            _ => None,
        }
    })
}

/// The first `name:start:count` (or `uid:start:count`) line of /etc/subuid or /etc/subgid
/// with at least 65536 ids.
fn subid_range(text: &str, name: &str, uid: u32) -> Option<(u32, u32)> {
    let uid = uid.to_string();
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        let start: u32 = fields.next()?.parse().ok()?;
        let count: u32 = fields.next()?.parse().ok()?;
        ((owner == name || owner == uid) && count >= 65536).then_some((start, count))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_entries_are_found_by_name() {
        fn check(name: &str, expected: Option<(u32, u32, &str)>) {
            let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                          kaniko-rootless:x:998:997::/home/kaniko-rootless:/bin/sh\n\
                          broken:x:notanumber:1::/h:/bin/sh\n\
                          short:x:5\n";
            let expected = expected.map(|(u, g, h)| (u, g, PathBuf::from(h)));
            assert_eq!(passwd_entry(passwd, name), expected, "{name}");
        }
        check("root", Some((0, 0, "/root")));
        check("kaniko-rootless", Some((998, 997, "/home/kaniko-rootless")));
        check("kaniko", None);
        check("broken", None);
        check("short", None);
    }

    #[test]
    fn subordinate_ranges_need_65536_ids() {
        fn check(text: &str, expected: Option<(u32, u32)>) {
            assert_eq!(
                subid_range(text, "kaniko-rootless", 998),
                expected,
                "{text:?}"
            );
        }
        check("kaniko-rootless:300000:65536\n", Some((300_000, 65_536)));
        check("998:100000:65536\n", Some((100_000, 65_536)));
        check("other:100000:65536\n", None);
        check("kaniko-rootless:300000:1000\n", None);
        check(
            "kaniko-rootless:300000:1000\nkaniko-rootless:400000:70000\n",
            Some((400_000, 70_000)),
        );
        check("kaniko-rootless:x:y\n", None);
    }
}
