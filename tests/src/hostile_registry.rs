// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A registry that lies, on a free loopback port, for the bounded-read tests: just enough of
//! the distribution API (`/v2/`, manifests, blobs) to serve base images whose manifests or
//! configs are far larger than they should be. Each repository is one lie:
//!
//! * `endless`: the manifest comes without `Content-Length`, chunked, and never ends (it
//!   stops after the server's `limit`, so a client without a bound reads all of it);
//! * `big-config`: an honest manifest whose config descriptor says 200 bytes; the config
//!   blob (chunked, no length) is `limit` bytes of valid JSON with the right digest;
//! * `big-child`: an index whose only child's descriptor says 300 bytes; the child manifest
//!   is 2 MiB of valid JSON with the right digest (under the 8 MiB manifest cap: only its
//!   descriptor bounds it);
//! * `big-layer`: an honest manifest and config, with one layer whose descriptor says 100
//!   bytes; the layer blob (chunked) is `limit` bytes with the right digest;
//! * `error-body`: manifest and blob requests fail with a 500 whose body never ends.
//!
//! The server counts the body bytes it wrote per repository, so a test can assert that a
//! client stopped reading.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use kaniko_common::platform::Platform;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bytes written per chunk of an endless body.
const CHUNK: usize = 64 * 1024;
/// The size of the `big-child` manifest.
const BIG_CHILD_SIZE: usize = 2 * 1024 * 1024;
/// What the `big-config` manifest says its config's size is.
pub const BIG_CONFIG_DESCRIPTOR_SIZE: u64 = 200;
/// What the `big-child` index says its child's size is.
pub const BIG_CHILD_DESCRIPTOR_SIZE: u64 = 300;
/// What the `big-layer` manifest says its layer's size is.
pub const BIG_LAYER_DESCRIPTOR_SIZE: u64 = 100;

/// The lying registry; stops on drop.
pub struct HostileRegistry {
    addr: SocketAddr,
    content: Arc<Content>,
    served: Arc<Mutex<HashMap<String, u64>>>,
    task: JoinHandle<()>,
}

/// What the server answers, made once.
struct Content {
    /// How many body bytes an endless response sends before it ends.
    limit: usize,
    /// An honest small config (the `big-child` child's).
    small_config: Vec<u8>,
    /// `big-config`'s manifest.
    big_config_manifest: Vec<u8>,
    /// `big-config`'s config: valid JSON padded to `limit`.
    big_config: Vec<u8>,
    /// `big-child`'s index.
    big_child_index: Vec<u8>,
    /// `big-child`'s child manifest, padded to 2 MiB.
    big_child: Vec<u8>,
    /// `big-layer`'s config (one diff id).
    layer_config: Vec<u8>,
    /// `big-layer`'s manifest; its layer's bytes are `big_config`'s.
    big_layer_manifest: Vec<u8>,
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// `json` followed by spaces up to `size` bytes (still valid JSON, same meaning).
fn padded(json: &str, size: usize) -> Vec<u8> {
    let mut bytes = json.as_bytes().to_vec();
    bytes.resize(size.max(bytes.len()), b' ');
    bytes
}

fn config_json(platform: &Platform) -> String {
    config_with_layers(platform, "")
}

fn config_with_layers(platform: &Platform, diff_ids: &str) -> String {
    format!(
        r#"{{"architecture":"{}","os":"{}","rootfs":{{"type":"layers","diff_ids":[{diff_ids}]}},"config":{{}}}}"#,
        platform.architecture, platform.os
    )
}

fn manifest_json(config_digest: &str, config_size: u64) -> String {
    layered_manifest_json(config_digest, config_size, "")
}

fn layered_manifest_json(config_digest: &str, config_size: u64, layers: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{layers}]}}"#
    )
}

impl Content {
    fn new(limit: usize) -> Content {
        let platform = Platform::host();
        let small_config = config_json(&platform).into_bytes();
        let big_config = padded(&config_json(&platform), limit);
        let big_config_manifest =
            manifest_json(&digest(&big_config), BIG_CONFIG_DESCRIPTOR_SIZE).into_bytes();
        let big_child = padded(
            &manifest_json(&digest(&small_config), small_config.len() as u64),
            BIG_CHILD_SIZE,
        );
        let big_child_index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{BIG_CHILD_DESCRIPTOR_SIZE},"platform":{{"os":"{}","architecture":"{}"}}}}]}}"#,
            digest(&big_child),
            platform.os,
            platform.architecture
        )
        .into_bytes();
        let layer_config =
            config_with_layers(&platform, &format!("\"{}\"", digest(&big_config))).into_bytes();
        let big_layer_manifest = layered_manifest_json(
            &digest(&layer_config),
            layer_config.len() as u64,
            &format!(
                r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{BIG_LAYER_DESCRIPTOR_SIZE}}}"#,
                digest(&big_config)
            ),
        )
        .into_bytes();
        Content {
            limit,
            small_config,
            big_config_manifest,
            big_config,
            big_child_index,
            big_child,
            layer_config,
            big_layer_manifest,
        }
    }
}

