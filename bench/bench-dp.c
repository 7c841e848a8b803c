/* In-memory datapath benchmark: the real pipeline (parse, L2 lookup,
 * encap/decap, output batching) fed by a packet generator through dummy
 * ports, without kernel I/O.  Each "received" frame is copied from a
 * template into a pool buffer (a constant-length copy: decision 58), as a
 * real RX path copies from its ring; the dummy output port counts frames
 * without copying them.
 *
 * Prints `name: value unit` lines:
 *   dp_<path>_<flows>_mpps and dp_<path>_<flows>_ns_per_pkt
 * for path in l2_local, encap, decap and flows in 1, 1k, 100k, 1m.
 * Usage: bench-dp [PACKETS [PATH [FLOWS]]] to run a subset.
 * A flow is a distinct UDP 5-tuple; destination MACs cycle over
 * min(flows, 65536) entries of the MAC table, so table size and cache
 * pressure grow with the flow count. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "datapath/tunnel.h"
#include "lib/util.h"

#define FRAME_LEN 64
#define MAX_MACS  65536

enum bench_path { PATH_L2_LOCAL, PATH_ENCAP, PATH_DECAP };

static struct eth_addr
mac_n(uint32_t n, uint8_t kind)
{
    struct eth_addr m = {{0x02, kind, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                          (uint8_t)(n >> 8), (uint8_t)n}};
    return m;
}

static void
build_frame(uint8_t *f, const struct eth_addr *dst, const struct eth_addr *src,
            uint32_t flow)
{
    struct eth_hdr eth = {*dst, *src, htons(ETH_TYPE_IPV4)};
    struct ipv4_hdr ip = {
        .ver_ihl = 0x45,
        .tot_len = htons(FRAME_LEN - 14),
        .ttl = 64,
        .proto = IPPROTO_UDP_,
        .src = htonl(0xc6130000 | (flow >> 16)),
        .dst = htonl(0xc6140001),
    };
    struct udp_hdr udp = {htons((uint16_t)flow), htons(9),
                          htons(FRAME_LEN - 34), 0};
    memset(f, 0, FRAME_LEN);
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 20);
    memcpy(f + 34, &udp, 8);
}

static double
run(enum bench_path path, uint32_t flows, uint64_t n_packets, double *ns)
{
    struct dp_port *ports[4];
    struct dp_pool *pool = dp_pool_create(4096, 2048);
    struct dp_pipeline *pl = dp_pipeline_create(pool, NULL);
    struct dp_tables_builder *b = dp_tables_builder_create(1);
    uint32_t n_macs = MIN(flows, MAX_MACS);
    uint8_t vtep[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                        0, 0, 0xff, 0xff, 198, 18, 0, 2};
    uint32_t tmpl_len =
        path == PATH_DECAP ? FRAME_LEN + DP_GENEVE_OVERHEAD : FRAME_LEN;
    uint8_t *tmpl = xmalloc((size_t)flows * tmpl_len);
    struct eth_addr local_src = mac_n(0, 1);
    struct dp_tables *t;

    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%d", i);
        dp_port_dummy_class.open(name, NULL, &ports[i]);
        dp_dummy_set_capture(ports[i], false);
    }
    dp_tb_set_ports(b, ports, 4);
    uint32_t seg = dp_tb_add_segment(b, 5001, DP_ENCAP_GENEVE);
    dp_tb_add_local(b, seg, 2, 1, &local_src);
    for (uint32_t m = 0; m < n_macs; m++) {
        struct eth_addr mac = mac_n(m, 2);
        if (path == PATH_ENCAP) {
            dp_tb_add_remote(b, seg, &mac, vtep, m + 10);
        } else {
            /* L2 local and decap: destinations are local (port 3). */
            dp_tb_add_local(b, seg, 3, m + 10, &mac);
        }
    }
    dp_tb_add_flood(b, seg, vtep);
    t = dp_tables_build(b);

    for (uint32_t f = 0; f < flows; f++) {
        struct eth_addr dst = mac_n(f % n_macs, 2);
        uint8_t *p = tmpl + (size_t)f * tmpl_len;
        if (path == PATH_DECAP) {
            struct geneve_hdr gh = {.ver_optlen = 2,
                                    .proto = htons(ETH_TYPE_TEB)};
            struct geneve_opt opt = {htons(WEFT_GENEVE_CLASS),
                                     WEFT_GENEVE_OPT_SRC_PORT, 1};
            uint32_t lport = htonl(99);
            struct eth_addr remote_src = mac_n(f, 3);
            vni_put(gh.vni, 5001);
            memcpy(p, &gh, 8);
            memcpy(p + 8, &opt, 4);
            memcpy(p + 12, &lport, 4);
            build_frame(p + DP_GENEVE_OVERHEAD, &dst, &remote_src, f);
        } else {
            build_frame(p, &dst, &local_src, f);
        }
    }

    uint16_t in_port = path == PATH_DECAP ? DP_PORT_GENEVE : 2;
    uint32_t next = 0;
    uint64_t done = 0, start = time_nsec();
    while (done < n_packets) {
        struct dp_packet *pkts[DP_BATCH_MAX];
        for (int i = 0; i < DP_BATCH_MAX; i++) {
            struct dp_packet *p = dp_pool_get(pool);
            const uint8_t *src = tmpl + (size_t)next * tmpl_len;
            /* Constant lengths, so the copy is a few vector moves, like
             * the kernel's copy out of a ring; with a variable length GCC
             * emits `rep movsq`, whose start-up alone cost more than the
             * parser (decision 58). */
            if (path == PATH_DECAP) {
                memcpy(p->data, src, FRAME_LEN + DP_GENEVE_OVERHEAD);
                memcpy(p->tun_addr, vtep, 16); /* as a UDP port sets it */
            } else {
                memcpy(p->data, src, FRAME_LEN);
            }
            p->len = tmpl_len;
            pkts[i] = p;
            if (++next == flows) {
                next = 0;
            }
        }
        dp_pipeline_run(pl, t, in_port, pkts, DP_BATCH_MAX);
        dp_pipeline_flush(pl, t);
        done += DP_BATCH_MAX;
    }
    uint64_t elapsed = time_nsec() - start;

    const struct dp_counters *c = dp_pipeline_counters(pl);
    uint64_t delivered = c->tx_packets;
    if (delivered != done) {
        fprintf(stderr, "bench-dp: only %llu of %llu packets forwarded\n",
                (unsigned long long)delivered, (unsigned long long)done);
        exit(1);
    }
    *ns = (double)elapsed / (double)done;
    dp_pipeline_destroy(pl);
    dp_tables_free(t);
    for (int i = 0; i < 4; i++) {
        dp_port_close(ports[i]);
    }
    dp_pool_destroy(pool);
    free(tmpl);
    return (double)done / ((double)elapsed / 1e9) / 1e6;
}

