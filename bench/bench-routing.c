/* In-memory benchmark of distributed routing: the routed pipeline, and the
 * building blocks: longest-prefix match (lpm.h) and the DHCPv4 server
 * logic (dhcp.h).
 *
 * Prints `name: value unit` lines:
 *   dp_routing_l2_encap_1k_mpps: the L2 overlay rate, measured as
 *       bench-dp measures it (64-byte UDP frames copied from 1,000 flow
 *       templates into pool buffers, batches of 64 through
 *       dp_pipeline_run() from a VIF to 1,000 MACs behind one remote
 *       endpoint, output ports counting only; best of 7 runs of 2M
 *       packets), in the same run as the routed figures.
 *   dp_routed_<n>_routes_mpps for n in 10, 10k, 100k: the same harness,
 *       segment A -> router -> segment B on another host (GENEVE): frames
 *       from A to the router MAC, 1,000 flows with destinations inside
 *       random routes, n random /16../28 static routes (plus the connected
 *       ones) via 1,000 next hops in B, each a remote neighbour.  Routed
 *       and L2 runs alternate, so a noisy neighbour hits both alike.
 *   dp_routed_100k_routes_cost_pct: (encap - routed 100k) / encap * 100.
 *   lpm_v4_<n>_routes_ns, lpm_v6_<n>_routes_ns  for n in 10, 10k, 100k:
 *       mean ns per lookup over 4M lookups (best of 3) of addresses drawn
 *       from a 1M-entry array: 3/4 inside random routes (random host
 *       bits), 1/4 uniformly random.  Lookups are independent, so the CPU
 *       overlaps their cache misses, as it would over a packet batch.
 *   lpm_v4_100k_build_ms, lpm_v4_100k_bytes (and the v6 equivalents):
 *       time to build a 100k-route table and the memory it holds.
 *   dhcp_leases_per_s: complete DISCOVER -> OFFER -> REQUEST -> ACK
 *       exchanges per second for 200,000 distinct MACs on one server,
 *       including parsing, lease bookkeeping and building both reply
 *       frames (best of 3, fresh server each time).
 * Route sets (LPM): the IPv4 set has a default route, 5% host routes and
 * the rest /8../24 weighted towards /24 and /16 (like a large tenant or an
 * Internet table); IPv6 has a default, /32 /48 /56 /64 and 5% /128.
 * Usage: bench-routing [LOOKUPS [PACKETS]]; BENCH_ROUTING_ONLY=encap|10|10k|100k
 * in the environment measures that pipeline setup alone (for profiling). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/csum.h"
#include "datapath/dhcp.h"
#include "datapath/lpm.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "lib/util.h"

#define N_ADDRS (1u << 20)

static uint64_t rng_state = 0x0123456789abcdefull;

static uint64_t
rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t
m4(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static uint8_t
len4(size_t i)
{
    static const uint8_t lens[] = {8,  12, 16, 16, 16, 18, 20, 20, 22,
                                   22, 23, 24, 24, 24, 24, 24, 24, 24};
    uint64_t x = rnd();

    if (i == 0) {
        return 0;
    }
    return x % 20 == 0 ? 32 : lens[(x >> 8) % sizeof lens];
}

static uint8_t
len6(size_t i)
{
    static const uint8_t lens[] = {32, 48, 48, 56, 64, 64, 64, 64};
    uint64_t x = rnd();

    if (i == 0) {
        return 0;
    }
    return x % 20 == 0 ? 128 : lens[(x >> 8) % sizeof lens];
}

static struct lpm4_route *
routes4(size_t n, size_t *n_out)
{
    struct lpm4_route *r = xmalloc(n * sizeof *r);
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        r[k].len = len4(i);
        r[k].prefix = (uint32_t)rnd() & m4(r[k].len);
        r[k].value = (uint32_t)(rnd() % 64);
        k++;
    }
    *n_out = k; /* duplicates are dropped by unique4() */
    return r;
}

static int
cmp4(const void *a_, const void *b_)
{
    const struct lpm4_route *a = a_, *b = b_;
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    return a->prefix < b->prefix ? -1 : a->prefix > b->prefix;
}

