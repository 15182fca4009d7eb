// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator verify`, `coordinator referrers` and `coordinator sbom`: an image's
//! signatures checked with a public key, the artifacts attached to it, and its SPDX SBOM
//! (docs/signing.md).
//!
//! `verify IMAGE --key cosign.pub [--platform P]` resolves IMAGE (a tag or a digest; with
//! `--platform`, that platform's manifest in the index), finds its signatures through the
//! referrers (API or fallback tag) and cosign's `.sig` tag, and accepts one whose signature
//! verifies with the key and whose payload names the manifest digest and the repository.
//! Anything else exits non-zero naming what failed: no signature, wrong key, digest or
//! reference mismatch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kaniko_common::oci::Manifest;
use kaniko_common::platform::Platform;
use kaniko_registry::{Reference, ReferrersSource, RegistryClient};

/// `coordinator verify` flags.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The image: `registry/repository:tag` or `@sha256:...`.
    pub image: String,
    /// The public key (`cosign.pub`, a PEM `PUBLIC KEY`).
    #[arg(long, value_name = "PATH")]
    pub key: PathBuf,
    /// Verify this platform's manifest of the index instead of the index itself.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Registry access.
    #[command(flatten)]
    pub registry: crate::cli::RegistryArgs,
}

/// `coordinator referrers` flags.
#[derive(Debug, Clone, Args)]
pub struct ReferrersArgs {
    /// The image: `registry/repository:tag` or `@sha256:...`.
    pub image: String,
    /// The artifacts attached to this platform's manifest of the index instead.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Only artifacts of this type.
    #[arg(long, value_name = "MEDIA_TYPE")]
    pub artifact_type: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: crate::cli::RegistryArgs,
}

/// `coordinator sbom` flags.
#[derive(Debug, Clone, Args)]
pub struct SbomArgs {
    /// The image: `registry/repository:tag` or `@sha256:...`.
    pub image: String,
    /// The platform whose SBOM to print, when IMAGE is an index (not needed when the index
    /// has one platform).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Registry access.
    #[command(flatten)]
    pub registry: crate::cli::RegistryArgs,
}

/// The manifest digest `image` names, or with `platform` its child for that platform.
async fn resolve(
    client: &RegistryClient,
    image: &str,
    platform: Option<&str>,
) -> anyhow::Result<(Reference, String)> {
    let reference: Reference = image
        .parse()
        .with_context(|| format!("{image:?} is not an image reference"))?;
    let pulled = client.pull_manifest_raw(&reference).await?;
    let Some(platform) = platform else {
        return Ok((reference, pulled.digest));
    };
    let wanted = Platform::parse(platform).map_err(|err| anyhow::anyhow!("--platform: {err}"))?;
    let manifest = Manifest::parse(&pulled.bytes, Some(&pulled.media_type))
        .with_context(|| format!("the manifest of {image}"))?;
    if !matches!(manifest, Manifest::Index(_)) {
        anyhow::bail!("--platform {platform}: {image} is an image manifest, not an index");
    }
    let child = manifest
        .descriptors()?
        .into_iter()
        .find(|child| {
            child
                .platform
                .as_ref()
                .and_then(|p| Platform::new(&p.os, &p.architecture, p.variant.as_deref()).ok())
                .is_some_and(|p| p == wanted)
        })
        .with_context(|| format!("the index {} has no {wanted} manifest", pulled.digest))?;
    Ok((reference, child.digest))
}

/// Runs `coordinator verify`.
pub async fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = kaniko_sign::PublicKey::load(&args.key)?;
    let client = RegistryClient::new(args.registry.options())?;
    let (reference, digest) = resolve(&client, &args.image, args.platform.as_deref()).await?;
    let verified = kaniko_sign::verify(&client, &reference, &digest, &key)
        .await
        .with_context(|| format!("verifying {}", args.image))?;
    println!(
        "verified {} ({}): signed by {} for {}, found in {}",
        args.image,
        verified.digest,
        key.fingerprint(),
        verified.payload.critical.identity.docker_reference,
        verified.found_in
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `coordinator sbom`: prints the SBOM document as attached.
pub async fn sbom(args: &SbomArgs) -> anyhow::Result<ExitCode> {
    let client = RegistryClient::new(args.registry.options())?;
    let mut platform = args.platform.clone();
    if platform.is_none() {
        let reference: Reference = args
            .image
            .parse()
            .with_context(|| format!("{:?} is not an image reference", args.image))?;
        let pulled = client.pull_manifest_raw(&reference).await?;
        if pulled.is_index() {
            let manifest = Manifest::parse(&pulled.bytes, Some(&pulled.media_type))
                .with_context(|| format!("the manifest of {}", args.image))?;
            let platforms: Vec<String> = manifest
                .descriptors()?
                .iter()
                .filter_map(|child| child.platform.as_ref())
                .map(|p| match &p.variant {
                    Some(variant) => format!("{}/{}/{variant}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                })
                .collect();
            match platforms.as_slice() {
                [only] => platform = Some(only.clone()),
                _ => anyhow::bail!(
                    "{} is an index of {} platforms: name one with --platform ({})",
                    args.image,
                    platforms.len(),
                    platforms.join(", ")
                ),
            }
        }
    }
    let (reference, digest) = resolve(&client, &args.image, platform.as_deref()).await?;
    let document = kaniko_sign::sbom::find(&client, &reference, &digest)
        .await
        .with_context(|| format!("the sbom of {}", args.image))?;
    use std::io::Write as _;
    std::io::stdout().write_all(&document)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `coordinator referrers`.
pub async fn referrers(args: &ReferrersArgs) -> anyhow::Result<ExitCode> {
    let client = RegistryClient::new(args.registry.options())?;
    let (reference, digest) = resolve(&client, &args.image, args.platform.as_deref()).await?;
    let (entries, source) = client
        .list_referrers(&reference, &digest, args.artifact_type.as_deref())
        .await?;
    let source = match source {
        ReferrersSource::Api => "referrers api",
        ReferrersSource::FallbackTag => "fallback tag",
    };
    if args.json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "artifactType": e.artifact_type,
                    "mediaType": e.descriptor.media_type,
                    "digest": e.descriptor.digest,
                    "size": e.descriptor.size,
                    "annotations": e.descriptor.annotations,
                })
            })
            .collect();
        let out = serde_json::json!({"subject": digest, "source": source, "referrers": list});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{digest}: {} referrer(s) ({source})", entries.len());
    for entry in entries {
        let annotations: Vec<String> = entry
            .descriptor
            .annotations
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{}\t{}\t{}",
            entry.artifact_type.as_deref().unwrap_or("-"),
            entry.descriptor.digest,
            annotations.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}
