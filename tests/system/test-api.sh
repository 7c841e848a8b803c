#!/usr/bin/env bash
# API tests: a real weftd on loopback (ephemeral port, temp state dir),
# driven over HTTP with curl.  Covers every route family, every validation
# rule, conflicts, optimistic concurrency, subtree atomicity, pagination and
# filters, watch, RBAC per role, the audit log, hostile input and HTTPS.
# Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/../.."
API_TEST=test-api
source tests/system/api-lib.sh

# expect_err DESC STATUS CODE [FIELD]
expect_err() {
  if [ $# -ge 4 ]; then
    expect "$1" "$2" "d['error']" "$3" "d['field']" "$4"
  else
    expect "$1" "$2" "d['error']" "$3"
  fi
}

mkdir -p "$D/s"
if ! start_weftd "$D/s" --insecure-http --max-body 1048576 --vni-range 5000-5009; then
  bad "weftd starts"; cat "$D/s.log"; echo "$PASS passed, $FAIL failed"; exit 1
fi
ok "weftd starts on an ephemeral loopback port"
BASE=http://127.0.0.1:$PORT
ADMIN=$(cat "$D/s/admin.token")
[ "$(stat -c %a "$D/s/admin.token")" = 600 ] && ok "admin token file is 0600" || bad "admin token mode"
J='application/json'

# ---- authentication and routing
req "" GET /api/v1/projects;              expect_err "no token: 401" 401 UNAUTHENTICATED
req "weft_$(printf '0%.0s' $(seq 64))" GET /api/v1/projects; expect_err "unknown token: 401" 401 UNAUTHENTICATED
req "garbage" GET /api/v1/projects;       expect_err "malformed token: 401" 401 UNAUTHENTICATED
req "$ADMIN" GET /api/v2/projects;        expect_err "unknown API version: 404" 404 ROUTE_NOT_FOUND
req "$ADMIN" GET /api/v1/widgets;         expect_err "unknown collection: 404" 404 ROUTE_NOT_FOUND
req "$ADMIN" PUT /api/v1/projects '{}';   expect_err "PUT on a collection: 405" 405 METHOD_NOT_ALLOWED
req "$ADMIN" POST /api/v1/hosts/h9 '{}';  expect_err "POST on an object: 405" 405 METHOD_NOT_ALLOWED
ST=$(curl -s -I -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$BASE/api/v1/projects")
[ "$ST" = 405 ] && ok "HEAD: 405" || bad "HEAD: $ST"

# ---- objects
req "$ADMIN" GET /api/v1/projects/default
expect "default project exists" 200 "d['id']" default "d['path']" /api/v1/projects/default "d['resource_type']" Project
req "$ADMIN" PUT /api/v1/hosts/h1 '{"tunnel_endpoint":"192.0.2.1","display_name":"host one"}'
expect "create host (PUT)" 201 "d['status']" unknown "d['_revision']>0 and d['_create_time']>0 and d['_last_modified']>0" True "d['path']" /api/v1/hosts/h1
H1REV=$(jv "d['_revision']")
[ "$(hdr X-Weft-Revision)" = "$H1REV" ] && [ "$(hdr ETag)" = "\"$H1REV\"" ] && ok "write returns X-Weft-Revision and ETag" || bad "revision headers"
req "$ADMIN" GET /api/v1/hosts/h1
expect "get host" 200 "d['tunnel_endpoint']" 192.0.2.1 "d['_revision']" "$H1REV"
req "$ADMIN" PUT /api/v1/hosts/h2 '{"tunnel_endpoint":"2001:db8::2"}';   expect "host with IPv6 endpoint" 201
req "$ADMIN" POST /api/v1/projects/default/segments '{"id":"web","subnets":[{"gateway_address":"10.1.1.1/24"}],"tags":[{"scope":"tier","tag":"web"}]}'
expect "create segment (POST), VNI from the pool" 201 "d['vni']" 5000 "d['path']" /api/v1/projects/default/segments/web
[ "$(hdr Location)" = "" ] || true
req "$ADMIN" POST /api/v1/projects/default/segments '{"id":"web"}';   expect_err "POST existing: 409" 409 ALREADY_EXISTS
req "$ADMIN" PUT /api/v1/projects/default/segments/db '{"vni":5005,"subnets":[{"gateway_address":"10.2.0.1/16"},{"gateway_address":"fd00::1/64"}],"tags":[{"scope":"tier","tag":"db"}]}'
expect "segment with explicit VNI and v4+v6 subnets" 201 "d['vni']" 5005
req "$ADMIN" PUT /api/v1/projects/default/segments/dup '{"vni":5005}'; expect_err "duplicate VNI: 409" 409 VNI_IN_USE vni
req "$ADMIN" PUT /api/v1/projects/default/segments/web/ports/p1 '{"ip_addresses":["10.1.1.5"],"attachment":{"host":"h1","vif":"tap-p1"}}'
expect "create port, MAC generated" 201 "d['mac_address'].startswith('02:')" True
P1MAC=$(jv "d['mac_address']")
req "$ADMIN" PUT /api/v1/projects/default/segments/web/ports/p2 "{\"mac_address\":\"${P1MAC^^}\"}"
expect_err "duplicate MAC on a segment: 409" 409 MAC_IN_USE mac_address
req "$ADMIN" PUT /api/v1/projects/default/segments/web/ports/p2 '{"ip_addresses":["10.1.1.6","10.1.1.5"]}'
expect "duplicate IP on a segment: 409 naming the other port" 409 "d['error']" IP_IN_USE "d['field']" "ip_addresses[1]" "d['related']" "['/api/v1/projects/default/segments/web/ports/p1']" "'/ports/p1' in d['message']" True
req "$ADMIN" PUT /api/v1/projects/default/segments/db/ports/q1 '{"ip_addresses":["10.2.0.5","fd00::5"]}'; expect "port with v4 and v6 IPs" 201
req "$ADMIN" PUT /api/v1/projects/default/segments/db/ports/q2 '{"ip_addresses":["FD00:0:0::5"]}'
expect_err "duplicate IPv6 in another spelling: 409" 409 IP_IN_USE "ip_addresses[0]"
req "$ADMIN" PUT /api/v1/projects/default/segments/web/ports/p3 '{"ip_addresses":["10.1.1.7"]}'; expect "same IP range, other segment: independent" 201
req "$ADMIN" PUT /api/v1/projects/default/segments/db/ports/q1 '{"ip_addresses":["10.2.0.6","fd00::5"]}'; expect "port keeps one IP and changes another" 200
req "$ADMIN" PUT /api/v1/projects/default/segments/db/ports/q2 '{"ip_addresses":["10.2.0.5"]}'; expect "a released IP can be taken" 201
req "$ADMIN" PATCH /api/v1/projects/default '{"segments":{"db":{"ports":{"q3":{"ip_addresses":["10.2.0.9"]},"q4":{"ip_addresses":["10.2.0.9"]}}}}}'
expect "duplicate IP inside one subtree PATCH: 409, nothing stored" 409 "d['error']" IP_IN_USE "d['field']" "segments.db.ports.q4.ip_addresses[0]"
req "$ADMIN" DELETE /api/v1/projects/default/segments/db/ports/q2; expect "delete a port" 204
req "$ADMIN" PUT /api/v1/projects/default/segments/db/ports/q3 '{"ip_addresses":["10.2.0.5","10.2.0.9"]}'; expect "a deleted port's IPs are free" 201
req "$ADMIN" DELETE /api/v1/projects/default/segments/db/ports/q3
req "$ADMIN" DELETE /api/v1/projects/default/segments/db/ports/q1
req "$ADMIN" DELETE /api/v1/projects/default/segments/web/ports/p3
req "$ADMIN" PUT /api/v1/projects/default/segments/web/ports/p2 '{"ip_addresses":["10.9.9.9"]}'
expect_err "IP outside the segment's subnets" 400 OUT_OF_RANGE "ip_addresses[0]"
req "$ADMIN" PUT /api/v1/projects/default/segments/web/ports/p2 '{"attachment":{"host":"nohost","vif":"tap0"}}'
expect_err "attachment to a missing host" 400 INVALID_REFERENCE attachment.host
req "$ADMIN" PUT /api/v1/projects/default/segments/nope/ports/p2 '{}'; expect_err "port under a missing segment: 404" 404 PARENT_NOT_FOUND
req "$ADMIN" PUT /api/v1/projects/default/groups/g1 '{"members":["/api/v1/projects/default/segments/web/ports/p1"],"criteria":[{"conditions":[{"key":"tag","operator":"equals","value":"web"}]}]}'
expect "create group with a static member and criteria" 201
req "$ADMIN" GET /api/v1/projects/default/segments/web/ports/zz;  expect_err "GET missing object: 404" 404 NOT_FOUND

# ---- validation: every rule gives the right code and field, and stores nothing
R0=$(head_rev)
S=/api/v1/projects/default/segments/v
while IFS='|' read -r body code field; do
  [ -z "$body" ] && continue
  req "$ADMIN" PUT "$S" "$body"
  expect_err "validation: $code $field" 400 "$code" "$field"
done <<'EOF_CASES'
{"colour":"red"}|UNKNOWN_FIELD|colour
{"vni":"5001"}|WRONG_TYPE|vni
{"vni":1.5}|WRONG_TYPE|vni
{"vni":0}|OUT_OF_RANGE|vni
{"vni":16777216}|OUT_OF_RANGE|vni
{"vni":99999999999999999999}|BAD_JSON|
{"subnets":"10.0.0.1/24"}|WRONG_TYPE|subnets
{"subnets":[{"gateway_address":"10.1.1.1/33"}]}|BAD_FORMAT|subnets[0].gateway_address
{"subnets":[{"gateway_address":"10.1.1/24"}]}|BAD_FORMAT|subnets[0].gateway_address
{"subnets":[{"gateway_address":"10.1.1.1"}]}|BAD_FORMAT|subnets[0].gateway_address
{"subnets":[{}]}|MISSING_FIELD|subnets[0].gateway_address
{"subnets":[{"gateway_address":"10.1.1.1/24","x":1}]}|UNKNOWN_FIELD|subnets[0].x
{"subnets":[{"gateway_address":"10.1.1.1/24"},{"gateway_address":"10.1.1.1/24"}]}|DUPLICATE|subnets[1]
{"subnets":[{"gateway_address":"10.1.1.1/24"},{"gateway_address":"10.1.0.1/16"}]}|DUPLICATE|subnets[1]
{"display_name":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}|TOO_LONG|display_name
{"display_name":"tab\there"}|BAD_FORMAT|display_name
{"display_name":7}|WRONG_TYPE|display_name
{"tags":[{"tag":"a"},{"tag":"a"}]}|DUPLICATE|tags[1]
{"tags":[{"scope":"s"}]}|MISSING_FIELD|tags[0].tag
{"tags":[{"tag":""}]}|OUT_OF_RANGE|tags[0].tag
{"tags":[{"tag":1},{"tag":2},{"tag":3},{"tag":4},{"tag":5},{"tag":6},{"tag":7},{"tag":8},{"tag":9},{"tag":10},{"tag":11},{"tag":12},{"tag":13},{"tag":14},{"tag":15},{"tag":16},{"tag":17},{"tag":18},{"tag":19},{"tag":20},{"tag":21},{"tag":22},{"tag":23},{"tag":24},{"tag":25},{"tag":26},{"tag":27},{"tag":28},{"tag":29},{"tag":30},{"tag":31}]}|TOO_MANY|tags
{"admin_state":"sideways"}|BAD_FORMAT|admin_state
{"id":"other"}|ID_MISMATCH|id
{"_revision":"x"}|WRONG_TYPE|_revision
{"ports":{}}|UNKNOWN_FIELD|ports
[]|NOT_AN_OBJECT|
"x"|NOT_AN_OBJECT|
42|NOT_AN_OBJECT|
EOF_CASES
P=/api/v1/projects/default/segments/web/ports/v
while IFS='|' read -r body code field; do
  [ -z "$body" ] && continue
  req "$ADMIN" PUT "$P" "$body"
  expect_err "port validation: $code $field" 400 "$code" "$field"
done <<'EOF_CASES'
{"mac_address":"01:00:5e:00:00:01"}|BAD_FORMAT|mac_address
{"mac_address":"ff:ff:ff:ff:ff:ff"}|BAD_FORMAT|mac_address
{"mac_address":"00:00:00:00:00:00"}|BAD_FORMAT|mac_address
{"mac_address":"02:00:00:00:00"}|BAD_FORMAT|mac_address
{"mac_address":"02-00-00-00-00-01"}|BAD_FORMAT|mac_address
{"ip_addresses":["10.1.1.300"]}|BAD_FORMAT|ip_addresses[0]
{"ip_addresses":["10.1.1.5","10.1.1.5"]}|DUPLICATE|ip_addresses[1]
{"attachment":{"host":"h1"}}|MISSING_FIELD|attachment.vif
{"attachment":{"host":"h1","vif":"a-very-long-interface"}}|BAD_FORMAT|attachment.vif
{"attachment":{"host":"h1","vif":"a/b"}}|BAD_FORMAT|attachment.vif
{"attachment":{"host":"../etc","vif":"t"}}|BAD_FORMAT|attachment.host
{"attachment":"h1"}|WRONG_TYPE|attachment
EOF_CASES
req "$ADMIN" PUT /api/v1/hosts/h3 '{}';                       expect_err "host: missing tunnel_endpoint" 400 MISSING_FIELD tunnel_endpoint
req "$ADMIN" PUT /api/v1/hosts/h3 '{"tunnel_endpoint":"x"}';  expect_err "host: bad tunnel_endpoint" 400 BAD_FORMAT tunnel_endpoint
req "$ADMIN" PUT /api/v1/projects/default/groups/g2 '{"members":["/api/v1/hosts/h1"]}'; expect_err "group: host member" 400 INVALID_REFERENCE "members[0]"
req "$ADMIN" PUT /api/v1/projects/default/groups/g2 '{"members":["/api/v1/projects/default/segments/nope"]}'; expect_err "group: missing member" 400 INVALID_REFERENCE "members[0]"
req "$ADMIN" PUT /api/v1/projects/default/groups/g2 '{"members":["not a path"]}'; expect_err "group: malformed member" 400 BAD_FORMAT "members[0]"
req "$ADMIN" PUT /api/v1/projects/default/groups/g2 '{"criteria":[{"conditions":[{"key":"vm","operator":"equals","value":"x"}]}]}'; expect_err "group: bad criterion" 400 BAD_FORMAT "criteria[0].conditions[0].key"
req "$ADMIN" PUT /api/v1/projects/default/groups/g2 '{"criteria":[{"member_type":"port","key":"tag","operator":"equals","value":"x"}]}'; expect_err "group: the old flat criterion shape is refused" 400 UNKNOWN_FIELD "criteria[0].member_type"
req "$ADMIN" PUT /api/v1/hosts/h3 '{"tunnel_endpoint":"192.0.2.3"}' text/plain; expect_err "wrong content type: 415" 415 UNSUPPORTED_MEDIA_TYPE
req "$ADMIN" PUT /api/v1/hosts/h3 '';                         expect_err "empty body: 400" 400 BAD_JSON
[ "$(head_rev)" = "$R0" ] && ok "no rejected write changed the store" || bad "store changed by rejected writes"

# ---- optimistic concurrency
req "$ADMIN" GET /api/v1/hosts/h1; REV=$(jv "d['_revision']")
curl -s -o "$D/out" -w '%{http_code}' -X PUT -H "Authorization: Bearer $ADMIN" -H "Content-Type: $J" -H "If-Match: \"$((REV - 1))\"" --data '{"tunnel_endpoint":"192.0.2.11"}' "$BASE/api/v1/hosts/h1" > "$D/st"; ST=$(cat "$D/st")
expect_err "stale If-Match: 412" 412 REVISION_MISMATCH
req "$ADMIN" PUT /api/v1/hosts/h1 "{\"tunnel_endpoint\":\"192.0.2.11\",\"_revision\":$((REV - 1))}"; expect_err "stale _revision in body: 412" 412 REVISION_MISMATCH
req "$ADMIN" PUT /api/v1/hosts/h1 "{\"tunnel_endpoint\":\"192.0.2.11\",\"_revision\":$REV}"; expect "current _revision: 200" 200 "d['tunnel_endpoint']" 192.0.2.11 "d['_create_time']<=d['_last_modified']" True
req "$ADMIN" PATCH /api/v1/hosts/h1 '{"display_name":null,"description":"patched"}'
expect "merge PATCH removes and adds fields" 200 "'display_name' in d" False "d['description']" patched "d['tunnel_endpoint']" 192.0.2.11
curl -s -o "$D/out" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ADMIN" -H "If-Match: 1" "$BASE/api/v1/hosts/h2" > "$D/st"; ST=$(cat "$D/st")
expect_err "DELETE with stale If-Match: 412" 412 REVISION_MISMATCH

# ---- conflicts on delete
req "$ADMIN" DELETE /api/v1/hosts/h1
expect "delete of a referenced host: 409 naming the port" 409 "d['error']" REFERENCED "d['related']" "['/api/v1/projects/default/segments/web/ports/p1']"
req "$ADMIN" DELETE /api/v1/projects/default/segments/web
expect "delete of a segment with ports: 409 naming them" 409 "d['error']" HAS_CHILDREN "'/api/v1/projects/default/segments/web/ports/p1' in d['related']" True
req "$ADMIN" DELETE /api/v1/projects/default/segments/web/ports/p1
expect "delete of a group member: 409 naming the group" 409 "d['error']" REFERENCED "d['related']" "['/api/v1/projects/default/groups/g1']"
req "$ADMIN" DELETE /api/v1/projects/default;  expect_err "delete default project: 409" 409 PROTECTED
req "$ADMIN" DELETE /api/v1/hosts/h2;          expect "delete unreferenced host: 204" 204
req "$ADMIN" GET /api/v1/hosts/h2;             expect_err "deleted host is gone" 404 NOT_FOUND
req "$ADMIN" DELETE /api/v1/hosts/h2;          expect_err "delete again: 404" 404 NOT_FOUND

# ---- subtree PATCH: atomic
R0=$(head_rev)
req "$ADMIN" PATCH /api/v1 '{"hosts":{"hx":{"tunnel_endpoint":"192.0.2.50"}},"projects":{"default":{"segments":{"a1":{},"a2":{},"a3":{"vni":"bad"}}}}}'
expect_err "subtree PATCH with one bad object: 400 naming it" 400 WRONG_TYPE projects.default.segments.a3.vni
req "$ADMIN" GET /api/v1/projects/default/segments/a1; expect_err "nothing of the failed PATCH exists" 404 NOT_FOUND
req "$ADMIN" GET /api/v1/hosts/hx; expect_err "not even the host" 404 NOT_FOUND
req "$ADMIN" PATCH /api/v1 '{"projects":{"default":{"segments":{"a1":{"vni":5005}}}}}'
expect_err "subtree PATCH conflicting in the txn: 409 with the field" 409 VNI_IN_USE projects.default.segments.a1.vni
[ "$(head_rev)" = "$R0" ] && ok "failed subtree PATCHes changed nothing" || bad "failed PATCH changed the store"
req "$ADMIN" PATCH /api/v1 '{"hosts":{"hx":{"tunnel_endpoint":"192.0.2.50"}},"projects":{"pg":{"display_name":"paging","segments":{"s00":{"tags":[{"scope":"tier","tag":"db"}],"ports":{"q":{"attachment":{"host":"hx","vif":"tq"}}}},"s01":{},"s02":{},"s03":{},"s04":{},"s05":{"tags":[{"scope":"tier","tag":"db"}]},"s06":{},"s07":{},"s08":{},"s09":{},"s10":{},"s11":{},"s12":{},"s13":{},"s14":{},"s15":{},"s16":{},"s17":{},"s18":{},"s19":{},"s20":{},"s21":{},"s22":{},"s23":{}}}}}'
expect_err "subtree PATCH beyond the VNI pool: 409" 409 VNI_EXHAUSTED
req "$ADMIN" PATCH /api/v1 '{"hosts":{"hx":{"tunnel_endpoint":"192.0.2.50"}},"projects":{"pg":{"display_name":"paging","segments":{"s00":{"vni":100,"tags":[{"scope":"tier","tag":"db"}],"ports":{"q":{"attachment":{"host":"hx","vif":"tq"}}}},"s01":{"vni":101},"s02":{"vni":102},"s03":{"vni":103},"s04":{"vni":104},"s05":{"vni":105,"tags":[{"scope":"tier","tag":"db"}]},"s06":{"vni":106},"s07":{"vni":107},"s08":{"vni":108},"s09":{"vni":109},"s10":{"vni":110},"s11":{"vni":111},"s12":{"vni":112},"s13":{"vni":113},"s14":{"vni":114},"s15":{"vni":115},"s16":{"vni":116},"s17":{"vni":117},"s18":{"vni":118},"s19":{"vni":119},"s20":{"vni":120},"s21":{"vni":121},"s22":{"vni":122},"s23":{"vni":123},"s24":{"vni":124}}}}}'
expect "subtree PATCH creating 28 objects in one revision" 200 "d['_revision']" "$((R0 + 1))"
req "$ADMIN" GET /api/v1/projects/pg/segments/s00/ports/q; expect "ports inside the subtree exist" 200 "d['_revision']" "$((R0 + 1))"
req "$ADMIN" PATCH /api/v1/projects/pg '{"segments":{"s24":null,"s23":{"description":"x"}}}'
expect "PATCH deletes (null) and updates children" 200
req "$ADMIN" GET /api/v1/projects/pg/segments/s24; expect_err "deleted child is gone" 404 NOT_FOUND

# ---- pagination and filters
seen=""; cursor=""; pages=0
while :; do
  req "$ADMIN" GET "/api/v1/projects/pg/segments?page_size=10${cursor:+&cursor=$cursor}"
  [ "$ST" = 200 ] || break
  seen="$seen $(jv "' '.join(x['id'] for x in d['results'])")"
  pages=$((pages + 1))
  cursor=$(jv "d.get('cursor','')")
  [ -z "$cursor" ] && break
  [ "$pages" -gt 10 ] && break
done
n=$(echo $seen | wc -w); u=$(echo $seen | tr ' ' '\n' | sort -u | wc -w)
[ "$n" = 24 ] && [ "$u" = 24 ] && [ "$pages" = 3 ] && ok "pagination: 24 objects in 3 pages, no repeats" || bad "pagination: $n objects ($u unique) in $pages pages"
req "$ADMIN" GET "/api/v1/projects/pg/segments?page_size=10"; C1=$(jv "d['cursor']")
req "$ADMIN" PUT /api/v1/projects/pg/segments/s099 '{"vni":199}'
req "$ADMIN" GET "/api/v1/projects/pg/segments?page_size=100&cursor=$C1"
expect "a cursor pins its snapshot revision" 200 "d['result_count']" 14
req "$ADMIN" GET "/api/v1/projects/pg/segments?tag=tier%7Cdb";  expect "filter by tag scope|value" 200 "[x['id'] for x in d['results']]" "['s00', 's05']"
req "$ADMIN" GET "/api/v1/projects/pg/segments?tag=db";         expect "filter by tag value" 200 "d['result_count']" 2
req "$ADMIN" GET "/api/v1/projects/pg/segments?vni=107";        expect "filter by field" 200 "[x['id'] for x in d['results']]" "['s07']"
req "$ADMIN" GET "/api/v1/projects/pg/segments/s00/ports?attachment.host=hx"; expect "filter by nested field" 200 "d['result_count']" 1
req "$ADMIN" GET "/api/v1/projects/pg/segments?color=red";      expect_err "filter on an unknown field: 400" 400 INVALID_QUERY color
req "$ADMIN" GET "/api/v1/projects/pg/segments?page_size=0";    expect_err "page_size 0: 400" 400 INVALID_QUERY page_size
req "$ADMIN" GET "/api/v1/projects/pg/segments?page_size=5000"; expect_err "page_size too big: 400" 400 INVALID_QUERY page_size
req "$ADMIN" GET "/api/v1/projects/pg/segments?page_size=%2B5"; expect_err "page_size with a sign: 400" 400 INVALID_QUERY page_size
req "$ADMIN" GET "/api/v1/projects/pg/segments?page_size=%205";  expect_err "page_size with a blank: 400" 400 INVALID_QUERY page_size
req "$ADMIN" GET "/api/v1/projects/pg/segments?cursor=junk";    expect_err "bad cursor: 400" 400 INVALID_QUERY cursor
req "$ADMIN" GET "/api/v1/projects/nope/segments";              expect_err "list under a missing parent: 404" 404 PARENT_NOT_FOUND

# ---- watch
HEAD=$(head_rev)
( curl -s -m 20 -H "Authorization: Bearer $ADMIN" "$BASE/api/v1/watch?from=$((HEAD + 1))&timeout=15&prefix=/api/v1/hosts" > "$D/watch.out" ) &
WPID=$!; PIDS+=("$WPID")
sleep 0.5
req "$ADMIN" PUT /api/v1/projects/default/segments/wseg '{}'      # not under the prefix
req "$ADMIN" PUT /api/v1/hosts/hw '{"tunnel_endpoint":"192.0.2.77"}'
t0=$SECONDS; wait "$WPID"
cp "$D/watch.out" "$D/out"
[ $((SECONDS - t0)) -lt 5 ] && ok "parked watch answered on commit" || bad "watch waited for its timeout"
ST=200; expect "watch returns only the prefix's events" 200 "[(e['type'], e['path']) for e in d['events']]" "[('put', '/api/v1/hosts/hw')]" "d['next_revision']" "$((HEAD + 3))"
req "$ADMIN" GET "/api/v1/watch?from=$((HEAD + 1))&timeout=0"
expect "watch from a revision replays every change" 200 "[e['path'] for e in d['events']]" "['/api/v1/projects/default/segments/wseg', '/api/v1/hosts/hw']"
req "$ADMIN" DELETE /api/v1/hosts/hw
req "$ADMIN" GET "/api/v1/watch?from=$((HEAD + 3))&timeout=1"
expect "watch reports deletes" 200 "[(e['type'], 'object' in e) for e in d['events']]" "[('delete', False)]"
t0=$SECONDS
req "$ADMIN" GET "/api/v1/watch?from=$(( $(head_rev) + 1 ))&timeout=1"
expect "watch with nothing new times out empty" 200 "d['events']" "[]"
req "$ADMIN" GET "/api/v1/watch?from=1&timeout=999"; expect_err "watch timeout out of range: 400" 400 INVALID_QUERY timeout
req "$ADMIN" GET "/api/v1/watch?bogus=1";            expect_err "watch unknown parameter: 400" 400 INVALID_QUERY bogus

# ---- streaming watch
# stream.py URL TOKEN N SECONDS: reads a watch stream, printing one JSON
# line per line until N non-heartbeat lines, EOF or SECONDS pass.
cat > "$D/stream.py" <<'PY'
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); want = int(sys.argv[3]); t_end = time.time() + float(sys.argv[4])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=float(sys.argv[4]))
c.request("GET", u.path + "?" + u.query, headers={"Authorization": "Bearer " + sys.argv[2]})
r = c.getresponse()
print(json.dumps({"status": r.status, "type": r.getheader("Content-Type")}), flush=True)
n = 0
try:
    while n < want and time.time() < t_end:
        line = r.readline()
        if not line:
            print(json.dumps({"eof": True}), flush=True); break
        d = json.loads(line)
        print(json.dumps(d), flush=True)
        n += d.get("type") != "heartbeat"
