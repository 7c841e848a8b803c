/* Unit tests of the logical switch pipeline: MAC table, encap/decap round
 * trips, flooding with head-end replication, the ARP/ND responder, and
 * drops by reason.  Ports are dummy ports (port-dummy.h). */
#include <arpa/inet.h>
#include <stdio.h>

#include "datapath/csum.h"
#include "datapath/parse.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "datapath/tunnel.h"
#include "testlib.h"

/* Port layout of the test switch: 0 geneve, 1 vxlan, 2..4 VIFs. */
#define N_PORTS 5
static struct dp_port *ports[N_PORTS];
static struct dp_pool *pool;
static struct dp_pipeline *pl;
static struct dp_tables *tables;

static const struct eth_addr mac_a = {{0x02, 0, 0, 0, 0, 0x0a}}; /* port 2 */
static const struct eth_addr mac_b = {{0x02, 0, 0, 0, 0, 0x0b}}; /* port 3 */
static const struct eth_addr mac_c = {{0x02, 0, 0, 0, 0, 0x0c}}; /* remote */
static const struct eth_addr mac_x = {{0x02, 0, 0, 0, 0, 0x0e}}; /* port 4 */
static const struct eth_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
static const uint8_t vtep1[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 2};
static const uint8_t vtep2[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 3};

static void
mapped(uint32_t host_order_v4, uint8_t ip[16])
{
    uint32_t v4 = htonl(host_order_v4);
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    memcpy(ip + 12, &v4, 4);
}

/* Segment 0 "blue" (GENEVE 5001): ports 2 (A) and 3 (B), C remote on
 * vtep1, flood to vtep1 and vtep2.  Segment 1 "red" (VXLAN 5002): port 4
 * (X), same IP as A, flood to vtep1. */
static void
setup(void)
{
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    uint8_t ip[16];

    pool = dp_pool_create(512, 4096);
    pl = dp_pipeline_create(pool, NULL);
    for (int i = 0; i < N_PORTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        dp_port_dummy_class.open(name, NULL, &ports[i]);
        dp_dummy_set_peer(ports[i], vtep1); /* tunnels: a known peer */
    }
    dp_tb_set_ports(b, ports, N_PORTS);
    dp_tb_set_underlay(b, 1600, false);
    uint32_t blue = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    uint32_t red = dp_tb_add_segment(b, 5002, DP_ENCAP_VXLAN);
    dp_tb_add_local(b, blue, 2, 11, &mac_a);
    dp_tb_add_local(b, blue, 3, 12, &mac_b);
    dp_tb_add_remote(b, blue, &mac_c, vtep1, 21);
    dp_tb_add_flood(b, blue, vtep1);
    dp_tb_add_flood(b, blue, vtep2);
    dp_tb_add_local(b, red, 4, 31, &mac_x);
    dp_tb_add_flood(b, red, vtep1);
    mapped(0xc6130101, ip); /* 198.19.1.1 = A */
    dp_tb_add_neigh(b, blue, ip, &mac_a);
    mapped(0xc6130103, ip); /* 198.19.1.3 = C */
    dp_tb_add_neigh(b, blue, ip, &mac_c);
    mapped(0xc6130101, ip); /* 198.19.1.1 = X in red */
    dp_tb_add_neigh(b, red, ip, &mac_x);
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

/* Builds an Ethernet/IPv4/UDP frame; returns its length. */
static uint32_t
udp_frame(uint8_t *f, const struct eth_addr *dst, const struct eth_addr *src,
          uint16_t sport, uint32_t payload_len)
{
    struct eth_hdr eth = {*dst, *src, htons(ETH_TYPE_IPV4)};
    struct ipv4_hdr ip = {
        .ver_ihl = 0x45,
        .tot_len = htons((uint16_t)(20 + 8 + payload_len)),
        .ttl = 64,
        .proto = IPPROTO_UDP_,
        .src = htonl(0xc6130101),
        .dst = htonl(0xc6130102),
    };
    struct udp_hdr udp = {htons(sport), htons(9),
                          htons((uint16_t)(8 + payload_len)), 0};
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 20);
    memcpy(f + 34, &udp, 8);
    for (uint32_t i = 0; i < payload_len; i++) {
        f[42 + i] = (uint8_t)i;
    }
    return 42 + payload_len;
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

TEST(local_unicast_between_vifs)
{
    uint8_t f[256], out[256];
    uint32_t len;

    setup();
    len = udp_frame(f, &mac_b, &mac_a, 1000, 18);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(dp_dummy_take(ports[3], out, sizeof out), (int)len);
    CHECK(!memcmp(out, f, len));
    CHECK_EQ(dp_dummy_sent_count(ports[0]), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[4]), 0);
    CHECK_EQ(dp_pipeline_counters(pl)->l2_local, 1);
    teardown();
}

