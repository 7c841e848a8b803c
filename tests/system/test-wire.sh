#!/usr/bin/env bash
# System test: what the agents put on the wire decodes, with tshark, as valid
# GENEVE (UDP 6081) and VXLAN (UDP 4789).
#
#   h1 (198.18.0.1): b11 198.19.1.11, b12 198.19.1.12   blue  GENEVE VNI 5001
#                    g11 198.19.3.11, g12 198.19.3.12   green VXLAN  VNI 5003
#   h2 (198.18.0.2): b21 198.19.1.21, b22 198.19.1.22   blue
#                    g21 198.19.3.21, g22 198.19.3.22   green
#
# Everything on the underlay bridge is captured while VMs ping across hosts
# over four flows per segment, then tshark decodes the capture:
#   GENEVE: version 0, VNI 5001, protocol type 0x6558 (Transparent Ethernet
#     Bridging), at least one option, inner Ethernet between the VMs' MACs,
#     inner ICMP echo request and reply for every flow, outer addresses are
#     the hosts of the inner endpoints;
#   VXLAN: I flag, VNI 5003, the same inner checks;
#   both: outer UDP source ports differ between flows (entropy for ECMP) and
#     stay constant within a flow; no malformed packet and no checksum error
#     (IPv4 and UDP checksums verified); nothing but tunnel packets and
#     underlay ARP crosses the underlay.
# Env: WEFT_BUILD (default build/asan), VERBOSE=1.
set -u
source "$(dirname "$0")/lib.sh" || { echo "cannot load tests/system/lib.sh"; exit 1; }

require_root
require_tools ip ping tcpdump tshark ethtool socat ss timeout sha256sum /usr/bin/python3
require_agent
test_deadline 170

setup_lab() {
  lab_init ww || return 1
  lab_host h1 198.18.0.1 || return 1
  lab_host h2 198.18.0.2 || return 1
  lab_segment blue 5001 geneve || return 1
  lab_vm h1 b11 02:00:01:01:00:11 198.19.1.11/24 fd00:19:1::11/64 || return 1
  lab_vm h1 b12 02:00:01:01:00:12 198.19.1.12/24 fd00:19:1::12/64 || return 1
  lab_vm h2 b21 02:00:01:02:00:21 198.19.1.21/24 fd00:19:1::21/64 || return 1
  lab_vm h2 b22 02:00:01:02:00:22 198.19.1.22/24 fd00:19:1::22/64 || return 1
  lab_segment green 5003 vxlan || return 1
  lab_vm h1 g11 02:00:03:01:00:11 198.19.3.11/24 fd00:19:3::11/64 || return 1
  lab_vm h1 g12 02:00:03:01:00:12 198.19.3.12/24 fd00:19:3::12/64 || return 1
  lab_vm h2 g21 02:00:03:02:00:21 198.19.3.21/24 fd00:19:3::21/64 || return 1
  lab_vm h2 g22 02:00:03:02:00:22 198.19.3.22/24 fd00:19:3::22/64 || return 1
  lab_start_agent h1 && lab_start_agent h2
}
require "lab with a GENEVE and a VXLAN segment, agents running" setup_lab

# Warm up (ARP/ND, MAC learning) before capturing so that every captured
# echo has its reply; then capture everything on the underlay bridge.
warm_up() {
  local s d
  for s in b11 b12; do for d in 21 22; do lab_ping "$s" "198.19.1.$d" 1 >/dev/null || return 1; done; done
  for s in g11 g12; do for d in 21 22; do lab_ping "$s" "198.19.3.$d" 1 >/dev/null || return 1; done; done
}
check "warm-up pings across hosts on both segments" warm_up

# Outer checksums are the kernel's (the agent sends through UDP sockets); with
# TX checksum offload on the veth they would be left partial in the capture,
# so it is turned off on the hosts' underlay interfaces to have them filled.
no_tx_csum() { lab_exec h1 ethtool -K ul0 tx off && lab_exec h2 ethtool -K ul0 tx off; }
check "TX checksum offload off on the underlay interfaces" no_tx_csum
LAB_SNAPLEN=2000 require "capture starts on the underlay bridge" lab_capture_start wire ul br0
traffic() {
  local s d
  for s in b11 b12; do
    for d in 21 22; do lab_ping "$s" "198.19.1.$d" 3 || return 1; done
  done
  for s in g11 g12; do
    for d in 21 22; do lab_ping "$s" "198.19.3.$d" 3 || return 1; done
  done
  lab_ping -6 b11 fd00:19:1::21 3 && lab_ping -6 g12 fd00:19:3::22 3
}
check "pings: 4 flows per segment, IPv4, plus IPv6 on each segment" traffic
check "TCP 2 MB b12 -> b21 (GENEVE) during the capture" lab_tcp_transfer b12 b21 198.19.1.21 2 5001
check "TCP 2 MB g21 -> g11 (VXLAN) during the capture" lab_tcp_transfer g21 g11 198.19.3.11 2 5002
PCAP=$(lab_capture_stop wire)
check "capture holds packets" test -s "$PCAP"