except Exception as e:
    print(json.dumps({"exception": str(e)}), flush=True)
PY
# jl EXPR: evaluates EXPR over 'L', the lines of $D/out parsed.
jl() { python3 -c 'import json,sys
L=[json.loads(x) for x in open(sys.argv[1]) if x.strip()]
E=[x for x in L[1:] if x.get("type") in ("put","delete")]
print(eval(sys.argv[2]))' "$D/out" "$1" 2>/dev/null; }
HEAD=$(head_rev)
python3 "$D/stream.py" "$BASE/api/v1/watch?stream=1&from=$((HEAD + 1))&prefix=/api/v1/hosts&heartbeat=1" "$ADMIN" 4 20 > "$D/stream.out" &
SPID=$!; PIDS+=("$SPID")
sleep 0.5
req "$ADMIN" PUT /api/v1/hosts/st1 '{"tunnel_endpoint":"192.0.2.101"}'
req "$ADMIN" PUT /api/v1/projects/default/segments/stseg '{}'          # not under the prefix
req "$ADMIN" PUT /api/v1/hosts/st2 '{"tunnel_endpoint":"192.0.2.102"}'
req "$ADMIN" DELETE /api/v1/hosts/st1
sleep 1.5
req "$ADMIN" PUT /api/v1/hosts/st3 '{"tunnel_endpoint":"192.0.2.103"}'
wait "$SPID"; cp "$D/stream.out" "$D/out"
[ "$(jl "L[0]['status'], L[0]['type']")" = "(200, 'application/x-ndjson')" ] && ok "stream=1: 200 application/x-ndjson" || bad "stream response head: $(head -1 "$D/out")"
[ "$(jl "[(e['type'], e['path'].split('/')[-1], e['revision']) for e in E]")" = "[('put', 'st1', $((HEAD + 1))), ('put', 'st2', $((HEAD + 3))), ('delete', 'st1', $((HEAD + 4))), ('put', 'st3', $((HEAD + 5)))]" ] \
  && ok "stream: one line per change, in revision order, prefix applied" || bad "stream events: $(jl "[(e['type'], e['path'], e['revision']) for e in E]")"
[ "$(jl "any(x.get('type')=='heartbeat' and x['next_revision']==$((HEAD + 5)) for x in L)")" = True ] && ok "stream: heartbeat lines while idle, with next_revision" || bad "stream heartbeats: $(cat "$D/out")"
[ "$(jl "E[0]['object']['tunnel_endpoint']")" = 192.0.2.101 ] && ok "stream: put lines carry the object" || bad "stream object"
python3 "$D/stream.py" "$BASE/api/v1/watch?stream=1&from=$((HEAD + 3))&prefix=/api/v1/hosts" "$ADMIN" 3 10 > "$D/out"
[ "$(jl "[(e['type'], e['revision']) for e in E]")" = "[('put', $((HEAD + 3))), ('delete', $((HEAD + 4))), ('put', $((HEAD + 5)))]" ] \
  && ok "stream resumes from a given revision (backlog first)" || bad "stream resume: $(cat "$D/out")"
ST=$(curl -s -m 3 -o "$D/out" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -H 'Accept: application/x-ndjson' "$BASE/api/v1/watch?from=$((HEAD + 5))")
[ "$(head -1 "$D/out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')" = /api/v1/hosts/st3 ] && ok "Accept: application/x-ndjson selects the stream" || bad "Accept ndjson: $ST $(head -c 300 "$D/out")"
req "$ADMIN" GET "/api/v1/watch?stream=2";      expect_err "stream=2: 400" 400 INVALID_QUERY stream
req "$ADMIN" GET "/api/v1/watch?stream=1&heartbeat=0"; expect_err "heartbeat=0: 400" 400 INVALID_QUERY heartbeat
req "$ADMIN" GET "/api/v1/watch?from=$((HEAD + 1))&timeout=0"
expect "long poll still works beside streams" 200 "[e['path'].split('/')[-1] for e in d['events']]" "['st1', 'stseg', 'st2', 'st1', 'st3']"
req "$ADMIN" DELETE /api/v1/hosts/st2; req "$ADMIN" DELETE /api/v1/hosts/st3; req "$ADMIN" DELETE /api/v1/projects/default/segments/stseg

# ---- tokens and RBAC
req "$ADMIN" POST /api/v1/tokens '{"name":"pa-admin","role":"project-admin","projects":["pa"]}'
expect "create a project-admin token" 201 "d['role']" project-admin
PA=$(jv "d['token']"); PAID=$(jv "d['id']")
req "$ADMIN" POST /api/v1/tokens '{"name":"aud","role":"auditor"}';  expect "create an auditor token" 201
AUD=$(jv "d['token']")
req "$ADMIN" POST /api/v1/tokens '{"name":"x","role":"root"}';       expect_err "bad role: 400" 400 BAD_FORMAT role
req "$ADMIN" POST /api/v1/tokens '{"name":"x","role":"project-admin"}'; expect_err "project-admin without projects: 400" 400 MISSING_FIELD projects
req "$ADMIN" GET /api/v1/tokens; expect "list tokens without secrets" 200 "len(d['results'])" 3 "any('hash' in t or 'token' in t for t in d['results'])" False
req "$ADMIN" PUT /api/v1/projects/pa '{}'; req "$ADMIN" PUT /api/v1/projects/pb '{}'
R0=$(head_rev)
# role | method | path | body | expected status
while IFS='|' read -r who method path body want; do
  [ -z "$who" ] && continue
  case $who in pa) tok=$PA ;; aud) tok=$AUD ;; esac
  if [ -n "$body" ]; then req "$tok" "$method" "$path" "$body"; else req "$tok" "$method" "$path"; fi
  if [ "$ST" = "$want" ]; then ok "rbac: $who $method $path -> $want"; else bad "rbac: $who $method $path -> $ST (want $want)"; fi
