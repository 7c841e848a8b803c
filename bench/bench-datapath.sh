#!/usr/bin/env bash
# Datapath benchmarks (make bench-datapath): the in-memory pipeline benchmark
# (build/release/bench/bench-dp), then the end-to-end namespace benchmark
# (bench/e2e-datapath.sh: Weft vs. Linux bridge + kernel VXLAN).
#
# Prints `name: value unit` lines on stdout; progress and diagnostics go to
# stderr.
#
# Env: WEFT_BUILD (default <repo>/build/release),
#      BENCH_DP_PACKETS (default 5000000: packets per bench-dp run; bench-dp
#      makes 36 runs, best of 3 per path and flow count, ~20 s in all),
#      BENCH_DP_TIMEOUT (default 110 s: bench-dp is killed past this).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BUILD:-$REPO/build/release}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
BENCH_DP=$BUILD/bench/bench-dp
PACKETS=${BENCH_DP_PACKETS:-5000000}

if [ ! -x "$BENCH_DP" ]; then
  echo "bench-datapath: $BENCH_DP not found (make VARIANT=release build)" >&2
  exit 1
fi

echo "bench-datapath: bench-dp, $PACKETS packets per run" >&2
# Lines pass through as bench-dp prints them (it flushes after each).
timeout "${BENCH_DP_TIMEOUT:-110}" "$BENCH_DP" "$PACKETS"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "bench-datapath: bench-dp failed (exit status $rc)" >&2
  exit 1
fi

WEFT_BUILD=$BUILD bash "$REPO/bench/e2e-datapath.sh"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "bench-datapath: e2e-datapath.sh failed (exit status $rc)" >&2
  exit 1
fi
