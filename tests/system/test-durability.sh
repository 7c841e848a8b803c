#!/usr/bin/env bash
# Durability under SIGKILL: weftd (loopback, ephemeral port, temp state
# dir) is killed with SIGKILL repeatedly while concurrent clients write
# single objects (PUT) and 5-object subtree PATCH transactions.  After each
# restart every acknowledged write must be there, and no transaction may
# be half applied (all 5 objects or none, acknowledged or not).
# Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/../.."
B=${WEFT_BUILD:-build/asan}
WEFTD=$B/bin/weftd
ROUNDS=${ROUNDS:-4}
WRITERS=4
PASS=0
FAIL=0
D=$(mktemp -d /tmp/weft-durability.XXXXXX)
WPID=
WRITER_PIDS=()

cleanup() {
  for p in "${WRITER_PIDS[@]}" $WPID; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT
ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }

start() {
  rm -f "$D/state/weftd.port"
  "$WEFTD" --state-dir "$D/state" --port 0 --insecure-http 2>>"$D/weftd.log" &
  WPID=$!
  for _ in $(seq 1 200); do
    [ -s "$D/state/weftd.port" ] && break
    sleep 0.05
  done
  PORT=$(cat "$D/state/weftd.port" 2>/dev/null)
  [ -n "$PORT" ] && BASE=http://127.0.0.1:$PORT/api/v1 && TOKEN=$(cat "$D/state/admin.token")
}

# writer ID ROUND: writes until the stop file appears or 400 writes.
writer() {
  local id=$1 round=$2 i code
  for i in $(seq 1 400); do
    [ -e "$D/stop" ] && break
    if [ $((i % 3)) = 0 ]; then
      local t="t$id-$round-$i"
      code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PATCH \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data "{\"segments\":{\"$t-0\":{},\"$t-1\":{},\"$t-2\":{},\"$t-3\":{},\"$t-4\":{}}}" \
        "$BASE/projects/default")
      echo "$t" >> "$D/txn-tried"
      [ "$code" = 200 ] && echo "$t" >> "$D/txn-acked.$id"
    else
      code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data '{"description":"durable"}' "$BASE/projects/default/segments/w$id-$round-$i")
      [ "$code" = 201 ] && echo "w$id-$round-$i" >> "$D/acked.$id"
    fi
    [ "$code" = 000 ] && break   # server gone
  done
}

# list_ids: every segment id in the default project, one per line.
list_ids() {
  local cursor="" n=0
  : > "$D/ids"
  while [ $n -lt 100 ]; do
    curl -s -m 10 -H "Authorization: Bearer $TOKEN" \
      "$BASE/projects/default/segments?page_size=1000${cursor:+&cursor=$cursor}" > "$D/page" || return 1
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
open(sys.argv[2],"a").write("".join(x["id"]+"\n" for x in d["results"]))
print(d.get("cursor",""))' "$D/page" "$D/ids" > "$D/cursor" || return 1
    cursor=$(cat "$D/cursor")
    [ -z "$cursor" ] && return 0
    n=$((n + 1))
  done
}

mkdir -p "$D/state"
start || { bad "weftd starts"; echo "$PASS passed, $FAIL failed"; exit 1; }
ok "weftd starts"
for round in $(seq 1 "$ROUNDS"); do
  rm -f "$D/stop"
  WRITER_PIDS=()
  for w in $(seq 1 $WRITERS); do
    writer "$w" "$round" &
    WRITER_PIDS+=("$!")
  done
  sleep "1.$((RANDOM % 9))"
  kill -9 "$WPID"
  wait "$WPID" 2>/dev/null
  touch "$D/stop"
  for p in "${WRITER_PIDS[@]}"; do wait "$p"; done
  WRITER_PIDS=()
  if ! start; then
    bad "round $round: weftd restarts after SIGKILL"
    break
  fi
  if ! list_ids; then
    bad "round $round: list after restart"
    continue
  fi
  sort -u "$D/ids" > "$D/ids.sorted"
  cat "$D"/acked.* 2>/dev/null | sort -u > "$D/acked.sorted"
  missing=$(comm -23 "$D/acked.sorted" "$D/ids.sorted" | wc -l)
  acked=$(wc -l < "$D/acked.sorted")
  [ "$missing" = 0 ] && ok "round $round: all $acked acknowledged PUTs survived SIGKILL" \
    || bad "round $round: $missing of $acked acknowledged PUTs lost"
  cat "$D"/txn-acked.* 2>/dev/null | sort -u > "$D/txn-acked.sorted"
  lost_txn=0
  for t in $(cat "$D/txn-acked.sorted"); do
    [ "$(grep -c "^$t-[0-4]\$" "$D/ids.sorted")" = 5 ] || lost_txn=$((lost_txn + 1))
  done
  [ "$lost_txn" = 0 ] && ok "round $round: all $(wc -l < "$D/txn-acked.sorted") acknowledged transactions complete" \
    || bad "round $round: $lost_txn acknowledged transactions incomplete"
  half=$(grep -E '^t' "$D/ids.sorted" | sed -E 's/-[0-4]$//' | sort | uniq -c | awk '$1 != 5' | wc -l)
  [ "$half" = 0 ] && ok "round $round: no half-applied transaction ($(sort -u "$D/txn-tried" | wc -l) tried)" \
    || bad "round $round: $half half-applied transactions visible"
done
kill "$WPID"; wait "$WPID"
[ $? = 0 ] && ok "weftd stops cleanly after the last restart" || bad "weftd exit status"
WPID=
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
