/* Unit tests of the distributed firewall stage in the pipeline (dfw.h):
 * allow/drop/reject per direction, stateful return traffic, revalidation
 * after rule changes, stateless rules, reject answers (parsed back and
 * checksummed), SpoofGuard, VM-to-VM checks on one host, per-rule
 * counters, address-set changes, logging, and the datapath's control
 * requests (conntrack dump, stats, flush).  Ports are dummy ports.
 *
 * Topology (one segment, GENEVE VNI 5001):
 *   port 0 geneve, 1 vxlan, 2 A (firewall + SpoofGuard), 3 B (firewall),
 *   4 C (no firewall); R is remote behind vtep1.
 *   A 10.0.0.1 fd00::1 lport 11, B 10.0.0.2 fd00::2 lport 12,
 *   C 10.0.0.3 lport 13, R 10.0.0.9 fd00::9 lport 21. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "datapath/csum.h"
#include "datapath/datapath.h"
#include "datapath/dfw.h"
#include "datapath/parse.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "datapath/tunnel.h"
#include "lib/log.h"
#include "testlib.h"

#define N_PORTS 5
#define PORT_A  2
#define PORT_B  3
#define PORT_C  4
#define ZONE_A  11
#define ZONE_B  12

struct ep {
    struct eth_addr mac;
    uint32_t ip4; /* host order */
    uint8_t ip6[16];
};

