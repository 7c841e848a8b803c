/* The per-thread flow cache (flowcache.h): creation and replacement. */
#include "datapath/flowcache.h"

#include <stddef.h>
#include <stdlib.h>
#include <sys/random.h>

#include "lib/hash.h"
#include "lib/util.h"

#define FC_BYTES  (((size_t)1 << DP_FC_BITS) * sizeof(struct dp_fc_entry))
#define FC6_BYTES (((size_t)1 << DP_FC6_BITS) * sizeof(struct dp_fc_entry6))

struct dp_fc *
dp_fc_create(void)
{
    struct dp_fc *fc = xcalloc(1, sizeof *fc);

    /* Page-aligned, so every entry starts a cache line (a calloc'ed block
     * starts 16 bytes into a page, which split each entry in two), and
     * zeroed on first touch: a zero tables_uid is a free entry. */
    fc->e = xmap_zeroed(FC_BYTES);
    fc->e6 = xmap_zeroed(FC6_BYTES);
    if (getrandom(fc->seed, sizeof fc->seed, GRND_NONBLOCK) !=
        sizeof fc->seed) {
        uint64_t t = time_nsec() ^ (uintptr_t)fc;
        for (size_t i = 0; i < ARRAY_SIZE(fc->seed); i++) {
            fc->seed[i] = hash_mix64(t + (uint64_t)i);
        }
    }
    return fc;
}

void
dp_fc_destroy(struct dp_fc *fc)
{
    if (fc) {
        unmap_zeroed(fc->e, FC_BYTES);
        unmap_zeroed(fc->e6, FC6_BYTES);
        free(fc);
    }
}

/* One family's table, for the insertion code both share: entries of
 * 'stride' bytes, each a key of 'key_bytes' and its struct dp_fc_val at
 * 'val_ofs'. */
struct fc_table {
    char *base;
    unsigned bits;
    size_t stride, key_bytes, val_ofs;
};

static char *
table_slot(const struct fc_table *tb, uint32_t hash, int which)
{
    uint32_t mask = (1u << tb->bits) - 1;
    return tb->base +
           ((which ? hash >> (32 - tb->bits) : hash) & mask) * tb->stride;
}

static struct dp_fc_val *
val_of(const struct fc_table *tb, char *e)
{
    return (struct dp_fc_val *)(void *)(e + tb->val_ofs);
}

/* Whether 'e' may be overwritten: free or made under other tables. */
static bool
replaceable(const struct fc_table *tb, char *e, uint64_t uid)
{
    return val_of(tb, e)->tables_uid != uid;
}

/* Whether 'e' is the entry for key 'k' of hash 'hash' under 'uid'. */
static bool
holds(const struct fc_table *tb, char *e, const void *k, uint32_t hash,
      uint64_t uid)
{
    const struct dp_fc_val *v = val_of(tb, e);
    return v->sig == hash && v->tables_uid == uid &&
           !memcmp(e, k, tb->key_bytes);
}

/* The other slot of live entry 'e' (itself if both are the same). */
static char *
other_slot(const struct fc_table *tb, char *e)
{
    uint32_t sig = val_of(tb, e)->sig;
    char *other = table_slot(tb, sig, 0);

    return other != e ? other : table_slot(tb, sig, 1);
}

/* Moves live entry 'e' to its other slot if that one is replaceable. */
static bool
move_away(const struct fc_table *tb, char *e, uint64_t uid)
{
    char *other = other_slot(tb, e);

    if (other == e || !replaceable(tb, other, uid)) {
        return false;
    }
    memcpy(other, e, tb->stride);
    return true;
}

/* move_away(), first moving the entry in the other slot to its own other
 * slot if need be: a cuckoo path of two moves, enough to place nearly
 * every flow at the loads the tables run at. */
static bool
move_away_2(const struct fc_table *tb, char *e, uint64_t uid)
{
    char *other = other_slot(tb, e);

    if (move_away(tb, e, uid)) {
        return true;
    }
    return other != e && move_away(tb, other, uid) && move_away(tb, e, uid);
}

static void
insert(struct dp_fc *fc, const struct fc_table *tb, const void *k,
       uint32_t hash, uint64_t uid, enum dp_fc_kind kind, uint32_t target,
       const struct ct_ref *ct)
{
    char *a = table_slot(tb, hash, 0);
    char *b = table_slot(tb, hash, 1);
    char *e;

    if (target > DP_FC_TARGET_MAX) {
        return;
    }
    if (replaceable(tb, a, uid) || holds(tb, a, k, hash, uid)) {
        e = a; /* free, stale, or this key's own */
    } else if (replaceable(tb, b, uid) || holds(tb, b, k, hash, uid)) {
        e = b;
    } else if (++fc->misses % 8) {
        return; /* both taken: only every 8th such miss does any work */
    } else if (move_away_2(tb, a, uid)) {
        e = a;
    } else if (move_away_2(tb, b, uid)) {
        e = b;
    } else {
        e = fc->misses & 8 ? a : b;
    }
    memcpy(e, k, tb->key_bytes);
    struct dp_fc_val *v = val_of(tb, e);
    v->tables_uid = uid;
    v->sig = hash;
    v->action = (uint32_t)kind << 24 | target;
    v->ct = ct ? *ct : (struct ct_ref){0, 0, 0, 0};
}

void
dp_fc_insert(struct dp_fc *fc, const struct dp_fc_key *k, uint32_t hash,
             uint64_t uid, enum dp_fc_kind kind, uint32_t target,
             const struct ct_ref *ct)
{
    const struct fc_table tb = {(char *)fc->e, DP_FC_BITS,
                                sizeof(struct dp_fc_entry), sizeof *k,
                                offsetof(struct dp_fc_entry, v)};
    insert(fc, &tb, k, hash, uid, kind, target, ct);
}

void
dp_fc_insert6(struct dp_fc *fc, const struct dp_fc_key6 *k, uint32_t hash,
              uint64_t uid, enum dp_fc_kind kind, uint32_t target,
              const struct ct_ref *ct)
{
    const struct fc_table tb = {(char *)fc->e6, DP_FC6_BITS,
                                sizeof(struct dp_fc_entry6), sizeof *k,
                                offsetof(struct dp_fc_entry6, v)};
    insert(fc, &tb, k, hash, uid, kind, target, ct);
}
