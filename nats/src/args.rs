// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The NATS flags every command that talks to NATS takes (`worker serve`, `coordinator
//! serve`, `submit`, `workers`, `status`, `logs`, `cancel`, `list`), declared once: the
//! server, the subject prefix, and how to authenticate. They become [`NatsOptions`] and the
//! prefix [`kaniko_common::subjects::Names`] are built from.
//!
//! The prefix is `--prefix` (`KANIKO_PREFIX`). `worker serve` and `coordinator submit` used
//! to spell it `--nats-prefix` (`KANIKO_NATS_PREFIX`); that spelling still works, hidden from
//! `--help`, and says it is deprecated each time it is used.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use kaniko_common::subjects::DEFAULT_PREFIX;

use crate::{DEFAULT_NATS_URL, NatsOptions};

/// How to reach NATS, and the subject prefix.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated (`tls://` for TLS).
    #[arg(long = "nats", env = "NATS_URL", default_value = DEFAULT_NATS_URL)]
    pub url: String,
    #[command(flatten)]
    /// The subject prefix.
    pub subject_prefix: PrefixArgs,
    #[command(flatten)]
    /// How to authenticate and whether to use TLS.
    pub auth: NatsAuthArgs,
}

/// The subject prefix flag alone, `--prefix` (`KANIKO_PREFIX`) and its deprecated spelling:
/// flattened by [`NatsArgs`] and by a command that names subjects without connecting
/// (`coordinator nats-config`).
#[derive(Debug, Clone, Default, Args)]
pub struct PrefixArgs {
    /// Prefix of every NATS subject, stream, bucket and object store [default: kaniko].
    #[arg(long = "prefix", env = "KANIKO_PREFIX", value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// The deprecated spelling of --prefix (KANIKO_PREFIX).
    #[arg(
        long = "nats-prefix",
        env = "KANIKO_NATS_PREFIX",
        value_name = "PREFIX",
        hide = true
    )]
    pub deprecated_prefix: Option<String>,
}

/// The warning the deprecated spelling of the prefix gives.
pub const DEPRECATED_PREFIX: &str =
    "--nats-prefix and KANIKO_NATS_PREFIX are deprecated: use --prefix or KANIKO_PREFIX";

/// The two spellings of the prefix name different prefixes.
#[derive(Debug, thiserror::Error)]
#[error(
    "--prefix (KANIKO_PREFIX) {prefix:?} and the deprecated --nats-prefix (KANIKO_NATS_PREFIX) \
     {deprecated:?} disagree: give --prefix only"
)]
pub struct PrefixConflict {
    /// The value of `--prefix`.
    pub prefix: String,
    /// The value of `--nats-prefix`.
    pub deprecated: String,
}

impl NatsArgs {
    /// The connection options these flags describe.
    pub fn options(&self) -> NatsOptions {
        self.auth.options(&self.url)
    }

    /// The subject prefix ([`PrefixArgs::prefix`]).
    pub fn prefix(&self) -> Result<&str, PrefixConflict> {
        self.subject_prefix.prefix()
    }
}

impl PrefixArgs {
    /// The subject prefix: `--prefix`, else the deprecated `--nats-prefix` (with a warning),
    /// else `kaniko`. Both given with different values is an error.
    pub fn prefix(&self) -> Result<&str, PrefixConflict> {
        match (&self.prefix, &self.deprecated_prefix) {
            (prefix, None) => Ok(prefix.as_deref().unwrap_or(DEFAULT_PREFIX)),
            (Some(prefix), Some(deprecated)) if prefix != deprecated => Err(PrefixConflict {
                prefix: prefix.clone(),
                deprecated: deprecated.clone(),
            }),
            (_, Some(deprecated)) => {
                warn_deprecated();
                Ok(deprecated)
            }
        }
    }
}

/// Says once per process that the deprecated spelling was used: in the logs when a
/// subscriber is installed (the daemons, `submit`), else on stderr (the client commands).
fn warn_deprecated() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{DEPRECATED_PREFIX}");
    } else {
        eprintln!("warning: {DEPRECATED_PREFIX}");
    }
}

