/* Building and freeing forwarding snapshots (tables.h).  Runs on the
 * control side only; the packet path uses the inline lookups in tables.h. */
#include "datapath/tables.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/dfw.h"
#include "datapath/route.h"
#include "datapath/tunnel.h"
#include "lib/util.h"

struct tb_local {
    uint32_t segment;
    uint16_t port;
    uint32_t lport;
    struct eth_addr mac;
};

struct tb_remote {
    uint32_t segment;
    struct eth_addr mac;
    uint32_t vtep; /* index into vteps */
    uint32_t lport;
};

struct tb_flood {
    uint32_t segment;
    uint32_t vtep;
};

struct tb_fw {
    uint16_t port;
    struct dfw_vnic *fw; /* a reference */
};

struct tb_seg {
    uint32_t vni;
    enum dp_encap encap;
    uint32_t router; /* DP_ROUTER_NONE: not routed */
    struct eth_addr router_mac;
    uint8_t punt; /* DP_PUNT_* */
};

/* An open-addressing index over an array of endpoints: each slot holds an
 * index + 1, 0 is empty.  A hash index keeps lookups O(1): a host's span
 * may hold 100,000 bindings behind thousands of endpoints. */
struct vtep_index {
    uint32_t *slots;
    uint32_t mask; /* capacity - 1 (0: not allocated yet) */
};

/* What patching a snapshot in place of a full build needs (control side
 * only, see dp_tables_clone()). */
struct dp_tables_src {
    uint32_t n_macs, n_neighs; /* occupied slots */
    bool dups;                 /* a key was added twice: its value depends
                                * on the order, so no patching */
    struct vtep_index vidx;    /* over tables->vteps */
    uint32_t vtep_cap;         /* entries allocated in tables->vteps */
    uint32_t *vtep_refs;       /* per tables->vteps entry (vtep_cap of
                                * them): remote MAC entries naming it, so
                                * build_peers() leaves out the endpoints
                                * that patches removed the last binding of */
    /* Inputs of dp_routers_build(), which runs again after a patch (next
     * hops are resolved through the MAC and neighbour tables). */
    uint32_t n_routers;
    struct dp_route_gw *gws;
    uint32_t n_gws;
    struct dp_route_static *routes;
    uint32_t n_routes;
    uint8_t (*nhs)[16];
    uint32_t n_nhs;
};

/* A growable array of fixed-size elements. */
struct tb_vec {
    void *items;
    uint32_t n, cap;
    size_t size;
};

static void *
vec_push(struct tb_vec *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->items = xrealloc(v->items, v->cap * v->size);
    }
    return (char *)v->items + (size_t)v->n++ * v->size;
}

struct dp_tables_builder {
    uint64_t generation;
    uint32_t underlay_mtu;
    bool underlay_v6;
    struct dp_port **ports;
    uint32_t n_ports;
    struct tb_vec segs;             /* struct tb_seg */
    struct tb_vec locals;           /* struct tb_local */
    struct tb_vec remotes;          /* struct tb_remote */
    struct tb_vec floods;           /* struct tb_flood */
    struct tb_vec vteps;            /* struct dp_vtep */
    struct tb_vec neighs;           /* struct dp_neigh_entry */
    struct vtep_index vidx;         /* over 'vteps' */
    struct tb_vec fws;              /* struct tb_fw */
    const struct dfw_sets *fw_sets; /* a reference, or NULL */
    uint32_t n_routers;
    struct tb_vec gws;    /* struct dp_route_gw */
    struct tb_vec routes; /* struct dp_route_static */
    struct tb_vec nhs;    /* uint8_t[16]: next hops of 'routes' */
};

struct dp_tables_builder *
dp_tables_builder_create(uint64_t generation)
{
    struct dp_tables_builder *b = xcalloc(1, sizeof *b);
    b->generation = generation;
    b->underlay_mtu = 1500;
    b->segs.size = sizeof(struct tb_seg);
    b->locals.size = sizeof(struct tb_local);
    b->remotes.size = sizeof(struct tb_remote);
    b->floods.size = sizeof(struct tb_flood);
    b->vteps.size = sizeof(struct dp_vtep);
    b->neighs.size = sizeof(struct dp_neigh_entry);
    b->fws.size = sizeof(struct tb_fw);
    b->gws.size = sizeof(struct dp_route_gw);
    b->routes.size = sizeof(struct dp_route_static);
    b->nhs.size = 16;
    return b;
}

void
dp_tables_builder_destroy(struct dp_tables_builder *b)
{
    if (!b) {
        return;
    }
    free(b->ports);
    free(b->segs.items);
    free(b->locals.items);
    free(b->remotes.items);
    free(b->floods.items);
    free(b->vteps.items);
    free(b->neighs.items);
    free(b->vidx.slots);
    for (uint32_t i = 0; i < b->fws.n; i++) {
        dfw_vnic_unref(((struct tb_fw *)b->fws.items)[i].fw);
    }
    free(b->fws.items);
    dfw_sets_unref(b->fw_sets);
    free(b->gws.items);
    free(b->routes.items);
    free(b->nhs.items);
    free(b);
}

