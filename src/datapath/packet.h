/* Packet buffers, batches and per-thread buffer pools.
 *
 * A dp_packet describes one frame in a buffer owned by a dp_pool.  Frames
 * start DP_HEADROOM bytes into the buffer so encapsulation can prepend outer
 * headers in place.  Pools are single-threaded: each datapath thread owns
 * its own, so getting and freeing a buffer is a few instructions and never
 * takes a lock or allocates.
 *
 * After dp_parse() (parse.h) the header offsets and fields below are valid;
 * stages read them instead of re-parsing. */
#ifndef WEFT_DP_PACKET_H
#define WEFT_DP_PACKET_H 1

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "datapath/proto.h"
#include "lib/util.h"

#define DP_BATCH_MAX 64
#define DP_HEADROOM  192          /* >= VLAN + IPv6 + UDP + GENEVE + options */
#define DP_OFS_NONE  0xffff       /* header absent */
#define DP_MAX_FRAME (65536 + 64) /* largest frame: a GSO super-frame */

/* Parse flags (dp_packet.pflags). */
#define DP_PF_VLAN  0x01 /* had an 802.1Q tag (vlan_tci valid) */
#define DP_PF_IPV4  0x02 /* l3 is IPv4 */
#define DP_PF_IPV6  0x04 /* l3 is IPv6 */
#define DP_PF_FRAG  0x08 /* IP fragment */
#define DP_PF_LATER 0x10 /* non-first fragment: no L4 header */
#define DP_PF_ARP   0x20 /* l3 is ARP (Ethernet/IPv4) */
/* A whole TCP or UDP header right after an untagged IPv4 header without
 * options or an IPv6 header without extension headers, not a fragment:
 * the frames the flow cache takes (flowcache.h), in one test. */
#define DP_PF_PLAIN 0x40

/* Offload metadata, with the meaning of the virtio-net header: a VIF can
 * hand us a TCP "super-frame" of up to 64 KiB to be cut into gso_size
 * segments, and a checksum still to be computed from csum_start. */
#define DP_OL_CSUM_PARTIAL 0x01 /* checksum at csum_start+csum_offset owed */
#define DP_OL_CSUM_VALID   0x02 /* checksum already verified */
enum dp_gso_type {
    DP_GSO_NONE = 0,
    DP_GSO_TCPV4,
    DP_GSO_TCPV6,
    DP_GSO_UDP_L4,
};
struct dp_offload {
    uint8_t flags;        /* DP_OL_* */
    uint8_t gso_type;     /* enum dp_gso_type */
    uint16_t gso_size;    /* L4 payload bytes per segment */
    uint16_t hdr_len;     /* bytes of headers before the payload */
    uint16_t csum_start;  /* from data: where checksumming starts */
    uint16_t csum_offset; /* from csum_start: where the sum is stored */
};

struct dp_pool;

struct dp_packet {
    uint8_t *data; /* first byte of the Ethernet frame */
    uint32_t len;  /* frame length in bytes */
    uint32_t cap;  /* bytes from 'base' to the end of the buffer */
    uint8_t *base; /* start of the buffer */

    /* Parse results: offsets from 'data', DP_OFS_NONE when absent. */
    uint16_t l3_ofs;   /* IPv4/IPv6/ARP header */
    uint16_t l4_ofs;   /* TCP/UDP/ICMP header (after IPv6 extensions) */
    uint16_t l7_ofs;   /* L4 payload */
    uint16_t eth_type; /* host order, innermost after VLAN tags */
    uint16_t vlan_tci; /* host order, valid with DP_PF_VLAN */
    uint8_t ip_proto;  /* L4 protocol, valid with l4_ofs or DP_PF_LATER */
    uint8_t pflags;    /* DP_PF_* */

    struct dp_offload ol; /* offload requests that came with the frame */

    /* Logical metadata, set by the pipeline. */
    uint16_t in_port;     /* datapath port index it arrived on */
    uint16_t out_port;    /* output port index chosen by the pipeline */
    uint32_t segment;     /* segment table index */
    uint32_t src_lport;   /* source logical port id (GENEVE option), 0 none */
    uint32_t hash;        /* flow hash of the inner headers, 0 = not set */
    uint8_t tun_addr[16]; /* tunnel peer: IPv4-mapped or IPv6, for tunnels */
    uint16_t tun_sport;   /* tunnel UDP source port (rx) */

    struct dp_pool *pool; /* owner of the buffer */
    uint32_t index;       /* buffer index in the pool */
};

