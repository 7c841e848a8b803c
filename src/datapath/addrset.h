/* Address sets for the distributed firewall: the datapath form of groups.
 *
 * A group of the policy model (static members, dynamic criteria) reaches
 * the host already expanded into a list of IPv4/IPv6 prefixes; here it is
 * an address set with a small integer id chosen by the agent.  Firewall
 * rules (classifier.h) refer to sets by id only, so a membership change
 * touches this module and no rule: the agent edits the set in an as_db
 * (control thread), builds a new as_index snapshot and publishes it; the
 * compiled classifiers stay as they are.
 *
 * An as_index answers "which sets contain address A?" with one binary
 * search: the address space is cut into elementary intervals at every
 * prefix boundary, and each interval carries the sorted ids of the sets
 * covering it.  The index is immutable after as_index_build() and may be
 * read by any number of threads without locking.
 *
 * The interval machinery (as_ivx) is generic over 128-bit keys and also
 * serves the classifier's service dimension (protocol + port ranges). */
#ifndef WEFT_DP_ADDRSET_H
#define WEFT_DP_ADDRSET_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Generic interval index over 128-bit keys. ---- */

struct as_u128 {
    uint64_t hi, lo;
};

/* One input range [lo, hi] (inclusive) labelled with 'id'. */
struct as_range {
    struct as_u128 lo, hi;
    uint32_t id;
};

struct as_ivx;

/* Builds an index over 'n' ranges (copied; may overlap; the same id may
 * appear in several ranges).  Never returns NULL. */
struct as_ivx *as_ivx_build(const struct as_range *, size_t n);
void as_ivx_free(struct as_ivx *); /* NULL is fine */

/* Returns how many ids cover 'key' and points '*ids' at them (ascending,
 * distinct, valid as long as the index).  Never allocates. */
uint32_t as_ivx_lookup(const struct as_ivx *, struct as_u128 key,
                       const uint32_t **ids);

/* Number of elementary intervals (for statistics and tests). */
size_t as_ivx_n_intervals(const struct as_ivx *);

/* ---- Address sets. ---- */

#define AS_MAX_ID ((1u << 24) - 1) /* set ids are 0..AS_MAX_ID */

/* One member: an IPv4 or IPv6 prefix.  'addr' is in network byte order;
 * IPv4 uses addr[0..3].  Bits beyond 'plen' are ignored. */
struct as_prefix {
    uint8_t family; /* 4 or 6 */
    uint8_t plen;   /* 0..32 or 0..128 */
    uint8_t addr[16];
};

/* The control-side registry of sets.  Not thread-safe: one thread edits
 * it and builds snapshots from it. */
struct as_db;

struct as_db *as_db_create(void);
void as_db_destroy(struct as_db *); /* NULL is fine */

/* Creates set 'id' or replaces its members with 'n' prefixes (copied).
 * Returns 0, or EINVAL for an id above AS_MAX_ID or a bad prefix (then
 * nothing changed). */
int as_db_set(struct as_db *, uint32_t id, const struct as_prefix *, size_t n);
/* Adds one member to set 'id' (creating the set).  0 or EINVAL. */
int as_db_add(struct as_db *, uint32_t id, const struct as_prefix *);
/* Removes every member equal to 'p' from set 'id'.  Returns 0, ENOENT if
 * there was none, or EINVAL. */
int as_db_remove(struct as_db *, uint32_t id, const struct as_prefix *);
/* Deletes set 'id' (no-op if absent).  Rules still naming it then match
 * no address through it. */
void as_db_delete(struct as_db *, uint32_t id);
/* Members of set 'id' (in insertion order), NULL with *n = 0 if none. */
const struct as_prefix *as_db_members(const struct as_db *, uint32_t id,
                                      size_t *n);

/* An immutable snapshot of every set, for lock-free readers. */
struct as_index;

/* Builds a snapshot of 'db'.  Cost O(P log P) for P prefixes in all sets;
 * no rule is touched.  Never returns NULL. */
struct as_index *as_index_build(const struct as_db *);
void as_index_free(struct as_index *); /* NULL is fine */

/* The ids of the sets containing an address: 'family' 4 or 6, 'addr' in
 * network byte order (4 or 16 bytes).  Returns the count and points '*ids'
 * at them (ascending).  Never allocates; thread-safe. */
uint32_t as_index_lookup(const struct as_index *, int family,
                         const uint8_t *addr, const uint32_t **ids);

/* Same for an address already in key form (see as_key_v4/v6). */
uint32_t as_index_lookup_key(const struct as_index *, int family,
                             struct as_u128 key, const uint32_t **ids);

/* Address -> key: IPv4 as (0, host-order address), IPv6 as the big-endian
 * 128-bit number. */
static inline struct as_u128
as_key_v4(const uint8_t a[4])
{
    struct as_u128 k = {0, (uint64_t)a[0] << 24 | (uint64_t)a[1] << 16 |
                               (uint64_t)a[2] << 8 | a[3]};
    return k;
}

static inline struct as_u128
as_key_v6(const uint8_t a[16])
{
    struct as_u128 k = {0, 0};
    for (int i = 0; i < 8; i++) {
        k.hi = k.hi << 8 | a[i];
        k.lo = k.lo << 8 | a[8 + i];
    }
    return k;
}

/* True if 'p' contains the address 'addr' of 'family' (a plain, slow check
 * used by reference implementations and tests). */
bool as_prefix_contains(const struct as_prefix *p, int family,
                        const uint8_t *addr);

#endif
