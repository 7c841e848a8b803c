#!/usr/bin/env bash
# API tests of the routing and DHCP model (docs/routing.md, "Model"):
# routers and static routes (CRUD, every validation rule with its field),
# a segment's router reference (400 when dangling, 409 when deleting a
# router in use), subnet dhcp / ipv6_address_mode / dhcpv6 validation, and
# the dynamic_addresses weftd assigns to ports (lowest free, exclusions,
# static bindings, stability across writes, pool exhaustion, EUI-64,
# DHCPv6 stateful pools, read-only enforcement), RBAC, and the `weft`
# CLI's router/route/segment options.  A real weftd on loopback driven
# with curl and weft.  Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/../.."
API_TEST=test-api-routing
source tests/system/api-lib.sh
WEFT=$B/bin/weft

# dyn PORT: the port's dynamic_addresses as a Python list string.
dyn() { req "$ADMIN" GET "$A/segments/$1"; jv "d.get('dynamic_addresses')"; }

mkdir -p "$D/s"
if ! start_weftd "$D/s" --insecure-http; then
  bad "weftd starts"; cat "$D/s.log"; echo "$PASS passed, $FAIL failed"; exit 1
fi
WPID=$LAST_PID
BASE=http://127.0.0.1:$PORT
ADMIN=$(cat "$D/s/admin.token")
A=/api/v1/projects/default
ok "weftd starts"

# ---- routers
req "$ADMIN" PUT $A/routers/t1 '{"display_name":"tier-1","description":"tenant router","tags":[{"scope":"env","tag":"prod"}]}'
expect "router: PUT creates" 201 "d['resource_type']" Router "d['path']" "$A/routers/t1" "d['display_name']" tier-1
req "$ADMIN" POST $A/routers '{"id":"t2"}'; expect "router: POST creates" 201 "d['id']" t2
req "$ADMIN" POST $A/routers '{"id":"t2"}'; expect_err "router: POST of an existing id: 409" 409 ALREADY_EXISTS ""
req "$ADMIN" GET $A/routers; expect "router: list" 200 "[r['id'] for r in d['results']]" "['t1', 't2']"
req "$ADMIN" PATCH $A/routers/t2 '{"description":"second"}'; expect "router: PATCH" 200 "d['description']" second
req "$ADMIN" GET "$A/routers?tag=env|prod"; expect "router: list by tag" 200 "[r['id'] for r in d['results']]" "['t1']"
req "$ADMIN" PUT $A/routers/t2 '{"next_hops":[]}'; expect_err "router: unknown field" 400 UNKNOWN_FIELD next_hops
req "$ADMIN" DELETE $A/routers/t2; expect "router: DELETE" 204
req "$ADMIN" GET $A/routers/t2; expect_err "router: gone" 404 NOT_FOUND ""

