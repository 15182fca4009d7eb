// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `ci` driver (`coordinator index`, `coordinator submit --driver ci`): nothing is built;
//! per-architecture CI jobs already pushed their images by digest and left one file each
//! ([`inputs`]). The driver checks every child against the registry ([`verify`]), then
//! publishes the index through the one publishing path ([`crate::policy::publish::publish`]),
//! with every index option: OCI index or Docker list, annotations, the standard `created`,
//! `source` and `revision` annotations ([`git`]), several destinations in several
//! repositories, immutable tags, digest and metadata files. No NATS.
//!
//! Architecture invariant: every check happens before the first push. A missing child, a
//! platform mismatch, a duplicate platform, annotations asked for on a Docker list or a
//! digest file that would change without `--force` each fail with nothing pushed.

pub mod git;
pub mod inputs;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use kaniko_common::messages::{PlatformDescriptor, RequestedOciMode, TagPush, WireError};
use kaniko_common::oci::Descriptor;
use kaniko_common::platform::Platform;
use kaniko_image::outfile::{self, OutfileError, Overwrite};
use kaniko_registry::{Reference, RegistryClient, RegistryError, RegistryOptions};

use crate::policy::publish::{
    PublishFailure, PublishIndex, PublishOptions, build_index, ensure_child_from, publish,
};
use crate::submit::follow::Outcome;
use crate::submit::output;

/// The build id the `ci` driver reports in summaries and metadata files.
pub const CI_BUILD_ID: &str = "ci";

/// What a `ci` driver run does.
#[derive(Debug, Clone)]
pub struct CiConfig {
    /// `--digests-from`.
    pub digests_from: PathBuf,
    /// The tags the index goes under (`registry/repo[:tag]`).
    pub destinations: Vec<String>,
    /// Repositories (`registry/repo`) to look for children in, after the ones a file names
    /// and before the destination repositories.
    pub source_repositories: Vec<String>,
    /// Platforms that must be there, exactly; empty: whatever the directory holds.
    pub expected_platforms: Vec<Platform>,
    /// Index media type.
    pub oci_mode: RequestedOciMode,
    /// `--index-annotations`.
    pub annotations: BTreeMap<String, String>,
    /// Source and revision from the checkout (OCI index only, never an error).
    pub standard_annotations: BTreeMap<String, String>,
    /// `--publish-index`.
    pub publish_index: bool,
    /// `created` is the epoch.
    pub reproducible: bool,
    /// `--push-ignore-immutable-tag-errors`.
    pub ignore_immutable_tag_errors: bool,
    /// `--sbom`: attach an SBOM to each platform's manifest.
    pub sbom: bool,
    /// `--digest-file`.
    pub digest_file: Option<PathBuf>,
    /// `--metadata-file`.
    pub metadata_file: Option<PathBuf>,
    /// `--force`: replace a digest file whose content changes.
    pub force: bool,
    /// How to reach the registry.
    pub registry: RegistryOptions,
}

impl CiConfig {
    /// The configuration `coordinator index` flags describe.
    pub fn from_index_args(args: &crate::cli::IndexArgs) -> anyhow::Result<CiConfig> {
        let oci_mode = if args.publish.legacy_manifest_list {
            RequestedOciMode::Docker
        } else {
            mode(args.oci_mode)
        };
        Ok(CiConfig {
            digests_from: args.digests_from.clone(),
            destinations: args.destination.clone(),
            source_repositories: args.source_repo.clone(),
            expected_platforms: parse_platforms(&args.multi_platform)?,
            oci_mode,
            annotations: crate::cli::parse_annotations(&args.index_annotation)
                .map_err(anyhow::Error::msg)?,
            standard_annotations: git::standard_annotations(&args.context),
            publish_index: args.publish_index,
            reproducible: args.reproducible,
            ignore_immutable_tag_errors: args.publish.push_ignore_immutable_tag_errors,
            sbom: args.publish.sbom,
            digest_file: args.digest_file.clone(),
            metadata_file: args.metadata_file.clone(),
            force: args.publish.force,
            registry: args.registry.options(),
        })
    }

