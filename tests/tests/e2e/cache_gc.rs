// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator cache gc` (spawned) against a real registry: single-layer entries pushed with
//! a crafted config `created`; the collection removes exactly the expired ones (checked in the
//! registry's tag list, `--older-than` in days or hours) and reports the bytes freed (a layer shared with a kept entry is not),
//! `--dry-run` removes none, `--arch-suffix` collects each platform's repository, and a
//! registry without deletes gives a message saying how to enable them and a failed exit.

use std::process::{Command, Output};

use kaniko_registry::{RegistryClient, RegistryError};
use kaniko_tests::{Registry, init_test_tracing};
use sha2::{Digest, Sha256};

fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// Pushes `<repo>:<tag>`: a manifest with one config (`created`) and `layers` (blob bytes).
async fn push_entry(
    client: &RegistryClient,
    registry: &Registry,
    repo: &str,
    tag: &str,
    created: &str,
    layers: &[&[u8]],
) -> String {
    let reference = registry.reference(&format!("{repo}:{tag}"));
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_blob = client
        .push_blob_bytes(&reference, config.clone())
        .await
        .unwrap();
    let mut descriptors = Vec::new();
    for layer in layers {
        let pushed = client
            .push_blob_bytes(&reference, layer.to_vec())
            .await
            .unwrap();
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": pushed.digest,
            "size": pushed.size,
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_blob.digest,
            "size": config_blob.size,
        },
        "layers": descriptors,
    });
    client
        .push_manifest_raw(
            &reference,
            serde_json::to_vec(&manifest).unwrap(),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await
        .unwrap()
}

/// `coordinator cache gc` against `registry` with `args`; its output is echoed for failures.
fn gc(registry: &Registry, args: &[&str]) -> Output {
    let config = tempfile::tempdir().unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new(kaniko_tests::workspace_binary("coordinator"))
            .args(["cache", "gc", "--insecure", "--docker-config"])
            .arg(config.path())
            .args(args)
            .env_remove("DOCKER_CONFIG")
            .output()
            .expect("spawn coordinator")
    });
    eprintln!(
        "coordinator cache gc on {}:\n{}{}",
        registry.host(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn tags(client: &RegistryClient, registry: &Registry, repo: &str) -> Vec<String> {
    match client
        .list_tags(&registry.reference(&format!("{repo}:x")))
        .await
    {
        Ok(mut tags) => {
            tags.sort();
            tags
        }
        Err(RegistryError::NotFound { .. }) => Vec::new(),
        Err(err) => panic!("listing {repo}: {err}"),
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

const OLD: &str = "2020-01-01T00:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_exactly_the_expired_entries() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    // Created "in the future": younger than any cut-off.
    let now = "2999-01-01T00:00:00Z";
    let (only_old, shared, other_old) = (vec![1u8; 1000], vec![2u8; 300], vec![3u8; 500]);
    let old1 = push_entry(
        &client,
        &registry,
        "cache",
        "old1",
        OLD,
        &[&only_old, &shared],
    )
    .await;
    push_entry(
        &client,
        &registry,
        "cache",
        "old2",
        "2021-06-01T00:00:00Z",
        &[&other_old],
    )
    .await;
    push_entry(&client, &registry, "cache", "fresh", now, &[&shared]).await;
    // Three days old: kept by `--older-than 7d` (days are a unit), not by 24h.
    let three_days_ago = Command::new("date")
        .args(["-u", "-d", "3 days ago", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    let three_days_ago = String::from_utf8(three_days_ago.stdout).unwrap();
    push_entry(
        &client,
        &registry,
        "cache",
        "recent",
        three_days_ago.trim(),
        &[&[4u8; 200]],
    )
    .await;
    let repo = format!("{}/cache", registry.host());
    let all = ["fresh", "old1", "old2", "recent"];

    let out = gc(
        &registry,
        &["--cache-repo", &repo, "--older-than", "7d", "--dry-run"],
    );
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(&format!("would remove {repo}:old1 {old1} created {OLD}")),
        "{text}"
    );
    assert!(text.contains("1500 bytes would be freed"), "{text}");
    assert_eq!(
        tags(&client, &registry, "cache").await,
        all,
        "--dry-run removed nothing"
    );

    let out = gc(&registry, &["--cache-repo", &repo, "--older-than", "7d"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(&format!("removed {repo}:old1 {old1} created {OLD}")),
        "{text}"
    );
    assert!(text.contains(&format!("removed {repo}:old2 ")), "{text}");
    // old1's own layer and old2's; the shared one stays with `fresh`.
    assert!(
        text.contains("2 entries removed from 1 repositories, 1500 bytes freed"),
        "{text}"
    );
    assert_eq!(tags(&client, &registry, "cache").await, ["fresh", "recent"]);
    let out = gc(&registry, &["--cache-repo", &repo, "--older-than", "24h"]);
    assert!(stdout(&out).contains(&format!("removed {repo}:recent ")));
    assert_eq!(tags(&client, &registry, "cache").await, ["fresh"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_collects_each_platforms_repository() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    for arch in ["amd64", "arm64", "s390x"] {
        let repo = format!("cache-{arch}");
        push_entry(&client, &registry, &repo, "old", OLD, &[arch.as_bytes()]).await;
    }
    let repo = format!("{}/cache", registry.host());
    let out = gc(
        &registry,
        &[
            "--cache-repo",
            &repo,
            "--arch-suffix=-${ARCH}",
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64",
            "--older-than",
            "1h",
        ],
    );
    assert!(out.status.success());
    assert!(tags(&client, &registry, "cache-amd64").await.is_empty());
    assert!(tags(&client, &registry, "cache-arm64").await.is_empty());
    // A platform not asked for is left alone.
    assert_eq!(tags(&client, &registry, "cache-s390x").await, ["old"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_without_delete_is_named_with_the_fix() {
    init_test_tracing();
    let registry = Registry::start_without_delete().unwrap();
    let client = registry.client();
    push_entry(&client, &registry, "cache", "old", OLD, &[b"layer"]).await;
    let repo = format!("{}/cache", registry.host());
    let out = gc(&registry, &["--cache-repo", &repo, "--older-than", "1h"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&registry.host()), "{err}");
    assert!(
        err.contains("REGISTRY_STORAGE_DELETE_ENABLED=true"),
        "{err}"
    );
    assert_eq!(tags(&client, &registry, "cache").await, ["old"]);
}
