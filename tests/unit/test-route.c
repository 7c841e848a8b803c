/* Unit tests of the distributed router (route.h) in the pipeline, through
 * dummy ports: routed delivery (local and remote, IPv4 and IPv6), ICMP
 * errors (time exceeded, unreachable, too big) with their quoting and
 * checksums, discard routes, ECMP, administrative distance, unresolvable
 * next hops, IPv4 fragmenting, echo replies, ARP/ND for the gateway,
 * isolation between routers, and the rules that keep errors from
 * answering errors. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "datapath/csum.h"
#include "datapath/parse.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "datapath/route.h"
#include "datapath/tunnel.h"
#include "testlib.h"

/* Ports: 0 geneve, 1 vxlan, 2 A (s1), 3 B (s2), 4 C (s3), 5 D (s4), 6 E
 * (s5).  Router 1 joins s1 10.1.0.0/24, s2 10.2.0.0/24, s3 10.3.0.0/24
 * (and 2001:db8:N::/64); router 2 joins s4 10.1.0.0/24 and s5
 * 10.2.0.0/24: the same prefixes, isolated. */
#define N_PORTS 7
static struct dp_port *ports[N_PORTS];
static struct dp_pool *pool;
static struct dp_pipeline *pl;
static struct dp_tables *tables;
static uint64_t now_ms = 1000;

static const struct eth_addr rmac = {{0x02, 0xaa, 0, 0, 0, 0x01}};
static const struct eth_addr rmac2 = {{0x02, 0xaa, 0, 0, 0, 0x02}};
static const struct eth_addr mac_a = {{0x02, 0, 0, 0, 0, 0x0a}};
static const struct eth_addr mac_b = {{0x02, 0, 0, 0, 0, 0x0b}};
static const struct eth_addr mac_c = {{0x02, 0, 0, 0, 0, 0x0c}};
static const struct eth_addr mac_d = {{0x02, 0, 0, 0, 0, 0x0d}};
static const struct eth_addr mac_e = {{0x02, 0, 0, 0, 0, 0x0e}};
static const struct eth_addr mac_r = {{0x02, 0, 0, 0, 0, 0x20}};   /* remote */
static const struct eth_addr mac_nh1 = {{0x02, 0, 0, 0, 0, 0x31}}; /* remote */
static const struct eth_addr mac_nh2 = {{0x02, 0, 0, 0, 0, 0x32}}; /* remote */
/* A neighbour (10.2.0.30) whose MAC is in no MAC table: flooded. */
static const struct eth_addr mac_unknown = {{0x02, 0, 0, 0, 0, 0x40}};
static const uint8_t vtep1[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 2};
static const uint8_t vtep2[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 3};
static uint32_t seg[6];
static uint32_t router1, router2;

static uint64_t
test_clock(void *aux)
{
    (void)aux;
    return now_ms;
}

static void
v4m(uint32_t host_order, uint8_t ip[16])
{
    uint32_t v = htonl(host_order);
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    memcpy(ip + 12, &v, 4);
}

/* 2001:db8:<net>::<host> */
static void
v6a(uint16_t net, uint16_t host, uint8_t ip[16])
{
    memset(ip, 0, 16);
    ip[0] = 0x20;
    ip[1] = 0x01;
    ip[2] = 0x0d;
    ip[3] = 0xb8;
    ip[4] = (uint8_t)(net >> 8);
    ip[5] = (uint8_t)net;
    ip[14] = (uint8_t)(host >> 8);
    ip[15] = (uint8_t)host;
}

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static void
gw(struct dp_tables_builder *b, uint32_t s, uint32_t v4net, uint16_t v6net)
{
    uint8_t ip[16];
    v4m(v4net | 1, ip);
    dp_tb_add_segment_gateway(b, s, ip, 24);
    if (v6net) {
        v6a(v6net, 1, ip);
        dp_tb_add_segment_gateway(b, s, ip, 64);
    }
}

static void
neigh4(struct dp_tables_builder *b, uint32_t s, uint32_t a,
       const struct eth_addr *m)
{
    uint8_t ip[16];
    v4m(a, ip);
    dp_tb_add_neigh(b, s, ip, m);
}

static void
neigh6(struct dp_tables_builder *b, uint32_t s, uint16_t net, uint16_t host,
       const struct eth_addr *m)
{
    uint8_t ip[16];
    v6a(net, host, ip);
    dp_tb_add_neigh(b, s, ip, m);
}

static void
route4(struct dp_tables_builder *b, uint32_t r, uint32_t pfx, uint8_t plen,
       uint32_t nh1, uint32_t nh2, uint32_t distance)
{
    uint8_t p[16], nh[2][16];
    uint32_t n = 0;
    v4m(pfx, p);
    if (nh1) {
        v4m(nh1, nh[n++]);
    }
    if (nh2) {
        v4m(nh2, nh[n++]);
    }
    dp_tb_add_route(b, r, p, plen, (const uint8_t(*)[16])nh, n, distance);
}

