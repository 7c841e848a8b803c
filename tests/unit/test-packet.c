/* Unit tests for buffer pools and packet helpers (packet.h). */
#include "datapath/packet.h"
#include "datapath/port-dummy.h"
#include "testlib.h"

TEST(pool_get_free_exhaust)
{
    struct dp_pool *pool = dp_pool_create(4, 2048);
    struct dp_packet *p[5];

    CHECK_EQ(dp_pool_available(pool), 4);
    for (int i = 0; i < 4; i++) {
        p[i] = dp_pool_get(pool);
        CHECK(p[i] != NULL);
        CHECK_EQ(dp_packet_headroom(p[i]), DP_HEADROOM);
        CHECK_EQ(p[i]->len, 0);
    }
    p[4] = dp_pool_get(pool);
    CHECK(p[4] == NULL);
    for (int i = 0; i < 4; i++) {
        dp_packet_free(p[i]);
    }
    CHECK_EQ(dp_pool_available(pool), 4);
    dp_pool_destroy(pool);
}

TEST(push_pull_bounds)
{
    struct dp_pool *pool = dp_pool_create(1, 256);
    struct dp_packet *p = dp_pool_get(pool);

    memset(p->data, 0xab, 100);
    p->len = 100;
    CHECK(dp_packet_push(p, 50) != NULL);
    CHECK_EQ(p->len, 150);
    CHECK(dp_packet_push(p, DP_HEADROOM) == NULL); /* only 142 left */
    CHECK_EQ(p->len, 150);
    CHECK(dp_packet_pull(p, 50));
    CHECK(!dp_packet_pull(p, 101));
    CHECK_EQ(p->data[0], 0xab);
    dp_packet_free(p);
    dp_pool_destroy(pool);
}

TEST(clone_copies_data_and_meta)
{
    struct dp_pool *pool = dp_pool_create(2, 256);
    struct dp_packet *p = dp_pool_get(pool), *c;

    for (int i = 0; i < 64; i++) {
        p->data[i] = (uint8_t)i;
    }
    p->len = 64;
    p->segment = 7;
    p->hash = 1234;
    c = dp_packet_clone(p);
    CHECK(c != NULL);
    CHECK(c != p);
    CHECK(c->data != p->data);
    CHECK_EQ(c->len, 64);
    CHECK_EQ(c->segment, 7);
    CHECK_EQ(c->hash, 1234);
    CHECK(!memcmp(c->data, p->data, 64));
    CHECK(dp_packet_clone(p) == NULL); /* pool empty */
    dp_packet_free(c);
    dp_packet_free(p);
    dp_pool_destroy(pool);
}

TEST(dummy_port_roundtrip)
{
    struct dp_pool *pool = dp_pool_create(8, 2048);
    struct dp_port *port;
    struct dp_packet *pkts[8];
    uint8_t frame[60] = {1, 2, 3}, out[100];

    CHECK_EQ(dp_port_dummy_class.open("d0", NULL, &port), 0);
    CHECK_EQ(dp_dummy_inject(port, frame, sizeof frame), 0);
    CHECK_EQ(dp_port_rx(port, pool, pkts, 8), 1);
    CHECK_EQ(pkts[0]->len, 60);
    CHECK_EQ(dp_port_rx(port, pool, pkts + 1, 8), 0);
    CHECK_EQ(dp_port_tx(port, pkts, 1), 1);
    dp_packet_free(pkts[0]);
    CHECK_EQ(dp_dummy_take(port, out, sizeof out), 60);
    CHECK_EQ(out[2], 3);
    CHECK_EQ(dp_dummy_take(port, out, sizeof out), -1);
    CHECK_EQ(port->stats.rx_packets, 1);
    CHECK_EQ(port->stats.tx_packets, 1);
    dp_port_close(port);
    dp_pool_destroy(pool);
}
