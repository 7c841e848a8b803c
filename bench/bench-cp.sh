#!/usr/bin/env bash
# Control-plane scale benchmark (`make bench-cp`): a real weftd and many
# simulated hosts speaking the real protocol over TLS on loopback (no
# namespaces, no packet I/O).  See bench/bench-cp.c for what each figure
# measures.  Prints `name: value unit` lines.
#   CP_SIZES="1000:100000:1000:10: 5000:500000:5000:10:_5k"  (default)
#   each entry HOSTS:PORTS:SEGMENTS:SPAN:SUFFIX
set -eu
cd "$(dirname "$0")/.."
B=${WEFT_BUILD:-build/release}
ulimit -n 65536 2>/dev/null || ulimit -n 16384 2>/dev/null || true
for size in ${CP_SIZES:-1000:100000:1000:10: 5000:500000:5000:10:_5k}; do
  IFS=: read -r h p s span suffix <<<"$size"
  "$B/bench/bench-cp" "$h" "$p" "$s" "$span" "$suffix" "$B/bin/weftd"
done