static const struct ep A = {
    {{2, 0, 0, 0, 0, 0x0a}},
    0x0a000001,
    {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
static const struct ep B = {
    {{2, 0, 0, 0, 0, 0x0b}},
    0x0a000002,
    {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}};
static const struct ep C = {
    {{2, 0, 0, 0, 0, 0x0c}},
    0x0a000003,
    {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}};
static const struct ep R = {
    {{2, 0, 0, 0, 0, 0x0d}},
    0x0a000009,
    {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}};
static const uint8_t vtep1[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                  0, 0, 0xff, 0xff, 198, 18, 0, 2};

#define SET_A   1
#define SET_B   2
#define SET_C   3
#define SET_R   9
#define SET_WEB 50

static struct dp_port *ports[N_PORTS];
static struct dp_pool *pool;
static struct dp_pipeline *pl;
static struct dp_tables *tables;
static uint64_t gen;
static uint64_t fake_now = 1000;

/* ---- Rules. ---- */

struct rdef {
    uint32_t id;
    uint8_t dir;
    int src_set; /* -1: any */
    int dst_set;
    uint16_t proto; /* 0: any service */
    uint16_t lo, hi;
    uint8_t action, flags;
};

static struct cls *
compile(const struct rdef *rd, size_t n, uint32_t deflt_id)
{
    struct cls_rule *r = xcalloc(n + 1, sizeof *r);
    uint32_t *sets = xcalloc(2 * n + 2, sizeof *sets);
    struct cls_service *sv = xcalloc(n + 1, sizeof *sv);

    for (size_t i = 0; i < n; i++) {
        sets[2 * i] = (uint32_t)rd[i].src_set;
        sets[2 * i + 1] = (uint32_t)rd[i].dst_set;
        sv[i] = (struct cls_service){rd[i].proto, rd[i].lo, rd[i].hi};
        r[i] = (struct cls_rule){
            .id = rd[i].id,
            .priority = (uint32_t)i * 10,
            .src_sets = &sets[2 * i],
            .n_src = rd[i].src_set >= 0,
            .dst_sets = &sets[2 * i + 1],
            .n_dst = rd[i].dst_set >= 0,
            .services = &sv[i],
            .n_services = rd[i].proto != 0,
            .dir = rd[i].dir,
            .action = rd[i].action,
            .flags = rd[i].flags,
        };
    }
    struct cls_result d = {deflt_id, 0, CLS_DROP, 0};
    struct cls *c = cls_compile(r, n, d);
    free(r);
    free(sets);
    free(sv);
    return c;
}

static const struct rdef rules_a[] = {
    {10, CLS_DIR_OUT, -1, SET_B, 6, 80, 80, CLS_ALLOW, CLS_F_LOGGED},
    {11, CLS_DIR_OUT, -1, SET_R, 6, 80, 80, CLS_ALLOW, 0},
    {12, CLS_DIR_OUT, -1, SET_B, 6, 81, 81, CLS_REJECT, 0},
    {19, CLS_DIR_OUT, -1, SET_B, 17, 81, 81, CLS_REJECT, 0},
    {13, CLS_DIR_OUT, -1, -1, 17, 53, 53, CLS_DROP, 0},
    {14, CLS_DIR_IN, SET_R, -1, 6, 22, 22, CLS_REJECT, 0},
    {15, CLS_DIR_OUT, -1, -1, 17, 67, 67, CLS_ALLOW, 0},
    {16, CLS_DIR_OUT, -1, -1, 6, 82, 82, CLS_ALLOW, 0},
    {17, CLS_DIR_OUT, -1, SET_WEB, 6, 443, 443, CLS_ALLOW, 0},
    {18, CLS_DIR_OUT, -1, SET_B, 17, 5000, 5000, CLS_ALLOW, 0},
    {23, CLS_DIR_OUT, -1, SET_R, 17, 5353, 5353, CLS_ALLOW, 0},
};

static const struct rdef rules_b[] = {
    {20, CLS_DIR_IN, -1, -1, 6, 80, 80, CLS_ALLOW, 0},
    {21, CLS_DIR_IN, -1, -1, 17, 5000, 5000, CLS_ALLOW, CLS_F_STATELESS},
};

static void
mapped(uint32_t v4, uint8_t ip[16])
{
    uint32_t n = htonl(v4);
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    memcpy(ip + 12, &n, 4);
}

static struct dfw_vnic *
vnic(const struct ep *e, struct cls *cls, uint32_t version, bool spoofguard)
{
    uint8_t ips[2][16];
    mapped(e->ip4, ips[0]);
    memcpy(ips[1], e->ip6, 16);
    struct dfw_vnic_config cfg = {
        .cls = cls,
        .rules_version = version,
        .spoofguard = spoofguard,
        .mac = e->mac,
        .ips = (const uint8_t(*)[16])ips,
        .n_ips = 2,
    };
    return dfw_vnic_create(&cfg);
}

static void
add_host(struct as_db *db, uint32_t set, const struct ep *e)
{
    struct as_prefix p4 = {4, 32, {0}}, p6 = {6, 128, {0}};
    uint32_t n = htonl(e->ip4);
    memcpy(p4.addr, &n, 4);
    memcpy(p6.addr, e->ip6, 16);
    as_db_add(db, set, &p4);
    as_db_add(db, set, &p6);
}

static struct dfw_sets *
sets_mode(bool web_has_c, uint8_t tcp_mode)
{
    struct as_db *db = as_db_create();
    add_host(db, SET_A, &A);
    add_host(db, SET_B, &B);
    add_host(db, SET_C, &C);
    add_host(db, SET_R, &R);
    if (web_has_c) {
        add_host(db, SET_WEB, &C);
    } else {
        add_host(db, SET_WEB, &R);
    }
    static const struct dfw_rule_info names[] = {{10, "a-web"},
                                                 {99, "a-default"}};
    struct dfw_sets_config cfg = {as_index_build(db), names, 2, tcp_mode};
    as_db_destroy(db);
    return dfw_sets_create(&cfg);
}

static struct dfw_sets *
sets(bool web_has_c)
{
    return sets_mode(web_has_c, DFW_TCP_DEFAULT);
}

/* Publishes a new snapshot with these firewalls (the references passed
 * in are consumed; NULL: no firewall). */
static void
build(struct dfw_vnic *fa, struct dfw_vnic *fb, struct dfw_sets *s)
{
    struct dp_tables_builder *b = dp_tables_builder_create(++gen);
    uint8_t ip[16];

    dp_tb_set_ports(b, ports, N_PORTS);
    dp_tb_set_underlay(b, 1600, false);
    uint32_t seg = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    dp_tb_add_local(b, seg, PORT_A, ZONE_A, &A.mac);
    dp_tb_add_local(b, seg, PORT_B, ZONE_B, &B.mac);
    dp_tb_add_local(b, seg, PORT_C, 13, &C.mac);
    dp_tb_add_remote(b, seg, &R.mac, vtep1, 21);
    dp_tb_add_flood(b, seg, vtep1);
    mapped(B.ip4, ip);
    dp_tb_add_neigh(b, seg, ip, &B.mac);
    dp_tb_set_vif_firewall(b, PORT_A, fa);
    dp_tb_set_vif_firewall(b, PORT_B, fb);
    dp_tb_set_firewall(b, s);
    dfw_vnic_unref(fa);
    dfw_vnic_unref(fb);
    dfw_sets_unref(s);
    dp_tables_free(tables);
    tables = dp_tables_build(b);
}

static uint64_t
test_clock(void *aux)
{
    (void)aux;
    return fake_now;
}

/* New tables: A's vNIC with rules 'rd' (default: drop, rule 99) at
 * rules version 'version', B's with rules_b at version 1. */
static void
rules_for_a(const struct rdef *rd, size_t n, uint32_t version)
{
    build(vnic(&A, compile(rd, n, 99), version, true),
          vnic(&B, compile(rules_b, ARRAY_SIZE(rules_b), 98), 1, false),
          sets(false));
}

static void
setup_opts(const struct dp_pipeline_options *opts)
{
    pool = dp_pool_create(1024, 4096);
    pl = dp_pipeline_create(pool, opts);
    for (int i = 0; i < N_PORTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        dp_port_dummy_class.open(name, NULL, &ports[i]);
        dp_dummy_set_peer(ports[i], vtep1); /* tunnels: a known peer */
    }
    rules_for_a(rules_a, ARRAY_SIZE(rules_a), 1);
}

static void
setup(void)
{
    struct dp_pipeline_options o;
    dp_pipeline_options_default(&o);
    o.clock_ms = test_clock;
    setup_opts(&o);
}

static void
teardown(void)
{
    dp_pipeline_destroy(pl);
    dp_tables_free(tables);
    tables = NULL;
    for (int i = 0; i < N_PORTS; i++) {
        dp_port_close(ports[i]);
    }
    dp_pool_destroy(pool);
}

/* ---- Frames. ---- */

/* Builds Ethernet + IPv4/IPv6 + 'l4' into 'f'; returns the length. */
static uint32_t
ip_frame(uint8_t *f, const struct ep *s, const struct ep *d, int fam,
         uint8_t proto, const uint8_t *l4, uint32_t l4_len)
{
    struct eth_hdr eth = {d->mac, s->mac,
                          htons(fam == 4 ? ETH_TYPE_IPV4 : ETH_TYPE_IPV6)};
    uint32_t l3;

    memcpy(f, &eth, 14);
    if (fam == 4) {
        struct ipv4_hdr ip = {.ver_ihl = 0x45,
                              .tot_len = htons((uint16_t)(20 + l4_len)),
                              .ttl = 64,
                              .proto = proto,
                              .src = htonl(s->ip4),
                              .dst = htonl(d->ip4)};
        ip.csum = csum_finish(csum_partial(&ip, 20, 0));
        memcpy(f + 14, &ip, 20);
        l3 = 20;
    } else {
        struct ipv6_hdr ip = {.ver_tc_flow = htonl(0x60000000),
                              .payload_len = htons((uint16_t)l4_len),
                              .next = proto,
                              .hop_limit = 64};
        memcpy(ip.src.b, s->ip6, 16);
        memcpy(ip.dst.b, d->ip6, 16);
        memcpy(f + 14, &ip, 40);
        l3 = 40;
    }
    memcpy(f + 14 + l3, l4, l4_len);
    return 14 + l3 + l4_len;
}

static uint32_t
tcp_frame(uint8_t *f, const struct ep *s, const struct ep *d, int fam,
          uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
          uint32_t ack, uint32_t payload)
{
    uint8_t b[256] = {0};
    struct tcp_hdr t = {.src = htons(sport),
                        .dst = htons(dport),
                        .seq = htonl(seq),
                        .ack = htonl(ack),
                        .off = 5 << 4,
                        .flags = flags,
                        .win = htons(65535)};
    memcpy(b, &t, 20);
    memset(b + 20, 'x', payload);
    return ip_frame(f, s, d, fam, IPPROTO_TCP_, b, 20 + payload);
}

static uint32_t
udp_frame(uint8_t *f, const struct ep *s, const struct ep *d, int fam,
          uint16_t sport, uint16_t dport, uint32_t payload)
{
    uint8_t b[1500] = {0};
    struct udp_hdr u = {htons(sport), htons(dport),
                        htons((uint16_t)(8 + payload)), 0};
    memcpy(b, &u, 8);
    memset(b + 8, 'u', payload);
    return ip_frame(f, s, d, fam, IPPROTO_UDP_, b, 8 + payload);
}

/* Wraps an inner frame from R in GENEVE (VNI 5001, source lport 21). */
static uint32_t
geneve(uint8_t *out, const uint8_t *inner, uint32_t len)
{
    struct geneve_hdr gh = {.ver_optlen = 2, .proto = htons(ETH_TYPE_TEB)};
    struct geneve_opt opt = {htons(WEFT_GENEVE_CLASS), WEFT_GENEVE_OPT_SRC_PORT,
                             1};
    uint32_t lport = htonl(21);
    vni_put(gh.vni, 5001);
    memcpy(out, &gh, 8);
    memcpy(out + 8, &opt, 4);
    memcpy(out + 12, &lport, 4);
    memcpy(out + 16, inner, len);
    return len + 16;
}

static void
run_from(uint16_t port)
{
    struct dp_packet *pkts[DP_BATCH_MAX];
    int n;
    while ((n = dp_port_rx(ports[port], pool, pkts, DP_BATCH_MAX)) > 0) {
        dp_pipeline_run(pl, tables, port, pkts, n);
    }
    dp_pipeline_flush(pl, tables);
}

static void
send_vif(uint16_t port, const uint8_t *f, uint32_t len)
{
    dp_dummy_inject(ports[port], f, len);
    run_from(port);
}

static void
send_tun(const uint8_t *f, uint32_t len)
{
    uint8_t enc[2048];
    dp_dummy_inject(ports[DP_PORT_GENEVE], enc, geneve(enc, f, len));
    run_from(DP_PORT_GENEVE);
}

static uint64_t
drops(enum dp_drop d)
{
    return dp_pipeline_counters(pl)->drops[d];
}

static uint32_t
sent(uint16_t port)
{
    return dp_dummy_sent_count(ports[port]);
}

/* Takes one frame from 'port' into a parsed packet (NULL if none). */
static struct dp_packet *
take_parsed(uint16_t port)
{
    struct dp_packet *p = dp_pool_get(pool);
    int n = dp_dummy_take(ports[port], p->data, 4096);
    if (n < 0) {
        dp_packet_free(p);
        return NULL;
    }
    p->len = (uint32_t)n;
    if (port == DP_PORT_GENEVE) {
        dp_packet_pull(p, DP_GENEVE_OVERHEAD);
    }
    if (dp_parse(p) != DP_DROP_NONE) {
        dp_packet_free(p);
        return NULL;
    }
    return p;
}

static struct ct_stats
ct_stats(void)
{
    struct ct_stats st;
    memset(&st, 0, sizeof st);
    if (dfw_thread_ct(dp_pipeline_dfw(pl))) {
        ct_get_stats(dfw_thread_ct(dp_pipeline_dfw(pl)), &st);
    }
    return st;
}

/* What the connection table holds for one zone. */
struct zone_survey {
    uint32_t zone;
    int n;           /* connections */
    int n_denied;    /* of them denied by revalidation (CT_GEN_DENIED) */
    int denied_rule; /* the rule of the last denied one; -1: none */
};

static bool
survey_conn(const struct ct_conn_info *ci, void *aux)
{
    struct zone_survey *zs = aux;
    if (ci->zone == zs->zone) {
        zs->n++;
        if (ci->gen == CT_GEN_DENIED) {
            zs->n_denied++;
            zs->denied_rule = (int)ci->rule_id;
        }
    }
    return true;
}

static struct zone_survey
survey_zone(uint32_t zone)
{
    struct zone_survey zs = {zone, 0, 0, -1};
    struct ct_table *ct = dfw_thread_ct(dp_pipeline_dfw(pl));
    if (ct) {
        ct_iterate(ct, fake_now, survey_conn, &zs);
    }
    return zs;
}

static int
conns_in_zone(uint32_t zone)
{
    return survey_zone(zone).n;
}

static int
denied_in_zone(uint32_t zone)
{
    return survey_zone(zone).n_denied;
}

static int
denied_rule_in_zone(uint32_t zone)
{
    return survey_zone(zone).denied_rule;
}

/* Rule 'id''s counters as the agent reads them: after a collect. */
static struct dfw_rule_counters
rule(uint32_t id)
{
    struct dfw_rule_counters c;
    dp_pipeline_collect_counts(pl);
    dfw_thread_rule_counters(dp_pipeline_dfw(pl), id, &c);
    return c;
}

/* The same without the collect. */
static struct dfw_rule_counters
rule_uncollected(uint32_t id)
{
    struct dfw_rule_counters c;
    dfw_thread_rule_counters(dp_pipeline_dfw(pl), id, &c);
    return c;
}

/* Checks the TCP or ICMP checksum of a parsed packet and the IPv4 header
 * checksum. */
static bool
checksums_ok(const struct dp_packet *p)
{
    const uint8_t *l3 = p->data + p->l3_ofs, *l4 = p->data + p->l4_ofs;
    uint32_t sum = 0, l4_len;

    if (p->pflags & DP_PF_IPV4) {
        if (csum_finish(csum_partial(l3, 20, 0)) != 0) {
            return false;
        }
        l4_len = ntohs(rd16(l3 + 2)) - 20u;
        if (p->ip_proto != IPPROTO_ICMP_) {
            sum = csum_pseudo_ipv4(rd32(l3 + 12), rd32(l3 + 16), p->ip_proto,
                                   (uint16_t)l4_len);
        }
    } else {
        l4_len = ntohs(rd16(l3 + 4));
        sum = csum_pseudo_ipv6(l3 + 8, l3 + 24, p->ip_proto, l4_len);
    }
    return csum_finish(csum_partial(l4, l4_len, sum)) == 0;
}

/* Opens TCP connection A:sport -> B:80 (SYN, SYN+ACK) with A's initial
 * sequence number 'isn'. */
static void
open_a_to_b(int fam, uint16_t sport, uint32_t isn)
{
    uint8_t f[2048];
    uint32_t len = tcp_frame(f, &A, &B, fam, sport, 80, TCP_SYN, isn, 0, 0);
    send_vif(PORT_A, f, len);
    len =
        tcp_frame(f, &B, &A, fam, 80, sport, TCP_SYN | TCP_ACK, 9, isn + 1, 0);
    send_vif(PORT_B, f, len);
}

/* ---- Tests. ---- */

TEST(allow_drop_reject_per_direction)
{
    uint8_t f[2048];
    uint32_t len;

    setup();
    /* OUT allow: A -> B:80, and B's IN allows it too. */
    len = tcp_frame(f, &A, &B, 4, 40000, 80, TCP_SYN, 100, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 1);
    /* OUT drop: A -> R:53/udp (rule 13). */
    len = udp_frame(f, &A, &R, 4, 5555, 53, 10);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(DP_PORT_GENEVE), 0);
    CHECK_EQ(drops(DP_DROP_FW_DROP), 1);
    /* OUT default: A -> R:8080 dropped by the default rule. */
    len = tcp_frame(f, &A, &R, 4, 40000, 8080, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(drops(DP_DROP_FW_DROP), 2);
    CHECK_EQ(rule(99).packets, 1);
    /* OUT reject: A -> B:81 answered with a RST to A. */
    len = tcp_frame(f, &A, &B, 4, 40001, 81, TCP_SYN, 100, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(drops(DP_DROP_FW_REJECT), 1);
    CHECK_EQ(sent(PORT_A), 1);
    /* IN reject: R -> A:22 (rule 14), answered into the tunnel; IN
     * default: R -> A:23 dropped. */
    len = tcp_frame(f, &R, &A, 4, 50000, 22, TCP_SYN, 7, 0, 0);
    send_tun(f, len);
    CHECK_EQ(drops(DP_DROP_FW_REJECT), 2);
    CHECK_EQ(sent(DP_PORT_GENEVE), 1); /* the RST toward R's VTEP */
    len = tcp_frame(f, &R, &A, 4, 50000, 23, TCP_SYN, 7, 0, 0);
    send_tun(f, len);
    CHECK_EQ(drops(DP_DROP_FW_DROP), 3);
    /* IN allow on B from the fabric. */
    len = tcp_frame(f, &R, &B, 4, 50000, 80, TCP_SYN, 7, 0, 0);
    send_tun(f, len);
    CHECK_EQ(sent(PORT_B), 2);
    CHECK_EQ(drops(DP_DROP_CT_INVALID), 0);
    teardown();
}

TEST(return_traffic_only_for_allowed_connections)
{
    uint8_t f[2048];
    uint32_t len;

    setup();
    /* A opens to R:80 (OUT rule 11). */
    len = tcp_frame(f, &A, &R, 4, 40000, 80, TCP_SYN, 1000, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(DP_PORT_GENEVE), 1);
    /* The SYN+ACK from R passes A's IN check with no IN rule allowing it. */
    len = tcp_frame(f, &R, &A, 4, 80, 40000, TCP_SYN | TCP_ACK, 5000, 1001, 0);
    send_tun(f, len);
    CHECK_EQ(sent(PORT_A), 1);
    len = tcp_frame(f, &A, &R, 4, 40000, 80, TCP_ACK, 1001, 5001, 0);
    send_vif(PORT_A, f, len);
    len = tcp_frame(f, &R, &A, 4, 80, 40000, TCP_ACK | TCP_PSH, 5001, 1001, 50);
    send_tun(f, len);
    CHECK_EQ(sent(PORT_A), 2);
    /* Unsolicited, same direction: R -> A from another port: dropped,
     * whether a SYN or a mid-stream segment. */
    len = tcp_frame(f, &R, &A, 4, 81, 40000, TCP_SYN | TCP_ACK, 5000, 1001, 0);
    send_tun(f, len);
    len = tcp_frame(f, &R, &A, 4, 80, 40001, TCP_ACK, 5000, 1001, 10);
    send_tun(f, len);
    len = udp_frame(f, &R, &A, 4, 53, 40000, 10);
    send_tun(f, len);
    CHECK_EQ(sent(PORT_A), 2);
    CHECK_EQ(drops(DP_DROP_FW_DROP) + drops(DP_DROP_CT_INVALID), 3);
    /* A connection R opens toward A cannot be answered "as a reply":
     * A -> R from port 80 to R's port is classified OUT (no rule: drop). */
    len = tcp_frame(f, &A, &R, 4, 80, 33333, TCP_SYN | TCP_ACK, 1, 2, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(DP_PORT_GENEVE), 2);
    CHECK_EQ(conns_in_zone(ZONE_A), 1);
    /* An ICMP error about the tracked connection (from a router on the
     * path) is related and passes; one about nothing tracked does not. */
    uint8_t icmp[128] = {3, 4, 0, 0, 0, 0, 0x05, 0xdc};
    uint8_t orig[128];
    uint32_t ol = tcp_frame(orig, &A, &R, 4, 40000, 80, TCP_ACK, 1001, 5001, 0);
    memcpy(icmp + 8, orig + 14, ol - 14);
    uint16_t cs = csum_finish(csum_partial(icmp, 8 + ol - 14, 0));
    memcpy(icmp + 2, &cs, 2);
    len = ip_frame(f, &R, &A, 4, IPPROTO_ICMP_, icmp, 8 + ol - 14);
    send_tun(f, len);
    CHECK_EQ(sent(PORT_A), 3);
    ol = tcp_frame(orig, &A, &R, 4, 40009, 80, TCP_ACK, 1001, 5001, 0);
    memcpy(icmp + 8, orig + 14, ol - 14);
    len = ip_frame(f, &R, &A, 4, IPPROTO_ICMP_, icmp, 8 + ol - 14);
    send_tun(f, len);
    CHECK_EQ(sent(PORT_A), 3);
    CHECK_EQ(drops(DP_DROP_CT_INVALID), 3);
    teardown();
}

/* A's IPv4 connection 40000 -> B:80 established: handshake (ISN 100)
 * and A's first ACK, through both firewalls. */
static void
establish_a_to_b(void)
{
    uint8_t f[2048];
    uint32_t len;

    open_a_to_b(4, 40000, 100);
    len = tcp_frame(f, &A, &B, 4, 40000, 80, TCP_ACK, 101, 10, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 2);
    CHECK_EQ(sent(PORT_A), 1);
}

TEST(rule_change_to_drop_kills_established_connection)
{
    uint8_t f[2048];
    uint32_t len;
    static const struct rdef v2[] = {
        {30, CLS_DIR_OUT, -1, SET_B, 6, 80, 80, CLS_DROP, 0},
    };

    setup();
    establish_a_to_b();
    CHECK_EQ(conns_in_zone(ZONE_A), 1);

    /* Same rules, new version: the connection is revalidated (from the
     * reply side too) and survives. */
    rules_for_a(rules_a, ARRAY_SIZE(rules_a), 2);
    len = tcp_frame(f, &B, &A, 4, 80, 40000, TCP_ACK, 10, 101, 5);
    send_vif(PORT_B, f, len);
    CHECK_EQ(sent(PORT_A), 2);
    struct dfw_stats st;
    dfw_thread_stats(dp_pipeline_dfw(pl), &st);
    CHECK_EQ(st.revalidated, 1);
    CHECK_EQ(st.reval_dropped, 0);

    /* Rule 10 replaced by a drop: the next packet, either way, dies, and
     * the connection stays in the table, denied. */
    rules_for_a(v2, ARRAY_SIZE(v2), 3);
    len = tcp_frame(f, &B, &A, 4, 80, 40000, TCP_ACK, 15, 101, 5);
    send_vif(PORT_B, f, len);
    CHECK_EQ(sent(PORT_A), 2);
    CHECK_EQ(drops(DP_DROP_FW_DROP), 1);
    CHECK_EQ(conns_in_zone(ZONE_A), 1);
    CHECK_EQ(denied_in_zone(ZONE_A), 1);
    len = tcp_frame(f, &A, &B, 4, 40000, 80, TCP_ACK, 101, 20, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 2);
    CHECK_EQ(rule(30).packets, 2);
    dfw_thread_stats(dp_pipeline_dfw(pl), &st);
    CHECK_EQ(st.reval_dropped, 1); /* the connection, counted once */
    teardown();
}

/* A connection the rules refuse now must not come back through loose
 * pickup of the responder's next segment: with rules that drop A's
 * opening direction but allow anything in, B's segment (a mid-stream
 * pickup of B -> A, which those rules allow) would otherwise reopen the
 * flow, and A's packets would pass as its replies. */
TEST(denied_connection_is_not_reopened_by_pickup)
{
    uint8_t f[2048];
    uint32_t len;
    static const struct rdef v2[] = {
        {30, CLS_DIR_OUT, -1, SET_B, 6, 80, 80, CLS_DROP, 0},
        {31, CLS_DIR_IN, -1, -1, 6, 1, 65535, CLS_ALLOW, 0},
    };
    static const struct rdef v3[] = {
        {40, CLS_DIR_OUT, -1, SET_B, 6, 80, 80, CLS_ALLOW, 0},
    };

    setup();
    establish_a_to_b();

    rules_for_a(v2, ARRAY_SIZE(v2), 2);
    /* B's data segment: revalidated as A's connection, refused. */
    len = tcp_frame(f, &B, &A, 4, 80, 40000, TCP_ACK | TCP_PSH, 10, 101, 5);
    send_vif(PORT_B, f, len);
    CHECK_EQ(sent(PORT_A), 1);
    /* B retransmits: still A's connection, still refused, not picked up
     * as B's own. */
    send_vif(PORT_B, f, len);
    CHECK_EQ(sent(PORT_A), 1);
    CHECK_EQ(denied_in_zone(ZONE_A), 1);
    CHECK_EQ(conns_in_zone(ZONE_A), 1);
    /* And A's segments do not pass as replies. */
    len = tcp_frame(f, &A, &B, 4, 40000, 80, TCP_ACK, 101, 15, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 2);
    CHECK_EQ(rule(30).packets, 3);
    CHECK_EQ(rule(31).packets, 0);
    CHECK_EQ(drops(DP_DROP_FW_DROP), 3);
    struct dfw_stats st;
    dfw_thread_stats(dp_pipeline_dfw(pl), &st);
    CHECK_EQ(st.reval_dropped, 1);

    /* Another rule refuses it now: its packets count to that rule, and
     * the entry names it. */
    static const struct rdef v2b[] = {
        {50, CLS_DIR_OUT, -1, SET_B, 6, 80, 80, CLS_DROP, 0},
        {31, CLS_DIR_IN, -1, -1, 6, 1, 65535, CLS_ALLOW, 0},
    };
    rules_for_a(v2b, ARRAY_SIZE(v2b), 4);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 2);
    CHECK_EQ(rule(50).packets, 1);
    CHECK_EQ(rule(30).packets, 3);
    CHECK_EQ(denied_rule_in_zone(ZONE_A), 50);
    dfw_thread_stats(dp_pipeline_dfw(pl), &st);
    CHECK_EQ(st.reval_dropped, 1);

    /* Rules that allow it again: the next packet re-admits it. */
    rules_for_a(v3, ARRAY_SIZE(v3), 5);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 3);
    CHECK_EQ(denied_in_zone(ZONE_A), 0);
    CHECK_EQ(conns_in_zone(ZONE_A), 1);
    len = tcp_frame(f, &B, &A, 4, 80, 40000, TCP_ACK, 15, 101, 0);
    send_vif(PORT_B, f, len);
    CHECK_EQ(sent(PORT_A), 2);
    CHECK_EQ(rule(40).packets, 2);
    teardown();
}

TEST(rule_change_to_allow_admits_new_connections)
{
    uint8_t f[2048];
    uint32_t len;
    static const struct rdef v2[] = {
        {40, CLS_DIR_OUT, -1, -1, 6, 8080, 8080, CLS_ALLOW, 0},
    };

    setup();
    len = tcp_frame(f, &A, &R, 4, 40000, 8080, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(DP_PORT_GENEVE), 0);
    rules_for_a(v2, ARRAY_SIZE(v2), 2);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(DP_PORT_GENEVE), 1);
    CHECK_EQ(rule(40).sessions, 1);
    teardown();
}

