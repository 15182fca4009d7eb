// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A registry's error answer, read once and turned into the error a caller branches on: its
//! status, its `Retry-After` (seconds or an HTTP date: the next retry waits that long), its
//! body as the registry wrote it (bounded and redacted, see `redact`), its error codes when
//! they say more than the status; and the hint for a repository a registry does not create
//! on push (ECR, ECR Public).

use std::time::Duration;

use oci_client::errors::{OciDistributionError, OciEnvelope, OciErrorCode};

use crate::RegistryError;
use crate::body::error_text;
use crate::error::{classify, classify_status, shorten};

/// How to create a missing repository: the AWS CLI command on ECR and ECR Public, which do
/// not create repositories on push, else a generic hint.
pub(crate) fn repository_hint(registry: &str, repository: &str) -> String {
    let host = registry.split(':').next().unwrap_or(registry);
    let labels: Vec<&str> = host.split('.').collect();
    let ecr = matches!(
        labels.as_slice(),
        [_account, "dkr", "ecr", _region, "amazonaws", "com", ..]
            | [_account, "dkr", "ecr-fips", _region, "amazonaws", "com", ..]
    );
    if ecr {
        let region = labels.get(3).copied().unwrap_or_default();
        format!(
            "ECR does not create repositories on push: create it with `aws ecr create-repository --repository-name {repository} --region {region}`"
        )
    } else if host == "public.ecr.aws" {
        let name = repository
            .split_once('/')
            .map_or(repository, |(_, name)| name);
        format!(
            "ECR Public does not create repositories on push: create it with `aws ecr-public create-repository --repository-name {name} --region us-east-1`"
        )
    } else {
        "create the repository or check its name".to_string()
    }
}

/// How long a `Retry-After` header asks to wait: delay-seconds, or an HTTP-date (the time
/// from now until then, zero when past).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// `wait` in whole seconds, rounded up.
pub(crate) fn whole_seconds(wait: Duration) -> u32 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// An error response, read: its status, URL, `Retry-After` and body (bounded, with secrets
/// redacted: see `redact`).
pub(crate) struct Answer {
    pub(crate) status: u16,
    url: String,
    retry_after: Option<Duration>,
    pub(crate) body: String,
}

