/* Unit tests of router advertisements (ra.h): an RA checked byte by byte
 * (addresses, flags, lifetimes, every option, the ICMPv6 checksum),
 * option limits, router solicitation validation with one case per drop
 * reason, and the unsolicited schedule. */
#include "datapath/ra.h"

#include <arpa/inet.h>

#include "datapath/csum.h"
#include "datapath/parse.h"
#include "testlib.h"

static const struct eth_addr rtr = {{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01}};
static const struct eth_addr vm = {{0x02, 0, 0, 0, 0, 0x11}};
static const uint8_t vm_lla[16] = {0xfe, 0x80, [15] = 0x11};
static const uint8_t dns[1][16] = {{0xfd, 0, 0, 1, [15] = 0x53}};

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint16_t
icmp_sum(const uint8_t *ip6)
{
    uint32_t len = (uint32_t)(ip6[4] << 8 | ip6[5]);
    return csum_finish(csum_partial(
        ip6 + 40, len,
        csum_pseudo_ipv6(ip6 + 8, ip6 + 24, IPPROTO_ICMPV6_, len)));
}

TEST(ra_bytes)
{
    struct ra_prefix pfx[2] = {{{0xfd, 0, 0, 1}, 64, true},
                               {{0x20, 0x01, 0x0d, 0xb8}, 64, false}};
    struct ra_config c = {
        .router_mac = rtr,
        .managed = true,
        .other = true,
        .prefixes = pfx,
        .n_prefixes = 2,
        .valid_lifetime = 7200,
        .preferred_lifetime = 3600,
        .mtu = 1450,
        .dns = dns,
        .n_dns = 1,
    };
    uint8_t f[RA_FRAME_MAX];
    size_t len = ra_build(&c, &vm, vm_lla, f, sizeof f);
    const uint8_t *ip = f + 14, *icmp = f + 54, *o;
    static const uint8_t lla[16] = {0xfe, 0x80, 0,    0,    0,    0,
                                    0,    0,    0x00, 0xaa, 0xbb, 0xff,
                                    0xfe, 0xcc, 0xdd, 1};

    CHECK_EQ(len, 14 + 40 + 16 + 8 + 8 + 64 + 24);
    CHECK_EQ(ra_build(&c, &vm, vm_lla, f, len - 1), 0);
    len = ra_build(&c, &vm, vm_lla, f, sizeof f);
    CHECK(!memcmp(f, vm.b, 6) && !memcmp(f + 6, rtr.b, 6));
    CHECK(f[12] == 0x86 && f[13] == 0xdd);
    CHECK_EQ(ip[0], 0x60);
    CHECK_EQ(ip[4] << 8 | ip[5], (int)(len - 54));
    CHECK_EQ(ip[6], IPPROTO_ICMPV6_);
    CHECK_EQ(ip[7], 255);
    CHECK(!memcmp(ip + 8, lla, 16));
    CHECK(!memcmp(ip + 24, vm_lla, 16));
    CHECK_EQ(icmp[0], ICMP6_RA);
    CHECK_EQ(icmp[1], 0);
    CHECK_EQ(icmp_sum(ip), 0);
    CHECK_EQ(icmp[4], 64);
    CHECK_EQ(icmp[5], 0xc0); /* M and O */
    CHECK_EQ(icmp[6] << 8 | icmp[7], 1800);
    CHECK_EQ(get32(icmp + 8), 0);
    CHECK_EQ(get32(icmp + 12), 0);
    o = icmp + 16; /* SLLA */
    CHECK(o[0] == 1 && o[1] == 1 && !memcmp(o + 2, rtr.b, 6));
    o += 8; /* MTU */
    CHECK(o[0] == 5 && o[1] == 1 && o[2] == 0 && o[3] == 0);
    CHECK_EQ(get32(o + 4), 1450);
    o += 8; /* prefix 1: L and A */
    CHECK(o[0] == 3 && o[1] == 4 && o[2] == 64 && o[3] == 0xc0);
    CHECK_EQ(get32(o + 4), 7200);
    CHECK_EQ(get32(o + 8), 3600);
    CHECK_EQ(get32(o + 12), 0);
    CHECK(!memcmp(o + 16, pfx[0].prefix, 16));
    o += 32; /* prefix 2: L only */
    CHECK(o[0] == 3 && o[3] == 0x80 && !memcmp(o + 16, pfx[1].prefix, 16));
    o += 32; /* RDNSS */
    CHECK(o[0] == 25 && o[1] == 3 && o[2] == 0 && o[3] == 0);
    CHECK_EQ(get32(o + 4), 600);
    CHECK(!memcmp(o + 8, dns[0], 16));
    CHECK_EQ((size_t)(o + 24 - f), len);

    struct dp_pool *pool = dp_pool_create(1, 2048);
    struct dp_packet *p = dp_pool_get(pool);
    memcpy(p->data, f, len);
    p->len = (uint32_t)len;
    CHECK_EQ(dp_parse(p), DP_DROP_NONE);
    dp_packet_free(p);
    dp_pool_destroy(pool);
}

