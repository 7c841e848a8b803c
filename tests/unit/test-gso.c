/* Unit tests for software segmentation and checksum completion (gso.h).
 *
 * Super-frames are built by hand with their parse fields filled as
 * dp_parse() documents them, so these tests do not depend on the parser.
 * Checksums are verified with a naive byte-wise reference, not with the
 * csum.c code under test. */
#include "datapath/gso.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define TCP_CWR 0x80

/* One's-complement sum of big-endian 16-bit words, byte by byte. */
static uint64_t
ref_sum(const uint8_t *p, size_t len, uint64_t s)
{
    for (size_t i = 0; i < len; i++) {
        s += (i % 2 == 0) ? (uint64_t)p[i] << 8 : p[i];
    }
    return s;
}

static uint16_t
ref_fold(uint64_t s)
{
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t)s;
}

/* True if the L4 checksum of the segment verifies (sum of pseudo-header
 * and L4 bytes is 0xffff). */
static bool
l4_csum_ok(const struct dp_packet *p, bool v6)
{
    const uint8_t *d = p->data;
    uint32_t l4len = p->len - p->l4_ofs;
    uint8_t ph[40];
    size_t phlen;

    if (v6) {
        memcpy(ph, d + p->l3_ofs + 8, 32);
        ph[32] = (uint8_t)(l4len >> 24);
        ph[33] = (uint8_t)(l4len >> 16);
        ph[34] = (uint8_t)(l4len >> 8);
        ph[35] = (uint8_t)l4len;
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = p->ip_proto;
        phlen = 40;
    } else {
        memcpy(ph, d + p->l3_ofs + 12, 8);
        ph[8] = 0;
        ph[9] = p->ip_proto;
        ph[10] = (uint8_t)(l4len >> 8);
        ph[11] = (uint8_t)l4len;
        phlen = 12;
    }
    return ref_fold(ref_sum(d + p->l4_ofs, l4len, ref_sum(ph, phlen, 0))) ==
           0xffff;
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint8_t
rnd8(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint8_t)((rng_state * 2685821657736338717ull) >> 56);
}

/* Builds a TCP super-frame in a buffer of 'pool': Ethernet (+ one VLAN tag
 * if 'vlan'), IPv4 or IPv6, TCP with 12 bytes of options, 'payload' random
 * bytes. */
