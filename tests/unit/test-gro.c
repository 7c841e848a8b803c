/* Unit tests for TCP receive-side coalescing (gro.h): merged frames carry
 * the same byte stream (checked by segmenting them again), correct lengths
 * and a completable checksum, and every rule that must stop a merge does. */
#include <arpa/inet.h>

#include "datapath/csum.h"
#include "datapath/gro.h"
#include "datapath/gso.h"
#include "datapath/parse.h"
#include "datapath/tunnel.h"
#include "testlib.h"

static struct dp_pool *pool;

/* Builds a parsed IPv4 or IPv6 TCP segment with 'len' payload bytes whose
 * content is a function of the sequence number. */
static struct dp_packet *
segment(bool v6, uint32_t seq, uint32_t len, uint8_t flags, uint32_t ack)
{
    struct dp_packet *p = dp_pool_get(pool);
    uint8_t *d = p->data;
    uint32_t l3 = ETH_HDR_LEN, l4 = l3 + (v6 ? 40 : 20);
    struct eth_hdr eth = {{{2, 0, 0, 0, 0, 1}},
                          {{2, 0, 0, 0, 0, 2}},
                          htons(v6 ? ETH_TYPE_IPV6 : ETH_TYPE_IPV4)};
    struct tcp_hdr tcp = {htons(40000), htons(5201), htonl(seq),
                          htonl(ack),   5 << 4,      flags,
                          htons(500),   0,           0};

    memcpy(d, &eth, sizeof eth);
    if (v6) {
        struct ipv6_hdr ip = {.ver_tc_flow = htonl(0x60000000),
                              .payload_len = htons((uint16_t)(20 + len)),
                              .next = IPPROTO_TCP_,
                              .hop_limit = 64};
        ip.src.b[0] = ip.dst.b[0] = 0xfd;
        ip.src.b[15] = 1;
        ip.dst.b[15] = 2;
        memcpy(d + l3, &ip, sizeof ip);
    } else {
        struct ipv4_hdr ip = {.ver_ihl = 0x45,
                              .tot_len = htons((uint16_t)(40 + len)),
                              .frag_off = htons(IPV4_DF),
                              .ttl = 64,
                              .proto = IPPROTO_TCP_,
                              .src = htonl(0xc6130101),
                              .dst = htonl(0xc6130102)};
        ip.csum = csum_finish(csum_partial(&ip, 20, 0));
        memcpy(d + l3, &ip, sizeof ip);
    }
    memcpy(d + l4, &tcp, sizeof tcp);
    for (uint32_t i = 0; i < len; i++) {
        d[l4 + 20 + i] = (uint8_t)((seq + i) * 7);
    }
    p->len = l4 + 20 + len;
    CHECK_EQ(dp_parse(p), DP_DROP_NONE);
    return p;
}

static void
check_merged(struct dp_packet *head, bool v6, uint32_t seq0, uint32_t total,
             uint32_t mss, uint32_t n_segs)
{
    CHECK_EQ(head->ol.gso_type, v6 ? DP_GSO_TCPV6 : DP_GSO_TCPV4);
    CHECK_EQ(head->ol.gso_size, mss);
    CHECK_EQ(head->len, head->l7_ofs + total);
    CHECK(head->ol.flags & DP_OL_CSUM_PARTIAL);
    CHECK_EQ(dp_gso_count(head), n_segs);

    /* Cut it again: the segments must carry the original stream. */
    struct dp_packet *segs[64];
    uint32_t n = 0, seq = seq0;
    CHECK_EQ(dp_gso_segment(head, pool, 0, segs, 64, &n), DP_DROP_NONE);
    CHECK_EQ(n, n_segs);
    for (uint32_t i = 0; i < n; i++) {
        struct dp_packet *s = segs[i];
        const struct tcp_hdr *t = (const void *)(s->data + s->l4_ofs);
        uint32_t plen = s->len - s->l7_ofs;
        bool ok = ntohl(t->seq) == seq;
        for (uint32_t k = 0; k < plen; k++) {
            ok &= s->data[s->l7_ofs + k] == (uint8_t)((seq + k) * 7);
        }
        CHECK(ok);
        seq += plen;
        dp_packet_free(s);
    }
    CHECK_EQ(seq, seq0 + total);

    /* The partial checksum completes to a valid one. */
    CHECK_EQ(dp_csum_complete(head), DP_DROP_NONE);
    uint32_t tcp_len = head->len - head->l4_ofs;
    uint32_t sum;
    if (v6) {
        const struct ipv6_hdr *ip = (const void *)(head->data + head->l3_ofs);
        sum = csum_pseudo_ipv6(ip->src.b, ip->dst.b, IPPROTO_TCP_, tcp_len);
    } else {
        const struct ipv4_hdr *ip = (const void *)(head->data + head->l3_ofs);
        sum = csum_pseudo_ipv4(rd32(&ip->src), rd32(&ip->dst), IPPROTO_TCP_,
                               (uint16_t)tcp_len);
        CHECK_EQ(ntohs(ip->tot_len), head->len - head->l3_ofs);
        CHECK_EQ(csum_finish(csum_partial(ip, 20, 0)), 0);
    }
    CHECK_EQ(csum_finish(csum_partial(head->data + head->l4_ofs, tcp_len, sum)),
             0);
}

