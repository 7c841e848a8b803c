/* Incremental realization (agent_realize(), dp_tables_clone() and its
 * patches) against full builds: random sequences of deltas (remote
 * bindings, local ports, flood entries, firewall members, now and then
 * segments and routes) go to two desired states; one is realized by a real
 * agent (patching its published snapshot whenever it can), the other is
 * converted and built whole after every step, and the two snapshots must
 * answer every lookup alike, and the agent's configuration must hold the
 * same objects as the reference's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-dfw.h"
#include "agent/agent-state.h"
#include "agent/agent.h"
#include "datapath/datapath.h"
#include "datapath/route.h"
#include "datapath/tables.h"
#include "lib/log.h"
#include "lib/util.h"
#include "testlib.h"
#include "delta-lib.h"

#define N_SEGS    5
#define N_REMOTES 150
#define N_PORTS   12 /* local port ids */
#define N_FLOODS  24 /* flood entry ids */
#define N_VTEPS   6
#define STEPS     800

static uint32_t rng = 12345;

static uint32_t
rnd(uint32_t n)
{
    rng = rng * 1103515245 + 12345;
    return (rng >> 8) % n;
}

/* Remote binding r has MAC r, local port p MAC 500 + p, except now and
 * then (a conflict, reported as a failure). */
static ProtobufCBinaryData
mac_of(uint32_t m)
{
    uint8_t mac[6] = {2, 0x20, 0, 0, (uint8_t)(m >> 8), (uint8_t)m};
    if (!rnd(60)) {
        mac[5] = (uint8_t)rnd(N_REMOTES);
        mac[4] = 0;
    }
    return pb_bin(mac, 6);
}

/* Address i of object k in segment s: 10.i.s.(2 + k), in the gateway's
 * subnet 10.0.s.0/24 for i = 0; now and then one that is taken (maybe the
 * gateway's, 10.0.s.1). */
static ProtobufCBinaryData
addr_of(uint32_t s, uint32_t k, uint32_t i)
{
    if (!rnd(60)) {
        return pb_ip4(10, 0, (uint8_t)s, (uint8_t)(1 + rnd(8)));
    }
    return pb_ip4(10, (uint8_t)i, (uint8_t)s, (uint8_t)(2 + k));
}

static ProtobufCBinaryData
vtep_of(uint32_t v)
{
    /* v == 0 is the host's own endpoint (a failure if used). */
    return pb_ip4(198, 18, 0, (uint8_t)(1 + v));
}

static void
add_remote(Weft__Update *u, uint32_t r)
{
    Weft__RemoteBinding *w = xmalloc(sizeof *w);
    uint32_t s = rnd(100) ? rnd(N_SEGS) : N_SEGS; /* N_SEGS: never exists */

    weft__remote_binding__init(w);
    w->id = xasprintf("/r%" PRIu32, r);
    w->segment = pb_seg_id(s);
    w->lport = 1000 + r;
    w->mac = mac_of(r);
    w->n_ips = rnd(3);
    w->ips = xcalloc(w->n_ips + 1, sizeof *w->ips);
    for (size_t i = 0; i < w->n_ips; i++) {
        w->ips[i] = addr_of(s, r, (uint32_t)i);
    }
    w->vtep = vtep_of(rnd(100) ? 1 + rnd(N_VTEPS) : 0);
    u->remotes = xrealloc(u->remotes, (u->n_remotes + 1) * sizeof *u->remotes);
    u->remotes[u->n_remotes++] = w;
}

static void
del_remote(Weft__Update *u, uint32_t r)
{
    u->del_remotes =
        xrealloc(u->del_remotes, (u->n_del_remotes + 1) * sizeof(char *));
    u->del_remotes[u->n_del_remotes++] = xasprintf("/r%" PRIu32, r);
}

