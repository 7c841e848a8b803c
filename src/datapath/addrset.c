/* Address sets and the interval index behind them (see addrset.h).
 *
 * Building an index is a sweep over range boundaries: every range [lo, hi]
 * becomes an "enter" event at lo and a "leave" event at hi + 1 (none when
 * hi is the top of the key space).  Walking the sorted events while keeping
 * a sorted list of active ids (with a count, since ranges labelled with the
 * same id may overlap) gives, at each distinct boundary, the id list of the
 * elementary interval starting there.  Neighbouring intervals with equal
 * lists are merged.  A lookup is then one binary search over the interval
 * starts. */
#include "datapath/addrset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* ---- 128-bit helpers. ---- */

static inline int
u128_cmp(struct as_u128 a, struct as_u128 b)
{
    if (a.hi != b.hi) {
        return a.hi < b.hi ? -1 : 1;
    }
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

static inline bool
u128_is_max(struct as_u128 a)
{
    return a.hi == UINT64_MAX && a.lo == UINT64_MAX;
}

static inline struct as_u128
u128_inc(struct as_u128 a)
{
    a.lo++;
    if (!a.lo) {
        a.hi++;
    }
    return a;
}

/* ---- Interval index. ---- */

struct as_ivx {
    size_t n;              /* elementary intervals (>= 1) */
    struct as_u128 *start; /* n ascending starts; start[0] is 0 */
    uint32_t *off;         /* n + 1 offsets into 'ids' */
    uint32_t *ids;         /* concatenated sorted id lists */
};

struct ivx_event {
    struct as_u128 key;
    uint32_t id;
    int32_t delta; /* +1 enter, -1 leave */
};

static int
event_cmp(const void *a_, const void *b_)
{
    const struct ivx_event *a = a_, *b = b_;
    int c = u128_cmp(a->key, b->key);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

/* Active ids during the sweep: sorted, with an overlap count each. */
struct ivx_active {
    uint32_t *id, *count;
    size_t n, cap;
};

static void
active_apply(struct ivx_active *a, uint32_t id, int32_t delta)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->id[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < a->n && a->id[lo] == id) {
        a->count[lo] += (uint32_t)delta;
        if (!a->count[lo]) {
            memmove(&a->id[lo], &a->id[lo + 1], (a->n - lo - 1) * 4);
            memmove(&a->count[lo], &a->count[lo + 1], (a->n - lo - 1) * 4);
            a->n--;
        }
        return;
    }
    /* Only an enter can add an id: leaves follow their enter. */
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->id = xrealloc(a->id, a->cap * 4);
        a->count = xrealloc(a->count, a->cap * 4);
    }
    memmove(&a->id[lo + 1], &a->id[lo], (a->n - lo) * 4);
    memmove(&a->count[lo + 1], &a->count[lo], (a->n - lo) * 4);
    a->id[lo] = id;
    a->count[lo] = 1;
    a->n++;
}

struct ivx_builder {
    struct as_ivx *x;
    size_t cap_iv, cap_ids, n_ids;
};

static void
builder_emit(struct ivx_builder *b, struct as_u128 start,
             const struct ivx_active *a)
{
    struct as_ivx *x = b->x;

    if (x->n) { /* merge with an identical predecessor */
        uint32_t prev_n = x->off[x->n] - x->off[x->n - 1];
        if (prev_n == a->n &&
            (!a->n || !memcmp(&x->ids[x->off[x->n - 1]], a->id, a->n * 4))) {
            return;
        }
    }
    if (x->n + 1 >= b->cap_iv) {
        b->cap_iv = b->cap_iv * 2 + 16;
        x->start = xrealloc(x->start, b->cap_iv * sizeof *x->start);
        x->off = xrealloc(x->off, (b->cap_iv + 1) * sizeof *x->off);
    }
    if (b->n_ids + a->n > b->cap_ids) {
        b->cap_ids = MAX(b->cap_ids * 2, b->n_ids + a->n) + 16;
        x->ids = xrealloc(x->ids, b->cap_ids * 4);
    }
    if (a->n) {
        memcpy(&x->ids[b->n_ids], a->id, a->n * 4);
    }
    b->n_ids += a->n;
    x->start[x->n] = start;
    x->n++;
    x->off[x->n] = (uint32_t)b->n_ids;
}

