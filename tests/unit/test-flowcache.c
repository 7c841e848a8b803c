/* Unit tests of the flow cache (flowcache.h): which frames it keys and on
 * what (IPv4 and IPv6), the tables' placement and staleness rules, and a
 * differential test of the whole pipeline with the cache against the
 * pipeline without it, over random traffic of both families and a table
 * change mid-way. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/flowcache.h"
#include "datapath/parse.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "datapath/tunnel.h"
#include "testlib.h"

/* Builds Ethernet/IPv4/'proto' with ports; 'opts' bytes of IP options,
 * 'vlan' adds an 802.1Q tag.  Returns the length. */
static uint32_t
frame(uint8_t *f, const struct eth_addr *dst, const struct eth_addr *src,
      uint32_t sip, uint32_t dip, uint8_t proto, uint16_t sport, uint16_t dport,
      uint8_t tos, uint8_t ttl, int opts, bool vlan)
{
    uint32_t o = 0, l4_len = proto == IPPROTO_TCP_ ? 20 : 8;
    uint32_t ip_len = 20 + (uint32_t)opts + l4_len + 16;

    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    o = 12;
    if (vlan) {
        f[o++] = 0x81, f[o++] = 0x00, f[o++] = 0x00, f[o++] = 0x07;
    }
    f[o++] = 0x08, f[o++] = 0x00;
    struct ipv4_hdr ip = {
        .ver_ihl = (uint8_t)(0x40 | (5 + opts / 4)),
        .tos = tos,
        .tot_len = htons((uint16_t)ip_len),
        .ttl = ttl,
        .proto = proto,
        .src = htonl(sip),
        .dst = htonl(dip),
    };
    memcpy(f + o, &ip, 20);
    memset(f + o + 20, 1, (size_t)opts); /* NOPs */
    o += 20 + (uint32_t)opts;
    memset(f + o, 0, l4_len + 16);
    f[o] = (uint8_t)(sport >> 8), f[o + 1] = (uint8_t)sport;
    f[o + 2] = (uint8_t)(dport >> 8), f[o + 3] = (uint8_t)dport;
    if (proto == IPPROTO_TCP_) {
        f[o + 12] = 5 << 4;
        f[o + 13] = 0x10; /* ACK */
    } else {
        f[o + 4] = (uint8_t)((l4_len + 16) >> 8);
        f[o + 5] = (uint8_t)(l4_len + 16);
    }
    return o + l4_len + 16;
}

/* The same over IPv6 from fd00::'sip' to fd00::'dip': 'ext' adds a
 * destination-options header, 'frag' a fragment header (first fragment);
 * 'tc' and 'flow' go into the traffic class and flow label. */
static uint32_t
frame6(uint8_t *f, const struct eth_addr *dst, const struct eth_addr *src,
       uint8_t sip, uint8_t dip, uint8_t proto, uint16_t sport, uint16_t dport,
       uint8_t tc, uint32_t flow, uint8_t hops, bool ext, bool frag, bool vlan)
{
    uint32_t o = 12, l4_len = proto == IPPROTO_TCP_ ? 20 : 8;
    uint32_t ext_len = (ext ? 8 : 0) + (frag ? 8 : 0);
    uint32_t pl_len = ext_len + l4_len + 16;
    uint8_t first = ext ? 60 : frag ? 44 : proto;

    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    if (vlan) {
        f[o++] = 0x81, f[o++] = 0x00, f[o++] = 0x00, f[o++] = 0x07;
    }
    f[o++] = 0x86, f[o++] = 0xdd;
    uint32_t vtf = htonl(6u << 28 | (uint32_t)tc << 20 | (flow & 0xfffff));
    memcpy(f + o, &vtf, 4);
    f[o + 4] = (uint8_t)(pl_len >> 8), f[o + 5] = (uint8_t)pl_len;
    f[o + 6] = first;
    f[o + 7] = hops;
    memset(f + o + 8, 0, 32);
    f[o + 8] = 0xfd, f[o + 23] = sip;
    f[o + 24] = 0xfd, f[o + 39] = dip;
    o += 40;
    if (ext) { /* destination options: 6 bytes of PadN */
        memset(f + o, 0, 8);
        f[o] = frag ? 44 : proto;
        f[o + 2] = 1, f[o + 3] = 4;
        o += 8;
    }
    if (frag) { /* offset 0, more fragments */
        memset(f + o, 0, 8);
        f[o] = proto;
        f[o + 3] = 1;
        f[o + 7] = 9;
        o += 8;
    }
    memset(f + o, 0, l4_len + 16);
    f[o] = (uint8_t)(sport >> 8), f[o + 1] = (uint8_t)sport;
    f[o + 2] = (uint8_t)(dport >> 8), f[o + 3] = (uint8_t)dport;
    if (proto == IPPROTO_TCP_) {
        f[o + 12] = 5 << 4;
        f[o + 13] = 0x10; /* ACK */
    } else {
        f[o + 4] = (uint8_t)((l4_len + 16) >> 8);
        f[o + 5] = (uint8_t)(l4_len + 16);
    }
    return o + l4_len + 16;
}

