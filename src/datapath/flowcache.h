/* A per-thread exact-match cache of the L2 pipeline's decisions for
 * established traffic from VIFs (decisions 51 and 53).
 *
 * Key: a whole IPv4 TCP or UDP frame's headers as they are on the wire:
 * destination and source MAC, EtherType (so no VLAN tag), IPv4 version and
 * header length (so no options), protocol, addresses and L4 ports, with
 * the VIF it came from in place of the IP checksum; an entry also holds
 * the tables snapshot it was made under.  Value: where
 * the pipeline sent the last such frame (a remote endpoint through the
 * segment's tunnel, or a local port) and, behind a stateful firewall, its
 * tracked connection (struct ct_ref).  A hit skips the MAC-table lookup,
 * the flow hash (the cache's own hash serves, or the connection's) and
 * the conntrack lookup; the firewall's established checks still run on
 * the remembered connection (dfw_check_cached()).
 *
 * Entries are keyed on the tables object's uid, so a new snapshot
 * (a MAC moved, a port gone, a firewall changed) never reuses one; a
 * freed or reused connection is detected by its incarnation.  Only
 * plain L2 unicast decisions are cached: ARP/ND, routed, flooded,
 * punted and IPv6 frames always take the full way.
 *
 * 32,768 entries (2 MiB per packet thread, page-aligned so an entry is
 * one cache line, mapped on first use, as a huge page if the kernel
 * gives one); each key has two candidate slots from two parts of its
 * hash, as in a cuckoo table.  A miss takes a free or stale candidate; when both are live,
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

#define DP_FC_BITS 15 /* 32,768 entries */

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

struct dp_fc_entry {
    struct dp_fc_key key;
    uint64_t tables_uid; /* dp_tables.uid it was made under; 0: free */
    uint32_t sig;        /* dp_fc_hash() of the key */
    uint32_t action;     /* enum dp_fc_kind << 24 | target (VTEP or port) */
    struct ct_ref ct;    /* the connection; ct.idx 0: no firewall */
};
BUILD_ASSERT(sizeof(struct dp_fc_entry) == 64);

#define DP_FC_TARGET_MAX 0xffffff /* larger VTEP indexes are not cached */

struct dp_fc {
    struct dp_fc_entry *e; /* 1 << DP_FC_BITS */
    uint64_t seed[4];
    uint32_t misses; /* paces replacement of live entries */
};

struct dp_fc *dp_fc_create(void);
void dp_fc_destroy(struct dp_fc *); /* NULL is fine */

/* Fills 'k' from parsed 'p', which came from port 'in_port'; false when
 * the frame is not one the cache takes (not a whole IPv4 TCP/UDP frame
 * without VLAN tag and IP options). */
static inline bool
dp_fc_key(const struct dp_packet *p, uint16_t in_port, struct dp_fc_key *k)
{
    uint32_t ofs; /* l3_ofs and l4_ofs, adjacent: one compare */

    memcpy(&ofs, &p->l3_ofs, sizeof ofs);
    if ((p->pflags & (DP_PF_IPV4 | DP_PF_VLAN | DP_PF_FRAG)) != DP_PF_IPV4 ||
        ofs != (ETH_HDR_LEN | (uint32_t)(ETH_HDR_LEN + 20) << 16) ||
        (p->ip_proto != IPPROTO_TCP_ && p->ip_proto != IPPROTO_UDP_)) {
        return false;
    }
    memcpy(&k->w[0], p->data, 16);
    memcpy(&k->w[2], p->data + 22, 16);
    k->w[1] &= 0x00ffffffffffffffull; /* byte 15: TOS */
    /* Bytes 22 (TTL) and 24-25 (checksum) out, the port in. */
    k->w[2] = (k->w[2] & 0xffffffff0000ff00ull) | (uint64_t)in_port << 16;
    return true;
}

/* The key's hash, never 0: it is also the frame's flow hash (outer UDP
 * source port) when no firewall supplies one. */
static inline uint32_t
dp_fc_hash(const struct dp_fc *fc, const struct dp_fc_key *k)
{
    uint64_t h = (k->w[0] + fc->seed[0]) * (k->w[1] + fc->seed[1]) +
                 (k->w[2] + fc->seed[2]) * (k->w[3] + fc->seed[3]);
    /* The products' low bits see only the factors' low bits: fold the
     * high half down and mix once more, so every result bit (ECMP and
     * the slot index use the low ones) depends on the whole key. */
    h ^= h >> 32;
    h *= 0x9e3779b97f4a7c15ull;
    uint32_t r = (uint32_t)(h >> 32);
    return r ? r : 1;
}

/* The key's two candidate slots. */
static inline struct dp_fc_entry *
dp_fc_slot(const struct dp_fc *fc, uint32_t hash, int which)
{
    uint32_t mask = (1u << DP_FC_BITS) - 1;
    return &fc->e[(which ? hash >> (32 - DP_FC_BITS) : hash) & mask];
}

static inline bool
dp_fc_key_eq(const struct dp_fc_key *a, const struct dp_fc_key *b)
{
    return !((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) |
             (a->w[3] ^ b->w[3]));
}

/* Whether 'e' is the entry for 'k' (of hash 'hash') under tables 'uid'. */
static inline bool
dp_fc_match(const struct dp_fc_entry *e, const struct dp_fc_key *k,
            uint32_t hash, uint64_t uid)
{
    return e->sig == hash && e->tables_uid == uid && dp_fc_key_eq(&e->key, k);
}

/* The entry for 'k' under tables 'uid' in its candidate slots 'a' and 'b'
 * (as dp_fc_slot() gave them), or NULL. */
static inline const struct dp_fc_entry *
dp_fc_find(const struct dp_fc_entry *a, const struct dp_fc_entry *b,
           const struct dp_fc_key *k, uint32_t hash, uint64_t uid)
{
    if (dp_fc_match(a, k, hash, uid)) {
        return a;
    }
    return dp_fc_match(b, k, hash, uid) ? b : NULL;
}

/* The entry for 'k' under tables 'uid', or NULL. */
static inline const struct dp_fc_entry *
dp_fc_lookup(const struct dp_fc *fc, const struct dp_fc_key *k, uint32_t hash,
             uint64_t uid)
{
    return dp_fc_find(dp_fc_slot(fc, hash, 0), dp_fc_slot(fc, hash, 1), k, hash,
                      uid);
}

/* Remembers a decision for 'k' (see the top of the file for when a live
 * entry is replaced). */
void dp_fc_insert(struct dp_fc *, const struct dp_fc_key *k, uint32_t hash,
                  uint64_t uid, enum dp_fc_kind kind, uint32_t target,
                  const struct ct_ref *ct);

#endif