    /// The configuration `coordinator submit --driver ci` flags describe. Flags that only
    /// mean something when building are refused, not ignored.
    pub fn from_submit_args(args: &crate::submit::SubmitArgs) -> anyhow::Result<CiConfig> {
        let Some(digests_from) = args.digests_from.clone() else {
            anyhow::bail!("--driver ci needs --digests-from DIR");
        };
        let build_only = [
            ("--dockerfile", args.dockerfile.is_some()),
            ("--build-arg", !args.build_arg.is_empty()),
            ("--target", args.target.is_some()),
            ("--label", !args.label.is_empty()),
            ("--compression-level", args.compression_level.is_some()),
            ("--require-native-nodes", args.require_native_nodes),
            ("--allow-partial", args.allow_partial),
            ("--detach", args.detach),
            ("--timeout", args.timeout.is_some()),
            ("--cache", args.cache),
            ("--secret", !args.local.run.secret.is_empty()),
            (
                "--run-cache-scope",
                args.local.run.run_cache_scope != kaniko_worker::config::RunCacheScope::Destination,
            ),
        ];
        if let Some((flag, _)) = build_only.iter().find(|(_, given)| *given) {
            anyhow::bail!("{flag} does not apply to --driver ci: nothing is built");
        }
        // The same flags as `coordinator index`, so the same configuration.
        CiConfig::from_index_args(&crate::cli::IndexArgs {
            digests_from,
            destination: args.destination.clone(),
            source_repo: args.source_repo.clone(),
            multi_platform: args.multi_platform.clone(),
            oci_mode: args.oci_mode,
            index_annotation: args.index_annotation.clone(),
            publish_index: args.publish_index,
            context: args.context.clone(),
            reproducible: args.reproducible,
            metadata_file: args.metadata_file.clone(),
            digest_file: args.digest_file.clone(),
            publish: args.publish.clone(),
            registry: args.registry.clone(),
        })
    }
}

/// The media types `--oci-mode` asks for.
pub fn mode(arg: crate::submit::OciModeArg) -> RequestedOciMode {
    use crate::submit::OciModeArg;
    match arg {
        OciModeArg::Oci => RequestedOciMode::Oci,
        OciModeArg::Docker => RequestedOciMode::Docker,
        OciModeArg::Auto => RequestedOciMode::Auto,
    }
}

/// `--multi-platform` values.
pub fn parse_platforms(values: &[String]) -> anyhow::Result<Vec<Platform>> {
    values
        .iter()
        .map(|text| Platform::parse(text).with_context(|| format!("--multi-platform {text}")))
        .collect()
}

