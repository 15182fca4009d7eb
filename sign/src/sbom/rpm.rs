// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! rpm's SQLite database (`rpmdb.sqlite`, rpm 4.16+: Fedora 33+, RHEL/Rocky/Alma 9): its
//! `Packages(hnum, blob)` table holds one rpm header per installed package, and [`header`]
//! reads the few tags an SBOM needs from one. The older Berkeley DB `Packages` and SUSE's
//! ndb `Packages.db` are not read ([`UNREAD`]); the document says so.
//!
//! Every length in a header is checked against the blob before it is used: a hostile header
//! is refused with a [`HeaderError`] (and skipped with a warning), never a panic or an
//! allocation sized by the input.

use std::io::Write;

use super::packages::Package;

/// rpm's SQLite databases: `/var/lib/rpm` (Fedora, RHEL 9) and `/usr/lib/sysimage/rpm`
/// (where `/var/lib/rpm` points on Fedora 36+, openSUSE).
pub const SQLITE: [&str; 2] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];

/// rpm databases in formats that are not read, with the format's name.
pub const UNREAD: [(&str, &str); 4] = [
    ("var/lib/rpm/Packages", "Berkeley DB"),
    ("usr/lib/sysimage/rpm/Packages", "Berkeley DB"),
    ("var/lib/rpm/Packages.db", "ndb"),
    ("usr/lib/sysimage/rpm/Packages.db", "ndb"),
];

/// More index entries than rpm itself allows in a header (`HEADER_TAGS_MAX`).
pub const MAX_ENTRIES: u32 = 0xffff;
/// A longer data store than rpm itself allows (`HEADER_DATA_MAX`, 256 MiB).
pub const MAX_DATA: u32 = 256 * 1024 * 1024;
/// A string tag longer than this (names, versions, licenses are short) is refused.
pub const MAX_STRING: usize = 4096;
/// A database with more rows than this is read up to here and said to be cut short.
pub const MAX_PACKAGES: usize = 200_000;

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_LICENSE: i32 = 1014;
const TAG_ARCH: i32 = 1022;
const TYPE_INT32: i32 = 4;
const TYPE_STRING: i32 = 6;
const TYPE_I18NSTRING: i32 = 9;

/// Why a header blob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Shorter than its own counts say.
    #[error("the header is {len} bytes, shorter than the {need} its counts say")]
    Truncated {
        /// The blob's length.
        len: usize,
        /// What the counts need.
        need: u64,
    },
    /// `il` or `dl` beyond rpm's own limits.
    #[error("the header has {il} entries and {dl} data bytes, beyond rpm's limits")]
    TooLarge {
        /// Index entries.
        il: u32,
        /// Data bytes.
        dl: u32,
    },
    /// A tag's value is not where or what it should be.
    #[error("tag {tag}: {message}")]
    BadTag {
        /// The tag.
        tag: i32,
        /// What is wrong.
        message: &'static str,
    },
    /// A required tag is absent.
    #[error("the header has no tag {0}")]
    Missing(i32),
}

/// What an SBOM lists of one header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `NAME`.
    pub name: String,
    /// `VERSION`.
    pub version: String,
    /// `RELEASE`.
    pub release: String,
    /// `EPOCH`, when set.
    pub epoch: Option<u32>,
    /// `ARCH`, when set.
    pub arch: Option<String>,
    /// `LICENSE`, when set.
    pub license: Option<String>,
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads one header blob as the `Packages` table stores it (no leading magic): `il`, `dl`
/// (big-endian u32), `il` 16-byte entries (tag, type, offset, count), the data store.
pub fn header(blob: &[u8]) -> Result<Header, HeaderError> {
    if blob.len() < 8 {
        return Err(HeaderError::Truncated {
            len: blob.len(),
            need: 8,
        });
    }
    let (il, dl) = (be_u32(blob, 0), be_u32(blob, 4));
    if il > MAX_ENTRIES || dl > MAX_DATA {
        return Err(HeaderError::TooLarge { il, dl });
    }
    let need = 8 + 16 * u64::from(il) + u64::from(dl);
    if (blob.len() as u64) < need {
        return Err(HeaderError::Truncated {
            len: blob.len(),
            need,
        });
    }
    let entries = &blob[8..8 + 16 * il as usize];
    let data = &blob[8 + 16 * il as usize..need as usize];
    let find = |tag: i32| {
        entries.chunks_exact(16).find_map(|entry| {
            let field = |n: usize| be_u32(entry, 4 * n) as i32;
            (field(0) == tag).then(|| (field(1), field(2), field(3)))
        })
    };
    let string = |tag: i32| -> Result<Option<String>, HeaderError> {
        let Some((kind, offset, _)) = find(tag) else {
            return Ok(None);
        };
        let bad = |message| HeaderError::BadTag { tag, message };
        if kind != TYPE_STRING && kind != TYPE_I18NSTRING {
            return Err(bad("not a string"));
        }
        let start = usize::try_from(offset)
            .ok()
            .filter(|start| *start < data.len())
            .ok_or_else(|| bad("offset outside the data"))?;
        let rest = &data[start..data.len().min(start + MAX_STRING + 1)];
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| bad("no terminating NUL within bounds"))?;
        let text = std::str::from_utf8(&rest[..end]).map_err(|_| bad("not UTF-8"))?;
        Ok(Some(text.to_string()))
    };
    let required = |tag| string(tag)?.ok_or(HeaderError::Missing(tag));
    let epoch = match find(TAG_EPOCH) {
        None => None,
        Some((kind, offset, count)) => {
            let bad = |message| HeaderError::BadTag {
                tag: TAG_EPOCH,
                message,
            };
            if kind != TYPE_INT32 || count < 1 {
                return Err(bad("not an int32"));
            }
            let start = usize::try_from(offset)
                .ok()
                .filter(|start| start.checked_add(4).is_some_and(|end| end <= data.len()))
                .ok_or_else(|| bad("offset outside the data"))?;
            Some(be_u32(data, start))
        }
    };
    Ok(Header {
        name: required(TAG_NAME)?,
        version: required(TAG_VERSION)?,
        release: required(TAG_RELEASE)?,
        epoch,
        arch: string(TAG_ARCH)?,
        license: string(TAG_LICENSE)?,
    })
}