impl HostileRegistry {
    /// Starts the server; endless bodies end after `limit` bytes.
    pub async fn start(limit: usize) -> std::io::Result<HostileRegistry> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let content = Arc::new(Content::new(limit));
        let served = Arc::new(Mutex::new(HashMap::new()));
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&content),
            Arc::clone(&served),
        ));
        Ok(HostileRegistry {
            addr,
            content,
            served,
            task,
        })
    }

    /// `127.0.0.1:PORT`, the registry part of references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Body bytes written so far for requests about `repository`.
    pub fn served(&self, repository: &str) -> u64 {
        self.served
            .lock()
            .map(|m| m.get(repository).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The digest of `big-config`'s config blob.
    pub fn big_config_digest(&self) -> String {
        digest(&self.content.big_config)
    }

    /// The digest of `big-layer`'s layer.
    pub fn big_layer_digest(&self) -> String {
        digest(&self.content.big_config)
    }

    /// The digest of `big-child`'s child manifest.
    pub fn big_child_digest(&self) -> String {
        digest(&self.content.big_child)
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    content: Arc<Content>,
    served: Arc<Mutex<HashMap<String, u64>>>,
) {
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tasks.spawn(serve(stream, Arc::clone(&content), Arc::clone(&served)));
        while tasks.try_join_next().is_some() {}
    }
}

/// Answers the one request of a connection, then closes it.
async fn serve(
    mut stream: TcpStream,
    content: Arc<Content>,
    served: Arc<Mutex<HashMap<String, u64>>>,
) {
    let Some((method, path)) = read_head(&mut stream).await else {
        return;
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let count = |repository: &str, n: usize| {
        if let Ok(mut map) = served.lock() {
            *map.entry(repository.to_string()).or_default() += n as u64;
        }
    };
    let head_only = method == "HEAD";
    let result = match parts.as_slice() {
        ["v2"] | ["v2", ""] => send(&mut stream, 200, "application/json", b"{}", head_only).await,
        ["v2", repository, "manifests", _] if *repository == "endless" => {
            let prefix = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":["#;
            endless(&mut stream, 200, prefix, content.limit, |n| {
                count(repository, n)
            })
            .await
        }
        ["v2", repository, "manifests" | "blobs", _] if *repository == "error-body" => {
            endless(&mut stream, 500, b"<html>", content.limit, |n| {
                count(repository, n)
            })
            .await
        }
        ["v2", "big-config", "manifests", _] => {
            count("big-config", content.big_config_manifest.len());
            send(
                &mut stream,
                200,
                "application/vnd.oci.image.manifest.v1+json",
                &content.big_config_manifest,
                head_only,
            )
            .await
        }
        ["v2", "big-config", "blobs", _] => {
            let body = &content.big_config;
            chunked(&mut stream, body, |n| count("big-config", n)).await
        }
        ["v2", "big-child", "manifests", reference] if reference.starts_with("sha256:") => {
            count("big-child", content.big_child.len());
            send(
                &mut stream,
                200,
                "application/vnd.oci.image.manifest.v1+json",
                &content.big_child,
                head_only,
            )
            .await
        }
        ["v2", "big-child", "manifests", _] => {
            send(
                &mut stream,
                200,
                "application/vnd.oci.image.index.v1+json",
                &content.big_child_index,
                head_only,
            )
            .await
        }
        ["v2", "big-layer", "manifests", _] => {
            send(
                &mut stream,
                200,
                "application/vnd.oci.image.manifest.v1+json",
                &content.big_layer_manifest,
                head_only,
            )
            .await
        }
        ["v2", "big-layer", "blobs", blob] if *blob == digest(&content.layer_config) => {
            send(
                &mut stream,
                200,
                "application/octet-stream",
                &content.layer_config,
                head_only,
            )
            .await
        }
        ["v2", "big-layer", "blobs", _] => {
            let body = &content.big_config;
            chunked(&mut stream, body, |n| count("big-layer", n)).await
        }
        ["v2", "big-child", "blobs", _] => {
            send(
                &mut stream,
                200,
                "application/octet-stream",
                &content.small_config,
                head_only,
            )
            .await
        }
        _ => {
            let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"no such repository"}]}"#;
            send(&mut stream, 404, "application/json", body, head_only).await
        }
    };
    if result.is_ok() {
        let _ = stream.shutdown().await;
    }
}

/// Reads a request head; returns its method and path.
async fn read_head(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.extend_from_slice(buf.get(..n)?);
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next()?.split_whitespace();
    let method = words.next()?.to_string();
    let path = words.next()?.split('?').next()?.to_string();
    Some((method, path))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Internal Server Error",
    }
}

async fn send(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body).await?;
    }
    Ok(())
}

/// A chunked response of `body`, in [`CHUNK`] pieces, counting what was written.
async fn chunked(
    stream: &mut TcpStream,
    body: &[u8],
    mut count: impl FnMut(usize),
) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await?;
    for piece in body.chunks(CHUNK) {
        stream
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .await?;
        stream.write_all(piece).await?;
        stream.write_all(b"\r\n").await?;
        count(piece.len());
    }
    stream.write_all(b"0\r\n\r\n").await
}

/// A chunked response of `status`: `prefix`, then spaces until `limit` bytes were written.
async fn endless(
    stream: &mut TcpStream,
    status: u16,
    prefix: &[u8],
    limit: usize,
    mut count: impl FnMut(usize),
) -> std::io::Result<()> {
    let content_type = if status == 200 {
        "application/vnd.oci.image.manifest.v1+json"
    } else {
        "text/html"
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        reason(status)
    );
    stream.write_all(head.as_bytes()).await?;
    let mut first = prefix.to_vec();
    first.resize(CHUNK.max(prefix.len()), b' ');
    let filler = vec![b' '; CHUNK];
    let mut written = 0;
    while written < limit {
        let piece = if written == 0 { &first } else { &filler };
        stream
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .await?;
        stream.write_all(piece).await?;
        stream.write_all(b"\r\n").await?;
        written += piece.len();
        count(piece.len());
    }
    stream.write_all(b"0\r\n\r\n").await
}
