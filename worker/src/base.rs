// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Base images: `scratch` (an empty config for the stage's platform, no layers) and registry
//! images resolved for the stage's platform (an index entry chosen with containerd's
//! fallbacks by the registry client). Pulls go through `--registry-map` rewrites (`from=to`:
//! images of registry `from` are tried at `to` first) and `--registry-mirror`s (tried first
//! for Docker Hub images), in that order, falling back to the image's own registry when every
//! rewrite fails — Kaniko's order.
//!
//! A base image's layers stay in its registry ([`BlobLocation::Remote`]); nothing is
//! downloaded here. Its config is split in two: the OCI part ([`ImageConfiguration`]: rootfs,
//! history, platform) and the container config as Docker writes it ([`RunConfig`], which
//! keeps `Healthcheck`, `Shell` and `OnBuild`, fields the OCI type drops).

use std::str::FromStr;

use kaniko_common::oci::{self, Descriptor};
use kaniko_common::platform::Platform;
use kaniko_registry::{Reference, RegistryClient, RegistryError, ResolvedImage, RetryPolicy};
use oci_spec::image::{Arch, ImageConfiguration, ImageConfigurationBuilder, Os, RootFs};
use serde_json::Value;

use crate::image::{BlobLocation, Image, Layer};
use crate::instructions::RunConfig;

/// Docker Hub's registry names: a mirror serves images of these.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Why a base image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// The name is not an image reference.
    #[error("invalid base image reference {reference:?}: {message}")]
    BadReference {
        /// The name as written (expanded).
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// The registry failed (every mirror and the registry itself, for a pull).
    #[error("base image {reference}: {source}")]
    Registry {
        /// The reference.
        reference: String,
        /// The registry's error (for the image's own registry when mirrors were tried).
        #[source]
        source: RegistryError,
    },
    /// Every mirror and map target failed, and `--skip-default-registry-fallback` kept the
    /// image's own registry out.
    #[error(
        "base image {reference}: no registry mirror or map target could serve it, and \
         --skip-default-registry-fallback keeps the image's own registry out (last error: {source})"
    )]
    NoFallback {
        /// The reference.
        reference: String,
        /// The last mirror's error.
        #[source]
        source: RegistryError,
    },
    /// The image's config is not an image config, or does not match its manifest.
    #[error("base image {reference}: invalid config {digest}: {message}")]
    BadConfig {
        /// The reference.
        reference: String,
        /// The config's digest.
        digest: String,
        /// What is wrong.
        message: String,
    },
}

/// Where pulls go besides the image's own registry, and how often they are tried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRewrites {
    /// `--registry-mirror` values (`host[:port][/path]`), tried in order for Docker Hub
    /// images.
    pub mirrors: Vec<String>,
    /// `--registry-map` pairs `(from, to)`; `to` may carry a path prefix too.
    pub maps: Vec<(String, String)>,
    /// `--skip-default-registry-fallback`: when a mirror or map applies to an image and all
    /// of them fail, the image's own registry is not tried.
    pub skip_default_fallback: bool,
    /// `--image-download-retry`: how many times the whole pull (every candidate) is tried
    /// again after a transient failure that outlived the registry client's own retries.
    pub download_retry: u32,
    /// `--cache-dir`: a store `worker warm` recorded images in, read before any registry.
    pub cache_dir: Option<std::path::PathBuf>,
}

impl BaseError {
    /// Whether another attempt may succeed (a registry's transient failure).
    pub fn is_transient(&self) -> bool {
        match self {
            BaseError::Registry { source, .. } | BaseError::NoFallback { source, .. } => {
                source.is_transient()
            }
            _ => false,
        }
    }
}

/// A base image ready to build on.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The image: config (without the container config) and remote layers.
    pub image: Image,
    /// The container config.
    pub run_config: RunConfig,
    /// Whether the base manifest was Docker-typed (`--oci-mode auto` follows it).
    pub docker: bool,
}