void
dp_tb_set_ports(struct dp_tables_builder *b, struct dp_port **ports,
                uint32_t n_ports)
{
    free(b->ports);
    b->ports = xcalloc(n_ports, sizeof *ports);
    memcpy(b->ports, ports, n_ports * sizeof *ports);
    b->n_ports = n_ports;
}

void
dp_tb_set_underlay(struct dp_tables_builder *b, uint32_t mtu, bool ipv6)
{
    b->underlay_mtu = mtu;
    b->underlay_v6 = ipv6;
}

uint32_t
dp_tb_add_segment(struct dp_tables_builder *b, uint32_t vni,
                  enum dp_encap encap)
{
    struct tb_seg *s = vec_push(&b->segs);
    memset(s, 0, sizeof *s);
    s->vni = vni;
    s->encap = encap;
    s->router = DP_ROUTER_NONE;
    return b->segs.n - 1;
}

void
dp_tb_set_segment_punt(struct dp_tables_builder *b, uint32_t segment,
                       uint8_t flags)
{
    ((struct tb_seg *)b->segs.items)[segment].punt = flags;
}

void
dp_tb_add_local(struct dp_tables_builder *b, uint32_t segment, uint16_t port,
                uint32_t lport, const struct eth_addr *mac)
{
    struct tb_local *l = vec_push(&b->locals);
    l->segment = segment;
    l->port = port;
    l->lport = lport;
    l->mac = *mac;
}

static uint32_t
vtep_hash(const uint8_t addr[16])
{
    return hash_bytes(addr, 16, 0);
}

/* Looks 'addr' up among v[0 .. n - 1]: returns its index, or n when it is
 * not there, with *slotp the free slot for index n (the index grows first
 * so that n + 1 entries fit). */
static uint32_t
vtep_find(struct vtep_index *x, const struct dp_vtep *v, uint32_t n,
          const uint8_t addr[16], uint32_t **slotp)
{
    uint32_t i;

    if (2 * (n + 1) > x->mask) {
        uint32_t cap = x->mask ? 2 * (x->mask + 1) : 64;
        while (2 * (n + 1) > cap - 1) {
            cap *= 2;
        }
        free(x->slots);
        x->slots = xcalloc(cap, sizeof *x->slots);
        x->mask = cap - 1;
        for (uint32_t k = 0; k < n; k++) {
            i = vtep_hash(v[k].addr) & x->mask;
            while (x->slots[i]) {
                i = (i + 1) & x->mask;
            }
            x->slots[i] = k + 1;
        }
    }
    for (i = vtep_hash(addr) & x->mask; x->slots[i]; i = (i + 1) & x->mask) {
        if (!memcmp(v[x->slots[i] - 1].addr, addr, 16)) {
            return x->slots[i] - 1;
        }
    }
    *slotp = &x->slots[i];
    return n;
}

/* Index of 'addr' in b->vteps, added if new. */
static uint32_t
vtep_index(struct dp_tables_builder *b, const uint8_t addr[16])
{
    uint32_t *slot;
    uint32_t i = vtep_find(&b->vidx, b->vteps.items, b->vteps.n, addr, &slot);

    if (i == b->vteps.n) {
        memcpy(((struct dp_vtep *)vec_push(&b->vteps))->addr, addr, 16);
        *slot = b->vteps.n;
    }
    return i;
}

void
dp_tb_add_remote(struct dp_tables_builder *b, uint32_t segment,
                 const struct eth_addr *mac, const uint8_t vtep[16],
                 uint32_t lport)
{
    uint32_t vi = vtep_index(b, vtep);
    struct tb_remote *r = vec_push(&b->remotes);
    r->segment = segment;
    r->mac = *mac;
    r->vtep = vi;
    r->lport = lport;
}

void
dp_tb_add_flood(struct dp_tables_builder *b, uint32_t segment,
                const uint8_t vtep[16])
{
    uint32_t vi = vtep_index(b, vtep);
    struct tb_flood *f = vec_push(&b->floods);
    f->segment = segment;
    f->vtep = vi;
}

void
dp_tb_add_neigh(struct dp_tables_builder *b, uint32_t segment,
                const uint8_t ip[16], const struct eth_addr *mac)
{
    struct dp_neigh_entry *n = vec_push(&b->neighs);
    n->segment = segment;
    memcpy(n->ip, ip, 16);
    n->mac = *mac;
}

uint32_t
dp_tb_add_router(struct dp_tables_builder *b)
{
    return b->n_routers++;
}

void
dp_tb_set_segment_router(struct dp_tables_builder *b, uint32_t segment,
                         uint32_t router, const struct eth_addr *mac)
{
    struct tb_seg *s = (struct tb_seg *)b->segs.items + segment;
    s->router = router;
    s->router_mac = *mac;
}

void
dp_tb_add_segment_gateway(struct dp_tables_builder *b, uint32_t segment,
                          const uint8_t addr[16], uint8_t plen)
{
    struct dp_route_gw *g = vec_push(&b->gws);
    g->segment = segment;
    memcpy(g->addr, addr, 16);
    g->plen = plen;
}

