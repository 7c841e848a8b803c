/* A per-thread exact-match cache of the L2 pipeline's decisions for
 * established traffic from VIFs (decisions 51, 53 and 55).
 *
 * Key: a whole IPv4 or IPv6 TCP or UDP frame's headers as they are on
 * the wire: destination and source MAC, EtherType (so no VLAN tag), for
 * IPv4 version and header length (so no options), for IPv6 the next
 * header (so no extension headers), protocol, addresses and L4 ports, with
 * the VIF it came from (struct dp_fc_key, struct dp_fc_key6); an entry
 * also holds the tables snapshot it was made under.  Value: where
 * the pipeline sent the last such frame (a remote endpoint through the
 * segment's tunnel, or a local port) and, behind a stateful firewall, the
 * tracked connection it stands in for (struct ct_cache_ref).  A hit skips
 * the MAC-table lookup, the flow hash (the cache's own hash is the
 * frame's flow hash, also for a frame that misses) and the conntrack
 * lookup; the firewall's established path runs on the entry alone
 * (dfw_cached_pass()), which counts the packets and hands the counts to
 * the connection now and then (conntrack.h, "Standing in for a
 * connection"; decision 65).
 *
 * Entries are keyed on the tables object's uid, so a new snapshot
 * (a MAC moved, a port gone, a firewall changed: a vNIC's rules version
 * is fixed within a snapshot) never reuses one.  A connection that is
 * freed, leaves the fast path or is re-admitted has the cache forget its
 * entry (dp_fc_ct_ops).  Only plain L2 unicast decisions are cached:
 * ARP/ND, routed, flooded and punted frames always take the full way.
 *
 * One table per family, page-aligned and mapped on first use (as huge
 * pages if the kernel gives them), 32,768 entries each: IPv4 entries of
 * one cache line (2 MiB per packet thread), IPv6 entries of two (4 MiB;
 * decision 66: at half that, 10,000 flows missed 2 % of packets).
 * Each key has two candidate slots from two parts of its hash, as in a
 * cuckoo table.  A miss takes a free or stale candidate; when both are live,
 * every 8th such miss moves the occupant of one to its other slot if that
 * one is free or stale, else replaces it, so a flood of new flows neither
 * churns the cache nor costs much. */
#ifndef WEFT_DATAPATH_FLOWCACHE_H
#define WEFT_DATAPATH_FLOWCACHE_H 1

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "datapath/conntrack.h"
#include "datapath/packet.h"
#include "datapath/proto.h"
#include "lib/util.h"

#define DP_FC_BITS  15 /* 32,768 IPv4 entries */
#define DP_FC6_BITS 15 /* 32,768 IPv6 entries */

enum dp_fc_kind {
    DP_FC_FREE,
    DP_FC_REMOTE, /* 'target' is a VTEP index; out through the tunnel */
    DP_FC_LOCAL,  /* 'target' is a local port */
};

/* The headers a decision depends on: frame bytes [0,16) and [22,38) as
 * little-endian words, with TOS and TTL masked out and the VIF's port
 * number in place of the IP checksum (bytes 24-25). */
struct dp_fc_key {
    uint64_t w[4];
};

/* The same for IPv6: frame bytes [0,14) with the VIF's port number in
 * place of bytes 14-15 (version, traffic class, flow label), bytes
 * [20,21) (next header) and [22,58) (addresses and L4 ports): hop limit,
 * payload length, traffic class and flow label out. */
struct dp_fc_key6 {
    uint64_t w[7];
};

/* What an entry remembers, after its key. */
struct dp_fc_val {
    uint64_t tables_uid;    /* dp_tables.uid it was made under; 0: free */
    uint32_t action;        /* enum dp_fc_kind << 24 | target */
    struct ct_cache_ref ct; /* the connection; CT_CACHE_NO_CONN (conn 0)
                             * for none: no firewall, or a free entry */
};
BUILD_ASSERT(sizeof(struct dp_fc_val) == 32);

struct dp_fc_entry { /* one cache line */
    struct dp_fc_key key;
    struct dp_fc_val v;
};
BUILD_ASSERT(sizeof(struct dp_fc_entry) == 64);

struct dp_fc_entry6 { /* two cache lines */
    struct dp_fc_key6 key;
    uint64_t pad;
    struct dp_fc_val v;
    uint64_t pad2[4];
};
BUILD_ASSERT(sizeof(struct dp_fc_entry6) == 128);

#define DP_FC_TARGET_MAX 0xffffff /* larger VTEP indexes are not cached */

struct dp_fc {
    struct dp_fc_entry *e;   /* 1 << DP_FC_BITS */
    struct dp_fc_entry6 *e6; /* 1 << DP_FC6_BITS */
    uint64_t seed[8];
    uint32_t misses; /* paces replacement of live entries */
};

struct dp_fc *dp_fc_create(void);
void dp_fc_destroy(struct dp_fc *); /* NULL is fine */

