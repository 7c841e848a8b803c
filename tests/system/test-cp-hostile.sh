#!/usr/bin/env bash
# System test: hostile and unwanted peers on the control channel (issue 4).
#
# One weftd, two enrolled hosts with a VM each (ping across keeps working
# throughout), then:
#   - a join token works once: reusing it is refused;
#   - an agent with a certificate from another CA is refused at the TLS
#     handshake (logged), and never gets state;
#   - `weft host revoke h2` drops h2's session and its reconnects are
#     refused; h2 keeps forwarding headless; a new token re-enrolls it;
#   - raw TLS clients (python ssl, with h1's valid certificate) send
#     garbage, an oversize length, a truncated frame, and a frame out of
#     order: each session is closed with a log line naming the problem,
#     and h1's real session and traffic are untouched.
set -u
source "$(dirname "$0")/lib.sh"

require_root
require_tools ip ping timeout openssl /usr/bin/python3
require_agent
test_deadline 200

W() { lab_weft "$@"; }
WLOG() { lab_weftd_log; }

setup() {
  lab_init wh || return 1
  lab_weftd_start || return 1
  lab_cp_host h1 198.18.0.1 && lab_cp_host h2 198.18.0.2 &&
    lab_host h9 198.18.0.9 || return 1
  lab_segment blue 7002 geneve || return 1
  lab_vm h1 x1 02:00:07:11:00:01 198.19.2.11/24 || return 1
  lab_vm h2 x2 02:00:07:12:00:02 198.19.2.12/24 || return 1
  lab_start_cp_agent h1 && lab_start_cp_agent h2 || return 1
  W segment create blue --vni 7002 >/dev/null &&
    W port create x1 --segment blue --mac 02:00:07:11:00:01 --ip 198.19.2.11 --host h1 --vif v-x1 >/dev/null &&
    W port create x2 --segment blue --mac 02:00:07:12:00:02 --ip 198.19.2.12 --host h2 --vif v-x2 >/dev/null &&
    lab_weft_wait 30
}
require "lab, weftd, two enrolled agents, realized topology" setup
check "x1 pings x2" lab_ping x1 198.19.2.12
CONNECTS_H1=$(lab_ctl h1 controller | sed -n 's/^connects \([0-9]*\).*/\1/p')

# A token is single-use.
reuse() {
  local tok st=$LAB_DIR/h9.state
  W host create h9 --tep 198.18.0.9 >/dev/null || return 1
  tok=$(W host join-token h9) || return 1
  ip netns exec "$(lab_ns h9)" "$LAB_AGENT" --state-dir "$st.a" --join "$LAB_MGMT_IP:$LAB_CP_PORT" --token "$tok" \
    --ctl "$LAB_DIR/h9a.sock" --pidfile "$LAB_DIR/h9a.pid" >"$LAB_DIR/h9a.log" 2>&1 &
  local p=$!
  local i
  # Enrolled, then realized once: an enrolled host that never acknowledged
  # its first update would stay pending for every later `weft wait`.
  for ((i = 0; i < 100; i++)); do grep -q "update realized" "$LAB_DIR/h9a.log" && break; sleep 0.1; done
  kill "$p"; lab_wait_pid "$p" 10
  [ -f "$st.a/cert.pem" ] || { echo "first use failed"; cat "$LAB_DIR/h9a.log"; return 1; }
  if timeout 40 ip netns exec "$(lab_ns h9)" "$LAB_AGENT" --state-dir "$st.b" \
    --join "$LAB_MGMT_IP:$LAB_CP_PORT" --token "$tok" --ctl "$LAB_DIR/h9b.sock" >"$LAB_DIR/h9b.out" 2>&1; then
    echo "second use accepted"; return 1
  fi
  cat "$LAB_DIR/h9b.out"
  grep -q "already used" "$LAB_DIR/h9b.out"
}
check "a join token works once; reusing it is refused" reuse

# A certificate from another CA.
foreign_cert() {
  local st=$LAB_DIR/h9.foreign
  mkdir -p "$st" && cp "$LAB_WEFTD_DIR/ca/ca.pem" "$st/ca.pem" &&
    echo "$LAB_MGMT_IP:$LAB_CP_PORT" >"$st/controller" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$st/key.pem" -out "$st/cert.pem" -days 2 -subj /CN=h1 \
      -addext extendedKeyUsage=clientAuth 2>/dev/null || return 1
  ip netns exec "$(lab_ns h9)" "$LAB_AGENT" --state-dir "$st" --ctl "$LAB_DIR/h9f.sock" >"$LAB_DIR/h9f.log" 2>&1 &
  local p=$! i
  for ((i = 0; i < 60; i++)); do
    grep -q "TLS handshake failed" "$(WLOG)" && break
    sleep 0.1
  done
  kill "$p"; lab_wait_pid "$p" 10
  grep "TLS handshake failed" "$(WLOG)" | tail -n 1
  grep -q "TLS handshake failed" "$(WLOG)" && ! grep -q "update realized" "$LAB_DIR/h9f.log"
}
check "a certificate from another CA is refused at the handshake (logged)" foreign_cert

