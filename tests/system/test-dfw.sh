#!/usr/bin/env bash
# System test: the distributed firewall end to end (issue 5).  weftd and two
# hosts; a 3-tier application on one segment, policy written only with the
# `weft` CLI in terms of tag-based groups, default rule drop.
#
#   h1 198.18.0.1: web 198.19.5.10 (tier|web), app 198.19.5.20 (tier|app),
#                  db 198.19.5.30 (tier|db); the three also have
#                  fd00:19:5::10, ::20, ::30
#   h2 198.18.0.2: client 198.19.5.100, web2 198.19.5.11 (tier|web),
#                  app-b: where app's port moves (same MAC and IP)
#
# Every VM serves TCP and UDP on 80, 8080, 5432, 53 (tcpprobe.py serve).
# Allowed: client->web:80, web->app:8080, app->db:5432 (stateful);
# client->db:5432 and UDP to db:53 are rejected; everything else is
# dropped by the default rule.  Checked with real connections both ways
# (the tiers over IPv6 too, a bulk transfer through the flow cache):
# the allowed pairs, every other pair of tiers in both directions, VM to VM
# inside a tier, reject answers (RST, ICMP unreachable), rule counters and
# log lines, a rule deleted mid-connection, the app VM's port moving to h2,
# retagging a VM, SpoofGuard against forged source IP and MAC, ARP and
# neighbour advertisements (scapy), and
# the TCP tracking mode (loose pickup vs strict window checks).
set -u
source "$(dirname "$0")/lib.sh"

require_root
require_tools ip timeout /usr/bin/python3
require_agent
test_deadline 300

PROBE="$(cd "$(dirname "$0")" && pwd)/tcpprobe.py"
W() { lab_weft "$@"; }
P() { lab_exec "$1" /usr/bin/python3 "$PROBE" "${@:2}"; }

setup() {
  lab_init fw || return 1
  lab_weftd_start || return 1
  lab_cp_host h1 198.18.0.1 && lab_cp_host h2 198.18.0.2 || return 1
  lab_segment tiers 7101 geneve || return 1
  lab_vm h1 web 02:00:71:00:00:10 198.19.5.10/24 fd00:19:5::10/64 &&
    lab_vm h1 app 02:00:71:00:00:20 198.19.5.20/24 fd00:19:5::20/64 &&
    lab_vm h1 db 02:00:71:00:00:30 198.19.5.30/24 fd00:19:5::30/64 &&
    lab_vm h2 client 02:00:71:00:01:00 198.19.5.100/24 &&
    lab_vm h2 web2 02:00:71:00:00:11 198.19.5.11/24 &&
    lab_vm h2 app-b 02:00:71:00:00:20 198.19.5.20/24 fd00:19:5::20/64 || return 1
  lab_start_cp_agent h1 && lab_start_cp_agent h2 || return 1
  for vm in web app db client web2 app-b; do
    lab_bg lab_exec "$vm" timeout 290 /usr/bin/python3 "$PROBE" serve 285 80 8080 5432 53
  done
  for vm in web app db client web2 app-b; do
    lab_wait_listen "$vm" 5432 10 || return 1
  done
}
require "lab, weftd, two enrolled agents, servers in every VM" setup

# port VM HOST [TAG]: the CLI call creating VM's port (its IPv4 address,
# and its IPv6 one if it has one).
port() {
  local tag=() ip6=()
  [ -n "${3:-}" ] && tag=(--tag "$3")
  [ -n "$(lab_vm_ip "$1" 6)" ] && ip6=(--ip "$(lab_vm_ip "$1" 6)")
  W port create "$1" --segment tiers --mac "$(lab_vm_mac "$1")" \
    --ip "$(lab_vm_ip "$1")" "${ip6[@]}" --host "$2" --vif "v-$1" "${tag[@]}"
}

