// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `nats` driver: the coordinator's side of the NATS layout. It opens the streams, the
//! KV buckets and the contexts object store (created by `kaniko_nats::Bus::ensure`
//! when missing), publishes tasks with `Nats-Msg-Id` de-duplication, events (JSON, through JetStream
//! so they replay; an identity's builds' events to its own stream), cancel broadcasts, and
//! reads one Dockerfile out of a stored context (the owner's store), checking on the way that
//! the context hashes to its name: an object that does not is deleted.
//!
//! Routing of cross-safe tasks (see `actors/fleet.rs`): a task a native worker should build
//! goes to `Names::tasks(platform)`; a cross-safe task placed on an `--allow-cross` worker
//! goes to [`cross_subject`], `<prefix>.tasks.cross.<os>.<arch>.<variant>`, consumed through
//! [`cross_consumer`] by cross workers only. The two filters never overlap, so a task that
//! needs RUN can never be pulled by a foreign worker.

use std::io::Read;

use anyhow::{Context as _, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, kv, object_store};
use kaniko_common::messages::codec::{CONTENT_TYPE_HEADER, PROTOCOL_HEADER};
use kaniko_common::messages::{ContextRef, Encoding, Event, PROTOCOL_VERSION, Task};
use kaniko_common::platform::Platform;
use kaniko_common::subjects::Names;
use kaniko_nats::Bus;
use kaniko_worker::context_files::MAX_DOCKERFILE_BYTES;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::warn;

pub use kaniko_nats::BusSettings as StreamSettings;

/// `<prefix>.tasks.cross.<os>.<arch>.<variant>`: cross-safe tasks for `--allow-cross` workers.
/// The name lives in [`Names::tasks_cross`], shared with `worker serve`.
pub fn cross_subject(names: &Names, platform: &Platform) -> anyhow::Result<String> {
    Ok(names.tasks_cross(platform)?)
}

/// `KANIKO_TASKS_CROSS_linux-arm64`: the durable consumer shared by the cross workers of a
/// platform, filtered on [`cross_subject`]. The name lives in [`Names::tasks_cross_consumer`].
pub fn cross_consumer(names: &Names, platform: &Platform) -> anyhow::Result<String> {
    Ok(names.tasks_cross_consumer(platform)?)
}

/// The coordinator's NATS connection and JetStream handles.
#[derive(Clone)]
pub struct NatsDriver {
    /// The core NATS client.
    pub client: async_nats::Client,
    /// JetStream on that client.
    pub js: jetstream::Context,
    /// Every NATS name under the configured prefix.
    pub names: Names,
    /// The BUILDS bucket (build state).
    pub builds: kv::Store,
    /// The contexts object store of anonymous builds.
    pub contexts: object_store::ObjectStore,
    /// The bus on the same connection, for the stores and streams of identities.
    pub bus: Bus,
}

impl std::fmt::Debug for NatsDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsDriver")
            .field("prefix", &self.names.prefix())
            .finish_non_exhaustive()
    }
}

impl NatsDriver {
    /// Ensures the streams, buckets and object store exist on `client` and opens them.
    pub async fn open(
        client: async_nats::Client,
        names: Names,
        settings: &StreamSettings,
    ) -> anyhow::Result<NatsDriver> {
        let bus = kaniko_nats::Bus::new(client.clone(), names.clone());
        bus.ensure(settings).await?;
        let js = bus.js().clone();
        let builds = bus.builds_kv().await?;
        let contexts = bus.contexts().await?;
        Ok(NatsDriver {
            client,
            js,
            names,
            builds,
            contexts,
            bus,
        })
    }

    /// The contexts object store of `owner`'s builds (the shared one when anonymous).
    pub async fn contexts_for(
        &self,
        owner: Option<&str>,
    ) -> anyhow::Result<object_store::ObjectStore> {
        match owner {
            None => Ok(self.contexts.clone()),
            Some(_) => Ok(self.bus.for_owner(owner)?.contexts().await?),
        }
    }

    /// Publishes `task` on `subject` through JetStream, de-duplicated by its task id.
    pub async fn publish_task(&self, subject: &str, task: &Task) -> anyhow::Result<()> {
        let payload = Encoding::Bincode.encode(task)?;
        let mut headers = headers(Encoding::Bincode);
        headers.insert(async_nats::header::NATS_MESSAGE_ID, task.task_id.as_str());
        self.js
            .publish_with_headers(subject.to_string(), headers, payload.into())
            .await
            .with_context(|| format!("publishing task {} on {subject}", task.task_id))?
            .await
            .with_context(|| format!("storing task {} on {subject}", task.task_id))?;
        Ok(())
    }

