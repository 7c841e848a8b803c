/* Unit tests of the control plane: frame decoder (wire.c), the
 * controller's incremental span computation (cpm.c) checked against its
 * own snapshots as a naive reference after random changes, the agent's
 * desired state (agent-state.c), and the order in which a host evaluates
 * the firewall rules the controller sends it (agent-dfw.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-dfw.h"
#include "agent/agent-state.h"
#include "controller/cfw.h"
#include "controller/cpm.h"
#include "datapath/classifier.h"
#include "datapath/dfw.h"
#include "proto/wire.h"
#include "testlib.h"

/* ---- wire ---- */

static size_t
frame_keepalive(uint8_t *buf, uint64_t seq)
{
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    Weft__Keepalive ka = WEFT__KEEPALIVE__INIT;
    struct wire_buf b = {0};
    size_t n;

    env.seq = seq;
    env.body_case = WEFT__ENVELOPE__BODY_KEEPALIVE;
    env.keepalive = &ka;
    n = wire_encode(&b, &env);
    memcpy(buf, b.data, n);
    wire_buf_free(&b);
    return n;
}

TEST(wire_roundtrip_and_partial_frames)
{
    struct wire_decoder d;
    uint8_t buf[64];
    size_t n = frame_keepalive(buf, 1);
    Weft__Envelope *env;
    char err[128];

    wire_decoder_init(&d, 1024);
    wire_decoder_feed(&d, buf, 3);
    CHECK_EQ(wire_decoder_next(&d, &env, err, sizeof err), EAGAIN);
    wire_decoder_feed(&d, buf + 3, n - 4);
    CHECK_EQ(wire_decoder_next(&d, &env, err, sizeof err), EAGAIN);
    wire_decoder_feed(&d, buf + n - 1, 1);
    CHECK_EQ(wire_decoder_next(&d, &env, err, sizeof err), 0);
    CHECK(env && env->body_case == WEFT__ENVELOPE__BODY_KEEPALIVE);
    wire_free(env);
    wire_decoder_destroy(&d);
}

TEST(wire_refuses_oversize_garbage_and_reordering)
{
    static const uint8_t big[] = {0x00, 0x10, 0x00, 0x01};
    static const uint8_t zero[] = {0, 0, 0, 0};
    static const uint8_t junk[] = {0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef};
    struct wire_decoder d;
    Weft__Envelope *env;
    uint8_t buf[64];
    char err[128];

    wire_decoder_init(&d, 1024);
    wire_decoder_feed(&d, big, sizeof big);
    CHECK_EQ(wire_decoder_next(&d, &env, err, sizeof err), EMSGSIZE);
    CHECK(strstr(err, "outside"));
    wire_decoder_destroy(&d);

    wire_decoder_init(&d, 1024);
    wire_decoder_feed(&d, zero, sizeof zero);
    CHECK_EQ(wire_decoder_next(&d, &env, err, sizeof err), EMSGSIZE);
    wire_decoder_destroy(&d);

    wire_decoder_init(&d, 1024);
    wire_decoder_feed(&d, junk, sizeof junk);
    CHECK_EQ(wire_decoder_next(&d, &env, err, sizeof err), EBADMSG);
    wire_decoder_destroy(&d);

    wire_decoder_init(&d, 1024);
    wire_decoder_feed(&d, buf, frame_keepalive(buf, 2));
    CHECK_EQ(wire_decoder_next(&d, &env, err, sizeof err), EPROTO);
    CHECK(strstr(err, "out of order"));
    /* Refusal is final. */
    wire_decoder_feed(&d, buf, frame_keepalive(buf, 1));
    CHECK_EQ(wire_decoder_next(&d, &env, err, sizeof err), EPROTO);
    wire_decoder_destroy(&d);
}

TEST(wire_checks_fields)
{
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    Weft__Update u = WEFT__UPDATE__INIT;
    Weft__LocalPort p = WEFT__LOCAL_PORT__INIT, *pp = &p;
    uint8_t mac[6] = {2, 0, 0, 0, 0, 1}, ip[4] = {10, 0, 0, 1};
    ProtobufCBinaryData ips = {4, ip};
    char err[128];

    env.body_case = WEFT__ENVELOPE__BODY_UPDATE;
    env.update = &u;
    u.revision = 5;
    u.prev_revision = 4;
    u.n_ports = 1;
    u.ports = &pp;
    p.id = "/projects/default/segments/s/ports/p";
    p.segment = "/projects/default/segments/s";
    p.lport = 7;
    p.mac.data = mac;
    p.mac.len = 6;
    p.ifname = "vif0";
    p.n_ips = 1;
    p.ips = &ips;
    CHECK_EQ(wire_check(&env, err, sizeof err), 0);
    p.mac.len = 5;
    CHECK_EQ(wire_check(&env, err, sizeof err), EBADMSG);
    CHECK(strstr(err, "ports[0].mac"));
    p.mac.len = 6;
    mac[0] = 1; /* multicast */
    CHECK_EQ(wire_check(&env, err, sizeof err), EBADMSG);
    mac[0] = 2;
    p.ifname = "this-name-is-too-long";
    CHECK_EQ(wire_check(&env, err, sizeof err), EBADMSG);
    p.ifname = "vif0";
    u.prev_revision = 5;
    CHECK_EQ(wire_check(&env, err, sizeof err), EBADMSG);
}

/* ---- cpm against its own snapshots ---- */

#define N_HOSTS 6
#define N_SEGS  3
#define N_PORTS 24

static struct dstate *agents[N_HOSTS];
static int deltas_to[N_HOSTS];

static int
host_index(const char *id)
{
    return id[1] - '0';
}

static void
on_delta(void *aux, const char *host_id, Weft__Update *u)
{
    char err[256];
    int h = host_index(host_id);
    (void)aux;

    u->prev_revision = dstate_revision(agents[h]);
    if (u->prev_revision >= u->revision) {
        u->prev_revision = u->revision - 1;
    }
    deltas_to[h]++;
    if (dstate_apply(agents[h], u, err, sizeof err)) {
        fprintf(stderr, "apply: %s\n", err);
    }
    cpm_update_free(u);
}

