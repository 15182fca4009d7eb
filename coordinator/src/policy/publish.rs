// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Index publishing: turns a build's per-platform manifests into one OCI image index (or a
//! Docker manifest list, per `oci_mode`; `auto` follows the children), with the requested
//! annotations plus `org.opencontainers.image.created`, and publishes it. Order, so that no
//! tag ever points at something incomplete: every child is made present in every destination
//! repository (cross-repository mount from a repository that has it, else a copy), then the
//! index is pushed by digest to every repository, then, with `--sbom`, each child gets its
//! SPDX SBOM attached as a referrer, then, when this process holds a signing key
//! ([`super::sign`]), the index, every child and every SBOM are signed in every repository,
//! then the index goes under every destination tag.
//!
//! [`publish`] is the one publishing path: the IndexActor runs it for NATS builds, the `local`
//! and `ci` drivers call it in-process. [`PublishOptions`] carries what is not index content: the
//! standard annotations (OCI only, left off a Docker list), the immutable-tag policy, extra
//! repositories children may be taken from, and a fixed creation time.

use std::collections::BTreeMap;

use kaniko_common::index::{BuiltIndex, IndexBuilder, IndexFormat};
use kaniko_common::messages::{
    BuildRequest, ErrorKind, EventKind, PlatformDescriptor, RequestedOciMode, TagPush, TagState,
    WireError, tags_moved,
};
use kaniko_common::oci::Descriptor;
use kaniko_registry::{Reference, RegistryClient, RegistryError};
use tracing::{info, instrument, warn};

/// The standard creation-time annotation.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// Publish the index of a build.
#[derive(Debug, Clone)]
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
    /// What publishing does beyond the index's content.
    pub options: PublishOptions,
}

/// A published index: in every destination repository by digest, and what each destination
/// tag became (`moved`, or `immutable` when a refusal to move an immutable tag was ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The index.
    pub index: Descriptor,
    /// Every destination tag, in the order given.
    pub tags: Vec<TagPush>,
}

/// Why publishing failed, and exactly how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFailure {
    /// What failed.
    pub error: WireError,
    /// The index, when it was pushed by digest to every destination repository.
    pub index: Option<Descriptor>,
    /// Every destination tag, in the order given: the ones that `moved` before the failure,
    /// the `refused` one, and the ones `not_pushed` (all of them when the failure came before
    /// the tags).
    pub tags: Vec<TagPush>,
}

impl PublishFailure {
    /// A failure before any tag was pushed: every destination `not_pushed`.
    pub fn before_tags(
        error: WireError,
        destinations: &[String],
        index: Option<Descriptor>,
    ) -> Box<Self> {
        Box::new(PublishFailure {
            error,
            index,
            tags: destinations
                .iter()
                .map(|d| TagPush::new(d.clone(), TagState::NotPushed))
                .collect(),
        })
    }

    /// True when some destination tags name the new index and others do not.
    pub fn partially_published(&self) -> bool {
        tags_moved(&self.tags) > 0
    }

    /// The build's error: `publishing the index: <what failed>`.
    pub fn build_error(&self) -> WireError {
        WireError::new(
            self.error.kind,
            format!("publishing the index: {}", self.error.message),
        )
    }

    /// The `failed` event of a build whose publishing failed: the error, the index if it was
    /// pushed by digest, the built `platforms` and every destination tag's fate.
    pub fn into_event(self, platforms: Vec<PlatformDescriptor>) -> EventKind {
        EventKind::Failed {
            errors: vec![self.build_error()],
            index: self.index,
            platforms,
            tags: self.tags,
        }
    }
}

