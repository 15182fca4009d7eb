#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# What `make fidelity` runs: the differential corpus and many generated Dockerfiles, each
# built by the worker and by buildah and compared (tests/tests/e2e/fidelity.rs). Prints one
# `N passed, M failed, K known defects` line per part. KANIKO_FIDELITY_CASES (default 300) and
# KANIKO_FIDELITY_SEED choose the generated cases; KANIKO_FIDELITY_ONLY filters by name.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh
export KANIKO_FIDELITY_CASES="${KANIKO_FIDELITY_CASES:-300}"
status=0
# The tests spawn target/debug/worker, which `cargo test -p kaniko-tests` does not rebuild.
cargo build --locked -p kaniko-worker --bin worker
cargo test --locked -p kaniko-tests --test e2e fidelity -- --nocapture --test-threads=1 \
  > target/fidelity.log 2>&1 || status=$?
grep -E '^fidelity .*(FAILED|passes: remove)|^fidelity [a-z (0-9)]+: [0-9]+ passed' target/fidelity.log || true
echo "fidelity: full log in target/fidelity.log"
exit "$status"