impl Answer {
    /// Reads `response` (at most [`crate::MAX_ERROR_BODY`] of its body).
    pub(crate) async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let url = response.url().to_string();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = error_text(response).await;
        Answer {
            status,
            url,
            retry_after,
            body,
        }
    }

    /// `http status N: <body>`, the body cut at about 1 KiB.
    pub(crate) fn shown(&self) -> String {
        if self.body.trim().is_empty() {
            format!("http status {}", self.status)
        } else {
            format!("http status {}: {}", self.status, shorten(&self.body))
        }
    }

    /// The error the status means, the body shown as the registry wrote it.
    pub(crate) fn by_status(&self, reference: &str, what: &str) -> RegistryError {
        classify_status(reference, what, self.status, &self.body).with_retry_after(self.retry_after)
    }

    /// The first registry error code of the body, when there is one; `None` for a body that
    /// is not a registry error envelope.
    pub(crate) fn first_code(&self) -> Option<OciErrorCode> {
        let envelope = serde_json::from_str::<OciEnvelope>(&self.body).ok()?;
        envelope.errors.into_iter().next().map(|e| e.code)
    }

    /// The error the registry's error codes mean when they say more than the status (a
    /// missing blob or manifest, a denial, a rate limit, an unsupported operation), else the
    /// status's; the body shown as the registry wrote it.
    pub(crate) fn by_code(&self, reference: &str, what: &str) -> RegistryError {
        let envelope = match serde_json::from_str::<OciEnvelope>(&self.body) {
            Ok(envelope) if !envelope.errors.is_empty() => envelope,
            _ => return self.by_status(reference, what),
        };
        let by_code = classify(
            reference,
            what,
            OciDistributionError::RegistryError {
                envelope,
                url: self.url.clone(),
            },
        );
        let message = || self.shown();
        match by_code {
            RegistryError::NotFound { .. } => by_code,
            RegistryError::Unauthorized { reference, .. } => RegistryError::Unauthorized {
                reference,
                message: message(),
            },
            RegistryError::Unsupported { reference, .. } => RegistryError::Unsupported {
                reference,
                message: message(),
            },
            RegistryError::Transient { reference, .. } => RegistryError::Transient {
                reference,
                message: message(),
                retry_after_secs: self.retry_after.map(whole_seconds),
            },
            _ => self.by_status(reference, what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_as_an_http_date() {
        #[track_caller]
        fn check(value: &str, expected: Option<u64>) {
            assert_eq!(
                parse_retry_after(value),
                expected.map(Duration::from_secs),
                "{value}"
            );
        }
        check("2", Some(2));
        check(" 120 ", Some(120));
        check("0", Some(0));
        check("soon", None);
        check("-1", None);
        check("Wed, 21 Oct 2015 07:28:00 GMT", Some(0));
        let later = chrono::Utc::now() + chrono::Duration::seconds(30);
        let date = later.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let wait = parse_retry_after(&date).unwrap();
        assert!(
            (Duration::from_secs(28)..=Duration::from_secs(30)).contains(&wait),
            "{date}: {wait:?}"
        );
    }

    fn answer(status: u16, retry_after: Option<u64>, body: &str) -> Answer {
        Answer {
            status,
            url: "http://r/v2/x/blobs/uploads/".to_string(),
            retry_after: retry_after.map(Duration::from_secs),
            body: body.to_string(),
        }
    }

    #[test]
    fn answers_keep_the_registry_words_and_its_retry_after() {
        let throttled = answer(429, Some(2), "slow down");
        let err = throttled.by_status("r/x:1", "manifest");
        assert!(err.is_transient(), "{err}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        let err = answer(
            503,
            Some(1),
            r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"m"}]}"#,
        )
        .by_code("r/x:1", "manifest");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(1)), "{err}");
        // A Retry-After on a permanent failure changes nothing.
        let err = answer(400, Some(5), "bad").by_status("r/x:1", "manifest");
        assert_eq!(err.kind(), "protocol");
        assert_eq!(err.retry_after(), None);

        let quay = r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{"message":"missing layer sha256:ab"}}]}"#;
        let err = answer(400, None, quay).by_code("quay.io/x:1", "manifest");
        assert_eq!(err.kind(), "protocol");
        assert!(
            err.to_string()
                .ends_with(&format!("http status 400: {quay}")),
            "{err}"
        );
        // A code that says nothing the status does not leaves the status to decide.
        let err = answer(
            500,
            None,
            r#"{"errors":[{"code":"UNKNOWN","message":"x"}]}"#,
        )
        .by_code("r/x:1", "manifest");
        assert!(err.is_transient(), "{err}");
        let err = answer(
            403,
            None,
            r#"{"errors":[{"code":"DENIED","message":"no"}]}"#,
        )
        .by_code("r/x:1", "manifest");
        assert_eq!(err.kind(), "unauthorized");
        assert!(err.to_string().contains(r#""message":"no""#), "{err}");
    }

    #[test]
    fn a_missing_repository_is_explained_per_registry() {
        #[track_caller]
        fn check(registry: &str, repository: &str, expected: &str) {
            assert_eq!(repository_hint(registry, repository), expected);
        }
        check(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "team/app",
            "ECR does not create repositories on push: create it with `aws ecr create-repository --repository-name team/app --region eu-west-1`",
        );
        check(
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            "app",
            "ECR does not create repositories on push: create it with `aws ecr create-repository --repository-name app --region us-east-1`",
        );
        check(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "app",
            "ECR does not create repositories on push: create it with `aws ecr create-repository --repository-name app --region cn-north-1`",
        );
        check(
            "public.ecr.aws",
            "a1b2c3/app",
            "ECR Public does not create repositories on push: create it with `aws ecr-public create-repository --repository-name app --region us-east-1`",
        );
        for other in [
            "ghcr.io",
            "localhost:5000",
            "dkr.ecr.us-east-1.amazonaws.com",
            "ecr.example.com",
        ] {
            check(other, "app", "create the repository or check its name");
        }
        let err = RegistryError::no_repository(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "app",
            "http status 404: NAME_UNKNOWN",
        );
        assert_eq!(err.kind(), "not_found");
        let text = err.to_string();
        assert!(text.contains("repository app does not exist"), "{text}");
        assert!(
            text.contains("aws ecr create-repository --repository-name app"),
            "{text}"
        );
    }
}
