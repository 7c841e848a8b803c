/* Unit tests for the header parser and flow hash (parse.h).
 *
 * Frames are assembled with the small builder below, then parsed from a
 * heap copy of exactly their length, so ASan reports any read past the end
 * of the frame; the copy is compared with the original afterwards to catch
 * writes.  Every parse is also checked against the structural invariants
 * the rest of the pipeline relies on (parse_consistent()). */
#include "datapath/parse.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "testlib.h"

/* ---- frame builder ---- */

struct frame {
    uint32_t n;              /* bytes written */
    uint8_t b[DP_MAX_FRAME]; /* the frame */
};

static const struct eth_addr mac_a = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
static const struct eth_addr mac_b = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};

static uint32_t
f_put(struct frame *f, const void *p, uint32_t n)
{
    uint32_t ofs = f->n;

    memcpy(f->b + ofs, p, n);
    f->n += n;
    return ofs;
}

/* Appends 'n' bytes of a recognisable pattern (not zeros, so that padding
 * or payload taken for a header would not look valid by accident). */
static uint32_t
f_fill(struct frame *f, uint32_t n, uint8_t byte)
{
    uint32_t ofs = f->n;

    memset(f->b + ofs, byte, n);
    f->n += n;
    return ofs;
}

static void
f_eth_macs(struct frame *f, const struct eth_addr *dst,
           const struct eth_addr *src, uint16_t type)
{
    struct eth_hdr eth = {.dst = *dst, .src = *src, .type = htons(type)};

    f->n = 0;
    f_put(f, &eth, sizeof eth);
}

static void
f_eth(struct frame *f, uint16_t type)
{
    f_eth_macs(f, &mac_b, &mac_a, type);
}

static void
f_vlan(struct frame *f, uint16_t tci, uint16_t next_type)
{
    struct vlan_hdr v = {.tci = htons(tci), .type = htons(next_type)};

    f_put(f, &v, sizeof v);
}

static uint32_t
f_ipv4(struct frame *f, uint8_t proto)
{
    struct ipv4_hdr ip = {
        .ver_ihl = 0x45,
        .tot_len = htons(20),
        .id = htons(0x1234),
        .ttl = 64,
        .proto = proto,
        .src = htonl(0x0a000001),
        .dst = htonl(0x0a000002),
    };

    return f_put(f, &ip, sizeof ip);
}

static struct ipv4_hdr *
ipv4_at(struct frame *f, uint32_t ofs)
{
    return (struct ipv4_hdr *)(void *)(f->b + ofs);
}

/* Sets the IPv4 total length to reach the current end of the frame. */
static void
f_ipv4_done(struct frame *f, uint32_t ofs)
{
    ipv4_at(f, ofs)->tot_len = htons((uint16_t)(f->n - ofs));
}

static uint32_t
f_ipv6(struct frame *f, uint8_t next)
{
    struct ipv6_hdr ip = {
        .ver_tc_flow = htonl(0x60000000),
        .next = next,
        .hop_limit = 64,
        .src = {{0x20, 0x01, 0x0d, 0xb8, [15] = 1}},
        .dst = {{0x20, 0x01, 0x0d, 0xb8, [15] = 2}},
    };

    return f_put(f, &ip, sizeof ip);
}

static struct ipv6_hdr *
ipv6_at(struct frame *f, uint32_t ofs)
{
    return (struct ipv6_hdr *)(void *)(f->b + ofs);
}

static void
f_ipv6_done(struct frame *f, uint32_t ofs)
{
    ipv6_at(f, ofs)->payload_len = htons((uint16_t)(f->n - ofs - 40));
}

/* Hop-by-hop, routing or destination options header of (len + 1) * 8
 * bytes, filled with PadN-like bytes. */
static uint32_t
f_ext6(struct frame *f, uint8_t next, uint8_t len)
{
    uint32_t ofs = f_fill(f, ((uint32_t)len + 1) * 8, 0);

    f->b[ofs] = next;
    f->b[ofs + 1] = len;
    return ofs;
}

static uint32_t
f_ah6(struct frame *f, uint8_t next, uint8_t len)
{
    uint32_t ofs = f_fill(f, ((uint32_t)len + 2) * 4, 0x77);

    f->b[ofs] = next;
    f->b[ofs + 1] = len;
    return ofs;
}

/* Fragment header: 'offset' in 8-byte units. */
static uint32_t
f_frag6(struct frame *f, uint8_t next, uint16_t offset, int more)
{
    uint16_t fo = htons((uint16_t)(offset << 3 | (more ? 1 : 0)));
    uint32_t ofs = f_fill(f, 8, 0);

    f->b[ofs] = next;
    memcpy(f->b + ofs + 2, &fo, 2);
    memcpy(f->b + ofs + 4, "\x12\x34\x56\x78", 4);
    return ofs;
}

/* TCP header of 'doff' 32-bit words (options are NOPs). */
static uint32_t
f_tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t doff)
{
    struct tcp_hdr tcp = {
        .src = htons(sport),
        .dst = htons(dport),
        .seq = htonl(1000),
        .off = (uint8_t)(doff << 4),
        .flags = TCP_ACK,
        .win = htons(65535),
    };
    uint32_t ofs = f_put(f, &tcp, sizeof tcp);

    if (doff > 5) {
        f_fill(f, ((uint32_t)doff - 5) * 4, 1);
    }
    return ofs;
}

static uint32_t
f_udp(struct frame *f, uint16_t sport, uint16_t dport)
{
    struct udp_hdr udp = {.src = htons(sport), .dst = htons(dport)};

    return f_put(f, &udp, sizeof udp);
}

static struct udp_hdr *
udp_at(struct frame *f, uint32_t ofs)
{
    return (struct udp_hdr *)(void *)(f->b + ofs);
}

static void
f_udp_done(struct frame *f, uint32_t ofs)
{
    udp_at(f, ofs)->len = htons((uint16_t)(f->n - ofs));
}

static uint32_t
f_icmp(struct frame *f, uint8_t type, uint8_t code)
{
    struct icmp_hdr icmp = {.type = type, .code = code, .rest = htonl(0x1)};

    return f_put(f, &icmp, sizeof icmp);
}

/* The usual frames. */
static void
build_ipv4_tcp(struct frame *f, uint16_t sport, uint16_t dport,
               uint32_t payload)
{
    uint32_t ip;

    f_eth(f, ETH_TYPE_IPV4);
    ip = f_ipv4(f, IPPROTO_TCP_);
    f_tcp(f, sport, dport, 5);
    f_fill(f, payload, 0xee);
    f_ipv4_done(f, ip);
}

static void
build_ipv4_udp(struct frame *f, uint16_t sport, uint16_t dport,
               uint32_t payload)
{
    uint32_t ip, udp;

    f_eth(f, ETH_TYPE_IPV4);
    ip = f_ipv4(f, IPPROTO_UDP_);
    udp = f_udp(f, sport, dport);
    f_fill(f, payload, 0xee);
    f_udp_done(f, udp);
    f_ipv4_done(f, ip);
}

static void
build_ipv4_icmp(struct frame *f)
{
    uint32_t ip;

    f_eth(f, ETH_TYPE_IPV4);
    ip = f_ipv4(f, IPPROTO_ICMP_);
    f_icmp(f, 8, 0); /* echo request */
    f_fill(f, 56, 0xee);
    f_ipv4_done(f, ip);
}

