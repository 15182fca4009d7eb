// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Finishing an image: the config bytes with Docker's full container config (the OCI config
//! type drops `Healthcheck`, `Shell` and `OnBuild`, so they are put back here), the
//! `created` timestamp, and the manifest in the output mode.

use anyhow::{Context, Result};
use kaniko_common::oci::{self, Descriptor, OciMode};

use crate::image::{FinishedImage, Image};
use crate::instructions::RunConfig;

/// The config's `created` under `--reproducible`.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

/// Finishes `image` with `run_config` as its container config, in `mode`.
pub fn finish(
    mut image: Image,
    run_config: &RunConfig,
    mode: OciMode,
    reproducible: bool,
) -> Result<FinishedImage> {
    let created = if reproducible {
        EPOCH.to_string()
    } else {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    image.config.set_created(Some(created));
    let finished = image.finish(mode)?;
    let mut value = serde_json::to_value(&finished.image.config).context("image config")?;
    let run = serde_json::to_value(run_config).context("container config")?;
    if let Some(object) = value.as_object_mut() {
        object.insert("config".to_string(), run);
    }
    let config_bytes = oci::to_canonical_json(&value)?;
    let config = Descriptor::for_bytes(mode.config_media_type(), &config_bytes);
    let layers: Vec<Descriptor> = finished
        .image
        .layers
        .iter()
        .map(|l| l.descriptor.clone())
        .collect();
    let manifest_bytes = oci::manifest_bytes(mode, &config, &layers, &Default::default())?;
    let mut manifest = Descriptor::for_bytes(mode.manifest_media_type(), &manifest_bytes);
    manifest.platform = Some(finished.image.platform.clone());
    let mut image = finished.image;
    // Keep the typed config in step (the OCI subset of the container config).
    if let Ok(typed) = serde_json::from_slice(&config_bytes) {
        image.config = typed;
    }
    Ok(FinishedImage {
        image,
        config_bytes,
        config,
        manifest_bytes,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use kaniko_common::platform::Platform;

    use super::*;
    use crate::instructions::HealthConfig;

    #[test]
    fn docker_fields_survive_and_reproducible_is_stable() {
        let base = crate::base::scratch(&Platform::parse("linux/amd64").unwrap()).unwrap();
        let run = RunConfig {
            healthcheck: Some(HealthConfig {
                test: vec!["NONE".into()],
                ..HealthConfig::default()
            }),
            shell: Some(vec!["/bin/ash".into(), "-c".into()]),
            on_build: vec!["COPY . /x".into()],
            ..RunConfig::default()
        };
        let a = finish(base.image.clone(), &run, OciMode::Oci, true).unwrap();
        let b = finish(base.image.clone(), &run, OciMode::Oci, true).unwrap();
        assert_eq!(a.manifest.digest, b.manifest.digest);
        let json: serde_json::Value = serde_json::from_slice(&a.config_bytes).unwrap();
        assert_eq!(
            json["config"]["Healthcheck"]["Test"],
            serde_json::json!(["NONE"])
        );
        assert_eq!(json["config"]["OnBuild"], serde_json::json!(["COPY . /x"]));
        assert_eq!(json["created"], serde_json::json!(EPOCH));
        let docker = finish(base.image, &run, OciMode::Docker, true).unwrap();
        assert_eq!(docker.manifest.media_type, oci::DOCKER_MANIFEST);
        assert_eq!(docker.config.media_type, oci::DOCKER_CONFIG);
    }
}
