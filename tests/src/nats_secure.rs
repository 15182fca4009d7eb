// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Material for a secured nats-server: a TLS CA with a server certificate for 127.0.0.1 (IP
//! SAN) and a client certificate, made with the `openssl` CLI, nkey users made with the
//! `nkeys` crate, and an operator, its accounts and their users' `.creds` files (JWTs signed
//! here, as `nsc` would); plus the `authorization`, `tls` and operator-mode config blocks that
//! use them (for [`crate::Nats::start_with_config`]). For the permission layout of
//! `coordinator nats-config`: the seeds it writes ([`read_seed`]) and a client that records
//! the errors the server sends it ([`Watched`]: a permissions violation is one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::Digest;

/// PEM files of a throwaway CA, a server certificate for `127.0.0.1` and a client
/// certificate, all signed by the CA (P-256 keys, PKCS#8).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`).
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
    /// The client certificate (extended key usage `clientAuth`).
    pub client_cert: PathBuf,
    /// The client key.
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Generates the CA and both certificates under `dir` with `openssl`.
    pub fn generate(dir: &Path) -> anyhow::Result<TlsFiles> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        };
        let ca_key = dir.join("ca-key.pem");
        genkey(&ca_key)?;
        openssl(&[
            "req".as_ref(),
            "-x509".as_ref(),
            "-new".as_ref(),
            "-key".as_ref(),
            ca_key.as_os_str(),
            "-subj".as_ref(),
            "/CN=kaniko-rs test CA".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-addext".as_ref(),
            "basicConstraints=critical,CA:TRUE".as_ref(),
            "-addext".as_ref(),
            "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
            "-out".as_ref(),
            files.ca.as_os_str(),
        ])?;
        let leaf = |name: &str, key: &Path, cert: &Path, extensions: &str| -> anyhow::Result<()> {
            genkey(key)?;
            let csr = dir.join(format!("{name}.csr"));
            let ext = dir.join(format!("{name}.ext"));
            std::fs::write(&ext, extensions)
                .with_context(|| format!("writing {}", ext.display()))?;
            openssl(&[
                "req".as_ref(),
                "-new".as_ref(),
                "-key".as_ref(),
                key.as_os_str(),
                "-subj".as_ref(),
                format!("/CN={name}").as_ref(),
                "-out".as_ref(),
                csr.as_os_str(),
            ])?;
            openssl(&[
                "x509".as_ref(),
                "-req".as_ref(),
                "-in".as_ref(),
                csr.as_os_str(),
                "-CA".as_ref(),
                files.ca.as_os_str(),
                "-CAkey".as_ref(),
                ca_key.as_os_str(),
                "-CAcreateserial".as_ref(),
                "-days".as_ref(),
                "2".as_ref(),
                "-extfile".as_ref(),
                ext.as_os_str(),
                "-out".as_ref(),
                cert.as_os_str(),
            ])
        };
        leaf(
            "kaniko-nats-server",
            &files.server_key,
            &files.server_cert,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )?;
        leaf(
            "kaniko-nats-client",
            &files.client_key,
            &files.client_cert,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        )?;
        Ok(files)
    }

    /// The server's `tls { ... }` block; `verify` asks every client for a certificate signed
    /// by the CA (mutual TLS).
    pub fn server_block(&self, verify: bool) -> String {
        format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: {verify}\n  timeout: 2\n}}\n",
            self.server_cert.display().to_string(),
            self.server_key.display().to_string(),
            self.ca.display().to_string(),
        )
    }
}

fn genkey(path: &Path) -> anyhow::Result<()> {
    openssl(&[
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "EC".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-out".as_ref(),
        path.as_os_str(),
    ])
}

