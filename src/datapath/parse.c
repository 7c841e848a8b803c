/* Header parser (parse.h): the first stage of the datapath pipeline.
 *
 * dp_parse() runs once per received frame, so it is written as straight-line
 * code: every helper is static inline, the common case (untagged IPv4/TCP or
 * UDP) takes no loop and one predictable branch per header, and each bounds
 * check compares lengths that are already in registers.  Nothing allocates,
 * nothing dispatches through a pointer, and the frame is only read.
 *
 * Two parsers.  dp_parse() first tries the frames nearly all traffic is
 * (untagged IPv4 with a 20-byte header and not a fragment, or untagged
 * IPv6 without extension headers, carrying TCP or UDP) with the general
 * parser's tests for them merged into a few compares; any other
 * frame, and any that would be dropped, goes to dp_parse_general(), which
 * walks every header as described below.  Both give the same results
 * (test-parse compares them on mutated frames, fuzz-parse on every input).
 * The fast path took the parse from 86 to 47 instructions an encapsulated
 * frame (callgrind, bench-dp encap).
 *
 * Bounds.  Every read is preceded by a check against the end of the region
 * it belongs to: Ethernet and VLAN tags against the frame length, the IP
 * header against the frame, and everything after the IP header against the
 * end of the IP packet (IPv4 total length, IPv6 40 + payload length).  The
 * frame may be longer than the IP packet (Ethernet padding to 60 bytes);
 * those trailing bytes are never taken for headers.  All arithmetic is done
 * in uint32_t; the largest header offset the parser can produce is about
 * 62 + 8 * 2048 + 60 bytes (eight maximal IPv6 extension headers and a TCP
 * header with options), so offsets always fit the uint16_t fields of
 * dp_packet even for 64 KiB GSO super-frames.
 *
 * Results.  The parse fields are cleared on entry and each is set only once
 * the header it describes has been validated, so after a drop they describe
 * the headers that were good (useful to a packet trace) and the invariants
 * l3_ofs < l4_ofs < l7_ofs <= len hold in every case.
 *
 * Choices the header leaves open, made here:
 *  - vlan_tci is the outermost tag's TCI (the one the port or underlay put
 *    on); eth_type is the innermost ethertype.
 *  - ip_proto is set for every IPv4/IPv6 packet to the first protocol that
 *    is not a walked extension header, also when that protocol is one we do
 *    not parse (then l4_ofs stays DP_OFS_NONE) and for non-first fragments.
 *    IPv6 "no next header" (59) leaves ip_proto = 59 and no L4.
 *  - l4_ofs is set only for TCP, UDP, ICMP (in IPv4) and ICMPv6 (in IPv6),
 *    so a stage that sees l4_ofs may rely on at least 8 readable bytes
 *    there; l7_ofs is the first byte after the L4 header (for ICMP/ICMPv6,
 *    after the 8-byte header, i.e. the echo data or the quoted packet).
 *  - ICMP and ICMPv6 must have 8 bytes: every message type defined for
 *    either (errors, echo, ND, MLD) is at least that long.
 *  - A first fragment (offset 0, more-fragments set) gets DP_PF_FRAG and its
 *    L4 header is parsed and must be complete within the fragment (a first
 *    fragment too short for its L4 header is the "tiny fragment" attack).
 *    Its UDP length is not compared with the IP length, since it covers the
 *    whole datagram.  An IPv6 atomic fragment (fragment header with offset
 *    0 and no more-fragments) is a whole packet and gets no DP_PF_FRAG.
 *  - Extension headers beyond the five in parse.h (ESP, mobility, HIP...)
 *    end the walk like an unknown L4 protocol.  Order rules of RFC 8200
 *    (hop-by-hop first) are not enforced here. */
#include "datapath/parse.h"

#include <arpa/inet.h>

#include "lib/hash.h"

#define IPV4_HDR_MIN          20
#define IPV6_HDR_LEN          40
#define IPV6_EXT_MIN          8 /* smallest extension header, also the fragment hdr */
#define IPV6_EXT_MAX          8 /* extension headers walked before giving up */
#define TCP_HDR_MIN           20
#define UDP_HDR_LEN           8
#define ICMP_HDR_MIN          8
#define ARP_LEN               28     /* Ethernet/IPv4 ARP */
#define IPV6_FRAG_OFFSET_MASK 0xfff8 /* fragment offset, 8-byte units << 3 */
#define IPV6_FRAG_MORE        0x0001

