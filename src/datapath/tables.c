/* Building and freeing forwarding snapshots (tables.h).  Runs on the
 * control side only; the packet path uses the inline lookups in tables.h. */
#include "datapath/tables.h"

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
    struct tb_vec segs;       /* struct tb_seg */
    struct tb_vec locals;     /* struct tb_local */
    struct tb_vec remotes;    /* struct tb_remote */
    struct tb_vec floods;     /* struct tb_flood */
    struct tb_vec vteps;      /* struct dp_vtep */
    struct tb_vec neighs;     /* struct dp_neigh_entry */
    uint32_t *vtep_slots;     /* open addressing: vtep index + 1, 0 empty */
    uint32_t vtep_mask;       /* capacity - 1 (0: not allocated yet) */
    struct tb_vec fws;        /* struct tb_fw */
    struct dfw_sets *fw_sets; /* a reference, or NULL */
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
    free(b->vtep_slots);
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

/* Index of 'addr' in b->vteps, added if new.  A hash index keeps this
 * O(1): a host's span may hold 100,000 bindings behind thousands of
 * endpoints. */
static uint32_t
vtep_index(struct dp_tables_builder *b, const uint8_t addr[16])
{
    struct dp_vtep *v;
    uint32_t i;

    if (2 * (b->vteps.n + 1) > b->vtep_mask) {
        uint32_t cap = b->vtep_mask ? 2 * (b->vtep_mask + 1) : 64;
        free(b->vtep_slots);
        b->vtep_slots = xcalloc(cap, sizeof *b->vtep_slots);
        b->vtep_mask = cap - 1;
        v = b->vteps.items;
        for (uint32_t k = 0; k < b->vteps.n; k++) {
            i = vtep_hash(v[k].addr) & b->vtep_mask;
            while (b->vtep_slots[i]) {
                i = (i + 1) & b->vtep_mask;
            }
            b->vtep_slots[i] = k + 1;
        }
    }
    v = b->vteps.items;
    for (i = vtep_hash(addr) & b->vtep_mask; b->vtep_slots[i];
         i = (i + 1) & b->vtep_mask) {
        if (!memcmp(v[b->vtep_slots[i] - 1].addr, addr, 16)) {
            return b->vtep_slots[i] - 1;
        }
    }
    memcpy(((struct dp_vtep *)vec_push(&b->vteps))->addr, addr, 16);
    b->vtep_slots[i] = b->vteps.n;
    return b->vteps.n - 1;
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

void
dp_tb_set_firewall(struct dp_tables_builder *b, struct dfw_sets *sets)
{
    dfw_sets_ref(sets);
    dfw_sets_unref(b->fw_sets);
    b->fw_sets = sets;
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

static void
insert_mac(struct dp_tables *t, const struct dp_mac_entry *entry)
{
    uint32_t i = (uint32_t)hash_mix64(entry->key) & t->mac_mask;

    while (t->macs[i].key && t->macs[i].key != entry->key) {
        i = (i + 1) & t->mac_mask;
    }
    t->macs[i] = *entry; /* a later duplicate replaces an earlier one */
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

struct dp_tables *
dp_tables_build(struct dp_tables_builder *b)
{
    struct dp_tables *t = xcalloc(1, sizeof *t);
    const struct tb_local *locals = b->locals.items;
    const struct tb_remote *remotes = b->remotes.items;
    const struct dp_neigh_entry *neighs = b->neighs.items;

    t->generation = b->generation;
    t->underlay_mtu = b->underlay_mtu;
    t->n_ports = b->n_ports;
    t->ports = b->ports;
    b->ports = NULL;
    t->vifs = xcalloc(t->n_ports ? t->n_ports : 1, sizeof *t->vifs);
    for (uint32_t i = 0; i < t->n_ports; i++) {
        t->vifs[i].segment = DP_SEG_NONE;
    }

    t->n_vteps = b->vteps.n;
    t->vteps = xcalloc(t->n_vteps ? t->n_vteps : 1, sizeof *t->vteps);
    if (t->n_vteps) {
        memcpy(t->vteps, b->vteps.items, t->n_vteps * sizeof *t->vteps);
    }

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

    add_router_addresses(t, b);
    neighs = b->neighs.items; /* may have moved */
    t->neigh_mask = table_capacity(b->neighs.n) - 1;
    t->neighs = xcalloc(t->neigh_mask + 1, sizeof *t->neighs);
    for (uint32_t i = 0; i <= t->neigh_mask; i++) {
        t->neighs[i].segment = DP_SEG_NONE;
    }
    for (uint32_t n = 0; n < b->neighs.n; n++) {
        const struct dp_neigh_entry *src = &neighs[n];
        uint32_t i = neigh_hash(src->segment, src->ip) & t->neigh_mask;
        while (t->neighs[i].segment != DP_SEG_NONE &&
               !(t->neighs[i].segment == src->segment &&
                 !memcmp(t->neighs[i].ip, src->ip, 16))) {
            i = (i + 1) & t->neigh_mask;
        }
        t->neighs[i] = *src;
    }

    struct dp_routes_input rin = {
        .n_routers = b->n_routers,
        .gws = b->gws.items,
        .n_gws = b->gws.n,
        .routes = b->routes.items,
        .n_routes = b->routes.n,
        .nhs = (const uint8_t(*)[16])b->nhs.items,
    };
    dp_routers_build(t, &rin);

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
    free(t->macs);
    free(t->neighs);
    free(t->vni_map[0]);
    free(t->vni_map[1]);
    free(t);
}
