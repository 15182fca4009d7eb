// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! ADD of an http(s) URL: the body is streamed into a file (never held in memory) with its
//! sha256 computed on the way and checked against `--checksum`. The file name follows
//! BuildKit (`source/http`): the `filename` of `Content-Disposition` when there is one, else
//! the last segment of the URL's path, else `download`. The mtime comes from `Last-Modified`,
//! as Docker and BuildKit do. A URL download is never extracted.
//!
//! Bounds: a body larger than `--add-url-max-size` (announced by `Content-Length` or found
//! while streaming) fails at once; the whole download must finish within `--add-url-timeout`
//! (connecting within [`ADD_URL_CONNECT_TIMEOUT`], and no pause longer than
//! [`ADD_URL_IDLE_TIMEOUT`], each capped by it); every byte is charged to the build's disk
//! budget. Nothing is left behind when one of them stops a download.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::ArchiveError;
use crate::unpack::limits::{
    ADD_URL_CONNECT_TIMEOUT, ADD_URL_IDLE_TIMEOUT, ByteSize, DownloadLimits, Limits,
};

/// A downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Where the content is (a new file in the directory given; the caller removes it).
    pub path: PathBuf,
    /// The name the file gets in the image when the destination is a directory.
    pub file_name: String,
    /// From `Last-Modified`, when the server sent a valid one.
    pub mtime: Option<SystemTime>,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// Decodes `%xx` escapes (invalid ones are kept as is).
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(value) = u8::from_str_radix(hex, 16)
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last `/`-separated part of `name`, if it is a usable file name.
fn base_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next().unwrap_or(name);
    (!base.is_empty() && base != "." && base != ".." && !base.contains('\0'))
        .then(|| base.to_string())
}

/// The `filename` parameter of a `Content-Disposition` value (`filename*=UTF-8''…` too).
fn disposition_file_name(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in value.split(';').skip(1) {
        let Some((key, raw)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let raw = raw.trim();
        if key == "filename*" {
            let encoded = raw.split_once("''").map_or(raw, |(_, rest)| rest);
            extended = Some(percent_decode(encoded));
        } else if key == "filename" {
            let unquoted = raw
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(raw);
            plain = Some(unquoted.replace("\\\"", "\""));
        }
    }
    let name = extended.or(plain)?;
    if name.ends_with('/') {
        return None;
    }
    base_name(&name.replace('\\', "/"))
}

/// The file name BuildKit gives a download of `url`: `Content-Disposition`'s filename, else
/// the URL path's last segment, else `download`.
pub fn file_name_for(url: &str, content_disposition: Option<&str>) -> String {
    if let Some(name) = content_disposition.and_then(disposition_file_name) {
        return name;
    }
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            let path = u.path().trim_end_matches('/').to_string();
            base_name(&percent_decode(&path))
        })
        .unwrap_or_else(|| "download".to_string())
}

/// The hex of a `sha256:<64 hex>` checksum.
fn checksum_hex(checksum: &str) -> Result<String, ArchiveError> {
    checksum
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| ArchiveError::BadChecksum(checksum.to_string()))
}

/// Downloads `url` into a new file in `into_dir`, verifying `checksum` (`sha256:<hex>`)
/// when given, within `limits` (see the module documentation). A non-2xx answer, a failed
/// transfer, a checksum mismatch or a limit reached is an error naming the URL (and the
/// expected and actual digests, or the limit and its flag); nothing is left behind then.
pub async fn download(
    url: &str,
    checksum: Option<&str>,
    into_dir: &Path,
    limits: &Limits,
) -> Result<Downloaded, ArchiveError> {
    let expected = checksum.map(checksum_hex).transpose()?;
    let timeout = limits.download.timeout;
    match tokio::time::timeout(timeout, fetch(url, expected, into_dir, limits)).await {
        Ok(result) => result,
        Err(_) => Err(ArchiveError::Timeout {
            url: url.to_string(),
            what: format!(
                "not complete within --add-url-timeout {}s",
                timeout.as_secs_f64()
            ),
        }),
    }
}

