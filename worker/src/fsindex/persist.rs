// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The on-disk form of an [`FsIndex`] (the layer store keeps one per base image, see
//! [`crate::store::Store::load_index`]): a magic and format version, the nodes, the captured
//! files and the capture set, each string and count length-prefixed, then the sha256 of all
//! of it. A file of another version, truncated or altered, decodes to `None` (the caller
//! indexes the layers again), never to a wrong index.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{FsIndex, Node, NodeKind};

/// Leading bytes of every index file.
const MAGIC: &[u8; 8] = b"KRFSIDX\0";
/// Bumped whenever what is written changes: an older file is ignored.
pub const FORMAT_VERSION: u32 = 1;

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }
    fn path(&mut self) -> Option<PathBuf> {
        Some(PathBuf::from(std::ffi::OsString::from_vec(
            self.bytes()?.to_vec(),
        )))
    }
    /// A count no larger than what the rest of the buffer could hold.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.buf.len()).then_some(n)
    }
}

impl FsIndex {
    /// The index as bytes (see the module's documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.nodes.len() * 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        put_u64(&mut out, self.nodes.len() as u64);
        for (path, node) in &self.nodes {
            put_bytes(&mut out, path.as_os_str().as_bytes());
            let (tag, link): (u8, &[u8]) = match &node.kind {
                NodeKind::File => (0, b""),
                NodeKind::Dir => (1, b""),
                NodeKind::Symlink(t) => (2, t.as_os_str().as_bytes()),
                NodeKind::Hardlink(t) => (3, t.as_os_str().as_bytes()),
                NodeKind::Other => (4, b""),
            };
            out.push(tag);
            put_bytes(&mut out, link);
            out.extend_from_slice(&node.mode.to_le_bytes());
            put_u64(&mut out, node.uid);
            put_u64(&mut out, node.gid);
            put_u64(&mut out, node.size);
        }
        put_u64(&mut out, self.captured.len() as u64);
        for (path, content) in &self.captured {
            put_bytes(&mut out, path.as_os_str().as_bytes());
            put_bytes(&mut out, content);
        }
        put_u64(&mut out, self.capture.len() as u64);
        for path in &self.capture {
            put_bytes(&mut out, path.as_os_str().as_bytes());
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// The index `bytes` hold; `None` for another format version or a damaged file.
    pub fn decode(bytes: &[u8]) -> Option<FsIndex> {
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(body).as_slice() != sum {
            return None;
        }
        let mut r = Reader { buf: body };
        if r.take(MAGIC.len())? != MAGIC || r.u32()? != FORMAT_VERSION {
            return None;
        }
        let mut nodes = BTreeMap::new();
        for _ in 0..r.count()? {
            let path = r.path()?;
            let tag = r.u8()?;
            let link = r.path()?;
            let kind = match tag {
                0 => NodeKind::File,
                1 => NodeKind::Dir,
                2 => NodeKind::Symlink(link),
                3 => NodeKind::Hardlink(link),
                4 => NodeKind::Other,
                _ => return None,
            };
            let mode = r.u32()?;
            let (uid, gid, size) = (r.u64()?, r.u64()?, r.u64()?);
            nodes.insert(
                path,
                Node {
                    kind,
                    mode,
                    uid,
                    gid,
                    size,
                },
            );
        }
        let mut captured = BTreeMap::new();
        for _ in 0..r.count()? {
            let path = r.path()?;
            captured.insert(path, r.bytes()?.to_vec());
        }
        let mut capture = BTreeSet::new();
        for _ in 0..r.count()? {
            capture.insert(r.path()?);
        }
        if !r.buf.is_empty() {
            return None;
        }
        Some(FsIndex {
            nodes,
            captured,
            capture,
        })
    }
}
