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

/* One family's table, for the code both share: entries of 'stride'
 * bytes, each a key of 'key_bytes' and its struct dp_fc_val at 'val_ofs',
 * keys hashed by 'hash'. */
struct fc_table {
    const struct dp_fc *fc;
    enum dp_fc_family fam;
    char *base;
    unsigned bits;
    size_t stride, key_bytes, val_ofs;
    uint32_t (*hash)(const struct dp_fc *, const void *key);
};

static uint32_t
hash4(const struct dp_fc *fc, const void *k)
{
    return dp_fc_hash(fc, k);
}

static uint32_t
hash6(const struct dp_fc *fc, const void *k)
{
    return dp_fc_hash6(fc, k);
}

static struct fc_table
table_of(const struct dp_fc *fc, enum dp_fc_family fam)
{
    if (fam == DP_FC_V4) {
        return (struct fc_table){fc,
                                 fam,
                                 (char *)fc->e,
                                 DP_FC_BITS,
                                 sizeof(struct dp_fc_entry),
                                 sizeof(struct dp_fc_key),
                                 offsetof(struct dp_fc_entry, v),
                                 hash4};
    }
    return (struct fc_table){fc,
                             fam,
                             (char *)fc->e6,
                             DP_FC6_BITS,
                             sizeof(struct dp_fc_entry6),
                             sizeof(struct dp_fc_key6),
                             offsetof(struct dp_fc_entry6, v),
                             hash6};
}

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

/* The tag of the key in entry 'e'. */
static uint64_t
tag_of(const struct fc_table *tb, char *e)
{
    return dp_fc_tag(tb->fam, tb->hash(tb->fc, e));
}

/* Makes 'e' free.  An entry standing in for a connection must have left
 * it first (unbind(), or the connection forgot it).  A free entry has no
 * connection and a byte count that makes it due (CT_CACHE_NO_CONN): a hit
 * that still holds it (the pipeline's step 3, when a check between two
 * of its packets had the cache forget it) fails in ct_cache_sync(). */
static void
clear(const struct fc_table *tb, char *e)
{
    struct dp_fc_val *v = val_of(tb, e);

    memset(v, 0, sizeof *v);
    v->ct = CT_CACHE_NO_CONN;
}

/* Makes 'e' free, handing the counts of a connection's entry to table
 * 'ct' (the pipeline always passes its table: an entry standing in for a
 * connection exists only while its table does). */
static void
evict(const struct fc_table *tb, char *e, struct ct_table *ct)
{
    struct dp_fc_val *v = val_of(tb, e);

    if (v->ct.conn && ct) {
        ct_cache_unbind(ct, &v->ct, tag_of(tb, e));
    }
    clear(tb, e);
}

/* Whether 'e' may be overwritten: free or made under other tables. */
static bool
replaceable(const struct fc_table *tb, char *e, uint64_t uid)
{
    return val_of(tb, e)->tables_uid != uid;
}

/* Whether 'e' is the entry for key 'k' under 'uid'. */
static bool
holds(const struct fc_table *tb, char *e, const void *k, uint64_t uid)
{
    return val_of(tb, e)->tables_uid == uid && !memcmp(e, k, tb->key_bytes);
}

/* Whether key 'k' may take slot 'e': free, stale, or its own. */
static bool
takes(const struct fc_table *tb, char *e, const void *k, uint64_t uid)
{
    return replaceable(tb, e, uid) || holds(tb, e, k, uid);
}

/* The other slot of live entry 'e' (itself if both are the same). */
static char *
other_slot(const struct fc_table *tb, char *e)
{
    uint32_t hash = tb->hash(tb->fc, e);
    char *other = table_slot(tb, hash, 0);

    return other != e ? other : table_slot(tb, hash, 1);
}

/* Moves live entry 'e' to its other slot if that one is replaceable,
 * leaving 'e' free.  The entry keeps its tag: it names both slots. */
static bool
move_away(const struct fc_table *tb, char *e, uint64_t uid, struct ct_table *ct)
{
    char *other = other_slot(tb, e);

    if (other == e || !replaceable(tb, other, uid)) {
        return false;
    }
    evict(tb, other, ct);
    memcpy(other, e, tb->stride);
    clear(tb, e);
    return true;
}

/* move_away(), first moving the entry in the other slot to its own other
 * slot if need be: a cuckoo path of two moves, enough to place nearly
 * every flow at the loads the tables run at. */
static bool
move_away_2(const struct fc_table *tb, char *e, uint64_t uid,
            struct ct_table *ct)
{
    char *other = other_slot(tb, e);

    if (move_away(tb, e, uid, ct)) {
        return true;
    }
    return other != e && move_away(tb, other, uid, ct) &&
           move_away(tb, e, uid, ct);
}

static bool
insert(struct dp_fc *fc, const struct fc_table *tb, const void *k,
       uint32_t hash, uint64_t uid, enum dp_fc_kind kind, uint32_t target,
       struct ct_table *ct, const struct ct_ref *ref, uint64_t now)
{
    char *a = table_slot(tb, hash, 0);
    char *b = table_slot(tb, hash, 1);
    char *e;

