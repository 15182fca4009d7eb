// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The distribution token flow in front of the real docker-registry (plain HTTP), as Docker
//! Hub, GHCR and most hosted registries do it: every `/v2/` request without a bearer token
//! for its repository and operation is answered 401 with
//! `WWW-Authenticate: Bearer realm="http://<proxy>/token",service="kaniko-test"`; `GET
//! /token?scope=repository:<name>:pull[,push]&service=kaniko-test` with the right HTTP Basic
//! credentials hands out such a token (`pull,push` needed for anything but GET and HEAD).
//! Everything else is forwarded, with the proxy's `Host`, so `Location`s name the proxy.
//!
//! A token request may carry several `scope` parameters; the token grants them all. A
//! cross-repository mount (`POST .../blobs/uploads/?mount=<digest>&from=<source>`) is
//! honoured only when the token may also pull the source, as GHCR and Docker Hub do: without
//! that the mount is forwarded as a plain upload start, so the registry opens an upload session
//! (`202`) instead of mounting. [`TokenProxy::mounts`] counts both.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

/// The proxy; stops on drop.
pub struct TokenProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    tokens: Arc<AtomicUsize>,
    mounts: Arc<Mounts>,
}

/// Cross-repository mounts seen: honoured (the token may pull the source) and turned into
/// plain upload starts (it may not).
#[derive(Default)]
struct Mounts {
    honoured: AtomicUsize,
    declined: AtomicUsize,
}

struct Shared {
    upstream: SocketAddr,
    host: String,
    basic: String,
    tokens: Arc<AtomicUsize>,
    mounts: Arc<Mounts>,
    client: reqwest::Client,
}

impl TokenProxy {
    /// Starts the proxy in front of the plain-HTTP registry at `upstream`; tokens go to
    /// `user`:`password` only.
    pub async fn start(upstream: SocketAddr, user: &str, password: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let tokens = Arc::new(AtomicUsize::new(0));
        let mounts = Arc::new(Mounts::default());
        let shared = Arc::new(Shared {
            mounts: Arc::clone(&mounts),
            upstream,
            host: addr.to_string(),
            basic: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            tokens: Arc::clone(&tokens),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(TokenProxy {
            addr,
            task,
            tokens,
            mounts,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Tokens handed out so far.
    pub fn tokens_issued(&self) -> usize {
        self.tokens.load(Ordering::SeqCst)
    }

    /// Cross-repository mounts so far: `(honoured, declined)` (declined: the token could not
    /// pull the source, so the registry was asked for an upload session instead).
    pub fn mounts(&self) -> (usize, usize) {
        (
            self.mounts.honoured.load(Ordering::SeqCst),
            self.mounts.declined.load(Ordering::SeqCst),
        )
    }
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(status: StatusCode, headers: &[(&str, String)], body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if path == "/token" {
        if header("authorization") != shared.basic {
            return answer(StatusCode::UNAUTHORIZED, &[], Bytes::new());
        }
        let scopes: Vec<String> = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .collect();
        shared.tokens.fetch_add(1, Ordering::SeqCst);
        let token = format!("token {}", scopes.join(" "));
        let body = serde_json::json!({ "token": token, "expires_in": 300 });
        return answer(StatusCode::OK, &[], Bytes::from(body.to_string()));
    }
    // `/v2/<name>/(blobs|manifests|tags)/...`: the repository the token must name.
    let repository = path
        .strip_prefix("/v2/")
        .and_then(|rest| {
            ["/blobs/", "/manifests/", "/tags/"]
                .iter()
                .find_map(|part| rest.find(part).map(|i| &rest[..i]))
        })
        .unwrap_or_default()
        .to_string();
    let read_only = matches!(req.method().as_str(), "GET" | "HEAD");
    let wanted = if read_only { "pull" } else { "pull,push" };
    let token = header("authorization");
    // The token's grants: `repository:<name>:<actions>` each.
    let grants: Vec<(String, String)> = token
        .strip_prefix("Bearer token ")
        .unwrap_or_default()
        .split(' ')
        .filter_map(|scope| {
            let (name, actions) = scope.strip_prefix("repository:")?.rsplit_once(':')?;
            Some((name.to_string(), actions.to_string()))
        })
        .collect();
    let granted = grants.iter().any(|(name, actions)| {
        (repository.is_empty() || *name == repository)
            && (actions == wanted || actions == "pull,push")
    });
    if !granted {
        let challenge = format!(
            "Bearer realm=\"http://{}/token\",service=\"kaniko-test\"",
            shared.host
        );
        return answer(
            StatusCode::UNAUTHORIZED,
            &[("www-authenticate", challenge)],
            Bytes::from_static(
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}"#,
            ),
        );
    }
    let mount_from = (req.method() == "POST")
        .then(|| {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let has_mount = pairs.iter().any(|(k, _)| k == "mount");
            pairs
                .into_iter()
                .find(|(k, _)| k == "from")
                .filter(|_| has_mount)
                .map(|(_, v)| v)
        })
        .flatten();
    let mut strip_query = false;
    if let Some(from) = mount_from {
        let may_pull = grants.iter().any(|(name, _)| *name == from);
        let counter = match may_pull {
            true => &shared.mounts.honoured,
            false => &shared.mounts.declined,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        strip_query = !may_pull;
    }
    forward(shared, req, strip_query)
        .await
        .unwrap_or_else(|err| {
            answer(
                StatusCode::BAD_GATEWAY,
                &[],
                Bytes::from(format!("token proxy: {err}")),
            )
        })
}

/// Forwards `req` upstream (without its query when `strip_query`: a declined mount).
async fn forward(
    shared: &Shared,
    req: Request<Incoming>,
    strip_query: bool,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = match strip_query {
        true => parts.uri.path().to_string(),
        false => parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
    };
    let mut request = shared
        .client
        .request(parts.method, format!("http://{}{target}", shared.upstream));
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "authorization" | "connection" | "content-length"
        ) {
            request = request.header(name, value);
        }
    }
    let response = request
        .header("host", &shared.host)
        .body(body)
        .send()
        .await?;
    let mut out = Response::builder().status(response.status());
    for (name, value) in response.headers() {
        if !matches!(name.as_str(), "connection" | "transfer-encoding") {
            out = out.header(name, value);
        }
    }
    let bytes = response.bytes().await?;
    Ok(out.body(Full::new(bytes))?)
}
