// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The control loop behind the fake API server: on every change (and every 100 ms, for
//! deadlines) the job controller, the scheduler and the kubelet each reconcile once.
//!
//! Job controller: a pod per missing completion (`<job>-<random5>`, owner reference, labels
//! `job-name`/`controller-uid`, the template copied), retries until more than `backoffLimit`
//! pods failed, then `Failed`/`BackoffLimitExceeded`; `activeDeadlineSeconds` gives
//! `Failed`/`DeadlineExceeded`; status counts and the `Complete` condition as Kubernetes 1.33
//! sets them. Scheduler: a pending pod goes to the first node whose labels match its
//! `nodeSelector` and whose NoSchedule/NoExecute taints it tolerates, or stays Pending with
//! `PodScheduled=False`, reason `Unschedulable`, and the default scheduler's message.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Shared;
use super::kubelet::Kubelet;
use super::selector::Selectors;
use super::store::{self, Propagation, Store, now};

const TICK: Duration = Duration::from_millis(100);

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut changed = shared.changed.subscribe();
    let mut kubelet = Kubelet::default();
    loop {
        shared.write(|s| {
            reconcile_jobs(s);
            schedule(s);
        });
        kubelet.sync(&shared);
        tokio::select! {
            _ = changed.changed() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

fn condition(kind: &str, reason: &str, message: &str) -> Value {
    let t = now();
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
           "lastProbeTime": t, "lastTransitionTime": t})
}

fn is_finished(job: &Value) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
    })
}

fn seconds_since(timestamp: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(timestamp)
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
        .unwrap_or(0)
}

fn reconcile_jobs(s: &mut Store) {
    let jobs = s.list(store::jobs(), None, &Selectors::default());
    for job in jobs.into_iter().filter(|j| !is_finished(j)) {
        reconcile_job(s, &job);
    }
}

