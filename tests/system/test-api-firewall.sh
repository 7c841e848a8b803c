#!/usr/bin/env bash
# API tests of the distributed-firewall model: groups (static members of
# every kind, addresses, criteria), services, security policies and their
# rules, the deployment's firewall settings and SpoofGuard fields.  A real
# weftd on loopback driven with curl: creates, every validation rule with
# its field, references (400 on a bad one, 409 when deleting a referenced
# object), subtree PATCH atomicity, filters and RBAC per role.
# Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/../.."
API_TEST=test-api-firewall
source tests/system/api-lib.sh


mkdir -p "$D/s"
if ! start_weftd "$D/s" --insecure-http; then
  bad "weftd starts"; cat "$D/s.log"; echo "$PASS passed, $FAIL failed"; exit 1
fi
WPID=$LAST_PID
BASE=http://127.0.0.1:$PORT
ADMIN=$(cat "$D/s/admin.token")
A=/api/v1/projects/default
ok "weftd starts"

# ---- setup: segments with SpoofGuard, ports with names and tags
req "$ADMIN" PUT $A/segments/web '{"subnets":[{"gateway_address":"10.1.1.1/24"}],"spoofguard":"enabled"}'
expect "segment with spoofguard enabled" 201 "d['spoofguard']" enabled
req "$ADMIN" PUT $A/segments/db '{"subnets":[{"gateway_address":"10.2.0.1/24"}]}'
expect "segment without spoofguard (default disabled, not stored)" 201 "'spoofguard' in d" False
req "$ADMIN" PUT $A/segments/web/ports/w1 '{"display_name":"web-01","ip_addresses":["10.1.1.5"],"tags":[{"scope":"tier","tag":"web"}]}'
expect "port (spoofguard absent = inherit)" 201 "'spoofguard' in d" False
req "$ADMIN" PUT $A/segments/web/ports/w2 '{"ip_addresses":["10.1.1.6"],"spoofguard":"disabled"}'
expect "port overriding its segment's spoofguard" 201 "d['spoofguard']" disabled
req "$ADMIN" PATCH $A/segments/web/ports/w2 '{"spoofguard":"inherit"}'
expect "port spoofguard back to inherit" 200 "d['spoofguard']" inherit
req "$ADMIN" PUT $A/segments/db/ports/d1 '{"ip_addresses":["10.2.0.5"]}'; expect "db port" 201
req "$ADMIN" PUT $A/segments/web '{"spoofguard":"on"}';      expect_err "segment spoofguard: bad value" 400 BAD_FORMAT spoofguard
req "$ADMIN" PUT $A/segments/web/ports/w3 '{"spoofguard":"inherited"}'; expect_err "port spoofguard: bad value" 400 BAD_FORMAT spoofguard
req "$ADMIN" PUT /api/v1/projects/other '{}'
req "$ADMIN" PUT /api/v1/projects/other/segments/x '{}'
req "$ADMIN" PUT /api/v1/projects/other/groups/og '{}'
req "$ADMIN" PUT /api/v1/projects/other/services/os '{"service_entries":[{"protocol":"UDP"}]}'; expect "a service in another project" 201

# ---- groups
req "$ADMIN" PUT $A/groups/web-ports '{"members":["/api/v1/projects/default/segments/web/ports/w1","/api/v1/projects/default/segments/web"],"criteria":[{"conditions":[{"key":"tag","operator":"equals","value":"tier|web"},{"key":"segment","operator":"equals","value":"web"}]},{"conditions":[{"key":"name","operator":"starts_with","value":"web-"}]}]}'
expect "group with port and segment members and two criteria" 201 "len(d['criteria'])" 2 "d['criteria'][0]['conditions'][1]['value']" web
req "$ADMIN" PUT $A/groups/addrs '{"ip_addresses":["10.9.0.0/16","10.8.1.1","fd00::/64","2001:db8::1"],"mac_addresses":["02:AB:CD:00:00:01","02:00:00:00:00:02"]}'
expect "group with addresses and MACs (MACs stored in lower case)" 201 "d['ip_addresses']" "['10.9.0.0/16', '10.8.1.1', 'fd00::/64', '2001:db8::1']" "d['mac_addresses']" "['02:ab:cd:00:00:01', '02:00:00:00:00:02']"
req "$ADMIN" PUT $A/groups/all '{"members":["/api/v1/projects/default/groups/web-ports","/api/v1/projects/default/groups/addrs","/api/v1/projects/default/segments/db/ports/d1"]}'
expect "group with group members" 201 "len(d['members'])" 3
req "$ADMIN" PUT $A/groups/tags '{"criteria":[{"conditions":[{"key":"tag","operator":"equals","value":"|prod"}]},{"conditions":[{"key":"tag","operator":"equals","value":"tier|"}]},{"conditions":[{"key":"tag","operator":"equals","value":"prod"}]},{"conditions":[{"key":"name","operator":"contains","value":"db"},{"key":"name","operator":"ends_with","value":"-1"}]}]}'
expect "group with every tag value form and name operators" 201 "len(d['criteria'])" 4
python3 -c 'import json; print(json.dumps({"ip_addresses": ["10.%d.%d.0/24" % (i // 256, i % 256) for i in range(500)]}))' > "$D/500.json"
req "$ADMIN" PUT $A/groups/big "$(cat "$D/500.json")"; expect "group with 500 addresses" 201 "len(d['ip_addresses'])" 500
python3 -c 'import json; print(json.dumps({"ip_addresses": ["10.%d.%d.0/24" % (i // 256, i % 256) for i in range(501)]}))' > "$D/501.json"