# ---- decoding ----------------------------------------------------------
# wire.py MODE PCAP ARGS: every assertion is a small Python function over
# the tshark field dump of the capture.
WIRE_PY=$(cat <<'EOF'
import subprocess, sys

FIELDS = ["frame.number", "eth.src", "eth.dst", "ip.src", "ip.dst", "ipv6.src",
          "ipv6.dst", "udp.srcport", "udp.dstport", "geneve.version", "geneve.vni",
          "geneve.proto_type", "geneve.option.class", "vxlan.flag_i", "vxlan.vni",
          "icmp.type", "icmpv6.type", "arp.opcode", "frame.protocols"]

def dump(pcap, dfilter=None):
    cmd = ["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    if dfilter:
        cmd += ["-Y", dfilter]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit("tshark failed: " + out.stderr)
    rows = []
    for line in out.stdout.splitlines():
        v = line.split("\t")
        rows.append({f: (v[i].split(",") if i < len(v) and v[i] else [])
                     for i, f in enumerate(FIELDS)})
    return rows

def num(s):
    return int(s, 0)

def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)

mode, pcap, args = sys.argv[1], sys.argv[2], sys.argv[3:]

if mode == "geneve-header":           # VNI MIN
    vni, mn = int(args[0]), int(args[1])
    rows = dump(pcap, "geneve")
    print(f"{len(rows)} GENEVE packets")
    if len(rows) < mn: fail(f"expected at least {mn}")
    bad = [r["frame.number"] for r in rows if
           r["udp.dstport"] != ["6081"] or r["geneve.version"] != ["0"]
           or [num(x) for x in r["geneve.vni"]] != [vni]
           or [num(x) for x in r["geneve.proto_type"]] != [0x6558]]
    if bad: fail(f"frames with wrong dst port/version/VNI/protocol: {bad[:10]}")
    noopt = [r["frame.number"] for r in rows if not r["geneve.option.class"]]
    if noopt: fail(f"frames without a GENEVE option: {noopt[:10]}")
    print(f"all: udp dst 6081, version 0, VNI {vni}, protocol 0x6558, option classes "
          + str(sorted({c for r in rows for c in r['geneve.option.class']})))

elif mode == "vxlan-header":          # VNI MIN
    vni, mn = int(args[0]), int(args[1])
    rows = dump(pcap, "vxlan")
    print(f"{len(rows)} VXLAN packets")
    if len(rows) < mn: fail(f"expected at least {mn}")
    bad = [r["frame.number"] for r in rows if
           r["udp.dstport"] != ["4789"] or r["vxlan.flag_i"] not in (["1"], ["True"])
           or [num(x) for x in r["vxlan.vni"]] != [vni]]
    if bad: fail(f"frames with wrong dst port/I flag/VNI: {bad[:10]}")
    print(f"all: udp dst 4789, I flag set, VNI {vni}")

elif mode == "flows":                 # PROTO v4|v6 OUTER_OF=ip=vtep,... MACS=ip=mac,... PAIRS...
    proto, fam = args[0], args[1]
    vtep = dict(x.split("=") for x in args[2].split(","))
    mac = dict(x.split("=") for x in args[3].split(","))
    pairs = [tuple(p.split(">")) for p in args[4:]]
    if fam == "v4":
        rows = dump(pcap, f"{proto} && icmp")
        src, dst, typ, req, rep = "ip.src", "ip.dst", "icmp.type", 8, 0
    else:
        rows = dump(pcap, f"{proto} && (icmpv6.type == 128 || icmpv6.type == 129)")
        src, dst, typ, req, rep = "ipv6.src", "ipv6.dst", "icmpv6.type", 128, 129
    seen, ports = {}, {}
    for r in rows:
        if fam == "v4":
            if len(r["ip.src"]) != 2: fail(f"frame {r['frame.number']}: expected outer+inner IPv4")
            osrc, isrc = r["ip.src"]; odst, idst = r["ip.dst"]
        else:
            osrc, odst = r["ip.src"][0], r["ip.dst"][0]
            isrc, idst = r["ipv6.src"][0], r["ipv6.dst"][0]
        if len(r["eth.src"]) != 2: fail(f"frame {r['frame.number']}: no inner Ethernet")
        iesrc, iedst = r["eth.src"][1], r["eth.dst"][1]
        t = int(r[typ][0])
        if isrc not in vtep or idst not in vtep:
            fail(f"frame {r['frame.number']}: unexpected inner {isrc} > {idst}")
        if (osrc, odst) != (vtep[isrc], vtep[idst]):
            fail(f"frame {r['frame.number']}: inner {isrc} > {idst} carried {osrc} > {odst}")
        if (iesrc, iedst) != (mac[isrc], mac[idst]):
            fail(f"frame {r['frame.number']}: inner MACs {iesrc} > {iedst}, expected "
                 f"{mac[isrc]} > {mac[idst]}")
        seen.setdefault((isrc, idst), set()).add(t)
        ports.setdefault((isrc, idst), set()).add(r["udp.srcport"][0])
    for a, b in pairs:
        if req not in seen.get((a, b), set()): fail(f"no echo request {a} > {b}")
        if rep not in seen.get((b, a), set()): fail(f"no echo reply {b} > {a}")
    for k, v in sorted(ports.items()):
        print(f"flow {k[0]} > {k[1]}: outer udp source port(s) {sorted(v)}")
    print(f"{len(rows)} inner ICMP packets, every flow seen in both directions, "
          "outer IPs and inner MACs as expected")

elif mode == "sport-entropy":         # PROTO
    rows = dump(pcap, f"{args[0]} && (icmp || (icmpv6.type == 128 || icmpv6.type == 129))")
    ports = {}
    for r in rows:
        ips = r["ip.src"][1:] + r["ipv6.src"], r["ip.dst"][1:] + r["ipv6.dst"]
        ports.setdefault((ips[0][0], ips[1][0]), set()).add(r["udp.srcport"][0])
    allp = {p for v in ports.values() for p in v}
    print(f"{len(ports)} flow directions, distinct outer source ports: {sorted(allp)}")
    if len(ports) < 2: fail("need at least two flows")
    if len(allp) < 2: fail("all flows use the same outer UDP source port")

elif mode == "sport-stable":          # PROTO
    rows = dump(pcap, f"{args[0]} && (icmp || (icmpv6.type == 128 || icmpv6.type == 129))")
    ports = {}
    for r in rows:
        ips = r["ip.src"][1:] + r["ipv6.src"], r["ip.dst"][1:] + r["ipv6.dst"]
        ports.setdefault((ips[0][0], ips[1][0]), set()).add(r["udp.srcport"][0])
    bad = {k: v for k, v in ports.items() if len(v) != 1}
    if bad: fail(f"flows whose outer source port changes: {bad}")
    print(f"{len(ports)} flow directions, each on one outer source port")

elif mode == "underlay-only-tunnels": # VTEPS(comma)
    vteps = set(args[0].split(","))
    rows = dump(pcap)
    other = []
    for r in rows:
        protos = r["frame.protocols"][0] if r["frame.protocols"] else ""
        if protos.startswith("eth:ethertype:arp"):
            continue   # underlay ARP between the hosts
        ok = (protos.startswith("eth:ethertype:ip:udp:geneve") or
              protos.startswith("eth:ethertype:ip:udp:vxlan"))
        if not ok or r["ip.src"][0] not in vteps or r["ip.dst"][0] not in vteps:
            other.append((r["frame.number"], protos))
    print(f"{len(rows)} frames on the underlay")
    if other: fail(f"non-tunnel frames on the underlay: {other[:10]}")
else:
    sys.exit("unknown mode " + mode)
EOF
)
wire() { /usr/bin/python3 -c "$WIRE_PY" "$@"; }

