/* In-memory benchmark of the routing building blocks: longest-prefix match
 * (lpm.h) and the DHCPv4 server logic (dhcp.h).  No packets, no pipeline:
 * the routed-pipeline figures (dp_routed_*) come once the router stage
 * exists and are not produced here.
 *
 * Prints `name: value unit` lines:
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
 * Route sets: the IPv4 set has a default route, 5% host routes and the
 * rest /8../24 weighted towards /24 and /16 (like a large tenant or an
 * Internet table); IPv6 has a default, /32 /48 /56 /64 and 5% /128.
 * Usage: bench-routing [LOOKUPS] */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/dhcp.h"
#include "datapath/lpm.h"
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

int
main(int argc, char *argv[])
{
    static const struct {
        const char *name;
        size_t n;
    } sizes[] = {{"10", 10}, {"10k", 10000}, {"100k", 100000}};
    uint64_t lookups = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;

    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        bench_v4(sizes[i].n, sizes[i].name, lookups);
    }
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        bench_v6(sizes[i].n, sizes[i].name, lookups);
    }
    bench_dhcp();
    return 0;
}
