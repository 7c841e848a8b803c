/* Unit tests of the longest-prefix match tables (lpm.h): hand-written cases
 * for the edges (default route, host routes, nesting, errors), then a
 * randomized differential test of lpm4 and lpm6 against a deliberately
 * naive reference that scans every route for the longest match.
 *
 * Route sets of 1 to 100,000 routes are drawn from several shapes (uniform
 * lengths, realistic /16../24 mixes, deep nesting under a few parents,
 * every length at once); lookups are random addresses plus adversarial ones
 * around every route: its first and last address, the neighbours just
 * outside, and the address with the bit at the prefix boundary flipped.
 * Every case is derived from one 64-bit seed, printed on failure;
 * WEFT_LPM_SEED=<seed> replays it (and LPM_ROUNDS scales the run). */
#include "datapath/lpm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "testlib.h"

static uint64_t
rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t
m4(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static uint32_t
ip4(int a, int b, int c, int d)
{
    return (uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 |
           (uint32_t)d;
}

/* ---- hand-written cases ---- */

TEST(lpm4_empty_and_default)
{
    struct lpm4 *t;
    struct lpm4_route def = {0, 0, 7};

    CHECK_EQ(lpm4_build(NULL, 0, &t), 0);
    CHECK_EQ(lpm4_lookup(t, 0), LPM_MISS);
    CHECK_EQ(lpm4_lookup(t, 0xffffffff), LPM_MISS);
    CHECK_EQ(lpm4_n_routes(t), 0);
    lpm4_free(t);

    CHECK_EQ(lpm4_build(&def, 1, &t), 0);
    CHECK_EQ(lpm4_lookup(t, 0), 7);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 2, 3)), 7);
    CHECK_EQ(lpm4_lookup(t, 0xffffffff), 7);
    lpm4_free(t);
}

TEST(lpm4_nesting)
{
    struct lpm4_route r[] = {
        {ip4(10, 0, 0, 0), 8, 1},    {ip4(10, 1, 0, 0), 16, 2},
        {ip4(10, 1, 2, 0), 24, 3},   {ip4(10, 1, 2, 128), 25, 4},
        {ip4(10, 1, 2, 200), 32, 5}, {ip4(10, 1, 3, 0), 30, 6},
        {ip4(0, 0, 0, 0), 0, 0},     {ip4(10, 1, 128, 0), 17, 8},
    };
    struct lpm4 *t;

    CHECK_EQ(lpm4_build(r, ARRAY_SIZE(r), &t), 0);
    CHECK_EQ(lpm4_lookup(t, ip4(11, 0, 0, 0)), 0);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 2, 0, 0)), 1);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 0, 1)), 2);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 2, 1)), 3);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 2, 127)), 3);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 2, 128)), 4);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 2, 199)), 4);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 2, 200)), 5);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 2, 201)), 4);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 3, 3)), 6);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 3, 4)), 2);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 128, 0)), 8);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 255, 255)), 8);
    CHECK_EQ(lpm4_lookup(t, ip4(10, 1, 127, 255)), 2);
    lpm4_free(t);
}

TEST(lpm4_errors_and_host_bits)
{
    struct lpm4 *t = (struct lpm4 *)1;
    struct lpm4_route bad_len = {0, 33, 1};
    struct lpm4_route bad_val = {0, 8, LPM_VALUE_MAX + 1};
    struct lpm4_route dup[] = {{ip4(10, 0, 0, 0), 8, 1},
                               {ip4(10, 9, 9, 9), 8, 2}};
    struct lpm4_route host_bits = {ip4(192, 168, 1, 77), 24, LPM_VALUE_MAX};

    CHECK_EQ(lpm4_build(&bad_len, 1, &t), EINVAL);
    CHECK(t == NULL);
    CHECK_EQ(lpm4_build(&bad_val, 1, &t), EINVAL);
    CHECK_EQ(lpm4_build(dup, 2, &t), EEXIST);
    CHECK(t == NULL);
    CHECK_EQ(lpm4_build(&host_bits, 1, &t), 0);
    CHECK_EQ(lpm4_lookup(t, ip4(192, 168, 1, 0)), LPM_VALUE_MAX);
    CHECK_EQ(lpm4_lookup(t, ip4(192, 168, 1, 255)), LPM_VALUE_MAX);
    CHECK_EQ(lpm4_lookup(t, ip4(192, 168, 2, 0)), LPM_MISS);
    lpm4_free(t);
    lpm4_free(NULL);
}

