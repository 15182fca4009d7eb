// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The fake kubelet: runs each scheduled pod's first container as a real process on this
//! machine (see the module documentation of `kube_api` for the command, env and volume
//! mapping), captures its output for pods/log, and reports Running, then Succeeded or
//! Failed with the exit code, reason and termination message. A pod whose image was made
//! unpullable stays Pending in ImagePullBackOff; a deleted pod's process is stopped. A
//! container over its memory limit is OOM-killed and an evicted pod reported as the real
//! kubelet reports them (see the module documentation of `kube_api`).

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::controllers::record_event;
use super::selector::Selectors;
use super::store::{self, now};
use super::{PodLog, Shared};

/// The most of a termination message the kubelet keeps, as the real one.
const MAX_TERMINATION_MESSAGE: usize = 4096;
/// How long a deleted pod's process has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// How often a container's memory is compared with its limit.
const MEMORY_SAMPLE: Duration = Duration::from_millis(50);

/// A Kubernetes quantity of bytes (`64Mi`, `1Gi`, `500M`, `2k`, `1048576`); `None` when it
/// is not one.
fn parse_bytes(quantity: &str) -> Option<u64> {
    let units: [(&str, u64); 10] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("K", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("", 1),
    ];
    units.iter().find_map(|(suffix, factor)| {
        let number = quantity.strip_suffix(suffix)?;
        number.parse::<u64>().ok()?.checked_mul(*factor)
    })
}

/// The resident memory of `root` and every process below it, in bytes (from /proc).
fn tree_rss(root: i32) -> u64 {
    let mut parents: Vec<(i32, i32, u64)> = Vec::new();
    let page = 4096u64;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the command (which may hold spaces) start after the last ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ppid = fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0);
            let rss_pages: u64 = fields.get(21).and_then(|f| f.parse().ok()).unwrap_or(0);
            parents.push((pid, ppid, rss_pages * page));
        }
    }
    let mut tree = vec![root];
    let mut total = 0;
    let mut i = 0;
    while let Some(&pid) = tree.get(i) {
        for &(child, parent, rss) in &parents {
            if child == pid {
                total += rss;
            }
            if parent == pid && child != pid {
                tree.push(child);
            }
        }
        i += 1;
    }
    total
}

/// Sends `signal` to a process group.
pub(crate) fn kill_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
    unsafe {
        libc::kill(-pid, signal);
    }
}

type PodKey = (String, String);

/// What the kubelet remembers between syncs.
#[derive(Default)]
pub(crate) struct Kubelet {
    /// Pods handled already (started, or reported unpullable).
    handled: HashSet<PodKey>,
    /// Pods whose volumes could not be prepared, reported once.
    failed_mount: HashSet<PodKey>,
    /// Deleted pods whose process was told to stop.
    stopping: HashSet<PodKey>,
}

/// A prepared container process.
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: PathBuf,
    termination_file: PathBuf,
    fallback_to_logs: bool,
}

impl Kubelet {
    pub fn sync(&mut self, shared: &Arc<Shared>) {
        let pods = shared.read(|s| s.list(store::pods(), None, &Selectors::default()));
        let present: HashSet<PodKey> = pods.iter().map(key).collect();
        for pod in &pods {
            let k = key(pod);
            if pod["spec"]["nodeName"].is_null()
                || pod["status"]["phase"] != "Pending"
                || self.handled.contains(&k)
            {
                continue;
            }
            let image = pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default();
            if shared.unpullable.lock().unwrap().contains(image) {
                self.handled.insert(k);
                image_pull_backoff(shared, pod, image);
                continue;
            }
            match prepare(shared, pod) {
                Ok(launch) => {
                    self.handled.insert(k);
                    tokio::spawn(run_container(shared.clone(), pod.clone(), launch));
                }
                Err(message) => {
                    if self.failed_mount.insert(k) {
                        shared.write(|s| {
                            record_event(s, pod, "Warning", "FailedMount", &message, "kubelet")
                        });
                    }
                }
            }
        }
        let pids = shared.pids.lock().unwrap().clone();
        for (k, pid) in pids {
            if !present.contains(&k) && self.stopping.insert(k) {
                kill_group(pid, libc::SIGTERM);
                tokio::spawn(async move {
                    tokio::time::sleep(GRACE).await;
                    kill_group(pid, libc::SIGKILL);
                });
            }
        }
        self.handled.retain(|k| present.contains(k));
        self.failed_mount.retain(|k| present.contains(k));
    }
}

