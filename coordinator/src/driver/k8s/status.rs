// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! What a Job's and a pod's status mean to the driver, pure: a pod that cannot be scheduled
//! (and which node label no node has), an image that cannot be pulled, an evicted or
//! OOM-killed pod, a build that exited non-zero, a pod that finished with its result in the
//! termination message; a Job that completed, or failed (deadline exceeded, retries used up).
//! Each failure becomes one message naming what happened.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kaniko_common::oci::Descriptor;
use kaniko_common::platform::Platform;

/// Waiting reasons that mean the worker image will not start.
const IMAGE_FAILURES: [&str; 4] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// A pod, as the driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodView {
    /// Not running yet (being scheduled, pulling, starting).
    Pending,
    /// The scheduler found no node for it; the scheduler's message.
    Unschedulable(String),
    /// The worker image cannot be pulled (`ImagePullBackOff`, ...): the reason and message.
    ImagePull(String),
    /// The container is running (its log can be followed).
    Running,
    /// The container exited 0; its termination message.
    Succeeded(String),
    /// The pod failed; what happened, in words.
    Failed(String),
}

/// A Job, as the driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobView {
    /// Still running or retrying.
    Active,
    /// The Job succeeded.
    Complete,
    /// The Job failed for good: its reason and message (`DeadlineExceeded`,
    /// `BackoffLimitExceeded`).
    Failed(String),
}

/// What `pod`'s status says.
pub fn pod_view(pod: &Pod) -> PodView {
    let Some(status) = &pod.status else {
        return PodView::Pending;
    };
    let container = status
        .container_statuses
        .as_ref()
        .and_then(|all| all.first());
    let state = container.and_then(|c| c.state.as_ref());
    // An evicted pod's container is terminated too (exit code 137, reason `Error`): the
    // pod's reason says why.
    if status.phase.as_deref() == Some("Failed") && status.reason.as_deref() == Some("Evicted") {
        let message = status.message.as_deref().unwrap_or_default();
        return PodView::Failed(format!(
            "Evicted: the pod was evicted from its node: {message}"
        ));
    }
    if let Some(terminated) = state.and_then(|s| s.terminated.as_ref()) {
        let message = terminated.message.clone().unwrap_or_default();
        if terminated.exit_code == 0 {
            return PodView::Succeeded(message);
        }
        let reason = terminated.reason.as_deref().unwrap_or_default();
        return PodView::Failed(match reason {
            "OOMKilled" => format!(
                "OOMKilled: the build ran out of memory (exit code {}); raise --k8s-memory",
                terminated.exit_code
            ),
            _ => format!("the build failed with exit code {}", terminated.exit_code),
        });
    }
    if status.phase.as_deref() == Some("Failed") {
        let reason = status.reason.as_deref().unwrap_or("Failed");
        let message = status.message.as_deref().unwrap_or_default();
        return PodView::Failed(match reason {
            "DeadlineExceeded" => format!("DeadlineExceeded: {message}"),
            _ => format!("the pod failed ({reason}): {message}"),
        });
    }
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if IMAGE_FAILURES.contains(&reason) {
            let message = waiting.message.as_deref().unwrap_or_default();
            return PodView::ImagePull(format!("{reason}: {message}"));
        }
    }
    if state.is_some_and(|s| s.running.is_some()) {
        return PodView::Running;
    }
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(condition) = unschedulable {
        return PodView::Unschedulable(condition.message.clone().unwrap_or_default());
    }
    PodView::Pending
}

/// What `job`'s status says.
pub fn job_view(job: &Job) -> JobView {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for condition in conditions.iter().filter(|c| c.status == "True") {
        match condition.type_.as_str() {
            "Complete" => return JobView::Complete,
            "Failed" => {
                let reason = condition.reason.as_deref().unwrap_or("Failed");
                let message = condition.message.as_deref().unwrap_or_default();
                return JobView::Failed(match reason {
                    "DeadlineExceeded" => format!(
                        "DeadlineExceeded: the Job ran longer than --k8s-active-deadline \
                         ({message})"
                    ),
                    _ => format!("{reason}: {message}"),
                });
            }
            _ => {}
        }
    }
    JobView::Active
}

