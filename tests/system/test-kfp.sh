#!/usr/bin/env bash
# System test: the kernel fast path (options.kernel_fastpath, decision 70).
#
#   h1 (198.18.0.1)                         h2 (198.18.0.2)
#     b11 blue 198.19.1.11                    b21 blue 198.19.1.21
#     b12 blue 198.19.1.12
#     r11 red  198.19.1.11                    r21 red  198.19.1.21
#   blue: VNI 5001 GENEVE, red: VNI 5002 VXLAN, overlapping on purpose.
#
# Checks: the agents report the fast path on with the expected entries;
# ping and TCP (SHA-256 compared) on one host and across hosts over both
# encapsulations, with the fast path's counters proving the kernel carried
# the traffic and the pipeline's proving it did not carry it too (no
# duplicates); the overlapping segments stay apart; the underlay capture
# decodes as GENEVE/VXLAN with the right VNI and Weft's source-port
# option; a VM dropped by a SIGHUP reload leaves the maps; turning the
# option off by reload hands everything back to the pipeline; an agent
# killed with SIGKILL leaves no program forwarding behind it.
# Env: WEFT_BUILD (default build/asan), KFP_MB (default 20), VERBOSE=1.
set -u
source "$(dirname "$0")/lib.sh" || { echo "cannot load tests/system/lib.sh"; exit 1; }

MB=${KFP_MB:-20}
export LAB_KFP=true

require_root
require_tools ip ping tcpdump tshark socat ss timeout sha256sum jq /usr/bin/python3
require_agent
test_deadline 170

setup_lab() {
  lab_init wk || return 1
  lab_host h1 198.18.0.1 || return 1
  lab_host h2 198.18.0.2 || return 1
  lab_segment blue 5001 geneve || return 1
  lab_vm h1 b11 02:00:01:01:00:11 198.19.1.11/24 fd00:19:1::11/64 || return 1
  lab_vm h1 b12 02:00:01:01:00:12 198.19.1.12/24 fd00:19:1::12/64 || return 1
  lab_vm h2 b21 02:00:01:02:00:21 198.19.1.21/24 fd00:19:1::21/64 || return 1
  lab_segment red 5002 vxlan || return 1
  lab_vm h1 r11 02:00:02:01:00:11 198.19.1.11/24 || return 1
  lab_vm h2 r21 02:00:02:02:00:21 198.19.1.21/24 || return 1
  lab_write_configs || return 1
  jq -e '.options.kernel_fastpath == true' "$(lab_agent_config h1)" >/dev/null
}
require "lab topology and configs with options.kernel_fastpath" setup_lab
require "agent starts on h1" lab_start_agent h1
require "agent starts on h2" lab_start_agent h2

# fp HOST FIELD: a counter of `ctl fastpath` ("local", "encap", "decap").
fp() { lab_ctl "$1" fastpath | awk -v f="$2" '$1 == f { print $2 }'; }
# fp_vif HOST VM COLUMN: a per-VIF counter (3 from_vm_pkts, 4 from_vm_bytes,
# 5 to_vm_pkts, 6 to_vm_bytes) of `ctl fastpath`.
fp_vif() { lab_ctl "$1" fastpath | awk -v n="v-$2" -v c="$3" '$2 == n { print $c }'; }
# pl HOST FIELD: a pipeline counter of `ctl counters`.
pl() { lab_ctl "$1" counters | awk -v f="$2" '$1 == f { print $2 }'; }

fastpath_on() { # HOST VIFS SEGMENTS
  local out
  out=$(lab_ctl "$1" fastpath) || return 1
  echo "$out"
  grep -q "^kernel fast path: on" <<<"$out" &&
    grep -q "^entries: vifs $2 segments $3 " <<<"$out"
}
check "h1: fast path on, 3 VIFs and 2 segments in its maps" fastpath_on h1 3 2
check "h2: fast path on, 2 VIFs and 2 segments in its maps" fastpath_on h2 2 2

# Resolve neighbours first (ARP and ND stay with the agent).
check "IPv4 ping b11 -> b21 across hosts (GENEVE)" lab_ping b11 198.19.1.21
check "IPv4 ping b11 -> b12 on one host" lab_ping b11 198.19.1.12
check "IPv6 ping b11 -> b21 across hosts" lab_ping -6 b11 fd00:19:1::21
check "IPv4 ping r11 -> r21 across hosts (VXLAN)" lab_ping r11 198.19.1.21

