// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! OCI 1.1 referrers: artifacts (signatures, SBOMs, attestations) attached to a manifest
//! through their `subject`, and listing what is attached to one.
//!
//! Attaching pushes the artifact's blobs, then its manifest by digest. A registry with the
//! referrers API answers that push with an `OCI-Subject` header and indexes the manifest
//! itself. Without it (docker-registry 2.8 stores `subject` but has no API), the client keeps
//! the fallback referrers index the distribution spec prescribes: an OCI index under the tag
//! `sha256-<hex of the subject digest>` listing every referrer with its `artifactType` and
//! annotations, updated read-modify-write (existing entries kept, the new one added once).
//!
//! Listing asks `GET /v2/<name>/referrers/<digest>` first; a 404 there means no API, and the
//! fallback tag is read instead. Either way the entries are filtered by `artifactType` here,
//! whatever the registry applied.

use std::collections::BTreeMap;

use bytes::Bytes;
use kaniko_common::oci::{
    self, ArtifactDescriptor, Descriptor, Manifest, artifact_manifest_bytes, referrers_index_bytes,
};
use oci_client::RegistryOperation;

use super::answer::Answer;
use super::body::{Capped, MAX_MANIFEST_SIZE, read_capped};
use super::error::classify_reqwest;
use super::{Reference, RegistryClient, RegistryError};

/// How many times the fallback index is written and read back before a concurrent writer
/// that keeps replacing it is reported.
const FALLBACK_ATTEMPTS: usize = 3;

/// An artifact to attach to a manifest: generic, a signature and an SBOM alike.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// The manifest it refers to (media type, digest and size as pushed).
    pub subject: Descriptor,
    /// The artifact's `artifactType`.
    pub artifact_type: String,
    /// The config and its bytes ([`oci::empty_config`] and [`oci::EMPTY_JSON`] when the
    /// artifact has none).
    pub config: (Descriptor, Bytes),
    /// The layers and their bytes.
    pub layers: Vec<(Descriptor, Bytes)>,
    /// The artifact manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Where a repository's referrers of a manifest were found or recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The registry's referrers API (`OCI-Subject` on push, `GET .../referrers/<digest>`).
    Api,
    /// The fallback referrers index under the tag `sha256-<hex>`.
    FallbackTag,
}

/// An attached artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The artifact manifest's descriptor, as a referrers list shows it.
    pub referrer: ArtifactDescriptor,
    /// Whether the registry indexed it or the fallback tag was written.
    pub source: ReferrersSource,
}

/// The fallback tag of a subject digest: `sha256:<hex>` → `sha256-<hex>`.
pub fn fallback_tag(subject_digest: &str) -> String {
    subject_digest.replacen(':', "-", 1)
}

