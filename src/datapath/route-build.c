/* Building the distributed routers' tables (route.h, dp_routers_build()):
 * control side only, called by dp_tables_build() once the segments exist.
 *
 * Per router, every route becomes a "candidate" (prefix, length, rank):
 * a local route for each of the router's own addresses (rank 0), a
 * connected route for each gateway subnet (rank 1 = distance 0) and each
 * static route whose next hops resolve (rank 1 + distance).  Sorting the
 * candidates groups them by prefix with the best rank first; the best wins
 * and equal-ranked static routes merge their next hops.  The winners'
 * member sets are interned into next-hop groups (routes with the same set
 * share one), then each family's LPM table is built from (prefix, group).
 *
 * Cost: O(R log R) for R routes, plus O(G) per static next hop to find its
 * connected subnet among the router's G gateways (G is the number of
 * segments the router attaches to: tens, not thousands). */
#include "datapath/route.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/lpm.h"
#include "lib/hash.h"
#include "lib/util.h"

enum cand_kind { CAND_LOCAL, CAND_CONNECTED, CAND_STATIC };

struct cand {
    uint32_t router;
    uint8_t prefix[16]; /* masked, IPv4-mapped or IPv6 */
    uint8_t v6;
    uint8_t plen;  /* in its family's terms */
    uint8_t kind;  /* enum cand_kind */
    uint32_t rank; /* 0 local, else 1 + distance */
    uint32_t seq;  /* insertion order: ties keep it */
    uint32_t arg;  /* connected: segment; static: route index */
    uint16_t dist; /* administrative distance, for dumps */
};

static bool
is_mapped(const uint8_t a[16])
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a, pfx, 12);
}

/* Clears every bit of 'a' past the first 'bits'. */
static void
mask_bits(uint8_t a[16], unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        if (bits >= 8 * (i + 1)) {
            continue;
        }
        a[i] &= bits > 8 * i ? (uint8_t)(0xff00 >> (bits - 8 * i)) : 0;
    }
}

/* Bits of the 16-byte form for a prefix length in family terms. */
static unsigned
full_bits(bool v6, uint8_t plen)
{
    return v6 ? plen : 96u + plen;
}

static bool
prefix_contains(const uint8_t prefix[16], unsigned bits, const uint8_t a[16])
{
    uint8_t m[16];
    memcpy(m, a, 16);
    mask_bits(m, bits);
    return !memcmp(m, prefix, 16);
}

void
dp_route_lla(const struct eth_addr *mac, uint8_t out[16])
{
    memset(out, 0, 16);
    out[0] = 0xfe;
    out[1] = 0x80;
    out[8] = mac->b[0] ^ 0x02; /* universal/local bit inverted */
    out[9] = mac->b[1];
    out[10] = mac->b[2];
    out[11] = 0xff;
    out[12] = 0xfe;
    out[13] = mac->b[3];
    out[14] = mac->b[4];
    out[15] = mac->b[5];
}

static int
cand_cmp(const void *a_, const void *b_)
{
    const struct cand *a = a_, *b = b_;
    int c;

    if (a->router != b->router) {
        return a->router < b->router ? -1 : 1;
    }
    if (a->v6 != b->v6) {
        return a->v6 < b->v6 ? -1 : 1;
    }
    c = memcmp(a->prefix, b->prefix, 16);
    if (c) {
        return c;
    }
    if (a->plen != b->plen) {
        return a->plen < b->plen ? -1 : 1;
    }
    if (a->rank != b->rank) {
        return a->rank < b->rank ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int
nh_cmp(const void *a_, const void *b_)
{
    const struct dp_nexthop *a = a_, *b = b_;

    if (a->segment != b->segment) {
        return a->segment < b->segment ? -1 : 1;
    }
    return memcmp(a->addr, b->addr, 16);
}

/* Growable arrays for the outputs. */
struct vec {
    void *items;
    uint32_t n, cap;
    size_t size;
};

static void *
vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->items = xrealloc(v->items, (size_t)v->cap * v->size);
    }
    void *p = (char *)v->items + (size_t)v->n++ * v->size;
    memset(p, 0, v->size);
    return p;
}

/* Interns next-hop groups of one router: same kind and members -> same
 * group index. */