done <<'EOF_RBAC'
aud|GET|/api/v1/projects||200
aud|GET|/api/v1/projects/pa||200
aud|GET|/api/v1/projects/default/segments||200
aud|GET|/api/v1/projects/default/segments/web||200
aud|GET|/api/v1/projects/default/segments/web/ports||200
aud|GET|/api/v1/projects/default/segments/web/ports/p1||200
aud|GET|/api/v1/projects/default/groups||200
aud|GET|/api/v1/projects/default/groups/g1||200
aud|GET|/api/v1/hosts||200
aud|GET|/api/v1/hosts/h1||200
aud|GET|/api/v1/audit||200
aud|GET|/api/v1/tokens||200
aud|GET|/api/v1/status||200
aud|GET|/api/v1/watch?from=1&timeout=0||200
aud|PUT|/api/v1/projects/px|{}|403
aud|POST|/api/v1/projects|{"id":"px"}|403
aud|PATCH|/api/v1/projects/pa|{}|403
aud|DELETE|/api/v1/projects/pa||403
aud|PUT|/api/v1/projects/pa/segments/s|{}|403
aud|POST|/api/v1/projects/pa/segments|{"id":"s"}|403
aud|PATCH|/api/v1/projects/default/segments/web|{}|403
aud|DELETE|/api/v1/projects/default/segments/db||403
aud|PUT|/api/v1/projects/default/segments/web/ports/x|{}|403
aud|POST|/api/v1/projects/default/segments/web/ports|{"id":"x"}|403
aud|PATCH|/api/v1/projects/default/segments/web/ports/p1|{}|403
aud|DELETE|/api/v1/projects/default/segments/web/ports/p1||403
aud|PUT|/api/v1/projects/default/groups/gx|{}|403
aud|POST|/api/v1/projects/default/groups|{"id":"gx"}|403
aud|PATCH|/api/v1/projects/default/groups/g1|{}|403
aud|DELETE|/api/v1/projects/default/groups/g1||403
aud|PUT|/api/v1/hosts/hz|{"tunnel_endpoint":"192.0.2.9"}|403
aud|POST|/api/v1/hosts|{"id":"hz","tunnel_endpoint":"192.0.2.9"}|403
aud|PATCH|/api/v1/hosts/h1|{}|403
aud|DELETE|/api/v1/hosts/hx||403
aud|PATCH|/api/v1|{}|403
aud|POST|/api/v1/tokens|{"name":"x","role":"admin"}|403
aud|DELETE|/api/v1/tokens/0123456789abcdef||403
pa|GET|/api/v1/projects/pa||200
pa|GET|/api/v1/projects/pb||403
pa|GET|/api/v1/projects/default/segments||403
pa|GET|/api/v1/projects/default/segments/web/ports/p1||403
pa|GET|/api/v1/projects/default/groups/g1||403
pa|PUT|/api/v1/projects/pb|{}|403
pa|PUT|/api/v1/projects/pa|{}|403
pa|POST|/api/v1/projects|{"id":"pc"}|403
pa|DELETE|/api/v1/projects/pa||403
pa|PUT|/api/v1/projects/default/segments/x|{}|403
pa|PUT|/api/v1/hosts/hz|{"tunnel_endpoint":"192.0.2.9"}|403
pa|POST|/api/v1/hosts|{"id":"hz","tunnel_endpoint":"192.0.2.9"}|403
pa|PATCH|/api/v1/hosts/h1|{}|403
pa|DELETE|/api/v1/hosts/hx||403
pa|GET|/api/v1/hosts||200
pa|GET|/api/v1/hosts/h1||200
pa|GET|/api/v1/audit||403
pa|GET|/api/v1/tokens||403
pa|POST|/api/v1/tokens|{"name":"x","role":"admin"}|403
pa|PATCH|/api/v1|{"projects":{"default":{"description":"x"}}}|403
pa|PATCH|/api/v1|{"projects":{"pa":{"segments":{"bad":null}}},"hosts":{"h1":{}}}|403
pa|GET|/api/v1/status||200
EOF_RBAC
[ "$(head_rev)" = "$R0" ] && ok "no denied request changed the store" || bad "a denied request changed the store"
req "$PA" GET /api/v1/projects; expect "project-admin lists only its projects" 200 "[p['id'] for p in d['results']]" "['pa']"
req "$PA" PATCH /api/v1/projects/pa '{"description":"mine"}';                 expect "project-admin patches its project" 200
req "$PA" PUT /api/v1/projects/pa/segments/s1 '{}';                           expect "project-admin creates a segment" 201
req "$PA" POST /api/v1/projects/pa/segments '{"id":"s2"}';                    expect "project-admin POSTs a segment" 201
req "$PA" PUT /api/v1/projects/pa/segments/s1/ports/x '{"attachment":{"host":"h1","vif":"t1"}}'; expect "project-admin creates a port on a host" 201
req "$PA" PUT /api/v1/projects/pa/groups/g '{"members":["/api/v1/projects/pa/segments/s1"]}'; expect "project-admin creates a group" 201
req "$PA" PATCH /api/v1 '{"projects":{"pa":{"segments":{"s3":{}}}}}';         expect "project-admin subtree PATCH in its project" 200
req "$PA" DELETE /api/v1/projects/pa/segments/s2;                             expect "project-admin deletes a segment" 204
req "$PA" GET "/api/v1/watch?from=1&timeout=0"
expect "project-admin watch shows only its projects and hosts" 200 "all(e['path'].startswith('/api/v1/projects/pa/') or e['path']=='/api/v1/projects/pa' or e['path'].startswith('/api/v1/hosts/') for e in d['events']) and len(d['events'])>0" True
req "$ADMIN" DELETE "/api/v1/tokens/$PAID";  expect "revoke a token" 204
req "$PA" GET /api/v1/projects/pa;           expect_err "revoked token: 401" 401 UNAUTHENTICATED

