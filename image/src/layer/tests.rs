// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of the layer writer: what comes out decompresses to a tar whose hashes and sizes are
//! the reported ones, reads back entry for entry with the `tar` crate, is reproducible, and
//! streams without holding the layer.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;

use tar::{Archive, EntryType};

use super::*;
use kaniko_common::oci::{OCI_LAYER_GZIP, sha256_digest};

const MTIME: i64 = 1_700_000_000;

fn entry(path: &str, kind: EntryKind, mode: u32) -> LayerEntry {
    LayerEntry {
        mode,
        mtime: MTIME,
        ..LayerEntry::new(path, kind)
    }
}

fn long_path() -> String {
    format!("opt/{}/{}", "d".repeat(120), "f".repeat(120))
}

fn long_target() -> String {
    format!("/{}", "t".repeat(150))
}

fn capability() -> Vec<u8> {
    vec![
        1, 0, 0, 2, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]
}

/// Writes the sample set: every entry kind, long names, PAX-only values, whiteouts.
fn write_sample<W: Write>(w: &mut LayerWriter<W>) -> io::Result<()> {
    w.append(&entry("/usr", EntryKind::Dir, 0o755), None)?;
    w.append(&entry("usr/bin", EntryKind::Dir, 0o755), None)?;
    let mut hello = entry("usr/bin/hello", EntryKind::File { size: 6 }, 0o4755);
    hello.uid = 1000;
    hello.gid = 1000;
    hello
        .xattrs
        .insert("security.capability".into(), capability());
    hello
        .xattrs
        .insert("user.note".into(), b"\xff\x00bin".to_vec());
    w.append(&hello, Some(&mut &b"hello\n"[..]))?;
    w.append(
        &entry(
            "usr/bin/hi",
            EntryKind::Symlink {
                target: "hello".into(),
            },
            0o777,
        ),
        None,
    )?;
    w.append(
        &entry(
            "usr/bin/hello2",
            EntryKind::Hardlink {
                target: "/usr/bin/hello".into(),
            },
            0o4755,
        ),
        None,
    )?;
    w.append(&entry("tmp", EntryKind::Dir, 0o1777), None)?;
    let data = vec![b'x'; 1000];
    w.append(
        &entry(&long_path(), EntryKind::File { size: 1000 }, 0o644),
        Some(&mut data.as_slice()),
    )?;
    w.append(
        &entry("srv/é.txt", EntryKind::File { size: 0 }, 0o600),
        None,
    )?;
    w.append(
        &entry(
            "lnk",
            EntryKind::Symlink {
                target: long_target().into(),
            },
            0o777,
        ),
        None,
    )?;
    w.append(
        &entry("dev/null", EntryKind::CharDev { major: 1, minor: 3 }, 0o666),
        None,
    )?;
    w.append(
        &entry("dev/sda", EntryKind::BlockDev { major: 8, minor: 0 }, 0o660),
        None,
    )?;
    w.append(&entry("run/fifo", EntryKind::Fifo, 0o644), None)?;
    let mut big = entry("big-uid", EntryKind::File { size: 0 }, 0o644);
    big.uid = 3_000_000;
    big.mtime = -5;
    w.append(&big, None)?;
    w.append_whiteout(Path::new("/etc/removed"))?;
    w.append_opaque(Path::new("var/cache"))?;
    Ok(())
}
const SAMPLE_ENTRIES: u64 = 15;

/// A layer writer into memory with `compression` and every other option at its default.
fn writer(compression: Compression) -> LayerWriter<Vec<u8>> {
    LayerWriter::new(
        Vec::new(),
        LayerOptions {
            compression,
            ..Default::default()
        },
    )
    .unwrap()
}

fn write_layer(opts: LayerOptions) -> (Vec<u8>, LayerInfo) {
    let mut w = LayerWriter::new(Vec::new(), opts).unwrap();
    write_sample(&mut w).unwrap();
    w.finish().unwrap()
}