TEST(remote_unicast_is_geneve_encapsulated)
{
    uint8_t f[256], out[256];
    uint32_t len;
    struct geneve_hdr gh;
    struct geneve_opt opt;

    setup();
    len = udp_frame(f, &mac_c, &mac_a, 1000, 18);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    int n = dp_dummy_take(ports[DP_PORT_GENEVE], out, sizeof out);
    CHECK_EQ(n, (int)(len + DP_GENEVE_OVERHEAD));
    memcpy(&gh, out, sizeof gh);
    CHECK_EQ(gh.ver_optlen, 2); /* version 0, 8 bytes of options */
    CHECK_EQ(ntohs(gh.proto), ETH_TYPE_TEB);
    CHECK_EQ(vni_get(gh.vni), 5001);
    memcpy(&opt, out + 8, sizeof opt);
    CHECK_EQ(ntohs(opt.opt_class), WEFT_GENEVE_CLASS);
    CHECK_EQ(opt.type, WEFT_GENEVE_OPT_SRC_PORT);
    CHECK_EQ(ntohl(rd32(out + 12)), 11); /* source logical port of A */
    CHECK(!memcmp(out + DP_GENEVE_OVERHEAD, f, len));
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 0);
    teardown();
}

/* Super-frames from a VIF to a remote VM are cut into segments that leave
 * in tunnel batches of whole super-frames (one UDP_SEGMENT train each on a
 * real tunnel port), however many are forwarded in one run. */
TEST(super_frame_segments_stay_in_one_tunnel_batch)
{
    enum { N_SF = 8, SEGS = 40, MSS = 100 };
    struct dp_packet *pkts[N_SF];
    uint8_t out[512];
    uint32_t got = 0, bad = 0;

    setup();
    for (int i = 0; i < N_SF; i++) {
        struct dp_packet *p = dp_pool_get(pool);
        p->len = udp_frame(p->data, &mac_c, &mac_a, (uint16_t)(1000 + i),
                           SEGS * MSS);
        p->ol = (struct dp_offload){.flags = DP_OL_CSUM_PARTIAL,
                                    .gso_type = DP_GSO_UDP_L4,
                                    .gso_size = MSS,
                                    .csum_start = 34,
                                    .csum_offset = 6,
                                    .hdr_len = 42};
        pkts[i] = p;
    }
    dp_pipeline_run(pl, tables, 2, pkts, N_SF);
    dp_pipeline_flush(pl, tables);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), N_SF * SEGS);
    CHECK_EQ(dp_dummy_tx_calls(ports[DP_PORT_GENEVE]), N_SF);
    for (int i = 0; i < N_SF * SEGS; i++) {
        int n = dp_dummy_take(ports[DP_PORT_GENEVE], out, sizeof out);
        const uint8_t *udp = out + DP_GENEVE_OVERHEAD + 34;
        /* In order: super-frame i / SEGS, its source port, MSS bytes. */
        if (n != (int)(DP_GENEVE_OVERHEAD + 42 + MSS) ||
            ntohs(rd16(udp)) != 1000 + i / SEGS) {
            bad++;
        }
        got++;
    }
    CHECK_EQ(got, N_SF * SEGS);
    CHECK_EQ(bad, 0);
    teardown();
}

