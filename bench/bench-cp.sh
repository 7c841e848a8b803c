#!/usr/bin/env bash
# Control-plane scale benchmark (`make bench-cp`): a real weftd and many
# simulated hosts speaking the real protocol over TLS on loopback (no
# namespaces, no packet I/O).  See bench/bench-cp.c for what each figure
# measures.  Then the agent side of one delta (bench/bench-cp-agent.c): one
# weft-agent datapath with a span of CP_AGENT_SPAN (segments, remote
# bindings per segment, endpoints), in a private network namespace whose
# VIFs are veth pairs (remote-binding, flood-list and local-port deltas).
# Prints `name: value unit` lines.
#   CP_SIZES="1000:100000:1000:10: 5000:500000:5000:10:_5k"  (default)
#   each entry HOSTS:PORTS:SEGMENTS:SPAN:SUFFIX
#   CP_AGENT_SPAN="100:1000:1000"  (default; "" skips)
set -eu
cd "$(dirname "$0")/.."
B=${WEFT_BUILD:-build/release}
ulimit -n 65536 2>/dev/null || ulimit -n 16384 2>/dev/null || true
for size in ${CP_SIZES-1000:100000:1000:10: 5000:500000:5000:10:_5k}; do
  IFS=: read -r h p s span suffix <<<"$size"
  "$B/bench/bench-cp" "$h" "$p" "$s" "$span" "$suffix" "$B/bin/weftd"
done

agent_span=${CP_AGENT_SPAN-100:1000:1000}
if [ -n "$agent_span" ]; then
  IFS=: read -r segs per vteps <<<"$agent_span"
  if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
    echo "bench-cp: agent delta benchmark skipped (needs root and unshare)" >&2
  else
    # The namespace (and its veths) disappears with the process.
    unshare -n bash -c '
      set -e
      ip link set lo up
      ip addr add 172.31.0.1/32 dev lo
      for ((i = 0; i < $1; i++)); do
        ip link add "bcpa$i" type veth peer name "bcpp$i"
        ip link set "bcpa$i" up
        ip link set "bcpp$i" up
      done
      # The VIF of the local-port deltas.
      ip link add bcpx0 type veth peer name bcpy0
      ip link set bcpx0 up
      ip link set bcpy0 up
      exec "$4" "$1" "$2" "$3"' _ "$segs" "$per" "$vteps" "$B/bench/bench-cp-agent"
  fi
fi
