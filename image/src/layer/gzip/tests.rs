// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Parallel gzip output is one standard gzip member (flate2 and the system `gzip` read it back),
//! the same bytes whatever the thread count, and about as small as single-stream gzip.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use super::*;

fn compress_with(level: u32, threads: usize, data: &[u8], piece: usize) -> Vec<u8> {
    let mut gz = ParallelGzip::new(Vec::new(), level, threads);
    for part in data.chunks(piece.max(1)) {
        gz.write_all(part).unwrap();
    }
    gz.finish().unwrap()
}

fn compress(threads: usize, data: &[u8]) -> Vec<u8> {
    compress_with(6, threads, data, 7000)
}

/// xorshift bytes: incompressible.
fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Text-like lines: highly compressible.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        let _ = writeln!(out, "line {i}: the quick brown fox {} jumps", i % 97);
        i += 1;
    }
    out.truncate(len);
    out
}

fn gunzip_flate2(gz: &[u8]) -> Vec<u8> {
    // GzDecoder reads only the first member: all the data coming back proves there is one.
    let mut single = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut single)
        .unwrap();
    let mut multi = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut multi)
        .unwrap();
    assert_eq!(single, multi);
    single
}

fn gunzip_system(gz: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the system gzip (hack/deps.sh)");
    let mut stdin = child.stdin.take().unwrap();
    let input = gz.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "gzip -dc: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn every_size_decodes_with_flate2_and_system_gzip_and_ignores_the_thread_count() {
    let sizes = [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * CHUNK_SIZE,
        9 * CHUNK_SIZE + 12_345,
    ];
    for size in sizes {
        for (kind, data) in [("random", random(size, size as u64)), ("text", text(size))] {
            let one = compress(1, &data);
            assert_eq!(&one[..4], &[0x1f, 0x8b, 8, 0], "{kind} {size}");
            // mtime 0 and OS "unknown", as flate2's GzBuilder wrote before.
            assert_eq!(&one[4..8], &[0, 0, 0, 0], "{kind} {size}");
            assert_eq!(one[9], 255, "{kind} {size}");
            assert_eq!(compress(1, &data), one, "{kind} {size}: repeated run");
            for threads in [2, 3, 4] {
                assert_eq!(
                    compress(threads, &data),
                    one,
                    "{kind} {size}: {threads} threads"
                );
            }
            // One write of everything cuts the same chunks as many small writes.
            assert_eq!(compress_with(6, 2, &data, usize::MAX), one, "{kind} {size}");
            assert!(gunzip_flate2(&one) == data, "{kind} {size}: flate2");
            assert!(gunzip_system(&one) == data, "{kind} {size}: gzip -dc");
        }
    }
}

#[test]
fn levels_0_1_and_9_decode_and_mark_the_header() {
    let data = text(3 * CHUNK_SIZE + 77);
    for (level, xfl) in [(0, 4), (1, 4), (6, 0), (9, 2)] {
        let gz = compress_with(level, 2, &data, 50_000);
        assert_eq!(gz[8], xfl, "level {level}");
        assert_eq!(compress_with(level, 1, &data, 50_000), gz, "level {level}");
        assert!(gunzip_system(&gz) == data, "level {level}");
    }
    // Level 0 stores: the output is at least as large as the input.
    assert!(compress_with(0, 2, &data, 4096).len() > data.len());
}

#[test]
fn the_header_and_trailer_match_single_stream_gzip() {
    let data = text(5 * CHUNK_SIZE + 3);
    let ours = compress(2, &data);
    let mut reference = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::new(6));
    reference.write_all(&data).unwrap();
    let reference = reference.finish().unwrap();
    assert_eq!(&ours[..10], &reference[..10], "header");
    assert_eq!(
        &ours[ours.len() - 8..],
        &reference[reference.len() - 8..],
        "CRC-32 and ISIZE"
    );
    // Chunks primed with the previous window compress about as well as one stream.
    assert!(
        ours.len() as f64 <= reference.len() as f64 * 1.03,
        "parallel {} bytes, single stream {} bytes",
        ours.len(),
        reference.len()
    );
}

#[test]
fn chunks_are_primed_with_the_previous_window() {
    // A 20 KiB random block repeated over 2 MiB: with the previous chunk's tail as dictionary
    // every chunk after the first is matches only; without, each chunk would repeat the block.
    let block = random(20 * 1024, 7);
    let data: Vec<u8> = block.iter().copied().cycle().take(2 << 20).collect();
    let gz = compress(2, &data);
    // Measured: about 46 KiB with the dictionary, about 330 KiB (16 × the block) without.
    assert!(gz.len() < 80 * 1024, "{} bytes", gz.len());
    assert!(gunzip_flate2(&gz) == data);
}

