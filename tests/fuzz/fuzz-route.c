/* libFuzzer target for the distributed router (route.h) in the pipeline:
 * dp_route_decide(), echo replies, IPv4 fragmentation, ICMP errors
 * (icmp-error.h) and the gateway ARP/ND responder (neigh.h), fed with
 * frames from VIFs.
 *
 * Tables (built once): router R1 joins S1 (GENEVE; VIF A, VIF A2 with
 * offloads, a remote host), S2 (VXLAN; VIF B with a 128-byte MTU, ECMP next
 * hops behind two endpoints, a neighbour whose MAC is nowhere: flooded)
 * and S3 (GENEVE; VIF C with offloads and a 1280-byte MTU, punting DHCP
 * and RS), all dual stack; static routes with ECMP (within a segment and
 * across two), discard, an unresolvable next hop, a next hop without a
 * neighbour, the router's own address as a next hop, a route more specific
 * than a connected subnet.  Router R2 joins S4 (IPv4 only, the same
 * prefix as R1's S1, a default route) and S5 (IPv6 only; VXLAN, VIF E
 * with offloads and a 576-byte MTU): no error source of the other family
 * on either.  Port 8 is unbound.  The underlay MTU is 1400, so tunnel
 * egress is small too.
 *
 * Input: a 6-byte header, then the frame.
 *   byte 0  bits 0-2: ingress port (A, A2, B, C, D, E, A, unbound);
 *           bit 3: destination MAC := the router MAC of its segment;
 *           bit 4: source MAC := the port's own MAC;
 *           bit 5: fix the IPv4 header checksum;
 *           bit 6: fix the TCP/UDP/ICMP/ICMPv6 checksum;
 *           bit 7: insert an 802.1Q tag after the MAC addresses
 *   byte 1  bits 0-1: how many copies in the batch (1, 1, 1, 3; with
 *           bits 2-4 = 3 it is 150, more than the ICMP rate limit's burst);
 *           bits 2-4: offloads, on ports that have them (A2, C, E): 0-3
 *           none, 4 checksum owed, 5 TCP GSO, 6 UDP GSO, 7 raw (below);
 *           bits 5-7: raw mode: bit 5 checksum owed, bits 6-7 GSO type
 *   bytes 2-3  gso_size (little-endian)
 *   bytes 4-5  raw mode: csum_start, csum_offset
 * Offload metadata is turned into pkt->ol the way port-afpacket.c turns a
 * virtio-net header (what it would refuse, the target skips).  The clock
 * jumps before every input, so the ICMP rate limit starts full each time
 * and every input is reproducible on its own.
 *
 * Checked after every input (abort() on violation):
 *   - every buffer is back in the pool, none twice;
 *   - every frame output: 14 <= length <= the pool's frame size, inside its
 *     buffer, out_port right; to a VIF without offloads no offload request
 *     left; to a VIF with offloads no plain frame above its MTU; into a
 *     tunnel a known VNI on its tunnel port, a known endpoint, an inner
 *     frame within the segment's largest;
 *   - counters: tx_packets = frames the ports saw, punted = frames in the
 *     punt ring, no NO_BUFFER (the pool is large), and the identity that
 *     holds in pipeline.c when no buffer runs out (every frame created is
 *     sent, dropped once, or consumed by one of flood/GSO/fragmenting):
 *       rx + replicas + gso_segments + ip_fragments + icmp_errors_sent =
 *       tx + drops + punted + flooded + gso_frames + fragmented + gro_merged
 *     where 'fragmented' (packets cut into fragments) is 'routed' when
 *     fragments were made, as all copies of one input meet the same fate,
 *     and every flood consumes its original because every segment has a
 *     flood endpoint (else a flood without targets counts twice);
 *   - a frame that does not parse produces nothing;
 *   - a frame to the router MAC is never L2-switched, others never routed;
 *   - L2: outputs unchanged (but for a completed checksum), other ports,
 *     same segment;
 *   - forwarded: from the egress router MAC to a neighbour of an egress
 *     segment of the same router, TTL / hop limit one less, IPv4 header
 *     checksum valid (when it was), the rest unchanged (Ethernet padding
 *     dropped only if it alone was too big), within the egress MTU (for a
 *     next hop whose MAC the segment does not know, flooded, the router
 *     can only apply the segment's largest frame);
 *   - fragments: header checksum valid, within the egress MTU, offsets and
 *     payload matching the original (non-last ones a multiple of 8 with
 *     MF), all together covering the payload exactly;
 *   - echo replies: back to the sender, addresses swapped, checksums
 *     valid;
 *   - ICMP errors: back to the sender from the gateway, within 576 / 1280
 *     bytes, checksums valid, quoting the packet as received, the type
 *     matching the drop reason, an MTU below the refused packet's length;
 *     never about an ICMP error, a later fragment or a bad source;
 *   - ARP / NA replies: for an address the segment's table has, from its
 *     owner, NA checksum valid.
 * Offload metadata that points the owed checksum outside the L4 header
 * (possible from a guest) lets the pipeline write it anywhere, so for
 * such inputs only the checks that do not read output bytes apply. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_net.h>

#include "datapath/csum.h"
#include "datapath/parse.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "datapath/port.h"
#include "datapath/punt.h"
#include "datapath/route.h"
#include "datapath/tunnel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "fuzz-route: " __VA_ARGS__);                           \
        fprintf(stderr, "\n");                                                 \
        abort();                                                               \
    } while (0)

#define N_BUFS     1024
#define FRAME_SIZE 16384
#define HDR_LEN    6
#define N_PORTS    9
#define P_UNBOUND  8
#define MAX_REC    4096
#define ARENA_SIZE (8u << 20)

static struct dp_pool *pool, *scratch_pool;
static struct dp_pipeline *pl;
static struct dp_tables *tables;
static struct dp_port *ports[N_PORTS];
static struct dp_port_class check_class;
static struct dp_ring *punt_ring;
static uint64_t now_ms = 1;

static const struct eth_addr rmac1 = {{0x02, 0xaa, 0, 0, 0, 0x01}};
static const struct eth_addr rmac2 = {{0x02, 0xaa, 0, 0, 0, 0x02}};
static const struct eth_addr vif_mac[N_PORTS] = {
    [2] = {{0x02, 0, 0, 0, 0, 0x0a}}, [3] = {{0x02, 0, 0, 0, 0, 0x0b}},
    [4] = {{0x02, 0, 0, 0, 0, 0x0c}}, [5] = {{0x02, 0, 0, 0, 0, 0x0d}},
    [6] = {{0x02, 0, 0, 0, 0, 0x0e}}, [7] = {{0x02, 0, 0, 0, 0, 0x0f}},
    [8] = {{0x02, 0, 0, 0, 0, 0x10}},
};
static const struct eth_addr mac_ra = {{0x02, 0, 0, 0, 1, 0x20}};
static const struct eth_addr mac_nh1 = {{0x02, 0, 0, 0, 1, 0x31}};
static const struct eth_addr mac_nh2 = {{0x02, 0, 0, 0, 1, 0x32}};
static const struct eth_addr mac_ghost = {{0x02, 0, 0, 0, 1, 0x77}};
static const struct eth_addr mac_r2nh = {{0x02, 0, 0, 0, 1, 0x54}};
static const struct eth_addr mac_re = {{0x02, 0, 0, 0, 1, 0x5e}};
static const uint8_t vtep1[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 2};
static const uint8_t vtep2[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 3};

/* ---- Building the tables. ---- */

static void
v4m(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t ip[16])
{
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    ip[12] = a;
    ip[13] = b;
    ip[14] = c;
    ip[15] = d;
}

/* 2001:db8:<net>::<host>, or <top>::/16 style prefixes with net 0. */
static void
v6a(uint16_t top, uint16_t net, uint16_t host, uint8_t ip[16])
{
    memset(ip, 0, 16);
    ip[0] = (uint8_t)(top >> 8);
    ip[1] = (uint8_t)top;
    if (top == 0x2001) {
        ip[2] = 0x0d;
        ip[3] = 0xb8;
    }
    ip[4] = (uint8_t)(net >> 8);
    ip[5] = (uint8_t)net;
    ip[14] = (uint8_t)(host >> 8);
    ip[15] = (uint8_t)host;
}

