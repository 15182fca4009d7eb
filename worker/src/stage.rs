// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! One stage's state while it is built: the image so far (config and layers), the container
//! config, what the executor knows of the stage's filesystem ([`StageFs`]), and the stage's
//! flags (`CMD` set here or inherited). [`StageFs`] is exact for `scratch` stages and for
//! everything this build wrote; for a registry base it knows `/etc/passwd` and `/etc/group`
//! (read from the base layers' headers on first use) and, once COPY, ADD or WORKDIR asks
//! ([`StageFs::ensure_index`]), the whole base filesystem as a [`FsIndex`] built from the
//! layers' tar headers (nothing unpacked), kept up to date with what the build writes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use kaniko_image::layer::{EntryKind, LayerEntry};

use crate::blobs::BlobStore;
use crate::copy::{Known, PathInfo};
use crate::fsindex::{FsIndex, NodeKind};
use crate::image::Image;
use crate::instructions::{RunConfig, StageFlags};

/// Files whose content the executor keeps (for `--chown`, `USER` and `WORKDIR` owners).
pub const SMALL_FILES: [&str; 2] = ["/etc/passwd", "/etc/group"];

/// What the executor knows of a stage's filesystem.
#[derive(Debug, Clone, Default)]
pub struct StageFs {
    /// Everything not in `entries` is missing (a scratch base), rather than unknown.
    pub complete: bool,
    /// Paths this build wrote (absolute) and what they are.
    pub entries: BTreeMap<String, Known>,
    /// Symlinks this build wrote: path → target.
    pub links: BTreeMap<String, String>,
    /// Contents of [`SMALL_FILES`] when known (`Some("")`: known absent).
    pub small: BTreeMap<String, String>,
    /// The whole filesystem (base and this build's writes) once indexed; it then answers
    /// every [`PathInfo::known`] question.
    pub index: Option<Arc<FsIndex>>,
}

impl StageFs {
    /// The filesystem of a `scratch` stage: empty, and known to be.
    pub fn empty() -> StageFs {
        StageFs {
            complete: true,
            small: SMALL_FILES
                .iter()
                .map(|p| (p.to_string(), String::new()))
                .collect(),
            ..StageFs::default()
        }
    }

    /// Records the entries of a layer this build wrote; `read` gives the content of a
    /// [`SMALL_FILES`] entry.
    pub fn record(&mut self, entries: &[LayerEntry], read: &dyn Fn(&str) -> Option<String>) {
        if let Some(index) = &mut self.index {
            Arc::make_mut(index).apply(entries);
        }
        for entry in entries {
            let path = format!("/{}", entry.path.display());
            let known = match &entry.kind {
                EntryKind::Dir => Known::Dir {
                    mode: entry.mode,
                    uid: entry.uid,
                    gid: entry.gid,
                },
                _ => Known::NotDir,
            };
            self.links.remove(&path);
            if let EntryKind::Symlink { target } = &entry.kind {
                self.links
                    .insert(path.clone(), target.display().to_string());
            }
            if SMALL_FILES.contains(&path.as_str())
                && let Some(text) = read(&path)
            {
                self.small.insert(path.clone(), text);
            }
            self.entries.insert(path, known);
        }
    }

    /// `/etc/passwd` and `/etc/group`, when known.
    pub fn users_files(&self) -> Option<(String, String)> {
        let passwd = self.small.get("/etc/passwd")?;
        let group = self.small.get("/etc/group")?;
        Some((passwd.clone(), group.clone()))
    }

    /// Reads `/etc/passwd` and `/etc/group` from the image's layers (headers streamed, the
    /// two files' contents kept; later layers win, a whiteout removes).
    pub async fn load_users_files(
        &mut self,
        image: &Image,
        blobs: &BlobStore,
    ) -> anyhow::Result<()> {
        if self.users_files().is_some() {
            return Ok(());
        }
        let mut found: BTreeMap<String, String> = SMALL_FILES
            .iter()
            .map(|p| (p.to_string(), String::new()))
            .collect();
        for layer in &image.layers {
            let reader = blobs.open_tar(layer).await?;
            let digest = layer.descriptor.digest.clone();
            let layer_files = tokio::task::spawn_blocking(move || scan_small_files(reader))
                .await
                .map_err(|e| anyhow::anyhow!("layer {digest}: {e}"))?
                .map_err(|e| anyhow::anyhow!("layer {}: {e}", layer.descriptor.digest))?;
            for (path, content) in layer_files {
                found.insert(path, content.unwrap_or_default());
            }
        }
        // Files this build wrote on top win.
        for (path, content) in &self.small {
            found.insert(path.clone(), content.clone());
        }
        self.small = found;
        Ok(())
    }
}