static void
setup(void)
{
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    struct dp_pipeline_options o;
    uint8_t p[16], nh[16];

    now_ms = 1000;
    pool = dp_pool_create(1024, 4096);
    dp_pipeline_options_default(&o);
    o.clock_ms = test_clock;
    pl = dp_pipeline_create(pool, &o);
    for (int i = 0; i < N_PORTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        dp_port_dummy_class.open(name, NULL, &ports[i]);
        dp_dummy_set_peer(ports[i], vtep1); /* tunnels: a known peer */
    }
    dp_tb_set_ports(b, ports, N_PORTS);
    dp_tb_set_underlay(b, 1600, false);
    for (int i = 1; i <= 5; i++) {
        seg[i] = dp_tb_add_segment(b, 100 * (uint32_t)i, DP_ENCAP_GENEVE);
    }
    router1 = dp_tb_add_router(b);
    router2 = dp_tb_add_router(b);
    for (int i = 1; i <= 3; i++) {
        dp_tb_set_segment_router(b, seg[i], router1, &rmac);
        gw(b, seg[i], IP4(10, i, 0, 0), (uint16_t)i);
    }
    dp_tb_set_segment_router(b, seg[4], router2, &rmac2);
    gw(b, seg[4], IP4(10, 1, 0, 0), 0);
    dp_tb_set_segment_router(b, seg[5], router2, &rmac2);
    gw(b, seg[5], IP4(10, 2, 0, 0), 0);

    dp_tb_add_local(b, seg[1], 2, 11, &mac_a);
    dp_tb_add_local(b, seg[2], 3, 12, &mac_b);
    dp_tb_add_local(b, seg[3], 4, 13, &mac_c);
    dp_tb_add_local(b, seg[4], 5, 14, &mac_d);
    dp_tb_add_local(b, seg[5], 6, 15, &mac_e);
    dp_tb_add_remote(b, seg[2], &mac_r, vtep1, 21);
    dp_tb_add_remote(b, seg[2], &mac_nh1, vtep1, 22);
    dp_tb_add_remote(b, seg[2], &mac_nh2, vtep2, 23);
    neigh4(b, seg[1], IP4(10, 1, 0, 10), &mac_a);
    neigh4(b, seg[2], IP4(10, 2, 0, 10), &mac_b);
    neigh4(b, seg[3], IP4(10, 3, 0, 10), &mac_c);
    neigh4(b, seg[4], IP4(10, 1, 0, 10), &mac_d);
    neigh4(b, seg[5], IP4(10, 2, 0, 10), &mac_e);
    neigh4(b, seg[2], IP4(10, 2, 0, 20), &mac_r);
    neigh4(b, seg[2], IP4(10, 2, 0, 254), &mac_nh1);
    neigh4(b, seg[2], IP4(10, 2, 0, 253), &mac_nh2);
    neigh4(b, seg[2], IP4(10, 2, 0, 30), &mac_unknown);
    neigh6(b, seg[1], 1, 0x10, &mac_a);
    neigh6(b, seg[2], 2, 0x10, &mac_b);
    neigh6(b, seg[3], 3, 0x10, &mac_c);
    neigh6(b, seg[2], 2, 0x20, &mac_r);
    neigh6(b, seg[2], 2, 0x254, &mac_nh1);

    route4(b, router1, IP4(192, 168, 0, 0), 16, IP4(10, 2, 0, 254),
           IP4(10, 2, 0, 253), 10);
    route4(b, router1, IP4(192, 168, 5, 0), 24, 0, 0, 1); /* discard */
    route4(b, router1, IP4(172, 16, 0, 0), 16, IP4(10, 2, 0, 254), 0, 20);
    route4(b, router1, IP4(172, 16, 0, 0), 16, IP4(10, 2, 0, 253), 0, 5);
    route4(b, router1, IP4(172, 17, 0, 0), 16, IP4(10, 99, 0, 1), 0, 1);
    route4(b, router1, IP4(172, 18, 0, 0), 16, IP4(10, 99, 0, 1),
           IP4(10, 2, 0, 254), 1); /* one of two next hops resolves */
    v6a(0x99, 0, p);
    v6a(2, 0x254, nh);
    dp_tb_add_route(b, router1, p, 48, (const uint8_t(*)[16])nh, 1, 1);
    tables = dp_tables_build(b);
}

static void
teardown(void)
{
    dp_pipeline_destroy(pl);
    dp_tables_free(tables);
    for (int i = 0; i < N_PORTS; i++) {
        dp_port_close(ports[i]);
    }
    dp_pool_destroy(pool);
}

static void
run_from(uint16_t port)
{
    struct dp_packet *pkts[DP_BATCH_MAX];
    int n = dp_port_rx(ports[port], pool, pkts, DP_BATCH_MAX);
    dp_pipeline_run(pl, tables, port, pkts, n);
    dp_pipeline_flush(pl, tables);
}

static uint64_t
drops(enum dp_drop d)
{
    return dp_pipeline_counters(pl)->drops[d];
}

static const struct dp_counters *
ctr(void)
{
    return dp_pipeline_counters(pl);
}

/* Ethernet/IPv4 with 'proto' and 'payload' bytes of L4 (a UDP header
 * with port 'sport' first for UDP); returns the frame length. */
static uint32_t
ip4_frame(uint8_t *f, const struct eth_addr *dst, const struct eth_addr *src,
          uint32_t saddr, uint32_t daddr, uint8_t ttl, uint8_t proto, bool df,
          uint16_t sport, uint32_t payload)
{
    struct eth_hdr eth = {*dst, *src, htons(ETH_TYPE_IPV4)};
    struct ipv4_hdr ip = {
        .ver_ihl = 0x45,
        .tot_len = htons((uint16_t)(20 + payload)),
        .id = htons(0x1234),
        .frag_off = htons(df ? IPV4_DF : 0),
        .ttl = ttl,
        .proto = proto,
        .src = htonl(saddr),
        .dst = htonl(daddr),
    };
    ip.csum = csum_finish(csum_partial(&ip, 20, 0));
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 20);
    for (uint32_t i = 0; i < payload; i++) {
        f[34 + i] = (uint8_t)(i * 7 + 3);
    }
    if (proto == IPPROTO_UDP_) {
        struct udp_hdr u = {htons(sport), htons(9), htons((uint16_t)payload),
                            0};
        memcpy(f + 34, &u, 8);
    } else if (proto == IPPROTO_ICMP_) {
        memset(f + 34, 0, 4);
        f[34] = (uint8_t)(sport >> 8); /* type */
        f[35] = (uint8_t)sport;        /* code */
        uint16_t c = csum_finish(csum_partial(f + 34, payload, 0));
        memcpy(f + 36, &c, 2);
    }
    return 34 + payload;
}