static void
neigh4(struct dp_tables_builder *b, uint32_t s, uint8_t net, uint8_t host,
       const struct eth_addr *m)
{
    uint8_t ip[16];
    v4m(10, net, 0, host, ip);
    dp_tb_add_neigh(b, s, ip, m);
}

static void
neigh6(struct dp_tables_builder *b, uint32_t s, uint16_t net, uint16_t host,
       const struct eth_addr *m)
{
    uint8_t ip[16];
    v6a(0x2001, net, host, ip);
    dp_tb_add_neigh(b, s, ip, m);
}

static void
gw4(struct dp_tables_builder *b, uint32_t s, uint8_t net)
{
    uint8_t ip[16];
    v4m(10, net, 0, 1, ip);
    dp_tb_add_segment_gateway(b, s, ip, 24);
}

static void
gw6(struct dp_tables_builder *b, uint32_t s, uint16_t net)
{
    uint8_t ip[16];
    v6a(0x2001, net, 1, ip);
    dp_tb_add_segment_gateway(b, s, ip, 64);
}

/* A static IPv4 route via up to two next hops 10.<n>.0.<h> (n 0: none). */
static void
route4(struct dp_tables_builder *b, uint32_t r, const uint8_t pfx[4],
       uint8_t plen, uint8_t n1, uint8_t h1, uint8_t n2, uint8_t h2,
       uint32_t distance)
{
    uint8_t p[16], nh[2][16];
    uint32_t n = 0;

    v4m(pfx[0], pfx[1], pfx[2], pfx[3], p);
    if (n1) {
        v4m(10, n1, 0, h1, nh[n++]);
    }
    if (n2) {
        v4m(10, n2, 0, h2, nh[n++]);
    }
    dp_tb_add_route(b, r, p, plen, (const uint8_t(*)[16])nh, n, distance);
}

static void
route6(struct dp_tables_builder *b, uint32_t r, uint16_t top, uint16_t net,
       uint8_t plen, uint16_t n1, uint16_t h1, uint16_t n2, uint16_t h2)
{
    uint8_t p[16], nh[2][16];
    uint32_t n = 0;

    v6a(top, net, 0, p);
    if (n1) {
        v6a(0x2001, n1, h1, nh[n++]);
    }
    if (n2) {
        v6a(0x2001, n2, h2, nh[n++]);
    }
    dp_tb_add_route(b, r, p, plen, (const uint8_t(*)[16])nh, n, 1);
}

static int check_tx(struct dp_port *, struct dp_packet **, int);

static uint64_t
fuzz_clock(void *aux)
{
    (void)aux;
    return now_ms;
}

static void
init(void)
{
    static const uint32_t mtu[N_PORTS] = {1500, 1500, 1500, 9000, 128,
                                          1280, 1500, 576,  1500};
    static const bool offl[N_PORTS] = {[3] = true, [5] = true, [7] = true};
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    struct dp_pipeline_options o;
    uint32_t s[6];

    pool = dp_pool_create(N_BUFS, FRAME_SIZE);
    scratch_pool = dp_pool_create(1, FRAME_SIZE);
    punt_ring = dp_ring_create();
    dp_pipeline_options_default(&o);
    o.clock_ms = fuzz_clock;
    o.punt_ring = punt_ring;
    pl = dp_pipeline_create(pool, &o);

    check_class = dp_port_dummy_class;
    check_class.tx = check_tx;
    for (int i = 0; i < N_PORTS; i++) {
        struct dp_port_config cfg = {.offloads = offl[i]};
        dp_port_dummy_class.open("fz", &cfg, &ports[i]);
        dp_dummy_set_capture(ports[i], false);
        ports[i]->class = &check_class;
        ports[i]->mtu = mtu[i];
    }
    dp_tb_set_ports(b, ports, N_PORTS);
    dp_tb_set_underlay(b, 1400, false);
    s[1] = dp_tb_add_segment(b, 101, DP_ENCAP_GENEVE);
    s[2] = dp_tb_add_segment(b, 102, DP_ENCAP_VXLAN);
    s[3] = dp_tb_add_segment(b, 103, DP_ENCAP_GENEVE);
    s[4] = dp_tb_add_segment(b, 104, DP_ENCAP_GENEVE);
    s[5] = dp_tb_add_segment(b, 105, DP_ENCAP_VXLAN);
    uint32_t r1 = dp_tb_add_router(b), r2 = dp_tb_add_router(b);
    for (int i = 1; i <= 3; i++) {
        dp_tb_set_segment_router(b, s[i], r1, &rmac1);
        gw4(b, s[i], (uint8_t)i);
        gw6(b, s[i], (uint16_t)i);
    }
    gw4(b, s[3], 33); /* a second IPv4 subnet on S3 */
    dp_tb_set_segment_router(b, s[4], r2, &rmac2);
    gw4(b, s[4], 1);
    dp_tb_set_segment_router(b, s[5], r2, &rmac2);
    gw6(b, s[5], 5); /* IPv6 only: no source for IPv4 errors */
    dp_tb_set_segment_punt(b, s[3], DP_PUNT_DHCP4 | DP_PUNT_DHCP6 | DP_PUNT_RS);

    dp_tb_add_local(b, s[1], 2, 11, &vif_mac[2]);
    dp_tb_add_local(b, s[1], 3, 12, &vif_mac[3]);
    dp_tb_add_local(b, s[2], 4, 13, &vif_mac[4]);
    dp_tb_add_local(b, s[3], 5, 14, &vif_mac[5]);
    dp_tb_add_local(b, s[4], 6, 15, &vif_mac[6]);
    dp_tb_add_local(b, s[5], 7, 16, &vif_mac[7]);
    dp_tb_add_remote(b, s[1], &mac_ra, vtep1, 21);
    dp_tb_add_remote(b, s[2], &mac_nh1, vtep1, 22);
    dp_tb_add_remote(b, s[2], &mac_nh2, vtep2, 23);
    dp_tb_add_remote(b, s[4], &mac_r2nh, vtep2, 24);
    dp_tb_add_remote(b, s[5], &mac_re, vtep1, 25);
    for (int i = 1; i <= 5; i++) {
        dp_tb_add_flood(b, s[i], vtep1); /* every flood has a target */
    }
    dp_tb_add_flood(b, s[2], vtep2);

    neigh4(b, s[1], 1, 10, &vif_mac[2]);
    neigh4(b, s[1], 1, 11, &vif_mac[3]);
    neigh4(b, s[1], 1, 20, &mac_ra);
    neigh6(b, s[1], 1, 0x10, &vif_mac[2]);
    neigh6(b, s[1], 1, 0x11, &vif_mac[3]);
    neigh6(b, s[1], 1, 0x20, &mac_ra);
    neigh4(b, s[2], 2, 10, &vif_mac[4]);
    neigh4(b, s[2], 2, 254, &mac_nh1);
    neigh4(b, s[2], 2, 253, &mac_nh2);
    neigh4(b, s[2], 2, 77, &mac_ghost);
    neigh6(b, s[2], 2, 0x10, &vif_mac[4]);
    neigh6(b, s[2], 2, 0x254, &mac_nh1);
    neigh6(b, s[2], 2, 0x253, &mac_nh2);
    neigh6(b, s[2], 2, 0x77, &mac_ghost);
    neigh4(b, s[3], 3, 10, &vif_mac[5]);
    neigh4(b, s[3], 33, 10, &vif_mac[5]);
    neigh6(b, s[3], 3, 0x10, &vif_mac[5]);
    neigh4(b, s[4], 1, 10, &vif_mac[6]);
    neigh4(b, s[4], 1, 254, &mac_r2nh);
    neigh4(b, s[5], 2, 10, &vif_mac[7]);
    neigh4(b, s[5], 2, 20, &mac_re);
    neigh6(b, s[5], 5, 0x10, &vif_mac[7]);

    route4(b, r1, (uint8_t[]){192, 168, 0, 0}, 16, 2, 254, 2, 253, 10);
    route4(b, r1, (uint8_t[]){192, 168, 5, 0}, 24, 0, 0, 0, 0, 1); /* discard */
    route4(b, r1, (uint8_t[]){172, 16, 0, 0}, 16, 99, 1, 0, 0, 1); /* nowhere */
    route4(b, r1, (uint8_t[]){172, 17, 0, 0}, 16, 2, 77, 0, 0, 1); /* no MAC */
    route4(b, r1, (uint8_t[]){172, 18, 0, 0}, 16, 3, 99, 0, 0, 1); /* no nbr */
    route4(b, r1, (uint8_t[]){198, 51, 100, 0}, 24, 1, 20, 0, 0, 1);
    route4(b, r1, (uint8_t[]){203, 0, 113, 0}, 24, 2, 1, 0, 0, 1); /* itself */
    route4(b, r1, (uint8_t[]){10, 2, 0, 128}, 25, 3, 10, 0, 0, 1);
    route4(b, r1, (uint8_t[]){100, 64, 0, 0}, 10, 2, 254, 1, 20, 5);
    route6(b, r1, 0x2001, 0x99, 48, 2, 0x254, 2, 0x253);
    route6(b, r1, 0x2001, 0x98, 48, 0, 0, 0, 0);
    route6(b, r1, 0x2000, 0, 3, 3, 0x10, 0, 0);
    route6(b, r1, 0x2001, 0x77, 48, 2, 0x77, 0, 0);
    route6(b, r1, 0xfd00, 0, 8, 3, 0x99, 0, 0);
    route4(b, r2, (uint8_t[]){0, 0, 0, 0}, 0, 1, 254, 0, 0, 1); /* default */
    tables = dp_tables_build(b);
}

