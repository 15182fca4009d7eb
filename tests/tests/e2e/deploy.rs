// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! deploy/ as an operator meets it: the kustomize overlays render and validate against the
//! Kubernetes 1.33 schemas (`kubernetes`), the systemd units pass `systemd-analyze verify`
//! (`systemd`), every command line either names is one the real binaries accept and every
//! nats-server configuration one nats-server accepts, and `make image` publishes the image
//! built by our own worker (`image`). This module holds what they share: the tools
//! (`kubectl`, the project's `.venv` from `hack/deps.sh`) and the command-line check.

mod image;
mod kubernetes;
mod systemd;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kaniko_tests::workspace_binary;
use serde_json::Value;

pub(crate) use crate::fleet::describe;

/// The checkout.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A tool of the project's virtual environment (`.venv`, made by `hack/deps.sh`).
fn venv_tool(name: &str) -> PathBuf {
    let path = repo().join(".venv/bin").join(name);
    assert!(
        path.is_file(),
        "{} missing: run hack/deps.sh (it installs kubernetes-validate into .venv)",
        path.display()
    );
    path
}

/// Runs `command` to its end; panics naming it, with its output, when it fails.
fn run_ok(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("running {shown}: {e}"));
    assert!(out.status.success(), "{shown} failed: {}", describe(&out));
    out
}

/// Every document of a YAML stream, as JSON (PyYAML of the project's `.venv`).
fn yaml_documents(yaml: &str) -> Vec<Value> {
    let mut child = Command::new(venv_tool("python"))
        .args([
            "-c",
            "import json, sys, yaml\n\
             docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]\n\
             json.dump(docs, sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python of .venv");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("writing the yaml");
    let out = child.wait_with_output().expect("python of .venv");
    assert!(out.status.success(), "yaml to json: {}", describe(&out));
    match serde_json::from_slice(&out.stdout).expect("json") {
        Value::Array(docs) => docs,
        other => panic!("expected a list of documents, got {other}"),
    }
}

/// A policy for `coordinator nats-config` and `coordinator serve --policy`.
const POLICY: &str =
    r#"{"identities": {"ci": {"push": ["registry.example.com/*"], "pull": ["*"]}}}"#;

/// Writes the policy and the authorization block `coordinator nats-config` makes of it
/// (`auth.conf`, the file deploy/'s nats-server configurations include) into `dir`.
fn write_auth_conf(dir: &Path) {
    let policy = dir.join("policy.json");
    std::fs::write(&policy, POLICY).expect("policy");
    run_ok(
        Command::new(workspace_binary("coordinator"))
            .arg("nats-config")
            .arg("--policy")
            .arg(policy)
            .arg("--keys")
            .arg(dir.join("keys"))
            .arg("--output")
            .arg(dir.join("auth.conf"))
            .env_remove("KANIKO_PREFIX"),
    );
}

/// Runs `nats-server --config <conf> -t` (parse and check the configuration, then exit) with
/// `env`; panics with its complaint when it refuses the file.
fn nats_server_accepts(conf: &Path, env: &[(&str, &str)]) {
    run_ok(
        Command::new(kaniko_tests::nats_server_binary())
            .arg("--config")
            .arg(conf)
            .arg("-t")
            .envs(env.iter().copied()),
    );
}

/// How long a daemon started with a deploy/ command line may run before the check stops it:
/// by then it has long parsed its arguments.
const PARSE_WINDOW: Duration = Duration::from_secs(5);

/// What a command line from deploy/ did when run by the real binary.
#[derive(Debug)]
enum Parsed {
    /// The argument parser took it: the program went on (and failed later for want of NATS,
    /// a seed or a policy, or was still running).
    Accepted,
    /// The argument parser refused it (clap's usage error), with its message.
    Refused(String),
}

/// Runs `program` (`worker` or `coordinator` of this workspace) with `args` and `env` (and
/// nothing else of this process's environment that the binaries read), absolute paths in
/// the arguments moved below a temporary directory so nothing outside it is written, and
/// reports whether its argument parser accepted them.
fn parse_with_binary(program: &str, args: &[String], env: &BTreeMap<String, String>) -> Parsed {
    let scratch = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = args
        .iter()
        .map(|arg| relocate(arg, scratch.path()))
        .collect();
    let mut command = Command::new(workspace_binary(program));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", scratch.path())
        .env("TMPDIR", scratch.path())
        .env("KANIKO_NO_USERNS", "1")
        .envs(env)
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawning the binary");
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() && started.elapsed() < PARSE_WINDOW {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // clap's refusal: exit code 2 and its usage line.
    if out.status.code() == Some(2) && stderr.contains("Usage:") {
        Parsed::Refused(stderr)
    } else {
        Parsed::Accepted
    }
}

/// `arg` with an absolute path (the whole argument, or the value of `--flag=/path`) moved
/// below `root`.
fn relocate(arg: &str, root: &Path) -> String {
    let moved = |path: &str| format!("{}{path}", root.display());
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") && value.starts_with('/') => {
            format!("{flag}={}", moved(value))
        }
        _ if arg.starts_with('/') => moved(arg),
        _ => arg.to_string(),
    }
}

/// Asserts that the real `program` accepts `args` (from `whence`), and, as a control, refuses
/// them with an unknown flag added: the check itself can fail.
fn assert_accepted(whence: &str, program: &str, args: &[String], env: &BTreeMap<String, String>) {
    assert!(
        matches!(program, "worker" | "coordinator"),
        "{whence}: runs {program:?}, not worker or coordinator"
    );
    if let Parsed::Refused(message) = parse_with_binary(program, args, env) {
        panic!(
            "{whence}: `{program} {}` is refused: {message}",
            args.join(" ")
        );
    }
    let mut wrong = args.to_vec();
    wrong.push("--no-such-flag-in-kaniko-rs".to_string());
    assert!(
        matches!(parse_with_binary(program, &wrong, env), Parsed::Refused(_)),
        "{whence}: an unknown flag went unnoticed; the check would not catch a wrong one"
    );
}

#[test]
fn relocating_moves_only_absolute_paths() {
    fn check(arg: &str, expected: &str) {
        assert_eq!(relocate(arg, Path::new("/s")), expected);
    }
    check("--store-dir=/var/lib/x", "--store-dir=/s/var/lib/x");
    check("/etc/kaniko-rs/policy.json", "/s/etc/kaniko-rs/policy.json");
    check(
        "--nats=nats://kaniko-rs-nats:4222",
        "--nats=nats://kaniko-rs-nats:4222",
    );
    check("serve", "serve");
    check("--store-max-size=20GiB", "--store-max-size=20GiB");
}