# ---- static routes
R=$A/routers/t1/static-routes
req "$ADMIN" PUT $R/default '{"network":"0.0.0.0/0","next_hops":[{"ip_address":"10.1.1.254"},{"ip_address":"10.1.1.253","admin_distance":1}]}'
expect "route: default route with two ECMP next hops" 201 "d['resource_type']" StaticRoute "len(d['next_hops'])" 2 "'admin_distance' in d['next_hops'][0]" False
req "$ADMIN" PUT $R/default-backup '{"network":"0.0.0.0/0","next_hops":[{"ip_address":"10.1.1.250","admin_distance":10}]}'
expect "route: a second route for the same network (distance decides)" 201 "d['next_hops'][0]['admin_distance']" 10
req "$ADMIN" PUT $R/black '{"network":"10.99.0.0/16","discard":true,"admin_distance":250}'
expect "route: discard with a distance" 201 "d['discard']" True "d['admin_distance']" 250
req "$ADMIN" PUT $R/v6 '{"network":"fd00:99::/48","next_hops":[{"ip_address":"fd00:1::fe"}]}'
expect "route: IPv6" 201 "d['network']" "fd00:99::/48"
req "$ADMIN" POST $R '{"id":"host","network":"192.0.2.7/32","discard":true}'; expect "route: POST a /32 discard" 201
req "$ADMIN" GET $R; expect "route: list" 200 "sorted(r['id'] for r in d['results'])" "['black', 'default', 'default-backup', 'host', 'v6']"
req "$ADMIN" PATCH $R/black '{"discard":null,"admin_distance":null,"next_hops":[{"ip_address":"10.1.1.9"}]}'
expect "route: PATCH from discard to next hops" 200 "'discard' in d" False "d['next_hops']" "[{'ip_address': '10.1.1.9'}]"
req "$ADMIN" PATCH $R/black '{"display_name":"b"}'; expect "route: PATCH of a common field only" 200 "d['display_name']" b
req "$ADMIN" PATCH $R/black '{"discard":true}'
expect_err "route: PATCH adding discard to next hops" 400 BAD_FORMAT discard
req "$ADMIN" PUT /api/v1/projects/default/routers/nope/static-routes/x '{"network":"10.0.0.0/8","discard":true}'
expect_err "route: under a missing router: 404" 404 PARENT_NOT_FOUND ""
R0=$(head_rev)
cases $R/bad <<'EOF_CASES'
{"next_hops":[{"ip_address":"10.0.0.1"}]}|MISSING_FIELD|network
{"network":"10.1.1.1/24","next_hops":[{"ip_address":"10.0.0.1"}]}|BAD_FORMAT|network
{"network":"fd00::1/64","discard":true}|BAD_FORMAT|network
{"network":"10.1.0.0/33","discard":true}|BAD_FORMAT|network
{"network":"10.1.0.0","discard":true}|BAD_FORMAT|network
{"network":"10.1.0.0/16"}|MISSING_FIELD|next_hops
{"network":"10.1.0.0/16","discard":false}|MISSING_FIELD|next_hops
{"network":"10.1.0.0/16","discard":true,"next_hops":[{"ip_address":"10.0.0.1"}]}|BAD_FORMAT|discard
{"network":"10.1.0.0/16","next_hops":[]}|OUT_OF_RANGE|next_hops
{"network":"10.1.0.0/16","next_hops":[{}]}|MISSING_FIELD|next_hops[0].ip_address
{"network":"10.1.0.0/16","next_hops":[{"ip_address":"fd00::1"}]}|BAD_FORMAT|next_hops[0].ip_address
{"network":"fd00::/64","next_hops":[{"ip_address":"10.0.0.1"}]}|BAD_FORMAT|next_hops[0].ip_address
{"network":"10.1.0.0/16","next_hops":[{"ip_address":"10.0.0.1"},{"ip_address":"10.0.0.1","admin_distance":5}]}|DUPLICATE|next_hops[1].ip_address
{"network":"10.1.0.0/16","next_hops":[{"ip_address":"10.0.0.1","admin_distance":0}]}|OUT_OF_RANGE|next_hops[0].admin_distance
{"network":"10.1.0.0/16","next_hops":[{"ip_address":"10.0.0.1","admin_distance":256}]}|OUT_OF_RANGE|next_hops[0].admin_distance
{"network":"10.1.0.0/16","next_hops":[{"ip_address":"10.0.0.1","weight":2}]}|UNKNOWN_FIELD|next_hops[0].weight
{"network":"10.1.0.0/16","next_hops":[{"ip_address":"10.0.0.1"}],"admin_distance":5}|BAD_FORMAT|admin_distance
{"network":"10.1.0.0/16","discard":true,"admin_distance":0}|OUT_OF_RANGE|admin_distance
{"network":"10.1.0.0/16","discard":true,"admin_distance":256}|OUT_OF_RANGE|admin_distance
{"network":"10.1.0.0/16","discard":"yes"}|WRONG_TYPE|discard
EOF_CASES
python3 -c 'import json; print(json.dumps({"network":"10.0.0.0/8","next_hops":[{"ip_address":"10.1.1.%d" % i} for i in range(2, 19)]}))' > "$D/17.json"
req "$ADMIN" PUT $R/bad "$(cat "$D/17.json")"; expect_err "route: 17 next hops" 400 TOO_MANY next_hops
[ "$(head_rev)" = "$R0" ] && ok "rejected route writes stored nothing" || bad "rejected route writes changed the store"
req "$ADMIN" DELETE $A/routers/t1; expect "router with static routes: 409 HAS_CHILDREN" 409 "d['error']" HAS_CHILDREN "'$R/default' in d['related']" True