/// Parses an image name the way Docker does (`busybox` is `docker.io/library/busybox:latest`).
pub fn parse_reference(name: &str) -> Result<Reference, BaseError> {
    Reference::from_str(name).map_err(|err| BaseError::BadReference {
        reference: name.to_string(),
        message: err.to_string(),
    })
}

fn is_docker_hub(registry: &str) -> bool {
    DOCKER_HUB.contains(&registry)
}

/// `reference` moved to `target` (`host[:port][/path/prefix]`), tag and digest kept.
fn moved(reference: &Reference, target: &str) -> Reference {
    let target = target.trim_end_matches('/');
    let (host, prefix) = match target.split_once('/') {
        Some((host, prefix)) => (host, Some(prefix)),
        None => (target, None),
    };
    let repository = match prefix {
        Some(prefix) => format!("{prefix}/{}", reference.repository()),
        None => reference.repository().to_string(),
    };
    let (registry, tag, digest) = (
        host.to_string(),
        reference.tag().map(str::to_string),
        reference.digest().map(str::to_string),
    );
    match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag, digest)
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest),
        (tag, None) => {
            Reference::with_tag(registry, repository, tag.unwrap_or_else(|| "latest".into()))
        }
    }
}

/// The references to try for `reference`, in order: registry-map targets for its registry,
/// then mirrors (Docker Hub images only), then the reference itself (left out under
/// `--skip-default-registry-fallback` when a rewrite applies).
pub fn pull_candidates(reference: &Reference, rewrites: &PullRewrites) -> Vec<Reference> {
    let registry = reference.registry();
    let same = |from: &str| from == registry || (is_docker_hub(from) && is_docker_hub(registry));
    let mut out: Vec<Reference> = rewrites
        .maps
        .iter()
        .filter(|(from, _)| same(from))
        .map(|(_, to)| moved(reference, to))
        .collect();
    if is_docker_hub(registry) {
        out.extend(rewrites.mirrors.iter().map(|m| moved(reference, m)));
    }
    if out.is_empty() || !rewrites.skip_default_fallback {
        out.push(reference.clone());
    }
    out
}

/// The empty base: no layers, an empty config for `platform`.
pub fn scratch(platform: &Platform) -> Result<BaseImage, BaseError> {
    let mut config = ImageConfigurationBuilder::default()
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::from(platform.os.as_str()))
        .rootfs(RootFs::default())
        .build()
        .map_err(|err| BaseError::BadConfig {
            reference: "scratch".into(),
            digest: String::new(),
            message: err.to_string(),
        })?;
    config.set_variant(platform.variant.clone());
    Ok(BaseImage {
        image: Image {
            platform: platform.clone(),
            config,
            layers: Vec::new(),
        },
        run_config: RunConfig {
            // BuildKit gives an empty (scratch) image the default PATH, and so does Kaniko.
            env: vec![format!("PATH={DEFAULT_PATH}")],
            ..RunConfig::default()
        },
        docker: false,
    })
}

/// The `PATH` of an image that starts from scratch (`system.DefaultPathEnv` in BuildKit).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolves `name` for `platform`: from the `--cache-dir` records first, then from the
/// registries ([`resolve`]).
pub async fn pull(
    client: &RegistryClient,
    name: &str,
    platform: &Platform,
    rewrites: &PullRewrites,
) -> Result<BaseImage, BaseError> {
    let reference = parse_reference(name)?;
    if let Some(dir) = &rewrites.cache_dir
        && let Some((from, resolved)) = crate::store::images::lookup(dir, &reference, platform)
    {
        tracing::info!(
            image = %reference.whole(),
            digest = %resolved.manifest_digest,
            %platform,
            "base image from --cache-dir"
        );
        return from_resolved(name, &from, resolved, platform);
    }
    let (from, resolved) = resolve(client, name, platform, rewrites).await?;
    from_resolved(name, &from, resolved, platform)
}

