// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Signing and verification keys, in the formats cosign reads and writes.
//!
//! A private key is either cosign's encrypted key (PEM `ENCRYPTED SIGSTORE PRIVATE KEY` or,
//! from older cosign, `ENCRYPTED COSIGN PRIVATE KEY`: JSON `{kdf: {name: "scrypt", params:
//! {N, r, p}, salt}, cipher: {name: "nacl/secretbox", nonce}, ciphertext}`, the box key
//! derived from the password with scrypt, the plaintext a PKCS#8 DER key) or a plain PKCS#8
//! PEM (`PRIVATE KEY`). Only ECDSA P-256 keys sign. A public key is a PEM `PUBLIC KEY`
//! (SubjectPublicKeyInfo), what `cosign generate-key-pair` writes to `cosign.pub`.
//!
//! The password and the key never leave this module: [`SigningKey`]'s `Debug` shows only the
//! public key's fingerprint, and no error quotes the password or key bytes.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use serde::Deserialize;
use zeroize::Zeroizing;

/// cosign's current encrypted private key PEM label.
pub const SIGSTORE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label older cosign releases wrote.
pub const COSIGN_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// A plain PKCS#8 private key.
pub const PKCS8_LABEL: &str = "PRIVATE KEY";
/// A SubjectPublicKeyInfo public key.
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// The key files are small; anything larger is not a key.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// What can go wrong loading a key. Messages name the file, never the password or key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read the key {path}: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not a PEM file of a kind this module reads.
    #[error("the key {path} is not {expected}: {reason}")]
    Format {
        /// The key file.
        path: PathBuf,
        /// What was expected.
        expected: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An encrypted key whose password is wrong (or missing).
    #[error(
        "cannot decrypt the cosign key {path}: {}",
        if *.given { "wrong password (--cosign-key-password or COSIGN_PASSWORD)" } else { "it is encrypted and no password was given (--cosign-key-password or COSIGN_PASSWORD)" }
    )]
    WrongPassword {
        /// The key file.
        path: PathBuf,
        /// Whether a password was given at all.
        given: bool,
    },
}

/// A password, wiped from memory when dropped; `Debug` never shows it.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps `password`.
    pub fn new(password: impl Into<String>) -> Self {
        Password(Zeroizing::new(password.into()))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(****)")
    }
}

/// An ECDSA P-256 private key that signs with SHA-256.
#[derive(Clone)]
pub struct SigningKey {
    key: p256::ecdsa::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key().fingerprint())
    }
}

impl PartialEq for SigningKey {
    /// Two keys are the same when their public keys are.
    fn eq(&self, other: &Self) -> bool {
        self.public_key() == other.public_key()
    }
}

impl Eq for SigningKey {}

impl SigningKey {
    /// Loads the private key at `path`: cosign's encrypted format (decrypted with `password`;
    /// none given tries the empty password cosign allows) or a plain PKCS#8 PEM.
    pub fn load(path: &Path, password: Option<&Password>) -> Result<SigningKey, KeyError> {
        let text = read_small(path)?;
        let format = |reason: String| KeyError::Format {
            path: path.to_path_buf(),
            expected: "a cosign private key (ENCRYPTED SIGSTORE PRIVATE KEY, ENCRYPTED COSIGN PRIVATE KEY or a PKCS#8 PRIVATE KEY PEM)",
            reason,
        };
        let (label, body) = pem_decode(&text).map_err(format)?;
        let der = match label.as_str() {
            SIGSTORE_KEY_LABEL | COSIGN_KEY_LABEL => {
                let empty = Password::new("");
                decrypt(&body, password.unwrap_or(&empty)).map_err(|failure| match failure {
                    Decrypt::Format(reason) => format(reason),
                    Decrypt::WrongPassword => KeyError::WrongPassword {
                        path: path.to_path_buf(),
                        given: password.is_some(),
                    },
                })?
            }
            PKCS8_LABEL => body,
            other => return Err(format(format!("its PEM label is {other:?}"))),
        };
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der)
            .map_err(|err| format(format!("not an ECDSA P-256 PKCS#8 key ({err})")))?;
        Ok(SigningKey { key })
    }

    /// A key from its raw scalar, for unit tests.
    #[cfg(test)]
    pub(crate) fn from_secret_bytes_for_tests(bytes: &[u8; 32]) -> SigningKey {
        SigningKey {
            key: p256::ecdsa::SigningKey::from_slice(bytes).unwrap(),
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
        }
    }

    /// The ASN.1 DER ECDSA signature of `message` (SHA-256), base64: what cosign puts in
    /// `dev.cosignproject.cosign/signature`.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        let signature: p256::ecdsa::Signature = self.key.sign(message);
        STANDARD.encode(signature.to_der().as_bytes())
    }
}

