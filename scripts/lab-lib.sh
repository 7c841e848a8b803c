# shellcheck shell=bash
# Weft lab library: a data centre inside one Linux machine, built from network
# namespaces.  Sourced by tests/system/*.sh, scripts/demo.sh, scripts/lab.sh
# and the benchmarks.
#
#   <p>ul           underlay namespace: bridge br0, one port "h-HOST" per host
#   <p>HOST         a host (transport node): ul0 = underlay address, MTU 1600;
#                   one "v-VM" interface per VM (the VIF the agent opens)
#   <p>HOST-VM      a VM: eth0 with the VM's MAC/IPv4/IPv6, MTU 1500
#
# <p> is a per-run unique prefix (lab_init BASE -> "BASE<4 hex>-").  Every
# namespace the lab creates carries it; every interface is created directly
# inside one of those namespaces (never in the root namespace), so deleting
# the namespaces removes every interface.  Nothing is ever added to the root
# namespace.  Address plan: underlay 198.18.0.0/24, VM segments 198.19.0.0/16
# and fd00:19::/32.
#
# Typical use:
#   source scripts/lab-lib.sh
#   lab_init wt                      # prefix, work dir, EXIT/INT/TERM trap
#   lab_segment blue 5001 geneve
#   lab_host h1 198.18.0.1
#   lab_host h2 198.18.0.2
#   lab_vm h1 vm1 02:00:00:01:01:01 198.19.1.11/24 fd00:19:1::11/64
#   lab_vm h2 vm2 02:00:00:01:02:01 198.19.1.21/24 fd00:19:1::21/64
#   lab_start_agent h1; lab_start_agent h2   # writes <dir>/HOST.json first
#   lab_exec vm1 ping -c 3 198.19.1.21
#
# Segments: lab_segment NAME VNI [geneve|vxlan].  lab_vm attaches the VM to
# the segment given with -s NAME, or else to the last segment declared.
# lab_remote SEG MAC VTEP [IP...] adds a binding for an endpoint that is not
# a lab VM (e.g. a kernel VXLAN host).
#
# Functions (each documented where defined):
#   topology   lab_init BASE, lab_underlay, lab_host NAME IP, lab_segment NAME
#              VNI [ENCAP], lab_vm [-s SEG] HOST VM MAC IP4/LEN [IP6/LEN],
#              lab_remote SEG MAC VTEP [IP...], lab_cleanup, lab_cleanup_dir DIR
#   lookups    lab_ns NAME, lab_vm_ip VM [4|6], lab_vm_mac, lab_vm_host,
#              lab_host_ip, lab_agent_log|_sock|_config|_pid HOST
#   agents     lab_write_config HOST [FILE], lab_write_configs,
#              lab_start_agent HOST, lab_start_agents, lab_ctl HOST CMD...,
#              lab_sighup HOST, lab_agent_alive HOST, lab_stop_agent HOST,
#              lab_print_agent_logs [N], lab_sanitizer_clean
#   traffic    lab_exec NAME CMD..., lab_ping [-6] VM DST [N], lab_no_ping
#              [-6] VM DST, lab_tcp_transfer SRC DST IP MB [PORT],
#              lab_wait_listen VM PORT, lab_capture_start NAME WHERE IF
#              [FILTER], lab_capture_stop NAME, lab_capture_file NAME,
#              lab_bg CMD..., lab_wait_pid PID [S]
#
# Environment:
#   WEFT_AGENT       agent binary (default $WEFT_BUILD/bin/weft-agent)
#   WEFT_BUILD       build dir (default <repo>/build/asan)
#   LAB_LOG_LEVEL    agent --log-level (default info)
#   LAB_OFFLOADS     if set (true|false), written as options.offloads
#   LAB_KFP          if set (true|false), written as options.kernel_fastpath
#                    (controller mode: --kernel-fastpath on|off)
#   LAB_KEEP=1       keep the work directory after cleanup
#   LAB_SNAPLEN      capture snap length (default 256)
#   LAB_TCP_TIMEOUT  bound of each side of lab_tcp_transfer (default 30 s)
#
# The library does not use `set -e`; functions return non-zero on failure and
# print the reason on stderr.  Safe under `set -u`.

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_LIB_DIR/.." && pwd)
LAB_PY=/usr/bin/python3 # has scapy; the pyenv python3 on PATH may not

LAB_UL_MTU=${LAB_UL_MTU:-1600}
LAB_VM_MTU=${LAB_VM_MTU:-1500}

_lab_err() { echo "lab: $*" >&2; }
_lab_log() { [ -n "${LAB_QUIET:-}" ] || echo "lab: $*" >&2; }

