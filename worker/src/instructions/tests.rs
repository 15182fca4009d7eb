// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of the config effects of metadata instructions.

use std::time::Duration;

use kaniko_common::dockerfile::{Command, Expanded, Healthcheck};

use super::*;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn run(config: &mut RunConfig, flags: &mut StageFlags, steps: &[Expanded]) {
    for step in steps {
        apply(config, flags, step).unwrap();
    }
}

#[test]
fn entrypoint_and_cmd_rule() {
    let inherited = RunConfig {
        cmd: Some(s(&["sh"])),
        ..RunConfig::default()
    };
    let ep = || Expanded::Entrypoint(Command::Exec(s(&["/app"])));
    let cmd = || Expanded::Cmd(Command::Exec(s(&["--help"])));
    let check = |steps: Vec<Expanded>, expected_cmd: Option<Vec<String>>| {
        let mut config = inherited.clone();
        run(&mut config, &mut StageFlags::default(), &steps);
        assert_eq!(config.cmd, expected_cmd, "{steps:?}");
        assert_eq!(config.entrypoint, Some(s(&["/app"])));
    };
    // ENTRYPOINT alone clears the inherited CMD.
    check(vec![ep()], None);
    // CMD set in the stage survives ENTRYPOINT, before or after.
    check(vec![cmd(), ep()], Some(s(&["--help"])));
    check(vec![ep(), cmd()], Some(s(&["--help"])));
}

#[test]
fn shell_form_uses_the_stage_shell() {
    let mut config = RunConfig::default();
    let mut flags = StageFlags::default();
    run(
        &mut config,
        &mut flags,
        &[Expanded::Cmd(Command::Shell("echo $HOME".into()))],
    );
    assert_eq!(config.cmd, Some(s(&["/bin/sh", "-c", "echo $HOME"])));
    run(
        &mut config,
        &mut flags,
        &[
            Expanded::Shell(s(&["/bin/bash", "-eu", "-c"])),
            Expanded::Entrypoint(Command::Shell("exec app".into())),
        ],
    );
    assert_eq!(
        config.entrypoint,
        Some(s(&["/bin/bash", "-eu", "-c", "exec app"]))
    );
    assert_eq!(config.shell, Some(s(&["/bin/bash", "-eu", "-c"])));
}

#[test]
fn env_keeps_order_and_replaces_in_place() {
    let mut config = RunConfig {
        env: s(&["PATH=/bin", "A=1"]),
        ..RunConfig::default()
    };
    run(
        &mut config,
        &mut StageFlags::default(),
        &[Expanded::Env(vec![
            ("B".into(), "2".into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
        ])],
    );
    assert_eq!(config.env, s(&["PATH=/usr/bin:/bin", "A=1", "B=2"]));
    assert_eq!(
        config.env_pairs(),
        vec![
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "2".to_string())
        ]
    );
}

#[test]
fn expose_words() {
    let check = |word: &str, expected: Result<Vec<&str>, ()>| {
        let got = expose(word).map_err(|_| ());
        assert_eq!(got, expected.map(|v| s(&v)), "{word}");
    };
    check("80", Ok(vec!["80/tcp"]));
    check("80/tcp", Ok(vec!["80/tcp"]));
    check("53/UDP", Ok(vec!["53/udp"]));
    check("8000-8002", Ok(vec!["8000/tcp", "8001/tcp", "8002/tcp"]));
    check("9-8", Err(()));
    check("80/icmp", Err(()));
    check("http", Err(()));
    check("70000", Err(()));
}

#[test]
fn workdir_paths() {
    let check = |current: &str, path: &str, expected: &str| {
        assert_eq!(workdir(current, path), expected, "{current} + {path}");
    };
    check("", "/app", "/app");
    check("", "app", "/app");
    check("/app", "src", "/app/src");
    check("/app", "../x/./y/", "/x/y");
    check("/app", "/", "/");
    check("/a", "../../..", "/");
}

