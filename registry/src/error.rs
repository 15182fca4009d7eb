// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The registry client's error type and the classification of everything that can go wrong
//! talking to a registry (oci-client errors, HTTP statuses, connection failures) into the few
//! kinds a caller branches on: unauthorized, not found, transient (retry) or protocol (do not).

use std::time::Duration;

use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};

use crate::answer::{repository_hint, whole_seconds};

/// What went wrong talking to a registry. Each variant names the reference at fault; the retry
/// policy retries [`RegistryError::Transient`] only.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry refused the credentials (or their absence): 401, 403, `DENIED`,
    /// `UNAUTHORIZED`, a failed token exchange or a failing credential helper.
    #[error("unauthorized for {reference}: {message}")]
    Unauthorized {
        /// The image reference the operation was for.
        reference: String,
        /// What the registry or the credential source said.
        message: String,
    },
    /// The registry does not have what was asked for (404, `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`,
    /// `NAME_UNKNOWN`).
    #[error("{what} not found in {reference}")]
    NotFound {
        /// The image reference the operation was for.
        reference: String,
        /// What is missing, e.g. `manifest` or `blob sha256:...`.
        what: String,
    },
    /// The repository a push goes to does not exist, and the registry does not create
    /// repositories on push (ECR answers the upload start `404`/`NAME_UNKNOWN`). The message
    /// names the repository, quotes the registry and says how to create it
    /// ([`RegistryError::no_repository`]).
    #[error("{message} (pushing {reference})")]
    NoRepository {
        /// The image reference the push was for.
        reference: String,
        /// The repository named, what the registry said, the hint.
        message: String,
    },
    /// A failure that may go away on its own: connection refused or reset, timeout, 408, 429,
    /// 500, 502, 503, 504, an upload session the registry forgot.
    #[error("transient registry failure for {reference}: {message}")]
    Transient {
        /// The image reference the operation was for.
        reference: String,
        /// What failed.
        message: String,
        /// How long the registry asked to wait, in whole seconds (`Retry-After` of a 429 or
        /// 503, rounded up): the next attempt waits that long (at most
        /// [`kaniko_retry::MAX_RETRY_AFTER`]) instead of the backoff's pause. Seconds rather
        /// than a `Duration` keep every error that carries this one small.
        retry_after_secs: Option<u32>,
    },
    /// The registry's TLS certificate was not accepted (unknown CA, name mismatch, expired):
    /// retrying does not help.
    /// The message names the host and what to do ([`RegistryError::tls`]).
    #[error("{message} (for {reference})")]
    Tls {
        /// The image reference the operation was for.
        reference: String,
        /// What the verification said, naming the host, and the way out.
        message: String,
    },
    /// The registry does not offer the operation: 405, `UNSUPPORTED` (a docker-registry
    /// whose deletes are not enabled answers a manifest DELETE so). Retrying does not help.
    #[error("{reference}: the registry does not support this operation: {message}")]
    Unsupported {
        /// The image reference the operation was for.
        reference: String,
        /// What the registry said.
        message: String,
    },
    /// The registry or the content broke the protocol: bad JSON, digest mismatch, 400,
    /// unexpected media type, an invalid manifest. Retrying does not help.
    #[error("registry protocol error for {reference}: {message}")]
    Protocol {
        /// The image reference the operation was for.
        reference: String,
        /// What was wrong.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// The file or stream at fault.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    /// Whether retrying the same operation may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Transient { .. })
    }

    /// Whether a manifest push was refused `MANIFEST_BLOB_UNKNOWN`: the registry does not see
    /// a blob or manifest it references (yet). docker-registry's filesystem storage rewrites
    /// a repository's links in place, so two pushes of the same content at once can make it
    /// so for a blob that is there; the pusher checks what it references and pushes again.
    pub fn is_manifest_blob_unknown(&self) -> bool {
        self.to_string().contains("MANIFEST_BLOB_UNKNOWN")
    }

    /// How long the registry asked to wait before the next attempt, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Transient {
                retry_after_secs, ..
            } => retry_after_secs.map(|secs| Duration::from_secs(secs.into())),
            _ => None,
        }
    }

    /// A short kind name (`unauthorized`, `not_found`, `transient`, `unsupported`,
    /// `protocol`, `tls`, `io`), for errors that travel as `{kind, message}`.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryError::Unauthorized { .. } => "unauthorized",
            RegistryError::NotFound { .. } | RegistryError::NoRepository { .. } => "not_found",
            RegistryError::Tls { .. } => "tls",
            RegistryError::Transient { .. } => "transient",
            RegistryError::Unsupported { .. } => "unsupported",
            RegistryError::Protocol { .. } => "protocol",
            RegistryError::Io { .. } => "io",
        }
    }

    pub(crate) fn protocol(reference: impl ToString, message: impl Into<String>) -> Self {
        RegistryError::Protocol {
            reference: reference.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn transient(reference: impl ToString, message: impl Into<String>) -> Self {
        RegistryError::Transient {
            reference: reference.to_string(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The same error asking for `retry_after` when it is transient.
    pub(crate) fn with_retry_after(self, retry_after: Option<Duration>) -> Self {
        match self {
            RegistryError::Transient {
                reference, message, ..
            } => RegistryError::Transient {
                reference,
                message,
                retry_after_secs: retry_after.map(whole_seconds),
            },
            other => other,
        }
    }

    pub(crate) fn unauthorized(reference: impl ToString, message: impl Into<String>) -> Self {
        RegistryError::Unauthorized {
            reference: reference.to_string(),
            message: message.into(),
        }
    }

    /// [`RegistryError::Tls`]: the certificate of `host` (`host[:port]`) was refused for
    /// `why`.
    pub(crate) fn tls(reference: impl ToString, host: &str, why: &str) -> Self {
        RegistryError::Tls {
            reference: reference.to_string(),
            message: format!(
                "the TLS certificate of {host} was not accepted: {why}; if {host} uses a private CA, add it to this machine's trusted certificates, or pass --skip-tls-verify-registry {host} to skip verification"
            ),
        }
    }

    /// [`RegistryError::NoRepository`] for `repository` of `registry`, the registry having
    /// said `said`.
    pub(crate) fn no_repository(
        reference: impl ToString,
        registry: &str,
        repository: &str,
        said: &str,
    ) -> Self {
        RegistryError::NoRepository {
            reference: reference.to_string(),
            message: format!(
                "repository {repository} does not exist in {registry}: {said}; {}",
                repository_hint(registry, repository)
            ),
        }
    }

    pub(crate) fn not_found(reference: impl ToString, what: impl Into<String>) -> Self {
        RegistryError::NotFound {
            reference: reference.to_string(),
            what: what.into(),
        }
    }
}

/// Longest registry response body kept in an error message (characters, about 1 KiB);
/// registries sometimes answer with whole HTML pages.
const MAX_BODY_IN_MESSAGE: usize = 1024;

pub(crate) fn shorten(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(MAX_BODY_IN_MESSAGE) {
        Some((cut, _)) => format!("{}...", &body[..cut]),
        None => body.to_string(),
    }
}

/// The kind of error an HTTP status means. `what` names the object for a 404.
pub(crate) fn classify_status(
    reference: &str,
    what: &str,
    status: u16,
    detail: &str,
) -> RegistryError {
    let message = if detail.trim().is_empty() {
        format!("http status {status}")
    } else {
        format!("http status {status}: {}", shorten(detail))
    };
    match status {
        401 | 403 => RegistryError::unauthorized(reference, message),
        404 => RegistryError::not_found(reference, what),
        405 => RegistryError::Unsupported {
            reference: reference.to_string(),
            message,
        },
        408 | 429 | 500 | 502 | 503 | 504 => RegistryError::transient(reference, message),
        _ => RegistryError::protocol(reference, message),
    }
}

/// Classifies a reqwest error: a status it carries decides; otherwise connection, timeout,
/// request and body failures are transient and the rest (builder, redirect, decode) protocol.
pub(crate) fn classify_reqwest(reference: &str, what: &str, err: &reqwest::Error) -> RegistryError {
    if let Some(status) = err.status() {
        return classify_status(reference, what, status.as_u16(), "");
    }
    let message = error_chain(err);
    if let Some(certificate) = certificate_error(err) {
        let host = err
            .url()
            .map(|url| match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_string(),
                _ => url.to_string(),
            })
            .unwrap_or_else(|| "the registry".to_string());
        return RegistryError::tls(reference, &host, &certificate);
    }
    if crate::transport::breaks_http2(err) {
        // The host was just made HTTP/1.1 only: the operation's next attempt uses it.
        return RegistryError::transient(reference, format!("HTTP/2 failed: {message}"));
    }
    if err.is_timeout() || err.is_connect() || err.is_request() || err.is_body() {
        RegistryError::transient(reference, message)
    } else {
        RegistryError::protocol(reference, message)
    }
}

/// The certificate verification failure under `err`, when the TLS handshake failed because
/// the registry's certificate was not accepted (rustls's `InvalidCertificate`: unknown CA,
/// wrong name, expired), as words.
fn certificate_error(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        // `io::Error::source` skips the error it wraps (hyper wraps rustls's in two): look
        // inside each.
        let mut candidate = Some(current);
        while let Some(error) = candidate {
            if let Some(rustls::Error::InvalidCertificate(certificate)) =
                error.downcast_ref::<rustls::Error>()
            {
                return Some(certificate_words(certificate));
            }
            candidate = error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static));
        }
        source = current.source();
    }
    None
}