/* Canonical text of a snapshot: sorted lines. */
static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
canon(const Weft__Update *u)
{
    size_t n = 0, cap = 16, len = 1;
    char **lines = malloc(cap * sizeof *lines), *out;
    char buf[1024];

#define ADD(...)                                                               \
    do {                                                                       \
        snprintf(buf, sizeof buf, __VA_ARGS__);                                \
        if (n == cap) {                                                        \
            lines = realloc(lines, (cap *= 2) * sizeof *lines);                \
        }                                                                      \
        lines[n++] = strdup(buf);                                              \
        len += strlen(buf) + 1;                                                \
    } while (0)
    if (u) {
        for (size_t i = 0; i < u->n_segments; i++) {
            const Weft__Segment *sg = u->segments[i];
            ADD("S %s %u %d r=%s gw=%zu dhcp=%d ra=%d", sg->id, sg->vni,
                (int)sg->encap, sg->router, sg->n_gateways,
                sg->dhcp ? (int)sg->dhcp->enabled : -1,
                sg->ipv6 ? (int)sg->ipv6->ra : -1);
        }
        for (size_t i = 0; i < u->n_routes; i++) {
            const Weft__Route *r = u->routes[i];
            ADD("T %s %s %zu/%u %zu %u", r->id, r->router, r->prefix->addr.len,
                r->prefix->plen, r->n_next_hops, r->discard_distance);
        }
        for (size_t i = 0; i < u->n_ports; i++) {
            const Weft__LocalPort *p = u->ports[i];
            char sets[512] = "";
            char **sv = malloc((p->n_port_sets + 1) * sizeof *sv);
            if (p->n_port_sets) {
                memcpy(sv, p->port_sets, p->n_port_sets * sizeof *sv);
            }
            qsort(sv, p->n_port_sets, sizeof *sv, cmp_str);
            for (size_t k = 0; k < p->n_port_sets; k++) {
                strncat(sets, sv[k], sizeof sets - strlen(sets) - 2);
                strcat(sets, ",");
            }
            free(sv);
            ADD("L %s %s %u %02x%02x %zu %s sg=%d sets=%s", p->id, p->segment,
                p->lport, p->mac.data[4], p->mac.data[5], p->n_ips, p->ifname,
                p->spoofguard, sets);
        }
        if (u->host) {
            ADD("D %d", (int)u->host->fw_default);
        }
        for (size_t i = 0; i < u->n_rules; i++) {
            const Weft__FwRule *r = u->rules[i];
            char refs[600] = "";
            for (size_t k = 0; k < r->n_src_sets; k++) {
                strncat(refs, r->src_sets[k], sizeof refs - strlen(refs) - 3);
                strcat(refs, ",");
            }
            strcat(refs, ">");
            for (size_t k = 0; k < r->n_dst_sets; k++) {
                strncat(refs, r->dst_sets[k], sizeof refs - strlen(refs) - 3);
                strcat(refs, ",");
            }
            strcat(refs, "@");
            for (size_t k = 0; k < r->n_applied_to; k++) {
                strncat(refs, r->applied_to[k], sizeof refs - strlen(refs) - 3);
                strcat(refs, ",");
            }
            ADD("W %s %s %llx %zu %u %u %d %d %d %s", r->id, r->project,
                (unsigned long long)r->priority, r->n_services, r->direction,
                r->family, (int)r->action, r->logged, r->stateless, refs);
        }
        for (size_t i = 0; i < u->n_addr_members; i++) {
            const Weft__AddrMember *a = u->addr_members[i];
            ADD("A %s %s %zu %u", a->id, a->set, a->addr.len, a->plen);
        }
        for (size_t i = 0; i < u->n_remotes; i++) {
            const Weft__RemoteBinding *r = u->remotes[i];
            ADD("R %s %s %u %02x%02x %zu %u", r->id, r->segment, r->lport,
                r->mac.data[4], r->mac.data[5], r->n_ips,
                r->vtep.data[r->vtep.len - 1]);
        }
        for (size_t i = 0; i < u->n_floods; i++) {
            ADD("F %s %u", u->floods[i]->id,
                u->floods[i]->vtep.data[u->floods[i]->vtep.len - 1]);
        }
    }
#undef ADD
    qsort(lines, n, sizeof *lines, cmp_str);
    out = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
        free(lines[i]);
    }
    free(lines);
    return out;
}

static unsigned
rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* One random change to groups, services, policies, rules or the
 * firewall settings (project "default", a few of each). */
static void
random_fw_change(struct cpm *m, unsigned *seed, uint64_t rev)
{
    char key[256], value[1024];
    unsigned kind = rnd(seed) % 5, i = rnd(seed) % 4;
    bool del = rnd(seed) % 5 == 0;

    switch (kind) {
    case 0: /* group: tag criterion, static member, nested group, CIDR */
        snprintf(key, sizeof key, "o2/projects/default/groups/g%u", i);
        snprintf(value, sizeof value,
                 "{\"members\":[\"/api/v1/projects/default/segments/s%u/"
                 "ports/p%u\",\"/api/v1/projects/default/groups/g%u\"],"
                 "\"ip_addresses\":[\"192.0.2.%u/32\",\"2001:db8::/%u\"],"
                 "\"criteria\":[{\"conditions\":[{\"key\":\"tag\","
                 "\"operator\":\"equals\",\"value\":\"tier|t%u\"}]},"
                 "{\"conditions\":[{\"key\":\"name\",\"operator\":"
                 "\"ends_with\",\"value\":\"%u\"},{\"key\":\"segment\","
                 "\"operator\":\"equals\",\"value\":\"s%u\"}]}]}",
                 rnd(seed) % N_SEGS, rnd(seed) % N_PORTS, rnd(seed) % 4,
                 rnd(seed) % 4, 32 + rnd(seed) % 3 * 16, rnd(seed) % 3,
                 rnd(seed) % 10, rnd(seed) % N_SEGS);
        break;
    case 1: /* service */
        snprintf(key, sizeof key, "o2/projects/default/services/v%u", i);
        snprintf(value, sizeof value,
                 "{\"service_entries\":[{\"protocol\":\"TCP\","
                 "\"destination_ports\":[\"%u\",\"8000-8080\"]}]}",
                 80 + rnd(seed) % 3);
        break;
    case 2: /* policy */
        snprintf(key, sizeof key, "o2/projects/default/security-policies/q%u",
                 i % 2);
        snprintf(value, sizeof value,
                 "{\"category\":\"%s\",\"sequence_number\":%u,"
                 "\"stateful\":%s,\"scope\":[%s]}",
                 rnd(seed) % 2 ? "application" : "emergency", rnd(seed) % 100,
                 rnd(seed) % 2 ? "true" : "false",
                 rnd(seed) % 2 ? "\"/api/v1/projects/default/groups/g1\"" : "");
        break;
    case 3: { /* rule */
        unsigned src = rnd(seed) % 4, dst = rnd(seed) % 4;
        snprintf(key, sizeof key,
                 "o3/projects/default/security-policies/q%u/rules/r%u", i % 2,
                 rnd(seed) % 6);
        snprintf(value, sizeof value,
                 "{\"sequence_number\":%u,\"action\":\"%s\","
                 "\"source_groups\":[\"/api/v1/projects/default/groups/g%u\"],"
                 "\"destination_groups\":[\"/api/v1/projects/default/groups/"
                 "g%u\"],\"services\":[\"/api/v1/projects/default/services/"
                 "v%u\"],\"service_entries\":[{\"protocol\":\"ICMPv4\","
                 "\"icmp_type\":8}],\"direction\":\"%s\",\"disabled\":%s,"
                 "\"scope\":[%s]}",
                 rnd(seed) % 50, rnd(seed) % 2 ? "allow" : "drop", src, dst,
                 rnd(seed) % 4, rnd(seed) % 2 ? "in" : "in_out",
                 rnd(seed) % 6 ? "false" : "true",
                 rnd(seed) % 2 ? "\"/api/v1/projects/default/groups/g2\"" : "");
        break;
    }
    default: /* settings */
        snprintf(key, sizeof key, "o1/settings/firewall");
        snprintf(value, sizeof value, "{\"default_action\":\"%s\"}",
                 rnd(seed) % 2 ? "allow" : "drop");
        break;
    }
    cpm_apply(m, key, del ? NULL : value, del ? 0 : strlen(value), rev);
}

