// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The HTTP clients every registry request goes through, and the HTTP version per host.
//!
//! Over TLS a registry that offers HTTP/2 (ALPN `h2`, as Go's server does) is spoken to in
//! HTTP/2: one connection carries the concurrent blob uploads and pulls. A registry or a
//! proxy in front of it that breaks HTTP/2 (a stream reset with `HTTP_1_1_REQUIRED`, a
//! connection-level protocol error, `h2` negotiated and then garbage or a closed connection,
//! which an HTTP/1.1 attempt of the same request then gets through) makes its host fall back
//! to HTTP/1.1 for the rest of the process: the failure is logged once, the request is sent
//! again at once over HTTP/1.1 when its body can be replayed, and otherwise fails as
//! transient so the operation's retry sends it over HTTP/1.1.
//! `--registry-http1` ([`crate::RegistryOptions::http1_only`]) never offers HTTP/2.
//! Plain-HTTP registries always get HTTP/1.1 (no `h2c`).

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use crate::redact::SentAuthorization;
use crate::{RegistryError, RegistryOptions};

const USER_AGENT: &str = concat!("kaniko-rs/", env!("CARGO_PKG_VERSION"));

/// `host[:port]`s that broke HTTP/2 in this process: every client of the process (a build's
/// pull, push and cache clients) speaks HTTP/1.1 to them from then on.
static FALLEN_BACK: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// `host[:port]`s that answered over HTTP/2 in this process: HTTP/2 works there, so a dropped
/// connection is a network failure, not a reason to fall back.
static SPEAKS_H2: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// The two clients of one TLS setting: one that offers HTTP/2, one that speaks HTTP/1.1 only.
pub(crate) struct Clients {
    /// The client requests are built with (and sent with, unless the host is HTTP/1.1 only).
    pub(crate) http: reqwest::Client,
    /// HTTP/1.1 only.
    http1: reqwest::Client,
    /// `--registry-http1`: every host is HTTP/1.1 only.
    http1_only: bool,
}

impl Clients {
    pub(crate) fn new(
        options: &RegistryOptions,
        accept_invalid_certificates: bool,
    ) -> Result<Self, RegistryError> {
        let builder = || {
            reqwest::Client::builder()
                .danger_accept_invalid_certs(accept_invalid_certificates)
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                .user_agent(USER_AGENT)
        };
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .build()
                .map_err(|err| RegistryError::protocol("registry client", err.to_string()))
        };
        Ok(Clients {
            http: build(builder())?,
            http1: build(builder().http1_only())?,
            http1_only: options.http1_only,
        })
    }

    /// Whether `host` is spoken to in HTTP/1.1 only (`--registry-http1`, or it broke HTTP/2).
    pub(crate) fn is_http1_only(&self, host: &str) -> bool {
        self.http1_only || known(&FALLEN_BACK, host)
    }

    /// Sends `request` (built with [`Clients::http`]) over the HTTP version its host gets; an
    /// HTTP/2 failure makes the host HTTP/1.1 only and sends the request again over HTTP/1.1
    /// when its body can be replayed. The request's `Authorization` goes with the response
    /// (as [`SentAuthorization`]), so that an error body echoing it is redacted.
    ///
    /// A connection that `h2` was negotiated on and that then closes or breaks before any
    /// answer carries no `h2` error (hyper reports it as an I/O error), so on a TLS host that
    /// has not answered over HTTP/2 yet such a failure is put to the test: the request is
    /// sent again over HTTP/1.1, and when that succeeds the host falls back.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let request = request.build()?;
        let sent = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| SentAuthorization(v.to_string()));
        let mut response = self.execute(request).await?;
        if let Some(sent) = sent {
            response.extensions_mut().insert(sent);
        }
        Ok(response)
    }

    async fn execute(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let host = host_of(request.url());
        if self.is_http1_only(&host) {
            return self.http1.execute(request).await;
        }
        let tls = request.url().scheme() == "https";
        let replay = request.try_clone();
        match self.http.execute(request).await {
            Ok(response) => {
                if response.version() == reqwest::Version::HTTP_2 {
                    remember(&SPEAKS_H2, &host);
                }
                Ok(response)
            }
            Err(err) if breaks_http2(&err) => {
                self.fall_back(&host, &err);
                match replay {
                    Some(request) => self.http1.execute(request).await,
                    None => Err(err),
                }
            }
            Err(err) if tls && dropped(&err) && !known(&SPEAKS_H2, &host) => match replay {
                Some(request) => match self.http1.execute(request).await {
                    Ok(response) => {
                        self.fall_back(&host, &err);
                        Ok(response)
                    }
                    Err(_) => Err(err),
                },
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    }

    fn fall_back(&self, host: &str, err: &reqwest::Error) {
        let first = FALLEN_BACK
            .lock()
            .map(|mut hosts| hosts.insert(host.to_string()))
            .unwrap_or(false);
        if first {
            tracing::warn!(
                registry = %host,
                error = %crate::error_chain(err),
                "HTTP/2 to {host} failed: falling back to HTTP/1.1 for this registry"
            );
        }
    }
}

fn remember(set: &Mutex<HashSet<String>>, host: &str) {
    if let Ok(mut hosts) = set.lock()
        && !hosts.contains(host)
    {
        hosts.insert(host.to_string());
    }
}

fn known(set: &Mutex<HashSet<String>>, host: &str) -> bool {
    set.lock()
        .map(|hosts| hosts.contains(host))
        .unwrap_or(false)
}

/// A request that failed after its connection was made (closed, reset, broken pipe), not a
/// refused connection, a TLS failure or a timeout.
fn dropped(err: &reqwest::Error) -> bool {
    err.is_request() && !err.is_connect() && !err.is_timeout()
}

/// `host[:port]` of a URL, the key of the per-host choice.
fn host_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Whether `err` is HTTP/2 itself failing (an `h2` error anywhere in its chain: a stream
/// reset such as `HTTP_1_1_REQUIRED`, a GOAWAY, a frame the peer mangled, the connection
/// dropped under HTTP/2), rather than a timeout or a refused connection.
pub(crate) fn breaks_http2(err: &reqwest::Error) -> bool {
    if err.is_timeout() || err.is_connect() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.downcast_ref::<h2::Error>().is_some() {
            return true;
        }
        source = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_is_per_host_and_port() {
        fn check(url: &str, expected: &str) {
            assert_eq!(host_of(&url.parse().unwrap()), expected, "{url}");
        }
        check("https://r.example/v2/", "r.example");
        check(
            "https://r.example:5000/v2/x/blobs/uploads/",
            "r.example:5000",
        );
        check("https://127.0.0.1:443/v2/", "127.0.0.1");
        check("http://[::1]:5000/v2/", "[::1]:5000");
    }

    #[test]
    fn registry_http1_makes_every_host_http1_only() {
        let options = RegistryOptions {
            http1_only: true,
            ..RegistryOptions::default()
        };
        let clients = Clients::new(&options, false).unwrap();
        assert!(clients.is_http1_only("r.example"));
        let clients = Clients::new(&RegistryOptions::default(), false).unwrap();
        assert!(!clients.is_http1_only("r.example"));
    }
}