static uint32_t
udp4(uint8_t *f, uint32_t daddr, uint8_t ttl, uint16_t sport, uint32_t payload)
{
    return ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), daddr, ttl,
                     IPPROTO_UDP_, true, sport, payload);
}

/* Ethernet/IPv6 from A with 'payload' bytes of UDP or ICMPv6. */
static uint32_t
ip6_frame(uint8_t *f, const uint8_t dst[16], uint8_t hlim, uint8_t next,
          uint16_t sport, uint32_t payload)
{
    struct eth_hdr eth = {rmac, mac_a, htons(ETH_TYPE_IPV6)};
    struct ipv6_hdr ip = {
        .ver_tc_flow = htonl(0x60000000),
        .payload_len = htons((uint16_t)payload),
        .next = next,
        .hop_limit = hlim,
    };
    v6a(1, 0x10, ip.src.b);
    memcpy(ip.dst.b, dst, 16);
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 40);
    for (uint32_t i = 0; i < payload; i++) {
        f[54 + i] = (uint8_t)(i * 5 + 1);
    }
    if (next == IPPROTO_UDP_) {
        struct udp_hdr u = {htons(sport), htons(9), htons((uint16_t)payload),
                            0};
        memcpy(f + 54, &u, 8);
    } else if (next == IPPROTO_ICMPV6_) {
        memset(f + 54, 0, 4);
        f[54] = (uint8_t)(sport >> 8);
        f[55] = (uint8_t)sport;
        uint32_t s = csum_pseudo_ipv6(ip.src.b, ip.dst.b, 58, payload);
        uint16_t c = csum_finish(csum_partial(f + 54, payload, s));
        memcpy(f + 56, &c, 2);
    }
    return 54 + payload;
}

static bool
ip4_csum_ok(const uint8_t *ip)
{
    return csum_finish(csum_partial(ip, (ip[0] & 15) * 4u, 0)) == 0;
}

static bool
icmp6_csum_ok(const uint8_t *ip6)
{
    uint32_t len = ntohs(rd16(ip6 + 4));
    uint32_t s = csum_pseudo_ipv6(ip6 + 8, ip6 + 24, 58, len);
    return csum_finish(csum_partial(ip6 + 40, len, s)) == 0;
}

/* Checks the ICMP error 'out' (n bytes, on A's port) about 'orig'. */
static void
check_icmp4_error(const uint8_t *out, int n, const uint8_t *orig,
                  uint32_t orig_len, uint8_t type, uint8_t code, uint32_t src)
{
    const uint8_t *ip = out + 14, *icmp = out + 34;
    uint32_t tot;

    if (!CHECK(n >= 34 + 8)) {
        return;
    }
    CHECK(!memcmp(out, &mac_a, 6));
    CHECK(!memcmp(out + 6, &rmac, 6));
    CHECK(ip4_csum_ok(ip));
    CHECK_EQ(ip[9], IPPROTO_ICMP_);
    CHECK_EQ(ntohl(rd32(ip + 12)), src);
    CHECK_EQ(ntohl(rd32(ip + 16)), IP4(10, 1, 0, 10));
    CHECK_EQ(icmp[0], type);
    CHECK_EQ(icmp[1], code);
    tot = ntohs(rd16(ip + 2));
    CHECK(tot <= 576);
    CHECK_EQ(tot - 28, MIN(orig_len - 14, 576 - 28));
    CHECK(!memcmp(icmp + 8, orig + 14, tot - 28)); /* quoted as received */
    CHECK_EQ(csum_finish(csum_partial(icmp, tot - 20, 0)), 0);
}

static void
check_icmp6_error(const uint8_t *out, int n, const uint8_t *orig,
                  uint32_t orig_len, uint8_t type, uint8_t code,
                  const uint8_t src[16])
{
    const uint8_t *ip = out + 14, *icmp = out + 54;
    uint32_t plen;

    if (!CHECK(n >= 54 + 8)) {
        return;
    }
    CHECK(!memcmp(out, &mac_a, 6));
    CHECK(!memcmp(out + 6, &rmac, 6));
    CHECK_EQ(ip[6], IPPROTO_ICMPV6_);
    CHECK(!memcmp(ip + 8, src, 16));
    CHECK(!memcmp(ip + 24, orig + 14 + 8, 16));
    CHECK_EQ(icmp[0], type);
    CHECK_EQ(icmp[1], code);
    plen = ntohs(rd16(ip + 4));
    CHECK(40 + plen <= 1280);
    CHECK_EQ(plen - 8, MIN(orig_len - 14, 1280 - 48));
    CHECK(!memcmp(icmp + 8, orig + 14, plen - 8));
    CHECK(icmp6_csum_ok(ip));
}

TEST(routed_v4_local_rewrites_macs_and_ttl)
{
    uint8_t f[512], out[512];
    uint32_t len;

    setup();
    len = udp4(f, IP4(10, 2, 0, 10), 64, 1000, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[3], out, sizeof out);
    CHECK_EQ(n, (int)len);
    CHECK(!memcmp(out, &mac_b, 6));
    CHECK(!memcmp(out + 6, &rmac, 6));
    CHECK_EQ(out[14 + 8], 63);
    CHECK(ip4_csum_ok(out + 14));
    CHECK(!memcmp(out + 34, f + 34, len - 34));
    CHECK_EQ(ctr()->routed, 1);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    /* The incremental checksum update holds for any TTL and header. */
    for (uint32_t ttl = 2; ttl <= 255; ttl += 3) {
        len = udp4(f, IP4(10, 2, 0, 10), (uint8_t)ttl, (uint16_t)ttl, 8 + ttl);
        dp_dummy_inject(ports[2], f, len);
        run_from(2);
        n = dp_dummy_take(ports[3], out, sizeof out);
        CHECK_EQ(out[14 + 8], ttl - 1);
        CHECK(ip4_csum_ok(out + 14));
    }
    teardown();
}

