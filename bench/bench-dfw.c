/* In-memory benchmark of the distributed firewall in the real pipeline
 * (dp_pipeline_run() with dummy ports, like bench-dp): one client VM on a
 * VIF with SpoofGuard and a stateful firewall, talking to 200 server VMs
 * behind 10 remote VTEPs over GENEVE.  Each "received" frame is copied from
 * a template into a pool buffer, as a real RX path copies from its ring;
 * the dummy tunnel port counts frames.
 *
 * Prints `name: value unit` lines:
 *   dfw_est_off_mpps         established TCP traffic VIF -> tunnel (64-byte
 *                            ACK/PSH segments cycling over N connections,
 *                            default 10,000), firewall off for the VIF
 *   dfw_est_<R>_mpps         the same with the firewall on (SpoofGuard and
 *                            the OUT check: one batched conntrack lookup
 *                            per packet), R = 10_rules, 1k_rules, 10k_rules
 *                            compiled for the vNIC; the allowing rule is the
 *                            last one.  The connections were opened through
 *                            the pipeline (SYN out, SYN+ACK in through the
 *                            IN check, ACK out) before the clock starts.
 *   dfw_est_10k_rules_cost_pct   100 * (1 - 10k-rules rate / off rate);
 *                            also for 10_rules and 1k_rules
 *   dfw_est_10k_rules_extra_ns   the same as ns per packet
 *   dfw_est_1k_flows_off_mpps, dfw_est_1k_flows_10k_rules_mpps,
 *   dfw_est_1k_flows_10k_rules_cost_pct, dfw_est_1k_flows_10k_rules_extra_ns
 *                            IPv4 off and 10,000 rules with 1,000 flows
 *                            instead of N (PARTS est1k): the per-flow
 *                            lines a firewall hit reads then fit in L2
 *   dfw_est6_off_mpps, dfw_est6_10k_rules_mpps, dfw_est6_10k_rules_cost_pct
 *                            the same over IPv6 (78-byte frames, the client
 *                            fd00:16::1, servers fd00:1::1..200), off and
 *                            10,000 rules only (PARTS est6)
 *   dfw_new_conn_10k_rules_per_s  new TCP connections per second on one
 *                            core: a SYN with a fresh 5-tuple from the VIF
 *                            through the pipeline (parse, SpoofGuard,
 *                            conntrack miss, classification against 10,000
 *                            rules with the allowing rule last, commit,
 *                            encap); the pipeline's clock advances 4 ms per
 *                            64 connections so SYN_SENT entries (30 s)
 *                            expire and the table (1M max) stays at ~480k
 *   dfw_cls_lookup_10k_ns    classifier lookup alone, same rules
 *   ct_bytes_per_entry       RSS growth / entries after filling a
 *                            1,000,000-entry table with UDP connections
 *   ct_lookup_1m_ns          batched conntrack lookup of random flows in
 *                            that full table (minus the cost of building and
 *                            parsing the frames, measured apart)
 * Established figures: the four configurations are set up first and then
 * measured in turns, 10 rounds of PACKETS/10 each, best round of each
 * (the machine is shared and noisy); new connections: best of 3 runs.
 *
 * Usage: bench-dfw [PACKETS [CONNS [PARTS [FLOWS]]]]: PARTS is a comma list
 * of mem, est, est1k, est6, new (default all).  For instruction counts under
 * callgrind:
 *   bench-dfw once RULES FLOWS PACKETS [4|6]   one established run, no
 *   repeats (RULES 0: firewall off; 6: IPv6; PACKETS at least 64).  Bad arguments: a usage
 *   message and exit status 2. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datapath/classifier.h"
#include "datapath/conntrack.h"
#include "datapath/dfw.h"
#include "datapath/parse.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "datapath/tunnel.h"
#include "lib/util.h"

#define FRAME_LEN   64
#define FRAME6_LEN  78 /* Ethernet, IPv6, TCP, 4 bytes of payload */
#define N_SERVERS   200
#define N_VTEPS     10
#define CLIENT_IP   0xac100001 /* 172.16.0.1 */
#define CLIENT_PORT 2
#define LPORT       1 /* the client vNIC: its firewall zone */

static const struct eth_addr mac_client = {{0x02, 0, 0, 0, 0, 0x01}};

/* The address family of the established and handshake frames: 4 or 6. */
static int family = 4;

static uint32_t
frame_len(void)
{
    return family == 6 ? FRAME6_LEN : FRAME_LEN;
}

/* fd00:16::1, the client, and fd00:1::(1 + s), server 's'. */
static void
client_ip6(uint8_t a[16])
{
    memset(a, 0, 16);
    a[0] = 0xfd, a[2] = 0x00, a[3] = 0x16, a[15] = 1;
}

