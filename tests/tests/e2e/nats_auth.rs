// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The spawned binaries against a secured nats-server, one server per way of
//! authenticating: token, user and password, nkey, a creds file (operator mode), and mutual
//! TLS. `coordinator serve`, one
//! `worker serve` and `coordinator submit --driver nats` connect with the right credentials
//! (flags, and the environment variable fallbacks) and a trivial build publishes its index.
//! Wrong credentials (wrong token, wrong password, unknown nkey, a user of an account the
//! server does not know, no CA, a missing or malformed creds file) fail fast with an error naming what is wrong, and no secret ever
//! shows in any output or log.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kaniko_common::platform::Platform;
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::nats_secure::{self, NkeyUser, Operator, TlsFiles};
use kaniko_tests::{Nats, Registry, init_test_tracing, skopeo_inspect_raw};

use crate::fleet::{Daemon, SETTINGS_ENV, binary, describe, serve_args, wait_for_listing};

/// How long a refused connection may take to be reported.
const REFUSAL_BOUND: Duration = Duration::from_secs(15);

/// How a process authenticates: flags and environment variables.
#[derive(Clone, Default)]
struct Auth {
    flags: Vec<OsString>,
    env: Vec<(&'static str, OsString)>,
}

impl Auth {
    fn flag(mut self, name: &str, value: impl Into<OsString>) -> Auth {
        self.flags.push(name.into());
        self.flags.push(value.into());
        self
    }

    fn env(mut self, name: &'static str, value: impl Into<OsString>) -> Auth {
        self.env.push((name, value.into()));
        self
    }

    fn apply(&self, command: &mut Command) {
        for var in SETTINGS_ENV {
            command.env_remove(var);
        }
        command.args(&self.flags);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
    }
}

/// A secured nats-server, a registry with `busybox:latest`, and the daemons.
struct Secured {
    nats: Nats,
    registry: Registry,
    dir: tempfile::TempDir,
    daemons: Vec<Daemon>,
    /// Every secret of the test (right and wrong ones): never in any output.
    secrets: Vec<String>,
}

impl Secured {
    async fn start(config: &str, secrets: &[&str]) -> Secured {
        init_test_tracing();
        let nats = Nats::start_with_config(config).expect("secured nats-server");
        let registry = Registry::start().expect("registry");
        push_busybox(&registry, "busybox").await.expect("fixture");
        Secured {
            nats,
            registry,
            dir: tempfile::tempdir().expect("tempdir"),
            daemons: Vec::new(),
            secrets: secrets.iter().map(ToString::to_string).collect(),
        }
    }

    fn coordinator(&mut self, auth: &Auth) {
        let mut command = Command::new(binary("coordinator"));
        command
            .arg("serve")
            .args(["--nats", &self.nats.url()])
            .args(["--heartbeat-interval", "1"])
            .args(["--insecure-registry", &self.registry.host()]);
        auth.apply(&mut command);
        self.daemons
            .push(Daemon::spawn("coordinator", self.dir.path(), command));
    }

    fn worker_command(&self, id: &str, auth: &Auth) -> Command {
        let mut command = Command::new(binary("worker"));
        serve_args(&mut command, &self.nats, id, &self.registry);
        auth.apply(&mut command);
        command
    }

    fn worker(&mut self, id: &str, auth: &Auth) {
        let command = self.worker_command(id, auth);
        self.daemons
            .push(Daemon::spawn(id, self.dir.path(), command));
    }

    /// Waits until `coordinator workers` (authenticated with `auth`) lists `id`.
    fn wait_for_worker(&self, id: &str, auth: &Auth) {
        let list = || {
            let mut command = Command::new(binary("coordinator"));
            command.arg("workers").args(["--nats", &self.nats.url()]);
            auth.apply(&mut command);
            command.output().expect("coordinator workers")
        };
        wait_for_listing(&[id], list, || self.logs());
    }

