#!/usr/bin/env bash
# System test: distributed routing, DHCP and IPv6 end to end (issue 6).
# weftd and two hosts; router t1 of project default joins three segments,
# every one dual stack; project "other" has its own router t2 with
# addresses overlapping default's.
#
#   web 198.19.1.0/24 fd00:19:1::/64 (DHCPv4, SLAAC)   vni 7201
#   app 198.19.2.0/24 fd00:19:2::/64                   vni 7202
#   db  198.19.3.0/24 fd00:19:3::/64 (DHCPv6 stateful) vni 7203
#   h1: web1 .1.10, app2 .2.11, dh1 (DHCP + SLAAC), ow1 (other) .1.10
#   h2: app1 .2.10, db1 .3.10, d6 (DHCPv6), oa1 (other) .2.20
#
# The underlay MTU is 1400, below the VMs' 1500: routed packets that do not
# fit the tunnel get ICMP "fragmentation needed" / "packet too big", and
# TCP finds the path MTU by itself.  Checked: ping and TCP between every
# segment both ways on IPv4 and IPv6 (same host and across hosts), the
# gateway answering ping, traceroute showing one router hop, TTL expiry,
# DHCPv4 with udhcpc (address, router, DNS, domain), SLAAC, DHCPv6 with
# dhclient, PMTUD, isolation between the projects' routers, and malformed
# DHCP / RS / ARP from a VM dropped and counted.
set -u
source "$(dirname "$0")/lib.sh"

require_root
require_tools ip timeout traceroute udhcpc dhclient socat /usr/bin/python3
require_agent
test_deadline 400

export LAB_UL_MTU=1400
PROBE="$(cd "$(dirname "$0")" && pwd)/tcpprobe.py"
W() { lab_weft "$@"; }
X() { lab_exec "$@"; }
P() { lab_exec "$1" /usr/bin/python3 "$PROBE" "${@:2}"; }

setup() {
  lab_init rt || return 1
  lab_weftd_start || return 1
  lab_cp_host h1 198.18.0.1 && lab_cp_host h2 198.18.0.2 || return 1
  lab_segment web 7201 && lab_vm h1 web1 02:00:72:00:01:10 198.19.1.10/24 fd00:19:1::10/64 &&
    lab_vm h1 dh1 02:00:72:00:01:99 none &&
    lab_segment app 7202 && lab_vm h1 app2 02:00:72:00:02:11 198.19.2.11/24 fd00:19:2::11/64 &&
    lab_vm h2 app1 02:00:72:00:02:10 198.19.2.10/24 fd00:19:2::10/64 &&
    lab_segment db 7203 && lab_vm h2 db1 02:00:72:00:03:10 198.19.3.10/24 fd00:19:3::10/64 &&
    lab_vm h2 d6 02:00:72:00:03:66 none &&
    lab_segment oweb 7301 && lab_vm h1 ow1 02:00:73:00:01:10 198.19.1.10/24 &&
    lab_segment oapp 7302 && lab_vm h2 oa1 02:00:73:00:02:20 198.19.2.20/24 || return 1
  lab_start_cp_agent h1 && lab_start_cp_agent h2 || return 1
}
require "lab, weftd, two enrolled agents" setup

# port VM: the JSON of VM's port (static addresses when the VM has them).
port() {
  local vm=$1 ips="" ip4 ip6
  ip4=$(lab_vm_ip "$vm") ip6=$(lab_vm_ip "$vm" 6)
  [ -n "$ip4" ] && ips="\"$ip4\""
  [ -n "$ip6" ] && ips="$ips${ips:+,}\"$ip6\""
  printf '"%s":{"mac_address":"%s","ip_addresses":[%s],"attachment":{"host":"%s","vif":"v-%s"}}' \
    "$vm" "$(lab_vm_mac "$vm")" "$ips" "$(lab_vm_host "$vm")" "$vm"
}

