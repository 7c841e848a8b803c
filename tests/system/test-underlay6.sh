#!/usr/bin/env bash
# System test: the overlay over an IPv6 underlay.  The tunnel endpoints are
# IPv6 addresses; everything else is as in test-overlay and test-wire.
#
#   h1 (fd00:18::1)                          h2 (fd00:18::2)
#     b11 blue 198.19.1.11 fd00:19:1::11       b21 blue 198.19.1.21 ...::21
#     b12 blue 198.19.1.12 fd00:19:1::12
#     g11 green 198.19.3.11                    g21 green 198.19.3.21
#   blue: GENEVE VNI 5001; green: VXLAN VNI 5003; underlay MTU 1600.
#
# Checks: IPv4 and IPv6 pings on one host and across hosts on both
# encapsulations; a full 1500-byte inner packet with DF across hosts (the
# IPv6 outer header costs 20 bytes more than IPv4's: 1500 + 14 + 8 + 8
# (+ 8 GENEVE option) + 40 still fits 1600); a 20 MB TCP transfer with
# SHA-256 compared; the agents' tunnel peers are the IPv6 endpoints; and a
# capture of the underlay that tshark decodes as GENEVE and VXLAN over
# IPv6 with the right VNIs and valid UDP checksums (mandatory over IPv6),
# with nothing sent over IPv4.
# Env: WEFT_BUILD (default build/asan), VERBOSE=1.
set -u
source "$(dirname "$0")/lib.sh" || { echo "cannot load tests/system/lib.sh"; exit 1; }

require_root
require_tools ip ping tcpdump tshark ethtool socat ss timeout sha256sum /usr/bin/python3
require_agent
test_deadline 150

setup_lab() {
  lab_init u6 || return 1
  lab_host h1 fd00:18::1 || return 1
  lab_host h2 fd00:18::2 || return 1
  lab_segment blue 5001 geneve || return 1
  lab_vm h1 b11 02:00:61:01:00:11 198.19.1.11/24 fd00:19:1::11/64 || return 1
  lab_vm h1 b12 02:00:61:01:00:12 198.19.1.12/24 fd00:19:1::12/64 || return 1
  lab_vm h2 b21 02:00:61:02:00:21 198.19.1.21/24 fd00:19:1::21/64 || return 1
  lab_segment green 5003 vxlan || return 1
  lab_vm h1 g11 02:00:63:01:00:11 198.19.3.11/24 || return 1
  lab_vm h2 g21 02:00:63:02:00:21 198.19.3.21/24 || return 1
  lab_write_configs
}
require "lab with an IPv6 underlay and agent configs" setup_lab
require "the underlay itself: h1 reaches h2 over IPv6" \
  lab_exec h1 ping -6 -n -c 2 -i 0.2 -W 2 -w 10 fd00:18::2
check "configs name IPv6 tunnel endpoints and pass --check-config" \
  eval 'grep -q "\"local_ip\": \"fd00:18::1\"" "$(lab_agent_config h1)" &&
        "$LAB_AGENT" --check-config --config "$(lab_agent_config h1)" &&
        "$LAB_AGENT" --check-config --config "$(lab_agent_config h2)"'

# The capture is taken on the underlay bridge.  A veth hands frames on with
# their checksums still to be computed (checksum offload), so the hosts'
# ul0 compute them in software here, as test-wire does, and tshark can
# verify them.
PCAP=$LAB_DIR/underlay.pcap
require "TX checksum offload off on the hosts' underlay interfaces" \
  eval 'lab_exec h1 ethtool -K ul0 tx off >/dev/null && lab_exec h2 ethtool -K ul0 tx off >/dev/null'
require "capture on the underlay bridge" lab_capture_start underlay ul br0
require "agent starts on h1" lab_start_agent h1
require "agent starts on h2" lab_start_agent h2

check "GENEVE: IPv4 ping b11 -> b21 (across hosts)" lab_ping b11 198.19.1.21
check "GENEVE: IPv6 ping b21 -> b12 (across hosts)" lab_ping -6 b21 fd00:19:1::12
check "GENEVE: IPv4 ping b11 -> b12 (same host)" lab_ping b11 198.19.1.12
check "VXLAN: IPv4 ping g11 -> g21 (across hosts)" lab_ping g11 198.19.3.21
check "GENEVE: 1500-byte IPv4 packet with DF, b12 -> b21" \
  lab_exec b12 ping -n -c 3 -i 0.2 -W 2 -w 10 -M do -s 1472 198.19.1.21
check "VXLAN: 1500-byte IPv4 packet with DF, g21 -> g11" \
  lab_exec g21 ping -n -c 3 -i 0.2 -W 2 -w 10 -M do -s 1472 198.19.3.11
check "TCP 20 MB b21 -> b11 (across hosts), SHA-256 equal" \
  lab_tcp_transfer b21 b11 198.19.1.11 20 5001
check "h1's agent lists h2's IPv6 endpoint as a tunnel peer" \
  eval 'lab_ctl h1 tunnels | tee /dev/stderr | grep -q "fd00:18::2"'
lab_capture_stop underlay >/dev/null

# decoded FILTER FIELDS...: tshark's field dump of matching packets.
decoded() {
  local filter=$1
  shift
  local args=() f
  for f in "$@"; do args+=(-e "$f"); done
  tshark -n -r "$PCAP" -o udp.check_checksum:TRUE -Y "$filter" -T fields \
    -E separator=, "${args[@]}" 2>/dev/null
}
geneve_ok() {
  local n
  n=$(decoded 'ipv6 && geneve && geneve.vni == 5001 && geneve.proto_type == 0x6558 && icmp' \
        ipv6.src ipv6.dst | sort -u | tee /dev/stderr | wc -l)
  [ "$n" -eq 2 ] # both directions, between the two endpoints
}
check "tshark: GENEVE over IPv6, VNI 5001, Ethernet inside, both directions" geneve_ok
vxlan_ok() {
  local n
  n=$(decoded 'ipv6 && vxlan && vxlan.vni == 5003 && icmp' ipv6.src ipv6.dst |
        sort -u | tee /dev/stderr | wc -l)
  [ "$n" -eq 2 ]
}
check "tshark: VXLAN over IPv6, VNI 5003, both directions" vxlan_ok
# none DESC FILTER: no packet of the capture matches FILTER (tshark must
# accept the filter: a typo fails the check instead of matching nothing).
none() {
  local out
  out=$(tshark -n -r "$PCAP" -o udp.check_checksum:TRUE -Y "$1" -T fields \
          -e frame.number 2>"$LAB_DIR/tshark.err") ||
    { echo "tshark failed: $(cat "$LAB_DIR/tshark.err")"; return 1; }
  [ -z "$out" ] || { echo "matching frames: $(echo "$out" | head -5 | tr '\n' ' ')"; return 1; }
}
check "tshark: no UDP checksum error and no malformed packet" \
  none 'udp.checksum.status == 0 || _ws.malformed'
check "tshark: the tunnels' UDP checksums are set (not zero) over IPv6" \
  none 'ipv6 && udp && udp.checksum == 0'
check "nothing went over IPv4 on the underlay (outer headers)" \
  none 'frame.protocols matches "^eth:ethertype:ip:"'

check "agent and weftd logs hold no sanitizer report" lab_sanitizer_clean
finish