TEST(routed_v6_local_decrements_hop_limit)
{
    uint8_t f[256], out[256], dst[16];
    uint32_t len;

    setup();
    v6a(3, 0x10, dst);
    len = ip6_frame(f, dst, 64, IPPROTO_UDP_, 1000, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[4], out, sizeof out);
    CHECK_EQ(n, (int)len);
    CHECK(!memcmp(out, &mac_c, 6));
    CHECK(!memcmp(out + 6, &rmac, 6));
    CHECK_EQ(out[14 + 7], 63);
    CHECK(!memcmp(out + 22, f + 22, len - 22));
    teardown();
}

TEST(routed_to_remote_vtep_with_egress_vni)
{
    uint8_t f[256], out[300], dst[16];
    uint32_t len;
    struct geneve_hdr gh;

    setup();
    len = udp4(f, IP4(10, 2, 0, 20), 64, 1000, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[DP_PORT_GENEVE], out, sizeof out);
    CHECK_EQ(n, (int)(len + DP_GENEVE_OVERHEAD));
    memcpy(&gh, out, sizeof gh);
    CHECK_EQ(vni_get(gh.vni), 200); /* the egress segment's VNI */
    CHECK(!memcmp(out + DP_GENEVE_OVERHEAD, &mac_r, 6));
    CHECK(!memcmp(out + DP_GENEVE_OVERHEAD + 6, &rmac, 6));
    CHECK_EQ(out[DP_GENEVE_OVERHEAD + 14 + 8], 63);

    v6a(2, 0x20, dst); /* and IPv6 */
    len = ip6_frame(f, dst, 9, IPPROTO_UDP_, 1000, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    n = dp_dummy_take(ports[DP_PORT_GENEVE], out, sizeof out);
    CHECK_EQ(n, (int)(len + DP_GENEVE_OVERHEAD));
    CHECK(!memcmp(out + DP_GENEVE_OVERHEAD, &mac_r, 6));
    CHECK_EQ(out[DP_GENEVE_OVERHEAD + 14 + 7], 8);
    CHECK_EQ(ctr()->routed, 2);
    teardown();
}

/* Sends UDP from A to 'daddr' and checks the ICMP error A gets back. */
static void
expect_error4(uint32_t daddr, uint8_t ttl, uint32_t payload, uint8_t type,
              uint8_t code)
{
    static uint8_t f[1600], out[1600];
    uint32_t len = udp4(f, daddr, ttl, 1000, payload);

    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[2], out, sizeof out);
    check_icmp4_error(out, n, f, len, type, code, IP4(10, 1, 0, 1));
}

/* The same from A to 2001:db8:<net>::<host>. */
static void
expect_error6(uint16_t net, uint16_t host, uint8_t hlim, uint32_t payload,
              uint8_t type, uint8_t code)
{
    static uint8_t f[1600], out[1600];
    uint8_t dst[16], src[16];

    v6a(net, host, dst);
    v6a(1, 1, src);
    uint32_t len = ip6_frame(f, dst, hlim, IPPROTO_UDP_, 1000, payload);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[2], out, sizeof out);
    check_icmp6_error(out, n, f, len, type, code, src);
}

TEST(ttl_one_gives_time_exceeded)
{
    setup();
    expect_error4(IP4(10, 2, 0, 10), 1, 1000, 11, 0); /* quoting is cut */
    CHECK_EQ(drops(DP_DROP_ROUTE_TTL_EXPIRED), 1);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 0);
    expect_error4(IP4(10, 2, 0, 10), 0, 30, 11, 0); /* short: all quoted */
    expect_error6(2, 0x10, 1, 1400, 3, 0);
    CHECK_EQ(ctr()->icmp_errors_sent, 3);
    teardown();
}

TEST(no_route_gives_net_unreachable)
{
    setup();
    expect_error4(IP4(8, 8, 8, 8), 64, 40, 3, 0);
    CHECK_EQ(drops(DP_DROP_ROUTE_NO_ROUTE), 1);
    expect_error6(0x77, 1, 64, 40, 1, 0);
    teardown();
}

TEST(discard_route_drops_silently)
{
    uint8_t f[256];
    uint32_t len;

    setup();
    len = udp4(f, IP4(192, 168, 5, 9), 64, 1000, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_ROUTE_DISCARD), 1);
    CHECK_EQ(ctr()->tx_packets, 0);
    CHECK_EQ(ctr()->icmp_errors_sent, 0);
    teardown();
}

TEST(unknown_neighbour_gives_host_unreachable)
{
    setup();
    expect_error4(IP4(10, 3, 0, 77), 64, 40, 3, 1);
    CHECK_EQ(drops(DP_DROP_ROUTE_NO_NEIGH), 1);
    expect_error6(3, 0x77, 64, 40, 1, 3);
    teardown();
}

/* Sends one UDP packet from A to 'daddr' with source port 'sport'; returns
 * the inner destination MAC's last byte of what left by GENEVE, or -1. */
static int
via(uint32_t daddr, uint16_t sport)
{
    uint8_t f[256], out[300];
    uint32_t len = udp4(f, daddr, 64, sport, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[DP_PORT_GENEVE], out, sizeof out);
    if (n != (int)(len + DP_GENEVE_OVERHEAD)) {
        return -1;
    }
    return out[DP_GENEVE_OVERHEAD + 5];
}