BUILD_ASSERT(sizeof(struct ipv4_hdr) == IPV4_HDR_MIN);
BUILD_ASSERT(sizeof(struct ipv6_hdr) == IPV6_HDR_LEN);
BUILD_ASSERT(sizeof(struct tcp_hdr) == TCP_HDR_MIN);
BUILD_ASSERT(sizeof(struct udp_hdr) == UDP_HDR_LEN);
BUILD_ASSERT(sizeof(struct icmp_hdr) == ICMP_HDR_MIN);
BUILD_ASSERT(sizeof(struct arp_eth_ipv4) == ARP_LEN);
/* Largest l7_ofs: two tags, IPv6, eight 2048-byte extension headers, TCP
 * with 40 bytes of options.  It must fit dp_packet's uint16_t offsets. */
BUILD_ASSERT(ETH_HDR_LEN + 2 * VLAN_HDR_LEN + IPV6_HDR_LEN +
                 IPV6_EXT_MAX * 256 * 8 + 60 <
             DP_OFS_NONE);

/* Bit i set: IPv6 next-header value i is an extension header we walk.  All
 * five values are below 64. */
#define IPV6_EXT_MASK                                                          \
    (1ull << IPV6_EXT_HOPOPTS | 1ull << IPV6_EXT_ROUTING |                     \
     1ull << IPV6_EXT_FRAGMENT | 1ull << IPV6_EXT_AH |                         \
     1ull << IPV6_EXT_DSTOPTS)

static inline int
ipv6_is_ext(uint8_t next)
{
    return next < 64 && ((IPV6_EXT_MASK >> next) & 1);
}

/* Parses the L4 header at 'ofs' whose IP packet ends at 'end' (ofs <= end).
 * 'icmp' is the ICMP protocol number valid in this IP version. */
static inline enum dp_drop
parse_l4(struct dp_packet *pkt, const uint8_t *d, uint32_t ofs, uint32_t end,
         uint8_t proto, uint8_t icmp)
{
    uint32_t avail = end - ofs;

    if (likely(proto == IPPROTO_TCP_)) {
        const struct tcp_hdr *tcp = (const void *)(d + ofs);
        uint32_t doff;

        if (unlikely(avail < TCP_HDR_MIN)) {
            return DP_DROP_TCP_TRUNC;
        }
        doff = (uint32_t)(tcp->off >> 4) * 4;
        if (unlikely(doff < TCP_HDR_MIN || doff > avail)) {
            return DP_DROP_TCP_BAD_OFF;
        }
        pkt->l4_ofs = (uint16_t)ofs;
        pkt->l7_ofs = (uint16_t)(ofs + doff);
    } else if (likely(proto == IPPROTO_UDP_)) {
        const struct udp_hdr *udp = (const void *)(d + ofs);
        uint32_t ulen;

        if (unlikely(avail < UDP_HDR_LEN)) {
            return DP_DROP_UDP_TRUNC;
        }
        ulen = ntohs(udp->len);
        /* Fewer bytes than the IP payload is allowed (trailing data); more
         * is not, except in a first fragment where it counts them all. */
        if (unlikely(ulen < UDP_HDR_LEN ||
                     (ulen > avail && !(pkt->pflags & DP_PF_FRAG)))) {
            return DP_DROP_UDP_BAD_LEN;
        }
        pkt->l4_ofs = (uint16_t)ofs;
        pkt->l7_ofs = (uint16_t)(ofs + UDP_HDR_LEN);
    } else if (proto == icmp) {
        if (unlikely(avail < ICMP_HDR_MIN)) {
            return DP_DROP_ICMP_TRUNC;
        }
        pkt->l4_ofs = (uint16_t)ofs;
        pkt->l7_ofs = (uint16_t)(ofs + ICMP_HDR_MIN);
    }
    /* Any other protocol: not ours to parse; ip_proto says what it is. */
    return DP_DROP_NONE;
}

