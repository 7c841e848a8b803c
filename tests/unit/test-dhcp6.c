/* Unit tests of the DHCPv6 server logic (dhcp6.h): the stateful exchange
 * (SOLICIT/ADVERTISE/REQUEST/REPLY, Rapid Commit, RENEW, REBIND, RELEASE,
 * DECLINE), CONFIRM, the stateless INFORMATION-REQUEST with DNS and
 * search list, clients without a binding, reconfiguration, the reply
 * frame with its checksum, and one test per malformation.  With thousands
 * of bindings: random messages and reconfigurations checked against a
 * naive reference (scans, as the server once did), clients found by MAC
 * after bindings go, move and come back, and duplicate MACs (the first
 * binding serves; a new binding takes the first matching old state). */
#include "datapath/dhcp6.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "datapath/csum.h"
#include "datapath/parse.h"
#include "testlib.h"

static const struct eth_addr rtr = {{0x02, 0xaa, 0, 0, 0, 1}};
static const struct eth_addr vm = {{0x02, 0, 0, 0, 0, 0x11}};
static const struct eth_addr stranger = {{0x02, 0, 0, 0, 0, 0x77}};
static const uint8_t vm_lla[16] = {0xfe, 0x80, [8] = 0, [15] = 0x11};
static const uint8_t vm_addr[16] = {0xfd, 0, 0, 1, [15] = 0x11};
static const uint8_t other_addr[16] = {0xfd, 0, 0, 1, [15] = 0x99};
static const uint8_t off_link[16] = {0xfd, 0, 0, 2, [15] = 0x11};
static const uint8_t prefix[1][16] = {{0xfd, 0, 0, 1}};
static const uint8_t prefix_len[1] = {64};
static const uint8_t dns[2][16] = {{0xfd, 0, 0, 1, [15] = 0x53},
                                   {0x20, 0x01, 0x48, 0x60, [15] = 0x88}};
static const uint8_t client_duid[10] = {0, 3, 0, 1, 2, 0, 0, 0, 0, 0x11};

static struct dhcp6_server *
server(bool stateful)
{
    struct dhcp6_binding b = {vm, {0}};
    struct dhcp6_config c = {
        .server_mac = rtr,
        .stateful = stateful,
        .bindings = &b,
        .n_bindings = 1,
        .prefixes = prefix,
        .prefix_lens = prefix_len,
        .n_prefixes = 1,
        .preferred_lifetime = 1000,
        .valid_lifetime = 4000,
        .dns = dns,
        .n_dns = 2,
        .domain = "tenant.example",
    };
    struct dhcp6_server *s = NULL;

    memcpy(b.addr, vm_addr, 16);
    CHECK_EQ(dhcp6_server_create(&c, &s), 0);
    return s;
}

struct msg {
    uint8_t b[512];
    size_t len;
};

static void
opt(struct msg *m, uint16_t code, const void *v, uint16_t len)
{
    m->b[m->len++] = (uint8_t)(code >> 8);
    m->b[m->len++] = (uint8_t)code;
    m->b[m->len++] = (uint8_t)(len >> 8);
    m->b[m->len++] = (uint8_t)len;
    if (len) {
        memcpy(m->b + m->len, v, len);
    }
    m->len += len;
}

static void
start(struct msg *m, uint8_t type, bool client_id)
{
    memset(m, 0, sizeof *m);
    m->b[0] = type;
    m->b[1] = 0xab;
    m->b[2] = 0xcd;
    m->b[3] = 0xef;
    m->len = 4;
    if (client_id) {
        opt(m, 1, client_duid, sizeof client_duid);
    }
    opt(m, 8, "\0\0", 2); /* elapsed time */
}

/* IA_NA 'iaid' with 'addr' (NULL: none). */
static void
ia_na(struct msg *m, uint32_t iaid, const uint8_t *addr)
{
    uint8_t v[12 + 28] = {0};
    uint32_t be = htonl(iaid);

    memcpy(v, &be, 4);
    if (addr) {
        v[12] = 0;
        v[13] = 5;
        v[15] = 24;
        memcpy(v + 16, addr, 16);
    }
    opt(m, 3, v, addr ? 40 : 12);
}

static void
server_id(struct msg *m)
{
    uint8_t duid[10] = {0, 3, 0, 1};
    memcpy(duid + 4, rtr.b, 6);
    opt(m, 2, duid, 10);
}

