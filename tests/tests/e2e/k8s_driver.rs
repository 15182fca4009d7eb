// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator submit --driver k8s` against the fake Kubernetes API server
//! ([`kaniko_tests::kube_api`]: REST and watch over loopback, a job controller, a scheduler
//! honouring nodeSelector against fake amd64 and arm64 nodes, a kubelet running each pod's
//! `worker build` as a real process) and a real registry holding the busybox fixture. The
//! Dockerfiles are cross-safe (no RUN), so the kubelet can run the arm64 pod on this machine.
//! Every request the driver makes is checked against deploy/kubernetes/base/driver-rbac.yaml.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use kaniko_tests::kube_api::{FakeNode, KubeApi};
use kaniko_tests::{Registry, skopeo_inspect_raw};

use crate::local_driver::{describe, registry};

const WORKER_IMAGE: &str = "registry.example/kaniko-rs/worker:test";

fn rbac_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/base/driver-rbac.yaml")
}

async fn cluster(arches: &[&str]) -> KubeApi {
    let nodes = arches
        .iter()
        .map(|arch| FakeNode::new(&format!("node-{arch}"), "linux", arch, None))
        .collect();
    KubeApi::start(
        nodes,
        kaniko_tests::workspace_binary("worker"),
        &rbac_file(),
    )
    .await
    .expect("fake API server")
}

/// A context whose Dockerfile is `FROM <busybox>` then `body`.
fn context(dir: &Path, registry: &Registry, body: &str) -> PathBuf {
    let context = dir.join("context");
    std::fs::create_dir_all(&context).expect("context dir");
    let base = format!("{}/busybox:latest", registry.host());
    std::fs::write(context.join("Dockerfile"), format!("FROM {base}\n{body}")).expect("Dockerfile");
    std::fs::write(context.join("hello.txt"), "hello from a pod\n").expect("hello");
    context
}

/// `coordinator submit --driver k8s` with the common flags, then `extra`.
fn submit_command(
    api: &KubeApi,
    registry: &Registry,
    context: &Path,
    destination: &str,
    extra: &[&str],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(kaniko_tests::workspace_binary("coordinator"));
    command
        .env_remove("NATS_URL")
        .env_remove("KANIKO_DRIVER")
        .env_remove("KUBECONFIG")
        .arg("submit")
        .arg("--driver=k8s")
        .arg("--kubeconfig")
        .arg(api.kubeconfig())
        .args(["--k8s-worker-image", WORKER_IMAGE])
        .arg("--context")
        .arg(context)
        .args(["--destination", destination])
        .args(["--insecure-registry", &registry.host()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn submit(
    api: &KubeApi,
    registry: &Registry,
    context: &Path,
    destination: &str,
    extra: &[&str],
) -> Output {
    let mut command = submit_command(api, registry, context, destination, extra);
    command.arg("--timeout=240");
    tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("coordinator submit finished")
        .expect("coordinator submit")
}

/// [`submit`] of a build that must fail: exit code 1; what it printed.
async fn submit_failing(
    api: &KubeApi,
    registry: &Registry,
    context: &Path,
    destination: &str,
    extra: &[&str],
) -> String {
    let output = submit(api, registry, context, destination, extra).await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    describe(&output)
}

/// Whether one line of `text` holds every one of `parts`.
fn a_line_with(text: &str, parts: &[&str]) -> bool {
    text.lines()
        .any(|line| parts.iter().all(|part| line.contains(part)))
}

/// Every request the driver made was one the RBAC file allows.
fn assert_rbac_allowed(api: &KubeApi) {
    let denied: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| !r.admin && !r.allowed)
        .collect();
    assert!(denied.is_empty(), "requests RBAC denied: {denied:?}");
}

fn jobs(api: &KubeApi) -> Vec<serde_json::Value> {
    api.objects()
        .into_iter()
        .filter(|o| o["kind"] == "Job")
        .collect()
}

fn job_creates(api: &KubeApi) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.resource == "jobs" && r.verb == "create")
        .count()
}

