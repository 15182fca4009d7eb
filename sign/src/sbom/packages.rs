// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The OS packages of an image's final root, read from its layers without unpacking them:
//! each layer's tar is walked once, keeping only the package databases ([`DB_PATHS`]: dpkg's
//! `status` and distroless' `status.d/*`, apk's `installed`) and `os-release`; the layers
//! apply in order, a later file replacing an earlier one and a whiteout (or an opaque
//! directory) hiding what lower layers put there, as a runtime would see the root.
//!
//! rpm's SQLite database (`rpmdb.sqlite`) is kept too and read by [`super::rpm`]; the
//! older Berkeley DB and ndb formats are only noticed (their content is not even kept), so
//! the SBOM can say their packages are not listed.

use std::collections::BTreeMap;
use std::io::Read;

use kaniko_image::whiteout::{self, Whiteout};

use super::rpm;

/// dpkg's database of installed packages.
pub const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// distroless' dpkg database: one file per package.
pub const DPKG_STATUS_D: &str = "var/lib/dpkg/status.d/";
/// apk's database of installed packages.
pub const APK_INSTALLED: &str = "lib/apk/db/installed";
/// Where the distribution names itself.
pub const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// A package database larger than this is refused rather than read into memory (Debian's
/// status file with thousands of packages is a few MiB).
pub const MAX_DB_SIZE: u64 = 64 * 1024 * 1024;

/// Whether a path (relative, no leading `./` or `/`) is one this scan keeps.
fn wanted(path: &str) -> bool {
    path == DPKG_STATUS
        || path == APK_INSTALLED
        || OS_RELEASE.contains(&path)
        || rpm::SQLITE.contains(&path)
        || unread_rpm(path).is_some()
        || path
            .strip_prefix(DPKG_STATUS_D)
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// The format of an rpm database at `path` that is noticed and not read.
fn unread_rpm(path: &str) -> Option<&'static str> {
    rpm::UNREAD
        .iter()
        .find(|(at, _)| *at == path)
        .map(|(_, format)| *format)
}

/// `./a/b`, `/a/b/` → `a/b`.
fn normalize(path: &[u8]) -> String {
    let text = String::from_utf8_lossy(path);
    text.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// The files of interest in the final root, path → content.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Root {
    files: BTreeMap<String, Vec<u8>>,
}

/// A package found in a database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    /// `deb`, `apk` or `rpm` (the purl type).
    pub kind: &'static str,
    /// The package name.
    pub name: String,
    /// The version, as the database spells it (rpm: `VERSION-RELEASE`).
    pub version: String,
    /// rpm's epoch, when set.
    pub epoch: Option<u32>,
    /// The architecture, when the database says.
    pub architecture: Option<String>,
    /// The declared license (apk's `L:`), when the database says.
    pub license: Option<String>,
}