static void
v6(uint8_t a[16], uint16_t w0, uint16_t w1, uint16_t w2, uint16_t w7)
{
    memset(a, 0, 16);
    a[0] = (uint8_t)(w0 >> 8), a[1] = (uint8_t)w0;
    a[2] = (uint8_t)(w1 >> 8), a[3] = (uint8_t)w1;
    a[4] = (uint8_t)(w2 >> 8), a[5] = (uint8_t)w2;
    a[14] = (uint8_t)(w7 >> 8), a[15] = (uint8_t)w7;
}

TEST(lpm6_cases)
{
    struct lpm6_route r[5];
    struct lpm6 *t;
    uint8_t a[16];

    CHECK_EQ(lpm6_build(NULL, 0, &t), 0);
    v6(a, 0x2001, 0xdb8, 0, 1);
    CHECK_EQ(lpm6_lookup(t, a), LPM_MISS);
    lpm6_free(t);

    v6(r[0].prefix, 0, 0, 0, 0), r[0].len = 0, r[0].value = 1;
    v6(r[1].prefix, 0x2001, 0xdb8, 0, 0), r[1].len = 32, r[1].value = 2;
    v6(r[2].prefix, 0x2001, 0xdb8, 5, 0), r[2].len = 48, r[2].value = 3;
    v6(r[3].prefix, 0x2001, 0xdb8, 5, 9), r[3].len = 128, r[3].value = 4;
    v6(r[4].prefix, 0x2001, 0xdb8, 5, 0x8000), r[4].len = 113, r[4].value = 5;
    CHECK_EQ(lpm6_build(r, 5, &t), 0);
    v6(a, 0xfe80, 0, 0, 1);
    CHECK_EQ(lpm6_lookup(t, a), 1);
    v6(a, 0x2001, 0xdb8, 4, 1);
    CHECK_EQ(lpm6_lookup(t, a), 2);
    v6(a, 0x2001, 0xdb8, 5, 1);
    CHECK_EQ(lpm6_lookup(t, a), 3);
    v6(a, 0x2001, 0xdb8, 5, 9);
    CHECK_EQ(lpm6_lookup(t, a), 4);
    v6(a, 0x2001, 0xdb8, 5, 0xffff);
    CHECK_EQ(lpm6_lookup(t, a), 5);
    CHECK_EQ(lpm6_n_routes(t), 5);
    CHECK(lpm6_bytes(t) > 0);
    lpm6_free(t);

    r[1].len = 129;
    CHECK_EQ(lpm6_build(r, 5, &t), EINVAL);
    r[1] = r[2];
    r[1].prefix[15] = 0xaa; /* beyond /48: same route as r[2] */
    CHECK_EQ(lpm6_build(r, 5, &t), EEXIST);
    CHECK(t == NULL);
    lpm6_free(NULL);
}

/* ---- differential test ---- */

enum shape {
    SHAPE_UNIFORM,   /* lengths uniform over 0..max */
    SHAPE_REALISTIC, /* mostly /16../24 (v4) or /32../64 (v6), some hosts */
    SHAPE_NESTED,    /* deep chains under a handful of parents */
    SHAPE_ALL_LENS,  /* every length present */
    N_SHAPES
};