/// What publishing does beyond the index's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Annotations derived by the client (`org.opencontainers.image.source`, `revision`): on
    /// an OCI index only; a Docker list leaves them off instead of failing.
    pub standard_annotations: BTreeMap<String, String>,
    /// A registry refusing to move an immutable tag is a warning, not a failure (tag pushes
    /// only: the index is in every repository by digest by then).
    pub ignore_immutable_tag_errors: bool,
    /// More repositories (`registry/repository`) to take a child from when no destination
    /// repository has it: where per-architecture CI jobs pushed their images.
    pub child_sources: Vec<String>,
    /// The `created` annotation's time; `None` for now. Set it to build the same bytes
    /// twice (see [`build_index`]).
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    /// Sign the index, the children and their SBOMs with this process's key
    /// ([`super::sign::installed`]); refused when it holds none.
    pub sign: bool,
    /// Attach an SPDX SBOM to each child (`--sbom`, [`super::sign::attach_sboms`]).
    pub sbom: bool,
}

impl PublishIndex {
    /// The publish message for a build `request` whose children are built.
    pub fn for_request(
        build_id: String,
        request: &BuildRequest,
        children: Vec<PlatformDescriptor>,
    ) -> Self {
        PublishIndex {
            build_id,
            destinations: request.destinations.clone(),
            oci_mode: request.oci_mode,
            annotations: request.index_annotations.clone(),
            reproducible: request.reproducible,
            children,
            options: PublishOptions {
                standard_annotations: request.standard_annotations.clone(),
                ignore_immutable_tag_errors: request.push_ignore_immutable_tag_errors,
                sign: request.sign_images,
                sbom: request.sbom,
                ..PublishOptions::default()
            },
        }
    }
}

/// The index format for `mode`, these children and whether annotations were asked for:
/// [`index_format`], except that `auto` picks an OCI index when annotations are requested
/// (a Docker list cannot carry them), as `docker buildx imagetools create` does.
pub fn index_format_for(
    mode: RequestedOciMode,
    children: &[PlatformDescriptor],
    annotations_requested: bool,
) -> IndexFormat {
    if mode == RequestedOciMode::Auto && annotations_requested {
        return IndexFormat::Oci;
    }
    index_format(mode, children)
}

/// Whether a registry error on a tag push means "this tag is immutable": a 400, 403 or 409
/// whose body says `TAG_INVALID`, `MANIFEST_INVALID` or `DENIED` (ECR, Artifact Registry,
/// Harbor), or any error mentioning immutability.
pub fn is_immutable_tag_error(err: &RegistryError) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    if text.contains("immutable") {
        return true;
    }
    let refused_status = ["http status 400", "http status 403", "http status 409"]
        .iter()
        .any(|s| text.contains(s));
    refused_status
        && ["tag_invalid", "manifest_invalid", "denied"]
            .iter()
            .any(|code| text.contains(code))
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

fn wire(err: RegistryError) -> WireError {
    let kind = match &err {
        RegistryError::Unauthorized { .. } => ErrorKind::Unauthorized,
        RegistryError::NotFound { .. } | RegistryError::NoRepository { .. } => ErrorKind::NotFound,
        RegistryError::Transient { .. } => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    };
    WireError::new(kind, err.to_string())
}