static inline enum dp_drop
parse_ipv4(struct dp_packet *pkt, const uint8_t *d, uint32_t ofs, uint32_t len)
{
    const struct ipv4_hdr *ip = (const void *)(d + ofs);
    uint32_t avail = len - ofs;
    uint32_t hlen, tot_len;
    uint16_t frag;

    if (unlikely(avail < IPV4_HDR_MIN)) {
        return DP_DROP_IPV4_TRUNC;
    }
    if (unlikely(ip->ver_ihl >> 4 != 4)) {
        return DP_DROP_IPV4_BAD_VERSION;
    }
    hlen = (uint32_t)(ip->ver_ihl & 0xf) * 4;
    if (unlikely(hlen < IPV4_HDR_MIN)) {
        return DP_DROP_IPV4_BAD_IHL;
    }
    if (unlikely(hlen > avail)) {
        return DP_DROP_IPV4_TRUNC;
    }
    tot_len = ntohs(ip->tot_len);
    if (unlikely(tot_len > avail || tot_len < hlen)) {
        return DP_DROP_IPV4_BAD_LEN;
    }

    pkt->l3_ofs = (uint16_t)ofs;
    pkt->ip_proto = ip->proto;
    pkt->pflags |= DP_PF_IPV4;

    frag = ntohs(ip->frag_off);
    if (unlikely(frag & (IPV4_MF | IPV4_OFFSET_MASK))) {
        pkt->pflags |= DP_PF_FRAG;
        if (frag & IPV4_OFFSET_MASK) {
            pkt->pflags |= DP_PF_LATER;
            return DP_DROP_NONE;
        }
    }
    return parse_l4(pkt, d, ofs + hlen, ofs + tot_len, ip->proto,
                    IPPROTO_ICMP_);
}

static inline enum dp_drop
parse_ipv6(struct dp_packet *pkt, const uint8_t *d, uint32_t ofs, uint32_t len)
{
    const struct ipv6_hdr *ip = (const void *)(d + ofs);
    uint32_t avail = len - ofs;
    uint32_t end, cur;
    uint8_t next;

    if (unlikely(avail < IPV6_HDR_LEN)) {
        return DP_DROP_IPV6_TRUNC;
    }
    if (unlikely(d[ofs] >> 4 != 6)) {
        return DP_DROP_IPV6_BAD_VERSION;
    }
    end = IPV6_HDR_LEN + (uint32_t)ntohs(ip->payload_len);
    if (unlikely(end > avail)) {
        return DP_DROP_IPV6_BAD_LEN;
    }
    end += ofs;

    pkt->l3_ofs = (uint16_t)ofs;
    pkt->pflags |= DP_PF_IPV6;

    cur = ofs + IPV6_HDR_LEN;
    next = ip->next;
    if (unlikely(ipv6_is_ext(next))) {
        for (int n = 0; ipv6_is_ext(next); n++) {
            const uint8_t *ext = d + cur;
            uint32_t ext_len;

            if (unlikely(n == IPV6_EXT_MAX)) {
                return DP_DROP_IPV6_EXT_TOO_MANY;
            }
            if (unlikely(end - cur < IPV6_EXT_MIN)) {
                return DP_DROP_IPV6_EXT_TRUNC;
            }
            if (next == IPV6_EXT_FRAGMENT) {
                uint16_t frag = ntohs(rd16(ext + 2));

                if (frag & IPV6_FRAG_OFFSET_MASK) {
                    /* The rest is the middle of a datagram. */
                    pkt->ip_proto = ext[0];
                    pkt->pflags |= DP_PF_FRAG | DP_PF_LATER;
                    return DP_DROP_NONE;
                }
                if (frag & IPV6_FRAG_MORE) {
                    pkt->pflags |= DP_PF_FRAG;
                }
                ext_len = IPV6_EXT_MIN;
            } else if (next == IPV6_EXT_AH) {
                ext_len = ((uint32_t)ext[1] + 2) * 4; /* RFC 4302 */
            } else {
                ext_len = ((uint32_t)ext[1] + 1) * 8; /* RFC 8200 */
            }
            if (unlikely(ext_len > end - cur)) {
                return DP_DROP_IPV6_EXT_TRUNC;
            }
            next = ext[0];
            cur += ext_len;
        }
    }
    pkt->ip_proto = next;
    return parse_l4(pkt, d, cur, end, next, IPPROTO_ICMPV6_);
}

