// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The chaos test's seeded plan, pure: a splitmix64 generator (its own few lines, so a seed
//! replays the same schedule on any machine and with any version of `rand`), the builds to
//! submit and when, and the faults to inject and when. Each fault is a `kill -9` (or, for
//! the registry, a stop) and a restart after a short time.
//!
//! Rules the plan keeps: every kind of fault comes at least once when there are four or
//! more; one target is never hit again while it is down; cluster nodes are hit one at a
//! time, [`NODE_GAP`] apart, so two nodes are never down together (quorum is kept); the
//! coordinators too, [`COORDINATOR_GAP`] apart, so one always serves the API (with none, a
//! submit gets "no responders", and the product promises nothing else).

use std::fmt;
use std::time::Duration;

/// The workers' ids: a native one and an `--allow-cross` one for the foreign platform.
pub(crate) const WORKERS: [&str; 2] = ["native-1", "cross-1"];
/// The two coordinators.
pub(crate) const COORDINATORS: [&str; 2] = ["coordinator-a", "coordinator-b"];
/// The cluster's nodes.
pub(crate) const NODES: usize = kaniko_tests::nats_cluster::NODES;
/// Between a node's restart and the next node's kill: the restarted node rejoins and its
/// streams catch up before quorum depends on it again.
pub(crate) const NODE_GAP: Duration = Duration::from_secs(8);
/// Between a coordinator's restart and the other's kill (the run also waits, before a
/// coordinator's kill, until the other one serves).
pub(crate) const COORDINATOR_GAP: Duration = Duration::from_secs(2);

/// splitmix64 (Steele, Lea and Flood): small, fast, good enough to spread a schedule.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A duration between `low` and `high` milliseconds.
    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high - low + 1))
    }
}

/// What a build is made to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuildKind {
    /// Both platforms can build: it publishes both, or fails with a reason.
    Both,
    /// The foreign platform's COPY names a file only the native one has; submitted with
    /// `--allow-partial`: it publishes the native platform alone (or fails with a reason).
    Partial,
    /// The same Dockerfile without `--allow-partial`: it fails with a reason and its tag is
    /// never written.
    Failing,
}

impl BuildKind {
    /// The token naming the kind in the build's repository (`chaos/<token>-<n>`).
    pub(crate) fn token(self) -> &'static str {
        match self {
            BuildKind::Both => "both",
            BuildKind::Partial => "partial",
            BuildKind::Failing => "failing",
        }
    }

    /// The kind a token names.
    pub(crate) fn from_token(token: &str) -> Option<BuildKind> {
        [BuildKind::Both, BuildKind::Partial, BuildKind::Failing]
            .into_iter()
            .find(|kind| kind.token() == token)
    }
}

/// One build of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedBuild {
    pub(crate) number: usize,
    pub(crate) kind: BuildKind,
    /// When it is submitted, from the start of the run.
    pub(crate) at: Duration,
}

/// What a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    /// [`WORKERS`]`[i]`, killed with SIGKILL.
    Worker(usize),
    /// [`COORDINATORS`]`[i]`, killed with SIGKILL.
    Coordinator(usize),
    /// Cluster node `i`, killed with SIGKILL (its store kept).
    Node(usize),
    /// The registry, stopped (its storage kept) and started again on the same port.
    Registry,
}

impl Target {
    /// Targets that must not be down together share a lane: each node is its own target,
    /// but all nodes are one lane, and both coordinators one.
    fn lane(self) -> Target {
        match self {
            Target::Node(_) => Target::Node(0),
            Target::Coordinator(_) => Target::Coordinator(0),
            other => other,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Worker(i) => write!(f, "worker {}", WORKERS[*i]),
            Target::Coordinator(i) => write!(f, "{}", COORDINATORS[*i]),
            Target::Node(i) => write!(f, "nats node n{}", i + 1),
            Target::Registry => write!(f, "the registry"),
        }
    }
}

/// One fault: `target` goes down at `at` and is started again `down_for` later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) at: Duration,
    pub(crate) target: Target,
    pub(crate) down_for: Duration,
}

/// One step of the run, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Submit(usize),
    Down(Target),
    Up(Target),
}

/// The whole plan of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub(crate) seed: u64,
    pub(crate) builds: Vec<PlannedBuild>,
    pub(crate) faults: Vec<Fault>,
}

