#!/usr/bin/env bash
# System test: per-segment encapsulation through the controller.  weftd in
# its own namespace on the underlay, two enrolled hosts, and two segments
# created only with the `weft` CLI: "green" with --encap vxlan and "blue"
# with the default (GENEVE).
#
#   h1 198.18.0.1: x1 198.19.5.11 (green), y1 198.19.6.11 (blue)
#   h2 198.18.0.2: x2 198.19.5.12 (green), y2 198.19.6.12 (blue)
#
# Checks: the segment object says encap vxlan / geneve; VMs ping across
# hosts on both; a capture on the underlay bridge, decoded by tshark, shows
# green's traffic as VXLAN (UDP 4789, VNI 7101) and blue's as GENEVE (UDP
# 6081, VNI 7102) and nothing of green on 6081; the agent shows green's
# peer as vxlan; a bad --encap is refused naming the field; switching
# green to geneve with a PATCH moves its traffic to UDP 6081.
# Env: WEFT_BUILD (default build/asan).
set -u
source "$(dirname "$0")/lib.sh"

require_root
require_tools ip ping timeout tcpdump tshark curl /usr/bin/python3
require_agent
test_deadline 180

W() { lab_weft "$@"; }

setup() {
  lab_init wx || return 1
  lab_weftd_start || return 1
  lab_cp_host h1 198.18.0.1 && lab_cp_host h2 198.18.0.2 || return 1
  lab_segment green 7101 vxlan || return 1
  lab_vm h1 x1 02:00:71:01:00:01 198.19.5.11/24 || return 1
  lab_vm h2 x2 02:00:71:01:00:02 198.19.5.12/24 || return 1
  lab_segment blue 7102 geneve || return 1
  lab_vm h1 y1 02:00:71:02:00:01 198.19.6.11/24 || return 1
  lab_vm h2 y2 02:00:71:02:00:02 198.19.6.12/24 || return 1
  lab_start_cp_agent h1 && lab_start_cp_agent h2
}
require "lab, weftd and two enrolled agents" setup

# port VM SEGMENT HOST: the CLI call that creates VM's port.
port() {
  W port create "$1" --segment "$2" --mac "$(lab_vm_mac "$1")" \
    --ip "$(lab_vm_ip "$1")" --host "$3" --vif "v-$1"
}

require "segment green created with --encap vxlan" \
  W segment create green --vni 7101 --encap vxlan --subnet 198.19.5.1/24
require "segment blue created without --encap" \
  W segment create blue --vni 7102 --subnet 198.19.6.1/24
require "ports created with the CLI" \
  eval 'port x1 green h1 && port x2 green h2 && port y1 blue h1 && port y2 blue h2'
require "weft wait --realized returns" lab_weft_wait 30

field_is() { # SEGMENT FIELD WANT
  local out
  out=$(W get segment "$1" -o json) || return 1
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=d.get(sys.argv[2], "geneve"); print(v); sys.exit(0 if v==sys.argv[3] else 1)' "$out" "$2" "$3"
}
check "segment green says encap vxlan" field_is green encap vxlan
check "segment blue defaults to geneve" field_is blue encap geneve
check "a bad --encap is refused, naming the field" eval '
  out=$(W segment create red --encap nvgre 2>&1); rc=$?; echo "$out";
  [ $rc -ne 0 ] && echo "$out" | grep -q encap'
check "h1's agent peers with h2 over vxlan for green" eval '
  lab_ctl h1 tunnels | grep -E "198.18.0.2 +segment green vni 7101 vxlan"'
check "h1's agent peers with h2 over geneve for blue" eval '
  lab_ctl h1 tunnels | grep -E "198.18.0.2 +segment blue vni 7102 geneve"'

require "capture on the underlay bridge" lab_capture_start ul ul br0 udp
check "x1 (h1) pings x2 (h2) on the VXLAN segment" lab_ping x1 198.19.5.12 5
check "y1 (h1) pings y2 (h2) on the GENEVE segment" lab_ping y1 198.19.6.12 5
PCAP=$(lab_capture_stop ul)

# count PCAP DISPLAY-FILTER: packets tshark decodes matching the filter.
count() {
  tshark -n -r "$1" -Y "$2" -T fields -e frame.number 2>/dev/null | wc -l
}
# ICMP echo inside VXLAN VNI 7101 to UDP 4789, both directions.
check "green's pings cross the underlay as VXLAN on UDP 4789 (VNI 7101)" eval '
  n=$(count "$PCAP" "udp.dstport == 4789 && vxlan.vni == 7101 && icmp.type == 8");
  m=$(count "$PCAP" "udp.dstport == 4789 && vxlan.vni == 7101 && icmp.type == 0");
  echo "requests $n replies $m"; [ "$n" -ge 5 ] && [ "$m" -ge 5 ]'
check "blue's pings cross as GENEVE on UDP 6081 (VNI 7102)" eval '
  n=$(count "$PCAP" "udp.dstport == 6081 && geneve.vni == 7102 && icmp.type == 8");
  echo "requests $n"; [ "$n" -ge 5 ]'
check "nothing of green is on UDP 6081, nothing of blue on 4789" eval '
  a=$(count "$PCAP" "udp.port == 6081 && ip.addr == 198.19.5.0/24");
  b=$(count "$PCAP" "udp.port == 4789 && ip.addr == 198.19.6.0/24");
  echo "green on 6081: $a, blue on 4789: $b"; [ "$a" -eq 0 ] && [ "$b" -eq 0 ]'

# Changing a segment's encapsulation is one PATCH; the hosts follow.
check "PATCH green to encap geneve (weft apply)" eval '
  echo "{\"projects\":{\"default\":{\"segments\":{\"green\":{\"encap\":\"geneve\"}}}}}" |
    W apply -f -'
check "change realized" lab_weft_wait 30
require "second capture" lab_capture_start ul2 ul br0 udp
check "x1 still pings x2" lab_ping x1 198.19.5.12 3
PCAP2=$(lab_capture_stop ul2)
check "green's pings now cross as GENEVE (UDP 6081, VNI 7101)" eval '
  n=$(count "$PCAP2" "udp.dstport == 6081 && geneve.vni == 7101 && icmp.type == 8");
  echo "requests $n"; [ "$n" -ge 3 ]'

check "agent and weftd logs hold no sanitizer report" lab_sanitizer_clean
finish