TEST(stateless_rule_creates_no_entry)
{
    uint8_t f[2048];
    uint32_t len;

    setup();
    /* A -> B:5000/udp: stateful OUT at A (rule 18), stateless IN at B. */
    for (int i = 0; i < 3; i++) {
        len = udp_frame(f, &A, &B, 4, 7000, 5000, 20);
        send_vif(PORT_A, f, len);
    }
    CHECK_EQ(sent(PORT_B), 3);
    CHECK_EQ(conns_in_zone(ZONE_A), 1);
    CHECK_EQ(conns_in_zone(ZONE_B), 0);
    CHECK_EQ(rule(21).packets, 3);
    CHECK_EQ(rule(21).sessions, 0);
    CHECK_EQ(rule(18).sessions, 1);
    CHECK_EQ(rule(18).packets, 3);
    teardown();
}

TEST(reject_answers_tcp_with_rst)
{
    uint8_t f[2048];
    uint32_t len;
    struct dp_packet *p;

    setup();
    /* SYN: RST+ACK, ack = seq + 1, seq 0. */
    len = tcp_frame(f, &A, &B, 4, 40001, 81, TCP_SYN, 1000, 0, 0);
    send_vif(PORT_A, f, len);
    p = take_parsed(PORT_A);
    if (CHECK(p != NULL)) {
        const struct eth_hdr *eth = dp_packet_eth(p);
        const uint8_t *l3 = p->data + p->l3_ofs, *l4 = p->data + p->l4_ofs;
        CHECK(eth_addr_equals(&eth->dst, &A.mac));
        CHECK(eth_addr_equals(&eth->src, &B.mac));
        CHECK(p->pflags & DP_PF_IPV4);
        CHECK_EQ(p->ip_proto, IPPROTO_TCP_);
        CHECK_EQ(ntohl(rd32(l3 + 12)), B.ip4);
        CHECK_EQ(ntohl(rd32(l3 + 16)), A.ip4);
        CHECK_EQ(ntohs(rd16(l4)), 81);
        CHECK_EQ(ntohs(rd16(l4 + 2)), 40001);
        CHECK_EQ(l4[13], TCP_RST | TCP_ACK);
        CHECK_EQ(ntohl(rd32(l4 + 4)), 0);
        CHECK_EQ(ntohl(rd32(l4 + 8)), 1001);
        CHECK(checksums_ok(p));
        dp_packet_free(p);
    }
    /* Mid-stream ACK with 10 bytes: RST with seq = its ack, no ACK. */
    len = tcp_frame(f, &A, &B, 4, 40002, 81, TCP_ACK | TCP_PSH, 1000, 777, 10);
    send_vif(PORT_A, f, len);
    p = take_parsed(PORT_A);
    if (CHECK(p != NULL)) {
        const uint8_t *l4 = p->data + p->l4_ofs;
        CHECK_EQ(l4[13], TCP_RST);
        CHECK_EQ(ntohl(rd32(l4 + 4)), 777);
        CHECK(checksums_ok(p));
        dp_packet_free(p);
    }
    /* A SYN with 5 bytes of data: ack covers all of it. */
    len = tcp_frame(f, &A, &B, 4, 40003, 81, TCP_SYN, 50, 0, 5);
    send_vif(PORT_A, f, len);
    p = take_parsed(PORT_A);
    if (CHECK(p != NULL)) {
        CHECK_EQ(ntohl(rd32(p->data + p->l4_ofs + 8)), 50 + 5 + 1);
        dp_packet_free(p);
    }
    /* IPv6. */
    len = tcp_frame(f, &A, &B, 6, 40004, 81, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    p = take_parsed(PORT_A);
    if (CHECK(p != NULL)) {
        const uint8_t *l3 = p->data + p->l3_ofs;
        CHECK(p->pflags & DP_PF_IPV6);
        CHECK(!memcmp(l3 + 8, B.ip6, 16));
        CHECK(!memcmp(l3 + 24, A.ip6, 16));
        CHECK_EQ(p->data[p->l4_ofs + 13], TCP_RST | TCP_ACK);
        CHECK(checksums_ok(p));
        dp_packet_free(p);
    }
    /* A RST is never answered, nor is anything to a broadcast MAC. */
    len = tcp_frame(f, &A, &B, 4, 40005, 81, TCP_RST, 1, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_A), 0);
    CHECK_EQ(drops(DP_DROP_CT_INVALID), 1); /* a RST cannot open */
    CHECK_EQ(drops(DP_DROP_FW_REJECT), 4);
    teardown();
}