TEST(decap_delivers_to_local_port_and_checks_vni)
{
    uint8_t f[256], out[256], enc[300];
    uint32_t len;
    struct geneve_hdr gh = {.ver_optlen = 0, .proto = htons(ETH_TYPE_TEB)};

    setup();
    len = udp_frame(f, &mac_a, &mac_c, 1000, 18);
    vni_put(gh.vni, 5001);
    memcpy(enc, &gh, 8);
    memcpy(enc + 8, f, len);
    dp_dummy_inject(ports[DP_PORT_GENEVE], enc, len + 8);
    run_from(DP_PORT_GENEVE);
    CHECK_EQ(dp_dummy_take(ports[2], out, sizeof out), (int)len);
    CHECK(!memcmp(out, f, len));

    vni_put(gh.vni, 7777); /* unknown VNI */
    memcpy(enc, &gh, 8);
    dp_dummy_inject(ports[DP_PORT_GENEVE], enc, len + 8);
    run_from(DP_PORT_GENEVE);
    CHECK_EQ(drops(DP_DROP_TUN_UNKNOWN_VNI), 1);

    vni_put(gh.vni, 5001); /* VNI of blue, but arriving as VXLAN */
    struct vxlan_hdr vh = {.flags = VXLAN_F_VNI};
    vni_put(vh.vni, 5001);
    memcpy(enc, &vh, 8);
    dp_dummy_inject(ports[DP_PORT_VXLAN], enc, len + 8);
    run_from(DP_PORT_VXLAN);
    CHECK_EQ(drops(DP_DROP_TUN_UNKNOWN_VNI), 2);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[4]), 0);

    /* The right VNI from a sender that is no tunnel endpoint of ours (nor
     * from no sender at all): dropped before decapsulation.  A peer
     * known only from a flood list (vtep2) is one. */
    static const uint8_t stranger[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                         0, 0, 0xff, 0xff, 198, 18, 0, 99};
    static const uint8_t none[16];
    const uint8_t *const senders[] = {stranger, none, vtep2};
    memcpy(enc, &gh, 8);
    memcpy(enc + 8, f, len);
    for (size_t i = 0; i < ARRAY_SIZE(senders); i++) {
        dp_dummy_set_peer(ports[DP_PORT_GENEVE], senders[i]);
        dp_dummy_inject(ports[DP_PORT_GENEVE], enc, len + 8);
        run_from(DP_PORT_GENEVE);
    }
    CHECK_EQ(drops(DP_DROP_TUN_UNKNOWN_PEER), 2);
    CHECK_EQ(dp_dummy_take(ports[2], out, sizeof out), (int)len);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    teardown();
}

/* Patches keep the set of known tunnel peers exact: an endpoint a patch
 * binds a MAC to is known, and one whose last binding a patch removes
 * (and that no flood list names) is forgotten, as a full build of the
 * same content would have it. */
TEST(patched_tables_know_exactly_the_bound_peers)
{
    static const uint8_t vtep3[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                      0, 0, 0xff, 0xff, 198, 18, 0, 33};
    static const struct eth_addr mac_d = {{0x02, 0, 0, 0, 0, 0x0d}};

    setup();
    CHECK(!dp_peer_known(tables, vtep3));
    struct dp_tables *t1 = dp_tables_clone(tables, 2, NULL);
    CHECK(dp_tables_add_remote(t1, 0, &mac_d, vtep3, 41));
    dp_tables_finish(t1);
    CHECK(dp_peer_known(t1, vtep3));
    CHECK(dp_peer_known(t1, vtep1) && dp_peer_known(t1, vtep2));

    struct dp_tables *t2 = dp_tables_clone(t1, 3, NULL);
    CHECK(dp_tables_del_remote(t2, 0, &mac_d));
    dp_tables_finish(t2);
    CHECK(!dp_peer_known(t2, vtep3));
    /* vtep1 loses its only binding (C) but stays in the flood lists. */
    CHECK(dp_tables_del_remote(t2, 0, &mac_c));
    dp_tables_finish(t2);
    CHECK(dp_peer_known(t2, vtep1));
    /* Bound again by a later patch: known again. */
    struct dp_tables *t3 = dp_tables_clone(t2, 4, NULL);
    CHECK(dp_tables_add_remote(t3, 1, &mac_d, vtep3, 42));
    dp_tables_finish(t3);
    CHECK(dp_peer_known(t3, vtep3));
    dp_tables_free(t3);
    dp_tables_free(t2);
    dp_tables_free(t1);
    teardown();
}