struct dp_batch {
    uint16_t n;
    struct dp_packet *pkts[DP_BATCH_MAX];
};

/* Creates a pool of 'n_bufs' buffers, each with room for DP_HEADROOM plus
 * 'frame_size' bytes.  Memory is reserved, not touched: buffers that are
 * never used cost no RSS.  Never returns NULL (aborts on exhaustion). */
struct dp_pool *dp_pool_create(uint32_t n_bufs, uint32_t frame_size);
void dp_pool_destroy(struct dp_pool *); /* NULL is fine */
uint32_t dp_pool_available(const struct dp_pool *);
uint32_t dp_pool_frame_size(const struct dp_pool *);

void dp_batch_free(struct dp_batch *);

/* Copies 'pkt' (data and metadata) into a new buffer of its pool; NULL if
 * the pool is empty or too small. */
struct dp_packet *dp_packet_clone(const struct dp_packet *);

static inline uint32_t
dp_packet_headroom(const struct dp_packet *p)
{
    return (uint32_t)(p->data - p->base);
}

static inline uint32_t
dp_packet_tailroom(const struct dp_packet *p)
{
    return p->cap - dp_packet_headroom(p) - p->len;
}

/* Prepends 'n' bytes; returns the new start or NULL if headroom is short. */
static inline uint8_t *
dp_packet_push(struct dp_packet *p, uint32_t n)
{
    if (unlikely(dp_packet_headroom(p) < n)) {
        return NULL;
    }
    p->data -= n;
    p->len += n;
    return p->data;
}

/* Removes 'n' bytes from the front; returns false if the frame is shorter. */
static inline bool
dp_packet_pull(struct dp_packet *p, uint32_t n)
{
    if (unlikely(p->len < n)) {
        return false;
    }
    p->data += n;
    p->len -= n;
    return true;
}

/* The end of the IP packet in parsed frame 'p' (IPv4 or IPv6): where its
 * total length (IPv6: header and payload length) says, so Ethernet
 * padding is left out; never past the frame. */
static inline const uint8_t *
dp_packet_ip_end(const struct dp_packet *p)
{
    const uint8_t *d = p->data, *l3 = d + p->l3_ofs, *end;
    end = p->pflags & DP_PF_IPV4 ? l3 + ntohs(rd16(l3 + 2))
                                 : l3 + 40 + ntohs(rd16(l3 + 4));
    return end > d + p->len ? d + p->len : end;
}

static inline const struct eth_hdr *
dp_packet_eth(const struct dp_packet *p)
{
    return (const struct eth_hdr *)(const void *)p->data;
}

static inline void
dp_batch_init(struct dp_batch *b)
{
    b->n = 0;
}

static inline void
dp_batch_add(struct dp_batch *b, struct dp_packet *p)
{
    b->pkts[b->n++] = p;
}

/* The pool is exposed only so that get/free inline into the packet path;
 * use it through the functions above and below. */
struct dp_pool {
    struct dp_packet *pkts; /* descriptors, one per buffer */
    uint32_t *free_stack;   /* indices of free buffers */
    uint32_t n_free;        /* entries in free_stack */
    uint32_t n_bufs;        /* buffers in the pool */
    uint32_t frame_size;    /* usable frame bytes after the headroom */
    uint8_t *mem;           /* the mapping */
    size_t mem_size;        /* its size */
};

/* Clears parse results and metadata (not data/len): the fields from l3_ofs
 * up to (not including) pool are contiguous, so this is one memset. */
static inline void
dp_packet_reset_meta(struct dp_packet *p)
{
    memset(&p->l3_ofs, 0,
           offsetof(struct dp_packet, pool) -
               offsetof(struct dp_packet, l3_ofs));
    p->l3_ofs = p->l4_ofs = p->l7_ofs = DP_OFS_NONE;
}

/* Returns a packet with data at DP_HEADROOM and len 0, or NULL if none is
 * free.  Caller owns it and gives it back with dp_packet_free(). */
static inline struct dp_packet *
dp_pool_get(struct dp_pool *pool)
{
    struct dp_packet *p;

    if (unlikely(!pool->n_free)) {
        return NULL;
    }
    p = &pool->pkts[pool->free_stack[--pool->n_free]];
    p->data = p->base + DP_HEADROOM;
    p->len = 0;
    dp_packet_reset_meta(p);
    return p;
}

static inline void
dp_packet_free(struct dp_packet *p)
{
    struct dp_pool *pool = p->pool;
    pool->free_stack[pool->n_free++] = p->index;
}

#endif