# 50 pings once neighbours are known: every request and reply goes the
# fast way (the VIF counters move by 50 each way), the pipeline forwards
# none of them (its L2 counters stay within what a stray ARP refresh may
# add), and no reply comes twice.
pings_in_kernel() {
  local e0 d0 l0 b0 out e1 d1 l1 b1
  e0=$(fp h1 encap) d0=$(fp h1 decap) b0=$(fp_vif h2 b21 5)
  l0=$(($(pl h1 l2_remote) + $(pl h2 l2_remote)))
  out=$(lab_exec b11 ping -n -c 50 -i 0.02 -W 2 198.19.1.21) || { echo "$out"; return 1; }
  e1=$(fp h1 encap) d1=$(fp h1 decap) b1=$(fp_vif h2 b21 5)
  l1=$(($(pl h1 l2_remote) + $(pl h2 l2_remote)))
  echo "h1 encap +$((e1 - e0)) decap +$((d1 - d0)); b21 to_vm +$((b1 - b0));" \
    "pipeline l2_remote (both hosts) +$((l1 - l0))"
  tail -n 3 <<<"$out"
  ! grep -q "DUP!" <<<"$out" && [ $((e1 - e0)) -ge 50 ] && [ $((d1 - d0)) -ge 50 ] &&
    [ $((b1 - b0)) -ge 50 ] && [ $((l1 - l0)) -le 4 ]
}
check "50 pings across hosts: all in the kernel, none in the pipeline, no duplicate" pings_in_kernel

tcp_in_kernel() { # SRC DST IP PORT HOST-OF-SRC
  local f0 f1
  f0=$(fp_vif "$5" "$1" 4)
  lab_tcp_transfer "$1" "$2" "$3" "$MB" "$4" || return 1
  f1=$(fp_vif "$5" "$1" 4)
  echo "$1 from_vm_bytes in the fast path: +$((f1 - f0))"
  [ $((f1 - f0)) -ge $((MB * 1048576)) ]
}
check "TCP $MB MB b11 -> b21 (GENEVE), SHA-256 equal, carried by the kernel" \
  tcp_in_kernel b11 b21 198.19.1.21 5001 h1
check "TCP $MB MB b21 -> b11, SHA-256 equal, carried by the kernel" \
  tcp_in_kernel b21 b11 198.19.1.11 5002 h2
check "TCP $MB MB r11 -> r21 (VXLAN), SHA-256 equal, carried by the kernel" \
  tcp_in_kernel r11 r21 198.19.1.21 5003 h1
check "TCP $MB MB b11 -> b12 on one host, SHA-256 equal, carried by the kernel" \
  tcp_in_kernel b11 b12 198.19.1.12 5004 h1
check "TCP $MB MB b11 -> b21 over IPv6, SHA-256 equal, carried by the kernel" \
  tcp_in_kernel b11 b21 fd00:19:1::21 5005 h1
check "h1 counted frames VIF to VIF on the host" test "$(fp h1 local)" -gt 0

# Same addresses, other segment: red traffic reaches r21 only.
isolated() {
  local r0 b0 r1 b1
  r0=$(fp_vif h2 r21 5) b0=$(fp_vif h2 b21 5)
  lab_exec r11 ping -n -c 20 -i 0.02 -W 2 198.19.1.21 | tail -n 2 || return 1
  r1=$(fp_vif h2 r21 5) b1=$(fp_vif h2 b21 5)
  echo "to r21 +$((r1 - r0)), to b21 +$((b1 - b0))"
  [ $((r1 - r0)) -ge 20 ] && [ "$b1" -eq "$b0" ]
}
check "red's 198.19.1.21 is r21, never blue's b21" isolated

# The wire: what the kernel sends decodes as the pipeline's would.
# wire NAME VM FILTER FIELDS EXPECT: the ICMP echo requests VM sends to
# 198.19.1.21, captured on the underlay bridge, decoded by tshark; every
# one must show EXPECT in FIELDS.
wire() {
  local name=$1 vm=$2 filter=$3 fields=$4 expect=$5 out args=() f
  LAB_SNAPLEN=2000 lab_capture_start "$name" ul br0 "$filter" || return 1
  lab_exec "$vm" ping -n -c 5 -i 0.1 -W 2 198.19.1.21 >/dev/null
  sleep 0.5
  lab_capture_stop "$name" >/dev/null
  for f in $fields; do args+=(-e "$f"); done
  out=$(tshark -r "$(lab_capture_file "$name")" -Y "icmp.type == 8" -T fields \
    -E separator=' ' "${args[@]}" 2>/dev/null)
  echo "$out"
  [ "$(grep -c . <<<"$out")" -ge 5 ] && ! grep -qv -- "^$expect\$" <<<"$out"
}
B11_PORT=$(jq -r '.segments[] | .ports[] | select(.name == "b11") | .id' \
  "$(lab_agent_config h1)")