static void
server_ip6(uint8_t a[16], uint32_t s)
{
    memset(a, 0, 16);
    a[0] = 0xfd, a[3] = 0x01;
    a[14] = (uint8_t)((1 + s) >> 8), a[15] = (uint8_t)(1 + s);
}

static struct eth_addr
server_mac(uint32_t s)
{
    struct eth_addr m = {{0x02, 0x10, 0, 0, (uint8_t)(s >> 8), (uint8_t)s}};
    return m;
}

/* ---- Frames. ---- */

/* Flow 'flow': 172.16.0.1:(1024 + flow % 64000) <-> server
 * 10.1.0.(1 + s):80 with s = (flow / 64000 + flow) % N_SERVERS (with
 * family 6, fd00:16::1 <-> fd00:1::(1 + s)).  Returns the length. */
static uint32_t
tcp_frame(uint8_t *f, uint32_t flow, uint8_t flags, bool reply)
{
    uint32_t s = (flow / 64000 + flow) % N_SERVERS;
    uint32_t cl = CLIENT_IP, sv = 0x0a010001 + s;
    uint16_t cport = (uint16_t)(1024 + flow % 64000), sport = 80;
    struct eth_addr smac = server_mac(s);
    struct eth_hdr eth = {reply ? mac_client : smac, reply ? smac : mac_client,
                          htons(family == 6 ? ETH_TYPE_IPV6 : ETH_TYPE_IPV4)};
    struct tcp_hdr t = {.src = htons(reply ? sport : cport),
                        .dst = htons(reply ? cport : sport),
                        .seq = htonl(reply ? 5000 : 1001),
                        .ack = htonl(reply ? 1001 : 5001),
                        .off = 5 << 4,
                        .flags = flags,
                        .win = htons(65535)};
    uint32_t l4;

    if (flags == TCP_SYN) {
        t.ack = 0;
        t.seq = htonl(1000);
    }
    memset(f, 0, FRAME6_LEN);
    memcpy(f, &eth, 14);
    if (family == 6) {
        struct ipv6_hdr ip = {.ver_tc_flow = htonl(6u << 28),
                              .payload_len = htons(24),
                              .next = IPPROTO_TCP_,
                              .hop_limit = 64};
        uint8_t c[16], v[16];
        client_ip6(c);
        server_ip6(v, s);
        memcpy(&ip.src, reply ? v : c, 16);
        memcpy(&ip.dst, reply ? c : v, 16);
        memcpy(f + 14, &ip, 40);
        l4 = 54;
    } else {
        struct ipv4_hdr ip = {.ver_ihl = 0x45,
                              .tot_len = htons(40), /* + Ethernet padding */
                              .ttl = 64,
                              .proto = IPPROTO_TCP_,
                              .src = htonl(reply ? sv : cl),
                              .dst = htonl(reply ? cl : sv)};
        memcpy(f + 14, &ip, 20);
        l4 = 34;
    }
    memcpy(f + l4, &t, 20);
    return frame_len();
}

/* The same frame as received from the server's VTEP (GENEVE). */
static uint32_t
tunnel_frame(uint8_t *f, uint32_t flow, uint8_t flags)
{
    struct geneve_hdr gh = {.ver_optlen = 2, .proto = htons(ETH_TYPE_TEB)};
    struct geneve_opt opt = {htons(WEFT_GENEVE_CLASS), WEFT_GENEVE_OPT_SRC_PORT,
                             1};
    uint32_t lport = htonl(100);
    vni_put(gh.vni, 5001);
    memcpy(f, &gh, 8);
    memcpy(f + 8, &opt, 4);
    memcpy(f + 12, &lport, 4);
    return DP_GENEVE_OVERHEAD +
           tcp_frame(f + DP_GENEVE_OVERHEAD, flow, flags, true);
}

/* ---- Rules: 'n' rules over 1000 groups, the allowing rule last. ---- */

struct policy {
    struct as_db *db;
    struct as_index *ix;
    struct cls_rule *rules;
    uint32_t *ids;
    struct cls_service *sv;
    uint32_t n;
};

#define SET_CLIENTS 1000
#define SET_SERVERS 1001
#define ALLOW_ID    777777

