// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! WORKDIR, USER and `--chown` in a stage: the stage's users (from its `/etc/passwd` and
//! `/etc/group`, loaded only when a name needs them), `--chown` resolved to ids, and
//! WORKDIR's directory made (with missing parents) as a layer when the image lacks it.

use std::path::PathBuf;

use anyhow::{Result, bail};
use kaniko_image::layer::{EntryKind, LayerEntry};

use super::{Executor, history, push_history};
use crate::copy::{self, Known, PathInfo, Planned};
use crate::stage::StageState;
use crate::users::Users;

impl Executor<'_> {
    /// The stage's users, loading `/etc/passwd` and `/etc/group` when needed.
    async fn users(&self, state: &mut StageState) -> Result<Users> {
        if state.fs.users_files().is_none() {
            state.fs.load_users_files(&state.image, &self.blobs).await?;
        }
        let (passwd, group) = state.fs.users_files().unwrap_or_default();
        Ok(Users::parse(&passwd, &group))
    }

    pub(super) async fn chown(&self, state: &mut StageState, spec: &str) -> Result<(u64, u64)> {
        // Numeric specs need no files.
        if let Ok((uid, gid)) = Users::default().resolve_chown(spec) {
            let numeric = spec
                .split(':')
                .all(|part| part.is_empty() || part.parse::<u32>().is_ok());
            if numeric {
                return Ok((u64::from(uid), u64::from(gid)));
            }
        }
        let (uid, gid) = self.users(state).await?.resolve_chown(spec)?;
        Ok((u64::from(uid), u64::from(gid)))
    }

    pub(super) async fn workdir(
        &mut self,
        state: &mut StageState,
        text: &str,
    ) -> Result<Option<u64>> {
        state
            .fs
            .ensure_index(&state.image, &self.blobs, self.store.as_deref())
            .await?;
        let dir = state.run_config.working_dir.clone();
        let reproducible = self.setup.layer.reproducible;
        match state.fs.known(&dir) {
            Known::Dir { .. } => {
                push_history(state, history(text, true, reproducible)?);
                return Ok(None);
            }
            Known::NotDir => bail!("WORKDIR {dir}: exists and is not a directory"),
            Known::Missing | Known::Unknown => {}
        }
        let user = state.run_config.user.clone();
        let (uid, gid) = if user.is_empty() {
            (0, 0)
        } else {
            let resolved = self.users(state).await?.resolve_user(&user)?;
            (u64::from(resolved.uid), u64::from(resolved.gid))
        };
        let planned = dir_with_parents(state, &dir, (uid, gid));
        if planned.is_empty() {
            push_history(state, history(text, true, reproducible)?);
            return Ok(None);
        }
        Ok(Some(self.add_layer(state, &planned, text)?))
    }

    /// VOLUME: in a stage that runs commands, the paths the image lacks are made
    /// (root-owned, 0755, with missing parents) as one layer, as a RUN's container makes them
    /// with Docker's builder and buildah, so a later RUN can use them (what it writes below
    /// them is still left out of its layer). A stage without RUN is left as it is, as
    /// buildah leaves it.
    pub(super) async fn volume(
        &mut self,
        state: &mut StageState,
        paths: &[String],
        text: &str,
    ) -> Result<Option<u64>> {
        state
            .fs
            .ensure_index(&state.image, &self.blobs, self.store.as_deref())
            .await?;
        let reproducible = self.setup.layer.reproducible;
        let mut planned: Vec<Planned> = Vec::new();
        let wanted = if self.stage_runs { paths } else { &[][..] };
        for path in wanted.iter().filter(|p| !p.is_empty()) {
            let dir = crate::instructions::workdir("/", path);
            if !matches!(state.fs.known(&dir), Known::Missing) {
                continue;
            }
            for entry in dir_with_parents(state, &dir, (0, 0)) {
                if !planned.iter().any(|p| p.entry.path == entry.entry.path) {
                    planned.push(entry);
                }
            }
        }
        if planned.is_empty() {
            push_history(state, history(text, true, reproducible)?);
            return Ok(None);
        }
        planned.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
        Ok(Some(self.add_layer(state, &planned, text)?))
    }
}

/// The entries that make directory `dir` (absolute) owned by `owner`: it and its missing
/// parents (root-owned, 0755); parents the image has keep their metadata, and parents the
/// base may have are left out when the base is not indexed.
fn dir_with_parents(state: &StageState, dir: &str, (uid, gid): (u64, u64)) -> Vec<Planned> {
    // Missing parents are created too (root-owned, 0755), the directory itself owned by
    // the user; parents the base may have are left out when the base is not indexed.
    let mut planned = Vec::new();
    let mut path = PathBuf::new();
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let abs = format!("/{}", path.display());
        let last = i + 1 == parts.len();
        let entry = match state.fs.known(&abs) {
            Known::Dir { mode, uid, gid } if !last => LayerEntry {
                mode,
                uid,
                gid,
                ..LayerEntry::new(path.clone(), EntryKind::Dir)
            },
            Known::Unknown if !last => continue,
            _ if last => LayerEntry {
                uid,
                gid,
                ..LayerEntry::new(path.clone(), EntryKind::Dir)
            },
            _ => LayerEntry::new(path.clone(), EntryKind::Dir),
        };
        planned.push(Planned {
            entry,
            content: copy::Content::None,
        });
    }
    planned
}
