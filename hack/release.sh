#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# Builds release binaries into dist/, writes SHA256SUMS and tags v$(cat .release-version).
# With GITHUB_TOKEN set it creates the GitHub release through the API and uploads the
# binaries; without it, a dry run that prints what it would do.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(tr -d '[:space:]' < .release-version)
tag="v${version}"
repo="${GITHUB_REPOSITORY:-kaniko-rs/kaniko-rs}"
target=$(rustc -vV | sed -n 's/^host: //p')
dist="dist/${tag}"

if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
  echo "release: .release-version holds '${version}', which is not a semantic version" >&2
  exit 1
fi

cargo build --release --locked --bin worker --bin coordinator
rm -rf "$dist"
mkdir -p "$dist"
for bin in worker coordinator; do
  cp "target/release/${bin}" "${dist}/${bin}-${version}-${target}"
done
(cd "$dist" && sha256sum -- * > SHA256SUMS)
echo "release: built ${dist}:"
cat "${dist}/SHA256SUMS"

if [ -z "${GITHUB_TOKEN:-}" ]; then
  echo "release: dry run (GITHUB_TOKEN is not set); would:"
  echo "  git tag -a ${tag} -m 'kaniko-rs ${version}'"
  echo "  git push origin ${tag}"
  echo "  POST https://api.github.com/repos/${repo}/releases {tag_name: ${tag}}"
  for f in "$dist"/*; do
    echo "  upload $(basename "$f")"
  done
  exit 0
fi

if git rev-parse -q --verify "refs/tags/${tag}" >/dev/null; then
  echo "release: tag ${tag} exists already, not moving it" >&2
  exit 1
fi
git tag -a "$tag" -m "kaniko-rs ${version}"
git push origin "$tag"

api="https://api.github.com/repos/${repo}"
auth=(-H "Authorization: Bearer ${GITHUB_TOKEN}" -H "Accept: application/vnd.github+json")
body=$(jq -n --arg tag "$tag" --arg name "kaniko-rs ${version}" '{tag_name: $tag, name: $name, generate_release_notes: true}')
release=$(curl -fsSL "${auth[@]}" -X POST "${api}/releases" -d "$body")
upload_url=$(jq -r '.upload_url' <<<"$release" | sed 's/{.*}//')
for f in "$dist"/*; do
  curl -fsSL "${auth[@]}" -H "Content-Type: application/octet-stream" \
    --data-binary @"$f" "${upload_url}?name=$(basename "$f")" >/dev/null
  echo "release: uploaded $(basename "$f")"
done
echo "release: ${tag} published"
