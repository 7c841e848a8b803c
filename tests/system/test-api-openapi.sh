#!/usr/bin/env bash
# The OpenAPI document (docs/api/openapi.yaml) is the contract: every route
# the server serves is documented and every documented route is served.
#  1. weftd --dump-routes (the table the router dispatches on) equals the
#     document's (method, path) set;
#  2. against a running weftd, every documented route is routed (not 404
#     ROUTE_NOT_FOUND / 405), and every undocumented method on a documented
#     path answers 405;
#  3. every documented writable property of each object schema is accepted
#     by the validator (not UNKNOWN_FIELD), an undocumented one is rejected.
# Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/../.."
B=${WEFT_BUILD:-build/asan}
WEFTD=$B/bin/weftd
DOC=docs/api/openapi.yaml
PASS=0
FAIL=0
D=$(mktemp -d /tmp/weft-openapi.XXXXXX)
WPID=
cleanup() { [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID"; rm -rf "$D"; }
trap cleanup EXIT
ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }

python3 - "$DOC" > "$D/doc-routes" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for path, item in doc["paths"].items():
    for m in ("get", "put", "post", "patch", "delete", "head", "options"):
        if m in item:
            print(m.upper(), path)
PY
[ -s "$D/doc-routes" ] && ok "OpenAPI document parses ($(wc -l < "$D/doc-routes") operations)" || bad "OpenAPI document parses"
"$WEFTD" --dump-routes | sort > "$D/served"
sort "$D/doc-routes" > "$D/documented"
if diff "$D/served" "$D/documented" > "$D/diff"; then
  ok "served route table == documented routes"
else
  bad "served route table != documented routes"
  sed 's/^/    /' "$D/diff"
fi

"$WEFTD" --state-dir "$D/s" --port 0 --insecure-http 2>"$D/log" &
WPID=$!
for _ in $(seq 1 200); do [ -s "$D/s/weftd.port" ] && break; sleep 0.05; done
BASE=http://127.0.0.1:$(cat "$D/s/weftd.port")
ADMIN=$(cat "$D/s/admin.token")
call() { # call TOKEN METHOD PATH [BODY] -> prints status, body in $D/out
  local a=(-s -m 10 -o "$D/out" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1")
  [ $# -ge 4 ] && a+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${a[@]}" "$BASE$3"
}
call "$ADMIN" PUT /api/v1/hosts/h1 '{"tunnel_endpoint":"192.0.2.1"}' >/dev/null
call "$ADMIN" PUT /api/v1/projects/default/segments/web '{}' >/dev/null
call "$ADMIN" PUT /api/v1/projects/default/segments/web/ports/p1 '{}' >/dev/null
call "$ADMIN" PUT /api/v1/projects/default/groups/g1 '{}' >/dev/null
call "$ADMIN" PUT /api/v1/projects/default/services/s1 '{"service_entries":[{"protocol":"TCP"}]}' >/dev/null
call "$ADMIN" PUT /api/v1/projects/default/security-policies/pol1 '{}' >/dev/null
call "$ADMIN" PUT /api/v1/projects/default/security-policies/pol1/rules/r1 '{"action":"allow"}' >/dev/null
call "$ADMIN" PUT /api/v1/settings/firewall '{}' >/dev/null
call "$ADMIN" PUT /api/v1/projects/default/routers/rt1 '{}' >/dev/null
call "$ADMIN" PUT /api/v1/projects/default/routers/rt1/static-routes/sr1 '{"network":"10.0.0.0/8","discard":true}' >/dev/null
call "$ADMIN" POST /api/v1/tokens '{"name":"aud","role":"auditor"}' >/dev/null
AUD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$D/out")
TOKID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$D/out")

subst() {
  sed -e "s/{project}/default/; s/{segment}/web/; s/{port}/p1/; s/{group}/g1/; s/{host}/h1/; s/{token}/$TOKID/" \
      -e "s/{service}/s1/; s/{policy}/pol1/; s/{rule}/r1/; s/{settings}/firewall/" \
      -e "s/{router}/rt1/; s/{route}/sr1/" <<< "$1"
}
routed=0; unrouted=0
while read -r method path; do
  p=$(subst "$path")
  # The auditor token: reads succeed, writes are refused after routing
  # (403), so nothing changes.
  st=$(call "$AUD" "$method" "$p" '{}')
  err=$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get("error",""))
except Exception: print("")' "$D/out")
  if [ "$st" = 404 ] && [ "$err" = ROUTE_NOT_FOUND ] || [ "$st" = 405 ] || [ "$st" = 000 ]; then
    bad "documented $method $path is not served ($st $err)"; unrouted=$((unrouted + 1))
  else
    routed=$((routed + 1))
  fi
done < "$D/documented"
[ "$unrouted" = 0 ] && ok "all $routed documented operations are served"
extra=0
for path in $(awk '{print $2}' "$D/documented" | sort -u); do
  for method in GET PUT POST PATCH DELETE; do
    grep -qx "$method $path" "$D/documented" && continue
    st=$(call "$ADMIN" "$method" "$(subst "$path")" '{}')
    if [ "$st" != 405 ]; then bad "undocumented $method $path answers $st, not 405"; extra=$((extra + 1)); fi
  done
done
[ "$extra" = 0 ] && ok "every undocumented method on a documented path answers 405"

# Documented properties == accepted properties.
python3 - "$DOC" > "$D/props" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
paths = {"Host": "/api/v1/hosts/zz", "Project": "/api/v1/projects/zz",
         "Segment": "/api/v1/projects/default/segments/zz",
         "SegmentPort": "/api/v1/projects/default/segments/web/ports/zz",
         "Group": "/api/v1/projects/default/groups/zz",
         "Service": "/api/v1/projects/default/services/zz",
         "SecurityPolicy": "/api/v1/projects/default/security-policies/zz",
         "Rule": "/api/v1/projects/default/security-policies/pol1/rules/zz",
         "FirewallSettings": "/api/v1/settings/firewall",
         "Router": "/api/v1/projects/default/routers/zz",
         "StaticRoute": "/api/v1/projects/default/routers/rt1/static-routes/zz"}
for name, path in paths.items():
    for prop, s in doc["components"]["schemas"][name]["properties"].items():
        if s.get("readOnly") or "PATCH only" in s.get("description", ""):
            continue
        print(path, prop)
PY
unknown=0; n=0
while read -r path prop; do
  call "$ADMIN" PUT "$path" "{\"$prop\":{\"probe\":[]}}" >/dev/null
  if grep -q "\"UNKNOWN_FIELD\".*\"field\":\"$prop\"" "$D/out"; then bad "documented property $prop of $path is rejected as unknown"; unknown=$((unknown + 1)); fi
  n=$((n + 1))
done < "$D/props"
[ "$unknown" = 0 ] && [ "$n" -gt 20 ] && ok "all $n documented writable properties are accepted by the validator"
for path in /api/v1/hosts/zz /api/v1/projects/zz /api/v1/projects/default/segments/zz /api/v1/projects/default/segments/web/ports/zz /api/v1/projects/default/groups/zz \
            /api/v1/projects/default/services/zz /api/v1/projects/default/security-policies/zz /api/v1/projects/default/security-policies/pol1/rules/zz /api/v1/settings/firewall \
            /api/v1/projects/default/routers/zz /api/v1/projects/default/routers/rt1/static-routes/zz; do
  call "$ADMIN" PUT "$path" '{"undocumented_property":1}' >/dev/null
  grep -q '"UNKNOWN_FIELD"' "$D/out" && ok "undocumented property rejected at $path" || bad "undocumented property accepted at $path"
done
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
