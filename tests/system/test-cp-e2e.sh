#!/usr/bin/env bash
# System test: the control plane end to end (issue 4).  weftd in its own
# namespace on the underlay, three hosts whose agents enroll with join
# tokens, and a topology built only through the `weft` CLI.
#
#   h1 198.18.0.1: a1 198.19.1.11, a3 198.19.1.13
#   h2 198.18.0.2: a2 198.19.1.12                (later a4 198.19.1.14)
#   h3 198.18.0.3: b2 -- a2's port moves here (same MAC and IP)
#   segment blue (VNI 7001)
#
# Checks, each after `weft wait --realized` (no sleeps for realization):
# ping across hosts and on one host; realization state success for ports,
# segments and hosts; deleting a port stops traffic to it and re-creating
# brings it back; moving a port (detach, attach on another host) makes
# traffic follow; SIGKILL of weftd during a steady ping loses at most
# MAX_LOSS packets, then a restarted weftd realizes a new port; an agent
# killed with SIGKILL and restarted recovers its VMs; an agent restarted
# while weftd is down restores its cached state and forwards; logs hold
# no sanitizer report.  Env: WEFT_BUILD (default build/asan), MAX_LOSS (2).
set -u
source "$(dirname "$0")/lib.sh"

MAX_LOSS=${MAX_LOSS:-2}

require_root
require_tools ip ping timeout /usr/bin/python3
require_agent
test_deadline 240

W() { lab_weft "$@"; }

setup() {
  lab_init wc || return 1
  lab_weftd_start || return 1
  lab_cp_host h1 198.18.0.1 && lab_cp_host h2 198.18.0.2 &&
    lab_cp_host h3 198.18.0.3 || return 1
  lab_segment blue 7001 geneve || return 1
  lab_vm h1 a1 02:00:07:01:00:01 198.19.1.11/24 || return 1
  lab_vm h1 a3 02:00:07:01:00:03 198.19.1.13/24 || return 1
  lab_vm h2 a2 02:00:07:02:00:02 198.19.1.12/24 || return 1
  lab_vm h2 a4 02:00:07:02:00:04 198.19.1.14/24 || return 1
  lab_vm h3 b2 02:00:07:02:00:02 198.19.1.12/24 || return 1
  lab_start_cp_agent h1 && lab_start_cp_agent h2 && lab_start_cp_agent h3
}
require "lab, weftd and three enrolled agents" setup

# port VM HOST: the CLI call that creates VM's port.
port() {
  W port create "$1" --segment blue --mac "$(lab_vm_mac "$1")" \
    --ip "$(lab_vm_ip "$1")" --host "$2" --vif "v-$1"
}

require "segment blue created with the CLI" W segment create blue --vni 7001 --subnet 198.19.1.1/24
require "ports a1 a3 (h1) and a2 (h2) created with the CLI" \
  eval 'port a1 h1 && port a3 h1 && port a2 h2'
require "weft wait --realized returns" lab_weft_wait 30
check "a1 (h1) pings a2 (h2) across hosts" lab_ping a1 198.19.1.12
check "a1 pings a3 on the same host" lab_ping a1 198.19.1.13

state_is() { # KIND ID WANT
  local out
  out=$(W state "$1" "$2" -o json) || return 1
  echo "$out"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["state"]==sys.argv[2] else 1)' "$out" "$3"
}
check "port a2 is realized: state success on its hosts" state_is port blue/a2 success
check "segment blue: state success" state_is segment blue success
check "host h1: connected, state success" state_is host h1 success
check "h2's agent learned a1 as a remote binding" eval 'lab_ctl h2 macs | grep -q "02:00:07:01:00:01 remote"'

# Delete a port: traffic to it stops.
check "delete port a2" W delete port blue/a2
check "deletion realized" lab_weft_wait 30
check "a1 no longer reaches a2" lab_no_ping a1 198.19.1.12
check "h1 dropped a2's binding" eval '! lab_ctl h1 macs | grep -q 02:00:07:02:00:02'
check "port a2 created again" port a2 h2
check "realized" lab_weft_wait 30
check "a1 reaches a2 again" lab_ping a1 198.19.1.12

# Move a2's port to h3 (VM b2 there has the same MAC and IP).
ip -n "$(lab_ns a2)" link set eth0 down
check "detach port a2 from h2" W port detach blue/a2
check "attach it on h3 (vif v-b2)" W port attach blue/a2 --host h3 --vif v-b2
check "move realized" lab_weft_wait 30
check "a1 reaches 198.19.1.12, now on h3" lab_ping a1 198.19.1.12
check "h1 binds a2's MAC to h3's endpoint" eval 'lab_ctl h1 macs | grep "02:00:07:02:00:02" | grep -q 198.18.0.3'
check "h2 has no local port a2 any more" eval '! lab_ctl h2 macs | grep -q "02:00:07:02:00:02 local"'

# SIGKILL weftd during steady traffic: forwarding goes on headless.
loss_during_kill() {
  local out
  out=$(mktemp)
  lab_exec a1 ping -n -c 100 -i 0.05 -W 1 198.19.1.12 >"$out" 2>&1 &
  local p=$!
  sleep 1
  lab_weftd_kill KILL
  lab_wait_pid "$p" 30
  cat "$out"
  local rx
  rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$out")
  rm -f "$out"
  echo "received $rx of 100 (max loss $MAX_LOSS)"
  [ -n "$rx" ] && [ "$rx" -ge $((100 - MAX_LOSS)) ]
}
check "SIGKILL of weftd during a 5 s ping: at most $MAX_LOSS lost" loss_during_kill
check "agents report the lost controller and keep forwarding" \
  eval 'sleep 0.5; ! lab_ctl h1 controller | grep -q "state connected" && lab_ping a1 198.19.1.13'
check "an agent restarted while weftd is down restores its cache" eval '
  lab_kill_agent h2 KILL && lab_start_cp_agent h2 &&
  grep -q "restored cached state" "$(lab_agent_log h2)"'
require "weftd restarts on the same state" lab_weftd_start
check "port a4 (h2) created after the restart" port a4 h2
check "realized after the restart" lab_weft_wait 30
check "a1 reaches a4" lab_ping a1 198.19.1.14
check "a2 (on h3) still reachable" lab_ping a1 198.19.1.12

# Kill an agent and restart it: its VMs recover.
check "SIGKILL h1's agent and start it again" eval 'lab_kill_agent h1 KILL && lab_start_cp_agent h1'
check "h1 back in sync" lab_weft_wait 30
check "a1 reaches a4 after the agent restart" lab_ping a1 198.19.1.14
check "a3 reaches a1 on h1" lab_ping a3 198.19.1.11

weftd_stops() {
  local pid=$LAB_WEFTD_PID
  kill -TERM "$pid" && lab_wait_pid "$pid" 15
  local rc=$?
  LAB_WEFTD_PID=
  return "$rc"
}
check "weftd exits with status 0 on SIGTERM" weftd_stops
check "weftd log has no sanitizer report" eval '! grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$(lab_weftd_log)"'
check_agents_stop_cleanly
finish