# tshark options that turn off every heuristic dissector of TCP payload:
# the inner payload is random bytes, which one of them (thrift, ...) now
# and then takes for its protocol and reports malformed.
no_tcp_heuristics() {
  tshark -G heuristic-decodes 2>/dev/null |
    awk -F'\t' '$1 == "tcp" { printf " --disable-heuristic %s", $2 }'
}
# No malformed packet and no expert error, with the IPv4, UDP, TCP and ICMP
# checksums of outer and inner headers verified.
no_decode_errors() {
  local out n
  # shellcheck disable=SC2046 # one word per option, by design
  out=$(tshark -n -r "$PCAP" $(no_tcp_heuristics) \
          -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE \
          -Y '_ws.malformed || _ws.expert.severity == error' \
          -T fields -e frame.number -e frame.protocols -e _ws.expert.message 2>/dev/null)
  n=$(grep -c . <<<"$out")
  echo "$n frame(s) malformed or with an expert error"
  head -n 20 <<<"$out"
  [ "$n" -eq 0 ]
}
# inner TCP segments seen: the checksum check above covered real data.
inner_tcp_seen() {
  local n
  n=$(tshark -n -r "$PCAP" -Y "$1 && tcp.len > 1000" 2>/dev/null | wc -l)
  echo "$n inner TCP segments with > 1000 bytes of payload inside $1"
  [ "$n" -gt 100 ]
}
# No frame on the underlay exceeds its MTU (1600 + 14 bytes of Ethernet).
fits_mtu() {
  local n
  n=$(tshark -n -r "$PCAP" -Y 'frame.len > 1614' 2>/dev/null | wc -l)
  echo "$n frame(s) longer than 1614 bytes"
  [ "$n" -eq 0 ]
}

