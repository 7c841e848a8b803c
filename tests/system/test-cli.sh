#!/usr/bin/env bash
# The `weft` CLI against a real weftd over HTTPS (loopback, ephemeral port,
# temp state dir, the generated self-signed certificate): create/get/list/
# delete, apply, output formats, settings from flags, environment and
# ~/.config/weft/config, and exit codes (0 ok, 1 API error, 2 usage).
# Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/../.."
B=${WEFT_BUILD:-build/asan}
case $B in /*) ;; *) B=$(pwd)/$B ;; esac
WEFT=$B/bin/weft
PASS=0
FAIL=0
D=$(mktemp -d /tmp/weft-cli-test.XXXXXX)
WPID=
cleanup() { [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID"; rm -rf "$D"; }
trap cleanup EXIT
ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; sed 's/^/    | /' "$D/out" | head -20; }
# t DESC WANT_RC CMD...: runs CMD, output in $D/out, checks the exit code.
t() {
  local desc=$1 want=$2; shift 2
  "$@" > "$D/out" 2>&1
  local rc=$?
  [ "$rc" = "$want" ] && ok "$desc" || bad "$desc (exit $rc, want $want)"
}
has() { grep -q -- "$1" "$D/out"; }

"$B/bin/weftd" --state-dir "$D/s" --port 0 2>"$D/log" &
WPID=$!
for _ in $(seq 1 200); do [ -s "$D/s/weftd.port" ] && break; sleep 0.05; done
export HOME=$D/home
mkdir -p "$HOME/.config/weft"
export WEFT_ENDPOINT=https://127.0.0.1:$(cat "$D/s/weftd.port")
export WEFT_CACERT=$D/s/cert.pem
TOKEN=$(cat "$D/s/admin.token")

t "no token: API error, exit 1" 1 "$WEFT" status
has UNAUTHENTICATED && ok "the API error message is printed" || bad "error message"
export WEFT_TOKEN=$TOKEN
t "status over HTTPS with the generated CA" 0 "$WEFT" status
t "--help exits 0" 0 "$WEFT" --help
has "segment create" && ok "help lists the commands" || bad "help text"
t "no command: usage, exit 2" 2 "$WEFT"
t "unknown command: exit 2" 2 "$WEFT" frobnicate
t "unknown option: exit 2" 2 "$WEFT" --frob status
t "bad output format: exit 2" 2 "$WEFT" -o xml status
t "missing argument: exit 2" 2 "$WEFT" segment create
t "host create without --tep: exit 2" 2 "$WEFT" host create h1

t "host create" 0 "$WEFT" host create h1 --tep 192.0.2.1 --tag 'rack|r1'
t "segment create web --subnet 10.1.1.1/24" 0 "$WEFT" segment create web --subnet 10.1.1.1/24 --tag 'tier|web'
has "10.1.1.1/24" && ok "segment table shows the subnet" || bad "segment table"
t "port create" 0 "$WEFT" port create p1 --segment web --ip 10.1.1.5 --host h1 --vif tap0
t "port create with SEGMENT/PORT" 0 "$WEFT" port create web/p2 --ip 10.1.1.6
t "duplicate create: exit 1" 1 "$WEFT" segment create web
has ALREADY_EXISTS && ok "duplicate reports ALREADY_EXISTS" || bad "duplicate message"
t "invalid CIDR: exit 1 naming the field" 1 "$WEFT" segment create bad --subnet 10.1.1.1/40
has "subnets\[0\].gateway_address" && ok "the field is named" || bad "field not named"
t "port without a segment: exit 2" 2 "$WEFT" port create p3

t "get segment -o json" 0 "$WEFT" get segment web -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["id"]=="web" and d["vni"]>0' "$D/out" \
  && ok "json output parses" || bad "json output"
t "get port -o yaml" 0 "$WEFT" -o yaml get port p1 --segment web
python3 -c 'import yaml,sys; d=yaml.safe_load(open(sys.argv[1])); assert d["attachment"]["host"]=="h1" and d["ip_addresses"]==["10.1.1.5"]' "$D/out" \
  && ok "yaml output parses" || bad "yaml output"
t "list segments (table)" 0 "$WEFT" list segments
has "^ID" && has "^web " && ok "table has a header and the row" || bad "list table"
t "list ports with a filter" 0 "$WEFT" list ports --segment web --filter attachment.host=h1 -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [x["id"] for x in d["results"]]==["p1"]' "$D/out" \
  && ok "filtered list" || bad "filtered list"
t "list hosts by tag" 0 "$WEFT" list hosts --tag 'rack|r1' -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["result_count"]==1' "$D/out" && ok "tag filter" || bad "tag filter"
t "get a missing object: exit 1" 1 "$WEFT" get host nope
has NOT_FOUND && ok "NOT_FOUND reported" || bad "NOT_FOUND"

cat > "$D/topology.json" <<'JSON'
{"hosts": {"h2": {"tunnel_endpoint": "192.0.2.2"}},
 "projects": {"shop": {"segments": {
   "front": {"subnets": [{"gateway_address": "10.2.0.1/24"}],
             "ports": {"a": {"ip_addresses": ["10.2.0.10"], "attachment": {"host": "h2", "vif": "tap-a"}},
                       "b": {"ip_addresses": ["10.2.0.11"]}}},
   "back": {"vni": 9000}}}}}
JSON
t "apply -f topology.json" 0 "$WEFT" apply -f "$D/topology.json"
has "applied at revision" && ok "apply reports the revision" || bad "apply output"
t "applied objects exist" 0 "$WEFT" -p shop get port front/a
echo '{"projects": {"shop": {"segments": {"x": {"vni": 9000}}}}}' > "$D/bad.json"
t "apply with a conflict: exit 1" 1 "$WEFT" apply -f "$D/bad.json"
t "...and nothing of it exists" 1 "$WEFT" -p shop get segment x
echo '{"projects": ' > "$D/broken.json"
t "apply of broken JSON: exit 2" 2 "$WEFT" apply -f "$D/broken.json"
t "apply from stdin" 0 sh -c "echo '{\"hosts\":{\"h3\":{\"tunnel_endpoint\":\"192.0.2.3\"}}}' | '$WEFT' apply -f -"

t "delete of a referenced host: exit 1" 1 "$WEFT" delete host h1
has REFERENCED && has "ports/p1" && ok "409 names the referrer" || bad "409 message"
t "delete port" 0 "$WEFT" delete port p1 --segment web
t "delete host" 0 "$WEFT" delete host h1

t "token create" 0 "$WEFT" token create auditor1 --role auditor -o json
AUD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$D/out")
t "auditor cannot write: exit 1" 1 "$WEFT" --token "$AUD" segment create nope
has FORBIDDEN && ok "FORBIDDEN reported" || bad "FORBIDDEN"

# Settings from the config file (flags and environment unset).
unset WEFT_ENDPOINT WEFT_TOKEN WEFT_CACERT
t "no endpoint anywhere: exit 2" 2 "$WEFT" status
cat > "$HOME/.config/weft/config" <<CFG
# weft settings
endpoint = https://127.0.0.1:$(cat "$D/s/weftd.port")
token = $TOKEN
cacert = $D/s/cert.pem
project = shop
CFG
t "settings from ~/.config/weft/config" 0 "$WEFT" get segment front
t "flags override the config file" 1 "$WEFT" --token "weft_$(printf '0%.0s' $(seq 64))" get segment front
t "an unverifiable certificate fails without --cacert" 1 env HOME=/nonexistent WEFT_ENDPOINT="https://127.0.0.1:$(cat "$D/s/weftd.port")" WEFT_TOKEN="$TOKEN" "$WEFT" status
t "--insecure skips verification" 0 env HOME=/nonexistent WEFT_ENDPOINT="https://127.0.0.1:$(cat "$D/s/weftd.port")" WEFT_TOKEN="$TOKEN" "$WEFT" --insecure status
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