/// [`download`] without the overall timeout.
async fn fetch(
    url: &str,
    expected: Option<String>,
    into_dir: &Path,
    limits: &Limits,
) -> Result<Downloaded, ArchiveError> {
    let DownloadLimits { max_size, timeout } = limits.download;
    let fail = |message: String| ArchiveError::Download {
        url: url.to_string(),
        message,
    };
    let connect = ADD_URL_CONNECT_TIMEOUT.min(timeout);
    let idle = ADD_URL_IDLE_TIMEOUT.min(timeout);
    let transfer = |e: reqwest::Error| {
        if e.is_timeout() {
            let (what, limit) = if e.is_connect() {
                ("connecting", connect)
            } else {
                ("nothing received", idle)
            };
            ArchiveError::Timeout {
                url: url.to_string(),
                what: format!("{what} for {}s", limit.as_secs_f64()),
            }
        } else {
            fail(kaniko_registry::error_chain(&e))
        }
    };
    let too_large = |size: u64| ArchiveError::TooLarge {
        url: url.to_string(),
        size: ByteSize(size),
        limit: ByteSize(max_size),
    };
    let client = reqwest::Client::builder()
        .user_agent(concat!("kaniko-rs/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect)
        .read_timeout(idle)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut response = client.get(url).send().await.map_err(transfer)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ArchiveError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    if let Some(announced) = response.content_length()
        && announced > max_size
    {
        return Err(too_large(announced));
    }
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let file_name = file_name_for(url, header(reqwest::header::CONTENT_DISPOSITION).as_deref());
    let mtime = header(reqwest::header::LAST_MODIFIED)
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(&v).ok())
        .map(SystemTime::from);
    let io_fail = |e: std::io::Error| fail(format!("{}: {e}", into_dir.display()));
    let temp = tempfile::Builder::new()
        .prefix("download-")
        .tempfile_in(into_dir)
        .map_err(io_fail)?;
    let (file, temp_path) = temp.into_parts();
    let mut out = tokio::fs::File::from_std(file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(transfer)? {
        let len = chunk.len() as u64;
        if size + len > max_size {
            return Err(too_large(size + len));
        }
        limits
            .disk
            .charge(len, || format!("downloading {url}"))
            .map_err(|error| ArchiveError::Limit {
                what: format!("ADD {url}"),
                error,
            })?;
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(io_fail)?;
        size += chunk.len() as u64;
    }
    out.flush().await.map_err(io_fail)?;
    drop(out);
    let actual = hex::encode(hasher.finalize());
    if let Some(expected) = expected
        && expected != actual
    {
        return Err(ArchiveError::ChecksumMismatch {
            url: url.to_string(),
            expected: format!("sha256:{expected}"),
            actual: format!("sha256:{actual}"),
        });
    }
    let path = temp_path.keep().map_err(|e| io_fail(e.error))?;
    tracing::debug!(%url, size, "downloaded");
    Ok(Downloaded {
        path,
        file_name,
        mtime,
        digest: format!("sha256:{actual}"),
        size,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn file_names_follow_buildkit() {
        fn check(url: &str, disposition: Option<&str>, expected: &str) {
            assert_eq!(
                file_name_for(url, disposition),
                expected,
                "{url} {disposition:?}"
            );
        }
        check("https://example.com/a/b/tool.tar.gz", None, "tool.tar.gz");
        check(
            "https://example.com/a/b/tool.tar.gz?x=1#f",
            None,
            "tool.tar.gz",
        );
        check("https://example.com/dir/", None, "dir");
        check("https://example.com/", None, "download");
        check("https://example.com", None, "download");
        check("https://example.com/my%20file", None, "my file");
        check(
            "https://example.com/get?id=3",
            Some("attachment; filename=\"real.zip\""),
            "real.zip",
        );
        check(
            "https://example.com/get",
            Some("attachment; filename=../../etc/passwd"),
            "passwd",
        );
        check(
            "https://example.com/get",
            Some("attachment; filename*=UTF-8''na%C3%AFve.txt"),
            "naïve.txt",
        );
        check(
            "https://example.com/x.bin",
            Some("attachment; filename=\"dir/\""),
            "x.bin",
        );
        check("https://example.com/x.bin", Some("inline"), "x.bin");
    }

    /// Serves `response` (raw HTTP) to every connection on 127.0.0.1; returns the base URL.
    async fn serve(response: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await;
                    let _ = socket.write_all(&response).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn ok_response(body: &[u8], extra_headers: &str) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn sha256(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    #[tokio::test]
    async fn downloads_verify_the_checksum_and_keep_name_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"#!/bin/sh\necho hi\n".repeat(1000);
        let base = serve(ok_response(
            &body,
            "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
        ))
        .await;
        let url = format!("{base}/files/tool.sh");
        let got = download(&url, Some(&sha256(&body)), dir.path(), &Limits::default())
            .await
            .unwrap();
        assert_eq!(got.file_name, "tool.sh");
        assert_eq!(std::fs::read(&got.path).unwrap(), body);
        assert_eq!(got.digest, sha256(&body));
        assert_eq!(got.size, body.len() as u64);
        let expected_mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(got.mtime, Some(expected_mtime));
        // Without a checksum, and without Last-Modified.
        let base = serve(ok_response(
            b"x",
            "Content-Disposition: attachment; filename=\"y.txt\"\r\n",
        ))
        .await;
        let got = download(&format!("{base}/dl"), None, dir.path(), &Limits::default())
            .await
            .unwrap();
        assert_eq!((got.file_name.as_str(), got.mtime), ("y.txt", None));
    }

    #[tokio::test]
    async fn a_checksum_mismatch_names_url_and_both_digests_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let base = serve(ok_response(b"actual content", "")).await;
        let url = format!("{base}/f");
        let wanted = sha256(b"other content");
        let err = download(&url, Some(&wanted), dir.path(), &Limits::default())
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&url), "{message}");
        assert!(message.contains(&wanted), "{message}");
        assert!(message.contains(&sha256(b"actual content")), "{message}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn errors_name_the_url_and_status() {
        let dir = tempfile::tempdir().unwrap();
        let base = serve(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        )
        .await;
        let url = format!("{base}/missing.tgz");
        let err = download(&url, None, dir.path(), &Limits::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, ArchiveError::Status { status: 404, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&url), "{err}");
        let err = download(&url, Some("md5:abc"), dir.path(), &Limits::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ArchiveError::BadChecksum(_)), "{err}");
        // A closed port: a clear transfer error naming the URL.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/x");
        let err = download(&url, None, dir.path(), &Limits::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&url), "{err}");
    }
}
