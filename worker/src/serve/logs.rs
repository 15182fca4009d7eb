// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build logs of `worker serve`: a tracing layer that copies every event emitted inside a
//! build's span (`kaniko_task = <key>`) to that build's [`LogSink`](super::LogSink), and the
//! forwarder that publishes those lines as `log` events, batched, rate-limited and cut at
//! 16 KiB so a chatty build cannot flood NATS (RUN output is also clipped at 2 MiB per step
//! before it gets here: `sandbox::output`).

use std::fmt::Write as _;
use std::time::Duration;

use kaniko_common::messages::{Event, EventKind};
use kaniko_common::platform::Platform;
use kaniko_nats::Bus;
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

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

/// The key of the build a span belongs to.
struct TaskKey(u64);

#[derive(Default)]
struct KeyVisitor(Option<u64>);

impl Visit for KeyVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "kaniko_task" {
            self.0 = Some(value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "kaniko_task" {
            self.0 = u64::try_from(value).ok();
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// Formats an event as `message key=value ...`.
#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

/// The layer that copies build events to their sinks. Installed by the `worker` binary.
#[derive(Debug, Default, Clone, Copy)]
pub struct CaptureLayer;

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = KeyVisitor::default();
        attrs.record(&mut visitor);
        if let (Some(key), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(TaskKey(key));
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        let Some(mut scope) = ctx.event_scope(event) else {
            return;
        };
        // The innermost build span decides.
        let key = scope.find_map(|span| span.extensions().get::<TaskKey>().map(|k| k.0));
        let Some(key) = key else {
            return;
        };
        let sink = match crate::runner::sinks().lock() {
            Ok(sinks) => sinks.get(&key).cloned(),
            Err(_) => None,
        };
        if let Some(sink) = sink {
            let mut line = LineVisitor::default();
            event.record(&mut line);
            sink.line(format!("{}{}", line.message, line.fields));
        }
    }
}

/// Installs the `worker serve` subscriber: text lines on stderr filtered by `RUST_LOG`
/// (default `info`), plus the build log capture.
pub fn install_subscriber() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
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
    use crate::serve::LogSink;
    use tracing_subscriber::prelude::*;

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

    #[test]
    fn events_inside_a_build_span_reach_its_sink_and_nothing_else_does() {
        let (sink, mut lines) = LogSink::new();
        let key = 424_242u64;
        if let Ok(mut sinks) = crate::runner::sinks().lock() {
            sinks.insert(key, sink);
        }
        let subscriber = tracing_subscriber::registry().with(CaptureLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before the build");
            let span = tracing::info_span!("build", kaniko_task = key);
            let _entered = span.enter();
            tracing::info!(step = 3, "[3/9] COPY src/ /app/");
            let inner = tracing::debug_span!("layer");
            inner.in_scope(|| tracing::info!("nested"));
            let other = tracing::info_span!("build", kaniko_task = key + 1);
            other.in_scope(|| tracing::info!("another build's line"));
        });
        if let Ok(mut sinks) = crate::runner::sinks().lock() {
            sinks.remove(&key);
        }
        let mut got = Vec::new();
        while let Ok(line) = lines.try_recv() {
            got.push(line);
        }
        assert_eq!(got, vec!["[3/9] COPY src/ /app/ step=3", "nested"]);
    }
}
