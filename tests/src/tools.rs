// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Real clients as judges of what kaniko-rs produces: skopeo (inspect, copy) against loopback
//! registries without TLS, and umoci to unpack OCI layouts. Errors carry the tool's stderr.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// Runs `command`, returning its stdout; a failure names the command and carries stderr.
fn run(mut command: Command) -> anyhow::Result<Vec<u8>> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .with_context(|| format!("running {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

fn json(stdout: &[u8], what: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_slice(stdout).with_context(|| {
        format!(
            "{what} printed invalid json: {}",
            String::from_utf8_lossy(stdout)
        )
    })
}

/// `docker://` + `reference`, unless it already names a transport.
fn docker_transport(reference: &str) -> String {
    if reference.contains("://") {
        reference.to_string()
    } else {
        format!("docker://{reference}")
    }
}

/// The platform (`os/architecture`, `?` for a missing part) of each manifest an index (as
/// [`skopeo_inspect_raw`] returns it) lists, in index order.
pub fn index_platforms(index: &serde_json::Value) -> Vec<String> {
    let manifests = index["manifests"].as_array().map(Vec::as_slice);
    manifests
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let part = |key: &str| m["platform"][key].as_str().unwrap_or("?").to_string();
            format!("{}/{}", part("os"), part("architecture"))
        })
        .collect()
}

/// `skopeo inspect --raw`: the manifest or index `reference` (e.g. `127.0.0.1:5000/app:1`)
/// names, exactly as stored.
pub fn skopeo_inspect_raw(reference: &str) -> anyhow::Result<serde_json::Value> {
    let mut command = Command::new("skopeo");
    command
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(docker_transport(reference));
    json(&run(command)?, "skopeo inspect --raw")
}

/// `skopeo inspect --config`: the image config, through an index for `override_arch` (e.g.
/// `arm64`) or for the host's architecture.
pub fn skopeo_inspect_config(
    reference: &str,
    override_arch: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let mut command = Command::new("skopeo");
    if let Some(arch) = override_arch {
        command.args(["--override-arch", arch]);
    }
    command
        .args(["inspect", "--config", "--tls-verify=false"])
        .arg(docker_transport(reference));
    json(&run(command)?, "skopeo inspect --config")
}

/// `skopeo copy` from `src` to `dst`, both with their transport (`docker://...`,
/// `oci:/dir:tag`, `dir:/dir`); TLS verification off, no signature policy, all images of an
/// index.
pub fn skopeo_copy(src: &str, dst: &str) -> anyhow::Result<()> {
    let mut command = Command::new("skopeo");
    command
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(src)
        .arg(dst);
    run(command).map(|_| ())
}

/// `skopeo copy` of one image (no `--all`): through an index, the child for `arch` (or the
/// host's), with options such as `--dest-compress-format gzip` passed through `extra`.
pub fn skopeo_copy_image(
    src: &str,
    dst: &str,
    arch: Option<&str>,
    extra: &[&str],
) -> anyhow::Result<()> {
    let mut command = Command::new("skopeo");
    command.arg("--insecure-policy");
    if let Some(arch) = arch {
        command.args(["--override-arch", arch]);
    }
    command
        .args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .args(extra)
        .arg(src)
        .arg(dst);
    run(command).map(|_| ())
}

/// `umoci unpack --image <layout_dir>:<tag> <bundle_dir>`, rootless when not run as root.
pub fn umoci_unpack(layout_dir: &Path, tag: &str, bundle_dir: &Path) -> anyhow::Result<()> {
    let mut command = Command::new("umoci");
    command.arg("unpack");
    if !is_root() {
        command.arg("--rootless");
    }
    command
        .arg("--image")
        .arg(format!("{}:{tag}", layout_dir.display()))
        .arg(bundle_dir);
    run(command).map(|_| ())
}

/// Whether the effective user is root, from `/proc/self/status`.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_get_the_docker_transport_unless_they_name_one() {
        fn check(input: &str, expected: &str) {
            assert_eq!(docker_transport(input), expected);
        }
        check("127.0.0.1:5000/app:1", "docker://127.0.0.1:5000/app:1");
        check("docker://r/app:1", "docker://r/app:1");
    }

    #[test]
    fn failures_carry_the_tools_stderr() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo boom >&2; exit 3"]);
        let err = run(command).unwrap_err().to_string();
        assert!(err.contains("boom"), "{err}");
    }
}