/// NATS authentication and TLS flags. Secrets come from flags or, better (a flag shows in
/// `ps`), from the environment; `--help` never shows their values.
#[derive(Clone, Args)]
pub struct NatsAuthArgs {
    /// Token authentication.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub nats_token: Option<String>,
    /// User name (with --nats-password).
    #[arg(long, env = "NATS_USER", value_name = "USER")]
    pub nats_user: Option<String>,
    /// Password (with --nats-user).
    #[arg(
        long,
        env = "NATS_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub nats_password: Option<String>,
    /// NKey seed (`SU...`) of an nkey user.
    #[arg(long, env = "NATS_NKEY", hide_env_values = true, value_name = "SEED")]
    pub nats_nkey: Option<String>,
    /// Credentials file (JWT and NKey seed), for servers in operator mode.
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate to verify the server with (PEM); implies TLS.
    #[arg(long, env = "NATS_CA", value_name = "FILE")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), with --nats-tls-key, for servers that verify clients.
    #[arg(long, env = "NATS_CERT", value_name = "FILE")]
    pub nats_tls_cert: Option<PathBuf>,
    /// Client key (PEM), with --nats-tls-cert.
    #[arg(long, env = "NATS_KEY", value_name = "FILE")]
    pub nats_tls_key: Option<PathBuf>,
}

impl NatsAuthArgs {
    /// The connection options for `url` these flags describe.
    pub fn options(&self, url: &str) -> NatsOptions {
        NatsOptions {
            url: url.to_string(),
            token: self.nats_token.clone(),
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
            nkey_seed: self.nats_nkey.clone(),
            creds_file: self.nats_creds.clone(),
            tls_ca: self.nats_tls_ca.clone(),
            tls_cert: self.nats_tls_cert.clone(),
            tls_key: self.nats_tls_key.clone(),
            name: None,
            connect_wait: None,
            inbox_prefix: None,
        }
    }
}

/// Shows the flags as [`NatsOptions`] does: never a secret.
impl std::fmt::Debug for NatsAuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.options(""), f)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        nats: NatsArgs,
    }

    /// `args` parsed (the environment variables are the binaries' tests' business: see
    /// `worker/tests/cli.rs` and `coordinator/tests/cli.rs`).
    fn parse(args: &[&str]) -> NatsArgs {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .unwrap()
            .nats
    }

    #[test]
    fn the_prefix_has_one_meaning_under_both_spellings() {
        #[track_caller]
        fn check(args: &[&str], expected: Result<&str, &str>) {
            let nats = parse(args);
            match (nats.prefix(), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{args:?}"),
                (Err(err), Err(needle)) => {
                    assert!(err.to_string().contains(needle), "{args:?}: {err}")
                }
                (got, want) => panic!("{args:?}: got {got:?}, expected {want:?}"),
            }
        }
        check(&[], Ok("kaniko"));
        check(&["--prefix", "ci"], Ok("ci"));
        check(&["--prefix=ci"], Ok("ci"));
        check(&["--nats-prefix", "ci"], Ok("ci"));
        check(&["--nats-prefix=ci"], Ok("ci"));
        check(&["--prefix", "ci", "--nats-prefix", "ci"], Ok("ci"));
        check(
            &["--prefix", "a", "--nats-prefix", "b"],
            Err(
                "--prefix (KANIKO_PREFIX) \"a\" and the deprecated --nats-prefix (KANIKO_NATS_PREFIX) \"b\" disagree",
            ),
        );
    }

    #[test]
    fn help_names_each_flag_with_its_environment_variable() {
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        for (flag, var) in [
            ("--nats ", "NATS_URL"),
            ("--prefix", "KANIKO_PREFIX"),
            ("--nats-token", "NATS_TOKEN"),
            ("--nats-user", "NATS_USER"),
            ("--nats-password", "NATS_PASSWORD"),
            ("--nats-nkey", "NATS_NKEY"),
            ("--nats-creds", "NATS_CREDS"),
            ("--nats-tls-ca", "NATS_CA"),
            ("--nats-tls-cert", "NATS_CERT"),
            ("--nats-tls-key", "NATS_KEY"),
        ] {
            assert!(help.contains(flag), "{flag} missing\n{help}");
            assert!(
                help.contains(&format!("env: {var}")),
                "{var} missing\n{help}"
            );
        }
    }

    #[test]
    fn the_deprecated_spelling_is_hidden_from_help() {
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("--prefix"), "{help}");
        assert!(!help.contains("--nats-prefix"), "{help}");
        assert!(!help.contains("KANIKO_NATS_PREFIX"), "{help}");
    }
}