/* The top-level option 'code' of a reply; NULL if absent. */
static const uint8_t *
find(const struct dhcp6_reply *r, uint16_t code, uint16_t *len)
{
    size_t i = 4;
    while (i + 4 <= r->len) {
        uint16_t c = (uint16_t)(r->data[i] << 8 | r->data[i + 1]);
        uint16_t l = (uint16_t)(r->data[i + 2] << 8 | r->data[i + 3]);
        if (i + 4 + l > r->len) {
            return NULL;
        }
        if (c == code) {
            *len = l;
            return r->data + i + 4;
        }
        i += 4 + (size_t)l;
    }
    return NULL;
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Status code inside an IA_NA (or -1), and its address and lifetimes. */
static int
ia_status(const uint8_t *ia, uint16_t len, const uint8_t **addr, uint32_t *pref,
          uint32_t *valid)
{
    size_t i = 12;
    int st = -1;

    *addr = NULL;
    while (i + 4 <= len) {
        uint16_t c = (uint16_t)(ia[i] << 8 | ia[i + 1]);
        uint16_t l = (uint16_t)(ia[i + 2] << 8 | ia[i + 3]);
        if (c == 13) {
            st = ia[i + 5];
        } else if (c == 5 && !*addr) {
            *addr = ia + i + 4;
            *pref = get32(ia + i + 20);
            *valid = get32(ia + i + 24);
        }
        i += 4 + (size_t)l;
    }
    return st;
}

static enum dhcp6_drop
send_msg(struct dhcp6_server *s, const struct msg *m,
         const struct eth_addr *mac, uint64_t now, struct dhcp6_reply *r)
{
    return dhcp6_server_input(s, m->b, m->len, mac, vm_lla, now, r);
}

/* Checks the reply carries our server id, the client's id and the xid. */
static void
check_common(const struct dhcp6_reply *r, uint8_t type)
{
    uint16_t l = 0;
    const uint8_t *v;

    CHECK_EQ(r->type, type);
    CHECK_EQ(r->data[0], type);
    CHECK(!memcmp(r->data + 1, "\xab\xcd\xef", 3));
    v = find(r, 2, &l);
    CHECK(v && l == 10 && !memcmp(v, "\0\3\0\1", 4) &&
          !memcmp(v + 4, rtr.b, 6));
    v = find(r, 1, &l);
    CHECK(v && l == sizeof client_duid && !memcmp(v, client_duid, l));
    v = find(r, 23, &l);
    CHECK(v && l == 32 && !memcmp(v, dns, 32));
    v = find(r, 24, &l);
    CHECK(v && l == 16 && !memcmp(v, "\6tenant\7example\0", 16));
}

static void
check_address(const struct dhcp6_reply *r, uint32_t iaid)
{
    uint16_t l = 0;
    const uint8_t *ia = find(r, 3, &l), *a;
    uint32_t pref = 0, valid = 0;

    CHECK(ia && l >= 12 + 28);
    if (!ia) {
        return;
    }
    CHECK_EQ(get32(ia), iaid);
    CHECK_EQ(get32(ia + 4), 500); /* T1 = pref / 2 */
    CHECK_EQ(get32(ia + 8), 800); /* T2 = 0.8 pref */
    CHECK_EQ(ia_status(ia, l, &a, &pref, &valid), -1);
    CHECK(a && !memcmp(a, vm_addr, 16));
    CHECK_EQ(pref, 1000);
    CHECK_EQ(valid, 4000);
}

TEST(stateful_solicit_request_renew_rebind_release)
{
    struct dhcp6_server *s = server(true);
    struct dhcp6_reply r;
    struct msg m;

    start(&m, DHCP6_SOLICIT, true);
    ia_na(&m, 7, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 100, &r), DHCP6_DROP_NONE);
    check_common(&r, DHCP6_ADVERTISE);
    check_address(&r, 7);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_ADVERTISED);
    CHECK(eth_addr_equals(&r.dst_mac, &vm) &&
          eth_addr_equals(&r.src_mac, &rtr));
    CHECK(!memcmp(r.dst_ip, vm_lla, 16));
    CHECK(r.src_ip[0] == 0xfe && r.src_ip[1] == 0x80 && r.src_ip[11] == 0xff &&
          r.src_ip[12] == 0xfe && r.src_ip[8] == (rtr.b[0] ^ 2));

    start(&m, DHCP6_REQUEST, true);
    server_id(&m);
    ia_na(&m, 7, vm_addr);
    CHECK_EQ(send_msg(s, &m, &vm, 101, &r), DHCP6_DROP_NONE);
    check_common(&r, DHCP6_REPLY);
    check_address(&r, 7);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_BOUND);
    CHECK_EQ(dhcp6_server_lease(s, 0)->expires, 4101);

    start(&m, DHCP6_RENEW, true);
    server_id(&m);
    ia_na(&m, 7, vm_addr);
    CHECK_EQ(send_msg(s, &m, &vm, 600, &r), DHCP6_DROP_NONE);
    check_address(&r, 7);
    CHECK_EQ(dhcp6_server_lease(s, 0)->expires, 4600);

    /* REBIND naming a wrong address: ours, and that one with lifetime 0. */
    start(&m, DHCP6_REBIND, true);
    ia_na(&m, 7, other_addr);
    CHECK_EQ(send_msg(s, &m, &vm, 900, &r), DHCP6_DROP_NONE);
    check_address(&r, 7);
    {
        uint16_t l;
        const uint8_t *ia = find(&r, 3, &l);
        CHECK(ia && l == 12 + 28 + 28);
        CHECK(ia && !memcmp(ia + 12 + 28 + 4, other_addr, 16) &&
              get32(ia + 12 + 28 + 20) == 0 && get32(ia + 12 + 28 + 24) == 0);
    }

    start(&m, DHCP6_RELEASE, true);
    server_id(&m);
    ia_na(&m, 7, vm_addr);
    CHECK_EQ(send_msg(s, &m, &vm, 1000, &r), DHCP6_DROP_NONE);
    {
        uint16_t l;
        const uint8_t *st = find(&r, 13, &l);
        CHECK(st && l == 2 && st[1] == DHCP6_SUCCESS);
    }
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_RELEASED);
    CHECK(!r.declined);
    dhcp6_server_destroy(s);
}

TEST(rapid_commit_and_decline)
{
    struct dhcp6_server *s = server(true);
    struct dhcp6_reply r;
    struct msg m;
    uint16_t l;

    start(&m, DHCP6_SOLICIT, true);
    opt(&m, 14, NULL, 0);
    ia_na(&m, 1, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 10, &r), DHCP6_DROP_NONE);
    check_common(&r, DHCP6_REPLY);
    check_address(&r, 1);
    CHECK(find(&r, 14, &l) && l == 0);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_BOUND);

    start(&m, DHCP6_DECLINE, true);
    server_id(&m);
    ia_na(&m, 1, vm_addr);
    CHECK_EQ(send_msg(s, &m, &vm, 11, &r), DHCP6_DROP_NONE);
    CHECK(r.declined);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_DECLINED);

    /* A declined address is not offered again (until reconfigured). */
    start(&m, DHCP6_SOLICIT, true);
    ia_na(&m, 1, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 12, &r), DHCP6_DROP_NONE);
    {
        const uint8_t *ia = find(&r, 3, &l), *a;
        uint32_t p, v;
        CHECK(ia && ia_status(ia, l, &a, &p, &v) == DHCP6_NO_ADDRS_AVAIL);
        const uint8_t *st = find(&r, 13, &l);
        CHECK(st && st[1] == DHCP6_NO_ADDRS_AVAIL);
    }
    dhcp6_server_destroy(s);
}

