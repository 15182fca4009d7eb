// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Pushing an image to its destinations. Blobs go once per repository, several at a time:
//! layers this build wrote are uploaded from their files (skipped when the registry has
//! them); a base layer is mounted from its source repository when both live on the same
//! registry, else checked with a HEAD, and only when missing fetched (once per build) and
//! uploaded. Only when every blob of every destination is in place are the manifests pushed,
//! by tag, so no tag ever points at a partial image. Layers uploaded while the build ran
//! ([`super::uploads`]) are waited for first and not uploaded again.

use futures::{StreamExt, TryStreamExt};
use kaniko_registry::{Reference, RegistryClient, RegistryError};

use super::uploads::UploadedLayers;
use super::{OutputError, repositories, repository_name, tag_of};
use crate::blobs::BlobStore;
use crate::image::{BlobLocation, FinishedImage, Layer};

/// Substrings of registry errors that mean "this tag is immutable" (ECR, Artifact Registry),
/// as Kaniko matches them for `--push-ignore-immutable-tag-errors`.
const IMMUTABLE_TAG_ERRORS: [&str; 3] = ["tag_invalid", "tag invalid", "immutable"];

fn push_err(destination: &Reference, digest: &str) -> impl FnOnce(RegistryError) -> OutputError {
    let destination = destination.whole();
    let digest = digest.to_string();
    move |source| OutputError::Push {
        destination,
        digest,
        source,
    }
}

/// Pushes `finished` to every destination; returns `<repo>:<tag>@<digest>` for each, or
/// `<repo>@<digest>` when `by_digest_only` (the manifest is then pushed by digest and no tag
/// moves). `early`: what the uploads started during the build already put in place.
pub(super) async fn push_all(
    finished: &FinishedImage,
    destinations: &[Reference],
    client: &RegistryClient,
    blobs: &BlobStore,
    modes: PushModes<'_>,
    early: &UploadedLayers,
) -> Result<Vec<String>, OutputError> {
    let PushModes {
        ignore_immutable,
        by_digest_only,
        signing_key,
        sbom,
    } = modes;
    // One blob upload per repository, whatever the number of tags.
    let repositories = repositories(destinations);
    for target in repositories.values() {
        push_blobs(finished, target, client, blobs, early).await?;
    }
    let digest = &finished.manifest.digest;
    let mut pushed = Vec::new();
    // By digest first when nothing else is pushed, or when the image is signed or gets its
    // SBOM before any tag moves.
    let mut document = None;
    if by_digest_only || signing_key.is_some() || sbom {
        for (repository, destination) in &repositories {
            let by_digest = Reference::with_digest(
                destination.registry().to_string(),
                destination.repository().to_string(),
                digest.clone(),
            );
            push_manifest(finished, &by_digest, destination, client, blobs)
                .await
                .map_err(push_err(&by_digest, digest))?;
            tracing::info!(destination = %by_digest, %digest, "pushed by digest");
            let annotations = std::collections::BTreeMap::new();
            if sbom {
                // Made once, from the first repository's copy; attached in each.
                if document.is_none() {
                    let platform = finished.manifest.platform.as_ref().map(|p| p.to_string());
                    document = Some(
                        kaniko_sign::sbom::generate(
                            client,
                            destination,
                            &finished.manifest,
                            platform.as_deref(),
                        )
                        .await?,
                    );
                }
                let document = document.as_deref().unwrap_or_default();
                let attached =
                    kaniko_sign::sbom::attach(client, destination, &finished.manifest, document)
                        .await?;
                if let Some(key) = signing_key {
                    let sbom_manifest = &attached.referrer.descriptor;
                    kaniko_sign::sign(client, key, destination, sbom_manifest, &annotations)
                        .await?;
                }
            }
            if let Some(key) = signing_key {
                kaniko_sign::sign(client, key, destination, &finished.manifest, &annotations)
                    .await?;
            }
            if by_digest_only {
                pushed.push(format!("{repository}@{digest}"));
            }
        }
        if by_digest_only {
            return Ok(pushed);
        }
    }
    for destination in destinations {
        let tag = tag_of(destination);
        let tagged = Reference::with_tag(
            destination.registry().to_string(),
            destination.repository().to_string(),
            tag.to_string(),
        );
        let result = push_manifest(finished, &tagged, destination, client, blobs).await;
        match result {
            Ok(_) => tracing::info!(destination = %tagged, %digest, "pushed"),
            Err(err) if ignore_immutable && is_immutable_tag_error(&err) => {
                tracing::warn!(destination = %tagged, %digest, error = %err, "immutable tag error ignored");
            }
            Err(err) => return Err(push_err(&tagged, digest)(err)),
        }
        pushed.push(format!("{}:{tag}@{digest}", repository_name(destination)));
    }
    Ok(pushed)
}

