// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Parallel gzip, as pigz does it: the uncompressed stream is cut into fixed
//! [`CHUNK_SIZE`] chunks, each compressed on a worker thread as raw deflate primed with the
//! previous chunk's last 32 KiB (the deflate window) and ended with a sync flush (the last
//! chunk with the final block), and the pieces are written in order as ONE gzip member:
//! header, the deflate data, the CRC-32 of all input (per-chunk CRCs combined) and ISIZE.
//!
//! The output depends only on the input and the level, never on the thread count or timing:
//! chunk boundaries are fixed and each chunk's deflate data depends only on its bytes and its
//! dictionary. Memory is bounded: at most `2 × threads` chunks are in flight, and the writer
//! blocks on the oldest before sending another; finished chunks stream to the sink in order.
//! A stream of at most one chunk, or a writer given a single thread, never starts a thread.
//!
//! A chunk that deflate cannot shrink — already compressed or encrypted bytes, whose byte
//! histogram is nearly flat (order-0 entropy above [`STORED_ENTROPY_BITS`] bits per byte) —
//! and with no repeats (below) is written as stored blocks instead of deflated: deflating it
//! costs ~50× the time of copying it and saves under 1%. The entropy bounds what Huffman coding
//! can save; what is left to deflate is LZ matches, repeats within the 32 KiB window. Those
//! are found by content-defined sampling: a gear hash over the dictionary and the chunk picks
//! about one position in [`ANCHOR_SPACING`] by its preceding bytes, so both copies of a
//! repeated run pick the same positions with the same hash; any anchor hash seen twice means
//! the chunk is deflated as usual. The choice depends only on the bytes, so the output still
//! depends only on the input and the level.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Crc, FlushCompress, Status};

/// Size of the chunks compressed independently (pigz's default block size).
pub const CHUNK_SIZE: usize = 128 * 1024;
/// The deflate window: how much of the previous chunk primes the next one.
const DICTIONARY_SIZE: usize = 32 * 1024;
/// Chunks whose byte histogram has at least this many bits of entropy per byte (of 8) are
/// stored, not deflated; see the module documentation.
const STORED_ENTROPY_BITS: f64 = 7.95;
/// Chunks shorter than this are always deflated: their histogram says too little.
const STORED_MIN_LEN: usize = 16 * 1024;
/// One position in about this many is an anchor of the repeat check (a power of two).
const ANCHOR_SPACING: u64 = 64;
/// The most bytes one stored deflate block holds.
const STORED_BLOCK_MAX: usize = 65_535;
/// Chunks in flight per worker thread.
const IN_FLIGHT_PER_THREAD: usize = 2;

/// One chunk to compress, and where its result goes.
struct Job {
    work: Work,
    reply: SyncSender<io::Result<Work>>,
}

/// A chunk's buffers: the input, the dictionary it is primed with, and (once compressed) its
/// deflate data and CRC. Handed to a worker and back, so the buffers are reused.
struct Work {
    input: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
    output: Vec<u8>,
    crc: Crc,
}

/// A gzip writer compressing chunks on worker threads; see the module documentation.
pub(crate) struct ParallelGzip<W: Write> {
    sink: W,
    level: flate2::Compression,
    threads: usize,
    /// The chunk being filled (capacity [`CHUNK_SIZE`]).
    chunk: Vec<u8>,
    /// The last [`DICTIONARY_SIZE`] bytes of the previous chunk.
    dictionary: Vec<u8>,
    /// Results of chunks sent to the pool, oldest first.
    pending: VecDeque<Receiver<io::Result<Work>>>,
    /// Started at the first full chunk when `threads > 1`.
    pool: Option<Pool>,
    /// The compressor used on this thread when there is no pool.
    local: Option<Compress>,
    /// Buffers back from finished chunks.
    spare: Vec<Work>,
    crc: Crc,
    header_written: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// A gzip writer into `sink` at `level` (0-9) using up to `threads` workers.
    pub(crate) fn new(sink: W, level: u32, threads: usize) -> Self {
        ParallelGzip {
            sink,
            level: flate2::Compression::new(level.min(9)),
            threads: threads.max(1),
            chunk: Vec::with_capacity(CHUNK_SIZE),
            dictionary: Vec::new(),
            pending: VecDeque::new(),
            pool: None,
            local: None,
            spare: Vec::new(),
            crc: Crc::new(),
            header_written: false,
        }
    }

    /// The gzip header flate2's `GzBuilder::new()` writes: no name, mtime 0, XFL from the
    /// level, OS 255 ("unknown"), so the header never varies.
    fn header(&self) -> [u8; 10] {
        let level = self.level.level();
        let xfl = if level >= 9 {
            2
        } else if level <= 1 {
            4
        } else {
            0
        };
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
    }

