// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Signing (docs/signing.md) end to end against the real docker-registry, which stores
//! `subject` but has no referrers API, so the OCI 1.1 fallback tag `sha256-<hex>` is what
//! gets written and read. A key pair made with openssl, the private key encrypted in cosign's
//! format: a signed two-platform build (local driver, cross-safe Dockerfile) verifies with
//! the public key, for the index and for each platform; another key is refused as the wrong
//! key; a wrong password fails before anything is pushed; the tag moved to an unsigned image
//! has no signature. Neither the password nor the private key appears in any output or in
//! anything pushed.
//!
//! `sbom`: the SBOMs `--sbom` attaches (docs/signing.md, "SBOMs").
//! `sigstore`: the sigstore crate, an independent verifier, against our signatures and keys.
//! `fleet`: fleet builds signed by `coordinator serve`'s key when they ask.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kaniko_tests::Registry;
use kaniko_tests::fixture::push_busybox;

use crate::fleet::platforms;
use crate::local_driver::describe;

mod fleet;
mod sbom;
mod sigstore;

const PASSWORD: &str = "tr0ub4dor&3-signing";

struct Keys {
    encrypted: PathBuf,
    public: PathBuf,
    other_public: PathBuf,
    /// The private key's PKCS#8 DER and its PEM body lines: what must never leak.
    secrets: Vec<Vec<u8>>,
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(output.status.success(), "openssl {args:?}: {output:?}");
}

fn keys(dir: &Path) -> Keys {
    let path = |name: &str| dir.join(name).to_str().expect("utf-8").to_string();
    for name in ["key", "other"] {
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &path(&format!("{name}.pem")),
        ]);
        openssl(&[
            "pkey",
            "-in",
            &path(&format!("{name}.pem")),
            "-pubout",
            "-out",
            &path(&format!("{name}.pub")),
        ]);
    }
    // PKCS#8 DER (`pkey -outform DER` writes SEC1 for EC keys in OpenSSL 3.0).
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        &path("key.pem"),
        "-outform",
        "DER",
        "-out",
        &path("key.der"),
    ]);
    let der = std::fs::read(dir.join("key.der")).expect("der");
    let encrypted = kaniko_sign::keys::encrypt_to_pem(&der, &kaniko_sign::Password::new(PASSWORD))
        .expect("encrypt");
    std::fs::write(dir.join("cosign.key"), encrypted).expect("cosign.key");
    let pem = std::fs::read_to_string(dir.join("key.pem")).expect("pem");
    let mut secrets = vec![der, PASSWORD.as_bytes().to_vec()];
    secrets.extend(
        pem.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(|l| l.as_bytes().to_vec()),
    );
    Keys {
        encrypted: dir.join("cosign.key"),
        public: dir.join("key.pub"),
        other_public: dir.join("other.pub"),
        secrets,
    }
}

fn coordinator(registry: &Registry, args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(kaniko_tests::workspace_binary("coordinator"));
    command
        .env_remove("NATS_URL")
        .env_remove("KANIKO_DRIVER")
        .env_remove("COSIGN_PASSWORD")
        // Every log line, debug ones included, is checked for secrets below.
        .env("RUST_LOG", "debug")
        .args(args)
        .args(["--insecure-registry", &registry.host()]);
    if let Some(password) = password {
        command.env("COSIGN_PASSWORD", password);
    }
    command.output().expect("coordinator")
}

