#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# What `make demo` runs: installs its tools (hack/deps.sh), builds the binaries, starts nats-server and a registry on loopback,
# pushes the busybox fixture, starts `coordinator serve` and two workers (the native one and
# an --allow-cross one serving linux/arm64), submits examples/multiarch for
# linux/amd64,linux/arm64, prints the index with `skopeo inspect --raw`, and stops everything
# it started. Offline, loopback only. Ports: DEMO_NATS_PORT, DEMO_REGISTRY_PORT.
# COORDINATORS=N (default 1) starts N `coordinator serve` sharing the builds (each build
# driven by the one holding its lease; `coordinator status` shows which).
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_PORT="${DEMO_NATS_PORT:-14222}"
REGISTRY_PORT="${DEMO_REGISTRY_PORT:-15000}"
NATS_URL="nats://127.0.0.1:${NATS_PORT}"
REGISTRY="127.0.0.1:${REGISTRY_PORT}"
HOST_ARCH="$(uname -m)"
COORDINATORS="${COORDINATORS:-1}"
if ! [[ "$COORDINATORS" =~ ^[1-9][0-9]?$ ]]; then
    echo "demo: COORDINATORS must be a number from 1 to 99, not '$COORDINATORS'" >&2
    exit 1
fi
case "$HOST_ARCH" in
    x86_64) NATIVE=linux/amd64 FOREIGN=linux/arm64 ;;
    aarch64|arm64) NATIVE=linux/arm64 FOREIGN=linux/amd64 ;;
    *) echo "demo: unsupported host architecture $HOST_ARCH" >&2; exit 1 ;;
esac

echo "==> installing what the demo needs (hack/deps.sh, idempotent)"
hack/deps.sh >/dev/null

echo "==> building the binaries"
# `--bin` filters every package given, so each package names its binary.
CARGO_INCREMENTAL=0 cargo build --locked -p kaniko-worker --bin worker \
    -p kaniko-coordinator --bin coordinator -p kaniko-tests --bin fixture
BIN=target/debug

WORK="$(mktemp -d -t kaniko-demo-XXXXXX)"
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        echo "demo failed; logs:" >&2
        tail -n 20 "$WORK"/*.log >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT INT TERM

wait_for() { # what, command...
    local what=$1; shift
    for _ in $(seq 1 100); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "demo: $what did not come up" >&2
    return 1
}

echo "==> nats-server on $NATS_URL"
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
PIDS+=($!)
wait_for nats-server bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT"

echo "==> registry on $REGISTRY"
cat >"$WORK/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $REGISTRY
YAML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
wait_for registry bash -c "exec 3<>/dev/tcp/127.0.0.1/$REGISTRY_PORT"
sleep 0.5

echo "==> pushing the busybox fixture"
"$BIN/fixture" --registry "$REGISTRY" --repository busybox

echo "==> $COORDINATORS × coordinator serve, worker native-1 ($NATIVE), worker cross-1 ($FOREIGN, --allow-cross)"
export RUST_LOG="${RUST_LOG:-info}"
for i in $(seq 1 "$COORDINATORS"); do
    "$BIN/coordinator" serve --nats "$NATS_URL" --heartbeat-interval 1 \
        --insecure-registry "$REGISTRY" >"$WORK/coordinator-$i.log" 2>&1 &
    PIDS+=($!)
done
"$BIN/worker" serve --nats "$NATS_URL" --id native-1 --heartbeat-interval 1 \
    --insecure-registry "$REGISTRY" >"$WORK/native-1.log" 2>&1 &
PIDS+=($!)
"$BIN/worker" serve --nats "$NATS_URL" --id cross-1 --heartbeat-interval 1 \
    --allow-cross --platform "$FOREIGN" --insecure-registry "$REGISTRY" >"$WORK/cross-1.log" 2>&1 &
PIDS+=($!)
workers_up() {
    local listing
    listing="$("$BIN/coordinator" workers --nats "$NATS_URL" 2>/dev/null)" || return 1
    grep -q native-1 <<<"$listing" && grep -q cross-1 <<<"$listing"
}
wait_for "the workers" workers_up
"$BIN/coordinator" workers --nats "$NATS_URL"

echo "==> coordinator submit examples/multiarch for $NATIVE,$FOREIGN"
"$BIN/coordinator" submit --driver nats --nats "$NATS_URL" \
    --context examples/multiarch \
    --build-arg "BASE=$REGISTRY/busybox:latest" \
    --destination "$REGISTRY/demo/multiarch:latest" \
    --multi-platform "$NATIVE,$FOREIGN" \
    --timeout 300

echo "==> skopeo inspect --raw docker://$REGISTRY/demo/multiarch:latest"
skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/demo/multiarch:latest"
echo

if [ "$COORDINATORS" -gt 1 ]; then
    echo "==> the coordinators serving and the one that drove the build"
    grep -ho 'coordinator=[^ ]*' "$WORK"/coordinator-*.log | sort -u
    for id in $("$BIN/coordinator" list --nats "$NATS_URL" | awk 'NR > 1 { print $1 }'); do
        "$BIN/coordinator" status --nats "$NATS_URL" "$id"
    done
fi