static inline enum dp_drop
parse_arp(struct dp_packet *pkt, const uint8_t *d, uint32_t ofs, uint32_t len)
{
    const struct arp_eth_ipv4 *arp = (const void *)(d + ofs);

    if (unlikely(len - ofs < ARP_LEN)) {
        return DP_DROP_ARP_TRUNC;
    }
    if (unlikely(arp->htype != htons(ARP_HTYPE_ETH) ||
                 arp->ptype != htons(ETH_TYPE_IPV4) ||
                 arp->hlen != ETH_ADDR_LEN || arp->plen != 4)) {
        return DP_DROP_ARP_BAD;
    }
    pkt->l3_ofs = (uint16_t)ofs;
    pkt->pflags |= DP_PF_ARP;
    return DP_DROP_NONE;
}

static inline int
eth_type_is_vlan(uint16_t type)
{
    return type == ETH_TYPE_VLAN || type == ETH_TYPE_QINQ;
}

static enum dp_drop
parse_frame(struct dp_packet *pkt)
{
    const uint8_t *d = pkt->data;
    uint32_t len = pkt->len;
    uint32_t ofs = ETH_HDR_LEN;
    uint16_t type;

    pkt->l3_ofs = DP_OFS_NONE;
    pkt->l4_ofs = DP_OFS_NONE;
    pkt->l7_ofs = DP_OFS_NONE;
    pkt->eth_type = 0;
    pkt->vlan_tci = 0;
    pkt->ip_proto = 0;
    pkt->pflags = 0;

    if (unlikely(len < ETH_HDR_LEN)) {
        return DP_DROP_RUNT;
    }
    if (unlikely(eth_addr_is_multicast(&dp_packet_eth(pkt)->src))) {
        return DP_DROP_SRC_MAC_MULTICAST;
    }
    type = ntohs(dp_packet_eth(pkt)->type);

    if (unlikely(eth_type_is_vlan(type))) {
        /* Outer tag: its TCI is the one we report. */
        if (unlikely(len - ofs < VLAN_HDR_LEN)) {
            return DP_DROP_VLAN_TRUNC;
        }
        pkt->vlan_tci = ntohs(rd16(d + ofs));
        pkt->pflags = DP_PF_VLAN;
        type = ntohs(rd16(d + ofs + 2));
        ofs += VLAN_HDR_LEN;
        if (eth_type_is_vlan(type)) {
            /* Inner tag (802.1ad QinQ). */
            if (unlikely(len - ofs < VLAN_HDR_LEN)) {
                return DP_DROP_VLAN_TRUNC;
            }
            type = ntohs(rd16(d + ofs + 2));
            ofs += VLAN_HDR_LEN;
            if (unlikely(eth_type_is_vlan(type))) {
                return DP_DROP_VLAN_TOO_MANY;
            }
        }
    }
    pkt->eth_type = type;

    if (likely(type == ETH_TYPE_IPV4)) {
        return parse_ipv4(pkt, d, ofs, len);
    } else if (type == ETH_TYPE_IPV6) {
        return parse_ipv6(pkt, d, ofs, len);
    } else if (type == ETH_TYPE_ARP) {
        return parse_arp(pkt, d, ofs, len);
    }
    return DP_DROP_NONE; /* some other ethertype: L2 only */
}

/* parse_frame(), then DP_PF_PLAIN by its definition (parse.h): the fast
 * path stores it with its other flags, this path tests for it after. */
enum dp_drop
dp_parse_general(struct dp_packet *pkt)
{
    enum dp_drop d = parse_frame(pkt);
    uint16_t l4 = pkt->l4_ofs;

    if (d == DP_DROP_NONE && pkt->l3_ofs == ETH_HDR_LEN &&
        !(pkt->pflags & (DP_PF_VLAN | DP_PF_FRAG)) &&
        (pkt->ip_proto == IPPROTO_TCP_ || pkt->ip_proto == IPPROTO_UDP_) &&
        (pkt->pflags & DP_PF_IPV4   ? l4 == ETH_HDR_LEN + IPV4_HDR_MIN
         : pkt->pflags & DP_PF_IPV6 ? l4 == ETH_HDR_LEN + IPV6_HDR_LEN
                                    : false)) {
        pkt->pflags |= DP_PF_PLAIN;
    }
    return d;
}

