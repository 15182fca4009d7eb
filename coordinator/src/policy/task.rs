// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Task construction: the one [`Task`] a platform of a build becomes at an attempt, for the
//! fleet (the BuildActor publishes it) and the local driver (its in-process worker builds it)
//! alike. Destinations become their repositories (`registry/repo`), each once, since a
//! per-platform image is pushed by digest only; the task id is
//! [`kaniko_common::messages::task_id`]. Pure.

use kaniko_common::messages::{Task, task_id};
use kaniko_registry::Reference;

use super::record::{BuildRecord, PlatformRecord};

/// The repositories (`registry/repo`) of the destination tags, each once.
fn repositories(destinations: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for destination in destinations {
        if let Ok(reference) = destination.parse::<Reference>() {
            let repo = format!("{}/{}", reference.registry(), reference.repository());
            if !out.contains(&repo) {
                out.push(repo);
            }
        }
    }
    out
}

/// The task for `platform` of `record` at its current attempt.
pub fn task_for(record: &BuildRecord, platform: &PlatformRecord) -> Task {
    let request = &record.request;
    Task {
        build_id: record.build_id.clone(),
        task_id: task_id(&record.build_id, &platform.platform, platform.attempt),
        platform: platform.platform.clone(),
        attempt: platform.attempt,
        context: request.context.clone(),
        dockerfile: request.dockerfile.clone(),
        build_args: request.build_args.clone(),
        target: request.target.clone(),
        labels: request.labels.clone(),
        destinations: repositories(&request.destinations),
        compression: request.compression,
        compression_level: request.compression_level,
        oci_mode: request.oci_mode,
        reproducible: request.reproducible,
        cross_safe: platform.cross_safe,
        deadline_unix_ms: request.timeout_secs.map(|s| {
            record
                .submitted_at_unix_ms
                .saturating_add(s.saturating_mul(1000))
        }),
        owner: record.owner.clone(),
        cache: request.cache.clone(),
        arch_cache_repo_suffix: request.arch_cache_repo_suffix.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::record::Route;
    use crate::policy::routing::tests::request;
    use kaniko_common::platform::Platform;

    #[test]
    fn tasks_carry_repositories_and_deadline() {
        let mut req = request(None);
        req.timeout_secs = Some(60);
        let platform = PlatformRecord {
            attempt: 1,
            ..PlatformRecord::new(Platform::parse("linux/arm64").unwrap(), true, Route::Cross)
        };
        let record = BuildRecord::new("b1".into(), req, vec![platform.clone()], 1_000);
        let task = task_for(&record, &platform);
        assert_eq!(
            task.destinations,
            ["127.0.0.1:5000/app", "127.0.0.1:5000/other"]
        );
        assert_eq!(task.task_id, "b1-linux-arm64-1");
        assert_eq!(task.deadline_unix_ms, Some(61_000));
        assert!(task.cross_safe);
    }
}
