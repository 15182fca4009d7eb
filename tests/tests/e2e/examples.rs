// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The README's first command, exactly as written there: `examples/hello` built by `worker
//! build` into an OCI layout with no registry and no network, then unpacked by umoci.

use std::path::Path;
use std::process::Command;

use kaniko_tests::umoci_unpack;

#[test]
fn readme_quick_start_builds_hello_into_an_oci_layout() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let command =
        "worker build --context examples/hello --no-push --oci-layout-path /tmp/hello-oci";
    assert!(
        readme.contains(command),
        "README.md no longer shows {command:?}"
    );

    let out_dir = tempfile::tempdir().unwrap();
    let layout = out_dir.path().join("hello-oci");
    let worker = kaniko_tests::workspace_binary("worker");
    let out = Command::new(&worker)
        .current_dir(&repo)
        .args([
            "build",
            "--context",
            "examples/hello",
            "--no-push",
            "--oci-layout-path",
        ])
        .arg(&layout)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "worker build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bundle = out_dir.path().join("bundle");
    umoci_unpack(&layout, "latest", &bundle).unwrap();
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
        "Hello from kaniko-rs!\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("usr/share/greeting/de.txt")).unwrap(),
        "hallo\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(rootfs.join("usr/share/greeting/en.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"][0], "/hello.txt", "{config:#}");
    assert_eq!(config["process"]["cwd"], "/usr/share/greeting");
}