/* dp_parse()'s fast path for the TCP or UDP header at 'l4' of an IP
 * packet with 'avail' bytes after its IP header(s): the L7 offset, or 0
 * when dp_parse_general() must look (another protocol, or a bad header).
 * The tests are parse_l4()'s for a frame that is not a fragment. */
static inline __attribute__((always_inline)) uint32_t
fast_l4(const uint8_t *d, uint32_t l4, uint32_t avail, uint8_t proto)
{
    if (proto == IPPROTO_TCP_) {
        uint32_t doff;

        if (avail < TCP_HDR_MIN) {
            return 0;
        }
        doff = (uint32_t)(d[l4 + 12] >> 4) * 4;
        return doff >= TCP_HDR_MIN && doff <= avail ? l4 + doff : 0;
    }
    if (proto == IPPROTO_UDP_) {
        uint32_t ulen;

        if (avail < UDP_HDR_LEN) {
            return 0;
        }
        ulen = ntohs(rd16(d + l4 + 4));
        return ulen >= UDP_HDR_LEN && ulen <= avail ? l4 + UDP_HDR_LEN : 0;
    }
    return 0;
}

/* Sets the parse fields of a frame dp_parse()'s fast path took. */
static inline __attribute__((always_inline)) enum dp_drop
fast_done(struct dp_packet *pkt, uint16_t l4, uint32_t l7, uint16_t type,
          uint8_t proto, uint8_t pflags)
{
    pkt->l3_ofs = ETH_HDR_LEN;
    pkt->l4_ofs = l4;
    pkt->l7_ofs = (uint16_t)l7;
    pkt->eth_type = type;
    pkt->vlan_tci = 0;
    pkt->ip_proto = proto;
    pkt->pflags = pflags;
    return DP_DROP_NONE;
}

/* The common frames in one pass: untagged IPv4 with a 20-byte header and
 * not a fragment, or untagged IPv6 without extension headers, carrying a
 * whole TCP or UDP header.  Each test below is one of dp_parse_general()'s
 * for such a frame, merged where the frame's shape makes several into one
 * (IPv4 version and IHL are one byte; the IP length bounds every later
 * read), so the fields come out exactly as there (test-parse and
 * fuzz-parse compare the two).  Anything else, including every frame that
 * would be dropped, goes to dp_parse_general(). */
enum dp_drop
dp_parse(struct dp_packet *pkt)
{
    const uint8_t *d = pkt->data;
    uint32_t len = pkt->len;
    uint32_t l7;

    if (unlikely(len < ETH_HDR_LEN + IPV4_HDR_MIN) || d[6] & 1) {
        return dp_parse_general(pkt);
    }
    /* Each family ends in its own copy of fast_done() with constant
     * offsets and flags, which GCC stores as merged immediates. */
    if (likely(rd16(d + 12) == htons(ETH_TYPE_IPV4))) {
        /* Bytes after the IP header; a total length below 20 wraps to a
         * huge value, so one compare checks both of its bounds. */
        uint32_t avail = ntohs(rd16(d + 16)) - IPV4_HDR_MIN;

        if (d[14] != 0x45 || avail > len - ETH_HDR_LEN - IPV4_HDR_MIN ||
            rd16(d + 20) & htons(IPV4_MF | IPV4_OFFSET_MASK)) {
            return dp_parse_general(pkt);
        }
        l7 = fast_l4(d, ETH_HDR_LEN + IPV4_HDR_MIN, avail, d[23]);
        if (unlikely(!l7)) {
            return dp_parse_general(pkt);
        }
        return fast_done(pkt, ETH_HDR_LEN + IPV4_HDR_MIN, l7, ETH_TYPE_IPV4,
                         d[23], DP_PF_IPV4 | DP_PF_PLAIN);
    }
    if (rd16(d + 12) == htons(ETH_TYPE_IPV6)) {
        uint32_t pl_len;

        if (len < ETH_HDR_LEN + IPV6_HDR_LEN || d[14] >> 4 != 6) {
            return dp_parse_general(pkt);
        }
        pl_len = ntohs(rd16(d + 18));
        if (pl_len > len - ETH_HDR_LEN - IPV6_HDR_LEN) {
            return dp_parse_general(pkt);
        }
        l7 = fast_l4(d, ETH_HDR_LEN + IPV6_HDR_LEN, pl_len, d[20]);
        if (unlikely(!l7)) {
            return dp_parse_general(pkt);
        }
        return fast_done(pkt, ETH_HDR_LEN + IPV6_HDR_LEN, l7, ETH_TYPE_IPV6,
                         d[20], DP_PF_IPV6 | DP_PF_PLAIN);
    }
    return dp_parse_general(pkt);
}