topology() {
  W segment create tiers --vni 7101 --subnet 198.19.5.1/24 \
    --subnet fd00:19:5::1/64 &&
    port web h1 'tier|web' && port app h1 'tier|app' && port db h1 'tier|db' &&
    port client h2 && port web2 h2 'tier|web'
}
require "segment and five ports created with the CLI" topology
require "realized" lab_weft_wait 30
check "before any policy: client reaches db:5432 (default allow)" \
  eval '[ "$(P client tcp 198.19.5.30 5432)" = open ]'

policy() {
  W group create web --match-tag 'tier|web' &&
    W group create app --match-tag 'tier|app' &&
    W group create db --match-tag 'tier|db' &&
    W group create clients --ip 198.19.5.100/32 &&
    W policy create three-tier --category application --sequence 10 &&
    W rule create client-web --policy three-tier --sequence 10 --action allow \
      --src clients --dst web --tcp 80 --logged &&
    W rule create web-app --policy three-tier --sequence 20 --action allow \
      --src web --dst app --tcp 8080 &&
    W rule create app-db --policy three-tier --sequence 30 --action allow \
      --src app --dst db --tcp 5432 &&
    W rule create client-db --policy three-tier --sequence 40 --action reject \
      --src clients --dst db --tcp 5432 &&
    W rule create dns-db --policy three-tier --sequence 50 --action reject \
      --dst db --udp 53 &&
    W firewall default drop
}
require "groups, policy, rules and default drop created with the CLI" policy
require "realized" lab_weft_wait 30
check "group web's effective members: web and web2" \
  eval 'out=$(W group members web -o json); echo "$out"; echo "$out" | grep -q "ports/web\"" && echo "$out" | grep -q "ports/web2\"" && ! echo "$out" | grep -q "ports/app\""'

# expect FROM TO PORT WANT [FAMILY]: one TCP probe (IPv4 unless FAMILY 6).
expect() {
  local got fam=${5:-4}
  got=$(P "$1" tcp "$(lab_vm_ip "$2" "$fam")" "$3" 1.5)
  echo "$1 -> $2:$3 over IPv$fam = $got (want $4)"
  [ "$got" = "$4" ]
}

check "client -> web:80 allowed (across hosts)" expect client web 80 open
check "client -> web2:80 allowed (web2 is in tier web too)" expect client web2 80 open
check "web -> app:8080 allowed (same host)" expect web app 8080 open
check "app -> db:5432 allowed (same host)" expect app db 5432 open

check "IPv6: web -> app:8080 allowed" expect web app 8080 open 6
check "IPv6: app -> db:5432 allowed" expect app db 5432 open 6
check "IPv6: web -> db:5432 dropped" expect web db 5432 timeout 6
check "IPv6: db -> app:8080 dropped (no rule that way)" expect db app 8080 timeout 6
# fc_hits HOST: the agent's flow-cache hit counter.
fc_hits() { lab_ctl "$1" counters | sed -n 's/^flow_cache_hits *\([0-9]*\).*/\1/p'; }
bulk6() {
  local before after
  before=$(fc_hits h1)
  P web bulk "$(lab_vm_ip app 6)" 8080 8 20 | tee /dev/stderr | grep -q "bulk OK" ||
    return 1
  after=$(fc_hits h1)
  echo "h1 flow_cache_hits: ${before:-?} -> ${after:-?}"
  [ -n "$before" ] && [ -n "$after" ] && [ "$after" -ge $((before + 50)) ]
}
check "IPv6: an 8 MiB transfer web -> app:8080 passes, its packets flow-cache hits on h1" bulk6
matrix() {
  local bad=0 f t p n=0 dir=$LAB_DIR/matrix pids=()
  mkdir -p "$dir"
  for f in client web app db web2; do
    for t in client web app db web2; do
      [ "$f" = "$t" ] && continue
      for p in 80 8080 5432; do
        case "$f-$t-$p" in
          client-web-80 | client-web2-80 | web-app-8080 | app-db-5432 | web2-app-8080) continue ;;
          client-db-5432) continue ;; # rejected: checked below
        esac
        P "$f" tcp "$(lab_vm_ip "$t")" "$p" 1 >"$dir/$f-$t-$p" 2>&1 &
        pids+=($!)
        n=$((n + 1))
      done
    done
  done
  wait "${pids[@]}"
  for r in "$dir"/*; do
    if [ "$(cat "$r")" != timeout ]; then
      echo "UNEXPECTED ${r##*/} = $(cat "$r")"
      bad=1
    fi
  done
  echo "$n probes"
  [ "$n" -ge 50 ] && return $bad
}
check "every other pair and port, both directions, incl. web -> db and web -> web2: dropped" matrix
check "web2 (other host, tier web) -> app:8080 allowed" expect web2 app 8080 open
check "client -> db:5432 rejected with a TCP RST (refused at once)" expect client db 5432 refused
check "client -> db UDP 53 rejected with ICMP unreachable" \
  eval 'got=$(P client udp 198.19.5.30 53 1.5); echo "$got"; [ "$got" = unreachable ]'
