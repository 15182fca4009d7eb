// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Checking a per-platform file against the registry: the image it names must exist (in a
//! repository the file names, else in a destination repository), must be an image manifest
//! (not an index), and its config's `os`/`architecture`/`variant` must be the platform the
//! file says. Nothing is pushed here.

use kaniko_common::messages::PlatformDescriptor;
use kaniko_common::oci::{Descriptor, Manifest, is_manifest};
use kaniko_common::platform::Platform;
use kaniko_registry::{PulledManifest, Reference, RegistryClient, RegistryError};

use super::CiError;
use super::inputs::ChildFile;

/// A child found in the registry and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChild {
    /// The platform and the manifest's descriptor (as the registry has it).
    pub child: PlatformDescriptor,
    /// The repository (`registry/repository`) it was found in.
    pub repository: String,
}

/// The platform an image config's JSON names.
pub fn config_platform(config: &[u8]) -> Result<Platform, String> {
    let value: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| format!("its config is not json: {e}"))?;
    let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
    let (Some(os), Some(architecture)) = (field("os"), field("architecture")) else {
        return Err("its config names no os and architecture".to_string());
    };
    Platform::new(os, architecture, field("variant"))
        .map_err(|e| format!("its config names an invalid platform: {e}"))
}

/// Finds `file`'s image in the first of its own repositories, then of `others`
/// (`registry/repository` each: sources, then destinations), that has it, and checks it.
pub async fn verify(
    client: &RegistryClient,
    file: &ChildFile,
    others: &[String],
) -> Result<VerifiedChild, CiError> {
    let mut candidates: Vec<&String> = Vec::new();
    for repository in file.repositories.iter().chain(others) {
        if !candidates.contains(&repository) {
            candidates.push(repository);
        }
    }
    let registry_err = |source: RegistryError| CiError::Registry {
        file: file.file.clone(),
        source,
    };
    for repository in &candidates {
        let text = format!("{repository}@{}", file.digest);
        let reference: Reference = text.parse().map_err(|e| CiError::BadFile {
            file: file.file.clone(),
            reason: format!("{text} is not an image reference: {e}"),
        })?;
        let pulled = match client.pull_manifest_raw(&reference).await {
            Ok(pulled) => pulled,
            Err(RegistryError::NotFound { .. }) => continue,
            Err(err) => return Err(registry_err(err)),
        };
        let platform = image_platform(client, &reference, &pulled)
            .await
            .map_err(|reason| match reason {
                Check::Registry(err) => registry_err(err),
                Check::Bad(reason) => CiError::NotAnImage {
                    file: file.file.clone(),
                    digest: file.digest.clone(),
                    reason,
                },
            })?;
        if platform != file.platform {
            return Err(CiError::PlatformMismatch {
                file: file.file.clone(),
                digest: file.digest.clone(),
                declared: file.platform.to_string(),
                actual: platform.to_string(),
            });
        }
        return Ok(VerifiedChild {
            child: PlatformDescriptor {
                platform,
                descriptor: Descriptor::new(
                    pulled.media_type.clone(),
                    pulled.digest.clone(),
                    pulled.bytes.len() as u64,
                ),
            },
            repository: repository.to_string(),
        });
    }
    Err(CiError::MissingChild {
        file: file.file.clone(),
        digest: file.digest.clone(),
        looked_in: candidates.iter().map(|r| r.to_string()).collect(),
    })
}

enum Check {
    Registry(RegistryError),
    Bad(String),
}

/// The platform of the image manifest `pulled` (at `reference`), from its config blob.
async fn image_platform(
    client: &RegistryClient,
    reference: &Reference,
    pulled: &PulledManifest,
) -> Result<Platform, Check> {
    if !is_manifest(&pulled.media_type) {
        return Err(Check::Bad(format!(
            "it is a {}, not an image manifest",
            pulled.media_type
        )));
    }
    let manifest = Manifest::parse(&pulled.bytes, Some(&pulled.media_type))
        .map_err(|e| Check::Bad(format!("its manifest does not parse: {e}")))?;
    let Manifest::Image(image) = manifest else {
        return Err(Check::Bad("it is an index, not an image manifest".into()));
    };
    let config = Descriptor::new(
        image.config().media_type().to_string(),
        image.config().digest().to_string(),
        image.config().size(),
    );
    let config = client
        .pull_config(reference, &config)
        .await
        .map_err(Check::Registry)?;
    config_platform(&config).map_err(Check::Bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_of_configs() {
        fn check(config: &str, expected: Result<&str, &str>) {
            let got = config_platform(config.as_bytes()).map(|p| p.to_string());
            match expected {
                Ok(platform) => assert_eq!(got.as_deref(), Ok(platform), "{config}"),
                Err(needle) => {
                    let err = got.unwrap_err();
                    assert!(err.contains(needle), "{config}: {err}");
                }
            }
        }
        check(
            r#"{"os":"linux","architecture":"amd64"}"#,
            Ok("linux/amd64"),
        );
        check(
            r#"{"os":"linux","architecture":"arm","variant":"v7"}"#,
            Ok("linux/arm/v7"),
        );
        check(r#"{"os":"linux","architecture":"arm"}"#, Ok("linux/arm/v7"));
        check(
            r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#,
            Ok("linux/arm64"),
        );
        check(r#"{"architecture":"amd64"}"#, Err("no os and architecture"));
        check("[]", Err("no os and architecture"));
        check("nope", Err("not json"));
        check(
            r#"{"os":"linux","architecture":"amd 64"}"#,
            Err("invalid platform"),
        );
    }
}