/* One random change to routers, static routes or a segment's router
 * attachment (two routers, a few routes each). */
static void
random_route_change(struct cpm *m, unsigned *seed, uint64_t rev)
{
    char key[256], value[1024];
    unsigned kind = rnd(seed) % 3, r = rnd(seed) % 2;
    bool del = rnd(seed) % 4 == 0;

    if (kind == 0) {
        snprintf(key, sizeof key, "o2/projects/default/routers/r%u", r);
        snprintf(value, sizeof value, "{\"display_name\":\"r%u\"}", r);
    } else if (kind == 1) {
        snprintf(key, sizeof key,
                 "o3/projects/default/routers/r%u/static-routes/t%u", r,
                 rnd(seed) % 3);
        if (rnd(seed) % 3) {
            snprintf(value, sizeof value,
                     "{\"network\":\"10.%u.0.0/16\",\"next_hops\":["
                     "{\"ip_address\":\"10.0.%u.9\",\"admin_distance\":%u}]}",
                     rnd(seed) % 5, rnd(seed) % 3, 1 + rnd(seed) % 3);
        } else {
            snprintf(value, sizeof value,
                     "{\"network\":\"2001:db8:%x::/48\",\"discard\":true}",
                     rnd(seed) % 5);
        }
    } else {
        int sg = (int)(rnd(seed) % N_SEGS);
        unsigned att = rnd(seed) % 3;
        del = false;
        snprintf(key, sizeof key, "o2/projects/default/segments/s%d", sg);
        snprintf(value, sizeof value,
                 "{\"vni\":%d,%s%s%s\"subnets\":[{\"gateway_address\":"
                 "\"10.0.%d.1/24\"%s},{\"gateway_address\":\"fd00:%d::1/64\","
                 "\"ipv6_address_mode\":\"%s\"}]}",
                 100 + sg, att < 2 ? "\"router\":\"r" : "",
                 att == 0   ? "0\","
                 : att == 1 ? "1\","
                            : "",
                 "", sg,
                 rnd(seed) % 2
                     ? ",\"dhcp\":{\"ranges\":[\"10.0.0.100-10.0.0.200\"]}"
                     : "",
                 sg, rnd(seed) % 2 ? "slaac" : "dhcpv6_stateful");
    }
    cpm_apply(m, key, del ? NULL : value, del ? 0 : strlen(value), rev);
}

/* Segment spoofguard flips are covered by this too. */
TEST(cpm_deltas_match_snapshots_after_random_changes)
{
    struct cpm *m = cpm_create();
    unsigned seed = 42;
    uint64_t rev = 1;
    char key[256], value[512];
    int mismatches = 0;

    for (int h = 0; h < N_HOSTS; h++) {
        agents[h] = dstate_create();
        snprintf(key, sizeof key, "o1/hosts/h%d", h);
        snprintf(value, sizeof value, "{\"tunnel_endpoint\":\"198.18.0.%d\"}",
                 h + 1);
        cpm_apply(m, key, value, strlen(value), rev);
    }
    for (int s = 0; s < N_SEGS; s++) {
        snprintf(key, sizeof key, "o2/projects/default/segments/s%d", s);
        snprintf(value, sizeof value, "{\"vni\":%d}", 100 + s);
        cpm_apply(m, key, value, strlen(value), rev);
    }
    cpm_flush(m, rev, on_delta, NULL);

    for (int step = 0; step < 1500; step++) {
        unsigned op = rnd(&seed) % 19;
        rev++;
        if (op >= 16) { /* routing objects */
            random_route_change(m, &seed, rev);
        } else if (op >= 11) { /* firewall objects */
            random_fw_change(m, &seed, rev);
        } else if (op < 7) { /* create/update/move/detach a port */
            int p = (int)(rnd(&seed) % N_PORTS), s = p % N_SEGS;
            int h = (int)(rnd(&seed) % (N_HOSTS + 1));
            snprintf(key, sizeof key,
                     "o3/projects/default/segments/s%d/ports/p%d", s, p);
            if (h == N_HOSTS) {
                snprintf(value, sizeof value,
                         "{\"mac_address\":\"02:00:00:00:00:%02x\"}", p + 1);
            } else {
                snprintf(value, sizeof value,
                         "{\"mac_address\":\"02:00:00:00:00:%02x\","
                         "\"ip_addresses\":[\"10.0.0.%d\"],"
                         "\"tags\":[{\"scope\":\"tier\",\"tag\":\"t%u\"}],"
                         "\"spoofguard\":\"%s\","
                         "\"attachment\":{\"host\":\"h%d\",\"vif\":\"v%d\"}}",
                         p + 1, p + 1, rnd(&seed) % 3,
                         rnd(&seed) % 2 ? "inherit" : "enabled", h, p);
            }
            cpm_apply(m, key, value, strlen(value), rev);
        } else if (op < 9) { /* delete a port */
            int p = (int)(rnd(&seed) % N_PORTS);
            snprintf(key, sizeof key,
                     "o3/projects/default/segments/s%d/ports/p%d", p % N_SEGS,
                     p);
            cpm_apply(m, key, NULL, 0, rev);
        } else if (op == 10) { /* switch a segment's encapsulation */
            int sg = (int)(rnd(&seed) % N_SEGS);
            snprintf(key, sizeof key, "o2/projects/default/segments/s%d", sg);
            snprintf(value, sizeof value,
                     "{\"vni\":%d,\"encap\":\"%s\",\"spoofguard\":\"%s\"}",
                     100 + sg, rnd(&seed) % 2 ? "vxlan" : "geneve",
                     rnd(&seed) % 2 ? "enabled" : "disabled");
            cpm_apply(m, key, value, strlen(value), rev);
        } else { /* move a host's tunnel endpoint */
            int h = (int)(rnd(&seed) % N_HOSTS);
            snprintf(key, sizeof key, "o1/hosts/h%d", h);
            snprintf(value, sizeof value,
                     "{\"tunnel_endpoint\":\"198.18.%d.%d\"}",
                     (int)(rnd(&seed) % 3), h + 1);
            cpm_apply(m, key, value, strlen(value), rev);
        }
        if (rnd(&seed) % 3 == 0) {
            continue; /* batch several changes into one flush */
        }
        cpm_flush(m, rev, on_delta, NULL);
        for (int h = 0; h < N_HOSTS; h++) {
            char id[16];
            snprintf(id, sizeof id, "h%d", h);
            Weft__Update *want = cpm_snapshot(m, id, rev);
            Weft__Update *have = dstate_snapshot(agents[h]);
            char *a = canon(want), *b = canon(have);
            if (strcmp(a, b)) {
                if (!mismatches++) {
                    fprintf(stderr, "step %d host %d\nwant:\n%s\nhave:\n%s",
                            step, h, a, b);
                }
            }
            free(a);
            free(b);
            cpm_update_free(want);
            if (have) {
                weft__update__free_unpacked(have, NULL);
            }
        }
    }
    CHECK_EQ(mismatches, 0);
    for (int h = 0; h < N_HOSTS; h++) {
        dstate_destroy(agents[h]);
    }
    cpm_destroy(m);
}