static const struct eth_addr mac_a = {{0x02, 0, 0, 0, 0, 0x0a}};
static const struct eth_addr mac_b = {{0x02, 0, 0, 0, 0, 0x0b}};
static const struct eth_addr mac_c = {{0x02, 0, 0, 0, 0, 0x0c}};
static const struct eth_addr mac_d = {{0x02, 0, 0, 0, 0, 0x0d}};
static const struct eth_addr mac_u = {{0x02, 0, 0, 0, 0, 0x99}}; /* unknown */
static const struct eth_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

/* Parses 'f' into 'p' (a stack packet over 'f'). */
static bool
parse_into(struct dp_packet *p, uint8_t *f, uint32_t len)
{
    memset(p, 0, sizeof *p);
    p->data = p->base = f;
    p->len = p->cap = len;
    return dp_parse(p) == DP_DROP_NONE;
}

TEST(key_takes_plain_ipv4_tcp_udp_only)
{
    uint8_t f[256];
    struct dp_packet p;
    struct dp_fc_key k;
    uint32_t len;

    len = frame(f, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_TCP_, 1000,
                80, 0, 64, 0, false);
    CHECK(parse_into(&p, f, len));
    CHECK(dp_fc_key(&p, 5, &k));
    len = frame(f, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_UDP_, 1000,
                53, 0, 64, 0, false);
    CHECK(parse_into(&p, f, len));
    CHECK(dp_fc_key(&p, 5, &k));

    /* Not taken: a VLAN tag, IP options, ICMP, a fragment. */
    len = frame(f, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_TCP_, 1000,
                80, 0, 64, 0, true);
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key(&p, 5, &k));
    len = frame(f, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_TCP_, 1000,
                80, 0, 64, 4, false);
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key(&p, 5, &k));
    len = frame(f, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_ICMP_, 0, 0,
                0, 64, 0, false);
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key(&p, 5, &k));
    len = frame(f, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_UDP_, 1000,
                53, 0, 64, 0, false);
    f[20] = 0x20; /* more fragments */
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key(&p, 5, &k));
}

TEST(key_ignores_tos_ttl_and_checksum_only)
{
    uint8_t f[256], g[256];
    struct dp_packet p, q;
    struct dp_fc_key k = {{0}}, k2 = {{0}};
    uint32_t len;

    len = frame(f, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_TCP_, 1000,
                80, 0, 64, 0, false);
    CHECK(parse_into(&p, f, len) && dp_fc_key(&p, 5, &k));
    frame(g, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_TCP_, 1000, 80,
          0xb8, 3, 0, false);
    g[24] = 0x12, g[25] = 0x34; /* checksum */
    CHECK(parse_into(&q, g, len) && dp_fc_key(&q, 5, &k2));
    CHECK(dp_fc_key_eq(&k, &k2));

    /* Every byte a decision depends on changes the key. */
    static const int deps[] = {0, 5, 6, 11, 23, 26, 29, 30, 33, 34, 35, 36, 37};
    size_t keyed = 0;
    for (size_t i = 0; i < ARRAY_SIZE(deps); i++) {
        memcpy(g, f, len);
        g[deps[i]] ^= 0x01;
        if (deps[i] == 23) {
            g[23] = IPPROTO_UDP_;
        }
        if (!parse_into(&q, g, len) || !dp_fc_key(&q, 5, &k2)) {
            continue; /* no longer a frame the cache takes: also fine */
        }
        keyed++;
        CHECK(!dp_fc_key_eq(&k, &k2));
    }
    CHECK(keyed >= ARRAY_SIZE(deps) / 2); /* the loop compared keys */

    /* The same frame from another port is another key. */
    CHECK(parse_into(&q, f, len) && dp_fc_key(&q, 6, &k2));
    CHECK(!dp_fc_key_eq(&k, &k2));
}

