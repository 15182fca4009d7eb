// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `k8s` driver: one `batch/v1` Job per platform, each on a node whose
//! `kubernetes.io/os` and `kubernetes.io/arch` (and variant, where nodes carry the label)
//! are the platform's, running `worker build` unprivileged ([`spec`]). The context reaches the
//! pods as an OCI artifact the coordinator pushed by digest ([`push_context`]); each pod's
//! result comes back in its termination message. The Jobs and their pods are watched (list,
//! then watch from the resource version; `410 Gone` re-lists), never polled; what their status
//! says is read by [`status`]. Pod logs are followed and come out as the same per-platform
//! `log` events as the other drivers'. The end is the drivers' shared [`super::conclude`].
//! Requests stay within deploy/kubernetes/base/driver-rbac.yaml: Jobs created, watched and
//! deleted; pods and their logs read; nodes listed.

pub mod spec;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};

use futures::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kaniko_common::messages::{BuildRequest, Event, EventKind, TaskOutcome, TaskResult, WireError};
use kaniko_common::platform::Platform;
use kaniko_registry::{Reference, RegistryClient, RegistryOptions};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::mpsc;

use crate::policy::now_ms;
use crate::policy::record::{BuildRecord, PlatformRecord, Route};
use spec::PodSettings;
use status::{JobView, PodView};

/// Log lines of a failed pod quoted in the platform's error.
const FAILED_LOG_LINES: i64 = 10;

/// Why the k8s driver stopped before or while creating Jobs.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// `--require-native-nodes` and no node has a platform's labels.
    #[error("require_native_nodes: no node for {platform}: {missing}")]
    NoNativeNode {
        /// The platform.
        platform: Platform,
        /// Which node label is missing.
        missing: String,
    },
    /// A Kubernetes API request failed.
    #[error("{what}: {source}")]
    Api {
        /// The request (`creating Job kaniko-…`).
        what: String,
        /// The API's error.
        #[source]
        source: kube::Error,
    },
    /// A Job could not be described.
    #[error("the Job of {platform}: {message}")]
    Spec {
        /// The platform.
        platform: Platform,
        /// What is wrong.
        message: String,
    },
}

/// How to reach the cluster: `--kubeconfig`, `--k8s-context`, `--k8s-namespace`; without
/// them `KUBECONFIG` or `~/.kube/config`, else the in-cluster config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `--kubeconfig`.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// `--k8s-context`.
    pub context: Option<String>,
    /// `--k8s-namespace` (default: the context's namespace, or the pod's own in a cluster).
    pub namespace: Option<String>,
}

/// A client and the namespace its Jobs go to.
pub async fn connect(options: &ClusterOptions) -> anyhow::Result<(kube::Client, String)> {
    use anyhow::Context as _;
    let kube_options = kube::config::KubeConfigOptions {
        context: options.context.clone(),
        ..Default::default()
    };
    let config = match (&options.kubeconfig, &options.context) {
        (Some(path), _) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("--kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube_options)
                .await
                .with_context(|| format!("--kubeconfig {}", path.display()))?
        }
        (None, Some(context)) => kube::Config::from_kubeconfig(&kube_options)
            .await
            .with_context(|| format!("--k8s-context {context}"))?,
        (None, None) => kube::Config::infer().await.context(
            "no Kubernetes configuration: set KUBECONFIG or --kubeconfig, or run in a pod",
        )?,
    };
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).context("Kubernetes client")?;
    Ok((client, namespace))
}

/// Pushes the packed context `file` (`sha256`, `size`) as a context artifact to the
/// repository of `destination`; returns `<registry>/<repo>@<manifest digest>`, what a pod's
/// `--context oci://` names.
pub async fn push_context(
    registry: &RegistryClient,
    destination: &str,
    file: &std::path::Path,
    sha256: &str,
    size: u64,
) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let reference: Reference = destination
        .parse()
        .map_err(|e| anyhow::anyhow!("--destination {destination}: {e}"))?;
    let layer = format!("sha256:{sha256}");
    let what = || format!("pushing the context to {}", reference.repository());
    registry
        .push_blob_file(&reference, file, &layer, size)
        .await
        .with_context(what)?;
    registry
        .push_blob_bytes(&reference, kaniko_common::oci::EMPTY_JSON)
        .await
        .with_context(what)?;
    let manifest = kaniko_common::oci::context_manifest(&layer, size);
    let digest = kaniko_common::oci::sha256_digest(&manifest);
    let by_digest: Reference = format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    )
    .parse()
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    registry
        .push_manifest_raw(&by_digest, manifest, kaniko_common::oci::OCI_MANIFEST)
        .await
        .with_context(what)?;
    Ok(format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    ))
}