/// A registry Secret created with the admin credentials (the test's own setup).
async fn create_registry_secret(api: &KubeApi, name: &str, config_json: &str) {
    kaniko_registry::install_crypto_provider();
    let kubeconfig =
        kube::config::Kubeconfig::read_from(api.admin_kubeconfig()).expect("admin kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("admin config");
    let client = kube::Client::try_from(config).expect("admin client");
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client, "default");
    let secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": config_json},
    }))
    .expect("secret");
    secrets
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .expect("creating the secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_platforms_on_native_nodes_publish_one_index_without_leaking_the_secret() {
    let registry = registry().await;
    let api = cluster(&["amd64", "arm64"]).await;
    let password = "k8s-test-password-4f1c9e";
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("builder:{password}"),
    );
    let config_json = format!(r#"{{"auths":{{"other.example":{{"auth":"{auth}"}}}}}}"#);
    create_registry_secret(&api, "push-creds", &config_json).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let context = context(
        dir.path(),
        &registry,
        "COPY hello.txt /hello.txt\nLABEL built-by=k8s\n",
    );
    let destination = format!("{}/app:v1", registry.host());
    let output = submit(
        &api,
        &registry,
        &context,
        &destination,
        &[
            "--multi-platform=linux/amd64,linux/arm64",
            "--k8s-registry-secret",
            "push-creds",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(
            stderr.contains(&format!("[{platform}]")) && stderr.contains("COPY hello.txt"),
            "pod logs of {platform} streamed: {}",
            describe(&output)
        );
    }
    let index = skopeo_inspect_raw(&destination).expect("skopeo inspect --raw");
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let mut arches: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            m["platform"]["architecture"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    arches.sort();
    assert_eq!(arches, ["amd64", "arm64"], "{index}");
    // One Job per platform, each pinned to its architecture's nodes.
    let jobs = jobs(&api);
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for job in &jobs {
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        let arch = pod["nodeSelector"]["kubernetes.io/arch"]
            .as_str()
            .unwrap_or("");
        assert!(["amd64", "arm64"].contains(&arch), "{job}");
    }
    assert_rbac_allowed(&api);
    // The Secret is named, never copied: its value is in no object but the Secret itself,
    // and in no output line.
    for object in api.objects().iter().filter(|o| o["kind"] != "Secret") {
        let text = object.to_string();
        assert!(
            !text.contains(password) && !text.contains(&auth),
            "the secret's value leaked into {text}"
        );
    }
    assert!(
        !describe(&output).contains(password) && !describe(&output).contains(&auth),
        "the secret's value leaked into the output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_without_nodes_is_refused_before_any_job_or_reported_unschedulable() {
    let registry = registry().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let context = context(dir.path(), &registry, "COPY hello.txt /hello.txt\n");
    let destination = format!("{}/app:v1", registry.host());

    let api = cluster(&["amd64"]).await;
    let output = submit(
        &api,
        &registry,
        &context,
        &destination,
        &[
            "--multi-platform=linux/amd64,linux/arm64",
            "--require-native-nodes",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "require_native_nodes: no node for linux/arm64: no node has the label \
             kubernetes.io/arch=arm64"
        ),
        "{}",
        describe(&output)
    );
    assert_eq!(job_creates(&api), 0, "no Job was created");
    assert_rbac_allowed(&api);

    let api = cluster(&["amd64"]).await;
    let output = submit(
        &api,
        &registry,
        &context,
        &destination,
        &["--multi-platform=linux/arm64"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = describe(&output);
    assert!(
        text.contains(
            "platform linux/arm64: Unschedulable: no node has the label kubernetes.io/arch=arm64"
        ),
        "{text}"
    );
    assert_eq!(job_creates(&api), 1);
    assert_rbac_allowed(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_killed_mid_build_is_replaced_and_the_index_still_published() {
    let registry = registry().await;
    let api = cluster(&["amd64", "arm64"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let context = context(dir.path(), &registry, "COPY big.bin hello.txt /data/\n");
    // Enough bytes that the pod is still fetching, unpacking or compressing when killed.
    let big: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(context.join("big.bin"), big).expect("big file");
    let destination = format!("{}/app:v1", registry.host());
    let mut child = submit_command(
        &api,
        &registry,
        &context,
        &destination,
        &[
            "--multi-platform=linux/amd64,linux/arm64",
            "--k8s-backoff-limit=1",
            "--timeout=240",
        ],
    )
    .spawn()
    .expect("coordinator submit");
    let start = Instant::now();
    let killed = loop {
        let running = api.objects().into_iter().find(|o| {
            o["kind"] == "Pod"
                && o["metadata"]["labels"]["kaniko-rs.io/platform"] == "linux-amd64"
                && o["status"]["phase"] == "Running"
        });
        if let Some(pod) = running {
            let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
            api.kill_pod("default", &name);
            break name;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no amd64 pod ran: {:?}",
            api.objects()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let output = tokio::time::timeout(Duration::from_secs(300), async {
        child.wait().await.expect("wait");
        child
    })
    .await
    .expect("submit finished")
    .wait_with_output()
    .await
    .expect("output");
    assert!(output.status.success(), "{}", describe(&output));
    let text = describe(&output);
    assert!(
        text.contains(&format!("pod {killed} (attempt 1)")) && text.contains("the Job tries again"),
        "the killed pod is reported: {text}"
    );
    let amd64_pods = api
        .objects()
        .into_iter()
        .filter(|o| {
            o["kind"] == "Pod" && o["metadata"]["labels"]["kaniko-rs.io/platform"] == "linux-amd64"
        })
        .count();
    assert_eq!(amd64_pods, 2, "the Job replaced the killed pod");
    let index = skopeo_inspect_raw(&destination).expect("skopeo inspect --raw");
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "{index}"
    );
    assert_rbac_allowed(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_deletes_every_job_of_the_build() {
    let registry = registry().await;
    let api = cluster(&["amd64", "arm64"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (context, silent) = never_finishing_context(dir.path(), &registry);
    let destination = format!("{}/app:v1", registry.host());
    let mut command = submit_command(
        &api,
        &registry,
        &context,
        &destination,
        &[
            "--multi-platform=linux/amd64,linux/arm64",
            "--timeout=8s",
            "--k8s-active-deadline=10m",
        ],
    );
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("submit finished")
        .expect("coordinator submit");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = describe(&output);
    assert!(
        text.contains("did not finish within") && text.contains("deleted its Jobs (kaniko-"),
        "{text}"
    );
    assert_eq!(job_creates(&api), 2);
    let deletes = api
        .requests()
        .iter()
        .filter(|r| r.resource == "jobs" && r.verb == "delete")
        .count();
    assert_eq!(deletes, 2, "{:?}", api.requests());
    // Foreground deletion: the Jobs and their pods are gone.
    wait_until_no_jobs_or_pods(&api).await;
    assert_rbac_allowed(&api);
    drop(silent);
}

/// A context whose build never finishes: an ADD from the returned listener, which never
/// answers (keep it alive for the test).
fn never_finishing_context(dir: &Path, registry: &Registry) -> (PathBuf, std::net::TcpListener) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let url = format!("http://{}/never", silent.local_addr().expect("addr"));
    (
        context(dir, registry, &format!("ADD {url} /never\n")),
        silent,
    )
}

/// A failed build published nothing at `destination`, left no Job or pod behind, and made
/// no request the driver's Role denies.
async fn assert_failed_cleanly(api: &KubeApi, destination: &str) {
    assert!(
        skopeo_inspect_raw(destination).is_err(),
        "nothing is published"
    );
    wait_until_no_jobs_or_pods(api).await;
    assert_rbac_allowed(api);
}

/// Waits until no Job or pod is left in the API server (foreground deletion is done).
async fn wait_until_no_jobs_or_pods(api: &KubeApi) {
    let start = Instant::now();
    while api
        .objects()
        .iter()
        .any(|o| o["kind"] == "Job" || o["kind"] == "Pod")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "Jobs or pods left: {:?}",
            api.objects()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpullable_worker_image_fails_naming_the_image_and_publishes_nothing() {
    let registry = registry().await;
    let api = cluster(&["amd64", "arm64"]).await;
    api.set_unpullable_image(WORKER_IMAGE);
    let dir = tempfile::tempdir().expect("tempdir");
    let context = context(dir.path(), &registry, "COPY hello.txt /hello.txt\n");
    let destination = format!("{}/app:v1", registry.host());
    let start = Instant::now();
    let text = submit_failing(
        &api,
        &registry,
        &context,
        &destination,
        &["--multi-platform=linux/amd64,linux/arm64"],
    )
    .await;
    // Reported as soon as the kubelet says so, not when --timeout runs out.
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "took {:?}",
        start.elapsed()
    );
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(
            a_line_with(
                &text,
                &[
                    platform,
                    "ImagePullBackOff",
                    WORKER_IMAGE,
                    "--k8s-worker-image"
                ]
            ),
            "{platform}'s failure names the image and the flag: {text}"
        );
    }
    // A Job that cannot start is not left retrying in the cluster.
    assert_failed_cleanly(&api, &destination).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_active_deadline_fails_as_deadline_exceeded() {
    let registry = registry().await;
    let api = cluster(&["amd64"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (context, silent) = never_finishing_context(dir.path(), &registry);
    let destination = format!("{}/app:v1", registry.host());
    let text = submit_failing(
        &api,
        &registry,
        &context,
        &destination,
        &["--multi-platform=linux/amd64", "--k8s-active-deadline=3"],
    )
    .await;
    assert!(
        text.contains("DeadlineExceeded") && text.contains("--k8s-active-deadline"),
        "the deadline is named, not a generic failure: {text}"
    );
    assert!(
        !text.contains("did not finish within"),
        "the Job's deadline, not --timeout, ended it: {text}"
    );
    assert_failed_cleanly(&api, &destination).await;
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_over_its_memory_limit_fails_as_oom_killed_naming_the_flag() {
    let registry = registry().await;
    let api = cluster(&["amd64"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let context = context(dir.path(), &registry, "COPY hello.txt /hello.txt\n");
    let destination = format!("{}/app:v1", registry.host());
    // The fake kubelet enforces the limit on the worker's resident memory, which is well
    // above 8 MiB once it runs.
    let text = submit_failing(
        &api,
        &registry,
        &context,
        &destination,
        &[
            "--multi-platform=linux/amd64",
            "--k8s-memory=8Mi",
            "--k8s-backoff-limit=0",
        ],
    )
    .await;
    assert!(
        a_line_with(&text, &["linux/amd64", "OOMKilled", "--k8s-memory"]),
        "the platform's failure says it ran out of memory and which flag raises it: {text}"
    );
    assert_failed_cleanly(&api, &destination).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_pod_fails_its_platform_as_evicted_with_the_kubelets_message() {
    let registry = registry().await;
    let api = cluster(&["amd64"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (context, silent) = never_finishing_context(dir.path(), &registry);
    let destination = format!("{}/app:v1", registry.host());
    let child = submit_command(
        &api,
        &registry,
        &context,
        &destination,
        &[
            "--multi-platform=linux/amd64",
            "--k8s-backoff-limit=0",
            "--timeout=240",
        ],
    )
    .spawn()
    .expect("coordinator submit");
    let start = Instant::now();
    const MESSAGE: &str = "The node was low on resource: ephemeral-storage. Threshold quantity: \
                           1Gi, available: 512Mi.";
    loop {
        let running = api.running_pods("default");
        if let Some(name) = running.first() {
            assert!(api.evict_pod("default", name, MESSAGE), "evicting {name}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no pod ran: {:?}",
            api.objects()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("submit finished")
        .expect("output");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = describe(&output);
    assert!(
        a_line_with(&text, &["linux/amd64", "Evicted", MESSAGE]),
        "the eviction and the kubelet's reason are reported, not an exit code: {text}"
    );
    assert_failed_cleanly(&api, &destination).await;
    drop(silent);
}