check "web -> client:80 dropped: return traffic only for allowed connections" expect web client 80 timeout

stats_ok() {
  local i out
  for ((i = 0; i < 20; i++)); do
    out=$(W rule stats client-web --policy three-tier -o json 2>&1)
    if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["sessions"]>=1 and d["packets"]>=3 else 1)' "$out" 2>/dev/null; then
      echo "$out"
      return 0
    fi
    sleep 0.5
  done
  echo "$out"
  return 1
}
check "rule hit counters (sessions, packets) visible through the API" stats_ok
check "logged rule: one structured line per new connection on h1" \
  eval 'grep "dfw: rule=/projects/default/security-policies/three-tier/rules/client-web" "$(lab_agent_log h1)" | grep -q "action=allow"'
check "h1's agent shows the firewall and its rules" \
  eval 'lab_ctl h1 firewall | tee /dev/stderr | grep -q "three-tier/rules/app-db"'
check "h1's agent lists tracked connections" eval 'lab_ctl h1 conntrack | grep -q "connections"'
# The listing is capped (a host may track a million connections) and
# narrows to one vNIC; bad arguments are refused.
ct_listing() {
  local all one z zl
  all=$(lab_ctl h1 conntrack --all) || return 1
  if [ "$(echo "$all" | grep -c '^zone=')" -lt 2 ]; then echo "$all"; return 1; fi
  one=$(lab_ctl h1 conntrack --limit 1) || return 1
  if [ "$(echo "$one" | grep -c '^zone=')" -ne 1 ] ||
     ! echo "$one" | grep -q "listing stopped after 1 connections"; then
    echo "$one"; return 1
  fi
  z=$(echo "$all" | sed -n 's/^zone=\([0-9]*\) .*/\1/p' | head -1)
  zl=$(lab_ctl h1 conntrack "$z" --all) || return 1
  if ! echo "$zl" | grep -q "^zone=$z " ||
     echo "$zl" | grep '^zone=' | grep -qv "^zone=$z "; then
    echo "$zl"; return 1
  fi
  ! lab_ctl h1 conntrack --limit 0 2>/dev/null &&
    ! lab_ctl h1 conntrack --bogus 2>/dev/null &&
    ! lab_ctl h1 conntrack 1 2 2>/dev/null
}
check "ctl conntrack: at most --limit connections, one vNIC's by LPORT, bad arguments refused" ct_listing
check "h1 counted FW_DROP, h2 (the client's host) FW_REJECT" \
  eval 'c=$(lab_ctl h1 counters; lab_ctl h2 counters); echo "$c"; echo "$c" | grep -q " FW_DROP " && echo "$c" | grep -q " FW_REJECT "'