static uint8_t
pick_len(uint64_t *s, enum shape shape, int bits, size_t i)
{
    uint64_t x = rnd(s);

    switch (shape) {
    case SHAPE_UNIFORM:
        return (uint8_t)(x % (uint64_t)(bits + 1));
    case SHAPE_REALISTIC:
        if (i == 0) {
            return 0; /* default route */
        }
        if (x % 20 == 0) {
            return (uint8_t)bits; /* host route */
        }
        if (bits == 32) {
            return (uint8_t)(16 + (x >> 8) % 9);
        }
        return (
            uint8_t)((uint8_t[]){32, 40, 48, 56, 64, 64, 64, 96}[(x >> 8) % 8]);
    case SHAPE_NESTED:
        return (uint8_t)(bits / 4 + (x >> 8) % (uint64_t)(bits - bits / 4 + 1));
    case SHAPE_ALL_LENS:
    default:
        return (uint8_t)(i % (size_t)(bits + 1));
    }
}

static size_t
n_lookups(size_t n_routes)
{
    size_t budget = 40u * 1000 * 1000 / (n_routes ? n_routes : 1);
    return MAX(MIN(budget, 20000u), 500u);
}

/* Naive reference: scan every route, keep the longest that contains. */
static uint32_t
ref4(const struct lpm4_route *r, size_t n, uint32_t a)
{
    int best_len = -1;
    uint32_t best = LPM_MISS;

    for (size_t i = 0; i < n; i++) {
        if (((a ^ r[i].prefix) & m4(r[i].len)) == 0 && r[i].len > best_len) {
            best_len = r[i].len;
            best = r[i].value;
        }
    }
    return best;
}

static int
cmp_r4(const void *a_, const void *b_)
{
    const struct lpm4_route *a = a_, *b = b_;
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    return a->prefix < b->prefix ? -1 : a->prefix > b->prefix;
}

static bool
diff4(uint64_t seed, size_t n, enum shape shape)
{
    uint64_t s = seed;
    struct lpm4_route *r = xmalloc((n + 1) * sizeof *r);
    size_t nr = 0;
    struct lpm4 *t;
    bool ok = true;
    uint32_t parents[4];

    for (int i = 0; i < 4; i++) {
        parents[i] = (uint32_t)rnd(&s);
    }
    for (size_t i = 0; i < n; i++) {
        r[i].len = pick_len(&s, shape, 32, i);
        r[i].prefix = shape == SHAPE_NESTED
                          ? parents[rnd(&s) % 4] ^ ((uint32_t)rnd(&s) >> 8)
                          : (uint32_t)rnd(&s);
        r[i].prefix &= m4(r[i].len);
        r[i].value = (uint32_t)(rnd(&s) % 1000);
    }
    /* Drop duplicates (sort, then unique), then shuffle the order the
     * builder sees. */
    qsort(r, n, sizeof *r, cmp_r4);
    for (size_t i = 0; i < n; i++) {
        if (!nr || cmp_r4(&r[i], &r[nr - 1])) {
            r[nr++] = r[i];
        }
    }
    for (size_t i = 0; i < nr; i++) {
        size_t j = i + rnd(&s) % (nr - i);
        struct lpm4_route tmp = r[i];
        r[i] = r[j];
        r[j] = tmp;
    }
    if (!CHECK_EQ(lpm4_build(r, nr, &t), 0)) {
        fprintf(stderr, "lpm4 seed %" PRIu64 " n %zu shape %d\n", seed, n,
                shape);
        free(r);
        return false;
    }
    /* Memory bound from lpm.h. */
    ok &= CHECK(lpm4_bytes(t) <=
                sizeof(struct lpm4) + 256 * 1024 + 2048 * (uint64_t)nr);

    size_t nl = n_lookups(nr);
    for (size_t i = 0; i < nl && ok; i++) {
        uint32_t a;
        const struct lpm4_route *x = &r[rnd(&s) % nr];
        uint32_t last = x->prefix | ~m4(x->len);

        switch (i % 7) {
        case 0:
            a = (uint32_t)rnd(&s);
            break;
        case 1:
            a = x->prefix;
            break;
        case 2:
            a = last;
            break;
        case 3:
            a = x->prefix - 1;
            break;
        case 4:
            a = last + 1;
            break;
        case 5: /* flip the last prefix bit, random host bits */
            a = (x->prefix | ((uint32_t)rnd(&s) & ~m4(x->len))) ^
                (x->len ? 1u << (32 - x->len) : 0);
            break;
        default:
            a = x->prefix | ((uint32_t)rnd(&s) & ~m4(x->len));
            break;
        }
        uint32_t want = ref4(r, nr, a), got = lpm4_lookup(t, a);
        if (want != got) {
            ok = false;
            CHECK_EQ(got, want);
            fprintf(stderr,
                    "lpm4 mismatch: seed %" PRIu64 " n %zu shape %d "
                    "addr %08x got %u want %u\n",
                    seed, n, shape, a, got, want);
        }
    }
    lpm4_free(t);
    free(r);
    return ok;
}