TEST(merges_in_order_segments_v4_and_v6)
{
    pool = dp_pool_create(256, DP_MAX_FRAME);
    for (int v6 = 0; v6 < 2; v6++) {
        struct dp_packet *head = segment(v6, 1000, 1448, TCP_ACK, 7);
        for (uint32_t i = 1; i < 10; i++) {
            uint32_t len = i == 9 ? 100 : 1448;
            uint8_t flags = i == 9 ? TCP_ACK | TCP_PSH : TCP_ACK;
            struct dp_packet *s = segment(v6, 1000 + i * 1448, len, flags, 7);
            CHECK(dp_gro_merge(head, s));
            dp_packet_free(s);
        }
        check_merged(head, v6, 1000, 9 * 1448 + 100, 1448, 10);
        dp_packet_free(head);
    }
    CHECK_EQ(dp_pool_available(pool), 256);
    dp_pool_destroy(pool);
}

TEST(stops_where_linux_gro_would)
{
    pool = dp_pool_create(256, DP_MAX_FRAME);
    struct dp_packet *head = segment(false, 1, 1000, TCP_ACK, 7), *s;

    s = segment(false, 1001 + 1, 1000, TCP_ACK, 7); /* gap in sequence */
    CHECK(!dp_gro_merge(head, s));
    dp_packet_free(s);
    s = segment(false, 1001, 1000, TCP_ACK, 8); /* different ack */
    CHECK(!dp_gro_merge(head, s));
    dp_packet_free(s);
    s = segment(false, 1001, 1000, TCP_ACK | TCP_FIN, 7); /* FIN */
    CHECK(!dp_gro_merge(head, s));
    dp_packet_free(s);
    s = segment(true, 1001, 1000, TCP_ACK, 7); /* other family */
    CHECK(!dp_gro_merge(head, s));
    dp_packet_free(s);
    s = segment(false, 1001, 1200, TCP_ACK, 7); /* larger than gso_size */
    CHECK(!dp_gro_merge(head, s));
    dp_packet_free(s);
    s = segment(false, 1001, 1000, TCP_ACK, 7);
    s->data[s->l4_ofs + 1] ^= 1; /* other destination port */
    CHECK(!dp_gro_merge(head, s));
    dp_packet_free(s);
    CHECK_EQ(head->ol.gso_type, DP_GSO_NONE); /* untouched so far */
    CHECK_EQ(head->len, head->l7_ofs + 1000);

    s = segment(false, 1001, 500, TCP_ACK, 7); /* short: ends the frame */
    CHECK(dp_gro_merge(head, s));
    dp_packet_free(s);
    s = segment(false, 1501, 1000, TCP_ACK, 7);
    CHECK(!dp_gro_merge(head, s)); /* nothing after a short segment */
    dp_packet_free(s);
    dp_packet_free(head);

    head = segment(false, 1, 1000, TCP_ACK | TCP_PSH, 7); /* PSH head */
    s = segment(false, 1001, 1000, TCP_ACK, 7);
    CHECK(!dp_gro_merge(head, s));
    dp_packet_free(s);
    dp_packet_free(head);

    head = segment(false, 1, 1000, TCP_ACK | TCP_SYN, 7); /* SYN */
    s = segment(false, 1001, 1000, TCP_ACK, 7);
    CHECK(!dp_gro_merge(head, s));
    dp_packet_free(s);
    dp_packet_free(head);
    CHECK_EQ(dp_pool_available(pool), 256);
    dp_pool_destroy(pool);
}

