// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Registry credentials from docker's `config.json`, the way docker and Kaniko read them:
//! `credHelpers` for one registry, then the `credsStore` default, then inline `auths` (`auth`
//! as base64 `user:pass`, `username`/`password`, `identitytoken`, `registrytoken`), with keys
//! written with or without a scheme and docker.io's aliases. Secrets are never logged: the
//! `Debug` output of every type here redacts them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use kaniko_retry::RetryPolicy;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

/// The server URL docker uses for Docker Hub in `config.json` and with credential helpers.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// `config.json` could not be read or parsed.
    #[error("docker config {path}: {message}")]
    Config {
        /// The file at fault.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// A credential helper failed (other than "credentials not found").
    #[error("credential helper docker-credential-{helper} for {registry}: {message}")]
    Helper {
        /// The helper's name (`docker-credential-<helper>`).
        helper: String,
        /// The registry it was asked about.
        registry: String,
        /// What went wrong.
        message: String,
    },
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name and password (or a personal access token as the password).
    Basic {
        /// The user name.
        username: String,
        /// The password; never printed.
        password: String,
    },
    /// An OAuth2 identity (refresh) token, sent as the password with docker's `<token>` user
    /// name unless the entry names a user.
    IdentityToken {
        /// The user name the entry names, if any.
        username: Option<String>,
        /// The token; never printed.
        token: String,
    },
    /// A bearer token for the registry itself.
    RegistryToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken { username, .. } => f
                .debug_struct("IdentityToken")
                .field("username", username)
                .field("token", &"<redacted>")
                .finish(),
            Credential::RegistryToken(_) => {
                f.debug_tuple("RegistryToken").field(&"<redacted>").finish()
            }
        }
    }
}

impl Credential {
    /// The oci-client form of these credentials.
    pub fn to_registry_auth(&self) -> RegistryAuth {
        match self {
            Credential::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credential::IdentityToken { username, token } => RegistryAuth::Basic(
                username.clone().unwrap_or_else(|| "<token>".to_string()),
                token.clone(),
            ),
            Credential::RegistryToken(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// One entry of `auths`.
#[derive(Default, Clone, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

#[derive(Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// A parsed docker `config.json`.
pub struct DockerConfig {
    path: PathBuf,
    auths: BTreeMap<String, AuthEntry>,
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
    helper_path: Option<OsString>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("path", &self.path)
            .field("auths", &self.auths.keys().collect::<Vec<_>>())
            .field("cred_helpers", &self.cred_helpers)
            .field("creds_store", &self.creds_store)
            .finish()
    }
}

/// The directory holding `config.json`: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn default_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker"))
}

/// The registry host a `config.json` key or a reference's registry names: scheme and path
/// dropped, lower case, and docker.io's aliases (`index.docker.io`, `registry-1.docker.io`,
/// `https://index.docker.io/v1/`) folded into `docker.io`.
pub fn normalize_registry(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        _ => host,
    }
}

/// The server URL handed to a credential helper for `registry`.
fn helper_server_url(registry: &str) -> String {
    if normalize_registry(registry) == "docker.io" {
        DOCKER_HUB_SERVER.to_string()
    } else {
        registry.to_string()
    }
}

impl DockerConfig {
    /// Reads `<dir>/config.json`, `dir` defaulting to [`default_config_dir`]. A missing file
    /// (or no home directory) is an empty configuration: anonymous access everywhere.
    pub fn load(dir: Option<&Path>) -> Result<Self, CredentialError> {
        let dir = match dir {
            Some(dir) => Some(dir.to_path_buf()),
            None => default_config_dir(),
        };
        let Some(dir) = dir else {
            return Ok(Self::empty(PathBuf::from("config.json")));
        };
        let path = dir.join("config.json");
        match std::fs::read(&path) {
            Ok(bytes) => Self::parse(&path, &bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::empty(path)),
            Err(err) => Err(CredentialError::Config {
                path,
                message: err.to_string(),
            }),
        }
    }

