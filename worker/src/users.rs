// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Users and groups of an image: `/etc/passwd` and `/etc/group` parsed from their contents
//! (so this stays pure: the caller reads the files from the stage's root filesystem), and the
//! two ways a Dockerfile names an owner.
//!
//! * `COPY/ADD --chown=<spec>` ([`Users::resolve_chown`]) follows BuildKit (`readUser` in
//!   `solver/llbsolver/file`): a name takes its uid **and primary gid** from `/etc/passwd`; a
//!   numeric uid needs no lookup and, without a group, the gid is the same number (whether or
//!   not the uid is in `/etc/passwd`); a group is a gid or a name from `/etc/group`. Kaniko
//!   differs for a bare name (it uses gid = uid); we follow BuildKit, which is what `docker
//!   build` users get. Unlike BuildKit (which silently uses 0), an unknown name is an error.
//! * `USER <spec>` ([`Users::resolve_user`]) follows runc's `GetExecUser`, what Docker and
//!   BuildKit use to run a process: a name or a uid found in `/etc/passwd` gives its primary
//!   gid, home and supplementary groups (the groups of `/etc/group` listing the user, only when
//!   no group is given); a uid not in `/etc/passwd` runs with gid 0 and home `/`.
//! * `HOME` defaults to the user's home from `/etc/passwd`, else `/root` for root and `/` for
//!   anyone else ([`Users::home_of`]), like Kaniko.
//!
//! Parsing is tolerant like libc's: comments, blank lines, NIS `+`/`-` entries and malformed
//! lines (too few fields, non-numeric ids) are skipped, never an error.

/// Where the errors say a user was looked up.
pub const PASSWD_PATH: &str = "/etc/passwd";
/// Where the errors say a group was looked up.
pub const GROUP_PATH: &str = "/etc/group";

/// Why a `--chown` or `USER` spec could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// A user name that is not in the image's `/etc/passwd`.
    #[error("unknown user {name:?}: no matching entry in {PASSWD_PATH}")]
    UnknownUser {
        /// The name as given.
        name: String,
    },
    /// A group name that is not in the image's `/etc/group`.
    #[error("unknown group {name:?}: no matching entry in {GROUP_PATH}")]
    UnknownGroup {
        /// The name as given.
        name: String,
    },
}

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory (may be empty in the file).
    pub home: String,
}

/// `root` where the passwd file has no entry for it.
static ROOT: std::sync::LazyLock<PasswdEntry> = std::sync::LazyLock::new(|| PasswdEntry {
    name: "root".to_string(),
    uid: 0,
    gid: 0,
    home: "/root".to_string(),
});

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Names of the users listed as members.
    pub members: Vec<String>,
}

/// The identity a process runs with after `USER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory, for `HOME`.
    pub home: String,
    /// Supplementary group ids, in `/etc/group` order.
    pub supplementary_gids: Vec<u32>,
}

/// The users and groups of one image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    passwd: Vec<PasswdEntry>,
    groups: Vec<GroupEntry>,
}

impl Users {
    /// Parses the contents of `/etc/passwd` and `/etc/group` (either may be empty when the
    /// image has no such file).
    pub fn parse(passwd: &str, group: &str) -> Users {
        Users {
            passwd: passwd.lines().filter_map(parse_passwd_line).collect(),
            groups: group.lines().filter_map(parse_group_line).collect(),
        }
    }

    /// The parsed `/etc/passwd` entries, in file order.
    #[cfg(test)]
    pub fn passwd(&self) -> &[PasswdEntry] {
        &self.passwd
    }

    /// The parsed `/etc/group` entries, in file order.
    #[cfg(test)]
    pub fn groups(&self) -> &[GroupEntry] {
        &self.groups
    }