TEST(reject_answers_udp_with_icmp_unreachable)
{
    uint8_t f[2048];
    uint32_t len;
    struct dp_packet *p;

    setup();
    len = udp_frame(f, &A, &B, 4, 6000, 81, 1000);
    send_vif(PORT_A, f, len);
    p = take_parsed(PORT_A);
    if (CHECK(p != NULL)) {
        const uint8_t *l3 = p->data + p->l3_ofs, *l4 = p->data + p->l4_ofs;
        CHECK_EQ(p->ip_proto, IPPROTO_ICMP_);
        CHECK_EQ(l4[0], 3);
        CHECK_EQ(l4[1], 13);
        CHECK_EQ(ntohs(rd16(l3 + 2)), 576); /* quoted up to 576 bytes */
        CHECK_EQ(ntohl(rd32(l3 + 12)), B.ip4);
        CHECK_EQ(ntohl(rd32(l3 + 16)), A.ip4);
        CHECK(!memcmp(l4 + 8, f + 14, 548)); /* the original IP packet */
        CHECK(checksums_ok(p));
        dp_packet_free(p);
    }
    /* Short original: quoted whole. */
    len = udp_frame(f, &A, &B, 4, 6000, 81, 4);
    send_vif(PORT_A, f, len);
    p = take_parsed(PORT_A);
    if (CHECK(p != NULL)) {
        CHECK_EQ(ntohs(rd16(p->data + p->l3_ofs + 2)), 20 + 8 + 20 + 8 + 4);
        CHECK(checksums_ok(p));
        dp_packet_free(p);
    }
    /* Never answered: a rejected frame to a multicast MAC. */
    struct ep mc = B;
    mc.mac = (struct eth_addr){{0x01, 0x00, 0x5e, 0, 0, 1}};
    len = udp_frame(f, &A, &mc, 4, 6000, 81, 10);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_A), 0);
    CHECK_EQ(drops(DP_DROP_FW_REJECT), 3);
    /* IPv6: type 1 code 1, up to 1280 bytes. */
    len = udp_frame(f, &A, &B, 6, 6000, 81, 1400);
    send_vif(PORT_A, f, len);
    p = take_parsed(PORT_A);
    if (CHECK(p != NULL)) {
        const uint8_t *l3 = p->data + p->l3_ofs, *l4 = p->data + p->l4_ofs;
        CHECK_EQ(p->ip_proto, IPPROTO_ICMPV6_);
        CHECK_EQ(l4[0], 1);
        CHECK_EQ(l4[1], 1);
        CHECK_EQ(40 + ntohs(rd16(l3 + 4)), 1280);
        CHECK(!memcmp(l3 + 8, B.ip6, 16));
        CHECK(!memcmp(l4 + 8, f + 14, 1232));
        CHECK(checksums_ok(p));
        dp_packet_free(p);
    }
    teardown();
}

TEST(in_reject_from_tunnel_goes_back_to_the_vtep)
{
    uint8_t f[2048], raw[256];
    uint32_t len;
    struct dp_packet *p;

    setup();
    len = tcp_frame(f, &R, &A, 4, 50000, 22, TCP_SYN, 7, 0, 0);
    send_tun(f, len);
    CHECK_EQ(sent(PORT_A), 0);
    int n = dp_dummy_take(ports[DP_PORT_GENEVE], raw, sizeof raw);
    CHECK(n > DP_GENEVE_OVERHEAD);
    CHECK_EQ(ntohl(rd32(raw + 12)), ZONE_A); /* from A's logical port */
    p = dp_pool_get(pool);
    memcpy(p->data, raw + DP_GENEVE_OVERHEAD, (size_t)n - DP_GENEVE_OVERHEAD);
    p->len = (uint32_t)n - DP_GENEVE_OVERHEAD;
    CHECK_EQ(dp_parse(p), DP_DROP_NONE);
    CHECK(eth_addr_equals(&dp_packet_eth(p)->dst, &R.mac));
    CHECK(eth_addr_equals(&dp_packet_eth(p)->src, &A.mac));
    CHECK_EQ(p->data[p->l4_ofs + 13], TCP_RST | TCP_ACK);
    CHECK_EQ(ntohl(rd32(p->data + p->l4_ofs + 8)), 8);
    CHECK(checksums_ok(p));
    dp_packet_free(p);

    /* The same from B (local): the RST reaches B through B's IN check
     * (B's connection admits it as a reply).  B may send to A:22 only if
     * B's OUT allows: B has no OUT rule, so use IPv6 from R instead and
     * check that a drop (not reject) answers nothing. */
    len = udp_frame(f, &R, &A, 6, 1, 2, 10);
    send_tun(f, len);
    CHECK_EQ(drops(DP_DROP_FW_DROP), 1);
    CHECK_EQ(sent(DP_PORT_GENEVE), 0);
    teardown();
}

TEST(reject_rate_limited)
{
    uint8_t f[2048];
    uint32_t len;
    struct dp_pipeline_options o;

    dp_pipeline_options_default(&o);
    o.clock_ms = test_clock;
    o.fw.reject_burst = 5;
    o.fw.reject_rate = 10; /* one per 100 ms */
    setup_opts(&o);
    for (int i = 0; i < 20; i++) {
        len = tcp_frame(f, &A, &B, 4, (uint16_t)(41000 + i), 81, TCP_SYN, 1, 0,
                        0);
        send_vif(PORT_A, f, len);
    }
    CHECK_EQ(sent(PORT_A), 5);
    CHECK_EQ(drops(DP_DROP_FW_REJECT), 20);
    fake_now += 300;
    for (int i = 0; i < 20; i++) {
        len = tcp_frame(f, &A, &B, 4, (uint16_t)(42000 + i), 81, TCP_SYN, 1, 0,
                        0);
        send_vif(PORT_A, f, len);
    }
    CHECK_EQ(sent(PORT_A), 8);
    struct dfw_stats st;
    dfw_thread_stats(dp_pipeline_dfw(pl), &st);
    CHECK_EQ(st.rejects_sent, 8);
    CHECK_EQ(st.rejects_limited, 32);
    teardown();
}

static uint32_t
arp_frame(uint8_t *f, const struct eth_addr *src, const struct eth_addr *sha,
          uint32_t spa, uint32_t tpa)
{
    static const struct eth_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    struct eth_hdr eth = {bcast, *src, htons(ETH_TYPE_ARP)};
    struct arp_eth_ipv4 arp = {.htype = htons(1),
                               .ptype = htons(ETH_TYPE_IPV4),
                               .hlen = 6,
                               .plen = 4,
                               .op = htons(ARP_OP_REQUEST),
                               .sha = *sha,
                               .spa = htonl(spa),
                               .tpa = htonl(tpa)};
    memset(f, 0, 60);
    memcpy(f, &eth, 14);
    memcpy(f + 14, &arp, sizeof arp);
    return 60;
}

TEST(spoofguard)
{
    uint8_t f[2048];
    uint32_t len;
    struct ep forged = A;

    setup();
    /* Forged source MAC. */
    forged.mac.b[5] = 0x66;
    len = udp_frame(f, &forged, &B, 4, 7000, 5000, 10);
    send_vif(PORT_A, f, len);
    CHECK_EQ(drops(DP_DROP_SPOOFGUARD), 1);
    /* Forged IPv4 and IPv6 sources. */
    forged = A;
    forged.ip4 = 0x0a000063;
    forged.ip6[15] = 0x63;
    len = udp_frame(f, &forged, &B, 4, 7000, 5000, 10);
    send_vif(PORT_A, f, len);
    len = udp_frame(f, &forged, &B, 6, 7000, 5000, 10);
    send_vif(PORT_A, f, len);
    CHECK_EQ(drops(DP_DROP_SPOOFGUARD), 3);
    /* Forged ARP: sender MAC, then sender IP. */
    len = arp_frame(f, &A.mac, &C.mac, A.ip4, B.ip4);
    send_vif(PORT_A, f, len);
    len = arp_frame(f, &A.mac, &A.mac, C.ip4, B.ip4);
    send_vif(PORT_A, f, len);
    CHECK_EQ(drops(DP_DROP_SPOOFGUARD), 5);
    CHECK_EQ(sent(PORT_A) + sent(PORT_B) + sent(PORT_C), 0);
    /* Genuine ARP, and an ARP probe from 0.0.0.0: pass (answered). */
    len = arp_frame(f, &A.mac, &A.mac, A.ip4, B.ip4);
    send_vif(PORT_A, f, len);
    len = arp_frame(f, &A.mac, &A.mac, 0, B.ip4);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_A), 2);
    /* DHCP discover from 0.0.0.0 to the broadcast: passes (OUT rule 15)
     * and is flooded. */
    struct ep unconf = A,
              bc = {{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, 0xffffffff, {0}};
    unconf.ip4 = 0;
    len = udp_frame(f, &unconf, &bc, 4, 68, 67, 300);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_C), 1);
    CHECK_EQ(sent(DP_PORT_GENEVE), 1);
    /* IPv6 link-local source (a neighbour solicitation): passes. */
    struct ep ll = A;
    memset(ll.ip6, 0, 16);
    ll.ip6[0] = 0xfe;
    ll.ip6[1] = 0x80;
    ll.ip6[15] = 0x0a;
    uint8_t ns[32] = {ICMP6_NS};
    memcpy(ns + 8, B.ip6, 16);
    len = ip_frame(f, &ll, &B, 6, IPPROTO_ICMPV6_, ns, 24);
    f[14 + 7] = 255; /* hop limit */
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 1); /* no neighbour entry: delivered */
    CHECK_EQ(drops(DP_DROP_SPOOFGUARD), 5);
    teardown();
}