struct a6 {
    uint64_t hi, lo;
};

static void
m6(uint8_t len, struct a6 *m)
{
    m->hi = len >= 64 ? ~0ull : len ? ~0ull << (64 - len) : 0;
    m->lo = len >= 128 ? ~0ull : len > 64 ? ~0ull << (128 - len) : 0;
}

static void
put6(uint8_t b[16], struct a6 a)
{
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(a.hi >> (56 - 8 * i));
        b[8 + i] = (uint8_t)(a.lo >> (56 - 8 * i));
    }
}

struct r6 {
    struct a6 p;
    uint8_t len;
    uint32_t value;
};

static uint32_t
ref6(const struct r6 *r, size_t n, struct a6 a)
{
    int best_len = -1;
    uint32_t best = LPM_MISS;

    for (size_t i = 0; i < n; i++) {
        struct a6 m;
        m6(r[i].len, &m);
        if (((a.hi ^ r[i].p.hi) & m.hi) == 0 &&
            ((a.lo ^ r[i].p.lo) & m.lo) == 0 && r[i].len > best_len) {
            best_len = r[i].len;
            best = r[i].value;
        }
    }
    return best;
}

static int
cmp_r6(const void *a_, const void *b_)
{
    const struct r6 *a = a_, *b = b_;
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    if (a->p.hi != b->p.hi) {
        return a->p.hi < b->p.hi ? -1 : 1;
    }
    return a->p.lo < b->p.lo ? -1 : a->p.lo > b->p.lo;
}

/* a + 1 and a - 1 as 128-bit numbers. */
static struct a6
inc6(struct a6 a, int d)
{
    if (d > 0) {
        a.lo++;
        a.hi += !a.lo;
    } else {
        a.hi -= !a.lo;
        a.lo--;
    }
    return a;
}