TEST(static_route_ecmp_spreads_flows_and_keeps_each)
{
    int seen1 = 0, seen2 = 0, first;

    setup();
    for (uint16_t s = 0; s < 64; s++) {
        int m = via(IP4(192, 168, 1, 1), (uint16_t)(2000 + s));
        seen1 += m == 0x31;
        seen2 += m == 0x32;
    }
    CHECK_EQ(seen1 + seen2, 64);
    CHECK(seen1 > 8);
    CHECK(seen2 > 8);
    first = via(IP4(192, 168, 7, 7), 4242);
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(via(IP4(192, 168, 7, 7), 4242), first);
    }
    teardown();
}

TEST(lowest_distance_wins_and_unresolvable_next_hops_left_out)
{
    setup();
    const struct dp_router *r = &tables->routers[router1];
    CHECK_EQ(via(IP4(172, 16, 3, 3), 1), 0x32); /* distance 5 beats 20 */
    CHECK_EQ(r->n_unresolved, 2);               /* 10.99.0.1, twice */
    CHECK_EQ(r->n_routes_unused, 1);            /* 172.17/16 */
    CHECK_EQ(via(IP4(172, 17, 3, 3), 1), -1);
    CHECK_EQ(drops(DP_DROP_ROUTE_NO_ROUTE), 1);
    for (uint16_t s = 0; s < 16; s++) { /* 172.18/16: only 10.2.0.254 */
        CHECK_EQ(via(IP4(172, 18, 0, 1), s), 0x31);
    }
    /* The dump: 172.16/16 once, at distance 5. */
    int found = 0;
    for (uint32_t i = 0; i < r->n_routes; i++) {
        const struct dp_route_info *ri = &r->routes[i];
        uint8_t p[16];
        v4m(IP4(172, 16, 0, 0), p);
        if (!memcmp(ri->prefix, p, 16) && ri->plen == 16) {
            found++;
            CHECK_EQ(ri->distance, 5);
            CHECK_EQ(r->groups[ri->group].n, 1);
        }
    }
    CHECK_EQ(found, 1);
    teardown();
}

TEST(big_df_packet_gets_frag_needed_with_mtu)
{
    uint8_t f[2000], out[2000], dst[16], src[16];
    uint32_t len;

    setup();
    ports[4]->mtu = 1000;
    len = udp4(f, IP4(10, 3, 0, 10), 64, 1000, 1200);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[2], out, sizeof out);
    check_icmp4_error(out, n, f, len, 3, 4, IP4(10, 1, 0, 1));
    CHECK_EQ(ntohs(rd16(out + 34 + 6)), 1000); /* next-hop MTU */
    CHECK_EQ(dp_dummy_sent_count(ports[4]), 0);
    CHECK_EQ(drops(DP_DROP_ROUTE_TOO_BIG), 1);

    /* Remote: the segment's largest frame decides. */
    uint32_t max = tables->segments[seg[2]].max_frame;
    len = udp4(f, IP4(10, 2, 0, 20), 64, 1000, max - 34 + 1);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    n = dp_dummy_take(ports[2], out, sizeof out);
    check_icmp4_error(out, n, f, len, 3, 4, IP4(10, 1, 0, 1));
    CHECK_EQ(ntohs(rd16(out + 34 + 6)), max - 14);
    len = udp4(f, IP4(10, 2, 0, 20), 64, 1000, max - 34); /* just fits */
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 1);

    /* IPv6: packet too big. */
    v6a(3, 0x10, dst);
    v6a(1, 1, src);
    len = ip6_frame(f, dst, 64, IPPROTO_UDP_, 1000, 1200);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    n = dp_dummy_take(ports[2], out, sizeof out);
    check_icmp6_error(out, n, f, len, 2, 0, src);
    CHECK_EQ(ntohl(rd32(out + 54 + 4)), 1000);
    teardown();
}

/* A routed packet to a neighbour whose MAC no table knows is flooded to
 * the segment's tunnels and local ports: it must fit the smallest. */
TEST(flooded_routed_packet_fits_every_local_port)
{
    uint8_t f[2000], out[2000];
    uint32_t len;

    setup();
    ports[3]->mtu = 1000; /* B, the only local port of s2 */
    len = udp4(f, IP4(10, 2, 0, 30), 64, 1000, 1200);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[2], out, sizeof out);
    check_icmp4_error(out, n, f, len, 3, 4, IP4(10, 1, 0, 1));
    CHECK_EQ(ntohs(rd16(out + 34 + 6)), 1000); /* B's MTU, not the tunnel's */
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 0);
    CHECK_EQ(drops(DP_DROP_ROUTE_TOO_BIG), 1);

    /* One that fits B is flooded (to B: s2 has no flood list here). */
    len = udp4(f, IP4(10, 2, 0, 30), 64, 1000, 900);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 1);
    n = dp_dummy_take(ports[3], out, sizeof out);
    CHECK_EQ(n, (int)len);
    CHECK(!memcmp(out, &mac_unknown, 6)); /* addressed to the neighbour */
    teardown();
}

static int
frag_cmp(const void *a_, const void *b_)
{
    const uint8_t *a = *(uint8_t *const *)a_, *b = *(uint8_t *const *)b_;
    return (ntohs(rd16(a + 14 + 6)) & IPV4_OFFSET_MASK) -
           (ntohs(rd16(b + 14 + 6)) & IPV4_OFFSET_MASK);
}