#[test]
fn flush_does_not_change_the_output() {
    let data = random(4 * CHUNK_SIZE + 999, 3);
    let plain = compress(2, &data);
    let mut gz = ParallelGzip::new(Vec::new(), 6, 2);
    for part in data.chunks(100_000) {
        gz.write_all(part).unwrap();
        gz.flush().unwrap();
    }
    assert_eq!(gz.finish().unwrap(), plain);
}

/// A sink that fails once `limit` bytes have been written.
struct Failing {
    written: usize,
    limit: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() > self.limit {
            return Err(io::Error::other("disk full"));
        }
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_sink_is_an_error_not_a_panic_or_a_hang() {
    let data = random(20 * CHUNK_SIZE, 11);
    for threads in [1, 2, 4] {
        let mut gz = ParallelGzip::new(
            Failing {
                written: 0,
                limit: 3 * CHUNK_SIZE,
            },
            6,
            threads,
        );
        let result = data
            .chunks(65_536)
            .try_for_each(|part| gz.write_all(part))
            .and_then(|()| gz.finish().map(|_| ()));
        let err = result.unwrap_err();
        assert!(err.to_string().contains("disk full"), "{threads}: {err}");
    }
}

#[test]
fn a_layer_of_one_chunk_starts_no_thread() {
    let data = text(CHUNK_SIZE + 1);
    let mut gz = ParallelGzip::new(Vec::new(), 6, 4);
    gz.write_all(data.get(..CHUNK_SIZE).unwrap()).unwrap();
    assert!(gz.pool.is_none(), "threads started for one chunk");
    gz.write_all(data.get(CHUNK_SIZE..).unwrap()).unwrap();
    assert_eq!(gz.pool.as_ref().map(|p| p.workers.len()), Some(4));
    assert!(gunzip_system(&gz.finish().unwrap()) == data);
    // One thread asked for: never a pool, whatever the size.
    let mut gz = ParallelGzip::new(Vec::new(), 6, 1);
    gz.write_all(&text(3 * CHUNK_SIZE)).unwrap();
    assert!(gz.pool.is_none());
}

#[test]
fn incompressible_chunks_are_stored_and_the_rest_still_deflated() {
    // Random, text, random, a short random tail: the random chunks go out as stored blocks
    // (exactly 5 bytes of header per 64 KiB block), the text chunk deflated.
    let mut data = random(2 * CHUNK_SIZE, 7);
    data.extend(text(CHUNK_SIZE));
    data.extend(random(CHUNK_SIZE, 8));
    data.extend(random(STORED_MIN_LEN - 1, 9));
    let gz = compress(2, &data);
    assert_eq!(gunzip_flate2(&gz), data);
    assert_eq!(gunzip_system(&gz), data);
    assert_eq!(gz, compress(1, &data), "the thread count changes nothing");

    let stored = |len: usize| len + len.div_ceil(STORED_BLOCK_MAX) * 5;
    let random_only = compress(2, &random(3 * CHUNK_SIZE, 7));
    assert_eq!(
        random_only.len(),
        10 + 3 * stored(CHUNK_SIZE) + 8,
        "three random chunks are three stored chunks, nothing else"
    );
    // The text chunk deflated as before: the stream is far below the input's size.
    assert!(gz.len() < data.len() - CHUNK_SIZE / 2, "{}", gz.len());
    assert!(entropy_bits(&text(CHUNK_SIZE)) < STORED_ENTROPY_BITS);
    assert!(entropy_bits(&random(CHUNK_SIZE, 3)) > STORED_ENTROPY_BITS);
    assert!(entropy_bits(&[]) == 0.0);
}

#[test]
fn a_random_chunk_with_a_repeat_in_the_window_is_deflated_not_stored() {
    // Random bytes, except that the second chunk repeats 2 KiB of the first chunk's tail (its
    // dictionary) and 2 KiB of its own: the repeat check sees both, and deflate finds them.
    let mut data = random(2 * CHUNK_SIZE, 11);
    let tail = data[CHUNK_SIZE - 4096..CHUNK_SIZE - 2048].to_vec();
    data[CHUNK_SIZE + 10_000..CHUNK_SIZE + 10_000 + 2048].copy_from_slice(&tail);
    let own = data[CHUNK_SIZE + 40_000..CHUNK_SIZE + 42_048].to_vec();
    data[CHUNK_SIZE + 60_000..CHUNK_SIZE + 62_048].copy_from_slice(&own);
    let (first, second) = data.split_at(CHUNK_SIZE);
    assert!(has_repeats(&first[CHUNK_SIZE - DICTIONARY_SIZE..], second));
    assert!(!has_repeats(&[], first), "random bytes have no repeats");
    let gz = compress(2, &data);
    assert_eq!(gunzip_flate2(&gz), data);
    let stored = |len: usize| len + len.div_ceil(STORED_BLOCK_MAX) * 5;
    assert!(
        gz.len() < 10 + 2 * stored(CHUNK_SIZE) + 8 - 3000,
        "the second chunk's repeats were deflated: {} bytes",
        gz.len()
    );
}
