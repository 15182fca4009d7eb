// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Signing what [`super::publish::publish`] publishes: the index and each platform's manifest,
//! in every destination repository, after they are there by digest and before any tag moves
//! (so a signing failure fails the build with every tag unmoved).
//!
//! The key is the process's: `coordinator submit` (`local` and `ci` drivers) and
//! `coordinator index` load it from `--cosign-key-path` and [`install`] it before publishing,
//! so the one publishing path signs for every driver that publishes in this process without a
//! key travelling anywhere (not in a message, an event, a task or KV). `coordinator serve`
//! holds no key: a fleet submit asking for signing is refused by `submit`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kaniko_common::messages::{PlatformDescriptor, WireError};
use kaniko_common::oci::Descriptor;
use kaniko_registry::{Reference, RegistryClient};
use kaniko_sign::SigningKey;

static KEY: OnceLock<SigningKey> = OnceLock::new();

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

/// Signs `index` and every child in each of `repositories` (`(registry, repository)`) with
/// `key`. The first failure stops it; its error says no tag moved.
pub async fn sign_published(
    registry: &RegistryClient,
    key: &SigningKey,
    repositories: &[(String, String)],
    index: &Descriptor,
    children: &[PlatformDescriptor],
) -> Result<(), WireError> {
    for (host, repository) in repositories {
        let repo = Reference::with_tag(host.clone(), repository.clone(), "latest".to_string());
        let subjects = std::iter::once(index).chain(children.iter().map(|c| &c.descriptor));
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