    /// Resolves a `COPY/ADD --chown` spec (`user`, `user:group`, each a name or a number;
    /// an empty user is root) to `(uid, gid)`.
    pub fn resolve_chown(&self, spec: &str) -> Result<(u32, u32), UserError> {
        let (user, group) = split_spec(spec);
        let (uid, mut gid) = if user.is_empty() {
            (0, 0)
        } else if let Some(uid) = parse_id(user) {
            (uid, uid)
        } else {
            let entry = self.user_by_name(user)?;
            (entry.uid, entry.gid)
        };
        if let Some(group) = group.filter(|g| !g.is_empty()) {
            gid = self.group_id(group)?;
        }
        Ok((uid, gid))
    }

    /// Resolves a `USER` spec (`user` or `user:group`, each a name or a number; empty is
    /// root) to the identity a RUN step runs with.
    pub fn resolve_user(&self, spec: &str) -> Result<ResolvedUser, UserError> {
        let (user, group) = split_spec(spec);
        let user = if user.is_empty() { "0" } else { user };
        let entry = match parse_id(user) {
            Some(uid) => self.passwd.iter().find(|e| e.uid == uid),
            None => Some(self.user_by_name(user)?),
        };
        let uid = match (entry, parse_id(user)) {
            (Some(e), _) => e.uid,
            (None, Some(uid)) => uid,
            (None, None) => 0,
        };
        let home = home_for(uid, entry);
        let group = group.filter(|g| !g.is_empty());
        let (gid, supplementary_gids) = match (group, entry) {
            (Some(group), _) => (self.group_id(group)?, Vec::new()),
            (None, Some(e)) => (
                e.gid,
                self.groups
                    .iter()
                    .filter(|g| g.members.contains(&e.name))
                    .map(|g| g.gid)
                    .collect(),
            ),
            (None, None) => (0, Vec::new()),
        };
        Ok(ResolvedUser {
            uid,
            gid,
            home,
            supplementary_gids,
        })
    }

    /// `HOME` for a `USER` spec (a group part is ignored): the home from `/etc/passwd`, else
    /// `/root` for root (the empty spec, `root`, uid 0) and `/` for anyone else, unknown
    /// names included.
    #[cfg(test)]
    pub fn home_of(&self, spec: &str) -> String {
        let (user, _) = split_spec(spec);
        let entry = match parse_id(user) {
            Some(uid) => self.passwd.iter().find(|e| e.uid == uid),
            None => self.passwd.iter().find(|e| e.name == user),
        };
        let root = user.is_empty() || user == "root" || parse_id(user) == Some(0);
        home_for(if root { 0 } else { u32::MAX }, entry)
    }

    /// The passwd entry of `name`; `root` is uid 0 and gid 0 even where the image has no
    /// entry for it (a `scratch` image has no `/etc/passwd`), as Docker, buildah and Kaniko
    /// take it.
    fn user_by_name(&self, name: &str) -> Result<&PasswdEntry, UserError> {
        match self.passwd.iter().find(|e| e.name == name) {
            Some(entry) => Ok(entry),
            None if name == ROOT.name => Ok(&*ROOT),
            None => Err(UserError::UnknownUser {
                name: name.to_string(),
            }),
        }
    }

    fn group_id(&self, group: &str) -> Result<u32, UserError> {
        if let Some(gid) = parse_id(group) {
            return Ok(gid);
        }
        match self.groups.iter().find(|g| g.name == group) {
            Some(entry) => Ok(entry.gid),
            // As `root` the user: gid 0 without a group file entry.
            None if group == ROOT.name => Ok(0),
            None => Err(UserError::UnknownGroup {
                name: group.to_string(),
            }),
        }
    }
}

fn home_for(uid: u32, entry: Option<&PasswdEntry>) -> String {
    match entry {
        Some(e) if !e.home.is_empty() => e.home.clone(),
        _ if uid == 0 => "/root".to_string(),
        _ => "/".to_string(),
    }
}

/// `user[:group]`, split at the first `:`, surrounding whitespace trimmed.
fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.trim().split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec.trim(), None),
    }
}