static void
policy_build(struct policy *pol, uint32_t n)
{
    pol->db = as_db_create();
    for (uint32_t s = 0; s < 1000; s++) { /* groups of 10 VMs each */
        struct as_prefix m[10];
        for (int i = 0; i < 10; i++) {
            uint32_t a = htonl(0x0a800000 | s << 8 | (uint32_t)i);
            m[i] = (struct as_prefix){4, 32, {0}};
            memcpy(m[i].addr, &a, 4);
        }
        as_db_set(pol->db, s, m, 10);
    }
    struct as_prefix clients[2] = {{4, 12, {172, 16, 0, 0}},
                                   {6, 32, {0xfd, 0, 0, 0x16}}};
    struct as_prefix servers[2] = {{4, 16, {10, 1, 0, 0}},
                                   {6, 32, {0xfd, 0, 0, 0x01}}};
    as_db_set(pol->db, SET_CLIENTS, clients, 2);
    as_db_set(pol->db, SET_SERVERS, servers, 2);
    pol->ix = as_index_build(pol->db);

    struct cls_rule *r = xcalloc(n, sizeof *r);
    uint32_t *ids = xcalloc(2 * (size_t)n, sizeof *ids);
    struct cls_service *sv = xcalloc(n, sizeof *sv);
    for (uint32_t i = 0; i + 1 < n; i++) {
        ids[2 * i] = i % 1000;
        ids[2 * i + 1] = (i * 7 + 3) % 1000;
        sv[i] =
            (struct cls_service){i % 3 ? 6 : 17, (uint16_t)(1000 + i % 5000),
                                 (uint16_t)(1000 + i % 5000 + i % 4)};
        r[i] = (struct cls_rule){.id = i + 1,
                                 .priority = i * 10,
                                 .src_sets = &ids[2 * i],
                                 .n_src = i % 10 ? 1 : 0, /* some "any" */
                                 .dst_sets = &ids[2 * i + 1],
                                 .n_dst = 1,
                                 .services = &sv[i],
                                 .n_services = 1,
                                 .dir = CLS_DIR_BOTH,
                                 .action = i % 2 ? CLS_ALLOW : CLS_DROP};
    }
    uint32_t last = n - 1;
    ids[2 * last] = SET_CLIENTS;
    ids[2 * last + 1] = SET_SERVERS;
    sv[last] = (struct cls_service){6, 80, 80};
    r[last] = (struct cls_rule){.id = ALLOW_ID,
                                .priority = last * 10,
                                .src_sets = &ids[2 * last],
                                .n_src = 1,
                                .dst_sets = &ids[2 * last + 1],
                                .n_dst = 1,
                                .services = &sv[last],
                                .n_services = 1,
                                .dir = CLS_DIR_OUT,
                                .action = CLS_ALLOW};
    pol->rules = r;
    pol->ids = ids;
    pol->sv = sv;
    pol->n = n;
}

static struct cls *
policy_compile(const struct policy *pol)
{
    struct cls_result deflt = {0, 0, CLS_DROP, 0};
    return cls_compile(pol->rules, pol->n, deflt);
}

static void
policy_free(struct policy *pol)
{
    as_index_free(pol->ix);
    as_db_destroy(pol->db);
    free(pol->rules);
    free(pol->ids);
    free(pol->sv);
}

/* ---- The switch: client VIF, servers behind tunnels. ---- */

struct env {
    struct dp_port *ports[4]; /* geneve, vxlan, client VIF, unused */
    struct dp_pool *pool;
    struct dp_pipeline *pl;
    struct dp_tables *t;
    uint64_t now; /* the pipeline's clock, ms */
};

static uint64_t
env_clock(void *env_)
{
    return ((struct env *)env_)->now;
}

/* 'pol' NULL: no firewall on the client VIF. */
static void
env_create(struct env *e, const struct policy *pol)
{
    struct dp_pipeline_options opts;
    struct dp_tables_builder *b = dp_tables_builder_create(1);

    memset(e, 0, sizeof *e);
    e->now = 1;
    e->pool = dp_pool_create(4096, 2048);
    dp_pipeline_options_default(&opts);
    opts.clock_ms = env_clock;
    opts.clock_aux = e;
    e->pl = dp_pipeline_create(e->pool, &opts);
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        dp_port_dummy_class.open(name, NULL, &e->ports[i]);
        dp_dummy_set_capture(e->ports[i], false);
    }
    dp_tb_set_ports(b, e->ports, 4);
    dp_tb_set_underlay(b, 1600, false);
    uint32_t seg = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    dp_tb_add_local(b, seg, CLIENT_PORT, LPORT, &mac_client);
    for (uint32_t s = 0; s < N_SERVERS; s++) {
        uint8_t vtep[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                            0, 0, 0xff, 0xff, 198, 18, 0, 0};
        struct eth_addr m = server_mac(s);
        vtep[15] = (uint8_t)(2 + s % N_VTEPS);
        dp_tb_add_remote(b, seg, &m, vtep, 100 + s);
        if (s < N_VTEPS) {
            dp_tb_add_flood(b, seg, vtep);
        }
    }
    if (pol) {
        uint8_t ips[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}};
        uint32_t a = htonl(CLIENT_IP);
        memcpy(ips[0] + 12, &a, 4);
        client_ip6(ips[1]);
        struct dfw_vnic_config vc = {
            .cls = policy_compile(pol),
            .rules_version = 1,
            .spoofguard = true,
            .mac = mac_client,
            .ips = (const uint8_t(*)[16])ips,
            .n_ips = 2,
        };
        struct dfw_vnic *v = dfw_vnic_create(&vc);
        /* The sets object owns its index: give it a copy. */
        struct dfw_sets_config sc = {as_index_build(pol->db), NULL, 0,
                                     DFW_TCP_DEFAULT};
        struct dfw_sets *s = dfw_sets_create(&sc);
        dp_tb_set_vif_firewall(b, CLIENT_PORT, v);
        dp_tb_set_firewall(b, s);
        dfw_vnic_unref(v);
        dfw_sets_unref(s);
    }
    e->t = dp_tables_build(b);
}