/// An ECDSA P-256 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: p256::ecdsa::VerifyingKey,
}

impl PublicKey {
    /// Loads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) from `path`, as `cosign.pub`.
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        let text = read_small(path)?;
        PublicKey::from_pem(&text).map_err(|reason| KeyError::Format {
            path: path.to_path_buf(),
            expected: "an ECDSA P-256 PUBLIC KEY PEM",
            reason,
        })
    }

    /// Parses a PEM `PUBLIC KEY`.
    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        let (label, der) = pem_decode(text)?;
        if label != PUBLIC_KEY_LABEL {
            return Err(format!("its PEM label is {label:?}"));
        }
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(&der)
            .map_err(|err| format!("not an ECDSA P-256 key ({err})"))?;
        Ok(PublicKey { key })
    }

    /// The PEM `PUBLIC KEY`, as cosign writes `cosign.pub`.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// Whether `signature_base64` (base64 of an ASN.1 DER ECDSA signature) signs `message`.
    pub fn verifies(&self, message: &[u8], signature_base64: &str) -> bool {
        let Ok(der) = STANDARD.decode(signature_base64.trim()) else {
            return false;
        };
        let Ok(signature) = p256::ecdsa::Signature::from_der(&der) else {
            return false;
        };
        self.key.verify(message, &signature).is_ok()
    }

    /// `sha256:<hex>` of the DER public key, short enough for a log line.
    pub fn fingerprint(&self) -> String {
        let der = self
            .key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        kaniko_common::oci::sha256_digest(&der)
    }
}

fn read_small(path: &Path) -> Result<String, KeyError> {
    let read = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_KEY_FILE), &mut text)
        .map_err(read)?;
    Ok(text)
}

/// The label and decoded body of the first PEM block in `text`.
fn pem_decode(text: &str) -> Result<(String, Zeroizing<Vec<u8>>), String> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or("no PEM \"-----BEGIN\" line")?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or("a malformed PEM BEGIN line")?;
    let label = rest[..label_end].to_string();
    let body_start = &rest[label_end + 5..];
    let end_line = format!("-----END {label}-----");
    let body_end = body_start
        .find(&end_line)
        .ok_or_else(|| format!("no {end_line:?} line"))?;
    let body: String = body_start[..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD
        .decode(body)
        .map_err(|err| format!("the PEM body is not base64 ({err})"))?;
    Ok((label, Zeroizing::new(bytes)))
}

enum Decrypt {
    Format(String),
    WrongPassword,
}