/* Sends from A (SpoofGuard on) an ICMPv6 neighbour message of 'type'
 * for 'target' from source 'src' to B, with one link-layer address option
 * of 'opt_type' naming 'opt_mac' (opt_type 0: none; opt_len overrides its
 * length in 8-byte units when not 1), 'len' bytes of ICMPv6 in all. */
static void
send_nd(const struct ep *src, uint8_t type, const uint8_t target[16],
        uint8_t opt_type, const struct eth_addr *opt_mac, uint8_t opt_len,
        uint32_t len)
{
    uint8_t f[2048], nd[64] = {type};
    uint32_t n;

    memcpy(nd + 8, target, 16);
    if (opt_type) {
        nd[24] = opt_type;
        nd[25] = opt_len;
        memcpy(nd + 26, opt_mac->b, 6);
    }
    n = ip_frame(f, src, &B, 6, IPPROTO_ICMPV6_, nd, len);
    f[14 + 7] = 255; /* hop limit */
    send_vif(PORT_A, f, n);
}

/* SpoofGuard's IPv6 counterpart of the ARP check: a VM cannot claim
 * another VM's address or MAC in neighbour discovery (it could: NAs were
 * checked on their source address only, and any link-local source
 * passes). */
TEST(spoofguard_neighbour_discovery)
{
    struct ep ll = A;
    uint64_t dropped = 0, delivered = 0;

    setup();
    memset(ll.ip6, 0, 16);
    ll.ip6[0] = 0xfe;
    ll.ip6[1] = 0x80;
    ll.ip6[15] = 0x0a;
    /* Refused: an NA for C's address (from a link-local source, and from
     * A's own), an NA for A's address naming C's MAC, an NS naming C's
     * MAC, an option of length 0, an option running past the end, a
     * truncated NA. */
    send_nd(&ll, ICMP6_NA, C.ip6, ND_OPT_TLLA, &A.mac, 1, 32);
    send_nd(&A, ICMP6_NA, C.ip6, ND_OPT_TLLA, &A.mac, 1, 32);
    send_nd(&ll, ICMP6_NA, C.ip6, 0, NULL, 1, 24);
    send_nd(&ll, ICMP6_NA, A.ip6, ND_OPT_TLLA, &C.mac, 1, 32);
    send_nd(&ll, ICMP6_NS, B.ip6, ND_OPT_SLLA, &C.mac, 1, 32);
    send_nd(&ll, ICMP6_NS, B.ip6, ND_OPT_SLLA, &A.mac, 0, 32);
    send_nd(&ll, ICMP6_NS, B.ip6, ND_OPT_SLLA, &A.mac, 2, 32);
    send_nd(&ll, ICMP6_NA, A.ip6, 0, NULL, 1, 8);
    /* A is an end host: no router advertisement, no redirect. */
    send_nd(&ll, 134, B.ip6, 0, NULL, 1, 24);
    send_nd(&ll, 137, B.ip6, 0, NULL, 1, 40);
    dropped += 10;
    CHECK_EQ(drops(DP_DROP_SPOOFGUARD), dropped);
    CHECK_EQ(sent(PORT_B), delivered);
    /* Passed: what A may say about itself, also from its own address and
     * with a link-local target. */
    send_nd(&ll, ICMP6_NA, A.ip6, ND_OPT_TLLA, &A.mac, 1, 32);
    send_nd(&A, ICMP6_NA, A.ip6, 0, NULL, 1, 24);
    send_nd(&ll, ICMP6_NA, ll.ip6, ND_OPT_TLLA, &A.mac, 1, 32);
    send_nd(&ll, ICMP6_NS, B.ip6, ND_OPT_SLLA, &A.mac, 1, 32);
    delivered += 4;
    CHECK_EQ(sent(PORT_B), delivered);
    CHECK_EQ(drops(DP_DROP_SPOOFGUARD), dropped);
    teardown();
}

/* Parses 'len' bytes of 'f' into a packet of the pool. */
static struct dp_packet *
parsed(const uint8_t *f, uint32_t len)
{
    struct dp_packet *p = dp_pool_get(pool);
    memcpy(p->data, f, len);
    p->len = len;
    CHECK_EQ(dp_parse(p), DP_DROP_NONE);
    return p;
}

/* The segment router's link-local address is not A's to claim, as source
 * or as an NA's target; a fragmented ND message is refused whole. */
TEST(spoofguard_router_address_and_fragmented_nd)
{
    static const uint8_t router_lla[16] = {0xfe, 0x80, [15] = 0x01};
    struct dfw_vnic *v;
    struct ep ll = A, rtr = A;
    uint8_t f[256], nd[32] = {ICMP6_NA};
    struct dp_packet *p;
    uint32_t len;

    setup();
    v = vnic(&A, NULL, 1, true);
    memset(ll.ip6, 0, 16);
    ll.ip6[0] = 0xfe;
    ll.ip6[1] = 0x80;
    ll.ip6[15] = 0x0a;
    memcpy(rtr.ip6, router_lla, 16);

    /* NA for the router's address, from A's link-local address. */
    memcpy(nd + 8, router_lla, 16);
    len = ip_frame(f, &ll, &B, 6, IPPROTO_ICMPV6_, nd, 24);
    p = parsed(f, len);
    CHECK(!dfw_spoofguard_slow(v, p, router_lla));
    CHECK(dfw_spoofguard_slow(v, p, NULL)); /* no router: link-local */
    dp_packet_free(p);
    /* Anything from the router's address. */
    uint8_t echo[8] = {128};
    len = ip_frame(f, &rtr, &B, 6, IPPROTO_ICMPV6_, echo, 8);
    p = parsed(f, len);
    CHECK(!dfw_spoofguard_slow(v, p, router_lla));
    dp_packet_free(p);
    /* An NA for A's own address: passes whole, not as a first fragment
     * (fragment header: next ICMPv6, offset 0, more fragments). */
    memcpy(nd + 8, A.ip6, 16);
    len = ip_frame(f, &ll, &B, 6, IPPROTO_ICMPV6_, nd, 24);
    p = parsed(f, len);
    CHECK(dfw_spoofguard_slow(v, p, router_lla));
    dp_packet_free(p);
    uint8_t frag[8 + 24] = {IPPROTO_ICMPV6_, 0, 0, 1, 0, 0, 0, 7};
    memcpy(frag + 8, nd, 24);
    len = ip_frame(f, &ll, &B, 6, 44, frag, sizeof frag);
    p = parsed(f, len);
    CHECK(p->pflags & DP_PF_FRAG);
    CHECK(!dfw_spoofguard_slow(v, p, router_lla));
    dp_packet_free(p);
    dfw_vnic_unref(v);
    teardown();
}

TEST(vm_to_vm_gets_out_and_in_checks)
{
    uint8_t f[2048];
    uint32_t len;

    setup();
    len = tcp_frame(f, &A, &B, 4, 40000, 80, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 1);
    CHECK_EQ(rule(10).sessions, 1); /* A's OUT */
    CHECK_EQ(rule(20).sessions, 1); /* B's IN */
    CHECK_EQ(conns_in_zone(ZONE_A), 1);
    CHECK_EQ(conns_in_zone(ZONE_B), 1);
    /* A allows 82 out, B has no rule for it: B's IN check drops it. */
    len = tcp_frame(f, &A, &B, 4, 40001, 82, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 1);
    CHECK_EQ(rule(16).sessions, 1);
    CHECK_EQ(rule(98).packets, 1);
    CHECK_EQ(drops(DP_DROP_FW_DROP), 1);
    /* B -> A reply passes both (B's OUT has no rules? B has no OUT rule,
     * but the reply matches B's connection, then A's). */
    len = tcp_frame(f, &B, &A, 4, 80, 40000, TCP_SYN | TCP_ACK, 5, 2, 0);
    send_vif(PORT_B, f, len);
    CHECK_EQ(sent(PORT_A), 1);
    /* A flooded frame gets the IN check of every receiving vNIC. */
    struct ep bc = {{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, 0x0a0000ff, {0}};
    len = udp_frame(f, &C, &bc, 4, 1, 5000, 10);
    send_vif(PORT_C, f, len);
    CHECK_EQ(sent(PORT_B), 2); /* stateless allow */
    CHECK_EQ(sent(PORT_A), 1); /* A's default drop */
    teardown();
}

TEST(per_rule_counters)
{
    uint8_t f[2048];
    uint32_t len, total = 0;

    setup();
    len = tcp_frame(f, &A, &R, 4, 40000, 80, TCP_SYN, 1000, 0, 0);
    send_vif(PORT_A, f, len);
    total += len;
    len = tcp_frame(f, &R, &A, 4, 80, 40000, TCP_SYN | TCP_ACK, 5, 1001, 0);
    send_tun(f, len);
    total += len;
    for (int i = 0; i < 5; i++) {
        len = tcp_frame(f, &A, &R, 4, 40000, 80, TCP_ACK, 1001, 6, 100);
        send_vif(PORT_A, f, len);
        total += len;
    }
    len = tcp_frame(f, &A, &R, 4, 40001, 80, TCP_SYN, 1000, 0, 0);
    send_vif(PORT_A, f, len);
    total += len;
    struct dfw_rule_counters c = rule(11);
    CHECK_EQ(c.packets, 8);
    CHECK_EQ(c.bytes, total);
    CHECK_EQ(c.sessions, 2);
    /* Counters persist across snapshots. */
    build(vnic(&A, compile(rules_a, ARRAY_SIZE(rules_a), 99), 1, true), NULL,
          sets(false));
    CHECK_EQ(rule(11).packets, 8);
    CHECK_EQ(rule(12345).packets, 0);
    teardown();
}

TEST(vif_without_firewall_pays_nothing)
{
    uint8_t f[2048];
    uint32_t len;

    setup();
    len = tcp_frame(f, &R, &C, 4, 50000, 80, TCP_SYN, 1, 0, 0);
    send_tun(f, len);
    len = tcp_frame(f, &C, &R, 4, 80, 50000, TCP_SYN | TCP_ACK, 1, 2, 0);
    send_vif(PORT_C, f, len);
    CHECK_EQ(sent(PORT_C), 1);
    CHECK_EQ(sent(DP_PORT_GENEVE), 1);
    CHECK(dfw_thread_ct(dp_pipeline_dfw(pl)) == NULL); /* never created */
    struct dfw_stats st;
    dfw_thread_stats(dp_pipeline_dfw(pl), &st);
    CHECK_EQ(st.checked, 0);
    /* After the table exists, traffic to C still creates no entry. */
    len = tcp_frame(f, &A, &R, 4, 40000, 80, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    uint32_t before = ct_stats().n_conns;
    len = tcp_frame(f, &R, &C, 4, 50001, 80, TCP_SYN, 1, 0, 0);
    send_tun(f, len);
    CHECK_EQ(ct_stats().n_conns, before);
    CHECK_EQ(ct_stats().lookups, 1);
    teardown();
}

TEST(address_set_change_changes_verdict_for_new_connections)
{
    uint8_t f[2048];
    uint32_t len;

    setup();
    len = tcp_frame(f, &A, &C, 4, 40000, 443, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_C), 0);
    /* Same classifier object (shared, same version), new sets. */
    struct dfw_vnic *fa = dfw_vnic_ref(tables->vifs[PORT_A].fw);
    struct dfw_vnic *fb = dfw_vnic_ref(tables->vifs[PORT_B].fw);
    build(fa, fb, sets(true));
    CHECK(tables->vifs[PORT_A].fw == fa);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_C), 1);
    CHECK_EQ(rule(17).sessions, 1);
    teardown();
}

