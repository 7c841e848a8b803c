/* Punt and inject: how control frames leave the packet path for the agent
 * and how the agent's answers come back (docs/routing.md, "Punt").
 *
 * A dp_ring is a bounded single-producer single-consumer queue of copied
 * frames: DP_RING_SLOTS slots of at most DP_PUNT_FRAME_MAX bytes each,
 * allocated once.  The datapath owns two: the punt ring (producer: the
 * packet thread; consumer: the agent thread, woken through an eventfd)
 * and the inject ring (producer: the agent thread; consumer: the packet
 * thread, which drains it at the top of its loop).  Neither side ever
 * waits: a full ring refuses the frame and the caller counts a drop, so a
 * VM flooding DHCP can never stall forwarding.
 *
 * Which frames are punted: dp_punt_classify() looks at a parsed frame from
 * a VIF and its segment's punt flags (tables.h DP_PUNT_*): IPv4 UDP to
 * port 67, IPv6 UDP to port 547, and ICMPv6 router solicitations.  The
 * pipeline calls it after SpoofGuard and before the firewall OUT check:
 * the router's infrastructure services (DHCP, RA) are always reachable
 * from a port, whatever its rules say (docs/decisions.md).
 *
 * Thread-safety: exactly one producer thread and one consumer thread per
 * ring at a time; the counters are written by their one writer and read
 * from anywhere (racy but untorn). */
#ifndef WEFT_DP_PUNT_H
#define WEFT_DP_PUNT_H 1

#include <stdbool.h>
#include <stdint.h>

#include "datapath/packet.h"
#include "datapath/tables.h"

#define DP_RING_SLOTS     256  /* power of two */
#define DP_PUNT_FRAME_MAX 1536 /* larger frames are refused */

#define DHCP6_SERVER_PORT_ 547 /* DHCPv6 servers and relays listen here */
#define ICMP6_RS_          133 /* router solicitation */

/* One queued frame. */
struct dp_punt_entry {
    uint16_t port;    /* datapath port it came in on / goes out of */
    uint8_t reason;   /* DP_PUNT_* of a punted frame; 0 for injected */
    uint32_t segment; /* segment index in the snapshot it was seen with */
    uint16_t len;     /* bytes in 'frame' */
    uint8_t frame[DP_PUNT_FRAME_MAX];
};

struct dp_ring;

/* Creates an empty ring; never returns NULL. */
struct dp_ring *dp_ring_create(void);
void dp_ring_destroy(struct dp_ring *); /* NULL is fine */

/* Producer: copies the frame into the next slot.  Returns 0, ENOBUFS if
 * the ring is full, or EMSGSIZE if 'len' > DP_PUNT_FRAME_MAX.  Sets
 * '*was_empty' (if not NULL) when the consumer had taken every earlier
 * entry (then it may be asleep and should be woken). */
int dp_ring_push(struct dp_ring *, uint16_t port, uint8_t reason,
                 uint32_t segment, const void *frame, uint32_t len,
                 bool *was_empty);
/* Consumer: moves the oldest entry into '*e'; false if the ring is empty. */
bool dp_ring_pop(struct dp_ring *, struct dp_punt_entry *e);
/* True if the ring has an entry (consumer side, cheap). */
bool dp_ring_nonempty(const struct dp_ring *);

/* What a ring's producer did (racy but untorn snapshot). */
struct dp_ring_counters {
    uint64_t pushed[4]; /* by reason: [0] DHCP4, [1] DHCP6, [2] RS, [3] 0 */
    uint64_t full;      /* refused: ring full */
    uint64_t too_big;   /* refused: frame > DP_PUNT_FRAME_MAX */
};
void dp_ring_get_counters(const struct dp_ring *, struct dp_ring_counters *);

/* Which DP_PUNT_* reason (0: none) applies to parsed frame 'pkt' under the
 * punt flags 'flags' of its segment. */
static inline uint8_t
dp_punt_classify(const struct dp_packet *pkt, uint8_t flags)
{
    const uint8_t *l4;

    if (pkt->l4_ofs == DP_OFS_NONE) {
        return 0;
    }
    l4 = pkt->data + pkt->l4_ofs;
    if (pkt->ip_proto == IPPROTO_UDP_ && pkt->l7_ofs != DP_OFS_NONE) {
        uint16_t dport = (uint16_t)(l4[2] << 8 | l4[3]);
        if ((flags & DP_PUNT_DHCP4) && (pkt->pflags & DP_PF_IPV4) &&
            dport == 67) {
            return DP_PUNT_DHCP4;
        }
        if ((flags & DP_PUNT_DHCP6) && (pkt->pflags & DP_PF_IPV6) &&
            dport == DHCP6_SERVER_PORT_) {
            return DP_PUNT_DHCP6;
        }
        return 0;
    }
    if ((flags & DP_PUNT_RS) && pkt->ip_proto == IPPROTO_ICMPV6_ &&
        (pkt->pflags & DP_PF_IPV6) && l4[0] == ICMP6_RS_) {
        return DP_PUNT_RS;
    }
    return 0;
}

/* What punting and injecting did; see datapath_get_punt_stats(). */
struct dp_punt_stats {
    uint64_t punted[3];     /* by reason: [0] DHCP4, [1] DHCP6, [2] RS */
    uint64_t punt_full;     /* refused: punt ring full */
    uint64_t punt_too_big;  /* refused: frame > DP_PUNT_FRAME_MAX */
    uint64_t injected;      /* frames the agent queued */
    uint64_t inject_full;   /* refused: inject ring full or too big */
    uint64_t inject_sent;   /* sent by the packet thread */
    uint64_t inject_failed; /* no such port, no buffer or tx error */
};

/* Index into dp_punt_stats.punted (and dp_ring_counters.pushed) for a
 * DP_PUNT_* reason; 3 for 0 (an injected frame). */
static inline int
dp_punt_reason_index(uint8_t reason)
{
    return reason == DP_PUNT_DHCP4   ? 0
           : reason == DP_PUNT_DHCP6 ? 1
           : reason == DP_PUNT_RS    ? 2
                                     : 3;
}

#endif