TEST(key6_takes_plain_ipv6_tcp_udp_only)
{
    uint8_t f[256];
    struct dp_packet p;
    struct dp_fc_key6 k;
    struct dp_fc_key k4;
    uint32_t len;

    len = frame6(f, &mac_b, &mac_a, 1, 2, IPPROTO_TCP_, 1000, 80, 0, 0, 64,
                 false, false, false);
    CHECK(parse_into(&p, f, len));
    CHECK(dp_fc_key6(&p, 5, &k));
    CHECK(!dp_fc_key(&p, 5, &k4)); /* and not as IPv4 */
    len = frame6(f, &mac_b, &mac_a, 1, 2, IPPROTO_UDP_, 1000, 53, 0, 0, 64,
                 false, false, false);
    CHECK(parse_into(&p, f, len));
    CHECK(dp_fc_key6(&p, 5, &k));

    /* Not taken: an extension header, a fragment, a VLAN tag, ICMPv6;
     * nor IPv4. */
    len = frame6(f, &mac_b, &mac_a, 1, 2, IPPROTO_TCP_, 1000, 80, 0, 0, 64,
                 true, false, false);
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key6(&p, 5, &k));
    len = frame6(f, &mac_b, &mac_a, 1, 2, IPPROTO_UDP_, 1000, 53, 0, 0, 64,
                 false, true, false);
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key6(&p, 5, &k));
    len = frame6(f, &mac_b, &mac_a, 1, 2, IPPROTO_TCP_, 1000, 80, 0, 0, 64,
                 false, false, true);
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key6(&p, 5, &k));
    len = frame6(f, &mac_b, &mac_a, 1, 2, IPPROTO_ICMPV6_, 0, 0, 0, 0, 64,
                 false, false, false);
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key6(&p, 5, &k));
    len = frame(f, &mac_b, &mac_a, 0x0a000001, 0x0a000002, IPPROTO_TCP_, 1000,
                80, 0, 64, 0, false);
    CHECK(parse_into(&p, f, len));
    CHECK(!dp_fc_key6(&p, 5, &k));
}

TEST(key6_ignores_class_label_hops_and_length_only)
{
    uint8_t f[256], g[256];
    struct dp_packet p, q;
    struct dp_fc_key6 k = {{0}}, k2 = {{0}};
    uint32_t len;

    len = frame6(f, &mac_b, &mac_a, 1, 2, IPPROTO_TCP_, 1000, 80, 0, 0, 64,
                 false, false, false);
    CHECK(parse_into(&p, f, len) && dp_fc_key6(&p, 5, &k));
    frame6(g, &mac_b, &mac_a, 1, 2, IPPROTO_TCP_, 1000, 80, 0xb8, 0x12345, 3,
           false, false, false);
    g[18] = 0, g[19] = 32;      /* payload length (the rest: padding) */
    g[58] = 0x55, g[59] = 0x66; /* TCP sequence number */
    CHECK(parse_into(&q, g, len) && dp_fc_key6(&q, 5, &k2));
    CHECK(dp_fc_key6_eq(&k, &k2));

    /* Every byte a decision depends on changes the key: the MACs, the
     * next header, each address's first and last bytes, the ports. */
    static const int deps[] = {0,  5,  6,  11, 20, 22, 29, 37,
                               38, 45, 53, 54, 55, 56, 57};
    size_t keyed = 0;
    for (size_t i = 0; i < ARRAY_SIZE(deps); i++) {
        memcpy(g, f, len);
        g[deps[i]] ^= 0x01;
        if (deps[i] == 20) {
            g[20] = IPPROTO_UDP_;
        }
        if (!parse_into(&q, g, len) || !dp_fc_key6(&q, 5, &k2)) {
            continue; /* no longer a frame the cache takes: also fine */
        }
        keyed++;
        CHECK(!dp_fc_key6_eq(&k, &k2));
    }
    CHECK(keyed >= ARRAY_SIZE(deps) / 2); /* the loop compared keys */

    /* The same frame from another port is another key. */
    CHECK(parse_into(&q, f, len) && dp_fc_key6(&q, 6, &k2));
    CHECK(!dp_fc_key6_eq(&k, &k2));
}

