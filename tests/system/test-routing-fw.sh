#!/usr/bin/env bash
# System test: the distributed firewall on routed traffic, over IPv4 and
# IPv6 (issue 6: "dual stack throughout ... including the firewall issue's
# rules").  weftd and two hosts; router t1 joins three dual-stack segments
# (static addressing, no SLAAC):
#
#   web 198.19.1.0/24 fd00:19:1::/64  vni 7401  web1 (h1) .10 ::10, web2 (h2) .11 ::11
#   app 198.19.2.0/24 fd00:19:2::/64  vni 7402  app1 (h1) .10 ::10
#   db  198.19.3.0/24 fd00:19:3::/64  vni 7403  db1  (h2) .10 ::10
#
# Every VM serves TCP 5432, 5433 and 8080 on IPv4 and IPv6.  Policy (the
# deployment default stays allow), groups by segment, so a group holds its
# ports' IPv4 and IPv6 addresses:
#   db-guard, scope db:   pg-from-web   allow TCP 5432 from group web, in
#                         ping-from-web allow ICMPv4 echo from group web, in
#                         rej-5433      reject TCP 5433, in
#                         deny-in       drop everything else, in
#   web-guard, scope web: rej-out-8443  reject TCP 8443, out
#                         deny-in       drop everything inbound (only the
#                                       replies of their own connections)
# Checked, each over IPv4 and IPv6: routing works before the policy; then
# web1 -> db1:5432 opens across hosts and web2 -> db1:5432 on one host
# (routed both ways; the replies enter web1 only as conntrack replies),
# app1 (not in web) -> db1:5432 and web1 -> db1:8080 are dropped, 5433 is
# rejected by db1's vNIC with an RST routed back to the client, 8443 by
# web1's own vNIC, db1 -> web1 is dropped (no reverse opening),
# ping web1 -> db1 passes over IPv4 and is dropped over IPv6 (no rule for
# ICMPv6 echo); the drop and reject counters and the rule counters in
# `weft-agent ctl` rise; the router's own answers to a VM whose inbound is
# denied still work (see "Router answers" below); a rule added while
# connections are established keeps them, deleting the allowing rule breaks
# them, and re-creating it lets new connections in again.
set -u
source "$(dirname "$0")/lib.sh"

require_root
require_tools ip timeout traceroute ss /usr/bin/python3
require_agent
test_deadline 120

PROBE="$(cd "$(dirname "$0")" && pwd)/tcpprobe.py"
W() { lab_weft "$@"; }
X() { lab_exec "$@"; }
P() { lab_exec "$1" /usr/bin/python3 "$PROBE" "${@:2}"; }
PORTS=(5432 5433 8080)

setup() {
  lab_init rtfw || return 1
  lab_weftd_start || return 1
  lab_cp_host h1 198.18.0.1 && lab_cp_host h2 198.18.0.2 || return 1
  lab_segment web 7401 && lab_vm h1 web1 02:00:74:00:01:10 198.19.1.10/24 fd00:19:1::10/64 &&
    lab_vm h2 web2 02:00:74:00:01:11 198.19.1.11/24 fd00:19:1::11/64 &&
    lab_segment app 7402 && lab_vm h1 app1 02:00:74:00:02:10 198.19.2.10/24 fd00:19:2::10/64 &&
    lab_segment db 7403 && lab_vm h2 db1 02:00:74:00:03:10 198.19.3.10/24 fd00:19:3::10/64 || return 1
  lab_start_cp_agent h1 && lab_start_cp_agent h2 || return 1
  local vm
  for vm in web1 web2 app1 db1; do
    lab_bg lab_exec "$vm" timeout 125 /usr/bin/python3 "$PROBE" serve 120 "${PORTS[@]}"
  done
  for vm in web1 web2 app1 db1; do
    lab_wait_listen "$vm" 8080 10 || return 1
  done
}
require "lab, weftd, two enrolled agents, servers in every VM" setup

# port VM: the JSON of VM's port.
port() {
  printf '"%s":{"mac_address":"%s","ip_addresses":["%s","%s"],"attachment":{"host":"%s","vif":"v-%s"}}' \
    "$1" "$(lab_vm_mac "$1")" "$(lab_vm_ip "$1")" "$(lab_vm_ip "$1" 6)" "$(lab_vm_host "$1")" "$1"
}