# ---- segment router reference
req "$ADMIN" PUT $A/segments/web '{"router":"nope","subnets":[{"gateway_address":"10.1.1.1/24"}]}'
expect_err "segment: router that does not exist" 400 INVALID_REFERENCE router
req "$ADMIN" PUT $A/segments/web '{"router":"../t1"}'; expect_err "segment: router not an id" 400 BAD_FORMAT router
req "$ADMIN" PUT /api/v1/projects/other '{}'
req "$ADMIN" PUT /api/v1/projects/other/routers/o1 '{}'; expect "a router in another project" 201
req "$ADMIN" PUT $A/segments/web '{"router":"o1"}'; expect_err "segment: another project's router id is not found here" 400 INVALID_REFERENCE router
req "$ADMIN" PUT $A/segments/web '{"router":"t1","subnets":[{"gateway_address":"10.1.1.1/24"}]}'
expect "segment attached to a router" 201 "d['router']" t1
req "$ADMIN" DELETE $A/routers/t1/static-routes/default-backup; expect "route: DELETE" 204
for r in default black v6 host; do req "$ADMIN" DELETE $R/$r; done
req "$ADMIN" DELETE $A/routers/t1
expect "delete a router a segment uses: 409 naming the segment" 409 "d['error']" REFERENCED "d['related']" "['$A/segments/web']" "'segments/web' in d['message']" True
req "$ADMIN" PATCH $A/segments/web '{"router":null}'; expect "detach the segment" 200 "'router' in d" False
req "$ADMIN" DELETE $A/routers/t1; expect "then the router can go" 204
req "$ADMIN" PATCH $A '{"routers":{"t3":{"static-routes":{"s":{"network":"10.0.0.0/8","discard":true}}}},"segments":{"app":{"router":"t3"}}}'
expect "subtree PATCH: router, its route and a segment naming it in one write" 200
req "$ADMIN" GET $A/segments/app; expect "the segment names the new router" 200 "d['router']" t3
req "$ADMIN" PATCH $A '{"routers":{"t3":null}}'; expect_err "subtree PATCH deleting a router in use" 409 HAS_CHILDREN "routers.t3"
req "$ADMIN" PATCH $A '{"segments":{"app":null},"routers":{"t3":{"static-routes":{"s":null}}}}'; expect "delete the segment and the route" 200
req "$ADMIN" PATCH $A '{"routers":{"t3":null}}'; expect "then the router" 200