topology() {
  W apply -f - <<EOF
{"projects": {
 "default": {
  "routers": {"t1": {"display_name": "tier-1"}},
  "segments": {
   "web": {"vni": 7201, "router": "t1", "subnets": [
     {"gateway_address": "198.19.1.1/24", "dhcp": {"ranges": ["198.19.1.100-198.19.1.150"],
      "dns_servers": ["198.19.1.53"], "domain_name": "lab.internal", "lease_time": 600}},
     {"gateway_address": "fd00:19:1::1/64", "ipv6_address_mode": "slaac"}],
    "ports": {$(port web1), $(port dh1)}},
   "app": {"vni": 7202, "router": "t1", "subnets": [
     {"gateway_address": "198.19.2.1/24"}, {"gateway_address": "fd00:19:2::1/64"}],
    "ports": {$(port app1), $(port app2)}},
   "db": {"vni": 7203, "router": "t1", "subnets": [
     {"gateway_address": "198.19.3.1/24"},
     {"gateway_address": "fd00:19:3::1/64", "ipv6_address_mode": "dhcpv6_stateful",
      "dhcpv6": {"ranges": ["fd00:19:3::100-fd00:19:3::1ff"], "dns_servers": ["fd00:19:3::53"]}}],
    "ports": {$(port db1), $(port d6)}}}},
 "other": {
  "routers": {"t2": {}},
  "segments": {
   "oweb": {"vni": 7301, "router": "t2", "subnets": [{"gateway_address": "198.19.1.1/24"}],
    "ports": {$(port ow1)}},
   "oapp": {"vni": 7302, "router": "t2", "subnets": [{"gateway_address": "198.19.2.1/24"}],
    "ports": {$(port oa1)}}}}}}
EOF
}
require "routers, segments and ports created in one PATCH" topology
require "realized" lab_weft_wait 30

# Default routes in the statically addressed VMs.
for vm in web1 app1 app2 db1; do
  case $vm in web1) n=1 ;; app*) n=2 ;; db1) n=3 ;; esac
  X "$vm" ip route add default via "198.19.$n.1"
  X "$vm" ip -6 route add default via "fd00:19:$n::1"
done
X ow1 ip route add default via 198.19.1.1
X oa1 ip route add default via 198.19.2.1

# ---- Reachability ----
check "web1 pings its gateway 198.19.1.1" lab_ping web1 198.19.1.1
check "web1 pings its gateway fd00:19:1::1" lab_ping -6 web1 fd00:19:1::1
for pair in "web1 app2 198.19.2.11" "web1 app1 198.19.2.10" "web1 db1 198.19.3.10" \
  "app1 web1 198.19.1.10" "db1 app2 198.19.2.11" "app2 db1 198.19.3.10"; do
  set -- $pair
  check "IPv4 $1 -> $2 ($3) routed" lab_ping "$1" "$3"
done
for pair in "web1 app2 fd00:19:2::11" "web1 app1 fd00:19:2::10" "web1 db1 fd00:19:3::10" \
  "db1 web1 fd00:19:1::10" "app1 app2 fd00:19:2::11"; do
  set -- $pair
  check "IPv6 $1 -> $2 ($3) routed" lab_ping -6 "$1" "$3"
done

# ---- TTL and traceroute ----
hops() { # VM DST [-6]: the hop addresses traceroute prints, one per line
  X "$1" traceroute ${3:-} -n -q 1 -w 2 -m 4 "$2" 2>/dev/null | awk 'NR > 1 { print $2 }'
}
check "traceroute web1 -> db1 shows one router hop (198.19.1.1, then db1)" \
  eval '[ "$(hops web1 198.19.3.10 | tr "\n" " ")" = "198.19.1.1 198.19.3.10 " ]'
check "traceroute -6 web1 -> db1 shows one router hop" \
  eval '[ "$(hops web1 fd00:19:3::10 -6 | tr "\n" " ")" = "fd00:19:1::1 fd00:19:3::10 " ]'
check "TTL 1 towards another segment: time exceeded from the gateway" \
  eval 'X web1 ping -n -c 1 -W 2 -t 1 198.19.3.10 | grep -q "From 198.19.1.1.*Time to live exceeded"'

# ---- TCP across segments and hosts, with PMTUD (underlay 1400 < 1500) ----
check "a DF packet too big for the tunnel gets fragmentation-needed with the MTU" \
  eval 'X web1 ping -n -c 2 -i 0.3 -W 2 -M do -s 1472 198.19.3.10 | grep -Eq "mtu ?= ?1[0-9]{3}"'
mtu=$(X web1 ip route get 198.19.3.10 2>/dev/null | grep -o 'mtu [0-9]*' | awk '{print $2}')
check "the kernel learned a path MTU below 1400 (${mtu:-none})" \
  eval '[ -n "$mtu" ] && [ "$mtu" -lt 1400 ] && [ "$mtu" -ge 1280 ]'