TEST(client_without_binding)
{
    struct dhcp6_server *s = server(true);
    struct dhcp6_reply r;
    struct msg m;
    uint16_t l;
    const uint8_t *ia, *a;
    uint32_t p, v;

    start(&m, DHCP6_SOLICIT, true);
    ia_na(&m, 3, NULL);
    CHECK_EQ(send_msg(s, &m, &stranger, 10, &r), DHCP6_DROP_NONE);
    ia = find(&r, 3, &l);
    CHECK(ia && ia_status(ia, l, &a, &p, &v) == DHCP6_NO_ADDRS_AVAIL && !a);

    start(&m, DHCP6_RENEW, true);
    server_id(&m);
    ia_na(&m, 3, vm_addr); /* someone else's address */
    CHECK_EQ(send_msg(s, &m, &stranger, 10, &r), DHCP6_DROP_NONE);
    ia = find(&r, 3, &l);
    CHECK(ia && ia_status(ia, l, &a, &p, &v) == DHCP6_NO_BINDING && !a);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_NONE);
    dhcp6_server_destroy(s);
}

TEST(stateless_information_request)
{
    struct dhcp6_server *s = server(false);
    struct dhcp6_reply r;
    struct msg m;
    uint16_t l;

    start(&m, DHCP6_INFORMATION_REQUEST, true);
    opt(&m, 6, "\0\x17\0\x18", 4);
    CHECK_EQ(send_msg(s, &m, &vm, 10, &r), DHCP6_DROP_NONE);
    check_common(&r, DHCP6_REPLY);
    CHECK(!find(&r, 3, &l));

    /* No client id is fine for an information request. */
    start(&m, DHCP6_INFORMATION_REQUEST, false);
    CHECK_EQ(send_msg(s, &m, &vm, 10, &r), DHCP6_DROP_NONE);
    CHECK(!find(&r, 1, &l) && find(&r, 23, &l));

    /* Stateless: addresses are not handed out. */
    start(&m, DHCP6_SOLICIT, true);
    ia_na(&m, 3, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 10, &r), DHCP6_DROP_NONE);
    const uint8_t *st = find(&r, 13, &l);
    CHECK(st && st[1] == DHCP6_NO_ADDRS_AVAIL);
    dhcp6_server_destroy(s);
}

TEST(confirm)
{
    struct dhcp6_server *s = server(true);
    struct dhcp6_reply r;
    struct msg m;
    uint16_t l;
    const uint8_t *st;

    start(&m, DHCP6_CONFIRM, true);
    ia_na(&m, 1, vm_addr);
    CHECK_EQ(send_msg(s, &m, &vm, 10, &r), DHCP6_DROP_NONE);
    st = find(&r, 13, &l);
    CHECK(st && st[1] == DHCP6_SUCCESS);

    start(&m, DHCP6_CONFIRM, true);
    ia_na(&m, 1, off_link);
    CHECK_EQ(send_msg(s, &m, &vm, 10, &r), DHCP6_DROP_NONE);
    st = find(&r, 13, &l);
    CHECK(st && st[1] == DHCP6_NOT_ON_LINK);

    start(&m, DHCP6_CONFIRM, true);
    ia_na(&m, 1, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 10, &r), DHCP6_DROP_NO_ADDRESSES);
    CHECK_EQ(r.len, 0);
    dhcp6_server_destroy(s);
}

TEST(reconfigure_keeps_state)
{
    struct dhcp6_server *s = server(true);
    struct dhcp6_binding b[2] = {{stranger, {0}}, {vm, {0}}};
    struct dhcp6_config c = {
        .server_mac = rtr, .stateful = true, .bindings = b, .n_bindings = 2};
    struct dhcp6_reply r;
    struct msg m;

    memcpy(b[0].addr, other_addr, 16);
    memcpy(b[1].addr, vm_addr, 16);
    start(&m, DHCP6_SOLICIT, true);
    opt(&m, 14, NULL, 0);
    ia_na(&m, 1, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 10, &r), DHCP6_DROP_NONE);
    CHECK_EQ(dhcp6_server_reconfigure(s, &c), 0);
    CHECK_EQ(dhcp6_server_n_leases(s), 2);
    CHECK_EQ(dhcp6_server_lease(s, 1)->state, DHCP6_ST_BOUND);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_NONE);
    c.domain = "bad..name";
    CHECK_EQ(dhcp6_server_reconfigure(s, &c), EINVAL);
    c.domain = NULL;
    c.valid_lifetime = 10; /* below the default preferred 3600 */
    CHECK_EQ(dhcp6_server_reconfigure(s, &c), EINVAL);
    CHECK_EQ(dhcp6_server_n_leases(s), 2);
    dhcp6_server_destroy(s);
}

TEST(reply_frame)
{
    struct dhcp6_server *s = server(true);
    struct dhcp6_reply r;
    struct msg m;
    uint8_t f[DHCP6_FRAME_MAX];
    size_t len;

    start(&m, DHCP6_SOLICIT, true);
    ia_na(&m, 7, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 100, &r), DHCP6_DROP_NONE);
    len = dhcp6_reply_frame(&r, f, sizeof f);
    CHECK_EQ(len, 14 + 40 + 8 + (size_t)r.len);
    CHECK_EQ(dhcp6_reply_frame(&r, f, len - 1), 0);
    CHECK(!memcmp(f, vm.b, 6) && !memcmp(f + 6, rtr.b, 6));
    CHECK(f[12] == 0x86 && f[13] == 0xdd);
    CHECK_EQ(f[14 + 6], IPPROTO_UDP_);
    CHECK_EQ(f[14 + 7], 255);
    CHECK(!memcmp(f + 14 + 24, vm_lla, 16));
    CHECK(f[54] == 0x02 && f[55] == 0x23 && f[56] == 0x02 && f[57] == 0x22);
    CHECK_EQ(
        csum_finish(csum_partial(f + 54, len - 54,
                                 csum_pseudo_ipv6(f + 22, f + 38, IPPROTO_UDP_,
                                                  (uint32_t)(len - 54)))),
        0);
    struct dp_pool *pool = dp_pool_create(1, 2048);
    struct dp_packet *p = dp_pool_get(pool);
    memcpy(p->data, f, len);
    p->len = (uint32_t)len;
    CHECK_EQ(dp_parse(p), DP_DROP_NONE);
    CHECK_EQ(p->l7_ofs, 62);
    dp_packet_free(p);
    dp_pool_destroy(pool);
    dhcp6_server_destroy(s);
}