void
dp_tb_add_route(struct dp_tables_builder *b, uint32_t router,
                const uint8_t prefix[16], uint8_t plen,
                const uint8_t (*next_hops)[16], uint32_t n_next_hops,
                uint32_t distance)
{
    struct dp_route_static *r = vec_push(&b->routes);
    r->router = router;
    memcpy(r->prefix, prefix, 16);
    r->plen = plen;
    r->distance = distance;
    r->first_nh = b->nhs.n;
    r->n_nh = n_next_hops;
    for (uint32_t i = 0; i < n_next_hops; i++) {
        memcpy(vec_push(&b->nhs), next_hops[i], 16);
    }
}

/* Points '*slot' at 'sets', moving the reference it holds. */
static void
set_fw_sets(const struct dfw_sets **slot, const struct dfw_sets *sets)
{
    dfw_sets_ref(sets);
    dfw_sets_unref(*slot);
    *slot = sets;
}

void
dp_tb_set_firewall(struct dp_tables_builder *b, struct dfw_sets *sets)
{
    set_fw_sets(&b->fw_sets, sets);
}

void
dp_tb_set_vif_firewall(struct dp_tables_builder *b, uint16_t port,
                       struct dfw_vnic *fw)
{
    struct tb_fw *f = vec_push(&b->fws);
    f->port = port;
    f->fw = dfw_vnic_ref(fw);
}

/* Smallest power of two >= 2 * n (load factor <= 1/2), at least 16. */
static uint32_t
table_capacity(uint32_t n)
{
    uint32_t cap = 16;
    while (cap < 2 * n) {
        cap *= 2;
    }
    return cap;
}

static uint32_t
neigh_hash(uint32_t segment, const uint8_t ip[16])
{
    return hash_bytes(ip, 16, segment);
}

const struct eth_addr *
dp_neigh_lookup(const struct dp_tables *t, uint32_t segment,
                const uint8_t ip[16])
{
    uint32_t i = neigh_hash(segment, ip) & t->neigh_mask;

    for (;;) {
        const struct dp_neigh_entry *e = &t->neighs[i];
        if (e->segment == DP_SEG_NONE) {
            return NULL;
        }
        if (e->segment == segment && !memcmp(e->ip, ip, 16)) {
            return &e->mac;
        }
        i = (i + 1) & t->neigh_mask;
    }
}

/* The slot of 'key' in the MAC table, or the empty slot where it goes. */
static uint32_t
mac_slot(const struct dp_tables *t, uint64_t key)
{
    uint32_t i = (uint32_t)hash_mix64(key) & t->mac_mask;

    while (t->macs[i].key && t->macs[i].key != key) {
        i = (i + 1) & t->mac_mask;
    }
    return i;
}

/* The same for (segment, ip) in the neighbour table. */
static uint32_t
neigh_slot(const struct dp_tables *t, uint32_t segment, const uint8_t ip[16])
{
    uint32_t i = neigh_hash(segment, ip) & t->neigh_mask;

    while (t->neighs[i].segment != DP_SEG_NONE &&
           !(t->neighs[i].segment == segment &&
             !memcmp(t->neighs[i].ip, ip, 16))) {
        i = (i + 1) & t->neigh_mask;
    }
    return i;
}

static void
insert_mac(struct dp_tables *t, const struct dp_mac_entry *entry)
{
    uint32_t i = mac_slot(t, entry->key);

    if (t->macs[i].key) {
        t->src->dups = true; /* a later duplicate replaces an earlier one */
    } else {
        t->src->n_macs++;
    }
    t->macs[i] = *entry;
}

static void
build_segments(struct dp_tables *t, struct dp_tables_builder *b)
{
    const struct tb_seg *segs = b->segs.items;
    const struct tb_local *locals = b->locals.items;
    const struct tb_flood *floods = b->floods.items;

    t->n_segments = b->segs.n;
    t->segments = xcalloc(t->n_segments, sizeof *t->segments);
    for (uint32_t s = 0; s < t->n_segments; s++) {
        struct dp_segment *seg = &t->segments[s];
        seg->vni = segs[s].vni;
        seg->encap = segs[s].encap;
        seg->tunnel_port =
            segs[s].encap == DP_ENCAP_GENEVE ? DP_PORT_GENEVE : DP_PORT_VXLAN;
        dp_tunnel_build_header(seg, seg->encap_hdr);
        uint32_t overhead =
            (seg->encap == DP_ENCAP_GENEVE ? DP_GENEVE_OVERHEAD
                                           : DP_VXLAN_OVERHEAD) +
            (b->underlay_v6 ? DP_UNDERLAY_V6_OVERHEAD
                            : DP_UNDERLAY_V4_OVERHEAD);
        seg->max_frame =
            b->underlay_mtu > overhead ? b->underlay_mtu - overhead : 0;
        seg->router = segs[s].router;
        seg->router_mac = segs[s].router_mac;
        seg->punt = segs[s].punt;
    }
    for (uint32_t i = 0; i < b->locals.n; i++) {
        t->segments[locals[i].segment].n_local++;
    }
    for (uint32_t i = 0; i < b->floods.n; i++) {
        t->segments[floods[i].segment].n_flood++;
    }
    for (uint32_t s = 0; s < t->n_segments; s++) {
        struct dp_segment *seg = &t->segments[s];
        seg->local_ports = xcalloc(seg->n_local, sizeof *seg->local_ports);
        seg->flood = xcalloc(seg->n_flood, sizeof *seg->flood);
        seg->n_local = 0;
        seg->n_flood = 0;
    }
    /* A port with several MACs is a member once. */
    uint32_t *member_of = xmalloc((b->n_ports + 1) * sizeof *member_of);
    for (uint32_t i = 0; i <= b->n_ports; i++) {
        member_of[i] = DP_SEG_NONE;
    }
    for (uint32_t i = 0; i < b->locals.n; i++) {
        struct dp_segment *seg = &t->segments[locals[i].segment];
        uint16_t port = locals[i].port;
        if (port < b->n_ports && member_of[port] == locals[i].segment) {
            continue;
        }
        if (port < b->n_ports) {
            member_of[port] = locals[i].segment;
        }
        seg->local_ports[seg->n_local++] = port;
    }
    free(member_of);
    for (uint32_t i = 0; i < b->floods.n; i++) {
        struct dp_segment *seg = &t->segments[floods[i].segment];
        seg->flood[seg->n_flood++] = t->vteps[floods[i].vtep];
    }

    /* VNI maps. */
    t->vni_mask = table_capacity(t->n_segments) - 1;
    for (int e = 0; e < 2; e++) {
        t->vni_map[e] = xcalloc(t->vni_mask + 1, sizeof *t->vni_map[e]);
    }
    for (uint32_t s = 0; s < t->n_segments; s++) {
        uint32_t vni = t->segments[s].vni;
        typeof(t->vni_map[0]) map = t->vni_map[t->segments[s].encap];
        uint32_t i = (uint32_t)hash_mix64(vni) & t->vni_mask;
        while (map[i].vni && map[i].vni != vni) {
            i = (i + 1) & t->vni_mask;
        }
        map[i].vni = vni;
        map[i].segment = s;
    }
}