/* ---- What one input is and what came out of it. ---- */

struct record {
    uint16_t port;
    uint32_t seg;         /* segment the (inner) frame is in */
    uint32_t off, len;    /* inner frame in the arena */
    struct dp_offload ol; /* as output */
    uint16_t l3_ofs;      /* parse of the output */
    enum dp_drop parse;   /* its result */
};

static struct {
    uint8_t frame[FRAME_SIZE]; /* the input frame as the pipeline got it */
    uint32_t len;
    uint16_t port;
    uint32_t seg;
    struct dp_packet p; /* its parse (data points at 'frame') */
    enum dp_drop parse;
    struct dp_offload ol;
    bool ol_sane;  /* offload metadata describes the packet's own L4
                    * header: else the pipeline may write a checksum
                    * anywhere (virtio-net semantics) and only the
                    * checks that do not read the output's bytes apply */
    bool csum4_ok; /* IPv4 header checksum valid */
    bool l4_ok;    /* ICMP / ICMPv6 checksum valid */
    uint32_t n_tx; /* frames the ports were handed */
    struct record rec[MAX_REC];
    uint32_t n_rec;
    bool overflow; /* not every output was recorded */
} in;

static uint8_t arena[ARENA_SIZE];
static uint32_t arena_used;

static int
port_index(const struct dp_port *p)
{
    for (int i = 0; i < N_PORTS; i++) {
        if (ports[i] == p) {
            return i;
        }
    }
    FAIL("tx on an unknown port");
}

/* Parses 'len' bytes of 'f' in a scratch buffer; returns the result and
 * the parse fields in '*out' (data not valid afterwards). */
static enum dp_drop
scratch_parse(const uint8_t *f, uint32_t len, struct dp_packet *out)
{
    struct dp_packet *s = dp_pool_get(scratch_pool);
    enum dp_drop d;

    if (!s) {
        FAIL("scratch pool empty");
    }
    memcpy(s->data, f, len);
    s->len = len;
    d = dp_parse(s);
    *out = *s;
    dp_packet_free(s);
    return d;
}

/* The largest frame the router may send to 'port' in segment 'seg' (the
 * limit dp_route_decide() applies) addressed to 'dst': a VIF's MTU, or
 * the segment's largest frame for a tunnel, and also for a MAC the
 * segment does not know (flooded: the router cannot know the port; local
 * ports with smaller MTUs get more than their MTU then). */
static uint32_t
egress_limit(uint16_t port, uint32_t seg, const uint8_t *dst)
{
    const struct dp_mac_entry *e =
        dp_mac_lookup(tables, seg, (const struct eth_addr *)(const void *)dst);

    const struct dp_segment *sg = &tables->segments[seg];
    uint32_t limit = sg->max_frame;

    if (e && !e->remote) {
        return ports[e->port]->mtu + ETH_HDR_LEN;
    }
    if (!e) {
        /* Flooded: the router sized it for every local port too. */
        for (uint32_t i = 0; i < sg->n_local; i++) {
            const struct dp_port *p = tables->ports[sg->local_ports[i]];
            if (p && p->mtu + ETH_HDR_LEN < limit) {
                limit = p->mtu + ETH_HDR_LEN;
            }
        }
    }
    (void)port;
    return limit;
}

static void
check_out(uint16_t idx, const struct dp_packet *pkt)
{
    const uint8_t *f = pkt->data;
    uint32_t len = pkt->len, seg;
    bool tunnel = idx < DP_PORT_FIRST_VIF;

    if (pkt->pool != pool || pkt->data < pkt->base ||
        dp_packet_headroom(pkt) + len > pkt->cap) {
        FAIL("output frame outside its buffer");
    }
    if (len < ETH_HDR_LEN || len > FRAME_SIZE) {
        FAIL("output frame of %u bytes on port %u", len, idx);
    }
    if (pkt->out_port != idx) {
        FAIL("out_port %u on port %u", pkt->out_port, idx);
    }
    if (tunnel) {
        enum dp_encap encap =
            idx == DP_PORT_GENEVE ? DP_ENCAP_GENEVE : DP_ENCAP_VXLAN;
        uint32_t over =
            idx == DP_PORT_GENEVE ? DP_GENEVE_OVERHEAD : DP_VXLAN_OVERHEAD;
        if (len < over + ETH_HDR_LEN) {
            FAIL("tunnel frame of %u bytes", len);
        }
        seg = dp_vni_lookup(tables, encap, vni_get(f + 4));
        if (seg == DP_SEG_NONE || tables->segments[seg].tunnel_port != idx) {
            FAIL("tunnel frame with VNI %u on port %u", vni_get(f + 4), idx);
        }
        if (memcmp(pkt->tun_addr, vtep1, 16) &&
            memcmp(pkt->tun_addr, vtep2, 16)) {
            FAIL("tunnel frame to an unknown endpoint");
        }
        if (pkt->ol.gso_type != DP_GSO_NONE ||
            pkt->ol.flags & DP_OL_CSUM_PARTIAL) {
            FAIL("offload request left on a tunnel frame");
        }
        f += over;
        len -= over;
        if (len > tables->segments[seg].max_frame) {
            FAIL("inner frame of %u bytes, segment carries %u", len,
                 tables->segments[seg].max_frame);
        }
    } else {
        seg = tables->vifs[idx].segment;
        if (seg == DP_SEG_NONE) {
            FAIL("frame to unbound port %u", idx);
        }
        if (!ports[idx]->offloads) {
            if (pkt->ol.gso_type != DP_GSO_NONE ||
                pkt->ol.flags & DP_OL_CSUM_PARTIAL) {
                FAIL("offload request to port %u without offloads", idx);
            }
        } else if (pkt->ol.gso_type == DP_GSO_NONE &&
                   len > ports[idx]->mtu + ETH_HDR_LEN + VLAN_HDR_LEN) {
            FAIL("frame of %u bytes to port %u, MTU %u", len, idx,
                 ports[idx]->mtu);
        }
    }

    in.n_tx++;
    if (in.n_rec == MAX_REC || arena_used + len > ARENA_SIZE) {
        in.overflow = true;
        return;
    }
    struct record *r = &in.rec[in.n_rec++];
    struct dp_packet parsed;
    r->port = idx;
    r->seg = seg;
    r->off = arena_used;
    r->len = len;
    r->ol = pkt->ol;
    r->parse = scratch_parse(f, len, &parsed);
    r->l3_ofs = parsed.l3_ofs;
    memcpy(arena + arena_used, f, len);
    arena_used += len;
}