# ---- subnet services: validation
S=$A/segments/v
cases $S <<'EOF_CASES'
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.2.10-10.1.2.20"]}}]}|OUT_OF_RANGE|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.200-10.1.2.20"]}}]}|OUT_OF_RANGE|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.1-10.1.1.20"]}}]}|OUT_OF_RANGE|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.100/24","dhcp":{"ranges":["10.1.1.10-10.1.1.20","10.1.1.90-10.1.1.110"]}}]}|OUT_OF_RANGE|subnets[0].dhcp.ranges[1]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.0-10.1.1.20"]}}]}|OUT_OF_RANGE|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.200-10.1.1.255"]}}]}|OUT_OF_RANGE|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.20-10.1.1.10"]}}]}|BAD_FORMAT|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.10"]}}]}|BAD_FORMAT|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.10-fd00::1"]}}]}|BAD_FORMAT|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.10 - 10.1.1.20"]}}]}|BAD_FORMAT|subnets[0].dhcp.ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"excluded_ranges":["10.2.1.10-10.2.1.20"]}}]}|OUT_OF_RANGE|subnets[0].dhcp.excluded_ranges[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"static_bindings":[{"mac_address":"01:00:5e:00:00:01","ip_address":"10.1.1.5"}]}}]}|BAD_FORMAT|subnets[0].dhcp.static_bindings[0].mac_address
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"static_bindings":[{"mac_address":"02:00:00:00:00:01","ip_address":"10.1.9.5"}]}}]}|OUT_OF_RANGE|subnets[0].dhcp.static_bindings[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"static_bindings":[{"mac_address":"02:00:00:00:00:01","ip_address":"10.1.1.1"}]}}]}|OUT_OF_RANGE|subnets[0].dhcp.static_bindings[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"static_bindings":[{"mac_address":"02:00:00:00:00:01","ip_address":"10.1.1.5"},{"mac_address":"02:00:00:00:00:02","ip_address":"10.1.1.5"}]}}]}|DUPLICATE|subnets[0].dhcp.static_bindings[1]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"static_bindings":[{"mac_address":"02:00:00:00:00:01","ip_address":"10.1.1.5"},{"mac_address":"02:00:00:00:00:01","ip_address":"10.1.1.6"}]}}]}|DUPLICATE|subnets[0].dhcp.static_bindings[1]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"static_bindings":[{"mac_address":"02:00:00:00:00:01"}]}}]}|MISSING_FIELD|subnets[0].dhcp.static_bindings[0].ip_address
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"lease_time":59}}]}|OUT_OF_RANGE|subnets[0].dhcp.lease_time
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"lease_time":31536001}}]}|OUT_OF_RANGE|subnets[0].dhcp.lease_time
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"dns_servers":["10.0.0.1","10.0.0.2","10.0.0.3","10.0.0.4","10.0.0.5","10.0.0.6","10.0.0.7","10.0.0.8","10.0.0.9"]}}]}|TOO_MANY|subnets[0].dhcp.dns_servers
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"dns_servers":["fd00::53"]}}]}|BAD_FORMAT|subnets[0].dhcp.dns_servers[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"domain_name":"bad_name.example"}}]}|BAD_FORMAT|subnets[0].dhcp.domain_name
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"domain_name":"-a.example"}}]}|BAD_FORMAT|subnets[0].dhcp.domain_name
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"mtu":67}}]}|OUT_OF_RANGE|subnets[0].dhcp.mtu
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"mtu":9001}}]}|OUT_OF_RANGE|subnets[0].dhcp.mtu
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"classless_static_routes":[{"network":"10.9.0.1/16","next_hop":"10.1.1.5"}]}}]}|BAD_FORMAT|subnets[0].dhcp.classless_static_routes[0].network
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"classless_static_routes":[{"network":"10.9.0.0/16","next_hop":"10.2.1.5"}]}}]}|OUT_OF_RANGE|subnets[0].dhcp.classless_static_routes[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"classless_static_routes":[{"network":"fd00::/64","next_hop":"10.1.1.5"}]}}]}|BAD_FORMAT|subnets[0].dhcp.classless_static_routes[0]
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"leases":1}}]}|UNKNOWN_FIELD|subnets[0].dhcp.leases
{"subnets":[{"gateway_address":"fd00:1::1/64","dhcp":{}}]}|BAD_FORMAT|subnets[0].dhcp
{"subnets":[{"gateway_address":"10.1.1.1/24"},{"gateway_address":"10.2.1.1/24","ipv6_address_mode":"slaac"}]}|BAD_FORMAT|subnets[1].ipv6_address_mode
{"subnets":[{"gateway_address":"10.1.1.1/24","dhcpv6":{}}]}|BAD_FORMAT|subnets[0].dhcpv6
{"subnets":[{"gateway_address":"fd00:1::1/64","ipv6_address_mode":"eui64"}]}|BAD_FORMAT|subnets[0].ipv6_address_mode
{"subnets":[{"gateway_address":"fd00:1::1/64","ipv6_address_mode":"dhcpv6_stateful"}]}|MISSING_FIELD|subnets[0].dhcpv6.ranges
{"subnets":[{"gateway_address":"fd00:1::1/64","dhcpv6":{"ranges":["fd00:2::10-fd00:2::20"]}}]}|OUT_OF_RANGE|subnets[0].dhcpv6.ranges[0]
{"subnets":[{"gateway_address":"fd00:1::1/64","dhcpv6":{"ranges":["fd00:1::-fd00:1::20"]}}]}|OUT_OF_RANGE|subnets[0].dhcpv6.ranges[0]
{"subnets":[{"gateway_address":"fd00:1::1/64","dhcpv6":{"dns_servers":["10.0.0.53"]}}]}|BAD_FORMAT|subnets[0].dhcpv6.dns_servers[0]
EOF_CASES
req "$ADMIN" PUT $S "{\"subnets\":[{\"gateway_address\":\"10.1.1.1/24\",\"dhcp\":{\"domain_name\":\"$(printf 'a%.0s' $(seq 64)).example\"}}]}"
expect_err "dhcp: a DNS label over 63 characters" 400 BAD_FORMAT "subnets[0].dhcp.domain_name"
req "$ADMIN" GET $S; expect_err "no invalid segment was stored" 404 NOT_FOUND ""
req "$ADMIN" PUT $S '{"subnets":[{"gateway_address":"10.1.1.1/24","dhcp":{"ranges":["10.1.1.100-10.1.1.200"],"excluded_ranges":["10.1.1.1-10.1.1.110"],"static_bindings":[{"mac_address":"02:00:00:00:00:01","ip_address":"10.1.1.5"}],"lease_time":3600,"dns_servers":["10.1.1.53","8.8.8.8"],"domain_name":"example.internal","mtu":1400,"classless_static_routes":[{"network":"10.9.0.0/16","next_hop":"10.1.1.254"},{"network":"0.0.0.0/0","next_hop":"10.1.1.1"}]}},{"gateway_address":"fd00:1::1/64","ipv6_address_mode":"dhcpv6_stateless","dhcpv6":{"dns_servers":["fd00:1::53"],"domain_name":"example.internal."}}]}'
expect "segment with every DHCP option and a DHCPv6 stateless subnet" 201 "d['subnets'][0]['dhcp']['mtu']" 1400 "d['subnets'][1]['ipv6_address_mode']" dhcpv6_stateless "'lease_time' in d['subnets'][1]" False
req "$ADMIN" DELETE $S; expect "delete it" 204

