#!/usr/bin/env bash
# weftd and weft-agent reject bad numbers in their options: a message and
# exit status 2, before anything starts (each run is bounded by timeout, so
# an accepted value that starts a daemon fails the check instead of
# hanging).  Numbers are digits only (lib/util.h str_to_u64()): no sign,
# blank or base prefix, within the option's range.  No root needed.
source "$(dirname "$0")/lib.sh"
test_deadline 120

BIN=${WEFT_BUILD:-$SYSTEST_DIR/../../build/asan}/bin
D=$(mktemp -d) # removed before finish

# usage_error CMD...: CMD exits with status 2 within 5 s.
usage_error() {
  local rc=0
  timeout 5 "$@" >"$D/out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { echo "exit status $rc, want 2"; cat "$D/out"; return 1; }
}

# bad_value CMD...: usage_error, and the message is about a bad value.
bad_value() {
  usage_error "$@" || return 1
  grep -q 'bad value' "$D/out" || { echo "no 'bad value' in:"; cat "$D/out"; return 1; }
}

for opt in "--port=-1" "--port= 80" "--port=+80" "--port=65536" \
  "--port=0x50" "--port=" "--threads=0" "--threads=257" "--threads=1x" \
  "--retention=-5" "--audit-days=36501"; do
  check "weftd rejects $opt" usage_error "$BIN/weftd" --state-dir "$D/s" \
    --insecure-http "$opt"
done
check "weftd says which value is bad" \
  bash -c "timeout 5 '$BIN/weftd' --state-dir '$D/s' --port=-1 2>&1 | grep -q -- '-1'"
check "weftd created no state for a bad option" test ! -e "$D/s"

for opt in "--underlay-mtu=575" "--underlay-mtu=9217" "--underlay-mtu= 1500" \
  "--underlay-mtu=-1500" "--keepalive-ms=99" "--keepalive-ms=600001" \
  "--keepalive-ms=1e3"; do
  # Without --config the agent exits 2 anyway: the message tells.
  check "weft-agent rejects $opt" bad_value "$BIN/weft-agent" "$opt"
done
check "weft-agent names the bad value" \
  bash -c "'$BIN/weft-agent' --keepalive-ms=99 2>&1 | grep -q 'bad value \"99\"'"
check "weft-agent takes the bounds (then wants its config)" \
  bash -c "'$BIN/weft-agent' --underlay-mtu=576 --keepalive-ms=600000 2>&1 |
    grep -q -- '--config and --ctl are required'"

rm -rf "$D"
finish
