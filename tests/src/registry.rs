// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A real `docker-registry` (distribution 2.8) on a free loopback port, with filesystem
//! storage and deletes enabled (or, [`Registry::start_without_delete`], not) in a temporary
//! directory, stoppable and restartable on the same port and storage; plain HTTP, or TLS
//! with a certificate from the test CA ([`Registry::start_tls`]; Go's server then also offers
//! HTTP/2 through ALPN).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use kaniko_registry::{Reference, RegistryClient, RegistryOptions, RetryPolicy};

use crate::process::{Service, free_port, http_get, start_with_attempts};

/// How long a registry may take to answer `/v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running registry; killed (and reaped) on drop. Its log tail is printed when a test
/// panics.
pub struct Registry {
    // Fields drop in order: the process (and its log tail) before the directory.
    service: Service,
    dir: tempfile::TempDir,
    port: u16,
    /// Whether manifest and blob deletes are enabled.
    delete: bool,
    /// The server certificate and key when serving TLS.
    tls: Option<crate::nats_secure::TlsFiles>,
}

impl Registry {
    /// Starts a registry on a free port and waits until `GET /v2/` answers 200.
    pub fn start() -> anyhow::Result<Registry> {
        Registry::start_with(true)
    }

    /// [`Registry::start`] with deletes left disabled, as distribution ships: a manifest
    /// DELETE is answered 405 `UNSUPPORTED`.
    pub fn start_without_delete() -> anyhow::Result<Registry> {
        Registry::start_with(false)
    }

    /// [`Registry::start`] serving TLS with `tls`'s server certificate (for `127.0.0.1`,
    /// signed by the test CA, which no client trusts unless told to).
    pub fn start_tls(tls: &crate::nats_secure::TlsFiles) -> anyhow::Result<Registry> {
        Registry::start_with_tls(true, Some(tls.clone()))
    }

    fn start_with(delete: bool) -> anyhow::Result<Registry> {
        Registry::start_with_tls(delete, None)
    }

    fn start_with_tls(
        delete: bool,
        tls: Option<crate::nats_secure::TlsFiles>,
    ) -> anyhow::Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("kaniko-registry-")
            .tempdir()
            .context("creating the registry directory")?;
        let log_path = dir.path().join("registry.log");
        let mut registry = Registry {
            port: 0,
            delete,
            tls,
            service: Service::new("docker-registry", log_path),
            dir,
        };
        start_with_attempts("docker-registry", Duration::ZERO, || {
            registry.port = free_port()?;
            registry.launch()
        })?;
        Ok(registry)
    }

    /// Writes the configuration for the current port and starts the process.
    fn launch(&mut self) -> anyhow::Result<()> {
        let storage = self.storage_dir();
        let tls = match &self.tls {
            Some(tls) => format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.server_cert.display(),
                tls.server_key.display()
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: {delete}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: kaniko-test-registry\n{tls}",
            storage = storage.display(),
            port = self.port,
            delete = self.delete,
        );
        let config_path = self.dir.path().join("config.yml");
        std::fs::write(&config_path, config)
            .with_context(|| format!("writing {}", config_path.display()))?;
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config_path);
        self.service.spawn(command)?;
        let port = self.port;
        let tls = self.tls.is_some();
        self.service.await_ready(
            READY_TIMEOUT,
            &format!("answered /v2/ on port {port}"),
            // A TLS server answers a plain HTTP request with 400 ("client sent an HTTP
            // request to an HTTPS server"): it is up.
            || match http_get(port, "/v2/", Duration::from_secs(1)) {
                Some((200, _)) => true,
                Some((400, _)) => tls,
                _ => false,
            },
        )
    }

    /// `127.0.0.1:PORT`, the registry part of references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The socket address, e.g. to put a [`crate::FaultProxy`] in front.
    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// `http://127.0.0.1:PORT` (`https://` when serving TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The storage root (`docker/registry/v2/...` below it).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the content of blob `digest` (`sha256:<hex>`), so that tests
    /// can corrupt it.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let prefix = hex.get(..2).unwrap_or(hex);
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(prefix)
            .join(hex)
            .join("data")
    }

    /// Kills the registry; storage stays.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Starts the registry again on the same port and storage (waiting a little if the port
    /// is still held).
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        start_with_attempts("docker-registry", Duration::from_millis(200), || {
            self.launch()
        })
    }

    /// Everything the registry logged so far (one line per request, among others).
    pub fn logs(&self) -> String {
        self.service.logs()
    }

    /// How many `method` requests the registry has answered whose URI contains every one of
    /// `parts`, from its request log.
    pub fn requests(&self, method: &str, parts: &[&str]) -> usize {
        let method = format!("http.request.method={method}");
        self.logs()
            .lines()
            .filter(|line| {
                line.contains("response completed")
                    && line.contains(&method)
                    && parts.iter().all(|p| line.contains(p))
            })
            .count()
    }

    /// Client options for this registry: plain HTTP (TLS without verifying the test CA's
    /// certificate when serving TLS), a docker config directory without credentials, and a
    /// fast retry policy of 3 attempts.
    pub fn options(&self) -> RegistryOptions {
        let access = match self.tls {
            Some(_) => RegistryOptions {
                skip_tls_verify_registries: vec![self.host()],
                ..RegistryOptions::default()
            },
            None => RegistryOptions::insecure(self.host()),
        };
        RegistryOptions {
            docker_config_dir: Some(self.dir.path().join("docker-config")),
            retry: RetryPolicy::fast(3),
            ..access
        }
    }

    /// A client with [`Registry::options`].
    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(self.options()).expect("a registry client for the test registry")
    }

    /// The reference `<host>/<name>` (`name` may carry `:tag` or `@digest`).
    pub fn reference(&self, name: &str) -> Reference {
        format!("{}/{name}", self.host())
            .parse()
            .unwrap_or_else(|err| panic!("bad test reference {name:?}: {err}"))
    }
}