static size_t
unique4(struct lpm4_route *r, size_t n)
{
    size_t k = 0;
    qsort(r, n, sizeof *r, cmp4);
    for (size_t i = 0; i < n; i++) {
        if (!k || cmp4(&r[i], &r[k - 1])) {
            r[k++] = r[i];
        }
    }
    return k;
}

static int
cmp6(const void *a_, const void *b_)
{
    const struct lpm6_route *a = a_, *b = b_;
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    return memcmp(a->prefix, b->prefix, 16);
}

static void
mask6(uint8_t p[16], uint8_t len)
{
    for (int i = 0; i < 16; i++) {
        int bits = len - 8 * i;
        p[i] &= bits >= 8   ? 0xff
                : bits <= 0 ? 0
                            : (uint8_t)(0xff << (8 - bits));
    }
}

static struct lpm6_route *
routes6(size_t n, size_t *n_out)
{
    struct lpm6_route *r = xmalloc(n * sizeof *r);
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        uint64_t a = 0x2001000000000000ull | (rnd() >> 16), b = rnd();
        for (int j = 0; j < 8; j++) {
            r[i].prefix[j] = (uint8_t)(a >> (56 - 8 * j));
            r[i].prefix[8 + j] = (uint8_t)(b >> (56 - 8 * j));
        }
        r[i].len = len6(i);
        mask6(r[i].prefix, r[i].len);
        r[i].value = (uint32_t)(rnd() % 64);
    }
    qsort(r, n, sizeof *r, cmp6);
    for (size_t i = 0; i < n; i++) {
        if (!k || cmp6(&r[i], &r[k - 1])) {
            r[k++] = r[i];
        }
    }
    *n_out = k;
    return r;
}

static double
now_ms(void)
{
    return (double)time_nsec() / 1e6;
}

static void
bench_v4(size_t n, const char *name, uint64_t lookups)
{
    size_t nr;
    struct lpm4_route *r = routes4(n, &nr);
    uint32_t *addrs = xmalloc(N_ADDRS * sizeof *addrs);
    struct lpm4 *t;
    double t0, build_ms, best = 1e30;
    uint32_t sink = 0;

    nr = unique4(r, nr);
    for (size_t i = nr; i > 1; i--) { /* builder sees them unsorted */
        size_t j = rnd() % i;
        struct lpm4_route x = r[i - 1];
        r[i - 1] = r[j];
        r[j] = x;
    }
    t0 = now_ms();
    if (lpm4_build(r, nr, &t)) {
        fprintf(stderr, "bench-routing: lpm4_build failed\n");
        exit(1);
    }
    build_ms = now_ms() - t0;
    for (uint32_t i = 0; i < N_ADDRS; i++) {
        const struct lpm4_route *x = &r[rnd() % nr];
        addrs[i] = i % 4 == 3 ? (uint32_t)rnd()
                              : x->prefix | ((uint32_t)rnd() & ~m4(x->len));
    }
    for (int rep = 0; rep < 3; rep++) {
        uint64_t start = time_nsec();
        for (uint64_t i = 0; i < lookups; i++) {
            sink += lpm4_lookup(t, addrs[i & (N_ADDRS - 1)]);
        }
        double ns = (double)(time_nsec() - start) / (double)lookups;
        best = ns < best ? ns : best;
    }
    printf("lpm_v4_%s_routes_ns: %.1f ns\n", name, best);
    if (n == 100000) {
        printf("lpm_v4_100k_build_ms: %.1f ms\n", build_ms);
        printf("lpm_v4_100k_bytes: %zu bytes\n", lpm4_bytes(t));
    }
    fflush(stdout);
    if (sink == 42) {
        fprintf(stderr, " "); /* keeps the lookups from being elided */
    }
    lpm4_free(t);
    free(addrs);
    free(r);
}

