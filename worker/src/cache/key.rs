// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The key of a cached step: sha256 over length-prefixed parts (each name and each value
//! preceded by its length as 8 big-endian bytes, so no two different part sequences hash
//! alike). Every key starts with [`VERSION`] and the parent key (the previous step's key, or
//! what the stage starts from: [`stage_start`]), then the platform; what follows depends on
//! the step ([`run_key`], [`copy_key`], [`config_key`]). Pure, but for [`copy_key`] reading
//! the files it hashes.

use std::fmt::Debug;

use kaniko_common::dockerfile::Scope;
use kaniko_common::oci::{sha256_digest, sha256_digest_of_reader};
use kaniko_common::platform::Platform;
use kaniko_image::layer::LayerOptions;
use sha2::{Digest, Sha256};

use crate::copy::{Content, Planned};
use crate::instructions::RunConfig;

/// Changes whenever what a key covers or how a cached step is restored changes.
pub const VERSION: &str = "kaniko-rs layer cache v1";

/// A step's key: 64 lowercase hex digits (the tag of its entry in the cache repository).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

impl Key {
    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for log lines.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds a key from length-prefixed parts.
pub struct KeyBuilder {
    hasher: Sha256,
}

impl KeyBuilder {
    /// A key whose first parts are [`VERSION`], `parent` and `platform`.
    pub fn new(parent: &str, platform: &Platform) -> KeyBuilder {
        let mut builder = KeyBuilder {
            hasher: Sha256::new(),
        };
        builder
            .part("version", VERSION.as_bytes())
            .part("parent", parent.as_bytes())
            .part("os", platform.os.as_bytes())
            .part("arch", platform.architecture.as_bytes())
            .part(
                "variant",
                platform.variant.as_deref().unwrap_or("").as_bytes(),
            );
        builder
    }

    /// Adds one named part.
    pub fn part(&mut self, name: &str, value: &[u8]) -> &mut KeyBuilder {
        for bytes in [name.as_bytes(), value] {
            self.hasher.update((bytes.len() as u64).to_be_bytes());
            self.hasher.update(bytes);
        }
        self
    }

    /// The key.
    pub fn finish(self) -> Key {
        Key(hex::encode(self.hasher.finalize()))
    }
}

/// The key the first step of a stage chains to: that of the base image's manifest digest,
/// an earlier stage's final key, or `scratch`, on `platform`.
pub fn stage_start(base: StageBase<'_>, platform: &Platform) -> Key {
    let parent = match base {
        StageBase::Scratch => "scratch".to_string(),
        StageBase::Image(digest) => format!("image {digest}"),
        StageBase::Stage(key) => format!("stage {key}"),
    };
    KeyBuilder::new(&parent, platform).finish()
}

/// What a stage starts from, for [`stage_start`].
#[derive(Debug, Clone, Copy)]
pub enum StageBase<'a> {
    /// `FROM scratch`.
    Scratch,
    /// A registry image: its manifest digest.
    Image(&'a str),
    /// An earlier stage: its final key.
    Stage(&'a Key),
}

/// The settings of the layer writer that change a layer's bytes.
fn layer_parts(builder: &mut KeyBuilder, layer: &LayerOptions) {
    builder
        .part("compression", layer.compression.to_string().as_bytes())
        .part("level", format!("{:?}", layer.level).as_bytes())
        .part("reproducible", &[u8::from(layer.reproducible)]);
}

/// A config-only step (ENV, WORKDIR, LABEL, ...): the instruction after expansion.
pub fn config_key(parent: &Key, platform: &Platform, expanded: &dyn Debug) -> Key {
    let mut builder = KeyBuilder::new(parent.hex(), platform);
    builder.part("config", format!("{expanded:?}").as_bytes());
    builder.finish()
}

/// A RUN: the instruction (its `--mount`s expanded; the command as written, the shell
/// expands it), the environment the command gets (every ARG in scope and every ENV), the
/// working directory, user and shell, the paths the snapshot leaves out and the layer
/// settings.
pub fn run_key(
    parent: &Key,
    platform: &Platform,
    expanded: &dyn Debug,
    scope: &Scope,
    config: &RunConfig,
    ignore: &[std::path::PathBuf],
    layer: &LayerOptions,
) -> Key {
    let mut builder = KeyBuilder::new(parent.hex(), platform);
    builder.part("run", format!("{expanded:?}").as_bytes());
    for (name, value) in scope.run_environment() {
        builder
            .part("env.name", name.as_bytes())
            .part("env.value", value.as_bytes());
    }
    builder
        .part("workdir", config.working_dir.as_bytes())
        .part("user", config.user.as_bytes())
        .part(
            "shell",
            format!("{:?}", config.shell_or_default()).as_bytes(),
        )
        .part("ignore", format!("{ignore:?}").as_bytes());
    layer_parts(&mut builder, layer);
    builder.finish()
}

/// A COPY or ADD: the instruction after expansion, then every entry of its layer as it will
/// be written (path, kind with size and link target, mode, owner, extended attributes) and
/// the sha256 of each file's content. Modification times are left out, as Kaniko does.
pub fn copy_key(
    parent: &Key,
    platform: &Platform,
    expanded: &dyn Debug,
    planned: &[Planned],
    layer: &LayerOptions,
) -> std::io::Result<Key> {
    let mut builder = KeyBuilder::new(parent.hex(), platform);
    builder.part("copy", format!("{expanded:?}").as_bytes());
    for p in planned {
        let e = &p.entry;
        builder
            .part("path", e.path.as_os_str().as_encoded_bytes())
            .part("kind", format!("{:?}", e.kind).as_bytes())
            .part("mode", &e.mode.to_be_bytes())
            .part("uid", &e.uid.to_be_bytes())
            .part("gid", &e.gid.to_be_bytes())
            .part("xattrs", format!("{:?}", e.xattrs).as_bytes());
        let content = match &p.content {
            Content::None => Vec::new(),
            Content::Inline(bytes) => sha256_digest(bytes).into_bytes(),
            Content::Disk(path) => {
                let file = std::fs::File::open(path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                })?;
                sha256_digest_of_reader(file)?.0.into_bytes()
            }
        };
        builder.part("content", &content);
    }
    layer_parts(&mut builder, layer);
    Ok(builder.finish())
}

#[cfg(test)]
mod tests;
