// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! What the service harnesses share: free loopback ports, a child process whose output goes
//! to a log file and which is killed and reaped on drop (showing its log tail when a test is
//! panicking), and a tiny blocking HTTP probe for readiness checks.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Start attempts before a service gives up.
const START_ATTEMPTS: usize = 5;

/// Runs `attempt` until it succeeds, at most [`START_ATTEMPTS`] times with `pause` between
/// failures (a fresh port may be taken, a released one may still be held); the last error, or
/// `{what} did not start`, when none succeeded.
pub(crate) fn start_with_attempts(
    what: &str,
    pause: Duration,
    mut attempt: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut last_error = None;
    for _ in 0..START_ATTEMPTS {
        match attempt() {
            Ok(()) => return Ok(()),
            Err(err) => {
                last_error = Some(err);
                std::thread::sleep(pause);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("{what} did not start")))
}

/// A loopback port nobody listened on a moment ago. Another process may still take it before
/// the service binds it; callers retry with a new port when the service says so.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `GET path` on `127.0.0.1:port` over HTTP/1.0: the status and body, or `None` when nothing
/// answered properly within `timeout`.
pub(crate) fn http_get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let addr = (Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// A service process with its output in a log file.
pub(crate) struct Service {
    name: &'static str,
    child: Option<Child>,
    log_path: PathBuf,
}

impl Service {
    /// A service not running yet, logging to `log_path`.
    pub(crate) fn new(name: &'static str, log_path: PathBuf) -> Self {
        Service {
            name,
            child: None,
            log_path,
        }
    }

    /// Spawns `command` with stdout and stderr appended to the log file.
    pub(crate) fn spawn(&mut self, mut command: Command) -> anyhow::Result<()> {
        self.stop();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {} ({command:?})", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether the process has exited (it is then reaped).
    pub(crate) fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Kills and reaps the process, if running.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything the process wrote so far.
    pub(crate) fn logs(&self) -> String {
        read_log(&self.log_path)
    }

    /// Waits until `ready` holds, the process exits, or `timeout` passes.
    /// [`Service::wait_until`] turned into an error naming what the service failed to do: it
    /// exited (with the tail of its log) or it timed out (and is stopped).
    pub(crate) fn await_ready(
        &mut self,
        timeout: Duration,
        failure: &str,
        ready: impl FnMut() -> bool,
    ) -> anyhow::Result<()> {
        match self.wait_until(timeout, ready) {
            Readiness::Ready => Ok(()),
            Readiness::Exited => anyhow::bail!(
                "{} exited before it {failure}:\n{}",
                self.name,
                tail(&self.logs(), 20)
            ),
            Readiness::TimedOut => {
                self.stop();
                anyhow::bail!("{} {failure} not within {timeout:?}", self.name)
            }
        }
    }

    pub(crate) fn wait_until(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Readiness {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return Readiness::Ready;
            }
            if self.exited() {
                return Readiness::Exited;
            }
            if Instant::now() >= deadline {
                return Readiness::TimedOut;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// How waiting for a service ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Readiness {
    Ready,
    Exited,
    TimedOut,
}

impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- last lines of the {} log ({}) ----\n{}\n---- end of the {} log ----",
                self.name,
                self.log_path.display(),
                tail(&self.logs(), 40),
                self.name
            );
        }
        self.stop();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        fn check(text: &str, n: usize, expected: &str) {
            assert_eq!(tail(text, n), expected);
        }
        check("a\nb\nc\n", 2, "b\nc");
        check("a\nb", 5, "a\nb");
        check("", 3, "");
    }

    #[test]
    fn nothing_listening_means_no_answer() {
        let port = free_port().unwrap();
        assert_eq!(http_get(port, "/", Duration::from_millis(200)), None);
    }
}
