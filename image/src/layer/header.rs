// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tar headers as Go's `archive/tar` (Kaniko) writes them: USTAR when the entry fits
//! (ASCII names up to 100 bytes, or split into the 155-byte prefix), otherwise a PAX extended
//! header first. Paths are relative without a leading `/`, directories end in `/`, user and
//! group names are empty, PAX records are sorted by key and never carry atime or ctime.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use tar::{EntryType, Header};

use super::{EntryKind, LayerEntry};

/// Tar block size.
pub(crate) const BLOCK: usize = 512;
/// Largest value of an 8-byte octal field (uid, gid, mode, device numbers).
const MAX_OCTAL8: u64 = 0o7777777;
/// Largest value of a 12-byte octal field (size, mtime).
const MAX_OCTAL12: u64 = 0o77777777777;

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("layer entry {}: {what}", path.display()),
    )
}

/// The in-layer form of `path`: components joined by `/`, no leading `/` or `./`, no `..`.
pub(crate) fn layer_path(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(path.as_os_str().len());
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => return Err(invalid(path, "path contains `..`")),
            Component::Normal(name) => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(name.as_bytes());
            }
        }
    }
    if out.is_empty() {
        return Err(invalid(path, "path is empty or the root"));
    }
    if out.contains(&0) {
        return Err(invalid(path, "path contains a NUL byte"));
    }
    Ok(out)
}

/// Go's `splitUSTARPath`: a (prefix, name) split of an ASCII path longer than 100 bytes.
fn split_ustar(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = name.len();
    if length <= 100 || !name.is_ascii() {
        return None;
    }
    if length > 156 {
        length = 156;
    } else if name.get(length - 1) == Some(&b'/') {
        length -= 1;
    }
    let i = name.get(..length)?.iter().rposition(|&b| b == b'/')?;
    let (prefix, rest) = name.split_at(i);
    let suffix = rest.get(1..)?;
    if i == 0 || suffix.is_empty() || suffix.len() > 100 || prefix.len() > 155 {
        return None;
    }
    Some((prefix, suffix))
}

fn copy_truncated(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    if let (Some(dst), Some(src)) = (field.get_mut(..n), value.get(..n)) {
        dst.copy_from_slice(src);
    }
}

/// One PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let base = key.len() + value.len() + 3;
    let mut len = base + base.to_string().len();
    if len.to_string().len() + base != len {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn padding(len: u64) -> usize {
    let rem = (len % BLOCK as u64) as usize;
    if rem == 0 { 0 } else { BLOCK - rem }
}

/// Zero bytes to append after `len` bytes of data to reach a block boundary.
pub(crate) fn padding_for(len: u64) -> &'static [u8] {
    const ZEROS: [u8; BLOCK] = [0; BLOCK];
    ZEROS.get(..padding(len)).unwrap_or_default()
}