TEST(non_df_big_packet_is_fragmented_and_reassembles)
{
    static uint8_t f[4000], frames[16][1600], whole[4000];
    uint8_t *order[16];
    uint32_t len, pos = 0;
    int nf = 0, n;

    setup();
    ports[4]->mtu = 1000;
    len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), IP4(10, 3, 0, 10), 64,
                    IPPROTO_UDP_, false, 777, 2500);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    while (nf < 16 &&
           (n = dp_dummy_take(ports[4], frames[nf], sizeof frames[0])) > 0) {
        CHECK(n <= 1014);
        order[nf] = frames[nf];
        nf++;
    }
    CHECK_EQ(nf, 3); /* 976 + 976 + 548 bytes of payload */
    CHECK_EQ(ctr()->ip_fragments, 3);
    qsort(order, (size_t)nf, sizeof *order, frag_cmp);
    for (int i = 0; i < nf; i++) {
        const uint8_t *ip = order[i] + 14;
        uint16_t fo = ntohs(rd16(ip + 6));
        uint32_t plen = ntohs(rd16(ip + 2)) - 20u;
        CHECK(ip4_csum_ok(ip));
        CHECK_EQ(ip[8], 63);
        CHECK(!memcmp(order[i], &mac_c, 6));
        CHECK_EQ((fo & IPV4_OFFSET_MASK) * 8u, pos);
        CHECK_EQ(!!(fo & IPV4_MF), i < nf - 1);
        CHECK_EQ(rd16(ip + 4), htons(0x1234));
        memcpy(whole + pos, ip + 20, plen);
        pos += plen;
    }
    CHECK_EQ(pos, 2500);
    CHECK(!memcmp(whole, f + 34, 2500));
    teardown();
}

TEST(echo_to_gateways_is_answered)
{
    uint8_t f[256], out[256], dst[16];
    uint32_t len;
    int n;

    setup();
    uint32_t gws[] = {IP4(10, 1, 0, 1), IP4(10, 2, 0, 1)};
    for (int i = 0; i < 2; i++) {
        len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), gws[i], 64,
                        IPPROTO_ICMP_, false, 8 << 8, 48);
        dp_dummy_inject(ports[2], f, len);
        run_from(2);
        n = dp_dummy_take(ports[2], out, sizeof out);
        CHECK_EQ(n, (int)len);
        CHECK(!memcmp(out, &mac_a, 6));
        CHECK(!memcmp(out + 6, &rmac, 6));
        CHECK(ip4_csum_ok(out + 14));
        CHECK_EQ(ntohl(rd32(out + 26)), gws[i]);
        CHECK_EQ(ntohl(rd32(out + 30)), IP4(10, 1, 0, 10));
        CHECK_EQ(out[34], 0); /* echo reply */
        CHECK_EQ(csum_finish(csum_partial(out + 34, 48, 0)), 0);
        CHECK(!memcmp(out + 38, f + 38, 44)); /* id, seq, data */
    }
    /* IPv6: the global gateway and the link-local address. */
    v6a(1, 1, dst);
    for (int i = 0; i < 2; i++) {
        if (i) {
            dp_route_lla(&rmac, dst);
        }
        len = ip6_frame(f, dst, 64, IPPROTO_ICMPV6_, 128 << 8, 32);
        dp_dummy_inject(ports[2], f, len);
        run_from(2);
        n = dp_dummy_take(ports[2], out, sizeof out);
        CHECK_EQ(n, (int)len);
        CHECK(!memcmp(out + 22, dst, 16));
        CHECK_EQ(out[54], 129);
        CHECK(icmp6_csum_ok(out + 14));
    }
    CHECK_EQ(ctr()->router_echo_replies, 4);

    /* Anything else to the router is dropped. */
    len = udp4(f, IP4(10, 3, 0, 1), 64, 1000, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_ROUTE_TO_ROUTER), 1);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    teardown();
}

TEST(arp_and_nd_for_gateway_answered_with_router_mac)
{
    uint8_t f[128], out[128];
    struct eth_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    struct eth_hdr eth = {bcast, mac_a, htons(ETH_TYPE_ARP)};
    struct arp_eth_ipv4 arp = {
        .htype = htons(ARP_HTYPE_ETH),
        .ptype = htons(ETH_TYPE_IPV4),
        .hlen = 6,
        .plen = 4,
        .op = htons(ARP_OP_REQUEST),
        .sha = mac_a,
        .spa = htonl(IP4(10, 1, 0, 10)),
        .tpa = htonl(IP4(10, 1, 0, 1)),
    };

    setup();
    memcpy(f, &eth, 14);
    memcpy(f + 14, &arp, sizeof arp);
    dp_dummy_inject(ports[2], f, 14 + sizeof arp);
    run_from(2);
    int n = dp_dummy_take(ports[2], out, sizeof out);
    CHECK_EQ(n, (int)(14 + sizeof arp));
    memcpy(&arp, out + 14, sizeof arp);
    CHECK_EQ(ntohs(arp.op), ARP_OP_REPLY);
    CHECK(eth_addr_equals(&arp.sha, &rmac));

    /* NS for the link-local address (the router of every IPv6 segment). */
    struct eth_addr mc = {{0x33, 0x33, 0xff, 0, 0, 0x01}};
    struct eth_hdr e6 = {mc, mac_a, htons(ETH_TYPE_IPV6)};
    struct ipv6_hdr ip = {
        .ver_tc_flow = htonl(0x60000000),
        .payload_len = htons(32),
        .next = IPPROTO_ICMPV6_,
        .hop_limit = 255,
    };
    struct nd_hdr ns = {.type = ICMP6_NS};
    v6a(1, 0x10, ip.src.b);
    dp_route_lla(&rmac, ns.target.b);
    memcpy(ip.dst.b, ns.target.b, 16);
    memcpy(f, &e6, 14);
    memcpy(f + 14, &ip, 40);
    memcpy(f + 54, &ns, sizeof ns);
    f[54 + 24] = ND_OPT_SLLA;
    f[54 + 25] = 1;
    memcpy(f + 54 + 26, &mac_a, 6);
    dp_dummy_inject(ports[2], f, 54 + 32);
    run_from(2);
    n = dp_dummy_take(ports[2], out, sizeof out);
    CHECK(n > 54 + 24);
    CHECK_EQ(out[54], ICMP6_NA);
    CHECK(!memcmp(out + 6, &rmac, 6));
    CHECK(!memcmp(out + 54 + 26, &rmac, 6)); /* target link-layer address */
    CHECK(ntohl(rd32(out + 58)) & ND_NA_FLAG_ROUTER);
    CHECK_EQ(ctr()->nd_replies, 1);
    teardown();
}

