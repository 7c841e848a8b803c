/* libFuzzer target for the header parser (parse.h).
 *
 * Each input is one Ethernet frame.  It is copied into a pool buffer, as a
 * port would, and parsed; the bytes of the buffer around the frame (headroom
 * and tailroom) are poisoned for ASan first, so a read one byte outside
 * [data, data + len) is reported even though the buffer itself is larger.
 * After the parse the target checks the invariants later stages rely on and
 * abort()s on any violation:
 *   - every offset that is set lies inside the frame, with room for the
 *     header it names, and l3_ofs < l4_ofs < l7_ofs;
 *   - the flags agree with the offsets (one L3 family exactly when l3_ofs
 *     is set, DP_PF_LATER only with DP_PF_FRAG and without L4, ...);
 *   - the header fields behind the offsets agree with them (IP version,
 *     IPv4 header and total length, TCP data offset, UDP length);
 *   - the frame is unchanged, a second parse gives the same result, so
 *     does dp_parse_general() (the parser without its fast path), and
 *     dp_flow_hash() is never 0. */
#include "datapath/parse.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define FUZZ_ASAN 1
#endif
#endif
#ifndef FUZZ_ASAN
#define ASAN_POISON_MEMORY_REGION(ADDR, SIZE)   ((void)(ADDR), (void)(SIZE))
#define ASAN_UNPOISON_MEMORY_REGION(ADDR, SIZE) ((void)(ADDR), (void)(SIZE))
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dp_pool *pool;

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "fuzz-parse: " __VA_ARGS__);                           \
        fprintf(stderr, "\n");                                                 \
        abort();                                                               \
    } while (0)

