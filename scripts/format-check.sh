#!/usr/bin/env bash
# Fails, listing the files, when any tracked or new C file is not formatted
# as .clang-format says.  Fix with `make format`.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h')
[ -n "$files" ] || exit 0
bad=()
for f in $files; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
if [ "${#bad[@]}" -ne 0 ]; then
  echo "format-check: not formatted (run 'make format'): ${bad[*]}" >&2
  exit 1
fi
echo "format-check: ok"
