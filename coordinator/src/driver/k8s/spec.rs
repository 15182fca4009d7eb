// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The Job of one platform, pure: its name (DNS-1123, at most 63 characters), labels, node
//! selector, and the `worker build` command line its one container runs, made from the
//! fleet's own task ([`crate::policy::task::task_for`]) so a pod builds exactly what a fleet
//! worker or the local driver would. No credential reaches the spec: a registry Secret is
//! mounted by name, read-only, and `DOCKER_CONFIG` names the mount's directory.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use kaniko_common::messages::{RequestedOciMode, Task};
use kaniko_common::oci::Compression;
use kaniko_common::platform::Platform;
use sha2::{Digest, Sha256};

/// The label every object of a build carries: its build id.
pub const BUILD_LABEL: &str = "kaniko-rs.io/build";
/// The label naming a Job's (and its pods') platform, `os-arch[-variant]`.
pub const PLATFORM_LABEL: &str = "kaniko-rs.io/platform";
/// The node label holding the CPU variant (`v7`, `v8`), where nodes carry one: Kubernetes
/// has no well-known label for it.
pub const VARIANT_NODE_LABEL: &str = "kaniko-rs.io/arch-variant";
/// The well-known node labels of the operating system and the architecture.
pub const OS_NODE_LABEL: &str = "kubernetes.io/os";
/// See [`OS_NODE_LABEL`].
pub const ARCH_NODE_LABEL: &str = "kubernetes.io/arch";
/// Where the pod's termination message is written (the Kubernetes default path).
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// Where `--k8s-registry-secret` is mounted; `DOCKER_CONFIG` points here.
pub const DOCKER_CONFIG_MOUNT: &str = "/kaniko-rs/docker-config";
/// The key of a `kubernetes.io/dockerconfigjson` Secret.
pub const DOCKERCONFIGJSON_KEY: &str = ".dockerconfigjson";

/// Pod settings of every Job of a build (the `--k8s-*` flags, checked).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodSettings {
    /// `--k8s-worker-image`.
    pub worker_image: String,
    /// `--k8s-service-account`.
    pub service_account: Option<String>,
    /// `--k8s-cpu`: request and limit.
    pub cpu: Option<String>,
    /// `--k8s-memory`: request and limit.
    pub memory: Option<String>,
    /// `--k8s-toleration`, as Kubernetes objects.
    pub tolerations: Vec<serde_json::Value>,
    /// `--k8s-node-selector`: added to the platform's.
    pub node_selector: BTreeMap<String, String>,
    /// `--k8s-priority-class`.
    pub priority_class: Option<String>,
    /// `--k8s-active-deadline`, seconds.
    pub active_deadline_secs: Option<i64>,
    /// `--k8s-backoff-limit`.
    pub backoff_limit: i32,
    /// `--k8s-ttl-after-finished`, seconds.
    pub ttl_after_finished_secs: i32,
    /// `--k8s-registry-secret`: the Secret's name.
    pub registry_secret: Option<String>,
}

/// `os-arch[-variant]`: a platform as a label value.
pub fn platform_label(platform: &Platform) -> String {
    let mut out = format!("{}-{}", platform.os, platform.architecture);
    if let Some(variant) = &platform.variant {
        out.push('-');
        out.push_str(variant);
    }
    dns_label(&out)
}

/// Lowercase letters, digits and `-`, anything else turned into `-`.
fn dns_label(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect()
}

/// The Job's name: `kaniko-<build8>-<arch><variant>` (the OS too when it is not linux),
/// where `build8` is the build id's last 8 characters; a name past 63 characters is cut and
/// ends with a hash of the whole, so it stays unique.
pub fn job_name(build_id: &str, platform: &Platform) -> String {
    let short: String = {
        let chars: Vec<char> = build_id.chars().collect();
        chars[chars.len().saturating_sub(8)..].iter().collect()
    };
    let mut arch = String::new();
    if platform.os != "linux" {
        arch.push_str(&platform.os);
        arch.push('-');
    }
    arch.push_str(&platform.architecture);
    arch.push_str(platform.variant.as_deref().unwrap_or_default());
    let name = dns_label(&format!("kaniko-{short}-{arch}"));
    if name.len() <= 63 {
        return name.trim_end_matches('-').to_string();
    }
    let hash = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    format!("{}-{hash}", name[..54].trim_end_matches('-'))
}