impl Schedule {
    /// The plan of `builds` builds for `seed`.
    pub(crate) fn new(seed: u64, builds: usize) -> Schedule {
        let mut rng = SplitMix64::new(seed);
        // Builds are submitted over the first 60% of the window, faults over all of it.
        let window = Duration::from_secs((3 * builds as u64).max(16));
        let spacing = window.mul_f64(0.6) / (builds.max(1) as u32);
        let mut planned: Vec<PlannedBuild> = (0..builds)
            .map(|number| PlannedBuild {
                number,
                kind: match rng.below(6) {
                    0 => BuildKind::Partial,
                    1 => BuildKind::Failing,
                    _ => BuildKind::Both,
                },
                at: spacing * number as u32 + rng.millis(0, 500),
            })
            .collect();
        // Every kind at least once, given three builds: a missing kind replaces a build of a
        // kind there are several of.
        for kind in [BuildKind::Both, BuildKind::Partial, BuildKind::Failing] {
            if builds < 3 || planned.iter().any(|b| b.kind == kind) {
                continue;
            }
            let count = |k: BuildKind| planned.iter().filter(|b| b.kind == k).count();
            let spare: Vec<usize> = (0..builds)
                .filter(|i| count(planned[*i].kind) > 1)
                .collect();
            planned[spare[rng.below(spare.len() as u64) as usize]].kind = kind;
        }

        let count = 4 + builds / 2;
        let mut faults = Vec::new();
        for n in 0..count {
            // The first four are one of each category.
            let category = if n < 4 { n as u64 } else { rng.below(4) };
            let (target, down_for) = match category {
                0 => (
                    Target::Worker(rng.below(WORKERS.len() as u64) as usize),
                    rng.millis(300, 3000),
                ),
                1 => (
                    Target::Coordinator(rng.below(COORDINATORS.len() as u64) as usize),
                    rng.millis(500, 4000),
                ),
                2 => (
                    Target::Node(rng.below(NODES as u64) as usize),
                    rng.millis(1000, 5000),
                ),
                _ => (Target::Registry, rng.millis(1000, 3000)),
            };
            let at = rng.millis(1000, window.as_millis() as u64);
            faults.push(Fault {
                at,
                target,
                down_for,
            });
        }
        faults.sort_by_key(|fault| fault.at);
        // One lane is down once at a time: a fault that would start before the previous one
        // on its lane is over (plus the lane's gap) moves later.
        let mut lane_free: Vec<(Target, Duration)> = Vec::new();
        for fault in &mut faults {
            let lane = fault.target.lane();
            let gap = match lane {
                Target::Node(_) => NODE_GAP,
                Target::Coordinator(_) => COORDINATOR_GAP,
                _ => Duration::from_millis(500),
            };
            if let Some((_, free)) = lane_free.iter().find(|(l, _)| *l == lane) {
                fault.at = fault.at.max(*free);
            }
            lane_free.retain(|(l, _)| *l != lane);
            lane_free.push((lane, fault.at + fault.down_for + gap));
        }
        faults.sort_by_key(|fault| fault.at);
        Schedule {
            seed,
            builds: planned,
            faults,
        }
    }

    /// Every submit, kill and restart, in time order.
    pub(crate) fn actions(&self) -> Vec<(Duration, Action)> {
        let mut actions: Vec<(Duration, Action)> = self
            .builds
            .iter()
            .map(|build| (build.at, Action::Submit(build.number)))
            .collect();
        for fault in &self.faults {
            actions.push((fault.at, Action::Down(fault.target)));
            actions.push((fault.at + fault.down_for, Action::Up(fault.target)));
        }
        // Stable: at the same instant, the order above (a submit, then a kill, then a
        // restart) stays.
        actions.sort_by_key(|(at, _)| *at);
        actions
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos schedule: seed {} ({} builds, {} faults)",
            self.seed,
            self.builds.len(),
            self.faults.len()
        )?;
        for (at, action) in self.actions() {
            let what = match action {
                Action::Submit(n) => {
                    format!("submit build {n} ({})", self.builds[n].kind.token())
                }
                Action::Down(target @ Target::Registry) => format!("stop {target}"),
                Action::Down(target) => format!("kill -9 {target}"),
                Action::Up(target) => format!("start {target} again"),
            };
            writeln!(f, "  t+{:>6.1}s  {what}", at.as_secs_f64())?;
        }
        Ok(())
    }
}

#[test]
fn a_seed_gives_the_same_schedule_every_time_and_another_seed_another() {
    let one = Schedule::new(42, 6);
    assert_eq!(one, Schedule::new(42, 6));
    assert_ne!(one, Schedule::new(43, 6));
    assert_eq!(one.to_string(), Schedule::new(42, 6).to_string());
}

#[test]
fn every_fault_kind_and_build_kind_comes_and_no_two_nodes_or_coordinators_are_down_together() {
    for seed in 0..500 {
        for builds in [3, 5, 40] {
            let schedule = Schedule::new(seed, builds);
            assert_eq!(schedule.builds.len(), builds);
            for kind in [BuildKind::Both, BuildKind::Partial, BuildKind::Failing] {
                assert!(
                    schedule.builds.iter().any(|b| b.kind == kind),
                    "seed {seed}: no {kind:?}\n{schedule}"
                );
            }
            let category = |fault: &Fault| match fault.target {
                Target::Worker(_) => 0,
                Target::Coordinator(_) => 1,
                Target::Node(_) => 2,
                Target::Registry => 3,
            };
            for wanted in 0..4 {
                assert!(
                    schedule.faults.iter().any(|f| category(f) == wanted),
                    "seed {seed}: no fault of category {wanted}\n{schedule}"
                );
            }
            // Walk the timeline: never two nodes down, never a target hit while down.
            let mut down: Vec<Target> = Vec::new();
            for (_, action) in schedule.actions() {
                match action {
                    Action::Down(target) => {
                        assert!(!down.contains(&target), "seed {seed}\n{schedule}");
                        down.push(target);
                        let nodes = down.iter().filter(|t| matches!(t, Target::Node(_))).count();
                        assert!(nodes <= 1, "seed {seed}: two nodes down\n{schedule}");
                        let coordinators = down
                            .iter()
                            .filter(|t| matches!(t, Target::Coordinator(_)))
                            .count();
                        assert!(
                            coordinators <= 1,
                            "seed {seed}: both coordinators down\n{schedule}"
                        );
                    }
                    Action::Up(target) => down.retain(|t| *t != target),
                    Action::Submit(_) => {}
                }
            }
        }
    }
}