    /// Parses the bytes of a `config.json` read from `path` (named in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, CredentialError> {
        let file: ConfigFile =
            serde_json::from_slice(bytes).map_err(|err| CredentialError::Config {
                path: path.to_path_buf(),
                message: format!("invalid json: {err}"),
            })?;
        Ok(DockerConfig {
            path: path.to_path_buf(),
            auths: file.auths,
            cred_helpers: file.cred_helpers,
            creds_store: file.creds_store.filter(|s| !s.is_empty()),
            helper_path: None,
        })
    }

    fn empty(path: PathBuf) -> Self {
        DockerConfig {
            path,
            auths: BTreeMap::new(),
            cred_helpers: BTreeMap::new(),
            creds_store: None,
            helper_path: None,
        }
    }

    /// The `config.json` this configuration was read from (or would have been).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Searches credential helpers in `path` (a `PATH`-style list) instead of the process's
    /// `PATH`.
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> Self {
        self.helper_path = Some(path.into());
        self
    }

    /// The credentials for `registry` (a host like `docker.io` or `127.0.0.1:5000`): its
    /// `credHelpers` entry, else the `credsStore`, else its `auths` entry. `None` means
    /// anonymous access.
    pub fn credential_for(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let wanted = normalize_registry(registry);
        if let Some(helper) = find_key(&self.cred_helpers, registry, &wanted) {
            return self.run_helper(helper, registry);
        }
        if let Some(store) = &self.creds_store
            && let Some(credential) = self.run_helper(store, registry)?
        {
            return Ok(Some(credential));
        }
        match find_key(&self.auths, registry, &wanted) {
            Some(entry) => self.entry_credential(registry, entry),
            None => Ok(None),
        }
    }

