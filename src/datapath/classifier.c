/* Rule classifier: compilation into per-field bitmaps and the first-match
 * lookup (see classifier.h for the algorithm and its contract).
 *
 * Memory layout of a compiled classifier with N rules and W = ceil(N/64)
 * words per bitmap:
 *   - 7 dense bitmaps of W words: 4 direction x family, and "any" for
 *     source, destination and service;
 *   - sparse bitmaps (word index, word) for every referenced source set,
 *     destination set and service atom, concatenated in one pool: a set
 *     named by k rules costs at most k entries, so memory is O(total
 *     references) rather than O(sets x N);
 *   - two small open-addressing maps set id -> sparse bitmap;
 *   - an interval index for services. */
#include "datapath/classifier.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/util.h"

#define NO_LIST UINT32_MAX

struct cls_rinfo { /* per rank */
    uint32_t id;
    uint8_t action;
    uint8_t flags;
};

/* Open-addressing map: set id -> sparse list index. */
struct setmap {
    uint32_t *key; /* UINT32_MAX: empty */
    uint32_t *val;
    uint32_t mask;
};

struct cls {
    uint32_t n_rules;
    uint32_t n_words;
    struct cls_rinfo *rules; /* by rank */
    struct cls_result deflt;
    uint8_t flags_union; /* OR of every rule's flags and the default's */

    uint64_t *dense;   /* 7 * n_words: see DENSE_* */
    uint32_t *sp_word; /* sparse pool: word indexes */
    uint64_t *sp_bits; /* sparse pool: words */
    uint32_t *sp_off;  /* per list: first pool entry; n_lists + 1 */
    uint32_t n_lists, n_sparse;

    struct setmap src_map, dst_map;
    struct as_ivx *svc_ivx; /* (proto << 16 | port) -> list index */
};

enum {
    DENSE_DIRFAM = 0, /* 4 bitmaps: (dir == OUT) << 1 | (family == 6) */
    DENSE_SRC_ANY = 4,
    DENSE_DST_ANY = 5,
    DENSE_SVC_ANY = 6,
    N_DENSE = 7,
};

static inline uint64_t *
dense(const struct cls *c, int which)
{
    return &c->dense[(size_t)which * c->n_words];
}

/* ---- Compilation. ---- */

/* (list key, rank) pairs gathered before grouping into sparse lists. */
struct ref {
    uint64_t key; /* set id, or service atom (proto << 32 | lo << 16 | hi) */
    uint32_t rank;
};

static int
ref_cmp(const void *a_, const void *b_)
{
    const struct ref *a = a_, *b = b_;
    if (a->key != b->key) {
        return a->key < b->key ? -1 : 1;
    }
    return (a->rank > b->rank) - (a->rank < b->rank);
}

struct refs {
    struct ref *r;
    size_t n, cap;
};

static void
refs_add(struct refs *rs, uint64_t key, uint32_t rank)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->r = xrealloc(rs->r, rs->cap * sizeof *rs->r);
    }
    rs->r[rs->n++] = (struct ref){key, rank};
}

/* Sparse pool under construction. */
struct pool_builder {
    struct cls *c;
    size_t cap_lists, cap_sparse;
};

/* Turns each run of equal keys in sorted 'rs' into one sparse list; calls
 * 'on_list(key, list index)' for each. */
