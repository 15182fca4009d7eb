// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Every index publishing option against the real registry, through the `ci` driver
//! (`coordinator index`, the IndexActor's publishing path in-process): an OCI index with the
//! requested and the git-derived annotations; a Docker manifest list with Docker media types
//! and no annotations; annotations on a Docker list refused with nothing pushed;
//! `--publish-index=false`; destinations in two repositories; immutable tags ignored on
//! request (a proxy plays a registry with immutable tags); and the flags reaching the build
//! request of `coordinator submit --driver nats`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use kaniko_common::messages::{BuildRequest, RequestedOciMode, SubmitReply, WireError};
use kaniko_common::oci;
use kaniko_common::subjects::Names;
use kaniko_nats::{self as bus, Bus, BusSettings};
use kaniko_tests::{Nats, Registry, init_test_tracing, skopeo_inspect_raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::ci_driver::{
    build_per_arch, ci_fixture, context, coordinator, coordinator_via, digest_of, exists,
    fails_with, ok, stderr,
};

const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// A git checkout without git: `.git/HEAD` on a branch, the ref, an `origin` with credentials.
fn git_checkout(dir: &Path) {
    let git = dir.join(".git");
    std::fs::create_dir_all(git.join("refs/heads")).unwrap();
    std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(git.join("refs/heads/main"), format!("{COMMIT}\n")).unwrap();
    std::fs::write(
        git.join("config"),
        "[remote \"origin\"]\n\turl = https://ci-bot:s3cret@git.example/org/app.git\n",
    )
    .unwrap();
}

fn args<'a>(digests: &'a Path, context: &'a Path, rest: &[&'a str]) -> Vec<&'a str> {
    let mut out = vec![
        "index",
        "--digests-from",
        digests.to_str().unwrap(),
        "--context",
        context.to_str().unwrap(),
    ];
    out.extend_from_slice(rest);
    out
}

#[tokio::test]
async fn an_oci_index_carries_requested_and_standard_annotations() {
    let (registry, _, host, tmp, digests, base) = ci_fixture().await;
    let checkout = tmp.path().join("checkout");
    git_checkout(&checkout);
    let destination = format!("{host}/app:1");
    ok(&coordinator(
        &registry,
        &args(
            &digests,
            &checkout,
            &[
                "-d",
                &destination,
                "--index-annotations",
                "org.opencontainers.image.title=app,org.opencontainers.image.description=a, b",
                "--index-annotations",
                "team=build",
            ],
        ),
    ));
    let index = skopeo_inspect_raw(&destination).unwrap();
    assert_eq!(index["mediaType"], oci::OCI_INDEX);
    let annotations = &index["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "app");
    assert_eq!(annotations["org.opencontainers.image.description"], "a, b");
    assert_eq!(annotations["team"], "build");
    assert_eq!(annotations["org.opencontainers.image.revision"], COMMIT);
    assert_eq!(
        annotations["org.opencontainers.image.source"], "https://git.example/org/app.git",
        "credentials must be stripped"
    );
    let created = annotations["org.opencontainers.image.created"]
        .as_str()
        .unwrap();
    // RFC 3339 in UTC, to the second: 2026-01-02T03:04:05Z.
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes().get(10) == Some(&b'T'),
        "{created}"
    );
    let children: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = base
        .children
        .iter()
        .map(|(_, d)| d.digest.as_str())
        .collect();
    assert_eq!(children, expected);
}

#[tokio::test]
async fn a_docker_manifest_list_has_docker_types_and_no_annotations() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let base = kaniko_tests::fixture::push_busybox(&registry, "base")
        .await
        .unwrap();
    let ctx = context(tmp.path(), &base.reference, "docker\n");
    let digests = tmp.path().join("digests");
    build_per_arch(&ctx, &host, &digests, &["--oci-mode", "docker"]);
    let checkout = tmp.path().join("checkout");
    git_checkout(&checkout);
    let check_list = |reference: &str| {
        let list = skopeo_inspect_raw(reference).unwrap();
        assert_eq!(list["mediaType"], oci::DOCKER_MANIFEST_LIST, "{list}");
        assert!(list.get("annotations").is_none(), "{list}");
        let manifests = list["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 2);
        for manifest in manifests {
            assert_eq!(manifest["mediaType"], oci::DOCKER_MANIFEST);
            assert!(manifest.get("annotations").is_none(), "{manifest}");
        }
    };
    // --legacy-manifest-list, from a git checkout: the standard annotations are left off.
    let legacy = format!("{host}/app:legacy");
    ok(&coordinator(
        &registry,
        &args(
            &digests,
            &checkout,
            &["-d", &legacy, "--legacy-manifest-list"],
        ),
    ));
    check_list(&legacy);
    // --oci-mode auto follows the Docker-typed children.
    let auto = format!("{host}/app:auto");
    ok(&coordinator(
        &registry,
        &args(&digests, tmp.path(), &["-d", &auto, "--oci-mode", "auto"]),
    ));
    check_list(&auto);
    // --oci-mode auto with annotations: an OCI index, since a list cannot carry them.
    let annotated = format!("{host}/app:annotated");
    ok(&coordinator(
        &registry,
        &args(
            &digests,
            tmp.path(),
            &[
                "-d",
                &annotated,
                "--oci-mode",
                "auto",
                "--index-annotations",
                "a=1",
            ],
        ),
    ));
    let index = skopeo_inspect_raw(&annotated).unwrap();
    assert_eq!(index["mediaType"], oci::OCI_INDEX);
    assert_eq!(index["annotations"]["a"], "1");
}

