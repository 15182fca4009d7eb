// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The layer store (`--store-dir`): a second build on the same base unpacks nothing, two
//! concurrent builds unpack each layer once between them, `worker store ls|prune` and
//! `worker warm` work on it, a rootless worker uses it too, and an image built through it is
//! the image built without it (same digest with `--reproducible`) for a base whose layers
//! hold whiteouts and opaque directories, `COPY --from` of such a stage included; a COPY-only
//! stage reads its base's filesystem index from the store after the first build; where the
//! overlay cannot be mounted (the worker's directories on an overlayfs) the walk takes over
//! and builds the same image.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kaniko_tests::rootless::RootlessUser;

use super::{Shared, shared};
use crate::dockerfiles::{worker_binary, worker_build_within};

const TIMEOUT: Duration = Duration::from_secs(300);

/// The numbers of the build log's `store: N layers unpacked, M reused, K kept from RUN, B
/// base indexes built, L loaded` line, by label.
fn store_line(out: &Output) -> Vec<(String, u64)> {
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .filter_map(|l| l.split_once("store: ").map(|(_, rest)| rest.to_string()))
        .find(|rest| rest.contains("layers unpacked"))
        .unwrap_or_else(|| panic!("no store counters in the build log:\n{log}"));
    line.split(", ")
        .filter_map(|part| {
            let (number, label) = part.trim().split_once(' ')?;
            Some((label.to_string(), number.parse().ok()?))
        })
        .collect()
}

fn count(line: &[(String, u64)], label: &str) -> u64 {
    line.iter()
        .find(|(l, _)| l.starts_with(label))
        .map(|(_, n)| *n)
        .unwrap_or_else(|| panic!("no {label:?} in the store counters {line:?}"))
}

/// `(unpacked, reused, kept)`: layers unpacked from their tars into the store, found there
/// already, and RUN upper directories kept as layers.
fn counters(out: &Output) -> (u64, u64, u64) {
    let line = store_line(out);
    (
        count(&line, "layers unpacked"),
        count(&line, "reused"),
        count(&line, "kept from RUN"),
    )
}

/// Writes `dockerfile` (and `files`) into `<dir>/ctx`; returns the context.
pub(crate) fn context(dir: &Path, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    for (name, content) in files {
        std::fs::write(ctx.join(name), content).unwrap();
    }
    ctx
}