static void
build_arp(struct frame *f)
{
    struct arp_eth_ipv4 arp = {
        .htype = htons(ARP_HTYPE_ETH),
        .ptype = htons(ETH_TYPE_IPV4),
        .hlen = 6,
        .plen = 4,
        .op = htons(ARP_OP_REQUEST),
        .sha = mac_a,
        .spa = htonl(0x0a000001),
        .tpa = htonl(0x0a000002),
    };
    static const struct eth_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

    f_eth_macs(f, &bcast, &mac_a, ETH_TYPE_ARP);
    f_put(f, &arp, sizeof arp);
}

/* IPv6/TCP behind hop-by-hop (8), routing (24) and destination options (8):
 * TCP at 14 + 40 + 40 = 94. */
static void
build_ipv6_ext_tcp(struct frame *f, uint16_t sport, uint16_t dport)
{
    uint32_t ip;

    f_eth(f, ETH_TYPE_IPV6);
    ip = f_ipv6(f, IPV6_EXT_HOPOPTS);
    f_ext6(f, IPV6_EXT_ROUTING, 0);
    f_ext6(f, IPV6_EXT_DSTOPTS, 2);
    f_ext6(f, IPPROTO_TCP_, 0);
    f_tcp(f, sport, dport, 8);
    f_fill(f, 10, 0xee);
    f_ipv6_done(f, ip);
}

/* Neighbour solicitation for 2001:db8::2 with a source link-layer option. */
static void
build_icmp6_ns(struct frame *f)
{
    static const struct eth_addr mcast = {{0x33, 0x33, 0xff, 0, 0, 0x02}};
    struct nd_hdr ns = {
        .type = ICMP6_NS,
        .target = {{0x20, 0x01, 0x0d, 0xb8, [15] = 2}},
    };
    uint8_t opt[8] = {ND_OPT_SLLA, 1, 0x02, 0, 0, 0, 0, 0x0a};
    uint32_t ip;

    f_eth_macs(f, &mcast, &mac_a, ETH_TYPE_IPV6);
    ip = f_ipv6(f, IPPROTO_ICMPV6_);
    ipv6_at(f, ip)->hop_limit = 255;
    f_put(f, &ns, sizeof ns);
    f_put(f, opt, sizeof opt);
    f_ipv6_done(f, ip);
}

/* ---- parsing helpers ---- */

/* The invariants every later stage relies on, after any parse outcome. */
static bool
parse_consistent(const struct dp_packet *p)
{
    uint32_t l3 = p->l3_ofs, l4 = p->l4_ofs, l7 = p->l7_ofs;
    int fams = !!(p->pflags & DP_PF_IPV4) + !!(p->pflags & DP_PF_IPV6) +
               !!(p->pflags & DP_PF_ARP);

    if (fams > 1 || (l3 != DP_OFS_NONE) != (fams == 1)) {
        return false;
    }
    if (l3 != DP_OFS_NONE && (l3 < ETH_HDR_LEN || l3 + 20 > p->len)) {
        return false;
    }
    if (l4 != DP_OFS_NONE &&
        (l3 == DP_OFS_NONE || l4 <= l3 || l4 + 8 > p->len)) {
        return false;
    }
    if ((l7 != DP_OFS_NONE) != (l4 != DP_OFS_NONE)) {
        return false;
    }
    if (l7 != DP_OFS_NONE && (l7 < l4 + 8 || l7 > p->len)) {
        return false;
    }
    if ((p->pflags & DP_PF_LATER) &&
        (!(p->pflags & DP_PF_FRAG) || l4 != DP_OFS_NONE)) {
        return false;
    }
    if ((p->pflags & DP_PF_ARP) && l4 != DP_OFS_NONE) {
        return false;
    }
    if (!(p->pflags & DP_PF_VLAN) && p->vlan_tci) {
        return false;
    }
    if ((p->pflags & DP_PF_PLAIN) &&
        (l3 != ETH_HDR_LEN || p->pflags & (DP_PF_VLAN | DP_PF_FRAG) ||
         l4 != (p->pflags & DP_PF_IPV4 ? 34u : 54u) ||
         (p->ip_proto != IPPROTO_TCP_ && p->ip_proto != IPPROTO_UDP_))) {
        return false;
    }
    return true;
}

/* Parses the first 'len' bytes of 'frame' from an exact-size heap copy into
 * 'pkt' (whose parse fields start as garbage, to prove they are reset).
 * pkt->data is left NULL: the copy is gone when this returns. */
static enum dp_drop
parse_n(const uint8_t *frame, uint32_t len, struct dp_packet *pkt)
{
    uint8_t *copy = malloc(len);
    enum dp_drop r;

    if (len) {
        memcpy(copy, frame, len);
    }
    memset(pkt, 0x5a, sizeof *pkt);
    pkt->data = copy;
    pkt->len = len;
    r = dp_parse(pkt);
    if (len && memcmp(copy, frame, len)) {
        CHECK(!"dp_parse wrote to the frame");
    }
    if (!parse_consistent(pkt)) {
        CHECK(!"inconsistent parse result");
        printf("    len %u drop %s l3 %u l4 %u l7 %u pflags %#x\n", len,
               dp_drop_name(r), pkt->l3_ofs, pkt->l4_ofs, pkt->l7_ofs,
               pkt->pflags);
    }
    free(copy);
    pkt->data = NULL;
    return r;
}

static enum dp_drop
parse_f(const struct frame *f, struct dp_packet *pkt)
{
    return parse_n(f->b, f->n, pkt);
}

/* Parses 'f' in place (data stays valid, e.g. for dp_flow_hash). */
static enum dp_drop
parse_inplace(struct frame *f, struct dp_packet *pkt)
{
    memset(pkt, 0, sizeof *pkt);
    pkt->data = f->b;
    pkt->len = f->n;
    return dp_parse(pkt);
}

static bool
is_parser_drop(enum dp_drop r)
{
    return r >= DP_DROP_RUNT && r <= DP_DROP_SRC_MAC_MULTICAST;
}

/* Parses every strict prefix of 'f'.  Prefixes shorter than 'l3_end' (the
 * end of the IP packet or ARP body) must be dropped with a parser reason;
 * longer ones only cut Ethernet padding and must parse like the whole. */
static void
check_truncations(const struct frame *f, uint32_t l3_end)
{
    struct dp_packet full, p;

    CHECK_EQ(parse_f(f, &full), DP_DROP_NONE);
    for (uint32_t len = 0; len < f->n; len++) {
        enum dp_drop r = parse_n(f->b, len, &p);

        if (len < ETH_HDR_LEN) {
            CHECK_EQ(r, DP_DROP_RUNT);
        } else if (len < l3_end) {
            if (!CHECK(is_parser_drop(r))) {
                printf("    len %u: %s\n", len, dp_drop_name(r));
            }
        } else {
            CHECK_EQ(r, DP_DROP_NONE);
            CHECK_EQ(p.l3_ofs, full.l3_ofs);
            CHECK_EQ(p.l4_ofs, full.l4_ofs);
            CHECK_EQ(p.l7_ofs, full.l7_ofs);
            CHECK_EQ(p.pflags, full.pflags);
        }
    }
}

/* ---- valid frames ---- */