topology() {
  W apply -f - <<EOF
{"projects": {"default": {
  "routers": {"t1": {}},
  "segments": {
   "web": {"vni": 7401, "router": "t1", "subnets": [{"gateway_address": "198.19.1.1/24"},
     {"gateway_address": "fd00:19:1::1/64", "ipv6_address_mode": "static"}],
    "ports": {$(port web1), $(port web2)}},
   "app": {"vni": 7402, "router": "t1", "subnets": [{"gateway_address": "198.19.2.1/24"},
     {"gateway_address": "fd00:19:2::1/64", "ipv6_address_mode": "static"}],
    "ports": {$(port app1)}},
   "db": {"vni": 7403, "router": "t1", "subnets": [{"gateway_address": "198.19.3.1/24"},
     {"gateway_address": "fd00:19:3::1/64", "ipv6_address_mode": "static"}],
    "ports": {$(port db1)}}}}}}
EOF
}
require "router t1 and three dual-stack segments created" topology
require "realized" lab_weft_wait 30
for vm in web1 web2 app1 db1; do
  case $vm in web*) n=1 ;; app1) n=2 ;; db1) n=3 ;; esac
  # replace: the router advertisement may have installed one already
  X "$vm" ip route replace default via "198.19.$n.1"
  X "$vm" ip -6 route replace default via "fd00:19:$n::1"
done

