// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of the bus that need no server: secrets kept out of `Debug`, connect errors
//! classified and described, task message ids, half-given credentials refused, server lists
//! parsed.

use super::*;

#[test]
fn debug_never_shows_secrets() {
    let options = NatsOptions {
        url: "nats://example:4222".into(),
        token: Some("tok-secret".into()),
        user: Some("alice".into()),
        password: Some("pw-secret".into()),
        nkey_seed: Some("SUseed-secret".into()),
        ..NatsOptions::default()
    };
    let debug = format!("{options:?}");
    for secret in ["tok-secret", "pw-secret", "SUseed-secret"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(
        debug.contains("alice") && debug.contains("<redacted>"),
        "{debug}"
    );
}

#[test]
fn a_tls_handshake_failure_is_found_under_an_io_error() {
    let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
    let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
    let err = async_nats::ConnectError::with_source(async_nats::ConnectErrorKind::Io, io);
    assert!(is_permanent(&err));
    let message = describe_connect_error(&err);
    assert!(
        message.contains("UnknownIssuer") && message.contains("--nats-tls-ca"),
        "{message}"
    );
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let err = async_nats::ConnectError::with_source(async_nats::ConnectErrorKind::Io, refused);
    assert!(!is_permanent(&err), "a refused connection is retried");
    let denied =
        async_nats::ConnectError::new(async_nats::ConnectErrorKind::AuthorizationViolation);
    assert!(is_permanent(&denied));
    assert!(
        describe_connect_error(&denied).contains("authorization violation"),
        "{}",
        describe_connect_error(&denied)
    );
}

#[test]
fn task_msg_ids_differ_by_build_platform_and_attempt() {
    fn check(build: &str, platform: &str, attempt: u32, expected: &str) {
        let task = kaniko_common::messages::Task {
            build_id: build.into(),
            task_id: "t".into(),
            platform: Platform::parse(platform).unwrap(),
            attempt,
            context: kaniko_common::messages::ContextRef {
                sha256: "0".repeat(64),
                size: 0,
            },
            dockerfile: "Dockerfile".into(),
            build_args: Default::default(),
            target: None,
            labels: Default::default(),
            destinations: vec![],
            compression: Default::default(),
            compression_level: None,
            oci_mode: Default::default(),
            reproducible: false,
            cross_safe: false,
            deadline_unix_ms: None,
            owner: None,
            cache: None,
            arch_cache_repo_suffix: None,
        };
        assert_eq!(task_msg_id(&task), expected);
    }
    check("b1", "linux/amd64", 1, "b1-linux-amd64-1");
    check("b1", "linux/arm/v7", 2, "b1-linux-arm-v7-2");
    check("b2", "linux/arm64", 1, "b2-linux-arm64-1");
}

#[tokio::test]
async fn half_given_credentials_are_refused_before_connecting() {
    let mut options = NatsOptions::new("nats://127.0.0.1:1");
    options.password = Some("pw".into());
    let err = connect(&options).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "connecting to NATS at nats://127.0.0.1:1: a NATS password was given without a user"
    );
    let mut options = NatsOptions::new("nats://127.0.0.1:1");
    options.tls_cert = Some("/nonexistent/cert.pem".into());
    let err = connect(&options).await.unwrap_err();
    assert!(err.to_string().contains("--nats-tls-key"), "{err}");
}

#[test]
fn a_comma_separated_url_names_every_server_and_a_bad_entry_is_refused() {
    let servers =
        server_addrs("nats://127.0.0.1:4222, nats://127.0.0.1:4223,tls://n3:4222").unwrap();
    let ports: Vec<u16> = servers.iter().map(async_nats::ServerAddr::port).collect();
    assert_eq!(ports, [4222, 4223, 4222]);
    assert!(servers[2].tls_required());
    assert_eq!(server_addrs("nats://a:1").unwrap().len(), 1);

    fn refused(url: &str, expected: &str) {
        let err = server_addrs(url).unwrap_err().to_string();
        assert!(err.contains(expected), "{url}: {err}");
    }
    refused("nats://a:1,,nats://b:2", "an empty server URL");
    refused("nats://a:1,", "an empty server URL");
    refused(
        "nats://a:1,http://b:2",
        "\"http://b:2\" is not a NATS server URL",
    );
}
