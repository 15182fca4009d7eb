// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Authorization on the bus, against a real nats-server running the layout `coordinator
//! nats-config` writes (a coordinator, a worker and one nkey submitter per policy identity,
//! each with exact subject permissions), `coordinator serve --policy`, `worker serve`, and
//! submitters on `coordinator submit --identity`:
//!
//! * `server`: what the server refuses a submitter (tasks, results, heartbeats, cancels,
//!   other identities' requests, contexts and events, the shared stores, the JetStream
//!   management API), and a coordinator that never answers on a reply subject the requester
//!   chose outside its own inbox;
//! * `policy`: two submitters, each allowed its own repositories: refusals naming the
//!   identity and the destination or base image, and each one's builds invisible and
//!   uncancellable to the other;
//! * `secrets`: a worker secret's scope, and its value masked in every log line and event;
//! * `contexts`: an object planted under someone's context digest is replaced by their upload.

mod contexts;
mod policy;
mod secrets;
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kaniko_common::platform::Platform;
use kaniko_common::subjects::Names;
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::nats_secure::{Watched, read_seed};
use kaniko_tests::{Nats, Registry, init_test_tracing};

use crate::fleet::{Daemon, SETTINGS_ENV, binary, describe, serve_args, wait_for_listing};

/// A registry host's policy: alice pushes to `team-a/*` and pulls only `busybox`; bob
/// pushes to `team-b/*` and pulls anything of the registry; ops is an admin.
fn policy_json(host: &str) -> String {
    format!(
        r#"{{"identities": {{
  "alice": {{"push": ["{host}/team-a/*"], "pull": ["{host}/busybox"]}},
  "bob":   {{"push": ["{host}/team-b/*"], "pull": ["{host}/*"]}},
  "ops":   {{"push": ["*"], "pull": ["*"], "admin": true}}
}}}}"#
    )
}

/// nats-server with the generated layout, a registry with `busybox:latest`, the policy and
/// the seeds, and the daemons started so far.
pub(crate) struct Tenants {
    pub(crate) nats: Nats,
    pub(crate) registry: Registry,
    pub(crate) dir: tempfile::TempDir,
    keys: PathBuf,
    policy: PathBuf,
    daemons: Vec<Daemon>,
}

impl Tenants {
    /// The layout for [`policy_json`], nats-server running it, no daemon yet.
    pub(crate) async fn start() -> Tenants {
        init_test_tracing();
        let registry = Registry::start().expect("registry");
        push_busybox(&registry, "busybox").await.expect("fixture");
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = dir.path().join("policy.json");
        std::fs::write(&policy, policy_json(&registry.host())).expect("policy");
        let keys = dir.path().join("keys");
        let conf = dir.path().join("auth.conf");
        let out = Command::new(binary("coordinator"))
            .arg("nats-config")
            .arg("--policy")
            .arg(&policy)
            .arg("--keys")
            .arg(&keys)
            .arg("--output")
            .arg(&conf)
            .env_remove("KANIKO_PREFIX")
            .env_remove("KANIKO_POLICY")
            .output()
            .expect("coordinator nats-config");
        assert!(out.status.success(), "{}", describe(&out));
        let config = std::fs::read_to_string(&conf).expect("generated config");
        let nats = Nats::start_with_config(&config).expect("nats-server with the layout");
        Tenants {
            nats,
            registry,
            dir,
            keys,
            policy,
            daemons: Vec::new(),
        }
    }

    /// The layout with `coordinator serve --policy` and one worker (`extra` flags) serving.
    pub(crate) async fn serving(worker_flags: &[&str]) -> Tenants {
        let mut tenants = Tenants::start().await;
        tenants.coordinator();
        // The coordinator creates the streams; a worker of the layout may not.
        tenants.wait_for_coordinator();
        tenants.worker("tenant-worker", worker_flags);
        tenants.wait_for_worker("tenant-worker");
        tenants
    }

    /// The seed of `who`: `coordinator`, `worker`, or an identity.
    pub(crate) fn seed(&self, who: &str) -> String {
        let file = match who {
            "coordinator" | "worker" => format!("{who}.nk"),
            identity => format!("identity-{identity}.nk"),
        };
        read_seed(&self.keys.join(file)).expect("seed")
    }