static void
check_result(const struct dp_packet *p, enum dp_drop r)
{
    const uint8_t *d = p->data;
    uint32_t len = p->len;
    uint32_t l3 = p->l3_ofs, l4 = p->l4_ofs, l7 = p->l7_ofs;
    uint8_t fl = p->pflags;
    int fams = !!(fl & DP_PF_IPV4) + !!(fl & DP_PF_IPV6) + !!(fl & DP_PF_ARP);

    if ((unsigned)r >= DP_DROP_N_REASONS) {
        FAIL("bad drop reason %d", (int)r);
    }
    if (fams > 1 || (l3 != DP_OFS_NONE) != (fams == 1)) {
        FAIL("l3_ofs %u with pflags %#x", l3, fl);
    }
    if (l4 != DP_OFS_NONE && (l3 == DP_OFS_NONE || l4 <= l3)) {
        FAIL("l4_ofs %u with l3_ofs %u", l4, l3);
    }
    if ((l7 != DP_OFS_NONE) != (l4 != DP_OFS_NONE)) {
        FAIL("l7_ofs %u with l4_ofs %u", l7, l4);
    }
    if (l7 != DP_OFS_NONE && (l7 < l4 + 8 || l7 > len)) {
        FAIL("l7_ofs %u, l4_ofs %u, len %u", l7, l4, len);
    }
    if ((fl & DP_PF_LATER) && (!(fl & DP_PF_FRAG) || l4 != DP_OFS_NONE)) {
        FAIL("DP_PF_LATER with pflags %#x l4_ofs %u", fl, l4);
    }
    if ((fl & DP_PF_FRAG) && !(fl & (DP_PF_IPV4 | DP_PF_IPV6))) {
        FAIL("DP_PF_FRAG without IP");
    }
    if (!(fl & DP_PF_VLAN) && p->vlan_tci) {
        FAIL("vlan_tci without DP_PF_VLAN");
    }
    /* DP_PF_PLAIN exactly as parse.h defines it. */
    bool plain = r == DP_DROP_NONE && l3 == ETH_HDR_LEN &&
                 !(fl & (DP_PF_VLAN | DP_PF_FRAG)) &&
                 (p->ip_proto == IPPROTO_TCP_ || p->ip_proto == IPPROTO_UDP_) &&
                 ((fl & DP_PF_IPV4 && l4 == ETH_HDR_LEN + 20) ||
                  (fl & DP_PF_IPV6 && l4 == ETH_HDR_LEN + 40));
    if (!!(fl & DP_PF_PLAIN) != plain) {
        FAIL("DP_PF_PLAIN %d, want %d (pflags %#x l3 %u l4 %u proto %u)",
             !!(fl & DP_PF_PLAIN), plain, fl, l3, l4, p->ip_proto);
    }
    if (l3 != DP_OFS_NONE) {
        uint32_t min_len = fl & DP_PF_ARP ? 28 : fl & DP_PF_IPV4 ? 20 : 40;
        bool tagged = fl & DP_PF_VLAN;

        if (tagged ? l3 != 18 && l3 != 22 : l3 != ETH_HDR_LEN) {
            FAIL("l3_ofs %u with pflags %#x", l3, fl);
        }
        if (l3 + min_len > len) {
            FAIL("l3_ofs %u: header past len %u", l3, len);
        }
    }
    if (l4 != DP_OFS_NONE) {
        uint32_t min_len = p->ip_proto == IPPROTO_TCP_ ? 20 : 8;

        if (l4 + min_len > len) {
            FAIL("l4_ofs %u: header past len %u", l4, len);
        }
    }

    if (fl & DP_PF_ARP) {
        if (p->eth_type != ETH_TYPE_ARP || l3 + 28 > len || l4 != l7) {
            FAIL("bad ARP result");
        }
    } else if (fl & DP_PF_IPV4) {
        uint32_t hlen = (uint32_t)(d[l3] & 0xf) * 4;
        uint32_t tot = (uint32_t)d[l3 + 2] << 8 | d[l3 + 3];

        if (p->eth_type != ETH_TYPE_IPV4 || d[l3] >> 4 != 4 || hlen < 20 ||
            tot < hlen || l3 + tot > len) {
            FAIL("bad IPv4 result");
        }
        if (p->ip_proto != d[l3 + 9]) {
            FAIL("ip_proto %u, IPv4 protocol %u", p->ip_proto, d[l3 + 9]);
        }
        if (l4 != DP_OFS_NONE && l4 != l3 + hlen) {
            FAIL("l4_ofs %u, IPv4 at %u with IHL %u", l4, l3, hlen / 4);
        }
        if (l7 != DP_OFS_NONE && l7 > l3 + tot) {
            FAIL("l7_ofs %u past IPv4 end %u", l7, l3 + tot);
        }
    } else if (fl & DP_PF_IPV6) {
        uint32_t plen = (uint32_t)d[l3 + 4] << 8 | d[l3 + 5];

        if (p->eth_type != ETH_TYPE_IPV6 || d[l3] >> 4 != 6 ||
            l3 + 40 + plen > len) {
            FAIL("bad IPv6 result");
        }
        if (l4 != DP_OFS_NONE && (l4 < l3 + 40 || l7 > l3 + 40 + plen)) {
            FAIL("L4 %u..%u outside IPv6 payload", l4, l7);
        }
    }

    if (l4 != DP_OFS_NONE) {
        switch (p->ip_proto) {
        case IPPROTO_TCP_:
            if (l7 - l4 != (uint32_t)(d[l4 + 12] >> 4) * 4) {
                FAIL("TCP l7_ofs %u l4_ofs %u", l7, l4);
            }
            break;
        case IPPROTO_UDP_:
            if (l7 - l4 != 8 || ((uint32_t)d[l4 + 4] << 8 | d[l4 + 5]) < 8) {
                FAIL("UDP l7_ofs %u l4_ofs %u", l7, l4);
            }
            break;
        case IPPROTO_ICMP_:
        case IPPROTO_ICMPV6_:
            if (l7 - l4 != 8) {
                FAIL("ICMP l7_ofs %u l4_ofs %u", l7, l4);
            }
            break;
        default:
            FAIL("l4_ofs set for protocol %u", p->ip_proto);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dp_packet *p;
    struct dp_packet again;
    enum dp_drop r, r2;
    uint32_t hash;

    if (!pool) {
        pool = dp_pool_create(1, DP_MAX_FRAME);
    }
    if (size > DP_MAX_FRAME) {
        size = DP_MAX_FRAME;
    }
    p = dp_pool_get(pool);
    if (!p) {
        FAIL("pool empty");
    }
    if (size) {
        memcpy(p->data, data, size);
    }
    p->len = (uint32_t)size;

    /* Fence the frame: headroom and tailroom become unreadable. */
    ASAN_POISON_MEMORY_REGION(p->base, dp_packet_headroom(p));
    ASAN_POISON_MEMORY_REGION(p->data + p->len, dp_packet_tailroom(p));

    r = dp_parse(p);
    check_result(p, r);
    hash = dp_flow_hash(p);
    if (!hash) {
        FAIL("dp_flow_hash returned 0");
    }

    /* Parsed again, from a packet whose parse fields hold the first
     * result: by dp_parse() (the same result), then by the general parser
     * alone, without the fast path (the same again). */
    again = *p;
    r2 = dp_parse(&again);
    if (r2 != r || again.l3_ofs != p->l3_ofs || again.l4_ofs != p->l4_ofs ||
        again.l7_ofs != p->l7_ofs || again.eth_type != p->eth_type ||
        again.vlan_tci != p->vlan_tci || again.ip_proto != p->ip_proto ||
        again.pflags != p->pflags) {
        FAIL("second parse differs");
    }
    again = *p;
    r2 = dp_parse_general(&again);
    if (r2 != r || again.l3_ofs != p->l3_ofs || again.l4_ofs != p->l4_ofs ||
        again.l7_ofs != p->l7_ofs || again.eth_type != p->eth_type ||
        again.vlan_tci != p->vlan_tci || again.ip_proto != p->ip_proto ||
        again.pflags != p->pflags || dp_flow_hash(&again) != hash) {
        FAIL("dp_parse_general() differs from dp_parse()");
    }
    if (size && memcmp(p->data, data, size)) {
        FAIL("dp_parse modified the frame");
    }

    ASAN_UNPOISON_MEMORY_REGION(p->base, p->cap);
    dp_packet_free(p);
    return 0;
}
