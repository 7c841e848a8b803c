/* Unit tests of punt and inject (punt.h): the pipeline takes DHCPv4,
 * DHCPv6 and router solicitations off the packet path of segments whose
 * punt flags ask for them (after SpoofGuard, which lets 0.0.0.0 and
 * link-local/unspecified sources through), counts a full ring and frames
 * too big, and a running datapath delivers punted frames through its
 * eventfd and sends injected frames out of the port named.  Ports are
 * dummy ports (port-dummy.h). */
#include "datapath/punt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "datapath/datapath.h"
#include "datapath/dfw.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "testlib.h"

/* 0 geneve, 1 vxlan, 2 and 3 VIFs of segment 0, 4 a VIF of segment 1. */
#define N_PORTS 5
static struct dp_port *ports[N_PORTS];
static struct dp_pool *pool;
static struct dp_pipeline *pl;
static struct dp_tables *tables;
static struct dp_ring *ring;
static int efd = -1;

static const struct eth_addr mac_a = {{0x02, 0, 0, 0, 0, 0x0a}};
static const struct eth_addr mac_b = {{0x02, 0, 0, 0, 0, 0x0b}};
static const struct eth_addr mac_x = {{0x02, 0, 0, 0, 0, 0x0e}};
static const struct eth_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

static void
open_ports(void)
{
    for (int i = 0; i < N_PORTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        dp_port_dummy_class.open(name, NULL, &ports[i]);
    }
}

/* Segment 0 punts 'flags'; segment 1 punts nothing.  Port 2 gets a
 * SpoofGuard-only firewall when 'spoofguard'. */
static struct dp_tables *
build(uint8_t flags, bool spoofguard)
{
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    uint32_t s0, s1;

    dp_tb_set_ports(b, ports, N_PORTS);
    s0 = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    s1 = dp_tb_add_segment(b, 5002, DP_ENCAP_GENEVE);
    dp_tb_set_segment_punt(b, s0, flags);
    dp_tb_add_local(b, s0, 2, 11, &mac_a);
    dp_tb_add_local(b, s0, 3, 12, &mac_b);
    dp_tb_add_local(b, s1, 4, 31, &mac_x);
    if (spoofguard) {
        static const uint8_t ip_a[1][16] = {
            {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 10}};
        struct dfw_vnic_config vc = {
            .spoofguard = true, .mac = mac_a, .ips = ip_a, .n_ips = 1};
        struct dfw_vnic *v = dfw_vnic_create(&vc);
        dp_tb_set_vif_firewall(b, 2, v);
        dfw_vnic_unref(v);
    }
    return dp_tables_build(b);
}

static void
setup(uint8_t flags, bool spoofguard)
{
    struct dp_pipeline_options o;

    pool = dp_pool_create(512, 4096);
    ring = dp_ring_create();
    efd = eventfd(0, EFD_NONBLOCK);
    dp_pipeline_options_default(&o);
    o.punt_ring = ring;
    o.punt_fd = efd;
    o.flow_cache_all = true; /* the cache never serves what is punted */
    pl = dp_pipeline_create(pool, &o);
    open_ports();
    tables = build(flags, spoofguard);
}

static void
teardown(void)
{
    dp_pipeline_destroy(pl);
    dp_tables_free(tables);
    for (int i = 0; i < N_PORTS; i++) {
        dp_port_close(ports[i]);
    }
    dp_ring_destroy(ring);
    close(efd);
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

static uint32_t
sent_anywhere(void)
{
    uint32_t n = 0;
    for (int i = 0; i < N_PORTS; i++) {
        n += dp_dummy_sent_count(ports[i]);
    }
    return n;
}

/* Ethernet/IPv4/UDP from 0.0.0.0:68 to 255.255.255.255:'dport' with
 * 'payload' bytes. */
static uint32_t
dhcp4_frame(uint8_t *f, const struct eth_addr *src, uint16_t dport,
            uint32_t payload)
{
    struct eth_hdr eth = {bcast, *src, htons(ETH_TYPE_IPV4)};
    struct ipv4_hdr ip = {
        .ver_ihl = 0x45,
        .tot_len = htons((uint16_t)(28 + payload)),
        .ttl = 64,
        .proto = IPPROTO_UDP_,
        .src = 0,
        .dst = 0xffffffff,
    };
    struct udp_hdr udp = {htons(68), htons(dport),
                          htons((uint16_t)(8 + payload)), 0};

    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 20);
    memcpy(f + 34, &udp, 8);
    memset(f + 42, 0x5a, payload);
    return 42 + payload;
}