R0=$(head_rev)
G=$A/groups/v
cases $G <<'EOF_CASES'
{"members":"x"}|WRONG_TYPE|members
{"members":["/api/v1/hosts/h1"]}|INVALID_REFERENCE|members[0]
{"members":["/api/v1/projects/default/services/s"]}|INVALID_REFERENCE|members[0]
{"members":["/api/v1/projects/default/groups/nope"]}|INVALID_REFERENCE|members[0]
{"members":["/api/v1/projects/other/groups/og"]}|INVALID_REFERENCE|members[0]
{"members":["/api/v1/projects/other/segments/x"]}|INVALID_REFERENCE|members[0]
{"members":["/api/v1/projects/default/groups/addrs","/api/v1/projects/default/groups/v"]}|INVALID_REFERENCE|members[1]
{"members":["groups/addrs"]}|BAD_FORMAT|members[0]
{"members":["/api/v1/projects/default/groups/addrs","/api/v1/projects/default/groups/addrs"]}|DUPLICATE|members[1]
{"ip_addresses":["10.1.1.1/24"]}|BAD_FORMAT|ip_addresses[0]
{"ip_addresses":["10.1.1.0/33"]}|BAD_FORMAT|ip_addresses[0]
{"ip_addresses":["fd00::1/64"]}|BAD_FORMAT|ip_addresses[0]
{"ip_addresses":["not-an-ip"]}|BAD_FORMAT|ip_addresses[0]
{"ip_addresses":[10]}|WRONG_TYPE|ip_addresses[0]
{"ip_addresses":["10.0.0.1","10.0.0.1/32"]}|DUPLICATE|ip_addresses[1]
{"ip_addresses":["fd00::5","FD00:0::5"]}|DUPLICATE|ip_addresses[1]
{"mac_addresses":["02:00:00:00:00:01","02:00:00:00:00:0g"]}|BAD_FORMAT|mac_addresses[1]
{"mac_addresses":["ff:ff:ff:ff:ff:ff"]}|BAD_FORMAT|mac_addresses[0]
{"mac_addresses":["02:aa:00:00:00:01","02:AA:00:00:00:01"]}|DUPLICATE|mac_addresses[1]
{"criteria":{}}|WRONG_TYPE|criteria
{"criteria":[{}]}|MISSING_FIELD|criteria[0].conditions
{"criteria":[{"conditions":[]}]}|OUT_OF_RANGE|criteria[0].conditions
{"criteria":[{"conditions":[{"key":"name","operator":"equals","value":"a"}],"match":"any"}]}|UNKNOWN_FIELD|criteria[0].match
{"criteria":[{"conditions":[{"key":"ip","operator":"equals","value":"a"}]}]}|BAD_FORMAT|criteria[0].conditions[0].key
{"criteria":[{"conditions":[{"key":"name","operator":"like","value":"a"}]}]}|BAD_FORMAT|criteria[0].conditions[0].operator
{"criteria":[{"conditions":[{"key":"name","operator":"equals"}]}]}|MISSING_FIELD|criteria[0].conditions[0].value
{"criteria":[{"conditions":[{"key":"name","operator":"equals","value":""}]}]}|OUT_OF_RANGE|criteria[0].conditions[0].value
{"criteria":[{"conditions":[{"key":"name","operator":"equals","value":"a"},{"key":"tag","operator":"contains","value":"x"}]}]}|BAD_FORMAT|criteria[0].conditions[1].operator
{"criteria":[{"conditions":[{"key":"segment","operator":"starts_with","value":"w"}]}]}|BAD_FORMAT|criteria[0].conditions[0].operator
{"criteria":[{"conditions":[{"key":"segment","operator":"equals","value":"../web"}]}]}|BAD_FORMAT|criteria[0].conditions[0].value
{"criteria":[{"conditions":[{"key":"segment","operator":"equals","value":"nope"}]}]}|INVALID_REFERENCE|criteria[0].conditions[0].value
{"criteria":[{"conditions":[{"key":"name","operator":"equals","value":"a"}]},{"conditions":[{"key":"name","operator":"equals","value":"a"}]}]}|DUPLICATE|criteria[1]
{"criteria":[{"conditions":[{"key":"name","operator":"equals","value":"1"},{"key":"name","operator":"equals","value":"2"},{"key":"name","operator":"equals","value":"3"},{"key":"name","operator":"equals","value":"4"},{"key":"name","operator":"equals","value":"5"},{"key":"name","operator":"equals","value":"6"}]}]}|TOO_MANY|criteria[0].conditions
{"criteria":[{"conditions":[{"key":"name","operator":"equals","value":"1"}]},{"conditions":[{"key":"name","operator":"equals","value":"2"}]},{"conditions":[{"key":"name","operator":"equals","value":"3"}]},{"conditions":[{"key":"name","operator":"equals","value":"4"}]},{"conditions":[{"key":"name","operator":"equals","value":"5"}]},{"conditions":[{"key":"name","operator":"equals","value":"6"}]}]}|TOO_MANY|criteria
EOF_CASES
req "$ADMIN" PUT $G "$(cat "$D/501.json")";  expect_err "group: 501 addresses" 400 TOO_MANY ip_addresses
req "$ADMIN" PUT $G '{"criteria":[{"conditions":[{"key":"tag","operator":"equals","value":"|"}]}]}'
expect_err "group: tag condition '|' (neither scope nor tag)" 400 BAD_FORMAT "criteria[0].conditions[0].value"
req "$ADMIN" PUT $G "{\"criteria\":[{\"conditions\":[{\"key\":\"tag\",\"operator\":\"equals\",\"value\":\"$(printf 's%.0s' $(seq 129))|t\"}]}]}"
expect_err "group: tag condition with a scope over 128 characters" 400 BAD_FORMAT "criteria[0].conditions[0].value"
req "$ADMIN" PUT $A/groups/web-ports '{"members":["/api/v1/projects/default/groups/web-ports"]}'
expect_err "group naming itself: 400 at members[0]" 400 INVALID_REFERENCE "members[0]"
req "$ADMIN" PATCH $A/groups/addrs '{"members":["/api/v1/projects/default/groups/all"]}'
expect_err "group containing itself through another group: 400" 400 INVALID_REFERENCE "members[0]"
jv "d['message']" | grep -q "groups/all" && ok "the cycle is named in the message" || bad "cycle message"
req "$ADMIN" PUT $A/groups/deep '{"members":["/api/v1/projects/default/groups/all"]}'; expect "a group of a group of groups" 201
req "$ADMIN" PATCH $A/groups/web-ports '{"members":["/api/v1/projects/default/groups/deep"]}'
expect_err "a longer cycle is refused too" 400 INVALID_REFERENCE "members[0]"
[ "$(head_rev)" = "$((R0 + 1))" ] && ok "rejected group writes stored nothing (one good write)" || bad "rejected group writes changed the store"
req "$ADMIN" GET $A/groups/web-ports; expect "the refused PATCH left the group as it was" 200 "len(d['members'])" 2