/// A decimal id that fits in 32 bits (`strconv.ParseUint(s, 10, 32)`: no sign, no spaces).
fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The fields of a non-comment, non-NIS line.
fn fields(line: &str) -> Option<Vec<&str>> {
    let line = line.trim_end_matches('\r');
    let first = line.trim_start().chars().next()?;
    if matches!(first, '#' | '+' | '-') {
        return None;
    }
    Some(line.split(':').collect())
}

/// `name:password:uid:gid:gecos:home:shell`; gecos, home and shell may be missing.
fn parse_passwd_line(line: &str) -> Option<PasswdEntry> {
    let fields = fields(line)?;
    let name = fields.first().filter(|n| !n.is_empty())?;
    Some(PasswdEntry {
        name: name.to_string(),
        uid: parse_id(fields.get(2)?)?,
        gid: parse_id(fields.get(3)?)?,
        home: fields.get(5).map(|h| h.to_string()).unwrap_or_default(),
    })
}

/// `name:password:gid:member,member`; the member list may be missing.
fn parse_group_line(line: &str) -> Option<GroupEntry> {
    let fields = fields(line)?;
    let name = fields.first().filter(|n| !n.is_empty())?;
    Some(GroupEntry {
        name: name.to_string(),
        gid: parse_id(fields.get(2)?)?,
        members: fields
            .get(3)
            .map(|m| {
                m.split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
# the image's users
root:x:0:0:root:/root:/bin/sh

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1001:App User:/home/app:/bin/sh
nohome:x:1002:1002::
broken line without colons
bad:x:notanumber:1:::
+nisuser::::::
short:x:1003
";

    const GROUP: &str = "\
root:x:0:
daemon:x:1:
appgroup:x:1001:
docker:x:999:app,other
wheel:x:10: app ,root
staff:x:50
garbage
# comment:x:5:app
";

    fn users() -> Users {
        Users::parse(PASSWD, GROUP)
    }

    #[test]
    fn parsing_skips_malformed_lines() {
        let users = users();
        let names: Vec<&str> = users.passwd().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["root", "daemon", "app", "nohome"]);
        let groups: Vec<(&str, u32, usize)> = users
            .groups()
            .iter()
            .map(|g| (g.name.as_str(), g.gid, g.members.len()))
            .collect();
        assert_eq!(
            groups,
            [
                ("root", 0, 0),
                ("daemon", 1, 0),
                ("appgroup", 1001, 0),
                ("docker", 999, 2),
                ("wheel", 10, 2),
                ("staff", 50, 0)
            ]
        );
    }

    #[test]
    fn chown_specs_follow_buildkit() {
        #[track_caller]
        fn check(spec: &str, expected: Result<(u32, u32), &str>) {
            let got = users().resolve_chown(spec).map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_string), "--chown={spec}");
        }
        check("app", Ok((1000, 1001)));
        check("1000", Ok((1000, 1000)));
        check("4242", Ok((4242, 4242)));
        check("1000:50", Ok((1000, 50)));
        check("app:docker", Ok((1000, 999)));
        check("app:7", Ok((1000, 7)));
        check("4242:docker", Ok((4242, 999)));
        check("root", Ok((0, 0)));
        check(":docker", Ok((0, 999)));
        check("app:", Ok((1000, 1001)));
        check(" 10:20 ", Ok((10, 20)));
        check(
            "ghost",
            Err("unknown user \"ghost\": no matching entry in /etc/passwd"),
        );
        check(
            "app:ghosts",
            Err("unknown group \"ghosts\": no matching entry in /etc/group"),
        );
        check(
            "+5",
            Err("unknown user \"+5\": no matching entry in /etc/passwd"),
        );
        check(
            "99999999999",
            Err("unknown user \"99999999999\": no matching entry in /etc/passwd"),
        );
    }

    #[test]
    fn user_specs_follow_runc() {
        #[track_caller]
        fn check(spec: &str, expected: Result<(u32, u32, &str, &[u32]), &str>) {
            let got = users()
                .resolve_user(spec)
                .map(|u| (u.uid, u.gid, u.home, u.supplementary_gids))
                .map_err(|e| e.to_string());
            let expected = expected
                .map(|(uid, gid, home, sgids)| (uid, gid, home.to_string(), sgids.to_vec()))
                .map_err(str::to_string);
            assert_eq!(got, expected, "USER {spec}");
        }
        check("", Ok((0, 0, "/root", &[10])));
        check("root", Ok((0, 0, "/root", &[10])));
        check("app", Ok((1000, 1001, "/home/app", &[999, 10])));
        check("1000", Ok((1000, 1001, "/home/app", &[999, 10])));
        check("app:docker", Ok((1000, 999, "/home/app", &[])));
        check("app:77", Ok((1000, 77, "/home/app", &[])));
        check("4242", Ok((4242, 0, "/", &[])));
        check("4242:4242", Ok((4242, 4242, "/", &[])));
        check("nohome", Ok((1002, 1002, "/", &[])));
        check(
            "ghost",
            Err("unknown user \"ghost\": no matching entry in /etc/passwd"),
        );
        check(
            "app:ghosts",
            Err("unknown group \"ghosts\": no matching entry in /etc/group"),
        );
    }

    #[test]
    fn root_by_name_needs_no_passwd_or_group_file() {
        // A scratch image: no /etc/passwd, no /etc/group.
        let none = Users::parse("", "");
        for spec in ["root", "root:root", "0:root", "root:0", "", "0"] {
            let user = none.resolve_user(spec).map_err(|e| e.to_string());
            let user = user.unwrap_or_else(|e| panic!("USER {spec}: {e}"));
            assert_eq!(
                (user.uid, user.gid, user.home.as_str()),
                (0, 0, "/root"),
                "{spec}"
            );
            assert_eq!(none.resolve_chown(spec), Ok((0, 0)), "--chown={spec}");
        }
        assert_eq!(none.resolve_chown("1000:root"), Ok((1000, 0)));
        assert_eq!(none.resolve_chown("5:6"), Ok((5, 6)));
        let user = none.resolve_user("1000").unwrap();
        assert_eq!((user.uid, user.gid, user.home.as_str()), (1000, 0, "/"));
        // Other names still need their entries.
        assert_eq!(
            none.resolve_user("app")
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err("unknown user \"app\": no matching entry in /etc/passwd".to_string())
        );
        assert_eq!(
            none.resolve_chown("0:wheel").map_err(|e| e.to_string()),
            Err("unknown group \"wheel\": no matching entry in /etc/group".to_string())
        );
        // An image's own root entry wins over the default.
        let own = Users::parse("root:x:0:0:root:/var/root:/bin/sh\n", "");
        assert_eq!(own.resolve_user("root").unwrap().home, "/var/root");
    }

    proptest::proptest! {
        /// Arbitrary file contents and specs never panic; a numeric chown spec needs no lookup.
        #[test]
        fn arbitrary_input_never_panics(passwd in "\\PC{0,80}", group in "\\PC{0,80}", spec in "\\PC{0,16}", uid: u32, gid: u32) {
            let users = Users::parse(&passwd, &group);
            let _ = users.resolve_chown(&spec);
            let _ = users.resolve_user(&spec);
            let _ = users.home_of(&spec);
            proptest::prop_assert_eq!(users.resolve_chown(&format!("{uid}:{gid}")), Ok((uid, gid)));
        }
    }

    #[test]
    fn home_defaults() {
        #[track_caller]
        fn check(users: &Users, spec: &str, expected: &str) {
            assert_eq!(users.home_of(spec), expected, "home of {spec:?}");
        }
        let image = users();
        check(&image, "", "/root");
        check(&image, "app", "/home/app");
        check(&image, "1000:50", "/home/app");
        check(&image, "daemon", "/usr/sbin");
        check(&image, "4242", "/");
        check(&image, "ghost", "/");
        let scratch = Users::parse("", "");
        check(&scratch, "", "/root");
        check(&scratch, "root", "/root");
        check(&scratch, "0", "/root");
        check(&scratch, "1000", "/");
    }
}