# lab_init BASE: picks the per-run prefix "BASE<4 hex>-", makes the work
# directory and installs the cleanup trap.  BASE: 1..6 of [a-z0-9].
lab_init() {
  local base=${1:-wl}
  if ! [[ "$base" =~ ^[a-z0-9]{1,6}$ ]]; then
    _lab_err "lab_init: prefix base must be 1..6 of [a-z0-9]: '$base'"
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    _lab_err "lab_init: must run as root (network namespaces)"
    return 1
  fi
  command -v ip >/dev/null || { _lab_err "lab_init: 'ip' (iproute2) not found"; return 1; }
  local try rnd
  for try in 1 2 3 4 5 6 7 8 9 10; do
    rnd=$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
    LAB_PREFIX="${base}${rnd}-"
    if ! ip netns list 2>/dev/null | awk '{print $1}' | grep -q -- "^${LAB_PREFIX}"; then
      break
    fi
    [ "$try" = 10 ] && { _lab_err "lab_init: no free prefix"; return 1; }
  done
  LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weft-lab-${LAB_PREFIX%-}.XXXXXX") || return 1
  chmod 755 "$LAB_DIR"
  LAB_STATE=$LAB_DIR/state
  echo "prefix $LAB_PREFIX" >"$LAB_STATE"
  LAB_AGENT=${WEFT_AGENT:-${WEFT_BUILD:-$LAB_REPO/build/asan}/bin/weft-agent}

  LAB_NS=()           # namespaces created, in creation order
  LAB_BG_PIDS=()      # background helpers (captures, pings, listeners)
  LAB_HOSTS=()
  LAB_SEGS=()
  LAB_VMS=()
  LAB_REMOTES=()      # "seg|mac|vtep|ip ip ..."
  LAB_CLEANUP_HOOKS=()
  declare -gA LAB_HOST_IP=() LAB_AGENT_PID=() LAB_SEG_VNI=() LAB_SEG_ENCAP=()
  declare -gA LAB_VM_HOST=() LAB_VM_SEG=() LAB_VM_MAC=() LAB_VM_IP4=() LAB_VM_IP6=()
  declare -gA LAB_VM_PORT=() LAB_CAP_PID=()
  LAB_NEXT_PORT=1
  LAB_CURRENT_SEG=
  LAB_CLEANED=
  LAB_FAILED=${LAB_FAILED:-}

  trap '_lab_on_exit' EXIT
  trap '_lab_on_signal INT 130' INT
  trap '_lab_on_signal TERM 143' TERM
  _lab_log "prefix ${LAB_PREFIX}, work dir $LAB_DIR"
}

# On exit: cleanup (unless lab.sh up succeeded), then lab_exit_hook RC if
# the sourcing script defines one (tests/system/lib.sh does).
_lab_on_exit() {
  local rc=$?
  [ "$rc" -ne 0 ] && LAB_FAILED=1
  if [ -n "${LAB_PERSIST:-}" ] && [ -z "${LAB_FAILED:-}" ]; then
    return 0   # lab.sh up: leave it running; `lab.sh down` removes it
  fi
  lab_cleanup
  if declare -F lab_exit_hook >/dev/null; then lab_exit_hook "$rc"; fi
}

_lab_on_signal() {
  trap - INT TERM
  echo "lab: interrupted by SIG$1, cleaning up" >&2
  LAB_FAILED=1
  LAB_PERSIST=
  lab_cleanup
  trap - EXIT
  if declare -F lab_exit_hook >/dev/null; then lab_exit_hook "$2"; fi
  exit "$2"
}

_lab_state() { [ -n "${LAB_STATE:-}" ] && echo "$*" >>"$LAB_STATE"; }

# Full namespace name of a lab name: a VM, a host, "ul", or an existing
# "<p>NAME" / full name.
lab_ns() {
  local n=$1
  if [ -n "${LAB_VM_HOST[$n]+x}" ]; then
    echo "${LAB_PREFIX}${LAB_VM_HOST[$n]}-$n"
  elif [ -n "${LAB_HOST_IP[$n]+x}" ] || [ "$n" = ul ]; then
    echo "${LAB_PREFIX}$n"
  elif [[ "$n" == "$LAB_PREFIX"* ]]; then
    echo "$n"
  else
    echo "${LAB_PREFIX}$n"
  fi
}

# lab_exec NAME CMD...: runs CMD in the namespace of NAME (see lab_ns).
lab_exec() {
  local ns
  ns=$(lab_ns "$1") || return 1
  shift
  ip netns exec "$ns" "$@"
}

_lab_add_ns() {
  local ns=$1
  ip netns add "$ns" || { _lab_err "cannot create namespace $ns"; return 1; }
  LAB_NS+=("$ns")
  _lab_state "ns $ns"
  ip -n "$ns" link set lo up
}

# lab_underlay: the underlay namespace <p>ul with bridge br0 (MTU 1600).
# Called by lab_host when needed.
lab_underlay() {
  local ns=${LAB_PREFIX}ul
  [ -n "${LAB_UL_UP:-}" ] && return 0
  _lab_add_ns "$ns" || return 1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 >/dev/null
  ip -n "$ns" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0 &&
    ip -n "$ns" link set br0 mtu "$LAB_UL_MTU" up || return 1
  LAB_UL_UP=1
}

