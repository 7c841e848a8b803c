#!/usr/bin/env bash
# The Weft demo (`make demo`): two hosts, two VMs each, real tunnels.
#
#   h1 198.18.0.1: vm1 blue 198.19.1.11   vm2 red 198.19.2.12
#   h2 198.18.0.2: vm3 blue 198.19.1.21   vm4 red 198.19.2.22
#   blue: VNI 5001, GENEVE        red: VNI 5002, VXLAN
#
# Installs nothing and builds nothing: `make demo` has already run
# scripts/install-deps.sh and the release build; this uses
# build/release/bin/weft-agent (override with WEFT_BUILD or WEFT_AGENT).
# Runs until Ctrl-C, or DEMO_SECONDS seconds when that is set (automated
# runs), then removes everything it created.
set -u
cd "$(dirname "$0")/.." || exit 1
export WEFT_BUILD=${WEFT_BUILD:-$(pwd)/build/release}
AGENT=${WEFT_AGENT:-$WEFT_BUILD/bin/weft-agent}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (network namespaces): sudo make demo" >&2
  exit 1
fi
if [ ! -x "$AGENT" ]; then
  echo "demo: $AGENT not found; build it with: make" >&2
  exit 1
fi
if [ -n "${DEMO_SECONDS:-}" ] && ! [[ "$DEMO_SECONDS" =~ ^[0-9]+$ ]]; then
  echo "demo: DEMO_SECONDS must be a number of seconds" >&2
  exit 1
fi
for t in ip ping; do
  command -v "$t" >/dev/null || { echo "demo: '$t' missing; run: make deps" >&2; exit 1; }
done

# shellcheck source=lab-lib.sh
source scripts/lab-lib.sh
LAB_QUIET=1
lab_init wd || exit 1
P=$LAB_PREFIX

say "Building the lab: underlay, 2 hosts, 4 VMs (prefix ${P%-})"
lab_host h1 198.18.0.1 && lab_host h2 198.18.0.2 &&
  lab_segment blue 5001 geneve &&
  lab_vm h1 vm1 02:00:01:01:00:01 198.19.1.11/24 fd00:19:1::11/64 &&
  lab_vm h2 vm3 02:00:01:02:00:03 198.19.1.21/24 fd00:19:1::21/64 &&
  lab_segment red 5002 vxlan &&
  lab_vm h1 vm2 02:00:02:01:00:02 198.19.2.12/24 fd00:19:2::12/64 &&
  lab_vm h2 vm4 02:00:02:02:00:04 198.19.2.22/24 fd00:19:2::22/64 || exit 1
cat <<EOF
  underlay     ${P}ul: bridge br0, 198.18.0.0/24, MTU 1600
  host h1      ${P}h1  198.18.0.1   vm1 (blue) ${P}h1-vm1 198.19.1.11
                                   vm2 (red)  ${P}h1-vm2 198.19.2.12
  host h2      ${P}h2  198.18.0.2   vm3 (blue) ${P}h2-vm3 198.19.1.21
                                   vm4 (red)  ${P}h2-vm4 198.19.2.22
  segments     blue VNI 5001 GENEVE, red VNI 5002 VXLAN
EOF

say "Starting one weft-agent per host"
lab_start_agent h1 && lab_start_agent h2 || exit 1
echo "  h1: pid $(lab_agent_pid h1), config $LAB_DIR/h1.json, log $LAB_DIR/h1.log"
echo "  h2: pid $(lab_agent_pid h2), config $LAB_DIR/h2.json, log $LAB_DIR/h2.log"

rc=0
ping_failed() {
  echo "demo: the ping failed; agent logs: $LAB_DIR/h1.log $LAB_DIR/h2.log" >&2
  rc=1
}
say "blue: vm1 (h1) pings vm3 (h2) through a GENEVE tunnel"
run ip netns exec "${P}h1-vm1" ping -c 3 -i 0.3 -w 10 198.19.1.21 || ping_failed
say "red: vm2 (h1) pings vm4 (h2) through a VXLAN tunnel, IPv6"
run ip netns exec "${P}h1-vm2" ping -6 -c 3 -i 0.3 -w 10 fd00:19:2::22 || ping_failed

say "What h1's agent knows"
run "$AGENT" ctl --ctl "$LAB_DIR/h1.sock" macs
run "$AGENT" ctl --ctl "$LAB_DIR/h1.sock" tunnels

say "Try it yourself (as root, in another terminal)"
cat <<EOF
  ip netns exec ${P}h1-vm1 ping 198.19.1.21           # blue, across hosts
  ip netns exec ${P}h2-vm4 ping fd00:19:2::12         # red, IPv6
  ip netns exec ${P}h1-vm1 bash                       # a shell inside vm1
  ip netns exec ${P}ul tcpdump -ni br0 udp            # watch the tunnels
  $AGENT ctl --ctl $LAB_DIR/h1.sock macs
  $AGENT ctl --ctl $LAB_DIR/h1.sock ports
  $AGENT ctl --ctl $LAB_DIR/h2.sock counters
  $AGENT ctl --ctl $LAB_DIR/h1.sock help
  tail -f $LAB_DIR/h1.log
EOF

# Wait for Ctrl-C (or DEMO_SECONDS): the handlers only set a flag, the loop
# notices within a second and everything is removed below.
STOP=
trap 'STOP=1' INT TERM
if [ -n "${DEMO_SECONDS:-}" ]; then
  say "Running for $DEMO_SECONDS s (DEMO_SECONDS), then cleaning up"
  END=$((SECONDS + DEMO_SECONDS))
else
  say "Running; press Ctrl-C to stop and clean up"
  END=
fi
while [ -z "$STOP" ]; do
  [ -n "$END" ] && [ "$SECONDS" -ge "$END" ] && break
  if ! lab_agent_alive h1 || ! lab_agent_alive h2; then
    echo "demo: an agent exited unexpectedly" >&2
    LAB_FAILED=1
    rc=1
    break
  fi
  sleep 1
done

say "Cleaning up"
lab_cleanup
trap - EXIT INT TERM
echo "  removed namespaces ${P}*, stopped the agents"
exit "$rc"
