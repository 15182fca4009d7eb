// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A small TCP proxy that injects HTTP faults in front of a real service: it answers the
//! first requests itself with an error status, resets the first connections, refuses
//! everything, refuses the requests of one method whose path ends a given way (a registry
//! that protects one tag), or fails the first requests of one method whose path contains a
//! given part (a registry failing a while on one manifest or blob), or answers the first
//! requests of one method whose target (path and query) contains a given part the way a
//! hosted registry would ([`FaultPlan::Answer`]: a status with headers such as `Retry-After`
//! and a JSON error body, the request's `Authorization` echoed back, or a cross-repository
//! mount turned into a plain upload start), and pipes bytes both ways otherwise. It counts
//! what it faulted so tests can assert the number of retries.
//!
//! Faults are decided per connection; a faulted connection carries one request and is closed
//! (`Connection: close` or a reset), so the client's next request comes on a new connection.
//! With [`FaultPlan::Refuse`], [`FaultPlan::FailFirstMatching`] and [`FaultPlan::Answer`]
//! every request is looked at: each one is forwarded on a connection of its own with `Connection: close`, so none
//! slips through a kept-alive connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPlan {
    /// Answer the first `n` requests with `status` (and `Connection: close`), then forward.
    FailFirst {
        /// Requests to fail.
        n: usize,
        /// The status to answer, e.g. 503.
        status: u16,
    },
    /// Read the request of each of the first `n` connections, then reset the connection
    /// without answering; forward afterwards.
    ResetFirst {
        /// Connections to reset.
        n: usize,
    },
    /// Answer every request with `status` (401 comes with a `Basic` challenge).
    Always {
        /// The status to answer.
        status: u16,
    },
    /// Answer every request whose method is `method` and whose path (without the query)
    /// ends with `path_suffix` with `status` and a registry error body (`DENIED`); forward
    /// the others.
    Refuse {
        /// `PUT`, `GET`, ...
        method: &'static str,
        /// The end of the path, e.g. `/manifests/second`.
        path_suffix: &'static str,
        /// The status to answer, e.g. 403.
        status: u16,
    },
    /// Answer the first `n` requests whose method is `method` and whose path (without the
    /// query) contains `path_part` with `status` (no body), forward every other request (each
    /// on a connection of its own, as with [`FaultPlan::Refuse`]).
    FailFirstMatching {
        /// Requests to fail.
        n: usize,
        /// `PUT`, `GET`, ...
        method: &'static str,
        /// A part of the path, e.g. `/manifests/` or a blob digest.
        path_part: &'static str,
        /// The status to answer, e.g. 500.
        status: u16,
        /// A registry error code for the answer's body (e.g. `MANIFEST_BLOB_UNKNOWN`);
        /// `None`: no body.
        code: Option<&'static str>,
    },
    /// Answer the first `n` requests whose method is `method` and whose request target (path
    /// and query) contains `target_part` with `reply`; forward every other request (each on a
    /// connection of its own, as with [`FaultPlan::Refuse`]).
    Answer {
        /// Requests to answer (`usize::MAX`: all of them).
        n: usize,
        /// `PUT`, `POST`, ...
        method: &'static str,
        /// A part of the target, e.g. `/manifests/` or `mount=`.
        target_part: &'static str,
        /// What they get.
        reply: Reply,
    },
    /// Forward everything (counts connections only).
    PassThrough,
}

/// How [`FaultPlan::Answer`] answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `status` with `headers` (e.g. `Retry-After`) and `body` (`application/json` when it
    /// starts with `{`, else `text/plain`).
    Status {
        /// The status, e.g. 429.
        status: u16,
        /// Extra headers.
        headers: &'static [(&'static str, &'static str)],
        /// The body.
        body: &'static str,
    },
    /// `status` with `body`, in which `{authorization}` becomes the request's
    /// `Authorization` header and `{credential}` its credential (past the scheme): a
    /// registry that echoes the request in its error. What was echoed is kept
    /// ([`FaultProxy::echoed`]).
    Echo {
        /// The status, e.g. 400.
        status: u16,
        /// The body, with the placeholders.
        body: &'static str,
    },
    /// The request is forwarded without its query: a cross-repository mount
    /// (`POST .../blobs/uploads/?mount=..&from=..`) reaches the registry as a plain upload
    /// start, which it answers `202` with a fresh upload session, as GHCR and Docker Hub
    /// answer a mount the token may not make.
    WithoutQuery,
}

