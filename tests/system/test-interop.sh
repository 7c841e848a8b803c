#!/usr/bin/env bash
# System test: interoperability with the Linux kernel's own VXLAN.
#
#   h1 (198.18.0.1, weft-agent)  w1 198.19.2.11   segment "kern": VXLAN VNI 5002
#   h2 (198.18.0.2, weft-agent)  w2 198.19.2.21
#   kh (198.18.0.9, NO agent)    k1 198.19.2.91   behind the kernel's VXLAN:
#       br0 <- vx0 (vxlan id 5002 local 198.18.0.9 dstport 4789 nolearning)
#           <- v-k1 (veth to the VM k1)
#       static FDB on vx0: 00:00:00:00:00:00 -> 198.18.0.1 and 198.18.0.2
#       (BUM head-end replication), w1's MAC -> 198.18.0.1, w2's -> 198.18.0.2
#
# The agents see k1 as an ordinary remote binding (vtep 198.18.0.9): the lab
# declares k1 as a VM of host kh, so the generated configs list it.
# Checks: ARP and ping both ways (IPv4, IPv6), 20 MB TCP both ways with the
# SHA-256 compared, and the kernel's vx0 counters prove the kernel really
# decapsulated and encapsulated the traffic.
# Env: WEFT_BUILD (default build/asan), INTEROP_MB (default 20), VERBOSE=1.
set -u
source "$(dirname "$0")/lib.sh" || { echo "cannot load tests/system/lib.sh"; exit 1; }

MB=${INTEROP_MB:-20}
KH_IP=198.18.0.9

require_root
require_tools ip bridge ethtool ping socat ss timeout sha256sum /usr/bin/python3
require_agent
test_deadline 170

setup_lab() {
  lab_init wi || return 1
  lab_host h1 198.18.0.1 || return 1
  lab_host h2 198.18.0.2 || return 1
  lab_host kh "$KH_IP" || return 1
  lab_segment kern 5002 vxlan || return 1
  lab_vm h1 w1 02:00:02:01:00:11 198.19.2.11/24 fd00:19:2::11/64 || return 1
  lab_vm h2 w2 02:00:02:02:00:21 198.19.2.21/24 fd00:19:2::21/64 || return 1
  lab_vm kh k1 02:00:02:09:00:91 198.19.2.91/24 fd00:19:2::91/64 || return 1
  lab_write_config h1 && lab_write_config h2
}

# The kernel side: a Linux bridge joining k1's VIF and a VXLAN device.
setup_kernel_vtep() {
  local ns
  ns=$(lab_ns kh)
  ip -n "$ns" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
  ip -n "$ns" link add vx0 type vxlan id 5002 local "$KH_IP" dstport 4789 nolearning \
    || return 1
  ip -n "$ns" link set vx0 mtu 1500 master br0 up || return 1
  # k1's TCP leaves its veth with a partial checksum (TX offload).  A real
  # NIC would complete the inner checksum when the kernel's VXLAN packet
  # leaves the host; between namespaces the partial skb would reach the
  # agent's UDP socket unfinished.  Without TX checksum offload on vx0 the
  # kernel completes the inner checksum before encapsulating, as the NIC
  # would.
  ip netns exec "$ns" ethtool -K vx0 tx off >/dev/null || return 1
  ip -n "$ns" link set v-k1 master br0 || return 1
  ip -n "$ns" link set br0 up || return 1
  bridge -n "$ns" fdb append 00:00:00:00:00:00 dev vx0 dst 198.18.0.1 || return 1
  bridge -n "$ns" fdb append 00:00:00:00:00:00 dev vx0 dst 198.18.0.2 || return 1
  bridge -n "$ns" fdb add "$(lab_vm_mac w1)" dev vx0 dst 198.18.0.1 self permanent || return 1
  bridge -n "$ns" fdb add "$(lab_vm_mac w2)" dev vx0 dst 198.18.0.2 self permanent || return 1
  bridge -n "$ns" fdb show dev vx0
}

