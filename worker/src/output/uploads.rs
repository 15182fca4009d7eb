// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The pipelined push: layers of the final image uploaded while the build goes on. The
//! executor offers the layers of every stage that ends up in the final image (the target and
//! the stages it is built `FROM`) after each instruction; each layer this build wrote (a
//! file, compressed and hashed) starts uploading at once to every destination repository in
//! the background, a few at a time (the client's `max_concurrent_uploads`). Base layers are
//! left to the final push (mount or HEAD, as always), and so are layers of stages only copied
//! from, which never leave the worker.
//!
//! Each upload claims its blob in the build's [`UploadClaims`], shared with the layer cache:
//! a layer the cache pushes too is sent once, the second repository mounting it.
//!
//! [`LayerUploads::finish`] waits for every upload and says which blobs are in place; the push
//! then uploads the rest and only then moves tags, so no tag ever points at a partial image.
//! A failed upload fails the build at once (the executor races every instruction against
//! [`LayerUploads::failure`]; a RUN in progress is stopped), or in the push, with the
//! destination and digest named; dropping the uploads (a build that failed) aborts the ones
//! still running, and no manifest is ever pushed.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures::FutureExt;
use kaniko_registry::{Reference, RegistryClient, RegistryError};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::{OutputError, OutputOptions, UploadClaims, repositories, repository_name};
use crate::image::{BlobLocation, Layer};

/// One upload: its destination repository, the blob's digest and the task.
struct Upload {
    target: Reference,
    digest: String,
    task: JoinHandle<Result<(), RegistryError>>,
    /// Its outcome once taken from `task` (a handle is read only once): `Some(true)` it
    /// succeeded, `Some(false)` it failed and that error was returned.
    taken: Option<bool>,
}

/// Layer uploads started during the build, to every destination repository.
pub struct LayerUploads {
    client: RegistryClient,
    /// One reference per destination repository.
    targets: Vec<Reference>,
    limit: Arc<Semaphore>,
    /// Digests offered so far (each is uploaded once per repository).
    offered: BTreeSet<String>,
    uploads: Vec<Upload>,
    /// The build's upload claims (shared with the layer cache).
    claims: UploadClaims,
}

/// What the uploads did, once all have finished.
#[derive(Debug, Default)]
pub struct UploadedLayers {
    /// `(repository, digest)` of every blob uploaded (or found present) during the build.
    pub done: BTreeSet<(String, String)>,
    /// Uploads started while the build was running.
    pub overlapped: usize,
    /// Of those, the ones already finished when the push began.
    pub finished_before_push: usize,
}

impl LayerUploads {
    /// Uploads for `opts`' destinations; `None` when nothing is pushed (`--no-push`, no
    /// destination).
    pub fn for_outputs(opts: &OutputOptions, client: &RegistryClient) -> Option<LayerUploads> {
        if opts.no_push || opts.destinations.is_empty() {
            return None;
        }
        Some(LayerUploads {
            client: client.clone(),
            targets: repositories(&opts.destinations)
                .into_values()
                .cloned()
                .collect(),
            limit: Arc::new(Semaphore::new(
                client.options().max_concurrent_uploads.max(1),
            )),
            offered: BTreeSet::new(),
            uploads: Vec::new(),
            claims: UploadClaims::default(),
        })
    }

    /// The build's upload claims, for the layer cache's pushes.
    pub fn claims(&self) -> UploadClaims {
        self.claims.clone()
    }

    /// Starts uploading every layer of `layers` this build wrote and not offered before; fails
    /// with the first upload that has already failed.
    pub fn offer(&mut self, layers: &[Layer]) -> Result<(), OutputError> {
        for layer in layers {
            let BlobLocation::File(path) = &layer.location else {
                continue;
            };
            let digest = &layer.descriptor.digest;
            if !self.offered.insert(digest.clone()) {
                continue;
            }
            for target in &self.targets {
                let (client, target_c, path, digest_c, limit) = (
                    self.client.clone(),
                    target.clone(),
                    Arc::clone(path),
                    digest.clone(),
                    Arc::clone(&self.limit),
                );
                let size = layer.descriptor.size;
                let claim = self.claims.claim(target, digest);
                let task = tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    claim
                        .put(&client, &target_c, path.to_path_buf(), &digest_c, size)
                        .await
                });
                tracing::debug!(%digest, to = %target, "layer upload started during the build");
                self.uploads.push(Upload {
                    target: target.clone(),
                    digest: digest.clone(),
                    task,
                    taken: None,
                });
            }
        }
        self.check()
    }

    /// The first upload that has finished with an error, as the push's error.
    fn check(&mut self) -> Result<(), OutputError> {
        for upload in &mut self.uploads {
            if upload.taken.is_some() || !upload.task.is_finished() {
                continue;
            }
            if let Some(result) = (&mut upload.task).now_or_never() {
                take(upload, result)?;
            }
        }
        Ok(())
    }

    /// Resolves with the error of the first upload that fails, and never while none has:
    /// the executor races each instruction against it, so a refused upload fails the build
    /// at once (a RUN in progress is stopped) instead of when the instruction ends.
    pub async fn failure(&mut self) -> OutputError {
        std::future::poll_fn(|cx| {
            for upload in &mut self.uploads {
                if upload.taken.is_some() {
                    continue;
                }
                if let Poll::Ready(result) = Pin::new(&mut upload.task).poll(cx)
                    && let Err(e) = take(upload, result)
                {
                    return Poll::Ready(e);
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Waits for every upload; the first failure is the error (the others are aborted).
    pub async fn finish(mut self) -> Result<UploadedLayers, OutputError> {
        let mut report = UploadedLayers {
            overlapped: self.uploads.len(),
            finished_before_push: self.uploads.iter().filter(|u| u.task.is_finished()).count(),
            ..UploadedLayers::default()
        };
        tracing::info!(
            overlapped = report.overlapped,
            finished = report.finished_before_push,
            "pipelined push: {} layer uploads overlapped the build, {} of them done before the push",
            report.overlapped,
            report.finished_before_push,
        );
        for upload in &mut self.uploads {
            match upload.taken {
                Some(true) => {}
                Some(false) => {
                    let source = RegistryError::Io {
                        what: format!("uploading {}", upload.digest),
                        source: std::io::Error::other("the upload failed during the build"),
                    };
                    return Err(push_error(upload, source));
                }
                None => {
                    let result = (&mut upload.task).await;
                    take(upload, result)?;
                }
            }
            report
                .done
                .insert((repository_name(&upload.target), upload.digest.clone()));
        }
        Ok(report)
    }
}

/// An upload task's outcome, a task that panicked or was cancelled an error of its own.
fn flatten(
    upload: &Upload,
    result: Result<Result<(), RegistryError>, tokio::task::JoinError>,
) -> Result<(), RegistryError> {
    result.unwrap_or_else(|e| {
        Err(RegistryError::Io {
            what: format!("uploading {}", upload.digest),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

/// Records a finished upload's outcome; its failure as the push's error.
fn take(
    upload: &mut Upload,
    result: Result<Result<(), RegistryError>, tokio::task::JoinError>,
) -> Result<(), OutputError> {
    let outcome = flatten(upload, result);
    upload.taken = Some(outcome.is_ok());
    outcome.map_err(|source| push_error(upload, source))
}

fn push_error(upload: &Upload, source: RegistryError) -> OutputError {
    OutputError::Push {
        destination: upload.target.whole(),
        digest: upload.digest.clone(),
        source,
    }
}

impl Drop for LayerUploads {
    fn drop(&mut self) {
        for upload in &self.uploads {
            upload.task.abort();
        }
    }
}
