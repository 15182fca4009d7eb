// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Layers are streamed, never held whole: `COPY` of a 1 GiB file that gzip cannot shrink,
//! built and pushed by the spawned `worker build`, keeps the worker's peak RSS under 200 MiB.

use std::io::Write;
use std::process::Command;

use kaniko_tests::bench::run_measured;
use kaniko_tests::fixture::busybox_setup;
use kaniko_tests::skopeo_inspect_raw;
use rand::RngCore;

use super::worker_binary;

const FILE_MIB: u64 = 1024;
const PEAK_RSS_LIMIT_MIB: u64 = 200;

#[tokio::test(flavor = "multi_thread")]
async fn a_one_gib_copy_is_pushed_with_peak_rss_under_200_mib() {
    let (registry, base, tmp) = busybox_setup().await;
    let context = tmp.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    // One random MiB repeated: gzip's 32 KiB window cannot see the repetition, so the
    // compressed layer is as big as the file.
    let mut block = vec![0u8; 1 << 20];
    rand::rng().fill_bytes(&mut block);
    let mut big = std::io::BufWriter::new(std::fs::File::create(context.join("big.bin")).unwrap());
    for _ in 0..FILE_MIB {
        big.write_all(&block).unwrap();
    }
    big.flush().unwrap();
    drop(big);
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {}\nCOPY big.bin /data/big.bin\n", base.reference),
    )
    .unwrap();

    let destination = format!("{}/memory/big:1", registry.host());
    let mut command = Command::new(worker_binary());
    command.arg("build").arg("--context").arg(&context).args([
        "--destination",
        &destination,
        "--insecure",
    ]);
    let measured = run_measured(command, &tmp.path().join("worker.log"))
        .unwrap_or_else(|err| panic!("worker build of a 1 GiB context: {err:#}"));
    let peak_mib = measured.peak_rss_kib / 1024;
    tracing::info!(peak_mib, elapsed = ?measured.elapsed, "1 GiB COPY built and pushed");
    assert!(
        peak_mib < PEAK_RSS_LIMIT_MIB,
        "peak RSS {peak_mib} MiB for a {FILE_MIB} MiB COPY (limit {PEAK_RSS_LIMIT_MIB} MiB)"
    );

    let manifest = skopeo_inspect_raw(&destination).unwrap();
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2, "{manifest:#}");
    let size = layers
        .get(1)
        .and_then(|layer| layer["size"].as_u64())
        .unwrap_or(0);
    assert!(
        size > FILE_MIB << 20,
        "the 1 GiB layer is {size} bytes: {manifest:#}"
    );
}
