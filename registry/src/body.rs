// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Bounded reads of registry response bodies. A registry is not trusted to send what it
//! announces: a manifest may come without `Content-Length` and never end, a config may be
//! larger than its descriptor says, an error page may be endless. Every body this client
//! reads into memory goes through here and stops one chunk past its limit, whatever the
//! headers claim; error bodies are read only as far as an error message shows them.

use bytes::{Bytes, BytesMut};

/// Largest manifest or index accepted when no descriptor says its size (containerd allows
/// 4 MiB).
pub const MAX_MANIFEST_SIZE: u64 = 8 * 1024 * 1024;
/// Largest image config accepted, whatever its descriptor says.
pub const MAX_CONFIG_SIZE: u64 = 32 * 1024 * 1024;
/// How much of an error response's body is read (for the message; the rest is dropped with
/// the connection).
pub const MAX_ERROR_BODY: usize = 16 * 1024;

/// What reading a body up to a limit found.
#[derive(Debug)]
pub(crate) enum Capped {
    /// The whole body, within the limit.
    Complete(Bytes),
    /// More than the limit arrived: reading stopped there.
    TooLarge,
}

/// Reads `response`'s body into memory, at most `limit` bytes: a body announcing more
/// (`Content-Length`) is refused before reading, one that turns out longer is refused as
/// soon as it passes the limit.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Capped, reqwest::Error> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Ok(Capped::TooLarge);
    }
    let initial = response.content_length().unwrap_or(0).min(limit);
    let mut body = BytesMut::with_capacity(usize::try_from(initial).unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Ok(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Capped::Complete(body.freeze()))
}

/// The start of an error response's body as text, for a message: at most
/// [`MAX_ERROR_BODY`] bytes are read, the rest is never asked for; a body that cannot be
/// read gives what arrived. Secrets are redacted: the request's credentials if the registry
/// echoes them, and anything that looks like one (see `redact`).
pub(crate) async fn error_text(mut response: reqwest::Response) -> String {
    let sent = response
        .extensions()
        .get::<crate::redact::SentAuthorization>()
        .cloned();
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ERROR_BODY - body.len();
                body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&chunk));
            }
            Ok(None) | Err(_) => break,
        }
    }
    crate::redact::redact(&String::from_utf8_lossy(&body), sent.as_ref())
}

/// `8 MiB`, `200 bytes`: a limit as error messages name it.
pub(crate) fn limit_text(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_people_write_them() {
        fn check(bytes: u64, expected: &str) {
            assert_eq!(limit_text(bytes), expected);
        }
        check(MAX_MANIFEST_SIZE, "8 MiB");
        check(MAX_CONFIG_SIZE, "32 MiB");
        check(200, "200 bytes");
        check(MAX_MANIFEST_SIZE + 1, "8388609 bytes");
        check(0, "0 bytes");
    }
}
