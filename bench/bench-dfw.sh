#!/usr/bin/env bash
# Distributed-firewall datapath benchmark (make bench-dfw): runs
# build/release/bench/bench-dfw, which measures conntrack and the rule
# classifier in memory on real frames (see bench/bench-dfw.c for what each
# figure means and how it is measured).
#
# Prints `name: value unit` lines on stdout; diagnostics go to stderr.
#
# Env: WEFT_BUILD (default <repo>/build/release),
#      BENCH_DFW_PACKETS (default 5000000: packets per established-flow run;
#      12 runs, best of 3 per configuration),
#      BENCH_DFW_CONNS (default 2000000: connections per new-connection run,
#      best of 3),
#      BENCH_DFW_TIMEOUT (default 120 s: bench-dfw is killed past this).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BUILD:-$REPO/build/release}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
BENCH=$BUILD/bench/bench-dfw

if [ ! -x "$BENCH" ]; then
  echo "bench-dfw: $BENCH not found (make VARIANT=release build)" >&2
  exit 1
fi
timeout "${BENCH_DFW_TIMEOUT:-120}" "$BENCH" "${BENCH_DFW_PACKETS:-5000000}" \
  "${BENCH_DFW_CONNS:-2000000}"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "bench-dfw: bench-dfw failed (exit status $rc)" >&2
  exit 1
fi