TEST(malformed_each_reason)
{
    struct dhcp6_server *s = server(true);
    struct dhcp6_reply r;
    struct msg m;
    static const uint8_t lla_wrong[16] = {0xfd};

    m.len = 3;
    memset(m.b, 1, 3);
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_TRUNC);

    start(&m, DHCP6_ADVERTISE, true); /* a server's message */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_BAD_MSG_TYPE);

    start(&m, DHCP6_RELAY_FORW, true);
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_RELAYED);

    start(&m, DHCP6_SOLICIT, true);
    m.len -= 1; /* elapsed time cut short */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_TRUNC);

    start(&m, DHCP6_SOLICIT, true);
    m.b[m.len++] = 0; /* 3 bytes of an option header */
    m.b[m.len++] = 1;
    m.b[m.len++] = 0;
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_TRUNC);

    start(&m, DHCP6_SOLICIT, true);
    opt(&m, 8, "\0\0\0", 3); /* elapsed time of 3 bytes (and a repeat) */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_DUP);

    start(&m, DHCP6_SOLICIT, false);
    opt(&m, 1, "\0", 1); /* DUID of 1 byte */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_BAD_LEN);

    start(&m, DHCP6_SOLICIT, true);
    opt(&m, 14, "x", 1); /* rapid commit with a value */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_BAD_LEN);

    start(&m, DHCP6_SOLICIT, true);
    opt(&m, 3, "\0\0\0\1\0\0", 6); /* IA_NA shorter than 12 */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_BAD_LEN);

    start(&m, DHCP6_SOLICIT, true);
    { /* IA_NA whose IAADDR runs past the IA */
        uint8_t v[12 + 8] = {0, 0, 0, 1, [12] = 0, 5, 0, 24};
        opt(&m, 3, v, sizeof v);
    }
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_TRUNC);

    start(&m, DHCP6_SOLICIT, true);
    { /* IAADDR of 20 bytes */
        uint8_t v[12 + 24] = {0, 0, 0, 1, [12] = 0, 5, 0, 20};
        opt(&m, 3, v, sizeof v);
    }
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_BAD_LEN);

    start(&m, DHCP6_SOLICIT, true);
    opt(&m, 6, "\0\x17\0", 3); /* odd ORO */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_BAD_LEN);

    start(&m, DHCP6_SOLICIT, true);
    opt(&m, 1, client_duid, sizeof client_duid); /* second client id */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OPT_DUP);

    start(&m, DHCP6_SOLICIT, false);
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_NO_CLIENT_ID);

    start(&m, DHCP6_REQUEST, true);
    ia_na(&m, 1, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_NO_SERVER_ID);

    start(&m, DHCP6_SOLICIT, true);
    server_id(&m);
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_UNEXPECTED_SERVER_ID);

    start(&m, DHCP6_INFORMATION_REQUEST, true);
    ia_na(&m, 1, NULL);
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_UNEXPECTED_IA);

    start(&m, DHCP6_REQUEST, true);
    opt(&m, 2, "\0\3\0\1\2\0\0\0\0\1", 10); /* another server's DUID */
    CHECK_EQ(send_msg(s, &m, &vm, 1, &r), DHCP6_DROP_OTHER_SERVER);

    start(&m, DHCP6_SOLICIT, true);
    CHECK_EQ(dhcp6_server_input(s, m.b, m.len, &vm, lla_wrong, 1, &r),
             DHCP6_DROP_BAD_SOURCE);
    CHECK_EQ(r.len, 0);
    CHECK_STREQ(dhcp6_drop_name(DHCP6_DROP_OPT_DUP), "OPT_DUP");
    CHECK_STREQ(dhcp6_drop_name(DHCP6_DROP_N_REASONS), "unknown");
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_NONE);
    dhcp6_server_destroy(s);
}

TEST(domain_encoding)
{
    uint8_t w[256];

    CHECK_EQ(dhcp6_encode_domain("a.b", w, sizeof w), 5);
    CHECK(!memcmp(w, "\1a\1b\0", 5));
    CHECK_EQ(dhcp6_encode_domain("a..b", w, sizeof w), 0);
    CHECK_EQ(dhcp6_encode_domain("a.", w, sizeof w), 0);
    CHECK_EQ(dhcp6_encode_domain("a b", w, sizeof w), 0);
    CHECK_EQ(dhcp6_encode_domain("", w, sizeof w), 0);
    CHECK_EQ(dhcp6_encode_domain("abc", w, 4), 0);
}

/* ---- Many bindings, against a naive reference ----
 *
 * The server finds leases by hash; the reference below keeps the leases
 * the way the server did before, by plain scans of an array, and predicts
 * each answer from them.  Tests compare the two after every step. */

/* The reference's leases, in binding order. */
struct ref {
    struct dhcp6_lease *l;
    size_t n;
};

/* Whether 'a' and 'b' are the same MAC, last byte first (the clients
 * here differ there): the scans below are slow enough under ASan. */
static bool
same_mac(const struct eth_addr *a, const struct eth_addr *b)
{
    for (int i = ETH_ADDR_LEN - 1; i >= 0; i--) {
        if (a->b[i] != b->b[i]) {
            return false;
        }
    }
    return true;
}

/* A new configuration of 'n' bindings: each takes the state of the first
 * old lease with its MAC and address, found by a scan. */