TEST(cpm_port_add_touches_only_the_segments_hosts)
{
    struct cpm *m = cpm_create();
    char key[256], value[512];

    for (int h = 0; h < N_HOSTS; h++) {
        agents[h] = dstate_create();
        snprintf(key, sizeof key, "o1/hosts/h%d", h);
        snprintf(value, sizeof value, "{\"tunnel_endpoint\":\"198.18.0.%d\"}",
                 h + 1);
        cpm_apply(m, key, value, strlen(value), 1);
    }
    cpm_apply(m, "o2/projects/default/segments/a", "{\"vni\":1}", 9, 1);
    cpm_apply(m, "o2/projects/default/segments/b", "{\"vni\":2}", 9, 1);
    /* Segment a on h0, h1; segment b on h2..h5. */
    for (int h = 0; h < N_HOSTS; h++) {
        snprintf(key, sizeof key, "o3/projects/default/segments/%s/ports/p%d",
                 h < 2 ? "a" : "b", h);
        snprintf(value, sizeof value,
                 "{\"mac_address\":\"02:00:00:00:00:%02x\",\"attachment\":"
                 "{\"host\":\"h%d\",\"vif\":\"v%d\"}}",
                 h + 1, h, h);
        cpm_apply(m, key, value, strlen(value), 2);
    }
    cpm_flush(m, 2, on_delta, NULL);
    memset(deltas_to, 0, sizeof deltas_to);
    {
        static const char v[] =
            "{\"mac_address\":\"02:00:00:00:00:99\",\"attachment\":"
            "{\"host\":\"h1\",\"vif\":\"vnew\"}}";
        cpm_apply(m, "o3/projects/default/segments/a/ports/new", v, strlen(v),
                  3);
    }
    cpm_flush(m, 3, on_delta, NULL);
    CHECK_EQ(deltas_to[0], 1);
    CHECK_EQ(deltas_to[1], 1);
    for (int h = 2; h < N_HOSTS; h++) {
        CHECK_EQ(deltas_to[h], 0);
    }
    for (int h = 0; h < N_HOSTS; h++) {
        dstate_destroy(agents[h]);
    }
    cpm_destroy(m);
}

/* Applies 'value' (NULL: delete) at store key 'key'. */
static void
put(struct cpm *m, const char *key, const char *value, uint64_t rev)
{
    cpm_apply(m, key, value, value ? strlen(value) : 0, rev);
}

/* Counts 'what' in host 'h's snapshot: segments (and with 'router' set,
 * those attached to it), remote bindings, floods, routes. */
struct span_counts {
    size_t segs, routed_segs, remotes, floods, routes, dhcp_segs, ra_segs;
};

static struct span_counts
span_of(struct cpm *m, const char *host, uint64_t rev)
{
    Weft__Update *u = cpm_snapshot(m, host, rev);
    struct span_counts c = {0};

    if (!u) {
        return c;
    }
    c.segs = u->n_segments;
    for (size_t i = 0; i < u->n_segments; i++) {
        c.routed_segs += u->segments[i]->router[0] != 0;
        c.dhcp_segs += u->segments[i]->dhcp && u->segments[i]->dhcp->enabled;
        c.ra_segs += u->segments[i]->ipv6 && u->segments[i]->ipv6->ra;
    }
    c.remotes = u->n_remotes;
    c.floods = u->n_floods;
    c.routes = u->n_routes;
    cpm_update_free(u);
    return c;
}

/* A host with a port on one segment of a router learns the router's other
 * segments and their bindings (to route in one hop), but floods only where
 * it has ports; detaching or deleting the router takes that back. */
