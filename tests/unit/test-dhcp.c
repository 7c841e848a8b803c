/* Unit tests of the DHCPv4 server logic (dhcp.h, dhcp-lease.h): every
 * message flow of RFC 2131 4.3 through dhcp_server_input(), lease expiry
 * driven by an explicit 'now', static bindings, exclusions, DECLINE holds,
 * lease-table bounds, reconfiguration, the options of the replies (with
 * RFC 3442 classless routes), the reply frame with its checksums, and one
 * test per class of malformed input. */
#include "datapath/dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "datapath/csum.h"
#include "datapath/parse.h"
#include "testlib.h"

#define IP(A, B, C, D)                                                         \
    ((uint32_t)(A) << 24 | (uint32_t)(B) << 16 | (uint32_t)(C) << 8 | (D))

static const struct eth_addr srv_mac = {{0x02, 0xee, 0, 0, 0, 1}};
static const struct eth_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

static struct eth_addr
mac(uint32_t n)
{
    struct eth_addr m = {
        {0x02, 0x00, 0, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n}};
    return m;
}

/* 10.0.0.0/24, gateway .1, pool .10-.19 minus .12, static .50. */
static const struct dhcp_range pool_std[] = {
    {IP(10, 0, 0, 10), IP(10, 0, 0, 19)}};
static const struct dhcp_range excl_std[] = {
    {IP(10, 0, 0, 12), IP(10, 0, 0, 12)}};
static struct dhcp_static_binding statics_std[] = {
    {{{0x02, 0x00, 0, 0, 0, 0x99}}, IP(10, 0, 0, 50)}};
static const uint32_t dns_std[] = {IP(10, 0, 0, 2), IP(8, 8, 8, 8)};
static const struct dhcp_route routes_std[] = {
    {IP(172, 16, 0, 0), 12, IP(10, 0, 0, 254)},
    {IP(192, 168, 7, 0), 24, IP(10, 0, 0, 253)}};

static struct dhcp_config
std_config(void)
{
    struct dhcp_config c = {
        .server_ip = IP(10, 0, 0, 1),
        .server_mac = srv_mac,
        .subnet = IP(10, 0, 0, 0),
        .prefix_len = 24,
        .pools = pool_std,
        .n_pools = 1,
        .excluded = excl_std,
        .n_excluded = 1,
        .statics = statics_std,
        .n_statics = 1,
        .lease_time = 3600,
        .router = IP(10, 0, 0, 1),
        .dns = dns_std,
        .n_dns = 2,
        .domain = "tenant.example",
        .mtu = 1450,
        .routes = routes_std,
        .n_routes = 2,
    };
    return c;
}

static struct dhcp_server *
std_server(void)
{
    struct dhcp_config c = std_config();
    struct dhcp_server *s;

    CHECK_EQ(dhcp_server_create(&c, 0, &s), 0);
    return s;
}

/* ---- building client messages ---- */

struct msg {
    uint8_t b[1024];
    size_t len;
};

static void
msg_start(struct msg *m, uint8_t type, struct eth_addr chaddr, uint32_t ciaddr,
          uint16_t flags)
{
    uint32_t be;

    memset(m, 0, sizeof *m);
    m->b[0] = 1;
    m->b[1] = 1;
    m->b[2] = 6;
    memcpy(m->b + 4, "\x12\x34\x56\x78", 4);
    m->b[10] = (uint8_t)(flags >> 8);
    m->b[11] = (uint8_t)flags;
    be = htonl(ciaddr);
    memcpy(m->b + 12, &be, 4);
    memcpy(m->b + 28, chaddr.b, 6);
    memcpy(m->b + 236, "\x63\x82\x53\x63", 4);
    m->len = 240;
    if (type) {
        m->b[m->len++] = 53;
        m->b[m->len++] = 1;
        m->b[m->len++] = type;
    }
}

static void
msg_opt(struct msg *m, uint8_t code, const void *v, uint8_t len)
{
    m->b[m->len++] = code;
    m->b[m->len++] = len;
    memcpy(m->b + m->len, v, len);
    m->len += len;
}

static void
msg_opt_ip(struct msg *m, uint8_t code, uint32_t ip)
{
    uint32_t be = htonl(ip);
    msg_opt(m, code, &be, 4);
}

static void
msg_end(struct msg *m)
{
    m->b[m->len++] = 255;
}

/* ---- reading replies ---- */

