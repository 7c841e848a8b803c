#!/usr/bin/env bash
# Smoke test of the in-memory benchmark programs (bench-dp, bench-dfw,
# bench-routing) with tiny counts, on the sanitized build: each must exit 0,
# print only `name: value unit` lines on stdout, print the figure names its
# issue asks for, and measure something (rates above 0).  A benchmark that
# rots (a crash, a renamed figure, a run of 0 packets) fails here instead
# of in `make bench`.  No namespaces, no root needed; the figures themselves
# mean nothing under ASan.
source "$(dirname "$0")/lib.sh"
test_deadline 240

BENCH=${WEFT_BUILD:-$SYSTEST_DIR/../../build/asan}/bench
OUT=$(mktemp -d) # removed before finish

# run_bench NAME ARGS...: runs bench NAME into $OUT/NAME.out.
run_bench() {
  local name=$1
  shift
  "$BENCH/$name" "$@" >"$OUT/$name.out"
}

# well_formed FILE: every line is `name: number unit`.
well_formed() {
  [ -s "$1" ] || { echo "no output"; return 1; }
  if grep -vEq '^[a-z0-9_]+: -?[0-9]+(\.[0-9]+)? [^ ]+$' "$1"; then
    echo "lines not of the form 'name: value unit':"
    grep -vE '^[a-z0-9_]+: -?[0-9]+(\.[0-9]+)? [^ ]+$' "$1"
    return 1
  fi
}

# has_figures FILE NAME...: each NAME is printed, once.
has_figures() {
  local f=$1 n rc=0
  shift
  for n in "$@"; do
    if [ "$(grep -c "^$n: " "$f")" -ne 1 ]; then
      echo "figure $n printed $(grep -c "^$n: " "$f") times"
      rc=1
    fi
  done
  return "$rc"
}

# exits_usage CMD...: CMD exits with status 2 (a usage error), not with a
# crash or another failure.
exits_usage() {
  local rc=0
  "$@" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { echo "exit status $rc, want 2"; return 1; }
}

# rates_positive FILE: every *_mpps figure is above 0.
rates_positive() {
  awk '$1 ~ /_mpps:$/ && $2 + 0 <= 0 { print "zero rate: " $0; bad = 1 }
       END { exit bad }' "$1"
}

check "bench-dp runs (64 packets per run)" run_bench bench-dp 640
check "bench-dp prints only 'name: value unit'" well_formed "$OUT/bench-dp.out"
figs=()
for p in l2_local encap decap; do
  for f in 1 1k 100k 1m; do
    figs+=("dp_${p}_${f}_mpps" "dp_${p}_${f}_ns_per_pkt")
  done
done
check "bench-dp prints its 24 figures" has_figures "$OUT/bench-dp.out" "${figs[@]}"
check "bench-dp forwards something on every path" rates_positive "$OUT/bench-dp.out"
check "bench-dp runs one path and flow count" run_bench bench-dp 640 encap 1k
check "bench-dp subset prints exactly that figure" \
  has_figures "$OUT/bench-dp.out" dp_encap_1k_mpps dp_encap_1k_ns_per_pkt
check "bench-dp subset prints nothing else" \
  test "$(wc -l <"$OUT/bench-dp.out")" -eq 2
for bad in --help 0 12x "-5" "640 encap 2k" "640 nopath" "640 encap 1k extra"; do
  # shellcheck disable=SC2086  # word splitting is the point
  check "bench-dp rejects arguments '$bad'" exits_usage "$BENCH/bench-dp" $bad
done
check "bench-dp explains its arguments" \
  bash -c "'$BENCH/bench-dp' --help 2>&1 | grep -q '^usage: bench-dp'"

check "bench-dfw runs (established, IPv4 at N and 1,000 flows, IPv6)" \
  run_bench bench-dfw 6400 100 est,est1k,est6 200
check "bench-dfw prints only 'name: value unit'" well_formed "$OUT/bench-dfw.out"
check "bench-dfw prints the established figures" has_figures "$OUT/bench-dfw.out" \
  dfw_est_off_mpps dfw_est_10_rules_mpps dfw_est_1k_rules_mpps \
  dfw_est_10k_rules_mpps dfw_est_10_rules_cost_pct dfw_est_1k_rules_cost_pct \
  dfw_est_10k_rules_cost_pct dfw_est6_off_mpps \
  dfw_est6_10k_rules_mpps dfw_est6_10k_rules_cost_pct \
  dfw_est_1k_flows_off_mpps dfw_est_1k_flows_10k_rules_cost_pct
check "bench-dfw forwards something in every configuration" \
  rates_positive "$OUT/bench-dfw.out"

# figures_median (bench/figures.sh), which bench-dfw.sh reports its
# established figures with: per name, in first-seen order, the middle
# value of the runs (the mean of the middle two for an even count) with the
# run's own text, and a cost figure's worst run as <name>_max.
source "$SYSTEST_DIR/../../bench/figures.sh"
printf 'a_mpps: 3.5 Mpps\nb_cost_pct: 9.0 %%\n' >"$OUT/r1"
printf 'a_mpps: 10.25 Mpps\nb_cost_pct: -2.0 %%\nnoise\n' >"$OUT/r2"
printf 'a_mpps: 4.0 Mpps\nb_cost_pct: 1.5 %%\n' >"$OUT/r3"
printf 'a_mpps: 12.0 Mpps\nb_cost_pct: 11.0 %%\n' >"$OUT/r4"
check "figures_median: middle of three runs, numerically, worst cost" \
  test "$(figures_median "$OUT/r1" "$OUT/r2" "$OUT/r3")" = \
  "$(printf 'a_mpps: 4.0 Mpps\nb_cost_pct: 1.5 %%\nb_cost_pct_max: 9.0 %%')"
check "figures_median: mean of the middle two of four runs" \
  test "$(figures_median "$OUT"/r[1-4])" = \
  "$(printf 'a_mpps: 7.12 Mpps\nb_cost_pct: 5.25 %%\nb_cost_pct_max: 11.0 %%')"

check "bench-routing runs" run_bench bench-routing 1000 6400
check "bench-routing prints only 'name: value unit'" \
  well_formed "$OUT/bench-routing.out"
check "bench-routing prints the routed figures" \
  has_figures "$OUT/bench-routing.out" dp_routing_l2_encap_1k_mpps \
  dp_routed_10_routes_mpps dp_routed_10k_routes_mpps \
  dp_routed_100k_routes_mpps dp_routed_100k_routes_cost_pct dhcp_leases_per_s
check "bench-routing forwards something in every setup" \
  rates_positive "$OUT/bench-routing.out"

# Bad arguments: a usage message and status 2, before any work.
for bad in --help 0 " -1" 12x "640 100 est,bogus" "640 100 est," \
  "640 0" "640 100 est 0" "640 100 est 2000000" "once 0 10" \
  "once 0 10 10" "once -1 10 640" "once 0 10 640 5"; do
  # shellcheck disable=SC2086  # word splitting is the point
  check "bench-dfw rejects arguments '$bad'" exits_usage "$BENCH/bench-dfw" $bad
done
check "bench-dfw explains its arguments" \
  bash -c "'$BENCH/bench-dfw' x 2>&1 | grep -q '^usage: bench-dfw'"
for bad in --help 0 12x "1000 10" "1000 640 extra"; do
  # shellcheck disable=SC2086
  check "bench-routing rejects arguments '$bad'" \
    exits_usage "$BENCH/bench-routing" $bad
done

rm -rf "$OUT"
finish