/* Which table a frame's key is for. */
enum dp_fc_family {
    DP_FC_NONE, /* not a frame the cache takes */
    DP_FC_V4,
    DP_FC_V6,
};

/* Fills 'k' from parsed 'p', which came from port 'in_port'; false when
 * the frame is not one the cache takes (not DP_PF_PLAIN IPv4: a whole
 * TCP/UDP frame without VLAN tag, IP options or fragmentation). */
static inline bool
dp_fc_key(const struct dp_packet *p, uint16_t in_port, struct dp_fc_key *k)
{
    if ((p->pflags & (DP_PF_IPV4 | DP_PF_PLAIN)) !=
        (DP_PF_IPV4 | DP_PF_PLAIN)) {
        return false;
    }
    const uint8_t *d = p->data; /* read once: the stores below may alias */
    k->w[0] = rd64(d);
    k->w[1] = rd64(d + 8) & 0x00ffffffffffffffull; /* byte 15: TOS */
    /* Bytes 22 (TTL) and 24-25 (checksum) out, the port in. */
    k->w[2] = (rd64(d + 22) & 0xffffffff0000ff00ull) | (uint64_t)in_port << 16;
    k->w[3] = rd64(d + 30);
    return true;
}

/* The same for a DP_PF_PLAIN IPv6 frame (no extension headers). */
static inline bool
dp_fc_key6(const struct dp_packet *p, uint16_t in_port, struct dp_fc_key6 *k)
{
    const uint8_t *d = p->data;

    if ((p->pflags & (DP_PF_IPV6 | DP_PF_PLAIN)) !=
        (DP_PF_IPV6 | DP_PF_PLAIN)) {
        return false;
    }
    k->w[0] = rd64(d);
    k->w[1] = (rd64(d + 8) & 0x0000ffffffffffffull) | /* [14,16) */
              (uint64_t)in_port << 48;
    k->w[2] = rd64(d + 20) & 0xffffffffffff00ffull; /* byte 21 */
    k->w[3] = rd64(d + 28);
    k->w[4] = rd64(d + 36);
    k->w[5] = rd64(d + 44);
    k->w[6] = rd64(d + 52) & 0x0000ffffffffffffull; /* [58,60) */
    return true;
}

/* A 64-bit sum of products folded to a 32-bit hash, never 0. */
static inline uint32_t
dp_fc_fold(uint64_t h)
{
    /* The products' low bits see only the factors' low bits: fold the
     * high half down and mix once more, so every result bit (ECMP and
     * the slot index use the low ones) depends on the whole key. */
    h ^= h >> 32;
    h *= 0x9e3779b97f4a7c15ull;
    uint32_t r = (uint32_t)(h >> 32);
    return r ? r : 1;
}

/* The key's hash, never 0: it is also the frame's flow hash (outer UDP
 * source port) when no firewall supplies one. */
static inline uint32_t
dp_fc_hash(const struct dp_fc *fc, const struct dp_fc_key *k)
{
    return dp_fc_fold((k->w[0] + fc->seed[0]) * (k->w[1] + fc->seed[1]) +
                      (k->w[2] + fc->seed[2]) * (k->w[3] + fc->seed[3]));
}

static inline uint32_t
dp_fc_hash6(const struct dp_fc *fc, const struct dp_fc_key6 *k)
{
    return dp_fc_fold((k->w[0] + fc->seed[0]) * (k->w[1] + fc->seed[1]) +
                      (k->w[2] + fc->seed[2]) * (k->w[3] + fc->seed[3]) +
                      (k->w[4] + fc->seed[4]) * (k->w[5] + fc->seed[5]) +
                      (k->w[6] + fc->seed[6]) * fc->seed[7]);
}

/* The key's two candidate slots. */
static inline struct dp_fc_entry *
dp_fc_slot(const struct dp_fc *fc, uint32_t hash, int which)
{
    uint32_t mask = (1u << DP_FC_BITS) - 1;
    return &fc->e[(which ? hash >> (32 - DP_FC_BITS) : hash) & mask];
}

static inline struct dp_fc_entry6 *
dp_fc_slot6(const struct dp_fc *fc, uint32_t hash, int which)
{
    uint32_t mask = (1u << DP_FC6_BITS) - 1;
    return &fc->e6[(which ? hash >> (32 - DP_FC6_BITS) : hash) & mask];
}

/* Key compares: with SSE4.1 (the release build's x86-64-v2) 16 bytes at
 * a time (IPv6's last 8 bytes in a vector of their own), the xors or-ed
 * and tested once; else word by word. */
#ifdef __SSE4_1__
#include <smmintrin.h>

static inline __m128i
fc_xor16(const uint64_t *a, const uint64_t *b)
{
    return _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)a),
                         _mm_loadu_si128((const __m128i *)(const void *)b));
}

