// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The pipelined push end to end: layers of the final image upload while the build goes on
//! (the build log counts them), the stage only copied from uploads nothing, every blob is in
//! the registry before the manifest arrives, the image is the one an unpipelined build makes
//! (same digest with `--reproducible`), and a destination that refuses the uploads fails the
//! build with the destination and digest named and leaves no tag anywhere, at once (a long
//! RUN in progress is stopped). Before any of it, as Kaniko does, each destination is asked
//! whether it takes a push (`--skip-push-permission-check` skips that).

use std::path::Path;
use std::process::Output;

use kaniko_tests::fixture::busybox_setup;
use kaniko_tests::{FaultPlan, FaultProxy, Registry, skopeo_inspect_raw};

use super::{ok, worker_build, write};

/// `worker build --insecure --reproducible <args>` on a blocking thread, so an in-process
/// proxy keeps serving meanwhile.
async fn build_blocking(ctx: &Path, args: &[&str]) -> Output {
    let ctx = ctx.to_path_buf();
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.extend(["--insecure".to_string(), "--reproducible".to_string()]);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        worker_build(&ctx, &args)
    })
    .await
    .unwrap()
}

/// The layer digests (bottom first) of a `--no-push --reproducible` build of `ctx`.
async fn layer_digests(ctx: &Path, dir: &Path, extra: &[&str]) -> Vec<String> {
    let metadata = dir.join("metadata.json");
    let mut args = vec!["--no-push", "--metadata-file", metadata.to_str().unwrap()];
    args.extend(extra);
    ok(&build_blocking(ctx, &args).await);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// `<dir>/ctx`: `FROM <base>` and one COPY of `one.txt`.
fn one_copy_context(dir: &Path, base: &str) -> std::path::PathBuf {
    let ctx = dir.join("ctx");
    write(
        &ctx,
        &[
            ("one.txt", "one\n"),
            (
                "Dockerfile",
                &format!("FROM {base}\nCOPY one.txt /one.txt\n"),
            ),
        ],
    );
    ctx
}

/// The number in the build log's `pipelined push: N layer uploads overlapped the build`.
fn overlapped(stderr: &str) -> Option<usize> {
    let line = stderr
        .lines()
        .find_map(|l| l.split_once("pipelined push: ").map(|(_, rest)| rest))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Index of the first `response completed` line of the registry log for a `method` request
/// whose URI contains every part.
fn first_request(registry: &Registry, method: &str, parts: &[&str]) -> Option<usize> {
    registry.logs().lines().position(|line| {
        line.contains("response completed")
            && line.contains(&format!("http.request.method={method}"))
            && parts.iter().all(|p| line.contains(p))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_upload_during_the_build_and_make_the_unpipelined_image() {
    let (registry, base, tmp) = busybox_setup().await;
    let ctx = tmp.path().join("ctx");
    write(
        &ctx,
        &[
            ("side.txt", "only in the side stage\n"),
            ("one.txt", "one\n"),
            ("two.txt", "two\n"),
            (
                "Dockerfile",
                &format!(
                    "FROM {base} AS side\nCOPY side.txt /side.txt\n\
                     FROM {base} AS parent\nCOPY one.txt /one.txt\n\
                     FROM parent\nCOPY --from=side /side.txt /copied.txt\nCOPY two.txt /two.txt\n",
                    base = base.reference
                ),
            ),
        ],
    );
    let digests = layer_digests(&ctx, &tmp.path().join("plain"), &[]).await;
    let side = layer_digests(&ctx, &tmp.path().join("side"), &["--target", "side"]).await;
    let side_layer = side.last().unwrap().clone();
    assert_eq!(digests.len(), 4, "busybox + three COPY layers: {digests:?}");
    assert!(!digests.contains(&side_layer));

    let dest = format!("{}/pipe/app:1", registry.host());
    let digest_file = tmp.path().join("digest");
    let out = build_blocking(
        &ctx,
        &[
            "--destination",
            &dest,
            "--digest-file",
            digest_file.to_str().unwrap(),
        ],
    )
    .await;
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        overlapped(&stderr),
        Some(3),
        "the three layers this build wrote for the final image upload during the build, the \
         side stage's does not:\n{stderr}"
    );

    // The same image as the unpipelined path (`--no-push` writes the manifest locally).
    let unpipelined = tmp.path().join("unpipelined-digest");
    let local = build_blocking(
        &ctx,
        &["--no-push", "--digest-file", unpipelined.to_str().unwrap()],
    )
    .await;
    ok(&local);
    let pushed = std::fs::read_to_string(&digest_file).unwrap();
    assert_eq!(pushed, std::fs::read_to_string(&unpipelined).unwrap());
    let raw = skopeo_inspect_raw(&dest).unwrap();
    let layers: Vec<&str> = raw["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(layers, digests);

    // The side stage's layer never left the worker.
    let client = registry.client();
    let repo = registry.reference("pipe/app:1");
    assert!(!client.blob_exists(&repo, &side_layer).await.unwrap());

    // Every blob was in the repository before the manifest arrived.
    let manifest_put = first_request(&registry, "PUT", &["/v2/pipe/app/manifests/1"])
        .expect("the manifest was pushed");
    for digest in &digests[1..] {
        let hex = digest.trim_start_matches("sha256:");
        let uploaded = first_request(&registry, "PUT", &["/v2/pipe/app/blobs/uploads/", hex])
            .unwrap_or_else(|| panic!("{digest} was not uploaded"));
        assert!(
            uploaded < manifest_put,
            "{digest} uploaded after the manifest"
        );
    }
    let base_hex = digests[0].trim_start_matches("sha256:");
    let mounted = first_request(
        &registry,
        "POST",
        &["/v2/pipe/app/blobs/uploads/", "from=", base_hex],
    )
    .expect("the base layer was mounted");
    assert!(mounted < manifest_put);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_refusing_uploads_fails_the_build_and_leaves_no_tag() {
    let (registry, base, tmp) = busybox_setup().await;
    let proxy = FaultProxy::start(registry.addr(), FaultPlan::Always { status: 401 })
        .await
        .unwrap();
    let ctx = tmp.path().join("ctx");
    write(
        &ctx,
        &[
            ("one.txt", "one\n"),
            ("two.txt", "two\n"),
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY one.txt /one.txt\nCOPY two.txt /two.txt\n",
                    base.reference
                ),
            ),
        ],
    );
    let digests = layer_digests(&ctx, &tmp.path().join("plain"), &[]).await;
    let good = format!("{}/pipe/good:1", registry.host());
    let denied = format!("{}/pipe/denied:1", proxy.host());
    // Past the check before the build, the refusal meets the pipelined uploads.
    let out = build_blocking(
        &ctx,
        &[
            "--destination",
            &good,
            "--destination",
            &denied,
            "--skip-push-permission-check",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build succeeded:\n{stderr}");
    let named = digests[1..]
        .iter()
        .any(|d| stderr.contains(&format!("pushing {d} to {denied}")));
    assert!(
        named,
        "the error names the refusing destination and a layer this build wrote:\n{stderr}"
    );
    assert!(proxy.faulted() > 0);
    // No tag anywhere, not even on the destination that accepted the uploads.
    assert!(skopeo_inspect_raw(&good).is_err(), "{good} was tagged");
    assert!(
        first_request(&registry, "PUT", &["/v2/pipe/good/manifests/"]).is_none(),
        "a manifest reached the registry"
    );
}

/// An upload refused while a long RUN is running fails the build then, with the registry's
/// error, rather than when the RUN ends: the RUN is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_stops_the_build_during_a_long_run() {
    let (registry, base, tmp) = busybox_setup().await;
    let proxy = FaultProxy::start(registry.addr(), FaultPlan::Always { status: 401 })
        .await
        .unwrap();
    let ctx = tmp.path().join("ctx");
    let dockerfile = format!(
        "FROM {}\nCOPY one.txt /one.txt\nRUN sleep 40\nCOPY two.txt /two.txt\n",
        base.reference
    );
    write(
        &ctx,
        &[
            ("one.txt", "one\n"),
            ("two.txt", "two\n"),
            ("Dockerfile", &dockerfile),
        ],
    );
    let denied = format!("{}/pipe/slow:1", proxy.host());
    let started = std::time::Instant::now();
    let out = build_blocking(
        &ctx,
        &["--destination", &denied, "--skip-push-permission-check"],
    )
    .await;
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build succeeded:\n{stderr}");
    assert!(
        stderr.contains("pushing sha256:") && stderr.contains(&format!("to {denied}")),
        "the error names the layer and the refusing destination:\n{stderr}"
    );
    assert!(
        elapsed < std::time::Duration::from_secs(30),
        "the build failed only after {elapsed:?}, when the 40 s RUN had ended:\n{stderr}"
    );
    assert!(proxy.faulted() > 0);
}

/// docker-registry rewrites a repository's blob link in place, so a build racing other
/// writers of the same blob can have its manifest refused with MANIFEST_BLOB_UNKNOWN, several
/// times in a row when many builds push at once: the push checks the blobs again and pushes
/// the manifest again, up to 4 pushes, instead of losing the build; a fourth refusal fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_refused_for_a_lost_blob_is_pushed_again() {
    let (registry, base, tmp) = busybox_setup().await;
    let ctx = one_copy_context(tmp.path(), &base.reference);
    for (refusals, published) in [(3, true), (4, false)] {
        let proxy = FaultProxy::start(
            registry.addr(),
            FaultPlan::FailFirstMatching {
                n: refusals,
                method: "PUT",
                path_part: "/manifests/",
                status: 400,
                code: Some("MANIFEST_BLOB_UNKNOWN"),
            },
        )
        .await
        .unwrap();
        let destination = format!("{}/pipe/raced-{refusals}:1", proxy.host());
        let out = build_blocking(&ctx, &["--destination", &destination]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.success(),
            published,
            "{refusals} refusals:\n{stderr}"
        );
        assert_eq!(proxy.faulted(), refusals, "{stderr}");
        assert!(stderr.contains("checking the blobs again"), "{stderr}");
        let direct = format!("{}/pipe/raced-{refusals}:1", registry.host());
        assert_eq!(
            skopeo_inspect_raw(&direct).is_ok(),
            published,
            "{refusals} refusals: {direct}"
        );
        if !published {
            assert!(stderr.contains("MANIFEST_BLOB_UNKNOWN"), "{stderr}");
        }
    }
}

/// A destination that refuses pushes fails the build before its first step, naming the
/// destination; with `--skip-push-permission-check` the build runs until its first upload
/// is refused. A destination that takes pushes is asked once and its upload session is not
/// left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_permission_is_checked_before_the_build_unless_skipped() {
    let (registry, base, tmp) = busybox_setup().await;
    let proxy = FaultProxy::start(
        registry.addr(),
        FaultPlan::Refuse {
            method: "POST",
            path_suffix: "/blobs/uploads/",
            status: 403,
        },
    )
    .await
    .unwrap();
    let ctx = one_copy_context(tmp.path(), &base.reference);
    let denied = format!("{}/pipe/checked:1", proxy.host());
    let step = "COPY one.txt /one.txt";

    let out = build_blocking(&ctx, &["--destination", &denied]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build succeeded:\n{stderr}");
    assert!(
        stderr.contains(&format!("checking push permission for {denied}"))
            && stderr.contains("--skip-push-permission-check"),
        "the refusal names the destination and the flag:\n{stderr}"
    );
    assert!(
        !stderr.contains(step),
        "a step ran before the check:\n{stderr}"
    );

    let out = build_blocking(
        &ctx,
        &["--destination", &denied, "--skip-push-permission-check"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build succeeded:\n{stderr}");
    assert!(stderr.contains(step), "the build did not run:\n{stderr}");
    assert!(
        !stderr.contains("checking push permission"),
        "the check was made:\n{stderr}"
    );

    let good = format!("{}/pipe/allowed:1", registry.host());
    ok(&build_blocking(&ctx, &["--destination", &good]).await);
    let sessions: Vec<String> = registry
        .logs()
        .lines()
        .filter(|l| {
            l.contains("response completed")
                && l.contains("/v2/pipe/allowed/blobs/uploads/")
                && !l.contains("digest=")
                && !l.contains("mount=")
        })
        .map(str::to_string)
        .collect();
    let opened = sessions
        .iter()
        .filter(|l| l.contains("http.request.method=POST"))
        .count();
    let cancelled = sessions
        .iter()
        .filter(|l| l.contains("http.request.method=DELETE"))
        .count();
    assert!(opened >= 1, "{sessions:#?}");
    assert_eq!(
        cancelled, 1,
        "the check's session is cancelled: {sessions:#?}"
    );
}
