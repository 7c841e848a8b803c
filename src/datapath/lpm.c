/* Longest-prefix match tables (lpm.h): building them, and the IPv6 lookup.
 *
 * IPv4 build.  Routes are sorted by length, shortest first, and written
 * into the trie in that order, each one overwriting every entry its prefix
 * covers.  Because a longer route always comes later, "last writer wins" is
 * exactly "longest prefix wins", and no entry needs to remember which route
 * put it there.  The same order means a chunk is only ever created after
 * every route shorter than its level is in place, so a new chunk starts as
 * 256 copies of the entry it replaces (the covering shorter route, or
 * nothing) and never needs fixing up later.
 *
 * IPv6 build.  Distinct lengths are sorted into lens[0..k-1]; a lookup
 * binary-searches that array, probing the hash table for the address
 * masked to lens[mid]: a hit means "there may be something longer" (go
 * right), a miss "only shorter" (go left).  For that to find every route,
 * each route P at lens[i] leaves a marker at every lens[mid] on the search
 * path to i where the search must turn right (mid < i).  A marker carries
 * the best matching real prefix for its own bits (computed here once), so
 * a lookup that follows a marker to a dead end returns that.  An entry on
 * which no marker was set has nothing longer below it: the lookup stops
 * there (flag LPM6_CONT clear). */
#include "datapath/lpm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* ---- IPv4 ---- */

#define LPM4_ROOT   65536u
#define LPM4_CHUNK  256u
#define LPM4_MAX_CH (1u << 24) /* chunk numbers must fit in 24 bits */

static uint32_t
mask4(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static int
cmp_route4(const void *a_, const void *b_)
{
    const struct lpm4_route *a = a_, *b = b_;

    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    return a->prefix < b->prefix ? -1 : a->prefix > b->prefix;
}

/* Builder state: the entry array grows by whole chunks. */
struct lpm4_builder {
    uint32_t *tbl;
    uint32_t n;   /* entries in use (a multiple of 256) */
    uint32_t cap; /* entries allocated */
};

/* Returns the chunk behind entry 'slot', creating it from the entry's
 * current value if it is not a chunk yet; UINT32_MAX if out of chunks. */
static uint32_t
lpm4_child(struct lpm4_builder *b, uint32_t slot)
{
    uint32_t e = b->tbl[slot], c;

    if (e & LPM4_CHILD) {
        return e & ~LPM4_CHILD;
    }
    c = b->n / LPM4_CHUNK;
    if (c >= LPM4_MAX_CH) {
        return UINT32_MAX;
    }
    if (b->n + LPM4_CHUNK > b->cap) {
        b->cap *= 2;
        b->tbl = xrealloc(b->tbl, (size_t)b->cap * sizeof *b->tbl);
    }
    for (uint32_t i = 0; i < LPM4_CHUNK; i++) {
        b->tbl[b->n + i] = e;
    }
    b->n += LPM4_CHUNK;
    b->tbl[slot] = LPM4_CHILD | c;
    return c;
}

static void
fill4(uint32_t *t, uint32_t first, uint32_t count, uint32_t e)
{
    for (uint32_t i = 0; i < count; i++) {
        t[first + i] = e;
    }
}

int
lpm4_build(const struct lpm4_route *routes, size_t n, struct lpm4 **out)
{
    struct lpm4_route *r;
    struct lpm4_builder b;
    struct lpm4 *t;

    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        if (routes[i].len > 32 || routes[i].value > LPM_VALUE_MAX) {
            return EINVAL;
        }
    }
    r = xmalloc((n ? n : 1) * sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i] = routes[i];
        r[i].prefix &= mask4(r[i].len);
    }
    qsort(r, n, sizeof *r, cmp_route4);
    for (size_t i = 1; i < n; i++) {
        if (r[i].len == r[i - 1].len && r[i].prefix == r[i - 1].prefix) {
            free(r);
            return EEXIST;
        }
    }

    b.n = LPM4_ROOT;
    b.cap = LPM4_ROOT * 2;
    b.tbl = xcalloc(b.cap, sizeof *b.tbl);
    for (size_t i = 0; i < n; i++) {
        uint32_t p = r[i].prefix, e = r[i].value + 1, c;
        uint8_t len = r[i].len;

        if (len <= 16) {
            fill4(b.tbl, p >> 16, 1u << (16 - len), e);
            continue;
        }
        c = lpm4_child(&b, p >> 16);
        if (c == UINT32_MAX) {
            goto too_big;
        }
        if (len <= 24) {
            fill4(b.tbl, c * LPM4_CHUNK + ((p >> 8) & 0xff), 1u << (24 - len),
                  e);
            continue;
        }
        c = lpm4_child(&b, c * LPM4_CHUNK + ((p >> 8) & 0xff));
        if (c == UINT32_MAX) {
            goto too_big;
        }
        fill4(b.tbl, c * LPM4_CHUNK + (p & 0xff), 1u << (32 - len), e);
    }
    free(r);

    t = xmalloc(sizeof *t);
    t->tbl = xmalloc_huge((size_t)b.n * sizeof *b.tbl);
    memcpy(t->tbl, b.tbl, (size_t)b.n * sizeof *b.tbl);
    free(b.tbl);
    t->n_tbl = b.n;
    t->n_route = (uint32_t)n;
    *out = t;
    return 0;