/// A build for the k8s driver.
#[derive(Debug, Clone)]
pub struct K8sBuild {
    /// The build's id (labels and events carry it).
    pub build_id: String,
    /// What to build.
    pub request: BuildRequest,
    /// The namespace of the Jobs.
    pub namespace: String,
    /// The context artifact, `<registry>/<repo>@sha256:…`.
    pub context: String,
    /// What every Job's pod gets.
    pub pods: PodSettings,
    /// Registry access flags passed to every pod's `worker build`.
    pub registry_flags: Vec<String>,
    /// Registry options for publishing the index.
    pub index_registry: RegistryOptions,
}

/// `kaniko-rs.io/build=<id>`: every object of a build.
pub fn selector(build_id: &str) -> String {
    format!("{}={build_id}", spec::BUILD_LABEL)
}

/// The Jobs of a build, deleted with foreground propagation (their pods first); a Job
/// already gone is no error. Returns the names deleted.
pub async fn delete_jobs(
    client: &kube::Client,
    namespace: &str,
    build_id: &str,
    platforms: &[Platform],
) -> Vec<String> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let mut deleted = Vec::new();
    for platform in platforms {
        let name = spec::job_name(build_id, platform);
        match jobs.delete(&name, &DeleteParams::foreground()).await {
            Ok(_) => deleted.push(name),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => tracing::warn!(job = %name, error = %e, "deleting the Job failed"),
        }
    }
    deleted
}

/// Where one platform stands.
struct PlatformRun {
    platform: Platform,
    job: String,
    selector: BTreeMap<String, String>,
    /// Pods seen, in order: the attempt is the position.
    pods: Vec<String>,
    followed: BTreeSet<String>,
    failed: BTreeSet<String>,
    last_failure: Option<String>,
    result: Option<TaskResult>,
}