static void
add_segment(Weft__Update *u, uint32_t s, bool conflicts)
{
    Weft__Segment *w = xmalloc(sizeof *w);
    uint8_t rmac[6] = {2, 0x30, 0, 0, 0, (uint8_t)s};

    weft__segment__init(w);
    w->id = pb_seg_id(s);
    w->vni = 100 + s + (conflicts && !rnd(8)); /* a VNI conflict */
    w->encap = rnd(2) ? WEFT__ENCAP__VXLAN : WEFT__ENCAP__GENEVE;
    if (s % 2 == 0) { /* routed: gateway 10.0.s.1/24 */
        w->router = xstrdup("/projects/default/routers/r0");
        w->router_mac = pb_bin(rmac, 6);
        w->n_gateways = 1;
        w->gateways = xmalloc(sizeof *w->gateways);
        w->gateways[0] = xmalloc(sizeof *w->gateways[0]);
        weft__prefix__init(w->gateways[0]);
        w->gateways[0]->addr = pb_ip4(10, 0, (uint8_t)s, 1);
        w->gateways[0]->plen = 24;
    } else {
        w->router = xstrdup("");
    }
    u->segments = xrealloc(u->segments, (u->n_segments + 1) * sizeof(void *));
    u->segments[u->n_segments++] = w;
}

/* Local port p (added or changed: a new segment, addresses, maybe a new
 * interface) with MAC m; now and then its interface or logical port id is
 * another port's (a conflict, reported as a failure). */
static void
add_port_mac(Weft__Update *u, uint32_t p, uint32_t m)
{
    Weft__LocalPort *w = xmalloc(sizeof *w);
    uint32_t s = rnd(N_SEGS);

    weft__local_port__init(w);
    w->id = xasprintf("/l%" PRIu32, p);
    w->segment = pb_seg_id(s);
    w->lport = 1 + (rnd(12) ? p : rnd(N_PORTS));
    w->mac = mac_of(m);
    w->n_ips = rnd(3);
    w->ips = xcalloc(w->n_ips + 1, sizeof *w->ips);
    for (size_t i = 0; i < w->n_ips; i++) {
        w->ips[i] = addr_of(s, 200 + p, (uint32_t)i);
    }
    /* Mostly its own interface, sometimes a second one of its own. */
    w->ifname = xasprintf("tinc%" PRIu32,
                          rnd(30) ? p + N_PORTS * rnd(2) : rnd(N_PORTS));
    u->ports = xrealloc(u->ports, (u->n_ports + 1) * sizeof(void *));
    u->ports[u->n_ports++] = w;
}

static void
add_port(Weft__Update *u, uint32_t p)
{
    add_port_mac(u, p, 500 + p);
}

/* Flood entry k: endpoint v (0: this host's own, left out) in segment s
 * (N_SEGS: one that never exists).  Entries share endpoints. */
static void
add_flood(Weft__Update *u, uint32_t k, uint32_t s, uint32_t v)
{
    Weft__FloodVtep *w = xmalloc(sizeof *w);

    weft__flood_vtep__init(w);
    w->id = xasprintf("/f%" PRIu32, k);
    w->segment = pb_seg_id(s);
    w->vtep = vtep_of(v);
    u->floods = xrealloc(u->floods, (u->n_floods + 1) * sizeof(void *));
    u->floods[u->n_floods++] = w;
}

/* A static route of r0 via a remote's possible address: resolved or not
 * as bindings come and go. */
static void
add_route(Weft__Update *u, uint32_t k)
{
    Weft__Route *w = xmalloc(sizeof *w);

    weft__route__init(w);
    w->id = xasprintf("/rt%" PRIu32, k);
    w->router = xstrdup("/projects/default/routers/r0");
    w->prefix = xmalloc(sizeof *w->prefix);
    weft__prefix__init(w->prefix);
    w->prefix->addr = pb_ip4(192, 168, (uint8_t)k, 0);
    w->prefix->plen = 24;
    w->n_next_hops = 2;
    w->next_hops = xmalloc(2 * sizeof *w->next_hops);
    for (int i = 0; i < 2; i++) {
        w->next_hops[i] = xmalloc(sizeof *w->next_hops[i]);
        weft__next_hop__init(w->next_hops[i]);
        w->next_hops[i]->addr =
            pb_ip4(10, 0, (uint8_t)(2 * i), (uint8_t)(2 + k));
        w->next_hops[i]->distance = 1;
    }
    u->routes = xrealloc(u->routes, (u->n_routes + 1) * sizeof(void *));
    u->routes[u->n_routes++] = w;
}