# lab_host NAME IP: a host namespace <p>NAME whose ul0 (MTU 1600) is
# plugged into the underlay bridge as port h-NAME.  IP is an IPv4 underlay
# address in 198.18.0.0/24 (ul0 gets IP/24) or an IPv6 one in fd00:18::/64,
# written fd00:18::N with N in 1..ff (ul0 gets IP/64, no DAD).
lab_host() {
  local name=$1 ip=$2 plen=24
  if ! [[ "$name" =~ ^[a-z0-9]{1,10}$ ]]; then
    _lab_err "lab_host: name must be 1..10 of [a-z0-9]: '$name'"; return 1
  fi
  if [[ "$ip" =~ ^fd00:18::([0-9a-f]{1,2})$ ]] && [ "$((16#${BASH_REMATCH[1]}))" -ge 1 ]; then
    plen=64
  elif ! [[ "$ip" =~ ^198\.18\.0\.([0-9]{1,3})$ ]] || [ "${BASH_REMATCH[1]}" -lt 1 ] ||
     [ "${BASH_REMATCH[1]}" -gt 254 ]; then
    _lab_err "lab_host: underlay address must be in 198.18.0.0/24 or fd00:18::N (N 1..ff): '$ip'"
    return 1
  fi
  [ -n "${LAB_HOST_IP[$name]+x}" ] && { _lab_err "lab_host: $name exists"; return 1; }
  lab_underlay || return 1
  local ns=${LAB_PREFIX}$name ul=${LAB_PREFIX}ul
  _lab_add_ns "$ns" || return 1
  # The host namespace carries no IPv6 unless its underlay is IPv6 (then on
  # ul0 only): no RS/MLD noise from the VIF host ends.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 >/dev/null
  ip -n "$ul" link add "h-$name" type veth peer name ul0 netns "$ns" || return 1
  ip -n "$ul" link set "h-$name" mtu "$LAB_UL_MTU" master br0 up || return 1
  if [ "$plen" = 64 ]; then
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
      net.ipv6.conf.ul0.disable_ipv6=0 net.ipv6.conf.ul0.accept_ra=0 \
      net.ipv6.conf.ul0.autoconf=0 >/dev/null || return 1
  fi
  ip -n "$ns" link set ul0 mtu "$LAB_UL_MTU" up || return 1
  if [ "$plen" = 64 ]; then
    ip -n "$ns" addr add "$ip/64" dev ul0 nodad || return 1
  else
    ip -n "$ns" addr add "$ip/24" dev ul0 || return 1
  fi
  LAB_HOST_IP[$name]=$ip
  LAB_HOSTS+=("$name")
  _lab_state "host $name $ip"
}

# lab_segment NAME VNI [ENCAP]: declares a logical segment (default geneve).
lab_segment() {
  local name=$1 vni=$2 encap=${3:-geneve}
  [[ "$name" =~ ^[A-Za-z0-9_.-]{1,63}$ ]] || { _lab_err "lab_segment: bad name '$name'"; return 1; }
  [[ "$vni" =~ ^[0-9]+$ ]] && [ "$vni" -ge 1 ] && [ "$vni" -le 16777215 ] ||
    { _lab_err "lab_segment: bad VNI '$vni'"; return 1; }
  case $encap in geneve|vxlan) ;; *) _lab_err "lab_segment: encap geneve|vxlan"; return 1;; esac
  if [ -z "${LAB_SEG_VNI[$name]+x}" ]; then
    LAB_SEGS+=("$name")
  fi
  LAB_SEG_VNI[$name]=$vni
  LAB_SEG_ENCAP[$name]=$encap
  LAB_CURRENT_SEG=$name
}