/// The result a worker wrote to its termination message (`worker build
/// --termination-message-path`): the manifest's descriptor, with the platform it was built
/// for, and its config's digest.
pub fn parse_result(message: &str, platform: &Platform) -> Result<(Descriptor, String), String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Reported {
        digest: String,
        size: u64,
        media_type: String,
        platform: Option<String>,
        #[serde(default)]
        config_digest: String,
    }
    let result: Reported = serde_json::from_str(message.trim())
        .map_err(|e| format!("the pod's termination message is not a build result ({e})"))?;
    kaniko_common::oci::parse_digest(&result.digest)
        .map_err(|e| format!("the pod's result has a bad digest: {e}"))?;
    let built = result.platform.as_deref().map(Platform::parse);
    if built != Some(Ok(platform.clone())) {
        return Err(format!(
            "the pod built {} instead of {platform}",
            result.platform.as_deref().unwrap_or("no platform")
        ));
    }
    let mut descriptor = Descriptor::new(result.media_type, result.digest, result.size);
    descriptor.platform = Some(platform.clone());
    Ok((descriptor, result.config_digest))
}

/// Why no node can take a pod with `selector`: the first label no node has (`kubernetes.io/arch=arm64`),
/// else that no single node has them all. `None` when some node has every label.
pub fn missing_node_label(
    selector: &BTreeMap<String, String>,
    nodes: &[BTreeMap<String, String>],
) -> Option<String> {
    let has = |node: &BTreeMap<String, String>, (key, value): (&String, &String)| {
        node.get(key) == Some(value)
    };
    if nodes
        .iter()
        .any(|node| selector.iter().all(|label| has(node, label)))
    {
        return None;
    }
    // The platform's own labels first, then the user's.
    let order = |key: &String| match key.as_str() {
        super::spec::OS_NODE_LABEL => 0,
        super::spec::ARCH_NODE_LABEL => 1,
        super::spec::VARIANT_NODE_LABEL => 2,
        _ => 3,
    };
    let mut labels: Vec<(&String, &String)> = selector.iter().collect();
    labels.sort_by_key(|(key, _)| order(key));
    Some(
        match labels
            .into_iter()
            .find(|label| !nodes.iter().any(|node| has(node, *label)))
        {
            Some((key, value)) => format!("no node has the label {key}={value}"),
            None => format!(
                "no node has all of {}",
                selector
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": status}))
            .unwrap()
    }

    fn waiting(reason: &str) -> serde_json::Value {
        serde_json::json!({"phase": "Pending", "containerStatuses": [{
            "name": "worker", "image": "w", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": "no such image w:1"}}}]})
    }

    fn terminated(exit_code: i32, reason: &str, message: &str) -> serde_json::Value {
        serde_json::json!({"phase": if exit_code == 0 {"Succeeded"} else {"Failed"},
            "containerStatuses": [{
            "name": "worker", "image": "w", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": exit_code, "reason": reason, "message": message}}}]})
    }

    #[test]
    fn pod_states_become_views() {
        fn check(status: serde_json::Value, expected: PodView) {
            assert_eq!(pod_view(&pod(status.clone())), expected, "{status}");
        }
        check(serde_json::json!({"phase": "Pending"}), PodView::Pending);
        check(
            serde_json::json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "Unschedulable",
                "message": "0/2 nodes are available"}]}),
            PodView::Unschedulable("0/2 nodes are available".into()),
        );
        check(
            waiting("ImagePullBackOff"),
            PodView::ImagePull("ImagePullBackOff: no such image w:1".into()),
        );
        check(waiting("ContainerCreating"), PodView::Pending);
        check(
            terminated(0, "Completed", "{}"),
            PodView::Succeeded("{}".into()),
        );
        check(
            terminated(137, "OOMKilled", ""),
            PodView::Failed(
                "OOMKilled: the build ran out of memory (exit code 137); raise --k8s-memory".into(),
            ),
        );
        check(
            terminated(1, "Error", ""),
            PodView::Failed("the build failed with exit code 1".into()),
        );
        check(
            serde_json::json!({"phase": "Failed", "reason": "Evicted",
                "message": "The node was low on resource: ephemeral-storage."}),
            PodView::Failed(
                "Evicted: the pod was evicted from its node: The node was low on resource: \
                 ephemeral-storage."
                    .into(),
            ),
        );
        // As the kubelet reports it: the container killed (137, `Error`) as well.
        let mut evicted = terminated(137, "Error", "");
        evicted["phase"] = "Failed".into();
        evicted["reason"] = "Evicted".into();
        evicted["message"] = "The node was low on resource: memory.".into();
        check(
            evicted,
            PodView::Failed(
                "Evicted: the pod was evicted from its node: The node was low on resource: \
                 memory."
                    .into(),
            ),
        );
    }

    #[test]
    fn job_conditions_become_views() {
        fn check(conditions: serde_json::Value, expected: JobView) {
            let job: Job = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "j"}, "status": {"conditions": conditions}}))
            .unwrap();
            assert_eq!(job_view(&job), expected, "{conditions}");
        }
        check(serde_json::json!([]), JobView::Active);
        check(
            serde_json::json!([{"type": "Complete", "status": "True"}]),
            JobView::Complete,
        );
        check(
            serde_json::json!([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                "message": "Job was active longer than specified deadline"}]),
            JobView::Failed(
                "DeadlineExceeded: the Job ran longer than --k8s-active-deadline (Job was active \
                 longer than specified deadline)"
                    .into(),
            ),
        );
        check(
            serde_json::json!([{"type": "Failed", "status": "True",
                "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]),
            JobView::Failed(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into(),
            ),
        );
    }

    #[test]
    fn results_are_checked_against_the_platform() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32));
        let message = format!(
            r#"{{"digest":"{digest}","size":7,"mediaType":"m","platform":"linux/arm64","configDigest":"c"}}"#
        );
        let (descriptor, config) = parse_result(&message, &arm64).unwrap();
        assert_eq!(
            (descriptor.digest.as_str(), descriptor.size, config.as_str()),
            (digest.as_str(), 7, "c")
        );
        assert_eq!(descriptor.platform, Some(arm64.clone()));
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let err = parse_result(&message, &amd64).unwrap_err();
        assert!(
            err.contains("built linux/arm64 instead of linux/amd64"),
            "{err}"
        );
        let err = parse_result("build failed", &arm64).unwrap_err();
        assert!(err.contains("not a build result"), "{err}");
    }

    #[test]
    fn the_missing_node_label_is_named() {
        fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }
        let nodes = [
            labels(&[
                ("kubernetes.io/os", "linux"),
                ("kubernetes.io/arch", "amd64"),
            ]),
            labels(&[
                ("kubernetes.io/os", "linux"),
                ("kubernetes.io/arch", "arm64"),
                ("pool", "a"),
            ]),
        ];
        let arm = labels(&[
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "arm64"),
        ]);
        assert_eq!(missing_node_label(&arm, &nodes), None);
        let riscv = labels(&[
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "riscv64"),
        ]);
        assert_eq!(
            missing_node_label(&riscv, &nodes).as_deref(),
            Some("no node has the label kubernetes.io/arch=riscv64")
        );
        let amd_in_a = labels(&[
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("pool", "a"),
        ]);
        assert_eq!(
            missing_node_label(&amd_in_a, &nodes).as_deref(),
            Some("no node has all of kubernetes.io/arch=amd64, kubernetes.io/os=linux, pool=a")
        );
        assert!(missing_node_label(&arm, &[]).is_some());
    }
}