TEST(encap_decap_roundtrip_vxlan_and_geneve)
{
    uint8_t f[256];
    struct dp_packet *p;
    uint32_t len;

    setup();
    for (int e = 0; e < 2; e++) {
        const struct dp_segment *seg = &tables->segments[e];
        struct dp_vtep vt;
        memcpy(vt.addr, vtep1, 16);
        p = dp_pool_get(pool);
        len = udp_frame(f, &mac_a, &mac_c, 7, 100);
        memcpy(p->data, f, len);
        p->len = len;
        CHECK_EQ(dp_tunnel_encap(p, seg, &vt, 42), DP_DROP_NONE);
        CHECK(!memcmp(p->tun_addr, vtep1, 16));
        CHECK_EQ(p->out_port, seg->tunnel_port);
        CHECK_EQ(dp_tunnel_decap(p, seg->encap, tables), DP_DROP_NONE);
        CHECK_EQ(p->segment, (uint32_t)e);
        CHECK_EQ(p->src_lport, e == 0 ? 42 : 0);
        CHECK_EQ(p->len, len);
        CHECK(!memcmp(p->data, f, len));
        dp_packet_free(p);
    }
    teardown();
}

TEST(decap_rejects_hostile_headers)
{
    uint8_t buf[64] = {0};
    struct dp_packet *p;

    setup();
    /* truncated, bad version, OAM, non-Ethernet payload, critical option,
     * option running past the header, VXLAN without I flag */
    struct {
        uint8_t hdr[16];
        uint32_t len;
        enum dp_encap encap;
        enum dp_drop want;
    } cases[] = {
        {{0}, 4, DP_ENCAP_GENEVE, DP_DROP_TUN_TRUNC},
        {{0x40, 0, 0x65, 0x58, 0, 0x13, 0x89, 0},
         8,
         DP_ENCAP_GENEVE,
         DP_DROP_TUN_BAD_VERSION},
        {{0x00, 0x80, 0x65, 0x58, 0, 0x13, 0x89, 0},
         8,
         DP_ENCAP_GENEVE,
         DP_DROP_TUN_OAM},
        {{0x00, 0, 0x08, 0x00, 0, 0x13, 0x89, 0},
         8,
         DP_ENCAP_GENEVE,
         DP_DROP_TUN_BAD_PROTO},
        {{0x01, 0x40, 0x65, 0x58, 0, 0x13, 0x89, 0, 0x01, 0x02, 0x80, 0},
         12,
         DP_ENCAP_GENEVE,
         DP_DROP_TUN_CRITICAL_OPT},
        {{0x01, 0, 0x65, 0x58, 0, 0x13, 0x89, 0, 0x01, 0x02, 0x00, 0x05},
         12,
         DP_ENCAP_GENEVE,
         DP_DROP_TUN_TRUNC},
        {{0x03, 0, 0x65, 0x58, 0, 0x13, 0x89, 0},
         8,
         DP_ENCAP_GENEVE,
         DP_DROP_TUN_TRUNC},
        {{0x00, 0, 0, 0, 0, 0x13, 0x8a, 0},
         8,
         DP_ENCAP_VXLAN,
         DP_DROP_TUN_BAD_FLAGS},
        {{0x08, 0, 0, 0, 0, 0, 0, 0},
         8,
         DP_ENCAP_VXLAN,
         DP_DROP_TUN_UNKNOWN_VNI}, /* VNI 0 is never valid */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        p = dp_pool_get(pool);
        memcpy(buf, cases[i].hdr, sizeof cases[i].hdr);
        memcpy(p->data, buf, cases[i].len);
        p->len = cases[i].len;
        CHECK_EQ(dp_tunnel_decap(p, cases[i].encap, tables), cases[i].want);
        CHECK_EQ(p->len, cases[i].len); /* untouched */
        dp_packet_free(p);
    }
    teardown();
}