static void
add_member(Weft__Update *u, uint32_t k)
{
    Weft__AddrMember *w = xmalloc(sizeof *w);

    weft__addr_member__init(w);
    w->id = xasprintf("/m%" PRIu32, k);
    w->set = xstrdup("/projects/default/groups/g");
    w->addr = pb_ip4(10, 0, 1, (uint8_t)(2 + k));
    w->plen = 32;
    u->addr_members =
        xrealloc(u->addr_members, (u->n_addr_members + 1) * sizeof(void *));
    u->addr_members[u->n_addr_members++] = w;
}

static char **
push_id(char **ids, size_t *n, char *id)
{
    ids = xrealloc(ids, (*n + 1) * sizeof *ids);
    ids[(*n)++] = id;
    return ids;
}

/* One random delta: mostly remote bindings, local ports and flood
 * entries, sometimes something that needs a full build.  Objects that failed ('f') are often fixed, as an
 * operator would: failures make every realization a full one. */
static void
random_delta(Weft__Update *u, const struct dstate_failures *f)
{
    uint32_t n = 1 + rnd(4);

    for (size_t i = 0; i < f->n; i++) {
        const char *o = f->items[i].object;
        uint32_t k;
        if (!rnd(3)) {
            continue;
        }
        if (sscanf(o, "/r%" SCNu32, &k) == 1) {
            del_remote(u, k);
        } else if (sscanf(o, "/l%" SCNu32, &k) == 1) {
            u->del_ports = push_id(u->del_ports, &u->n_del_ports, xstrdup(o));
        } else if (!strncmp(o, "/projects/", 10)) {
            for (k = 0; k < N_SEGS; k++) {
                add_segment(u, k, false);
            }
            break;
        }
    }

    for (uint32_t i = 0; i < n; i++) {
        uint32_t what = rnd(100);
        if (what < 34) {
            add_remote(u, rnd(N_REMOTES));
        } else if (what < 58) {
            del_remote(u, rnd(N_REMOTES));
        } else if (what < 61) {
            add_member(u, rnd(20));
        } else if (what < 62) {
            u->del_addr_members =
                push_id(u->del_addr_members, &u->n_del_addr_members,
                        xasprintf("/m%" PRIu32, rnd(20)));
        } else if (what < 63) {
            add_segment(u, rnd(N_SEGS), true);
        } else if (what < 64) {
            u->del_segments = push_id(u->del_segments, &u->n_del_segments,
                                      pb_seg_id(rnd(N_SEGS)));
        } else if (what < 72) {
            add_port(u, rnd(N_PORTS));
        } else if (what < 78) {
            u->del_ports = push_id(u->del_ports, &u->n_del_ports,
                                   xasprintf("/l%" PRIu32, rnd(N_PORTS)));
        } else if (what < 81) {
            /* A workload moves here: its binding goes, a port with its
             * MAC comes (maybe in the same segment). */
            uint32_t r = rnd(N_REMOTES);
            del_remote(u, r);
            add_port_mac(u, rnd(N_PORTS), r);
        } else if (what < 90) {
            add_flood(u, rnd(N_FLOODS), rnd(40) ? rnd(N_SEGS) : N_SEGS,
                      rnd(N_VTEPS + 1));
        } else if (what < 98) {
            u->del_floods = push_id(u->del_floods, &u->n_del_floods,
                                    xasprintf("/f%" PRIu32, rnd(N_FLOODS)));
        } else if (what < 99) {
            add_route(u, rnd(20));
        } else {
            u->del_routes = push_id(u->del_routes, &u->n_del_routes,
                                    xasprintf("/rt%" PRIu32, rnd(20)));
        }
    }
}

