// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The registry client every part of kaniko-rs uses to pull base images and push layers,
//! configs, manifests and indexes. Speaks the distribution API itself over reqwest (HTTP/2
//! where a TLS registry offers it, HTTP/1.1 otherwise or after a registry broke HTTP/2: see
//! `transport`), with oci-client's reference and error vocabulary; adds Kaniko's registry
//! options (insecure and skip-TLS-verify registries), docker `config.json` credentials, errors
//! a caller can branch on, a retry policy for transient failures, bounded concurrent uploads
//! that skip blobs the registry already has, streamed and digest-verified blob pulls, and
//! platform resolution of image indexes. Nothing a registry sends is read without a bound:
//! manifests stop at their descriptor's size (else 8 MiB), configs and layers at their
//! descriptor's, error bodies at 16 KiB (see `body`).
//!
//! Each registry is "pinged" (`GET /v2/`) once, inside the first operation's retry loop: a 200
//! means no authentication (nothing is stored, so no request carries credentials); a 401 means
//! the credentials from `config.json` (or anonymous tokens) are used: HTTP Basic, or bearer
//! tokens per repository and operation from the challenge's realm (see `token`).

mod answer;
mod auth;
mod blob;
mod body;
mod error;
mod manifest;
mod redact;
mod referrers;
mod retry;
mod tags;
mod token;
mod transport;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::secrets::RegistryAuth;
use transport::Clients;

pub use auth::{Credential, CredentialError, DockerConfig, default_config_dir, normalize_registry};
pub use blob::{BlobPush, BlobSource, PushedBlob};
pub use body::{MAX_CONFIG_SIZE, MAX_ERROR_BODY, MAX_MANIFEST_SIZE};
pub use error::{RegistryError, error_chain};
pub use kaniko_retry::RetryPolicy;
pub use manifest::{PulledManifest, ResolvedImage};
pub use oci_client::Reference;
pub use referrers::{Attached, Referrer, ReferrersSource, fallback_tag};

use error::classify_reqwest;

/// Installs the one rustls crypto provider (aws-lc-rs) every TLS client in the process uses
/// (the registry's HTTPS clients and the NATS connections). Binaries call it first thing;
/// calling it twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// How the client reaches registries; the fields mirror Kaniko's flags.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`, exactly as in references) reached over plain HTTP
    /// (`--insecure-registry`). Loopback registries are no exception: list them.
    pub insecure_registries: Vec<String>,
    /// Every registry over plain HTTP (`--insecure`).
    pub insecure_all: bool,
    /// Registries whose TLS certificate is not verified (`--skip-tls-verify-registry`).
    pub skip_tls_verify_registries: Vec<String>,
    /// No TLS certificate verified (`--skip-tls-verify`).
    pub skip_tls_verify_all: bool,
    /// Where `config.json` lives; else `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config_dir: Option<PathBuf>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Blob uploads running at once in [`RegistryClient::push_blobs`] (Kaniko: 4); each blob
    /// goes up in one streamed `PUT` after the `POST` that opens the upload.
    pub max_concurrent_uploads: usize,
    /// `--registry-http1`: never offer HTTP/2, even to a TLS registry that speaks it (see
    /// the `transport` module for the per-registry fallback when this is off).
    pub http1_only: bool,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on waiting for any single read from a registry.
    pub read_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            insecure_all: false,
            skip_tls_verify_registries: Vec::new(),
            skip_tls_verify_all: false,
            docker_config_dir: None,
            retry: RetryPolicy::default(),
            max_concurrent_uploads: 4,
            http1_only: false,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(120),
        }
    }
}

impl RegistryOptions {
    /// Options for a plain-HTTP registry at `host` (e.g. a loopback test registry).
    pub fn insecure(host: impl Into<String>) -> Self {
        RegistryOptions {
            insecure_registries: vec![host.into()],
            ..RegistryOptions::default()
        }
    }

    /// The URL scheme for `registry`.
    pub fn scheme_for(&self, registry: &str) -> &'static str {
        if self.insecure_all || self.insecure_registries.iter().any(|r| r == registry) {
            "http"
        } else {
            "https"
        }
    }

    fn skips_tls_verify(&self, registry: &str) -> bool {
        self.skip_tls_verify_all
            || self
                .skip_tls_verify_registries
                .iter()
                .any(|r| r == registry)
    }
}

/// What the ping found out about a registry.
#[derive(Clone)]
struct RegistryState {
    /// The authentication to use; `None` when `/v2/` answered without asking for any.
    auth: Option<RegistryAuth>,
    /// The ping's `Bearer` challenge: where tokens come from (`None`: Basic, or no auth).
    challenge: Option<token::BearerChallenge>,
}