struct as_ivx *
as_ivx_build(const struct as_range *r, size_t n)
{
    struct ivx_event *ev = xmalloc((2 * n + 1) * sizeof *ev);
    struct ivx_active act = {0};
    struct ivx_builder b = {0};
    size_t n_ev = 0;

    b.x = xcalloc(1, sizeof *b.x);
    b.x->off = xcalloc(1, sizeof *b.x->off);
    for (size_t i = 0; i < n; i++) {
        if (u128_cmp(r[i].lo, r[i].hi) > 0) {
            continue;
        }
        ev[n_ev++] = (struct ivx_event){r[i].lo, r[i].id, 1};
        if (!u128_is_max(r[i].hi)) {
            ev[n_ev++] = (struct ivx_event){u128_inc(r[i].hi), r[i].id, -1};
        }
    }
    qsort(ev, n_ev, sizeof *ev, event_cmp);

    struct as_u128 zero = {0, 0};
    if (!n_ev || u128_cmp(ev[0].key, zero) > 0) {
        builder_emit(&b, zero, &act);
    }
    for (size_t i = 0; i < n_ev;) {
        struct as_u128 key = ev[i].key;
        for (; i < n_ev && !u128_cmp(ev[i].key, key); i++) {
            active_apply(&act, ev[i].id, ev[i].delta);
        }
        builder_emit(&b, key, &act);
    }
    free(ev);
    free(act.id);
    free(act.count);
    return b.x;
}

void
as_ivx_free(struct as_ivx *x)
{
    if (x) {
        free(x->start);
        free(x->off);
        free(x->ids);
        free(x);
    }
}

uint32_t
as_ivx_lookup(const struct as_ivx *x, struct as_u128 key, const uint32_t **ids)
{
    /* Largest i with start[i] <= key; start[0] == 0 so one exists. */
    size_t lo = 0, len = x->n;
    while (len > 1) {
        size_t half = len / 2;
        if (u128_cmp(x->start[lo + half], key) <= 0) {
            lo += half;
        }
        len -= half;
    }
    *ids = &x->ids[x->off[lo]];
    return x->off[lo + 1] - x->off[lo];
}

size_t
as_ivx_n_intervals(const struct as_ivx *x)
{
    return x->n;
}

/* ---- Set registry. ---- */

struct as_set {
    struct as_prefix *m; /* members */
    size_t n, cap;
    bool used;
};

struct as_db {
    struct as_set *sets; /* indexed by id */
    size_t n_sets;       /* allocated slots */
};

static bool
prefix_valid(const struct as_prefix *p)
{
    return (p->family == 4 && p->plen <= 32) ||
           (p->family == 6 && p->plen <= 128);
}

struct as_db *
as_db_create(void)
{
    return xcalloc(1, sizeof(struct as_db));
}

void
as_db_destroy(struct as_db *db)
{
    if (db) {
        for (size_t i = 0; i < db->n_sets; i++) {
            free(db->sets[i].m);
        }
        free(db->sets);
        free(db);
    }
}

static struct as_set *
db_get(struct as_db *db, uint32_t id)
{
    if (id >= db->n_sets) {
        size_t n = MAX((size_t)id + 1, db->n_sets * 2);
        db->sets = xrealloc(db->sets, n * sizeof *db->sets);
        memset(&db->sets[db->n_sets], 0, (n - db->n_sets) * sizeof *db->sets);
        db->n_sets = n;
    }
    db->sets[id].used = true;
    return &db->sets[id];
}

int
as_db_set(struct as_db *db, uint32_t id, const struct as_prefix *p, size_t n)
{
    if (id > AS_MAX_ID) {
        return EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!prefix_valid(&p[i])) {
            return EINVAL;
        }
    }
    struct as_set *s = db_get(db, id);
    if (n > s->cap) {
        s->cap = n;
        s->m = xrealloc(s->m, n * sizeof *s->m);
    }
    if (n) {
        memcpy(s->m, p, n * sizeof *p);
    }
    s->n = n;
    return 0;
}

int
as_db_add(struct as_db *db, uint32_t id, const struct as_prefix *p)
{
    if (id > AS_MAX_ID || !prefix_valid(p)) {
        return EINVAL;
    }
    struct as_set *s = db_get(db, id);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->m = xrealloc(s->m, s->cap * sizeof *s->m);
    }
    s->m[s->n++] = *p;
    return 0;
}

static bool
prefix_equal(const struct as_prefix *a, const struct as_prefix *b)
{
    if (a->family != b->family || a->plen != b->plen) {
        return false;
    }
    for (int i = 0; i < a->plen; i += 8) {
        int bits = MIN(8, a->plen - i);
        uint8_t mask = (uint8_t)(0xff00 >> bits);
        if ((a->addr[i / 8] ^ b->addr[i / 8]) & mask) {
            return false;
        }
    }
    return true;
}

