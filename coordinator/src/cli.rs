// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `coordinator` command line: the subcommands, and the index publishing and registry
//! flags `submit` and `index` share.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use kaniko_nats::NatsArgs;
use kaniko_worker::cli::RegistryFlags;

/// kaniko-rs coordinator: fans one build out per platform to native workers and publishes the multi-arch index.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version = kaniko_common::version::VERSION, long_version = kaniko_common::version::LONG_VERSION)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a build and follow it to the published index.
    Submit(Box<crate::submit::SubmitArgs>),
    /// Publish an index of per-platform images built elsewhere (per-arch CI jobs): the `ci`
    /// driver, the same as `submit --driver ci`. Needs no NATS.
    Index(Box<IndexArgs>),
    /// Run the coordinator daemon: the request API, the fleet, the builds and index publishing.
    Serve(ServeArgs),
    /// Write the nats-server authorization block of the least-privilege layout: a
    /// coordinator, a worker and one submitter per identity of the policy, nkey users with
    /// exact subject permissions (seeds generated when missing).
    NatsConfig(crate::nats_config::NatsConfigArgs),
    /// The layer cache in a registry: `cache gc` deletes expired entries.
    #[command(subcommand)]
    Cache(crate::cache_gc::CacheCommand),
    /// Check an image's cosign signature with a public key: exits non-zero naming what
    /// failed (no signature, wrong key, digest mismatch).
    Verify(Box<crate::verify::VerifyArgs>),
    /// List the artifacts (signatures, SBOMs) attached to an image as OCI 1.1 referrers.
    Referrers(Box<crate::verify::ReferrersArgs>),
    /// Print the SPDX 2.3 SBOM attached to an image's platform manifest (`--sbom`).
    Sbom(Box<crate::verify::SbomArgs>),
    /// List the live workers.
    Workers {
        #[command(flatten)]
        client: ClientArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one build's state, per platform.
    Status {
        #[command(flatten)]
        client: ClientArgs,
        /// The build id.
        build: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay a build's log lines from the events stream.
    Logs {
        #[command(flatten)]
        client: ClientArgs,
        /// The build id.
        build: String,
    },
    /// Cancel a build: in-flight tasks are aborted, nothing is published.
    Cancel {
        #[command(flatten)]
        client: ClientArgs,
        /// The build id.
        build: String,
        /// Why, recorded in the build's errors.
        #[arg(long)]
        reason: Option<String>,
    },
    /// List builds, newest first.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Only builds not finished yet.
        #[arg(long)]
        active: bool,
        /// At most this many.
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How a client command (`workers`, `status`, `logs`, `cancel`, `list`) reaches the
/// coordinator's request API.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// How to reach NATS.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Who the requests speak as.
    #[command(flatten)]
    pub who: IdentityArgs,
}

/// Who a client command speaks as.
#[derive(Debug, Clone, Default, Args)]
pub struct IdentityArgs {
    /// Send requests as this identity, for a coordinator with a policy (`serve --policy`):
    /// on `<prefix>.api.<identity>.<verb>`, with replies on the identity's own inbox and its
    /// contexts and build events in its own streams. The NATS credentials must be that
    /// identity's (`coordinator nats-config`).
    #[arg(long, env = "KANIKO_IDENTITY", value_name = "NAME")]
    pub identity: Option<String>,
}

impl IdentityArgs {
    /// The identity, checked.
    pub fn identity(&self) -> anyhow::Result<Option<&str>> {
        if let Some(identity) = &self.identity {
            kaniko_common::subjects::validate_identity(identity)
                .map_err(|err| anyhow::anyhow!("--identity: {err}"))?;
        }
        Ok(self.identity.as_deref())
    }
}

/// Index publishing flags of `coordinator submit` and `coordinator index`, beyond the ones
/// `submit` always had (`--oci-mode`, `--index-annotations`, `--publish-index`).
#[derive(Debug, Clone, Default, Args)]
pub struct PublishFlags {
    /// Publish a Docker manifest list instead of an OCI index (the same as --oci-mode docker).
    #[arg(long, conflicts_with = "oci_mode")]
    pub legacy_manifest_list: bool,
    /// A registry refusing to move an immutable tag (400/403/409 with TAG_INVALID,
    /// MANIFEST_INVALID or DENIED, or a message about immutability) is a warning, not a
    /// failure. Tag pushes only: the index is pushed by digest first.
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub push_ignore_immutable_tag_errors: bool,
    /// Replace a --digest-file whose content would change (refused otherwise; the same
    /// content is always fine).
    #[arg(long)]
    pub force: bool,
    /// Signing the index and each platform's manifest (docs/signing.md).
    #[command(flatten)]
    pub signing: kaniko_worker::cli::SigningFlags,
    /// Attach an SPDX 2.3 SBOM (OS packages and layers) to each platform's manifest as an
    /// OCI 1.1 referrer, signed too with --sign-images (docs/signing.md).
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub sbom: bool,
}

impl PublishFlags {
    /// Loads the signing key when `--sign-images` asks for it and makes it the key this
    /// process's publishing signs with ([`crate::policy::sign`]).
    pub fn install_signing_key(&self) -> anyhow::Result<()> {
        if let Some(key) = self.signing.load()? {
            crate::policy::sign::install(key)?;
        }
        Ok(())
    }
}

/// How the coordinator itself reaches registries (`serve` publishes indexes, the `ci` and
/// `local` drivers push from this process): the shared [`RegistryFlags`] and the directory
/// of the docker `config.json`.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// Plain HTTP and TLS verification.
    #[command(flatten)]
    pub flags: RegistryFlags,
    /// Directory of the docker config.json with registry credentials.
    #[arg(long, env = "DOCKER_CONFIG", value_name = "DIR")]
    pub docker_config: Option<PathBuf>,
}

