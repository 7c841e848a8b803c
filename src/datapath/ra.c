/* Router advertisements and solicitations (ra.h). */
#include "datapath/ra.h"

#include <arpa/inet.h>
#include <string.h>

#include "datapath/csum.h"
#include "datapath/dhcp6.h"

#define ND_OPT_PREFIX 3
#define ND_OPT_MTU    5
#define ND_OPT_RDNSS  25

const uint8_t ra_all_nodes_ip[16] = {0xff, 0x02, [15] = 1};
const struct eth_addr ra_all_nodes_mac = {{0x33, 0x33, 0, 0, 0, 1}};

static const char *const drop_names[RA_DROP_N_REASONS] = {
    [RA_DROP_NONE] = "none",
#define RA_DROP_NAME(NAME, DESC) [RA_DROP_##NAME] = #NAME,
    RA_DROP_REASONS(RA_DROP_NAME)
#undef RA_DROP_NAME
};

static const char *const drop_descs[RA_DROP_N_REASONS] = {
    [RA_DROP_NONE] = "not dropped",
#define RA_DROP_DESC(NAME, DESC) [RA_DROP_##NAME] = DESC,
    RA_DROP_REASONS(RA_DROP_DESC)
#undef RA_DROP_DESC
};

const char *
ra_drop_name(enum ra_drop d)
{
    return (unsigned)d < RA_DROP_N_REASONS ? drop_names[d] : "unknown";
}

const char *
ra_drop_description(enum ra_drop d)
{
    return (unsigned)d < RA_DROP_N_REASONS ? drop_descs[d] : "unknown";
}

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

size_t
ra_build(const struct ra_config *c, const struct eth_addr *dst_mac,
         const uint8_t dst_ip[16], uint8_t *buf, size_t cap)
{
    size_t n_pfx =
        c->n_prefixes < RA_MAX_PREFIXES ? c->n_prefixes : RA_MAX_PREFIXES;
    size_t n_dns = c->n_dns < RA_MAX_DNS ? c->n_dns : RA_MAX_DNS;
    size_t icmp_len =
        16 + 8 + (c->mtu ? 8 : 0) + 32 * n_pfx + (n_dns ? 8 + 16 * n_dns : 0);
    size_t len = ETH_HDR_LEN + 40 + icmp_len;
    uint32_t valid = c->valid_lifetime ? c->valid_lifetime : 2592000;
    uint32_t pref = c->preferred_lifetime ? c->preferred_lifetime : 604800;
    uint8_t *ip, *p;
    uint16_t csum;

    if (cap < len) {
        return 0;
    }
    memset(buf, 0, len);
    memcpy(buf, dst_mac->b, 6);
    memcpy(buf + 6, c->router_mac.b, 6);
    put16(buf + 12, ETH_TYPE_IPV6);

    ip = buf + ETH_HDR_LEN;
    ip[0] = 0x60;
    put16(ip + 4, (uint16_t)icmp_len);
    ip[6] = IPPROTO_ICMPV6_;
    ip[7] = 255;
    dhcp6_link_local(&c->router_mac, ip + 8);
    memcpy(ip + 24, dst_ip, 16);

    p = ip + 40;
    p[0] = ICMP6_RA;
    p[4] = 64; /* cur hop limit advertised to hosts */
    p[5] = (uint8_t)((c->managed ? 0x80 : 0) | (c->other ? 0x40 : 0));
    put16(p + 6, c->router_lifetime ? c->router_lifetime : RA_ROUTER_LIFETIME);
    /* reachable time and retrans timer: 0 = unspecified */
    p += 16;

    p[0] = ND_OPT_SLLA;
    p[1] = 1;
    memcpy(p + 2, c->router_mac.b, 6);
    p += 8;

    if (c->mtu) {
        p[0] = ND_OPT_MTU;
        p[1] = 1;
        put32(p + 4, c->mtu);
        p += 8;
    }
    for (size_t i = 0; i < n_pfx; i++) {
        const struct ra_prefix *x = &c->prefixes[i];
        p[0] = ND_OPT_PREFIX;
        p[1] = 4;
        p[2] = x->len;
        p[3] = (uint8_t)(0x80 | (x->autonomous ? 0x40 : 0)); /* L, A */
        put32(p + 4, valid);
        put32(p + 8, pref < valid ? pref : valid);
        memcpy(p + 16, x->prefix, 16);
        p += 32;
    }
    if (n_dns) {
        p[0] = ND_OPT_RDNSS;
        p[1] = (uint8_t)(1 + 2 * n_dns);
        put32(p + 4,
              c->dns_lifetime ? c->dns_lifetime : 3 * (RA_INTERVAL_MS / 1000));
        memcpy(p + 8, c->dns, 16 * n_dns);
    }
    csum = csum_finish(
        csum_partial(ip + 40, icmp_len,
                     csum_pseudo_ipv6(ip + 8, ip + 24, IPPROTO_ICMPV6_,
                                      (uint32_t)icmp_len)));
    memcpy(ip + 42, &csum, 2);
    return len;
}

enum ra_drop
ra_parse_rs(const uint8_t *ip6, const uint8_t *icmp, size_t len,
            struct ra_rs *rs)
{
    static const uint8_t unspec[16];
    size_t i = 8;

    memset(rs, 0, sizeof *rs);
    if (len < 8) {
        return RA_DROP_RS_TRUNC;
    }
    if (icmp[0] != ICMP6_RS) {
        return RA_DROP_RS_NOT_RS;
    }
    if (ip6[7] != 255) {
        return RA_DROP_RS_BAD_HOP_LIMIT;
    }
    if (icmp[1] != 0) {
        return RA_DROP_RS_BAD_CODE;
    }
    if (csum_finish(
            csum_partial(icmp, len,
                         csum_pseudo_ipv6(ip6 + 8, ip6 + 24, IPPROTO_ICMPV6_,
                                          (uint32_t)len)))) {
        return RA_DROP_RS_BAD_CSUM;
    }
    memcpy(rs->src, ip6 + 8, 16);
    while (i < len) {
        size_t olen;

        if (len - i < 2 || !icmp[i + 1] ||
            (olen = 8u * icmp[i + 1]) > len - i) {
            return RA_DROP_RS_OPT_BAD_LEN;
        }
        if (icmp[i] == ND_OPT_SLLA && olen == 8) {
            rs->has_slla = true;
            memcpy(rs->slla.b, icmp + i + 2, 6);
        }
        i += olen;
    }
    if (rs->has_slla && !memcmp(rs->src, unspec, 16)) {
        return RA_DROP_RS_SLLA_UNSPEC;
    }
    return RA_DROP_NONE;
}

void
ra_timer_start(struct ra_timer *t, uint64_t now_ms)
{
    t->next_ms = now_ms;
    t->fast_left = RA_FAST_COUNT;
}

bool
ra_timer_due(struct ra_timer *t, uint64_t now_ms, uint32_t rnd)
{
    if (now_ms < t->next_ms) {
        return false;
    }
    if (t->fast_left) {
        t->fast_left--;
    }
    t->next_ms =
        now_ms + (t->fast_left ? RA_FAST_INTERVAL_MS
                               : RA_INTERVAL_MS - rnd % (RA_INTERVAL_MS / 4));
    return true;
}