/// Resolves `name` for `platform` in the registries, trying the rewrites first; returns the
/// reference it was resolved through. Errors from mirrors are logged and skipped; the error
/// of the last candidate (the image's own registry, unless `--skip-default-registry-fallback`
/// left it out) is returned. A transient failure is tried again `--image-download-retry`
/// times.
pub async fn resolve(
    client: &RegistryClient,
    name: &str,
    platform: &Platform,
    rewrites: &PullRewrites,
) -> Result<(Reference, ResolvedImage), BaseError> {
    let reference = parse_reference(name)?;
    RetryPolicy::default()
        .with_attempts(rewrites.download_retry.saturating_add(1))
        .run_if(
            &format!("pulling base image {name}"),
            BaseError::is_transient,
            |_| pull_once(client, name, &reference, platform, rewrites),
        )
        .await
}

/// One attempt of [`resolve`]: every candidate in turn.
async fn pull_once(
    client: &RegistryClient,
    name: &str,
    reference: &Reference,
    platform: &Platform,
    rewrites: &PullRewrites,
) -> Result<(Reference, ResolvedImage), BaseError> {
    let candidates = pull_candidates(reference, rewrites);
    let count = candidates.len();
    for (i, candidate) in candidates.into_iter().enumerate() {
        match client.resolve_image(&candidate, platform).await {
            Ok(resolved) => {
                tracing::info!(
                    image = %reference.whole(),
                    from = %candidate.whole(),
                    digest = %resolved.manifest_digest,
                    %platform,
                    "resolved base image"
                );
                return Ok((candidate, resolved));
            }
            Err(source) if i + 1 == count && candidate != *reference => {
                return Err(BaseError::NoFallback {
                    reference: name.to_string(),
                    source,
                });
            }
            Err(source) if i + 1 == count => {
                return Err(BaseError::Registry {
                    reference: name.to_string(),
                    source,
                });
            }
            Err(err) => {
                tracing::warn!(image = %name, via = %candidate.whole(), "pull through rewrite failed, trying the next: {err}");
            }
        }
    }
    Err(BaseError::BadReference {
        reference: name.to_string(),
        message: "no registry to pull from".into(),
    })
}

/// A base image from a resolved registry image pulled through `pulled_from`.
pub fn from_resolved(
    name: &str,
    pulled_from: &Reference,
    resolved: ResolvedImage,
    platform: &Platform,
) -> Result<BaseImage, BaseError> {
    let bad = |message: String| BaseError::BadConfig {
        reference: name.to_string(),
        digest: resolved.config_descriptor.digest.clone(),
        message,
    };
    let (config, run_config) = split_config(&resolved.config).map_err(bad)?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != resolved.layers.len() {
        return Err(bad(format!(
            "{} diff_ids for {} layers",
            diff_ids.len(),
            resolved.layers.len()
        )));
    }
    let pinned = pulled_from.clone_with_digest(resolved.manifest_digest.clone());
    let layers = resolved
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(descriptor, diff_id)| Layer {
            descriptor: Descriptor {
                platform: None,
                ..descriptor.clone()
            },
            diff_id,
            location: BlobLocation::Remote(pinned.clone()),
        })
        .collect();
    let image_platform = Platform::new(
        &config.os().to_string(),
        &config.architecture().to_string(),
        config.variant().as_deref(),
    )
    .unwrap_or_else(|_| platform.clone());
    Ok(BaseImage {
        image: Image {
            platform: image_platform,
            config,
            layers,
        },
        run_config,
        docker: oci::is_docker(&resolved.media_type),
    })
}