too_big:
    free(r);
    free(b.tbl);
    return E2BIG;
}

void
lpm4_free(struct lpm4 *t)
{
    if (t) {
        free(t->tbl);
        free(t);
    }
}

size_t
lpm4_bytes(const struct lpm4 *t)
{
    return sizeof *t + (size_t)t->n_tbl * sizeof *t->tbl;
}

size_t
lpm4_n_routes(const struct lpm4 *t)
{
    return t->n_route;
}

/* ---- IPv6 ---- */

#define LPM6_USED 0x01 /* slot holds an entry */
#define LPM6_REAL 0x02 /* a route ends here (else only a marker) */
#define LPM6_CONT 0x04 /* a marker: longer routes lie below */
#define LPM6_DONE 0x08 /* build only: 'value' is final */

struct lpm6_slot {
    uint64_t hi, lo; /* prefix bits, masked to 'len' */
    uint32_t value;  /* best matching route's value + 1; 0 = none */
    uint8_t len;
    uint8_t flags; /* LPM6_* */
    uint8_t pad[10];
};
BUILD_ASSERT(sizeof(struct lpm6_slot) == 32);

struct lpm6 {
    struct lpm6_slot *slots;
    uint32_t mask;     /* n_slots - 1 */
    uint32_t n_used;   /* entries (routes + markers) */
    uint32_t n_route;  /* routes */
    uint32_t n_lens;   /* distinct lengths */
    uint8_t lens[129]; /* sorted distinct lengths */
    uint64_t mhi[129]; /* per lens[] index: mask of the top 64 bits */
    uint64_t mlo[129]; /* ... and of the bottom 64 bits */
};

static inline uint64_t
load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static void
mask6(uint8_t len, uint64_t *mhi, uint64_t *mlo)
{
    *mhi = len >= 64 ? ~0ull : len ? ~0ull << (64 - len) : 0;
    *mlo = len >= 128 ? ~0ull : len > 64 ? ~0ull << (128 - len) : 0;
}

static inline uint32_t
hash6(uint64_t hi, uint64_t lo, uint8_t len)
{
    return (uint32_t)hash_mix64(hash_mix64(hi + len) ^ lo);
}

static inline const struct lpm6_slot *
lpm6_find(const struct lpm6 *t, uint64_t hi, uint64_t lo, uint8_t len)
{
    uint32_t i = hash6(hi, lo, len) & t->mask;

    for (;;) {
        const struct lpm6_slot *s = &t->slots[i];
        if (!s->flags) {
            return NULL;
        }
        if (s->hi == hi && s->lo == lo && s->len == len) {
            return s;
        }
        i = (i + 1) & t->mask;
    }
}