TEST(cpm_router_spans_every_segment_of_the_router)
{
    struct cpm *m = cpm_create();
    struct span_counts c;
    char key[256], value[512];

    for (int h = 0; h < 3; h++) {
        snprintf(key, sizeof key, "o1/hosts/h%d", h);
        snprintf(value, sizeof value, "{\"tunnel_endpoint\":\"198.18.0.%d\"}",
                 h + 1);
        put(m, key, value, 1);
    }
    put(m, "o2/projects/default/routers/r0", "{}", 1);
    put(m, "o2/projects/default/segments/s0",
        "{\"vni\":10,\"router\":\"r0\",\"subnets\":[{\"gateway_address\":"
        "\"10.0.0.1/24\",\"dhcp\":{\"ranges\":[\"10.0.0.100-10.0.0.200\"],"
        "\"dns_servers\":[\"10.0.0.53\"]}}]}",
        1);
    put(m, "o2/projects/default/segments/s1",
        "{\"vni\":11,\"router\":\"r0\",\"subnets\":[{\"gateway_address\":"
        "\"10.0.1.1/24\"},{\"gateway_address\":\"fd00:1::1/64\"}]}",
        1);
    put(m, "o2/projects/default/segments/s2", "{\"vni\":12}", 1);
    put(m, "o3/projects/default/routers/r0/static-routes/t0",
        "{\"network\":\"10.9.0.0/16\",\"next_hops\":[{\"ip_address\":"
        "\"10.0.1.9\"}]}",
        1);
    for (int h = 0; h < 3; h++) {
        snprintf(key, sizeof key, "o3/projects/default/segments/s%d/ports/p%d",
                 h, h);
        snprintf(value, sizeof value,
                 "{\"mac_address\":\"02:00:00:00:00:%02x\",\"ip_addresses\":"
                 "[\"10.0.%d.5\"],\"attachment\":{\"host\":\"h%d\",\"vif\":"
                 "\"v%d\"}}",
                 h + 1, h, h, h);
        put(m, key, value, 2);
    }
    /* h0: s0 (local) and s1 (routed, p1 remote), the route, no floods. */
    c = span_of(m, "h0", 2);
    CHECK_EQ(c.segs, 2);
    CHECK_EQ(c.routed_segs, 2);
    CHECK_EQ(c.remotes, 1);
    CHECK_EQ(c.floods, 0);
    CHECK_EQ(c.routes, 1);
    CHECK_EQ(c.dhcp_segs, 1);
    CHECK_EQ(c.ra_segs, 1);
    /* h2: only its unrouted segment. */
    c = span_of(m, "h2", 2);
    CHECK_EQ(c.segs, 1);
    CHECK_EQ(c.routed_segs, 0);
    CHECK_EQ(c.routes, 0);
    /* Detach s1: h0 keeps s0 only, h1 keeps s1 but loses the route. */
    put(m, "o2/projects/default/segments/s1", "{\"vni\":11}", 3);
    c = span_of(m, "h0", 3);
    CHECK_EQ(c.segs, 1);
    CHECK_EQ(c.remotes, 0);
    c = span_of(m, "h1", 3);
    CHECK_EQ(c.segs, 1);
    CHECK_EQ(c.routed_segs, 0);
    CHECK_EQ(c.routes, 0);
    /* Re-attach, then delete the router: no routed segment anywhere. */
    put(m, "o2/projects/default/segments/s1", "{\"vni\":11,\"router\":\"r0\"}",
        4);
    CHECK_EQ(span_of(m, "h0", 4).segs, 2);
    put(m, "o2/projects/default/routers/r0", NULL, 5);
    c = span_of(m, "h0", 5);
    CHECK_EQ(c.segs, 1);
    CHECK_EQ(c.routed_segs, 0);
    CHECK_EQ(c.routes, 0);
    /* Re-created: the segments naming it attach again. */
    put(m, "o2/projects/default/routers/r0", "{}", 6);
    c = span_of(m, "h1", 6);
    CHECK_EQ(c.segs, 2);
    CHECK_EQ(c.routes, 1);
    cpm_destroy(m);
}

/* ---- agent desired state ---- */

TEST(dstate_reports_conflicts_and_keeps_the_rest)
{
    struct dstate *ds = dstate_create();
    struct dstate_failures f = {0};
    struct dstate_options o = {.mtu = 1500, .offloads = true};
    Weft__Update u = WEFT__UPDATE__INIT;
    Weft__HostConfig hc = WEFT__HOST_CONFIG__INIT;
    Weft__Segment s = WEFT__SEGMENT__INIT, *sp = &s;
    Weft__LocalPort p1 = WEFT__LOCAL_PORT__INIT, p2 = WEFT__LOCAL_PORT__INIT;
    Weft__LocalPort *pp[2] = {&p1, &p2};
    uint8_t ip[4] = {198, 18, 0, 1}, m1[6] = {2, 0, 0, 0, 0, 1},
            m2[6] = {2, 0, 0, 0, 0, 2};
    struct agent_config *cfg;
    char err[128];

    hc.local_ip.data = ip;
    hc.local_ip.len = 4;
    u.revision = 3;
    u.full = true;
    u.host = &hc;
    s.id = "/projects/default/segments/web";
    s.vni = 10;
    u.n_segments = 1;
    u.segments = &sp;
    p1.id = "/projects/default/segments/web/ports/a";
    p2.id = "/projects/default/segments/web/ports/b";
    p1.segment = p2.segment = s.id;
    p1.lport = 1;
    p2.lport = 2;
    p1.mac.data = m1;
    p2.mac.data = m2;
    p1.mac.len = p2.mac.len = 6;
    p1.ifname = p2.ifname = "vif0"; /* conflict */
    u.n_ports = 2;
    u.ports = pp;
    CHECK_EQ(dstate_apply(ds, &u, err, sizeof err), 0);
    cfg = dstate_to_config(ds, &o, &f);
    CHECK(cfg != NULL);
    CHECK_EQ(cfg->n_segments, 1);
    CHECK_EQ(cfg->segments[0].n_ports, 1);
    CHECK_EQ(f.n, 1);
    CHECK(f.n == 1 && strstr(f.items[0].reason, "vif0"));
    agent_config_free(cfg);
    dstate_failures_clear(&f);

    /* A delta that does not build on our revision is refused. */
    Weft__Update d = WEFT__UPDATE__INIT;
    d.revision = 9;
    d.prev_revision = 7;
    CHECK_EQ(dstate_apply(ds, &d, err, sizeof err), EPROTO);
    CHECK_EQ(dstate_revision(ds), 3);
    dstate_destroy(ds);
}

/* Ids that look like collection names ("segments", "ports") must not
 * confuse the controller about what a store key is. */
