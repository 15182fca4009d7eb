// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! deploy/systemd: the units pass `systemd-analyze verify` (their binaries pointed at this
//! build's), their command lines are accepted by the real binaries with the example
//! environment file, nats-server accepts its configuration, and the rootless worker's unit
//! keeps what its sandbox needs: setuid newuidmap (no option that implies no_new_privs),
//! user namespaces and an uncovered /proc.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kaniko_tests::workspace_binary;

use super::{assert_accepted, describe, nats_server_accepts, repo, write_auth_conf};

const UNITS: [&str; 3] = [
    "kaniko-rs-worker.service",
    "kaniko-rs-coordinator.service",
    "nats-server.service",
];

fn systemd_dir() -> PathBuf {
    repo().join("deploy/systemd")
}

fn unit(name: &str) -> String {
    std::fs::read_to_string(systemd_dir().join(name)).expect("unit file")
}

/// The unit's settings, `key -> values` in order, comments and sections left out.
fn settings(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            settings
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    settings
}

/// `systemd-analyze verify` on copies of `units` in a fresh directory, the binaries they
/// start replaced by this build's (`/usr/local/bin/<name>` is where an install puts them).
fn verify(units: &[(&str, String)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for (name, text) in units {
        let mut text = text.clone();
        for binary in ["worker", "coordinator"] {
            let real = workspace_binary(binary);
            text = text.replace(
                &format!("/usr/local/bin/{binary} "),
                &format!("{} ", real.display()),
            );
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("unit copy");
        paths.push(path);
    }
    Command::new("systemd-analyze")
        .arg("verify")
        .args(paths)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("systemd-analyze")
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    let units: Vec<(&str, String)> = UNITS.iter().map(|n| (*n, unit(n))).collect();
    let out = verify(&units);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        describe(&out)
    );
    // The control: a misspelt option is reported.
    let misspelt = unit("kaniko-rs-worker.service").replace("ProtectHome=", "ProtectHomes=");
    let out = verify(&[("kaniko-rs-worker.service", misspelt)]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ProtectHomes"),
        "a misspelt option went unnoticed: {}",
        describe(&out)
    );
}

/// `KEY=VALUE` lines of the example environment file.
fn environment_file() -> BTreeMap<String, String> {
    std::fs::read_to_string(systemd_dir().join("kaniko-rs.env"))
        .expect("kaniko-rs.env")
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The program and arguments of the unit's ExecStart, specifiers for system units resolved.
fn exec_start(name: &str) -> (String, Vec<String>) {
    let settings = settings(&unit(name));
    let line = settings["ExecStart"].concat();
    let line = line.replace("%S", "/var/lib").replace("%C", "/var/cache");
    let mut words = line.split_whitespace().map(str::to_string);
    let program = words.next().expect("a program");
    (program, words.collect())
}

#[test]
fn the_units_command_lines_are_accepted() {
    let env = environment_file();
    assert!(env["NATS_URL"].starts_with("nats://"), "{env:?}");
    for (name, binary) in [
        ("kaniko-rs-worker.service", "worker"),
        ("kaniko-rs-coordinator.service", "coordinator"),
    ] {
        let (program, args) = exec_start(name);
        assert_eq!(program, format!("/usr/local/bin/{binary}"), "{name}");
        assert_accepted(name, binary, &args, &env);
    }

    // nats-server with its configuration and the layout's authorization block.
    let (program, args) = exec_start("nats-server.service");
    assert_eq!(program, "/usr/sbin/nats-server");
    assert_eq!(args, ["--config", "/etc/kaniko-rs/nats-server.conf"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("nats-server.conf");
    std::fs::copy(systemd_dir().join("nats-server.conf"), &conf).expect("copy");
    write_auth_conf(dir.path());
    nats_server_accepts(&conf, &[]);
    let store = settings(&unit("nats-server.service"))["StateDirectory"].concat();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains(&format!("store_dir: /var/lib/{store}/")),
        "the JetStream store is not in the unit's StateDirectory {store}"
    );
}

#[test]
fn the_rootless_worker_unit_leaves_its_sandbox_what_it_needs() {
    let worker = settings(&unit("kaniko-rs-worker.service"));
    // Each implies NoNewPrivileges=yes for a unit with User= (systemd.exec(5)), under which
    // the setuid newuidmap cannot map the subordinate ids; or forbids the namespaces; or
    // covers /proc so the kernel refuses the sandbox a /proc of its own.
    const BREAKING: [&str; 20] = [
        "NoNewPrivileges",
        "SystemCallFilter",
        "SystemCallArchitectures",
        "SystemCallLog",
        "RestrictNamespaces",
        "RestrictAddressFamilies",
        "PrivateDevices",
        "PrivateUsers",
        "ProtectClock",
        "ProtectHostname",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectProc",
        "ProcSubset",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "CapabilityBoundingSet",
    ];
    for key in BREAKING {
        assert!(
            !worker.contains_key(key),
            "kaniko-rs-worker.service sets {key}"
        );
    }
    assert_ne!(worker["User"], ["root"]);
    // It is hardened where that is harmless.
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ] {
        assert_eq!(worker[key], [value], "{key}");
    }
    // Its store and scratch files are where ProtectSystem=strict lets it write.
    let (_, args) = exec_start("kaniko-rs-worker.service");
    let mut writable: Vec<PathBuf> = Vec::new();
    for (key, root) in [
        ("StateDirectory", "/var/lib"),
        ("CacheDirectory", "/var/cache"),
    ] {
        for dir in worker[key].concat().split_whitespace() {
            writable.push(Path::new(root).join(dir));
        }
    }
    for flag in ["--store-dir", "--run-cache-dir"] {
        let at = args.iter().position(|a| a == flag).expect(flag);
        let path = Path::new(&args[at + 1]);
        assert!(
            writable.iter().any(|dir| path.starts_with(dir)),
            "{flag} {} is not in the unit's state or cache directories {writable:?}",
            path.display()
        );
    }
}
