// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The layer cache (`--cache`): a second identical build hits every step and gives the same
//! image; a changed source misses from its COPY on; an unused build arg changes nothing;
//! per-platform keys and `--arch-cache-repo-suffix` repositories (read back from the
//! registry's tags list); `--cache-ttl`; a cache registry that fails is a warning, never a
//! failed build.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kaniko_tests::Registry;
use kaniko_tests::fixture::busybox_setup;

use crate::dockerfiles::worker_build_within;
use crate::run::store::context;

const TIMEOUT: Duration = Duration::from_secs(300);

/// A registry with the busybox fixture and a context whose Dockerfile is `FROM busybox`
/// followed by `body`, with `a.txt` holding `a`: (registry, its host, scratch dir, context).
async fn setup(body: &str, a: &str) -> (Registry, String, tempfile::TempDir, PathBuf) {
    let (registry, base, tmp) = busybox_setup().await;
    let host = registry.host();
    let dockerfile = format!("FROM {}\n{body}", base.reference);
    let ctx = context(tmp.path(), &dockerfile, &[("a.txt", a)]);
    (registry, host, tmp, ctx)
}

fn log(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `worker build` of `ctx` with `args`; asserts success.
fn build(ctx: &Path, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = worker_build_within(ctx, &args, TIMEOUT, None);
    assert!(out.status.success(), "worker build failed:\n{}", log(&out));
    out
}

/// `(hits, misses)` from the build log's `cache: N hits, M misses` line.
fn counts(out: &Output) -> (u64, u64) {
    let log = log(out);
    let line = log
        .lines()
        .filter_map(|l| l.split_once("cache: ").map(|(_, rest)| rest))
        .find(|rest| rest.contains(" hits, "))
        .unwrap_or_else(|| panic!("no cache counts in the build log:\n{log}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// The `cache: hit|miss <instruction>` lines, in order, without their keys.
fn steps(out: &Output) -> Vec<String> {
    log(out)
        .lines()
        .filter_map(|l| l.split_once("cache: ").map(|(_, rest)| rest))
        .filter(|rest| rest.starts_with("hit ") || rest.starts_with("miss "))
        .map(|rest| rest.rsplit_once(" (").map_or(rest, |(s, _)| s).to_string())
        .collect()
}

/// The `cache` of a `--metadata-file`: hits, misses, and each step as `hit|miss <instruction>`.
fn metadata_cache(path: &Path) -> (u64, u64, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let metadata: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cache = &metadata["cache"];
    let steps = cache["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no cache steps in the metadata file:\n{text}"))
        .iter()
        .map(|s| {
            assert_eq!(s["key"].as_str().map(str::len), Some(64), "{s}");
            format!(
                "{} {}",
                s["result"].as_str().unwrap(),
                s["instruction"].as_str().unwrap()
            )
        })
        .collect();
    (
        cache["hits"].as_u64().unwrap(),
        cache["misses"].as_u64().unwrap(),
        steps,
    )
}

/// The tags of `host/repo`, from the registry (skopeo).
fn tags(host: &str, repo: &str) -> Vec<String> {
    let out = Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{host}/{repo}"))
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tags: Vec<String> = listing["Tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

#[tokio::test]
async fn a_rebuild_hits_every_step_and_a_change_misses_from_its_copy_on() {
    let (registry, base, tmp) = busybox_setup().await;
    let host = registry.host();
    let dockerfile = format!(
        "FROM {b} AS build\nARG FLAVOUR=plain\nCOPY a.txt /src/a.txt\n\
         RUN cat /src/a.txt > /out.txt && echo \"$FLAVOUR\" >> /out.txt\n\
         FROM {b}\nENV MODE=prod\nCOPY --from=build /out.txt /app/out.txt\n\
         COPY b.txt /app/b.txt\nRUN cat /app/out.txt /app/b.txt > /app/all.txt\n",
        b = base.reference
    );
    let ctx = context(
        tmp.path(),
        &dockerfile,
        &[("a.txt", "a\n"), ("b.txt", "b\n")],
    );
    let digest_file = tmp.path().join("digest");
    let metadata_file = tmp.path().join("metadata.json");
    let destination = format!("{host}/app/web:1");
    let flags = |extra: &[&str]| -> Vec<String> {
        let mut flags = vec![
            "--destination".to_string(),
            destination.clone(),
            "--reproducible".to_string(),
            "--cache=true".to_string(),
            "--cache-copy-layers".to_string(),
            "--force".to_string(),
            format!("--digest-file={}", digest_file.display()),
            format!("--metadata-file={}", metadata_file.display()),
        ];
        flags.extend(extra.iter().map(|s| s.to_string()));
        flags
    };
    let run = |extra: &[&str]| {
        let flags = flags(extra);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let out = build(&ctx, &flags);
        (out, std::fs::read_to_string(&digest_file).unwrap())
    };

    let (first, first_digest) = run(&[]);
    assert_eq!(counts(&first), (0, 5), "{}", log(&first));
    // The default cache repository is the destination's followed by /cache, one tag per step.
    assert_eq!(tags(&host, "app/web/cache").len(), 5);

    let (second, second_digest) = run(&[]);
    assert_eq!(
        steps(&second),
        [
            "hit COPY a.txt /src/a.txt",
            "hit RUN cat /src/a.txt > /out.txt && echo \"$FLAVOUR\" >> /out.txt",
            "hit COPY --from=build /out.txt /app/out.txt",
            "hit COPY b.txt /app/b.txt",
            "hit RUN cat /app/out.txt /app/b.txt > /app/all.txt",
        ],
        "{}",
        log(&second)
    );
    assert_eq!(counts(&second), (5, 0));
    // The metadata file reports the same, step by step.
    assert_eq!(metadata_cache(&metadata_file), (5, 0, steps(&second)));
    assert_eq!(
        first_digest, second_digest,
        "a cached rebuild is the same image"
    );

    // A build arg no stage declares changes no key.
    let (unused, unused_digest) = run(&["--build-arg", "UNUSED=1"]);
    assert_eq!(counts(&unused), (5, 0), "{}", log(&unused));
    assert_eq!(unused_digest, first_digest);

    // One source changed: its COPY misses, and so does everything after it in the stage.
    std::fs::write(ctx.join("b.txt"), "B\n").unwrap();
    let (changed, changed_digest) = run(&[]);
    assert_eq!(
        steps(&changed),
        [
            "hit COPY a.txt /src/a.txt",
            "hit RUN cat /src/a.txt > /out.txt && echo \"$FLAVOUR\" >> /out.txt",
            "hit COPY --from=build /out.txt /app/out.txt",
            "miss COPY b.txt /app/b.txt",
            "miss RUN cat /app/out.txt /app/b.txt > /app/all.txt",
        ],
        "{}",
        log(&changed)
    );
    assert_eq!(metadata_cache(&metadata_file), (3, 2, steps(&changed)));
    assert_ne!(changed_digest, first_digest);
    // A declared arg's value is in the RUN's key: the first stage's RUN misses.
    let (flavour, _) = run(&["--build-arg", "FLAVOUR=spicy"]);
    let flavour_steps = steps(&flavour);
    assert_eq!(flavour_steps[0], "hit COPY a.txt /src/a.txt");
    assert!(
        flavour_steps[1].starts_with("miss RUN"),
        "{flavour_steps:?}"
    );
    // The rebuilt image's content is right.
    let (_, changed_again) = run(&[]);
    assert_eq!(changed_again, changed_digest);
}

/// A COPY-only Dockerfile built for `platform` into `cache_repo` (with `extra` flags).
fn copy_only(ctx: &Path, host: &str, platform: &str, cache_repo: &str, extra: &[&str]) -> Output {
    let mut flags = vec![
        "--no-push".to_string(),
        "--cache=true".to_string(),
        format!("--cache-repo={host}/{cache_repo}"),
        "--cache-copy-layers".to_string(),
        format!("--custom-platform={platform}"),
    ];
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    build(ctx, &flags)
}

#[tokio::test]
async fn each_platform_has_its_own_keys_and_with_a_suffix_its_own_repository() {
    let (_registry, host, _tmp, ctx) = setup("COPY a.txt /a.txt\n", "same bytes\n").await;
    // One repository for both: two entries, and neither build reads the other's.
    let amd64 = copy_only(&ctx, &host, "linux/amd64", "shared/cache", &[]);
    assert_eq!(counts(&amd64), (0, 1));
    let arm64 = copy_only(&ctx, &host, "linux/arm64", "shared/cache", &[]);
    assert_eq!(counts(&arm64), (0, 1), "arm64 is not served amd64's layer");
    assert_eq!(tags(&host, "shared/cache").len(), 2);
    assert_eq!(
        counts(&copy_only(&ctx, &host, "linux/arm64", "shared/cache", &[])),
        (1, 0)
    );

    // With --arch-cache-repo-suffix each platform reads and writes its own repository.
    let suffix = ["--arch-cache-repo-suffix=-${ARCH}"];
    copy_only(&ctx, &host, "linux/amd64", "split/cache", &suffix);
    copy_only(&ctx, &host, "linux/arm64", "split/cache", &suffix);
    let (amd64_tags, arm64_tags) = (
        tags(&host, "split/cache-amd64"),
        tags(&host, "split/cache-arm64"),
    );
    assert_eq!(amd64_tags.len(), 1);
    assert_eq!(arm64_tags.len(), 1);
    assert_ne!(amd64_tags, arm64_tags);
    assert!(tags(&host, "split/cache").is_empty());
    assert_eq!(
        counts(&copy_only(
            &ctx,
            &host,
            "linux/arm64",
            "split/cache",
            &suffix
        )),
        (1, 0)
    );
}

#[tokio::test]
async fn entries_older_than_the_ttl_are_misses() {
    let (_registry, host, _tmp, ctx) = setup("COPY a.txt /a.txt\n", "a\n").await;
    let platform = "linux/amd64";
    copy_only(&ctx, &host, platform, "ttl/cache", &[]);
    assert_eq!(
        counts(&copy_only(
            &ctx,
            &host,
            platform,
            "ttl/cache",
            &["--cache-ttl=1h"]
        )),
        (1, 0)
    );
    std::thread::sleep(Duration::from_millis(2100));
    let expired = copy_only(&ctx, &host, platform, "ttl/cache", &["--cache-ttl=1s"]);
    assert_eq!(counts(&expired), (0, 1), "{}", log(&expired));
    assert!(log(&expired).contains("older than --cache-ttl"));
}

/// A loopback HTTP server answering every request with `status` (and `headers`).
fn failing_server(status: &'static str, headers: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    addr.to_string()
}

#[tokio::test]
async fn a_cache_registry_that_fails_is_a_warning_and_the_build_succeeds() {
    let (_registry, host, _tmp, ctx) =
        setup("COPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n", "a\n").await;
    for (status, headers) in [
        ("500 Internal Server Error", ""),
        (
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"cache\"\r\n",
        ),
    ] {
        let cache = failing_server(status, headers);
        let destination = format!("{host}/tolerant/app:1");
        let out = build(
            &ctx,
            &[
                "--destination",
                &destination,
                "--cache=true",
                "--cache-copy-layers",
                &format!("--cache-repo={cache}/cache"),
            ],
        );
        let log = log(&out);
        assert_eq!(counts(&out), (0, 2), "{status}: {log}");
        assert!(log.contains("cache: reading"), "{status}: {log}");
        assert!(log.contains("cache: pushing"), "{status}: {log}");
        assert!(log.contains("WARN"), "{status}: {log}");
        assert!(tags(&host, "tolerant/app").contains(&"1".to_string()));
    }
}

#[tokio::test]
async fn each_platform_of_a_local_driver_build_writes_its_own_cache_repository() {
    let (_registry, host, _tmp, ctx) = setup("COPY a.txt /a.txt\n", "a\n").await;
    let out = Command::new(kaniko_tests::workspace_binary("coordinator"))
        .env_remove("NATS_URL")
        .env_remove("KANIKO_DRIVER")
        .arg("submit")
        .arg("--context")
        .arg(&ctx)
        .args(["--destination", &format!("{host}/multi/app:1")])
        .args(["--insecure-registry", &host])
        .args(["--multi-platform", "linux/amd64,linux/arm64"])
        .args(["--cache", "--cache-copy-layers"])
        .arg("--arch-cache-repo-suffix=-${ARCH}")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", log(&out));
    let (amd64, arm64) = (
        tags(&host, "multi/app/cache-amd64"),
        tags(&host, "multi/app/cache-arm64"),
    );
    assert_eq!(amd64.len(), 1, "{}", log(&out));
    assert_eq!(arm64.len(), 1);
    assert_ne!(amd64, arm64, "the platform is in the key");
    assert!(tags(&host, "multi/app/cache").is_empty());
}

#[tokio::test]
async fn a_local_oci_layout_is_a_cache_too() {
    let (_registry, base, tmp) = busybox_setup().await;
    let layout = tmp.path().join("layers");
    let dockerfile = |last: &str| {
        format!(
            "FROM {}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nRUN cp /b.txt {last}\n",
            base.reference
        )
    };
    let ctx = context(tmp.path(), &dockerfile("/c.txt"), &[("a.txt", "a\n")]);
    let repo = format!("--cache-repo=oci:{}", layout.display());
    let flags = ["--no-push", "--cache", "--cache-copy-layers", repo.as_str()];
    assert_eq!(counts(&build(&ctx, &flags)), (0, 3));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{index}");
    assert!(names.iter().all(|n| n.len() == 64), "{names:?}");
    assert_eq!(counts(&build(&ctx, &flags)), (3, 0));
    // The last RUN changed: it runs on the two cached layers.
    std::fs::write(ctx.join("Dockerfile"), dockerfile("/d.txt")).unwrap();
    let changed = build(&ctx, &flags);
    assert_eq!(
        steps(&changed),
        [
            "hit COPY a.txt /a.txt",
            "hit RUN cat /a.txt > /b.txt",
            "miss RUN cp /b.txt /d.txt",
        ]
    );
}

#[tokio::test]
async fn without_copy_layers_a_run_after_a_copy_is_still_looked_up() {
    let (_registry, _host, tmp, ctx) =
        setup("COPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n", "a\n").await;
    let repo = format!("--cache-repo=oci:{}", tmp.path().join("layers").display());
    // Kaniko's defaults: RUN cached, COPY not.
    let flags = ["--no-push", "--cache", repo.as_str()];
    assert_eq!(counts(&build(&ctx, &flags)), (0, 1));
    let again = build(&ctx, &flags);
    assert_eq!(steps(&again), ["hit RUN cat /a.txt > /b.txt"]);
    // The COPY's source is in the RUN's key.
    std::fs::write(ctx.join("a.txt"), "A\n").unwrap();
    let changed = build(&ctx, &flags);
    assert_eq!(steps(&changed), ["miss RUN cat /a.txt > /b.txt"]);
}

/// Blob uploads the registry completed for `digest` (a `PUT` to `/blobs/uploads/` naming it),
/// from its request log.
fn completed_uploads(registry: &Registry, digest: &str) -> Vec<String> {
    let hex = digest.trim_start_matches("sha256:");
    registry
        .logs()
        .lines()
        .filter(|l| l.contains("response completed"))
        .filter(|l| l.contains("http.request.method=PUT"))
        .filter(|l| l.contains("/blobs/uploads/") && l.contains(hex))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_missed_layer_is_uploaded_once_for_the_image_and_the_cache() {
    let (registry, host, tmp, ctx) =
        setup("RUN head -c 300000 /dev/urandom > /big.bin\n", "a\n").await;
    let metadata_file = tmp.path().join("metadata.json");
    let destination = format!("{host}/once/app:1");
    let metadata = format!("--metadata-file={}", metadata_file.display());
    let flags = ["--destination", &destination, "--cache=true", &metadata];
    let first = build(&ctx, &flags);
    assert_eq!(counts(&first), (0, 1), "{}", log(&first));
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metadata_file).unwrap()).unwrap();
    let layers = document["layers"].as_array().unwrap();
    let digest = layers.last().unwrap()["digest"].as_str().unwrap();
    // One PUT for the image and the cache entry: the second repository mounted it.
    let uploads = completed_uploads(&registry, digest);
    assert_eq!(uploads.len(), 1, "{uploads:#?}\n{}", log(&first));
    assert_eq!(tags(&host, "once/app/cache").len(), 1);
    // The entry's layer is there: a second build hits it (its digest checked on the fetch).
    let second = build(&ctx, &flags);
    assert_eq!(counts(&second), (1, 0), "{}", log(&second));
    assert_eq!(completed_uploads(&registry, digest).len(), 1);
}
