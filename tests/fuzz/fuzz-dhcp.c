/* libFuzzer target for the DHCPv4 parser and server (dhcp.h).
 *
 * An input is a sequence of records, each one message to a fresh server
 * that lives for the whole input (so sequences like DISCOVER, REQUEST,
 * DECLINE, DISCOVER reach deep states):
 *   byte 0      control: bits 0-1 pick the frame's source MAC (of 4; MAC 3
 *               has a static binding), bit 2 copies that MAC into chaddr
 *               (so most messages pass the chaddr check), bits 3-7 advance
 *               the clock by that many times 16 s (leases last 120 s,
 *               offers 60 s, declines 300 s);
 *   bytes 1-2   payload length, little-endian (clipped to what is left);
 *   then        the payload: the UDP payload of the DHCP message.
 * Each payload is copied into a buffer of exactly its size, so a read past
 * the end is an ASan error.  The pool (14 addresses) is larger than the
 * lease table (8 entries), so exhaustion and recycling are reachable.
 *
 * After every message the target abort()s unless:
 *   - the result is a known reason, and a reply exists exactly when the
 *     result is DHCP_DROP_NONE and the message type calls for one;
 *   - the reply is a well-formed BOOTREPLY of at most 548 bytes whose
 *     options walk cleanly to an end option, with the message type and our
 *     server id, and an OFFER/ACK of a lease names an address the client
 *     may hold, recorded for it in the table;
 *   - its frame has valid IPv4 and UDP checksums and passes dp_parse();
 *   - the lease table is consistent: each entry reachable by its address
 *     and (if it has one) its MAC, and the count matches. */
#include "datapath/dhcp.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/csum.h"
#include "datapath/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "fuzz-dhcp: " __VA_ARGS__);                            \
        fprintf(stderr, "\n");                                                 \
        abort();                                                               \
    } while (0)

#define IP(A, B, C, D)                                                         \
    ((uint32_t)(A) << 24 | (uint32_t)(B) << 16 | (uint32_t)(C) << 8 | (D))

static const struct eth_addr macs[4] = {
    {{0x02, 0, 0, 0, 0, 1}},
    {{0x02, 0, 0, 0, 0, 2}},
    {{0x02, 0, 0, 0, 0, 3}},
    {{0x02, 0, 0, 0, 0, 4}},
};
static const struct dhcp_range pools[] = {
    {IP(10, 0, 0, 10), IP(10, 0, 0, 20)},
    {IP(10, 0, 0, 100), IP(10, 0, 0, 103)},
};
static const struct dhcp_range excluded[] = {
    {IP(10, 0, 0, 12), IP(10, 0, 0, 12)}};
static const struct dhcp_static_binding statics[] = {
    {{{0x02, 0, 0, 0, 0, 4}}, IP(10, 0, 0, 50)}};
static const uint32_t dns[] = {IP(10, 0, 0, 2)};
static const struct dhcp_route routes[] = {
    {IP(172, 16, 0, 0), 12, IP(10, 0, 0, 254)}};

static struct dp_pool *pool;

static uint32_t
rd_ip(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

static bool
allowed_for(uint32_t ip, const struct eth_addr *mac)
{
    if (eth_addr_equals(mac, &statics[0].mac)) {
        return ip == statics[0].ip;
    }
    if (ip == IP(10, 0, 0, 12)) {
        return false;
    }
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
        if (ip >= pools[i].first && ip <= pools[i].last) {
            return true;
        }
    }
    return false;
}

static void
check_reply(const struct dhcp_server *s, const struct dhcp_reply *r,
            const uint8_t *msg, uint64_t now)
{
    const uint8_t *d = r->data;
    size_t i = DHCP_MIN_LEN;
    int type = -1;
    uint32_t server_id = 0, yiaddr;
    bool has_lease = false;
    uint8_t frame[DHCP_FRAME_MAX];
    size_t flen;

    if (r->len < DHCP_MIN_LEN + 1 || r->len > DHCP_REPLY_MAX) {
        FAIL("reply length %u", r->len);
    }
    if (d[0] != 2 || d[1] != 1 || d[2] != 6 ||
        memcmp(d + 236, "\x63\x82\x53\x63", 4) || memcmp(d + 4, msg + 4, 4) ||
        memcmp(d + 28, msg + 28, 6)) {
        FAIL("bad BOOTREPLY header");
    }
    for (;;) {
        if (i >= r->len) {
            FAIL("reply options without end");
        }
        if (d[i] == 255) {
            if (i + 1 != r->len) {
                FAIL("bytes after the end option");
            }
            break;
        }
        if (i + 2 > r->len || i + 2 + d[i + 1] > r->len) {
            FAIL("reply option overruns");
        }
        if (d[i] == 53) {
            type = d[i + 2];
        } else if (d[i] == 54 && d[i + 1] == 4) {
            server_id = rd_ip(d + i + 2);
        } else if (d[i] == 51) {
            has_lease = true;
        }
        i += 2 + (size_t)d[i + 1];
    }
    if (type != r->type || server_id != IP(10, 0, 0, 1)) {
        FAIL("reply type %d/%u server id %08x", type, r->type, server_id);
    }
    yiaddr = rd_ip(d + 16);
    if (has_lease) {
        struct eth_addr ch;
        const struct dhcp_lease *l;

        memcpy(ch.b, d + 28, 6);
        l = dhcp_leases_find_ip(dhcp_server_leases(s), yiaddr);
        if (!allowed_for(yiaddr, &ch)) {
            FAIL("address %08x given to a client that may not have it", yiaddr);
        }
        if (!l || !eth_addr_equals(&l->mac, &ch) ||
            !dhcp_lease_is_live(l, now)) {
            FAIL("address %08x offered without a live lease", yiaddr);
        }
    }

    flen = dhcp_reply_frame(r, frame, sizeof frame);
    if (flen != (size_t)r->len + 42) {
        FAIL("frame length %zu", flen);
    }
    if (csum_finish(csum_partial(frame + 14, 20, 0))) {
        FAIL("bad IPv4 checksum");
    }
    uint32_t src, dst;
    memcpy(&src, frame + 26, 4);
    memcpy(&dst, frame + 30, 4);
    if (csum_finish(csum_partial(
            frame + 34, flen - 34,
            csum_pseudo_ipv4(src, dst, IPPROTO_UDP_, (uint16_t)(flen - 34))))) {
        FAIL("bad UDP checksum");
    }
    struct dp_packet *p = dp_pool_get(pool);
    memcpy(p->data, frame, flen);
    p->len = (uint32_t)flen;
    if (dp_parse(p) != DP_DROP_NONE || p->l7_ofs != 42) {
        FAIL("reply frame does not parse");
    }
    dp_packet_free(p);
}