static uint32_t
rd_ip(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

/* Returns the option's value in a reply and its length, or NULL. */
static const uint8_t *
ropt(const struct dhcp_reply *r, uint8_t code, size_t *len)
{
    size_t i = 240;

    while (i < r->len && r->data[i] != 255) {
        if (r->data[i] == 0) {
            i++;
            continue;
        }
        if (r->data[i] == code) {
            *len = r->data[i + 1];
            return r->data + i + 2;
        }
        i += 2 + r->data[i + 1];
    }
    return NULL;
}

static bool
reply_ok(const struct dhcp_reply *r, uint8_t type)
{
    size_t n;
    const uint8_t *t = ropt(r, 53, &n);

    return r->len >= 241 && r->len <= DHCP_REPLY_MAX && r->data[0] == 2 &&
           !memcmp(r->data + 4, "\x12\x34\x56\x78", 4) &&
           !memcmp(r->data + 236, "\x63\x82\x53\x63", 4) &&
           r->data[r->len - 1] == 255 && t && n == 1 && t[0] == type &&
           r->type == type;
}

static uint32_t
yiaddr(const struct dhcp_reply *r)
{
    return rd_ip(r->data + 16);
}

/* ---- flows ---- */

static enum dhcp_drop
send_msg(struct dhcp_server *s, struct msg *m, struct eth_addr src,
         uint64_t now, struct dhcp_reply *r)
{
    return dhcp_server_input(s, m->b, m->len, &src, now, r);
}

static enum dhcp_drop
discover(struct dhcp_server *s, struct eth_addr c, uint64_t now,
         struct dhcp_reply *r)
{
    struct msg m;
    msg_start(&m, DHCP_DISCOVER, c, 0, 0);
    msg_end(&m);
    return send_msg(s, &m, c, now, r);
}

static enum dhcp_drop
select_req(struct dhcp_server *s, struct eth_addr c, uint32_t ip,
           uint32_t server, uint64_t now, struct dhcp_reply *r)
{
    struct msg m;
    msg_start(&m, DHCP_REQUEST, c, 0, 0);
    msg_opt_ip(&m, 50, ip);
    msg_opt_ip(&m, 54, server);
    msg_end(&m);
    return send_msg(s, &m, c, now, r);
}

/* DISCOVER + REQUEST; returns the leased address or 0. */
static uint32_t
dora(struct dhcp_server *s, struct eth_addr c, uint64_t now)
{
    struct dhcp_reply r;
    uint32_t ip;

    if (discover(s, c, now, &r) || !reply_ok(&r, DHCP_OFFER)) {
        return 0;
    }
    ip = yiaddr(&r);
    if (select_req(s, c, ip, IP(10, 0, 0, 1), now, &r) ||
        !reply_ok(&r, DHCP_ACK) || yiaddr(&r) != ip) {
        return 0;
    }
    return ip;
}

static enum dhcp_lease_state
state_of(struct dhcp_server *s, uint32_t ip, uint64_t now)
{
    const struct dhcp_lease *l = dhcp_leases_find_ip(dhcp_server_leases(s), ip);
    return l ? dhcp_lease_state_at(l, now) : 0;
}

TEST(dhcp_discover_offer_options)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    struct msg m;
    const uint8_t *v;
    size_t n;

    CHECK_EQ(discover(s, mac(1), 1000, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_OFFER));
    CHECK_EQ(yiaddr(&r), IP(10, 0, 0, 10));
    CHECK_EQ(rd_ip(r.data + 12), 0); /* ciaddr */
    CHECK(!memcmp(r.data + 28, mac(1).b, 6));
    /* Unicast to yiaddr at chaddr without the broadcast flag. */
    CHECK_EQ(r.dst_ip, IP(10, 0, 0, 10));
    CHECK(!memcmp(r.dst_mac.b, mac(1).b, 6));
    CHECK_EQ(r.src_ip, IP(10, 0, 0, 1));
    CHECK(eth_addr_equals(&r.src_mac, &srv_mac));
    CHECK((v = ropt(&r, 54, &n)) && n == 4 && rd_ip(v) == IP(10, 0, 0, 1));
    CHECK((v = ropt(&r, 51, &n)) && n == 4 && rd_ip(v) == 3600);
    CHECK((v = ropt(&r, 58, &n)) && n == 4 && rd_ip(v) == 1800);
    CHECK((v = ropt(&r, 59, &n)) && n == 4 && rd_ip(v) == 3150);
    CHECK((v = ropt(&r, 1, &n)) && n == 4 && rd_ip(v) == 0xffffff00);
    CHECK((v = ropt(&r, 3, &n)) && n == 4 && rd_ip(v) == IP(10, 0, 0, 1));
    CHECK((v = ropt(&r, 6, &n)) && n == 8 && rd_ip(v) == IP(10, 0, 0, 2) &&
          rd_ip(v + 4) == IP(8, 8, 8, 8));
    CHECK((v = ropt(&r, 15, &n)) && n == 14 &&
          !memcmp(v, "tenant.example", 14));
    CHECK((v = ropt(&r, 26, &n)) && n == 2 && v[0] == 0x05 && v[1] == 0xaa);
    CHECK(!ropt(&r, 121, &n)); /* not requested */
    CHECK_EQ(state_of(s, IP(10, 0, 0, 10), 1000), DHCP_LEASE_OFFERED);
    /* The offer is held 60 s by default, then lapses. */
    CHECK_EQ(state_of(s, IP(10, 0, 0, 10), 1059), DHCP_LEASE_OFFERED);
    CHECK_EQ(state_of(s, IP(10, 0, 0, 10), 1060), DHCP_LEASE_RELEASED);

    /* Broadcast flag: reply to 255.255.255.255 / ff:ff:ff:ff:ff:ff; the
     * same client gets the same address again. */
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, DHCP_FLAG_BROADCAST);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 1001, &r), DHCP_DROP_NONE);
    CHECK_EQ(yiaddr(&r), IP(10, 0, 0, 10));
    CHECK_EQ(r.dst_ip, 0xffffffff);
    CHECK(eth_addr_equals(&r.dst_mac, &bcast));
    CHECK_EQ(r.data[10], 0x80); /* flags echoed */
    dhcp_server_destroy(s);
}