# ---- dynamic addresses: DHCPv4
# Pool .10-.20 of 10.5.0.0/24 with the gateway at .12, .10-.11 excluded, a
# binding of .14 for MAC :b1, a port holding .13 statically.
req "$ADMIN" PUT $A/segments/d '{"subnets":[{"gateway_address":"10.5.0.12/24","dhcp":{"ranges":["10.5.0.10-10.5.0.11","10.5.0.13-10.5.0.20"],"excluded_ranges":["10.5.0.10-10.5.0.11"],"static_bindings":[{"mac_address":"02:00:00:00:00:b1","ip_address":"10.5.0.14"},{"mac_address":"02:00:00:00:00:b2","ip_address":"10.5.0.99"}]}}]}'
expect "DHCP segment" 201
req "$ADMIN" PUT $A/segments/d/ports/st '{"ip_addresses":["10.5.0.13"]}'
expect "a port with a static address in the subnet gets no dynamic one" 201 "'dynamic_addresses' in d" False
req "$ADMIN" PUT $A/segments/d/ports/p1 '{}'
expect "lowest free: skips excluded, the gateway, static addresses, other MACs' bindings" 201 "d['dynamic_addresses']" "['10.5.0.15']"
req "$ADMIN" PUT $A/segments/d/ports/p2 '{"display_name":"two"}'
expect "the next port gets the next free address" 201 "d['dynamic_addresses']" "['10.5.0.16']"
req "$ADMIN" PUT $A/segments/d/ports/b1 '{"mac_address":"02:00:00:00:00:B1"}'
expect "a static binding's MAC gets its address" 201 "d['dynamic_addresses']" "['10.5.0.14']"
req "$ADMIN" PUT $A/segments/d/ports/b2 '{"mac_address":"02:00:00:00:00:b2"}'
expect "a binding outside the pool is still that MAC's address" 201 "d['dynamic_addresses']" "['10.5.0.99']"
req "$ADMIN" PATCH $A/segments/d/ports/p1 '{"display_name":"one"}'
expect "PATCH keeps the dynamic address" 200 "d['dynamic_addresses']" "['10.5.0.15']"
req "$ADMIN" PUT $A/segments/d/ports/p1 '{"display_name":"one","tags":[{"tag":"x"}]}'
expect "PUT keeps it too" 200 "d['dynamic_addresses']" "['10.5.0.15']"
req "$ADMIN" DELETE $A/segments/d/ports/p1; expect "delete p1 (frees .15)" 204
req "$ADMIN" PATCH $A/segments/d/ports/p2 '{"display_name":"2"}'
expect "p2 keeps .16 although .15 is now lower" 200 "d['dynamic_addresses']" "['10.5.0.16']"
req "$ADMIN" PUT $A/segments/d/ports/p3 '{}'; expect "a new port takes the freed .15" 201 "d['dynamic_addresses']" "['10.5.0.15']"
req "$ADMIN" PUT $A/segments/d/ports/x1 '{"ip_addresses":["10.5.0.16"]}'
expect_err "a static address equal to another port's dynamic one: 409" 409 IP_IN_USE "ip_addresses[0]"
req "$ADMIN" PUT $A/segments/d/ports/x1 '{"ip_addresses":["10.5.0.17"]}'; expect "static .17 (inside the pool)" 201
req "$ADMIN" PUT $A/segments/d/ports/p4 '{}'; expect "the pool skips a static address" 201 "d['dynamic_addresses']" "['10.5.0.18']"
req "$ADMIN" PATCH $A/segments/d/ports/p4 '{"ip_addresses":["10.5.0.200"]}'
expect "a static address in the subnet replaces the dynamic one" 200 "d['ip_addresses']" "['10.5.0.200']" "'dynamic_addresses' in d" False
req "$ADMIN" PATCH $A/segments/d/ports/p4 '{"ip_addresses":null}'
expect "removing it brings a dynamic address back" 200 "d['dynamic_addresses']" "['10.5.0.18']"
req "$ADMIN" PUT $A/segments/d/ports/p5 '{}'; expect ".19" 201 "d['dynamic_addresses']" "['10.5.0.19']"
req "$ADMIN" PUT $A/segments/d/ports/p6 '{}'; expect ".20, the last one" 201 "d['dynamic_addresses']" "['10.5.0.20']"
R0=$(head_rev)
req "$ADMIN" PUT $A/segments/d/ports/p7 '{"display_name":"seven"}'
expect_err "pool exhausted: 409" 409 ADDRESS_POOL_EXHAUSTED dynamic_addresses
jv "d['message']" | grep -q "10.5.0.12/24" && ok "the message names the subnet" || bad "exhaustion message: $(jv "d['message']")"
[ "$(head_rev)" = "$R0" ] && ok "the exhausted write stored nothing" || bad "the exhausted write changed the store"
req "$ADMIN" GET $A/segments/d/ports/p7; expect_err "no port p7" 404 NOT_FOUND ""
req "$ADMIN" PUT $A/segments/d/ports/p7 '{"ip_addresses":["10.5.0.50"]}'; expect "with a static address it fits" 201
req "$ADMIN" PATCH $A/segments/d '{"subnets":[{"gateway_address":"10.5.0.12/24","dhcp":{"ranges":["10.5.0.13-10.5.0.30"]}}]}'
expect "segment write: bindings dropped, pool widened" 200
req "$ADMIN" GET $A/segments/d/ports/b1; expect "existing ports are not rewritten by a segment write" 200 "d['dynamic_addresses']" "['10.5.0.14']"
req "$ADMIN" PATCH $A/segments/d/ports/b2 '{"dynamic_addresses":null}'
expect "PATCH {dynamic_addresses: null} re-assigns (binding gone: lowest free)" 200 "d['dynamic_addresses']" "['10.5.0.21']"
req "$ADMIN" PUT $A/segments/d/ports/p8 '{}'; expect "the widened pool serves new ports" 201 "d['dynamic_addresses']" "['10.5.0.22']"