/* A key as dp_fc_key() would make for flow 'i' from port 'port'. */
static void
flow_key(struct dp_fc_key *k, uint32_t i, uint16_t port)
{
    memset(k, 0, sizeof *k);
    k->w[2] = (uint64_t)port << 16;
    k->w[3] = (uint64_t)i << 32 | 0x0100000a;
}

/* The key compares (SSE4.1 in the build) against memcmp(): equal keys,
 * and every single-bit difference in every word, both ways round, from
 * keys in heap buffers of exactly their size (ASan sees any overread). */
TEST(key_compares_match_memcmp)
{
    struct dp_fc_key *a = xmalloc(sizeof *a), *b = xmalloc(sizeof *b);
    struct dp_fc_key6 *a6 = xmalloc(sizeof *a6), *b6 = xmalloc(sizeof *b6);

    srand(7);
    for (int round = 0; round < 64; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(a->w); i++) {
            a->w[i] = (uint64_t)rand() << 33 ^ (uint64_t)rand();
        }
        for (size_t i = 0; i < ARRAY_SIZE(a6->w); i++) {
            a6->w[i] = (uint64_t)rand() << 33 ^ (uint64_t)rand();
        }
        *b = *a;
        *b6 = *a6;
        CHECK(dp_fc_key_eq(a, b));
        CHECK(dp_fc_key6_eq(a6, b6));
        for (size_t bit = 0; bit < 64 * ARRAY_SIZE(a->w); bit++) {
            b->w[bit / 64] ^= 1ull << (bit % 64);
            CHECK(!dp_fc_key_eq(a, b) && !dp_fc_key_eq(b, a));
            CHECK_EQ(dp_fc_key_eq(a, b), !memcmp(a, b, sizeof *a));
            b->w[bit / 64] ^= 1ull << (bit % 64);
        }
        for (size_t bit = 0; bit < 64 * ARRAY_SIZE(a6->w); bit++) {
            b6->w[bit / 64] ^= 1ull << (bit % 64);
            CHECK(!dp_fc_key6_eq(a6, b6) && !dp_fc_key6_eq(b6, a6));
            b6->w[bit / 64] ^= 1ull << (bit % 64);
        }
        CHECK(dp_fc_key_eq(a, b) && dp_fc_key6_eq(a6, b6));
    }
    free(a);
    free(b);
    free(a6);
    free(b6);
}