# A rule deleted mid-connection: its connections are re-checked at their
# next packet and, with nothing else allowing them, dropped.
midconn() {
  local out=$LAB_DIR/hold.out
  lab_exec client timeout 20 /usr/bin/python3 "$PROBE" hold 198.19.5.10 80 8 >"$out" 2>&1 &
  local pid=$!
  sleep 1.5
  W delete rule client-web --policy three-tier >/dev/null || return 1
  lab_weft_wait 30 >/dev/null || return 1
  wait "$pid"
  cat "$out"
  grep -q "broken after" "$out" && [ "$(grep -c '^ok' "$out")" -ge 3 ]
}
check "deleting the allowing rule breaks its established connection" midconn
check "after the deletion, client -> web:80 is dropped" expect client web 80 timeout
require "rule client-web created again" \
  W rule create client-web --policy three-tier --sequence 10 --action allow --src clients --dst web --tcp 80 --logged
require "realized" lab_weft_wait 30
check "client -> web:80 allowed again" expect client web 80 open

# Policy follows the workload: app's port moves to h2 (VM app-b).
move() {
  W port detach app --segment tiers && lab_weft_wait 30 &&
    W port attach app --segment tiers --host h2 --vif v-app-b && lab_weft_wait 30
}
check "app's port moves from h1 to h2" move
check "after the move: web (h1) -> app (h2):8080 allowed" expect web app-b 8080 open
check "after the move: app (h2) -> db (h1):5432 allowed" expect app-b db 5432 open
check "after the move: client -> app:8080 still dropped" expect client app-b 8080 timeout
check "after the move: app -> web:80 still dropped" expect app-b web 80 timeout

# Dynamic groups: retag web2 as tier|app; web may now reach it on 8080,
# and the connection web2 held to app:8080 as a web member is checked
# again at its next packet and broken, as after a rule change.
check "before retag: web -> web2:8080 dropped" expect web web2 8080 timeout
retag() {
  local out=$LAB_DIR/hold-retag.out rc=0
  lab_exec web2 timeout 20 /usr/bin/python3 "$PROBE" hold 198.19.5.20 8080 8 >"$out" 2>&1 &
  local pid=$!
  sleep 1.5
  W port update web2 --segment tiers --tag 'tier|app' && lab_weft_wait 30 || rc=1
  wait "$pid"
  cat "$out"
  [ "$rc" -eq 0 ] && grep -q "broken after" "$out" && [ "$(grep -c '^ok' "$out")" -ge 3 ]
}
check "retag web2: tier|web -> tier|app breaks its connection to app:8080" retag
check "after retag: web -> web2:8080 allowed" expect web web2 8080 open
check "after retag: web2 no longer reaches app:8080 as a web member" expect web2 app-b 8080 timeout

# SpoofGuard.
check "segment spoofguard enabled" \
  eval 'W segment update tiers --spoofguard enabled && lab_weft_wait 30'
check "legitimate traffic still passes with SpoofGuard on" expect web app-b 8080 open
spoof() {
  local before after
  before=$(lab_ctl h1 counters | awk '$1=="SPOOFGUARD"{print $2}')
  lab_exec web /usr/bin/python3 - <<'EOF' || return 1
from scapy.all import Ether, IP, IPv6, TCP, ARP, sendp
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr
conf_iface = "eth0"
# Forged source IP (app's) and forged source MAC, each to db:5432.
sendp(Ether(src="02:00:71:00:00:10", dst="02:00:71:00:00:30") /
      IP(src="198.19.5.20", dst="198.19.5.30") / TCP(sport=40000, dport=5432, flags="S"),
      iface=conf_iface, count=3, verbose=False)
sendp(Ether(src="02:00:71:00:00:99", dst="02:00:71:00:00:30") /
      IP(src="198.19.5.10", dst="198.19.5.30") / TCP(sport=40001, dport=5432, flags="S"),
      iface=conf_iface, count=3, verbose=False)
sendp(Ether(src="02:00:71:00:00:10", dst="ff:ff:ff:ff:ff:ff") /
      ARP(op=2, hwsrc="02:00:71:00:00:10", psrc="198.19.5.30", pdst="198.19.5.20"),
      iface=conf_iface, count=3, verbose=False)
# The IPv6 counterpart: an unsolicited NA from web's link-local address
# claiming db's address for web's MAC.
sendp(Ether(src="02:00:71:00:00:10", dst="33:33:00:00:00:01") /
      IPv6(src="fe80::71:10", dst="ff02::1", hlim=255) /
      ICMPv6ND_NA(tgt="fd00:19:5::30", R=0, S=0, O=1) /
      ICMPv6NDOptDstLLAddr(lladdr="02:00:71:00:00:10"),
      iface=conf_iface, count=3, verbose=False)
EOF
  sleep 0.5
  after=$(lab_ctl h1 counters | awk '$1=="SPOOFGUARD"{print $2}')
  echo "spoofguard drops: ${before:-0} -> ${after:-0}"
  [ "${after:-0}" -ge $((${before:-0} + 12)) ]
}
check "forged source IP, MAC, ARP and IPv6 NA from web are dropped by SpoofGuard" spoof
check "db's conntrack never saw the forged SYNs" \
  eval '! lab_ctl h1 conntrack | grep -q "40000\|40001"'

