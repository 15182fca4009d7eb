// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Bombs and slow or oversized sources against `worker build`'s bounds: a gzip of zeros as an
//! ADD archive, a `tar://` context and a base layer (under RUN and `COPY --from`) past
//! `--max-build-disk`; a sparse GNU entry claiming a terabyte under the default limit; zstd
//! bombs (an ADD archive, and a base layer a COPY-only stage only indexes) stopped by the
//! ratio check, and `--max-compression-ratio=0` turning it off; ADD URLs that announce or
//! send more than `--add-url-max-size`, or send too slowly for `--add-url-timeout`, served
//! by a small HTTP server on loopback. Each build fails quickly with an error naming the
//! limit and its flag. Small limits keep every case to a few megabytes and seconds.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use kaniko_common::oci::Compression;
use kaniko_tests::tarball::append_file;

use crate::dockerfiles::worker_build_within;
use crate::run::escapes::{pipe_through, push_crafted_with};

/// A tar holding `name`, `size` zero bytes, and `files` (name, content) before it.
fn zeros_tar(name: &str, size: u64, files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        append_file(&mut builder, path, content.len() as u64, content.as_bytes());
    }
    append_file(&mut builder, name, size, std::io::repeat(0).take(size));
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    pipe_through("gzip", &["-n", "-c"], data)
}

fn zstd(data: &[u8]) -> Vec<u8> {
    pipe_through("zstd", &["-q", "-c"], data)
}

/// A context directory with `Dockerfile` and `files` (name, bytes).
fn context(dockerfile: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

/// `worker build --no-push <flags>` of `context` (a directory or `tar://...`).
fn build(context: &Path, flags: &[&str]) -> Output {
    let mut args = vec!["--no-push".to_string()];
    args.extend(flags.iter().map(|f| f.to_string()));
    worker_build_within(context, &args, Duration::from_secs(120), None)
}

/// The build failed, without a panic, its error naming every one of `needles`.
#[track_caller]
fn fails_naming(what: &str, out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{what}: the build succeeded:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{what}: no error line:\n{stderr}"));
    for needle in needles {
        assert!(
            error.contains(needle),
            "{what}: {needle:?} missing from\n{error}"
        );
    }
    error.to_string()
}

#[test]
fn an_add_archive_and_a_tar_context_of_zeros_stop_at_max_build_disk() {
    // 5 MiB of zeros gzip to about 5 KiB.
    let bomb = gzip(&zeros_tar("zeros", 5 << 20, &[]));
    assert!(bomb.len() < 64 << 10);
    let ctx = context(
        "FROM scratch\nADD bomb.tar.gz /\n",
        &[("bomb.tar.gz", &bomb)],
    );
    let out = build(ctx.path(), &["--max-build-disk=1MiB"]);
    fails_naming(
        "ADD archive",
        &out,
        &[
            "ADD bomb.tar.gz",
            "writing zeros (5 MiB)",
            "past --max-build-disk 1 MiB",
        ],
    );
    // The same zeros inside the context tarball itself.
    let scratch = tempfile::tempdir().unwrap();
    let tarball = scratch.path().join("context.tar.gz");
    let packed = zeros_tar(
        "zeros",
        5 << 20,
        &[("Dockerfile", "FROM scratch\nCOPY zeros /\n")],
    );
    std::fs::write(&tarball, gzip(&packed)).unwrap();
    let out = build(
        &PathBuf::from(format!("tar://{}", tarball.display())),
        &["--max-build-disk=1MiB"],
    );
    fails_naming(
        "tar:// context",
        &out,
        &[
            "build context tar://",
            "writing zeros",
            "--max-build-disk 1 MiB",
        ],
    );
}

/// A plain tar whose one GNU sparse entry `huge` claims 1 TiB: 512 bytes of data at its end.
fn sparse_terabyte() -> Vec<u8> {
    let real = 1u64 << 40;
    let mut header = tar::Header::new_gnu();
    header.set_path("huge").unwrap();
    header.set_entry_type(tar::EntryType::GNUSparse);
    header.set_size(512);
    header.set_mode(0o644);
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.set_real_size(real);
        gnu.sparse[0].set_offset(real - 512);
        gnu.sparse[0].set_length(512);
    }
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &[b'x'; 512][..]).unwrap();
    builder.into_inner().unwrap()
}

#[test]
fn a_sparse_entry_claiming_a_terabyte_is_refused_before_a_byte_is_written() {
    let ctx = context(
        "FROM scratch\nADD sparse.tar /\n",
        &[("sparse.tar", &sparse_terabyte())],
    );
    let started = Instant::now();
    // The default limit: 32 GiB, or less on a fuller disk.
    let out = build(ctx.path(), &[]);
    fails_naming(
        "sparse entry",
        &out,
        &["ADD sparse.tar", "writing huge (1 TiB)", "--max-build-disk"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}: the entry was written",
        started.elapsed()
    );
}

