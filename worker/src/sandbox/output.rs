// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A RUN command's output, bounded: its stdout and stderr are read in fixed-size pieces and
//! handed to the build log line by line, whatever the command prints.
//!
//! * A line longer than [`MAX_LINE`] is cut into pieces of at most that size (at a UTF-8
//!   character boundary), each logged as a line of its own, as Docker's log drivers cut
//!   long lines: nothing is lost up to the step's limit, and no line is ever held whole.
//! * One step logs at most [`MAX_STEP_OUTPUT`] bytes, stdout and stderr together (BuildKit's
//!   default per-step log limit); past it, one line says `[output clipped, log limit 2 MiB
//!   reached]` and the rest is read and dropped, so the command never blocks on a full pipe
//!   and the build goes on. The limit applies to everything the log reaches: the terminal,
//!   JSON logs and a fleet's NATS `log` events.
//!
//! Memory per stream is one read buffer and one line buffer, whatever the output.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest line logged; longer ones are cut into pieces of this size.
pub const MAX_LINE: usize = 16 * 1024;
/// Most output bytes (newlines included) one RUN step logs, stdout and stderr together.
pub const MAX_STEP_OUTPUT: u64 = 2 * 1024 * 1024;
/// The line logged once when a step's output passes [`MAX_STEP_OUTPUT`] (BuildKit's words).
pub const CLIPPED: &str = "[output clipped, log limit 2 MiB reached]";
/// Bytes read from the pipe at a time.
const READ_SIZE: usize = 64 * 1024;

/// What is left of a step's output budget, shared by its stdout and stderr.
#[derive(Debug)]
pub struct Budget {
    left: AtomicU64,
    clipped: AtomicBool,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget {
            left: AtomicU64::new(limit),
            clipped: AtomicBool::new(false),
        })
    }

    /// Takes `n` bytes: true when they fit in what is left.
    fn take(&self, n: u64) -> bool {
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    /// True the first time only: the caller logs [`CLIPPED`].
    fn clip(&self) -> bool {
        !self.clipped.swap(true, Ordering::SeqCst)
    }

    fn is_clipped(&self) -> bool {
        self.clipped.load(Ordering::SeqCst)
    }
}

/// Splits a byte stream into log lines of at most [`MAX_LINE`] bytes, within a [`Budget`].
/// Pure: [`Lines::push`] and [`Lines::finish`] hand each line to a callback.
pub struct Lines {
    line: Vec<u8>,
    budget: Arc<Budget>,
}

impl Lines {
    /// An empty line buffer drawing on `budget`.
    pub fn new(budget: Arc<Budget>) -> Lines {
        Lines {
            line: Vec::with_capacity(MAX_LINE),
            budget,
        }
    }

    /// Takes in `bytes`; `log` gets every line completed (or cut) by them.
    pub fn push(&mut self, mut bytes: &[u8], log: &mut impl FnMut(&str)) {
        while !bytes.is_empty() {
            if self.budget.is_clipped() {
                return;
            }
            let room = MAX_LINE - self.line.len();
            let window = bytes.get(..room.min(bytes.len())).unwrap_or(bytes);
            match window.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    self.line
                        .extend_from_slice(window.get(..end).unwrap_or(window));
                    bytes = bytes.get(end + 1..).unwrap_or_default();
                    self.emit(self.line.len(), true, log);
                }
                None => {
                    self.line.extend_from_slice(window);
                    bytes = bytes.get(window.len()..).unwrap_or_default();
                    if self.line.len() >= MAX_LINE {
                        self.emit(cut_at_char_boundary(&self.line), false, log);
                    }
                }
            }
        }
    }

    /// The end of the stream: a last line without a newline is logged.
    pub fn finish(&mut self, log: &mut impl FnMut(&str)) {
        if !self.line.is_empty() && !self.budget.is_clipped() {
            self.emit(self.line.len(), false, log);
        }
    }

    /// Logs the first `len` bytes of the buffer (the whole line when `newline`) and keeps
    /// the rest for the next line.
    fn emit(&mut self, len: usize, newline: bool, log: &mut impl FnMut(&str)) {
        let cost = len as u64 + u64::from(newline);
        let piece = self.line.get(..len).unwrap_or(&self.line);
        if self.budget.take(cost) {
            let text = String::from_utf8_lossy(piece);
            log(text.strip_suffix('\r').unwrap_or(&text));
        } else if self.budget.clip() {
            log(CLIPPED);
        }
        self.line.drain(..len);
    }
}

/// Where to cut a full line buffer: its end, or the start of its last character when that
/// character is not complete yet (a UTF-8 character is never split between two lines).
fn cut_at_char_boundary(line: &[u8]) -> usize {
    let len = line.len();
    for back in 1..=len.min(4) {
        let Some(&byte) = line.get(len - back) else {
            break;
        };
        if byte & 0xC0 != 0x80 {
            let width = match byte {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            };
            return if width > back { len - back } else { len };
        }
    }
    len
}