static void
ref_install(struct ref *r, const struct dhcp6_binding *b, size_t n)
{
    struct dhcp6_lease *l = calloc(n ? n : 1, sizeof *l);

    for (size_t i = 0; i < n; i++) {
        l[i].mac = b[i].mac;
        memcpy(l[i].addr, b[i].addr, 16);
        for (size_t k = 0; k < r->n; k++) {
            if (same_mac(&r->l[k].mac, &b[i].mac) &&
                !memcmp(r->l[k].addr, b[i].addr, 16)) {
                l[i] = r->l[k];
                break;
            }
        }
    }
    free(r->l);
    r->l = l;
    r->n = n;
}

/* The first lease of 'mac', by a scan; NULL if none. */
static struct dhcp6_lease *
ref_lease_of(struct ref *r, const struct eth_addr *mac)
{
    for (size_t i = 0; i < r->n; i++) {
        if (same_mac(&r->l[i].mac, mac)) {
            return &r->l[i];
        }
    }
    return NULL;
}

/* How many of the server's leases differ from the reference's (a count
 * mismatch counts as all of them). */
static size_t
ref_diff(const struct dhcp6_server *s, const struct ref *r)
{
    size_t bad = 0;

    if (dhcp6_server_n_leases(s) != r->n) {
        return r->n + 1;
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct dhcp6_lease *a = dhcp6_server_lease(s, i), *b = &r->l[i];
        bad += !eth_addr_equals(&a->mac, &b->mac) ||
               memcmp(a->addr, b->addr, 16) || a->state != b->state ||
               a->iaid != b->iaid || a->expires != b->expires;
    }
    return bad;
}

/* Valid lifetime of many_config(): BOUND leases expire 'now' + this. */
#define MANY_VALID 200

/* A stateful configuration of 'b[0 .. n)' with the lifetimes above. */
static struct dhcp6_config
many_config(const struct dhcp6_binding *b, size_t n)
{
    return (struct dhcp6_config){
        .server_mac = rtr,
        .stateful = true,
        .bindings = b,
        .n_bindings = n,
        .prefixes = prefix,
        .prefix_lens = prefix_len,
        .n_prefixes = 1,
        .preferred_lifetime = 100,
        .valid_lifetime = MANY_VALID,
    };
}

/* Client MAC 'id' (ids are 0..65535). */
static struct eth_addr
many_mac(uint32_t id)
{
    struct eth_addr m = {{0x02, 0x5e, 0, 0, (uint8_t)(id >> 8), (uint8_t)id}};
    return m;
}

/* Address 'gen' of client 'id': fd00:0:0:1::<id>:<gen>. */
static void
many_addr(uint32_t id, uint32_t gen, uint8_t out[16])
{
    memcpy(out, prefix[0], 16);
    out[10] = (uint8_t)(id >> 8);
    out[11] = (uint8_t)id;
    out[12] = (uint8_t)(gen >> 24);
    out[13] = (uint8_t)(gen >> 16);
    out[14] = (uint8_t)(gen >> 8);
    out[15] = (uint8_t)gen;
}

