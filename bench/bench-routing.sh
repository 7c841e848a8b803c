#!/usr/bin/env bash
# Routing benchmarks (make bench-routing): build/release/bench/bench-routing,
# in memory: LPM lookups, DHCP leases, and the routed pipeline against the
# L2 overlay measured in the same run (dp_routing_l2_encap_1k_mpps,
# dp_routed_{10,10k,100k}_routes_mpps, dp_routed_100k_routes_cost_pct);
# then bench/e2e-routing.sh, end to end in namespaces (root): routed vs
# same-segment TCP throughput and RTT (e2e_*).
#
# Prints `name: value unit` lines on stdout; progress and diagnostics go to
# stderr.
#
# Env: WEFT_BUILD (default <repo>/build/release),
#      BENCH_LPM_LOOKUPS (default 4000000 lookups per measurement),
#      BENCH_ROUTING_PACKETS (default 2000000 packets per pipeline run;
#      4 setups x best of 7, interleaved),
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
echo "bench-routing: LPM lookups, DHCP leases and the routed pipeline, in memory" >&2
timeout "${BENCH_ROUTING_TIMEOUT:-120}" "$BIN" "${BENCH_LPM_LOOKUPS:-4000000}" \
  "${BENCH_ROUTING_PACKETS:-2000000}"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "bench-routing: bench-routing failed (exit status $rc)" >&2
  exit 1
fi

# End to end in namespaces: routed vs same-segment TCP throughput and RTT
# (bench/e2e-routing.sh; needs root, fails with a message otherwise).
WEFT_BUILD=$BUILD bash "$REPO/bench/e2e-routing.sh"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "bench-routing: e2e-routing.sh failed (exit status $rc)" >&2
  exit 1
fi
