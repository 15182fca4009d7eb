// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The fake Kubernetes API server of the k8s driver's tests, driven by the real
//! `kube::Client` and by `kubectl`: jobs run real processes to Succeeded with their
//! termination message and logs, an unmatched nodeSelector leaves a pod Unschedulable,
//! a watch from a compacted version gets 410, RBAC refuses what the Role does not grant.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kaniko_tests::kube_api::{FakeNode, KubeApi};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn rbac_yaml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/base/driver-rbac.yaml")
}

async fn start() -> KubeApi {
    kaniko_tests::init_test_tracing();
    KubeApi::start(
        vec![
            FakeNode::new("node-amd64", "linux", "amd64", None),
            FakeNode::new("node-arm64", "linux", "arm64", Some("v8")),
        ],
        kaniko_tests::workspace_binary("worker"),
        &rbac_yaml(),
    )
    .await
    .unwrap()
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn job(name: &str, command: &[&str], extra: serde_json::Value) -> Job {
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "worker", "image": "kaniko-rs/worker:test", "command": command}],
        }}},
    });
    merge(&mut job, &extra);
    serde_json::from_value(job).unwrap()
}

fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(json!(null)), v);
            }
        }
        _ => *target = patch.clone(),
    }
}

async fn finished(jobs: &Api<Job>, name: &str) -> Job {
    tokio::time::timeout(
        WAIT,
        await_condition(jobs.clone(), name, |j: Option<&Job>| {
            conditions::is_job_completed().matches_object(j) || job_failed(j)
        }),
    )
    .await
    .expect("job finishes in time")
    .unwrap()
    .unwrap()
}

