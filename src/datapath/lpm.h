/* Longest-prefix match for the distributed router: immutable IPv4 and IPv6
 * route tables that packet threads read without locks.
 *
 * A table is built once on the control side from a list of routes
 * (prefix, length, value) and never changes afterwards; a route change
 * builds a new table and publishes it whole, the same snapshot model as
 * dp_tables (tables.h, docs/decisions.md #8).  Lookups are pure reads of
 * immutable memory, safe from any number of threads at once.
 *
 * The value of a route is a *next-hop group* index chosen by the caller
 * (0 .. LPM_VALUE_MAX).  ECMP lives in the group, not here: the caller keeps
 * an array of groups (each a list of equal-cost next hops, or "discard"),
 * gives every route the index of its group, and after a hit picks the
 * member with the packet's flow hash (pkt->hash % n_members), so one flow
 * always takes one path.  Routes with the same next-hop set should share a
 * group; administrative distance is resolved before building (only the
 * winning route for a prefix is given here).
 *
 * IPv4 (lpm4): a multibit trie with strides 16/8/8.  The root is a flat
 * array of 65536 entries indexed by the top 16 bits; an entry holds either
 * a value or the index of a 256-entry chunk for the next 8 bits, and a
 * chunk entry likewise for the last 8 bits.  Prefixes are expanded into
 * the entries they cover (controlled prefix expansion), so a lookup is 1 to
 * 3 dependent loads and no comparisons.
 *   Memory: 256 KiB + 1 KiB per chunk, where the number of chunks is at most
 *   min(65536, R17) + min(2^24, R25) with R17 the number of routes longer
 *   than /16 and R25 those longer than /24 (each such route needs at most
 *   one chunk at each level below its /16).  So at most 256 KiB + 2 KiB per
 *   route, and 64 MiB + 256 KiB for any table whose routes are all /24 or
 *   shorter.  lpm4_bytes() gives the exact figure.
 *
 * IPv6 (lpm6): binary search on prefix lengths (Waldvogel et al.).  All
 * prefixes, plus "markers" that guide the search towards longer prefixes,
 * live in one open-addressing hash table keyed by (length, masked bits);
 * a lookup binary-searches the sorted list of distinct lengths in use, one
 * hash probe per step: at most ceil(log2(k + 1)) probes for k distinct
 * lengths (8 for all 129 lengths, 3 for a typical /0 /48 /64 /128 table).
 * Every entry stores its "best matching prefix", so a probe that follows a
 * marker to a dead end still knows the answer.
 *   Memory: every route adds itself and at most ceil(log2(k + 1)) - 1
 *   markers; the table has a power-of-two number of 32-byte slots at a load
 *   of at most 1/2.  So at most 32 * 4 * 8 = 1 KiB per route in the worst
 *   case (129 distinct lengths), ~256 bytes per route for typical tables.
 *   lpm6_bytes() gives the exact figure.
 *
 * Addresses: IPv4 in host byte order (ntohl(ip->dst)); IPv6 as the 16
 * bytes of the wire format.  Bits of a route's prefix beyond its length are
 * ignored. */
#ifndef WEFT_DP_LPM_H
#define WEFT_DP_LPM_H 1

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/util.h"

#define LPM_VALUE_MAX 0x7ffffffeu /* largest next-hop group index */
#define LPM_MISS      UINT32_MAX  /* lookup result: no route matches */

struct lpm4_route {
    uint32_t prefix; /* host byte order */
    uint8_t len;     /* 0..32 */
    uint32_t value;  /* next-hop group index, <= LPM_VALUE_MAX */
};

struct lpm6_route {
    uint8_t prefix[16]; /* wire order */
    uint8_t len;        /* 0..128 */
    uint32_t value;     /* next-hop group index, <= LPM_VALUE_MAX */
};

struct lpm4;
struct lpm6;

/* Builds a table from 'n' routes (the array is not kept).  Returns 0 and
 * stores the table in '*out', or EINVAL if a length or value is out of
 * range, or EEXIST if two routes have the same prefix and length (after
 * masking); then '*out' is NULL.  Control side only: allocates, may take
 * milliseconds for 100,000 routes.  An empty table (n == 0) is valid. */
int lpm4_build(const struct lpm4_route *, size_t n, struct lpm4 **out);
int lpm6_build(const struct lpm6_route *, size_t n, struct lpm6 **out);
void lpm4_free(struct lpm4 *); /* NULL is fine */
void lpm6_free(struct lpm6 *); /* NULL is fine */

/* Bytes of memory the table holds (for `ctl` dumps and the benchmark). */
size_t lpm4_bytes(const struct lpm4 *);
size_t lpm6_bytes(const struct lpm6 *);
size_t lpm4_n_routes(const struct lpm4 *);
size_t lpm6_n_routes(const struct lpm6 *);

/* Returns the value of the longest route containing 'addr', or LPM_MISS. */
static inline uint32_t lpm4_lookup(const struct lpm4 *, uint32_t addr);
uint32_t lpm6_lookup(const struct lpm6 *, const uint8_t addr[16]);

/* Prefetching a lookup in two steps, for a batch of packets against a
 * table too big for the caches: lpm4_prefetch() for each address (the
 * root entry), then, once those have had time to arrive (after the rest of
 * the batch's first pass), lpm4_prefetch_next() for each (reads the root
 * entry and prefetches the second-level one); lpm4_lookup() then mostly
 * hits the cache.  Hints only: they change nothing. */
static inline void lpm4_prefetch(const struct lpm4 *, uint32_t addr);
static inline void lpm4_prefetch_next(const struct lpm4 *, uint32_t addr);

/* ---- Internals, exposed only so that lpm4_lookup() inlines. ---- */

/* An lpm4 entry: 0 = no route; LPM4_CHILD | c = chunk c (entries
 * c*256 .. c*256+255 of 'tbl'; chunks 0..255 are the root); otherwise the
 * route's value + 1. */
#define LPM4_CHILD 0x80000000u

struct lpm4 {
    uint32_t *tbl;    /* root (65536 entries), then 256-entry chunks */
    uint32_t n_tbl;   /* entries in 'tbl' */
    uint32_t n_route; /* routes the table was built from */
};

static inline uint32_t
lpm4_lookup(const struct lpm4 *t, uint32_t addr)
{
    uint32_t e = t->tbl[addr >> 16];

    if (unlikely(e & LPM4_CHILD)) {
        e = t->tbl[(e & ~LPM4_CHILD) << 8 | ((addr >> 8) & 0xff)];
        if (e & LPM4_CHILD) {
            e = t->tbl[(e & ~LPM4_CHILD) << 8 | (addr & 0xff)];
        }
    }
    return e - 1; /* 0 (no route) wraps to LPM_MISS */
}

static inline void
lpm4_prefetch(const struct lpm4 *t, uint32_t addr)
{
    __builtin_prefetch(&t->tbl[addr >> 16]);
}

static inline void
lpm4_prefetch_next(const struct lpm4 *t, uint32_t addr)
{
    uint32_t e = t->tbl[addr >> 16];

    if (e & LPM4_CHILD) {
        __builtin_prefetch(
            &t->tbl[(e & ~LPM4_CHILD) << 8 | ((addr >> 8) & 0xff)]);
    }
}

#endif