#[tokio::test]
async fn annotations_asked_for_on_a_docker_list_are_refused_and_nothing_is_pushed() {
    let (registry, client, host, tmp, digests, base) = ci_fixture().await;
    let destination = format!("{host}/app:1");
    for mode in [&["--legacy-manifest-list"][..], &["--oci-mode", "docker"]] {
        let mut rest = vec!["-d", destination.as_str(), "--index-annotations", "a=1"];
        rest.extend_from_slice(mode);
        fails_with(
            &coordinator(&registry, &args(&digests, tmp.path(), &rest)),
            &[
                "--index-annotations need an OCI index",
                "Docker manifest list",
            ],
        );
    }
    assert!(!exists(&client, &registry, "app:1").await);
    for (_, child) in &base.children {
        assert!(!exists(&client, &registry, &format!("app@{}", child.digest)).await);
    }
}

#[tokio::test]
async fn publish_index_false_reports_the_platform_digests_only() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let client = registry.client();
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let base = kaniko_tests::fixture::push_busybox(&registry, "base")
        .await
        .unwrap();
    // Plain digest files (Kaniko's --digest-file): where the images are comes from
    // --source-repo.
    let digests = tmp.path().join("digests");
    std::fs::create_dir_all(&digests).unwrap();
    for (platform, child) in &base.children {
        let name = format!("{}.digest", platform.to_string().replace('/', "-"));
        std::fs::write(digests.join(name), &child.digest).unwrap();
    }
    let (digest_file, metadata_file) = (tmp.path().join("d"), tmp.path().join("m.json"));
    let destination = format!("{host}/app:1");
    let source = format!("{host}/base");
    let run = coordinator(
        &registry,
        &args(
            &digests,
            tmp.path(),
            &[
                "-d",
                &destination,
                "--publish-index=false",
                "--source-repo",
                &source,
                "--digest-file",
                digest_file.to_str().unwrap(),
                "--metadata-file",
                metadata_file.to_str().unwrap(),
            ],
        ),
    );
    ok(&run);
    assert!(!exists(&client, &registry, "app:1").await, "no index tag");
    let expected: String = base
        .children
        .iter()
        .map(|(p, d)| format!("{p} {}\n", d.digest))
        .collect();
    assert_eq!(std::fs::read_to_string(&digest_file).unwrap(), expected);
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata_file).unwrap()).unwrap();
    assert!(metadata["index"].is_null(), "{metadata}");
    let platforms = metadata["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    assert_eq!(platforms[1]["platform"], "linux/arm64");
    assert_eq!(
        platforms[1]["descriptor"]["digest"],
        base.children[1].1.digest.as_str()
    );
    // Each image is reachable by digest in the destination repository.
    for (_, child) in &base.children {
        skopeo_inspect_raw(&format!("{host}/app@{}", child.digest)).unwrap();
    }
    assert!(String::from_utf8_lossy(&run.stdout).contains("no index"));
}

#[tokio::test]
async fn destinations_in_two_repositories_share_one_index_and_every_child() {
    let (registry, client, host, tmp, digests, base) = ci_fixture().await;
    let (one, latest, other) = (
        format!("{host}/team/app:1"),
        format!("{host}/team/app:latest"),
        format!("{host}/mirror/app:2"),
    );
    ok(&coordinator(
        &registry,
        &args(
            &digests,
            tmp.path(),
            &["-d", &one, "-d", &latest, "-d", &other],
        ),
    ));
    let digest = digest_of(&client, &one).await;
    assert_eq!(digest_of(&client, &latest).await, digest);
    assert_eq!(digest_of(&client, &other).await, digest);
    for repository in ["team/app", "mirror/app"] {
        for (platform, child) in &base.children {
            let config = kaniko_tests::skopeo_inspect_config(
                &format!("{host}/{repository}@{}", child.digest),
                None,
            )
            .unwrap();
            assert_eq!(config["architecture"], platform.architecture.as_str());
        }
    }
}

/// A proxy playing a registry with immutable tags: a `PUT` of a manifest by tag is refused
/// with 400 `TAG_INVALID`; everything else goes to `upstream`, one request per connection.
async fn immutable_tags_proxy(upstream: SocketAddr) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(proxy_one(conn, upstream));
        }
    });
    (addr.to_string(), task)
}