static bool
addr_is_mapped(const uint8_t a[16])
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a, pfx, 12);
}

/* Routers: segment gateway fields, a neighbour entry (router MAC) for every
 * gateway and, on segments with an IPv6 gateway, the router's link-local
 * address, so the ARP/ND responder answers for the router on every host.
 * The routing tables come after the MAC and neighbour tables (routers
 * resolve next hops with them). */
static void
add_router_addresses(struct dp_tables *t, struct dp_tables_builder *b)
{
    const struct dp_route_gw *gws = b->gws.items;
    uint32_t n_gws = b->gws.n;
    static const uint8_t zero[16];

    for (uint32_t i = 0; i < n_gws; i++) {
        struct dp_segment *seg = &t->segments[gws[i].segment];
        if (seg->router == DP_ROUTER_NONE || seg->router >= b->n_routers) {
            continue;
        }
        dp_tb_add_neigh(b, gws[i].segment, gws[i].addr, &seg->router_mac);
        if (addr_is_mapped(gws[i].addr)) {
            if (!seg->gw4) {
                memcpy(&seg->gw4, gws[i].addr + 12, 4);
            }
            continue;
        }
        if (!memcmp(seg->gw6, zero, 16)) {
            memcpy(seg->gw6, gws[i].addr, 16);
        }
        if (!memcmp(seg->lla6, zero, 16)) {
            dp_route_lla(&seg->router_mac, seg->lla6);
            dp_tb_add_neigh(b, gws[i].segment, seg->lla6, &seg->router_mac);
        }
    }
}

static void
build_routers(struct dp_tables *t)
{
    const struct dp_tables_src *src = t->src;
    struct dp_routes_input rin = {
        .n_routers = src->n_routers,
        .gws = src->gws,
        .n_gws = src->n_gws,
        .routes = src->routes,
        .n_routes = src->n_routes,
        .nhs = (const uint8_t(*)[16])src->nhs,
    };
    dp_routers_free(t); /* a second dp_tables_finish() remakes them */
    dp_routers_build(t, &rin);
}

/* A new tables object's uid: a flow cache entry made under one snapshot
 * must never match another, even one at the same address. */
static uint64_t
next_uid(void)
{
    static _Atomic uint64_t last;
    return atomic_fetch_add_explicit(&last, 1, memory_order_relaxed) + 1;
}

static void
add_peer(struct dp_tables *t, const uint8_t addr[16])
{
    uint32_t i;

    if (ip6_is_unspecified(addr)) {
        return;
    }
    for (i = dp_peer_slot(t, addr);; i = (i + 1) & t->peer_mask) {
        uint8_t *p = t->peers[i].addr;
        if (!memcmp(p, addr, 16)) {
            return;
        }
        if (ip6_is_unspecified(p)) {
            memcpy(p, addr, 16);
            return;
        }
    }
}

/* (Re)makes t->peers from the endpoints of t->vteps that a MAC entry
 * names and from the segments' flood lists. */
static void
build_peers(struct dp_tables *t)
{
    const uint32_t *refs = t->src->vtep_refs;
    uint32_t n = t->n_vteps;

    for (uint32_t s = 0; s < t->n_segments; s++) {
        n += t->segments[s].n_flood;
    }
    free(t->peers);
    t->peer_mask = table_capacity(n) - 1;
    t->peers = xcalloc(t->peer_mask + 1, sizeof *t->peers);
    for (uint32_t i = 0; i < t->n_vteps; i++) {
        if (refs[i]) {
            add_peer(t, t->vteps[i].addr);
        }
    }
    for (uint32_t s = 0; s < t->n_segments; s++) {
        for (uint32_t i = 0; i < t->segments[s].n_flood; i++) {
            add_peer(t, t->segments[s].flood[i].addr);
        }
    }
}

