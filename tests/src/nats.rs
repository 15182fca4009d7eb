// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A real `nats-server -js` on free loopback ports (client and monitoring), with its
//! JetStream store in a temporary directory kept across restarts; optionally with a
//! configuration file carrying `authorization { ... }` and `tls { ... }` blocks (see
//! [`crate::nats_secure`] for the TLS material and nkeys).
//!
//! The binary is `$NATS_SERVER` when set (an absolute path: `make test-nats-current` points
//! it at the nats-server 2.15 `hack/deps.sh` puts in `.venv`), else `nats-server` from `PATH`
//! (Debian's 2.9.10).
//!
//! Readiness is the monitoring `/healthz` answering ok and the client port greeting with
//! `INFO`; not JetStream account info, which async-nats 0.51 cannot decode from 2.9 servers.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::process::{Service, free_port, http_get, start_with_attempts};

const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The nats-server binary the tests run: `$NATS_SERVER` when set and not empty, else
/// `nats-server` from `PATH`.
pub fn nats_server_binary() -> PathBuf {
    match std::env::var_os("NATS_SERVER") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from("nats-server"),
    }
}

/// A running nats-server; killed (and reaped) on drop. Its log tail is printed when a test
/// panics.
pub struct Nats {
    // Fields drop in order: the process (and its log tail) before the directory.
    service: Service,
    dir: tempfile::TempDir,
    port: u16,
    monitor_port: u16,
    config: Option<PathBuf>,
    tls: bool,
}

impl Nats {
    /// Starts `nats-server -js` on free ports and waits until it is healthy and greets
    /// clients.
    pub fn start() -> anyhow::Result<Nats> {
        Nats::start_inner(None)
    }

    /// Starts `nats-server -js -c <file>` with `config` (`authorization { ... }`, `tls { ... }`,
    /// ...) as the file's content; the ports, the store and JetStream still come from the
    /// command line, and the monitoring `/healthz` stays plain HTTP. A config with a `tls`
    /// block makes [`Nats::url`] a `tls://` URL.
    pub fn start_with_config(config: &str) -> anyhow::Result<Nats> {
        Nats::start_inner(Some(config))
    }

    fn start_inner(config: Option<&str>) -> anyhow::Result<Nats> {
        let dir = tempfile::Builder::new()
            .prefix("kaniko-nats-")
            .tempdir()
            .context("creating the nats directory")?;
        let log_path = dir.path().join("nats.log");
        let config_path = match config {
            Some(text) => {
                let path = dir.path().join("nats.conf");
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                Some(path)
            }
            None => None,
        };
        let mut nats = Nats {
            port: 0,
            monitor_port: 0,
            tls: config.is_some_and(|text| text.contains("tls {") || text.contains("tls:")),
            config: config_path,
            service: Service::new("nats-server", log_path),
            dir,
        };
        start_with_attempts("nats-server", Duration::ZERO, || {
            nats.port = free_port()?;
            nats.monitor_port = free_port()?;
            if nats.port == nats.monitor_port {
                anyhow::bail!("nats-server: the client and monitor ports came out the same");
            }
            nats.launch()
        })?;
        Ok(nats)
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(nats_server_binary());
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        command
            .arg("-js")
            .args(["-a", "127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()])
            .arg("-sd")
            .arg(self.store_dir());
        self.service.spawn(command)?;
        let (port, monitor_port) = (self.port, self.monitor_port);
        self.service.await_ready(
            READY_TIMEOUT,
            &format!("became healthy on ports {port}/{monitor_port}"),
            || {
                let healthy = matches!(
                    http_get(monitor_port, "/healthz", Duration::from_secs(1)),
                    Some((200, body)) if body.contains("ok")
                );
                healthy && greets(port)
            },
        )
    }

    /// `nats://127.0.0.1:PORT`, or `tls://127.0.0.1:PORT` when the config has a `tls` block.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:MONITOR_PORT`, the monitoring endpoint.
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    /// Kills the server; the store stays.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Stops and starts the server again on the same ports and store.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        start_with_attempts("nats-server", Duration::from_millis(200), || self.launch())
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.service.logs()
    }
}

/// The (major, minor) version of [`nats_server_binary`], from its `--version`
/// (`nats-server: v2.9.10`).
pub fn nats_server_version() -> anyhow::Result<(u32, u32)> {
    let binary = nats_server_binary();
    let output = Command::new(&binary)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .trim()
        .rsplit('v')
        .next()
        .with_context(|| format!("no version in {text:?}"))?;
    let mut parts = version.split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Ok((major, minor)),
        _ => anyhow::bail!("no version in {text:?}"),
    }
}

/// Whether a client connecting to `port` is greeted with the server's `INFO` line.
pub(crate) fn greets(port: u16) -> bool {
    let Ok(stream) =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(1))
    else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .is_err()
    {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO ")
}