struct interner {
    struct vec groups; /* struct dp_nh_group */
    struct vec nhs;    /* struct dp_nexthop */
    uint32_t *slots;   /* group index + 1, 0 empty */
    uint32_t mask;
};

static uint32_t
group_hash(uint8_t kind, const struct dp_nexthop *m, uint32_t n)
{
    return n ? hash_bytes(m, n * sizeof *m, kind) : hash_mix64(kind + 1);
}

static void
interner_grow(struct interner *in)
{
    uint32_t cap = in->mask ? 2 * (in->mask + 1) : 64;
    const struct dp_nh_group *g = in->groups.items;
    const struct dp_nexthop *nhs = in->nhs.items;

    free(in->slots);
    in->slots = xcalloc(cap, sizeof *in->slots);
    in->mask = cap - 1;
    for (uint32_t k = 0; k < in->groups.n; k++) {
        uint32_t i = group_hash(g[k].kind, nhs + g[k].first, g[k].n) & in->mask;
        while (in->slots[i]) {
            i = (i + 1) & in->mask;
        }
        in->slots[i] = k + 1;
    }
}

/* Returns the group of (kind, m[0..n-1]); 'm' sorted and zero-padded. */
static uint32_t
intern(struct interner *in, uint8_t kind, const struct dp_nexthop *m,
       uint32_t n)
{
    if (2 * (in->groups.n + 1) > in->mask) {
        interner_grow(in);
    }
    uint32_t i = group_hash(kind, m, n) & in->mask;
    for (; in->slots[i]; i = (i + 1) & in->mask) {
        const struct dp_nh_group *g =
            (const struct dp_nh_group *)in->groups.items + in->slots[i] - 1;
        if (g->kind == kind && g->n == n &&
            (!n || !memcmp((const struct dp_nexthop *)in->nhs.items + g->first,
                           m, n * sizeof *m))) {
            return in->slots[i] - 1;
        }
    }
    struct dp_nh_group *g = vec_push(&in->groups);
    g->first = in->nhs.n;
    g->n = (uint16_t)n;
    g->kind = kind;
    for (uint32_t k = 0; k < n; k++) {
        *(struct dp_nexthop *)vec_push(&in->nhs) = m[k];
    }
    in->slots[i] = in->groups.n;
    return in->groups.n - 1;
}

/* Resolves next hop 'nh' of 'router' to the segment of the longest
 * connected prefix containing it; DP_SEG_NONE if none does (or it is one
 * of the router's own addresses). */
static uint32_t
resolve_nh(const struct dp_tables *t, const struct dp_routes_input *in,
           uint32_t router, const uint8_t nh[16])
{
    uint32_t best = DP_SEG_NONE;
    int best_bits = -1;
    bool v6 = !is_mapped(nh);

    for (uint32_t i = 0; i < in->n_gws; i++) {
        const struct dp_route_gw *gw = &in->gws[i];
        uint8_t pfx[16];
        unsigned bits = full_bits(v6, gw->plen);

        if (t->segments[gw->segment].router != router ||
            is_mapped(gw->addr) == v6) {
            continue;
        }
        if (!memcmp(gw->addr, nh, 16)) {
            return DP_SEG_NONE;
        }
        memcpy(pfx, gw->addr, 16);
        mask_bits(pfx, bits);
        if ((int)bits > best_bits && prefix_contains(pfx, bits, nh)) {
            best = gw->segment;
            best_bits = (int)bits;
        }
    }
    return best;
}

static struct cand *
add_cand(struct vec *cands, uint32_t router, const uint8_t addr[16],
         uint8_t plen, uint8_t kind, uint32_t rank, uint32_t arg)
{
    struct cand *c = vec_push(cands);
    c->router = router;
    c->v6 = !is_mapped(addr);
    c->plen = plen;
    memcpy(c->prefix, addr, 16);
    mask_bits(c->prefix, full_bits(c->v6, plen));
    c->kind = kind;
    c->rank = rank;
    c->seq = cands->n;
    c->arg = arg;
    c->dist = (uint16_t)(rank ? rank - 1 : 0);
    return c;
}

