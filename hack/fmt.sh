#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# Formats every Rust source file in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all