static int
check_tx(struct dp_port *p, struct dp_packet **pkts, int n)
{
    uint16_t idx = (uint16_t)port_index(p);

    for (int i = 0; i < n; i++) {
        check_out(idx, pkts[i]);
    }
    return dp_port_dummy_class.tx(p, pkts, n);
}

/* ---- Checksums. ---- */

static bool
ip4_csum_ok(const uint8_t *ip)
{
    return csum_finish(csum_partial(ip, (ip[0] & 15) * 4u, 0)) == 0;
}

/* The L4 checksum of the IP packet at 'ip' (parsed as 'p') is valid. */
static bool
l4_csum_ok(const uint8_t *ip, bool v4, uint8_t proto, const uint8_t *l4,
           uint32_t l4len)
{
    uint32_t sum = 0;

    if (!v4) {
        sum = csum_pseudo_ipv6(ip + 8, ip + 24, proto, l4len);
    } else if (proto != IPPROTO_ICMP_) {
        sum = csum_pseudo_ipv4(rd32(ip + 12), rd32(ip + 16), proto,
                               (uint16_t)l4len);
    }
    return csum_finish(csum_partial(l4, l4len, sum)) == 0;
}

static uint32_t
ip_end(const uint8_t *f, const struct dp_packet *p)
{
    const uint8_t *ip = f + p->l3_ofs;
    return p->pflags & DP_PF_IPV4 ? p->l3_ofs + ntohs(rd16(ip + 2))
                                  : p->l3_ofs + 40u + ntohs(rd16(ip + 4));
}

/* Fixes the IPv4 header checksum and/or the L4 checksum of the parsed
 * frame 'f'; with 'seed' (a checksum owed, DP_OL_CSUM_PARTIAL) the L4
 * field gets the pseudo-header sum instead, as a guest would write it. */
static void
fix_csums(uint8_t *f, const struct dp_packet *p, bool fix4, bool fix_l4,
          bool seed)
{
    uint8_t *ip = f + p->l3_ofs;
    bool v4 = p->pflags & DP_PF_IPV4;

    if (p->l3_ofs == DP_OFS_NONE || !(p->pflags & (DP_PF_IPV4 | DP_PF_IPV6))) {
        return;
    }
    if (v4 && fix4) {
        uint32_t hl = (ip[0] & 15) * 4u;
        memset(ip + 10, 0, 2);
        uint16_t c = csum_finish(csum_partial(ip, hl, 0));
        memcpy(ip + 10, &c, 2);
    }
    if (!fix_l4 || p->l4_ofs == DP_OFS_NONE || p->pflags & DP_PF_FRAG) {
        return;
    }
    uint8_t *l4 = f + p->l4_ofs;
    uint32_t l4len = ip_end(f, p) - p->l4_ofs;
    uint32_t at = p->ip_proto == IPPROTO_TCP_   ? 16
                  : p->ip_proto == IPPROTO_UDP_ ? 6
                                                : 2;
    uint32_t sum = 0;
    uint16_t c;

    if (!v4) {
        sum = csum_pseudo_ipv6(ip + 8, ip + 24, p->ip_proto, l4len);
    } else if (p->ip_proto != IPPROTO_ICMP_) {
        sum = csum_pseudo_ipv4(rd32(ip + 12), rd32(ip + 16), p->ip_proto,
                               (uint16_t)l4len);
    }
    memset(l4 + at, 0, 2);
    if (seed) {
        c = (uint16_t)~csum_finish(sum);
    } else {
        c = csum_finish(csum_partial(l4, l4len, sum));
        if (!c && p->ip_proto == IPPROTO_UDP_) {
            c = 0xffff;
        }
    }
    memcpy(l4 + at, &c, 2);
}

/* ---- Offload metadata, as port-afpacket.c makes it. ---- */

/* dp_vnet_to_offload() as the AF_PACKET port calls it for a frame with
 * these virtio-net header fields; false if the port would refuse it. */
static bool
vnet_to_ol(bool needs_csum, uint16_t csum_start, uint16_t csum_offset,
           uint8_t gso_type, uint16_t gso_size, const uint8_t *f, uint32_t len,
           struct dp_offload *ol)
{
    struct virtio_net_hdr vh = {
        .flags = needs_csum ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0,
        .gso_type = gso_type,
        .gso_size = gso_size,
        .csum_start = csum_start,
        .csum_offset = csum_offset,
    };
    return dp_vnet_to_offload(&vh, f, len, 0, ol);
}

/* ---- Checks after the run. ---- */

struct delta {
    uint64_t rx, tx, replicas, gso_segments, gso_frames, ip_fragments,
        icmp_sent, icmp_suppressed, punted, flooded, gro_merged, routed, echo,
        arp, nd, l2_local, l2_remote, drops_total;
    uint64_t drops[DP_DROP_N_REASONS];
};

static void
counters_delta(const struct dp_counters *a, const struct dp_counters *b,
               struct delta *d)
{
    memset(d, 0, sizeof *d);
    d->rx = b->rx_packets - a->rx_packets;
    d->tx = b->tx_packets - a->tx_packets;
    d->replicas = b->replicas - a->replicas;
    d->gso_segments = b->gso_segments - a->gso_segments;
    d->gso_frames = b->gso_frames - a->gso_frames;
    d->ip_fragments = b->ip_fragments - a->ip_fragments;
    d->icmp_sent = b->icmp_errors_sent - a->icmp_errors_sent;
    d->icmp_suppressed = b->icmp_errors_suppressed - a->icmp_errors_suppressed;
    d->punted = b->punted - a->punted;
    d->flooded = b->flooded - a->flooded;
    d->gro_merged = b->gro_merged - a->gro_merged;
    d->routed = b->routed - a->routed;
    d->echo = b->router_echo_replies - a->router_echo_replies;
    d->arp = b->arp_replies - a->arp_replies;
    d->nd = b->nd_replies - a->nd_replies;
    d->l2_local = b->l2_local - a->l2_local;
    d->l2_remote = b->l2_remote - a->l2_remote;
    for (int i = 0; i < DP_DROP_N_REASONS; i++) {
        d->drops[i] = b->drops[i] - a->drops[i];
        d->drops_total += d->drops[i];
    }
}

static const uint8_t *
rec_data(const struct record *r)
{
    return arena + r->off;
}

/* The owed checksum field of the input, which the pipeline may have filled
 * in: [skip, skip + 2) may differ; UINT32_MAX if none. */
static uint32_t
owed_csum_at(void)
{
    if (!(in.ol.flags & DP_OL_CSUM_PARTIAL)) {
        return UINT32_MAX;
    }
    return (uint32_t)in.ol.csum_start + in.ol.csum_offset;
}

/* o[from, to) equals the input's, but for the owed checksum field. */
static bool
same_bytes(const uint8_t *o, uint32_t from, uint32_t to)
{
    uint32_t skip = owed_csum_at();

    for (uint32_t i = from; i < to; i++) {
        if (o[i] != in.frame[i] && (i < skip || i >= skip + 2)) {
            return false;
        }
    }
    return true;
}

static bool
is_neigh_owner(uint32_t seg, const uint8_t *mac)
{
    for (uint32_t i = 0; i <= tables->neigh_mask; i++) {
        const struct dp_neigh_entry *e = &tables->neighs[i];
        if (e->segment == seg && !memcmp(&e->mac, mac, ETH_ADDR_LEN)) {
            return true;
        }
    }
    return false;
}

static const struct dp_segment *
in_seg(void)
{
    return &tables->segments[in.seg];
}