# subtree PATCH: several new ports in one write get distinct addresses.
req "$ADMIN" PATCH $A/segments/d '{"ports":{"q1":{},"q2":{},"q3":{}}}'; expect "three ports in one PATCH" 200
q=""; for p in q1 q2 q3; do q="$q $(dyn d/ports/$p)"; done
[ "$q" = " ['10.5.0.23'] ['10.5.0.24'] ['10.5.0.25']" ] && ok "one transaction, distinct addresses" || bad "PATCH addresses:$q"

# Read-only enforcement.
req "$ADMIN" PUT $A/segments/d/ports/r1 '{"dynamic_addresses":["10.5.0.26"]}'
expect_err "dynamic_addresses on create: 400 READ_ONLY_FIELD" 400 READ_ONLY_FIELD dynamic_addresses
req "$ADMIN" PATCH $A/segments/d/ports/q1 '{"dynamic_addresses":["10.5.0.29"]}'
expect_err "changing dynamic_addresses: 400" 400 READ_ONLY_FIELD dynamic_addresses
req "$ADMIN" PATCH $A/segments/d '{"ports":{"q1":{"dynamic_addresses":"x"}}}'
expect_err "inside a subtree PATCH too" 400 READ_ONLY_FIELD ports.q1.dynamic_addresses
req "$ADMIN" GET $A/segments/d/ports/q2
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["display_name"]="round-trip"; print(json.dumps(d))' "$D/out" > "$D/q2.json"
req "$ADMIN" PUT $A/segments/d/ports/q2 "$(cat "$D/q2.json")"
expect "a GET body sent back unchanged is accepted" 200 "d['display_name']" round-trip "d['dynamic_addresses']" "['10.5.0.24']"
req "$ADMIN" DELETE $A/segments/d/ports/q3; expect "deleting a port releases its dynamic address" 204
req "$ADMIN" PUT $A/segments/d/ports/x2 '{"ip_addresses":["10.5.0.25"]}'; expect "so another port may take it statically" 201

# ---- dynamic addresses: IPv6
req "$ADMIN" PUT $A/segments/v6 '{"subnets":[{"gateway_address":"fd00:a::1/64"},{"gateway_address":"fd00:b::1/64","ipv6_address_mode":"dhcpv6_stateless"},{"gateway_address":"fd00:c::1/64","ipv6_address_mode":"dhcpv6_stateful","dhcpv6":{"ranges":["fd00:c::100-fd00:c::101"]}},{"gateway_address":"fd00:d::1/64","ipv6_address_mode":"static"},{"gateway_address":"fd00:e::1/80"}]}'
expect "IPv6 segment with every mode" 201
req "$ADMIN" PUT $A/segments/v6/ports/e1 '{"mac_address":"52:54:00:12:34:56"}'
expect "EUI-64 (slaac, stateless), the stateful pool, nothing for static or a /80" 201 "d['dynamic_addresses']" "['fd00:a::5054:ff:fe12:3456', 'fd00:b::5054:ff:fe12:3456', 'fd00:c::100']"
req "$ADMIN" PUT $A/segments/v6/ports/e2 '{"mac_address":"02:00:00:00:00:01","ip_addresses":["fd00:a::99"]}'
expect "a static address in a SLAAC subnet keeps EUI-64 there too (the VM autoconfigures it)" 201 "d['dynamic_addresses']" "['fd00:a::ff:fe00:1', 'fd00:b::ff:fe00:1', 'fd00:c::101']"
req "$ADMIN" PUT $A/segments/v6/ports/e3 '{}'
expect_err "the DHCPv6 pool exhausted" 409 ADDRESS_POOL_EXHAUSTED dynamic_addresses
req "$ADMIN" PUT $A/segments/v6/ports/e3 '{"ip_addresses":["fd00:c::5"]}'; expect "fine with a static address there" 201 "len(d['dynamic_addresses'])" 2
req "$ADMIN" PATCH $A/segments/v6/ports/e1 '{"mac_address":"52:54:00:ab:cd:ef"}'
expect "a new MAC: a new EUI-64 address, the stateful one stays" 200 "d['dynamic_addresses']" "['fd00:a::5054:ff:feab:cdef', 'fd00:b::5054:ff:feab:cdef', 'fd00:c::100']"
req "$ADMIN" PUT $A/segments/v6/ports/e4 '{"ip_addresses":["fd00:a::5054:ff:fe12:3456","fd00:c::6"],"mac_address":"02:00:00:00:00:04"}'
expect "the old EUI-64 address is free again" 201
req "$ADMIN" PUT $A/segments/v6/ports/e5 '{"ip_addresses":["fd00:b::5054:ff:feab:cdef","fd00:c::7"],"mac_address":"02:00:00:00:00:05"}'
expect_err "an EUI-64 address is claimed like any other" 409 IP_IN_USE "ip_addresses[0]"