# tcp FROM TO FAMILY PORT WANT: one TCP connection (tcpprobe.py), its
# result (open | refused | timeout) compared with WANT.
tcp() {
  local got
  got=$(P "$1" tcp "$(lab_vm_ip "$2" "$3")" "$4" "${TCP_TIMEOUT:-1.5}")
  echo "$1 -> $2 IPv$3 :$4 = $got (want $5)"
  [ "$got" = "$5" ]
}
# probes "FROM TO FAMILY PORT WANT"...: tcp for each, in parallel.
probes() {
  local i=0 rc=0 pids=() a
  for a in "$@"; do
    # shellcheck disable=SC2086
    tcp $a >"$LAB_DIR/probe.$i" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  for ((i = 0; i < ${#pids[@]}; i++)); do
    lab_wait_pid "${pids[$i]}" 30 || rc=1
    cat "$LAB_DIR/probe.$i"
  done
  return $rc
}

# ---- Before any policy: routing works both ways on both families. ----
check "no policy: web1 -> db1 and db1 -> web1, TCP 5432/8080, IPv4 and IPv6, all open" \
  probes "web1 db1 4 5432 open" "web1 db1 6 5432 open" "web1 db1 4 8080 open" \
  "web1 db1 6 8080 open" "db1 web1 4 8080 open" "db1 web1 6 8080 open" \
  "app1 db1 4 5432 open" "app1 db1 6 5432 open"
check "no policy: web1 pings db1 (IPv4, routed)" lab_ping web1 198.19.3.10 2
check "no policy: web1 pings db1 (IPv6, routed)" lab_ping -6 web1 fd00:19:3::10 2

policy() {
  W apply -f - <<'EOF'
{"projects": {"default": {
  "groups": {
   "web": {"criteria": [{"conditions": [{"key": "segment", "operator": "equals", "value": "web"}]}]},
   "db": {"criteria": [{"conditions": [{"key": "segment", "operator": "equals", "value": "db"}]}]}},
  "security-policies": {
   "db-guard": {"sequence_number": 10, "scope": ["/api/v1/projects/default/groups/db"], "rules": {
     "pg-from-web": {"sequence_number": 10, "action": "allow", "direction": "in",
       "source_groups": ["/api/v1/projects/default/groups/web"],
       "service_entries": [{"protocol": "TCP", "destination_ports": ["5432"]}]},
     "ping-from-web": {"sequence_number": 20, "action": "allow", "direction": "in",
       "source_groups": ["/api/v1/projects/default/groups/web"],
       "service_entries": [{"protocol": "ICMPv4", "icmp_type": 8}]},
     "rej-5433": {"sequence_number": 30, "action": "reject", "direction": "in",
       "service_entries": [{"protocol": "TCP", "destination_ports": ["5433"]}]},
     "deny-in": {"sequence_number": 1000, "action": "drop", "direction": "in"}}},
   "web-guard": {"sequence_number": 20, "scope": ["/api/v1/projects/default/groups/web"], "rules": {
     "rej-out-8443": {"sequence_number": 10, "action": "reject", "direction": "out",
       "service_entries": [{"protocol": "TCP", "destination_ports": ["8443"]}]},
     "deny-in": {"sequence_number": 1000, "action": "drop", "direction": "in"}}}}}}}
EOF
}
require "groups web and db, policies db-guard and web-guard applied" policy
require "realized" lab_weft_wait 30
check "group web's members: web1 and web2" \
  eval 'out=$(W group members web -o json); echo "$out"; echo "$out" | grep -q "ports/web1\"" && echo "$out" | grep -q "ports/web2\"" && ! echo "$out" | grep -q "ports/db1\""'

# ctr HOST NAME: a drop counter of `ctl counters` (0 when absent).
ctr() { lab_ctl "$1" counters | awk -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }
# rule_pkts HOST PATH-SUFFIX: the packets counter of a rule in `ctl firewall`.
rule_pkts() { lab_ctl "$1" firewall | awk -v p="$2" '$1 == "rule" && index($NF, p) { print $4; f = 1 } END { if (!f) print 0 }'; }

DROP0=$(ctr h2 FW_DROP) REJ0=$(ctr h2 FW_REJECT)
DENY0=$(rule_pkts h2 db-guard/rules/deny-in)
PG0=$(rule_pkts h2 db-guard/rules/pg-from-web)

# ---- TCP through the router and both firewalls. ----
check "web1 (h1) -> db1 (h2):5432 open over IPv4 and IPv6 (routed across hosts; replies pass web1's inbound drop as conntrack replies)" \
  probes "web1 db1 4 5432 open" "web1 db1 6 5432 open"
check "web2 (h2) -> db1 (h2):5432 open over IPv4 and IPv6 (routed on one host)" \
  probes "web2 db1 4 5432 open" "web2 db1 6 5432 open"
check "app1 (not in group web) -> db1:5432 dropped over IPv4 and IPv6" \
  probes "app1 db1 4 5432 timeout" "app1 db1 6 5432 timeout"
check "web1 -> db1:8080 (no rule) dropped over IPv4 and IPv6" \
  probes "web1 db1 4 8080 timeout" "web1 db1 6 8080 timeout" "web2 db1 4 8080 timeout" "web2 db1 6 8080 timeout"
check "db1 -> web1:8080 dropped by web-guard over IPv4 and IPv6 (no reverse opening)" \
  probes "db1 web1 4 8080 timeout" "db1 web1 6 8080 timeout" "db1 web2 4 5432 timeout" "db1 web2 6 5432 timeout"
# The reject of db1's IN check answers a routed client: the RST leaves
# db1's vNIC addressed to the router MAC (the routed SYN's source) and has
# to be routed back like any frame from db1.
# rejected PROBE...: probes, then what h2 did with the rejects.
rejected() {
  local rc=0
  probes "$@" || rc=1
  lab_ctl h2 counters | grep -E "FW_REJECT|NO_DESTINATION"
  lab_ctl h2 firewall | grep -o "rejects-sent [0-9]*"
  return $rc
}
check "web1 -> db1:5433 rejected: a TCP RST routed back, over IPv4 and IPv6" \
  rejected "web1 db1 4 5433 refused" "web1 db1 6 5433 refused"
check "web2 -> db1:5433 rejected (same host) over IPv4 and IPv6" \
  rejected "web2 db1 4 5433 refused" "web2 db1 6 5433 refused"
check "web1 -> db1:8443 rejected by web1's own OUT rule, before the router, over IPv4 and IPv6" \
  probes "web1 db1 4 8443 refused" "web1 db1 6 8443 refused"

# ---- ICMP echo: allowed for IPv4 from web, no rule for ICMPv6 echo. ----
check "web1 pings db1 over IPv4 (rule ping-from-web; the replies enter web1 as conntrack replies)" \
  lab_ping web1 198.19.3.10 2
check "web1 cannot ping db1 over IPv6 (no rule allows ICMPv6 echo)" lab_no_ping -6 web1 fd00:19:3::10
check "app1 cannot ping db1 over IPv4 (not in group web)" lab_no_ping app1 198.19.3.10
check "db1 cannot ping web1 over IPv4 or IPv6 (web-guard)" \
  eval 'lab_no_ping db1 198.19.1.10 && lab_no_ping -6 db1 fd00:19:1::10'

# ---- Counters. ----
counted() {
  local drop rej deny pg
  drop=$(ctr h2 FW_DROP) rej=$(ctr h2 FW_REJECT)
  deny=$(rule_pkts h2 db-guard/rules/deny-in) pg=$(rule_pkts h2 db-guard/rules/pg-from-web)
  echo "h2 FW_DROP $DROP0 -> $drop, FW_REJECT $REJ0 -> $rej, deny-in packets $DENY0 -> $deny, pg-from-web packets $PG0 -> $pg"
  lab_ctl h2 firewall
  # 6 dropped connection attempts (with their SYN retries) and 3 pings
  # (>= 9 packets), 4 rejected SYNs, 4 allowed connections.
  [ "$drop" -ge $((DROP0 + 9)) ] && [ "$rej" -ge $((REJ0 + 4)) ] &&
    [ "$deny" -ge $((DENY0 + 9)) ] && [ "$pg" -ge $((PG0 + 4)) ]
}
check "h2 counted FW_DROP and FW_REJECT, and the rules deny-in and pg-from-web counted packets" counted
check "h1 counted FW_DROP for db1 -> web1 (web-guard on h1)" \
  eval '[ "$(ctr h1 FW_DROP)" -ge 4 ]'
check "h2's conntrack holds the routed connections to db1:5432 of both families" \
  eval 'c=$(lab_ctl h2 conntrack); echo "$c"; echo "$c" | grep -q "198.19.1.10.*198.19.3.10.*5432" && echo "$c" | grep -q "fd00:19:1::10.*fd00:19:3::10.*5432"'

# ---- Router answers. ----
# web1's and db1's inbound is "drop everything", yet the router's answers
# to their own traffic must reach them: ARP and ND are never filtered
# (dfw.h), an echo reply from the gateway answers the VM's own (allowed)
# echo request, and time exceeded is an ICMP error about the VM's own
# connection (RELATED).  The router answers straight back into the VIF it
# got the request from, so no IN check runs; a stateful check would let
# them pass too.  (A VM whose own OUTbound policy denied its request would
# get nothing: the OUT check runs before the router stage.)
neigh() { # VM [-6] GW: resolve the gateway afresh; its entry has a MAC
  X "$1" ip neigh flush dev eth0 &&
    X "$1" ping ${2:+-6} -n -c 1 -W 2 "$3" >/dev/null &&
    X "$1" ip ${2:+-6} neigh show "$3" | tee /dev/stderr | grep -q lladdr
}
check "web1 resolves its gateway 198.19.1.1 by ARP with inbound denied" neigh web1 "" 198.19.1.1
check "web1 resolves its gateway fd00:19:1::1 by ND with inbound denied" neigh web1 6 fd00:19:1::1
check "db1 resolves its gateway by ARP and ND with inbound denied" \
  eval 'neigh db1 "" 198.19.3.1 && neigh db1 6 fd00:19:3::1'
check "web1 pings its gateway 198.19.1.1" lab_ping web1 198.19.1.1 2
check "web1 pings its gateway fd00:19:1::1" lab_ping -6 web1 fd00:19:1::1 2
check "db1 pings its gateways 198.19.3.1 and fd00:19:3::1" \
  eval 'lab_ping db1 198.19.3.1 2 && lab_ping -6 db1 fd00:19:3::1 2'
check "TTL 1 from web1 towards db1: time exceeded from the gateway (IPv4)" \
  eval 'X web1 ping -n -c 1 -W 2 -t 1 198.19.3.10 | tee /dev/stderr | grep -q "From 198.19.1.1.*Time to live exceeded"'
check "hop limit 1 from web1 towards db1: time exceeded from the gateway (IPv6)" \
  eval 'X web1 ping -6 -n -c 1 -W 2 -t 1 fd00:19:3::10 | tee /dev/stderr | grep -q "From fd00:19:1::1.*Time exceeded"'
hops() { # VM DST [-6]: the hops of a TCP traceroute to port 5432
  X "$1" traceroute ${3:+"$3"} -T -p 5432 -n -q 1 -w 2 -m 3 "$2" 2>/dev/null | awk 'NR > 1 { print $2 }' | tr '\n' ' '
}
check "TCP traceroute web1 -> db1:5432 (IPv4): the gateway, then db1" \
  eval 'h=$(hops web1 198.19.3.10); echo "$h"; [ "$h" = "198.19.1.1 198.19.3.10 " ]'
check "TCP traceroute web1 -> db1:5432 (IPv6): the gateway, then db1" \
  eval 'h=$(hops web1 fd00:19:3::10 -6); echo "$h"; [ "$h" = "fd00:19:1::1 fd00:19:3::10 " ]'

# ---- Rule changes while connections are established. ----
# hold_both SECONDS CHANGE...: web1 holds one connection to db1:5432 per
# family (a line every 0.2 s); 1.5 s in, CHANGE runs and is realized.
# Leaves the outputs in $LAB_DIR/hold4 and hold6.
hold_both() {
  local secs=$1 f pids=() rc=0
  shift
  for f in 4 6; do
    lab_exec web1 timeout $((secs + 10)) /usr/bin/python3 "$PROBE" hold "$(lab_vm_ip db1 $f)" 5432 "$secs" \
      >"$LAB_DIR/hold$f" 2>&1 &
    pids+=($!)
  done
  sleep 1.5
  if ! { "$@" >/dev/null && lab_weft_wait 30 >/dev/null; }; then
    echo "change failed or not realized: $*"
    rc=1
  fi
  for f in 0 1; do lab_wait_pid "${pids[$f]}" $((secs + 15)); done
  cat "$LAB_DIR/hold4" "$LAB_DIR/hold6"
  return $rc
}
add_ping6() {
  W rule create ping6-from-web --policy db-guard --sequence 25 --action allow \
    --direction in --src web --icmp6 128
}
check "a rule added to db-guard while connections are established keeps them (IPv4 and IPv6)" \
  eval 'hold_both 5 add_ping6 && grep -q "^held" "$LAB_DIR/hold4" && grep -q "^held" "$LAB_DIR/hold6"'
check "the added rule applies: web1 pings db1 over IPv6 now" lab_ping -6 web1 fd00:19:3::10 2
check "deleting pg-from-web breaks the established connections (IPv4 and IPv6)" \
  eval 'hold_both 8 W delete rule pg-from-web --policy db-guard && grep -q "broken after" "$LAB_DIR/hold4" && grep -q "broken after" "$LAB_DIR/hold6" && [ "$(grep -c "^ok" "$LAB_DIR/hold6")" -ge 3 ]'
check "after the deletion, web1 -> db1:5432 is dropped over IPv4 and IPv6" \
  probes "web1 db1 4 5432 timeout" "web1 db1 6 5432 timeout"
# The held connections stay in h2's table, denied (decision 61), so the
# database's retransmissions cannot reopen them by loose pickup.
check "h2 keeps the refused connections, marked denied" \
  eval 'c=$(lab_ctl h2 conntrack | grep " denied$"); echo "$c"; echo "$c" | grep -q "198.19.1.10:.* -> 198.19.3.10:5432" && echo "$c" | grep -q "fd00:19:1::10.* -> .*fd00:19:3::10.*:5432"'
require "pg-from-web created again" \
  W rule create pg-from-web --policy db-guard --sequence 10 --action allow --direction in --src web --tcp 5432
require "realized" lab_weft_wait 30
check "web1 -> db1:5432 open again over IPv4 and IPv6" \
  probes "web1 db1 4 5432 open" "web1 db1 6 5432 open"

check_agents_stop_cleanly h1 h2
finish
