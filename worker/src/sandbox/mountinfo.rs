// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Reading `/proc/self/mountinfo`: the mount points at or below a directory, in the order the
//! kernel lists them (a parent before the mounts on top of it), with the kernel's octal
//! escapes (`\040` for a space, `\011`, `\012`, `\134`) undone. The sandbox uses it to make
//! every sub-mount of a bound `/sys` read-only: `MS_REC` does not apply `MS_RDONLY` to them.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Undoes mountinfo's `\ooo` escapes.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The mount points in `mountinfo` (its text) that are `dir` or below it.
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape)
        .filter(|point| point.starts_with(dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/root rw
40 22 0:5 / /tmp/a\\040b/merged/sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs rw
41 40 0:6 / /tmp/a\\040b/merged/sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
42 41 0:7 / /tmp/a\\040b/merged/sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
43 22 0:8 / /tmp/a\\040b/merged/system rw - tmpfs tmpfs rw
44 22 0:9 / /tmp/tab\\011and\\134slash rw - tmpfs tmpfs rw
";

    #[test]
    fn mounts_below_a_directory_in_kernel_order() {
        let dir = Path::new("/tmp/a b/merged/sys");
        assert_eq!(
            mounts_under(SAMPLE, dir),
            [
                PathBuf::from("/tmp/a b/merged/sys"),
                PathBuf::from("/tmp/a b/merged/sys/fs/cgroup"),
                PathBuf::from("/tmp/a b/merged/sys/fs/cgroup/pids"),
            ]
        );
        // A sibling whose name only starts the same is not below it.
        assert!(!mounts_under(SAMPLE, dir).contains(&PathBuf::from("/tmp/a b/merged/system")));
        assert_eq!(
            mounts_under(SAMPLE, Path::new("/tmp/tab\tand\\slash")),
            [PathBuf::from("/tmp/tab\tand\\slash")]
        );
        assert!(mounts_under("", dir).is_empty());
        assert!(mounts_under("garbage\n", dir).is_empty());
    }

    #[test]
    fn escapes_are_undone_and_odd_ones_kept() {
        assert_eq!(unescape("a\\040b"), PathBuf::from("a b"));
        assert_eq!(unescape("a\\04"), PathBuf::from("a\\04"));
        assert_eq!(unescape("a\\999"), PathBuf::from("a\\999"));
        assert_eq!(unescape("\\"), PathBuf::from("\\"));
    }
}
