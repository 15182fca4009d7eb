// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The coordinator's side of the NATS layout, shared by its actors: [`FleetBus`] opens the
//! streams, the KV buckets and the contexts object store (created by `kaniko_nats::Bus::ensure`
//! when missing), publishes tasks (on the subject [`crate::policy::routing`] chose, with
//! `Nats-Msg-Id` de-duplication) and events (JSON, through JetStream so they replay; an
//! identity's builds' events to its own stream) through `kaniko_nats::Bus`, saves build
//! records with compare-and-swap, broadcasts cancels, and reads one Dockerfile out of a stored
//! context (the owner's store), checking on the way that the context hashes to its name: an
//! object that does not is deleted.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, kv, object_store};
use futures::StreamExt;
use kaniko_common::messages::codec::{CONTENT_TYPE_HEADER, PROTOCOL_HEADER};
use kaniko_common::messages::{ContextRef, Encoding, Event, PROTOCOL_VERSION, Task, WireError};
use kaniko_common::subjects::{Names, validate_token};
use kaniko_nats::Bus;
use kaniko_retry::RetryPolicy;
use kaniko_worker::context_files::MAX_DOCKERFILE_BYTES;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::warn;

use crate::policy::record::BuildRecord;

pub use kaniko_nats::BusSettings as StreamSettings;

/// How long a save of the build's state or an event is tried again while NATS is away.
pub const STATE_RETRY_LIMIT: Duration = Duration::from_secs(60);
/// How long a task publish is tried again (de-duplicated by its id) before the build waits
/// for its next resume to publish it.
pub const TASK_PUBLISH_LIMIT: Duration = Duration::from_secs(30);
/// How long storing a new build's record is tried: past a stream's leader election after a
/// node is lost (seconds), within the submitter's wait for its answer (30 s).
pub const RECORD_CREATE_LIMIT: Duration = Duration::from_secs(20);

/// The coordinator's NATS connection and JetStream handles.
#[derive(Clone)]
pub struct FleetBus {
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

impl std::fmt::Debug for FleetBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetBus")
            .field("prefix", &self.names.prefix())
            .finish_non_exhaustive()
    }
}