fn reconcile_job(s: &mut Store, job: &Value) {
    let ns = job["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = job["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let uid = job["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let spec = &job["spec"];
    let pods = s.list(
        store::pods(),
        Some(&ns),
        &Selectors::label_equals("controller-uid", &uid),
    );
    let phase = |p: &Value| {
        p["status"]["phase"]
            .as_str()
            .unwrap_or("Pending")
            .to_string()
    };
    let active: Vec<&Value> = pods
        .iter()
        .filter(|p| matches!(phase(p).as_str(), "Pending" | "Running"))
        .collect();
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
    let ready = pods.iter().filter(|p| phase(p) == "Running").count() as i64;
    let completions = spec["completions"].as_i64().unwrap_or(1);
    let parallelism = spec["parallelism"].as_i64().unwrap_or(1);
    let backoff_limit = spec["backoffLimit"].as_i64().unwrap_or(6);
    let start_time = job["status"]["startTime"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(now);
    let deadline_passed = spec["activeDeadlineSeconds"]
        .as_i64()
        .is_some_and(|d| seconds_since(&start_time) >= d);

    let failure = if failed > backoff_limit {
        Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    } else if deadline_passed && succeeded < completions {
        Some((
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
    } else {
        None
    };
    let mut conditions = Vec::new();
    let mut active_count = active.len() as i64;
    if let Some((reason, message)) = failure {
        for pod in &active {
            let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let _ = s.delete(store::pods(), &ns, pod_name, Propagation::Background);
        }
        active_count = 0;
        conditions.push(condition("FailureTarget", reason, message));
        conditions.push(condition("Failed", reason, message));
    } else if succeeded >= completions {
        conditions.push(condition(
            "SuccessCriteriaMet",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ));
        conditions.push(condition(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ));
    } else {
        let wanted = parallelism.min(completions - succeeded) - active_count;
        for _ in 0..wanted.max(0) {
            if create_pod(s, job, &ns, &name, &uid) {
                active_count += 1;
            }
        }
    }
    let finished = !conditions.is_empty();
    let _ = s.modify(store::jobs(), &ns, &name, |job| {
        let status = &mut job["status"];
        status["startTime"] = json!(start_time);
        status["active"] = json!(active_count);
        status["ready"] = json!(if finished { 0 } else { ready });
        status["succeeded"] = json!(succeeded);
        status["failed"] = json!(failed);
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        if finished {
            if succeeded >= completions {
                status["completionTime"] = json!(now());
            }
            status["conditions"] = json!(conditions);
        }
        // Zero counts are omitted by the real API server.
        for field in ["active", "succeeded", "failed"] {
            if status[field] == json!(0) {
                status.as_object_mut().unwrap().remove(field);
            }
        }
    });
}

fn create_pod(s: &mut Store, job: &Value, ns: &str, name: &str, uid: &str) -> bool {
    let template = &job["spec"]["template"];
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["name"] = json!(format!(
        "{}-{}",
        &name[..name.len().min(57)],
        store::random_suffix()
    ));
    metadata["generateName"] = json!(format!("{name}-"));
    metadata["ownerReferences"] = json!([{
        "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true,
    }]);
    let pod = json!({"metadata": metadata, "spec": template["spec"]});
    match s.create(store::pods(), ns, pod) {
        Ok(pod) => {
            let pod_name = pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            record_event(
                s,
                job,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {pod_name}"),
                "job-controller",
            );
            true
        }
        Err(e) => {
            record_event(
                s,
                job,
                "Warning",
                "FailedCreate",
                &format!("Error creating: {}", e.message),
                "job-controller",
            );
            false
        }
    }
}

/// Records an Event about `object`, as the component `source` would.
pub(crate) fn record_event(
    s: &mut Store,
    object: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    source: &str,
) {
    let ns = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let t = now();
    let event = json!({
        "metadata": {"name": format!("{name}.{}", store::random_suffix()), "namespace": ns},
        "involvedObject": {
            "kind": object["kind"], "apiVersion": object["apiVersion"], "name": name,
            "namespace": ns, "uid": object["metadata"]["uid"],
            "resourceVersion": object["metadata"]["resourceVersion"],
        },
        "reason": reason, "message": message, "type": kind, "count": 1,
        "source": {"component": source}, "firstTimestamp": t, "lastTimestamp": t,
        "reportingComponent": source, "reportingInstance": "",
    });
    let _ = s.create(store::events(), ns, event);
}

fn tolerates(pod: &Value, taint: &Value) -> bool {
    pod["spec"]["tolerations"].as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            let key_ok = t["key"].is_null() || t["key"] == taint["key"];
            let effect_ok = t["effect"].is_null() || t["effect"] == taint["effect"];
            let value_ok = t["operator"] == "Exists"
                || t["value"] == taint["value"]
                || (t["value"].is_null() && taint["value"].as_str().is_none_or(str::is_empty));
            key_ok && effect_ok && value_ok
        })
    })
}

fn schedule(s: &mut Store) {
    let pods = s.list(store::pods(), None, &Selectors::default());
    let nodes = s.list(store::nodes(), None, &Selectors::default());
    for pod in pods {
        if !pod["spec"]["nodeName"].is_null() || pod["status"]["phase"] != "Pending" {
            continue;
        }
        let ns = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut unmatched = 0;
        let mut tainted: Vec<String> = Vec::new();
        let mut chosen = None;
        for node in &nodes {
            let selector_ok = pod["spec"]["nodeSelector"]
                .as_object()
                .is_none_or(|sel| sel.iter().all(|(k, v)| node["metadata"]["labels"][k] == *v));
            if !selector_ok {
                unmatched += 1;
                continue;
            }
            let untolerated = node["spec"]["taints"].as_array().and_then(|taints| {
                taints
                    .iter()
                    .filter(|t| t["effect"] == "NoSchedule" || t["effect"] == "NoExecute")
                    .find(|t| !tolerates(&pod, t))
                    .cloned()
            });
            if let Some(taint) = untolerated {
                tainted.push(format!(
                    "{{{}: {}}}",
                    taint["key"].as_str().unwrap_or_default(),
                    taint["value"].as_str().unwrap_or_default()
                ));
                continue;
            }
            chosen = Some(node["metadata"]["name"].clone());
            break;
        }
        if let Some(node_name) = chosen {
            let scheduled = s.modify(store::pods(), &ns, &name, |p| {
                p["spec"]["nodeName"] = node_name.clone();
                p["status"]["conditions"] = json!([{
                    "type": "PodScheduled", "status": "True", "lastProbeTime": null,
                    "lastTransitionTime": now(),
                }]);
            });
            if let Ok(p) = scheduled {
                let message = format!(
                    "Successfully assigned {ns}/{name} to {}",
                    node_name.as_str().unwrap_or_default()
                );
                record_event(s, &p, "Normal", "Scheduled", &message, "default-scheduler");
            }
            continue;
        }
        let n = nodes.len();
        let mut reasons = Vec::new();
        if !tainted.is_empty() {
            tainted.sort();
            tainted.dedup();
            reasons.push(format!(
                "{} node(s) had untolerated taint {}",
                n - unmatched,
                tainted.join(", ")
            ));
        }
        if unmatched > 0 {
            reasons.push(format!(
                "{unmatched} node(s) didn't match Pod's node affinity/selector"
            ));
        }
        let message = format!(
            "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.",
            reasons.join(", ")
        );
        let already = pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "PodScheduled" && c["message"] == message.as_str())
        });
        if already {
            continue;
        }
        if let Ok(p) = s.modify(store::pods(), &ns, &name, |p| {
            p["status"]["conditions"] = json!([{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": message, "lastProbeTime": null, "lastTransitionTime": now(),
            }]);
        }) {
            record_event(
                s,
                &p,
                "Warning",
                "FailedScheduling",
                &message,
                "default-scheduler",
            );
        }
    }
}