/// `worker build` of `ctx` pushing to `reference` with `extra` flags; asserts success.
fn build(ctx: &Path, reference: &str, extra: &[&str], user: Option<&RootlessUser>) -> Output {
    let mut args = vec!["--destination".to_string(), reference.to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    let out = worker_build_within(ctx, &args, TIMEOUT, user);
    assert!(
        out.status.success(),
        "worker build {reference} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn store_flag(store: &Path) -> String {
    format!("--store-dir={}", store.display())
}

/// A `--reproducible` build of `ctx` to `reference` with `flag` (`--no-store` or a store):
/// its output and the digest it pushed.
fn reproducible_build(tmp: &Path, ctx: &Path, reference: &str, flag: &str) -> (Output, String) {
    let dir = tempfile::tempdir_in(tmp).unwrap();
    let digest_file = dir.path().join("digest");
    let digest_flag = format!("--digest-file={}", digest_file.display());
    let out = build(
        ctx,
        reference,
        &[flag, "--reproducible", &digest_flag],
        None,
    );
    let digest = std::fs::read_to_string(&digest_file).unwrap();
    (out, digest)
}

#[test]
fn a_second_build_on_the_same_base_unpacks_nothing() {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ctx = context(
        tmp.path(),
        &format!(
            "FROM {}\nRUN echo one > /one\nRUN test \"$(cat /one)\" = one && echo two > /two\n",
            shared.busybox
        ),
        &[],
    );
    let reference = format!("{}/store/second:latest", shared.host);
    let flags = [store_flag(&store), "--reproducible".to_string()];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let first = build(&ctx, &reference, &flags, None);
    assert_eq!(
        counters(&first),
        (1, 0, 2),
        "the base layer is unpacked into the store; each RUN's upper directory is kept as \
         its layer (the second RUN stacks on the first's without unpacking it)"
    );
    let second = build(&ctx, &reference, &flags, None);
    assert_eq!(
        counters(&second),
        (0, 3, 0),
        "the second build finds every layer in the store, those its RUNs wrote again too"
    );
    // `worker store ls` lists them, none in use; `prune --all` empties the store.
    let ls = Command::new(worker_binary())
        .args(["store", "ls", &store_flag(&store)])
        .output()
        .unwrap();
    assert!(
        ls.status.success(),
        "{}",
        String::from_utf8_lossy(&ls.stderr)
    );
    let listing = String::from_utf8_lossy(&ls.stdout);
    let layers: Vec<&str> = listing.lines().filter(|l| l.starts_with("layer")).collect();
    assert_eq!(layers.len(), 3, "{listing}");
    assert!(layers.iter().all(|l| l.ends_with("\tno")), "{listing}");
    assert_eq!(listing.lines().filter(|l| l.starts_with("blob")).count(), 1);
    let prune = Command::new(worker_binary())
        .args(["store", "prune", "--all", &store_flag(&store)])
        .output()
        .unwrap();
    assert!(
        prune.status.success(),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    assert!(
        std::fs::read_dir(store.join("layers"))
            .unwrap()
            .next()
            .is_none()
    );
    let third = build(&ctx, &reference, &flags, None);
    assert_eq!(
        counters(&third),
        (1, 0, 2),
        "a pruned store is filled again"
    );
}

#[test]
fn two_concurrent_builds_unpack_each_layer_once() {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let dockerfile = format!(
        "FROM {}\nRUN echo same > /same\nRUN cat /same\n",
        shared.busybox
    );
    let flags = [store_flag(&store), "--reproducible".to_string()];
    let builds: Vec<std::thread::JoinHandle<Output>> = (0..2)
        .map(|i| {
            let dir = tmp.path().join(format!("b{i}"));
            let ctx = context(&dir, &dockerfile, &[]);
            let reference = format!("{}/store/concurrent:{i}", shared.host);
            let flags = flags.clone();
            std::thread::spawn(move || {
                let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
                build(&ctx, &reference, &flags, None)
            })
        })
        .collect();
    let outs: Vec<Output> = builds.into_iter().map(|b| b.join().unwrap()).collect();
    let totals = outs.iter().map(counters).fold((0, 0, 0), |acc, (u, r, k)| {
        (acc.0 + u, acc.1 + r, acc.2 + k)
    });
    assert_eq!(
        totals,
        (1, 2, 1),
        "the base layer is unpacked once between the two builds, and the one RUN layer \
         (the same in both) kept once: the other build finds the base and that layer there"
    );
}

#[test]
fn warm_fills_the_store_ahead_of_a_build() {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let warm = Command::new(worker_binary())
        .args(["warm", &shared.busybox, "--insecure", &store_flag(&store)])
        .output()
        .unwrap();
    assert!(
        warm.status.success(),
        "{}",
        String::from_utf8_lossy(&warm.stderr)
    );
    assert!(
        String::from_utf8_lossy(&warm.stdout).contains("store: 1 layers unpacked, 0 reused"),
        "{}",
        String::from_utf8_lossy(&warm.stdout)
    );
    let ctx = context(
        tmp.path(),
        &format!("FROM {}\nRUN echo x > /x\n", shared.busybox),
        &[],
    );
    let out = build(
        &ctx,
        &format!("{}/store/warm:latest", shared.host),
        &[&store_flag(&store)],
        None,
    );
    assert_eq!(
        counters(&out),
        (0, 1, 1),
        "the base comes from the warmed store"
    );
}

#[test]
fn a_rootless_worker_uses_the_store() {
    let user = RootlessUser::lookup().unwrap();
    let shared = shared();
    let scratch = user.scratch_dir().unwrap();
    let store = scratch.path().join("store");
    let ctx = context(
        scratch.path(),
        &format!(
            "FROM {}\nRUN echo r > /r && chown 1:2 /r && rm /etc/group\n\
             RUN test ! -e /etc/group && test \"$(stat -c %u:%g /r)\" = 1:2\n",
            shared.busybox
        ),
        &[],
    );
    user.chown_tree(scratch.path()).unwrap();
    let reference = format!("{}/store/rootless:latest", shared.host);
    let flags = [store_flag(&store), "--reproducible".to_string()];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let first = build(&ctx, &reference, &flags, Some(&user));
    // The second RUN changes nothing: no layer.
    assert_eq!(counters(&first), (1, 0, 1));
    let second = build(&ctx, &reference, &flags, Some(&user));
    assert_eq!(counters(&second), (0, 2, 0));
    let built = crate::dockerfiles::Built::read(reference);
    assert_eq!(built.owner_mode("/r"), (0o644, 1, 2));
    built.absent("/etc/group");
}

/// A base of three layers built by the worker: files, then a RUN deleting one of them, then
/// a RUN replacing a directory (an opaque directory in its layer).
const BASE: &str = "FROM {busybox}\n\
    RUN mkdir -p /d/sub /keep && echo x > /d/sub/f && echo y > /gone && echo z > /keep/k && \
        echo w > /lower\n\
    RUN rm /gone\n\
    RUN rm -rf /d && mkdir /d && echo new > /d/n\n";

/// On that base: RUN (checking what it sees), COPY, and a RUN deleting from a lower layer;
/// then a stage copying that whole filesystem (`COPY --from` reads it through the store).
const ON_BASE: &str = "FROM {base} AS app\n\
    RUN test ! -e /gone && test ! -e /d/sub && test \"$(cat /d/n)\" = new && \
        test \"$(cat /keep/k)\" = z && echo a > /a\n\
    COPY f.txt /keep/f.txt\n\
    RUN rm /lower /keep/k && rm -r /d && ls /keep > /listing\n\
    FROM {base}\n\
    COPY --from=app / /app/\n";

/// The three-layer base with whiteouts and an opaque directory ([`BASE`]), built without the
/// store and pushed as `store/<name>:latest`; its reference.
fn whiteouts_base(shared: &Shared, tmp: &Path, name: &str) -> String {
    let base_ref = format!("{}/store/{name}:latest", shared.host);
    let base_ctx = context(
        &tmp.join("base"),
        &BASE.replace("{busybox}", &shared.busybox),
        &[],
    );
    build(&base_ctx, &base_ref, &["--no-store"], None);
    base_ref
}

#[test]
fn an_image_built_through_the_store_is_the_image_built_without_it() {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let base_ref = whiteouts_base(shared, tmp.path(), "whiteouts-base");
    let ctx = context(
        &tmp.path().join("app"),
        &ON_BASE.replace("{base}", &base_ref),
        &[("f.txt", "copied\n")],
    );
    let mut digests = Vec::new();
    for (tag, flag) in [
        ("store", store_flag(&store)),
        ("flat", "--no-store".to_string()),
    ] {
        let reference = format!("{}/store/whiteouts:{tag}", shared.host);
        let (out, digest) = reproducible_build(tmp.path(), &ctx, &reference, &flag);
        if tag == "store" {
            assert_eq!(
                counters(&out),
                (5, 7, 2),
                "4 base layers and the COPY's for the last RUN unpacked, both RUNs' upper \
                 directories kept; COPY --from reads all seven from the store"
            );
        }
        digests.push(digest);
        let built = crate::dockerfiles::Built::read(reference);
        built.content_is("/app/listing", "f.txt\n");
        built.content_is("/app/a", "a\n");
        built.content_is("/app/keep/f.txt", "copied\n");
        built.absent("/app/lower");
        built.absent("/app/gone");
        built.absent("/app/d");
    }
    assert_eq!(
        digests[0], digests[1],
        "the store and --no-store build the same image"
    );
}

/// RUNs whose upper directories hold what their layers leave out (a cache mount's target,
/// `/var/run`), hard links made and broken, a FIFO, a replaced directory, a deletion from
/// the base; then a RUN listing the filesystem it sees, without times (what a later RUN sees
/// of a kept layer must be what it sees of the flat root).
const KEPT_LAYERS: &str = "FROM {busybox}\n\
    RUN --mount=type=cache,target=/cache mkdir -p /a/b /a/c /var/run/x && echo 1 > /a/b/f && \
        ln /a/b/f /a/b/hl && echo 2 > /a/c/g && echo run > /var/run/x/s && \
        ln -s ../b/f /a/c/link && chmod 0751 /a/c && echo c > /cache/c && mkfifo /a/fifo && \
        chown 7:8 /a/b/f\n\
    RUN rm /a/b/hl /bin/true && rm -rf /a/c && mkdir /a/c && echo new > /a/c/n && \
        echo 3 >> /a/b/f && ln /a/b/f /a/b/again\n\
    RUN (find / -xdev -mindepth 1 ! -type d | sort | while read f; do \
        stat -c '%n %F %a %u %g %h' \"$f\"; done; \
        find / -xdev -mindepth 1 -type d | sort | while read f; do \
        stat -c '%n %a %u %g' \"$f\"; done; \
        find / -xdev -type f ! -path '/bin/*' ! -path /listing | sort | xargs md5sum) \
        > /listing && grep -qx '/a/b/again regular file 644 7 8 2' /listing && \
        grep -qx '/a/fifo fifo 644 0 0 1' /listing && grep -qx '/a/c 755 0 0' /listing && \
        ! grep -q '^/a/b/hl ' /listing && ! grep -q '^/cache/c ' /listing\n";

#[test]
fn kept_run_layers_show_later_runs_what_the_flat_root_shows() {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ctx = context(
        tmp.path(),
        &KEPT_LAYERS.replace("{busybox}", &shared.busybox),
        &[],
    );
    let mut digests = Vec::new();
    for (tag, flag, expected) in [
        ("flat", "--no-store".to_string(), None),
        ("store", store_flag(&store), Some((1, 0, 3))),
        // The same layers again: found in the store, the new upper directories dropped.
        ("again", store_flag(&store), Some((0, 4, 0))),
    ] {
        let reference = format!("{}/store/kept:{tag}", shared.host);
        let (out, digest) = reproducible_build(tmp.path(), &ctx, &reference, &flag);
        if let Some(expected) = expected {
            assert_eq!(counters(&out), expected, "{tag}");
        }
        digests.push(digest);
        let built = crate::dockerfiles::Built::read(reference);
        built.content_is("/a/c/n", "new\n");
        built.absent("/a/c/g");
        built.absent("/bin/true");
        built.absent("/cache/c");
        built.absent("/var/run/x/s");
    }
    // The listing is in the image: the same digest means every RUN saw the same tree.
    assert_eq!(
        digests[0], digests[1],
        "the store and --no-store build the same image"
    );
    assert_eq!(digests[0], digests[2], "a warm store builds the same image");
}

/// COPY --from sources through symlinks (absolute, relative, at the source's end), a glob
/// and a directory, which the store links alone from the stage's layers; then a mount of the
/// same stage, which needs all of it.
const FROM_PARTS: &str = "FROM {busybox} AS build\n\
    RUN mkdir -p /real/sub /out /opt/x && echo f > /real/sub/file && ln -s /real /link && \
        ln -s sub/file /real/alias && echo a > /out/a.txt && echo b > /out/b.txt && \
        echo c > /out/c.bin && echo o > /opt/x/o\n\
    FROM {busybox}\n\
    COPY --from=build /link/sub/file /got/file\n\
    COPY --from=build /link/alias /got/alias\n\
    COPY --from=build /out/*.txt /got/txt/\n\
    COPY --from=build /opt /got/opt\n\
    RUN --mount=from=build,target=/b ls /b > /listing && grep -qx bin /listing\n";

#[test]
fn copy_from_reads_what_it_names_through_the_store_as_without_it() {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ctx = context(
        tmp.path(),
        &FROM_PARTS.replace("{busybox}", &shared.busybox),
        &[],
    );
    let mut digests = Vec::new();
    for (tag, flag) in [
        ("flat", "--no-store".to_string()),
        ("store", store_flag(&store)),
    ] {
        let reference = format!("{}/store/from-parts:{tag}", shared.host);
        digests.push(reproducible_build(tmp.path(), &ctx, &reference, &flag).1);
        let built = crate::dockerfiles::Built::read(reference);
        built.content_is("/got/file", "f\n");
        built.content_is("/got/alias", "f\n");
        built.content_is("/got/txt/a.txt", "a\n");
        built.content_is("/got/txt/b.txt", "b\n");
        built.absent("/got/txt/c.bin");
        built.content_is("/got/opt/x/o", "o\n");
    }
    assert_eq!(
        digests[0], digests[1],
        "the store and --no-store build the same image"
    );
}

/// `(built, loaded)` base filesystem indexes from the build log's store line.
fn index_counters(out: &Output) -> (u64, u64) {
    let line = store_line(out);
    (count(&line, "base indexes built"), count(&line, "loaded"))
}

/// A COPY-only stage (WORKDIR into an existing directory, `--chown` by name) on the
/// three-layer base with whiteouts and an opaque directory.
const COPY_ONLY: &str = "FROM {base}\n\
    COPY --chown=root:root f.txt /d/f.txt\n\
    WORKDIR /keep\n\
    COPY f.txt g.txt\n";

#[test]
fn a_second_build_reads_the_base_index_from_the_store_and_a_damaged_one_is_rebuilt() {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let base_ref = whiteouts_base(shared, tmp.path(), "index-base");
    let ctx = context(
        &tmp.path().join("app"),
        &COPY_ONLY.replace("{base}", &base_ref),
        &[("f.txt", "copied\n")],
    );
    let reference = format!("{}/store/index:latest", shared.host);
    let digest_file = tmp.path().join("digest");
    let digest_flag = format!("--digest-file={}", digest_file.display());
    let run = |flag: &str| {
        let out = build(
            &ctx,
            &reference,
            &[flag, "--reproducible", &digest_flag],
            None,
        );
        (out, std::fs::read_to_string(&digest_file).unwrap())
    };
    let store_flag = store_flag(&store);

    let (first, digest) = run(&store_flag);
    assert_eq!(
        index_counters(&first),
        (1, 0),
        "the first build indexes the base and keeps the index"
    );
    let files: Vec<PathBuf> = std::fs::read_dir(store.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let built = crate::dockerfiles::Built::read(reference.clone());
    built.content_is("/d/f.txt", "copied\n");
    built.content_is("/keep/g.txt", "copied\n");
    built.content_is("/keep/k", "z\n");
    built.absent("/d/sub");

    let (second, again) = run(&store_flag);
    assert_eq!(
        index_counters(&second),
        (0, 1),
        "the second build reads the index from the store"
    );
    assert_eq!(digest, again, "the image is the same with the stored index");

    std::fs::write(&files[0], b"KRFSIDX\0 not an index").unwrap();
    let (third, after) = run(&store_flag);
    assert_eq!(
        index_counters(&third),
        (1, 0),
        "a damaged index is built again"
    );
    assert_eq!(digest, after);
    assert_ne!(
        std::fs::read(&files[0]).unwrap(),
        b"KRFSIDX\0 not an index",
        "and rewritten"
    );
    let (fourth, _) = run(&store_flag);
    assert_eq!(index_counters(&fourth), (0, 1));

    let (_, flat) = run("--no-store");
    assert_eq!(
        digest, flat,
        "the store and --no-store build the same image"
    );
}

/// An overlay mounted at `<dir>/merged` for a test; unmounted on drop. The worker's own
/// overlays cannot use a directory on it as their upper directory (overlayfs is not a valid
/// upper filesystem), which is how a host without a usable overlay looks to the worker.
struct OverlayMount {
    merged: PathBuf,
}

impl OverlayMount {
    fn new(dir: &Path) -> OverlayMount {
        let [lower, upper, work, merged] =
            ["lower", "upper", "work", "merged"].map(|d| dir.join(d));
        for d in [&lower, &upper, &work, &merged] {
            std::fs::create_dir_all(d).unwrap();
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        let status = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(&merged)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting the test's overlay (the tests run as root)"
        );
        OverlayMount { merged }
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.merged).status();
    }
}

#[test]
fn where_overlay_cannot_mount_the_walk_takes_over_and_builds_the_same_image() {
    let shared = shared();
    let tmp = tempfile::tempdir().unwrap();
    let base_ref = whiteouts_base(shared, tmp.path(), "fallback-base");
    let ctx = context(
        &tmp.path().join("app"),
        &ON_BASE.replace("{base}", &base_ref),
        &[("f.txt", "copied\n")],
    );
    let overlay = OverlayMount::new(&tmp.path().join("ovl"));
    let mut digests = Vec::new();
    for (tag, kaniko_dir) in [
        ("overlay", tmp.path().join("kaniko")),
        ("fallback", overlay.merged.join("kaniko")),
    ] {
        let digest_file = tmp.path().join(format!("{tag}.digest"));
        let reference = format!("{}/store/fallback:{tag}", shared.host);
        let out = build(
            &ctx,
            &reference,
            &[
                &format!("--kaniko-dir={}", kaniko_dir.display()),
                "--reproducible",
                &format!("--digest-file={}", digest_file.display()),
            ],
            None,
        );
        let log = String::from_utf8_lossy(&out.stderr);
        let warned = log.contains("overlay is not available");
        assert_eq!(warned, tag == "fallback", "{tag}:\n{log}");
        if tag == "fallback" {
            // Both RUNs of the stage: the first falls back, the second walks straight away.
            assert_eq!(log.matches("overlay is not available").count(), 1, "{log}");
        }
        digests.push(std::fs::read_to_string(&digest_file).unwrap());
        let built = crate::dockerfiles::Built::read(reference);
        built.content_is("/app/listing", "f.txt\n");
        built.content_is("/app/a", "a\n");
        built.absent("/app/lower");
        built.absent("/app/gone");
        built.absent("/app/d");
    }
    assert_eq!(
        digests[0], digests[1],
        "the walk after the failed overlay builds the image the overlay builds"
    );
}