# References from groups: 409 on delete, naming the group.
req "$ADMIN" DELETE $A/segments/web/ports/w1
expect "delete a port a group names: 409" 409 "d['error']" REFERENCED "d['related']" "['$A/groups/web-ports']"
req "$ADMIN" DELETE $A/groups/addrs
expect "delete a group another group names: 409" 409 "d['error']" REFERENCED "d['related']" "['$A/groups/all']"
req "$ADMIN" PUT $A/segments/tmp '{}'
req "$ADMIN" PUT $A/groups/by-seg '{"criteria":[{"conditions":[{"key":"segment","operator":"equals","value":"tmp"}]}]}'; expect "group with a segment condition" 201
req "$ADMIN" DELETE $A/segments/tmp
expect "delete a segment a condition names: 409" 409 "d['error']" REFERENCED "d['related']" "['$A/groups/by-seg']"
req "$ADMIN" PATCH $A/groups/by-seg '{"criteria":null}'; expect "drop the condition" 200
req "$ADMIN" DELETE $A/segments/tmp; expect "then the segment can go" 204

# ---- services
req "$ADMIN" PUT $A/services/web '{"service_entries":[{"protocol":"TCP","destination_ports":["80","443","8000-8080"]}]}'
expect "service: TCP ports and a range" 201 "d['resource_type']" Service "d['service_entries'][0]['destination_ports']" "['80', '443', '8000-8080']"
req "$ADMIN" POST $A/services '{"id":"mixed","service_entries":[{"protocol":"UDP"},{"protocol":"ICMPv4","icmp_type":8,"icmp_code":0},{"protocol":"ICMPv6","icmp_type":128},{"protocol":"IP","protocol_number":47}]}'
expect "service: any UDP, ICMP echo, ICMPv6, GRE (POST)" 201 "len(d['service_entries'])" 4
req "$ADMIN" PUT $A/services/dns '{"service_entries":[{"protocol":"UDP","destination_ports":["53"]},{"protocol":"TCP","destination_ports":["53"]}]}'; expect "service: dns" 201
S=$A/services/v
cases $S <<'EOF_CASES'
{}|MISSING_FIELD|service_entries
{"service_entries":[]}|OUT_OF_RANGE|service_entries
{"service_entries":{}}|WRONG_TYPE|service_entries
{"service_entries":[{}]}|MISSING_FIELD|service_entries[0].protocol
{"service_entries":[{"protocol":"tcp"}]}|BAD_FORMAT|service_entries[0].protocol
{"service_entries":[{"protocol":"TCP","port":80}]}|UNKNOWN_FIELD|service_entries[0].port
{"service_entries":[{"protocol":"TCP","destination_ports":[]}]}|OUT_OF_RANGE|service_entries[0].destination_ports
{"service_entries":[{"protocol":"TCP","destination_ports":[80]}]}|WRONG_TYPE|service_entries[0].destination_ports[0]
{"service_entries":[{"protocol":"TCP","destination_ports":["0"]}]}|BAD_FORMAT|service_entries[0].destination_ports[0]
{"service_entries":[{"protocol":"TCP","destination_ports":["65536"]}]}|BAD_FORMAT|service_entries[0].destination_ports[0]
{"service_entries":[{"protocol":"TCP","destination_ports":["90-80"]}]}|BAD_FORMAT|service_entries[0].destination_ports[0]
{"service_entries":[{"protocol":"TCP","destination_ports":["80-"]}]}|BAD_FORMAT|service_entries[0].destination_ports[0]
{"service_entries":[{"protocol":"TCP","destination_ports":["http"]}]}|BAD_FORMAT|service_entries[0].destination_ports[0]
{"service_entries":[{"protocol":"TCP","destination_ports":["22","22"]}]}|DUPLICATE|service_entries[0].destination_ports[1]
{"service_entries":[{"protocol":"TCP","destination_ports":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16"]}]}|TOO_MANY|service_entries[0].destination_ports
{"service_entries":[{"protocol":"UDP"},{"protocol":"ICMPv4","destination_ports":["1"]}]}|BAD_FORMAT|service_entries[1].destination_ports
{"service_entries":[{"protocol":"IP","protocol_number":6,"destination_ports":["1"]}]}|BAD_FORMAT|service_entries[0].destination_ports
{"service_entries":[{"protocol":"TCP","icmp_type":8}]}|BAD_FORMAT|service_entries[0].icmp_type
{"service_entries":[{"protocol":"UDP","icmp_code":0}]}|BAD_FORMAT|service_entries[0].icmp_code
{"service_entries":[{"protocol":"ICMPv4","icmp_code":0}]}|MISSING_FIELD|service_entries[0].icmp_type
{"service_entries":[{"protocol":"ICMPv4","icmp_type":256}]}|OUT_OF_RANGE|service_entries[0].icmp_type
{"service_entries":[{"protocol":"ICMPv6","icmp_type":1,"icmp_code":-1}]}|OUT_OF_RANGE|service_entries[0].icmp_code
{"service_entries":[{"protocol":"ICMPv4","icmp_type":"8"}]}|WRONG_TYPE|service_entries[0].icmp_type
{"service_entries":[{"protocol":"IP"}]}|MISSING_FIELD|service_entries[0].protocol_number
{"service_entries":[{"protocol":"IP","protocol_number":256}]}|OUT_OF_RANGE|service_entries[0].protocol_number
{"service_entries":[{"protocol":"TCP","protocol_number":6}]}|BAD_FORMAT|service_entries[0].protocol_number
{"service_entries":[{"protocol":"ICMPv6","protocol_number":58}]}|BAD_FORMAT|service_entries[0].protocol_number
{"service_entries":[{"protocol":"UDP"},{"protocol":"UDP"}]}|DUPLICATE|service_entries[1]
EOF_CASES
python3 -c 'import json; print(json.dumps({"service_entries": [{"protocol": "TCP", "destination_ports": [str(i + 1)]} for i in range(65)]}))' > "$D/65.json"
req "$ADMIN" PUT $S "$(cat "$D/65.json")"; expect_err "service: 65 entries" 400 TOO_MANY service_entries

# ---- security policies
req "$ADMIN" PUT $A/security-policies/app '{}'
expect "policy with defaults (absent, not stored)" 201 "d['resource_type']" SecurityPolicy "[k for k in ('category','sequence_number','scope','stateful') if k in d]" "[]"
req "$ADMIN" PUT $A/security-policies/emerg '{"category":"emergency","sequence_number":10,"scope":["/api/v1/projects/default/groups/web-ports"],"stateful":false}'
expect "policy with category, sequence, scope, stateless" 201 "d['category']" emergency "d['stateful']" False "d['sequence_number']" 10
req "$ADMIN" POST $A/security-policies '{"id":"env","category":"environment","scope":[]}'; expect "policy with an empty scope (POST)" 201
P=$A/security-policies/v
cases $P <<'EOF_CASES'
{"category":"critical"}|BAD_FORMAT|category
{"category":1}|WRONG_TYPE|category
{"sequence_number":-1}|OUT_OF_RANGE|sequence_number
{"sequence_number":1000000000}|OUT_OF_RANGE|sequence_number
{"sequence_number":"1"}|WRONG_TYPE|sequence_number
{"sequence_number":1.0}|WRONG_TYPE|sequence_number
{"stateful":"yes"}|WRONG_TYPE|stateful
{"stateful":0}|WRONG_TYPE|stateful
{"scope":"/api/v1/projects/default/groups/addrs"}|WRONG_TYPE|scope
{"scope":["/api/v1/projects/default/segments/web"]}|INVALID_REFERENCE|scope[0]
{"scope":["/api/v1/projects/default/groups/addrs","/api/v1/projects/default/groups/nope"]}|INVALID_REFERENCE|scope[1]
{"scope":["/api/v1/projects/other/groups/og"]}|INVALID_REFERENCE|scope[0]
{"scope":["/api/v1/projects/default/groups/addrs","/api/v1/projects/default/groups/addrs"]}|DUPLICATE|scope[1]
{"action":"allow"}|UNKNOWN_FIELD|action
{"rules":{}}|UNKNOWN_FIELD|rules
EOF_CASES

# ---- rules
RP=$A/security-policies/app/rules
req "$ADMIN" PUT $RP/r1 '{"action":"allow","source_groups":["/api/v1/projects/default/groups/all"],"destination_groups":["/api/v1/projects/default/groups/web-ports"],"services":["/api/v1/projects/default/services/web"],"service_entries":[{"protocol":"ICMPv4","icmp_type":8}],"direction":"in","ip_protocol":"ipv4","logged":true,"scope":["/api/v1/projects/default/groups/web-ports"],"notes":"web from everyone","sequence_number":100}'
expect "rule with every field" 201 "d['resource_type']" Rule "d['path']" "$RP/r1" "d['logged']" True "d['direction']" in
req "$ADMIN" POST $RP '{"id":"r2","action":"drop","sequence_number":200}'
expect "minimal rule (POST): defaults not stored" 201 "[k for k in ('direction','ip_protocol','logged','disabled','sequence_number') if k in d]" "['sequence_number']"
req "$ADMIN" PUT $RP/r0 '{"action":"reject","sequence_number":50,"destination_groups":["/api/v1/projects/default/groups/addrs"],"services":["/api/v1/projects/default/services/dns","/api/v1/projects/default/services/mixed"],"disabled":true}'
expect "rule inserted before the others by sequence number" 201 "d['disabled']" True
req "$ADMIN" GET $RP/r1; expect "an inserted rule does not change other rules' ids" 200 "d['id']" r1 "d['sequence_number']" 100
R=$RP/v
cases $R <<'EOF_CASES'
{}|MISSING_FIELD|action
{"action":"deny"}|BAD_FORMAT|action
{"action":null}|MISSING_FIELD|action
{"action":"allow","direction":"both"}|BAD_FORMAT|direction
{"action":"allow","ip_protocol":"ipv4_6"}|BAD_FORMAT|ip_protocol
{"action":"allow","logged":"true"}|WRONG_TYPE|logged
{"action":"allow","disabled":1}|WRONG_TYPE|disabled
{"action":"allow","sequence_number":1000000000}|OUT_OF_RANGE|sequence_number
{"action":"allow","notes":7}|WRONG_TYPE|notes
{"action":"allow","source_groups":["/api/v1/projects/default/groups/nope"]}|INVALID_REFERENCE|source_groups[0]
{"action":"allow","source_groups":["/api/v1/projects/default/services/web"]}|INVALID_REFERENCE|source_groups[0]
{"action":"allow","destination_groups":["/api/v1/projects/default/groups/addrs","/api/v1/projects/other/groups/og"]}|INVALID_REFERENCE|destination_groups[1]
{"action":"allow","destination_groups":["/api/v1/projects/default/groups/addrs","/api/v1/projects/default/groups/addrs"]}|DUPLICATE|destination_groups[1]
{"action":"allow","services":["/api/v1/projects/default/services/nope"]}|INVALID_REFERENCE|services[0]
{"action":"allow","services":["/api/v1/projects/default/groups/addrs"]}|INVALID_REFERENCE|services[0]
{"action":"allow","services":["/api/v1/projects/other/services/os"]}|INVALID_REFERENCE|services[0]
{"action":"allow","services":["/api/v1/projects/default/services/web/x"]}|BAD_FORMAT|services[0]
{"action":"allow","scope":["/api/v1/projects/default/segments/web/ports/w1"]}|INVALID_REFERENCE|scope[0]
{"action":"allow","scope":["/api/v1/projects/default/groups/gone"]}|INVALID_REFERENCE|scope[0]
{"action":"allow","service_entries":[{"protocol":"TCP","destination_ports":["0-1"]}]}|BAD_FORMAT|service_entries[0].destination_ports[0]
{"action":"allow","service_entries":[{"protocol":"ICMPv6","icmp_code":1}]}|MISSING_FIELD|service_entries[0].icmp_type
{"action":"allow","service_entries":[{"protocol":"IP"}]}|MISSING_FIELD|service_entries[0].protocol_number
{"action":"allow","service_entries":[{"protocol":"UDP","protocol_number":17}]}|BAD_FORMAT|service_entries[0].protocol_number
{"action":"allow","rules":{}}|UNKNOWN_FIELD|rules
EOF_CASES
python3 -c 'import json; print(json.dumps({"action":"allow","notes":"x"*2049}))' > "$D/notes.json"
req "$ADMIN" PUT $R "$(cat "$D/notes.json")"; expect_err "rule: notes too long" 400 TOO_LONG notes
python3 -c 'import json; print(json.dumps({"action":"allow","source_groups":["/api/v1/projects/default/groups/g%d" % i for i in range(129)]}))' > "$D/129.json"
req "$ADMIN" PUT $R "$(cat "$D/129.json")"; expect_err "rule: 129 source groups" 400 TOO_MANY source_groups
req "$ADMIN" PUT $A/security-policies/nope/rules/r '{"action":"allow"}'; expect_err "rule under a missing policy: 404" 404 PARENT_NOT_FOUND ""
req "$ADMIN" PUT /api/v1/projects/default/services/web/rules/r '{"action":"allow"}'; expect_err "rules only live under policies" 404 ROUTE_NOT_FOUND ""

# ---- filters on the new fields
req "$ADMIN" GET "$RP?action=drop";       expect "filter rules by action" 200 "[x['id'] for x in d['results']]" "['r2']"
req "$ADMIN" GET "$RP?logged=true";       expect "filter rules by a boolean" 200 "[x['id'] for x in d['results']]" "['r1']"
req "$ADMIN" GET "$A/security-policies?category=emergency"; expect "filter policies by category" 200 "[x['id'] for x in d['results']]" "['emerg']"
req "$ADMIN" GET "$A/segments?spoofguard=enabled"; expect "filter segments by spoofguard" 200 "[x['id'] for x in d['results']]" "['web']"

# ---- deleting referenced objects: 409 naming the referrers
req "$ADMIN" DELETE $A/services/web
expect "delete a service a rule uses: 409 naming the rule" 409 "d['error']" REFERENCED "d['related']" "['$RP/r1']" "'$RP/r1' in d['message']" True
req "$ADMIN" DELETE $A/groups/all
expect "delete a source group: 409 naming the rule and the group" 409 "d['error']" REFERENCED "d['related']" "['$A/groups/deep', '$RP/r1']"
req "$ADMIN" DELETE $A/groups/web-ports
expect "delete a group used as destination, rule scope and policy scope: 409 naming all" 409 "d['error']" REFERENCED "sorted(d['related'])" "['$A/groups/all', '$A/security-policies/app/rules/r1', '$A/security-policies/emerg']"
req "$ADMIN" DELETE $A/security-policies/app
expect "delete a policy with rules: 409 HAS_CHILDREN naming them" 409 "d['error']" HAS_CHILDREN "sorted(d['related'])" "['$RP/r0', '$RP/r1', '$RP/r2']"
req "$ADMIN" PATCH $RP/r1 '{"services":null}';   expect "a rule drops a service" 200 "'services' in d" False
req "$ADMIN" DELETE $A/services/web;             expect "then the service can be deleted" 204
req "$ADMIN" PUT $RP/r1 '{"action":"allow"}';    expect "PUT replaces a rule: its references are released" 200 "sorted(d)" "['_create_time', '_last_modified', '_revision', 'action', 'id', 'path', 'resource_type']"
req "$ADMIN" DELETE $A/groups/deep;              expect "delete the group that names another group" 204
req "$ADMIN" DELETE $A/groups/all;               expect "then that group (no longer referenced) can be deleted" 204

# ---- subtree PATCH of a policy with inline rules: atomic
req "$ADMIN" GET $RP/r0; R0REV=$(jv "d['_revision']")
R0=$(head_rev)
req "$ADMIN" PATCH $A/security-policies/app '{"sequence_number":5,"rules":{"r3":{"action":"allow"},"r4":{"action":"maybe"}}}'
expect_err "policy PATCH with one bad inline rule: 400 naming it" 400 BAD_FORMAT rules.r4.action
req "$ADMIN" PATCH $A/security-policies/app '{"rules":{"r3":{"action":"allow","source_groups":["/api/v1/projects/default/groups/nope"]}}}'
expect_err "policy PATCH with a dangling reference in a rule: 400 naming it" 400 INVALID_REFERENCE "rules.r3.source_groups[0]"
req "$ADMIN" PATCH $A/security-policies/app '{"rules":{"r3":{"action":"allow"},"r1":null,"r9":null}}'
expect_err "policy PATCH deleting a missing rule: 404, nothing done" 404 NOT_FOUND rules.r9
req "$ADMIN" GET $RP/r3; expect_err "nothing of the failed PATCHes exists" 404 NOT_FOUND ""
req "$ADMIN" GET $A/security-policies/app; expect "the policy is unchanged" 200 "'sequence_number' in d" False
req "$ADMIN" GET $RP/r1; expect "the rule to delete is still there" 200
[ "$(head_rev)" = "$R0" ] && ok "failed policy PATCHes changed nothing" || bad "failed policy PATCH changed the store"
req "$ADMIN" PATCH $A/security-policies/app '{"sequence_number":5,"rules":{"r3":{"action":"allow","sequence_number":300},"r4":{"action":"drop","service_entries":[{"protocol":"TCP","destination_ports":["22"]}]},"r1":null,"r2":{"logged":true}}}'
expect "policy PATCH: update, create, change and delete rules in one revision" 200 "d['sequence_number']" 5 "d['_revision']" "$((R0 + 1))"
req "$ADMIN" GET $RP; expect "the rules after the PATCH" 200 "sorted((x['id'], x['_revision']) for x in d['results'])" "[('r0', $R0REV), ('r2', $((R0 + 1))), ('r3', $((R0 + 1))), ('r4', $((R0 + 1)))]"
req "$ADMIN" GET $RP/r2; expect "a merged rule keeps its other fields" 200 "(d['action'], d['logged'], d['sequence_number'])" "('drop', True, 200)"
req "$ADMIN" PATCH /api/v1 '{"projects":{"default":{"groups":{"ga":{"ip_addresses":["192.0.2.0/24"]},"gb":{"members":["/api/v1/projects/default/groups/ga"]}},"services":{"ssh":{"service_entries":[{"protocol":"TCP","destination_ports":["22"]}]}},"security-policies":{"infra":{"category":"infrastructure","scope":["/api/v1/projects/default/groups/gb"],"rules":{"a":{"action":"allow","source_groups":["/api/v1/projects/default/groups/ga"],"services":["/api/v1/projects/default/services/ssh"]}}}}}}}'
expect "root PATCH creating groups, a service, a policy and a rule that reference each other" 200
REV=$(jv "d['_revision']")
req "$ADMIN" GET $A/security-policies/infra/rules/a; expect "...all in one revision" 200 "d['_revision']" "$REV"
req "$ADMIN" DELETE $A/services/ssh; expect "...and the references are indexed" 409 "d['related']" "['$A/security-policies/infra/rules/a']"
R0=$(head_rev)
req "$ADMIN" PATCH /api/v1 '{"projects":{"default":{"groups":{"gc":{}},"security-policies":{"infra":{"rules":{"b":{"action":"allow","destination_groups":["/api/v1/projects/default/groups/gd"]}}}}}}}'
expect_err "root PATCH with a rule naming a group that is not created: 400" 400 INVALID_REFERENCE "projects.default.security-policies.infra.rules.b.destination_groups[0]"
req "$ADMIN" GET $A/groups/gc; expect_err "...the group of that PATCH was not created" 404 NOT_FOUND ""
[ "$(head_rev)" = "$R0" ] && ok "failed root PATCH changed nothing" || bad "failed root PATCH changed the store"
req "$ADMIN" PATCH /api/v1 '{"projects":{"default":{"security-policies":{"infra":{"rules":{"a":null}}},"services":{"ssh":null}}}}'
expect "root PATCH deleting a rule and the service it used" 200

# ---- firewall settings
req "$ADMIN" GET /api/v1/settings/firewall;  expect_err "settings absent: GET 404 (the default applies)" 404 NOT_FOUND ""
req "$ADMIN" GET /api/v1/settings;           expect "settings list is empty" 200 "d['results']" "[]"
req "$ADMIN" PUT /api/v1/settings/other '{"default_action":"drop"}'; expect_err "settings: other id: 400 INVALID_PATH" 400 INVALID_PATH ""
jv "d['message']" | grep -q "/api/v1/settings/firewall" && ok "the message names the only valid path" || bad "settings id message"
req "$ADMIN" GET /api/v1/settings/other;     expect_err "settings: GET of another id: 400 too" 400 INVALID_PATH ""
req "$ADMIN" POST /api/v1/settings '{"id":"fw","default_action":"drop"}'; expect_err "settings: POST with another id" 400 BAD_FORMAT id
req "$ADMIN" PATCH /api/v1 '{"settings":{"fw":{}}}'; expect_err "settings: subtree PATCH with another id" 400 BAD_FORMAT settings.fw
req "$ADMIN" PUT /api/v1/settings/firewall '{"default_action":"reject"}'; expect_err "settings: bad default_action" 400 BAD_FORMAT default_action
req "$ADMIN" PUT /api/v1/settings/firewall '{"default_action":"drop","colour":1}'; expect_err "settings: unknown field" 400 UNKNOWN_FIELD colour
req "$ADMIN" PUT /api/v1/settings/firewall '{"default_action":"drop"}'
expect "settings: admin PUT creates" 201 "d['resource_type']" FirewallSettings "d['default_action']" drop "d['path']" /api/v1/settings/firewall
req "$ADMIN" PUT /api/v1/settings/firewall '{}';  expect "settings: PUT without default_action (allow applies)" 200 "'default_action' in d" False
req "$ADMIN" PATCH /api/v1 '{"settings":{"firewall":{"default_action":"allow"}}}'; expect "settings: root PATCH" 200
req "$ADMIN" GET /api/v1/settings/firewall; expect "settings after the PATCH" 200 "d['default_action']" allow
req "$ADMIN" PUT /api/v1/settings/firewall '{"tcp_strict":"yes"}'; expect_err "settings: tcp_strict must be a boolean" 400 WRONG_TYPE tcp_strict
req "$ADMIN" PATCH /api/v1/settings/firewall '{"tcp_strict":true}'; expect "settings: PATCH tcp_strict true" 200 "d['tcp_strict']" True "d['default_action']" allow
req "$ADMIN" GET /api/v1/settings/firewall; expect "settings: tcp_strict stored, default_action kept" 200 "d['tcp_strict']" True "d['default_action']" allow
req "$ADMIN" PATCH /api/v1/settings/firewall '{"tcp_strict":false}'; expect "settings: PATCH tcp_strict false (the default: not stored)" 200 "d.get('tcp_strict', False)" False

# ---- RBAC
req "$ADMIN" PUT /api/v1/projects/pa '{}'
req "$ADMIN" POST /api/v1/tokens '{"name":"pa-admin","role":"project-admin","projects":["pa"]}'; PA=$(jv "d['token']")
req "$ADMIN" POST /api/v1/tokens '{"name":"aud","role":"auditor"}'; AUD=$(jv "d['token']")
req "$PA" PUT /api/v1/projects/pa/groups/g '{"ip_addresses":["10.0.0.0/8"]}';      expect "project-admin creates a group in its project" 201
req "$PA" PUT /api/v1/projects/pa/services/s '{"service_entries":[{"protocol":"UDP"}]}'; expect "project-admin creates a service" 201
req "$PA" PUT /api/v1/projects/pa/security-policies/p '{"scope":["/api/v1/projects/pa/groups/g"]}'; expect "project-admin creates a policy" 201
req "$PA" PUT /api/v1/projects/pa/security-policies/p/rules/r '{"action":"drop","services":["/api/v1/projects/pa/services/s"]}'; expect "project-admin creates a rule" 201
req "$PA" PATCH /api/v1/projects/pa/security-policies/p '{"rules":{"r2":{"action":"allow"}}}'; expect "project-admin patches a policy subtree" 200
req "$PA" PUT /api/v1/projects/pa/security-policies/p/rules/x '{"action":"drop","source_groups":["/api/v1/projects/default/groups/addrs"]}'
expect_err "project-admin cannot reference another project's group" 400 INVALID_REFERENCE "source_groups[0]"
R0=$(head_rev)
while IFS='|' read -r who method path body want; do
  [ -z "$who" ] && continue
  case $who in pa) tok=$PA ;; aud) tok=$AUD ;; esac
  if [ -n "$body" ]; then req "$tok" "$method" "$path" "$body"; else req "$tok" "$method" "$path"; fi
  if [ "$ST" = "$want" ]; then ok "rbac: $who $method $path -> $want"; else bad "rbac: $who $method $path -> $ST (want $want)"; fi
done <<'EOF_RBAC'
aud|GET|/api/v1/projects/default/services||200
aud|GET|/api/v1/projects/default/services/dns||200
aud|GET|/api/v1/projects/default/security-policies||200
aud|GET|/api/v1/projects/default/security-policies/app||200
aud|GET|/api/v1/projects/default/security-policies/app/rules||200
aud|GET|/api/v1/projects/default/security-policies/app/rules/r2||200
aud|GET|/api/v1/settings||200
aud|GET|/api/v1/settings/firewall||200
aud|PUT|/api/v1/projects/default/services/x|{"service_entries":[{"protocol":"UDP"}]}|403
aud|POST|/api/v1/projects/default/services|{"id":"x","service_entries":[{"protocol":"UDP"}]}|403
aud|PATCH|/api/v1/projects/default/services/dns|{}|403
aud|DELETE|/api/v1/projects/default/services/dns||403
aud|PUT|/api/v1/projects/default/security-policies/x|{}|403
aud|PATCH|/api/v1/projects/default/security-policies/app|{"rules":{"z":{"action":"allow"}}}|403
aud|DELETE|/api/v1/projects/default/security-policies/env||403
aud|PUT|/api/v1/projects/default/security-policies/app/rules/x|{"action":"allow"}|403
aud|POST|/api/v1/projects/default/security-policies/app/rules|{"id":"x","action":"allow"}|403
aud|DELETE|/api/v1/projects/default/security-policies/app/rules/r2||403
aud|PUT|/api/v1/settings/firewall|{"default_action":"drop"}|403
aud|PATCH|/api/v1/settings/firewall|{}|403
aud|DELETE|/api/v1/settings/firewall||403
pa|GET|/api/v1/settings||200
pa|GET|/api/v1/settings/firewall||200
pa|PUT|/api/v1/settings/firewall|{"default_action":"drop"}|403
pa|PATCH|/api/v1/settings/firewall|{"default_action":"drop"}|403
pa|POST|/api/v1/settings|{"id":"firewall"}|403
pa|DELETE|/api/v1/settings/firewall||403
pa|PATCH|/api/v1|{"settings":{"firewall":{"default_action":"drop"}}}|403
pa|PATCH|/api/v1|{"projects":{"pa":{"description":"x"}},"settings":{"firewall":{}}}|403
pa|GET|/api/v1/projects/default/services||403
pa|GET|/api/v1/projects/default/security-policies/app||403
pa|GET|/api/v1/projects/default/security-policies/app/rules||403
pa|PUT|/api/v1/projects/default/services/x|{"service_entries":[{"protocol":"UDP"}]}|403
pa|PUT|/api/v1/projects/default/security-policies/app/rules/x|{"action":"allow"}|403
pa|DELETE|/api/v1/projects/default/security-policies/app/rules/r2||403
pa|PATCH|/api/v1|{"projects":{"default":{"security-policies":{"app":{"rules":{"z":{"action":"allow"}}}}}}}|403
EOF_RBAC
[ "$(head_rev)" = "$R0" ] && ok "no denied request changed the store" || bad "a denied request changed the store"
req "$ADMIN" DELETE /api/v1/settings/firewall; expect "admin deletes the settings (the default applies again)" 204
req "$AUD" GET /api/v1/settings/firewall;      expect_err "auditor: settings gone: 404" 404 NOT_FOUND ""

kill "$WPID"; wait "$WPID" && ok "weftd stops cleanly (no sanitizer report)" || { bad "weftd exit status"; tail -20 "$D/s.log"; }
kill "$WATCHDOG" 2>/dev/null
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