TEST(never_exceeds_64k)
{
    pool = dp_pool_create(256, DP_MAX_FRAME);
    struct dp_packet *head = segment(false, 0, 1448, TCP_ACK, 1);
    uint32_t merged = 1;
    for (uint32_t i = 1; i < 60; i++) {
        struct dp_packet *s = segment(false, i * 1448, 1448, TCP_ACK, 1);
        merged += dp_gro_merge(head, s);
        dp_packet_free(s);
    }
    CHECK_EQ(merged, (65535 - 40) / 1448); /* 45 segments fit */
    CHECK(head->len - head->l3_ofs <= 65535);
    check_merged(head, false, 0, merged * 1448, 1448, merged);
    dp_packet_free(head);
    dp_pool_destroy(pool);
}

/* Prepends an 8-byte VXLAN header with 'vni' to 'p' (in its headroom). */
static void
vxlan_wrap(struct dp_packet *p, uint32_t vni)
{
    uint8_t hdr[8] = {
        VXLAN_F_VNI,  0, 0, 0, (uint8_t)(vni >> 16), (uint8_t)(vni >> 8),
        (uint8_t)vni, 0};
    p->data -= sizeof hdr;
    p->len += sizeof hdr;
    memcpy(p->data, hdr, sizeof hdr);
}

TEST(merges_encapsulated_segments_at_the_tunnel_port)
{
    pool = dp_pool_create(256, DP_MAX_FRAME);
    for (int v6 = 0; v6 < 2; v6++) {
        struct dp_gro_encap g;
        struct dp_packet *head = segment(v6, 1000, 1448, TCP_ACK, 7);

        vxlan_wrap(head, 5001);
        dp_packet_reset_meta(head); /* as the tunnel port hands it over */
        CHECK_EQ(dp_tunnel_hdr_len_vxlan(head->data, head->len), 8);
        CHECK(dp_gro_encap_start(&g, head, 8));
        for (uint32_t i = 1; i < 10; i++) {
            uint32_t len = i == 9 ? 100 : 1448;
            uint8_t flags = i == 9 ? TCP_ACK | TCP_PSH : TCP_ACK;
            struct dp_packet *s = segment(v6, 1000 + i * 1448, len, flags, 7);
            vxlan_wrap(s, 5001);
            CHECK(dp_gro_encap_merge(&g, s->data, s->len));
            dp_packet_free(s);
        }
        /* Another VNI, or a segment that does not follow: no merge, and
         * the head is unchanged. */
        uint32_t len = head->len;
        struct dp_packet *s = segment(v6, 1000 + 9 * 1448 + 100, 10, 0, 7);
        vxlan_wrap(s, 5002);
        CHECK(!dp_gro_encap_merge(&g, s->data, s->len));
        dp_packet_free(s);
        s = segment(v6, 5, 10, TCP_ACK, 7);
        vxlan_wrap(s, 5001);
        CHECK(!dp_gro_encap_merge(&g, s->data, s->len));
        dp_packet_free(s);
        CHECK_EQ(head->len, len);

        /* After decapsulation the head is the merged super-frame, with
         * offload offsets from the inner Ethernet header. */
        CHECK(dp_packet_pull(head, 8));
        CHECK_EQ(dp_parse(head), DP_DROP_NONE);
        CHECK_EQ(head->ol.csum_start, head->l4_ofs);
        CHECK_EQ(head->ol.hdr_len, head->l7_ofs);
        check_merged(head, v6, 1000, 9 * 1448 + 100, 1448, 10);
        dp_packet_free(head);
    }
    CHECK_EQ(dp_pool_available(pool), 256);
    dp_pool_destroy(pool);
}

TEST(tunnel_header_lengths_for_the_merge)
{
    uint8_t g[16] = {2, 0, 0x65, 0x58}; /* GENEVE, 8 bytes of options */
    uint8_t v[8] = {VXLAN_F_VNI};

    CHECK_EQ(dp_tunnel_hdr_len_geneve(g, sizeof g), 16);
    CHECK_EQ(dp_tunnel_hdr_len_geneve(g, 15), 0); /* options cut short */
    g[1] = 0x80;                                  /* OAM */
    CHECK_EQ(dp_tunnel_hdr_len_geneve(g, sizeof g), 0);
    g[1] = 0;
    g[3] = 0x00; /* not Ethernet */
    CHECK_EQ(dp_tunnel_hdr_len_geneve(g, sizeof g), 0);
    g[3] = 0x58;
    g[0] = 0x42; /* version 1 */
    CHECK_EQ(dp_tunnel_hdr_len_geneve(g, sizeof g), 0);
    CHECK_EQ(dp_tunnel_hdr_len_vxlan(v, sizeof v), 8);
    CHECK_EQ(dp_tunnel_hdr_len_vxlan(v, 7), 0);
    v[0] = 0;
    CHECK_EQ(dp_tunnel_hdr_len_vxlan(v, sizeof v), 0);
}
