#!/usr/bin/env bash
# lab.sh: a Weft lab (hosts and VMs in network namespaces, one weft-agent
# per host) for humans.  See --help.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() {
  cat <<EOF
usage: scripts/lab.sh COMMAND [ARGS]

Runs a small data centre inside this machine: every host is a network
namespace running weft-agent, every VM a namespace whose eth0 is a VIF of its
host.  Needs root.  Nothing touches the root namespace's interfaces.

commands:
  up [--encap geneve|vxlan]   bring up 2 hosts x 2 VMs on segment "blue"
                              (VNI 5001, GENEVE by default) and leave it
                              running; prints how to use it
  down [LAB]                  tear a lab down (agents, namespaces, files)
  list                        list the labs that are up
  status [LAB]                agents, ports and MAC tables of a lab
  exec [--lab LAB] NAME CMD.. run CMD in the namespace of a VM or host,
                              e.g. scripts/lab.sh exec vm1 ping 198.19.1.21
  ctl [--lab LAB] HOST CMD    weft-agent ctl against HOST's agent
                              (ports, macs, tunnels, counters, reload, help)
  -h, --help                  this text

LAB is a lab's work directory or its prefix (see 'list'); it may be left out
when exactly one lab is up.

The default lab:
  underlay 198.18.0.0/24 on bridge br0 in namespace <prefix>ul
  host h1 198.18.0.1: vm1 198.19.1.11 fd00:19:1::11   vm2 198.19.1.12 fd00:19:1::12
  host h2 198.18.0.2: vm3 198.19.1.21 fd00:19:1::21   vm4 198.19.1.22 fd00:19:1::22
  namespaces: <prefix>h1, <prefix>h1-vm1, ...; agent logs, configs and
  control sockets in the lab's work directory.

environment:
  WEFT_BUILD   build to use (default build/release, else build/asan)
  WEFT_AGENT   agent binary (default \$WEFT_BUILD/bin/weft-agent)
EOF
}

pick_build() {
  if [ -z "${WEFT_BUILD:-}" ] && [ -z "${WEFT_AGENT:-}" ]; then
    if [ -x "$REPO/build/release/bin/weft-agent" ]; then
      export WEFT_BUILD=$REPO/build/release
    else
      export WEFT_BUILD=$REPO/build/asan
    fi
  fi
}

# Labs left running by `up`: work directories whose state says "persist".
list_labs() {
  local d
  for d in "${TMPDIR:-/tmp}"/weft-lab-*; do
    [ -f "$d/state" ] && grep -qx "persist 1" "$d/state" && echo "$d"
  done
}

# find_lab [LAB]: prints the work directory of LAB, or of the only lab up.
find_lab() {
  local want=${1:-} d labs
  labs=$(list_labs)
  if [ -n "$want" ]; then
    if [ -f "$want/state" ]; then echo "$want"; return 0; fi
    for d in $labs; do
      if grep -qx "prefix ${want%-}-" "$d/state"; then echo "$d"; return 0; fi
    done
    echo "lab.sh: no lab '$want' (see: scripts/lab.sh list)" >&2
    return 1
  fi
  case $(grep -c . <<<"$labs") in
    0) echo "lab.sh: no lab is up (scripts/lab.sh up)" >&2; return 1 ;;
    1) echo "$labs" ;;
    *) echo "lab.sh: several labs are up; name one (scripts/lab.sh list)" >&2; return 1 ;;
  esac
}

state_get() { # DIR KEY: first value of KEY lines
  awk -v k="$2" '$1 == k { print $2; exit }' "$1/state"
}

need_root() {
  [ "$(id -u)" -eq 0 ] || { echo "lab.sh: must run as root" >&2; exit 1; }
}

cmd_up() {
  local encap=geneve
  while [ $# -gt 0 ]; do
    case $1 in
      --encap) encap=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
      *) usage >&2; exit 2 ;;
    esac
  done
  case $encap in geneve|vxlan) ;; *) echo "lab.sh: --encap geneve|vxlan" >&2; exit 2 ;; esac
  need_root
  pick_build
  # shellcheck source=lab-lib.sh
  source "$HERE/lab-lib.sh"
  LAB_PERSIST=1
  lab_init wl || exit 1
  echo "persist 1" >>"$LAB_STATE"
  local agent=$LAB_AGENT
  lab_host h1 198.18.0.1 && lab_host h2 198.18.0.2 &&
    lab_segment blue 5001 "$encap" &&
    lab_vm h1 vm1 02:00:01:01:00:01 198.19.1.11/24 fd00:19:1::11/64 &&
    lab_vm h1 vm2 02:00:01:01:00:02 198.19.1.12/24 fd00:19:1::12/64 &&
    lab_vm h2 vm3 02:00:01:02:00:03 198.19.1.21/24 fd00:19:1::21/64 &&
    lab_vm h2 vm4 02:00:01:02:00:04 198.19.1.22/24 fd00:19:1::22/64 &&
    lab_start_agent h1 && lab_start_agent h2 || exit 1
  local p=$LAB_PREFIX
  cat <<EOF