fn certificate_words(err: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match err {
        C::UnknownIssuer => "it is signed by an unknown certificate authority".to_string(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            format!("it is not valid for this host name ({err:?})")
        }
        C::Expired | C::ExpiredContext { .. } => format!("it has expired ({err:?})"),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            format!("it is not valid yet ({err:?})")
        }
        C::Revoked => "it is revoked".to_string(),
        C::BadSignature => "its signature is invalid".to_string(),
        other => format!("invalid peer certificate: {other:?}"),
    }
}

fn digest_error(reference: &str, what: &str, err: &DigestError) -> RegistryError {
    match err {
        DigestError::VerificationError { expected, actual } => RegistryError::protocol(
            reference,
            format!("digest mismatch for {what}: expected {expected}, got {actual}"),
        ),
        other => RegistryError::protocol(reference, format!("{what}: {other}")),
    }
}

/// Classifies an oci-client error for the operation on `reference` about `what` (`manifest`,
/// `blob sha256:...`).
pub(crate) fn classify(reference: &str, what: &str, err: OciDistributionError) -> RegistryError {
    use OciDistributionError as E;
    match err {
        E::AuthenticationFailure(message) => RegistryError::unauthorized(
            reference,
            format!("token request failed: {}", shorten(&message)),
        ),
        E::UnauthorizedError { url } => {
            RegistryError::unauthorized(reference, format!("the registry answered 401 for {url}"))
        }
        E::RegistryError { envelope, url } => {
            let first = envelope.errors.first();
            let message = envelope
                .errors
                .iter()
                .map(|e| format!("{}: {}", code_name(&e.code), e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let message = format!("{} (url {url})", shorten(&message));
            match first.map(|e| &e.code) {
                Some(
                    OciErrorCode::BlobUnknown
                    | OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound,
                ) => RegistryError::not_found(reference, what),
                Some(OciErrorCode::ManifestBlobUnknown) => RegistryError::not_found(
                    reference,
                    format!("a blob referenced by the {what} ({message})"),
                ),
                Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => {
                    RegistryError::unauthorized(reference, message)
                }
                Some(OciErrorCode::Toomanyrequests | OciErrorCode::BlobUploadUnknown) => {
                    RegistryError::transient(reference, message)
                }
                Some(OciErrorCode::Unsupported) => RegistryError::Unsupported {
                    reference: reference.to_string(),
                    message,
                },
                _ => RegistryError::protocol(reference, message),
            }
        }
        E::ServerError { code, url, message } => classify_status(
            reference,
            what,
            code,
            &format!("{} (url {url})", shorten(&message)),
        ),
        E::RequestError(err) => classify_reqwest(reference, what, &err),
        E::DigestError(err) => digest_error(reference, what, &err),
        E::IoError(err) => RegistryError::Io {
            what: what.to_string(),
            source: err,
        },
        E::ImageManifestNotFoundError(_) => RegistryError::not_found(reference, what),
        other => RegistryError::protocol(reference, format!("{what}: {other}")),
    }
}

fn code_name(code: &OciErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{code:?}"),
    }
}

/// An error and its sources on one line, each cause once: HTTP clients' top-level messages
/// (reqwest's "error sending request") say little without the cause underneath. The
/// registry client's errors and the worker's `ADD <url>` downloads both use it.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use oci_client::errors::{OciEnvelope, OciError};

    use super::*;

    #[test]
    fn an_error_chain_names_each_cause_once() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        fn chain(messages: &[&'static str]) -> Layer {
            let mut layer: Option<Box<Layer>> = None;
            for message in messages.iter().rev() {
                layer = Some(Box::new(Layer(message, layer)));
            }
            *layer.unwrap()
        }
        #[track_caller]
        fn check(messages: &[&'static str], expected: &str) {
            assert_eq!(error_chain(&chain(messages)), expected);
        }
        check(&["error sending request"], "error sending request");
        check(
            &["error sending request", "connection refused"],
            "error sending request: connection refused",
        );
        // A cause its parent already quotes is not repeated.
        check(
            &[
                "tls: invalid peer certificate: UnknownIssuer",
                "UnknownIssuer",
            ],
            "tls: invalid peer certificate: UnknownIssuer",
        );
    }

    fn envelope(code: OciErrorCode) -> OciDistributionError {
        OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: "told by the registry".to_string(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://r/v2/x/manifests/y".to_string(),
        }
    }

    fn server(code: u16) -> OciDistributionError {
        OciDistributionError::ServerError {
            code,
            url: "http://r/v2/x/blobs/uploads/".to_string(),
            message: "body".to_string(),
        }
    }

    #[test]
    fn only_a_manifest_blob_unknown_refusal_is_one() {
        let is = |code| classify("r/x:y", "manifest", envelope(code)).is_manifest_blob_unknown();
        assert!(is(OciErrorCode::ManifestBlobUnknown));
        assert!(!is(OciErrorCode::BlobUnknown));
        assert!(!is(OciErrorCode::ManifestUnknown));
        assert!(!classify("r/x:y", "manifest", server(404)).is_manifest_blob_unknown());
    }

    #[test]
    fn oci_client_errors_map_to_the_kind_a_caller_branches_on() {
        fn check(input: OciDistributionError, expected: &str) {
            let shown = input.to_string();
            let got = classify("r/x:y", "manifest", input);
            assert_eq!(got.kind(), expected, "{shown} -> {got}");
            assert_eq!(got.is_transient(), expected == "transient", "{shown}");
        }
        check(envelope(OciErrorCode::ManifestUnknown), "not_found");
        check(envelope(OciErrorCode::BlobUnknown), "not_found");
        check(envelope(OciErrorCode::NameUnknown), "not_found");
        check(envelope(OciErrorCode::ManifestBlobUnknown), "not_found");
        check(envelope(OciErrorCode::Denied), "unauthorized");
        check(envelope(OciErrorCode::Unauthorized), "unauthorized");
        check(envelope(OciErrorCode::Toomanyrequests), "transient");
        check(envelope(OciErrorCode::BlobUploadUnknown), "transient");
        check(envelope(OciErrorCode::DigestInvalid), "protocol");
        check(envelope(OciErrorCode::ManifestInvalid), "protocol");
        check(
            envelope(OciErrorCode::Other("ARTIFACT_LOCKED".into())),
            "protocol",
        );
        check(server(400), "protocol");
        check(server(401), "unauthorized");
        check(server(403), "unauthorized");
        check(server(404), "not_found");
        check(server(405), "unsupported");
        check(envelope(OciErrorCode::Unsupported), "unsupported");
        check(server(408), "transient");
        check(server(429), "transient");
        check(server(500), "transient");
        check(server(501), "protocol");
        check(server(502), "transient");
        check(server(503), "transient");
        check(server(504), "transient");
        check(
            OciDistributionError::UnauthorizedError { url: "u".into() },
            "unauthorized",
        );
        check(
            OciDistributionError::AuthenticationFailure("bad token".into()),
            "unauthorized",
        );
        check(
            OciDistributionError::DigestError(DigestError::VerificationError {
                expected: "sha256:aa".into(),
                actual: "sha256:bb".into(),
            }),
            "protocol",
        );
        check(
            OciDistributionError::ManifestParsingError("eof".into()),
            "protocol",
        );
        check(
            OciDistributionError::SpecViolationError("201 expected".into()),
            "protocol",
        );
        check(
            OciDistributionError::IoError(std::io::Error::other("disk")),
            "io",
        );
    }

    #[test]
    fn messages_name_the_reference_and_what_is_missing() {
        let err = classify(
            "reg:5000/app:1",
            "blob sha256:ab",
            envelope(OciErrorCode::BlobUnknown),
        );
        assert_eq!(
            err.to_string(),
            "blob sha256:ab not found in reg:5000/app:1"
        );
        let err = classify("reg:5000/app:1", "manifest", server(503));
        assert_eq!(
            err.to_string(),
            "transient registry failure for reg:5000/app:1: http status 503: body (url http://r/v2/x/blobs/uploads/)"
        );
    }

    #[test]
    fn long_bodies_are_cut_in_messages() {
        let body = "x".repeat(5000);
        let err = classify_status("r/x", "manifest", 500, &body);
        let len = err.to_string().len();
        assert!((1024..1200).contains(&len), "{len}");
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/v2/"))
            .send()
            .await
            .unwrap_err();
        let got = classify(
            "127.0.0.1/x",
            "manifest",
            OciDistributionError::RequestError(err),
        );
        assert!(got.is_transient(), "{got}");
        assert!(got.to_string().contains("127.0.0.1/x"), "{got}");
    }
}
