/* In-memory benchmark of the distributed firewall's datapath blocks:
 * connection tracking (conntrack.h) and the rule classifier
 * (classifier.h, addrset.h), on real frames parsed with dp_parse().
 *
 * Prints `name: value unit` lines:
 *   dfw_est_off_mpps        established TCP flows through the in-memory
 *                           L2 pipeline (bench-dp's l2_local path: RX copy,
 *                           parse, port binding, MAC lookup, output), no
 *                           firewall
 *   dfw_est_<N>_rules_mpps  the same with the firewall stage in front:
 *                           dp_parse + batched conntrack lookup (strict
 *                           TCP window checks, counters, expiry refresh)
 *                           + policy-generation check, with N rules
 *                           compiled for the vNIC (N = 10, 1k, 10k); all
 *                           packets hit conntrack, none is classified.
 *                           The pipeline parses again on its own: the
 *                           figure pays for one redundant parse that an
 *                           integrated stage would not.
 *   dfw_est_10k_rules_cost_pct  100 * (1 - 10k-rules rate / off rate)
 *   dfw_fw_stage_ns         the firewall stage alone per packet (parse +
 *                           conntrack), established, 10k rules
 *   dfw_new_conn_10k_rules_per_s  new TCP connections per second on one
 *                           core: copy a SYN with a fresh 5-tuple, parse,
 *                           conntrack miss, classify against 10,000 rules
 *                           (the allowing rule is the last one: the
 *                           classifier scans every word), commit; the
 *                           clock advances 4 ms per 64 connections and
 *                           ct_expire() runs per batch, so the table
 *                           (1M max) stays at a steady ~480k entries
 *   dfw_cls_lookup_10k_ns   classifier lookup alone, same rules
 *   ct_bytes_per_entry      RSS growth / entries after filling a
 *                           1,000,000-entry table with UDP connections
 *   ct_lookup_1m_ns         batched conntrack lookup of random flows in
 *                           that full table (minus the cost of building
 *                           and parsing the frames, measured apart)
 * Each throughput figure is the best of 3 runs. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datapath/classifier.h"
#include "datapath/conntrack.h"
#include "datapath/parse.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "lib/util.h"

#define FRAME_LEN 64
#define N_FLOWS   1000 /* established flows */
#define ZONE      2    /* the client VM's port: its vNIC's firewall */

static const struct eth_addr mac_client = {{0x02, 0, 0, 0, 0, 0x01}};
static const struct eth_addr mac_server = {{0x02, 0, 0, 0, 0, 0x02}};

/* ---- Frames. ---- */

/* client 172.16.x.y:port -> server 10.1.0.(1 + flow % 200):80 */
static void
tcp_frame(uint8_t *f, uint32_t flow, uint8_t flags, bool reply)
{
    uint32_t cl = 0xac100000 | (flow >> 12), sv = 0x0a010001 + flow % 200;
    uint16_t cport = (uint16_t)(1024 + (flow & 0xfff)), sport = 80;
    struct eth_hdr eth = {reply ? mac_client : mac_server,
                          reply ? mac_server : mac_client,
                          htons(ETH_TYPE_IPV4)};
    struct ipv4_hdr ip = {.ver_ihl = 0x45,
                          .tot_len = htons(40), /* + Ethernet padding */
                          .ttl = 64,
                          .proto = IPPROTO_TCP_,
                          .src = htonl(reply ? sv : cl),
                          .dst = htonl(reply ? cl : sv)};
    struct tcp_hdr t = {.src = htons(reply ? sport : cport),
                        .dst = htons(reply ? cport : sport),
                        .seq = htonl(reply ? 5000 : 1000),
                        .ack = htonl(reply ? 1001 : 5001),
                        .off = 5 << 4,
                        .flags = flags,
                        .win = htons(65535)};
    if (flags == TCP_SYN) {
        t.ack = 0;
        t.seq = htonl(1000);
    } else if (!reply) {
        t.seq = htonl(1001);
    }
    memset(f, 0, FRAME_LEN);
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 20);
    memcpy(f + 34, &t, 20);
}

/* ---- Rules: 'n' rules over 1000 groups, the allowing rule last. ---- */

struct policy {
    struct as_db *db;
    struct as_index *ix;
    struct cls *cls;
};