static void
build_lists(struct pool_builder *pb, struct refs *rs,
            void (*on_list)(void *, uint64_t key, uint32_t list), void *arg)
{
    struct cls *c = pb->c;

    if (rs->n) {
        qsort(rs->r, rs->n, sizeof *rs->r, ref_cmp);
    }
    for (size_t i = 0; i < rs->n;) {
        uint64_t key = rs->r[i].key;
        uint32_t list = c->n_lists++;
        if (c->n_lists + 1 > pb->cap_lists) {
            pb->cap_lists = pb->cap_lists * 2 + 16;
            c->sp_off = xrealloc(c->sp_off, pb->cap_lists * 4);
        }
        c->sp_off[list] = c->n_sparse;
        for (; i < rs->n && rs->r[i].key == key; i++) {
            uint32_t w = rs->r[i].rank / 64;
            uint64_t bit = 1ull << (rs->r[i].rank % 64);
            if (c->n_sparse > c->sp_off[list] &&
                c->sp_word[c->n_sparse - 1] == w) {
                c->sp_bits[c->n_sparse - 1] |= bit;
                continue;
            }
            if (c->n_sparse == pb->cap_sparse) {
                pb->cap_sparse = pb->cap_sparse * 2 + 64;
                c->sp_word = xrealloc(c->sp_word, pb->cap_sparse * 4);
                c->sp_bits = xrealloc(c->sp_bits, pb->cap_sparse * 8);
            }
            c->sp_word[c->n_sparse] = w;
            c->sp_bits[c->n_sparse] = bit;
            c->n_sparse++;
        }
        c->sp_off[list + 1] = c->n_sparse;
        on_list(arg, key, list);
    }
}

static void
setmap_init(struct setmap *m, size_t n)
{
    size_t cap = 4;
    while (cap < 2 * n) {
        cap *= 2;
    }
    m->mask = (uint32_t)cap - 1;
    m->key = xmalloc(cap * 4);
    m->val = xmalloc(cap * 4);
    memset(m->key, 0xff, cap * 4);
}

static void
setmap_put(void *m_, uint64_t key, uint32_t list)
{
    struct setmap *m = m_;
    uint32_t i = hash_u64(key, 0) & m->mask;
    while (m->key[i] != UINT32_MAX) {
        i = (i + 1) & m->mask;
    }
    m->key[i] = (uint32_t)key;
    m->val[i] = list;
}

static inline uint32_t
setmap_find(const struct setmap *m, uint32_t key)
{
    uint32_t i = hash_u64(key, 0) & m->mask;
    for (;;) {
        uint32_t k = m->key[i];
        if (k == key) {
            return m->val[i];
        }
        if (k == UINT32_MAX) {
            return NO_LIST;
        }
        i = (i + 1) & m->mask;
    }
}

static size_t
count_keys(const struct refs *rs) /* upper bound on distinct keys */
{
    return rs->n;
}

struct svc_acc {
    struct as_range *r;
    size_t n;
};

static void
svc_put(void *a_, uint64_t key, uint32_t list)
{
    struct svc_acc *a = a_;
    uint64_t proto = key >> 32, lo = (key >> 16) & 0xffff, hi = key & 0xffff;
    struct as_range *r = &a->r[a->n++];
    r->lo = (struct as_u128){0, proto << 16 | lo};
    r->hi = (struct as_u128){0, proto << 16 | hi};
    r->id = list;
}

struct order {
    uint32_t priority, id, index;
};

static int
order_cmp(const void *a_, const void *b_)
{
    const struct order *a = a_, *b = b_;
    if (a->priority != b->priority) {
        return a->priority < b->priority ? -1 : 1;
    }
    if (a->id != b->id) {
        return a->id < b->id ? -1 : 1;
    }
    return (a->index > b->index) - (a->index < b->index);
}

static bool
proto_ranged(uint16_t proto)
{
    return cls_proto_has_ports((uint8_t)proto) || proto == 1 || proto == 58;
}

