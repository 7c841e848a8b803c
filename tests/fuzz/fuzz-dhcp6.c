/* libFuzzer target for the DHCPv6 parser and server (dhcp6.h) and the
 * router solicitation parser (ra.h).
 *
 * An input is a sequence of records, each one message to the same server
 * (so SOLICIT, REQUEST, DECLINE, RENEW sequences reach every state):
 *   byte 0      control: bit 0 picks the parser (0 DHCPv6, 1 RS), bits
 *               1-2 the frame's source MAC (of 4; MACs 0 and 1 have
 *               bindings), bits 3-7 advance the clock by that many times
 *               64 s;
 *   bytes 1-2   payload length, little-endian (clipped to what is left);
 *   then        the payload: a DHCPv6 message (UDP payload), or for RS an
 *               IPv6 header (the first 40 bytes) and the ICMPv6 message.
 * Each payload is copied into a buffer of exactly its size, so a read past
 * the end is an ASan error.
 *
 * After every message the target abort()s unless: the result is a known
 * reason; a reply exists exactly when the result is DHCP6_DROP_NONE; the
 * reply's options walk cleanly to its end and start with our server id;
 * every address handed out with a non-zero lifetime is the binding of the
 * frame's MAC; and the reply frame has a valid UDP checksum and passes
 * dp_parse().  A valid RS gets an RA whose ICMPv6 checksum is valid. */
#include "datapath/dhcp6.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/csum.h"
#include "datapath/parse.h"
#include "datapath/ra.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "fuzz-dhcp6: " __VA_ARGS__);                           \
        fprintf(stderr, "\n");                                                 \
        abort();                                                               \
    } while (0)

static const struct eth_addr macs[4] = {
    {{0x02, 0, 0, 0, 0, 1}},
    {{0x02, 0, 0, 0, 0, 2}},
    {{0x02, 0, 0, 0, 0, 3}},
    {{0x02, 0, 0, 0, 0, 4}},
};
static const struct eth_addr rtr = {{0x02, 0xee, 0, 0, 0, 1}};
static const uint8_t src_ip[16] = {0xfe, 0x80, [15] = 7};
static const uint8_t prefix[1][16] = {{0xfd, 0, 0, 1}};
static const uint8_t plen[1] = {64};
static const uint8_t dns[1][16] = {{0xfd, 0, 0, 1, [15] = 0x53}};
static struct dp_pool *pool;

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void
check_frame(const uint8_t *f, size_t len, uint8_t proto)
{
    uint32_t l4 = (uint32_t)(len - 54);
    struct dp_packet *p;

    if (csum_finish(csum_partial(
            f + 54, l4, csum_pseudo_ipv6(f + 22, f + 38, proto, l4)))) {
        FAIL("bad checksum (proto %u)", proto);
    }
    p = dp_pool_get(pool);
    memcpy(p->data, f, len);
    p->len = (uint32_t)len;
    if (dp_parse(p) != DP_DROP_NONE) {
        FAIL("reply frame does not parse");
    }
    dp_packet_free(p);
}

static void
check_reply(const struct dhcp6_reply *r, const struct dhcp6_binding *b,
            const struct eth_addr *mac)
{
    size_t i = 4;
    uint8_t f[DHCP6_FRAME_MAX];
    size_t flen;

    if (r->len < 4 + 14 || r->len > DHCP6_REPLY_MAX ||
        (r->type != DHCP6_ADVERTISE && r->type != DHCP6_REPLY)) {
        FAIL("reply length %u type %u", r->len, r->type);
    }
    if (get16(r->data + 4) != 2 || get16(r->data + 6) != 10) {
        FAIL("reply does not start with the server id");
    }
    while (i < r->len) {
        uint16_t code, l;
        if (r->len - i < 4 || r->len - i - 4 < get16(r->data + i + 2)) {
            FAIL("reply option overruns");
        }
        code = get16(r->data + i);
        l = get16(r->data + i + 2);
        if (code == 3) { /* IA_NA: addresses with lifetimes */
            const uint8_t *ia = r->data + i + 4;
            for (size_t k = 12; k + 4 <= l;
                 k += 4 + (size_t)get16(ia + k + 2)) {
                if (get16(ia + k) == 5 && get16(ia + k + 2) >= 24 &&
                    (ia[k + 20] | ia[k + 21] | ia[k + 22] | ia[k + 23] |
                     ia[k + 24] | ia[k + 25] | ia[k + 26] | ia[k + 27]) &&
                    !(eth_addr_equals(mac, &b[0].mac) &&
                      !memcmp(ia + k + 4, b[0].addr, 16)) &&
                    !(eth_addr_equals(mac, &b[1].mac) &&
                      !memcmp(ia + k + 4, b[1].addr, 16))) {
                    FAIL("address given to a client that may not have it");
                }
            }
        }
        i += 4 + (size_t)l;
    }
    flen = dhcp6_reply_frame(r, f, sizeof f);
    if (flen != (size_t)r->len + 62) {
        FAIL("frame length %zu", flen);
    }
    check_frame(f, flen, IPPROTO_UDP_);
}

