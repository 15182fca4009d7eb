// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The user-visible part of an image config (what `docker inspect` users rely on), read with
//! `skopeo inspect --config` and normalised so that a missing field and an empty one compare
//! equal, as Docker treats them.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use serde_json::Value;

use super::{Difference, Differences};

/// The runtime fields of an image config, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigView {
    /// `Env`, in order.
    pub env: Vec<String>,
    /// `Cmd` (null and `[]` are both empty).
    pub cmd: Vec<String>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `User`.
    pub user: String,
    /// Keys of `ExposedPorts` (`8080/tcp`).
    pub exposed_ports: BTreeSet<String>,
    /// Keys of `Volumes`.
    pub volumes: BTreeSet<String>,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
    /// `StopSignal`.
    pub stop_signal: String,
    /// `Healthcheck` with zero and missing durations dropped; `None` when absent or empty.
    pub healthcheck: Option<Value>,
    /// `OnBuild` triggers.
    pub on_build: Vec<String>,
    /// `Shell`.
    pub shell: Vec<String>,
}

impl ConfigView {
    /// The config of image `reference` (for `arch` through an index, or the host's).
    pub fn of_image(reference: &str, arch: Option<&str>) -> anyhow::Result<ConfigView> {
        let config = crate::skopeo_inspect_config(reference, arch)?;
        ConfigView::from_config(&config).with_context(|| format!("the config of {reference}"))
    }

    /// Reads the view from a whole image config (the JSON with `architecture`, `config`,
    /// `rootfs`); a config without `config` has every field empty.
    pub fn from_config(image_config: &Value) -> anyhow::Result<ConfigView> {
        let config = match image_config.get("config") {
            None | Some(Value::Null) => return Ok(ConfigView::default()),
            Some(Value::Object(config)) => config,
            Some(other) => bail!("config is not an object: {other}"),
        };
        let field = |name: &str| config.get(name).unwrap_or(&Value::Null);
        Ok(ConfigView {
            env: strings(field("Env"), "Env")?,
            cmd: strings(field("Cmd"), "Cmd")?,
            entrypoint: strings(field("Entrypoint"), "Entrypoint")?,
            working_dir: string(field("WorkingDir"), "WorkingDir")?,
            user: string(field("User"), "User")?,
            exposed_ports: keys(field("ExposedPorts"), "ExposedPorts")?,
            volumes: keys(field("Volumes"), "Volumes")?,
            labels: labels(field("Labels"))?,
            stop_signal: string(field("StopSignal"), "StopSignal")?,
            healthcheck: healthcheck(field("Healthcheck"))?,
            on_build: strings(field("OnBuild"), "OnBuild")?,
            shell: strings(field("Shell"), "Shell")?,
        })
    }

    /// Every field that differs between `self` (left) and `other` (right), in field order.
    pub fn diff(&self, other: &ConfigView) -> Differences {
        let mut list = Vec::new();
        let mut field = |name: &'static str, left: String, right: String| {
            if left != right {
                list.push(Difference::field(name, "value", left, right));
            }
        };
        field("Env", json(&self.env), json(&other.env));
        field("Cmd", json(&self.cmd), json(&other.cmd));
        field(
            "Entrypoint",
            json(&self.entrypoint),
            json(&other.entrypoint),
        );
        field(
            "WorkingDir",
            json(&self.working_dir),
            json(&other.working_dir),
        );
        field("User", json(&self.user), json(&other.user));
        field(
            "ExposedPorts",
            json(&self.exposed_ports),
            json(&other.exposed_ports),
        );
        field("Volumes", json(&self.volumes), json(&other.volumes));
        field("Labels", json(&self.labels), json(&other.labels));
        field(
            "StopSignal",
            json(&self.stop_signal),
            json(&other.stop_signal),
        );
        field(
            "Healthcheck",
            json(&self.healthcheck),
            json(&other.healthcheck),
        );
        field("OnBuild", json(&self.on_build), json(&other.on_build));
        field("Shell", json(&self.shell), json(&other.shell));
        Differences::new(list)
    }
}

/// A field's value as compact JSON, for difference messages.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|err| format!("<{err}>"))
}

