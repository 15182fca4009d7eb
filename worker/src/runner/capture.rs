// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Log capture for the runner: a tracing layer that copies every event emitted inside a
//! build's span (`kaniko_task = <key>`) to the [`LogSink`](super::LogSink) registered under
//! that key (see [`super::sinks`]), as one `message key=value ...` line (a progress line as
//! its message alone). `worker serve`
//! installs it in its subscriber; [`super::Runner::run_captured`] under one of its own.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

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
        let sink = match super::sinks().lock() {
            Ok(sinks) => sinks.get(&key).cloned(),
            Err(_) => None,
        };
        if let Some(sink) = sink {
            let mut line = LineVisitor::default();
            event.record(&mut line);
            // A progress line's message already says what its fields do.
            if crate::progress::is_progress(event) {
                sink.line(line.message);
            } else {
                sink.line(format!("{}{}", line.message, line.fields));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::LogSink;
    use tracing_subscriber::prelude::*;

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
            tracing::info!(target: crate::progress::TARGET, step = 4, "[4/9] RUN make");
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
        assert_eq!(
            got,
            vec!["[3/9] COPY src/ /app/ step=3", "[4/9] RUN make", "nested"]
        );
    }
}