TEST(broadcast_floods_segment_and_replicates_to_vteps)
{
    uint8_t f[256], out[256];
    uint32_t len;

    setup();
    len = udp_frame(f, &bcast, &mac_a, 1000, 18);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 1);              /* B */
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);              /* not back */
    CHECK_EQ(dp_dummy_sent_count(ports[4]), 0);              /* not red */
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 2); /* 2 vteps */
    CHECK_EQ(dp_dummy_take(ports[3], out, sizeof out), (int)len);
    CHECK(!memcmp(out, f, len));

    /* From the fabric: to local ports only (split horizon). */
    struct geneve_hdr gh = {.ver_optlen = 0, .proto = htons(ETH_TYPE_TEB)};
    uint8_t enc[300];
    vni_put(gh.vni, 5001);
    memcpy(enc, &gh, 8);
    len = udp_frame(f, &bcast, &mac_c, 1000, 18);
    memcpy(enc + 8, f, len);
    dp_dummy_inject(ports[DP_PORT_GENEVE], enc, len + 8);
    run_from(DP_PORT_GENEVE);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 1);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 1); /* the earlier one taken */
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 2); /* no more */
    CHECK_EQ(dp_dummy_sent_count(ports[4]), 0);
    teardown();
}

TEST(arp_request_for_known_ip_answered_locally)
{
    uint8_t f[64] = {0}, out[128];
    struct eth_hdr eth = {bcast, mac_a, htons(ETH_TYPE_ARP)};
    struct arp_eth_ipv4 arp = {
        .htype = htons(1),
        .ptype = htons(ETH_TYPE_IPV4),
        .hlen = 6,
        .plen = 4,
        .op = htons(ARP_OP_REQUEST),
        .sha = mac_a,
        .spa = htonl(0xc6130101),
        .tpa = htonl(0xc6130103),
    };

    setup();
    memcpy(f, &eth, 14);
    memcpy(f + 14, &arp, sizeof arp);
    dp_dummy_inject(ports[2], f, 60);
    run_from(2);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 0); /* no flood */
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 0);
    CHECK_EQ(dp_dummy_take(ports[2], out, sizeof out), 60);
    memcpy(&eth, out, 14);
    memcpy(&arp, out + 14, sizeof arp);
    CHECK(eth_addr_equals(&eth.dst, &mac_a));
    CHECK(eth_addr_equals(&eth.src, &mac_c));
    CHECK_EQ(ntohs(arp.op), ARP_OP_REPLY);
    CHECK(eth_addr_equals(&arp.sha, &mac_c));
    CHECK_EQ(ntohl(arp.spa), 0xc6130103);
    CHECK(eth_addr_equals(&arp.tha, &mac_a));
    CHECK_EQ(ntohl(arp.tpa), 0xc6130101);
    CHECK_EQ(dp_pipeline_counters(pl)->arp_replies, 1);

    /* Unknown target: flooded, not answered. */
    arp.op = htons(ARP_OP_REQUEST);
    arp.sha = mac_a;
    arp.spa = htonl(0xc6130101);
    arp.tpa = htonl(0xc6130163);
    eth = (struct eth_hdr){bcast, mac_a, htons(ETH_TYPE_ARP)};
    memcpy(f, &eth, 14);
    memcpy(f + 14, &arp, sizeof arp);
    dp_dummy_inject(ports[2], f, 60);
    run_from(2);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 1);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 2);

    /* Neighbours are per segment: from red, C's IP (blue only) is not
     * answered, and is flooded within red alone. */
    arp.tpa = htonl(0xc6130103);
    arp.sha = mac_x;
    eth.src = mac_x;
    memcpy(f, &eth, 14);
    memcpy(f + 14, &arp, sizeof arp);
    dp_dummy_inject(ports[4], f, 60);
    run_from(4);
    CHECK_EQ(dp_dummy_sent_count(ports[4]), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_VXLAN]), 1);
    CHECK_EQ(dp_pipeline_counters(pl)->arp_replies, 1);
    teardown();
}