/* Ethernet/IPv6 from 'src_ip' (16 bytes) to ff02::'last' with an L4
 * header 'l4' of 'l4_len' bytes. */
static uint32_t
ipv6_frame(uint8_t *f, const struct eth_addr *src, const uint8_t *src_ip,
           uint8_t next, uint16_t last, const void *l4, uint32_t l4_len)
{
    struct eth_hdr eth = {
        {{0x33, 0x33, 0, 0, 0, (uint8_t)last}}, *src, htons(ETH_TYPE_IPV6)};
    struct ipv6_hdr ip = {.ver_tc_flow = htonl(0x60000000),
                          .payload_len = htons((uint16_t)l4_len),
                          .next = next,
                          .hop_limit = 255};

    memcpy(ip.src.b, src_ip, 16);
    ip.dst.b[0] = 0xff;
    ip.dst.b[1] = 0x02;
    ip.dst.b[14] = (uint8_t)(last >> 8);
    ip.dst.b[15] = (uint8_t)last;
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 40);
    memcpy(f + 54, l4, l4_len);
    return 54 + l4_len;
}

static const uint8_t unspec[16];
static const uint8_t lla[16] = {0xfe, 0x80, [14] = 0x12, [15] = 0x34};

static uint32_t
rs_frame(uint8_t *f, const struct eth_addr *src, const uint8_t *src_ip)
{
    uint8_t rs[8] = {ICMP6_RS_, 0};
    return ipv6_frame(f, src, src_ip, IPPROTO_ICMPV6_, 2, rs, sizeof rs);
}

static uint32_t
dhcp6_frame(uint8_t *f, const struct eth_addr *src)
{
    uint8_t u[12] = {0x02, 0x22, 0x02, 0x23, 0, 12, 0, 0, 1, 0xab, 0xcd, 0xef};
    return ipv6_frame(f, src, lla, IPPROTO_UDP_, 0x0102, u, sizeof u);
}

TEST(dhcp4_punted_not_forwarded)
{
    uint8_t f[600];
    uint32_t len;
    struct dp_punt_entry e;
    uint64_t v = 0;

    setup(DP_PUNT_DHCP4, false);
    len = dhcp4_frame(f, &mac_a, 67, 300);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(sent_anywhere(), 0);
    CHECK_EQ(dp_pipeline_counters(pl)->punted, 1);
    CHECK_EQ(read(efd, &v, sizeof v), (ssize_t)sizeof v);
    CHECK_EQ(v, 1);
    CHECK(dp_ring_pop(ring, &e));
    CHECK_EQ(e.port, 2);
    CHECK_EQ(e.segment, 0);
    CHECK_EQ(e.reason, DP_PUNT_DHCP4);
    CHECK_EQ(e.len, len);
    CHECK(!memcmp(e.frame, f, len));
    CHECK(!dp_ring_pop(ring, &e));

    /* Other UDP ports are forwarded (flooded to port 3). */
    len = dhcp4_frame(f, &mac_a, 68, 300);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 1);
    CHECK(!dp_ring_nonempty(ring));
    teardown();
}

/* Flow cache hits skip punting: a unicast UDP flow to port 67 is punted
 * every time, never remembered; other ports are. */
