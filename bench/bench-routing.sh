#!/usr/bin/env bash
# Routing benchmarks (make bench-routing): the in-memory LPM and DHCP
# benchmark (build/release/bench/bench-routing).
#
# Prints `name: value unit` lines on stdout; progress and diagnostics go to
# stderr.  The routed-pipeline figures the routing issue asks for
# (dp_routed_10_routes_mpps, dp_routed_100k_routes_mpps,
# dp_routed_100k_routes_cost_pct) need the router stage in the pipeline and
# are not printed until it exists.
#
# Env: WEFT_BUILD (default <repo>/build/release),
#      BENCH_LPM_LOOKUPS (default 4000000 lookups per measurement),
#      BENCH_ROUTING_TIMEOUT (default 120 s).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BUILD:-$REPO/build/release}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
BIN=$BUILD/bench/bench-routing

if [ ! -x "$BIN" ]; then
  echo "bench-routing: $BIN not found (make VARIANT=release build)" >&2
  exit 1
fi
echo "bench-routing: LPM lookups and DHCP leases, in memory" >&2
timeout "${BENCH_ROUTING_TIMEOUT:-120}" "$BIN" "${BENCH_LPM_LOOKUPS:-4000000}"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "bench-routing: bench-routing failed (exit status $rc)" >&2
  exit 1
fi
echo "bench-routing: dp_routed_* not measured: the routed pipeline does not exist yet" >&2