TEST(dhcp_dora_and_reuse)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;

    CHECK_EQ(dora(s, mac(1), 100), IP(10, 0, 0, 10));
    CHECK_EQ(dora(s, mac(2), 100), IP(10, 0, 0, 11));
    CHECK_EQ(dora(s, mac(3), 100), IP(10, 0, 0, 13)); /* .12 excluded */
    CHECK_EQ(state_of(s, IP(10, 0, 0, 11), 100), DHCP_LEASE_BOUND);
    CHECK_EQ(state_of(s, IP(10, 0, 0, 11), 3699), DHCP_LEASE_BOUND);
    CHECK_EQ(state_of(s, IP(10, 0, 0, 11), 3700), DHCP_LEASE_RELEASED);

    /* A bound client that DISCOVERs again gets its address, still bound
     * until the original expiry. */
    CHECK_EQ(discover(s, mac(2), 200, &r), DHCP_DROP_NONE);
    CHECK_EQ(yiaddr(&r), IP(10, 0, 0, 11));
    CHECK_EQ(state_of(s, IP(10, 0, 0, 11), 200), DHCP_LEASE_BOUND);
    /* After expiry the client still gets its old address back. */
    CHECK_EQ(dora(s, mac(2), 10000), IP(10, 0, 0, 11));
    CHECK_EQ(dhcp_leases_count(dhcp_server_leases(s)), 3);
    dhcp_server_destroy(s);
}

TEST(dhcp_requested_address_in_discover)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    struct msg m;

    msg_start(&m, DHCP_DISCOVER, mac(7), 0, 0);
    msg_opt_ip(&m, 50, IP(10, 0, 0, 17));
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(7), 1, &r), DHCP_DROP_NONE);
    CHECK_EQ(yiaddr(&r), IP(10, 0, 0, 17));
    /* Not honoured when not leasable: excluded, static, out of pool. */
    uint32_t bad[] = {IP(10, 0, 0, 12), IP(10, 0, 0, 50), IP(10, 0, 0, 99),
                      IP(10, 0, 0, 1), IP(10, 9, 0, 1)};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        msg_start(&m, DHCP_DISCOVER, mac(8 + (uint32_t)i), 0, 0);
        msg_opt_ip(&m, 50, bad[i]);
        msg_end(&m);
        CHECK_EQ(send_msg(s, &m, mac(8 + (uint32_t)i), 1, &r), DHCP_DROP_NONE);
        CHECK(yiaddr(&r) != bad[i]);
    }
    dhcp_server_destroy(s);
}

TEST(dhcp_static_binding)
{
    struct dhcp_server *s = std_server();
    struct eth_addr sm = statics_std[0].mac;
    struct dhcp_reply r;
    const struct dhcp_lease *l;

    CHECK_EQ(dora(s, sm, 5), IP(10, 0, 0, 50));
    l = dhcp_leases_find_mac(dhcp_server_leases(s), &sm);
    CHECK(l && l->is_static && l->state == DHCP_LEASE_BOUND);
    /* The static client may not take another address. */
    CHECK_EQ(select_req(s, sm, IP(10, 0, 0, 15), IP(10, 0, 0, 1), 6, &r),
             DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK));
    /* Nobody else ever gets the static address. */
    CHECK_EQ(select_req(s, mac(1), IP(10, 0, 0, 50), IP(10, 0, 0, 1), 6, &r),
             DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK));
    dhcp_server_destroy(s);
}

TEST(dhcp_pool_exhaustion_and_expiry)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    uint32_t got[9];

    /* 10 addresses, one excluded: 9 leases. */
    for (uint32_t i = 0; i < 9; i++) {
        got[i] = dora(s, mac(100 + i), 0);
        CHECK(got[i] >= IP(10, 0, 0, 10) && got[i] <= IP(10, 0, 0, 19) &&
              got[i] != IP(10, 0, 0, 12));
        for (uint32_t j = 0; j < i; j++) {
            CHECK(got[i] != got[j]);
        }
    }
    CHECK_EQ(discover(s, mac(200), 10, &r), DHCP_DROP_NO_ADDRESS);
    CHECK_EQ(r.len, 0);
    CHECK_EQ(discover(s, mac(200), 10, &r), DHCP_DROP_NO_ADDRESS);
    /* Renew one; the others expire at 3600 and are reclaimed. */
    struct msg m;
    msg_start(&m, DHCP_REQUEST, mac(100), got[0], 0);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(100), 3000, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_ACK));
    CHECK_EQ(discover(s, mac(200), 3600, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_OFFER));
    CHECK(yiaddr(&r) != got[0]);
    dhcp_server_destroy(s);
}