BLUE_VTEPS=198.19.1.11=198.18.0.1,198.19.1.12=198.18.0.1,198.19.1.21=198.18.0.2,198.19.1.22=198.18.0.2
BLUE_VTEPS6=fd00:19:1::11=198.18.0.1,fd00:19:1::21=198.18.0.2
BLUE_MACS=198.19.1.11=$(lab_vm_mac b11),198.19.1.12=$(lab_vm_mac b12),198.19.1.21=$(lab_vm_mac b21),198.19.1.22=$(lab_vm_mac b22)
BLUE_MACS6=fd00:19:1::11=$(lab_vm_mac b11),fd00:19:1::21=$(lab_vm_mac b21)
GREEN_VTEPS=198.19.3.11=198.18.0.1,198.19.3.12=198.18.0.1,198.19.3.21=198.18.0.2,198.19.3.22=198.18.0.2
GREEN_VTEPS6=fd00:19:3::12=198.18.0.1,fd00:19:3::22=198.18.0.2
GREEN_MACS=198.19.3.11=$(lab_vm_mac g11),198.19.3.12=$(lab_vm_mac g12),198.19.3.21=$(lab_vm_mac g21),198.19.3.22=$(lab_vm_mac g22)
GREEN_MACS6=fd00:19:3::12=$(lab_vm_mac g12),fd00:19:3::22=$(lab_vm_mac g22)

# 4 flows x 3 echoes x 2 directions + 3 IPv6 echoes x 2 = 30 per segment.
check "GENEVE: udp/6081, version 0, VNI 5001, protocol 0x6558, option present" \
  wire geneve-header "$PCAP" 5001 30
check "GENEVE: inner ICMP echo both ways for 4 flows; outer IPs and inner MACs right" \
  wire flows "$PCAP" geneve v4 "$BLUE_VTEPS" "$BLUE_MACS" \
  198.19.1.11\>198.19.1.21 198.19.1.11\>198.19.1.22 198.19.1.12\>198.19.1.21 198.19.1.12\>198.19.1.22
check "GENEVE: inner ICMPv6 echo both ways" \
  wire flows "$PCAP" geneve v6 "$BLUE_VTEPS6" "$BLUE_MACS6" fd00:19:1::11\>fd00:19:1::21
check "GENEVE: outer UDP source ports differ between flows" wire sport-entropy "$PCAP" geneve
check "GENEVE: outer UDP source port constant within a flow" wire sport-stable "$PCAP" geneve
check "VXLAN: udp/4789, I flag, VNI 5003" wire vxlan-header "$PCAP" 5003 30
check "VXLAN: inner ICMP echo both ways for 4 flows; outer IPs and inner MACs right" \
  wire flows "$PCAP" vxlan v4 "$GREEN_VTEPS" "$GREEN_MACS" \
  198.19.3.11\>198.19.3.21 198.19.3.11\>198.19.3.22 198.19.3.12\>198.19.3.21 198.19.3.12\>198.19.3.22
check "VXLAN: inner ICMPv6 echo both ways" \
  wire flows "$PCAP" vxlan v6 "$GREEN_VTEPS6" "$GREEN_MACS6" fd00:19:3::12\>fd00:19:3::22
check "VXLAN: outer UDP source ports differ between flows" wire sport-entropy "$PCAP" vxlan
check "VXLAN: outer UDP source port constant within a flow" wire sport-stable "$PCAP" vxlan
check "GENEVE: full-size inner TCP segments captured" inner_tcp_seen geneve
check "VXLAN: full-size inner TCP segments captured" inner_tcp_seen vxlan
check "no malformed packet, no bad checksum (outer and inner IPv4/UDP/TCP/ICMP)" no_decode_errors
check "every underlay frame fits the underlay MTU of 1600" fits_mtu
check "underlay carries only tunnel packets between the hosts (and underlay ARP)" \
  wire underlay-only-tunnels "$PCAP" 198.18.0.1,198.18.0.2

check_agents_stop_cleanly
finish