fn decompress(blob: &[u8], compression: Compression) -> Vec<u8> {
    let mut out = Vec::new();
    match compression {
        Compression::Gzip => {
            flate2::read::GzDecoder::new(blob)
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(blob)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Uncompressed => out.extend_from_slice(blob),
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
struct ReadBack {
    path: String,
    kind: EntryType,
    mode: u32,
    uid: u64,
    mtime: u64,
    link: Option<String>,
    device: Option<(u32, u32)>,
    pax: BTreeMap<String, Vec<u8>>,
    data: Vec<u8>,
}

fn read_back(tar: &[u8]) -> Vec<ReadBack> {
    let mut archive = Archive::new(tar);
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let mut pax = BTreeMap::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                pax.insert(ext.key().unwrap().to_owned(), ext.value_bytes().to_vec());
            }
        }
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(ReadBack {
            path: e.path().unwrap().to_string_lossy().into_owned(),
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            mtime: h.mtime().unwrap(),
            link: e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned()),
            device: h.device_major().unwrap().zip(h.device_minor().unwrap()),
            pax,
            data,
        });
    }
    out
}

fn find<'a>(entries: &'a [ReadBack], path: &str) -> &'a ReadBack {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("{path} not in layer: {entries:#?}"))
}

#[test]
fn every_compression_reports_true_hashes_and_sizes() {
    fn check(compression: Compression, mode: OciMode, media_type: &str) {
        let opts = LayerOptions {
            compression,
            mode,
            ..LayerOptions::default()
        };
        let (blob, info) = write_layer(opts);
        let tar = decompress(&blob, compression);
        assert_eq!(info.digest, sha256_digest(&blob), "{compression}");
        assert_eq!(info.size, blob.len() as u64);
        assert_eq!(info.diff_id, sha256_digest(&tar));
        assert_eq!(info.uncompressed_size, tar.len() as u64);
        assert_eq!(tar.len() % 512, 0);
        assert!(tar.ends_with(&[0u8; 1024]));
        assert_eq!(info.media_type, media_type);
        assert_eq!(info.entries, SAMPLE_ENTRIES);
        assert_eq!(
            diff_id_of_layer(blob.as_slice(), compression).unwrap(),
            info.diff_id
        );
        assert_eq!(read_back(&tar).len() as u64, SAMPLE_ENTRIES);
        let d = info.descriptor();
        assert_eq!(
            (d.digest, d.size, d.media_type),
            (info.digest, info.size, info.media_type)
        );
    }
    check(Compression::Gzip, OciMode::Oci, OCI_LAYER_GZIP);
    check(
        Compression::Zstd,
        OciMode::Oci,
        kaniko_common::oci::OCI_LAYER_ZSTD,
    );
    check(
        Compression::Uncompressed,
        OciMode::Oci,
        kaniko_common::oci::OCI_LAYER_TAR,
    );
    check(
        Compression::Gzip,
        OciMode::Docker,
        kaniko_common::oci::DOCKER_LAYER_GZIP,
    );
    check(
        Compression::Zstd,
        OciMode::Docker,
        kaniko_common::oci::DOCKER_LAYER_ZSTD,
    );
}