TEST(dhcp_request_selecting)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    struct msg m;
    size_t n;

    CHECK_EQ(discover(s, mac(1), 0, &r), DHCP_DROP_NONE);
    /* Wrong address: NAK, broadcast, yiaddr 0, only type + server id. */
    CHECK_EQ(select_req(s, mac(1), IP(10, 0, 0, 99), IP(10, 0, 0, 1), 1, &r),
             DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK));
    CHECK_EQ(yiaddr(&r), 0);
    CHECK_EQ(r.dst_ip, 0xffffffff);
    CHECK(eth_addr_equals(&r.dst_mac, &bcast));
    CHECK(ropt(&r, 54, &n) && !ropt(&r, 51, &n) && !ropt(&r, 3, &n));
    /* Another server chosen: our offer is withdrawn, no reply. */
    CHECK_EQ(select_req(s, mac(1), IP(10, 0, 0, 10), IP(10, 0, 0, 5), 2, &r),
             DHCP_DROP_OTHER_SERVER);
    CHECK_EQ(r.len, 0);
    CHECK_EQ(state_of(s, IP(10, 0, 0, 10), 2), DHCP_LEASE_RELEASED);
    /* Selecting without option 50, or with ciaddr: malformed request. */
    msg_start(&m, DHCP_REQUEST, mac(1), 0, 0);
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 3, &r), DHCP_DROP_MISSING_FIELD);
    msg_start(&m, DHCP_REQUEST, mac(1), 0, 0);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 3, &r), DHCP_DROP_MISSING_FIELD);
    /* An address taken by another client in between: NAK. */
    CHECK_EQ(discover(s, mac(1), 10, &r), DHCP_DROP_NONE);
    uint32_t ip = yiaddr(&r);
    CHECK_EQ(select_req(s, mac(2), ip, IP(10, 0, 0, 1), 11, &r),
             DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK));
    CHECK_EQ(select_req(s, mac(1), ip, IP(10, 0, 0, 1), 11, &r),
             DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_ACK));
    /* Classless routes when asked for, with the default route added. */
    CHECK(!ropt(&r, 121, &n));
    msg_start(&m, DHCP_REQUEST, mac(1), 0, 0);
    msg_opt_ip(&m, 50, ip);
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_opt(&m, 55, "\x01\x79\x03\x06", 4);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 12, &r), DHCP_DROP_NONE);
    const uint8_t *v = ropt(&r, 121, &n);
    static const uint8_t want[] = {12, 172, 16, 10, 0,   0, 254, 24, 192, 168,
                                   7,  10,  0,  0,  253, 0, 10,  0,  0,   1};
    CHECK(v && n == sizeof want && !memcmp(v, want, sizeof want));
    dhcp_server_destroy(s);
}

TEST(dhcp_request_init_reboot)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    struct msg m;
    uint32_t ip = dora(s, mac(1), 0), ip2 = dora(s, mac(2), 0);

#define REBOOT(MAC, ADDR)                                                      \
    (msg_start(&m, DHCP_REQUEST, (MAC), 0, 0), msg_opt_ip(&m, 50, (ADDR)),     \
     msg_end(&m), send_msg(s, &m, (MAC), 100, &r))
    CHECK_EQ(REBOOT(mac(1), ip), DHCP_DROP_NONE); /* its own: ACK */
    CHECK(reply_ok(&r, DHCP_ACK) && yiaddr(&r) == ip);
    CHECK_EQ(REBOOT(mac(1), IP(192, 168, 0, 5)), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK)); /* wrong network */
    CHECK_EQ(REBOOT(mac(1), ip2), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK)); /* someone else's */
    CHECK_EQ(REBOOT(mac(3), ip2), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK)); /* someone else's, unknown client */
    CHECK_EQ(REBOOT(mac(3), IP(10, 0, 0, 18)), DHCP_DROP_UNKNOWN_CLIENT);
    CHECK_EQ(r.len, 0); /* free but no record: silence */
    CHECK_EQ(REBOOT(mac(3), IP(10, 0, 0, 99)), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK)); /* not in the pool */
#undef REBOOT
    dhcp_server_destroy(s);
}

TEST(dhcp_request_renew_rebind)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    struct msg m;
    size_t n;
    uint32_t ip = dora(s, mac(1), 0), ip2 = dora(s, mac(2), 0);

    msg_start(&m, DHCP_REQUEST, mac(1), ip, 0);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 1800, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_ACK));
    CHECK_EQ(yiaddr(&r), ip);
    CHECK_EQ(rd_ip(r.data + 12), ip); /* ciaddr echoed */
    CHECK_EQ(r.dst_ip, ip);           /* unicast to ciaddr */
    CHECK(ropt(&r, 51, &n));
    CHECK_EQ(state_of(s, ip, 5399), DHCP_LEASE_BOUND); /* extended */
    CHECK_EQ(state_of(s, ip, 5400), DHCP_LEASE_RELEASED);

    /* Renewing someone else's address: NAK. */
    msg_start(&m, DHCP_REQUEST, mac(3), ip2, 0);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(3), 1800, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK));
    /* Rebinding after the lease lapsed, address still free: ACK. */
    msg_start(&m, DHCP_REQUEST, mac(2), ip2, DHCP_FLAG_BROADCAST);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(2), 99999, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_ACK));
    CHECK_EQ(r.dst_ip, ip2); /* ciaddr wins over the broadcast flag */
    dhcp_server_destroy(s);
}