struct cls *
cls_compile(const struct cls_rule *rules, size_t n, struct cls_result deflt)
{
    struct cls *c = xcalloc(1, sizeof *c);
    struct pool_builder pb = {c, 0, 0};
    struct refs src = {0}, dst = {0}, svc = {0};
    struct order *order = xmalloc((n + 1) * sizeof *order);

    c->n_rules = (uint32_t)n;
    c->n_words = (uint32_t)((n + 63) / 64);
    c->deflt = deflt;
    c->deflt.rank = UINT32_MAX;
    c->flags_union = deflt.flags;
    c->rules = xcalloc(n + 1, sizeof *c->rules);
    c->dense = xcalloc((size_t)N_DENSE * c->n_words + 1, 8);
    c->sp_off = xcalloc(1, 4);

    for (size_t i = 0; i < n; i++) {
        order[i] = (struct order){rules[i].priority, rules[i].id, (uint32_t)i};
    }
    qsort(order, n, sizeof *order, order_cmp);

    for (uint32_t rank = 0; rank < n; rank++) {
        const struct cls_rule *r = &rules[order[rank].index];
        uint32_t w = rank / 64;
        uint64_t bit = 1ull << (rank % 64);
        uint8_t dir = r->dir & CLS_DIR_BOTH ? r->dir : CLS_DIR_BOTH;
        uint8_t fam = r->family & CLS_FAM_BOTH ? r->family : CLS_FAM_BOTH;

        c->rules[rank] = (struct cls_rinfo){r->id, r->action, r->flags};
        c->flags_union |= r->flags;
        for (int d = 0; d < 2; d++) {
            for (int f = 0; f < 2; f++) {
                if (dir & (d ? CLS_DIR_OUT : CLS_DIR_IN) &&
                    fam & (f ? CLS_FAM_V6 : CLS_FAM_V4)) {
                    dense(c, DENSE_DIRFAM + (d << 1 | f))[w] |= bit;
                }
            }
        }
        if (!r->n_src) {
            dense(c, DENSE_SRC_ANY)[w] |= bit;
        }
        for (uint32_t j = 0; j < r->n_src; j++) {
            refs_add(&src, r->src_sets[j], rank);
        }
        if (!r->n_dst) {
            dense(c, DENSE_DST_ANY)[w] |= bit;
        }
        for (uint32_t j = 0; j < r->n_dst; j++) {
            refs_add(&dst, r->dst_sets[j], rank);
        }
        bool any_svc = !r->n_services;
        for (uint32_t j = 0; j < r->n_services; j++) {
            const struct cls_service *s = &r->services[j];
            if (s->proto == CLS_ANY_PROTO || s->proto > 255) {
                any_svc = true;
                continue;
            }
            uint64_t lo = 0, hi = 0xffff;
            if (proto_ranged(s->proto)) {
                lo = s->port_lo;
                hi = s->port_hi;
            }
            if (lo > hi) {
                continue; /* empty range: matches nothing */
            }
            refs_add(&svc, (uint64_t)s->proto << 32 | lo << 16 | hi, rank);
        }
        if (any_svc) {
            dense(c, DENSE_SVC_ANY)[w] |= bit;
        }
    }
    free(order);

    setmap_init(&c->src_map, count_keys(&src));
    build_lists(&pb, &src, setmap_put, &c->src_map);
    setmap_init(&c->dst_map, count_keys(&dst));
    build_lists(&pb, &dst, setmap_put, &c->dst_map);

    struct svc_acc acc = {xmalloc((svc.n + 1) * sizeof *acc.r), 0};
    build_lists(&pb, &svc, svc_put, &acc);
    c->svc_ivx = as_ivx_build(acc.r, acc.n);
    free(acc.r);

    free(src.r);
    free(dst.r);
    free(svc.r);
    return c;
}

void
cls_free(struct cls *c)
{
    if (c) {
        free(c->rules);
        free(c->dense);
        free(c->sp_word);
        free(c->sp_bits);
        free(c->sp_off);
        free(c->src_map.key);
        free(c->src_map.val);
        free(c->dst_map.key);
        free(c->dst_map.val);
        as_ivx_free(c->svc_ivx);
        free(c);
    }
}

size_t
cls_n_rules(const struct cls *c)
{
    return c->n_rules;
}

uint8_t
cls_flags_union(const struct cls *c)
{
    return c->flags_union;
}

size_t
cls_memory(const struct cls *c)
{
    return sizeof *c + (size_t)c->n_rules * sizeof *c->rules +
           (size_t)N_DENSE * c->n_words * 8 + (size_t)c->n_sparse * 12 +
           (size_t)(c->n_lists + 1) * 4 +
           ((size_t)c->src_map.mask + 1 + c->dst_map.mask + 1) * 8 +
           as_ivx_n_intervals(c->svc_ivx) * 24;
}

/* ---- Lookup. ---- */