# ---- RBAC: project rules, like segments
req "$ADMIN" PUT /api/v1/projects/pa '{}'
req "$ADMIN" POST /api/v1/tokens '{"name":"pa-admin","role":"project-admin","projects":["pa"]}'; PA=$(jv "d['token']")
req "$ADMIN" POST /api/v1/tokens '{"name":"aud","role":"auditor"}'; AUD=$(jv "d['token']")
req "$PA" PUT /api/v1/projects/pa/routers/r '{}'; expect "project-admin creates a router in its project" 201
req "$PA" PUT /api/v1/projects/pa/routers/r/static-routes/s '{"network":"10.0.0.0/8","discard":true}'; expect "and a static route" 201
req "$PA" PUT /api/v1/projects/pa/segments/s '{"router":"r"}'; expect "and a segment on it" 201
R0=$(head_rev)
while IFS='|' read -r who method path body want; do
  [ -z "$who" ] && continue
  case $who in pa) tok=$PA ;; aud) tok=$AUD ;; esac
  if [ -n "$body" ]; then req "$tok" "$method" "$path" "$body"; else req "$tok" "$method" "$path"; fi
  if [ "$ST" = "$want" ]; then ok "rbac: $who $method $path -> $want"; else bad "rbac: $who $method $path -> $ST (want $want)"; fi
done <<'EOF_RBAC'
aud|GET|/api/v1/projects/pa/routers||200
aud|GET|/api/v1/projects/pa/routers/r/static-routes/s||200
aud|PUT|/api/v1/projects/pa/routers/x|{}|403
aud|DELETE|/api/v1/projects/pa/routers/r/static-routes/s||403
pa|GET|/api/v1/projects/other/routers||403
pa|GET|/api/v1/projects/other/routers/o1||403
pa|PUT|/api/v1/projects/other/routers/x|{}|403
pa|PUT|/api/v1/projects/other/routers/o1/static-routes/x|{"network":"10.0.0.0/8","discard":true}|403
pa|DELETE|/api/v1/projects/other/routers/o1||403
pa|PATCH|/api/v1|{"projects":{"other":{"routers":{"o1":null}}}}|403
EOF_RBAC
[ "$(head_rev)" = "$R0" ] && ok "no denied request changed the store" || bad "a denied request changed the store"

# ---- CLI
export WEFT_ENDPOINT=$BASE WEFT_TOKEN=$ADMIN HOME=$D/home
# w DESC WANT_RC ARGS...: runs weft, output in $D/out, checks the exit code.
w() {
  local desc=$1 want=$2; shift 2
  "$WEFT" "$@" > "$D/out" 2>&1
  local rc=$?
  [ "$rc" = "$want" ] && ok "cli: $desc" || bad "cli: $desc (exit $rc, want $want)"
}
w "router create" 0 router create edge --name "edge router"
w "router get (json)" 0 -o json router get edge
[ "$(jv "d['display_name']")" = "edge router" ] && ok "cli: router get shows the name" || bad "cli: router get"
w "router list" 0 router list
grep -q "^edge " "$D/out" && ok "cli: router list has the router" || bad "cli: router list"
w "get router (generic verb)" 0 -o json get router edge
w "route create with two next hops" 0 -o json route create r1 --router edge --network 10.20.0.0/16 --next-hop 10.7.0.5 --next-hop 10.7.0.6,20
[ "$(jv "d['next_hops']")" = "[{'ip_address': '10.7.0.5'}, {'ip_address': '10.7.0.6', 'admin_distance': 20}]" ] && ok "cli: next hops and a distance" || bad "cli: route body"
w "route create --discard --distance" 0 -o json route create edge/bh --network 192.0.2.0/24 --discard --distance 200
[ "$(jv "(d['discard'], d['admin_distance'])")" = "(True, 200)" ] && ok "cli: discard route (ROUTER/ID form)" || bad "cli: discard route"
w "route list" 0 route list --router edge
grep -q "10.7.0.5/1,10.7.0.6/20" "$D/out" && grep -q "discard/200" "$D/out" && ok "cli: route list shows next hops and distances" || bad "cli: route list"
w "route get" 0 -o json route get r1 --router edge
w "route without --router: usage" 2 route get r1
grep -q -- "--router" "$D/out" && ok "cli: the usage error names --router" || bad "cli: route usage message"
w "route with both --next-hop and --discard: usage" 2 route create x --router edge --network 10.0.0.0/8 --next-hop 10.0.0.1 --discard
w "route with neither: usage" 2 route create x --router edge --network 10.0.0.0/8
w "route without --network: usage" 2 route create x --router edge --discard
w "route with a non-numeric distance: usage" 2 route create x --router edge --network 10.0.0.0/8 --next-hop 10.0.0.1,far
w "route with host bits: API error" 1 route create x --router edge --network 10.0.0.1/8 --discard
grep -q "network" "$D/out" && ok "cli: the API error names the field" || bad "cli: API error message"
w "segment create with router and DHCP" 0 -o json segment create cs --router edge --subnet 10.30.0.1/24 --subnet fd00:30::1/64 \
  --dhcp-range 10.30.0.100-10.30.0.199 --dhcp-exclude 10.30.0.100-10.30.0.109 --dns 10.30.0.53 --dns fd00:30::53 --domain lab.example \
  --lease-time 600 --dhcp-mtu 1400 --ipv6-mode dhcpv6_stateful --dhcp6-range fd00:30::100-fd00:30::1ff