TEST(table_finds_what_it_holds_under_its_tables_only)
{
    struct dp_fc *fc = dp_fc_create();
    struct dp_fc_key k;
    enum { N = 10000 };
    int found = 0;

    /* 10,000 flows in 32,768 entries, each missing (and inserted) a few
     * times as a flow's packets would: two choices and a move keep
     * nearly every one.  How many depends on the hash seeds (random per
     * cache: over 3,000 random ones 98.2-100 %), so the test fixes them
     * and never flakes. */
    for (size_t i = 0; i < ARRAY_SIZE(fc->seed); i++) {
        fc->seed[i] = 0x9e3779b97f4a7c15ull * (i + 1);
    }
    for (int round = 0; round < 16; round++) {
        for (uint32_t i = 0; i < N; i++) {
            flow_key(&k, i, 5);
            uint32_t h = dp_fc_hash(fc, &k);
            if (!dp_fc_lookup(fc, &k, h, 42)) {
                dp_fc_insert(fc, &k, h, 42, DP_FC_REMOTE, i % 100, NULL, NULL,
                             0);
            }
        }
    }
    for (uint32_t i = 0; i < N; i++) {
        flow_key(&k, i, 5);
        uint32_t h = dp_fc_hash(fc, &k);
        const struct dp_fc_val *e = dp_fc_lookup(fc, &k, h, 42);
        if (e) {
            found++;
            CHECK_EQ(e->action, (uint32_t)DP_FC_REMOTE << 24 | i % 100);
            CHECK_EQ(e->ct.conn, 0); /* no connection */
        }
        /* Never under other tables or from another port. */
        CHECK(!dp_fc_lookup(fc, &k, h, 43));
        flow_key(&k, i, 6);
        CHECK(!dp_fc_lookup(fc, &k, dp_fc_hash(fc, &k), 42));
    }
    CHECK(found >= N * 99 / 100);

    /* VTEP indexes past 24 bits are not cached. */
    memset(&k, 0xab, sizeof k);
    uint32_t h = dp_fc_hash(fc, &k);
    CHECK(!dp_fc_insert(fc, &k, h, 44, DP_FC_REMOTE, DP_FC_TARGET_MAX + 1, NULL,
                        NULL, 0));
    CHECK(!dp_fc_lookup(fc, &k, h, 44));
    dp_fc_destroy(fc);
}

/* An IPv6 key as dp_fc_key6() would make for flow 'i' from 'port'. */
static void
flow_key6(struct dp_fc_key6 *k, uint32_t i, uint16_t port)
{
    memset(k, 0, sizeof *k);
    k->w[1] = (uint64_t)port << 48;
    k->w[2] = 0xfd0006;
    k->w[6] = (uint64_t)i << 16;
}

TEST(table6_finds_what_it_holds_under_its_tables_only)
{
    struct dp_fc *fc = dp_fc_create();
    struct dp_fc_key6 k;
    struct dp_fc_key k4;
    enum { N = 10000 };
    int found = 0;

    /* 10,000 flows in 32,768 entries, as above (seeds fixed too). */
    for (size_t i = 0; i < ARRAY_SIZE(fc->seed); i++) {
        fc->seed[i] = 0x9e3779b97f4a7c15ull * (i + 1);
    }
    for (int round = 0; round < 16; round++) {
        for (uint32_t i = 0; i < N; i++) {
            flow_key6(&k, i, 5);
            uint32_t h = dp_fc_hash6(fc, &k);
            if (!dp_fc_lookup6(fc, &k, h, 42)) {
                dp_fc_insert6(fc, &k, h, 42, DP_FC_LOCAL, i % 50, NULL, NULL,
                              0);
            }
        }
    }
    for (uint32_t i = 0; i < N; i++) {
        flow_key6(&k, i, 5);
        uint32_t h = dp_fc_hash6(fc, &k);
        const struct dp_fc_val *e = dp_fc_lookup6(fc, &k, h, 42);
        if (e) {
            found++;
            CHECK_EQ(e->action, (uint32_t)DP_FC_LOCAL << 24 | i % 50);
            CHECK_EQ(e->ct.conn, 0);
        }
        CHECK(!dp_fc_lookup6(fc, &k, h, 43));
        /* The IPv4 table is another table: nothing there. */
        memcpy(&k4, &k, sizeof k4);
        CHECK(!dp_fc_lookup(fc, &k4, h, 42));
        flow_key6(&k, i, 6);
        CHECK(!dp_fc_lookup6(fc, &k, dp_fc_hash6(fc, &k), 42));
    }
    CHECK(found >= N * 99 / 100);
    dp_fc_destroy(fc);
}

/* ---- The pipeline with and without the cache. ---- */

#define N_PORTS 6 /* 0 geneve, 1 vxlan, 2..5 VIFs */

struct rig {
    struct dp_port *ports[N_PORTS];
    struct dp_pool *pool;
    struct dp_pipeline *pl;
};

static const uint8_t vtep1[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 2};
static const uint8_t vtep2[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 3};