/// Builds the index `msg` describes without pushing anything: every refusal (duplicate
/// platforms, annotations on a Docker list, a child the format cannot list) happens here.
/// With [`PublishOptions::created`] set, [`publish`] pushes exactly these bytes.
pub fn build_index(msg: &PublishIndex) -> Result<BuiltIndex, WireError> {
    let format = index_format_for(msg.oci_mode, &msg.children, !msg.annotations.is_empty());
    let mut builder = IndexBuilder::new(format);
    for child in &msg.children {
        builder
            .add(child.platform.clone(), child.descriptor.clone())
            .map_err(|e| WireError::refused(e.to_string()))?;
    }
    let mut annotations = index_annotations(
        format,
        &msg.annotations,
        msg.reproducible,
        msg.options.created.unwrap_or_else(chrono::Utc::now),
    );
    if format == IndexFormat::Oci {
        for (key, value) in &msg.options.standard_annotations {
            annotations
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
    }
    builder
        .annotations(annotations)
        .map_err(|e| WireError::refused(e.to_string()))?;
    builder
        .build()
        .map_err(|e| WireError::refused(e.to_string()))
}

/// Publishes the index `msg` describes: see the module documentation for the order. The
/// tags are pushed in the order given; the first refused one stops the publishing (the tags
/// before it moved, it and the ones after did not), and the failure says so tag by tag.
#[instrument(skip_all, fields(build_id = %msg.build_id))]
pub async fn publish(
    registry: &RegistryClient,
    msg: PublishIndex,
) -> Result<Published, Box<PublishFailure>> {
    let early = |error: WireError| PublishFailure::before_tags(error, &msg.destinations, None);
    let built = build_index(&msg).map_err(early)?;
    let key = match (msg.options.sign, super::sign::installed()) {
        (false, _) => None,
        (true, Some(key)) => Some(key),
        (true, None) => return Err(early(WireError::refused(super::sign::NO_KEY.to_string()))),
    };

    let mut tags = Vec::new();
    for destination in &msg.destinations {
        let reference: Reference = destination.parse().map_err(|e| {
            early(WireError::refused(format!(
                "destination {destination:?} is not a reference: {e}"
            )))
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
    let sources = source_repositories(&msg.options.child_sources).map_err(early)?;
    for child in &msg.children {
        ensure_child_from(registry, &sources, &repositories, &child.descriptor)
            .await
            .map_err(early)?;
    }
    let children = Children {
        registry,
        sources: &sources,
        repositories: &repositories,
        descriptors: msg.children.iter().map(|c| &c.descriptor).collect(),
    };
    for (host, repository) in &repositories {
        let by_digest =
            Reference::with_digest(host.clone(), repository.clone(), built.digest.clone());
        children
            .push_index(&by_digest, &built.bytes, &built.media_type)
            .await
            .map_err(|err| early(wire(err)))?;
    }
    let index = built.descriptor();
    let sboms = if msg.options.sbom {
        super::sign::attach_sboms(registry, &repositories, &msg.children)
            .await
            .map_err(|error| {
                PublishFailure::before_tags(error, &msg.destinations, Some(index.clone()))
            })?
    } else {
        Vec::new()
    };
    if let Some(key) = key {
        super::sign::sign_published(registry, key, &repositories, &index, &msg.children, &sboms)
            .await
            .map_err(|error| {
                PublishFailure::before_tags(error, &msg.destinations, Some(index.clone()))
            })?;
    }
    let mut pushed: Vec<TagPush> = Vec::new();
    for (destination, tag) in msg.destinations.iter().zip(&tags) {
        let reference = Reference::with_tag(
            tag.registry().to_string(),
            tag.repository().to_string(),
            tag.tag().unwrap_or("latest").to_string(),
        );
        match children
            .push_index(&reference, &built.bytes, &built.media_type)
            .await
        {
            Ok(()) => {
                info!(reference = %reference.whole(), digest = %built.digest, "index pushed");
                pushed.push(TagPush::new(destination.clone(), TagState::Moved));
            }
            Err(err) if msg.options.ignore_immutable_tag_errors && is_immutable_tag_error(&err) => {
                warn!(reference = %reference.whole(), digest = %built.digest, error = %err, "immutable tag not moved");
                pushed.push(TagPush {
                    tag: destination.clone(),
                    state: TagState::Immutable,
                    error: Some(wire(err)),
                });
            }
            Err(err) => {
                let error = wire(err);
                warn!(reference = %reference.whole(), digest = %built.digest, %error, moved = tags_moved(&pushed), "tag refused; publishing stops");
                pushed.push(TagPush {
                    tag: destination.clone(),
                    state: TagState::Refused,
                    error: Some(error.clone()),
                });
                for later in msg.destinations.iter().skip(pushed.len()) {
                    pushed.push(TagPush::new(later.clone(), TagState::NotPushed));
                }
                return Err(Box::new(PublishFailure {
                    error,
                    index: Some(index),
                    tags: pushed,
                }));
            }
        }
    }
    Ok(Published {
        index,
        tags: pushed,
    })
}

/// `registry/repository` names as (registry, repository) pairs.
fn source_repositories(names: &[String]) -> Result<Vec<(String, String)>, WireError> {
    names
        .iter()
        .map(|name| {
            let reference: Reference = name.parse().map_err(|e| {
                WireError::refused(format!("child source {name:?} is not a repository: {e}"))
            })?;
            Ok((
                reference.registry().to_string(),
                reference.repository().to_string(),
            ))
        })
        .collect()
}

/// An index's children and where they must be, for pushing the index.
struct Children<'a> {
    registry: &'a RegistryClient,
    sources: &'a [(String, String)],
    repositories: &'a [(String, String)],
    descriptors: Vec<&'a Descriptor>,
}

/// Pushes of an index refused MANIFEST_BLOB_UNKNOWN before giving up.
const INDEX_PUSH_ATTEMPTS: u32 = 3;

impl Children<'_> {
    /// Pushes the index `bytes` to `reference`. docker-registry rewrites a repository's links
    /// in place, so while other builds push the same child at once (or on storage still
    /// settling) the index can be refused MANIFEST_BLOB_UNKNOWN for a child that is there:
    /// the children are checked again (copied where really missing) and the index pushed once
    /// more, up to [`INDEX_PUSH_ATTEMPTS`] times in all.
    async fn push_index(
        &self,
        reference: &Reference,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let mut attempt = 1;
        loop {
            match self
                .registry
                .push_manifest_raw(reference, bytes.to_vec(), media_type)
                .await
            {
                Err(err) if attempt < INDEX_PUSH_ATTEMPTS && err.is_manifest_blob_unknown() => {
                    warn!(reference = %reference.whole(), error = %err, attempt, "the registry does not see a child of the index; checking the children again");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                        .await;
                    for child in &self.descriptors {
                        if let Err(error) =
                            ensure_child_from(self.registry, self.sources, self.repositories, child)
                                .await
                        {
                            warn!(child = %child.digest, %error, "checking a child of the index again");
                        }
                    }
                    attempt += 1;
                }
                other => return other.map(drop),
            }
        }
    }
}

/// Makes `child` present in every repository of `repositories`: it must be in at least one of
/// them or of `sources` (where a worker or a CI job pushed it); the others get its blobs
/// mounted (or copied) and the manifest pushed by digest.
pub async fn ensure_child_from(
    registry: &RegistryClient,
    sources: &[(String, String)],
    repositories: &[(String, String)],
    child: &Descriptor,
) -> Result<(), WireError> {
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for (host, repository) in repositories {
        let reference =
            Reference::with_digest(host.clone(), repository.clone(), child.digest.clone());
        match registry.pull_manifest_sized(&reference, child.size).await {
            Ok(pulled) => present.push((reference, pulled)),
            Err(RegistryError::NotFound { .. }) => missing.push(reference),
            Err(err) => return Err(wire(err)),
        }
    }
    if present.is_empty() {
        for (host, repository) in sources {
            if repositories.contains(&(host.clone(), repository.clone())) {
                continue;
            }
            let reference =
                Reference::with_digest(host.clone(), repository.clone(), child.digest.clone());
            match registry.pull_manifest_sized(&reference, child.size).await {
                Ok(pulled) => {
                    present.push((reference, pulled));
                    break;
                }
                Err(RegistryError::NotFound { .. }) => {}
                Err(err) => return Err(wire(err)),
            }
        }
    }
    let Some((source, manifest)) = present.first() else {
        return Err(WireError::not_found(format!(
            "child manifest {} is in none of the destination repositories",
            child.digest
        )));
    };
    for target in missing {
        for (digest, size) in blob_digests(&manifest.bytes)? {
            copy_blob(registry, source, &target, &digest, size).await?;
        }
        registry
            .push_manifest_raw(&target, manifest.bytes.clone(), &manifest.media_type)
            .await
            .map_err(wire)?;
    }
    Ok(())
}

/// The config and layer digests of an image manifest, with their sizes.
fn blob_digests(bytes: &[u8]) -> Result<Vec<(String, u64)>, WireError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| WireError::permanent(format!("child manifest is not json: {e}")))?;
    let descriptor = |d: &serde_json::Value| {
        let digest = d.get("digest").and_then(|v| v.as_str())?;
        let size = d.get("size").and_then(serde_json::Value::as_u64)?;
        Some((digest.to_string(), size))
    };
    let mut out = Vec::new();
    out.extend(value.get("config").and_then(descriptor));
    if let Some(layers) = value.get("layers").and_then(|l| l.as_array()) {
        out.extend(layers.iter().filter_map(descriptor));
    }
    Ok(out)
}

