// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The IndexActor: turns a build's per-platform manifests into one OCI image index (or a
//! Docker manifest list, per `oci_mode`; `auto` follows the children), with the requested
//! annotations plus `org.opencontainers.image.created`, and publishes it. Order, so that no
//! tag ever points at something incomplete: every child is made present in every destination
//! repository (cross-repository mount from a repository that has it, else a copy), then the
//! index is pushed by digest to every repository, then under every destination tag.

use std::collections::BTreeMap;

use actix::prelude::*;
use kaniko_common::index::{IndexBuilder, IndexFormat};
use kaniko_common::messages::{ErrorKind, PlatformDescriptor, RequestedOciMode, WireError};
use kaniko_common::oci::Descriptor;
use kaniko_common::registry::{Reference, RegistryClient, RegistryError};
use tracing::{info, instrument};

/// The standard creation-time annotation.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// Publish the index of a build.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Descriptor, WireError>")]
pub struct PublishIndex {
    /// The build, for logs.
    pub build_id: String,
    /// The tags (`registry/repo:tag`) to push the index under.
    pub destinations: Vec<String>,
    /// The requested media types.
    pub oci_mode: RequestedOciMode,
    /// Annotations on the index.
    pub annotations: BTreeMap<String, String>,
    /// Reproducible: the created annotation is the epoch.
    pub reproducible: bool,
    /// The children.
    pub children: Vec<PlatformDescriptor>,
}

/// The index format for `mode` and these children.
pub fn index_format(mode: RequestedOciMode, children: &[PlatformDescriptor]) -> IndexFormat {
    match mode {
        RequestedOciMode::Oci => IndexFormat::Oci,
        RequestedOciMode::Docker => IndexFormat::DockerList,
        RequestedOciMode::Auto => {
            IndexFormat::auto_for(children.iter().map(|c| c.descriptor.media_type.as_str()))
        }
    }
}