TEST(dhcp4_to_port_67_never_served_by_the_flow_cache)
{
    uint8_t f[600];
    uint32_t len;

    setup(DP_PUNT_DHCP4, false);
    for (int i = 0; i < 3; i++) {
        len = dhcp4_frame(f, &mac_a, 67, (uint32_t)i * 100);
        memcpy(f, &mac_b, sizeof mac_b); /* unicast to B */
        dp_dummy_inject(ports[2], f, len);
        run_from(2);
    }
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 0);
    CHECK_EQ(dp_pipeline_counters(pl)->punted, 3);
    CHECK_EQ(dp_pipeline_counters(pl)->flow_cache_hits, 0);

    for (int i = 0; i < 3; i++) {
        len = dhcp4_frame(f, &mac_a, 68, 10);
        memcpy(f, &mac_b, sizeof mac_b);
        dp_dummy_inject(ports[2], f, len);
        run_from(2);
    }
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 3);
    CHECK_EQ(dp_pipeline_counters(pl)->flow_cache_hits, 2);
    teardown();
}

TEST(unflagged_segment_forwards)
{
    uint8_t f[600];
    uint32_t len;

    setup(DP_PUNT_DHCP6 | DP_PUNT_RS, false); /* no DHCP4 on segment 0 */
    len = dhcp4_frame(f, &mac_a, 67, 300);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 1);
    len = rs_frame(f, &mac_x, unspec); /* segment 1 punts nothing */
    dp_dummy_inject(ports[4], f, len);
    run_from(4);
    CHECK(!dp_ring_nonempty(ring));
    CHECK_EQ(dp_pipeline_counters(pl)->punted, 0);
    teardown();
}

TEST(rs_and_dhcp6_punted)
{
    uint8_t f[600];
    struct dp_punt_entry e;

    setup(DP_PUNT_DHCP6 | DP_PUNT_RS, false);
    dp_dummy_inject(ports[3], f, rs_frame(f, &mac_b, unspec));
    dp_dummy_inject(ports[3], f, dhcp6_frame(f, &mac_b));
    run_from(3);
    CHECK_EQ(sent_anywhere(), 0);
    CHECK(dp_ring_pop(ring, &e));
    CHECK_EQ(e.reason, DP_PUNT_RS);
    CHECK_EQ(e.port, 3);
    CHECK(dp_ring_pop(ring, &e));
    CHECK_EQ(e.reason, DP_PUNT_DHCP6);
    teardown();
}

TEST(spoofguard_lets_dhcp_and_rs_through_to_punt)
{
    uint8_t f[600];
    struct dp_punt_entry e;

    setup(DP_PUNT_DHCP4 | DP_PUNT_DHCP6 | DP_PUNT_RS, true);
    dp_dummy_inject(ports[2], f, dhcp4_frame(f, &mac_a, 67, 300));
    dp_dummy_inject(ports[2], f, rs_frame(f, &mac_a, unspec));
    dp_dummy_inject(ports[2], f, rs_frame(f, &mac_a, lla));
    dp_dummy_inject(ports[2], f, dhcp6_frame(f, &mac_a));
    dp_dummy_inject(ports[2], f, dhcp4_frame(f, &mac_b, 67, 300)); /* spoof */
    run_from(2);
    CHECK_EQ(drops(DP_DROP_SPOOFGUARD), 1);
    CHECK_EQ(dp_pipeline_counters(pl)->punted, 4);
    for (int i = 0; i < 4; i++) {
        CHECK(dp_ring_pop(ring, &e));
    }
    CHECK(!dp_ring_pop(ring, &e));
    CHECK_EQ(sent_anywhere(), 0);
    teardown();
}