/* ---- Comparing two snapshots by lookups. ---- */

static int
cmp_vtep(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct dp_vtep));
}

static bool
same_flood(const struct dp_segment *a, const struct dp_segment *r)
{
    struct dp_vtep *x = xcalloc(a->n_flood + 1, sizeof *x);
    struct dp_vtep *y = xcalloc(r->n_flood + 1, sizeof *y);
    bool same = a->n_flood == r->n_flood;

    memcpy(x, a->flood, a->n_flood * sizeof *x);
    memcpy(y, r->flood, r->n_flood * sizeof *y);
    qsort(x, a->n_flood, sizeof *x, cmp_vtep);
    qsort(y, r->n_flood, sizeof *y, cmp_vtep);
    same = same && !memcmp(x, y, a->n_flood * sizeof *x);
    free(x);
    free(y);
    return same;
}

static bool
same_segment(const struct dp_tables *a, const struct dp_segment *sa,
             const struct dp_tables *r, const struct dp_segment *sr)
{
    bool ok =
        sa->vni == sr->vni && sa->encap == sr->encap &&
        sa->tunnel_port == sr->tunnel_port &&
        !memcmp(sa->encap_hdr, sr->encap_hdr, sizeof sa->encap_hdr) &&
        sa->max_frame == sr->max_frame && sa->punt == sr->punt &&
        sa->gw4 == sr->gw4 && !memcmp(sa->gw6, sr->gw6, 16) &&
        !memcmp(sa->lla6, sr->lla6, 16) &&
        (sa->router == DP_ROUTER_NONE) == (sr->router == DP_ROUTER_NONE) &&
        (sa->router == DP_ROUTER_NONE ||
         eth_addr_equals(&sa->router_mac, &sr->router_mac)) &&
        sa->n_local == sr->n_local && same_flood(sa, sr);
    uint32_t seg = (uint32_t)(sa - a->segments), n_bound = 0;

    /* Members: 'r' has no port array (port-less build), so only the
     * agent's bindings are checked: the members are the distinct VIFs
     * bound to the segment (the MAC table checks the rest). */
    for (uint32_t i = 0; ok && i < sa->n_local; i++) {
        ok = sa->local_ports[i] < a->n_ports &&
             a->vifs[sa->local_ports[i]].segment == seg;
        for (uint32_t k = 0; ok && k < i; k++) {
            ok = sa->local_ports[k] != sa->local_ports[i];
        }
    }
    for (uint32_t i = 0; i < a->n_ports; i++) {
        n_bound += a->vifs[i].segment == seg;
    }
    (void)r;
    return ok && n_bound == sa->n_local;
}

static bool
same_router(const struct dp_router *ra, const struct dp_router *rr,
            const uint32_t *seg_map)
{
    if (ra->n_routes != rr->n_routes || ra->n_groups != rr->n_groups ||
        ra->n_nhs != rr->n_nhs || ra->n_unresolved != rr->n_unresolved ||
        ra->n_routes_unused != rr->n_routes_unused) {
        return false;
    }
    for (uint32_t i = 0; i < ra->n_routes; i++) {
        const struct dp_route_info *x = &ra->routes[i], *y = &rr->routes[i];
        if (memcmp(x->prefix, y->prefix, 16) || x->plen != y->plen ||
            x->distance != y->distance || x->group != y->group) {
            return false;
        }
    }
    for (uint32_t i = 0; i < ra->n_nhs; i++) {
        const struct dp_nexthop *x = &ra->nhs[i], *y = &rr->nhs[i];

        if (x->segment != seg_map[y->segment] || x->direct != y->direct ||
            x->resolved != y->resolved || memcmp(x->addr, y->addr, 16) ||
            (x->resolved && !eth_addr_equals(&x->mac, &y->mac)) ||
            !x->l2 != !y->l2 ||
            (x->l2 && (x->l2->remote != y->l2->remote ||
                       x->l2->lport != y->l2->lport))) {
            return false;
        }
    }
    return true;
}