uint32_t
lpm6_lookup(const struct lpm6 *t, const uint8_t addr[16])
{
    uint64_t hi = load_be64(addr), lo = load_be64(addr + 8);
    int l = 0, h = (int)t->n_lens - 1;
    uint32_t best = 0;

    while (l <= h) {
        int mid = (l + h) >> 1;
        const struct lpm6_slot *s =
            lpm6_find(t, hi & t->mhi[mid], lo & t->mlo[mid], t->lens[mid]);
        if (s) {
            best = s->value;
            if (!(s->flags & LPM6_CONT)) {
                break;
            }
            l = mid + 1;
        } else {
            h = mid - 1;
        }
    }
    return best - 1;
}

/* Returns the slot for the key, inserting an empty entry (flags USED) if
 * absent.  Grows the table to keep the load at most 1/2. */
static struct lpm6_slot *
lpm6_insert(struct lpm6 *t, uint64_t hi, uint64_t lo, uint8_t len)
{
    uint32_t i;

    if ((t->n_used + 1) * 2 > t->mask + 1) {
        uint32_t old_n = t->mask + 1;
        struct lpm6_slot *old = t->slots;

        t->mask = old_n * 2 - 1;
        t->slots = xcalloc((size_t)old_n * 2, sizeof *t->slots);
        for (uint32_t j = 0; j < old_n; j++) {
            if (old[j].flags) {
                uint32_t k = hash6(old[j].hi, old[j].lo, old[j].len) & t->mask;
                while (t->slots[k].flags) {
                    k = (k + 1) & t->mask;
                }
                t->slots[k] = old[j];
            }
        }
        free(old);
    }
    i = hash6(hi, lo, len) & t->mask;
    for (;;) {
        struct lpm6_slot *s = &t->slots[i];
        if (!s->flags) {
            s->hi = hi;
            s->lo = lo;
            s->len = len;
            s->flags = LPM6_USED;
            t->n_used++;
            return s;
        }
        if (s->hi == hi && s->lo == lo && s->len == len) {
            return s;
        }
        i = (i + 1) & t->mask;
    }
}

struct route6 {
    uint64_t hi, lo;
    uint32_t value;
    uint8_t len;
    uint8_t li; /* index of 'len' in lens[] */
};

