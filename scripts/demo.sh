#!/usr/bin/env bash
# The Weft demo (`make demo`): weftd and three hosts in network namespaces;
# the agents enroll with join tokens and the whole topology is built with
# the `weft` CLI -- no configuration files.  Shows logical switching,
# distributed routing between the two segments, and micro-segmentation.
#
#   mgmt 198.18.0.250: weftd (API on its loopback, controller :6643)
#   h1 198.18.0.1: vm1 blue 198.19.1.11   vm2 red 198.19.2.12
#   h2 198.18.0.2: vm3 blue 198.19.1.21   vm4 red 198.19.2.22
#   h3 198.18.0.3: vm5 blue 198.19.1.31
#
# Installs nothing and builds nothing: `make demo` has already run
# scripts/install-deps.sh and the release build; this uses build/release
# (override with WEFT_BUILD).  Runs until Ctrl-C, or DEMO_SECONDS seconds
# when that is set (automated runs), then removes everything it created.
set -u
cd "$(dirname "$0")/.."
export WEFT_BUILD=${WEFT_BUILD:-$(pwd)/build/release}
AGENT=${WEFT_AGENT:-$WEFT_BUILD/bin/weft-agent}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
weft() { printf '$ weft %s\n' "$*"; lab_weft "$@"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (network namespaces): sudo make demo" >&2
  exit 1
fi
for b in weft-agent weftd weft; do
  if [ ! -x "$WEFT_BUILD/bin/$b" ]; then
    echo "demo: $WEFT_BUILD/bin/$b not found; build it with: make" >&2
    exit 1
  fi
done
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

say "The lab: an underlay, weftd's namespace, three hosts, five VMs (prefix ${P%-})"
lab_weftd_start || exit 1
lab_host h1 198.18.0.1 && lab_host h2 198.18.0.2 && lab_host h3 198.18.0.3 &&
  lab_segment blue 5001 && lab_segment red 5002 &&
  lab_vm -s blue h1 vm1 02:00:01:01:00:01 198.19.1.11/24 &&
  lab_vm -s red h1 vm2 02:00:02:01:00:02 198.19.2.12/24 &&
  lab_vm -s blue h2 vm3 02:00:01:02:00:03 198.19.1.21/24 &&
  lab_vm -s red h2 vm4 02:00:02:02:00:04 198.19.2.22/24 &&
  lab_vm -s blue h3 vm5 02:00:01:03:00:05 198.19.1.31/24 || exit 1
echo "  weftd: ${P}mgmt 198.18.0.250, state $LAB_DIR/weftd, log $LAB_DIR/weftd.log"

say "Register the hosts and let their agents join (weft host join-token)"
for h in h1 h2 h3; do
  weft host create "$h" --tep "$(lab_host_ip "$h")" >/dev/null || exit 1
done
for h in h1 h2 h3; do
  lab_start_cp_agent "$h" || exit 1
  echo "  $h: weft-agent --join 198.18.0.250:6643 --token <one-time token>  (pid $(lab_agent_pid "$h"))"
done

say "Build the topology with the CLI"
weft segment create blue --vni 5001 --subnet 198.19.1.1/24 || exit 1
weft segment create red --vni 5002 --subnet 198.19.2.1/24 || exit 1
port() { # VM SEG HOST
  weft port create "$1" --segment "$2" --mac "$(lab_vm_mac "$1")" \
    --ip "$(lab_vm_ip "$1")" --host "$3" --vif "v-$1" >/dev/null
}
port vm1 blue h1 && port vm2 red h1 && port vm3 blue h2 && port vm4 red h2 &&
  port vm5 blue h3 || exit 1
weft list ports --segment blue
weft wait --realized --timeout 30 || exit 1

say "blue: vm1 (h1) pings vm3 (h2) and vm5 (h3) through GENEVE tunnels"
run ip netns exec "${P}h1-vm1" ping -c 3 -i 0.3 -w 10 198.19.1.21
run ip netns exec "${P}h1-vm1" ping -c 3 -i 0.3 -w 10 198.19.1.31
say "red: vm2 (h1) pings vm4 (h2); red and blue are isolated"
run ip netns exec "${P}h1-vm2" ping -c 3 -i 0.3 -w 10 198.19.2.22

say "Distributed routing: blue and red join router t1; each host routes its own VMs' traffic"
weft router create t1 || exit 1
weft segment update blue --router t1 || exit 1
weft segment update red --router t1 || exit 1
weft wait --realized --timeout 30 || exit 1
for vm in vm1 vm3 vm5; do lab_exec "$vm" ip route add default via 198.19.1.1; done
for vm in vm2 vm4; do lab_exec "$vm" ip route add default via 198.19.2.1; done
run ip netns exec "${P}h1-vm1" ping -c 3 -i 0.3 -w 10 198.19.2.22
if command -v traceroute >/dev/null; then
  run ip netns exec "${P}h1-vm1" traceroute -n -q 1 -w 2 198.19.2.22
fi
run "$AGENT" ctl --ctl "$LAB_DIR/h1.sock" routes

say "Realization state, and what h1's agent learned from the controller"
weft state port blue/vm3
run "$AGENT" ctl --ctl "$LAB_DIR/h1.sock" controller
run "$AGENT" ctl --ctl "$LAB_DIR/h1.sock" macs

say "Micro-segmentation: allow ping inside blue, drop everything else"
weft group create blue-all --match-segment blue >/dev/null || exit 1
weft policy create demo --category application >/dev/null || exit 1
weft rule create ping-in-blue --policy demo --action allow --src blue-all \
  --dst blue-all --icmp 8 --logged >/dev/null || exit 1
weft firewall default drop >/dev/null || exit 1
weft wait --realized --timeout 30 || exit 1
weft group members blue-all
run ip netns exec "${P}h1-vm1" ping -c 3 -i 0.3 -w 10 198.19.1.21
echo "  red is now dropped by the default rule:"
if ip netns exec "${P}h1-vm2" ping -c 2 -i 0.3 -W 1 -w 3 198.19.2.22 >/dev/null 2>&1; then
  echo "demo: red still pings with default drop" >&2
  exit 1
fi
echo "  (vm2 -> vm4: no reply)"
run "$AGENT" ctl --ctl "$LAB_DIR/h1.sock" firewall

W="ip netns exec ${P}mgmt env WEFT_ENDPOINT=https://127.0.0.1:$(cat "$LAB_DIR/weftd/weftd.port") WEFT_CACERT=$LAB_DIR/weftd/cert.pem WEFT_TOKEN=\$(cat $LAB_DIR/weftd/admin.token) $WEFT_BUILD/bin/weft"
say "Try it yourself (as root, in another terminal)"
cat <<EOF
  W="$W"
  eval \$W list ports --segment blue
  eval \$W port detach vm5 --segment blue; eval \$W wait --realized
  ip netns exec ${P}h1-vm1 ping 198.19.1.31           # now unreachable
  eval \$W port attach vm5 --segment blue --host h3 --vif v-vm5
  eval \$W state host h2
  eval \$W rule stats ping-in-blue --policy demo
  eval \$W firewall default allow                     # red pings again
  ip netns exec ${P}h1-vm1 ping 198.19.1.21           # blue, across hosts
  ip netns exec ${P}ul tcpdump -ni br0 udp port 6081  # watch the tunnels
  $AGENT ctl --ctl $LAB_DIR/h2.sock macs
  $AGENT ctl --ctl $LAB_DIR/h2.sock controller
  tail -f $LAB_DIR/weftd.log $LAB_DIR/h1.log
EOF

STOP=
trap 'STOP=1' INT TERM
if [ -n "${DEMO_SECONDS:-}" ]; then
  say "Running for $DEMO_SECONDS s (DEMO_SECONDS), then cleaning up"
  END=$((SECONDS + DEMO_SECONDS))
else
  say "Running; press Ctrl-C to stop and clean up"
  END=
fi
rc=0
while [ -z "$STOP" ]; do
  [ -n "$END" ] && [ "$SECONDS" -ge "$END" ] && break
  if ! lab_agent_alive h1 || ! lab_agent_alive h2 || ! lab_agent_alive h3 ||
     ! lab_weftd_alive; then
    echo "demo: weftd or an agent exited unexpectedly" >&2
    LAB_FAILED=1
    rc=1
    break
  fi
  sleep 1
done

say "Cleaning up"
lab_cleanup
trap - EXIT INT TERM
echo "  removed namespaces ${P}*, stopped weftd and the agents"
exit "$rc"