struct dp_tables *
dp_tables_build(struct dp_tables_builder *b)
{
    struct dp_tables *t = xcalloc(1, sizeof *t);
    const struct tb_local *locals = b->locals.items;
    const struct tb_remote *remotes = b->remotes.items;
    const struct dp_neigh_entry *neighs = b->neighs.items;

    t->generation = b->generation;
    t->uid = next_uid();
    t->underlay_mtu = b->underlay_mtu;
    t->n_ports = b->n_ports;
    t->ports = b->ports;
    b->ports = NULL;
    t->vifs = xcalloc(t->n_ports ? t->n_ports : 1, sizeof *t->vifs);
    for (uint32_t i = 0; i < t->n_ports; i++) {
        t->vifs[i].segment = DP_SEG_NONE;
    }

    t->src = xcalloc(1, sizeof *t->src);
    t->n_vteps = b->vteps.n;
    t->vteps = xcalloc(t->n_vteps ? t->n_vteps : 1, sizeof *t->vteps);
    if (t->n_vteps) {
        memcpy(t->vteps, b->vteps.items, t->n_vteps * sizeof *t->vteps);
    }
    t->src->vtep_cap = t->n_vteps ? t->n_vteps : 1;
    t->src->vtep_refs = xcalloc(t->src->vtep_cap, sizeof *t->src->vtep_refs);
    t->src->vidx = b->vidx; /* indexes the same entries */
    b->vidx.slots = NULL;

    build_segments(t, b);

    t->mac_mask = table_capacity(b->locals.n + b->remotes.n) - 1;
    t->macs = xcalloc(t->mac_mask + 1, sizeof *t->macs);
    for (uint32_t i = 0; i < b->remotes.n; i++) {
        const struct tb_remote *r = &remotes[i];
        struct dp_mac_entry e = {
            .key = dp_mac_key(r->segment, &r->mac),
            .vtep = r->vtep,
            .port = t->segments[r->segment].tunnel_port,
            .remote = 1,
            .lport = r->lport,
        };
        insert_mac(t, &e);
    }
    for (uint32_t i = 0; i < b->locals.n; i++) {
        const struct tb_local *l = &locals[i];
        struct dp_mac_entry e = {
            .key = dp_mac_key(l->segment, &l->mac),
            .port = l->port,
            .lport = l->lport,
        };
        insert_mac(t, &e); /* local wins over a stale remote binding */
        if (l->port < t->n_ports) {
            t->vifs[l->port].segment = l->segment;
            t->vifs[l->port].lport = l->lport;
            t->vifs[l->port].mac = l->mac;
        }
    }
    /* Counted from the table, after duplicates and locals replaced what
     * they did. */
    for (uint32_t i = 0; i <= t->mac_mask; i++) {
        if (t->macs[i].key && t->macs[i].remote) {
            t->src->vtep_refs[t->macs[i].vtep]++;
        }
    }
    build_peers(t);

    add_router_addresses(t, b);
    neighs = b->neighs.items; /* may have moved */
    t->neigh_mask = table_capacity(b->neighs.n) - 1;
    t->neighs = xcalloc(t->neigh_mask + 1, sizeof *t->neighs);
    for (uint32_t i = 0; i <= t->neigh_mask; i++) {
        t->neighs[i].segment = DP_SEG_NONE;
    }
    for (uint32_t n = 0; n < b->neighs.n; n++) {
        const struct dp_neigh_entry *e = &neighs[n];
        uint32_t i = neigh_slot(t, e->segment, e->ip);
        if (t->neighs[i].segment != DP_SEG_NONE) {
            t->src->dups = true; /* the later one wins */
        } else {
            t->src->n_neighs++;
        }
        t->neighs[i] = *e;
    }

    /* The routers' inputs stay with the snapshot (dp_tables_finish()). */
    struct dp_tables_src *src = t->src;
    src->n_routers = b->n_routers;
    src->gws = b->gws.items;
    src->n_gws = b->gws.n;
    src->routes = b->routes.items;
    src->n_routes = b->routes.n;
    src->nhs = b->nhs.items;
    src->n_nhs = b->nhs.n;
    b->gws.items = b->routes.items = b->nhs.items = NULL;
    build_routers(t);

    /* Firewalls: the last setting of a port wins; the snapshot takes the
     * builder's references (those left in the builder are dropped). */
    struct tb_fw *fws = b->fws.items;
    for (uint32_t i = 0; i < b->fws.n; i++) {
        if (fws[i].port < t->n_ports) {
            struct dfw_vnic *old = (struct dfw_vnic *)t->vifs[fws[i].port].fw;
            t->vifs[fws[i].port].fw = fws[i].fw;
            fws[i].fw = old;
        }
    }
    t->fw_sets = b->fw_sets;
    b->fw_sets = NULL;

    dp_tables_builder_destroy(b);
    return t;
}