static void
env_destroy(struct env *e)
{
    dp_pipeline_destroy(e->pl);
    dp_tables_free(e->t);
    for (int i = 0; i < 4; i++) {
        dp_port_close(e->ports[i]);
    }
    dp_pool_destroy(e->pool);
}

static uint64_t
tx_packets(const struct env *e)
{
    return dp_pipeline_counters(e->pl)->tx_packets;
}

/* Runs a batch of 'n' frames made by 'make(flow, buf)' from 'port'. */
static void
inject(struct env *e, uint16_t port, uint32_t first, uint32_t n,
       uint32_t (*make)(uint8_t *, uint32_t))
{
    /* Tunnel frames come from a remote endpoint (198.18.0.2). */
    static const uint8_t vtep[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                     0, 0, 0xff, 0xff, 198, 18, 0, 2};
    struct dp_packet *pkts[DP_BATCH_MAX];
    for (uint32_t i = 0; i < n; i++) {
        struct dp_packet *p = dp_pool_get(e->pool);
        p->len = make(p->data, first + i);
        memcpy(p->tun_addr, vtep, 16);
        pkts[i] = p;
    }
    dp_pipeline_run(e->pl, e->t, port, pkts, (int)n);
    dp_pipeline_flush(e->pl, e->t);
}

static uint32_t
make_syn(uint8_t *f, uint32_t flow)
{
    return tcp_frame(f, flow, TCP_SYN, false);
}

static uint32_t
make_synack(uint8_t *f, uint32_t flow)
{
    return tunnel_frame(f, flow, TCP_SYN | TCP_ACK);
}

static uint32_t
make_ack(uint8_t *f, uint32_t flow)
{
    return tcp_frame(f, flow, TCP_ACK, false);
}

/* Opens 'n_flows' connections through the pipeline (three-way
 * handshakes, the SYN+ACK through the tunnel and the IN check). */
static void
handshake(struct env *e, uint32_t n_flows)
{
    uint32_t (*steps[3])(uint8_t *, uint32_t) = {make_syn, make_synack,
                                                 make_ack};
    uint16_t step_port[3] = {CLIENT_PORT, DP_PORT_GENEVE, CLIENT_PORT};

    for (int s = 0; s < 3; s++) {
        uint64_t before = tx_packets(e);
        for (uint32_t f = 0; f < n_flows; f += DP_BATCH_MAX) {
            inject(e, step_port[s], f, MIN(DP_BATCH_MAX, n_flows - f),
                   steps[s]);
        }
        if (tx_packets(e) - before != n_flows) {
            fprintf(stderr, "bench-dfw: handshake step %d: %llu of %u passed\n",
                    s, (unsigned long long)(tx_packets(e) - before), n_flows);
            exit(1);
        }
    }
}

/* Established traffic: an environment with 'n_flows' open connections
 * (firewall on when 'pol' is set) and the frames to replay. */
struct est {
    struct env e;
    const struct policy *pol;
    uint32_t n_flows, next, len;
    uint8_t *tmpl; /* n_flows frames of FRAME6_LEN bytes, 'len' used */
};

static void
est_create(struct est *x, const struct policy *pol, uint32_t n_flows)
{
    env_create(&x->e, pol);
    x->pol = pol;
    x->n_flows = n_flows;
    x->next = 0;
    if (pol) {
        handshake(&x->e, n_flows);
    }
    x->tmpl = xmalloc((size_t)n_flows * FRAME6_LEN);
    for (uint32_t f = 0; f < n_flows; f++) {
        x->len = tcp_frame(x->tmpl + (size_t)f * FRAME6_LEN, f,
                           TCP_ACK | TCP_PSH, false);
    }
}

