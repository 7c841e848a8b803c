# Shared helpers of the API system tests (test-api.sh, test-api-firewall.sh):
# a temporary directory, cleanup of started processes, a watchdog, tallies,
# curl requests and JSON checks.  Source it from the repository root after
# setting API_TEST (the suite's name, for the temp dir and the watchdog).
#   API_DEADLINE  seconds before the watchdog ends the suite (default 170)
B=${WEFT_BUILD:-build/asan}
WEFTD=$B/bin/weftd
PASS=0
FAIL=0
PIDS=()
D=$(mktemp -d "/tmp/weft-$API_TEST.XXXXXX")

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$D"
}
trap cleanup EXIT
# The whole suite must finish well inside the runner's limit.
( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep "${API_DEADLINE:-170}" & s=$!; wait $s
  echo "$API_TEST: deadline passed" >&2; kill -TERM $$ ) >/dev/null 2>&1 &
WATCHDOG=$!
PIDS+=("$WATCHDOG")

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; [ -f "$D/out" ] && sed 's/^/    | /' "$D/out" | head -c 600; echo; }

# start_weftd DIR ARGS...: starts weftd, waits for its port file; sets PORT
# and LAST_PID.
start_weftd() {
  local dir=$1; shift
  rm -f "$dir/weftd.port"
  "$WEFTD" --state-dir "$dir" --port 0 "$@" 2>>"$dir.log" &
  PIDS+=("$!")
  LAST_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$dir/weftd.port" ] && break
    kill -0 "$LAST_PID" 2>/dev/null || return 1
    sleep 0.05
  done
  PORT=$(cat "$dir/weftd.port" 2>/dev/null) || return 1
}

# req TOKEN METHOD PATH [BODY [CONTENT-TYPE]]: sets ST; body in $D/out,
# headers in $D/hdr.
req() {
  local tok=$1 method=$2 path=$3
  local args=(-s --path-as-is -m 30 -o "$D/out" -D "$D/hdr" -w '%{http_code}' -X "$method")
  [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
  if [ $# -ge 4 ]; then
    args+=(-H "Content-Type: ${5:-application/json}" --data-binary "$4")
  fi
  ST=$(curl "${args[@]}" "$BASE$path")
}
# jv EXPR: evaluates a Python expression over the JSON reply 'd'.
jv() {
  python3 -c 'import json,sys
try: d=json.load(open(sys.argv[1]))
except Exception: d=None
print(eval(sys.argv[2]))' "$D/out" "$1" 2>/dev/null
}
hdr() { grep -i "^$1:" "$D/hdr" | head -1 | sed 's/^[^:]*: *//; s/\r$//'; }

# expect DESC STATUS [EXPR VALUE]...: checks status and JSON values (all
# expressions in one Python process: the suites make hundreds of checks).
expect() {
  local desc=$1 want=$2 msg; shift 2
  if [ "$ST" != "$want" ]; then bad "$desc (status $ST, want $want)"; return 1; fi
  if [ $# -ge 2 ]; then
    msg=$(python3 - "$D/out" "$@" <<'PY'
import json, sys
try: d = json.load(open(sys.argv[1]))
except Exception: d = None
a = sys.argv[2:]
for i in range(0, len(a) - 1, 2):
    try: got = str(eval(a[i]))
    except Exception as e: got = "<%r>" % e
    if got != a[i + 1]:
        print("%s = '%s', want '%s'" % (a[i], got, a[i + 1]))
        break
PY
)
    if [ -n "$msg" ]; then bad "$desc ($msg)"; return 1; fi
  fi
  ok "$desc"
}
head_rev() { req "$ADMIN" GET /api/v1/status; jv "d['revision']"; }

# expect_err DESC STATUS CODE FIELD: also checks the error shape.
expect_err() {
  expect "$1" "$2" "d['error']" "$3" "d['field']" "$4" \
    "sorted(k for k in d if k != 'related')" "['error', 'error_code', 'field', 'message']" \
    "len(d['message']) > 10" True
}
# cases PATH: reads "body|CODE|field" lines and PUTs each body; each
# must be refused with 400 and a well-formed error (expect_err).
cases() {
  local path=$1 body code field
  while IFS='|' read -r body code field; do
    [ -z "$body" ] && continue
    req "$ADMIN" PUT "$path" "$body"
    expect_err "$(basename "$(dirname "$path")") validation: $code $field" 400 "$code" "$field"
  done
}
