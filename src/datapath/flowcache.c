/* The per-thread flow cache (flowcache.h): creation and replacement. */
#include "datapath/flowcache.h"

#include <stdlib.h>
#include <sys/random.h>

#include "lib/hash.h"
#include "lib/util.h"

#define FC_BYTES (((size_t)1 << DP_FC_BITS) * sizeof(struct dp_fc_entry))

struct dp_fc *
dp_fc_create(void)
{
    struct dp_fc *fc = xcalloc(1, sizeof *fc);

    /* Page-aligned, so every entry is one cache line (a calloc'ed block
     * starts 16 bytes into a page, which split each entry in two), and
     * zeroed on first touch: a zero tables_uid is a free entry. */
    fc->e = xmap_zeroed(FC_BYTES);
    if (getrandom(fc->seed, sizeof fc->seed, GRND_NONBLOCK) !=
        sizeof fc->seed) {
        uint64_t t = time_nsec() ^ (uintptr_t)fc;
        for (int i = 0; i < 4; i++) {
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
        free(fc);
    }
}

/* Whether 'e' may be overwritten: free or made under other tables. */
static inline bool
replaceable(const struct dp_fc_entry *e, uint64_t uid)
{
    return e->tables_uid != uid;
}

/* Moves live entry 'e' to its other slot if that one is replaceable. */
static bool
move_away(struct dp_fc *fc, struct dp_fc_entry *e, uint64_t uid)
{
    struct dp_fc_entry *other = dp_fc_slot(fc, e->sig, 0);

    if (other == e) {
        other = dp_fc_slot(fc, e->sig, 1);
    }
    if (other == e || !replaceable(other, uid)) {
        return false;
    }
    *other = *e;
    return true;
}

void
dp_fc_insert(struct dp_fc *fc, const struct dp_fc_key *k, uint32_t hash,
             uint64_t uid, enum dp_fc_kind kind, uint32_t target,
             const struct ct_ref *ct)
{
    struct dp_fc_entry *a = dp_fc_slot(fc, hash, 0);
    struct dp_fc_entry *b = dp_fc_slot(fc, hash, 1);
    struct dp_fc_entry *e;

    if (target > DP_FC_TARGET_MAX) {
        return;
    }
    if (replaceable(a, uid) || dp_fc_match(a, k, hash, uid)) {
        e = a; /* free, stale, or this key's own */
    } else if (replaceable(b, uid) || dp_fc_match(b, k, hash, uid)) {
        e = b;
    } else if (++fc->misses % 8) {
        return; /* both taken: only every 8th such miss does any work */
    } else if (move_away(fc, a, uid)) {
        e = a;
    } else if (move_away(fc, b, uid)) {
        e = b;
    } else {
        e = fc->misses & 8 ? a : b;
    }
    e->key = *k;
    e->tables_uid = uid;
    e->sig = hash;
    e->action = (uint32_t)kind << 24 | target;
    e->ct = ct ? *ct : (struct ct_ref){0, 0, 0, 0};
}