/// Why a `ci` driver run failed. Every variant before [`CiError::Publish`] means nothing was
/// pushed.
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    /// A flag is wrong.
    #[error("{0}")]
    Flags(String),
    /// The directory holds no per-platform file.
    #[error(
        "no per-platform files in {}: expected worker build --metadata-file JSON files or <os>-<arch>[-<variant>].digest files",
        dir.display()
    )]
    NoInputs {
        /// `--digests-from`.
        dir: PathBuf,
    },
    /// A file or directory could not be read.
    #[error("reading {}: {source}", file.display())]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file is malformed.
    #[error("{}: {reason}", file.display())]
    BadFile {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Two files for one platform.
    #[error("duplicate platform {platform}: {} and {}", first.display(), second.display())]
    DuplicatePlatform {
        /// The platform.
        platform: Platform,
        /// The first file naming it.
        first: PathBuf,
        /// The second.
        second: PathBuf,
    },
    /// A platform asked for with `--multi-platform` has no file, or a file is for a platform
    /// not asked for.
    #[error("{0}")]
    PlatformSet(String),
    /// The image a file names is in none of the repositories looked in.
    #[error("{}: image {digest} is in none of {}: was it pushed?", file.display(), looked_in.join(", "))]
    MissingChild {
        /// The file.
        file: PathBuf,
        /// The image digest.
        digest: String,
        /// The repositories looked in.
        looked_in: Vec<String>,
    },
    /// The image's config names another platform than the file.
    #[error("{}: the file says {declared}, but image {digest} is for {actual} (its config)", file.display())]
    PlatformMismatch {
        /// The file.
        file: PathBuf,
        /// The image digest.
        digest: String,
        /// What the file says (`os/arch[/variant]`).
        declared: String,
        /// What the image config says.
        actual: String,
    },
    /// The digest names something that is not a single-platform image.
    #[error("{}: {digest} cannot be a child: {reason}", file.display())]
    NotAnImage {
        /// The file.
        file: PathBuf,
        /// The digest.
        digest: String,
        /// Why.
        reason: String,
    },
    /// Talking to the registry about a file's image failed.
    #[error("{}: {source}", file.display())]
    Registry {
        /// The file.
        file: PathBuf,
        /// The registry error.
        #[source]
        source: RegistryError,
    },
    /// The registry client could not be set up.
    #[error("registry client: {0}")]
    Client(#[source] RegistryError),
    /// The index was refused before anything was pushed (e.g. annotations on a Docker list).
    #[error("{}", .0.message)]
    Refused(WireError),
    /// A digest or metadata file could not be written (or would change without `--force`).
    #[error(transparent)]
    Outfile(#[from] OutfileError),
    /// Publishing failed part-way (children, the index by digest, or a tag): the failure
    /// says which tags moved.
    #[error("publishing: {}", .failure.error.message)]
    Publish {
        /// What failed and how far publishing got.
        failure: Box<PublishFailure>,
        /// The children of the index.
        children: Vec<PlatformDescriptor>,
    },
}

impl CiError {
    /// The outcome a publishing failure leaves (partially published when a tag moved).
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            CiError::Publish { failure, children } => Some(Outcome::of_failure(
                vec![failure.build_error()],
                failure.index.clone(),
                children.clone(),
                failure.tags.clone(),
            )),
            _ => None,
        }
    }
}

/// What a run published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiReport {
    /// The index, unless `publish_index` was false.
    pub index: Option<Descriptor>,
    /// Every child, in index order.
    pub children: Vec<PlatformDescriptor>,
    /// Each destination tag (`moved`, or `immutable` when ignored by request); empty
    /// without an index.
    pub tags: Vec<TagPush>,
}

impl CiReport {
    /// The report as a submit [`Outcome`] (for the shared summary and files).
    pub fn outcome(&self) -> Outcome {
        Outcome::Finished {
            index: self.index.clone(),
            platforms: self.children.clone(),
            failed: Vec::new(),
            tags: self.tags.clone(),
        }
    }
}

