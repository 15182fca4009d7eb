// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `coordinator` command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    /// Run the coordinator daemon: the request API, the fleet, the builds and index publishing.
    Serve(ServeArgs),
    /// List the live workers.
    Workers {
        #[command(flatten)]
        nats: NatsArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one build's state, per platform.
    Status {
        #[command(flatten)]
        nats: NatsArgs,
        /// The build id.
        build: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay a build's log lines from the events stream.
    Logs {
        #[command(flatten)]
        nats: NatsArgs,
        /// The build id.
        build: String,
    },
    /// Cancel a build: in-flight tasks are aborted, nothing is published.
    Cancel {
        #[command(flatten)]
        nats: NatsArgs,
        /// The build id.
        build: String,
        /// Why, recorded in the build's errors.
        #[arg(long)]
        reason: Option<String>,
    },
    /// List builds, newest first.
    List {
        #[command(flatten)]
        nats: NatsArgs,
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

/// How to reach NATS, and the subject prefix.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated.
    #[arg(
        long = "nats",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub url: String,
    /// Subject, stream and bucket prefix.
    #[arg(long, env = "KANIKO_PREFIX", default_value = kaniko_common::subjects::DEFAULT_PREFIX)]
    pub prefix: String,
    /// NATS credentials file.
    #[arg(long, env = "NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// NATS token.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// NATS user (with --nats-password).
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
}

impl NatsArgs {
    /// The connection settings.
    pub fn connect(&self) -> crate::serve::NatsConnect {
        crate::serve::NatsConnect {
            url: self.url.clone(),
            creds_file: self.nats_creds.clone(),
            token: self.nats_token.clone(),
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
        }
    }
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
    /// Stream replicas.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Registries reached over plain HTTP. Repeatable.
    #[arg(long)]
    pub insecure_registry: Vec<String>,
    /// Every registry over plain HTTP.
    #[arg(long)]
    pub insecure: bool,
    /// Registries whose TLS certificate is not verified. Repeatable.
    #[arg(long)]
    pub skip_tls_verify_registry: Vec<String>,
    /// Verify no TLS certificate.
    #[arg(long)]
    pub skip_tls_verify: bool,
    /// Directory of the docker config.json with registry credentials.
    #[arg(long, env = "DOCKER_CONFIG")]
    pub docker_config: Option<PathBuf>,
}

impl ServeArgs {
    /// The daemon's configuration.
    pub fn config(&self) -> crate::serve::ServeConfig {
        crate::serve::ServeConfig {
            nats: self.nats.connect(),
            prefix: self.nats.prefix.clone(),
            streams: crate::driver::nats::StreamSettings {
                tasks_max_age: Duration::from_secs(self.tasks_max_age),
                results_max_age: Duration::from_secs(self.history_max_age),
                events_max_age: Duration::from_secs(self.history_max_age),
                replicas: self.replicas.max(1),
                ..Default::default()
            },
            registry: kaniko_common::registry::RegistryOptions {
                insecure_registries: self.insecure_registry.clone(),
                insecure_all: self.insecure,
                skip_tls_verify_registries: self.skip_tls_verify_registry.clone(),
                skip_tls_verify_all: self.skip_tls_verify,
                docker_config_dir: self.docker_config.clone(),
                ..Default::default()
            },
            heartbeat_interval: Duration::from_secs(self.heartbeat_interval.max(1)),
        }
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
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let config = args.config();
        assert_eq!(config.nats.url, "nats://127.0.0.1:9");
        assert_eq!(config.prefix, "ci");
        assert_eq!(config.registry.insecure_registries, ["127.0.0.1:5000"]);
        assert_eq!(config.heartbeat_interval, Duration::from_secs(2));
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
    }
}
