// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `RUN --mount` on the busybox fixture: bind mounts of the context, of an earlier stage and
//! of a COPY-only stage, cache mounts kept between builds (owner and mode, also rootless),
//! tmpfs, secrets from a file and from the environment, and the refusals. What is below a
//! mount target never reaches the image; parity with buildah 1.28 where it supports the
//! feature (it has neither `env=` secrets, tmpfs `size=` nor relative targets, and its `rw`
//! binds write into the context: those cases are checked without it).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kaniko_tests::rootless::RootlessUser;

use super::{run, shared};
use crate::dockerfiles::{
    Built, Case, build_with_worker, raw_config_result, sha256_hex, worker_binary,
    worker_build_within, write_context,
};

const SECRET: &str = "s3cr3t-value-4b1d";

/// Writes `files` and a Dockerfile (`{base}`: the busybox fixture) into a new context.
pub(super) fn context_with(dockerfile: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    for (path, content) in files {
        let full = context.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    std::fs::write(
        context.join("Dockerfile"),
        dockerfile.replace("{base}", &shared().busybox),
    )
    .unwrap();
    dir
}

/// `worker build` of `dir/ctx` pushed to `mounts/<name>:1`, with `args`.
pub(super) fn build(dir: &Path, name: &str, args: &[&str]) -> (Output, String) {
    let destination = format!("{}/mounts/{name}:1", shared().host);
    let mut all = vec![
        "--destination".to_string(),
        destination.clone(),
        "--run-cache-dir".to_string(),
        dir.join("run-cache").display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let out = worker_build_within(&dir.join("ctx"), &all, Duration::from_secs(120), None);
    (out, destination)
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails unless the build failed with an error line holding every needle, and pushed nothing.
fn assert_refused(out: &Output, destination: &str, needles: &[&str]) {
    let text = stderr(out);
    assert!(!out.status.success(), "the build succeeded: {text}");
    assert!(!text.contains("panicked"), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("error")).collect();
    for needle in needles {
        assert!(
            errors.iter().any(|l| l.contains(needle)),
            "{needle:?} not in the error: {errors:?}"
        );
    }
    assert!(
        raw_config_result(destination).is_err(),
        "{destination} was pushed"
    );
}

#[test]
fn bind_mounts_of_the_context_are_read_and_left_out_of_the_image() {
    run(&Case {
        name: "mount-bind-context",
        dockerfile: "FROM {base}\n\
                     RUN --mount=type=bind,source=data.txt,target=/mnt/data/d.txt \
                     cat /mnt/data/d.txt > /copied\n\
                     RUN --mount=target=/ctx ls /ctx > /listing && cat /ctx/sub/f > /sub-f\n\
                     RUN --mount=type=bind,src=sub,dst=/opt/sub,ro cat /opt/sub/f > /opt-f\n",
        files: &[("data.txt", "hello\n"), ("sub/f", "in sub\n")],
        check: |img| {
            img.content_is("/copied", "hello\n");
            img.content_is("/listing", "Dockerfile\ndata.txt\nsub\n");
            img.content_is("/sub-f", "in sub\n");
            img.content_is("/opt-f", "in sub\n");
            img.absent("/mnt/data/d.txt");
            img.absent("/ctx");
            img.absent("/opt/sub");
            // Parents made for a target stay, as buildah leaves them.
            assert_eq!(img.owner_mode("/mnt/data"), (0o755, 0, 0));
        },
        ..Case::DEFAULT
    });
}

#[test]
fn a_write_to_a_read_only_bind_fails_the_build() {
    let dir = context_with(
        "FROM {base}\nRUN --mount=target=/ctx echo x > /ctx/new\n",
        &[("data.txt", "hello\n")],
    );
    let (out, destination) = build(dir.path(), "bind-read-only", &[]);
    assert_refused(&out, &destination, &["exit code: 1"]);
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("ctx/new").exists(), "the context changed");
}

#[test]
fn writes_to_a_rw_bind_are_discarded_with_both_snapshotters() {
    for snapshotter in ["overlay", "walk"] {
        let dir = context_with(
            "FROM {base}\nRUN --mount=target=/ctx,rw echo changed > /ctx/data.txt && \
             echo new > /ctx/new && cat /ctx/data.txt /ctx/new > /seen && \
             echo outside > /outside\n",
            &[("data.txt", "hello\n")],
        );
        let (out, reference) = build(
            dir.path(),
            &format!("bind-rw-{snapshotter}"),
            &["--snapshotter", snapshotter],
        );
        assert!(out.status.success(), "{snapshotter}: {}", stderr(&out));
        let img = Built::read(reference);
        img.content_is("/seen", "changed\nnew\n");
        img.content_is("/outside", "outside\n");
        img.absent("/ctx");
        let ctx = dir.path().join("ctx");
        assert_eq!(
            std::fs::read_to_string(ctx.join("data.txt")).unwrap(),
            "hello\n"
        );
        assert!(
            !ctx.join("new").exists(),
            "{snapshotter}: the context changed"
        );
    }
}

#[test]
fn bind_mounts_from_an_earlier_stage_and_a_copy_only_stage() {
    run(&Case {
        name: "mount-bind-stages",
        dockerfile: "FROM {base} AS built\n\
                     RUN mkdir -p /out && echo built > /out/artifact\n\
                     FROM scratch AS copied\n\
                     COPY data.txt /data/d.txt\n\
                     FROM {base}\n\
                     RUN --mount=type=bind,from=built,source=/out,target=/in \
                     cat /in/artifact > /from-built\n\
                     RUN --mount=from=copied,source=data/d.txt,target=/in2.txt \
                     cat /in2.txt > /from-copied\n\
                     RUN --mount=from=1,target=/whole cat /whole/data/d.txt > /from-index\n",
        files: &[("data.txt", "copied\n")],
        check: |img| {
            img.content_is("/from-built", "built\n");
            img.content_is("/from-copied", "copied\n");
            img.content_is("/from-index", "copied\n");
            img.absent("/in");
            img.absent("/in2.txt");
            img.absent("/whole");
            img.absent("/out");
        },
        ..Case::DEFAULT
    });
}

/// A cache mount with owner and mode that counts its runs in the cache.
const CACHE_CASE: Case = Case {
    name: "mount-cache",
    dockerfile: "FROM {base}\n\
                 RUN --mount=type=cache,target=/var/cache/app,uid=7,gid=8,mode=0710 \
                 ls -ldn /var/cache/app | awk '{print $1, $3, $4}' > /cache-stat && \
                 echo run >> /var/cache/app/log && wc -l < /var/cache/app/log | tr -d ' ' > /runs\n",
    parity: false,
    ..Case::DEFAULT
};

fn check_cache_image(img: &Built, runs: &str) {
    img.content_is("/cache-stat", "drwx--x--- 7 8\n");
    img.content_is("/runs", &format!("{runs}\n"));
    img.absent("/var/cache/app");
}

#[test]
fn a_cache_mount_persists_across_builds_with_both_snapshotters() {
    let shared = shared();
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    write_context(&CACHE_CASE, &context, &shared.busybox, &shared.host);
    let cache = dir.path().join("kept-cache").display().to_string();
    for (tag, snapshotter, runs) in [("1", "overlay", "1"), ("2", "walk", "2")] {
        let case = Case {
            worker_args: match snapshotter {
                "overlay" => &["--snapshotter", "overlay"],
                _ => &["--snapshotter", "walk"],
            },
            ..CACHE_CASE
        };
        let reference = format!("{}/cases/{}:{tag}", shared.host, case.name);
        let mut args = crate::dockerfiles::worker_args(&case, &reference);
        args.extend(["--run-cache-dir".to_string(), cache.clone()]);
        let out = worker_build_within(&context, &args, Duration::from_secs(120), None);
        assert!(out.status.success(), "{snapshotter}: {}", stderr(&out));
        check_cache_image(&Built::read(reference), runs);
    }
    // One key directory (both builds push to one repository) holding one cache directory,
    // holding what both builds wrote; only the worker can enter the first two.
    let keys: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    for private in [Path::new(&cache), &keys[0].path()] {
        let mode = std::fs::metadata(private).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{}", private.display());
    }
    let entries: Vec<_> = std::fs::read_dir(keys[0].path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let log = entries[0].path().join("log");
    assert_eq!(std::fs::read_to_string(log).unwrap(), "run\nrun\n");
}

#[test]
fn cache_and_tmpfs_mounts_match_buildah() {
    run(&Case {
        name: "mount-cache-tmpfs",
        dockerfile: "FROM {base}\n\
                     RUN --mount=type=cache,id=kaniko-mounts-parity,target=/var/cache/app,\
                     uid=7,gid=8,mode=0710 echo x > /var/cache/app/f && \
                     cat /var/cache/app/f > /from-cache && \
                     ls -ldn /var/cache/app | awk '{print $1, $3, $4}' > /cache-stat\n\
                     RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && \
                     cat /scratch/t > /from-tmpfs && ls -ld /scratch | awk '{print $1}' > \
                     /tmpfs-stat\n",
        check: |img| {
            img.content_is("/from-cache", "x\n");
            img.content_is("/cache-stat", "drwx--x--- 7 8\n");
            img.content_is("/from-tmpfs", "t\n");
            img.content_is("/tmpfs-stat", "drwxrwxrwt\n");
            img.absent("/var/cache/app");
            img.absent("/scratch");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn a_rootless_worker_keeps_a_cache_mount_between_builds() {
    let user = RootlessUser::lookup().unwrap();
    let shared = shared();
    let scratch = user.scratch_dir().unwrap();
    let context = scratch.path().join("ctx");
    write_context(&CACHE_CASE, &context, &shared.busybox, &shared.host);
    user.chown_tree(scratch.path()).unwrap();
    for runs in ["1", "2"] {
        let tag = format!("rootless-{runs}");
        let img = build_with_worker(&CACHE_CASE, &shared.host, &context, &tag, Some(&user));
        check_cache_image(&img, runs);
    }
}

#[test]
fn secrets_from_files_are_readable_and_never_stored_or_logged() {
    run(&Case {
        name: "mount-secret-file",
        dockerfile: "FROM {base}\n\
                     RUN --mount=type=secret,id=token wc -c < /run/secrets/token | tr -d ' ' \
                     > /token-len && sha256sum /run/secrets/token | cut -d' ' -f1 > /token-sha\n\
                     RUN --mount=type=secret,id=token,target=/etc/app/token,mode=0440,uid=1,\
                     gid=2 ls -ln /etc/app/token | awk '{print $1, $3, $4}' > /token-stat\n\
                     RUN --mount=type=secret,id=not-given test ! -e /run/secrets/not-given && \
                     echo skipped > /not-given\n",
        secrets: &[("token", SECRET)],
        worker_args: &["--verbosity", "debug"],
        check: |img| {
            img.content_is("/token-len", &format!("{}\n", SECRET.len()));
            img.content_is(
                "/token-sha",
                &format!("{}\n", sha256_hex(SECRET.as_bytes())),
            );
            img.content_is("/token-stat", "-r--r----- 1 2\n");
            img.content_is("/not-given", "skipped\n");
            img.absent("/run/secrets/token");
            img.absent("/etc/app/token");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn secrets_from_the_environment_reach_a_file_and_a_variable() {
    let dir = context_with(
        "FROM {base}\n\
         RUN --mount=type=secret,id=envtok,env=TOKEN_VALUE \
         --mount=type=secret,id=envtok,target=/tok \
         printf %s \"$TOKEN_VALUE\" | sha256sum | cut -d' ' -f1 > /env-sha && \
         sha256sum /tok | cut -d' ' -f1 > /file-sha\n",
        &[],
    );
    let destination = format!("{}/mounts/secret-env:1", shared().host);
    let out = Command::new(worker_binary())
        .arg("build")
        .arg("--context")
        .arg(dir.path().join("ctx"))
        .args(["--log-format", "text", "--insecure", "--verbosity", "debug"])
        .args(["--destination", &destination])
        .args(["--secret", "id=envtok,env=KANIKO_TEST_SECRET"])
        .env("KANIKO_TEST_SECRET", SECRET)
        .stdin(Stdio::null())
        .output()
        .expect("spawn worker");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret was logged"
    );
    let img = Built::read(destination);
    let sha = format!("{}\n", sha256_hex(SECRET.as_bytes()));
    img.content_is("/env-sha", &sha);
    img.content_is("/file-sha", &sha);
    img.absent("/tok");
    let config = img.raw.to_string();
    assert!(!config.contains(SECRET), "the secret is in the config");
    assert!(
        !config.contains("TOKEN_VALUE="),
        "the variable is in the config: {config}"
    );
}

#[test]
fn a_missing_required_secret_fails_naming_the_id() {
    let dir = context_with(
        "FROM {base}\nRUN --mount=type=secret,id=needed-token,required=true cat /run/secrets/needed-token\n",
        &[],
    );
    let (out, destination) = build(dir.path(), "secret-required", &[]);
    assert_refused(
        &out,
        &destination,
        &["dockerfile:2", "\"needed-token\"", "required"],
    );
}

#[test]
fn bad_mount_specs_fail_with_clear_messages() {
    for (mount, needles) in [
        (
            "type=nfs,target=/x",
            &["dockerfile:2", "unsupported mount type \"nfs\""][..],
        ),
        (
            "type=cache",
            &["dockerfile:2", "cache mounts need a target"],
        ),
        (
            "target=/x,colour=blue",
            &["dockerfile:2", "unexpected key \"colour\""],
        ),
        (
            "type=tmpfs,target=/x,size=lots",
            &["dockerfile:2", "invalid value \"lots\" for size"],
        ),
        (
            "type=ssh",
            &["dockerfile:2", "ssh mounts are not supported"],
        ),
        (
            "target=/x,source=missing.txt",
            &[
                "dockerfile:2",
                "\"missing.txt\" is not in the build context",
            ],
        ),
        ("target=/", &["dockerfile:2", "root directory"]),
    ] {
        let dir = context_with(&format!("FROM {{base}}\nRUN --mount={mount} true\n"), &[]);
        let name = format!(
            "bad-{}",
            sha256_hex(mount.as_bytes()).get(..8).unwrap_or("x")
        );
        let (out, destination) = build(dir.path(), &name, &[]);
        assert_refused(&out, &destination, needles);
    }
}

#[test]
fn mounts_work_with_a_single_snapshot_nested_from_an_image_and_a_seeded_cache() {
    run(&Case {
        name: "mount-single-snapshot",
        dockerfile: "FROM {base} AS built\n\
                     RUN mkdir /out && echo seed > /out/s\n\
                     FROM {base}\n\
                     RUN --mount=type=cache,id=seeded,target=/seeded,from=built,source=/out \
                     cat /seeded/s > /from-seed\n\
                     RUN --mount=target=/ctx --mount=type=cache,target=/c \
                     --mount=type=tmpfs,target=/t,size=1m cat /ctx/data.txt > /copied && \
                     echo c > /c/f && echo t > /t/f\n\
                     RUN --mount=type=cache,target=/c cat /c/f > /from-cache\n\
                     RUN --mount=from={base},source=/etc/passwd,target=/image-passwd \
                     cmp /image-passwd /etc/passwd && echo same > /from-image\n\
                     RUN --mount=type=cache,target=/root/.cache,sharing=locked \
                     --mount=type=tmpfs,target=/root/.cache/tmp touch /root/.cache/tmp/x && \
                     echo nested > /nested\n",
        files: &[("data.txt", "hello\n")],
        worker_args: &["--single-snapshot"],
        parity: false,
        check: |img| {
            img.content_is("/copied", "hello\n");
            img.content_is("/from-cache", "c\n");
            img.content_is("/nested", "nested\n");
            img.content_is("/from-seed", "seed\n");
            img.content_is("/from-image", "same\n");
            img.absent("/image-passwd");
            img.absent("/seeded");
            img.absent("/out");
            img.absent("/ctx");
            img.absent("/c");
            img.absent("/t");
            img.absent("/root/.cache");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn a_bind_source_never_leaves_its_root() {
    for (name, source) in [
        ("escape-symlink", "abs/passwd"),
        ("escape-dotdot", "../../../../../etc/passwd"),
        ("escape-link-up", "up/etc/passwd"),
    ] {
        let dir = context_with(
            &format!("FROM {{base}}\nRUN --mount=source={source},target=/p cat /p\n"),
            &[],
        );
        let ctx = dir.path().join("ctx");
        std::os::unix::fs::symlink("/etc", ctx.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../..", ctx.join("up")).unwrap();
        let (out, destination) = build(dir.path(), name, &[]);
        assert_refused(
            &out,
            &destination,
            &["dockerfile:2", "is not in the build context"],
        );
    }
}