check "underlay: b11's pings are GENEVE, VNI 5001, Weft's option with b11's port" \
  wire kg b11 "udp dst port 6081 and src host 198.18.0.1" \
  "geneve.vni geneve.option.class geneve.option.type geneve.option.unknown.data ip.dst" \
  "0x001389 0xffff 0x01 $(printf %08x "$B11_PORT") 198.18.0.2,198.19.1.21"
check "underlay: r11's pings are VXLAN, VNI 5002" \
  wire kx r11 "udp dst port 4789 and src host 198.18.0.1" \
  "vxlan.vni vxlan.flag_i ip.dst" "5002 1 198.18.0.2,198.19.1.21"

# A reload that drops b12: its entries leave, it is unreachable.
drop_b12() {
  local cfg
  cfg=$(lab_agent_config h1)
  jq '(.segments[] | select(.name == "blue") | .ports) |= map(select(.name != "b12"))' \
    "$cfg" >"$cfg.new" && mv "$cfg.new" "$cfg" || return 1
  lab_sighup h1 || return 1
  local _
  for _ in $(seq 50); do
    fastpath_on h1 2 2 >/dev/null && break
    sleep 0.1
  done
  fastpath_on h1 2 2
}
check "reload without b12: h1's maps hold 2 VIFs" drop_b12
check "b12 is unreachable after it left the configuration" lab_no_ping b11 198.19.1.12
check "b11 -> b21 still pings after the reload" lab_ping b11 198.19.1.21

# The option off by reload: the pipeline carries everything again.
fastpath_off() {
  local cfg _ out l0 l1
  cfg=$(lab_agent_config h1)
  jq '.options.kernel_fastpath = false' "$cfg" >"$cfg.new" && mv "$cfg.new" "$cfg" || return 1
  lab_sighup h1 || return 1
  for _ in $(seq 50); do
    out=$(lab_ctl h1 fastpath)
    grep -q "^kernel fast path: off" <<<"$out" && break
    sleep 0.1
  done
  echo "$out"
  grep -q "^kernel fast path: off" <<<"$out" || return 1
  l0=$(pl h1 l2_remote)
  lab_ping b11 198.19.1.21 10 || return 1
  l1=$(pl h1 l2_remote)
  echo "h1 pipeline l2_remote +$((l1 - l0))"
  [ $((l1 - l0)) -ge 10 ]
}
check "kernel_fastpath false by reload: off, the pipeline forwards b11's pings" fastpath_off

# SIGKILL: the kernel drops the agent's links with the process; nothing
# forwards on stale maps.  h2 still has its fast path; h1 is killed.
killed_leaves_nothing() {
  local cfg pid
  cfg=$(lab_agent_config h1)
  jq '.options.kernel_fastpath = true' "$cfg" >"$cfg.new" && mv "$cfg.new" "$cfg" || return 1
  lab_sighup h1 || return 1
  sleep 1
  fastpath_on h1 2 2 >/dev/null || { echo "fast path not back on"; return 1; }
  lab_ping b11 198.19.1.21 || return 1
  pid=$(lab_agent_pid h1)
  kill -KILL "$pid" && lab_wait_pid "$pid" 5
  # shellcheck disable=SC2034 # lab-lib reads it
  LAB_AGENT_PID["h1"]=""
  if lab_exec b11 ping -n -c 3 -i 0.2 -W 1 -w 3 198.19.1.21; then
    echo "b11 still reaches b21 with no agent on h1: a program outlived it"
    return 1
  fi
  echo "no forwarding without the agent"
}
check "an agent killed with SIGKILL leaves no fast path behind" killed_leaves_nothing
check "agent restarts on h1" lab_start_agent h1
check "b11 -> b21 pings again after the restart" lab_ping b11 198.19.1.21

check_agents_stop_cleanly
finish