static void
src_free(struct dp_tables_src *src)
{
    if (src) {
        free(src->vidx.slots);
        free(src->vtep_refs);
        free(src->gws);
        free(src->routes);
        free(src->nhs);
        free(src);
    }
}

void
dp_tables_free(struct dp_tables *t)
{
    if (!t) {
        return;
    }
    for (uint32_t s = 0; s < t->n_segments; s++) {
        free(t->segments[s].local_ports);
        free(t->segments[s].flood);
    }
    for (uint32_t i = 0; i < t->n_ports; i++) {
        dfw_vnic_unref(t->vifs[i].fw);
    }
    dfw_sets_unref(t->fw_sets);
    dp_routers_free(t);
    free(t->segments);
    free(t->ports);
    free(t->vifs);
    free(t->vteps);
    free(t->peers);
    free(t->macs);
    free(t->neighs);
    free(t->vni_map[0]);
    free(t->vni_map[1]);
    src_free(t->src);
    free(t);
}

/* ---- Patching a copy of a snapshot (tables.h). ---- */

static void *
memdup_n(const void *p, size_t n, size_t size)
{
    void *q = xmalloc(n ? n * size : 1);
    if (n) {
        memcpy(q, p, n * size);
    }
    return q;
}

/* A copy of n entries of 'p' in spare buffer '*sparep' if it holds n,
 * else in a new one. */
static void *
copy_into_spare(const void *p, size_t n, size_t size, void **sparep,
                uint32_t *spare_n)
{
    void *q = *sparep;

    if (!q || *spare_n != n) {
        free(q);
        q = xmalloc(n * size);
    }
    *sparep = NULL;
    *spare_n = 0;
    memcpy(q, p, n * size);
    return q;
}

void
dp_tables_free_spare(struct dp_tables *t, struct dp_tables_spare *spare)
{
    if (!t) {
        return;
    }
    dp_tables_spare_clear(spare);
    spare->macs = t->macs;
    spare->n_macs = t->mac_mask + 1;
    spare->neighs = t->neighs;
    spare->n_neighs = t->neigh_mask + 1;
    t->macs = NULL;
    t->neighs = NULL;
    dp_tables_free(t);
}

void
dp_tables_spare_clear(struct dp_tables_spare *spare)
{
    free(spare->macs);
    free(spare->neighs);
    memset(spare, 0, sizeof *spare);
}

struct dp_tables *
dp_tables_clone(const struct dp_tables *old, uint64_t generation,
                struct dp_tables_spare *spare)
{
    struct dp_tables_spare none = {0};
    const struct dp_tables_src *os = old->src;
    struct dp_tables *t;
    struct dp_tables_src *src;

    if (!os || os->dups) {
        return NULL;
    }
    t = xmalloc(sizeof *t);
    *t = *old;
    t->generation = generation;
    t->uid = next_uid();
    t->ports = memdup_n(old->ports, old->n_ports, sizeof *t->ports);
    t->vifs =
        memdup_n(old->vifs, old->n_ports ? old->n_ports : 1, sizeof *t->vifs);
    for (uint32_t i = 0; i < t->n_ports; i++) {
        dfw_vnic_ref(t->vifs[i].fw);
    }
    t->segments = memdup_n(old->segments, old->n_segments, sizeof *t->segments);
    for (uint32_t s = 0; s < t->n_segments; s++) {
        struct dp_segment *seg = &t->segments[s];
        seg->local_ports =
            memdup_n(seg->local_ports, seg->n_local, sizeof *seg->local_ports);
        seg->flood = memdup_n(seg->flood, seg->n_flood, sizeof *seg->flood);
    }
    t->vteps = xmalloc(os->vtep_cap * sizeof *t->vteps);
    memcpy(t->vteps, old->vteps, old->n_vteps * sizeof *t->vteps);
    if (!spare) {
        spare = &none;
    }
    t->macs = copy_into_spare(old->macs, old->mac_mask + 1, sizeof *t->macs,
                              (void **)&spare->macs, &spare->n_macs);
    t->neighs =
        copy_into_spare(old->neighs, old->neigh_mask + 1, sizeof *t->neighs,
                        (void **)&spare->neighs, &spare->n_neighs);
    for (int e = 0; e < 2; e++) {
        t->vni_map[e] =
            memdup_n(old->vni_map[e], old->vni_mask + 1, sizeof *t->vni_map[e]);
    }
    dfw_sets_ref(t->fw_sets);
    t->routers = NULL; /* dp_tables_finish() */
    t->n_routers = 0;
    t->peers = NULL; /* dp_tables_finish() */
    t->peer_mask = 0;

    t->src = src = xmalloc(sizeof *src);
    *src = *os;
    src->vidx.slots = os->vidx.slots
                          ? memdup_n(os->vidx.slots, os->vidx.mask + 1,
                                     sizeof *src->vidx.slots)
                          : NULL; /* no endpoint yet */
    src->vtep_refs = xcalloc(os->vtep_cap, sizeof *src->vtep_refs);
    memcpy(src->vtep_refs, os->vtep_refs,
           old->n_vteps * sizeof *src->vtep_refs);
    src->gws = memdup_n(os->gws, os->n_gws, sizeof *src->gws);
    src->routes = memdup_n(os->routes, os->n_routes, sizeof *src->routes);
    src->nhs = memdup_n(os->nhs, os->n_nhs, sizeof *src->nhs);
    return t;
}