    fn entry_credential(
        &self,
        registry: &str,
        entry: &AuthEntry,
    ) -> Result<Option<Credential>, CredentialError> {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        if let Some(token) = nonempty(&entry.registrytoken) {
            return Ok(Some(Credential::RegistryToken(token)));
        }
        if let Some(token) = nonempty(&entry.identitytoken) {
            return Ok(Some(Credential::IdentityToken {
                username: nonempty(&entry.username).filter(|u| u != "<token>"),
                token,
            }));
        }
        if let Some(auth) = nonempty(&entry.auth) {
            let bad = |why: &str| CredentialError::Config {
                path: self.path.clone(),
                message: format!("auths entry for {registry}: {why}"),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("auth is not valid base64"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad("auth is not utf-8"))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad("auth is not user:password"))?;
            return Ok(Some(Credential::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        match (nonempty(&entry.username), entry.password.clone()) {
            (Some(username), Some(password)) => Ok(Some(Credential::Basic { username, password })),
            _ => Ok(None),
        }
    }

    /// Runs `docker-credential-<helper> get` with the server URL on stdin. "credentials not
    /// found" is `None`, any other failure an error.
    fn run_helper(
        &self,
        helper: &str,
        registry: &str,
    ) -> Result<Option<Credential>, CredentialError> {
        let fail = |message: String| CredentialError::Helper {
            helper: helper.to_string(),
            registry: registry.to_string(),
            message,
        };
        let program = format!("docker-credential-{helper}");
        let mut command = Command::new(&program);
        command
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = &self.helper_path {
            command.env("PATH", path);
        }
        // A helper written just now may still be open for writing in a child another thread
        // forked (ETXTBSY): that passes in a moment, so retry a few times.
        let busy = RetryPolicy {
            max_attempts: 6,
            limit: None,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            jitter: false,
            quiet: true,
        };
        let what = format!("running {program}");
        let mut retrying = busy.start(&what);
        let mut child = loop {
            match command.spawn() {
                Err(err)
                    if err.kind() == std::io::ErrorKind::ExecutableFileBusy
                        && retrying.again_blocking(&err) => {}
                other => {
                    break other.map_err(|err| fail(format!("cannot run {program}: {err}")))?;
                }
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading its input closes the pipe: its exit status
            // and output say what went wrong, not the broken pipe.
            match stdin.write_all(helper_server_url(registry).as_bytes()) {
                Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(fail(format!("writing to {program}: {err}")));
                }
                _ => {}
            }
        }
        let output = child
            .wait_with_output()
            .map_err(|err| fail(format!("waiting for {program}: {err}")))?;
        if !output.status.success() {
            let said = format!(
                "{} {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            if said.to_ascii_lowercase().contains("credentials not found") {
                return Ok(None);
            }
            // Helper output on failure is an error message, not a secret.
            return Err(fail(format!("{}: {}", output.status, said.trim())));
        }
        #[derive(Deserialize)]
        struct HelperAnswer {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
            .map_err(|err| fail(format!("invalid json answer: {err}")))?;
        if answer.secret.is_empty() {
            return Ok(None);
        }
        if answer.username == "<token>" || answer.username.is_empty() {
            return Ok(Some(Credential::IdentityToken {
                username: None,
                token: answer.secret,
            }));
        }
        Ok(Some(Credential::Basic {
            username: answer.username,
            password: answer.secret,
        }))
    }
}

/// The value under the key naming `registry`: the exact key first, then any key that
/// normalises to the same host.
fn find_key<'a, V>(map: &'a BTreeMap<String, V>, registry: &str, wanted: &str) -> Option<&'a V> {
    map.get(registry).or_else(|| {
        map.iter()
            .find(|(key, _)| normalize_registry(key) == wanted)
            .map(|(_, value)| value)
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn config(json: &str) -> DockerConfig {
        DockerConfig::parse(Path::new("/cfg/config.json"), json.as_bytes()).unwrap()
    }

    fn basic(username: &str, password: &str) -> Option<Credential> {
        Some(Credential::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn keys_normalise_to_the_registry_host() {
        fn check(input: &str, expected: &str) {
            assert_eq!(normalize_registry(input), expected, "{input}");
        }
        check("https://index.docker.io/v1/", "docker.io");
        check("index.docker.io", "docker.io");
        check("registry-1.docker.io", "docker.io");
        check("docker.io", "docker.io");
        check("http://localhost:5000/v2/", "localhost:5000");
        check("Registry.Example.com", "registry.example.com");
        check("ghcr.io", "ghcr.io");
    }

    #[test]
    fn auths_entries_in_every_form() {
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{hub}"}},
                "http://127.0.0.1:5000/v2/": {{"username": "bob", "password": "s3cret"}},
                "acr.example.io": {{"username": "00000000-0000", "identitytoken": "refresh"}},
                "tok.example.io": {{"identitytoken": "idtok"}},
                "bearer.example.io": {{"registrytoken": "bt"}},
                "colon.example.io": {{"auth": "{colon}"}},
                "empty.example.io": {{}}
            }}}}"#,
            hub = b64("alice:pw"),
            colon = b64("u:pa:ss"),
        );
        let cfg = config(&json);
        fn check(cfg: &DockerConfig, registry: &str, expected: Option<Credential>) {
            assert_eq!(
                cfg.credential_for(registry).unwrap(),
                expected,
                "{registry}"
            );
        }
        check(&cfg, "docker.io", basic("alice", "pw"));
        check(&cfg, "index.docker.io", basic("alice", "pw"));
        check(&cfg, "127.0.0.1:5000", basic("bob", "s3cret"));
        check(
            &cfg,
            "acr.example.io",
            Some(Credential::IdentityToken {
                username: Some("00000000-0000".into()),
                token: "refresh".into(),
            }),
        );
        check(
            &cfg,
            "tok.example.io",
            Some(Credential::IdentityToken {
                username: None,
                token: "idtok".into(),
            }),
        );
        check(
            &cfg,
            "bearer.example.io",
            Some(Credential::RegistryToken("bt".into())),
        );
        check(&cfg, "colon.example.io", basic("u", "pa:ss"));
        check(&cfg, "empty.example.io", None);
        check(&cfg, "unknown.example.io", None);
        check(&cfg, "127.0.0.1:5001", None);
    }

    #[test]
    fn identity_tokens_become_basic_auth_with_the_docker_token_user() {
        let cred = Credential::IdentityToken {
            username: None,
            token: "t".into(),
        };
        assert_eq!(
            cred.to_registry_auth(),
            RegistryAuth::Basic("<token>".into(), "t".into())
        );
    }

    #[test]
    fn bad_config_files_are_errors_naming_the_file() {
        fn check(json: &str, expected: &str) {
            let err = match DockerConfig::parse(Path::new("/cfg/config.json"), json.as_bytes()) {
                Ok(cfg) => cfg.credential_for("r.io").unwrap_err(),
                Err(err) => err,
            };
            assert!(
                err.to_string()
                    .starts_with("docker config /cfg/config.json"),
                "{err}"
            );
            assert!(err.to_string().contains(expected), "{err}");
        }
        check("{not json", "invalid json");
        check(
            r#"{"auths": {"r.io": {"auth": "%%%"}}}"#,
            "auth is not valid base64",
        );
        check(
            &format!(
                r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
                b64("nocolon")
            ),
            "auth is not user:password",
        );
    }

    #[test]
    fn a_missing_config_file_means_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DockerConfig::load(Some(dir.path())).unwrap();
        assert_eq!(cfg.credential_for("docker.io").unwrap(), None);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let json = format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            b64("user:hunter2")
        );
        let cfg = config(&json);
        let cred = cfg.credential_for("r.io").unwrap();
        for shown in [format!("{cfg:?}"), format!("{cred:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains(&b64("user:hunter2")), "{shown}");
        }
        assert!(format!("{cred:?}").contains("user"));
        let token = Credential::RegistryToken("tok-secret".into());
        assert!(!format!("{token:?}").contains("tok-secret"));
    }