fn openssl(args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .context("running openssl (bash hack/deps.sh installs it)")?;
    anyhow::ensure!(
        output.status.success(),
        "openssl {:?}: {}\n{}",
        args,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// A freshly generated nkey user: its seed (`SU...`, the secret) and public key (`U...`).
#[derive(Clone)]
pub struct NkeyUser {
    /// The seed, what the client holds.
    pub seed: String,
    /// The public key, what the server's `authorization` block lists.
    pub public: String,
}

impl NkeyUser {
    /// A new random user key pair.
    pub fn generate() -> anyhow::Result<NkeyUser> {
        let pair = nkeys::KeyPair::new_user();
        Ok(NkeyUser {
            seed: pair
                .seed()
                .map_err(|err| anyhow::anyhow!("nkey seed: {err}"))?,
            public: pair.public_key(),
        })
    }
}

impl std::fmt::Debug for NkeyUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NkeyUser")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The seed in an nkey seed file (`coordinator nats-config --keys DIR` writes them).
pub fn read_seed(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let seed = text.trim().to_string();
    anyhow::ensure!(
        seed.starts_with("SU"),
        "{} holds no user seed",
        path.display()
    );
    Ok(seed)
}

/// A client authenticated with an nkey seed that records every error the server sends it
/// (`permissions violation for publish to ...`, `... for subscription to ...`).
pub struct Watched {
    /// The connection.
    pub client: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    /// Connects to `url` as the nkey user of `seed`, with reply inboxes under `inbox` when
    /// given (the layout gives each user its own).
    pub async fn connect(url: &str, seed: &str, inbox: Option<&str>) -> anyhow::Result<Watched> {
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let recorded = errors.clone();
        let mut options = async_nats::ConnectOptions::with_nkey(seed.to_string())
            .request_timeout(Some(Duration::from_secs(3)))
            .event_callback(move |event| {
                let recorded = recorded.clone();
                async move {
                    if let async_nats::Event::ServerError(err) = event
                        && let Ok(mut list) = recorded.lock()
                    {
                        list.push(err.to_string());
                    }
                }
            });
        if let Some(inbox) = inbox {
            options = options.custom_inbox_prefix(inbox);
        }
        let client = options
            .connect(url)
            .await
            .with_context(|| format!("connecting to {url} with an nkey"))?;
        Ok(Watched { client, errors })
    }

    /// Every server error so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .map(|list| list.clone())
            .unwrap_or_default()
    }

    /// The first server error containing `needle` (case-insensitive) within `within`.
    pub async fn error_containing(&self, needle: &str, within: Duration) -> Option<String> {
        let needle = needle.to_lowercase();
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = self
                .errors()
                .into_iter()
                .find(|e| e.to_lowercase().contains(&needle))
            {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `authorization { token: ... }`.
pub fn token_block(token: &str) -> String {
    format!("authorization {{\n  token: {token:?}\n}}\n")
}

/// `authorization { users = [ {user, password} ] }`.
pub fn password_block(user: &str, password: &str) -> String {
    format!(
        "authorization {{\n  users = [\n    {{user: {user:?}, password: {password:?}}}\n  ]\n}}\n"
    )
}

/// `authorization { users = [ {nkey} ] }` listing each public key.
pub fn nkey_block(users: &[&NkeyUser]) -> String {
    let entries: Vec<String> = users
        .iter()
        .map(|user| format!("    {{nkey: {:?}}}\n", user.public))
        .collect();
    format!(
        "authorization {{\n  users = [\n{}  ]\n}}\n",
        entries.concat()
    )
}

/// An operator (the root of trust in operator mode): its key, its self-signed JWT, and its
/// system account (nats-server 2.9 will not start JetStream in operator mode without one).
#[derive(Debug)]
pub struct Operator {
    key: nkeys::KeyPair,
    /// The operator JWT, what the server's `operator:` setting holds.
    pub jwt: String,
    /// The system account (no JetStream), preloaded with every server block.
    pub system: Account,
}

impl Operator {
    /// A new operator named `name`, with its system account `SYS`.
    pub fn generate(name: &str) -> anyhow::Result<Operator> {
        let key = nkeys::KeyPair::new_operator();
        let system = signed_account(&key, "SYS", &json!({}))?;
        let jwt = sign_jwt(
            &key,
            &key.public_key(),
            name,
            json!({"system_account": system.public, "type": "operator", "version": 2}),
        )?;
        Ok(Operator { key, jwt, system })
    }

    /// A new account named `name`, signed by this operator, with unlimited connections,
    /// subscriptions and JetStream (memory and disk storage, streams, consumers: the build
    /// needs streams, KV buckets and the object store).
    pub fn account(&self, name: &str) -> anyhow::Result<Account> {
        signed_account(
            &self.key,
            name,
            &json!({"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}),
        )
    }

    /// The server config of operator mode: this operator trusted, its system account and
    /// `accounts` (only those) preloaded into a memory resolver.
    pub fn server_block(&self, accounts: &[&Account]) -> String {
        let preload: Vec<String> = std::iter::once(&self.system)
            .chain(accounts.iter().copied())
            .map(|account| format!("  {}: {:?}\n", account.public, account.jwt))
            .collect();
        format!(
            "operator: {:?}\nsystem_account: {}\nresolver: MEMORY\n\
             resolver_preload: {{\n{}}}\n",
            self.jwt,
            self.system.public,
            preload.concat()
        )
    }
}

/// An account named `name` signed by `operator`: unlimited connections, subscriptions,
/// imports and exports, plus the `jetstream` limits (none: JetStream disabled).
fn signed_account(
    operator: &nkeys::KeyPair,
    name: &str,
    jetstream: &serde_json::Value,
) -> anyhow::Result<Account> {
    let key = nkeys::KeyPair::new_account();
    let public = key.public_key();
    let mut limits = json!({
        "subs": -1, "data": -1, "payload": -1,
        "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
    });
    if let (Some(limits), Some(jetstream)) = (limits.as_object_mut(), jetstream.as_object()) {
        limits.extend(jetstream.clone());
    }
    let jwt = sign_jwt(
        operator,
        &public,
        name,
        json!({"limits": limits, "type": "account", "version": 2}),
    )?;
    Ok(Account { key, public, jwt })
}

/// An account: its key, public key and the JWT its operator signed.
#[derive(Debug)]
pub struct Account {
    key: nkeys::KeyPair,
    /// The public key (`A...`).
    pub public: String,
    /// The account JWT.
    pub jwt: String,
}

impl Account {
    /// A new user named `name` of this account, allowed to publish and subscribe anywhere,
    /// written as a `.creds` file at `path`.
    pub fn user_creds(&self, name: &str, path: &Path) -> anyhow::Result<CredsUser> {
        let key = nkeys::KeyPair::new_user();
        let seed = key
            .seed()
            .map_err(|err| anyhow::anyhow!("nkey seed: {err}"))?;
        let jwt = sign_jwt(
            &self.key,
            &key.public_key(),
            name,
            json!({
                "pub": {}, "sub": {},
                "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2,
            }),
        )?;
        let text = format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        );
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(CredsUser {
            path: path.to_path_buf(),
            seed,
        })
    }
}

/// A user's `.creds` file and the seed it holds.
#[derive(Clone)]
pub struct CredsUser {
    /// The `.creds` file (user JWT, then seed).
    pub path: PathBuf,
    /// The seed (`SU...`), the secret inside the file.
    pub seed: String,
}

impl std::fmt::Debug for CredsUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredsUser")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A NATS JWT (`ed25519-nkey`) about `subject`, signed by `issuer`, with `nats` as its
/// `nats` claims. Its `jti` is the base32 SHA-512/256 of the standard claims, as nats-io/jwt
/// computes it.
fn sign_jwt(
    issuer: &nkeys::KeyPair,
    subject: &str,
    name: &str,
    nats: serde_json::Value,
) -> anyhow::Result<String> {
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs();
    let iss = issuer.public_key();
    // Field order of nats-io/jwt's ClaimsData: iat, iss, name, sub (the others are empty).
    let standard = format!(
        "{{\"iat\":{iat},\"iss\":{},\"name\":{},\"sub\":{}}}",
        serde_json::to_string(&iss)?,
        serde_json::to_string(name)?,
        serde_json::to_string(subject)?,
    );
    let jti = base32_no_pad(&sha2::Sha512_256::digest(standard.as_bytes()));
    let claims = json!({
        "jti": jti, "iat": iat, "iss": iss, "name": name, "sub": subject, "nats": nats,
    });
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
    let signed = format!("{header}.{payload}");
    let signature = issuer
        .sign(signed.as_bytes())
        .map_err(|err| anyhow::anyhow!("signing a JWT: {err}"))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// RFC 4648 base32 (upper-case alphabet), without padding.
fn base32_no_pad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_no_pad(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn a_user_jwt_is_signed_by_its_account() {
        let operator = Operator::generate("op").expect("operator");
        let account = operator.account("acct").expect("account");
        let dir = tempfile::tempdir().expect("tempdir");
        let user = account
            .user_creds("u", &dir.path().join("u.creds"))
            .expect("creds");
        let text = std::fs::read_to_string(&user.path).expect("creds file");
        let jwt = text.lines().nth(1).expect("jwt line");
        let (signed, signature) = jwt.rsplit_once('.').expect("three parts");
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(signed.split('.').nth(1).expect("payload"))
                .expect("base64url"),
        )
        .expect("json");
        assert_eq!(claims["iss"], account.public.as_str(), "{claims}");
        assert_eq!(claims["nats"]["type"], "user", "{claims}");
        assert_eq!(claims["jti"].as_str().expect("jti").len(), 52, "{claims}");
        let verifier = nkeys::KeyPair::from_public_key(&account.public).expect("public key");
        verifier
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).expect("sig"),
            )
            .expect("the account's signature verifies");
        assert!(text.contains(&user.seed), "the seed block");
    }
}