TEST(loose_pickup_and_strict_mode)
{
    uint8_t f[2048];
    uint32_t len;
    struct dp_pipeline_options o;

    setup();
    /* Mid-stream ACK with no entry (agent restarted): picked up. */
    len = tcp_frame(f, &A, &R, 4, 40000, 80, TCP_ACK, 5000, 77, 10);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(DP_PORT_GENEVE), 1);
    CHECK_EQ(conns_in_zone(ZONE_A), 1);
    len = tcp_frame(f, &R, &A, 4, 80, 40000, TCP_ACK, 77, 5010, 10);
    send_tun(f, len);
    CHECK_EQ(sent(PORT_A), 1);
    teardown();

    dp_pipeline_options_default(&o);
    o.clock_ms = test_clock;
    o.fw.ct.strict = true;
    setup_opts(&o);
    len = tcp_frame(f, &A, &R, 4, 40000, 80, TCP_ACK, 5000, 77, 10);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(DP_PORT_GENEVE), 0);
    CHECK_EQ(drops(DP_DROP_CT_INVALID), 1);
    teardown();
}

/* The TCP checks of one connection (ct_conn_info.tcp_checks), by source
 * port in zone A; 0 if there is no such connection. */
struct checks_of {
    uint16_t sport;
    uint8_t checks;
};

static bool
checks_cb(const struct ct_conn_info *ci, void *aux)
{
    struct checks_of *c = aux;
    if (ci->zone == ZONE_A && ci->sport == c->sport) {
        c->checks = ci->tcp_checks;
    }
    return true;
}

static uint8_t
tcp_checks_of(uint16_t sport)
{
    struct checks_of c = {sport, 0};
    ct_iterate(dfw_thread_ct(dp_pipeline_dfw(pl)), fake_now, checks_cb, &c);
    return c.checks;
}

/* A new snapshot with the same firewalls and rules versions (no
 * revalidation) and the given TCP mode in the deployment-wide part. */
static void
rebuild_with_tcp_mode(uint8_t mode)
{
    build(vnic(&A, compile(rules_a, ARRAY_SIZE(rules_a), 99), 1, true),
          vnic(&B, compile(rules_b, ARRAY_SIZE(rules_b), 98), 1, false),
          sets_mode(false, mode));
}

/* A -> R:80 handshake from source port 'sport' (A's ISN 1000, R's 5000). */
static void
handshake(uint16_t sport)
{
    uint8_t f[2048];
    uint32_t len;
    len = tcp_frame(f, &A, &R, 4, sport, 80, TCP_SYN, 999, 0, 0);
    send_vif(PORT_A, f, len);
    len = tcp_frame(f, &R, &A, 4, 80, sport, TCP_SYN | TCP_ACK, 4999, 1000, 0);
    send_tun(f, len);
    len = tcp_frame(f, &A, &R, 4, sport, 80, TCP_ACK, 1000, 5000, 0);
    send_vif(PORT_A, f, len);
}

/* A's segment on 'sport' with sequence number 'seq' and 10 bytes: whether
 * it went out to the tunnel. */
static bool
segment_passes(uint16_t sport, uint32_t seq)
{
    uint8_t f[2048];
    uint32_t before = sent(DP_PORT_GENEVE);
    uint32_t len = tcp_frame(f, &A, &R, 4, sport, 80, TCP_ACK, seq, 5000, 10);
    send_vif(PORT_A, f, len);
    return sent(DP_PORT_GENEVE) == before + 1;
}

TEST(tcp_mode_switched_at_run_time)
{
    uint64_t invalid;

    setup();
    /* Loose (the thread's default): a mid-stream pickup and a connection
     * opened by a SYN. */
    CHECK(segment_passes(40000, 5000));
    handshake(40001);
    CHECK_EQ(sent(PORT_A), 1); /* the SYN+ACK */
    CHECK_EQ(tcp_checks_of(40000), CT_TCP_PICKUP);
    CHECK_EQ(tcp_checks_of(40001), CT_TCP_LOOSE);

    /* Strict from now on: no new pickup ... */
    rebuild_with_tcp_mode(DFW_TCP_STRICT);
    invalid = drops(DP_DROP_CT_INVALID);
    CHECK(!segment_passes(40002, 5000));
    CHECK_EQ(drops(DP_DROP_CT_INVALID), invalid + 1);
    CHECK_EQ(tcp_checks_of(40002), 0);
    /* ... but the open connections keep their mode: no window checks. */
    CHECK(segment_passes(40000, 0x80000000u));
    CHECK(segment_passes(40001, 0x90000000u));
    /* A connection opened now is checked against its windows. */
    handshake(40003);
    CHECK_EQ(tcp_checks_of(40003), CT_TCP_STRICT);
    CHECK(segment_passes(40003, 1000));
    CHECK(segment_passes(40003, 1010));
    CHECK(!segment_passes(40003, 1010 + 0x40000000u));
    CHECK_EQ(drops(DP_DROP_CT_INVALID), invalid + 2);

    /* Loose again: pickups work, the strict connection stays strict. */
    rebuild_with_tcp_mode(DFW_TCP_LOOSE);
    CHECK(segment_passes(40004, 7000));
    CHECK_EQ(tcp_checks_of(40004), CT_TCP_PICKUP);
    CHECK(!segment_passes(40003, 1020 + 0x40000000u));
    CHECK(segment_passes(40003, 1020));

    /* Back to the thread's option (loose): the same. */
    rebuild_with_tcp_mode(DFW_TCP_DEFAULT);
    CHECK(segment_passes(40005, 7000));
    teardown();
}

TEST(table_full_drops_new_connections)
{
    uint8_t f[2048];
    uint32_t len;
    struct dp_pipeline_options o;

    dp_pipeline_options_default(&o);
    o.clock_ms = test_clock;
    o.fw.ct.max_entries = 4;
    setup_opts(&o);
    for (int i = 0; i < 6; i++) {
        len = tcp_frame(f, &A, &R, 4, (uint16_t)(40000 + i), 80, TCP_SYN, 1, 0,
                        0);
        send_vif(PORT_A, f, len);
    }
    CHECK_EQ(sent(DP_PORT_GENEVE), 4);
    CHECK_EQ(drops(DP_DROP_CT_FULL), 2);
    /* Expired entries make room again (SYN_SENT times out in 30 s). */
    fake_now += 31000;
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(DP_PORT_GENEVE), 5);
    teardown();
}

TEST(logged_rule_writes_one_line_per_connection)
{
    uint8_t f[2048];
    uint32_t len;
    char path[] = "/tmp/weft-test-dfw-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);

    setup();
    fflush(stderr);
    dup2(fd, 2);
    len = tcp_frame(f, &A, &B, 4, 40000, 80, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    len = tcp_frame(f, &A, &B, 4, 40000, 80, TCP_ACK, 2, 1, 0);
    send_vif(PORT_A, f, len); /* established: no line */
    len = tcp_frame(f, &A, &B, 6, 40001, 80, TCP_SYN, 1, 0, 0);
    send_vif(PORT_A, f, len);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    char buf[4096] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    CHECK(n > 0);
    CHECK(strstr(buf, "dfw: rule=a-web dir=out action=allow vnic=11 proto=6 "
                      "src=10.0.0.1:40000 dst=10.0.0.2:80") != NULL);
    CHECK(strstr(buf, "src=[fd00::1]:40001 dst=[fd00::2]:80") != NULL);
    int lines = 0;
    for (char *p = buf; (p = strstr(p, "dfw: rule=")); p++) {
        lines++;
    }
    CHECK_EQ(lines, 2);
    teardown();
}

/* ---- Through the datapath's packet thread. ---- */

struct dump_acc {
    int n;
    bool found;
};

static bool
dump_cb(void *aux, const struct ct_conn_info *ci)
{
    struct dump_acc *d = aux;
    char line[256];
    d->n++;
    ct_conn_format(ci, line, sizeof line);
    if (ci->zone == ZONE_A && ci->proto == IPPROTO_TCP_ && ci->dport == 80 &&
        ci->sport == 40000 && ci->rule_id == 11 && ci->dir_out &&
        ci->state == CT_ST_SYN_SENT && ci->expires_in_ms > 0) {
        d->found = true;
    }
    return true;
}

/* Takes one connection and asks for no more. */
static bool
dump_one_cb(void *aux, const struct ct_conn_info *ci)
{
    (void)ci;
    ++*(int *)aux;
    return false;
}

TEST(datapath_ct_dump_stats_flush_and_counters)
{
    struct datapath_options opts = {
        .n_buffers = 256, .frame_size = 4096, .ct_max_entries = 10000};
    struct datapath *dp = datapath_create(&opts);
    uint8_t f[2048];
    uint32_t len;
    struct ct_stats st;

    for (int i = 0; i < N_PORTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "d%d", i);
        dp_port_dummy_class.open(name, NULL, &ports[i]);
        dp_dummy_set_peer(ports[i], vtep1); /* tunnels: a known peer */
    }
    /* Before any firewall use: empty. */
    CHECK_EQ(datapath_ct_stats(dp, &st), 0);
    CHECK_EQ(st.n_conns, 0);

    /* Frames wait in A's queue until the snapshot with A is published. */
    for (int i = 0; i < 3; i++) {
        len = tcp_frame(f, &A, &R, 4, (uint16_t)(40000 + i), 80, TCP_SYN, 1, 0,
                        0);
        dp_dummy_inject(ports[PORT_A], f, len);
    }
    len = udp_frame(f, &B, &R, 4, 1, 2, 0); /* B: zone 12, no OUT rule */
    dp_dummy_inject(ports[PORT_B], f, len);
    gen = 0;
    rules_for_a(rules_a, ARRAY_SIZE(rules_a), 1);
    struct dp_tables *mine = tables;
    tables = NULL;
    dp_tables_free(datapath_publish(dp, mine));
    struct dp_counters c;
    for (int i = 0; i < 2000; i++) {
        datapath_get_counters(dp, &c);
        if (c.rx_packets == 4) {
            break;
        }
        usleep(1000);
    }
    CHECK_EQ(c.rx_packets, 4);

    struct dump_acc acc = {0, false};
    CHECK_EQ(datapath_ct_dump(dp, dump_cb, &acc), 0);
    CHECK_EQ(acc.n, 3);
    CHECK(acc.found);
    int taken = 0;
    CHECK_EQ(datapath_ct_dump(dp, dump_one_cb, &taken), 0);
    CHECK_EQ(taken, 1);
    CHECK_EQ(datapath_ct_stats(dp, &st), 0);
    CHECK_EQ(st.n_conns, 3);
    CHECK_EQ(st.inserts, 3);
    struct dfw_rule_counters rc;
    datapath_get_rule_counters(dp, 11, &rc);
    CHECK_EQ(rc.sessions, 3);
    uint32_t ids[2] = {11, 98};
    struct dfw_rule_counters bulk[2];
    datapath_get_rule_counters_bulk(dp, ids, 2, bulk);
    CHECK_EQ(bulk[0].packets, 3);
    CHECK_EQ(bulk[1].packets, 1); /* B's OUT: its default rule */

    /* A UDP flow A -> R:5353 (rule 23), one frame at a time: it opens,
     * takes the fast path and gets an entry, then hits.  The hit reaches
     * the rule's counters when the control side asks for a collect. */
    for (int i = 0; i < 3; i++) {
        len = udp_frame(f, &A, &R, 4, 7000, 5353, 8);
        dp_dummy_inject(ports[PORT_A], f, len);
        CHECK_EQ(datapath_ct_stats(dp, &st), 0); /* wakes the thread */
        for (int w = 0; w < 2000; w++) {
            datapath_get_counters(dp, &c);
            if (c.rx_packets == 5 + (uint64_t)i &&
                c.l2_remote == 4 + (uint64_t)i) {
                break;
            }
            usleep(1000);
        }
    }
    CHECK_EQ(c.flow_cache_hits, 1);
    datapath_get_rule_counters(dp, 23, &rc);
    CHECK_EQ(rc.packets, 2); /* the hit is still on its entry */
    CHECK_EQ(datapath_collect_counts(dp), 0);
    datapath_get_rule_counters(dp, 23, &rc);
    CHECK_EQ(rc.packets, 3);
    CHECK_EQ(rc.sessions, 1);
    size_t flushed = 0;
    CHECK_EQ(datapath_ct_flush_zone(dp, ZONE_B, &flushed), 0);
    CHECK_EQ(flushed, 0);
    CHECK_EQ(datapath_ct_flush_zone(dp, ZONE_A, &flushed), 0);
    CHECK_EQ(flushed, 4);
    acc = (struct dump_acc){0, false};
    CHECK_EQ(datapath_ct_dump(dp, dump_cb, &acc), 0);
    CHECK_EQ(acc.n, 0);
    struct dfw_stats fs;
    datapath_get_fw_stats(dp, &fs);
    CHECK_EQ(fs.sessions, 4);

    datapath_destroy(dp);
    for (int i = 0; i < N_PORTS; i++) {
        dp_port_close(ports[i]);
    }
}

