// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `make image`: deploy/worker.Dockerfile built by our own `coordinator submit --driver
//! local` into one index on a loopback registry, with this build's debug binaries. The index
//! holds exactly the platforms the script says it built (the host's always; arm64 when the
//! cross toolchain and its binaries are there, else it is named as skipped), each image's
//! binaries are of its own architecture, the host's image runs `worker --version` from its
//! own libraries, and a binary of the wrong architecture is refused, nothing pushed.

use std::path::Path;
use std::process::Command;

use kaniko_common::platform::Platform;
use kaniko_tests::{
    Registry, index_platforms, skopeo_copy_image, skopeo_inspect_raw, umoci_unpack,
    workspace_binary,
};

use super::{describe, repo};

const PLATFORMS: &str = "linux/amd64,linux/arm64";

/// `make image` for `platforms` into `image` on `registry`, with this build's binaries for
/// the host (and the environment `extra`).
fn make_image(
    registry: &Registry,
    image: &str,
    platforms: &str,
    extra: &[(&str, &str)],
) -> std::process::Output {
    let bin = workspace_binary("worker");
    let bin_dir = bin.parent().expect("target/debug");
    let host_arch = Platform::host().architecture;
    Command::new("make")
        .arg("--no-print-directory")
        .arg("image")
        .current_dir(repo())
        .env("IMAGE", image)
        .env("PLATFORMS", platforms)
        .env("PROFILE", "debug")
        .env("NO_BUILD", "1")
        .env(format!("BIN_DIR_{host_arch}"), bin_dir)
        .env(
            "SUBMIT_ARGS",
            format!("--insecure-registry {}", registry.host()),
        )
        .envs(extra.iter().copied())
        .output()
        .expect("make image")
}

/// readelf's name of the ELF machine of `binary`.
fn elf_machine(binary: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-h")
        .arg(binary)
        .output()
        .expect("readelf");
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Machine:"))
        .map(|m| m.trim().to_string())
        .expect("a Machine line")
}

#[test]
fn make_image_publishes_one_index_of_every_platform_it_built() {
    let registry = Registry::start().expect("registry");
    let image = format!("{}/kaniko-rs/kaniko-rs:test", registry.host());
    let out = make_image(&registry, &image, PLATFORMS, &[]);
    assert!(out.status.success(), "make image: {}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let built: Vec<String> = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("image: pushed {image} for ")))
        .expect("the platforms pushed")
        .split(',')
        .map(str::to_string)
        .collect();
    let host = format!("linux/{}", Platform::host().architecture);
    assert!(built.contains(&host), "{stdout}");
    for platform in PLATFORMS.split(',') {
        let skipped = stdout
            .lines()
            .any(|l| l.trim().starts_with(&format!("{platform}: ")));
        assert!(
            built.iter().any(|b| b == platform) != skipped,
            "{platform} is neither built nor named as skipped, or both: {stdout}"
        );
    }

    let index = skopeo_inspect_raw(&image).expect("the index");
    let mut listed = index_platforms(&index);
    listed.sort();
    let mut expected = built.clone();
    expected.sort();
    assert_eq!(listed, expected, "{index}");

    for platform in &built {
        let arch = platform.trim_start_matches("linux/");
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("layout");
        skopeo_copy_image(
            &format!("docker://{image}"),
            &format!("oci:{}:{arch}", layout.display()),
            Some(arch),
            &[],
        )
        .expect("skopeo copy");
        let bundle = dir.path().join("bundle");
        umoci_unpack(&layout, arch, &bundle).expect("umoci unpack");
        let rootfs = bundle.join("rootfs");
        let machine = match arch {
            "amd64" => "Advanced Micro Devices X86-64",
            _ => "AArch64",
        };
        for binary in ["worker", "coordinator"] {
            assert_eq!(
                elf_machine(&rootfs.join("kaniko").join(binary)),
                machine,
                "{platform}: {binary}"
            );
        }
        if *platform == host {
            // The image's own loader and libraries run it, nothing of this host's.
            let out = Command::new("chroot")
                .arg(rootfs)
                .args(["/kaniko/worker", "--version"])
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .output()
                .expect("chroot");
            assert!(
                out.status.success(),
                "worker in the image: {}",
                describe(&out)
            );
            assert!(String::from_utf8_lossy(&out.stdout).starts_with("worker "));
        }
    }
}

#[test]
fn an_image_never_gets_a_binary_of_another_architecture() {
    let registry = Registry::start().expect("registry");
    let image = format!("{}/kaniko-rs/wrong:test", registry.host());
    let host = Platform::host().architecture;
    let (other, other_arch) = match host.as_str() {
        "amd64" => ("linux/arm64", "arm64"),
        _ => ("linux/amd64", "amd64"),
    };
    // The host's binaries offered as the other architecture's.
    let bin = workspace_binary("worker");
    let host_dir = bin.parent().expect("target/debug").to_str().expect("utf-8");
    let variable = format!("BIN_DIR_{other_arch}");
    let out = make_image(&registry, &image, other, &[(&variable, host_dir)]);
    assert!(
        !out.status.success(),
        "make image took it: {}",
        describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("not {other}: refusing")),
        "{}",
        describe(&out)
    );
    assert!(skopeo_inspect_raw(&image).is_err(), "something was pushed");
}
