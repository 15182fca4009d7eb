// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! What must hold after a chaos run, checked over every build in the store (those a submit
//! printed and any a failed submit may have left). Each broken rule is one line naming the
//! build, its destination and what was found; the run's summary counts what happened.

use std::collections::{BTreeMap, BTreeSet};

use async_nats::jetstream;
use kaniko_common::messages::codec::decode_internal;
use kaniko_common::messages::{BuildState, BuildStatus, TaskOutcome, TaskResult};
use kaniko_common::subjects::Names;

use super::schedule::{BuildKind, Schedule};
use super::{Chaos, RSS_BOUND_KIB};

/// The checks' outcome.
pub(super) struct Report {
    pub(super) violations: Vec<String>,
    pub(super) summary: String,
}

/// One `built` result on the results stream.
struct Completion {
    digest: String,
    worker: String,
    attempt: u32,
}

/// How long [`completions`] keeps asking a cluster that has just had a node restarted: its
/// JetStream API answers again once the stream's leader is elected.
const RESULTS_READ_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Every `built` result on the results stream, by (build id, platform), asked again while
/// the cluster's JetStream API times out (the checks run right after the last fault, which
/// may be a node coming back); a message that does not decode fails at once.
async fn completions(chaos: &Chaos) -> Result<BTreeMap<(String, String), Vec<Completion>>, String> {
    let deadline = std::time::Instant::now() + RESULTS_READ_PATIENCE;
    loop {
        match read_completions(chaos).await {
            Err(Unreadable::Unanswered(err)) if std::time::Instant::now() < deadline => {
                eprintln!("chaos: the results stream is not readable yet ({err}); asking again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(Unreadable::Unanswered(err) | Unreadable::Corrupt(err)) => return Err(err),
            Ok(out) => return Ok(out),
        }
    }
}

/// Why the results stream could not be read.
enum Unreadable {
    /// The cluster did not answer (worth asking again).
    Unanswered(String),
    /// A message on it does not decode.
    Corrupt(String),
}

/// One pass of [`completions`].
async fn read_completions(
    chaos: &Chaos,
) -> Result<BTreeMap<(String, String), Vec<Completion>>, Unreadable> {
    let urls: Vec<String> = chaos
        .cluster
        .urls()
        .split(',')
        .map(str::to_string)
        .collect();
    let client = async_nats::connect(urls)
        .await
        .map_err(|err| Unreadable::Unanswered(format!("connecting to the cluster: {err}")))?;
    let js = jetstream::new(client);
    let name = Names::default().results_stream();
    let mut stream = js
        .get_stream(&name)
        .await
        .map_err(|err| Unreadable::Unanswered(format!("stream {name}: {err}")))?;
    let (first, last) = {
        let info = stream
            .info()
            .await
            .map_err(|err| Unreadable::Unanswered(format!("stream {name} info: {err}")))?;
        (info.state.first_sequence, info.state.last_sequence)
    };
    let mut out: BTreeMap<(String, String), Vec<Completion>> = BTreeMap::new();
    for sequence in first.max(1)..=last {
        let message = stream
            .get_raw_message(sequence)
            .await
            .map_err(|err| Unreadable::Unanswered(format!("{name} message {sequence}: {err}")))?;
        let result: TaskResult = decode_internal(&message.payload).map_err(|err| {
            Unreadable::Corrupt(format!("{name} message {sequence} does not decode: {err}"))
        })?;
        if let TaskOutcome::Built { manifest, .. } = result.outcome {
            out.entry((result.build_id, result.platform.to_string()))
                .or_default()
                .push(Completion {
                    digest: manifest.digest,
                    worker: result.worker_id,
                    attempt: result.attempt,
                });
        }
    }
    Ok(out)
}

/// `(repository, tag, kind)` of a destination `<host>/chaos/<kind>-<n>:t<k>`.
fn parse_destination(destination: &str) -> Option<(String, String, BuildKind)> {
    let (_, path) = destination.split_once('/')?;
    let (repository, tag) = path.rsplit_once(':')?;
    let name = repository.strip_prefix("chaos/")?;
    let (token, _) = name.split_once('-')?;
    Some((
        repository.to_string(),
        tag.to_string(),
        BuildKind::from_token(token)?,
    ))
}

/// How many manifests `repository:tag` has ever named (the registry keeps the history);
/// `None` when the tag was never written.
fn tag_history(chaos: &Chaos, repository: &str, tag: &str) -> Option<usize> {
    let dir = chaos.registry.storage_dir().join(format!(
        "docker/registry/v2/repositories/{repository}/_manifests/tags/{tag}"
    ));
    if !dir.exists() {
        return None;
    }
    Some(
        std::fs::read_dir(dir.join("index/sha256"))
            .map(|entries| entries.count())
            .unwrap_or(0),
    )
}

/// Checks a published build's index: `repository:tag` names `status.index`, which lists
/// exactly `wanted` platforms, each child the one the build recorded, in the registry with
/// its config and every layer. Problems are returned.
async fn check_index(
    chaos: &Chaos,
    status: &BuildStatus,
    repository: &str,
    tag: &str,
    wanted: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let client = chaos.registry.client();
    let reference = chaos.registry.reference(&format!("{repository}:{tag}"));
    let pulled = match client.pull_manifest_raw(&reference).await {
        Ok(pulled) => pulled,
        Err(err) => return vec![format!("its tag {tag} does not answer: {err}")],
    };
    let recorded = status.index.as_ref().map(|index| index.digest.clone());
    if recorded.as_deref() != Some(pulled.digest.as_str()) {
        problems.push(format!(
            "the tag names {} but the build recorded {recorded:?}",
            pulled.digest
        ));
    }
    let index: serde_json::Value = match serde_json::from_slice(&pulled.bytes) {
        Ok(index) => index,
        Err(err) => return vec![format!("its index is not JSON: {err}")],
    };
    let got: BTreeSet<String> = kaniko_tests::index_platforms(&index).into_iter().collect();
    if &got != wanted {
        problems.push(format!("its index lists {got:?}, not {wanted:?}"));
    }
    for child in index["manifests"].as_array().into_iter().flatten() {
        let digest = child["digest"].as_str().unwrap_or_default();
        let platform = format!(
            "{}/{}",
            child["platform"]["os"].as_str().unwrap_or_default(),
            child["platform"]["architecture"]
                .as_str()
                .unwrap_or_default()
        );
        let built = status
            .platforms
            .iter()
            .find(|p| p.platform.to_string() == platform)
            .and_then(|p| p.descriptor.as_ref())
            .map(|d| d.digest.clone());
        if built.as_deref() != Some(digest) {
            problems.push(format!(
                "its index names {digest} for {platform}, the build recorded {built:?}"
            ));
        }
        let child_reference = chaos.registry.reference(&format!("{repository}@{digest}"));
        let manifest = match client.pull_manifest_raw(&child_reference).await {
            Ok(manifest) => manifest,
            Err(err) => {
                problems.push(format!("its index names a missing child {digest}: {err}"));
                continue;
            }
        };
        let manifest: serde_json::Value =
            serde_json::from_slice(&manifest.bytes).unwrap_or_default();
        let blobs = std::iter::once(&manifest["config"])
            .chain(manifest["layers"].as_array().into_iter().flatten())
            .filter_map(|d| d["digest"].as_str());
        let mut count = 0;
        for blob in blobs {
            count += 1;
            match client.blob_exists(&child_reference, blob).await {
                Ok(true) => {}
                Ok(false) => problems.push(format!("child {digest} names a missing blob {blob}")),
                Err(err) => problems.push(format!("child {digest}'s blob {blob}: {err}")),
            }
        }
        if count < 2 {
            problems.push(format!(
                "child {digest} names no config or no layer: {manifest}"
            ));
        }
    }
    match tag_history(chaos, repository, tag) {
        Some(1) => {}
        other => problems.push(format!(
            "its tag has named {other:?} manifests over time, not exactly one"
        )),
    }
    problems
}

/// Checks every build of `builds` (`submitted`: the (build id, destination) pairs submits
/// printed) and every daemon's peak memory.
pub(super) async fn check(
    chaos: &Chaos,
    plan: &Schedule,
    builds: &[BuildStatus],
    submitted: &[(String, String)],
) -> Report {
    let mut violations = Vec::new();
    // Every planned build is in the store: a run whose submits all failed proves nothing.
    for planned in &plan.builds {
        let repository = format!("chaos/{}-{}", planned.kind.token(), planned.number);
        let found = builds.iter().any(|b| {
            b.destinations
                .first()
                .and_then(|d| parse_destination(d))
                .is_some_and(|(r, _, _)| r == repository)
        });
        if !found {
            violations.push(format!(
                "build {} ({repository}) is not in the store: every submit of it failed",
                planned.number
            ));
        }
    }
    let native = chaos.native.to_string();
    let foreign = chaos.foreign.to_string();
    let completions = match completions(chaos).await {
        Ok(completions) => completions,
        Err(err) => {
            violations.push(format!("the results stream could not be read: {err}"));
            BTreeMap::new()
        }
    };
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut lines = Vec::new();
    for status in builds {
        let id = &status.build_id;
        let destination = status.destinations.first().cloned().unwrap_or_default();
        let Some((repository, tag, kind)) = parse_destination(&destination) else {
            violations.push(format!(
                "build {id}: unexpected destination {destination:?}"
            ));
            continue;
        };
        let mut broken = |what: String| {
            violations.push(format!("build {id} ({destination}, {kind:?}): {what}"));
        };
        if !submitted.iter().any(|(known, _)| known == id) {
            notes.push(format!(
                "build {id} ({destination}) is in the store though its submit failed"
            ));
        }
        let platforms: Vec<String> = status
            .platforms
            .iter()
            .map(|p| {
                format!(
                    "{} {:?} attempt {} on {}",
                    p.platform,
                    p.state,
                    p.attempt,
                    p.worker_id.as_deref().unwrap_or("-")
                )
            })
            .collect();
        lines.push(format!(
            "build {id} {repository}:{tag}: {:?} after {:.1}s; {}",
            status.state,
            status
                .updated_at_unix_ms
                .saturating_sub(status.submitted_at_unix_ms) as f64
                / 1000.0,
            platforms.join("; ")
        ));
        let reasons: Vec<String> = status
            .errors
            .iter()
            .map(|e| format!("{:?}: {}", e.kind, e.message))
            .collect();
        match status.state {
            BuildState::Succeeded => {
                let wanted: BTreeSet<String> = match kind {
                    BuildKind::Both => [native.clone(), foreign.clone()].into(),
                    BuildKind::Partial => [native.clone()].into(),
                    BuildKind::Failing => {
                        broken("published though its foreign platform cannot build".into());
                        continue;
                    }
                };
                match kind {
                    BuildKind::Both if !reasons.is_empty() => {
                        broken(format!("succeeded with errors: {reasons:?}"));
                    }
                    BuildKind::Partial if reasons.is_empty() => {
                        broken("published one platform of two without an error".into());
                    }
                    _ => {}
                }
                for problem in check_index(chaos, status, &repository, &tag, &wanted).await {
                    broken(problem);
                }
                // The published children are completions the results stream holds.
                for platform in &wanted {
                    let digest = status
                        .platforms
                        .iter()
                        .find(|p| &p.platform.to_string() == platform)
                        .and_then(|p| p.descriptor.as_ref())
                        .map(|d| d.digest.clone());
                    let seen = completions.get(&(id.clone(), platform.clone()));
                    if !seen.is_some_and(|c| c.iter().any(|c| Some(&c.digest) == digest.as_ref())) {
                        broken(format!(
                            "{platform}: the published child {digest:?} is no result on the results stream"
                        ));
                    }
                }
                let label = match kind {
                    BuildKind::Partial => "published partially (asked)",
                    _ => "published",
                };
                *tally.entry(label.into()).or_default() += 1;
            }
            BuildState::Failed => {
                if reasons.is_empty() || status.errors.iter().any(|e| e.message.trim().is_empty()) {
                    broken(format!("failed without a reason: {:?}", status.errors));
                }
                if let Some(history) = tag_history(chaos, &repository, &tag) {
                    broken(format!(
                        "failed, yet its tag {tag} was written ({history} manifests)"
                    ));
                }
                if kind == BuildKind::Both {
                    notes.push(format!("build {id} ({destination}) failed: {reasons:?}"));
                }
                let label = match kind {
                    BuildKind::Both => "failed under the faults",
                    _ => "failed (made to)",
                };
                *tally.entry(label.into()).or_default() += 1;
            }
            other => broken(format!("ended {other:?}, not succeeded or failed")),
        }
    }

    // At-least-once delivery: a task can be built to completion twice. The index names one
    // of the completions (checked above) and its tag only ever named one index: the others
    // were ignored.
    let build_ids: BTreeSet<&String> = builds.iter().map(|b| &b.build_id).collect();
    let mut once = 0;
    let mut more = Vec::new();
    for ((build, platform), seen) in &completions {
        if !build_ids.contains(build) {
            violations.push(format!(
                "a result for an unknown build {build} ({platform})"
            ));
        }
        if seen.len() == 1 {
            once += 1;
        } else {
            let list: Vec<String> = seen
                .iter()
                .map(|c| format!("{} by {} attempt {}", c.digest, c.worker, c.attempt))
                .collect();
            more.push(format!(
                "build {build} {platform}: {} completions [{}]",
                seen.len(),
                list.join(", ")
            ));
        }
    }
    let logs = chaos.all_logs();
    let ignored = logs.matches("ignoring a late result").count();
    let taken_over = logs.matches("build taken over").count();

    // Memory.
    let mut coordinator_peak = 0;
    let mut worker_peak = 0;
    for (name, peak) in &chaos.peaks {
        if *peak == 0 || *peak >= RSS_BOUND_KIB {
            violations.push(format!(
                "{name}: peak RSS {peak} KiB, bound {RSS_BOUND_KIB} KiB (0: never read)"
            ));
        }
        let slot = if name.starts_with("coordinator") {
            &mut coordinator_peak
        } else {
            &mut worker_peak
        };
        *slot = (*slot).max(*peak);
    }

    let mut summary = vec![
        format!("outcomes: {tally:?}"),
        format!(
            "completions: {once} (build, platform) built once, {} more than once (the extra \
             results ignored: coordinators logged 'ignoring a late result' {ignored} times); \
             builds taken over by another coordinator: {taken_over}",
            more.len()
        ),
        format!(
            "peak RSS: coordinators {} MiB, workers {} MiB over {} processes (bound {} MiB)",
            coordinator_peak / 1024,
            worker_peak / 1024,
            chaos.peaks.len(),
            RSS_BOUND_KIB / 1024
        ),
    ];
    summary.extend(lines);
    summary.extend(more);
    summary.extend(notes);
    Report {
        violations,
        summary: summary.join("\n"),
    }
}