# lab_vm [-s SEGMENT] HOST VM MAC IPV4/PREFIX|none [IPV6/PREFIX]
# A VM namespace <p>HOST-VM with eth0 (MAC, addresses, MTU 1500, no DAD);
# "none": no IPv4 address (a DHCP client configures it);
# its peer "v-VM" sits in the host namespace, up, without address.  VM names
# are unique in the lab (1..13 of [a-z0-9_.-]).
lab_vm() {
  local seg=$LAB_CURRENT_SEG
  if [ "${1:-}" = -s ]; then seg=$2; shift 2; fi
  local host=$1 vm=$2 mac=$3 ip4=$4 ip6=${5:-}
  [ -n "$seg" ] && [ -n "${LAB_SEG_VNI[$seg]+x}" ] ||
    { _lab_err "lab_vm: unknown segment '$seg' (declare it with lab_segment)"; return 1; }
  [ -n "${LAB_HOST_IP[$host]+x}" ] || { _lab_err "lab_vm: unknown host '$host'"; return 1; }
  [[ "$vm" =~ ^[a-z0-9_.-]{1,13}$ ]] || { _lab_err "lab_vm: bad VM name '$vm'"; return 1; }
  [ -z "${LAB_VM_HOST[$vm]+x}" ] || { _lab_err "lab_vm: VM '$vm' exists"; return 1; }
  [[ "${mac,,}" =~ ^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$ ]] ||
    { _lab_err "lab_vm: '$mac' is not a unicast MAC"; return 1; }
  [ "$ip4" = none ] || [[ "$ip4" =~ ^198\.19\.[0-9]+\.[0-9]+/[0-9]+$ ]] ||
    { _lab_err "lab_vm: IPv4 must be 198.19.x.y/len or none: '$ip4'"; return 1; }
  if [ -n "$ip6" ] && ! [[ "${ip6,,}" =~ ^fd00:19: ]]; then
    _lab_err "lab_vm: IPv6 must be in fd00:19::/32: '$ip6'"; return 1
  fi
  local hns=${LAB_PREFIX}$host ns=${LAB_PREFIX}$host-$vm vif=v-$vm
  _lab_add_ns "$ns" || return 1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.router_solicitations=0 >/dev/null
  ip -n "$hns" link add "$vif" type veth peer name eth0 netns "$ns" || return 1
  ip -n "$hns" link set "$vif" mtu "$LAB_VM_MTU" up || return 1
  ip -n "$ns" link set eth0 address "$mac" mtu "$LAB_VM_MTU" up || return 1
  if [ "$ip4" != none ]; then
    ip -n "$ns" addr add "$ip4" dev eth0 || return 1
  fi
  if [ -n "$ip6" ]; then
    ip -n "$ns" -6 addr add "$ip6" dev eth0 nodad || return 1
  fi
  LAB_VM_HOST[$vm]=$host
  LAB_VM_SEG[$vm]=$seg
  LAB_VM_MAC[$vm]=${mac,,}
  LAB_VM_IP4[$vm]=${ip4%/*}
  [ "$ip4" != none ] || LAB_VM_IP4[$vm]=
  LAB_VM_IP6[$vm]=${ip6%/*}
  LAB_VM_PORT[$vm]=$LAB_NEXT_PORT
  LAB_NEXT_PORT=$((LAB_NEXT_PORT + 1))
  LAB_VMS+=("$vm")
  _lab_state "vm $vm $host $seg ${mac,,} ${ip4%/*} ${ip6%/*}"
}

# lab_remote SEG MAC VTEP [IP...]: a remote binding for an endpoint that is
# not a lab VM (it appears in the config of every host that has the segment).
lab_remote() {
  local seg=$1 mac=$2 vtep=$3
  shift 3
  [ -n "${LAB_SEG_VNI[$seg]+x}" ] || { _lab_err "lab_remote: unknown segment '$seg'"; return 1; }
  LAB_REMOTES+=("$seg|${mac,,}|$vtep|$*")
}

# lab_vm_ip VM [4|6], lab_vm_mac VM, lab_vm_host VM: topology lookups.
lab_vm_ip() { if [ "${2:-4}" = 6 ]; then echo "${LAB_VM_IP6[$1]}"; else echo "${LAB_VM_IP4[$1]}"; fi; }
lab_vm_mac() { echo "${LAB_VM_MAC[$1]}"; }
lab_vm_host() { echo "${LAB_VM_HOST[$1]}"; }
lab_host_ip() { echo "${LAB_HOST_IP[$1]}"; }

# Topology as lines for the config generator.
_lab_topology() {
  local h s v r f
  for h in "${LAB_HOSTS[@]}"; do printf 'H\t%s\t%s\n' "$h" "${LAB_HOST_IP[$h]}"; done
  for s in "${LAB_SEGS[@]}"; do printf 'S\t%s\t%s\t%s\n' "$s" "${LAB_SEG_VNI[$s]}" "${LAB_SEG_ENCAP[$s]}"; done
  for v in "${LAB_VMS[@]}"; do
    printf 'V\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "${LAB_VM_HOST[$v]}" "${LAB_VM_SEG[$v]}" \
      "${LAB_VM_MAC[$v]}" "${LAB_VM_PORT[$v]}" "${LAB_VM_IP4[$v]}" "${LAB_VM_IP6[$v]}"
  done
  for r in "${LAB_REMOTES[@]}"; do
    IFS='|' read -r -a f <<<"$r"
    printf 'R\t%s\t%s\t%s\t%s\n' "${f[0]}" "${f[1]}" "${f[2]}" "${f[3]:-}"
  done
}

# lab_write_config HOST [FILE]: the agent's JSON config for HOST from the
# topology recorded so far (default FILE: <dir>/HOST.json).  A segment
# appears on a host when the host has a VM on it (the host's span); its
# remotes are the segment's VMs on other hosts plus lab_remote bindings.
lab_write_config() {
  local host=$1 file=${2:-$LAB_DIR/$1.json}
  [ -n "${LAB_HOST_IP[$host]+x}" ] || { _lab_err "lab_write_config: unknown host '$host'"; return 1; }
  [ -x "$LAB_PY" ] || { _lab_err "lab_write_config: $LAB_PY not found"; return 1; }
  local topo
  topo=$(_lab_topology)
  LAB_TOPO=$topo "$LAB_PY" - "$host" "$file" "$LAB_UL_MTU" "${LAB_OFFLOADS:-}" "${LAB_KFP:-}" <<'EOF' || return 1
import json, os, sys
host, path, mtu, offloads, kfp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
hosts, segs, vms, remotes = {}, [], [], []
for line in os.environ["LAB_TOPO"].splitlines():
    f = line.split("\t")
    if f[0] == "H": hosts[f[1]] = f[2]
    elif f[0] == "S": segs.append((f[1], int(f[2]), f[3]))
    elif f[0] == "V": vms.append(dict(name=f[1], host=f[2], seg=f[3], mac=f[4],
                                      port=int(f[5]), ips=[x for x in f[6:8] if x]))
    elif f[0] == "R": remotes.append(dict(seg=f[1], mac=f[2], vtep=f[3], ips=f[4].split()))
cfg = {"underlay": {"local_ip": hosts[host], "mtu": mtu}}
if offloads:
    cfg.setdefault("options", {})["offloads"] = offloads == "true"
if kfp:
    cfg.setdefault("options", {})["kernel_fastpath"] = kfp == "true"
cfg["segments"] = []
for name, vni, encap in segs:
    local = [v for v in vms if v["seg"] == name and v["host"] == host]
    if not local:
        continue
    seg = {"name": name, "vni": vni, "encap": encap,
           "ports": [{"id": v["port"], "name": v["name"], "ifname": "v-" + v["name"],
                      "mac": v["mac"], "ips": v["ips"]} for v in local],
           "remote": [{"mac": v["mac"], "ips": v["ips"], "vtep": hosts[v["host"]],
                       "port_id": v["port"]}
                      for v in vms if v["seg"] == name and v["host"] != host]}
    seg["remote"] += [{"mac": r["mac"], "ips": r["ips"], "vtep": r["vtep"]}
                      for r in remotes if r["seg"] == name]
    cfg["segments"].append(seg)
tmp = path + ".tmp"
with open(tmp, "w") as fh:
    json.dump(cfg, fh, indent=2)
    fh.write("\n")
os.replace(tmp, path)
EOF
}

# lab_write_configs: rewrites <dir>/HOST.json for every host.
lab_write_configs() {
  local h
  for h in "${LAB_HOSTS[@]}"; do lab_write_config "$h" || return 1; done
}

lab_agent_log() { echo "$LAB_DIR/$1.log"; }
lab_agent_sock() { echo "$LAB_DIR/$1.sock"; }
lab_agent_config() { echo "$LAB_DIR/$1.json"; }

# lab_ctl HOST CMD...: weft-agent ctl against HOST's agent.
lab_ctl() {
  local host=$1
  shift
  "$LAB_AGENT" ctl --ctl "$LAB_DIR/$host.sock" "$@"
}

# lab_start_agent HOST [EXTRA ARGS...]: starts weft-agent in HOST's
# namespace (config <dir>/HOST.json, written if missing), logging to
# <dir>/HOST.log, and waits (LAB_AGENT_TIMEOUT s, default 20) until
# `ctl ports` answers.
lab_start_agent() {
  local host=$1
  shift
  [ -n "${LAB_HOST_IP[$host]+x}" ] || { _lab_err "lab_start_agent: unknown host '$host'"; return 1; }
  if [ ! -x "$LAB_AGENT" ]; then
    _lab_err "agent binary not found: $LAB_AGENT (build it: make VARIANT=asan build)"
    return 1
  fi
  local cfg=$LAB_DIR/$host.json log=$LAB_DIR/$host.log sock=$LAB_DIR/$host.sock
  [ -f "$cfg" ] || lab_write_config "$host" || return 1
  rm -f "$sock"
  local ns=${LAB_PREFIX}$host pid
  if [ -n "${LAB_PERSIST:-}" ]; then
    # Detached from our session: survives the script (lab.sh up).
    setsid ip netns exec "$ns" "$LAB_AGENT" --config "$cfg" --ctl "$sock" \
      --log-level "${LAB_LOG_LEVEL:-info}" --pidfile "$LAB_DIR/$host.pid" "$@" \
      </dev/null >>"$log" 2>&1 &
  else
    ip netns exec "$ns" "$LAB_AGENT" --config "$cfg" --ctl "$sock" \
      --log-level "${LAB_LOG_LEVEL:-info}" --pidfile "$LAB_DIR/$host.pid" "$@" \
      </dev/null >>"$log" 2>&1 &
  fi
  pid=$!
  LAB_AGENT_PID[$host]=$pid
  _lab_state "agent $host $pid"
  local deadline=$((SECONDS + ${LAB_AGENT_TIMEOUT:-20}))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      _lab_err "agent on $host exited during startup; log tail:"
      tail -n 30 "$log" >&2
      return 1
    fi
    lab_ctl "$host" ports >/dev/null 2>&1 && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      _lab_err "agent on $host: no answer on $sock within ${LAB_AGENT_TIMEOUT:-20} s; log tail:"
      tail -n 30 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  _lab_log "agent on $host running (pid $pid)"
}

lab_start_agents() {
  local h
  for h in "${LAB_HOSTS[@]}"; do lab_start_agent "$h" || return 1; done
}

lab_agent_pid() { echo "${LAB_AGENT_PID[$1]:-}"; }

# lab_agent_alive HOST: true while HOST's agent process runs.
lab_agent_alive() {
  local pid=${LAB_AGENT_PID[$1]:-}
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# lab_sighup HOST: sends SIGHUP (re-read the config) to HOST's agent.
lab_sighup() {
  local pid=${LAB_AGENT_PID[$1]:-}
  [ -n "$pid" ] || { _lab_err "no agent on $1"; return 1; }
  kill -HUP "$pid"
}

# lab_stop_agent HOST: SIGTERM, waits up to 10 s; returns the agent's exit
# status (1 if it had to be killed).
lab_stop_agent() {
  local host=$1 pid=${LAB_AGENT_PID[$1]:-} i rc
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    _lab_err "agent on $host did not exit within 10 s of SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null
    lab_wait_pid "$pid" 5
    unset "LAB_AGENT_PID[$host]"
    return 1
  fi
  lab_wait_pid "$pid" 5
  rc=$?
  unset "LAB_AGENT_PID[$host]"
  # A process that is not our child (lab.sh down) reports 127: not an error.
  [ "$rc" -eq 127 ] && rc=0
  return "$rc"
}

# lab_wait_pid PID [SECONDS]: waits (default 120 s) for a background
# process of this shell to end and returns its exit status (124 on timeout,
# the process is then left running).  Polls rather than blocking in `wait`:
# bash can hang when a trap handler (watchdog, Ctrl-C) that itself waits
# runs while the shell is blocked in `wait`.
lab_wait_pid() {
  local pid=$1 deadline=$((SECONDS + ${2:-120}))
  while kill -0 "$pid" 2>/dev/null; do
    [ "$SECONDS" -ge "$deadline" ] && return 124
    sleep 0.05
  done
  wait "$pid" 2>/dev/null
}

# lab_bg CMD...: runs CMD in the background, tracked for cleanup; the PID is
# left in LAB_LAST_PID.
lab_bg() {
  "$@" &
  LAB_LAST_PID=$!
  LAB_BG_PIDS+=("$LAB_LAST_PID")
}

# lab_capture_start NAME NSNAME IFACE [FILTER...]: tcpdump into
# <dir>/NAME.pcap (snap length LAB_SNAPLEN, default 256; bounded by
# LAB_CAPTURE_SECONDS, default 90); returns once tcpdump is listening.
lab_capture_start() {
  local name=$1 where=$2 ifc=$3
  shift 3
  local ns file=$LAB_DIR/$name.pcap err=$LAB_DIR/$name.tcpdump.err i
  ns=$(lab_ns "$where")
  rm -f "$file" "$err"
  ip netns exec "$ns" timeout "${LAB_CAPTURE_SECONDS:-90}" \
    tcpdump -i "$ifc" -n -U --immediate-mode -s "${LAB_SNAPLEN:-256}" -w "$file" "$@" 2>"$err" &
  LAB_CAP_PID[$name]=$!
  LAB_BG_PIDS+=("$!")
  for ((i = 0; i < 100; i++)); do
    grep -q "listening on" "$err" 2>/dev/null && return 0
    kill -0 "${LAB_CAP_PID[$name]}" 2>/dev/null || break
    sleep 0.05
  done
  _lab_err "tcpdump on $ns/$ifc did not start: $(cat "$err" 2>/dev/null)"
  return 1
}

# lab_capture_stop NAME: stops the capture; prints the pcap path.
lab_capture_stop() {
  local name=$1 pid=${LAB_CAP_PID[$1]:-}
  if [ -n "$pid" ]; then
    sleep 0.2   # let the last packets in flight be written
    kill -TERM "$pid" 2>/dev/null
    lab_wait_pid "$pid" 5 || true
    unset "LAB_CAP_PID[$name]"
  fi
  echo "$LAB_DIR/$name.pcap"
}

lab_capture_file() { echo "$LAB_DIR/$1.pcap"; }

# lab_ping VM DST [COUNT]: COUNT (default 3) echo replies within 10 s
# (the first request may wait for ARP/ND).  Use -6 as first arg for IPv6.
lab_ping() {
  local fam=()
  if [ "$1" = -6 ]; then fam=(-6); shift; fi
  lab_exec "$1" ping "${fam[@]}" -n -c "${3:-3}" -i 0.2 -W 2 -w 10 "$2"
}

# lab_no_ping [-6] VM DST: true when no reply at all comes within 3 s.
lab_no_ping() {
  local fam=()
  if [ "$1" = -6 ]; then fam=(-6); shift; fi
  ! lab_exec "$1" ping "${fam[@]}" -n -c 3 -i 0.3 -W 1 -w 3 "$2" >/dev/null 2>&1
}

# lab_wait_listen VM PORT [SECONDS]: waits until a TCP listener is up.
lab_wait_listen() {
  local vm=$1 port=$2 deadline=$((SECONDS + ${3:-10}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    lab_exec "$vm" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  _lab_err "no listener on $vm:$port"
  return 1
}

# lab_tcp_transfer SRC_VM DST_VM DST_IP MBYTES [PORT]: sends MBYTES of
# random data from SRC_VM to DST_VM over TCP (socat; each side bounded by
# LAB_TCP_TIMEOUT, default 30 s) and compares the SHA-256 of what was sent
# and what arrived.
lab_tcp_transfer() {
  local src=$1 dst=$2 ip=$3 mb=$4 port=${5:-5001} tmo=${LAB_TCP_TIMEOUT:-30}
  local tx=$LAB_DIR/tx-$src-$dst.bin rx=$LAB_DIR/rx-$src-$dst.bin lpid rc lrc
  local listen=TCP4-LISTEN connect="TCP4:$ip:$port"
  if [[ "$ip" == *:* ]]; then listen=TCP6-LISTEN; connect="TCP6:[$ip]:$port"; fi
  head -c "$((mb * 1048576))" /dev/urandom >"$tx" || return 1
  rm -f "$rx"
  lab_exec "$dst" timeout "$tmo" socat -u "$listen:$port,reuseaddr" "OPEN:$rx,creat,trunc" &
  lpid=$!
  LAB_BG_PIDS+=("$lpid")
  if ! lab_wait_listen "$dst" "$port" 10; then
    _lab_kill "$lpid"
    rm -f "$tx"
    return 1
  fi
  local t0=$SECONDS
  lab_exec "$src" timeout "$tmo" socat -u "OPEN:$tx" "$connect"
  rc=$?
  # A sender that failed leaves nothing to wait for: give the receiver 2 s.
  if [ "$rc" -eq 0 ]; then lab_wait_pid "$lpid" $((tmo + 5)); else lab_wait_pid "$lpid" 2; fi
  lrc=$?
  [ "$lrc" -eq 124 ] && _lab_kill "$lpid"
  local h1 h2
  h1=$(sha256sum <"$tx" | cut -d' ' -f1)
  h2=$( { sha256sum <"$rx" | cut -d' ' -f1; } 2>/dev/null)
  echo "sent $(stat -c %s "$tx") bytes, received $(stat -c %s "$rx" 2>/dev/null || echo 0)" \
    "in $((SECONDS - t0)) s (sender rc $rc, receiver rc $lrc)"
  echo "sha256 sent     $h1"
  echo "sha256 received ${h2:-(nothing)}"
  rm -f "$tx" "$rx"
  [ "$rc" -eq 0 ] && [ "$lrc" -eq 0 ] && [ "$h1" = "$h2" ]
}

# lab_print_agent_logs [LINES]: tail of each agent log, to stderr.
lab_print_agent_logs() {
  local n=${1:-40} f
  for f in "$LAB_DIR"/*.log; do
    [ -f "$f" ] || continue
    echo "----- tail -n $n $f" >&2
    tail -n "$n" "$f" >&2
  done
}

# lab_sanitizer_clean: true when no agent log holds an ASan/UBSan report.
lab_sanitizer_clean() {
  local f bad=0
  for f in "$LAB_DIR"/*.log; do
    [ -f "$f" ] || continue
    if grep -E -n "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: .*Sanitizer" "$f"; then
      bad=1
    fi
  done
  [ "$bad" -eq 0 ]
}

# Kills a PID we started: TERM, up to 2 s, then KILL.
_lab_kill() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }  # reaps
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  lab_wait_pid "$pid" 5
  return 0
}

# Deletes one of our namespaces; any process still inside it was started by
# this lab (the namespace is ours alone), so it is ended first, by PID.
_lab_del_ns() {
  local ns=$1 p
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns" || return 0
  for p in $(ip netns pids "$ns" 2>/dev/null); do
    kill -KILL "$p" 2>/dev/null
  done
  ip netns del "$ns" 2>/dev/null || _lab_err "could not delete namespace $ns"
}

# lab_cleanup: kills what the lab started, deletes its namespaces and its
# work directory.  On failure it first prints the tail of each agent log.
# Idempotent.
lab_cleanup() {
  [ -n "${LAB_CLEANED:-}" ] && return 0
  [ -n "${LAB_PREFIX:-}" ] || return 0
  LAB_CLEANED=1
  local h p i
  for h in "${LAB_CLEANUP_HOOKS[@]}"; do "$h"; done
  for p in "${LAB_BG_PIDS[@]}"; do _lab_kill "$p"; done
  for h in "${!LAB_AGENT_PID[@]}"; do lab_stop_agent "$h"; done
  if [ -n "${LAB_FAILED:-}" ]; then
    lab_print_agent_logs 40
  fi
  for ((i = ${#LAB_NS[@]} - 1; i >= 0; i--)); do
    _lab_del_ns "${LAB_NS[$i]}"
  done
  if [ -n "${LAB_KEEP:-}" ]; then
    _lab_log "work directory kept: $LAB_DIR"
  else
    rm -rf "$LAB_DIR"
  fi
}

# lab_cleanup_dir DIR: removes a lab that another process left running
# (lab.sh down), from DIR/state.  Only PIDs recorded there that still run
# weft-agent are signalled.
lab_cleanup_dir() {
  local dir=$1 kind a b pid i
  [ -f "$dir/state" ] || { _lab_err "no lab state in $dir"; return 1; }
  local nss=()
  while read -r kind a b _; do
    case $kind in
      agent)
        pid=$b
        if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q weft-agent; then
          kill -TERM "$pid" 2>/dev/null
          for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
          kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        fi
        ;;
      ns) nss+=("$a") ;;
    esac
  done <"$dir/state"
  for ((i = ${#nss[@]} - 1; i >= 0; i--)); do _lab_del_ns "${nss[$i]}"; done
  rm -rf "$dir"
}

# ---- Control plane (weftd + enrolled agents): issue 4. ----
#
#   lab_weftd_start                 weftd in namespace <p>mgmt, plugged into
#                                   the underlay as 198.18.0.250; API on its
#                                   loopback, controller on 198.18.0.250:6643
#   lab_weft ARGS...                the `weft` CLI against it
#   lab_cp_host NAME IP             lab_host + `weft host create NAME --tep IP`
#   lab_start_cp_agent HOST         enrolls (first time) and starts HOST's
#                                   agent in controller mode
#   lab_weft_wait [TIMEOUT]         `weft wait --realized` (default 30 s)
#   lab_weftd_kill [SIGNAL]         signals weftd (default TERM) and waits
#
# Environment: WEFT_WEFTD, WEFT_CLI (binaries, default $WEFT_BUILD/bin),
# LAB_KEEPALIVE_MS (channel keepalive, default 1000).
LAB_MGMT_IP=198.18.0.250
LAB_CP_PORT=6643

_lab_bin() { echo "${WEFT_BUILD:-$LAB_REPO/build/asan}/bin/$1"; }

# lab_weftd_start: starts (or restarts, same state) weftd; waits until its
# API answers.
lab_weftd_start() {
  local ns=${LAB_PREFIX}mgmt ul=${LAB_PREFIX}ul weftd=${WEFT_WEFTD:-$(_lab_bin weftd)}
  [ -x "$weftd" ] || { _lab_err "weftd not found: $weftd"; return 1; }
  if [ -z "${LAB_MGMT_UP:-}" ]; then
    lab_underlay || return 1
    _lab_add_ns "$ns" || return 1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv6.conf.default.disable_ipv6=1 >/dev/null
    ip -n "$ul" link add h-mgmt type veth peer name ul0 netns "$ns" || return 1
    ip -n "$ul" link set h-mgmt mtu "$LAB_UL_MTU" master br0 up || return 1
    ip -n "$ns" link set ul0 mtu "$LAB_UL_MTU" up || return 1
    ip -n "$ns" addr add "$LAB_MGMT_IP/24" dev ul0 || return 1
    LAB_MGMT_UP=1
    LAB_CLEANUP_HOOKS+=(lab_weftd_stop)
  fi
  LAB_WEFTD_DIR=$LAB_DIR/weftd
  rm -f "$LAB_WEFTD_DIR/weftd.port"
  ip netns exec "$ns" "$weftd" --state-dir "$LAB_WEFTD_DIR" --port 0 \
    --controller-listen "$LAB_MGMT_IP" --controller-port "$LAB_CP_PORT" \
    --keepalive-ms "${LAB_KEEPALIVE_MS:-1000}" --log-level "${LAB_LOG_LEVEL:-info}" \
    </dev/null >>"$LAB_DIR/weftd.log" 2>&1 &
  LAB_WEFTD_PID=$!
  _lab_state "weftd $LAB_WEFTD_PID"
  local i
  for ((i = 0; i < 200; i++)); do
    [ -s "$LAB_WEFTD_DIR/weftd.port" ] && lab_weft status >/dev/null 2>&1 && break
    kill -0 "$LAB_WEFTD_PID" 2>/dev/null || { _lab_err "weftd exited:"; tail -n 20 "$LAB_DIR/weftd.log" >&2; return 1; }
    sleep 0.1
  done
  [ -s "$LAB_WEFTD_DIR/weftd.port" ] || { _lab_err "weftd did not start"; return 1; }
  _lab_log "weftd running (pid $LAB_WEFTD_PID), API port $(cat "$LAB_WEFTD_DIR/weftd.port")"
}

# lab_weftd_kill [SIGNAL]: signals weftd and waits (10 s) for it to end.
lab_weftd_kill() {
  local sig=${1:-TERM} pid=${LAB_WEFTD_PID:-}
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null
  lab_wait_pid "$pid" 10 >/dev/null
  LAB_WEFTD_PID=
}

lab_weftd_stop() { lab_weftd_kill TERM; }
lab_weftd_alive() { [ -n "${LAB_WEFTD_PID:-}" ] && kill -0 "$LAB_WEFTD_PID" 2>/dev/null; }
lab_weftd_log() { echo "$LAB_DIR/weftd.log"; }

# lab_weft ARGS...: the CLI, in the management namespace, against weftd.
lab_weft() {
  local port
  port=$(cat "$LAB_WEFTD_DIR/weftd.port" 2>/dev/null) || { _lab_err "weftd not started"; return 2; }
  ip netns exec "${LAB_PREFIX}mgmt" env WEFT_ENDPOINT="https://127.0.0.1:$port" \
    WEFT_CACERT="$LAB_WEFTD_DIR/cert.pem" WEFT_TOKEN="$(cat "$LAB_WEFTD_DIR/admin.token")" \
    HOME="$LAB_DIR" "${WEFT_CLI:-$(_lab_bin weft)}" "$@"
}

# lab_weft_wait [TIMEOUT]: waits until everything committed so far is
# realized on every host it applies to.
lab_weft_wait() { lab_weft wait --realized --timeout "${1:-30}"; }

# lab_cp_host NAME IP: a lab host registered in weftd.
lab_cp_host() {
  lab_host "$1" "$2" || return 1
  lab_weft host create "$1" --tep "$2" >/dev/null
}

lab_agent_state_dir() { echo "$LAB_DIR/$1.state"; }

# lab_start_cp_agent HOST [EXTRA ARGS...]: starts HOST's agent in controller
# mode; the first time it enrolls with a fresh join token.  Waits until the
# control socket answers (like lab_start_agent).
lab_start_cp_agent() {
  local host=$1
  shift
  local st=$LAB_DIR/$host.state log=$LAB_DIR/$host.log sock=$LAB_DIR/$host.sock
  local ns=${LAB_PREFIX}$host args=() pid tok
  if [ ! -f "$st/cert.pem" ]; then
    tok=$(lab_weft host join-token "$host") || { _lab_err "no join token for $host"; return 1; }
    args=(--join "$LAB_MGMT_IP:$LAB_CP_PORT" --token "$tok")
  fi
  case ${LAB_KFP:-} in
    true) args+=(--kernel-fastpath on) ;;
    false) args+=(--kernel-fastpath off) ;;
  esac
  rm -f "$sock"
  ip netns exec "$ns" "$LAB_AGENT" --state-dir "$st" "${args[@]}" --ctl "$sock" \
    --underlay-mtu "$LAB_UL_MTU" --keepalive-ms "${LAB_KEEPALIVE_MS:-1000}" \
    --log-level "${LAB_LOG_LEVEL:-info}" --pidfile "$LAB_DIR/$host.pid" "$@" \
    </dev/null >>"$log" 2>&1 &
  pid=$!
  LAB_AGENT_PID[$host]=$pid
  _lab_state "agent $host $pid"
  local deadline=$((SECONDS + ${LAB_AGENT_TIMEOUT:-20}))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      _lab_err "agent on $host exited during startup; log tail:"
      tail -n 30 "$log" >&2
      unset "LAB_AGENT_PID[$host]"
      return 1
    fi
    lab_ctl "$host" ports >/dev/null 2>&1 && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      _lab_err "agent on $host: no control socket within ${LAB_AGENT_TIMEOUT:-20} s"
      return 1
    fi
    sleep 0.1
  done
  _lab_log "agent on $host running in controller mode (pid $pid)"
}

# lab_kill_agent HOST [SIGNAL]: signals HOST's agent (default KILL), waits.
lab_kill_agent() {
  local host=$1 sig=${2:-KILL} pid=${LAB_AGENT_PID[$1]:-}
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null
  lab_wait_pid "$pid" 10 >/dev/null
  unset "LAB_AGENT_PID[$host]"
  return 0
}