impl RegistryArgs {
    /// The registry client options.
    pub fn options(&self) -> kaniko_registry::RegistryOptions {
        kaniko_registry::RegistryOptions {
            docker_config_dir: self.docker_config.clone(),
            ..self.flags.options()
        }
    }
}

/// `coordinator index` flags: the `ci` driver.
#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// The directory of per-platform files: `worker build --metadata-file` JSON files, or
    /// `--digest-file` files named `<os>-<arch>[-<variant>].digest` (subdirectories are read
    /// too).
    #[arg(long, value_name = "DIR")]
    pub digests_from: PathBuf,
    /// Image reference the index is pushed under. Repeatable; several repositories allowed.
    #[arg(short = 'd', long, required = true, value_name = "IMAGE")]
    pub destination: Vec<String>,
    /// Repository (`registry/repo`) the per-platform images were pushed to, looked in for
    /// files that do not say (plain digests); the destination repositories always are.
    /// Repeatable.
    #[arg(long, value_name = "REPO")]
    pub source_repo: Vec<String>,
    /// The platforms that must be there, comma-separated or repeated (default: whatever the
    /// directory holds).
    #[arg(
        long,
        alias = "platform",
        value_delimiter = ',',
        value_name = "PLATFORMS"
    )]
    pub multi_platform: Vec<String>,
    /// Index media type: oci, docker (a Docker manifest list), or auto (a Docker list only
    /// when every child is Docker-typed and no annotation is asked for).
    #[arg(long, value_enum, default_value_t = crate::submit::OciModeArg::Oci)]
    pub oci_mode: crate::submit::OciModeArg,
    /// Index annotations KEY=VALUE[,KEY=VALUE...] (OCI index only). Repeatable.
    #[arg(long = "index-annotations", value_name = "KEY=VALUE,...")]
    pub index_annotation: Vec<String>,
    /// Publish the index (false: only check the per-platform images and report their digests).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub publish_index: bool,
    /// The checkout the images were built from, for the source and revision annotations.
    #[arg(short = 'c', long, default_value = ".")]
    pub context: PathBuf,
    /// `org.opencontainers.image.created` is the epoch.
    #[arg(long)]
    pub reproducible: bool,
    /// Write the outcome (state, index, platforms, each destination tag's fate) as JSON to
    /// this file.
    #[arg(long, value_name = "PATH")]
    pub metadata_file: Option<PathBuf>,
    /// Write the index digest (or, without an index, each platform's) to this file.
    #[arg(long, value_name = "PATH")]
    pub digest_file: Option<PathBuf>,
    #[command(flatten)]
    /// Index publishing flags.
    pub publish: PublishFlags,
    #[command(flatten)]
    /// Registry access.
    pub registry: RegistryArgs,
}

