#!/usr/bin/env bash
# End-to-end datapath benchmark: VM -> VM across two hosts, Weft against the
# Linux kernel, on the identical namespace topology (scripts/lab-lib.sh):
#
#   h1 (underlay 198.18.0.1, ul0 MTU 1600)     h2 (198.18.0.2)
#     vm1 eth0 02:00:00:01:01:01 198.19.1.11     vm2 eth0 02:00:00:01:02:01
#     (MTU 1500, veth peer v-vm1 in h1)          198.19.1.21 (v-vm2 in h2)
#   segment "bench": VNI 5001, VXLAN (UDP 4789)
#
# Pass (a) weft: weft-agent (WEFT_BUILD/bin/weft-agent, default options:
#   offloads on, no busy polling, options.kernel_fastpath as its default)
#   in h1 and h2, opening v-vmN over AF_PACKET and tunnelling in VXLAN over
#   kernel UDP sockets; with the kernel fast path (decision 70) its BPF
#   programs carry the VM's unicast frames, the pipeline the rest.
# Pass (a') pipeline: the same with options.kernel_fastpath false, so the
#   user-space pipeline carries everything (e2e_*_pipeline figures).
# Pass (b) kernel: the agents are stopped; the same namespaces, interfaces
#   and addresses then get, in each host, a Linux bridge br0 with v-vmN and
#   a kernel VXLAN device vxlan0 (id 5001, dstport 4789, local = the host's
#   underlay address, dev ul0, nolearning, udpcsum like Weft's UDP sockets,
#   MTU 1500) whose FDB holds a static entry for the remote VM's MAC and an
#   all-zeros flood entry, both to the other host.
#
# Measured in each pass, vm1 -> vm2:
#   RTT   ping -c RTT_COUNT -i 0.01 (56-byte payload); every "time=" line is
#         a sample; p50/p99 by nearest rank, in microseconds.
#   TCP   iperf3 -c -t TCP_SECS, one stream; Gbit/s received
#         (end.sum_received).  Best of REPS runs.
#   UDP   64-byte frames (18-byte payload: 60 bytes + FCS on the wire) from
#         bench/udpgen.c (sendmmsg, one flow, unpaced, bounded by UDP_SECS)
#         into a bound, non-reading socket in vm2 (so vm2 sends no ICMP
#         errors).  Rate = growth of vm2's eth0 rx_packets over a
#         UDP_WINDOW-second window that starts UDP_WARMUP seconds into the
#         send.  Best of REPS runs; the growth of vm1's eth0 tx_packets over
#         the same window (the offered load) is printed as
#         e2e_udp64_tx_pps[_kernel].
#
# Prints `name: value unit` lines on stdout (all at the end); progress and
# diagnostics on stderr: per-hop packet accounting of each UDP run, TCP
# sender RTT/cwnd, the machine's CPU use and each agent packet thread's CPU
# during each TCP and UDP run.  Takes about 60-70 s; a watchdog ends it at
# E2E_DEADLINE s (default 170); the lab's trap deletes every namespace and
# process it made on exit, also on failure.
#
# Env: WEFT_BUILD (default <repo>/build/release), REPS (2), TCP_SECS (5),
#      UDP_SECS (5), UDP_WARMUP (1.5), UDP_WINDOW (3), RTT_COUNT (500),
#      E2E_DEADLINE (170), LAB_KEEP=1 keeps the lab's work directory.
#      E2E_PARTS (default "rtt tcp udp"): which measurements to run, e.g.
#      E2E_PARTS=tcp for the TCP figure alone; "idle" (not in the default)
#      logs the packet threads' CPU over IDLE_SECS (10) s of no traffic;
#      "light" (not in the default) logs it over LIGHT_SECS (8) s of steady
#      one-way UDP at LIGHT_PPS (2000) frames/s (udpgen pace); E2E_PASSES (default
#      "weft pipeline kernel"): which passes.  Results of parts not run print as 0.
#      WEFT_AGENT_B=PATH: A/B mode for the weft pass: REPS rounds, each
#      measuring the default agent (A) and then PATH (B) with fresh agents,
#      alternating, so both see the same share of the machine's noise; every
#      run is logged, and e2e_*_b lines give B's best.
#      WEFT_OPTIONS, WEFT_OPTIONS_B: a JSON object merged into the agents'
#      "options" for A (the plain weft pass) and for B, e.g.
#      WEFT_AGENT_B=build/release/bin/weft-agent WEFT_OPTIONS_B='{"busy_poll":
#      true}' measures busy polling against the default with one binary.
#      E2E_KERNEL_ROUNDS=1 (A/B mode): the kernel is measured in every
#      round too, after A and B, instead of once at the end.
#      E2E_PERF=SECS: during the first weft TCP run, `perf record -g` both
#      agents for SECS s (LAB_KEEP=1 to keep LAB_DIR/perf-hN.data) and
#      count their recvmmsg/sendmmsg/poll calls (logged).
set -u
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)
WEFT_BUILD=${WEFT_BUILD:-$REPO/build/release}
case $WEFT_BUILD in /*) ;; *) WEFT_BUILD=$REPO/$WEFT_BUILD ;; esac
export WEFT_BUILD
export LAB_LOG_LEVEL=${LAB_LOG_LEVEL:-warn}
# shellcheck source=../scripts/lab-lib.sh
source "$REPO/scripts/lab-lib.sh"

REPS=${REPS:-2}
TCP_SECS=${TCP_SECS:-5}
UDP_SECS=${UDP_SECS:-5}
UDP_WARMUP=${UDP_WARMUP:-1.5}
UDP_WINDOW=${UDP_WINDOW:-3}
RTT_COUNT=${RTT_COUNT:-500}
IDLE_SECS=${IDLE_SECS:-10}
LIGHT_SECS=${LIGHT_SECS:-8}
LIGHT_PPS=${LIGHT_PPS:-2000}
DEADLINE=${E2E_DEADLINE:-170}
PARTS=" ${E2E_PARTS:-rtt tcp udp} "
PASSES=" ${E2E_PASSES:-weft pipeline kernel} "
AGENT_B=${WEFT_AGENT_B:-}
OPTIONS_A=${WEFT_OPTIONS:-}
OPTIONS_B=${WEFT_OPTIONS_B:-}
KERNEL_ROUNDS=
[ -n "$AGENT_B" ] && [[ $PASSES == *" kernel "* ]] && KERNEL_ROUNDS=${E2E_KERNEL_ROUNDS:-}
PERF_SECS=${E2E_PERF:-}
UDP_PORT=9000 # + run number
UDP_RUN=0
IPERF_PORT=5201

VNI=5001
H1_IP=198.18.0.1
H2_IP=198.18.0.2
VM1_MAC=02:00:00:01:01:01
VM2_MAC=02:00:00:01:02:01
VM1_IP=198.19.1.11
VM2_IP=198.19.1.21

log() { echo "e2e: $*" >&2; }
die() {
  echo "e2e: FAILED: $*" >&2
  # shellcheck disable=SC2034 # read by lab-lib's cleanup
  LAB_FAILED=1
  exit 1
}

for t in ip bridge iperf3 ping jq gcc timeout awk; do
  command -v "$t" >/dev/null || die "'$t' not found"
done
[ -x "$WEFT_BUILD/bin/weft-agent" ] ||
  die "$WEFT_BUILD/bin/weft-agent not found (make VARIANT=release build)"

lab_init wbe || die "lab_init"

# Watchdog: past DEADLINE seconds, SIGTERM ourselves (the lab's trap cleans
# up).  The lab's cleanup ends it, and its sleep, when we finish first.
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$DEADLINE" &
  sp=$!
  wait "$sp" && echo "e2e: deadline of $DEADLINE s reached" >&2 && kill -TERM $$
) &
LAB_BG_PIDS+=("$!")

log "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" \
  "(other work on the machine competes with both passes)"

UDPGEN=$LAB_DIR/udpgen
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$UDPGEN" "$E2E_DIR/udpgen.c" ||
  die "cannot build bench/udpgen.c"

# ---- topology (shared by both passes) ------------------------------------
lab_host h1 "$H1_IP" || die "lab_host h1"
lab_host h2 "$H2_IP" || die "lab_host h2"
lab_segment bench "$VNI" vxlan || die "lab_segment"
lab_vm h1 vm1 "$VM1_MAC" "$VM1_IP/24" || die "lab_vm vm1"
lab_vm h2 vm2 "$VM2_MAC" "$VM2_IP/24" || die "lab_vm vm2"
lab_write_configs || die "lab_write_configs"
for h in h1 h2; do cp "$(lab_agent_config $h)" "$LAB_DIR/$h.base.json"; done

# ---- CPU accounting (diagnostics) ------------------------------------------
source "$REPO/bench/e2e-lib.sh"

# ---- measurements ------------------------------------------------------------
declare -A R=()

# measure_tcp TAG REP [HOSTS...]: iperf3, one stream, TCP_SECS s; keeps the
# best Gbit/s in R[tcp_TAG].  HOSTS: agents whose counters go into the
# per-hop accounting (where a retransmitted segment was lost).
measure_tcp() {
  local tag=$1 rep=$2 out=$LAB_DIR/iperf-$1-$2.json snap=$LAB_DIR/snap-tcp-$1-$2 spid gbps cpg
  shift 2
  snapshot "$@" >"$snap.0"
  lab_bg lab_exec vm2 timeout $((TCP_SECS + 20)) iperf3 -s -1 -p "$IPERF_PORT" >/dev/null 2>&1
  spid=$LAB_LAST_PID
  lab_wait_listen vm2 "$IPERF_PORT" 10 || return 1
  cpu_mark
  perf_start "$tag"
  lab_exec vm1 timeout $((TCP_SECS + 15)) iperf3 -c "$VM2_IP" -p "$IPERF_PORT" \
    -t "$TCP_SECS" -J >"$out" 2>&1
  cpu_report "$tag: TCP run $rep"
  perf_wait
  wait "$spid" 2>/dev/null
  snapshot "$@" >"$snap.1"
  gbps=$(jq -r '.end.sum_received.bits_per_second / 1e9' "$out" 2>/dev/null)
  if ! [[ "$gbps" =~ ^[0-9.e+-]+$ ]]; then
    log "$tag: iperf3 gave no result:"
    tail -n 20 "$out" >&2
    return 1
  fi
  gbps=$(awk -v g="$gbps" 'BEGIN { printf "%.2f", g }')
  R[tcpall_$tag]="${R[tcpall_$tag]:+${R[tcpall_$tag]} }$gbps"
  if [ "$CPU_DP_SUM" -gt 0 ]; then
    # Packet-thread CPU per Gbit/s: less sensitive than the rate to what
    # else runs on the machine.
    cpg=$(awk -v c="$CPU_DP_SUM" -v g="$gbps" 'BEGIN { printf "%.1f", (g > 0 ? c / g : 0) }')
    R[tcpcpu_$tag]="${R[tcpcpu_$tag]:+${R[tcpcpu_$tag]} }$cpg"
    log "$tag: TCP run $rep: agents' packet threads: $cpg % of a CPU per Gbit/s"
  fi
  log "$tag: TCP run $rep: $gbps Gbit/s received; sender:" \
    "$(jq -r '.end.streams[0].sender | "mean RTT \(.mean_rtt) us, max cwnd" +
      " \(.max_snd_cwnd) B, \(.retransmits) retransmits"' "$out")"
  log_deltas "$tag: TCP run $rep" "$snap.0" "$snap.1"
  if [ -z "${R[tcp_$tag]:-}" ] ||
    awk -v a="$gbps" -v b="${R[tcp_$tag]}" 'BEGIN { exit !(a > b) }'; then
    R[tcp_$tag]=$gbps
  fi
}

# perf_start TAG: with E2E_PERF, the first time a weft pass measures TCP,
# records both agents (call graphs) for E2E_PERF s, one second into the run.
PERF_PIDS=()
perf_start() {
  local h pid
  [ -n "$PERF_SECS" ] && [ -z "${PERF_DONE:-}" ] && [ "${1%_b}" = weft ] || return 0
  PERF_DONE=1
  for h in h1 h2; do
    pid=$(lab_agent_pid "$h")
    [ -n "$pid" ] || continue
    lab_bg timeout $((PERF_SECS + 10)) perf record -q -g -p "$pid" \
      -o "$LAB_DIR/perf-$h.data" -- sleep "$PERF_SECS" >/dev/null 2>&1
    PERF_PIDS+=("$LAB_LAST_PID")
    lab_bg timeout $((PERF_SECS + 10)) perf stat -p "$pid" \
      -e syscalls:sys_enter_recvmmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_poll \
      -o "$LAB_DIR/perf-stat-$h.txt" -- sleep "$PERF_SECS" >/dev/null 2>&1
    PERF_PIDS+=("$LAB_LAST_PID")
  done
}
perf_wait() {
  local p h
  for p in "${PERF_PIDS[@]}"; do lab_wait_pid "$p" $((PERF_SECS + 15)); done
  [ ${#PERF_PIDS[@]} -gt 0 ] || return 0
  PERF_PIDS=()
  for h in h1 h2; do
    [ -f "$LAB_DIR/perf-stat-$h.txt" ] || continue
    log "perf: $h system calls in $PERF_SECS s:" \
      "$(awk '/syscalls:/ { gsub(/syscalls:sys_enter_/, "", $2); printf "%s %s ", $2, $1 }' \
        "$LAB_DIR/perf-stat-$h.txt")"
  done
}

# udp_sample: prints "VM1_TX VM2_RX NSEC": vm1 eth0 tx_packets, vm2 eth0
# rx_packets (read over netlink into the VM namespaces) and the time.
udp_sample() {
  local a b
  a=$(ip -n "$(lab_ns vm1)" -s -j link show dev eth0 | jq '.[0].stats64.tx.packets')
  b=$(ip -n "$(lab_ns vm2)" -s -j link show dev eth0 | jq '.[0].stats64.rx.packets')
  echo "$a $b $(date +%s%N)"
}

# snapshot [HOSTS...]: "key value" lines, one per packet counter along the
# path: VM interfaces and TCP segment counts, UDP MIB and vxlan0 (kernel
# pass) of the host namespaces, the machine's softnet backlog drops, and
# for each agent in HOSTS its port counters (ctl ports) and pipeline
# counters (ctl counters).
snapshot() {
  local vm h c
  for vm in vm1 vm2; do
    for c in tx_packets tx_dropped rx_packets rx_dropped; do
      echo "$vm.eth0.$c $(lab_exec "$vm" cat "/sys/class/net/eth0/statistics/$c")"
    done
    # TCP segments, and why some were sent again: losses, reordering,
    # probes, timeouts (one nstat read per VM).
    lab_exec "$vm" nstat -asz 2>/dev/null | awk -v vm="$vm" '
      $1 ~ /^Tcp(InSegs|OutSegs|RetransSegs)$/ { print vm ".tcp." substr($1, 4), $2 }
      $1 ~ /^TcpExt(TCP(Fast|SlowStart)Retrans|TCPLostRetransmit|TCPTimeouts|TCPLossProbes|TCPLossProbeRecovery|TCPDSACK(Recv|OldSent)|TCP(SACK|TS|Reno)Reorder|TCP(Full|Partial|DSACK|Loss|SACKReneging)Undo|TCPSpuriousRTOs|TCPSpuriousRtxHostQueues|TCPOFOQueue|TCPSackRecovery)$/ {
        print vm ".tcpext." substr($1, 7), $2 }'
  done
  for h in h1 h2; do
    lab_exec "$h" awk -v h="$h" '/^Udp:/ { if (!hdr) { split($0, k); hdr = 1 } else {
      for (i = 2; i <= NF; i++) print h ".udp." k[i], $i } }' /proc/net/snmp |
      grep -E 'InDatagrams|RcvbufErrors|OutDatagrams|SndbufErrors|InErrors'
    lab_exec "$h" test -e /sys/class/net/vxlan0 || continue
    for c in tx_packets tx_dropped rx_packets rx_dropped; do
      echo "$h.vxlan0.$c $(lab_exec "$h" cat "/sys/class/net/vxlan0/statistics/$c")"
    done
  done
  local _p d t=0
  while read -r _p d _p; do t=$((t + 16#$d)); done </proc/net/softnet_stat
  echo "machine.softnet.dropped $t"
  for h in "$@"; do
    lab_ctl "$h" ports 2>/dev/null | awk -v h="$h" 'NR > 1 {
      print h ".agent.port." $2 ".rx", $7; print h ".agent.port." $2 ".tx", $8
      print h ".agent.port." $2 ".tx_drops", $9
      print h ".agent.port." $2 ".rx_drops", $10 }'
    lab_ctl "$h" counters 2>/dev/null | awk -v h="$h" 'NF == 2 && $2 ~ /^[0-9]+$/ {
      print h ".agent." $1, $2 }'
  done
}

# log_deltas WHAT SNAP0 SNAP1: logs the counters that moved between two
# snapshots.
log_deltas() {
  log "$1: counters that moved over the whole run (delta):"
  awk 'NR == FNR { a[$1] = $2; next }
       ($1 in a) && $2 != a[$1] { printf "    %-36s %12d\n", $1, $2 - a[$1] }' \
    "$2" "$3" >&2
}

# measure_udp TAG REP [HOSTS...]: 64-byte UDP flood vm1 -> vm2; keeps the
# best packets/s arriving on vm2's eth0 in R[udp_TAG] and vm1 eth0's sent
# packets/s over the same window in R[udptx_TAG].  HOSTS: agents whose
# counters go into the per-hop accounting.
measure_udp() {
  local tag=$1 rep=$2 gen=$LAB_DIR/udpgen-$1-$2.txt snap=$LAB_DIR/snap-$1-$2 gpid n ns pps txpps
  local tx0 rx0 t0 tx1 rx1 t1
  UDP_RUN=$((UDP_RUN + 1))
  local port=$((UDP_PORT + UDP_RUN)) # a fresh port: an earlier sink may linger
  shift 2
  lab_bg lab_exec vm2 "$UDPGEN" sink "$port" $((UDP_SECS + 5))
  sleep 0.2
  snapshot "$@" >"$snap.0"
  lab_bg lab_exec vm1 "$UDPGEN" send "$VM2_IP" "$port" "$UDP_SECS" 18 >"$gen" 2>&1
  gpid=$LAB_LAST_PID
  sleep "$UDP_WARMUP"
  cpu_mark
  read -r tx0 rx0 t0 < <(udp_sample)
  sleep "$UDP_WINDOW"
  read -r tx1 rx1 t1 < <(udp_sample)
  cpu_report "$tag: UDP run $rep (window)"
  wait "$gpid" 2>/dev/null
  sleep 0.3 # let the queues drain before the second snapshot
  snapshot "$@" >"$snap.1"
  for n in "$tx0" "$rx0" "$t0" "$tx1" "$rx1" "$t1"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { log "$tag: bad counter sample '$n'"; return 1; }
  done
  ns=$((t1 - t0))
  pps=$(awk -v n=$((rx1 - rx0)) -v ns="$ns" 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
  txpps=$(awk -v n=$((tx1 - tx0)) -v ns="$ns" 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
  log "$tag: UDP run $rep: udpgen: $(cat "$gen")"
  log "$tag: UDP run $rep: window of $((ns / 1000000)) ms: vm1 eth0 sent $((tx1 - tx0))" \
    "($txpps pps), vm2 eth0 received $((rx1 - rx0)) ($pps pps)"
  log_deltas "$tag: UDP run $rep" "$snap.0" "$snap.1"
  [ "$pps" -gt 0 ] || { log "$tag: no UDP packet arrived"; return 1; }
  if [ "$pps" -gt "${R[udp_$tag]:-0}" ]; then
    R[udp_$tag]=$pps
    R[udptx_$tag]=$txpps
  fi
}

measure_all() { # TAG [HOSTS for counters]
  local tag=$1 i
  shift
  lab_ping vm1 "$VM2_IP" 3 >/dev/null || die "$tag: vm1 cannot ping vm2"
  lab_ping vm2 "$VM1_IP" 3 >/dev/null || die "$tag: vm2 cannot ping vm1"
  if [[ $PARTS == *" idle "* ]]; then
    # An idle agent must sleep: its packet thread's CPU over IDLE_SECS s
    # without traffic (after the pings above have ended).
    sleep 1
    cpu_mark
    sleep "$IDLE_SECS"
    cpu_report "$tag: idle for $IDLE_SECS s"
  fi
  if [[ $PARTS == *" light "* ]]; then
    # Light, steady traffic: the packet threads' CPU while one frame comes
    # every 1/LIGHT_PPS s (what spinning after each frame costs).
    UDP_RUN=$((UDP_RUN + 1))
    lab_bg lab_exec vm2 "$UDPGEN" sink $((UDP_PORT + UDP_RUN)) $((LIGHT_SECS + 5))
    sleep 0.2
    cpu_mark
    lab_exec vm1 "$UDPGEN" pace "$VM2_IP" $((UDP_PORT + UDP_RUN)) "$LIGHT_SECS" "$LIGHT_PPS" >&2 ||
      die "$tag: paced UDP"
    cpu_report "$tag: $LIGHT_PPS frames/s for $LIGHT_SECS s"
  fi
  if [[ $PARTS == *" rtt "* ]]; then
    measure_rtt "$tag" "$VM2_IP" || die "$tag: RTT measurement"
    R[rttall50_$tag]="${R[rttall50_$tag]:+${R[rttall50_$tag]} }${R[p50_$tag]}"
    R[rttall99_$tag]="${R[rttall99_$tag]:+${R[rttall99_$tag]} }${R[p99_$tag]}"
  fi
  if [[ $PARTS == *" tcp "* ]]; then
    for ((i = 1; i <= REPS; i++)); do
      measure_tcp "$tag" "$i" "$@" || die "$tag: TCP measurement"
    done
  fi
  if [[ $PARTS == *" udp "* ]]; then
    for ((i = 1; i <= REPS; i++)); do
      measure_udp "$tag" "$i" "$@" || die "$tag: UDP measurement"
    done
  fi
}

# weft_agents AGENT [OPTIONS]: (re)starts both agents from binary AGENT,
# with the JSON object OPTIONS merged into their config's "options".
weft_agents() {
  local h o=${2:-}
  LAB_AGENT=$1
  [ -n "$o" ] || o='{}'
  for h in h1 h2; do
    jq --argjson o "$o" '.options = ((.options // {}) + $o)' \
      "$LAB_DIR/$h.base.json" >"$(lab_agent_config $h)" || die "options: $o"
  done
  lab_start_agent h1 || die "agent on h1"
  lab_start_agent h2 || die "agent on h2"
}
weft_agents_stop() {
  lab_stop_agent h1 || die "agent on h1 did not stop cleanly"
  lab_stop_agent h2 || die "agent on h2 did not stop cleanly"
}

# ---- the kernel's datapath (pass b) -------------------------------------
kernel_host() { # HOST LOCAL_IP PEER_IP VM REMOTE_MAC
  local h=$1 ip=$2 peer=$3 vm=$4 rmac=$5
  lab_exec "$h" ip link add br0 type bridge stp_state 0 forward_delay 0 \
    mcast_snooping 0 &&
    lab_exec "$h" ip link add vxlan0 type vxlan id "$VNI" local "$ip" dev ul0 \
      dstport 4789 nolearning udpcsum &&
    lab_exec "$h" ip link set vxlan0 mtu "$LAB_VM_MTU" master br0 up &&
    lab_exec "$h" ip link set "v-$vm" master br0 &&
    lab_exec "$h" ip link set br0 up &&
    lab_exec "$h" bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst "$peer" self permanent &&
    lab_exec "$h" bridge fdb add "$rmac" dev vxlan0 dst "$peer" self permanent &&
    lab_exec "$h" bridge fdb add "$rmac" dev vxlan0 master static
}
kernel_up() {
  kernel_host h1 "$H1_IP" "$H2_IP" vm1 "$VM2_MAC" || die "kernel bridge/VXLAN on h1"
  kernel_host h2 "$H2_IP" "$H1_IP" vm2 "$VM1_MAC" || die "kernel bridge/VXLAN on h2"
}
# kernel_down: undoes kernel_up, so that agents can take the VIFs again.
kernel_down() {
  local h
  for h in h1 h2; do
    lab_exec "$h" ip link del vxlan0 && lab_exec "$h" ip link del br0 ||
      die "kernel bridge/VXLAN teardown on $h"
  done
}

# ---- pass (a): Weft ----------------------------------------------------------
# weft_pass TAG OPTIONS: one pass of the default agent with OPTIONS.
weft_pass() {
  local tag=$1 h
  log "pass $tag: $AGENT_A in h1 and h2, options ${2:-none}"
  weft_agents "$AGENT_A" "$2"
  measure_all "$tag" h1 h2
  for h in h1 h2; do
    log "$tag: $h ports:"
    lab_ctl "$h" ports >&2
    log "$tag: $h kernel fast path:"
    lab_ctl "$h" fastpath >&2
  done
  weft_agents_stop
}
AGENT_A=$LAB_AGENT
if [[ $PASSES == *" weft "* ]] && [ -z "$AGENT_B" ]; then
  weft_pass weft "$OPTIONS_A"
elif [[ $PASSES == *" weft "* ]]; then
  [ -x "$AGENT_B" ] || die "WEFT_AGENT_B: $AGENT_B not found"
  log "pass weft, A/B: A = $AGENT_A, B = $AGENT_B, $REPS rounds, interleaved"
  reps=$REPS
  REPS=1
  for ((round = 1; round <= reps; round++)); do
    for ab in a b; do
      if [ "$ab" = a ]; then
        agent=$AGENT_A tag=weft opts=$OPTIONS_A
      else
        agent=$AGENT_B tag=weft_b opts=$OPTIONS_B
      fi
      log "round $round: $ab"
      weft_agents "$agent" "$opts"
      measure_all "$tag" h1 h2
      weft_agents_stop
    done
    if [ -n "$KERNEL_ROUNDS" ]; then
      log "round $round: kernel"
      kernel_up
      measure_all kernel
      kernel_down
    fi
  done
  REPS=$reps
fi
LAB_AGENT=$AGENT_A

# Pass (a'): the same agents with the kernel fast path off, so that the
# user-space pipeline's own figures stay in view (decision 70).
if [[ $PASSES == *" pipeline "* ]]; then
  weft_pass pipeline "$(jq -c '. + {"kernel_fastpath": false}' <<<"${OPTIONS_A:-"{}"}")"
fi

if [[ $PASSES == *" kernel "* ]] && [ -z "$KERNEL_ROUNDS" ]; then
  log "pass kernel: Linux bridge + VXLAN in h1 and h2"
  kernel_up
  measure_all kernel
fi

# ---- results ----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }
r() { echo "${R[$1]:-0}"; }
cat <<EOF
e2e_udp64_pps: $(r udp_weft) pps
e2e_udp64_pps_kernel: $(r udp_kernel) pps
e2e_udp64_ratio_vs_kernel: $(ratio "$(r udp_weft)" "$(r udp_kernel)") x
e2e_udp64_tx_pps: $(r udptx_weft) pps
e2e_udp64_tx_pps_kernel: $(r udptx_kernel) pps
e2e_tcp_gbps: $(r tcp_weft) Gbit/s
e2e_tcp_gbps_kernel: $(r tcp_kernel) Gbit/s
e2e_tcp_ratio_vs_kernel: $(ratio "$(r tcp_weft)" "$(r tcp_kernel)") x
e2e_rtt_p50_us: $(r p50_weft) us
e2e_rtt_p50_us_kernel: $(r p50_kernel) us
e2e_rtt_p99_us: $(r p99_weft) us
e2e_rtt_p99_us_kernel: $(r p99_kernel) us
e2e_rtt_p99_ratio_vs_kernel: $(ratio "$(r p99_weft)" "$(r p99_kernel)") x
e2e_udp64_pps_pipeline: $(r udp_pipeline) pps
e2e_tcp_gbps_pipeline: $(r tcp_pipeline) Gbit/s
e2e_tcp_ratio_vs_kernel_pipeline: $(ratio "$(r tcp_pipeline)" "$(r tcp_kernel)") x
e2e_rtt_p50_us_pipeline: $(r p50_pipeline) us
e2e_rtt_p99_us_pipeline: $(r p99_pipeline) us
EOF
if [ -n "$AGENT_B" ]; then
  cat <<EOF
e2e_udp64_pps_b: $(r udp_weft_b) pps
e2e_tcp_gbps_b: $(r tcp_weft_b) Gbit/s
e2e_tcp_runs_gbps: $(r tcpall_weft)
e2e_tcp_runs_gbps_b: $(r tcpall_weft_b)
e2e_tcp_runs_dp_cpu_per_gbps: $(r tcpcpu_weft)
e2e_tcp_runs_dp_cpu_per_gbps_b: $(r tcpcpu_weft_b)
e2e_rtt_p50_us_b: $(r p50_weft_b) us
e2e_rtt_p99_us_b: $(r p99_weft_b) us
e2e_rtt_runs_p50_us: $(r rttall50_weft)
e2e_rtt_runs_p50_us_b: $(r rttall50_weft_b)
e2e_rtt_runs_p99_us: $(r rttall99_weft)
e2e_rtt_runs_p99_us_b: $(r rttall99_weft_b)
e2e_rtt_runs_p50_us_kernel: $(r rttall50_kernel)
e2e_rtt_runs_p99_us_kernel: $(r rttall99_kernel)
EOF
fi
log "done in $SECONDS s"