fn ustar_header(entry_type: EntryType) -> io::Result<Header> {
    let mut h = Header::new_ustar();
    h.set_entry_type(entry_type);
    h.set_mode(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h.set_device_major(0)?;
    h.set_device_minor(0)?;
    Ok(h)
}

/// The bytes that precede an entry's data: a PAX header (and its records) when needed, then
/// the USTAR header. `reproducible` forces mtime 0.
pub(crate) fn encode(entry: &LayerEntry, reproducible: bool) -> io::Result<Vec<u8>> {
    let path = &entry.path;
    let mut name = layer_path(path)?;
    let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();

    let (entry_type, size, link, device) = match &entry.kind {
        EntryKind::File { size } => (EntryType::Regular, *size, None, None),
        EntryKind::Dir => {
            name.push(b'/');
            (EntryType::Directory, 0, None, None)
        }
        EntryKind::Symlink { target } => {
            let target = target.as_os_str().as_bytes().to_vec();
            if target.is_empty() || target.contains(&0) {
                return Err(invalid(path, "symlink target is empty or contains NUL"));
            }
            (EntryType::Symlink, 0, Some(target), None)
        }
        EntryKind::Hardlink { target } => (EntryType::Link, 0, Some(layer_path(target)?), None),
        EntryKind::CharDev { major, minor } => (EntryType::Char, 0, None, Some((*major, *minor))),
        EntryKind::BlockDev { major, minor } => (EntryType::Block, 0, None, Some((*major, *minor))),
        EntryKind::Fifo => (EntryType::Fifo, 0, None, None),
    };

    let mut header = ustar_header(entry_type)?;
    header.set_mode(entry.mode & 0o7777);

    if entry.uid > MAX_OCTAL8 {
        pax.insert("uid".into(), entry.uid.to_string().into_bytes());
    } else {
        header.set_uid(entry.uid);
    }
    if entry.gid > MAX_OCTAL8 {
        pax.insert("gid".into(), entry.gid.to_string().into_bytes());
    } else {
        header.set_gid(entry.gid);
    }
    if size > MAX_OCTAL12 {
        pax.insert("size".into(), size.to_string().into_bytes());
    } else {
        header.set_size(size);
    }
    let mtime = if reproducible { 0 } else { entry.mtime };
    match u64::try_from(mtime) {
        Ok(m) if m <= MAX_OCTAL12 => header.set_mtime(m),
        _ => {
            pax.insert("mtime".into(), mtime.to_string().into_bytes());
        }
    }
    if let Some((major, minor)) = device {
        if u64::from(major) > MAX_OCTAL8 || u64::from(minor) > MAX_OCTAL8 {
            return Err(invalid(
                path,
                format!("device {major}:{minor} too large for tar"),
            ));
        }
        header.set_device_major(major)?;
        header.set_device_minor(minor)?;
    }
    for (key, value) in &entry.xattrs {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(invalid(
                path,
                format!("xattr name {key:?} cannot be stored in tar"),
            ));
        }
        pax.insert(format!("SCHILY.xattr.{key}"), value.clone());
    }

    let ustar = header
        .as_ustar_mut()
        .ok_or_else(|| io::Error::other("tar header is not ustar"))?;
    if name.len() <= 100 && name.is_ascii() {
        copy_truncated(&mut ustar.name, &name);
    } else if let Some((prefix, suffix)) = split_ustar(&name) {
        copy_truncated(&mut ustar.prefix, prefix);
        copy_truncated(&mut ustar.name, suffix);
    } else {
        copy_truncated(&mut ustar.name, &name);
        pax.insert("path".into(), name.clone());
    }
    if let Some(link) = &link {
        copy_truncated(&mut ustar.linkname, link);
        if link.len() > 100 || !link.is_ascii() {
            pax.insert("linkpath".into(), link.clone());
        }
    }
    header.set_cksum();

    let mut out = Vec::with_capacity(BLOCK * 3);
    if !pax.is_empty() {
        let mut records = Vec::new();
        for (key, value) in &pax {
            pax_record(&mut records, key, value);
        }
        let base = name
            .rsplit(|&b| b == b'/')
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        let mut pax_name = b"PaxHeaders.0/".to_vec();
        pax_name.extend_from_slice(base);
        let mut pax_header = ustar_header(EntryType::XHeader)?;
        pax_header.set_mode(0o644);
        pax_header.set_size(records.len() as u64);
        if let Some(u) = pax_header.as_ustar_mut() {
            copy_truncated(&mut u.name, &pax_name);
        }
        pax_header.set_cksum();
        out.extend_from_slice(pax_header.as_bytes());
        out.extend_from_slice(&records);
        out.extend_from_slice(padding_for(records.len() as u64));
    }
    out.extend_from_slice(header.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_paths_are_relative_and_clean() {
        fn check(input: &str, expected: Option<&str>) {
            let got = layer_path(Path::new(input)).ok();
            assert_eq!(got.as_deref(), expected.map(str::as_bytes), "{input}");
        }
        check("/usr/bin/x", Some("usr/bin/x"));
        check("usr/bin/x", Some("usr/bin/x"));
        check("./etc//passwd", Some("etc/passwd"));
        check("/a/./b/", Some("a/b"));
        check("/", None);
        check("", None);
        check(".", None);
        check("a/../b", None);
        check("../etc", None);
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        fn check(key: &str, value: &str, expected: &str) {
            let mut out = Vec::new();
            pax_record(&mut out, key, value.as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
        check("path", "a", "9 path=a\n");
        // 98 bytes + 2 digits would be 100, which needs 3 digits: the record is 101 long.
        let long = "x".repeat(91);
        check("path", &long, &format!("101 path={long}\n"));
        let shorter = "x".repeat(90);
        check("path", &shorter, &format!("99 path={shorter}\n"));
    }

    #[test]
    fn ustar_split_follows_go() {
        fn check(name: &str, expected: Option<(&str, &str)>) {
            let got = split_ustar(name.as_bytes());
            let want = expected.map(|(p, n)| (p.as_bytes(), n.as_bytes()));
            assert_eq!(got, want, "{name}");
        }
        let dir = "d".repeat(60);
        let file = "f".repeat(60);
        check(&format!("{dir}/{file}"), Some((&dir, &file)));
        check(&format!("{dir}/{file}/"), Some((&dir, &format!("{file}/"))));
        check(&"f".repeat(101), None);
        check(&format!("{}/{}", "d".repeat(10), "f".repeat(101)), None);
        check(&format!("{}/{}", "d".repeat(156), "f".repeat(10)), None);
        check("short", None);
    }

    #[test]
    fn padding_reaches_the_next_block() {
        fn check(len: u64, expected: usize) {
            assert_eq!(padding_for(len).len(), expected, "{len}");
        }
        check(0, 0);
        check(1, 511);
        check(512, 0);
        check(513, 511);
    }
}