# ---- audit log
req "$ADMIN" PUT /api/v1/hosts/ha '{"tunnel_endpoint":"192.0.2.88"}'; AREV=$(hdr X-Weft-Revision)
req "$ADMIN" GET "/api/v1/audit?from=$AREV&page_size=5"
expect "audit entry: who, what, which revision" 200 "(d['results'][0]['revision'], d['results'][0]['user'], d['results'][0]['method'], d['results'][0]['path'])" "($AREV, 'bootstrap', 'PUT', '/api/v1/hosts/ha')"
req "$ADMIN" GET "/api/v1/audit?page_size=1000"
expect "every committed write is audited (one entry per write revision)" 200 "len(d['results']) >= 20 and all(e['revision']>0 for e in d['results'])" True
req "$AUD" GET "/api/v1/audit?from=1&page_size=1000"
expect "audit shows project-admin writes under its token" 200 "any(e['user']=='pa-admin' and e['path']=='/api/v1/projects/pa/segments/s1' for e in d['results'])" True

# ---- hostile input
R0=$(head_rev)
req "$ADMIN" PUT /api/v1/hosts/hh '{"tunnel_endpoint":';               expect_err "truncated JSON" 400 BAD_JSON
req "$ADMIN" PUT /api/v1/hosts/hh '{"tunnel_endpoint":"1.2.3.4",}';    expect_err "trailing comma" 400 BAD_JSON
req "$ADMIN" PUT /api/v1/hosts/hh '{"a":1,"a":2}';                     expect_err "duplicate keys" 400 BAD_JSON
req "$ADMIN" PUT /api/v1/hosts/hh '{"tunnel_endpoint":"1.2.3.4\u0000"}'; expect_err "NUL in a string" 400 BAD_JSON
req "$ADMIN" PUT /api/v1/hosts/hh "$(printf '{"display_name":"\xff\xfe","tunnel_endpoint":"1.2.3.4"}')"; expect_err "invalid UTF-8" 400 BAD_JSON
req "$ADMIN" PUT /api/v1/hosts/hh "$(printf '{"display_name":"\xc0\xaf","tunnel_endpoint":"1.2.3.4"}')"; expect_err "overlong UTF-8" 400 BAD_JSON
python3 -c 'print("["*200000 + "]"*200000)' > "$D/deep.json"
req "$ADMIN" PUT /api/v1/hosts/hh "@$D/deep.json";                     expect_err "200000-deep nesting" 400 BAD_JSON
python3 -c 'print("{\"display_name\":" + "{\"a\":"*3000 + "1" + "}"*3000 + ",\"tunnel_endpoint\":\"1.2.3.4\"}")' > "$D/deep2.json"
req "$ADMIN" PUT /api/v1/hosts/hh "@$D/deep2.json";                    [ "${ST:0:1}" = 4 ] && ok "deeply nested objects: $ST" || bad "deep objects: $ST"
python3 -c 'print("{\"display_name\":\"" + "x"*2000000 + "\"}")' > "$D/huge.json"
req "$ADMIN" PUT /api/v1/hosts/hh "@$D/huge.json";                     expect_err "2 MB body over a 1 MiB limit: 413" 413 BODY_TOO_LARGE
python3 -c 'import json; print(json.dumps({"tunnel_endpoint":"1.2.3.4","tags":[{"tag":str(i)} for i in range(10000)]}))' > "$D/many.json"
req "$ADMIN" PUT /api/v1/hosts/hh "@$D/many.json";                     expect_err "10000 tags" 400 TOO_MANY tags
for p in '/api/v1/projects/../hosts' '/api/v1/projects/default/segments/%2e%2e' '/api/v1/projects/default%2Fsegments' \
         '/api/v1//projects' '/api/v1/projects/./default' '/api/v1/projects/default/' '/api/v1/hosts/h1%00' \
         "/api/v1/hosts/$(printf 'a%.0s' $(seq 65))" '/api/v1/hosts/-x' '/api/v1/hosts/.hidden' '/api/v1/hosts/a;b'; do
  req "$ADMIN" PUT "$p" '{"tunnel_endpoint":"1.2.3.4"}'
  [ "$ST" = 400 ] && [ "$(jv "d['error']")" = INVALID_PATH ] && ok "path trick rejected: $p" || bad "path trick $p -> $ST"