# TCP tracking mode (settings tcp_strict).  web (h1) -> app-b (h2):8080 is
# allowed; a mid-stream ACK with no handshake (scapy) is picked up in loose
# mode and refused in strict mode, where a real bulk transfer must still
# pass the sequence-window checks.
midstream() { # SPORT: web sends one mid-stream ACK to app-b:8080
  lab_exec web /usr/bin/python3 - "$1" <<'PY' || return 1
import sys
from scapy.all import Ether, IP, TCP, sendp
sendp(Ether(src="02:00:71:00:00:10", dst="02:00:71:00:00:20") /
      IP(src="198.19.5.10", dst="198.19.5.20") /
      TCP(sport=int(sys.argv[1]), dport=8080, flags="A", seq=123456, ack=654321),
      iface="eth0", count=1, verbose=False)
PY
  sleep 0.3
}
ct_line() { lab_ctl h1 conntrack | grep "198.19.5.10:$1 -> 198.19.5.20:8080"; }
ct_invalid() { lab_ctl h1 counters | awk '$1=="CT_INVALID"{print $2}'; }
check "loose (default): a mid-stream ACK is picked up (tcp=pickup)" \
  eval 'midstream 41000 && ct_line 41000 | tee /dev/stderr | grep -q "tcp=pickup"'
check "weft firewall tcp strict, realized; h1's agent shows it" \
  eval 'W firewall tcp strict && lab_weft_wait 30 &&
        lab_ctl h1 firewall | grep -q "tcp-tracking strict"'
strict_refuses() {
  local before after
  before=$(ct_invalid)
  midstream 41001 || return 1
  after=$(ct_invalid)
  echo "CT_INVALID on h1: ${before:-0} -> ${after:-0}"
  [ "${after:-0}" -gt "${before:-0}" ] && ! ct_line 41001
}
check "strict: a mid-stream ACK opens nothing and is dropped as CT_INVALID" strict_refuses
check "strict: a new connection works (web -> app:8080)" expect web app-b 8080 open
check "strict: a 32 MiB transfer passes the window checks" \
  eval 'P web bulk 198.19.5.20 8080 32 20 | tee /dev/stderr | grep -q "bulk OK"'
check "strict: its connection is tracked with window checks (tcp=strict)" \
  eval 'lab_ctl h1 conntrack | grep -e "-> 198.19.5.20:8080" | grep -q "tcp=strict"'
check "weft firewall tcp loose: pickups work again" \
  eval 'W firewall tcp loose && lab_weft_wait 30 && midstream 41002 &&
        ct_line 41002 | grep -q "tcp=pickup"'
check "the settings kept the default action (drop) through both changes" \
  eval 'W get settings firewall -o json | grep -q "\"default_action\": *\"drop\""'

check "agent and weftd logs hold no sanitizer report" lab_sanitizer_clean
finish