    /// Writes a compressed chunk (after the header, the first time) and keeps its buffers.
    fn emit(&mut self, work: Work) -> io::Result<()> {
        if !self.header_written {
            let header = self.header();
            self.sink.write_all(&header)?;
            self.header_written = true;
        }
        self.sink.write_all(&work.output)?;
        self.crc.combine(&work.crc);
        self.spare.push(work);
        Ok(())
    }

    /// Writes the oldest pending chunk, waiting for it.
    fn emit_oldest(&mut self) -> io::Result<()> {
        if let Some(reply) = self.pending.pop_front() {
            let work = reply
                .recv()
                .map_err(|_| io::Error::other("gzip worker thread stopped"))??;
            self.emit(work)?;
        }
        Ok(())
    }

    /// Writes the pending chunks that are already compressed, in order, without waiting.
    fn emit_ready(&mut self) -> io::Result<()> {
        while let Some(reply) = self.pending.front() {
            match reply.try_recv() {
                Ok(result) => {
                    self.pending.pop_front();
                    self.emit(result?)?;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(io::Error::other("gzip worker thread stopped"));
                }
            }
        }
        Ok(())
    }

    /// Compresses the current chunk (the final one when `last`), on the pool when there is
    /// one or this is not the last chunk of a multi-threaded writer, otherwise here.
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let mut work = self.spare.pop().unwrap_or_else(|| Work {
            input: Vec::with_capacity(CHUNK_SIZE),
            dictionary: Vec::with_capacity(DICTIONARY_SIZE),
            last: false,
            output: Vec::new(),
            crc: Crc::new(),
        });
        std::mem::swap(&mut work.input, &mut self.chunk);
        self.chunk.clear();
        std::mem::swap(&mut work.dictionary, &mut self.dictionary);
        self.dictionary.clear();
        let tail = work.input.len().saturating_sub(DICTIONARY_SIZE);
        self.dictionary
            .extend_from_slice(work.input.get(tail..).unwrap_or_default());
        work.last = last;

        if self.pool.is_none() && !last && self.threads > 1 {
            self.pool = Pool::start(self.threads, self.level);
            if self.pool.is_none() {
                self.threads = 1;
            }
        }
        if self.pool.is_some() {
            while self.pending.len() >= self.threads * IN_FLIGHT_PER_THREAD {
                self.emit_oldest()?;
            }
        }
        match &self.pool {
            Some(pool) => {
                let (reply, result) = mpsc::sync_channel(1);
                pool.send(Job { work, reply })?;
                self.pending.push_back(result);
                self.emit_ready()
            }
            None => {
                let level = self.level;
                let compress = self
                    .local
                    .get_or_insert_with(|| Compress::new(level, false));
                compress_chunk(compress, &mut work)?;
                self.emit(work)
            }
        }
    }

    /// Compresses what is left, writes the trailer and returns the sink.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.pending.is_empty() {
            self.emit_oldest()?;
        }
        let mut trailer = [0u8; 8];
        let (crc, size) = trailer.split_at_mut(4);
        crc.copy_from_slice(&self.crc.sum().to_le_bytes());
        size.copy_from_slice(&self.crc.amount().to_le_bytes());
        self.sink.write_all(&trailer)?;
        // Stops the workers before the sink is handed back.
        drop(self.pool.take());
        Ok(self.sink)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // A full chunk goes out only once more data follows, so a stream of at most one chunk
        // is compressed here, in one piece, without starting a thread.
        if self.chunk.len() >= CHUNK_SIZE {
            self.dispatch(false)?;
        }
        let room = CHUNK_SIZE.saturating_sub(self.chunk.len());
        let take = buf.len().min(room);
        self.chunk
            .extend_from_slice(buf.get(..take).unwrap_or_default());
        Ok(take)
    }

    /// Writes every chunk already handed to the workers and flushes the sink. The partly
    /// filled chunk stays until it is full or the stream finishes, so flushing never changes
    /// the output.
    fn flush(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            self.emit_oldest()?;
        }
        self.sink.flush()
    }
}