done
req "$ADMIN" GET "/api/v1/hosts/$(python3 -c 'print("a"*100000)')"; [ "${ST:0:1}" = 4 ] && ok "100 kB URL: $ST" || bad "100 kB URL: $ST"
req "$ADMIN" GET "/api/v1/projects/default/segments?tag=%zz";       expect_err "malformed percent-encoding in the query" 400 INVALID_QUERY
for name in "'; DROP TABLE log; --" '<script>alert(1)</script>' '" OR 1=1 --' '${jndi:ldap://x}' '../../etc/passwd' '名前 🚀'; do
  body=$(python3 -c 'import json,sys; print(json.dumps({"tunnel_endpoint":"192.0.2.99","display_name":sys.argv[1]}))' "$name")
  req "$ADMIN" PUT /api/v1/hosts/inj "$body"
  got=$(jv "d['display_name']")
  [ "$ST" -lt 300 ] && [ "$got" = "$name" ] && ok "injection string stored verbatim: $name" || bad "injection string $name -> $ST '$got'"
done
req "$ADMIN" DELETE /api/v1/hosts/inj
req "$ADMIN" GET /api/v1/hosts/hh;  expect_err "nothing stored by hostile requests" 404 NOT_FOUND
[ "$(head_rev)" = "$((R0 + 7))" ] && ok "only the 6 injection writes and their delete committed" || bad "unexpected revision $(head_rev) vs $R0"
kill -0 "${PIDS[1]}" && ok "weftd survived everything" || bad "weftd died"

