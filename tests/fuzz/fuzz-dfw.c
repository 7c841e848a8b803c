/* libFuzzer target for the distributed firewall in the pipeline: the input
 * is a frame received on a VIF or a tunnel port (first byte: which port,
 * and how far the clock moves first), run through a switch where two VIFs
 * have stateful firewalls (one with SpoofGuard), with allow, drop, reject
 * and stateless rules, so fuzzed frames exercise SpoofGuard, conntrack
 * (state persists between inputs, with expiry), classification, reject
 * answers (RST, ICMP, ICMPv6, into the fabric or back to a VIF) and
 * flooding through IN checks.  Every buffer must come back to the pool. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/dfw.h"
#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_BUFS 256

static struct dp_pool *pool;
static struct dp_pipeline *pl;
static struct dp_tables *tables;
static struct dp_port *ports[5];
static uint64_t now_ms = 1;

static uint64_t
fuzz_clock(void *aux)
{
    (void)aux;
    return now_ms;
}

static struct cls *
rules(bool for_a)
{
    static const uint32_t set_a = 1, set_b = 2, set_r = 3;
    static const struct cls_service tcp80 = {6, 80, 80}, tcp22 = {6, 22, 22},
                                    udp = {17, 0, 0xffff},
                                    icmp = {1, 0, 0xffff},
                                    icmp6 = {58, 0x8000, 0x80ff};
    struct cls_rule r[] = {
        {.id = 1,
         .priority = 10,
         .dst_sets = for_a ? &set_b : &set_a,
         .n_dst = 1,
         .services = &tcp80,
         .n_services = 1,
         .dir = CLS_DIR_OUT,
         .action = CLS_ALLOW,
         .flags = CLS_F_LOGGED},
        {.id = 2,
         .priority = 20,
         .src_sets = &set_r,
         .n_src = 1,
         .services = &tcp22,
         .n_services = 1,
         .dir = CLS_DIR_IN,
         .action = CLS_REJECT},
        {.id = 3,
         .priority = 30,
         .services = &udp,
         .n_services = 1,
         .dir = CLS_DIR_BOTH,
         .action = for_a ? CLS_REJECT : CLS_ALLOW,
         .flags = for_a ? 0 : CLS_F_STATELESS},
        {.id = 4,
         .priority = 40,
         .services = &icmp,
         .n_services = 1,
         .action = CLS_ALLOW},
        {.id = 5,
         .priority = 50,
         .services = &icmp6,
         .n_services = 1,
         .action = CLS_ALLOW},
        {.id = 6, .priority = 60, .dir = CLS_DIR_IN, .action = CLS_REJECT},
    };
    struct cls_result deflt = {99, 0, CLS_DROP, CLS_F_LOGGED};
    return cls_compile(r, ARRAY_SIZE(r), deflt);
}

static struct dfw_vnic *
vnic(const struct eth_addr *mac, uint8_t last, bool spoofguard, bool for_a)
{
    uint8_t ips[2][16] = {
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, last},
        {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last}};
    struct dfw_vnic_config cfg = {
        .cls = rules(for_a),
        .rules_version = 1,
        .spoofguard = spoofguard,
        .mac = *mac,
        .ips = (const uint8_t(*)[16])ips,
        .n_ips = 2,
    };
    return dfw_vnic_create(&cfg);
}

static struct dfw_sets *
sets(void)
{
    struct as_db *db = as_db_create();
    struct as_prefix a4 = {4, 32, {10, 0, 0, 10}}, b4 = {4, 32, {10, 0, 0, 11}};
    struct as_prefix r4 = {4, 24, {198, 19, 1, 0}};
    struct as_prefix a6 = {
        6, 128, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10}};
    as_db_add(db, 1, &a4);
    as_db_add(db, 1, &a6);
    as_db_add(db, 2, &b4);
    as_db_add(db, 3, &r4);
    struct dfw_sets_config cfg = {as_index_build(db), NULL, 0, DFW_TCP_DEFAULT};
    as_db_destroy(db);
    return dfw_sets_create(&cfg);
}

/* The remote endpoint, which tunnel frames come from. */
static const uint8_t vtep[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                 0, 0, 0xff, 0xff, 198, 18, 0, 2};