impl FleetBus {
    /// Ensures the streams, buckets and object store exist on `client` and opens them.
    pub async fn open(
        client: async_nats::Client,
        names: Names,
        settings: &StreamSettings,
    ) -> anyhow::Result<FleetBus> {
        let bus = kaniko_nats::Bus::new(client.clone(), names.clone());
        bus.ensure(settings).await?;
        let js = bus.js().clone();
        let builds = bus.builds_kv().await?;
        let contexts = bus.contexts().await?;
        Ok(FleetBus {
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

    /// Stores the new record of build `build_id` (`bytes`, its JSON): [`Self::write_record`]
    /// expecting no record yet, for up to [`RECORD_CREATE_LIMIT`] while the bucket cannot
    /// answer (a node lost, its stream electing a leader). Its revision. An update expecting
    /// no revision, not the client's `create`: that reads the key after a failed write, and a
    /// read of a stream without a leader waits out the request timeout.
    pub async fn create_record(&self, build_id: &str, bytes: &[u8]) -> anyhow::Result<u64> {
        self.write_record(build_id, bytes, 0, RECORD_CREATE_LIMIT, "storing a build")
            .await
            .map_err(|err| anyhow::anyhow!("storing build {build_id}: {err}"))
    }

    /// Publishes `task` on `subject` (its route's, [`crate::policy::routing::task_subject`])
    /// through the bus, de-duplicated by its task id: so a publish whose ack was lost (the
    /// server away, or on a cluster the tasks stream electing a new leader) is made again,
    /// for up to [`TASK_PUBLISH_LIMIT`], and stored once.
    pub async fn publish_task(&self, subject: &str, task: &Task) -> anyhow::Result<()> {
        kaniko_nats::retry("publishing a task", TASK_PUBLISH_LIMIT, || {
            self.bus.publish_task_on(subject.to_string(), task)
        })
        .await
        .with_context(|| format!("publishing task {}", task.task_id))?;
        Ok(())
    }

    /// Publishes `event` through the bus (JSON, through JetStream) on
    /// `<prefix>.events.<build>.<type>`, or `<prefix>.user.<owner>.events.<build>.<type>` for a
    /// build of identity `owner`.
    pub async fn publish_event(&self, event: &Event, owner: Option<&str>) -> anyhow::Result<()> {
        self.bus.for_owner(owner)?.publish_event(event).await?;
        Ok(())
    }

    /// Saves `bytes` as the build's record with compare-and-swap on `revision`, trying again
    /// through a NATS reconnect for up to [`STATE_RETRY_LIMIT`] ([`Self::write_record`]).
    pub async fn save_record(
        &self,
        key: &str,
        bytes: &[u8],
        revision: u64,
    ) -> Result<u64, async_nats::jetstream::kv::UpdateError> {
        let what = format!("saving the state of build {key}");
        self.write_record(key, bytes, revision, STATE_RETRY_LIMIT, &what)
            .await
    }

    /// Writes `bytes` under `key` with compare-and-swap on `revision` (0: no record yet),
    /// trying again for up to `limit` while the bucket does not answer. A CAS conflict is
    /// final (another writer was first), unless the record already holds `bytes`: an earlier
    /// try was stored but its answer lost. That check's read is tried again within what is
    /// left of `limit`.
    async fn write_record(
        &self,
        key: &str,
        bytes: &[u8],
        revision: u64,
        limit: Duration,
        what: &str,
    ) -> Result<u64, async_nats::jetstream::kv::UpdateError> {
        use async_nats::jetstream::kv::{UpdateError, UpdateErrorKind};
        let started = Instant::now();
        let conflict = |err: &UpdateError| err.kind() == UpdateErrorKind::WrongLastRevision;
        let written = RetryPolicy::within(limit)
            .run_if(
                what,
                |err| !conflict(err),
                |_| self.builds.update(key, bytes.to_vec().into(), revision),
            )
            .await;
        let err = match written {
            Err(err) if conflict(&err) => err,
            written => return written,
        };
        let stored = RetryPolicy::within(limit.saturating_sub(started.elapsed()))
            .run_if(what, |_| true, |_| self.builds.entry(key))
            .await;
        match stored {
            Ok(Some(entry)) if entry.value.as_ref() == bytes => Ok(entry.revision),
            _ => Err(err),
        }
    }

    /// The stored record of `build_id`, `None` when there is none.
    pub async fn load(&self, build_id: &str) -> Result<Option<BuildRecord>, WireError> {
        validate_token("build id", build_id).map_err(|e| WireError::refused(e.to_string()))?;
        let Some(bytes) = self
            .builds
            .get(build_id)
            .await
            .map_err(|e| WireError::transient(format!("reading build {build_id}: {e}")))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            WireError::permanent(format!("stored build {build_id} does not decode: {e}"))
        })
    }

    /// Every stored build.
    pub async fn load_all(&self) -> Result<Vec<(BuildRecord, u64)>, WireError> {
        let failed =
            |e: &dyn std::fmt::Display| WireError::transient(format!("listing builds: {e}"));
        let mut keys = match self.builds.keys().await {
            Ok(keys) => keys,
            Err(err) => return Err(failed(&err)),
        };
        let mut out = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| failed(&e))?;
            let Ok(Some(entry)) = self.builds.entry(&key).await else {
                continue;
            };
            match serde_json::from_slice::<BuildRecord>(&entry.value) {
                Ok(record) => out.push((record, entry.revision)),
                Err(err) => warn!(build_id = %key, "stored build does not decode: {err}"),
            }
        }
        Ok(out)
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
        let store = self
            .contexts_for(owner)
            .await
            .map_err(|e| StoreUnavailable::error(format!("opening the context store: {e:#}")))?;
        let mut object = match store.get(&name).await {
            Ok(object) => object,
            Err(err)
                if matches!(
                    err.kind(),
                    object_store::GetErrorKind::NotFound | object_store::GetErrorKind::InvalidName
                ) =>
            {
                return Err(anyhow::Error::new(err)
                    .context(format!("context {name} is not in the object store")));
            }
            Err(err) => {
                return Err(StoreUnavailable::error(format!(
                    "reading context {name}: {err}"
                )));
            }
        };
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
                return Err(StoreUnavailable::error(format!(
                    "downloading context {name}: {err}"
                )));
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

/// The object store did not answer a read of a context (a node lost, its stream electing a
/// leader, a read stalled): the request is not at fault, and the same submit may succeed
/// later. Found in an error's chain with `downcast_ref`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreUnavailable(String);

impl StoreUnavailable {
    fn error(message: String) -> anyhow::Error {
        anyhow::Error::new(StoreUnavailable(message))
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
}