[ "$(jv "(d['router'], d['subnets'][0]['dhcp'], d['subnets'][1]['ipv6_address_mode'], d['subnets'][1]['dhcpv6'])")" = \
  "('edge', {'dns_servers': ['10.30.0.53'], 'domain_name': 'lab.example', 'ranges': ['10.30.0.100-10.30.0.199'], 'excluded_ranges': ['10.30.0.100-10.30.0.109'], 'lease_time': 600, 'mtu': 1400}, 'dhcpv6_stateful', {'dns_servers': ['fd00:30::53'], 'domain_name': 'lab.example', 'ranges': ['fd00:30::100-fd00:30::1ff']})" ] \
  && ok "cli: segment create body" || bad "cli: segment create body: $(jv "d")"
w "port create gets dynamic addresses" 0 port create cp1 --segment cs --mac 02:00:00:00:30:01
w "port list" 0 list port --segment cs
grep -q "10.30.0.110,fd00:30::100" "$D/out" && ok "cli: port table shows the dynamic addresses" || bad "cli: port dynamic column"
w "segment update merges DHCP options" 0 -o json segment update cs --lease-time 7200 --dhcp-range 10.30.0.100-10.30.0.249
[ "$(jv "(d['subnets'][0]['dhcp']['lease_time'], d['subnets'][0]['dhcp']['ranges'], d['subnets'][0]['dhcp']['mtu'], d['subnets'][1]['ipv6_address_mode'])")" = \
  "(7200, ['10.30.0.100-10.30.0.249'], 1400, 'dhcpv6_stateful')" ] && ok "cli: update kept the other options" || bad "cli: segment update: $(jv "d['subnets']")"
w "segment update --ipv6-mode" 0 -o json segment update cs --ipv6-mode slaac
[ "$(jv "d['subnets'][1]['ipv6_address_mode']")" = slaac ] && ok "cli: IPv6 mode changed" || bad "cli: ipv6 mode"
w "segment update --router ''" 0 -o json segment update cs --router ''
[ "$(jv "'router' in d")" = False ] && ok "cli: segment detached" || bad "cli: detach"
w "segment update --router edge" 0 segment update cs --router edge
w "DHCP options without an IPv4 subnet: usage" 2 segment create c6 --subnet fd00:31::1/64 --dhcp-range 10.0.0.1-10.0.0.2
w "--ipv6-mode without an IPv6 subnet: usage" 2 segment create c4 --subnet 10.31.0.1/24 --ipv6-mode slaac
w "--lease-time not a number: usage" 2 segment create c4 --subnet 10.31.0.1/24 --lease-time long
w "bad range: API error" 1 segment create c4 --subnet 10.31.0.1/24 --dhcp-range 10.31.0.1-10.31.0.9
grep -q "gateway" "$D/out" && ok "cli: the API says the range contains the gateway" || bad "cli: range error"
w "router delete with routes: API error" 1 router delete edge
grep -q "HAS_CHILDREN" "$D/out" && ok "cli: 409 HAS_CHILDREN reported" || bad "cli: delete with routes"
w "route delete" 0 route delete r1 --router edge
w "route delete (ROUTER/ID)" 0 route delete edge/bh
w "router delete in use: API error" 1 router delete edge
grep -q "REFERENCED.*\|segments/cs" "$D/out" && ok "cli: 409 names the segment" || bad "cli: delete in use"
w "segment update --router '' then router delete" 0 segment update cs --router ''
w "router delete" 0 router delete edge
w "help lists the router commands" 0 --help
grep -q "weft route create ID --router R" "$D/out" && ok "cli: help has route create" || bad "cli: help"

kill "$WPID"; wait "$WPID" && ok "weftd stops cleanly (no sanitizer report)" || { bad "weftd exit status"; tail -20 "$D/s.log"; }
kill "$WATCHDOG" 2>/dev/null
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
