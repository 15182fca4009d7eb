// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `local` driver: the coordinator and a worker in the same process, no NATS (the
//! embedded default of `coordinator submit`). The host's platform is built natively; another
//! platform only when the Dockerfile is cross-safe for it (no RUN would execute on it, the
//! parser's query), otherwise the build is refused before anything is built or pushed, naming
//! the platform. Each platform is built by the worker library exactly as `worker serve` builds
//! a task ([`Runner`]: per-platform images pushed by digest only, transient failures retried
//! with the worker's backoff a bounded number of times, as `worker serve` retries), each task
//! is the fleet's ([`policy::task::task_for`]), the failure policy is the fleet's
//! ([`BuildRecord::verdict`]), and the index is published by the one publishing path
//! ([`publish`]). Progress and log lines come out as the same [`Event`]s the fleet publishes, so
//! `coordinator submit` shows and summarises both drivers alike.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::join_all;
use kaniko_common::dockerfile::{BuildArgs, Dockerfile};
use kaniko_common::messages::{
    BuildRequest, Event, EventKind, Task, TaskOutcome, TaskResult, WireError,
};
use kaniko_common::platform::Platform;
use kaniko_registry::RegistryOptions;
use kaniko_worker::context_files::{DockerfilePath, read_dockerfile};
use kaniko_worker::runner::{self, AttemptObserver, Runner};
use tokio::sync::mpsc;

use crate::policy::record::{BuildRecord, PlatformRecord, Route};
use crate::policy::{self, now_ms};

/// The worker id the local driver reports in its events.
pub const LOCAL_WORKER: &str = "local";
/// The longest pause before a local build's next attempt (the fleet's redelivery delay, from
/// [`runner::DEFAULT_RETRY_BACKOFF`] doubled, capped lower: the user is waiting at the terminal).
const LOCAL_MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Why the local driver will not build a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    /// The Dockerfile does not parse or plan; the message names the file and line.
    #[error("{path}: {message}")]
    Dockerfile {
        /// The Dockerfile as named in the request.
        path: String,
        /// The parser's or planner's message.
        message: String,
    },
    /// `require_native_nodes` with platforms other than the host's.
    #[error(
        "require_native_nodes: the local driver has no native worker for {platforms} (the host \
         is {host}); use --driver nats with native workers"
    )]
    NoNativeWorker {
        /// The foreign platforms, comma-separated.
        platforms: String,
        /// The host's platform.
        host: String,
    },
    /// A requested platform would execute RUN on a foreign architecture.
    #[error(
        "platform {platform} needs RUN to execute on {platform} ({path} line {line}): the local \
         driver builds only the host's platform ({host}) natively and others only when no RUN \
         executes on them; use --driver nats with a native {platform} worker"
    )]
    NeedsNativeWorker {
        /// The refused platform (`os/arch[/variant]`).
        platform: String,
        /// The host's platform.
        host: String,
        /// The Dockerfile as named in the request.
        path: String,
        /// The line of the RUN.
        line: usize,
    },
}

/// One platform the local driver will build, and whether it runs natively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The platform.
    pub platform: Platform,
    /// True for the host's platform; false for a cross-safe foreign one.
    pub native: bool,
}

/// Decides, before anything is built, where each requested platform runs: the host's
/// natively, a foreign one only when no RUN executes on it. Pure.
pub fn place(
    dockerfile_text: &str,
    request: &BuildRequest,
    host: &Platform,
) -> Result<Vec<Placement>, LocalError> {
    let bad = |message: String| LocalError::Dockerfile {
        path: request.dockerfile.clone(),
        message,
    };
    if request.require_native_nodes {
        let foreign: Vec<String> = request
            .platforms
            .iter()
            .filter(|p| *p != host)
            .map(ToString::to_string)
            .collect();
        if !foreign.is_empty() {
            return Err(LocalError::NoNativeWorker {
                platforms: foreign.join(", "),
                host: host.to_string(),
            });
        }
    }
    let dockerfile = Dockerfile::parse(dockerfile_text).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for platform in &request.platforms {
        let mut args = BuildArgs::new(platform.clone(), host.clone());
        args.values = request.build_args.clone();
        let run = dockerfile
            .needs_native_execution(request.target.as_deref(), &args)
            .map_err(|e| bad(e.to_string()))?;
        let native = platform == host;
        match run {
            Some(run) if !native => {
                return Err(LocalError::NeedsNativeWorker {
                    platform: platform.to_string(),
                    host: host.to_string(),
                    path: request.dockerfile.clone(),
                    line: run.line,
                });
            }
            _ => out.push(Placement {
                platform: platform.clone(),
                native,
            }),
        }
    }
    Ok(out)
}