static bool
diff6(uint64_t seed, size_t n, enum shape shape)
{
    uint64_t s = seed;
    struct r6 *r = xmalloc((n + 1) * sizeof *r);
    struct lpm6_route *lr;
    struct a6 parents[4];
    size_t nr = 0;
    struct lpm6 *t;
    bool ok = true;

    for (int i = 0; i < 4; i++) {
        parents[i].hi = rnd(&s);
        parents[i].lo = rnd(&s);
    }
    for (size_t i = 0; i < n; i++) {
        struct a6 m;
        r[i].len = pick_len(&s, shape, 128, i);
        if (shape == SHAPE_NESTED) {
            r[i].p = parents[rnd(&s) % 4];
            r[i].p.hi ^= rnd(&s) >> 24;
            r[i].p.lo ^= rnd(&s);
        } else if (shape == SHAPE_REALISTIC) {
            r[i].p.hi = 0x20010db800000000ull | (rnd(&s) >> 32);
            r[i].p.lo = rnd(&s);
        } else {
            r[i].p.hi = rnd(&s);
            r[i].p.lo = rnd(&s);
        }
        m6(r[i].len, &m);
        r[i].p.hi &= m.hi;
        r[i].p.lo &= m.lo;
        r[i].value = (uint32_t)(rnd(&s) % 100000);
    }
    /* Drop duplicates (sort, then unique). */
    qsort(r, n, sizeof *r, cmp_r6);
    for (size_t i = 0; i < n; i++) {
        if (!nr || cmp_r6(&r[i], &r[nr - 1])) {
            r[nr++] = r[i];
        }
    }
    lr = xmalloc(nr * sizeof *lr);
    for (size_t i = 0; i < nr; i++) {
        /* Shuffle the order the builder sees. */
        size_t j = i + rnd(&s) % (nr - i);
        struct r6 tmp = r[i];
        r[i] = r[j];
        r[j] = tmp;
        put6(lr[i].prefix, r[i].p);
        lr[i].len = r[i].len;
        lr[i].value = r[i].value;
    }
    if (!CHECK_EQ(lpm6_build(lr, nr, &t), 0)) {
        fprintf(stderr, "lpm6 seed %" PRIu64 " n %zu shape %d\n", seed, n,
                shape);
        free(lr);
        free(r);
        return false;
    }
    ok &= CHECK(lpm6_bytes(t) <= 4096 + 1024 * (uint64_t)nr);

    size_t nl = n_lookups(nr);
    for (size_t i = 0; i < nl && ok; i++) {
        const struct r6 *x = &r[rnd(&s) % nr];
        struct a6 m, last, a, rh;
        uint8_t b[16];

        m6(x->len, &m);
        last.hi = x->p.hi | ~m.hi;
        last.lo = x->p.lo | ~m.lo;
        rh.hi = (x->p.hi | (rnd(&s) & ~m.hi));
        rh.lo = (x->p.lo | (rnd(&s) & ~m.lo));
        switch (i % 7) {
        case 0:
            a.hi = rnd(&s);
            a.lo = rnd(&s);
            break;
        case 1:
            a = x->p;
            break;
        case 2:
            a = last;
            break;
        case 3:
            a = inc6(x->p, -1);
            break;
        case 4:
            a = inc6(last, 1);
            break;
        case 5:
            a = rh;
            if (x->len && x->len <= 64) {
                a.hi ^= 1ull << (64 - x->len);
            } else if (x->len > 64) {
                a.lo ^= 1ull << (128 - x->len);
            }
            break;
        default:
            a = rh;
            break;
        }
        put6(b, a);
        uint32_t want = ref6(r, nr, a), got = lpm6_lookup(t, b);
        if (want != got) {
            ok = false;
            CHECK_EQ(got, want);
            fprintf(stderr,
                    "lpm6 mismatch: seed %" PRIu64 " n %zu shape %d "
                    "addr %016" PRIx64 "%016" PRIx64 " got %u want %u\n",
                    seed, n, shape, a.hi, a.lo, got, want);
        }
    }
    lpm6_free(t);
    free(lr);
    free(r);
    return ok;
}

static uint64_t
base_seed(void)
{
    const char *e = getenv("WEFT_LPM_SEED");
    return e ? strtoull(e, NULL, 0) : 0x5eed0001;
}

static const size_t sizes[] = {1, 2, 3, 10, 100, 1000, 10000, 100000};

TEST(lpm4_differential)
{
    uint64_t s = base_seed();
    int rounds = getenv("LPM_ROUNDS") ? atoi(getenv("LPM_ROUNDS")) : 2;
    bool ok = true;

    for (int round = 0; round < rounds && ok; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(sizes) && ok; i++) {
            for (int shape = 0; shape < N_SHAPES && ok; shape++) {
                uint64_t seed = rnd(&s);
                if (sizes[i] == 100000 && round > 0) {
                    continue; /* the big sets once per run */
                }
                ok = diff4(seed, sizes[i], (enum shape)shape);
            }
        }
    }
    CHECK(ok);
}

TEST(lpm6_differential)
{
    uint64_t s = base_seed() ^ 0x66;
    int rounds = getenv("LPM_ROUNDS") ? atoi(getenv("LPM_ROUNDS")) : 2;
    bool ok = true;

    for (int round = 0; round < rounds && ok; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(sizes) && ok; i++) {
            for (int shape = 0; shape < N_SHAPES && ok; shape++) {
                uint64_t seed = rnd(&s);
                if (sizes[i] == 100000 && round > 0) {
                    continue;
                }
                ok = diff6(seed, sizes[i], (enum shape)shape);
            }
        }
    }
    CHECK(ok);
}
