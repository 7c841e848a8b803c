#!/usr/bin/env bash
# Management-plane benchmark (make bench-api).  Prints "name: value unit".
# Runs the release weftd on loopback (plain HTTP, ephemeral port, temp
# state dir, 2 HTTP threads) and drives it with wrk:
#   api_put_*      durable single-object PUTs (new hosts), 64 connections
#   api_get_*      single-object GETs, 64 connections
#   api_*_c8_*     the same with 8 connections (a moderate load)
#   api_*_p99_ms_half  p99 latency at half the target rate (PUT 2,500/s,
#                  GET 25,000/s) over 64 connections, open loop: requests
#                  go out on a fixed schedule and latency counts from the
#                  scheduled time to the moment the client reads the whole
#                  response (bench-api-rate; wrk cannot pace).  The client
#                  shares the 2 cores, so this is an upper bound; the
#                  *_half_service_p99_ms (send to read), *_half_lag_p99_ms
#                  (due to send), *_half_client_cpu_s lines and the
#                  server's CPU per request (*_half_cpu_us_per_req, from
#                  /proc/<pid>/stat) tell the server's share from the
#                  client's and the machine's
#   api_patch_10k_s          one atomic PATCH creating 10,000 ports
#   store_*_per_object       disk and weftd RSS growth per object, measured
#                            over 100,000 objects
#   start_1m_objects_s       from launching weftd to its first answered
#                            request (GET of the last of 1,000,000 host
#                            objects in its store, 200): the API is ready
#   start_1m_controller_s    from launching weftd to the controller having
#                            loaded those objects into its span model
#                            (GET /api/v1/realization: processed_revision
#                            reaches the store's revision); agents are
#                            served from then on.  Polled every 5 and 50 ms.
set -u
cd "$(dirname "$0")/.."
B=${WEFT_BUILD_RELEASE:-build/release}
WEFTD=$B/bin/weftd
LOADER=$B/bench/bench-api-load
RATER=$B/bench/bench-api-rate
DUR=${BENCH_SECONDS:-10}
D=$(mktemp -d /tmp/weft-bench-api.XXXXXX)
WPID=
cleanup() { [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
for t in wrk curl python3; do
  command -v $t >/dev/null || { echo "bench-api: $t is missing" >&2; exit 1; }
done
[ -x "$WEFTD" ] && [ -x "$LOADER" ] && [ -x "$RATER" ] || { echo "bench-api: build release first" >&2; exit 1; }

start() { # start DIR: starts weftd, sets PORT, TOKEN, BASE
  rm -f "$1/weftd.port"
  "$WEFTD" --state-dir "$1" --port 0 --insecure-http --threads 2 --log-level warn &
  WPID=$!
  for _ in $(seq 1 2000); do [ -s "$1/weftd.port" ] && break; sleep 0.005; done
  PORT=$(cat "$1/weftd.port"); TOKEN=$(cat "$1/admin.token"); BASE=http://127.0.0.1:$PORT
}
stop() { kill "$WPID"; wait "$WPID" 2>/dev/null; WPID=; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$WPID/status"; }
disk_bytes() { du -sb "$1/store" | awk '{print $1}'; }

cat > "$D/put.lua" <<'LUA'
local n = 0
local id = 0
local counter = 0
function setup(thread) n = n + 1; thread:set("id", n) end
function init(args) counter = 0 end
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/api/v1/hosts/b" .. id .. "-" .. counter, nil,
    '{"tunnel_endpoint":"192.0.2.1","display_name":"bench host"}')
end
LUA
cat > "$D/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read +
              summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
LUA
cat "$D/report.lua" >> "$D/put.lua"

# run_wrk NAME CONNS SCRIPT PATH: prints the figures for NAME.
run_wrk() {
  local name=$1 conns=$2 script=$3 path=$4
  local out
  out=$(wrk -t2 -c"$conns" -d"${DUR}s" -s "$script" \
        -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        "$BASE$path" | grep '^RESULT')
  set -- $out
  echo "${name}_per_s: ${2%.*} req/s"
  echo "${name}_p50_ms: $3 ms"
  echo "${name}_p99_ms: $4 ms"
  [ "$5" = 0 ] || echo "${name}_errors: $5 requests"
}

mkdir -p "$D/s"
start "$D/s"
curl -s -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data '{"tunnel_endpoint":"192.0.2.1"}' "$BASE/api/v1/hosts/g1"
run_wrk api_put 64 "$D/put.lua" /
run_wrk api_put_c8 8 "$D/put.lua" /
cp "$D/report.lua" "$D/get.lua"
run_wrk api_get 64 "$D/get.lua" /api/v1/hosts/g1
run_wrk api_get_c8 8 "$D/get.lua" /api/v1/hosts/g1

# run_rate NAME METHOD PATH RATE [BODY]: p99 at a fixed request rate.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$WPID/stat"; }
run_rate() {
  local out c0 c1
  c0=$(cpu_ticks)
  out=$("$RATER" "$PORT" "$TOKEN" "$2" "$3" "$4" "$DUR" 64 ${5:+"$5"} | grep '^RESULT')
  c1=$(cpu_ticks)
  set -- $1 $out
  echo "${1}_p99_ms_half: $5 ms"
  echo "${1}_p50_ms_half: $4 ms"
  echo "${1}_rate_half: ${3%.*} req/s"
  [ "$6" = 0 ] || echo "${1}_errors_half: $6 requests"
  echo "${1}_half_service_p99_ms: $7 ms"
  echo "${1}_half_lag_p99_ms: $8 ms"
  echo "${1}_half_client_cpu_s: ${10} s"
  echo "${1}_half_cpu_us_per_req: $(python3 -c "print(round(($c1 - $c0) * 1e6 / $(getconf CLK_TCK) / max(1, $3 * $DUR), 1))") us"
}
run_rate api_put PUT /api/v1/hosts/r 2500 '{"tunnel_endpoint":"192.0.2.1","display_name":"bench host"}'
run_rate api_get GET /api/v1/hosts/g1 25000

# One atomic PATCH of 10,000 ports (and their segment).
python3 - "$D/patch.json" <<'PY'
import json, sys
ports = {"p%05d" % i: {"ip_addresses": ["10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255)],
                       "attachment": {"host": "g1", "vif": "tap%d" % i}} for i in range(1, 10001)}
json.dump({"segments": {"big": {"subnets": [{"gateway_address": "10.0.0.1/8"}], "ports": ports}}},
          open(sys.argv[1], "w"))
PY
t=$(curl -s -o "$D/patch.out" -w '%{http_code} %{time_total}' -X PATCH -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "@$D/patch.json" "$BASE/api/v1/projects/default")
set -- $t
[ "$1" = 200 ] && echo "api_patch_10k_s: $2 s" || echo "api_patch_10k_s: failed (HTTP $1)"
stop

# Disk and memory per object over 100,000 objects (10 atomic PATCHes).
mkdir -p "$D/m"
start "$D/m"
sleep 0.2
rss0=$(rss_kb); disk0=$(disk_bytes "$D/m")
for b in $(seq 0 9); do
  python3 -c 'import json,sys
b=int(sys.argv[1])
print(json.dumps({"hosts": {"m%06d" % i: {"tunnel_endpoint": "10.1.%d.%d" % ((i >> 8) & 255, i & 255), "display_name": "host %d" % i, "tags": [{"scope": "rack", "tag": "r%d" % (i % 40)}]} for i in range(b*10000, (b+1)*10000)}}))' "$b" > "$D/hosts.json"
  curl -s -o /dev/null -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary "@$D/hosts.json" "$BASE/api/v1"
done
rss1=$(rss_kb); stop
disk1=$(disk_bytes "$D/m")   # after a clean stop (WAL checkpointed)
echo "store_bytes_per_object: $(( (disk1 - disk0) / 100000 )) bytes"
echo "store_rss_bytes_per_object: $(( (rss1 - rss0) * 1024 / 100000 )) bytes"

# Start time with 1,000,000 objects.
mkdir -p "$D/big"
"$LOADER" "$D/big" 1000000
t0=$(date +%s.%N)
start "$D/big"
until curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/hosts/bulk0999999" | grep -q 200; do
  sleep 0.005
done
t1=$(date +%s.%N)
echo "start_1m_objects_s: $(python3 -c "print(round($t1 - $t0, 3))") s"
for _ in $(seq 1 1200); do
  curl -s -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/realization" | python3 -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if j["processed_revision"] >= j["revision"] else 1)' && break
  sleep 0.05
done
t2=$(date +%s.%N)
echo "start_1m_controller_s: $(python3 -c "print(round($t2 - $t0, 3))") s"
echo "store_1m_disk_bytes: $(disk_bytes "$D/big") bytes"
stop