TEST(ring_full_and_too_big_counted)
{
    uint8_t f[2048];
    uint32_t len;
    struct dp_punt_entry e;
    struct dp_ring_counters c;

    setup(DP_PUNT_DHCP4, false);
    len = dhcp4_frame(f, &mac_a, 67, 300);
    for (int i = 0; i < DP_RING_SLOTS + 10; i++) {
        dp_dummy_inject(ports[2], f, len);
        if (i % 32 == 31) {
            run_from(2);
        }
    }
    run_from(2);
    CHECK_EQ(dp_pipeline_counters(pl)->punted, DP_RING_SLOTS);
    CHECK_EQ(drops(DP_DROP_PUNT_FULL), 10);
    len = dhcp4_frame(f, &mac_a, 67, DP_PUNT_FRAME_MAX); /* > max */
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_PUNT_TOO_BIG), 1);
    dp_ring_get_counters(ring, &c);
    CHECK_EQ(c.pushed[0], DP_RING_SLOTS);
    CHECK_EQ(c.full, 10);
    CHECK_EQ(c.too_big, 1);
    CHECK_EQ(sent_anywhere(), 0);
    /* Drained, the ring takes frames again. */
    for (int i = 0; i < DP_RING_SLOTS; i++) {
        CHECK(dp_ring_pop(ring, &e));
    }
    CHECK(!dp_ring_pop(ring, &e));
    CHECK_EQ(dp_ring_push(ring, 2, DP_PUNT_DHCP4, 0, f, 100, NULL), 0);
    teardown();
}

TEST(ring_wraps_in_order)
{
    struct dp_ring *r = dp_ring_create();
    struct dp_punt_entry e;
    uint8_t b[4];
    bool was_empty;

    for (uint32_t i = 0; i < 3 * DP_RING_SLOTS; i++) {
        memcpy(b, &i, 4);
        CHECK_EQ(dp_ring_push(r, 7, 0, i, b, 4, &was_empty), 0);
        CHECK(was_empty);
        CHECK(dp_ring_pop(r, &e));
        CHECK_EQ(e.segment, i);
        CHECK(!memcmp(e.frame, &i, 4));
    }
    CHECK_EQ(dp_ring_push(r, 7, 0, 1, b, 4, &was_empty), 0);
    CHECK_EQ(dp_ring_push(r, 7, 0, 2, b, 4, &was_empty), 0);
    CHECK(!was_empty);
    CHECK_EQ(dp_ring_push(r, 7, 0, 2, b, DP_PUNT_FRAME_MAX + 1, NULL),
             EMSGSIZE);
    dp_ring_destroy(r);
}

/* A running datapath: a queued DHCP frame comes out of the punt fd, and
 * an injected frame goes out of the port named. */
TEST(datapath_punt_and_inject)
{
    struct datapath_options opts = {.n_buffers = 256, .frame_size = 4096};
    struct datapath *dp = datapath_create(&opts);
    struct dp_punt_entry e;
    struct dp_punt_stats st;
    uint8_t f[600], out[600];
    uint32_t len;
    struct pollfd pfd;

    open_ports();
    len = dhcp4_frame(f, &mac_a, 67, 300);
    dp_dummy_inject(ports[2], f, len);
    dp_tables_free(datapath_publish(dp, build(DP_PUNT_DHCP4, false)));
    pfd = (struct pollfd){.fd = datapath_punt_fd(dp), .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 5000), 1);
    CHECK(datapath_punt_read(dp, &e));
    CHECK_EQ(e.port, 2);
    CHECK_EQ(e.len, len);
    CHECK(!datapath_punt_read(dp, &e));

    len = dhcp4_frame(f, &mac_b, 68, 200);
    CHECK_EQ(datapath_inject(dp, 3, f, len), 0);
    CHECK_EQ(datapath_inject(dp, 40, f, len), 0); /* no such port */
    CHECK_EQ(datapath_inject(dp, 3, f, DP_PUNT_FRAME_MAX + 1), EMSGSIZE);
    for (int i = 0; i < 5000; i++) {
        datapath_get_punt_stats(dp, &st);
        if (st.inject_sent + st.inject_failed == 2) {
            break;
        }
        usleep(1000);
    }
    CHECK_EQ(st.punted[0], 1);
    CHECK_EQ(st.injected, 2);
    CHECK_EQ(st.inject_sent, 1);
    CHECK_EQ(st.inject_failed, 1);
    CHECK_EQ(st.inject_full, 1);
    datapath_destroy(dp);
    CHECK_EQ(dp_dummy_take(ports[3], out, sizeof out), (int)len);
    CHECK(!memcmp(out, f, len));
    for (int i = 0; i < N_PORTS; i++) {
        dp_port_close(ports[i]);
    }
}
