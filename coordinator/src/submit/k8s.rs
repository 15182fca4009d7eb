// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator submit --driver k8s`: the `--k8s-*` flags checked, the context packed as for
//! the fleet and pushed as a context artifact to the first destination's repository, a Job
//! per platform run by [`crate::driver::k8s`], its events shown and summarised as the other
//! drivers' are. `--timeout` and Ctrl-C (or SIGTERM) delete the build's Jobs with foreground
//! propagation before exiting.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use kaniko_common::messages::ContextRef;
use tokio::sync::mpsc;

use super::follow::Tracker;
use super::{SubmitArgs, build_request, parse_duration, report};
use crate::driver::k8s::spec::{PodSettings, parse_toleration};
use crate::driver::k8s::{self as driver, ClusterOptions, K8sBuild};

/// The Job's `backoffLimit` unless `--k8s-backoff-limit` says otherwise.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 1;
/// The Job's `ttlSecondsAfterFinished` unless `--k8s-ttl-after-finished` says otherwise.
pub const DEFAULT_TTL_AFTER_FINISHED: Duration = Duration::from_secs(3600);

/// The flags of `--driver k8s` (refused with the other drivers).
#[derive(Debug, Clone, Default, Args)]
pub struct K8sArgs {
    /// The kubeconfig file (default: `KUBECONFIG`, `~/.kube/config`, else the in-cluster
    /// config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub k8s_context: Option<String>,
    /// The namespace of the Jobs (default: the context's, or the pod's own in a cluster).
    #[arg(long, value_name = "NAME")]
    pub k8s_namespace: Option<String>,
    /// The worker's container image (deploy/worker.Dockerfile); required.
    #[arg(long, value_name = "IMAGE")]
    pub k8s_worker_image: Option<String>,
    /// The pods' ServiceAccount (workload identity: docs/kubernetes-driver.md).
    #[arg(long, value_name = "NAME")]
    pub k8s_service_account: Option<String>,
    /// CPU request and limit of each pod (`2`, `500m`).
    #[arg(long, value_name = "QUANTITY")]
    pub k8s_cpu: Option<String>,
    /// Memory request and limit of each pod (`4Gi`).
    #[arg(long, value_name = "QUANTITY")]
    pub k8s_memory: Option<String>,
    /// A toleration, `KEY[=VALUE][:EFFECT]` as `kubectl taint` writes taints. Repeatable.
    #[arg(long, value_name = "KEY[=VALUE][:EFFECT]")]
    pub k8s_toleration: Vec<String>,
    /// A node label the pods also require, `KEY=VALUE`. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub k8s_node_selector: Vec<String>,
    /// The pods' PriorityClass.
    #[arg(long, value_name = "NAME")]
    pub k8s_priority_class: Option<String>,
    /// Each Job's `activeDeadlineSeconds` (`30m`, `2h`, or seconds; default: `--timeout`).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub k8s_active_deadline: Option<Duration>,
    /// Each Job's `backoffLimit`: pods tried again after a failure [default: 1].
    #[arg(long, value_name = "N")]
    pub k8s_backoff_limit: Option<i32>,
    /// Each Job's `ttlSecondsAfterFinished`: how long a finished Job stays [default: 1h].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub k8s_ttl_after_finished: Option<Duration>,
    /// A `kubernetes.io/dockerconfigjson` Secret mounted read-only into each pod, where
    /// `DOCKER_CONFIG` points.
    #[arg(long, value_name = "NAME")]
    pub k8s_registry_secret: Option<String>,
}