static uint32_t
count_macs(const struct dp_tables *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i <= t->mac_mask; i++) {
        n += t->macs[i].key != 0;
    }
    return n;
}

static uint32_t
count_neighs(const struct dp_tables *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i <= t->neigh_mask; i++) {
        n += t->neighs[i].segment != DP_SEG_NONE;
    }
    return n;
}

static uint32_t
count_peers(const struct dp_tables *t)
{
    static const uint8_t zero[16];
    uint32_t n = 0;
    for (uint32_t i = 0; i <= t->peer_mask; i++) {
        n += memcmp(t->peers[i].addr, zero, 16) != 0;
    }
    return n;
}

/* 'a' (the agent's) answers every lookup of 'r' (a full build) alike. */
static bool
check_same(const struct dp_tables *a, const struct dp_tables *r,
           struct agent_dfw *dfw)
{
    uint32_t map[N_SEGS + 2];
    bool ok = true;

    if (!CHECK_EQ(a->n_segments, r->n_segments) ||
        !CHECK_EQ(a->n_routers, r->n_routers)) {
        return false;
    }
    /* Segments correspond by VNI. */
    for (uint32_t s = 0; s < r->n_segments; s++) {
        const struct dp_segment *sr = &r->segments[s];
        map[s] = dp_vni_lookup(a, sr->encap, sr->vni);
        if (!CHECK(map[s] != DP_SEG_NONE) ||
            !CHECK(same_segment(a, &a->segments[map[s]], r, sr))) {
            return false;
        }
    }
    for (uint32_t s = 0; s < r->n_segments; s++) {
        uint32_t rr = r->segments[s].router;
        if (rr != DP_ROUTER_NONE) {
            ok &= CHECK(same_router(&a->routers[a->segments[map[s]].router],
                                    &r->routers[rr], map));
        }
    }
    /* MAC table. */
    ok &= CHECK_EQ(count_macs(a), count_macs(r));
    for (uint32_t i = 0; i <= r->mac_mask; i++) {
        const struct dp_mac_entry *e = &r->macs[i], *x;
        struct eth_addr mac;
        uint32_t seg;
        if (!e->key) {
            continue;
        }
        memcpy(&mac, &e->key, ETH_ADDR_LEN);
        seg = (uint32_t)(e->key >> 48) - 1;
        x = dp_mac_lookup(a, map[seg], &mac);
        if (!CHECK(x != NULL) || !CHECK_EQ(x->remote, e->remote) ||
            !CHECK_EQ(x->lport, e->lport)) {
            return false;
        }
        if (e->remote) {
            ok &= CHECK_EQ(x->port, e->port);
            ok &= CHECK(
                !memcmp(a->vteps[x->vtep].addr, r->vteps[e->vtep].addr, 16));
        } else {
            const struct dp_vif *v = &a->vifs[x->port];
            ok &= CHECK(v->segment == map[seg] && v->lport == e->lport &&
                        eth_addr_equals(&v->mac, &mac));
            ok &= CHECK(v->fw == agent_dfw_vnic(dfw, v->lport));
        }
    }
    /* Neighbour table. */
    ok &= CHECK_EQ(count_neighs(a), count_neighs(r));
    for (uint32_t i = 0; i <= r->neigh_mask; i++) {
        const struct dp_neigh_entry *e = &r->neighs[i];
        const struct eth_addr *m;
        if (e->segment == DP_SEG_NONE) {
            continue;
        }
        m = dp_neigh_lookup(a, map[e->segment], e->ip);
        ok &= CHECK(m && eth_addr_equals(m, &e->mac));
    }
    /* Tunnel peers: the patched snapshot accepts exactly the endpoints
     * the full build accepts, none that patches removed the last binding
     * or flood entry of. */
    ok &= CHECK_EQ(count_peers(a), count_peers(r));
    for (uint32_t i = 0; i <= r->peer_mask; i++) {
        static const uint8_t zero[16];
        if (memcmp(r->peers[i].addr, zero, 16)) {
            ok &= CHECK(dp_peer_known(a, r->peers[i].addr));
        }
    }
    /* Firewall objects: those of the agent's compiler; no firewall on an
     * unbound VIF. */
    ok &= CHECK(a->fw_sets == agent_dfw_sets(dfw));
    for (uint32_t i = 0; i < a->n_ports; i++) {
        ok &= CHECK(a->vifs[i].segment != DP_SEG_NONE || !a->vifs[i].fw);
    }
    return ok;
}