static void
init(void)
{
    static const struct eth_addr a = {{0x02, 0, 0, 0, 0, 0x0a}};
    static const struct eth_addr b = {{0x02, 0, 0, 0, 0, 0x0b}};
    static const struct eth_addr c = {{0x02, 0, 0, 0, 0, 0x0c}};
    static const struct eth_addr r = {{0x02, 0, 0, 0, 0, 0x0d}};
    struct dp_tables_builder *tb = dp_tables_builder_create(1);
    struct dp_pipeline_options opts;

    log_set_level(LOG_ERR); /* logged rules would flood the output */
    pool = dp_pool_create(N_BUFS, 4096);
    dp_pipeline_options_default(&opts);
    opts.fw.ct.max_entries = 512; /* reach "full" and reclaiming */
    opts.fw.reject_burst = 50;
    opts.clock_ms = fuzz_clock;
    pl = dp_pipeline_create(pool, &opts);
    for (int i = 0; i < 5; i++) {
        dp_port_dummy_class.open("fz", NULL, &ports[i]);
        dp_dummy_set_capture(ports[i], false);
    }
    dp_tb_set_ports(tb, ports, 5);
    /* VNI 1 on both encapsulations: A (2), B (3), C (4, no firewall) on
     * GENEVE, B also on VXLAN; R remote. */
    uint32_t g = dp_tb_add_segment(tb, 1, DP_ENCAP_GENEVE);
    uint32_t v = dp_tb_add_segment(tb, 1, DP_ENCAP_VXLAN);
    dp_tb_add_local(tb, g, 2, 10, &a);
    dp_tb_add_local(tb, g, 3, 11, &b);
    dp_tb_add_local(tb, g, 4, 12, &c);
    dp_tb_add_local(tb, v, 3, 11, &b);
    dp_tb_add_remote(tb, g, &r, vtep, 20);
    dp_tb_add_flood(tb, g, vtep);
    dp_tb_add_flood(tb, v, vtep);
    struct dfw_vnic *fa = vnic(&a, 10, true, true);
    struct dfw_vnic *fb = vnic(&b, 11, false, false);
    struct dfw_sets *s = sets();
    dp_tb_set_vif_firewall(tb, 2, fa);
    dp_tb_set_vif_firewall(tb, 3, fb);
    dp_tb_set_firewall(tb, s);
    dfw_vnic_unref(fa);
    dfw_vnic_unref(fb);
    dfw_sets_unref(s);
    tables = dp_tables_build(tb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t in_ports[4] = {DP_PORT_GENEVE, DP_PORT_VXLAN, 2, 3};
    struct dp_packet *pkt;

    if (!pool) {
        init();
    }
    if (size < 1 || size - 1 > 4096) {
        return 0;
    }
    /* Bits 2..7: the clock moves by 0, 1 ms, ..., up to ~2^31 ms. */
    if (data[0] >> 2) {
        now_ms += 1ull << ((data[0] >> 2) & 31);
    }
    pkt = dp_pool_get(pool);
    if (!pkt) {
        abort(); /* a leak in the pipeline would exhaust the pool */
    }
    memcpy(pkt->data, data + 1, size - 1);
    pkt->len = (uint32_t)(size - 1);
    memcpy(pkt->tun_addr, vtep, 16);
    dp_pipeline_run(pl, tables, in_ports[data[0] & 3], &pkt, 1);
    dp_pipeline_flush(pl, tables);
    if (dp_pool_available(pool) != N_BUFS) {
        abort(); /* every buffer must come back */
    }
    return 0;
}
