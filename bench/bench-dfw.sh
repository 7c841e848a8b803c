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
#      BENCH_DFW_RUNS (default 5: established traffic is measured in this
#      many bench-dfw processes; each figure printed is their median, and
#      each cost figure's worst run is printed as <name>_max),
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
# shellcheck source=bench/figures.sh
source "$REPO/bench/figures.sh"
PACKETS=${BENCH_DFW_PACKETS:-20000000}
CONNS=${BENCH_DFW_CONNS:-2000000}
FLOWS=${BENCH_DFW_FLOWS:-10000}
RUNS=${BENCH_DFW_RUNS:-5}
case $RUNS in '' | *[!0-9]* | 0*)
  echo "bench-dfw: BENCH_DFW_RUNS must be a positive integer, not '$RUNS'" >&2
  exit 1
  ;;
esac
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# bench_dfw PARTS: one bench-dfw process measuring PARTS.
bench_dfw() {
  timeout "${BENCH_DFW_TIMEOUT:-120}" "$BENCH" "$PACKETS" "$CONNS" "$1" "$FLOWS"
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "bench-dfw: bench-dfw $1 failed (exit status $rc)" >&2
    exit 1
  fi
}

bench_dfw mem
# Established traffic in RUNS processes, median of each figure: on this VM
# one process's figures depend on where its memory landed (two identical
# configurations in one process differed by up to 9 points of cost,
# steadily over all their rounds: bench/RESULTS.md, session 18).
for r in $(seq "$RUNS"); do
  bench_dfw est,est1k,est6 >"$TMP/est.$r"
done
figures_median "$TMP"/est.*
bench_dfw new

# Control side: one group membership change with a 100,000-rule policy and
# 10,000-member groups on 1,000 hosts (bench/bench-dfw-span.c).
# Env: BENCH_DFW_SPAN="HOSTS RULES MEMBERS" (default "1000 100000 10000").
read -r span_hosts span_rules span_members <<<"${BENCH_DFW_SPAN:-1000 100000 10000}"
timeout "${BENCH_DFW_TIMEOUT:-120}" "$BUILD/bench/bench-dfw-span" \
  "$span_hosts" "$span_rules" "$span_members" || {
  echo "bench-dfw: bench-dfw-span failed" >&2
  exit 1
}