/// A running proxy on a free loopback port; stops (with all its connections) on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    faulted: Arc<AtomicUsize>,
    echoed: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

enum Fault {
    Status(u16),
    Reset,
    /// Decided per request: see [`FaultPlan::Refuse`] and [`FaultPlan::FailFirstMatching`].
    Refuse {
        method: &'static str,
        path: PathMatch,
        status: u16,
        /// `Some(n)`: only the first `n` matching requests, answered without a body.
        budget: Option<usize>,
        /// The registry error code of the answer's body (with a budget; else DENIED).
        code: Option<&'static str>,
    },
    /// See [`FaultPlan::Answer`].
    Answer {
        n: usize,
        method: &'static str,
        target_part: &'static str,
        reply: Reply,
    },
}

/// How [`Fault::Refuse`] matches a request's path.
#[derive(Clone, Copy)]
enum PathMatch {
    EndsWith(&'static str),
    Contains(&'static str),
}

impl PathMatch {
    fn matches(self, path: &str) -> bool {
        match self {
            PathMatch::EndsWith(suffix) => path.ends_with(suffix),
            PathMatch::Contains(part) => path.contains(part),
        }
    }
}

/// How long a faulted connection may take to send its request.
const READ_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

impl FaultProxy {
    /// Starts a proxy to `upstream` following `plan`.
    pub async fn start(upstream: SocketAddr, plan: FaultPlan) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let faulted = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let echoed = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            plan,
            Counters {
                faulted: Arc::clone(&faulted),
                echoed: Arc::clone(&echoed),
            },
            Arc::clone(&connections),
        ));
        Ok(FaultProxy {
            addr,
            faulted,
            echoed,
            connections,
            task,
        })
    }

    /// `127.0.0.1:PORT`, to use as the registry part of references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered with an error status or connections reset so far.
    pub fn faulted(&self) -> usize {
        self.faulted.load(Ordering::SeqCst)
    }

    /// The `Authorization` headers a [`Reply::Echo`] echoed so far.
    pub fn echoed(&self) -> Vec<String> {
        self.echoed.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the connection tasks count and keep.
#[derive(Clone)]
struct Counters {
    faulted: Arc<AtomicUsize>,
    echoed: Arc<Mutex<Vec<String>>>,
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    plan: FaultPlan,
    counters: Counters,
    connections: Arc<AtomicUsize>,
) {
    // Dropping the set (when this task is aborted) aborts every connection task.
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        connections.fetch_add(1, Ordering::SeqCst);
        let fault = decide(plan, &counters.faulted);
        tasks.spawn(handle(client, upstream, fault, counters.clone()));
        while tasks.try_join_next().is_some() {}
    }
}

/// Takes one fault out of the budget `n` if any is left, counting it.
fn take_one(faulted: &AtomicUsize, n: usize) -> bool {
    faulted
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |done| {
            (done < n).then_some(done + 1)
        })
        .is_ok()
}