fn key(pod: &Value) -> PodKey {
    (
        pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn image_pull_backoff(shared: &Shared, pod: &Value, image: &str) {
    let (ns, name) = key(pod);
    let container = pod["spec"]["containers"][0]["name"].clone();
    let message = format!("Back-off pulling image \"{image}\"");
    shared.write(|s| {
        let _ = s.modify(store::pods(), &ns, &name, |p| {
            p["status"]["containerStatuses"] = json!([{
                "name": container, "image": image, "imageID": "", "ready": false,
                "started": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}},
            }]);
        });
        record_event(
            s,
            pod,
            "Warning",
            "Failed",
            &format!("Failed to pull image \"{image}\": pull access denied, repository does not exist or may require authorization"),
            "kubelet",
        );
        record_event(s, pod, "Normal", "BackOff", &message, "kubelet");
    });
}

/// Rewrites a value that is, starts with, or has after its first `=` a container path.
fn rewrite(value: &str, mounts: &BTreeMap<String, PathBuf>) -> String {
    let map = |v: &str| -> Option<String> {
        // Longest mount path first, so /a/b wins over /a.
        mounts.iter().rev().find_map(|(container, host)| {
            let rest = v.strip_prefix(container.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{}{rest}", host.display()))
        })
    };
    if let Some(v) = map(value) {
        return v;
    }
    if let Some((flag, v)) = value.split_once('=')
        && let Some(v) = map(v)
    {
        return format!("{flag}={v}");
    }
    value.to_string()
}

fn secret_data(shared: &Shared, ns: &str, name: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let secret = shared
        .read(|s| s.get(store::resource("", "secrets").unwrap(), ns, name))
        .map_err(|_| format!("MountVolume.SetUp failed: secret \"{name}\" not found"))?;
    let mut data = BTreeMap::new();
    if let Some(map) = secret["data"].as_object() {
        for (k, v) in map {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .map_err(|e| format!("secret {name} key {k} is not base64: {e}"))?;
            data.insert(k.clone(), bytes);
        }
    }
    Ok(data)
}

fn materialise_volume(shared: &Shared, ns: &str, volume: &Value, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if let Some(secret) = volume.get("secret") {
        let name = secret["secretName"].as_str().unwrap_or_default();
        let data = match secret_data(shared, ns, name) {
            Ok(d) => d,
            Err(_) if secret["optional"] == true => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        let items: Vec<(String, String)> = match secret["items"].as_array() {
            Some(items) => items
                .iter()
                .map(|i| {
                    (
                        i["key"].as_str().unwrap_or_default().to_string(),
                        i["path"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
        };
        for (k, path) in items {
            let bytes = data
                .get(&k)
                .ok_or_else(|| format!("secret \"{name}\" has no key \"{k}\""))?;
            let file = dir.join(&path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&file, bytes).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444))
                .map_err(|e| e.to_string())?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn prepare(shared: &Shared, pod: &Value) -> Result<Launch, String> {
    let (ns, name) = key(pod);
    let container = &pod["spec"]["containers"][0];
    let dir = shared.pods_dir.join(format!("{ns}_{name}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut mounts: BTreeMap<String, PathBuf> = BTreeMap::new();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let volume_name = mount["name"].as_str().unwrap_or_default();
        let volume = pod["spec"]["volumes"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == volume_name))
            .ok_or_else(|| format!("volume \"{volume_name}\" is not in the pod's volumes"))?;
        let host = dir.join("volumes").join(volume_name);
        if !host.exists() {
            materialise_volume(shared, &ns, volume, &host)?;
        }
        let host = match mount["subPath"].as_str() {
            Some(sub) if !sub.is_empty() => host.join(sub),
            _ => host,
        };
        let path = mount["mountPath"].as_str().unwrap_or_default();
        mounts.insert(path.trim_end_matches('/').to_string(), host);
    }
    let termination_file = dir.join("termination-log");
    std::fs::write(&termination_file, b"").map_err(|e| e.to_string())?;
    let termination_path = container["terminationMessagePath"]
        .as_str()
        .unwrap_or("/dev/termination-log");
    mounts.insert(termination_path.to_string(), termination_file.clone());

    let mut words: Vec<String> = container["command"]
        .as_array()
        .into_iter()
        .chain(container["args"].as_array())
        .flatten()
        .map(|w| w.as_str().unwrap_or_default().to_string())
        .collect();
    if words.is_empty() {
        return Err(
            "the fake kubelet needs the container's command (images have no entrypoint here)"
                .to_string(),
        );
    }
    let first = words.remove(0);
    let program = if first == "worker" || first.ends_with("/worker") {
        shared.worker_bin.clone()
    } else {
        PathBuf::from(rewrite(&first, &mounts))
    };
    let args = words.iter().map(|w| rewrite(w, &mounts)).collect();

    let mut env: Vec<(String, String)> = ["PATH", "HOME", "TMPDIR", "RUST_LOG", "RUST_BACKTRACE"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    env.push(("HOSTNAME".to_string(), name.clone()));
    for var in container["env"].as_array().into_iter().flatten() {
        let var_name = var["name"].as_str().unwrap_or_default().to_string();
        let value = if let Some(v) = var["value"].as_str() {
            v.to_string()
        } else if let Some(secret) = var["valueFrom"].get("secretKeyRef") {
            let secret_name = secret["name"].as_str().unwrap_or_default();
            let k = secret["key"].as_str().unwrap_or_default();
            let data = secret_data(shared, &ns, secret_name)?;
            let bytes = data
                .get(k)
                .ok_or_else(|| format!("couldn't find key {k} in Secret {ns}/{secret_name}"))?;
            String::from_utf8_lossy(bytes).into_owned()
        } else if let Some(field) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match field {
                "metadata.name" => name.clone(),
                "metadata.namespace" => ns.clone(),
                "spec.nodeName" => pod["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                "status.podIP" | "status.hostIP" => "127.0.0.1".to_string(),
                other => {
                    return Err(format!(
                        "the fake kubelet does not resolve fieldRef {other}"
                    ));
                }
            }
        } else {
            String::new()
        };
        env.push((var_name, rewrite(&value, &mounts)));
    }
    let mapping: BTreeMap<&String, String> = mounts
        .iter()
        .map(|(c, h)| (c, h.display().to_string()))
        .collect();
    env.push((
        "KANIKO_FAKE_KUBELET_MOUNTS".to_string(),
        serde_json::to_string(&mapping).unwrap(),
    ));
    Ok(Launch {
        program,
        args,
        env,
        dir,
        termination_file,
        fallback_to_logs: container["terminationMessagePolicy"] == "FallbackToLogsOnError",
    })
}

async fn pump(mut reader: BufReader<impl AsyncRead + Unpin>, log: Arc<PodLog>) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => log.append(&line),
        }
    }
}

fn set_status(shared: &Shared, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
    shared.write(|s| {
        let _ = s.modify(store::pods(), ns, name, f);
    });
}

fn pod_conditions(ready: bool, reason: Option<&str>) -> Value {
    let t = now();
    let mut cs = vec![];
    for kind in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        let is_ready_kind = kind == "Ready" || kind == "ContainersReady";
        let status = if is_ready_kind && !ready {
            "False"
        } else {
            "True"
        };
        let mut c =
            json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": t});
        if is_ready_kind && let Some(reason) = reason {
            c["reason"] = json!(reason);
        }
        cs.push(c);
    }
    json!(cs)
}

async fn run_container(shared: Arc<Shared>, pod: Value, launch: Launch) {
    let (ns, name) = key(&pod);
    let container = &pod["spec"]["containers"][0];
    let container_name = container["name"].clone();
    let image = container["image"].clone();
    let started_at = now();
    let mut command = tokio::process::Command::new(&launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&launch.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let message = format!(
                "failed to create containerd task: exec: \"{}\": {e}",
                launch.program.display()
            );
            set_status(&shared, &ns, &name, |p| {
                p["status"]["phase"] = json!("Failed");
                p["status"]["containerStatuses"] = json!([{
                    "name": container_name, "image": image, "imageID": "", "ready": false,
                    "started": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 128, "reason": "StartError",
                              "message": message, "startedAt": started_at, "finishedAt": now()}},
                }]);
            });
            return;
        }
    };
    let pid = child.id().unwrap_or_default() as i32;
    let log = Arc::new(PodLog::default());
    shared
        .logs
        .lock()
        .unwrap()
        .insert((ns.clone(), name.clone()), log.clone());
    shared
        .pids
        .lock()
        .unwrap()
        .insert((ns.clone(), name.clone()), pid);
    let container_id = format!("fake://{pid}");
    set_status(&shared, &ns, &name, |p| {
        let status = &mut p["status"];
        status["phase"] = json!("Running");
        status["hostIP"] = json!("127.0.0.1");
        status["podIP"] = json!("127.0.0.1");
        status["podIPs"] = json!([{"ip": "127.0.0.1"}]);
        status["startTime"] = json!(started_at);
        status["conditions"] = pod_conditions(true, None);
        status["containerStatuses"] = json!([{
            "name": container_name, "image": image, "imageID": image,
            "containerID": container_id, "ready": true, "started": true, "restartCount": 0,
            "state": {"running": {"startedAt": started_at}},
        }]);
    });
    // The memory limit, enforced on the container's process tree as the kernel's cgroup
    // would: over it, everything is killed and the container is OOMKilled.
    let limit = container["resources"]["limits"]["memory"]
        .as_str()
        .and_then(parse_bytes);
    let oom_killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = limit.map(|limit| {
        let oom_killed = oom_killed.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(MEMORY_SAMPLE).await;
                let used = tokio::task::spawn_blocking(move || tree_rss(pid))
                    .await
                    .unwrap_or(0);
                if used > limit {
                    oom_killed.store(true, std::sync::atomic::Ordering::SeqCst);
                    kill_group(pid, libc::SIGKILL);
                    return;
                }
            }
        })
    });
    let stdout = tokio::spawn(pump(
        BufReader::new(child.stdout.take().unwrap()),
        log.clone(),
    ));
    let stderr = tokio::spawn(pump(
        BufReader::new(child.stderr.take().unwrap()),
        log.clone(),
    ));
    let status = child.wait().await;
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    let _ = stdout.await;
    let _ = stderr.await;
    log.finish();
    shared
        .pids
        .lock()
        .unwrap()
        .remove(&(ns.clone(), name.clone()));
    let exit_code = match status {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9)),
        Err(_) => 128,
    };
    let mut message = std::fs::read(&launch.termination_file).unwrap_or_default();
    message.truncate(MAX_TERMINATION_MESSAGE);
    let mut message = String::from_utf8_lossy(&message).into_owned();
    if message.is_empty() && exit_code != 0 && launch.fallback_to_logs {
        let logs = log.snapshot();
        let text = String::from_utf8_lossy(&logs);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(80)..].join("\n");
        let mut cut = tail.len().saturating_sub(2048);
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        message = tail[cut..].to_string();
    }
    let oom_killed = oom_killed.load(std::sync::atomic::Ordering::SeqCst);
    let evicted = shared
        .evicted
        .lock()
        .unwrap()
        .remove(&(ns.clone(), name.clone()));
    let (phase, reason) = match (exit_code, oom_killed) {
        (0, _) => ("Succeeded", "Completed"),
        (_, true) => ("Failed", "OOMKilled"),
        _ => ("Failed", "Error"),
    };
    set_status(&shared, &ns, &name, |p| {
        let status = &mut p["status"];
        status["phase"] = json!(phase);
        if let Some(message) = &evicted {
            status["reason"] = json!("Evicted");
            status["message"] = json!(message);
        }
        status["conditions"] = pod_conditions(
            false,
            Some(if exit_code == 0 {
                "PodCompleted"
            } else {
                "PodFailed"
            }),
        );
        let mut terminated = json!({
            "exitCode": exit_code, "reason": reason, "startedAt": started_at,
            "finishedAt": now(), "containerID": container_id,
        });
        if !message.is_empty() {
            terminated["message"] = json!(message);
        }
        status["containerStatuses"] = json!([{
            "name": container_name, "image": image, "imageID": image,
            "containerID": container_id, "ready": false, "started": false, "restartCount": 0,
            "state": {"terminated": terminated},
        }]);
    });
}