TEST(parse_ipv4_tcp)
{
    struct frame f;
    struct dp_packet p;

    build_ipv4_tcp(&f, 1234, 80, 100);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.eth_type, ETH_TYPE_IPV4);
    CHECK_EQ(p.pflags, DP_PF_IPV4 | DP_PF_PLAIN);
    CHECK_EQ(p.l3_ofs, 14);
    CHECK_EQ(p.l4_ofs, 34);
    CHECK_EQ(p.l7_ofs, 54);
    CHECK_EQ(p.ip_proto, IPPROTO_TCP_);
    CHECK_EQ(p.vlan_tci, 0);
}

TEST(parse_ipv4_tcp_options)
{
    struct frame f;
    struct dp_packet p;
    uint32_t ip;

    /* IP options (IHL 6) and TCP options (doff 15, the maximum). */
    f_eth(&f, ETH_TYPE_IPV4);
    ip = f_ipv4(&f, IPPROTO_TCP_);
    ipv4_at(&f, ip)->ver_ihl = 0x46;
    f_fill(&f, 4, 1);
    f_tcp(&f, 1, 2, 15);
    f_ipv4_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.l4_ofs, 38);
    CHECK_EQ(p.l7_ofs, 38 + 60);
    CHECK_EQ(p.l7_ofs, f.n);
    CHECK_EQ(p.pflags, DP_PF_IPV4); /* IP options: not plain */
}

TEST(parse_ipv4_udp)
{
    struct frame f;
    struct dp_packet p;

    build_ipv4_udp(&f, 5000, 53, 30);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV4 | DP_PF_PLAIN);
    CHECK_EQ(p.ip_proto, IPPROTO_UDP_);
    CHECK_EQ(p.l4_ofs, 34);
    CHECK_EQ(p.l7_ofs, 42);
}

TEST(parse_ipv4_icmp)
{
    struct frame f;
    struct dp_packet p;

    build_ipv4_icmp(&f);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.ip_proto, IPPROTO_ICMP_);
    CHECK_EQ(p.l4_ofs, 34);
    CHECK_EQ(p.l7_ofs, 42);
}

TEST(parse_arp)
{
    struct frame f;
    struct dp_packet p;

    build_arp(&f);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.eth_type, ETH_TYPE_ARP);
    CHECK_EQ(p.pflags, DP_PF_ARP);
    CHECK_EQ(p.l3_ofs, 14);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);
    CHECK_EQ(p.l7_ofs, DP_OFS_NONE);

    f_fill(&f, 60 - f.n, 0); /* padded to the Ethernet minimum */
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_ARP);
}

TEST(parse_arp_bad)
{
    struct frame f;
    struct dp_packet p;
    struct arp_eth_ipv4 *arp;

    build_arp(&f);
    arp = (struct arp_eth_ipv4 *)(void *)(f.b + 14);
    arp->hlen = 8;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_ARP_BAD);
    arp->hlen = 6;
    arp->plen = 16;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_ARP_BAD);
    arp->plen = 4;
    arp->ptype = htons(ETH_TYPE_IPV6);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_ARP_BAD);
    arp->ptype = htons(ETH_TYPE_IPV4);
    arp->htype = htons(6); /* IEEE 802 */
    CHECK_EQ(parse_f(&f, &p), DP_DROP_ARP_BAD);
    CHECK_EQ(p.l3_ofs, DP_OFS_NONE);
    arp->htype = htons(ARP_HTYPE_ETH);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(parse_n(f.b, f.n - 1, &p), DP_DROP_ARP_TRUNC);
}

TEST(parse_vlan)
{
    struct frame f;
    struct dp_packet p;
    uint32_t ip, udp;

    f_eth(&f, ETH_TYPE_VLAN);
    f_vlan(&f, 0x2064, ETH_TYPE_IPV4); /* PCP 1, VID 100 */
    ip = f_ipv4(&f, IPPROTO_UDP_);
    udp = f_udp(&f, 1, 2);
    f_udp_done(&f, udp);
    f_ipv4_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_VLAN | DP_PF_IPV4);
    CHECK_EQ(p.vlan_tci, 0x2064);
    CHECK_EQ(p.eth_type, ETH_TYPE_IPV4);
    CHECK_EQ(p.l3_ofs, 18);
    CHECK_EQ(p.l4_ofs, 38);
    CHECK_EQ(p.l7_ofs, 46);

    /* ARP behind a tag. */
    build_arp(&f);
    memmove(f.b + 18, f.b + 14, f.n - 14);
    f.b[12] = 0x81;
    f.b[13] = 0x00;
    f.b[14] = 0x00;
    f.b[15] = 0x07;
    f.b[16] = 0x08;
    f.b[17] = 0x06;
    f.n += 4;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_VLAN | DP_PF_ARP);
    CHECK_EQ(p.vlan_tci, 7);
    CHECK_EQ(p.l3_ofs, 18);
}

TEST(parse_qinq)
{
    static const uint16_t outer[] = {ETH_TYPE_QINQ, ETH_TYPE_VLAN};
    struct frame f;
    struct dp_packet p;

    for (size_t i = 0; i < ARRAY_SIZE(outer); i++) {
        uint32_t ip;

        f_eth(&f, outer[i]);
        f_vlan(&f, 300, ETH_TYPE_VLAN);
        f_vlan(&f, 42, ETH_TYPE_IPV4);
        ip = f_ipv4(&f, IPPROTO_TCP_);
        f_tcp(&f, 1, 2, 5);
        f_ipv4_done(&f, ip);
        CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
        CHECK_EQ(p.pflags, DP_PF_VLAN | DP_PF_IPV4);
        CHECK_EQ(p.vlan_tci, 300); /* the outer tag */
        CHECK_EQ(p.eth_type, ETH_TYPE_IPV4);
        CHECK_EQ(p.l3_ofs, 22);
        CHECK_EQ(p.l4_ofs, 42);
        check_truncations(&f, f.n);
    }
}

TEST(parse_vlan_bad)
{
    struct frame f;
    struct dp_packet p;

    /* Three tags. */
    f_eth(&f, ETH_TYPE_QINQ);
    f_vlan(&f, 1, ETH_TYPE_VLAN);
    f_vlan(&f, 2, ETH_TYPE_VLAN);
    f_vlan(&f, 3, ETH_TYPE_IPV4);
    f_fill(&f, 40, 0x45);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_VLAN_TOO_MANY);
    CHECK_EQ(parse_n(f.b, 22, &p), DP_DROP_VLAN_TOO_MANY);

    /* Tags cut short. */
    CHECK_EQ(parse_n(f.b, 14, &p), DP_DROP_VLAN_TRUNC);
    CHECK_EQ(parse_n(f.b, 17, &p), DP_DROP_VLAN_TRUNC);
    CHECK_EQ(parse_n(f.b, 18, &p), DP_DROP_VLAN_TRUNC);
    CHECK_EQ(parse_n(f.b, 21, &p), DP_DROP_VLAN_TRUNC);

    /* One tag and nothing behind it. */
    f_eth(&f, ETH_TYPE_VLAN);
    f_vlan(&f, 5, ETH_TYPE_IPV4);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_TRUNC);
    CHECK_EQ(p.vlan_tci, 5);
    CHECK_EQ(p.eth_type, ETH_TYPE_IPV4);
}

TEST(parse_ipv6_ext_tcp)
{
    struct frame f;
    struct dp_packet p;

    build_ipv6_ext_tcp(&f, 4000, 443);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.eth_type, ETH_TYPE_IPV6);
    CHECK_EQ(p.pflags, DP_PF_IPV6);
    CHECK_EQ(p.l3_ofs, 14);
    CHECK_EQ(p.l4_ofs, 94);
    CHECK_EQ(p.l7_ofs, 94 + 32);
    CHECK_EQ(p.ip_proto, IPPROTO_TCP_);
}

