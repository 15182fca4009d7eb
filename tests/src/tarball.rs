// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! In-memory tar archives of regular files, for the contexts and archives tests hand to the
//! coordinator and the worker.

use std::io::Read;

/// Appends a regular file `path` (mode 0644) of `size` bytes read from `content`.
pub fn append_file(builder: &mut tar::Builder<Vec<u8>>, path: &str, size: u64, content: impl Read) {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, path, content)
        .unwrap_or_else(|err| panic!("appending {path} to a tar: {err}"));
}

/// A tar of the regular files `(path, content)`, in order.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        append_file(&mut builder, path, content.len() as u64, *content);
    }
    builder.into_inner().expect("finishing a tar in memory")
}