impl K8sArgs {
    /// The first of these flags given, as spelled on the command line.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.kubeconfig.is_some(), "--kubeconfig"),
            (self.k8s_context.is_some(), "--k8s-context"),
            (self.k8s_namespace.is_some(), "--k8s-namespace"),
            (self.k8s_worker_image.is_some(), "--k8s-worker-image"),
            (self.k8s_service_account.is_some(), "--k8s-service-account"),
            (self.k8s_cpu.is_some(), "--k8s-cpu"),
            (self.k8s_memory.is_some(), "--k8s-memory"),
            (!self.k8s_toleration.is_empty(), "--k8s-toleration"),
            (!self.k8s_node_selector.is_empty(), "--k8s-node-selector"),
            (self.k8s_priority_class.is_some(), "--k8s-priority-class"),
            (self.k8s_active_deadline.is_some(), "--k8s-active-deadline"),
            (self.k8s_backoff_limit.is_some(), "--k8s-backoff-limit"),
            (
                self.k8s_ttl_after_finished.is_some(),
                "--k8s-ttl-after-finished",
            ),
            (self.k8s_registry_secret.is_some(), "--k8s-registry-secret"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    /// The pod settings these flags describe; `timeout` (`--timeout`) is the Jobs' deadline
    /// unless `--k8s-active-deadline` is given.
    pub fn pod_settings(&self, timeout: Option<Duration>) -> anyhow::Result<PodSettings> {
        let Some(worker_image) = self.k8s_worker_image.clone().filter(|i| !i.is_empty()) else {
            bail!("--driver k8s needs --k8s-worker-image: the worker image the pods run");
        };
        for (flag, value) in [
            ("--k8s-cpu", &self.k8s_cpu),
            ("--k8s-memory", &self.k8s_memory),
        ] {
            if let Some(value) = value
                && !is_quantity(value)
            {
                bail!("{flag} {value:?} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)");
            }
        }
        let mut node_selector = BTreeMap::new();
        for pair in &self.k8s_node_selector {
            match pair.split_once('=') {
                Some((key, value)) if !key.is_empty() => {
                    node_selector.insert(key.to_string(), value.to_string());
                }
                _ => bail!("--k8s-node-selector {pair:?}: expected KEY=VALUE"),
            }
        }
        if let Some(limit) = self.k8s_backoff_limit
            && limit < 0
        {
            bail!("--k8s-backoff-limit {limit}: must be 0 or more");
        }
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Ok(PodSettings {
            worker_image,
            service_account: self.k8s_service_account.clone(),
            cpu: self.k8s_cpu.clone(),
            memory: self.k8s_memory.clone(),
            tolerations: self
                .k8s_toleration
                .iter()
                .map(|t| parse_toleration(t))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?,
            node_selector,
            priority_class: self.k8s_priority_class.clone(),
            active_deadline_secs: self.k8s_active_deadline.or(timeout).map(secs),
            backoff_limit: self.k8s_backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT),
            ttl_after_finished_secs: i32::try_from(secs(
                self.k8s_ttl_after_finished
                    .unwrap_or(DEFAULT_TTL_AFTER_FINISHED),
            ))
            .unwrap_or(i32::MAX),
            registry_secret: self.k8s_registry_secret.clone(),
        })
    }
}

