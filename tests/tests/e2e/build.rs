// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `worker build` end to end: the binary (spawned) builds RUN-free Dockerfiles on the busybox
//! fixture in a real registry; results are checked with skopeo and umoci.
//!
//! The binary is found next to this test executable (`target/debug/worker`); build it first
//! (`cargo build -p kaniko-worker`). The pipelined push has its own module (`pipeline`).

mod add;
mod bombs;
mod dockerfiles;
mod pipeline;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kaniko_tests::Registry;
use kaniko_tests::fixture::busybox_setup;
use kaniko_tests::{skopeo_copy, skopeo_inspect_config, skopeo_inspect_raw, umoci_unpack};

fn worker_binary() -> PathBuf {
    kaniko_tests::workspace_binary("worker")
}

fn worker_build(context: &Path, args: &[&str]) -> Output {
    Command::new(worker_binary())
        .arg("build")
        .arg("--context")
        .arg(context)
        .args(["--log-format", "text"])
        .args(args)
        .output()
        .expect("spawn worker")
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "worker build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Copies `reference` into an OCI layout and unpacks it; returns the rootfs.
fn unpack(reference: &str, dir: &Path) -> PathBuf {
    let layout = dir.join("layout");
    skopeo_copy(
        &format!("docker://{reference}"),
        &format!("oci:{}:t", layout.display()),
    )
    .unwrap();
    let bundle = dir.join("bundle");
    umoci_unpack(&layout, "t", &bundle).unwrap();
    bundle.join("rootfs")
}

/// The raw config blob of the only image in an OCI layout.
fn raw_config(layout: &Path) -> serde_json::Value {
    let blob = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = blob(index["manifests"][0]["digest"].as_str().unwrap());
    blob(manifest["config"]["digest"].as_str().unwrap())
}

#[tokio::test]
async fn multi_stage_copy_env_and_entrypoint_rule() {
    let (registry, base, tmp) = busybox_setup().await;
    let ctx = tmp.path().join("ctx");
    write(
        &ctx,
        &[
            ("app/main.sh", "echo main\n"),
            ("app/skip.log", "no\n"),
            ("notes.txt", "n\n"),
            (".dockerignore", "**/*.log\n"),
            (
                "Dockerfile",
                &format!(
                    "ARG BASE={}\nFROM $BASE AS build\nARG NAME=world\nENV GREETING=\"hello $NAME\"\n\
                     COPY --chmod=755 app/ /src/\nCOPY --chown=1000:1000 notes.txt /src/\n\
                     FROM $BASE\nCOPY --from=build /src /opt/app\nWORKDIR /opt/app\n\
                     USER 1000\nENTRYPOINT [\"/opt/app/main.sh\"]\nEXPOSE 8080\nLABEL org.example=yes\n\
                     VOLUME /data\nHEALTHCHECK --interval=5s CMD [\"/bin/true\"]\n",
                    base.reference
                ),
            ),
        ],
    );
    let dest = format!("{}/built/app:1", registry.host());
    let out = worker_build(
        &ctx,
        &["--destination", &dest, "--insecure", "--label", "by=test"],
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("COPY --from=build /src /opt/app"),
        "{stderr}"
    );

    let config = skopeo_inspect_config(&dest, None).unwrap();
    let c = &config["config"];
    // The fixture's CMD is cleared by ENTRYPOINT in the stage.
    assert!(c.get("Cmd").is_none(), "{c}");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/opt/app/main.sh"]));
    assert_eq!(c["WorkingDir"], "/opt/app");
    assert_eq!(c["User"], "1000");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(c["Labels"]["org.example"], "yes");
    assert_eq!(c["Labels"]["by"], "test");
    // ENV of the build stage does not leak into the final stage.
    let env = c["Env"].to_string();
    assert!(!env.contains("GREETING"), "{env}");

    let rootfs = unpack(&dest, tmp.path());
    let main = rootfs.join("opt/app/main.sh");
    assert_eq!(std::fs::read_to_string(&main).unwrap(), "echo main\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&main).unwrap().mode() & 0o7777, 0o755);
    let notes = std::fs::metadata(rootfs.join("opt/app/notes.txt")).unwrap();
    assert_eq!((notes.uid(), notes.gid()), (1000, 1000));
    assert!(
        !rootfs.join("opt/app/skip.log").exists(),
        ".dockerignore ignored"
    );
    assert!(rootfs.join("bin/busybox").exists(), "base layer missing");
    // skopeo's config view drops Docker-only fields: read the raw config blob from the layout.
    let raw = raw_config(&tmp.path().join("layout"));
    assert_eq!(raw["config"]["Healthcheck"]["Interval"], 5_000_000_000i64);
    assert_eq!(
        raw["config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/bin/true"])
    );
}

#[tokio::test]
async fn custom_platform_and_reproducible_digests() {
    let (registry, base, tmp) = busybox_setup().await;
    let ctx = tmp.path().join("ctx");
    write(
        &ctx,
        &[
            ("f.txt", "f\n"),
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY f.txt /f.txt\nCMD [\"cat\", \"/f.txt\"]\n",
                    base.reference
                ),
            ),
        ],
    );
    let digest_of = |tag: &str, file: &Path| {
        let dest = format!("{}/built/arm:{tag}", registry.host());
        let out = worker_build(
            &ctx,
            &[
                "--destination",
                &dest,
                "--insecure",
                "--custom-platform",
                "linux/arm64",
                "--reproducible",
                "--digest-file",
                file.to_str().unwrap(),
            ],
        );
        ok(&out);
        (dest, std::fs::read_to_string(file).unwrap())
    };
    let (dest, first) = digest_of("a", &tmp.path().join("d1"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, second) = digest_of("b", &tmp.path().join("d2"));
    assert_eq!(first, second, "--reproducible builds differ");

    let config = skopeo_inspect_config(&dest, Some("arm64")).unwrap();
    assert_eq!(config["architecture"], "arm64");
    let manifest = skopeo_inspect_raw(&dest).unwrap();
    let arm_child = base
        .children
        .iter()
        .find(|(p, _)| p.architecture == "arm64")
        .map(|(_, d)| d.digest.clone())
        .unwrap();
    let child = skopeo_inspect_raw(&format!(
        "{}@{arm_child}",
        base.reference.rsplit_once(':').unwrap().0
    ))
    .unwrap();
    assert_eq!(
        manifest["layers"][0]["digest"],
        child["layers"][0]["digest"]
    );
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn bad_input_fails_clearly_and_pushes_nothing() {
    let (registry, base, tmp) = busybox_setup().await;
    let cases: Vec<(&str, String, Vec<&str>, &str)> = vec![
        (
            "missing",
            format!("FROM {}\nCOPY nope.txt /\n", base.reference),
            vec![],
            "nope.txt",
        ),
        (
            "unknown-from",
            format!("FROM {}\nCOPY --from=ghost /x /x\n", base.reference),
            vec![],
            "ghost",
        ),
        (
            "instruction",
            format!("FROM {}\nFROBNICATE x\n", base.reference),
            vec![],
            "FROBNICATE",
        ),
        (
            "base",
            format!("FROM {}/fixtures/absent:1\n", registry.host()),
            vec![],
            "fixtures/absent",
        ),
        (
            "platform",
            format!("FROM {}\n", base.reference),
            vec!["--custom-platform", "linux/"],
            "linux/",
        ),
        (
            "unreachable",
            "FROM 127.0.0.1:1/x/y:1\n".to_string(),
            vec![],
            "127.0.0.1:1",
        ),
        (
            "run-exit",
            format!("FROM {}\nRUN echo bye; exit 3\n", base.reference),
            vec![],
            "did not complete successfully: exit code: 3",
        ),
        (
            "run-foreign",
            format!("FROM {}\nRUN true\n", base.reference),
            vec!["--custom-platform", foreign_platform()],
            "a native",
        ),
    ];
    for (name, dockerfile, extra, needle) in cases {
        let ctx = tmp.path().join(name);
        write(&ctx, &[("Dockerfile", &dockerfile)]);
        let dest = format!("{}/bad/{name}:1", registry.host());
        let mut args = vec!["--destination", dest.as_str(), "--insecure"];
        args.extend(extra);
        let out = worker_build(&ctx, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: succeeded");
        assert!(
            stderr.contains(needle),
            "{name}: {needle:?} not in {stderr}"
        );
        assert!(
            skopeo_inspect_raw(&dest).is_err(),
            "{name}: something was pushed"
        );
    }
}

/// A platform that is not this machine's: RUN for it needs a native worker.
fn foreign_platform() -> &'static str {
    if kaniko_common::platform::Platform::host().architecture == "arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    }
}

/// What a user reading the log sees: each progress line once, as a clean human line with no
/// colour codes when stderr is not a terminal (a file, a pipe, CI), and `--log-format json`
/// carrying the step's fields once as JSON.
#[test]
fn progress_lines_are_clean_text_and_their_fields_come_once_in_json() {
    let tmp = tempfile::tempdir().unwrap();
    let context = tmp.path().join("ctx");
    write(
        &context,
        &[
            ("Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n"),
            ("a.txt", "a"),
        ],
    );
    let build = |format: &str| {
        let output = Command::new(worker_binary())
            .args(["build", "--no-push", "--context"])
            .arg(&context)
            .args(["--log-format", format])
            .output()
            .expect("spawn worker");
        ok(&output);
        String::from_utf8(output.stderr).unwrap()
    };
    // `color` is the default; stderr here is a pipe.
    let text = build("color");
    assert!(!text.contains('\x1b'), "colour codes in a pipe:\n{text}");
    let done: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[2/2] COPY a.txt /a.txt: "))
        .collect();
    assert_eq!(done.len(), 1, "{text}");
    assert!(done[0].contains(", layer "), "{text}");
    assert!(
        !text.contains("step=") && !text.contains("instruction="),
        "the fields repeat the line:\n{text}"
    );

    let json = build("json");
    let events: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let done: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["step"] == "2/2" && e.get("duration_ms").is_some())
        .collect();
    assert_eq!(done.len(), 1, "{json}");
    assert_eq!(done[0]["instruction"], "COPY a.txt /a.txt");
    assert!(done[0]["layer_size"].as_u64().unwrap() > 0);
}

/// `--skip-tls-verify-pull` relaxes pulls only, as in Kaniko: against a TLS registry whose
/// certificate no client trusts (the test CA), the base is pulled but the push is verified
/// and refused, naming the certificate (by the push-permission check before the build, or
/// by the push when that is skipped); `--skip-tls-verify-registry` relaxes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_only_tls_flags_leave_the_push_verified() {
    kaniko_tests::init_test_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let tls = kaniko_tests::nats_secure::TlsFiles::generate(&tmp.path().join("tls")).unwrap();
    let registry = Registry::start_tls(&tls).unwrap();
    let base = kaniko_tests::fixture::push_busybox(&registry, "fixtures/busybox")
        .await
        .unwrap();
    let context = tmp.path().join("ctx");
    write(
        &context,
        &[
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY a.txt /a.txt\n", base.reference),
            ),
            ("a.txt", "a"),
        ],
    );
    let host = registry.host();
    let build = |tag: &str, flags: &[&str]| {
        let destination = format!("{host}/app:{tag}");
        let mut args = vec!["--destination", destination.as_str()];
        args.extend_from_slice(flags);
        tokio::task::block_in_place(|| worker_build(&context, &args))
    };
    let client = registry.client();
    let pushed = |tag: &str| {
        let reference = registry.reference(&format!("app:{tag}"));
        let client = client.clone();
        async move { client.pull_manifest_raw(&reference).await.is_ok() }
    };

    // Past the push-permission check (which is a push, and verified: see below), the pull
    // goes through and the push is refused.
    let out = build(
        "pull-only",
        &["--skip-tls-verify-pull", "--skip-push-permission-check"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the push was not verified:\n{stderr}"
    );
    assert!(
        stderr.contains("[2/2] COPY a.txt /a.txt: "),
        "the pull did not get through:\n{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("certificate"),
        "the error does not name the certificate:\n{stderr}"
    );
    assert!(!pushed("pull-only").await);
    let out = build("checked", &["--skip-tls-verify-pull"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("checking push permission") && stderr.contains("certificate"),
        "the check before the build verifies the push's certificate:\n{stderr}"
    );

    // Without the flag the pull is verified too.
    let out = build("strict", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("[2/2] COPY"), "{stderr}");

    let out = build("both", &["--skip-tls-verify-registry", &host]);
    ok(&out);
    assert!(pushed("both").await);
}