static void
rig_open(struct rig *r, bool cache)
{
    struct dp_pipeline_options o;

    dp_pipeline_options_default(&o);
    o.no_flow_cache = !cache;
    o.flow_cache_all = cache; /* these VIFs have no firewall */
    r->pool = dp_pool_create(1024, 4096);
    r->pl = dp_pipeline_create(r->pool, &o);
    for (int i = 0; i < N_PORTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        dp_port_dummy_class.open(name, NULL, &r->ports[i]);
    }
}

static void
rig_close(struct rig *r)
{
    dp_pipeline_destroy(r->pl);
    for (int i = 0; i < N_PORTS; i++) {
        dp_port_close(r->ports[i]);
    }
    dp_pool_destroy(r->pool);
}

/* A on port 2, B on 3, D on 5 (blue); X on 4 (red); C remote on 'c_at';
 * D's port moves to 'd_port' in the second version. */
static struct dp_tables *
tables(struct rig *r, const uint8_t *c_at, uint16_t d_port)
{
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    dp_tb_set_ports(b, r->ports, N_PORTS);
    dp_tb_set_underlay(b, 1600, false);
    uint32_t blue = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    uint32_t red = dp_tb_add_segment(b, 5002, DP_ENCAP_VXLAN);
    dp_tb_add_local(b, blue, 2, 11, &mac_a);
    dp_tb_add_local(b, blue, 3, 12, &mac_b);
    dp_tb_add_local(b, blue, d_port, 14, &mac_d);
    dp_tb_add_remote(b, blue, &mac_c, c_at, 21);
    dp_tb_add_flood(b, blue, vtep1);
    dp_tb_add_flood(b, blue, vtep2);
    dp_tb_add_local(b, red, 4, 31, &mac_b);
    dp_tb_add_flood(b, red, vtep1);
    return dp_tables_build(b);
}

/* Everything sent since the last call, per port, as one string of
 * frames with their tunnel peers; flow hashes are left out (the cache
 * picks its own), but within a run each flow must keep one. */
static size_t
drain(struct rig *r, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (int p = 0; p < N_PORTS; p++) {
        uint8_t buf[4096], peer[16];
        uint32_t hash;
        int len;
        while ((len = dp_dummy_take_meta(r->ports[p], buf, sizeof buf, peer,
                                         &hash)) >= 0) {
            if (n + (size_t)len + 24 > cap) {
                return n;
            }
            out[n++] = (uint8_t)p;
            memcpy(out + n, &len, sizeof len);
            n += sizeof len;
            if (p < 2) {
                memcpy(out + n, peer, 16);
                n += 16;
            }
            memcpy(out + n, buf, (size_t)len);
            n += (size_t)len;
        }
    }
    return n;
}

/* One frame drain() wrote: where its record starts, how long the record
 * is, its port and the sequence number at the end of its payload. */
struct out_rec {
    const uint8_t *rec;
    size_t len;
    uint8_t port;
    uint32_t seq;
};

static int
split_out(const uint8_t *buf, size_t n, struct out_rec *recs, int cap)
{
    int k = 0;
    for (size_t o = 0; o < n && k < cap; k++) {
        int len;
        size_t head = 1 + sizeof len + (buf[o] < 2 ? 16 : 0);
        memcpy(&len, buf + o + 1, sizeof len);
        recs[k].rec = buf + o;
        recs[k].len = head + (size_t)len;
        recs[k].port = buf[o];
        memcpy(&recs[k].seq, buf + o + head + (size_t)len - 4, 4);
        o += recs[k].len;
    }
    return k;
}

static int
out_rec_cmp(const void *a_, const void *b_)
{
    const struct out_rec *a = a_, *b = b_;
    if (a->seq != b->seq) {
        return a->seq < b->seq ? -1 : 1;
    }
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    return memcmp(a->rec, b->rec, a->len);
}

/* True if the two drained outputs hold the same frames to the same
 * ports, and in 'on' the frames of each flow ('flow_of' by sequence
 * number) leave each port in the order they came: frames of different
 * flows may pass each other (the cache sends hits ahead of frames that
 * take the full way). */