TEST(dhcp_release)
{
    struct dhcp_range one[] = {{IP(10, 0, 0, 10), IP(10, 0, 0, 10)}};
    struct dhcp_config c = std_config();
    struct dhcp_server *s;
    struct dhcp_reply r;
    struct msg m;
    uint32_t ip;

    c.pools = one;
    CHECK_EQ(dhcp_server_create(&c, 0, &s), 0);
    ip = dora(s, mac(1), 0);
    CHECK_EQ(ip, IP(10, 0, 0, 10));
    CHECK_EQ(discover(s, mac(2), 1, &r), DHCP_DROP_NO_ADDRESS);

    /* Releasing someone else's lease is refused. */
    msg_start(&m, DHCP_RELEASE, mac(2), ip, 0);
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(2), 2, &r), DHCP_DROP_NOT_OWNER);
    /* Missing server id / ciaddr. */
    msg_start(&m, DHCP_RELEASE, mac(1), ip, 0);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 2, &r), DHCP_DROP_MISSING_FIELD);

    msg_start(&m, DHCP_RELEASE, mac(1), ip, 0);
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 3, &r), DHCP_DROP_NONE);
    CHECK_EQ(r.len, 0);
    CHECK_EQ(state_of(s, ip, 3), DHCP_LEASE_RELEASED);
    /* The address is free again (the failed search is not cached). */
    CHECK_EQ(discover(s, mac(2), 3, &r), DHCP_DROP_NONE);
    CHECK_EQ(yiaddr(&r), ip);
    dhcp_server_destroy(s);
}

TEST(dhcp_decline)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    struct msg m;
    uint32_t ip = dora(s, mac(1), 0);
    const struct dhcp_lease *l;

    /* Someone else cannot decline it. */
    msg_start(&m, DHCP_DECLINE, mac(2), 0, 0);
    msg_opt_ip(&m, 50, ip);
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(2), 5, &r), DHCP_DROP_NOT_OWNER);
    /* Without option 50: malformed. */
    msg_start(&m, DHCP_DECLINE, mac(1), 0, 0);
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 5, &r), DHCP_DROP_MISSING_FIELD);

    msg_start(&m, DHCP_DECLINE, mac(1), 0, 0);
    msg_opt_ip(&m, 50, ip);
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 5, &r), DHCP_DROP_NONE);
    CHECK_EQ(r.len, 0);
    l = dhcp_leases_find_ip(dhcp_server_leases(s), ip);
    CHECK(l && l->state == DHCP_LEASE_DECLINED);
    CHECK(!memcmp(l->mac.b, "\0\0\0\0\0\0", 6));
    CHECK(!dhcp_leases_find_mac(dhcp_server_leases(s),
                                &(struct eth_addr){{2, 0, 0, 0, 0, 1}}));
    /* The client gets another address; nobody gets the declined one
     * during the hold (600 s by default), even by asking for it. */
    uint32_t ip2 = dora(s, mac(1), 6);
    CHECK(ip2 && ip2 != ip);
    msg_start(&m, DHCP_DISCOVER, mac(3), 0, 0);
    msg_opt_ip(&m, 50, ip);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(3), 604, &r), DHCP_DROP_NONE);
    CHECK(yiaddr(&r) != ip);
    msg_start(&m, DHCP_DISCOVER, mac(4), 0, 0);
    msg_opt_ip(&m, 50, ip);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(4), 605, &r), DHCP_DROP_NONE);
    CHECK_EQ(yiaddr(&r), ip);
    dhcp_server_destroy(s);
}

TEST(dhcp_inform)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    struct msg m;
    size_t n;

    msg_start(&m, DHCP_INFORM, mac(5), IP(10, 0, 0, 77), 0);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(5), 1, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_ACK));
    CHECK_EQ(yiaddr(&r), 0);
    CHECK_EQ(rd_ip(r.data + 12), IP(10, 0, 0, 77));
    CHECK_EQ(r.dst_ip, IP(10, 0, 0, 77));
    CHECK(!ropt(&r, 51, &n) && !ropt(&r, 58, &n) && !ropt(&r, 59, &n));
    CHECK(ropt(&r, 3, &n) && ropt(&r, 6, &n));
    CHECK_EQ(dhcp_leases_count(dhcp_server_leases(s)), 0);

    msg_start(&m, DHCP_INFORM, mac(5), 0, 0);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(5), 1, &r), DHCP_DROP_MISSING_FIELD);
    msg_start(&m, DHCP_INFORM, mac(5), IP(10, 1, 0, 77), 0);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(5), 1, &r), DHCP_DROP_WRONG_SUBNET);
    dhcp_server_destroy(s);
}

TEST(dhcp_lease_table_bound)
{
    struct dhcp_config c = std_config();
    struct dhcp_server *s;
    struct dhcp_reply r;

    CHECK_EQ(dhcp_server_create(&c, 2, &s), 0);
    CHECK(dora(s, mac(1), 0) != 0);
    CHECK(dora(s, mac(2), 0) != 0);
    CHECK_EQ(discover(s, mac(3), 1, &r), DHCP_DROP_NO_ADDRESS);
    CHECK_EQ(dhcp_leases_count(dhcp_server_leases(s)), 2);
    /* Once a lease has expired its slot is recycled. */
    CHECK(dora(s, mac(3), 3600) != 0);
    CHECK_EQ(dhcp_leases_count(dhcp_server_leases(s)), 2);
    dhcp_server_destroy(s);
}