/* Per-thread scratch: three bitmaps of the largest classifier seen.  A
 * thread-specific key frees it when the thread exits. */
static __thread uint64_t *scratch;
static __thread size_t scratch_words;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_key_init(void)
{
    pthread_key_create(&scratch_key, free);
}

static void
scratch_grow(size_t words)
{
    pthread_once(&scratch_once, scratch_key_init);
    free(scratch);
    scratch_words = words;
    scratch = xmalloc(scratch_words * 8);
    pthread_setspecific(scratch_key, scratch);
}

static inline void
or_list(uint64_t *acc, const struct cls *c, uint32_t list)
{
    for (uint32_t i = c->sp_off[list]; i < c->sp_off[list + 1]; i++) {
        acc[c->sp_word[i]] |= c->sp_bits[i];
    }
}

static void
or_sets(uint64_t *acc, const struct cls *c, const struct setmap *m,
        const struct as_index *asx, int family, struct as_u128 addr)
{
    const uint32_t *ids;
    uint32_t n = as_index_lookup_key(asx, family, addr, &ids);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t list = setmap_find(m, ids[i]);
        if (list != NO_LIST) {
            or_list(acc, c, list);
        }
    }
}

struct cls_result
cls_lookup(const struct cls *c, const struct as_index *asx,
           const struct cls_key *k)
{
    uint32_t nw = c->n_words;

    if (unlikely(!nw)) {
        return c->deflt;
    }
    if (unlikely(scratch_words < 3 * (size_t)nw)) {
        scratch_grow(3 * (size_t)nw);
    }
    uint64_t *s = scratch, *d = s + nw, *v = d + nw;
    memcpy(s, dense(c, DENSE_SRC_ANY), nw * 8);
    memcpy(d, dense(c, DENSE_DST_ANY), nw * 8);
    memcpy(v, dense(c, DENSE_SVC_ANY), nw * 8);
    or_sets(s, c, &c->src_map, asx, k->family, k->src);
    or_sets(d, c, &c->dst_map, asx, k->family, k->dst);

    const uint32_t *atoms;
    struct as_u128 sk = {0, (uint64_t)k->proto << 16 | k->port};
    uint32_t n_atoms = as_ivx_lookup(c->svc_ivx, sk, &atoms);
    for (uint32_t i = 0; i < n_atoms; i++) {
        or_list(v, c, atoms[i]);
    }

    const uint64_t *df = dense(
        c, DENSE_DIRFAM + ((k->dir == CLS_DIR_OUT) << 1 | (k->family == 6)));
    for (uint32_t w = 0; w < nw; w++) {
        uint64_t m = df[w] & s[w] & d[w] & v[w];
        if (m) {
            uint32_t rank = w * 64 + (uint32_t)__builtin_ctzll(m);
            const struct cls_rinfo *ri = &c->rules[rank];
            return (struct cls_result){ri->id, rank, ri->action, ri->flags};
        }
    }
    return c->deflt;
}

bool
cls_key_from_packet(const struct dp_packet *p, uint8_t dir, struct cls_key *k)
{
    const uint8_t *l3 = p->data + p->l3_ofs;

    if (p->pflags & DP_PF_IPV4) {
        k->family = 4;
        k->src = as_key_v4(l3 + 12);
        k->dst = as_key_v4(l3 + 16);
    } else if (p->pflags & DP_PF_IPV6) {
        k->family = 6;
        k->src = as_key_v6(l3 + 8);
        k->dst = as_key_v6(l3 + 24);
    } else {
        return false;
    }
    k->dir = dir;
    k->proto = p->ip_proto;
    k->port = 0;
    if (p->l4_ofs != DP_OFS_NONE) {
        const uint8_t *l4 = p->data + p->l4_ofs;
        if (p->ip_proto == IPPROTO_TCP_ || p->ip_proto == IPPROTO_UDP_) {
            k->port = (uint16_t)(l4[2] << 8 | l4[3]);
        } else {
            k->port = (uint16_t)(l4[0] << 8 | l4[1]); /* ICMP type, code */
        }
    }
    return true;
}
