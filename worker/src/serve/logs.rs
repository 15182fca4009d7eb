// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build logs of `worker serve`: the subscriber with the runner's [`CaptureLayer`] (which
//! copies every event emitted inside a build's span to that build's
//! [`LogSink`](super::LogSink)), and the forwarder that publishes those lines as `log`
//! events, batched, rate-limited and cut at 16 KiB so a chatty build cannot flood NATS (RUN
//! output is also clipped at 2 MiB per step before it gets here: `sandbox::output`).

use std::io::IsTerminal as _;
use std::time::Duration;

use kaniko_common::messages::{Event, EventKind};
use kaniko_common::platform::Platform;
use kaniko_nats::Bus;
use tokio::sync::mpsc;

use crate::runner::CaptureLayer;

/// How often buffered lines are published.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);
/// The most lines published per flush; more are counted and reported as dropped.
pub const MAX_LINES_PER_FLUSH: usize = 200;
/// The longest line published; a longer one (a huge instruction in a progress line) is cut
/// with a note. RUN output comes already cut at this size (`sandbox::output`).
pub const MAX_EVENT_LINE: usize = crate::sandbox::output::MAX_LINE;

/// `line` cut to [`MAX_EVENT_LINE`] bytes at a character boundary, saying how much was cut.
fn fit_line(mut line: String) -> String {
    if line.len() <= MAX_EVENT_LINE {
        return line;
    }
    let mut cut = MAX_EVENT_LINE - 64;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = line.len() - cut;
    line.truncate(cut);
    line.push_str(&format!("... ({dropped} bytes cut)"));
    line
}

/// Installs the `worker serve` subscriber: text lines on stderr filtered by `RUST_LOG`
/// (default `info`; colour only on a terminal; progress lines as their message), plus the
/// build log capture.
pub fn install_subscriber() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .event_format(crate::progress::TextLines {
                    format: tracing_subscriber::fmt::format(),
                    time: true,
                }),
        )
        .with(CaptureLayer)
        .try_init();
    if result.is_err() {
        tracing::debug!("a tracing subscriber was already installed");
    }
}

/// Publishes the lines of one build as `log` events until the sink's senders are gone:
/// every [`FLUSH_INTERVAL`], at most [`MAX_LINES_PER_FLUSH`] lines of at most
/// [`MAX_EVENT_LINE`] bytes, and a line saying how many were dropped when there were more.
pub async fn forward(
    bus: Bus,
    build_id: String,
    platform: Platform,
    mut lines: mpsc::UnboundedReceiver<String>,
) {
    let mut buffer: Vec<String> = Vec::new();
    let mut dropped = 0usize;
    let mut open = true;
    while open {
        let deadline = tokio::time::sleep(FLUSH_INTERVAL);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                line = lines.recv() => match line {
                    Some(line) if buffer.len() < MAX_LINES_PER_FLUSH => buffer.push(fit_line(line)),
                    Some(_) => dropped += 1,
                    None => { open = false; break; }
                },
                _ = &mut deadline => break,
            }
        }
        if dropped > 0 {
            buffer.push(format!("... {dropped} log lines dropped (rate limit)"));
            dropped = 0;
        }
        for line in buffer.drain(..) {
            let event = Event {
                build_id: build_id.clone(),
                at_unix_ms: super::now_ms(),
                kind: EventKind::Log {
                    platform: platform.clone(),
                    line,
                },
            };
            if let Err(err) = bus.publish_event(&event).await {
                tracing::warn!(build_id = %build_id, error = %err, "publishing a log line");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_before_they_reach_the_bus() {
        fn check(line: String, len: usize, tail: &str) {
            let got = fit_line(line);
            assert_eq!(got.len(), len);
            assert!(
                got.ends_with(tail),
                "{}",
                &got[got.len().saturating_sub(40)..]
            );
        }
        check("short".into(), 5, "short");
        check("x".repeat(MAX_EVENT_LINE), MAX_EVENT_LINE, "x");
        let cut = MAX_EVENT_LINE - 64;
        check(
            "x".repeat(100_000),
            cut + "... (83680 bytes cut)".len(),
            "... (83680 bytes cut)",
        );
        // A character across the cut is kept whole or not at all.
        let mut line = "a".repeat(cut - 1);
        line.push_str(&"é".repeat(10_000));
        let got = fit_line(line);
        assert!(
            got.starts_with(&"a".repeat(cut - 1)) && got.contains("... ("),
            "{}",
            got.len()
        );
    }
}