TEST(cpm_kinds_by_path_position_not_substring)
{
    struct cpm *m = cpm_create();
    static const char host[] = "{\"tunnel_endpoint\":\"198.18.0.1\"}";
    static const char seg[] = "{\"vni\":10}";
    static const char port[] =
        "{\"mac_address\":\"02:00:00:00:00:01\",\"ip_addresses\":"
        "[\"10.0.0.1\"],\"attachment\":{\"host\":\"h0\",\"vif\":\"v0\"}}";
    static const char pol[] = "{}";
    static const char rule[] = "{\"action\":\"drop\"}";
    Weft__Update *u;

    cpm_apply(m, "o1/hosts/h0", host, strlen(host), 1);
    cpm_apply(m, "o2/projects/segments/segments/ports", seg, strlen(seg), 1);
    cpm_apply(m, "o3/projects/segments/segments/ports/ports/segments", port,
              strlen(port), 1);
    cpm_apply(m, "o2/projects/segments/security-policies/ports", pol,
              strlen(pol), 1);
    cpm_apply(m, "o3/projects/segments/security-policies/ports/rules/ports",
              rule, strlen(rule), 1);
    u = cpm_snapshot(m, "h0", 1);
    CHECK(u != NULL);
    if (u) {
        CHECK_EQ(u->n_segments, 1);
        CHECK_EQ(u->n_ports, 1);
        CHECK_EQ(u->n_rules, 1);
        CHECK(
            u->n_rules == 1 &&
            !strcmp(u->rules[0]->id,
                    "/projects/segments/security-policies/ports/rules/ports"));
        CHECK(u->n_ports == 1 && !strcmp(u->ports[0]->segment,
                                         "/projects/segments/segments/ports"));
    }
    cpm_update_free(u);
    cpm_destroy(m);
}

/* ---- firewall rule order, controller to classifier ---- */

/* What rule of the host's firewall decides a TCP connection to port
 * 'port' of the only local port (lport), and with what action. */
static const char *
verdict(struct agent_dfw *d, uint32_t lport, uint16_t port, uint8_t *action)
{
    static const uint8_t local[4] = {10, 0, 0, 1}, peer[4] = {10, 0, 0, 2};
    struct dfw_vnic *v = agent_dfw_vnic(d, lport);
    struct cls_key k = {.src = as_key_v4(peer),
                        .dst = as_key_v4(local),
                        .family = 4,
                        .dir = CLS_DIR_IN,
                        .proto = 6,
                        .port = port};
    struct cls_result r;

    if (!v || !v->cls) {
        return "(no classifier)";
    }
    r = cls_lookup(v->cls, agent_dfw_sets(d)->asx, &k);
    *action = r.action;
    return dfw_sets_rule_name(agent_dfw_sets(d), r.rule_id);
}

/* Policies go by category, then sequence number, then id, and all of a
 * policy's rules go before the next policy's: two policies with one
 * category and sequence number must not interleave their rules by rule
 * sequence number (they did). */
TEST(firewall_rules_ordered_by_category_policy_then_rule)
{
    static const char *const tcp_any = "{\"protocol\":\"TCP\"}";
    struct cpm *m = cpm_create();
    struct dstate *ds = dstate_create();
    struct agent_dfw *d = agent_dfw_create();
    char err[256], buf[512];
    uint8_t action = 0;

    put(m, "o1/hosts/h0", "{\"tunnel_endpoint\":\"198.18.0.1\"}", 1);
    put(m, "o2/projects/p/segments/s", "{\"vni\":10}", 1);
    put(m, "o3/projects/p/segments/s/ports/web",
        "{\"mac_address\":\"02:00:00:00:00:01\",\"ip_addresses\":"
        "[\"10.0.0.1\"],\"attachment\":{\"host\":\"h0\",\"vif\":\"v0\"}}",
        1);
    /* Same category and sequence: "a" before "b" whatever the rules'
     * numbers; "c" (sequence 5) before both; "e" (emergency, sequence
     * 999) before all of them. */
    put(m, "o2/projects/p/security-policies/a",
        "{\"category\":\"application\",\"sequence_number\":10}", 1);
    put(m, "o2/projects/p/security-policies/b",
        "{\"category\":\"application\",\"sequence_number\":10}", 1);
    put(m, "o2/projects/p/security-policies/c",
        "{\"category\":\"application\",\"sequence_number\":5}", 1);
    put(m, "o2/projects/p/security-policies/e",
        "{\"category\":\"emergency\",\"sequence_number\":999}", 1);
    snprintf(buf, sizeof buf,
             "{\"action\":\"allow\",\"sequence_number\":100,"
             "\"service_entries\":[%s]}",
             tcp_any);
    put(m, "o3/projects/p/security-policies/a/rules/r1", buf, 1);
    put(m, "o3/projects/p/security-policies/a/rules/r0",
        "{\"action\":\"drop\",\"sequence_number\":100,\"service_entries\":"
        "[{\"protocol\":\"TCP\",\"destination_ports\":[\"443\"]}]}",
        1);
    snprintf(buf, sizeof buf,
             "{\"action\":\"drop\",\"sequence_number\":5,"
             "\"service_entries\":[%s]}",
             tcp_any);
    put(m, "o3/projects/p/security-policies/b/rules/r1", buf, 1);
    put(m, "o3/projects/p/security-policies/c/rules/r9",
        "{\"action\":\"drop\",\"sequence_number\":999999,\"service_entries\":"
        "[{\"protocol\":\"TCP\",\"destination_ports\":[\"8080\"]}]}",
        1);
    put(m, "o3/projects/p/security-policies/e/rules/z",
        "{\"action\":\"reject\",\"sequence_number\":999,\"service_entries\":"
        "[{\"protocol\":\"TCP\",\"destination_ports\":[\"22\"]}]}",
        1);

    Weft__Update *u = cpm_snapshot(m, "h0", 1);
    CHECK(u != NULL && u->n_ports == 1 && u->n_rules == 5);
    if (!u || u->n_ports != 1) {
        goto out;
    }
    uint32_t lport = u->ports[0]->lport;
    CHECK_EQ(dstate_apply(ds, u, err, sizeof err), 0);
    agent_dfw_sync(d, ds);

    static const struct {
        uint16_t port;
        const char *rule;
        uint8_t action;
    } want[] = {
        {80, "/projects/p/security-policies/a/rules/r1", CLS_ALLOW},
        {443, "/projects/p/security-policies/a/rules/r0", CLS_DROP},
        {8080, "/projects/p/security-policies/c/rules/r9", CLS_DROP},
        {22, "/projects/p/security-policies/e/rules/z", CLS_REJECT},
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        CHECK_STREQ(verdict(d, lport, want[i].port, &action), want[i].rule);
        CHECK_EQ(action, want[i].action);
    }
out:
    cpm_update_free(u);
    agent_dfw_destroy(d);
    dstate_destroy(ds);
    cpm_destroy(m);
}

/* The path of a port of segment s. */
#define PORT_PATH(NAME) "/projects/p/segments/s/ports/" NAME

static const struct dfw_vnic *
vnic_of(const struct agent_dfw *d, const struct dstate *ds, const char *path)
{
    Weft__Update *u = dstate_snapshot(ds);
    const struct dfw_vnic *v = NULL;
    for (size_t i = 0; u && i < u->n_ports; i++) {
        if (!strcmp(u->ports[i]->id, path)) {
            v = agent_dfw_vnic(d, u->ports[i]->lport);
        }
    }
    cpm_update_free(u);
    return v;
}