fn repository_name(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

fn check_flags(config: &CiConfig) -> Result<Vec<Reference>, CiError> {
    if config.destinations.is_empty() {
        return Err(CiError::Flags("no --destination given".into()));
    }
    if config.oci_mode == RequestedOciMode::Docker && !config.annotations.is_empty() {
        return Err(CiError::Flags(
            "--index-annotations need an OCI index, but --oci-mode docker (--legacy-manifest-list) publishes a Docker manifest list, which cannot carry annotations"
                .into(),
        ));
    }
    config
        .destinations
        .iter()
        .map(|d| {
            d.parse::<Reference>().map_err(|e| {
                CiError::Flags(format!(
                    "--destination {d:?} is not an image reference: {e}"
                ))
            })
        })
        .collect()
}

fn check_platform_set(
    expected: &[Platform],
    files: &[inputs::ChildFile],
    dir: &Path,
) -> Result<(), CiError> {
    if expected.is_empty() {
        return Ok(());
    }
    for platform in expected {
        if !files.iter().any(|f| &f.platform == platform) {
            return Err(CiError::PlatformSet(format!(
                "platform {platform} was asked for, but no file in {} is for it",
                dir.display()
            )));
        }
    }
    if let Some(extra) = files.iter().find(|f| !expected.contains(&f.platform)) {
        return Err(CiError::PlatformSet(format!(
            "{} is for {}, which --multi-platform does not ask for",
            extra.file.display(),
            extra.platform
        )));
    }
    Ok(())
}

/// Runs the `ci` driver: read, check, then publish. See the module documentation.
pub async fn run(config: &CiConfig) -> Result<CiReport, CiError> {
    let destinations = check_flags(config)?;
    let files = inputs::read_dir(&config.digests_from)?;
    check_platform_set(&config.expected_platforms, &files, &config.digests_from)?;
    let client = RegistryClient::new(config.registry.clone()).map_err(CiError::Client)?;

    let mut repositories: Vec<String> = Vec::new();
    for destination in &destinations {
        let name = repository_name(destination);
        if !repositories.contains(&name) {
            repositories.push(name);
        }
    }
    let (children, sources) = verify_children(config, &client, &files, &repositories).await?;
    let msg = PublishIndex {
        build_id: CI_BUILD_ID.to_string(),
        destinations: config.destinations.clone(),
        oci_mode: config.oci_mode,
        annotations: config.annotations.clone(),
        reproducible: config.reproducible,
        children: children.clone(),
        options: PublishOptions {
            standard_annotations: config.standard_annotations.clone(),
            ignore_immutable_tag_errors: config.ignore_immutable_tag_errors,
            child_sources: sources.clone(),
            created: Some(chrono::Utc::now()),
            sign: crate::policy::sign::installed().is_some(),
            sbom: config.sbom,
        },
    };

    let report = if config.publish_index {
        let built = build_index(&msg).map_err(CiError::Refused)?;
        let planned = CiReport {
            index: Some(built.descriptor()),
            children,
            tags: Vec::new(),
        };
        check_files(config, &planned)?;
        match publish(&client, msg).await {
            Ok(published) => CiReport {
                index: Some(published.index),
                tags: published.tags,
                ..planned
            },
            Err(failure) => {
                return Err(failed(
                    config,
                    CiError::Publish {
                        failure,
                        children: planned.children,
                    },
                ));
            }
        }
    } else {
        let report = CiReport {
            index: None,
            children,
            tags: Vec::new(),
        };
        check_files(config, &report)?;
        let sources = pairs(&sources)?;
        let targets = pairs(&repositories)?;
        for child in &report.children {
            if let Err(error) =
                ensure_child_from(&client, &sources, &targets, &child.descriptor).await
            {
                let failure = Box::new(PublishFailure {
                    error,
                    index: None,
                    tags: Vec::new(),
                });
                return Err(failed(
                    config,
                    CiError::Publish {
                        failure,
                        children: report.children.clone(),
                    },
                ));
            }
        }
        report
    };
    write_files(config, &report)?;
    Ok(report)
}

/// Checks every child of `files` in the registry, looked for in the source repositories and
/// then the destination `repositories`: the children in index order, and the repositories
/// they were found in, each once.
async fn verify_children(
    config: &CiConfig,
    client: &RegistryClient,
    files: &[inputs::ChildFile],
    repositories: &[String],
) -> Result<(Vec<PlatformDescriptor>, Vec<String>), CiError> {
    let mut look_in = pairs(&config.source_repositories)?
        .into_iter()
        .map(|(host, repository)| format!("{host}/{repository}"))
        .collect::<Vec<_>>();
    look_in.extend(repositories.iter().cloned());
    let mut verified = Vec::new();
    for file in files {
        let child = verify::verify(client, file, &look_in).await?;
        tracing::info!(file = %file.file.display(), platform = %child.child.platform, digest = %child.child.descriptor.digest, repository = %child.repository, "child checked");
        verified.push(child);
    }
    let mut sources: Vec<String> = Vec::new();
    for child in &verified {
        if !sources.contains(&child.repository) {
            sources.push(child.repository.clone());
        }
    }
    let mut children: Vec<PlatformDescriptor> = verified.into_iter().map(|v| v.child).collect();
    children.sort_by(|a, b| a.platform.index_cmp(&b.platform));
    Ok((children, sources))
}

/// A publishing failure, after its metadata file (which says which tags moved) is written;
/// a file that cannot be written is logged, the publishing error stays the one reported.
fn failed(config: &CiConfig, err: CiError) -> CiError {
    if let (Some(path), Some(outcome)) = (&config.metadata_file, err.outcome()) {
        let written = output::metadata_bytes(CI_BUILD_ID, &outcome, &config.destinations)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                outfile::write(path, &bytes, Overwrite::Always).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            tracing::error!(file = %path.display(), error = %e, "writing --metadata-file");
        }
    }
    err
}