static bool
same_frames_in_flow_order(const uint8_t *on, const uint8_t *off, size_t n,
                          const uint64_t *flow_of)
{
    static struct out_rec a[1024], b[1024];
    int na = split_out(on, n, a, 1024);
    int nb = split_out(off, n, b, 1024);

    for (int i = 0; i < na; i++) {
        for (int j = i + 1; j < na; j++) {
            if (a[i].port == a[j].port &&
                flow_of[a[i].seq] == flow_of[a[j].seq] && a[i].seq > a[j].seq) {
                fprintf(stderr, "frames %u and %u of one flow reordered\n",
                        a[i].seq, a[j].seq);
                return false;
            }
        }
    }
    if (na != nb) {
        return false;
    }
    qsort(a, (size_t)na, sizeof *a, out_rec_cmp);
    qsort(b, (size_t)nb, sizeof *b, out_rec_cmp);
    for (int i = 0; i < na; i++) {
        if (out_rec_cmp(&a[i], &b[i])) {
            return false;
        }
    }
    return true;
}

TEST(pipeline_with_cache_matches_pipeline_without)
{
    static const struct eth_addr *const dsts[] = {&mac_a, &mac_b, &mac_c,
                                                  &mac_d, &mac_u, &bcast};
    struct rig on, off;
    static uint64_t flow_of[200 * DP_BATCH_MAX]; /* by sequence number */
    uint32_t n_seq = 0;
    uint8_t *out_on = malloc(1 << 20), *out_off = malloc(1 << 20);
    unsigned seed = 12345;

    rig_open(&on, true);
    rig_open(&off, false);
    struct dp_tables *t_on = tables(&on, vtep1, 5);
    struct dp_tables *t_off = tables(&off, vtep1, 5);
    for (int round = 0; round < 200; round++) {
        if (round == 100) {
            /* C moves to vtep2 and D to port 3's side: new tables. */
            dp_tables_free(t_on);
            dp_tables_free(t_off);
            t_on = tables(&on, vtep2, 3);
            t_off = tables(&off, vtep2, 3);
        }
        uint16_t in = (uint16_t)(2 + rand_r(&seed) % 4);
        int n = 1 + rand_r(&seed) % DP_BATCH_MAX;
        for (int i = 0; i < n; i++) {
            uint8_t f[256];
            int d = rand_r(&seed) % 6;
            const struct eth_addr *dst = dsts[d];
            uint8_t proto = rand_r(&seed) % 8 ? IPPROTO_TCP_ : IPPROTO_UDP_;
            uint32_t len, dip;
            uint64_t flow;
            uint16_t sport;
            if (rand_r(&seed) % 3) {
                dip = rand_r(&seed) % 3;
                sport = (uint16_t)(1000 + rand_r(&seed) % 8);
                uint8_t tos = (uint8_t)(rand_r(&seed) % 2);
                int opts = rand_r(&seed) % 16 ? 0 : 4;
                bool vlan = rand_r(&seed) % 16 == 0;
                len = frame(f, dst, &mac_a, 0x0a000001, 0x0a000002 + dip, proto,
                            sport, 80, tos, 64, opts, vlan);
                flow = (uint64_t)opts << 1 | vlan;
            } else { /* IPv6, some with an extension header or a tag */
                dip = (uint32_t)(2 + rand_r(&seed) % 3);
                sport = (uint16_t)(1000 + rand_r(&seed) % 8);
                uint8_t tc = (uint8_t)(rand_r(&seed) % 2);
                uint32_t label = (uint32_t)(rand_r(&seed) % 2);
                bool ext = rand_r(&seed) % 16 == 0;
                bool vlan = rand_r(&seed) % 16 == 0;
                len = frame6(f, dst, &mac_a, 1, (uint8_t)dip, proto, sport, 80,
                             tc, label, 64, ext, false, vlan);
                flow = 1u << 8 | (uint64_t)ext << 1 | vlan;
            }
            /* What makes a flow: all but the traffic class and the flow
             * label, which the cache's key leaves out. */
            flow = (((flow << 3 | (uint64_t)d) << 2 | dip) << 8 | proto) << 16 |
                   sport;
            flow_of[n_seq] = flow;
            memcpy(f + len - 4, &n_seq, 4); /* the payload's end */
            n_seq++;
            dp_dummy_inject(on.ports[in], f, len);
            dp_dummy_inject(off.ports[in], f, len);
        }
        struct dp_packet *pkts[DP_BATCH_MAX];
        int k = dp_port_rx(on.ports[in], on.pool, pkts, DP_BATCH_MAX);
        dp_pipeline_run(on.pl, t_on, in, pkts, k);
        dp_pipeline_flush(on.pl, t_on);
        k = dp_port_rx(off.ports[in], off.pool, pkts, DP_BATCH_MAX);
        dp_pipeline_run(off.pl, t_off, in, pkts, k);
        dp_pipeline_flush(off.pl, t_off);
        size_t a = drain(&on, out_on, 1 << 20);
        size_t b = drain(&off, out_off, 1 << 20);
        if (!CHECK_EQ(a, b) ||
            !CHECK(same_frames_in_flow_order(out_on, out_off, a, flow_of))) {
            fprintf(stderr, "round %d from port %u differs\n", round, in);
            break;
        }
    }
    const struct dp_counters *c_on = dp_pipeline_counters(on.pl);
    const struct dp_counters *c_off = dp_pipeline_counters(off.pl);
    CHECK(c_on->flow_cache_hits > c_on->rx_packets / 10); /* it was used */
    CHECK_EQ(c_off->flow_cache_hits, 0);
    CHECK_EQ(c_on->l2_local, c_off->l2_local);
    CHECK_EQ(c_on->l2_remote, c_off->l2_remote);
    CHECK_EQ(c_on->flooded, c_off->flooded);
    CHECK_EQ(c_on->drops[DP_DROP_HAIRPIN], c_off->drops[DP_DROP_HAIRPIN]);
    dp_tables_free(t_on);
    dp_tables_free(t_off);
    rig_close(&on);
    rig_close(&off);
    free(out_on);
    free(out_off);
}