/// Runs `build`: lists the nodes (refusing with `--require-native-nodes` before any Job
/// when a platform has none), creates a Job per platform, watches them to the end and
/// concludes. Every step is sent to `events`, ending with a `finished` or `failed` event.
pub async fn run(
    client: kube::Client,
    build: K8sBuild,
    events: mpsc::UnboundedSender<Event>,
) -> Result<(), K8sError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node_labels: Vec<BTreeMap<String, String>> = match nodes.list(&ListParams::default()).await
    {
        Ok(list) => list
            .items
            .into_iter()
            .map(|n| n.metadata.labels.unwrap_or_default())
            .collect(),
        Err(e) if !build.request.require_native_nodes => {
            tracing::warn!(error = %e, "listing the nodes failed; no variant node selector");
            Vec::new()
        }
        Err(source) => {
            return Err(K8sError::Api {
                what: "listing the nodes".into(),
                source,
            });
        }
    };
    let variant_labelled = node_labels
        .iter()
        .any(|labels| labels.contains_key(spec::VARIANT_NODE_LABEL));
    let mut runs: Vec<PlatformRun> = build
        .request
        .platforms
        .iter()
        .map(|platform| PlatformRun {
            platform: platform.clone(),
            job: spec::job_name(&build.build_id, platform),
            selector: spec::node_selector(platform, variant_labelled, &build.pods.node_selector),
            pods: Vec::new(),
            followed: BTreeSet::new(),
            failed: BTreeSet::new(),
            last_failure: None,
            result: None,
        })
        .collect();
    if build.request.require_native_nodes {
        for run in &runs {
            if let Some(missing) = status::missing_node_label(&run.selector, &node_labels) {
                return Err(K8sError::NoNativeNode {
                    platform: run.platform.clone(),
                    missing,
                });
            }
        }
    }
    let emit = |kind: EventKind| {
        super::send_event(&events, &build.build_id, kind);
    };
    emit(EventKind::Accepted {
        platforms: build.request.platforms.clone(),
    });
    let records: Vec<PlatformRecord> = runs
        .iter()
        .map(|run| PlatformRecord::new(run.platform.clone(), false, Route::Native))
        .collect();
    let record = BuildRecord::new(
        build.build_id.clone(),
        build.request.clone(),
        records.clone(),
        now_ms(),
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), &build.namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &build.namespace);
    for (run, platform_record) in runs.iter().zip(&records) {
        let task = crate::policy::task::task_for(&record, platform_record);
        let command = spec::worker_command(&task, &build.context, &build.registry_flags);
        let job = spec::job(
            &build.pods,
            &build.build_id,
            &run.platform,
            &run.selector,
            &command,
        )
        .map_err(|e| K8sError::Spec {
            platform: run.platform.clone(),
            message: e.to_string(),
        })?;
        if let Err(source) = jobs.create(&PostParams::default(), &job).await {
            delete_jobs(
                &client,
                &build.namespace,
                &build.build_id,
                &build.request.platforms,
            )
            .await;
            return Err(K8sError::Api {
                what: format!("creating Job {}", run.job),
                source,
            });
        }
        tracing::info!(job = %run.job, platform = %run.platform, "Job created");
    }
    let config = watcher::Config::default().labels(&selector(&build.build_id));
    let job_changes = watcher(jobs.clone(), config.clone())
        .default_backoff()
        .applied_objects()
        .map_ok(|job| Change::Job(Box::new(job)));
    let pod_changes = watcher(pods.clone(), config)
        .default_backoff()
        .applied_objects()
        .map_ok(|pod| Change::Pod(Box::new(pod)));
    let mut changes = futures::stream::select(job_changes.boxed(), pod_changes.boxed());
    let mut followers = tokio::task::JoinSet::new();
    // Deletions of failed Jobs, awaited before the build concludes: the process may exit
    // right after, and a deletion it did not wait for would leave the Job behind.
    let mut deletions = tokio::task::JoinSet::new();
    while runs.iter().any(|run| run.result.is_none()) {
        let change = match changes.next().await {
            Some(Ok(change)) => change,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "watching the build's Jobs and pods");
                continue;
            }
            None => break,
        };
        let name = change.name();
        let Some(run) = runs
            .iter_mut()
            .find(|run| change.job_name() == Some(&run.job))
        else {
            tracing::debug!(object = %name, "not one of this build's Jobs");
            continue;
        };
        if run.result.is_some() {
            continue;
        }
        let outcome = match change {
            Change::Job(job) => match status::job_view(&job) {
                JobView::Active | JobView::Complete => None,
                JobView::Failed(message) => {
                    // The Job's and the pods' watches are separate streams: the Job's failure
                    // can come before its pod's, so ask for the pod when it has not been seen.
                    let last = match run.last_failure.clone() {
                        Some(last) => Some(last),
                        None => last_failed_pod(&pods, &run.job).await,
                    };
                    Some(Err(match last {
                        Some(last) => format!("{message}; the last pod: {last}"),
                        None => message,
                    }))
                }
            },
            Change::Pod(pod) => {
                observe_pod(
                    run,
                    &pod,
                    &build,
                    &pods,
                    &events,
                    &mut followers,
                    &node_labels,
                )
                .await
            }
        };
        if let Some(outcome) = outcome {
            let unfinished = outcome.is_err();
            run.result = Some(task_result(&build.build_id, run, outcome));
            if unfinished {
                // A Job that cannot succeed any more (unschedulable, image, retries used
                // up) leaves nothing running behind.
                let jobs = jobs.clone();
                let job = run.job.clone();
                deletions.spawn(async move {
                    if let Err(e) = jobs.delete(&job, &DeleteParams::foreground()).await {
                        tracing::warn!(job = %job, error = %e, "deleting a failed Job");
                    }
                });
            }
        }
    }
    // Logs still in flight are sent before the platform's result.
    let drain = async { while followers.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
    let deleted = async { while deletions.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(30), deleted)
        .await
        .is_err()
    {
        tracing::warn!("the failed Jobs' deletions did not finish within 30 s");
    }
    let results = runs
        .into_iter()
        .map(|mut run| match run.result.take() {
            Some(result) => result,
            None => task_result(
                &build.build_id,
                &run,
                Err("the watch of its Job ended before a result".into()),
            ),
        })
        .collect();
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

/// A watched object.
enum Change {
    Job(Box<Job>),
    Pod(Box<Pod>),
}

impl Change {
    fn name(&self) -> String {
        match self {
            Change::Job(job) => job.metadata.name.clone().unwrap_or_default(),
            Change::Pod(pod) => pod.metadata.name.clone().unwrap_or_default(),
        }
    }

    /// The Job this is, or owns this pod.
    fn job_name(&self) -> Option<&String> {
        match self {
            Change::Job(job) => job.metadata.name.as_ref(),
            Change::Pod(pod) => pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|owner| owner.kind == "Job")
                .map(|owner| &owner.name)
                .or_else(|| pod.metadata.labels.as_ref()?.get("job-name")),
        }
    }
}

/// What the most recent failed pod of `job` says (`pod <name>: <what happened>`), listed
/// now; `None` when there is none or the list fails.
async fn last_failed_pod(pods: &Api<Pod>, job: &str) -> Option<String> {
    let listed = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .map_err(|e| tracing::debug!(error = %e, job, "listing the Job's pods"))
        .ok()?;
    listed
        .items
        .iter()
        .filter_map(|pod| match status::pod_view(pod) {
            PodView::Failed(what) => Some((
                pod.metadata.creation_timestamp.clone(),
                pod.metadata.name.clone().unwrap_or_default(),
                what,
            )),
            _ => None,
        })
        .max_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)))
        .map(|(_, name, what)| format!("pod {name}: {what}"))
}

