// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Secrets kept out of what a registry's error body shows. A registry's error is worth
//! showing as the registry wrote it (Quay, ACR, GCR and Artifact Registry put the reason in
//! their JSON `errors[].message/detail`, proxies in plain text or HTML), but some echo the
//! request back: its bearer token, its Basic credentials, `token=` or `password=` query
//! values, its `Authorization` header. Every error body this client reads goes through
//! [`redact`] with the secrets of the request it answered ([`SentAuthorization`], which the
//! transport attaches to each response), and any value that looks like a credential is
//! replaced too.

use base64::Engine as _;

/// What replaces a secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// The `Authorization` header a request was sent with, attached to its response so that an
/// error body echoing it can be redacted.
#[derive(Clone)]
pub(crate) struct SentAuthorization(pub(crate) String);

/// Keys whose value (`key=value`, `key: value`, `"key":"value"`) is a secret. Matched as the
/// end of a key, so `access_token` and `x-amz-security-token` are covered by `token`.
const SECRET_KEYS: &[&str] = &["password", "passwd", "token", "secret", "signature"];

/// Bytes that end a redacted value.
fn ends_value(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'\'' | b'&' | b',' | b';' | b'}' | b'<' | b'\\' | b' ' | b'\t' | b'\r' | b'\n'
    )
}

/// The secret parts of an `Authorization` header value: a bearer token, or the Basic
/// credential's base64, its `user:password` and its password.
fn secrets_of(authorization: &str) -> Vec<String> {
    let value = authorization.trim();
    let mut out = vec![value.to_string()];
    let Some((scheme, credential)) = value.split_once(' ') else {
        return out;
    };
    let credential = credential.trim();
    out.push(credential.to_string());
    if scheme.eq_ignore_ascii_case("basic")
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credential)
        && let Ok(decoded) = String::from_utf8(decoded)
    {
        if let Some((_, password)) = decoded.split_once(':') {
            out.push(password.to_string());
        }
        out.push(decoded);
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `text` with the secrets of `sent` (the request's `Authorization`) and anything that looks
/// like a credential replaced by `[redacted]`.
pub(crate) fn redact(text: &str, sent: Option<&SentAuthorization>) -> String {
    let mut text = text.to_string();
    if let Some(sent) = sent {
        let mut secrets = secrets_of(&sent.0);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for secret in secrets {
            text = text.replace(&secret, REDACTED);
        }
    }
    let ranges = credential_ranges(&text);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in ranges {
        out.push_str(text.get(at..start).unwrap_or_default());
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Byte ranges (ascending, disjoint, on character boundaries) of values that look like
/// credentials: after `Authorization:`, `Bearer `, `Basic `, and after a [`SECRET_KEYS`]
/// key with `=` or `:`.
fn credential_ranges(text: &str) -> Vec<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    // `Authorization: <scheme> <credential>`: to the end of the line or the quote.
    for (pos, _) in lower.match_indices("authorization") {
        if let Some(start) = value_start(bytes, pos + "authorization".len()) {
            let end = (start..bytes.len())
                .find(|&i| matches!(bytes[i], b'"' | b'\'' | b'\r' | b'\n' | b'<' | b','))
                .unwrap_or(bytes.len());
            push(&mut ranges, start, end);
        }
    }
    for scheme in ["bearer ", "basic "] {
        for (pos, _) in lower.match_indices(scheme) {
            let start = pos + scheme.len();
            let end = value_end(bytes, start);
            let word = lower.get(start..end).unwrap_or_default();
            // `Bearer realm="..."` is a challenge, not a credential.
            if end - start >= 8 && !word.starts_with("realm") {
                push(&mut ranges, start, end);
            }
        }
    }
    for key in SECRET_KEYS {
        for (pos, _) in lower.match_indices(key) {
            if let Some(start) = value_start(bytes, pos + key.len()) {
                push(&mut ranges, start, value_end(bytes, start));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn push(ranges: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    if end > start {
        ranges.push((start, end));
    }
}

/// Where the value of a key ending at `after` starts: past an optional closing quote,
/// spaces, `=` or `:`, spaces and an opening quote. `None` when no `=` or `:` follows.
fn value_start(bytes: &[u8], after: usize) -> Option<usize> {
    let mut i = after;
    let skip = |i: &mut usize, set: &[u8]| {
        while bytes.get(*i).is_some_and(|b| set.contains(b)) {
            *i += 1;
        }
    };
    skip(&mut i, b"\"'");
    skip(&mut i, b" \t");
    if !matches!(bytes.get(i), Some(b'=' | b':')) {
        return None;
    }
    i += 1;
    skip(&mut i, b" \t");
    skip(&mut i, b"\"'");
    Some(i)
}

fn value_end(bytes: &[u8], start: usize) -> usize {
    (start..bytes.len())
        .find(|&i| ends_value(bytes[i]))
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> SentAuthorization {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        SentAuthorization(format!("Basic {b64}"))
    }

    #[test]
    fn the_request_secrets_and_credential_values_are_redacted() {
        #[track_caller]
        fn check(text: &str, sent: Option<&SentAuthorization>, expected: &str) {
            assert_eq!(redact(text, sent), expected);
        }
        let bearer = SentAuthorization("Bearer tok.en-123".to_string());
        check(
            "token tok.en-123 is not valid for repo x",
            Some(&bearer),
            "token [redacted] is not valid for repo x",
        );
        check(
            r#"{"errors":[{"code":"DENIED","message":"bad","detail":"sent Authorization: Bearer tok.en-123"}]}"#,
            Some(&bearer),
            r#"{"errors":[{"code":"DENIED","message":"bad","detail":"sent Authorization: [redacted]"}]}"#,
        );
        let sent = basic("robot", "hunter22");
        let b64 = sent.0.trim_start_matches("Basic ").to_string();
        check(
            &format!("user robot:hunter22 / {b64} / hunter22"),
            Some(&sent),
            "user [redacted] / [redacted] / [redacted]",
        );
        // Without knowing the request, credential-looking values still go.
        check(
            "GET /v2/x?password=abc&token=def&n=1",
            None,
            "GET /v2/x?password=[redacted]&token=[redacted]&n=1",
        );
        check(
            r#"{"access_token": "eyJhbGciOi", "expires_in": 60}"#,
            None,
            r#"{"access_token": "[redacted]", "expires_in": 60}"#,
        );
        check(
            "Authorization: Basic cm9ib3Q6aHVudGVyMjI=\r\nHost: r",
            None,
            "Authorization: [redacted]\r\nHost: r",
        );
        check(
            "upstream said Bearer abcdefghijkl rejected",
            None,
            "upstream said Bearer [redacted] rejected",
        );
        // What is not a credential stays as the registry wrote it.
        check(
            r#"WWW-Authenticate: Bearer realm="https://auth/token",service="r""#,
            None,
            r#"WWW-Authenticate: Bearer realm="https://auth/token",service="r""#,
        );
        check(
            "<html><h1>502 Bad Gateway</h1></html>",
            None,
            "<html><h1>502 Bad Gateway</h1></html>",
        );
        check(
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
            None,
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
        );
    }
}
