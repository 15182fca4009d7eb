// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A Kubernetes API server on loopback for the k8s driver's tests: the real REST and watch
//! protocol over HTTP (JSON only) for Jobs, Pods (with pods/log), Secrets, ServiceAccounts,
//! Events and Nodes, one resourceVersion counter, Status objects for 404/409/410/422, label
//! and field selectors, chunked watch streams with bookmarks and 410 Gone past the kept
//! history. Behind it run a job controller, a scheduler (nodeSelector against fake nodes'
//! labels) and a kubelet that runs each pod's first container as a real process on this
//! machine. Requests are authorised by the RBAC rules of a YAML file (the repository's
//! deploy/kubernetes/base/driver-rbac.yaml) and recorded. The real `kube::Client` and
//! `kubectl` work against it unchanged.
//!
//! What it is not: no TLS, no protobuf, no server-side apply, no admission webhooks, no
//! container isolation or images (the image name only matters to
//! [`KubeApi::set_unpullable_image`]), no backoff delay between a Job's retries, no graceful
//! deletion (an object is gone at once; a deleted pod's process gets SIGTERM, then SIGKILL
//! after two seconds), `restartPolicy: OnFailure` treated as `Never`.
//!
//! Two of the kubelet's ways of ending a pod are simulated as the real one reports them: a
//! container's `resources.limits.memory` is enforced on its process tree's resident memory
//! (sampled every 50 ms; over it, the tree is killed and the container terminated with
//! reason `OOMKilled`, exit code 137), and [`KubeApi::evict_pod`] evicts a running pod (its
//! processes killed, the pod `Failed` with reason `Evicted` and the kubelet's message, its
//! container terminated with exit code 137).
//!
//! The kubelet runs a pod's first container: `command` + `args`, the first word `worker` (or
//! any path ending in `/worker`) replaced by the `worker_bin` given to [`KubeApi::start`]. The
//! process gets only PATH, HOME, TMPDIR, RUST_LOG and RUST_BACKTRACE from this process,
//! HOSTNAME (the pod's name) and the container's `env` (values, `secretKeyRef`, `fieldRef`).
//! Secret and emptyDir volumes are directories in a temporary directory (secret files
//! mode 0444, which does not stop a root process); the container paths are mapped, and the mapping is applied by rewriting every
//! argument and env value that is, starts with or has after its first `=` a mount path (or
//! the `terminationMessagePath`) to the host path. The mapping is also passed as the JSON
//! object `{container path: host path}` in env `KANIKO_FAKE_KUBELET_MOUNTS`.

mod controllers;
mod kubelet;
mod rbac;
mod selector;
mod server;
mod store;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde_json::json;

use self::rbac::Rbac;
use self::store::Store;

/// The node label that carries a node's architecture variant (`v8` for arm64/v8), set on
/// [`FakeNode`]s that have one. Kubernetes has no well-known label for it.
pub const VARIANT_LABEL: &str = "kaniko-rs.io/arch-variant";

/// The bearer token in [`KubeApi::kubeconfig`]: its requests, and requests without a token
/// (kubectl sends none over plain HTTP), are checked against the RBAC rules.
pub const DRIVER_TOKEN: &str = "kaniko-rs-driver-token";
/// The bearer token in [`KubeApi::admin_kubeconfig`]: its requests bypass RBAC (test setup).
pub const ADMIN_TOKEN: &str = "kaniko-rs-admin-token";

/// A node of the fake cluster.
#[derive(Debug, Clone)]
pub struct FakeNode {
    pub name: String,
    /// `linux`
    pub os: String,
    /// `amd64`, `arm64`
    pub arch: String,
    /// `v8`: set as the [`VARIANT_LABEL`] label.
    pub variant: Option<String>,
}