#define SET_CLIENTS 1000
#define SET_SERVERS 1001

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
    struct as_prefix clients = {4, 12, {172, 16, 0, 0}};
    struct as_prefix servers = {4, 16, {10, 1, 0, 0}};
    as_db_set(pol->db, SET_CLIENTS, &clients, 1);
    as_db_set(pol->db, SET_SERVERS, &servers, 1);
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
    r[last] = (struct cls_rule){.id = 777777,
                                .priority = last * 10,
                                .src_sets = &ids[2 * last],
                                .n_src = 1,
                                .dst_sets = &ids[2 * last + 1],
                                .n_dst = 1,
                                .services = &sv[last],
                                .n_services = 1,
                                .dir = CLS_DIR_OUT,
                                .action = CLS_ALLOW};
    struct cls_result deflt = {0, 0, CLS_DROP, 0};
    pol->cls = cls_compile(r, n, deflt);
    free(r);
    free(ids);
    free(sv);
}

static void
policy_free(struct policy *pol)
{
    cls_free(pol->cls);
    as_index_free(pol->ix);
    as_db_destroy(pol->db);
}

/* The firewall stage for a batch from the client's vNIC: returns the
 * packets left (dropped ones freed).  Warmup and measurement share it. */
static int
fw_stage(struct ct_table *ct, const struct policy *pol, uint32_t gen,
         struct dp_packet **pkts, int n, uint64_t now, bool out)
{
    uint32_t zones[DP_BATCH_MAX] = {0};
    uint8_t dirs[DP_BATCH_MAX] = {0};
    struct ct_pkt cps[DP_BATCH_MAX];
    enum ct_verdict v[DP_BATCH_MAX];
    struct ct_conn *conns[DP_BATCH_MAX];
    int kept = 0;

    for (int i = 0; i < n; i++) {
        if (dp_parse(pkts[i]) != DP_DROP_NONE) {
            fprintf(stderr, "bench-dfw: frame does not parse\n");
            exit(1);
        }
        zones[i] = ZONE;
        dirs[i] = out;
    }
    ct_process_batch(ct, pkts, zones, dirs, n, now, cps, v, conns);
    for (int i = 0; i < n; i++) {
        bool pass = false;
        if (v[i] == CT_ESTABLISHED || v[i] == CT_RELATED) {
            pass = ct_conn_gen(conns[i]) == gen; /* else: revalidate */
        } else if (v[i] == CT_NEW) {
            struct cls_key k;
            cls_key_from_packet(pkts[i], out ? CLS_DIR_OUT : CLS_DIR_IN, &k);
            struct cls_result r = cls_lookup(pol->cls, pol->ix, &k);
            pass = r.action == CLS_ALLOW &&
                   ct_commit(ct, &cps[i], now, r.rule_id, gen);
        }
        if (pass) {
            pkts[kept++] = pkts[i];
        } else {
            dp_packet_free(pkts[i]);
        }
    }
    return kept;
}

/* ---- Established flows through the pipeline. ---- */