fn decide(plan: FaultPlan, faulted: &AtomicUsize) -> Option<Fault> {
    match plan {
        FaultPlan::FailFirst { n, status } => take_one(faulted, n).then_some(Fault::Status(status)),
        FaultPlan::ResetFirst { n } => take_one(faulted, n).then_some(Fault::Reset),
        FaultPlan::Always { status } => {
            faulted.fetch_add(1, Ordering::SeqCst);
            Some(Fault::Status(status))
        }
        FaultPlan::Refuse {
            method,
            path_suffix,
            status,
        } => Some(Fault::Refuse {
            method,
            path: PathMatch::EndsWith(path_suffix),
            status,
            budget: None,
            code: None,
        }),
        FaultPlan::FailFirstMatching {
            n,
            method,
            path_part,
            status,
            code,
        } => Some(Fault::Refuse {
            method,
            path: PathMatch::Contains(path_part),
            status,
            budget: Some(n),
            code,
        }),
        FaultPlan::Answer {
            n,
            method,
            target_part,
            reply,
        } => Some(Fault::Answer {
            n,
            method,
            target_part,
            reply,
        }),
        FaultPlan::PassThrough => None,
    }
}

async fn handle(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: Option<Fault>,
    counters: Counters,
) {
    let faulted = &counters.faulted;
    match fault {
        Some(Fault::Answer {
            n,
            method,
            target_part,
            reply,
        }) => {
            let Ok(Ok(Some((head, rest)))) =
                tokio::time::timeout(READ_REQUEST_TIMEOUT, read_head(&mut client)).await
            else {
                return;
            };
            let text = String::from_utf8_lossy(&head).to_string();
            let mut request_line = text.lines().next().unwrap_or_default().split_whitespace();
            let matches = request_line.next() == Some(method)
                && request_line
                    .next()
                    .is_some_and(|target| target.contains(target_part));
            if !(matches && take_one(faulted, n)) {
                forward_one(client, upstream, head, rest).await;
                return;
            }
            match reply {
                Reply::WithoutQuery => {
                    let line_end = text.find("\r\n").unwrap_or(0);
                    let line = text.get(..line_end).unwrap_or_default();
                    let rewritten = match line.split_once('?') {
                        Some((before, after)) => {
                            let version = after.rsplit_once(' ').map_or("", |(_, v)| v);
                            format!("{before} {version}")
                        }
                        None => line.to_string(),
                    };
                    let mut head2 = rewritten.into_bytes();
                    head2.extend_from_slice(head.get(line_end..).unwrap_or_default());
                    forward_one(client, upstream, head2, rest).await;
                }
                Reply::Status {
                    status,
                    headers,
                    body,
                } => {
                    let _ = read_body(&mut client, &text, rest.len()).await;
                    answer(&mut client, status, headers, body).await;
                }
                Reply::Echo { status, body } => {
                    let _ = read_body(&mut client, &text, rest.len()).await;
                    let authorization = text
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("authorization")
                                .then(|| value.trim().to_string())
                        })
                        .unwrap_or_default();
                    let credential = authorization
                        .split_once(' ')
                        .map_or(authorization.as_str(), |(_, c)| c)
                        .to_string();
                    if let Ok(mut echoed) = counters.echoed.lock() {
                        echoed.push(authorization.clone());
                    }
                    let body = body
                        .replace("{authorization}", &authorization)
                        .replace("{credential}", &credential);
                    answer(&mut client, status, &[], &body).await;
                }
            }
        }
        Some(Fault::Refuse {
            method,
            path,
            status,
            budget,
            code,
        }) => {
            let Ok(Ok(Some((head, rest)))) =
                tokio::time::timeout(READ_REQUEST_TIMEOUT, read_head(&mut client)).await
            else {
                return;
            };
            let text = String::from_utf8_lossy(&head).to_string();
            let mut request_line = text.lines().next().unwrap_or_default().split_whitespace();
            let matches = request_line.next() == Some(method)
                && request_line
                    .next()
                    .and_then(|target| target.split('?').next())
                    .is_some_and(|target| path.matches(target));
            let fault = matches
                && match budget {
                    Some(n) => take_one(faulted, n),
                    None => {
                        faulted.fetch_add(1, Ordering::SeqCst);
                        true
                    }
                };
            if fault {
                let _ = read_body(&mut client, &text, rest.len()).await;
                let body = match (budget, code) {
                    (Some(_), None) => String::new(),
                    (_, code) => format!(
                        r#"{{"errors":[{{"code":"{}","message":"answered by the fault proxy"}}]}}"#,
                        code.unwrap_or("DENIED")
                    ),
                };
                let response = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    reason(status),
                    body.len()
                );
                let _ = client.write_all(response.as_bytes()).await;
                let _ = client.shutdown().await;
                return;
            }
            forward_one(client, upstream, head, rest).await;
        }
        None => {
            if let Ok(mut server) = TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        }
        Some(Fault::Reset) => {
            let _ = tokio::time::timeout(READ_REQUEST_TIMEOUT, read_request(&mut client)).await;
            // A zero linger makes the close a TCP reset.
            let _ = client.set_zero_linger();
            drop(client);
        }
        Some(Fault::Status(status)) => {
            let _ = tokio::time::timeout(READ_REQUEST_TIMEOUT, read_request(&mut client)).await;
            let challenge = if status == 401 {
                "WWW-Authenticate: Basic realm=\"fault-proxy\"\r\n"
            } else {
                ""
            };
            // No body: a registry error envelope would name a code, and the point is the status.
            let response = format!(
                "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\n{challenge}Connection: close\r\n\r\n",
                reason(status),
            );
            let _ = client.write_all(response.as_bytes()).await;
            let _ = client.shutdown().await;
        }
    }
}