TEST(parse_ipv6_ah)
{
    struct frame f;
    struct dp_packet p;
    uint32_t ip, udp;

    /* AH with len 4: (4 + 2) * 4 = 24 bytes, not (4 + 1) * 8. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_AH);
    f_ah6(&f, IPPROTO_UDP_, 4);
    udp = f_udp(&f, 7, 9);
    f_fill(&f, 20, 0xee);
    f_udp_done(&f, udp);
    f_ipv6_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.l4_ofs, 54 + 24);
    CHECK_EQ(p.ip_proto, IPPROTO_UDP_);
    check_truncations(&f, f.n);
}

TEST(parse_icmp6_ns)
{
    struct frame f;
    struct dp_packet p;

    build_icmp6_ns(&f);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV6);
    CHECK_EQ(p.ip_proto, IPPROTO_ICMPV6_);
    CHECK_EQ(p.l4_ofs, 54);
    CHECK_EQ(p.l7_ofs, 62);
    CHECK_EQ(f.b[p.l4_ofs], ICMP6_NS);
}

TEST(parse_ipv6_no_next_header)
{
    struct frame f;
    struct dp_packet p;
    uint32_t ip;

    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_DSTOPTS);
    f_ext6(&f, IPV6_EXT_NONE, 0);
    f_ipv6_done(&f, ip);
    f_fill(&f, 8, 0x06); /* padding that must not be taken for anything */
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV6);
    CHECK_EQ(p.ip_proto, IPV6_EXT_NONE);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);
}

TEST(parse_unknown_protocols)
{
    struct frame f;
    struct dp_packet p;
    uint32_t ip;

    /* LLDP: L2 only. */
    f_eth(&f, 0x88cc);
    f_fill(&f, 46, 0x02);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.eth_type, 0x88cc);
    CHECK_EQ(p.pflags, 0);
    CHECK_EQ(p.l3_ofs, DP_OFS_NONE);

    /* 802.3 length field instead of an ethertype. */
    f_eth(&f, 46);
    f_fill(&f, 46, 0x42);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.l3_ofs, DP_OFS_NONE);

    /* GRE in IPv4: L3 only, protocol recorded. */
    f_eth(&f, ETH_TYPE_IPV4);
    ip = f_ipv4(&f, 47);
    f_fill(&f, 4, 0);
    f_ipv4_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV4);
    CHECK_EQ(p.ip_proto, 47);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);

    /* ICMPv6 in IPv4 and ICMP in IPv6 are not ICMP. */
    f_eth(&f, ETH_TYPE_IPV4);
    ip = f_ipv4(&f, IPPROTO_ICMPV6_);
    f_ipv4_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPPROTO_ICMP_);
    f_ipv6_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.ip_proto, IPPROTO_ICMP_);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);

    /* ESP after an extension header ends the walk. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_HOPOPTS);
    f_ext6(&f, 50, 0);
    f_fill(&f, 16, 0x99);
    f_ipv6_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.ip_proto, 50);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);
}

TEST(parse_ipv4_fragments)
{
    struct frame f;
    struct dp_packet p;
    struct ipv4_hdr *ip;

    /* First fragment: L4 parsed. */
    build_ipv4_tcp(&f, 1, 2, 64);
    ip = ipv4_at(&f, 14);
    ip->frag_off = htons(IPV4_MF);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV4 | DP_PF_FRAG);
    CHECK_EQ(p.l4_ofs, 34);
    CHECK_EQ(p.l7_ofs, 54);

    /* Middle fragment: no L4, protocol known. */
    ip->frag_off = htons(IPV4_MF | 100);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV4 | DP_PF_FRAG | DP_PF_LATER);
    CHECK_EQ(p.ip_proto, IPPROTO_TCP_);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);
    CHECK_EQ(p.l7_ofs, DP_OFS_NONE);

    /* Last fragment, and one whose "TCP header" would be garbage. */
    ip->frag_off = htons(100);
    f.b[34 + 12] = 0x00; /* doff 0: would be TCP_BAD_OFF if parsed */
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV4 | DP_PF_FRAG | DP_PF_LATER);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);

    /* DF alone is not a fragment. */
    build_ipv4_tcp(&f, 1, 2, 0);
    ipv4_at(&f, 14)->frag_off = htons(IPV4_DF);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV4 | DP_PF_PLAIN);

    /* A first fragment too short for its TCP header ("tiny fragment"). */
    build_ipv4_tcp(&f, 1, 2, 0);
    f.n = 14 + 20 + 8;
    ipv4_at(&f, 14)->frag_off = htons(IPV4_MF);
    f_ipv4_done(&f, 14);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_TRUNC);

    /* A first UDP fragment's length covers the whole datagram. */
    build_ipv4_udp(&f, 1, 2, 100);
    udp_at(&f, 34)->len = htons(3000);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_UDP_BAD_LEN);
    ipv4_at(&f, 14)->frag_off = htons(IPV4_MF);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV4 | DP_PF_FRAG);
    CHECK_EQ(p.l7_ofs, 42);
}