check "a DF packet of exactly the path MTU passes" \
  lab_exec web1 ping -n -c 2 -i 0.3 -W 2 -M do -s $((${mtu:-1300} - 28)) 198.19.3.10
check "TCP 8 MB web1 -> db1 over IPv4 (PMTUD) arrives intact" \
  lab_tcp_transfer web1 db1 198.19.3.10 8 5001
check "TCP 8 MB app1 -> web1 over IPv6 (packet too big) arrives intact" \
  lab_tcp_transfer app1 web1 fd00:19:1::10 8 5002
check "TCP 4 MB web1 -> app2 on the same host arrives intact" \
  lab_tcp_transfer web1 app2 198.19.2.11 4 5003

# ---- DHCPv4 with a real client ----
dyn() { # SEG PORT FAMILY: the port's dynamic address of that family
  W get port "$1/$2" -o json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
fam = sys.argv[1]
for a in o.get("dynamic_addresses", []):
    if (":" in a) == (fam == "6"):
        print(a); break' "$3"
}
DH1_IP=$(dyn web dh1 4)
check "weftd assigned dh1 the first address of the DHCP range" \
  eval '[ "$DH1_IP" = 198.19.1.100 ]'
UDHCPC_OUT=$LAB_DIR/udhcpc.env
cat >"$LAB_DIR/udhcpc.sh" <<EOF
#!/bin/sh
# udhcpc event script: record what the server said and configure eth0.
[ "\$1" = bound ] || [ "\$1" = renew ] || exit 0
env | grep -E '^(ip|subnet|router|dns|domain|lease|mtu|serverid)=' | sort >"$UDHCPC_OUT"
ip addr add "\$ip/\${mask:-24}" dev "\$interface"
[ -n "\$router" ] && ip route replace default via "\${router%% *}"
exit 0
EOF
chmod +x "$LAB_DIR/udhcpc.sh"
check "udhcpc in dh1 gets a lease" \
  lab_exec dh1 timeout 20 udhcpc -i eth0 -n -q -f -t 5 -T 2 -s "$LAB_DIR/udhcpc.sh"
check "the lease is the assigned address" grep -qx "ip=$DH1_IP" "$UDHCPC_OUT"
check "option router = the gateway" grep -qx "router=198.19.1.1" "$UDHCPC_OUT"
check "option DNS server" grep -qx "dns=198.19.1.53" "$UDHCPC_OUT"
check "option domain name" grep -qx "domain=lab.internal" "$UDHCPC_OUT"
check "option lease time" grep -qx "lease=600" "$UDHCPC_OUT"
check "server id = the gateway" grep -qx "serverid=198.19.1.1" "$UDHCPC_OUT"
check "dh1 (DHCP-configured) reaches db1 through the router" lab_ping dh1 198.19.3.10
check "udhcpc renews (REQUEST for the same address)" \
  lab_exec dh1 timeout 20 udhcpc -i eth0 -n -q -f -t 3 -T 2 -r "$DH1_IP" -s "$LAB_DIR/udhcpc.sh"

# ---- SLAAC (router advertisement) ----
DH1_IP6=$(dyn web dh1 6)
slaac() {
  X dh1 sysctl -qw net.ipv6.conf.eth0.accept_ra=2 net.ipv6.conf.eth0.router_solicitations=3 \
    net.ipv6.conf.eth0.autoconf=1 || return 1
  X dh1 ip link set eth0 down && X dh1 ip link set eth0 up || return 1
  local i
  for ((i = 0; i < 60; i++)); do
    X dh1 ip -6 addr show dev eth0 scope global | grep -q "$DH1_IP6/64" && return 0
    sleep 0.25
  done
  X dh1 ip -6 addr show dev eth0 >&2
  return 1
}
check "dh1 configures its SLAAC address ($DH1_IP6, as the API says) from the RA" slaac
check "dh1 has a default route via the router's link-local address" \
  eval 'X dh1 ip -6 route show default | grep -q "via fe80::"'
check "dh1 reaches db1 over IPv6 via the SLAAC default route" lab_ping -6 dh1 fd00:19:3::10