#[derive(Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// Decrypts cosign's JSON key envelope into the PKCS#8 DER key. The scrypt parameters are
/// cosign's (N 2^15 or 2^16, r 8, p 1): anything else is refused rather than spending
/// unbounded memory on a hostile file.
fn decrypt(json: &[u8], password: &Password) -> Result<Zeroizing<Vec<u8>>, Decrypt> {
    let bad = |reason: String| Decrypt::Format(reason);
    let envelope: Encrypted = serde_json::from_slice(json)
        .map_err(|err| bad(format!("the encrypted key is not cosign's JSON ({err})")))?;
    if envelope.kdf.name != "scrypt" {
        return Err(bad(format!("unknown kdf {:?}", envelope.kdf.name)));
    }
    if envelope.cipher.name != "nacl/secretbox" {
        return Err(bad(format!("unknown cipher {:?}", envelope.cipher.name)));
    }
    let KdfParams { n, r, p } = envelope.kdf.params;
    let log_n = match n {
        32768 => 15,
        65536 => 16,
        other => return Err(bad(format!("unexpected scrypt N {other}"))),
    };
    if (r, p) != (8, 1) {
        return Err(bad(format!("unexpected scrypt r {r} and p {p}")));
    }
    let decode = |what: &str, value: &str| {
        STANDARD
            .decode(value)
            .map_err(|err| bad(format!("{what} is not base64 ({err})")))
    };
    let salt = decode("the salt", &envelope.kdf.salt)?;
    let nonce = decode("the nonce", &envelope.cipher.nonce)?;
    let ciphertext = decode("the ciphertext", &envelope.ciphertext)?;
    if nonce.len() != 24 {
        return Err(bad(format!("the nonce is {} bytes, not 24", nonce.len())));
    }
    let params =
        scrypt::Params::new(log_n, r, p).map_err(|err| bad(format!("scrypt parameters: {err}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.bytes(), &salt, &params, key.as_mut())
        .map_err(|err| bad(format!("scrypt: {err}")))?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(key.as_ref())
        .map_err(|err| bad(format!("secretbox key: {err}")))?;
    #[allow(deprecated)]
    let nonce = crypto_secretbox::Nonce::from_slice(&nonce);
    cipher
        .decrypt(nonce, ciphertext.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| Decrypt::WrongPassword)
}

/// Encrypts a PKCS#8 DER key the way `cosign generate-key-pair` does (scrypt N 2^15, r 8,
/// p 1, a random 32-byte salt; nacl/secretbox with a random nonce) and returns the PEM
/// `ENCRYPTED SIGSTORE PRIVATE KEY`: for tests and tools that write keys cosign reads.
pub fn encrypt_to_pem(pkcs8_der: &[u8], password: &Password) -> Result<String, String> {
    use rand::RngCore;
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut salt);
    rand::rng().fill_bytes(&mut nonce);
    let params = scrypt::Params::new(15, 8, 1).map_err(|err| err.to_string())?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.bytes(), &salt, &params, key.as_mut()).map_err(|e| e.to_string())?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(key.as_ref())
        .map_err(|err| err.to_string())?;
    #[allow(deprecated)]
    let nonce_array = crypto_secretbox::Nonce::from_slice(&nonce);
    let ciphertext = cipher
        .encrypt(nonce_array, pkcs8_der)
        .map_err(|err| err.to_string())?;
    let json = serde_json::json!({
        "kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": STANDARD.encode(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": STANDARD.encode(nonce)},
        "ciphertext": STANDARD.encode(ciphertext),
    });
    let body = STANDARD.encode(json.to_string());
    let mut pem = format!("-----BEGIN {SIGSTORE_KEY_LABEL}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {SIGSTORE_KEY_LABEL}-----\n"));
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-256 key in PKCS#8 PEM, made for these tests with `openssl genpkey`.
    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn pkcs8_pem(key: &p256::ecdsa::SigningKey) -> String {
        use p256::pkcs8::EncodePrivateKey;
        key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
    }

    fn test_key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn pkcs8_keys_sign_what_their_public_key_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "key.pem", &pkcs8_pem(&test_key()));
        let key = SigningKey::load(&path, None).unwrap();
        let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        let signature = key.sign_base64(b"payload");
        assert!(public.verifies(b"payload", &signature));
        assert!(!public.verifies(b"other", &signature));
        assert!(!public.verifies(b"payload", "not base64!"));
        // Debug shows the fingerprint, never the key.
        let debug = format!("{key:?}");
        assert!(debug.contains("sha256:"), "{debug}");
        assert!(!debug.contains(&hex_of(&[7u8; 32])), "{debug}");
        assert_eq!(format!("{:?}", Password::new("hunter2")), "Password(****)");
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn encrypted_cosign_keys_load_with_the_right_password_only() {
        use p256::pkcs8::EncodePrivateKey;
        let dir = tempfile::tempdir().unwrap();
        let der = test_key().to_pkcs8_der().unwrap();
        let right = Password::new("correct horse");
        let pem = encrypt_to_pem(der.as_bytes(), &right).unwrap();
        for label in [SIGSTORE_KEY_LABEL, COSIGN_KEY_LABEL] {
            let path = write(
                dir.path(),
                "cosign.key",
                &pem.replace(SIGSTORE_KEY_LABEL, label),
            );
            let key = SigningKey::load(&path, Some(&right)).unwrap();
            assert_eq!(
                key.public_key(),
                SigningKey::from_secret_bytes_for_tests(&[7u8; 32]).public_key()
            );
            let err = SigningKey::load(&path, Some(&Password::new("battery staple")))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("wrong password") && err.contains("cosign.key"),
                "{err}"
            );
            assert!(!err.contains("battery") && !err.contains("horse"), "{err}");
            let err = SigningKey::load(&path, None).unwrap_err().to_string();
            assert!(err.contains("no password was given"), "{err}");
        }
        // An empty password is a password too, as in cosign.
        let empty = encrypt_to_pem(der.as_bytes(), &Password::new("")).unwrap();
        let path = write(dir.path(), "empty.key", &empty);
        assert!(SigningKey::load(&path, None).is_ok());
    }

    #[test]
    fn bad_key_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fn check(path: &Path, needle: &str) {
            let err = SigningKey::load(path, None).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
        check(&dir.path().join("missing.key"), "cannot read");
        check(&write(dir.path(), "a", "hello"), "no PEM");
        check(
            &write(
                dir.path(),
                "b",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ),
            "\"CERTIFICATE\"",
        );
        check(
            &write(
                dir.path(),
                "c",
                "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
            ),
            "not base64",
        );
        let json = STANDARD.encode(br#"{"kdf":{"name":"scrypt","params":{"N":1048576,"r":8,"p":1},"salt":""},"cipher":{"name":"nacl/secretbox","nonce":""},"ciphertext":""}"#);
        check(
            &write(
                dir.path(),
                "d",
                &format!(
                    "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{json}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
                ),
            ),
            "unexpected scrypt N 1048576",
        );
    }
}
