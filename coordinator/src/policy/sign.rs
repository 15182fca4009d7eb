// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Signing what [`super::publish::publish`] publishes: the index, each platform's manifest and
//! each SBOM attached to one, in every destination repository, after they are there by digest
//! and before any tag moves (so a signing failure fails the build with every tag unmoved).
//! Attaching the SBOMs (`--sbom`, [`attach_sboms`]) comes just before.
//!
//! The key is the process's: `coordinator submit` (`local`, `ci` and `k8s` drivers) and
//! `coordinator index` load it from `--cosign-key-path` and [`install`] it before publishing;
//! `coordinator serve` loads its own from `--cosign-key-path` (password from
//! `COSIGN_PASSWORD`) at start. A build is signed when it asks ([`PublishOptions::sign`]:
//! `--sign-images`, the request's `sign_images` for a fleet build); one asking a process
//! without a key is refused ([`NO_KEY`]). The key never travels (not in a message, an event,
//! a task or KV). `--sbom` is asked the same way ([`PublishOptions::sbom`], a fleet request's
//! `sbom`) and needs no key.
//!
//! [`PublishOptions::sbom`]: super::publish::PublishOptions::sbom
//!
//! [`PublishOptions::sign`]: super::publish::PublishOptions::sign

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kaniko_common::messages::{PlatformDescriptor, WireError};
use kaniko_common::oci::Descriptor;
use kaniko_registry::{Reference, RegistryClient};
use kaniko_sign::SigningKey;

static KEY: OnceLock<SigningKey> = OnceLock::new();

/// Why a build asking to be signed is refused by a coordinator without a key.
pub const NO_KEY: &str = "signing was asked for but this coordinator holds no signing key \
     (start `coordinator serve` with --cosign-key-path, the password in COSIGN_PASSWORD)";
/// Makes the SBOM of every child (read once, from the first repository) and attaches it in
/// each of `repositories`; returns the SBOM manifests (the same in every repository), to be
/// signed with the rest. A failure stops it; its error says no tag moved.
pub async fn attach_sboms(
    registry: &RegistryClient,
    repositories: &[(String, String)],
    children: &[PlatformDescriptor],
) -> Result<Vec<Descriptor>, WireError> {
    let failed = |err: kaniko_sign::sbom::SbomError| {
        WireError::permanent(format!("{err}, so no tag was moved"))
    };
    let repos: Vec<Reference> = repositories
        .iter()
        .map(|(host, repository)| {
            Reference::with_tag(host.clone(), repository.clone(), "latest".to_string())
        })
        .collect();
    let Some(first) = repos.first() else {
        return Ok(Vec::new());
    };
    let mut attached = Vec::new();
    for child in children {
        let platform = child.platform.to_string();
        let document =
            kaniko_sign::sbom::generate(registry, first, &child.descriptor, Some(&platform))
                .await
                .map_err(failed)?;
        for repo in &repos {
            let sbom = kaniko_sign::sbom::attach(registry, repo, &child.descriptor, &document)
                .await
                .map_err(failed)?;
            if repo == first {
                attached.push(sbom.referrer.descriptor);
            }
        }
    }
    Ok(attached)
}

/// Makes `key` the key this process signs what it publishes with. A second key is refused
/// (one process, one signer).
pub fn install(key: SigningKey) -> anyhow::Result<()> {
    KEY.set(key)
        .map_err(|_| anyhow::anyhow!("a signing key is already installed in this process"))
}

/// The installed key, if any.
pub fn installed() -> Option<&'static SigningKey> {
    KEY.get()
}

/// Signs `index`, every child and every attached SBOM manifest in each of `repositories`
/// (`(registry, repository)`) with `key`. The first failure stops it; its error says no tag
/// moved.
pub async fn sign_published(
    registry: &RegistryClient,
    key: &SigningKey,
    repositories: &[(String, String)],
    index: &Descriptor,
    children: &[PlatformDescriptor],
    sboms: &[Descriptor],
) -> Result<(), WireError> {
    for (host, repository) in repositories {
        let repo = Reference::with_tag(host.clone(), repository.clone(), "latest".to_string());
        let subjects = std::iter::once(index)
            .chain(children.iter().map(|c| &c.descriptor))
            .chain(sboms);
        for subject in subjects {
            kaniko_sign::sign(registry, key, &repo, subject, &BTreeMap::new())
                .await
                .map_err(|err| {
                    WireError::permanent(format!("signing failed, so no tag was moved: {err}"))
                })?;
        }
    }
    Ok(())
}
