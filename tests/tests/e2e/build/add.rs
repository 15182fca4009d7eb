// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `worker build` ADD end to end: local archives (gzip, xz, zstd, plain tar) extracted with
//! their ownership, modes and symlinks, a file that only looks like an archive copied as is,
//! `--chown` over an archive, an http(s) download with `--checksum` (a blob served by the test
//! registry); tar build contexts (a file and stdin); and every output flag at once (`--tar-path` read back by skopeo, the OCI layout,
//! `--metadata-file`, the image-name digest files). Bad ADD input fails and pushes nothing.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use kaniko_tests::fixture::busybox_setup;
use kaniko_tests::{skopeo_copy, skopeo_inspect_raw, umoci_unpack};

use super::{ok, unpack, worker_build, write};

/// `tar` run in `dir` with `args`; panics with its stderr on failure.
fn tar(dir: &Path, args: &[&str]) {
    let out = Command::new("tar")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("spawn tar");
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A source tree `src/etc/app/{conf (0640, 1234:5678), link -> conf}` packed into the
/// context as `bundle.tar.gz`, `bundle.tar.xz`, `bundle.tar.zst` and `plain.tar`.
fn archives(root: &Path, ctx: &Path) {
    let src = root.join("src");
    write(&src, &[("etc/app/conf", "key=value\n")]);
    std::fs::set_permissions(
        src.join("etc/app/conf"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("conf", src.join("etc/app/link")).unwrap();
    let owner = ["--owner=1234", "--group=5678", "--numeric-owner"];
    for (name, flag) in [
        ("bundle.tar.gz", "-z"),
        ("bundle.tar.xz", "-J"),
        ("bundle.tar.zst", "--zstd"),
        ("plain.tar", "--no-auto-compress"),
    ] {
        let out = ctx.join(name);
        let mut args = vec![flag, "-cf", out.to_str().unwrap()];
        args.extend(owner);
        args.push("etc");
        tar(&src, &args);
    }
}

#[tokio::test]
async fn add_extracts_archives_downloads_urls_and_writes_every_output() {
    let (registry, base, tmp) = busybox_setup().await;
    let ctx = tmp.path().join("ctx");
    write(&ctx, &[("fake.tar.gz", "not really gzip\n")]);
    archives(tmp.path(), &ctx);
    let blob = format!(
        "http://{}/v2/fixtures/busybox/blobs/{}",
        registry.host(),
        base.layer.digest
    );
    write(
        &ctx,
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nADD bundle.tar.gz /opt/\nADD bundle.tar.xz /xz\nADD bundle.tar.zst /zst/\n\
                 ADD plain.tar /srv\nADD fake.tar.gz /fake/\nADD --chown=7:8 bundle.tar.gz /owned/\n\
                 ADD --checksum={} {blob} /dl/layer.tgz\n",
                base.reference, base.layer.digest
            ),
        )],
    );
    let dest = format!("{}/built/add:1", registry.host());
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let path = |name: &str| out_dir.join(name).to_str().unwrap().to_string();
    let out = worker_build(
        &ctx,
        &[
            "--destination",
            &dest,
            "--insecure",
            "--tar-path",
            &path("image.tar"),
            "--oci-layout-path",
            &path("layout"),
            "--metadata-file",
            &path("metadata.json"),
            "--image-name-tag-with-digest-file",
            &path("name-tag"),
            "--digest-file",
            &path("digest"),
        ],
    );
    ok(&out);

    let rootfs = unpack(&dest, tmp.path());
    for dir in ["opt", "xz", "zst", "srv", "owned"] {
        let conf = rootfs.join(dir).join("etc/app/conf");
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "key=value\n",
            "{dir}"
        );
        let md = std::fs::metadata(&conf).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o640, "{dir}: mode");
        let owner = if dir == "owned" { (7, 8) } else { (1234, 5678) };
        assert_eq!((md.uid(), md.gid()), owner, "{dir}: owner");
        assert_eq!(
            std::fs::read_link(rootfs.join(dir).join("etc/app/link")).unwrap(),
            Path::new("conf"),
            "{dir}: symlink"
        );
    }
    // Not an archive by content: copied as the file it is.
    assert_eq!(
        std::fs::read_to_string(rootfs.join("fake/fake.tar.gz")).unwrap(),
        "not really gzip\n"
    );
    // The download: the blob's exact bytes, mode 0600, not extracted.
    let dl = std::fs::metadata(rootfs.join("dl/layer.tgz")).unwrap();
    assert!(dl.is_file());
    assert_eq!(dl.len(), base.layer.size);
    assert_eq!(dl.mode() & 0o7777, 0o600);
    assert!(!rootfs.join("dl/bin").exists(), "a download was extracted");

    // Every output names the same image.
    let digest = std::fs::read_to_string(out_dir.join("digest")).unwrap();
    let pushed = skopeo_inspect_raw(&dest).unwrap();
    assert_eq!(pushed["layers"].as_array().map(Vec::len), Some(8));
    let name_tag = std::fs::read_to_string(out_dir.join("name-tag")).unwrap();
    assert_eq!(name_tag, format!("{dest}@{digest}\n"));
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(metadata["digest"], digest.as_str());
    assert_eq!(metadata["platform"], "linux/amd64");
    assert_eq!(metadata["layers"].as_array().map(Vec::len), Some(8));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("layout/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    // The docker-archive loads with a real client and holds the same tree.
    let from_tar = tmp.path().join("from-tar");
    skopeo_copy(
        &format!("docker-archive:{}", path("image.tar")),
        &format!("oci:{}:t", from_tar.display()),
    )
    .unwrap();
    let bundle = tmp.path().join("tar-bundle");
    umoci_unpack(&from_tar, "t", &bundle).unwrap();
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/opt/etc/app/conf")).unwrap(),
        "key=value\n"
    );
}