/// The tags of `repository` as skopeo lists them (JSON).
fn tags(registry: &Registry, repository: &str) -> String {
    let output = Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{}/{repository}", registry.host()))
        .output()
        .expect("skopeo");
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A registry with the busybox fixture, a scratch directory with the keys, and a context
/// whose Dockerfile is `FROM <busybox>` followed by `body`.
struct Setup {
    registry: Registry,
    dir: tempfile::TempDir,
    keys: Keys,
    context: PathBuf,
}

async fn setup(body: &str) -> Setup {
    kaniko_tests::init_test_tracing();
    let registry = Registry::start().expect("registry");
    push_busybox(&registry, "busybox").await.expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys(dir.path());
    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).expect("context");
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {}/busybox:latest\n{body}", registry.host()),
    )
    .expect("Dockerfile");
    Setup {
        registry,
        dir,
        keys,
        context,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_two_platform_build_verifies_with_its_key_only() {
    let (native, foreign) = platforms();
    let Setup {
        registry,
        dir,
        keys,
        context,
    } = setup("COPY hello.txt /hello.txt\nLABEL signed=yes\n").await;
    std::fs::write(context.join("hello.txt"), "signed\n").expect("hello");
    let destination = format!("{}/app:v1", registry.host());
    let platforms = format!("{native},{foreign}");
    let key_path = keys.encrypted.to_str().expect("utf-8");
    let context_arg = context.to_str().expect("utf-8");
    let submit = |extra: &[&str], password: Option<&str>| {
        let mut args = vec![
            "submit",
            "--driver",
            "local",
            "--context",
            context_arg,
            "--destination",
            &destination,
            "--multi-platform",
            &platforms,
            "--timeout",
            "180",
        ];
        args.extend_from_slice(extra);
        coordinator(&registry, &args, password)
    };
    let mut outputs = Vec::new();

    // A wrong password fails before anything is built or pushed, and is not echoed.
    let wrong = submit(
        &["--sign-images", "--cosign-key-path", key_path],
        Some("not-the-password"),
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", describe(&wrong));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("wrong password"), "{}", describe(&wrong));
    assert!(!stderr.contains("not-the-password"), "{}", describe(&wrong));
    assert!(
        !registry
            .storage_dir()
            .join("docker/registry/v2/repositories/app")
            .exists(),
        "nothing pushed with a wrong password"
    );

    let digest_file = dir.path().join("digest");
    let signed = submit(
        &[
            "--sign-images=true",
            "--cosign-key-path",
            key_path,
            "--digest-file",
            digest_file.to_str().expect("utf-8"),
        ],
        Some(PASSWORD),
    );
    assert!(signed.status.success(), "{}", describe(&signed));
    let index = std::fs::read_to_string(&digest_file).expect("digest file");
    outputs.push(signed);

    let public = keys.public.to_str().expect("utf-8");
    let verify = |key: &str, extra: &[&str]| {
        let mut args = vec!["verify", destination.as_str(), "--key", key];
        args.extend_from_slice(extra);
        coordinator(&registry, &args, None)
    };
    let good = verify(public, &[]);
    assert!(good.status.success(), "{}", describe(&good));
    assert!(
        String::from_utf8_lossy(&good.stdout).contains(index.trim()),
        "{}",
        describe(&good)
    );
    for platform in [native.to_string(), foreign.to_string()] {
        let child = verify(public, &["--platform", &platform]);
        assert!(child.status.success(), "{platform}: {}", describe(&child));
        outputs.push(child);
    }
    outputs.push(good);

    // The fallback referrers tag and cosign's tag are both there.
    let hex = index.trim().trim_start_matches("sha256:");
    let tags = tags(&registry, "app");
    assert!(tags.contains(&format!("\"sha256-{hex}\"")), "{tags}");
    assert!(tags.contains(&format!("\"sha256-{hex}.sig\"")), "{tags}");
    let referrers = coordinator(&registry, &["referrers", &destination], None);
    assert!(referrers.status.success(), "{}", describe(&referrers));
    let listed = String::from_utf8_lossy(&referrers.stdout);
    assert!(
        listed.contains("fallback tag") && listed.contains(kaniko_sign::SIGNATURE_ARTIFACT_TYPE),
        "{}",
        describe(&referrers)
    );
    outputs.push(referrers);

    let other = verify(keys.other_public.to_str().expect("utf-8"), &[]);
    assert_eq!(other.status.code(), Some(1), "{}", describe(&other));
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("wrong key"),
        "{}",
        describe(&other)
    );

    // The tag moved to an unsigned image: no signature.
    std::fs::write(context.join("hello.txt"), "unsigned\n").expect("hello");
    let unsigned = submit(&[], None);
    assert!(unsigned.status.success(), "{}", describe(&unsigned));
    let moved = verify(public, &[]);
    assert_eq!(moved.status.code(), Some(1), "{}", describe(&moved));
    assert!(
        String::from_utf8_lossy(&moved.stderr).contains("no signature"),
        "{}",
        describe(&moved)
    );
    outputs.push(unsigned);

    // Neither the password nor the private key is in any output or anything pushed.
    for output in &outputs {
        for secret in &keys.secrets {
            assert!(
                !contains(&output.stdout, secret) && !contains(&output.stderr, secret),
                "a secret leaked:\n{}",
                describe(output)
            );
        }
    }
    for file in files(&registry.storage_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for secret in &keys.secrets {
            assert!(!contains(&bytes, secret), "a secret in {}", file.display());
        }
    }
}

/// The native referrers path: docker-registry has no referrers API, so this test puts the test
/// crate's thin referrers layer (`kaniko_tests::referrers_proxy`, which adds `OCI-Subject` to
/// manifest pushes with a subject and answers `GET /v2/<name>/referrers/<digest>`) in front
/// of it. The signature is then found through the API, and no fallback tag is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_referrers_api_signatures_are_found_through_it_and_no_fallback_tag_is_written() {
    let (native, _) = platforms();
    let Setup {
        registry,
        dir,
        keys,
        context,
    } = setup("LABEL api=yes\n").await;
    let proxy = kaniko_tests::referrers_proxy::ReferrersProxy::start(registry.host())
        .await
        .expect("proxy");
    let destination = format!("{}/api:v1", proxy.host());
    let digest_file = dir.path().join("digest");
    let platform = native.to_string();
    let signed = coordinator(
        &registry,
        &[
            "submit",
            "--driver",
            "local",
            "--context",
            context.to_str().expect("utf-8"),
            "--destination",
            &destination,
            "--multi-platform",
            &platform,
            "--sign-images",
            "--cosign-key-path",
            keys.encrypted.to_str().expect("utf-8"),
            "--digest-file",
            digest_file.to_str().expect("utf-8"),
            "--insecure-registry",
            &proxy.host(),
        ],
        Some(PASSWORD),
    );
    assert!(signed.status.success(), "{}", describe(&signed));
    let index = std::fs::read_to_string(&digest_file).expect("digest file");
    let hex = index.trim().trim_start_matches("sha256:");

    let referrers = coordinator(
        &registry,
        &[
            "referrers",
            &destination,
            "--insecure-registry",
            &proxy.host(),
        ],
        None,
    );
    let listed = String::from_utf8_lossy(&referrers.stdout);
    assert!(
        referrers.status.success()
            && listed.contains("referrers api")
            && listed.contains(kaniko_sign::SIGNATURE_ARTIFACT_TYPE),
        "{}",
        describe(&referrers)
    );
    let verified = coordinator(
        &registry,
        &[
            "verify",
            &destination,
            "--key",
            keys.public.to_str().expect("utf-8"),
            "--insecure-registry",
            &proxy.host(),
        ],
        None,
    );
    assert!(verified.status.success(), "{}", describe(&verified));

    let tags = tags(&registry, "api");
    assert!(tags.contains(&format!("\"sha256-{hex}.sig\"")), "{tags}");
    assert!(!tags.contains(&format!("\"sha256-{hex}\"")), "{tags}");
}

/// `worker build --sign-images` with a plain PKCS#8 key: the pushed image verifies, and the
/// signature is there before the tag (it is pushed by digest and signed first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_build_signs_the_image_it_pushed_with_a_pkcs8_key() {
    let (native, _) = platforms();
    let Setup {
        registry,
        dir,
        keys,
        context,
    } = setup("LABEL solo=yes\n").await;
    let destination = format!("{}/solo:v1", registry.host());
    let built = crate::ci_driver::worker_build(
        &context,
        &native.to_string(),
        &destination,
        &[
            "--sign-images",
            "--cosign-key-path",
            dir.path().join("key.pem").to_str().expect("utf-8"),
        ],
    );
    assert!(built.status.success(), "{}", describe(&built));
    let verified = coordinator(
        &registry,
        &[
            "verify",
            &destination,
            "--key",
            keys.public.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(verified.status.success(), "{}", describe(&verified));
    for secret in &keys.secrets {
        assert!(
            !contains(&built.stdout, secret) && !contains(&built.stderr, secret),
            "a secret leaked:\n{}",
            describe(&built)
        );
    }
}
