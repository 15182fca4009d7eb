// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A thin OCI 1.1 referrers layer in front of the real docker-registry, owned by the test
//! crate because no registry with the referrers API installs here. Every request is forwarded
//! (one per connection, `Connection: close`); on a manifest push that succeeds and carries a
//! `subject`, the answer gets `OCI-Subject: <subject digest>` and the manifest is remembered;
//! `GET /v2/<name>/referrers/<digest>` is answered from what was remembered, as an OCI index
//! (each entry with its `artifactType` and annotations). Nothing else is changed, so the
//! registry underneath stays the real one.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

type Seen = Arc<Mutex<BTreeMap<(String, String), Vec<serde_json::Value>>>>;

/// The proxy; stops when dropped.
pub struct ReferrersProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for ReferrersProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ReferrersProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`host:port`).
    pub async fn start(upstream: String) -> anyhow::Result<ReferrersProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let seen: Seen = Arc::default();
        let client = reqwest::Client::new();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (upstream, seen, client) = (upstream.clone(), seen.clone(), client.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &upstream, &seen, &client).await;
                });
            }
        });
        Ok(ReferrersProxy { addr, task })
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

async fn serve(
    mut stream: TcpStream,
    upstream: &str,
    seen: &Seen,
    client: &reqwest::Client,
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let header_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "closed before the headers");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "closed before the body");
        body.extend_from_slice(&chunk[..n]);
    }
    let path = target.split('?').next().unwrap_or_default().to_string();

    if method == "GET"
        && let Some((name, digest)) = path
            .strip_prefix("/v2/")
            .and_then(|rest| rest.split_once("/referrers/"))
    {
        let entries = seen
            .lock()
            .map(|s| {
                s.get(&(name.to_string(), digest.to_string()))
                    .cloned()
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        })
        .to_string();
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{index}",
            index.len()
        );
        stream.write_all(answer.as_bytes()).await?;
        return Ok(());
    }

    let method_value = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut request = client.request(method_value, format!("http://{upstream}{target}"));
    for (k, v) in &headers {
        if !matches!(k.as_str(), "host" | "connection" | "content-length") {
            request = request.header(k, v);
        }
    }
    let response = request.body(body.clone()).send().await?;
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut answer_headers = Vec::new();
    for (k, v) in response.headers() {
        if !matches!(
            k.as_str(),
            "connection" | "transfer-encoding" | "content-length"
        ) {
            answer_headers.push(format!("{}: {}\r\n", k, v.to_str().unwrap_or_default()));
        }
    }
    let digest = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let declared = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let answer_body = response.bytes().await?;
    if method == "PUT"
        && status.as_u16() == 201
        && let Some((name, _)) = path
            .strip_prefix("/v2/")
            .and_then(|rest| rest.split_once("/manifests/"))
        && let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(subject) = manifest["subject"]["digest"].as_str()
    {
        let mut entry = serde_json::json!({
            "mediaType": manifest["mediaType"],
            "digest": digest.unwrap_or_default(),
            "size": body.len(),
        });
        if let Some(t) = manifest["artifactType"].as_str() {
            entry["artifactType"] = t.into();
        }
        if manifest["annotations"].is_object() {
            entry["annotations"] = manifest["annotations"].clone();
        }
        if let Ok(mut seen) = seen.lock() {
            seen.entry((name.to_string(), subject.to_string()))
                .or_default()
                .push(entry);
        }
        answer_headers.push(format!("OCI-Subject: {subject}\r\n"));
    }
    for header in answer_headers {
        out.push_str(&header);
    }
    let length = if method == "HEAD" {
        declared.unwrap_or_else(|| "0".to_string())
    } else {
        answer_body.len().to_string()
    };
    out.push_str(&format!(
        "Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ));
    stream.write_all(out.as_bytes()).await?;
    if method != "HEAD" {
        stream.write_all(&answer_body).await?;
    }
    Ok(())
}