/* Builds router 'r' from its sorted candidates c[0 .. n-1]. */
static void
build_router(struct dp_router *rt, const struct cand *c, uint32_t n,
             const struct dp_nexthop *resolved, const uint32_t *res_first,
             const uint32_t *res_n)
{
    struct interner in = {
        .groups.size = sizeof(struct dp_nh_group),
        .nhs.size = sizeof(struct dp_nexthop),
    };
    struct vec r4 = {.size = sizeof(struct lpm4_route)};
    struct vec r6 = {.size = sizeof(struct lpm6_route)};
    struct vec info = {.size = sizeof(struct dp_route_info)};
    struct vec members = {.size = sizeof(struct dp_nexthop)};

    for (uint32_t i = 0; i < n;) {
        uint32_t j = i + 1, g;
        while (j < n && c[j].v6 == c[i].v6 && c[j].plen == c[i].plen &&
               !memcmp(c[j].prefix, c[i].prefix, 16)) {
            j++;
        }
        /* c[i] is the best of c[i .. j-1]. */
        members.n = 0;
        if (c[i].kind == CAND_LOCAL) {
            g = intern(&in, DP_NHG_LOCAL, NULL, 0);
        } else if (c[i].kind == CAND_CONNECTED) {
            struct dp_nexthop *m = vec_push(&members);
            m->segment = c[i].arg;
            m->direct = 1;
            g = intern(&in, DP_NHG_FORWARD, members.items, 1);
        } else {
            for (uint32_t k = i; k < j && c[k].rank == c[i].rank; k++) {
                uint32_t ri = c[k].arg;
                for (uint32_t x = 0; x < res_n[ri]; x++) {
                    *(struct dp_nexthop *)vec_push(&members) =
                        resolved[res_first[ri] + x];
                }
            }
            struct dp_nexthop *m = members.items;
            uint32_t u = 0;
            if (members.n) {
                qsort(m, members.n, sizeof *m, nh_cmp);
                for (uint32_t k = 0; k < members.n; k++) {
                    if (!u || nh_cmp(&m[u - 1], &m[k])) {
                        m[u++] = m[k];
                    }
                }
            }
            u = MIN(u, UINT16_MAX);
            g = u ? intern(&in, DP_NHG_FORWARD, m, u)
                  : intern(&in, DP_NHG_DISCARD, NULL, 0);
        }
        struct dp_route_info *ri = vec_push(&info);
        memcpy(ri->prefix, c[i].prefix, 16);
        ri->plen = c[i].plen;
        ri->v6 = c[i].v6;
        ri->distance = c[i].dist;
        ri->group = g;
        const struct dp_nh_group *grp =
            (const struct dp_nh_group *)in.groups.items + g;
        uint32_t value = grp->kind == DP_NHG_FORWARD && grp->n == 1
                             ? DP_LPM_LONE_NH | grp->first
                             : g;
        if (c[i].v6) {
            struct lpm6_route *l = vec_push(&r6);
            memcpy(l->prefix, c[i].prefix, 16);
            l->len = c[i].plen;
            l->value = value;
        } else {
            struct lpm4_route *l = vec_push(&r4);
            uint32_t a;
            memcpy(&a, c[i].prefix + 12, 4);
            l->prefix = ntohl(a);
            l->len = c[i].plen;
            l->value = value;
        }
        i = j;
    }
    /* Prefixes are distinct and lengths in range: these cannot fail. */
    if (lpm4_build(r4.items, r4.n, &rt->lpm4) ||
        lpm6_build(r6.items, r6.n, &rt->lpm6)) {
        abort();
    }
    rt->groups = in.groups.items;
    rt->n_groups = in.groups.n;
    /* One next hop per cache line (tables.h checks the size). */
    rt->nhs = xmalloc_aligned(64, (in.nhs.n ? in.nhs.n : 1) * sizeof *rt->nhs);
    if (in.nhs.n) {
        memcpy(rt->nhs, in.nhs.items, in.nhs.n * sizeof *rt->nhs);
    }
    free(in.nhs.items);
    rt->n_nhs = in.nhs.n;
    rt->routes = info.items;
    rt->n_routes = info.n;
    free(in.slots);
    free(r4.items);
    free(r6.items);
    free(members.items);
}

/* Next hops given by address are resolved once, here, to their neighbour's
 * MAC and MAC table entry: the snapshot holds both tables, so the packet
 * path of a static route makes no hash lookup at all. */