/* A frame L2-switched as it came. */
static void
check_l2(const struct record *r)
{
    const uint8_t *o = rec_data(r);

    if (r->port == in.port || r->seg != in.seg) {
        FAIL("L2 frame to port %u segment %u (from %u, %u)", r->port, r->seg,
             in.port, in.seg);
    }
    if (in.ol.gso_type != DP_GSO_NONE && r->ol.gso_type == DP_GSO_NONE) {
        if (memcmp(o, in.frame, 12)) {
            FAIL("L2 segment with other MACs");
        }
        return;
    }
    if (r->len != in.len || !same_bytes(o, 0, in.len)) {
        FAIL("L2 frame changed");
    }
}

/* A forwarded (routed, not fragmented) frame. */
static void
check_forwarded(const struct record *r)
{
    const uint8_t *o = rec_data(r), *ip = o + in.p.l3_ofs;
    const uint8_t *iip = in.frame + in.p.l3_ofs;
    const struct dp_segment *eg = &tables->segments[r->seg];
    bool v4 = in.p.pflags & DP_PF_IPV4;
    bool seg_out =
        in.ol.gso_type != DP_GSO_NONE && r->ol.gso_type == DP_GSO_NONE;

    if (eg->router != in_seg()->router) {
        FAIL("routed into segment %u of another router", r->seg);
    }
    if (!in.ol_sane) {
        return;
    }
    if (memcmp(o + 6, &eg->router_mac, 6) || !is_neigh_owner(r->seg, o)) {
        FAIL("routed frame MACs");
    }
    if (r->l3_ofs != in.p.l3_ofs ||
        memcmp(o + 12, in.frame + 12, in.p.l3_ofs - 12u)) {
        FAIL("routed frame L2 header changed");
    }
    if (v4) {
        if (ip[8] != iip[8] - 1 || memcmp(ip + 12, iip + 12, 8)) {
            FAIL("routed IPv4 TTL %u (was %u) or addresses", ip[8], iip[8]);
        }
        if (in.csum4_ok && !ip4_csum_ok(ip)) {
            FAIL("routed IPv4 header checksum wrong");
        }
    } else if (ip[7] != iip[7] - 1 || memcmp(ip + 8, iip + 8, 32)) {
        FAIL("routed IPv6 hop limit %u (was %u) or addresses", ip[7], iip[7]);
    }
    if (in.ol.gso_type != DP_GSO_NONE) {
        /* Segments: lengths, ids, sequence numbers and checksums change.
         * The router sized them by the port's hdr_len; when that is what
         * the headers say, each one fits the egress. */
        if (seg_out && in.ol_sane &&
            r->len > egress_limit(r->port, r->seg, o)) {
            FAIL("routed segment of %u bytes, egress takes %u", r->len,
                 egress_limit(r->port, r->seg, o));
        }
        return;
    }
    /* Ethernet padding goes if only it made the frame too big. */
    uint32_t limit = egress_limit(r->port, r->seg, o);
    uint32_t want = in.len <= limit ? in.len : ip_end(in.frame, &in.p);
    if (r->len != want) {
        FAIL("routed frame length %u, was %u", r->len, in.len);
    }
    if (r->len > limit) {
        FAIL("routed frame of %u bytes, egress takes %u", r->len, limit);
    }
    if (v4) {
        if (!same_bytes(o, in.p.l3_ofs, in.p.l3_ofs + 8u) ||
            !same_bytes(o, in.p.l3_ofs + 9u, in.p.l3_ofs + 10u) ||
            !same_bytes(o, in.p.l3_ofs + 12u, want)) {
            FAIL("routed IPv4 packet changed");
        }
    } else if (!same_bytes(o, in.p.l3_ofs, in.p.l3_ofs + 7u) ||
               !same_bytes(o, in.p.l3_ofs + 8u, want)) {
        FAIL("routed IPv6 packet changed");
    }
}

static uint8_t covered[65536];

/* An IPv4 fragment of the input. */
static void
check_fragment(const struct record *r)
{
    const uint8_t *o = rec_data(r), *ip = o + in.p.l3_ofs;
    const uint8_t *iip = in.frame + in.p.l3_ofs;
    const struct dp_segment *eg = &tables->segments[r->seg];
    uint32_t l2 = in.p.l3_ofs;
    uint32_t ihl = (iip[0] & 15) * 4u, itot = ntohs(rd16(iip + 2));
    uint32_t payload = itot - ihl;
    uint16_t ifo = ntohs(rd16(iip + 6)), fo;
    uint32_t hl, tot, pos, chunk;

    if (eg->router != in_seg()->router) {
        FAIL("fragment into segment %u of another router", r->seg);
    }
    if (!in.ol_sane) {
        return;
    }
    if (memcmp(o + 6, &eg->router_mac, 6) || !is_neigh_owner(r->seg, o)) {
        FAIL("fragment MACs");
    }
    if (r->l3_ofs != l2 || memcmp(o + 12, in.frame + 12, l2 - 12) ||
        r->len < l2 + 20) {
        FAIL("fragment L2 header changed");
    }
    hl = (ip[0] & 15) * 4u;
    tot = ntohs(rd16(ip + 2));
    fo = ntohs(rd16(ip + 6));
    if (ip[0] >> 4 != 4 || hl < 20 || tot < hl || l2 + tot > r->len ||
        r->len != MAX(60u, l2 + tot)) {
        FAIL("fragment lengths: ihl %u tot %u frame %u", hl, tot, r->len);
    }
    if (!ip4_csum_ok(ip)) {
        FAIL("fragment header checksum wrong");
    }
    if (r->len > egress_limit(r->port, r->seg, o)) {
        FAIL("fragment frame of %u bytes, egress takes %u", r->len,
             egress_limit(r->port, r->seg, o));
    }
    if (ip[8] != iip[8] - 1 || ip[9] != iip[9] || memcmp(ip + 4, iip + 4, 2) ||
        memcmp(ip + 12, iip + 12, 8) || ip[1] != iip[1]) {
        FAIL("fragment header fields");
    }
    if ((fo & ~(IPV4_MF | IPV4_OFFSET_MASK)) !=
        (ifo & ~(IPV4_MF | IPV4_OFFSET_MASK))) {
        FAIL("fragment flags %#x from %#x", fo, ifo);
    }
    if ((fo & IPV4_OFFSET_MASK) < (ifo & IPV4_OFFSET_MASK)) {
        FAIL("fragment offset %u before the original's %u",
             fo & IPV4_OFFSET_MASK, ifo & IPV4_OFFSET_MASK);
    }
    pos = ((fo & IPV4_OFFSET_MASK) - (ifo & IPV4_OFFSET_MASK)) * 8u;
    chunk = tot - hl;
    if (pos + chunk > payload || (pos && hl > ihl) || (!pos && hl != ihl)) {
        FAIL("fragment at %u of %u bytes, payload %u, ihl %u/%u", pos, chunk,
             payload, hl, ihl);
    }
    if (pos + chunk < payload) {
        if (!(fo & IPV4_MF) || chunk % 8) {
            FAIL("non-last fragment without MF or of %u bytes", chunk);
        }
    } else if ((fo & IPV4_MF) != (ifo & IPV4_MF)) {
        FAIL("last fragment's MF differs from the original's");
    }
    if (!pos && memcmp(ip + 20, iip + 20, hl - 20)) {
        FAIL("first fragment's options changed");
    }
    /* The payload, but for a checksum the router completed first. */
    uint32_t skip = owed_csum_at();
    for (uint32_t i = 0; i < chunk; i++) {
        uint32_t at = l2 + ihl + pos + i;
        if (ip[hl + i] != iip[ihl + pos + i] && (at < skip || at >= skip + 2)) {
            FAIL("fragment payload differs at %u", pos + i);
        }
    }
    memset(covered + pos, 1, chunk);
}