# ---- DHCPv6 (stateful) with dhclient ----
D6_IP=$(dyn db d6 6)
dhcp6() {
  X d6 sysctl -qw net.ipv6.conf.eth0.accept_ra=2 || return 1
  X d6 timeout 25 dhclient -6 -1 -v -lf "$LAB_DIR/d6.leases" -pf "$LAB_DIR/d6.pid" eth0 \
    >"$LAB_DIR/dhclient6.log" 2>&1
  local rc=$?
  [ -f "$LAB_DIR/d6.pid" ] && kill "$(cat "$LAB_DIR/d6.pid")" 2>/dev/null
  [ $rc = 0 ] || { tail -n 20 "$LAB_DIR/dhclient6.log" >&2; return 1; }
  grep -q "iaaddr $D6_IP" "$LAB_DIR/d6.leases"
}
check "dhclient -6 in d6 leases $D6_IP (the API's assignment)" dhcp6
check "the DHCPv6 reply carries the DNS server" \
  grep -q "dhcp6.name-servers fd00:19:3::53" "$LAB_DIR/d6.leases"

# ---- Isolation between routers of different projects ----
check "other: ow1 reaches oa1 through its own router t2" lab_ping ow1 198.19.2.20
check "other: ow1 cannot reach db1's segment (no route in t2)" lab_no_ping ow1 198.19.3.10
check "default: web1 cannot reach oa1 (not in t1's segments)" lab_no_ping web1 198.19.2.20
# web1 and ow1 share 198.19.1.10; only web1 listens on 7000.
lab_bg lab_exec web1 timeout 120 /usr/bin/python3 "$PROBE" serve 115 7000
lab_wait_listen web1 7000 10
check "other: oa1 pings 198.19.1.10 (its own project's ow1)" lab_ping oa1 198.19.1.10
check "default: app1 -> 198.19.1.10:7000 is web1 (open)" \
  eval '[ "$(P app1 tcp 198.19.1.10 7000)" = open ]'
check "other: oa1 -> 198.19.1.10:7000 is ow1, not web1 (refused)" \
  eval '[ "$(P oa1 tcp 198.19.1.10 7000)" = refused ]'

# ---- Malformed control packets from a VM: dropped and counted ----
malformed() {
  X web1 "$LAB_PY" - <<'EOF'
from scapy.all import Ether, IP, UDP, IPv6, ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr, ARP, Raw, sendp
mac = "02:00:72:00:01:10"
frames = [
    # DHCP: truncated BOOTP header, then a bad magic cookie
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) / Raw(b"\x01\x01\x06\x00" + b"\x00" * 20),
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) / Raw(b"\x01\x01\x06\x00" + b"\x00" * 232 + b"\xde\xad\xbe\xef\xff"),
    # RS: hop limit 64 (must be 255), then an option of length 0
    Ether(src=mac, dst="33:33:00:00:00:02") / IPv6(src="fe80::1", dst="ff02::2", hlim=64) / ICMPv6ND_RS(),
    Ether(src=mac, dst="33:33:00:00:00:02") / IPv6(src="fe80::1", dst="ff02::2", hlim=255) / ICMPv6ND_RS() / Raw(b"\x01\x00\x00\x00\x00\x00\x00\x00"),
    # ARP: a hardware address length of 8
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(hwlen=8, op=1, psrc="198.19.1.10", pdst="198.19.1.1", hwsrc=mac + ":00:00"),
]
for f in frames:
    sendp(f, iface="eth0", verbose=False)
EOF
}
check "scapy sends malformed DHCP, RS and ARP frames from web1" malformed
sleep 1
check "the malformed DHCP messages are counted as DHCP drops" \
  eval 'lab_ctl h1 dhcp | grep -Eq "drop4 TRUNC +[1-9]" && lab_ctl h1 dhcp | grep -Eq "drop4 BAD_COOKIE +[1-9]"'
check "the malformed router solicitations are counted" \
  eval '[ "$(lab_ctl h1 dhcp | grep -E "droprs [A-Z_]+ +[1-9]" | wc -l)" -ge 2 ]'
check "the malformed ARP is counted as ARP_BAD" \
  eval 'lab_ctl h1 counters | grep -Eq "^ +ARP_BAD +[1-9]"'
check "web1 still reaches db1 after the malformed frames" lab_ping web1 198.19.3.10
check "routing counters on h1 show routed packets" \
  eval 'lab_ctl h1 counters | grep -Eq "^routed +[1-9]"'

check_agents_stop_cleanly h1 h2
finish