#[test]
fn entries_survive_a_read_back() {
    let (tar, _) = write_layer(LayerOptions {
        compression: Compression::Uncompressed,
        ..LayerOptions::default()
    });
    let entries = read_back(&tar);
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let long = long_path();
    assert_eq!(
        paths,
        [
            "usr/",
            "usr/bin/",
            "usr/bin/hello",
            "usr/bin/hi",
            "usr/bin/hello2",
            "tmp/",
            &long,
            "srv/é.txt",
            "lnk",
            "dev/null",
            "dev/sda",
            "run/fifo",
            "big-uid",
            "etc/.wh.removed",
            "var/cache/.wh..wh..opq",
        ]
    );

    let hello = find(&entries, "usr/bin/hello");
    assert_eq!(
        (hello.kind, hello.mode, hello.uid),
        (EntryType::Regular, 0o4755, 1000)
    );
    assert_eq!(hello.data, b"hello\n");
    assert_eq!(
        hello.pax.get("SCHILY.xattr.security.capability"),
        Some(&capability())
    );
    assert_eq!(
        hello.pax.get("SCHILY.xattr.user.note").map(Vec::as_slice),
        Some(&b"\xff\x00bin"[..])
    );

    let hi = find(&entries, "usr/bin/hi");
    assert_eq!(
        (hi.kind, hi.link.as_deref()),
        (EntryType::Symlink, Some("hello"))
    );
    let hello2 = find(&entries, "usr/bin/hello2");
    assert_eq!(
        (hello2.kind, hello2.link.as_deref()),
        (EntryType::Link, Some("usr/bin/hello"))
    );
    assert!(hello2.data.is_empty());

    assert_eq!(find(&entries, "tmp/").mode, 0o1777);
    assert_eq!(find(&entries, "tmp/").kind, EntryType::Directory);
    let long_entry = find(&entries, &long);
    assert_eq!(long_entry.data, vec![b'x'; 1000]);
    assert_eq!(long_entry.pax.get("path"), Some(&long.as_bytes().to_vec()));
    assert!(find(&entries, "srv/é.txt").pax.contains_key("path"));
    assert_eq!(
        find(&entries, "lnk").link.as_deref(),
        Some(long_target().as_str())
    );

    let null = find(&entries, "dev/null");
    assert_eq!((null.kind, null.device), (EntryType::Char, Some((1, 3))));
    assert_eq!(find(&entries, "dev/sda").device, Some((8, 0)));
    assert_eq!(find(&entries, "run/fifo").kind, EntryType::Fifo);
    assert_eq!(
        find(&entries, "big-uid").pax.get("uid"),
        Some(&b"3000000".to_vec())
    );

    let whiteout = find(&entries, "etc/.wh.removed");
    assert_eq!(
        (whiteout.kind, whiteout.mode, whiteout.mtime),
        (EntryType::Regular, 0, 0)
    );
    assert_eq!(
        find(&entries, "var/cache/.wh..wh..opq").kind,
        EntryType::Regular
    );

    // No owner names, USTAR magic, and never atime/ctime.
    let mut archive = Archive::new(tar.as_slice());
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        assert!(e.header().as_ustar().is_some());
        assert_eq!(e.header().username_bytes(), Some(&b""[..]));
        assert_eq!(e.header().groupname_bytes(), Some(&b""[..]));
    }
    for e in &entries {
        assert!(
            !e.pax.keys().any(|k| k == "atime" || k == "ctime"),
            "{}",
            e.path
        );
    }
}

#[test]
fn mtimes_kept_unless_reproducible() {
    fn check(reproducible: bool, hello_mtime: u64, negative: Option<&[u8]>) {
        let (tar, _) = write_layer(LayerOptions {
            compression: Compression::Uncompressed,
            reproducible,
            ..LayerOptions::default()
        });
        let entries = read_back(&tar);
        assert_eq!(find(&entries, "usr/bin/hello").mtime, hello_mtime);
        assert_eq!(
            find(&entries, "big-uid")
                .pax
                .get("mtime")
                .map(Vec::as_slice),
            negative
        );
        if reproducible {
            assert!(entries.iter().all(|e| e.mtime == 0));
        }
    }
    check(false, MTIME as u64, Some(b"-5"));
    check(true, 0, None);
}

#[test]
fn reproducible_layers_are_identical() {
    for compression in [Compression::Gzip, Compression::Zstd] {
        let opts = LayerOptions {
            compression,
            reproducible: true,
            ..LayerOptions::default()
        };
        let (a, info_a) = write_layer(opts);
        let (b, info_b) = write_layer(opts);
        assert_eq!(a, b, "{compression}");
        assert_eq!(info_a, info_b);
    }
}