config_lists_k1() {
  grep -q '"vtep": "198.18.0.9"' "$(lab_agent_config h1)" &&
    grep -q "$(lab_vm_mac k1)" "$(lab_agent_config h1)" &&
    grep -q '"encap": "vxlan"' "$(lab_agent_config h1)"
}

require "lab: two Weft hosts and one kernel-VXLAN host" setup_lab
require "kernel VTEP on kh: vx0 (VNI 5002) bridged with k1, static FDB" setup_kernel_vtep
require "h1's config lists k1 as a remote with vtep $KH_IP, encap vxlan" config_lists_k1
require "agent starts on h1" lab_start_agent h1
require "agent starts on h2" lab_start_agent h2

# vx0 counters: "rx_bytes tx_bytes" of the kernel VXLAN device (bytes:
# a sender that hands the underlay whole GSO frames, as the kernel fast
# path does, makes fewer and bigger packets).
vx_counters() {
  lab_exec kh cat /sys/class/net/vx0/statistics/rx_bytes /sys/class/net/vx0/statistics/tx_bytes |
    tr '\n' ' '
}
read -r VX_RX0 VX_TX0 <<<"$(vx_counters)"

neigh_is() { # VM IP MAC: VM resolved IP to MAC
  local out
  out=$(lab_exec "$1" ip neigh show "$2" dev eth0)
  echo "$out"
  grep -qi "lladdr $3" <<<"$out"
}

check "IPv4 ping k1 (kernel) -> w1 (Weft h1)" lab_ping k1 198.19.2.11
check "k1 resolved w1 by ARP across the tunnel" neigh_is k1 198.19.2.11 "$(lab_vm_mac w1)"
check "IPv4 ping w1 (Weft h1) -> k1 (kernel)" lab_ping w1 198.19.2.91
check "IPv4 ping k1 -> w2 (Weft h2)" lab_ping k1 198.19.2.21
check "IPv4 ping w2 -> k1" lab_ping w2 198.19.2.91
check "IPv6 ping k1 -> w1" lab_ping -6 k1 fd00:19:2::11
check "IPv6 ping w2 -> k1" lab_ping -6 w2 fd00:19:2::91
check "1500-byte IPv4 packet, DF set, w1 -> k1" \
  lab_exec w1 ping -n -c 3 -i 0.2 -W 2 -w 10 -M do -s 1472 198.19.2.91
check "1500-byte IPv4 packet, DF set, k1 -> w2" \
  lab_exec k1 ping -n -c 3 -i 0.2 -W 2 -w 10 -M do -s 1472 198.19.2.21
check "IPv4 ping w1 -> w2 (Weft to Weft on the same VXLAN segment)" lab_ping w1 198.19.2.21

check "TCP ${MB} MB k1 -> w1 (kernel to Weft), SHA-256 equal" \
  lab_tcp_transfer k1 w1 198.19.2.11 "$MB" 5001
check "TCP ${MB} MB w2 -> k1 (Weft to kernel), SHA-256 equal" \
  lab_tcp_transfer w2 k1 198.19.2.91 "$MB" 5002
check "TCP ${MB} MB w1 -> k1 over IPv6, SHA-256 equal" \
  lab_tcp_transfer w1 k1 fd00:19:2::91 "$MB" 5003

kernel_did_it() {
  local rx tx
  read -r rx tx <<<"$(vx_counters)"
  echo "vx0 rx_bytes $VX_RX0 -> $rx, tx_bytes $VX_TX0 -> $tx"
  lab_exec kh ip -s link show vx0
  # Into k1: 2 x MB of TCP; out of it: MB.  Require each in full.
  [ $((rx - VX_RX0)) -gt $((2 * MB * 1048576)) ] &&
    [ $((tx - VX_TX0)) -gt $((MB * 1048576)) ]
}
check "the kernel's vx0 decapsulated and encapsulated the traffic (counters)" kernel_did_it
macs_show_k1() {
  local out
  out=$(lab_ctl h1 macs) || return 1
  echo "$out"
  grep -i "$(lab_vm_mac k1)" <<<"$out" | grep -q "$KH_IP"
}
check "ctl macs on h1 shows k1's MAC behind $KH_IP" macs_show_k1

check_agents_stop_cleanly
finish
