// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Material for a secured nats-server: a TLS CA with a server certificate for 127.0.0.1 (IP
//! SAN) and a client certificate, made with the `openssl` CLI, and nkey users made with the
//! `nkeys` crate; plus the `authorization` and `tls` config blocks that use them (for
//! [`crate::Nats::start_with_config`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

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