static void
one_rs(const uint8_t *msg, size_t len)
{
    struct ra_prefix pfx = {{0xfd, 0, 0, 1}, 64, true};
    struct ra_config c = {.router_mac = rtr,
                          .other = true,
                          .prefixes = &pfx,
                          .n_prefixes = 1,
                          .mtu = 1400,
                          .dns = dns,
                          .n_dns = 1};
    uint8_t f[RA_FRAME_MAX];
    struct ra_rs rs;
    enum ra_drop d;
    size_t flen;

    if (len < 40) {
        return;
    }
    d = ra_parse_rs(msg, msg + 40, len - 40, &rs);
    if ((unsigned)d >= RA_DROP_N_REASONS) {
        FAIL("bad RS drop reason %d", (int)d);
    }
    if (d == RA_DROP_NONE) {
        flen = ra_build(&c, &macs[0], rs.src, f, sizeof f);
        if (!flen) {
            FAIL("RA not built");
        }
        check_frame(f, flen, IPPROTO_ICMPV6_);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dhcp6_binding b[2] = {{macs[0], {0xfd, 0, 0, 1, [15] = 1}},
                                 {macs[1], {0xfd, 0, 0, 1, [15] = 2}}};
    struct dhcp6_config c = {
        .server_mac = rtr,
        .stateful = true,
        .bindings = b,
        .n_bindings = 2,
        .prefixes = prefix,
        .prefix_lens = plen,
        .n_prefixes = 1,
        .preferred_lifetime = 300,
        .valid_lifetime = 600,
        .dns = dns,
        .n_dns = 1,
        .domain = "fuzz.example",
    };
    struct dhcp6_server *s;
    struct dhcp6_reply r;
    uint64_t now = 1000;

    if (!pool) {
        pool = dp_pool_create(1, 4096);
    }
    if (dhcp6_server_create(&c, &s)) {
        FAIL("config rejected");
    }
    while (size >= 3) {
        uint8_t ctl = data[0];
        size_t len = (size_t)data[1] | (size_t)data[2] << 8;
        const struct eth_addr *mac = &macs[(ctl >> 1) & 3];
        uint8_t *msg;
        enum dhcp6_drop d;

        data += 3;
        size -= 3;
        len = len < size ? len : size;
        msg = malloc(len ? len : 1);
        if (len) {
            memcpy(msg, data, len);
        }
        data += len;
        size -= len;
        now += (uint64_t)(ctl >> 3) * 64;
        if (ctl & 1) {
            one_rs(msg, len);
            free(msg);
            continue;
        }
        d = dhcp6_server_input(s, msg, len, mac, src_ip, now, &r);
        if ((unsigned)d >= DHCP6_DROP_N_REASONS) {
            FAIL("bad drop reason %d", (int)d);
        }
        if ((d == DHCP6_DROP_NONE) != (r.len > 0)) {
            FAIL("result %s with reply length %u", dhcp6_drop_name(d), r.len);
        }
        if (r.len) {
            check_reply(&r, b, mac);
        }
        free(msg);
    }
    dhcp6_server_destroy(s);
    return 0;
}