static struct dp_packet *
build_tcp(struct dp_pool *pool, bool v6, bool vlan, uint32_t payload,
          uint16_t mss, uint32_t seq, uint8_t flags)
{
    struct dp_packet *p = dp_pool_get(pool);
    uint8_t *d = p->data;
    uint32_t l3 = ETH_HDR_LEN + (vlan ? VLAN_HDR_LEN : 0);
    uint32_t l4 = l3 + (v6 ? 40 : 20);
    uint32_t l7 = l4 + 32;

    memset(d, 0, l7);
    memcpy(d, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
    if (vlan) {
        d[12] = 0x81;
        d[13] = 0x00;
        d[14] = 0x00;
        d[15] = 0x05;
    }
    d[l3 - 2] = v6 ? 0x86 : 0x08;
    d[l3 - 1] = v6 ? 0xdd : 0x00;
    if (v6) {
        struct ipv6_hdr *ip6 = (void *)(d + l3);
        ip6->ver_tc_flow = htonl(0x60000000u | 0x12345);
        ip6->payload_len = 0; /* ignored by segmentation */
        ip6->next = IPPROTO_TCP_;
        ip6->hop_limit = 64;
        for (int i = 0; i < 16; i++) {
            ip6->src.b[i] = (uint8_t)(0x20 + i);
            ip6->dst.b[i] = (uint8_t)(0xf0 - i);
        }
    } else {
        struct ipv4_hdr *ip = (void *)(d + l3);
        ip->ver_ihl = 0x45;
        ip->tot_len = 0;        /* ignored */
        ip->id = htons(0xfffe); /* wraps during segmentation */
        ip->frag_off = htons(IPV4_DF);
        ip->ttl = 64;
        ip->proto = IPPROTO_TCP_;
        ip->src = htonl(0xc6120001);
        ip->dst = htonl(0xc6120002);
    }
    struct tcp_hdr *th = (void *)(d + l4);
    th->src = htons(40000);
    th->dst = htons(5201);
    th->seq = htonl(seq);
    th->ack = htonl(0x01020304);
    th->off = (32 / 4) << 4;
    th->flags = flags;
    th->win = htons(512);
    th->csum = htons(0x1234); /* a pseudo-header sum, say: overwritten */
    d[l4 + 20] = 1;           /* NOP NOP timestamp */
    d[l4 + 21] = 1;
    d[l4 + 22] = 8;
    d[l4 + 23] = 10;
    for (uint32_t i = 0; i < payload; i++) {
        d[l7 + i] = rnd8();
    }
    p->len = l7 + payload;
    p->l3_ofs = (uint16_t)l3;
    p->l4_ofs = (uint16_t)l4;
    p->l7_ofs = (uint16_t)l7;
    p->eth_type = v6 ? ETH_TYPE_IPV6 : ETH_TYPE_IPV4;
    p->pflags = (v6 ? DP_PF_IPV6 : DP_PF_IPV4) | (vlan ? DP_PF_VLAN : 0);
    p->ip_proto = IPPROTO_TCP_;
    p->ol.gso_type = v6 ? DP_GSO_TCPV6 : DP_GSO_TCPV4;
    p->ol.gso_size = mss;
    p->ol.flags = DP_OL_CSUM_PARTIAL;
    p->ol.hdr_len = (uint16_t)l7;
    p->ol.csum_start = (uint16_t)l4;
    p->ol.csum_offset = 16;
    p->hash = 0xabcdef;
    p->out_port = 3;
    return p;
}

/* Segments 'sf' and checks every property of the result. */
static void
check_tcp_segmentation(struct dp_pool *pool, struct dp_packet *sf, bool v6,
                       uint32_t seq0, uint8_t flags0)
{
    uint32_t l3 = sf->l3_ofs, l4 = sf->l4_ofs, l7 = sf->l7_ofs;
    uint32_t mss = sf->ol.gso_size, payload = sf->len - l7;
    uint32_t count = dp_gso_count(sf), n = 0;
    uint32_t avail = dp_pool_available(pool);
    struct dp_packet **segs = calloc(count + 1, sizeof *segs);
    uint8_t *joined = malloc(payload + 1);
    uint32_t joined_len = 0;
    int bad_len = 0, bad_seq = 0, bad_flags = 0, bad_csum = 0, bad_ip = 0;
    int bad_hdr = 0;

    CHECK_EQ(count, (payload + mss - 1) / mss);
    CHECK_EQ(dp_gso_segment(sf, pool, 0, segs, count + 1, &n), DP_DROP_NONE);
    CHECK_EQ(n, count);
    CHECK_EQ(dp_pool_available(pool), avail - count);
    for (uint32_t i = 0; i < n; i++) {
        struct dp_packet *s = segs[i];
        const uint8_t *d = s->data;
        uint32_t seglen = i + 1 < n ? mss : payload - (n - 1) * mss;
        const struct tcp_hdr *th = (const void *)(d + l4);
        uint8_t want_flags = flags0;

        if (s->len != l7 + seglen || s->l3_ofs != l3 || s->l4_ofs != l4 ||
            s->l7_ofs != l7) {
            bad_len++;
            continue;
        }
        /* Headers before IP unchanged. */
        if (memcmp(d, sf->data, l3)) {
            bad_hdr++;
        }
        if (v6) {
            const struct ipv6_hdr *ip6 = (const void *)(d + l3);
            if (ntohs(ip6->payload_len) != l7 - l3 - 40 + seglen ||
                memcmp(&ip6->src, sf->data + l3 + 8, 32)) {
                bad_ip++;
            }
        } else {
            const struct ipv4_hdr *ip = (const void *)(d + l3);
            if (ntohs(ip->tot_len) != l7 - l3 + seglen ||
                ntohs(ip->id) != (uint16_t)(0xfffe + i) ||
                ref_fold(ref_sum(d + l3, 20, 0)) != 0xffff ||
                ip->src != htonl(0xc6120001)) {
                bad_ip++;
            }
        }
        if (ntohl(th->seq) != seq0 + i * mss) {
            bad_seq++;
        }
        if (i + 1 < n) {
            want_flags &= (uint8_t) ~(TCP_FIN | TCP_PSH);
        }
        if (i > 0) {
            want_flags &= (uint8_t)~TCP_CWR;
        }
        if (th->flags != want_flags) {
            bad_flags++;
        }
        /* Options and the rest of the TCP header copied. */
        if (memcmp(d + l4 + 20, sf->data + l4 + 20, 12) ||
            th->ack != htonl(0x01020304)) {
            bad_hdr++;
        }
        if (!l4_csum_ok(s, v6)) {
            bad_csum++;
        }
        if (s->ol.gso_type != DP_GSO_NONE || s->ol.flags != 0 ||
            s->hash != sf->hash || s->out_port != sf->out_port ||
            s->pflags != sf->pflags) {
            bad_hdr++;
        }
        memcpy(joined + joined_len, d + l7, seglen);
        joined_len += seglen;
    }
    CHECK_EQ(bad_len, 0);
    CHECK_EQ(bad_hdr, 0);
    CHECK_EQ(bad_ip, 0);
    CHECK_EQ(bad_seq, 0);
    CHECK_EQ(bad_flags, 0);
    CHECK_EQ(bad_csum, 0);
    CHECK_EQ(joined_len, payload);
    CHECK(!memcmp(joined, sf->data + l7, payload));
    for (uint32_t i = 0; i < n; i++) {
        dp_packet_free(segs[i]);
    }
    CHECK_EQ(dp_pool_available(pool), avail);
    free(segs);
    free(joined);
}

TEST(gso_tcpv4_64k)
{
    struct dp_pool *pool = dp_pool_create(64, DP_MAX_FRAME);
    uint8_t flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR;
    uint32_t seq = 0xffff0000u; /* wraps during segmentation */
    struct dp_packet *sf;

    /* 65536-byte frame: 14 + 20 + 32 header bytes, 65470 payload. */
    sf = build_tcp(pool, false, false, 65536 - 66, 1448, seq, flags);
    CHECK_EQ(sf->len, 65536);
    check_tcp_segmentation(pool, sf, false, seq, flags);
    dp_packet_free(sf);

    /* Payload an exact multiple of the MSS, with a VLAN tag. */
    sf = build_tcp(pool, false, true, 1400 * 40, 1400, 7, TCP_ACK);
    check_tcp_segmentation(pool, sf, false, 7, TCP_ACK);
    dp_packet_free(sf);
    dp_pool_destroy(pool);
}

TEST(gso_tcpv6_64k)
{
    struct dp_pool *pool = dp_pool_create(64, DP_MAX_FRAME);
    uint8_t flags = TCP_ACK | TCP_PSH | TCP_CWR;
    struct dp_packet *sf;

    sf = build_tcp(pool, true, false, 65536 - 86, 1428, 123456, flags);
    CHECK_EQ(sf->len, 65536);
    check_tcp_segmentation(pool, sf, true, 123456, flags);
    dp_packet_free(sf);

    sf = build_tcp(pool, true, true, 3001, 1000, 1, TCP_ACK | TCP_FIN);
    check_tcp_segmentation(pool, sf, true, 1, TCP_ACK | TCP_FIN);
    dp_packet_free(sf);

    /* Payload smaller than the MSS: one segment, checksum still fixed. */
    sf = build_tcp(pool, true, false, 100, 1000, 99, TCP_ACK | TCP_PSH);
    check_tcp_segmentation(pool, sf, true, 99, TCP_ACK | TCP_PSH);
    dp_packet_free(sf);
    dp_pool_destroy(pool);
}

TEST(gso_resume_in_batches)
{
    struct dp_pool *pool = dp_pool_create(300, 2048);
    struct dp_pool *big = dp_pool_create(1, DP_MAX_FRAME);
    struct dp_packet *sf =
        build_tcp(big, false, false, 60000, 500, 1000, TCP_ACK | TCP_FIN);
    struct dp_packet *segs[DP_BATCH_MAX];
    uint32_t count = dp_gso_count(sf), done = 0, n;
    int rounds = 0, bad = 0;

    CHECK_EQ(count, 120);
    while (done < count && rounds < 10) {
        CHECK_EQ(dp_gso_segment(sf, pool, done, segs, DP_BATCH_MAX, &n),
                 DP_DROP_NONE);
        for (uint32_t k = 0; k < n; k++) {
            const struct tcp_hdr *th = (const void *)(segs[k]->data + 34);
            bool last = done + k + 1 == count;
            if (ntohl(th->seq) != 1000 + (done + k) * 500 ||
                !!(th->flags & TCP_FIN) != last ||
                !l4_csum_ok(segs[k], false)) {
                bad++;
            }
            dp_packet_free(segs[k]);
        }
        done += n;
        rounds++;
    }
    CHECK_EQ(done, count);
    CHECK_EQ(rounds, 2);
    CHECK_EQ(bad, 0);
    CHECK_EQ(dp_gso_segment(sf, pool, count, segs, 1, &n), DP_DROP_GSO_BAD);
    dp_packet_free(sf);
    dp_pool_destroy(pool);
    dp_pool_destroy(big);
}

TEST(gso_udp_l4)
{
    struct dp_pool *pool = dp_pool_create(16, 4096);
    struct dp_packet *p = dp_pool_get(pool), *segs[8];
    uint8_t *d = p->data;
    uint32_t n;
    int bad = 0;

    memset(d, 0, 42);
    d[12] = 0x08;
    struct ipv4_hdr *ip = (void *)(d + 14);
    ip->ver_ihl = 0x45;
    ip->id = htons(10);
    ip->ttl = 1;
    ip->proto = IPPROTO_UDP_;
    ip->src = htonl(0x7f000001);
    ip->dst = htonl(0x7f000002);
    struct udp_hdr *uh = (void *)(d + 34);
    uh->src = htons(1);
    uh->dst = htons(2);
    for (int i = 0; i < 2500; i++) {
        d[42 + i] = (uint8_t)(i * 7);
    }
    p->len = 42 + 2500;
    p->l3_ofs = 14;
    p->l4_ofs = 34;
    p->l7_ofs = 42;
    p->pflags = DP_PF_IPV4;
    p->ip_proto = IPPROTO_UDP_;
    p->ol.gso_type = DP_GSO_UDP_L4;
    p->ol.gso_size = 1000;

    CHECK_EQ(dp_gso_segment(p, pool, 0, segs, 8, &n), DP_DROP_NONE);
    CHECK_EQ(n, 3);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t seglen = i < 2 ? 1000 : 500;
        const struct udp_hdr *su = (const void *)(segs[i]->data + 34);
        const struct ipv4_hdr *si = (const void *)(segs[i]->data + 14);
        if (segs[i]->len != 42 + seglen || ntohs(su->len) != 8 + seglen ||
            ntohs(si->id) != 10 + i || !l4_csum_ok(segs[i], false) ||
            memcmp(segs[i]->data + 42, d + 42 + i * 1000, seglen)) {
            bad++;
        }
        dp_packet_free(segs[i]);
    }
    CHECK_EQ(bad, 0);
    dp_packet_free(p);
    dp_pool_destroy(pool);
}