/* Removes slot 'i' of an open-addressing table of 'n' (a power of two)
 * entries of 'size' bytes: the entries after it in its cluster move back
 * where their probe sequence allows (backward-shift deletion), so lookups
 * stay correct without tombstones. */
static void
table_remove(void *table, uint32_t mask, size_t size, uint32_t i,
             bool (*empty)(const void *), uint32_t (*home)(const void *),
             void (*clear)(void *))
{
    char *tab = table;

    for (uint32_t j = (i + 1) & mask; !empty(tab + j * size);
         j = (j + 1) & mask) {
        uint32_t k = home(tab + j * size) & mask;
        /* The entry at j may move to i unless its home k lies cyclically
         * in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            memcpy(tab + i * size, tab + j * size, size);
            i = j;
        }
    }
    clear(tab + i * size);
}

static bool
mac_empty(const void *e)
{
    return !((const struct dp_mac_entry *)e)->key;
}

static uint32_t
mac_home(const void *e)
{
    return (uint32_t)hash_mix64(((const struct dp_mac_entry *)e)->key);
}

static void
mac_clear(void *e)
{
    memset(e, 0, sizeof(struct dp_mac_entry));
}

static bool
neigh_empty(const void *e)
{
    return ((const struct dp_neigh_entry *)e)->segment == DP_SEG_NONE;
}

static uint32_t
neigh_home(const void *e_)
{
    const struct dp_neigh_entry *e = e_;
    return neigh_hash(e->segment, e->ip);
}

static void
neigh_clear(void *e)
{
    memset(e, 0, sizeof(struct dp_neigh_entry));
    ((struct dp_neigh_entry *)e)->segment = DP_SEG_NONE;
}

bool
dp_tables_add_remote(struct dp_tables *t, uint32_t segment,
                     const struct eth_addr *mac, const uint8_t vtep[16],
                     uint32_t lport)
{
    struct dp_tables_src *src = t->src;
    uint64_t key = dp_mac_key(segment, mac);
    uint32_t i, vi, *slot;

    if (!src || segment >= t->n_segments ||
        2 * (src->n_macs + 1) > t->mac_mask + 1) {
        return false;
    }
    i = mac_slot(t, key);
    if (t->macs[i].key) {
        return false; /* taken: a full build decides */
    }
    vi = vtep_find(&src->vidx, t->vteps, t->n_vteps, vtep, &slot);
    if (vi == t->n_vteps) {
        if (t->n_vteps == src->vtep_cap) {
            src->vtep_cap *= 2;
            t->vteps = xrealloc(t->vteps, src->vtep_cap * sizeof *t->vteps);
            src->vtep_refs = xrealloc(src->vtep_refs,
                                      src->vtep_cap * sizeof *src->vtep_refs);
        }
        src->vtep_refs[t->n_vteps] = 0;
        memcpy(t->vteps[t->n_vteps++].addr, vtep, 16);
        *slot = t->n_vteps;
    }
    t->macs[i] = (struct dp_mac_entry){
        .key = key,
        .vtep = vi,
        .port = t->segments[segment].tunnel_port,
        .remote = 1,
        .lport = lport,
    };
    src->vtep_refs[vi]++;
    src->n_macs++;
    return true;
}

bool
dp_tables_del_remote(struct dp_tables *t, uint32_t segment,
                     const struct eth_addr *mac)
{
    uint32_t i;

    if (!t->src || segment >= t->n_segments) {
        return false;
    }
    i = mac_slot(t, dp_mac_key(segment, mac));
    if (!t->macs[i].key || !t->macs[i].remote) {
        return false;
    }
    t->src->vtep_refs[t->macs[i].vtep]--;
    table_remove(t->macs, t->mac_mask, sizeof *t->macs, i, mac_empty, mac_home,
                 mac_clear);
    t->src->n_macs--;
    return true;
}

bool
dp_tables_add_neigh(struct dp_tables *t, uint32_t segment, const uint8_t ip[16],
                    const struct eth_addr *mac)
{
    struct dp_tables_src *src = t->src;
    uint32_t i;

    if (!src || segment >= t->n_segments ||
        2 * (src->n_neighs + 1) > t->neigh_mask + 1) {
        return false;
    }
    i = neigh_slot(t, segment, ip);
    if (t->neighs[i].segment != DP_SEG_NONE) {
        return false;
    }
    t->neighs[i].segment = segment;
    memcpy(t->neighs[i].ip, ip, 16);
    t->neighs[i].mac = *mac;
    src->n_neighs++;
    return true;
}

bool
dp_tables_del_neigh(struct dp_tables *t, uint32_t segment, const uint8_t ip[16],
                    const struct eth_addr *mac)
{
    uint32_t i;

    if (!t->src || segment >= t->n_segments) {
        return false;
    }
    i = neigh_slot(t, segment, ip);
    if (t->neighs[i].segment == DP_SEG_NONE ||
        !eth_addr_equals(&t->neighs[i].mac, mac)) {
        return false;
    }
    table_remove(t->neighs, t->neigh_mask, sizeof *t->neighs, i, neigh_empty,
                 neigh_home, neigh_clear);
    t->src->n_neighs--;
    return true;
}