/* Opens TCP connection A:sport -> B:80 with ISN 100 and sends three ACKs
 * on it: the first establishes it, the second takes conntrack's fast path
 * and fills the flow cache, the third is a hit. */
static void
cache_a_to_b(int fam, uint16_t sport)
{
    uint8_t f[2048];

    open_a_to_b(fam, sport, 100);
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t len =
            tcp_frame(f, &A, &B, fam, sport, 80, TCP_ACK, 101 + i, 10, 1);
        send_vif(PORT_A, f, len);
    }
}

/* The flow cache (flowcache.h) in front of the firewall: established
 * packets pass on the remembered connection, and every way a connection
 * stops being fast (a FIN, expiry, a freed and reused entry) sends the
 * packet back through conntrack. */
static void
flow_cache_follows_the_connection(int fam)
{
    uint8_t f[2048];
    uint32_t len;
    const struct dp_counters *c;

    setup();
    c = dp_pipeline_counters(pl);
    open_a_to_b(fam, 40100, 100);
    uint64_t rule_pkts = rule(10).packets;
    for (uint32_t i = 0; i < 5; i++) {
        len =
            tcp_frame(f, &A, &B, fam, 40100, 80, TCP_ACK, 101 + i * 10, 10, 10);
        send_vif(PORT_A, f, len);
    }
    CHECK_EQ(sent(PORT_B), 6);
    /* The first ACK established the connection (a state change: no
     * cache entry), the second took conntrack's fast path and filled
     * the cache, the last three were hits, counted on their rule too. */
    CHECK_EQ(c->flow_cache_hits, 3);
    CHECK_EQ(rule(10).packets, rule_pkts + 5);

    /* A FIN needs conntrack: it is no hit, and afterwards the connection
     * is no longer fast, so the next ACK is none either. */
    len = tcp_frame(f, &A, &B, fam, 40100, 80, TCP_FIN | TCP_ACK, 151, 10, 0);
    send_vif(PORT_A, f, len);
    len = tcp_frame(f, &A, &B, fam, 40100, 80, TCP_ACK, 152, 10, 0);
    send_vif(PORT_A, f, len);
    CHECK_EQ(c->flow_cache_hits, 3);
    CHECK_EQ(sent(PORT_B), 8);

    /* A second connection, cached; then its entry freed under the cache
     * (the zone flushed): the next packet is picked up afresh (loose
     * mode), not passed on the stale reference, and the one after that
     * refills the cache. */
    open_a_to_b(fam, 40200, 500);
    for (uint32_t i = 0; i < 3; i++) {
        len = tcp_frame(f, &A, &B, fam, 40200, 80, TCP_ACK, 501 + i, 10, 1);
        send_vif(PORT_A, f, len);
    }
    CHECK_EQ(c->flow_cache_hits, 4);
    uint64_t inserts = ct_stats().inserts;
    ct_flush_zone(dfw_thread_ct(dp_pipeline_dfw(pl)), ZONE_A);
    CHECK_EQ(conns_in_zone(ZONE_A), 0);
    for (uint32_t i = 0; i < 2; i++) {
        len = tcp_frame(f, &A, &B, fam, 40200, 80, TCP_ACK, 504 + i, 10, 1);
        send_vif(PORT_A, f, len);
    }
    CHECK_EQ(c->flow_cache_hits, 4);
    CHECK_EQ(ct_stats().inserts, inserts + 1);
    CHECK_EQ(conns_in_zone(ZONE_A), 1);
    len = tcp_frame(f, &A, &B, fam, 40200, 80, TCP_ACK, 506, 10, 1);
    send_vif(PORT_A, f, len);
    CHECK_EQ(c->flow_cache_hits, 5);

    /* Expired under the cache: not passed on the cached entry, picked up
     * afresh by A's OUT check (and B's IN check, whose entry expired
     * too). */
    fake_now += 43200ull * 1000 + 1000;
    inserts = ct_stats().inserts;
    len = tcp_frame(f, &A, &B, fam, 40200, 80, TCP_ACK, 507, 10, 1);
    send_vif(PORT_A, f, len);
    CHECK_EQ(c->flow_cache_hits, 5);
    CHECK_EQ(ct_stats().inserts, inserts + 2);
    CHECK_EQ(sent(PORT_B), 16);
    teardown();
}

TEST(flow_cache_follows_the_connection_v4)
{
    flow_cache_follows_the_connection(4);
}

TEST(flow_cache_follows_the_connection_v6)
{
    flow_cache_follows_the_connection(6);
}

/* Zone A's connection from source port 'sport', as a listing shows it
 * (with the counts its flow cache entry has not handed over yet). */
struct find_conn {
    uint16_t sport;
    bool found;
    struct ct_conn_info ci;
};

static bool
find_conn_cb(const struct ct_conn_info *ci, void *aux)
{
    struct find_conn *fc = aux;
    if (ci->zone == ZONE_A && ci->sport == fc->sport) {
        fc->found = true;
        fc->ci = *ci;
    }
    return true;
}

static struct ct_conn_info
conn_a(uint16_t sport)
{
    struct find_conn fc = {sport, false, {0}};
    ct_iterate(dfw_thread_ct(dp_pipeline_dfw(pl)), fake_now, find_conn_cb, &fc);
    CHECK(fc.found);
    return fc.ci;
}

/* A's ACK number 'i' on connection A:sport -> B:80 (ISN 100); adds its
 * length to '*bytes'. */
static void
ack_a_to_b(int fam, uint16_t sport, uint32_t i, uint64_t *bytes)
{
    uint8_t f[2048];
    uint32_t len =
        tcp_frame(f, &A, &B, fam, sport, 80, TCP_ACK, 101 + i * 10, 10, 10);
    send_vif(PORT_A, f, len);
    *bytes += len;
}

/* A flow cache entry counts its connection's packets itself: a listing
 * shows them all at any time, across syncs, a new tables snapshot (the
 * old entry goes stale, then is replaced) and the entry's end when the
 * peer's FIN, seen by A's IN check, takes the connection off the fast
 * path; no packet is counted twice or lost. */
static void
flow_cache_counts_exactly(int fam)
{
    uint8_t f[2048];
    uint64_t bytes = 0;
    uint32_t i = 0;
    const struct dp_counters *c;

    setup();
    c = dp_pipeline_counters(pl);
    uint32_t len = tcp_frame(f, &A, &B, fam, 40300, 80, TCP_SYN, 100, 0, 0);
    bytes += len;
    open_a_to_b(fam, 40300, 100);
    for (; i < 12; i++) { /* establish, fill, 10 hits */
        ack_a_to_b(fam, 40300, i, &bytes);
    }
    CHECK_EQ(c->flow_cache_hits, 10);
    struct ct_conn_info ci = conn_a(40300);
    CHECK_EQ(ci.packets[0], 13);
    CHECK_EQ(ci.bytes[0], bytes);
    CHECK_EQ(ci.packets[1], 1);

    /* Past the sync interval: the next hit hands the counts over. */
    fake_now += 5000;
    ack_a_to_b(fam, 40300, i++, &bytes);
    CHECK_EQ(c->flow_cache_hits, 11);
    ci = conn_a(40300);
    CHECK_EQ(ci.packets[0], 14);
    CHECK_EQ(ci.bytes[0], bytes);
    CHECK(ci.expires_in_ms >= 43200ull * 1000);

    /* New tables, same rules: the entry is stale but still holds a
     * count; the next packet misses, the one after is a hit again. */
    rebuild_with_tcp_mode(DFW_TCP_DEFAULT);
    CHECK_EQ(conn_a(40300).packets[0], 14);
    ack_a_to_b(fam, 40300, i++, &bytes);
    ack_a_to_b(fam, 40300, i++, &bytes);
    CHECK_EQ(c->flow_cache_hits, 12);
    ci = conn_a(40300);
    CHECK_EQ(ci.packets[0], 16);
    CHECK_EQ(ci.bytes[0], bytes);

    /* B's FIN reaches A's connection through A's IN check: A's entry
     * goes (its count kept), and A's next ACK takes the full way. */
    len = tcp_frame(f, &B, &A, fam, 80, 40300, TCP_FIN | TCP_ACK, 10, 251, 0);
    send_vif(PORT_B, f, len);
    CHECK_EQ(conn_a(40300).state, CT_ST_FIN_WAIT);
    ack_a_to_b(fam, 40300, i++, &bytes);
    CHECK_EQ(c->flow_cache_hits, 12);
    ci = conn_a(40300);
    CHECK_EQ(ci.packets[0], 17);
    CHECK_EQ(ci.bytes[0], bytes);
    CHECK_EQ(ci.packets[1], 2);
    CHECK_EQ(sent(PORT_B), 1 + 16); /* the SYN and every ACK */
    teardown();
}

TEST(flow_cache_counts_exactly_v4)
{
    flow_cache_counts_exactly(4);
}

TEST(flow_cache_counts_exactly_v6)
{
    flow_cache_counts_exactly(6);
}

struct order_pkt {
    uint16_t sport;
    uint8_t flags;
    uint32_t seq;
};