/* Replays 'n_packets' established segments; returns Mpps. */
static double
est_run(struct est *x, uint64_t n_packets)
{
    struct env *e = &x->e;
    uint64_t before = tx_packets(e);
    uint64_t done = 0, start = time_nsec();

    while (done < n_packets) {
        struct dp_packet *pkts[DP_BATCH_MAX];
        for (int i = 0; i < DP_BATCH_MAX; i++) {
            struct dp_packet *p = dp_pool_get(e->pool);
            /* A constant length, so no `rep movsq` (decision 58); an
             * IPv4 frame's copy takes 14 bytes of slack along. */
            memcpy(p->data, x->tmpl + (size_t)x->next * FRAME6_LEN, FRAME6_LEN);
            p->len = x->len;
            pkts[i] = p;
            if (++x->next == x->n_flows) {
                x->next = 0;
            }
        }
        dp_pipeline_run(e->pl, e->t, CLIENT_PORT, pkts, DP_BATCH_MAX);
        dp_pipeline_flush(e->pl, e->t);
        done += DP_BATCH_MAX;
    }
    uint64_t elapsed = time_nsec() - start;

    if (tx_packets(e) - before != done) {
        fprintf(stderr, "bench-dfw: %llu of %llu packets forwarded\n",
                (unsigned long long)(tx_packets(e) - before),
                (unsigned long long)done);
        exit(1);
    }
    return (double)done / ((double)elapsed / 1e9) / 1e6;
}

static void
est_destroy(struct est *x)
{
    struct ct_table *ct = dfw_thread_ct(dp_pipeline_dfw(x->e.pl));
    if (x->pol) {
        struct ct_stats st;
        struct dfw_stats fs;
        ct_get_stats(ct, &st);
        dfw_thread_stats(dp_pipeline_dfw(x->e.pl), &fs);
        if (st.n_conns != x->n_flows || st.invalid ||
            fs.classified != x->n_flows) {
            fprintf(stderr,
                    "bench-dfw: %u connections, %llu invalid, %llu "
                    "classified\n",
                    st.n_conns, (unsigned long long)st.invalid,
                    (unsigned long long)fs.classified);
            exit(1);
        }
    } else if (ct) {
        fprintf(stderr, "bench-dfw: conntrack used with the firewall off\n");
        exit(1);
    }
    env_destroy(&x->e);
    free(x->tmpl);
}

/* ---- New connections. ---- */

static double
run_new(const struct policy *pol, uint64_t n_conns)
{
    struct env e;
    uint8_t syn[FRAME6_LEN];

    env_create(&e, pol);
    tcp_frame(syn, 0, TCP_SYN, false); /* family 4 here */
    uint64_t before = tx_packets(&e);
    uint64_t start = time_nsec(), done = 0;
    while (done < n_conns) {
        struct dp_packet *pkts[DP_BATCH_MAX];
        for (int i = 0; i < DP_BATCH_MAX; i++) {
            uint32_t id = (uint32_t)(done + (uint64_t)i);
            struct dp_packet *p = dp_pool_get(e.pool);
            /* A fresh tuple: client port and server change. */
            uint32_t s = (id / 64000 + id) % N_SERVERS;
            uint32_t dst = htonl(0x0a010001 + s);
            uint16_t sport = htons((uint16_t)(1024 + id % 64000));
            struct eth_addr m = server_mac(s);
            memcpy(p->data, syn, FRAME_LEN);
            memcpy(p->data, &m, 6);
            memcpy(p->data + 30, &dst, 4);
            memcpy(p->data + 34, &sport, 2);
            p->len = FRAME_LEN;
            pkts[i] = p;
        }
        dp_pipeline_run(e.pl, e.t, CLIENT_PORT, pkts, DP_BATCH_MAX);
        dp_pipeline_flush(e.pl, e.t);
        e.now += 4;
        done += DP_BATCH_MAX;
    }
    uint64_t elapsed = time_nsec() - start;

    struct ct_stats st;
    ct_get_stats(dfw_thread_ct(dp_pipeline_dfw(e.pl)), &st);
    if (tx_packets(&e) - before != done || st.full) {
        fprintf(stderr, "bench-dfw: %llu of %llu connections admitted\n",
                (unsigned long long)(tx_packets(&e) - before),
                (unsigned long long)done);
        exit(1);
    }
    fprintf(stderr,
            "bench-dfw: new connections: %llu inserted, %llu expired, "
            "%u in the table at the end\n",
            (unsigned long long)st.inserts, (unsigned long long)st.expired,
            st.n_conns);
    env_destroy(&e);
    return (double)done / ((double)elapsed / 1e9);
}