#[test]
fn compress_stream_gives_the_layer_writers_bytes() {
    // A layer of several gzip chunks: a text file and incompressible noise.
    let text: Vec<u8> = (0..60_000u32)
        .flat_map(|i| format!("{i} some text\n").into_bytes())
        .collect();
    for compression in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Uncompressed,
    ] {
        let opts = LayerOptions {
            compression,
            reproducible: true,
            ..LayerOptions::default()
        };
        let mut w = LayerWriter::new(Vec::new(), opts).unwrap();
        let size = text.len() as u64;
        w.append(
            &LayerEntry::new("text", EntryKind::File { size }),
            Some(&mut text.as_slice()),
        )
        .unwrap();
        let mut noise = Noise {
            state: 5,
            left: 700_000,
        };
        w.append(
            &LayerEntry::new("noise", EntryKind::File { size: 700_000 }),
            Some(&mut noise),
        )
        .unwrap();
        let (blob, info) = w.finish().unwrap();
        let tar = decompress(&blob, compression);
        assert_eq!(tar.len() as u64, info.uncompressed_size);
        let (again, read) = compress_stream(tar.as_slice(), Vec::new(), compression, None).unwrap();
        assert_eq!(read, info.uncompressed_size);
        assert!(again == blob, "{compression}: compress_stream differs");
        assert_eq!(
            diff_id_of_layer(blob.as_slice(), compression).unwrap(),
            info.diff_id
        );
    }
}

#[test]
fn empty_layer_is_the_end_marker() {
    for compression in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Uncompressed,
    ] {
        let w = writer(compression);
        let (blob, info) = w.finish().unwrap();
        assert_eq!(decompress(&blob, compression), vec![0u8; 1024]);
        assert_eq!(info.diff_id, EMPTY_LAYER_DIFF_ID);
        assert_eq!(info.uncompressed_size, EMPTY_TAR_SIZE);
        assert!(info.is_empty());
    }
    assert_eq!(sha256_digest(&[0u8; 1024]), EMPTY_LAYER_DIFF_ID);
}

#[test]
fn bad_entries_are_refused_and_poison_the_writer() {
    // (entry, content, substring of the error)
    fn check(e: LayerEntry, content: Option<&[u8]>, needle: &str) {
        let mut w = LayerWriter::new(Vec::new(), LayerOptions::default()).unwrap();
        let mut reader = content;
        let err = w
            .append(&e, reader.as_mut().map(|r| r as &mut dyn Read))
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        let again = w
            .append(&LayerEntry::new("ok", EntryKind::Dir), None)
            .unwrap_err();
        assert!(again.to_string().contains("failed earlier"), "{again}");
        assert!(w.finish().is_err());
    }
    check(
        LayerEntry::new("a/../../etc", EntryKind::Dir),
        None,
        "a/../../etc: path contains `..`",
    );
    check(
        LayerEntry::new("/", EntryKind::Dir),
        None,
        "empty or the root",
    );
    check(
        LayerEntry::new("f", EntryKind::File { size: 3 }),
        None,
        "f: 3 bytes but no content",
    );
    check(
        LayerEntry::new("f", EntryKind::File { size: 10 }),
        Some(b"abc"),
        "f: content ended after 3 of 10",
    );
    check(
        LayerEntry::new("s", EntryKind::Symlink { target: "".into() }),
        None,
        "symlink target is empty",
    );
    let mut bad_xattr = LayerEntry::new("x", EntryKind::Dir);
    bad_xattr.xattrs.insert("user.a=b".into(), vec![]);
    check(bad_xattr, None, "xattr name");
}

#[test]
fn content_beyond_the_size_is_not_written() {
    let mut w = writer(Compression::Uncompressed);
    w.append(
        &LayerEntry::new("f", EntryKind::File { size: 3 }),
        Some(&mut &b"abcdef"[..]),
    )
    .unwrap();
    let (tar, _) = w.finish().unwrap();
    assert_eq!(find(&read_back(&tar), "f").data, b"abc");
}

#[test]
fn whiteout_needs_a_name() {
    let mut w = LayerWriter::new(Vec::new(), LayerOptions::default()).unwrap();
    let err = w.append_whiteout(Path::new("/")).unwrap_err();
    assert!(err.to_string().contains("whiteout for /"), "{err}");
}

#[test]
fn bad_level_is_refused_at_creation() {
    let opts = LayerOptions {
        level: Some(42),
        ..LayerOptions::default()
    };
    let err = LayerWriter::new(Vec::new(), opts).err().unwrap();
    assert!(
        err.to_string().contains("gzip compression level 42"),
        "{err}"
    );
}

