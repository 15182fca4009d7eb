#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# What `make bench` runs: installs the tools, builds the release binaries, then runs the bench
# program (tests/src/bin/bench.rs), which starts its own registries and prints one table per
# benchmark. Extra arguments go to the bench program (e.g. `hack/bench.sh --runs 9`,
# `make bench BENCH_ARGS="--only copy-context"`). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh
cargo build --locked --release -p kaniko-worker --bin worker -p kaniko-coordinator --bin coordinator \
  -p kaniko-tests --bin bench
exec target/release/bench --worker target/release/worker "$@"