TEST(parse_ipv6_fragments)
{
    struct frame f;
    struct dp_packet p;
    uint32_t ip, udp;

    /* First fragment, UDP length of the whole datagram. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_FRAGMENT);
    f_frag6(&f, IPPROTO_UDP_, 0, 1);
    udp = f_udp(&f, 1, 2);
    f_fill(&f, 48, 0xee);
    f_ipv6_done(&f, ip);
    udp_at(&f, udp)->len = htons(4000);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV6 | DP_PF_FRAG);
    CHECK_EQ(p.l4_ofs, 62);
    CHECK_EQ(p.ip_proto, IPPROTO_UDP_);

    /* Later fragment behind a hop-by-hop header. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_HOPOPTS);
    f_ext6(&f, IPV6_EXT_FRAGMENT, 0);
    f_frag6(&f, IPPROTO_UDP_, 185, 1);
    f_fill(&f, 4, 0); /* less than a UDP header: must not matter */
    f_ipv6_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV6 | DP_PF_FRAG | DP_PF_LATER);
    CHECK_EQ(p.ip_proto, IPPROTO_UDP_);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);

    /* Last fragment (no M flag). */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_FRAGMENT);
    f_frag6(&f, IPPROTO_TCP_, 1, 0);
    f_fill(&f, 8, 0);
    f_ipv6_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV6 | DP_PF_FRAG | DP_PF_LATER);

    /* Atomic fragment (RFC 6946): a whole packet. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_FRAGMENT);
    f_frag6(&f, IPPROTO_TCP_, 0, 0);
    f_tcp(&f, 1, 2, 5);
    f_ipv6_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_IPV6);
    CHECK_EQ(p.l4_ofs, 62);
}

TEST(parse_ethernet_padding)
{
    struct frame f;
    struct dp_packet p;
    uint32_t ip;

    /* 46-byte IPv4/UDP padded to 60 with bytes that look like headers. */
    build_ipv4_udp(&f, 1, 2, 4);
    CHECK_EQ(f.n, 46);
    f_fill(&f, 14, 0xff);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.l4_ofs, 34);
    CHECK_EQ(p.l7_ofs, 42);
    check_truncations(&f, 46);

    /* TCP header cut by tot_len while the frame (padding) is long enough:
     * the L3 length is the bound. */
    build_ipv4_tcp(&f, 1, 2, 0);
    ipv4_at(&f, 14)->tot_len = htons(20 + 10);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_TRUNC);
    CHECK_EQ(p.l3_ofs, 14);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);

    /* Same for IPv6: payload_len 0, TCP bytes in the padding. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPPROTO_TCP_);
    f_tcp(&f, 1, 2, 5);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_TRUNC);
    f_ipv6_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
}

TEST(parse_resets_fields)
{
    struct frame f;
    struct dp_packet p;

    build_ipv4_tcp(&f, 1, 2, 0);
    CHECK_EQ(parse_inplace(&f, &p), DP_DROP_NONE);
    build_arp(&f);
    p.len = f.n;
    CHECK_EQ(dp_parse(&p), DP_DROP_NONE);
    CHECK_EQ(p.pflags, DP_PF_ARP);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);
    CHECK_EQ(p.l7_ofs, DP_OFS_NONE);
    CHECK_EQ(p.ip_proto, 0);
}

TEST(parse_max_size_frames)
{
    static struct frame f;
    struct dp_packet p;
    uint32_t ip;

    /* 64 KiB GSO super-frames: IPv4 tot_len 65535, frame DP_MAX_FRAME. */
    f_eth(&f, ETH_TYPE_IPV4);
    ip = f_ipv4(&f, IPPROTO_TCP_);
    f_tcp(&f, 1, 2, 5);
    f_fill(&f, 65535 - 40, 0xee);
    f_ipv4_done(&f, ip);
    CHECK_EQ(ntohs(ipv4_at(&f, ip)->tot_len), 65535);
    f_fill(&f, DP_MAX_FRAME - f.n, 0);
    CHECK_EQ(f.n, DP_MAX_FRAME);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.l7_ofs, 54);

    /* IPv6 payload_len 65535 behind two tags: ends past offset 65535. */
    f_eth(&f, ETH_TYPE_QINQ);
    f_vlan(&f, 1, ETH_TYPE_VLAN);
    f_vlan(&f, 2, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_DSTOPTS);
    f_ext6(&f, IPPROTO_UDP_, 255);
    f_udp(&f, 1, 2);
    f_fill(&f, 65535 - 2048 - 8, 0xee);
    f_ipv6_done(&f, ip);
    udp_at(&f, 22 + 40 + 2048)->len = htons(65535 - 2048);
    CHECK(f.n > 65535);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    CHECK_EQ(p.l4_ofs, 22 + 40 + 2048);
    CHECK_EQ(p.l7_ofs, 22 + 40 + 2048 + 8);
}

/* ---- hostile frames ---- */

TEST(parse_runt_and_src_mac)
{
    struct frame f;
    struct dp_packet p;
    static const struct eth_addr mcast = {{0x01, 0x00, 0x5e, 0, 0, 1}};
    static const struct eth_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

    CHECK_EQ(parse_n(NULL, 0, &p), DP_DROP_RUNT);
    build_ipv4_tcp(&f, 1, 2, 0);
    CHECK_EQ(parse_n(f.b, 13, &p), DP_DROP_RUNT);
    CHECK_EQ(p.l3_ofs, DP_OFS_NONE);

    f_eth_macs(&f, &mac_b, &mcast, 0x88cc);
    f_fill(&f, 46, 0);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_SRC_MAC_MULTICAST);
    f_eth_macs(&f, &mac_b, &bcast, ETH_TYPE_ARP);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_SRC_MAC_MULTICAST);
    /* Multicast destination is fine. */
    f_eth_macs(&f, &mcast, &mac_a, 0x88cc);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
}

TEST(parse_ipv4_bad_header)
{
    struct frame f;
    struct dp_packet p;
    struct ipv4_hdr *ip = ipv4_at(&f, 14);

    build_ipv4_tcp(&f, 1, 2, 20);
    ip->ver_ihl = 0x55;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_VERSION);
    ip->ver_ihl = 0x65;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_VERSION);
    CHECK_EQ(p.l3_ofs, DP_OFS_NONE);
    ip->ver_ihl = 0x44;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_IHL);
    ip->ver_ihl = 0x40;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_IHL);

    /* IHL 15 (60 bytes): longer than the frame, then longer than tot_len. */
    ip->ver_ihl = 0x4f;
    CHECK_EQ(parse_n(f.b, 14 + 40, &p), DP_DROP_IPV4_TRUNC);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_TRUNC); /* header is all of it */
    CHECK_EQ(p.l3_ofs, 14);
    ip->tot_len = htons(59);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_LEN);

    /* tot_len larger than the frame, or smaller than the header. */
    build_ipv4_tcp(&f, 1, 2, 20);
    ip->tot_len = htons((uint16_t)(f.n - 14 + 1));
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_LEN);
    ip->tot_len = htons(0xffff);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_LEN);
    ip->tot_len = htons(19);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_LEN);
    ip->tot_len = htons(0);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV4_BAD_LEN);
    CHECK_EQ(p.l3_ofs, DP_OFS_NONE);
    ip->tot_len = htons(20); /* header only: TCP cut away */
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_TRUNC);
}

TEST(parse_tcp_bad_offset)
{
    struct frame f;
    struct dp_packet p;
    uint8_t *off;

    build_ipv4_tcp(&f, 1, 2, 0);
    off = &f.b[34 + 12];
    *off = 4 << 4;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_BAD_OFF);
    CHECK_EQ(p.l3_ofs, 14);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);
    *off = 0;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_BAD_OFF);
    *off = 6 << 4; /* 24 bytes, only 20 in the packet */
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_BAD_OFF);
    *off = 15 << 4;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_BAD_OFF);

    /* Options present in the frame but past tot_len. */
    build_ipv4_tcp(&f, 1, 2, 12);
    f.b[34 + 12] = 8 << 4;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    ipv4_at(&f, 14)->tot_len = htons(20 + 24);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_TCP_BAD_OFF);
}

TEST(parse_udp_bad_length)
{
    struct frame f;
    struct dp_packet p;
    struct udp_hdr *udp = udp_at(&f, 34);

    build_ipv4_udp(&f, 1, 2, 10);
    udp->len = htons(7);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_UDP_BAD_LEN);
    udp->len = htons(0);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_UDP_BAD_LEN);
    udp->len = htons(19);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_UDP_BAD_LEN);
    udp->len = htons(0xffff);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_UDP_BAD_LEN);
    udp->len = htons(8); /* shorter than the IP payload is allowed */
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    udp->len = htons(18);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);

    /* UDP length fits the frame but not the IP packet. */
    f_fill(&f, 10, 0);
    udp->len = htons(28);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_UDP_BAD_LEN);

    /* UDP header cut by the IP length. */
    ipv4_at(&f, 14)->tot_len = htons(20 + 7);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_UDP_TRUNC);
}

TEST(parse_icmp_trunc)
{
    struct frame f;
    struct dp_packet p;

    build_ipv4_icmp(&f);
    ipv4_at(&f, 14)->tot_len = htons(20 + 7);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_ICMP_TRUNC);
    ipv4_at(&f, 14)->tot_len = htons(20 + 8);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);

    build_icmp6_ns(&f);
    ipv6_at(&f, 14)->payload_len = htons(4);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_ICMP_TRUNC);
    ipv6_at(&f, 14)->payload_len = htons(8);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
}

