#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# What `make test`runs: installs the tools the tests need, then the whole suite, unit and
# end-to-end (the end-to-end tests start their own nats-server and registry on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh
cargo test --workspace --locked "$@"
