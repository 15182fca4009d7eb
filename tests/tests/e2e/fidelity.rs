// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The differential corpus: Dockerfiles built side by side by the worker and by buildah
//! (`buildah bud --isolation chroot`), their file trees and configs compared with the parity
//! tools. Two sources: the corpus of hand-written Dockerfiles in the style of real projects
//! (`tests/fidelity/<case>/`, see [`corpus`]) and random Dockerfiles from a fixed-seed
//! generator ([`generator`]). Each case is one result: both builders agree (or both refuse
//! the Dockerfile), or the difference is reported; a run prints `N passed, M failed` and
//! fails naming every failed case.
//!
//! `make test` runs the whole corpus and a few generated cases; `make fidelity` runs the
//! corpus and hundreds of generated ones (`KANIKO_FIDELITY_CASES`, from
//! `KANIKO_FIDELITY_SEED`); `KANIKO_FIDELITY_ONLY=<text>` keeps the cases whose name holds
//! it (a generated case is named `fidelity-gen-<seed>-<index>`).

mod corpus;
mod generator;

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::dockerfiles::{Built, Case, buildah_build, compare, worker_build_case, write_context};
use crate::run::shared;

/// Generated cases `make test` builds; `make fidelity` sets more.
const DEFAULT_GENERATED: usize = 3;

/// The seed of the generated cases unless `KANIKO_FIDELITY_SEED` says otherwise.
const DEFAULT_SEED: u64 = 20261205;

/// A place where buildah 1.28 departs from Docker's documented behaviour (the table in
/// docs/fidelity.md): the comparison leaves that difference out; the worker follows Docker's
/// rule there, checked by the test named in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Departure {
    /// ENV setting a variable the image has: buildah moves it to the end of `Env`, Docker
    /// replaces it in place.
    EnvOrder,
}

impl Departure {
    /// The departure named `name` in a corpus case.
    pub(crate) fn parse(name: &str) -> Option<Departure> {
        match name {
            "env-order" => Some(Departure::EnvOrder),
            _ => None,
        }
    }

    /// Takes the difference out of both images before they are compared.
    fn normalise(self, image: &mut Built) {
        match self {
            Departure::EnvOrder => image.config.env.sort(),
        }
    }
}

/// A case of the differential run and the departures its comparison allows.
pub(crate) struct Differential {
    /// What to build.
    pub(crate) case: Case,
    /// Known buildah departures this case meets.
    pub(crate) departures: Vec<Departure>,
    /// A defect of the worker this case shows and that is not fixed yet (what it is): the
    /// case must still fail, so that the fix is noticed and the marker removed.
    pub(crate) known_defect: Option<&'static str>,
}

/// How one case ended.
enum Outcome {
    /// Both builders built it and the images agree, or both refused it.
    Passed,
    /// What differed, or which builder alone failed and why.
    Failed(String),
}

/// How a Dockerfile that both builders refuse counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BothRefused {
    /// A pass: a generated sequence may well be invalid, and both saying so is agreement.
    Agree,
    /// A failure: a corpus case is written to build.
    Fails,
}

/// Builds `case` with both builders on the shared registry and compares the results.
fn differential(this: &Differential, both_refused: BothRefused) -> Outcome {
    let case = &this.case;
    let shared = shared();
    let base = shared.base(case.base);
    let tmp = tempfile::tempdir().expect("a scratch directory");
    let context = tmp.path().join("ctx");
    write_context(case, &context, base, &shared.host);
    let (ours_ref, ours) = worker_build_case(case, &shared.host, &context, "worker", None);
    let theirs = buildah_build(case, &shared.host, &context);
    let stderr = String::from_utf8_lossy(&ours.stderr);
    if stderr.contains("panicked at") {
        return Outcome::Failed(format!("the worker panicked: {stderr}"));
    }
    match (ours.status.success(), theirs) {
        (false, Err(err)) if both_refused == BothRefused::Fails => Outcome::Failed(format!(
            "both builders refused it; worker: {stderr}\nbuildah: {err}"
        )),
        (false, Err(_)) => Outcome::Passed,
        (true, Err(err)) => {
            Outcome::Failed(format!("buildah refused it, the worker built it: {err}"))
        }
        (false, Ok(_)) => {
            Outcome::Failed(format!("the worker refused it, buildah built it: {stderr}"))
        }
        (true, Ok(theirs)) => {
            let compared = catch_unwind(AssertUnwindSafe(|| {
                let (mut theirs, mut ours) = (Built::read(theirs), Built::read(ours_ref.clone()));
                for departure in &this.departures {
                    departure.normalise(&mut theirs);
                    departure.normalise(&mut ours);
                }
                compare(case, &theirs, &ours)
            }));
            match compared {
                Ok(()) => Outcome::Passed,
                Err(panic) => Outcome::Failed(panic_text(panic.as_ref())),
            }
        }
    }
}

/// The message of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs every case, prints each failure with its Dockerfile and the `N passed, M failed`
/// line, and fails when any case failed.
fn run_all(what: &str, cases: &[Differential], both_refused: BothRefused) {
    let only = std::env::var("KANIKO_FIDELITY_ONLY").unwrap_or_default();
    let cases: Vec<&Differential> = cases
        .iter()
        .filter(|c| c.case.name.contains(&only))
        .collect();
    let (mut failures, mut known) = (Vec::new(), 0);
    for this in &cases {
        let case = &this.case;
        match (differential(this, both_refused), this.known_defect) {
            (Outcome::Passed, None) => eprintln!("fidelity {what}: {} passed", case.name),
            (Outcome::Failed(_), Some(defect)) => {
                eprintln!("fidelity {what}: {} fails as known: {defect}", case.name);
                known += 1;
            }
            (Outcome::Passed, Some(defect)) => {
                eprintln!(
                    "fidelity {what}: {} passes: remove its known-defect marker ({defect})",
                    case.name
                );
                failures.push(case.name);
            }
            (Outcome::Failed(why), None) => {
                eprintln!(
                    "fidelity {what}: {} FAILED\n--- Dockerfile\n{}--- why\n{why}",
                    case.name, case.dockerfile
                );
                failures.push(case.name);
            }
        }
    }
    let summary = format!(
        "fidelity {what}: {} passed, {} failed, {known} known defects",
        cases.len() - failures.len() - known,
        failures.len()
    );
    println!("{summary}");
    assert!(failures.is_empty(), "{summary}: {failures:?}");
}

/// A number from the environment, or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

#[test]
fn the_corpus_builds_like_the_reference_builder() {
    run_all("corpus", &corpus::cases(), BothRefused::Fails);
}

#[test]
fn generated_dockerfiles_build_like_the_reference_builder() {
    let seed = env_number("KANIKO_FIDELITY_SEED", DEFAULT_SEED);
    let count = env_number("KANIKO_FIDELITY_CASES", DEFAULT_GENERATED as u64) as usize;
    let files: &'static [(&'static str, &'static str)] = &generator::CONTEXT_FILES;
    let cases: Vec<Differential> = generator::dockerfiles(seed, count)
        .into_iter()
        .enumerate()
        .map(|(index, dockerfile)| Differential {
            case: Case {
                name: leak(format!("fidelity-gen-{seed}-{index}")),
                dockerfile: leak(dockerfile),
                files,
                ..Case::DEFAULT
            },
            departures: Vec::new(),
            known_defect: None,
        })
        .collect();
    run_all(
        &format!("generated (seed {seed})"),
        &cases,
        BothRefused::Agree,
    );
}

/// A string that lives as long as the test binary, for a [`Case`] made at run time.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}