static void
bench_v6(size_t n, const char *name, uint64_t lookups)
{
    size_t nr;
    struct lpm6_route *r = routes6(n, &nr);
    uint8_t(*addrs)[16] = xmalloc(N_ADDRS * sizeof *addrs);
    struct lpm6 *t;
    double t0, build_ms, best = 1e30;
    uint32_t sink = 0;

    for (size_t i = nr; i > 1; i--) {
        size_t j = rnd() % i;
        struct lpm6_route x = r[i - 1];
        r[i - 1] = r[j];
        r[j] = x;
    }
    t0 = now_ms();
    if (lpm6_build(r, nr, &t)) {
        fprintf(stderr, "bench-routing: lpm6_build failed\n");
        exit(1);
    }
    build_ms = now_ms() - t0;
    for (uint32_t i = 0; i < N_ADDRS; i++) {
        const struct lpm6_route *x = &r[rnd() % nr];
        for (int j = 0; j < 16; j++) {
            int bits = x->len - 8 * j;
            uint8_t keep = bits >= 8   ? 0xff
                           : bits <= 0 ? 0
                                       : (uint8_t)(0xff << (8 - bits));
            uint8_t rb = (uint8_t)rnd();
            addrs[i][j] = i % 4 == 3
                              ? rb
                              : (uint8_t)((x->prefix[j] & keep) | (rb & ~keep));
        }
    }
    for (int rep = 0; rep < 3; rep++) {
        uint64_t start = time_nsec();
        for (uint64_t i = 0; i < lookups; i++) {
            sink += lpm6_lookup(t, addrs[i & (N_ADDRS - 1)]);
        }
        double ns = (double)(time_nsec() - start) / (double)lookups;
        best = ns < best ? ns : best;
    }
    printf("lpm_v6_%s_routes_ns: %.1f ns\n", name, best);
    if (n == 100000) {
        printf("lpm_v6_100k_build_ms: %.1f ms\n", build_ms);
        printf("lpm_v6_100k_bytes: %zu bytes\n", lpm6_bytes(t));
    }
    fflush(stdout);
    if (sink == 42) {
        fprintf(stderr, " ");
    }
    lpm6_free(t);
    free(addrs);
    free(r);
}

/* ---- DHCP ---- */

#define N_CLIENTS 200000

static size_t
client_msg(uint8_t *b, uint8_t type, uint32_t n, uint32_t req_ip)
{
    static const uint8_t prl[] = {55, 6, 1, 3, 6, 15, 26, 121};
    size_t len = 240;

    memset(b, 0, 240);
    b[0] = 1, b[1] = 1, b[2] = 6;
    memcpy(b + 4, &n, 4);
    b[28] = 0x02, b[29] = 0x01;
    b[30] = (uint8_t)(n >> 24), b[31] = (uint8_t)(n >> 16);
    b[32] = (uint8_t)(n >> 8), b[33] = (uint8_t)n;
    memcpy(b + 236, "\x63\x82\x53\x63", 4);
    b[len++] = 53, b[len++] = 1, b[len++] = type;
    memcpy(b + len, prl, sizeof prl);
    len += sizeof prl;
    if (type == DHCP_REQUEST) {
        uint32_t be = htonl(req_ip), sid = htonl(0x0a000001);
        b[len++] = 50, b[len++] = 4;
        memcpy(b + len, &be, 4);
        len += 4;
        b[len++] = 54, b[len++] = 4;
        memcpy(b + len, &sid, 4);
        len += 4;
    }
    b[len++] = 255;
    return len;
}