/// `registry/repository` names as (registry, repository) pairs.
fn pairs(names: &[String]) -> Result<Vec<(String, String)>, CiError> {
    names
        .iter()
        .map(|name| {
            let reference: Reference = name
                .parse()
                .map_err(|e| CiError::Flags(format!("{name:?} is not a repository: {e}")))?;
            Ok((
                reference.registry().to_string(),
                reference.repository().to_string(),
            ))
        })
        .collect()
}

/// Refuses, before anything is pushed, a digest file that would change without `--force`.
fn check_files(config: &CiConfig, report: &CiReport) -> Result<(), CiError> {
    if let (Some(path), Some(content)) = (&config.digest_file, output::digests(&report.outcome())) {
        outfile::check(
            path,
            content.as_bytes(),
            Overwrite::IfUnchanged {
                force: config.force,
            },
        )?;
    }
    Ok(())
}

fn write_files(config: &CiConfig, report: &CiReport) -> Result<(), CiError> {
    let outcome = report.outcome();
    if let (Some(path), Some(content)) = (&config.digest_file, output::digests(&outcome)) {
        outfile::write(
            path,
            content.as_bytes(),
            Overwrite::IfUnchanged {
                force: config.force,
            },
        )?;
    }
    if let Some(path) = &config.metadata_file {
        let bytes =
            output::metadata_bytes(CI_BUILD_ID, &outcome, &config.destinations).map_err(|e| {
                OutfileError::Io {
                    what: "encoding",
                    path: path.clone(),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
        outfile::write(path, &bytes, Overwrite::Always)?;
    }
    Ok(())
}

/// Runs the driver for the command line: the summary on stdout, exit code 0 on success.
/// A publishing failure prints its summary too (which tags moved), the error on stderr, and
/// exits 3 when some tags moved (partially published), else 1.
pub async fn run_cli(config: &CiConfig) -> anyhow::Result<ExitCode> {
    let outcome = match run(config).await {
        Ok(report) => report.outcome(),
        Err(err) => {
            let Some(outcome) = err.outcome() else {
                return Err(err.into());
            };
            eprintln!("error: {err}");
            outcome
        }
    };
    for line in crate::submit::follow::summary(CI_BUILD_ID, &outcome, &config.destinations) {
        println!("{line}");
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_driver_ci_and_index_make_the_same_configuration() {
        use clap::Parser;
        let flags = [
            "--digests-from",
            "digests",
            "-d",
            "r.example/app:1",
            "-d",
            "r.example/mirror:1",
            "--source-repo",
            "r.example/build",
            "--multi-platform",
            "linux/amd64,linux/arm64",
            "--oci-mode",
            "auto",
            "--index-annotations",
            "a=1,b=2",
            "--publish-index=false",
            "--context",
            "/nonexistent-checkout",
            "--reproducible",
            "--metadata-file",
            "m.json",
            "--digest-file",
            "d.txt",
            "--force",
            "--insecure",
            "--docker-config",
            "/etc/docker",
        ];
        let config = |command: &[&str]| {
            let argv = ["coordinator"].iter().chain(command).chain(&flags);
            let config = match crate::cli::Cli::try_parse_from(argv).unwrap().command {
                crate::cli::Command::Index(args) => CiConfig::from_index_args(&args),
                crate::cli::Command::Submit(args) => CiConfig::from_submit_args(&args),
                other => panic!("{other:?}"),
            };
            format!("{:?}", config.unwrap())
        };
        let index = config(&["index"]);
        assert_eq!(config(&["submit", "--driver", "ci"]), index);
        assert!(
            index.contains("r.example/mirror:1") && index.contains("/etc/docker"),
            "{index}"
        );
    }

    fn file(name: &str, platform: &str) -> inputs::ChildFile {
        inputs::ChildFile {
            file: PathBuf::from(name),
            platform: Platform::parse(platform).unwrap(),
            digest: format!("sha256:{}", "a".repeat(64)),
            repositories: Vec::new(),
        }
    }

    #[test]
    fn the_platform_set_must_match_when_given() {
        fn check(expected: &[&str], files: &[(&str, &str)], want: Option<&str>) {
            let expected: Vec<Platform> = expected
                .iter()
                .map(|p| Platform::parse(p).unwrap())
                .collect();
            let files: Vec<_> = files.iter().map(|(n, p)| file(n, p)).collect();
            let got = check_platform_set(&expected, &files, Path::new("out"))
                .err()
                .map(|e| e.to_string());
            assert_eq!(got.as_deref(), want);
        }
        let both = [("a.json", "linux/amd64"), ("b.json", "linux/arm64")];
        check(&[], &both, None);
        check(&["linux/arm64", "linux/amd64"], &both, None);
        check(
            &["linux/amd64", "linux/arm/v7"],
            &both,
            Some("platform linux/arm/v7 was asked for, but no file in out is for it"),
        );
        check(
            &["linux/amd64"],
            &both,
            Some("b.json is for linux/arm64, which --multi-platform does not ask for"),
        );
    }

    fn config() -> CiConfig {
        CiConfig {
            digests_from: PathBuf::from("out"),
            destinations: vec!["127.0.0.1:5000/app:1".into()],
            source_repositories: Vec::new(),
            expected_platforms: Vec::new(),
            oci_mode: RequestedOciMode::Oci,
            annotations: BTreeMap::new(),
            standard_annotations: BTreeMap::new(),
            publish_index: true,
            reproducible: false,
            ignore_immutable_tag_errors: false,
            sbom: false,
            digest_file: None,
            metadata_file: None,
            force: false,
            registry: RegistryOptions::default(),
        }
    }

    #[test]
    fn flags_are_checked_before_anything_is_read() {
        fn check(edit: impl FnOnce(&mut CiConfig), want: Option<&str>) {
            let mut c = config();
            edit(&mut c);
            let got = check_flags(&c).err().map(|e| e.to_string());
            match (want, got) {
                (None, None) => {}
                (Some(want), Some(got)) => assert!(got.contains(want), "{got}"),
                (want, got) => panic!("expected {want:?}, got {got:?}"),
            }
        }
        check(|_| {}, None);
        check(|c| c.destinations.clear(), Some("no --destination"));
        check(
            |c| c.destinations.push("Bad Ref".into()),
            Some("--destination \"Bad Ref\""),
        );
        check(
            |c| {
                c.oci_mode = RequestedOciMode::Docker;
                c.annotations.insert("a".into(), "b".into());
            },
            Some("cannot carry annotations"),
        );
        check(
            |c| {
                c.oci_mode = RequestedOciMode::Docker;
                c.standard_annotations.insert("a".into(), "b".into());
            },
            None,
        );
    }
}