/// Compresses `work.input` into `work.output` as raw deflate primed with `work.dictionary`,
/// ending with a sync flush (or the final block when `work.last`), and computes its CRC.
fn compress_chunk(compress: &mut Compress, work: &mut Work) -> io::Result<()> {
    work.crc.reset();
    work.crc.update(&work.input);
    if work.input.len() >= STORED_MIN_LEN
        && entropy_bits(&work.input) >= STORED_ENTROPY_BITS
        && !has_repeats(&work.dictionary, &work.input)
    {
        store_chunk(work);
        return Ok(());
    }
    let failed = |e: flate2::CompressError| io::Error::other(format!("gzip chunk: {e}"));
    compress.reset();
    if !work.dictionary.is_empty() {
        compress.set_dictionary(&work.dictionary).map_err(failed)?;
    }
    let flush = if work.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let input = work.input.as_slice();
    work.output.clear();
    work.output
        .reserve(input.len() + input.len() / 16 + DICTIONARY_SIZE / 64 + 64);
    loop {
        let consumed = usize::try_from(compress.total_in()).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        let before = (compress.total_in(), compress.total_out());
        let status = compress
            .compress_vec(rest, &mut work.output, flush)
            .map_err(failed)?;
        let all_in = compress.total_in() == input.len() as u64;
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            // A sync flush is complete when all input went in and the output had room left.
            _ => all_in && work.output.len() < work.output.capacity(),
        };
        if done {
            break;
        }
        let progressed = before != (compress.total_in(), compress.total_out());
        if !progressed && work.output.len() < work.output.capacity() {
            return Err(io::Error::other("gzip chunk: deflate made no progress"));
        }
        work.output.reserve(CHUNK_SIZE / 4);
    }
    Ok(())
}

/// The order-0 (byte histogram) entropy of `bytes`, in bits per byte (0 to 8).
fn entropy_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &byte in bytes {
        if let Some(count) = counts.get_mut(usize::from(byte)) {
            *count = count.saturating_add(1);
        }
    }
    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = f64::from(count) / total;
            -p * p.log2()
        })
        .sum()
}

/// Whether a run of bytes in `input` repeats one earlier in `dictionary` or `input`, judged by
/// content-defined anchors (see the module documentation): a run of a few hundred bytes or
/// more that occurs twice is all but certain to put the same anchor hash in both places;
/// random bytes repeat an anchor hash with odds of about 2⁻⁵⁰.
fn has_repeats(dictionary: &[u8], input: &[u8]) -> bool {
    let mask = ANCHOR_SPACING - 1;
    let mut hash = 0u64;
    let mut anchors = Vec::with_capacity((dictionary.len() + input.len()) / 32);
    for (i, &byte) in dictionary.iter().chain(input).enumerate() {
        hash = (hash << 1).wrapping_add(GEAR[usize::from(byte)]);
        // The hash depends on the last 64 bytes only once 64 have gone in.
        if i >= 64 && hash & mask == 0 {
            anchors.push(hash);
        }
    }
    anchors.sort_unstable();
    anchors.windows(2).any(|pair| pair.first() == pair.last())
}

/// The gear hash's table: one fixed pseudo-random 64-bit value per byte (splitmix64).
static GEAR: [u64; 256] = gear_table();

const fn gear_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
}

/// Writes `work.input` as stored (uncompressed) deflate blocks: each a byte-aligned header
/// (BFINAL on the stream's last block, BTYPE 00), LEN and its one's complement, and the bytes.
/// Every block ends on a byte boundary, so the next chunk follows as after a sync flush.
fn store_chunk(work: &mut Work) {
    let input = work.input.as_slice();
    work.output.clear();
    work.output
        .reserve(input.len() + (input.len() / STORED_BLOCK_MAX + 1) * 5);
    let blocks = input.chunks(STORED_BLOCK_MAX);
    let count = blocks.len();
    for (i, block) in blocks.enumerate() {
        let last = work.last && i + 1 == count;
        // At most STORED_BLOCK_MAX bytes, so the length fits.
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        work.output.push(u8::from(last));
        work.output.extend_from_slice(&len.to_le_bytes());
        work.output.extend_from_slice(&(!len).to_le_bytes());
        work.output.extend_from_slice(block);
    }
}

/// The worker threads: each takes the next job, compresses it with its own compressor and
/// sends the result back on the job's channel.
struct Pool {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Up to `threads` workers; `None` when not even one thread could be started (the
    /// writer then compresses on its own thread).
    fn start(threads: usize, level: flate2::Compression) -> Option<Pool> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("gzip-{i}"))
                .spawn(move || work_loop(&queue, level));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(err) => {
                    tracing::warn!("starting a gzip worker thread: {err}");
                    break;
                }
            }
        }
        (!workers.is_empty()).then(|| Pool {
            jobs: Some(jobs),
            workers,
        })
    }

    fn send(&self, job: Job) -> io::Result<()> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| io::Error::other("gzip worker threads stopped"))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends every worker once it is empty.
        self.jobs.take();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work_loop(queue: &Mutex<Receiver<Job>>, level: flate2::Compression) {
    let mut compress = Compress::new(level, false);
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(Job { mut work, reply }) = job else {
            return;
        };
        let result = compress_chunk(&mut compress, &mut work).map(|()| work);
        // The writer may have gone (dropped after an error); nothing to do then.
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests;