/// Parses `--index-annotations` values: each is `KEY=VALUE[,KEY=VALUE...]`; a comma-separated
/// piece without `=` belongs to the previous value (`a=1,2,b=3` is `a` = `1,2` and `b` = `3`).
/// A key given twice keeps the last value.
pub fn parse_annotations(values: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for value in values {
        let mut last: Option<String> = None;
        for piece in value.split(',') {
            match piece.split_once('=') {
                Some((key, v)) if !key.trim().is_empty() => {
                    let key = key.trim().to_string();
                    out.insert(key.clone(), v.to_string());
                    last = Some(key);
                }
                _ => match last.as_ref().and_then(|k| out.get_mut(k)) {
                    Some(previous) => {
                        previous.push(',');
                        previous.push_str(piece);
                    }
                    None => {
                        return Err(format!(
                            "--index-annotations {value:?}: expected KEY=VALUE[,KEY=VALUE...]"
                        ));
                    }
                },
            }
        }
    }
    Ok(out)
}

/// `coordinator serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Workers' heartbeat interval in seconds; a worker silent for 3 intervals is gone.
    #[arg(long, default_value_t = 5)]
    pub heartbeat_interval: u64,
    /// How long an unclaimed task stays in the tasks stream, seconds.
    #[arg(long, default_value_t = 86_400)]
    pub tasks_max_age: u64,
    /// How long results and events are kept, seconds.
    #[arg(long, default_value_t = 86_400)]
    pub history_max_age: u64,
    /// Replicas of every stream, KV bucket and object store this coordinator creates (1 to
    /// 5): 1 on a single server, 3 on a 3-node cluster (each survives one node lost).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=5))]
    pub replicas: usize,
    /// How index publishing reaches registries.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// How long to keep trying a nats-server that is not up yet at start, seconds (the
    /// coordinator may start before it); refused credentials end it at once.
    #[arg(
        long,
        env = "KANIKO_NATS_CONNECT_TIMEOUT",
        default_value_t = 60,
        value_name = "SECS"
    )]
    pub nats_connect_timeout: u64,
    /// The authorization policy (JSON): each identity's allowed push and pull repositories
    /// and whether it is an admin. With it, only identities' requests
    /// (`<prefix>.api.<identity>.<verb>`) are served; without it the API is open and
    /// anonymous (see docs/security.md).
    #[arg(long, env = "KANIKO_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The cosign key (encrypted or PKCS#8) fleet builds are signed with when their submit
    /// asks (`submit --driver nats --sign-images`). Its password is read from the
    /// COSIGN_PASSWORD variable only, never from a flag (docs/signing.md).
    #[arg(long, value_name = "PATH")]
    pub cosign_key_path: Option<PathBuf>,
    /// How long this coordinator's lease on a build lasts unless renewed, seconds: when it
    /// dies, another coordinator takes its builds over after this (docs/api.md, Several coordinators).
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    pub lease: u64,
    /// How often leases are renewed, and how often builds whose lease ran out are looked
    /// for, seconds; shorter than --lease.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub lease_renew: u64,
}

