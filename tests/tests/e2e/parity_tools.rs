// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The parity tools themselves, proven before they judge `worker build`: buildah builds a
//! RUN-free Dockerfile on the busybox fixture and pushes it to the real registry, and the file
//! tree and config read back with skopeo + umoci hold exactly what the Dockerfile says; tree
//! diffs list exactly the one thing changed on disk.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use kaniko_tests::buildah::{Buildah, BuildahOptions, ImageFormat, StorageDriver};
use kaniko_tests::fixture::{BUSYBOX_PASSWD, BUSYBOX_PATH, push_busybox};
use kaniko_tests::tree::{
    ConfigView, DiffOptions, DifferenceKind, Differences, FileTree, Kind, diff,
};
use kaniko_tests::{Registry, init_test_tracing};
use sha2::{Digest, Sha256};

fn sha256_hex(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A context with a plain file, an executable, a symlink named in COPY (followed, as Docker
/// does) and one inside a copied directory (kept as a symlink).
fn write_context(dir: &Path, base: &str) {
    std::fs::write(dir.join("hello.txt"), "hello parity\n").unwrap();
    std::fs::create_dir(dir.join("bin")).unwrap();
    std::fs::write(dir.join("bin/tool.sh"), "#!/bin/sh\necho tool\n").unwrap();
    std::fs::set_permissions(
        dir.join("bin/tool.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    symlink("hello.txt", dir.join("link")).unwrap();
    symlink("tool.sh", dir.join("bin/tool")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base}\n\
             COPY hello.txt bin link /app/\n\
             COPY --chown=1:1 hello.txt /data/owned.txt\n\
             ENV GREETING=hello\n\
             WORKDIR /work\n\
             LABEL org.example.parity=yes\n\
             EXPOSE 8080/tcp\n\
             CMD [\"/bin/sh\", \"-c\", \"echo $GREETING\"]\n"
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn buildah_builds_a_run_free_dockerfile_whose_tree_and_config_read_back() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let base = push_busybox(&registry, "fixtures/busybox").await.unwrap();
    let context = tempfile::tempdir().unwrap();
    write_context(context.path(), &base.reference);

    // Both formats, and both storage drivers (vfs leaves read-only directories to clean up).
    for (format, driver) in [
        (ImageFormat::Oci, StorageDriver::detect()),
        (ImageFormat::Docker, StorageDriver::Vfs),
    ] {
        let reference = reference_built(&registry, context.path(), format, driver);
        let tree = FileTree::of_image(&reference, None).unwrap();

        let file = |path: &str| {
            tree.get(path)
                .unwrap_or_else(|| panic!("{path} missing from {reference}"))
        };
        let hello = file("/app/hello.txt");
        assert_eq!(
            (hello.kind, hello.mode, hello.uid, hello.gid, hello.size),
            (Kind::File, 0o644, 0, 0, 13)
        );
        assert_eq!(
            hello.sha256.as_deref(),
            Some(&*sha256_hex(b"hello parity\n"))
        );
        // COPY of a directory copies its content: /app/tool.sh, not /app/bin/tool.sh.
        assert_eq!(file("/app/tool.sh").mode, 0o755);
        assert!(tree.get("/app/bin").is_none());
        // A symlink named as a COPY source is followed; one inside a copied directory is kept.
        assert_eq!(file("/app/link").kind, Kind::File);
        assert_eq!(file("/app/link").sha256, hello.sha256);
        let tool = file("/app/tool");
        assert_eq!(tool.kind, Kind::Symlink);
        assert_eq!(tool.target.as_deref(), Some(Path::new("tool.sh")));
        let owned = file("/data/owned.txt");
        assert_eq!((owned.uid, owned.gid), (1, 1));
        assert_eq!(file("/work").kind, Kind::Dir);
        let passwd = file("/etc/passwd");
        assert_eq!(
            passwd.sha256.as_deref(),
            Some(&*sha256_hex(BUSYBOX_PASSWD.as_bytes()))
        );
        assert_eq!(
            file("/bin/sh").target.as_deref(),
            Some(Path::new("/bin/busybox"))
        );

        // Against the base, the build added exactly the paths the Dockerfile names.
        let base_tree = FileTree::of_image(&base.reference, None).unwrap();
        let added = base_tree.diff(&tree).labeled("base", "built");
        let only_right: Vec<&str> = added
            .list
            .iter()
            .filter(|d| matches!(d.kind, DifferenceKind::OnlyRight(_)))
            .map(|d| d.at.as_str())
            .collect();
        assert_eq!(
            only_right,
            [
                "/app",
                "/app/hello.txt",
                "/app/link",
                "/app/tool",
                "/app/tool.sh",
                "/data",
                "/data/owned.txt",
                "/work"
            ],
            "{added}"
        );
        assert_eq!(added.len(), only_right.len(), "{added}");

        let config = ConfigView::of_image(&reference, None).unwrap();
        assert_eq!(
            config.env,
            [format!("PATH={BUSYBOX_PATH}"), "GREETING=hello".to_string()]
        );
        assert_eq!(config.working_dir, "/work");
        assert_eq!(config.cmd, ["/bin/sh", "-c", "echo $GREETING"]);
        assert!(config.entrypoint.is_empty());
        assert_eq!(
            config.labels.get("org.example.parity").map(String::as_str),
            Some("yes")
        );
        assert_eq!(
            config.exposed_ports.iter().collect::<Vec<_>>(),
            ["8080/tcp"]
        );
        let base_config = ConfigView::of_image(&base.reference, None).unwrap();
        let changed = base_config.diff(&config);
        assert_eq!(
            changed.places(),
            ["Env", "Cmd", "WorkingDir", "ExposedPorts", "Labels"],
            "{changed}"
        );
    }
}

/// Builds the context with buildah in `format` on `driver` storage and returns the pushed
/// image by digest; the storage is gone afterwards.
fn reference_built(
    registry: &Registry,
    context: &Path,
    format: ImageFormat,
    driver: StorageDriver,
) -> String {
    let buildah = Buildah::with_driver(driver).unwrap();
    let storage = buildah.storage_dir().to_path_buf();
    let opts = BuildahOptions {
        format,
        destination: format!("{}/parity/buildah:{format:?}", registry.host()).to_lowercase(),
        ..BuildahOptions::default()
    };
    let result = buildah
        .build(context, &context.join("Dockerfile"), &opts)
        .unwrap();
    assert!(result.digest.starts_with("sha256:"), "{result:?}");
    let raw = kaniko_tests::skopeo_inspect_raw(&result.by_digest()).unwrap();
    let expected = match format {
        ImageFormat::Oci => "application/vnd.oci.image.manifest.v1+json",
        ImageFormat::Docker => "application/vnd.docker.distribution.manifest.v2+json",
    };
    assert_eq!(raw["mediaType"], expected, "{raw:#}");
    drop(buildah);
    assert!(!storage.exists(), "{} left behind", storage.display());
    result.by_digest()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_buildah_build_says_why() {
    init_test_tracing();
    let registry = Registry::start().unwrap();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {}/fixtures/absent:latest\nCOPY nothing /\n",
            registry.host()
        ),
    )
    .unwrap();
    let buildah = Buildah::new().unwrap();
    let opts = BuildahOptions {
        destination: format!("{}/parity/never:1", registry.host()),
        ..BuildahOptions::default()
    };
    let err = buildah
        .build(context.path(), &context.path().join("Dockerfile"), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("buildah") && err.contains("bud"), "{err}");
    assert!(err.contains("fixtures/absent"), "{err}");
}

/// A small rootfs on disk: a directory, a file, an executable, a symlink, a hardlink pair.
fn write_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("etc/motd"), "welcome\n").unwrap();
    std::fs::write(dir.join("bin/run"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(dir.join("bin/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    symlink("/bin/run", dir.join("bin/start")).unwrap();
    std::fs::hard_link(dir.join("bin/run"), dir.join("bin/run2")).unwrap();
}

#[test]
fn tree_diffs_list_exactly_the_one_change_made_on_disk() {
    fn check(change: fn(&Path), expected: &[(&str, &str, &str, &str)]) {
        let left = tempfile::tempdir().unwrap();
        let right = tempfile::tempdir().unwrap();
        write_rootfs(left.path());
        write_rootfs(right.path());
        change(right.path());
        let a = FileTree::from_rootfs(left.path()).unwrap();
        let b = FileTree::from_rootfs(right.path()).unwrap();
        let found = a.diff(&b);
        assert_eq!(shape(&found), expected, "{found}");
        assert!(a.diff(&a).is_empty(), "{}", a.diff(&a));
        assert!(b.diff(&b).is_empty(), "{}", b.diff(&b));
    }
    check(|_| {}, &[]);
    check(
        |root| {
            std::fs::set_permissions(
                root.join("etc/motd"),
                std::fs::Permissions::from_mode(0o4600),
            )
            .unwrap()
        },
        &[("/etc/motd", "mode", "0644", "4600")],
    );
    check(
        |root| std::os::unix::fs::chown(root.join("etc"), Some(1), Some(2)).unwrap(),
        &[("/etc", "uid", "0", "1"), ("/etc", "gid", "0", "2")],
    );
    check(
        |root| std::fs::write(root.join("etc/motd"), "welcomE\n").unwrap(),
        &[(
            "/etc/motd",
            "sha256",
            &sha256_hex(b"welcome\n"),
            &sha256_hex(b"welcomE\n"),
        )],
    );
    check(
        |root| {
            std::fs::remove_file(root.join("bin/start")).unwrap();
            symlink("run", root.join("bin/start")).unwrap();
        },
        &[("/bin/start", "target", "/bin/run", "run")],
    );
    check(
        |root| {
            std::fs::remove_file(root.join("bin/run2")).unwrap();
            std::fs::write(root.join("bin/run2"), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(
                root.join("bin/run2"),
                std::fs::Permissions::from_mode(0o755),
            )
            .unwrap();
        },
        &[
            ("/bin/run", "link", "/bin/run", "-"),
            ("/bin/run2", "link", "/bin/run", "-"),
        ],
    );
    check(
        |root| std::fs::remove_file(root.join("etc/motd")).unwrap(),
        &[("/etc/motd", "only left", "", "")],
    );
}

/// `(path, field, left, right)` of each difference; one-sided ones as `only left`/`right`
/// with empty values.
fn shape(found: &Differences) -> Vec<(&str, &str, &str, &str)> {
    found
        .list
        .iter()
        .map(|d| match &d.kind {
            DifferenceKind::OnlyLeft(_) => (d.at.as_str(), "only left", "", ""),
            DifferenceKind::OnlyRight(_) => (d.at.as_str(), "only right", "", ""),
            DifferenceKind::Field { field, left, right } => {
                (d.at.as_str(), *field, left.as_str(), right.as_str())
            }
        })
        .collect()
}

#[test]
fn ignored_paths_and_mtimes_do_not_count() {
    let left = tempfile::tempdir().unwrap();
    let right = tempfile::tempdir().unwrap();
    write_rootfs(left.path());
    write_rootfs(right.path());
    std::fs::write(right.path().join("etc/hostname"), "builder\n").unwrap();
    // A different mtime on the same content is not a difference.
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::options()
        .write(true)
        .open(right.path().join("etc/motd"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let a = FileTree::from_rootfs(left.path()).unwrap();
    let b = FileTree::from_rootfs(right.path()).unwrap();
    assert_eq!(a.diff(&b).places(), ["/etc/hostname"]);
    let opts = DiffOptions {
        ignore: vec!["/etc/hostname".into()],
    };
    let found = diff(&a, &b, &opts);
    assert!(found.is_empty(), "{found}");
}