impl Root {
    /// Applies one uncompressed layer tar on top of what is there.
    pub fn apply_layer(&mut self, tar: impl Read) -> std::io::Result<()> {
        let mut added: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        let mut hidden: Vec<String> = Vec::new();
        let mut opaque: Vec<String> = Vec::new();
        let mut archive = tar::Archive::new(tar);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = entry.path_bytes().into_owned();
            let path = normalize(&raw);
            let (parent, name) = match path.rsplit_once('/') {
                Some((parent, name)) => (parent.to_string(), name.to_string()),
                None => (String::new(), path.clone()),
            };
            match whiteout::classify(name.as_bytes()) {
                Some(Whiteout::Opaque) => {
                    opaque.push(parent);
                    continue;
                }
                Some(Whiteout::Meta) => continue,
                Some(Whiteout::Hides(target)) => {
                    let target = String::from_utf8_lossy(target);
                    hidden.push(if parent.is_empty() {
                        target.to_string()
                    } else {
                        format!("{parent}/{target}")
                    });
                    continue;
                }
                None => {}
            }
            if !wanted(&path) {
                // Anything but a directory in place of a parent of a kept file hides it.
                let below = format!("{path}/");
                if !entry.header().entry_type().is_dir()
                    && self.files.keys().any(|kept| kept.starts_with(&below))
                {
                    hidden.push(path);
                }
                continue;
            }
            if !entry.header().entry_type().is_file() {
                added.insert(path, None);
                continue;
            }
            if unread_rpm(&path).is_some() {
                // Noticed only: its content is never read.
                added.insert(path, Some(Vec::new()));
                continue;
            }
            let size = entry.header().size()?;
            if size > MAX_DB_SIZE {
                return Err(std::io::Error::other(format!(
                    "/{path} is {size} bytes, more than the {MAX_DB_SIZE} a package database may be"
                )));
            }
            let mut content = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut content)?;
            added.insert(path, Some(content));
        }
        let under = |path: &str, dir: &str| {
            dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
        };
        self.files.retain(|path, _| {
            !hidden.iter().any(|h| under(path, h))
                && !opaque.iter().any(|dir| path != dir && under(path, dir))
        });
        for (path, content) in added {
            match content {
                Some(content) => {
                    self.files.insert(path, content);
                }
                None => {
                    self.files.remove(&path);
                }
            }
        }
        Ok(())
    }

    /// Every package of the dpkg, apk and rpm (SQLite) databases, sorted, and what the
    /// document must say about databases not read or read in part. Blocking: an rpm database
    /// goes through a temporary file.
    pub fn inventory(&self) -> Inventory {
        let mut out = Inventory::default();
        for (path, content) in &self.files {
            if path == DPKG_STATUS || path.starts_with(DPKG_STATUS_D) {
                out.packages
                    .extend(dpkg_packages(&String::from_utf8_lossy(content)));
            } else if path == APK_INSTALLED {
                out.packages
                    .extend(apk_packages(&String::from_utf8_lossy(content)));
            } else if rpm::SQLITE.contains(&path.as_str()) {
                match rpm::read_sqlite(path, content) {
                    Ok(read) => {
                        out.rpm_read.push(path.clone());
                        out.packages.extend(read.packages);
                        if read.skipped > 0 {
                            out.notes.push(format!(
                                "{} headers of the rpm database /{path} could not be read and \
                                 are NOT listed",
                                read.skipped
                            ));
                        }
                        if read.truncated {
                            out.notes.push(format!(
                                "the rpm database /{path} has more than {} packages; the rest \
                                 are NOT listed",
                                rpm::MAX_PACKAGES
                            ));
                        }
                    }
                    Err(err) => {
                        tracing::warn!(database = %path, error = %err, "rpm database not read");
                        out.notes.push(format!(
                            "the rpm database /{path} could not be read ({err}) and its \
                             packages are NOT listed"
                        ));
                    }
                }
            } else if let Some(format) = unread_rpm(path) {
                out.notes.push(format!(
                    "the rpm database /{path} ({format}) is present and its packages are NOT \
                     listed (only rpm's SQLite database, rpmdb.sqlite, is read)"
                ));
            }
        }
        out.packages.sort();
        out.packages.dedup();
        out
    }

    /// `ID` of `os-release` (`/etc` first, as systemd reads it), unquoted.
    pub fn os_id(&self) -> Option<String> {
        let content = OS_RELEASE.iter().find_map(|path| self.files.get(*path))?;
        String::from_utf8_lossy(content).lines().find_map(|line| {
            let value = line.trim().strip_prefix("ID=")?;
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            (!value.is_empty()).then(|| value.to_string())
        })
    }
}

/// What [`Root::inventory`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The packages, sorted, without duplicates.
    pub packages: Vec<Package>,
    /// The rpm SQLite databases read.
    pub rpm_read: Vec<String>,
    /// Sentences for the document about databases not read, or read in part.
    pub notes: Vec<String>,
}