impl ServeArgs {
    /// Loads `--cosign-key-path` (password from `COSIGN_PASSWORD`) and makes it the key this
    /// process's publishing signs with, before anything is served.
    pub fn install_signing_key(&self) -> anyhow::Result<()> {
        let Some(path) = &self.cosign_key_path else {
            return Ok(());
        };
        let password = std::env::var("COSIGN_PASSWORD")
            .ok()
            .map(kaniko_sign::Password::new);
        let key = kaniko_sign::SigningKey::load(path, password.as_ref())?;
        tracing::info!(public_key = %key.public_key().fingerprint(), "fleet builds that ask are signed with this key");
        crate::policy::sign::install(key)
    }

    /// The daemon's configuration.
    pub fn config(&self) -> anyhow::Result<crate::serve::ServeConfig> {
        let ownership = crate::policy::lease::Ownership::new(
            crate::policy::lease::coordinator_id(),
            Duration::from_secs(self.lease),
            Duration::from_secs(self.lease_renew),
        )
        .map_err(anyhow::Error::msg)?;
        Ok(crate::serve::ServeConfig {
            nats: kaniko_nats::NatsOptions {
                connect_wait: Some(Duration::from_secs(self.nats_connect_timeout)),
                ..self.nats.options()
            },
            prefix: self.nats.prefix()?.to_string(),
            streams: crate::bus::StreamSettings {
                tasks_max_age: Duration::from_secs(self.tasks_max_age),
                results_max_age: Duration::from_secs(self.history_max_age),
                events_max_age: Duration::from_secs(self.history_max_age),
                replicas: self.replicas,
                ..Default::default()
            },
            registry: self.registry.options(),
            heartbeat_interval: Duration::from_secs(self.heartbeat_interval.max(1)),
            policy: self.policy.clone(),
            ownership,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_flags_become_the_config() {
        let cli = Cli::try_parse_from([
            "coordinator",
            "serve",
            "--nats",
            "nats://127.0.0.1:9",
            "--prefix",
            "ci",
            "--insecure-registry",
            "127.0.0.1:5000",
            "--heartbeat-interval",
            "2",
            "--policy",
            "/etc/kaniko/policy.json",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let config = args.config().unwrap();
        assert_eq!(
            config.policy.as_deref(),
            Some(std::path::Path::new("/etc/kaniko/policy.json"))
        );
        assert_eq!(config.nats.url, "nats://127.0.0.1:9");
        assert_eq!(config.prefix, "ci");
        assert_eq!(config.registry.insecure_registries, ["127.0.0.1:5000"]);
        assert_eq!(config.heartbeat_interval, Duration::from_secs(2));
        assert_eq!(config.ownership.lease, Duration::from_secs(15));
        assert_eq!(config.ownership.renew, Duration::from_secs(5));
        let parse = |lease: &str, renew: &str| {
            let cli = Cli::try_parse_from([
                "coordinator",
                "serve",
                "--lease",
                lease,
                "--lease-renew",
                renew,
            ])
            .unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("not serve");
            };
            args.config().map_err(|e| e.to_string())
        };
        assert_eq!(
            parse("3", "1").unwrap().ownership.lease,
            Duration::from_secs(3)
        );
        assert_eq!(
            parse("3", "3").unwrap_err(),
            "--lease-renew (3s) must be shorter than --lease (3s), or leases run out between renewals"
        );
    }

    #[test]
    fn annotations_are_comma_separated_and_repeatable() {
        fn check(values: &[&str], expected: Result<&[(&str, &str)], &str>) {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            let got = parse_annotations(&values);
            match expected {
                Ok(pairs) => {
                    let want: BTreeMap<String, String> = pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(got, Ok(want), "{values:?}");
                }
                Err(needle) => {
                    let err = got.unwrap_err();
                    assert!(err.contains(needle), "{values:?}: {err}");
                }
            }
        }
        check(&["a=1,b=2"], Ok(&[("a", "1"), ("b", "2")]));
        check(&["a=1", "b=2"], Ok(&[("a", "1"), ("b", "2")]));
        check(&["a=1,2,b=3"], Ok(&[("a", "1,2"), ("b", "3")]));
        check(&["a=x=y"], Ok(&[("a", "x=y")]));
        check(&["a=1", "a=2"], Ok(&[("a", "2")]));
        check(&["a="], Ok(&[("a", "")]));
        check(&["novalue"], Err("--index-annotations \"novalue\""));
        check(&["=v"], Err("expected KEY=VALUE"));
    }

    #[test]
    fn index_flags() {
        let cli = Cli::try_parse_from([
            "coordinator",
            "index",
            "--digests-from",
            "out",
            "-d",
            "r/a:1",
            "-d",
            "r/b:1",
            "--legacy-manifest-list",
            "--push-ignore-immutable-tag-errors",
            "--publish-index=false",
            "--insecure-registry",
            "127.0.0.1:5000",
        ])
        .unwrap();
        let Command::Index(args) = cli.command else {
            panic!("not index");
        };
        assert_eq!(args.destination, ["r/a:1", "r/b:1"]);
        assert!(args.publish.legacy_manifest_list);
        assert!(args.publish.push_ignore_immutable_tag_errors);
        assert!(!args.publish_index);
        assert_eq!(
            args.registry.options().insecure_registries,
            ["127.0.0.1:5000"]
        );
        fn check(args: &[&str], ok: bool) {
            assert_eq!(Cli::try_parse_from(args).is_ok(), ok, "{args:?}");
        }
        check(&["coordinator", "index", "--digests-from", "d"], false);
        check(&["coordinator", "index", "-d", "r/a"], false);
        fn index(extra: &[&'static str]) -> Vec<&'static str> {
            let base = ["coordinator", "index", "--digests-from", "d", "-d", "r/a"];
            [&base[..], extra].concat()
        }
        check(&index(&[]), true);
        // index builds nothing: a cache suffix there would be read by nothing
        check(&index(&["--arch-cache-repo-suffix=-c"]), false);
        check(
            &index(&["--oci-mode", "oci", "--legacy-manifest-list"]),
            false,
        );
    }

    #[test]
    fn build_verbs_need_a_build_id() {
        fn check(args: &[&str], ok: bool) {
            assert_eq!(Cli::try_parse_from(args).is_ok(), ok, "{args:?}");
        }
        check(&["coordinator", "status", "b1"], true);
        check(&["coordinator", "status"], false);
        check(&["coordinator", "logs", "b1"], true);
        check(&["coordinator", "cancel", "b1", "--reason", "stop"], true);
        check(&["coordinator", "list", "--active", "--limit", "3"], true);
        check(&["coordinator", "workers", "--json"], true);
        check(
            &["coordinator", "status", "b1", "--identity", "alice"],
            true,
        );
        check(&["coordinator", "serve", "--identity", "alice"], false);
        check(&["coordinator", "nats-config", "--keys", "k"], false);
        check(
            &["coordinator", "nats-config", "--policy", "p", "--keys", "k"],
            true,
        );
    }

    #[test]
    fn every_command_takes_the_nats_auth_flags_and_debug_hides_the_secrets() {
        use clap::CommandFactory;
        let auth = [
            "--nats-token",
            "tok-secret",
            "--nats-user",
            "alice",
            "--nats-password",
            "pw-secret",
            "--nats-nkey",
            "SUseed-secret",
            "--nats-tls-ca",
            "/etc/nats/ca.pem",
            "--nats-tls-cert",
            "/etc/nats/cert.pem",
            "--nats-tls-key",
            "/etc/nats/key.pem",
        ];
        let serve =
            Cli::try_parse_from(["coordinator", "serve"].iter().chain(&auth)).expect("serve flags");
        let Command::Serve(args) = serve.command else {
            panic!("not serve");
        };
        let config = args.config().unwrap();
        assert_eq!(config.nats.token.as_deref(), Some("tok-secret"));
        assert_eq!(config.nats.user.as_deref(), Some("alice"));
        assert_eq!(config.nats.password.as_deref(), Some("pw-secret"));
        assert_eq!(config.nats.nkey_seed.as_deref(), Some("SUseed-secret"));
        assert_eq!(
            config.nats.tls_key.as_deref(),
            Some(std::path::Path::new("/etc/nats/key.pem"))
        );
        for debug in [format!("{args:?}"), format!("{config:?}")] {
            for secret in ["tok-secret", "pw-secret", "SUseed-secret"] {
                assert!(!debug.contains(secret), "{debug}");
            }
            assert!(debug.contains("<redacted>"), "{debug}");
        }
        for verb in [
            &["workers"][..],
            &["status", "b1"],
            &["logs", "b1"],
            &["cancel", "b1"],
            &["list"],
            &["submit", "--destination", "r/i:t"],
        ] {
            let argv = ["coordinator"].iter().chain(verb).chain(&auth);
            assert!(Cli::try_parse_from(argv).is_ok(), "{verb:?}");
        }
        let mut cli = Cli::command();
        for verb in ["serve", "workers", "submit"] {
            let help = cli
                .find_subcommand_mut(verb)
                .expect("subcommand")
                .render_long_help()
                .to_string();
            // The shared NATS flags (each documented with its variable: kaniko-nats' tests).
            for var in ["NATS_URL", "NATS_KEY"] {
                assert!(
                    help.contains(&format!("env: {var}")),
                    "{verb}: {var}\n{help}"
                );
            }
        }
    }

    #[test]
    fn every_command_reads_the_shared_registry_flags_the_same_way() {
        let flags = [
            "--insecure",
            "--insecure-registry",
            "r1:5000",
            "--skip-tls-verify=true",
            "--skip-tls-verify-registry",
            "r2",
            "--registry-http1",
        ];
        let want = RegistryFlags {
            insecure: true,
            insecure_registry: vec!["r1:5000".into()],
            skip_tls_verify: true,
            skip_tls_verify_registry: vec!["r2".into()],
            registry_http1: true,
        };
        let coordinator = |command: &[&str]| {
            let argv = ["coordinator"].iter().chain(command).chain(&flags);
            match Cli::try_parse_from(argv)
                .expect("coordinator flags")
                .command
            {
                Command::Serve(args) => args.registry.flags,
                Command::Index(args) => args.registry.flags,
                Command::Submit(args) => args.registry.flags,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(coordinator(&["serve"]), want);
        assert_eq!(
            coordinator(&["index", "--digests-from", "d", "-d", "r/a"]),
            want
        );
        assert_eq!(coordinator(&["submit", "-d", "r/a"]), want);
        let worker = |command: &[&str]| {
            use kaniko_worker::cli::{Cli, Command};
            let argv = ["worker"].iter().chain(command).chain(&flags);
            match Cli::try_parse_from(argv).expect("worker flags").command {
                Command::Build(args) => args.registry.access,
                Command::Serve(args) => args.registry.access,
                Command::Warm(args) => args.registry.access,
                Command::Store(_) => panic!("worker store takes no registry flags"),
            }
        };
        assert_eq!(worker(&["build"]), want);
        assert_eq!(worker(&["serve"]), want);
        assert_eq!(worker(&["warm", "img"]), want);
        // Kaniko's boolean forms everywhere, `--insecure` alone included.
        let off = Cli::try_parse_from(["coordinator", "serve", "--insecure=false"]).unwrap();
        let Command::Serve(off) = off.command else {
            panic!("not serve");
        };
        assert!(!off.registry.flags.insecure);
        let options = RegistryArgs {
            flags: want,
            docker_config: Some("/etc/docker".into()),
        }
        .options();
        assert!(options.insecure_all && options.skip_tls_verify_all && options.http1_only);
        assert_eq!(options.insecure_registries, ["r1:5000"]);
        assert_eq!(options.skip_tls_verify_registries, ["r2"]);
        assert_eq!(
            options.docker_config_dir.as_deref(),
            Some(std::path::Path::new("/etc/docker"))
        );
    }

    #[test]
    fn the_mirror_flags_are_shared_but_submit_reads_no_variable_for_them() {
        use clap::CommandFactory;
        let env_of = |command: &clap::Command, id: &str| {
            let arg = command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("{} has no {id}", command.get_name()));
            arg.get_env().map(|e| e.to_string_lossy().into_owned())
        };
        let coordinator = Cli::command();
        let submit = coordinator.find_subcommand("submit").unwrap();
        let worker = kaniko_worker::cli::Cli::command();
        for (id, variable) in [
            ("registry_mirror", "KANIKO_REGISTRY_MIRROR"),
            ("registry_map", "KANIKO_REGISTRY_MAP"),
        ] {
            assert_eq!(env_of(submit, id), None, "submit {id}");
            for name in ["build", "serve"] {
                let command = worker.find_subcommand(name).unwrap();
                assert_eq!(
                    env_of(command, id).as_deref(),
                    Some(variable),
                    "{name} {id}"
                );
            }
        }
        let argv = [
            "coordinator",
            "submit",
            "-d",
            "r/a",
            "--registry-mirror",
            "m",
            "--registry-map",
            "a=b",
        ];
        let Command::Submit(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not submit");
        };
        assert_eq!(args.local.mirrors.registry_mirror, ["m"]);
        assert_eq!(args.local.mirrors.registry_map, ["a=b"]);
    }

    /// The seed's spellings: every boolean takes `--flag`, `--flag=true` and `--flag=false`;
    /// a value that is not a boolean is refused naming it.
    #[test]
    fn boolean_flags_take_go_spellings_everywhere() {
        use kaniko_worker::cli::try_parse_command_line;
        let submit = |extra: &[&str]| {
            let mut args = vec!["coordinator", "submit", "--context", ".", "-d", "r/x:y"];
            args.extend_from_slice(extra);
            try_parse_command_line::<Cli, _>(args)
        };
        let Command::Submit(args) = submit(&[
            "--require-native-nodes=true",
            "--allow-partial",
            "--legacy-manifest-list=false",
            "--publish-index=false",
            "--reproducible=1",
            "--driver=local",
            "--multi-platform=linux/amd64,linux/arm64",
        ])
        .unwrap()
        .command
        else {
            panic!("not submit");
        };
        assert!(args.require_native_nodes && args.allow_partial && args.reproducible);
        assert!(!args.publish.legacy_manifest_list && !args.publish_index);
        assert_eq!(args.multi_platform, ["linux/amd64", "linux/arm64"]);
        let Command::Submit(args) = submit(&[]).unwrap().command else {
            panic!("not submit");
        };
        assert!(!args.require_native_nodes && !args.allow_partial && args.publish_index);

        let err = submit(&["--allow-partial=maybe"]).unwrap_err().to_string();
        assert!(err.contains("\"maybe\" is not a boolean"), "{err}");
        // A separate word is never a boolean's value, as in Kaniko.
        let err = submit(&["--detach", "false"]).unwrap_err().to_string();
        assert!(err.contains("unexpected argument 'false'"), "{err}");

        let Command::Index(args) = try_parse_command_line::<Cli, _>([
            "coordinator",
            "index",
            "--digests-from",
            "d",
            "-d",
            "r/x:y",
            "--force=true",
            "--reproducible=false",
        ])
        .unwrap()
        .command
        else {
            panic!("not index");
        };
        assert!(args.publish.force && !args.reproducible);
    }
}