/* ---- Comparing two configurations by their objects. ---- */

static bool
same_ips(const struct cfg_ip *a, uint32_t n_a, const struct cfg_ip *b,
         uint32_t n_b)
{
    return n_a == n_b && (!n_a || !memcmp(a, b, n_a * sizeof *a));
}

/* The ports, remote bindings and flood endpoints of 'sa' are those of
 * 'sr', in any order. */
static bool
same_cfg_segment(const struct cfg_segment *sa, const struct cfg_segment *sr)
{
    bool ok = CHECK_EQ(sa->n_ports, sr->n_ports) &&
              CHECK_EQ(sa->n_remotes, sr->n_remotes) &&
              CHECK_EQ(sa->n_flood_vteps, sr->n_flood_vteps);

    for (uint32_t i = 0; ok && i < sr->n_ports; i++) {
        const struct cfg_port *y = &sr->ports[i], *x = NULL;
        for (uint32_t k = 0; k < sa->n_ports; k++) {
            if (!strcmp(sa->ports[k].ifname, y->ifname)) {
                x = &sa->ports[k];
            }
        }
        ok = CHECK(x != NULL) && CHECK_EQ(x->id, y->id) &&
             CHECK(!strcmp(x->name, y->name)) &&
             CHECK(eth_addr_equals(&x->mac, &y->mac)) &&
             CHECK(same_ips(x->ips, x->n_ips, y->ips, y->n_ips));
    }
    for (uint32_t i = 0; ok && i < sr->n_remotes; i++) {
        const struct cfg_remote *y = &sr->remotes[i], *x = NULL;
        for (uint32_t k = 0; k < sa->n_remotes; k++) {
            if (eth_addr_equals(&sa->remotes[k].mac, &y->mac)) {
                x = &sa->remotes[k];
            }
        }
        ok = CHECK(x != NULL) && CHECK_EQ(x->port_id, y->port_id) &&
             CHECK(!memcmp(&x->vtep, &y->vtep, sizeof x->vtep)) &&
             CHECK(same_ips(x->ips, x->n_ips, y->ips, y->n_ips));
    }
    for (uint32_t i = 0; ok && i < sr->n_flood_vteps; i++) {
        bool found = false;
        for (uint32_t k = 0; k < sa->n_flood_vteps; k++) {
            found |= !memcmp(&sa->flood_vteps[k], &sr->flood_vteps[i],
                             sizeof sr->flood_vteps[i]);
        }
        ok = CHECK(found);
    }
    return ok;
}

/* 'a' (the agent's, patched) holds the objects of 'r' (a conversion), and
 * the agent uses a VIF slot for each of its ports, no more. */
static bool
same_config(struct agent *agent, const struct agent_config *r)
{
    const struct agent_config *a = agent_get_config(agent);
    bool ok = CHECK(a != NULL) && CHECK_EQ(a->n_segments, r->n_segments);
    uint32_t n_ports = 0;

    for (uint32_t s = 0; s < r->n_segments; s++) {
        n_ports += r->segments[s].n_ports;
    }
    ok &= CHECK_EQ(agent_n_vifs(agent), n_ports);

    for (uint32_t s = 0; ok && s < r->n_segments; s++) {
        const struct cfg_segment *sa = NULL;
        for (uint32_t k = 0; k < a->n_segments; k++) {
            if (!strcmp(a->segments[k].name, r->segments[s].name)) {
                sa = &a->segments[k];
            }
        }
        ok = CHECK(sa != NULL) && CHECK_EQ(sa->vni, r->segments[s].vni) &&
             same_cfg_segment(sa, &r->segments[s]);
    }
    return ok;
}