/* Grows the port and VIF arrays of copy 't' to 'n_ports' entries (new
 * ports pending, new VIFs unbound), as a full build with more ports. */
static void
grow_ports(struct dp_tables *t, uint32_t n_ports)
{
    t->ports = xrealloc(t->ports, n_ports * sizeof *t->ports);
    t->vifs = xrealloc(t->vifs, n_ports * sizeof *t->vifs);
    for (uint32_t i = t->n_ports; i < n_ports; i++) {
        t->ports[i] = NULL;
        t->vifs[i] = (struct dp_vif){.segment = DP_SEG_NONE};
    }
    t->n_ports = n_ports;
}

bool
dp_tables_add_local(struct dp_tables *t, uint32_t segment, uint16_t port,
                    uint32_t lport, const struct eth_addr *mac)
{
    struct dp_tables_src *src = t->src;
    uint64_t key = dp_mac_key(segment, mac);
    struct dp_segment *seg;
    uint32_t i;

    if (!src || segment >= t->n_segments || port < DP_PORT_FIRST_VIF ||
        2 * (src->n_macs + 1) > t->mac_mask + 1) {
        return false;
    }
    if (port >= t->n_ports) {
        grow_ports(t, (uint32_t)port + 1);
    }
    i = mac_slot(t, key);
    if (t->vifs[port].segment != DP_SEG_NONE || t->macs[i].key) {
        return false; /* a port with two MACs, or a MAC taken */
    }
    t->macs[i] =
        (struct dp_mac_entry){.key = key, .port = port, .lport = lport};
    src->n_macs++;
    t->vifs[port].segment = segment;
    t->vifs[port].lport = lport;
    t->vifs[port].mac = *mac;
    seg = &t->segments[segment];
    seg->local_ports = xrealloc(seg->local_ports,
                                (seg->n_local + 1) * sizeof *seg->local_ports);
    seg->local_ports[seg->n_local++] = port;
    return true;
}

bool
dp_tables_del_local(struct dp_tables *t, uint32_t segment, uint16_t port,
                    const struct eth_addr *mac)
{
    struct dp_segment *seg;
    uint32_t i;

    if (!t->src || segment >= t->n_segments || port >= t->n_ports ||
        t->vifs[port].segment != segment) {
        return false;
    }
    i = mac_slot(t, dp_mac_key(segment, mac));
    if (!t->macs[i].key || t->macs[i].remote || t->macs[i].port != port) {
        return false;
    }
    table_remove(t->macs, t->mac_mask, sizeof *t->macs, i, mac_empty, mac_home,
                 mac_clear);
    t->src->n_macs--;
    dfw_vnic_unref(t->vifs[port].fw);
    t->vifs[port] = (struct dp_vif){.segment = DP_SEG_NONE};
    seg = &t->segments[segment];
    for (uint32_t k = 0; k < seg->n_local; k++) {
        if (seg->local_ports[k] == port) {
            seg->local_ports[k] = seg->local_ports[--seg->n_local];
            break;
        }
    }
    return true;
}

void
dp_tables_set_port(struct dp_tables *t, uint16_t index, struct dp_port *port)
{
    if (index < t->n_ports) {
        t->ports[index] = port;
    }
}

/* The index of 'vtep' in the flood list of 'seg', or n_flood. */
static uint32_t
flood_find(const struct dp_segment *seg, const uint8_t vtep[16])
{
    uint32_t i = 0;

    while (i < seg->n_flood && memcmp(seg->flood[i].addr, vtep, 16)) {
        i++;
    }
    return i;
}

bool
dp_tables_add_flood(struct dp_tables *t, uint32_t segment,
                    const uint8_t vtep[16])
{
    struct dp_segment *seg;

    if (!t->src || segment >= t->n_segments) {
        return false;
    }
    seg = &t->segments[segment];
    if (flood_find(seg, vtep) < seg->n_flood) {
        return false;
    }
    seg->flood = xrealloc(seg->flood, (seg->n_flood + 1) * sizeof *seg->flood);
    memcpy(seg->flood[seg->n_flood++].addr, vtep, 16);
    return true;
}

bool
dp_tables_del_flood(struct dp_tables *t, uint32_t segment,
                    const uint8_t vtep[16])
{
    struct dp_segment *seg;
    uint32_t i;

    if (!t->src || segment >= t->n_segments) {
        return false;
    }
    seg = &t->segments[segment];
    i = flood_find(seg, vtep);
    if (i == seg->n_flood) {
        return false;
    }
    seg->flood[i] = seg->flood[--seg->n_flood];
    return true;
}

void
dp_tables_patch_firewall(struct dp_tables *t, struct dfw_sets *sets)
{
    set_fw_sets(&t->fw_sets, sets);
}

void
dp_tables_patch_vif_firewall(struct dp_tables *t, uint16_t port,
                             struct dfw_vnic *fw)
{
    if (port < t->n_ports) {
        dfw_vnic_ref(fw);
        dfw_vnic_unref(t->vifs[port].fw);
        t->vifs[port].fw = fw;
    }
}

void
dp_tables_finish(struct dp_tables *t)
{
    build_routers(t);
    build_peers(t);
}