fn strings(value: &Value, name: &str) -> anyhow::Result<Vec<String>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => bail!("{name} holds a non-string: {other}"),
            })
            .collect(),
        other => bail!("{name} is not a list of strings: {other}"),
    }
}

fn string(value: &Value, name: &str) -> anyhow::Result<String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        other => bail!("{name} is not a string: {other}"),
    }
}

fn keys(value: &Value, name: &str) -> anyhow::Result<BTreeSet<String>> {
    match value {
        Value::Null => Ok(BTreeSet::new()),
        Value::Object(map) => Ok(map.keys().cloned().collect()),
        other => bail!("{name} is not an object: {other}"),
    }
}

fn labels(value: &Value) -> anyhow::Result<BTreeMap<String, String>> {
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), string(v, &format!("Labels[{k}]"))?)))
            .collect(),
        other => bail!("Labels is not an object: {other}"),
    }
}

/// Drops null, zero and empty members; an empty result is no healthcheck.
fn healthcheck(value: &Value) -> anyhow::Result<Option<Value>> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => {
            let kept: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(_, v)| match v {
                    Value::Null => false,
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    Value::Array(a) => !a.is_empty(),
                    Value::String(s) => !s.is_empty(),
                    _ => true,
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok((!kept.is_empty()).then_some(Value::Object(kept)))
        }
        other => bail!("Healthcheck is not an object: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_and_empty_fields_read_the_same() {
        fn check(config: Value, expected: ConfigView) {
            let view = ConfigView::from_config(&config).unwrap();
            assert_eq!(view, expected, "{config}");
        }
        check(json!({}), ConfigView::default());
        check(json!({"config": null}), ConfigView::default());
        check(
            json!({"config": {"Cmd": null, "Env": [], "Labels": {}, "ExposedPorts": null,
                              "WorkingDir": "", "Healthcheck": {"Interval": 0}}}),
            ConfigView::default(),
        );
        check(
            json!({"config": {
                "Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Entrypoint": ["/init"],
                "WorkingDir": "/app", "User": "1:1", "ExposedPorts": {"80/tcp": {}},
                "Volumes": {"/data": {}}, "Labels": {"a": "b"}, "StopSignal": "SIGINT",
                "Healthcheck": {"Test": ["CMD", "true"], "Retries": 3, "Timeout": 0},
                "OnBuild": ["RUN x"], "Shell": ["/bin/bash", "-c"]}}),
            ConfigView {
                env: vec!["PATH=/bin".into(), "A=1".into()],
                cmd: vec!["sh".into()],
                entrypoint: vec!["/init".into()],
                working_dir: "/app".into(),
                user: "1:1".into(),
                exposed_ports: ["80/tcp".to_string()].into(),
                volumes: ["/data".to_string()].into(),
                labels: [("a".to_string(), "b".to_string())].into(),
                stop_signal: "SIGINT".into(),
                healthcheck: Some(json!({"Test": ["CMD", "true"], "Retries": 3})),
                on_build: vec!["RUN x".into()],
                shell: vec!["/bin/bash".into(), "-c".into()],
            },
        );
    }

    #[test]
    fn malformed_fields_are_named() {
        fn check(config: Value, expected: &str) {
            let err = ConfigView::from_config(&config).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        check(json!({"config": {"Env": "A=1"}}), "Env is not a list");
        check(json!({"config": {"Cmd": [1]}}), "Cmd holds a non-string");
        check(json!({"config": {"Labels": {"a": 1}}}), "Labels[a]");
        check(json!({"config": []}), "config is not an object");
    }

    #[test]
    fn diff_names_each_field_with_both_values() {
        let left = ConfigView {
            env: vec!["A=1".into()],
            working_dir: "/app".into(),
            ..ConfigView::default()
        };
        let right = ConfigView {
            env: vec!["A=2".into()],
            working_dir: "/app".into(),
            user: "nobody".into(),
            ..ConfigView::default()
        };
        let diff = left.diff(&right);
        assert_eq!(diff.places(), ["Env", "User"], "{diff}");
        let shown = diff.labeled("kaniko", "buildah").to_string();
        assert!(
            shown.contains(r#"Env: value ["A=1"] (kaniko) != ["A=2"] (buildah)"#),
            "{shown}"
        );
        assert!(left.diff(&left).is_empty());
    }
}