/// Makes blob `digest` (`size` bytes) of `source` present in `target`: already there, mounted
/// (same registry), else streamed through a temporary file (never held in memory), reading
/// no more than `size` bytes.
async fn copy_blob(
    registry: &RegistryClient,
    source: &Reference,
    target: &Reference,
    digest: &str,
    size: u64,
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
    let local = |e: std::io::Error| {
        WireError::permanent(format!("a temporary file for blob {digest}: {e}"))
    };
    let (file, path) = tempfile::NamedTempFile::new().map_err(local)?.into_parts();
    let mut out = tokio::fs::File::from_std(file);
    registry
        .pull_blob_sized(source, digest, size, "blob", &mut out)
        .await
        .map_err(wire)?;
    drop(out);
    registry
        .push_blob_file(target, path.to_path_buf(), digest, size)
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
    fn auto_picks_oci_when_annotations_are_asked_for() {
        fn check(mode: RequestedOciMode, annotations: bool, expected: IndexFormat) {
            let docker = [child("linux/amd64", DOCKER_MANIFEST)];
            assert_eq!(
                index_format_for(mode, &docker, annotations),
                expected,
                "{mode:?} {annotations}"
            );
        }
        check(RequestedOciMode::Auto, false, IndexFormat::DockerList);
        check(RequestedOciMode::Auto, true, IndexFormat::Oci);
        check(RequestedOciMode::Docker, true, IndexFormat::DockerList);
        check(RequestedOciMode::Oci, false, IndexFormat::Oci);
    }

    #[test]
    fn immutable_tag_refusals_are_recognised() {
        fn check(err: RegistryError, expected: bool) {
            assert_eq!(is_immutable_tag_error(&err), expected, "{err}");
        }
        let protocol = |message: &str| RegistryError::Protocol {
            reference: "r/app:1".into(),
            message: message.into(),
        };
        check(
            protocol(
                r#"http status 400: {"errors":[{"code":"TAG_INVALID","message":"The image tag '1' already exists"}]}"#,
            ),
            true,
        );
        check(
            protocol(r#"http status 409: {"errors":[{"code":"MANIFEST_INVALID"}]}"#),
            true,
        );
        check(
            RegistryError::Unauthorized {
                reference: "r/app:1".into(),
                message: r#"http status 403: {"errors":[{"code":"DENIED","message":"tag is protected"}]}"#.into(),
            },
            true,
        );
        check(protocol("http status 400: tag v1 is immutable"), true);
        check(
            protocol(r#"http status 400: {"errors":[{"code":"BLOB_UNKNOWN"}]}"#),
            false,
        );
        check(
            RegistryError::Unauthorized {
                reference: "r/app:1".into(),
                message: "http status 401".into(),
            },
            false,
        );
        check(
            RegistryError::Transient {
                reference: "r/app:1".into(),
                message: "http status 503: denied by upstream".into(),
                retry_after_secs: None,
            },
            false,
        );
    }

    fn publish_msg(mode: RequestedOciMode, annotations: &[(&str, &str)]) -> PublishIndex {
        PublishIndex {
            build_id: "b1".into(),
            destinations: vec!["r/app:1".into()],
            oci_mode: mode,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            reproducible: false,
            children: vec![
                child("linux/amd64", DOCKER_MANIFEST),
                child("linux/arm64", DOCKER_MANIFEST),
            ],
            options: PublishOptions {
                standard_annotations: BTreeMap::from([(
                    "org.opencontainers.image.revision".to_string(),
                    "abc123".to_string(),
                )]),
                created: chrono::DateTime::from_timestamp(1_700_000_000, 0),
                ..PublishOptions::default()
            },
        }
    }

    #[test]
    fn built_indexes_carry_standard_annotations_on_oci_only() {
        fn annotations(msg: &PublishIndex) -> Option<serde_json::Value> {
            let built = build_index(msg).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&built.bytes).unwrap();
            value.get("annotations").cloned()
        }
        let oci = publish_msg(RequestedOciMode::Oci, &[("a", "1")]);
        assert_eq!(
            annotations(&oci),
            Some(serde_json::json!({
                "a": "1",
                "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
                "org.opencontainers.image.revision": "abc123",
            }))
        );
        // Asked for explicitly, the user's value wins over the derived one.
        let overridden = publish_msg(
            RequestedOciMode::Oci,
            &[("org.opencontainers.image.revision", "mine")],
        );
        assert_eq!(
            annotations(&overridden).unwrap()["org.opencontainers.image.revision"],
            "mine"
        );
        let docker = publish_msg(RequestedOciMode::Docker, &[]);
        assert_eq!(annotations(&docker), None);
        assert_eq!(
            build_index(&docker).unwrap().media_type,
            kaniko_common::oci::DOCKER_MANIFEST_LIST
        );
        // A fixed creation time gives the same bytes twice.
        assert_eq!(build_index(&oci).unwrap(), build_index(&oci).unwrap());
    }

    #[test]
    fn annotations_on_a_docker_list_are_refused_before_anything_is_pushed() {
        let err = build_index(&publish_msg(RequestedOciMode::Docker, &[("a", "1")])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Refused);
        assert!(err.message.contains("cannot carry annotations"), "{err}");
    }

    #[test]
    fn publish_options_follow_the_request() {
        let mut request = BuildRequest::new(
            kaniko_common::messages::ContextRef {
                sha256: "a".repeat(64),
                size: 1,
            },
            vec![Platform::parse("linux/amd64").unwrap()],
            vec!["r/app:1".into(), "r/other:2".into()],
        );
        request.push_ignore_immutable_tag_errors = true;
        request
            .standard_annotations
            .insert("org.opencontainers.image.source".into(), "https://x".into());
        let msg = PublishIndex::for_request("b1".into(), &request, Vec::new());
        assert_eq!(msg.destinations, request.destinations);
        assert!(msg.options.ignore_immutable_tag_errors);
        assert_eq!(
            msg.options.standard_annotations,
            request.standard_annotations
        );
        assert_eq!(msg.options.created, None);
    }

    #[test]
    fn a_failure_before_the_tags_lists_every_tag_as_not_pushed() {
        let destinations = ["r/app:1".to_string(), "r/app:2".to_string()];
        let failure =
            PublishFailure::before_tags(WireError::transient("registry down"), &destinations, None);
        assert!(!failure.partially_published());
        assert_eq!(
            failure.build_error().message,
            "publishing the index: registry down"
        );
        let EventKind::Failed { tags, index, .. } = failure.into_event(Vec::new()) else {
            panic!("not a failed event");
        };
        assert_eq!(index, None);
        assert_eq!(
            tags,
            [
                TagPush::new("r/app:1", TagState::NotPushed),
                TagPush::new("r/app:2", TagState::NotPushed),
            ]
        );
    }

    #[test]
    fn blob_digests_of_a_manifest() {
        let manifest = br#"{"config":{"digest":"sha256:c","size":2},"layers":[{"digest":"sha256:l1","size":10},{"digest":"sha256:l2","size":20}]}"#;
        let got = blob_digests(manifest).unwrap();
        let got: Vec<(&str, u64)> = got.iter().map(|(d, s)| (d.as_str(), *s)).collect();
        assert_eq!(got, [("sha256:c", 2), ("sha256:l1", 10), ("sha256:l2", 20)]);
        assert!(blob_digests(b"nope").is_err());
    }
}