    /// Publishes `event` (JSON) through JetStream on `<prefix>.events.<build>.<type>`, or
    /// `<prefix>.user.<owner>.events.<build>.<type>` for a build of identity `owner`.
    pub async fn publish_event(&self, event: &Event, owner: Option<&str>) -> anyhow::Result<()> {
        let subject = self
            .names
            .events_for(owner, &event.build_id, event.kind.event_type())?;
        let payload = serde_json::to_vec(event)?;
        self.js
            .publish_with_headers(subject.clone(), headers(Encoding::Json), payload.into())
            .await
            .with_context(|| format!("publishing event on {subject}"))?
            .await
            .with_context(|| format!("storing event on {subject}"))?;
        Ok(())
    }

    /// Broadcasts the cancellation of `build_id` to the workers (core NATS).
    pub async fn publish_cancel(&self, build_id: &str) -> anyhow::Result<()> {
        let subject = self.names.cancel(build_id)?;
        self.client
            .publish(subject.clone(), build_id.to_string().into())
            .await
            .with_context(|| format!("publishing on {subject}"))?;
        self.client.flush().await.context("flushing the cancel")?;
        Ok(())
    }

    /// Reads the Dockerfile at `path` out of the stored context tarball (plain or gzip) in
    /// `owner`'s store, without unpacking anything else. The tarball is spooled to a
    /// temporary file and hashed on the way: one that does not hash to its name (planted by
    /// another writer of the store) is deleted from the store and refused, so the next
    /// upload stores the real one.
    pub async fn read_dockerfile(
        &self,
        owner: Option<&str>,
        context: &ContextRef,
        path: &str,
    ) -> anyhow::Result<String> {
        let name = context.object_name();
        let store = self.contexts_for(owner).await?;
        let mut object = store
            .get(&name)
            .await
            .with_context(|| format!("context {name} is not in the object store"))?;
        let spool = tempfile::tempfile().context("creating a temporary file for the context")?;
        let mut file = tokio::fs::File::from_std(spool);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 128 * 1024];
        let read = async {
            loop {
                let n = object.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or_default();
                hasher.update(chunk);
                file.write_all(chunk).await?;
            }
            file.flush().await
        }
        .await;
        let actual = hex::encode(hasher.finalize());
        let mismatch = match read {
            // The client checks the object's own digest at the end: a tampered object.
            Err(err) if err.to_string().contains("digest") => Some(format!("is corrupt ({err})")),
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!("downloading context {name}")));
            }
            Ok(()) if actual != context.sha256 => Some(format!("has sha256:{actual}")),
            Ok(()) => None,
        };
        if let Some(why) = mismatch {
            if let Err(err) = store.delete(&name).await {
                warn!(context = %name, error = %err, "deleting a context that does not hash to its name");
            }
            bail!(
                "context {name} in the object store {why}: it was deleted; submit again to \
                 upload it"
            );
        }
        let spool = file.into_std().await;
        let wanted = path.to_string();
        let label = name.clone();
        tokio::task::spawn_blocking(move || dockerfile_from_tar(spool, &wanted, &label))
            .await
            .context("reading the context tarball")?
    }
}

/// The `Content-Type` and `Kaniko-Protocol` headers of a message in `encoding`.
pub fn headers(encoding: Encoding) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE_HEADER, encoding.content_type());
    headers.insert(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string().as_str());
    headers
}

/// Finds `wanted` (a relative path, `./` or not) in a tar stream, gzip-compressed or not.
fn dockerfile_from_tar(
    mut file: std::fs::File,
    wanted: &str,
    label: &str,
) -> anyhow::Result<String> {
    use std::io::Seek;
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.rewind()?;
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    find_in_tar(reader, wanted, label)
}

/// The text of entry `wanted` in the tar stream `reader` as extracting the tarball leaves it:
/// the last entry of that name wins, and it must be a regular file of at most 4 MiB whose
/// directories no later entry replaces. A symlink is refused: the coordinator never follows a
/// link of an untrusted tarball (a worker would resolve it inside the context, and plan on
/// something else than what was checked here).
pub(crate) fn find_in_tar(reader: impl Read, wanted: &str, label: &str) -> anyhow::Result<String> {
    let wanted = normalize_entry(wanted);
    let mut found: Option<Result<String, String>> = None;
    let mut archive = tar::Archive::new(reader);
    for entry in archive
        .entries()
        .with_context(|| format!("context {label} is not a tar archive"))?
    {
        let entry = entry.with_context(|| format!("context {label} is not a valid tar archive"))?;
        let path = normalize_entry(&entry.path()?.to_string_lossy());
        let kind = entry.header().entry_type();
        let is_parent = wanted
            .strip_prefix(path.as_str())
            .is_some_and(|rest| rest.starts_with('/'));
        if is_parent && found.is_some() && !kind.is_dir() {
            found = Some(Err(format!(
                "its directory {path} is replaced by {}",
                entry_kind(kind)
            )));
            continue;
        }
        if path != wanted {
            continue;
        }
        if !kind.is_file() {
            found = Some(Err(format!("not a regular file ({})", entry_kind(kind))));
            continue;
        }
        let mut text = String::new();
        found = Some(
            match entry
                .take(MAX_DOCKERFILE_BYTES + 1)
                .read_to_string(&mut text)
            {
                Err(_) => Err("not utf-8 text".to_string()),
                Ok(_) if text.len() as u64 > MAX_DOCKERFILE_BYTES => Err(format!(
                    "larger than the limit of 4 MiB ({MAX_DOCKERFILE_BYTES} bytes)"
                )),
                Ok(_) => Ok(text),
            },
        );
    }
    match found {
        Some(Ok(text)) => Ok(text),
        Some(Err(why)) => bail!("dockerfile {wanted} in context {label}: {why}"),
        None => bail!("dockerfile {wanted} is not in context {label}"),
    }
}