/* Seeds, one per address family, so that an IPv4 and a non-IP frame that
 * happen to carry equal bytes do not collide by construction.  L4_SEED
 * has bits set in 8..31, which the L4 word (protocol, ports << 32) never
 * has, so the multiply's second input is never 0. */
#define FLOW_HASH_SEED_IPV4 0x243f6a8885a308d3ull
#define FLOW_HASH_SEED_IPV6 0x13198a2e03707344ull
#define FLOW_HASH_SEED_ETH  0xa4093822299f31d0ull
#define FLOW_HASH_SEED_L4   0x082efa98ec4e6c89ull

/* The flow hash picks the outer UDP source port, a tunnel socket and an
 * ECMP member; nothing indexes a table with it, so one multiply for IPv4
 * (three for IPv6) mixes enough (decision 59). */
uint32_t
dp_flow_hash(const struct dp_packet *pkt)
{
    const uint8_t *d = pkt->data;
    uint64_t l4 = 0;
    uint64_t h;
    uint32_t r;

    /* Protocol and the ports of TCP and UDP, but neither of a fragment:
     * every fragment of a datagram must hash alike, only the first one has
     * ports, and in IPv6 the first one's protocol may come from behind
     * extension headers that later fragments do not walk. */
    if (!(pkt->pflags & DP_PF_FRAG)) {
        l4 = pkt->ip_proto;
        if (pkt->l4_ofs != DP_OFS_NONE &&
            (pkt->ip_proto == IPPROTO_TCP_ || pkt->ip_proto == IPPROTO_UDP_)) {
            l4 |= (uint64_t)rd32(d + pkt->l4_ofs) << 32;
        }
    }
    l4 ^= FLOW_HASH_SEED_L4;

    if (likely(pkt->pflags & DP_PF_IPV4)) {
        const struct ipv4_hdr *ip = (const void *)(d + pkt->l3_ofs);
        uint64_t addrs;

        memcpy(&addrs, &ip->src, sizeof addrs); /* src and dst */
        h = hash_mum(addrs ^ FLOW_HASH_SEED_IPV4, l4);
    } else if (pkt->pflags & DP_PF_IPV6) {
        const uint8_t *a = d + pkt->l3_ofs + offsetof(struct ipv6_hdr, src);
        uint64_t w[4];

        memcpy(w, a, sizeof w); /* src and dst */
        h = hash_mum(w[0] ^ FLOW_HASH_SEED_IPV6, w[1] ^ FLOW_HASH_SEED_L4) ^
            hash_mum(w[2] ^ FLOW_HASH_SEED_IPV4, w[3] ^ FLOW_HASH_SEED_ETH);
        h = hash_mum(h ^ FLOW_HASH_SEED_IPV6, l4);
    } else if (pkt->len >= ETH_HDR_LEN) {
        uint64_t a, b = 0;

        memcpy(&a, d, 8);     /* dst and two bytes of src */
        memcpy(&b, d + 8, 4); /* rest of src */
        h = hash_mum(a ^ FLOW_HASH_SEED_ETH,
                     b ^ (uint64_t)pkt->eth_type << 32 ^ FLOW_HASH_SEED_L4);
    } else {
        h = hash_mix64(pkt->len ^ FLOW_HASH_SEED_ETH); /* not parsed */
    }
    r = (uint32_t)(h ^ h >> 32);
    return r ? r : 1; /* 0 means "no hash" in dp_packet */
}
