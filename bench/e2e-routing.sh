#!/usr/bin/env bash
# End-to-end routing benchmark (issue 6): routed TCP throughput and latency
# against the same traffic on one segment, VM -> VM across two hosts, in
# network namespaces (scripts/lab-lib.sh), with weftd and two agents in
# controller mode (WEFT_BUILD/bin/{weftd,weft-agent,weft}, default options):
#
#   h1 (underlay 198.18.0.1, ul0 MTU 1600)    h2 (198.18.0.2)
#     vm1  segment A  198.19.1.11/24            vm2  segment A  198.19.1.21/24
#                                               vm3  segment B  198.19.2.31/24
#   segment A: VNI 7401, gateway 198.19.1.1; segment B: VNI 7402, gateway
#   198.19.2.1; both GENEVE (the API's default), VM MTU 1500; router t1
#   (project default) joins A and B.  Every VM's default route is its
#   gateway.
#
# Two paths, both from vm1 and both crossing one tunnel between h1 and h2:
#   same   vm1 -> vm2: switched in segment A (h1 encapsulates to h2).
#   routed vm1 -> vm3: h1's agent routes A -> B itself (distributed router:
#          the sending host routes, TTL and MACs rewritten) and encapsulates
#          straight to h2 in segment B; the replies are routed on h2.
#
# Measured on each path, IPv4:
#   TCP   iperf3 -c -t TCP_SECS, one stream, Gbit/s received
#         (end.sum_received); best of REPS runs.
#   RTT   ping -c RTT_COUNT -i 0.01 (56-byte payload); every "time=" line is
#         a sample; p50/p99 by nearest rank, in microseconds.
# The paths take turns: RTT same then routed; then REPS rounds of TCP, odd
# rounds same first, even rounds routed first, so load from other work on
# the machine falls on both alike.  h1's "routed" counter must grow during
# each routed TCP run (proof that the path really is routed).
#
# Prints `name: value unit` lines on stdout (all at the end); progress and
# diagnostics (per-run figures, sender RTT/retransmits, machine and agent
# packet-thread CPU) on stderr.  Takes about 60 s; a watchdog ends it at
# E2E_DEADLINE s (default 150); the lab's trap deletes every namespace and
# ends every process it made on exit, also on failure.  Needs root.
#
# Env: WEFT_BUILD (default <repo>/build/release), REPS (3), TCP_SECS (5),
#      RTT_COUNT (200), E2E_DEADLINE (150), LAB_KEEP=1 keeps the lab's work
#      directory.
set -u
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)
WEFT_BUILD=${WEFT_BUILD:-$REPO/build/release}
case $WEFT_BUILD in /*) ;; *) WEFT_BUILD=$REPO/$WEFT_BUILD ;; esac
export WEFT_BUILD
export LAB_LOG_LEVEL=${LAB_LOG_LEVEL:-warn}

log() { echo "e2e-routing: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (it builds network namespaces); run it with sudo"
  exit 1
fi

# shellcheck source=../scripts/lab-lib.sh
source "$REPO/scripts/lab-lib.sh"

REPS=${REPS:-3}
TCP_SECS=${TCP_SECS:-5}
RTT_COUNT=${RTT_COUNT:-200}
DEADLINE=${E2E_DEADLINE:-150}
IPERF_PORT=5201

VM1_IP=198.19.1.11
VM2_IP=198.19.1.21
VM3_IP=198.19.2.31

die() {
  echo "e2e-routing: FAILED: $*" >&2
  # shellcheck disable=SC2034 # read by lab-lib's cleanup
  LAB_FAILED=1
  exit 1
}

for t in ip iperf3 ping jq timeout awk ss; do
  command -v "$t" >/dev/null || die "'$t' not found (scripts/install-deps.sh installs it)"
done
for b in weftd weft-agent weft; do
  [ -x "$WEFT_BUILD/bin/$b" ] ||
    die "$WEFT_BUILD/bin/$b not found (make VARIANT=release build)"
done
for v in REPS TCP_SECS RTT_COUNT DEADLINE; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer: '${!v}'"
done

lab_init wbr || die "lab_init"

# Watchdog: past DEADLINE seconds, SIGTERM ourselves (the lab's trap cleans
# up).  The lab's cleanup ends it, and its sleep, when we finish first.
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$DEADLINE" &
  sp=$!
  wait "$sp" && echo "e2e-routing: deadline of $DEADLINE s reached" >&2 && kill -TERM $$
) &
LAB_BG_PIDS+=("$!")

log "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- topology -----------------------------------------------------------------
lab_weftd_start || die "weftd"
lab_cp_host h1 198.18.0.1 || die "host h1"
lab_cp_host h2 198.18.0.2 || die "host h2"
lab_segment A 7401 || die "segment A"
lab_vm h1 vm1 02:00:74:01:01:11 "$VM1_IP/24" || die "vm1"
lab_vm h2 vm2 02:00:74:01:01:21 "$VM2_IP/24" || die "vm2"
lab_segment B 7402 || die "segment B"
lab_vm h2 vm3 02:00:74:02:02:31 "$VM3_IP/24" || die "vm3"
lab_start_cp_agent h1 || die "agent on h1"
lab_start_cp_agent h2 || die "agent on h2"

port() { # VM: the JSON of VM's port
  printf '"%s":{"mac_address":"%s","ip_addresses":["%s"],"attachment":{"host":"%s","vif":"v-%s"}}' \
    "$1" "$(lab_vm_mac "$1")" "$(lab_vm_ip "$1")" "$(lab_vm_host "$1")" "$1"
}
lab_weft apply -f - >/dev/null <<EOF || die "weft apply (router t1, segments A and B)"
{"projects": {"default": {
  "routers": {"t1": {}},
  "segments": {
   "A": {"vni": 7401, "router": "t1", "subnets": [{"gateway_address": "198.19.1.1/24"}],
    "ports": {$(port vm1), $(port vm2)}},
   "B": {"vni": 7402, "router": "t1", "subnets": [{"gateway_address": "198.19.2.1/24"}],
    "ports": {$(port vm3)}}}}}}
EOF
lab_weft_wait 30 >/dev/null || die "topology not realized within 30 s"
lab_exec vm1 ip route add default via 198.19.1.1 || die "vm1 default route"
lab_exec vm2 ip route add default via 198.19.1.1 || die "vm2 default route"
lab_exec vm3 ip route add default via 198.19.2.1 || die "vm3 default route"

declare -A DST=([same]=vm2 [routed]=vm3)
declare -A DST_IP=([same]=$VM2_IP [routed]=$VM3_IP)

# Reachability both ways (also fills the VMs' ARP caches before measuring).
for tag in same routed; do
  lab_ping vm1 "${DST_IP[$tag]}" 3 >/dev/null || die "$tag: vm1 cannot ping ${DST[$tag]}"
  lab_ping "${DST[$tag]}" "$VM1_IP" 3 >/dev/null || die "$tag: ${DST[$tag]} cannot ping vm1"
done

# ---- CPU accounting (diagnostics) ---------------------------------------------
source "$REPO/bench/e2e-lib.sh"

# routed_count: h1's "routed" pipeline counter.
routed_count() {
  lab_ctl h1 counters 2>/dev/null | awk '$1 == "routed" && NF == 2 { print $2; exit }'
}

# ---- measurements ---------------------------------------------------------------
declare -A R=()

# measure_tcp TAG REP: iperf3 vm1 -> the TAG path's VM, one stream,
# TCP_SECS s; keeps the best Gbit/s in R[tcp_TAG].
measure_tcp() {
  local tag=$1 rep=$2 out=$LAB_DIR/iperf-$1-$2.json dst=${DST[$1]} spid gbps r0 r1
  lab_bg lab_exec "$dst" timeout $((TCP_SECS + 20)) iperf3 -s -1 -p "$IPERF_PORT" >/dev/null 2>&1
  spid=$LAB_LAST_PID
  lab_wait_listen "$dst" "$IPERF_PORT" 10 || return 1
  r0=$(routed_count)
  cpu_mark
  lab_exec vm1 timeout $((TCP_SECS + 15)) iperf3 -c "${DST_IP[$tag]}" -p "$IPERF_PORT" \
    -t "$TCP_SECS" -J >"$out" 2>&1
  cpu_report "$tag: TCP run $rep"
  r1=$(routed_count)
  lab_wait_pid "$spid" 10
  gbps=$(jq -r '.end.sum_received.bits_per_second / 1e9' "$out" 2>/dev/null)
  if ! [[ "$gbps" =~ ^[0-9.e+-]+$ ]]; then
    log "$tag: iperf3 gave no result:"
    tail -n 20 "$out" >&2
    return 1
  fi
  gbps=$(awk -v g="$gbps" 'BEGIN { printf "%.2f", g }')
  log "$tag: TCP run $rep: $gbps Gbit/s received; h1 routed +$((${r1:-0} - ${r0:-0}));" \
    "sender: $(jq -r '.end.streams[0].sender | "mean RTT \(.mean_rtt) us, max cwnd" +
      " \(.max_snd_cwnd) B, \(.retransmits) retransmits"' "$out")"
  # The routed path must go through h1's router, the same-segment one not.
  if [[ "${r0:-}" =~ ^[0-9]+$ ]] && [[ "${r1:-}" =~ ^[0-9]+$ ]]; then
    if [ "$tag" = routed ] && [ "$r1" -le "$r0" ]; then
      log "$tag: h1's routed counter did not move: not a routed path"
      return 1
    fi
  else
    log "$tag: no 'routed' counter from h1's agent (ctl counters)"
    return 1
  fi
  R[runs_$tag]+="${R[runs_$tag]:+ }$gbps"
  if [ -z "${R[tcp_$tag]:-}" ] ||
    awk -v a="$gbps" -v b="${R[tcp_$tag]}" 'BEGIN { exit !(a > b) }'; then
    R[tcp_$tag]=$gbps
  fi
}

measure_rtt same "${DST_IP[same]}" || die "same: RTT measurement"
measure_rtt routed "${DST_IP[routed]}" || die "routed: RTT measurement"
for ((i = 1; i <= REPS; i++)); do
  order="same routed"
  [ $((i % 2)) -eq 0 ] && order="routed same"
  for tag in $order; do
    measure_tcp "$tag" "$i" || die "$tag: TCP measurement"
  done
done
for tag in same routed; do
  log "$tag: TCP Gbit/s per run: ${R[runs_$tag]} (median" \
    "$(tr ' ' '\n' <<<"${R[runs_$tag]}" | sort -n | awk '{ a[NR] = $1 }
      END { printf "%.2f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'))"
done
log "h1 counters after the runs:"
lab_ctl h1 counters >&2

# ---- results ------------------------------------------------------------------
cat <<EOF
e2e_same_segment_tcp_gbps: ${R[tcp_same]} Gbit/s
e2e_routed_tcp_gbps: ${R[tcp_routed]} Gbit/s
e2e_routed_tcp_ratio: $(awk -v a="${R[tcp_routed]}" -v b="${R[tcp_same]}" \
  'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }') x
e2e_same_segment_rtt_p50_us: ${R[p50_same]} us
e2e_same_segment_rtt_p99_us: ${R[p99_same]} us
e2e_routed_rtt_p50_us: ${R[p50_routed]} us
e2e_routed_rtt_p99_us: ${R[p99_routed]} us
EOF
log "done in $SECONDS s"