/// What a tar entry type is called in messages.
fn entry_kind(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "a symlink",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Directory => "a directory",
        tar::EntryType::Fifo => "a fifo",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        _ => "an entry that is not a regular file",
    }
}

fn normalize_entry(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, text) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, text.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn finds_only_the_dockerfile_entry() {
        fn check(entries: &[(&str, &str)], wanted: &str, expected: Result<&str, &str>) {
            let got = find_in_tar(&tar_of(entries)[..], wanted, "ctx").map_err(|e| e.to_string());
            assert_eq!(got.as_deref(), expected.map_err(str::to_string).as_deref());
        }
        let files = [("main.go", "package main"), ("./Dockerfile", "FROM a\n")];
        check(&files, "Dockerfile", Ok("FROM a\n"));
        check(&files, "./Dockerfile", Ok("FROM a\n"));
        check(
            &files,
            "docker/Dockerfile",
            Err("dockerfile docker/Dockerfile is not in context ctx"),
        );
        check(
            &[("docker/Dockerfile.prod", "FROM b\n")],
            "docker/Dockerfile.prod",
            Ok("FROM b\n"),
        );
    }

    #[test]
    fn the_last_entry_wins_and_must_be_a_regular_file() {
        fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
            let mut builder = tar::Builder::new(Vec::new());
            for (path, kind, text) in entries {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(*kind);
                header.set_mode(0o644);
                if *kind == tar::EntryType::Symlink {
                    header.set_size(0);
                    builder.append_link(&mut header, path, text).unwrap();
                } else {
                    header.set_size(text.len() as u64);
                    header.set_cksum();
                    builder
                        .append_data(&mut header, path, text.as_bytes())
                        .unwrap();
                }
            }
            builder.into_inner().unwrap()
        }
        fn check(entries: &[(&str, tar::EntryType, &str)], expected: Result<&str, &str>) {
            let got = find_in_tar(&tar_with(entries)[..], "sub/Dockerfile", "ctx")
                .map_err(|e| e.to_string());
            assert_eq!(got.as_deref(), expected.map_err(str::to_string).as_deref());
        }
        use tar::EntryType::{Directory, Fifo, Regular, Symlink};
        check(
            &[
                ("sub/Dockerfile", Regular, "FROM a\n"),
                ("sub/Dockerfile", Regular, "FROM b\n"),
            ],
            Ok("FROM b\n"),
        );
        check(
            &[
                ("sub/Dockerfile", Regular, "FROM a\n"),
                ("sub/Dockerfile", Symlink, "/proc/self/environ"),
            ],
            Err("dockerfile sub/Dockerfile in context ctx: not a regular file (a symlink)"),
        );
        check(
            &[
                ("sub/Dockerfile", Fifo, ""),
                ("./sub/Dockerfile", Regular, "FROM c\n"),
            ],
            Ok("FROM c\n"),
        );
        check(
            &[
                ("sub/Dockerfile", Regular, "FROM a\n"),
                ("sub", Symlink, "/proc/self"),
            ],
            Err(
                "dockerfile sub/Dockerfile in context ctx: its directory sub is replaced by a symlink",
            ),
        );
        check(
            &[
                ("sub/Dockerfile", Regular, "FROM a\n"),
                ("sub/", Directory, ""),
            ],
            Ok("FROM a\n"),
        );
        let big = format!("FROM a\n{}", "#".repeat(4 << 20));
        check(
            &[("sub/Dockerfile", Regular, &big)],
            Err(
                "dockerfile sub/Dockerfile in context ctx: larger than the limit of 4 MiB (4194304 bytes)",
            ),
        );
    }

    #[test]
    fn garbage_context_is_an_error_not_a_panic() {
        let got = find_in_tar(&b"not a tarball at all, just text"[..], "Dockerfile", "ctx");
        assert!(got.is_err());
    }

    #[test]
    fn cross_names_never_overlap_the_native_ones() {
        let names = Names::default();
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            cross_subject(&names, &arm64).unwrap(),
            "kaniko.tasks.cross.linux.arm64._"
        );
        assert_eq!(names.tasks(&arm64).unwrap(), "kaniko.tasks.linux.arm64._");
        assert_eq!(
            cross_consumer(&names, &arm64).unwrap(),
            "KANIKO_TASKS_CROSS_linux-arm64"
        );
    }
}