TEST(nd_solicitation_answered_with_valid_checksum)
{
    uint8_t f[128] = {0}, out[128];
    struct ipv6_hdr ip6 = {.ver_tc_flow = htonl(0x60000000),
                           .payload_len = htons(32),
                           .next = IPPROTO_ICMPV6_,
                           .hop_limit = 255};
    struct nd_hdr ns = {.type = ICMP6_NS};
    uint8_t target[16] = {0xfd, 0, 0, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};
    struct eth_hdr eth = {
        {{0x33, 0x33, 0xff, 0, 0, 3}}, mac_a, htons(ETH_TYPE_IPV6)};
    struct dp_tables_builder *b;

    setup();
    /* Add fd00:19::3 -> C to blue (rebuild with one more neighbour). */
    b = dp_tables_builder_create(2);
    dp_tb_set_ports(b, ports, N_PORTS);
    uint32_t blue = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    dp_tb_add_local(b, blue, 2, 11, &mac_a);
    dp_tb_add_neigh(b, blue, target, &mac_c);
    dp_tables_free(tables);
    tables = dp_tables_build(b);

    ip6.src.b[0] = 0xfd;
    ip6.src.b[3] = 0x19;
    ip6.src.b[15] = 1;
    memset(ip6.dst.b, 0, 16);
    ip6.dst.b[0] = 0xff;
    ip6.dst.b[1] = 0x02;
    ip6.dst.b[11] = 1;
    ip6.dst.b[12] = 0xff;
    ip6.dst.b[15] = 3;
    memcpy(ns.target.b, target, 16);
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip6, 40);
    memcpy(f + 54, &ns, sizeof ns);
    f[54 + 24] = ND_OPT_SLLA;
    f[54 + 25] = 1;
    memcpy(f + 54 + 26, &mac_a, 6);
    dp_dummy_inject(ports[2], f, 86);
    run_from(2);
    int n = dp_dummy_take(ports[2], out, sizeof out);
    CHECK_EQ(n, 14 + 40 + 32);
    memcpy(&eth, out, 14);
    memcpy(&ip6, out + 14, 40);
    CHECK(eth_addr_equals(&eth.dst, &mac_a));
    CHECK(eth_addr_equals(&eth.src, &mac_c));
    CHECK(!memcmp(ip6.src.b, target, 16));
    CHECK_EQ(ip6.dst.b[15], 1);
    CHECK_EQ(out[54], ICMP6_NA);
    CHECK_EQ(out[54 + 24], ND_OPT_TLLA);
    CHECK(!memcmp(out + 54 + 26, &mac_c, 6));
    uint32_t sum = csum_pseudo_ipv6(ip6.src.b, ip6.dst.b, IPPROTO_ICMPV6_, 32);
    CHECK_EQ(csum_finish(csum_partial(out + 54, 32, sum)), 0);
    CHECK_EQ(dp_pipeline_counters(pl)->nd_replies, 1);
    /* The same frame saying its IPv6 payload is 8 bytes: the target is
     * Ethernet padding, the NS invalid (RFC 4861 7.1.1), not answered. */
    f[14 + 4] = 0;
    f[14 + 5] = 8;
    dp_dummy_inject(ports[2], f, 86);
    run_from(2);
    CHECK(dp_dummy_take(ports[2], out, sizeof out) <= 0);
    CHECK_EQ(dp_pipeline_counters(pl)->nd_replies, 1);
    teardown();
}

TEST(drops_are_counted_by_reason)
{
    uint8_t f[2048];
    uint32_t len;

    setup();
    dp_dummy_inject(ports[2], f, 10); /* runt */
    run_from(2);
    CHECK_EQ(drops(DP_DROP_RUNT), 1);

    len = udp_frame(f, &mac_a, &mac_a, 1, 18); /* to itself */
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_HAIRPIN), 1);

    len = udp_frame(f, &mac_c, &mac_a, 1, 1560); /* too big for tunnel */
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_TOO_BIG), 1);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 0);

    /* A frame from a port with no binding. */
    struct dp_tables_builder *b = dp_tables_builder_create(3);
    dp_tb_set_ports(b, ports, N_PORTS);
    dp_tables_free(tables);
    tables = dp_tables_build(b);
    len = udp_frame(f, &mac_b, &mac_a, 1, 18);
    dp_dummy_inject(ports[2], f, len);
    run_from(2);
    CHECK_EQ(drops(DP_DROP_PORT_UNBOUND), 1);
    teardown();
}

TEST(overlapping_segments_stay_isolated)
{
    uint8_t f[256];
    uint32_t len;

    setup();
    /* X (red) sends to A's MAC: A is not in red, so it is flooded within
     * red only (VXLAN to red's flood list), never delivered to A. */
    len = udp_frame(f, &mac_a, &mac_x, 1, 18);
    dp_dummy_inject(ports[4], f, len);
    run_from(4);
    CHECK_EQ(dp_dummy_sent_count(ports[2]), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[3]), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_GENEVE]), 0);
    CHECK_EQ(dp_dummy_sent_count(ports[DP_PORT_VXLAN]), 1);
    teardown();
}
