#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# What `make image` runs: the kaniko-rs image (deploy/worker.Dockerfile) built by our own
# `coordinator submit --driver local` for every platform of PLATFORMS this machine can
# compile for, pushed to IMAGE as one OCI index.
#
#   IMAGE=registry.example.com/kaniko-rs/kaniko-rs:0.1.0 make image
#
# IMAGE       where to push (required)
# PLATFORMS   default linux/amd64,linux/arm64
# PROFILE     cargo profile of the binaries: release (default) or debug
# NO_BUILD=1  take the binaries already built instead of running cargo (a platform other
#             than the host's whose binaries are not there is skipped)
# BIN_DIR_amd64, BIN_DIR_arm64
#             take that platform's worker and coordinator from this directory, unbuilt
# SUBMIT_ARGS more `coordinator submit` flags (e.g. --insecure-registry 127.0.0.1:5000)
#
# The host's architecture is compiled natively; another one with rustup's target and a cross
# linker (aarch64-linux-gnu-gcc / x86_64-linux-gnu-gcc, which `hack/deps.sh --image`, run
# first, installs for arm64). A platform whose binaries cannot be built is skipped and named at the end; every
# staged binary's ELF machine is checked against its platform, so an arm64 image never holds
# an amd64 binary.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh --image

IMAGE="${IMAGE:?set IMAGE, e.g. IMAGE=registry.example.com/kaniko-rs/kaniko-rs:0.1.0 make image}"
PLATFORMS="${PLATFORMS:-linux/amd64,linux/arm64}"
PROFILE="${PROFILE:-release}"
NO_BUILD="${NO_BUILD:-}"
read -r -a submit_args <<<"${SUBMIT_ARGS:-}"

case "$PROFILE" in
  release) cargo_profile=release ;;
  debug) cargo_profile=dev ;;
  *) echo "image: PROFILE must be release or debug, not $PROFILE" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64) host_arch=amd64 ;;
  aarch64|arm64) host_arch=arm64 ;;
  *) echo "image: unsupported host architecture $(uname -m)" >&2; exit 1 ;;
esac

# arch -> rust target, GNU triple, readelf's name of the ELF machine
declare -A rust_target=([amd64]=x86_64-unknown-linux-gnu [arm64]=aarch64-unknown-linux-gnu)
declare -A gnu_triple=([amd64]=x86_64-linux-gnu [arm64]=aarch64-linux-gnu)
declare -A elf_machine=([amd64]='Advanced Micro Devices X86-64' [arm64]='AArch64')

# The directory holding the shared libraries of `arch`'s C library on this host.
libdir_of() {
  if [ "$1" = "$host_arch" ]; then
    echo "/lib/${gnu_triple[$1]}"
  else
    echo "/usr/${gnu_triple[$1]}/lib"
  fi
}

# Why `arch` cannot be compiled here, or nothing when it can.
cannot_build() {
  local arch=$1 target=${rust_target[$1]} override="BIN_DIR_$1"
  if [ "$arch" = "$host_arch" ] || [ -n "${!override:-}" ]; then
    return 0
  fi
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "the rust target $target is not installed (rustup target add $target)"
  elif ! command -v "${gnu_triple[$arch]}-gcc" >/dev/null 2>&1; then
    echo "no cross linker ${gnu_triple[$arch]}-gcc (package gcc-${gnu_triple[$arch]//_/-})"
  elif [ ! -d "$(libdir_of "$arch")" ]; then
    echo "no $arch C library in $(libdir_of "$arch")"
  elif [ -n "$NO_BUILD" ] && [ ! -f "$(bin_dir_of "$arch")/worker" ]; then
    echo "not built, and NO_BUILD is set"
  fi
  return 0
}

# target/<triple>/<profile> for a cross build, target/<profile> for the host's.
bin_dir_of() {
  local override="BIN_DIR_$1"
  if [ -n "${!override:-}" ]; then
    echo "${!override}"
    return
  fi
  local dir=debug
  [ "$PROFILE" = release ] && dir=release
  if [ "$1" = "$host_arch" ]; then
    echo "target/$dir"
  else
    echo "target/${rust_target[$1]}/$dir"
  fi
}