static int
cmp_route6(const void *a_, const void *b_)
{
    const struct route6 *a = a_, *b = b_;

    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    if (a->hi != b->hi) {
        return a->hi < b->hi ? -1 : 1;
    }
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Calls the search path of lens[] index 'target': stores in 'path' the
 * indices where the search turns right on its way there; returns their
 * number. */
static int
lpm6_path(const struct lpm6 *t, int target, int path[8])
{
    int l = 0, h = (int)t->n_lens - 1, n = 0;

    while (l <= h) {
        int mid = (l + h) >> 1;
        if (mid == target) {
            break;
        }
        if (target > mid) {
            path[n++] = mid;
            l = mid + 1;
        } else {
            h = mid - 1;
        }
    }
    return n;
}

int
lpm6_build(const struct lpm6_route *routes, size_t n, struct lpm6 **out)
{
    struct route6 *r;
    struct lpm6 *t;
    int li_of_len[129];

    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        if (routes[i].len > 128 || routes[i].value > LPM_VALUE_MAX) {
            return EINVAL;
        }
    }
    if (n > UINT32_MAX / 16) {
        return E2BIG;
    }
    r = xmalloc((n ? n : 1) * sizeof *r);
    for (size_t i = 0; i < n; i++) {
        uint64_t mh, ml;
        mask6(routes[i].len, &mh, &ml);
        r[i].hi = load_be64(routes[i].prefix) & mh;
        r[i].lo = load_be64(routes[i].prefix + 8) & ml;
        r[i].len = routes[i].len;
        r[i].value = routes[i].value;
    }
    qsort(r, n, sizeof *r, cmp_route6);

    t = xcalloc(1, sizeof *t);
    t->mask = 15;
    t->slots = xcalloc(16, sizeof *t->slots);
    t->n_route = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (i && r[i].len == r[i - 1].len && r[i].hi == r[i - 1].hi &&
            r[i].lo == r[i - 1].lo) {
            free(r);
            lpm6_free(t);
            return EEXIST;
        }
        if (!i || r[i].len != r[i - 1].len) {
            t->lens[t->n_lens++] = r[i].len;
        }
    }
    for (uint32_t j = 0; j < t->n_lens; j++) {
        mask6(t->lens[j], &t->mhi[j], &t->mlo[j]);
        li_of_len[t->lens[j]] = (int)j;
    }

    /* Routes first, then the markers on each route's search path. */
    for (size_t i = 0; i < n; i++) {
        struct lpm6_slot *s = lpm6_insert(t, r[i].hi, r[i].lo, r[i].len);
        s->flags |= LPM6_REAL | LPM6_DONE;
        s->value = r[i].value + 1;
        r[i].li = (uint8_t)li_of_len[r[i].len];
    }
    for (size_t i = 0; i < n; i++) {
        int path[8], np = lpm6_path(t, r[i].li, path);
        for (int j = 0; j < np; j++) {
            int m = path[j];
            lpm6_insert(t, r[i].hi & t->mhi[m], r[i].lo & t->mlo[m], t->lens[m])
                ->flags |= LPM6_CONT;
        }
    }

    /* Best matching route of each marker that is not a route itself: one
     * downward scan over the lengths per route serves all of its markers
     * (the slot pointers are stable now: no more inserts). */
    for (size_t i = 0; i < n; i++) {
        int path[8], np = lpm6_path(t, r[i].li, path), pending = 0;
        struct lpm6_slot *mk[8];

        for (int j = 0; j < np; j++) {
            int m = path[j];
            struct lpm6_slot *s = (struct lpm6_slot *)lpm6_find(
                t, r[i].hi & t->mhi[m], r[i].lo & t->mlo[m], t->lens[m]);
            mk[j] = s->flags & LPM6_DONE ? NULL : s;
            pending += mk[j] != NULL;
        }
        /* path[] ascends; walk lengths down from the longest marker. */
        for (int l = np ? path[np - 1] : -1; pending && l >= 0; l--) {
            const struct lpm6_slot *s = lpm6_find(
                t, r[i].hi & t->mhi[l], r[i].lo & t->mlo[l], t->lens[l]);
            if (!s || !(s->flags & LPM6_REAL)) {
                continue;
            }
            for (int j = 0; j < np; j++) {
                if (mk[j] && path[j] >= l) {
                    mk[j]->value = s->value;
                    mk[j]->flags |= LPM6_DONE;
                    mk[j] = NULL;
                    pending--;
                }
            }
        }
        for (int j = 0; j < np; j++) {
            if (mk[j]) { /* no shorter route matches: value stays 0 */
                mk[j]->flags |= LPM6_DONE;
            }
        }
    }
    free(r);
    /* Final home: huge pages where the table is big enough (util.h). */
    size_t bytes = ((size_t)t->mask + 1) * sizeof *t->slots;
    struct lpm6_slot *slots = xmalloc_huge(bytes);
    memcpy(slots, t->slots, bytes);
    free(t->slots);
    t->slots = slots;
    *out = t;
    return 0;
}

void
lpm6_free(struct lpm6 *t)
{
    if (t) {
        free(t->slots);
        free(t);
    }
}

size_t
lpm6_bytes(const struct lpm6 *t)
{
    return sizeof *t + ((size_t)t->mask + 1) * sizeof *t->slots;
}

size_t
lpm6_n_routes(const struct lpm6 *t)
{
    return t->n_route;
}
