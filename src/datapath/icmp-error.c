/* ICMP and ICMPv6 errors (icmp-error.h). */
#include "datapath/icmp-error.h"

#include <arpa/inet.h>
#include <string.h>

#include "datapath/csum.h"
#include "datapath/parse.h"

static bool
ip4_bad_source(uint32_t a) /* network order */
{
    uint32_t h = ntohl(a);
    /* RFC 1812 4.3.2.7: not a single host (class E included). */
    return !h || (h >> 28) >= 0xe || (h >> 24) == 127;
}

static bool
ip6_bad_source(const uint8_t *a)
{
    static const uint8_t zero[16];
    static const uint8_t loopback[16] = {[15] = 1};
    return a[0] == 0xff || !memcmp(a, zero, 16) || !memcmp(a, loopback, 16);
}

bool
dp_icmp_error_allowed(const struct dp_packet *o)
{
    const uint8_t *l3 = o->data + o->l3_ofs;
    bool v4 = o->pflags & DP_PF_IPV4;

    if (!(o->pflags & (DP_PF_IPV4 | DP_PF_IPV6)) || o->pflags & DP_PF_LATER ||
        eth_addr_is_multicast(&dp_packet_eth(o)->src)) {
        return false;
    }
    if (v4) {
        uint32_t dst = ntohl(rd32(l3 + 16));
        if (ip4_bad_source(rd32(l3 + 12)) || (dst >> 28) == 0xe ||
            dst == 0xffffffffu) {
            return false;
        }
    } else if (ip6_bad_source(l3 + 8) || l3[24] == 0xff) {
        return false;
    }
    if (o->l4_ofs != DP_OFS_NONE &&
        (o->ip_proto == IPPROTO_ICMP_ || o->ip_proto == IPPROTO_ICMPV6_)) {
        uint8_t type = o->data[o->l4_ofs];
        if (v4) {
            return type != 3 && type != 4 && type != 5 && type != 11 &&
                   type != 12;
        }
        return type >= 128; /* RFC 4443 2.1: 0-127 are errors */
    }
    return true;
}

struct dp_packet *
dp_icmp_error_build(const struct dp_packet *o, struct dp_pool *pool,
                    const struct eth_addr *src_mac, const uint8_t src_ip[16],
                    uint8_t type, uint8_t code, uint32_t rest)
{
    bool v4 = o->pflags & DP_PF_IPV4;
    const uint8_t *ol3 = o->data + o->l3_ofs;
    uint32_t l2 = o->l3_ofs; /* Ethernet and tags */
    uint32_t hl = v4 ? 20 : 40;
    uint32_t frame = dp_pool_frame_size(pool);
    uint32_t limit = v4 ? 576 : 1280; /* RFC 1812 4.3.2.3, RFC 4443 2.4(c) */
    uint32_t ip_len, q, sum = 0;
    struct dp_packet *r;

    if (frame < l2 + hl + 8 + 28 || !(r = dp_pool_get(pool))) {
        return NULL;
    }
    ip_len = v4 ? ntohs(rd16(ol3 + 2)) : 40 + (uint32_t)ntohs(rd16(ol3 + 4));
    q = MIN(ip_len, o->len - l2);
    q = MIN(q, MIN(limit, frame - l2) - hl - 8);

    uint8_t *d = r->data, *ip = d + l2, *icmp = ip + hl;
    memcpy(d + 12, o->data + 12, l2 - 12);
    memcpy(d, o->data + 6, ETH_ADDR_LEN); /* to the original source */
    memcpy(d + 6, src_mac, ETH_ADDR_LEN);
    icmp[0] = type;
    icmp[1] = code;
    icmp[2] = icmp[3] = 0;
    rest = htonl(rest);
    memcpy(icmp + 4, &rest, 4);
    memcpy(icmp + 8, ol3, q);
    if (v4) {
        struct ipv4_hdr h = {
            .ver_ihl = 0x45,
            .tos = 0xc0, /* internetwork control */
            .tot_len = htons((uint16_t)(hl + 8 + q)),
            .ttl = 64,
            .proto = IPPROTO_ICMP_,
        };
        memcpy(&h.src, src_ip + 12, 4);
        memcpy(&h.dst, ol3 + 12, 4);
        h.csum = csum_finish(csum_partial(&h, sizeof h, 0));
        memcpy(ip, &h, sizeof h);
    } else {
        struct ipv6_hdr h = {
            .ver_tc_flow = htonl(0x60000000),
            .payload_len = htons((uint16_t)(8 + q)),
            .next = IPPROTO_ICMPV6_,
            .hop_limit = 64,
        };
        memcpy(h.src.b, src_ip, 16);
        memcpy(h.dst.b, ol3 + 8, 16);
        memcpy(ip, &h, sizeof h);
        sum = csum_pseudo_ipv6(h.src.b, h.dst.b, IPPROTO_ICMPV6_, 8 + q);
    }
    uint16_t csum = csum_finish(csum_partial(icmp, 8 + q, sum));
    memcpy(icmp + 2, &csum, 2);
    r->len = l2 + hl + 8 + q;
    if (r->len < 60) { /* minimum Ethernet frame, as a NIC would pad */
        memset(d + r->len, 0, 60 - r->len);
        r->len = 60;
    }
    dp_parse(r);
    return r;
}