/// A build for the local driver.
#[derive(Debug, Clone)]
pub struct LocalBuild {
    /// The build's id (events carry it).
    pub build_id: String,
    /// What to build; `request.dockerfile` is relative to `context_dir`.
    pub request: BuildRequest,
    /// The unpacked context.
    pub context_dir: PathBuf,
    /// What the worker adds to every platform's build (registry flags, `--secret`s, RUN
    /// cache).
    pub settings: kaniko_worker::config::BuildSettings,
    /// Registry options for publishing the index.
    pub index_registry: RegistryOptions,
    /// Deliveries of a platform at most (transient failures are retried up to this).
    pub max_attempts: u32,
}

/// Runs `build`: checks placement (an error here means nothing was built), then builds every
/// platform, applies the failure policy and publishes the index. Every step is sent to
/// `events`, ending with a `finished` or `failed` event.
pub async fn run(
    build: LocalBuild,
    events: mpsc::UnboundedSender<Event>,
) -> Result<(), LocalError> {
    let location = DockerfilePath::InContext(build.request.dockerfile.clone().into());
    let file =
        read_dockerfile(&build.context_dir, &location).map_err(|e| LocalError::Dockerfile {
            path: build.request.dockerfile.clone(),
            message: e.to_string(),
        })?;
    let placements = place(&file.text, &build.request, &Platform::host())?;
    let emit = |kind: EventKind| {
        super::send_event(&events, &build.build_id, kind);
    };
    emit(EventKind::Accepted {
        platforms: build.request.platforms.clone(),
    });
    let records = placements.iter().map(placed).collect();
    let results = join_all(
        placements
            .iter()
            .map(|p| build_platform(&build, &p.platform, &events)),
    )
    .await;
    super::conclude(
        &build.build_id,
        &build.request,
        records,
        results,
        &build.index_registry,
        emit,
    )
    .await;
    Ok(())
}

/// Builds one platform with the worker's runner, retrying transient failures with the
/// worker's backoff; the result is what a fleet worker would have published.
async fn build_platform(
    build: &LocalBuild,
    platform: &Platform,
    events: &mpsc::UnboundedSender<Event>,
) -> TaskResult {
    let runner = Runner::new(build.settings.clone());
    let policy = runner::retry_policy(build.max_attempts, LOCAL_MAX_BACKOFF);
    let attempted = runner
        .run_with_retries(
            &policy,
            &format!("building {platform}"),
            &build.context_dir,
            |attempt| task_for(build, platform, attempt),
            &mut Reporter(events),
        )
        .await;
    let duration_ms = u64::try_from(attempted.duration.as_millis()).unwrap_or(u64::MAX);
    let outcome = match attempted.outcome {
        Ok(built) => TaskOutcome::Built {
            manifest: built.manifest,
            config_digest: built.config_digest,
            duration_ms,
        },
        Err(err) => TaskOutcome::Failed(WireError::from(err)),
    };
    TaskResult {
        build_id: build.build_id.clone(),
        task_id: attempted.task.task_id,
        platform: platform.clone(),
        worker_id: LOCAL_WORKER.to_string(),
        attempt: attempted.task.attempt,
        outcome,
    }
}

/// Reports each attempt and its log lines as the fleet's events.
struct Reporter<'a>(&'a mpsc::UnboundedSender<Event>);

impl AttemptObserver for Reporter<'_> {
    fn started(&mut self, task: &Task) {
        super::send_event(
            self.0,
            &task.build_id,
            EventKind::PlatformStarted {
                platform: task.platform.clone(),
                worker_id: LOCAL_WORKER.to_string(),
                attempt: task.attempt,
            },
        );
    }

    fn line(&mut self, task: &Task, line: String) {
        super::send_event(
            self.0,
            &task.build_id,
            EventKind::Log {
                platform: task.platform.clone(),
                line,
            },
        );
    }
}

/// The task a fleet worker would have received for `platform` at `attempt`: the fleet's own
/// construction ([`policy::task::task_for`]) on this build's record, cross-safe off the host.
/// Its deadline counts from now; the in-process executor does not read it (`submit
/// --timeout` bounds a local build).
fn task_for(build: &LocalBuild, platform: &Platform, attempt: u32) -> Task {
    let platform = PlatformRecord {
        attempt,
        ..placed(&Placement {
            platform: platform.clone(),
            native: platform == &Platform::host(),
        })
    };
    let record = BuildRecord::new(
        build.build_id.clone(),
        build.request.clone(),
        Vec::new(),
        now_ms(),
    );
    policy::task::task_for(&record, &platform)
}

