/* libFuzzer target for the decapsulation path: the input is the UDP
 * payload of a tunnel packet (GENEVE or VXLAN header plus inner frame, the
 * first input byte choosing which), run through the whole pipeline as if
 * received on a tunnel port: decap, VNI lookup, inner parse, L2 lookup,
 * flooding to local ports.  Dummy ports stand in for the VIFs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/pipeline.h"
#include "datapath/port-dummy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dp_pool *pool;
static struct dp_pipeline *pl;
static struct dp_tables *tables;
static struct dp_port *ports[4];

/* The remote endpoint; frames come from it, or (byte 0 bit 1) from a
 * stranger. */
static const uint8_t vtep[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                 0, 0, 0xff, 0xff, 198, 18, 0, 2};
static const uint8_t stranger[16] = {0, 0, 0,    0,    0,   0,  0, 0,
                                     0, 0, 0xff, 0xff, 198, 18, 0, 9};

static void
init(void)
{
    static const struct eth_addr a = {{0x02, 0, 0, 0, 0, 0x0a}};
    static const struct eth_addr b = {{0x02, 0, 0, 0, 0, 0x0b}};
    struct dp_tables_builder *tb = dp_tables_builder_create(1);

    pool = dp_pool_create(256, 4096);
    pl = dp_pipeline_create(pool, NULL);
    for (int i = 0; i < 4; i++) {
        dp_port_dummy_class.open("fz", NULL, &ports[i]);
        dp_dummy_set_capture(ports[i], false);
    }
    dp_tb_set_ports(tb, ports, 4);
    /* VNI 1 on both encapsulations, ports 2 and 3 local, one remote. */
    uint32_t g = dp_tb_add_segment(tb, 1, DP_ENCAP_GENEVE);
    uint32_t v = dp_tb_add_segment(tb, 1, DP_ENCAP_VXLAN);
    dp_tb_add_local(tb, g, 2, 1, &a);
    dp_tb_add_local(tb, v, 3, 2, &b);
    dp_tb_add_remote(tb, g, &b, vtep, 3);
    dp_tb_add_flood(tb, g, vtep);
    tables = dp_tables_build(tb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dp_packet *pkt;

    if (!pool) {
        init();
    }
    if (size < 1 || size - 1 > 4096) {
        return 0;
    }
    pkt = dp_pool_get(pool);
    if (!pkt) {
        abort(); /* a leak in the pipeline would exhaust the pool */
    }
    memcpy(pkt->data, data + 1, size - 1);
    pkt->len = (uint32_t)(size - 1);
    uint16_t in_port = (data[0] & 1) ? DP_PORT_VXLAN : DP_PORT_GENEVE;
    memcpy(pkt->tun_addr, data[0] & 2 ? stranger : vtep, 16);
    dp_pipeline_run(pl, tables, in_port, &pkt, 1);
    dp_pipeline_flush(pl, tables);
    if (dp_pool_available(pool) != 256) {
        abort(); /* every buffer must come back */
    }
    return 0;
}