TEST(dhcp_reconfigure)
{
    struct dhcp_server *s = std_server();
    struct dhcp_config c = std_config();
    struct dhcp_range pool2[] = {{IP(10, 0, 0, 11), IP(10, 0, 0, 30)}};
    struct dhcp_static_binding st2[] = {{mac(2), IP(10, 0, 0, 60)}};
    uint32_t ip1 = dora(s, mac(1), 0), ip2 = dora(s, mac(2), 0);
    struct dhcp_reply r;

    CHECK_EQ(ip1, IP(10, 0, 0, 10));
    CHECK_EQ(ip2, IP(10, 0, 0, 11));
    c.pools = pool2;
    c.statics = st2;
    c.n_statics = 1;
    CHECK_EQ(dhcp_server_reconfigure(s, &c, 10), 0);
    /* .10 left the pool; mac(2) is now static elsewhere: both dropped. */
    CHECK(!dhcp_leases_find_ip(dhcp_server_leases(s), ip1));
    CHECK(!dhcp_leases_find_ip(dhcp_server_leases(s), ip2));
    CHECK_EQ(dora(s, mac(2), 11), IP(10, 0, 0, 60));
    CHECK_EQ(select_req(s, mac(1), ip1, IP(10, 0, 0, 1), 12, &r),
             DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_NAK));
    c.prefix_len = 31;
    CHECK_EQ(dhcp_server_reconfigure(s, &c, 10), EINVAL);
    dhcp_server_destroy(s);
}

TEST(dhcp_config_validation)
{
    struct dhcp_config c;
    char err[128];
    struct dhcp_server *s;
    struct dhcp_range bad_pool[] = {{IP(10, 0, 1, 5), IP(10, 0, 1, 9)}};
    struct dhcp_static_binding dup[] = {{mac(1), IP(10, 0, 0, 70)},
                                        {mac(1), IP(10, 0, 0, 71)}};
    struct dhcp_route bad_route[] = {{IP(10, 1, 0, 1), 16, 0}};
    uint32_t zero_dns[] = {0};

    c = std_config();
    CHECK_EQ(dhcp_config_validate(&c, err, sizeof err), 0);
#define BAD(STMT)                                                              \
    do {                                                                       \
        c = std_config();                                                      \
        STMT;                                                                  \
        err[0] = 0;                                                            \
        CHECK_EQ(dhcp_config_validate(&c, err, sizeof err), EINVAL);           \
        CHECK(err[0] != 0);                                                    \
    } while (0)
    BAD(c.prefix_len = 0);
    BAD(c.prefix_len = 31);
    BAD(c.subnet = IP(10, 0, 0, 1));
    BAD(c.server_ip = IP(10, 0, 0, 255));
    BAD(c.server_mac = bcast);
    BAD(c.pools = bad_pool);
    BAD((c.statics = dup, c.n_statics = 2));
    BAD(c.lease_time = 10);
    BAD(c.router = IP(10, 1, 0, 1));
    BAD(c.n_dns = 9);
    BAD((c.dns = zero_dns, c.n_dns = 1));
    BAD(c.domain = "bad domain");
    BAD(c.mtu = 60);
    BAD((c.routes = bad_route, c.n_routes = 1));
#undef BAD
    c = std_config();
    c.prefix_len = 0;
    s = (struct dhcp_server *)1;
    CHECK_EQ(dhcp_server_create(&c, 0, &s), EINVAL);
    CHECK(s == NULL);
    dhcp_server_destroy(NULL);
}

TEST(dhcp_reply_fits_with_large_options)
{
    struct dhcp_config c = std_config();
    uint32_t dns[DHCP_MAX_DNS];
    struct dhcp_route routes[27];
    char domain[254];
    struct dhcp_server *s;
    struct dhcp_reply r;
    struct msg m;
    size_t n;

    for (int i = 0; i < DHCP_MAX_DNS; i++) {
        dns[i] = IP(9, 9, 9, i + 1);
    }
    for (int i = 0; i < 27; i++) {
        routes[i] = (struct dhcp_route){IP(100, i, 0, 0), 24, IP(10, 0, 0, 9)};
    }
    memset(domain, 'a', 253);
    domain[253] = 0;
    c.dns = dns;
    c.n_dns = DHCP_MAX_DNS;
    c.routes = routes;
    c.n_routes = 27; /* 27 * 8 + 5 = 221 bytes */
    c.domain = domain;
    CHECK_EQ(dhcp_server_create(&c, 0, &s), 0);
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_opt(&m, 55, "\x79", 1);
    msg_end(&m);
    CHECK_EQ(send_msg(s, &m, mac(1), 0, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_OFFER));
    CHECK(r.len <= DHCP_REPLY_MAX);
    /* The essentials are in; the classless routes fit, the domain not. */
    CHECK(ropt(&r, 1, &n) && ropt(&r, 3, &n) && ropt(&r, 6, &n));
    CHECK(ropt(&r, 121, &n) && n == 221);
    CHECK(!ropt(&r, 15, &n));
    dhcp_server_destroy(s);
}