static double
run_est(int n_rules, uint64_t n_packets, double *stage_ns)
{
    struct dp_port *ports[4];
    struct dp_pool *pool = dp_pool_create(4096, 2048);
    struct dp_pipeline *pl = dp_pipeline_create(pool, NULL);
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    uint8_t *tmpl = xmalloc((size_t)N_FLOWS * FRAME_LEN);
    struct policy pol = {0};
    struct ct_table *ct = NULL;
    uint32_t gen = 1;

    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        dp_port_dummy_class.open(name, NULL, &ports[i]);
        dp_dummy_set_capture(ports[i], false);
    }
    dp_tb_set_ports(b, ports, 4);
    uint32_t seg = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    dp_tb_add_local(b, seg, 2, 1, &mac_client);
    dp_tb_add_local(b, seg, 3, 2, &mac_server);
    struct dp_tables *t = dp_tables_build(b);

    for (uint32_t f = 0; f < N_FLOWS; f++) {
        tcp_frame(tmpl + (size_t)f * FRAME_LEN, f, TCP_ACK | TCP_PSH, false);
    }
    if (n_rules > 0) {
        struct ct_config cfg;
        ct_config_default(&cfg);
        cfg.strict = true;
        ct = ct_create(&cfg);
        policy_build(&pol, (uint32_t)n_rules);
        /* Handshake every flow: SYN (classified, committed), SYN+ACK, ACK. */
        uint64_t now = time_nsec() / 1000000;
        for (uint32_t f = 0; f < N_FLOWS; f++) {
            static const struct {
                uint8_t flags;
                bool reply;
            } steps[] = {
                {TCP_SYN, false}, {TCP_SYN | TCP_ACK, true}, {TCP_ACK, false}};
            for (size_t s = 0; s < ARRAY_SIZE(steps); s++) {
                struct dp_packet *p = dp_pool_get(pool);
                tcp_frame(p->data, f, steps[s].flags, steps[s].reply);
                p->len = FRAME_LEN;
                if (fw_stage(ct, &pol, gen, &p, 1, now, !steps[s].reply)) {
                    dp_packet_free(p);
                } else {
                    fprintf(
                        stderr,
                        "bench-dfw: handshake step %zu of flow %u dropped\n", s,
                        f);
                    exit(1);
                }
            }
        }
    }

    uint32_t next = 0;
    uint64_t done = 0, passed = 0, fw_ns = 0;
    uint64_t start = time_nsec();
    while (done < n_packets) {
        struct dp_packet *pkts[DP_BATCH_MAX];
        int n = DP_BATCH_MAX;
        for (int i = 0; i < n; i++) {
            struct dp_packet *p = dp_pool_get(pool);
            memcpy(p->data, tmpl + (size_t)next * FRAME_LEN, FRAME_LEN);
            p->len = FRAME_LEN;
            pkts[i] = p;
            if (++next == N_FLOWS) {
                next = 0;
            }
        }
        if (ct) {
            uint64_t t0 = (done & 0xfff) ? 0 : time_nsec();
            n = fw_stage(ct, &pol, gen, pkts, n, time_nsec() / 1000000, true);
            if (t0) { /* sample the stage's own cost every 64 batches */
                fw_ns += time_nsec() - t0;
            }
        }
        passed += (uint64_t)n;
        dp_pipeline_run(pl, t, 2, pkts, n);
        dp_pipeline_flush(pl, t);
        done += DP_BATCH_MAX;
    }
    uint64_t elapsed = time_nsec() - start;

    const struct dp_counters *c = dp_pipeline_counters(pl);
    if (passed != done || c->tx_packets != done) {
        fprintf(stderr, "bench-dfw: %llu of %llu packets forwarded\n",
                (unsigned long long)c->tx_packets, (unsigned long long)done);
        exit(1);
    }
    if (ct) {
        struct ct_stats st;
        ct_get_stats(ct, &st);
        if (st.n_conns != N_FLOWS || st.invalid) {
            fprintf(stderr, "bench-dfw: %u connections, %llu invalid\n",
                    st.n_conns, (unsigned long long)st.invalid);
            exit(1);
        }
        uint64_t sampled = (done / DP_BATCH_MAX + 63) / 64 * DP_BATCH_MAX;
        *stage_ns = (double)fw_ns / (double)sampled;
    }
    ct_destroy(ct);
    if (n_rules > 0) {
        policy_free(&pol);
    }
    dp_pipeline_destroy(pl);
    dp_tables_free(t);
    for (int i = 0; i < 4; i++) {
        dp_port_close(ports[i]);
    }
    dp_pool_destroy(pool);
    free(tmpl);
    return (double)done / ((double)elapsed / 1e9) / 1e6;
}

/* ---- New connections. ---- */

static double
run_new(const struct policy *pol, uint64_t n_conns)
{
    struct dp_pool *pool = dp_pool_create(256, 2048);
    struct ct_config cfg;
    uint8_t syn[FRAME_LEN];
    uint64_t now = 1;

    ct_config_default(&cfg);
    cfg.strict = true;
    struct ct_table *ct = ct_create(&cfg);
    tcp_frame(syn, 0, TCP_SYN, false);

    uint64_t start = time_nsec(), done = 0, admitted = 0;
    while (done < n_conns) {
        struct dp_packet *pkts[DP_BATCH_MAX];
        for (int i = 0; i < DP_BATCH_MAX; i++) {
            uint64_t id = done + (uint64_t)i;
            struct dp_packet *p = dp_pool_get(pool);
            memcpy(p->data, syn, FRAME_LEN);
            p->len = FRAME_LEN;
            /* A fresh client address and port for every connection. */
            uint32_t src = htonl(0xac100000 | (uint32_t)(id >> 16));
            uint16_t sport = htons((uint16_t)id);
            memcpy(p->data + 26, &src, 4);
            memcpy(p->data + 34, &sport, 2);
            pkts[i] = p;
        }
        int n = fw_stage(ct, pol, 1, pkts, DP_BATCH_MAX, now, true);
        admitted += (uint64_t)n;
        for (int i = 0; i < n; i++) {
            dp_packet_free(pkts[i]);
        }
        ct_expire(ct, now, 256);
        now += 4;
        done += DP_BATCH_MAX;
    }
    uint64_t elapsed = time_nsec() - start;

    struct ct_stats st;
    ct_get_stats(ct, &st);
    if (admitted != done || st.full) {
        fprintf(stderr, "bench-dfw: %llu of %llu connections admitted\n",
                (unsigned long long)admitted, (unsigned long long)done);
        exit(1);
    }
    fprintf(stderr,
            "bench-dfw: new connections: %llu inserted, %llu expired, "
            "%u in the table at the end\n",
            (unsigned long long)st.inserts, (unsigned long long)st.expired,
            st.n_conns);
    ct_destroy(ct);
    dp_pool_destroy(pool);
    return (double)done / ((double)elapsed / 1e9);
}