#[test]
fn healthcheck_config() {
    let check = |hc: Healthcheck, expected: HealthConfig| assert_eq!(health_config(&hc), expected);
    check(
        Healthcheck::None,
        HealthConfig {
            test: s(&["NONE"]),
            ..HealthConfig::default()
        },
    );
    check(
        Healthcheck::Cmd {
            interval: Some(Duration::from_secs(30)),
            timeout: Some(Duration::from_millis(1500)),
            start_period: None,
            start_interval: None,
            retries: Some(3),
            command: Command::Shell("curl -f http://localhost/".into()),
        },
        HealthConfig {
            test: s(&["CMD-SHELL", "curl -f http://localhost/"]),
            interval: 30_000_000_000,
            timeout: 1_500_000_000,
            retries: 3,
            ..HealthConfig::default()
        },
    );
    check(
        Healthcheck::Cmd {
            interval: None,
            timeout: None,
            start_period: Some(Duration::from_secs(5)),
            start_interval: Some(Duration::from_secs(1)),
            retries: None,
            command: Command::Exec(s(&["/bin/check", "-q"])),
        },
        HealthConfig {
            test: s(&["CMD", "/bin/check", "-q"]),
            start_period: 5_000_000_000,
            start_interval: 1_000_000_000,
            ..HealthConfig::default()
        },
    );
}

#[test]
fn docker_config_round_trip_keeps_unknown_fields() {
    let base = r#"{"Hostname":"","Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,
        "OnBuild":null,"Labels":null,"ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},
        "ArgsEscaped":true,"Healthcheck":{"Test":["CMD","true"],"Interval":1000}}"#;
    let config: RunConfig = serde_json::from_str(base).unwrap();
    assert_eq!(config.env, s(&["PATH=/bin"]));
    assert_eq!(config.entrypoint, None);
    assert!(config.on_build.is_empty());
    assert!(config.exposed_ports.contains("80/tcp"));
    assert!(config.volumes.contains("/data"));
    assert_eq!(config.healthcheck.as_ref().map(|h| h.interval), Some(1000));
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["ArgsEscaped"], serde_json::json!(true));
    assert_eq!(json["Hostname"], serde_json::json!(""));
    assert_eq!(json["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
    assert_eq!(json["Volumes"], serde_json::json!({"/data": {}}));
    assert!(json.get("Entrypoint").is_none());
    assert!(json.get("OnBuild").is_none());
}

#[test]
fn metadata_instructions_set_their_fields() {
    let mut config = RunConfig::default();
    run(
        &mut config,
        &mut StageFlags::default(),
        &[
            Expanded::Label(vec![("a".into(), "1".into()), ("b".into(), "x y".into())]),
            Expanded::Label(vec![("a".into(), "2".into())]),
            Expanded::User("1000:1000".into()),
            Expanded::Volume(s(&["/data", "/logs"])),
            Expanded::StopSignal("SIGTERM".into()),
            Expanded::Onbuild("COPY . /app".into()),
            Expanded::Expose(s(&["80", "443/tcp"])),
        ],
    );
    assert_eq!(config.labels.get("a").map(String::as_str), Some("2"));
    assert_eq!(config.labels.get("b").map(String::as_str), Some("x y"));
    assert_eq!(config.user, "1000:1000");
    assert_eq!(config.volumes.len(), 2);
    assert_eq!(config.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(config.on_build, s(&["COPY . /app"]));
    assert_eq!(
        config.exposed_ports.iter().cloned().collect::<Vec<_>>(),
        s(&["443/tcp", "80/tcp"])
    );
    let copy = apply(
        &mut config,
        &mut StageFlags::default(),
        &Expanded::Maintainer("me".into()),
    );
    assert_eq!(copy, Ok(true));
}

#[test]
fn created_by_joins_continuations() {
    let check = |original: &str, expected: &str| assert_eq!(created_by(original, '\\'), expected);
    check("COPY src/ /app/", "COPY src/ /app/");
    check("ENV A=1 \\\n    B=2", "ENV A=1 B=2");
    check("LABEL a=1 \\\n# note\n  b=2", "LABEL a=1 b=2");
}