/* Source of the router's ICMP errors into the ingress segment. */
static bool
error_source(bool v4, uint8_t src[16])
{
    static const uint8_t zero[16];
    const struct dp_segment *s = in_seg();

    if (v4) {
        memcpy(src, &s->gw4, 4);
        return s->gw4 != 0;
    }
    memcpy(src, memcmp(s->gw6, zero, 16) ? s->gw6 : s->lla6, 16);
    return memcmp(src, zero, 16) != 0;
}

/* May the router answer the input with an error at all (RFC 1812 4.3.2.7,
 * RFC 4443 2.4(e)), by our own reading of the rules. */
static bool
error_allowed(void)
{
    const uint8_t *ip = in.frame + in.p.l3_ofs;
    bool v4 = in.p.pflags & DP_PF_IPV4;

    if (in.p.pflags & DP_PF_LATER || in.frame[6] & 1) {
        return false;
    }
    if (v4) {
        uint8_t s0 = ip[12], d0 = ip[16];
        if (!rd32(ip + 12) || rd32(ip + 12) == 0xffffffffu || s0 >= 224 ||
            s0 == 127 || (d0 >= 224 && d0 < 240) ||
            rd32(ip + 16) == 0xffffffffu) {
            return false;
        }
    } else {
        static const uint8_t zero[16], lo[16] = {[15] = 1};
        if (ip[8] == 0xff || ip[24] == 0xff || !memcmp(ip + 8, zero, 16) ||
            !memcmp(ip + 8, lo, 16)) {
            return false;
        }
    }
    if (in.p.l4_ofs != DP_OFS_NONE && in.p.ip_proto == (v4 ? 1 : 58)) {
        uint8_t t = in.frame[in.p.l4_ofs];
        return v4 ? t != 3 && t != 4 && t != 5 && t != 11 && t != 12 : t >= 128;
    }
    return true;
}

/* An ICMP error about the input; 'reason' the drop it came with. */
static void
check_error(const struct record *r, enum dp_drop reason)
{
    const uint8_t *o = rec_data(r);
    const uint8_t *iip = in.frame + in.p.l3_ofs;
    bool v4 = in.p.pflags & DP_PF_IPV4;
    uint32_t l2 = in.p.l3_ofs, hl = v4 ? 20 : 40;
    uint8_t src[16];
    uint8_t type, code;

    if (r->port != in.port || r->seg != in.seg || r->len < l2 + hl + 8 ||
        r->parse != DP_DROP_NONE || r->l3_ofs != l2) {
        FAIL("ICMP error on port %u, %u bytes, parse %s", r->port, r->len,
             dp_drop_name(r->parse));
    }
    if (memcmp(o, in.frame + 6, 6) || memcmp(o + 6, &in_seg()->router_mac, 6) ||
        memcmp(o + 12, in.frame + 12, l2 - 12)) {
        FAIL("ICMP error L2 header");
    }
    if (!error_source(v4, src)) {
        FAIL("ICMP error without a source address");
    }
    const uint8_t *ip = o + l2, *icmp = ip + hl;
    uint32_t ilen = v4 ? ntohs(rd16(iip + 2)) : 40u + ntohs(rd16(iip + 4));
    uint32_t q, elen;
    if (v4) {
        elen = ntohs(rd16(ip + 2));
        if (ip[0] != 0x45 || ip[9] != IPPROTO_ICMP_ || !ip4_csum_ok(ip) ||
            memcmp(ip + 12, src, 4) || memcmp(ip + 16, iip + 12, 4) ||
            elen > 576 || elen < 28) {
            FAIL("ICMP error IPv4 header");
        }
    } else {
        elen = 40u + ntohs(rd16(ip + 4));
        if (ip[0] >> 4 != 6 || ip[6] != IPPROTO_ICMPV6_ ||
            memcmp(ip + 8, src, 16) || memcmp(ip + 24, iip + 8, 16) ||
            elen > 1280 || elen < 48) {
            FAIL("ICMPv6 error IPv6 header");
        }
    }
    if (r->len != MAX(60u, l2 + elen)) {
        FAIL("ICMP error frame %u bytes, packet %u", r->len, elen);
    }
    q = elen - hl - 8;
    if (q != MIN(MIN(ilen, in.len - l2), (v4 ? 576u : 1280u) - hl - 8)) {
        FAIL("ICMP error quotes %u bytes of %u", q, ilen);
    }
    if (memcmp(icmp + 8, iip, q)) {
        FAIL("ICMP error quote differs from the packet");
    }
    if (!l4_csum_ok(ip, v4, v4 ? 1 : 58, icmp, elen - hl)) {
        FAIL("ICMP error checksum wrong");
    }
    switch (reason) {
    case DP_DROP_ROUTE_TTL_EXPIRED:
        type = v4 ? 11 : 3;
        code = 0;
        break;
    case DP_DROP_ROUTE_NO_ROUTE:
        type = v4 ? 3 : 1;
        code = 0;
        break;
    case DP_DROP_ROUTE_NO_NEIGH:
        type = v4 ? 3 : 1;
        code = v4 ? 1 : 3;
        break;
    case DP_DROP_ROUTE_TOO_BIG:
        type = v4 ? 3 : 2;
        code = v4 ? 4 : 0;
        break;
    default:
        FAIL("ICMP error with drop %s", dp_drop_name(reason));
    }
    if (icmp[0] != type || icmp[1] != code) {
        FAIL("ICMP error %u/%u for %s", icmp[0], icmp[1], dp_drop_name(reason));
    }
    if (reason == DP_DROP_ROUTE_TOO_BIG) {
        /* The MTU told must be below what was refused, else the sender
         * can never get through. */
        uint32_t mtu = v4 ? ntohs(rd16(icmp + 6)) : ntohl(rd32(icmp + 4));
        uint32_t refused =
            in.ol.gso_type != DP_GSO_NONE
                ? (uint32_t)in.ol.hdr_len - in.p.l3_ofs + in.ol.gso_size
                : ilen;
        if (v4 && rd16(icmp + 4)) {
            FAIL("frag needed with unused field set");
        }
        if (in.ol_sane) {
            if (mtu >= refused) {
                FAIL("too big: MTU %u told for a packet of %u bytes", mtu,
                     refused);
            }
        }
    } else if (rd32(icmp + 4)) {
        FAIL("ICMP error with a non-zero unused word");
    }
}

/* An echo reply from the router. */
static void
check_echo(const struct record *r)
{
    const uint8_t *o = rec_data(r), *ip = o + in.p.l3_ofs;
    const uint8_t *iip = in.frame + in.p.l3_ofs;
    bool v4 = in.p.pflags & DP_PF_IPV4;
    uint32_t l4 = in.p.l4_ofs;

    if (r->port != in.port || r->len != in.len) {
        FAIL("echo reply to port %u, %u bytes", r->port, r->len);
    }
    if (!in.ol_sane) {
        return;
    }
    if (memcmp(o, in.frame + 6, 6) || memcmp(o + 6, &in_seg()->router_mac, 6) ||
        memcmp(o + 12, in.frame + 12, in.p.l3_ofs - 12u)) {
        FAIL("echo reply frame");
    }
    if (v4) {
        if (!ip4_csum_ok(ip) || ip[8] != 64 || memcmp(ip + 12, iip + 16, 4) ||
            memcmp(ip + 16, iip + 12, 4) || o[l4] != 0) {
            FAIL("echo reply IPv4");
        }
    } else if (ip[7] != 64 || memcmp(ip + 8, iip + 24, 16) ||
               memcmp(ip + 24, iip + 8, 16) || o[l4] != 129) {
        FAIL("echo reply IPv6");
    }
    if (o[l4 + 1] != 0 || memcmp(o + l4 + 4, in.frame + l4 + 4,
                                 ip_end(in.frame, &in.p) - l4 - 4)) {
        FAIL("echo reply body");
    }
    if (in.l4_ok && !(in.ol.flags & DP_OL_CSUM_PARTIAL) &&
        !l4_csum_ok(ip, v4, v4 ? 1 : 58, o + l4, ip_end(o, &in.p) - l4)) {
        FAIL("echo reply checksum wrong");
    }
}