TEST(gso_rejects_bad_requests)
{
    struct dp_pool *pool = dp_pool_create(4, DP_MAX_FRAME);
    struct dp_pool *small = dp_pool_create(200, 1024);
    struct dp_packet *sf =
        build_tcp(pool, false, false, 20000, 1448, 1, TCP_ACK);
    struct dp_packet *segs[64];
    uint32_t n = 99;

    /* Pool too small for a segment. */
    CHECK_EQ(dp_gso_segment(sf, small, 0, segs, 64, &n), DP_DROP_GSO_BAD);
    CHECK_EQ(n, 0);
    /* Pool exhausted: nothing produced, nothing leaked. */
    CHECK_EQ(dp_gso_segment(sf, pool, 0, segs, 64, &n), DP_DROP_NO_BUFFER);
    CHECK_EQ(n, 0);
    CHECK_EQ(dp_pool_available(pool), 3);

    sf->ol.gso_size = 0;
    CHECK_EQ(dp_gso_count(sf), 0);
    sf->ol.gso_size = 1448;
    sf->ol.gso_type = DP_GSO_TCPV6; /* but the frame is IPv4 */
    CHECK_EQ(dp_gso_count(sf), 0);
    sf->ol.gso_type = DP_GSO_UDP_L4; /* but the frame is TCP */
    CHECK_EQ(dp_gso_count(sf), 0);
    sf->ol.gso_type = DP_GSO_TCPV4;
    sf->pflags |= DP_PF_FRAG;
    CHECK_EQ(dp_gso_count(sf), 0);
    sf->pflags &= (uint8_t)~DP_PF_FRAG;
    sf->l7_ofs = DP_OFS_NONE;
    CHECK_EQ(dp_gso_count(sf), 0);
    sf->l7_ofs = 66;
    CHECK_EQ(dp_gso_count(sf), 14);
    dp_packet_free(sf);
    dp_pool_destroy(pool);
    dp_pool_destroy(small);
}