TEST(dhcp_reply_frame_checksums)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    uint8_t f[DHCP_FRAME_MAX];
    size_t len;

    CHECK_EQ(discover(s, mac(1), 0, &r), DHCP_DROP_NONE);
    len = dhcp_reply_frame(&r, f, sizeof f);
    CHECK_EQ(len, 14 + 20 + 8 + (size_t)r.len);
    CHECK_EQ(dhcp_reply_frame(&r, f, len - 1), 0);
    CHECK(!memcmp(f, mac(1).b, 6));
    CHECK(!memcmp(f + 6, srv_mac.b, 6));
    CHECK(f[12] == 0x08 && f[13] == 0x00);
    /* A valid IPv4 header sums to 0xffff (csum_finish gives 0). */
    CHECK_EQ(csum_finish(csum_partial(f + 14, 20, 0)), 0);
    CHECK_EQ(rd_ip(f + 14 + 12), IP(10, 0, 0, 1));
    CHECK_EQ(rd_ip(f + 14 + 16), IP(10, 0, 0, 10));
    CHECK(f[34] == 0 && f[35] == 67 && f[36] == 0 && f[37] == 68);
    uint32_t src, dst;
    memcpy(&src, f + 26, 4);
    memcpy(&dst, f + 30, 4);
    uint32_t sum = csum_pseudo_ipv4(src, dst, 17, (uint16_t)(8 + r.len));
    CHECK_EQ(csum_finish(csum_partial(f + 34, 8 + (size_t)r.len, sum)), 0);
    CHECK(!memcmp(f + 42, r.data, r.len));

    /* The datapath's own parser accepts it. */
    struct dp_pool *pool = dp_pool_create(1, 2048);
    struct dp_packet *p = dp_pool_get(pool);
    memcpy(p->data, f, len);
    p->len = (uint32_t)len;
    CHECK_EQ(dp_parse(p), DP_DROP_NONE);
    CHECK_EQ(p->ip_proto, IPPROTO_UDP_);
    CHECK_EQ(p->l7_ofs, 42);
    dp_packet_free(p);
    dp_pool_destroy(pool);

    /* NAK: broadcast frame. */
    CHECK_EQ(select_req(s, mac(1), IP(10, 0, 0, 99), IP(10, 0, 0, 1), 1, &r),
             DHCP_DROP_NONE);
    len = dhcp_reply_frame(&r, f, sizeof f);
    CHECK(len > 0 && !memcmp(f, bcast.b, 6));
    CHECK_EQ(rd_ip(f + 14 + 16), 0xffffffff);
    r.len = 0;
    CHECK_EQ(dhcp_reply_frame(&r, f, sizeof f), 0);
    dhcp_server_destroy(s);
}

/* ---- malformed input, one class at a time ---- */