/* xorshift32: a reproducible sequence for the random steps. */
static uint32_t
rnd(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* Sends one message of 'type' (SOLICIT, with Rapid Commit if 'rapid',
 * REQUEST, RELEASE or DECLINE) from 'mac' with IA_NA 'iaid' naming 'ia_addr'
 * (NULL: none) at 'now'; predicts the answer from 'r' and updates 'r' as
 * the server's code says it must.  Returns whether the reply was the one
 * predicted. */
static bool
exchange(struct dhcp6_server *s, struct ref *r, const struct eth_addr *mac,
         uint8_t type, bool rapid, uint32_t iaid, const uint8_t *ia_addr,
         uint64_t now)
{
    struct dhcp6_lease *l = ref_lease_of(r, mac);
    bool gets = l && l->state != DHCP6_ST_DECLINED, ok;
    const uint8_t *ia, *a = NULL;
    uint32_t pref = 0, valid = 0;
    struct dhcp6_reply rep;
    struct msg m;
    uint16_t len = 0;

    start(&m, type, true);
    if (type != DHCP6_SOLICIT) {
        server_id(&m);
    } else if (rapid) {
        opt(&m, 14, NULL, 0);
    }
    ia_na(&m, iaid, ia_addr);
    if (send_msg(s, &m, mac, now, &rep) != DHCP6_DROP_NONE || !rep.len) {
        return false;
    }
    if (type == DHCP6_RELEASE || type == DHCP6_DECLINE) {
        bool hit = l && ia_addr && !memcmp(ia_addr, l->addr, 16);
        if (hit) {
            l->state =
                type == DHCP6_RELEASE ? DHCP6_ST_RELEASED : DHCP6_ST_DECLINED;
            l->expires = now;
        }
        return rep.declined == (hit && type == DHCP6_DECLINE) &&
               !find(&rep, 3, &len);
    }
    ia = find(&rep, 3, &len);
    if (!ia) {
        return false;
    }
    ia_status(ia, len, &a, &pref, &valid);
    ok = gets ? a && !memcmp(a, l->addr, 16) : !a;
    if (gets) {
        l->iaid = iaid;
        if (rapid || type == DHCP6_REQUEST) {
            l->state = DHCP6_ST_BOUND;
            l->expires = now + MANY_VALID;
        } else if (l->state != DHCP6_ST_BOUND) {
            l->state = DHCP6_ST_ADVERTISED;
        }
    }
    return ok;
}

/* One random message from client 'id' at 'now' (see exchange()). */
static bool
random_exchange(struct dhcp6_server *s, struct ref *r, uint32_t id,
                uint64_t now, uint32_t *seed)
{
    static const uint8_t types[] = {DHCP6_SOLICIT, DHCP6_SOLICIT, DHCP6_REQUEST,
                                    DHCP6_RELEASE, DHCP6_DECLINE};
    struct eth_addr mac = many_mac(id);
    const struct dhcp6_lease *l = ref_lease_of(r, &mac);
    uint8_t type = types[rnd(seed) % sizeof types], other[16];
    const uint8_t *addr = NULL;

    if (rnd(seed) % 2 && l) {
        addr = l->addr; /* the address it has */
    } else if (rnd(seed) % 2) {
        many_addr(id, rnd(seed) % 4, other); /* maybe it, maybe not */
        addr = other;
    }
    return exchange(s, r, &mac, type, rnd(seed) % 2, rnd(seed), addr, now);
}

#define POOL 8000 /* client ids: more than bound at once, so some are absent */

/* The next configuration after 'b[0 .. *n)', into 'out' (room for 6,000):
 * each binding kept (most), its address changed, removed or repeated
 * (the same address or another); then new clients, some of them removed
 * earlier; then bindings swapped around.  '*gen' numbers new addresses. */
static size_t
mutate(const struct dhcp6_binding *b, size_t n, struct dhcp6_binding *out,
       uint32_t *gen, uint32_t *seed)
{
    size_t m = 0, target = 3000 + rnd(seed) % 3000;

    for (size_t i = 0; i < n && m < 6000; i++) {
        uint32_t dice = rnd(seed) % 100;
        uint32_t id = (uint32_t)b[i].mac.b[4] << 8 | b[i].mac.b[5];

        if (dice < 10) {
            continue; /* removed */
        }
        out[m] = b[i];
        if (dice < 20) {
            many_addr(id, ++*gen, out[m].addr); /* changed */
        }
        m++;
        if (dice >= 96 && m < 6000) { /* repeated */
            out[m] = b[i];
            if (dice >= 98) {
                many_addr(id, ++*gen, out[m].addr);
            }
            m++;
        }
    }
    while (m < target) {
        uint32_t id = rnd(seed) % POOL;
        out[m].mac = many_mac(id);
        many_addr(id, rnd(seed) % 2 ? 0 : ++*gen, out[m].addr);
        m++;
    }
    for (size_t k = 0; m > 1 && k < m / 8; k++) {
        size_t i = rnd(seed) % m, j = rnd(seed) % m;
        struct dhcp6_binding t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    return m;
}

TEST(many_bindings_match_reference)
{
    struct dhcp6_binding *b = calloc(6000, sizeof *b);
    struct dhcp6_binding *next = calloc(6000, sizeof *next);
    struct ref r = {NULL, 0};
    struct dhcp6_server *s = NULL;
    struct dhcp6_config c;
    uint32_t seed = 0x9e3779b9, gen = 0;
    uint64_t now = 1000;
    size_t n = 4000, carried[DHCP6_ST_DECLINED + 1] = {0}, dups = 0;

    for (uint32_t i = 0; i < n; i++) {
        b[i].mac = many_mac(i);
        many_addr(i, 0, b[i].addr);
    }
    c = many_config(b, n);
    CHECK_EQ(dhcp6_server_create(&c, &s), 0);
    ref_install(&r, b, n);
    for (int step = 0; step < 8; step++) {
        size_t bad = 0;

        /* Messages change state (and iaid, expiry) of random clients. */
        for (int k = 0; k < 3000; k++) {
            bad += !random_exchange(s, &r, rnd(&seed) % POOL, now, &seed);
        }
        now += 50;
        CHECK_EQ(bad, 0);
        CHECK_EQ(ref_diff(s, &r), 0);

        /* Reconfigure: state carried over as the reference does.  Every
         * other step keeps the number of bindings (new ones cut or more
         * clients added), so that nothing may rely on the count. */
        size_t was = n;
        n = mutate(b, n, next, &gen, &seed);
        for (; step % 2 && n < was; n++) {
            uint32_t id = rnd(&seed) % POOL;
            next[n].mac = many_mac(id);
            many_addr(id, ++gen, next[n].addr);
        }
        n = step % 2 && n > was ? was : n;
        memcpy(b, next, n * sizeof *b);
        c = many_config(b, n);
        CHECK_EQ(dhcp6_server_reconfigure(s, &c), 0);
        ref_install(&r, b, n);
        CHECK_EQ(ref_diff(s, &r), 0);
        CHECK(n >= 3000 && n <= 6000);
        for (size_t i = 0; i < n; i++) {
            carried[r.l[i].state]++;
            dups += step == 0 && ref_lease_of(&r, &r.l[i].mac) != &r.l[i];
        }

        /* Every client id, bound or not, once. */
        bad = 0;
        for (uint32_t id = 0; id < POOL; id++) {
            struct eth_addr mac = many_mac(id);
            bad += !exchange(s, &r, &mac, DHCP6_SOLICIT, false, id, NULL, now);
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(ref_diff(s, &r), 0);
    }
    /* The steps did exercise what they are for: leases in every state
     * carried over, and MACs bound more than once. */
    for (int st = DHCP6_ST_ADVERTISED; st <= DHCP6_ST_DECLINED; st++) {
        CHECK(carried[st] > 0);
    }
    CHECK(dups > 0);
    dhcp6_server_destroy(s);
    free(r.l);
    free(b);
    free(next);
}

/* Whether a SOLICIT from client 'id' at 'now' is offered 'addr' (NULL:
 * NoAddrsAvail), as a reply to a message with IA_NA 'iaid'. */
static bool
offers(struct dhcp6_server *s, uint32_t id, uint32_t iaid, const uint8_t *addr,
       uint64_t now)
{
    struct eth_addr mac = many_mac(id);
    const uint8_t *ia, *a = NULL;
    uint32_t pref, valid;
    struct dhcp6_reply rep;
    struct msg m;
    uint16_t len = 0;
    int st;

    start(&m, DHCP6_SOLICIT, true);
    ia_na(&m, iaid, NULL);
    if (send_msg(s, &m, &mac, now, &rep) || !(ia = find(&rep, 3, &len))) {
        return false;
    }
    st = ia_status(ia, len, &a, &pref, &valid);
    return addr ? st == -1 && a && !memcmp(a, addr, 16)
                : st == DHCP6_NO_ADDRS_AVAIL && !a;
}

/* Sends 'type' (REQUEST, RELEASE or DECLINE: with our server id) from
 * client 'id' with IA_NA 'iaid' naming 'addr' at 'now'; the reply in
 * '*rep'.  Returns whether the server answered. */
static bool
client_sends(struct dhcp6_server *s, uint32_t id, uint8_t type, uint32_t iaid,
             const uint8_t *addr, uint64_t now, struct dhcp6_reply *rep)
{
    struct eth_addr mac = many_mac(id);
    struct msg m;

    start(&m, type, true);
    server_id(&m);
    ia_na(&m, iaid, addr);
    return send_msg(s, &m, &mac, now, rep) == DHCP6_DROP_NONE && rep->len;
}

/* The binding of client 'id' to 'addr'. */
static struct dhcp6_binding
binding(uint32_t id, const uint8_t addr[16])
{
    struct dhcp6_binding b = {many_mac(id), {0}};
    memcpy(b.addr, addr, 16);
    return b;
}

/* Bindings of clients 'first', 'first' + 'stride', ... ('n' of them), each
 * with its address of generation 'gen'; configured into 's'. */
static void
bind_range(struct dhcp6_server *s, uint32_t first, uint32_t stride, size_t n,
           uint32_t gen)
{
    struct dhcp6_binding *b = calloc(n ? n : 1, sizeof *b);
    struct dhcp6_config c;

    for (size_t i = 0; i < n; i++) {
        uint32_t id = first + (uint32_t)i * stride;
        b[i].mac = many_mac(id);
        many_addr(id, gen, b[i].addr);
    }
    c = many_config(b, n);
    CHECK_EQ(dhcp6_server_reconfigure(s, &c), 0);
    free(b);
}

/* Whether every client of 'lo' .. 'hi' - 1 is offered its address of
 * generation 'gen' if 'bound' says so, else nothing. */
static bool
offers_range(struct dhcp6_server *s, uint32_t lo, uint32_t hi,
             bool (*bound)(uint32_t id), uint32_t gen, uint64_t now)
{
    bool ok = true;

    for (uint32_t id = lo; id < hi; id++) {
        uint8_t a[16];
        many_addr(id, gen, a);
        ok &= offers(s, id, id, bound(id) ? a : NULL, now);
    }
    return ok;
}

static bool
below_5(uint32_t id)
{
    return id < 5;
}

static bool
below_3000(uint32_t id)
{
    return id < 3000;
}

static bool
even_below_3000(uint32_t id)
{
    return id < 3000 && !(id % 2);
}

static bool
none(uint32_t id)
{
    (void)id;
    return false;
}

static bool
from_1500_to_4500(uint32_t id)
{
    return id >= 1500 && id < 4500;
}

static bool
from_3000_to_6000(uint32_t id)
{
    return id >= 3000 && id < 6000;
}

TEST(lookup_by_mac_after_removal_and_reuse)
{
    struct dhcp6_binding b = {vm, {0}};
    struct dhcp6_config c = many_config(&b, 1);
    struct dhcp6_server *s = NULL;
    struct dhcp6_reply rep;
    uint8_t a[16];

    memcpy(b.addr, vm_addr, 16);
    CHECK_EQ(dhcp6_server_create(&c, &s), 0);

    /* 3,000 bindings: each bound client is offered its address, the next
     * 1,000 ids (absent) nothing, and offers leave those leases alone. */
    bind_range(s, 0, 1, 3000, 0);
    CHECK(offers_range(s, 0, 4000, below_3000, 0, 10));
    CHECK_EQ(dhcp6_server_n_leases(s), 3000);
    CHECK_EQ(dhcp6_server_lease(s, 2999)->state, DHCP6_ST_ADVERTISED);
    CHECK_EQ(dhcp6_server_lease(s, 2999)->iaid, 2999);

    /* Client 6 binds, 8 releases, 10 declines. */
    many_addr(6, 0, a);
    CHECK(client_sends(s, 6, DHCP6_REQUEST, 1, a, 20, &rep));
    many_addr(8, 0, a);
    CHECK(client_sends(s, 8, DHCP6_RELEASE, 1, a, 20, &rep));
    many_addr(10, 0, a);
    CHECK(client_sends(s, 10, DHCP6_DECLINE, 1, a, 20, &rep));

    /* The odd ones removed: the even ones move down to half their index and
     * keep their state; the odd ones are absent. */
    bind_range(s, 0, 2, 1500, 0);
    CHECK_EQ(dhcp6_server_n_leases(s), 1500);
    CHECK_EQ(dhcp6_server_lease(s, 3)->state, DHCP6_ST_BOUND);
    CHECK_EQ(dhcp6_server_lease(s, 3)->expires, 20 + MANY_VALID);
    CHECK_EQ(dhcp6_server_lease(s, 4)->state, DHCP6_ST_RELEASED);
    CHECK_EQ(dhcp6_server_lease(s, 5)->state, DHCP6_ST_DECLINED);
    CHECK_EQ(dhcp6_server_lease(s, 1499)->iaid, 2998);
    /* Long past its expiry a lease is still the client's (as ever: there
     * is no expiry here); released is offered again, declined is not. */
    {
        bool ok = true;
        for (uint32_t id = 0; id < 3000; id++) {
            many_addr(id, 0, a);
            ok &= offers(s, id, 7, even_below_3000(id) && id != 10 ? a : NULL,
                         100000);
        }
        CHECK(ok);
    }
    CHECK_EQ(dhcp6_server_lease(s, 3)->state, DHCP6_ST_BOUND);
    CHECK_EQ(dhcp6_server_lease(s, 4)->state, DHCP6_ST_ADVERTISED);
    CHECK_EQ(dhcp6_server_lease(s, 1499)->iaid, 7);

    /* Down to nothing, then up again over another range: no client of the
     * empty configuration is found, and one bound before that comes back
     * with a fresh lease (its old state went with its binding). */
    bind_range(s, 0, 1, 0, 0);
    CHECK_EQ(dhcp6_server_n_leases(s), 0);
    CHECK(offers_range(s, 0, 3000, none, 0, 200));
    bind_range(s, 1500, 1, 3000, 0);
    CHECK_EQ(dhcp6_server_n_leases(s), 3000);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_NONE);
    CHECK(offers_range(s, 0, 5000, from_1500_to_4500, 0, 300));

    /* The same clients with new addresses: offered the new ones. */
    bind_range(s, 1500, 1, 3000, 1);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_NONE);
    CHECK(offers_range(s, 0, 5000, from_1500_to_4500, 1, 400));

    /* As many bindings, other clients (half of them bound before, now at
     * other positions). */
    bind_range(s, 3000, 1, 3000, 1);
    CHECK_EQ(dhcp6_server_n_leases(s), 3000);
    CHECK(offers_range(s, 0, 6500, from_3000_to_6000, 1, 450));

    /* A small configuration after a large one. */
    bind_range(s, 0, 1, 5, 0);
    CHECK_EQ(dhcp6_server_n_leases(s), 5);
    CHECK(offers_range(s, 0, 5000, below_5, 0, 500));
    dhcp6_server_destroy(s);
}

TEST(duplicate_macs_first_binding_wins)
{
    struct dhcp6_binding b[4];
    struct dhcp6_config c = many_config(b, 1);
    struct dhcp6_server *s = NULL;
    struct dhcp6_reply rep;
    uint8_t a0[16], a1[16], a2[16];

    many_addr(1, 0, a0);
    many_addr(1, 1, a1);
    many_addr(2, 0, a2);

    /* Client 1 bound with a1. */
    b[0] = binding(1, a1);
    CHECK_EQ(dhcp6_server_create(&c, &s), 0);
    CHECK(offers(s, 1, 5, a1, 10));
    CHECK(client_sends(s, 1, DHCP6_REQUEST, 5, a1, 11, &rep));
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_BOUND);
    CHECK_EQ(dhcp6_server_lease(s, 0)->expires, 11 + MANY_VALID);

    /* [1 -> a0, 1 -> a1, 2 -> a2]: the first binding of client 1 serves
     * it; the second keeps the state of a1. */
    b[0] = binding(1, a0);
    b[1] = binding(1, a1);
    b[2] = binding(2, a2);
    c.n_bindings = 3;
    CHECK_EQ(dhcp6_server_reconfigure(s, &c), 0);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_NONE);
    CHECK_EQ(dhcp6_server_lease(s, 1)->state, DHCP6_ST_BOUND);
    CHECK(offers(s, 1, 6, a0, 20));
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_ADVERTISED);
    CHECK_EQ(dhcp6_server_lease(s, 0)->iaid, 6);
    CHECK_EQ(dhcp6_server_lease(s, 1)->iaid, 5);
    CHECK(offers(s, 2, 9, a2, 20));

    /* [1 -> a1, 1 -> a0, 1 -> a1, 2 -> a2]: both a1 bindings take the one
     * old a1 lease; a0 its own.  Client 1 is now served a1 from index 0. */
    b[0] = binding(1, a1);
    b[1] = binding(1, a0);
    b[2] = binding(1, a1);
    b[3] = binding(2, a2);
    c.n_bindings = 4;
    CHECK_EQ(dhcp6_server_reconfigure(s, &c), 0);
    CHECK_EQ(dhcp6_server_lease(s, 0)->state, DHCP6_ST_BOUND);
    CHECK_EQ(dhcp6_server_lease(s, 1)->state, DHCP6_ST_ADVERTISED);
    CHECK_EQ(dhcp6_server_lease(s, 2)->state, DHCP6_ST_BOUND);
    CHECK_EQ(dhcp6_server_lease(s, 2)->expires, 11 + MANY_VALID);
    CHECK_EQ(dhcp6_server_lease(s, 3)->state, DHCP6_ST_ADVERTISED);

    /* A REQUEST renews only the first (index 0): the two a1 leases now
     * differ, and the next configuration takes the first of them. */
    CHECK(client_sends(s, 1, DHCP6_REQUEST, 8, a1, 30, &rep));
    CHECK_EQ(dhcp6_server_lease(s, 0)->expires, 30 + MANY_VALID);
    CHECK_EQ(dhcp6_server_lease(s, 2)->expires, 11 + MANY_VALID);
    b[0] = b[3]; /* [2 -> a2, 1 -> a0, 1 -> a1] */
    c.n_bindings = 3;
    CHECK_EQ(dhcp6_server_reconfigure(s, &c), 0);
    CHECK_EQ(dhcp6_server_lease(s, 2)->expires, 30 + MANY_VALID);
    CHECK_EQ(dhcp6_server_lease(s, 2)->iaid, 8);
    CHECK(offers(s, 1, 3, a0, 40));
    CHECK_EQ(dhcp6_server_lease(s, 1)->iaid, 3);
    CHECK_EQ(dhcp6_server_lease(s, 2)->iaid, 8);

    /* Declining the first binding's address: client 1 gets nothing, even
     * with another binding of its MAC further on. */
    CHECK(client_sends(s, 1, DHCP6_DECLINE, 3, a0, 50, &rep));
    CHECK(rep.declined);
    CHECK_EQ(dhcp6_server_lease(s, 1)->state, DHCP6_ST_DECLINED);
    CHECK(offers(s, 1, 3, NULL, 60));
    CHECK_EQ(dhcp6_server_lease(s, 2)->state, DHCP6_ST_BOUND);

    /* As many bindings, moved: [1 -> a1, 2 -> a2, 1 -> a0].  Now a1 is
     * client 1's first, and offered. */
    b[0] = binding(1, a1);
    b[1] = binding(2, a2);
    b[2] = binding(1, a0);
    CHECK_EQ(dhcp6_server_reconfigure(s, &c), 0);
    CHECK_EQ(dhcp6_server_lease(s, 2)->state, DHCP6_ST_DECLINED);
    CHECK(offers(s, 1, 4, a1, 70));
    CHECK_EQ(dhcp6_server_lease(s, 0)->iaid, 4);
    CHECK(offers(s, 2, 4, a2, 70));
    dhcp6_server_destroy(s);
}