/* An ARP reply or neighbour advertisement from the responder. */
static void
check_neigh(const struct record *r)
{
    const uint8_t *o = rec_data(r);
    uint32_t l3 = in.p.l3_ofs;
    uint8_t ip[16];
    const struct eth_addr *owner;

    if (r->port != in.port || memcmp(o, in.frame + 6, 6)) {
        FAIL("neighbour reply to port %u", r->port);
    }
    if (in.p.pflags & DP_PF_ARP) {
        const uint8_t *a = o + l3, *ia = in.frame + l3;
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, ia + 24, 4);
        owner = dp_neigh_lookup(tables, in.seg, ip);
        if (!owner || r->len != in.len || ntohs(rd16(a + 6)) != ARP_OP_REPLY ||
            memcmp(a + 8, owner, 6) || memcmp(o + 6, owner, 6) ||
            memcmp(a + 14, ia + 24, 4) || memcmp(a + 18, ia + 8, 6) ||
            memcmp(a + 24, ia + 14, 4)) {
            FAIL("ARP reply");
        }
        return;
    }
    const uint8_t *i6 = o + l3, *ii6 = in.frame + l3;
    const uint8_t *na = o + in.p.l4_ofs, *ns = in.frame + in.p.l4_ofs;
    owner = dp_neigh_lookup(tables, in.seg, ns + 8);
    if (!owner || r->len != in.p.l4_ofs + 32u || na[0] != ICMP6_NA ||
        memcmp(na + 8, ns + 8, 16) || memcmp(i6 + 8, ns + 8, 16) ||
        memcmp(i6 + 24, ii6 + 8, 16) || ntohs(rd16(i6 + 4)) != 32 ||
        i6[7] != 255 || memcmp(o + 6, owner, 6) || na[24] != ND_OPT_TLLA ||
        na[25] != 1 || memcmp(na + 26, owner, 6)) {
        FAIL("neighbour advertisement");
    }
    if (!l4_csum_ok(i6, false, 58, na, 32)) {
        FAIL("neighbour advertisement checksum wrong");
    }
}

/* The pipeline's counters add up; see the comment at the top. */
static void
check_counters(const struct delta *d, uint32_t n_frames)
{
    uint64_t fragmented = d->ip_fragments ? d->routed : 0;
    uint64_t made =
        d->rx + d->replicas + d->gso_segments + d->ip_fragments + d->icmp_sent;
    uint64_t gone = d->tx + d->drops_total + d->punted + d->flooded +
                    d->gso_frames + fragmented + d->gro_merged;

    if (d->rx != n_frames || d->tx != in.n_tx) {
        FAIL("rx %lu for %u frames, tx %lu for %u seen", (unsigned long)d->rx,
             n_frames, (unsigned long)d->tx, in.n_tx);
    }
    if (d->drops[DP_DROP_NO_BUFFER]) {
        FAIL("pool ran out (%lu)", (unsigned long)d->drops[DP_DROP_NO_BUFFER]);
    }
    if (made != gone) {
        FAIL("counters: %lu frames made, %lu sent, dropped or consumed "
             "(tx %lu drops %lu punted %lu flooded %lu replicas %lu "
             "gso %lu/%lu frags %lu routed %lu icmp %lu)",
             (unsigned long)made, (unsigned long)gone, (unsigned long)d->tx,
             (unsigned long)d->drops_total, (unsigned long)d->punted,
             (unsigned long)d->flooded, (unsigned long)d->replicas,
             (unsigned long)d->gso_frames, (unsigned long)d->gso_segments,
             (unsigned long)d->ip_fragments, (unsigned long)d->routed,
             (unsigned long)d->icmp_sent);
    }
}

static void
check_pool(void)
{
    static uint8_t seen[N_BUFS];

    if (dp_pool_available(pool) != N_BUFS) {
        FAIL("%u of %u buffers back in the pool", dp_pool_available(pool),
             N_BUFS);
    }
    memset(seen, 0, sizeof seen);
    for (uint32_t i = 0; i < N_BUFS; i++) {
        uint32_t k = pool->free_stack[i];
        if (k >= N_BUFS || seen[k]++) {
            FAIL("buffer %u freed twice", k);
        }
    }
}

static void
check_outcome(const struct delta *d, uint32_t n_frames)
{
    bool to_router = in.parse == DP_DROP_NONE && in.seg != DP_SEG_NONE &&
                     in_seg()->router != DP_ROUTER_NONE &&
                     !memcmp(in.frame, &in_seg()->router_mac, 6);
    uint64_t errors =
        d->drops[DP_DROP_ROUTE_TTL_EXPIRED] + d->drops[DP_DROP_ROUTE_NO_ROUTE] +
        d->drops[DP_DROP_ROUTE_NO_NEIGH] + d->drops[DP_DROP_ROUTE_TOO_BIG];
    uint64_t routerish = d->routed + d->echo + errors + d->ip_fragments;
    enum dp_drop reason = DP_DROP_NONE;

    check_counters(d, n_frames);
    if (in.parse != DP_DROP_NONE || in.seg == DP_SEG_NONE) {
        if (in.n_tx || d->punted) {
            FAIL("a frame that does not parse or comes from nowhere went out");
        }
        return;
    }
    if (d->punted) {
        return;
    }
    if (d->arp || d->nd) {
        if (in.n_tx != d->arp + d->nd) {
            FAIL("%u frames for %lu neighbour replies", in.n_tx,
                 (unsigned long)(d->arp + d->nd));
        }
        for (uint32_t i = 0; i < in.n_rec; i++) {
            check_neigh(&in.rec[i]);
        }
        return;
    }
    if (to_router ? d->l2_local || d->l2_remote : routerish != 0) {
        FAIL("to_router %d but l2 %lu/%lu routed %lu", to_router,
             (unsigned long)d->l2_local, (unsigned long)d->l2_remote,
             (unsigned long)routerish);
    }
    if (!to_router) {
        for (uint32_t i = 0; i < in.n_rec; i++) {
            check_l2(&in.rec[i]);
        }
        return;
    }
    if (errors) {
        for (int k = 0; k < DP_DROP_N_REASONS; k++) {
            if (d->drops[k] &&
                (k == DP_DROP_ROUTE_TTL_EXPIRED ||
                 k == DP_DROP_ROUTE_NO_ROUTE || k == DP_DROP_ROUTE_NO_NEIGH ||
                 k == DP_DROP_ROUTE_TOO_BIG)) {
                if (reason != DP_DROP_NONE) {
                    FAIL("identical frames dropped for two reasons");
                }
                reason = (enum dp_drop)k;
            }
        }
        if (d->icmp_sent && !error_allowed()) {
            FAIL("ICMP error about a packet that must not get one");
        }
        if (d->icmp_sent + d->icmp_suppressed > errors) {
            FAIL("more ICMP errors than errored packets");
        }
        if (d->icmp_suppressed && d->icmp_sent < DP_ROUTE_ICMP_BURST) {
            FAIL("ICMP errors suppressed after %lu",
                 (unsigned long)d->icmp_sent);
        }
        /* An error may be too big for a port with offloads and a small
         * MTU (the quote is limited by 576 / 1280 bytes only). */
        if (in.n_tx + d->drops[DP_DROP_TOO_BIG] != d->icmp_sent ||
            (d->icmp_sent && d->icmp_sent + d->icmp_suppressed != errors)) {
            FAIL("%u frames out for %lu errors sent", in.n_tx,
                 (unsigned long)d->icmp_sent);
        }
        for (uint32_t i = 0; i < in.n_rec; i++) {
            check_error(&in.rec[i], reason);
        }
        return;
    }
    if (d->echo) {
        if (d->echo != n_frames ||
            in.n_tx + d->drops[DP_DROP_TOO_BIG] != d->echo) {
            FAIL("%lu echo replies, %u out", (unsigned long)d->echo, in.n_tx);
        }
        for (uint32_t i = 0; i < in.n_rec; i++) {
            check_echo(&in.rec[i]);
        }
        return;
    }
    if (d->routed && d->drops[DP_DROP_TOO_BIG] && in.ol_sane) {
        FAIL("routed, then dropped as too big for the egress");
    }
    if (d->ip_fragments) {
        memset(covered, 0, sizeof covered);
        for (uint32_t i = 0; i < in.n_rec; i++) {
            check_fragment(&in.rec[i]);
        }
        const uint8_t *iip = in.frame + in.p.l3_ofs;
        uint32_t payload = ntohs(rd16(iip + 2)) - (iip[0] & 15) * 4u;
        if (!in.overflow && in.ol_sane && in.n_rec && !d->drops_total) {
            for (uint32_t i = 0; i < payload; i++) {
                if (!covered[i]) {
                    FAIL("fragments leave byte %u of %u out", i, payload);
                }
            }
        }
        return;
    }
    if (!d->routed && in.n_tx) {
        FAIL("%u frames out for a frame the router dropped", in.n_tx);
    }
    for (uint32_t i = 0; i < in.n_rec; i++) {
        check_forwarded(&in.rec[i]);
    }
}