/// Pushes the manifest to `reference` (in `target`'s repository). A registry that answers
/// MANIFEST_BLOB_UNKNOWN for a blob this push already placed has lost a race between two
/// writers of the same blob link (docker-registry rewrites the link file in place): the
/// blobs are checked (and re-uploaded where missing) again and the manifest pushed again,
/// up to [`MANIFEST_PUSH_ATTEMPTS`] pushes in all.
async fn push_manifest(
    finished: &FinishedImage,
    reference: &Reference,
    target: &Reference,
    client: &RegistryClient,
    blobs: &BlobStore,
) -> Result<(), RegistryError> {
    let push = || {
        client.push_manifest_raw(
            reference,
            finished.manifest_bytes.clone(),
            &finished.manifest.media_type,
        )
    };
    let mut attempt = 1;
    loop {
        match push().await {
            Err(err) if attempt < MANIFEST_PUSH_ATTEMPTS && err.is_manifest_blob_unknown() => {
                tracing::warn!(destination = %reference, error = %err, attempt, "the registry lost a blob of this push; checking the blobs again");
                tokio::time::sleep(MANIFEST_RETRY_PAUSE * attempt).await;
                push_blobs(finished, target, client, blobs, &UploadedLayers::default())
                    .await
                    .map_err(|_| err)?;
                attempt += 1;
            }
            other => return other.map(|_| ()),
        }
    }
}

/// How many times a manifest refused MANIFEST_BLOB_UNKNOWN is pushed (as the coordinator
/// pushes an index): many builds writing links into one repository at once can make the
/// registry lose a link more than once in a row.
const MANIFEST_PUSH_ATTEMPTS: u32 = 4;

/// The pause before the next attempt, times the attempt number (other writers finish).
const MANIFEST_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// How the manifests are pushed.
#[derive(Debug, Clone, Copy)]
pub(super) struct PushModes<'a> {
    /// `--push-ignore-immutable-tag-errors`.
    pub(super) ignore_immutable: bool,
    /// By digest only, moving no tag.
    pub(super) by_digest_only: bool,
    /// Sign the image (pushed by digest first) before any tag moves.
    pub(super) signing_key: Option<&'a kaniko_sign::SigningKey>,
    /// Attach the image's SBOM (signed with it) before any tag moves.
    pub(super) sbom: bool,
}

fn is_immutable_tag_error(err: &RegistryError) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    IMMUTABLE_TAG_ERRORS.iter().any(|s| text.contains(s))
}

/// Makes sure every layer and the config are in `target`'s repository (layers `early` put
/// there are not looked at again).
async fn push_blobs(
    finished: &FinishedImage,
    target: &Reference,
    client: &RegistryClient,
    blobs: &BlobStore,
    early: &UploadedLayers,
) -> Result<(), OutputError> {
    let repository = repository_name(target);
    let limit = client.options().max_concurrent_uploads.max(1);
    // The futures are made before the stream: a `map` closure held across the await makes
    // the caller's future fail rustc's higher-ranked `Send` check (serve boxes it as `Send`).
    let pushes: Vec<_> = finished
        .image
        .layers
        .iter()
        .filter(|layer| {
            !early
                .done
                .contains(&(repository.clone(), layer.descriptor.digest.clone()))
        })
        .map(|layer| push_layer(layer, target, client, blobs))
        .collect();
    futures::stream::iter(pushes)
        .buffer_unordered(limit)
        .try_collect::<Vec<()>>()
        .await?;
    client
        .push_blob_bytes(target, finished.config_bytes.clone())
        .await
        .map_err(push_err(target, &finished.config.digest))?;
    Ok(())
}

async fn push_layer(
    layer: &Layer,
    target: &Reference,
    client: &RegistryClient,
    blobs: &BlobStore,
) -> Result<(), OutputError> {
    let digest = &layer.descriptor.digest;
    if let BlobLocation::Remote(source) = &layer.location {
        // Looked for first: a mount rewrites the blob's link in the target repository even
        // when it is there, and docker-registry rewrites it in place, so a manifest another
        // build pushes at that moment is refused (DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN).
        let present = client
            .blob_exists(target, digest)
            .await
            .map_err(push_err(target, digest))?;
        if present {
            return Ok(());
        }
        let same_registry = source.resolve_registry() == target.resolve_registry();
        if same_registry && source.repository() != target.repository() {
            let mounted = client
                .mount_blob(target, source.repository(), digest)
                .await
                .map_err(push_err(target, digest))?;
            if mounted {
                tracing::debug!(%digest, from = source.repository(), to = %target, "layer mounted");
                return Ok(());
            }
        }
    }
    let path = blobs.fetch(layer).await?;
    client
        .push_blob_file(target, path, digest, layer.descriptor.size)
        .await
        .map_err(push_err(target, digest))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_tag_errors_are_recognised() {
        fn check(message: &str, expected: bool) {
            let err = RegistryError::Protocol {
                reference: "r/x:1".into(),
                message: message.into(),
            };
            assert_eq!(is_immutable_tag_error(&err), expected, "{message}");
        }
        check(
            "TAG_INVALID: The image tag 'v1' already exists and cannot be overwritten because the repository is immutable",
            true,
        );
        check("tag invalid: immutable", true);
        check("http status 400: MANIFEST_INVALID", false);
    }
}