int
as_db_remove(struct as_db *db, uint32_t id, const struct as_prefix *p)
{
    if (id > AS_MAX_ID || !prefix_valid(p)) {
        return EINVAL;
    }
    if (id >= db->n_sets || !db->sets[id].used) {
        return ENOENT;
    }
    struct as_set *s = &db->sets[id];
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!prefix_equal(&s->m[i], p)) {
            s->m[j++] = s->m[i];
        }
    }
    int ret = j == s->n ? ENOENT : 0;
    s->n = j;
    return ret;
}

void
as_db_delete(struct as_db *db, uint32_t id)
{
    if (id < db->n_sets) {
        free(db->sets[id].m);
        memset(&db->sets[id], 0, sizeof db->sets[id]);
    }
}

const struct as_prefix *
as_db_members(const struct as_db *db, uint32_t id, size_t *n)
{
    if (id >= db->n_sets || !db->sets[id].used || !db->sets[id].n) {
        *n = 0;
        return NULL;
    }
    *n = db->sets[id].n;
    return db->sets[id].m;
}

/* ---- Snapshots. ---- */

struct as_index {
    struct as_ivx *v4, *v6;
};

/* The range [lo, hi] of key values covered by prefix 'p'. */
static void
prefix_range(const struct as_prefix *p, struct as_u128 *lo, struct as_u128 *hi)
{
    if (p->family == 4) {
        uint64_t a = as_key_v4(p->addr).lo;
        uint64_t host = p->plen ? (1ull << (32 - p->plen)) - 1 : 0xffffffffu;
        lo->hi = hi->hi = 0;
        lo->lo = a & ~host & 0xffffffffu;
        hi->lo = lo->lo | host;
        return;
    }
    struct as_u128 a = as_key_v6(p->addr);
    uint64_t mhi, mlo; /* host masks */
    if (p->plen <= 64) {
        mhi =
            p->plen ? (p->plen == 64 ? 0 : UINT64_MAX >> p->plen) : UINT64_MAX;
        mlo = UINT64_MAX;
    } else {
        mhi = 0;
        mlo = p->plen == 128 ? 0 : UINT64_MAX >> (p->plen - 64);
    }
    lo->hi = a.hi & ~mhi;
    lo->lo = a.lo & ~mlo;
    hi->hi = lo->hi | mhi;
    hi->lo = lo->lo | mlo;
}

struct as_index *
as_index_build(const struct as_db *db)
{
    struct as_index *ix = xcalloc(1, sizeof *ix);
    size_t total = 0;

    for (size_t i = 0; i < db->n_sets; i++) {
        total += db->sets[i].n;
    }
    struct as_range *r4 = xmalloc((total + 1) * sizeof *r4);
    struct as_range *r6 = xmalloc((total + 1) * sizeof *r6);
    size_t n4 = 0, n6 = 0;
    for (size_t i = 0; i < db->n_sets; i++) {
        const struct as_set *s = &db->sets[i];
        for (size_t j = 0; j < s->n; j++) {
            struct as_range *r = s->m[j].family == 4 ? &r4[n4++] : &r6[n6++];
            prefix_range(&s->m[j], &r->lo, &r->hi);
            r->id = (uint32_t)i;
        }
    }
    ix->v4 = as_ivx_build(r4, n4);
    ix->v6 = as_ivx_build(r6, n6);
    free(r4);
    free(r6);
    return ix;
}

void
as_index_free(struct as_index *ix)
{
    if (ix) {
        as_ivx_free(ix->v4);
        as_ivx_free(ix->v6);
        free(ix);
    }
}

uint32_t
as_index_lookup_key(const struct as_index *ix, int family, struct as_u128 key,
                    const uint32_t **ids)
{
    return as_ivx_lookup(family == 4 ? ix->v4 : ix->v6, key, ids);
}

uint32_t
as_index_lookup(const struct as_index *ix, int family, const uint8_t *addr,
                const uint32_t **ids)
{
    struct as_u128 k = family == 4 ? as_key_v4(addr) : as_key_v6(addr);
    return as_index_lookup_key(ix, family, k, ids);
}

bool
as_prefix_contains(const struct as_prefix *p, int family, const uint8_t *addr)
{
    if (p->family != family) {
        return false;
    }
    for (int i = 0; i < p->plen; i++) {
        int bit = 7 - (i % 8);
        if (((p->addr[i / 8] >> bit) & 1) != ((addr[i / 8] >> bit) & 1)) {
            return false;
        }
    }
    return true;
}