#[test]
fn a_zstd_archive_bomb_is_stopped_by_its_ratio_unless_the_check_is_off() {
    // 100 MiB of zeros zstd to a few KiB: far past 2000:1 once 64 MiB came out.
    let bomb = zstd(&zeros_tar("zeros", 100 << 20, &[]));
    let ctx = context(
        "FROM scratch\nADD bomb.tar.zst /\n",
        &[("bomb.tar.zst", &bomb)],
    );
    fails_naming(
        "default ratio",
        &build(ctx.path(), &[]),
        &[
            "ADD bomb.tar.zst",
            "decompresses to more than 2000 times its size",
            "--max-compression-ratio 2000",
        ],
    );
    // Off, only the disk limit stands.
    let error = fails_naming(
        "ratio off",
        &build(
            ctx.path(),
            &["--max-compression-ratio=0", "--max-build-disk=50MiB"],
        ),
        &["writing zeros (100 MiB)", "--max-build-disk 50 MiB"],
    );
    assert!(!error.contains("--max-compression-ratio"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn base_layers_of_zeros_stop_at_the_limits() {
    let gzipped = zeros_tar("zeros", 32 << 20, &[]);
    let disk_bomb =
        push_crafted_with("bombs/zeros-gzip", &[(&gzipped[..], Compression::Gzip)]).await;
    let zstd_zeros = zeros_tar("zeros", 100 << 20, &[]);
    let ratio_bomb =
        push_crafted_with("bombs/zeros-zstd", &[(&zstd_zeros[..], Compression::Zstd)]).await;
    let cases: [(&str, String, &[&str], &[&str]); 3] = [
        (
            "RUN unpacks the base",
            format!("FROM {disk_bomb}\nRUN true\n"),
            &["--max-build-disk=8MiB"],
            &[
                "for RUN: layer sha256:",
                "writing zeros (32 MiB)",
                "--max-build-disk 8 MiB",
            ],
        ),
        (
            "COPY --from unpacks the image",
            format!("FROM scratch\nCOPY --from={disk_bomb} /zeros /z\n"),
            &["--max-build-disk=8MiB"],
            &[
                "unpacking",
                "writing zeros (32 MiB)",
                "--max-build-disk 8 MiB",
            ],
        ),
        (
            "a COPY-only stage reads the layer's headers",
            format!("FROM {ratio_bomb}\nCOPY Dockerfile /d\n"),
            &[],
            &["layer sha256:", "--max-compression-ratio 2000"],
        ),
    ];
    for (what, dockerfile, flags, needles) in cases {
        let ctx = context(&dockerfile, &[]);
        let out = tokio::task::spawn_blocking({
            let dir = ctx.path().to_path_buf();
            let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
            move || {
                let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
                build(&dir, &flags)
            }
        })
        .await
        .unwrap();
        fails_naming(what, &out, needles);
    }
}

/// How the test server answers.
#[derive(Clone, Copy)]
enum Serve {
    /// Announces `Content-Length` of this many bytes (sends none).
    Announce(u64),
    /// Sends this many bytes without a length (closing ends the body).
    Stream(u64),
    /// Sends headers, then one byte every 200 ms, forever.
    Slowly,
}

/// An HTTP server on 127.0.0.1 answering every request as `how`; the URL of `/file.bin`.
fn http_server(how: Serve) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/file.bin", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = match how {
                    Serve::Announce(size) => stream.write_all(
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
                    ),
                    Serve::Stream(size) => {
                        let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                        stream.write_all(head.as_bytes()).and_then(|()| {
                            std::io::copy(&mut std::io::repeat(b'x').take(size), &mut stream)
                                .map(drop)
                        })
                    }
                    Serve::Slowly => {
                        let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
                        let mut sent = stream.write_all(head.as_bytes());
                        while sent.is_ok() {
                            std::thread::sleep(Duration::from_millis(200));
                            sent = stream.write_all(b"x");
                        }
                        sent
                    }
                };
            });
        }
    });
    url
}

#[test]
fn add_urls_stop_at_their_size_and_time_limits() {
    let cases = [
        (
            "announced too large",
            Serve::Announce(10 << 20),
            "--add-url-max-size=1MiB",
            "10 MiB is more than --add-url-max-size 1 MiB",
        ),
        (
            "sent too much",
            Serve::Stream(3 << 20),
            "--add-url-max-size=1MiB",
            "is more than --add-url-max-size 1 MiB",
        ),
        (
            "sent too slowly",
            Serve::Slowly,
            "--add-url-timeout=2",
            "not complete within --add-url-timeout 2s",
        ),
    ];
    for (what, how, flag, needle) in cases {
        let url = http_server(how);
        let ctx = context(&format!("FROM scratch\nADD {url} /f\n"), &[]);
        let started = Instant::now();
        let out = build(ctx.path(), &[flag]);
        fails_naming(what, &out, &[&format!("downloading {url}"), needle]);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: took {:?}",
            started.elapsed()
        );
    }
}
