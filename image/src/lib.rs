// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Image artifacts on disk, written the same way by the worker and the coordinator: the
//! streaming layer writer (tar entries → gzip/zstd with digest, diff_id and both sizes),
//! OCI image layouts (read and written), and the digest and metadata files that name a
//! built image for scripts (written atomically). The vocabulary they are written in (media
//! types, descriptors, digests) is `kaniko-common`'s; this crate is its filesystem side.

pub mod layer;
pub mod layout;
pub mod outfile;
pub mod whiteout;