TEST(parse_ipv6_bad_header)
{
    struct frame f;
    struct dp_packet p;
    struct ipv6_hdr *ip = ipv6_at(&f, 14);

    build_ipv6_ext_tcp(&f, 1, 2);
    ip->ver_tc_flow = htonl(0x40000000);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_BAD_VERSION);
    ip->ver_tc_flow = htonl(0x6fffffff); /* any class and flow label */
    CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
    ip->payload_len = htons((uint16_t)(f.n - 54 + 1));
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_BAD_LEN);
    ip->payload_len = htons(0xffff);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_BAD_LEN);
    CHECK_EQ(p.l3_ofs, DP_OFS_NONE);
    CHECK_EQ(parse_n(f.b, 14 + 39, &p), DP_DROP_IPV6_TRUNC);
}

TEST(parse_ipv6_ext_limits)
{
    struct frame f;
    struct dp_packet p;

    for (int n = 1; n <= 10; n++) {
        uint32_t ip;

        f_eth(&f, ETH_TYPE_IPV6);
        ip = f_ipv6(&f, IPV6_EXT_DSTOPTS);
        for (int i = 0; i < n; i++) {
            f_ext6(&f, i == n - 1 ? IPPROTO_TCP_ : IPV6_EXT_DSTOPTS, 0);
        }
        f_tcp(&f, 1, 2, 5);
        f_ipv6_done(&f, ip);
        if (n <= 8) {
            CHECK_EQ(parse_f(&f, &p), DP_DROP_NONE);
            CHECK_EQ(p.l4_ofs, 54 + 8 * n);
        } else {
            CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_EXT_TOO_MANY);
            CHECK_EQ(p.l4_ofs, DP_OFS_NONE);
        }
    }

    /* Mixed kinds count alike: 9 of them. */
    {
        uint32_t ip;

        f_eth(&f, ETH_TYPE_IPV6);
        ip = f_ipv6(&f, IPV6_EXT_HOPOPTS);
        f_ext6(&f, IPV6_EXT_ROUTING, 0);
        f_ext6(&f, IPV6_EXT_AH, 1);
        f_ah6(&f, IPV6_EXT_FRAGMENT, 1);
        f_frag6(&f, IPV6_EXT_DSTOPTS, 0, 1);
        f_ext6(&f, IPV6_EXT_ROUTING, 0);
        f_ext6(&f, IPV6_EXT_AH, 0);
        f_ah6(&f, IPV6_EXT_DSTOPTS, 0);
        f_ext6(&f, IPV6_EXT_DSTOPTS, 0);
        f_ext6(&f, IPPROTO_UDP_, 0);
        f_fill(&f, 8, 0);
        f_ipv6_done(&f, ip);
        CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_EXT_TOO_MANY);
    }
}

TEST(parse_ipv6_ext_runs_off_end)
{
    struct frame f;
    struct dp_packet p;
    uint32_t ip, ext;

    /* Header length says 88 bytes, 16 left. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_ROUTING);
    ext = f_ext6(&f, IPPROTO_TCP_, 1);
    f_ipv6_done(&f, ip);
    f.b[ext + 1] = 10;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_EXT_TRUNC);
    CHECK_EQ(p.l3_ofs, 14);
    CHECK_EQ(p.l4_ofs, DP_OFS_NONE);

    /* Fewer than 8 bytes for the next extension header. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_HOPOPTS);
    f_ext6(&f, IPV6_EXT_DSTOPTS, 0);
    f_fill(&f, 7, 0);
    f_ipv6_done(&f, ip);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_EXT_TRUNC);

    /* AH claiming more than is left. */
    f_eth(&f, ETH_TYPE_IPV6);
    ip = f_ipv6(&f, IPV6_EXT_AH);
    ext = f_ah6(&f, IPPROTO_TCP_, 1);
    f_ipv6_done(&f, ip);
    f.b[ext + 1] = 2;
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_EXT_TRUNC);

    /* Chain within the frame but past payload_len (padding). */
    build_ipv6_ext_tcp(&f, 1, 2);
    ipv6_at(&f, 14)->payload_len = htons(8 + 20);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_EXT_TRUNC);
    ipv6_at(&f, 14)->payload_len = htons(0);
    CHECK_EQ(parse_f(&f, &p), DP_DROP_IPV6_EXT_TRUNC);
}

/* Every prefix of every valid frame: a parser drop, never a crash, an
 * out-of-bounds read or an inconsistent result. */
TEST(parse_truncated_frames)
{
    struct frame f;

    build_ipv4_tcp(&f, 1, 2, 6);
    check_truncations(&f, f.n);
    build_ipv4_udp(&f, 1, 2, 6);
    check_truncations(&f, f.n);
    build_ipv4_icmp(&f);
    check_truncations(&f, f.n);
    build_arp(&f);
    check_truncations(&f, f.n);
    build_ipv6_ext_tcp(&f, 1, 2);
    check_truncations(&f, f.n);
    build_icmp6_ns(&f);
    check_truncations(&f, f.n);
}

/* The reasons for truncated IPv4/TCP and IPv6 frames, by where they end. */
TEST(parse_truncation_reasons)
{
    struct frame f;
    struct dp_packet p;

    build_ipv4_tcp(&f, 1, 2, 6);
    for (uint32_t len = ETH_HDR_LEN; len < f.n; len++) {
        CHECK_EQ(parse_n(f.b, len, &p),
                 len < 34 ? DP_DROP_IPV4_TRUNC : DP_DROP_IPV4_BAD_LEN);
    }
    build_ipv6_ext_tcp(&f, 1, 2);
    for (uint32_t len = ETH_HDR_LEN; len < f.n; len++) {
        CHECK_EQ(parse_n(f.b, len, &p),
                 len < 54 ? DP_DROP_IPV6_TRUNC : DP_DROP_IPV6_BAD_LEN);
    }
}

/* Every L3 length short of the real one, with the frame cut to match: the
 * L4 (and extension header) checks see each truncation. */
TEST(parse_truncated_l3_lengths)
{
    struct frame f;
    struct dp_packet p;
    uint32_t full;

    build_ipv4_tcp(&f, 1, 2, 0);
    f.b[34 + 12] = 7 << 4; /* 8 option bytes: doff 28 */
    f_fill(&f, 8, 1);
    full = f.n;
    for (uint32_t tot = 20; tot <= full - 14; tot++) {
        enum dp_drop want = tot < 40   ? DP_DROP_TCP_TRUNC
                            : tot < 48 ? DP_DROP_TCP_BAD_OFF
                                       : DP_DROP_NONE;

        f.n = 14 + tot;
        f_ipv4_done(&f, 14);
        CHECK_EQ(parse_f(&f, &p), want);
    }

    build_ipv4_udp(&f, 1, 2, 0);
    for (uint32_t tot = 20; tot < 28; tot++) {
        f.n = 14 + tot;
        f_ipv4_done(&f, 14);
        CHECK_EQ(parse_f(&f, &p), DP_DROP_UDP_TRUNC);
    }

    /* IPv6: 40 bytes of extensions, then a 32-byte TCP header. */
    build_ipv6_ext_tcp(&f, 1, 2);
    full = f.n;
    for (uint32_t plen = 0; plen <= full - 54; plen++) {
        enum dp_drop want = plen < 40   ? DP_DROP_IPV6_EXT_TRUNC
                            : plen < 60 ? DP_DROP_TCP_TRUNC
                            : plen < 72 ? DP_DROP_TCP_BAD_OFF
                                        : DP_DROP_NONE;

        f.n = 54 + plen;
        f_ipv6_done(&f, 14);
        CHECK_EQ(parse_f(&f, &p), want);
    }
}