    /// `FROM busybox` plus one COPY.
    fn context(&self) -> PathBuf {
        let context = self.dir.path().join("context");
        std::fs::create_dir_all(&context).expect("context dir");
        std::fs::write(
            context.join("Dockerfile"),
            format!(
                "FROM {}/busybox:latest\nCOPY hello.txt /hello.txt\n",
                self.registry.host()
            ),
        )
        .expect("Dockerfile");
        std::fs::write(context.join("hello.txt"), "hello over secured NATS\n").expect("hello");
        context
    }

    fn submit(&self, auth: &Auth, destination: &str) -> Output {
        let mut command = Command::new(binary("coordinator"));
        command
            .arg("submit")
            .args(["--driver", "nats"])
            .args(["--nats", &self.nats.url()])
            .arg("--context")
            .arg(self.context())
            .args(["--destination", destination])
            .args(["--multi-platform", &Platform::host().to_string()])
            .args(["--timeout", "60"]);
        auth.apply(&mut command);
        command.output().expect("coordinator submit")
    }

    /// `coordinator serve`, `worker serve` and `coordinator submit`, each authenticated its
    /// own way, publish the index of a one-platform build.
    fn build_publishes(&mut self, coordinator: &Auth, worker: &Auth, submit: &Auth) {
        self.coordinator(coordinator);
        self.worker("secured-1", worker);
        self.wait_for_worker("secured-1", coordinator);
        let destination = format!("{}/secured:v1", self.registry.host());
        let output = self.submit(submit, &destination);
        assert!(
            output.status.success(),
            "{}\n{}",
            describe(&output),
            self.logs()
        );
        self.assert_no_secret("submit", &describe(&output));
        let index = skopeo_inspect_raw(&destination).expect("skopeo inspect --raw");
        assert_eq!(
            index["mediaType"], "application/vnd.oci.image.index.v1+json",
            "{index:#}"
        );
        let manifests = index["manifests"].as_array().expect("manifests");
        assert_eq!(manifests.len(), 1, "{index:#}");
        assert_eq!(
            manifests[0]["platform"]["architecture"],
            Platform::host().architecture.as_str(),
            "{index:#}"
        );
        self.assert_no_secret("the daemons' logs", &self.daemon_logs());
    }

    /// `coordinator submit` with `auth` fails within [`REFUSAL_BOUND`], its output naming
    /// every one of `names` and no secret.
    fn submit_refused(&self, auth: &Auth, names: &[&str]) {
        let destination = format!("{}/refused:v1", self.registry.host());
        let started = Instant::now();
        let output = self.submit(auth, &destination);
        let elapsed = started.elapsed();
        let text = describe(&output);
        assert_eq!(output.status.code(), Some(1), "{text}\n{}", self.logs());
        assert!(elapsed < REFUSAL_BOUND, "refused after {elapsed:?}\n{text}");
        self.assert_refusal("a refused submit", &text, names);
        assert!(skopeo_inspect_raw(&destination).is_err(), "nothing pushed");
    }

    /// `worker serve` with `auth` exits non-zero within [`REFUSAL_BOUND`], naming every one of
    /// `names` and no secret.
    fn worker_refused(&self, auth: &Auth, names: &[&str]) {
        let log = self.dir.path().join("refused-worker.log");
        let mut command = self.worker_command("refused-1", auth);
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("worker serve");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if started.elapsed() > REFUSAL_BOUND {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "worker serve still running after {REFUSAL_BOUND:?} with bad credentials\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!status.success(), "{status:?}\n{text}");
        self.assert_refusal("a refused worker", &text, names);
    }

    /// Asserts `text`, the output of `what`, names every one of `names` (in any case), says
    /// nothing of retrying (a refusal is final) and shows no secret.
    fn assert_refusal(&self, what: &str, text: &str, names: &[&str]) {
        let lower = text.to_lowercase();
        for name in names {
            assert!(
                lower.contains(&name.to_lowercase()),
                "the refusal names {name:?}\n{text}"
            );
        }
        assert!(
            !text.contains("retrying"),
            "a refusal is final, not retried\n{text}"
        );
        self.assert_no_secret(what, text);
    }

    fn assert_no_secret(&self, what: &str, text: &str) {
        for secret in &self.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what} shows a secret ({} characters)",
                secret.len()
            );
        }
    }

    fn daemon_logs(&self) -> String {
        self.daemons
            .iter()
            .map(Daemon::logs)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn logs(&self) -> String {
        format!("{}\n--- nats ---\n{}", self.daemon_logs(), self.nats.logs())
    }
}