/* Port web2 (third of the test below) with tag tier|'tag' and name
 * 'name', at revision 'rev', sent to the host. */
static void
update_web2(struct cpm *m, const char *tag, const char *name, uint64_t rev)
{
    char value[512];
    snprintf(value, sizeof value,
             "{\"mac_address\":\"02:00:00:00:00:03\",\"ip_addresses\":"
             "[\"10.0.0.3\"],\"tags\":[{\"scope\":\"tier\",\"tag\":\"%s\"}],"
             "\"display_name\":\"%s\","
             "\"attachment\":{\"host\":\"h0\",\"vif\":\"v2\"}}",
             tag, name);
    put(m, "o3/projects/p/segments/s/ports/web2", value, rev);
    cpm_flush(m, rev, on_delta, NULL);
}

/* A group membership change gets the connections of the vNICs whose rules
 * name the group checked again (a new rules version, as after a rule
 * change), and of no other vNIC; their classifiers are shared, not
 * recompiled. */
TEST(firewall_group_change_renews_exactly_the_vnics_naming_it)
{
    struct cpm *m = cpm_create();
    struct agent_dfw *d = agent_dfw_create();
    struct agent_dfw_stats st0, st1;
    static const char *const ports[][2] = {
        {"app", "app"}, {"other", "other"}, {"web2", "web"}};
    char key[256], value[512];

    agents[0] = dstate_create();
    put(m, "o1/hosts/h0", "{\"tunnel_endpoint\":\"198.18.0.1\"}", 1);
    put(m, "o2/projects/p/segments/s", "{\"vni\":10}", 1);
    for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
        snprintf(key, sizeof key, "o3/projects/p/segments/s/ports/%s",
                 ports[i][0]);
        snprintf(value, sizeof value,
                 "{\"mac_address\":\"02:00:00:00:00:%02zx\","
                 "\"ip_addresses\":[\"10.0.0.%zu\"],"
                 "\"tags\":[{\"scope\":\"tier\",\"tag\":\"%s\"}],"
                 "\"attachment\":{\"host\":\"h0\",\"vif\":\"v%zu\"}}",
                 i + 1, i + 1, ports[i][1], i);
        put(m, key, value, 1);
        snprintf(key, sizeof key, "o2/projects/p/groups/%s", ports[i][1]);
        snprintf(value, sizeof value,
                 "{\"criteria\":[{\"conditions\":[{\"key\":\"tag\","
                 "\"operator\":\"equals\",\"value\":\"tier|%s\"}]}]}",
                 ports[i][1]);
        put(m, key, value, 1);
    }
    /* app lets web in on 8080; other lets other in on 9. */
    put(m, "o2/projects/p/security-policies/pa",
        "{\"scope\":[\"/api/v1/projects/p/groups/app\"]}", 1);
    put(m, "o3/projects/p/security-policies/pa/rules/web-app",
        "{\"action\":\"allow\",\"source_groups\":"
        "[\"/api/v1/projects/p/groups/web\"],\"service_entries\":"
        "[{\"protocol\":\"TCP\",\"destination_ports\":[\"8080\"]}]}",
        1);
    put(m, "o2/projects/p/security-policies/po",
        "{\"scope\":[\"/api/v1/projects/p/groups/other\"]}", 1);
    put(m, "o3/projects/p/security-policies/po/rules/other",
        "{\"action\":\"allow\",\"source_groups\":"
        "[\"/api/v1/projects/p/groups/other\"],\"service_entries\":"
        "[{\"protocol\":\"TCP\",\"destination_ports\":[\"9\"]}]}",
        1);
    cpm_flush(m, 1, on_delta, NULL);
    agent_dfw_sync(d, agents[0]);
    agent_dfw_get_stats(d, &st0);

    const struct dfw_vnic *app0 = vnic_of(d, agents[0], PORT_PATH("app"));
    const struct dfw_vnic *other0 = vnic_of(d, agents[0], PORT_PATH("other"));
    CHECK(app0 && app0->cls && other0 && other0->cls);
    if (!app0 || !other0) {
        goto out;
    }
    uint32_t app_version = app0->rules_version;
    uint32_t other_version = other0->rules_version;
    const struct cls *app_cls = app0->cls;

    /* web2 retagged out of web: app's connections are checked again. */
    update_web2(m, "db", "web2", 2);
    CHECK(agent_dfw_sync(d, agents[0]));
    agent_dfw_get_stats(d, &st1);
    const struct dfw_vnic *app1 = vnic_of(d, agents[0], PORT_PATH("app"));
    const struct dfw_vnic *other1 = vnic_of(d, agents[0], PORT_PATH("other"));
    CHECK(app1 && other1);
    if (app1 && other1) {
        CHECK(app1->rules_version != app_version);
        CHECK(app1->cls == app_cls);
        CHECK_EQ(other1->rules_version, other_version);
        CHECK(other1 == other0);
    }
    CHECK_EQ(st1.compiles, st0.compiles);
    CHECK_EQ(st1.renewals, st0.renewals + 1);

    /* A change that leaves every set as it was renews nothing. */
    update_web2(m, "db", "renamed", 3);
    agent_dfw_sync(d, agents[0]);
    agent_dfw_get_stats(d, &st0);
    CHECK_EQ(st0.renewals, st1.renewals);
out:
    agent_dfw_destroy(d);
    dstate_destroy(agents[0]);
    agents[0] = NULL;
    cpm_destroy(m);
}

static void
drop_delta(void *aux, const char *host_id, Weft__Update *u)
{
    (void)aux;
    (void)host_id;
    cpm_update_free(u);
}

/* The ports of group 'name' of project p as the controller computes them
 * (cfw_group_members(), in order of their paths: segment back before
 * front), short ids joined with ',' ("" none; "?" no such group); its
 * addresses in '*addrs' when not NULL. */
static char *
members_of(struct cpm *m, const char *name, char **addrs)
{
    char path[128], *s = xstrdup(""), *a = xstrdup("");
    snprintf(path, sizeof path, "/projects/p/groups/%s", name);
    json_t *j = cfw_group_members(m, path), *e;
    size_t i;

    if (!j) {
        free(s);
        s = xstrdup("?");
    }
    json_array_foreach(json_object_get(j, "ports"), i, e)
    {
        char *t = xasprintf("%s%s%s", s, i ? "," : "",
                            strrchr(json_string_value(e), '/') + 1);
        free(s);
        s = t;
    }
    json_array_foreach(json_object_get(j, "ip_addresses"), i, e)
    {
        char *t = xasprintf("%s%s%s", a, i ? "," : "", json_string_value(e));
        free(a);
        a = t;
    }
    json_decref(j);
    if (addrs) {
        *addrs = a;
    } else {
        free(a);
    }
    return s;
}