/// The annotations an index of `format` gets: the requested ones, plus `created` on an OCI
/// index unless given (the epoch when reproducible). A Docker list gets none; asking for
/// some on it is refused by the builder.
pub fn index_annotations(
    format: IndexFormat,
    requested: &BTreeMap<String, String>,
    reproducible: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> BTreeMap<String, String> {
    let mut out = requested.clone();
    if format == IndexFormat::Oci && !out.contains_key(ANNOTATION_CREATED) {
        let at = if reproducible {
            chrono::DateTime::UNIX_EPOCH
        } else {
            now
        };
        out.insert(
            ANNOTATION_CREATED.to_string(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    }
    out
}

/// Builds and pushes indexes.
pub struct IndexActor {
    registry: RegistryClient,
}

impl IndexActor {
    /// An index actor pushing through `registry`.
    pub fn new(registry: RegistryClient) -> Self {
        IndexActor { registry }
    }
}

impl Actor for IndexActor {
    type Context = Context<Self>;
}

impl Handler<PublishIndex> for IndexActor {
    type Result = ResponseFuture<Result<Descriptor, WireError>>;

    fn handle(&mut self, msg: PublishIndex, _ctx: &mut Self::Context) -> Self::Result {
        let registry = self.registry.clone();
        Box::pin(async move { publish(&registry, msg).await })
    }
}

fn wire(err: RegistryError) -> WireError {
    let kind = match &err {
        RegistryError::Unauthorized { .. } => ErrorKind::Unauthorized,
        RegistryError::NotFound { .. } => ErrorKind::NotFound,
        RegistryError::Transient { .. } => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    };
    WireError::new(kind, err.to_string())
}

/// Builds the index of `msg.children` and publishes it: children made present in every
/// destination repository, the index by digest, then under every tag. The IndexActor's work,
/// also called directly by the local driver.
#[instrument(skip_all, fields(build_id = %msg.build_id))]
pub async fn publish(
    registry: &RegistryClient,
    msg: PublishIndex,
) -> Result<Descriptor, WireError> {
    let format = index_format(msg.oci_mode, &msg.children);
    let mut builder = IndexBuilder::new(format);
    for child in &msg.children {
        builder
            .add(child.platform.clone(), child.descriptor.clone())
            .map_err(|e| WireError::refused(e.to_string()))?;
    }
    builder
        .annotations(index_annotations(
            format,
            &msg.annotations,
            msg.reproducible,
            chrono::Utc::now(),
        ))
        .map_err(|e| WireError::refused(e.to_string()))?;
    let built = builder
        .build()
        .map_err(|e| WireError::refused(e.to_string()))?;

    let mut tags = Vec::new();
    for destination in &msg.destinations {
        let reference: Reference = destination.parse().map_err(|e| {
            WireError::refused(format!(
                "destination {destination:?} is not a reference: {e}"
            ))
        })?;
        tags.push(reference);
    }
    let mut repositories: Vec<(String, String)> = Vec::new();
    for tag in &tags {
        let repo = (tag.registry().to_string(), tag.repository().to_string());
        if !repositories.contains(&repo) {
            repositories.push(repo);
        }
    }
    for child in &msg.children {
        ensure_child(registry, &repositories, &child.descriptor).await?;
    }
    for (host, repository) in &repositories {
        let by_digest =
            Reference::with_digest(host.clone(), repository.clone(), built.digest.clone());
        registry
            .push_manifest_raw(&by_digest, built.bytes.clone(), &built.media_type)
            .await
            .map_err(wire)?;
    }
    for tag in &tags {
        let reference = Reference::with_tag(
            tag.registry().to_string(),
            tag.repository().to_string(),
            tag.tag().unwrap_or("latest").to_string(),
        );
        registry
            .push_manifest_raw(&reference, built.bytes.clone(), &built.media_type)
            .await
            .map_err(wire)?;
        info!(reference = %reference.whole(), digest = %built.digest, "index pushed");
    }
    Ok(built.descriptor())
}

/// Makes `child` present in every repository: it must be in at least one (where the worker
/// pushed it); the others get its blobs mounted (or copied) and the manifest pushed by digest.
async fn ensure_child(
    registry: &RegistryClient,
    repositories: &[(String, String)],
    child: &Descriptor,
) -> Result<(), WireError> {
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for (host, repository) in repositories {
        let reference =
            Reference::with_digest(host.clone(), repository.clone(), child.digest.clone());
        match registry.pull_manifest_raw(&reference).await {
            Ok(pulled) => present.push((reference, pulled)),
            Err(RegistryError::NotFound { .. }) => missing.push(reference),
            Err(err) => return Err(wire(err)),
        }
    }
    let Some((source, manifest)) = present.first() else {
        return Err(WireError::not_found(format!(
            "child manifest {} is in none of the destination repositories",
            child.digest
        )));
    };
    for target in missing {
        for digest in blob_digests(&manifest.bytes)? {
            copy_blob(registry, source, &target, &digest).await?;
        }
        registry
            .push_manifest_raw(&target, manifest.bytes.clone(), &manifest.media_type)
            .await
            .map_err(wire)?;
    }
    Ok(())
}

/// The config and layer digests of an image manifest.
fn blob_digests(bytes: &[u8]) -> Result<Vec<String>, WireError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| WireError::permanent(format!("child manifest is not json: {e}")))?;
    let mut out = Vec::new();
    if let Some(digest) = value.pointer("/config/digest").and_then(|d| d.as_str()) {
        out.push(digest.to_string());
    }
    if let Some(layers) = value.get("layers").and_then(|l| l.as_array()) {
        out.extend(
            layers
                .iter()
                .filter_map(|l| l.get("digest").and_then(|d| d.as_str()))
                .map(str::to_string),
        );
    }
    Ok(out)
}

async fn copy_blob(
    registry: &RegistryClient,
    source: &Reference,
    target: &Reference,
    digest: &str,
) -> Result<(), WireError> {
    if registry.blob_exists(target, digest).await.map_err(wire)? {
        return Ok(());
    }
    if source.registry() == target.registry()
        && registry
            .mount_blob(target, source.repository(), digest)
            .await
            .map_err(wire)?
    {
        return Ok(());
    }
    let mut bytes = Vec::new();
    registry
        .pull_blob_to_writer(source, digest, &mut bytes)
        .await
        .map_err(wire)?;
    registry
        .push_blob_bytes(target, bytes)
        .await
        .map_err(wire)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::oci::{DOCKER_MANIFEST, OCI_MANIFEST};
    use kaniko_common::platform::Platform;

    fn child(platform: &str, media_type: &str) -> PlatformDescriptor {
        PlatformDescriptor {
            platform: Platform::parse(platform).unwrap(),
            descriptor: Descriptor::new(media_type, format!("sha256:{}", "d".repeat(64)), 1),
        }
    }

    #[test]
    fn format_follows_mode_and_children() {
        fn check(mode: RequestedOciMode, children: &[PlatformDescriptor], expected: IndexFormat) {
            assert_eq!(index_format(mode, children), expected, "{mode:?}");
        }
        let docker = [
            child("linux/amd64", DOCKER_MANIFEST),
            child("linux/arm64", DOCKER_MANIFEST),
        ];
        let mixed = [
            child("linux/amd64", DOCKER_MANIFEST),
            child("linux/arm64", OCI_MANIFEST),
        ];
        check(RequestedOciMode::Oci, &docker, IndexFormat::Oci);
        check(RequestedOciMode::Docker, &mixed, IndexFormat::DockerList);
        check(RequestedOciMode::Auto, &docker, IndexFormat::DockerList);
        check(RequestedOciMode::Auto, &mixed, IndexFormat::Oci);
    }

    #[test]
    fn created_is_added_to_oci_indexes_only() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut requested = BTreeMap::new();
        requested.insert(
            "org.opencontainers.image.source".to_string(),
            "git".to_string(),
        );
        fn check(got: BTreeMap<String, String>, expected: &[(&str, &str)]) {
            let got: Vec<(&str, &str)> =
                got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(got, expected);
        }
        check(
            index_annotations(IndexFormat::Oci, &requested, false, now),
            &[
                (ANNOTATION_CREATED, "2023-11-14T22:13:20Z"),
                ("org.opencontainers.image.source", "git"),
            ],
        );
        check(
            index_annotations(IndexFormat::Oci, &BTreeMap::new(), true, now),
            &[(ANNOTATION_CREATED, "1970-01-01T00:00:00Z")],
        );
        check(
            index_annotations(IndexFormat::DockerList, &BTreeMap::new(), false, now),
            &[],
        );
    }

    #[test]
    fn blob_digests_of_a_manifest() {
        let manifest = br#"{"config":{"digest":"sha256:c"},"layers":[{"digest":"sha256:l1"},{"digest":"sha256:l2"}]}"#;
        assert_eq!(
            blob_digests(manifest).unwrap(),
            ["sha256:c", "sha256:l1", "sha256:l2"]
        );
        assert!(blob_digests(b"nope").is_err());
    }
}