TEST(ra_minimal_and_defaults)
{
    struct ra_config c = {.router_mac = rtr};
    uint8_t f[RA_FRAME_MAX];
    size_t len = ra_build(&c, &ra_all_nodes_mac, ra_all_nodes_ip, f, sizeof f);

    CHECK_EQ(len, 14 + 40 + 16 + 8); /* header and SLLA only */
    CHECK_EQ(f[0], 0x33);
    CHECK_EQ(f[54 + 5], 0);
    CHECK_EQ(icmp_sum(f + 14), 0);
    CHECK(!memcmp(f + 14 + 24, ra_all_nodes_ip, 16));
}

/* An RS from 'src' (16 bytes) with 'opts' appended; the checksum right
 * unless 'bad_sum'.  Returns the ICMPv6 length; 'ip6' gets 40 + that. */
static size_t
rs(uint8_t *ip6, const uint8_t *src, uint8_t hop, uint8_t code,
   const uint8_t *opts, size_t opts_len, bool bad_sum)
{
    size_t len = 8 + opts_len;
    uint16_t sum;

    memset(ip6, 0, 40 + len);
    ip6[0] = 0x60;
    ip6[4] = (uint8_t)(len >> 8);
    ip6[5] = (uint8_t)len;
    ip6[6] = IPPROTO_ICMPV6_;
    ip6[7] = hop;
    memcpy(ip6 + 8, src, 16);
    ip6[24] = 0xff;
    ip6[25] = 0x02;
    ip6[39] = 2;
    ip6[40] = ICMP6_RS;
    ip6[41] = code;
    if (opts_len) {
        memcpy(ip6 + 48, opts, opts_len);
    }
    sum = icmp_sum(ip6);
    if (bad_sum) {
        sum ^= 1;
    }
    memcpy(ip6 + 42, &sum, 2);
    return len;
}

TEST(rs_validation)
{
    static const uint8_t unspec[16];
    uint8_t b[128];
    uint8_t slla[8] = {1, 1, 2, 0, 0, 0, 0, 0x11};
    uint8_t zero_len[8] = {1, 0};
    uint8_t long_opt[8] = {1, 2};
    uint8_t unknown[16] = {99, 2};
    struct ra_rs r;
    size_t n;

    n = rs(b, vm_lla, 255, 0, slla, 8, false);
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_NONE);
    CHECK(r.has_slla && eth_addr_equals(&r.slla, &vm));
    CHECK(!memcmp(r.src, vm_lla, 16));

    n = rs(b, unspec, 255, 0, unknown, 16, false);
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_NONE);
    CHECK(!r.has_slla);

    n = rs(b, vm_lla, 255, 0, NULL, 0, false);
    CHECK_EQ(ra_parse_rs(b, b + 40, 7, &r), RA_DROP_RS_TRUNC);
    b[40] = 128;
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_RS_NOT_RS);
    n = rs(b, vm_lla, 64, 0, NULL, 0, false);
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_RS_BAD_HOP_LIMIT);
    n = rs(b, vm_lla, 255, 1, NULL, 0, false);
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_RS_BAD_CODE);
    n = rs(b, vm_lla, 255, 0, NULL, 0, true);
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_RS_BAD_CSUM);
    n = rs(b, vm_lla, 255, 0, zero_len, 8, false);
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_RS_OPT_BAD_LEN);
    n = rs(b, vm_lla, 255, 0, long_opt, 8, false);
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_RS_OPT_BAD_LEN);
    n = rs(b, vm_lla, 255, 0, slla, 1, false); /* 1 stray byte */
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_RS_OPT_BAD_LEN);
    n = rs(b, unspec, 255, 0, slla, 8, false);
    CHECK_EQ(ra_parse_rs(b, b + 40, n, &r), RA_DROP_RS_SLLA_UNSPEC);
    CHECK_STREQ(ra_drop_name(RA_DROP_RS_BAD_CSUM), "RS_BAD_CSUM");
}

TEST(unsolicited_schedule)
{
    struct ra_timer t;
    uint64_t now = 1000;
    int sent = 0;

    ra_timer_start(&t, now);
    CHECK(ra_timer_due(&t, now, 0));
    CHECK(!ra_timer_due(&t, now + 1, 0));
    CHECK(ra_timer_due(&t, now + RA_FAST_INTERVAL_MS, 0));
    CHECK(ra_timer_due(&t, now + 2 * RA_FAST_INTERVAL_MS, 0));
    now += 2 * RA_FAST_INTERVAL_MS;
    /* Then one per interval, with up to a quarter of jitter. */
    CHECK(!ra_timer_due(&t, now + RA_INTERVAL_MS * 3 / 4 - 1, 7));
    CHECK(ra_timer_due(&t, now + RA_INTERVAL_MS, 12345));
    CHECK(t.next_ms > now + RA_INTERVAL_MS + RA_INTERVAL_MS * 3 / 4 - 1);
    CHECK(t.next_ms <= now + 2 * RA_INTERVAL_MS);
    for (uint64_t ms = 0; ms < 10 * RA_INTERVAL_MS; ms += 1000) {
        sent += ra_timer_due(&t, now + RA_INTERVAL_MS + ms, (uint32_t)ms * 7);
    }
    CHECK(sent >= 10 && sent <= 14);
}