static void
bench_dhcp(void)
{
    static const struct dhcp_range pool[] = {{0x0a000010, 0x0a0fff00}};
    static const uint32_t dns[] = {0x0a000002, 0x08080808};
    static const struct dhcp_route routes[] = {{0xac100000, 12, 0x0a0000fe}};
    struct dhcp_config c = {
        .server_ip = 0x0a000001,
        .server_mac = {{0x02, 0xee, 0, 0, 0, 1}},
        .subnet = 0x0a000000,
        .prefix_len = 12,
        .pools = pool,
        .n_pools = 1,
        .lease_time = 86400,
        .router = 0x0a000001,
        .dns = dns,
        .n_dns = 2,
        .domain = "tenant.example",
        .mtu = 1450,
        .routes = routes,
        .n_routes = 1,
    };
    double best = 0;

    for (int rep = 0; rep < 3; rep++) {
        struct dhcp_server *s;
        struct dhcp_reply r;
        uint8_t msg[400], frame[DHCP_FRAME_MAX];
        size_t sink = 0;

        if (dhcp_server_create(&c, N_CLIENTS + 16, &s)) {
            fprintf(stderr, "bench-routing: bad DHCP config\n");
            exit(1);
        }
        uint64_t start = time_nsec();
        for (uint32_t n = 0; n < N_CLIENTS; n++) {
            struct eth_addr mac = {{0x02, 0x01, (uint8_t)(n >> 24),
                                    (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                                    (uint8_t)n}};
            size_t len = client_msg(msg, DHCP_DISCOVER, n, 0);
            uint32_t ip;

            if (dhcp_server_input(s, msg, len, &mac, 1000, &r) ||
                r.type != DHCP_OFFER) {
                fprintf(stderr, "bench-routing: no OFFER\n");
                exit(1);
            }
            sink += dhcp_reply_frame(&r, frame, sizeof frame);
            memcpy(&ip, r.data + 16, 4);
            len = client_msg(msg, DHCP_REQUEST, n, ntohl(ip));
            if (dhcp_server_input(s, msg, len, &mac, 1000, &r) ||
                r.type != DHCP_ACK) {
                fprintf(stderr, "bench-routing: no ACK\n");
                exit(1);
            }
            sink += dhcp_reply_frame(&r, frame, sizeof frame);
        }
        double secs = (double)(time_nsec() - start) / 1e9;
        double rate = N_CLIENTS / secs;
        best = rate > best ? rate : best;
        if (dhcp_leases_count(dhcp_server_leases(s)) != N_CLIENTS || !sink) {
            fprintf(stderr, "bench-routing: lease count wrong\n");
            exit(1);
        }
        dhcp_server_destroy(s);
    }
    printf("dhcp_leases_per_s: %.0f leases/s\n", best);
    fflush(stdout);
}

/* ---- The routed pipeline. ---- */

#define RT_FRAME_LEN 64
#define RT_FLOWS     1000
#define RT_NEIGHS    1000

static struct eth_addr
rt_mac(uint32_t n, uint8_t kind)
{
    struct eth_addr m = {{0x02, kind, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                          (uint8_t)(n >> 8), (uint8_t)n}};
    return m;
}

static void
rt_mapped(uint32_t v4, uint8_t ip[16])
{
    uint32_t be = htonl(v4);
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    memcpy(ip + 12, &be, 4);
}

static void
rt_frame(uint8_t *f, const struct eth_addr *dst, const struct eth_addr *src,
         uint32_t daddr, uint32_t flow)
{
    struct eth_hdr eth = {*dst, *src, htons(ETH_TYPE_IPV4)};
    struct ipv4_hdr ip = {
        .ver_ihl = 0x45,
        .tot_len = htons(RT_FRAME_LEN - 14),
        .frag_off = htons(IPV4_DF),
        .ttl = 64,
        .proto = IPPROTO_UDP_,
        .src = htonl(0x0a000000 | (flow & 0xffff) | 0x100),
        .dst = htonl(daddr),
    };
    struct udp_hdr udp = {htons((uint16_t)flow), htons(9),
                          htons(RT_FRAME_LEN - 34), 0};
    ip.csum = csum_finish(csum_partial(&ip, sizeof ip, 0));
    memset(f, 0, RT_FRAME_LEN);
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 20);
    memcpy(f + 34, &udp, 8);
}

/* A pipeline setup to measure: tables, ports and 1,000 flow templates. */
struct rt_setup {
    struct dp_port *ports[4];
    struct dp_tables *t;
    uint8_t tmpl[RT_FLOWS][RT_FRAME_LEN];
};

static void
rt_ports(struct rt_setup *s, struct dp_tables_builder *b)
{
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "rt%d", i);
        dp_port_dummy_class.open(name, NULL, &s->ports[i]);
        dp_dummy_set_capture(s->ports[i], false);
    }
    dp_tb_set_ports(b, s->ports, 4);
}

static const uint8_t rt_vtep[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                    0, 0, 0xff, 0xff, 198, 18, 0, 2};