TEST(two_routers_with_overlapping_prefixes_are_isolated)
{
    uint8_t f[256], out[256];
    uint32_t len;

    setup();
    len = ip4_frame(f, &rmac2, &mac_d, IP4(10, 1, 0, 10), IP4(10, 2, 0, 10), 64,
                    IPPROTO_UDP_, true, 5, 40);
    dp_dummy_inject(ports[5], f, len);
    run_from(5);
    CHECK_EQ(dp_dummy_take(ports[6], out, sizeof out), (int)len);
    CHECK(!memcmp(out, &mac_e, 6));
    CHECK(!memcmp(out + 6, &rmac2, 6));
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 0);
    /* Router 2 has no 10.3/24 and no static routes. */
    len = ip4_frame(f, &rmac2, &mac_d, IP4(10, 1, 0, 10), IP4(10, 3, 0, 10), 64,
                    IPPROTO_UDP_, true, 5, 40);
    dp_dummy_inject(ports[5], f, len);
    run_from(5);
    CHECK_EQ(drops(DP_DROP_ROUTE_NO_ROUTE), 1);
    CHECK_EQ(dp_dummy_sent_count(ports[4]), 0);
    /* Router 1's MAC means nothing on router 2's segment: plain L2. */
    len = ip4_frame(f, &rmac, &mac_d, IP4(10, 1, 0, 10), IP4(10, 2, 0, 10), 64,
                    IPPROTO_UDP_, true, 5, 40);
    dp_dummy_inject(ports[5], f, len);
    run_from(5);
    CHECK_EQ(ctr()->routed, 1);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 0);
    teardown();
}

TEST(no_icmp_error_about_an_icmp_error_and_rate_limit)
{
    uint8_t f[256], out[256];
    uint32_t len;

    setup();
    /* An ICMP destination unreachable with TTL 1: no answer. */
    len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), IP4(10, 2, 0, 10), 1,
                    IPPROTO_ICMP_, false, 3 << 8 | 1, 36);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_ROUTE_TTL_EXPIRED), 1);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    /* To a multicast address: not routed, not answered. */
    len = udp4(f, IP4(239, 1, 1, 1), 1, 1000, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_ROUTE_NOT_ROUTABLE), 1);
    CHECK_EQ(ctr()->icmp_errors_sent, 0);

    /* 150 expired packets at one instant: the burst of 100 is answered. */
    for (int i = 0; i < 150; i++) {
        len = udp4(f, IP4(10, 2, 0, 10), 1, (uint16_t)i, 40);
        dp_dummy_inject(ports[2], f, len);
        run_from(2);
    }
    CHECK_EQ(ctr()->icmp_errors_sent, 100);
    CHECK_EQ(ctr()->icmp_errors_suppressed, 50);
    now_ms += 10; /* 10 more tokens */
    for (int i = 0; i < 20; i++) {
        dp_dummy_inject(ports[2], f, len);
        run_from(2);
    }
    CHECK_EQ(ctr()->icmp_errors_sent, 110);
    while (dp_dummy_take(ports[2], out, sizeof out) > 0) {
    }
    teardown();
}

TEST(router_mac_from_tunnel_and_non_ip_dropped)
{
    uint8_t f[256], enc[300];
    uint32_t len;
    struct geneve_hdr gh = {.ver_optlen = 0, .proto = htons(ETH_TYPE_TEB)};

    setup();
    len = udp4(f, IP4(10, 2, 0, 10), 64, 1000, 40);
    vni_put(gh.vni, 100);
    memcpy(enc, &gh, 8);
    memcpy(enc + 8, f, len);
    dp_dummy_inject(ports[DP_PORT_GENEVE], enc, len + 8);
    run_from(DP_PORT_GENEVE);
    CHECK_EQ(drops(DP_DROP_ROUTE_FROM_TUNNEL), 1);
    CHECK_EQ(ctr()->tx_packets, 0);

    struct eth_hdr eth = {rmac, mac_a, htons(0x88b5)}; /* experimental */
    memcpy(f, &eth, 14);
    memset(f + 14, 0, 46);
    dp_dummy_inject(ports[2], f, 60);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_ROUTE_NOT_IP), 1);
    teardown();
}

/* Sets the flags and offset of the IPv4 header at f + l3 and fixes its
 * checksum. */
static void
set_frag_off(uint8_t *f, uint32_t l3, uint16_t frag_off)
{
    uint16_t v = htons(frag_off);
    memcpy(f + l3 + 6, &v, 2);
    memset(f + l3 + 10, 0, 2);
    v = csum_finish(csum_partial(f + l3, 20, 0));
    memcpy(f + l3 + 10, &v, 2);
}

/* Inserts an 802.1Q tag after the MACs of the 'len'-byte frame 'f'. */
static uint32_t
add_vlan(uint8_t *f, uint32_t len)
{
    memmove(f + 16, f + 12, len - 12);
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = 0x00;
    f[15] = 0x64;
    return len + 4;
}

TEST(icmp_errors_never_go_to_class_e_sources)
{
    static uint8_t f[256];
    uint32_t len;

    setup();
    /* RFC 1812 4.3.2.7: 240/4 does not define a single host. */
    len = ip4_frame(f, &rmac, &mac_a, IP4(240, 0, 0, 1), IP4(10, 2, 0, 10), 1,
                    IPPROTO_UDP_, false, 1000, 40);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_ROUTE_TTL_EXPIRED), 1);
    CHECK_EQ(ctr()->icmp_errors_sent, 0);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    teardown();
}