#[tokio::test]
async fn bad_add_input_fails_clearly_and_pushes_nothing() {
    let (registry, base, tmp) = busybox_setup().await;
    let blob = format!(
        "http://{}/v2/fixtures/busybox/blobs/{}",
        registry.host(),
        base.layer.digest
    );
    let wrong = format!("sha256:{}", "0".repeat(64));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "checksum-mismatch",
            format!("ADD --checksum={wrong} {blob} /x\n"),
            "checksum mismatch",
        ),
        (
            "not-found",
            format!("ADD http://{}/v2/no/such/blob /x\n", registry.host()),
            "http status 404",
        ),
        (
            "checksum-local",
            format!("ADD --checksum={wrong} f.txt /x\n"),
            "f.txt is not an http(s) url",
        ),
        (
            "git",
            "ADD git@github.com:moby/moby.git /src\n".to_string(),
            "git and other remote sources",
        ),
    ];
    for (name, add, needle) in cases {
        let ctx = tmp.path().join(name);
        write(
            &ctx,
            &[
                ("f.txt", "f\n"),
                ("Dockerfile", &format!("FROM {}\n{add}", base.reference)),
            ],
        );
        let dest = format!("{}/bad/{name}:1", registry.host());
        let out = worker_build(&ctx, &["--destination", dest.as_str(), "--insecure"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: succeeded");
        assert!(
            stderr.contains(needle),
            "{name}: {needle:?} not in {stderr}"
        );
        assert!(
            skopeo_inspect_raw(&dest).is_err(),
            "{name}: something was pushed"
        );
    }
}

#[tokio::test]
async fn tar_contexts_from_a_file_and_stdin_build_like_a_directory() {
    let (registry, base, tmp) = busybox_setup().await;
    let src = tmp.path().join("src");
    write(
        &src,
        &[
            ("sub/app/hello.txt", "hello\n"),
            (
                "sub/Dockerfile",
                &format!("FROM {}\nCOPY app/ /app/\n", base.reference),
            ),
        ],
    );
    let archive = tmp.path().join("context.tar.gz");
    tar(&src, &["-czf", archive.to_str().unwrap(), "sub"]);

    let from_file = format!("{}/built/tarctx:file", registry.host());
    let out = Command::new(super::worker_binary())
        .args(["build", "--context"])
        .arg(format!("tar://{}", archive.display()))
        .args(["--context-sub-path", "sub", "--insecure", "--destination"])
        .arg(&from_file)
        .output()
        .unwrap();
    ok(&out);
    std::fs::create_dir_all(tmp.path().join("file")).unwrap();
    let rootfs = unpack(&from_file, &tmp.path().join("file"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("app/hello.txt")).unwrap(),
        "hello\n"
    );

    let from_stdin = format!("{}/built/tarctx:stdin", registry.host());
    let out = Command::new(super::worker_binary())
        .args([
            "build",
            "--context",
            "tar://stdin",
            "--context-sub-path",
            "sub",
        ])
        .args(["--insecure", "--destination", &from_stdin])
        .stdin(std::fs::File::open(&archive).unwrap())
        .output()
        .unwrap();
    ok(&out);
    std::fs::create_dir_all(tmp.path().join("stdin")).unwrap();
    let rootfs = unpack(&from_stdin, &tmp.path().join("stdin"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("app/hello.txt")).unwrap(),
        "hello\n"
    );

    // Not an archive: a clear error naming the context, nothing pushed.
    let bogus = tmp.path().join("bogus.tar");
    std::fs::write(&bogus, "plain text").unwrap();
    let refused = format!("{}/built/tarctx:bogus", registry.host());
    let out = Command::new(super::worker_binary())
        .args(["build", "--context"])
        .arg(format!("tar://{}", bogus.display()))
        .args(["--insecure", "--destination", &refused])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bogus.tar: not a tar archive"), "{stderr}");
    assert!(skopeo_inspect_raw(&refused).is_err());
}