    /// A command of ours with nothing from the environment but `who`'s seed.
    pub(crate) fn command(&self, program: &str, who: &str) -> Command {
        let mut command = Command::new(binary(program));
        for var in SETTINGS_ENV {
            command.env_remove(var);
        }
        command.env("NATS_NKEY", self.seed(who));
        command
    }

    pub(crate) fn coordinator(&mut self) {
        let mut command = self.command("coordinator", "coordinator");
        command
            .arg("serve")
            .args(["--nats", &self.nats.url()])
            .args(["--heartbeat-interval", "1"])
            .args(["--insecure-registry", &self.registry.host()])
            .arg("--policy")
            .arg(&self.policy);
        let daemon = Daemon::spawn("coordinator", self.dir.path(), command);
        self.daemons.push(daemon);
    }

    pub(crate) fn worker(&mut self, id: &str, extra: &[&str]) {
        let mut command = self.command("worker", "worker");
        serve_args(&mut command, &self.nats, id, &self.registry)
            .args(["--ack-wait", "5"])
            .args(extra);
        let daemon = Daemon::spawn(id, self.dir.path(), command);
        self.daemons.push(daemon);
    }

    /// `coordinator <args> --identity <identity>` with that identity's seed.
    pub(crate) fn verb(&self, identity: &str, args: &[&str]) -> Output {
        self.command("coordinator", identity)
            .args(args)
            .args(["--nats", &self.nats.url()])
            .args(["--identity", identity])
            .output()
            .expect("coordinator")
    }

    /// Waits until `coordinator workers --identity ops` lists `id`.
    pub(crate) fn wait_for_worker(&self, id: &str) {
        self.wait_for_listing(id);
    }

    /// Waits until the coordinator answers `coordinator workers --identity ops`.
    pub(crate) fn wait_for_coordinator(&self) {
        self.wait_for_listing("");
    }

    fn wait_for_listing(&self, id: &str) {
        wait_for_listing(&[id], || self.verb("ops", &["workers"]), || self.logs());
    }

    /// A context directory `name` with `dockerfile` and a `hello.txt`.
    pub(crate) fn context(&self, name: &str, dockerfile: &str) -> PathBuf {
        let context = self.dir.path().join(name);
        std::fs::create_dir_all(&context).expect("context dir");
        std::fs::write(context.join("Dockerfile"), dockerfile).expect("Dockerfile");
        std::fs::write(context.join("hello.txt"), format!("hello from {name}\n")).expect("hello");
        context
    }

    /// `FROM <registry>/busybox` and one COPY.
    pub(crate) fn copy_context(&self, name: &str) -> PathBuf {
        let dockerfile = format!(
            "FROM {}/busybox:latest\nCOPY hello.txt /hello.txt\n",
            self.registry.host()
        );
        self.context(name, &dockerfile)
    }

    /// `coordinator submit --identity <identity>` of `context` to `destination` for the
    /// host's platform, with `extra` flags.
    pub(crate) fn submit(
        &self,
        identity: &str,
        context: &Path,
        destination: &str,
        extra: &[&str],
    ) -> Output {
        self.command("coordinator", identity)
            .arg("submit")
            .args(["--driver", "nats"])
            .args(["--nats", &self.nats.url()])
            .args(["--identity", identity])
            .arg("--context")
            .arg(context)
            .args(["--destination", destination])
            .args(["--multi-platform", &Platform::host().to_string()])
            .args(["--timeout", "120"])
            .args(extra)
            .output()
            .expect("coordinator submit")
    }

    /// A NATS client of `who` (`coordinator`, `worker` or an identity: its seed and its own
    /// inbox) recording server errors.
    pub(crate) async fn connect_as(&self, who: &str) -> Watched {
        let inbox = match who {
            "coordinator" | "worker" => format!("_INBOX.kaniko.{who}"),
            identity => Names::default().identity_inbox(identity).expect("inbox"),
        };
        Watched::connect(&self.nats.url(), &self.seed(who), Some(&inbox))
            .await
            .unwrap_or_else(|err| panic!("{who} connection: {err}"))
    }

    pub(crate) fn logs(&self) -> String {
        let mut out: Vec<String> = self.daemons.iter().map(Daemon::logs).collect();
        out.push(format!("--- nats ---\n{}", self.nats.logs()));
        out.join("\n")
    }

    /// The daemons' logs only.
    pub(crate) fn daemon_logs(&self) -> String {
        self.daemons
            .iter()
            .map(Daemon::logs)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