impl RegistryClient {
    /// Attaches `referrer` in `repository`'s repository (its tag or digest is ignored): its
    /// blobs, its manifest by digest, and, when the registry does not index it, the fallback
    /// referrers index. Returns the manifest's entry and where it was recorded.
    pub async fn attach_referrer(
        &self,
        repository: &Reference,
        referrer: &Referrer,
    ) -> Result<Attached, RegistryError> {
        let whole = repository.whole();
        for (descriptor, bytes) in std::iter::once(&referrer.config).chain(&referrer.layers) {
            let pushed = self.push_blob_bytes(repository, bytes.clone()).await?;
            if pushed.digest != descriptor.digest {
                return Err(RegistryError::protocol(
                    &whole,
                    format!(
                        "artifact blob has digest {}, not the {} its descriptor says",
                        pushed.digest, descriptor.digest
                    ),
                ));
            }
        }
        let layers: Vec<Descriptor> = referrer.layers.iter().map(|(d, _)| d.clone()).collect();
        let bytes = artifact_manifest_bytes(
            &referrer.artifact_type,
            &referrer.config.0,
            &layers,
            Some(&referrer.subject),
            &referrer.annotations,
        )
        .map_err(|err| RegistryError::protocol(&whole, format!("artifact manifest: {err}")))?;
        let entry = ArtifactDescriptor::for_manifest(&bytes, oci::OCI_MANIFEST)
            .map_err(|err| RegistryError::protocol(&whole, format!("artifact manifest: {err}")))?;
        let by_digest = at(repository, Some(&entry.descriptor.digest), None);
        let (_, headers) = self
            .push_manifest_headers(&by_digest, bytes, oci::OCI_MANIFEST)
            .await?;
        let indexed = headers
            .get("oci-subject")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == referrer.subject.digest);
        if indexed {
            tracing::debug!(reference = %by_digest.whole(), subject = %referrer.subject.digest, "referrer indexed by the registry");
            return Ok(Attached {
                referrer: entry,
                source: ReferrersSource::Api,
            });
        }
        self.add_to_fallback(repository, &referrer.subject.digest, &entry)
            .await?;
        Ok(Attached {
            referrer: entry,
            source: ReferrersSource::FallbackTag,
        })
    }

    /// Adds `entry` to the fallback referrers index of `subject_digest`, read-modify-write,
    /// read back to make sure a concurrent writer did not drop it.
    async fn add_to_fallback(
        &self,
        repository: &Reference,
        subject_digest: &str,
        entry: &ArtifactDescriptor,
    ) -> Result<(), RegistryError> {
        let tag = at(repository, None, Some(&fallback_tag(subject_digest)));
        for _ in 0..FALLBACK_ATTEMPTS {
            let mut entries = self.fallback_entries(&tag).await?;
            if entries
                .iter()
                .any(|e| e.descriptor.digest == entry.descriptor.digest)
            {
                return Ok(());
            }
            entries.push(entry.clone());
            let bytes = referrers_index_bytes(&entries).map_err(|err| {
                RegistryError::protocol(tag.whole(), format!("referrers index: {err}"))
            })?;
            self.push_manifest_raw(&tag, bytes, oci::OCI_INDEX).await?;
            tracing::debug!(reference = %tag.whole(), referrer = %entry.descriptor.digest, entries = entries.len(), "fallback referrers index updated");
        }
        let entries = self.fallback_entries(&tag).await?;
        if entries
            .iter()
            .any(|e| e.descriptor.digest == entry.descriptor.digest)
        {
            return Ok(());
        }
        Err(RegistryError::transient(
            tag.whole(),
            format!(
                "the fallback referrers index lost {} to concurrent writers {FALLBACK_ATTEMPTS} times",
                entry.descriptor.digest
            ),
        ))
    }

    /// The entries of the fallback referrers index `tag` names; none when the tag does not
    /// exist. A tag holding something other than an OCI index is refused.
    async fn fallback_entries(
        &self,
        tag: &Reference,
    ) -> Result<Vec<ArtifactDescriptor>, RegistryError> {
        let pulled = match self.pull_manifest_raw(tag).await {
            Ok(pulled) => pulled,
            Err(RegistryError::NotFound { .. }) => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        if pulled.media_type != oci::OCI_INDEX {
            return Err(RegistryError::protocol(
                tag.whole(),
                format!(
                    "the referrers fallback tag holds a {}, not an OCI index",
                    pulled.media_type
                ),
            ));
        }
        Manifest::parse(&pulled.bytes, Some(&pulled.media_type))
            .and_then(|m| m.artifact_descriptors())
            .map_err(|err| RegistryError::protocol(tag.whole(), format!("referrers index: {err}")))
    }

    /// What `repository`'s repository has attached to `subject_digest`, of `artifact_type`
    /// when given: through the referrers API, else the fallback tag (nothing attached is an
    /// empty list).
    pub async fn list_referrers(
        &self,
        repository: &Reference,
        subject_digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<(Vec<ArtifactDescriptor>, ReferrersSource), RegistryError> {
        let subject = at(repository, Some(subject_digest), None);
        super::blob::check_digest(&subject, subject_digest)?;
        let api = self
            .inner
            .options
            .retry
            .run(&format!("list referrers of {subject}"), |_| {
                self.referrers_api(&subject, subject_digest, artifact_type)
            })
            .await?;
        let (entries, source) = match api {
            Some(entries) => (entries, ReferrersSource::Api),
            None => {
                let tag = at(repository, None, Some(&fallback_tag(subject_digest)));
                (
                    self.fallback_entries(&tag).await?,
                    ReferrersSource::FallbackTag,
                )
            }
        };
        let entries = entries
            .into_iter()
            .filter(|e| artifact_type.is_none_or(|t| e.artifact_type.as_deref() == Some(t)))
            .collect();
        Ok((entries, source))
    }

    /// One `GET /v2/<name>/referrers/<digest>`: `None` when the registry has no such API
    /// (404).
    async fn referrers_api(
        &self,
        subject: &Reference,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<ArtifactDescriptor>>, RegistryError> {
        let whole = subject.whole();
        let mut path = format!("/v2/{}/referrers/{digest}", subject.repository());
        if let Some(artifact_type) = artifact_type {
            path.push_str("?artifactType=");
            path.push_str(&artifact_type.replace('+', "%2B"));
        }
        let response = self
            .api_request(subject, &path, RegistryOperation::Pull, |http, url| {
                http.get(url).header(http::header::ACCEPT, oci::OCI_INDEX)
            })
            .await?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(Answer::read(response).await.by_status(&whole, "referrers"));
        }
        let bytes = match read_capped(response, MAX_MANIFEST_SIZE)
            .await
            .map_err(|err| classify_reqwest(&whole, "referrers", &err))?
        {
            Capped::Complete(bytes) => bytes,
            Capped::TooLarge => {
                return Err(RegistryError::protocol(
                    &whole,
                    "the referrers list is larger than 8 MiB",
                ));
            }
        };
        Manifest::parse(&bytes, Some(oci::OCI_INDEX))
            .and_then(|m| m.artifact_descriptors())
            .map(Some)
            .map_err(|err| RegistryError::protocol(&whole, format!("referrers list: {err}")))
    }
}

/// `repository`'s registry and repository at `digest` or `tag`.
fn at(repository: &Reference, digest: Option<&str>, tag: Option<&str>) -> Reference {
    let (registry, name) = (
        repository.registry().to_string(),
        repository.repository().to_string(),
    );
    match (digest, tag) {
        (Some(digest), _) => Reference::with_digest(registry, name, digest.to_string()),
        (None, tag) => Reference::with_tag(registry, name, tag.unwrap_or("latest").to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_tags_replace_the_algorithm_separator() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(fallback_tag(&digest), format!("sha256-{}", "ab".repeat(32)));
    }
}