/// The record of a placed platform: a foreign one is cross-safe and goes the cross route.
fn placed(placement: &Placement) -> PlatformRecord {
    let route = if placement.native {
        Route::Native
    } else {
        Route::Cross
    };
    PlatformRecord::new(placement.platform.clone(), !placement.native, route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaniko_common::messages::ContextRef;

    fn request(platforms: &[&str]) -> BuildRequest {
        let context = ContextRef {
            sha256: "a".repeat(64),
            size: 1,
        };
        let platforms = platforms
            .iter()
            .map(|p| Platform::parse(p).unwrap())
            .collect();
        BuildRequest::new(context, platforms, vec!["r/app:1".into()])
    }

    fn amd64() -> Platform {
        Platform::parse("linux/amd64").unwrap()
    }

    #[test]
    fn host_natively_and_foreign_platforms_only_when_cross_safe() {
        fn check(text: &str, platforms: &[&str], expected: Result<Vec<(&str, bool)>, &str>) {
            let got = place(text, &request(platforms), &amd64()).map_err(|e| e.to_string());
            let expected = expected
                .map(|v| {
                    v.into_iter()
                        .map(|(p, native)| Placement {
                            platform: Platform::parse(p).unwrap(),
                            native,
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(str::to_string);
            match (&got, &expected) {
                (Err(got), Err(want)) => assert!(got.contains(want.as_str()), "{got}"),
                _ => assert_eq!(got, expected, "{text}"),
            }
        }
        let copy_only = "FROM busybox\nCOPY a /a\n";
        let run = "FROM busybox\nCOPY a /a\nRUN echo hi\n";
        let build_stage_run = "FROM --platform=$BUILDPLATFORM busybox AS b\nRUN echo hi > /x\n\
                               FROM busybox\nCOPY --from=b /x /x\n";
        check(
            copy_only,
            &["linux/amd64", "linux/arm64"],
            Ok(vec![("linux/amd64", true), ("linux/arm64", false)]),
        );
        check(run, &["linux/amd64"], Ok(vec![("linux/amd64", true)]));
        check(
            build_stage_run,
            &["linux/arm64", "linux/arm/v7"],
            Ok(vec![("linux/arm64", false), ("linux/arm/v7", false)]),
        );
        check(
            run,
            &["linux/amd64", "linux/arm64"],
            Err("platform linux/arm64 needs RUN to execute on linux/arm64 (Dockerfile line 3)"),
        );
        check(
            run,
            &["linux/amd64", "linux/arm64"],
            Err("use --driver nats with a native linux/arm64 worker"),
        );
        check(
            "FROM busybox\nFORM x\n",
            &["linux/amd64"],
            Err("Dockerfile: "),
        );
    }

    #[test]
    fn require_native_nodes_allows_only_the_host() {
        let mut r = request(&["linux/amd64", "linux/arm64", "linux/arm/v7"]);
        r.require_native_nodes = true;
        let err = place("FROM busybox\n", &r, &amd64())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "no native worker for linux/arm64, linux/arm/v7 (the host is linux/amd64)"
            ),
            "{err}"
        );
        let mut r = request(&["linux/amd64"]);
        r.require_native_nodes = true;
        assert!(place("FROM busybox\n", &r, &amd64()).is_ok());
    }

    /// The local driver's task is the fleet's: for a request naming one repository three ways
    /// (a duplicate tag, another tag), both carry that repository once, the same task id and
    /// the same cross-safety.
    #[test]
    fn local_tasks_are_the_fleets() {
        let mut r = request(&["linux/amd64", "linux/arm64"]);
        r.destinations = vec![
            "127.0.0.1:5000/app:1".into(),
            "127.0.0.1:5000/app:1".into(),
            "127.0.0.1:5000/app:2".into(),
            "127.0.0.1:5000/other".into(),
        ];
        let build = LocalBuild {
            build_id: "b1".into(),
            request: r.clone(),
            context_dir: PathBuf::from("/nonexistent"),
            settings: kaniko_worker::config::BuildSettings::default(),
            index_registry: RegistryOptions::default(),
            max_attempts: 1,
        };
        let host = Platform::host();
        let foreign = if host == amd64() {
            Platform::parse("linux/arm64").unwrap()
        } else {
            amd64()
        };
        for (platform, native) in [(host, true), (foreign, false)] {
            let local = task_for(&build, &platform, 2);
            let record = PlatformRecord {
                attempt: 2,
                ..PlatformRecord::new(platform.clone(), !native, Route::Native)
            };
            let fleet = policy::task::task_for(
                &BuildRecord::new("b1".into(), r.clone(), vec![record.clone()], 0),
                &record,
            );
            assert_eq!(
                local.destinations,
                ["127.0.0.1:5000/app", "127.0.0.1:5000/other"]
            );
            assert_eq!(local.destinations, fleet.destinations);
            assert_eq!(local.task_id, fleet.task_id);
            assert_eq!(local.cross_safe, !native);
            assert_eq!(local.cross_safe, fleet.cross_safe);
        }
    }

    #[test]
    fn a_bad_dockerfile_names_its_line() {
        let err = place(
            "FROM busybox\nCOPY a\n",
            &request(&["linux/amd64"]),
            &amd64(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("Dockerfile:"), "{err}");
        assert!(err.contains('2'), "{err}");
    }
}