TEST(csum_complete_partial)
{
    struct dp_pool *pool = dp_pool_create(4, DP_MAX_FRAME);
    int bad = 0;

    for (int iter = 0; iter < 50; iter++) {
        bool v6 = iter % 2;
        uint32_t payload = (uint32_t)(iter * 37 % 1500);
        struct dp_packet *p =
            build_tcp(pool, v6, false, payload, 1448, 5, TCP_ACK);
        uint32_t l4len = p->len - p->l4_ofs;
        uint8_t ph[40];
        size_t phlen;
        uint16_t pseudo;

        /* As a sender with checksum offload leaves it: the folded, not
         * complemented, pseudo-header sum in the checksum field. */
        if (v6) {
            memcpy(ph, p->data + p->l3_ofs + 8, 32);
            memset(ph + 32, 0, 8);
            ph[34] = (uint8_t)(l4len >> 8);
            ph[35] = (uint8_t)l4len;
            ph[39] = IPPROTO_TCP_;
            phlen = 40;
        } else {
            memcpy(ph, p->data + p->l3_ofs + 12, 8);
            ph[8] = 0;
            ph[9] = IPPROTO_TCP_;
            ph[10] = (uint8_t)(l4len >> 8);
            ph[11] = (uint8_t)l4len;
            phlen = 12;
        }
        pseudo = htons(ref_fold(ref_sum(ph, phlen, 0)));
        memcpy(p->data + p->l4_ofs + 16, &pseudo, 2);
        p->ol.gso_type = DP_GSO_NONE;
        p->ol.gso_size = 0;
        if (dp_csum_complete(p) != DP_DROP_NONE || !l4_csum_ok(p, v6) ||
            p->ol.flags != DP_OL_CSUM_VALID) {
            bad++;
        }
        dp_packet_free(p);
    }
    CHECK_EQ(bad, 0);

    /* Out-of-range requests leave the frame alone. */
    struct dp_packet *p = build_tcp(pool, false, false, 10, 1448, 5, TCP_ACK);
    p->ol.csum_start = (uint16_t)(p->len - 1);
    p->ol.csum_offset = 0;
    CHECK_EQ(dp_csum_complete(p), DP_DROP_GSO_BAD);
    CHECK_EQ(p->ol.flags, DP_OL_CSUM_PARTIAL);
    p->ol.flags = 0;
    CHECK_EQ(dp_csum_complete(p), DP_DROP_NONE); /* nothing owed */
    dp_packet_free(p);
    dp_pool_destroy(pool);
}