/// Splits config JSON into its OCI part (with an empty container config) and the container
/// config.
pub fn split_config(bytes: &[u8]) -> Result<(ImageConfiguration, RunConfig), String> {
    let mut value: Value =
        serde_json::from_slice(bytes).map_err(|err| format!("not JSON: {err}"))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| "not a JSON object".to_string())?;
    let run = object.remove("config").unwrap_or(Value::Null);
    // Docker's legacy fields; they describe the container that built the image.
    object.remove("container_config");
    object.remove("container");
    let run_config = if run.is_null() {
        RunConfig::default()
    } else {
        serde_json::from_value(run).map_err(|err| format!("container config: {err}"))?
    };
    let config: ImageConfiguration =
        serde_json::from_value(value).map_err(|err| err.to_string())?;
    Ok((config, run_config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Reference {
        parse_reference(text).unwrap()
    }

    #[test]
    fn candidates() {
        let rewrites = PullRewrites {
            mirrors: vec!["mirror.local:5000".into(), "cache.local/hub".into()],
            maps: vec![
                ("index.docker.io".into(), "mapped.local".into()),
                ("quay.io".into(), "quay-cache.local/q".into()),
            ],
            ..PullRewrites::default()
        };
        let check = |image: &str, expected: &[&str]| {
            let got: Vec<String> = pull_candidates(&r(image), &rewrites)
                .iter()
                .map(Reference::whole)
                .collect();
            assert_eq!(got, expected, "{image}");
        };
        check(
            "busybox",
            &[
                "mapped.local/library/busybox:latest",
                "mirror.local:5000/library/busybox:latest",
                "cache.local/hub/library/busybox:latest",
                "docker.io/library/busybox:latest",
            ],
        );
        check(
            "quay.io/org/app:1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            &[
                "quay-cache.local/q/org/app:1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "quay.io/org/app:1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ],
        );
        check("localhost:5000/x", &["localhost:5000/x:latest"]);
        let no_fallback = PullRewrites {
            skip_default_fallback: true,
            ..rewrites.clone()
        };
        let got = |image: &str| -> Vec<String> {
            pull_candidates(&r(image), &no_fallback)
                .iter()
                .map(Reference::whole)
                .collect()
        };
        // The image's own registry is left out only where a rewrite applies.
        assert_eq!(got("quay.io/org/app:1"), ["quay-cache.local/q/org/app:1"]);
        assert_eq!(got("localhost:5000/x"), ["localhost:5000/x:latest"]);
        assert_eq!(
            pull_candidates(&r("alpine:3"), &PullRewrites::default())
                .iter()
                .map(Reference::whole)
                .collect::<Vec<_>>(),
            ["docker.io/library/alpine:3"]
        );
    }

    #[test]
    fn bad_references_name_the_image() {
        let err = parse_reference("Not A Ref").unwrap_err();
        assert!(err.to_string().contains("\"Not A Ref\""), "{err}");
    }

    #[test]
    fn scratch_is_empty_and_for_the_platform() {
        let platform = Platform::parse("linux/arm/v7").unwrap();
        let base = scratch(&platform).unwrap();
        assert!(base.image.layers.is_empty());
        assert_eq!(base.image.config.architecture().to_string(), "arm");
        assert_eq!(base.image.config.variant().as_deref(), Some("v7"));
        // Only the default PATH, as BuildKit and Kaniko give an empty image.
        let expected = RunConfig {
            env: vec![format!("PATH={DEFAULT_PATH}")],
            ..RunConfig::default()
        };
        assert_eq!(base.run_config, expected);
        assert!(!base.docker);
    }

    #[test]
    fn docker_config_split() {
        let bytes = br##"{"architecture":"amd64","os":"linux",
            "config":{"Env":["PATH=/bin"],"Cmd":["sh"],"OnBuild":["COPY . /x"],"Shell":["/bin/ash","-c"]},
            "container_config":{"Cmd":["/bin/sh","-c","#(nop) CMD [\"sh\"]"]},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},
            "history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD rootfs.tar /"}]}"##;
        let (config, run) = split_config(bytes).unwrap();
        assert_eq!(config.rootfs().diff_ids().len(), 1);
        assert_eq!(config.history().as_ref().map(Vec::len), Some(1));
        assert!(config.config().is_none());
        assert_eq!(run.on_build, ["COPY . /x"]);
        assert_eq!(
            run.shell.as_deref(),
            Some(&["/bin/ash".to_string(), "-c".to_string()][..])
        );
        assert!(split_config(b"[]").is_err());
        assert!(split_config(b"{\"os\":\"linux\"}").is_err());
    }
}