/* The L2 overlay as bench-dp's encap path: 1,000 remote MACs. */
static void
rt_setup_encap(struct rt_setup *s)
{
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    struct eth_addr src = rt_mac(0, 1);

    rt_ports(s, b);
    uint32_t seg = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    dp_tb_add_local(b, seg, 2, 1, &src);
    for (uint32_t m = 0; m < RT_FLOWS; m++) {
        struct eth_addr mac = rt_mac(m, 2);
        dp_tb_add_remote(b, seg, &mac, rt_vtep, m + 10);
    }
    dp_tb_add_flood(b, seg, rt_vtep);
    s->t = dp_tables_build(b);
    for (uint32_t f = 0; f < RT_FLOWS; f++) {
        struct eth_addr dst = rt_mac(f, 2);
        rt_frame(s->tmpl[f], &dst, &src, 0xc6140001, f);
    }
}

/* Segment A (10.0/16, VIF port 2) -> router -> segment B (10.1/16, all
 * remote): 'n_routes' random /16../28 routes via 1,000 next hops. */
static void
rt_setup_routed(struct rt_setup *s, uint32_t n_routes)
{
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    struct eth_addr src = rt_mac(0, 1), rmac = {{0x02, 0xaa, 0, 0, 0, 1}};
    uint32_t *pfx = xmalloc(n_routes * sizeof *pfx);
    uint8_t *len = xmalloc(n_routes);
    uint8_t ip[16], nh[16];

    rt_ports(s, b);
    uint32_t sa = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    uint32_t sb = dp_tb_add_segment(b, 5002, DP_ENCAP_GENEVE);
    uint32_t r = dp_tb_add_router(b);
    dp_tb_set_segment_router(b, sa, r, &rmac);
    dp_tb_set_segment_router(b, sb, r, &rmac);
    rt_mapped(0x0a000001, ip);
    dp_tb_add_segment_gateway(b, sa, ip, 16);
    rt_mapped(0x0a010001, ip);
    dp_tb_add_segment_gateway(b, sb, ip, 16);
    dp_tb_add_local(b, sa, 2, 1, &src);
    rt_mapped(0x0a000100, ip);
    dp_tb_add_neigh(b, sa, ip, &src);
    for (uint32_t m = 0; m < RT_NEIGHS; m++) {
        struct eth_addr mac = rt_mac(m, 2);
        dp_tb_add_remote(b, sb, &mac, rt_vtep, m + 10);
        rt_mapped(0x0a010100 + m, ip);
        dp_tb_add_neigh(b, sb, ip, &mac);
    }
    dp_tb_add_flood(b, sb, rt_vtep);
    for (uint32_t i = 0; i < n_routes; i++) {
        len[i] = (uint8_t)(16 + rnd() % 13);
        do { /* outside 10/8, below multicast */
            pfx[i] = (uint32_t)rnd() & m4(len[i]);
        } while ((pfx[i] >> 24) < 11 || (pfx[i] >> 24) > 223);
        rt_mapped(pfx[i], ip);
        rt_mapped(0x0a010100 + (uint32_t)(rnd() % RT_NEIGHS), nh);
        dp_tb_add_route(b, r, ip, len[i], (const uint8_t(*)[16])nh, 1, 1);
    }
    s->t = dp_tables_build(b);
    for (uint32_t f = 0; f < RT_FLOWS; f++) {
        uint32_t i = (uint32_t)(rnd() % n_routes);
        uint32_t dst = pfx[i] | ((uint32_t)rnd() & ~m4(len[i]));
        rt_frame(s->tmpl[f], &rmac, &src, dst, f);
    }
    free(pfx);
    free(len);
}

static void
rt_teardown(struct rt_setup *s)
{
    dp_tables_free(s->t);
    for (int i = 0; i < 4; i++) {
        dp_port_close(s->ports[i]);
    }
}