# ---- compaction: 410 on a compacted watch, stream and list cursor; slow
# stream clients are cut off at the --watch-buffer bound
mkdir -p "$D/c"
if start_weftd "$D/c" --insecure-http --retention 20 --watch-buffer 4096; then
  SAVED_BASE=$BASE; BASE=http://127.0.0.1:$PORT; CT=$(cat "$D/c/admin.token")
  req "$CT" PUT /api/v1/hosts/c1 '{"tunnel_endpoint":"192.0.2.1"}'
  req "$CT" PUT /api/v1/hosts/c2 '{"tunnel_endpoint":"192.0.2.2"}'
  req "$CT" GET "/api/v1/hosts?page_size=1"; OLDCUR=$(jv "d['cursor']")
  # Automatic compaction runs once the head is retention + 500 past it.
  python3 - "$BASE" "$CT" <<'PY'
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
for i in range(560):
    c.request("PUT", "/api/v1/hosts/c2", body='{"tunnel_endpoint":"192.0.2.2","description":"%d"}' % i,
              headers={"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
    c.getresponse().read()
PY
  for _ in $(seq 1 100); do req "$CT" GET /api/v1/status; [ "$(jv "d['compacted'] > 0")" = True ] && break; sleep 0.05; done
  expect "store compacted after retention + a step" 200 "d['compacted'] > 10" True
  req "$CT" GET "/api/v1/watch?from=1&timeout=0"; expect_err "long-poll watch from a compacted revision: 410" 410 COMPACTED from
  ST=$(curl -s -m 5 -o "$D/out" -w '%{http_code}' -H "Authorization: Bearer $CT" "$BASE/api/v1/watch?from=2&stream=1")
  expect_err "streaming watch from a compacted revision: 410 before streaming" 410 COMPACTED from
  req "$CT" GET "/api/v1/hosts?page_size=1&cursor=$OLDCUR"; expect_err "list cursor at a compacted revision: 410" 410 COMPACTED cursor
  req "$CT" GET /api/v1/status; C0=$(jv "d['compacted']")
  req "$CT" GET "/api/v1/watch?from=$((C0 + 1))&timeout=0"; expect "watch from compacted + 1 works" 200 "len(d['events']) > 0" True

  # A client that never reads: the server queues at most --watch-buffer
  # bytes (plus socket buffers), then ends the stream with SLOW_CONSUMER.
  req "$CT" GET /api/v1/status; HEAD=$(jv "d['revision']")
  python3 - "$BASE" "$CT" "$HEAD" > "$D/slow.out" <<'PY' &
import socket, sys, time, urllib.parse, json
u = urllib.parse.urlsplit(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((u.hostname, u.port))
s.sendall(("GET /api/v1/watch?stream=1&from=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (int(sys.argv[3]) + 1, sys.argv[2])).encode())
time.sleep(6)   # do not read while the writes happen
data = b""; s.settimeout(10)
while True:
    try: b = s.recv(65536)
    except socket.timeout: break
    if not b: break
    data += b
body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
lines = [l for l in body.split(b"\n") if l.startswith(b"{")]
last = json.loads(lines[-1]) if lines else {}
print(json.dumps({"ended": data.endswith(b"0\r\n\r\n"), "events": sum(1 for l in lines if b'"put"' in l), "last": last}))
PY
  SLOW=$!; PIDS+=("$SLOW")
  sleep 0.5
  python3 - "$BASE" "$CT" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
for b in range(20):
    body = {"hosts": {"s%02d%03d" % (b, i): {"tunnel_endpoint": "192.0.2.9", "description": "x" * 400} for i in range(250)}}
    c.request("PATCH", "/api/v1", body=json.dumps(body), headers={"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
    c.getresponse().read()
PY
  RSS=$(awk '/VmRSS/ {print $2}' "/proc/$LAST_PID/status")
  wait "$SLOW"; cp "$D/slow.out" "$D/out"; ST=200
  expect "slow stream client is cut off with SLOW_CONSUMER and the stream ends" 200 "d['ended']" True "d['last']['error']" SLOW_CONSUMER "d['last']['type']" error "d['events'] < 5000" True
  NEXT=$(jv "d['last']['next_revision']")
  req "$CT" GET "/api/v1/watch?from=$NEXT&timeout=0&max=1"
  expect "watch resumes from the cut-off's next_revision" 200 "d['events'][0]['revision']" "$NEXT"
  kill "$LAST_PID"; wait "$LAST_PID" && ok "weftd with streams and compaction stops cleanly (RSS ${RSS} kB)" || bad "weftd exit after compaction tests"
  BASE=$SAVED_BASE
else
  bad "weftd starts with --retention 20 --watch-buffer 4096"
fi

# ---- HTTPS by default, plain HTTP only on loopback
mkdir -p "$D/tls"
if start_weftd "$D/tls"; then
  TOK=$(cat "$D/tls/admin.token")
  ST=$(curl -s -o "$D/out" -w '%{http_code}' --cacert "$D/tls/cert.pem" -H "Authorization: Bearer $TOK" "https://127.0.0.1:$PORT/api/v1/status")
  expect "HTTPS with the generated self-signed certificate" 200
  ST=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/status")
  [ "$ST" != 200 ] && ok "plain HTTP is refused on the HTTPS port" || bad "plain HTTP served on the HTTPS port"
  [ "$(stat -c %a "$D/tls/key.pem")" = 600 ] && ok "TLS key is 0600" || bad "TLS key mode"
  kill "$LAST_PID"; wait "$LAST_PID"
  [ $? = 0 ] && ok "SIGTERM stops weftd cleanly" || bad "weftd exit status on SIGTERM"
else
  bad "weftd starts with TLS"
fi
mkdir -p "$D/open"
"$WEFTD" --state-dir "$D/open" --port 0 --insecure-http --listen 0.0.0.0 2>/dev/null
[ $? -ne 0 ] && ok "plain HTTP on a non-loopback address is refused" || bad "plain HTTP on 0.0.0.0 started"

kill "$WATCHDOG" 2>/dev/null
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