/* Small deterministic PRNG (xorshift64*) for the randomized tests. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* Random corruption of valid frames: bytes overwritten in the headers,
 * random lengths.  Only crashes, ASan reports and inconsistent results
 * fail (parse_n checks); the fuzzer does the same at much larger scale. */
TEST(parse_random_corruption)
{
    static struct frame base[7], f;
    struct dp_packet p;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int n_ok = 0;

    build_ipv4_tcp(&base[0], 1, 2, 20);
    build_ipv4_udp(&base[1], 1, 2, 20);
    build_ipv4_icmp(&base[2]);
    build_arp(&base[3]);
    build_ipv6_ext_tcp(&base[4], 1, 2);
    build_icmp6_ns(&base[5]);
    f_eth(&base[6], ETH_TYPE_QINQ);
    f_vlan(&base[6], 1, ETH_TYPE_VLAN);
    f_vlan(&base[6], 2, ETH_TYPE_IPV6);
    {
        uint32_t ip = f_ipv6(&base[6], IPV6_EXT_FRAGMENT);

        f_frag6(&base[6], IPV6_EXT_AH, 0, 1);
        f_ah6(&base[6], IPPROTO_UDP_, 1);
        f_udp(&base[6], 1, 2);
        f_fill(&base[6], 8, 0);
        f_ipv6_done(&base[6], ip);
    }

    for (int i = 0; i < 50000; i++) {
        const struct frame *b = &base[rnd(&seed) % ARRAY_SIZE(base)];
        int n_mut = 1 + (int)(rnd(&seed) % 4);

        f.n = b->n;
        memcpy(f.b, b->b, b->n);
        for (int m = 0; m < n_mut; m++) {
            uint32_t at = (uint32_t)(rnd(&seed) % MIN(f.n, 96u));

            f.b[at] = (uint8_t)rnd(&seed);
        }
        if (rnd(&seed) % 4 == 0) {
            f.n = (uint32_t)(rnd(&seed) % (f.n + 1));
        }
        if (parse_f(&f, &p) == DP_DROP_NONE) {
            n_ok++;
        }
    }
    CHECK(n_ok > 0);
}

/* dp_parse()'s fast path (untagged IPv4 and IPv6 TCP/UDP) against the
 * general parser: IPv4 and IPv6 frames with the bytes the fast path reads
 * set to boundary values, and random lengths, must give the same verdict
 * and fields.  The
 * packets start filled with garbage, so a field the fast path forgot to
 * set shows. */
static void
parse_both(const struct frame *f, struct dp_packet *fast,
           struct dp_packet *general, enum dp_drop *r_fast,
           enum dp_drop *r_general)
{
    memset(fast, 0xa5, sizeof *fast);
    memset(general, 0x5a, sizeof *general);
    fast->data = general->data = (uint8_t *)f->b;
    fast->len = general->len = f->n;
    *r_fast = dp_parse(fast);
    *r_general = dp_parse_general(general);
}

TEST(parse_fast_path_matches_general)
{
    /* Offsets the fast path reads, and values around its limits. */
    static const uint8_t at[] = {6,  12, 13, 14, 16, 17, 18, 19, 20,
                                 21, 23, 38, 39, 46, 58, 59, 66};
    static const uint8_t vals[] = {0,    1,    4,    5,    6,    7,    8,
                                   0x11, 0x13, 0x14, 0x1b, 0x1c, 0x20, 0x27,
                                   0x28, 0x3f, 0x40, 0x45, 0x46, 0x50, 0x60,
                                   0x81, 0x86, 0xdd, 0xf0, 0xff};
    static struct frame base[6], f;
    uint64_t seed = 0x1234567887654321ull;
    int n_fast_shape = 0, n_fast6 = 0, n_dropped = 0, n_other = 0;

    build_ipv4_tcp(&base[0], 1, 2, 20);
    build_ipv4_udp(&base[1], 1, 2, 20);
    build_ipv4_tcp(&base[2], 3, 4, 0);
    build_ipv4_icmp(&base[3]);
    for (int v = 4; v < 6; v++) { /* IPv6 TCP, UDP: no extension headers */
        uint32_t ip;

        f_eth(&base[v], ETH_TYPE_IPV6);
        ip = f_ipv6(&base[v], v == 4 ? IPPROTO_TCP_ : IPPROTO_UDP_);
        if (v == 4) {
            f_tcp(&base[v], 5, 6, 5);
            f_fill(&base[v], 12, 0xee);
        } else {
            uint32_t udp = f_udp(&base[v], 5, 6);
            f_fill(&base[v], 12, 0xee);
            f_udp_done(&base[v], udp);
        }
        f_ipv6_done(&base[v], ip);
    }
    for (int i = 0; i < 200000; i++) {
        const struct frame *b = &base[rnd(&seed) % ARRAY_SIZE(base)];
        int n_mut = (int)(rnd(&seed) % 4);
        struct dp_packet pf, pg;
        enum dp_drop rf, rg;

        f.n = b->n;
        memcpy(f.b, b->b, b->n);
        for (int m = 0; m < n_mut; m++) {
            f.b[at[rnd(&seed) % ARRAY_SIZE(at)]] =
                vals[rnd(&seed) % ARRAY_SIZE(vals)];
        }
        if (rnd(&seed) % 3 == 0) {
            f.n = (uint32_t)(rnd(&seed) % (f.n + 1));
        }
        parse_both(&f, &pf, &pg, &rf, &rg);
        CHECK_EQ(rf, rg);
        CHECK_EQ(pf.l3_ofs, pg.l3_ofs);
        CHECK_EQ(pf.l4_ofs, pg.l4_ofs);
        CHECK_EQ(pf.l7_ofs, pg.l7_ofs);
        CHECK_EQ(pf.eth_type, pg.eth_type);
        CHECK_EQ(pf.vlan_tci, pg.vlan_tci);
        CHECK_EQ(pf.ip_proto, pg.ip_proto);
        CHECK_EQ(pf.pflags, pg.pflags);
        /* DP_PF_PLAIN exactly for the shape parse.h gives. */
        uint8_t base_flags = pg.pflags & (uint8_t)~DP_PF_PLAIN;
        bool plain =
            rg == DP_DROP_NONE && pg.l3_ofs == ETH_HDR_LEN &&
            ((base_flags == DP_PF_IPV4 && pg.l4_ofs == ETH_HDR_LEN + 20) ||
             (base_flags == DP_PF_IPV6 && pg.l4_ofs == ETH_HDR_LEN + 40)) &&
            (pg.ip_proto == IPPROTO_TCP_ || pg.ip_proto == IPPROTO_UDP_);
        CHECK_EQ(!!(pg.pflags & DP_PF_PLAIN), plain);
        if (rg != DP_DROP_NONE) {
            n_dropped++;
        } else if (plain) {
            n_fast_shape++;
            n_fast6 += base_flags == DP_PF_IPV6;
        } else {
            n_other++;
        }
    }
    /* Each kind of outcome was seen many times. */
    CHECK(n_fast_shape > 10000);
    CHECK(n_fast6 > 5000);
    CHECK(n_dropped > 10000);
    CHECK(n_other > 1000);
}

/* ---- dp_flow_hash ---- */