static void
check_table(const struct dhcp_leases *t)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < dhcp_leases_capacity(t); i++) {
        const struct dhcp_lease *l = dhcp_leases_slot(t, i);
        static const struct eth_addr zero;

        if (!l) {
            continue;
        }
        n++;
        if (l->state < DHCP_LEASE_OFFERED || l->state > DHCP_LEASE_DECLINED) {
            FAIL("lease state %u", l->state);
        }
        if (dhcp_leases_find_ip(t, l->ip) != l) {
            FAIL("lease %08x not found by address", l->ip);
        }
        if ((l->state == DHCP_LEASE_DECLINED) !=
            eth_addr_equals(&l->mac, &zero)) {
            FAIL("declined lease with a MAC, or a lease without");
        }
        if (l->state != DHCP_LEASE_DECLINED &&
            dhcp_leases_find_mac(t, &l->mac) != l) {
            FAIL("lease %08x not found by MAC", l->ip);
        }
    }
    if (n != dhcp_leases_count(t)) {
        FAIL("count %u, %u entries", dhcp_leases_count(t), n);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dhcp_config c = {
        .server_ip = IP(10, 0, 0, 1),
        .server_mac = {{0x02, 0xee, 0, 0, 0, 1}},
        .subnet = IP(10, 0, 0, 0),
        .prefix_len = 24,
        .pools = pools,
        .n_pools = 2,
        .excluded = excluded,
        .n_excluded = 1,
        .statics = statics,
        .n_statics = 1,
        .lease_time = 120,
        .decline_hold = 300,
        .router = IP(10, 0, 0, 1),
        .dns = dns,
        .n_dns = 1,
        .domain = "fuzz.example",
        .mtu = 1400,
        .routes = routes,
        .n_routes = 1,
    };
    struct dhcp_server *s;
    struct dhcp_reply r;
    uint64_t now = 1000;

    if (!pool) {
        pool = dp_pool_create(1, 2048);
    }
    if (dhcp_server_create(&c, 8, &s)) {
        FAIL("config rejected");
    }
    while (size >= 3) {
        uint8_t ctl = data[0];
        size_t len = (size_t)data[1] | (size_t)data[2] << 8;
        const struct eth_addr *src = &macs[ctl & 3];
        uint8_t *msg;
        enum dhcp_drop d;
        struct dhcp_msg m;

        data += 3;
        size -= 3;
        len = len < size ? len : size;
        msg = malloc(len ? len : 1);
        if (len) {
            memcpy(msg, data, len);
        }
        data += len;
        size -= len;
        if ((ctl & 4) && len >= 34) {
            memcpy(msg + 28, src->b, 6);
        }
        now += (uint64_t)(ctl >> 3) * 16;

        d = dhcp_server_input(s, msg, len, src, now, &r);
        if ((unsigned)d >= DHCP_DROP_N_REASONS) {
            FAIL("bad drop reason %d", (int)d);
        }
        if (d != DHCP_DROP_NONE && r.len) {
            FAIL("reply with drop reason %s", dhcp_drop_name(d));
        }
        if (d == DHCP_DROP_NONE) {
            if (dhcp_parse(msg, len, &m) != DHCP_DROP_NONE) {
                FAIL("accepted a message the parser refuses");
            }
            bool want = m.type == DHCP_DISCOVER || m.type == DHCP_REQUEST ||
                        m.type == DHCP_INFORM;
            if (want != (r.len > 0)) {
                FAIL("type %u: reply %u", m.type, r.len);
            }
        }
        if (r.len) {
            check_reply(s, &r, msg, now);
        }
        check_table(dhcp_server_leases(s));
        free(msg);
    }
    dhcp_server_destroy(s);
    return 0;
}
