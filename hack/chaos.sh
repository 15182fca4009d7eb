#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# What `make chaos` runs: the seeded chaos test (tests/tests/e2e/chaos.rs) with a longer count
# than `make test` gives it: CHAOS_BUILDS builds (default 40) under a schedule of kills and
# outages drawn from CHAOS_SEED (default: a new random seed, printed). A failure prints the
# seed, the schedule and the line that replays it. NATS_SERVER picks the nats-server binary
# (default: the one on PATH, Debian's 2.9.10). Extra arguments go to the test binary.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh
CHAOS_BUILDS="${CHAOS_BUILDS:-40}"
CHAOS_SEED="${CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
export CHAOS_BUILDS CHAOS_SEED
echo "chaos: CHAOS_SEED=$CHAOS_SEED CHAOS_BUILDS=$CHAOS_BUILDS (nats-server: $("${NATS_SERVER:-nats-server}" --version))"
# Built as `make test` builds (the whole workspace, so the binaries the test spawns are there
# and nothing is compiled again after it).
cargo test --workspace --locked --no-run
cargo test --workspace --locked --test e2e -- chaos:: --nocapture "$@"