static uint32_t
hash_of(struct frame *f)
{
    struct dp_packet p;

    CHECK_EQ(parse_inplace(f, &p), DP_DROP_NONE);
    return dp_flow_hash(&p);
}

static int
cmp_u32(const void *a_, const void *b_)
{
    uint32_t a = *(const uint32_t *)a_, b = *(const uint32_t *)b_;

    return a < b ? -1 : a > b;
}

/* Number of values in 'v' equal to their predecessor once sorted. */
static int
count_dups(uint32_t *v, size_t n)
{
    int dups = 0;

    qsort(v, n, sizeof *v, cmp_u32);
    for (size_t i = 1; i < n; i++) {
        dups += v[i] == v[i - 1];
    }
    return dups;
}

TEST(hash_same_flow_same_hash)
{
    struct frame f;
    uint32_t h, h2;

    build_ipv4_tcp(&f, 1234, 80, 0);
    h = hash_of(&f);
    CHECK(h != 0);

    /* Different payload, TTL, id, flags, VLAN tag: same flow. */
    build_ipv4_tcp(&f, 1234, 80, 300);
    ipv4_at(&f, 14)->ttl = 3;
    ipv4_at(&f, 14)->id = htons(99);
    f.b[34 + 13] = TCP_SYN;
    CHECK_EQ(hash_of(&f), h);
    memmove(f.b + 18, f.b + 14, f.n - 14);
    memcpy(f.b + 12, "\x81\x00\x00\x05\x08\x00", 6);
    f.n += 4;
    CHECK_EQ(hash_of(&f), h);

    /* Changing any of the 5-tuple changes it. */
    build_ipv4_tcp(&f, 1234, 81, 0);
    CHECK(hash_of(&f) != h);
    build_ipv4_tcp(&f, 1235, 80, 0);
    CHECK(hash_of(&f) != h);
    build_ipv4_udp(&f, 1234, 80, 0);
    CHECK(hash_of(&f) != h);
    build_ipv4_tcp(&f, 1234, 80, 0);
    ipv4_at(&f, 14)->dst = htonl(0x0a000003);
    CHECK(hash_of(&f) != h);

    /* IPv6, through extension headers or not. */
    build_ipv6_ext_tcp(&f, 1000, 2000);
    h = hash_of(&f);
    {
        uint32_t ip;

        f_eth(&f, ETH_TYPE_IPV6);
        ip = f_ipv6(&f, IPPROTO_TCP_);
        f_tcp(&f, 1000, 2000, 5);
        f_ipv6_done(&f, ip);
        h2 = hash_of(&f);
        CHECK_EQ(h2, h);
        ipv6_at(&f, ip)->src.b[8] = 0x80;
        CHECK(hash_of(&f) != h);
    }
}

TEST(hash_ports_spread)
{
    enum { N = 8192 };
    static uint32_t v[N];
    struct frame f;

    for (int i = 0; i < N; i++) {
        build_ipv4_udp(&f, (uint16_t)(1024 + i), 4789, 0);
        v[i] = hash_of(&f);
    }
    CHECK_EQ(count_dups(v, N), 0);
    for (int i = 0; i < N; i++) {
        build_ipv4_tcp(&f, 40000, (uint16_t)i, 0);
        v[i] = hash_of(&f);
    }
    CHECK_EQ(count_dups(v, N), 0);
    for (int i = 0; i < N; i++) {
        build_ipv6_ext_tcp(&f, (uint16_t)(i * 7), 443);
        v[i] = hash_of(&f);
    }
    CHECK_EQ(count_dups(v, N), 0);

    /* Low bits (bucket index) spread too: 8192 flows into 256 buckets. */
    {
        int buckets[256] = {0}, max = 0;

        for (int i = 0; i < N; i++) {
            build_ipv4_tcp(&f, (uint16_t)(i + 1), 80, 0);
            buckets[hash_of(&f) & 255]++;
        }
        for (int i = 0; i < 256; i++) {
            max = MAX(max, buckets[i]);
        }
        CHECK(max < 64); /* mean 32 */
    }
}

TEST(hash_fragments_and_non_ip)
{
    struct frame f;
    struct dp_packet p;
    uint32_t h;

    /* All fragments of a datagram hash alike (ports are not used). */
    build_ipv4_udp(&f, 1, 2, 64);
    ipv4_at(&f, 14)->frag_off = htons(IPV4_MF);
    h = hash_of(&f);
    ipv4_at(&f, 14)->frag_off = htons(IPV4_MF | 10);
    CHECK_EQ(hash_of(&f), h);
    ipv4_at(&f, 14)->frag_off = htons(20);
    CHECK_EQ(hash_of(&f), h);

    /* IPv6: the first fragment has a destination options header behind
     * the fragment header, so its ip_proto is UDP; a later fragment stops
     * at the fragment header (ip_proto 60).  They still hash alike. */
    {
        uint32_t ip, udp;

        f_eth(&f, ETH_TYPE_IPV6);
        ip = f_ipv6(&f, IPV6_EXT_FRAGMENT);
        f_frag6(&f, IPV6_EXT_DSTOPTS, 0, 1);
        f_ext6(&f, IPPROTO_UDP_, 0);
        udp = f_udp(&f, 7, 8);
        f_fill(&f, 16, 0);
        f_udp_done(&f, udp);
        f_ipv6_done(&f, ip);
        CHECK_EQ(parse_inplace(&f, &p), DP_DROP_NONE);
        CHECK_EQ(p.ip_proto, IPPROTO_UDP_);
        h = dp_flow_hash(&p);

        f_eth(&f, ETH_TYPE_IPV6);
        ip = f_ipv6(&f, IPV6_EXT_FRAGMENT);
        f_frag6(&f, IPV6_EXT_DSTOPTS, 4, 0);
        f_fill(&f, 24, 0);
        f_ipv6_done(&f, ip);
        CHECK_EQ(parse_inplace(&f, &p), DP_DROP_NONE);
        CHECK_EQ(p.ip_proto, IPV6_EXT_DSTOPTS);
        CHECK_EQ(dp_flow_hash(&p), h);
    }

    /* ARP and other non-IP: by MAC addresses and ethertype. */
    build_arp(&f);
    h = hash_of(&f);
    CHECK(h != 0);
    f.b[37] ^= 1; /* target hardware address: not hashed */
    CHECK_EQ(hash_of(&f), h);
    f.b[11] ^= 0x10; /* source MAC */
    CHECK(hash_of(&f) != h);
    f_eth(&f, 0x88cc);
    f_fill(&f, 46, 0);
    CHECK(hash_of(&f) != 0);

    /* A frame dp_parse dropped still hashes to something nonzero. */
    f.n = 5;
    CHECK_EQ(parse_inplace(&f, &p), DP_DROP_RUNT);
    CHECK(dp_flow_hash(&p) != 0);
}

TEST(hash_never_zero)
{
    struct frame f;
    uint64_t seed = 42;
    int zeros = 0;

    for (int i = 0; i < 200000; i++) {
        uint64_t r = rnd(&seed);
        struct dp_packet p;

        build_ipv4_udp(&f, (uint16_t)r, (uint16_t)(r >> 16), 0);
        ipv4_at(&f, 14)->src = (uint32_t)(r >> 32);
        parse_inplace(&f, &p);
        zeros += dp_flow_hash(&p) == 0;
    }
    CHECK_EQ(zeros, 0);
}
