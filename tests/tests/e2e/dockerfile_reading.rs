// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Reading the Dockerfile and `.dockerignore` of an untrusted context: a `tar://` context
//! whose regular `Dockerfile` entry is followed by a symlink of the same name (to a host file,
//! to `/proc/self/environ`), a FIFO or an oversized Dockerfile, a `.dockerignore` replaced by
//! a link out; the same planted symlink in a context submitted to the coordinator over NATS;
//! and a directory context whose Dockerfile links out, submitted with the local driver.
//! Nothing of a host file may reach the build, its log or its error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kaniko_common::messages::ContextRef;
use kaniko_common::subjects::{ApiVerb, Names};
use kaniko_tests::{Registry, init_test_tracing};
use serde_json::{Value, json};
use sha2::Digest;

use crate::coordinator::Setup;
use crate::dockerfiles::worker_binary;

/// One entry of a hand-made context tar, in the order given (duplicates allowed).
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Fifo(&'a str),
}

fn tar_of(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        match entry {
            Entry::File(path, content) => {
                header.set_size(content.len() as u64);
                header.set_cksum();
                builder.append_data(&mut header, path, *content).unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::Fifo(path) => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_size(0);
                header.set_cksum();
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// A host file no build may read, holding `content`.
struct HostFile {
    dir: tempfile::TempDir,
}

impl HostFile {
    fn new(content: &str) -> HostFile {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), content).unwrap();
        HostFile { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("secret")
    }
}

/// `worker build --no-push` of the `tar://` context `entries`, with `args` and `env` added;
/// killed (and the test failed) after 60 s.
fn build_tar(entries: &[Entry<'_>], args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("context.tar");
    std::fs::write(&tar, tar_of(entries)).unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(worker_binary())
        .arg("build")
        .arg(format!("--context=tar://{}", tar.display()))
        .args(["--no-push", "--log-format", "text"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "worker build hung reading its context: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails unless the build failed with an error line holding every needle, and `leak` (when
/// given) is nowhere in its output.
fn assert_refused(out: &Output, needles: &[&str], leak: Option<&str>) {
    let all = text(out);
    assert!(!out.status.success(), "the build succeeded: {all}");
    assert!(!all.contains("panicked"), "{all}");
    if let Some(leak) = leak {
        assert!(!all.contains(leak), "the output shows {leak:?}: {all}");
    }
    let errors: Vec<&str> = all.lines().filter(|l| l.contains("error")).collect();
    for needle in needles {
        assert!(
            errors.iter().any(|l| l.contains(needle)),
            "{needle:?} not in the error: {errors:?}"
        );
    }
}

#[test]
fn a_tar_context_cannot_point_the_dockerfile_out_of_itself() {
    const FROM: &[u8] = b"FROM scratch\n";
    let host = HostFile::new("LEAKEDHOSTFILE and the rest of a host file\n");
    let host_path = host.path().display().to_string();
    let out = build_tar(
        &[
            Entry::File("Dockerfile", FROM),
            Entry::Symlink("Dockerfile", &host_path),
        ],
        &[],
        &[],
    );
    assert_refused(
        &out,
        &["dockerfile \"Dockerfile\"", "not in the build context"],
        Some("LEAKEDHOSTFILE"),
    );

    let out = build_tar(
        &[
            Entry::File("Dockerfile", FROM),
            Entry::Symlink("Dockerfile", "/proc/self/environ"),
        ],
        &[],
        &[("AAAA_KANIKO_LEAK", "leaked-environment-value")],
    );
    assert_refused(
        &out,
        &["dockerfile \"Dockerfile\"", "not in the build context"],
        Some("leaked-environment-value"),
    );

    // A directory on the way, replaced by a link out, and --dockerfile through it.
    let out = build_tar(
        &[
            Entry::File("build/environ", FROM),
            Entry::Symlink("build", "/proc/self"),
        ],
        &["--dockerfile", "build/environ"],
        &[("AAAA_KANIKO_LEAK", "leaked-environment-value")],
    );
    assert_refused(
        &out,
        &["dockerfile \"build/environ\"", "not in the build context"],
        Some("leaked-environment-value"),
    );
}

#[test]
fn a_dockerfile_that_is_not_a_small_regular_file_is_refused_naming_why() {
    let out = build_tar(
        &[
            Entry::File("Dockerfile", b"FROM scratch\n"),
            Entry::Fifo("Dockerfile"),
        ],
        &[],
        &[],
    );
    assert_refused(
        &out,
        &["dockerfile \"Dockerfile\"", "not a regular file"],
        None,
    );

    let mut big = b"FROM scratch\n".to_vec();
    big.resize(4 * 1024 * 1024 + 1, b'#');
    let out = build_tar(&[Entry::File("Dockerfile", &big)], &[], &[]);
    assert_refused(
        &out,
        &[
            "dockerfile \"Dockerfile\"",
            "larger than the limit of 4 MiB",
        ],
        None,
    );

    // An unknown instruction is quoted by its keyword only, however long the line.
    let out = build_tar(
        &[Entry::File(
            "Dockerfile",
            b"FROM scratch\nTOKENabcdefghijklmnopqrstuvwxyz0123456789=secret-part more\n",
        )],
        &[],
        &[],
    );
    assert_refused(
        &out,
        &["dockerfile:2", "unknown instruction"],
        Some("secret-part"),
    );
}

#[test]
fn a_dockerignore_linked_out_of_a_tar_context_is_never_read() {
    let host = HostFile::new("LEAKEDIGNORE[\n");
    let host_path = host.path().display().to_string();
    let out = build_tar(
        &[
            Entry::File("Dockerfile", b"FROM scratch\nCOPY kept.txt /\n"),
            Entry::File("kept.txt", b"kept\n"),
            Entry::File(".dockerignore", b"*.log\n"),
            Entry::Symlink(".dockerignore", &host_path),
        ],
        &[],
        &[],
    );
    let all = text(&out);
    assert!(!all.contains("LEAKEDIGNORE"), "{all}");
    assert!(out.status.success(), "{all}");
}

/// Uploads `tar` to the contexts store of `nats`.
async fn upload(js: &async_nats::jetstream::Context, tar: &[u8]) -> ContextRef {
    let context = ContextRef {
        sha256: sha2::Sha256::digest(tar)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        size: tar.len() as u64,
    };
    let store = js
        .get_object_store(Names::default().contexts_store())
        .await
        .unwrap();
    store
        .put(context.object_name().as_str(), &mut &tar[..])
        .await
        .unwrap();
    context
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_refuses_a_dockerfile_replaced_by_a_symlink() {
    let setup = Setup::start(None).await;
    let submit = |context: ContextRef| {
        setup.json(
            ApiVerb::Submit,
            json!({
                "context": {"sha256": context.sha256, "size": context.size},
                "platforms": ["linux/amd64"],
                "destinations": ["127.0.0.1:1/app:1"],
            }),
        )
    };
    for planted in [
        tar_of(&[
            Entry::File("Dockerfile", b"FROM busybox\nCOPY a /a\n"),
            Entry::Symlink("Dockerfile", "/proc/self/environ"),
        ]),
        tar_of(&[
            Entry::File("Dockerfile", b"FROM busybox\nCOPY a /a\n"),
            Entry::File("Dockerfile", b"FROM busybox\nRUN true\n"),
            Entry::Fifo("Dockerfile"),
        ]),
    ] {
        let reply = submit(upload(&setup.js, &planted).await).await;
        assert_eq!(reply["build_id"], Value::Null, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("dockerfile Dockerfile") && message.contains("not a regular file"),
            "{reply}"
        );
    }
    assert_eq!(setup.tasks_in_stream().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_with_the_local_driver_reads_only_files_of_the_context() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = HostFile::new("LEAKEDHOSTFILE and the rest of a host file\n");
    let submit = |context: &Path, repository: &str| {
        let output = Command::new(kaniko_tests::workspace_binary("coordinator"))
            .env_remove("NATS_URL")
            .env_remove("KANIKO_DRIVER")
            .arg("submit")
            .arg("--driver=local")
            .arg("--context")
            .arg(context)
            .arg(format!("--destination={}/{repository}:1", registry.host()))
            .args(["--insecure-registry", &registry.host()])
            .args(["--timeout", "120"])
            .output()
            .unwrap();
        let all = text(&output);
        (output.status.success(), all)
    };

    let linked = dir.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    std::os::unix::fs::symlink(host.path(), linked.join("Dockerfile")).unwrap();
    let (ok, all) = submit(&linked, "linked");
    assert!(!ok, "{all}");
    assert!(!all.contains("LEAKEDHOSTFILE"), "{all}");
    assert!(all.contains("not in the build context"), "{all}");

    let ignore = HostFile::new("LEAKEDIGNORE[\n");
    let ignored = dir.path().join("ignored");
    std::fs::create_dir(&ignored).unwrap();
    let mut file = std::fs::File::create(ignored.join("Dockerfile")).unwrap();
    file.write_all(b"FROM scratch\nCOPY kept.txt /\n").unwrap();
    std::fs::write(ignored.join("kept.txt"), "kept\n").unwrap();
    std::os::unix::fs::symlink(ignore.path(), ignored.join(".dockerignore")).unwrap();
    let (ok, all) = submit(&ignored, "ignored");
    assert!(!all.contains("LEAKEDIGNORE"), "{all}");
    assert!(ok, "{all}");
}