/* ---- The input. ---- */

static const uint16_t in_ports[8] = {2, 3, 4, 5, 6, 7, 2, P_UNBOUND};

/* Builds in.frame from the input; false if a port would not deliver it. */
static bool
make_frame(const uint8_t *data, size_t size)
{
    uint8_t c0 = data[0], c1 = data[1];
    const uint8_t *f = data + HDR_LEN;
    uint32_t len = (uint32_t)(size - HDR_LEN);

    in.port = in_ports[c0 & 7];
    in.seg = tables->vifs[in.port].segment;
    if (c0 & 0x80 && len >= 12) { /* 802.1Q tag after the MACs */
        memcpy(in.frame, f, 12);
        in.frame[12] = 0x81;
        in.frame[13] = 0x00;
        in.frame[14] = (uint8_t)(c1 >> 5);
        in.frame[15] = 0x64;
        memcpy(in.frame + 16, f + 12, len - 12);
        len += 4;
    } else if (len) {
        memcpy(in.frame, f, len);
    }
    in.len = len;
    if (len >= 12) {
        if (c0 & 0x08 && in.seg != DP_SEG_NONE) {
            memcpy(in.frame, &in_seg()->router_mac, 6);
        }
        if (c0 & 0x10) {
            memcpy(in.frame + 6, &vif_mac[in.port], 6);
        }
    }

    struct dp_packet p;
    enum dp_drop d = scratch_parse(in.frame, len, &p);
    uint32_t mode = (c1 >> 2) & 7;
    bool tcp = p.l4_ofs != DP_OFS_NONE && p.ip_proto == IPPROTO_TCP_ &&
               !(p.pflags & DP_PF_FRAG);
    bool udp = p.l4_ofs != DP_OFS_NONE && p.ip_proto == IPPROTO_UDP_ &&
               !(p.pflags & DP_PF_FRAG);
    uint16_t gso_size = (uint16_t)(data[2] | data[3] << 8);
    bool offloads = ports[in.port]->offloads;

    if (!offloads || mode < 4 || d != DP_DROP_NONE) {
        memset(&in.ol, 0, sizeof in.ol);
        mode = 0;
    } else if (mode == 7) {
        static const uint8_t types[4] = {
            VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4,
            VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4};
        if (!vnet_to_ol(c1 & 0x20, data[4], data[5], types[c1 >> 6], gso_size,
                        in.frame, len, &in.ol)) {
            return false;
        }
    } else if ((mode == 4 && (tcp || udp)) || (mode == 5 && tcp) ||
               (mode == 6 && udp)) {
        uint8_t gt = mode == 4               ? VIRTIO_NET_HDR_GSO_NONE
                     : mode == 6             ? VIRTIO_NET_HDR_GSO_UDP_L4
                     : p.pflags & DP_PF_IPV4 ? VIRTIO_NET_HDR_GSO_TCPV4
                                             : VIRTIO_NET_HDR_GSO_TCPV6;
        if (!vnet_to_ol(true, p.l4_ofs, tcp ? 16 : 6, gt, gso_size, in.frame,
                        len, &in.ol)) {
            return false;
        }
    } else {
        memset(&in.ol, 0, sizeof in.ol);
        mode = 0;
    }
    if (d == DP_DROP_NONE) {
        fix_csums(in.frame, &p, c0 & 0x20, c0 & 0x40 || mode == 4,
                  mode == 4 || mode == 5 || mode == 6);
    }

    in.parse = scratch_parse(in.frame, len, &in.p);
    in.p.data = in.frame;
    in.p.len = len;
    in.ol_sane = true;
    if (in.ol.flags & DP_OL_CSUM_PARTIAL) {
        uint32_t at = (uint32_t)in.ol.csum_start + in.ol.csum_offset;
        in.ol_sane = in.parse == DP_DROP_NONE && in.p.l4_ofs != DP_OFS_NONE &&
                     in.ol.csum_start >= in.p.l4_ofs &&
                     at + 2 <= ip_end(in.frame, &in.p);
    }
    if (in.ol.gso_type != DP_GSO_NONE &&
        (in.parse != DP_DROP_NONE || in.ol.hdr_len != in.p.l7_ofs)) {
        in.ol_sane = false;
    }
    in.csum4_ok = in.parse == DP_DROP_NONE && in.p.pflags & DP_PF_IPV4 &&
                  ip4_csum_ok(in.frame + in.p.l3_ofs);
    in.l4_ok =
        in.parse == DP_DROP_NONE && in.p.l4_ofs != DP_OFS_NONE &&
        (in.p.ip_proto == IPPROTO_ICMP_ || in.p.ip_proto == IPPROTO_ICMPV6_) &&
        l4_csum_ok(in.frame + in.p.l3_ofs, in.p.pflags & DP_PF_IPV4,
                   in.p.ip_proto, in.frame + in.p.l4_ofs,
                   ip_end(in.frame, &in.p) - in.p.l4_ofs);
    return true;
}

static void
run(uint32_t n)
{
    struct dp_packet *pkts[DP_BATCH_MAX];

    for (uint32_t i = 0; i < n; i++) {
        struct dp_packet *p = dp_pool_get(pool);
        if (!p) {
            FAIL("pool empty before the run");
        }
        memcpy(p->data, in.frame, in.len);
        p->len = in.len;
        p->ol = in.ol;
        pkts[i] = p;
    }
    dp_pipeline_run(pl, tables, in.port, pkts, (int)n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t copies[4] = {1, 1, 1, 3};
    struct dp_counters before, after;
    struct dp_punt_entry e;
    struct delta d;
    uint32_t n, punted = 0;

    if (!pool) {
        init();
    }
    if (size < HDR_LEN || size - HDR_LEN > FRAME_SIZE - VLAN_HDR_LEN) {
        return 0;
    }
    if (!make_frame(data, size)) {
        return 0;
    }
    now_ms += 1000000; /* the ICMP rate limit is full again */
    in.n_tx = 0;
    in.n_rec = 0;
    in.overflow = false;
    arena_used = 0;
    n = copies[data[1] & 3];
    if ((data[1] & 0x1f) == 0x0f) {
        n = 150; /* more ICMP errors than the rate limit's burst */
    }

    before = *dp_pipeline_counters(pl);
    for (uint32_t left = n; left;) {
        uint32_t k = MIN(left, 50u);
        run(k);
        left -= k;
    }
    dp_pipeline_flush(pl, tables);
    after = *dp_pipeline_counters(pl);
    while (dp_ring_pop(punt_ring, &e)) {
        if (e.port != in.port || e.segment != in.seg || e.len != in.len ||
            memcmp(e.frame, in.frame, in.len)) {
            FAIL("punted frame differs");
        }
        punted++;
    }

    check_pool();
    counters_delta(&before, &after, &d);
    if (d.punted != punted) {
        FAIL("punted %lu, ring had %u", (unsigned long)d.punted, punted);
    }
    check_outcome(&d, n);
    return 0;
}
