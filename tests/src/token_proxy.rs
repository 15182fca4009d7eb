// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The distribution token flow in front of the real docker-registry (plain HTTP), as Docker
//! Hub, GHCR and most hosted registries do it: every `/v2/` request without a bearer token
//! for its repository and operation is answered 401 with
//! `WWW-Authenticate: Bearer realm="http://<proxy>/token",service="kaniko-test"`; `GET
//! /token?scope=repository:<name>:pull[,push]&service=kaniko-test` with the right HTTP Basic
//! credentials hands out such a token (`pull,push` needed for anything but GET and HEAD).
//! Everything else is forwarded, with the proxy's `Host`, so `Location`s name the proxy.

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
}

struct Shared {
    upstream: SocketAddr,
    host: String,
    basic: String,
    tokens: Arc<AtomicUsize>,
    client: reqwest::Client,
}

impl TokenProxy {
    /// Starts the proxy in front of the plain-HTTP registry at `upstream`; tokens go to
    /// `user`:`password` only.
    pub async fn start(upstream: SocketAddr, user: &str, password: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let tokens = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
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
        Ok(TokenProxy { addr, task, tokens })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Tokens handed out so far.
    pub fn tokens_issued(&self) -> usize {
        self.tokens.load(Ordering::SeqCst)
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
        let scope = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        shared.tokens.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({ "token": format!("token {scope}"), "expires_in": 300 });
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
    let granted = token
        .strip_prefix("Bearer token repository:")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(name, actions)| {
            (repository.is_empty() || name == repository)
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
    forward(shared, req).await.unwrap_or_else(|err| {
        answer(
            StatusCode::BAD_GATEWAY,
            &[],
            Bytes::from(format!("token proxy: {err}")),
        )
    })
}

async fn forward(shared: &Shared, req: Request<Incoming>) -> anyhow::Result<Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
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
