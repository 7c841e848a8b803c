#!/usr/bin/env bash
# DHCP benchmark (make bench-dhcp): DISCOVER/OFFER/REQUEST/ACK exchanges
# per second through the agent's DHCP glue on one core
# (build/release/bench/bench-dhcp).  Prints `dhcp_agent_leases_per_s: X leases/s`.
#
# Env: WEFT_BUILD (default <repo>/build/release),
#      BENCH_DHCP_PORTS (default 50000 distinct clients, static bindings),
#      BENCH_DHCP_TIMEOUT (default 120 s).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BUILD:-$REPO/build/release}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
BIN=$BUILD/bench/bench-dhcp

if [ ! -x "$BIN" ]; then
  echo "bench-dhcp: $BIN not found (make VARIANT=release build)" >&2
  exit 1
fi
echo "bench-dhcp: DHCPv4 exchanges through agent_dhcp_input, in memory" >&2
timeout "${BENCH_DHCP_TIMEOUT:-120}" "$BIN" "${BENCH_DHCP_PORTS:-50000}" 2>/dev/null
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "bench-dhcp: bench-dhcp failed (exit status $rc)" >&2
  exit 1
fi