/* Mpps of 'n_packets' from VIF port 2 through a fresh pipeline. */
static double
rt_measure(struct rt_setup *s, uint64_t n_packets)
{
    struct dp_pool *pool = dp_pool_create(4096, 2048);
    struct dp_pipeline *pl = dp_pipeline_create(pool, NULL);
    uint32_t next = 0;
    uint64_t done = 0, start = time_nsec();

    while (done < n_packets) {
        struct dp_packet *pkts[DP_BATCH_MAX];
        for (int i = 0; i < DP_BATCH_MAX; i++) {
            struct dp_packet *p = dp_pool_get(pool);
            memcpy(p->data, s->tmpl[next], RT_FRAME_LEN);
            p->len = RT_FRAME_LEN;
            pkts[i] = p;
            if (++next == RT_FLOWS) {
                next = 0;
            }
        }
        dp_pipeline_run(pl, s->t, 2, pkts, DP_BATCH_MAX);
        dp_pipeline_flush(pl, s->t);
        done += DP_BATCH_MAX;
    }
    uint64_t elapsed = time_nsec() - start;
    if (dp_pipeline_counters(pl)->tx_packets != done) {
        fprintf(stderr, "bench-routing: only %llu of %llu packets forwarded\n",
                (unsigned long long)dp_pipeline_counters(pl)->tx_packets,
                (unsigned long long)done);
        exit(1);
    }
    dp_pipeline_destroy(pl);
    dp_pool_destroy(pool);
    return (double)done / ((double)elapsed / 1e9) / 1e6;
}

static void
bench_routed(uint64_t n_packets)
{
    static const struct {
        const char *name;
        uint32_t n; /* 0: the L2 overlay */
    } cases[] = {{"encap", 0}, {"10", 10}, {"10k", 10000}, {"100k", 100000}};
    static struct rt_setup setups[ARRAY_SIZE(cases)];
    double best[ARRAY_SIZE(cases)] = {0};

    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        if (cases[c].n) {
            rt_setup_routed(&setups[c], cases[c].n);
        } else {
            rt_setup_encap(&setups[c]);
        }
    }
    const char *only = getenv("BENCH_ROUTING_ONLY"); /* e.g. "10k": profiling */
    /* Best of 7 short runs, interleaved: this VM's neighbours come and go
     * in bursts of seconds, so many short paired runs find a quiet
     * window for every setup more reliably than a few long ones. */
    for (int rep = 0; rep < 7; rep++) {
        for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
            if (!only || !strcmp(only, cases[c].name)) {
                best[c] = MAX(best[c], rt_measure(&setups[c], n_packets));
            }
        }
    }
    if (only) {
        for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
            printf("%s: %.2f Mpps\n", cases[c].name, best[c]);
        }
        return;
    }
    printf("dp_routing_l2_encap_1k_mpps: %.2f Mpps\n", best[0]);
    for (size_t c = 1; c < ARRAY_SIZE(cases); c++) {
        printf("dp_routed_%s_routes_mpps: %.2f Mpps\n", cases[c].name, best[c]);
    }
    printf("dp_routed_100k_routes_cost_pct: %.1f %%\n",
           (best[0] - best[3]) / best[0] * 100);
    fflush(stdout);
    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        rt_teardown(&setups[c]);
    }
}

int
main(int argc, char *argv[])
{
    static const struct {
        const char *name;
        size_t n;
    } sizes[] = {{"10", 10}, {"10k", 10000}, {"100k", 100000}};
    uint64_t lookups = 4000000, packets = 2000000;

    if (argc > 3 ||
        (argc > 1 &&
         (!str_to_u64(argv[1], UINT64_MAX, &lookups) || lookups < 1000)) ||
        (argc > 2 &&
         (!str_to_u64(argv[2], UINT64_MAX, &packets) || packets < 64))) {
        fprintf(stderr, "usage: bench-routing [LOOKUPS [PACKETS]]\n"
                        "  LOOKUPS  LPM lookups per run, at least 1000 "
                        "(default 4000000)\n"
                        "  PACKETS  packets per pipeline run, at least 64 "
                        "(default 2000000)\n");
        return 2;
    }

    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        bench_v4(sizes[i].n, sizes[i].name, lookups);
    }
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        bench_v6(sizes[i].n, sizes[i].name, lookups);
    }
    bench_dhcp();
    bench_routed(packets); /* last: the LPM route sets stay as they were */
    return 0;
}