TEST(incremental_realization_matches_full_builds)
{
    struct agent *a = agent_create();
    struct dstate *ds = dstate_create(), *ref = dstate_create();
    struct dstate_failures fa = {0}, fr = {0};
    struct dstate_options o = {.mtu = 1500, .offloads = true};
    char err[256];
    uint64_t patched, built, before;
    uint32_t port_steps = 0, flood_steps = 0; /* patched, with such changes */
    bool ok = true;

    log_set_level(LOG_ERR);
    if (!CHECK(a != NULL)) {
        return;
    }
    for (uint32_t step = 0; step < STEPS && ok; step++) {
        Weft__Update *u = xmalloc(sizeof *u);
        struct agent_config *cfg;
        struct dp_tables *t;
        bool ports, floods;

        weft__update__init(u);
        u->revision = step + 1;
        u->prev_revision = step;
        if (step == 0 || step == STEPS / 2 || step == STEPS * 3 / 4) {
            /* A snapshot; the last one has nothing remote (the host is
             * alone in its segments so far). */
            bool alone = step == STEPS * 3 / 4;
            u->full = true;
            u->host = xmalloc(sizeof *u->host);
            weft__host_config__init(u->host);
            u->host->local_ip = vtep_of(0);
            for (uint32_t s = 0; s < N_SEGS; s++) {
                add_segment(u, s, !alone);
                if (!alone) {
                    add_flood(u, s, s, 1 + s % N_VTEPS);
                    add_flood(u, N_SEGS + s, s, 1 + (s + 1) % N_VTEPS);
                }
            }
            for (uint32_t p = 0; p < 4; p++) {
                add_port(u, p);
            }
            for (uint32_t r = 0; !alone && r < N_REMOTES / 2; r++) {
                add_remote(u, r);
            }
            for (uint32_t k = 0; k < 6; k++) {
                add_route(u, k);
            }
        } else {
            random_delta(u, &fr);
        }
        /* Now and then the underlay changes (segments' max_frame). */
        o.mtu = step / 50 % 2 ? 9000 : 1500;
        ok &= CHECK_EQ(dstate_apply(ds, u, err, sizeof err), 0);
        ok &= CHECK_EQ(dstate_apply(ref, u, err, sizeof err), 0);
        ports = u->n_ports || u->n_del_ports;
        floods = u->n_floods || u->n_del_floods;
        weft__update__free_unpacked(u, NULL);

        agent_realize_counts(a, &before, &built);
        agent_realize(a, ds, &o, &fa);
        agent_realize_counts(a, &patched, &built);
        port_steps += ports && patched > before;
        flood_steps += floods && patched > before;
        dstate_failures_clear(&fr);
        cfg = dstate_to_config(ref, &o, &fr);
        if (!CHECK(cfg != NULL)) {
            break;
        }
        ok &= CHECK_EQ(fa.n, fr.n);
        t = agent_config_tables(cfg, 1);
        ok &= check_same(datapath_tables(agent_datapath(a)), t,
                         agent_firewall(a));
        ok &= same_config(a, cfg);
        if (!ok) {
            fprintf(stderr, "differs after step %" PRIu32 "\n", step);
        }
        dp_tables_free(t);
        agent_config_free(cfg);
    }
    agent_realize_counts(a, &patched, &built);
    /* Both paths ran, the patching one mostly, also for deltas of local
     * ports and of flood entries. */
    CHECK(patched > STEPS / 4);
    CHECK(built > 10);
    CHECK(port_steps > STEPS / 10);
    CHECK(flood_steps > STEPS / 10);
    fprintf(stderr,
            "patched %" PRIu64 " (%" PRIu32 " with local ports, %" PRIu32
            " with flood entries), built %" PRIu64 "\n",
            patched, port_steps, flood_steps, built);
    dstate_failures_clear(&fa);
    dstate_failures_clear(&fr);
    dstate_destroy(ds);
    dstate_destroy(ref);
    agent_destroy(a);
}