/// The node selector of `platform`'s pods: `kubernetes.io/os` and `kubernetes.io/arch`, the
/// variant label when some node carries it (`variant_labelled`), and the user's extra ones.
pub fn node_selector(
    platform: &Platform,
    variant_labelled: bool,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = extra.clone();
    out.insert(OS_NODE_LABEL.to_string(), platform.os.clone());
    out.insert(ARCH_NODE_LABEL.to_string(), platform.architecture.clone());
    if let (Some(variant), true) = (&platform.variant, variant_labelled) {
        out.insert(VARIANT_NODE_LABEL.to_string(), variant.clone());
    }
    out
}

/// The container's command: `worker build` for `task` from the context artifact `context`
/// (`<registry>/<repo>@sha256:…`), pushing by digest only and writing the result to the
/// termination message; `registry_flags` are this process's registry access flags.
pub fn worker_command(task: &Task, context: &str, registry_flags: &[String]) -> Vec<String> {
    let mut argv: Vec<String> = ["worker", "build", "--context"].map(String::from).to_vec();
    argv.push(format!("oci://{context}"));
    let mut flag = |name: &str, value: &str| {
        argv.push(format!("--{name}={value}"));
    };
    flag("dockerfile", &task.dockerfile);
    flag("custom-platform", &task.platform.to_string());
    for destination in &task.destinations {
        flag("destination", destination);
    }
    flag("push-by-digest", "true");
    flag("termination-message-path", TERMINATION_MESSAGE_PATH);
    flag("log-format", "text");
    for (key, value) in &task.build_args {
        flag("build-arg", &format!("{key}={value}"));
    }
    for (key, value) in &task.labels {
        flag("label", &format!("{key}={value}"));
    }
    if let Some(target) = task.target.as_deref().filter(|t| !t.is_empty()) {
        flag("target", target);
    }
    let compression = match task.compression {
        Compression::Zstd => "zstd",
        _ => "gzip",
    };
    flag("compression", compression);
    if let Some(level) = task.compression_level {
        flag("compression-level", &level.to_string());
    }
    let oci_mode = match task.oci_mode {
        RequestedOciMode::Oci => "oci",
        RequestedOciMode::Docker => "docker",
        RequestedOciMode::Auto => "auto",
    };
    flag("oci-mode", oci_mode);
    if task.reproducible {
        flag("reproducible", "true");
    }
    if let Some(cache) = &task.cache {
        flag("cache", "true");
        if let Some(repo) = &cache.repo {
            flag("cache-repo", repo);
        }
        if let Some(ttl) = cache.ttl_secs {
            flag("cache-ttl", &format!("{ttl}s"));
        }
        flag("cache-copy-layers", &cache.copy_layers.to_string());
        flag("cache-run-layers", &cache.run_layers.to_string());
        flag("no-push-cache", &(!cache.push).to_string());
        if let Some(suffix) = &task.arch_cache_repo_suffix {
            flag("arch-cache-repo-suffix", suffix);
        }
    }
    argv.extend(registry_flags.iter().cloned());
    argv
}

/// The Job running `command` for `platform` of `build_id`.
pub fn job(
    settings: &PodSettings,
    build_id: &str,
    platform: &Platform,
    node_selector: &BTreeMap<String, String>,
    command: &[String],
) -> Result<Job, serde_json::Error> {
    let labels = serde_json::json!({
        "app.kubernetes.io/name": "kaniko-rs",
        "app.kubernetes.io/component": "build",
        BUILD_LABEL: build_id,
        PLATFORM_LABEL: platform_label(platform),
    });
    let mut container = serde_json::json!({
        "name": "worker",
        "image": settings.worker_image,
        "command": command,
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "File",
    });
    let mut resources = serde_json::Map::new();
    for (name, value) in [("cpu", &settings.cpu), ("memory", &settings.memory)] {
        if let Some(value) = value {
            resources.insert(name.to_string(), serde_json::json!(value));
        }
    }
    if !resources.is_empty() {
        container["resources"] =
            serde_json::json!({"requests": resources.clone(), "limits": resources});
    }
    let mut pod = serde_json::json!({
        "restartPolicy": "Never",
        "nodeSelector": node_selector,
        "containers": [],
    });
    if let Some(secret) = &settings.registry_secret {
        container["env"] =
            serde_json::json!([{"name": "DOCKER_CONFIG", "value": DOCKER_CONFIG_MOUNT}]);
        container["volumeMounts"] = serde_json::json!([
            {"name": "docker-config", "mountPath": DOCKER_CONFIG_MOUNT, "readOnly": true}
        ]);
        pod["volumes"] = serde_json::json!([{
            "name": "docker-config",
            "secret": {
                "secretName": secret,
                "items": [{"key": DOCKERCONFIGJSON_KEY, "path": "config.json"}],
            },
        }]);
    }
    pod["containers"] = serde_json::json!([container]);
    if let Some(account) = &settings.service_account {
        pod["serviceAccountName"] = serde_json::json!(account);
    }
    if let Some(class) = &settings.priority_class {
        pod["priorityClassName"] = serde_json::json!(class);
    }
    if !settings.tolerations.is_empty() {
        pod["tolerations"] = serde_json::json!(settings.tolerations);
    }
    let mut spec = serde_json::json!({
        "backoffLimit": settings.backoff_limit,
        "ttlSecondsAfterFinished": settings.ttl_after_finished_secs,
        "template": {"metadata": {"labels": labels}, "spec": pod},
    });
    if let Some(deadline) = settings.active_deadline_secs {
        spec["activeDeadlineSeconds"] = serde_json::json!(deadline);
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(build_id, platform), "labels": labels},
        "spec": spec,
    }))
}