    /// Writes `docker-credential-<name>`: answers `registry.example.io` (and Docker Hub's
    /// server URL) with `user`/`secret` after recording the server URL it was asked for, and
    /// says "credentials not found" for anything else; `broken` always fails.
    fn fake_helpers(dir: &Path) -> OsString {
        let good = r#"#!/bin/sh
read -r server
echo "$server" >> "$(dirname "$0")/asked"
case "$server" in
  registry.example.io) echo '{"ServerURL":"registry.example.io","Username":"helper-user","Secret":"helper-pw"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"<token>","Secret":"hub-token"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#;
        let broken = "#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n";
        for (name, script) in [("good", good), ("broken", broken)] {
            let path = dir.join(format!("docker-credential-{name}"));
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut path = OsString::from(dir);
        path.push(":/usr/bin:/bin");
        path
    }

    #[test]
    fn credential_helpers_and_the_store_are_real_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = fake_helpers(dir.path());
        let json = format!(
            r#"{{"credHelpers": {{"registry.example.io": "good", "docker.io": "good", "bad.example.io": "broken"}},
                "auths": {{"inline.example.io": {{"auth": "{}"}}}}}}"#,
            b64("in:line")
        );
        let cfg = config(&json).with_helper_path(path.clone());
        assert_eq!(
            cfg.credential_for("registry.example.io").unwrap(),
            basic("helper-user", "helper-pw")
        );
        assert_eq!(
            cfg.credential_for("docker.io").unwrap(),
            Some(Credential::IdentityToken {
                username: None,
                token: "hub-token".into()
            })
        );
        let err = cfg.credential_for("bad.example.io").unwrap_err();
        assert!(
            err.to_string().contains("docker-credential-broken"),
            "{err}"
        );
        assert!(err.to_string().contains("keychain locked"), "{err}");
        assert_eq!(
            cfg.credential_for("inline.example.io").unwrap(),
            basic("in", "line")
        );
        let asked = std::fs::read_to_string(dir.path().join("asked")).unwrap();
        assert_eq!(asked, "registry.example.io\nhttps://index.docker.io/v1/\n");

        // credsStore applies to every registry; "not found" falls back to the inline entry.
        let json = format!(
            r#"{{"credsStore": "good", "auths": {{"inline.example.io": {{"auth": "{}"}}}}}}"#,
            b64("in:line")
        );
        let cfg = config(&json).with_helper_path(path.clone());
        assert_eq!(
            cfg.credential_for("registry.example.io").unwrap(),
            basic("helper-user", "helper-pw")
        );
        assert_eq!(
            cfg.credential_for("inline.example.io").unwrap(),
            basic("in", "line")
        );
        assert_eq!(cfg.credential_for("other.example.io").unwrap(), None);

        let cfg = config(r#"{"credsStore": "missing"}"#).with_helper_path(path);
        let err = cfg.credential_for("registry.example.io").unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot run docker-credential-missing"),
            "{err}"
        );
    }
}
