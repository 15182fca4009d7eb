#!/usr/bin/env bash
# Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0
#
# Checks that every tracked .rs and .sh file carries the license header near its top.
set -euo pipefail
cd "$(dirname "$0")/.."

header='Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0'
bad=0
while IFS= read -r file; do
  [ -f "$file" ] || continue
  if ! head -n 3 "$file" | grep -qF "$header"; then
    echo "missing license header: $file"
    bad=1
  fi
done < <(git ls-files --cached --others --exclude-standard -- '*.rs' '*.sh' '.ci/run')

if [ "$bad" -ne 0 ]; then
  echo "every .rs and .sh file must start with: // (or #) $header" >&2
  exit 1
fi
echo "boilerplate: ok"