fn job_failed(job: Option<&Job>) -> bool {
    job.and_then(|j| j.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Failed" && c.status == "True"))
}

async fn job_pods(pods: &Api<Pod>, job: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .unwrap()
        .items
}

/// The name of the job's running pod, once there is one.
async fn running_pod(pods: &Api<Pod>, job: &str) -> String {
    loop {
        let running = job_pods(pods, job)
            .await
            .into_iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        if let Some(p) = running {
            return p.metadata.name.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn terminated(pod: &Pod) -> (i32, String, Option<String>) {
    let state = pod
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .expect("terminated");
    (
        state.exit_code,
        state.reason.unwrap_or_default(),
        state.message,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_its_command_to_succeeded_with_logs_and_termination_message() {
    let api = start().await;
    let client = client(api.kubeconfig()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());

    // The first word `worker` is the workspace's worker binary.
    let created = jobs
        .create(
            &PostParams::default(),
            &job("version", &["worker", "--version"], json!({})),
        )
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let done = finished(&jobs, "version").await;
    assert_eq!(done.status.as_ref().unwrap().succeeded, Some(1), "{done:?}");
    let pod = &job_pods(&pods, "version").await[0];
    assert!(pod.metadata.name.as_ref().unwrap().starts_with("version-"));
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Job", created.metadata.uid.as_deref().unwrap())
    );
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    let log = pods
        .logs(pod.metadata.name.as_ref().unwrap(), &LogParams::default())
        .await
        .unwrap();
    assert!(log.contains(env!("CARGO_PKG_VERSION")), "{log}");

    // The termination message file is mapped (here through an env value naming it), the
    // exit code and reason reported, and logs followed to the end with tailLines.
    let script =
        "echo one; echo two; sleep 1; echo three; echo 'built sha256:abc' > \"$MSG\"; exit 3";
    jobs.create(
        &PostParams::default(),
        &job(
            "message",
            &["/bin/sh", "-c", script],
            json!({"spec": {"template": {"spec": {"containers": [
            {"name": "worker", "image": "i", "command": ["/bin/sh", "-c", script],
             "env": [{"name": "MSG", "value": "/dev/termination-log"}]}]}}}}),
        ),
    )
    .await
    .unwrap();
    let pod_name = running_pod(&pods, "message").await;
    let followed: Vec<String> = pods
        .log_stream(
            &pod_name,
            &LogParams {
                follow: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap()
        .lines()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(followed, ["one", "two", "three"]);
    let done = finished(&jobs, "message").await;
    let condition = &done.status.as_ref().unwrap().conditions.as_ref().unwrap()[1];
    assert_eq!(
        (condition.type_.as_str(), condition.reason.as_deref()),
        ("Failed", Some("BackoffLimitExceeded"))
    );
    let pod = pods.get(&pod_name).await.unwrap();
    assert_eq!(
        terminated(&pod),
        (
            3,
            "Error".to_string(),
            Some("built sha256:abc\n".to_string())
        )
    );
    let tail = pods
        .logs(
            &pod_name,
            &LogParams {
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail, "three\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatched_node_selector_leaves_the_pod_unschedulable() {
    let api = start().await;
    let client = client(api.kubeconfig()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let selector = json!({"spec": {"template": {"spec": {"nodeSelector": {
        "kubernetes.io/os": "linux", "kubernetes.io/arch": "s390x"}}}}});
    jobs.create(
        &PostParams::default(),
        &job("s390x", &["worker", "--version"], selector),
    )
    .await
    .unwrap();
    let config = watcher::Config::default().labels("job-name=s390x");
    let unschedulable = watcher(pods.clone(), config)
        .applied_objects()
        .try_filter_map(|pod: Pod| async move {
            let condition = pod.status.and_then(|s| s.conditions).and_then(|cs| {
                cs.into_iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            });
            Ok(condition)
        });
    let condition = tokio::time::timeout(WAIT, Box::pin(unschedulable).next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert!(
        condition.message.as_deref().unwrap().starts_with(
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
        ),
        "{condition:?}"
    );

    // A selector the arm64 node matches (with its variant label) runs there.
    let arm = json!({"spec": {"template": {"spec": {"nodeSelector": {
        "kubernetes.io/arch": "arm64", kaniko_tests::kube_api::VARIANT_LABEL: "v8"}}}}});
    jobs.create(
        &PostParams::default(),
        &job("arm", &["worker", "--version"], arm),
    )
    .await
    .unwrap();
    finished(&jobs, "arm").await;
    let pod = &job_pods(&pods, "arm").await[0];
    assert_eq!(
        pod.spec.as_ref().unwrap().node_name.as_deref(),
        Some("node-arm64")
    );
}

fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_errors_a_watch_from_a_compacted_version_and_rbac_refusals() {
    let api = start().await;
    let driver = client(api.kubeconfig()).await;
    let admin = client(api.admin_kubeconfig()).await;
    let jobs: Api<Job> = Api::default_namespaced(driver.clone());
    let sleep = job("sleeper", &["/bin/sleep", "30"], json!({}));

    let listed = jobs.list(&ListParams::default()).await.unwrap();
    let old_version = listed.metadata.resource_version.unwrap();
    jobs.create(&PostParams::default(), &sleep).await.unwrap();
    let again = jobs
        .create(&PostParams::default(), &sleep)
        .await
        .unwrap_err();
    assert_eq!(api_error(again), (409, "AlreadyExists".to_string()));
    let long = job(&"a".repeat(64), &["/bin/true"], json!({}));
    let invalid = jobs
        .create(&PostParams::default(), &long)
        .await
        .unwrap_err();
    assert_eq!(api_error(invalid), (422, "Invalid".to_string()));
    let upper = job("Upper", &["/bin/true"], json!({}));
    let invalid = jobs
        .create(&PostParams::default(), &upper)
        .await
        .unwrap_err();
    assert_eq!(api_error(invalid), (422, "Invalid".to_string()));
    let missing = jobs.get("missing").await.unwrap_err();
    assert_eq!(api_error(missing), (404, "NotFound".to_string()));

    // A watch from before the compaction gets an ERROR event with 410 Gone; kube's watcher
    // re-lists and goes on.
    let mut live = Box::pin(watcher(jobs.clone(), watcher::Config::default()).applied_objects());
    let first = tokio::time::timeout(WAIT, live.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("sleeper"));
    api.compact();
    let mut stream = Box::pin(
        jobs.watch(&WatchParams::default(), &old_version)
            .await
            .unwrap(),
    );
    match stream.next().await.unwrap().unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected 410, got {other:?}"),
    }
    // A watch asking for bookmarks gets them at the current version; timeoutSeconds ends it.
    let current = jobs
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let events: Vec<_> = jobs
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            }
            .timeout(3),
            &current,
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(events.len() >= 2, "{events:?}");
    for event in &events {
        match event {
            WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, current),
            other => panic!("expected only bookmarks, got {other:?}"),
        }
    }
    jobs.create(
        &PostParams::default(),
        &job("later", &["/bin/true"], json!({})),
    )
    .await
    .unwrap();
    let next = loop {
        let j = tokio::time::timeout(WAIT, live.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if j.metadata.name.as_deref() == Some("later") {
            break j;
        }
    };
    assert!(next.metadata.uid.is_some());

    // Deleting the job in the foreground deletes its pods.
    let pods: Api<Pod> = Api::default_namespaced(admin.clone());
    while job_pods(&pods, "sleeper").await.is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    jobs.delete("sleeper", &DeleteParams::foreground())
        .await
        .unwrap();
    assert!(job_pods(&pods, "sleeper").await.is_empty());

    // The driver's Role does not grant deleting pods, reading secrets or getting one node.
    let driver_pods: Api<Pod> = Api::default_namespaced(driver.clone());
    let refused = driver_pods
        .delete("any", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(api_error(refused), (403, "Forbidden".to_string()));
    let secrets: Api<Secret> = Api::default_namespaced(driver.clone());
    assert_eq!(
        api_error(secrets.list(&ListParams::default()).await.unwrap_err()).0,
        403
    );
    let nodes: Api<Node> = Api::all(driver.clone());
    assert_eq!(
        nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(api_error(nodes.get("node-amd64").await.unwrap_err()).0, 403);
    let denied: Vec<(String, String)> = api
        .requests()
        .into_iter()
        .filter(|r| !r.allowed)
        .map(|r| (r.verb, r.resource))
        .collect();
    assert_eq!(
        denied,
        [("delete", "pods"), ("list", "secrets"), ("get", "nodes")]
            .map(|(v, r)| (v.to_string(), r.to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_mount_read_only_killed_pods_retry_and_unpullable_images_back_off() {
    let api = start().await;
    let admin = client(api.admin_kubeconfig()).await;
    let jobs: Api<Job> = Api::default_namespaced(admin.clone());
    let pods: Api<Pod> = Api::default_namespaced(admin.clone());
    let secrets: Api<Secret> = Api::default_namespaced(admin.clone());
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "registry"}, "stringData": {"config.json": "s3cr3t"}}))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let script = "cat /etc/registry/config.json; echo; stat -c %a /etc/registry/config.json";
    let mount = json!({"spec": {"template": {"spec": {
        "volumes": [{"name": "registry", "secret": {"secretName": "registry"}}],
        "containers": [{"name": "worker", "image": "i", "command": ["/bin/sh", "-c"],
                        "args": [script.replace("/etc/registry", "$DIR")],
                        "env": [{"name": "DIR", "value": "/etc/registry"}],
                        "volumeMounts": [{"name": "registry", "mountPath": "/etc/registry", "readOnly": true}]}]}}}});
    jobs.create(&PostParams::default(), &job("mount", &[], mount))
        .await
        .unwrap();
    finished(&jobs, "mount").await;
    let pod = &job_pods(&pods, "mount").await[0];
    let log = pods
        .logs(pod.metadata.name.as_ref().unwrap(), &LogParams::default())
        .await
        .unwrap();
    assert_eq!(log, "s3cr3t\n444\n");

    // backoffLimit 1: the first pod killed (137), the second too: the job fails.
    let retry = json!({"spec": {"backoffLimit": 1}});
    jobs.create(
        &PostParams::default(),
        &job("killed", &["/bin/sleep", "30"], retry),
    )
    .await
    .unwrap();
    for attempt in 1..=2 {
        let name = running_pod(&pods, "killed").await;
        api.kill_pod("default", &name);
        let pod = await_condition(pods.clone(), &name, conditions::is_pod_running().not())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(terminated(&pod).0, 137, "attempt {attempt}");
    }
    let done = finished(&jobs, "killed").await;
    assert!(job_failed(Some(&done)));
    assert_eq!(done.status.unwrap().failed, Some(2));

    api.set_unpullable_image("registry.invalid/none:1");
    let image = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "worker", "image": "registry.invalid/none:1", "command": ["/bin/true"]}]}}}});
    jobs.create(&PostParams::default(), &job("pull", &[], image))
        .await
        .unwrap();
    let reason = loop {
        let pod = job_pods(&pods, "pull").await.pop();
        let waiting = pod
            .and_then(|p| p.status)
            .and_then(|s| s.container_statuses)
            .and_then(|cs| cs[0].state.clone())
            .and_then(|s| s.waiting);
        if let Some(w) = waiting {
            break w.reason;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(reason.as_deref(), Some("ImagePullBackOff"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_nodes_creates_a_job_and_watches_it() {
    let api = start().await;
    let kubectl = |args: &[&str]| {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .env("KUBECONFIG", "/nonexistent")
            .args(["--server", &api.url(), "-n", "default"])
            .args(args)
            .kill_on_drop(true);
        command
    };
    let out = kubectl(&["get", "nodes", "-o", "json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node-amd64", "node-arm64"]);

    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("job.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: from-kubectl\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: c\n          image: busybox\n          command: [\"/bin/true\"]\n",
    )
    .unwrap();
    let out = kubectl(&[
        "create",
        "--validate=false",
        "-f",
        manifest.to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "job.batch/from-kubectl created"
    );

    let mut watch = kubectl(&[
        "get",
        "jobs",
        "-w",
        "-o",
        "jsonpath={.metadata.name} {.status.succeeded}{\"\\n\"}",
    ])
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().unwrap());
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let mut line = String::new();
            use tokio::io::AsyncBufReadExt as _;
            if lines.read_line(&mut line).await.unwrap() == 0 {
                return false;
            }
            seen.push(line.trim().to_string());
            if line.trim() == "from-kubectl 1" {
                return true;
            }
        }
    })
    .await;
    watch.kill().await.unwrap();
    assert_eq!(found, Ok(true), "{seen:?}");
}
