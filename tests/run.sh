#!/usr/bin/env bash
# Runs every Weft test against the sanitized build (build/asan) and ends with
# the line "N passed, N failed" summed over all suites:
#   - unit tests: build/asan/tests/test-*  (each prints its own tally)
#   - fuzzers:    build/fuzz/fuzz-*, each for FUZZ_SECONDS on its seed corpus
#   - system:     tests/system/test-*.sh   (root + network namespaces), and
#                 five of them again with the kernel fast path off
# A suite that crashes or prints no tally counts as one failure.
# Usage: tests/run.sh [substring]   runs only the suites whose name matches.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
FILTER=${1:-}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}
export WEFT_BUILD=${WEFT_BUILD:-$ROOT/build/asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
LOGDIR=$ROOT/build/test-logs
mkdir -p "$LOGDIR"

total_pass=0
total_fail=0
failed_suites=()

# run_suite NAME CMD...: runs CMD, echoes its output, adds its tally.
run_suite() {
  local name=$1; shift
  [ -n "$FILTER" ] && [[ "$name" != *"$FILTER"* ]] && return 0
  local log="$LOGDIR/${name//\//_}.log"
  echo "=== $name"
  local start=$SECONDS
  timeout --kill-after=10 "$SUITE_TIMEOUT" "$@" >"$log" 2>&1
  local rc=$?
  sed 's/^/    /' "$log" | tail -n 60
  local tally
  tally=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 |
          sed -E 's/^[A-Za-z-]+: //')
  local p=0 f=0
  if [ -n "$tally" ]; then
    p=$(echo "$tally" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$tally" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1   # crashed, timed out or failed outside its own tally
  fi
  if [ -z "$tally" ] && [ "$rc" -eq 0 ]; then
    f=1   # a suite that reports nothing has tested nothing
    echo "    (no tally printed: counted as a failure)"
  fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  [ "$f" -ne 0 ] && failed_suites+=("$name")
  echo "--- $name: $p passed, $f failed ($((SECONDS - start)) s)"
}

for t in "$WEFT_BUILD"/tests/test-*; do
  [ -x "$t" ] || continue
  run_suite "unit/$(basename "$t")" "$t"
done

FUZZ_BUILD=$ROOT/build/fuzz
for fz in "$FUZZ_BUILD"/fuzz/fuzz-*; do
  [ -x "$fz" ] || continue
  name=$(basename "$fz")
  corpus_seed=$ROOT/tests/fuzz/corpus/${name#fuzz-}
  work=$(mktemp -d)
  [ -d "$corpus_seed" ] && cp -r "$corpus_seed"/. "$work"/
  run_suite "fuzz/$name" bash -c "ASAN_OPTIONS=detect_leaks=1 '$fz' -max_total_time=$FUZZ_SECONDS \
      -rss_limit_mb=2048 -artifact_prefix='$LOGDIR/$name-' '$work' && echo '1 passed, 0 failed'"
  rm -rf "$work"
done

for s in tests/system/test-*.sh; do
  [ -f "$s" ] || continue
  run_suite "system/$(basename "$s" .sh)" bash "$s"
done

# The kernel fast path is on by default (decision 70) and carries most
# unicast frames above; these suites run again with it off, so that the
# pipeline's own path stays tested end to end.
for t in overlay wire interop tap routing; do
  s=tests/system/test-$t.sh
  [ -f "$s" ] || continue
  run_suite "system/$t-pipeline" env LAB_KFP=false bash "$s"
done

echo
if [ "${#failed_suites[@]}" -ne 0 ]; then
  echo "failed suites: ${failed_suites[*]} (logs in $LOGDIR)"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