TEST(dhcp_malformed)
{
    struct dhcp_server *s = std_server();
    struct dhcp_reply r;
    struct msg m;

#define EXPECT(WHY)                                                            \
    do {                                                                       \
        r.len = 1;                                                             \
        CHECK_EQ(send_msg(s, &m, mac(1), 0, &r), DHCP_DROP_##WHY);             \
        CHECK_EQ(r.len, 0);                                                    \
    } while (0)

    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_end(&m);
    for (size_t cut = 0; cut < 240; cut += 7) {
        CHECK_EQ(dhcp_server_input(s, m.b, cut, &(struct eth_addr){{0}}, 0, &r),
                 DHCP_DROP_TRUNC);
    }
    m.b[0] = 2;
    EXPECT(NOT_REQUEST);
    m.b[0] = 1, m.b[1] = 6;
    EXPECT(BAD_HTYPE);
    m.b[1] = 1, m.b[2] = 16;
    EXPECT(BAD_HTYPE);
    m.b[2] = 6, m.b[239] = 0x62;
    EXPECT(BAD_COOKIE);

    /* Option truncation: length past the end; code as the last byte. */
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    m.b[m.len++] = 12, m.b[m.len++] = 10, m.b[m.len++] = 'x';
    EXPECT(OPT_TRUNC);
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    m.b[m.len++] = 12;
    EXPECT(OPT_TRUNC);
    /* No end option (pads only). */
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    m.b[m.len++] = 0, m.b[m.len++] = 0;
    EXPECT(OPT_NO_END);

    /* Bad lengths or values. */
    msg_start(&m, 0, mac(1), 0, 0);
    msg_opt(&m, 53, "\x01\x01", 2);
    msg_end(&m);
    EXPECT(OPT_BAD_LEN);
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_opt(&m, 50, "\x0a\x00\x00", 3);
    msg_end(&m);
    EXPECT(OPT_BAD_LEN);
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_opt(&m, 57, "\x01\xf4", 2); /* 500 < 576 */
    msg_end(&m);
    EXPECT(OPT_BAD_LEN);
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_opt(&m, 61, "\x01", 1);
    msg_end(&m);
    EXPECT(OPT_BAD_LEN);
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_opt(&m, 55, "", 0);
    msg_end(&m);
    EXPECT(OPT_BAD_LEN);

    /* Repeated single-valued options. */
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_opt(&m, 53, "\x01", 1);
    msg_end(&m);
    EXPECT(OPT_DUP);
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_end(&m);
    EXPECT(OPT_DUP);

    /* Overload: bad value; inside the file field; options in file are
     * honoured (message type only there); sname must close too. */
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_opt(&m, 52, "\x04", 1);
    msg_end(&m);
    EXPECT(BAD_OVERLOAD);
    msg_start(&m, 0, mac(1), 0, 0);
    msg_opt(&m, 52, "\x01", 1);
    msg_end(&m);
    memcpy(m.b + 108, "\x34\x01\x01\xff", 4);
    EXPECT(BAD_OVERLOAD);
    memcpy(m.b + 108, "\x35\x01\x01\xff", 4);
    CHECK_EQ(send_msg(s, &m, mac(1), 0, &r), DHCP_DROP_NONE);
    CHECK(reply_ok(&r, DHCP_OFFER));
    memcpy(m.b + 108, "\x35\x01\x01\x35\x01\x01", 6);
    EXPECT(OPT_DUP);
    msg_start(&m, 0, mac(1), 0, 0);
    msg_opt(&m, 52, "\x02", 1);
    msg_end(&m);
    memset(m.b + 44, 0, 64);
    m.b[44 + 62] = 53, m.b[44 + 63] = 1; /* runs off the sname field */
    EXPECT(OPT_TRUNC);

    /* Message type missing, or one a client does not send. */
    msg_start(&m, 0, mac(1), 0, 0);
    msg_end(&m);
    EXPECT(NO_MSG_TYPE);
    msg_start(&m, 0, mac(1), 0, 0);
    msg_opt(&m, 53, "", 1); /* type 0 */
    msg_end(&m);
    EXPECT(BAD_MSG_TYPE);
    static const uint8_t bad_types[] = {DHCP_OFFER, DHCP_ACK, DHCP_NAK,
                                        9,          13,       255};
    for (size_t i = 0; i < sizeof bad_types; i++) {
        msg_start(&m, bad_types[i], mac(1), 0, 0);
        msg_end(&m);
        EXPECT(BAD_MSG_TYPE);
    }

    /* chaddr not the frame's source; relayed. */
    msg_start(&m, DHCP_DISCOVER, mac(2), 0, 0);
    msg_end(&m);
    EXPECT(CHADDR_MISMATCH);
    msg_start(&m, DHCP_DISCOVER, mac(1), 0, 0);
    msg_end(&m);
    m.b[24] = 10;
    EXPECT(RELAYED);

    /* Nothing malformed touched the lease table (the overload case above
     * made one valid offer). */
    CHECK_EQ(dhcp_leases_count(dhcp_server_leases(s)), 1);
#undef EXPECT
    dhcp_server_destroy(s);
}

TEST(dhcp_parse_fields)
{
    struct msg m;
    struct dhcp_msg d;

    msg_start(&m, DHCP_REQUEST, mac(9), IP(10, 0, 0, 5), DHCP_FLAG_BROADCAST);
    msg_opt_ip(&m, 50, IP(10, 0, 0, 6));
    msg_opt_ip(&m, 54, IP(10, 0, 0, 1));
    msg_opt(&m, 57, "\x05\xdc", 2);
    msg_opt(&m, 61, "\x01\x02\x00\x00\x00\x00\x09", 7);
    msg_opt(&m, 55, "\x01\x03", 2);
    msg_opt(&m, 55, "\x79", 1); /* repeated 55 concatenates */
    msg_end(&m);
    m.b[m.len++] = 0xab; /* bytes after the end option are ignored */
    CHECK_EQ(dhcp_parse(m.b, m.len, &d), DHCP_DROP_NONE);
    CHECK_EQ(d.type, DHCP_REQUEST);
    CHECK_EQ(d.ciaddr, IP(10, 0, 0, 5));
    CHECK_EQ(d.flags, DHCP_FLAG_BROADCAST);
    CHECK(d.has_requested_ip && d.requested_ip == IP(10, 0, 0, 6));
    CHECK(d.has_server_id && d.server_id == IP(10, 0, 0, 1));
    CHECK_EQ(d.max_size, 1500);
    CHECK_EQ(d.client_id_len, 7);
    CHECK(dhcp_msg_requests(&d, 1) && dhcp_msg_requests(&d, 3) &&
          dhcp_msg_requests(&d, 121) && !dhcp_msg_requests(&d, 6));
    CHECK(eth_addr_equals(&d.chaddr, &(struct eth_addr){{2, 0, 0, 0, 0, 9}}));
    CHECK_STREQ(dhcp_drop_name(DHCP_DROP_OPT_TRUNC), "OPT_TRUNC");
    CHECK_STREQ(dhcp_drop_name(DHCP_DROP_N_REASONS), "unknown");
    CHECK(strlen(dhcp_drop_description(DHCP_DROP_RELAYED)) > 0);
}