async fn proxy_one(mut conn: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let by_tag = path
        .rsplit_once("/manifests/")
        .is_some_and(|(_, reference)| !reference.starts_with("sha256:"));
    if method == "PUT" && by_tag {
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = buf.len() - head_end;
        while body < length {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body += n;
        }
        let answer = r#"{"errors":[{"code":"TAG_INVALID","message":"The image tag already exists and cannot be overwritten"}]}"#;
        let response = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        conn.write_all(response.as_bytes()).await?;
        return conn.shutdown().await;
    }
    let mut rewritten = String::new();
    rewritten.push_str(&request_line);
    rewritten.push_str("\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(rewritten.as_bytes()).await?;
    up.write_all(&buf[head_end..]).await?;
    tokio::io::copy_bidirectional(&mut conn, &mut up).await?;
    Ok(())
}

// Multi-threaded: the proxy runs on the runtime while the test thread waits for the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_tag_refusals_are_warnings_only_when_asked() {
    let (registry, client, _, tmp, digests, _) = ci_fixture().await;
    let (proxy, task) = immutable_tags_proxy(registry.addr()).await;
    let destination = format!("{proxy}/app:1");
    let digest_file = tmp.path().join("index.digest");
    let run = |extra: &[&str]| {
        let mut rest = vec![
            "-d",
            destination.as_str(),
            "--reproducible",
            "--digest-file",
            digest_file.to_str().unwrap(),
        ];
        rest.extend_from_slice(extra);
        coordinator_via(&proxy, &registry, &args(&digests, tmp.path(), &rest))
    };
    fails_with(&run(&[]), &["TAG_INVALID"]);
    assert!(!digest_file.exists(), "no digest file for a failed publish");
    let warned = run(&["--push-ignore-immutable-tag-errors"]);
    ok(&warned);
    assert!(
        stderr(&warned).contains("immutable tag not moved"),
        "{}",
        stderr(&warned)
    );
    let digest = std::fs::read_to_string(&digest_file).unwrap();
    // The index is in the repository by digest; the tag was never moved.
    assert!(exists(&client, &registry, &format!("app@{digest}")).await);
    assert!(!exists(&client, &registry, "app:1").await);
    task.abort();
}

#[tokio::test]
async fn submit_flags_reach_the_build_request() {
    init_test_tracing();
    let nats = Nats::start().unwrap();
    let client = bus::connect(&bus::NatsOptions::new(nats.url()))
        .await
        .unwrap();
    let bus = Bus::new(client, Names::default());
    bus.ensure(&BusSettings::default()).await.unwrap();
    let mut requests = bus.client().subscribe("kaniko.api.submit").await.unwrap();
    let api = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let request = requests.next().await.unwrap();
            let build: BuildRequest =
                kaniko_common::messages::codec::decode_json(&request.payload).unwrap();
            let reply = SubmitReply::refused(WireError::refused("scripted refusal"));
            bus.client()
                .publish_with_headers(
                    request.reply.unwrap(),
                    bus::json_headers(),
                    kaniko_common::messages::codec::encode_json(&reply)
                        .unwrap()
                        .into(),
                )
                .await
                .unwrap();
            build
        })
    };
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\n").unwrap();
    git_checkout(&ctx);
    std::fs::write(ctx.join(".dockerignore"), ".git\n").unwrap();
    let output = tokio::process::Command::new(kaniko_tests::workspace_binary("coordinator"))
        .args(["submit", "--driver", "nats", "--nats", &nats.url()])
        .arg("--context")
        .arg(&ctx)
        .args([
            "-d",
            "127.0.0.1:5000/app:1",
            "-d",
            "127.0.0.1:5000/other:1",
            "--multi-platform",
            "linux/amd64,linux/arm64",
            "--legacy-manifest-list",
            "--push-ignore-immutable-tag-errors",
            "--cache",
            "--arch-cache-repo-suffix",
            "-cache",
            "--publish-index=false",
        ])
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .unwrap()
        .unwrap();
    fails_with(&output, &["scripted refusal"]);
    let build = api.await.unwrap();
    assert_eq!(build.oci_mode, RequestedOciMode::Docker);
    assert!(build.push_ignore_immutable_tag_errors);
    assert_eq!(build.arch_cache_repo_suffix.as_deref(), Some("-cache"));
    assert!(!build.publish_index);
    assert_eq!(build.destinations.len(), 2);
    assert_eq!(
        build
            .standard_annotations
            .get("org.opencontainers.image.revision")
            .map(String::as_str),
        Some(COMMIT)
    );
    assert_eq!(
        build
            .standard_annotations
            .get("org.opencontainers.image.source")
            .map(String::as_str),
        Some("https://git.example/org/app.git")
    );
    assert!(build.index_annotations.is_empty());
}
