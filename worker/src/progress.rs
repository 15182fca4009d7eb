// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build output a user can follow: a header per stage and one line per instruction,
//! `[3/9] COPY src/ /app/` when it starts and `[3/9] COPY src/ /app/: 0.12s, layer 1.2 KiB`
//! when it is done. Every line is a `tracing` event at info level with target [`TARGET`]
//! whose fields (`step`, `instruction`, `duration_ms`, `layer_size`) the JSON log format
//! prints once, in one object per line; the text format ([`TextLines`]) and the build log a
//! `worker serve` forwards print the message alone, which already says all of it. Colour
//! only on a terminal. The binary installs the subscriber.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogFormat, LogOptions};

/// Installs the process's tracing subscriber for `worker build`: `--verbosity` as the level
/// (`RUST_LOG` wins when set), `--log-format text|color` as lines on stderr, `json` as one
/// JSON object per line with the events' fields. A second call does nothing.
pub fn install_subscriber(log: &LogOptions) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(log.verbosity.filter()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let ansi = log.format == LogFormat::Color && std::io::stderr().is_terminal();
    let result = match (log.format, log.timestamp) {
        (LogFormat::Json, _) => builder.json().flatten_event(true).try_init(),
        (_, true) => {
            let format = tracing_subscriber::fmt::format().with_target(false);
            builder
                .with_ansi(ansi)
                .event_format(TextLines { format, time: true })
                .try_init()
        }
        (_, false) => {
            let format = tracing_subscriber::fmt::format()
                .with_target(false)
                .without_time();
            builder
                .with_ansi(ansi)
                .event_format(TextLines {
                    format,
                    time: false,
                })
                .try_init()
        }
    };
    if result.is_err() {
        tracing::debug!("a tracing subscriber was already installed");
    }
}

/// The target of the progress lines (this module's path, given explicitly so that the
/// formatters below can tell them apart).
pub const TARGET: &str = module_path!();

/// Whether `event` is a progress line, whose message says everything its fields do.
pub fn is_progress(event: &Event<'_>) -> bool {
    event.metadata().target() == TARGET
}

/// The text log format: progress lines as their message alone after the level (and the time
/// when `time`), every other event as `F` writes it.
pub struct TextLines<F> {
    /// The format of every other event.
    pub format: F,
    /// Whether lines start with the time.
    pub time: bool,
}

impl<S, N, F> FormatEvent<S, N> for TextLines<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if !is_progress(event) {
            return self.format.format_event(ctx, writer, event);
        }
        let mut message = Message::default();
        event.record(&mut message);
        if self.time {
            use tracing_subscriber::fmt::time::FormatTime as _;
            tracing_subscriber::fmt::time::SystemTime.format_time(&mut writer)?;
            writer.write_char(' ')?;
        }
        if writer.has_ansi_escapes() {
            writeln!(writer, "\x1b[32m INFO\x1b[0m {}", message.0)
        } else {
            writeln!(writer, " INFO {}", message.0)
        }
    }
}

/// The `message` field of an event.
#[derive(Default)]
pub struct Message(pub String);

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write as _;
            let _ = write!(self.0, "{value:?}");
        }
    }
}

/// Counts the steps of a build (every `FROM` and every instruction of the stages built) and
/// reports each.
#[derive(Debug, Clone)]
pub struct Progress {
    total: usize,
    done: usize,
}

/// A step that has started.
#[derive(Debug)]
pub struct Step {
    number: usize,
    total: usize,
    instruction: String,
    started: Instant,
}

impl Progress {
    /// A build of `total` steps.
    pub fn new(total: usize) -> Progress {
        Progress { total, done: 0 }
    }

    /// Reports the start of stage `index` (named `name`) on `base`, for `platform`.
    pub fn stage(&self, index: usize, name: Option<&str>, base: &str, platform: &str) {
        let label = match name {
            Some(name) => format!("stage {index} ({name})"),
            None => format!("stage {index}"),
        };
        tracing::info!(
            target: TARGET,
            stage = index,
            stage_name = name.unwrap_or_default(),
            base,
            platform,
            "{label}: FROM {base} for {platform}"
        );
    }

    /// Starts the next step, logging its instruction.
    pub fn start(&mut self, instruction: &str) -> Step {
        self.done += 1;
        let step = Step {
            number: self.done,
            total: self.total.max(self.done),
            instruction: instruction.to_string(),
            started: Instant::now(),
        };
        tracing::info!(
            target: TARGET,
            step = %format!("{}/{}", step.number, step.total),
            instruction,
            "[{}/{}] {instruction}",
            step.number,
            step.total
        );
        step
    }
}

impl Step {
    /// Reports the end of the step and the size of the layer it wrote, if any.
    pub fn finish(self, layer_size: Option<u64>) {
        let elapsed = self.started.elapsed();
        tracing::info!(
            target: TARGET,
            step = %format!("{}/{}", self.number, self.total),
            instruction = %self.instruction,
            duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            layer_size = layer_size.unwrap_or(0),
            "{}",
            done_line(self.number, self.total, &self.instruction, elapsed, layer_size)
        );
    }
}

/// The text of a finished step: `[3/9] COPY src/ /app/: 0.12s, layer 1.2 KiB` (`no layer`
/// for metadata-only instructions).
pub fn done_line(
    number: usize,
    total: usize,
    instruction: &str,
    elapsed: Duration,
    layer_size: Option<u64>,
) -> String {
    let layer = match layer_size {
        Some(size) => format!("layer {}", human_size(size)),
        None => "no layer".to_string(),
    };
    format!(
        "[{number}/{total}] {instruction}: {:.2}s, {layer}",
        elapsed.as_secs_f64()
    )
}

/// A byte count for people: `512 B`, `1.2 KiB`, `3.4 MiB`, `1.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in UNITS.iter().skip(1) {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let check = |bytes: u64, expected: &str| assert_eq!(human_size(bytes), expected);
        check(0, "0 B");
        check(1023, "1023 B");
        check(1024, "1.0 KiB");
        check(1229, "1.2 KiB");
        check(5 * 1024 * 1024, "5.0 MiB");
        check(1 << 30, "1.0 GiB");
        check(u64::MAX, "16777216.0 TiB");
    }

    #[test]
    fn lines() {
        let check = |size: Option<u64>, ms: u64, expected: &str| {
            assert_eq!(
                done_line(3, 9, "COPY src/ /app/", Duration::from_millis(ms), size),
                expected
            );
        };
        check(
            Some(1229),
            120,
            "[3/9] COPY src/ /app/: 0.12s, layer 1.2 KiB",
        );
        check(None, 0, "[3/9] COPY src/ /app/: 0.00s, no layer");
    }

    #[test]
    fn steps_count_up_and_total_grows_with_triggers() {
        let mut progress = Progress::new(1);
        let first = progress.start("FROM scratch");
        assert_eq!((first.number, first.total), (1, 1));
        // An ONBUILD trigger adds a step the plan did not count.
        let second = progress.start("COPY . /app");
        assert_eq!((second.number, second.total), (2, 2));
    }
}