/* Whether group 'group' has ports 'want' (as members_of() writes them)
 * and, unless 'want_addrs' is NULL, addresses 'want_addrs'. */
static bool
group_is(struct cpm *m, const char *group, const char *want,
         const char *want_addrs)
{
    char *addrs, *have = members_of(m, group, &addrs);
    bool ok =
        !strcmp(have, want) && (!want_addrs || !strcmp(addrs, want_addrs));
    if (!ok) {
        fprintf(stderr, "    group %s: %s / %s, want %s / %s\n", group, have,
                addrs, want, want_addrs ? want_addrs : "(any)");
    }
    free(have);
    free(addrs);
    return ok;
}

#define COND(KEY, OP, VALUE)                                                   \
    "{\"key\":\"" KEY "\",\"operator\":\"" OP "\",\"value\":\"" VALUE "\"}"
#define CRIT(...) "{\"conditions\":[" __VA_ARGS__ "]}"

/* Group membership as the controller decides it, the one evaluator of
 * groups: tag conditions (exact, any tag of a scope, tag without scope),
 * name operators (display name, else the port's id; case-sensitive),
 * segment conditions, AND inside a criterion and OR between criteria,
 * static ports, segments, MACs and addresses, nested groups; and how it
 * follows retagging, renaming and deleting ports. */
TEST(firewall_group_membership)
{
    struct cpm *m = cpm_create();
    static const char *const ports[][2] = {
        {"front/ports/p1", "\"display_name\":\"web-01\",\"tags\":[{\"scope\":"
                           "\"tier\",\"tag\":\"web\"},{\"tag\":\"prod\"}]"},
        {"back/ports/x-db", "\"tags\":[]"},
        {"back/ports/p3", "\"display_name\":\"WEB-02\",\"tags\":[{\"scope\":"
                          "\"tier\",\"tag\":\"db\"}]"},
        {"back/ports/p4", "\"display_name\":\"cache\""},
    };
    static const char *const groups[][2] = {
        {"and-or",
         "\"criteria\":[" CRIT(COND("tag", "equals", "tier|web") "," COND(
             "segment", "equals", "front")) "," CRIT(COND("name", "ends_with",
                                                          "-db")) "]"},
        {"any-tier", "\"criteria\":[" CRIT(COND("tag", "equals", "tier|")) "]"},
        {"prod", "\"criteria\":[" CRIT(COND("tag", "equals", "prod")) "]"},
        {"web-unscoped",
         "\"criteria\":[" CRIT(COND("tag", "equals", "web")) "]"},
        {"starts",
         "\"criteria\":[" CRIT(COND("name", "starts_with", "web-")) "]"},
        {"contains",
         "\"criteria\":[" CRIT(COND("name", "contains", "EB-0")) "]"},
        {"equals", "\"criteria\":[" CRIT(COND("name", "equals", "cache")) "]"},
        {"static", "\"members\":[\"/api/v1/projects/p/segments/front\"],"
                   "\"mac_addresses\":[\"02:00:00:00:00:04\"]"},
        {"nested", "\"members\":[\"/api/v1/projects/p/groups/prod\","
                   "\"/api/v1/projects/p/segments/back/ports/p3\"],"
                   "\"ip_addresses\":[\"192.0.2.0/24\"]"},
    };
    char key[256], value[512];

    put(m, "o1/hosts/h0", "{\"tunnel_endpoint\":\"198.18.0.1\"}", 1);
    put(m, "o2/projects/p/segments/front", "{\"vni\":10}", 1);
    put(m, "o2/projects/p/segments/back", "{\"vni\":11}", 1);
    for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
        snprintf(key, sizeof key, "o3/projects/p/segments/%s", ports[i][0]);
        snprintf(value, sizeof value,
                 "{\"mac_address\":\"02:00:00:00:00:%02zx\",\"ip_addresses\":"
                 "[\"10.0.0.%zu\"],%s}",
                 i + 1, i + 1, ports[i][1]);
        put(m, key, value, 1);
    }
    for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
        snprintf(key, sizeof key, "o2/projects/p/groups/%s", groups[i][0]);
        snprintf(value, sizeof value, "{%s}", groups[i][1]);
        put(m, key, value, 1);
    }
    cpm_flush(m, 1, drop_delta, NULL);

    static const char *const want1[][2] = {
        {"and-or", "x-db,p1"}, {"any-tier", "p3,p1"},
        {"prod", "p1"},        {"web-unscoped", ""}, /* p1's web has a scope */
        {"starts", "p1"},      {"contains", "p3"},   /* not p1's "eb-0" */
        {"equals", "p4"},      {"static", "p4,p1"},
        {"nested", "p3,p1"},   {"missing", "?"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(want1); i++) {
        CHECK(group_is(m, want1[i][0], want1[i][1], NULL));
    }
    CHECK(
        group_is(m, "nested", "p3,p1", "10.0.0.1/32,10.0.0.3/32,192.0.2.0/24"));

    /* p1 retagged (tier|app, no prod), x-db renamed, p3 deleted. */
    put(m, "o3/projects/p/segments/front/ports/p1",
        "{\"mac_address\":\"02:00:00:00:00:01\",\"ip_addresses\":"
        "[\"10.0.0.1\"],\"display_name\":\"web-01\",\"tags\":[{\"scope\":"
        "\"tier\",\"tag\":\"app\"}]}",
        2);
    put(m, "o3/projects/p/segments/back/ports/x-db",
        "{\"mac_address\":\"02:00:00:00:00:02\",\"ip_addresses\":"
        "[\"10.0.0.2\"],\"display_name\":\"x-cache\"}",
        2);
    put(m, "o3/projects/p/segments/back/ports/p3", NULL, 2);
    cpm_flush(m, 2, drop_delta, NULL);
    static const char *const want2[][2] = {
        {"and-or", ""},   {"any-tier", "p1"},  {"prod", ""},
        {"contains", ""}, {"static", "p4,p1"}, {"nested", ""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(want2); i++) {
        CHECK(group_is(m, want2[i][0], want2[i][1], NULL));
    }
    CHECK(group_is(m, "nested", "", "192.0.2.0/24"));
    cpm_destroy(m);
}