/// A Kubernetes quantity: a decimal number with an optional SI or binary suffix.
fn is_quantity(text: &str) -> bool {
    let suffixes = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E", "",
    ];
    suffixes.iter().any(|suffix| {
        text.strip_suffix(suffix).is_some_and(|number| {
            let mut parts = number.splitn(2, '.');
            let whole = parts.next().unwrap_or_default();
            let fraction = parts.next();
            !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// The registry flags of this command that every pod's `worker build` gets too.
fn registry_flags(args: &SubmitArgs) -> Vec<String> {
    let flags = &args.registry.flags;
    let mut out = Vec::new();
    if flags.insecure {
        out.push("--insecure=true".to_string());
    }
    if flags.skip_tls_verify {
        out.push("--skip-tls-verify=true".to_string());
    }
    if flags.registry_http1 {
        out.push("--registry-http1=true".to_string());
    }
    let repeated = [
        ("insecure-registry", &flags.insecure_registry),
        ("skip-tls-verify-registry", &flags.skip_tls_verify_registry),
        ("registry-mirror", &args.local.mirrors.registry_mirror),
        ("registry-map", &args.local.mirrors.registry_map),
    ];
    for (name, values) in repeated {
        out.extend(values.iter().map(|v| format!("--{name}={v}")));
    }
    out
}

/// Flags whose meaning the pods cannot honour.
fn refuse_flags(args: &SubmitArgs) -> anyhow::Result<()> {
    let refused = [
        (
            args.detach,
            "--detach needs --driver nats: the k8s driver follows its Jobs from this process",
        ),
        (
            args.local.retries != 2,
            "--retries applies to --driver local: use --k8s-backoff-limit",
        ),
        (
            !args.local.run.secret.is_empty(),
            "--secret applies to --driver local: RUN secrets reach no pod (see \
             docs/kubernetes-driver.md)",
        ),
        (
            args.local.run.run_cache_scope != kaniko_worker::config::RunCacheScope::Destination
                || args.local.run.run_cache_dir.is_some(),
            "--run-cache-dir and --run-cache-scope apply to --driver local: a pod's RUN cache \
             lives and dies with the pod",
        ),
    ];
    match refused.into_iter().find(|(given, _)| *given) {
        Some((_, message)) => bail!("{message}"),
        None => Ok(()),
    }
}

/// Runs `coordinator submit --driver k8s`.
pub async fn run(args: &SubmitArgs) -> anyhow::Result<ExitCode> {
    refuse_flags(args)?;
    let pods = args.k8s.pod_settings(args.timeout)?;
    let packed = super::validated_context(args).await?;
    let context = ContextRef {
        sha256: packed.sha256.clone(),
        size: packed.size,
    };
    let request = build_request(args, context, packed.dockerfile.clone())?;
    let cluster = ClusterOptions {
        kubeconfig: args.k8s.kubeconfig.clone(),
        context: args.k8s.k8s_context.clone(),
        namespace: args.k8s.k8s_namespace.clone(),
    };
    let (client, namespace) = driver::connect(&cluster).await?;
    let index_registry = args.registry.options();
    let registry =
        kaniko_registry::RegistryClient::new(index_registry.clone()).context("registry client")?;
    let artifact = driver::push_context(
        &registry,
        &request.destinations[0],
        packed.file.path(),
        &packed.sha256,
        packed.size,
    )
    .await?;
    drop(packed);
    let build_id = crate::actors::api::new_build_id();
    let platforms = request.platforms.clone();
    let build = K8sBuild {
        build_id: build_id.clone(),
        request,
        namespace: namespace.clone(),
        context: artifact.clone(),
        pods,
        registry_flags: registry_flags(args),
        index_registry,
    };
    eprintln!("build {build_id}: a Job per platform in namespace {namespace}, context {artifact}");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(driver::run(client.clone(), build, tx));
    let mut tracker = Tracker::default();
    let follow = super::follow_channel(&mut rx, args.quiet, &mut tracker);
    let deadline = async {
        match args.timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let stopped = tokio::select! {
        outcome = follow => Ok(outcome),
        () = deadline => Err(format!(
            "did not finish within {:?}",
            args.timeout.unwrap_or_default()
        )),
        () = crate::serve::signal() => Err("was cancelled".to_string()),
    };
    let outcome = match stopped {
        Ok(outcome) => outcome,
        Err(why) => {
            driver.abort();
            let deleted = driver::delete_jobs(&client, &namespace, &build_id, &platforms).await;
            bail!(
                "build {build_id} {why}: {}; deleted its Jobs ({})",
                tracker.unfinished(),
                deleted.join(", ")
            );
        }
    };
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            driver
                .await
                .context("the k8s driver stopped")?
                .map_err(anyhow::Error::new)?;
            bail!("the k8s driver ended before build {build_id} finished");
        }
    };
    report(args, &build_id, &outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> SubmitArgs {
        let mut all = vec!["-d", "r/a:1"];
        all.extend_from_slice(argv);
        super::super::tests::parse(&all).unwrap()
    }

    #[test]
    fn the_driver_has_both_spellings() {
        assert_eq!(
            parse(&["--driver", "k8s"]).driver,
            Some(super::super::Driver::K8s)
        );
        assert_eq!(
            parse(&["--driver=k8s"]).driver,
            Some(super::super::Driver::K8s)
        );
    }

    #[test]
    fn flags_become_pod_settings() {
        let args = parse(&[
            "--driver=k8s",
            "--k8s-worker-image",
            "reg/worker:1",
            "--k8s-cpu",
            "500m",
            "--k8s-memory=4Gi",
            "--k8s-toleration",
            "arch=arm64:NoSchedule",
            "--k8s-node-selector",
            "pool=builds",
            "--k8s-backoff-limit",
            "3",
            "--k8s-ttl-after-finished",
            "10m",
            "--k8s-registry-secret",
            "push-creds",
            "--timeout",
            "30m",
        ]);
        let got = args.k8s.pod_settings(args.timeout).unwrap();
        assert_eq!(got.worker_image, "reg/worker:1");
        assert_eq!(
            (got.cpu.as_deref(), got.memory.as_deref()),
            (Some("500m"), Some("4Gi"))
        );
        assert_eq!(
            got.node_selector.get("pool").map(String::as_str),
            Some("builds")
        );
        assert_eq!(got.tolerations.len(), 1);
        assert_eq!(got.backoff_limit, 3);
        assert_eq!(got.ttl_after_finished_secs, 600);
        assert_eq!(got.active_deadline_secs, Some(1800));
        assert_eq!(got.registry_secret.as_deref(), Some("push-creds"));
        let defaults = parse(&["--k8s-worker-image=w"])
            .k8s
            .pod_settings(None)
            .unwrap();
        assert_eq!(defaults.backoff_limit, DEFAULT_BACKOFF_LIMIT);
        assert_eq!(defaults.active_deadline_secs, None);
        assert_eq!(defaults.ttl_after_finished_secs, 3600);
    }

    #[test]
    fn bad_flags_are_named() {
        fn check(argv: &[&str], expected: &str) {
            let args = parse(argv);
            let err = refuse_flags(&args)
                .and_then(|()| args.k8s.pod_settings(args.timeout).map(|_| ()))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{argv:?}: {err}");
        }
        check(&[], "--driver k8s needs --k8s-worker-image");
        let image = "--k8s-worker-image=w";
        check(
            &[image, "--k8s-cpu", "lots"],
            "--k8s-cpu \"lots\" is not a Kubernetes quantity",
        );
        check(&[image, "--k8s-memory", "4GB"], "--k8s-memory \"4GB\"");
        check(
            &[image, "--k8s-node-selector", "pool"],
            "expected KEY=VALUE",
        );
        check(
            &[image, "--k8s-toleration", "a:Sometimes"],
            "effect \"Sometimes\"",
        );
        check(&[image, "--k8s-backoff-limit=-1"], "must be 0 or more");
        check(&[image, "--retries", "3"], "use --k8s-backoff-limit");
        check(
            &[image, "--secret", "id=a,src=/x"],
            "RUN secrets reach no pod",
        );
        check(&[image, "--detach"], "--detach needs --driver nats");
    }

    #[test]
    fn k8s_flags_are_refused_with_other_drivers() {
        for driver in ["local", "nats"] {
            let args = parse(&["--driver", driver, "--k8s-namespace", "builds"]);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let err = runtime.block_on(super::super::run(&args)).unwrap_err();
            assert_eq!(
                err.to_string(),
                "--k8s-namespace applies to --driver k8s only",
                "{driver}"
            );
        }
    }

    #[test]
    fn quantities() {
        for good in ["1", "500m", "0.5", "4Gi", "128Mi", "2k"] {
            assert!(is_quantity(good), "{good}");
        }
        for bad in ["", "m", "4GB", "1.", ".5", "-1", "1 Gi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn pods_get_this_commands_registry_flags() {
        let args = parse(&[
            "--insecure-registry",
            "127.0.0.1:5000",
            "--registry-mirror",
            "mirror.local",
            "--registry-http1",
        ]);
        assert_eq!(
            registry_flags(&args),
            [
                "--registry-http1=true",
                "--insecure-registry=127.0.0.1:5000",
                "--registry-mirror=mirror.local"
            ]
        );
    }
}
