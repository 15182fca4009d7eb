// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `Authorization` header of a registry request: the distribution token flow (the ping's
//! `WWW-Authenticate: Bearer realm=...,service=...` challenge, a token per repository and
//! operation fetched from the realm with the `config.json` credentials or anonymously, kept
//! until it expires), HTTP Basic for a registry that challenges with Basic, or a registry
//! token from `config.json` as it is. Token requests go through the same [`Clients`] as every
//! other request, so the realm's host gets the same HTTP version choice.

use std::time::{Duration, Instant};

use base64::Engine as _;
use oci_client::RegistryOperation;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::answer::Answer;
use crate::body::{Capped, read_capped};
use crate::error::classify_reqwest;
use crate::transport::Clients;
use crate::{Reference, RegistryClient, RegistryError};

/// How long a token lives when the token server does not say (the distribution spec's
/// default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// Largest token response read.
const MAX_TOKEN_RESPONSE: u64 = 1024 * 1024;

/// A `Bearer` challenge of the ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BearerChallenge {
    /// Where tokens are fetched.
    pub(crate) realm: String,
    /// The `service` parameter, when given.
    pub(crate) service: Option<String>,
}

impl BearerChallenge {
    /// Parses `Bearer realm="...",service="...",scope="..."`; `None` for another scheme or no
    /// realm.
    pub(crate) fn parse(header: &str) -> Option<BearerChallenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut realm = None;
        let mut service = None;
        for (key, value) in parameters(rest) {
            match key.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "service" => service = Some(value),
                _ => {}
            }
        }
        Some(BearerChallenge {
            realm: realm.filter(|r| !r.is_empty())?,
            service,
        })
    }
}

/// `key=value` pairs separated by commas, values quoted (with `\` escapes) or bare.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            return out;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A fetched token and when it stops being used.
#[derive(Clone)]
pub(crate) struct CachedToken {
    token: String,
    until: Instant,
}

impl RegistryClient {
    /// The `Authorization` header for a request on `reference`'s repository; `None` when the
    /// registry wants none.
    pub(super) async fn authorization(
        &self,
        clients: &Clients,
        auth: &Option<RegistryAuth>,
        reference: &Reference,
        operation: RegistryOperation,
    ) -> Result<Option<String>, RegistryError> {
        self.authorization_with_source(clients, auth, reference, operation, None)
            .await
    }

    /// [`Self::authorization`], and with a token also allowed to pull `source` (a repository
    /// of the same registry) when there is one: what a cross-repository mount needs, since
    /// GHCR and Docker Hub open an upload session instead of mounting when the token may not
    /// pull the source. Asked as two `scope` parameters of one token request.
    pub(super) async fn authorization_with_source(
        &self,
        clients: &Clients,
        auth: &Option<RegistryAuth>,
        reference: &Reference,
        operation: RegistryOperation,
        source: Option<&str>,
    ) -> Result<Option<String>, RegistryError> {
        let Some(auth) = auth else {
            return Ok(None);
        };
        if let RegistryAuth::Bearer(token) = auth {
            return Ok(Some(format!("Bearer {token}")));
        }
        let registry = reference.resolve_registry().to_string();
        let challenge = self
            .inner
            .registries
            .lock()
            .ok()
            .and_then(|map| map.get(&registry).and_then(|s| s.challenge.clone()));
        let Some(challenge) = challenge else {
            return Ok(match auth {
                RegistryAuth::Basic(user, password) => Some(basic(user, password)),
                _ => None,
            });
        };
        let scope = match operation {
            RegistryOperation::Pull => format!("repository:{}:pull", reference.repository()),
            RegistryOperation::Push => format!("repository:{}:pull,push", reference.repository()),
        };
        let scope = match source.filter(|source| *source != reference.repository()) {
            Some(source) => format!("{scope} repository:{source}:pull"),
            None => scope,
        };
        let key = format!("{registry} {scope}");
        let cached = self
            .inner
            .tokens
            .lock()
            .ok()
            .and_then(|tokens| tokens.get(&key).cloned())
            .filter(|t| t.until > Instant::now());
        if let Some(cached) = cached {
            return Ok(Some(format!("Bearer {}", cached.token)));
        }
        let token = self
            .fetch_token(clients, auth, reference, &challenge, &scope)
            .await?;
        let header = format!("Bearer {}", token.token);
        if let Ok(mut tokens) = self.inner.tokens.lock() {
            tokens.insert(key, token);
        }
        Ok(Some(header))
    }

    async fn fetch_token(
        &self,
        clients: &Clients,
        auth: &RegistryAuth,
        reference: &Reference,
        challenge: &BearerChallenge,
        scope: &str,
    ) -> Result<CachedToken, RegistryError> {
        let whole = reference.whole();
        let what = "registry token";
        // Several scopes (a mount's) are several `scope` parameters, as the token spec says.
        let mut query: Vec<(&str, &str)> = scope.split(' ').map(|one| ("scope", one)).collect();
        if let Some(service) = &challenge.service {
            query.push(("service", service));
        }
        let mut request = clients.http.get(&challenge.realm).query(&query);
        if let RegistryAuth::Basic(user, password) = auth {
            request = request.header(http::header::AUTHORIZATION, basic(user, password));
        }
        let started = Instant::now();
        let response = clients
            .send(request)
            .await
            .map_err(|err| classify_reqwest(&whole, what, &err))?;
        let status = response.status().as_u16();
        if status != 200 {
            let answer = Answer::read(response).await;
            return Err(match status {
                401 | 403 => match answer.by_status(&whole, what) {
                    RegistryError::Unauthorized { reference, message } => {
                        RegistryError::Unauthorized {
                            reference,
                            message: format!("token request failed: {message}"),
                        }
                    }
                    other => other,
                },
                _ => answer.by_status(&whole, what),
            });
        }
        let bytes = match read_capped(response, MAX_TOKEN_RESPONSE)
            .await
            .map_err(|err| classify_reqwest(&whole, what, &err))?
        {
            Capped::Complete(bytes) => bytes,
            Capped::TooLarge => {
                return Err(RegistryError::protocol(
                    &whole,
                    "the token response is larger than 1 MiB",
                ));
            }
        };
        let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|err| {
            RegistryError::protocol(&whole, format!("token response is not JSON: {err}"))
        })?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::protocol(&whole, "token response holds no token"))?;
        let lifetime = parsed
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        // Renewed a little early, so a token never expires on its way.
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        Ok(CachedToken {
            token,
            until: started + lifetime.saturating_sub(margin),
        })
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges() {
        fn check(header: &str, expected: Option<(&str, Option<&str>)>) {
            let got = BearerChallenge::parse(header);
            let got = got
                .as_ref()
                .map(|c| (c.realm.as_str(), c.service.as_deref()));
            assert_eq!(got, expected, "{header}");
        }
        check(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#,
            Some(("https://auth.docker.io/token", Some("registry.docker.io"))),
        );
        check(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull,push""#,
            Some(("https://ghcr.io/token", Some("ghcr.io"))),
        );
        check(
            r#"bearer service="s", realm="https://r/t""#,
            Some(("https://r/t", Some("s"))),
        );
        check("Bearer realm=https://r/t", Some(("https://r/t", None)));
        check(r#"Bearer realm="a\"b""#, Some(("a\"b", None)));
        check(r#"Basic realm="Registry Realm""#, None);
        check(r#"Bearer service="s""#, None);
        check("", None);
    }
}