#[test]
fn files_from_disk_keep_their_metadata() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("d")).unwrap();
    std::fs::set_permissions(root.join("d"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::write(root.join("d/f"), b"content").unwrap();
    std::fs::set_permissions(root.join("d/f"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::hard_link(root.join("d/f"), root.join("d/g")).unwrap();
    symlink("f", root.join("d/s")).unwrap();
    let fifo = std::ffi::CString::new(root.join("d/p").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let file = std::ffi::CString::new(root.join("d/f").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings and a 3-byte value.
    let xattr_set = unsafe {
        libc::lsetxattr(
            file.as_ptr(),
            c"user.kaniko".as_ptr(),
            b"yes".as_ptr().cast(),
            3,
            0,
        )
    } == 0;

    let mut w = writer(Compression::Uncompressed);
    for rel in ["d", "d/f", "d/g", "d/s", "d/p"] {
        w.append_from_disk(root, Path::new(rel), &Path::new("/app").join(rel))
            .unwrap();
    }
    let err = w
        .append_from_disk(root, Path::new("/etc"), Path::new("etc"))
        .unwrap_err();
    assert!(err.to_string().contains("must be relative"), "{err}");
    let (tar, info) = w.finish().unwrap();
    assert_eq!(info.entries, 5);
    let entries = read_back(&tar);
    let d = find(&entries, "app/d/");
    assert_eq!(
        (d.kind, d.mode, d.mtime),
        (EntryType::Directory, 0o750, {
            std::fs::symlink_metadata(root.join("d")).unwrap().mtime() as u64
        })
    );
    let f = find(&entries, "app/d/f");
    assert_eq!(
        (f.kind, f.mode, f.data.as_slice()),
        (EntryType::Regular, 0o4755, &b"content"[..])
    );
    // SAFETY: getuid has no preconditions.
    assert_eq!(f.uid, u64::from(unsafe { libc::getuid() }));
    if xattr_set {
        assert_eq!(
            f.pax.get("SCHILY.xattr.user.kaniko"),
            Some(&b"yes".to_vec())
        );
    }
    let g = find(&entries, "app/d/g");
    assert_eq!(
        (g.kind, g.link.as_deref()),
        (EntryType::Link, Some("app/d/f"))
    );
    let s = find(&entries, "app/d/s");
    assert_eq!((s.kind, s.link.as_deref()), (EntryType::Symlink, Some("f")));
    assert_eq!(find(&entries, "app/d/p").kind, EntryType::Fifo);
}

/// Incompressible bytes generated on the fly (xorshift), so nothing holds the input either.
struct Noise {
    state: u64,
    left: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let bytes = self.state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A sink that only counts.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const BIG: u64 = 64 * 1024 * 1024;

#[test]
fn streams_64_mib_through_a_fixed_buffer() {
    let opts = LayerOptions {
        level: Some(1),
        ..LayerOptions::default()
    };
    let mut w = LayerWriter::new(Count(0), opts).unwrap();
    let mut noise = Noise {
        state: 0x9e37_79b9_7f4a_7c15,
        left: BIG,
    };
    w.append(
        &LayerEntry::new("big", EntryKind::File { size: BIG }),
        Some(&mut noise),
    )
    .unwrap();
    let (sink, info) = w.finish().unwrap();
    assert_eq!(info.uncompressed_size, 512 + BIG + 1024);
    assert_eq!(sink.0, info.size);
    // Noise does not compress: the blob is at least as big as the data.
    assert!(info.size > BIG, "{}", info.size);
}

/// Runs the 64 MiB test alone in a child process and checks the child's peak RSS: had the
/// writer held the layer (or the input) in memory, the peak would exceed 64 MiB.
#[test]
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which also reports its peak RSS
fn streaming_does_not_hold_the_layer_in_memory() {
    let exe = std::env::current_exe().unwrap();
    let child = std::process::Command::new(exe)
        .args([
            "--exact",
            "layer::tests::streams_64_mib_through_a_fixed_buffer",
            "--test-threads=1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: all-zero is a valid `rusage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are valid for writes.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    let peak_kib = usage.ru_maxrss;
    assert!(
        peak_kib < 48 * 1024,
        "peak RSS {peak_kib} KiB for a 64 MiB layer"
    );
}