impl FakeNode {
    pub fn new(name: &str, os: &str, arch: &str, variant: Option<&str>) -> FakeNode {
        FakeNode {
            name: name.to_string(),
            os: os.to_string(),
            arch: arch.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    fn object(&self) -> serde_json::Value {
        let mut labels = json!({
            "kubernetes.io/os": self.os,
            "kubernetes.io/arch": self.arch,
            "kubernetes.io/hostname": self.name,
            "beta.kubernetes.io/os": self.os,
            "beta.kubernetes.io/arch": self.arch,
        });
        if let Some(variant) = &self.variant {
            labels[VARIANT_LABEL] = json!(variant);
        }
        json!({
            "metadata": {"name": self.name, "labels": labels},
            "spec": {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status"}],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                              {"type": "Hostname", "address": self.name}],
                "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                "nodeInfo": {
                    "operatingSystem": self.os, "architecture": self.arch,
                    "kubeletVersion": "v1.33.0", "containerRuntimeVersion": "fake://1.0",
                    "osImage": "kaniko-rs fake kubelet", "kernelVersion": "",
                    "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": "",
                },
            },
        })
    }
}

/// One request the server answered: what it asked for and whether RBAC allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// RBAC's verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// API group, "" for core.
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// False when RBAC refused it (answered 403).
    pub allowed: bool,
    /// True for requests with [`ADMIN_TOKEN`], which bypass RBAC.
    pub admin: bool,
}

/// The captured output of a pod's process (stdout and stderr, line by line).
#[derive(Default)]
pub(crate) struct PodLog {
    data: Mutex<Vec<u8>>,
    /// (bytes so far, process finished)
    progress: tokio::sync::watch::Sender<(usize, bool)>,
}

impl PodLog {
    fn append(&self, line: &[u8]) {
        let mut data = self.data.lock().unwrap();
        data.extend_from_slice(line);
        let len = data.len();
        self.progress.send_modify(|p| p.0 = len);
    }

    fn finish(&self) {
        self.progress.send_modify(|p| p.1 = true);
    }

    fn snapshot(&self) -> Vec<u8> {
        self.data.lock().unwrap().clone()
    }
}

/// The state the server, the controllers and the kubelet share.
pub(crate) struct Shared {
    store: Mutex<Store>,
    /// The store's resourceVersion after each change, to wake watches and controllers.
    changed: tokio::sync::watch::Sender<u64>,
    shutdown: tokio::sync::watch::Sender<bool>,
    rbac: Rbac,
    requests: Mutex<Vec<RequestRecord>>,
    logs: Mutex<HashMap<(String, String), Arc<PodLog>>>,
    unpullable: Mutex<HashSet<String>>,
    /// Pods being evicted, with the kubelet's message.
    evicted: Mutex<HashMap<(String, String), String>>,
    /// Process group of each running pod.
    pids: Mutex<HashMap<(String, String), i32>>,
    worker_bin: PathBuf,
    /// Where the kubelet puts pods' volumes and termination-message files.
    pods_dir: PathBuf,
}

impl Shared {
    /// Runs `f` on the store and wakes everything waiting for changes.
    fn write<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let (result, rv) = {
            let mut store = self.store.lock().unwrap();
            let result = f(&mut store);
            (result, store.resource_version())
        };
        self.changed.send_if_modified(|current| {
            let modified = *current != rv;
            *current = rv;
            modified
        });
        result
    }

    fn read<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.store.lock().unwrap())
    }

    fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// A running fake API server with its controllers; everything stops (and every pod process
/// is killed) on drop.
pub struct KubeApi {
    shared: Arc<Shared>,
    port: u16,
    kubeconfig: PathBuf,
    admin_kubeconfig: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

fn write_kubeconfig(path: &Path, url: &str, token: &str) -> anyhow::Result<()> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "fake", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                  "namespace": "default"}}],
        "current-context": "fake",
    });
    std::fs::write(path, serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("writing {}", path.display()))
}