TEST(vlan_tagged_too_big_counts_its_tag)
{
    static uint8_t f[2000], out[2000];
    uint32_t len, max;
    int n;

    setup();
    /* Fragments of a tagged packet fit the egress frame limit. */
    max = tables->segments[seg[2]].max_frame;
    len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), IP4(10, 2, 0, 20), 64,
                    IPPROTO_UDP_, false, 1000, max - 34);
    len = add_vlan(f, len); /* 4 bytes too big now */
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(ctr()->ip_fragments, 2);
    CHECK_EQ(drops(DP_DROP_TOO_BIG), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 2);
    while ((n = dp_dummy_take(ports[DP_PORT_GENEVE], out, sizeof out)) > 0) {
        CHECK((uint32_t)n - DP_GENEVE_OVERHEAD <= max);
    }

    /* With DF, the MTU told leaves room for the tag. */
    set_frag_off(f, 18, IPV4_DF);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    n = dp_dummy_take(ports[2], out, sizeof out);
    CHECK(n >= 18 + 28);
    CHECK_EQ(out[18 + 20], 3);
    CHECK_EQ(out[18 + 21], 4);
    CHECK_EQ(ntohs(rd16(out + 18 + 26)), max - 18);
    teardown();
}

TEST(ethernet_padding_never_makes_a_packet_too_big)
{
    static uint8_t f[512], out[512], dst[16];
    uint32_t len;
    int n;

    setup();
    ports[4]->mtu = 200;
    /* No payload, no DF, padded past the MTU: it used to be "fragmented"
     * into nothing, counted as routed and never sent nor dropped. */
    len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), IP4(10, 3, 0, 10), 64,
                    253, false, 0, 0);
    memset(f + len, 0, 300 - len);
    dp_dummy_inject(ports[2], f, 300);
    run_from(2);
    n = dp_dummy_take(ports[4], out, sizeof out);
    CHECK_EQ(n, 34); /* the IP packet, without the padding */
    CHECK_EQ(out[14 + 8], 63);
    CHECK(ip4_csum_ok(out + 14));
    /* DF and IPv6: forwarded, not answered with an MTU they fit. */
    len = udp4(f, IP4(10, 3, 0, 10), 64, 1000, 40);
    memset(f + len, 0, 300 - len);
    dp_dummy_inject(ports[2], f, 300);
    run_from(2);
    CHECK_EQ(dp_dummy_take(ports[4], out, sizeof out), (int)len);
    v6a(3, 0x10, dst);
    len = ip6_frame(f, dst, 64, IPPROTO_UDP_, 1000, 40);
    memset(f + len, 0, 300 - len);
    dp_dummy_inject(ports[2], f, 300);
    run_from(2);
    CHECK_EQ(dp_dummy_take(ports[4], out, sizeof out), (int)len);
    CHECK_EQ(ctr()->routed, 3);
    CHECK_EQ(ctr()->icmp_errors_sent, 0);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    teardown();
}

TEST(fragment_offsets_never_wrap)
{
    static uint8_t f[2000], out[2000];
    uint32_t len;
    int n;

    setup();
    ports[4]->mtu = 256;
    /* A fragment at 65440 bytes with 400 more: past 65535, its pieces
     * would wrap to offsets near 0. */
    len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), IP4(10, 3, 0, 10), 64,
                    IPPROTO_UDP_, false, 1000, 400);
    set_frag_off(f, 14, 8180);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_ROUTE_FRAG_FAILED), 1);
    CHECK_EQ(dp_dummy_sent_count(ports[4]), 0);
    /* Ending at 65500 is fine: 232 + 232 + 232 + 4 bytes. */
    len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), IP4(10, 3, 0, 10), 64,
                    IPPROTO_UDP_, false, 1000, 700);
    set_frag_off(f, 14, 8100);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(ctr()->ip_fragments, 4);
    while ((n = dp_dummy_take(ports[4], out, sizeof out)) > 0) {
        CHECK((ntohs(rd16(out + 14 + 6)) & IPV4_OFFSET_MASK) >= 8100);
    }
    teardown();
}

TEST(echo_reply_checksum_when_all_else_is_zero)
{
    static uint8_t f[256], out[256];
    uint32_t len;

    setup();
    /* Identifier 0, sequence 0, zero data: the reply's words are all zero
     * but for its checksum, which must then be 0xffff, not 0x0000. */
    for (uint32_t data = 0; data <= 16; data += 16) {
        len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), IP4(10, 1, 0, 1),
                        64, IPPROTO_ICMP_, false, 8 << 8, 8 + data);
        memset(f + 36, 0, 6 + data);
        uint16_t c = csum_finish(csum_partial(f + 34, 8 + data, 0));
        memcpy(f + 36, &c, 2);
        dp_dummy_inject(ports[2], f, len);
        run_from(2);
        CHECK_EQ(dp_dummy_take(ports[2], out, sizeof out), (int)len);
        CHECK_EQ(out[34], 0);
        CHECK_EQ(rd16(out + 36), 0xffff);
        CHECK_EQ(csum_finish(csum_partial(out + 34, 8 + data, 0)), 0);
    }
    /* Data summing to -0 keeps 0x0000, which is right for it. */
    len = ip4_frame(f, &rmac, &mac_a, IP4(10, 1, 0, 10), IP4(10, 1, 0, 1), 64,
                    IPPROTO_ICMP_, false, 8 << 8, 10);
    memset(f + 36, 0, 8);
    f[42] = f[43] = 0xff;
    uint16_t c = csum_finish(csum_partial(f + 34, 10, 0));
    memcpy(f + 36, &c, 2);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(dp_dummy_take(ports[2], out, sizeof out), (int)len);
    CHECK_EQ(csum_finish(csum_partial(out + 34, 10, 0)), 0);
    teardown();
}