static double
run_cls_lookup(const struct policy *pol, const struct cls *cls, uint64_t n)
{
    struct cls_key k = {
        {0, 0xac100001}, {0, 0x0a010005}, 4, CLS_DIR_OUT, 6, 80};
    uint64_t start = time_nsec(), sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        k.src.lo = 0xac100000 | (i & 0xffff);
        sum += cls_lookup(cls, pol->ix, &k).rule_id;
    }
    uint64_t elapsed = time_nsec() - start;
    if (sum != n * ALLOW_ID) {
        fprintf(stderr, "bench-dfw: classifier picked the wrong rule\n");
        exit(1);
    }
    return (double)elapsed / (double)n;
}

/* ---- Conntrack at 1M entries. ---- */

static long
rss_bytes(void)
{
    long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2) {
        if (f) {
            fclose(f);
        }
        return -1;
    }
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* UDP flow 'i' of the 1M-entry table: 11.x.y.z:port -> 10.1.0.1:53. */
static void
udp_flow(struct dp_packet *p, uint32_t i)
{
    uint32_t src = htonl(0x0b000000 | (i >> 4));
    uint16_t sport = htons((uint16_t)(1024 + (i & 15)));
    memcpy(p->data + 26, &src, 4);
    memcpy(p->data + 34, &sport, 2);
    p->len = FRAME_LEN;
}

static void
run_ct_1m(double *bytes_per_entry, double *lookup_ns)
{
    enum { N = 1000000, LOOKUPS = 4000000 };
    struct dp_pool *pool = dp_pool_create(256, 2048);
    struct dp_packet *pkts[DP_BATCH_MAX];
    uint8_t f[FRAME_LEN] = {0};
    struct eth_addr smac = server_mac(0);
    struct eth_hdr eth = {smac, mac_client, htons(ETH_TYPE_IPV4)};
    struct ipv4_hdr ip = {.ver_ihl = 0x45,
                          .tot_len = htons(FRAME_LEN - 14),
                          .ttl = 64,
                          .proto = IPPROTO_UDP_,
                          .dst = htonl(0x0a010001)};
    struct udp_hdr u = {0, htons(53), htons(FRAME_LEN - 34), 0};
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 20);
    memcpy(f + 34, &u, 8);
    for (int i = 0; i < DP_BATCH_MAX; i++) {
        pkts[i] = dp_pool_get(pool);
        memcpy(pkts[i]->data, f, FRAME_LEN);
    }

    struct ct_config cfg;
    ct_config_default(&cfg);
    cfg.max_entries = N;
    long rss0 = rss_bytes();
    struct ct_table *ct = ct_create(&cfg);
    for (uint32_t i = 0; i < N; i++) {
        struct ct_pkt cp;
        struct ct_conn *c;
        udp_flow(pkts[0], i);
        dp_parse(pkts[0]);
        if (ct_process(ct, pkts[0], LPORT, true, 1, &cp, &c) != CT_NEW ||
            !ct_commit(ct, &cp, 1, 1, 1)) {
            fprintf(stderr, "bench-dfw: 1M fill failed at %u\n", i);
            exit(1);
        }
    }
    long rss1 = rss_bytes();
    *bytes_per_entry = (double)(rss1 - rss0) / N;
    fprintf(stderr,
            "bench-dfw: 1M entries: RSS %+.1f MiB (nominal %zu B/entry)\n",
            (double)(rss1 - rss0) / 1048576.0, ct_bytes_per_entry_nominal(ct));

    /* Random flows; the same frame building and parsing with and without
     * the lookup, so the difference is the lookup. */
    uint32_t zones[DP_BATCH_MAX];
    uint8_t dirs[DP_BATCH_MAX];
    struct ct_pkt cps[DP_BATCH_MAX];
    enum ct_verdict v[DP_BATCH_MAX];
    struct ct_conn *conns[DP_BATCH_MAX];
    for (int i = 0; i < DP_BATCH_MAX; i++) {
        zones[i] = LPORT;
        dirs[i] = 1;
    }
    double best[2] = {1e30, 1e30};
    for (int rep = 0; rep < 6; rep++) {
        int with = rep % 2;
        uint64_t x = 88172645463325252ull, hits = 0;
        uint64_t start = time_nsec();
        for (int done = 0; done < LOOKUPS; done += DP_BATCH_MAX) {
            for (int i = 0; i < DP_BATCH_MAX; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                udp_flow(pkts[i], (uint32_t)(x % N));
                dp_parse(pkts[i]);
            }
            if (with) {
                ct_process_batch(ct, pkts, zones, dirs, DP_BATCH_MAX, 2, cps, v,
                                 conns);
                for (int i = 0; i < DP_BATCH_MAX; i++) {
                    hits += v[i] == CT_ESTABLISHED;
                }
            }
        }
        double ns = (double)(time_nsec() - start) / LOOKUPS;
        if (with && hits != (uint64_t)LOOKUPS / DP_BATCH_MAX * DP_BATCH_MAX) {
            fprintf(stderr, "bench-dfw: 1M lookups missed\n");
            exit(1);
        }
        best[with] = MIN(best[with], ns);
    }
    *lookup_ns = best[1] - best[0];
    ct_destroy(ct);
    for (int i = 0; i < DP_BATCH_MAX; i++) {
        dp_packet_free(pkts[i]);
    }
    dp_pool_destroy(pool);
}