/// What one SQLite database gave.
#[derive(Debug, Default)]
pub struct Read {
    /// Its packages (`gpg-pubkey` pseudo-packages left out).
    pub packages: Vec<Package>,
    /// Headers refused (each logged as a warning).
    pub skipped: usize,
    /// Whether [`MAX_PACKAGES`] cut it short.
    pub truncated: bool,
}

/// `path` as a SQLite URI path: everything but unreserved characters and `/`
/// percent-encoded.
fn uri_path(path: &std::path::Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(byte) {
            out.push(*byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Reads the packages of an `rpmdb.sqlite` (`database`, its bytes): written to a temporary
/// file and opened read-only and immutable (no journal, `-wal` or `-shm` read or made).
/// `path` names it in warnings.
pub fn read_sqlite(path: &str, database: &[u8]) -> Result<Read, String> {
    let mut file = tempfile::NamedTempFile::new().map_err(|err| err.to_string())?;
    file.write_all(database).map_err(|err| err.to_string())?;
    file.flush().map_err(|err| err.to_string())?;
    let uri = format!("file:{}?immutable=1", uri_path(file.path()));
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let sql = |err: rusqlite::Error| err.to_string();
    let connection = rusqlite::Connection::open_with_flags(uri, flags).map_err(sql)?;
    let mut statement = connection
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sql)?;
    let mut rows = statement.query([]).map_err(sql)?;
    let mut out = Read::default();
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        if seen == MAX_PACKAGES {
            out.truncated = true;
            tracing::warn!(database = %path, limit = MAX_PACKAGES, "rpm database has more packages than are read");
            break;
        }
        seen += 1;
        let hnum: i64 = row.get(0).unwrap_or(-1);
        let parsed = match row.get_ref(1).map_err(sql)? {
            rusqlite::types::ValueRef::Blob(blob) => header(blob).map_err(|err| err.to_string()),
            _ => Err("the blob column is not a blob".to_string()),
        };
        match parsed {
            Ok(header) if header.name == "gpg-pubkey" => {}
            Ok(header) => out.packages.push(Package {
                kind: "rpm",
                name: header.name,
                version: format!("{}-{}", header.version, header.release),
                epoch: header.epoch,
                architecture: header.arch,
                license: header.license,
            }),
            Err(err) => {
                out.skipped += 1;
                tracing::warn!(database = %path, hnum, error = %err, "rpm header skipped");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header blob of `(tag, type, value)`: strings NUL-terminated, int32s big-endian.
    pub(crate) fn build(tags: &[(i32, i32, &[u8])]) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, value) in tags {
            if *kind == TYPE_INT32 {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
            }
            for field in [*tag, *kind, data.len() as i32, 1] {
                entries.extend_from_slice(&field.to_be_bytes());
            }
            data.extend_from_slice(value);
            if *kind == TYPE_STRING {
                data.push(0);
            }
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(tags.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend_from_slice(&entries);
        blob.extend_from_slice(&data);
        blob
    }

    /// The bytes of an rpm SQLite database whose `Packages` table holds `rows`.
    pub(crate) fn sqlite_database(rows: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
            .unwrap();
        for (hnum, blob) in rows {
            db.execute("INSERT INTO Packages VALUES (?1, ?2)", (hnum, blob))
                .unwrap();
        }
        drop(db);
        std::fs::read(&path).unwrap()
    }

    pub(crate) fn package(name: &str, epoch: Option<u32>) -> Vec<u8> {
        let mut tags: Vec<(i32, i32, Vec<u8>)> = vec![
            (TAG_NAME, TYPE_STRING, name.as_bytes().to_vec()),
            (TAG_VERSION, TYPE_STRING, b"1.2".to_vec()),
            (TAG_RELEASE, TYPE_STRING, b"3.fc40".to_vec()),
            (TAG_ARCH, TYPE_STRING, b"x86_64".to_vec()),
            (TAG_LICENSE, TYPE_STRING, b"MIT".to_vec()),
        ];
        if let Some(epoch) = epoch {
            tags.push((TAG_EPOCH, TYPE_INT32, epoch.to_be_bytes().to_vec()));
        }
        let tags: Vec<(i32, i32, &[u8])> = tags.iter().map(|(t, k, v)| (*t, *k, &v[..])).collect();
        build(&tags)
    }

    #[test]
    fn a_header_is_read() {
        assert_eq!(
            header(&package("bash", Some(2))).unwrap(),
            Header {
                name: "bash".into(),
                version: "1.2".into(),
                release: "3.fc40".into(),
                epoch: Some(2),
                arch: Some("x86_64".into()),
                license: Some("MIT".into()),
            }
        );
        let plain = header(&package("zlib", None)).unwrap();
        assert_eq!((plain.epoch, plain.name.as_str()), (None, "zlib"));
    }

    #[test]
    fn hostile_headers_are_refused() {
        let good = package("bash", Some(1));
        // Every truncation is refused, none panics.
        for len in 0..good.len() {
            assert!(header(&good[..len]).is_err(), "truncated to {len}");
        }
        // A huge il (and dl): refused before anything is sized by it.
        let mut huge = good.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(header(&huge), Err(HeaderError::TooLarge { .. })));
        let mut huge = good.clone();
        huge[0..4].copy_from_slice(&0xfff0u32.to_be_bytes());
        assert!(matches!(header(&huge), Err(HeaderError::Truncated { .. })));
        // NAME's offset past dl.
        let mut past = good.clone();
        past[8 + 8..8 + 12].copy_from_slice(&0x7fff_fff0i32.to_be_bytes());
        assert_eq!(
            header(&past),
            Err(HeaderError::BadTag {
                tag: TAG_NAME,
                message: "offset outside the data"
            })
        );
        // A negative offset, an epoch at the data's last byte.
        let mut negative = good.clone();
        negative[8 + 8..8 + 12].copy_from_slice(&(-4i32).to_be_bytes());
        assert!(header(&negative).is_err());
        let epoch_entry = 8 + 16 * 5;
        let dl = be_u32(&good, 4) as i32;
        let mut edge = good.clone();
        edge[epoch_entry + 8..epoch_entry + 12].copy_from_slice(&(dl - 1).to_be_bytes());
        assert!(header(&edge).is_err());
        // A string with no NUL before the data ends; a string far longer than any name.
        let mut unterminated = build(&[(TAG_NAME, TYPE_STRING, b"abc")]);
        unterminated.pop();
        unterminated[4..8].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(
            header(&unterminated),
            Err(HeaderError::BadTag {
                tag: TAG_NAME,
                message: "no terminating NUL within bounds"
            })
        );
        let long = vec![b'a'; MAX_STRING + 10];
        let long = build(&[
            (TAG_NAME, TYPE_STRING, &long),
            (TAG_VERSION, TYPE_STRING, b"1"),
            (TAG_RELEASE, TYPE_STRING, b"1"),
        ]);
        assert!(header(&long).is_err());
        // A name that is an int32, a header without NAME.
        assert!(header(&build(&[(TAG_NAME, TYPE_INT32, &[0, 0, 0, 1])])).is_err());
        assert_eq!(
            header(&build(&[(TAG_VERSION, TYPE_STRING, b"1")])),
            Err(HeaderError::Missing(TAG_NAME))
        );
    }

    #[test]
    fn a_sqlite_database_is_read() {
        let bytes = sqlite_database(&[
            (1, package("bash", None)),
            (2, package("gpg-pubkey", None)),
            (3, package("shadow-utils", Some(2))),
            (4, b"\0\0\0\x09garbage".to_vec()),
        ]);
        let read = read_sqlite("var/lib/rpm/rpmdb.sqlite", &bytes).unwrap();
        let names: Vec<_> = read
            .packages
            .iter()
            .map(|p| format!("{} {} {:?}", p.name, p.version, p.epoch))
            .collect();
        assert_eq!(
            names,
            ["bash 1.2-3.fc40 None", "shadow-utils 1.2-3.fc40 Some(2)"]
        );
        assert_eq!((read.skipped, read.truncated), (1, false));
        // Not a database at all: a clear error.
        let err = read_sqlite("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0").unwrap_err();
        assert!(!err.is_empty());
        assert_eq!(
            uri_path(std::path::Path::new("/t m/a?#%")),
            "/t%20m/a%3F%23%25"
        );
    }
}