static inline bool
dp_fc_key_eq(const struct dp_fc_key *a, const struct dp_fc_key *b)
{
    __m128i x =
        _mm_or_si128(fc_xor16(a->w, b->w), fc_xor16(a->w + 2, b->w + 2));
    return _mm_testz_si128(x, x);
}

static inline bool
dp_fc_key6_eq(const struct dp_fc_key6 *a, const struct dp_fc_key6 *b)
{
    __m128i x = _mm_or_si128(
        _mm_or_si128(fc_xor16(a->w, b->w), fc_xor16(a->w + 2, b->w + 2)),
        _mm_or_si128(fc_xor16(a->w + 4, b->w + 4),
                     _mm_cvtsi64_si128((long long)(a->w[6] ^ b->w[6]))));
    return _mm_testz_si128(x, x);
}
#else
static inline bool
dp_fc_key_eq(const struct dp_fc_key *a, const struct dp_fc_key *b)
{
    return !((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) |
             (a->w[3] ^ b->w[3]));
}

static inline bool
dp_fc_key6_eq(const struct dp_fc_key6 *a, const struct dp_fc_key6 *b)
{
    return !((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) |
             (a->w[3] ^ b->w[3]) | (a->w[4] ^ b->w[4]) | (a->w[5] ^ b->w[5]) |
             (a->w[6] ^ b->w[6]));
}
#endif

/* Whether 'e' is the entry for 'k' under tables 'uid'. */
static inline bool
dp_fc_match(const struct dp_fc_entry *e, const struct dp_fc_key *k,
            uint64_t uid)
{
    return e->v.tables_uid == uid && dp_fc_key_eq(&e->key, k);
}

static inline bool
dp_fc_match6(const struct dp_fc_entry6 *e, const struct dp_fc_key6 *k,
             uint64_t uid)
{
    return e->v.tables_uid == uid && dp_fc_key6_eq(&e->key, k);
}

/* What the entry for 'k' (of hash 'hash') under tables 'uid' remembers,
 * or NULL: its first candidate slot, then its second.  (The pipeline
 * looks the same way, in two passes over a batch, the second slots
 * prefetched in between.)  A firewall hit writes its counts into it
 * (ct_cached_pass()). */
static inline struct dp_fc_val *
dp_fc_lookup(const struct dp_fc *fc, const struct dp_fc_key *k, uint32_t hash,
             uint64_t uid)
{
    struct dp_fc_entry *a = dp_fc_slot(fc, hash, 0);
    if (dp_fc_match(a, k, uid)) {
        return &a->v;
    }
    struct dp_fc_entry *b = dp_fc_slot(fc, hash, 1);
    return dp_fc_match(b, k, uid) ? &b->v : NULL;
}

static inline struct dp_fc_val *
dp_fc_lookup6(const struct dp_fc *fc, const struct dp_fc_key6 *k, uint32_t hash,
              uint64_t uid)
{
    struct dp_fc_entry6 *a = dp_fc_slot6(fc, hash, 0);
    if (dp_fc_match6(a, k, uid)) {
        return &a->v;
    }
    struct dp_fc_entry6 *b = dp_fc_slot6(fc, hash, 1);
    return dp_fc_match6(b, k, uid) ? &b->v : NULL;
}

/* The tag that names the entry for a key of family 'fam' and hash 'hash'
 * to conntrack (struct ct_cache_ops): its two candidate slots. */
static inline uint64_t
dp_fc_tag(enum dp_fc_family fam, uint32_t hash)
{
    return (uint64_t)fam << 32 | hash;
}

/* What connects a connection table to the cache (ct_set_cache(), with
 * the cache as 'arg'). */
extern const struct ct_cache_ops dp_fc_ct_ops;

/* Hands what every entry counted since its last sync to its connection
 * in table 'ct' and that connection's rule (ct_cache_collect()), so
 * counters read next are exact: a walk of both tables, 6 MiB. */
void dp_fc_collect(struct dp_fc *, struct ct_table *ct);

/* Remembers a decision for 'k' (see the top of the file for when a live
 * entry is replaced).  With 'ref' (a connection of table 'ct' that
 * packet took on the fast path at 'now_ms', and whose cache is this one),
 * the entry stands in for that connection, if it is still that use of
 * it; 'ct' (NULL: none) also receives the counts of an entry replaced.
 * Returns whether the entry was made. */
bool dp_fc_insert(struct dp_fc *, const struct dp_fc_key *k, uint32_t hash,
                  uint64_t uid, enum dp_fc_kind kind, uint32_t target,
                  struct ct_table *ct, const struct ct_ref *ref,
                  uint64_t now_ms);
bool dp_fc_insert6(struct dp_fc *, const struct dp_fc_key6 *k, uint32_t hash,
                   uint64_t uid, enum dp_fc_kind kind, uint32_t target,
                   struct ct_table *ct, const struct ct_ref *ref,
                   uint64_t now_ms);

#endif