/// A client for OCI registries. Cheap to clone; clones share connections, tokens and what was
/// learnt about each registry.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    options: RegistryOptions,
    docker_config: DockerConfig,
    verified: Clients,
    unverified: Clients,
    registries: Mutex<HashMap<String, RegistryState>>,
    /// Bearer tokens by `registry scope`.
    tokens: Mutex<HashMap<String, token::CachedToken>>,
}

impl RegistryClient {
    /// A client with `options`; reads `config.json` now, so a broken one fails here, naming
    /// the file.
    pub fn new(options: RegistryOptions) -> Result<Self, RegistryError> {
        let docker_config = DockerConfig::load(options.docker_config_dir.as_deref())
            .map_err(|err| RegistryError::unauthorized("docker config", err.to_string()))?;
        Self::with_docker_config(options, docker_config)
    }

    /// A client with `options` and an already loaded docker configuration.
    pub fn with_docker_config(
        options: RegistryOptions,
        docker_config: DockerConfig,
    ) -> Result<Self, RegistryError> {
        let verified = Clients::new(&options, false)?;
        let unverified = Clients::new(&options, true)?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                options,
                docker_config,
                verified,
                unverified,
                registries: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &RegistryOptions {
        &self.inner.options
    }

    fn clients(&self, reference: &Reference) -> &Clients {
        if self
            .inner
            .options
            .skips_tls_verify(reference.resolve_registry())
        {
            &self.inner.unverified
        } else {
            &self.inner.verified
        }
    }

    /// `scheme://registry` of `reference`.
    fn base_url(&self, reference: &Reference) -> String {
        let registry = reference.resolve_registry();
        format!("{}://{registry}", self.inner.options.scheme_for(registry))
    }

    /// Makes sure the registry of `reference` was pinged and its authentication known;
    /// returns the clients to use and the registry's authentication (`None`:
    /// the registry wants none).
    async fn prepare(
        &self,
        reference: &Reference,
    ) -> Result<(&Clients, Option<RegistryAuth>), RegistryError> {
        let clients = self.clients(reference);
        let registry = reference.resolve_registry().to_string();
        let known = self
            .inner
            .registries
            .lock()
            .ok()
            .and_then(|map| map.get(&registry).cloned());
        if let Some(state) = known {
            return Ok((clients, state.auth));
        }
        let url = format!("{}/v2/", self.base_url(reference));
        let response = clients
            .send(clients.http.get(&url))
            .await
            .map_err(|err| classify_reqwest(&reference.whole(), "registry api", &err))?;
        let status = response.status().as_u16();
        let version = response.version();
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let auth = match status {
            200..=299 => None,
            401 => {
                let credential = self.credential_for(reference).await?;
                let is_bearer = challenge.to_ascii_lowercase().starts_with("bearer");
                match credential {
                    Some(credential) => Some(credential.to_registry_auth()),
                    None if is_bearer => Some(RegistryAuth::Anonymous),
                    None => {
                        return Err(RegistryError::unauthorized(
                            reference.whole(),
                            format!(
                                "{registry} requires authentication and {} has no credentials for it",
                                self.inner.docker_config.path().display()
                            ),
                        ));
                    }
                }
            }
            408 | 429 | 500..=599 => {
                return Err(answer::Answer::read(response)
                    .await
                    .by_status(&reference.whole(), "registry api"));
            }
            // Registries that answer `/v2/` oddly still get a chance to serve the request.
            _ => None,
        };
        let challenge = auth
            .as_ref()
            .and_then(|_| token::BearerChallenge::parse(&challenge));
        tracing::debug!(%registry, authenticated = auth.is_some(), version = ?version, "registry pinged");
        if let Ok(mut map) = self.inner.registries.lock() {
            map.insert(
                registry,
                RegistryState {
                    auth: auth.clone(),
                    challenge,
                },
            );
        }
        Ok((clients, auth))
    }

    /// The credentials for the registry of `reference`; helpers run off the async threads.
    async fn credential_for(
        &self,
        reference: &Reference,
    ) -> Result<Option<Credential>, RegistryError> {
        let inner = Arc::clone(&self.inner);
        let registry = reference.registry().to_string();
        let whole = reference.whole();
        tokio::task::spawn_blocking(move || inner.docker_config.credential_for(&registry))
            .await
            .map_err(|err| {
                RegistryError::unauthorized(&whole, format!("credential lookup: {err}"))
            })?
            .map_err(|err| RegistryError::unauthorized(&whole, err.to_string()))
    }
}
