// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of `worker build`'s flag validation: every flag parsed by clap and checked in the
//! typed [`super::BuildConfig`], Kaniko's defaults, and the errors naming the flag at fault.

use super::*;
use clap::Parser;

use crate::cli::{Cli, Command};

fn parse(args: &[&str]) -> BuildArgs {
    let argv = ["worker", "build"].iter().chain(args);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Build(args) => *args,
        _ => unreachable!("parsed a build command line"),
    }
}

fn env(key: &str) -> Option<String> {
    (key == "FROM_ENV").then(|| "env-value".to_string())
}

fn config(args: &[&str]) -> Result<BuildConfig, String> {
    BuildConfig::from_args_with_env(&parse(args), env)
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[test]
fn every_flag_lands_in_the_config() {
    let got = config(&[
        "-c",
        "dir:///src",
        "--context-sub-path",
        "app",
        "-f",
        "build/Dockerfile",
        "--target",
        "final",
        "--build-arg",
        "A=1",
        "--build-arg",
        "B=x=y",
        "--build-arg",
        "FROM_ENV",
        "--build-arg",
        "UNSET",
        "--build-arg",
        "A=2",
        "--custom-platform",
        "linux/arm64/v8",
        "--skip-unused-stages",
        "-d",
        "reg.example/app:1",
        "--destination",
        "reg.example/app:latest",
        "--no-push=false",
        "--no-push-cache",
        "--tar-path",
        "/out/img.tar",
        "--oci-layout-path",
        "/out/layout",
        "--digest-file",
        "/out/digest",
        "--image-name-with-digest-file",
        "/out/name",
        "--image-name-tag-with-digest-file",
        "/out/tag",
        "--metadata-file",
        "/out/meta.json",
        "--oci-mode",
        "docker",
        "--label",
        "org.opencontainers.image.title=app",
        "--label",
        "empty=",
        "--compression",
        "zstd",
        "--compression-level",
        "19",
        "--reproducible",
        "--single-snapshot=true",
        "--snapshotter",
        "walk",
        "--network",
        "none",
        "--snapshot-mode",
        "redo",
        "--use-new-run",
        "--ignore-path",
        "/var/cache",
        "--ignore-var-run=false",
        "--insecure",
        "--insecure-pull",
        "--insecure-registry",
        "r1:5000",
        "--skip-tls-verify=1",
        "--skip-tls-verify-pull=T",
        "--skip-tls-verify-registry",
        "r2",
        "--registry-http1=true",
        "--registry-mirror",
        "mirror.example",
        "--registry-map",
        "index.docker.io=m1;index.docker.io=m2",
        "--registry-map",
        "gcr.io=m3",
        "--skip-default-registry-fallback",
        "--push-retry",
        "3",
        "--push-ignore-immutable-tag-errors",
        "--skip-push-permission-check",
        "--image-fs-extract-retry",
        "2",
        "--image-download-retry",
        "4",
        "--cache=false",
        "--cleanup",
        "--force",
        "--secret",
        "id=token,env=TOKEN_VAR",
        "--run-cache-dir",
        "/var/cache/runs",
        "--run-cache-scope",
        "worker",
        "--max-build-disk",
        "20GiB",
        "--max-compression-ratio",
        "500",
        "--add-url-max-size",
        "1.5G",
        "--add-url-timeout",
        "90",
        "--store-dir",
        "/var/cache/store",
        "--store-max-size",
        "10GiB",
        "--kaniko-dir",
        "/tmp/kaniko",
        "-v",
        "debug",
        "--log-format",
        "json",
        "--log-timestamp",
    ])
    .unwrap();
    let expected = BuildConfig {
        context: BuildContext::Dir(PathBuf::from("/src")),
        context_sub_path: Some(PathBuf::from("app")),
        dockerfile: PathBuf::from("build/Dockerfile"),
        target: Some("final".to_string()),
        build_args: [
            ("A", "2"),
            ("B", "x=y"),
            ("FROM_ENV", "env-value"),
            ("UNSET", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        platform: Platform::parse("linux/arm64").unwrap(),
        skip_unused_stages: true,
        outputs: Outputs {
            destinations: strings(&["reg.example/app:1", "reg.example/app:latest"]),
            no_push: false,
            tar_path: Some(PathBuf::from("/out/img.tar")),
            oci_layout_path: Some(PathBuf::from("/out/layout")),
            digest_file: Some(PathBuf::from("/out/digest")),
            image_name_with_digest_file: Some(PathBuf::from("/out/name")),
            image_name_tag_with_digest_file: Some(PathBuf::from("/out/tag")),
            metadata_file: Some(PathBuf::from("/out/meta.json")),
            force: true,
            push_by_digest: false,
            termination_message_path: None,
            signing_key: None,
            sbom: false,
        },
        image: ImageOptions {
            labels: [("empty", ""), ("org.opencontainers.image.title", "app")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            compression: Compression::Zstd,
            compression_level: Some(19),
            oci_mode: RequestedOciMode::Docker,
            reproducible: true,
        },
        snapshot: SnapshotOptions {
            mode: SnapshotMode::Redo,
            single_snapshot: true,
            ignore_paths: vec![PathBuf::from("/var/cache")],
            ignore_var_run: false,
            snapshotter: crate::snapshot::Snapshotter::Walk,
            network: crate::sandbox::Network::None,
        },
        run: RunOptions {
            secrets: vec![crate::run::secrets::Secret {
                id: "token".into(),
                source: crate::run::secrets::SecretSource::Env("TOKEN_VAR".into()),
                scope: None,
            }],
            cache_dir: PathBuf::from("/var/cache/runs"),
            cache_scope: crate::config::RunCacheScope::Worker,
        },
        limits: LimitOptions {
            max_build_disk: Some(20 << 30),
            max_compression_ratio: 500,
            add_url_max_size: 3 << 29,
            add_url_timeout: std::time::Duration::from_secs(90),
        },
        store: Some(crate::store::StoreOptions {
            dir: PathBuf::from("/var/cache/store"),
            max_size: 10 << 30,
        }),
        registry: RegistryOptions {
            insecure: true,
            insecure_pull: true,
            insecure_registries: strings(&["r1:5000"]),
            skip_tls_verify: true,
            skip_tls_verify_pull: true,
            skip_tls_verify_registries: strings(&["r2"]),
            http1: true,
            mirrors: strings(&["mirror.example"]),
            maps: [
                ("index.docker.io", "m1"),
                ("index.docker.io", "m2"),
                ("gcr.io", "m3"),
            ]
            .into_iter()
            .map(|(from, to)| RegistryMap {
                from: from.to_string(),
                to: to.to_string(),
            })
            .collect(),
            skip_default_registry_fallback: true,
            push_retry: 3,
            push_ignore_immutable_tag_errors: true,
            skip_push_permission_check: true,
            image_download_retry: 4,
        },
        cache: None,
        base_cache_dir: None,
        image_fs_extract_retry: 2,
        kaniko_dir: Some(PathBuf::from("/tmp/kaniko")),
        log: LogOptions {
            verbosity: Verbosity::Debug,
            format: LogFormat::Json,
            timestamp: true,
        },
    };
    assert_eq!(got, expected);
    assert_eq!(got.context_dir(), Some(PathBuf::from("/src/app")));
}

#[test]
fn kaniko_defaults() {
    let got = config(&["--no-push"]).unwrap();
    assert_eq!(got.context, BuildContext::Dir(PathBuf::from("/workspace/")));
    assert_eq!(got.dockerfile, PathBuf::from("Dockerfile"));
    assert_eq!(got.platform, Platform::host());
    assert!(got.outputs.destinations.is_empty() && got.outputs.no_push);
    assert_eq!(got.image.compression, Compression::Gzip);
    assert_eq!(got.image.compression_level, None);
    assert_eq!(got.image.oci_mode, RequestedOciMode::Auto);
    assert_eq!(got.snapshot.mode, SnapshotMode::Full);
    assert!(got.snapshot.ignore_var_run);
    assert_eq!(got.kaniko_dir, None);
    assert!(got.skip_unused_stages);
    assert_eq!(got.log.verbosity, Verbosity::Info);
    assert_eq!(got.log.format, LogFormat::Color);
    assert_eq!(got.limits, LimitOptions::default());
    // empty path flags mean "not set", like Kaniko's "" defaults
    let empty = config(&["--no-push", "--tar-path=", "--digest-file="]).unwrap();
    assert_eq!(empty.outputs.tar_path, None);
    assert_eq!(empty.outputs.digest_file, None);
}

#[test]
fn outputs_without_destination() {
    #[track_caller]
    fn check(args: &[&str], expected: Result<(), &str>) {
        let got = config(args).map(|_| ());
        assert_eq!(got, expected.map_err(str::to_string), "{args:?}");
    }
    check(&[], Err("you must provide --destination, or use --no-push"));
    check(
        &["--no-push=false"],
        Err("you must provide --destination, or use --no-push"),
    );
    check(
        &[
            "--no-push",
            "--tar-path",
            "/o.tar",
            "--oci-layout-path",
            "/l",
        ],
        Ok(()),
    );
    check(&["--no-push", "--digest-file", "/d"], Ok(()));
    check(
        &["--no-push", "--image-name-with-digest-file", "/n"],
        Err("--image-name-with-digest-file requires --destination"),
    );
    check(
        &["--no-push", "--image-name-tag-with-digest-file", "/n"],
        Err("--image-name-tag-with-digest-file requires --destination"),
    );
    check(
        &["-d", "reg/app", "--image-name-with-digest-file", "/n"],
        Ok(()),
    );
}

#[test]
fn invalid_values_name_the_flag() {
    #[track_caller]
    fn check(args: &[&str], expected: &str) {
        let mut argv = vec!["--no-push"];
        argv.extend_from_slice(args);
        assert_eq!(config(&argv).unwrap_err(), expected, "{args:?}");
    }
    check(
        &["--custom-platform", "foo"],
        "invalid --custom-platform \"foo\": platform \"foo\" has no architecture: \
         expected os/arch[/variant], e.g. linux/amd64",
    );
    check(
        &["--build-arg", "=x"],
        "invalid --build-arg \"=x\": expected KEY=VALUE with a non-empty KEY",
    );
    check(
        &["--label", "novalue"],
        "invalid --label \"novalue\": expected KEY=VALUE with a non-empty KEY",
    );
    check(
        &["--registry-map", "a=b;c"],
        "invalid --registry-map \"a=b;c\": expected KEY=VALUE with a non-empty KEY",
    );
    check(
        &["--compression-level", "12"],
        "--compression-level 12 is out of range for gzip (expected -1 or 0..=9)",
    );
    check(
        &["--compression", "zstd", "--compression-level", "0"],
        "--compression-level 0 is out of range for zstd (expected -1 or 1..=22)",
    );
    check(
        &["--ignore-path", "var/x"],
        "--ignore-path \"var/x\" must be an absolute path",
    );
    check(
        &["--context-sub-path", "../up"],
        "--context-sub-path \"../up\" must be a relative path inside the context",
    );
    check(
        &["-d", "https://reg/app"],
        "invalid --destination \"https://reg/app\": an image reference has no scheme \
         (write registry/repository:tag)",
    );
    check(&["-d", ""], "invalid --destination \"\": it is empty");
    check(
        &["-f", "https://example.com/Dockerfile"],
        "--dockerfile \"https://example.com/Dockerfile\": fetching the Dockerfile over \
         http(s) is not supported yet",
    );
    check(
        &["-c", ""],
        "--context is empty: specify the build context directory",
    );
}

#[test]
fn contexts() {
    #[track_caller]
    fn check(raw: &str, expected: Result<BuildContext, &str>) {
        let got = BuildContext::parse(raw).map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_string), "--context {raw}");
    }
    check("ctx", Ok(BuildContext::Dir(PathBuf::from("ctx"))));
    check(
        "dir:///work/ctx",
        Ok(BuildContext::Dir(PathBuf::from("/work/ctx"))),
    );
    check("tar://stdin", Ok(BuildContext::Tar(TarSource::Stdin)));
    check(
        "tar:///ctx.tar.gz",
        Ok(BuildContext::Tar(TarSource::File(PathBuf::from(
            "/ctx.tar.gz",
        )))),
    );
    check(
        "dir://",
        Err("--context is empty: specify the build context directory"),
    );
    let digest = "ab".repeat(32);
    check(
        &format!("oci://127.0.0.1:5000/team/app@sha256:{digest}"),
        Ok(BuildContext::Oci(format!(
            "127.0.0.1:5000/team/app@sha256:{digest}"
        ))),
    );
    for raw in [
        "oci://127.0.0.1:5000/team/app:ctx",
        "oci://127.0.0.1:5000/team/app@sha256:abc",
        "oci://@sha256:abababababababababababababababababababababababababababababababab",
    ] {
        let err = BuildContext::parse(raw).unwrap_err().to_string();
        assert!(err.contains("names its artifact by digest"), "{raw}: {err}");
    }
    for (raw, scheme) in [
        ("git://github.com/org/repo#refs/heads/main", "git"),
        ("s3://bucket/ctx.tar.gz", "s3"),
        ("gs://bucket/ctx.tar.gz", "gs"),
        ("https://acct.blob.core.windows.net/c/ctx.tar.gz", "https"),
        ("GIT://host/repo", "git"),
    ] {
        let expected = format!(
            "--context {raw:?}: {scheme}:// build contexts are not supported yet \
             (use a directory, dir://<dir> or tar://<file>)"
        );
        check(raw, Err(&expected));
    }
}

#[test]
fn not_yet_supported_flags_are_refused_by_name() {
    #[track_caller]
    fn check(args: &[&str], flag: &str) {
        let mut argv = vec!["--no-push"];
        argv.extend_from_slice(args);
        let err = config(&argv).unwrap_err();
        assert!(
            err.starts_with(&format!("{flag} is not supported yet: ")),
            "{args:?}: {err}"
        );
    }
    check(
        &["--registry-certificate", "r=/ca.pem"],
        "--registry-certificate",
    );
    check(
        &["--registry-client-cert", "r=/c,/k"],
        "--registry-client-cert",
    );
    check(&["--git", "branch=main"], "--git");
    check(&["-b", "bucket"], "--bucket");
    check(&["--force-build-metadata"], "--force-build-metadata");
    // the table has exactly the entries exercised above
    assert_eq!(NOT_YET_SUPPORTED.len(), 5);
    // harmless spellings are accepted
    assert!(config(&["--no-push", "--cache=false", "--cache-copy-layers=false"]).is_ok());
}

#[test]
fn cache_flags_have_kanikos_defaults_and_refuse_what_has_no_effect() {
    let cache = |args: &[&str]| config(args).map(|c| c.cache);
    let on = cache(&["-d", "reg.example/app/web:1", "--cache"])
        .unwrap()
        .unwrap();
    assert_eq!(
        on,
        crate::cache::CacheOptions {
            repo: "reg.example/app/web/cache".into(),
            arch_suffix: None,
            ttl: crate::cache::DEFAULT_TTL,
            copy_layers: false,
            run_layers: true,
            push: true,
        }
    );
    let tuned = cache(&[
        "-d",
        "reg.example/app:1",
        "--cache=true",
        "--cache-repo=other.example/c",
        "--cache-ttl=6h30m",
        "--cache-copy-layers",
        "--cache-run-layers=false",
        "--no-push-cache",
        "--arch-cache-repo-suffix=-${ARCH}",
        "--compressed-caching=true",
    ])
    .unwrap()
    .unwrap();
    assert_eq!(tuned.repo, "other.example/c");
    assert_eq!(tuned.ttl, std::time::Duration::from_secs(6 * 3600 + 1800));
    assert!(tuned.copy_layers && !tuned.run_layers && !tuned.push);
    let amd64 = kaniko_common::platform::Platform::parse("linux/amd64").unwrap();
    assert_eq!(tuned.repository_for(&amd64), "other.example/c-amd64");
    // CI recipes pass these without --cache: accepted, caching stays off.
    assert_eq!(
        cache(&[
            "--no-push",
            "--cache-run-layers=true",
            "--compressed-caching=false"
        ])
        .unwrap(),
        None
    );
    // Explicitly off: a recipe toggling --cache keeps its settings.
    assert_eq!(
        cache(&["--no-push", "--cache=false", "--cache-repo=r.example/c"]).unwrap(),
        None
    );
    #[track_caller]
    fn refused(args: &[&str], needle: &str) {
        let err = config(args).unwrap_err();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    refused(
        &["--no-push", "--cache-repo=r.example/c"],
        "--cache-repo: has no effect without --cache=true",
    );
    refused(
        &["--no-push", "--arch-cache-repo-suffix=-${ARCH}"],
        "--arch-cache-repo-suffix: has no effect",
    );
    refused(
        &["--no-push", "--cache"],
        "--cache=true: needs --cache-repo, or a --destination",
    );
    refused(
        &["-d", "r.example/a", "--cache", "--compressed-caching=false"],
        "--compressed-caching=false: the cache holds the image's own compressed layers",
    );
    refused(
        &["-d", "r.example/a", "--cache", "--cache-ttl=two weeks"],
        "--cache-ttl: invalid duration",
    );
    refused(
        &["-d", "r.example/a", "--cache", "--cache-repo=oci:"],
        "oci: needs the layout's directory",
    );
    let layout = cache(&["--no-push", "--cache", "--cache-repo=oci:/var/cache/layers"]);
    assert_eq!(layout.unwrap().unwrap().repo, "oci:/var/cache/layers");
    refused(
        &[
            "-d",
            "r.example/a",
            "--cache",
            "--arch-cache-repo-suffix=-${CPU}",
        ],
        "the only placeholders are ${ARCH}, ${OS} and ${VARIANT}",
    );
}

#[test]
fn dockerfile_is_found_as_given_or_in_the_context() {
    use crate::context_files::DockerfilePath::{InContext, Outside};
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("sub")).unwrap();
    std::fs::write(ctx.join("sub/app.Dockerfile"), "FROM scratch\n").unwrap();
    let outside = dir.path().join("Outside.Dockerfile");
    std::fs::write(&outside, "FROM scratch\n").unwrap();
    let in_context = config(&["--no-push", "-f", "sub/app.Dockerfile"]).unwrap();
    assert_eq!(
        in_context.resolve_dockerfile(&ctx).unwrap(),
        InContext("sub/app.Dockerfile".into())
    );
    let absolute = config(&["--no-push", "-f", outside.to_str().unwrap()]).unwrap();
    assert_eq!(absolute.resolve_dockerfile(&ctx).unwrap(), Outside(outside));
    // As `worker serve` names it: absolute, inside the context.
    let served = ctx.join("sub/app.Dockerfile");
    let served = config(&["--no-push", "-f", served.to_str().unwrap()]).unwrap();
    assert_eq!(
        served.resolve_dockerfile(&ctx).unwrap(),
        InContext("sub/app.Dockerfile".into())
    );
    // Missing: looked for in the context (reading it says it is not there).
    let missing = config(&["--no-push", "-f", "nope/Dockerfile"]).unwrap();
    assert_eq!(
        missing.resolve_dockerfile(&ctx).unwrap(),
        InContext("nope/Dockerfile".into())
    );
}

#[test]
fn limit_flags_refuse_values_that_cannot_work() {
    #[track_caller]
    fn check(args: &[&str], expected: &str) {
        let mut all = vec!["--no-push"];
        all.extend(args);
        let err = config(&all).map(|_| ()).unwrap_err();
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    check(
        &["--max-build-disk", "0"],
        "--max-build-disk 0 B: a build needs some disk",
    );
    check(
        &["--add-url-max-size", "0k"],
        "--add-url-max-size 0 B: must be more than 0",
    );
    check(
        &["--add-url-timeout", "0"],
        "--add-url-timeout 0: must be at least 1 second",
    );
    // Clap refuses what is not a size, naming the flag.
    let argv = ["worker", "build", "--no-push", "--max-build-disk", "lots"];
    let err = Cli::try_parse_from(argv).unwrap_err().to_string();
    assert!(
        err.contains("--max-build-disk") && err.contains("not a size"),
        "{err}"
    );
}

#[test]
fn kaniko_dir_roots_the_state_its_own_flags_leave_unset() {
    let got = config(&["--no-push", "--kaniko-dir", "/k"]).unwrap();
    assert_eq!(got.kaniko_dir, Some(PathBuf::from("/k")));
    assert_eq!(got.run.cache_dir, PathBuf::from("/k/run-cache"));
    assert_eq!(got.store.map(|s| s.dir), Some(PathBuf::from("/k/store")));
    let own = config(&[
        "--no-push",
        "--kaniko-dir",
        "/k",
        "--store-dir",
        "/s",
        "--run-cache-dir",
        "/r",
    ])
    .unwrap();
    assert_eq!(own.run.cache_dir, PathBuf::from("/r"));
    assert_eq!(own.store.map(|s| s.dir), Some(PathBuf::from("/s")));
}

#[test]
fn skip_unused_stages_false_is_kept() {
    let got = config(&["--no-push", "--skip-unused-stages=false"]).unwrap();
    assert!(!got.skip_unused_stages);
}

#[test]
fn cache_dir_is_the_store() {
    let got = config(&["--no-push", "--cache-dir", "/c"]).unwrap();
    assert_eq!(got.base_cache_dir, Some(PathBuf::from("/c")));
    assert_eq!(got.store.map(|s| s.dir), Some(PathBuf::from("/c")));
    let same = config(&["--no-push", "--cache-dir", "/c", "--store-dir", "/c"]).unwrap();
    assert_eq!(same.store.map(|s| s.dir), Some(PathBuf::from("/c")));
    for (flags, expected) in [
        (
            &["--store-dir", "/s"][..],
            "--store-dir names another directory",
        ),
        (&["--no-store"][..], "--no-store leaves no store"),
    ] {
        let mut args = vec!["--no-push", "--cache-dir", "/c"];
        args.extend_from_slice(flags);
        let err = config(&args).unwrap_err();
        assert!(
            err.contains("--cache-dir") && err.contains(expected),
            "{err}"
        );
    }
}