    if (target > DP_FC_TARGET_MAX) {
        return false;
    }
    bool a_free = takes(tb, a, k, uid), b_free = takes(tb, b, k, uid);
    if (!a_free && !b_free && ++fc->misses % 8) {
        return false; /* both taken: only every 8th such miss does work */
    }
    /* Then the connection's earlier entry goes: it may be this key's, or
     * in the slots chosen below, so look at them again. */
    if (ref) {
        if (!ct || !ct_cache_bind(ct, ref, dp_fc_tag(tb->fam, hash), now)) {
            return false;
        }
        a_free = takes(tb, a, k, uid);
        b_free = takes(tb, b, k, uid);
    }
    if (a_free) {
        e = a;
    } else if (b_free) {
        e = b;
    } else if (move_away_2(tb, a, uid, ct)) {
        e = a;
    } else if (move_away_2(tb, b, uid, ct)) {
        e = b;
    } else {
        e = fc->misses & 8 ? a : b;
    }
    evict(tb, e, ct);
    memcpy(e, k, tb->key_bytes);
    struct dp_fc_val *v = val_of(tb, e);
    v->tables_uid = uid;
    v->action = (uint32_t)kind << 24 | target;
    if (ref) {
        /* Due at once: the first hit syncs, so the connection's expiry
         * covers the entry's packets from the start. */
        v->ct = (struct ct_cache_ref){ref->conn, (uint32_t)now, 0, 0};
    } else {
        v->ct = CT_CACHE_NO_CONN;
    }
    return true;
}

bool
dp_fc_insert(struct dp_fc *fc, const struct dp_fc_key *k, uint32_t hash,
             uint64_t uid, enum dp_fc_kind kind, uint32_t target,
             struct ct_table *ct, const struct ct_ref *ref, uint64_t now_ms)
{
    const struct fc_table tb = table_of(fc, DP_FC_V4);
    return insert(fc, &tb, k, hash, uid, kind, target, ct, ref, now_ms);
}

bool
dp_fc_insert6(struct dp_fc *fc, const struct dp_fc_key6 *k, uint32_t hash,
              uint64_t uid, enum dp_fc_kind kind, uint32_t target,
              struct ct_table *ct, const struct ct_ref *ref, uint64_t now_ms)
{
    const struct fc_table tb = table_of(fc, DP_FC_V6);
    return insert(fc, &tb, k, hash, uid, kind, target, ct, ref, now_ms);
}

static void
collect(const struct fc_table *tb, struct ct_table *ct)
{
    for (size_t i = 0; i < (size_t)1 << tb->bits; i++) {
        char *e = tb->base + i * tb->stride;
        struct ct_cache_ref *r = &val_of(tb, e)->ct;
        if (r->conn && r->packets) {
            ct_cache_collect(ct, r, tag_of(tb, e));
        }
    }
}

void
dp_fc_collect(struct dp_fc *fc, struct ct_table *ct)
{
    const struct fc_table t4 = table_of(fc, DP_FC_V4);
    const struct fc_table t6 = table_of(fc, DP_FC_V6);

    collect(&t4, ct);
    collect(&t6, ct);
}

/* ---- Conntrack's side (struct ct_cache_ops). ---- */

/* Calls 'fn' for each of the (one or two) candidate slots of 'tag' whose
 * entry stands in for connection 'conn'. */
static void
for_conn_entries(const struct dp_fc *fc, uint64_t tag, uint32_t conn,
                 void (*fn)(const struct fc_table *, char *, uint64_t *,
                            uint64_t *),
                 uint64_t *packets, uint64_t *bytes)
{
    const struct fc_table tb = table_of(fc, (enum dp_fc_family)(tag >> 32));
    char *a = table_slot(&tb, (uint32_t)tag, 0);
    char *b = table_slot(&tb, (uint32_t)tag, 1);

    for (char *e = a;; e = b) {
        const struct ct_cache_ref *r = &val_of(&tb, e)->ct;
        if (r->conn && (r->conn & ~CT_REF_REPLY) == conn) {
            fn(&tb, e, packets, bytes);
        }
        if (e == b || a == b) {
            break;
        }
    }
}

static void
add_counts(const struct fc_table *tb, char *e, uint64_t *packets,
           uint64_t *bytes)
{
    const struct ct_cache_ref *r = &val_of(tb, e)->ct;
    int dir = r->conn & CT_REF_REPLY;

    packets[dir] += r->packets;
    bytes[dir] += r->bytes;
}

static void
add_counts_and_clear(const struct fc_table *tb, char *e, uint64_t *packets,
                     uint64_t *bytes)
{
    add_counts(tb, e, packets, bytes);
    clear(tb, e);
}

static void
fc_forget(void *fc, uint64_t tag, uint32_t conn, uint64_t *packets,
          uint64_t *bytes)
{
    for_conn_entries(fc, tag, conn, add_counts_and_clear, packets, bytes);
}

static void
fc_peek(const void *fc, uint64_t tag, uint32_t conn, uint64_t *packets,
        uint64_t *bytes)
{
    for_conn_entries(fc, tag, conn, add_counts, packets, bytes);
}

const struct ct_cache_ops dp_fc_ct_ops = {fc_forget, fc_peek};