/// The paragraphs of an RFC 822-style database (blank-line separated), as field → value
/// (continuation lines folded into the field they continue).
fn paragraphs(text: &str, separator: char) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            last = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(field) = &last
                && let Some(value) = current.get_mut(field)
            {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((field, value)) = line.split_once(separator) {
            let field = field.trim().to_string();
            current
                .entry(field.clone())
                .or_insert_with(|| value.trim().to_string());
            last = Some(field);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The packages of a dpkg status file (or a `status.d` file): those whose files are on disk,
/// every state but `not-installed` and `config-files` (a paragraph without `Status`, as
/// distroless writes them, is installed).
pub fn dpkg_packages(text: &str) -> Vec<Package> {
    paragraphs(text, ':')
        .into_iter()
        .filter(|p| {
            p.get("Status").is_none_or(|status| {
                let state = status.split_whitespace().nth(2).unwrap_or("");
                state != "not-installed" && state != "config-files"
            })
        })
        .filter_map(|mut p| {
            Some(Package {
                kind: "deb",
                name: p.remove("Package")?,
                version: p.remove("Version")?,
                epoch: None,
                architecture: p.remove("Architecture"),
                license: None,
            })
        })
        .collect()
}

/// The packages of apk's `installed` database (`P:` name, `V:` version, `A:` architecture,
/// `L:` license).
pub fn apk_packages(text: &str) -> Vec<Package> {
    paragraphs(text, ':')
        .into_iter()
        .filter_map(|mut p| {
            Some(Package {
                kind: "apk",
                name: p.remove("P")?,
                version: p.remove("V")?,
                epoch: None,
                architecture: p.remove("A"),
                license: p.remove("L"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `(path, Some(content) | None for a directory)`.
    fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            match content {
                Some(content) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(content.len() as u64);
                    header.set_mode(0o644);
                    builder
                        .append_data(&mut header, path, content.as_bytes())
                        .unwrap();
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_mode(0o755);
                    builder.append_data(&mut header, path, &[][..]).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    fn names(root: &Root) -> Vec<String> {
        root.inventory()
            .packages
            .into_iter()
            .map(|p| format!("{} {} {}", p.kind, p.name, p.version))
            .collect()
    }

    const STATUS: &str = "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\n\
        Version: 12.4+deb12u5\nDescription: base\n  more text\n\n\
        Package: gone\nStatus: purge ok not-installed\nVersion: 1\n\n\
        Package: removed\nStatus: deinstall ok config-files\nVersion: 2\n\n\
        Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\n";

    const APK: &str = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n";

    #[test]
    fn databases_are_parsed() {
        let dpkg: Vec<String> = dpkg_packages(STATUS)
            .into_iter()
            .map(|p| format!("{} {} {:?}", p.name, p.version, p.architecture))
            .collect();
        assert_eq!(
            dpkg,
            [
                "base-files 12.4+deb12u5 Some(\"amd64\")",
                "libc6 2.36-9 Some(\"amd64\")"
            ]
        );
        let apk = apk_packages(APK);
        assert_eq!(apk.len(), 2);
        assert_eq!(apk[0].name, "musl");
        assert_eq!(apk[0].license.as_deref(), Some("MIT"));
        // Distroless: one paragraph per file, no Status.
        assert_eq!(
            dpkg_packages("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n").len(),
            1
        );
        assert!(dpkg_packages("garbage without fields\n\n\n").is_empty());
    }

    #[test]
    fn the_last_layer_wins_and_whiteouts_hide() {
        let mut root = Root::default();
        root.apply_layer(
            &layer(&[
                ("var/", None),
                ("var/lib/dpkg/status", Some(STATUS)),
                ("./lib/apk/db/installed", Some(APK)),
                ("etc/os-release", Some("NAME=\"Debian\"\nID=debian\n")),
                ("usr/bin/big", Some("not a database")),
            ])[..],
        )
        .unwrap();
        assert_eq!(
            names(&root),
            [
                "apk busybox 1.36.1-r5",
                "apk musl 1.2.4-r2",
                "deb base-files 12.4+deb12u5",
                "deb libc6 2.36-9"
            ]
        );
        assert_eq!(root.os_id().as_deref(), Some("debian"));
        // A later status replaces the earlier; apk's db is whited out.
        root.apply_layer(
            &layer(&[
                ("var/lib/dpkg/status", Some("Package: only\nVersion: 1\n")),
                ("lib/apk/db/.wh.installed", Some("")),
            ])[..],
        )
        .unwrap();
        assert_eq!(names(&root), ["deb only 1"]);
        // An opaque /var/lib/dpkg hides the lower status, keeps what the same layer adds.
        root.apply_layer(
            &layer(&[
                ("var/lib/dpkg/.wh..wh..opq", Some("")),
                (
                    "var/lib/dpkg/status.d/tzdata",
                    Some("Package: tzdata\nVersion: 2024a\n"),
                ),
            ])[..],
        )
        .unwrap();
        assert_eq!(names(&root), ["deb tzdata 2024a"]);
        // Removing the whole directory hides it too; a Berkeley DB rpm database is noticed
        // (not kept), a broken SQLite one is said not to be read.
        root.apply_layer(
            &layer(&[
                ("var/lib/.wh.dpkg", Some("")),
                ("var/lib/rpm/Packages", Some("berkeley")),
                (
                    "usr/lib/sysimage/rpm/rpmdb.sqlite",
                    Some("SQLite format 3\0"),
                ),
            ])[..],
        )
        .unwrap();
        assert!(names(&root).is_empty());
        assert_eq!(root.files["var/lib/rpm/Packages"], b"");
        let notes = root.inventory().notes;
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with(
                "the rpm database /usr/lib/sysimage/rpm/rpmdb.sqlite could not be read"
            ),
            "{notes:?}"
        );
        assert!(
            notes[1].contains("/var/lib/rpm/Packages (Berkeley DB)"),
            "{notes:?}"
        );
        // A symlink in place of the database is not a database.
        let mut root = Root::default();
        root.apply_layer(&layer(&[("lib/apk/db/installed", Some(APK))])[..])
            .unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, "lib/apk/db/installed", "/elsewhere")
            .unwrap();
        root.apply_layer(&builder.into_inner().unwrap()[..])
            .unwrap();
        assert!(names(&root).is_empty());
    }

    #[test]
    fn an_rpm_sqlite_database_in_a_layer_is_read_and_a_whiteout_hides_it() {
        let bytes = rpm::tests::sqlite_database(&[
            (1, rpm::tests::package("bash", Some(1))),
            (2, b"\xff\xff\xff\xffhostile".to_vec()),
        ]);
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "usr/lib/sysimage/rpm/rpmdb.sqlite", &bytes[..])
            .unwrap();
        let mut root = Root::default();
        root.apply_layer(&builder.into_inner().unwrap()[..])
            .unwrap();
        let inventory = root.inventory();
        assert_eq!(
            inventory
                .packages
                .iter()
                .map(|p| format!("{} {} {} {:?}", p.kind, p.name, p.version, p.epoch))
                .collect::<Vec<_>>(),
            ["rpm bash 1.2-3.fc40 Some(1)"]
        );
        assert_eq!(inventory.rpm_read, ["usr/lib/sysimage/rpm/rpmdb.sqlite"]);
        assert_eq!(
            inventory.notes,
            [
                "1 headers of the rpm database /usr/lib/sysimage/rpm/rpmdb.sqlite could not be \
              read and are NOT listed"
            ]
        );
        root.apply_layer(&layer(&[("usr/lib/sysimage/.wh.rpm", Some(""))])[..])
            .unwrap();
        assert_eq!(root.inventory(), Inventory::default());
    }

    #[test]
    fn an_oversized_database_is_refused() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(MAX_DB_SIZE + 1);
        header.set_path(DPKG_STATUS).unwrap();
        header.set_cksum();
        builder
            .append(&header, std::io::repeat(b'a').take(MAX_DB_SIZE + 1))
            .unwrap();
        let err = Root::default()
            .apply_layer(&builder.into_inner().unwrap()[..])
            .unwrap_err();
        assert!(err.to_string().contains("/var/lib/dpkg/status"), "{err}");
    }
}