int
main(int argc, char *argv[])
{
    static const struct {
        const char *name;
        enum bench_path path;
    } paths[] = {
        {"l2_local", PATH_L2_LOCAL},
        {"encap", PATH_ENCAP},
        {"decap", PATH_DECAP},
    };
    static const struct {
        const char *name;
        uint32_t n;
    } flows[] = {{"1", 1}, {"1k", 1000}, {"100k", 100000}, {"1m", 1000000}};
    uint64_t n_packets = 20000000;
    const char *only_path = argc > 2 ? argv[2] : NULL;  /* e.g. "encap" */
    const char *only_flows = argc > 3 ? argv[3] : NULL; /* e.g. "1k" */
    bool known_path = !only_path, known_flows = !only_flows;

    for (size_t p = 0; p < ARRAY_SIZE(paths); p++) {
        known_path |= only_path && !strcmp(only_path, paths[p].name);
    }
    for (size_t f = 0; f < ARRAY_SIZE(flows); f++) {
        known_flows |= only_flows && !strcmp(only_flows, flows[f].name);
    }
    if (argc > 1 && (!str_to_u64(argv[1], UINT64_MAX, &n_packets) ||
                     n_packets < DP_BATCH_MAX)) {
        n_packets = 0;
    }
    if (argc > 4 || !n_packets || !known_path || !known_flows) {
        fprintf(stderr,
                "usage: bench-dp [PACKETS [PATH [FLOWS]]]\n"
                "  PACKETS  packets per run, at least %d (default 20000000)\n"
                "  PATH     l2_local, encap or decap (default: all)\n"
                "  FLOWS    1, 1k, 100k or 1m (default: all)\n",
                DP_BATCH_MAX);
        return 2;
    }

    for (size_t p = 0; p < ARRAY_SIZE(paths); p++) {
        if (only_path && strcmp(only_path, paths[p].name)) {
            continue;
        }
        for (size_t f = 0; f < ARRAY_SIZE(flows); f++) {
            double ns, best_mpps = 0, best_ns = 0;
            if (only_flows && strcmp(only_flows, flows[f].name)) {
                continue;
            }
            for (int rep = 0; rep < 3; rep++) { /* best of 3 */
                double mpps = run(paths[p].path, flows[f].n, n_packets, &ns);
                if (mpps > best_mpps) {
                    best_mpps = mpps;
                    best_ns = ns;
                }
            }
            printf("dp_%s_%s_mpps: %.2f Mpps\n", paths[p].name, flows[f].name,
                   best_mpps);
            printf("dp_%s_%s_ns_per_pkt: %.1f ns\n", paths[p].name,
                   flows[f].name, best_ns);
            fflush(stdout);
        }
    }
    return 0;
}