/// Forwards one request (`head`, and `rest`, what was read past it) to `upstream` with
/// `Connection: close`, and pipes the answer back: the upstream closes after it and the
/// client opens a new connection (looked at again) for its next request.
async fn forward_one(mut client: TcpStream, upstream: SocketAddr, head: Vec<u8>, rest: Vec<u8>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let head_end = head.len().saturating_sub(2);
    let mut forwarded = head.get(..head_end).unwrap_or_default().to_vec();
    forwarded.extend_from_slice(b"Connection: close\r\n\r\n");
    forwarded.extend_from_slice(&rest);
    if server.write_all(&forwarded).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// Writes a whole answer (`Connection: close`) and closes the connection.
async fn answer(client: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &str) {
    let content_type = if body.starts_with('{') {
        "application/json"
    } else {
        "text/plain"
    };
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}

/// Reads one request head and as much of its body as `Content-Length` announces (so the
/// client is not cut off while still sending).
async fn read_request(client: &mut TcpStream) -> std::io::Result<()> {
    let Some((head, rest)) = read_head(client).await? else {
        return Ok(());
    };
    read_body(client, &String::from_utf8_lossy(&head), rest.len()).await
}

/// Reads a request head; returns it (up to and with its blank line) and the bytes read past
/// it. `None` when the connection ends first or the head is too long.
async fn read_head(client: &mut TcpStream) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
        if let Some(pos) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = head.split_off(pos + 4);
            return Ok(Some((head, rest)));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// Reads what is left of a body whose `Content-Length` the head announces, `already` bytes
/// of which came with the head.
async fn read_body(client: &mut TcpStream, head: &str, already: usize) -> std::io::Result<()> {
    let length: usize = head
        .to_ascii_lowercase()
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut remaining = length.saturating_sub(already);
    let mut buf = [0u8; 8192];
    while remaining > 0 {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        remaining = remaining.saturating_sub(n);
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_budget_is_spent_exactly_once_per_fault() {
        fn check(plan: FaultPlan, connections: usize, expected_faults: usize) {
            let faulted = AtomicUsize::new(0);
            let faults = (0..connections)
                .filter(|_| decide(plan, &faulted).is_some())
                .count();
            assert_eq!(faults, expected_faults, "{plan:?}");
            assert_eq!(faulted.load(Ordering::SeqCst), expected_faults, "{plan:?}");
        }
        check(FaultPlan::FailFirst { n: 3, status: 503 }, 10, 3);
        check(FaultPlan::FailFirst { n: 3, status: 503 }, 2, 2);
        check(FaultPlan::ResetFirst { n: 2 }, 10, 2);
        check(FaultPlan::Always { status: 401 }, 4, 4);
        check(FaultPlan::PassThrough, 4, 0);
    }
}