static double
run_cls_lookup(const struct policy *pol, uint64_t n)
{
    struct cls_key k = {
        {0, 0xac100001}, {0, 0x0a010005}, 4, CLS_DIR_OUT, 6, 80};
    uint64_t start = time_nsec(), sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        k.src.lo = 0xac100000 | (i & 0xffff);
        sum += cls_lookup(pol->cls, pol->ix, &k).rule_id;
    }
    uint64_t elapsed = time_nsec() - start;
    if (sum != n * 777777) {
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

/* UDP flow 'i' of the 1M-entry table: 10.x.y.z:port -> 10.1.0.1:53. */
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
    struct eth_hdr eth = {mac_server, mac_client, htons(ETH_TYPE_IPV4)};
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
        if (ct_process(ct, pkts[0], ZONE, true, 1, &cp, &c) != CT_NEW ||
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
    uint32_t zones[DP_BATCH_MAX] = {0};
    uint8_t dirs[DP_BATCH_MAX] = {0};
    struct ct_pkt cps[DP_BATCH_MAX];
    enum ct_verdict v[DP_BATCH_MAX];
    struct ct_conn *conns[DP_BATCH_MAX];
    for (int i = 0; i < DP_BATCH_MAX; i++) {
        zones[i] = ZONE;
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

int
main(int argc, char *argv[])
{
    uint64_t n_packets = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    uint64_t n_conns = argc > 2 ? strtoull(argv[2], NULL, 10) : 3000000;
    static const struct {
        const char *name;
        int rules;
    } cfgs[] = {
        {"off", 0}, {"10_rules", 10}, {"1k_rules", 1000}, {"10k_rules", 10000}};
    double mpps[ARRAY_SIZE(cfgs)], stage_ns = 0;
    const char *parts = argc > 3 ? argv[3] : "mem,est,new";

    /* Memory first, in a fresh heap: later frees would let malloc reuse
     * already-resident memory and hide part of the growth. */
    if (strstr(parts, "mem")) {
        double bpe, lookup_ns;
        run_ct_1m(&bpe, &lookup_ns);
        printf("ct_bytes_per_entry: %.1f bytes\n", bpe);
        printf("ct_lookup_1m_ns: %.1f ns\n", lookup_ns);
        fflush(stdout);
    }
    if (!strstr(parts, "est")) {
        goto new_conns;
    }

    for (size_t c = 0; c < ARRAY_SIZE(cfgs); c++) {
        mpps[c] = 0;
        for (int rep = 0; rep < 3; rep++) {
            double ns = 0, m = run_est(cfgs[c].rules, n_packets, &ns);
            if (m > mpps[c]) {
                mpps[c] = m;
                stage_ns = ns;
            }
        }
        printf("dfw_est_%s_mpps: %.2f Mpps\n", cfgs[c].name, mpps[c]);
        fflush(stdout);
    }
    printf("dfw_est_10k_rules_cost_pct: %.1f %%\n",
           100.0 * (1.0 - mpps[3] / mpps[0]));
    printf("dfw_fw_stage_ns: %.1f ns\n", stage_ns);
    fflush(stdout);

new_conns:
    if (!strstr(parts, "new")) {
        return 0;
    }
    struct policy pol;
    policy_build(&pol, 10000);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        best = MAX(best, run_new(&pol, n_conns));
    }
    printf("dfw_new_conn_10k_rules_per_s: %.0f conn/s\n", best);
    double cls_ns = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        cls_ns = MIN(cls_ns, run_cls_lookup(&pol, 1000000));
    }
    printf("dfw_cls_lookup_10k_ns: %.1f ns\n", cls_ns);
    fprintf(stderr, "bench-dfw: 10k-rule classifier: %zu KiB\n",
            cls_memory(pol.cls) / 1024);
    fflush(stdout);
    policy_free(&pol);
    return 0;
}