/// The [`SMALL_FILES`] a layer sets (`Some(content)`) or deletes (`None`).
fn scan_small_files(
    reader: Box<dyn Read + Send>,
) -> std::io::Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let abs = format!("/{}", path.trim_start_matches("./").trim_start_matches('/'));
        if let Some(name) = abs.rsplit('/').next()
            && let Some(deleted) = name.strip_prefix(kaniko_image::whiteout::PREFIX)
        {
            let parent = abs.rsplit_once('/').map_or("", |(p, _)| p);
            let target = format!("{parent}/{deleted}");
            if SMALL_FILES.contains(&target.as_str()) {
                out.push((target, None));
            }
            continue;
        }
        if SMALL_FILES.contains(&abs.as_str()) && entry.header().entry_type().is_file() {
            let mut text = String::new();
            entry.by_ref().take(1 << 20).read_to_string(&mut text)?;
            out.push((abs, Some(text)));
        }
    }
    Ok(out)
}

impl StageFs {
    /// Indexes the filesystem of `image` (headers only) when what is known is not complete
    /// and no index exists yet; later [`StageFs::record`] calls keep it current.
    /// With a layer store the index of a base is read from it (and written there the first
    /// time), see [`crate::store::Store::base_index`].
    pub async fn ensure_index(
        &mut self,
        image: &Image,
        blobs: &BlobStore,
        store: Option<&crate::store::Store>,
    ) -> anyhow::Result<()> {
        if self.complete || self.index.is_some() {
            return Ok(());
        }
        let index = match store {
            Some(store) => store
                .base_index(&image.layers, blobs)
                .await
                .map_err(|e| anyhow::anyhow!("indexing the base filesystem: {e:#}"))?,
            None => FsIndex::from_layers(&image.layers, blobs)
                .await
                .map_err(|e| anyhow::anyhow!("indexing the base filesystem: {e}"))?,
        };
        tracing::debug!(paths = index.len(), "base filesystem indexed");
        self.index = Some(Arc::new(index));
        Ok(())
    }
}

/// What the index says of `path`: a directory (symlinks followed) with its attributes,
/// something else, or nothing.
fn known_in(index: &FsIndex, path: &str) -> Known {
    let Ok(resolved) = index.resolve(Path::new(path), true) else {
        return Known::NotDir;
    };
    if resolved.as_os_str().is_empty() {
        return Known::Dir {
            mode: 0o755,
            uid: 0,
            gid: 0,
        };
    }
    match index.get(&resolved) {
        Some(node) if node.kind == NodeKind::Dir => Known::Dir {
            mode: node.mode,
            uid: node.uid,
            gid: node.gid,
        },
        Some(_) => Known::NotDir,
        None => Known::Missing,
    }
}

impl PathInfo for StageFs {
    fn resolve(&self, path: &str) -> Result<String, String> {
        let rel = Path::new(path).strip_prefix("/").unwrap_or(Path::new(path));
        let resolved = match &self.index {
            Some(index) => index.resolve(rel, true),
            None => crate::unpack::resolve::resolve_with(rel, true, |candidate| {
                let key = Path::new("/").join(candidate).display().to_string();
                Ok(self.links.get(&key).map(std::path::PathBuf::from))
            }),
        };
        resolved
            .map(|rel| Path::new("/").join(rel).display().to_string())
            .map_err(|e| e.to_string())
    }

    fn known(&self, path: &str) -> Known {
        if let Some(index) = &self.index {
            return known_in(index, path);
        }
        // Follow symlinks this build wrote (bounded).
        let mut path = path.to_string();
        for _ in 0..40 {
            match self.links.get(&path) {
                Some(target) => {
                    let parent = Path::new(&path)
                        .parent()
                        .map_or("/".to_string(), |p| p.display().to_string());
                    path = crate::instructions::workdir(&parent, target);
                }
                None => break,
            }
        }
        if path == "/" {
            return Known::Dir {
                mode: 0o755,
                uid: 0,
                gid: 0,
            };
        }
        match self.entries.get(&path) {
            Some(known) => *known,
            None if self.complete => Known::Missing,
            None => Known::Unknown,
        }
    }
}