impl KubeApi {
    /// Starts the server on 127.0.0.1:0 with these nodes; pods are run by the fake kubelet
    /// with `worker_bin` standing in for the container's `worker` binary, and requests with
    /// the kubeconfig's token are authorised by the rules in `rbac_yaml`.
    pub async fn start(
        nodes: Vec<FakeNode>,
        worker_bin: PathBuf,
        rbac_yaml: &Path,
    ) -> anyhow::Result<KubeApi> {
        let rbac = Rbac::load(rbac_yaml)?;
        let dir = tempfile::tempdir().context("creating the fake API server's directory")?;
        let pods_dir = dir.path().join("pods");
        std::fs::create_dir(&pods_dir)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the fake API server")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            changed: tokio::sync::watch::Sender::new(0),
            shutdown: tokio::sync::watch::Sender::new(false),
            rbac,
            requests: Mutex::new(Vec::new()),
            logs: Mutex::new(HashMap::new()),
            unpullable: Mutex::new(HashSet::new()),
            evicted: Mutex::new(HashMap::new()),
            pids: Mutex::new(HashMap::new()),
            worker_bin,
            pods_dir,
        });
        shared.write(|store| {
            for node in &nodes {
                store
                    .create(store::nodes(), "", node.object())
                    .map_err(|e| anyhow::anyhow!("node {}: {}", node.name, e.message))?;
            }
            for ns in ["default", "kaniko-rs"] {
                store
                    .create(
                        store::resource("", "serviceaccounts").unwrap(),
                        ns,
                        json!({"metadata": {"name": "default"}}),
                    )
                    .map_err(|e| anyhow::anyhow!("service account: {}", e.message))?;
            }
            anyhow::Ok(())
        })?;
        let url = format!("http://127.0.0.1:{port}");
        let kubeconfig = dir.path().join("kubeconfig");
        write_kubeconfig(&kubeconfig, &url, DRIVER_TOKEN)?;
        let admin_kubeconfig = dir.path().join("admin-kubeconfig");
        write_kubeconfig(&admin_kubeconfig, &url, ADMIN_TOKEN)?;
        let tasks = vec![
            tokio::spawn(server::serve(listener, shared.clone())),
            tokio::spawn(controllers::run(shared.clone())),
        ];
        Ok(KubeApi {
            shared,
            port,
            kubeconfig,
            admin_kubeconfig,
            tasks,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig (this server, namespace "default", [`DRIVER_TOKEN`]) whose requests RBAC
    /// checks.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kubeconfig like [`KubeApi::kubeconfig`] with [`ADMIN_TOKEN`]: RBAC is bypassed, for
    /// a test's own setup (Secrets, checks).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Every stored object (with `kind` and `apiVersion`).
    pub fn objects(&self) -> Vec<serde_json::Value> {
        self.shared.read(|store| store.all())
    }

    /// Kills the pod's process with SIGKILL (its container exits 137); nothing happens if
    /// the pod has no running process.
    pub fn kill_pod(&self, namespace: &str, name: &str) {
        let pid = self
            .shared
            .pids
            .lock()
            .unwrap()
            .get(&(namespace.to_string(), name.to_string()))
            .copied();
        if let Some(pid) = pid {
            kubelet::kill_group(pid, libc::SIGKILL);
        }
    }

    /// Evicts a running pod as the kubelet does under node pressure: its processes are
    /// killed and it ends `Failed`, reason `Evicted`, with `message`. `false` if the pod has
    /// no running process.
    pub fn evict_pod(&self, namespace: &str, name: &str, message: &str) -> bool {
        let key = (namespace.to_string(), name.to_string());
        let Some(pid) = self.shared.pids.lock().unwrap().get(&key).copied() else {
            return false;
        };
        self.shared
            .evicted
            .lock()
            .unwrap()
            .insert(key, message.to_string());
        kubelet::kill_group(pid, libc::SIGKILL);
        true
    }

    /// The names of the pods in `namespace` whose container is running.
    pub fn running_pods(&self, namespace: &str) -> Vec<String> {
        self.shared
            .pids
            .lock()
            .unwrap()
            .keys()
            .filter(|(ns, _)| ns == namespace)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// Pods whose first container has this image stay Pending in ImagePullBackOff.
    pub fn set_unpullable_image(&self, image: &str) {
        self.shared
            .unpullable
            .lock()
            .unwrap()
            .insert(image.to_string());
    }

    /// Forgets the change history, as etcd's compaction does: a watch from any earlier
    /// resourceVersion then answers 410 Gone.
    pub fn compact(&self) {
        self.shared.write(|store| store.compact());
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
        for pid in self.shared.pids.lock().unwrap().values() {
            kubelet::kill_group(*pid, libc::SIGKILL);
        }
    }
}
