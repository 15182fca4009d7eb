// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Signing fleet builds (docs/signing.md): `coordinator serve --cosign-key-path` holds the key
//! (its password from `COSIGN_PASSWORD` only) and signs the builds whose `submit --driver nats
//! --sign-images` asks; nothing key-like travels over NATS. A server without a key refuses
//! such a build, a wrong password stops the server at start, and `--cosign-key-path` on a
//! fleet submit is refused. With `--sbom` the server attaches each platform's SBOM, signed
//! too.

use std::process::{Command, Output};

use crate::fleet::{Fleet, copy_context, describe};

use super::{PASSWORD, contains, coordinator, files, keys};

fn submit(fleet: &Fleet, destination: &str, extra: &[&str]) -> Output {
    let context = copy_context(&fleet.dir.path().join("context"), &fleet.registry.host());
    Command::new(kaniko_tests::workspace_binary("coordinator"))
        .env_remove("COSIGN_PASSWORD")
        .arg("submit")
        .args(["--driver", "nats", "--nats", &fleet.nats.url()])
        .arg("--context")
        .arg(&context)
        .args(["--destination", destination])
        .args([
            "--multi-platform",
            &kaniko_common::platform::Platform::host().to_string(),
        ])
        .args(["--timeout", "180"])
        .args(extra)
        .output()
        .expect("coordinator submit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_build_is_signed_with_the_servers_key_when_it_asks() {
    let mut fleet = Fleet::start().await;
    let keys = keys(fleet.dir.path());
    let key_path = keys.encrypted.to_str().unwrap().to_string();

    // A wrong password stops the server at start, naming the file, not the password.
    let wrong = Command::new(kaniko_tests::workspace_binary("coordinator"))
        .args([
            "serve",
            "--nats",
            &fleet.nats.url(),
            "--cosign-key-path",
            &key_path,
        ])
        .env("COSIGN_PASSWORD", "not-the-password")
        .output()
        .expect("coordinator serve");
    assert_eq!(wrong.status.code(), Some(1), "{}", describe(&wrong));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("wrong password") && !stderr.contains("not-the-password"),
        "{}",
        describe(&wrong)
    );

    fleet.coordinator_with_env(
        &["--cosign-key-path", &key_path],
        &[("COSIGN_PASSWORD", PASSWORD)],
    );
    fleet.worker_with("signer-w1", None, &[]);
    fleet.wait_for_workers(&["signer-w1"]);
    let host = fleet.registry.host();
    let signed = format!("{host}/fleet-signed:v1");

    let refused = submit(
        &fleet,
        &signed,
        &["--sign-images", "--cosign-key-path", &key_path],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("signs with its own key"),
        "{}",
        describe(&refused)
    );

    let built = submit(&fleet, &signed, &["--sign-images", "--sbom"]);
    assert!(
        built.status.success(),
        "{}\n{}",
        describe(&built),
        fleet.logs()
    );
    // The server attached the platform's SBOM and signed it with the rest.
    let sbom = coordinator(&fleet.registry, &["sbom", &signed], None);
    assert!(sbom.status.success(), "{}", describe(&sbom));
    let document: serde_json::Value = serde_json::from_slice(&sbom.stdout).expect("json");
    assert_eq!(document["spdxVersion"], "SPDX-2.3");
    let client = fleet.registry.client();
    let repository = fleet.registry.reference("fleet-signed:v1");
    let pulled = client
        .pull_manifest_raw(&repository)
        .await
        .expect("the index");
    let index: serde_json::Value = serde_json::from_slice(&pulled.bytes).unwrap();
    let child = index["manifests"][0]["digest"].as_str().unwrap();
    let (sboms, _) = client
        .list_referrers(
            &repository,
            child,
            Some(kaniko_sign::sbom::SBOM_ARTIFACT_TYPE),
        )
        .await
        .expect("referrers");
    assert_eq!(sboms.len(), 1);
    let key = kaniko_sign::PublicKey::load(&keys.public).expect("public key");
    kaniko_sign::verify(&client, &repository, &sboms[0].descriptor.digest, &key)
        .await
        .expect("the sbom is signed by the server's key");
    let public = keys.public.to_str().unwrap();
    let native = kaniko_common::platform::Platform::host().to_string();
    for extra in [vec![], vec!["--platform", native.as_str()]] {
        let mut args = vec!["verify", signed.as_str(), "--key", public];
        args.extend(extra);
        let verified = coordinator(&fleet.registry, &args, None);
        assert!(verified.status.success(), "{}", describe(&verified));
    }

    // Not asked: not signed.
    let plain = format!("{host}/fleet-plain:v1");
    let built = submit(&fleet, &plain, &[]);
    assert!(built.status.success(), "{}", describe(&built));
    let unsigned = coordinator(&fleet.registry, &["verify", &plain, "--key", public], None);
    assert_eq!(unsigned.status.code(), Some(1), "{}", describe(&unsigned));
    assert!(
        String::from_utf8_lossy(&unsigned.stderr).contains("no signature"),
        "{}",
        describe(&unsigned)
    );

    // Neither the password nor the key is in any daemon's log or NATS's, nor in anything
    // JetStream stored (requests, tasks, events, KV values) or the registry holds.
    let logs = fleet.logs();
    for secret in &keys.secrets {
        assert!(!contains(logs.as_bytes(), secret), "a secret in the logs");
    }
    let stored = [fleet.nats.store_dir(), fleet.registry.storage_dir()];
    let files: Vec<_> = stored.iter().flat_map(|dir| files(dir)).collect();
    assert!(
        files.iter().any(|f| f.starts_with(fleet.nats.store_dir())),
        "JetStream stored nothing: {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for secret in &keys.secrets {
            assert!(!contains(&bytes, secret), "a secret in {}", file.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_build_asking_for_signing_is_refused_by_a_server_without_a_key() {
    let mut fleet = Fleet::start().await;
    fleet.coordinator_with(&[]);
    fleet.wait_for_workers(&[""]); // the coordinator answers
    let destination = format!("{}/fleet-nokey:v1", fleet.registry.host());
    // No worker is needed: the refusal comes before any task.
    let refused = submit(&fleet, &destination, &["--sign-images"]);
    assert_ne!(refused.status.code(), Some(0), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("holds no signing key"),
        "{}\n{}",
        describe(&refused),
        fleet.logs()
    );
}