/// Follows what `pod` says for `run`: its logs once it runs, its result once it succeeds;
/// a final outcome when the platform is done (`Err`: why it failed).
async fn observe_pod(
    run: &mut PlatformRun,
    pod: &Pod,
    build: &K8sBuild,
    pods: &Api<Pod>,
    events: &mpsc::UnboundedSender<Event>,
    followers: &mut tokio::task::JoinSet<()>,
    nodes: &[BTreeMap<String, String>],
) -> Option<Result<(kaniko_common::oci::Descriptor, String), String>> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let attempt = match run.pods.iter().position(|p| *p == name) {
        Some(index) => index + 1,
        None => {
            run.pods.push(name.clone());
            super::send_event(
                events,
                &build.build_id,
                EventKind::PlatformStarted {
                    platform: run.platform.clone(),
                    worker_id: format!("pod/{name}"),
                    attempt: u32::try_from(run.pods.len()).unwrap_or(u32::MAX),
                },
            );
            run.pods.len()
        }
    };
    let view = status::pod_view(pod);
    let started = matches!(
        view,
        PodView::Running | PodView::Succeeded(_) | PodView::Failed(_)
    );
    if started && run.followed.insert(name.clone()) {
        let (pods, events) = (pods.clone(), events.clone());
        let (build_id, platform, pod_name) =
            (build.build_id.clone(), run.platform.clone(), name.clone());
        followers.spawn(async move {
            follow_logs(&pods, &pod_name, &build_id, &platform, &events).await;
        });
    }
    match view {
        PodView::Pending | PodView::Running => None,
        PodView::Unschedulable(message) => {
            let missing = status::missing_node_label(&run.selector, nodes)
                .unwrap_or_else(|| "no node matches its node selector now".to_string());
            Some(Err(format!(
                "Unschedulable: {missing} (the scheduler: {message})"
            )))
        }
        PodView::ImagePull(message) => Some(Err(format!(
            "{message} (the worker image {}, --k8s-worker-image)",
            build.pods.worker_image
        ))),
        PodView::Succeeded(message) => Some(status::parse_result(&message, &run.platform)),
        PodView::Failed(what) => {
            if !run.failed.insert(name.clone()) {
                return None;
            }
            let tail = pods
                .logs(
                    &name,
                    &LogParams {
                        tail_lines: Some(FAILED_LOG_LINES),
                        ..LogParams::default()
                    },
                )
                .await
                .unwrap_or_default();
            let tail = tail.trim_end();
            let failure = if tail.is_empty() {
                format!("pod {name} (attempt {attempt}): {what}")
            } else {
                format!("pod {name} (attempt {attempt}): {what}; its last log lines:\n{tail}")
            };
            let retries_left = i64::try_from(run.failed.len()).unwrap_or(i64::MAX)
                <= i64::from(build.pods.backoff_limit);
            run.last_failure = Some(failure.clone());
            if retries_left {
                super::send_event(
                    events,
                    &build.build_id,
                    EventKind::Log {
                        platform: run.platform.clone(),
                        line: format!("{failure}; the Job tries again"),
                    },
                );
                None
            } else {
                Some(Err(failure))
            }
        }
    }
}

/// Sends the log lines of `pod` as `log` events until its container ends.
async fn follow_logs(
    pods: &Api<Pod>,
    pod: &str,
    build_id: &str,
    platform: &Platform,
    events: &mpsc::UnboundedSender<Event>,
) {
    let params = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let stream = match pods.log_stream(pod, &params).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!(%pod, error = %e, "following the pod's log failed");
            return;
        }
    };
    let mut lines = Box::pin(stream.lines());
    while let Some(Ok(line)) = lines.next().await {
        super::send_event(
            events,
            build_id,
            EventKind::Log {
                platform: platform.clone(),
                line,
            },
        );
    }
}

/// The platform's result as a fleet worker would have published it.
fn task_result(
    build_id: &str,
    run: &PlatformRun,
    outcome: Result<(kaniko_common::oci::Descriptor, String), String>,
) -> TaskResult {
    let attempt = u32::try_from(run.pods.len().max(1)).unwrap_or(u32::MAX);
    TaskResult {
        build_id: build_id.to_string(),
        task_id: run.job.clone(),
        platform: run.platform.clone(),
        worker_id: run
            .pods
            .last()
            .map_or_else(|| format!("job/{}", run.job), |pod| format!("pod/{pod}")),
        attempt,
        outcome: match outcome {
            Ok((manifest, config_digest)) => TaskOutcome::Built {
                manifest,
                config_digest,
                duration_ms: 0,
            },
            Err(message) => TaskOutcome::Failed(WireError::permanent(message)),
        },
    }
}