/* A batch (at most 8 frames) after an established, cached connection
 * A:40400 -> B:80 leaves in the order it came per connection, and 'hits'
 * of it hit the cache. */
static void
flow_cache_keeps_order(int fam, const struct order_pkt *batch, size_t n,
                       uint64_t hits)
{
    uint8_t f[2048];
    uint32_t len;
    struct dp_packet *p;
    const struct dp_counters *c;

    if (!CHECK(n <= 8)) {
        return;
    }
    setup();
    c = dp_pipeline_counters(pl);
    cache_a_to_b(fam, 40400);
    CHECK_EQ(c->flow_cache_hits, 1);
    while ((p = take_parsed(PORT_B)) != NULL) {
        dp_packet_free(p);
    }

    for (size_t i = 0; i < n; i++) {
        len = tcp_frame(f, &A, &B, fam, batch[i].sport, 80, batch[i].flags,
                        batch[i].seq, 10, 1);
        dp_dummy_inject(ports[PORT_A], f, len);
    }
    run_from(PORT_A);
    CHECK_EQ(c->flow_cache_hits, 1 + hits);
    /* Every frame leaves once, and each connection's in the order they
     * came (a hit may pass another connection's frame that takes the
     * full way). */
    bool out[8] = {false};
    for (size_t i = 0; i < n; i++) {
        p = take_parsed(PORT_B);
        CHECK(p != NULL);
        if (!p) {
            break;
        }
        const uint8_t *tcp = p->data + p->l4_ofs;
        uint16_t sport = ntohs(rd16(tcp));
        uint32_t seq = ntohl(rd32(tcp + 4));
        size_t j = 0;
        while (j < n && (out[j] || batch[j].sport != sport)) {
            j++; /* this connection's first frame not out yet */
        }
        CHECK(j < n && batch[j].seq == seq);
        if (j < n) {
            out[j] = true;
        }
        dp_packet_free(p);
    }
    CHECK(take_parsed(PORT_B) == NULL);
    teardown();
}

/* One batch mixing hits and packets that take the full way (a new
 * connection's SYN, a FIN that ends the cached check, and what follows
 * it). */
static void
flow_cache_keeps_batch_order(int fam)
{
    static const struct order_pkt batch[] = {
        {40400, TCP_ACK, 110},           /* hit */
        {40401, TCP_SYN, 7000},          /* new: the full way */
        {40400, TCP_ACK, 111},           /* hit, behind the SYN */
        {40400, TCP_FIN | TCP_ACK, 112}, /* fails the cached check */
        {40400, TCP_ACK, 113},           /* behind the FIN: full way */
    };

    flow_cache_keeps_order(fam, batch, ARRAY_SIZE(batch), 2);
}

/* A batch of hits only, checked and sent one by one: from the hit that
 * fails the check (a FIN), the rest take the full way behind it. */
static void
flow_cache_keeps_order_of_hits(int fam)
{
    static const struct order_pkt batch[] = {
        {40400, TCP_ACK, 110},           /* hit */
        {40400, TCP_ACK, 111},           /* hit */
        {40400, TCP_FIN | TCP_ACK, 112}, /* fails the cached check */
        {40400, TCP_ACK, 113},           /* behind the FIN: full way */
        {40400, TCP_ACK, 114},           /* behind the FIN: full way */
    };

    flow_cache_keeps_order(fam, batch, ARRAY_SIZE(batch), 2);
}

TEST(flow_cache_keeps_order_of_hits_v4)
{
    flow_cache_keeps_order_of_hits(4);
}

TEST(flow_cache_keeps_order_of_hits_v6)
{
    flow_cache_keeps_order_of_hits(6);
}

TEST(flow_cache_keeps_batch_order_v4)
{
    flow_cache_keeps_batch_order(4);
}

TEST(flow_cache_keeps_batch_order_v6)
{
    flow_cache_keeps_batch_order(6);
}

/* A dropping rule reaches packets the cache would pass: the vNIC's new
 * rules come with new tables, which no cache entry matches. */
static void
flow_cache_never_outlives_a_drop(int fam)
{
    uint8_t f[2048];
    uint32_t len;
    static const struct rdef v2[] = {
        {30, CLS_DIR_OUT, -1, SET_B, 6, 80, 80, CLS_DROP, 0},
    };

    setup();
    cache_a_to_b(fam, 40300);
    CHECK_EQ(dp_pipeline_counters(pl)->flow_cache_hits, 1);
    CHECK_EQ(sent(PORT_B), 4);
    rules_for_a(v2, ARRAY_SIZE(v2), 2);
    len = tcp_frame(f, &A, &B, fam, 40300, 80, TCP_ACK, 104, 10, 1);
    send_vif(PORT_A, f, len);
    CHECK_EQ(sent(PORT_B), 4);
    CHECK_EQ(drops(DP_DROP_FW_DROP), 1);
    CHECK_EQ(dp_pipeline_counters(pl)->flow_cache_hits, 1);
    teardown();
}

TEST(flow_cache_never_outlives_a_drop_v4)
{
    flow_cache_never_outlives_a_drop(4);
}

TEST(flow_cache_never_outlives_a_drop_v6)
{
    flow_cache_never_outlives_a_drop(6);
}

/* A batch of hits on two cached connections of two rules, interleaved:
 * each rule's packet and byte counters get exactly its connection's
 * frames (the cached path counts them on the entries, which hand them to
 * the connection's rule when collected). */
static void
flow_cache_counts_per_rule(int fam)
{
    uint8_t f[2048];

    setup();
    const struct dp_counters *c = dp_pipeline_counters(pl);
    cache_a_to_b(fam, 40500);          /* rule 10: TCP to B:80 */
    for (uint32_t i = 0; i < 3; i++) { /* rule 18: UDP to B:5000 */
        uint32_t len = udp_frame(f, &A, &B, fam, 40600, 5000, 8);
        send_vif(PORT_A, f, len);
    }
    CHECK_EQ(c->flow_cache_hits, 2);
    struct dfw_rule_counters tcp0 = rule(10), udp0 = rule(18);

    /* t t u t u u, each of another size */
    static const bool is_tcp[] = {true, true, false, true, false, false};
    uint64_t tcp_bytes = 0, udp_bytes = 0;
    for (size_t i = 0; i < ARRAY_SIZE(is_tcp); i++) {
        uint32_t payload = 10 + (uint32_t)i * 7, len;
        if (is_tcp[i]) {
            len = tcp_frame(f, &A, &B, fam, 40500, 80, TCP_ACK,
                            104 + (uint32_t)i * 100, 10, payload);
            tcp_bytes += len;
        } else {
            len = udp_frame(f, &A, &B, fam, 40600, 5000, payload);
            udp_bytes += len;
        }
        dp_dummy_inject(ports[PORT_A], f, len);
    }
    run_from(PORT_A);
    CHECK_EQ(c->flow_cache_hits, 2 + ARRAY_SIZE(is_tcp));
    /* Still on the entries (not due: the clock stood still), until the
     * collect that rule() does, as the agent does before it reads. */
    CHECK_EQ(rule_uncollected(10).packets, tcp0.packets);
    CHECK_EQ(rule_uncollected(18).bytes, udp0.bytes);
    CHECK_EQ(rule(10).packets, tcp0.packets + 3);
    CHECK_EQ(rule(10).bytes, tcp0.bytes + tcp_bytes);
    CHECK_EQ(rule(18).packets, udp0.packets + 3);
    CHECK_EQ(rule(18).bytes, udp0.bytes + udp_bytes);
    CHECK_EQ(rule(10).sessions, tcp0.sessions);
    teardown();
}

TEST(flow_cache_counts_per_rule_v4)
{
    flow_cache_counts_per_rule(4);
}

TEST(flow_cache_counts_per_rule_v6)
{
    flow_cache_counts_per_rule(6);
}

/* Thousands of flows, so that some keys sit in their second candidate
 * slot: every one is found again (the pipeline looks there in a second
 * pass), in batches as a VIF delivers them. */
static void
flow_cache_finds_every_flow(int fam)
{
    enum { N = 3000 };
    uint8_t f[2048];

    setup();
    const struct dp_counters *c = dp_pipeline_counters(pl);
    /* Each flow's first packet opens its connection, the second takes
     * the fast path and makes its entry, the third is a hit. */
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < N; i++) {
            uint32_t len =
                udp_frame(f, &A, &B, fam, (uint16_t)(20000 + i), 5000, 8);
            dp_dummy_inject(ports[PORT_A], f, len);
            if (i % 32 == 31) {
                run_from(PORT_A);
            }
        }
        run_from(PORT_A);
        if (round < 2) {
            CHECK_EQ(c->flow_cache_hits, 0);
        }
    }
    /* An insert finding both slots taken tries again only every 8th time
     * (flowcache.c), so a few flows may have no entry yet.  About one key
     * in twenty sits in its second slot: without that lookup, 2860-2889
     * hits. */
    CHECK(c->flow_cache_hits >= N - N / 100); /* seen: 2986-2996 */
    CHECK_EQ(c->l2_local, 3 * N);             /* every frame forwarded */
    teardown();
}

TEST(flow_cache_finds_every_flow_v4)
{
    flow_cache_finds_every_flow(4);
}

TEST(flow_cache_finds_every_flow_v6)
{
    flow_cache_finds_every_flow(6);
}

/* One batch mixing IPv4 and IPv6 hits in which a hit fails the check
 * (a FIN): the hits before it pass on the cache, it and every later frame
 * take the full way, and the rule counts every frame once. */
TEST(flow_cache_mixed_families_counts_once)
{
    static const struct {
        int fam;
        uint16_t sport;
        uint8_t flags;
    } batch[] = {
        {4, 40700, TCP_ACK},           /* hit */
        {6, 40800, TCP_ACK},           /* hit */
        {4, 40700, TCP_ACK},           /* hit */
        {6, 40800, TCP_FIN | TCP_ACK}, /* fails the cached check */
        {4, 40700, TCP_ACK},           /* full way */
        {6, 40800, TCP_ACK},           /* full way */
    };
    uint8_t f[2048];
    uint64_t bytes = 0;
    uint32_t seq[2] = {104, 104};

    setup();
    const struct dp_counters *c = dp_pipeline_counters(pl);
    cache_a_to_b(4, 40700);
    cache_a_to_b(6, 40800);
    CHECK_EQ(c->flow_cache_hits, 2);
    struct dfw_rule_counters r0 = rule(10);
    uint64_t out0 = sent(PORT_B);
    for (size_t i = 0; i < ARRAY_SIZE(batch); i++) {
        uint32_t *s = &seq[batch[i].fam == 6];
        uint32_t len = tcp_frame(f, &A, &B, batch[i].fam, batch[i].sport, 80,
                                 batch[i].flags, *s, 10, 1 + (uint32_t)i);
        *s += 1 + (uint32_t)i;
        bytes += len;
        dp_dummy_inject(ports[PORT_A], f, len);
    }
    run_from(PORT_A);
    CHECK_EQ(c->flow_cache_hits, 2 + 3);
    CHECK_EQ(sent(PORT_B), out0 + ARRAY_SIZE(batch));
    CHECK_EQ(rule(10).packets, r0.packets + ARRAY_SIZE(batch));
    CHECK_EQ(rule(10).bytes, r0.bytes + bytes);
    teardown();
}