/// Reads `reader` to its end, logging its lines through `log` within `budget`; past the
/// budget everything is read and dropped.
pub async fn pump<R, F>(mut reader: R, budget: Arc<Budget>, log: Arc<F>)
where
    R: AsyncRead + Unpin,
    F: Fn(&str) + ?Sized,
{
    let mut lines = Lines::new(budget);
    let mut buf = vec![0u8; READ_SIZE];
    let mut log = |line: &str| log(line);
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => lines.push(buf.get(..n).unwrap_or_default(), &mut log),
        }
    }
    lines.finish(&mut log);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines `chunks` (pushed one after another) give under a budget of `limit`.
    fn lines_of(chunks: &[&[u8]], limit: u64) -> Vec<String> {
        let mut out = Vec::new();
        let mut lines = Lines::new(Budget::new(limit));
        let mut log = |line: &str| out.push(line.to_string());
        for chunk in chunks {
            lines.push(chunk, &mut log);
        }
        lines.finish(&mut log);
        out
    }

    #[test]
    fn lines_are_split_at_newlines_whatever_the_chunks() {
        fn check(chunks: &[&[u8]], expected: &[&str]) {
            assert_eq!(lines_of(chunks, MAX_STEP_OUTPUT), expected, "{chunks:?}");
        }
        check(&[b"a\nb\n"], &["a", "b"]);
        check(&[b"a", b"b\nc"], &["ab", "c"]);
        check(&[b"crlf\r\n", b"\n"], &["crlf", ""]);
        check(&[b"no newline"], &["no newline"]);
        check(&[], &[]);
        check(&[b"\xff\xfe\n"], &["\u{fffd}\u{fffd}"]);
    }

    #[test]
    fn long_lines_are_cut_into_pieces_and_nothing_is_lost() {
        let long = vec![b'x'; 2 * MAX_LINE + 10];
        let mut input = long.clone();
        input.extend_from_slice(b"\nafter\n");
        let got = lines_of(&[&input], MAX_STEP_OUTPUT);
        let lengths: Vec<usize> = got.iter().map(String::len).collect();
        assert_eq!(lengths, [MAX_LINE, MAX_LINE, 10, 5]);
        assert_eq!(got.last().map(String::as_str), Some("after"));
        // Fed a byte at a time, the same lines.
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(lines_of(&bytes, MAX_STEP_OUTPUT), got);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // 'é' is two bytes; placed across the cut, the piece ends before it.
        let mut input = vec![b'a'; MAX_LINE - 1];
        input.extend_from_slice("é".as_bytes());
        input.extend_from_slice(b"z\n");
        let got = lines_of(&[&input], MAX_STEP_OUTPUT);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE - 1);
        assert_eq!(got[1], "éz");
    }

    #[test]
    fn past_the_budget_one_line_says_clipped_and_the_rest_is_dropped() {
        fn check(input: &[u8], limit: u64, expected: &[&str]) {
            assert_eq!(lines_of(&[input], limit), expected, "{limit}");
        }
        check(b"ab\ncd\nef\n", 6, &["ab", "cd", CLIPPED]);
        check(b"ab\ncd\nef\n", 9, &["ab", "cd", "ef"]);
        check(b"ab\ncd\nef", 8, &["ab", "cd", "ef"]);
        check(b"abcdef\nx\n", 3, &[CLIPPED]);
        check(b"", 0, &[]);
    }

    #[test]
    fn stdout_and_stderr_share_the_budget_and_clip_once() {
        let budget = Budget::new(4);
        let mut out = Vec::new();
        let mut log = |line: &str| out.push(line.to_string());
        let mut stdout = Lines::new(Arc::clone(&budget));
        let mut stderr = Lines::new(Arc::clone(&budget));
        stdout.push(b"ab\n", &mut log);
        stderr.push(b"cd\n", &mut log);
        stdout.push(b"e\n", &mut log);
        stderr.push(b"f\n", &mut log);
        assert_eq!(out, ["ab", CLIPPED]);
    }

    #[tokio::test]
    async fn a_pump_reads_to_the_end_past_the_budget() {
        let input = vec![b'y'; 8 * MAX_LINE];
        let (mut writer, reader) = tokio::io::duplex(1024);
        let writing = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            writer.write_all(&input).await.map(|()| input.len())
        });
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&got);
        let log = Arc::new(move |line: &str| {
            if let Ok(mut lines) = sink.lock() {
                lines.push(line.len());
            }
        });
        pump(reader, Budget::new(3 * MAX_LINE as u64), log).await;
        // Everything was read (the writer was never blocked), three pieces were logged.
        assert_eq!(writing.await.unwrap().unwrap(), 8 * MAX_LINE);
        let got = got.lock().unwrap().clone();
        assert_eq!(got, [MAX_LINE, MAX_LINE, MAX_LINE, CLIPPED.len()]);
    }
}