/* ---- Established traffic, all configurations in turns. ---- */

struct est_cfg {
    const char *name;
    int rules; /* 0: firewall off */
};

/* Measures 'n' configurations over address family 'fam': all set up
 * first, then measured in turns so that each sees the same share of the
 * machine's noise; best round of each.  Each later one's cost is against
 * the first (off); the last one's also in ns per packet. */
static void
run_est(int fam, const char *prefix, const struct est_cfg *cfgs, size_t n,
        uint64_t n_packets, uint32_t n_flows)
{
    enum { ROUNDS = 10, MAX_CFG = 4 };
    struct policy pols[MAX_CFG];
    struct est xs[MAX_CFG];
    double mpps[MAX_CFG];

    if (n == 0 || n > MAX_CFG) {
        fprintf(stderr, "bench-dfw: %zu configurations (1..%d)\n", n, MAX_CFG);
        exit(1);
    }
    family = fam;
    fprintf(stderr, "bench-dfw: established, IPv%d: %u connections\n", fam,
            n_flows);
    for (size_t c = 0; c < n; c++) {
        if (cfgs[c].rules) {
            policy_build(&pols[c], (uint32_t)cfgs[c].rules);
        }
        est_create(&xs[c], cfgs[c].rules ? &pols[c] : NULL, n_flows);
        est_run(&xs[c], n_packets / ROUNDS); /* warm up */
        mpps[c] = 0;
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t c = 0; c < n; c++) {
            double m = est_run(&xs[c], n_packets / ROUNDS);
            mpps[c] = MAX(mpps[c], m);
        }
    }
    for (size_t c = 0; c < n; c++) {
        est_destroy(&xs[c]);
        if (cfgs[c].rules) {
            policy_free(&pols[c]);
        }
        printf("%s_%s_mpps: %.2f Mpps\n", prefix, cfgs[c].name, mpps[c]);
    }
    for (size_t c = 1; c < n; c++) {
        printf("%s_%s_cost_pct: %.1f %%\n", prefix, cfgs[c].name,
               100.0 * (1.0 - mpps[c] / mpps[0]));
    }
    size_t last = n - 1;
    if (fam == 4) {
        printf("%s_%s_extra_ns: %.1f ns\n", prefix, cfgs[last].name,
               1e3 / mpps[last] - 1e3 / mpps[0]);
    }
    fflush(stdout);
    family = 4;
}

/* Whether comma list 'parts' names 'part'. */
static bool
has_part(const char *parts, const char *part)
{
    size_t n = strlen(part);
    for (const char *p = parts; p; p = strchr(p, ',')) {
        p += *p == ',';
        if (!strncmp(p, part, n) && (p[n] == ',' || !p[n])) {
            return true;
        }
    }
    return false;
}

/* Whether every item of comma list 'parts' is a part bench-dfw has. */
static bool
parts_known(const char *parts)
{
    static const char *const known[] = {"mem", "est", "est1k", "est6", "new"};
    const char *p = parts;

    for (;;) {
        size_t n = strcspn(p, ",");
        bool ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
            ok |= n == strlen(known[i]) && !strncmp(p, known[i], n);
        }
        if (!ok) {
            return false;
        }
        if (!p[n]) {
            return true;
        }
        p += n + 1;
    }
}

/* str_to_u64() within [min, max]. */
static bool
arg_in(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
    return str_to_u64(s, max, v) && *v >= min;
}

#define MAX_FLOWS 1000000 /* the conntrack table's default size */

