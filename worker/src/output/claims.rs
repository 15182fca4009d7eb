// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! One upload per blob and registry in a build: the pipelined image uploads and the layer
//! cache's pushes both send layers this build wrote, often the same layer to two repositories
//! of one registry (`registry/app` and `registry/app/cache`). Each upload first claims its
//! `(registry, digest)`: the first claim uploads; every later one waits for it to finish and
//! then mounts the blob from the first one's repository (a cross-repository mount), uploading
//! itself only when that upload failed or the registry declines the mount. Claims are taken
//! synchronously when an upload is started, so the order is the build's order, not the tasks'.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kaniko_registry::{Reference, RegistryClient, RegistryError};
use tokio::sync::watch;

/// The claims of one build, shared by its uploads.
#[derive(Clone, Default)]
pub struct UploadClaims {
    inner: Arc<Mutex<HashMap<(String, String), Claimed>>>,
}

/// The first claim of a blob: where it goes and whether it landed (`None`: not yet).
struct Claimed {
    repository: String,
    landed: watch::Receiver<Option<bool>>,
}

/// The upload of one blob to one repository, with its place among the build's claims.
pub struct ClaimedUpload {
    turn: Turn,
}

enum Turn {
    /// The first for its registry: uploads, then says whether it landed.
    First(watch::Sender<Option<bool>>),
    /// Another upload of the blob to `repository` came first.
    After {
        repository: String,
        landed: watch::Receiver<Option<bool>>,
    },
}

impl UploadClaims {
    /// Claims the upload of `digest` to `target`'s repository.
    pub fn claim(&self, target: &Reference, digest: &str) -> ClaimedUpload {
        let mut claims = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (target.registry().to_string(), digest.to_string());
        if let Some(first) = claims.get(&slot) {
            return ClaimedUpload {
                turn: Turn::After {
                    repository: first.repository.clone(),
                    landed: first.landed.clone(),
                },
            };
        }
        let (sender, landed) = watch::channel(None);
        claims.insert(
            slot,
            Claimed {
                repository: target.repository().to_string(),
                landed,
            },
        );
        ClaimedUpload {
            turn: Turn::First(sender),
        }
    }
}

impl ClaimedUpload {
    /// Puts the file `path` (the blob `digest` of `size` bytes) into `target`'s repository:
    /// uploaded when this is the first claim, else mounted from the first claim's repository
    /// once that upload has landed (uploaded after all when it failed or the mount is
    /// declined). A registry that already has the blob in `target` is not sent it again.
    pub async fn put(
        self,
        client: &RegistryClient,
        target: &Reference,
        path: PathBuf,
        digest: &str,
        size: u64,
    ) -> Result<(), RegistryError> {
        match self.turn {
            Turn::First(sender) => {
                let pushed = client.push_blob_file(target, path, digest, size).await;
                let _ = sender.send(Some(pushed.is_ok()));
                pushed.map(|_| ())
            }
            Turn::After {
                repository,
                mut landed,
            } => {
                // A first upload dropped unfinished (its build failed) counts as failed.
                let ok = landed
                    .wait_for(Option::is_some)
                    .await
                    .map(|v| *v == Some(true))
                    .unwrap_or(false);
                if ok && repository != target.repository() {
                    // Looked for before a mount, which would rewrite the link of a blob
                    // that is there (see `push_layer`).
                    if client.blob_exists(target, digest).await? {
                        return Ok(());
                    }
                    match client.mount_blob(target, &repository, digest).await {
                        Ok(true) => {
                            tracing::debug!(%digest, from = %repository, to = %target, "blob mounted");
                            return Ok(());
                        }
                        Ok(false) => {}
                        Err(e) => tracing::debug!(%digest, "mounting from {repository}: {e}"),
                    }
                }
                client
                    .push_blob_file(target, path, digest, size)
                    .await
                    .map(|_| ())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_claim_per_registry_and_digest_uploads() {
        let claims = UploadClaims::default();
        let app: Reference = "r.example/app:1".parse().unwrap();
        let cache: Reference = "r.example/app/cache:k".parse().unwrap();
        let other: Reference = "other.example/app:1".parse().unwrap();
        let first = claims.claim(&app, "sha256:aa");
        assert!(matches!(first.turn, Turn::First(_)));
        match claims.claim(&cache, "sha256:aa").turn {
            Turn::After { repository, .. } => assert_eq!(repository, "app"),
            Turn::First(_) => panic!("a second claim of one blob on one registry uploads"),
        }
        assert!(matches!(
            claims.claim(&other, "sha256:aa").turn,
            Turn::First(_)
        ));
        assert!(matches!(
            claims.claim(&cache, "sha256:bb").turn,
            Turn::First(_)
        ));
    }
}