/// A stage being built.
#[derive(Debug, Clone)]
pub struct StageState {
    /// Image so far.
    pub image: Image,
    /// Container config so far.
    pub run_config: RunConfig,
    /// Whether the base manifest was Docker-typed.
    pub docker: bool,
    /// What is known of the filesystem.
    pub fs: StageFs,
    /// `CMD` set in this stage.
    pub flags: StageFlags,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_indexed_base_answers_for_its_paths_and_the_build_writes() {
        let mut index = FsIndex::new();
        index.apply(&[
            LayerEntry {
                mode: 0o750,
                uid: 5,
                gid: 6,
                ..LayerEntry::new("app", EntryKind::Dir)
            },
            LayerEntry::new("app/f", EntryKind::File { size: 1 }),
            LayerEntry::new(
                "lib",
                EntryKind::Symlink {
                    target: "app".into(),
                },
            ),
        ]);
        let mut fs = StageFs {
            index: Some(Arc::new(index)),
            ..StageFs::default()
        };
        fs.record(&[LayerEntry::new("new", EntryKind::Dir)], &|_: &str| None);
        let app = Known::Dir {
            mode: 0o750,
            uid: 5,
            gid: 6,
        };
        let check = |path: &str, expected: Known| assert_eq!(fs.known(path), expected, "{path}");
        check("/app", app);
        check("/lib", app);
        check("/lib/f", Known::NotDir);
        check("/app/f", Known::NotDir);
        check("/nope", Known::Missing);
        check(
            "/new",
            Known::Dir {
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        );
        check(
            "/",
            Known::Dir {
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        );
    }

    #[test]
    fn a_copy_destination_is_written_through_symlinks_and_a_loop_is_refused() {
        use crate::copy::{CopyOptions, Source, plan_copy};
        let link = |p: &str, target: &str| {
            LayerEntry::new(
                p,
                EntryKind::Symlink {
                    target: target.into(),
                },
            )
        };
        let entries = [
            LayerEntry::new("t", EntryKind::Dir),
            LayerEntry::new("t/real", EntryKind::Dir),
            link("abs-dir", "/t/real"),
            link("t/rel", "real"),
            LayerEntry::new("loop", EntryKind::Dir),
            link("loop/a", "/loop/b"),
            link("loop/b", "a"),
        ];
        // Once through the build's own writes (a scratch stage), once through an index.
        let mut written = StageFs::empty();
        written.record(&entries, &|_: &str| None);
        let mut index = FsIndex::new();
        index.apply(&entries);
        let indexed = StageFs {
            index: Some(Arc::new(index)),
            ..StageFs::default()
        };
        let source = || Source::Inline {
            name: "f".into(),
            content: b"x".to_vec(),
        };
        let opts = CopyOptions::default();
        for fs in [&written, &indexed] {
            let paths = |dest: &str| -> Result<Vec<String>, String> {
                plan_copy(&[source()], dest, "/", &opts, fs, None)
                    .map(|p| {
                        p.into_iter()
                            .map(|p| p.entry.path.display().to_string())
                            .collect()
                    })
                    .map_err(|e| e.to_string())
            };
            for (dest, expected) in [
                ("/abs-dir/copied", "t/real/copied"),
                ("/abs-dir/", "t/real/f"),
                ("/t/rel/x", "t/real/x"),
                ("abs-dir/y", "t/real/y"),
            ] {
                let got = paths(dest).unwrap_or_else(|e| panic!("{dest}: {e}"));
                assert!(got.contains(&expected.to_string()), "{dest}: {got:?}");
                assert!(
                    !got.iter()
                        .any(|p| p == "abs-dir" || p.starts_with("abs-dir/")),
                    "{dest}: the link is replaced: {got:?}"
                );
            }
            let err = paths("/loop/a/f").expect_err("a loop is refused");
            assert!(err.contains("destination /loop/a/f"), "{err}");
            assert!(err.contains("symlinks"), "{err}");
        }
    }

    #[test]
    fn known_paths() {
        let mut fs = StageFs::empty();
        let dir = |p: &str| LayerEntry::new(p, EntryKind::Dir);
        fs.record(
            &[
                dir("app"),
                LayerEntry::new("app/a", EntryKind::File { size: 1 }),
                LayerEntry::new(
                    "link",
                    EntryKind::Symlink {
                        target: "app".into(),
                    },
                ),
                LayerEntry::new("etc/passwd", EntryKind::File { size: 1 }),
            ],
            &|p| Some(format!("content of {p}")),
        );
        let check = |path: &str, expected: Known| assert_eq!(fs.known(path), expected, "{path}");
        let d = Known::Dir {
            mode: 0o755,
            uid: 0,
            gid: 0,
        };
        check("/", d);
        check("/app", d);
        check("/link", d);
        check("/app/a", Known::NotDir);
        check("/nope", Known::Missing);
        assert_eq!(
            fs.users_files(),
            Some(("content of /etc/passwd".to_string(), String::new()))
        );
        let unknown = StageFs::default();
        assert_eq!(unknown.known("/usr"), Known::Unknown);
        assert_eq!(unknown.users_files(), None);
    }
}