static int
usage(void)
{
    fprintf(
        stderr,
        "usage: bench-dfw [PACKETS [CONNS [PARTS [FLOWS]]]]\n"
        "       bench-dfw once RULES FLOWS PACKETS [4|6]\n"
        "  PACKETS  established packets per configuration, at least %d\n"
        "           (default 10000000)\n"
        "  CONNS    new connections per run, at least 1 (default 3000000)\n"
        "  PARTS    comma list of mem, est, est1k, est6, new (default all)\n"
        "  FLOWS    established connections, 1 to %d (default 10000)\n"
        "  RULES    0 (firewall off) to 100000; with once, PACKETS is\n"
        "           at least %d\n",
        10 * DP_BATCH_MAX, MAX_FLOWS, DP_BATCH_MAX);
    return 2;
}

int
main(int argc, char *argv[])
{
    uint64_t rules, flows, n;

    if (argc > 1 && !strcmp(argv[1], "once")) {
        if ((argc != 5 && argc != 6) || !arg_in(argv[2], 0, 100000, &rules) ||
            !arg_in(argv[3], 1, MAX_FLOWS, &flows) ||
            !arg_in(argv[4], DP_BATCH_MAX, UINT64_MAX, &n) ||
            (argc == 6 && strcmp(argv[5], "4") && strcmp(argv[5], "6"))) {
            return usage();
        }
        struct policy pol;
        struct est x;
        family = argc == 6 && !strcmp(argv[5], "6") ? 6 : 4;
        if (rules > 0) {
            policy_build(&pol, (uint32_t)rules);
        }
        est_create(&x, rules > 0 ? &pol : NULL, (uint32_t)flows);
        printf("dfw_est_once_mpps: %.2f Mpps\n", est_run(&x, n));
        est_destroy(&x);
        if (rules > 0) {
            policy_free(&pol);
        }
        return 0;
    }

    uint64_t n_packets = 10000000, n_conns = 3000000, n_flows64 = 10000;
    const char *parts = argc > 3 ? argv[3] : "mem,est,est6,new";
    if (argc > 5 ||
        (argc > 1 &&
         !arg_in(argv[1], 10 * DP_BATCH_MAX, UINT64_MAX, &n_packets)) ||
        (argc > 2 && !arg_in(argv[2], 1, UINT64_MAX, &n_conns)) ||
        !parts_known(parts) ||
        (argc > 4 && !arg_in(argv[4], 1, MAX_FLOWS, &n_flows64))) {
        return usage();
    }
    uint32_t n_flows = (uint32_t)n_flows64;
    static const struct est_cfg cfgs[] = {
        {"off", 0}, {"10_rules", 10}, {"1k_rules", 1000}, {"10k_rules", 10000}};

    /* Memory first, in a fresh heap: later frees would let malloc reuse
     * already-resident memory and hide part of the growth. */
    if (has_part(parts, "mem")) {
        double bpe, lookup_ns;
        run_ct_1m(&bpe, &lookup_ns);
        printf("ct_bytes_per_entry: %.1f bytes\n", bpe);
        printf("ct_lookup_1m_ns: %.1f ns\n", lookup_ns);
        fflush(stdout);
    }
    if (has_part(parts, "est")) {
        run_est(4, "dfw_est", cfgs, ARRAY_SIZE(cfgs), n_packets, n_flows);
    }
    if (has_part(parts, "est1k")) {
        /* The same at 1,000 flows, where the per-flow lines fit in L2. */
        const struct est_cfg cfgs1k[] = {cfgs[0], cfgs[3]};
        run_est(4, "dfw_est_1k_flows", cfgs1k, ARRAY_SIZE(cfgs1k), n_packets,
                1000);
    }
    if (has_part(parts, "est6")) {
        const struct est_cfg cfgs6[] = {cfgs[0], cfgs[3]};
        run_est(6, "dfw_est6", cfgs6, ARRAY_SIZE(cfgs6), n_packets, n_flows);
    }
    if (has_part(parts, "new")) {
        struct policy pol;
        policy_build(&pol, 10000);
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            double r = run_new(&pol, n_conns);
            best = MAX(best, r);
        }
        printf("dfw_new_conn_10k_rules_per_s: %.0f conn/s\n", best);
        struct cls *cls = policy_compile(&pol);
        double cls_ns = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double ns = run_cls_lookup(&pol, cls, 1000000);
            cls_ns = MIN(cls_ns, ns);
        }
        printf("dfw_cls_lookup_10k_ns: %.1f ns\n", cls_ns);
        fprintf(stderr, "bench-dfw: 10k-rule classifier: %zu KiB\n",
                cls_memory(cls) / 1024);
        fflush(stdout);
        cls_free(cls);
        policy_free(&pol);
    }
    return 0;
}