Weft lab ${p%-} is up (segment blue, VNI 5001, $encap).  Work directory:
  $LAB_DIR        (h1.json/h2.json configs, h1.log/h2.log agent logs)

  host h1 198.18.0.1: vm1 198.19.1.11  vm2 198.19.1.12
  host h2 198.18.0.2: vm3 198.19.1.21  vm4 198.19.1.22   (IPv6 fd00:19:1::<same>)

Try:
  scripts/lab.sh exec vm1 ping -c 3 198.19.1.21        # across hosts
  scripts/lab.sh exec vm1 ping -c 3 fd00:19:1::22      # IPv6
  scripts/lab.sh ctl h1 macs                           # MAC table of h1
  scripts/lab.sh ctl h1 counters
  sudo ip netns exec ${p}ul tcpdump -ni br0 udp        # the tunnels on the underlay
  sudo ip netns exec ${p}h1-vm1 bash                   # a shell "in" vm1
  $agent ctl --ctl $LAB_DIR/h1.sock ports
  edit $LAB_DIR/h1.json, then: scripts/lab.sh ctl h1 reload
Tear down:
  scripts/lab.sh down ${p%-}
EOF
}

cmd_down() {
  need_root
  local dir
  dir=$(find_lab "${1:-}") || exit 1
  local prefix
  prefix=$(state_get "$dir" prefix)
  # shellcheck source=lab-lib.sh
  source "$HERE/lab-lib.sh"
  lab_cleanup_dir "$dir" || exit 1
  echo "lab.sh: lab ${prefix%-} removed"
}

cmd_list() {
  local d
  for d in $(list_labs); do
    printf '%s  %s  hosts: %s\n' "$(state_get "$d" prefix)" "$d" \
      "$(awk '$1 == "host" { printf "%s(%s) ", $2, $3 }' "$d/state")"
  done
}

agent_bin() {
  pick_build
  echo "${WEFT_AGENT:-$WEFT_BUILD/bin/weft-agent}"
}

cmd_status() {
  local dir h pid
  dir=$(find_lab "${1:-}") || exit 1
  echo "lab $(state_get "$dir" prefix) in $dir"
  while read -r kind h pid; do
    [ "$kind" = agent ] || continue
    if kill -0 "$pid" 2>/dev/null; then echo "== $h: agent pid $pid running"; else echo "== $h: agent pid $pid NOT running"; fi
    "$(agent_bin)" ctl --ctl "$dir/$h.sock" ports
    "$(agent_bin)" ctl --ctl "$dir/$h.sock" macs
  done <"$dir/state"
}

cmd_exec() {
  local lab=
  if [ "${1:-}" = --lab ]; then lab=$2; shift 2; fi
  [ $# -ge 2 ] || { usage >&2; exit 2; }
  need_root
  local dir prefix name=$1 ns
  shift
  dir=$(find_lab "$lab") || exit 1
  prefix=$(state_get "$dir" prefix)
  ns=$(awk -v n="$name" -v p="$prefix" '
      $1 == "vm" && $2 == n { print p $3 "-" n; exit }
      $1 == "host" && $2 == n { print p n; exit }' "$dir/state")
  [ -n "$ns" ] || { [ "$name" = ul ] && ns=${prefix}ul; }
  [ -n "$ns" ] || { echo "lab.sh: no VM or host '$name' in this lab" >&2; exit 1; }
  exec ip netns exec "$ns" "$@"
}

cmd_ctl() {
  local lab=
  if [ "${1:-}" = --lab ]; then lab=$2; shift 2; fi
  [ $# -ge 2 ] || { usage >&2; exit 2; }
  local dir host=$1
  shift
  dir=$(find_lab "$lab") || exit 1
  exec "$(agent_bin)" ctl --ctl "$dir/$host.sock" "$@"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  list) cmd_list ;;
  status) shift; cmd_status "$@" ;;
  exec) shift; cmd_exec "$@" ;;
  ctl) shift; cmd_ctl "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