build() {
  local arch=$1 target=${rust_target[$1]} gnu=${gnu_triple[$1]}
  local args=(build --locked --profile "$cargo_profile" -p kaniko-worker --bin worker
    -p kaniko-coordinator --bin coordinator)
  if [ "$arch" = "$host_arch" ]; then
    cargo "${args[@]}"
  else
    local var=${target^^}
    var=${var//-/_}
    env "CARGO_TARGET_${var}_LINKER=$gnu-gcc" "CC_${target//-/_}=$gnu-gcc" \
      "AR_${target//-/_}=$gnu-ar" cargo "${args[@]}" --target "$target"
  fi
}

# Copies `binary`'s program interpreter and every library it needs (from `arch`'s C library)
# into `root`, where the image's dynamic loader finds them.
stage_libraries() {
  local arch=$1 binary=$2 root=$3 libdir
  libdir=$(libdir_of "$arch")
  local interpreter
  interpreter=$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  if [ -n "$interpreter" ]; then
    mkdir -p "$root$(dirname "$interpreter")"
    cp -L "$libdir/$(basename "$interpreter")" "$root$interpreter"
  fi
  local dest="$root/lib/${gnu_triple[$arch]}"
  mkdir -p "$dest"
  # Breadth first through the libraries' own needs.
  local queue=("$binary") next lib
  while [ "${#queue[@]}" -gt 0 ]; do
    next=${queue[0]}
    queue=("${queue[@]:1}")
    for lib in $(readelf -d "$next" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [ -e "$dest/$lib" ] && continue
      if [ ! -e "$libdir/$lib" ]; then
        echo "image: $binary needs $lib, not found in $libdir" >&2
        exit 1
      fi
      cp -L "$libdir/$lib" "$dest/$lib"
      queue+=("$dest/$lib")
    done
  done
}

# The build context, staged afresh (its own directory: two runs at once do not mix).
mkdir -p target
context=$(mktemp -d target/image-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp deploy/worker.Dockerfile "$context/Dockerfile"
built=()
skipped=()
IFS=, read -r -a platforms <<<"$PLATFORMS"
for platform in "${platforms[@]}"; do
  arch=${platform#linux/}
  if [ -z "${rust_target[$arch]:-}" ]; then
    echo "image: unsupported platform $platform (linux/amd64, linux/arm64)" >&2
    exit 1
  fi
  why=$(cannot_build "$arch")
  if [ -n "$why" ]; then
    skipped+=("$platform: $why")
    continue
  fi
  override="BIN_DIR_$arch"
  if [ -z "$NO_BUILD" ] && [ -z "${!override:-}" ]; then
    build "$arch"
  fi
  mkdir -p "$context/bin/$arch" "$context/rootfs/$arch"
  for name in worker coordinator; do
    binary="$(bin_dir_of "$arch")/$name"
    if [ ! -f "$binary" ]; then
      echo "image: $binary missing: build it first" >&2
      exit 1
    fi
    machine=$(readelf -h "$binary" | sed -n 's/^ *Machine: *//p')
    if [ "$machine" != "${elf_machine[$arch]}" ]; then
      echo "image: $binary is built for $machine, not $platform: refusing to put it in the $platform image" >&2
      exit 1
    fi
    cp "$binary" "$context/bin/$arch/$name"
    stage_libraries "$arch" "$binary" "$context/rootfs/$arch"
  done
  root="$context/rootfs/$arch"
  mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/root" "$root/kaniko/.docker"
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/kaniko/worker\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  built+=("$platform")
done

if [ "${#built[@]}" -eq 0 ]; then
  echo "image: no platform of $PLATFORMS can be built here:" >&2
  printf '  %s\n' "${skipped[@]}" >&2
  exit 1
fi
joined=$(IFS=,; echo "${built[*]}")
echo "image: building $joined into $IMAGE with our own worker"
"$(bin_dir_of "$host_arch")/coordinator" submit --driver local --context "$context" \
  --multi-platform "$joined" --destination "$IMAGE" "${submit_args[@]}"
echo "image: pushed $IMAGE for $joined"
if [ "${#skipped[@]}" -gt 0 ]; then
  echo "image: SKIPPED (not in the index):"
  printf '  %s\n' "${skipped[@]}"
fi
