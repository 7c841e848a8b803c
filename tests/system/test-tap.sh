#!/usr/bin/env bash
# System test: a tap device as a VIF (as a hypervisor gives a VM), next to
# veth VIFs, across hosts.
#
#   h1 (198.18.0.1)                         h2 (198.18.0.2)
#     tp1: tap, port "tap1" of blue           b21 blue 198.19.1.21 (veth)
#          02:00:01:01:00:99 198.19.1.99
#     b11 blue 198.19.1.11 (veth)
#
# The "VM" behind tp1 is tests/system/tapvm.py: it holds the tap's file
# descriptor, as QEMU would, and speaks Ethernet through it (ARP, ICMP
# echo).  The agent opens tp1 with AF_PACKET like any VIF.
# Checks: the agent brings tp1 up as a VIF; the tap VM resolves b21 (the
# agent on h1 answers ARP for the remote binding) and pings it across the
# tunnel; b11 on the same host pings the tap VM; the tap VM's frames are
# counted on tp1.
# Env: WEFT_BUILD (default build/asan), VERBOSE=1.
set -u
source "$(dirname "$0")/lib.sh" || { echo "cannot load tests/system/lib.sh"; exit 1; }

TAPVM="$(cd "$(dirname "$0")" && pwd)/tapvm.py"
TAP_MAC=02:00:01:01:00:99
TAP_IP=198.19.1.99

require_root
require_tools ip ping timeout /usr/bin/python3
require_agent
test_deadline 120

setup_lab() {
  lab_init wt || return 1
  lab_host h1 198.18.0.1 || return 1
  lab_host h2 198.18.0.2 || return 1
  lab_segment blue 5001 geneve || return 1
  lab_vm h1 b11 02:00:01:01:00:11 198.19.1.11/24 || return 1
  lab_vm h2 b21 02:00:01:02:00:21 198.19.1.21/24 || return 1
  lab_write_configs || return 1
  ip -n "$(lab_ns h1)" tuntap add dev tp1 mode tap || return 1
  ip -n "$(lab_ns h1)" link set tp1 up || return 1
  # The tap port on h1, and its remote binding on h2.
  /usr/bin/python3 - "$(lab_agent_config h1)" "$(lab_agent_config h2)" \
    "$TAP_MAC" "$TAP_IP" <<'EOF'
import json, sys
h1, h2, mac, ip = sys.argv[1:5]
def edit(path, fn):
    cfg = json.load(open(path))
    seg = next(s for s in cfg["segments"] if s["name"] == "blue")
    fn(seg)
    json.dump(cfg, open(path, "w"), indent=2)
edit(h1, lambda s: s["ports"].append(
    {"id": 999, "name": "tap1", "ifname": "tp1", "mac": mac, "ips": [ip]}))
edit(h2, lambda s: s["remote"].append(
    {"mac": mac, "ips": [ip], "vtep": "198.18.0.1", "port_id": 999}))
EOF
}
require "lab: two hosts, veth VMs, a tap device on h1 as a VIF" setup_lab
require "agent starts on h1" lab_start_agent h1
require "agent starts on h2" lab_start_agent h2

tap_port_up() {
  local out
  out=$(lab_ctl h1 ports) || return 1
  echo "$out"
  grep -E "^[0-9]+ +tp1 +vif +up +blue +999 " <<<"$out"
}
check "ctl ports on h1: tp1 is an up VIF of blue, lport 999" tap_port_up

arp_replies() { lab_ctl h1 counters | awk '$1=="arp_replies"{print $2}'; }
tap_pings_b21() {
  local before after
  before=$(arp_replies)
  lab_exec h1 timeout 20 /usr/bin/python3 "$TAPVM" ping tp1 "$TAP_MAC" "$TAP_IP" 198.19.1.21 3 ||
    return 1
  after=$(arp_replies)
  echo "h1 arp_replies ${before:-?} -> ${after:-?}"
  [ "${after:-0}" -gt "${before:-0}" ]
}
check "tap VM resolves b21 (ARP answered by h1's agent) and pings it across hosts" \
  tap_pings_b21
pinged_from() { # VM: VM pings the tap VM, which answers from the tap
  local pid rc
  lab_exec h1 timeout 20 /usr/bin/python3 "$TAPVM" answer tp1 "$TAP_MAC" "$TAP_IP" 8 &
  pid=$!
  sleep 1
  lab_ping "$1" "$TAP_IP"
  rc=$?
  lab_wait_pid "$pid" 20 || return 1 # the tap VM answered at least one
  return "$rc"
}
check "b11 (veth, same host) pings the tap VM, which answers from the tap" \
  pinged_from b11
check "b21 (h2) pings the tap VM across the tunnel" pinged_from b21
tap_counted() {
  local out
  out=$(lab_ctl h1 ports) || return 1
  awk '$2=="tp1" { found = 1; print "rx", $7, "tx", $8; ok = $7 >= 3 && $8 >= 3 }
       END { exit !(found && ok) }' <<<"$out"
}
check "tp1's counters: the tap VM's frames received and its answers sent" tap_counted

check_agents_stop_cleanly
finish
