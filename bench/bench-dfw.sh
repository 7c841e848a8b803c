#!/usr/bin/env bash
# Distributed-firewall benchmark (make bench-dfw): runs
# build/release/bench/bench-dfw, which measures the firewall in the real
# in-memory pipeline (dummy ports, like bench-dp): established traffic with
# the firewall off and with 10, 1k and 10k rules (and over IPv6, off and
# 10k rules), new connections per
# second, the classifier alone, and conntrack memory and lookups at 1M
# entries (see bench/bench-dfw.c for what each figure means).
#
# Prints `name: value unit` lines on stdout; diagnostics go to stderr.
#
# Env: WEFT_BUILD (default <repo>/build/release),
#      BENCH_DFW_PACKETS (default 20000000: established packets per
#      configuration, measured in 10 rounds taken in turns, best round),
#      BENCH_DFW_CONNS (default 2000000: connections per new-connection run,
#      best of 3),
#      BENCH_DFW_FLOWS (default 10000: established connections),
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
timeout "${BENCH_DFW_TIMEOUT:-120}" "$BENCH" "${BENCH_DFW_PACKETS:-20000000}" \
  "${BENCH_DFW_CONNS:-2000000}" mem,est,est1k,est6,new "${BENCH_DFW_FLOWS:-10000}"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "bench-dfw: bench-dfw failed (exit status $rc)" >&2
  exit 1
fi

# Control side: one group membership change with a 100,000-rule policy and
# 10,000-member groups on 1,000 hosts (bench/bench-dfw-span.c).
# Env: BENCH_DFW_SPAN="HOSTS RULES MEMBERS" (default "1000 100000 10000").
read -r span_hosts span_rules span_members <<<"${BENCH_DFW_SPAN:-1000 100000 10000}"
timeout "${BENCH_DFW_TIMEOUT:-120}" "$BUILD/bench/bench-dfw-span" \
  "$span_hosts" "$span_rules" "$span_members" || {
  echo "bench-dfw: bench-dfw-span failed" >&2
  exit 1
}