static void
resolve_macs(struct dp_tables *t, struct dp_router *rt)
{
    for (uint32_t i = 0; i < rt->n_nhs; i++) {
        struct dp_nexthop *nh = &rt->nhs[i];
        const struct eth_addr *mac;

        if (nh->direct || !(mac = dp_neigh_lookup(t, nh->segment, nh->addr))) {
            continue;
        }
        nh->resolved = 1;
        nh->mac = *mac;
        nh->l2 = dp_mac_lookup(t, nh->segment, mac);
        if (nh->l2) {
            nh->l2_copy = *nh->l2;
        }
    }
}

void
dp_routers_build(struct dp_tables *t, const struct dp_routes_input *in)
{
    struct vec cands = {.size = sizeof(struct cand)};
    struct vec resolved = {.size = sizeof(struct dp_nexthop)};
    uint32_t *res_first = xcalloc(in->n_routes + 1, sizeof *res_first);
    uint32_t *res_n = xcalloc(in->n_routes + 1, sizeof *res_n);

    t->n_routers = in->n_routers;
    t->routers = xcalloc(in->n_routers ? in->n_routers : 1, sizeof *t->routers);

    for (uint32_t i = 0; i < in->n_gws; i++) {
        const struct dp_route_gw *gw = &in->gws[i];
        const struct dp_segment *seg = &t->segments[gw->segment];
        uint8_t lla[16];
        bool v6 = !is_mapped(gw->addr);

        if (seg->router >= in->n_routers || gw->plen > (v6 ? 128 : 32)) {
            continue;
        }
        add_cand(&cands, seg->router, gw->addr, v6 ? 128 : 32, CAND_LOCAL, 0,
                 0);
        add_cand(&cands, seg->router, gw->addr, gw->plen, CAND_CONNECTED, 1,
                 gw->segment);
        if (v6) {
            dp_route_lla(&seg->router_mac, lla);
            add_cand(&cands, seg->router, lla, 128, CAND_LOCAL, 0, 0);
        }
    }
    for (uint32_t i = 0; i < in->n_routes; i++) {
        const struct dp_route_static *r = &in->routes[i];
        bool v6 = !is_mapped(r->prefix);

        if (r->router >= in->n_routers || r->plen > (v6 ? 128 : 32)) {
            continue;
        }
        res_first[i] = resolved.n;
        for (uint32_t k = 0; k < r->n_nh; k++) {
            const uint8_t *nh = in->nhs[r->first_nh + k];
            uint32_t seg = is_mapped(nh) == !v6
                               ? resolve_nh(t, in, r->router, nh)
                               : DP_SEG_NONE;
            if (seg == DP_SEG_NONE) {
                t->routers[r->router].n_unresolved++;
                continue;
            }
            struct dp_nexthop *m = vec_push(&resolved);
            m->segment = seg;
            memcpy(m->addr, nh, 16);
        }
        res_n[i] = resolved.n - res_first[i];
        if (r->n_nh && !res_n[i]) {
            t->routers[r->router].n_routes_unused++;
            continue; /* a route going nowhere hides nothing */
        }
        add_cand(&cands, r->router, r->prefix, r->plen, CAND_STATIC,
                 1 + MIN(MAX(r->distance, 1u), 255u), i);
    }

    struct cand *c = cands.items;
    if (cands.n) {
        qsort(c, cands.n, sizeof *c, cand_cmp);
    }
    for (uint32_t i = 0, r = 0; r < in->n_routers; r++) {
        uint32_t j = i;
        while (j < cands.n && c[j].router == r) {
            j++;
        }
        build_router(&t->routers[r], c + i, j - i, resolved.items, res_first,
                     res_n);
        resolve_macs(t, &t->routers[r]);
        i = j;
    }
    free(cands.items);
    free(resolved.items);
    free(res_first);
    free(res_n);
}

void
dp_routers_free(struct dp_tables *t)
{
    for (uint32_t r = 0; r < t->n_routers; r++) {
        struct dp_router *rt = &t->routers[r];
        lpm4_free(rt->lpm4);
        lpm6_free(rt->lpm6);
        free(rt->groups);
        free(rt->nhs);
        free(rt->routes);
    }
    free(t->routers);
    t->routers = NULL;
    t->n_routers = 0;
}
