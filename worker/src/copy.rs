// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! COPY and ADD, one module: files from the build context, an earlier stage or an image (and
//! for ADD, URLs and local archives) written into the image as one layer per instruction.
//!
//! The parts, in the order a step uses them: [`step`] (one COPY/ADD from the expanded
//! instruction to its planned entries; the executor only dispatches to it), [`glob`] (which
//! context files the sources name, with the `.dockerignore` patterns of [`glob::pattern`]),
//! [`add`] (ADD's URLs downloaded and archives extracted into a staging tree), [`archive`]
//! (archive detection and contained extraction, also used for a build context tarball), and
//! [`plan`] (BuildKit's destination rules and the layer holding exactly the planned entries).

pub(crate) mod add;
pub(crate) mod archive;
pub(crate) mod glob;
pub(crate) mod plan;
pub(crate) mod step;

pub(crate) use plan::{Content, Known, PathInfo, Planned, Source, content_text, write_layer};
#[cfg(test)]
pub(crate) use plan::{CopyOptions, plan_copy};