# Revocation.
check "weft host revoke h2" W host revoke h2
revoked_refused() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q "host=h2.*certificate revoked" "$(WLOG)" && break
    sleep 0.1
  done
  grep "certificate revoked" "$(WLOG)" | tail -n 2
  lab_ctl h2 controller
  grep -q "host=h2.*certificate revoked" "$(WLOG)" &&
    ! lab_ctl h2 controller | grep -q "state connected"
}
check "h2's session is dropped and its reconnects are refused" revoked_refused
check "the revoked host keeps forwarding headless" lab_ping x1 198.19.2.12
check "revoking again: nothing to revoke (exit 1)" eval '! W host revoke h2'
rejoin() {
  lab_kill_agent h2 TERM
  rm -f "$LAB_DIR/h2.state/cert.pem"
  lab_start_cp_agent h2 && lab_weft_wait 30 &&
    lab_ctl h2 controller | grep -q "state connected"
}
check "h2 re-enrolls with a new token and is realized" rejoin

# Raw TLS clients with h1's valid certificate sending bad frames.
raw_session() { # HEX-BYTES...
  lab_exec h9 timeout 15 /usr/bin/python3 - "$LAB_MGMT_IP" "$LAB_CP_PORT" \
    "$LAB_DIR/h1.state" "$@" <<'EOF'
import socket, ssl, sys, time
host, port, st = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(st + "/ca.pem")
ctx.load_cert_chain(st + "/cert.pem", st + "/key.pem")
with socket.create_connection((host, port), timeout=10) as raw:
    with ctx.wrap_socket(raw) as s:
        for h in sys.argv[4:]:
            s.sendall(bytes.fromhex(h))
            time.sleep(0.05)
        try:
            s.settimeout(5)
            while s.recv(4096):
                pass
        except Exception as e:
            print("read:", e)
print("closed by the server")
EOF
}
bad_frame() { # DESC LOG-PATTERN HEX...
  local pat=$1
  shift
  local before
  before=$(grep -c "session refused" "$(WLOG)")
  raw_session "$@"
  local i
  for ((i = 0; i < 50; i++)); do
    [ "$(grep -c "session refused" "$(WLOG)")" -gt "$before" ] && break
    sleep 0.1
  done
  grep "session refused" "$(WLOG)" | tail -n 1
  grep "session refused" "$(WLOG)" | tail -n 1 | grep -q "$pat"
}
# Envelope{seq=1, keepalive{}} = 08 01 3a 00; Hello is not needed to test
# framing: the decoder checks every frame before the state machine.
check "garbage bytes: session closed, logged" bad_frame "not a valid envelope" \
  0000000cdeadbeefdeadbeefdeadbeef
check "oversize length: session closed, logged" bad_frame "outside 1.." ffffffff00
check "zero length: session closed, logged" bad_frame "outside 1.." 00000000
check "frame out of order (seq 2 first): session closed, logged" bad_frame "out of order" \
  0000000408023a00
check "message before Hello: session closed, logged" bad_frame "expected Hello" \
  0000000408013a00
truncated() {
  raw_session 0000006408013a00 >/dev/null 2>&1
  sleep 0.3
  grep "session closed" "$(WLOG)" | tail -n 1
  grep "session closed" "$(WLOG)" | tail -n 1 | grep -q "peer=198.18.0.9"
}
check "truncated frame then EOF: session closed, logged" truncated
check "h1's real session was never disturbed" eval '
  [ "$(lab_ctl h1 controller | sed -n "s/^connects \([0-9]*\).*/\1/p")" = "$CONNECTS_H1" ] &&
  lab_ctl h1 controller | grep -q "state connected"'
check "x1 still pings x2" lab_ping x1 198.19.2.12
check "a change is still realized on both hosts" eval '
  W port create x3 --segment blue --mac 02:00:07:11:00:03 --ip 198.19.2.13 --host h1 --vif v-x3 >/dev/null &&
  lab_weft_wait 30'

weftd_stops() {
  local pid=$LAB_WEFTD_PID
  kill -TERM "$pid" && lab_wait_pid "$pid" 15
  local rc=$?
  LAB_WEFTD_PID=
  return "$rc"
}
check "weftd exits with status 0 on SIGTERM" weftd_stops
check "weftd log has no sanitizer report" eval '! grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$(WLOG)"'
check_agents_stop_cleanly
finish