/* With the cache, every packet of a flow keeps one flow hash (outer UDP
 * source port): the first one, which missed, too. */
static void
flow_keeps_one_hash(int fam)
{
    struct rig r;
    uint8_t f[256], buf[4096], peer[16];
    uint32_t hash, first = 0;

    rig_open(&r, true);
    struct dp_tables *t = tables(&r, vtep1, 5);
    for (int i = 0; i < 5; i++) {
        struct dp_packet *pkts[DP_BATCH_MAX];
        uint32_t len = fam == 6
                           ? frame6(f, &mac_c, &mac_a, 1, 3, IPPROTO_TCP_, 4242,
                                    80, 0, (uint32_t)i, 64, false, false, false)
                           : frame(f, &mac_c, &mac_a, 0x0a000001, 0x0a000003,
                                   IPPROTO_TCP_, 4242, 80, 0, 64, 0, false);
        dp_dummy_inject(r.ports[2], f, len);
        int k = dp_port_rx(r.ports[2], r.pool, pkts, DP_BATCH_MAX);
        dp_pipeline_run(r.pl, t, 2, pkts, k);
        dp_pipeline_flush(r.pl, t);
        CHECK(dp_dummy_take_meta(r.ports[DP_PORT_GENEVE], buf, sizeof buf, peer,
                                 &hash) > 0);
        CHECK(!memcmp(peer, vtep1, 16));
        CHECK(hash != 0);
        if (i == 0) {
            first = hash;
        }
        CHECK_EQ(hash, first);
    }
    CHECK_EQ(dp_pipeline_counters(r.pl)->flow_cache_hits, 4);
    dp_tables_free(t);
    rig_close(&r);
}

TEST(flow_keeps_one_hash_through_miss_and_hits_v4)
{
    flow_keeps_one_hash(4);
}

/* (the flow label changes from packet to packet: the same flow still) */
TEST(flow_keeps_one_hash_through_miss_and_hits_v6)
{
    flow_keeps_one_hash(6);
}