/// `--k8s-toleration KEY[=VALUE]:EFFECT` (as `kubectl taint` writes a taint), or `KEY` alone
/// (any effect): a toleration object, `Equal` with a value, `Exists` without.
pub fn parse_toleration(text: &str) -> Result<serde_json::Value, String> {
    let (taint, effect) = match text.rsplit_once(':') {
        Some((taint, effect)) => (taint, Some(effect)),
        None => (text, None),
    };
    if let Some(effect) = effect
        && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
    {
        return Err(format!(
            "--k8s-toleration {text:?}: effect {effect:?} is not NoSchedule, PreferNoSchedule or \
             NoExecute"
        ));
    }
    let (key, value) = match taint.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (taint, None),
    };
    if key.is_empty() {
        return Err(format!(
            "--k8s-toleration {text:?}: expected KEY[=VALUE][:EFFECT]"
        ));
    }
    let mut out = serde_json::json!({"key": key});
    match value {
        Some(value) => {
            out["operator"] = serde_json::json!("Equal");
            out["value"] = serde_json::json!(value);
        }
        None => out["operator"] = serde_json::json!("Exists"),
    }
    if let Some(effect) = effect {
        out["effect"] = serde_json::json!(effect);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    #[test]
    fn job_names_fit_kubernetes() {
        fn check(build_id: &str, text: &str, expected: &str) {
            let name = job_name(build_id, &platform(text));
            assert_eq!(name, expected, "{build_id} {text}");
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
        }
        check(
            "19a2b3c4d5e-0a1b2c3d",
            "linux/amd64",
            "kaniko-0a1b2c3d-amd64",
        );
        check(
            "19a2b3c4d5e-0a1b2c3d",
            "linux/arm64",
            "kaniko-0a1b2c3d-arm64",
        );
        check(
            "19a2b3c4d5e-0a1b2c3d",
            "linux/arm/v7",
            "kaniko-0a1b2c3d-armv7",
        );
        check(
            "19a2b3c4d5e-0A1B2C3D",
            "windows/amd64",
            "kaniko-0a1b2c3d-windows-amd64",
        );
        // Parsed platforms are short; a long one is built directly.
        let long_platform = |arch: String| Platform {
            os: "linux".into(),
            architecture: arch,
            variant: None,
        };
        let long = job_name("b", &long_platform("x".repeat(80)));
        assert_eq!(long.len(), 63, "{long}");
        let other = job_name("b", &long_platform(format!("{}y", "x".repeat(80))));
        assert_ne!(long, other);
    }

    #[test]
    fn node_selectors_name_the_platform() {
        let extra = BTreeMap::from([("pool".to_string(), "builds".to_string())]);
        let got = node_selector(&platform("linux/arm/v7"), true, &extra);
        assert_eq!(
            got,
            BTreeMap::from(
                [
                    ("kubernetes.io/arch", "arm"),
                    ("kubernetes.io/os", "linux"),
                    ("kaniko-rs.io/arch-variant", "v7"),
                    ("pool", "builds"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()))
            )
        );
        let got = node_selector(&platform("linux/arm/v7"), false, &BTreeMap::new());
        assert!(!got.contains_key(VARIANT_NODE_LABEL), "{got:?}");
    }

    fn task() -> Task {
        let context = kaniko_common::messages::ContextRef {
            sha256: "a".repeat(64),
            size: 1,
        };
        let mut request = kaniko_common::messages::BuildRequest::new(
            context,
            vec![platform("linux/arm64")],
            vec!["127.0.0.1:5000/app:1".into()],
        );
        request.build_args.insert("A".into(), "1".into());
        request.target = Some("final".into());
        let record = crate::policy::record::BuildRecord::new("b1".into(), request, Vec::new(), 0);
        let platform = crate::policy::record::PlatformRecord::new(
            platform("linux/arm64"),
            false,
            crate::policy::record::Route::Native,
        );
        crate::policy::task::task_for(&record, &platform)
    }

    #[test]
    fn the_worker_builds_the_fleets_task_from_the_artifact() {
        let context = format!("127.0.0.1:5000/app@sha256:{}", "c".repeat(64));
        let argv = worker_command(
            &task(),
            &context,
            &["--insecure-registry=127.0.0.1:5000".into()],
        );
        let text = argv.join(" ");
        for expected in [
            "worker build --context oci://127.0.0.1:5000/app@sha256:ccc",
            "--dockerfile=Dockerfile",
            "--custom-platform=linux/arm64",
            "--destination=127.0.0.1:5000/app ",
            "--push-by-digest=true",
            "--termination-message-path=/dev/termination-log",
            "--build-arg=A=1",
            "--target=final",
            "--insecure-registry=127.0.0.1:5000",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
    }

    #[test]
    fn jobs_run_unprivileged_once_per_try_with_the_secret_mounted_by_name() {
        let settings = PodSettings {
            worker_image: "reg/worker:1".into(),
            backoff_limit: 1,
            ttl_after_finished_secs: 600,
            active_deadline_secs: Some(900),
            registry_secret: Some("push-creds".into()),
            memory: Some("2Gi".into()),
            ..PodSettings::default()
        };
        let arm64 = platform("linux/arm64");
        let selector = node_selector(&arm64, false, &BTreeMap::new());
        let job = job(
            &settings,
            "19a-0a1b2c3d",
            &arm64,
            &selector,
            &["worker".into()],
        )
        .unwrap();
        let value = serde_json::to_value(&job).unwrap();
        let spec = &value["spec"];
        assert_eq!(value["metadata"]["name"], "kaniko-0a1b2c3d-arm64");
        assert_eq!(value["metadata"]["labels"][BUILD_LABEL], "19a-0a1b2c3d");
        assert_eq!(value["metadata"]["labels"][PLATFORM_LABEL], "linux-arm64");
        assert_eq!(spec["backoffLimit"], 1);
        assert_eq!(spec["activeDeadlineSeconds"], 900);
        assert_eq!(spec["ttlSecondsAfterFinished"], 600);
        let pod = &spec["template"]["spec"];
        assert_eq!(
            spec["template"]["metadata"]["labels"][BUILD_LABEL],
            "19a-0a1b2c3d"
        );
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["nodeSelector"]["kubernetes.io/arch"], "arm64");
        let container = &pod["containers"][0];
        assert_eq!(
            container["terminationMessagePath"],
            TERMINATION_MESSAGE_PATH
        );
        assert_eq!(container["resources"]["limits"]["memory"], "2Gi");
        assert_eq!(container["env"][0]["value"], DOCKER_CONFIG_MOUNT);
        assert_eq!(container["volumeMounts"][0]["readOnly"], true);
        assert_eq!(pod["volumes"][0]["secret"]["secretName"], "push-creds");
        let text = value.to_string();
        assert!(!text.contains("privileged"), "{text}");
    }

    #[test]
    fn tolerations_parse_like_kubectl_taints() {
        fn check(text: &str, expected: Result<&str, &str>) {
            match (parse_toleration(text), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got.to_string(), want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: {got:?} vs {want:?}"),
            }
        }
        check(
            "arch=arm64:NoSchedule",
            Ok(r#"{"effect":"NoSchedule","key":"arch","operator":"Equal","value":"arm64"}"#),
        );
        check(
            "dedicated",
            Ok(r#"{"key":"dedicated","operator":"Exists"}"#),
        );
        check(
            "spot:NoExecute",
            Ok(r#"{"effect":"NoExecute","key":"spot","operator":"Exists"}"#),
        );
        check("a=b:Never", Err("effect \"Never\" is not NoSchedule"));
        check("=b", Err("expected KEY[=VALUE][:EFFECT]"));
    }
}
