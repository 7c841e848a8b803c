/* Unit tests of the DHCPv6 server logic (dhcp6.h): the stateful exchange
 * (SOLICIT/ADVERTISE/REQUEST/REPLY, Rapid Commit, RENEW, REBIND, RELEASE,
 * DECLINE), CONFIRM, the stateless INFORMATION-REQUEST with DNS and
 * search list, clients without a binding, reconfiguration, the reply
 * frame with its checksum, and one test per malformation. */
#include "datapath/dhcp6.h"

#include <arpa/inet.h>
#include <errno.h>

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