/// A creds file that is not one: `coordinator submit` names it; a missing one too.
fn creds_refusals(secured: &Secured, dir: &Path) {
    let missing = dir.join("no-such.creds");
    secured.submit_refused(
        &Auth::default().flag("--nats-creds", &missing),
        &["creds file", &missing.display().to_string(), "no such file"],
    );
    let malformed = dir.join("malformed.creds");
    std::fs::write(&malformed, "this is not a creds file\n").expect("creds");
    secured.submit_refused(
        &Auth::default().env("NATS_CREDS", &malformed),
        &["creds file", &malformed.display().to_string()],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_auth_token_from_flags_and_env_publishes_and_a_wrong_token_is_refused() {
    let token = "kaniko-test-token-7d1c9e";
    let wrong = "kaniko-wrong-token-55aa01";
    let mut secured = Secured::start(&nats_secure::token_block(token), &[token, wrong]).await;
    let by_flag = Auth::default().flag("--nats-token", token);
    let by_env = Auth::default().env("NATS_TOKEN", token);
    secured.build_publishes(&by_flag, &by_env, &by_flag);

    secured.submit_refused(
        &Auth::default().flag("--nats-token", wrong),
        &["authorization violation", "--nats-token"],
    );
    secured.submit_refused(&Auth::default(), &["authorization violation"]);
    let dir = secured.dir.path().to_path_buf();
    creds_refusals(&secured, &dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_auth_user_and_password_publishes_and_a_wrong_password_is_refused() {
    let password = "kaniko-test-password-91b2";
    let wrong = "kaniko-wrong-password-0c3d";
    let mut secured = Secured::start(
        &nats_secure::password_block("builder", password),
        &[password, wrong],
    )
    .await;
    let by_env = Auth::default()
        .env("NATS_USER", "builder")
        .env("NATS_PASSWORD", password);
    let by_flag = Auth::default()
        .flag("--nats-user", "builder")
        .flag("--nats-password", password);
    secured.build_publishes(&by_env, &by_flag, &by_env);

    let wrong_password = Auth::default()
        .flag("--nats-user", "builder")
        .flag("--nats-password", wrong);
    secured.submit_refused(&wrong_password, &["authorization violation"]);
    secured.worker_refused(&wrong_password, &["authorization violation", "--nats-user"]);
    secured.submit_refused(
        &Auth::default().env("NATS_PASSWORD", password),
        &["password", "without a user"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_auth_nkey_publishes_and_an_unknown_nkey_is_refused() {
    let user = NkeyUser::generate().expect("nkey");
    let stranger = NkeyUser::generate().expect("nkey");
    let mut secured = Secured::start(
        &nats_secure::nkey_block(&[&user]),
        &[&user.seed, &stranger.seed],
    )
    .await;
    let by_flag = Auth::default().flag("--nats-nkey", &user.seed);
    let by_env = Auth::default().env("NATS_NKEY", &user.seed);
    secured.build_publishes(&by_flag, &by_env, &by_env);

    let unknown = Auth::default().env("NATS_NKEY", &stranger.seed);
    secured.submit_refused(&unknown, &["authorization violation", "--nats-nkey"]);
    secured.worker_refused(&unknown, &["authorization violation"]);
    secured.submit_refused(
        &Auth::default().flag("--nats-nkey", "SUNOTASEED"),
        &["nkey"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_auth_creds_file_publishes_and_a_user_of_another_account_is_refused() {
    let material = tempfile::tempdir().expect("tempdir");
    let operator = Operator::generate("kaniko-operator").expect("operator");
    let account = operator.account("kaniko").expect("account");
    // Signed by the same operator, but not preloaded: the server does not know it.
    let unknown = operator.account("unknown").expect("account");
    let builder = account
        .user_creds("builder", &material.path().join("builder.creds"))
        .expect("creds");
    let stranger = unknown
        .user_creds("stranger", &material.path().join("stranger.creds"))
        .expect("creds");
    let mut secured = Secured::start(
        &operator.server_block(&[&account]),
        &[&builder.seed, &stranger.seed],
    )
    .await;
    let by_flag = Auth::default().flag("--nats-creds", &builder.path);
    let by_env = Auth::default().env("NATS_CREDS", &builder.path);
    secured.build_publishes(&by_flag, &by_env, &by_flag);
    // `coordinator submit` with the creds file from the environment builds too.
    let destination = format!("{}/secured:v2", secured.registry.host());
    let output = secured.submit(&by_env, &destination);
    assert!(
        output.status.success(),
        "{}\n{}",
        describe(&output),
        secured.logs()
    );
    secured.assert_no_secret("submit", &describe(&output));
    assert!(skopeo_inspect_raw(&destination).is_ok(), "{destination}");

    let other_account = Auth::default().flag("--nats-creds", &stranger.path);
    secured.submit_refused(&other_account, &["authorization violation", "--nats-creds"]);
    secured.worker_refused(
        &Auth::default().env("NATS_CREDS", &stranger.path),
        &["authorization violation"],
    );
    creds_refusals(&secured, material.path());
    secured.assert_no_secret("the nats-server log", &secured.nats.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_auth_mutual_tls_publishes_and_a_client_without_the_ca_is_refused() {
    let material = tempfile::tempdir().expect("tempdir");
    let tls = TlsFiles::generate(material.path()).expect("TLS material");
    let mut secured = Secured::start(&tls.server_block(true), &[]).await;
    assert!(
        secured.nats.url().starts_with("tls://"),
        "{}",
        secured.nats.url()
    );
    let by_flag = Auth::default()
        .flag("--nats-tls-ca", &tls.ca)
        .flag("--nats-tls-cert", &tls.client_cert)
        .flag("--nats-tls-key", &tls.client_key);
    let by_env = Auth::default()
        .env("NATS_CA", &tls.ca)
        .env("NATS_CERT", &tls.client_cert)
        .env("NATS_KEY", &tls.client_key);
    secured.build_publishes(&by_flag, &by_env, &by_flag);

    // The server's certificate cannot be verified without its CA.
    let no_ca = Auth::default()
        .flag("--nats-tls-cert", &tls.client_cert)
        .flag("--nats-tls-key", &tls.client_key);
    secured.submit_refused(&no_ca, &["certificate", "--nats-tls-ca"]);
    secured.worker_refused(&no_ca, &["certificate"]);
    // The server asks for a client certificate (verify: true); none is given.
    secured.submit_refused(
        &Auth::default().flag("--nats-tls-ca", &tls.ca),
        &["certificate", "--nats-tls-cert"],
    );
    // A CA file that does not exist is named.
    let missing = material.path().join("missing-ca.pem");
    secured.submit_refused(
        &Auth::default().flag("--nats-tls-ca", &missing),
        &["TLS CA", &missing.display().to_string()],
    );
    // A certificate without its key.
    secured.submit_refused(
        &Auth::default()
            .flag("--nats-tls-ca", &tls.ca)
            .flag("--nats-tls-cert", &tls.client_cert),
        &["--nats-tls-key"],
    );
}
